/* SPDX-License-Identifier: Apache-2.0 */
/* The bundle of a WebAssembly container, for zlayer-wasm (the contract is
 * at the top of src/runtime/wasm/wasm-oci.c): the guest's argv and env
 * exactly as given (no PATH or HOSTNAME a WASI program never asked for),
 * bind mounts and volumes as preopens, the cgroup limits, and the module,
 * cache and limits as annotations. */
#include <inttypes.h>
#include <jansson.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "runtime/bundle.h"
#include "basic/banned.h"

static json_t *strv_json(char *const *l) {
	json_t *a = json_array();

	for (char *const *p = l; p && *p; p++)
		json_array_append_new(a, json_string(*p));
	return a;
}

int bundle_write_wasm(const struct bundle_wasm_options *o, struct za_error **reterr) {
	const struct container_config *cfg = o->cfg;
	_cleanup_free_ char *config_path = NULL, *text = NULL, *name = NULL;
	_cleanup_strv_free_ char **args = NULL;
	_cleanup_(json_decrefp) json_t *mounts = json_array(), *res = json_object(), *ann = json_object();
	_cleanup_(json_decrefp) json_t *proc = NULL;
	json_t *config;
	const char *base;
	int r;

	r = mkdir_p(o->bundle_dir, 0700);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot create the bundle directory: %m");
	/* argv[0] is the module's name, as a WASI command expects */
	base = strrchr(o->module_path, '/') ? strrchr(o->module_path, '/') + 1 : o->module_path;
	name = xstrdup(o->argv0 ? o->argv0 : base);
	strv_push(&args, name);
	for (char *const *a = o->args; a && *a; a++)
		strv_push(&args, *a);

	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct container_mount *m = &cfg->mounts[i];
		_cleanup_free_ char *src = NULL;
		json_t *opts;

		if (m->type == CONTAINER_MOUNT_TMPFS)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "tmpfs mount '%s': WebAssembly containers get directories only (bind or "
			                     "named volumes)",
			                     m->target);
		if (m->type == CONTAINER_MOUNT_VOLUME) {
			src = xasprintf("%s/%s/_data", o->volumes_dir, m->source);
			(void)mkdir_p(src, 0755);
		} else {
			struct stat st;
			src = xstrdup(m->source);
			if (stat(src, &st) < 0 || !S_ISDIR(st.st_mode))
				return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, errno ? errno : ENOTDIR,
				                     "preopen '%s': '%s' is not a directory", m->target, src);
		}
		opts = json_pack("[s, s]", "rbind", "rprivate");
		if (m->readonly)
			json_array_append_new(opts, json_string("ro"));
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:o}", "destination", m->target, "type",
		                                        "bind", "source", src, "options", opts));
	}

	if (cfg->resources.memory)
		json_object_set_new(res, "memory", json_pack("{s:I}", "limit", (json_int_t)cfg->resources.memory));
	if (cfg->resources.cpu > 0)
		json_object_set_new(res, "cpu",
		                    json_pack("{s:I, s:I}", "quota", (json_int_t)(cfg->resources.cpu * 100000.0),
		                              "period", (json_int_t)100000));
	if (cfg->resources.pids_limit > 0)
		json_object_set_new(res, "pids", json_pack("{s:I}", "limit", (json_int_t)cfg->resources.pids_limit));

	json_object_set_new(ann, "io.zlayer.wasm.module", json_string(o->module_path));
	if (o->cache_dir)
		json_object_set_new(ann, "io.zlayer.wasm.cache_dir", json_string(o->cache_dir));
	if (o->max_memory) {
		char *v = xasprintf("%" PRIu64, o->max_memory);
		json_object_set_new(ann, "io.zlayer.wasm.max_memory", json_string(v));
		free(v);
	}
	if (o->timeout_nsec) {
		char *v = xasprintf("%" PRIu64, o->timeout_nsec);
		json_object_set_new(ann, "io.zlayer.wasm.timeout_ns", json_string(v));
		free(v);
	}

	proc = json_pack("{s:b, s:o, s:o, s:s}", "terminal", cfg->tty, "args", strv_json(args), "env",
	                 strv_json(cfg->env), "cwd", "/");
	config = json_pack("{s:s, s:O, s:{s:s, s:b}, s:s, s:O, s:{s:s, s:O}, s:O}", "ociVersion", "1.0.2", "process",
	                   proc, "root", "path", o->rootfs, "readonly", true, "hostname", cfg->id, "mounts", mounts,
	                   "linux", "cgroupsPath", o->cgroups_path, "resources", res, "annotations", ann);
	text = json_dumps(config, JSON_INDENT(1));
	json_decref(config);
	config_path = xasprintf("%s/config.json", o->bundle_dir);
	r = write_file_replace(config_path, text, strlen(text), 0600);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot write '%s': %m", config_path);
	log_debug("wasm bundle for '%s' written to %s (module %s)", cfg->id, o->bundle_dir, o->module_path);
	return 0;
}
