/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "service/events.h"

static const char *str(json_t *o, const char *k) {
	return json_string_value(json_object_get(o, k));
}

static void test_history_fields(void **state) {
	struct event_bus *b = event_bus_new(8);
	json_t *h, *e;

	event_emit(b, "Deploying", "web", NULL, NULL, "%d services", 2);
	event_emit(b, "ContainerAdopted", "web", "api", "api-rep-1", "running as pid %d", 42);
	event_emit(b, "JobStarted", NULL, NULL, NULL, "nightly");
	h = event_history(b, 0, NULL);
	assert_int_equal(json_array_size(h), 3);
	e = json_array_get(h, 1);
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), 2);
	assert_string_equal(str(e, "type"), "ContainerAdopted");
	assert_string_equal(str(e, "deployment"), "web");
	assert_string_equal(str(e, "service"), "api");
	assert_string_equal(str(e, "replica"), "api-rep-1");
	assert_string_equal(str(e, "message"), "running as pid 42");
	assert_non_null(str(e, "time"));
	/* absent names are nulls */
	e = json_array_get(h, 2);
	assert_true(json_is_null(json_object_get(e, "deployment")));
	assert_true(json_is_null(json_object_get(e, "replica")));
	json_decref(h);
	event_bus_free(b);
}

static void test_history_filters(void **state) {
	struct event_bus *b = event_bus_new(8);
	json_t *h;

	event_emit(b, "A", "web", NULL, NULL, "1");
	event_emit(b, "B", "db", NULL, NULL, "2");
	event_emit(b, "C", "web", NULL, NULL, "3");
	event_emit(b, "D", NULL, NULL, NULL, "4");

	h = event_history(b, 0, "web");
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(str(json_array_get(h, 0), "type"), "A");
	assert_string_equal(str(json_array_get(h, 1), "type"), "C");
	json_decref(h);

	h = event_history(b, 1, "web");
	assert_int_equal(json_array_size(h), 1);
	assert_string_equal(str(json_array_get(h, 0), "type"), "C");
	json_decref(h);

	h = event_history(b, 2, NULL);
	assert_int_equal(json_array_size(h), 2);
	json_decref(h);

	h = event_history(b, 0, "webx"); /* names match whole */
	assert_int_equal(json_array_size(h), 0);
	json_decref(h);
	event_bus_free(b);
}

/* The ring keeps the last `keep`, oldest first, through many wraps. */
static void test_ring_wraps(void **state) {
	struct event_bus *b = event_bus_new(3);
	json_t *h;

	for (int i = 1; i <= 10; i++)
		event_emit(b, "E", i % 2 ? "odd" : "even", NULL, NULL, "n%d", i);
	h = event_history(b, 0, NULL);
	assert_int_equal(json_array_size(h), 3);
	for (int i = 0; i < 3; i++) {
		char want[8];
		snprintf(want, sizeof(want), "n%d", 8 + i);
		assert_string_equal(str(json_array_get(h, (size_t)i), "message"), want);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(h, (size_t)i), "seq")), 8 + i);
	}
	json_decref(h);
	h = event_history(b, 0, "even");
	assert_int_equal(json_array_size(h), 2); /* n8, n10 */
	json_decref(h);
	event_bus_free(b);
}

struct seen {
	int n;
	char last[64];
};

static void on_event(json_t *ev, void *userdata) {
	struct seen *s = userdata;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s", json_string_value(json_object_get(ev, "type")));
}

static void test_subscribers(void **state) {
	struct event_bus *b = event_bus_new(2);
	struct seen s = {};
	uint64_t id = event_subscribe(b, on_event, &s);

	event_emit(b, "One", NULL, NULL, NULL, "x");
	event_emit(b, "Two", NULL, NULL, NULL, "y");
	assert_int_equal(s.n, 2);
	assert_string_equal(s.last, "Two");
	event_unsubscribe(b, id);
	event_emit(b, "Three", NULL, NULL, NULL, "z");
	assert_int_equal(s.n, 2);
	event_bus_free(b);
}

/* A message that is not UTF-8 reaches subscribers (as NULL, as before)
 * but is not kept. */
static void test_invalid_utf8_not_kept(void **state) {
	struct event_bus *b = event_bus_new(4);
	json_t *h;

	event_emit(b, "Bad", NULL, NULL, NULL, "%s", "\xff\xfe");
	event_emit(b, "Good", NULL, NULL, NULL, "ok");
	h = event_history(b, 0, NULL);
	assert_int_equal(json_array_size(h), 1);
	assert_string_equal(str(json_array_get(h, 0), "type"), "Good");
	json_decref(h);
	event_bus_free(b);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_fields),
		cmocka_unit_test(test_history_filters),
		cmocka_unit_test(test_ring_wraps),
		cmocka_unit_test(test_subscribers),
		cmocka_unit_test(test_invalid_utf8_not_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
