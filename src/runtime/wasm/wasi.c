/* SPDX-License-Identifier: Apache-2.0 */
/* WASI preview 1: the context (args, environ, fd table), errno mapping,
 * clocks, random, process calls and the import symbol table. The fd_*,
 * path_* and poll/sock_* calls live in wasi-fd.c, wasi-path.c, wasi-poll.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/macro.h"
#include "runtime/wasm/wasi-internal.h"
#include "basic/banned.h"

uint16_t wasi_errno_from(int e) {
	switch (e < 0 ? -e : e) {
	case 0:
		return WASI_ESUCCESS;
	case E2BIG:
		return WASI_E2BIG;
	case EACCES:
		return WASI_EACCES;
	case EADDRINUSE:
		return WASI_EADDRINUSE;
	case EADDRNOTAVAIL:
		return WASI_EADDRNOTAVAIL;
	case EAFNOSUPPORT:
		return WASI_EAFNOSUPPORT;
	case EAGAIN:
		return WASI_EAGAIN;
	case EALREADY:
		return WASI_EALREADY;
	case EBADF:
		return WASI_EBADF;
	case EBADMSG:
		return WASI_EBADMSG;
	case EBUSY:
		return WASI_EBUSY;
	case ECANCELED:
		return WASI_ECANCELED;
	case ECHILD:
		return WASI_ECHILD;
	case ECONNABORTED:
		return WASI_ECONNABORTED;
	case ECONNREFUSED:
		return WASI_ECONNREFUSED;
	case ECONNRESET:
		return WASI_ECONNRESET;
	case EDEADLK:
		return WASI_EDEADLK;
	case EDESTADDRREQ:
		return WASI_EDESTADDRREQ;
	case EDOM:
		return WASI_EDOM;
	case EDQUOT:
		return WASI_EDQUOT;
	case EEXIST:
		return WASI_EEXIST;
	case EFAULT:
		return WASI_EFAULT;
	case EFBIG:
		return WASI_EFBIG;
	case EHOSTUNREACH:
		return WASI_EHOSTUNREACH;
	case EIDRM:
		return WASI_EIDRM;
	case EILSEQ:
		return WASI_EILSEQ;
	case EINPROGRESS:
		return WASI_EINPROGRESS;
	case EINTR:
		return WASI_EINTR;
	case EINVAL:
		return WASI_EINVAL;
	case EIO:
		return WASI_EIO;
	case EISCONN:
		return WASI_EISCONN;
	case EISDIR:
		return WASI_EISDIR;
	case ELOOP:
		return WASI_ELOOP;
	case EMFILE:
		return WASI_EMFILE;
	case EMLINK:
		return WASI_EMLINK;
	case EMSGSIZE:
		return WASI_EMSGSIZE;
	case EMULTIHOP:
		return WASI_EMULTIHOP;
	case ENAMETOOLONG:
		return WASI_ENAMETOOLONG;
	case ENETDOWN:
		return WASI_ENETDOWN;
	case ENETRESET:
		return WASI_ENETRESET;
	case ENETUNREACH:
		return WASI_ENETUNREACH;
	case ENFILE:
		return WASI_ENFILE;
	case ENOBUFS:
		return WASI_ENOBUFS;
	case ENODEV:
		return WASI_ENODEV;
	case ENOENT:
		return WASI_ENOENT;
	case ENOEXEC:
		return WASI_ENOEXEC;
	case ENOLCK:
		return WASI_ENOLCK;
	case ENOLINK:
		return WASI_ENOLINK;
	case ENOMEM:
		return WASI_ENOMEM;
	case ENOMSG:
		return WASI_ENOMSG;
	case ENOPROTOOPT:
		return WASI_ENOPROTOOPT;
	case ENOSPC:
		return WASI_ENOSPC;
	case ENOSYS:
		return WASI_ENOSYS;
	case ENOTCONN:
		return WASI_ENOTCONN;
	case ENOTDIR:
		return WASI_ENOTDIR;
	case ENOTEMPTY:
		return WASI_ENOTEMPTY;
	case ENOTRECOVERABLE:
		return WASI_ENOTRECOVERABLE;
	case ENOTSOCK:
		return WASI_ENOTSOCK;
	case ENOTSUP: /* == EOPNOTSUPP on Linux */
		return WASI_ENOTSUP;
	case ENOTTY:
		return WASI_ENOTTY;
	case ENXIO:
		return WASI_ENXIO;
	case EOVERFLOW:
		return WASI_EOVERFLOW;
	case EOWNERDEAD:
		return WASI_EOWNERDEAD;
	case EPERM:
		return WASI_EPERM;
	case EPIPE:
		return WASI_EPIPE;
	case EPROTO:
		return WASI_EPROTO;
	case EPROTONOSUPPORT:
		return WASI_EPROTONOSUPPORT;
	case EPROTOTYPE:
		return WASI_EPROTOTYPE;
	case ERANGE:
		return WASI_ERANGE;
	case EROFS:
		return WASI_EROFS;
	case ESPIPE:
		return WASI_ESPIPE;
	case ESRCH:
		return WASI_ESRCH;
	case ESTALE:
		return WASI_ESTALE;
	case ETIMEDOUT:
		return WASI_ETIMEDOUT;
	case ETXTBSY:
		return WASI_ETXTBSY;
	case EXDEV:
		return WASI_EXDEV;
	default:
		return WASI_EIO;
	}
}

uint32_t wasi_store_u32(wasi_ctx *ctx, uint32_t ptr, uint32_t v) {
	uint8_t *p = wasi_mem(ctx, ptr, 4);

	if (!p)
		return WASI_EFAULT;
	wasi_put_u32(p, v);
	return WASI_ESUCCESS;
}

uint32_t wasi_store_u64(wasi_ctx *ctx, uint32_t ptr, uint64_t v) {
	uint8_t *p = wasi_mem(ctx, ptr, 8);

	if (!p)
		return WASI_EFAULT;
	wasi_put_u64(p, v);
	return WASI_ESUCCESS;
}

/* ---- fd table ---- */

uint32_t wasi_fd_lookup(wasi_ctx *ctx, uint32_t fd, uint64_t need, struct wasi_fd **ret) {
	struct wasi_fd *f;
	uint64_t missing;

	if (fd >= ctx->n_fds || ctx->fds[fd].host < 0)
		return WASI_EBADF;
	f = &ctx->fds[fd];
	missing = need & ~f->rights_base;
	if (missing)
		return (missing & (WASI_RIGHT_FD_READ | WASI_RIGHT_FD_WRITE)) ? WASI_EBADF : WASI_ENOTCAPABLE;
	*ret = f;
	return WASI_ESUCCESS;
}

uint32_t wasi_fd_insert(wasi_ctx *ctx, int host, uint8_t filetype, uint16_t fdflags, uint64_t base, uint64_t inheriting,
                        uint32_t *ret_fd) {
	uint32_t fd;

	for (fd = 0; fd < ctx->n_fds; fd++)
		if (ctx->fds[fd].host < 0)
			break;
	if (fd == ctx->n_fds) {
		uint32_t n;

		if (ctx->n_fds >= WASI_MAX_FDS) {
			safe_close(host);
			return WASI_ENFILE;
		}
		n = MIN(MAX(ctx->n_fds * 2, 16u), (uint32_t)WASI_MAX_FDS);
		ctx->fds = xrealloc(ctx->fds, n * sizeof(*ctx->fds));
		for (uint32_t i = ctx->n_fds; i < n; i++)
			ctx->fds[i] = (struct wasi_fd){ .host = -1 };
		ctx->n_fds = n;
	}
	ctx->fds[fd] = (struct wasi_fd){
		.host = host,
		.filetype = filetype,
		.fdflags = fdflags,
		.rights_base = base,
		.rights_inheriting = inheriting,
	};
	*ret_fd = fd;
	return WASI_ESUCCESS;
}

void wasi_fd_release(struct wasi_fd *f) {
	if (f->dir)
		(void)closedir(f->dir);
	if (!f->borrowed)
		safe_close(f->host);
	free(f->preopen);
	*f = (struct wasi_fd){ .host = -1 };
}

uint8_t wasi_filetype_from_mode(mode_t mode) {
	switch (mode & S_IFMT) {
	case S_IFREG:
		return WASI_FILETYPE_REGULAR_FILE;
	case S_IFDIR:
		return WASI_FILETYPE_DIRECTORY;
	case S_IFCHR:
		return WASI_FILETYPE_CHARACTER_DEVICE;
	case S_IFBLK:
		return WASI_FILETYPE_BLOCK_DEVICE;
	case S_IFLNK:
		return WASI_FILETYPE_SYMBOLIC_LINK;
	case S_IFSOCK:
		return WASI_FILETYPE_SOCKET_STREAM;
	default: /* FIFOs have no WASI type */
		return WASI_FILETYPE_UNKNOWN;
	}
}

uint8_t wasi_filetype_of_fd(int fd, const struct stat *st) {
	int type;
	socklen_t len = sizeof(type);

	if (!S_ISSOCK(st->st_mode))
		return wasi_filetype_from_mode(st->st_mode);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM)
		return WASI_FILETYPE_SOCKET_DGRAM;
	return WASI_FILETYPE_SOCKET_STREAM;
}

uint64_t wasi_rights_for_filetype(uint8_t filetype) {
	switch (filetype) {
	case WASI_FILETYPE_REGULAR_FILE:
	case WASI_FILETYPE_BLOCK_DEVICE:
		return WASI_RIGHTS_FILE_BASE;
	case WASI_FILETYPE_DIRECTORY:
		return WASI_RIGHTS_DIR_BASE;
	case WASI_FILETYPE_SOCKET_STREAM:
	case WASI_FILETYPE_SOCKET_DGRAM:
		return WASI_RIGHTS_SOCKET_BASE;
	default: /* character devices, FIFOs: streams */
		return WASI_RIGHTS_STREAM_BASE;
	}
}

static uint64_t timespec_ns(const struct timespec *ts) {
	if (ts->tv_sec < 0)
		return 0;
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

void wasi_filestat_put(uint8_t *p, const struct stat *st, uint8_t filetype) {
	memset(p, 0, WASI_FILESTAT_SIZE);
	wasi_put_u64(p + 0, st->st_dev);
	wasi_put_u64(p + 8, st->st_ino);
	wasi_put_u8(p + 16, filetype);
	wasi_put_u64(p + 24, st->st_nlink);
	wasi_put_u64(p + 32, (uint64_t)st->st_size);
	wasi_put_u64(p + 40, timespec_ns(&st->st_atim));
	wasi_put_u64(p + 48, timespec_ns(&st->st_mtim));
	wasi_put_u64(p + 56, timespec_ns(&st->st_ctim));
}

static struct timespec ns_timespec(uint64_t ns) {
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
}

uint32_t wasi_fstflags_to_timespec(uint64_t atim, uint64_t mtim, uint32_t fstflags, struct timespec ts[2]) {
	if (fstflags &
	    ~(uint32_t)(WASI_FSTFLAG_ATIM | WASI_FSTFLAG_ATIM_NOW | WASI_FSTFLAG_MTIM | WASI_FSTFLAG_MTIM_NOW))
		return WASI_EINVAL;
	if ((fstflags & WASI_FSTFLAG_ATIM) && (fstflags & WASI_FSTFLAG_ATIM_NOW))
		return WASI_EINVAL;
	if ((fstflags & WASI_FSTFLAG_MTIM) && (fstflags & WASI_FSTFLAG_MTIM_NOW))
		return WASI_EINVAL;
	ts[0] = (struct timespec){ .tv_nsec = UTIME_OMIT };
	ts[1] = (struct timespec){ .tv_nsec = UTIME_OMIT };
	if (fstflags & WASI_FSTFLAG_ATIM)
		ts[0] = ns_timespec(atim);
	else if (fstflags & WASI_FSTFLAG_ATIM_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	if (fstflags & WASI_FSTFLAG_MTIM)
		ts[1] = ns_timespec(mtim);
	else if (fstflags & WASI_FSTFLAG_MTIM_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	return WASI_ESUCCESS;
}

uint32_t wasi_iovecs_get(wasi_ctx *ctx, uint32_t iovs, uint32_t iovs_len, struct iovec **ret, int *ret_n) {
	_cleanup_free_ struct iovec *v = NULL;
	const uint8_t *p;
	uint64_t total = 0;

	if (iovs_len > WASI_MAX_IOVS)
		return WASI_EINVAL;
	p = wasi_mem(ctx, iovs, (uint64_t)iovs_len * WASI_IOVEC_SIZE);
	if (!p)
		return WASI_EFAULT;
	v = xnew(struct iovec, MAX(iovs_len, 1u));
	for (uint32_t i = 0; i < iovs_len; i++) {
		uint32_t buf = wasi_get_u32(p + i * WASI_IOVEC_SIZE);
		uint32_t len = wasi_get_u32(p + i * WASI_IOVEC_SIZE + 4);
		uint8_t *host = wasi_mem(ctx, buf, len);

		if (!host)
			return WASI_EFAULT;
		len = (uint32_t)MIN((uint64_t)len, UINT32_MAX - total);
		v[i] = (struct iovec){ .iov_base = host, .iov_len = len };
		total += len;
	}
	*ret = TAKE_PTR(v);
	*ret_n = (int)iovs_len;
	return WASI_ESUCCESS;
}

/* ---- context ---- */

static int strv_measure(char *const *l, const char *what, uint32_t *ret_n, uint32_t *ret_bytes,
                        struct za_error **reterr) {
	size_t n = strv_length(l), bytes = 0;

	if (n > WASI_MAX_ARGS)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, E2BIG,
		                     "too many %s for the module (%zu, at most %d)", what, n, WASI_MAX_ARGS);
	for (size_t i = 0; i < n; i++) {
		bytes += strlen(l[i]) + 1;
		if (bytes > WASI_MAX_ARGS_BYTES)
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, E2BIG,
			                     "%s for the module are too long (more than %u bytes)", what,
			                     WASI_MAX_ARGS_BYTES);
	}
	*ret_n = (uint32_t)n;
	*ret_bytes = (uint32_t)bytes;
	return 0;
}

static void wasi_ctx_freep(wasi_ctx **ctx) {
	*ctx = wasi_ctx_free(*ctx);
}

static int stdio_setup(wasi_ctx *ctx, uint32_t i, int host, struct za_error **reterr) {
	struct wasi_fd *f = &ctx->fds[i];
	struct stat st;
	int fl;

	f->borrowed = host >= 0;
	if (host < 0) {
		host = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (host < 0)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "open '/dev/null' for guest fd %u: %m",
			                     i);
	}
	f->host = host;
	if (fstat(host, &st) < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, errno, "stdio fd %d for guest fd %u: %m", host, i);
	f->filetype = wasi_filetype_of_fd(host, &st);
	fl = fcntl(host, F_GETFL);
	if (fl >= 0) {
		if (fl & O_APPEND)
			f->fdflags |= WASI_FDFLAG_APPEND;
		if (fl & O_NONBLOCK)
			f->fdflags |= WASI_FDFLAG_NONBLOCK;
	}
	f->rights_base = wasi_rights_for_filetype(f->filetype);
	f->rights_inheriting = 0;
	return 0;
}

static int preopen_setup(wasi_ctx *ctx, uint32_t i, const struct wasi_preopen *p, struct za_error **reterr) {
	struct wasi_fd *f = &ctx->fds[i];
	int fd;

	if (isempty(p->guest_path) || isempty(p->host_path))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "preopen %u has an empty guest or host path", i);
	if (strlen(p->guest_path) >= WASI_MAX_PATH)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENAMETOOLONG, "preopen guest path is too long");
	fd = open(p->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == EACCES)
		fd = open(p->host_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, errno,
		                     "open directory '%s' to preopen as '%s': %m (create it or fix the volume)",
		                     p->host_path, p->guest_path);
	*f = (struct wasi_fd){
		.host = fd,
		.filetype = WASI_FILETYPE_DIRECTORY,
		.rights_base = WASI_RIGHTS_DIR_BASE,
		.rights_inheriting = WASI_RIGHTS_ALL,
		.preopen = xstrdup(p->guest_path),
	};
	return 0;
}

int wasi_ctx_new(const struct wasi_config *cfg, wasi_ctx **ret, struct za_error **reterr) {
	_cleanup_(wasi_ctx_freep) wasi_ctx *ctx = NULL;
	int r;

	if (cfg->n_preopens > WASI_MAX_FDS - 3)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EMFILE, "too many preopened directories (%zu)",
		                     cfg->n_preopens);

	ctx = xnew(wasi_ctx, 1);
	r = strv_measure(cfg->args, "arguments", &ctx->n_args, &ctx->args_bytes, reterr);
	if (r < 0)
		return r;
	r = strv_measure(cfg->environ, "environment variables", &ctx->n_environ, &ctx->environ_bytes, reterr);
	if (r < 0)
		return r;
	ctx->args = strv_copy(cfg->args);
	ctx->environ = strv_copy(cfg->environ);

	ctx->n_fds = (uint32_t)MAX(3 + cfg->n_preopens, (size_t)16);
	ctx->fds = xnew(struct wasi_fd, ctx->n_fds);
	for (uint32_t i = 0; i < ctx->n_fds; i++)
		ctx->fds[i].host = -1;
	for (uint32_t i = 0; i < 3; i++) {
		r = stdio_setup(ctx, i, cfg->stdio[i], reterr);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cfg->n_preopens; i++) {
		r = preopen_setup(ctx, (uint32_t)(3 + i), &cfg->preopens[i], reterr);
		if (r < 0)
			return r;
	}
	ctx->exit_fn = cfg->exit_fn;
	ctx->exit_userdata = cfg->exit_userdata;
	*ret = TAKE_PTR(ctx);
	return 0;
}

void wasi_ctx_set_memory(wasi_ctx *ctx, wasm_rt_memory_t *memory) {
	ctx->memory = memory;
}

wasi_ctx *wasi_ctx_free(wasi_ctx *ctx) {
	if (!ctx)
		return NULL;
	for (uint32_t i = 0; i < ctx->n_fds; i++)
		if (ctx->fds[i].host >= 0)
			wasi_fd_release(&ctx->fds[i]);
	free(ctx->fds);
	strv_free(ctx->args);
	strv_free(ctx->environ);
	free(ctx);
	return NULL;
}

bool wasi_ctx_exited(const wasi_ctx *ctx, uint32_t *ret_code) {
	if (!ctx->exited)
		return false;
	if (ret_code)
		*ret_code = ctx->exit_code;
	return true;
}

/* ---- args, environ ---- */

static uint32_t strv_sizes_get(wasi_ctx *ctx, uint32_t n, uint32_t bytes, uint32_t ret_n, uint32_t ret_bytes) {
	uint8_t *pn = wasi_mem(ctx, ret_n, 4), *pb = wasi_mem(ctx, ret_bytes, 4);

	if (!pn || !pb)
		return WASI_EFAULT;
	wasi_put_u32(pn, n);
	wasi_put_u32(pb, bytes);
	return WASI_ESUCCESS;
}

/* argv-style layout: n u32 pointers at `ptrs`, the NUL-terminated strings
 * packed from `buf`. */
static uint32_t strv_get(wasi_ctx *ctx, char **l, uint32_t n, uint32_t bytes, uint32_t ptrs, uint32_t buf) {
	uint8_t *pp = wasi_mem(ctx, ptrs, (uint64_t)n * 4), *pb = wasi_mem(ctx, buf, bytes);
	uint32_t off = 0;

	if (!pp || !pb)
		return WASI_EFAULT;
	for (uint32_t i = 0; i < n; i++) {
		size_t len = strlen(l[i]) + 1;

		wasi_put_u32(pp + (size_t)i * 4, buf + off);
		memcpy(pb + off, l[i], len);
		off += (uint32_t)len;
	}
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(args_sizes_get)(wasi_ctx *ctx, uint32_t ret_argc, uint32_t ret_buf_size) {
	return strv_sizes_get(ctx, ctx->n_args, ctx->args_bytes, ret_argc, ret_buf_size);
}

uint32_t WASI_IMPORT(args_get)(wasi_ctx *ctx, uint32_t argv, uint32_t argv_buf) {
	return strv_get(ctx, ctx->args, ctx->n_args, ctx->args_bytes, argv, argv_buf);
}

uint32_t WASI_IMPORT(environ_sizes_get)(wasi_ctx *ctx, uint32_t ret_count, uint32_t ret_buf_size) {
	return strv_sizes_get(ctx, ctx->n_environ, ctx->environ_bytes, ret_count, ret_buf_size);
}

uint32_t WASI_IMPORT(environ_get)(wasi_ctx *ctx, uint32_t env, uint32_t env_buf) {
	return strv_get(ctx, ctx->environ, ctx->n_environ, ctx->environ_bytes, env, env_buf);
}

/* ---- clocks, random, process ---- */

static bool clock_from_wasi(uint32_t id, clockid_t *ret) {
	switch (id) {
	case WASI_CLOCK_REALTIME:
		*ret = CLOCK_REALTIME;
		return true;
	case WASI_CLOCK_MONOTONIC:
		*ret = CLOCK_MONOTONIC;
		return true;
	case WASI_CLOCK_PROCESS_CPUTIME:
		*ret = CLOCK_PROCESS_CPUTIME_ID;
		return true;
	case WASI_CLOCK_THREAD_CPUTIME:
		*ret = CLOCK_THREAD_CPUTIME_ID;
		return true;
	default:
		return false;
	}
}

uint32_t WASI_IMPORT(clock_res_get)(wasi_ctx *ctx, uint32_t id, uint32_t ret) {
	struct timespec ts;
	clockid_t c;
	uint8_t *p = wasi_mem(ctx, ret, 8);

	if (!clock_from_wasi(id, &c))
		return WASI_EINVAL;
	if (!p)
		return WASI_EFAULT;
	if (clock_getres(c, &ts) < 0)
		return wasi_errno_from(errno);
	wasi_put_u64(p, MAX(timespec_ns(&ts), (uint64_t)1));
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(clock_time_get)(wasi_ctx *ctx, uint32_t id, uint64_t precision, uint32_t ret) {
	struct timespec ts;
	clockid_t c;
	uint8_t *p = wasi_mem(ctx, ret, 8);

	(void)precision;
	if (!clock_from_wasi(id, &c))
		return WASI_EINVAL;
	if (!p)
		return WASI_EFAULT;
	if (clock_gettime(c, &ts) < 0)
		return wasi_errno_from(errno);
	wasi_put_u64(p, timespec_ns(&ts));
	return WASI_ESUCCESS;
}

uint32_t WASI_IMPORT(random_get)(wasi_ctx *ctx, uint32_t buf, uint32_t buf_len) {
	uint8_t *p = wasi_mem(ctx, buf, buf_len);
	size_t done = 0;

	if (!p)
		return WASI_EFAULT;
	while (done < buf_len) {
		ssize_t n = getrandom(p + done, buf_len - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return wasi_errno_from(errno);
		}
		done += (size_t)n;
	}
	return WASI_ESUCCESS;
}

void WASI_IMPORT(proc_exit)(wasi_ctx *ctx, uint32_t code) {
	ctx->exited = true;
	ctx->exit_code = code;
	if (ctx->exit_fn)
		ctx->exit_fn(ctx->exit_userdata, code);
	/* No exit_fn, or one that returned: the guest must not run on. */
	wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE);
}

uint32_t WASI_IMPORT(proc_raise)(wasi_ctx *ctx, uint32_t sig) {
	(void)ctx;
	(void)sig;
	return WASI_ENOTSUP; /* as wasmtime: signals are not delivered to guests */
}

uint32_t WASI_IMPORT(sched_yield)(wasi_ctx *ctx) {
	(void)ctx;
	(void)sched_yield();
	return WASI_ESUCCESS;
}

/* ---- the import table ---- */

#define SYM(name) \
	{ "Z_wasi_snapshot_preview1Z_" #name, (void *)WASI_IMPORT(name) }

const struct wasi_symbol wasi_symbols[] = {
	SYM(args_get),
	SYM(args_sizes_get),
	SYM(clock_res_get),
	SYM(clock_time_get),
	SYM(environ_get),
	SYM(environ_sizes_get),
	SYM(fd_advise),
	SYM(fd_allocate),
	SYM(fd_close),
	SYM(fd_datasync),
	SYM(fd_fdstat_get),
	SYM(fd_fdstat_set_flags),
	SYM(fd_fdstat_set_rights),
	SYM(fd_filestat_get),
	SYM(fd_filestat_set_size),
	SYM(fd_filestat_set_times),
	SYM(fd_pread),
	SYM(fd_prestat_dir_name),
	SYM(fd_prestat_get),
	SYM(fd_pwrite),
	SYM(fd_read),
	SYM(fd_readdir),
	SYM(fd_renumber),
	SYM(fd_seek),
	SYM(fd_sync),
	SYM(fd_tell),
	SYM(fd_write),
	SYM(path_create_directory),
	SYM(path_filestat_get),
	SYM(path_filestat_set_times),
	SYM(path_link),
	SYM(path_open),
	SYM(path_readlink),
	SYM(path_remove_directory),
	SYM(path_rename),
	SYM(path_symlink),
	SYM(path_unlink_file),
	SYM(poll_oneoff),
	SYM(proc_exit),
	SYM(proc_raise),
	SYM(random_get),
	SYM(sched_yield),
	SYM(sock_accept),
	SYM(sock_recv),
	SYM(sock_send),
	SYM(sock_shutdown),
	{ NULL, NULL },
};
