/* SPDX-License-Identifier: Apache-2.0 */
/* Rows of the job_executions table: one row per execution of a job or cron
 * (the last few per job), so `job ls` and `job status` survive a restart
 * and a restarted agent can adopt or settle what was running. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "store/store.h"

struct store_job_execution {
	char *id; /* "{job}-run-{n}" */
	char *job;
	char *deployment;
	uint32_t n;
	char *status;  /* execution_status_to_string() */
	char *trigger; /* "manual", "schedule" */
	uint32_t attempts;
	bool has_exit;
	int exit_code;
	char *reason;                                /* why it failed or was cancelled, or NULL */
	int64_t created_ns, started_ns, finished_ns; /* unix ns; 0: not yet */
};
void store_job_execution_release(struct store_job_execution *e);
void store_job_executions_free(struct store_job_execution *e, size_t n);

/* Insert or replace by id. */
int store_job_execution_put(struct store *s, const struct store_job_execution *e, struct za_error **reterr);
/* Every row, by job then n. */
int store_job_execution_list(struct store *s, struct store_job_execution **ret, size_t *ret_n,
                             struct za_error **reterr);
/* Missing is not an error. */
int store_job_execution_remove(struct store *s, const char *id, struct za_error **reterr);
/* Every row of one job. */
int store_job_executions_remove_job(struct store *s, const char *job, struct za_error **reterr);
