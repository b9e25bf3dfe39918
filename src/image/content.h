/* SPDX-License-Identifier: Apache-2.0 */
/* The content-addressed blob store under ROOT/content: sha256/<hex> holds
 * verified blobs (manifests, configs, compressed layers), ingest/<hex>.partial
 * holds downloads in progress so an interrupted one can resume. A blob
 * becomes visible only after its digest and size were verified, by fsync +
 * rename, so a kill -9 at any moment leaves either no blob or a whole one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "image/digest.h"

struct content_store {
	char *root;    /* ROOT/content */
	int blobs_fd;  /* ROOT/content/sha256 */
	int ingest_fd; /* ROOT/content/ingest */
};

int content_store_open(const char *root_dir, struct content_store **ret, struct za_error **reterr);
struct content_store *content_store_free(struct content_store *cs);

/* ROOT/content/sha256/<hex> (whether or not it exists). */
char *content_path(const struct content_store *cs, const char *digest);
/* True when a verified blob with this digest is stored; *ret_size its size. */
bool content_has(const struct content_store *cs, const char *digest, uint64_t *ret_size);
/* Read a whole (small) blob, re-verifying its digest; -EFBIG past cap. */
int content_read(const struct content_store *cs, const char *digest, size_t cap, char **ret_buf, size_t *ret_len,
                 struct za_error **reterr);
/* Store a buffer whose digest must equal `digest` (NULL: computed; the
 * resulting digest is returned in *ret_digest when non-NULL). */
int content_write(struct content_store *cs, const void *data, size_t len, const char *digest, char **ret_digest,
                  struct za_error **reterr);
int content_remove(struct content_store *cs, const char *digest);
/* All stored sha256 digests. */
int content_list(const struct content_store *cs, char ***ret, struct za_error **reterr);

/* A writer for one expected blob. Opening resumes a partial download of the
 * same digest: content_writer_offset() says how many bytes are already there
 * (they are re-hashed on open). */
struct content_writer;
int content_writer_open(struct content_store *cs, const char *digest, uint64_t size, struct content_writer **ret,
                        struct za_error **reterr);
uint64_t content_writer_offset(const struct content_writer *w);
/* The partial file, readable, positioned at 0 (to replay resumed bytes). */
int content_writer_partial_fd(const struct content_writer *w);
int content_writer_write(struct content_writer *w, const void *data, size_t len, struct za_error **reterr);
/* Verify digest and size, fsync, rename into place. The writer is freed. */
int content_writer_commit(struct content_writer *w, struct za_error **reterr);
/* Close the writer; keep the partial file for a later resume unless
 * `discard` (e.g. after a digest mismatch). */
void content_writer_abort(struct content_writer *w, bool discard);
/* Remove partial downloads no writer holds (at daemon start). */
int content_ingest_clear(struct content_store *cs);
