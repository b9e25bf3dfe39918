/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the spec parser's files only: the binding helpers that turn
 * YAML nodes into typed values and report each problem once, with the
 * node's position and the key path. */
#pragma once

#include "basic/macro.h"
#include "spec/spec.h"
#include "spec/yaml-tree.h"

#define SPEC_EXTERN_TABLE(name, max) extern const char *const name##_table[max];
SPEC_EXTERN_TABLE(spec_rtype, _SPEC_RTYPE_MAX)
SPEC_EXTERN_TABLE(spec_pull_policy, _SPEC_PULL_POLICY_MAX)
SPEC_EXTERN_TABLE(spec_os, _SPEC_OS_MAX)
SPEC_EXTERN_TABLE(spec_arch, _SPEC_ARCH_MAX)
SPEC_EXTERN_TABLE(spec_scale_mode, _SPEC_SCALE_MODE_MAX)
SPEC_EXTERN_TABLE(spec_protocol, _SPEC_PROTOCOL_MAX)
SPEC_EXTERN_TABLE(spec_expose, _SPEC_EXPOSE_MAX)
SPEC_EXTERN_TABLE(spec_ip_protocol, _SPEC_IP_PROTOCOL_MAX)
SPEC_EXTERN_TABLE(spec_condition, _SPEC_CONDITION_MAX)
SPEC_EXTERN_TABLE(spec_on_failure, _SPEC_ON_FAILURE_MAX)
SPEC_EXTERN_TABLE(spec_check_type, _SPEC_CHECK_TYPE_MAX)
SPEC_EXTERN_TABLE(spec_init_action, _SPEC_INIT_ACTION_MAX)
SPEC_EXTERN_TABLE(spec_init_failure_action, _SPEC_INIT_FAILURE_ACTION_MAX)
SPEC_EXTERN_TABLE(spec_panic_action, _SPEC_PANIC_ACTION_MAX)
SPEC_EXTERN_TABLE(spec_restart_kind, _SPEC_RESTART_KIND_MAX)
SPEC_EXTERN_TABLE(spec_storage_type, _SPEC_STORAGE_TYPE_MAX)
SPEC_EXTERN_TABLE(spec_network_mode, _SPEC_NETWORK_MODE_MAX)
SPEC_EXTERN_TABLE(spec_service_type, _SPEC_SERVICE_TYPE_MAX)
SPEC_EXTERN_TABLE(spec_gpu_sharing, _SPEC_GPU_SHARING_MAX)
SPEC_EXTERN_TABLE(spec_gpu_vendor, _SPEC_GPU_VENDOR_MAX)
SPEC_EXTERN_TABLE(spec_concurrency, _SPEC_CONCURRENCY_MAX)

/* A mapping being bound: its node, its key path and how to name it in an
 * "unknown field" message ("service 'web'", "'health' of service 'web'"). */
struct sect {
	struct spec_diagnostics *diags;
	const struct ynode *node;
	const char *path;
	const char *where;
};

char *spec_path_join(const char *path, const char *key);
char *spec_path_index(const char *path, size_t i);

void spec_error(struct spec_diagnostics *d, const struct ynode *at, const char *path, const char *fmt, ...)
        _printf_(4, 5);

/* Check `n` is a mapping (error otherwise) and that it has only the keys in
 * `allowed` (NULL-terminated). Returns false if n is not a mapping. */
bool sect_open(struct sect *s, struct spec_diagnostics *d, const struct ynode *n, const char *path, const char *where,
               const char *const *allowed);
/* The value node of key, NULL when absent or null. */
const struct ynode *sect_get(const struct sect *s, const char *key);
/* Report a missing required key (at the mapping). */
void sect_missing(const struct sect *s, const char *key);

/* Each returns 1 when the key is present and valid, 0 when absent, -1 when
 * present but invalid (already reported). */
int sect_string(const struct sect *s, const char *key, char **ret);
int sect_bool(const struct sect *s, const char *key, bool *ret);
int sect_uint(const struct sect *s, const char *key, uint64_t min, uint64_t max, uint64_t *ret);
int sect_int(const struct sect *s, const char *key, int64_t min, int64_t max, int64_t *ret);
int sect_u32(const struct sect *s, const char *key, uint32_t min, uint32_t max, uint32_t *ret);
int sect_port(const struct sect *s, const char *key, uint16_t min, uint16_t *ret);
int sect_double(const struct sect *s, const char *key, double min, double max, double *ret);
int sect_duration(const struct sect *s, const char *key, uint64_t *ret);
int sect_size(const struct sect *s, const char *key, uint64_t *ret);
int sect_enum(const struct sect *s, const char *key, const char *const *table, size_t n, const char *what, int *ret);
int sect_strv(const struct sect *s, const char *key, char ***ret);
int sect_kv(const struct sect *s, const char *key, struct spec_kv **ret, size_t *ret_n);

#define SECT_ENUM(s, key, name, what, ret)                                                                      \
	({                                                                                                      \
		int _v_ = 0, _r_ = sect_enum((s), (key), name##_table, ELEMENTSOF(name##_table), (what), &_v_); \
		if (_r_ > 0)                                                                                    \
			*(ret) = _v_;                                                                           \
		_r_;                                                                                            \
	})

/* Binding of a whole node (used for list items and map values). */
bool bind_string(struct spec_diagnostics *d, const struct ynode *n, const char *path, char **ret);
bool bind_uint(struct spec_diagnostics *d, const struct ynode *n, const char *path, uint64_t min, uint64_t max,
               uint64_t *ret);
bool bind_int(struct spec_diagnostics *d, const struct ynode *n, const char *path, int64_t min, int64_t max,
              int64_t *ret);
/* n must be a list; reports otherwise. */
bool bind_list(struct spec_diagnostics *d, const struct ynode *n, const char *path);

/* Names: DNS-label-like [a-z0-9-], starting alphanumeric, not ending in
 * '-', length within [min, max]. */
bool spec_valid_name(const char *s, size_t min, size_t max);
/* Levenshtein-close member of `allowed`, for "did you mean" hints. */
const char *spec_suggest(const char *s, const char *const *allowed);
char *spec_join_table(const char *const *table, size_t n);

bool spec_valid_ip(const char *s);

/* Binding one service (spec-parse.c, spec-parse-container.c). */
struct svc_ctx {
	struct spec_diagnostics *d;
	struct spec_service *svc;
	const char *path; /* "services.web" */
};
/* Open a nested mapping of the service at `path`; *ret_where names it. */
bool svc_open(const struct svc_ctx *c, struct sect *s, const struct ynode *n, const char *path,
              const char *const *allowed, char **ret_where);
/* The Docker-style container options of the service mapping `s`. */
void spec_parse_container_options(const struct svc_ctx *c, const struct sect *s);

void spec_parse_service(struct spec_diagnostics *d, const struct ynode *key, const struct ynode *n,
                        struct spec_service *svc);
void spec_service_release(struct spec_service *svc);
/* Cross-field and cross-service checks (spec-validate.c) */
void spec_validate_deployment(struct spec_diagnostics *d, const struct ynode *root, struct spec_deployment *dep);
