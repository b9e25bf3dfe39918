/* SPDX-License-Identifier: Apache-2.0 */
/* Sleeps argv[1] milliseconds (default: forever) through poll_oneoff,
 * printing a line before and after. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
	long ms = argc > 1 ? atol(argv[1]) : -1;

	printf("sleeping\n");
	fflush(stdout);
	do {
		struct timespec ts = { .tv_sec = (ms < 0 ? 3600 : ms / 1000),
			               .tv_nsec = (ms < 0 ? 0 : (ms % 1000) * 1000000) };
		nanosleep(&ts, NULL);
	} while (ms < 0);
	printf("awake\n");
	return 0;
}
