/* SPDX-License-Identifier: Apache-2.0 */
/* Docker json-file records written through a small buffer: the record's
 * length is computed first (rotation needs it), then the record goes out in
 * 4 KiB writes. A failed write truncates the file back to where the record
 * began. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/macro.h"
#include "shim/shim-log.h"
#include "shim/shim-protocol.h"
#include "shim/shim-util.h"
#include "basic/banned.h"

/* --- output sinks ----------------------------------------------------------- */

struct sink {
	int fd;    /* -1: count only, or copy to mem */
	char *mem; /* bounded copy target (shim_json_escape) */
	size_t mem_cap;
	uint64_t total; /* bytes produced */
	int err;
	size_t n;
	char buf[4096];
};

static void sink_flush(struct sink *s) {
	if (s->fd >= 0 && s->n > 0 && s->err == 0)
		s->err = shim_write_all(s->fd, s->buf, s->n);
	s->n = 0;
}

static void sink_put(struct sink *s, const char *p, size_t n) {
	if (s->mem) {
		if (s->total < s->mem_cap)
			memcpy(s->mem + s->total, p, MIN(n, s->mem_cap - (size_t)s->total));
		s->total += n;
		return;
	}
	s->total += n;
	if (s->fd < 0 || s->err)
		return;
	while (n > 0) {
		size_t k = MIN(n, sizeof(s->buf) - s->n);
		memcpy(s->buf + s->n, p, k);
		s->n += k;
		p += k;
		n -= k;
		if (s->n == sizeof(s->buf))
			sink_flush(s);
	}
}

static void sink_puts(struct sink *s, const char *str) {
	sink_put(s, str, strlen(str));
}

/* --- JSON escaping ---------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid
 * or cut short. The ranges of RFC 3629: no overlongs, surrogates or code
 * points past U+10FFFF. */
static size_t utf8_valid_len(const unsigned char *p, size_t n) {
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t k;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		k = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		k = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (n < k || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return k;
}

static void json_escape_to(struct sink *s, const unsigned char *p, size_t n) {
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	while (i < n) {
		size_t run = i;
		/* the common case: a run of printable ASCII */
		while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
			run++;
		if (run > i) {
			sink_put(s, (const char *)p + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t k = utf8_valid_len(p + i, n - i);
			if (k == 0) {
				sink_put(s, "\\ufffd", 6);
				i++;
			} else {
				sink_put(s, (const char *)p + i, k);
				i += k;
			}
			continue;
		}
		switch (c) {
		case '"':
			sink_put(s, "\\\"", 2);
			break;
		case '\\':
			sink_put(s, "\\\\", 2);
			break;
		case '\n':
			sink_put(s, "\\n", 2);
			break;
		case '\r':
			sink_put(s, "\\r", 2);
			break;
		case '\t':
			sink_put(s, "\\t", 2);
			break;
		case '\b':
			sink_put(s, "\\b", 2);
			break;
		case '\f':
			sink_put(s, "\\f", 2);
			break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			sink_put(s, u, sizeof(u));
		}
		}
		i++;
	}
}

size_t shim_json_escape(char *out, size_t cap, const void *in, size_t n) {
	/* memory mode: the sink's write buffer stays untouched */
	struct sink s = { .fd = -1, .mem = out, .mem_cap = out ? cap : 0 };

	json_escape_to(&s, in, n);
	return (size_t)s.total;
}

/* --- time --------------------------------------------------------------------- */

static char *put_num(char *p, unsigned long v, int width) {
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian), after
 * Howard Hinnant's days_from_civil inverse: gmtime_r would pull glibc's
 * time zone code into the static binary. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void shim_format_time(char *buf, const struct timespec *ts) {
	int64_t secs = ts->tv_sec, days = secs / 86400, rem = secs % 86400, y;
	unsigned m, d;
	char *p = buf;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = 0;
	p = put_num(p, (unsigned long)y, 4);
	*p++ = '-';
	p = put_num(p, m, 2);
	*p++ = '-';
	p = put_num(p, d, 2);
	*p++ = 'T';
	p = put_num(p, (unsigned long)(rem / 3600), 2);
	*p++ = ':';
	p = put_num(p, (unsigned long)(rem / 60 % 60), 2);
	*p++ = ':';
	p = put_num(p, (unsigned long)(rem % 60), 2);
	*p++ = '.';
	p = put_num(p, (unsigned long)ts->tv_nsec, 9);
	*p++ = 'Z';
	*p = '\0';
}

/* --- the log file ------------------------------------------------------------- */

static int log_open_fd(struct shim_log *l, bool truncate) {
	struct stat st;
	int fd;

	fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | (truncate ? O_TRUNC : 0), 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	l->fd = fd;
	l->size = (uint64_t)st.st_size;
	return 0;
}

int shim_log_open(struct shim_log *l, const char *path, uint64_t max_size, unsigned max_files) {
	*l = (struct shim_log){ .fd = -1, .max_size = max_size, .max_files = max_files ? max_files : 1 };
	l->path = strdup(path);
	if (!l->path)
		return -ENOMEM;
	int r = log_open_fd(l, false);
	if (r < 0) {
		free(l->path);
		l->path = NULL;
	}
	return r;
}

int shim_log_reopen(struct shim_log *l) {
	l->fd = safe_close(l->fd);
	return log_open_fd(l, false);
}

void shim_log_close(struct shim_log *l) {
	l->fd = safe_close(l->fd);
	free(l->path);
	l->path = NULL;
}

static int log_rotate(struct shim_log *l) {
	char from[PATH_MAX], to[PATH_MAX];

	if (l->max_files <= 1) {
		if (ftruncate(l->fd, 0) < 0)
			return -errno;
		l->size = 0;
		return 0;
	}
	for (unsigned i = l->max_files - 1; i >= 1; i--) {
		if (i == 1)
			snprintf(from, sizeof(from), "%s", l->path);
		else
			snprintf(from, sizeof(from), "%s.%u", l->path, i - 1);
		snprintf(to, sizeof(to), "%s.%u", l->path, i);
		if (rename(from, to) < 0 && errno != ENOENT)
			return -errno;
	}
	l->fd = safe_close(l->fd);
	return log_open_fd(l, true);
}

/* The record around the escaped text; also used to size it. */
static void record_emit(struct sink *s, const char *stream, const void *data, size_t n, const char *when) {
	sink_puts(s, "{\"" SHIM_LOG_FIELD_LOG "\":\"");
	json_escape_to(s, data, n);
	sink_puts(s, "\",\"" SHIM_LOG_FIELD_STREAM "\":\"");
	sink_puts(s, stream);
	sink_puts(s, "\",\"" SHIM_LOG_FIELD_TIME "\":\"");
	sink_puts(s, when);
	sink_puts(s, "\"}\n");
}

int shim_log_write(struct shim_log *l, const char *stream, const void *data, size_t n, const struct timespec *ts) {
	char when[SHIM_TIME_MAX];
	struct sink s = { .fd = -1 };
	uint64_t need;
	int r;

	if (l->fd < 0) {
		/* a rotation could not open the new file: try again */
		r = l->path ? log_open_fd(l, false) : -EBADF;
		if (r < 0) {
			l->dropped++;
			return r;
		}
	}
	shim_format_time(when, ts);
	record_emit(&s, stream, data, n, when);
	need = s.total;
	if (l->max_size > 0 && l->size > 0 && l->size + need > l->max_size) {
		r = log_rotate(l);
		if (r < 0 && l->fd < 0) {
			l->dropped++;
			return r;
		}
	}
	s.fd = l->fd;
	s.total = 0;
	record_emit(&s, stream, data, n, when);
	sink_flush(&s);
	if (s.err < 0) {
		/* no half record: cut back to where this one began */
		(void)ftruncate(l->fd, (off_t)l->size);
		l->dropped++;
		return s.err;
	}
	l->size += need;
	return 0;
}

/* --- streams ------------------------------------------------------------------ */

void shim_stream_init(struct shim_stream *s, const char *name, int fd) {
	*s = (struct shim_stream){ .name = name, .fd = fd };
}

void shim_stream_release(struct shim_stream *s) {
	s->fd = safe_close(s->fd);
	free(s->buf);
	s->buf = NULL;
	s->len = 0;
}

/* Where to split a full buffer: before a UTF-8 sequence the cap would cut
 * (a lead byte in the last three bytes whose sequence runs past the end). */
static size_t split_point(const unsigned char *p, size_t len) {
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		unsigned char c = p[len - back];
		if (c < 0x80)
			return len;
		if (c >= 0xC0) {
			size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
			return k > back && c >= 0xC2 && c <= 0xF4 && back < len ? len - back : len;
		}
	}
	return len;
}

static int stream_process(struct shim_stream *s, struct shim_log *l, size_t scan_from, const struct timespec *ts) {
	size_t start = 0;
	char *nl;
	int r = 0;

	while (scan_from < s->len && (nl = memchr(s->buf + scan_from, '\n', s->len - scan_from))) {
		size_t end = (size_t)(nl - s->buf) + 1;
		int k = shim_log_write(l, s->name, s->buf + start, end - start, ts);
		if (k < 0 && r == 0)
			r = k;
		start = scan_from = end;
	}
	if (start == 0 && s->len == SHIM_LOG_LINE_MAX) {
		start = split_point((const unsigned char *)s->buf, s->len);
		int k = shim_log_write(l, s->name, s->buf, start, ts);
		if (k < 0 && r == 0)
			r = k;
	}
	if (start > 0) {
		memmove(s->buf, s->buf + start, s->len - start);
		s->len -= start;
	}
	return r;
}

static int stream_alloc(struct shim_stream *s) {
	if (!s->buf) {
		s->buf = malloc(SHIM_LOG_LINE_MAX);
		if (!s->buf)
			return -ENOMEM;
	}
	return 0;
}

int shim_stream_feed(struct shim_stream *s, struct shim_log *l, const void *data, size_t n, const struct timespec *ts) {
	const char *p = data;
	int r = stream_alloc(s), k;

	if (r < 0)
		return r;
	while (n > 0) {
		size_t take = MIN(n, SHIM_LOG_LINE_MAX - s->len), from = s->len;
		memcpy(s->buf + s->len, p, take);
		s->len += take;
		p += take;
		n -= take;
		k = stream_process(s, l, from, ts);
		if (k < 0 && r == 0)
			r = k;
	}
	return r;
}

int shim_stream_flush(struct shim_stream *s, struct shim_log *l, const struct timespec *ts) {
	int r = 0;

	if (s->len > 0)
		r = shim_log_write(l, s->name, s->buf, s->len, ts);
	s->len = 0;
	return r;
}

int shim_stream_read(struct shim_stream *s, struct shim_log *l) {
	struct timespec ts;
	ssize_t n;
	size_t from;
	int r;

	if (s->fd < 0)
		return 0;
	r = stream_alloc(s);
	if (r < 0)
		return r;
	from = s->len;
	do
		n = read(s->fd, s->buf + s->len, SHIM_LOG_LINE_MAX - s->len);
	while (n < 0 && errno == EINTR);
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	if (n < 0 && errno == EAGAIN)
		return -EAGAIN;
	if (n <= 0) {
		/* EOF, or an error we cannot recover from (EIO: the pty's
		 * last slave closed) */
		(void)shim_stream_flush(s, l, &ts);
		s->fd = safe_close(s->fd);
		free(s->buf);
		s->buf = NULL;
		return 0;
	}
	s->len += (size_t)n;
	(void)stream_process(s, l, from, &ts);
	return (int)n;
}
