/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by unpack.c (the stream: decompression, diff_id, the entry loop)
 * and unpack-entry.c (confining and creating one entry beneath the layer
 * directory). Not for use outside the layer unpacker. */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include "image/digest.h"
#include <time.h>

#include "image/unpack.h"

#define UNPACK_SHOWN_MAX  200 /* bytes of an entry name shown in errors */
#define UNPACK_SHOWN_SIZE (UNPACK_SHOWN_MAX * 4 + 4)
/* Directory times are set at the end, so their paths are kept meanwhile:
 * a cap, since a small compressed layer can name a million long paths. */
#define UNPACK_MAX_DIR_BYTES (64u * 1024u * 1024u)

struct dir_time {
	char *path; /* normalized, "" for the layer root */
	struct timespec ts[2];
};

struct unpack {
	int in_fd;
	int dir_fd;
	struct archive *raw;
	struct archive *tar;
	struct sha256 *sha; /* of the uncompressed stream: the diff_id */
	uint8_t *in_buf;
	uint8_t *tar_buf;
	bool in_eof, raw_eof;
	int in_errno; /* read() on the input failed */
	uint64_t in_bytes;
	int raw_errno;   /* set when `raw` or the input failed: the real cause */
	char *raw_error; /* its message */
	uint64_t bytes, max_bytes;
	uint64_t entries, max_entries;

	/* One cached parent directory: entries of a directory come together. */
	char *cached_parent;
	int cached_fd;
	bool cache_stale; /* something was removed: drop the cache before reuse */

	struct dir_time *dirs;
	size_t n_dirs, alloc_dirs;
	size_t dir_bytes; /* accounted against UNPACK_MAX_DIR_BYTES */
};

/* An entry name from the layer, bounded and with control bytes escaped. */
const char *unpack_shown(const char *s, char buf[static UNPACK_SHOWN_SIZE]);
/* "layer entry '<entry>': <fmt>" as a pull_failed error; returns -code. */
int unpack_entry_error(struct za_error **reterr, const char *entry, int code, const char *fmt, ...) _printf_(4, 5);
/* A read from the tar reader failed: blame the input or decompressor if they
 * failed, the tar data otherwise. */
int unpack_stream_error(struct unpack *u, const char *entry, struct za_error **reterr);

/* Create one entry (its data read from u->tar) beneath u->dir_fd. */
int unpack_entry(struct unpack *u, struct archive_entry *e, struct za_error **reterr);
/* Set the directory times remembered by unpack_entry(), after all entries. */
int unpack_fix_dir_times(struct unpack *u, struct za_error **reterr);
void unpack_cache_drop(struct unpack *u);
