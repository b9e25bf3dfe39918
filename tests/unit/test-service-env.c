/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "service/service-env.h"

static char root[] = "/tmp/test-service-env-XXXXXX";
static struct secrets *store;

static const char json_secret[] = "{\"password\": \"p@ss w0rd\", \"port\": 5432, \"ratio\": 0.1, \"big\": 1e300, "
                                  "\"tls\": true, \"debug\": false, \"nested\": {\"a\": 1}, \"list\": [1], "
                                  "\"nothing\": null, \"empty\": \"\"}";

static int group_setup(void **state) {
	assert_non_null(mkdtemp(root));
	assert_int_equal(secrets_new(root, &store, NULL), 0);
	assert_int_equal(secrets_set(store, "db", "hunter2\n", 8, NULL), 0);
	assert_int_equal(secrets_set(store, "dbjson", json_secret, strlen(json_secret), NULL), 0);
	assert_int_equal(secrets_set(store, "arr", "[1, 2]", 6, NULL), 0);
	assert_int_equal(secrets_set(store, "nul", "a\0b", 3, NULL), 0);
	assert_int_equal(secrets_set(store, "empty", "", 0, NULL), 0);
	assert_int_equal(setenv("ZA_TEST_PW", "from env", 1), 0);
	assert_int_equal(setenv("ZA_TEST_EMPTY", "", 1), 0);
	assert_int_equal(unsetenv("ZA_TEST_UNSET"), 0);
	return 0;
}

static int group_teardown(void **state) {
	store = secrets_free(store);
	rm_rf(root);
	return 0;
}

/* Resolve the pairs k0, v0, k1, v1, ... of service "web". */
static int resolve(struct secrets *s, char ***ret, struct za_error **reterr, size_t n, const char *const *pairs) {
	struct spec_kv kv[16] = {};
	struct spec_service svc = { .name = (char *)"web", .env = kv, .n_env = n };

	assert_true(n <= ELEMENTSOF(kv));
	for (size_t i = 0; i < n; i++)
		kv[i] = (struct spec_kv){ .key = (char *)pairs[2 * i], .value = (char *)pairs[2 * i + 1] };
	return service_env_resolve(&svc, s, ret, reterr);
}

#define RESOLVE(s, ret, err, ...)                                                          \
	resolve((s), (ret), (err), ELEMENTSOF(((const char *const[]){ __VA_ARGS__ })) / 2, \
	        (const char *const[]){ __VA_ARGS__ })

static void assert_env(char **env, size_t n, const char *const *want) {
	assert_non_null(env);
	assert_int_equal(strv_length(env), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(env[i], want[i]);
}

#define ASSERT_ENV(env, ...) \
	assert_env((env), ELEMENTSOF(((const char *const[]){ __VA_ARGS__ })), (const char *const[]){ __VA_ARGS__ })

static void assert_fails(const char *key, const char *value, enum za_error_kind kind, const char *message) {
	_cleanup_za_error_ struct za_error *err = NULL;
	char **env = (char **)0x1;

	assert_true(RESOLVE(store, &env, &err, "FIRST", "ok", key, value) < 0);
	assert_ptr_equal(env, (char **)0x1); /* untouched */
	assert_non_null(err);
	assert_int_equal(err->kind, kind);
	assert_string_equal(err->message, message);
}

static void test_literals_and_order(void **state) {
	_cleanup_strv_free_ char **env = NULL;

	assert_int_equal(
	        RESOLVE(store, &env, NULL, "Z", "last letter", "A", "", "M", "cost $5 ${HOME} $HOME", "EQ", "a=b=c"),
	        0);
	ASSERT_ENV(env, "Z=last letter", "A=", "M=cost $5 ${HOME} $HOME", "EQ=a=b=c");
}

static void test_empty(void **state) {
	_cleanup_strv_free_ char **env = NULL;

	assert_int_equal(resolve(store, &env, NULL, 0, NULL), 0);
	assert_non_null(env);
	assert_null(env[0]);
}

static void test_agent_env(void **state) {
	_cleanup_strv_free_ char **env = NULL;

	assert_int_equal(RESOLVE(store, &env, NULL, "PW", "$E:ZA_TEST_PW", "E", "$E:ZA_TEST_EMPTY", "URL",
	                         "postgres://u:${E:ZA_TEST_PW}@db/x"),
	                 0);
	ASSERT_ENV(env, "PW=from env", "E=", "URL=postgres://u:from env@db/x");

	assert_fails("PW", "$E:ZA_TEST_UNSET", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'PW': environment variable 'ZA_TEST_UNSET' is not set in the agent's "
	             "environment");
	assert_fails("URL", "x${E:ZA_TEST_UNSET}y", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'URL': environment variable 'ZA_TEST_UNSET' is not set in the agent's "
	             "environment");
}

static void test_secret_whole(void **state) {
	_cleanup_strv_free_ char **env = NULL;

	assert_int_equal(RESOLVE(store, &env, NULL, "DB", "$S:db", "E", "$S:empty", "IN", "pw=${S:db}!"), 0);
	ASSERT_ENV(env, "DB=hunter2\n", "E=", "IN=pw=hunter2\n!");

	assert_fails("DB_URL", "$S:nope", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'DB_URL': secret 'nope' is not set (set it with 'zlayer-agent secret set "
	             "nope')");
	assert_fails("DB_URL", "postgres://${S:nope/password}@db", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'DB_URL': secret 'nope' is not set (set it with 'zlayer-agent secret set "
	             "nope')");
	assert_fails("N", "$S:nul", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'N': secret 'nul' contains a NUL byte, which an environment variable cannot "
	             "hold");
}

static void test_secret_field(void **state) {
	_cleanup_strv_free_ char **env = NULL;

	assert_int_equal(RESOLVE(store, &env, NULL, "P", "$S:dbjson/password", "PORT", "$S:dbjson/port", "R",
	                         "$S:dbjson/ratio", "B", "$S:dbjson/big", "T", "$S:dbjson/tls", "D", "$S:dbjson/debug",
	                         "E", "$S:dbjson/empty", "URL",
	                         "postgres://u:${S:dbjson/password}@db:${S:dbjson/port}"),
	                 0);
	ASSERT_ENV(env, "P=p@ss w0rd", "PORT=5432", "R=0.1", "B=1e300", "T=true", "D=false",
	           "E=", "URL=postgres://u:p@ss w0rd@db:5432");

	assert_fails("X", "$S:dbjson/password2", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'X': secret 'dbjson' has no field 'password2'");
	assert_fails("X", "$S:db/password", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'X': secret 'db' is not a JSON object, so it has no field 'password'");
	assert_fails("X", "$S:arr/0", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'X': secret 'arr' is not a JSON object, so it has no field '0'");
	assert_fails("X", "$S:empty/a", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'X': secret 'empty' is not a JSON object, so it has no field 'a'");
	assert_fails("X", "$S:dbjson/nested", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'X': field 'nested' of secret 'dbjson' is an object; only strings, numbers "
	             "and booleans can be environment values");
	assert_fails("X", "$S:dbjson/list", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'X': field 'list' of secret 'dbjson' is an array; only strings, numbers "
	             "and booleans can be environment values");
	assert_fails("X", "$S:dbjson/nothing", ZA_ERROR_CONFIGURATION,
	             "service 'web': env 'X': field 'nothing' of secret 'dbjson' is null; only strings, numbers and "
	             "booleans can be environment values");
}

static void test_escapes(void **state) {
	_cleanup_strv_free_ char **env = NULL;

	assert_int_equal(RESOLVE(store, &env, NULL, "L", "a$${E:ZA_TEST_UNSET}b", "M", "$${S:nope}${E:ZA_TEST_PW}"), 0);
	ASSERT_ENV(env, "L=a${E:ZA_TEST_UNSET}b", "M=${S:nope}from env");
}

static void test_no_store(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_strv_free_ char **env = NULL;

	assert_int_equal(RESOLVE(NULL, &env, NULL, "PW", "$E:ZA_TEST_PW"), 0);
	ASSERT_ENV(env, "PW=from env");
	assert_int_equal(RESOLVE(NULL, &env, &err, "DB", "$S:db"), -ENOENT);
	assert_string_equal(
	        err->message,
	        "service 'web': env 'DB': secret 'db' is not set (set it with 'zlayer-agent secret set db')");
}

static void test_unvalidated_spec(void **state) {
	/* validation normally catches these; resolution still names the key */
	assert_fails("V", "$E:1BAD", ZA_ERROR_INVALID_SPEC,
	             "service 'web': env 'V': invalid environment variable name '1BAD' in '$E:1BAD' (expected "
	             "[A-Za-z_][A-Za-z0-9_]*)");
	assert_fails("V", "x${S:db", ZA_ERROR_INVALID_SPEC,
	             "service 'web': env 'V': unterminated reference '${S:db' in 'x${S:db' (missing '}')");
}

static void test_null_reterr(void **state) {
	char **env = NULL;

	assert_int_equal(RESOLVE(store, &env, NULL, "X", "$S:nope"), -ENOENT);
	assert_null(env);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals_and_order), cmocka_unit_test(test_empty),
		cmocka_unit_test(test_agent_env),          cmocka_unit_test(test_secret_whole),
		cmocka_unit_test(test_secret_field),       cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_no_store),           cmocka_unit_test(test_unvalidated_spec),
		cmocka_unit_test(test_null_reterr),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
