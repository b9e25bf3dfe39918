/* SPDX-License-Identifier: Apache-2.0 */
/* UTF-8 checks for text that goes into JSON. */
#pragma once

#include <stddef.h>

/* Length of the valid UTF-8 sequence at p (at most n bytes, n > 0), 0 if
 * invalid: bad lead or continuation bytes, truncation, overlong forms,
 * surrogates, code points past U+10FFFF. A NUL byte counts as valid (1). */
size_t utf8_valid_len(const unsigned char *p, size_t n);
