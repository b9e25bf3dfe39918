/* SPDX-License-Identifier: Apache-2.0 */
/* v1 controllers may share a mount (cpu,cpuacct): directories are compared
 * after realpath() and made once. Limits follow runc's fs drivers: v1 files
 * memory.limit_in_bytes, memory.memsw.limit_in_bytes, cpu.cfs_period_us,
 * cpu.cfs_quota_us, cpu.shares, pids.max; v2 memory.max, memory.swap.max
 * (swap minus memory), cpu.max, cpu.weight (from shares), pids.max. */
#include "runtime/wasm/wasm-cgroup.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

/* What an unlimited v1 memory cgroup reports, used for "max" too. */
#define UNLIMITED UINT64_C(9223372036854771712)

static const char *const ctl_names[_WASM_CGROUP_MAX] = {
	[WASM_CGROUP_MEMORY] = "memory", [WASM_CGROUP_CPU] = "cpu",         [WASM_CGROUP_CPUACCT] = "cpuacct",
	[WASM_CGROUP_PIDS] = "pids",     [WASM_CGROUP_UNIFIED] = "unified",
};

const char *wasm_cgroup_ctl_to_string(enum wasm_cgroup_ctl c) {
	return c >= 0 && c < _WASM_CGROUP_MAX ? ctl_names[c] : NULL;
}

enum wasm_cgroup_ctl wasm_cgroup_ctl_from_string(const char *s) {
	for (int i = 0; s && i < _WASM_CGROUP_MAX; i++)
		if (streq(s, ctl_names[i]))
			return (enum wasm_cgroup_ctl)i;
	return _WASM_CGROUP_INVALID;
}

static _printf_(3, 4) int write_value(const char *dir, const char *file, const char *fmt, ...) {
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file), *val = NULL;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	va_list ap;
	ssize_t n;

	if (fd < 0)
		return -errno;
	va_start(ap, fmt);
	val = xvasprintf(fmt, ap);
	va_end(ap);
	n = write(fd, val, strlen(val));
	if (n < 0)
		return -errno;
	return (size_t)n == strlen(val) ? 0 : -EIO;
}

static int read_u64(const char *dir, const char *file, const char *key, uint64_t *ret) {
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file), *buf = NULL;
	size_t len;
	char *p, *end;
	int r;

	r = read_full_file(path, 1 << 16, &buf, &len);
	if (r < 0)
		return r;
	p = buf;
	if (key) {
		size_t kl = strlen(key);
		for (p = buf; p && !(strneq(p, key, kl) && p[kl] == ' '); p = strchr(p, '\n'), p = p ? p + 1 : NULL)
			;
		if (!p)
			return -ENOENT;
		p += kl + 1;
	}
	end = p + strcspn(p, " \n");
	*end = '\0';
	if (streq(p, "max")) {
		*ret = UNLIMITED;
		return 0;
	}
	return parse_uint64(p, ret);
}

/* "system.slice:zlayer:ID" -> "/system.slice/zlayer-ID.scope"; a slice
 * "a-b.slice" nests as /a.slice/a-b.slice. */
static char *systemd_path(const char *spec) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *copy = xstrdup(spec), *slice = NULL;
	char *save = NULL, *a = strtok_r(copy, ":", &save), *b = strtok_r(NULL, ":", &save);
	char *c = strtok_r(NULL, ":", &save);

	if (!a || !b || !c || strtok_r(NULL, ":", &save))
		return NULL;
	slice = xstrdup(isempty(a) ? "system.slice" : a);
	if (strlen(slice) > 6 && streq(slice + strlen(slice) - 6, ".slice")) {
		slice[strlen(slice) - 6] = '\0';
		for (const char *dash = strchr(slice, '-'); dash; dash = strchr(dash + 1, '-'))
			strbuf_addf(&sb, "/%.*s.slice", (int)(dash - slice), slice);
		strbuf_addf(&sb, "/%s.slice", slice);
	} else
		strbuf_addf(&sb, "/%s", slice);
	strbuf_addf(&sb, "/%s-%s.scope", b, c);
	return strbuf_detach(&sb, NULL);
}

static bool path_safe(const char *p) {
	for (const char *s = p; *s;) {
		size_t n = strcspn(s, "/");
		if ((n == 2 && strneq(s, "..", 2)) || (n == 1 && *s == '.'))
			return false;
		s += n;
		while (*s == '/')
			s++;
	}
	return true;
}

static int apply_v1(const struct wasm_cgroup *cg, const struct wasm_resources *res) {
	const char *mem = cg->dirs[WASM_CGROUP_MEMORY], *cpu = cg->dirs[WASM_CGROUP_CPU];
	const char *pids = cg->dirs[WASM_CGROUP_PIDS];
	int r = 0;

	if (res->memory_limit > 0 && (r = write_value(mem, "memory.limit_in_bytes", "%" PRId64, res->memory_limit)) < 0)
		return r;
	if (res->memory_swap > 0) {
		r = write_value(mem, "memory.memsw.limit_in_bytes", "%" PRId64, res->memory_swap);
		if (r < 0 && r != -ENOENT) /* no swap accounting: as runc, ignore */
			return r;
	}
	if (res->cpu_period > 0 && (r = write_value(cpu, "cpu.cfs_period_us", "%" PRIu64, res->cpu_period)) < 0)
		return r;
	if (res->cpu_quota != 0 && (r = write_value(cpu, "cpu.cfs_quota_us", "%" PRId64, res->cpu_quota)) < 0)
		return r;
	if (res->cpu_shares > 0 && (r = write_value(cpu, "cpu.shares", "%" PRIu64, res->cpu_shares)) < 0)
		return r;
	if (res->pids_limit > 0 && (r = write_value(pids, "pids.max", "%" PRId64, res->pids_limit)) < 0)
		return r;
	return 0;
}

static int apply_v2(const char *dir, const struct wasm_resources *res) {
	int r;

	if (res->memory_limit > 0 && (r = write_value(dir, "memory.max", "%" PRId64, res->memory_limit)) < 0)
		return r;
	if (res->memory_swap > 0 && res->memory_limit > 0 && res->memory_swap >= res->memory_limit) {
		r = write_value(dir, "memory.swap.max", "%" PRId64, res->memory_swap - res->memory_limit);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (res->cpu_quota != 0 || res->cpu_period > 0) {
		uint64_t period = res->cpu_period > 0 ? res->cpu_period : 100000;
		if (res->cpu_quota > 0)
			r = write_value(dir, "cpu.max", "%" PRId64 " %" PRIu64, res->cpu_quota, period);
		else
			r = write_value(dir, "cpu.max", "max %" PRIu64, period);
		if (r < 0)
			return r;
	}
	if (res->cpu_shares > 0 && (r = write_value(dir, "cpu.weight", "%" PRIu64,
	                                            1 + ((MAX(res->cpu_shares, (uint64_t)2) - 2) * 9999) / 262142)) < 0)
		return r;
	if (res->pids_limit > 0 && (r = write_value(dir, "pids.max", "%" PRId64, res->pids_limit)) < 0)
		return r;
	return 0;
}

/* v2: let every ancestor hand memory, cpu and pids down to its children. */
static void enable_controllers(const char *root, const char *path) {
	_cleanup_free_ char *cur = xstrdup(root);

	for (const char *s = path; *s;) {
		size_t n;
		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (n == 0)
			break;
		for (const char *const *c = (const char *const[]){ "+memory", "+cpu", "+pids", NULL }; *c; c++)
			(void)write_value(cur, "cgroup.subtree_control", "%s", *c);
		char *next = xasprintf("%s/%.*s", cur, (int)n, s);
		free(cur);
		cur = next;
		s += n;
	}
}

int wasm_cgroup_create(const char *root, const char *path, bool systemd_form, const struct wasm_resources *res,
                       struct wasm_cgroup *ret, struct za_error **reterr) {
	_cleanup_free_ char *conv = NULL, *probe = xasprintf("%s/cgroup.controllers", root);
	struct wasm_cgroup cg = {};
	int r = 0;

	if (systemd_form && strchr(path, ':')) {
		conv = systemd_path(path);
		if (!conv)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "invalid systemd cgroupsPath '%s' (expected slice:prefix:name)", path);
		path = conv;
	}
	if (isempty(path) || !path_safe(path) || strlen(path) > 1024)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid cgroupsPath '%s'", path);
	if (access(probe, F_OK) == 0) {
		enable_controllers(root, path);
		cg.dirs[WASM_CGROUP_UNIFIED] = xasprintf("%s/%s", root, path + (*path == '/'));
		r = mkdir_p(cg.dirs[WASM_CGROUP_UNIFIED], 0755);
		if (r >= 0)
			r = apply_v2(cg.dirs[WASM_CGROUP_UNIFIED], res);
	} else
		for (int c = 0; c < WASM_CGROUP_UNIFIED && r >= 0; c++) {
			_cleanup_free_ char *mnt = xasprintf("%s/%s", root, ctl_names[c]);
			char real[PATH_MAX];

			if (!realpath(mnt, real)) {
				log_debug("cgroup controller %s is not mounted at '%s'", ctl_names[c], mnt);
				continue;
			}
			cg.dirs[c] = xasprintf("%s/%s", real, path + (*path == '/'));
			r = mkdir_p(cg.dirs[c], 0755);
		}
	if (r >= 0 && !cg.dirs[WASM_CGROUP_UNIFIED]) {
		if ((res->memory_limit > 0 && !cg.dirs[WASM_CGROUP_MEMORY]) ||
		    ((res->cpu_quota != 0 || res->cpu_shares > 0) && !cg.dirs[WASM_CGROUP_CPU]) ||
		    (res->pids_limit > 0 && !cg.dirs[WASM_CGROUP_PIDS]))
			r = -ENOTSUP;
		else
			r = apply_v1(&cg, res);
	}
	if (r < 0) {
		(void)wasm_cgroup_remove(&cg);
		wasm_cgroup_release(&cg);
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot set up the cgroup '%s': %m", path);
	}
	*ret = cg;
	return 0;
}

int wasm_cgroup_enter(const struct wasm_cgroup *cg, pid_t pid) {
	for (int c = 0; c < _WASM_CGROUP_MAX; c++) {
		int r;
		if (!cg->dirs[c])
			continue;
		r = write_value(cg->dirs[c], "cgroup.procs", "%d", (int)pid);
		if (r < 0)
			return r;
	}
	return 0;
}

int wasm_cgroup_stats(const struct wasm_cgroup *cg, struct wasm_cgroup_stats *ret) {
	const char *u = cg->dirs[WASM_CGROUP_UNIFIED];
	struct wasm_cgroup_stats s = {};
	int r;

	if (u) {
		uint64_t usec = 0;
		r = read_u64(u, "cpu.stat", "usage_usec", &usec);
		s.cpu_ns = usec * 1000;
		if (r >= 0)
			r = read_u64(u, "memory.current", NULL, &s.memory);
		if (r >= 0)
			r = read_u64(u, "memory.max", NULL, &s.memory_limit);
		if (r >= 0)
			r = read_u64(u, "pids.current", NULL, &s.pids);
		if (r >= 0)
			r = read_u64(u, "pids.max", NULL, &s.pids_limit);
	} else {
		r = 0;
		if (cg->dirs[WASM_CGROUP_CPUACCT])
			r = read_u64(cg->dirs[WASM_CGROUP_CPUACCT], "cpuacct.usage", NULL, &s.cpu_ns);
		if (r >= 0 && cg->dirs[WASM_CGROUP_MEMORY]) {
			r = read_u64(cg->dirs[WASM_CGROUP_MEMORY], "memory.usage_in_bytes", NULL, &s.memory);
			if (r >= 0)
				r = read_u64(cg->dirs[WASM_CGROUP_MEMORY], "memory.limit_in_bytes", NULL,
				             &s.memory_limit);
		}
		if (r >= 0 && cg->dirs[WASM_CGROUP_PIDS]) {
			r = read_u64(cg->dirs[WASM_CGROUP_PIDS], "pids.current", NULL, &s.pids);
			if (r >= 0)
				r = read_u64(cg->dirs[WASM_CGROUP_PIDS], "pids.max", NULL, &s.pids_limit);
		}
	}
	if (r < 0)
		return r;
	if (s.pids_limit == UNLIMITED)
		s.pids_limit = 0;
	*ret = s;
	return 0;
}

int wasm_cgroup_remove(const struct wasm_cgroup *cg) {
	int ret = 0;

	for (int c = _WASM_CGROUP_MAX - 1; c >= 0; c--) {
		bool seen = false;
		if (!cg->dirs[c])
			continue;
		for (int k = c + 1; k < _WASM_CGROUP_MAX; k++)
			seen = seen || (cg->dirs[k] && streq(cg->dirs[k], cg->dirs[c]));
		if (seen)
			continue;
		/* a task that was just killed leaves its cgroup a moment later */
		for (int i = 0; i < 200; i++) {
			if (rmdir(cg->dirs[c]) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY) {
				ret = -errno;
				break;
			}
			if (i == 199)
				ret = -EBUSY;
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		}
	}
	return ret;
}

void wasm_cgroup_release(struct wasm_cgroup *cg) {
	for (int c = 0; c < _WASM_CGROUP_MAX; c++) {
		free(cg->dirs[c]);
		cg->dirs[c] = NULL;
	}
}
