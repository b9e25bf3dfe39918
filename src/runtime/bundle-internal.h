/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the bundle's files only: the linux section (namespaces, cgroup
 * resources, devices, sysctls, masked paths, seccomp), the etc files and the
 * volumes, and the JSON helpers for values jansson cannot hold. */
#pragma once

#include <jansson.h>

#include "runtime/bundle.h"

/* A JSON string of s even when s is not UTF-8 (bad bytes become U+FFFD, as
 * runc would decode them): jansson refuses such strings, and a NULL would
 * silently drop an argument. */
json_t *bundle_json_string(const char *s);
/* A uint64 for config.json: above INT64_MAX it is a placeholder that
 * bundle_json_dump() turns into the bare number (RLIM_INFINITY). */
json_t *bundle_json_u64(uint64_t v);
char *bundle_json_dump(const json_t *j);
/* Parse what bundle_json_dump() wrote, numbers above INT64_MAX included. */
json_t *bundle_json_load(const char *buf, size_t len, json_error_t *error);

/* process.rlimits from cfg->ulimits (NULL when there are none). */
json_t *bundle_rlimits(const struct container_config *cfg);
/* config.linux: namespaces, cgroupsPath, resources, devices, sysctl,
 * masked/readonly paths, seccomp (for `caps`) unless privileged. */
int bundle_linux(const struct bundle_options *o, char *const *caps, json_t **ret, struct za_error **reterr);

/* The contents of the container's /etc/hosts and /etc/resolv.conf. */
char *bundle_hosts_content(const struct bundle_options *o, const char *hostname);
char *bundle_resolv_content(const struct bundle_options *o);

/* Volume names: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 255. */
bool bundle_volume_name_valid(const char *name);
/* Create volumes_dir/NAME/_data (0755) if missing; *ret_created tells
 * whether this call made NAME. A new volume gets the image's content at
 * `target` (ownership, modes, files) like Docker's copy-up. */
int bundle_volume_create(const char *volumes_dir, const char *name, int rootfs_fd, const char *target,
                         bool *ret_created, struct za_error **reterr);
