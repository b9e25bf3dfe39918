/* SPDX-License-Identifier: Apache-2.0 */
/* One execution's life once it leaves the queue: take a slot; per attempt
 * the image (pull_policy), a container `{job}-run-{n}` from the service
 * spec (no init steps: a job's command is its own init), start; the exit
 * from the runtime's exit path (never polled); then a worker keeps the log
 * and removes the container; the outcome completes, retries (backoff_limit)
 * or fails it. Cancel stops the container (stop_signal, then SIGKILL after
 * the grace period). Runtime calls run on the manager's workers; an
 * execution a worker holds is never freed. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "service/jobs-internal.h"
#include "service/manager-internal.h"
#include "service/service-env.h"
#include "basic/banned.h"

#define LOG_FILE_READ_MAX (JOBS_LOG_MAX * 2)

enum attempt_outcome jobs_attempt_outcome(bool ok, bool cancelled, unsigned attempt, uint32_t backoff_limit) {
	if (ok)
		return ATTEMPT_COMPLETED;
	if (cancelled)
		return ATTEMPT_CANCELLED;
	if (attempt <= backoff_limit)
		return ATTEMPT_RETRY;
	return ATTEMPT_FAILED;
}

void execution_free(struct execution *e) {
	if (!e)
		return;
	if (e->has_cfg)
		container_config_release(&e->cfg);
	free(e->id);
	free(e->trigger);
	free(e->reason);
	free(e);
}

/* --- the log ------------------------------------------------------------------------------- */

/* JSON strings must be UTF-8: invalid bytes become U+FFFD. */
static void add_lossy(struct strbuf *out, const char *s, size_t len) {
	_cleanup_strbuf_ struct strbuf t = STRBUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	json_t *str;
	char *dumped;

	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		bool ok = n > 0 && i + n <= len;

		for (size_t k = 1; ok && k < n; k++)
			ok = (p[i + k] & 0xc0) == 0x80;
		if (ok && n == 2 && c < 0xc2)
			ok = false; /* overlong */
		if (ok && n == 3 && ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0)))
			ok = false; /* overlong, surrogate */
		if (ok && n == 4 && ((c == 0xf0 && p[i + 1] < 0x90) || c > 0xf4 || (c == 0xf4 && p[i + 1] >= 0x90)))
			ok = false;
		if (ok) {
			strbuf_add(&t, s + i, n);
			i += n;
		} else {
			strbuf_add(&t, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	str = json_stringn(t.buf ? t.buf : "", t.len);
	dumped = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
	strbuf_addstr(out, dumped ? dumped : "\"\"");
	free(dumped);
	json_decref(str);
}

static int on_log_record(const char *stream, int64_t time_ns, const char *text, size_t len, void *userdata) {
	struct strbuf *sb = userdata;
	char when[JOBS_TIME_MAX];

	strbuf_addf(sb, "{\"stream\":\"%s\",\"time\":\"%s\",\"log\":", streq(stream, "stderr") ? "stderr" : "stdout",
	            jobs_format_time(when, time_ns));
	add_lossy(sb, text, len);
	strbuf_addstr(sb, "}\n");
	if (sb->len > 2 * JOBS_LOG_MAX)
		jobs_log_trim(sb, JOBS_LOG_MAX);
	return 0;
}

int execution_log_collect(struct runtime *rt, const char *id, struct strbuf *sb) {
	struct log_options o = {};

	return rt->ops->logs(rt, id, &o, on_log_record, sb, NULL);
}

/* --- workers -------------------------------------------------------------------------------- */

enum work_kind { WORK_CREATE, WORK_FINISH, WORK_STOP };

struct exec_work {
	struct execution *e;
	enum work_kind kind;
	struct runtime *rt;
	char *id;
	char *log_path;
	const struct container_config *cfg; /* borrowed from e: unchanged while busy */
	/* in: finish */
	struct wait_outcome w;
	char *volumes_dir; /* the last attempt: its anonymous volumes go too */
	/* out */
	int result;
	struct za_error *err;
	char *log_warning;
};

static void work_free(struct exec_work *w) {
	za_error_free(w->err);
	free(w->id);
	free(w->log_path);
	free(w->log_warning);
	free(w->volumes_dir);
	free(w);
}

static void create_work(void *p) {
	struct exec_work *w = p;
	struct runtime *rt = w->rt;

	(void)rt->ops->remove(rt, w->id, true, NULL); /* a leftover of an earlier agent */
	w->result = rt->ops->create(rt, w->cfg, &w->err);
	if (w->result >= 0) {
		w->result = rt->ops->start(rt, w->id, &w->err);
		if (w->result < 0)
			(void)rt->ops->remove(rt, w->id, true, NULL);
		else
			crashpoint("job.started");
	}
}

static void outcome_of(const struct container_status *st, struct wait_outcome *w) {
	*w = (struct wait_outcome){ .exit_code = st->exit_code, .signal = st->signal, .finished_ns = st->finished_ns };
	if (st->state == CONTAINER_FAILED)
		w->reason = EXIT_REASON_RUNTIME_ERROR;
	else if (st->oom_killed)
		w->reason = EXIT_REASON_OOM_KILLED;
	else if (st->signal > 0)
		w->reason = EXIT_REASON_SIGNAL;
	else
		w->reason = EXIT_REASON_EXITED;
}

/* "{id}-anon-k": kept across retries (as Docker keeps a restarted
 * container's), scratch once the execution ends. */
static void remove_anonymous_volumes(const char *volumes_dir, const char *id) {
	_cleanup_free_ char *prefix = xasprintf("%s-anon-", id);
	_cleanup_close_ int dfd = open(volumes_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (dfd < 0)
		return;
	d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
	if (!d)
		return;
	while ((de = readdir(d)))
		if (strneq(de->d_name, prefix, strlen(prefix)))
			rm_rf_at(dfd, de->d_name);
	closedir(d);
}

/* Keep the log (appended to earlier attempts'), remove the container. */
static void finish_work(void *p) {
	struct exec_work *w = p;
	struct runtime *rt = w->rt;
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *old = NULL, *dir = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	size_t len = 0;
	int r;

	if (w->kind == WORK_STOP) {
		struct container_status st = {};
		(void)rt->ops->stop(rt, w->id, 0, NULL);
		if (rt->ops->state(rt, w->id, &st, NULL) >= 0) {
			outcome_of(&st, &w->w);
			container_status_release(&st);
		} else
			w->w = (struct wait_outcome){ .reason = EXIT_REASON_SIGNAL, .signal = SIGKILL };
	}
	if (read_full_file(w->log_path, LOG_FILE_READ_MAX, &old, &len) >= 0)
		strbuf_add(&sb, old, len);
	r = execution_log_collect(rt, w->id, &sb);
	if (r < 0)
		w->log_warning = xasprintf("cannot read the log of %s: %s", w->id, strerror(-r));
	jobs_log_trim(&sb, JOBS_LOG_MAX);
	dir = xstrndup(w->log_path, (size_t)(strrchr(w->log_path, '/') - w->log_path));
	r = mkdir_p(dir, 0700);
	if (r >= 0)
		r = write_file_atomic(w->log_path, sb.buf ? sb.buf : "", sb.len, 0600);
	if (r < 0 && !w->log_warning)
		w->log_warning = xasprintf("cannot keep the log of %s in '%s': %s", w->id, w->log_path, strerror(-r));
	w->result = rt->ops->remove(rt, w->id, true, &err);
	if (w->result < 0 && err && err->kind == ZA_ERROR_NOT_FOUND)
		w->result = 0;
	if (w->result < 0)
		w->err = TAKE_PTR(err);
	else if (w->volumes_dir)
		remove_anonymous_volumes(w->volumes_dir, w->id);
	crashpoint("job.finished");
}

static struct exec_work *work_new(struct execution *e, enum work_kind kind) {
	struct exec_work *w = xnew(struct exec_work, 1);

	w->e = e;
	w->kind = kind;
	w->rt = e->job->js->m->o.rt;
	w->id = xstrdup(e->id);
	w->log_path = execution_log_path(e);
	w->cfg = &e->cfg;
	e->busy++;
	return w;
}

/* --- the attempt machine ------------------------------------------------------------------- */

static void attempt_begin(struct execution *e);
static void launch_finish(struct execution *e, enum work_kind kind, const struct wait_outcome *w);

static void slot_release(struct execution *e) {
	if (!e->slot)
		return;
	e->slot = false;
	e->job->js->active--;
}

static void set_reason(struct execution *e, const char *reason) {
	free(e->reason);
	e->reason = reason ? xstrdup(reason) : NULL;
}

static void execution_finish(struct execution *e, enum execution_status st, const char *reason) {
	char dur[64] = "";

	slot_release(e);
	e->status = st;
	e->finished_ns = jobs_now_ns();
	if (st == EXECUTION_COMPLETED)
		set_reason(e, NULL);
	else if (reason)
		set_reason(e, reason);
	if (e->has_cfg) {
		container_config_release(&e->cfg);
		e->has_cfg = false;
	}
	execution_save(e);
	if (e->started_ns > 0)
		(void)format_duration(dur, sizeof(dur), (uint64_t)(e->finished_ns - e->started_ns));
	if (st == EXECUTION_COMPLETED)
		execution_event(e, "JobCompleted", "exited 0 after %s (attempt %u)", dur, e->attempts);
	else if (st == EXECUTION_FAILED)
		execution_event(e, "JobFailed", "%s", strna(e->reason));
	else
		execution_event(e, "JobCancelled", "%s", strna(e->reason));
	jobs_kick(e->job->js);
}

static void attempt_end(struct execution *e, bool ok, const char *reason) {
	unsigned max = e->backoff_limit + 1;

	switch (jobs_attempt_outcome(ok, e->cancel, e->attempts, e->backoff_limit)) {
	case ATTEMPT_COMPLETED:
		execution_finish(e, EXECUTION_COMPLETED, NULL);
		break;
	case ATTEMPT_CANCELLED:
		execution_finish(e, EXECUTION_CANCELLED, NULL);
		break;
	case ATTEMPT_RETRY:
		set_reason(e, reason);
		e->status = EXECUTION_INITIALIZING;
		e->finished_ns = 0;
		execution_save(e);
		execution_event(e, "JobRetrying", "attempt %u of %u failed: %s; retrying", e->attempts, max,
		                strna(reason));
		if (!e->job->js->shutting_down)
			attempt_begin(e);
		break;
	case ATTEMPT_FAILED:
	default: {
		_cleanup_free_ char *why = e->attempts > 1
		                                   ? xasprintf("%s (attempt %u of %u)", strna(reason), e->attempts, max)
		                                   : xstrdup(strna(reason));
		execution_finish(e, EXECUTION_FAILED, why);
		break;
	}
	}
}

static char *exit_text(const struct wait_outcome *w, int *ret_code) {
	int code = w->exit_code;

	if (w->reason == EXIT_REASON_SIGNAL && code == 0 && w->signal > 0)
		code = 128 + w->signal;
	*ret_code = code;
	switch (w->reason) {
	case EXIT_REASON_OOM_KILLED:
		return xasprintf("exited with %d (out of memory)", code);
	case EXIT_REASON_SIGNAL:
		return xasprintf("killed by signal %s (exit code %d)", strna(sigabbrev_np(w->signal)), code);
	case EXIT_REASON_RUNTIME_ERROR:
		return xstrdup("the runtime failed to run it");
	case EXIT_REASON_EXITED:
	default:
		return xasprintf("exited with %d", code);
	}
}

static void finish_done(void *p) {
	struct exec_work *w = p;
	struct execution *e = w->e;
	_cleanup_free_ char *why = NULL;
	bool ok;

	e->busy--;
	e->container = false;
	e->exit_pending = false; /* the exit this worker handled, or one of the container it removed */
	if (w->log_warning)
		log_warning("%s", w->log_warning);
	if (w->result < 0)
		log_warning("cannot remove the container of job execution %s: %s", e->id,
		            w->err ? w->err->message : "error");
	why = exit_text(&w->w, &e->exit_code);
	e->has_exit = true;
	ok = w->w.reason == EXIT_REASON_EXITED && e->exit_code == 0;
	work_free(w);
	attempt_end(e, ok, why);
}

static void launch_finish(struct execution *e, enum work_kind kind, const struct wait_outcome *out) {
	struct exec_work *w;

	if (e->job->js->shutting_down)
		return; /* the next start adopts or settles it */
	w = work_new(e, kind);
	if (out)
		w->w = *out;
	if (kind == WORK_FINISH && out) {
		/* Kept before the container goes: an agent restarted in between
		 * ends the attempt as it did (finished_ns set while running). */
		free(exit_text(out, &e->exit_code)); /* sets exit_code; the text comes later */
		e->has_exit = true;
		e->finished_ns = out->finished_ns > 0 ? out->finished_ns : jobs_now_ns();
		execution_save(e);
	}
	/* the outcome is known now: is this the last attempt? */
	if (kind == WORK_STOP || jobs_attempt_outcome(out && out->reason == EXIT_REASON_EXITED && out->exit_code == 0,
	                                              e->cancel, e->attempts, e->backoff_limit) != ATTEMPT_RETRY)
		w->volumes_dir = xstrdup(e->job->js->volumes_dir);
	manager_work(e->job->js->m, finish_work, finish_done, w);
}

static void create_done(void *p) {
	struct exec_work *w = p;
	struct execution *e = w->e;

	e->busy--;
	if (w->result < 0) {
		_cleanup_free_ char *why = xasprintf("cannot start: %s", w->err ? w->err->message : "error");
		work_free(w);
		e->exit_pending = false;
		attempt_end(e, false, why);
		return;
	}
	work_free(w);
	e->container = true;
	e->status = EXECUTION_RUNNING;
	execution_save(e);
	execution_event(e, "JobStarted", "attempt %u of %u", e->attempts, e->backoff_limit + 1);
	if (e->cancel)
		launch_finish(e, WORK_STOP, NULL);
	else if (e->exit_pending) {
		e->exit_pending = false;
		launch_finish(e, WORK_FINISH, &e->pending_exit);
	}
}

static int execution_config(struct execution *e, const char *digest, struct za_error **reterr) {
	const struct spec_service *sp = e->job->spec;
	_cleanup_free_ char *anon = NULL;
	struct container_config c = {};
	char **env = NULL;
	int r;

	r = container_config_from_service(sp, e->n, &c, reterr);
	if (r < 0)
		return r;
	r = service_env_resolve(sp, e->job->js->m->o.secrets, &env, reterr);
	if (r < 0) {
		container_config_release(&c);
		return r;
	}
	/* anonymous volumes are named after the container: "{id}-anon-k" */
	anon = xasprintf("%s-anon-", c.id);
	for (size_t i = 0; i < c.n_mounts; i++) {
		struct container_mount *mt = &c.mounts[i];
		if (mt->type == CONTAINER_MOUNT_VOLUME && strneq(mt->source, anon, strlen(anon))) {
			char *s = xasprintf("%s-anon-%s", e->id, mt->source + strlen(anon));
			free(mt->source);
			mt->source = s;
		}
	}
	free(c.id);
	c.id = xstrdup(e->id);
	strv_free(c.env);
	c.env = env;
	free(c.image_digest);
	c.image_digest = xstrdup(digest);
	c.auto_remove = false;
	{
		_cleanup_free_ char *a = xasprintf("io.zlayer.deployment=%s", e->job->deployment);
		_cleanup_free_ char *b = xasprintf("io.zlayer.service=%s", e->job->name);
		_cleanup_free_ char *x = xasprintf("io.zlayer.job.execution=%s", e->id);
		strv_push(&c.labels, a);
		strv_push(&c.labels, b);
		strv_push(&c.labels, x);
	}
	e->cfg = c;
	e->has_cfg = true;
	return 0;
}

static void launch_create(struct execution *e) {
	struct exec_work *w;

	if (e->job->js->shutting_down)
		return;
	w = work_new(e, WORK_CREATE);
	manager_work(e->job->js->m, create_work, create_done, w);
}

static void image_ready(void *userdata, int r, const struct za_error *err, const char *digest) {
	struct execution *e = userdata;
	_cleanup_za_error_ struct za_error *cerr = NULL;

	e->busy--;
	if (e->cancel) {
		attempt_end(e, false, NULL);
		return;
	}
	if (r < 0) {
		_cleanup_free_ char *why = xasprintf("image '%s': %s", e->job->spec ? e->job->spec->image.name : "?",
		                                     err ? err->message : "cannot be made available");
		attempt_end(e, false, why);
		return;
	}
	if (!e->job->spec) {
		execution_finish(e, EXECUTION_CANCELLED, "its job was removed");
		return;
	}
	if (execution_config(e, digest, &cerr) < 0) {
		attempt_end(e, false, cerr->message);
		return;
	}
	launch_create(e);
}

static void attempt_begin(struct execution *e) {
	const struct spec_service *sp = e->job->spec;
	struct manager *m = e->job->js->m;

	e->attempts++;
	e->exit_pending = false;
	if (e->has_cfg) {
		launch_create(e);
		return;
	}
	if (!sp) {
		execution_finish(e, EXECUTION_CANCELLED, "its job was removed");
		return;
	}
	/* done may run at once (a present image): busy covers it either way */
	e->busy++;
	m->o.ops.image_ensure(m->o.ops.ctx, sp->image.name, sp->image.pull_policy, image_ready, e);
}

void execution_begin(struct execution *e) {
	struct jobs *js = e->job->js;

	js->pending--;
	e->slot = true;
	js->active++;
	e->status = EXECUTION_INITIALIZING;
	e->started_ns = jobs_now_ns();
	execution_save(e);
	attempt_begin(e);
}

void execution_cancel(struct execution *e, const char *why) {
	if (execution_status_finished(e->status))
		return;
	if (e->status == EXECUTION_PENDING) {
		e->job->js->pending--;
		execution_finish(e, EXECUTION_CANCELLED, why);
		return;
	}
	if (e->cancel)
		return;
	e->cancel = true;
	set_reason(e, why);
	if (e->busy)
		return; /* the image lookup or worker ends it */
	if (e->container)
		launch_finish(e, WORK_STOP, NULL);
	else
		execution_finish(e, EXECUTION_CANCELLED, NULL);
}

bool execution_exit(struct execution *e, const struct wait_outcome *w) {
	if (!e->slot)
		return true; /* ours, already settled */
	if (e->busy) {
		/* the create worker reports after a quick exit; other workers
		 * handle the exit themselves */
		e->exit_pending = true;
		e->pending_exit = *w;
		return true;
	}
	if (e->container)
		launch_finish(e, WORK_FINISH, w);
	return true;
}

void execution_adopt(struct execution *e) {
	struct runtime *rt = e->job->js->m->o.rt;
	struct container_status st = {};
	struct wait_outcome w;

	if (rt->ops->state(rt, e->id, &st, NULL) >= 0 &&
	    (st.state == CONTAINER_RUNNING || st.state == CONTAINER_EXITED || st.state == CONTAINER_FAILED)) {
		e->slot = true;
		e->job->js->active++;
		e->container = true;
		e->status = EXECUTION_RUNNING;
		if (e->attempts == 0)
			e->attempts = 1;
		execution_save(e);
		if (st.state == CONTAINER_RUNNING)
			execution_event(e, "JobAdopted", "still running as pid %d", (int)st.pid);
		else {
			/* exited while the agent was away */
			outcome_of(&st, &w);
			launch_finish(e, WORK_FINISH, &w);
		}
		container_status_release(&st);
		return;
	}
	container_status_release(&st);
	(void)rt->ops->remove(rt, e->id, true, NULL);
	if (e->status == EXECUTION_RUNNING && e->has_exit && e->finished_ns > 0) {
		/* it exited (kept before its container went): the attempt ends so */
		_cleanup_free_ char *why = xasprintf("exited with %d", e->exit_code);
		e->slot = true;
		e->job->js->active++;
		attempt_end(e, e->exit_code == 0, why);
		return;
	}
	execution_finish(e, EXECUTION_FAILED, "agent restarted during the run");
}
