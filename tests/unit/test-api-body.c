/* SPDX-License-Identifier: Apache-2.0 */
/* Request-body schemas (api-body.h): every way a body can be wrong gives
 * an invalid_spec error whose message names the field by its full path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "api/api-body.h"
#include "basic/alloc.h"

static json_t *load(const char *text) {
	json_error_t e;
	json_t *j = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, e.text);
	return j;
}

/* body against fields: ok when want is NULL, else an error with exactly want. */
static void expect(const struct api_body_field *fields, const char *body, const char *want) {
	json_t *j = body ? load(body) : NULL;
	struct za_error *err = NULL;
	int r = api_body_check(j, fields, &err);

	if (!want) {
		if (r < 0)
			fail_msg("%s: unexpected error '%s'", body, err->message);
		assert_null(err);
	} else {
		if (r >= 0)
			fail_msg("%s: accepted, want '%s'", body, want);
		assert_int_equal(r, -EINVAL);
		assert_non_null(err);
		assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
		if (!streq(err->message, want))
			fail_msg("%s: got '%s', want '%s'", body, err->message, want);
	}
	za_error_free(err);
	json_decref(j);
}

static const struct api_body_field pull_body[] = {
	{ "reference", API_JSON_STRING, .required = true, .max = 64 },
	{ "platform", API_JSON_STRING },
	{},
};

static void test_flat(void **state) {
	expect(pull_body, "{\"reference\": \"busybox\"}", NULL);
	expect(pull_body, "{\"reference\": \"busybox\", \"platform\": \"linux/amd64\"}", NULL);
	expect(pull_body, "{\"reference\": \"busybox\", \"platform\": null}", NULL);
	expect(pull_body, "{\"reference\": \"a\", \"foo\": 1}", "request body: unknown field 'foo'");
	expect(pull_body, "{\"reference\": 5}", "request body: field 'reference' must be a string, not an integer");
	expect(pull_body, "{\"reference\": 1.5}", "request body: field 'reference' must be a string, not a number");
	expect(pull_body, "{\"reference\": true}", "request body: field 'reference' must be a string, not a boolean");
	expect(pull_body, "{\"reference\": []}", "request body: field 'reference' must be a string, not an array");
	expect(pull_body, "{\"reference\": {}}", "request body: field 'reference' must be a string, not an object");
	expect(pull_body, "{}", "request body: field 'reference' is required");
	expect(pull_body, NULL, "request body: field 'reference' is required");
	/* null is absent */
	expect(pull_body, "{\"reference\": null}", "request body: field 'reference' is required");
	expect(pull_body, "{\"reference\": \"0123456789012345678901234567890123456789012345678901234567890123x\"}",
	       "request body: field 'reference' is longer than 64 bytes");
	expect(pull_body, "{\"reference\": \"a\\u0000b\"}", "request body: field 'reference' contains a NUL byte");
	expect(pull_body, "[]", "request body must be a JSON object, not an array");
	expect(pull_body, "\"x\"", "request body must be a JSON object, not a string");
}

static const char *const policies[] = { "missing", "always", "never", NULL };

static const struct api_body_field choice_body[] = {
	{ "pull", API_JSON_STRING, .choices = policies },
	{ "tags", API_JSON_ARRAY, .items = API_JSON_STRING, .choices = policies },
	{ "n", API_JSON_NUMBER | API_JSON_STRING },
	{ "flag", API_JSON_BOOLEAN },
	{ "any", API_JSON_ANY },
	{},
};

static void test_choices_and_types(void **state) {
	expect(choice_body, "{\"pull\": \"never\", \"tags\": [\"always\"], \"n\": 1.5, \"flag\": false, \"any\": [{}]}",
	       NULL);
	expect(choice_body, "{\"n\": \"12\"}", NULL);
	expect(choice_body, "{\"pull\": \"sometimes\"}",
	       "request body: field 'pull' must be one of missing, always, never, not 'sometimes'");
	expect(choice_body, "{\"tags\": [\"never\", \"x\"]}",
	       "request body: field 'tags[1]' must be one of missing, always, never, not 'x'");
	expect(choice_body, "{\"n\": true}", "request body: field 'n' must be a string or a number, not a boolean");
	expect(choice_body, "{\"flag\": \"yes\"}", "request body: field 'flag' must be a boolean, not a string");
	expect(choice_body, "{\"any\": null, \"flag\": null}", NULL);
	/* a long bad value is cut in the message, at a character boundary */
	expect(choice_body,
	       "{\"pull\": \"0123456789012345678901234567890123456789012345678901234567890\\u00e9\\u00e9\\u00e9\"}",
	       "request body: field 'pull' must be one of missing, always, never, not "
	       "'0123456789012345678901234567890123456789012345678901234567890\xc3\xa9...'");
}

static const struct api_body_field exec_body[] = {
	{ "argv", API_JSON_ARRAY, .required = true, .items = API_JSON_STRING, .max = 3 },
	{ "tty", API_JSON_BOOLEAN },
	{},
};

static void test_arrays(void **state) {
	expect(exec_body, "{\"argv\": [\"ls\", \"-l\"]}", NULL);
	expect(exec_body, "{\"argv\": []}", NULL);
	expect(exec_body, "{\"argv\": [\"a\", \"b\", 3]}",
	       "request body: field 'argv[2]' must be a string, not an integer");
	expect(exec_body, "{\"argv\": [null]}", "request body: field 'argv[0]' must be a string, not null");
	expect(exec_body, "{\"argv\": [\"a\", \"b\\u0000\"]}", "request body: field 'argv[1]' contains a NUL byte");
	expect(exec_body, "{\"argv\": [\"a\", \"b\", \"c\", \"d\"]}",
	       "request body: field 'argv' has more than 3 entries");
	expect(exec_body, "{\"argv\": \"ls\"}", "request body: field 'argv' must be an array, not a string");
	expect(exec_body, "{\"tty\": true}", "request body: field 'argv' is required");
}

static const struct api_body_field resources_fields[] = {
	{ "memory", API_JSON_INTEGER | API_JSON_STRING },
	{ "cpu", API_JSON_NUMBER },
	{},
};

static const struct api_body_field mount_fields[] = {
	{ "target", API_JSON_STRING, .required = true },
	{ "readonly", API_JSON_BOOLEAN },
	{},
};

static const struct api_body_field config_fields[] = {
	{ "image", API_JSON_STRING, .required = true },
	{ "env", API_JSON_ARRAY, .items = API_JSON_STRING },
	{ "resources", API_JSON_OBJECT, .fields = resources_fields },
	{ "mounts", API_JSON_ARRAY, .items = API_JSON_OBJECT, .fields = mount_fields },
	{ "labels", API_JSON_OBJECT, .max = 2 },
	{},
};

static const struct api_body_field create_body[] = {
	{ "config", API_JSON_OBJECT, .required = true, .fields = config_fields },
	{},
};

static void test_nested(void **state) {
	expect(create_body,
	       "{\"config\": {\"image\": \"a\", \"env\": [\"A=1\"], \"resources\": {\"memory\": \"1Gi\", \"cpu\": 1},"
	       " \"mounts\": [{\"target\": \"/x\", \"readonly\": true}], \"labels\": {\"a\": 1}}}",
	       NULL);
	expect(create_body, "{\"config\": {\"image\": \"a\", \"env\": [\"A=1\", \"B=2\", 3]}}",
	       "request body: field 'config.env[2]' must be a string, not an integer");
	expect(create_body, "{\"config\": {\"image\": \"a\", \"resources\": {\"memory\": []}}}",
	       "request body: field 'config.resources.memory' must be a string or an integer, not an array");
	expect(create_body, "{\"config\": {\"image\": \"a\", \"resources\": {\"gpu\": 1}}}",
	       "request body: unknown field 'config.resources.gpu'");
	expect(create_body,
	       "{\"config\": {\"image\": \"a\", \"mounts\": [{\"target\": \"/x\"}, {\"readonly\": true}]}}",
	       "request body: field 'config.mounts[1].target' is required");
	expect(create_body, "{\"config\": {\"image\": \"a\", \"mounts\": [{\"target\": \"/x\", \"rw\": 1}]}}",
	       "request body: unknown field 'config.mounts[0].rw'");
	expect(create_body, "{\"config\": {\"image\": \"a\", \"mounts\": [\"/x\"]}}",
	       "request body: field 'config.mounts[0]' must be an object, not a string");
	expect(create_body, "{\"config\": {\"image\": \"a\", \"labels\": {\"a\": 1, \"b\": 2, \"c\": 3}}}",
	       "request body: field 'config.labels' has more than 2 entries");
	expect(create_body, "{\"config\": {}}", "request body: field 'config.image' is required");
	expect(create_body, "{\"config\": []}", "request body: field 'config' must be an object, not an array");
	expect(create_body, "{\"pull\": \"never\"}", "request body: unknown field 'pull'");
}

/* A table that names itself: nesting stops at API_BODY_DEPTH_MAX. */
static const struct api_body_field tree_fields[] = {
	{ "child", API_JSON_OBJECT | API_JSON_ARRAY, .items = API_JSON_OBJECT, .fields = tree_fields },
	{},
};

static void test_depth(void **state) {
	struct za_error *err = NULL;
	json_t *j;

	/* 16 levels below the body are fine, 17 are not */
	for (int depth = 16; depth <= 17; depth++) {
		json_t *leaf = json_object();
		for (int i = 0; i < depth; i++) {
			json_t *up = json_object();
			json_object_set_new(up, "child", leaf);
			leaf = up;
		}
		j = leaf;
		if (depth == 16)
			assert_int_equal(api_body_check(j, tree_fields, NULL), 0);
		else {
			assert_int_equal(api_body_check(j, tree_fields, &err), -EINVAL);
			assert_non_null(strstr(err->message, "is nested more than 16 levels deep"));
			assert_true(strneq(err->message, "request body: field 'child.child.", 33));
			err = za_error_free(err);
		}
		json_decref(j);
	}
	/* arrays count as levels too */
	j = load("{\"child\": [{\"child\": [{\"child\": {}}]}]}");
	assert_int_equal(api_body_check(j, tree_fields, NULL), 0);
	json_decref(j);
}

static void test_long_key(void **state) {
	char key[200];
	json_t *j = json_object();
	struct za_error *err = NULL;

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	json_object_set_new(j, key, json_true());
	assert_int_equal(api_body_check(j, pull_body, &err), -EINVAL);
	/* quoted names are cut: a client may send a key of a megabyte */
	assert_true(strlen(err->message) < 120);
	assert_non_null(strstr(err->message, "...'"));
	za_error_free(err);
	json_decref(j);
}

static void test_at_path(void **state) {
	json_t *j = load("{\"memory\": true}");
	struct za_error *err = NULL;

	assert_int_equal(api_body_check_at(j, "config.resources", resources_fields, &err), -EINVAL);
	assert_string_equal(
	        err->message,
	        "request body: field 'config.resources.memory' must be a string or an integer, not a boolean");
	err = za_error_free(err);
	json_decref(j);
	j = json_integer(3);
	assert_int_equal(api_body_check_at(j, "config.resources", resources_fields, &err), -EINVAL);
	assert_string_equal(err->message, "request body: field 'config.resources' must be an object, not an integer");
	za_error_free(err);
	json_decref(j);
}

static void test_helpers(void **state) {
	json_t *j = load("{\"s\": \"x\", \"i\": 1, \"r\": 0.5, \"b\": false, \"o\": {}, \"a\": [], \"n\": null}");

	assert_string_equal(api_json_type_name(json_object_get(j, "s")), "a string");
	assert_string_equal(api_json_type_name(json_object_get(j, "i")), "an integer");
	assert_string_equal(api_json_type_name(json_object_get(j, "r")), "a number");
	assert_string_equal(api_json_type_name(json_object_get(j, "b")), "a boolean");
	assert_string_equal(api_json_type_name(json_object_get(j, "o")), "an object");
	assert_string_equal(api_json_type_name(json_object_get(j, "a")), "an array");
	assert_string_equal(api_json_type_name(json_object_get(j, "n")), "null");
	assert_string_equal(api_json_type_name(NULL), "nothing");
	assert_string_equal(api_body_string(j, "s"), "x");
	assert_null(api_body_string(j, "i"));
	assert_null(api_body_string(j, "missing"));
	assert_null(api_body_string(NULL, "s"));
	json_decref(j);
}

/* route_to_peer errors carry the OS they need (error.h), also through a wrap. */
static void test_required_os(void **state) {
	struct za_error *err = NULL;

	assert_int_equal(za_error_set_required_os(&err, "windows"), -EIO);
	assert_null(err);
	za_error_make(&err, ZA_ERROR_ROUTE_TO_PEER, ENOEXEC, "the image is for os 'windows'");
	assert_int_equal(za_error_set_required_os(&err, "windows"), -ENOEXEC);
	assert_int_equal(za_error_set_required_os(&err, "windows"), -ENOEXEC); /* replaces, no leak */
	za_error_wrap(&err, "pull '%s'", "x");
	assert_string_equal(err->required_os, "windows");
	assert_string_equal(err->message, "pull 'x': the image is for os 'windows'");
	err = za_error_free(err);

	za_error_make(&err, ZA_ERROR_WRONG_PLATFORM, ENOENT, "no arm64");
	za_error_set_required_os(&err, "windows");
	assert_null(err->required_os);
	za_error_free(err);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flat),        cmocka_unit_test(test_choices_and_types),
		cmocka_unit_test(test_arrays),      cmocka_unit_test(test_nested),
		cmocka_unit_test(test_depth),       cmocka_unit_test(test_long_key),
		cmocka_unit_test(test_at_path),     cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_required_os),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
