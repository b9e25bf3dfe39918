/* SPDX-License-Identifier: Apache-2.0 */
/* OCI runtime lifecycle: create (overlay rootfs, network, bundle, shim),
 * start, stop, kill, remove, state, wait. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/spawn.h"
#include "basic/strbuf.h"
#include "image/digest.h"
#include "image/layers.h"
#include "image/manifest.h"
#include "image/overlay.h"
#include "image/unpack.h"
#include "runtime/bundle.h"
#include "runtime/cgroup-host.h"
#include "runtime/netns.h"
#include "runtime/oci-internal.h"
#include "shim/shim-protocol.h"
#include "basic/banned.h"

#define RUNC_ERROR_MAX 4096
/* How long state() waits for the exit record of a dead init (the shim
 * drains the output first, SHIM_DRAIN_TIMEOUT_MS at most). */
#define EXIT_RECORD_WAIT_NS (2 * SHIM_DRAIN_TIMEOUT_MS * 1000000LL)
/* How long the start of a shim a crash left is waited for at the next start. */
#define START_CLAIM_WAIT_NS (10 * 1000000000LL)

static const char *const container_state_table[_CONTAINER_STATE_MAX] = {
	[CONTAINER_PENDING] = "pending",   [CONTAINER_INITIALIZING] = "created", [CONTAINER_RUNNING] = "running",
	[CONTAINER_STOPPING] = "stopping", [CONTAINER_EXITED] = "exited",        [CONTAINER_FAILED] = "failed",
};

const char *container_state_to_string(enum container_state s) {
	return s >= 0 && s < _CONTAINER_STATE_MAX ? container_state_table[s] : NULL;
}

enum container_state container_state_from_string(const char *s) {
	for (int i = 0; s && i < _CONTAINER_STATE_MAX; i++)
		if (streq(container_state_table[i], s))
			return (enum container_state)i;
	return _CONTAINER_STATE_INVALID;
}

static const char *const exit_reason_table[_EXIT_REASON_MAX] = {
	[EXIT_REASON_EXITED] = "exited",         [EXIT_REASON_SIGNAL] = "signal",
	[EXIT_REASON_OOM_KILLED] = "oom_killed", [EXIT_REASON_RUNTIME_ERROR] = "runtime_error",
	[EXIT_REASON_TIMEOUT] = "timeout",
};

const char *exit_reason_to_string(enum exit_reason r) {
	return r >= 0 && r < _EXIT_REASON_MAX ? exit_reason_table[r] : NULL;
}

void container_status_release(struct container_status *s) {
	free(s->id);
	free(s->image);
	free(s->image_digest);
	free(s->ip);
	free(s->reason);
	*s = (struct container_status){};
}

void exec_result_release(struct exec_result *r) {
	free(r->out);
	free(r->err);
	*r = (struct exec_result){};
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *oci_container_dir(const struct oci *o, const char *id) {
	return xasprintf("%s/containers/%s", o->root_dir, id);
}

char *oci_run_dir(const struct oci *o, const char *id) {
	return xasprintf("%s/containers/%s", o->runtime_dir, id);
}

bool oci_pid_alive(pid_t pid) {
	char path[64];
	_cleanup_free_ char *stat = NULL;
	size_t len;
	const char *p;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_full_file(path, 4096, &stat, &len) < 0)
		return false;
	/* A zombie has exited. */
	p = strrchr(stat, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static bool valid_id(const char *id) {
	size_t n = strlen(id);

	if (n == 0 || n > 128 || !isalnum((unsigned char)id[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)id[i]) || id[i] == '_' || id[i] == '.' || id[i] == '-'))
			return false;
	return true;
}

/* --- container.json -------------------------------------------------------- */

void oci_record_release(struct oci_record *r) {
	free(r->id);
	free(r->image);
	free(r->image_digest);
	free(r->ip);
	free(r->netns);
	strv_free(r->args);
	*r = (struct oci_record){};
}

/* Records are atomic replacements without fsync: they matter while the
 * machine is up (a crash or kill -9 of the agent keeps the page cache),
 * and after a power loss every container is gone anyway: what a lost
 * record leaves (its directories) is swept at the next start. */
int oci_record_save(const struct oci *o, const struct oci_record *r, struct za_error **reterr) {
	_cleanup_free_ char *dir = oci_container_dir(o, r->id), *path = NULL, *text = NULL;
	json_t *j, *args = json_array();
	int e;

	STRV_FOREACH (a, r->args)
		json_array_append_new(args, json_string(*a));
	j = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:i, s:I, s:b, s:b, s:b, s:b, s:i, s:i, s:I, s:I, s:I, s:o}",
	              "id", r->id, "image", r->image, "image_digest", r->image_digest, "ip", r->ip, "netns", r->netns,
	              "network_mode", spec_network_mode_to_string(r->network_mode), "stop_signal", r->stop_signal,
	              "stop_grace_ns", (json_int_t)r->stop_grace_nsec, "auto_remove", r->auto_remove, "tty", r->tty,
	              "started", r->started, "removing", r->removing, "shim_pid", (int)r->shim_pid, "init_pid",
	              (int)r->init_pid, "created_ns", (json_int_t)r->created_ns, "started_ns",
	              (json_int_t)r->started_ns, "log_max_size", (json_int_t)r->log_max_size, "args", args);
	if (r->wasm)
		json_object_set_new(j, "kind", json_string("wasm"));
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	path = xasprintf("%s/container.json", dir);
	e = write_file_replace(path, text, strlen(text), 0600);
	if (e < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, e, "cannot save state of container '%s': %m", r->id);
	return 0;
}

static char *jdup(json_t *o, const char *k) {
	const char *s = json_string_value(json_object_get(o, k));
	return s ? xstrdup(s) : NULL;
}

int oci_record_load(const struct oci *o, const char *id, struct oci_record *ret, struct za_error **reterr) {
	_cleanup_free_ char *path = NULL, *buf = NULL, *dir = NULL;
	struct oci_record r = {};
	json_t *j, *v;
	size_t len, i;
	int e;

	if (!valid_id(id))
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such container '%s'", id);
	dir = oci_container_dir(o, id);
	path = xasprintf("%s/container.json", dir);
	e = read_full_file(path, 1 << 20, &buf, &len);
	if (e == -ENOENT)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such container '%s'", id);
	if (e < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, e, "cannot read state of container '%s': %m", id);
	j = json_loadb(buf, len, 0, NULL);
	if (!j)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EBADMSG, "state of container '%s' is damaged", id);
	r.id = xstrdup(id);
	r.image = jdup(j, "image");
	r.image_digest = jdup(j, "image_digest");
	r.ip = jdup(j, "ip");
	r.netns = jdup(j, "netns");
	r.network_mode = spec_network_mode_from_string(json_string_value(json_object_get(j, "network_mode")));
	if ((int)r.network_mode < 0)
		r.network_mode = SPEC_NETWORK_BRIDGE;
	r.stop_signal = (int)json_integer_value(json_object_get(j, "stop_signal"));
	r.stop_grace_nsec = (uint64_t)json_integer_value(json_object_get(j, "stop_grace_ns"));
	r.auto_remove = json_is_true(json_object_get(j, "auto_remove"));
	r.tty = json_is_true(json_object_get(j, "tty"));
	r.started = json_is_true(json_object_get(j, "started"));
	r.removing = json_is_true(json_object_get(j, "removing"));
	r.shim_pid = (pid_t)json_integer_value(json_object_get(j, "shim_pid"));
	r.init_pid = (pid_t)json_integer_value(json_object_get(j, "init_pid"));
	r.created_ns = json_integer_value(json_object_get(j, "created_ns"));
	r.started_ns = json_integer_value(json_object_get(j, "started_ns"));
	r.log_max_size = (uint64_t)json_integer_value(json_object_get(j, "log_max_size"));
	r.wasm = streq(strempty(json_string_value(json_object_get(j, "kind"))), "wasm");
	json_array_foreach(json_object_get(j, "args"), i, v) if (json_is_string(v))
	        strv_push(&r.args, json_string_value(v));
	json_decref(j);
	*ret = r;
	return 0;
}

/* zlayer-wasm's outcome record (RUNTIME/wasm/ID/outcome.json), if a trap or
 * the time limit ended the module: the reason and a text for status. */
static int wasm_outcome(const struct oci *o, const char *id, enum exit_reason *ret_reason, char **ret_text) {
	_cleanup_free_ char *path = xasprintf("%s/%s/outcome.json", o->wasm_root, id), *buf = NULL;
	const char *reason, *trap;
	size_t len;
	json_t *j;
	int r;

	r = read_full_file(path, 4096, &buf, &len);
	if (r < 0)
		return r;
	j = json_loadb(buf, len, 0, NULL);
	reason = json_string_value(json_object_get(j, "reason"));
	trap = json_string_value(json_object_get(j, "trap"));
	if (reason && streq(reason, "timeout")) {
		*ret_reason = EXIT_REASON_TIMEOUT;
		if (ret_text)
			*ret_text = xstrdup("timeout: the module ran longer than its time limit");
	} else {
		*ret_reason = EXIT_REASON_RUNTIME_ERROR;
		if (ret_text)
			*ret_text = xasprintf("trap: %s", trap ? trap : "unknown");
	}
	json_decref(j);
	return 0;
}

int oci_read_exit(const struct oci *o, const char *id, struct wait_outcome *ret) {
	_cleanup_free_ char *rdir = oci_run_dir(o, id), *path = NULL, *buf = NULL;
	json_t *j;
	size_t len;
	int e;

	path = xasprintf("%s/state/%s", rdir, SHIM_FILE_EXIT);
	e = read_full_file(path, 1 << 16, &buf, &len);
	if (e < 0)
		return e;
	j = json_loadb(buf, len, 0, NULL);
	if (!j)
		return -EBADMSG;
	*ret = (struct wait_outcome){
		.exit_code = (int)json_integer_value(json_object_get(j, SHIM_EXIT_CODE)),
		.signal = (int)json_integer_value(json_object_get(j, SHIM_EXIT_SIGNAL)),
		.finished_ns = json_integer_value(json_object_get(j, SHIM_EXIT_FINISHED_NS)),
	};
	if (json_is_true(json_object_get(j, SHIM_EXIT_OOM)))
		ret->reason = EXIT_REASON_OOM_KILLED;
	else if (ret->signal > 0)
		ret->reason = EXIT_REASON_SIGNAL;
	else
		ret->reason = EXIT_REASON_EXITED;
	json_decref(j);
	(void)wasm_outcome(o, id, &ret->reason, NULL);
	return 0;
}

/* --- running the runtime binary ------------------------------------------- */

const char *oci_runtime_path_of(const struct oci *o, const struct oci_record *rec) {
	return rec && rec->wasm ? o->wasm_path : o->runtime_path;
}

const char *oci_runtime_root_of(const struct oci *o, const struct oci_record *rec) {
	return rec && rec->wasm ? o->wasm_root : o->runtime_root;
}

int oci_runc(const struct oci *o, const struct oci_record *rec, const char *what, const char *id, char *const *args,
             struct za_error **reterr) {
	const char *path = oci_runtime_path_of(o, rec);
	_cleanup_strv_free_ char **argv = NULL;
	_cleanup_close_ int errfd = memfd_create("runc-stderr", MFD_CLOEXEC);
	struct za_spawn_opts so = ZA_SPAWN_OPTS_INIT;
	_cleanup_free_ char *out = NULL;
	int status, r;

	strv_push(&argv, path);
	strv_push(&argv, "--root");
	strv_push(&argv, oci_runtime_root_of(o, rec));
	STRV_FOREACH (a, (char **)args)
		strv_push(&argv, *a);
	so.stderr_fd = errfd;
	r = za_run_capture(argv, &so, 4096, &out, &status);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot run '%s': %m", path);
	if (status != 0) {
		_cleanup_free_ char *msg = NULL;
		size_t len = 0;
		char *nl;

		(void)lseek(errfd, 0, SEEK_SET);
		if (read_full_fd(errfd, RUNC_ERROR_MAX, &msg, &len) < 0 || len == 0) {
			free(msg);
			msg = xasprintf("exit status %d", status);
		}
		while ((nl = strchr(msg, '\n')) && nl[1])
			*nl = ' ';
		if ((nl = strchr(msg, '\n')))
			*nl = '\0';
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EIO, "%s of container '%s' failed: %s: %s", what, id,
		                     strrchr(path, '/') ? strrchr(path, '/') + 1 : path, msg);
	}
	return 0;
}

json_t *oci_runtime_describe(struct runtime *rt) {
	struct oci *o = rt->data;
	struct statfs fs;
	struct stat st;
	const char *cg = statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC ? "v2"
	                 : stat("/sys/fs/cgroup/unified", &st) == 0                             ? "hybrid"
	                                                                                        : "v1";

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "runtime", o->runtime_path, "runtime_root", o->runtime_root,
	                 "shim", o->shim_path, "wasm_runtime", o->wasm_path, "wasm_cache_dir", o->wasm_cache_dir,
	                 "cgroups", cg);
}

const char *oci_detect_runtime(char **ret_reason) {
	struct statfs fs;
	struct stat st;
	bool have_crun = access("/usr/bin/crun", X_OK) == 0;

	if (!have_crun) {
		if (ret_reason)
			*ret_reason = xstrdup("crun is not installed");
		return "runc";
	}
	/* crun refuses hybrid layouts (v1 controllers + cgroup2 at unified). */
	if (statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
		return "crun";
	if (stat("/sys/fs/cgroup/unified", &st) == 0) {
		if (ret_reason)
			*ret_reason = xstrdup("the host has a hybrid cgroup layout, which crun refuses");
		return "runc";
	}
	return "crun";
}

/* --- create ------------------------------------------------------------------ */

struct create_undo {
	char *cdir, *rdir, *rootfs, *netns;
	bool mounted, attached;
};

static void create_undo(struct oci *o, const char *id, struct create_undo *u) {
	if (u->attached)
		(void)network_detach(&o->net, id, u->netns, NULL);
	if (u->netns)
		(void)netns_remove(u->netns);
	if (u->mounted)
		(void)overlay_umount(u->rootfs, NULL);
	if (u->rdir)
		rm_rf(u->rdir);
	if (u->cdir)
		rm_rf(u->cdir);
}

/* The image's manifest and config from the content store; lowers topmost first. */
static int image_layers(struct oci *o, const char *digest, struct oci_image_config *ret_config, char ***ret_lowers,
                        struct za_error **reterr) {
	_cleanup_free_ char *mbuf = NULL, *cbuf = NULL;
	struct oci_manifest m = {};
	struct oci_image_config c = {};
	_cleanup_free_ char **chains = NULL;
	char **lowers = NULL;
	size_t mlen, clen;
	int r;

	if (!digest)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL, "no image digest given");
	r = content_read(o->content, digest, MANIFEST_MAX_SIZE, &mbuf, &mlen, reterr);
	if (r >= 0)
		r = oci_manifest_parse(mbuf, mlen, &m, reterr);
	if (r >= 0)
		r = content_read(o->content, m.config.digest, IMAGE_CONFIG_MAX_SIZE, &cbuf, &clen, reterr);
	if (r >= 0)
		r = oci_image_config_parse(cbuf, clen, &c, reterr);
	oci_manifest_release(&m);
	if (r < 0)
		return r;
	chains = xnew(char *, c.n_diff_ids + 1);
	for (size_t i = 0; i < c.n_diff_ids; i++)
		chains[i] = digest_chain_id(i ? chains[i - 1] : NULL, c.diff_ids[i]);
	for (size_t i = c.n_diff_ids; i > 0; i--) {
		_cleanup_free_ char *p = snapshot_path(o->root_dir, chains[i - 1]);
		struct stat st;

		if (stat(p, &st) < 0) {
			r = za_error_make(reterr, ZA_ERROR_CREATE_FAILED, ENOENT,
			                  "layer snapshot '%s' of image '%s' is missing; pull the image again",
			                  chains[i - 1], digest);
			break;
		}
		strv_push(&lowers, p);
	}
	for (size_t i = 0; i < c.n_diff_ids; i++)
		free(chains[i]);
	if (r < 0) {
		strv_free(lowers);
		oci_image_config_release(&c);
		return r;
	}
	if (!lowers) {
		/* An image without layers: one empty lower. */
		_cleanup_free_ char *empty = xasprintf("%s/snapshots/empty", o->root_dir);
		(void)mkdir_p(empty, 0755);
		strv_push(&lowers, empty);
	}
	*ret_config = c;
	*ret_lowers = lowers;
	return 0;
}

/* Start the shim and read its one-line report. */
static int spawn_shim(struct oci *o, const struct oci_record *rec, pid_t *ret_shim, pid_t *ret_init,
                      struct za_error **reterr) {
	_cleanup_free_ char *cdir = oci_container_dir(o, rec->id), *rdir = oci_run_dir(o, rec->id);
	_cleanup_free_ char *bundle = xasprintf("%s/bundle", rdir), *state = xasprintf("%s/state", rdir);
	_cleanup_free_ char *log = xasprintf("%s/container.log", cdir), *maxs = NULL, *line = NULL;
	_cleanup_strv_free_ char **argv = NULL;
	struct za_spawn_opts so = ZA_SPAWN_OPTS_INIT;
	_cleanup_close_ int rd = -1, wr = -1, nullfd = -1;
	int p[2], status, r;
	pid_t pid;
	size_t len;

	maxs = xasprintf("%" PRIu64, rec->log_max_size ? rec->log_max_size : (UINT64_C(100) << 20));
	char *args[] = { o->shim_path,
		         "--start",
		         "--id",
		         rec->id,
		         "--bundle",
		         bundle,
		         "--state-dir",
		         state,
		         "--runtime",
		         (char *)oci_runtime_path_of(o, rec),
		         "--runtime-root",
		         (char *)oci_runtime_root_of(o, rec),
		         "--log-file",
		         log,
		         "--log-max-size",
		         maxs,
		         rec->tty ? "--tty" : NULL,
		         NULL };
	argv = strv_copy(args);
	if (pipe2(p, O_CLOEXEC) < 0)
		return za_error_make(reterr, ZA_ERROR_START_FAILED, errno, "cannot create a pipe: %m");
	rd = p[0];
	wr = p[1];
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	so.stdin_fd = nullfd;
	so.stdout_fd = wr;
	so.stderr_fd = wr;
	r = za_spawn(argv, &so, &pid);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_START_FAILED, r, "cannot start the shim '%s': %m", o->shim_path);
	wr = safe_close(wr);
	(void)za_wait(pid, &status); /* the shim's first process exits once it has detached */
	r = read_full_fd(rd, SHIM_REPORT_MAX, &line, &len);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_START_FAILED, r, "cannot read the shim's report: %m");
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (strneq(line, SHIM_REPORT_OK " ", strlen(SHIM_REPORT_OK) + 1)) {
		int shim_pid = 0, init_pid = 0;
		if (sscanf(line + strlen(SHIM_REPORT_OK) + 1, "%d %d", &shim_pid, &init_pid) == 2 && init_pid > 0) {
			*ret_shim = shim_pid;
			*ret_init = init_pid;
			return 0;
		}
	}
	if (strneq(line, SHIM_REPORT_ERROR " ", strlen(SHIM_REPORT_ERROR) + 1))
		return za_error_make(reterr, ZA_ERROR_START_FAILED, EIO, "%s", line + strlen(SHIM_REPORT_ERROR) + 1);
	return za_error_make(reterr, ZA_ERROR_START_FAILED, EPROTO, "the shim reported '%s' (exit status %d)",
	                     len ? line : "nothing", status);
}

static int write_wasm_bundle(struct oci *o, const struct container_config *cfg, const char *bundle, const char *rootfs,
                             const char *module, const char *argv0, char *const *args, struct za_error **reterr) {
	_cleanup_free_ char *volumes = xasprintf("%s/volumes", o->root_dir), *cg = xasprintf("/zlayer/%s", cfg->id);
	struct bundle_wasm_options wo = { .bundle_dir = bundle,
		                          .rootfs = rootfs,
		                          .cfg = cfg,
		                          .module_path = module,
		                          .argv0 = argv0,
		                          .args = args,
		                          .cgroups_path = cg,
		                          .volumes_dir = volumes,
		                          .cache_dir = o->wasm_cache_dir,
		                          .max_memory = cfg->wasm_max_memory,
		                          .timeout_nsec = cfg->wasm_timeout_nsec };
	struct stat st;

	if (stat(module, &st) < 0 || !S_ISREG(st.st_mode))
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, errno ? errno : EISDIR,
		                     "WebAssembly module '%s' is not a readable file", module);
	return bundle_write_wasm(&wo, reterr);
}

static bool ends_with_wasm(const char *s) {
	size_t n = s ? strlen(s) : 0;
	return n > 5 && streq(s + n - 5, ".wasm");
}

/* An image of a WebAssembly module: its config says os wasi (wasip1) or
 * arch wasm32 (wasm), or its entrypoint is a .wasm file. The module is the
 * entrypoint in the rootfs, else the module.wasm a module layer made. */
static int image_wasm_module(const struct oci_image_config *image, const struct container_config *cfg,
                             const char *rootfs, char **ret_module, char ***ret_argv, struct za_error **reterr) {
	_cleanup_strv_free_ char **argv = NULL;
	bool wasm_image =
	        (image->os && (streq(image->os, "wasi") || streq(image->os, "wasip1"))) ||
	        (image->architecture && (streq(image->architecture, "wasm32") || streq(image->architecture, "wasm")));
	int r;

	r = bundle_resolve_args(image, cfg, &argv, NULL);
	if (r >= 0 && ends_with_wasm(argv[0]))
		wasm_image = true;
	if (!wasm_image)
		return 0;
	if (r >= 0 && ends_with_wasm(argv[0]))
		*ret_module = xasprintf("%s/%s", rootfs, argv[0][0] == '/' ? argv[0] + 1 : argv[0]);
	else {
		/* no .wasm entrypoint: the module layer's file, the args as given */
		strv_free(argv);
		argv = NULL;
		strv_push(&argv, LAYER_MODULE_FILE_NAME);
		STRV_FOREACH (a, r >= 0 && cfg->args ? cfg->args : NULL)
			strv_push(&argv, *a);
		*ret_module = xasprintf("%s/%s", rootfs, LAYER_MODULE_FILE_NAME);
	}
	if (access(*ret_module, R_OK) < 0) {
		r = za_error_make(reterr, ZA_ERROR_CREATE_FAILED, errno,
		                  "the image is a WebAssembly image but has no module at '%s'", *ret_module);
		free(*ret_module);
		*ret_module = NULL;
		return r;
	}
	*ret_argv = TAKE_PTR(argv);
	return 1;
}

static int oci_create(struct runtime *rt, const struct container_config *cfg, struct za_error **reterr) {
	struct oci *o = rt->data;
	struct create_undo u = {};
	_cleanup_strv_free_ char **lowers = NULL;
	_cleanup_free_ char *upper = NULL, *work = NULL, *bundle = NULL, *state = NULL;
	struct oci_image_config image = {};
	struct oci_record rec = {};
	struct network_attachment att = {};
	_cleanup_free_ char *module = NULL;
	_cleanup_strv_free_ char **wasm_argv = NULL;
	bool wasm;
	int r;

	if (!cfg->id || !valid_id(cfg->id))
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
		                     "invalid container name '%s' (expected [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128)",
		                     strna(cfg->id));
	u.cdir = oci_container_dir(o, cfg->id);
	{
		_cleanup_free_ char *parent = xasprintf("%s/containers", o->root_dir);
		(void)mkdir_p(parent, 0700);
	}
	if (mkdir(u.cdir, 0700) < 0) {
		r = errno;
		free(u.cdir);
		if (r == EEXIST)
			return za_error_make(
			        reterr, ZA_ERROR_CONFIGURATION, EEXIST,
			        "container name '%s' is already in use; remove that container or pick another name",
			        cfg->id);
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot create the container directory: %m");
	}
	u.rdir = oci_run_dir(o, cfg->id);
	u.rootfs = xasprintf("%s/rootfs", u.rdir);
	state = xasprintf("%s/state", u.rdir);
	upper = xasprintf("%s/upper", u.cdir);
	work = xasprintf("%s/work", u.cdir);
	bundle = xasprintf("%s/bundle", u.rdir);

	/* A file: module has no image: an empty root, the module as is. */
	wasm = cfg->wasm_module != NULL;
	r = wasm ? 0 : image_layers(o, cfg->image_digest, &image, &lowers, reterr);
	if (r >= 0 && ((r = mkdir_p(u.rootfs, 0755)) < 0 || (r = mkdir_p(state, 0700)) < 0 ||
	               (r = mkdir_p(upper, 0755)) < 0 || (r = mkdir_p(work, 0700)) < 0))
		za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot create the container's directories: %m");
	if (r >= 0 && !wasm && (r = overlay_mount(lowers, upper, work, u.rootfs, reterr)) >= 0)
		u.mounted = true;
	if (r >= 0)
		crashpoint("create.mounted");
	if (r >= 0 && !wasm) {
		r = image_wasm_module(&image, cfg, u.rootfs, &module, &wasm_argv, reterr);
		wasm = r > 0;
	}
	if (r >= 0 && wasm)
		r = write_wasm_bundle(o, cfg, bundle, u.rootfs, module ? module : cfg->wasm_module,
		                      wasm_argv ? wasm_argv[0] : NULL, wasm_argv ? wasm_argv + 1 : cfg->args, reterr);
	/* bridge: our own named netns wired by CNI; none: runc makes an empty
	 * one (lo up); host: no namespace. WebAssembly: sockets only through
	 * preopens, no network. */
	if (r >= 0 && !wasm && cfg->network_mode == SPEC_NETWORK_BRIDGE) {
		_cleanup_free_ char *nsdir = xasprintf("%s/netns", o->runtime_dir);
		_cleanup_free_ char *stale = xasprintf("%s/%s", nsdir, cfg->id);
		/* A namespace of this name is what a crash left of an earlier
		 * container (the name is ours: we made its directory); the sweep
		 * at start may not have come to it yet. */
		if (netns_is_mounted(stale) > 0) {
			log_debug("container %s: releasing the network a crash left", cfg->id);
			(void)network_detach(&o->net, cfg->id, stale, NULL);
			(void)netns_remove(stale);
		}
		r = netns_create(nsdir, cfg->id, &u.netns, reterr);
		if (r >= 0)
			crashpoint("create.netns");
	}
	if (r >= 0 && !wasm && cfg->network_mode == SPEC_NETWORK_BRIDGE) {
		_cleanup_free_ struct network_port_mapping *ports = xnew(struct network_port_mapping, cfg->n_ports + 1);
		for (size_t i = 0; i < cfg->n_ports; i++)
			ports[i] = (struct network_port_mapping){ .host_port = cfg->ports[i].host_port,
				                                  .container_port = cfg->ports[i].container_port,
				                                  .protocol = cfg->ports[i].protocol
				                                                      ? cfg->ports[i].protocol
				                                                      : "tcp",
				                                  .host_ip = cfg->ports[i].host_ip };
		r = network_attach(&o->net, cfg->id, u.netns, ports, cfg->n_ports, &att, reterr);
		if (r >= 0) {
			u.attached = true;
			crashpoint("create.attached");
		}
	}
	if (r >= 0 && !wasm) {
		_cleanup_free_ char *volumes = xasprintf("%s/volumes", o->root_dir);
		struct bundle_options bo = { .bundle_dir = bundle,
			                     .rootfs = u.rootfs,
			                     .image = &image,
			                     .cfg = cfg,
			                     .netns_path = u.netns,
			                     .cgroup_parent = "zlayer",
			                     .volumes_dir = volumes,
			                     .ip_address = att.ip };
		r = bundle_write(&bo, reterr);
	}
	if (r >= 0) {
		rec.id = xstrdup(cfg->id);
		rec.image = cfg->image ? xstrdup(cfg->image) : NULL;
		rec.image_digest = cfg->image_digest ? xstrdup(cfg->image_digest) : NULL;
		rec.wasm = wasm;
		if (wasm)
			rec.network_mode = SPEC_NETWORK_NONE;
		rec.ip = att.ip ? xstrdup(att.ip) : NULL;
		rec.netns = u.netns ? xstrdup(u.netns) : NULL;
		if (!wasm)
			rec.network_mode = cfg->network_mode;
		rec.stop_signal = cfg->stop_signal;
		rec.stop_grace_nsec = cfg->stop_grace_nsec;
		rec.auto_remove = cfg->auto_remove;
		rec.tty = cfg->tty;
		rec.log_max_size = cfg->log_max_size;
		rec.created_ns = now_ns();
		if (cfg->wasm_module || wasm_argv) {
			strv_push(&rec.args, module ? module : cfg->wasm_module);
			STRV_FOREACH (a, wasm_argv ? wasm_argv + 1 : cfg->args)
				strv_push(&rec.args, *a);
		} else
			(void)bundle_resolve_args(&image, cfg, &rec.args, NULL);
		/* The runtime's own create waits for start (as with docker, where
		 * containerd makes the task at start): `runc run --detach` then
		 * creates and starts in one call. */
		crashpoint("create.bundle");
		r = oci_record_save(o, &rec, reterr);
	}
	if (r < 0) {
		create_undo(o, cfg->id, &u);
		if (reterr && *reterr && (*reterr)->kind == ZA_ERROR_INTERNAL)
			(*reterr)->kind = ZA_ERROR_CREATE_FAILED;
		za_error_wrap(reterr, "create container '%s'", cfg->id);
	} else {
		log_debug("created container %s", cfg->id);
		crashpoint("create.saved");
	}
	network_attachment_release(&att);
	oci_record_release(&rec);
	oci_image_config_release(&image);
	free(u.cdir);
	free(u.rdir);
	free(u.rootfs);
	free(u.netns);
	return r;
}

/* --- lifecycle ----------------------------------------------------------------- */

static int runtime_delete_stopped(struct oci *o, const struct oci_record *rec, const char *id);
static void shim_collect(struct oci *o, const char *id);
static int wait_pid_exit(pid_t pid, uint64_t timeout_nsec);

/* Before a container that ran starts again: its exit recorded, its
 * runtime state and its shim gone. The rootfs, network namespace, address
 * and log stay: a restart in place, as Docker's restart policies do. */
static int clear_previous_run(struct oci *o, const struct oci_record *rec, const char *id, struct za_error **reterr) {
	char *args[] = { "delete", "--force", (char *)id, NULL };
	struct wait_outcome w;
	int r;

	if (rec->shim_pid > 0 && oci_pid_alive(rec->shim_pid))
		(void)oci_monitor_wait(o->monitor, id, EXIT_RECORD_WAIT_NS, &w);
	r = runtime_delete_stopped(o, rec, id);
	if (r < 0 && r != -ENOENT && oci_runc(o, rec, "delete", id, args, reterr) < 0)
		return -EIO;
	shim_collect(o, id);
	if (rec->shim_pid > 0)
		(void)wait_pid_exit(rec->shim_pid, 2 * NSEC_PER_SEC);
	return 0;
}

static int oci_start(struct runtime *rt, const char *id, struct za_error **reterr) {
	struct oci *o = rt->data;
	struct oci_record rec = {};
	bool again = false;
	int r;

	/* Claim the start (saved as started, no init yet) so two starts never
	 * run two shims for one container. */
	pthread_mutex_lock(&o->lock);
	r = oci_record_load(o, id, &rec, reterr);
	if (r >= 0 && rec.removing)
		r = za_error_make(reterr, ZA_ERROR_START_FAILED, ESHUTDOWN, "container '%s' is being removed", id);
	else if (r >= 0 && rec.started && rec.init_pid <= 0)
		r = za_error_make(reterr, ZA_ERROR_START_FAILED, EALREADY, "container '%s' is being started", id);
	else if (r >= 0 && rec.started && oci_pid_alive(rec.init_pid))
		r = za_error_make(reterr, ZA_ERROR_START_FAILED, EALREADY, "container '%s' is already running", id);
	else if (r >= 0) {
		again = rec.started;
		if (again) {
			struct oci_record prev = rec;
			/* the previous run's pids are needed to clear it up */
			pthread_mutex_unlock(&o->lock);
			r = clear_previous_run(o, &prev, id, reterr);
			pthread_mutex_lock(&o->lock);
		}
		rec.started = true;
		rec.init_pid = rec.shim_pid = 0;
		if (r >= 0)
			r = oci_record_save(o, &rec, reterr);
	}
	pthread_mutex_unlock(&o->lock);
	if (r < 0) {
		oci_record_release(&rec);
		return r;
	}
	crashpoint("start.claimed");
	/* The shim runs `runc run --detach`: running once it reports. */
	r = spawn_shim(o, &rec, &rec.shim_pid, &rec.init_pid, reterr);
	if (r >= 0) {
		crashpoint("start.spawned");
		rec.started_ns = now_ns();
		r = oci_record_save(o, &rec, reterr);
		oci_monitor_watch(o->monitor, id, rec.shim_pid, rec.init_pid);
		log_debug("%s container %s (init pid %d, shim pid %d)", again ? "restarted" : "started", id,
		          (int)rec.init_pid, (int)rec.shim_pid);
	} else {
		rec.started = again; /* an exited container stays exited */
		(void)oci_record_save(o, &rec, NULL);
		za_error_wrap(reterr, "start container '%s'", id);
	}
	oci_record_release(&rec);
	return r;
}

/* Wait for pid to exit, at most timeout (UINT64_MAX: forever). 1: exited. */
static int wait_pid_exit(pid_t pid, uint64_t timeout_nsec) {
	_cleanup_close_ int pfd = -1;
	int64_t deadline = timeout_nsec == UINT64_MAX ? INT64_MAX : now_ns() + (int64_t)timeout_nsec;

	if (!oci_pid_alive(pid))
		return 1;
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		int64_t left = deadline - now_ns();
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		int ms = left > 200 * 1000000LL ? 200 : (int)MAX(left / 1000000, 0);

		if (!oci_pid_alive(pid))
			return 1;
		if (left <= 0)
			return 0;
		if (pfd >= 0)
			(void)poll(&p, 1, ms);
		else
			nanosleep(&(struct timespec){ .tv_nsec = (long)ms * 1000000 }, NULL);
	}
}

static int oci_kill(struct runtime *rt, const char *id, int sig, struct za_error **reterr) {
	struct oci *o = rt->data;
	struct oci_record rec = {};
	_cleanup_free_ char *signame = xasprintf("%d", sig);
	char *args[] = { "kill", (char *)id, signame, NULL };
	int r;

	r = oci_record_load(o, id, &rec, reterr);
	if (r < 0)
		return r;
	if (!oci_pid_alive(rec.init_pid)) {
		oci_record_release(&rec);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ESRCH, "container '%s' is not running", id);
	}
	r = oci_runc(o, &rec, "kill", id, args, reterr);
	oci_record_release(&rec);
	return r;
}

static int oci_stop(struct runtime *rt, const char *id, uint64_t timeout_nsec, struct za_error **reterr) {
	struct oci *o = rt->data;
	struct oci_record rec = {};
	int r, sig;

	r = oci_record_load(o, id, &rec, reterr);
	if (r < 0)
		return r;
	if (!oci_pid_alive(rec.init_pid)) {
		oci_record_release(&rec);
		return 0; /* stopping a stopped container is fine, as with docker */
	}
	sig = rec.stop_signal > 0 ? rec.stop_signal : SIGTERM;
	if (timeout_nsec == 0)
		timeout_nsec = rec.stop_grace_nsec ? rec.stop_grace_nsec : 10 * NSEC_PER_SEC;
	if (rec.started) {
		_cleanup_free_ char *s = xasprintf("%d", sig);
		char *args[] = { "kill", (char *)id, s, NULL };
		(void)oci_runc(o, &rec, "stop", id, args, NULL);
	}
	if (!rec.started || wait_pid_exit(rec.init_pid, timeout_nsec) == 0) {
		char *args[] = { "kill", (char *)id, "9", NULL };
		log_debug("container %s did not stop within the grace period; sending SIGKILL", id);
		if (oci_runc(o, &rec, "kill", id, args, NULL) < 0)
			(void)kill(rec.init_pid, SIGKILL);
		(void)wait_pid_exit(rec.init_pid, 10 * NSEC_PER_SEC);
	}
	oci_record_release(&rec);
	return 0;
}

/* `runc delete` of a stopped container without starting runc (a Go program
 * takes ~15 ms to start, more than the rest of a removal): for a stopped
 * container without poststop hooks runc removes its cgroups and its state
 * dir, and so does this (zlayer-wasm's state is laid out the same way). Anything else (crun, hooks, a cgroup still
 * busy, a state file not understood) is left to the runtime: -EOPNOTSUPP/-EBUSY. -ENOENT: the runtime never had it
 * (created, never started). */
static int runtime_delete_stopped(struct oci *o, const struct oci_record *rec, const char *id) {
	const char *rpath = oci_runtime_path_of(o, rec);
	_cleanup_free_ char *dir = xasprintf("%s/%s", oci_runtime_root_of(o, rec), id), *path = NULL, *buf = NULL;
	const char *base = strrchr(rpath, '/') ? strrchr(rpath, '/') + 1 : rpath;
	json_t *j, *paths, *poststop, *v;
	const char *key;
	size_t len;
	int r;

	if (access(dir, F_OK) < 0)
		return -errno;
	/* zlayer-wasm keeps runc's state layout (cgroup_paths, no hooks) */
	if (!streq(base, "runc") && !rec->wasm)
		return -EOPNOTSUPP;
	path = xasprintf("%s/state.json", dir);
	r = read_full_file(path, 16 << 20, &buf, &len);
	if (r < 0)
		return r;
	j = json_loadb(buf, len, 0, NULL);
	paths = json_object_get(j, "cgroup_paths");
	poststop = json_object_get(json_object_get(json_object_get(j, "config"), "Hooks"), "poststop");
	if (!json_is_object(paths) || (poststop && !json_is_null(poststop) && json_array_size(poststop) > 0)) {
		json_decref(j);
		return -EOPNOTSUPP;
	}
	r = 0;
	json_object_foreach(paths, key, v) {
		const char *p = json_string_value(v);
		if (p && strneq(p, "/sys/fs/cgroup/", 15) && rmdir(p) < 0 && errno != ENOENT) {
			r = -errno;
			break;
		}
	}
	json_decref(j);
	if (r < 0)
		return r;
	rm_rf(dir);
	return 0;
}

/* --- trash: removal's slow part after the reply -------------------------------------------- */

/* A removed container's directories are renamed into BASE/trash at once
 * (its name is free for a new container from then on) and deleted by a
 * thread; whatever a crash leaves in trash goes at the next start. */
struct trash_job {
	struct oci *o;
	char *path;
};

static void *trash_thread(void *p) {
	struct trash_job *t = p;
	struct oci *o = t->o;

	if (t->path)
		rm_rf(t->path);
	else {
		_cleanup_free_ char *a = xasprintf("%s/trash", o->root_dir), *b = xasprintf("%s/trash", o->runtime_dir);
		oci_orphans_sweep(o); /* at start, after the re-adoption */
		rm_rf(a);
		rm_rf(b);
	}
	free(t->path);
	free(t);
	pthread_mutex_lock(&o->lock);
	if (--o->trash_jobs == 0)
		pthread_cond_broadcast(&o->trash_done);
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

static void trash_spawn(struct oci *o, char *path) {
	struct trash_job *t = xnew(struct trash_job, 1);
	pthread_attr_t attr;
	pthread_t th;

	t->o = o;
	t->path = path;
	pthread_mutex_lock(&o->lock);
	o->trash_jobs++;
	pthread_mutex_unlock(&o->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, trash_thread, t) != 0)
		trash_thread(t); /* no thread: do it here */
	pthread_attr_destroy(&attr);
}

void oci_trash(struct oci *o, const char *path, const char *base) {
	_cleanup_free_ char *dir = xasprintf("%s/trash", base), *to = NULL;
	static atomic_uint seq;

	(void)mkdir(dir, 0700);
	to = xasprintf("%s/%s.%d.%u", dir, strrchr(path, '/') ? strrchr(path, '/') + 1 : path, (int)getpid(),
	               atomic_fetch_add(&seq, 1));
	if (rename(path, to) < 0) {
		if (errno != ENOENT)
			rm_rf(path); /* another filesystem, say: the slow way */
		return;
	}
	trash_spawn(o, TAKE_PTR(to));
}

static void shim_collect(struct oci *o, const char *id) {
	_cleanup_free_ char *rdir = oci_run_dir(o, id), *fifo = xasprintf("%s/state/%s", rdir, SHIM_FILE_CONTROL);
	_cleanup_close_ int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		(void)loop_write(fd, SHIM_CMD_COLLECTED "\n", strlen(SHIM_CMD_COLLECTED) + 1);
}

static int oci_remove(struct runtime *rt, const char *id, bool force, struct za_error **reterr) {
	struct oci *o = rt->data;
	struct oci_record rec = {};
	_cleanup_free_ char *cdir = NULL, *rdir = NULL, *rootfs = NULL;
	char *args[] = { "delete", "--force", (char *)id, NULL };
	int r;

	r = oci_record_load(o, id, &rec, reterr);
	if (r < 0)
		return r;
	if (oci_pid_alive(rec.init_pid) && rec.started && !force) {
		oci_record_release(&rec);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EBUSY,
		                     "container '%s' is running; stop it first or remove it with --force", id);
	}
	rec.removing = true;
	(void)oci_record_save(o, &rec, NULL);
	crashpoint("remove.marked");
	if (oci_pid_alive(rec.init_pid)) {
		char *kargs[] = { "kill", (char *)id, "9", NULL };
		if (oci_runc(o, &rec, "kill", id, kargs, NULL) < 0)
			(void)kill(rec.init_pid, SIGKILL);
		(void)wait_pid_exit(rec.init_pid, 10 * NSEC_PER_SEC);
	}
	/* The shim writes the exit record once the output is drained, and
	 * leaves only when told after that. */
	if (rec.shim_pid > 0 && oci_pid_alive(rec.shim_pid)) {
		struct wait_outcome w;
		(void)oci_monitor_wait(o->monitor, id, EXIT_RECORD_WAIT_NS, &w);
	}
	crashpoint("remove.stopped");
	cdir = oci_container_dir(o, id);
	rdir = oci_run_dir(o, id);
	rootfs = xasprintf("%s/rootfs", rdir);
	r = oci_pid_alive(rec.init_pid) ? -EBUSY : runtime_delete_stopped(o, &rec, id);
	if (r < 0 && r != -ENOENT)
		r = oci_runc(o, &rec, "delete", id, args, NULL);
	if (r < 0)
		log_debug("runc delete %s: already gone", id);
	shim_collect(o, id);
	crashpoint("remove.deleted");
	if (overlay_umount(rootfs, reterr) < 0) {
		oci_record_release(&rec);
		return za_error_wrap(reterr, "remove container '%s'", id);
	}
	if (rec.network_mode == SPEC_NETWORK_BRIDGE && rec.netns)
		(void)network_detach(&o->net, id, rec.netns, NULL);
	if (rec.netns)
		(void)netns_remove(rec.netns);
	crashpoint("remove.detached");
	oci_trash(o, rdir, o->runtime_dir);
	crashpoint("remove.trashed");
	oci_trash(o, cdir, o->root_dir);
	oci_monitor_forget(o->monitor, id);
	oci_record_release(&rec);
	log_debug("removed container %s", id);
	return 0;
}

static int oci_state(struct runtime *rt, const char *id, struct container_status *ret, struct za_error **reterr) {
	struct oci *o = rt->data;
	struct oci_record rec = {};
	struct container_status s = {};
	struct wait_outcome w;
	int r;

	r = oci_record_load(o, id, &rec, reterr);
	if (r < 0)
		return r;
	s.id = TAKE_PTR(rec.id);
	s.image = TAKE_PTR(rec.image);
	s.image_digest = TAKE_PTR(rec.image_digest);
	s.ip = TAKE_PTR(rec.ip);
	s.created_ns = rec.created_ns;
	s.started_ns = rec.started_ns;
	if (rec.init_pid <= 0)
		s.state = CONTAINER_INITIALIZING; /* created: the runtime's part comes with start */
	else if (oci_pid_alive(rec.init_pid)) {
		s.state = rec.removing ? CONTAINER_STOPPING : rec.started ? CONTAINER_RUNNING : CONTAINER_INITIALIZING;
		s.pid = rec.init_pid;
	} else if (oci_read_exit(o, id, &w) >= 0 ||
	           (oci_pid_alive(rec.shim_pid) && oci_monitor_wait(o->monitor, id, EXIT_RECORD_WAIT_NS, &w) == 1)) {
		s.state = CONTAINER_EXITED;
		if (rec.wasm)
			(void)wasm_outcome(o, id, &w.reason, &s.reason);
		s.exit_code = w.exit_code;
		s.signal = w.signal;
		s.oom_killed = w.reason == EXIT_REASON_OOM_KILLED;
		s.finished_ns = w.finished_ns;
	} else {
		s.state = CONTAINER_FAILED;
		s.reason = xstrdup("the container's process is gone and its shim left no exit record");
	}
	oci_record_release(&rec);
	*ret = s;
	return 0;
}

static int oci_wait(struct runtime *rt, const char *id, enum wait_condition cond, struct wait_outcome *ret,
                    struct za_error **reterr) {
	struct oci *o = rt->data;
	struct oci_record rec = {};
	struct wait_outcome w;
	int r;

	r = oci_record_load(o, id, &rec, reterr);
	if (r < 0) {
		if (cond == WAIT_REMOVED && r == -ENOENT) {
			if (reterr && *reterr)
				*reterr = za_error_free(*reterr);
			*ret = (struct wait_outcome){ .reason = EXIT_REASON_EXITED };
			return 0;
		}
		return r;
	}
	oci_record_release(&rec);
	/* The next exit of one that exited: of its next run, if it starts again. */
	if (cond == WAIT_REMOVED)
		r = oci_monitor_wait_gone(o->monitor, id);
	else if (cond == WAIT_NEXT_EXIT && oci_monitor_wait(o->monitor, id, 0, &w) == 1)
		r = oci_monitor_wait_next(o->monitor, id, ret);
	else
		r = oci_monitor_wait(o->monitor, id, INT64_MAX, ret);
	if (r == -ECANCELED)
		return za_error_make(reterr, ZA_ERROR_UNSUPPORTED, ESHUTDOWN, "the daemon is shutting down");
	if (cond == WAIT_REMOVED) {
		*ret = (struct wait_outcome){ .reason = EXIT_REASON_EXITED };
		return 0;
	}
	if (r < 0 || (cond == WAIT_NEXT_EXIT && r == 0))
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "container '%s' was removed before it exited",
		                     id);
	return 0;
}

static int oci_list(struct runtime *rt, char ***ret_ids, struct za_error **reterr) {
	struct oci *o = rt->data;
	_cleanup_free_ char *dir = xasprintf("%s/containers", o->root_dir);
	char **ids = NULL;
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && valid_id(de->d_name))
			strv_push(&ids, de->d_name);
	if (d)
		closedir(d);
	*ret_ids = ids ? ids : xnew(char *, 1);
	return 0;
}

static void oci_free(struct runtime *rt) {
	struct oci *o;

	if (!rt)
		return;
	o = rt->data;
	if (o) {
		pthread_mutex_lock(&o->lock);
		while (o->trash_jobs > 0)
			pthread_cond_wait(&o->trash_done, &o->lock);
		pthread_mutex_unlock(&o->lock);
		pthread_cond_destroy(&o->trash_done);
		o->monitor = oci_monitor_free(o->monitor);
		free(o->root_dir);
		free(o->runtime_dir);
		free(o->runtime_path);
		free(o->runtime_root);
		free(o->shim_path);
		free(o->wasm_path);
		free(o->wasm_root);
		free(o->wasm_cache_dir);
		free(o->net_state_dir);
		free(o->net_cache_dir);
		pthread_mutex_destroy(&o->lock);
		free(o);
	}
	free(rt);
}

static const struct runtime_ops oci_ops = {
	.name = "oci",
	.create = oci_create,
	.start = oci_start,
	.stop = oci_stop,
	.kill = oci_kill,
	.remove = oci_remove,
	.state = oci_state,
	.list = oci_list,
	.logs = oci_logs,
	.exec = oci_exec,
	.exec_stream = oci_exec_stream,
	.stats = oci_stats,
	.wait = oci_wait,
	.inspect = oci_inspect,
	.free = oci_free,
};

/* The pid in STATE/name (a shim state file), 0 when none. */
static pid_t state_pid(const struct oci *o, const char *id, const char *name) {
	_cleanup_free_ char *rdir = oci_run_dir(o, id), *path = xasprintf("%s/state/%s", rdir, name), *buf = NULL;
	int32_t pid = 0;
	size_t len;

	if (read_full_file(path, 64, &buf, &len) < 0)
		return 0;
	buf[strcspn(buf, " \n")] = '\0';
	return parse_int32(buf, &pid) >= 0 && pid > 0 ? (pid_t)pid : 0;
}

/* pid is a live zlayer-shim whose state dir is state. */
static bool is_shim_of(pid_t pid, const char *state) {
	_cleanup_free_ char *path = xasprintf("/proc/%d/cmdline", (int)pid), *buf = NULL;
	const char *base;
	size_t len;

	if (!oci_pid_alive(pid) || read_full_file(path, 64 << 10, &buf, &len) < 0 || len == 0)
		return false;
	base = strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
	if (!streq(base, "zlayer-shim"))
		return false;
	for (size_t i = 0; i < len;) {
		size_t n = strnlen(buf + i, len - i);
		if (streq(buf + i, "--state-dir") && i + n + 1 < len)
			return streq(buf + i + n + 1, state);
		i += n + 1;
	}
	return false;
}

/* Any live shim with state dir state (one starting has not written its
 * shim.pid yet). */
static bool shim_running(const char *state) {
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool found = false;

	while (d && !found && (de = readdir(d)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
			found = is_shim_of((pid_t)strtol(de->d_name, NULL, 10), state);
	if (d)
		closedir(d);
	return found;
}

/* A start cut short by a crash: the record claims it with no pids. The
 * shim it spawned, if one runs, is adopted once its runtime call is done
 * (the shim removes init.pid before it writes shim.pid, so an init.pid
 * beside a live shim.pid is this run's); else what the start made goes and
 * the claim with it: the container is created, not started. */
static void restore_start_claim(struct oci *o, struct oci_record *rec) {
	_cleanup_free_ char *rdir = oci_run_dir(o, rec->id), *state = xasprintf("%s/state", rdir);
	char *args[] = { "delete", "--force", rec->id, NULL };
	int64_t deadline = now_ns() + START_CLAIM_WAIT_NS;
	pid_t shim = 0, init = 0;

	for (;;) {
		shim = state_pid(o, rec->id, SHIM_FILE_PID);
		if (shim > 0 && is_shim_of(shim, state)) {
			init = state_pid(o, rec->id, SHIM_FILE_INIT);
			if (init > 0)
				break;
		} else if (!shim_running(state)) {
			shim = 0;
			break;
		}
		if (now_ns() > deadline)
			break;
		(void)nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000000L }, NULL);
	}
	if (shim > 0 && init > 0) {
		rec->shim_pid = shim;
		rec->init_pid = init;
		rec->started_ns = now_ns();
		log_info("container %s: adopting the run whose start a crash cut short (init pid %d)", rec->id,
		         (int)init);
	} else {
		if (shim > 0 && is_shim_of(shim, state))
			(void)kill(shim, SIGKILL);
		if (runtime_delete_stopped(o, rec, rec->id) != -ENOENT)
			(void)oci_runc(o, rec, "delete", rec->id, args, NULL);
		rec->started = false;
		log_info("container %s: its start was cut short by a crash; it is created, not started", rec->id);
	}
	(void)oci_record_save(o, rec, NULL);
}

/* Containers of an earlier run of the daemon: watched from now on. What
 * a crash cut short is finished: a removal (the record says removing) is
 * done, a start (claimed, no pids) adopted or undone. */
static void watch_existing(struct oci *o) {
	struct runtime tmp = { .data = o };
	_cleanup_strv_free_ char **ids = NULL;

	(void)oci_list(&tmp, &ids, NULL);
	STRV_FOREACH (i, ids) {
		struct oci_record rec = {};
		int r = oci_record_load(o, *i, &rec, NULL);
		if (r == -ENOENT) {
			/* directories without a record: a create cut short (a crash,
			 * a power loss before the record reached the disk) */
			_cleanup_free_ char *cdir = oci_container_dir(o, *i), *rdir = oci_run_dir(o, *i);
			_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", rdir);
			log_info("removing the remains of container %s, which has no record", *i);
			(void)overlay_umount(rootfs, NULL);
			oci_trash(o, rdir, o->runtime_dir);
			oci_trash(o, cdir, o->root_dir);
			continue;
		}
		if (r < 0)
			continue;
		if (rec.started && rec.init_pid <= 0)
			restore_start_claim(o, &rec);
		if (rec.init_pid > 0)
			oci_monitor_watch(o->monitor, *i, rec.shim_pid, rec.init_pid);
		if (rec.removing) {
			_cleanup_za_error_ struct za_error *err = NULL;
			log_info("finishing the removal of container %s, which a crash cut short", *i);
			if (oci_remove(&tmp, *i, true, &err) < 0)
				log_warning("%s", err->message);
		}
		oci_record_release(&rec);
	}
}

/* zlayer-wasm lives beside the shim (both in the build root, or bindir). */
static char *find_beside(const char *shim, const char *name) {
	const char *slash = strrchr(shim, '/');
	_cleanup_free_ char *dir = slash ? xstrndup(shim, (size_t)(slash - shim)) : NULL;

	return dir ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

static char *find_shim(void) {
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *slash;
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			_cleanup_free_ char *dir = xstrndup(self, (size_t)(slash - self));
			char *p = xasprintf("%s/zlayer-shim", dir);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup("zlayer-shim");
}

static void favor_dynmods(void) {
	_cleanup_free_ char *path = NULL;
	int r = cgroup_host_favor_dynmods(&path);

	if (r > 0)
		log_info("cgroup2 at %s now has the option favordynmods, so moving a process into a cgroup no "
		         "longer waits for an RCU grace period (config key cgroup_favordynmods: false keeps the "
		         "host's options)",
		         path);
	else if (r == -EINVAL)
		log_debug("this kernel has no cgroup2 option favordynmods: container starts pay an RCU grace "
		          "period per cgroup move");
	else if (r < 0 && r != -ENOENT)
		log_warning("cannot turn on favordynmods on the cgroup2 mount: %s", strerror(-r));
}

int oci_runtime_new(const struct oci_runtime_options *opts, struct runtime **ret, struct za_error **reterr) {
	struct runtime *rt = xnew(struct runtime, 1);
	struct oci *o = xnew(struct oci, 1);
	_cleanup_free_ char *reason = NULL;
	const char *name;
	int r;

	o->root_dir = xstrdup(opts->root_dir);
	o->runtime_dir = xstrdup(opts->runtime_dir);
	name = opts->runtime_path ? opts->runtime_path : oci_detect_runtime(&reason);
	o->runtime_path = strchr(name, '/') ? xstrdup(name)
	                  : streq(name, "runc")
	                          ? xstrdup(access("/usr/sbin/runc", X_OK) == 0 ? "/usr/sbin/runc" : "runc")
	                          : xasprintf("/usr/bin/%s", name);
	o->runtime_root = xasprintf("%s/runc", opts->runtime_dir);
	o->shim_path = opts->shim_path ? xstrdup(opts->shim_path) : find_shim();
	o->wasm_path = find_beside(o->shim_path, "zlayer-wasm");
	o->wasm_root = xasprintf("%s/wasm", opts->runtime_dir);
	o->wasm_cache_dir = getenv("ZLAYER_WASM_CACHE_DIR") ? xstrdup(getenv("ZLAYER_WASM_CACHE_DIR"))
	                                                    : xasprintf("%s/wasm", opts->root_dir);
	o->content = opts->content;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->trash_done, NULL);
	if (opts->network)
		o->net = *opts->network;
	else {
		o->net_state_dir = xasprintf("%s/cni/networks", opts->root_dir);
		o->net_cache_dir = xasprintf("%s/cni/cache", opts->root_dir);
		o->net = (struct network_config){ .name = "zlayer",
			                          .bridge = "zlayer0",
			                          .subnet = "10.88.0.0/16",
			                          .state_dir = o->net_state_dir,
			                          .cache_dir = o->net_cache_dir,
			                          .plugin_dir = "/usr/lib/cni" };
	}
	r = mkdir_p(o->runtime_root, 0700);
	if (r < 0) {
		rt->data = o;
		oci_free(rt);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot create '%s': %m", opts->runtime_dir);
	}
	if (!opts->keep_cgroup_options)
		favor_dynmods();
	runtime_init(rt, &oci_ops, o);
	r = oci_monitor_new(o, rt, &o->monitor);
	if (r < 0) {
		oci_free(rt);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot start the container exit monitor: %m");
	}
	watch_existing(o);
	trash_spawn(o, NULL); /* what an earlier run left */
	log_info("OCI runtime: %s%s%s%s; shim: %s", o->runtime_path, reason ? " (" : "", strempty(reason),
	         reason ? ")" : "", o->shim_path);
	*ret = rt;
	return 0;
}
