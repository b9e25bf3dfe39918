/* SPDX-License-Identifier: Apache-2.0 */
/* `files.wasm read PATH` prints a file; `files.wasm write PATH TEXT`
 * creates it; a failure prints "error: <strerror>" and exits 1. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
	char buf[4096];
	FILE *f;
	size_t n;

	if (argc < 3)
		return 2;
	if (!strcmp(argv[1], "read")) {
		f = fopen(argv[2], "r");
		if (!f) {
			printf("error: %s\n", strerror(errno));
			return 1;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, stdout);
		fclose(f);
		return 0;
	}
	if (!strcmp(argv[1], "write") && argc > 3) {
		f = fopen(argv[2], "w");
		if (!f || fputs(argv[3], f) < 0 || fclose(f) != 0) {
			printf("error: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	return 2;
}
