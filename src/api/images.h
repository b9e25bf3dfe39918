/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's image service: pulls and loads on worker threads, the image
 * records in the store, tags, removal and garbage collection of blobs and
 * snapshots no image references. Lives on the event-loop thread; workers
 * hand results back with daemon_post(). */
#pragma once

#include <jansson.h>

#include "api/daemon.h"
#include "basic/error.h"
#include "image/manifest.h"
#include "spec/spec.h"
#include "store/store-images.h"

struct images;

/* Called on the event-loop thread: each progress line, then once done. */
typedef void (*images_line_fn)(json_t *line /* borrowed */, void *userdata);
typedef void (*images_done_fn)(int r, const struct za_error *err, const struct store_image *img, void *userdata);

/* Pull (registry reference) or load (local transport) in the background. */
int images_fetch_start(struct images *im, const char *reference, const struct oci_platform *platform,
                       images_line_fn on_line, images_done_fn on_done, void *userdata, struct za_error **reterr);
/* Resolve a user's reference (name, name:tag, digest, or short digest
 * prefix of at least 12 hex digits) to the stored image digest. */
int images_resolve(struct images *im, const char *reference, char **ret_digest, struct za_error **reterr);
/* The stored image `digest` can run on this node: route_to_peer (with
 * required_os) when it is for another operating system, e.g. one pulled
 * with --platform windows/amd64 (see oci_platform_check_os). */
int images_check_runnable(struct images *im, const char *digest, struct za_error **reterr);
/* The content store the image service owns (thread-safe for reads). */
struct content_store *images_content(struct images *im);
/* Remove blobs, snapshots and temp files no image or running pull uses;
 * the bytes freed are added to *reclaimed. */
int images_gc(struct images *im, uint64_t *reclaimed, struct za_error **reterr);
