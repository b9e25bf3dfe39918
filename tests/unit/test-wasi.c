/* SPDX-License-Identifier: Apache-2.0 */
/* The WASI preview 1 host, called the way wasm2c's generated code calls it:
 * context, args, environ, clocks, random, process calls and the fd_* calls.
 * Paths, directories, poll and sockets: test-wasi-path.c. */
#include <sys/resource.h>

#include "wasi-fixture.h"

/* ---- context, args, environ, clocks, random, process ---- */

static void test_symbols(void **state) {
	size_t n = 0;

	for (const struct wasi_symbol *s = wasi_symbols; s->name; s++, n++) {
		assert_non_null(s->fn);
		assert_true(strneq(s->name, "Z_wasi_snapshot_preview1Z_", 26));
		for (const struct wasi_symbol *t = wasi_symbols; t < s; t++)
			assert_false(streq(t->name, s->name));
	}
	assert_int_equal(n, 46); /* every preview1 import */
}

static void test_ctx_missing_preopen(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct wasi_preopen pre = { .guest_path = "/x", .host_path = "/nonexistent/wasi-dir" };
	struct wasi_config cfg = { .preopens = &pre, .n_preopens = 1, .stdio = { -1, -1, -1 } };
	wasi_ctx *ctx = NULL;

	assert_int_equal(wasi_ctx_new(&cfg, &ctx, &err), -ENOENT);
	assert_null(ctx);
	assert_int_equal(err->kind, ZA_ERROR_CONFIGURATION);
	assert_non_null(strstr(err->message, "'/nonexistent/wasi-dir'"));
}

static void test_ctx_limits(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *big = xnew(char, WASI_MAX_ARGS_BYTES + 1);
	char *args[] = { "m", big, NULL };
	struct wasi_config cfg = { .args = args, .stdio = { -1, -1, -1 } };
	wasi_ctx *ctx = NULL;

	memset(big, 'x', WASI_MAX_ARGS_BYTES);
	assert_int_equal(wasi_ctx_new(&cfg, &ctx, &err), -E2BIG);
	assert_null(ctx);
	assert_int_equal(err->kind, ZA_ERROR_CONFIGURATION);
}

static void test_ctx_preopens(void **state) {
	struct wasi_preopen pre[] = { { "/a", "/tmp" }, { "/bb", "/" } };
	struct wasi_config cfg = { .preopens = pre, .n_preopens = 2, .stdio = { -1, -1, -1 } };
	wasm_rt_memory_t mem = { .data = xnew(uint8_t, 4096), .pages = 1, .size = 4096 };
	wasi_ctx *ctx = NULL;

	assert_int_equal(wasi_ctx_new(&cfg, &ctx, NULL), 0);
	wasi_ctx_set_memory(ctx, &mem);
	assert_int_equal(W(fd_prestat_get)(ctx, 3, 0), 0);
	assert_int_equal(wasi_get_u32(mem.data + 4), 2);
	assert_int_equal(W(fd_prestat_get)(ctx, 4, 0), 0);
	assert_int_equal(wasi_get_u32(mem.data + 4), 3);
	assert_int_equal(W(fd_prestat_dir_name)(ctx, 4, 8, 3), 0);
	assert_memory_equal(mem.data + 8, "/bb", 3);
	assert_int_equal(W(fd_prestat_get)(ctx, 5, 0), WASI_EBADF);
	/* no stdio given: /dev/null, a character device */
	assert_int_equal(W(fd_fdstat_get)(ctx, 2, 64), 0);
	assert_int_equal(mem.data[64], WASI_FILETYPE_CHARACTER_DEVICE);
	/* a preopen can be closed and its number reused */
	assert_int_equal(W(fd_close)(ctx, 3), 0);
	assert_int_equal(W(fd_prestat_get)(ctx, 3, 0), WASI_EBADF);
	wasi_ctx_free(ctx);
	free(mem.data);
}

static void test_args(void **state) {
	struct fx *f = *state;

	assert_int_equal(W(args_sizes_get)(f->ctx, P_RET, P_RET2), 0);
	assert_int_equal(u32_at(f, P_RET), 3);
	assert_int_equal(u32_at(f, P_RET2), strlen("mod.wasm") + 1 + 2 + 3);
	assert_int_equal(W(args_get)(f->ctx, P_IOV, P_BUF), 0);
	assert_int_equal(u32_at(f, P_IOV), P_BUF);
	assert_string_equal((char *)f->mem.data + u32_at(f, P_IOV), "mod.wasm");
	assert_string_equal((char *)f->mem.data + u32_at(f, P_IOV + 4), "a");
	assert_string_equal((char *)f->mem.data + u32_at(f, P_IOV + 8), "bc");
	assert_int_equal(u32_at(f, P_IOV + 8), P_BUF + 11);
}

static void test_environ(void **state) {
	struct fx *f = *state;

	assert_int_equal(W(environ_sizes_get)(f->ctx, P_RET, P_RET2), 0);
	assert_int_equal(u32_at(f, P_RET), 2);
	assert_int_equal(u32_at(f, P_RET2), 4 + 7);
	assert_int_equal(W(environ_get)(f->ctx, P_IOV, P_BUF), 0);
	assert_string_equal((char *)f->mem.data + u32_at(f, P_IOV), "K=V");
	assert_string_equal((char *)f->mem.data + u32_at(f, P_IOV + 4), "EMPTY=");
}

static void test_args_fault(void **state) {
	struct fx *f = *state;

	assert_int_equal(W(args_sizes_get)(f->ctx, MEM_SIZE - 2, P_RET2), WASI_EFAULT);
	assert_int_equal(W(args_get)(f->ctx, MEM_SIZE - 8, P_BUF), WASI_EFAULT); /* 3 pointers need 12 */
	assert_int_equal(W(args_get)(f->ctx, P_IOV, MEM_SIZE - 4), WASI_EFAULT);
	assert_int_equal(W(environ_get)(f->ctx, 0xfffffffcu, P_BUF), WASI_EFAULT);
	/* no memory yet: everything faults */
	wasi_ctx_set_memory(f->ctx, NULL);
	assert_int_equal(W(environ_sizes_get)(f->ctx, P_RET, P_RET2), WASI_EFAULT);
	wasi_ctx_set_memory(f->ctx, &f->mem);
}

static void test_clocks(void **state) {
	struct fx *f = *state;
	uint64_t t0, t1;

	for (uint32_t id = 0; id < 4; id++) {
		assert_int_equal(W(clock_res_get)(f->ctx, id, P_RET), 0);
		assert_true(u64_at(f, P_RET) > 0);
		assert_int_equal(W(clock_time_get)(f->ctx, id, 1, P_RET), 0);
	}
	assert_int_equal(W(clock_time_get)(f->ctx, WASI_CLOCK_REALTIME, 0, P_RET), 0);
	assert_true(u64_at(f, P_RET) > UINT64_C(1600000000) * 1000000000u);
	assert_int_equal(W(clock_time_get)(f->ctx, WASI_CLOCK_MONOTONIC, 0, P_RET), 0);
	t0 = u64_at(f, P_RET);
	assert_int_equal(W(clock_time_get)(f->ctx, WASI_CLOCK_MONOTONIC, 0, P_RET), 0);
	t1 = u64_at(f, P_RET);
	assert_true(t1 >= t0);
	assert_int_equal(W(clock_res_get)(f->ctx, 4, P_RET), WASI_EINVAL);
	assert_int_equal(W(clock_time_get)(f->ctx, 99, 0, P_RET), WASI_EINVAL);
	assert_int_equal(W(clock_time_get)(f->ctx, 0, 0, MEM_SIZE - 7), WASI_EFAULT);
}

static void test_random(void **state) {
	struct fx *f = *state;
	uint8_t zero[64] = {};

	assert_int_equal(W(random_get)(f->ctx, P_BUF, 64), 0);
	assert_memory_not_equal(f->mem.data + P_BUF, zero, 64);
	assert_int_equal(W(random_get)(f->ctx, P_BUF, 0), 0);
	assert_int_equal(W(random_get)(f->ctx, MEM_SIZE, 0), 0);
	assert_int_equal(W(random_get)(f->ctx, MEM_SIZE - 4, 5), WASI_EFAULT);
	assert_int_equal(W(random_get)(f->ctx, 0xffffff00u, 0x200), WASI_EFAULT); /* ptr+len wraps in u32 */
}

static void test_proc(void **state) {
	struct fx *f = *state;
	uint32_t code;

	assert_int_equal(W(proc_raise)(f->ctx, 9), WASI_ENOTSUP);
	assert_int_equal(W(sched_yield)(f->ctx), 0);
	assert_false(wasi_ctx_exited(f->ctx, &code));
	if (setjmp(f->exit_jmp) == 0) {
		W(proc_exit)(f->ctx, 42);
		fail_msg("proc_exit returned");
	}
	assert_int_equal(f->exit_code, 42);
	assert_true(wasi_ctx_exited(f->ctx, &code));
	assert_int_equal(code, 42);
}

/* ---- fds ---- */

static void test_stdout(void **state) {
	struct fx *f = *state;
	char buf[32] = {};

	put(f, P_BUF, "hello, world");
	wasi_put_u32(f->mem.data + P_IOV, P_BUF);
	wasi_put_u32(f->mem.data + P_IOV + 4, 5);
	wasi_put_u32(f->mem.data + P_IOV + 8, P_BUF + 5);
	wasi_put_u32(f->mem.data + P_IOV + 12, 7);
	assert_int_equal(W(fd_write)(f->ctx, 1, P_IOV, 2, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 12);
	assert_int_equal(read(f->out[0], buf, sizeof(buf)), 12);
	assert_string_equal(buf, "hello, world");

	assert_int_equal(write(f->in[1], "in", 2), 2);
	iov1(f, 16);
	assert_int_equal(W(fd_read)(f->ctx, 0, P_IOV, 1, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 2);
	assert_memory_equal(f->mem.data + P_BUF, "in", 2);

	assert_int_equal(write_str(f, 99, "x"), WASI_EBADF);
	assert_int_equal(write_str(f, 0xffffffffu, "x"), WASI_EBADF);
	/* stdout is a pipe: no seek, no tell (what wasi-libc's isatty looks at) */
	assert_int_equal(W(fd_fdstat_get)(f->ctx, 1, P_STAT), 0);
	assert_int_equal(u64_at(f, P_STAT + 8) & (WASI_RIGHT_FD_SEEK | WASI_RIGHT_FD_TELL), 0);
	assert_int_equal(W(fd_seek)(f->ctx, 1, 0, WASI_WHENCE_SET, P_RET), WASI_ENOTCAPABLE);
}

static void test_iovec_fault(void **state) {
	struct fx *f = *state;

	assert_int_equal(W(fd_write)(f->ctx, 1, MEM_SIZE - 4, 1, P_RET), WASI_EFAULT);
	wasi_put_u32(f->mem.data + P_IOV, MEM_SIZE - 10);
	wasi_put_u32(f->mem.data + P_IOV + 4, 11);
	assert_int_equal(W(fd_write)(f->ctx, 1, P_IOV, 1, P_RET), WASI_EFAULT);
	wasi_put_u32(f->mem.data + P_IOV, 0xfffffff0u);
	wasi_put_u32(f->mem.data + P_IOV + 4, 0x20);
	assert_int_equal(W(fd_read)(f->ctx, 0, P_IOV, 1, P_RET), WASI_EFAULT);
	assert_int_equal(W(fd_write)(f->ctx, 1, P_IOV, 0x20000000u, P_RET), WASI_EINVAL); /* > IOV_MAX */
	iov1(f, 1);
	assert_int_equal(W(fd_write)(f->ctx, 1, P_IOV, 1, MEM_SIZE), WASI_EFAULT);
}

static void test_prestat(void **state) {
	struct fx *f = *state;

	assert_int_equal(W(fd_prestat_get)(f->ctx, PRE, P_STAT), 0);
	assert_int_equal(f->mem.data[P_STAT], WASI_PREOPENTYPE_DIR);
	assert_int_equal(u32_at(f, P_STAT + 4), 5);
	assert_int_equal(W(fd_prestat_dir_name)(f->ctx, PRE, P_BUF, 5), 0);
	assert_memory_equal(f->mem.data + P_BUF, "/data", 5);
	assert_int_equal(W(fd_prestat_dir_name)(f->ctx, PRE, P_BUF, 4), WASI_ENAMETOOLONG);
	assert_int_equal(W(fd_prestat_dir_name)(f->ctx, PRE, MEM_SIZE - 2, 5), WASI_EFAULT);
	assert_int_equal(W(fd_prestat_get)(f->ctx, 1, P_STAT), WASI_EBADF);
	assert_int_equal(W(fd_prestat_get)(f->ctx, PRE + 1, P_STAT), WASI_EBADF);
	/* the preopen: a directory, path rights, everything to inherit */
	assert_int_equal(W(fd_fdstat_get)(f->ctx, PRE, P_STAT), 0);
	assert_int_equal(f->mem.data[P_STAT], WASI_FILETYPE_DIRECTORY);
	assert_int_equal(u64_at(f, P_STAT + 8), WASI_RIGHTS_DIR_BASE);
	assert_int_equal(u64_at(f, P_STAT + 16), WASI_RIGHTS_ALL);
}

static void test_open_write_read(void **state) {
	struct fx *f = *state;
	uint32_t fd;

	assert_int_equal(open_file(f, "new.txt", WASI_OFLAG_CREAT, &fd), 0);
	assert_int_equal(fd, 4);
	assert_int_equal(write_str(f, fd, "0123456789"), 0);
	assert_int_equal(u32_at(f, P_RET), 10);
	assert_int_equal(W(fd_seek)(f->ctx, fd, 2, WASI_WHENCE_SET, P_RET), 0);
	assert_int_equal(u64_at(f, P_RET), 2);
	iov1(f, 3);
	assert_int_equal(W(fd_read)(f->ctx, fd, P_IOV, 1, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 3);
	assert_memory_equal(f->mem.data + P_BUF, "234", 3);
	assert_int_equal(W(fd_tell)(f->ctx, fd, P_RET), 0);
	assert_int_equal(u64_at(f, P_RET), 5);
	assert_int_equal(W(fd_seek)(f->ctx, fd, (uint64_t)-2, WASI_WHENCE_END, P_RET), 0);
	assert_int_equal(u64_at(f, P_RET), 8);
	assert_int_equal(W(fd_seek)(f->ctx, fd, (uint64_t)-1, WASI_WHENCE_CUR, P_RET), 0);
	assert_int_equal(u64_at(f, P_RET), 7);
	assert_int_equal(W(fd_seek)(f->ctx, fd, (uint64_t)-100, WASI_WHENCE_SET, P_RET), WASI_EINVAL);
	assert_int_equal(W(fd_seek)(f->ctx, fd, 0, 3, P_RET), WASI_EINVAL);
	assert_int_equal(W(fd_seek)(f->ctx, fd, 0, WASI_WHENCE_SET, MEM_SIZE - 4), WASI_EFAULT);
	assert_int_equal(W(fd_close)(f->ctx, fd), 0);
	assert_true(host_exists(f, "new.txt"));
}

static void test_open_flags(void **state) {
	struct fx *f = *state;
	uint32_t fd;

	host_file(f, "f", "content");
	assert_int_equal(open_file(f, "f", WASI_OFLAG_CREAT | WASI_OFLAG_EXCL, &fd), WASI_EEXIST);
	assert_int_equal(open_file(f, "f", WASI_OFLAG_DIRECTORY, &fd), WASI_ENOTDIR);
	assert_int_equal(open_file(f, "f/", 0, &fd), WASI_ENOTDIR);
	assert_int_equal(open_file(f, "missing", 0, &fd), WASI_ENOENT);
	assert_int_equal(open_file(f, "", 0, &fd), WASI_ENOENT);
	assert_int_equal(open_file(f, "f", 0x10, &fd), WASI_EINVAL);
	assert_int_equal(open_at(f, PRE, 0, "f", 0, WASI_RIGHTS_FILE_BASE, 0x20, &fd), WASI_EINVAL);

	assert_int_equal(open_file(f, "f", WASI_OFLAG_TRUNC, &fd), 0);
	assert_int_equal(W(fd_filestat_get)(f->ctx, fd, P_STAT), 0);
	assert_int_equal(u64_at(f, P_STAT + 32), 0);
	assert_int_equal(f->mem.data[P_STAT + 16], WASI_FILETYPE_REGULAR_FILE);
	assert_int_equal(W(fd_close)(f->ctx, fd), 0);

	/* a directory: write rights are dropped, path rights kept */
	assert_int_equal(open_at(f, PRE, 0, ".", WASI_OFLAG_DIRECTORY, WASI_RIGHTS_ALL, 0, &fd), 0);
	assert_int_equal(W(fd_fdstat_get)(f->ctx, fd, P_STAT), 0);
	assert_int_equal(f->mem.data[P_STAT], WASI_FILETYPE_DIRECTORY);
	assert_int_equal(u64_at(f, P_STAT + 8), WASI_RIGHTS_DIR_BASE);
	iov1(f, 8);
	assert_int_equal(W(fd_read)(f->ctx, fd, P_IOV, 1, P_RET), WASI_EBADF);
	assert_int_equal(W(fd_seek)(f->ctx, fd, 0, WASI_WHENCE_CUR, P_RET), WASI_ENOTCAPABLE);
	assert_int_equal(W(fd_close)(f->ctx, fd), 0);

	/* a file is no directory to open things in */
	assert_int_equal(open_file(f, "f", 0, &fd), 0);
	assert_int_equal(open_at(f, fd, 0, "x", 0, 0, 0, &fd), WASI_ENOTDIR);
}

static void test_open_ret_fault(void **state) {
	struct fx *f = *state;
	uint32_t len = put(f, P_PATH, "created");

	assert_int_equal(
	        W(path_open)(f->ctx, PRE, 0, P_PATH, len, WASI_OFLAG_CREAT, WASI_RIGHTS_FILE_BASE, 0, 0, MEM_SIZE - 3),
	        WASI_EFAULT);
	assert_false(host_exists(f, "created")); /* checked before acting */
	assert_int_equal(W(fd_close)(f->ctx, 4), WASI_EBADF);
}

static void test_path_fault(void **state) {
	struct fx *f = *state;
	char big[WASI_MAX_PATH + 1];

	assert_int_equal(W(path_create_directory)(f->ctx, PRE, MEM_SIZE - 2, 3), WASI_EFAULT);
	assert_int_equal(W(path_create_directory)(f->ctx, PRE, 0xfffffffeu, 4), WASI_EFAULT);
	memcpy(f->mem.data + P_PATH, "a\0b", 3);
	assert_int_equal(W(path_create_directory)(f->ctx, PRE, P_PATH, 3), WASI_EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(path_call(f, W(path_create_directory), big), WASI_ENAMETOOLONG);
	assert_int_equal(W(path_create_directory)(f->ctx, 99, P_PATH, 1), WASI_EBADF);
	assert_int_equal(W(path_create_directory)(f->ctx, 1, P_PATH, 1), WASI_ENOTDIR);
}

static void test_rights(void **state) {
	struct fx *f = *state;
	uint32_t fd, dir;

	host_file(f, "r", "data");
	assert_int_equal(open_at(f, PRE, 0, "r", 0, WASI_RIGHT_FD_WRITE, 0, &fd), 0);
	iov1(f, 4);
	assert_int_equal(W(fd_read)(f->ctx, fd, P_IOV, 1, P_RET), WASI_EBADF);
	assert_int_equal(W(fd_pread)(f->ctx, fd, P_IOV, 1, 0, P_RET), WASI_EBADF);
	assert_int_equal(W(fd_tell)(f->ctx, fd, P_RET), WASI_ENOTCAPABLE);
	assert_int_equal(W(fd_filestat_get)(f->ctx, fd, P_STAT), WASI_ENOTCAPABLE);
	/* rights only shrink */
	assert_int_equal(W(fd_fdstat_set_rights)(f->ctx, fd, WASI_RIGHT_FD_WRITE | WASI_RIGHT_FD_READ, 0),
	                 WASI_ENOTCAPABLE);
	assert_int_equal(W(fd_fdstat_set_rights)(f->ctx, fd, 0, 0), 0);
	assert_int_equal(write_str(f, fd, "x"), WASI_EBADF);

	/* a directory without path_open/create rights */
	assert_int_equal(open_at(f, PRE, 0, ".", WASI_OFLAG_DIRECTORY, WASI_RIGHT_FD_READDIR, 0, &dir), 0);
	assert_int_equal(open_at(f, dir, 0, "r", 0, 0, 0, &fd), WASI_ENOTCAPABLE);
	assert_int_equal(path_call(f, W(path_create_directory), "d"), 0);
	assert_int_equal(W(path_create_directory)(f->ctx, dir, P_PATH, put(f, P_PATH, "e")), WASI_ENOTCAPABLE);
	/* truncation needs path_filestat_set_size: perm, as wasi-testsuite's truncation_rights */
	assert_int_equal(W(fd_fdstat_set_rights)(f->ctx, PRE, WASI_RIGHTS_DIR_BASE & ~WASI_RIGHT_PATH_FILESTAT_SET_SIZE,
	                                         WASI_RIGHTS_ALL),
	                 0);
	assert_int_equal(open_file(f, "r", WASI_OFLAG_TRUNC, &fd), WASI_EPERM);
	/* inherited rights cap what path_open hands out */
	assert_int_equal(W(fd_fdstat_set_rights)(f->ctx, PRE, WASI_RIGHTS_DIR_BASE & ~WASI_RIGHT_PATH_FILESTAT_SET_SIZE,
	                                         WASI_RIGHT_FD_READ),
	                 0);
	assert_int_equal(open_file(f, "r", 0, &fd), 0);
	assert_int_equal(W(fd_fdstat_get)(f->ctx, fd, P_STAT), 0);
	assert_int_equal(u64_at(f, P_STAT + 8), WASI_RIGHT_FD_READ);
}

static void test_pread_pwrite(void **state) {
	struct fx *f = *state;
	uint32_t fd;

	assert_int_equal(open_file(f, "p", WASI_OFLAG_CREAT, &fd), 0);
	assert_int_equal(write_str(f, fd, "abcdef"), 0);
	iov1(f, put(f, P_BUF, "XY"));
	assert_int_equal(W(fd_pwrite)(f->ctx, fd, P_IOV, 1, 1, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 2);
	iov1(f, 4);
	assert_int_equal(W(fd_pread)(f->ctx, fd, P_IOV, 1, 0, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 4);
	assert_memory_equal(f->mem.data + P_BUF, "aXYd", 4);
	assert_int_equal(W(fd_tell)(f->ctx, fd, P_RET), 0);
	assert_int_equal(u64_at(f, P_RET), 6); /* neither moved the offset */
	assert_int_equal(W(fd_pread)(f->ctx, fd, P_IOV, 1, UINT64_MAX, P_RET), WASI_EINVAL);
	assert_int_equal(W(fd_pread)(f->ctx, 0, P_IOV, 1, 0, P_RET), WASI_ESPIPE);
}

static void test_append_and_flags(void **state) {
	struct fx *f = *state;
	uint32_t fd;
	char buf[32] = {}, p[256];
	FILE *fp;

	host_file(f, "log", "12");
	assert_int_equal(open_at(f, PRE, 0, "log", 0, WASI_RIGHTS_FILE_BASE, WASI_FDFLAG_APPEND, &fd), 0);
	assert_int_equal(W(fd_fdstat_get)(f->ctx, fd, P_STAT), 0);
	assert_int_equal(wasi_get_u16(f->mem.data + P_STAT + 2), WASI_FDFLAG_APPEND);
	assert_int_equal(W(fd_seek)(f->ctx, fd, 0, WASI_WHENCE_SET, P_RET), 0);
	assert_int_equal(write_str(f, fd, "34"), 0);
	/* append off: writes land at the offset */
	assert_int_equal(W(fd_fdstat_set_flags)(f->ctx, fd, 0), 0);
	assert_int_equal(W(fd_seek)(f->ctx, fd, 0, WASI_WHENCE_SET, P_RET), 0);
	assert_int_equal(write_str(f, fd, "x"), 0);
	assert_int_equal(W(fd_fdstat_set_flags)(f->ctx, fd, WASI_FDFLAG_SYNC), WASI_EINVAL);
	assert_int_equal(W(fd_fdstat_set_flags)(f->ctx, fd, 0x40), WASI_EINVAL);
	assert_int_equal(W(fd_fdstat_set_flags)(f->ctx, fd, WASI_FDFLAG_NONBLOCK), 0);
	assert_int_equal(W(fd_fdstat_get)(f->ctx, fd, P_STAT), 0);
	assert_int_equal(wasi_get_u16(f->mem.data + P_STAT + 2), WASI_FDFLAG_NONBLOCK);
	host_path(f, "log", p, sizeof(p));
	fp = fopen(p, "re");
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "x234");
}

static void test_filestat_set(void **state) {
	struct fx *f = *state;
	uint32_t fd;

	assert_int_equal(open_file(f, "s", WASI_OFLAG_CREAT, &fd), 0);
	assert_int_equal(W(fd_filestat_set_size)(f->ctx, fd, 1000), 0);
	assert_int_equal(W(fd_filestat_get)(f->ctx, fd, P_STAT), 0);
	assert_int_equal(u64_at(f, P_STAT + 32), 1000);
	assert_int_equal(u64_at(f, P_STAT + 24), 1); /* nlink */
	assert_int_equal(
	        W(fd_filestat_set_times)(f->ctx, fd, 5000000000u, 7000000001u, WASI_FSTFLAG_ATIM | WASI_FSTFLAG_MTIM),
	        0);
	assert_int_equal(W(fd_filestat_get)(f->ctx, fd, P_STAT), 0);
	assert_int_equal(u64_at(f, P_STAT + 40), 5000000000u);
	assert_int_equal(u64_at(f, P_STAT + 48), 7000000001u);
	assert_int_equal(W(fd_filestat_set_times)(f->ctx, fd, 0, 0, WASI_FSTFLAG_ATIM | WASI_FSTFLAG_ATIM_NOW),
	                 WASI_EINVAL);
	assert_int_equal(W(fd_filestat_set_times)(f->ctx, fd, 0, 0, WASI_FSTFLAG_MTIM | WASI_FSTFLAG_MTIM_NOW),
	                 WASI_EINVAL);
	assert_int_equal(W(fd_filestat_set_times)(f->ctx, fd, 0, 0, 0x10), WASI_EINVAL);
	assert_int_equal(W(fd_filestat_get)(f->ctx, fd, MEM_SIZE - 63), WASI_EFAULT);
	/* path variant, on the preopen itself */
	assert_int_equal(W(path_filestat_set_times)(f->ctx, PRE, 0, P_PATH, put(f, P_PATH, "s"), 0, 9000000000u,
	                                            WASI_FSTFLAG_MTIM),
	                 0);
	assert_int_equal(W(path_filestat_get)(f->ctx, PRE, 0, P_PATH, 1, P_STAT), 0);
	assert_int_equal(u64_at(f, P_STAT + 48), 9000000000u);
	assert_int_equal(W(fd_filestat_set_times)(f->ctx, PRE, 0, 0, WASI_FSTFLAG_MTIM_NOW), 0);
}

static void test_sync_advise_allocate(void **state) {
	struct fx *f = *state;
	uint32_t fd;

	assert_int_equal(open_file(f, "a", WASI_OFLAG_CREAT, &fd), 0);
	assert_int_equal(W(fd_sync)(f->ctx, fd), 0);
	assert_int_equal(W(fd_datasync)(f->ctx, fd), 0);
	assert_int_equal(W(fd_advise)(f->ctx, fd, 0, 100, 1), 0);
	assert_int_equal(W(fd_advise)(f->ctx, fd, 0, 100, 6), WASI_EINVAL);
	assert_int_equal(W(fd_allocate)(f->ctx, fd, 10, 90), 0);
	assert_int_equal(W(fd_filestat_get)(f->ctx, fd, P_STAT), 0);
	assert_int_equal(u64_at(f, P_STAT + 32), 100);
	assert_int_equal(W(fd_allocate)(f->ctx, PRE, 0, 1), WASI_ENOTCAPABLE);
}

static void test_close_renumber(void **state) {
	struct fx *f = *state;
	uint32_t a, b, c;

	host_file(f, "one", "1");
	host_file(f, "two", "2");
	assert_int_equal(open_file(f, "one", 0, &a), 0);
	assert_int_equal(open_file(f, "two", 0, &b), 0);
	assert_int_equal(W(fd_renumber)(f->ctx, a, b), 0);
	assert_int_equal(W(fd_close)(f->ctx, a), WASI_EBADF);
	iov1(f, 1);
	assert_int_equal(W(fd_read)(f->ctx, b, P_IOV, 1, P_RET), 0);
	assert_int_equal(f->mem.data[P_BUF], '1');
	assert_int_equal(W(fd_renumber)(f->ctx, b, 77), WASI_EBADF);
	assert_int_equal(W(fd_renumber)(f->ctx, 77, b), WASI_EBADF);
	assert_int_equal(W(fd_renumber)(f->ctx, b, b), 0);
	/* the lowest free slot is reused */
	assert_int_equal(open_file(f, "two", 0, &c), 0);
	assert_int_equal(c, a);
	assert_int_equal(W(fd_close)(f->ctx, c), 0);
	assert_int_equal(W(fd_close)(f->ctx, c), WASI_EBADF);
}

static void test_dir_fd_ops(void **state) {
	struct fx *f = *state;

	iov1(f, 16);
	assert_int_equal(W(fd_read)(f->ctx, PRE, P_IOV, 1, P_RET), WASI_EBADF);
	assert_int_equal(W(fd_pread)(f->ctx, PRE, P_IOV, 1, 0, P_RET), WASI_EBADF);
	assert_int_equal(W(fd_write)(f->ctx, PRE, P_IOV, 1, P_RET), WASI_EBADF);
	assert_int_equal(W(fd_pwrite)(f->ctx, PRE, P_IOV, 1, 0, P_RET), WASI_EBADF);
	assert_int_equal(W(fd_seek)(f->ctx, PRE, 0, WASI_WHENCE_END, P_RET), WASI_ENOTCAPABLE);
	assert_int_equal(W(fd_tell)(f->ctx, PRE, P_RET), WASI_ENOTCAPABLE);
	assert_int_equal(W(fd_filestat_set_size)(f->ctx, PRE, 0), WASI_ENOTCAPABLE);
	assert_int_equal(W(fd_advise)(f->ctx, PRE, 0, 0, 0), WASI_ENOTCAPABLE);
	assert_int_equal(W(fd_filestat_get)(f->ctx, PRE, P_STAT), 0);
	assert_int_equal(f->mem.data[P_STAT + 16], WASI_FILETYPE_DIRECTORY);
	assert_int_equal(W(fd_sync)(f->ctx, PRE), 0);
}

static void test_fd_table_cap(void **state) {
	struct fx *f = *state;
	struct rlimit rl;
	uint32_t fd, n = 0, e;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < WASI_MAX_FDS + 64)
		skip();
	rl.rlim_cur = MAX(rl.rlim_cur, (rlim_t)WASI_MAX_FDS + 64);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	host_file(f, "f", "");
	while ((e = open_file(f, "f", 0, &fd)) == 0)
		n++;
	assert_int_equal(e, WASI_ENFILE);
	assert_int_equal(n, WASI_MAX_FDS - 4); /* stdio and the preopen hold 4 */
	assert_int_equal(W(fd_close)(f->ctx, 100), 0);
	assert_int_equal(open_file(f, "f", 0, &fd), 0);
	assert_int_equal(fd, 100);
}

int main(void) {
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		cmocka_unit_test(test_symbols),
		cmocka_unit_test(test_ctx_missing_preopen),
		cmocka_unit_test(test_ctx_limits),
		cmocka_unit_test(test_ctx_preopens),
		T(test_args),
		T(test_environ),
		T(test_args_fault),
		T(test_clocks),
		T(test_random),
		T(test_proc),
		T(test_stdout),
		T(test_iovec_fault),
		T(test_prestat),
		T(test_open_write_read),
		T(test_open_flags),
		T(test_open_ret_fault),
		T(test_path_fault),
		T(test_rights),
		T(test_pread_pwrite),
		T(test_append_and_flags),
		T(test_filestat_set),
		T(test_sync_advise_allocate),
		T(test_close_renumber),
		T(test_dir_fd_ops),
		T(test_fd_table_cap),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
