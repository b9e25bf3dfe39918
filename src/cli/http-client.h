/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/1.1 the CLI speaks to the daemon, without any I/O: a request
 * formatter and a response parser fed with byte chunks of any size, strict
 * on malformed input and capped everywhere a peer controls a size.
 * The socket side (connect, send, recv) is client.c's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "basic/strbuf.h"

#define HTTP_LINE_MAX         (8 * 1024)  /* status line, one header or trailer field, one chunk-size line */
#define HTTP_FIELDS_MAX       100         /* header plus trailer fields of one reply */
#define HTTP_HEADER_BYTES_MAX (64 * 1024) /* all header and trailer lines together */

struct http_request {
	const char *method;        /* a token: "GET", "POST", ... */
	const char *target;        /* origin form: "/v1/images?ref=x" */
	const char *host;          /* the Host header */
	const char *user_agent;    /* NULL: none */
	const char *accept;        /* NULL: none */
	const char *content_type;  /* sent with a body; NULL: none */
	const char *authorization; /* "Bearer TOKEN"; NULL: none */
	const void *body;          /* NULL: no body */
	size_t body_len;
};

/* Append the request line, its headers (Connection: close, Content-Length
 * with a body or for POST/PUT/PATCH) and the body to out. -EINVAL when a
 * field could split the message (CR, LF, spaces in the target, ...). */
int http_request_format(const struct http_request *req, struct strbuf *out, struct za_error **reterr);

enum http_parse_state {
	HTTP_PARSE_STATUS_LINE,
	HTTP_PARSE_HEADERS,
	HTTP_PARSE_BODY_LENGTH, /* Content-Length */
	HTTP_PARSE_BODY_EOF,    /* neither length nor chunked: up to the end of the connection */
	HTTP_PARSE_CHUNK_SIZE,
	HTTP_PARSE_CHUNK_DATA,
	HTTP_PARSE_CHUNK_END, /* the CRLF after a chunk's data */
	HTTP_PARSE_TRAILERS,
	HTTP_PARSE_DONE,
	HTTP_PARSE_FAILED,
	_HTTP_PARSE_STATE_MAX,
	_HTTP_PARSE_STATE_INVALID = -1,
};

/* Gets the body as it arrives, in pieces of any size. A negative return
 * stops the parser and is handed back by http_reply_feed as is. */
typedef int (*http_body_fn)(const char *data, size_t len, void *userdata);

struct http_reply {
	unsigned status; /* set once the status line is parsed (interim 1xx replies are skipped) */
	bool headers_done;
	struct strbuf body; /* the body when on_body is NULL */

	/* the parser's own */
	enum http_parse_state state;
	struct strbuf line; /* a line split across chunks */
	uint64_t body_max, body_len, content_length, remaining;
	size_t n_fields, header_bytes;
	bool http10, chunked, have_length, any_input, saw_cr;
	int error; /* negative errno once FAILED */
	http_body_fn on_body;
	void *userdata;
};

/* body_max caps the body (Content-Length, chunks, or bytes up to EOF);
 * UINT64_MAX for endless streams. on_body NULL collects into ->body. */
void http_reply_init(struct http_reply *p, uint64_t body_max, http_body_fn on_body, void *userdata);
void http_reply_release(struct http_reply *p);
/* Parse len more bytes. Bytes past the end of the reply are an error. */
int http_reply_feed(struct http_reply *p, const char *data, size_t len, struct za_error **reterr);
/* The connection ended: completes a body that runs to EOF, an error when
 * the reply was cut short. */
int http_reply_finish(struct http_reply *p, struct za_error **reterr);
static inline bool http_reply_done(const struct http_reply *p) {
	return p->state == HTTP_PARSE_DONE;
}
const char *http_parse_state_to_string(enum http_parse_state s);
