/* SPDX-License-Identifier: Apache-2.0 */
/* Crons: one CLOCK_REALTIME timer per cron, armed for the next match (UTC)
 * and re-armed from the time it fired, so missed times (the agent down, a
 * long pause, the clock jumping forward) are never caught up; the
 * concurrency policy when a time comes while a run is still active. */
#include <inttypes.h>

#include "basic/log.h"
#include "service/jobs-internal.h"
#include "service/manager-internal.h"
#include "basic/banned.h"

#define USEC_PER_SEC 1000000ULL

enum cron_action jobs_cron_decide(enum spec_concurrency c, size_t active) {
	if (active == 0)
		return CRON_ACTION_RUN;
	switch (c) {
	case SPEC_CONCURRENCY_ALLOW:
		return CRON_ACTION_RUN;
	case SPEC_CONCURRENCY_REPLACE:
		return CRON_ACTION_REPLACE;
	case SPEC_CONCURRENCY_FORBID:
	default:
		return CRON_ACTION_SKIP;
	}
}

int jobs_cron_first(const struct cron_expr *c, time_t now, time_t *ret_next) {
	return cron_next(c, now, ret_next);
}

int jobs_cron_fired(const struct cron_expr *c, time_t due, time_t now, bool *ret_run, time_t *ret_next) {
	time_t next;
	int r;

	r = cron_next(c, now > due ? now : due, &next);
	if (r < 0)
		return r;
	*ret_run = now - due <= JOBS_CRON_LATE_SEC;
	*ret_next = next;
	return 0;
}

static void cron_schedule(struct job *j, time_t next);

static void cron_due(struct job *j, time_t due) {
	struct jobs *js = j->js;
	struct execution *e;
	_cleanup_za_error_ struct za_error *err = NULL;
	char when[JOBS_TIME_MAX];
	size_t active = job_active(j);

	switch (jobs_cron_decide(j->spec->concurrency, active)) {
	case CRON_ACTION_SKIP:
		for (size_t i = j->n_execs; i-- > 0;)
			if (!execution_status_finished(j->execs[i]->status)) {
				execution_event(j->execs[i], "CronSkipped",
				                "run due at %s skipped: '%s' is still %s (concurrency: forbid)",
				                jobs_format_time(when, (int64_t)due * 1000000000), j->execs[i]->id,
				                execution_status_to_string(j->execs[i]->status));
				break;
			}
		return;
	case CRON_ACTION_REPLACE:
		for (size_t i = 0; i < j->n_execs; i++)
			if (!execution_status_finished(j->execs[i]->status)) {
				execution_event(j->execs[i], "CronReplaced",
				                "cancelled: a newer run is due (concurrency: replace)");
				execution_cancel(j->execs[i], "replaced by a newer run (concurrency: replace)");
			}
		break;
	default:
		break;
	}
	e = job_submit(j, "schedule", &err);
	if (!e)
		event_emit(js->m->events, "CronSkipped", j->deployment, j->name, NULL, "%s", err->message);
}

static int on_cron_timer(sd_event_source *es, uint64_t usec, void *userdata) {
	struct job *j = userdata;
	struct timespec now;
	time_t due = j->next_due, next;
	bool run = false;
	char a[JOBS_TIME_MAX], b[JOBS_TIME_MAX];

	if (j->removed || !j->spec || j->js->shutting_down)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	if (jobs_cron_fired(&j->spec->cron, due, now.tv_sec, &run, &next) < 0)
		next = 0;
	if (run)
		cron_due(j, due);
	else
		event_emit(j->js->m->events, "CronMissed", j->deployment, j->name, NULL,
		           "run due at %s missed (the agent was paused until %s); not caught up",
		           jobs_format_time(a, (int64_t)due * 1000000000),
		           jobs_format_time(b, (int64_t)now.tv_sec * 1000000000));
	/* cron_due may have removed nothing: the job is still here */
	cron_schedule(j, next);
	return 0;
}

static void cron_schedule(struct job *j, time_t next) {
	sd_event *e = j->js->m->o.event;
	uint64_t at = (uint64_t)next * USEC_PER_SEC;

	j->next_due = next;
	if (next <= 0) {
		if (j->timer)
			(void)sd_event_source_set_enabled(j->timer, SD_EVENT_OFF);
		return;
	}
	if (j->timer) {
		(void)sd_event_source_set_time(j->timer, at);
		(void)sd_event_source_set_enabled(j->timer, SD_EVENT_ONESHOT);
	} else if (sd_event_add_time(e, &j->timer, CLOCK_REALTIME, at, 1000, on_cron_timer, j) < 0) {
		log_warning("cannot arm the schedule of cron %s", j->name);
		j->next_due = 0;
	}
}

void job_cron_arm(struct job *j) {
	struct timespec now;
	time_t next = 0;

	if (!j->spec || j->spec->rtype != SPEC_RTYPE_CRON || j->js->shutting_down)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if (jobs_cron_first(&j->spec->cron, now.tv_sec, &next) < 0) {
		event_emit(j->js->m->events, "CronNeverDue", j->deployment, j->name, NULL,
		           "schedule '%s' has no time left before the year %d", j->spec->schedule, CRON_YEAR_MAX + 1);
		next = 0;
	}
	cron_schedule(j, next);
}

void job_cron_disarm(struct job *j) {
	j->timer = sd_event_source_disable_unref(j->timer);
	j->next_due = 0;
}
