/* SPDX-License-Identifier: Apache-2.0 */
/* The few file helpers the shim needs, on raw fds: it links nothing but
 * libc (src/basic pulls in stdio-sized habits the 1 MiB RSS budget cannot
 * pay for). Same conventions: -errno on failure, O_CLOEXEC. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* write() all of it, retrying on EINTR and short writes. */
int shim_write_all(int fd, const void *data, size_t len);
/* Replace dir/name with data: dir/.name.tmp, fsync, rename, fsync dir. */
int shim_write_file_atomic(const char *dir, const char *name, const void *data, size_t len);
/* Read at most cap-1 bytes of path into buf, NUL-terminated; the length. */
ssize_t shim_read_file(const char *path, char *buf, size_t cap);
ssize_t shim_read_fd(int fd, char *buf, size_t cap);
/* Decimal without sign, whitespace or overflow; trailing "\n" allowed. */
int shim_parse_u64(const char *s, uint64_t *ret);
/* "a" + "b" + ... (NULL-terminated) in one malloc'd string, NULL on ENOMEM. */
char *shim_concat(const char *first, ...) __attribute__((sentinel));
