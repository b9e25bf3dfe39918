/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "basic/base64.h"
#include "basic/macro.h"

static void check(const char *plain, size_t len, const char *encoded) {
	_cleanup_free_ char *e = base64_encode(plain, len), *d = NULL;
	size_t n = 99;

	assert_string_equal(e, encoded);
	assert_int_equal(base64_decode(encoded, strlen(encoded), &d, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(d, plain, len);
	assert_int_equal(d[n], '\0');
}

static void test_rfc4648_vectors(void **state) {
	check("", 0, "");
	check("f", 1, "Zg==");
	check("fo", 2, "Zm8=");
	check("foo", 3, "Zm9v");
	check("foob", 4, "Zm9vYg==");
	check("fooba", 5, "Zm9vYmE=");
	check("foobar", 6, "Zm9vYmFy");
	check("\0\xff\xfe\x80", 4, "AP/+gA==");
}

static void test_decode_padding_optional_and_strict(void **state) {
	char *d = NULL;
	size_t n;

	assert_int_equal(base64_decode("Zg", 2, &d, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(d[0], 'f');
	free(d);
	assert_int_equal(base64_decode("Zm8", 3, &d, &n), 0);
	assert_int_equal(n, 2);
	free(d);
	d = NULL;
	assert_int_equal(base64_decode("Z", 1, &d, &n), -EINVAL);      /* one char cannot hold a byte */
	assert_int_equal(base64_decode("Zg=", 3, &d, &n), -EINVAL);    /* wrong padding */
	assert_int_equal(base64_decode("Zg===", 5, &d, &n), -EINVAL);  /* too much */
	assert_int_equal(base64_decode("Zm 9v", 5, &d, &n), -EINVAL);  /* no whitespace */
	assert_int_equal(base64_decode("Zm9v\n", 5, &d, &n), -EINVAL); /* nor newlines */
	assert_int_equal(base64_decode("Zh==", 4, &d, &n), -EINVAL);   /* non-zero spare bits */
	assert_int_equal(base64_decode("Zm9v-_", 6, &d, &n), -EINVAL); /* not the URL alphabet */
	assert_null(d);
}

static void test_every_byte_round_trips(void **state) {
	char all[256];

	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	for (size_t len = 0; len <= sizeof(all); len += 37) {
		_cleanup_free_ char *e = base64_encode(all, len), *d = NULL;
		size_t n;

		assert_int_equal(strlen(e), (len + 2) / 3 * 4);
		assert_int_equal(base64_decode(e, strlen(e), &d, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(d, all, len);
	}
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_decode_padding_optional_and_strict),
		cmocka_unit_test(test_every_byte_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
