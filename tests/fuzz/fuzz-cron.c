/* SPDX-License-Identifier: Apache-2.0 */
/* Parse arbitrary bytes as a cron expression; for those that parse, the
 * next fire time from a few fixed instants must be later than the instant,
 * must match, and nothing in a short window before it may match. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec/cron.h"
#include "basic/error.h"
#include "basic/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const time_t fuzz_times[] = {
	-86400,     /* 1969-12-31 */
	0,          /* 1970-01-01 */
	1767225600, /* 2026-01-01 */
	1772323199, /* 2026-02-28 23:59:59 */
	1835395200, /* 2028-02-29 */
	4102444740, /* 2099-12-31 23:59:00 */
	4102444800, /* 2100-01-01 */
};

/* Short enough to keep executions fast, long enough to span minute and
 * hour boundaries. */
#define FUZZ_SCAN_SECONDS 600

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	struct za_error *err = NULL;
	struct cron_expr c;
	char *s;
	int r;

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	r = cron_parse(s, &c, &err);
	free(s);
	if (r < 0) {
		if (!err || !err->message || err->kind != ZA_ERROR_INVALID_SPEC || r != -EINVAL)
			abort();
		za_error_free(err);
		return 0;
	}
	if (err || (c.nfields != 5 && c.nfields != 6 && c.nfields != 7))
		abort();

	for (size_t i = 0; i < sizeof(fuzz_times) / sizeof(fuzz_times[0]); i++) {
		time_t after = fuzz_times[i], next = 0;

		r = cron_next(&c, after, &next);
		if (r == -ENOENT)
			continue;
		if (r != 0 || next <= after || !cron_matches(&c, next))
			abort();
		for (time_t t = after + 1; t < next && t <= after + FUZZ_SCAN_SECONDS; t++)
			if (cron_matches(&c, t))
				abort();
	}
	return 0;
}
