/* SPDX-License-Identifier: Apache-2.0 */
/* The deployment spec (../shared/docs/spec-reference.md) as validated C
 * structs with every default applied. spec_load_*() owns parsing and
 * validation; what it returns is complete and consistent, or it returns
 * diagnostics (file:line:col: path: message, at most SPEC_MAX_DIAGNOSTICS). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "image/reference.h"
#include "spec/cron.h"

#define SPEC_MAX_DIAGNOSTICS 50
#define SPEC_MAX_FILE_SIZE   (4u * 1024 * 1024)

enum spec_rtype { SPEC_RTYPE_SERVICE, SPEC_RTYPE_JOB, SPEC_RTYPE_CRON, _SPEC_RTYPE_MAX, _SPEC_RTYPE_INVALID = -1 };
enum spec_pull_policy {
	SPEC_PULL_ALWAYS,
	SPEC_PULL_NEWER,
	SPEC_PULL_IF_NOT_PRESENT,
	SPEC_PULL_NEVER,
	_SPEC_PULL_POLICY_MAX,
	_SPEC_PULL_POLICY_INVALID = -1,
};
enum spec_os { SPEC_OS_LINUX, SPEC_OS_WINDOWS, SPEC_OS_MACOS, SPEC_OS_WASI, _SPEC_OS_MAX, _SPEC_OS_INVALID = -1 };
enum spec_arch { SPEC_ARCH_AMD64, SPEC_ARCH_ARM64, SPEC_ARCH_WASM32, _SPEC_ARCH_MAX, _SPEC_ARCH_INVALID = -1 };
enum spec_scale_mode {
	SPEC_SCALE_ADAPTIVE,
	SPEC_SCALE_FIXED,
	SPEC_SCALE_MANUAL,
	_SPEC_SCALE_MODE_MAX,
	_SPEC_SCALE_MODE_INVALID = -1,
};
enum spec_protocol {
	SPEC_PROTOCOL_HTTP,
	SPEC_PROTOCOL_HTTPS,
	SPEC_PROTOCOL_TCP,
	SPEC_PROTOCOL_UDP,
	SPEC_PROTOCOL_WEBSOCKET,
	_SPEC_PROTOCOL_MAX,
	_SPEC_PROTOCOL_INVALID = -1,
};
enum spec_expose { SPEC_EXPOSE_INTERNAL, SPEC_EXPOSE_PUBLIC, _SPEC_EXPOSE_MAX, _SPEC_EXPOSE_INVALID = -1 };
enum spec_ip_protocol { SPEC_IP_TCP, SPEC_IP_UDP, _SPEC_IP_PROTOCOL_MAX, _SPEC_IP_PROTOCOL_INVALID = -1 };
enum spec_condition {
	SPEC_CONDITION_STARTED,
	SPEC_CONDITION_HEALTHY,
	SPEC_CONDITION_READY,
	_SPEC_CONDITION_MAX,
	_SPEC_CONDITION_INVALID = -1,
};
/* on_timeout of a dependency and on_failure of an init step */
enum spec_on_failure {
	SPEC_ON_FAILURE_FAIL,
	SPEC_ON_FAILURE_WARN,
	SPEC_ON_FAILURE_CONTINUE,
	_SPEC_ON_FAILURE_MAX,
	_SPEC_ON_FAILURE_INVALID = -1,
};
enum spec_check_type {
	SPEC_CHECK_TCP,
	SPEC_CHECK_HTTP,
	SPEC_CHECK_COMMAND,
	SPEC_CHECK_NONE, /* only by default: no health spec and nothing to probe */
	_SPEC_CHECK_TYPE_MAX,
	_SPEC_CHECK_TYPE_INVALID = -1,
};
enum spec_init_action {
	SPEC_INIT_WAIT_TCP,
	SPEC_INIT_WAIT_HTTP,
	SPEC_INIT_RUN,
	_SPEC_INIT_ACTION_MAX,
	_SPEC_INIT_ACTION_INVALID = -1,
};
enum spec_init_failure_action {
	SPEC_INIT_FAILURE_FAIL,
	SPEC_INIT_FAILURE_RESTART,
	SPEC_INIT_FAILURE_BACKOFF,
	_SPEC_INIT_FAILURE_ACTION_MAX,
	_SPEC_INIT_FAILURE_ACTION_INVALID = -1,
};
enum spec_panic_action {
	SPEC_PANIC_RESTART,
	SPEC_PANIC_SHUTDOWN,
	SPEC_PANIC_ISOLATE,
	_SPEC_PANIC_ACTION_MAX,
	_SPEC_PANIC_ACTION_INVALID = -1,
};
enum spec_restart_kind {
	SPEC_RESTART_NO,
	SPEC_RESTART_ALWAYS,
	SPEC_RESTART_UNLESS_STOPPED,
	SPEC_RESTART_ON_FAILURE,
	_SPEC_RESTART_KIND_MAX,
	_SPEC_RESTART_KIND_INVALID = -1,
};
enum spec_storage_type {
	SPEC_STORAGE_BIND,
	SPEC_STORAGE_NAMED,
	SPEC_STORAGE_ANONYMOUS,
	SPEC_STORAGE_TMPFS,
	_SPEC_STORAGE_TYPE_MAX,
	_SPEC_STORAGE_TYPE_INVALID = -1,
};
enum spec_network_mode {
	SPEC_NETWORK_BRIDGE,
	SPEC_NETWORK_HOST,
	SPEC_NETWORK_NONE,
	_SPEC_NETWORK_MODE_MAX,
	_SPEC_NETWORK_MODE_INVALID = -1,
};
enum spec_service_type {
	SPEC_SERVICE_TYPE_STANDARD,
	SPEC_SERVICE_TYPE_WASM,
	SPEC_SERVICE_TYPE_WASM_HTTP,
	_SPEC_SERVICE_TYPE_MAX,
	_SPEC_SERVICE_TYPE_INVALID = -1,
};
enum spec_gpu_sharing {
	SPEC_GPU_SHARING_EXCLUSIVE,
	SPEC_GPU_SHARING_MPS,
	SPEC_GPU_SHARING_TIME_SLICE,
	_SPEC_GPU_SHARING_MAX,
	_SPEC_GPU_SHARING_INVALID = -1,
};
enum spec_gpu_vendor {
	SPEC_GPU_VENDOR_NVIDIA,
	SPEC_GPU_VENDOR_AMD,
	SPEC_GPU_VENDOR_INTEL,
	_SPEC_GPU_VENDOR_MAX,
	_SPEC_GPU_VENDOR_INVALID = -1,
};
enum spec_concurrency {
	SPEC_CONCURRENCY_FORBID,
	SPEC_CONCURRENCY_ALLOW,
	SPEC_CONCURRENCY_REPLACE,
	_SPEC_CONCURRENCY_MAX,
	_SPEC_CONCURRENCY_INVALID = -1,
};

#define SPEC_DECLARE_STRING_TABLE(name, type) \
	const char *name##_to_string(type v); \
	type name##_from_string(const char *s);

SPEC_DECLARE_STRING_TABLE(spec_rtype, enum spec_rtype)
SPEC_DECLARE_STRING_TABLE(spec_pull_policy, enum spec_pull_policy)
SPEC_DECLARE_STRING_TABLE(spec_os, enum spec_os)
SPEC_DECLARE_STRING_TABLE(spec_arch, enum spec_arch)
SPEC_DECLARE_STRING_TABLE(spec_scale_mode, enum spec_scale_mode)
SPEC_DECLARE_STRING_TABLE(spec_protocol, enum spec_protocol)
SPEC_DECLARE_STRING_TABLE(spec_expose, enum spec_expose)
SPEC_DECLARE_STRING_TABLE(spec_ip_protocol, enum spec_ip_protocol)
SPEC_DECLARE_STRING_TABLE(spec_condition, enum spec_condition)
SPEC_DECLARE_STRING_TABLE(spec_on_failure, enum spec_on_failure)
SPEC_DECLARE_STRING_TABLE(spec_check_type, enum spec_check_type)
SPEC_DECLARE_STRING_TABLE(spec_init_action, enum spec_init_action)
SPEC_DECLARE_STRING_TABLE(spec_init_failure_action, enum spec_init_failure_action)
SPEC_DECLARE_STRING_TABLE(spec_panic_action, enum spec_panic_action)
SPEC_DECLARE_STRING_TABLE(spec_restart_kind, enum spec_restart_kind)
SPEC_DECLARE_STRING_TABLE(spec_storage_type, enum spec_storage_type)
SPEC_DECLARE_STRING_TABLE(spec_network_mode, enum spec_network_mode)
SPEC_DECLARE_STRING_TABLE(spec_service_type, enum spec_service_type)
SPEC_DECLARE_STRING_TABLE(spec_gpu_sharing, enum spec_gpu_sharing)
SPEC_DECLARE_STRING_TABLE(spec_gpu_vendor, enum spec_gpu_vendor)
SPEC_DECLARE_STRING_TABLE(spec_concurrency, enum spec_concurrency)

struct spec_kv {
	char *key;
	char *value;
};

struct spec_image {
	char *name; /* as written */
	struct image_reference ref;
	enum spec_pull_policy pull_policy;
};

struct spec_platform {
	enum spec_os os;     /* _SPEC_OS_INVALID: any */
	enum spec_arch arch; /* _SPEC_ARCH_INVALID: any */
};

struct spec_command {
	char **entrypoint; /* NULL: the image's */
	char **args;       /* NULL: the image's */
	char *workdir;     /* NULL: the image's */
};

struct spec_gpu {
	uint32_t count; /* 0: no GPU requested */
	enum spec_gpu_vendor vendor;
	enum spec_gpu_sharing sharing;
	char *mps_pipe_dir;
	char *mps_log_dir;
};

struct spec_resources {
	double cpu;                  /* cores; 0: unlimited */
	uint64_t memory;             /* bytes; 0: unlimited */
	int64_t pids_limit;          /* 0: unlimited */
	char *cpuset;                /* "0-3,5" */
	uint64_t cpu_shares;         /* 0: default */
	uint64_t memory_swap;        /* 0: default */
	uint64_t memory_reservation; /* 0: none */
	bool has_oom_score_adj;
	int32_t oom_score_adj;
	struct spec_gpu gpu;
};

struct spec_scale {
	enum spec_scale_mode mode;
	uint32_t replicas; /* fixed */
	uint32_t min, max; /* adaptive */
	uint64_t cooldown_nsec;
	uint32_t target_cpu;    /* percent, 0: unset */
	uint32_t target_memory; /* percent, 0: unset */
	uint32_t target_rps;    /* requests per second per replica, 0: unset */
};

struct spec_endpoint {
	char *name;
	enum spec_protocol protocol;
	uint16_t port;
	uint16_t target_port;
	char *path;
	enum spec_expose expose;
};

struct spec_port_mapping {
	uint16_t host_port; /* 0: ephemeral */
	uint16_t container_port;
	enum spec_ip_protocol protocol;
	char *host_ip;
};

struct spec_depends {
	char *service;
	enum spec_condition condition;
	uint64_t timeout_nsec;
	enum spec_on_failure on_timeout;
};

struct spec_health_check {
	enum spec_check_type type;
	uint16_t port; /* tcp; resolved: never 0 after validation */
	char *url;     /* http */
	uint16_t expect_status;
	char *command; /* command */
};

struct spec_health {
	uint64_t start_grace_nsec;
	uint64_t interval_nsec;
	uint64_t timeout_nsec;
	uint32_t retries;
	struct spec_health_check check;
};

struct spec_init_step {
	char *id;
	enum spec_init_action uses;
	uint64_t timeout_nsec;
	enum spec_on_failure on_failure;
	/* with: */
	char *host;                 /* wait_tcp */
	uint16_t port;              /* wait_tcp */
	char *url;                  /* wait_http */
	uint16_t expect_status;     /* wait_http */
	char *command;              /* run */
	uint64_t with_timeout_nsec; /* with.timeout; 0: the step's timeout */
};

struct spec_restart_policy {
	bool set;
	enum spec_restart_kind kind;
	uint32_t max_attempts; /* 0: unlimited */
	uint64_t delay_nsec;
};

struct spec_storage {
	enum spec_storage_type type;
	char *source; /* bind */
	char *name;   /* named */
	char *target;
	bool readonly;
	uint64_t size; /* tmpfs; 0: default */
	uint32_t mode; /* tmpfs */
	bool has_mode;
};

struct spec_device {
	char *path;
	bool read, write, mknod;
};

struct spec_ulimit {
	char *name;
	int64_t soft, hard; /* -1: unlimited */
};

struct spec_preopen {
	char *source;
	char *target;
	bool readonly;
};

struct spec_wasm {
	uint64_t max_memory; /* bytes; 0: module's own maximum */
	uint64_t epoch_interval_nsec;
	uint64_t request_timeout_nsec;
	uint64_t max_execution_time_nsec;
	struct spec_preopen *preopens;
	size_t n_preopens;
	uint32_t min_instances, max_instances;
	uint64_t idle_timeout_nsec;
};

struct spec_service {
	char *name;
	unsigned line, col;

	enum spec_rtype rtype;
	char *schedule;
	struct cron_expr cron;
	enum spec_concurrency concurrency;
	uint32_t backoff_limit;

	struct spec_image image;
	struct spec_platform platform;
	struct spec_command command;
	struct spec_kv *env;
	size_t n_env;
	struct spec_resources resources;
	struct spec_scale scale;
	struct spec_endpoint *endpoints;
	size_t n_endpoints;
	struct spec_port_mapping *port_mappings;
	size_t n_port_mappings;
	struct spec_depends *depends;
	size_t n_depends;
	struct spec_health health;
	struct spec_init_step *init_steps;
	size_t n_init_steps;
	enum spec_init_failure_action on_init_failure;
	enum spec_panic_action on_panic;
	struct spec_restart_policy restart_policy;
	struct spec_storage *storage;
	size_t n_storage;
	struct spec_device *devices;
	size_t n_devices;

	char *user;
	char *hostname;
	struct spec_kv *labels;
	size_t n_labels;
	int stop_signal;
	uint64_t stop_grace_period_nsec;
	bool privileged;
	char **cap_add; /* "CAP_NET_ADMIN" or "ALL" */
	char **cap_drop;
	bool read_only_root_fs;
	bool tty;
	char **dns;
	char **extra_hosts; /* "host:ip" */
	struct spec_kv *sysctls;
	size_t n_sysctls;
	struct spec_ulimit *ulimits;
	size_t n_ulimits;
	enum spec_network_mode network_mode;
	uint64_t logs_max_size_bytes;
	enum spec_service_type service_type;
	bool has_wasm;
	struct spec_wasm wasm;
};

struct spec_deployment {
	char *file;
	char *version;
	char *name;
	struct spec_service *services; /* in file order */
	size_t n_services;
	size_t *start_order; /* indexes into services, dependencies first */
};

struct spec_diag {
	unsigned line, col; /* 0: whole file */
	char *path;         /* "services.web.health.check.type", may be NULL */
	char *message;
	size_t seq; /* order found: ties in position keep it */
};

struct spec_diagnostics {
	char *file;
	struct spec_diag *items;
	size_t n, alloc;
	bool truncated; /* more than SPEC_MAX_DIAGNOSTICS were found */
	size_t n_found; /* all that were found, shown or not */
};

void spec_diagnostics_init(struct spec_diagnostics *d, const char *file);
void spec_diagnostics_release(struct spec_diagnostics *d);
void spec_diagnostics_add(struct spec_diagnostics *d, unsigned line, unsigned col, const char *path, const char *fmt,
                          ...) _printf_(5, 6);
/* "web.yaml:12:7: services.web.health.check.type: unknown check type ..." */
char *spec_diag_format(const struct spec_diagnostics *d, const struct spec_diag *item);

/* Parse and validate. On failure returns -EINVAL with *diags filled (when
 * non-NULL) and a summary in *reterr naming the first problem. */
int spec_load_file(const char *path, struct spec_deployment **ret, struct spec_diagnostics *diags,
                   struct za_error **reterr);
int spec_load_string(const char *name, const char *buf, size_t len, struct spec_deployment **ret,
                     struct spec_diagnostics *diags, struct za_error **reterr);

struct spec_deployment *spec_deployment_free(struct spec_deployment *d);
static inline void spec_deployment_freep(struct spec_deployment **d) {
	*d = spec_deployment_free(*d);
}
const struct spec_service *spec_find_service(const struct spec_deployment *d, const char *name);
/* The normalised spec with every default filled in, as JSON text that is
 * itself a valid spec. */
char *spec_to_json(const struct spec_deployment *d);
