/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "spec/envref.h"

static void test_whole_value(void **state) {
	struct envref e;

	assert_int_equal(envref_parse("$E:HOME", &e, NULL), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.parts[0].kind, ENVREF_ENV);
	assert_string_equal(e.parts[0].text, "HOME");
	envref_release(&e);

	assert_int_equal(envref_parse("$S:db/password", &e, NULL), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.parts[0].kind, ENVREF_SECRET);
	assert_string_equal(e.parts[0].text, "db");
	assert_string_equal(e.parts[0].field, "password");
	envref_release(&e);

	assert_int_equal(envref_parse("$S:api-key", &e, NULL), 0);
	assert_null(e.parts[0].field);
	envref_release(&e);
}

static void test_embedded(void **state) {
	struct envref e;

	assert_int_equal(envref_parse("postgres://u:${E:PW}@db:${S:db/port}/x", &e, NULL), 0);
	assert_int_equal(e.n, 5);
	assert_int_equal(e.parts[0].kind, ENVREF_LITERAL);
	assert_string_equal(e.parts[0].text, "postgres://u:");
	assert_int_equal(e.parts[1].kind, ENVREF_ENV);
	assert_string_equal(e.parts[1].text, "PW");
	assert_string_equal(e.parts[2].text, "@db:");
	assert_int_equal(e.parts[3].kind, ENVREF_SECRET);
	assert_string_equal(e.parts[3].field, "port");
	assert_string_equal(e.parts[4].text, "/x");
	envref_release(&e);

	/* literal dollars: lone, other ${...} forms, escaped $${ */
	assert_int_equal(envref_parse("cost $5 ${HOME} $${E:X}", &e, NULL), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.parts[0].text, "cost $5 ${HOME} ${E:X}");
	envref_release(&e);

	assert_int_equal(envref_parse("", &e, NULL), 0);
	assert_int_equal(e.n, 0);
	envref_release(&e);
}

static void test_errors(void **state) {
	static const struct {
		const char *in, *message;
	} bad[] = {
		{ "$E:1BAD",
		  "invalid environment variable name '1BAD' in '$E:1BAD' (expected [A-Za-z_][A-Za-z0-9_]*)" },
		{ "$E:", "invalid environment variable name '' in '$E:' (expected [A-Za-z_][A-Za-z0-9_]*)" },
		{ "$S:", "invalid secret name '' in '$S:' (expected [A-Za-z0-9][A-Za-z0-9_.-]*)" },
		{ "$S:db/", "invalid secret field '' in '$S:db/' (expected [A-Za-z0-9][A-Za-z0-9_.-]*)" },
		{ "x${E:PW", "unterminated reference '${E:PW' in 'x${E:PW' (missing '}')" },
		{ "${S:a b}", "invalid secret name 'a b' in '${S:a b}' (expected [A-Za-z0-9][A-Za-z0-9_.-]*)" },
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_za_error_ struct za_error *err = NULL;
		struct envref e = {};

		assert_int_equal(envref_parse(bad[i].in, &e, &err), -EINVAL);
		assert_non_null(err);
		assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
		assert_string_equal(err->message, bad[i].message);
		assert_int_equal(e.n, 0);
	}
}

static int lookup(enum envref_kind kind, const char *name, const char *field, void *userdata, char **ret,
                  struct za_error **reterr) {
	if (kind == ENVREF_ENV && streq(name, "PW")) {
		*ret = xstrdup("s3cret");
		return 0;
	}
	if (kind == ENVREF_SECRET && streq(name, "db") && field && streq(field, "port")) {
		*ret = xstrdup("5432");
		return 0;
	}
	return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "%s '%s' is not set",
	                     kind == ENVREF_ENV ? "environment variable" : "secret", name);
}

static void test_resolve(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *out = NULL;
	struct envref e;

	assert_int_equal(envref_parse("postgres://u:${E:PW}@db:${S:db/port}", &e, NULL), 0);
	assert_int_equal(envref_resolve(&e, lookup, NULL, &out, NULL), 0);
	assert_string_equal(out, "postgres://u:s3cret@db:5432");
	envref_release(&e);

	assert_int_equal(envref_parse("$E:MISSING", &e, NULL), 0);
	assert_int_equal(envref_resolve(&e, lookup, NULL, &out, &err), -ENOENT);
	assert_string_equal(err->message, "environment variable 'MISSING' is not set");
	envref_release(&e);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_value),
		cmocka_unit_test(test_embedded),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_resolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
