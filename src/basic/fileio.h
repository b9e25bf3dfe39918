/* SPDX-License-Identifier: Apache-2.0 */
/* Whole-file reads with a size cap and crash-safe whole-file writes
 * (temp file + fsync + rename + fsync of the directory). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Read all of path (or fd when path is NULL); -EFBIG past `cap` bytes. The
 * buffer is NUL-terminated. */
int read_full_file(const char *path, size_t cap, char **ret_buf, size_t *ret_len);
int read_full_fd(int fd, size_t cap, char **ret_buf, size_t *ret_len);
/* Replace path atomically with data; the file gets `mode`. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* The same without fsync: atomic for readers and across a crash of the
 * process, not across power loss. For volatile state (the runtime dir, a
 * tmpfs at /run), where a sync only costs time. */
int write_file_replace(const char *path, const void *data, size_t len, mode_t mode);
/* write() the whole buffer, retrying on EINTR and short writes. */
int loop_write(int fd, const void *data, size_t len);
/* mkdir -p with mode for the created components. */
int mkdir_p(const char *path, mode_t mode);
/* Remove name (relative to dfd) and everything below it, never following
 * symlinks; errors are ignored (best effort cleanup). */
void rm_rf_at(int dfd, const char *name);
void rm_rf(const char *path);
