/* SPDX-License-Identifier: Apache-2.0 */
/* WWW-Authenticate comes from any registry or token server. Whatever the
 * bytes, the parser must not crash, must explain every failure, and a
 * success must look like one: at least one challenge, lowercase token
 * schemes, no more than the caps allow. */
#include <stddef.h>
#include <stdint.h>

#include "basic/alloc.h"
#include "image/www-authenticate.h"
#include "basic/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_scheme(const char *s) {
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s >= 'A' && *s <= 'Z')
			return false;
		if (*s <= ' ' || *s == '"' || *s == ',' || *s == '=' || *s == 0x7f || (unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

static void check_value(const char *v, size_t header_len) {
	if (v && strlen(v) > header_len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	_cleanup_za_error_ struct za_error *e = NULL;
	_cleanup_free_ char *s = NULL;
	struct www_auth_challenge *c = NULL;
	size_t n = 0, len;
	int r;

	if (size > 2 * WWW_AUTH_HEADER_MAX)
		return 0;
	s = xstrndup((const char *)data, size);
	len = strlen(s);

	r = www_authenticate_parse(s, &c, &n, &e);
	if (r < 0) {
		if (!e || !e->message || e->kind != ZA_ERROR_PULL_FAILED || c || n != 0)
			abort();
		if (r != -EBADMSG && r != -E2BIG)
			abort();
		if (len > WWW_AUTH_HEADER_MAX && r != -E2BIG)
			abort();
		return 0;
	}
	if (e || r != 0 || !c || n < 1 || n > WWW_AUTH_CHALLENGES_MAX || len > WWW_AUTH_HEADER_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!valid_scheme(c[i].scheme))
			abort();
		check_value(c[i].realm, len);
		check_value(c[i].service, len);
		check_value(c[i].scope, len);
		check_value(c[i].error, len);
		if (www_auth_challenges_find(c, n, c[i].scheme) > &c[i])
			abort();
	}
	www_auth_challenges_free(c, n);
	return 0;
}
