/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's HTTP reply parser reads whatever is on the daemon's socket.
 * Input: a flags byte, a split byte, then the reply. Whatever the bytes,
 * the parser must not crash, must reach the same verdict however the
 * input is split, keep the body within its cap and explain every failure
 * in one printable line. */
#include <stddef.h>
#include <stdint.h>

#include "basic/alloc.h"
#include "cli/http-client.h"
#include "basic/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct verdict {
	int r;
	unsigned status;
	enum http_parse_state state;
	uint64_t body_len;
	char *body;
	char *message;
};

static const uint64_t body_caps[] = { UINT64_MAX, 0, 1, 16, 4096, UINT64_MAX, UINT64_MAX, 100 };

static void verdict_release(struct verdict *v) {
	free(v->body);
	free(v->message);
}

/* stride 0: all at once; otherwise pieces of 1..stride bytes, varying */
static void run(const char *in, size_t len, unsigned stride, bool eof, uint64_t body_max, struct verdict *ret) {
	struct za_error *err = NULL;
	struct http_reply p;
	size_t at = 0, piece = 1;
	int r = 0;

	http_reply_init(&p, body_max, NULL, NULL);
	while (r >= 0 && at < len) {
		size_t n = stride ? MIN(piece, len - at) : len;
		r = http_reply_feed(&p, in + at, n, &err);
		at += n;
		piece = stride ? piece % stride + 1 : piece;
	}
	if (r >= 0 && eof)
		r = http_reply_finish(&p, &err);
	if ((r < 0) != (err != NULL) || (r < 0) != (p.state == HTTP_PARSE_FAILED))
		abort();
	if (p.body.len > body_max || p.body_len != p.body.len)
		abort();
	if (r >= 0 && p.headers_done && (p.status < 200 || p.status > 599))
		abort();
	if (err)
		for (const char *c = err->message; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				abort();
	ret->body_len = p.body.len;
	ret->body = strbuf_detach(&p.body, NULL);
	*ret = (struct verdict){
		.r = r,
		.status = p.status,
		.state = p.state,
		.body_len = ret->body_len,
		.body = ret->body,
		.message = err ? xstrdup(err->message) : NULL,
	};
	za_error_free(err);
	http_reply_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	struct verdict whole, split;
	uint64_t body_max;
	unsigned stride;
	bool eof;

	if (size < 2 || size > 256 * 1024)
		return 0;
	eof = data[0] & 1;
	body_max = body_caps[(data[0] >> 1) & 7];
	stride = data[1] % 64 + 1;

	run((const char *)data + 2, size - 2, 0, eof, body_max, &whole);
	run((const char *)data + 2, size - 2, stride, eof, body_max, &split);
	if (whole.r != split.r || whole.status != split.status || whole.state != split.state ||
	    !streq(strempty(whole.message), strempty(split.message)))
		abort();
	if (whole.r >= 0 && (whole.body_len != split.body_len || memcmp(whole.body, split.body, whole.body_len) != 0))
		abort();
	verdict_release(&whole);
	verdict_release(&split);
	return 0;
}
