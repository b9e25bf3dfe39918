/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 request formatting and an incremental response parser
 * (RFC 9112): a state machine over lines (status, fields, chunk sizes) and
 * byte runs (bodies). Every outcome is the same wherever the input was
 * split, which the unit test checks at every byte boundary. */
#include "cli/http-client.h"

#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>

#include "basic/alloc.h"
#include "basic/banned.h"

#define EXCERPT_MAX 64

/* Stop the parser for good: later calls return the same error. */
#define parse_fail(p, reterr, code, ...)                                                  \
	({                                                                                \
		int _r_ = za_error_make((reterr), ZA_ERROR_NETWORK, (code), __VA_ARGS__); \
		(p)->state = HTTP_PARSE_FAILED;                                           \
		(p)->error = _r_;                                                         \
	})

static const char *const parse_state_names[_HTTP_PARSE_STATE_MAX] = {
	[HTTP_PARSE_STATUS_LINE] = "status-line",
	[HTTP_PARSE_HEADERS] = "headers",
	[HTTP_PARSE_BODY_LENGTH] = "body-length",
	[HTTP_PARSE_BODY_EOF] = "body-eof",
	[HTTP_PARSE_CHUNK_SIZE] = "chunk-size",
	[HTTP_PARSE_CHUNK_DATA] = "chunk-data",
	[HTTP_PARSE_CHUNK_END] = "chunk-end",
	[HTTP_PARSE_TRAILERS] = "trailers",
	[HTTP_PARSE_DONE] = "done",
	[HTTP_PARSE_FAILED] = "failed",
};

const char *http_parse_state_to_string(enum http_parse_state s) {
	return s >= 0 && s < _HTTP_PARSE_STATE_MAX ? parse_state_names[s] : NULL;
}

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c) {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-vchar, SP, HTAB, obs-text: anything but the other controls */
static bool is_field_char(unsigned char c) {
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(char c) {
	return c == ' ' || c == '\t';
}

static int hex_value(char c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A printable, bounded rendering of peer bytes for error messages. */
static char *excerpt(const char *s, size_t len) {
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < len && i < EXCERPT_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
			strbuf_addch(&sb, (char)c);
		else
			strbuf_addf(&sb, "\\x%02x", c);
	}
	if (len > EXCERPT_MAX)
		strbuf_addstr(&sb, "...");
	return strbuf_detach(&sb, NULL);
}

/* ---- requests ---- */

static bool token_valid(const char *s) {
	if (isempty(s))
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* Origin form, visible ASCII only: no space or CR/LF can end the line. */
static bool target_valid(const char *s) {
	if (!s || s[0] != '/')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool value_valid(const char *s) {
	if (!s)
		return true;
	for (; *s; s++)
		if (!is_field_char((unsigned char)*s))
			return false;
	return true;
}

static bool host_valid(const char *s) {
	if (isempty(s))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '/')
			return false;
	return true;
}

int http_request_format(const struct http_request *req, struct strbuf *out, struct za_error **reterr) {
	const char *m = req->method;

	if (!token_valid(m)) {
		_cleanup_free_ char *e = excerpt(strempty(m), strlen(strempty(m)));
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "invalid HTTP method '%s'", e);
	}
	if (!target_valid(req->target)) {
		_cleanup_free_ char *e = excerpt(strempty(req->target), strlen(strempty(req->target)));
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL,
		                     "invalid request target '%s': it must start with '/' and hold only visible "
		                     "ASCII",
		                     e);
	}
	if (!host_valid(req->host) || !value_valid(req->user_agent) || !value_valid(req->accept) ||
	    !value_valid(req->content_type) || !value_valid(req->authorization))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL,
		                     "invalid HTTP header value for '%s %s': control characters or an empty host", m,
		                     req->target);

	strbuf_addf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", m, req->target, req->host);
	if (req->user_agent)
		strbuf_addf(out, "User-Agent: %s\r\n", req->user_agent);
	if (req->accept)
		strbuf_addf(out, "Accept: %s\r\n", req->accept);
	if (req->authorization)
		strbuf_addf(out, "Authorization: %s\r\n", req->authorization);
	if (req->body && req->content_type)
		strbuf_addf(out, "Content-Type: %s\r\n", req->content_type);
	/* RFC 9110 8.6: no Content-Length where the method expects no body. */
	if (req->body || streq(m, "POST") || streq(m, "PUT") || streq(m, "PATCH"))
		strbuf_addf(out, "Content-Length: %zu\r\n", req->body ? req->body_len : 0);
	strbuf_addstr(out, "Connection: close\r\n\r\n");
	if (req->body)
		strbuf_add(out, req->body, req->body_len);
	return 0;
}

/* ---- responses ---- */

void http_reply_init(struct http_reply *p, uint64_t body_max, http_body_fn on_body, void *userdata) {
	*p = (struct http_reply){
		.body = STRBUF_INIT,
		.line = STRBUF_INIT,
		.state = HTTP_PARSE_STATUS_LINE,
		.body_max = body_max,
		.on_body = on_body,
		.userdata = userdata,
	};
}

void http_reply_release(struct http_reply *p) {
	strbuf_release(&p->body);
	strbuf_release(&p->line);
}

static const char *line_name(enum http_parse_state s) {
	switch (s) {
	case HTTP_PARSE_STATUS_LINE:
		return "status line";
	case HTTP_PARSE_CHUNK_SIZE:
		return "chunk-size line";
	case HTTP_PARSE_TRAILERS:
		return "trailer line";
	default:
		return "header line";
	}
}

/* 1 and a complete line (without LF or CRLF) in *ret_line, or 0 when all
 * of the input went into p->line, waiting for the rest. */
static int take_line(struct http_reply *p, const char **data, size_t *len, const char **ret_line, size_t *ret_len,
                     struct za_error **reterr) {
	const char *nl = memchr(*data, '\n', *len), *line;
	size_t k = nl ? (size_t)(nl - *data) : *len, n;

	if (k > HTTP_LINE_MAX - p->line.len)
		return parse_fail(p, reterr, EMSGSIZE, "the reply has a %s longer than %d bytes", line_name(p->state),
		                  HTTP_LINE_MAX);
	if (!nl) {
		strbuf_add(&p->line, *data, k);
		*data += k;
		*len = 0;
		return 0;
	}
	if (p->line.len == 0) {
		line = *data;
		n = k;
	} else {
		strbuf_add(&p->line, *data, k);
		line = p->line.buf;
		n = p->line.len;
	}
	*data += k + 1;
	*len -= k + 1;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (memchr(line, '\r', n) || memchr(line, '\0', n)) {
		_cleanup_free_ char *e = excerpt(line, n);
		return parse_fail(p, reterr, EBADMSG, "the reply has a stray CR or NUL in its %s '%s'",
		                  line_name(p->state), e);
	}
	if (p->state == HTTP_PARSE_STATUS_LINE || p->state == HTTP_PARSE_HEADERS || p->state == HTTP_PARSE_TRAILERS) {
		p->header_bytes += n + 1; /* the whole line however it was split */
		if (p->header_bytes > HTTP_HEADER_BYTES_MAX)
			return parse_fail(p, reterr, EMSGSIZE, "the reply's headers are larger than %d bytes",
			                  HTTP_HEADER_BYTES_MAX);
	}
	*ret_line = line;
	*ret_len = n;
	return 1;
}

/* "HTTP/1.1 200 OK": version, SP, three digits, then SP and a reason,
 * which may be empty or (leniently) missing with its SP. */
static int parse_status_line(struct http_reply *p, const char *l, size_t n, struct za_error **reterr) {
	bool ok = n >= 12 && memcmp(l, "HTTP/1.", 7) == 0 && l[7] >= '0' && l[7] <= '9' && l[8] == ' ' && l[9] >= '1' &&
	          l[9] <= '5' && l[10] >= '0' && l[10] <= '9' && l[11] >= '0' && l[11] <= '9' &&
	          (n == 12 || l[12] == ' ');

	for (size_t i = 13; ok && i < n; i++)
		ok = is_field_char((unsigned char)l[i]);
	if (!ok) {
		_cleanup_free_ char *e = excerpt(l, n);
		return parse_fail(p, reterr, EBADMSG, "the reply has a malformed HTTP status line '%s'", e);
	}
	p->http10 = l[7] == '0';
	p->status = (unsigned)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
	return 0;
}

static bool name_is(const char *name, size_t n, const char *want) {
	return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

static int parse_content_length(struct http_reply *p, const char *v, size_t n, struct za_error **reterr) {
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - 9) / 10) {
			_cleanup_free_ char *e = excerpt(v, n);
			return parse_fail(p, reterr, EBADMSG, "the reply has an invalid Content-Length '%s'", e);
		}
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (n == 0)
		return parse_fail(p, reterr, EBADMSG, "the reply has an empty Content-Length");
	if (p->have_length && x != p->content_length)
		return parse_fail(p, reterr, EBADMSG,
		                  "the reply has conflicting Content-Length headers (%" PRIu64 " and %" PRIu64 ")",
		                  p->content_length, x);
	p->have_length = true;
	p->content_length = x;
	return 0;
}

/* A list of codings of which we take exactly one: chunked. */
static int parse_transfer_encoding(struct http_reply *p, const char *v, size_t n, struct za_error **reterr) {
	size_t i = 0, n_codings = 0;

	while (i < n) {
		size_t start, end;

		while (i < n && (is_ows(v[i]) || v[i] == ','))
			i++;
		start = i;
		while (i < n && v[i] != ',')
			i++;
		end = i;
		while (end > start && is_ows(v[end - 1]))
			end--;
		if (end == start)
			continue;
		n_codings++;
		if (name_is(v + start, end - start, "chunked") && !p->chunked) {
			p->chunked = true;
			continue;
		}
		{
			_cleanup_free_ char *e = excerpt(v + start, end - start);
			if (name_is(v + start, end - start, "chunked"))
				return parse_fail(p, reterr, EBADMSG,
				                  "the reply applies transfer coding 'chunked' twice");
			return parse_fail(p, reterr, EPROTONOSUPPORT,
			                  "the reply uses transfer coding '%s'; only 'chunked' is supported", e);
		}
	}
	if (n_codings == 0)
		return parse_fail(p, reterr, EBADMSG, "the reply has an empty Transfer-Encoding");
	return 0;
}

static int parse_field(struct http_reply *p, const char *l, size_t n, bool trailer, struct za_error **reterr) {
	const char *colon, *v;
	size_t name_len, vlen;

	if (++p->n_fields > HTTP_FIELDS_MAX)
		return parse_fail(p, reterr, EMSGSIZE, "the reply has more than %d header fields", HTTP_FIELDS_MAX);
	if (is_ows(l[0]))
		return parse_fail(p, reterr, EBADMSG, "the reply folds a header line (obsolete line folding)");
	colon = memchr(l, ':', n);
	name_len = colon ? (size_t)(colon - l) : 0;
	for (size_t i = 0; colon && i < name_len; i++)
		if (!is_tchar((unsigned char)l[i]))
			colon = NULL;
	if (!colon || name_len == 0) {
		_cleanup_free_ char *e = excerpt(l, n);
		return parse_fail(p, reterr, EBADMSG, "the reply has a malformed %s '%s'", line_name(p->state), e);
	}
	v = colon + 1;
	vlen = n - name_len - 1;
	while (vlen > 0 && is_ows(v[0]))
		v++, vlen--;
	while (vlen > 0 && is_ows(v[vlen - 1]))
		vlen--;
	for (size_t i = 0; i < vlen; i++)
		if (!is_field_char((unsigned char)v[i])) {
			_cleanup_free_ char *e = excerpt(l, name_len);
			return parse_fail(p, reterr, EBADMSG, "the reply's field '%s' has a control character", e);
		}
	if (trailer) /* never framing (RFC 9110 6.5.1) */
		return 0;
	if (name_is(l, name_len, "content-length"))
		return parse_content_length(p, v, vlen, reterr);
	if (name_is(l, name_len, "transfer-encoding"))
		return parse_transfer_encoding(p, v, vlen, reterr);
	return 0;
}

static int body_too_large(struct http_reply *p, struct za_error **reterr) {
	return parse_fail(p, reterr, EMSGSIZE, "the reply's body is larger than %" PRIu64 " bytes", p->body_max);
}

static int headers_end(struct http_reply *p, struct za_error **reterr) {
	if (p->status < 200) {
		/* interim (100 Continue, 103 Early Hints): the real one follows */
		if (p->status == 101)
			return parse_fail(p, reterr, EPROTO,
			                  "the reply switches protocols (101), which was not asked for");
		p->status = 0;
		p->chunked = p->have_length = false;
		p->content_length = 0;
		p->state = HTTP_PARSE_STATUS_LINE;
		return 0;
	}
	p->headers_done = true;
	if (p->chunked && p->have_length)
		return parse_fail(p, reterr, EBADMSG, "the reply has both Content-Length and Transfer-Encoding");
	if (p->status == 204 || p->status == 304)
		p->state = HTTP_PARSE_DONE;
	else if (p->chunked)
		p->state = HTTP_PARSE_CHUNK_SIZE;
	else if (p->have_length) {
		if (p->content_length > p->body_max)
			return body_too_large(p, reterr);
		p->remaining = p->content_length;
		p->state = p->remaining > 0 ? HTTP_PARSE_BODY_LENGTH : HTTP_PARSE_DONE;
	} else
		p->state = HTTP_PARSE_BODY_EOF;
	return 0;
}

/* chunk-size [ chunk-ext ], chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) */
static int parse_chunk_size(struct http_reply *p, const char *l, size_t n, struct za_error **reterr) {
	uint64_t size = 0;
	size_t i = 0;
	int d;

	for (; i < n && (d = hex_value(l[i])) >= 0; i++) {
		if (i >= 16)
			return parse_fail(p, reterr, EMSGSIZE, "the reply has a chunk size with more than 16 digits");
		size = size * 16 + (uint64_t)d;
	}
	if (i == 0)
		goto malformed;
	for (;;) {
		while (i < n && is_ows(l[i]))
			i++;
		if (i == n)
			break;
		if (l[i++] != ';')
			goto malformed;
		while (i < n && is_ows(l[i]))
			i++;
		if (i == n || !is_tchar((unsigned char)l[i]))
			goto malformed;
		while (i < n && is_tchar((unsigned char)l[i]))
			i++;
		while (i < n && is_ows(l[i]))
			i++;
		if (i == n || l[i] != '=')
			continue;
		i++;
		while (i < n && is_ows(l[i]))
			i++;
		if (i < n && l[i] == '"') {
			for (i++;; i++) {
				if (i == n)
					goto malformed;
				if (l[i] == '"')
					break;
				if (l[i] == '\\' && ++i == n)
					goto malformed;
				if (!is_field_char((unsigned char)l[i]))
					goto malformed;
			}
			i++;
		} else {
			if (i == n || !is_tchar((unsigned char)l[i]))
				goto malformed;
			while (i < n && is_tchar((unsigned char)l[i]))
				i++;
		}
	}

	if (size == 0) {
		p->state = HTTP_PARSE_TRAILERS;
		return 0;
	}
	if (size > p->body_max - p->body_len)
		return body_too_large(p, reterr);
	p->remaining = size;
	p->state = HTTP_PARSE_CHUNK_DATA;
	return 0;

malformed : {
	_cleanup_free_ char *e = excerpt(l, n);
	return parse_fail(p, reterr, EBADMSG, "the reply has a malformed chunk-size line '%s'", e);
}
}

static int deliver(struct http_reply *p, const char *data, size_t n, struct za_error **reterr) {
	int r;

	if (n > p->body_max - p->body_len)
		return body_too_large(p, reterr);
	p->body_len += n;
	if (!p->on_body) {
		strbuf_add(&p->body, data, n);
		return 0;
	}
	r = p->on_body(data, n, p->userdata);
	if (r < 0) {
		p->state = HTTP_PARSE_FAILED;
		p->error = r;
	}
	return r;
}

static int handle_line(struct http_reply *p, const char *l, size_t n, struct za_error **reterr) {
	switch (p->state) {
	case HTTP_PARSE_STATUS_LINE:
		if (parse_status_line(p, l, n, reterr) < 0)
			return p->error;
		p->state = HTTP_PARSE_HEADERS;
		return 0;
	case HTTP_PARSE_HEADERS:
		return n == 0 ? headers_end(p, reterr) : parse_field(p, l, n, false, reterr);
	case HTTP_PARSE_CHUNK_SIZE:
		return parse_chunk_size(p, l, n, reterr);
	case HTTP_PARSE_TRAILERS:
		if (n == 0) {
			p->state = HTTP_PARSE_DONE;
			return 0;
		}
		return parse_field(p, l, n, true, reterr);
	default:
		return parse_fail(p, reterr, EINVAL, "internal error: no line expected in state %s",
		                  http_parse_state_to_string(p->state));
	}
}

int http_reply_feed(struct http_reply *p, const char *data, size_t len, struct za_error **reterr) {
	const char *line = NULL;
	size_t n, line_len = 0;
	int r;

	if (p->state == HTTP_PARSE_FAILED)
		return p->error;
	if (len > 0)
		p->any_input = true;
	while (len > 0) {
		switch (p->state) {
		case HTTP_PARSE_STATUS_LINE:
		case HTTP_PARSE_HEADERS:
		case HTTP_PARSE_CHUNK_SIZE:
		case HTTP_PARSE_TRAILERS:
			r = take_line(p, &data, &len, &line, &line_len, reterr);
			if (r <= 0)
				return r;
			r = handle_line(p, line, line_len, reterr);
			strbuf_reset(&p->line);
			if (r < 0)
				return r;
			break;
		case HTTP_PARSE_BODY_LENGTH:
		case HTTP_PARSE_CHUNK_DATA:
			n = (size_t)MIN((uint64_t)len, p->remaining);
			r = deliver(p, data, n, reterr);
			if (r < 0)
				return r;
			data += n;
			len -= n;
			p->remaining -= n;
			if (p->remaining == 0) {
				p->state = p->state == HTTP_PARSE_CHUNK_DATA ? HTTP_PARSE_CHUNK_END : HTTP_PARSE_DONE;
				p->saw_cr = false;
			}
			break;
		case HTTP_PARSE_BODY_EOF:
			r = deliver(p, data, len, reterr);
			if (r < 0)
				return r;
			len = 0;
			break;
		case HTTP_PARSE_CHUNK_END:
			/* byte by byte: a chunk longer than its size fails here at once */
			if (data[0] == '\r' && !p->saw_cr)
				p->saw_cr = true;
			else if (data[0] == '\n')
				p->state = HTTP_PARSE_CHUNK_SIZE;
			else
				return parse_fail(
				        p, reterr, EBADMSG,
				        "the reply has a chunk longer than its size (no CRLF after its data)");
			data++;
			len--;
			break;
		case HTTP_PARSE_DONE:
			return parse_fail(p, reterr, EBADMSG, "the reply goes on past its end");
		default:
			return parse_fail(p, reterr, EINVAL, "internal error: bad parser state %d", (int)p->state);
		}
	}
	return 0;
}

int http_reply_finish(struct http_reply *p, struct za_error **reterr) {
	switch (p->state) {
	case HTTP_PARSE_DONE:
		return 0;
	case HTTP_PARSE_FAILED:
		return p->error;
	case HTTP_PARSE_BODY_EOF:
		p->state = HTTP_PARSE_DONE;
		return 0;
	case HTTP_PARSE_STATUS_LINE:
		if (!p->any_input)
			return parse_fail(p, reterr, ECONNRESET, "the connection closed before any reply");
		_fallthrough_;
	case HTTP_PARSE_HEADERS:
		return parse_fail(p, reterr, ECONNRESET, "the connection closed in the middle of the reply's headers");
	case HTTP_PARSE_BODY_LENGTH:
		return parse_fail(p, reterr, ECONNRESET,
		                  "the reply was cut short: the connection closed after %" PRIu64 " of %" PRIu64
		                  " body bytes",
		                  p->body_len, p->content_length);
	default:
		return parse_fail(p, reterr, ECONNRESET,
		                  "the reply was cut short: the connection closed inside its chunked body");
	}
}
