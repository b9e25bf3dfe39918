/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/base64.h"
#include "image/auth-config.h"

static char *tmpdir;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	return remove(path);
}

static int setup(void **state) {
	char t[] = "/tmp/test-auth-config-XXXXXX";

	assert_non_null(mkdtemp(t));
	tmpdir = xstrdup(t);
	return 0;
}

static int teardown(void **state) {
	(void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(tmpdir);
	return 0;
}

/* Write `json` to a fresh file and return its path. */
static char *write_config(const char *name, const char *json) {
	char *path = xasprintf("%s/%s", tmpdir, name);

	assert_int_equal(write_file_atomic(path, json, strlen(json), 0600), 0);
	return path;
}

static void lookup_ok(const char *path, const char *domain, const char *user, const char *pass, const char *token) {
	_cleanup_(registry_credentials_release) struct registry_credentials c = {};
	_cleanup_za_error_ struct za_error *err = NULL;

	assert_int_equal(auth_config_lookup(path, domain, &c, &err), 0);
	assert_null(err);
	if (user) {
		assert_string_equal(c.username, user);
		assert_string_equal(c.password, pass);
	} else {
		assert_null(c.username);
		assert_null(c.password);
	}
	if (token)
		assert_string_equal(c.identity_token, token);
	else
		assert_null(c.identity_token);
}

static void lookup_absent(const char *path, const char *domain) {
	struct registry_credentials c = {};
	_cleanup_za_error_ struct za_error *err = NULL;

	assert_int_equal(auth_config_lookup(path, domain, &c, &err), -ENOENT);
	assert_null(err);
	assert_null(c.username);
}

static void lookup_bad(const char *path, const char *domain, const char *message) {
	struct registry_credentials c = {};
	_cleanup_za_error_ struct za_error *err = NULL;

	assert_int_equal(auth_config_lookup(path, domain, &c, &err), -EINVAL);
	assert_non_null(err);
	assert_int_equal(err->kind, ZA_ERROR_CONFIGURATION);
	assert_string_equal(err->message, message);
	assert_null(c.username);
}

static void test_base64(void **state) {
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "", "" },
		{ "YQ==", "a" },
		{ "YQ", "a" },
		{ "YWI=", "ab" },
		{ "YWJj", "abc" },
		{ "YWxpY2U6czNjcmV0", "alice:s3cret" },
		{ "Pz8/Pw==", "????" },
		{ "+/+/", "\xfb\xff\xbf" },
	};
	static const char *const bad[] = { "Y", "YQ=", "YQ===", "Y Q==", "YR==", "YW-j", "=YWJj", "YWJj=" };

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		_cleanup_free_ char *out = NULL;
		size_t len;

		assert_int_equal(base64_decode(ok[i].in, strlen(ok[i].in), &out, &len), 0);
		assert_int_equal(len, strlen(ok[i].out));
		assert_memory_equal(out, ok[i].out, len);
		assert_int_equal(out[len], '\0');
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *out = NULL;
		assert_int_equal(base64_decode(bad[i], strlen(bad[i]), &out, NULL), -EINVAL);
		assert_null(out);
	}
}

static void test_forms(void **state) {
	_cleanup_free_ char *p = write_config(
	        "forms.json",
	        "{\"auths\": {"
	        /* base64 user:pass, the password may hold a colon */
	        "\"127.0.0.1:5000\": {\"auth\": \"YWxpY2U6czNjOnJldA==\"},"
	        "\"registry.example.com\": {\"username\": \"bob\", \"password\": \"pw\"},"
	        "\"token.example.com\": {\"identitytoken\": \"refresh-123\"},"
	        "\"both.example.com\": {\"auth\": \"Y2Fyb2w6\", \"identitytoken\": \"idt\"},"
	        /* auth wins over username/password, as in Docker */
	        "\"mixed.example.com\": {\"auth\": \"ZGF2ZTpwMQ==\", \"username\": \"x\", \"password\": \"y\"},"
	        "\"nopass.example.com\": {\"username\": \"erin\"},"
	        "\"empty.example.com\": {},"
	        "\"emptyauth.example.com\": {\"auth\": \"\", \"email\": \"a@b\"},"
	        "\"null.example.com\": {\"auth\": null}"
	        "}, \"credsStore\": \"desktop\"}");

	lookup_ok(p, "127.0.0.1:5000", "alice", "s3c:ret", NULL);
	lookup_ok(p, "registry.example.com", "bob", "pw", NULL);
	lookup_ok(p, "token.example.com", NULL, NULL, "refresh-123");
	lookup_ok(p, "both.example.com", "carol", "", "idt");
	lookup_ok(p, "mixed.example.com", "dave", "p1", NULL);
	lookup_ok(p, "nopass.example.com", "erin", "", NULL);
	lookup_absent(p, "empty.example.com");
	lookup_absent(p, "emptyauth.example.com");
	lookup_absent(p, "null.example.com");
	lookup_absent(p, "other.example.com");
	/* the port is part of the name */
	lookup_absent(p, "127.0.0.1");
	lookup_absent(p, "127.0.0.1:5001");
}

static void test_key_spellings(void **state) {
	_cleanup_free_ char *p =
	        write_config("keys.json", "{\"auths\": {"
	                                  "\"https://Registry.Example.com:5000/v2/\": {\"auth\": \"dTE6cDE=\"},"
	                                  "\"http://plain.example.com\": {\"auth\": \"dTI6cDI=\"},"
	                                  "\"https://ghcr.io\": {\"auth\": \"dTM6cDM=\"},"
	                                  "\"localhost:5000\": {\"auth\": \"dTQ6cDQ=\"},"
	                                  "\"[::1]:5000\": {\"auth\": \"dTU6cDU=\"}"
	                                  "}}");

	lookup_ok(p, "registry.example.com:5000", "u1", "p1", NULL);
	lookup_ok(p, "REGISTRY.example.COM:5000", "u1", "p1", NULL);
	lookup_absent(p, "registry.example.com");
	lookup_ok(p, "plain.example.com", "u2", "p2", NULL);
	lookup_ok(p, "ghcr.io", "u3", "p3", NULL);
	lookup_ok(p, "localhost:5000", "u4", "p4", NULL);
	lookup_ok(p, "[::1]:5000", "u5", "p5", NULL);
	lookup_absent(p, "docker.io");
}

static void test_docker_hub(void **state) {
	static const char *const keys[] = {
		"https://index.docker.io/v1/",
		"index.docker.io",
		"docker.io",
		"registry-1.docker.io",
		"https://index.docker.io/v1",
		"https://registry-1.docker.io/v2/",
	};

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		_cleanup_free_ char *json = xasprintf("{\"auths\": {\"ghcr.io\": {\"auth\": \"eDp5\"}, \"%s\": "
		                                      "{\"auth\": \"aHViOnNlY3JldA==\"}}}",
		                                      keys[i]);
		_cleanup_free_ char *p = write_config("hub.json", json);

		lookup_ok(p, "docker.io", "hub", "secret", NULL);
		lookup_absent(p, "quay.io");
	}

	/* Docker's canonical key wins over an alias listed first */
	_cleanup_free_ char *p = write_config("hub2.json", "{\"auths\": {"
	                                                   "\"registry-1.docker.io\": {\"auth\": \"YTpi\"},"
	                                                   "\"https://index.docker.io/v1/\": {\"auth\": \"Yzpk\"}"
	                                                   "}}");
	lookup_ok(p, "docker.io", "c", "d", NULL);
	/* the hub aliases are not other registries' keys */
	lookup_absent(p, "registry-2.docker.io");
}

static void test_absent(void **state) {
	_cleanup_free_ char *missing = xasprintf("%s/does-not-exist.json", tmpdir);
	_cleanup_free_ char *under_file = NULL, *noauths = NULL, *nullauths = NULL;

	lookup_absent(missing, "docker.io");
	noauths = write_config("noauths.json", "{\"credsStore\": \"desktop\"}");
	lookup_absent(noauths, "docker.io");
	nullauths = write_config("nullauths.json", "{\"auths\": null}");
	lookup_absent(nullauths, "docker.io");
	under_file = xasprintf("%s/config.json", noauths);
	lookup_absent(under_file, "docker.io");
}

static void test_malformed(void **state) {
	static const struct {
		const char *json, *message;
	} bad[] = {
		{ "{\"auths\": {", "line 1 column 11: string or '}' expected near end of file" },
		{ "{\"auths\": {}} trailing", "line 1 column 22: end of file expected near 'trailing'" },
		{ "", "line 1 column 0: '[' or '{' expected near end of file" },
		{ "[]", "the top level is not a JSON object" },
		{ "{\"auths\": []}", "'auths' is not a JSON object" },
		{ "{\"auths\": {\"h\": 1}}", "auths entry 'h' is not a JSON object" },
		{ "{\"auths\": {\"h\": {\"auth\": 1}}}", "auths entry 'h' field 'auth' is not a string" },
		{ "{\"auths\": {\"h\": {\"auth\": \"%%%\"}}}", "auths entry 'h' field 'auth' is not valid base64" },
		{ "{\"auths\": {\"h\": {\"auth\": \"bm9jb2xvbg==\"}}}",
		  "auths entry 'h' field 'auth' does not decode to 'username:password'" },
		{ "{\"auths\": {\"h\": {\"auth\": \"OnB3\"}}}", "auths entry 'h' field 'auth' has an empty username" },
		{ "{\"auths\": {\"h\": {\"auth\": \"YQBiOmM=\"}}}",
		  "auths entry 'h' field 'auth' decodes to data with a NUL character" },
		{ "{\"auths\": {\"h\": {\"password\": \"x\"}}}", "auths entry 'h' has a password but no username" },
		{ "{\"auths\": {\"h\": {\"username\": [\"x\"]}}}", "auths entry 'h' field 'username' is not a string" },
		{ "{\"auths\": {\"h\": {\"username\": \"a\\u0000b\"}}}",
		  "line 1 column 39: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"'" },
		{ "{\"auths\": {\"h\": {}, \"h\": {}}}", "line 1 column 23: duplicate object key near '\"h\"'" },
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_free_ char *p = write_config("bad.json", bad[i].json);
		_cleanup_free_ char *want = xasprintf("invalid registry credentials file '%s': %s", p, bad[i].message);

		lookup_bad(p, "h", want);
	}

	/* a bad entry for another registry does not matter */
	{
		_cleanup_free_ char *p =
		        write_config("other.json", "{\"auths\": {\"h\": {\"auth\": 1}, \"g\": {\"auth\": \"YTpi\"}}}");
		lookup_ok(p, "g", "a", "b", NULL);
	}
	/* a directory is unreadable */
	{
		struct registry_credentials c = {};
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *want =
		        xasprintf("cannot read registry credentials file '%s': Is a directory", tmpdir);

		assert_int_equal(auth_config_lookup(tmpdir, "h", &c, &err), -EISDIR);
		assert_string_equal(err->message, want);
	}
}

static void test_default_path(void **state) {
	_cleanup_free_ char *dc = xasprintf("%s/dc", tmpdir), *home = xasprintf("%s/home", tmpdir);
	_cleanup_free_ char *homedocker = xasprintf("%s/.docker", home);
	_cleanup_free_ char *dcfile = xasprintf("%s/config.json", dc);
	_cleanup_free_ char *homefile = xasprintf("%s/config.json", homedocker);
	_cleanup_free_ char *saved_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	_cleanup_free_ char *saved_dc = getenv("DOCKER_CONFIG") ? xstrdup(getenv("DOCKER_CONFIG")) : NULL;
	static const char json_dc[] = "{\"auths\": {\"r.example\": {\"auth\": \"ZGM6MQ==\"}}}";
	static const char json_home[] = "{\"auths\": {\"r.example\": {\"auth\": \"aG9tZToy\"}}}";

	assert_int_equal(mkdir_p(dc, 0700), 0);
	assert_int_equal(mkdir_p(homedocker, 0700), 0);
	assert_int_equal(write_file_atomic(dcfile, json_dc, strlen(json_dc), 0600), 0);
	assert_int_equal(write_file_atomic(homefile, json_home, strlen(json_home), 0600), 0);

	/* $DOCKER_CONFIG wins over $HOME */
	setenv("HOME", home, 1);
	setenv("DOCKER_CONFIG", dc, 1);
	lookup_ok(NULL, "r.example", "dc", "1", NULL);
	/* an empty DOCKER_CONFIG counts as unset */
	setenv("DOCKER_CONFIG", "", 1);
	lookup_ok(NULL, "r.example", "home", "2", NULL);
	unsetenv("DOCKER_CONFIG");
	lookup_ok(NULL, "r.example", "home", "2", NULL);
	/* nothing to look at */
	unsetenv("HOME");
	lookup_absent(NULL, "r.example");
	/* DOCKER_CONFIG pointing nowhere: absent, not an error */
	setenv("DOCKER_CONFIG", "/nonexistent/zlayer-test", 1);
	lookup_absent(NULL, "r.example");

	if (saved_home)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
	if (saved_dc)
		setenv("DOCKER_CONFIG", saved_dc, 1);
	else
		unsetenv("DOCKER_CONFIG");
}

static void test_release(void **state) {
	struct registry_credentials c = { .username = xstrdup("u"), .password = xstrdup("p") };

	registry_credentials_release(&c);
	assert_null(c.username);
	assert_null(c.password);
	registry_credentials_release(&c);
	registry_credentials_release(NULL);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),        cmocka_unit_test(test_forms),
		cmocka_unit_test(test_key_spellings), cmocka_unit_test(test_docker_hub),
		cmocka_unit_test(test_absent),        cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_default_path),  cmocka_unit_test(test_release),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
