/* SPDX-License-Identifier: Apache-2.0 */
/* Any bytes through the spec loader: no crash, no leak, no sanitizer report;
 * a failure always comes with diagnostics; a success round-trips through
 * its normalised JSON to the same JSON. */
#include <stdint.h>
#include <stdlib.h>

#include "basic/macro.h"
#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	_cleanup_(spec_deployment_freep) struct spec_deployment *d = NULL, *d2 = NULL;
	_cleanup_free_ char *json = NULL, *json2 = NULL;
	struct spec_diagnostics diags;
	int r;

	if (size > 64 * 1024)
		return 0;
	r = spec_load_string("fuzz.yaml", (const char *)data, size, &d, &diags, NULL);
	if (r < 0 && diags.n == 0)
		abort();
	if (diags.n > SPEC_MAX_DIAGNOSTICS)
		abort();
	for (size_t i = 0; i < diags.n; i++)
		free(spec_diag_format(&diags, &diags.items[i]));
	spec_diagnostics_release(&diags);
	if (r < 0)
		return 0;

	json = spec_to_json(d);
	if (spec_load_string("fuzz.json", json, strlen(json), &d2, NULL, NULL) < 0)
		abort();
	json2 = spec_to_json(d2);
	if (!streq(json, json2))
		abort();
	return 0;
}
