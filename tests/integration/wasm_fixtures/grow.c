/* SPDX-License-Identifier: Apache-2.0 */
/* Grows linear memory by 1 MiB steps (memory.grow) until it fails or
 * argv[1] MiB are reached; prints how many MiB it got. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	long want = argc > 1 ? atol(argv[1]) : 1024, got = 0;

	while (got < want && __builtin_wasm_memory_grow(0, 16) != (size_t)-1)
		got++;
	printf("grew %ld MiB, memory %lu MiB\n", got, (unsigned long)(__builtin_wasm_memory_size(0) >> 4));
	return 0;
}
