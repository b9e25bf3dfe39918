/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the cache (wasm-compile.c) and the tcc tier
 * (wasm-compile-tcc.c); not for other modules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/wasm/wasm-compile.h"

/* The wasm-rt configuration libwasm-rt-impl.a was built with (wabt's
 * default on x86-64 Linux): bounds and stack exhaustion by signal handler. */
#define WASM_RT_CONFIG_CC "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=1"

int wasm_cache_lock(const char *path, bool wait, int *ret_fd);
char *wasm_tool_error(const char *text);
int wasm_run_tool(char *const *argv, int *ret_status, char **ret_err);

/* What follows wasm2c's C in both tiers: the instance size and the digest
 * (checked after dlopen). With include_c, an #include of it first. */
char *wasm_trailer(const char *include_c, const char *hex);

/* Compile the C of DIR/HEX.c (c: its text) in memory; code->tcc owns
 * the result. */
int wasm_tcc_compile(struct wasm_code *code, const char *dir, const char *c, size_t clen, struct za_error **reterr);
void *wasm_tcc_symbol(void *tcc, const char *name);
void wasm_tcc_free(void *tcc);
