/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "basic/error.h"
#include "basic/log.h"

static int fail_with_enoent(struct za_error **reterr) {
	return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "image 'busybox:1' not found: %m");
}

static void test_make_and_wrap(void **state) {
	_cleanup_za_error_ struct za_error *e = NULL;
	_cleanup_free_ char *s = NULL;

	assert_int_equal(fail_with_enoent(&e), -ENOENT);
	assert_non_null(e);
	assert_int_equal(e->kind, ZA_ERROR_NOT_FOUND);
	assert_int_equal(e->code, ENOENT);
	assert_string_equal(e->message, "image 'busybox:1' not found: No such file or directory");
	assert_int_equal(za_error_wrap(&e, "pull '%s'", "busybox:1"), -ENOENT);
	assert_string_equal(e->message, "pull 'busybox:1': image 'busybox:1' not found: No such file or directory");
	s = za_error_format(e);
	assert_string_equal(s, "not-found: pull 'busybox:1': image 'busybox:1' not found: No such file or directory");
}

static void test_first_error_wins(void **state) {
	_cleanup_za_error_ struct za_error *e = NULL;

	assert_int_equal(za_error_make(&e, ZA_ERROR_TIMEOUT, -ETIMEDOUT, "first"), -ETIMEDOUT);
	assert_int_equal(za_error_make(&e, ZA_ERROR_INTERNAL, EIO, "second"), -EIO);
	assert_string_equal(e->message, "first");
	/* no error object wanted */
	assert_int_equal(za_error_make(NULL, ZA_ERROR_INTERNAL, EPERM, "x"), -EPERM);
	/* a zero code still fails */
	assert_int_equal(za_error_make(NULL, ZA_ERROR_INTERNAL, 0, "x"), -EIO);
	assert_int_equal(za_error_wrap(NULL, "x"), -EIO);
}

static void test_route_to_peer_format(void **state) {
	_cleanup_za_error_ struct za_error *e = NULL;
	_cleanup_free_ char *s = NULL;

	za_error_make(&e, ZA_ERROR_ROUTE_TO_PEER, EREMOTE, "service 'web' requires OS 'windows' on another node");
	s = za_error_format(e);
	assert_string_equal(s, "route-to-peer: service 'web' requires OS 'windows' on another node");
	assert_int_equal(za_error_kind_http_status(e->kind), 409);
}

static void test_kind_table(void **state) {
	for (int k = 0; k < _ZA_ERROR_KIND_MAX; k++) {
		const char *name = za_error_kind_to_string(k);
		int status = za_error_kind_http_status(k);

		assert_non_null(name);
		assert_non_null(za_error_kind_to_label(k));
		assert_int_equal(za_error_kind_from_string(name), k);
		assert_true(status >= 400 && status <= 599);
	}
	assert_int_equal(za_error_kind_from_string("nope"), _ZA_ERROR_KIND_INVALID);
	assert_null(za_error_kind_to_string(_ZA_ERROR_KIND_MAX));
	assert_int_equal(za_error_kind_http_status(ZA_ERROR_NOT_FOUND), 404);
	assert_int_equal(za_error_kind_http_status(ZA_ERROR_UNSUPPORTED), 501);
	assert_int_equal(za_error_kind_http_status(ZA_ERROR_INVALID_SPEC), 400);
	assert_string_equal(za_error_kind_to_string(ZA_ERROR_GPU_SHARING_UNAVAILABLE), "gpu_sharing_unavailable");
	assert_int_equal(za_error_kind_from_string("unauthorized"), ZA_ERROR_UNAUTHORIZED);
	assert_string_equal(za_error_kind_to_label(ZA_ERROR_UNAUTHORIZED), "unauthorized");
	assert_int_equal(za_error_kind_http_status(ZA_ERROR_UNAUTHORIZED), 401);
}

static void test_log_levels(void **state) {
	assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
	assert_int_equal(log_level_from_string("warn"), LOG_WARNING);
	assert_int_equal(log_level_from_string("loud"), -EINVAL);
	assert_string_equal(log_level_to_string(LOG_ERR), "error");
	assert_int_equal(log_format_from_string("json"), LOG_FORMAT_JSON);
	assert_int_equal(log_format_from_string("xml"), _LOG_FORMAT_INVALID);
	log_set_max_level(LOG_ERR);
	/* returns -errno, whether or not it prints */
	assert_int_equal(log_debug_errno(EPERM, "hidden"), -EPERM);
	assert_int_equal(log_full_errno(LOG_DEBUG, -EPERM, "hidden"), -EPERM);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_and_wrap),        cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_route_to_peer_format), cmocka_unit_test(test_kind_table),
		cmocka_unit_test(test_log_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
