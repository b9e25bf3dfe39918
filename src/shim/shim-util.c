/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/macro.h"
#include "shim/shim-util.h"
#include "basic/banned.h"

int shim_write_all(int fd, const void *data, size_t len) {
	const char *p = data;

	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* tmp + rename, no fsync: the state dir is volatile (under the runtime dir,
 * /run), its files matter while the machine is up, and an fsync here would
 * sit between a container's exit and the agent learning of it. */
int shim_write_file_atomic(const char *dir, const char *name, const void *data, size_t len) {
	_cleanup_free_ char *tmp = shim_concat(dir, "/.", name, ".tmp", NULL);
	_cleanup_free_ char *path = shim_concat(dir, "/", name, NULL);
	_cleanup_close_ int fd = -1;
	int r;

	if (!tmp || !path)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	r = shim_write_all(fd, data, len);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	return 0;
}

ssize_t shim_read_fd(int fd, char *buf, size_t cap) {
	size_t n = 0;

	if (cap == 0)
		return -EINVAL;
	while (n < cap - 1) {
		ssize_t k = read(fd, buf + n, cap - 1 - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

ssize_t shim_read_file(const char *path, char *buf, size_t cap) {
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	return shim_read_fd(fd, buf, cap);
}

int shim_parse_u64(const char *s, uint64_t *ret) {
	uint64_t v = 0;
	const char *p = s;

	if (!s || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	*ret = v;
	return 0;
}

char *shim_concat(const char *first, ...) {
	va_list ap;
	size_t len = 0;
	char *buf, *p;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		len += strlen(s);
	va_end(ap);
	buf = malloc(len + 1);
	if (!buf)
		return NULL;
	p = buf;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *)) {
		size_t k = strlen(s);
		memcpy(p, s, k);
		p += k;
	}
	va_end(ap);
	*p = '\0';
	return buf;
}
