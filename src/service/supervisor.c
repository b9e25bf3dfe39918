/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "basic/macro.h"
#include "service/supervisor.h"
#include "basic/banned.h"

static const char *const state_names[_REPLICA_STATE_MAX] = {
	[REPLICA_CREATING] = "creating", [REPLICA_RUNNING] = "running",     [REPLICA_BACKOFF] = "backoff",
	[REPLICA_STOPPING] = "stopping", [REPLICA_COMPLETED] = "completed", [REPLICA_FAILED] = "failed",
	[REPLICA_ISOLATED] = "isolated", [REPLICA_GONE] = "gone",
};

static const char *const event_names[_REPLICA_EVENT_MAX] = {
	[REPLICA_EV_STARTED] = "started", [REPLICA_EV_START_FAILED] = "start-failed",
	[REPLICA_EV_EXITED] = "exited",   [REPLICA_EV_RESTART_DUE] = "restart-due",
	[REPLICA_EV_STOP] = "stop",       [REPLICA_EV_STOPPED] = "stopped",
};

static const char *const action_names[_REPLICA_ACTION_MAX] = {
	[REPLICA_ACT_NONE] = "none",
	[REPLICA_ACT_WATCH] = "watch",
	[REPLICA_ACT_DECIDE] = "decide",
	[REPLICA_ACT_RECREATE] = "recreate",
	[REPLICA_ACT_STOP] = "stop",
	[REPLICA_ACT_CANCEL_STOP] = "cancel-and-stop",
	[REPLICA_ACT_STOP_WHEN_UP] = "stop-when-up",
	[REPLICA_ACT_FORGET] = "forget",
	[REPLICA_ACT_DEFER_EXIT] = "defer-exit",
	[REPLICA_ACT_IGNORE] = "ignore",
};

static const char *const decision_names[_EXIT_DECISION_MAX] = {
	[EXIT_DECISION_COMPLETE] = "complete",
	[EXIT_DECISION_RESTART] = "restart",
	[EXIT_DECISION_FAIL] = "fail",
	[EXIT_DECISION_ISOLATE] = "isolate",
};

static int lookup(const char *const *names, size_t n, const char *s) {
	for (size_t i = 0; s && i < n; i++)
		if (names[i] && streq(names[i], s))
			return (int)i;
	return -1;
}

const char *replica_state_to_string(enum replica_state s) {
	return (unsigned)s < _REPLICA_STATE_MAX ? state_names[s] : NULL;
}
enum replica_state replica_state_from_string(const char *s) {
	return (enum replica_state)lookup(state_names, _REPLICA_STATE_MAX, s);
}
const char *replica_event_to_string(enum replica_event e) {
	return (unsigned)e < _REPLICA_EVENT_MAX ? event_names[e] : NULL;
}
enum replica_event replica_event_from_string(const char *s) {
	return (enum replica_event)lookup(event_names, _REPLICA_EVENT_MAX, s);
}
const char *replica_action_to_string(enum replica_action a) {
	return (unsigned)a < _REPLICA_ACTION_MAX ? action_names[a] : NULL;
}
const char *exit_decision_to_string(enum exit_decision d) {
	return (unsigned)d < _EXIT_DECISION_MAX ? decision_names[d] : NULL;
}

#define T(n, a) \
	{ REPLICA_##n, REPLICA_ACT_##a }
/* Rows: states; columns: events (started, start-failed, exited, restart-due,
 * stop, stopped). DECIDE moves on to RUNNING's successor the decision picks
 * (the manager sets it); the `next` given with DECIDE is where it waits. */
static const struct replica_transition table[_REPLICA_STATE_MAX][_REPLICA_EVENT_MAX] = {
	[REPLICA_CREATING] = { T(RUNNING, WATCH), T(FAILED, NONE), T(CREATING, DEFER_EXIT), T(CREATING, IGNORE),
	                       T(STOPPING, STOP_WHEN_UP), T(CREATING, IGNORE) },
	[REPLICA_RUNNING] = { T(RUNNING, IGNORE), T(RUNNING, IGNORE), T(RUNNING, DECIDE), T(RUNNING, IGNORE),
	                      T(STOPPING, STOP), T(RUNNING, IGNORE) },
	[REPLICA_BACKOFF] = { T(BACKOFF, IGNORE), T(BACKOFF, IGNORE), T(BACKOFF, IGNORE), T(CREATING, RECREATE),
	                      T(STOPPING, CANCEL_STOP), T(BACKOFF, IGNORE) },
	[REPLICA_STOPPING] = { T(STOPPING, IGNORE), T(STOPPING, IGNORE), T(STOPPING, IGNORE), T(STOPPING, IGNORE),
	                       T(STOPPING, IGNORE), T(GONE, FORGET) },
	[REPLICA_COMPLETED] = { T(COMPLETED, IGNORE), T(COMPLETED, IGNORE), T(COMPLETED, IGNORE), T(COMPLETED, IGNORE),
	                        T(STOPPING, STOP), T(COMPLETED, IGNORE) },
	[REPLICA_FAILED] = { T(FAILED, IGNORE), T(FAILED, IGNORE), T(FAILED, IGNORE), T(FAILED, IGNORE),
	                     T(STOPPING, STOP), T(FAILED, IGNORE) },
	[REPLICA_ISOLATED] = { T(ISOLATED, IGNORE), T(ISOLATED, IGNORE), T(ISOLATED, IGNORE), T(ISOLATED, IGNORE),
	                       T(STOPPING, STOP), T(ISOLATED, IGNORE) },
	[REPLICA_GONE] = { T(GONE, IGNORE), T(GONE, IGNORE), T(GONE, IGNORE), T(GONE, IGNORE), T(GONE, IGNORE),
	                   T(GONE, IGNORE) },
};
#undef T

struct replica_transition supervisor_step(enum replica_state s, enum replica_event e) {
	if ((unsigned)s >= _REPLICA_STATE_MAX || (unsigned)e >= _REPLICA_EVENT_MAX)
		return (struct replica_transition){ s, REPLICA_ACT_IGNORE };
	return table[s][e];
}

static void history_prune(struct restart_history *h, int64_t since) {
	uint32_t k = 0;

	while (k < h->n && h->at[k] < since)
		k++;
	memmove(h->at, h->at + k, (h->n - k) * sizeof(h->at[0]));
	h->n -= k;
}

void supervisor_decide_exit(const struct spec_service *svc, const struct supervisor_settings *s,
                            struct restart_history *h, const struct wait_outcome *w, int64_t now_ns,
                            struct supervisor_decision *ret) {
	const struct spec_restart_policy *rp = &svc->restart_policy;
	bool failed = !(w->reason == EXIT_REASON_EXITED && w->exit_code == 0);
	enum exit_decision d;

	*ret = (struct supervisor_decision){};
	/* A panic (a failure) under shutdown/isolate is never restarted. */
	if (failed && svc->on_panic == SPEC_PANIC_SHUTDOWN)
		d = EXIT_DECISION_FAIL;
	else if (failed && svc->on_panic == SPEC_PANIC_ISOLATE)
		d = EXIT_DECISION_ISOLATE;
	else if (rp->set) {
		switch (rp->kind) {
		case SPEC_RESTART_ALWAYS:
		case SPEC_RESTART_UNLESS_STOPPED:
			d = EXIT_DECISION_RESTART;
			break;
		case SPEC_RESTART_ON_FAILURE:
			d = !failed                                            ? EXIT_DECISION_COMPLETE
			    : rp->max_attempts && h->total >= rp->max_attempts ? EXIT_DECISION_FAIL
			                                                       : EXIT_DECISION_RESTART;
			break;
		default:
			d = failed ? EXIT_DECISION_FAIL : EXIT_DECISION_COMPLETE;
			break;
		}
	} else
		d = failed ? EXIT_DECISION_RESTART : EXIT_DECISION_COMPLETE;
	ret->decision = d;
	if (d != EXIT_DECISION_RESTART)
		return;

	history_prune(h, now_ns - (int64_t)s->crashloop_window_nsec);
	if (h->n >= s->crashloop_restarts) {
		ret->crash_loop = true;
		ret->delay_nsec = s->crashloop_delay_nsec;
	} else
		ret->delay_nsec = rp->set ? rp->delay_nsec : 0;
	if (h->n == SUPERVISOR_HISTORY_MAX) {
		memmove(h->at, h->at + 1, (h->n - 1) * sizeof(h->at[0]));
		h->n--;
	}
	h->at[h->n++] = now_ns;
	h->total++;
}
