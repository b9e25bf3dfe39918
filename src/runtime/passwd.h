/* SPDX-License-Identifier: Apache-2.0 */
/* A container's user as Docker resolves it: "name", "uid", "uid:gid",
 * "name:group" against the image's /etc/passwd and /etc/group, read through
 * an fd of the rootfs so that no path (symlinks included) leaves it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"

#define PASSWD_MAX_FILE_SIZE (8u * 1024 * 1024)

struct passwd_user {
	uint32_t uid, gid;
	uint32_t *additional_gids; /* the primary gid first, as Docker does */
	size_t n_additional_gids;
	char *home; /* NULL when no passwd entry matched */
};

/* Resolve `spec` (NULL or "": root) inside the rootfs open at rootfs_fd.
 * Numeric ids need no file; a name that is not in the file fails with
 * create_failed "user 'x' not found in the image's /etc/passwd". Without an
 * explicit group, the supplementary groups are those listing the user. */
int passwd_resolve_user(int rootfs_fd, const char *spec, struct passwd_user *ret, struct za_error **reterr);
/* The same on the files' contents (NULL: the file does not exist). */
int passwd_resolve_text(const char *passwd, const char *group, const char *spec, struct passwd_user *ret,
                        struct za_error **reterr);
void passwd_user_release(struct passwd_user *u);

/* Open `path` (relative to the rootfs, leading '/' ignored) for reading,
 * resolving every symlink as if rootfs were "/" (openat2 RESOLVE_IN_ROOT;
 * where that is missing, a symlink anywhere on the path is refused). */
int rootfs_open(int rootfs_fd, const char *path, int flags);
