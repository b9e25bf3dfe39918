/* SPDX-License-Identifier: Apache-2.0 */
/* The replica supervisor as an explicit state x event table (s6-supervise
 * style): supervisor_step() says which state a replica moves to and what the
 * manager must do, for every event in every state. On an exit, the restart
 * decision (restart_policy, errors.on_panic, crash-loop window) is
 * supervisor_decide_exit(). Pure logic: no clock reads, no I/O. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "runtime/runtime.h"
#include "spec/spec.h"

enum replica_state {
	REPLICA_CREATING,  /* a worker creates, runs init steps, starts */
	REPLICA_RUNNING,   /* started, the container's init alive */
	REPLICA_BACKOFF,   /* exited; one delayed restart pending */
	REPLICA_STOPPING,  /* a worker stops and removes it */
	REPLICA_COMPLETED, /* exited 0, not restarted */
	REPLICA_FAILED,    /* create/init failed, or exited with on_panic shutdown / no restart left */
	REPLICA_ISOLATED,  /* exited with on_panic isolate: left as it is for debugging */
	REPLICA_GONE,      /* stopped and removed: the manager forgets it */
	_REPLICA_STATE_MAX,
	_REPLICA_STATE_INVALID = -1,
};
const char *replica_state_to_string(enum replica_state s);
enum replica_state replica_state_from_string(const char *s);

enum replica_event {
	REPLICA_EV_STARTED,      /* the create worker started it */
	REPLICA_EV_START_FAILED, /* the create worker gave up (create, init or start) */
	REPLICA_EV_EXITED,       /* the runtime saw its init exit */
	REPLICA_EV_RESTART_DUE,  /* the backoff timer fired */
	REPLICA_EV_STOP,         /* scale down, down, replaced by a rollout */
	REPLICA_EV_STOPPED,      /* the stop worker removed it */
	_REPLICA_EVENT_MAX,
	_REPLICA_EVENT_INVALID = -1,
};
const char *replica_event_to_string(enum replica_event e);
enum replica_event replica_event_from_string(const char *s);

enum replica_action {
	REPLICA_ACT_NONE,
	REPLICA_ACT_WATCH,        /* running: start health checks */
	REPLICA_ACT_DECIDE,       /* apply supervisor_decide_exit() */
	REPLICA_ACT_RECREATE,     /* remove the exited container, create it again */
	REPLICA_ACT_STOP,         /* stop health checks, run the stop worker */
	REPLICA_ACT_CANCEL_STOP,  /* cancel the pending restart, run the stop worker */
	REPLICA_ACT_STOP_WHEN_UP, /* a create is under way: stop once it reports */
	REPLICA_ACT_FORGET,       /* remove the replica from its service */
	REPLICA_ACT_DEFER_EXIT,   /* exited before the create worker reported: handled at STARTED */
	REPLICA_ACT_IGNORE,       /* an event that no longer matters (logged) */
	_REPLICA_ACTION_MAX,
	_REPLICA_ACTION_INVALID = -1,
};
const char *replica_action_to_string(enum replica_action a);

struct replica_transition {
	enum replica_state next;
	enum replica_action action;
};

/* The table. Every (state, event) pair has an entry. */
struct replica_transition supervisor_step(enum replica_state s, enum replica_event e);

/* Daemon settings (so tests can shrink them). */
struct supervisor_settings {
	uint64_t crashloop_window_nsec; /* 300 s */
	uint32_t crashloop_restarts;    /* more than this many restarts in the window: 5 */
	uint64_t crashloop_delay_nsec;  /* 30 s */
};
#define SUPERVISOR_SETTINGS_DEFAULT                                                         \
	((struct supervisor_settings){ .crashloop_window_nsec = UINT64_C(300) * 1000000000, \
	                               .crashloop_restarts = 5,                             \
	                               .crashloop_delay_nsec = UINT64_C(30) * 1000000000 })

#define SUPERVISOR_HISTORY_MAX 64

/* Restarts of one replica slot (kept across its containers). */
struct restart_history {
	int64_t at[SUPERVISOR_HISTORY_MAX]; /* CLOCK_MONOTONIC ns, oldest first */
	uint32_t n;
	uint32_t total; /* every restart, for status */
};

enum exit_decision {
	EXIT_DECISION_COMPLETE, /* exit 0: Completed */
	EXIT_DECISION_RESTART,
	EXIT_DECISION_FAIL,    /* on_panic shutdown, restart_policy no, or max_attempts used up */
	EXIT_DECISION_ISOLATE, /* on_panic isolate */
	_EXIT_DECISION_MAX,
	_EXIT_DECISION_INVALID = -1,
};
const char *exit_decision_to_string(enum exit_decision d);

struct supervisor_decision {
	enum exit_decision decision;
	uint64_t delay_nsec; /* RESTART: wait this long first */
	bool crash_loop;     /* RESTART: CrashLoopBackOff */
};

/* What to do after an exit at now_ns. A RESTART is recorded in h. */
void supervisor_decide_exit(const struct spec_service *svc, const struct supervisor_settings *s,
                            struct restart_history *h, const struct wait_outcome *w, int64_t now_ns,
                            struct supervisor_decision *ret);
