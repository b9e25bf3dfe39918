/* SPDX-License-Identifier: Apache-2.0 */
/* The WWW-Authenticate header a registry or token server sends with a 401
 * (RFC 7235): a list of challenges, each a scheme with auth-params or a
 * token68. Only what the distribution auth flow needs is kept. */
#pragma once

#include <stddef.h>

#include "basic/error.h"

/* Caps on what a peer can make us parse. */
#define WWW_AUTH_HEADER_MAX     8192
#define WWW_AUTH_CHALLENGES_MAX 16
#define WWW_AUTH_PARAMS_MAX     32

struct www_auth_challenge {
	char *scheme;                          /* lowercase: "bearer", "basic", ... */
	char *realm, *service, *scope, *error; /* NULL when absent; other params are ignored */
};

/* Parse a header value (several headers joined with ", " are one value).
 * On success *ret is an array of *ret_n >= 1 challenges in header order.
 * Scheme and param names are case-insensitive; quoted-string escapes are
 * resolved. -EBADMSG for bad syntax, -E2BIG past a cap; both with kind
 * ZA_ERROR_PULL_FAILED and the offset of the problem. */
int www_authenticate_parse(const char *header, struct www_auth_challenge **ret, size_t *ret_n,
                           struct za_error **reterr);
void www_auth_challenges_free(struct www_auth_challenge *c, size_t n);

/* First challenge with the given lowercase scheme, or NULL. */
const struct www_auth_challenge *www_auth_challenges_find(const struct www_auth_challenge *c, size_t n,
                                                          const char *scheme);
