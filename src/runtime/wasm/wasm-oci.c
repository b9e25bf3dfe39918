/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-wasm as an OCI runtime: create, run and start.
 *
 * Bundle contract (what the agent writes for a WebAssembly container):
 *   config.json
 *     process.args        the guest's argv; args[0] is the module's name
 *     process.env         "K=V" strings: the guest's whole environment
 *     process.terminal    true with --console-socket: a pty is the guest's
 *                         stdio, its master goes to the socket (as runc)
 *     root.path           reported as `rootfs` by state; nothing is mounted
 *     mounts[]            entries of type "bind" (or with "bind"/"rbind" in
 *                         options) are preopens: source = host directory,
 *                         destination = guest path; "ro" in options makes
 *                         it read-only (bind-remounted read-only in the
 *                         instance's own mount namespace); others ignored
 *     linux.cgroupsPath   "/zlayer/ID" (cgroupfs), "slice:prefix:name"
 *                         with --systemd-cgroup; default "/zlayer-wasm/ID"
 *     linux.resources     memory.limit, memory.swap, cpu.quota, cpu.period,
 *                         cpu.shares, pids.limit (the rest is ignored)
 *     annotations
 *       io.zlayer.wasm.module      absolute host path of the .wasm (required)
 *       io.zlayer.wasm.cache_dir   compile cache (default: $ZLAYER_WASM_CACHE_DIR,
 *                                  else /var/lib/zlayer/wasm)
 *       io.zlayer.wasm.max_memory  linear memory cap, bytes
 *       io.zlayer.wasm.timeout_ns  run time limit from start, nanoseconds
 *       io.zlayer.wasm.tier        auto (default) | tcc | cached
 * State under --root (default /run/zlayer-wasm): ROOT/ID/state.json,
 * ROOT/ID/exec.fifo (between create and start), ROOT/ID/outcome.json (the
 * trap file: {"reason":"runtime_error","trap":KIND} or {"reason":"timeout"}).
 *
 * create forks the instance process, which setsid()s, moves itself into the
 * cgroup, loads the module (the expensive part: cache or tcc) and
 * instantiates it, reports over a pipe, then blocks opening exec.fifo for
 * writing (runc's trick); create writes the pid file and state.json and
 * exits once the instance is waiting, so the instance is reparented to
 * the caller's subreaper (the shim). A load error is create's error and
 * leaves neither state directory nor cgroup. start opens the fifo, reads
 * the byte the instance writes and removes the fifo; the instance runs
 * `_start`. `run --detach` is create without the fifo; `run` without it
 * stays in the foreground and deletes the container at the end. When the
 * module ran on the tcc tier, create (not the instance: it must not count
 * against the container's cgroup) starts the background cc build. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "runtime/wasm/wasm-compile.h"
#include "runtime/wasm/wasm-instance.h"
#include "runtime/wasm/wasm-module.h"
#include "runtime/wasm/wasm-oci-internal.h"
#include "basic/banned.h"

#define CONFIG_MAX  (4u << 20)
#define REPORT_MAX  4096
#define ANNOTATION  "io.zlayer.wasm."
#define CGROUP_DFLT "/zlayer-wasm"

struct preopen {
	char *host, *guest;
	bool ro;
};

struct spec {
	char **args, **env;
	struct preopen *preopens;
	size_t n_preopens;
	bool terminal;
	char *rootfs, *cgroups_path;
	struct wasm_resources res;
	char *module, *cache_dir;
	uint64_t max_memory, timeout_ns;
	enum wasm_tier tier;
	json_t *annotations;
};

enum create_mode {
	MODE_CREATE,
	MODE_RUN_DETACH,
	MODE_RUN,
};

static void spec_release(struct spec *s) {
	strv_free(s->args);
	strv_free(s->env);
	for (size_t i = 0; i < s->n_preopens; i++) {
		free(s->preopens[i].host);
		free(s->preopens[i].guest);
	}
	free(s->preopens);
	free(s->rootfs);
	free(s->cgroups_path);
	free(s->module);
	free(s->cache_dir);
	json_decref(s->annotations);
}

static char **strv_from_json(json_t *a) {
	char **l = xnew(char *, 1);
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) if (json_is_string(v)) strv_push(&l, json_string_value(v));
	return l;
}

static bool has_option(json_t *opts, const char *want) {
	size_t i;
	json_t *v;

	json_array_foreach(opts, i, v) if (json_is_string(v) && streq(json_string_value(v), want)) return true;
	return false;
}

static int64_t json_i64(json_t *o, const char *key) {
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int annotation_u64(struct spec *s, const char *key, uint64_t *ret, bool size, struct za_error **reterr) {
	const char *v = json_string_value(json_object_get(s->annotations, key));
	int r;

	if (!v)
		return 0;
	r = size ? parse_size(v, ret) : parse_uint64(v, ret);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid annotation %s '%s'", key, v);
	return 0;
}

static int spec_mounts(struct spec *s, json_t *mounts, struct za_error **reterr) {
	size_t i;
	json_t *m;

	json_array_foreach(mounts, i, m) {
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *src = json_string_value(json_object_get(m, "source"));
		const char *dst = json_string_value(json_object_get(m, "destination"));
		json_t *opts = json_object_get(m, "options");

		if (!(type && streq(type, "bind")) && !has_option(opts, "bind") && !has_option(opts, "rbind"))
			continue;
		if (isempty(src) || src[0] != '/' || isempty(dst) || dst[0] != '/')
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "bind mount %zu needs an absolute source and destination", i);
		s->preopens = xrealloc(s->preopens, (s->n_preopens + 1) * sizeof(*s->preopens));
		s->preopens[s->n_preopens++] =
		        (struct preopen){ .host = xstrdup(src), .guest = xstrdup(dst), .ro = has_option(opts, "ro") };
	}
	return 0;
}

static int spec_load(const char *bundle, const char *id, struct spec *s, struct za_error **reterr) {
	_cleanup_free_ char *path = xasprintf("%s/config.json", bundle), *buf = NULL;
	json_auto_t *j = NULL;
	json_error_t jerr;
	json_t *proc, *lx, *res, *v;
	const char *tier;
	size_t len;
	int r;

	*s = (struct spec){ .tier = WASM_TIER_AUTO };
	r = read_full_file(path, CONFIG_MAX, &buf, &len);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, r, "cannot read '%s': %m", path);
	j = json_loadb(buf, len, 0, &jerr);
	if (!j || !json_is_object(j))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid '%s': %s (line %d)", path,
		                     j ? "not an object" : jerr.text, jerr.line);
	proc = json_object_get(j, "process");
	s->args = strv_from_json(json_object_get(proc, "args"));
	s->env = strv_from_json(json_object_get(proc, "env"));
	s->terminal = json_is_true(json_object_get(proc, "terminal"));
	if (!s->args[0])
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "'%s': process.args is empty (args[0] is the module's name)", path);
	v = json_object_get(json_object_get(j, "root"), "path");
	s->rootfs = json_is_string(v)
	                    ? (json_string_value(v)[0] == '/' ? xstrdup(json_string_value(v))
	                                                      : xasprintf("%s/%s", bundle, json_string_value(v)))
	                    : xstrdup(bundle);
	lx = json_object_get(j, "linux");
	v = json_object_get(lx, "cgroupsPath");
	s->cgroups_path = json_is_string(v) && *json_string_value(v) ? xstrdup(json_string_value(v))
	                                                             : xasprintf(CGROUP_DFLT "/%s", id);
	res = json_object_get(lx, "resources");
	s->res = (struct wasm_resources){
		.memory_limit = json_i64(json_object_get(res, "memory"), "limit"),
		.memory_swap = json_i64(json_object_get(res, "memory"), "swap"),
		.cpu_quota = json_i64(json_object_get(res, "cpu"), "quota"),
		.cpu_period = (uint64_t)MAX(json_i64(json_object_get(res, "cpu"), "period"), 0),
		.cpu_shares = (uint64_t)MAX(json_i64(json_object_get(res, "cpu"), "shares"), 0),
		.pids_limit = json_i64(json_object_get(res, "pids"), "limit"),
	};
	r = spec_mounts(s, json_object_get(j, "mounts"), reterr);
	if (r < 0)
		return r;
	s->annotations = json_object_get(j, "annotations");
	s->annotations = s->annotations ? json_incref(s->annotations) : json_object();
	v = json_object_get(s->annotations, ANNOTATION "module");
	if (!json_is_string(v) || json_string_value(v)[0] != '/')
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "'%s': annotation " ANNOTATION "module must be the absolute path of the module",
		                     path);
	s->module = xstrdup(json_string_value(v));
	v = json_object_get(s->annotations, ANNOTATION "cache_dir");
	if (json_is_string(v))
		s->cache_dir = xstrdup(json_string_value(v));
	tier = json_string_value(json_object_get(s->annotations, ANNOTATION "tier"));
	if (tier && (s->tier = wasm_tier_from_string(tier)) < 0)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid annotation " ANNOTATION "tier '%s' (expected auto, tcc or cached)", tier);
	r = annotation_u64(s, ANNOTATION "max_memory", &s->max_memory, true, reterr);
	if (r >= 0)
		r = annotation_u64(s, ANNOTATION "timeout_ns", &s->timeout_ns, false, reterr);
	return r;
}

/* --- the instance process ------------------------------------------------------------ */

struct create_ctx {
	const struct wasm_oci_globals *g;
	const char *id, *dir, *console;
	struct spec *spec;
	struct wasm_cgroup *cg;
	const void *wasm;
	size_t len;
	uint32_t mem_min_pages;
	enum create_mode mode;
	int report;
};

static _noreturn_ void child_fail(struct create_ctx *c, const char *msg) {
	char buf[REPORT_MAX];
	int n = snprintf(buf, sizeof(buf), "E%s", msg);

	(void)loop_write(c->report, buf, (size_t)MIN(n, (int)sizeof(buf) - 1));
	_exit(1);
}

static _noreturn_ void child_fail_err(struct create_ctx *c, struct za_error *e) {
	child_fail(c, e && e->message ? e->message : "unknown error");
}

static _printf_(2, 3) _noreturn_ void child_failf(struct create_ctx *c, const char *fmt, ...) {
	_cleanup_free_ char *m = NULL;
	va_list ap;

	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	child_fail(c, m);
}

/* A pty for the guest's stdio; the master goes to the console socket. */
static int setup_console(const char *socket_path) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int master = -1, slave = -1, sock = -1;
	char name[PATH_MAX], ctl[CMSG_SPACE(sizeof(int))] = {};
	struct iovec iov = { .iov_base = name };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;

	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, socket_path, strlen(socket_path));
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
		return -errno;
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (slave < 0 || sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	iov.iov_len = strlen(name);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	if (sendmsg(sock, &mh, 0) < 0)
		return -errno;
	if (ioctl(slave, TIOCSCTTY, 0) < 0 || dup2(slave, STDIN_FILENO) < 0 || dup2(slave, STDOUT_FILENO) < 0 ||
	    dup2(slave, STDERR_FILENO) < 0)
		return -errno;
	return 0;
}

/* Read-only preopens: bind-remounted read-only in a private mount ns. */
static int setup_readonly(const struct spec *s) {
	bool any = false;

	for (size_t i = 0; i < s->n_preopens; i++)
		any = any || s->preopens[i].ro;
	if (!any)
		return 0;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return -errno;
	for (size_t i = 0; i < s->n_preopens; i++) {
		const char *p = s->preopens[i].host;
		if (!s->preopens[i].ro)
			continue;
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			return -errno;
	}
	return 0;
}

static _noreturn_ void instance_main(struct create_ctx *c) {
	_cleanup_(wasm_code_freep) struct wasm_code *code = NULL;
	_cleanup_(wasm_instance_freep) struct wasm_instance *inst = NULL;
	struct za_error *err = NULL;
	struct wasi_preopen *pre = xnew(struct wasi_preopen, c->spec->n_preopens + 1);
	_cleanup_free_ char *fifo = xasprintf("%s/" FILE_FIFO, c->dir);
	_cleanup_free_ char *outcome = xasprintf("%s/" FILE_OUTCOME, c->dir);
	char ok[8];
	int r, fd;

	(void)setsid();
	if (c->console && (r = setup_console(c->console)) < 0)
		child_failf(c, "cannot set up the terminal on '%s': %s", c->console, strerror(-r));
	if ((r = wasm_cgroup_enter(c->cg, getpid())) < 0)
		child_failf(c, "cannot join the container's cgroup: %s", strerror(-r));
	struct wasm_load_options lo = { .cache_dir = c->spec->cache_dir, .tier = c->spec->tier };
	if (wasm_code_load(c->wasm, c->len, &lo, &code, &err) < 0)
		child_fail_err(c, err);
	/* after the load: the cache may well be under a read-only preopen */
	if ((r = setup_readonly(c->spec)) < 0)
		child_failf(c, "cannot make the read-only mounts: %s", strerror(-r));
	for (size_t i = 0; i < c->spec->n_preopens; i++)
		pre[i] = (struct wasi_preopen){ .host_path = c->spec->preopens[i].host,
			                        .guest_path = c->spec->preopens[i].guest };
	struct wasm_run_config rc = { .args = c->spec->args,
		                      .env = c->spec->env,
		                      .preopens = pre,
		                      .n_preopens = c->spec->n_preopens,
		                      .max_memory = c->spec->max_memory,
		                      .mem_min_pages = c->mem_min_pages,
		                      .timeout_ns = c->spec->timeout_ns,
		                      .trap_file = outcome };
	if (wasm_instance_new(code, &rc, &inst, &err) < 0)
		child_fail_err(c, err);
	snprintf(ok, sizeof(ok), "O%d", code->want_build ? 1 : 0);
	(void)loop_write(c->report, ok, strlen(ok));
	c->report = safe_close(c->report);
	if (c->mode == MODE_CREATE) {
		/* blocks until `start` opens the fifo for reading */
		do
			fd = open(fifo, O_WRONLY | O_CLOEXEC);
		while (fd < 0 && errno == EINTR);
		if (fd < 0 || loop_write(fd, "0", 1) < 0)
			_exit(WASM_EXIT_TRAP);
		close(fd);
	}
	_exit(wasm_instance_run(inst));
}

/* --- create and run --------------------------------------------------------------------- */

struct create_args {
	const char *bundle, *pid_file, *console, *id;
	bool detach;
};

static int parse_create(int argc, char **argv, bool run, struct create_args *a) {
	int i;

	*a = (struct create_args){ .bundle = "." };
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i], *eq = strchr(o, '=');
		size_t n = eq ? (size_t)(eq - o) : strlen(o);
		const char **dst = NULL;

		if (run && (streq(o, "--detach") || streq(o, "-d"))) {
			a->detach = true;
			continue;
		}
		if (streq(o, "--no-pivot") || streq(o, "--no-new-keyring"))
			continue;
		if ((n == 8 && strneq(o, "--bundle", n)) || (n == 2 && strneq(o, "-b", n)))
			dst = &a->bundle;
		else if (n == 10 && strneq(o, "--pid-file", n))
			dst = &a->pid_file;
		else if (n == 16 && strneq(o, "--console-socket", n))
			dst = &a->console;
		else if (n == 14 && strneq(o, "--preserve-fds", n)) {
			const char *ignored;
			dst = &ignored;
		} else
			return oci_fail("unknown option '%s'", o);
		if (eq)
			*dst = eq + 1;
		else if (i + 1 < argc)
			*dst = argv[++i];
		else
			return oci_fail("option '%s' needs a value", o);
	}
	if (i + 1 != argc)
		return oci_fail("%s needs exactly one container id", run ? "run" : "create");
	a->id = argv[i];
	if (!oci_valid_id(a->id))
		return oci_fail("invalid container id '%.64s'", a->id);
	return 0;
}

static int write_pid_file(const char *path, pid_t pid) {
	_cleanup_free_ char *s = xasprintf("%d", (int)pid);
	return write_file_atomic(path, s, strlen(s), 0644);
}

/* The instance's report: "O0"/"O1" (want a cc build), "E<message>". */
static int read_report(int fd, pid_t pid, char **ret_err, bool *ret_build) {
	char buf[REPORT_MAX + 1];
	size_t got = 0;
	ssize_t n;
	int status;

	while (got < REPORT_MAX && ((n = read(fd, buf + got, REPORT_MAX - got)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	buf[got] = '\0';
	if (got > 0 && buf[0] == 'O') {
		*ret_build = buf[1] == '1';
		return 0;
	}
	if (got > 1 && buf[0] == 'E') {
		*ret_err = xstrdup(buf + 1);
		return -EIO;
	}
	if (waitpid(pid, &status, 0) == pid)
		*ret_err = WIFSIGNALED(status)
		                   ? xasprintf("the instance process was killed by signal %d while loading the module",
		                               WTERMSIG(status))
		                   : xasprintf("the instance process exited with status %d while loading the module",
		                               WEXITSTATUS(status));
	else
		*ret_err = xstrdup("the instance process died while loading the module");
	return -EIO;
}

static int do_create(const struct wasm_oci_globals *g, const struct create_args *a, enum create_mode mode) {
	_cleanup_(spec_release) struct spec spec = {};
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *bundle = NULL, *dir = NULL, *fifo = NULL, *msg = NULL;
	_cleanup_free_ void *wasm = NULL;
	struct wasm_module_info info = {};
	struct wasm_cgroup cg = {};
	struct oci_state st = {};
	char real[PATH_MAX];
	int p[2] = { -1, -1 }, r, status;
	bool build = false;
	size_t len;
	pid_t pid;

	if (!realpath(a->bundle, real))
		return oci_fail("cannot use the bundle '%s': %s", a->bundle, strerror(errno));
	bundle = xstrdup(real);
	r = spec_load(bundle, a->id, &spec, &err);
	if (r >= 0)
		r = wasm_module_read(spec.module, &wasm, &len, &err);
	if (r >= 0)
		r = wasm_module_inspect(wasm, len, &info, &err);
	wasm_module_info_release(&info);
	if (r < 0)
		return oci_fail_err(err);
	if (!spec.cache_dir) {
		const char *e = getenv(WASM_CACHE_DIR_ENV);
		spec.cache_dir = xstrdup(isempty(e) ? WASM_CACHE_DIR_DEFAULT : e);
	}
	if (spec.terminal != !!a->console)
		return oci_fail(spec.terminal ? "process.terminal needs --console-socket"
		                              : "--console-socket needs process.terminal set to true");
	r = mkdir_p(oci_root(g), 0711);
	dir = oci_dir(g, a->id);
	if (r >= 0 && mkdir(dir, 0711) < 0) {
		_cleanup_free_ char *sf = xasprintf("%s/" FILE_STATE, dir);
		if (errno != EEXIST)
			r = -errno;
		else if (access(sf, F_OK) == 0)
			return oci_fail("container with id exists: %s", a->id);
		else {
			/* left by a create that died: nothing in it is alive */
			rm_rf(dir);
			r = mkdir(dir, 0711) < 0 ? -errno : 0;
		}
	}
	if (r < 0)
		return oci_fail("cannot create the state directory '%s': %s", dir, strerror(-r));
	r = wasm_cgroup_create(WASM_CGROUP_ROOT, spec.cgroups_path, g->systemd_cgroup, &spec.res, &cg, &err);
	if (r < 0) {
		rm_rf(dir);
		return oci_fail_err(err);
	}
	fifo = xasprintf("%s/" FILE_FIFO, dir);
	(void)unlink(fifo);
	if ((mode == MODE_CREATE && mkfifo(fifo, 0600) < 0) || pipe2(p, O_CLOEXEC) < 0) {
		msg = xasprintf("cannot create '%s': %s", fifo, strerror(errno));
		goto fail_nochild;
	}
	struct create_ctx c = { .g = g,
		                .id = a->id,
		                .dir = dir,
		                .console = a->console,
		                .spec = &spec,
		                .cg = &cg,
		                .wasm = wasm,
		                .len = len,
		                .mem_min_pages = info.mem_min_pages,
		                .mode = mode,
		                .report = p[1] };
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		msg = xasprintf("cannot fork the instance process: %s", strerror(errno));
		goto fail_nochild;
	}
	if (pid == 0) {
		close(p[0]);
		instance_main(&c);
	}
	p[1] = safe_close(p[1]);
	r = read_report(p[0], pid, &msg, &build);
	p[0] = safe_close(p[0]);
	if (r < 0) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		goto fail;
	}
	st = (struct oci_state){ .id = (char *)a->id,
		                 .bundle = bundle,
		                 .rootfs = spec.rootfs,
		                 .created = oci_now_rfc3339(),
		                 .pid = pid,
		                 .cg = cg,
		                 .annotations = spec.annotations };
	if (oci_proc_stat(pid, &st.starttime, NULL) < 0 || oci_state_save(g, &st, &err) < 0 ||
	    (a->pid_file && write_pid_file(a->pid_file, pid) < 0)) {
		msg = err ? xstrdup(err->message) : xasprintf("cannot write the pid file '%s'", strna(a->pid_file));
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		free(st.created);
		goto fail;
	}
	free(st.created);
	if (build && g->self) {
		char hex[WASM_DIGEST_HEX_LEN + 1];
		wasm_digest_hex(wasm, len, hex);
		(void)wasm_cache_spawn_build(g->self, spec.cache_dir, hex, NULL);
	}
	if (mode != MODE_RUN) {
		wasm_cgroup_release(&cg);
		return 0;
	}
	/* foreground run: the container's life, then its removal */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	(void)oci_state_load(g, a->id, &st, NULL);
	(void)oci_destroy(g, &st);
	oci_state_release(&st);
	wasm_cgroup_release(&cg);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);

fail_nochild:
	safe_close(p[0]);
	safe_close(p[1]);
fail:
	(void)wasm_cgroup_remove(&cg);
	wasm_cgroup_release(&cg);
	rm_rf(dir);
	return oci_fail("%s", msg);
}

int oci_verb_create(const struct wasm_oci_globals *g, int argc, char **argv) {
	struct create_args a;

	if (parse_create(argc, argv, false, &a) != 0)
		return 1;
	return do_create(g, &a, MODE_CREATE);
}

int oci_verb_run(const struct wasm_oci_globals *g, int argc, char **argv) {
	struct create_args a;

	if (parse_create(argc, argv, true, &a) != 0)
		return 1;
	return do_create(g, &a, a.detach ? MODE_RUN_DETACH : MODE_RUN);
}

bool wasm_oci_is_run(int argc, char **argv) {
	for (int i = 1; i < argc && argv[i][0] == '-'; i++)
		if (streq(argv[i], "--detach") || streq(argv[i], "-d") || strneq(argv[i], "--bundle", 8) ||
		    streq(argv[i], "-b") || strneq(argv[i], "--pid-file", 10) ||
		    strneq(argv[i], "--console-socket", 16))
			return true;
	return false;
}

/* --- start ----------------------------------------------------------------------------- */

int oci_verb_start(const struct wasm_oci_globals *g, int argc, char **argv) {
	_cleanup_(oci_state_release) struct oci_state st = {};
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *dir = NULL, *fifo = NULL;
	_cleanup_close_ int fd = -1;
	char byte;

	if (argc != 2)
		return oci_fail("start needs exactly one container id");
	if (oci_state_load(g, argv[1], &st, &err) < 0)
		return oci_fail_err(err);
	switch (oci_state_status(g, &st)) {
	case OCI_RUNNING:
		return oci_fail("cannot start an already running container");
	case OCI_STOPPED:
		return oci_fail("cannot start a container that has stopped");
	default:
		break;
	}
	dir = oci_dir(g, argv[1]);
	fifo = xasprintf("%s/" FILE_FIFO, dir);
	fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return oci_fail("cannot open '%s': %s", fifo, strerror(errno));
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int n = poll(&pf, 1, 100);
		ssize_t k;

		if (n < 0 && errno != EINTR)
			return oci_fail("cannot wait on '%s': %s", fifo, strerror(errno));
		if (n > 0 && (k = read(fd, &byte, 1)) == 1)
			break;
		if (n > 0 && (pf.revents & POLLHUP))
			return oci_fail("container %s was started by someone else", argv[1]);
		if (!oci_alive(&st))
			return oci_fail("container process is already dead");
	}
	(void)unlink(fifo);
	return 0;
}
