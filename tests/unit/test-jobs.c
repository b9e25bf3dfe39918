/* SPDX-License-Identifier: Apache-2.0 */
/* The decisions of the job registry that need no runtime: cron fire times
 * without catch-up, concurrency, retries, the queue's admission order, the
 * kept log's cap, execution status names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "basic/alloc.h"
#include "service/jobs.h"

static time_t utc(int y, int mo, int d, int h, int mi, int s) {
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return timegm(&tm);
}

static struct cron_expr parse(const char *s) {
	struct za_error *err = NULL;
	struct cron_expr c;

	if (cron_parse(s, &c, &err) < 0)
		fail_msg("cron_parse('%s'): %s", s, err ? err->message : "?");
	return c;
}

static void test_cron_first_is_never_in_the_past(void **state) {
	struct cron_expr daily = parse("0 3 * * *"), quarter = parse("*/15 * * * * *");
	time_t next;

	/* registered (or restored) at 10:00: today's 03:00 is gone, not caught up */
	assert_int_equal(jobs_cron_first(&daily, utc(2026, 11, 22, 10, 0, 0), &next), 0);
	assert_int_equal(next, utc(2026, 11, 23, 3, 0, 0));
	/* exactly at a match: the next one, not this one again */
	assert_int_equal(jobs_cron_first(&daily, utc(2026, 11, 22, 3, 0, 0), &next), 0);
	assert_int_equal(next, utc(2026, 11, 23, 3, 0, 0));
	assert_int_equal(jobs_cron_first(&daily, utc(2026, 11, 22, 2, 59, 59), &next), 0);
	assert_int_equal(next, utc(2026, 11, 22, 3, 0, 0));
	/* 6 fields: seconds */
	assert_int_equal(jobs_cron_first(&quarter, utc(2026, 11, 22, 10, 0, 7), &next), 0);
	assert_int_equal(next, utc(2026, 11, 22, 10, 0, 15));
	/* a schedule with no time left */
	{
		struct cron_expr past = parse("0 0 0 1 1 * 1999");
		assert_int_equal(jobs_cron_first(&past, utc(2026, 1, 1, 0, 0, 0), &next), -ENOENT);
	}
}

static void test_cron_fired_on_time_and_late(void **state) {
	struct cron_expr every = parse("* * * * * *"), daily = parse("0 3 * * *"), tens = parse("*/10 * * * * *");
	time_t t = utc(2026, 11, 22, 10, 0, 0), next;
	bool run;

	/* on time */
	assert_int_equal(jobs_cron_fired(&every, t, t, &run, &next), 0);
	assert_true(run);
	assert_int_equal(next, t + 1);
	/* a little late (a busy loop) still counts, the next is after now */
	assert_int_equal(jobs_cron_fired(&every, t, t + JOBS_CRON_LATE_SEC, &run, &next), 0);
	assert_true(run);
	assert_int_equal(next, t + JOBS_CRON_LATE_SEC + 1);
	/* later than that: missed, and the times in between are not caught up */
	assert_int_equal(jobs_cron_fired(&every, t, t + JOBS_CRON_LATE_SEC + 1, &run, &next), 0);
	assert_false(run);
	assert_int_equal(next, t + JOBS_CRON_LATE_SEC + 2);
	assert_int_equal(jobs_cron_fired(&tens, t, t + 3600, &run, &next), 0);
	assert_false(run);
	assert_int_equal(next, t + 3610);
	/* a daily run the machine slept through waits for tomorrow */
	assert_int_equal(jobs_cron_fired(&daily, utc(2026, 11, 22, 3, 0, 0), utc(2026, 11, 22, 3, 10, 0), &run, &next),
	                 0);
	assert_false(run);
	assert_int_equal(next, utc(2026, 11, 23, 3, 0, 0));
	/* the clock stepped back: runs, the next is still after the due time */
	assert_int_equal(jobs_cron_fired(&every, t, t - 30, &run, &next), 0);
	assert_true(run);
	assert_int_equal(next, t + 1);
}

static void test_cron_decide(void **state) {
	assert_int_equal(jobs_cron_decide(SPEC_CONCURRENCY_FORBID, 0), CRON_ACTION_RUN);
	assert_int_equal(jobs_cron_decide(SPEC_CONCURRENCY_FORBID, 1), CRON_ACTION_SKIP);
	assert_int_equal(jobs_cron_decide(SPEC_CONCURRENCY_ALLOW, 0), CRON_ACTION_RUN);
	assert_int_equal(jobs_cron_decide(SPEC_CONCURRENCY_ALLOW, 3), CRON_ACTION_RUN);
	assert_int_equal(jobs_cron_decide(SPEC_CONCURRENCY_REPLACE, 0), CRON_ACTION_RUN);
	assert_int_equal(jobs_cron_decide(SPEC_CONCURRENCY_REPLACE, 2), CRON_ACTION_REPLACE);
}

static void test_attempt_outcome(void **state) {
	/* backoff_limit 0: one attempt */
	assert_int_equal(jobs_attempt_outcome(true, false, 1, 0), ATTEMPT_COMPLETED);
	assert_int_equal(jobs_attempt_outcome(false, false, 1, 0), ATTEMPT_FAILED);
	/* backoff_limit 2: three attempts, then failed */
	assert_int_equal(jobs_attempt_outcome(false, false, 1, 2), ATTEMPT_RETRY);
	assert_int_equal(jobs_attempt_outcome(false, false, 2, 2), ATTEMPT_RETRY);
	assert_int_equal(jobs_attempt_outcome(false, false, 3, 2), ATTEMPT_FAILED);
	assert_int_equal(jobs_attempt_outcome(true, false, 3, 2), ATTEMPT_COMPLETED);
	/* a cancelled attempt is not retried; one that succeeded anyway counts */
	assert_int_equal(jobs_attempt_outcome(false, true, 1, 2), ATTEMPT_CANCELLED);
	assert_int_equal(jobs_attempt_outcome(true, true, 1, 2), ATTEMPT_COMPLETED);
}

static void test_admit_oldest_first_within_the_cap(void **state) {
	uint64_t seqs[] = { 5, 3, 9, 1, 7 };
	uint64_t twelve[12];
	size_t idx[12];

	assert_int_equal(jobs_admit(seqs, 5, 8, 10, idx), 2);
	assert_int_equal(idx[0], 3); /* seq 1 */
	assert_int_equal(idx[1], 1); /* seq 3 */
	assert_int_equal(jobs_admit(seqs, 5, 10, 10, idx), 0);
	assert_int_equal(jobs_admit(seqs, 5, 12, 10, idx), 0);
	assert_int_equal(jobs_admit(seqs, 5, 0, 10, idx), 5);
	assert_int_equal(idx[0], 3);
	assert_int_equal(idx[1], 1);
	assert_int_equal(idx[2], 0);
	assert_int_equal(idx[3], 4);
	assert_int_equal(idx[4], 2);
	assert_int_equal(jobs_admit(seqs, 0, 0, 10, idx), 0);
	/* twelve at once: the first ten by order start, two wait */
	for (size_t i = 0; i < 12; i++)
		twelve[i] = 100 - i;
	assert_int_equal(jobs_admit(twelve, 12, 0, JOBS_RUNNING_MAX, idx), JOBS_RUNNING_MAX);
	for (size_t i = 0; i < JOBS_RUNNING_MAX; i++)
		assert_int_equal(idx[i], 11 - i);
	/* one finished: one more */
	assert_int_equal(jobs_admit(twelve, 2, JOBS_RUNNING_MAX - 1, JOBS_RUNNING_MAX, idx), 1);
	assert_int_equal(idx[0], 1);
}

static void trim_case(const char *in, size_t cap, const char *want) {
	struct strbuf sb = STRBUF_INIT;

	strbuf_addstr(&sb, in);
	jobs_log_trim(&sb, cap);
	assert_string_equal(strbuf_str(&sb), want);
	assert_int_equal(sb.len, strlen(want));
	strbuf_release(&sb);
}

static void test_log_trim_keeps_whole_newest_lines(void **state) {
	trim_case("aaa\nbbb\nccc\n", 100, "aaa\nbbb\nccc\n");
	trim_case("aaa\nbbb\nccc\n", 12, "aaa\nbbb\nccc\n");
	trim_case("aaa\nbbb\nccc\n", 8, "bbb\nccc\n");
	trim_case("aaa\nbbb\nccc\n", 7, "ccc\n");
	trim_case("aaa\nbbb\nccc\n", 3, "");
	trim_case("", 0, "");
	{
		/* a big log: at most the cap, starting at a line */
		struct strbuf sb = STRBUF_INIT;
		for (int i = 0; i < 100000; i++)
			strbuf_addf(&sb, "{\"log\":\"line %d\"}\n", i);
		jobs_log_trim(&sb, JOBS_LOG_MAX);
		assert_true(sb.len <= JOBS_LOG_MAX);
		assert_true(sb.len > JOBS_LOG_MAX - 64);
		assert_memory_equal(sb.buf, "{\"log\"", 6);
		assert_non_null(strstr(sb.buf, "line 99999\"}\n"));
		strbuf_release(&sb);
	}
}

static void test_status_names_and_time(void **state) {
	char buf[JOBS_TIME_MAX];

	for (int i = 0; i < _EXECUTION_STATUS_MAX; i++)
		assert_int_equal(execution_status_from_string(execution_status_to_string(i)), i);
	assert_string_equal(execution_status_to_string(EXECUTION_CANCELLED), "cancelled");
	assert_int_equal(execution_status_from_string("Running"), _EXECUTION_STATUS_INVALID);
	assert_int_equal(execution_status_from_string(NULL), _EXECUTION_STATUS_INVALID);
	assert_false(execution_status_finished(EXECUTION_PENDING));
	assert_false(execution_status_finished(EXECUTION_RUNNING));
	assert_true(execution_status_finished(EXECUTION_FAILED));
	assert_string_equal(jobs_format_time(buf, 1700000000123456789LL), "2023-11-14T22:13:20.123456789Z");
	assert_string_equal(jobs_format_time(buf, 0), "1970-01-01T00:00:00.000000000Z");
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_first_is_never_in_the_past),
		cmocka_unit_test(test_cron_fired_on_time_and_late),
		cmocka_unit_test(test_cron_decide),
		cmocka_unit_test(test_attempt_outcome),
		cmocka_unit_test(test_admit_oldest_first_within_the_cap),
		cmocka_unit_test(test_log_trim_keeps_whole_newest_lines),
		cmocka_unit_test(test_status_names_and_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
