/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by jobs.c (the registry, the queue, records, requests),
 * jobs-exec.c (one execution's attempts: image, create, start, exit, log,
 * remove, retry, cancel) and jobs-cron.c (schedules). Loop thread only,
 * except where a field says so. */
#pragma once

#include <systemd/sd-event.h>

#include "runtime/container.h"
#include "service/jobs.h"

struct job;

struct execution {
	struct job *job;
	char *id; /* "{job}-run-{n}": also its container's id */
	unsigned n;
	uint64_t seq; /* queue order, node-wide */
	enum execution_status status;
	char *trigger; /* "manual", "schedule" */
	unsigned attempts;
	uint32_t backoff_limit; /* the spec's when it was queued */
	bool has_exit;
	int exit_code;
	char *reason;
	int64_t created_ns, started_ns, finished_ns; /* CLOCK_REALTIME; 0: not yet */

	/* while it holds a slot */
	bool slot;
	bool cancel;    /* asked to stop: what ends next ends it as cancelled */
	unsigned busy;  /* an image lookup or a worker holds it (never freed then) */
	bool container; /* a container of the current attempt exists */
	bool exit_pending;
	struct wait_outcome pending_exit; /* arrived while busy */
	bool has_cfg;
	struct container_config cfg; /* built once per execution, kept for retries */
};

struct job {
	struct jobs *js;
	char *name;
	char *deployment;
	const struct spec_service *spec; /* NULL once removed */
	bool removed;                    /* gone from its deployment: forgotten once idle */
	bool draining;                   /* its deployment is being removed: tell the manager when idle */
	unsigned next_n;
	struct execution **execs; /* oldest first */
	size_t n_execs;
	/* crons */
	sd_event_source *timer;
	time_t next_due; /* 0: not armed */
};

struct jobs {
	struct manager *m;
	char *dir;         /* ROOT/jobs */
	char *volumes_dir; /* ROOT/volumes: the runtime's, where anonymous volumes live */
	struct job **jobs;
	size_t n_jobs;
	uint64_t seq;
	size_t active;  /* executions holding a slot */
	size_t pending; /* queued */
	sd_event_source *kick;
	bool shutting_down;
};

/* jobs.c */
void jobs_kick(struct jobs *js);
void execution_save(struct execution *e);
void execution_event(struct execution *e, const char *type, const char *fmt, ...) _printf_(3, 4);
/* Queue a run; NULL (with reterr) when the queue is full. */
struct execution *job_submit(struct job *j, const char *trigger, struct za_error **reterr);
size_t job_active(const struct job *j); /* queued or holding a slot */
char *execution_log_path(const struct execution *e);
struct execution *jobs_find_execution(struct jobs *js, const char *id);
int64_t jobs_now_ns(void); /* CLOCK_REALTIME */

/* jobs-exec.c */
/* Append the container's log as JSON lines {stream, time, log} to sb,
 * keeping about the newest JOBS_LOG_MAX bytes (any thread). */
int execution_log_collect(struct runtime *rt, const char *id, struct strbuf *sb);
/* Take a slot and begin the first attempt. */
void execution_begin(struct execution *e);
/* Cancel: a queued one ends now, a running one is stopped. */
void execution_cancel(struct execution *e, const char *why);
/* Restore: a stored execution that was running. */
void execution_adopt(struct execution *e);
bool execution_exit(struct execution *e, const struct wait_outcome *w);
void execution_free(struct execution *e);

/* jobs-cron.c */
void job_cron_arm(struct job *j);
void job_cron_disarm(struct job *j);
