/* SPDX-License-Identifier: Apache-2.0 */
/* Everything is computed in memory first (command, user, capabilities,
 * mounts, devices, GPUs), so that most failures touch nothing; then the
 * bundle directory, the volumes, the etc files and config.json are written,
 * and a failure there takes back what this call made.
 *
 * Choices, dockerd's unless said: privileged lists every host device node
 * (runc makes them in the /dev tmpfs; /dev is not bind-mounted), opens the
 * device cgroup ("a *:* rwm"), mounts sysfs and cgroup rw, drops seccomp
 * and the masked paths; a new volume gets the image's content at its
 * target (copy-up), an existing one is left alone; memory without
 * memory_swap gets as much swap as memory; cgroupsPath is absolute
 * ("/zlayer/ID", ours) so containers outlive the agent's own cgroup; the
 * image's VOLUMEs are not made into anonymous volumes (the image config
 * here does not carry them). */
#include "bundle.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "runtime/bundle-internal.h"
#include "runtime/cdi.h"
#include "runtime/oci-defaults.h"
#include "runtime/passwd.h"
#include "basic/banned.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define HOSTNAME_MAX 63
#define OCI_VERSION  "1.0.2"

void bundle_info_release(struct bundle_info *i) {
	if (!i)
		return;
	strv_free(i->args);
	free(i->cwd);
	free(i->hostname);
	strv_free(i->gpu_devices);
	strv_free(i->volumes_created);
	*i = (struct bundle_info){};
}

int bundle_resolve_args(const struct oci_image_config *image, const struct container_config *cfg, char ***ret,
                        struct za_error **reterr) {
	char *const *entrypoint = cfg->entrypoint ? cfg->entrypoint : image ? image->entrypoint : NULL;
	char *const *cmd;
	char **args = NULL;

	if (cfg->entrypoint)
		cmd = cfg->args; /* an entrypoint override drops the image's Cmd */
	else
		cmd = cfg->args ? cfg->args : image ? image->cmd : NULL;
	STRV_FOREACH (a, (char **)entrypoint)
		strv_push(&args, *a);
	STRV_FOREACH (a, (char **)cmd)
		strv_push(&args, *a);
	if (strv_length(args) == 0 || isempty(args[0])) {
		strv_free(args);
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
		                     "no command: the image has no Entrypoint or Cmd and the spec sets none");
	}
	*ret = args;
	return 0;
}

static void env_set(char ***env, const char *kv, bool replace) {
	size_t klen = strcspn(kv, "=");

	/* "FOO" alone names a variable of the client's environment, which the
	 * client resolves; one left unresolved is dropped, as docker run does
	 * (runc would refuse to start) */
	if (kv[klen] != '=' || klen == 0)
		return;
	STRV_FOREACH (e, *env)
		if (strneq(*e, kv, klen) && ((*e)[klen] == '=' || (*e)[klen] == '\0')) {
			if (replace) {
				free(*e);
				*e = xstrdup(kv);
			}
			return;
		}
	strv_push(env, kv);
}

/* image Env < PATH (if missing), HOSTNAME, TERM < the container's env */
static char **build_env(const struct bundle_options *o, const char *hostname) {
	_cleanup_free_ char *h = xasprintf("HOSTNAME=%s", hostname);
	char **env = xnew(char *, 1);

	if (o->image)
		STRV_FOREACH (e, o->image->env)
			env_set(&env, *e, true);
	env_set(&env, DEFAULT_PATH, false);
	env_set(&env, h, true);
	if (o->cfg->tty)
		env_set(&env, "TERM=xterm", true);
	STRV_FOREACH (e, o->cfg->env)
		env_set(&env, *e, true);
	return env;
}

static char *resolve_hostname(const struct bundle_options *o) {
	char buf[HOST_NAME_MAX + 1] = {};

	if (!isempty(o->cfg->hostname))
		return xstrdup(o->cfg->hostname);
	if (o->cfg->network_mode == SPEC_NETWORK_HOST && gethostname(buf, sizeof(buf) - 1) >= 0 && buf[0])
		return xstrdup(buf);
	return xstrndup(o->cfg->id, HOSTNAME_MAX);
}

static char *resolve_cwd(const struct bundle_options *o) {
	const char *w = o->cfg->workdir;

	if (isempty(w) && o->image)
		w = o->image->working_dir;
	if (isempty(w))
		return xstrdup("/");
	return w[0] == '/' ? xstrdup(w) : xasprintf("/%s", w);
}

static int signal_parse(const char *s) {
	int sig = isempty(s) ? 0 : parse_signal(s);
	return sig > 0 ? sig : 0;
}

static json_t *strv_json(char *const *l) {
	json_t *a = json_array();

	STRV_FOREACH (s, (char **)l)
		json_array_append_new(a, bundle_json_string(*s));
	return a;
}

static json_t *user_json(const struct passwd_user *pw) {
	json_t *gids = json_array();

	for (size_t i = 0; i < pw->n_additional_gids; i++)
		json_array_append_new(gids, json_integer(pw->additional_gids[i]));
	return json_pack("{s:I, s:I, s:o}", "uid", (json_int_t)pw->uid, "gid", (json_int_t)pw->gid, "additionalGids",
	                 gids);
}

static json_t *build_process(const struct bundle_options *o, char *const *args, char *const *env, const char *cwd,
                             const struct passwd_user *pw, char *const *caps) {
	json_t *p = json_object(), *c = json_object(), *rl;

	json_object_set_new(p, "terminal", json_boolean(o->cfg->tty));
	json_object_set_new(p, "user", user_json(pw));
	json_object_set_new(p, "args", strv_json(args));
	json_object_set_new(p, "env", strv_json(env));
	json_object_set_new(p, "cwd", bundle_json_string(cwd));
	/* no inheritable set: dockerd dropped it (CVE-2022-24769) */
	json_object_set_new(c, "bounding", strv_json(caps));
	json_object_set_new(c, "effective", strv_json(caps));
	json_object_set_new(c, "permitted", strv_json(caps));
	json_object_set_new(p, "capabilities", c);
	if ((rl = bundle_rlimits(o->cfg)))
		json_object_set_new(p, "rlimits", rl);
	json_object_set_new(p, "noNewPrivileges", json_boolean(!o->cfg->privileged));
	if (o->cfg->resources.has_oom_score_adj)
		json_object_set_new(p, "oomScoreAdj", json_integer(o->cfg->resources.oom_score_adj));
	return p;
}

static json_t *mount_json(const char *dest, const char *type, const char *source, const char *const *opts) {
	json_t *m = json_object(), *o = json_array();

	json_object_set_new(m, "destination", bundle_json_string(dest));
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "source", bundle_json_string(source));
	for (; *opts; opts++)
		json_array_append_new(o, json_string(*opts));
	json_object_set_new(m, "options", o);
	return m;
}

#define OPTS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static bool user_mounts_target(const struct container_config *cfg, const char *dest) {
	for (size_t i = 0; i < cfg->n_mounts; i++)
		if (cfg->mounts[i].target && streq(cfg->mounts[i].target, dest))
			return true;
	return false;
}

static size_t path_depth(const char *p) {
	size_t n = 0;

	for (; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			n++;
	return n;
}

/* Paths of the files and volumes this call writes, for the mounts and for
 * taking them back. */
struct bundle_paths {
	char *resolv, *hosts, *hostname;
	char **volume_sources; /* per cfg->mounts[i]: VOLUME's _data, else NULL */
};

static void bundle_paths_release(struct bundle_paths *p, size_t n) {
	free(p->resolv);
	free(p->hosts);
	free(p->hostname);
	for (size_t i = 0; p->volume_sources && i < n; i++)
		free(p->volume_sources[i]);
	free(p->volume_sources);
}

static int build_mounts(const struct bundle_options *o, const struct bundle_paths *paths, json_t **ret,
                        struct za_error **reterr) {
	const struct container_config *cfg = o->cfg;
	const char *ro = cfg->privileged ? "rw" : "ro";
	_cleanup_(json_decrefp) json_t *all = json_array();
	_cleanup_free_ size_t *order = NULL;
	json_t *std[] = {
		mount_json("/proc", "proc", "proc", OPTS("nosuid", "noexec", "nodev")),
		mount_json("/dev", "tmpfs", "tmpfs", OPTS("nosuid", "strictatime", "mode=755", "size=65536k")),
		mount_json("/dev/pts", "devpts", "devpts",
		           OPTS("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
		mount_json("/dev/shm", "tmpfs", "shm", OPTS("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
		mount_json("/dev/mqueue", "mqueue", "mqueue", OPTS("nosuid", "noexec", "nodev")),
		mount_json("/sys", "sysfs", "sysfs", OPTS("nosuid", "noexec", "nodev", ro)),
		mount_json("/sys/fs/cgroup", "cgroup", "cgroup", OPTS("nosuid", "noexec", "nodev", "relatime", ro)),
	};
	const struct {
		const char *dest, *source;
	} etc[] = {
		{ "/etc/resolv.conf", paths->resolv },
		{ "/etc/hostname", paths->hostname },
		{ "/etc/hosts", paths->hosts },
	};

	/* a user mount replaces a default one at the same place, as in dockerd */
	for (size_t i = 0; i < ELEMENTSOF(std); i++) {
		if (user_mounts_target(cfg, json_string_value(json_object_get(std[i], "destination"))))
			json_decref(std[i]);
		else
			json_array_append_new(all, std[i]);
	}
	for (size_t i = 0; i < ELEMENTSOF(etc); i++)
		if (!user_mounts_target(cfg, etc[i].dest))
			json_array_append_new(all, mount_json(etc[i].dest, "bind", etc[i].source,
			                                      cfg->read_only_rootfs ? OPTS("rbind", "rprivate", "ro")
			                                                            : OPTS("rbind", "rprivate")));

	/* parents before children (a stable sort by depth), as dockerd does */
	order = xnew(size_t, cfg->n_mounts + 1);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		size_t j = i;
		while (j > 0 && path_depth(cfg->mounts[order[j - 1]].target) > path_depth(cfg->mounts[i].target)) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (size_t k = 0; k < cfg->n_mounts; k++) {
		const struct container_mount *m = &cfg->mounts[order[k]];
		_cleanup_free_ char *size = NULL, *mode = NULL;
		struct stat st;

		switch (m->type) {
		case CONTAINER_MOUNT_BIND:
			if (isempty(m->source) || m->source[0] != '/')
				return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
				                     "bind source '%s' must be an absolute path", strempty(m->source));
			if (stat(m->source, &st) < 0)
				return za_error_make(
				        reterr, ZA_ERROR_CREATE_FAILED, errno,
				        "bind source '%s' for '%s' is not usable: %m; create it or fix the "
				        "storage source",
				        m->source, m->target);
			json_array_append_new(all, mount_json(m->target, "bind", m->source,
			                                      m->readonly ? OPTS("rbind", "rprivate", "ro")
			                                                  : OPTS("rbind", "rprivate")));
			break;
		case CONTAINER_MOUNT_VOLUME:
			json_array_append_new(all, mount_json(m->target, "bind", paths->volume_sources[order[k]],
			                                      m->readonly ? OPTS("rbind", "rprivate", "ro")
			                                                  : OPTS("rbind", "rprivate")));
			break;
		case CONTAINER_MOUNT_TMPFS:
		default:
			mode = xasprintf("mode=%o", m->tmpfs_mode ? m->tmpfs_mode : 01777);
			size = m->tmpfs_size ? xasprintf("size=%" PRIu64, m->tmpfs_size) : NULL;
			json_array_append_new(all, mount_json(m->target, "tmpfs", "tmpfs",
			                                      OPTS("nosuid", "nodev", "noexec",
			                                           m->readonly ? "ro" : "rw", mode, size)));
			break;
		}
	}
	*ret = TAKE_PTR(all);
	return 0;
}

static int check_options(const struct bundle_options *o, struct za_error **reterr) {
	const struct container_config *cfg = o->cfg;

	if (!cfg || isempty(cfg->id) || isempty(o->bundle_dir) || isempty(o->rootfs) || o->rootfs[0] != '/')
		return za_error_make(
		        reterr, ZA_ERROR_INTERNAL, EINVAL,
		        "bundle: the container id, the bundle directory and an absolute rootfs are needed");
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		if (isempty(cfg->mounts[i].target) || cfg->mounts[i].target[0] != '/')
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
			                     "mount target '%s' must be an absolute path",
			                     strempty(cfg->mounts[i].target));
		if (cfg->mounts[i].type == CONTAINER_MOUNT_VOLUME) {
			if (!bundle_volume_name_valid(cfg->mounts[i].source))
				return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
				                     "invalid volume name '%s' (expected [a-zA-Z0-9][a-zA-Z0-9_.-]*)",
				                     strempty(cfg->mounts[i].source));
			if (isempty(o->volumes_dir))
				return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL,
				                     "bundle: volume '%s' needs a volumes directory",
				                     cfg->mounts[i].source);
		}
	}
	return 0;
}

/* What a bundle_write made, to take back on failure. */
struct bundle_made {
	bool dir, config, resolv, hosts, hostname;
	char **volumes;
};

static void undo(const struct bundle_options *o, const struct bundle_paths *paths, struct bundle_made *made) {
	if (made->config) {
		_cleanup_free_ char *config = xasprintf("%s/config.json", o->bundle_dir);
		(void)unlink(config);
	}
	if (made->resolv)
		(void)unlink(paths->resolv);
	if (made->hosts)
		(void)unlink(paths->hosts);
	if (made->hostname)
		(void)unlink(paths->hostname);
	if (made->dir)
		rm_rf(o->bundle_dir);
	STRV_FOREACH (v, made->volumes) {
		_cleanup_free_ char *dir = xasprintf("%s/%s", o->volumes_dir, *v);
		rm_rf(dir);
	}
}

static int write_text(const char *path, const char *text, bool *made, struct za_error **reterr) {
	int r = write_file_replace(path, text, strlen(text), 0644); /* the runtime dir: volatile */
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot write '%s': %m", path);
	*made = true;
	return 0;
}

static int write_out(const struct bundle_options *o, const struct bundle_paths *paths, int rootfs_fd,
                     const json_t *config, const char *hosts, const char *resolv, const char *hostname,
                     struct bundle_made *made, struct za_error **reterr) {
	_cleanup_free_ char *text = NULL, *config_path = xasprintf("%s/config.json", o->bundle_dir);
	_cleanup_free_ char *hostname_nl = xasprintf("%s\n", hostname);
	int r;

	if (mkdir(o->bundle_dir, 0700) >= 0)
		made->dir = true;
	else if (errno == ENOENT) {
		r = mkdir_p(o->bundle_dir, 0700);
		if (r < 0)
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r,
			                     "cannot create bundle directory '%s': %m", o->bundle_dir);
		made->dir = true;
	} else if (errno != EEXIST)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, errno, "cannot create bundle directory '%s': %m",
		                     o->bundle_dir);

	for (size_t i = 0; i < o->cfg->n_mounts; i++) {
		const struct container_mount *m = &o->cfg->mounts[i];
		bool created = false;

		if (m->type != CONTAINER_MOUNT_VOLUME)
			continue;
		r = bundle_volume_create(o->volumes_dir, m->source, rootfs_fd, m->target, &created, reterr);
		if (r < 0)
			return r;
		if (created)
			strv_push(&made->volumes, m->source);
	}
	if ((r = write_text(paths->resolv, resolv, &made->resolv, reterr)) < 0 ||
	    (r = write_text(paths->hosts, hosts, &made->hosts, reterr)) < 0 ||
	    (r = write_text(paths->hostname, hostname_nl, &made->hostname, reterr)) < 0)
		return r;
	text = bundle_json_dump(config);
	if (!text)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOMEM, "cannot serialise config.json");
	r = write_file_replace(config_path, text, strlen(text), 0600);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot write '%s': %m", config_path);
	made->config = true;
	return 0;
}

static int stop_signal(const struct bundle_options *o) {
	int sig;

	if (o->cfg->stop_signal > 0)
		return o->cfg->stop_signal;
	sig = o->image ? signal_parse(o->image->stop_signal) : 0;
	return sig > 0 ? sig : SIGTERM;
}

int bundle_write(const struct bundle_options *o, struct za_error **reterr) {
	const struct container_config *cfg = o->cfg;
	_cleanup_(json_decrefp) json_t *config = NULL;
	_cleanup_strv_free_ char **args = NULL, **env = NULL, **caps = NULL, **gpus = NULL;
	_cleanup_free_ char *hostname = NULL, *cwd = NULL, *hosts = NULL, *resolv = NULL;
	_cleanup_close_ int rootfs_fd = -1;
	struct passwd_user pw = {};
	struct bundle_paths paths = {};
	struct bundle_made made = {};
	json_t *mounts = NULL, *lx = NULL, *ann;
	int r;

	r = check_options(o, reterr);
	if (r < 0)
		return r;
	rootfs_fd = open(o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfs_fd < 0)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, errno, "cannot open the rootfs '%s': %m",
		                     o->rootfs);
	r = bundle_resolve_args(o->image, cfg, &args, reterr);
	if (r < 0)
		return r;
	r = passwd_resolve_user(rootfs_fd,
	                        !isempty(cfg->user) ? cfg->user
	                        : o->image          ? o->image->user
	                                            : NULL,
	                        &pw, reterr);
	if (r < 0)
		return r;
	r = oci_capabilities_resolve(cfg->cap_add, cfg->cap_drop, cfg->privileged, &caps, reterr);
	if (r < 0)
		goto finish;

	hostname = resolve_hostname(o);
	cwd = resolve_cwd(o);
	env = build_env(o, hostname);
	paths.resolv = o->resolv_conf ? xstrdup(o->resolv_conf) : xasprintf("%s/resolv.conf", o->bundle_dir);
	paths.hosts = o->hosts_file ? xstrdup(o->hosts_file) : xasprintf("%s/hosts", o->bundle_dir);
	paths.hostname = o->hostname_file ? xstrdup(o->hostname_file) : xasprintf("%s/hostname", o->bundle_dir);
	paths.volume_sources = xnew(char *, cfg->n_mounts + 1);
	for (size_t i = 0; i < cfg->n_mounts; i++)
		if (cfg->mounts[i].type == CONTAINER_MOUNT_VOLUME)
			paths.volume_sources[i] = xasprintf("%s/%s/_data", o->volumes_dir, cfg->mounts[i].source);

	config = json_object();
	json_object_set_new(config, "ociVersion", json_string(OCI_VERSION));
	json_object_set_new(config, "process", build_process(o, args, env, cwd, &pw, caps));
	json_object_set_new(
	        config, "root",
	        json_pack("{s:o, s:b}", "path", bundle_json_string(o->rootfs), "readonly", cfg->read_only_rootfs));
	json_object_set_new(config, "hostname", bundle_json_string(hostname));
	r = build_mounts(o, &paths, &mounts, reterr);
	if (r < 0)
		goto finish;
	json_object_set_new(config, "mounts", mounts);
	r = bundle_linux(o, caps, &lx, reterr);
	if (r < 0)
		goto finish;
	json_object_set_new(config, "linux", lx);
	ann = json_object();
	STRV_FOREACH (l, cfg->labels) {
		_cleanup_free_ char *k = xstrndup(*l, strcspn(*l, "="));
		const char *eq = strchr(*l, '=');
		/* keys must be UTF-8 too: a label that is not is left out */
		json_object_set_new(ann, k, bundle_json_string(eq ? eq + 1 : ""));
	}
	json_object_set_new(config, "annotations", ann);
	r = cdi_apply_gpu(config, &cfg->resources.gpu, o->gpu_devices, o->cdi_dirs, &gpus, reterr);
	if (r < 0)
		goto finish;

	hosts = bundle_hosts_content(o, hostname);
	resolv = bundle_resolv_content(o);
	made.volumes = xnew(char *, 1);
	r = write_out(o, &paths, rootfs_fd, config, hosts, resolv, hostname, &made, reterr);
	if (r < 0) {
		undo(o, &paths, &made);
		goto finish;
	}

	if (o->ret_info) {
		*o->ret_info = (struct bundle_info){
			.args = TAKE_PTR(args),
			.cwd = TAKE_PTR(cwd),
			.uid = pw.uid,
			.gid = pw.gid,
			.hostname = TAKE_PTR(hostname),
			.stop_signal = stop_signal(o),
			.gpu_devices = TAKE_PTR(gpus),
			.volumes_created = TAKE_PTR(made.volumes),
		};
	}
	log_debug("bundle for '%s' written to %s", cfg->id, o->bundle_dir);
	r = 0;
finish:
	strv_free(made.volumes);
	passwd_user_release(&pw);
	bundle_paths_release(&paths, cfg->n_mounts);
	return r;
}

/* env with each of set's "K=V" replacing the entry of the same K, or added. */
static void exec_env_merge(json_t *env, char *const *set) {
	for (char *const *kv = set; kv && *kv; kv++) {
		size_t klen = strcspn(*kv, "="), i;
		json_t *v;
		bool done = false;

		json_array_foreach(env, i, v) {
			const char *e = strempty(json_string_value(v));
			if (strneq(e, *kv, klen) && e[klen] == '=') {
				json_array_set_new(env, i, bundle_json_string(*kv));
				done = true;
				break;
			}
		}
		if (!done)
			json_array_append_new(env, bundle_json_string(*kv));
	}
}

/* o->user resolved in the rootfs of config (root.path, relative to bundle_dir). */
static int exec_user(const char *bundle_dir, json_t *config, const char *user, json_t **ret, struct za_error **reterr) {
	const char *root = json_string_value(json_object_get(json_object_get(config, "root"), "path"));
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct passwd_user pw = {};
	int r;

	if (isempty(root))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "the bundle '%s' has no root path", bundle_dir);
	path = root[0] == '/' ? xstrdup(root) : xasprintf("%s/%s", bundle_dir, root);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot open the rootfs '%s': %m", path);
	r = passwd_resolve_user(fd, user, &pw, &err);
	if (r < 0) /* the request's mistake here, not the container's */
		return za_error_make(reterr, err->kind == ZA_ERROR_CREATE_FAILED ? ZA_ERROR_INVALID_SPEC : err->kind, r,
		                     "exec user: %s", err->message);
	*ret = user_json(&pw);
	passwd_user_release(&pw);
	return 0;
}

int bundle_exec_process(const char *bundle_dir, const struct bundle_exec_options *o, char **ret_process_json,
                        struct za_error **reterr) {
	_cleanup_free_ char *path = xasprintf("%s/config.json", bundle_dir), *buf = NULL, *text = NULL;
	_cleanup_(json_decrefp) json_t *config = NULL, *process = NULL;
	json_error_t e;
	size_t len;
	int r;

	if (strv_length(o->argv) == 0 || isempty(o->argv[0]))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "exec needs a command");
	if (o->cwd && o->cwd[0] != '/')
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "exec working directory '%s' is not an absolute path", o->cwd);
	for (char *const *kv = o->env; kv && *kv; kv++)
		if ((*kv)[0] == '=' || !strchr(*kv, '='))
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "exec environment '%s' is not of the form NAME=VALUE", *kv);
	r = read_full_file(path, BUNDLE_MAX_CONFIG_SIZE, &buf, &len);
	if (r == -ENOENT)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, r, "container bundle '%s' has no config.json",
		                     bundle_dir);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot read '%s': %m", path);
	config = bundle_json_load(buf, len, &e);
	if (!config || !json_is_object(json_object_get(config, "process")))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "'%s' has no process: %s", path,
		                     config ? "missing" : e.text);
	process = json_deep_copy(json_object_get(config, "process"));
	json_object_set_new(process, "args", strv_json(o->argv));
	json_object_set_new(process, "terminal", json_boolean(o->tty));
	if (!json_is_array(json_object_get(process, "env")))
		json_object_set_new(process, "env", json_array());
	exec_env_merge(json_object_get(process, "env"), o->env);
	if (o->cwd)
		json_object_set_new(process, "cwd", bundle_json_string(o->cwd));
	if (!isempty(o->user)) {
		json_t *u = NULL;
		r = exec_user(bundle_dir, config, o->user, &u, reterr);
		if (r < 0)
			return r;
		json_object_set_new(process, "user", u);
	}
	if (o->tty) {
		/* docker exec -t: TERM unless the container has one */
		json_t *env = json_object_get(process, "env"), *v;
		size_t i;
		bool have = false;

		json_array_foreach(env, i, v) have = have || strneq(strempty(json_string_value(v)), "TERM=", 5);
		if (!have)
			json_array_append_new(env, json_string("TERM=xterm"));
	}
	json_object_del(process, "consoleSize");
	text = bundle_json_dump(process);
	if (!text)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOMEM, "cannot serialise the exec process");
	*ret_process_json = TAKE_PTR(text);
	return 0;
}
