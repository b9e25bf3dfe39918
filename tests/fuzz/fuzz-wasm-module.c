/* SPDX-License-Identifier: Apache-2.0 */
/* A WebAssembly module is outside input (an image's file): inspect any
 * bytes. Either an error "invalid wasm: ..." or an info whose numbers fit
 * the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic/alloc.h"
#include "runtime/wasm/wasm-module.h"
#include "basic/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct wasm_module_info info = {};

	if (wasm_module_inspect(data, size, &info, &err) >= 0) {
		if (err || info.code_bytes > size || info.n_wasi_imports > size ||
		    info.mem_min_pages > info.mem_max_pages || info.mem_max_pages > WASM_MAX_PAGES)
			abort();
		for (size_t i = 0; i < info.n_wasi_imports; i++)
			if (!wasm_wasi_signature(info.wasi_imports[i]))
				abort();
		wasm_module_info_release(&info);
	} else if (!err || !err->message || strncmp(err->message, "invalid wasm: ", 14) != 0)
		abort();
	return 0;
}
