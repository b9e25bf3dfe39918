/* SPDX-License-Identifier: Apache-2.0 */
/* Jobs and crons: the service manager's job registry over HTTP.
 *   POST /v1/jobs/run?name=JOB[&deployment=D]   202 {execution, job, deployment, status}
 *   GET  /v1/jobs[?name=JOB]                    jobs and their executions (404 for an unknown JOB)
 *   GET  /v1/jobs/execution?id=EXEC             one execution
 *   GET  /v1/jobs/logs?id=EXEC                  its kept log, JSON lines {stream, time, log}
 *   POST /v1/jobs/cancel?id=EXEC                the execution, cancelling (or as it ended)
 *   GET  /v1/crons                              [{name, deployment, schedule, concurrency,
 *                                                 last_run, next_run}]
 *   POST /v1/crons/trigger?name=CRON[&deployment=D]  as jobs/run; 409 while a forbid cron runs */
#include "api/api-jobs.h"
#include "api/server.h"
#include "basic/macro.h"
#include "service/jobs.h"
#include "basic/banned.h"

static int reply_err(struct api_request *req, const struct za_error *e) {
	if (e && e->code == EBUSY)
		return api_reply_error_status(req, 409, e->kind, "%s", e->message);
	if (e && e->code == EAGAIN)
		return api_reply_error_status(req, 429, e->kind, "%s", e->message);
	return api_reply_error(req, e);
}

static const char *query_required(struct api_request *req, const char *key) {
	const char *v = api_request_query(req, key);

	return isempty(v) ? NULL : v;
}

static int run_or_trigger(struct api_request *req, struct jobs *js, bool cron) {
	_cleanup_za_error_ struct za_error *err = NULL;
	const char *name = query_required(req, "name"), *dep = api_request_query(req, "deployment");
	json_t *reply = NULL;

	if (!name)
		return api_reply_error_status(req, 400, ZA_ERROR_INVALID_SPEC,
		                              "query parameter 'name' is required (the %s to run)",
		                              cron ? "cron" : "job");
	if (jobs_run(js, isempty(dep) ? NULL : dep, name, cron, &reply, &err) < 0)
		return reply_err(req, err);
	return api_reply_json(req, 202, reply);
}

static int handle_run(struct api_request *req, void *userdata) {
	return run_or_trigger(req, userdata, false);
}

static int handle_trigger(struct api_request *req, void *userdata) {
	return run_or_trigger(req, userdata, true);
}

static int handle_list(struct api_request *req, void *userdata) {
	const char *name = query_required(req, "name");
	json_t *j = jobs_list(userdata, name);

	if (!j)
		return api_reply_error_status(req, 404, ZA_ERROR_NOT_FOUND, "no such job '%s'", name);
	return api_reply_json(req, 200, j);
}

static int handle_execution(struct api_request *req, void *userdata) {
	const char *id = query_required(req, "id");
	json_t *j;

	if (!id)
		return api_reply_error_status(req, 400, ZA_ERROR_INVALID_SPEC,
		                              "query parameter 'id' is required (an execution id, JOB-run-N)");
	j = jobs_execution(userdata, id);
	if (!j)
		return api_reply_error_status(req, 404, ZA_ERROR_NOT_FOUND, "no such job execution '%s'", id);
	return api_reply_json(req, 200, j);
}

static int handle_cancel(struct api_request *req, void *userdata) {
	_cleanup_za_error_ struct za_error *err = NULL;
	const char *id = query_required(req, "id");
	json_t *j = NULL;

	if (!id)
		return api_reply_error_status(req, 400, ZA_ERROR_INVALID_SPEC,
		                              "query parameter 'id' is required (an execution id, JOB-run-N)");
	if (jobs_cancel(userdata, id, &j, &err) < 0)
		return reply_err(req, err);
	return api_reply_json(req, 200, j);
}

static void logs_ready(void *userdata, int r, const struct za_error *err, json_t *lines) {
	struct api_request *req = userdata;
	struct api_stream *st;
	json_t *line;
	size_t i;

	if (r < 0) {
		(void)reply_err(req, err);
		return;
	}
	st = api_stream_begin(req, 200);
	json_array_foreach(lines, i, line) if (api_stream_send_json(st, json_incref(line)) < 0) break;
	api_stream_end(st);
}

static int handle_logs(struct api_request *req, void *userdata) {
	_cleanup_za_error_ struct za_error *err = NULL;
	const char *id = query_required(req, "id");

	if (!id)
		return api_reply_error_status(req, 400, ZA_ERROR_INVALID_SPEC,
		                              "query parameter 'id' is required (an execution id, JOB-run-N)");
	api_request_suspend(req);
	if (jobs_logs(userdata, id, logs_ready, req, &err) < 0)
		(void)reply_err(req, err);
	return API_ASYNC;
}

static int handle_crons(struct api_request *req, void *userdata) {
	return api_reply_json(req, 200, jobs_crons(userdata));
}

void api_jobs_register(struct api_server *api, struct jobs *js) {
	api_server_add_route(api, "POST", "/v1/jobs/run", handle_run, js);
	api_server_add_route(api, "GET", "/v1/jobs", handle_list, js);
	api_server_add_route(api, "GET", "/v1/jobs/execution", handle_execution, js);
	api_server_add_route(api, "GET", "/v1/jobs/logs", handle_logs, js);
	api_server_add_route(api, "POST", "/v1/jobs/cancel", handle_cancel, js);
	api_server_add_route(api, "GET", "/v1/crons", handle_crons, js);
	api_server_add_route(api, "POST", "/v1/crons/trigger", handle_trigger, js);
}
