/* SPDX-License-Identifier: Apache-2.0 */
/* Base64, RFC 4648 standard alphabet: for bytes that are not UTF-8 text
 * inside JSON (exec output, secret values). */
#pragma once

#include <stddef.h>

/* Padded; always NUL-terminated (malloc'd, never NULL). */
char *base64_encode(const void *data, size_t len);
/* Padding optional, nothing else allowed (no whitespace): 0, or -EINVAL.
 * *ret is NUL-terminated; *ret_len excludes the NUL. */
int base64_decode(const char *s, size_t len, char **ret, size_t *ret_len);
