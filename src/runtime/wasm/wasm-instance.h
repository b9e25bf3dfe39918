/* SPDX-License-Identifier: Apache-2.0 */
/* One instance of a loaded module in this process, and running its
 * `_start`: the WASI context, the linear memory cap, traps and the timeout
 * turned into exit statuses and an outcome record. Used by `zlayer-wasm run`
 * and by the OCI instance process alike. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "runtime/wasm/wasi.h"
#include "runtime/wasm/wasm-compile.h"

#define WASM_EXIT_TRAP    134 /* like an abort(): 128 + SIGABRT */
#define WASM_EXIT_TIMEOUT 124 /* like timeout(1) */

/* Outcome record (the trap file): {"reason":"runtime_error","trap":"KIND"}
 * or {"reason":"timeout"}, written atomically; nothing on a normal exit. */
#define WASM_OUTCOME_RUNTIME_ERROR "runtime_error"
#define WASM_OUTCOME_TIMEOUT       "timeout"

struct wasm_run_config {
	char *const *args; /* guest argv, argv[0] included */
	char *const *env;  /* "K=V" */
	const struct wasi_preopen *preopens;
	size_t n_preopens;
	uint64_t max_memory;    /* bytes of linear memory, 0: the module's own limit */
	uint32_t mem_min_pages; /* the module's initial memory (wasm_module_info) */
	uint64_t timeout_ns;    /* 0: none */
	const char *trap_file;  /* NULL: none */
};

struct wasm_instance;

/* Instantiate (the module's data and start function run here); a module
 * whose initial memory exceeds max_memory is a `configuration` error. */
int wasm_instance_new(struct wasm_code *code, const struct wasm_run_config *cfg, struct wasm_instance **ret,
                      struct za_error **reterr);
/* Run `_start`; the exit status: proc_exit's code (0 when _start returns),
 * WASM_EXIT_TRAP after a trap (reported on stderr and in the trap file).
 * A timeout ends the process with WASM_EXIT_TIMEOUT from a signal handler. */
int wasm_instance_run(struct wasm_instance *inst);
struct wasm_instance *wasm_instance_free(struct wasm_instance *inst);
static inline void wasm_instance_freep(struct wasm_instance **i) {
	*i = wasm_instance_free(*i);
}

/* "out_of_bounds", "stack_exhaustion", ... */
const char *wasm_trap_to_string(int trap);
