/* SPDX-License-Identifier: Apache-2.0 */
/* The layer engine shared by pull and load: for each layer of a manifest,
 * make sure its blob is in the content store (downloading what is missing,
 * several at once, streamed through sha256 and into the unpacker) and its
 * snapshot exists (unpacked into ROOT/tmp, checked against the config's
 * diff_id, renamed to ROOT/snapshots/<chain-id>). A process-wide claim table
 * makes concurrent pulls fetch a shared layer once and keeps prune away from
 * what a pull is using. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "basic/error.h"
#include "image/content.h"
#include "image/manifest.h"
#include "store/store-images.h"

struct registry_client;

enum pull_layer_state {
	PULL_LAYER_WAITING,
	PULL_LAYER_DOWNLOADING,
	PULL_LAYER_VERIFYING,
	PULL_LAYER_EXISTS,
	PULL_LAYER_DONE,
	_PULL_LAYER_STATE_MAX,
	_PULL_LAYER_STATE_INVALID = -1,
};
const char *pull_layer_state_to_string(enum pull_layer_state s);

struct pull_progress {
	const char *layer_digest; /* NULL: a message about the whole pull */
	enum pull_layer_state state;
	uint64_t current, total;
	const char *message;
};

struct layers_job {
	const atomic_bool *cancel; /* optional: set -> transfers stop with ECANCELED */
	const char *root_dir;
	struct content_store *content;
	struct registry_client *client; /* NULL: every blob must already be stored (load) */
	const char *repo;
	const struct oci_manifest *manifest;
	const struct oci_image_config *config;
	void (*on_progress)(const struct pull_progress *p, void *userdata);
	void *userdata;
};

/* Fills img->layers and img->n_layers. On failure removes the blobs and
 * snapshots it created that no other pull uses. */
int layers_fetch_and_unpack(struct layers_job *job, struct store_image *img, struct za_error **reterr);

/* Directory of a snapshot: ROOT/snapshots/<hex of chain id>. */
char *snapshot_path(const char *root_dir, const char *chain_id);

/* Claims on blob digests and chain ids by work in progress. */
void claim_hold(const char *key);
void claim_drop(const char *key);
/* Drop the claim; true when nobody else holds the key (the caller may then
 * remove what it created under it). */
bool claim_drop_last(const char *key);
bool claim_in_use(const char *key);
