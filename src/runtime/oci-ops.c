/* SPDX-License-Identifier: Apache-2.0 */
/* OCI runtime operations on existing containers: logs (the shim's JSON
 * lines, rotated files included), stats (runc events --stats, cgroup v1
 * and v2 alike) and inspect; exec is oci-exec.c's. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/spawn.h"
#include "basic/strbuf.h"
#include "runtime/bundle.h"
#include "runtime/oci-internal.h"
#include "shim/shim-protocol.h"
#include "basic/banned.h"

#define LOG_LINE_MAX           SHIM_LOG_RECORD_MAX
#define BUNDLE_CONFIG_READ_MAX (4u << 20) /* bytes of a bundle's config.json read for its labels */

/* --- logs ---------------------------------------------------------------------- */

/* "2026-11-22T08:00:00.123456789Z" -> ns since the epoch; 0 on error. */
static int64_t parse_time_ns(const char *s) {
	struct tm tm = {};
	const char *p;
	int64_t ns = 0, scale = 100000000;

	if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return 0;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			ns += (*p - '0') * scale;
	return (int64_t)timegm(&tm) * 1000000000 + ns;
}

struct log_reader {
	const struct log_options *o;
	log_record_fn fn;
	void *userdata;
	/* tail: ring of the last records */
	char **ring_text;
	size_t *ring_len;
	char **ring_stream;
	int64_t *ring_time;
	size_t ring_n, ring_head;
	bool stop;
};

static int reader_emit(struct log_reader *lr, const char *stream, int64_t t, const char *text, size_t len) {
	if (lr->o->since_ns && t < lr->o->since_ns)
		return 0;
	if ((lr->o->stdout_stream || lr->o->stderr_stream) &&
	    !((lr->o->stdout_stream && streq(stream, "stdout")) || (lr->o->stderr_stream && streq(stream, "stderr"))))
		return 0;
	if (lr->ring_n) {
		size_t i = lr->ring_head++ % lr->ring_n;
		free(lr->ring_text[i]);
		free(lr->ring_stream[i]);
		lr->ring_text[i] = xstrndup(text, len);
		lr->ring_len[i] = len;
		lr->ring_stream[i] = xstrdup(stream);
		lr->ring_time[i] = t;
		return 0;
	}
	if (lr->fn(stream, t, text, len, lr->userdata) < 0)
		lr->stop = true;
	return 0;
}

static void reader_line(struct log_reader *lr, const char *line, size_t len) {
	json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
	const char *text, *stream;

	if (!j)
		return;
	text = json_string_value(json_object_get(j, "log"));
	stream = json_string_value(json_object_get(j, "stream"));
	if (text && stream)
		reader_emit(lr, stream, parse_time_ns(json_string_value(json_object_get(j, "time"))), text,
		            json_string_length(json_object_get(j, "log")));
	json_decref(j);
}

/* Read complete lines from fd; keep a partial last line in *pending. */
static void reader_fd(struct log_reader *lr, int fd, struct strbuf *pending) {
	char buf[65536];
	ssize_t n;

	while (!lr->stop && (n = read(fd, buf, sizeof(buf))) > 0) {
		strbuf_add(pending, buf, (size_t)n);
		for (;;) {
			char *nl = memchr(pending->buf, '\n', pending->len);
			size_t l;

			if (!nl)
				break;
			l = (size_t)(nl - pending->buf);
			reader_line(lr, pending->buf, l);
			memmove(pending->buf, nl + 1, pending->len - l - 1);
			pending->len -= l + 1;
			pending->buf[pending->len] = '\0';
		}
		if (pending->len > LOG_LINE_MAX)
			strbuf_reset(pending);
	}
}

int oci_logs(struct runtime *rt, const char *id, const struct log_options *lo, log_record_fn fn, void *userdata,
             struct za_error **reterr) {
	struct oci *o = rt->data;
	struct oci_record rec = {};
	_cleanup_free_ char *dir = NULL, *base = NULL;
	struct log_reader lr = { .o = lo, .fn = fn, .userdata = userdata };
	_cleanup_strbuf_ struct strbuf pending = STRBUF_INIT;
	_cleanup_close_ int fd = -1;
	int r;

	r = oci_record_load(o, id, &rec, reterr);
	if (r < 0)
		return r;
	dir = oci_container_dir(o, id);
	base = xasprintf("%s/container.log", dir);
	if (lo->tail) {
		lr.ring_n = lo->tail;
		lr.ring_text = xnew(char *, lr.ring_n);
		lr.ring_len = xnew(size_t, lr.ring_n);
		lr.ring_stream = xnew(char *, lr.ring_n);
		lr.ring_time = xnew(int64_t, lr.ring_n);
	}
	/* Rotated files first, oldest first. */
	for (int i = 9; i >= 1 && !lr.stop; i--) {
		_cleanup_free_ char *p = xasprintf("%s.%d", base, i);
		_cleanup_close_ int rfd = open(p, O_RDONLY | O_CLOEXEC);

		if (rfd < 0)
			continue;
		reader_fd(&lr, rfd, &pending);
		strbuf_reset(&pending);
	}
	fd = open(base, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		reader_fd(&lr, fd, &pending);
	if (lr.ring_n) {
		size_t n = MIN(lr.ring_head, lr.ring_n), start = lr.ring_head - n;
		for (size_t k = 0; k < n && !lr.stop; k++) {
			size_t i = (start + k) % lr.ring_n;
			if (fn(lr.ring_stream[i], lr.ring_time[i], lr.ring_text[i], lr.ring_len[i], userdata) < 0)
				lr.stop = true;
		}
		for (size_t i = 0; i < lr.ring_n; i++) {
			free(lr.ring_text[i]);
			free(lr.ring_stream[i]);
		}
		free(lr.ring_text);
		free(lr.ring_len);
		free(lr.ring_stream);
		free(lr.ring_time);
		lr.ring_n = 0;
	}
	/* Follow: new lines until the container is gone and the log drained. */
	while (lo->follow && !lr.stop) {
		struct stat a, b;
		bool alive = oci_pid_alive(rec.init_pid) || !rec.started;

		if (fd >= 0)
			reader_fd(&lr, fd, &pending);
		if (fd < 0 || (stat(base, &a) == 0 && fstat(fd, &b) == 0 && a.st_ino != b.st_ino)) {
			/* rotated (or created): the old file is drained, go on with the new one */
			safe_close(fd);
			fd = open(base, O_RDONLY | O_CLOEXEC);
			strbuf_reset(&pending);
			continue;
		}
		if (!alive)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
		if (!rec.started) {
			struct oci_record now = {};
			if (oci_record_load(o, id, &now, NULL) < 0)
				break;
			rec.started = now.started;
			oci_record_release(&now);
		}
	}
	oci_record_release(&rec);
	return 0;
}

/* --- stats ------------------------------------------------------------------- */

static int stats_sample(struct oci *o, const struct oci_record *rec, const char *id, uint64_t *cpu, uint64_t *mem,
                        uint64_t *limit, uint64_t *pids, struct za_error **reterr) {
	_cleanup_strv_free_ char **cmd = NULL;
	_cleanup_free_ char *out = NULL;
	json_t *j, *data;
	int r, status;

	strv_push(&cmd, oci_runtime_path_of(o, rec));
	strv_push(&cmd, "--root");
	strv_push(&cmd, oci_runtime_root_of(o, rec));
	strv_push(&cmd, "events");
	strv_push(&cmd, "--stats");
	strv_push(&cmd, id);
	r = za_run_capture(cmd, NULL, 1 << 20, &out, &status);
	if (r < 0 || status != 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ESRCH,
		                     "no stats for container '%s': it is not running", id);
	j = json_loads(out, 0, NULL);
	data = json_object_get(j, "data");
	*cpu = (uint64_t)json_integer_value(
	        json_object_get(json_object_get(json_object_get(data, "cpu"), "usage"), "total"));
	*mem = (uint64_t)json_integer_value(
	        json_object_get(json_object_get(json_object_get(data, "memory"), "usage"), "usage"));
	*limit = (uint64_t)json_integer_value(
	        json_object_get(json_object_get(json_object_get(data, "memory"), "usage"), "limit"));
	*pids = (uint64_t)json_integer_value(json_object_get(json_object_get(data, "pids"), "current"));
	json_decref(j);
	return 0;
}

int oci_stats(struct runtime *rt, const char *id, struct container_stats *ret, struct za_error **reterr) {
	struct oci *o = rt->data;
	struct oci_record rec = {};
	uint64_t c1, c2, m, l, p;
	struct timespec t1, t2;
	double dt;
	int r;

	r = oci_record_load(o, id, &rec, reterr);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r = stats_sample(o, &rec, id, &c1, &m, &l, &p, reterr);
	if (r >= 0) {
		nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t2);
		r = stats_sample(o, &rec, id, &c2, &m, &l, &p, reterr);
	}
	oci_record_release(&rec);
	if (r < 0)
		return r;
	dt = (double)(t2.tv_sec - t1.tv_sec) * 1e9 + (double)(t2.tv_nsec - t1.tv_nsec);
	/* A cgroup v1 "no limit" is a page-rounded INT64_MAX. */
	if (l >= (UINT64_C(1) << 62))
		l = 0;
	*ret = (struct container_stats){ .cpu_percent = dt > 0 && c2 >= c1 ? (double)(c2 - c1) * 100.0 / dt : 0,
		                         .cpu_usage_ns = c2,
		                         .memory_usage = m,
		                         .memory_limit = l,
		                         .pids = p,
		                         .read_ns = (uint64_t)t2.tv_sec * 1000000000 + (uint64_t)t2.tv_nsec };
	return 0;
}

/* --- inspect --------------------------------------------------------------- */

static json_t *time_json(int64_t ns) {
	char buf[64];
	struct tm tm;
	time_t s = (time_t)(ns / 1000000000);

	if (ns <= 0 || !gmtime_r(&s, &tm))
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return json_sprintf("%s.%09" PRId64 "Z", buf, ns % 1000000000);
}

/* The labels the container was created with: its bundle's annotations. */
static json_t *bundle_labels(const char *rdir) {
	_cleanup_free_ char *path = xasprintf("%s/bundle/config.json", rdir), *buf = NULL;
	json_t *j, *ann;
	size_t len;

	if (read_full_file(path, BUNDLE_CONFIG_READ_MAX, &buf, &len) < 0)
		return json_object();
	j = json_loadb(buf, len, 0, NULL);
	ann = json_incref(json_object_get(j, "annotations"));
	json_decref(j);
	if (!json_is_object(ann)) {
		json_decref(ann);
		return json_object();
	}
	return ann;
}

int oci_inspect(struct runtime *rt, const char *id, json_t **ret, struct za_error **reterr) {
	struct oci *o = rt->data;
	struct container_status s = {};
	struct oci_record rec = {};
	_cleanup_free_ char *rdir = NULL, *cdir = NULL;
	json_t *args;
	int r;

	r = rt->ops->state(rt, id, &s, reterr);
	if (r < 0)
		return r;
	r = oci_record_load(o, id, &rec, reterr);
	if (r < 0) {
		container_status_release(&s);
		return r;
	}
	rdir = oci_run_dir(o, id);
	cdir = oci_container_dir(o, id);
	args = json_array();
	STRV_FOREACH (a, rec.args)
		json_array_append_new(args, json_string(*a));
	*ret = json_pack(
	        "{s:s, s:s, s:s, s:i, s:s?, s:i, s:i, s:b, s:s?, s:s?, s:s?, s:s, s:s, s:o, s:o, s:o, s:o, s:s, "
	        "s:s, s:s?, s:i}",
	        "id", id, "name", id, "state", container_state_to_string(s.state), "pid", (int)s.pid, "ip", s.ip,
	        "exit_code", s.exit_code, "signal", s.signal, "oom_killed", s.oom_killed, "reason", s.reason, "image",
	        s.image, "image_digest", s.image_digest, "runtime", rec.wasm ? "wasm" : "oci", "runtime_binary",
	        oci_runtime_path_of(o, &rec), "created", time_json(s.created_ns), "started_at", time_json(s.started_ns),
	        "finished_at", time_json(s.finished_ns), "args", args, "bundle", rdir, "log_path", cdir, "network_mode",
	        spec_network_mode_to_string(rec.network_mode), "shim_pid", (int)rec.shim_pid);
	json_object_set_new(*ret, "auto_remove", json_boolean(rec.auto_remove));
	json_object_set_new(*ret, "tty", json_boolean(rec.tty));
	{
		_cleanup_free_ char *lp = xasprintf("%s/container.log", cdir);
		json_object_set_new(*ret, "log_path", json_string(lp));
	}
	json_object_set_new(*ret, "labels", bundle_labels(rdir));
	oci_record_release(&rec);
	container_status_release(&s);
	return 0;
}

int oci_wasm_precompile(struct runtime *rt, const char *module, char **ret_output, struct za_error **reterr) {
	struct oci *o = rt->data;
	_cleanup_strv_free_ char **cmd = NULL;
	_cleanup_close_ int errfd = memfd_create("precompile-stderr", MFD_CLOEXEC);
	struct za_spawn_opts so = ZA_SPAWN_OPTS_INIT;
	_cleanup_free_ char *out = NULL, *err = NULL;
	size_t len = 0;
	int r, status;

	strv_push(&cmd, o->wasm_path);
	strv_push(&cmd, "precompile");
	strv_push(&cmd, "--cache-dir");
	strv_push(&cmd, o->wasm_cache_dir);
	strv_push(&cmd, module);
	so.stderr_fd = errfd;
	r = za_run_capture(cmd, &so, 4096, &out, &status);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot run '%s': %m", o->wasm_path);
	if (status != 0) {
		char *nl;
		(void)lseek(errfd, 0, SEEK_SET);
		if (read_full_fd(errfd, 4096, &err, &len) < 0 || len == 0) {
			free(err);
			err = xasprintf("exit status %d", status);
		}
		if ((nl = strchr(err, '\n')))
			*nl = '\0';
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "precompile '%s': %s", module,
		                     strneq(err, "zlayer-wasm: error: ", 20) ? err + 20 : err);
	}
	if (out) {
		char *nl = strchr(out, '\n');
		if (nl)
			*nl = '\0';
	}
	*ret_output = out ? TAKE_PTR(out) : xstrdup("");
	return 0;
}
