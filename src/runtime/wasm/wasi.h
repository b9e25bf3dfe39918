/* SPDX-License-Identifier: Apache-2.0 */
/* WASI preview 1 host: the `wasi_snapshot_preview1` imports of a module
 * translated by wasm2c (wabt 1.0.32 naming: Z_wasi_snapshot_preview1Z_NAME,
 * i32 -> u32, i64 -> u64, first argument the import instance). It owns the
 * guest's file descriptor table (stdio + preopens + what the guest opens),
 * args and environ; it reads and writes the guest's linear memory with every
 * access bounds-checked (out of range -> errno FAULT, never a host fault).
 * Path resolution never leaves a preopen: `..` above it, absolute paths and
 * symlinks out give EPERM (as wasmtime, as wasi-testsuite expects), loops
 * ELOOP. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include <wasm-rt.h>

struct wasi_preopen {
	const char *guest_path; /* what the guest sees, e.g. "/" or "/data" */
	const char *host_path;  /* a host directory */
};

struct wasi_config {
	char *const *args;    /* argv[0] included (the module name) */
	char *const *environ; /* "K=V" strings */
	const struct wasi_preopen *preopens;
	size_t n_preopens;
	int stdio[3]; /* host fds for guest fds 0, 1, 2 (borrowed, not closed; -1: /dev/null) */
	/* Called by proc_exit; must not return (the runner longjmps or exits). */
	void (*exit_fn)(void *userdata, uint32_t code);
	void *exit_userdata;
};

/* The import instance wasm2c's generated code passes to every import. */
struct Z_wasi_snapshot_preview1_instance_t;
typedef struct Z_wasi_snapshot_preview1_instance_t wasi_ctx;

/* Opens the preopen directories (O_DIRECTORY|O_RDONLY|O_CLOEXEC, O_PATH
 * when unreadable); a missing one is a `configuration` error naming it. */
int wasi_ctx_new(const struct wasi_config *cfg, wasi_ctx **ret, struct za_error **reterr);
/* The module's exported memory; set after instantiation, before _start. */
void wasi_ctx_set_memory(wasi_ctx *ctx, wasm_rt_memory_t *memory);
wasi_ctx *wasi_ctx_free(wasi_ctx *ctx);
/* Whether the guest called proc_exit, and with which code. When exit_fn is
 * NULL (or returns), proc_exit records the code and traps with
 * WASM_RT_TRAP_UNREACHABLE: a runner that catches the trap asks here. */
bool wasi_ctx_exited(const wasi_ctx *ctx, uint32_t *ret_code);

/* Every import by name, for libtcc's tcc_add_symbol(): a NULL-terminated
 * table of {"Z_wasi_snapshot_preview1Z_fd_write", fn}. The runner is linked
 * with -rdynamic so dlopen()ed cached objects resolve the same symbols. */
struct wasi_symbol {
	const char *name;
	void *fn;
};
extern const struct wasi_symbol wasi_symbols[];
