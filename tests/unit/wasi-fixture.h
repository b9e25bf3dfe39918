/* SPDX-License-Identifier: Apache-2.0 */
/* The fixture of test-wasi.c and test-wasi-path.c: a WASI context over a
 * temporary directory preopened as "/data" (fd 3), a fake 64 KiB linear
 * memory, stdin/stdout on pipes. Outside the preopen sits "secret", which
 * no guest path may reach. */
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "runtime/wasm/wasi-internal.h"

#define W(name) Z_wasi_snapshot_preview1Z_##name

enum {
	MEM_SIZE = 65536,
	P_PATH = 0x100, /* guest path strings */
	P_PATH2 = 0x800,
	P_IOV = 0x1000, /* iovec arrays */
	P_RET = 0x1100, /* results */
	P_RET2 = 0x1108,
	P_STAT = 0x1200, /* fdstat, filestat, prestat */
	P_SUBS = 0x1400, /* poll subscriptions */
	P_EVTS = 0x1800, /* poll events */
	P_BUF = 0x4000,  /* data */
	PRE = 3,         /* the preopen's fd */
};

struct fx {
	char dir[64]; /* tmp: holds root/ (the preopen) and secret */
	char root[80];
	wasm_rt_memory_t mem;
	wasi_ctx *ctx;
	int in[2], out[2]; /* guest stdin <- in[1], guest stdout -> out[0] */
	uint32_t exit_code;
	jmp_buf exit_jmp;
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
	return remove(p);
}

static void on_exit_fn(void *userdata, uint32_t code) {
	struct fx *f = userdata;

	f->exit_code = code;
	longjmp(f->exit_jmp, 1);
}

static int write_file_text(const char *p) {
	FILE *fp = fopen(p, "we");

	if (!fp)
		return -1;
	fputs("top secret\n", fp);
	return fclose(fp);
}

static int setup(void **state) {
	static char *const args[] = { "mod.wasm", "a", "bc", NULL };
	static char *const env[] = { "K=V", "EMPTY=", NULL };
	struct fx *f = xnew(struct fx, 1);
	struct wasi_preopen pre;
	struct wasi_config cfg = { .args = args, .environ = env, .preopens = &pre, .n_preopens = 1 };
	char p[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test-wasi-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	assert_int_equal(mkdir(f->root, 0755), 0);
	snprintf(p, sizeof(p), "%s/secret", f->dir);
	assert_int_equal(write_file_text(p), 0);
	pre = (struct wasi_preopen){ .guest_path = "/data", .host_path = f->root };
	assert_int_equal(pipe2(f->in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(f->out, O_CLOEXEC | O_NONBLOCK), 0);
	cfg.stdio[0] = f->in[0];
	cfg.stdio[1] = f->out[1];
	cfg.stdio[2] = -1;
	cfg.exit_fn = on_exit_fn;
	cfg.exit_userdata = f;
	assert_int_equal(wasi_ctx_new(&cfg, &f->ctx, NULL), 0);
	f->mem = (wasm_rt_memory_t){ .data = xnew(uint8_t, MEM_SIZE), .pages = 1, .max_pages = 1, .size = MEM_SIZE };
	wasi_ctx_set_memory(f->ctx, &f->mem);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	struct fx *f = *state;

	wasi_ctx_free(f->ctx);
	free(f->mem.data);
	for (int i = 0; i < 2; i++) {
		close(f->in[i]);
		close(f->out[i]);
	}
	(void)nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static _unused_ uint32_t put(struct fx *f, uint32_t at, const char *s) {
	memcpy(f->mem.data + at, s, strlen(s));
	return (uint32_t)strlen(s);
}

static _unused_ uint32_t u32_at(struct fx *f, uint32_t at) {
	return wasi_get_u32(f->mem.data + at);
}

static _unused_ uint64_t u64_at(struct fx *f, uint32_t at) {
	return wasi_get_u64(f->mem.data + at);
}

static _unused_ void host_path(struct fx *f, const char *rel, char *buf, size_t size) {
	snprintf(buf, size, "%s/%s", f->root, rel);
}

static _unused_ void host_file(struct fx *f, const char *rel, const char *content) {
	char p[256];
	FILE *fp;

	host_path(f, rel, p, sizeof(p));
	fp = fopen(p, "we");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

static _unused_ void host_symlink(struct fx *f, const char *target, const char *rel) {
	char p[256];

	host_path(f, rel, p, sizeof(p));
	assert_int_equal(symlink(target, p), 0);
}

static _unused_ bool host_exists(struct fx *f, const char *rel) {
	char p[256];

	host_path(f, rel, p, sizeof(p));
	return access(p, F_OK) == 0;
}

static _unused_ uint32_t open_at(struct fx *f, uint32_t dirfd, uint32_t lookup, const char *path, uint32_t oflags,
                                 uint64_t rights, uint32_t fdflags, uint32_t *ret_fd) {
	uint32_t len = put(f, P_PATH, path);
	uint32_t e = W(path_open)(f->ctx, dirfd, lookup, P_PATH, len, oflags, rights, rights, fdflags, P_RET);

	*ret_fd = e ? UINT32_MAX : u32_at(f, P_RET);
	return e;
}

static _unused_ uint32_t open_file(struct fx *f, const char *path, uint32_t oflags, uint32_t *ret_fd) {
	return open_at(f, PRE, WASI_LOOKUP_SYMLINK_FOLLOW, path, oflags, WASI_RIGHTS_FILE_BASE, 0, ret_fd);
}

/* One iovec at P_IOV over guest bytes [P_BUF, P_BUF+len). */
static _unused_ void iov1(struct fx *f, uint32_t len) {
	wasi_put_u32(f->mem.data + P_IOV, P_BUF);
	wasi_put_u32(f->mem.data + P_IOV + 4, len);
}

static _unused_ uint32_t write_str(struct fx *f, uint32_t fd, const char *s) {
	iov1(f, put(f, P_BUF, s));
	return W(fd_write)(f->ctx, fd, P_IOV, 1, P_RET);
}

static _unused_ uint32_t path_call(struct fx *f, uint32_t (*fn)(wasi_ctx *, uint32_t, uint32_t, uint32_t),
                                   const char *p) {
	return fn(f->ctx, PRE, P_PATH, put(f, P_PATH, p));
}

static _unused_ uint8_t filetype_at(struct fx *f, uint32_t lookup, const char *p) {
	uint32_t e = W(path_filestat_get)(f->ctx, PRE, lookup, P_PATH, put(f, P_PATH, p), P_STAT);

	return e ? 0xff : f->mem.data[P_STAT + 16];
}
