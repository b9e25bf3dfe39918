/* SPDX-License-Identifier: Apache-2.0 */
/* A growable NUL-terminated byte buffer (git's strbuf vocabulary). It owns
 * its buffer; strbuf_detach() hands it over. Allocation failure aborts. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "macro.h"

struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;
};

#define STRBUF_INIT \
	{ NULL, 0, 0 }

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
/* Return the buffer (never NULL) and reset sb to empty. */
char *strbuf_detach(struct strbuf *sb, size_t *ret_len);
void strbuf_reset(struct strbuf *sb);
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) _printf_(2, 3);
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap) _printf_(2, 0);
/* Append s as a quoted JSON string with the required escapes. */
void strbuf_add_json_string(struct strbuf *sb, const char *s);
/* Always a valid C string, "" when nothing was added. */
const char *strbuf_str(const struct strbuf *sb);

static inline void strbuf_releasep(struct strbuf *sb) {
	strbuf_release(sb);
}
#define _cleanup_strbuf_ _cleanup_(strbuf_releasep)
