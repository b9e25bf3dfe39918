/* SPDX-License-Identifier: Apache-2.0 */
/* Jobs and crons: services with rtype job (run on request) and cron (run on
 * their schedule, in UTC, missed times never caught up). Each run is an
 * execution `{job}-run-{n}`: queued while JOBS_RUNNING_MAX others hold a
 * container node-wide, its image made present per pull_policy, a container
 * created from the service spec and started, its exit taken from the
 * runtime's exit path, its log kept (the last JOBS_LOG_MAX bytes, in
 * ROOT/jobs/{job}/{execution}.log, as JSON lines), its container removed; a
 * failed attempt is retried up to backoff_limit times. The last JOBS_KEEP
 * executions per job are stored, so a restarted agent lists them, adopts
 * the ones still running and settles the rest. Owned by the service
 * manager (which tells it what its deployments hold); loop thread only. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "basic/error.h"
#include "basic/strbuf.h"
#include "runtime/runtime.h"
#include "spec/spec.h"

#define JOBS_RUNNING_MAX   10         /* executions holding a container, node-wide */
#define JOBS_PENDING_MAX   1000       /* queued, node-wide: more is refused */
#define JOBS_KEEP          50         /* finished executions kept per job */
#define JOBS_LOG_MAX       (1u << 20) /* log bytes kept per execution (newest) */
#define JOBS_CRON_LATE_SEC 5          /* a cron fire later than this is a missed time */

enum execution_status {
	EXECUTION_PENDING,      /* queued for a slot */
	EXECUTION_INITIALIZING, /* image, create, start (or between attempts) */
	EXECUTION_RUNNING,
	EXECUTION_COMPLETED,
	EXECUTION_FAILED,
	EXECUTION_CANCELLED,
	_EXECUTION_STATUS_MAX,
	_EXECUTION_STATUS_INVALID = -1,
};
const char *execution_status_to_string(enum execution_status s);
enum execution_status execution_status_from_string(const char *s);
bool execution_status_finished(enum execution_status s);

struct jobs;
struct manager;

int jobs_new(struct manager *m, const char *root_dir, struct jobs **ret);
/* Timers off, nothing new starts; results of workers still record. */
void jobs_shutdown(struct jobs *js);
struct jobs *jobs_free(struct jobs *js);

/* --- what the manager tells it ------------------------------------------------------ */

/* The deployment now holds spec (borrowed: valid until the next sync or
 * forget of this deployment): its jobs and crons are registered (crons
 * armed from now), updated, or — when gone from spec — cancelled and
 * forgotten. */
void jobs_sync(struct jobs *js, const char *deployment, const struct spec_deployment *spec);
/* The deployment is being removed: cancel everything of it that is queued
 * or running; returns how many executions still hold a container. */
size_t jobs_drain(struct jobs *js, const char *deployment);
/* The deployment is gone: its jobs, records and kept logs too. */
void jobs_forget(struct jobs *js, const char *deployment);
/* After the stored deployments are back: load the stored executions, adopt
 * the running ones, settle the others, queue the pending ones again. */
int jobs_restore(struct jobs *js, struct za_error **reterr);
/* An exit the manager does not know: true when it was an execution's. */
bool jobs_on_exit(struct jobs *js, const char *id, const struct wait_outcome *w);

/* --- requests ------------------------------------------------------------------------- */

/* Queue a run of job or cron `name` (deployment may be NULL). A cron's
 * concurrency applies (forbid while one is active: EBUSY; replace: the
 * active ones are cancelled). *ret: {execution, job, status}. */
int jobs_run(struct jobs *js, const char *deployment, const char *name, bool cron_only, json_t **ret,
             struct za_error **reterr);
/* [{name, deployment, rtype, backoff_limit, schedule?, concurrency?,
 * executions: [execution...]}], or that of one job (NULL: unknown). */
json_t *jobs_list(struct jobs *js, const char *name);
/* {id, job, deployment, status, trigger, attempts, exit_code?, duration?,
 * reason?, created_at, started_at, finished_at (+ _ns)}; NULL: unknown. */
json_t *jobs_execution(struct jobs *js, const char *id);
/* Cancel a queued or running execution (a finished one is left as it is);
 * *ret: the execution as jobs_execution() shows it. */
int jobs_cancel(struct jobs *js, const char *id, json_t **ret, struct za_error **reterr);
/* [{name, deployment, schedule, concurrency, last_run: {time, status,
 * execution} | null, next_run}] */
json_t *jobs_crons(struct jobs *js);

/* lines: [{stream, time, log}] (borrowed), the kept log then, while it
 * runs, the container's own. */
typedef void (*jobs_logs_fn)(void *userdata, int r, const struct za_error *err, json_t *lines);
/* Read an execution's log off the loop; done once, on the loop. */
int jobs_logs(struct jobs *js, const char *id, jobs_logs_fn done, void *userdata, struct za_error **reterr);

/* --- decisions (pure) ----------------------------------------------------------------- */

enum cron_action {
	CRON_ACTION_RUN,
	CRON_ACTION_SKIP,    /* forbid: one is active */
	CRON_ACTION_REPLACE, /* replace: cancel the active ones, then run */
	_CRON_ACTION_MAX,
	_CRON_ACTION_INVALID = -1,
};
enum cron_action jobs_cron_decide(enum spec_concurrency c, size_t active);
/* First fire of a cron registered (or restored) at now: the first match
 * after now, never one in the past. -ENOENT: none before 2100. */
int jobs_cron_first(const struct cron_expr *c, time_t now, time_t *ret_next);
/* The timer armed for `due` fired at `now`: the run counts unless it is
 * more than JOBS_CRON_LATE_SEC late (a long pause or a clock jump: that
 * time is missed, not caught up); the next fire is the first match after
 * both due and now. */
int jobs_cron_fired(const struct cron_expr *c, time_t due, time_t now, bool *ret_run, time_t *ret_next);

enum attempt_outcome {
	ATTEMPT_COMPLETED,
	ATTEMPT_RETRY,
	ATTEMPT_FAILED,
	ATTEMPT_CANCELLED,
	_ATTEMPT_OUTCOME_MAX,
	_ATTEMPT_OUTCOME_INVALID = -1,
};
/* Attempt number `attempt` (1-based) ended, successfully or not. */
enum attempt_outcome jobs_attempt_outcome(bool ok, bool cancelled, unsigned attempt, uint32_t backoff_limit);

/* Which queued executions start now: the oldest (lowest seq) first, while
 * fewer than cap hold a slot. Writes indexes into seqs to ret_idx (room for
 * n), oldest first; returns how many. */
size_t jobs_admit(const uint64_t *seqs, size_t n, size_t active, size_t cap, size_t *ret_idx);

/* Drop whole lines from the front of sb (newline-terminated) until it is
 * at most cap bytes; a single line longer than cap goes too. */
void jobs_log_trim(struct strbuf *sb, size_t cap);

/* "2026-11-22T08:00:00.123456789Z" */
#define JOBS_TIME_MAX 40
char *jobs_format_time(char buf[static JOBS_TIME_MAX], int64_t ns);
