/* SPDX-License-Identifier: Apache-2.0 */
/* WASI preview 1 path_* calls. Every guest path is resolved with openat2()
 * and RESOLVE_BENEATH relative to the directory fd it names, so `..`,
 * absolute paths and symlinks can never leave it (EPERM, as wasmtime). Calls
 * that act on the last component without following it (unlink, rename,
 * mkdir, ...) resolve its parent that way and then use the *at() call on
 * the bare name, which the kernel does not follow. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/macro.h"
#include "runtime/wasm/wasi-internal.h"
#include "basic/banned.h"

uint32_t wasi_path_get(wasi_ctx *ctx, uint32_t ptr, uint32_t len, char **ret) {
	const uint8_t *p;

	if (len >= WASI_MAX_PATH)
		return WASI_ENAMETOOLONG;
	p = wasi_mem(ctx, ptr, len);
	if (!p)
		return WASI_EFAULT;
	if (memchr(p, 0, len))
		return WASI_EINVAL;
	*ret = xstrndup((const char *)p, len);
	return WASI_ESUCCESS;
}

uint32_t wasi_open_beneath(int dirfd, const char *path, int flags, mode_t mode, int *ret_fd) {
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};

	if (path[0] == '/')
		return WASI_EPERM;
	/* EAGAIN: a rename raced the kernel's check of `..`; try again. */
	for (unsigned i = 0;; i++) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

		if (fd >= 0) {
			*ret_fd = (int)fd;
			return WASI_ESUCCESS;
		}
		if (errno == EAGAIN && i < 64)
			continue;
		return errno == EXDEV ? WASI_EPERM : wasi_errno_from(errno);
	}
}

/* A directory fd of the guest's, with the rights a path call needs. */
static uint32_t dir_lookup(wasi_ctx *ctx, uint32_t fd, uint64_t need, struct wasi_fd **ret) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, 0, &f);

	if (e)
		return e;
	if (f->filetype != WASI_FILETYPE_DIRECTORY)
		return WASI_ENOTDIR;
	if (need & ~f->rights_base)
		return WASI_ENOTCAPABLE;
	*ret = f;
	return WASI_ESUCCESS;
}

/* A guest path split for an *at() call: `parent` (owned, O_PATH) resolved
 * beneath the directory, `base` the last component with its trailing
 * slashes (the kernel then insists on a directory, as POSIX says). */
struct at_path {
	char *path;
	int parent;
	const char *base;
};

static void at_path_release(struct at_path *a) {
	free(a->path);
	safe_close(a->parent);
	*a = (struct at_path){ .parent = -1 };
}

static bool has_trailing_slash(const char *s) {
	size_t n = strlen(s);
	return n > 0 && s[n - 1] == '/';
}

static uint32_t at_path_get(wasi_ctx *ctx, int dirfd, uint32_t ptr, uint32_t len, struct at_path *ret) {
	struct at_path a = { .parent = -1 };
	size_t start, end;
	uint32_t e;

	e = wasi_path_get(ctx, ptr, len, &a.path);
	if (e)
		return e;
	if (!a.path[0]) {
		at_path_release(&a);
		return WASI_ENOENT;
	}
	if (a.path[0] == '/') {
		at_path_release(&a);
		return WASI_EPERM;
	}
	end = strlen(a.path);
	while (end > 0 && a.path[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && a.path[start - 1] != '/')
		start--;

	if (end - start == 2 && strneq(a.path + start, "..", 2)) {
		/* "x/..": the entry is the directory the whole path names */
		e = wasi_open_beneath(dirfd, a.path, O_PATH | O_DIRECTORY, 0, &a.parent);
		a.base = ".";
	} else {
		char save = a.path[start];

		a.path[start] = '\0';
		e = wasi_open_beneath(dirfd, start > 0 ? a.path : ".", O_PATH | O_DIRECTORY, 0, &a.parent);
		a.path[start] = save;
		a.base = a.path + start;
	}
	if (e) {
		at_path_release(&a);
		return e;
	}
	*ret = a;
	return WASI_ESUCCESS;
}

/* Resolve a whole guest path beneath dirfd, following the last symlink too. */
static uint32_t open_path_follow(wasi_ctx *ctx, int dirfd, uint32_t ptr, uint32_t len, int flags, int *ret_fd) {
	_cleanup_free_ char *path = NULL;
	uint32_t e = wasi_path_get(ctx, ptr, len, &path);

	if (e)
		return e;
	if (!path[0])
		return WASI_ENOENT;
	return wasi_open_beneath(dirfd, path, flags, 0, ret_fd);
}

static void proc_fd_path(int fd, char *buf, size_t size) {
	(void)snprintf(buf, size, "/proc/self/fd/%d", fd);
}

uint32_t WASI_IMPORT(path_create_directory)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len) {
	_cleanup_(at_path_release) struct at_path a = { .parent = -1 };
	struct wasi_fd *d;
	uint32_t e = dir_lookup(ctx, fd, WASI_RIGHT_PATH_CREATE_DIRECTORY, &d);

	if (!e)
		e = at_path_get(ctx, d->host, path, path_len, &a);
	if (e)
		return e;
	return mkdirat(a.parent, a.base, 0777) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(path_remove_directory)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len) {
	_cleanup_(at_path_release) struct at_path a = { .parent = -1 };
	struct wasi_fd *d;
	uint32_t e = dir_lookup(ctx, fd, WASI_RIGHT_PATH_REMOVE_DIRECTORY, &d);

	if (!e)
		e = at_path_get(ctx, d->host, path, path_len, &a);
	if (e)
		return e;
	return unlinkat(a.parent, a.base, AT_REMOVEDIR) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(path_unlink_file)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len) {
	_cleanup_(at_path_release) struct at_path a = { .parent = -1 };
	struct wasi_fd *d;
	uint32_t e = dir_lookup(ctx, fd, WASI_RIGHT_PATH_UNLINK_FILE, &d);

	if (!e)
		e = at_path_get(ctx, d->host, path, path_len, &a);
	if (e)
		return e;
	return unlinkat(a.parent, a.base, 0) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(path_filestat_get)(wasi_ctx *ctx, uint32_t fd, uint32_t flags, uint32_t path, uint32_t path_len,
                                        uint32_t ret) {
	_cleanup_(at_path_release) struct at_path a = { .parent = -1 };
	_cleanup_close_ int target = -1;
	struct wasi_fd *d;
	uint32_t e = dir_lookup(ctx, fd, WASI_RIGHT_PATH_FILESTAT_GET, &d);
	struct stat st;
	uint8_t *p;

	if (e)
		return e;
	p = wasi_mem(ctx, ret, WASI_FILESTAT_SIZE);
	if (!p)
		return WASI_EFAULT;
	e = at_path_get(ctx, d->host, path, path_len, &a);
	if (e)
		return e;
	/* A trailing slash resolves a symlink like following would: do it beneath. */
	if ((flags & WASI_LOOKUP_SYMLINK_FOLLOW) || has_trailing_slash(a.base)) {
		e = wasi_open_beneath(d->host, a.path, O_PATH, 0, &target);
		if (e)
			return e;
		if (fstat(target, &st) < 0)
			return wasi_errno_from(errno);
	} else if (fstatat(a.parent, a.base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return wasi_errno_from(errno);
	wasi_filestat_put(p, &st, wasi_filetype_from_mode(st.st_mode));
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(path_filestat_set_times)(wasi_ctx *ctx, uint32_t fd, uint32_t flags, uint32_t path,
                                              uint32_t path_len, uint64_t atim, uint64_t mtim, uint32_t fstflags) {
	_cleanup_(at_path_release) struct at_path a = { .parent = -1 };
	_cleanup_close_ int target = -1;
	struct wasi_fd *d;
	uint32_t e = dir_lookup(ctx, fd, WASI_RIGHT_PATH_FILESTAT_SET_TIMES, &d);
	struct timespec ts[2];
	char proc[64];

	if (e)
		return e;
	e = wasi_fstflags_to_timespec(atim, mtim, fstflags, ts);
	if (e)
		return e;
	e = at_path_get(ctx, d->host, path, path_len, &a);
	if (e)
		return e;
	if (!(flags & WASI_LOOKUP_SYMLINK_FOLLOW) && !has_trailing_slash(a.base))
		return utimensat(a.parent, a.base, ts, AT_SYMLINK_NOFOLLOW) < 0 ? wasi_errno_from(errno)
		                                                                : WASI_ESUCCESS;
	e = wasi_open_beneath(d->host, a.path, O_PATH, 0, &target);
	if (e)
		return e;
	if (utimensat(target, "", ts, AT_EMPTY_PATH) == 0)
		return WASI_ESUCCESS;
	if (errno != EINVAL) /* older kernels: no AT_EMPTY_PATH here */
		return wasi_errno_from(errno);
	proc_fd_path(target, proc, sizeof(proc));
	return utimensat(AT_FDCWD, proc, ts, 0) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(path_link)(wasi_ctx *ctx, uint32_t old_fd, uint32_t old_flags, uint32_t old_path,
                                uint32_t old_path_len, uint32_t new_fd, uint32_t new_path, uint32_t new_path_len) {
	_cleanup_(at_path_release) struct at_path from = { .parent = -1 }, to = { .parent = -1 };
	_cleanup_close_ int target = -1;
	struct wasi_fd *od, *nd;
	uint32_t e = dir_lookup(ctx, old_fd, WASI_RIGHT_PATH_LINK_SOURCE, &od);
	char proc[64];

	if (!e)
		e = dir_lookup(ctx, new_fd, WASI_RIGHT_PATH_LINK_TARGET, &nd);
	if (!e)
		e = at_path_get(ctx, nd->host, new_path, new_path_len, &to);
	if (e)
		return e;
	if (!(old_flags & WASI_LOOKUP_SYMLINK_FOLLOW)) {
		e = at_path_get(ctx, od->host, old_path, old_path_len, &from);
		if (e)
			return e;
		return linkat(from.parent, from.base, to.parent, to.base, 0) < 0 ? wasi_errno_from(errno)
		                                                                 : WASI_ESUCCESS;
	}
	e = open_path_follow(ctx, od->host, old_path, old_path_len, O_PATH, &target);
	if (e)
		return e;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd does not */
	if (linkat(target, "", to.parent, to.base, AT_EMPTY_PATH) == 0)
		return WASI_ESUCCESS;
	if (errno != ENOENT && errno != EPERM)
		return wasi_errno_from(errno);
	proc_fd_path(target, proc, sizeof(proc));
	return linkat(AT_FDCWD, proc, to.parent, to.base, AT_SYMLINK_FOLLOW) < 0 ? wasi_errno_from(errno)
	                                                                         : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(path_readlink)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len, uint32_t buf,
                                    uint32_t buf_len, uint32_t ret) {
	_cleanup_(at_path_release) struct at_path a = { .parent = -1 };
	struct wasi_fd *d;
	uint32_t e = dir_lookup(ctx, fd, WASI_RIGHT_PATH_READLINK, &d);
	char link[WASI_MAX_PATH];
	uint8_t *out, *pret;
	ssize_t n;

	if (e)
		return e;
	out = wasi_mem(ctx, buf, buf_len);
	pret = wasi_mem(ctx, ret, 4);
	if (!out || !pret)
		return WASI_EFAULT;
	e = at_path_get(ctx, d->host, path, path_len, &a);
	if (e)
		return e;
	if (has_trailing_slash(a.base)) {
		/* "link/" means what it points to, which is no symlink */
		_cleanup_close_ int target = -1;

		e = wasi_open_beneath(d->host, a.path, O_PATH, 0, &target);
		return e ? e : WASI_EINVAL;
	}
	n = readlinkat(a.parent, a.base, link, sizeof(link));
	if (n < 0)
		return wasi_errno_from(errno);
	/* truncated to the guest's buffer, as readlink(2) does */
	n = MIN(n, (ssize_t)buf_len);
	memcpy(out, link, (size_t)n);
	wasi_put_u32(pret, (uint32_t)n);
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(path_rename)(wasi_ctx *ctx, uint32_t fd, uint32_t old_path, uint32_t old_path_len, uint32_t new_fd,
                                  uint32_t new_path, uint32_t new_path_len) {
	_cleanup_(at_path_release) struct at_path from = { .parent = -1 }, to = { .parent = -1 };
	struct wasi_fd *od, *nd;
	uint32_t e = dir_lookup(ctx, fd, WASI_RIGHT_PATH_RENAME_SOURCE, &od);

	if (!e)
		e = dir_lookup(ctx, new_fd, WASI_RIGHT_PATH_RENAME_TARGET, &nd);
	if (!e)
		e = at_path_get(ctx, od->host, old_path, old_path_len, &from);
	if (!e)
		e = at_path_get(ctx, nd->host, new_path, new_path_len, &to);
	if (e)
		return e;
	return renameat(from.parent, from.base, to.parent, to.base) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(path_symlink)(wasi_ctx *ctx, uint32_t old_path, uint32_t old_path_len, uint32_t fd,
                                   uint32_t new_path, uint32_t new_path_len) {
	_cleanup_(at_path_release) struct at_path a = { .parent = -1 };
	_cleanup_free_ char *contents = NULL;
	struct wasi_fd *d;
	uint32_t e = dir_lookup(ctx, fd, WASI_RIGHT_PATH_SYMLINK, &d);

	if (!e)
		e = wasi_path_get(ctx, old_path, old_path_len, &contents);
	if (e)
		return e;
	/* Useless inside the sandbox and a trap for host tools that follow it. */
	if (contents[0] == '/')
		return WASI_EPERM;
	e = at_path_get(ctx, d->host, new_path, new_path_len, &a);
	if (e)
		return e;
	return symlinkat(contents, a.parent, a.base) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}

static int open_flags(uint32_t dirflags, uint32_t oflags, uint64_t base, uint32_t fdflags) {
	bool rd = base & (WASI_RIGHT_FD_READ | WASI_RIGHT_FD_READDIR);
	bool wr = base & (WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_DATASYNC | WASI_RIGHT_FD_ALLOCATE |
	                  WASI_RIGHT_FD_FILESTAT_SET_SIZE);
	int flags = O_NOCTTY;

	if (oflags & WASI_OFLAG_DIRECTORY)
		flags |= O_RDONLY | O_DIRECTORY; /* write rights do not apply to directories */
	else
		flags |= wr ? (rd ? O_RDWR : O_WRONLY) : O_RDONLY;
	if (oflags & WASI_OFLAG_CREAT)
		flags |= O_CREAT;
	if (oflags & WASI_OFLAG_EXCL)
		flags |= O_EXCL;
	if (oflags & WASI_OFLAG_TRUNC)
		flags |= O_TRUNC;
	if (fdflags & WASI_FDFLAG_APPEND)
		flags |= O_APPEND;
	if (fdflags & WASI_FDFLAG_DSYNC)
		flags |= O_DSYNC;
	if (fdflags & WASI_FDFLAG_NONBLOCK)
		flags |= O_NONBLOCK;
	if (fdflags & (WASI_FDFLAG_RSYNC | WASI_FDFLAG_SYNC))
		flags |= O_SYNC; /* O_RSYNC == O_SYNC on Linux */
	if (!(dirflags & WASI_LOOKUP_SYMLINK_FOLLOW))
		flags |= O_NOFOLLOW;
	return flags;
}

uint32_t WASI_IMPORT(path_open)(wasi_ctx *ctx, uint32_t fd, uint32_t dirflags, uint32_t path, uint32_t path_len,
                                uint32_t oflags, uint64_t rights_base, uint64_t rights_inheriting, uint32_t fdflags,
                                uint32_t ret) {
	_cleanup_free_ char *p = NULL;
	_cleanup_close_ int host = -1;
	uint64_t need = WASI_RIGHT_PATH_OPEN;
	struct wasi_fd *d;
	uint32_t e, newfd;
	struct stat st;
	uint8_t *pret, type;
	int flags;

	if (oflags & WASI_OFLAG_CREAT)
		need |= WASI_RIGHT_PATH_CREATE_FILE;
	e = dir_lookup(ctx, fd, need, &d);
	if (e)
		return e;
	/* wasi-testsuite's truncation_rights wants perm here, not notcapable */
	if ((oflags & WASI_OFLAG_TRUNC) && !(d->rights_base & WASI_RIGHT_PATH_FILESTAT_SET_SIZE))
		return WASI_EPERM;
	if ((oflags & ~(uint32_t)WASI_OFLAGS_ALL) || (fdflags & ~(uint32_t)WASI_FDFLAGS_ALL))
		return WASI_EINVAL;
	pret = wasi_mem(ctx, ret, 4);
	if (!pret)
		return WASI_EFAULT;
	e = wasi_path_get(ctx, path, path_len, &p);
	if (e)
		return e;
	if (!p[0])
		return WASI_ENOENT;

	flags = open_flags(dirflags, oflags, rights_base, fdflags);
	e = wasi_open_beneath(d->host, p, flags, 0666, &host);
	/* Neither read nor write asked for, and not allowed to read: a
	 * path-only fd still serves stat and, for a directory, path calls. */
	if (e == WASI_EACCES && (flags & O_ACCMODE) == O_RDONLY && !(rights_base & WASI_RIGHT_FD_READ) &&
	    !(oflags & (WASI_OFLAG_CREAT | WASI_OFLAG_TRUNC)) && (dirflags & WASI_LOOKUP_SYMLINK_FOLLOW))
		e = wasi_open_beneath(d->host, p, O_PATH | (flags & O_DIRECTORY), 0, &host);
	if (e)
		return e;
	if (fstat(host, &st) < 0)
		return wasi_errno_from(errno);
	type = wasi_filetype_of_fd(host, &st);

	e = wasi_fd_insert(ctx, TAKE_FD(host), type, (uint16_t)fdflags,
	                   rights_base & d->rights_inheriting & wasi_rights_for_filetype(type),
	                   rights_inheriting & d->rights_inheriting, &newfd);
	if (e)
		return e;
	wasi_put_u32(pret, newfd);
	return WASI_ESUCCESS;
}
