/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "spec/cron.h"
#include "basic/error.h"
#include "basic/macro.h"
#include "basic/banned.h"

#define ALL_MINUTES UINT64_C(0x0fffffffffffffff)
#define ALL_HOURS   UINT32_C(0x00ffffff)
#define ALL_DOM     UINT32_C(0xfffffffe)
#define ALL_MONTHS  UINT16_C(0x1ffe)
#define ALL_DOW     UINT8_C(0x7f)

static time_t utc(int y, int mo, int d, int h, int mi, int s) {
	struct tm tm = {
		.tm_year = y - 1900,
		.tm_mon = mo - 1,
		.tm_mday = d,
		.tm_hour = h,
		.tm_min = mi,
		.tm_sec = s,
	};
	return timegm(&tm);
}

static struct cron_expr parse_ok(const char *s) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct cron_expr c;
	int r;

	r = cron_parse(s, &c, &err);
	if (r < 0)
		fail_msg("cron_parse('%s') failed: %s", s, err ? err->message : "(no error)");
	assert_null(err);
	return c;
}

static bool year_bit(const struct cron_expr *c, int y) {
	unsigned i = (unsigned)(y - 1970);
	return (c->years[i / 64] >> (i % 64)) & 1;
}

static unsigned year_count(const struct cron_expr *c) {
	unsigned n = 0;
	for (int y = 1900; y < 2200; y++)
		if (y >= 1970 && y <= 2099 && year_bit(c, y))
			n++;
	return n;
}

static void assert_expr_equal(const struct cron_expr *a, const struct cron_expr *b) {
	assert_true(a->seconds == b->seconds);
	assert_true(a->minutes == b->minutes);
	assert_true(a->hours == b->hours);
	assert_true(a->dom == b->dom);
	assert_true(a->months == b->months);
	assert_true(a->dow == b->dow);
	for (size_t i = 0; i < ELEMENTSOF(a->years); i++)
		assert_true(a->years[i] == b->years[i]);
	assert_int_equal(a->dom_restricted, b->dom_restricted);
	assert_int_equal(a->dow_restricted, b->dow_restricted);
	assert_int_equal(a->vixie_or, b->vixie_or);
	assert_int_equal(a->nfields, b->nfields);
}

/* Parsing: errors */

static const struct {
	const char *expr;
	const char *message;
} bad_exprs[] = {
	{ "", "expected 5, 6 or 7 fields, got 0" },
	{ " \t ", "expected 5, 6 or 7 fields, got 0" },
	{ "* * * *", "expected 5, 6 or 7 fields, got 4" },
	{ "* * * * * * * *", "expected 5, 6 or 7 fields, got 8" },
	{ "0 0 0 1 1 * 2030 x y z", "expected 5, 6 or 7 fields, got 10" },
	{ "61 * * * *", "minute: value 61 out of range 0-59" },
	{ "60 * * * * *", "second: value 60 out of range 0-59" },
	{ "0 60 * * * *", "minute: value 60 out of range 0-59" },
	{ "* 24 * * *", "hour: value 24 out of range 0-23" },
	{ "* * 0 * *", "day-of-month: value 0 out of range 1-31" },
	{ "* * 32 * *", "day-of-month: value 32 out of range 1-31" },
	{ "* * * 0 *", "month: value 0 out of range 1-12" },
	{ "* * * 13 *", "month: value 13 out of range 1-12" },
	{ "* * * * 8", "day-of-week: value 8 out of range 0-7" },
	{ "0 * * * * 0", "day-of-week: value 0 out of range 1-7 (with 6 or 7 fields 1 is Sunday; use 1 or SUN)" },
	{ "0 * * * * 8", "day-of-week: value 8 out of range 1-7" },
	{ "0 0 0 1 1 * 1969", "year: value 1969 out of range 1970-2099" },
	{ "0 0 0 1 1 * 2100", "year: value 2100 out of range 1970-2099" },
	{ "99999999999 * * * *", "minute: value 99999999999 out of range 0-59" },
	{ "1-99 * * * *", "minute: value 99 out of range 0-59" },
	{ "* * * * FUNDAY", "day-of-week: unknown name 'FUNDAY'" },
	{ "0 * * * * FUNDAY", "day-of-week: unknown name 'FUNDAY'" },
	{ "* * * FOO *", "month: unknown name 'FOO'" },
	{ "* * * JAN-FOO *", "month: unknown name 'FOO'" },
	{ "MON * * * *", "minute: invalid value 'MON'" },
	{ "* * JAN * *", "day-of-month: invalid value 'JAN'" },
	{ "abc * * * *", "minute: invalid value 'abc'" },
	{ "1x * * * *", "minute: invalid value '1x'" },
	{ "** * * * *", "minute: invalid value '**'" },
	{ "/5 * * * *", "minute: invalid value '/5'" },
	{ "* */0 * * *", "hour: step 0 is invalid" },
	{ "0 0 */0 * * *", "hour: step 0 is invalid" },
	{ "1-5/00 * * * *", "minute: step 0 is invalid" },
	{ "*/61 * * * *", "minute: step 61 out of range 1-60" },
	{ "*/99999999999 * * * *", "minute: step 99999999999 out of range 1-60" },
	{ "*/ * * * *", "minute: invalid step ''" },
	{ "*/x * * * *", "minute: invalid step 'x'" },
	{ "1/2/3 * * * *", "minute: invalid step '2/3'" },
	{ "* * * 5-3 *", "month: range 5-3 is reversed" },
	{ "* * * * FRI-MON", "day-of-week: range FRI-MON is reversed" },
	{ "0 0 0 1 1 * 2030-2029", "year: range 2030-2029 is reversed" },
	{ "0 0 0 * * SAT-SUN", "day-of-week: range SAT-SUN is reversed" },
	{ "1-2-3 * * * *", "minute: invalid range '1-2-3'" },
	{ "-1 * * * *", "minute: invalid range '-1'" },
	{ "1- * * * *", "minute: invalid range '1-'" },
	{ "* * 1,,2 * *", "day-of-month: empty list item" },
	{ "* * 1, * *", "day-of-month: empty list item" },
	{ ",5 * * * * *", "second: empty list item" },
	{ "* * ? * *", "day-of-month: '?' is only allowed with 6 or 7 fields" },
	{ "* * * * ?", "day-of-week: '?' is only allowed with 6 or 7 fields" },
	{ "? * * * * *", "second: '?' is only allowed in day-of-month and day-of-week" },
	{ "0 0 0 * ? *", "month: '?' is only allowed in day-of-month and day-of-week" },
	{ "@sometimes", "unknown macro '@sometimes'" },
	{ "@reboot", "unknown macro '@reboot'" },
	{ "@", "unknown macro '@'" },
	{ "@daily 0", "macro '@daily' takes no fields, got 1 more" },
};

static void test_parse_errors(void **state) {
	for (size_t i = 0; i < ELEMENTSOF(bad_exprs); i++) {
		_cleanup_za_error_ struct za_error *err = NULL;
		struct cron_expr c = { .nfields = 42 };
		int r;

		r = cron_parse(bad_exprs[i].expr, &c, &err);
		if (r != -EINVAL)
			fail_msg("'%s': expected -EINVAL, got %d", bad_exprs[i].expr, r);
		assert_non_null(err);
		assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
		assert_int_equal(err->code, EINVAL);
		if (!streq(err->message, bad_exprs[i].message))
			fail_msg("'%s': expected \"%s\", got \"%s\"", bad_exprs[i].expr, bad_exprs[i].message,
			         err->message);
		/* ret_* is only written on success */
		assert_int_equal(c.nfields, 42);
	}
}

static void test_parse_error_without_reterr(void **state) {
	struct cron_expr c;

	assert_int_equal(cron_parse("61 * * * *", &c, NULL), -EINVAL);
	assert_int_equal(cron_parse(NULL, &c, NULL), -EINVAL);
}

/* Parsing: accepted forms */

static void test_parse_all_stars(void **state) {
	struct cron_expr c = parse_ok("* * * * *");

	assert_int_equal(c.nfields, 5);
	assert_true(c.seconds == 1);
	assert_true(c.minutes == ALL_MINUTES);
	assert_true(c.hours == ALL_HOURS);
	assert_true(c.dom == ALL_DOM);
	assert_true(c.months == ALL_MONTHS);
	assert_true(c.dow == ALL_DOW);
	assert_int_equal(year_count(&c), 130);
	assert_false(c.dom_restricted);
	assert_false(c.dow_restricted);
	assert_false(c.vixie_or);

	c = parse_ok("* * * * * *");
	assert_int_equal(c.nfields, 6);
	assert_true(c.seconds == ALL_MINUTES);
	assert_true(c.dow == ALL_DOW);
	assert_int_equal(year_count(&c), 130);

	c = parse_ok("* * * * * * *");
	assert_int_equal(c.nfields, 7);
	assert_int_equal(year_count(&c), 130);
}

static void test_parse_lists_ranges_steps(void **state) {
	struct cron_expr c;

	c = parse_ok("*/15 * * * *");
	assert_true(c.minutes ==
	            ((UINT64_C(1) << 0) | (UINT64_C(1) << 15) | (UINT64_C(1) << 30) | (UINT64_C(1) << 45)));

	c = parse_ok("5/20 0 * * *");
	assert_true(c.minutes == ((UINT64_C(1) << 5) | (UINT64_C(1) << 25) | (UINT64_C(1) << 45)));

	c = parse_ok("10-20/5 1,3,5 * * *");
	assert_true(c.minutes == ((UINT64_C(1) << 10) | (UINT64_C(1) << 15) | (UINT64_C(1) << 20)));
	assert_true(c.hours == ((1u << 1) | (1u << 3) | (1u << 5)));

	c = parse_ok("0 0-5,22,23/1 1-31/10 * *");
	assert_true(c.hours == (0x3fu | (1u << 22) | (1u << 23)));
	assert_true(c.dom == ((1u << 1) | (1u << 11) | (1u << 21) | (1u << 31)));

	c = parse_ok("0 0 0 1 1 * */10");
	for (int y = 1970; y <= 2099; y++)
		assert_int_equal(year_bit(&c, y), (y % 10) == 0);

	c = parse_ok("0 0 0 1 1 * 2030,2040-2042");
	assert_int_equal(year_count(&c), 4);
	assert_true(year_bit(&c, 2030) && year_bit(&c, 2041) && !year_bit(&c, 2031));

	/* a step larger than the range keeps only its start */
	c = parse_ok("5-10/60 * * * *");
	assert_true(c.minutes == (UINT64_C(1) << 5));
	/* leading zeros */
	c = parse_ok("05 007 * * *");
	assert_true(c.minutes == (UINT64_C(1) << 5));
	assert_true(c.hours == (1u << 7));
}

static void test_parse_names(void **state) {
	struct cron_expr c;

	c = parse_ok("0 0 * jan,JUL,December *");
	assert_true(c.months == ((1u << 1) | (1u << 7) | (1u << 12)));

	c = parse_ok("0 0 * FEB-apr *");
	assert_true(c.months == ((1u << 2) | (1u << 3) | (1u << 4)));

	/* names mean the same day in both dialects */
	assert_true(parse_ok("0 0 * * MON-FRI").dow == 0x3e);
	assert_true(parse_ok("0 0 0 * * MON-FRI").dow == 0x3e);
	assert_true(parse_ok("0 0 * * mon-fri").dow == 0x3e);
	assert_true(parse_ok("0 0 0 * * Monday-Friday").dow == 0x3e);
	assert_true(parse_ok("0 0 * * SUN,SAT").dow == 0x41);
	assert_true(parse_ok("0 0 0 * * SUN,SAT").dow == 0x41);
	assert_true(parse_ok("0 0 * * tues,THURS").dow == ((1u << 2) | (1u << 4)));

	/* names mix with numbers and steps */
	assert_true(parse_ok("0 0 * JAN-6/2 *").months == ((1u << 1) | (1u << 3) | (1u << 5)));
	assert_true(parse_ok("0 0 * * MON/2").dow == ((1u << 1) | (1u << 3) | (1u << 5)));
}

static void test_parse_dow_dialects(void **state) {
	/* 5 fields: 0 and 7 are Sunday */
	assert_true(parse_ok("0 0 * * 0").dow == 0x01);
	assert_true(parse_ok("0 0 * * 7").dow == 0x01);
	assert_true(parse_ok("0 0 * * 0,7").dow == 0x01);
	assert_true(parse_ok("0 0 * * 1-7").dow == ALL_DOW);
	assert_true(parse_ok("0 0 * * 5-7").dow == 0x61);
	assert_true(parse_ok("0 0 * * */2").dow == 0x55);
	/* SUN closing a 5-field range is 7 */
	assert_true(parse_ok("0 0 * * FRI-SUN").dow == 0x61);
	assert_true(parse_ok("0 0 * * SUN-SAT").dow == ALL_DOW);

	/* 6/7 fields: 1 = Sunday ... 7 = Saturday */
	assert_true(parse_ok("0 0 0 * * 1").dow == 0x01);
	assert_true(parse_ok("0 0 0 * * 2").dow == 0x02);
	assert_true(parse_ok("0 0 0 * * 7").dow == 0x40);
	assert_true(parse_ok("0 0 0 * * 2-6").dow == 0x3e);
	assert_true(parse_ok("0 0 0 * * 1-7").dow == ALL_DOW);
	assert_true(parse_ok("0 0 0 * * */2 2030").dow == 0x55);
}

static void test_parse_restricted_flags(void **state) {
	struct cron_expr c;

	c = parse_ok("0 0 13 * 5");
	assert_true(c.dom_restricted && c.dow_restricted && c.vixie_or);

	c = parse_ok("0 0 13 * *");
	assert_true(c.dom_restricted && !c.dow_restricted && !c.vixie_or);

	/* Vixie looks at the first character only */
	c = parse_ok("0 0 */2 * 5");
	assert_true(!c.dom_restricted && c.dow_restricted && !c.vixie_or);

	/* the 6/7-field dialect always needs both */
	c = parse_ok("0 0 0 13 * FRI");
	assert_true(c.dom_restricted && c.dow_restricted && !c.vixie_or);

	c = parse_ok("0 0 0 ? * MON");
	assert_true(!c.dom_restricted && c.dow_restricted && !c.vixie_or);
	assert_true(c.dom == ALL_DOM);

	c = parse_ok("0 0 0 1 * ?");
	assert_true(c.dom_restricted && !c.dow_restricted);
	assert_true(c.dow == ALL_DOW);
	assert_true(parse_ok("0 0 0 ?/10 * *").dom == ((1u << 1) | (1u << 11) | (1u << 21) | (1u << 31)));
}

static void test_parse_whitespace(void **state) {
	struct cron_expr a = parse_ok("30 4 1 * 0");
	struct cron_expr b = parse_ok("  \t30\t 4    1 *  0 \t ");

	assert_expr_equal(&a, &b);
	assert_int_equal(b.nfields, 5);
}

static void test_parse_macros(void **state) {
	static const struct {
		const char *macro, *expansion;
	} table[] = {
		{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
		{ "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" }, { " @DAILY\t", "0 0 * * *" },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		struct cron_expr m = parse_ok(table[i].macro), e = parse_ok(table[i].expansion);

		assert_expr_equal(&m, &e);
		assert_int_equal(m.nfields, 5);
		assert_true(m.seconds == 1);
	}
}

/* Matching */

static void test_matches(void **state) {
	struct cron_expr c;

	c = parse_ok("0 3 * * *");
	assert_true(cron_matches(&c, utc(2026, 1, 1, 3, 0, 0)));
	assert_false(cron_matches(&c, utc(2026, 1, 1, 3, 0, 1)));
	assert_false(cron_matches(&c, utc(2026, 1, 1, 3, 1, 0)));
	assert_false(cron_matches(&c, utc(2026, 1, 1, 4, 0, 0)));
	/* outside 1970-2099 never matches */
	assert_false(cron_matches(&c, utc(1969, 12, 31, 3, 0, 0)));
	assert_false(cron_matches(&c, utc(2100, 1, 1, 3, 0, 0)));

	/* Vixie OR: the 13th or a Friday */
	c = parse_ok("0 0 13 * 5");
	assert_true(cron_matches(&c, utc(2026, 1, 2, 0, 0, 0)));  /* Friday the 2nd */
	assert_true(cron_matches(&c, utc(2026, 1, 13, 0, 0, 0))); /* Tuesday the 13th */
	assert_false(cron_matches(&c, utc(2026, 1, 14, 0, 0, 0)));

	/* 6-field AND: Friday the 13th only */
	c = parse_ok("0 0 0 13 * FRI");
	assert_false(cron_matches(&c, utc(2026, 1, 2, 0, 0, 0)));
	assert_false(cron_matches(&c, utc(2026, 1, 13, 0, 0, 0)));
	assert_true(cron_matches(&c, utc(2026, 2, 13, 0, 0, 0)));

	c = parse_ok("15,45 * * * * * 2030");
	assert_true(cron_matches(&c, utc(2030, 6, 1, 12, 0, 45)));
	assert_false(cron_matches(&c, utc(2031, 6, 1, 12, 0, 45)));
	assert_false(cron_matches(&c, utc(2030, 6, 1, 12, 0, 0)));
}

/* Next fire time */

struct next_case {
	const char *expr;
	int from[6];
	int expect[6]; /* all zero: -ENOENT */
};

static const struct next_case next_cases[] = {
	/* every minute */
	{ "* * * * *", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 1, 0, 1, 0 } },
	{ "* * * * *", { 2026, 1, 1, 0, 0, 30 }, { 2026, 1, 1, 0, 1, 0 } },
	{ "* * * * *", { 2026, 1, 1, 0, 0, 59 }, { 2026, 1, 1, 0, 1, 0 } },
	/* every second */
	{ "* * * * * *", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 1, 0, 0, 1 } },
	/* */
	{ "*/15 * * * *", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 1, 0, 15, 0 } },
	{ "*/15 * * * *", { 2026, 1, 1, 10, 47, 10 }, { 2026, 1, 1, 11, 0, 0 } },
	{ "*/15 * * * *", { 2026, 1, 1, 23, 45, 0 }, { 2026, 1, 2, 0, 0, 0 } },
	/* the spec's nightly example */
	{ "0 3 * * *", { 2026, 1, 1, 2, 59, 59 }, { 2026, 1, 1, 3, 0, 0 } },
	{ "0 3 * * *", { 2026, 1, 1, 3, 0, 0 }, { 2026, 1, 2, 3, 0, 0 } },
	{ "0 3 * * *", { 2026, 1, 1, 12, 0, 0 }, { 2026, 1, 2, 3, 0, 0 } },
	/* weekdays at noon, 7 fields (2026-01-02 is a Friday) */
	{ "0 0 12 * * MON-FRI *", { 2026, 1, 1, 12, 0, 0 }, { 2026, 1, 2, 12, 0, 0 } },
	{ "0 0 12 * * MON-FRI *", { 2026, 1, 2, 12, 0, 0 }, { 2026, 1, 5, 12, 0, 0 } },
	{ "0 0 12 * * MON-FRI *", { 2026, 1, 5, 11, 59, 59 }, { 2026, 1, 5, 12, 0, 0 } },
	/* every five minutes, with seconds */
	{ "0 */5 * * * * *", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 1, 0, 5, 0 } },
	{ "0 */5 * * * * *", { 2026, 1, 1, 0, 58, 0 }, { 2026, 1, 1, 1, 0, 0 } },
	{ "0 */5 * * * * *", { 2026, 1, 1, 0, 4, 59 }, { 2026, 1, 1, 0, 5, 0 } },
	/* daily at midnight, 7 fields */
	{ "0 0 0 * * * *", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 2, 0, 0, 0 } },
	{ "0 0 0 * * * *", { 2025, 12, 31, 23, 59, 59 }, { 2026, 1, 1, 0, 0, 0 } },
	/* second 30 of every minute */
	{ "30 * * * * *", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 1, 0, 0, 30 } },
	{ "30 * * * * *", { 2026, 1, 1, 0, 0, 30 }, { 2026, 1, 1, 0, 1, 30 } },
	{ "0,30 * * * * *", { 2026, 1, 1, 0, 0, 29 }, { 2026, 1, 1, 0, 0, 30 } },
	/* Vixie OR: the 13th or any Friday */
	{ "0 0 13 * 5", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 2, 0, 0, 0 } },
	{ "0 0 13 * 5", { 2026, 1, 2, 0, 0, 0 }, { 2026, 1, 9, 0, 0, 0 } },
	{ "0 0 13 * 5", { 2026, 1, 9, 0, 0, 0 }, { 2026, 1, 13, 0, 0, 0 } },
	{ "0 0 13 * 5", { 2026, 1, 13, 0, 0, 0 }, { 2026, 1, 16, 0, 0, 0 } },
	/* Vixie: a dom starting with '*' makes it AND (odd days that are Mondays) */
	{ "0 0 */2 * 1", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 5, 0, 0, 0 } },
	{ "0 0 */2 * 1", { 2026, 1, 5, 0, 0, 0 }, { 2026, 1, 19, 0, 0, 0 } },
	/* 6-field AND: Friday the 13th */
	{ "0 0 0 13 * FRI", { 2026, 1, 1, 0, 0, 0 }, { 2026, 2, 13, 0, 0, 0 } },
	{ "0 0 0 13 * FRI", { 2026, 2, 13, 0, 0, 0 }, { 2026, 3, 13, 0, 0, 0 } },
	{ "0 0 0 13 * FRI", { 2026, 3, 13, 0, 0, 0 }, { 2026, 11, 13, 0, 0, 0 } },
	{ "0 0 0 13 * 6", { 2026, 1, 1, 0, 0, 0 }, { 2026, 2, 13, 0, 0, 0 } },
	/* dow 7 = Sunday in 5 fields (2026-01-04 is a Sunday) */
	{ "0 0 * * 7", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 4, 0, 0, 0 } },
	{ "0 0 * * 0", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 4, 0, 0, 0 } },
	{ "0 0 * * SUN", { 2026, 1, 4, 0, 0, 0 }, { 2026, 1, 11, 0, 0, 0 } },
	/* numeric dow 1 = Sunday, 2 = Monday, 7 = Saturday in 6 fields */
	{ "0 0 0 * * 1", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 4, 0, 0, 0 } },
	{ "0 0 0 * * 2", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 5, 0, 0, 0 } },
	{ "0 0 0 * * 7", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 3, 0, 0, 0 } },
	{ "0 0 0 ? * MON", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 5, 0, 0, 0 } },
	/* leap day */
	{ "0 0 29 2 *", { 2025, 1, 1, 0, 0, 0 }, { 2028, 2, 29, 0, 0, 0 } },
	{ "0 0 29 2 *", { 2028, 2, 29, 0, 0, 0 }, { 2032, 2, 29, 0, 0, 0 } },
	{ "0 0 29 2 *", { 2096, 2, 29, 0, 0, 0 }, { 0 } }, /* 2100 is no leap year, and too late */
	/* year field */
	{ "0 0 0 1 1 * 2030", { 2026, 1, 1, 0, 0, 0 }, { 2030, 1, 1, 0, 0, 0 } },
	{ "0 0 0 1 1 * 2030", { 2030, 1, 1, 0, 0, 0 }, { 0 } },
	{ "0 0 0 * * * 2027/2", { 2026, 6, 1, 0, 0, 0 }, { 2027, 1, 1, 0, 0, 0 } },
	{ "0 0 0 * * * 2027/2", { 2027, 12, 31, 0, 0, 0 }, { 2029, 1, 1, 0, 0, 0 } },
	/* end-of-month rollover */
	{ "0 0 31 * *", { 2026, 1, 31, 0, 0, 0 }, { 2026, 3, 31, 0, 0, 0 } },
	{ "0 0 31 * *", { 2026, 4, 15, 0, 0, 0 }, { 2026, 5, 31, 0, 0, 0 } },
	{ "0 0 * * *", { 2026, 2, 28, 12, 0, 0 }, { 2026, 3, 1, 0, 0, 0 } },
	{ "0 0 * * *", { 2028, 2, 28, 12, 0, 0 }, { 2028, 2, 29, 0, 0, 0 } },
	{ "59 23 * * *", { 2026, 1, 31, 23, 59, 0 }, { 2026, 2, 1, 23, 59, 0 } },
	{ "0 30 9-17/4 * * *", { 2026, 1, 31, 17, 30, 0 }, { 2026, 2, 1, 9, 30, 0 } },
	{ "0 5/20 * * * *", { 2026, 1, 1, 0, 45, 0 }, { 2026, 1, 1, 1, 5, 0 } },
	/* Dec 31 -> next year */
	{ "0 0 1 1 *", { 2026, 12, 31, 23, 59, 59 }, { 2027, 1, 1, 0, 0, 0 } },
	{ "* * * * * *", { 2026, 12, 31, 23, 59, 59 }, { 2027, 1, 1, 0, 0, 0 } },
	{ "0 0 * JAN,JUL *", { 2026, 7, 31, 0, 0, 0 }, { 2027, 1, 1, 0, 0, 0 } },
	{ "0 12 31 12 *", { 2026, 12, 31, 12, 0, 0 }, { 2027, 12, 31, 12, 0, 0 } },
	/* never: February 30th, April 31st, a year in the past */
	{ "0 0 30 2 *", { 2026, 1, 1, 0, 0, 0 }, { 0 } },
	{ "0 0 31 4,6 *", { 1970, 1, 1, 0, 0, 0 }, { 0 } },
	{ "0 0 0 30 2 ? *", { 2026, 1, 1, 0, 0, 0 }, { 0 } },
	{ "0 0 0 1 1 * 2020", { 2026, 1, 1, 0, 0, 0 }, { 0 } },
	{ "0 0 0 * * * 1999", { 2026, 1, 1, 0, 0, 0 }, { 0 } },
	/* macros */
	{ "@hourly", { 2026, 1, 1, 10, 30, 0 }, { 2026, 1, 1, 11, 0, 0 } },
	{ "@daily", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 2, 0, 0, 0 } },
	{ "@midnight", { 2026, 1, 1, 23, 59, 59 }, { 2026, 1, 2, 0, 0, 0 } },
	{ "@weekly", { 2026, 1, 1, 0, 0, 0 }, { 2026, 1, 4, 0, 0, 0 } },
	{ "@monthly", { 2026, 1, 1, 0, 0, 0 }, { 2026, 2, 1, 0, 0, 0 } },
	{ "@yearly", { 2026, 1, 1, 0, 0, 0 }, { 2027, 1, 1, 0, 0, 0 } },
	/* the edges of the supported range */
	{ "0 0 1 1 *", { 1969, 6, 1, 0, 0, 0 }, { 1970, 1, 1, 0, 0, 0 } },
	{ "0 0 1 1 *", { 2099, 6, 1, 0, 0, 0 }, { 0 } },
	{ "* * * * * *", { 2099, 12, 31, 23, 59, 58 }, { 2099, 12, 31, 23, 59, 59 } },
	{ "* * * * * *", { 2099, 12, 31, 23, 59, 59 }, { 0 } },
	{ "* * * * *", { 2150, 1, 1, 0, 0, 0 }, { 0 } },
};

static void test_next_table(void **state) {
	for (size_t i = 0; i < ELEMENTSOF(next_cases); i++) {
		const struct next_case *t = &next_cases[i];
		struct cron_expr c = parse_ok(t->expr);
		time_t from = utc(t->from[0], t->from[1], t->from[2], t->from[3], t->from[4], t->from[5]);
		time_t got = -1;
		int r;

		r = cron_next(&c, from, &got);
		if (t->expect[0] == 0) {
			if (r != -ENOENT)
				fail_msg("'%s' from %04d-%02d-%02d: expected -ENOENT, got %d (%lld)", t->expr,
				         t->from[0], t->from[1], t->from[2], r, (long long)got);
			assert_int_equal(got, -1);
			continue;
		}

		time_t want = utc(t->expect[0], t->expect[1], t->expect[2], t->expect[3], t->expect[4], t->expect[5]);
		if (r != 0 || got != want) {
			struct tm tm = {};
			gmtime_r(&got, &tm);
			fail_msg("'%s' from %04d-%02d-%02d %02d:%02d:%02d: expected %04d-%02d-%02d %02d:%02d:%02d, "
			         "got r=%d %04d-%02d-%02d %02d:%02d:%02d",
			         t->expr, t->from[0], t->from[1], t->from[2], t->from[3], t->from[4], t->from[5],
			         t->expect[0], t->expect[1], t->expect[2], t->expect[3], t->expect[4], t->expect[5], r,
			         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		}
		assert_true(cron_matches(&c, got));
	}
}

static void test_next_epoch_values(void **state) {
	/* Fixed epoch values, independent of timegm. */
	struct cron_expr c = parse_ok("0 3 * * *");
	time_t next;

	assert_int_equal(cron_next(&c, 1767225600 /* 2026-01-01T00:00:00Z */, &next), 0);
	assert_int_equal(next, 1767236400 /* 2026-01-01T03:00:00Z */);

	c = parse_ok("0 0 29 2 *");
	assert_int_equal(cron_next(&c, 1735689600 /* 2025-01-01T00:00:00Z */, &next), 0);
	assert_int_equal(next, 1835395200 /* 2028-02-29T00:00:00Z */);

	c = parse_ok("* * * * * *");
	assert_int_equal(cron_next(&c, -1000, &next), 0);
	assert_int_equal(next, 0);
}

static void test_next_never_is_fast(void **state) {
	/* The worst cases walk from 1970 to 2099; they must stay cheap. */
	static const char *const never[] = {
		"0 0 30 2 *", "0 0 31 2 *", "0 0 0 31 2 ?", "0 0 0 30 2 MON", "59 59 23 31 4 * 1970-2099",
	};
	clock_t start = clock();

	for (size_t i = 0; i < ELEMENTSOF(never); i++) {
		struct cron_expr c = parse_ok(never[i]);
		time_t next;
		assert_int_equal(cron_next(&c, -1, &next), -ENOENT);
	}
	assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 1.0);
}

/* Cross-check cron_next against a plain scan for a set of expressions:
 * the result matches, and nothing in between does. */
static void test_next_matches_brute_force(void **state) {
	static const char *const exprs[] = {
		"* * * * *",      "*/7 * * * *",   "5,35 */3 * * *", "0 0 13 * 5",   "0 12 * * MON-FRI",
		"30 2 1-7 * 1",   "0 0 */2 * 1",   "0 0 1,15 * *",   "17 * * * * *", "*/20 59 * * * *",
		"0 0 0 13 * FRI", "0 0 0 ? * 1,7", "0 0 0 29 2 ?",
	};

	for (size_t i = 0; i < ELEMENTSOF(exprs); i++) {
		struct cron_expr c = parse_ok(exprs[i]);
		time_t t = utc(2026, 1, 1, 0, 0, 0), limit = utc(2029, 1, 1, 0, 0, 0);
		/* expressions firing on second 0 only: scanning by minute is enough */
		time_t stride = c.seconds == 1 ? 60 : 1;

		for (int n = 0; n < 50 && t < limit; n++) {
			time_t next;
			assert_int_equal(cron_next(&c, t, &next), 0);
			assert_true(next > t);
			assert_true(cron_matches(&c, next));
			for (time_t s = (t / stride + 1) * stride; s < next; s += stride)
				if (cron_matches(&c, s))
					fail_msg("'%s': %lld matches but next after %lld was %lld", exprs[i],
					         (long long)s, (long long)t, (long long)next);
			t = next;
		}
	}
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_error_without_reterr),
		cmocka_unit_test(test_parse_all_stars),
		cmocka_unit_test(test_parse_lists_ranges_steps),
		cmocka_unit_test(test_parse_names),
		cmocka_unit_test(test_parse_dow_dialects),
		cmocka_unit_test(test_parse_restricted_flags),
		cmocka_unit_test(test_parse_whitespace),
		cmocka_unit_test(test_parse_macros),
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_next_table),
		cmocka_unit_test(test_next_epoch_values),
		cmocka_unit_test(test_next_never_is_fast),
		cmocka_unit_test(test_next_matches_brute_force),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
