/* SPDX-License-Identifier: Apache-2.0 */
/* Candidates, first that opens wins: ROOT/memory/V1PATH/memory.oom_control
 * (v1 or hybrid; the oom_kill line needs kernel >= 4.13),
 * ROOT/V2PATH/memory.events (unified), ROOT/unified/V2PATH/memory.events
 * (hybrid with memory on v2). The mount points are the conventional ones. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/macro.h"
#include "shim/shim-cgroup.h"
#include "shim/shim-util.h"
#include "basic/banned.h"

#define CGROUP_FILE_MAX 4096

static bool has_controller(const char *list, size_t n, const char *name) {
	size_t k = strlen(name);

	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && list[j] != ',')
			j++;
		if (j - i == k && memcmp(list + i, name, k) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

static void copy_path(char *dst, size_t cap, const char *src, size_t n) {
	if (n >= cap)
		n = 0; /* too long to use: as good as missing */
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int shim_cgroup_paths(const char *text, char *ret_v1, char *ret_v2, size_t cap) {
	bool found = false;

	if (cap == 0)
		return -EINVAL;
	ret_v1[0] = ret_v2[0] = '\0';
	for (const char *line = text; *line;) {
		const char *end = strchrnul(line, '\n'), *c1 = memchr(line, ':', (size_t)(end - line)), *c2;

		if (c1 && (c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1)))) {
			const char *path = c2 + 1;
			size_t plen = (size_t)(end - path);
			if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
				copy_path(ret_v2, cap, path, plen);
				found = true;
			} else if (has_controller(c1 + 1, (size_t)(c2 - c1 - 1), "memory")) {
				copy_path(ret_v1, cap, path, plen);
				found = true;
			}
		}
		line = *end ? end + 1 : end;
	}
	return found ? 0 : -ENOENT;
}

int shim_oom_parse(const char *text, uint64_t *ret) {
	static const char key[] = "oom_kill ";

	for (const char *line = text; *line;) {
		const char *end = strchrnul(line, '\n');
		if ((size_t)(end - line) > sizeof(key) - 1 && strneq(line, key, sizeof(key) - 1)) {
			char num[24];
			size_t n = (size_t)(end - line) - (sizeof(key) - 1);
			if (n >= sizeof(num))
				return -ERANGE;
			memcpy(num, line + sizeof(key) - 1, n);
			num[n] = '\0';
			return shim_parse_u64(num, ret);
		}
		line = *end ? end + 1 : end;
	}
	return -ENOENT;
}

static int oom_read(int fd, uint64_t *ret) {
	char buf[512];
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	n = shim_read_fd(fd, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return shim_oom_parse(buf, ret);
}

int shim_oom_open(struct shim_oom *o, const char *cgroup_root, pid_t pid) {
	char proc[64], text[CGROUP_FILE_MAX], v1[PATH_MAX], v2[PATH_MAX], path[PATH_MAX];
	const char *cands[3][3] = {
		{ "/memory", v1, "/memory.oom_control" },
		{ "", v2, "/memory.events" },
		{ "/unified", v2, "/memory.events" },
	};
	ssize_t n;
	int r;

	*o = (struct shim_oom){ .fd = -1 };
	snprintf(proc, sizeof(proc), "/proc/%d/cgroup", (int)pid);
	n = shim_read_file(proc, text, sizeof(text));
	if (n < 0)
		return (int)n;
	r = shim_cgroup_paths(text, v1, v2, sizeof(v1));
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(cands); i++) {
		uint64_t v;
		int fd;

		if (!cands[i][1][0])
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s%s", cgroup_root, cands[i][0],
		                     streq(cands[i][1], "/") ? "" : cands[i][1], cands[i][2]) >= sizeof(path))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (oom_read(fd, &v) < 0) {
			close(fd);
			continue;
		}
		o->fd = fd;
		o->base = o->last = v;
		return 0;
	}
	return -ENOENT;
}

void shim_oom_update(struct shim_oom *o) {
	uint64_t v;

	if (o->fd >= 0 && oom_read(o->fd, &v) == 0 && v > o->last)
		o->last = v;
}

bool shim_oom_killed(const struct shim_oom *o) {
	return o->fd >= 0 && o->last > o->base;
}

void shim_oom_close(struct shim_oom *o) {
	o->fd = safe_close(o->fd);
}
