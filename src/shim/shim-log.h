/* SPDX-License-Identifier: Apache-2.0 */
/* The shim's log writer: Docker json-file records, size rotation, and the
 * per-stream line assembly (split at SHIM_LOG_LINE_MAX, partial line at
 * EOF). libc only, no stdio: the shim's RSS budget is 1 MiB. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* One log file and its rotated siblings (PATH.1 .. PATH.(max_files-1)). */
struct shim_log {
	int fd;
	char *path;
	uint64_t max_size; /* 0: never rotate */
	unsigned max_files;
	uint64_t size;
	uint64_t dropped; /* records lost to write errors */
};

/* A pipe (or pty) being turned into records. */
struct shim_stream {
	const char *name; /* SHIM_STREAM_STDOUT/STDERR, not owned */
	int fd;           /* -1 once at EOF */
	char *buf;        /* SHIM_LOG_LINE_MAX bytes, allocated on first use */
	size_t len;
};

int shim_log_open(struct shim_log *l, const char *path, uint64_t max_size, unsigned max_files);
/* Close and open the path again (it may have been moved away). */
int shim_log_reopen(struct shim_log *l);
void shim_log_close(struct shim_log *l);
/* Write one record; `data` includes the "\n" if the line had one. Rotates
 * first when the record would not fit. On a write error the file is cut
 * back to its previous size, so no half record stays. */
int shim_log_write(struct shim_log *l, const char *stream, const void *data, size_t n, const struct timespec *ts);

/* Reads end at EOF or any error (a pty's master reads EIO at the end). */
void shim_stream_init(struct shim_stream *s, const char *name, int fd);
/* Turn bytes into records: complete lines at once, the rest kept until a
 * newline arrives, the buffer fills (split on a UTF-8 boundary) or flush. */
int shim_stream_feed(struct shim_stream *s, struct shim_log *l, const void *data, size_t n, const struct timespec *ts);
/* One read(2) from s->fd into records. Returns bytes read, 0 at EOF (the
 * partial line is flushed and s->fd closed), -EAGAIN when there is nothing. */
int shim_stream_read(struct shim_stream *s, struct shim_log *l);
/* Write out a pending partial line. */
int shim_stream_flush(struct shim_stream *s, struct shim_log *l, const struct timespec *ts);
void shim_stream_release(struct shim_stream *s);

/* JSON string body for n bytes (no quotes). Writes at most `cap` bytes to
 * out (out may be NULL) and returns the full escaped length. */
size_t shim_json_escape(char *out, size_t cap, const void *in, size_t n);
/* "2026-11-22T08:00:00.123456789Z"; buf needs SHIM_TIME_MAX bytes. */
#define SHIM_TIME_MAX 40
void shim_format_time(char *buf, const struct timespec *ts);
