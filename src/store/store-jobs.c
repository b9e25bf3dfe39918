/* SPDX-License-Identifier: Apache-2.0 */
/* Rows of the job_executions table. */
#include "store/store-jobs.h"

#include "basic/alloc.h"
#include "store/store-internal.h"
#include "basic/banned.h"

void store_job_execution_release(struct store_job_execution *e) {
	if (!e)
		return;
	free(e->id);
	free(e->job);
	free(e->deployment);
	free(e->status);
	free(e->trigger);
	free(e->reason);
	*e = (struct store_job_execution){ 0 };
}

void store_job_executions_free(struct store_job_execution *e, size_t n) {
	for (size_t i = 0; e && i < n; i++)
		store_job_execution_release(&e[i]);
	free(e);
}

int store_job_execution_put(struct store *s, const struct store_job_execution *e, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = store_prepare(s,
	                  "INSERT OR REPLACE INTO job_executions (id, job, deployment, n, status, trigger, attempts, "
	                  "exit_code, reason, created_at, started_at, finished_at) "
	                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                  &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, e->id);
	(void)store_bind_text(st, 2, e->job);
	(void)store_bind_text(st, 3, e->deployment);
	(void)sqlite3_bind_int64(st, 4, e->n);
	(void)store_bind_text(st, 5, e->status);
	(void)store_bind_text(st, 6, e->trigger);
	(void)sqlite3_bind_int64(st, 7, e->attempts);
	if (e->has_exit)
		(void)sqlite3_bind_int64(st, 8, e->exit_code);
	else
		(void)sqlite3_bind_null(st, 8);
	(void)store_bind_text(st, 9, e->reason);
	(void)sqlite3_bind_int64(st, 10, e->created_ns);
	(void)sqlite3_bind_int64(st, 11, e->started_ns);
	(void)sqlite3_bind_int64(st, 12, e->finished_ns);
	return store_step_done(s, st, reterr, "save job execution");
}

int store_job_execution_list(struct store *s, struct store_job_execution **ret, size_t *ret_n,
                             struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_job_execution *es = NULL;
	size_t n = 0, alloc = 0;
	int r, rc;

	r = store_prepare(s,
	                  "SELECT id, job, deployment, n, status, trigger, attempts, exit_code, reason, created_at, "
	                  "started_at, finished_at FROM job_executions ORDER BY job, n",
	                  &st, reterr);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		GROW(es, alloc, n + 1);
		es[n++] = (struct store_job_execution){
			.id = store_column_text(st, 0),
			.job = store_column_text(st, 1),
			.deployment = store_column_text(st, 2),
			.n = (uint32_t)sqlite3_column_int64(st, 3),
			.status = store_column_text(st, 4),
			.trigger = store_column_text(st, 5),
			.attempts = (uint32_t)sqlite3_column_int64(st, 6),
			.has_exit = sqlite3_column_type(st, 7) != SQLITE_NULL,
			.exit_code = sqlite3_column_int(st, 7),
			.reason = store_column_text(st, 8),
			.created_ns = sqlite3_column_int64(st, 9),
			.started_ns = sqlite3_column_int64(st, 10),
			.finished_ns = sqlite3_column_int64(st, 11),
		};
	}
	if (rc != SQLITE_DONE) {
		store_job_executions_free(es, n);
		return store_error(s, rc, reterr, "read job executions");
	}
	*ret = es;
	*ret_n = n;
	return 0;
}

static int remove_where(struct store *s, const char *sql, const char *value, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = store_prepare(s, sql, &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, value);
	return store_step_done(s, st, reterr, "remove job executions");
}

int store_job_execution_remove(struct store *s, const char *id, struct za_error **reterr) {
	return remove_where(s, "DELETE FROM job_executions WHERE id = ?", id, reterr);
}

int store_job_executions_remove_job(struct store *s, const char *job, struct za_error **reterr) {
	return remove_where(s, "DELETE FROM job_executions WHERE job = ?", job, reterr);
}
