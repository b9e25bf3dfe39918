/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-wasm as an OCI runtime: the state file and the verbs after create
 * (state, kill, delete, events --stats), the dispatch and runc's error
 * format. A container's status is derived as runc derives it: its process
 * alive (same start time, not a zombie) and exec.fifo present -> created,
 * alive without the fifo -> running, else stopped. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "runtime/wasm/wasm-oci-internal.h"
#include "basic/banned.h"

static const char *const status_names[_OCI_STATUS_MAX] = {
	[OCI_CREATED] = "created",
	[OCI_RUNNING] = "running",
	[OCI_STOPPED] = "stopped",
};

const char *oci_status_to_string(enum oci_status s) {
	return s >= 0 && s < _OCI_STATUS_MAX ? status_names[s] : NULL;
}

/* --- errors (runc's format, which zlayer-shim and the agent parse) ---------------------- */

static char *time_rfc3339(bool nano) {
	struct timespec ts;
	struct tm tm;
	char buf[64];

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return nano ? xasprintf("%s.%09ldZ", buf, ts.tv_nsec) : xasprintf("%sZ", buf);
}

char *oci_now_rfc3339(void) {
	return time_rfc3339(true);
}

void wasm_oci_print_error(const char *msg) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *t = time_rfc3339(false);

	strbuf_addf(&sb, "time=\"%s\" level=error msg=\"", t);
	for (const char *p = msg; *p; p++) {
		if (*p == '"' || *p == '\\')
			strbuf_addch(&sb, '\\');
		if (*p == '\n')
			strbuf_addstr(&sb, "\\n");
		else
			strbuf_addch(&sb, *p);
	}
	strbuf_addstr(&sb, "\"\n");
	(void)loop_write(STDERR_FILENO, sb.buf, sb.len);
}

int oci_fail(const char *fmt, ...) {
	_cleanup_free_ char *m = NULL;
	va_list ap;

	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	wasm_oci_print_error(m);
	return 1;
}

int oci_fail_err(const struct za_error *e) {
	return oci_fail("%s", e && e->message ? e->message : "unknown error");
}

/* --- the state file -------------------------------------------------------------------------- */

const char *oci_root(const struct wasm_oci_globals *g) {
	return g->root ? g->root : WASM_OCI_ROOT_DEFAULT;
}

char *oci_dir(const struct wasm_oci_globals *g, const char *id) {
	return xasprintf("%s/%s", oci_root(g), id);
}

/* runc's rule: letters, digits, _ + - . ; not "." or "..". */
bool oci_valid_id(const char *id) {
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > ID_MAX || streq(id, ".") || streq(id, ".."))
		return false;
	for (const char *p = id; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
		    !strchr("_+-.", *p))
			return false;
	return true;
}

int oci_proc_stat(pid_t pid, uint64_t *ret_start, char *ret_state) {
	_cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int)pid), *buf = NULL;
	const char *p;
	size_t len;
	uint64_t start;
	char state;

	if (pid <= 0 || read_full_file(path, 4096, &buf, &len) < 0)
		return -ESRCH;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EBADMSG;
	state = p[2];
	/* fields 3 (state) .. 22 (starttime): skip 19 spaces after the state */
	p += 2;
	for (int i = 0; i < 19 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return -EBADMSG;
	_cleanup_free_ char *num = xstrndup(p, strcspn(p, " "));
	if (parse_uint64(num, &start) < 0)
		return -EBADMSG;
	if (ret_start)
		*ret_start = start;
	if (ret_state)
		*ret_state = state;
	return 0;
}

bool oci_alive(const struct oci_state *st) {
	uint64_t start;
	char state;

	return oci_proc_stat(st->pid, &start, &state) >= 0 && start == st->starttime && state != 'Z' && state != 'X';
}

bool oci_wait_gone(const struct oci_state *st, int timeout_ms) {
	_cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, st->pid, 0);

	for (int waited = 0; oci_alive(st); waited += 20) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		if (waited >= timeout_ms)
			return false;
		if (pfd >= 0)
			(void)poll(&p, 1, 20);
		else
			nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	return true;
}

enum oci_status oci_state_status(const struct wasm_oci_globals *g, const struct oci_state *st) {
	_cleanup_free_ char *dir = NULL, *fifo = NULL;

	if (!oci_alive(st))
		return OCI_STOPPED;
	dir = oci_dir(g, st->id);
	fifo = xasprintf("%s/" FILE_FIFO, dir);
	return access(fifo, F_OK) == 0 ? OCI_CREATED : OCI_RUNNING;
}

static char *json_str_dup(json_t *o, const char *key) {
	const char *s = json_string_value(json_object_get(o, key));
	return s ? xstrdup(s) : NULL;
}

int oci_state_load(const struct wasm_oci_globals *g, const char *id, struct oci_state *ret, struct za_error **reterr) {
	_cleanup_free_ char *dir = NULL, *path = NULL, *buf = NULL;
	struct oci_state st = {};
	json_auto_t *j = NULL;
	json_t *cgs, *v;
	const char *key;
	size_t len;
	int r;

	if (!oci_valid_id(id))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid container id '%.64s'", id);
	dir = oci_dir(g, id);
	path = xasprintf("%s/" FILE_STATE, dir);
	r = read_full_file(path, STATE_MAX, &buf, &len);
	if (r == -ENOENT)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "container does not exist");
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot read '%s': %m", path);
	j = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(j))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EBADMSG, "'%s' is not a state file", path);
	st.id = xstrdup(id);
	st.bundle = json_str_dup(j, "bundle");
	st.rootfs = json_str_dup(j, "rootfs");
	st.created = json_str_dup(j, "created");
	st.pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	st.starttime = (uint64_t)json_integer_value(json_object_get(j, "init_process_start"));
	v = json_object_get(j, "annotations");
	st.annotations = json_is_object(v) ? json_incref(v) : json_object();
	cgs = json_object_get(j, "cgroup_paths");
	json_object_foreach(cgs, key, v) {
		enum wasm_cgroup_ctl c = wasm_cgroup_ctl_from_string(key);
		if (c >= 0 && json_is_string(v) && !st.cg.dirs[c])
			st.cg.dirs[c] = xstrdup(json_string_value(v));
	}
	*ret = st;
	return 0;
}

int oci_state_save(const struct wasm_oci_globals *g, const struct oci_state *st, struct za_error **reterr) {
	_cleanup_free_ char *dir = oci_dir(g, st->id), *path = NULL, *text = NULL;
	json_auto_t *j = json_pack("{s:s, s:i, s:I, s:s, s:s, s:s, s:O}", "id", st->id, "pid", (int)st->pid,
	                           "init_process_start", (json_int_t)st->starttime, "bundle", strempty(st->bundle),
	                           "rootfs", strempty(st->rootfs), "created", strempty(st->created), "annotations",
	                           st->annotations ? st->annotations : json_object());
	json_t *cgs = json_object();
	int r;

	for (int c = 0; c < _WASM_CGROUP_MAX; c++)
		if (st->cg.dirs[c])
			json_object_set_new(cgs, wasm_cgroup_ctl_to_string(c), json_string(st->cg.dirs[c]));
	json_object_set_new(j, "cgroup_paths", cgs);
	path = xasprintf("%s/" FILE_STATE, dir);
	text = json_dumps(j, JSON_COMPACT);
	r = write_file_atomic(path, text, strlen(text), 0600);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot write '%s': %m", path);
	return 0;
}

void oci_state_release(struct oci_state *st) {
	free(st->id);
	free(st->bundle);
	free(st->rootfs);
	free(st->created);
	wasm_cgroup_release(&st->cg);
	json_decref(st->annotations);
	*st = (struct oci_state){};
}

int oci_destroy(const struct wasm_oci_globals *g, struct oci_state *st) {
	_cleanup_free_ char *dir = oci_dir(g, st->id);
	int r = wasm_cgroup_remove(&st->cg);

	if (r < 0)
		return oci_fail("cannot remove the cgroups of container %s: %s", st->id, strerror(-r));
	rm_rf(dir);
	return 0;
}

/* --- verbs ------------------------------------------------------------------------------------ */

static int verb_state(const struct wasm_oci_globals *g, int argc, char **argv) {
	_cleanup_(oci_state_release) struct oci_state st = {};
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *text = NULL;
	enum oci_status s;
	json_auto_t *j = NULL;

	if (argc != 2)
		return oci_fail("state needs exactly one container id");
	if (oci_state_load(g, argv[1], &st, &err) < 0)
		return oci_fail_err(err);
	s = oci_state_status(g, &st);
	j = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:O}", "ociVersion", OCI_VERSION, "id", st.id, "pid",
	              s == OCI_STOPPED ? 0 : (int)st.pid, "status", oci_status_to_string(s), "bundle",
	              strempty(st.bundle), "rootfs", strempty(st.rootfs), "created", strempty(st.created), "owner", "",
	              "annotations", st.annotations);
	text = json_dumps(j, JSON_INDENT(2));
	printf("%s\n", text);
	return 0;
}

static int verb_kill(const struct wasm_oci_globals *g, int argc, char **argv) {
	_cleanup_(oci_state_release) struct oci_state st = {};
	_cleanup_za_error_ struct za_error *err = NULL;
	int i = 1, sig = SIGTERM;

	while (i < argc && (streq(argv[i], "--all") || streq(argv[i], "-a")))
		i++;
	if (argc - i < 1 || argc - i > 2)
		return oci_fail("kill needs a container id and optionally a signal");
	if (argc - i == 2 && (sig = parse_signal(argv[i + 1])) < 0)
		return oci_fail("invalid signal '%s'", argv[i + 1]);
	if (oci_state_load(g, argv[i], &st, &err) < 0)
		return oci_fail_err(err);
	if (!oci_alive(&st))
		return oci_fail("container not running");
	if (kill(st.pid, sig) < 0)
		return oci_fail("cannot signal container %s: %s", st.id, strerror(errno));
	return 0;
}

static int verb_delete(const struct wasm_oci_globals *g, int argc, char **argv) {
	_cleanup_(oci_state_release) struct oci_state st = {};
	_cleanup_za_error_ struct za_error *err = NULL;
	bool force = false;
	int i = 1, r;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!streq(argv[i], "--force") && !streq(argv[i], "-f"))
			return oci_fail("unknown option '%s'", argv[i]);
		force = true;
	}
	if (i + 1 != argc)
		return oci_fail("delete needs exactly one container id");
	r = oci_state_load(g, argv[i], &st, &err);
	if (r == -ENOENT && oci_valid_id(argv[i])) {
		/* a create that never wrote its state may have left the directory */
		_cleanup_free_ char *dir = oci_dir(g, argv[i]);
		rm_rf(dir);
		return force ? 0 : oci_fail_err(err);
	}
	if (r < 0)
		return oci_fail_err(err);
	switch (oci_state_status(g, &st)) {
	case OCI_RUNNING:
		if (!force)
			return oci_fail("cannot delete container %s that is not stopped: running", st.id);
		_fallthrough_;
	case OCI_CREATED:
		(void)kill(st.pid, SIGKILL);
		if (!oci_wait_gone(&st, 10000))
			return oci_fail("container %s did not die after SIGKILL", st.id);
		break;
	default:
		break;
	}
	return oci_destroy(g, &st);
}

static int verb_events(const struct wasm_oci_globals *g, int argc, char **argv) {
	_cleanup_(oci_state_release) struct oci_state st = {};
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *text = NULL;
	struct wasm_cgroup_stats s;
	json_auto_t *j = NULL;
	bool stats = false;
	int i = 1, r;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (streq(argv[i], "--stats"))
			stats = true;
		else if (strneq(argv[i], "--interval", 10)) {
			if (!strchr(argv[i], '='))
				i++;
		} else
			return oci_fail("unknown option '%s'", argv[i]);
	}
	if (i + 1 != argc)
		return oci_fail("events needs exactly one container id");
	if (!stats)
		return oci_fail("events without --stats is not supported by the WebAssembly runtime");
	if (oci_state_load(g, argv[i], &st, &err) < 0)
		return oci_fail_err(err);
	if (!oci_alive(&st))
		return oci_fail("container %s is not running", st.id);
	r = wasm_cgroup_stats(&st.cg, &s);
	if (r < 0)
		return oci_fail("cannot read the cgroup statistics of container %s: %s", st.id, strerror(-r));
	j = json_pack("{s:s, s:s, s:{s:{s:{s:I, s:[], s:I, s:I}}, s:{s:{s:I, s:I, s:I, s:I}}, s:{s:I, s:I}}}", "type",
	              "stats", "id", st.id, "data", "cpu", "usage", "total", (json_int_t)s.cpu_ns, "percpu", "kernel",
	              (json_int_t)0, "user", (json_int_t)0, "memory", "usage", "usage", (json_int_t)s.memory, "limit",
	              (json_int_t)s.memory_limit, "max", (json_int_t)0, "failcnt", (json_int_t)0, "pids", "current",
	              (json_int_t)s.pids, "limit", (json_int_t)s.pids_limit);
	text = json_dumps(j, JSON_COMPACT);
	printf("%s\n", text);
	return 0;
}

int wasm_oci_main(const struct wasm_oci_globals *g, int argc, char **argv) {
	static const char *const unsupported[] = { "list",    "ps",   "pause", "resume",   "update",
		                                   "restore", "spec", "ps",    "features", "checkpoint" };
	const char *verb = argv[0];

	if (streq(verb, "create"))
		return oci_verb_create(g, argc, argv);
	if (streq(verb, "run"))
		return oci_verb_run(g, argc, argv);
	if (streq(verb, "start"))
		return oci_verb_start(g, argc, argv);
	if (streq(verb, "state"))
		return verb_state(g, argc, argv);
	if (streq(verb, "kill"))
		return verb_kill(g, argc, argv);
	if (streq(verb, "delete"))
		return verb_delete(g, argc, argv);
	if (streq(verb, "events"))
		return verb_events(g, argc, argv);
	if (streq(verb, "exec"))
		return oci_fail("exec is not supported by the WebAssembly runtime");
	for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
		if (streq(verb, unsupported[i]))
			return oci_fail("'%s' is not supported by the WebAssembly runtime", verb);
	return oci_fail("unknown command '%s'", verb);
}
