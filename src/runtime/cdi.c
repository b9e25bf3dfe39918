/* SPDX-License-Identifier: Apache-2.0 */
/* Follows the CDI spec (v0.6-0.8) and the reference library's edit
 * semantics: env replaces by key, device nodes without type/major/minor take
 * them from the host node, mounts default to bind, hooks go to the named
 * runtime-spec hook list. Spec-wide edits apply once when any of the spec's
 * devices is requested. Invalid spec files are skipped and named in errors. */
#include "cdi.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "spec/yaml-tree.h"
#include "basic/banned.h"

const char *const cdi_default_dirs[] = { "/etc/cdi", "/var/run/cdi", NULL };

const char *cdi_gpu_kind(enum spec_gpu_vendor vendor) {
	switch (vendor) {
	case SPEC_GPU_VENDOR_NVIDIA:
		return "nvidia.com/gpu";
	case SPEC_GPU_VENDOR_AMD:
		return "amd.com/gpu";
	case SPEC_GPU_VENDOR_INTEL:
		return "intel.com/gpu";
	default:
		return NULL;
	}
}

struct cdi_spec {
	char *path;
	char *kind;
	json_t *root;
	bool applied; /* spec-wide edits done */
};

struct cdi_registry {
	struct cdi_spec *specs; /* in priority order: later wins */
	size_t n, alloc;
	char **invalid; /* "path: why" */
};

static void cdi_registry_release(struct cdi_registry *r) {
	for (size_t i = 0; i < r->n; i++) {
		free(r->specs[i].path);
		free(r->specs[i].kind);
		json_decref(r->specs[i].root);
	}
	free(r->specs);
	strv_free(r->invalid);
}

static json_t *ynode_to_json(const struct ynode *n) {
	json_t *j;
	int64_t v;

	if (!n)
		return json_null();
	switch (n->type) {
	case YNODE_SCALAR:
		if (n->quoted)
			return json_stringn(n->value, n->len);
		if (ynode_is_null(n))
			return json_null();
		if (streq(n->value, "true"))
			return json_true();
		if (streq(n->value, "false"))
			return json_false();
		if (parse_int64(n->value, &v) >= 0)
			return json_integer(v);
		return json_stringn(n->value, n->len);
	case YNODE_SEQUENCE:
		j = json_array();
		for (size_t i = 0; i < n->n; i++)
			json_array_append_new(j, ynode_to_json(n->items[i]));
		return j;
	case YNODE_MAPPING:
		j = json_object();
		for (size_t i = 0; i < n->n; i++)
			json_object_set_new(j, n->keys[i]->value, ynode_to_json(n->items[i]));
		return j;
	default:
		return json_null();
	}
}

static bool has_suffix(const char *s, const char *suffix) {
	size_t l = strlen(s), n = strlen(suffix);
	return l >= n && streq(s + l - n, suffix);
}

static json_t *parse_spec_file(const char *path, char **ret_why) {
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = read_full_file(path, CDI_MAX_SPEC_SIZE, &buf, &len);
	if (r < 0) {
		*ret_why = r == -EFBIG ? xasprintf("larger than %u MiB", CDI_MAX_SPEC_SIZE >> 20)
		                       : xasprintf("cannot read: %s", strerror(-r));
		return NULL;
	}
	if (has_suffix(path, ".json")) {
		json_error_t e;
		json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
		if (!j)
			*ret_why = xasprintf("line %d: %s", e.line, e.text);
		return j;
	} else {
		_cleanup_(ynode_freep) struct ynode *root = NULL;
		_cleanup_free_ char *msg = NULL;
		unsigned line = 0, col = 0;

		if (yaml_tree_parse(buf, len, &root, &line, &col, &msg) < 0) {
			*ret_why = xasprintf("line %u: %s", line, strna(msg));
			return NULL;
		}
		return ynode_to_json(root);
	}
}

static void registry_add_file(struct cdi_registry *reg, const char *path) {
	_cleanup_free_ char *why = NULL;
	json_t *root = parse_spec_file(path, &why);
	const char *kind;

	if (root && (!json_is_object(root) || !(kind = json_string_value(json_object_get(root, "kind"))) ||
	             !strchr(kind, '/') || !json_is_array(json_object_get(root, "devices")))) {
		why = xstrdup("not a CDI spec (needs 'kind' like vendor.com/class and 'devices')");
		json_decref(root);
		root = NULL;
	}
	if (!root) {
		_cleanup_free_ char *item = xasprintf("%s: %s", path, why);
		strv_push(&reg->invalid, item);
		log_debug("cdi: skipping %s: %s", path, why);
		return;
	}
	GROW(reg->specs, reg->alloc, reg->n + 1);
	reg->specs[reg->n++] = (struct cdi_spec){
		.path = xstrdup(path),
		.kind = xstrdup(kind),
		.root = root,
	};
}

static int compare_names(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int registry_load(struct cdi_registry *reg, char *const *dirs, struct za_error **reterr) {
	size_t files = 0;

	reg->invalid = xnew(char *, 1);
	for (size_t d = 0; dirs[d]; d++) {
		_cleanup_strv_free_ char **names = xnew(char *, 1);
		DIR *dir = opendir(dirs[d]);
		struct dirent *de;

		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			if (!has_suffix(de->d_name, ".json") && !has_suffix(de->d_name, ".yaml") &&
			    !has_suffix(de->d_name, ".yml"))
				continue;
			if (++files > CDI_MAX_SPEC_FILES) {
				closedir(dir);
				return za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, E2BIG,
				                     "more than %u CDI spec files in %s", CDI_MAX_SPEC_FILES, dirs[d]);
			}
			strv_push(&names, de->d_name);
		}
		closedir(dir);
		qsort(names, strv_length(names), sizeof(char *), compare_names);
		STRV_FOREACH (n, names) {
			_cleanup_free_ char *path = xasprintf("%s/%s", dirs[d], *n);
			struct stat st;

			if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			registry_add_file(reg, path);
		}
	}
	return 0;
}

/* The device named `name` of `kind`, highest priority first. */
static json_t *registry_find(struct cdi_registry *reg, const char *kind, const char *name, struct cdi_spec **ret_spec) {
	for (size_t i = reg->n; i-- > 0;) {
		json_t *devs = json_object_get(reg->specs[i].root, "devices"), *d;
		size_t k;

		if (!streq(reg->specs[i].kind, kind))
			continue;
		json_array_foreach(devs, k, d) {
			const char *n = json_string_value(json_object_get(d, "name"));
			if (n && streq(n, name)) {
				*ret_spec = &reg->specs[i];
				return d;
			}
		}
	}
	return NULL;
}

/* ---- edits ---- */

static json_t *obj_child(json_t *parent, const char *key, bool array) {
	json_t *c = json_object_get(parent, key);

	if (!c || (array ? !json_is_array(c) : !json_is_object(c))) {
		c = array ? json_array() : json_object();
		json_object_set_new(parent, key, c);
	}
	return c;
}

static void env_set(json_t *config, const char *kv) {
	json_t *env = obj_child(obj_child(config, "process", false), "env", true), *e;
	size_t klen = strcspn(kv, "="), i;

	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && strneq(s, kv, klen) && (s[klen] == '=' || s[klen] == '\0')) {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

static int apply_device_node(json_t *config, const char *dev, json_t *node, struct za_error **reterr) {
	const char *path = json_string_value(json_object_get(node, "path"));
	const char *host = json_string_value(json_object_get(node, "hostPath"));
	const char *type = json_string_value(json_object_get(node, "type"));
	const char *perms = json_string_value(json_object_get(node, "permissions"));
	json_t *linux_ = obj_child(config, "linux", false), *devices = obj_child(linux_, "devices", true);
	json_t *rules = obj_child(obj_child(linux_, "resources", false), "devices", true);
	json_t *d, *rule, *v;
	json_int_t major, minor;
	struct stat st = {};
	size_t i;

	if (!path || path[0] != '/')
		return za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, EINVAL,
		                     "CDI device '%s' has a device node without an absolute 'path'", dev);
	host = host ?: path;
	if (!type || !json_is_integer(json_object_get(node, "major"))) {
		if (stat(host, &st) < 0)
			return za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, errno,
			                     "CDI device '%s': device node '%s' is missing on this host: %m", dev,
			                     host);
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			return za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, ENODEV,
			                     "CDI device '%s': '%s' is not a device node", dev, host);
		type = type ?: S_ISBLK(st.st_mode) ? "b" : "c";
		major = major(st.st_rdev);
		minor = minor(st.st_rdev);
	} else {
		major = json_integer_value(json_object_get(node, "major"));
		minor = json_integer_value(json_object_get(node, "minor"));
	}

	/* a later definition of the same path replaces the earlier one */
	for (i = json_array_size(devices); i-- > 0;) {
		const char *p = json_string_value(json_object_get(json_array_get(devices, i), "path"));
		if (p && streq(p, path))
			json_array_remove(devices, i);
	}
	d = json_object();
	json_object_set_new(d, "path", json_string(path));
	json_object_set_new(d, "type", json_string(type));
	json_object_set_new(d, "major", json_integer(major));
	json_object_set_new(d, "minor", json_integer(minor));
	if ((v = json_object_get(node, "fileMode")) && json_is_integer(v))
		json_object_set(d, "fileMode", v);
	else if (st.st_mode)
		json_object_set_new(d, "fileMode", json_integer(st.st_mode & 07777));
	if ((v = json_object_get(node, "uid")) && json_is_integer(v))
		json_object_set(d, "uid", v);
	if ((v = json_object_get(node, "gid")) && json_is_integer(v))
		json_object_set(d, "gid", v);
	json_array_append_new(devices, d);

	rule = json_object();
	json_object_set_new(rule, "allow", json_true());
	json_object_set_new(rule, "type", json_string(type));
	json_object_set_new(rule, "major", json_integer(major));
	json_object_set_new(rule, "minor", json_integer(minor));
	json_object_set_new(rule, "access", json_string(isempty(perms) ? "rwm" : perms));
	json_array_append_new(rules, rule);
	return 0;
}

static int apply_mount(json_t *config, const char *dev, json_t *m, struct za_error **reterr) {
	const char *host = json_string_value(json_object_get(m, "hostPath"));
	const char *target = json_string_value(json_object_get(m, "containerPath"));
	const char *type = json_string_value(json_object_get(m, "type"));
	json_t *opts = json_object_get(m, "options"), *o = json_object();

	if (!host || !target || target[0] != '/') {
		json_decref(o);
		return za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, EINVAL,
		                     "CDI device '%s' has a mount without 'hostPath' or an absolute 'containerPath'",
		                     dev);
	}
	json_object_set_new(o, "destination", json_string(target));
	json_object_set_new(o, "type", json_string(type ?: "bind"));
	json_object_set_new(o, "source", json_string(host));
	if (json_is_array(opts))
		json_object_set(o, "options", opts);
	else if (!type || streq(type, "bind"))
		json_object_set_new(o, "options", json_pack("[s]", "rbind"));
	json_array_append_new(obj_child(config, "mounts", true), o);
	return 0;
}

static void apply_hook(json_t *config, json_t *h) {
	static const char *const names[] = { "prestart",       "createRuntime", "createContainer",
		                             "startContainer", "poststart",     "poststop" };
	const char *name = json_string_value(json_object_get(h, "hookName"));
	const char *path = json_string_value(json_object_get(h, "path"));
	json_t *o, *v;

	if (!name || !path)
		return;
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		if (!streq(names[i], name))
			continue;
		o = json_object();
		json_object_set_new(o, "path", json_string(path));
		if ((v = json_object_get(h, "args")) && json_is_array(v))
			json_object_set(o, "args", v);
		if ((v = json_object_get(h, "env")) && json_is_array(v))
			json_object_set(o, "env", v);
		if ((v = json_object_get(h, "timeout")) && json_is_integer(v) && json_integer_value(v) > 0)
			json_object_set(o, "timeout", v);
		json_array_append_new(obj_child(obj_child(config, "hooks", false), name, true), o);
		return;
	}
	log_debug("cdi: ignoring hook '%s' of unknown kind", name);
}

static int apply_edits(json_t *config, const char *dev, json_t *edits, struct za_error **reterr) {
	json_t *v;
	size_t i;
	int r;

	if (!json_is_object(edits))
		return 0;
	json_array_foreach(json_object_get(edits, "env"), i,
	                   v) if (json_is_string(v) && strchr(json_string_value(v), '='))
	        env_set(config, json_string_value(v));
	json_array_foreach(json_object_get(edits, "deviceNodes"), i, v) {
		r = apply_device_node(config, dev, v, reterr);
		if (r < 0)
			return r;
	}
	json_array_foreach(json_object_get(edits, "mounts"), i, v) {
		r = apply_mount(config, dev, v, reterr);
		if (r < 0)
			return r;
	}
	json_array_foreach(json_object_get(edits, "hooks"), i, v) apply_hook(config, v);
	json_array_foreach(json_object_get(edits, "additionalGids"), i, v) {
		json_t *user = obj_child(obj_child(config, "process", false), "user", false);
		json_t *gids = obj_child(user, "additionalGids", true), *g;
		size_t k;
		bool have = false;

		json_array_foreach(gids, k, g) have = have || json_equal(g, v);
		if (json_is_integer(v) && !have)
			json_array_append(gids, v);
	}
	return 0;
}

static char *dirs_list(char *const *dirs) {
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; dirs[i]; i++) {
		if (i > 0)
			strbuf_addstr(&sb, dirs[i + 1] ? ", " : " or ");
		strbuf_addstr(&sb, dirs[i]);
	}
	return strbuf_detach(&sb, NULL);
}

static char *invalid_note(const struct cdi_registry *reg) {
	if (strv_length(reg->invalid) == 0)
		return xstrdup("");
	return xasprintf(" (skipped invalid spec %s%s)", reg->invalid[0],
	                 strv_length(reg->invalid) > 1 ? " and others" : "");
}

static int inject_loaded(struct cdi_registry *reg, json_t *config, char *const *devices, char *const *dirs,
                         struct za_error **reterr) {
	STRV_FOREACH (d, (char **)devices) {
		const char *eq = strchr(*d, '=');
		_cleanup_free_ char *kind = eq ? xstrndup(*d, (size_t)(eq - *d)) : NULL;
		struct cdi_spec *spec = NULL;
		json_t *dev;
		int r;

		if (!eq || !strchr(kind, '/') || isempty(eq + 1))
			return za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, EINVAL,
			                     "invalid CDI device name '%s' (expected vendor.com/class=name)", *d);
		dev = registry_find(reg, kind, eq + 1, &spec);
		if (!dev) {
			_cleanup_free_ char *where = dirs_list(dirs), *note = invalid_note(reg);
			return za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, ENODEV,
			                     "CDI device '%s' is not defined by any spec in %s%s", *d, where, note);
		}
		if (!spec->applied) {
			spec->applied = true;
			r = apply_edits(config, *d, json_object_get(spec->root, "containerEdits"), reterr);
			if (r < 0)
				return r;
		}
		r = apply_edits(config, *d, json_object_get(dev, "containerEdits"), reterr);
		if (r < 0)
			return r;
	}
	return 0;
}

int cdi_inject(json_t *config, char *const *devices, char *const *dirs, struct za_error **reterr) {
	struct cdi_registry reg = {};
	int r;

	dirs = dirs ?: (char *const *)cdi_default_dirs;
	r = registry_load(&reg, dirs, reterr);
	if (r >= 0)
		r = inject_loaded(&reg, config, devices, dirs, reterr);
	cdi_registry_release(&reg);
	return r;
}

static bool all_digits(const char *s) {
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static int compare_index(const void *a, const void *b) {
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);

	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x, y);
}

/* The device names of `kind`: by index ("0", "1", ...) when the specs have
 * indexes (their UUID and "all" names alias the same GPUs), else all but
 * "all" in spec order. */
static char **gpu_candidates(const struct cdi_registry *reg, const char *kind) {
	_cleanup_strv_free_ char **indexed = xnew(char *, 1), **named = xnew(char *, 1);

	for (size_t i = 0; i < reg->n; i++) {
		json_t *d;
		size_t k;

		if (!streq(reg->specs[i].kind, kind))
			continue;
		json_array_foreach(json_object_get(reg->specs[i].root, "devices"), k, d) {
			const char *n = json_string_value(json_object_get(d, "name"));
			char ***l;
			bool have = false;

			if (!n || streq(n, "all"))
				continue;
			l = all_digits(n) ? &indexed : &named;
			STRV_FOREACH (x, *l)
				have = have || streq(*x, n);
			if (!have)
				strv_push(l, n);
		}
	}
	if (strv_length(indexed) > 0) {
		qsort(indexed, strv_length(indexed), sizeof(char *), compare_index);
		return TAKE_PTR(indexed);
	}
	return TAKE_PTR(named);
}

static int mps_setup(json_t *config, const struct spec_gpu *gpu, struct za_error **reterr) {
	const char *pipe = gpu->mps_pipe_dir ?: CDI_MPS_PIPE_DIR;
	json_t *ns, *mounts, *m, *n;
	struct stat st;
	size_t i;

	if (gpu->vendor != SPEC_GPU_VENDOR_NVIDIA)
		return za_error_make(reterr, ZA_ERROR_GPU_SHARING_UNAVAILABLE, ENOTSUP,
		                     "gpu sharing 'mps' is only available for nvidia GPUs, not '%s'",
		                     spec_gpu_vendor_to_string(gpu->vendor));
	if (stat(pipe, &st) < 0 || !S_ISDIR(st.st_mode))
		return za_error_make(reterr, ZA_ERROR_GPU_SHARING_UNAVAILABLE, ENOENT,
		                     "gpu sharing 'mps' needs the MPS pipe directory '%s', which does not exist: start "
		                     "the MPS control daemon (nvidia-cuda-mps-control -d) or set "
		                     "resources.gpu.mps_pipe_dir",
		                     pipe);
	if (gpu->mps_log_dir && (stat(gpu->mps_log_dir, &st) < 0 || !S_ISDIR(st.st_mode)))
		return za_error_make(reterr, ZA_ERROR_GPU_SHARING_UNAVAILABLE, ENOENT,
		                     "gpu sharing 'mps' needs the MPS log directory '%s', which does not exist",
		                     gpu->mps_log_dir);

	mounts = obj_child(config, "mounts", true);
	for (const char *const *dir = (const char *const[]){ pipe, gpu->mps_log_dir, NULL }; *dir; dir++) {
		m = json_pack("{s:s, s:s, s:s, s:[s,s,s]}", "destination", *dir, "type", "bind", "source", *dir,
		              "options", "rbind", "nosuid", "nodev");
		json_array_append_new(mounts, m);
	}
	{
		_cleanup_free_ char *e = xasprintf("CUDA_MPS_PIPE_DIRECTORY=%s", pipe);
		env_set(config, e);
	}
	if (gpu->mps_log_dir) {
		_cleanup_free_ char *e = xasprintf("CUDA_MPS_LOG_DIRECTORY=%s", gpu->mps_log_dir);
		env_set(config, e);
	}

	/* host IPC: drop the namespace, share the host's /dev/shm and mqueue */
	ns = json_object_get(json_object_get(config, "linux"), "namespaces");
	for (i = json_array_size(ns); i-- > 0;) {
		const char *t = json_string_value(json_object_get(json_array_get(ns, i), "type"));
		if (t && streq(t, "ipc"))
			json_array_remove(ns, i);
	}
	json_array_foreach(mounts, i, n) {
		const char *dest = json_string_value(json_object_get(n, "destination"));
		if (!dest || (!streq(dest, "/dev/shm") && !streq(dest, "/dev/mqueue")))
			continue;
		json_array_set_new(mounts, i,
		                   json_pack("{s:s, s:s, s:s, s:[s,s,s,s]}", "destination", dest, "type", "bind",
		                             "source", dest, "options", "rbind", "nosuid", "nodev", "noexec"));
	}
	return 0;
}

int cdi_apply_gpu(json_t *config, const struct spec_gpu *gpu, char *const *names, char *const *dirs,
                  char ***ret_devices, struct za_error **reterr) {
	_cleanup_strv_free_ char **candidates = NULL, **devices = xnew(char *, 1);
	_cleanup_free_ char *where = NULL, *note = NULL;
	struct cdi_registry reg = {};
	const char *kind = cdi_gpu_kind(gpu->vendor);
	size_t have;
	int r;

	if (gpu->count == 0) {
		if (ret_devices)
			*ret_devices = TAKE_PTR(devices);
		return 0;
	}
	if (!kind)
		return za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, EINVAL, "unknown gpu vendor");
	dirs = dirs ?: (char *const *)cdi_default_dirs;
	where = dirs_list(dirs);
	r = registry_load(&reg, dirs, reterr);
	if (r < 0)
		goto out;
	note = invalid_note(&reg);
	candidates = names ? strv_copy(names) : gpu_candidates(&reg, kind);
	have = strv_length(candidates);
	if (have == 0) {
		r = za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, ENODEV,
		                  "%" PRIu32 " '%s' requested but no CDI spec in %s defines one%s: %s", gpu->count,
		                  kind, where, note,
		                  gpu->vendor == SPEC_GPU_VENDOR_NVIDIA
		                          ? "generate one with 'nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml'"
		                          : "install the vendor's CDI spec generator and write its spec there");
		goto out;
	}
	if (have < gpu->count) {
		r = za_error_make(reterr, ZA_ERROR_GPU_UNAVAILABLE, ENODEV,
		                  "%" PRIu32 " '%s' requested but the CDI specs in %s define only %zu%s", gpu->count,
		                  kind, where, have, note);
		goto out;
	}
	for (size_t i = 0; i < gpu->count; i++) {
		_cleanup_free_ char *q = xasprintf("%s=%s", kind, candidates[i]);
		strv_push(&devices, q);
	}
	r = inject_loaded(&reg, config, devices, dirs, reterr);
	if (r < 0)
		goto out;
	if (gpu->sharing == SPEC_GPU_SHARING_MPS) {
		r = mps_setup(config, gpu, reterr);
		if (r < 0)
			goto out;
	}
	if (ret_devices)
		*ret_devices = TAKE_PTR(devices);
	r = 0;
out:
	cdi_registry_release(&reg);
	return r;
}
