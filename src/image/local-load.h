/* SPDX-License-Identifier: Apache-2.0 */
/* Loading images from local transports: an OCI image layout directory
 * (oci-layout:DIR[:TAG]), a tar of one (oci-archive:FILE[:TAG]), or a
 * `docker save` archive (docker-archive:FILE). Blobs are verified into the
 * content store and layers unpacked exactly as a pull does. */
#pragma once

#include <stdatomic.h>

#include "basic/error.h"
#include "image/layers.h"
#include "image/manifest.h"

struct load_options {
	const atomic_bool *cancel; /* optional: set -> transfers stop with ECANCELED */
	const char *root_dir;
	struct content_store *content;
	const struct oci_platform *platform; /* NULL: the node's */
	void (*on_progress)(const struct pull_progress *p, void *userdata);
	void *userdata;
};

int image_load(const char *reference, const struct load_options *o, struct store_image *ret, struct za_error **reterr);
