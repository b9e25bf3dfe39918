/* SPDX-License-Identifier: Apache-2.0 */
/* The shim's log writer (JSON escaping, line assembly, 16 KiB splits,
 * rotation) and its small parsers (cgroup paths, oom_kill counters).
 * Records are read back with jansson, as the agent reads them (NUL bytes
 * are \u0000: readers need JSON_ALLOW_NUL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/macro.h"
#include "shim/shim-cgroup.h"
#include "shim/shim-log.h"
#include "shim/shim-protocol.h"
#include "basic/banned.h"

static const struct timespec T0 = { .tv_sec = 1795339061, .tv_nsec = 987929712 };

struct rec {
	char *log, *stream, *time;
	size_t log_len;
};

struct fixture {
	char dir[64];
	char *path;
	struct shim_log log;
};

static int setup(void **state) {
	struct fixture *f = xnew(struct fixture, 1);

	snprintf(f->dir, sizeof(f->dir), "/tmp/test-shim-log-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->path = xasprintf("%s/container.log", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	struct fixture *f = *state;

	shim_log_close(&f->log);
	rm_rf(f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* Every line of path as a record; fails the test on invalid JSON. */
static size_t read_records(const char *path, struct rec **ret) {
	_cleanup_free_ char *buf = NULL;
	struct rec *recs = NULL;
	size_t len, n = 0;

	if (read_full_file(path, 64 << 20, &buf, &len) < 0) {
		*ret = NULL;
		return 0;
	}
	for (char *line = buf; line < buf + len;) {
		char *nl = memchr(line, '\n', (size_t)(buf + len - line));
		json_error_t e;
		json_t *j;

		assert_non_null(nl); /* whole records only */
		j = json_loadb(line, (size_t)(nl - line), JSON_ALLOW_NUL, &e);
		if (!j)
			fail_msg("invalid record '%.*s': %s", (int)(nl - line), line, e.text);
		assert_int_equal(json_object_size(j), 3);
		recs = xrealloc(recs, (n + 1) * sizeof(*recs));
		recs[n].log_len = json_string_length(json_object_get(j, "log"));
		recs[n].log = xmalloc(recs[n].log_len + 1); /* may hold NUL bytes */
		memcpy(recs[n].log, json_string_value(json_object_get(j, "log")), recs[n].log_len);
		recs[n].log[recs[n].log_len] = '\0';
		recs[n].stream = xstrdup(json_string_value(json_object_get(j, "stream")));
		recs[n].time = xstrdup(json_string_value(json_object_get(j, "time")));
		n++;
		json_decref(j);
		line = nl + 1;
	}
	*ret = recs;
	return n;
}

static void free_records(struct rec *recs, size_t n) {
	for (size_t i = 0; i < n; i++) {
		free(recs[i].log);
		free(recs[i].stream);
		free(recs[i].time);
	}
	free(recs);
}

static char *escape(const void *in, size_t n) {
	size_t len = shim_json_escape(NULL, 0, in, n);
	char *out = xmalloc(len + 1);

	assert_int_equal(shim_json_escape(out, len, in, n), len);
	out[len] = '\0';
	return out;
}

/* --- escaping and time ------------------------------------------------------------ */

static void test_escape(void **state) {
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} cases[] = {
		{ "hello world", 11, "hello world" },
		{ "a\"b\\c/", 6, "a\\\"b\\\\c/" },
		{ "\n\r\t\b\f", 5, "\\n\\r\\t\\b\\f" },
		{ "\x01\x1f\x7f", 3, "\\u0001\\u001f\x7f" },
		{ "a\0b", 3, "a\\u0000b" },
		/* valid UTF-8 stays as it is: 2, 3 and 4 bytes */
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
		/* one U+FFFD per invalid byte, like Go's encoder */
		{ "\x80", 1, "\\ufffd" },
		{ "a\xff"
		  "b",
		  3, "a\\ufffdb" },
		{ "\xc0\x80", 2, "\\ufffd\\ufffd" },                       /* overlong NUL */
		{ "\xe0\x80\xaf", 3, "\\ufffd\\ufffd\\ufffd" },            /* overlong '/' */
		{ "\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd" },            /* UTF-16 surrogate */
		{ "\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd" }, /* past U+10FFFF */
		{ "\xf5", 1, "\\ufffd" },
		{ "x\xe2\x82", 3, "x\\ufffd\\ufffd" }, /* cut short */
		{ "\xe2\x82"
		  "a",
		  3, "\\ufffd\\ufffda" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *out = escape(cases[i].in, cases[i].n);
		assert_string_equal(out, cases[i].out);
	}

	/* bounded output: the full length is still returned */
	char small[4];
	assert_int_equal(shim_json_escape(small, sizeof(small), "\"\"\"", 3), 6);
	assert_memory_equal(small, "\\\"\\\"", 4);
}

static void test_format_time(void **state) {
	static const struct {
		struct timespec ts;
		const char *out;
	} cases[] = {
		{ { 0, 0 }, "1970-01-01T00:00:00.000000000Z" },
		{ { 1795339061, 987929712 }, "2026-11-22T09:17:41.987929712Z" },
		{ { 951782400, 1 }, "2000-02-29T00:00:00.000000001Z" },
		{ { 1709251199, 999999999 }, "2024-02-29T23:59:59.999999999Z" },
		{ { 4102444800, 0 }, "2100-01-01T00:00:00.000000000Z" },
		{ { -1, 0 }, "1969-12-31T23:59:59.000000000Z" },
	};
	char buf[SHIM_TIME_MAX];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		shim_format_time(buf, &cases[i].ts);
		assert_string_equal(buf, cases[i].out);
	}
}

/* --- records ------------------------------------------------------------------------- */

static void test_lines_and_partials(void **state) {
	struct fixture *f = *state;
	struct shim_stream out, err;
	struct rec *r;
	size_t n;

	assert_int_equal(shim_log_open(&f->log, f->path, 0, 2), 0);
	shim_stream_init(&out, SHIM_STREAM_STDOUT, -1);
	shim_stream_init(&err, SHIM_STREAM_STDERR, -1);

	assert_int_equal(shim_stream_feed(&out, &f->log, "one\ntwo\nthr", 11, &T0), 0);
	assert_int_equal(shim_stream_feed(&err, &f->log, "oops\n", 5, &T0), 0);
	assert_int_equal(shim_stream_feed(&out, &f->log, "ee\n", 3, &T0), 0);
	assert_int_equal(shim_stream_feed(&out, &f->log, "\n", 1, &T0), 0);
	assert_int_equal(shim_stream_feed(&out, &f->log, "no newline", 10, &T0), 0);
	assert_int_equal(shim_stream_flush(&out, &f->log, &T0), 0);
	assert_int_equal(shim_stream_flush(&out, &f->log, &T0), 0); /* nothing left */

	n = read_records(f->path, &r);
	assert_int_equal(n, 6);
	assert_string_equal(r[0].log, "one\n");
	assert_string_equal(r[0].stream, "stdout");
	assert_string_equal(r[0].time, "2026-11-22T09:17:41.987929712Z");
	assert_string_equal(r[1].log, "two\n");
	assert_string_equal(r[2].log, "oops\n");
	assert_string_equal(r[2].stream, "stderr");
	assert_string_equal(r[3].log, "three\n");
	assert_string_equal(r[4].log, "\n");
	assert_string_equal(r[5].log, "no newline");
	free_records(r, n);
	shim_stream_release(&out);
	shim_stream_release(&err);
}

static void test_exact_format(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *buf = NULL;
	size_t len;

	assert_int_equal(shim_log_open(&f->log, f->path, 0, 2), 0);
	assert_int_equal(shim_log_write(&f->log, "stdout", "a \"b\"\n", 6, &T0), 0);
	assert_int_equal(read_full_file(f->path, 4096, &buf, &len), 0);
	assert_string_equal(buf, "{\"log\":\"a \\\"b\\\"\\n\",\"stream\":\"stdout\","
	                         "\"time\":\"2026-11-22T09:17:41.987929712Z\"}\n");
	assert_int_equal(f->log.size, len);
}

static void test_long_lines_split(void **state) {
	struct fixture *f = *state;
	struct shim_stream s;
	_cleanup_free_ char *big = xmalloc(40001);
	struct rec *r;
	size_t n;

	assert_int_equal(shim_log_open(&f->log, f->path, 0, 2), 0);
	shim_stream_init(&s, SHIM_STREAM_STDOUT, -1);
	memset(big, 'x', 40000);
	big[40000] = '\n';
	/* in odd-sized pieces, as pipes deliver them */
	for (size_t off = 0; off < 40001; off += 777)
		assert_int_equal(shim_stream_feed(&s, &f->log, big + off, MIN(777, 40001 - off), &T0), 0);
	n = read_records(f->path, &r);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].log_len, SHIM_LOG_LINE_MAX); /* no "\n": a partial */
	assert_int_equal(r[1].log_len, SHIM_LOG_LINE_MAX);
	assert_int_equal(r[2].log_len, 40000 - 2 * SHIM_LOG_LINE_MAX + 1);
	assert_int_equal(r[2].log[r[2].log_len - 1], '\n');
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < r[i].log_len - (i == 2); k++)
			assert_int_equal(r[i].log[k], 'x');
	free_records(r, n);

	/* a line of exactly the cap: the cap, then its newline alone */
	assert_int_equal(ftruncate(f->log.fd, 0), 0);
	f->log.size = 0;
	assert_int_equal(shim_stream_feed(&s, &f->log, big, SHIM_LOG_LINE_MAX, &T0), 0);
	assert_int_equal(shim_stream_feed(&s, &f->log, "\n", 1, &T0), 0);
	n = read_records(f->path, &r);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].log_len, SHIM_LOG_LINE_MAX);
	assert_string_equal(r[1].log, "\n");
	free_records(r, n);
	shim_stream_release(&s);
}

static void test_split_keeps_utf8(void **state) {
	struct fixture *f = *state;
	static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };

	assert_int_equal(shim_log_open(&f->log, f->path, 0, 2), 0);
	for (size_t c = 0; c < ELEMENTSOF(chars); c++) {
		size_t clen = strlen(chars[c]);
		/* the character straddles the cap at every possible offset */
		for (size_t before = 1; before < clen; before++) {
			_cleanup_free_ char *line = xmalloc(SHIM_LOG_LINE_MAX + 8);
			size_t pre = SHIM_LOG_LINE_MAX - before, n;
			struct shim_stream s;
			struct rec *r;

			assert_int_equal(ftruncate(f->log.fd, 0), 0);
			f->log.size = 0;
			memset(line, 'y', pre);
			memcpy(line + pre, chars[c], clen);
			line[pre + clen] = '\n';
			shim_stream_init(&s, SHIM_STREAM_STDOUT, -1);
			assert_int_equal(shim_stream_feed(&s, &f->log, line, pre + clen + 1, &T0), 0);
			n = read_records(f->path, &r);
			assert_int_equal(n, 2);
			assert_int_equal(r[0].log_len, pre);
			assert_null(memmem(r[0].log, r[0].log_len, "\xef\xbf\xbd", 3));
			assert_int_equal(r[1].log_len, clen + 1);
			assert_memory_equal(r[1].log, chars[c], clen);
			free_records(r, n);
			shim_stream_release(&s);
		}
	}
}

static void test_binary_is_valid_json(void **state) {
	struct fixture *f = *state;
	struct shim_stream s;
	unsigned char all[256 * 3];
	struct rec *r;
	size_t n, total = 0;

	assert_int_equal(shim_log_open(&f->log, f->path, 0, 2), 0);
	shim_stream_init(&s, SHIM_STREAM_STDOUT, -1);
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(i % 256); /* leads never followed by continuations */
	assert_int_equal(shim_stream_feed(&s, &f->log, all, sizeof(all), &T0), 0);
	assert_int_equal(shim_stream_flush(&s, &f->log, &T0), 0);
	n = read_records(f->path, &r); /* every record parses */
	assert_true(n > 1);
	for (size_t i = 0; i < n; i++) {
		/* ASCII survives byte for byte; each high byte is U+FFFD */
		for (size_t k = 0; k < r[i].log_len; k++)
			if ((unsigned char)r[i].log[k] >= 0x80) {
				assert_memory_equal(r[i].log + k, "\xef\xbf\xbd", 3);
				k += 2;
			}
		total += r[i].log_len;
	}
	/* 3 bytes of UTF-8 per invalid byte: 128 high byte values, 3 times */
	assert_int_equal(total, sizeof(all) + 3 * 128 * 2);
	free_records(r, n);
	shim_stream_release(&s);
}

/* --- rotation -------------------------------------------------------------------------- */

static char *sibling(const struct fixture *f, int i) {
	return i ? xasprintf("%s.%d", f->path, i) : xstrdup(f->path);
}

static void test_rotation(void **state) {
	struct fixture *f = *state;
	struct shim_stream s;
	unsigned next = 0;

	assert_int_equal(shim_log_open(&f->log, f->path, 1000, 3), 0);
	shim_stream_init(&s, SHIM_STREAM_STDOUT, -1);
	for (unsigned i = 0; i < 200; i++) {
		char line[32];
		int k = snprintf(line, sizeof(line), "line %u\n", i);
		assert_int_equal(shim_stream_feed(&s, &f->log, line, (size_t)k, &T0), 0);
	}
	_cleanup_free_ char *gone = sibling(f, 3);
	assert_int_equal(access(gone, F_OK), -1);
	/* oldest first: consecutive line numbers up to the last one */
	for (int i = 2; i >= 0; i--) {
		_cleanup_free_ char *p = sibling(f, i);
		struct stat st;
		struct rec *r;
		size_t n;

		assert_int_equal(stat(p, &st), 0);
		assert_true(st.st_size <= 1000);
		n = read_records(p, &r);
		assert_true(n > 0);
		for (size_t k = 0; k < n; k++) {
			unsigned v;
			assert_int_equal(sscanf(r[k].log, "line %u", &v), 1);
			if (i == 2 && k == 0)
				next = v;
			assert_int_equal(v, next);
			next++;
		}
		free_records(r, n);
	}
	assert_int_equal(next, 200);
	shim_stream_release(&s);
}

static void test_rotation_single_file(void **state) {
	struct fixture *f = *state;
	struct rec *r;
	size_t n;

	/* one file: truncated, never renamed */
	assert_int_equal(shim_log_open(&f->log, f->path, 300, 1), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(shim_log_write(&f->log, "stdout", "0123456789\n", 11, &T0), 0);
	_cleanup_free_ char *p1 = sibling(f, 1);
	assert_int_equal(access(p1, F_OK), -1);
	n = read_records(f->path, &r);
	assert_true(n >= 1 && n <= 3);
	free_records(r, n);

	/* a record bigger than the cap still goes out whole, alone */
	_cleanup_free_ char *big = xmalloc(2000);
	memset(big, 'z', 2000);
	assert_int_equal(shim_log_write(&f->log, "stdout", big, 2000, &T0), 0);
	n = read_records(f->path, &r);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].log_len, 2000);
	free_records(r, n);
}

static void test_no_rotation_without_cap(void **state) {
	struct fixture *f = *state;

	assert_int_equal(shim_log_open(&f->log, f->path, 0, 2), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(shim_log_write(&f->log, "stderr", "0123456789\n", 11, &T0), 0);
	_cleanup_free_ char *p1 = sibling(f, 1);
	assert_int_equal(access(p1, F_OK), -1);
	struct rec *r;
	size_t n = read_records(f->path, &r);
	assert_int_equal(n, 1000);
	free_records(r, n);
}

static void test_reopen_and_append(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *moved = xasprintf("%s/moved", f->dir);
	struct rec *r;
	size_t n;

	assert_int_equal(shim_log_open(&f->log, f->path, 0, 2), 0);
	assert_int_equal(shim_log_write(&f->log, "stdout", "a\n", 2, &T0), 0);
	assert_int_equal(rename(f->path, moved), 0);
	assert_int_equal(shim_log_reopen(&f->log), 0);
	assert_int_equal(shim_log_write(&f->log, "stdout", "b\n", 2, &T0), 0);
	n = read_records(f->path, &r);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].log, "b\n");
	free_records(r, n);

	/* an existing file is appended to, its size counted */
	shim_log_close(&f->log);
	assert_int_equal(shim_log_open(&f->log, moved, 0, 2), 0);
	assert_true(f->log.size > 0);
	assert_int_equal(shim_log_write(&f->log, "stdout", "c\n", 2, &T0), 0);
	n = read_records(moved, &r);
	assert_int_equal(n, 2);
	assert_string_equal(r[1].log, "c\n");
	free_records(r, n);
}

static void test_write_error(void **state) {
	struct shim_log l;

	if (access("/dev/full", W_OK) < 0)
		skip();
	assert_int_equal(shim_log_open(&l, "/dev/full", 0, 2), 0);
	assert_int_equal(shim_log_write(&l, "stdout", "x\n", 2, &T0), -ENOSPC);
	assert_int_equal(l.dropped, 1);
	shim_log_close(&l);
}

/* --- cgroup helpers ------------------------------------------------------------------ */

static void test_cgroup_paths(void **state) {
	char v1[256], v2[256];

	assert_int_equal(
	        shim_cgroup_paths("9:name=systemd:/c1\n4:memory:/process_api/x/c1\n0::/c1\n", v1, v2, sizeof(v1)), 0);
	assert_string_equal(v1, "/process_api/x/c1");
	assert_string_equal(v2, "/c1");
	assert_int_equal(shim_cgroup_paths("0::/system.slice/runc-c1.scope", v1, v2, sizeof(v1)), 0);
	assert_string_equal(v1, "");
	assert_string_equal(v2, "/system.slice/runc-c1.scope");
	assert_int_equal(shim_cgroup_paths("5:cpu,memory,cpuacct:/a:b\n", v1, v2, sizeof(v1)), 0);
	assert_string_equal(v1, "/a:b");
	assert_int_equal(shim_cgroup_paths("3:memoryx:/no\n2:cpu:/no\n", v1, v2, sizeof(v1)), -ENOENT);
	assert_int_equal(shim_cgroup_paths("garbage", v1, v2, sizeof(v1)), -ENOENT);
	/* too long for the buffer: as good as missing */
	assert_int_equal(shim_cgroup_paths("4:memory:/0123456789\n", v1, v2, 8), 0);
	assert_string_equal(v1, "");
}

static void test_oom_parse(void **state) {
	uint64_t v;

	assert_int_equal(shim_oom_parse("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(shim_oom_parse("low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(shim_oom_parse("oom_kill_disable 0\nunder_oom 0\n", &v), -ENOENT);
	assert_int_equal(shim_oom_parse("oom_kill x\n", &v), -EINVAL);
}

/* shim_oom_open on a fake cgroup tree that mirrors /proc/self/cgroup. */
static void test_oom_counter(void **state) {
	struct fixture *f = *state;
	char text[4096], v1[PATH_MAX], v2[PATH_MAX];
	_cleanup_free_ char *file = NULL, *buf = NULL;
	struct shim_oom o;
	size_t len;

	if (read_full_file("/proc/self/cgroup", 4096, &buf, &len) < 0)
		skip();
	snprintf(text, sizeof(text), "%s", buf);
	if (shim_cgroup_paths(text, v1, v2, sizeof(v1)) < 0)
		skip();
	if (v1[0]) {
		_cleanup_free_ char *d = xasprintf("%s/memory%s", f->dir, v1);
		assert_int_equal(mkdir_p(d, 0755), 0);
		file = xasprintf("%s/memory.oom_control", d);
		assert_int_equal(write_file_atomic(file, "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n", 41, 0644), 0);
	} else {
		_cleanup_free_ char *d = xasprintf("%s%s", f->dir, streq(v2, "/") ? "" : v2);
		assert_int_equal(mkdir_p(d, 0755), 0);
		file = xasprintf("%s/memory.events", d);
		assert_int_equal(write_file_atomic(file, "oom 0\noom_kill 4\n", 17, 0644), 0);
	}
	assert_int_equal(shim_oom_open(&o, f->dir, getpid()), 0);
	assert_false(shim_oom_killed(&o));
	/* the counter file is kept open: rewrite it in place */
	_cleanup_close_ int fd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(loop_write(fd, "oom_kill 5\n", 11), 0);
	shim_oom_update(&o);
	assert_true(shim_oom_killed(&o));
	shim_oom_close(&o);
	assert_int_equal(shim_oom_open(&o, "/nonexistent-cgroup-root", getpid()), -ENOENT);
	assert_false(shim_oom_killed(&o));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test_setup_teardown(test_lines_and_partials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_lines_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_keeps_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_is_valid_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_single_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_rotation_without_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_append, setup, teardown),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_cgroup_paths),
		cmocka_unit_test(test_oom_parse),
		cmocka_unit_test_setup_teardown(test_oom_counter, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
