/* SPDX-License-Identifier: Apache-2.0 */
#include "fileio.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "alloc.h"
#include "crashpoint.h"
#include "macro.h"
#include "strbuf.h"
#include "banned.h"

int read_full_fd(int fd, size_t cap, char **ret_buf, size_t *ret_len) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	for (;;) {
		char buf[16384];
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		if ((size_t)n > cap - sb.len)
			return -EFBIG;
		strbuf_add(&sb, buf, (size_t)n);
	}
	*ret_buf = strbuf_detach(&sb, ret_len);
	return 0;
}

int read_full_file(const char *path, size_t cap, char **ret_buf, size_t *ret_len) {
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > cap)
		return -EFBIG;
	return read_full_fd(fd, cap, ret_buf, ret_len);
}

int loop_write(int fd, const void *data, size_t len) {
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_file_replace_full(const char *path, const void *data, size_t len, mode_t mode, bool sync) {
	_cleanup_free_ char *tmp = NULL, *dircopy = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	int r;

	tmp = xasprintf("%s.tmp.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (fchmod(fd, mode) < 0 || (r = loop_write(fd, data, len)) < 0 || (sync && fsync(fd) < 0)) {
		r = errno ? -errno : -EIO;
		(void)unlink(tmp);
		return r;
	}
	crashpoint("file.renaming");
	if (rename(tmp, path) < 0) {
		r = -errno;
		(void)unlink(tmp);
		return r;
	}
	if (!sync)
		return 0;
	dircopy = xstrdup(path);
	dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
	return write_file_replace_full(path, data, len, mode, true);
}

int write_file_replace(const char *path, const void *data, size_t len, mode_t mode) {
	return write_file_replace_full(path, data, len, mode, false);
}

int mkdir_p(const char *path, mode_t mode) {
	_cleanup_free_ char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void rm_rf_children(int fd) {
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (!d) {
		safe_close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			rm_rf_at(dirfd(d), de->d_name);
	closedir(d);
}

void rm_rf_at(int dfd, const char *name) {
	int fd;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		rm_rf_children(fd);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

void rm_rf(const char *path) {
	rm_rf_at(AT_FDCWD, path);
}
