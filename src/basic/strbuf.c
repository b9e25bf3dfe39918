/* SPDX-License-Identifier: Apache-2.0 */
#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>

#include "alloc.h"
#include "banned.h"

void strbuf_init(struct strbuf *sb) {
	*sb = (struct strbuf)STRBUF_INIT;
}

void strbuf_release(struct strbuf *sb) {
	free(sb->buf);
	strbuf_init(sb);
}

void strbuf_reset(struct strbuf *sb) {
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

static void strbuf_reserve(struct strbuf *sb, size_t extra) {
	if (extra > SIZE_MAX - sb->len - 1)
		oom();
	GROW(sb->buf, sb->alloc, sb->len + extra + 1);
}

char *strbuf_detach(struct strbuf *sb, size_t *ret_len) {
	char *r;

	strbuf_reserve(sb, 0);
	sb->buf[sb->len] = '\0';
	r = sb->buf;
	if (ret_len)
		*ret_len = sb->len;
	strbuf_init(sb);
	return r;
}

void strbuf_add(struct strbuf *sb, const void *data, size_t len) {
	strbuf_reserve(sb, len);
	if (len)
		memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void strbuf_addstr(struct strbuf *sb, const char *s) {
	strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(struct strbuf *sb, char c) {
	strbuf_add(sb, &c, 1);
}

void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap) {
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	strbuf_reserve(sb, (size_t)n);
	(void)vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...) {
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(sb, fmt, ap);
	va_end(ap);
}

void strbuf_add_json_string(struct strbuf *sb, const char *s) {
	strbuf_addch(sb, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			strbuf_addstr(sb, "\\\"");
			break;
		case '\\':
			strbuf_addstr(sb, "\\\\");
			break;
		case '\n':
			strbuf_addstr(sb, "\\n");
			break;
		case '\r':
			strbuf_addstr(sb, "\\r");
			break;
		case '\t':
			strbuf_addstr(sb, "\\t");
			break;
		default:
			if (*p < 0x20)
				strbuf_addf(sb, "\\u%04x", *p);
			else
				strbuf_addch(sb, (char)*p);
		}
	}
	strbuf_addch(sb, '"');
}

const char *strbuf_str(const struct strbuf *sb) {
	return sb->buf ? sb->buf : "";
}
