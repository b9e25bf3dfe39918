/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the WASI preview 1 host files: the witx constants and
 * struct layouts (wasm32 offsets, written here because the wasm32-wasi api.h
 * asserts a 32-bit data layout), the context and its fd table, bounds-checked
 * little-endian access to guest memory, the host->WASI errno mapping and the
 * prototypes of every import wasm2c's generated code calls. */
#pragma once

#include <dirent.h>
#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "runtime/wasm/wasi.h"

/* errno (witx `errno`, u16) */
enum {
	WASI_ESUCCESS = 0,
	WASI_E2BIG = 1,
	WASI_EACCES = 2,
	WASI_EADDRINUSE = 3,
	WASI_EADDRNOTAVAIL = 4,
	WASI_EAFNOSUPPORT = 5,
	WASI_EAGAIN = 6,
	WASI_EALREADY = 7,
	WASI_EBADF = 8,
	WASI_EBADMSG = 9,
	WASI_EBUSY = 10,
	WASI_ECANCELED = 11,
	WASI_ECHILD = 12,
	WASI_ECONNABORTED = 13,
	WASI_ECONNREFUSED = 14,
	WASI_ECONNRESET = 15,
	WASI_EDEADLK = 16,
	WASI_EDESTADDRREQ = 17,
	WASI_EDOM = 18,
	WASI_EDQUOT = 19,
	WASI_EEXIST = 20,
	WASI_EFAULT = 21,
	WASI_EFBIG = 22,
	WASI_EHOSTUNREACH = 23,
	WASI_EIDRM = 24,
	WASI_EILSEQ = 25,
	WASI_EINPROGRESS = 26,
	WASI_EINTR = 27,
	WASI_EINVAL = 28,
	WASI_EIO = 29,
	WASI_EISCONN = 30,
	WASI_EISDIR = 31,
	WASI_ELOOP = 32,
	WASI_EMFILE = 33,
	WASI_EMLINK = 34,
	WASI_EMSGSIZE = 35,
	WASI_EMULTIHOP = 36,
	WASI_ENAMETOOLONG = 37,
	WASI_ENETDOWN = 38,
	WASI_ENETRESET = 39,
	WASI_ENETUNREACH = 40,
	WASI_ENFILE = 41,
	WASI_ENOBUFS = 42,
	WASI_ENODEV = 43,
	WASI_ENOENT = 44,
	WASI_ENOEXEC = 45,
	WASI_ENOLCK = 46,
	WASI_ENOLINK = 47,
	WASI_ENOMEM = 48,
	WASI_ENOMSG = 49,
	WASI_ENOPROTOOPT = 50,
	WASI_ENOSPC = 51,
	WASI_ENOSYS = 52,
	WASI_ENOTCONN = 53,
	WASI_ENOTDIR = 54,
	WASI_ENOTEMPTY = 55,
	WASI_ENOTRECOVERABLE = 56,
	WASI_ENOTSOCK = 57,
	WASI_ENOTSUP = 58,
	WASI_ENOTTY = 59,
	WASI_ENXIO = 60,
	WASI_EOVERFLOW = 61,
	WASI_EOWNERDEAD = 62,
	WASI_EPERM = 63,
	WASI_EPIPE = 64,
	WASI_EPROTO = 65,
	WASI_EPROTONOSUPPORT = 66,
	WASI_EPROTOTYPE = 67,
	WASI_ERANGE = 68,
	WASI_EROFS = 69,
	WASI_ESPIPE = 70,
	WASI_ESRCH = 71,
	WASI_ESTALE = 72,
	WASI_ETIMEDOUT = 73,
	WASI_ETXTBSY = 74,
	WASI_EXDEV = 75,
	WASI_ENOTCAPABLE = 76,
};

/* rights (u64) */
#define WASI_RIGHT_FD_DATASYNC             (UINT64_C(1) << 0)
#define WASI_RIGHT_FD_READ                 (UINT64_C(1) << 1)
#define WASI_RIGHT_FD_SEEK                 (UINT64_C(1) << 2)
#define WASI_RIGHT_FD_FDSTAT_SET_FLAGS     (UINT64_C(1) << 3)
#define WASI_RIGHT_FD_SYNC                 (UINT64_C(1) << 4)
#define WASI_RIGHT_FD_TELL                 (UINT64_C(1) << 5)
#define WASI_RIGHT_FD_WRITE                (UINT64_C(1) << 6)
#define WASI_RIGHT_FD_ADVISE               (UINT64_C(1) << 7)
#define WASI_RIGHT_FD_ALLOCATE             (UINT64_C(1) << 8)
#define WASI_RIGHT_PATH_CREATE_DIRECTORY   (UINT64_C(1) << 9)
#define WASI_RIGHT_PATH_CREATE_FILE        (UINT64_C(1) << 10)
#define WASI_RIGHT_PATH_LINK_SOURCE        (UINT64_C(1) << 11)
#define WASI_RIGHT_PATH_LINK_TARGET        (UINT64_C(1) << 12)
#define WASI_RIGHT_PATH_OPEN               (UINT64_C(1) << 13)
#define WASI_RIGHT_FD_READDIR              (UINT64_C(1) << 14)
#define WASI_RIGHT_PATH_READLINK           (UINT64_C(1) << 15)
#define WASI_RIGHT_PATH_RENAME_SOURCE      (UINT64_C(1) << 16)
#define WASI_RIGHT_PATH_RENAME_TARGET      (UINT64_C(1) << 17)
#define WASI_RIGHT_PATH_FILESTAT_GET       (UINT64_C(1) << 18)
#define WASI_RIGHT_PATH_FILESTAT_SET_SIZE  (UINT64_C(1) << 19)
#define WASI_RIGHT_PATH_FILESTAT_SET_TIMES (UINT64_C(1) << 20)
#define WASI_RIGHT_FD_FILESTAT_GET         (UINT64_C(1) << 21)
#define WASI_RIGHT_FD_FILESTAT_SET_SIZE    (UINT64_C(1) << 22)
#define WASI_RIGHT_FD_FILESTAT_SET_TIMES   (UINT64_C(1) << 23)
#define WASI_RIGHT_PATH_SYMLINK            (UINT64_C(1) << 24)
#define WASI_RIGHT_PATH_REMOVE_DIRECTORY   (UINT64_C(1) << 25)
#define WASI_RIGHT_PATH_UNLINK_FILE        (UINT64_C(1) << 26)
#define WASI_RIGHT_POLL_FD_READWRITE       (UINT64_C(1) << 27)
#define WASI_RIGHT_SOCK_SHUTDOWN           (UINT64_C(1) << 28)
#define WASI_RIGHT_SOCK_ACCEPT             (UINT64_C(1) << 29)
#define WASI_RIGHTS_ALL                    ((UINT64_C(1) << 30) - 1)

/* What applies to each kind of fd: path_open hands out no more than this. */
#define WASI_RIGHTS_DIR_BASE                                                                                     \
	(WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WASI_RIGHT_FD_SYNC | WASI_RIGHT_FD_DATASYNC |                          \
	 WASI_RIGHT_PATH_CREATE_DIRECTORY | WASI_RIGHT_PATH_CREATE_FILE | WASI_RIGHT_PATH_LINK_SOURCE |          \
	 WASI_RIGHT_PATH_LINK_TARGET | WASI_RIGHT_PATH_OPEN | WASI_RIGHT_FD_READDIR | WASI_RIGHT_PATH_READLINK | \
	 WASI_RIGHT_PATH_RENAME_SOURCE | WASI_RIGHT_PATH_RENAME_TARGET | WASI_RIGHT_PATH_FILESTAT_GET |          \
	 WASI_RIGHT_PATH_FILESTAT_SET_SIZE | WASI_RIGHT_PATH_FILESTAT_SET_TIMES | WASI_RIGHT_FD_FILESTAT_GET |   \
	 WASI_RIGHT_FD_FILESTAT_SET_TIMES | WASI_RIGHT_PATH_SYMLINK | WASI_RIGHT_PATH_REMOVE_DIRECTORY |         \
	 WASI_RIGHT_PATH_UNLINK_FILE | WASI_RIGHT_POLL_FD_READWRITE)
#define WASI_RIGHTS_FILE_BASE                                                                                \
	(WASI_RIGHT_FD_DATASYNC | WASI_RIGHT_FD_READ | WASI_RIGHT_FD_SEEK | WASI_RIGHT_FD_FDSTAT_SET_FLAGS | \
	 WASI_RIGHT_FD_SYNC | WASI_RIGHT_FD_TELL | WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_ADVISE |              \
	 WASI_RIGHT_FD_ALLOCATE | WASI_RIGHT_FD_FILESTAT_GET | WASI_RIGHT_FD_FILESTAT_SET_SIZE |             \
	 WASI_RIGHT_FD_FILESTAT_SET_TIMES | WASI_RIGHT_POLL_FD_READWRITE)
/* ttys, pipes: wasi-libc's isatty() wants a character device without seek/tell */
#define WASI_RIGHTS_STREAM_BASE (WASI_RIGHTS_FILE_BASE & ~(WASI_RIGHT_FD_SEEK | WASI_RIGHT_FD_TELL))
#define WASI_RIGHTS_SOCKET_BASE                                                                                   \
	(WASI_RIGHT_FD_READ | WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_FDSTAT_SET_FLAGS | WASI_RIGHT_FD_FILESTAT_GET | \
	 WASI_RIGHT_POLL_FD_READWRITE | WASI_RIGHT_SOCK_SHUTDOWN | WASI_RIGHT_SOCK_ACCEPT)

/* filetype (u8) */
enum {
	WASI_FILETYPE_UNKNOWN = 0,
	WASI_FILETYPE_BLOCK_DEVICE = 1,
	WASI_FILETYPE_CHARACTER_DEVICE = 2,
	WASI_FILETYPE_DIRECTORY = 3,
	WASI_FILETYPE_REGULAR_FILE = 4,
	WASI_FILETYPE_SOCKET_DGRAM = 5,
	WASI_FILETYPE_SOCKET_STREAM = 6,
	WASI_FILETYPE_SYMBOLIC_LINK = 7,
};

/* fdflags (u16), oflags (u16), lookupflags (u32), fstflags (u16) */
#define WASI_FDFLAG_APPEND         1
#define WASI_FDFLAG_DSYNC          2
#define WASI_FDFLAG_NONBLOCK       4
#define WASI_FDFLAG_RSYNC          8
#define WASI_FDFLAG_SYNC           16
#define WASI_FDFLAGS_ALL           31
#define WASI_OFLAG_CREAT           1
#define WASI_OFLAG_DIRECTORY       2
#define WASI_OFLAG_EXCL            4
#define WASI_OFLAG_TRUNC           8
#define WASI_OFLAGS_ALL            15
#define WASI_LOOKUP_SYMLINK_FOLLOW 1
#define WASI_FSTFLAG_ATIM          1
#define WASI_FSTFLAG_ATIM_NOW      2
#define WASI_FSTFLAG_MTIM          4
#define WASI_FSTFLAG_MTIM_NOW      8

enum {
	WASI_CLOCK_REALTIME = 0,
	WASI_CLOCK_MONOTONIC = 1,
	WASI_CLOCK_PROCESS_CPUTIME = 2,
	WASI_CLOCK_THREAD_CPUTIME = 3,
};
enum { WASI_WHENCE_SET = 0, WASI_WHENCE_CUR = 1, WASI_WHENCE_END = 2 };
enum { WASI_EVENTTYPE_CLOCK = 0, WASI_EVENTTYPE_FD_READ = 1, WASI_EVENTTYPE_FD_WRITE = 2 };
#define WASI_EVENT_FD_READWRITE_HANGUP  1
#define WASI_SUBCLOCK_ABSTIME           1
#define WASI_RIFLAG_RECV_PEEK           1
#define WASI_RIFLAG_RECV_WAITALL        2
#define WASI_ROFLAG_RECV_DATA_TRUNCATED 1
#define WASI_SDFLAG_RD                  1
#define WASI_SDFLAG_WR                  2
#define WASI_PREOPENTYPE_DIR            0

/* Struct sizes and offsets in guest memory (witx, wasm32). */
#define WASI_IOVEC_SIZE        8  /* buf u32 @0, buf_len u32 @4 */
#define WASI_FDSTAT_SIZE       24 /* filetype u8 @0, flags u16 @2, base u64 @8, inheriting u64 @16 */
#define WASI_FILESTAT_SIZE     64 /* dev @0 ino @8 filetype u8 @16 nlink @24 size @32 atim @40 mtim @48 ctim @56 */
#define WASI_DIRENT_SIZE       24 /* d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20 */
#define WASI_PRESTAT_SIZE      8  /* tag u8 @0, pr_name_len u32 @4 */
#define WASI_SUBSCRIPTION_SIZE 48 /* userdata @0, tag u8 @8, union @16 */
#define WASI_EVENT_SIZE        32 /* userdata @0, error u16 @8, type u8 @10, nbytes @16, flags u16 @24 */

/* Caps on what the guest controls. */
#define WASI_MAX_FDS           4096
#define WASI_MAX_IOVS          1024 /* IOV_MAX */
#define WASI_MAX_PATH          4096 /* PATH_MAX, with the NUL */
#define WASI_MAX_SUBSCRIPTIONS 4096
#define WASI_MAX_ARGS          65536
#define WASI_MAX_ARGS_BYTES    (1u << 20) /* args and environ, each */

struct wasi_fd {
	int host;      /* -1: the slot is free */
	bool borrowed; /* a cfg->stdio descriptor: never closed here */
	uint8_t filetype;
	uint16_t fdflags;
	uint64_t rights_base;
	uint64_t rights_inheriting;
	char *preopen;     /* guest path of a preopen, NULL otherwise */
	DIR *dir;          /* fd_readdir's stream, over its own descriptor */
	uint64_t dir_next; /* the cookie of the entry `dir` returns next */
};

struct Z_wasi_snapshot_preview1_instance_t {
	wasm_rt_memory_t *memory;
	char **args;
	char **environ;
	uint32_t n_args, args_bytes;
	uint32_t n_environ, environ_bytes;
	struct wasi_fd *fds;
	uint32_t n_fds; /* slots allocated */
	void (*exit_fn)(void *userdata, uint32_t code);
	void *exit_userdata;
	bool exited;
	uint32_t exit_code;
};

/* Guest memory: a host pointer to [ptr, ptr+len) or NULL when any byte of it
 * lies outside the memory (the caller answers WASI_EFAULT). */
static inline uint8_t *wasi_mem(wasi_ctx *ctx, uint32_t ptr, uint64_t len) {
	if (!ctx->memory || (uint64_t)ptr + len > ctx->memory->size)
		return NULL;
	return ctx->memory->data + ptr;
}

static inline void wasi_put_u8(uint8_t *p, uint8_t v) {
	*p = v;
}
static inline void wasi_put_u16(uint8_t *p, uint16_t v) {
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}
static inline void wasi_put_u32(uint8_t *p, uint32_t v) {
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}
static inline void wasi_put_u64(uint8_t *p, uint64_t v) {
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}
static inline uint16_t wasi_get_u16(const uint8_t *p) {
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}
static inline uint32_t wasi_get_u32(const uint8_t *p) {
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}
static inline uint64_t wasi_get_u64(const uint8_t *p) {
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/* Store a u32/u64 result at a guest address: WASI_EFAULT when out of range. */
uint32_t wasi_store_u32(wasi_ctx *ctx, uint32_t ptr, uint32_t v);
uint32_t wasi_store_u64(wasi_ctx *ctx, uint32_t ptr, uint64_t v);

/* A host errno (positive or negative) as the witx errno; unknown ones are EIO. */
uint16_t wasi_errno_from(int e);

/* The fd table. wasi_fd_lookup(): WASI_EBADF for a closed or out-of-range
 * fd; when `need` rights are missing WASI_EBADF for fd_read/fd_write (as
 * wasmtime does, and POSIX for a descriptor not open for that), otherwise
 * WASI_ENOTCAPABLE. */
uint32_t wasi_fd_lookup(wasi_ctx *ctx, uint32_t fd, uint64_t need, struct wasi_fd **ret);
/* Take ownership of host fd `host` in the lowest free slot; on a full table
 * closes it and answers WASI_ENFILE. */
uint32_t wasi_fd_insert(wasi_ctx *ctx, int host, uint8_t filetype, uint16_t fdflags, uint64_t base, uint64_t inheriting,
                        uint32_t *ret_fd);
void wasi_fd_release(struct wasi_fd *f);
uint8_t wasi_filetype_from_mode(mode_t mode);
uint8_t wasi_filetype_of_fd(int fd, const struct stat *st);
/* The base rights that apply to an fd of that type. */
uint64_t wasi_rights_for_filetype(uint8_t filetype);
void wasi_filestat_put(uint8_t *p, const struct stat *st, uint8_t filetype);
/* Validate fstflags and fill two timespecs for utimensat/futimens. */
uint32_t wasi_fstflags_to_timespec(uint64_t atim, uint64_t mtim, uint32_t fstflags, struct timespec ts[2]);
/* Gather guest iovecs into host ones (bounds-checked, count capped, total
 * clipped to UINT32_MAX so a byte count always fits the u32 result). */
struct iovec;
uint32_t wasi_iovecs_get(wasi_ctx *ctx, uint32_t iovs, uint32_t iovs_len, struct iovec **ret, int *ret_n);

/* Copy a guest path (NUL-free, capped) into a new host string. */
uint32_t wasi_path_get(wasi_ctx *ctx, uint32_t ptr, uint32_t len, char **ret);
/* openat2(dirfd, path, flags, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS): the only
 * way a guest path is followed. Escapes (absolute, `..`, symlinks out) are
 * WASI_EPERM. */
uint32_t wasi_open_beneath(int dirfd, const char *path, int flags, mode_t mode, int *ret_fd);

/* The imports, as wasm2c 1.0.32 declares them (i32 -> u32, i64 -> u64). */
#define WASI_IMPORT(name) Z_wasi_snapshot_preview1Z_##name
uint32_t WASI_IMPORT(args_get)(wasi_ctx *ctx, uint32_t argv, uint32_t argv_buf);
uint32_t WASI_IMPORT(args_sizes_get)(wasi_ctx *ctx, uint32_t ret_argc, uint32_t ret_buf_size);
uint32_t WASI_IMPORT(environ_get)(wasi_ctx *ctx, uint32_t env, uint32_t env_buf);
uint32_t WASI_IMPORT(environ_sizes_get)(wasi_ctx *ctx, uint32_t ret_count, uint32_t ret_buf_size);
uint32_t WASI_IMPORT(clock_res_get)(wasi_ctx *ctx, uint32_t id, uint32_t ret);
uint32_t WASI_IMPORT(clock_time_get)(wasi_ctx *ctx, uint32_t id, uint64_t precision, uint32_t ret);
uint32_t WASI_IMPORT(fd_advise)(wasi_ctx *ctx, uint32_t fd, uint64_t offset, uint64_t len, uint32_t advice);
uint32_t WASI_IMPORT(fd_allocate)(wasi_ctx *ctx, uint32_t fd, uint64_t offset, uint64_t len);
uint32_t WASI_IMPORT(fd_close)(wasi_ctx *ctx, uint32_t fd);
uint32_t WASI_IMPORT(fd_datasync)(wasi_ctx *ctx, uint32_t fd);
uint32_t WASI_IMPORT(fd_fdstat_get)(wasi_ctx *ctx, uint32_t fd, uint32_t ret);
uint32_t WASI_IMPORT(fd_fdstat_set_flags)(wasi_ctx *ctx, uint32_t fd, uint32_t flags);
uint32_t WASI_IMPORT(fd_fdstat_set_rights)(wasi_ctx *ctx, uint32_t fd, uint64_t base, uint64_t inheriting);
uint32_t WASI_IMPORT(fd_filestat_get)(wasi_ctx *ctx, uint32_t fd, uint32_t ret);
uint32_t WASI_IMPORT(fd_filestat_set_size)(wasi_ctx *ctx, uint32_t fd, uint64_t size);
uint32_t WASI_IMPORT(fd_filestat_set_times)(wasi_ctx *ctx, uint32_t fd, uint64_t atim, uint64_t mtim,
                                            uint32_t fstflags);
uint32_t WASI_IMPORT(fd_pread)(wasi_ctx *ctx, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint64_t offset,
                               uint32_t ret);
uint32_t WASI_IMPORT(fd_prestat_get)(wasi_ctx *ctx, uint32_t fd, uint32_t ret);
uint32_t WASI_IMPORT(fd_prestat_dir_name)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len);
uint32_t WASI_IMPORT(fd_pwrite)(wasi_ctx *ctx, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint64_t offset,
                                uint32_t ret);
uint32_t WASI_IMPORT(fd_read)(wasi_ctx *ctx, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t ret);
uint32_t WASI_IMPORT(fd_readdir)(wasi_ctx *ctx, uint32_t fd, uint32_t buf, uint32_t buf_len, uint64_t cookie,
                                 uint32_t ret);
uint32_t WASI_IMPORT(fd_renumber)(wasi_ctx *ctx, uint32_t fd, uint32_t to);
uint32_t WASI_IMPORT(fd_seek)(wasi_ctx *ctx, uint32_t fd, uint64_t offset, uint32_t whence, uint32_t ret);
uint32_t WASI_IMPORT(fd_sync)(wasi_ctx *ctx, uint32_t fd);
uint32_t WASI_IMPORT(fd_tell)(wasi_ctx *ctx, uint32_t fd, uint32_t ret);
uint32_t WASI_IMPORT(fd_write)(wasi_ctx *ctx, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t ret);
uint32_t WASI_IMPORT(path_create_directory)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len);
uint32_t WASI_IMPORT(path_filestat_get)(wasi_ctx *ctx, uint32_t fd, uint32_t flags, uint32_t path, uint32_t path_len,
                                        uint32_t ret);
uint32_t WASI_IMPORT(path_filestat_set_times)(wasi_ctx *ctx, uint32_t fd, uint32_t flags, uint32_t path,
                                              uint32_t path_len, uint64_t atim, uint64_t mtim, uint32_t fstflags);
uint32_t WASI_IMPORT(path_link)(wasi_ctx *ctx, uint32_t old_fd, uint32_t old_flags, uint32_t old_path,
                                uint32_t old_path_len, uint32_t new_fd, uint32_t new_path, uint32_t new_path_len);
uint32_t WASI_IMPORT(path_open)(wasi_ctx *ctx, uint32_t fd, uint32_t dirflags, uint32_t path, uint32_t path_len,
                                uint32_t oflags, uint64_t rights_base, uint64_t rights_inheriting, uint32_t fdflags,
                                uint32_t ret);
uint32_t WASI_IMPORT(path_readlink)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len, uint32_t buf,
                                    uint32_t buf_len, uint32_t ret);
uint32_t WASI_IMPORT(path_remove_directory)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len);
uint32_t WASI_IMPORT(path_rename)(wasi_ctx *ctx, uint32_t fd, uint32_t old_path, uint32_t old_path_len, uint32_t new_fd,
                                  uint32_t new_path, uint32_t new_path_len);
uint32_t WASI_IMPORT(path_symlink)(wasi_ctx *ctx, uint32_t old_path, uint32_t old_path_len, uint32_t fd,
                                   uint32_t new_path, uint32_t new_path_len);
uint32_t WASI_IMPORT(path_unlink_file)(wasi_ctx *ctx, uint32_t fd, uint32_t path, uint32_t path_len);
uint32_t WASI_IMPORT(poll_oneoff)(wasi_ctx *ctx, uint32_t in, uint32_t out, uint32_t nsubscriptions, uint32_t ret);
void WASI_IMPORT(proc_exit)(wasi_ctx *ctx, uint32_t code);
uint32_t WASI_IMPORT(proc_raise)(wasi_ctx *ctx, uint32_t sig);
uint32_t WASI_IMPORT(sched_yield)(wasi_ctx *ctx);
uint32_t WASI_IMPORT(random_get)(wasi_ctx *ctx, uint32_t buf, uint32_t buf_len);
uint32_t WASI_IMPORT(sock_accept)(wasi_ctx *ctx, uint32_t fd, uint32_t flags, uint32_t ret);
uint32_t WASI_IMPORT(sock_recv)(wasi_ctx *ctx, uint32_t fd, uint32_t ri_data, uint32_t ri_data_len, uint32_t ri_flags,
                                uint32_t ret_datalen, uint32_t ret_flags);
uint32_t WASI_IMPORT(sock_send)(wasi_ctx *ctx, uint32_t fd, uint32_t si_data, uint32_t si_data_len, uint32_t si_flags,
                                uint32_t ret);
uint32_t WASI_IMPORT(sock_shutdown)(wasi_ctx *ctx, uint32_t fd, uint32_t how);
