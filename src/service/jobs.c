/* SPDX-License-Identifier: Apache-2.0 */
/* The job registry: which jobs and crons the deployments hold, the queue
 * (oldest first, JOBS_RUNNING_MAX holding a container at once), execution
 * records in memory and in the store, restore after a restart, and the
 * requests of the API. One deferred pass (jobs_kick) starts what may start
 * and frees removed jobs once idle, so no handler recurses into another. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "service/jobs-internal.h"
#include "service/manager-internal.h"
#include "store/store-jobs.h"
#include "basic/banned.h"

static const char *const status_names[_EXECUTION_STATUS_MAX] = {
	[EXECUTION_PENDING] = "pending", [EXECUTION_INITIALIZING] = "initializing",
	[EXECUTION_RUNNING] = "running", [EXECUTION_COMPLETED] = "completed",
	[EXECUTION_FAILED] = "failed",   [EXECUTION_CANCELLED] = "cancelled",
};

const char *execution_status_to_string(enum execution_status s) {
	return s >= 0 && s < _EXECUTION_STATUS_MAX ? status_names[s] : NULL;
}

enum execution_status execution_status_from_string(const char *s) {
	for (int i = 0; s && i < _EXECUTION_STATUS_MAX; i++)
		if (streq(status_names[i], s))
			return (enum execution_status)i;
	return _EXECUTION_STATUS_INVALID;
}

bool execution_status_finished(enum execution_status s) {
	return s == EXECUTION_COMPLETED || s == EXECUTION_FAILED || s == EXECUTION_CANCELLED;
}

/* --- pure helpers ------------------------------------------------------------------------ */

size_t jobs_admit(const uint64_t *seqs, size_t n, size_t active, size_t cap, size_t *ret_idx) {
	size_t slots = active >= cap ? 0 : cap - active, k = 0;
	uint64_t last = 0;
	bool first = true;

	/* selection by repeated minimum: n is capped, slots small */
	while (k < slots) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < n; i++)
			if ((first || seqs[i] > last) && (best == SIZE_MAX || seqs[i] < seqs[best]))
				best = i;
		if (best == SIZE_MAX)
			break;
		ret_idx[k++] = best;
		last = seqs[best];
		first = false;
	}
	return k;
}

void jobs_log_trim(struct strbuf *sb, size_t cap) {
	size_t off;
	const char *nl;

	if (sb->len <= cap)
		return;
	off = sb->len - cap;
	if (off > 0 && sb->buf[off - 1] != '\n') {
		nl = memchr(sb->buf + off, '\n', sb->len - off);
		off = nl ? (size_t)(nl - sb->buf) + 1 : sb->len;
	}
	memmove(sb->buf, sb->buf + off, sb->len - off);
	sb->len -= off;
	sb->buf[sb->len] = '\0';
}

char *jobs_format_time(char buf[static JOBS_TIME_MAX], int64_t ns) {
	time_t secs = (time_t)(ns / 1000000000);
	struct tm tm;
	char date[24];

	if (ns < 0 || !gmtime_r(&secs, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		(void)snprintf(date, sizeof(date), "1970-01-01T00:00:00");
	(void)snprintf(buf, JOBS_TIME_MAX, "%s.%09dZ", date, (int)(ns > 0 ? ns % 1000000000 : 0));
	return buf;
}

int64_t jobs_now_ns(void) {
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- records ---------------------------------------------------------------------------- */

char *execution_log_path(const struct execution *e) {
	return xasprintf("%s/%s/%s.log", e->job->js->dir, e->job->name, e->id);
}

void execution_save(struct execution *e) {
	struct job *j = e->job;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct store_job_execution row = {
		.id = e->id,
		.job = j->name,
		.deployment = j->deployment,
		.n = e->n,
		.status = (char *)execution_status_to_string(e->status),
		.trigger = e->trigger,
		.attempts = e->attempts,
		.has_exit = e->has_exit,
		.exit_code = e->exit_code,
		.reason = e->reason,
		.created_ns = e->created_ns,
		.started_ns = e->started_ns,
		.finished_ns = e->finished_ns,
	};

	if (store_job_execution_put(j->js->m->o.store, &row, &err) < 0)
		log_warning("cannot record job execution %s: %s", e->id, err->message);
}

void execution_event(struct execution *e, const char *type, const char *fmt, ...) {
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	event_emit(e->job->js->m->events, type, e->job->deployment, e->job->name, e->id, "%s", msg);
}

static json_t *time_json(int64_t ns) {
	char buf[JOBS_TIME_MAX];

	return ns > 0 ? json_string(jobs_format_time(buf, ns)) : json_null();
}

static json_t *execution_json(const struct execution *e) {
	json_t *j =
	        json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:I, s:I, s:I}", "id", e->id, "job",
	                  e->job->name, "deployment", e->job->deployment, "status",
	                  execution_status_to_string(e->status), "trigger", e->trigger, "attempts", (int)e->attempts,
	                  "created_at", time_json(e->created_ns), "started_at", time_json(e->started_ns), "finished_at",
	                  time_json(e->finished_ns), "created_ns", (json_int_t)e->created_ns, "started_ns",
	                  (json_int_t)e->started_ns, "finished_ns", (json_int_t)e->finished_ns);

	if (e->has_exit)
		json_object_set_new(j, "exit_code", json_integer(e->exit_code));
	if (e->reason)
		json_object_set_new(j, "reason", json_string(e->reason));
	if (e->started_ns > 0 && e->finished_ns >= e->started_ns) {
		json_object_set_new(j, "duration", json_real((double)(e->finished_ns - e->started_ns) / 1e9));
		json_object_set_new(j, "duration_ns", json_integer(e->finished_ns - e->started_ns));
	}
	return j;
}

/* --- registry ---------------------------------------------------------------------------- */

static struct job *find_job(struct jobs *js, const char *deployment, const char *name) {
	for (size_t i = 0; i < js->n_jobs; i++) {
		struct job *j = js->jobs[i];
		if (streq(j->name, name) && (!deployment || streq(j->deployment, deployment)))
			return j;
	}
	return NULL;
}

struct execution *jobs_find_execution(struct jobs *js, const char *id) {
	for (size_t i = 0; i < js->n_jobs; i++)
		for (size_t k = 0; k < js->jobs[i]->n_execs; k++)
			if (streq(js->jobs[i]->execs[k]->id, id))
				return js->jobs[i]->execs[k];
	return NULL;
}

size_t job_active(const struct job *j) {
	size_t n = 0;

	for (size_t i = 0; i < j->n_execs; i++)
		if (!execution_status_finished(j->execs[i]->status))
			n++;
	return n;
}

/* Holding a container or a worker: what a removal waits for. */
static size_t job_holding(const struct job *j) {
	size_t n = 0;

	for (size_t i = 0; i < j->n_execs; i++)
		if (j->execs[i]->slot || j->execs[i]->busy)
			n++;
	return n;
}

static void job_unlink_execution(struct job *j, size_t i) {
	memmove(j->execs + i, j->execs + i + 1, (j->n_execs - i - 1) * sizeof(*j->execs));
	j->n_execs--;
}

/* Keep the newest JOBS_KEEP finished ones (active ones always stay). */
static void job_trim(struct job *j) {
	size_t finished = 0;

	for (size_t i = 0; i < j->n_execs; i++)
		if (execution_status_finished(j->execs[i]->status))
			finished++;
	for (size_t i = 0; i < j->n_execs && finished > JOBS_KEEP;) {
		struct execution *e = j->execs[i];
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *path = NULL;

		if (!execution_status_finished(e->status) || e->busy || e->slot) {
			i++;
			continue;
		}
		if (store_job_execution_remove(j->js->m->o.store, e->id, &err) < 0)
			log_warning("cannot drop the record of job execution %s: %s", e->id, err->message);
		path = execution_log_path(e);
		(void)unlink(path);
		job_unlink_execution(j, i);
		execution_free(e);
		finished--;
	}
}

static struct job *job_new(struct jobs *js, const char *deployment, const struct spec_service *sp) {
	struct job *j = xnew(struct job, 1);

	j->js = js;
	j->name = xstrdup(sp->name);
	j->deployment = xstrdup(deployment);
	j->spec = sp;
	j->next_n = 1;
	js->jobs = xrealloc(js->jobs, (js->n_jobs + 1) * sizeof(*js->jobs));
	js->jobs[js->n_jobs++] = j;
	return j;
}

static void job_free(struct job *j) {
	job_cron_disarm(j);
	for (size_t i = 0; i < j->n_execs; i++)
		execution_free(j->execs[i]);
	free(j->execs);
	free(j->name);
	free(j->deployment);
	free(j);
}

/* Gone from its deployment: nothing new starts, what runs is cancelled;
 * the kick frees it (records and logs too) once nothing holds it. */
static void job_remove(struct job *j, const char *why) {
	j->removed = true;
	j->spec = NULL;
	job_cron_disarm(j);
	for (size_t i = 0; i < j->n_execs; i++)
		if (!execution_status_finished(j->execs[i]->status))
			execution_cancel(j->execs[i], why);
	jobs_kick(j->js);
}

static void job_forget_now(struct jobs *js, size_t idx) {
	struct job *j = js->jobs[idx];
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *dir = xasprintf("%s/%s", js->dir, j->name);

	if (store_job_executions_remove_job(js->m->o.store, j->name, &err) < 0)
		log_warning("cannot drop the records of job %s: %s", j->name, err->message);
	rm_rf(dir);
	memmove(js->jobs + idx, js->jobs + idx + 1, (js->n_jobs - idx - 1) * sizeof(*js->jobs));
	js->n_jobs--;
	job_free(j);
}

struct execution *job_submit(struct job *j, const char *trigger, struct za_error **reterr) {
	struct jobs *js = j->js;
	struct execution *e;

	if (js->pending >= JOBS_PENDING_MAX) {
		za_error_make(reterr, ZA_ERROR_CONFIGURATION, EAGAIN,
		              "cannot queue a run of job '%s': %d executions are queued already, the most the agent "
		              "keeps; wait for some to finish",
		              j->name, JOBS_PENDING_MAX);
		return NULL;
	}
	e = xnew(struct execution, 1);
	e->job = j;
	e->n = j->next_n++;
	e->id = xasprintf("%s-run-%u", j->name, e->n);
	e->seq = ++js->seq;
	e->status = EXECUTION_PENDING;
	e->trigger = xstrdup(trigger);
	e->backoff_limit = j->spec->backoff_limit;
	e->created_ns = jobs_now_ns();
	j->execs = xrealloc(j->execs, (j->n_execs + 1) * sizeof(*j->execs));
	j->execs[j->n_execs++] = e;
	js->pending++;
	execution_save(e);
	crashpoint("job.queued");
	if (js->active + js->pending > JOBS_RUNNING_MAX)
		execution_event(e, "JobQueued",
		                "%zu executions ahead of it on this node (at most %d run at once); queued",
		                js->active + js->pending - 1, JOBS_RUNNING_MAX);
	job_trim(j);
	jobs_kick(js);
	return e;
}

/* --- the kick: start what may start, free what was removed ------------------------------ */

static void dispatch(struct jobs *js) {
	_cleanup_free_ uint64_t *seqs = NULL;
	_cleanup_free_ struct execution **cand = NULL;
	_cleanup_free_ size_t *pick = NULL;
	size_t n = 0, k;

	if (js->pending == 0 || js->active >= JOBS_RUNNING_MAX)
		return;
	seqs = xnew(uint64_t, js->pending);
	cand = xnew(struct execution *, js->pending);
	pick = xnew(size_t, js->pending);
	for (size_t i = 0; i < js->n_jobs; i++)
		for (size_t x = 0; x < js->jobs[i]->n_execs && n < js->pending; x++) {
			struct execution *e = js->jobs[i]->execs[x];
			if (e->status == EXECUTION_PENDING) {
				seqs[n] = e->seq;
				cand[n++] = e;
			}
		}
	k = jobs_admit(seqs, n, js->active, JOBS_RUNNING_MAX, pick);
	for (size_t i = 0; i < k; i++)
		execution_begin(cand[pick[i]]);
}

static int on_kick(sd_event_source *es, void *userdata) {
	struct jobs *js = userdata;

	js->kick = sd_event_source_disable_unref(js->kick);
	for (size_t i = js->n_jobs; i-- > 0;) {
		struct job *j = js->jobs[i];
		if (j->removed && job_holding(j) == 0) {
			_cleanup_free_ char *dep = xstrdup(j->deployment);
			job_forget_now(js, i);
			manager_deployment_changed(js->m, dep); /* a removal may wait for it */
		}
	}
	if (!js->shutting_down)
		dispatch(js);
	/* a deployment being removed waits for its executions */
	for (size_t i = 0; i < js->n_jobs; i++)
		if (js->jobs[i]->draining && job_holding(js->jobs[i]) == 0) {
			js->jobs[i]->draining = false;
			manager_deployment_changed(js->m, js->jobs[i]->deployment);
		}
	return 0;
}

void jobs_kick(struct jobs *js) {
	if (js->kick)
		return;
	if (sd_event_add_defer(js->m->o.event, &js->kick, on_kick, js) < 0)
		log_warning("cannot schedule the job queue");
}

/* --- what the manager tells us ----------------------------------------------------------- */

static bool spec_has_job(const struct spec_deployment *spec, const char *name) {
	for (size_t i = 0; spec && i < spec->n_services; i++)
		if (streq(spec->services[i].name, name) && spec->services[i].rtype != SPEC_RTYPE_SERVICE)
			return true;
	return false;
}

void jobs_sync(struct jobs *js, const char *deployment, const struct spec_deployment *spec) {
	for (size_t i = 0; i < js->n_jobs; i++) {
		struct job *j = js->jobs[i];
		if (streq(j->deployment, deployment) && !j->removed && !spec_has_job(spec, j->name))
			job_remove(j, "its job was removed from the deployment");
	}
	for (size_t i = 0; i < spec->n_services; i++) {
		const struct spec_service *sp = &spec->services[i];
		struct job *j;

		if (sp->rtype == SPEC_RTYPE_SERVICE)
			continue;
		j = find_job(js, NULL, sp->name);
		if (j && !streq(j->deployment, deployment)) {
			if (!j->removed)
				continue; /* the manager keeps names unique; never steal one */
			free(j->deployment);
			j->deployment = xstrdup(deployment);
		}
		if (!j)
			j = job_new(js, deployment, sp);
		j->spec = sp;
		j->removed = false;
		if (sp->n_init_steps > 0)
			event_emit(js->m->events, "InitStepsIgnored", deployment, sp->name, NULL,
			           "a %s runs no init steps (%zu given); put them in its command",
			           spec_rtype_to_string(sp->rtype), sp->n_init_steps);
		if (sp->rtype == SPEC_RTYPE_CRON)
			job_cron_arm(j); /* from now: a changed schedule counts at once */
		else
			job_cron_disarm(j);
	}
}

size_t jobs_drain(struct jobs *js, const char *deployment) {
	size_t n = 0;

	for (size_t i = 0; i < js->n_jobs; i++) {
		struct job *j = js->jobs[i];
		if (!streq(j->deployment, deployment))
			continue;
		job_cron_disarm(j);
		for (size_t k = 0; k < j->n_execs; k++)
			if (!execution_status_finished(j->execs[k]->status))
				execution_cancel(j->execs[k], "its deployment was removed");
		j->draining = job_holding(j) > 0;
		n += job_holding(j);
	}
	return n;
}

void jobs_forget(struct jobs *js, const char *deployment) {
	for (size_t i = 0; i < js->n_jobs; i++)
		if (streq(js->jobs[i]->deployment, deployment) && !js->jobs[i]->removed)
			job_remove(js->jobs[i], "its deployment was removed");
}

bool jobs_on_exit(struct jobs *js, const char *id, const struct wait_outcome *w) {
	struct execution *e = jobs_find_execution(js, id);

	return e ? execution_exit(e, w) : false;
}

static int cmp_created(const void *a, const void *b) {
	const struct execution *x = *(struct execution *const *)a, *y = *(struct execution *const *)b;

	return x->created_ns < y->created_ns ? -1 : x->created_ns > y->created_ns ? 1 : 0;
}

int jobs_restore(struct jobs *js, struct za_error **reterr) {
	struct store_job_execution *rows = NULL;
	_cleanup_free_ struct execution **pending = NULL;
	size_t n = 0, n_pending = 0;
	int r;

	r = store_job_execution_list(js->m->o.store, &rows, &n, reterr);
	if (r < 0)
		return r;
	pending = xnew(struct execution *, n + 1);
	for (size_t i = 0; i < n; i++) {
		struct store_job_execution *row = &rows[i];
		struct job *j = find_job(js, row->deployment, row->job);
		struct execution *e;

		/* rows of a deployment that did not come back stay for when it does */
		if (!j || j->removed || jobs_find_execution(js, row->id))
			continue;
		e = xnew(struct execution, 1);
		e->job = j;
		e->id = TAKE_PTR(row->id);
		e->n = row->n;
		e->status = execution_status_from_string(row->status);
		if (e->status == _EXECUTION_STATUS_INVALID)
			e->status = EXECUTION_FAILED;
		e->trigger = TAKE_PTR(row->trigger);
		if (!e->trigger)
			e->trigger = xstrdup("manual");
		e->attempts = row->attempts;
		e->backoff_limit = j->spec->backoff_limit;
		e->has_exit = row->has_exit;
		e->exit_code = row->exit_code;
		e->reason = TAKE_PTR(row->reason);
		e->created_ns = row->created_ns;
		e->started_ns = row->started_ns;
		e->finished_ns = row->finished_ns;
		j->execs = xrealloc(j->execs, (j->n_execs + 1) * sizeof(*j->execs));
		j->execs[j->n_execs++] = e;
		if (e->n >= j->next_n)
			j->next_n = e->n + 1;
		if (e->status == EXECUTION_PENDING)
			pending[n_pending++] = e;
		else if (!execution_status_finished(e->status))
			execution_adopt(e);
	}
	store_job_executions_free(rows, n);
	/* queued ones keep their order */
	qsort(pending, n_pending, sizeof(*pending), cmp_created);
	for (size_t i = 0; i < n_pending; i++) {
		pending[i]->seq = ++js->seq;
		js->pending++;
	}
	for (size_t i = 0; i < js->n_jobs; i++)
		job_trim(js->jobs[i]);
	jobs_kick(js);
	return 0;
}

/* --- requests ------------------------------------------------------------------------------ */

static int no_such(struct jobs *js, const char *deployment, const char *name, const char *what,
                   struct za_error **reterr) {
	struct service *s = manager_find_service(js->m, deployment, name);

	if (s)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT,
		                     "no such %s '%s': it is a service (rtype: %s) and runs replicas; only jobs and "
		                     "crons run on request",
		                     what, name, spec_rtype_to_string(s->spec->rtype));
	if (deployment)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such %s '%s' in deployment '%s'", what,
		                     name, deployment);
	return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT,
	                     "no such %s '%s'; deploy a spec with a service of rtype %s named so", what, name, what);
}

int jobs_run(struct jobs *js, const char *deployment, const char *name, bool cron_only, json_t **ret,
             struct za_error **reterr) {
	struct job *j = find_job(js, deployment, name);
	struct execution *e;

	if (j && j->removed)
		j = NULL;
	if (!j)
		return no_such(js, deployment, name, cron_only ? "cron" : "job", reterr);
	if (cron_only && j->spec->rtype != SPEC_RTYPE_CRON)
		return za_error_make(
		        reterr, ZA_ERROR_NOT_FOUND, ENOENT,
		        "no such cron '%s': it is a job (rtype: job); run it with 'zlayer-agent job run %s'", name,
		        name);
	if (js->shutting_down)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ESHUTDOWN, "the agent is shutting down");
	if (j->draining)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EBUSY,
		                     "deployment '%s' of job '%s' is being removed", j->deployment, name);
	if (j->spec->rtype == SPEC_RTYPE_CRON) {
		switch (jobs_cron_decide(j->spec->concurrency, job_active(j))) {
		case CRON_ACTION_SKIP: {
			const char *run = "";
			for (size_t i = 0; i < j->n_execs; i++)
				if (!execution_status_finished(j->execs[i]->status))
					run = j->execs[i]->id;
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EBUSY,
			                     "cron '%s' is already running (execution '%s') and its concurrency is "
			                     "forbid; wait for it to finish or cancel it with 'zlayer-agent job cancel "
			                     "%s'",
			                     name, run, run);
		}
		case CRON_ACTION_REPLACE:
			for (size_t i = 0; i < j->n_execs; i++)
				if (!execution_status_finished(j->execs[i]->status))
					execution_cancel(j->execs[i], "replaced by a newer run (concurrency: replace)");
			break;
		default:
			break;
		}
	}
	e = job_submit(j, "manual", reterr);
	if (!e)
		return -EAGAIN;
	*ret = json_pack("{s:s, s:s, s:s, s:s}", "execution", e->id, "job", j->name, "deployment", j->deployment,
	                 "status", execution_status_to_string(e->status));
	return 0;
}

static json_t *job_json(const struct job *j) {
	json_t *execs = json_array(), *o;

	for (size_t i = 0; i < j->n_execs; i++)
		json_array_append_new(execs, execution_json(j->execs[i]));
	o = json_pack("{s:s, s:s, s:s, s:I, s:o}", "name", j->name, "deployment", j->deployment, "rtype",
	              spec_rtype_to_string(j->spec->rtype), "backoff_limit", (json_int_t)j->spec->backoff_limit,
	              "executions", execs);
	if (j->spec->rtype == SPEC_RTYPE_CRON) {
		json_object_set_new(o, "schedule", json_string(j->spec->schedule));
		json_object_set_new(o, "concurrency", json_string(spec_concurrency_to_string(j->spec->concurrency)));
	}
	return o;
}

json_t *jobs_list(struct jobs *js, const char *name) {
	json_t *a;

	if (name) {
		struct job *j = find_job(js, NULL, name);
		return j && !j->removed ? job_json(j) : NULL;
	}
	a = json_array();
	for (size_t i = 0; i < js->n_jobs; i++)
		if (!js->jobs[i]->removed)
			json_array_append_new(a, job_json(js->jobs[i]));
	return a;
}

json_t *jobs_execution(struct jobs *js, const char *id) {
	struct execution *e = jobs_find_execution(js, id);

	return e ? execution_json(e) : NULL;
}

int jobs_cancel(struct jobs *js, const char *id, json_t **ret, struct za_error **reterr) {
	struct execution *e = jobs_find_execution(js, id);

	if (!e)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such job execution '%s'", id);
	if (!execution_status_finished(e->status))
		execution_cancel(e, "cancelled on request");
	*ret = execution_json(e);
	return 0;
}

json_t *jobs_crons(struct jobs *js) {
	json_t *a = json_array();

	for (size_t i = 0; i < js->n_jobs; i++) {
		struct job *j = js->jobs[i];
		struct execution *last = j->n_execs ? j->execs[j->n_execs - 1] : NULL;
		json_t *lr = json_null();

		if (j->removed || j->spec->rtype != SPEC_RTYPE_CRON)
			continue;
		if (last)
			lr = json_pack("{s:o, s:s, s:s, s:I}", "time", time_json(last->created_ns), "status",
			               execution_status_to_string(last->status), "execution", last->id, "time_ns",
			               (json_int_t)last->created_ns);
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I}", "name", j->name, "deployment",
		                                   j->deployment, "schedule", j->spec->schedule, "concurrency",
		                                   spec_concurrency_to_string(j->spec->concurrency), "last_run", lr,
		                                   "next_run", time_json(j->next_due * (int64_t)1000000000),
		                                   "next_run_ns", (json_int_t)(j->next_due * (int64_t)1000000000)));
	}
	return a;
}

/* --- logs ------------------------------------------------------------------------------------ */

struct logs_read {
	struct runtime *rt;
	char *path, *id;
	bool live;
	jobs_logs_fn done;
	void *userdata;
	json_t *lines;
	int result;
	struct za_error *err;
};

static void logs_work(void *p) {
	struct logs_read *l = p;
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *kept = NULL;
	size_t len = 0;
	const char *at;
	int r;

	r = read_full_file(l->path, JOBS_LOG_MAX * 2, &kept, &len);
	if (r >= 0)
		strbuf_add(&sb, kept, len);
	if (l->live)
		(void)execution_log_collect(l->rt, l->id, &sb);
	jobs_log_trim(&sb, JOBS_LOG_MAX);
	l->lines = json_array();
	for (at = strbuf_str(&sb); *at;) {
		const char *nl = strchr(at, '\n');
		size_t n = nl ? (size_t)(nl - at) : strlen(at);
		json_t *line = json_loadb(at, n, 0, NULL);
		if (json_is_object(line))
			json_array_append_new(l->lines, line);
		else
			json_decref(line);
		at += n + (nl ? 1 : 0);
	}
}

static void logs_done(void *p) {
	struct logs_read *l = p;

	l->done(l->userdata, l->result, l->err, l->lines);
	json_decref(l->lines);
	za_error_free(l->err);
	free(l->path);
	free(l->id);
	free(l);
}

int jobs_logs(struct jobs *js, const char *id, jobs_logs_fn done, void *userdata, struct za_error **reterr) {
	struct execution *e = jobs_find_execution(js, id);
	struct logs_read *l;

	if (!e)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such job execution '%s'", id);
	l = xnew(struct logs_read, 1);
	l->rt = js->m->o.rt;
	l->path = execution_log_path(e);
	l->id = xstrdup(e->id);
	l->live = e->container && e->status == EXECUTION_RUNNING;
	l->done = done;
	l->userdata = userdata;
	manager_work(js->m, logs_work, logs_done, l);
	return 0;
}

/* --- lifetime ---------------------------------------------------------------------------------- */

int jobs_new(struct manager *m, const char *root_dir, struct jobs **ret) {
	struct jobs *js = xnew(struct jobs, 1);

	js->m = m;
	js->dir = xasprintf("%s/jobs", root_dir ? root_dir : ".");
	js->volumes_dir = xasprintf("%s/volumes", root_dir ? root_dir : ".");
	*ret = js;
	return 0;
}

void jobs_shutdown(struct jobs *js) {
	if (!js)
		return;
	js->shutting_down = true;
	js->kick = sd_event_source_disable_unref(js->kick);
	for (size_t i = 0; i < js->n_jobs; i++)
		job_cron_disarm(js->jobs[i]);
}

struct jobs *jobs_free(struct jobs *js) {
	if (!js)
		return NULL;
	for (size_t i = 0; i < js->n_jobs; i++)
		job_free(js->jobs[i]);
	free(js->jobs);
	sd_event_source_disable_unref(js->kick);
	free(js->dir);
	free(js->volumes_dir);
	free(js);
	return NULL;
}
