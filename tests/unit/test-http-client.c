/* SPDX-License-Identifier: Apache-2.0 */
/* http-client.c: every reply is parsed whole, split at every byte boundary
 * (and at every pair of them for short ones) and byte by byte, with the
 * same outcome each time. Then client.c end to end against a fake daemon
 * on a unix socket that writes canned replies in pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "cli/client.h"
#include "cli/http-client.h"

/* ---- requests ---- */

static void test_request_format(void **state) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct http_request get = { .method = "GET", .target = "/v1/images?ref=a%2Fb", .host = "localhost" };
	struct http_request post = {
		.method = "POST",
		.target = "/v1/containers",
		.host = "localhost",
		.user_agent = "zlayer-agent/1",
		.accept = "application/json",
		.content_type = "application/json",
		.body = "{\"a\":1}",
		.body_len = 7,
	};
	static const struct http_request bad[] = {
		{ .method = "GE T", .target = "/", .host = "h" },
		{ .method = "", .target = "/", .host = "h" },
		{ .method = "GET", .target = "/a b", .host = "h" },
		{ .method = "GET", .target = "/a\r\nX-Injected: 1", .host = "h" },
		{ .method = "GET", .target = "v1/images", .host = "h" },
		{ .method = "GET", .target = "/\xc3\xa9", .host = "h" },
		{ .method = "GET", .target = "/", .host = "" },
		{ .method = "GET", .target = "/", .host = "h\r\nX: 1" },
		{ .method = "GET", .target = "/", .host = "h", .user_agent = "ua\nX: 1" },
	};

	assert_int_equal(http_request_format(&get, &sb, NULL), 0);
	assert_string_equal(sb.buf,
	                    "GET /v1/images?ref=a%2Fb HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
	strbuf_reset(&sb);

	assert_int_equal(http_request_format(&post, &sb, NULL), 0);
	assert_string_equal(sb.buf, "POST /v1/containers HTTP/1.1\r\nHost: localhost\r\nUser-Agent: zlayer-agent/1\r\n"
	                            "Accept: application/json\r\nContent-Type: application/json\r\n"
	                            "Content-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}");
	strbuf_reset(&sb);

	/* POST without a body still says so; DELETE without one does not */
	post.body = NULL;
	assert_int_equal(http_request_format(&post, &sb, NULL), 0);
	assert_non_null(strstr(sb.buf, "Content-Length: 0\r\n"));
	assert_null(strstr(sb.buf, "Content-Type"));
	strbuf_reset(&sb);
	get.method = "DELETE";
	assert_int_equal(http_request_format(&get, &sb, NULL), 0);
	assert_null(strstr(sb.buf, "Content-Length"));
	strbuf_reset(&sb);

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		assert_int_equal(http_request_format(&bad[i], &sb, &err), -EINVAL);
		assert_non_null(err);
		assert_null(strchr(err->message, '\r'));
		assert_null(strchr(err->message, '\n'));
		err = za_error_free(err);
		assert_int_equal(sb.len, 0);
	}
}

/* ---- responses ---- */

struct outcome {
	int r;
	unsigned status;
	char *body;
	size_t body_len;
	char *message;
	enum http_parse_state state;
};

static char *xmemdup0(const char *p, size_t n) {
	char *c = xmalloc(n + 1);

	if (n > 0)
		memcpy(c, p, n);
	c[n] = '\0';
	return c;
}

static void outcome_release(struct outcome *o) {
	free(o->body);
	free(o->message);
}

/* Feed in at the given cut points (sorted, each <= len), then the end of
 * the connection when eof. */
static void parse_cut(const char *in, size_t len, const size_t *cuts, size_t n_cuts, bool eof, uint64_t body_max,
                      struct outcome *ret) {
	struct http_reply p;
	struct za_error *err = NULL;
	size_t at = 0;
	int r = 0;

	http_reply_init(&p, body_max, NULL, NULL);
	for (size_t i = 0; i <= n_cuts && r >= 0; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		r = http_reply_feed(&p, in + at, end - at, &err);
		at = end;
	}
	if (r >= 0 && eof)
		r = http_reply_finish(&p, &err);
	*ret = (struct outcome){
		.r = r,
		.status = p.status,
		.body_len = p.body.len,
		.body = xmemdup0(p.body.buf, p.body.len),
		.message = err ? xstrdup(err->message) : NULL,
		.state = p.state,
	};
	if (r >= 0)
		assert_null(err);
	else
		assert_non_null(err);
	za_error_free(err);
	http_reply_release(&p);
}

static void assert_same(const struct outcome *a, const struct outcome *b, const char *in, size_t cut) {
	/* a failed parse may have delivered some of the body, depending on the cuts */
	bool same_body = a->r < 0 || (a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0);

	if (a->r != b->r || a->status != b->status || !same_body ||
	    !streq(strempty(a->message), strempty(b->message)) || a->state != b->state)
		fail_msg("split at %zu of '%.60s' differs: r %d/%d, status %u/%u, '%s' / '%s'", cut, in, a->r, b->r,
		         a->status, b->status, strempty(a->message), strempty(b->message));
}

/* Parse whole, at every cut, at every pair of cuts (short replies) and
 * byte by byte; all must agree. Returns the outcome (release it). */
static struct outcome parse_everywhere(const char *in, size_t len, bool eof, uint64_t body_max) {
	struct outcome whole, o;
	size_t cuts[2], *bytes;

	parse_cut(in, len, NULL, 0, eof, body_max, &whole);
	for (cuts[0] = 0; cuts[0] <= len; cuts[0]++) {
		/* long inputs: every cut near a line end or the input's ends, a sample elsewhere */
		if (len > 2048 && cuts[0] % 97 != 0 && cuts[0] > 64 && cuts[0] + 64 < len &&
		    !memchr(in + cuts[0] - 2, '\n', 4))
			continue;
		parse_cut(in, len, cuts, 1, eof, body_max, &o);
		assert_same(&whole, &o, in, cuts[0]);
		outcome_release(&o);
		if (len > 160)
			continue;
		for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1]++) {
			parse_cut(in, len, cuts, 2, eof, body_max, &o);
			assert_same(&whole, &o, in, cuts[1]);
			outcome_release(&o);
		}
	}
	bytes = xnew(size_t, len + 1);
	for (size_t i = 0; i < len; i++)
		bytes[i] = i;
	parse_cut(in, len, bytes, len, eof, body_max, &o);
	assert_same(&whole, &o, in, SIZE_MAX);
	outcome_release(&o);
	free(bytes);
	return whole;
}

struct good {
	const char *in;
	bool eof;
	unsigned status;
	const char *body;
};

static void test_good_replies(void **state) {
	static const struct good cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":12345}", false,
		  200, "{\"a\":12345}" },
		/* the same length twice is allowed; Content-Length: 0 ends at once */
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok", false, 200, "ok" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200, "" },
		/* chunked, with extensions, a quoted value, uppercase hex and trailers */
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "5;foo=bar\r\nhello\r\n"
		  "6 ; a = \"q\\\"x;y\" ; b\r\n world\r\n"
		  "A\r\n0123456789\r\n"
		  "0\r\nX-Trailer: 1\r\nY: two\r\n\r\n",
		  false, 200, "hello world0123456789" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", false, 200, "" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000003\r\nabc\r\n0;last\r\n\r\n", false, 200,
		  "abc" },
		/* bare LF line ends */
		{ "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n", false, 200, "abc" },
		/* up to the end of the connection, with an empty reason */
		{ "HTTP/1.0 200 \r\nServer: x\r\n\r\nabc\ndef", true, 200, "abc\ndef" },
		{ "HTTP/1.1 200\r\n\r\n", true, 200, "" },
		/* no body whatever the headers say */
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, 204, "" },
		/* interim replies are skipped */
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 201 Created\r\n"
		  "Content-Length: 2\r\n\r\n{}",
		  false, 201, "{}" },
		/* an error reply with a JSON body */
		{ "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 48\r\n\r\n"
		  "{\"kind\":\"not_found\",\"message\":\"image 'x' gone\"}\n",
		  false, 404, "{\"kind\":\"not_found\",\"message\":\"image 'x' gone\"}\n" },
		/* what libmicrohttpd sends for a stream */
		{ "HTTP/1.1 200 OK\r\nDate: Sun, 22 Nov 2026 10:28:19 GMT\r\nConnection: close\r\n"
		  "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "c\r\n{\"status\":1}\r\n18\r\n\n{\"error\":{\"kind\":\"x\"}}\n\r\n0\r\n\r\n",
		  false, 200, "{\"status\":1}\n{\"error\":{\"kind\":\"x\"}}\n" },
		/* obs-text and tabs in values */
		{ "HTTP/1.1 200 \xe2\x9c\x93\r\nX-Note:\t caf\xc3\xa9 \t\r\nContent-Length: 1\r\n\r\n.", false, 200,
		  "." },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct outcome o = parse_everywhere(cases[i].in, strlen(cases[i].in), cases[i].eof, UINT64_MAX);

		if (o.r != 0)
			fail_msg("case %zu: %s", i, o.message);
		assert_int_equal(o.status, cases[i].status);
		assert_int_equal(o.body_len, strlen(cases[i].body));
		assert_memory_equal(o.body, cases[i].body, o.body_len);
		assert_int_equal(o.state, HTTP_PARSE_DONE);
		outcome_release(&o);
	}
}

struct bad {
	const char *in;
	bool eof;
	int r;
	const char *message; /* a substring */
};

static void check_bad(const struct bad *c, size_t len, uint64_t body_max) {
	struct outcome o = parse_everywhere(c->in, len, c->eof, body_max);

	if (o.r != c->r || !o.message || !strstr(o.message, c->message))
		fail_msg("'%.60s': got %d '%s', want %d '%s'", c->in, o.r, strempty(o.message), c->r, c->message);
	assert_int_equal(o.state, HTTP_PARSE_FAILED);
	outcome_release(&o);
}

static void test_bad_replies(void **state) {
	static const struct bad cases[] = {
		/* garbage status lines */
		{ "SSH-2.0-OpenSSH_9.2\r\n", false, -EBADMSG, "malformed HTTP status line 'SSH-2.0-OpenSSH_9.2'" },
		{ "HTTP/1.1 2OO OK\r\n", false, -EBADMSG, "malformed HTTP status line" },
		{ "HTTP/1.1 200OK\r\n", false, -EBADMSG, "malformed HTTP status line" },
		{ "HTTP/2 200\r\n", false, -EBADMSG, "malformed HTTP status line" },
		{ "HTTP/1.1 600 Weird\r\n", false, -EBADMSG, "malformed HTTP status line" },
		{ "http/1.1 200 OK\r\n", false, -EBADMSG, "malformed HTTP status line" },
		{ "\r\nHTTP/1.1 200 OK\r\n", false, -EBADMSG, "malformed HTTP status line ''" },
		{ "HTTP/1.1 200 O\x01K\r\n", false, -EBADMSG, "malformed HTTP status line 'HTTP/1.1 200 O\\x01K'" },
		{ "HTTP/1.1 200 OK\rX\r\n", false, -EBADMSG, "stray CR or NUL" },
		/* headers */
		{ "HTTP/1.1 200 OK\r\nNo colon here\r\n", false, -EBADMSG, "malformed header line 'No colon here'" },
		{ "HTTP/1.1 200 OK\r\nX-A : b\r\n", false, -EBADMSG, "malformed header line" },
		{ "HTTP/1.1 200 OK\r\n: empty name\r\n", false, -EBADMSG, "malformed header line" },
		{ "HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\n", false, -EBADMSG, "obsolete line folding" },
		{ "HTTP/1.1 200 OK\r\nX-A: b\x7f\r\n", false, -EBADMSG, "field 'X-A' has a control character" },
		{ "HTTP/1.1 101 Switching Protocols\r\n\r\n", false, -EPROTO, "switches protocols" },
		/* framing */
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n", false, -EBADMSG,
		  "conflicting Content-Length headers (2 and 3)" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n", false, -EBADMSG, "invalid Content-Length '+5'" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n", false, -EBADMSG, "invalid Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n", false, -EBADMSG,
		  "invalid Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length:\r\n", false, -EBADMSG, "empty Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, -EBADMSG,
		  "both Content-Length and Transfer-Encoding" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n", false, -EPROTONOSUPPORT,
		  "transfer coding 'gzip'; only 'chunked'" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n", false, -EPROTONOSUPPORT, "'gzip'" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", false, -EBADMSG,
		  "'chunked' twice" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n", false, -EBADMSG, "empty Transfer-Encoding" },
		/* Content-Length mismatch, both ways */
		{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, -ECONNRESET,
		  "cut short: the connection closed after 3 of 10 body bytes" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc", false, -EBADMSG,
		  "the reply goes on past its end" },
		{ "HTTP/1.1 204 No Content\r\n\r\nx", false, -EBADMSG, "past its end" },
		/* chunks */
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", false, -EBADMSG,
		  "chunk longer than its size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\r\n", false, -EBADMSG,
		  "chunk longer than its size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", false, -EBADMSG,
		  "malformed chunk-size line 'xyz'" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", false, -EBADMSG,
		  "malformed chunk-size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", false, -EBADMSG,
		  "malformed chunk-size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\n", false, -EBADMSG,
		  "malformed chunk-size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;=x\r\n", false, -EBADMSG,
		  "malformed chunk-size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\n", false, -EBADMSG,
		  "malformed chunk-size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"open\r\n", false, -EBADMSG,
		  "malformed chunk-size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n", false, -EBADMSG,
		  "malformed chunk-size" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", false, -EMSGSIZE,
		  "more than 16 digits" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad trailer\r\n", false, -EBADMSG,
		  "malformed trailer line 'Bad trailer'" },
		/* the connection closing early */
		{ "", true, -ECONNRESET, "the connection closed before any reply" },
		{ "HTTP/1.1 20", true, -ECONNRESET, "in the middle of the reply's headers" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", true, -ECONNRESET,
		  "in the middle of the reply's headers" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true, -ECONNRESET,
		  "inside its chunked body" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n", true, -ECONNRESET,
		  "inside its chunked body" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", true, -ECONNRESET,
		  "inside its chunked body" },
	};
	/* a NUL in a header line */
	static const char nul[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n";
	const struct bad nul_case = { nul, false, -EBADMSG, "stray CR or NUL in its header line 'X-A: a\\x00b'" };

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		check_bad(&cases[i], strlen(cases[i].in), UINT64_MAX);
	check_bad(&nul_case, sizeof(nul) - 1, UINT64_MAX);
}

static void test_caps(void **state) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	struct bad c = {};
	struct outcome o;

	/* a header line of exactly the cap passes, one byte more fails */
	strbuf_addstr(&sb, "HTTP/1.1 200 OK\r\nX-Big: ");
	for (size_t i = strlen("X-Big: ") + 1; i < HTTP_LINE_MAX; i++)
		strbuf_addch(&sb, 'a');
	strbuf_addstr(&sb, "\r\nContent-Length: 0\r\n\r\n");
	o = parse_everywhere(sb.buf, sb.len, false, UINT64_MAX);
	assert_int_equal(o.r, 0);
	outcome_release(&o);

	strbuf_reset(&sb);
	strbuf_addstr(&sb, "HTTP/1.1 200 OK\r\nX-Big: ");
	for (size_t i = strlen("X-Big: "); i < HTTP_LINE_MAX; i++)
		strbuf_addch(&sb, 'a');
	strbuf_addstr(&sb, "\r\n");
	c = (struct bad){ sb.buf, false, -EMSGSIZE, "header line longer than 8192 bytes" };
	check_bad(&c, sb.len, UINT64_MAX);

	/* no newline at all in a status line */
	strbuf_reset(&sb);
	for (size_t i = 0; i < HTTP_LINE_MAX + 1; i++)
		strbuf_addch(&sb, 'H');
	c = (struct bad){ sb.buf, true, -EMSGSIZE, "status line longer than 8192 bytes" };
	check_bad(&c, sb.len, UINT64_MAX);

	/* a chunk-size line made long by extensions */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1");
	for (size_t i = 0; i < HTTP_LINE_MAX / 4; i++)
		strbuf_addstr(&sb, ";a=b");
	strbuf_addstr(&sb, "\r\n");
	c = (struct bad){ sb.buf, false, -EMSGSIZE, "chunk-size line longer than 8192 bytes" };
	check_bad(&c, sb.len, UINT64_MAX);

	/* too many fields, counting trailers */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n");
	for (size_t i = 0; i < HTTP_FIELDS_MAX - 1; i++)
		strbuf_addf(&sb, "X-%zu: %zu\r\n", i, i);
	strbuf_addstr(&sb, "\r\n0\r\nX-Trailer: 1\r\n\r\n");
	c = (struct bad){ sb.buf, false, -EMSGSIZE, "more than 100 header fields" };
	check_bad(&c, sb.len, UINT64_MAX);

	/* all the header lines together */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "HTTP/1.1 200 OK\r\n");
	for (size_t i = 0; i < 20; i++) {
		strbuf_addf(&sb, "X-%zu: ", i);
		for (size_t k = 0; k < 4000; k++)
			strbuf_addch(&sb, 'v');
		strbuf_addstr(&sb, "\r\n");
	}
	c = (struct bad){ sb.buf, false, -EMSGSIZE, "headers are larger than 65536 bytes" };
	check_bad(&c, sb.len, UINT64_MAX);

	/* the body: by its length (before any of it), by chunks, or up to EOF */
	c = (struct bad){ "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", false, -EMSGSIZE,
		          "body is larger than 10 bytes" };
	check_bad(&c, strlen(c.in), 10);
	c = (struct bad){ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n6\r\n", false, -EMSGSIZE,
		          "body is larger than 10 bytes" };
	check_bad(&c, strlen(c.in), 10);
	c = (struct bad){ "HTTP/1.1 200 OK\r\n\r\n0123456789X", true, -EMSGSIZE, "body is larger than 10 bytes" };
	check_bad(&c, strlen(c.in), 10);
	o = parse_everywhere("HTTP/1.1 200 OK\r\n\r\n0123456789", 29, true, 10);
	assert_int_equal(o.r, 0);
	outcome_release(&o);
}

static int stop_at_second(const char *data, size_t len, void *userdata) {
	size_t *seen = userdata;

	*seen += len;
	return *seen > 3 ? -ECANCELED : 0;
}

static void test_body_callback(void **state) {
	static const char in[] =
	        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
	_cleanup_za_error_ struct za_error *err = NULL;
	struct http_reply p;
	size_t seen = 0;

	http_reply_init(&p, UINT64_MAX, stop_at_second, &seen);
	assert_int_equal(http_reply_feed(&p, in, sizeof(in) - 1, &err), -ECANCELED);
	assert_null(err); /* the callback's error is its own */
	assert_int_equal(seen, 6);
	assert_int_equal(p.body.len, 0);
	assert_int_equal(p.state, HTTP_PARSE_FAILED);
	assert_int_equal(http_reply_feed(&p, "x", 1, &err), -ECANCELED);
	assert_int_equal(http_reply_finish(&p, &err), -ECANCELED);
	assert_null(err);
	http_reply_release(&p);

	assert_string_equal(http_parse_state_to_string(HTTP_PARSE_CHUNK_DATA), "chunk-data");
	assert_null(http_parse_state_to_string(_HTTP_PARSE_STATE_MAX));
}

/* ---- client.c against a fake daemon ---- */

struct fake {
	int listen_fd;
	const char *const *pieces; /* written one by one, with a pause between */
	const char *big;           /* or this, in one go (may be cut by the client) */
	struct strbuf request;
	pthread_t thread;
};

static char fake_dir[] = "/tmp/test-http-client-XXXXXX";

static void *fake_main(void *userdata) {
	struct fake *f = userdata;
	int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	char buf[4096];

	assert_true(fd >= 0);
	/* the request: headers, then Content-Length bytes */
	for (;;) {
		const char *end = strstr(strbuf_str(&f->request), "\r\n\r\n"), *cl;
		ssize_t n;

		if (end) {
			size_t want = 0;
			cl = strstr(f->request.buf, "Content-Length: ");
			if (cl)
				want = strtoul(cl + 16, NULL, 10);
			if (f->request.len >= (size_t)(end + 4 - f->request.buf) + want)
				break;
		}
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		strbuf_add(&f->request, buf, (size_t)n);
	}
	for (size_t i = 0; f->pieces && f->pieces[i]; i++) {
		if (send(fd, f->pieces[i], strlen(f->pieces[i]), MSG_NOSIGNAL) < 0)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 2 * 1000 * 1000 }, NULL);
	}
	if (f->big)
		(void)send(fd, f->big, strlen(f->big), MSG_NOSIGNAL);
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, const char *const *pieces, const char *big) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_free_ char *path = xasprintf("%s/agent.sock", fake_dir);

	*f = (struct fake){ .pieces = pieces, .big = big, .request = STRBUF_INIT };
	(void)unlink(path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f) {
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	close(f->listen_fd);
	strbuf_release(&f->request);
}

static int setup_fake(void **state) {
	if (!mkdtemp(fake_dir))
		return -1;
	setenv("ZLAYER_RUNTIME_DIR", fake_dir, 1);
	return 0;
}

static int teardown_fake(void **state) {
	_cleanup_free_ char *path = xasprintf("%s/agent.sock", fake_dir);

	(void)unlink(path);
	return rmdir(fake_dir);
}

static void test_client_call(void **state) {
	static const char *const ok[] = { "HTTP/1.1 200 OK\r\nContent-Le", "ngth: 13\r\n\r\n{\"id\":", "\"abc\"}\n",
		                          NULL };
	static const char *const not_found[] = { "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2",
		                                 "3\r\n{\"kind\":\"not_fo", "und\",\"message\":\"no\"}\r\n",
		                                 "0\r\n\r\n", NULL };
	static const char *const plain[] = { "HTTP/1.1 502 Bad Gateway\r\n\r\noops\r\n", NULL };
	static const char *const empty[] = { "HTTP/1.1 204 No Content\r\n\r\n", NULL };
	_cleanup_za_error_ struct za_error *err = NULL;
	json_t *body = json_pack("{s:s}", "image", "x"), *reply = NULL;
	struct fake f;

	/* the server has read the whole request before it answers */
	fake_start(&f, ok, NULL);
	assert_int_equal(api_client_call("POST", "/v1/containers", body, &reply, &err), 0);
	assert_string_equal(json_string_value(json_object_get(reply, "id")), "abc");
	json_decref(reply);
	assert_string_equal(strbuf_str(&f.request),
	                    "POST /v1/containers HTTP/1.1\r\nHost: localhost\r\nUser-Agent: zlayer-agent/" ZA_VERSION
	                    "\r\nAccept: application/json\r\nContent-Type: application/json\r\n"
	                    "Content-Length: 13\r\nConnection: close\r\n\r\n{\"image\":\"x\"}");
	fake_stop(&f);

	fake_start(&f, not_found, NULL);
	assert_int_equal(api_client_call("GET", "/v1/images/inspect?ref=x", NULL, &reply, &err), -EREMOTEIO);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	assert_string_equal(err->message, "no");
	assert_false(api_client_error_unreachable(err));
	err = za_error_free(err);
	fake_stop(&f);

	fake_start(&f, plain, NULL);
	assert_int_equal(api_client_call("GET", "/x", NULL, &reply, &err), -EREMOTEIO);
	assert_int_equal(err->kind, ZA_ERROR_INTERNAL);
	assert_string_equal(err->message, "the daemon replied with HTTP status 502: oops");
	err = za_error_free(err);
	fake_stop(&f);

	fake_start(&f, empty, NULL);
	reply = json_true();
	assert_int_equal(api_client_call("DELETE", "/v1/containers?id=a", NULL, &reply, &err), 0);
	assert_null(reply);
	fake_stop(&f);
	json_decref(body);
}

static void test_client_bad_replies(void **state) {
	static const char *const garbage[] = { "garbage\r\n", NULL };
	static const char *const cut[] = { "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":", NULL };
	static const char *const huge[] = { "HTTP/1.1 200 OK\r\nContent-Length: 67108865\r\n\r\n", NULL };
	static const char *const bad_json[] = { "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{x}", NULL };
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *expect = NULL;
	struct fake f;

	fake_start(&f, garbage, NULL);
	assert_int_equal(api_client_call("GET", "/v1/version", NULL, NULL, &err), -EBADMSG);
	assert_int_equal(err->kind, ZA_ERROR_NETWORK);
	expect = xasprintf("GET /v1/version: connection to the daemon at %s/agent.sock: the reply has a malformed "
	                   "HTTP status line 'garbage'",
	                   fake_dir);
	assert_string_equal(err->message, expect);
	assert_false(api_client_error_unreachable(err));
	err = za_error_free(err);
	fake_stop(&f);

	fake_start(&f, NULL, NULL); /* closes without a word */
	assert_int_equal(api_client_call("GET", "/v1/version", NULL, NULL, &err), -ECONNRESET);
	assert_non_null(strstr(err->message, "the connection closed before any reply"));
	err = za_error_free(err);
	fake_stop(&f);

	fake_start(&f, cut, NULL);
	assert_int_equal(api_client_call("GET", "/v1/version", NULL, NULL, &err), -ECONNRESET);
	assert_non_null(strstr(err->message, "after 5 of 100 body bytes"));
	err = za_error_free(err);
	fake_stop(&f);

	fake_start(&f, huge, NULL);
	assert_int_equal(api_client_call("GET", "/v1/images", NULL, NULL, &err), -EMSGSIZE);
	assert_non_null(strstr(err->message, "body is larger than 67108864 bytes"));
	err = za_error_free(err);
	fake_stop(&f);

	fake_start(&f, bad_json, NULL);
	assert_int_equal(api_client_call("GET", "/v1/images", NULL, NULL, &err), -EBADMSG);
	assert_true(strneq(err->message, "GET /v1/images: the daemon sent malformed JSON", 46));
	err = za_error_free(err);
	fake_stop(&f);

	assert_int_equal(api_client_call("GET", "v1/images", NULL, NULL, &err), -EINVAL);
	err = za_error_free(err);
	assert_int_equal(api_client_call("GET", "/v1/images?ref=a b", NULL, NULL, &err), -EINVAL);
	err = za_error_free(err);
}

static int collect(json_t *line, void *userdata) {
	json_array_append(userdata, line);
	return 0;
}

static int cancel_second(json_t *line, void *userdata) {
	return json_array_append(userdata, line) == 0 && json_array_size(userdata) == 2 ? -ECANCELED : 0;
}

static void test_client_stream(void **state) {
	/* lines cut across chunks and writes, a blank line, a last one without newline */
	static const char *const lines[] = {
		"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n",
		"9\r\n{\"i\":0}\n{\r\n",
		"b\r\n\"i\":1}\n\n{\"i\r\n",
		"4\r\n\":2}\r\n0\r\n\r\n",
		NULL,
	};
	static const char *const error_line[] = { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		                                  "31\r\n{\"i\":0}\n{\"error\":{\"kind\":\"pull_failed\",\"message\":",
		                                  "\r\n12\r\n\"fetch layer: 500\"\r\n", "3\r\n}}\n\r\n0\r\n\r\n",
		                                  NULL };
	static const char *const refused[] = { "HTTP/1.1 409 Conflict\r\nContent-Length: "
		                               "48\r\n\r\n{\"kind\":\"create_failed\",\"message\":\"name taken\"}\n",
		                               NULL };
	static const char *const malformed[] = { "HTTP/1.1 200 OK\r\n\r\n{\"i\":0}\nnot json\n", NULL };
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *long_line = NULL;
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	json_t *got = json_array();
	struct fake f;

	fake_start(&f, lines, NULL);
	assert_int_equal(api_client_stream("GET", "/v1/containers/logs?id=a&follow=1", NULL, collect, got, &err), 0);
	assert_int_equal(json_array_size(got), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(got, i), "i")), (json_int_t)i);
	json_array_clear(got);
	fake_stop(&f);

	fake_start(&f, error_line, NULL);
	assert_int_equal(api_client_stream("POST", "/v1/images/pull?ref=x", NULL, collect, got, &err), -EREMOTEIO);
	assert_int_equal(json_array_size(got), 1);
	assert_int_equal(err->kind, ZA_ERROR_PULL_FAILED);
	assert_string_equal(err->message, "fetch layer: 500");
	err = za_error_free(err);
	json_array_clear(got);
	fake_stop(&f);

	fake_start(&f, refused, NULL);
	assert_int_equal(api_client_stream("POST", "/v1/containers/start?id=a&attach=1", NULL, collect, got, &err),
	                 -EREMOTEIO);
	assert_int_equal(json_array_size(got), 0);
	assert_int_equal(err->kind, ZA_ERROR_CREATE_FAILED);
	assert_string_equal(err->message, "name taken");
	err = za_error_free(err);
	fake_stop(&f);

	fake_start(&f, malformed, NULL);
	assert_int_equal(api_client_stream("GET", "/s", NULL, collect, got, &err), -EBADMSG);
	assert_true(strneq(err->message, "the daemon sent a malformed stream line", 39));
	err = za_error_free(err);
	json_array_clear(got);
	fake_stop(&f);

	/* the caller stops the stream: its error, at once */
	fake_start(&f, lines, NULL);
	assert_int_equal(api_client_stream("GET", "/s", NULL, cancel_second, got, &err), -ECANCELED);
	assert_int_equal(json_array_size(got), 2);
	assert_non_null(strstr(err->message, "stopped reading the daemon's reply"));
	err = za_error_free(err);
	json_array_clear(got);
	fake_stop(&f);

	/* a line one byte over the cap, with no end in sight */
	strbuf_addstr(&sb, "HTTP/1.1 200 OK\r\n\r\n{\"i\":0}\n\"");
	for (size_t i = 0; i < API_CLIENT_LINE_MAX; i++)
		strbuf_addch(&sb, 'x');
	long_line = strbuf_detach(&sb, NULL);
	fake_start(&f, NULL, long_line);
	assert_int_equal(api_client_stream("GET", "/s", NULL, collect, got, &err), -EMSGSIZE);
	assert_int_equal(json_array_size(got), 1);
	assert_string_equal(err->message, "the daemon sent a stream line longer than 1048576 bytes");
	err = za_error_free(err);
	fake_stop(&f);
	json_decref(got);
}

static void test_client_unreachable(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, "/tmp/");
	for (size_t i = 0; i < 120; i++)
		strbuf_addch(&sb, 'd');
	setenv("ZLAYER_RUNTIME_DIR", sb.buf, 1);
	assert_int_equal(api_client_call("GET", "/v1/version", NULL, NULL, &err), -ENAMETOOLONG);
	assert_true(api_client_error_unreachable(err));
	assert_non_null(strstr(err->message, "(File name too long)"));
	setenv("ZLAYER_RUNTIME_DIR", fake_dir, 1);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_format),     cmocka_unit_test(test_good_replies),
		cmocka_unit_test(test_bad_replies),        cmocka_unit_test(test_caps),
		cmocka_unit_test(test_body_callback),      cmocka_unit_test(test_client_call),
		cmocka_unit_test(test_client_bad_replies), cmocka_unit_test(test_client_stream),
		cmocka_unit_test(test_client_unreachable),
	};

	return cmocka_run_group_tests(tests, setup_fake, teardown_fake);
}
