/* SPDX-License-Identifier: Apache-2.0 */
/* The supervisor table and the restart decision (restart_policy,
 * on_panic, crash-loop window). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "service/events.h"
#include "service/supervisor.h"
#include "basic/banned.h"

#define SEC (INT64_C(1000000000))

static const struct supervisor_settings settings = { .crashloop_window_nsec = 300 * SEC,
	                                             .crashloop_restarts = 5,
	                                             .crashloop_delay_nsec = 30 * SEC };

static struct wait_outcome exited(int code) {
	return (struct wait_outcome){ .reason = EXIT_REASON_EXITED, .exit_code = code };
}

static void test_every_pair_has_an_entry(void **state) {
	for (int s = 0; s < _REPLICA_STATE_MAX; s++)
		for (int e = 0; e < _REPLICA_EVENT_MAX; e++) {
			struct replica_transition t = supervisor_step(s, e);
			assert_true((unsigned)t.next < _REPLICA_STATE_MAX);
			assert_true((unsigned)t.action < _REPLICA_ACTION_MAX);
			assert_non_null(replica_action_to_string(t.action));
		}
	for (int s = 0; s < _REPLICA_STATE_MAX; s++)
		assert_int_equal(replica_state_from_string(replica_state_to_string(s)), s);
	for (int e = 0; e < _REPLICA_EVENT_MAX; e++)
		assert_int_equal(replica_event_from_string(replica_event_to_string(e)), e);
	assert_int_equal(replica_state_from_string("nope"), _REPLICA_STATE_INVALID);
}

static void test_table_paths(void **state) {
	struct replica_transition t;

	t = supervisor_step(REPLICA_CREATING, REPLICA_EV_STARTED);
	assert_int_equal(t.next, REPLICA_RUNNING);
	assert_int_equal(t.action, REPLICA_ACT_WATCH);
	/* an exit that beats the create worker's report is kept */
	t = supervisor_step(REPLICA_CREATING, REPLICA_EV_EXITED);
	assert_int_equal(t.next, REPLICA_CREATING);
	assert_int_equal(t.action, REPLICA_ACT_DEFER_EXIT);
	t = supervisor_step(REPLICA_CREATING, REPLICA_EV_STOP);
	assert_int_equal(t.next, REPLICA_STOPPING);
	assert_int_equal(t.action, REPLICA_ACT_STOP_WHEN_UP);
	t = supervisor_step(REPLICA_RUNNING, REPLICA_EV_EXITED);
	assert_int_equal(t.action, REPLICA_ACT_DECIDE);
	t = supervisor_step(REPLICA_BACKOFF, REPLICA_EV_RESTART_DUE);
	assert_int_equal(t.next, REPLICA_CREATING);
	assert_int_equal(t.action, REPLICA_ACT_RECREATE);
	/* a stop while a restart is pending cancels it */
	t = supervisor_step(REPLICA_BACKOFF, REPLICA_EV_STOP);
	assert_int_equal(t.action, REPLICA_ACT_CANCEL_STOP);
	t = supervisor_step(REPLICA_STOPPING, REPLICA_EV_EXITED);
	assert_int_equal(t.action, REPLICA_ACT_IGNORE);
	t = supervisor_step(REPLICA_STOPPING, REPLICA_EV_STOPPED);
	assert_int_equal(t.next, REPLICA_GONE);
	assert_int_equal(t.action, REPLICA_ACT_FORGET);
	/* a second restart timer can never be armed: only BACKOFF has one */
	for (int s = 0; s < _REPLICA_STATE_MAX; s++)
		if (s != REPLICA_BACKOFF)
			assert_int_not_equal(supervisor_step(s, REPLICA_EV_RESTART_DUE).action, REPLICA_ACT_RECREATE);
	for (int s = 0; s < _REPLICA_STATE_MAX; s++)
		if (s != REPLICA_RUNNING)
			assert_int_not_equal(supervisor_step(s, REPLICA_EV_EXITED).action, REPLICA_ACT_DECIDE);
}

static void test_on_panic(void **state) {
	struct spec_service svc = { .on_panic = SPEC_PANIC_RESTART };
	struct restart_history h = {};
	struct supervisor_decision d;
	struct wait_outcome w;

	w = exited(0);
	supervisor_decide_exit(&svc, &settings, &h, &w, 1 * SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_COMPLETE);
	assert_int_equal(h.total, 0);
	w = exited(3);
	supervisor_decide_exit(&svc, &settings, &h, &w, 1 * SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_RESTART);
	assert_int_equal(d.delay_nsec, 0);
	assert_false(d.crash_loop);
	assert_int_equal(h.total, 1);
	/* a signal or an OOM kill is a failure too */
	w = (struct wait_outcome){ .reason = EXIT_REASON_OOM_KILLED, .exit_code = 137 };
	supervisor_decide_exit(&svc, &settings, &h, &w, 2 * SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_RESTART);

	svc.on_panic = SPEC_PANIC_SHUTDOWN;
	w = exited(3);
	supervisor_decide_exit(&svc, &settings, &h, &w, 3 * SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_FAIL);
	w = exited(0);
	supervisor_decide_exit(&svc, &settings, &h, &w, 3 * SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_COMPLETE);
	svc.on_panic = SPEC_PANIC_ISOLATE;
	w = exited(3);
	supervisor_decide_exit(&svc, &settings, &h, &w, 3 * SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_ISOLATE);
}

static void test_crash_loop(void **state) {
	struct spec_service svc = { .on_panic = SPEC_PANIC_RESTART };
	struct restart_history h = {};
	struct supervisor_decision d;
	struct wait_outcome w = exited(1);
	int64_t t = 1000 * SEC;

	/* 5 restarts inside the window are immediate; the 6th waits 30 s */
	for (int i = 0; i < 5; i++) {
		supervisor_decide_exit(&svc, &settings, &h, &w, t + i * SEC, &d);
		assert_int_equal(d.decision, EXIT_DECISION_RESTART);
		assert_false(d.crash_loop);
	}
	supervisor_decide_exit(&svc, &settings, &h, &w, t + 5 * SEC, &d);
	assert_true(d.crash_loop);
	assert_int_equal(d.delay_nsec, 30 * SEC);
	/* once the old restarts leave the window, back to immediate */
	supervisor_decide_exit(&svc, &settings, &h, &w, t + 400 * SEC, &d);
	assert_false(d.crash_loop);
	assert_int_equal(d.delay_nsec, 0);
	assert_int_equal(h.total, 7);
}

static void test_restart_policy(void **state) {
	struct spec_service svc = { .on_panic = SPEC_PANIC_RESTART };
	struct restart_history h = {};
	struct supervisor_decision d;
	struct wait_outcome w;

	svc.restart_policy = (struct spec_restart_policy){ .set = true, .kind = SPEC_RESTART_NO };
	w = exited(2);
	supervisor_decide_exit(&svc, &settings, &h, &w, SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_FAIL);

	svc.restart_policy =
	        (struct spec_restart_policy){ .set = true, .kind = SPEC_RESTART_ALWAYS, .delay_nsec = 2 * SEC };
	w = exited(0);
	supervisor_decide_exit(&svc, &settings, &h, &w, SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_RESTART);
	assert_int_equal(d.delay_nsec, 2 * SEC);

	h = (struct restart_history){};
	svc.restart_policy =
	        (struct spec_restart_policy){ .set = true, .kind = SPEC_RESTART_ON_FAILURE, .max_attempts = 2 };
	w = exited(0);
	supervisor_decide_exit(&svc, &settings, &h, &w, SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_COMPLETE);
	w = exited(9);
	supervisor_decide_exit(&svc, &settings, &h, &w, SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_RESTART);
	supervisor_decide_exit(&svc, &settings, &h, &w, 2 * SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_RESTART);
	supervisor_decide_exit(&svc, &settings, &h, &w, 3 * SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_FAIL);
	assert_int_equal(h.total, 2);

	/* on_panic shutdown wins over a restart policy for failures */
	svc.on_panic = SPEC_PANIC_SHUTDOWN;
	svc.restart_policy = (struct spec_restart_policy){ .set = true, .kind = SPEC_RESTART_ALWAYS };
	supervisor_decide_exit(&svc, &settings, &h, &w, 4 * SEC, &d);
	assert_int_equal(d.decision, EXIT_DECISION_FAIL);
}

static void capture(json_t *ev, void *userdata) {
	json_array_append(userdata, ev);
}

static void test_events(void **state) {
	struct event_bus *b = event_bus_new(3);
	json_t *seen = json_array(), *h;
	uint64_t id;

	id = event_subscribe(b, capture, seen);
	event_emit(b, "A", "d1", "s", "r", "one %d", 1);
	event_emit(b, "B", "d2", NULL, NULL, "two");
	event_unsubscribe(b, id);
	event_emit(b, "C", "d1", NULL, NULL, "three");
	event_emit(b, "D", "d1", NULL, NULL, "four");
	assert_int_equal(json_array_size(seen), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(seen, 0), "message")), "one 1");
	/* three kept: B, C, D; since=2 gives C, D; of d1 only */
	h = event_history(b, 0, NULL);
	assert_int_equal(json_array_size(h), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "type")), "B");
	json_decref(h);
	h = event_history(b, 2, "d1");
	assert_int_equal(json_array_size(h), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(h, 0), "seq")), 3);
	json_decref(h);
	json_decref(seen);
	event_bus_free(b);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_pair_has_an_entry),
		cmocka_unit_test(test_table_paths),
		cmocka_unit_test(test_on_panic),
		cmocka_unit_test(test_crash_loop),
		cmocka_unit_test(test_restart_policy),
		cmocka_unit_test(test_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
