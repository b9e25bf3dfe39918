/* SPDX-License-Identifier: Apache-2.0 */
/* OCI bundles: the runtime-spec config.json that runc gets for one
 * container, made from the image config and the container's settings with
 * Docker's defaults (capabilities, seccomp, masked paths, mounts, devices),
 * plus the /etc/resolv.conf, /etc/hosts and /etc/hostname it bind-mounts.
 * Owns the bundle directory and the volumes it creates, nothing else: the
 * caller mounts the rootfs and runs runc. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/error.h"
#include "image/manifest.h"
#include "runtime/container.h"

#define BUNDLE_MAX_CONFIG_SIZE (16u * 1024 * 1024)

/* What was resolved, for logging and for the supervisor. */
struct bundle_info {
	char **args;
	char *cwd;
	uint32_t uid, gid;
	char *hostname;
	int stop_signal;        /* cfg's, else the image's StopSignal, else SIGTERM */
	char **gpu_devices;     /* CDI devices applied ("nvidia.com/gpu=0") */
	char **volumes_created; /* volume names this call created (empty before) */
};
struct bundle_options {
	const char *bundle_dir;               /* RUNTIME/containers/ID/bundle: created (0700) unless it exists */
	const char *rootfs;                   /* the mounted overlay: root.path, and where users are resolved */
	const struct oci_image_config *image; /* NULL: only cfg counts */
	const struct container_config *cfg;
	const char *netns_path;    /* NULL: no netns to join (host mode: none at all; else a new empty one) */
	const char *cgroup_parent; /* "zlayer" -> cgroupsPath "/zlayer/ID"; NULL: runc's default */
	const char *volumes_dir;   /* ROOT/volumes: VOLUME mounts use NAME/_data (created if missing) */
	/* Where the container's /etc/resolv.conf, /etc/hosts, /etc/hostname are
	 * written before being bind-mounted; NULL: in bundle_dir. */
	const char *resolv_conf, *hosts_file, *hostname_file;
	const char *ip_address; /* the container's address, for /etc/hosts; NULL: the hostname maps to 127.0.0.1 */
	const char *host_resolv_conf; /* NULL: /etc/resolv.conf (or systemd-resolved's upstream list) */
	const char *host_hosts;       /* NULL: /etc/hosts, copied in network_mode host */
	char *const *cdi_dirs;        /* NULL: /etc/cdi, /var/run/cdi */
	char *const *gpu_devices;     /* CDI device names picked by a GPU allocator; NULL: the first count */
	struct bundle_info *ret_info; /* optional: filled on success (release with bundle_info_release) */
};

void bundle_info_release(struct bundle_info *i);

/* Write config.json atomically (+ the etc files) and fill o->ret_info
 * (optional). On failure nothing written is left behind: the bundle
 * directory if this call created it, the files, the volumes it created.
 * Errors (create_failed unless said): user or group not in the image's
 * files; "no command: the image has no Entrypoint or Cmd and the spec sets
 * none"; a missing bind source or device; gpu_unavailable and
 * gpu_sharing_unavailable from CDI. */
int bundle_write(const struct bundle_options *o, struct za_error **reterr);

/* A WebAssembly container's bundle for zlayer-wasm (contract at the top of
 * src/runtime/wasm/wasm-oci.c). */
struct bundle_wasm_options {
	const char *bundle_dir;
	const char *rootfs;                 /* root.path (nothing is mounted there by zlayer-wasm) */
	const struct container_config *cfg; /* env as given, mounts as preopens, limits */
	const char *module_path;            /* absolute host path of the .wasm */
	const char *argv0;                  /* NULL: the module's file name */
	char *const *args;                  /* the guest's argv after argv0 */
	const char *cgroups_path;           /* "/zlayer/ID" */
	const char *volumes_dir;            /* ROOT/volumes */
	const char *cache_dir;              /* the compile cache; NULL: zlayer-wasm's default */
	uint64_t max_memory;                /* linear memory cap, bytes; 0: the module's */
	uint64_t timeout_nsec;              /* run time limit; 0: none */
};
int bundle_write_wasm(const struct bundle_wasm_options *o, struct za_error **reterr);

/* For `exec`: the process object of the bundle's config.json (env, cwd,
 * user, capabilities, rlimits, no_new_privileges) with new args and
 * terminal and the overrides below, as the JSON runc exec --process takes
 * (which ignores runc exec's --env, --cwd and --user). */
struct bundle_exec_options {
	char *const *argv;
	bool tty;
	char *const *env; /* "K=V" replacing the entry of the same K, or added */
	const char *cwd;  /* absolute; NULL: the container's */
	const char *user; /* resolved in the rootfs (root.path); NULL: the container's */
};
/* Errors: invalid_spec for a bad override (a user not in the image's
 * files), not_found without config.json. */
int bundle_exec_process(const char *bundle_dir, const struct bundle_exec_options *o, char **ret_process_json,
                        struct za_error **reterr);

/* Docker's argument rules: an entrypoint override drops the image's Cmd
 * unless args are given too; an args override keeps the image's
 * Entrypoint. Empty result: create_failed "no command: ...". */
int bundle_resolve_args(const struct oci_image_config *image, const struct container_config *cfg, char ***ret,
                        struct za_error **reterr);
