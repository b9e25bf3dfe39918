/* SPDX-License-Identifier: Apache-2.0 */
/* Burns CPU forever (for --timeout). */
#include <stdio.h>

int main(void) {
	volatile unsigned long n = 0;

	printf("spinning\n");
	fflush(stdout);
	for (;;)
		n++;
}
