/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "basic/macro.h"
#include "basic/parse.h"

static void test_durations(void **state) {
	static const struct {
		const char *in;
		uint64_t nsec;
	} ok[] = {
		{ "500ms", 500 * NSEC_PER_MSEC },
		{ "30s", 30 * NSEC_PER_SEC },
		{ "5m", 5 * NSEC_PER_MINUTE },
		{ "1h", NSEC_PER_HOUR },
		{ "1h30m", 90 * NSEC_PER_MINUTE },
		{ "1h 30m", 90 * NSEC_PER_MINUTE },
		{ "2d", 2 * NSEC_PER_DAY },
		{ "1.5s", 1500 * NSEC_PER_MSEC },
		{ "0s", 0 },
		{ "250us", 250 * NSEC_PER_USEC },
		{ "10ns", 10 },
		{ "1m30s", 90 * NSEC_PER_SEC },
		{ "3 hours", 3 * NSEC_PER_HOUR },
		{ "2min", 2 * NSEC_PER_MINUTE },
		{ "1sec", NSEC_PER_SEC },
		{ "100msec", 100 * NSEC_PER_MSEC },
	};
	static const char *const bad[] = {
		"", "30", "s", "30x", "-5s", "1h30", "1.s5", "5 m s", " 5s", "5s ", "1e3s", "1,5s", "ms",
	};
	uint64_t v;

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		v = 12345;
		assert_int_equal(parse_duration(ok[i].in, &v), 0);
		assert_int_equal(v, ok[i].nsec);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		int r = parse_duration(bad[i], &v);
		if (r != -EINVAL)
			fail_msg("'%s' should be invalid, got %d", bad[i], r);
	}
	assert_int_equal(parse_duration("99999999999999999999s", &v), -ERANGE);
	assert_int_equal(parse_duration("300000d", &v), -ERANGE);
}

static void test_format_duration(void **state) {
	char buf[FORMAT_DURATION_MAX];

	assert_string_equal(format_duration(buf, sizeof(buf), 0), "0s");
	assert_string_equal(format_duration(buf, sizeof(buf), 90 * NSEC_PER_MINUTE), "1h30m");
	assert_string_equal(format_duration(buf, sizeof(buf), 500 * NSEC_PER_MSEC), "500ms");
	assert_string_equal(format_duration(buf, sizeof(buf), NSEC_PER_DAY + NSEC_PER_SEC), "1d1s");
	assert_string_equal(format_duration(buf, sizeof(buf), 1500 * NSEC_PER_MSEC), "1s500ms");
	/* round trip */
	for (uint64_t n = 1; n < UINT64_MAX / 7; n = n * 7 + 3) {
		uint64_t back;
		format_duration(buf, sizeof(buf), n);
		assert_int_equal(parse_duration(buf, &back), 0);
		assert_int_equal(back, n);
	}
}

static void test_sizes(void **state) {
	static const struct {
		const char *in;
		uint64_t bytes;
	} ok[] = {
		{ "0", 0 },
		{ "1024", 1024 },
		{ "64Ki", 64 << 10 },
		{ "512Mi", UINT64_C(512) << 20 },
		{ "2Gi", UINT64_C(2) << 30 },
		{ "1Ti", UINT64_C(1) << 40 },
		{ "1GiB", UINT64_C(1) << 30 },
		{ "1k", 1000 },
		{ "5M", 5000000 },
		{ "3G", 3000000000 },
		{ "10B", 10 },
		{ "1MB", 1000000 },
	};
	static const char *const bad[] = { "", "Mi", "1.5Gi", "-1", "12 Mi", "1mi", "1gb", "1Xi", "0x10", " 1" };
	char buf[FORMAT_SIZE_MAX];
	uint64_t v;

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		assert_int_equal(parse_size(ok[i].in, &v), 0);
		assert_int_equal(v, ok[i].bytes);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (parse_size(bad[i], &v) != -EINVAL)
			fail_msg("'%s' should be an invalid size", bad[i]);
	assert_int_equal(parse_size("16Ei", &v), -ERANGE);
	assert_int_equal(parse_size("99999999999999999999", &v), -ERANGE);
	assert_string_equal(format_size(buf, sizeof(buf), UINT64_C(512) << 20), "512Mi");
	assert_string_equal(format_size(buf, sizeof(buf), 1536), "1536");
	assert_string_equal(format_size(buf, sizeof(buf), 1536 << 10), "1536Ki");
	assert_string_equal(format_size(buf, sizeof(buf), 0), "0");
}

static void test_numbers(void **state) {
	int64_t i;
	uint64_t u;
	int32_t i32;
	uint32_t u32;
	double d;

	assert_int_equal(parse_int64("-42", &i), 0);
	assert_int_equal(i, -42);
	assert_int_equal(parse_int64("42x", &i), -EINVAL);
	assert_int_equal(parse_int64(" 42", &i), -EINVAL);
	assert_int_equal(parse_int64("", &i), -EINVAL);
	assert_int_equal(parse_int64("9223372036854775808", &i), -ERANGE);
	assert_int_equal(parse_uint64("18446744073709551615", &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(parse_uint64("-1", &u), -EINVAL);
	assert_int_equal(parse_uint64("+1", &u), -EINVAL);
	assert_int_equal(parse_int32("2147483648", &i32), -ERANGE);
	assert_int_equal(parse_int32("-2147483648", &i32), 0);
	assert_int_equal(parse_uint32("4294967296", &u32), -ERANGE);
	assert_int_equal(parse_double("0.5", &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(parse_double("1e3", &d), 0);
	assert_true(d == 1000);
	assert_int_equal(parse_double("inf", &d), -EINVAL);
	assert_int_equal(parse_double("nan", &d), -EINVAL);
	assert_int_equal(parse_double("0x10", &d), -EINVAL);
	assert_int_equal(parse_double(".", &d), -EINVAL);
	assert_int_equal(parse_double("1e999", &d), -ERANGE);
	assert_int_equal(parse_bool("yes"), 1);
	assert_int_equal(parse_bool("Off"), 0);
	assert_int_equal(parse_bool("maybe"), -EINVAL);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
