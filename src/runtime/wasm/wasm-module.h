/* SPDX-License-Identifier: Apache-2.0 */
/* WebAssembly module inspection: the binary's header and section headers
 * (ids, order, sizes, LEB128 bounds), its imports, exports and memory
 * limits, checked enough to run it as a WASI preview 1 command. Function
 * bodies are not validated here: that is wasm2c's job (see wasm-compile.h).
 * Every failure is an `invalid_spec` error "invalid wasm: ...". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"

#define WASM_MODULE_MAX_BYTES (256u << 20) /* read cap for a module file */
#define WASM_PAGE_SIZE        65536u
#define WASM_MAX_PAGES        65536u /* 4 GiB of 32-bit linear memory */
#define WASI_MODULE_NAME      "wasi_snapshot_preview1"

struct wasm_module_info {
	uint32_t n_types;
	uint32_t n_funcs;    /* defined (not imported) functions */
	char **wasi_imports; /* the preview 1 functions it imports, by name */
	size_t n_wasi_imports;
	uint32_t mem_min_pages, mem_max_pages; /* max: WASM_MAX_PAGES when unset */
	bool mem_has_max;
	size_t code_bytes; /* size of the code section */
};

/* Inspect the module in buf: the whole binary is walked, every import must
 * be a known `wasi_snapshot_preview1` function with its preview 1 type, the
 * module must define one memory, export it as "memory" and export a
 * `_start` function of type [] -> []. */
int wasm_module_inspect(const void *buf, size_t len, struct wasm_module_info *ret, struct za_error **reterr);
void wasm_module_info_release(struct wasm_module_info *info);

/* Read a module file (at most WASM_MODULE_MAX_BYTES). */
int wasm_module_read(const char *path, void **ret_buf, size_t *ret_len, struct za_error **reterr);

/* The preview 1 core type of an import as "params:results" in i (i32) and
 * I (i64), e.g. "iiii:i" for fd_write; NULL for an unknown name. */
const char *wasm_wasi_signature(const char *name);
