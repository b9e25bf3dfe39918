/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "spec/spec-internal.h"
#include "basic/banned.h"

#define SPEC_DEFINE_STRING_TABLE(name, type, max, ...)                              \
	const char *const name##_table[max] = { __VA_ARGS__ };                      \
	const char *name##_to_string(type v) {                                      \
		return (int)v >= 0 && (int)v < (int)(max) ? name##_table[v] : NULL; \
	}                                                                           \
	type name##_from_string(const char *s) {                                    \
		for (int i = 0; s && i < (int)(max); i++)                           \
			if (name##_table[i] && streq(name##_table[i], s))           \
				return (type)i;                                     \
		return (type)-1;                                                    \
	}

SPEC_DEFINE_STRING_TABLE(spec_rtype, enum spec_rtype, _SPEC_RTYPE_MAX, "service", "job", "cron")
SPEC_DEFINE_STRING_TABLE(spec_pull_policy, enum spec_pull_policy, _SPEC_PULL_POLICY_MAX, "always", "newer",
                         "if_not_present", "never")
SPEC_DEFINE_STRING_TABLE(spec_os, enum spec_os, _SPEC_OS_MAX, "linux", "windows", "macos", "wasi")
SPEC_DEFINE_STRING_TABLE(spec_arch, enum spec_arch, _SPEC_ARCH_MAX, "amd64", "arm64", "wasm32")
SPEC_DEFINE_STRING_TABLE(spec_scale_mode, enum spec_scale_mode, _SPEC_SCALE_MODE_MAX, "adaptive", "fixed", "manual")
SPEC_DEFINE_STRING_TABLE(spec_protocol, enum spec_protocol, _SPEC_PROTOCOL_MAX, "http", "https", "tcp", "udp",
                         "websocket")
SPEC_DEFINE_STRING_TABLE(spec_expose, enum spec_expose, _SPEC_EXPOSE_MAX, "internal", "public")
SPEC_DEFINE_STRING_TABLE(spec_ip_protocol, enum spec_ip_protocol, _SPEC_IP_PROTOCOL_MAX, "tcp", "udp")
SPEC_DEFINE_STRING_TABLE(spec_condition, enum spec_condition, _SPEC_CONDITION_MAX, "started", "healthy", "ready")
SPEC_DEFINE_STRING_TABLE(spec_on_failure, enum spec_on_failure, _SPEC_ON_FAILURE_MAX, "fail", "warn", "continue")
/* "none" is never written by users: it is what a service without health spec
 * and without an endpoint to probe gets. */
SPEC_DEFINE_STRING_TABLE(spec_check_type, enum spec_check_type, _SPEC_CHECK_TYPE_MAX, "tcp", "http", "command", NULL)
SPEC_DEFINE_STRING_TABLE(spec_init_action, enum spec_init_action, _SPEC_INIT_ACTION_MAX, "init.wait_tcp",
                         "init.wait_http", "init.run")
SPEC_DEFINE_STRING_TABLE(spec_init_failure_action, enum spec_init_failure_action, _SPEC_INIT_FAILURE_ACTION_MAX, "fail",
                         "restart", "backoff")
SPEC_DEFINE_STRING_TABLE(spec_panic_action, enum spec_panic_action, _SPEC_PANIC_ACTION_MAX, "restart", "shutdown",
                         "isolate")
SPEC_DEFINE_STRING_TABLE(spec_restart_kind, enum spec_restart_kind, _SPEC_RESTART_KIND_MAX, "no", "always",
                         "unless_stopped", "on_failure")
SPEC_DEFINE_STRING_TABLE(spec_storage_type, enum spec_storage_type, _SPEC_STORAGE_TYPE_MAX, "bind", "named",
                         "anonymous", "tmpfs")
SPEC_DEFINE_STRING_TABLE(spec_network_mode, enum spec_network_mode, _SPEC_NETWORK_MODE_MAX, "bridge", "host", "none")
SPEC_DEFINE_STRING_TABLE(spec_service_type, enum spec_service_type, _SPEC_SERVICE_TYPE_MAX, "standard", "wasm",
                         "wasm_http")
SPEC_DEFINE_STRING_TABLE(spec_gpu_sharing, enum spec_gpu_sharing, _SPEC_GPU_SHARING_MAX, "exclusive", "mps",
                         "time-slice")
SPEC_DEFINE_STRING_TABLE(spec_gpu_vendor, enum spec_gpu_vendor, _SPEC_GPU_VENDOR_MAX, "nvidia", "amd", "intel")
SPEC_DEFINE_STRING_TABLE(spec_concurrency, enum spec_concurrency, _SPEC_CONCURRENCY_MAX, "forbid", "allow", "replace")

void spec_diagnostics_init(struct spec_diagnostics *d, const char *file) {
	*d = (struct spec_diagnostics){ .file = xstrdup(file ? file : "<input>") };
}

void spec_diagnostics_release(struct spec_diagnostics *d) {
	for (size_t i = 0; i < d->n; i++) {
		free(d->items[i].path);
		free(d->items[i].message);
	}
	free(d->items);
	free(d->file);
	*d = (struct spec_diagnostics){};
}

/* Collect more than are shown, so that after sorting by position the ones
 * shown are the first SPEC_MAX_DIAGNOSTICS of the file, not the first found;
 * still bounded, a hostile spec can produce one per node. */
#define SPEC_DIAGNOSTICS_COLLECT_MAX (SPEC_MAX_DIAGNOSTICS * 20)

void spec_diagnostics_add(struct spec_diagnostics *d, unsigned line, unsigned col, const char *path, const char *fmt,
                          ...) {
	struct spec_diag *item;
	va_list ap;

	d->n_found++;
	if (d->n >= SPEC_DIAGNOSTICS_COLLECT_MAX) {
		d->truncated = true;
		return;
	}
	GROW(d->items, d->alloc, d->n + 1);
	item = &d->items[d->n];
	item->line = line;
	item->col = col;
	item->path = isempty(path) ? NULL : xstrdup(path);
	item->seq = d->n++;
	va_start(ap, fmt);
	item->message = xvasprintf(fmt, ap);
	va_end(ap);
}

char *spec_diag_format(const struct spec_diagnostics *d, const struct spec_diag *item) {
	const char *file = d->file ? d->file : "<input>";

	if (item->line == 0)
		return item->path ? xasprintf("%s: %s: %s", file, item->path, item->message)
		                  : xasprintf("%s: %s", file, item->message);
	return item->path ? xasprintf("%s:%u:%u: %s: %s", file, item->line, item->col, item->path, item->message)
	                  : xasprintf("%s:%u:%u: %s", file, item->line, item->col, item->message);
}

static int diag_compare(const void *a, const void *b) {
	const struct spec_diag *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort by position and keep the first SPEC_MAX_DIAGNOSTICS. */
static void spec_diagnostics_finish(struct spec_diagnostics *d) {
	qsort(d->items, d->n, sizeof(struct spec_diag), diag_compare);
	while (d->n > SPEC_MAX_DIAGNOSTICS) {
		d->n--;
		free(d->items[d->n].path);
		free(d->items[d->n].message);
		d->truncated = true;
	}
}

static void spec_parse_root(struct spec_diagnostics *d, const struct ynode *root, struct spec_deployment *dep) {
	static const char *const allowed[] = { "version", "deployment", "services", NULL };
	struct sect s;
	const struct ynode *services;
	int r;

	if (!root) {
		spec_error(d, NULL, NULL,
		           "file is empty; expected a deployment spec with 'version', 'deployment' and "
		           "'services'");
		return;
	}
	if (root->type != YNODE_MAPPING) {
		spec_error(d, root, NULL,
		           "expected a mapping with 'version', 'deployment' and 'services' at the top level, got %s",
		           ynode_describe(root));
		return;
	}
	if (!sect_open(&s, d, root, "", "the top level", allowed))
		return;

	r = sect_string(&s, "version", &dep->version);
	if (r == 0)
		sect_missing(&s, "version");
	else if (r > 0 && !streq(dep->version, "v1"))
		spec_error(d, sect_get(&s, "version"), "version", "unsupported version '%s' (expected v1)",
		           dep->version);

	r = sect_string(&s, "deployment", &dep->name);
	if (r == 0)
		sect_missing(&s, "deployment");
	else if (r > 0 && !spec_valid_name(dep->name, 3, 63))
		spec_error(
		        d, sect_get(&s, "deployment"), "deployment",
		        "invalid deployment name '%s' (expected 3-63 characters of a-z, 0-9 and '-', starting with a "
		        "letter or digit and not ending with '-')",
		        dep->name);

	services = sect_get(&s, "services");
	if (!services) {
		sect_missing(&s, "services");
		return;
	}
	if (services->type != YNODE_MAPPING) {
		spec_error(d, services, "services", "expected a mapping of service names to services, got %s",
		           ynode_describe(services));
		return;
	}
	if (services->n == 0) {
		spec_error(d, services, "services", "no services defined; a deployment needs at least one");
		return;
	}
	dep->services = xnew(struct spec_service, services->n);
	dep->n_services = services->n;
	for (size_t i = 0; i < services->n; i++)
		spec_parse_service(d, services->keys[i], services->items[i], &dep->services[i]);

	spec_validate_deployment(d, root, dep);
}

int spec_load_string(const char *name, const char *buf, size_t len, struct spec_deployment **ret,
                     struct spec_diagnostics *diags, struct za_error **reterr) {
	_cleanup_(spec_deployment_freep) struct spec_deployment *dep = NULL;
	_cleanup_(ynode_freep) struct ynode *root = NULL;
	struct spec_diagnostics local;
	_cleanup_free_ char *message = NULL, *first = NULL, *more = NULL;
	unsigned line = 0, col = 0;
	int r;

	if (!name)
		name = "<input>";
	if (!diags)
		diags = &local;
	spec_diagnostics_init(diags, name);

	if (len > SPEC_MAX_FILE_SIZE)
		spec_error(diags, NULL, NULL, "file is larger than %u bytes", SPEC_MAX_FILE_SIZE);
	else if (memchr(buf, '\0', len))
		spec_error(diags, NULL, NULL, "file contains NUL bytes; expected YAML text");
	else if ((r = yaml_tree_parse(buf, len, &root, &line, &col, &message)) < 0)
		spec_diagnostics_add(diags, line, col, NULL, "invalid YAML: %s", message);
	else {
		dep = xnew(struct spec_deployment, 1);
		dep->file = xstrdup(name);
		spec_parse_root(diags, root, dep);
	}

	if (diags->n > 0) {
		spec_diagnostics_finish(diags);
		first = spec_diag_format(diags, &diags->items[0]);
		if (diags->n > 1)
			more = xasprintf(" (and %zu more%s)", diags->n - 1,
			                 diags->truncated ? "; stopped counting" : "");
		r = za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "%s%s", first, strempty(more));
		if (diags == &local)
			spec_diagnostics_release(&local);
		return r;
	}
	if (diags == &local)
		spec_diagnostics_release(&local);
	*ret = TAKE_PTR(dep);
	return 0;
}

int spec_load_file(const char *path, struct spec_deployment **ret, struct spec_diagnostics *diags,
                   struct za_error **reterr) {
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = read_full_file(path, SPEC_MAX_FILE_SIZE, &buf, &len);
	if (r < 0) {
		if (diags) {
			spec_diagnostics_init(diags, path);
			if (r == -EFBIG)
				spec_error(diags, NULL, NULL, "file is larger than %u bytes", SPEC_MAX_FILE_SIZE);
			else
				spec_error(diags, NULL, NULL, "cannot read file: %s", strerror(-r));
		}
		if (r == -ENOENT)
			return za_error_make(reterr, ZA_ERROR_NOT_FOUND, -r, "spec file '%s' does not exist", path);
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, -r, "cannot read spec file '%s': %m", path);
	}
	return spec_load_string(path, buf, len, ret, diags, reterr);
}

const struct spec_service *spec_find_service(const struct spec_deployment *d, const char *name) {
	for (size_t i = 0; i < d->n_services; i++)
		if (d->services[i].name && streq(d->services[i].name, name))
			return &d->services[i];
	return NULL;
}

struct spec_deployment *spec_deployment_free(struct spec_deployment *d) {
	if (!d)
		return NULL;
	for (size_t i = 0; i < d->n_services; i++)
		spec_service_release(&d->services[i]);
	free(d->services);
	free(d->start_order);
	free(d->file);
	free(d->version);
	free(d->name);
	free(d);
	return NULL;
}
