/* SPDX-License-Identifier: Apache-2.0 */
/* The cgroups of a WebAssembly container, made with cgroupfs (no systemd):
 * on cgroup v1 and hybrid hosts the memory, cpu, cpuacct and pids
 * hierarchies, on a unified (v2) host one directory with those controllers
 * enabled. Owns the directories it creates; the container's state keeps
 * their paths so that `delete` can remove them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"

#define WASM_CGROUP_ROOT "/sys/fs/cgroup"

/* OCI linux.resources, the part we apply (-1 / 0: unset). */
struct wasm_resources {
	int64_t memory_limit, memory_swap;
	int64_t cpu_quota;
	uint64_t cpu_period, cpu_shares;
	int64_t pids_limit;
};

enum wasm_cgroup_ctl {
	WASM_CGROUP_MEMORY,
	WASM_CGROUP_CPU,
	WASM_CGROUP_CPUACCT,
	WASM_CGROUP_PIDS,
	WASM_CGROUP_UNIFIED, /* v2: all of them */
	_WASM_CGROUP_MAX,
	_WASM_CGROUP_INVALID = -1,
};

const char *wasm_cgroup_ctl_to_string(enum wasm_cgroup_ctl c);
enum wasm_cgroup_ctl wasm_cgroup_ctl_from_string(const char *s);

/* Absolute directories, one per controller (NULL: not used). */
struct wasm_cgroup {
	char *dirs[_WASM_CGROUP_MAX];
};

struct wasm_cgroup_stats {
	uint64_t cpu_ns, memory, memory_limit, pids, pids_limit;
};

/* cgroupsPath ("/zlayer/ID"; "slice:prefix:name" with systemd_form) under
 * `root` (WASM_CGROUP_ROOT outside tests): create and apply res. */
int wasm_cgroup_create(const char *root, const char *path, bool systemd_form, const struct wasm_resources *res,
                       struct wasm_cgroup *ret, struct za_error **reterr);
/* Move pid into every directory. */
int wasm_cgroup_enter(const struct wasm_cgroup *cg, pid_t pid);
int wasm_cgroup_stats(const struct wasm_cgroup *cg, struct wasm_cgroup_stats *ret);
/* rmdir every directory (waiting a little for dying tasks); -EBUSY when
 * one still has tasks. */
int wasm_cgroup_remove(const struct wasm_cgroup *cg);
void wasm_cgroup_release(struct wasm_cgroup *cg);
