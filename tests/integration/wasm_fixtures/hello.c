/* SPDX-License-Identifier: Apache-2.0 */
/* Prints its arguments and the environment variables it was given, one per
 * line, then exits with the status in $EXIT (default 0). */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

int main(int argc, char **argv) {
	const char *code = getenv("EXIT");

	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	for (char **e = environ; *e; e++)
		printf("env %s\n", *e);
	fflush(stdout);
	return code ? atoi(code) : 0;
}
