/* SPDX-License-Identifier: Apache-2.0 */
/* Traps the way argv[1] says: unreachable, out_of_bounds, division_by_zero,
 * integer_overflow, invalid_conversion, indirect_call, stack_exhaustion. */
#include <limits.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static volatile int zero = 0, one = 1, minus_one = -1, int_min = INT_MIN;
static volatile double not_a_number = NAN;

/* Through a volatile pointer: no inlining, no tail calls, no shadow stack
 * (the guest's native stack is what runs out). */
static int recurse(int n);
static int (*volatile next)(int) = recurse;

static int recurse(int n) {
	return next(n + 1) + 1;
}

int main(int argc, char **argv) {
	const char *what = argc > 1 ? argv[1] : "";

	printf("before %s\n", what);
	fflush(stdout);
	if (!strcmp(what, "unreachable"))
		__builtin_trap();
	if (!strcmp(what, "out_of_bounds"))
		return *(volatile int *)(uintptr_t)0xfffffff0u;
	if (!strcmp(what, "division_by_zero"))
		return one / zero;
	if (!strcmp(what, "integer_overflow"))
		return int_min / minus_one;
	if (!strcmp(what, "invalid_conversion"))
		return (int)__builtin_wasm_trunc_s_i32_f64(not_a_number);
	if (!strcmp(what, "indirect_call")) {
		/* a table index far past the table's end */
		volatile uintptr_t index = 12345;
		return ((int (*)(void))index)();
	}
	if (!strcmp(what, "stack_exhaustion"))
		return recurse(0);
	return 2;
}
