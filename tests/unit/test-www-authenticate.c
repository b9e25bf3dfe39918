/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "image/www-authenticate.h"

struct parsed {
	struct www_auth_challenge *c;
	size_t n;
};

static void parsed_release(struct parsed *p) {
	www_auth_challenges_free(p->c, p->n);
	*p = (struct parsed){};
}

static void parse_ok(const char *header, struct parsed *ret) {
	_cleanup_za_error_ struct za_error *err = NULL;

	*ret = (struct parsed){};
	assert_int_equal(www_authenticate_parse(header, &ret->c, &ret->n, &err), 0);
	assert_null(err);
	assert_true(ret->n >= 1);
}

#define assert_string_or_null(a, b)                \
	do {                                       \
		if (b)                             \
			assert_string_equal(a, b); \
		else                               \
			assert_null(a);            \
	} while (0)

static void assert_challenge(const struct www_auth_challenge *c, const char *scheme, const char *realm,
                             const char *service, const char *scope, const char *error) {
	assert_string_equal(c->scheme, scheme);
	assert_string_or_null(c->realm, realm);
	assert_string_or_null(c->service, service);
	assert_string_or_null(c->scope, scope);
	assert_string_or_null(c->error, error);
}

static void test_single(void **state) {
	static const struct {
		const char *header;
		const char *scheme, *realm, *service, *scope, *error;
	} cases[] = {
		/* Docker Hub */
		{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
		  "scope=\"repository:library/busybox:pull\"",
		  "bearer", "https://auth.docker.io/token", "registry.docker.io", "repository:library/busybox:pull",
		  NULL },
		/* registry:2 token auth: a comma inside the quoted scope */
		{ "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
		  "scope=\"repository:samalba/my-app:pull,push\"",
		  "bearer", "https://auth.example.com/token", "registry.example.com",
		  "repository:samalba/my-app:pull,push", NULL },
		/* registry:2 htpasswd */
		{ "Basic realm=\"Registry Realm\"", "basic", "Registry Realm", NULL, NULL, NULL },
		/* insufficient scope with an error */
		{ "Bearer "
		  "realm=\"https://a/token\",service=\"s\",scope=\"repository:x:pull\",error=\"insufficient_scope\"",
		  "bearer", "https://a/token", "s", "repository:x:pull", "insufficient_scope" },
		/* case-insensitive scheme and param names, unquoted token values */
		{ "BEARER Realm=\"r\" , SERVICE=registry.local,ScOpE=x", "bearer", "r", "registry.local", "x", NULL },
		/* BWS around '=', tabs as whitespace */
		{ "Basic\trealm\t=  \"x\"  ", "basic", "x", NULL, NULL, NULL },
		/* quoted-pair escapes */
		{ "Basic realm=\"a \\\"quoted\\\" \\\\ realm\\x\"", "basic", "a \"quoted\" \\ realmx", NULL, NULL,
		  NULL },
		/* empty quoted value */
		{ "Bearer realm=\"\"", "bearer", "", NULL, NULL, NULL },
		/* unknown params are skipped */
		{ "Bearer realm=\"r\",foo=\"bar\",charset=\"UTF-8\",service=\"s\"", "bearer", "r", "s", NULL, NULL },
		/* empty list elements and a trailing comma */
		{ ", ,Basic realm=\"x\" ,, ", "basic", "x", NULL, NULL, NULL },
		/* obs-text (UTF-8) inside a quoted string */
		{ "Basic realm=\"caf\xc3\xa9\"", "basic", "caf\xc3\xa9", NULL, NULL, NULL },
		/* a scheme alone */
		{ "Negotiate", "negotiate", NULL, NULL, NULL, NULL },
		/* token68 credentials */
		{ "Negotiate YIIBdgYGKwYBBQUCoII+/Baj==", "negotiate", NULL, NULL, NULL, NULL },
		/* a param that is only '=' padding away from token68 */
		{ "Basic abc=", "basic", NULL, NULL, NULL, NULL },
		/* params separated by commas with no space after the scheme's first param */
		{ "Bearer realm=r,service=s,scope=t", "bearer", "r", "s", "t", NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct parsed p;

		parse_ok(cases[i].header, &p);
		assert_int_equal(p.n, 1);
		assert_challenge(&p.c[0], cases[i].scheme, cases[i].realm, cases[i].service, cases[i].scope,
		                 cases[i].error);
		parsed_release(&p);
	}
}

static void test_multiple(void **state) {
	struct parsed p;

	/* RFC 7235 section 4.1 example */
	parse_ok("Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"", &p);
	assert_int_equal(p.n, 2);
	assert_challenge(&p.c[0], "newauth", "apps", NULL, NULL, NULL);
	assert_challenge(&p.c[1], "basic", "simple", NULL, NULL, NULL);
	assert_ptr_equal(www_auth_challenges_find(p.c, p.n, "basic"), &p.c[1]);
	assert_null(www_auth_challenges_find(p.c, p.n, "bearer"));
	parsed_release(&p);

	/* two headers joined by the client */
	parse_ok("Basic realm=\"r1\", Bearer realm=\"https://t/token\",service=\"s\"", &p);
	assert_int_equal(p.n, 2);
	assert_challenge(&p.c[0], "basic", "r1", NULL, NULL, NULL);
	assert_challenge(&p.c[1], "bearer", "https://t/token", "s", NULL, NULL);
	assert_ptr_equal(www_auth_challenges_find(p.c, p.n, "bearer"), &p.c[1]);
	parsed_release(&p);

	/* token68, then another challenge */
	parse_ok("Negotiate abc==, Basic realm=\"x\"", &p);
	assert_int_equal(p.n, 2);
	assert_challenge(&p.c[0], "negotiate", NULL, NULL, NULL, NULL);
	assert_challenge(&p.c[1], "basic", "x", NULL, NULL, NULL);
	parsed_release(&p);

	/* bare schemes in a row */
	parse_ok("Negotiate, NTLM,Basic realm=x", &p);
	assert_int_equal(p.n, 3);
	assert_string_equal(p.c[0].scheme, "negotiate");
	assert_string_equal(p.c[1].scheme, "ntlm");
	assert_challenge(&p.c[2], "basic", "x", NULL, NULL, NULL);
	parsed_release(&p);

	/* the same param name in different challenges is fine */
	parse_ok("Bearer realm=\"a\", Bearer realm=\"b\"", &p);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.c[0].realm, "a");
	assert_string_equal(p.c[1].realm, "b");
	parsed_release(&p);
}

static void test_errors(void **state) {
	static const struct {
		const char *header;
		const char *message;
	} bad[] = {
		{ "", "invalid WWW-Authenticate header: no challenge at offset 0" },
		{ " , ,\t", "invalid WWW-Authenticate header: no challenge at offset 0" },
		{ "Basic realm=\"abc", "invalid WWW-Authenticate header: unterminated quoted string at offset 16" },
		{ "Basic realm=\"abc\\", "invalid WWW-Authenticate header: unterminated quoted string at offset 17" },
		{ "realm=\"x\"", "invalid WWW-Authenticate header: auth-param before any scheme at offset 0" },
		{ "Bearer realm=\"a\",Realm=\"b\"",
		  "invalid WWW-Authenticate header: duplicate auth-param at offset 17" },
		{ "Basic realm=\"a\x01\"",
		  "invalid WWW-Authenticate header: control character in quoted string at offset 14" },
		{ "Basic realm=\"a\\\x7f\"",
		  "invalid WWW-Authenticate header: control character in quoted string at offset 15" },
		{ "Basic realm=\"x\" junk",
		  "invalid WWW-Authenticate header: expected ',' or end of header at offset 16" },
		{ "Ba@sic realm=x", "invalid WWW-Authenticate header: unexpected character after scheme at offset 2" },
		{ "Basic realm=\"x\", service=",
		  "invalid WWW-Authenticate header: unexpected character after scheme at offset 24" },
		{ "Basic \"quoted\"", "invalid WWW-Authenticate header: expected token68 or auth-param at offset 6" },
		{ "\"Basic\"", "invalid WWW-Authenticate header: expected an authentication scheme at offset 0" },
		{ "Basic realm=x\r\n", "invalid WWW-Authenticate header: expected ',' or end of header at offset 13" },
		{ "Basic realm=\"x\"\"y\"",
		  "invalid WWW-Authenticate header: expected ',' or end of header at offset 15" },
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_za_error_ struct za_error *err = NULL;
		struct www_auth_challenge *c = (void *)0x1;
		size_t n = 77;

		assert_int_equal(www_authenticate_parse(bad[i].header, &c, &n, &err), -EBADMSG);
		assert_non_null(err);
		assert_int_equal(err->kind, ZA_ERROR_PULL_FAILED);
		assert_string_equal(err->message, bad[i].message);
		/* outputs untouched on failure */
		assert_ptr_equal(c, (void *)0x1);
		assert_int_equal(n, 77);
	}

	/* NULL reterr is fine */
	{
		struct www_auth_challenge *c;
		size_t n;
		assert_int_equal(www_authenticate_parse("Basic realm=\"", &c, &n, NULL), -EBADMSG);
	}
}

static void test_caps(void **state) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct parsed p;
	struct www_auth_challenge *c;
	size_t n;

	/* exactly 8 KiB is fine, one more byte is not */
	strbuf_addstr(&sb, "Basic realm=\"");
	while (sb.len < WWW_AUTH_HEADER_MAX - 1)
		strbuf_addch(&sb, 'a');
	strbuf_addch(&sb, '"');
	assert_int_equal(sb.len, WWW_AUTH_HEADER_MAX);
	parse_ok(sb.buf, &p);
	assert_int_equal(strlen(p.c[0].realm), WWW_AUTH_HEADER_MAX - 14);
	parsed_release(&p);
	strbuf_addch(&sb, ' ');
	assert_int_equal(www_authenticate_parse(sb.buf, &c, &n, &err), -E2BIG);
	assert_string_equal(err->message, "invalid WWW-Authenticate header: longer than 8192 bytes");
	err = za_error_free(err);

	/* 16 challenges, then 17 */
	strbuf_reset(&sb);
	for (int i = 0; i < WWW_AUTH_CHALLENGES_MAX; i++)
		strbuf_addf(&sb, "%sS%d realm=r%d", i ? ", " : "", i, i);
	parse_ok(sb.buf, &p);
	assert_int_equal(p.n, WWW_AUTH_CHALLENGES_MAX);
	assert_string_equal(p.c[15].scheme, "s15");
	assert_string_equal(p.c[15].realm, "r15");
	parsed_release(&p);
	strbuf_addstr(&sb, ", Basic");
	assert_int_equal(www_authenticate_parse(sb.buf, &c, &n, &err), -E2BIG);
	assert_non_null(strstr(err->message, "too many challenges"));
	err = za_error_free(err);

	/* 32 params, then 33 */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, "Bearer realm=r");
	for (int i = 1; i < WWW_AUTH_PARAMS_MAX; i++)
		strbuf_addf(&sb, ",p%d=v", i);
	parse_ok(sb.buf, &p);
	parsed_release(&p);
	strbuf_addstr(&sb, ",one=more");
	assert_int_equal(www_authenticate_parse(sb.buf, &c, &n, &err), -E2BIG);
	assert_non_null(strstr(err->message, "too many auth-params"));
	err = za_error_free(err);

	/* the param cap is per challenge */
	strbuf_addstr(&sb, ", Basic realm=x");
	strbuf_reset(&sb);
	for (int k = 0; k < 2; k++) {
		strbuf_addf(&sb, "%sS%d", k ? ", " : "", k);
		for (int i = 0; i < WWW_AUTH_PARAMS_MAX; i++)
			strbuf_addf(&sb, "%sp%d=v", i ? "," : " ", i);
	}
	parse_ok(sb.buf, &p);
	assert_int_equal(p.n, 2);
	parsed_release(&p);

	assert_int_equal(www_authenticate_parse(NULL, &c, &n, &err), -EBADMSG);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_multiple),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
