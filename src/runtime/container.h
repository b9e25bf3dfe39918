/* SPDX-License-Identifier: Apache-2.0 */
/* What a container is made from: the resolved settings of one container,
 * built from a ServiceSpec (the service manager) or from `zlayer-agent run`
 * flags, before any runtime turns them into a bundle or an API call. Owns
 * every string. Values not set fall back to the image config, then to
 * Docker's defaults, when the bundle is generated. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec/spec.h"

enum container_mount_type {
	CONTAINER_MOUNT_BIND,
	CONTAINER_MOUNT_VOLUME, /* named or anonymous volume under ROOT/volumes */
	CONTAINER_MOUNT_TMPFS,
	_CONTAINER_MOUNT_TYPE_MAX,
	_CONTAINER_MOUNT_TYPE_INVALID = -1,
};

struct container_mount {
	enum container_mount_type type;
	char *source; /* bind: host path; volume: volume name (anonymous: generated) */
	char *target;
	bool readonly;
	uint64_t tmpfs_size; /* 0: default */
	uint32_t tmpfs_mode; /* 0: 1777 */
};

struct container_port {
	uint16_t host_port; /* 0: ephemeral */
	uint16_t container_port;
	char *protocol; /* "tcp" / "udp" */
	char *host_ip;  /* NULL: 0.0.0.0 */
};

struct container_config {
	char *id;           /* "{service}-rep-{n}" or a user's --name */
	char *image;        /* the reference as given */
	char *image_digest; /* resolved manifest digest in the store */
	char **entrypoint;  /* NULL: the image's */
	char **args;        /* NULL: the image's Cmd (or none when entrypoint is overridden) */
	char **env;         /* "K=V", already resolved ($E:/$S: done); applied over the image's Env */
	char *workdir;      /* NULL: the image's, else "/" */
	char *user;         /* NULL: the image's; "name", "uid", "uid:gid", "name:group" */
	char *hostname;     /* NULL: the id, truncated to 63 */
	char **labels;      /* "k=v" */
	struct container_mount *mounts;
	size_t n_mounts;
	struct container_port *ports;
	size_t n_ports;
	enum spec_network_mode network_mode;
	char **dns;                      /* nameserver IPs; NULL: the host's resolv.conf */
	char **extra_hosts;              /* "host:ip" */
	struct spec_resources resources; /* copied, strings owned */
	struct spec_device *devices;
	size_t n_devices;
	struct spec_ulimit *ulimits;
	size_t n_ulimits;
	struct spec_kv *sysctls;
	size_t n_sysctls;
	char **cap_add; /* "CAP_X" or "ALL" */
	char **cap_drop;
	bool privileged;
	bool read_only_rootfs;
	bool tty;
	int stop_signal;          /* 0: the image's StopSignal, else SIGTERM */
	uint64_t stop_grace_nsec; /* 0: 10 s */
	uint64_t log_max_size;    /* 0: 100 MiB */
	bool auto_remove;         /* --rm */
	/* WebAssembly: the module on the host for a `file:PATH.wasm` image
	 * (NULL otherwise; an image whose config says os wasi is found at
	 * create), and the spec's wasm limits */
	char *wasm_module;
	uint64_t wasm_max_memory;   /* bytes; 0: the module's own */
	uint64_t wasm_timeout_nsec; /* max_execution_time; 0: none */
};

/* "file:/abs/path.wasm" -> "/abs/path.wasm"; NULL for other references. */
const char *container_image_file_path(const char *image);

void container_config_release(struct container_config *c);
/* Fill from a validated service of a spec: replica n, env values as given
 * (the caller resolves references into c->env afterwards). */
int container_config_from_service(const struct spec_service *svc, unsigned replica, struct container_config *ret,
                                  struct za_error **reterr);
/* "{service}-rep-{n}" */
char *container_replica_id(const char *service, unsigned replica);
