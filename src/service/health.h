/* SPDX-License-Identifier: Apache-2.0 */
/* A replica's health: the check run against one container (I/O, for a
 * worker thread) and the state machine the service manager keeps on its
 * event loop (pure: no I/O, no clock reads, times passed in). */
#pragma once

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "service/probe.h"
#include "spec/spec.h"

/* Reasons are capped too; output is PROBE_OUTPUT_MAX. */
#define HEALTH_REASON_MAX 1024
/* Between checks while a replica has not yet been healthy and is inside
 * start_grace, when interval is longer. */
#define HEALTH_START_INTERVAL_NSEC (1000 * UINT64_C(1000000))

enum health_status {
	HEALTH_UNKNOWN,   /* not checked yet */
	HEALTH_CHECKING,  /* checked, never healthy, fewer than retries failures */
	HEALTH_HEALTHY,   /* the last check passed, or fewer than retries failed since */
	HEALTH_UNHEALTHY, /* retries consecutive failures */
	_HEALTH_STATUS_MAX,
	_HEALTH_STATUS_INVALID = -1,
};

const char *health_status_to_string(enum health_status s);
enum health_status health_status_from_string(const char *s);

enum health_transition {
	HEALTH_TRANSITION_NONE,
	HEALTH_TRANSITION_BECAME_HEALTHY,
	HEALTH_TRANSITION_BECAME_UNHEALTHY,
};

struct health_state {
	enum health_status status;
	uint32_t failures;     /* consecutive; counted ones only (not inside start_grace) */
	char *reason;          /* the last failure's, NULL after a success */
	char *output;          /* the last check's, at most PROBE_OUTPUT_MAX bytes */
	int64_t last_check_ns; /* CLOCK_REALTIME ns of the last record, 0: never */
	uint64_t checks;
};

void health_state_init(struct health_state *s);
void health_state_release(struct health_state *s);

/* Record one check's outcome at now_ns for a replica started at started_ns.
 * Until a replica has once been healthy, failures inside start_grace after
 * started_ns are not counted (Docker's start period) and leave it CHECKING.
 * One success makes it HEALTHY and resets failures; `retries` (0 counts as
 * 1) consecutive counted failures make it UNHEALTHY. reason and output are
 * kept (copied, capped, made valid UTF-8). The transition tells the caller
 * whether to emit an event. */
enum health_transition health_state_record(struct health_state *s, const struct spec_health *h, bool ok,
                                           const char *reason, const char *output, int64_t now_ns, int64_t started_ns);

/* Delay before the next check. The first check runs at once after start
 * (Docker waits one interval; we do not, so that `depends: healthy` is
 * quick); then every HEALTH_START_INTERVAL_NSEC (or interval if shorter)
 * while not yet healthy inside start_grace; then every interval. */
uint64_t health_next_delay_ns(const struct spec_health *h, const struct health_state *s, int64_t now_ns,
                              int64_t started_ns);

/* {status, failures, reason, output, last_check (RFC 3339 UTC, ns, or null),
 * checks}. */
int health_state_to_json(const struct health_state *s, json_t **ret);

/* What a check runs against. */
struct health_target {
	const char *ip;     /* the container's address; "127.0.0.1" for host networking */
	probe_exec_fn exec; /* runs a command inside the container; NULL: command checks fail */
	void *exec_userdata;
};

/* Run check against t (blocking, bounded by timeout_nsec, cancellable
 * within 100 ms): tcp connects to t->ip:port, http GETs the URL with
 * localhost meaning t->ip, command runs inside the container. SPEC_CHECK_NONE
 * succeeds without I/O. *ret is always filled; 0 healthy, -errno not. */
int health_probe_run(const struct spec_health_check *check, const struct health_target *t, uint64_t timeout_nsec,
                     const atomic_bool *cancel, struct probe_result *ret);
