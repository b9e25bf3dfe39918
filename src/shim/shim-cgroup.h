/* SPDX-License-Identifier: Apache-2.0 */
/* OOM-kill detection for one container: the oom_kill counter of its memory
 * cgroup (v2 memory.events, v1 memory.oom_control), found through
 * /proc/PID/cgroup of the container's init, read at create and at exit. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct shim_oom {
	int fd; /* the counter file, kept open: -1 when none was found */
	uint64_t base, last;
};

/* cgroup_root: normally "/sys/fs/cgroup" (tests point it elsewhere). */
int shim_oom_open(struct shim_oom *o, const char *cgroup_root, pid_t pid);
/* Read the counter again; a failed read (cgroup gone) keeps the last one. */
void shim_oom_update(struct shim_oom *o);
bool shim_oom_killed(const struct shim_oom *o);
void shim_oom_close(struct shim_oom *o);

/* From /proc/PID/cgroup text: the v1 memory hierarchy's path and the v2
 * path (either may be missing: ""). Exposed for tests. */
int shim_cgroup_paths(const char *text, char *ret_v1, char *ret_v2, size_t cap);
/* The "oom_kill N" line of memory.events / memory.oom_control. */
int shim_oom_parse(const char *text, uint64_t *ret);
