/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>

#include "api/metrics.h"
#include "basic/alloc.h"

static char *render(const struct metrics *m) {
	struct strbuf sb = STRBUF_INIT;

	metrics_render(m, &sb);
	return strbuf_detach(&sb, NULL);
}

static void test_counter_gauge(void **state) {
	_cleanup_(metrics_freep) struct metrics *m = metrics_new();
	_cleanup_free_ char *text = NULL;
	struct metric_family *c, *g, *plain;
	double v;

	assert_int_equal(metrics_add_family(m, "zl_restarts_total", "Restarts.", METRIC_COUNTER,
	                                    METRIC_LABELS("deployment", "service"), NULL, 0, &c),
	                 0);
	assert_int_equal(
	        metrics_add_family(m, "zl_things", "Things\\now\non two lines.", METRIC_GAUGE, NULL, NULL, 0, &g), 0);
	assert_int_equal(metrics_add_family(m, "zl_bytes_total", "Bytes.", METRIC_COUNTER, NULL, NULL, 0, &plain), 0);

	assert_int_equal(metric_add(c, 1, METRIC_LABELS("web", "api")), 0);
	assert_int_equal(metric_add(c, 2, METRIC_LABELS("web", "api")), 0);
	assert_int_equal(metric_add(c, 1, METRIC_LABELS("web", "db")), 0);
	assert_int_equal(metric_set(g, -2.5, NULL), 0);
	assert_int_equal(metric_get(c, METRIC_LABELS("web", "api"), &v), 0);
	assert_true(v == 3);
	assert_int_equal(metric_get(c, METRIC_LABELS("web", "nope"), &v), -ENOENT);
	assert_int_equal(metric_family_series(c), 2);

	text = render(m);
	assert_string_equal(text, "# HELP zl_restarts_total Restarts.\n"
	                          "# TYPE zl_restarts_total counter\n"
	                          "zl_restarts_total{deployment=\"web\",service=\"api\"} 3\n"
	                          "zl_restarts_total{deployment=\"web\",service=\"db\"} 1\n"
	                          "# HELP zl_things Things\\\\now\\non two lines.\n"
	                          "# TYPE zl_things gauge\n"
	                          "zl_things -2.5\n"
	                          "# HELP zl_bytes_total Bytes.\n"
	                          "# TYPE zl_bytes_total counter\n"
	                          "zl_bytes_total 0\n");
}

static void test_misuse(void **state) {
	_cleanup_(metrics_freep) struct metrics *m = metrics_new();
	struct metric_family *c, *h;
	static const double bad_buckets[] = { 1, 0.5 };
	static const double inf_bucket[] = { 1, INFINITY };

	assert_int_equal(metrics_add_family(m, "ok_total", "", METRIC_COUNTER, METRIC_LABELS("a"), NULL, 0, &c), 0);
	assert_int_equal(metrics_add_family(m, "ok_total", "", METRIC_COUNTER, NULL, NULL, 0, NULL), -EEXIST);
	assert_int_equal(metrics_add_family(m, "1bad", "", METRIC_COUNTER, NULL, NULL, 0, NULL), -EINVAL);
	assert_int_equal(metrics_add_family(m, "bad-name", "", METRIC_COUNTER, NULL, NULL, 0, NULL), -EINVAL);
	assert_int_equal(metrics_add_family(m, "x", "", METRIC_COUNTER, METRIC_LABELS("__r"), NULL, 0, NULL), -EINVAL);
	assert_int_equal(metrics_add_family(m, "x", "", METRIC_COUNTER, METRIC_LABELS("a:b"), NULL, 0, NULL), -EINVAL);
	assert_int_equal(metrics_add_family(m, "x", "", METRIC_COUNTER, METRIC_LABELS("a", "a"), NULL, 0, NULL),
	                 -EINVAL);
	assert_int_equal(
	        metrics_add_family(m, "x", "", METRIC_COUNTER, METRIC_LABELS("a", "b", "c", "d", "e"), NULL, 0, NULL),
	        -EINVAL);
	assert_int_equal(metrics_add_family(m, "x", "", METRIC_HISTOGRAM, METRIC_LABELS("le"), NULL, 0, NULL), -EINVAL);
	assert_int_equal(metrics_add_family(m, "x", "", METRIC_HISTOGRAM, NULL, bad_buckets, 2, NULL), -EINVAL);
	assert_int_equal(metrics_add_family(m, "x", "", METRIC_HISTOGRAM, NULL, inf_bucket, 2, NULL), -EINVAL);
	assert_int_equal(metrics_add_family(m, "x", "", METRIC_GAUGE, NULL, bad_buckets, 1, NULL), -EINVAL);
	assert_int_equal(metrics_add_family(m, "x:y", "", METRIC_HISTOGRAM, NULL, bad_buckets, 1, &h), 0);

	assert_int_equal(metric_add(c, -1, METRIC_LABELS("v")), -EINVAL);
	assert_int_equal(metric_add(c, NAN, METRIC_LABELS("v")), -EINVAL);
	assert_int_equal(metric_add(c, 1, NULL), -EINVAL);
	assert_int_equal(metric_add(c, 1, METRIC_LABELS("v", "w")), -EINVAL);
	assert_int_equal(metric_observe(c, 1, METRIC_LABELS("v")), -EINVAL);
	assert_int_equal(metric_add(h, 1, NULL), -EINVAL);
	assert_int_equal(metric_set(h, 1, NULL), -EINVAL);
	assert_int_equal(metric_set(c, 7, METRIC_LABELS("v")), 0); /* mirrored counters */
	assert_int_equal(metric_family_series(c), 1);
}

static void test_escaping(void **state) {
	_cleanup_(metrics_freep) struct metrics *m = metrics_new();
	_cleanup_free_ char *text = NULL, *long_value = NULL;
	struct strbuf sb = STRBUF_INIT;
	struct metric_family *g;
	double v;

	metrics_escape_label_value(&sb, "a\\b\"c\nd'e");
	assert_string_equal(strbuf_str(&sb), "a\\\\b\\\"c\\nd'e");
	strbuf_release(&sb);

	assert_int_equal(metrics_add_family(m, "g", "h", METRIC_GAUGE, METRIC_LABELS("v"), NULL, 0, &g), 0);
	assert_int_equal(metric_set(g, 1, METRIC_LABELS("quote\"back\\slash\nnew")), 0);
	/* invalid UTF-8 becomes '?', and the same value finds the same series */
	assert_int_equal(metric_set(g, 2,
	                            METRIC_LABELS("bad\xff"
	                                          "byte")),
	                 0);
	assert_int_equal(metric_add(g, 1,
	                            METRIC_LABELS("bad\xff"
	                                          "byte")),
	                 0);
	assert_int_equal(metric_get(g, METRIC_LABELS("bad?byte"), &v), 0);
	assert_true(v == 3);
	text = render(m);
	assert_string_equal(text, "# HELP g h\n# TYPE g gauge\n"
	                          "g{v=\"quote\\\"back\\\\slash\\nnew\"} 1\n"
	                          "g{v=\"bad?byte\"} 3\n");

	/* long values are cut at METRICS_LABEL_VALUE_MAX, on a character boundary */
	long_value = xmalloc(METRICS_LABEL_VALUE_MAX + 8);
	memset(long_value, 'x', METRICS_LABEL_VALUE_MAX - 1);
	memcpy(long_value + METRICS_LABEL_VALUE_MAX - 1, "\xc3\xa9zz", 5);
	metric_family_clear(g);
	assert_int_equal(metric_set(g, 5, METRIC_LABELS(long_value)), 0);
	long_value[METRICS_LABEL_VALUE_MAX - 1] = '\0';
	assert_int_equal(metric_get(g, METRIC_LABELS(long_value), &v), 0);
	assert_true(v == 5);
}

static void test_histogram(void **state) {
	_cleanup_(metrics_freep) struct metrics *m = metrics_new();
	_cleanup_free_ char *text = NULL;
	static const double b[] = { 0.005, 0.1, 1 };
	struct metric_family *h;

	assert_int_equal(metrics_add_family(m, "lat_seconds", "Latency.", METRIC_HISTOGRAM, METRIC_LABELS("route"), b,
	                                    ELEMENTSOF(b), &h),
	                 0);
	assert_int_equal(metric_observe(h, 0.001, METRIC_LABELS("/v1/ping")), 0);
	assert_int_equal(metric_observe(h, 0.005, METRIC_LABELS("/v1/ping")), 0); /* le is inclusive */
	assert_int_equal(metric_observe(h, 0.05, METRIC_LABELS("/v1/ping")), 0);
	assert_int_equal(metric_observe(h, 3, METRIC_LABELS("/v1/ping")), 0); /* only +Inf */
	assert_int_equal(metric_observe(h, NAN, METRIC_LABELS("/v1/ping")), -EINVAL);
	text = render(m);
	assert_string_equal(text, "# HELP lat_seconds Latency.\n"
	                          "# TYPE lat_seconds histogram\n"
	                          "lat_seconds_bucket{route=\"/v1/ping\",le=\"0.005\"} 2\n"
	                          "lat_seconds_bucket{route=\"/v1/ping\",le=\"0.1\"} 3\n"
	                          "lat_seconds_bucket{route=\"/v1/ping\",le=\"1\"} 3\n"
	                          "lat_seconds_bucket{route=\"/v1/ping\",le=\"+Inf\"} 4\n"
	                          "lat_seconds_sum{route=\"/v1/ping\"} 3.056\n"
	                          "lat_seconds_count{route=\"/v1/ping\"} 4\n");
}

static void test_histogram_no_labels(void **state) {
	_cleanup_(metrics_freep) struct metrics *m = metrics_new();
	_cleanup_free_ char *text = NULL;
	struct metric_family *h;

	assert_int_equal(metrics_add_family(m, "d", "D.", METRIC_HISTOGRAM, NULL, metrics_latency_buckets,
	                                    metrics_latency_buckets_n, &h),
	                 0);
	assert_int_equal(metric_observe(h, 0.0004, NULL), 0);
	assert_int_equal(metric_observe(h, 20, NULL), 0);
	text = render(m);
	assert_non_null(strstr(text, "d_bucket{le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(text, "d_bucket{le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(text, "d_bucket{le=\"10\"} 1\n"));
	assert_non_null(strstr(text, "d_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(text, "d_sum 20.0004\n"));
	assert_non_null(strstr(text, "d_count 2\n"));
}

static void test_series_cap(void **state) {
	_cleanup_(metrics_freep) struct metrics *m = metrics_new();
	struct metric_family *c;
	char name[32];

	assert_int_equal(metrics_add_family(m, "c_total", "", METRIC_COUNTER, METRIC_LABELS("id"), NULL, 0, &c), 0);
	for (unsigned i = 0; i < METRICS_SERIES_MAX; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		assert_int_equal(metric_add(c, 1, METRIC_LABELS(name)), 0);
	}
	assert_int_equal(metric_add(c, 1, METRIC_LABELS("one-more")), -ENOSPC);
	assert_int_equal(metric_add(c, 1, METRIC_LABELS("and-another")), -ENOSPC);
	assert_int_equal(metric_add(c, 1, METRIC_LABELS("s7")), 0); /* known sets still count */
	assert_int_equal(metric_family_series(c), METRICS_SERIES_MAX);
	assert_int_equal(metric_family_dropped(c), 2);
	metric_family_clear(c);
	assert_int_equal(metric_family_series(c), 0);
	assert_int_equal(metric_add(c, 1, METRIC_LABELS("one-more")), 0);
}

static void test_numbers(void **state) {
	static const struct {
		double v;
		const char *s;
	} cases[] = {
		{ 0, "0" },           { -0.0, "0" },
		{ 1, "1" },           { 42, "42" },
		{ -3, "-3" },         { 0.1, "0.1" },
		{ 0.0005, "0.0005" }, { 2.5, "2.5" },
		{ 1e-7, "1e-07" },    { 123456789012345.0, "123456789012345" },
		{ 1e15, "1e+15" },    { 1.0 / 3, "0.3333333333333333" },
		{ INFINITY, "+Inf" }, { -INFINITY, "-Inf" },
		{ NAN, "NaN" },
	};
	char buf[METRICS_NUMBER_MAX];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		assert_string_equal(metrics_format_number(buf, cases[i].v), cases[i].s);
	/* everything finite reads back exactly */
	for (double v = 1e-9; v < 1e20; v *= 3.7) {
		metrics_format_number(buf, v);
		assert_true(strtod(buf, NULL) == v);
	}
}

static void test_proc_stat(void **state) {
	uint64_t cpu, start;

	assert_int_equal(metrics_parse_proc_stat("1234 (zlayer agent) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 "
	                                         "250 50 0 0 20 0 3 0 987654 12345678 900 18446744073709551615\n",
	                                         &cpu, &start),
	                 0);
	assert_int_equal(cpu, 300);
	assert_int_equal(start, 987654);
	assert_int_equal(metrics_parse_proc_stat("1234 (short) S 1 2 3\n", &cpu, &start), -EINVAL);
	assert_int_equal(metrics_parse_proc_stat("no parenthesis", &cpu, &start), -EINVAL);
	assert_int_equal(metrics_parse_proc_stat("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 5 0 0 20 0 1 0 7\n", &cpu, &start),
	                 -EINVAL);
}

static void test_type_strings(void **state) {
	for (int t = 0; t < _METRIC_TYPE_MAX; t++)
		assert_int_equal(metric_type_from_string(metric_type_to_string((enum metric_type)t)), t);
	assert_int_equal(metric_type_from_string("summary"), _METRIC_TYPE_INVALID);
	assert_null(metric_type_to_string(_METRIC_TYPE_MAX));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_gauge),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_histogram_no_labels),
		cmocka_unit_test(test_series_cap),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_proc_stat),
		cmocka_unit_test(test_type_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
