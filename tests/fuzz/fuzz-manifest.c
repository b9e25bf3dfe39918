/* SPDX-License-Identifier: Apache-2.0 */
/* Registry documents are outside input: manifests, indexes and configs of
 * any shape must parse or fail cleanly, never crash or leak. */
#include <stdint.h>
#include <stdlib.h>

#include "basic/macro.h"
#include "image/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	const char *s = (const char *)data;
	struct za_error *err = NULL;
	struct oci_index idx = {};
	struct oci_manifest m = {};
	struct oci_image_config c = {};
	enum manifest_kind k;
	char *mt = NULL;

	if (manifest_detect_kind(NULL, s, size, &k, &mt, &err) < 0 && !err)
		abort();
	free(mt);
	err = za_error_free(err);
	if (oci_index_parse(s, size, &idx, &err) >= 0) {
		struct oci_platform p = { .os = (char *)"linux", .architecture = (char *)"amd64" };
		const struct oci_descriptor *d;
		if (oci_index_select(&idx, &p, &d, &err) >= 0 && !d)
			abort();
		oci_index_release(&idx);
	}
	err = za_error_free(err);
	if (oci_manifest_parse(s, size, &m, &err) >= 0)
		oci_manifest_release(&m);
	else if (!err)
		abort();
	err = za_error_free(err);
	if (oci_image_config_parse(s, size, &c, &err) >= 0) {
		if (strv_length(c.diff_ids) != c.n_diff_ids)
			abort();
		oci_image_config_release(&c);
	}
	za_error_free(err);
	return 0;
}
