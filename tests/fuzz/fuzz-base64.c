/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 from a peer (exec output lines, secret values): decoding any input
 * either fails or yields bytes whose encoding decodes to the same bytes;
 * and every input, taken as bytes, round-trips through the encoder. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic/base64.h"
#include "basic/macro.h"
#include "basic/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	_cleanup_free_ char *dec = NULL, *enc = NULL, *again = NULL, *round = NULL;
	size_t n = 0, m = 0;

	if (size > 65536)
		return 0;
	if (base64_decode((const char *)data, size, &dec, &n) == 0) {
		if (n > size)
			abort();
		enc = base64_encode(dec, n);
		if (base64_decode(enc, strlen(enc), &again, &m) != 0 || m != n || memcmp(again, dec, n) != 0)
			abort();
	}
	free(enc);
	enc = base64_encode(data, size);
	if (base64_decode(enc, strlen(enc), &round, &m) != 0 || m != size || (size && memcmp(round, data, size) != 0))
		abort();
	return 0;
}
