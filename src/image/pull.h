/* SPDX-License-Identifier: Apache-2.0 */
/* The puller: a registry reference becomes a verified image — manifest,
 * config and layer blobs in the content store, each layer unpacked into
 * ROOT/snapshots/<chain-id> — and the record the metadata store keeps.
 * It runs on a worker thread and touches no daemon state; progress goes to
 * a callback. Layers shared by concurrent pulls are fetched once. A failed
 * pull removes what it added; nothing half-made becomes visible. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "basic/error.h"
#include "image/content.h"
#include "image/layers.h"
#include "image/manifest.h"
#include "image/registry.h"
#include "spec/spec.h"
#include "store/store-images.h"

struct pull_options {
	const atomic_bool *cancel;               /* optional: set -> transfers stop with ECANCELED */
	const char *root_dir;                    /* ROOT: snapshots/ and tmp/ live here */
	struct content_store *content;           /* ROOT/content */
	const struct registry_options *registry; /* auth, insecure hosts, parallelism */
	const struct oci_platform *platform;     /* NULL: the node's */
	void (*on_progress)(const struct pull_progress *p, void *userdata);
	void *userdata;
};

/* Pull `reference` (a registry reference; local transports go through
 * image_load). On success *ret describes the image (digest, layers with
 * chain ids, and the normalised reference in references[0]). */
int image_pull(const char *reference, const struct pull_options *opts, struct store_image *ret,
               struct za_error **reterr);

/* The digest the registry currently serves for a reference (index or
 * manifest), for pull_policy `newer`. */
int image_remote_digest(const char *reference, const struct registry_options *opts, char **ret_digest,
                        struct za_error **reterr);

/* The pull_policy semantics of the spec: whether to pull given the local
 * image digest (NULL: not present) and, for `newer`, the registry's digest
 * for the reference (NULL: not asked or unreachable). `never` with no local
 * image fails with not_found naming the image. */
int pull_policy_decide(enum spec_pull_policy policy, const char *image, const char *local_digest,
                       const char *remote_digest, bool *ret_pull, struct za_error **reterr);
