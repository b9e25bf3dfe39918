/* SPDX-License-Identifier: Apache-2.0 */
#include "image/digest.h"

#include <ctype.h>
/* SHA256_Init() and friends, deprecated in OpenSSL 3 in favour of EVP, run
 * the same assembly, but EVP's first use loads the provider machinery:
 * +2.2 MiB of resident memory for the daemon's lifetime (bench/restart.sh),
 * for the one algorithm we need. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "basic/alloc.h"
#include "basic/macro.h"
#include "basic/banned.h"

static bool hex_lower(const char *s, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (!(isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

bool digest_is_sha256(const char *d) {
	return d && strneq(d, "sha256:", 7) && strlen(d) == DIGEST_SHA256_LEN && hex_lower(d + 7, 64);
}

bool digest_valid(const char *d) {
	if (digest_is_sha256(d))
		return true;
	return d && strneq(d, "sha512:", 7) && strlen(d) == 7 + 128 && hex_lower(d + 7, 128);
}

const char *digest_hex(const char *d) {
	const char *c = d ? strchr(d, ':') : NULL;
	return c ? c + 1 : NULL;
}

void sha256_init(struct sha256 *h) {
	SHA256_CTX *ctx = xnew(SHA256_CTX, 1);

	if (SHA256_Init(ctx) != 1)
		oom();
	h->ctx = ctx;
}

void sha256_update(struct sha256 *h, const void *data, size_t len) {
	if (len && SHA256_Update(h->ctx, data, len) != 1)
		oom();
}

void sha256_final(struct sha256 *h, char *buf) {
	unsigned char md[SHA256_DIGEST_LENGTH];
	static const char hex[] = "0123456789abcdef";

	if (SHA256_Final(md, h->ctx) != 1)
		oom();
	memcpy(buf, "sha256:", 7);
	for (unsigned i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		buf[7 + 2 * i] = hex[md[i] >> 4];
		buf[7 + 2 * i + 1] = hex[md[i] & 15];
	}
	buf[DIGEST_SHA256_LEN] = '\0';
	if (SHA256_Init(h->ctx) != 1)
		oom();
}

void sha256_release(struct sha256 *h) {
	free(h->ctx);
	h->ctx = NULL;
}

char *digest_sha256_buf(const void *data, size_t len) {
	struct sha256 h;
	char *out = xmalloc(DIGEST_SHA256_LEN + 1);

	sha256_init(&h);
	sha256_update(&h, data, len);
	sha256_final(&h, out);
	sha256_release(&h);
	return out;
}

char *digest_chain_id(const char *parent_chain_id, const char *diff_id) {
	_cleanup_free_ char *s = NULL;

	if (!parent_chain_id)
		return xstrdup(diff_id);
	s = xasprintf("%s %s", parent_chain_id, diff_id);
	return digest_sha256_buf(s, strlen(s));
}
