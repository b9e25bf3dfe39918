/* SPDX-License-Identifier: Apache-2.0 */
/* The host's cgroup file systems, as far as container start latency
 * depends on them. Every move of a process into a cgroup (runc does one
 * per v1 hierarchy, the shim and the WebAssembly runner more) takes the
 * kernel's global cgroup_threadgroup_rwsem for writing, which by default
 * waits for an RCU grace period: 4-16 ms each on this kind of host. The
 * cgroup2 option "favordynmods" (Linux >= 6.0, systemd >= 254 mounts with
 * it where it can) makes those writes cheap at a small cost to fork and
 * exit; it is global, so setting it on the cgroup2 mount speeds up moves in
 * the v1 hierarchies too. */
#pragma once

#include <stdbool.h>

/* Make sure the cgroup2 superblock has "favordynmods", keeping its other
 * options. Returns 1 when this call turned it on (*ret_path: the mount
 * point), 0 when it was on already, -ENOENT without a cgroup2 mount,
 * -EINVAL from a kernel without the option, other -errno on failure. */
int cgroup_host_favor_dynmods(char **ret_path);
