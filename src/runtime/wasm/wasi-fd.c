/* SPDX-License-Identifier: Apache-2.0 */
/* WASI preview 1 fd_* calls: each looks its guest fd up with the rights it
 * needs, checks every guest range before acting, then makes one host call. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/macro.h"
#include "runtime/wasm/wasi-internal.h"
#include "basic/banned.h"

uint32_t WASI_IMPORT(fd_advise)(wasi_ctx *ctx, uint32_t fd, uint64_t offset, uint64_t len, uint32_t advice) {
	static const int map[] = { POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
		                   POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,   POSIX_FADV_NOREUSE };
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_ADVISE, &f);
	int r;

	if (e)
		return e;
	if (advice >= ELEMENTSOF(map) || offset > INT64_MAX || len > INT64_MAX)
		return WASI_EINVAL;
	r = posix_fadvise(f->host, (off_t)offset, (off_t)len, map[advice]);
	return r ? wasi_errno_from(r) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_allocate)(wasi_ctx *ctx, uint32_t fd, uint64_t offset, uint64_t len) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_ALLOCATE, &f);
	int r;

	if (e)
		return e;
	if (offset > INT64_MAX || len > INT64_MAX || offset + len > INT64_MAX)
		return WASI_EINVAL;
	if (f->filetype == WASI_FILETYPE_DIRECTORY)
		return WASI_EISDIR;
	r = posix_fallocate(f->host, (off_t)offset, (off_t)len);
	return r ? wasi_errno_from(r) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_close)(wasi_ctx *ctx, uint32_t fd) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, 0, &f);

	if (e)
		return e;
	wasi_fd_release(f);
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_datasync)(wasi_ctx *ctx, uint32_t fd) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_DATASYNC, &f);

	if (e)
		return e;
	return fdatasync(f->host) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_sync)(wasi_ctx *ctx, uint32_t fd) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_SYNC, &f);

	if (e)
		return e;
	return fsync(f->host) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_fdstat_get)(wasi_ctx *ctx, uint32_t fd, uint32_t ret) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, 0, &f);
	uint8_t *p;

	if (e)
		return e;
	p = wasi_mem(ctx, ret, WASI_FDSTAT_SIZE);
	if (!p)
		return WASI_EFAULT;
	memset(p, 0, WASI_FDSTAT_SIZE);
	wasi_put_u8(p + 0, f->filetype);
	wasi_put_u16(p + 2, f->fdflags);
	wasi_put_u64(p + 8, f->rights_base);
	wasi_put_u64(p + 16, f->rights_inheriting);
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_fdstat_set_flags)(wasi_ctx *ctx, uint32_t fd, uint32_t flags) {
	const uint32_t sync = WASI_FDFLAG_DSYNC | WASI_FDFLAG_RSYNC | WASI_FDFLAG_SYNC;
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_FDSTAT_SET_FLAGS, &f);
	int fl;

	if (e)
		return e;
	/* Linux's F_SETFL ignores the sync flags: refuse to pretend (wasmtime: inval). */
	if ((flags & ~(uint32_t)WASI_FDFLAGS_ALL) || ((flags ^ f->fdflags) & sync))
		return WASI_EINVAL;
	fl = fcntl(f->host, F_GETFL);
	if (fl < 0)
		return wasi_errno_from(errno);
	fl &= ~(O_APPEND | O_NONBLOCK);
	if (flags & WASI_FDFLAG_APPEND)
		fl |= O_APPEND;
	if (flags & WASI_FDFLAG_NONBLOCK)
		fl |= O_NONBLOCK;
	if (fcntl(f->host, F_SETFL, fl) < 0)
		return wasi_errno_from(errno);
	f->fdflags = (uint16_t)flags;
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_fdstat_set_rights)(wasi_ctx *ctx, uint32_t fd, uint64_t base, uint64_t inheriting) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, 0, &f);

	if (e)
		return e;
	/* Rights only ever shrink. */
	if ((base & ~f->rights_base) || (inheriting & ~f->rights_inheriting))
		return WASI_ENOTCAPABLE;
	f->rights_base = base;
	f->rights_inheriting = inheriting;
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_filestat_get)(wasi_ctx *ctx, uint32_t fd, uint32_t ret) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_FILESTAT_GET, &f);
	struct stat st;
	uint8_t *p;

	if (e)
		return e;
	p = wasi_mem(ctx, ret, WASI_FILESTAT_SIZE);
	if (!p)
		return WASI_EFAULT;
	if (fstat(f->host, &st) < 0)
		return wasi_errno_from(errno);
	wasi_filestat_put(p, &st, S_ISSOCK(st.st_mode) ? f->filetype : wasi_filetype_from_mode(st.st_mode));
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_filestat_set_size)(wasi_ctx *ctx, uint32_t fd, uint64_t size) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_FILESTAT_SET_SIZE, &f);

	if (e)
		return e;
	if (size > INT64_MAX)
		return WASI_EINVAL;
	return ftruncate(f->host, (off_t)size) < 0 ? wasi_errno_from(errno) : WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_filestat_set_times)(wasi_ctx *ctx, uint32_t fd, uint64_t atim, uint64_t mtim,
                                            uint32_t fstflags) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_FILESTAT_SET_TIMES, &f);
	struct timespec ts[2];

	if (e)
		return e;
	e = wasi_fstflags_to_timespec(atim, mtim, fstflags, ts);
	if (e)
		return e;
	if (futimens(f->host, ts) == 0)
		return WASI_ESUCCESS;
	/* an O_PATH preopen */
	if (errno == EBADF && utimensat(f->host, "", ts, AT_EMPTY_PATH) == 0)
		return WASI_ESUCCESS;
	return wasi_errno_from(errno);
}

/* fd_read, fd_pread, fd_write, fd_pwrite: `offset` < 0 for the fd's position. */
static uint32_t fd_io(wasi_ctx *ctx, uint32_t fd, uint32_t iovs, uint32_t iovs_len, int64_t offset, uint32_t ret,
                      bool write) {
	_cleanup_free_ struct iovec *v = NULL;
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, write ? WASI_RIGHT_FD_WRITE : WASI_RIGHT_FD_READ, &f);
	uint8_t *pret;
	ssize_t n;
	int nv;

	if (e)
		return e;
	e = wasi_iovecs_get(ctx, iovs, iovs_len, &v, &nv);
	if (e)
		return e;
	pret = wasi_mem(ctx, ret, 4);
	if (!pret)
		return WASI_EFAULT;
	if (f->filetype == WASI_FILETYPE_DIRECTORY)
		return WASI_EISDIR;
	do {
		if (write)
			n = offset < 0 ? writev(f->host, v, nv) : pwritev(f->host, v, nv, offset);
		else
			n = offset < 0 ? readv(f->host, v, nv) : preadv(f->host, v, nv, offset);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return wasi_errno_from(errno);
	wasi_put_u32(pret, (uint32_t)n);
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_read)(wasi_ctx *ctx, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t ret) {
	return fd_io(ctx, fd, iovs, iovs_len, -1, ret, false);
}

uint32_t WASI_IMPORT(fd_write)(wasi_ctx *ctx, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t ret) {
	return fd_io(ctx, fd, iovs, iovs_len, -1, ret, true);
}

uint32_t WASI_IMPORT(fd_pread)(wasi_ctx *ctx, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint64_t offset,
                               uint32_t ret) {
	if (offset > INT64_MAX)
		return WASI_EINVAL;
	return fd_io(ctx, fd, iovs, iovs_len, (int64_t)offset, ret, false);
}

uint32_t WASI_IMPORT(fd_pwrite)(wasi_ctx *ctx, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint64_t offset,
                                uint32_t ret) {
	if (offset > INT64_MAX)
		return WASI_EINVAL;
	return fd_io(ctx, fd, iovs, iovs_len, (int64_t)offset, ret, true);
}

uint32_t WASI_IMPORT(fd_prestat_get)(wasi_ctx *ctx, uint32_t fd, uint32_t ret) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, 0, &f);
	uint8_t *p;

	if (e)
		return e;
	if (!f->preopen)
		return WASI_EBADF; /* what ends wasi-libc's scan of the preopens */
	p = wasi_mem(ctx, ret, WASI_PRESTAT_SIZE);
	if (!p)
		return WASI_EFAULT;
	memset(p, 0, WASI_PRESTAT_SIZE);
	wasi_put_u8(p, WASI_PREOPENTYPE_DIR);
	wasi_put_u32(p + 4, (uint32_t)strlen(f->preopen));
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_prestat_dir_name)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, 0, &f);
	size_t len;
	uint8_t *p;

	if (e)
		return e;
	if (!f->preopen)
		return WASI_EBADF;
	len = strlen(f->preopen);
	if (path_len < len)
		return WASI_ENAMETOOLONG;
	p = wasi_mem(ctx, path, len);
	if (!p)
		return WASI_EFAULT;
	memcpy(p, f->preopen, len);
	return WASI_ESUCCESS;
}

static uint8_t dirent_type(DIR *d, const struct dirent *de) {
	struct stat st;

	switch (de->d_type) {
	case DT_REG:
		return WASI_FILETYPE_REGULAR_FILE;
	case DT_DIR:
		return WASI_FILETYPE_DIRECTORY;
	case DT_LNK:
		return WASI_FILETYPE_SYMBOLIC_LINK;
	case DT_CHR:
		return WASI_FILETYPE_CHARACTER_DEVICE;
	case DT_BLK:
		return WASI_FILETYPE_BLOCK_DEVICE;
	case DT_SOCK:
		return WASI_FILETYPE_SOCKET_STREAM;
	case DT_FIFO:
		return WASI_FILETYPE_UNKNOWN;
	default:
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return WASI_FILETYPE_UNKNOWN;
		return wasi_filetype_from_mode(st.st_mode);
	}
}

/* Position f->dir so that its next entry is number `cookie` (0 = first).
 * Cookies are entry indexes, so the guest can only name real positions. */
static uint32_t readdir_seek(struct wasi_fd *f, uint64_t cookie) {
	if (!f->dir) {
		int fd = openat(f->host, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			return wasi_errno_from(errno);
		f->dir = fdopendir(fd);
		if (!f->dir) {
			safe_close(fd);
			return wasi_errno_from(errno);
		}
		f->dir_next = 0;
	}
	if (cookie < f->dir_next || cookie == 0) {
		rewinddir(f->dir); /* also sees entries created since */
		f->dir_next = 0;
	}
	while (f->dir_next < cookie) {
		errno = 0;
		if (!readdir(f->dir))
			return errno ? wasi_errno_from(errno) : WASI_ESUCCESS; /* past the end: nothing */
		f->dir_next++;
	}
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_readdir)(wasi_ctx *ctx, uint32_t fd, uint32_t buf, uint32_t buf_len, uint64_t cookie,
                                 uint32_t ret) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_READDIR, &f);
	uint8_t *out, *pret;
	uint32_t used = 0;

	if (e)
		return e;
	if (f->filetype != WASI_FILETYPE_DIRECTORY)
		return WASI_ENOTDIR;
	out = wasi_mem(ctx, buf, buf_len);
	pret = wasi_mem(ctx, ret, 4);
	if (!out || !pret)
		return WASI_EFAULT;
	e = readdir_seek(f, cookie);
	if (e)
		return e;

	while (used < buf_len) {
		uint8_t head[WASI_DIRENT_SIZE] = {};
		long loc = telldir(f->dir);
		struct dirent *de;
		size_t namlen, need, n;

		errno = 0;
		de = readdir(f->dir);
		if (!de) {
			if (errno)
				return wasi_errno_from(errno);
			break;
		}
		namlen = strlen(de->d_name);
		wasi_put_u64(head + 0, f->dir_next + 1);
		wasi_put_u64(head + 8, de->d_ino);
		wasi_put_u32(head + 16, (uint32_t)namlen);
		wasi_put_u8(head + 20, dirent_type(f->dir, de));

		need = sizeof(head) + namlen;
		if (need > buf_len - used) {
			/* The spec's truncation: as much of the last entry as
			 * fits; bufused == buf_len makes the guest ask again
			 * from the previous cookie with a larger buffer. */
			n = MIN(sizeof(head), (size_t)(buf_len - used));
			memcpy(out + used, head, n);
			memcpy(out + used + n, de->d_name, buf_len - used - n);
			used = buf_len;
			seekdir(f->dir, loc); /* not consumed: it comes again */
			break;
		}
		memcpy(out + used, head, sizeof(head));
		memcpy(out + used + sizeof(head), de->d_name, namlen);
		used += (uint32_t)need;
		f->dir_next++;
	}
	wasi_put_u32(pret, used);
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_renumber)(wasi_ctx *ctx, uint32_t fd, uint32_t to) {
	struct wasi_fd *from, *dst;
	uint32_t e = wasi_fd_lookup(ctx, fd, 0, &from);

	if (e)
		return e;
	e = wasi_fd_lookup(ctx, to, 0, &dst);
	if (e)
		return e;
	if (from == dst)
		return WASI_ESUCCESS;
	wasi_fd_release(dst);
	*dst = *from;
	*from = (struct wasi_fd){ .host = -1 };
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_seek)(wasi_ctx *ctx, uint32_t fd, uint64_t offset, uint32_t whence, uint32_t ret) {
	static const int map[] = { SEEK_SET, SEEK_CUR, SEEK_END };
	/* lseek(fd, 0, SEEK_CUR) is a tell: fd_tell's right is enough */
	uint64_t need = (offset == 0 && whence == WASI_WHENCE_CUR) ? WASI_RIGHT_FD_TELL : WASI_RIGHT_FD_SEEK;
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, need, &f);
	uint8_t *p;
	off_t r;

	if (e)
		return e;
	if (whence >= ELEMENTSOF(map))
		return WASI_EINVAL;
	p = wasi_mem(ctx, ret, 8);
	if (!p)
		return WASI_EFAULT;
	r = lseek(f->host, (off_t)(int64_t)offset, map[whence]);
	if (r < 0)
		return wasi_errno_from(errno);
	wasi_put_u64(p, (uint64_t)r);
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(fd_tell)(wasi_ctx *ctx, uint32_t fd, uint32_t ret) {
	struct wasi_fd *f;
	uint32_t e = wasi_fd_lookup(ctx, fd, WASI_RIGHT_FD_TELL, &f);
	uint8_t *p;
	off_t r;

	if (e)
		return e;
	p = wasi_mem(ctx, ret, 8);
	if (!p)
		return WASI_EFAULT;
	r = lseek(f->host, 0, SEEK_CUR);
	if (r < 0)
		return wasi_errno_from(errno);
	wasi_put_u64(p, (uint64_t)r);
	return WASI_ESUCCESS;
}
