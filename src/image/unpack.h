/* SPDX-License-Identifier: Apache-2.0 */
/* Layer unpacking: one OCI layer (tar, tar+gzip, tar+zstd) read sequentially
 * from a descriptor and extracted beneath an empty directory with *at() calls
 * only, OCI whiteouts turned into overlayfs form, and its diff_id computed. */
#pragma once

#include <stdint.h>

#include "basic/error.h"

#define LAYER_UNPACK_MAX_ENTRIES     1000000u
#define LAYER_UNPACK_MAX_PATH        4096u
#define LAYER_UNPACK_MAX_XATTR_VALUE (64u * 1024u)
#define LAYER_UNPACK_MAX_XATTRS      128u

struct layer_unpack_stats {
	uint64_t entries;
	uint64_t bytes; /* uncompressed tar bytes */
};

/* Caps for one layer; a zero field means the default (LAYER_UNPACK_MAX_ENTRIES
 * entries, no limit on uncompressed bytes). */
struct layer_unpack_limits {
	uint64_t max_entries;
	uint64_t max_bytes;
};

/* Read one layer from `fd` (a pipe or a file, read sequentially, never seeked;
 * gzip and zstd detected by magic) and extract it into the empty directory
 * `dir_fd`. *ret_diff_id gets "sha256:<hex>" of the whole uncompressed stream
 * (the caller compares it with the image config; a tar cut at an entry
 * boundary unpacks "fine" and only the diff_id tells). On success the input
 * is read to EOF, past the tar end-of-archive marker and past the end of a
 * gzip stream, so a pipe writer never sees EPIPE (libarchive's zstd decoder
 * refuses bytes after the last frame: an error). On error returns -errno
 * with reterr (kind pull_failed) naming the entry ("layer entry
 * 'etc/../../x': path escapes the layer"), stops reading at once, and leaves
 * what was written in dir_fd for the caller to delete.
 *
 * Entries are confined to dir_fd: absolute paths and '..' components are
 * rejected, parents are resolved with openat2(RESOLVE_BENEATH) so symlinks
 * may only lead to places beneath dir_fd, hardlink targets must be existing
 * non-directories beneath dir_fd; missing parents are made 0755. An entry
 * replaces an earlier one of the same name (directories merge). Whiteouts:
 * `dir/.wh.name` becomes a 0/0 character device `dir/name` (if `name` exists
 * in this layer it stays, and a directory there becomes opaque);
 * `dir/.wh..wh..opq` sets trusted.overlay.opaque=y on dir; other
 * `.wh..wh.*` entries are ignored; a directory made where this layer put a
 * whiteout is opaque. trusted.overlay.* xattrs in the layer are dropped,
 * user.* xattrs on symlinks and devices skipped (the kernel refuses them),
 * xattrs the filesystem does not support skipped. Needs root (ownership,
 * device nodes, trusted.* xattrs) and /proc. Touches no process-wide state
 * (cwd, umask), so any thread may call it. */
int layer_unpack(int fd, int dir_fd, char **ret_diff_id, struct layer_unpack_stats *ret_stats,
                 struct za_error **reterr);
int layer_unpack_limited(int fd, int dir_fd, const struct layer_unpack_limits *limits, char **ret_diff_id,
                         struct layer_unpack_stats *ret_stats, struct za_error **reterr);

/* A layer that is one file, not a tarball (a WebAssembly module layer):
 * its bytes into DIR/name, the diff id (sha256 hex) as for a tar layer. */
#define LAYER_MODULE_FILE_NAME "module.wasm"
int layer_store_file(int fd, int dir_fd, const char *name, uint64_t max_bytes, char **ret_diff_id,
                     struct layer_unpack_stats *ret_stats, struct za_error **reterr);
