/* SPDX-License-Identifier: Apache-2.0 */
/* Image metadata in the store: pulled images (one row per platform
 * manifest), their layers, the tags pointing at them and the unpacked layer
 * snapshots. Blobs and snapshot directories live on disk and are owned by
 * the content store; these rows say which of them are in use. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "store/store.h"

struct store_layer {
	char *blob_digest; /* compressed blob, as in the manifest */
	char *diff_id;     /* uncompressed digest, from the config's rootfs */
	char *chain_id;    /* snapshot this layer is unpacked into */
	char *media_type;
	uint64_t size;          /* blob bytes */
	uint64_t unpacked_size; /* bytes of the snapshot on disk, 0 when unknown */
};

struct store_image {
	char *digest;        /* platform manifest digest: the image's identity */
	char *index_digest;  /* index it was selected from, or NULL */
	char *config_digest; /* image config blob */
	char *media_type;    /* of the manifest */
	char *os, *arch, *variant;
	char *created; /* from the config, RFC 3339, or NULL */
	uint64_t size; /* manifest + config + layer blobs */
	int64_t pulled_at;
	struct store_layer *layers; /* bottom first */
	size_t n_layers;
	char **references; /* tags pointing at it, sorted, NULL-terminated (may be NULL when none) */
};

void store_layer_release(struct store_layer *l);
void store_image_release(struct store_image *img);
/* Release n images and the array. */
void store_images_free(struct store_image *imgs, size_t n);

/* Insert or replace the image `img->digest` with its layers, a snapshot row
 * per layer (kept if present) and img->references as tags (moved here from
 * any other image), in one transaction. Tags of an existing row that are not
 * in img->references are kept. */
int store_image_put(struct store *s, const struct store_image *img, struct za_error **reterr);
/* -ENOENT with kind not_found when absent. */
int store_image_get(struct store *s, const char *digest, struct store_image *ret, struct za_error **reterr);
/* All images, most recently pulled first. */
int store_image_list(struct store *s, struct store_image **ret, size_t *ret_n, struct za_error **reterr);
/* Removes the image, its layer rows and its tags; snapshots stay until
 * garbage collection. -ENOENT when absent. */
int store_image_remove(struct store *s, const char *digest, struct za_error **reterr);

/* Point reference at image_digest (-ENOENT when that image is absent). */
int store_tag_set(struct store *s, const char *reference, const char *image_digest, struct za_error **reterr);
int store_tag_resolve(struct store *s, const char *reference, char **ret_digest, struct za_error **reterr);
int store_tag_remove(struct store *s, const char *reference, struct za_error **reterr);

/* Chain ids of snapshots no image layer uses, sorted; NULL-terminated. */
int store_snapshots_unreferenced(struct store *s, char ***ret_chain_ids, struct za_error **reterr);
int store_snapshot_remove(struct store *s, const char *chain_id, struct za_error **reterr);
/* Manifest, config, index and layer blob digests of all images; sorted,
 * unique, NULL-terminated. */
int store_blobs_referenced(struct store *s, char ***ret_digests, struct za_error **reterr);
