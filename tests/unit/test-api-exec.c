/* SPDX-License-Identifier: Apache-2.0 */
/* POST /v1/containers/exec (buffered and stream=1) on a real daemon (its
 * event loop in a thread) over a fake runtime whose exec_stream plays
 * scripts named by argv[0]: the line format (text, base64, a character
 * split between reads), the errors before the stream, a slow reader that
 * must not be dropped, a client that leaves and a daemon that stops (both
 * cancel the exec). The test thread is the client (the CLI's
 * api_client_stream, and curl for statuses). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "api/daemon.h"
#include "basic/alloc.h"
#include "basic/base64.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strbuf.h"
#include "cli/client.h"
#include "runtime/runtime.h"

#define BIG_CHUNK  (64 * 1024)
#define BIG_CHUNKS 320 /* 20 MiB: more than API_STREAM_BUFFER_MAX */

/* ---- fake runtime: "run" runs, "stopped" does not, "wasm" cannot exec ---- */

static struct {
	atomic_int cancelled, blocking;
	char *last_opts; /* env, workdir, user of the last exec */
	pthread_mutex_t lock;
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int f_state(struct runtime *rt, const char *id, struct container_status *ret, struct za_error **reterr) {
	if (!streq(id, "run") && !streq(id, "stopped") && !streq(id, "wasm"))
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such container '%s' (fake)", id);
	*ret = (struct container_status){ .id = xstrdup(id),
		                          .image = xstrdup("busybox"),
		                          .state = streq(id, "stopped") ? CONTAINER_EXITED : CONTAINER_RUNNING,
		                          .created_ns = now_ns() };
	return 0;
}

static int f_list(struct runtime *rt, char ***ret_ids, struct za_error **reterr) {
	*ret_ids = strv_copy((char *[]){ "run", "stopped", "wasm", NULL });
	return 0;
}

/* Why exec cannot run in id (the OCI runtime's words), or 0. */
static int exec_refused(const char *id, const struct exec_options *o, struct za_error **reterr) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	if (streq(id, "stopped"))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ESRCH, "container '%s' is not running", id);
	if (streq(id, "wasm"))
		return za_error_make(reterr, ZA_ERROR_UNSUPPORTED, EOPNOTSUPP,
		                     "exec into container '%s' is not supported", id);
	if (o->user && streq(o->user, "ghost"))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "exec user: user 'ghost' not found");
	for (char *const *e = o->env; e && *e; e++)
		strbuf_addf(&sb, "%s;", *e);
	strbuf_addf(&sb, "%s;%s", strna(o->workdir), strna(o->user));
	pthread_mutex_lock(&fake.lock);
	free(fake.last_opts);
	fake.last_opts = strbuf_detach(&sb, NULL);
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int f_exec(struct runtime *rt, const char *id, const struct exec_options *o, size_t cap, struct exec_result *ret,
                  struct za_error **reterr) {
	int r = exec_refused(id, o, reterr);

	if (r < 0)
		return r;
	*ret = (struct exec_result){
		.exit_code = 2, .out = xstrdup("out\n"), .out_len = 4, .err = xstrdup("e\xff"), .err_len = 2
	};
	return 0;
}

static int out(const struct exec_stream_io *io, enum exec_stream s, const char *data, size_t len) {
	return io->output(s, data, len, io->userdata);
}

/* Until cancel_fd is readable (at most 10 s). */
static int block(const struct exec_stream_io *io) {
	struct pollfd p = { .fd = io->cancel_fd, .events = POLLIN };

	atomic_fetch_add(&fake.blocking, 1);
	if (poll(&p, 1, 10000) == 1) {
		atomic_fetch_add(&fake.cancelled, 1);
		return -ECANCELED;
	}
	return 0;
}

static int f_exec_stream(struct runtime *rt, const char *id, const struct exec_options *o,
                         const struct exec_stream_io *io, int *ret_exit_code, struct za_error **reterr) {
	const char *cmd = o->argv[0];
	int r = exec_refused(id, o, reterr);

	if (r < 0)
		return r;
	if (io->started)
		io->started(io->userdata);
	if (streq(cmd, "hello")) {
		if (out(io, EXEC_STREAM_STDOUT, "one\n", 4) < 0 || out(io, EXEC_STREAM_STDERR, "two\n", 4) < 0)
			return -ECANCELED;
		*ret_exit_code = 3;
	} else if (streq(cmd, "split")) {
		/* "é" split between two reads; a lone byte at the very end */
		if (out(io, EXEC_STREAM_STDOUT, "a\xc3", 2) < 0 || out(io, EXEC_STREAM_STDOUT, "\xa9!", 2) < 0 ||
		    out(io, EXEC_STREAM_STDOUT, "\xe2\x98", 2) < 0)
			return -ECANCELED;
		*ret_exit_code = 0;
	} else if (streq(cmd, "binary")) {
		if (out(io, EXEC_STREAM_STDOUT, "\0\xff", 2) < 0 || out(io, EXEC_STREAM_STDERR, "a\0b", 3) < 0)
			return -ECANCELED;
		*ret_exit_code = 0;
	} else if (streq(cmd, "big")) {
		_cleanup_free_ char *chunk = xmalloc(BIG_CHUNK);
		for (int i = 0; i < BIG_CHUNKS; i++) {
			memset(chunk, 'a' + i % 26, BIG_CHUNK);
			if (out(io, EXEC_STREAM_STDOUT, chunk, BIG_CHUNK) < 0)
				return -ECANCELED;
		}
		*ret_exit_code = 0;
	} else if (streq(cmd, "block")) {
		if (out(io, EXEC_STREAM_STDOUT, "waiting\n", 8) < 0)
			return -ECANCELED;
		r = block(io);
		if (r < 0)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, ECANCELED, "exec cancelled (fake)");
		*ret_exit_code = 0;
	} else
		*ret_exit_code = 127;
	return 0;
}

static int unsupported(struct za_error **reterr) {
	return za_error_make(reterr, ZA_ERROR_UNSUPPORTED, EOPNOTSUPP, "not in this fake");
}
static int f_create(struct runtime *rt, const struct container_config *cfg, struct za_error **reterr) {
	return unsupported(reterr);
}
static int f_id(struct runtime *rt, const char *id, struct za_error **reterr) {
	return unsupported(reterr);
}
static int f_stop(struct runtime *rt, const char *id, uint64_t t, struct za_error **reterr) {
	return unsupported(reterr);
}
static int f_kill(struct runtime *rt, const char *id, int sig, struct za_error **reterr) {
	return unsupported(reterr);
}
static int f_remove(struct runtime *rt, const char *id, bool force, struct za_error **reterr) {
	return unsupported(reterr);
}
static int f_logs(struct runtime *rt, const char *id, const struct log_options *o, log_record_fn fn, void *userdata,
                  struct za_error **reterr) {
	return unsupported(reterr);
}
static int f_stats(struct runtime *rt, const char *id, struct container_stats *ret, struct za_error **reterr) {
	return unsupported(reterr);
}
static int f_wait(struct runtime *rt, const char *id, enum wait_condition c, struct wait_outcome *ret,
                  struct za_error **reterr) {
	return unsupported(reterr);
}
static int f_inspect(struct runtime *rt, const char *id, json_t **ret, struct za_error **reterr) {
	return unsupported(reterr);
}

static const struct runtime_ops fake_ops = {
	.name = "fake",
	.create = f_create,
	.start = f_id,
	.stop = f_stop,
	.kill = f_kill,
	.remove = f_remove,
	.state = f_state,
	.list = f_list,
	.logs = f_logs,
	.exec = f_exec,
	.exec_stream = f_exec_stream,
	.stats = f_stats,
	.wait = f_wait,
	.inspect = f_inspect,
};

/* ---- the daemon ---- */

static struct {
	char dir[64];
	struct daemon_config cfg;
	struct daemon *d;
	const struct runtime_ops *real_ops;
	pthread_t thread;
} env;

static void *loop_main(void *arg) {
	assert_int_equal(daemon_loop(env.d, NULL), 0);
	return NULL;
}

static void start_daemon(void) {
	_cleanup_free_ char *run = NULL;

	snprintf(env.dir, sizeof(env.dir), "/tmp/test-apiexec-XXXXXX");
	assert_non_null(mkdtemp(env.dir));
	run = xasprintf("%s/run", env.dir);
	daemon_config_init(&env.cfg);
	free(env.cfg.root_dir);
	free(env.cfg.runtime_dir);
	env.cfg.root_dir = xasprintf("%s/root", env.dir);
	env.cfg.runtime_dir = xstrdup(run);
	assert_int_equal(daemon_config_finish(&env.cfg, NULL), 0);
	assert_int_equal(daemon_new(&env.cfg, &env.d, NULL), 0);
	env.real_ops = env.d->runtime->ops;
	env.d->runtime->ops = &fake_ops;
	setenv("ZLAYER_RUNTIME_DIR", run, 1);
	assert_int_equal(pthread_create(&env.thread, NULL, loop_main, NULL), 0);
}

static void restore_ops(void *userdata) {
	env.d->runtime->ops = env.real_ops;
}

static void on_stop(void *userdata) {
	daemon_stop(env.d);
}

static int64_t stop_daemon(void) {
	int64_t t0 = now_ns();

	daemon_post(env.d, on_stop, NULL);
	pthread_join(env.thread, NULL);
	daemon_post(env.d, restore_ops, NULL);
	env.d = daemon_free(env.d);
	daemon_config_release(&env.cfg);
	rm_rf(env.dir);
	return (now_ns() - t0) / 1000000;
}

static int group_setup(void **state) {
	start_daemon();
	return 0;
}

static int group_teardown(void **state) {
	stop_daemon();
	free(fake.last_opts);
	fake.last_opts = NULL;
	return 0;
}

/* ---- client helpers ---- */

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
	strbuf_add(userdata, data, size * n);
	return size * n;
}

/* A plain (non-stream) reply: its JSON, the status checked. */
static json_t *http(const char *path, const char *body, long expect_status) {
	_cleanup_free_ char *sock = api_client_socket_path(), *url = xasprintf("http://localhost%s", path);
	_cleanup_strbuf_ struct strbuf o = STRBUF_INIT;
	CURL *c = curl_easy_init();
	long status = 0;
	json_t *j;

	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &o);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (status != expect_status)
		fail_msg("%s: status %ld, want %ld: %s", path, status, expect_status, strbuf_str(&o));
	j = json_loadb(o.buf ? o.buf : "", o.len, 0, NULL);
	assert_non_null(j);
	return j;
}

static void assert_error(json_t *j, const char *kind, const char *part) {
	const char *m = json_string_value(json_object_get(j, "message"));

	assert_string_equal(json_string_value(json_object_get(j, "kind")), kind);
	if (!m || !strstr(m, part))
		fail_msg("message '%s' lacks '%s'", m, part);
	json_decref(j);
}

struct lines {
	json_t *all;
	unsigned delay_us; /* a slow reader */
	int stop_after;    /* > 0: hang up after this many lines */
};

static int collect(json_t *line, void *userdata) {
	struct lines *l = userdata;

	json_array_append(l->all, line);
	if (l->delay_us)
		usleep(l->delay_us);
	if (l->stop_after > 0 && (int)json_array_size(l->all) >= l->stop_after)
		return -ECONNABORTED;
	return 0;
}

/* The stream's lines; *reterr for an error reply or an error line. */
static json_t *exec_stream(const char *id, const char *body, struct lines *l, struct za_error **reterr) {
	_cleanup_free_ char *path = xasprintf("/v1/containers/exec?id=%s&stream=1", id);
	_cleanup_(json_decrefp) json_t *b = json_loads(body, 0, NULL);
	struct lines own = {};

	if (!l)
		l = &own;
	l->all = json_array();
	assert_non_null(b);
	(void)api_client_stream("POST", path, b, collect, l, reterr);
	return l->all;
}

/* The bytes of one stream of lines. */
static char *stream_bytes(json_t *lines, const char *which, size_t *ret_len) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	json_t *ln;
	size_t i;

	json_array_foreach(lines, i, ln) {
		json_t *data = json_object_get(ln, "data");
		const char *enc = json_string_value(json_object_get(ln, "encoding"));

		if (!streq(strempty(json_string_value(json_object_get(ln, "stream"))), which))
			continue;
		if (enc) {
			_cleanup_free_ char *raw = NULL;
			size_t n;
			assert_string_equal(enc, "base64");
			assert_int_equal(base64_decode(json_string_value(data), json_string_length(data), &raw, &n), 0);
			strbuf_add(&sb, raw, n);
		} else
			strbuf_add(&sb, json_string_value(data), json_string_length(data));
	}
	return strbuf_detach(&sb, ret_len);
}

static json_t *last(json_t *lines) {
	return json_array_get(lines, json_array_size(lines) - 1);
}

/* line equals want (stolen) */
static bool line_is(json_t *line, json_t *want) {
	bool eq = json_equal(line, want);

	json_decref(want);
	return eq;
}

/* ---- tests ---- */

static void test_lines_and_exit(void **state) {
	struct za_error *err = NULL;
	json_t *lines = exec_stream("run", "{\"argv\": [\"hello\"]}", NULL, &err);
	_cleanup_free_ char *o = NULL, *e = NULL;

	assert_null(err);
	assert_int_equal(json_array_size(lines), 3);
	assert_true(line_is(json_array_get(lines, 0), json_pack("{s:s, s:s}", "stream", "stdout", "data", "one\n")));
	assert_true(line_is(json_array_get(lines, 1), json_pack("{s:s, s:s}", "stream", "stderr", "data", "two\n")));
	assert_true(line_is(last(lines), json_pack("{s:i}", "exit_code", 3)));
	json_decref(lines);

	/* a character split between reads waits for its rest; a lone lead
	 * byte at the end goes out as base64 */
	lines = exec_stream("run", "{\"argv\": [\"split\"]}", NULL, &err);
	assert_null(err);
	assert_int_equal(json_array_size(lines), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "data")), "a");
	assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 1), "data")), "\xc3\xa9!");
	assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 2), "encoding")), "base64");
	assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 2), "data")), "4pg=");
	json_decref(lines);

	/* NUL and invalid UTF-8: base64, bytes intact */
	lines = exec_stream("run", "{\"argv\": [\"binary\"]}", NULL, &err);
	assert_null(err);
	size_t n;
	o = stream_bytes(lines, "stdout", &n);
	assert_int_equal(n, 2);
	assert_memory_equal(o, "\0\xff", 2);
	e = stream_bytes(lines, "stderr", &n);
	assert_int_equal(n, 3);
	assert_memory_equal(e, "a\0b", 3);
	json_decref(lines);
}

static void test_options_reach_the_runtime(void **state) {
	struct za_error *err = NULL;
	json_t *j;

	json_decref(exec_stream("run",
	                        "{\"argv\": [\"hello\"], \"env\": [\"A=1\", \"B=x=y\"], \"workdir\": \"/w\", "
	                        "\"user\": \"1000:50\"}",
	                        NULL, &err));
	assert_null(err);
	assert_string_equal(fake.last_opts, "A=1;B=x=y;/w;1000:50");
	/* buffered: the same options; the stream collected into one reply */
	j = http("/v1/containers/exec?id=run", "{\"argv\": [\"hello\"], \"user\": \"app\", \"workdir\": null}", 200);
	assert_string_equal(fake.last_opts, "n/a;app");
	assert_true(line_is(j, json_pack("{s:i, s:s, s:s}", "exit_code", 3, "stdout", "one\n", "stderr", "two\n")));
	json_decref(j);
	j = http("/v1/containers/exec?id=run&stream=0", "{\"argv\": [\"binary\"]}", 200);
	assert_true(
	        line_is(j, json_pack("{s:i, s:s, s:s}", "exit_code", 0, "stdout", "\xef\xbf\xbd\xef\xbf\xbd", "stderr",
	                             "a\xef\xbf\xbd"
	                             "b")));
	json_decref(j);
}

static void test_errors_before_the_stream(void **state) {
	static const char *const forms[] = { "", "&stream=1" };

	for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
		_cleanup_free_ char *nope = xasprintf("/v1/containers/exec?id=nope%s", forms[i]);
		_cleanup_free_ char *stopped = xasprintf("/v1/containers/exec?id=stopped%s", forms[i]);
		_cleanup_free_ char *wasm = xasprintf("/v1/containers/exec?id=wasm%s", forms[i]);
		_cleanup_free_ char *run = xasprintf("/v1/containers/exec?id=run%s", forms[i]);

		assert_error(http(nope, "{\"argv\": [\"true\"]}", 404), "not_found", "no such container 'nope'");
		assert_error(http(stopped, "{\"argv\": [\"true\"]}", 400), "configuration", "is not running");
		assert_error(http(wasm, "{\"argv\": [\"true\"]}", 501), "unsupported", "not supported");
		assert_error(http(run, "{\"argv\": [\"true\"], \"user\": \"ghost\"}", 400), "invalid_spec",
		             "user 'ghost' not found");
		assert_error(http(run, "{}", 400), "invalid_spec", "field 'argv' is required");
		assert_error(http(run, "{\"argv\": []}", 400), "invalid_spec", "field 'argv' must have at least one");
		assert_error(http(run, "{\"argv\": [\"a\\u0000b\"]}", 400), "invalid_spec", "not allowed");
		assert_error(http(run, "{\"argv\": [\"true\"], \"env\": [\"=x\"]}", 400), "invalid_spec",
		             "'env[0]' must be of the form NAME=VALUE");
		assert_error(http(run, "{\"argv\": [\"true\"], \"workdir\": \"w\"}", 400), "invalid_spec",
		             "'workdir' must be an absolute path");
		assert_error(http(run, "{\"argv\": [\"true\"], \"tty\": true}", 400), "invalid_spec",
		             "unknown field 'tty'");
	}
	assert_error(http("/v1/containers/exec?id=run&stream=maybe", "{\"argv\": [\"true\"]}", 400), "invalid_spec",
	             "query parameter 'stream' must be a boolean");
	assert_error(http("/v1/containers/exec", "{\"argv\": [\"true\"]}", 400), "invalid_spec", "'id' is required");
}

/* 20 MiB to a reader slower than the producer: the exec waits for it
 * instead of the daemon dropping it at API_STREAM_BUFFER_MAX. */
static void test_slow_reader_gets_everything(void **state) {
	struct lines l = { .delay_us = 3000 };
	struct za_error *err = NULL;
	json_t *lines = exec_stream("run", "{\"argv\": [\"big\"]}", &l, &err);
	_cleanup_free_ char *all = NULL;
	size_t n;

	if (err)
		fail_msg("stream failed: %s", err->message);
	assert_true(line_is(last(lines), json_pack("{s:i}", "exit_code", 0)));
	all = stream_bytes(lines, "stdout", &n);
	assert_int_equal(n, (size_t)BIG_CHUNK * BIG_CHUNKS);
	for (size_t i = 0; i < BIG_CHUNKS; i++)
		assert_int_equal(all[i * BIG_CHUNK + 17], 'a' + i % 26);
	json_decref(lines);
}

static void test_client_that_leaves_cancels(void **state) {
	struct lines l = { .stop_after = 1 };
	struct za_error *err = NULL;
	json_t *lines;
	int before = atomic_load(&fake.cancelled);

	lines = exec_stream("run", "{\"argv\": [\"block\"]}", &l, &err);
	assert_non_null(err); /* we stopped reading */
	za_error_free(err);
	assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 0), "data")), "waiting\n");
	json_decref(lines);
	for (int i = 0; i < 300 && atomic_load(&fake.cancelled) == before; i++)
		usleep(10 * 1000);
	assert_int_equal(atomic_load(&fake.cancelled), before + 1);
}

struct bg_stream {
	struct lines l;
	struct za_error *err;
	pthread_t t;
};

static void *bg_main(void *p) {
	struct bg_stream *b = p;
	b->l.all = exec_stream("run", "{\"argv\": [\"block\"]}", &b->l, &b->err);
	return NULL;
}

static void *bg_buffered_main(void *p) {
	json_t **reply = p;
	*reply = http("/v1/containers/exec?id=run", "{\"argv\": [\"block\"]}", 503);
	return NULL;
}

/* A separate daemon: stopping it cancels the execs, streamed (its last line
 * says why) and buffered (503); the stop does not wait for the commands. */
static void test_shutdown_cancels(void **state) {
	struct bg_stream b = {};
	json_t *buffered = NULL;
	pthread_t t;
	int64_t ms;

	start_daemon();
	atomic_store(&fake.blocking, 0);
	assert_int_equal(pthread_create(&b.t, NULL, bg_main, &b), 0);
	assert_int_equal(pthread_create(&t, NULL, bg_buffered_main, &buffered), 0);
	for (int i = 0; i < 300 && atomic_load(&fake.blocking) < 2; i++)
		usleep(10 * 1000);
	assert_int_equal(atomic_load(&fake.blocking), 2);
	usleep(100 * 1000);
	ms = stop_daemon();
	pthread_join(b.t, NULL);
	pthread_join(t, NULL);
	assert_true(ms < 3000);
	assert_non_null(b.err);
	assert_non_null(strstr(b.err->message, "shutting down"));
	za_error_free(b.err);
	json_decref(b.l.all);
	assert_error(buffered, "unsupported", "shutting down");
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_and_exit),
		cmocka_unit_test(test_options_reach_the_runtime),
		cmocka_unit_test(test_errors_before_the_stream),
		cmocka_unit_test(test_slow_reader_gets_everything),
		cmocka_unit_test(test_client_that_leaves_cancels),
	};
	const struct CMUnitTest shutdown_tests[] = {
		cmocka_unit_test(test_shutdown_cancels),
	};
	int r;

	log_set_max_level(LOG_WARNING);
	r = cmocka_run_group_tests_name("exec", tests, group_setup, group_teardown);
	return r + cmocka_run_group_tests_name("shutdown", shutdown_tests, NULL, NULL);
}
