/* SPDX-License-Identifier: Apache-2.0 */
/* One replica's life: the create worker (create, init steps, start), the
 * stop worker, the supervisor table driving it from exit events (no
 * polling), the one pending delayed restart, and its health checks. */
#include <inttypes.h>
#include <signal.h>
#include <sys/timerfd.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "runtime/container.h"
#include "service/jobs.h"
#include "service/manager-internal.h"
#include "service/service-env.h"
#include "basic/banned.h"

#define INIT_RESTARTS      3 /* errors.on_init_failure restart/backoff: attempts after the first */
#define INIT_RUN_POLL_NSEC (20 * UINT64_C(1000000))
#define EXEC_OUTPUT_MAX    4096
#define ONE_SEC            (UINT64_C(1000000000))

static const char *dep_name(const struct replica *r) {
	return r->svc->dep->name;
}

static void emit(struct replica *r, const char *type, const char *fmt, ...) _printf_(3, 4);
static void emit(struct replica *r, const char *type, const char *fmt, ...) {
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	event_emit(r->svc->dep->m->events, type, dep_name(r), r->svc->name, r->id, "%s", msg);
}

struct replica *replica_new(struct service *s, unsigned n) {
	struct replica *r = xnew(struct replica, 1);

	r->svc = s;
	r->n = n;
	r->id = container_replica_id(s->name, n);
	r->state = REPLICA_CREATING;
	health_state_init(&r->health);
	atomic_init(&r->cancel, false);
	return r;
}

struct replica *replica_free(struct replica *r) {
	if (!r)
		return NULL;
	sd_event_source_disable_unref(r->restart_timer);
	sd_event_source_disable_unref(r->health_timer);
	health_state_release(&r->health);
	free(r->id);
	free(r->error);
	free(r->ip);
	free(r);
	return NULL;
}

bool replica_counts(const struct replica *r) {
	return !r->retired && r->state != REPLICA_STOPPING && r->state != REPLICA_GONE;
}

bool replica_is_healthy(const struct replica *r) {
	if (r->state != REPLICA_RUNNING)
		return false;
	if (r->svc->spec->health.check.type == SPEC_CHECK_NONE)
		return true; /* nothing to probe: running is healthy */
	return r->health.status == HEALTH_HEALTHY;
}

json_t *replica_status(const struct replica *r) {
	json_t *health = NULL, *j;

	if (r->svc->spec->health.check.type == SPEC_CHECK_NONE)
		health = json_pack("{s:s}", "status", "none");
	else if (health_state_to_json(&r->health, &health) < 0)
		health = json_null();
	j = json_pack("{s:s, s:i, s:s, s:o, s:I, s:i, s:s?, s:s?}", "id", r->id, "replica", (int)r->n, "state",
	              replica_state_to_string(r->state), "health", health, "restarts", (json_int_t)r->history.total,
	              "pid", r->state == REPLICA_RUNNING ? (int)r->pid : 0, "ip", r->ip, "error", r->error);
	if (r->has_exit)
		json_object_set_new(j, "exit_code", json_integer(r->last_exit.exit_code));
	if (r->retired)
		json_object_set_new(j, "retired", json_true());
	return j;
}

/* --- workers: what runs off the loop -------------------------------------------------- */

struct replica_job {
	struct replica *r;
	struct runtime *rt;
	char *id;
	/* create */
	struct container_config cfg;
	const struct spec_service *spec;
	bool remove_first;
	/* out */
	int result;
	struct za_error *err;
	bool init_failed;
	pid_t pid;
	char *ip;
	char **warnings;
};

static void job_free(struct replica_job *j) {
	container_config_release(&j->cfg);
	za_error_free(j->err);
	free(j->id);
	free(j->ip);
	strv_free(j->warnings);
	free(j);
}

static bool cancelled(const struct replica_job *j) {
	return atomic_load(&j->r->cancel);
}

/* init.run: a container from the replica's own config (image, mounts,
 * env) running `sh -c COMMAND`, like an init container, then removed. */
static int init_run(struct replica_job *j, const struct spec_init_step *st, uint64_t timeout, char **ret_reason) {
	struct runtime *rt = j->rt;
	struct container_config c = {};
	struct container_status s = {};
	_cleanup_za_error_ struct za_error *err = NULL;
	int64_t deadline = manager_now() + (int64_t)timeout;
	int r;

	c = j->cfg;
	/* borrow everything but what changes; restored before release */
	c.id = xasprintf("%s-init-%s", j->id, st->id ? st->id : "run");
	c.entrypoint = NULL;
	strv_push(&c.entrypoint, "/bin/sh");
	strv_push(&c.entrypoint, "-c");
	strv_push(&c.entrypoint, st->command);
	c.args = NULL;
	c.auto_remove = false;
	c.ports = NULL;
	c.n_ports = 0;
	(void)rt->ops->remove(rt, c.id, true, NULL);
	r = rt->ops->create(rt, &c, &err);
	if (r >= 0)
		r = rt->ops->start(rt, c.id, &err);
	while (r >= 0) {
		if (rt->ops->state(rt, c.id, &s, &err) < 0) {
			r = -EIO;
			break;
		}
		if (s.state == CONTAINER_EXITED || s.state == CONTAINER_FAILED)
			break;
		container_status_release(&s);
		if (cancelled(j) || manager_now() > deadline) {
			r = cancelled(j) ? -ECANCELED : -ETIMEDOUT;
			break;
		}
		nanosleep(&(struct timespec){ .tv_nsec = (long)INIT_RUN_POLL_NSEC }, NULL);
	}
	if (r >= 0 && s.state == CONTAINER_EXITED && s.exit_code != 0) {
		*ret_reason = xasprintf("init.run '%s' exited with %d", st->command, s.exit_code);
		r = -EIO;
	} else if (r >= 0 && s.state == CONTAINER_FAILED) {
		*ret_reason = xasprintf("init.run '%s' failed: %s", st->command, strna(s.reason));
		r = -EIO;
	} else if (r == -ETIMEDOUT)
		*ret_reason =
		        xasprintf("init.run '%s' did not finish within %" PRIu64 "s", st->command, timeout / ONE_SEC);
	else if (r < 0 && r != -ECANCELED)
		*ret_reason = xasprintf("init.run '%s': %s", st->command, err ? err->message : "failed");
	container_status_release(&s);
	(void)rt->ops->remove(rt, c.id, true, NULL);
	free(c.id);
	strv_free(c.entrypoint);
	return r;
}

static int init_step(struct replica_job *j, const struct spec_init_step *st, char **ret_reason) {
	uint64_t timeout = st->with_timeout_nsec ? st->with_timeout_nsec : st->timeout_nsec;

	if (timeout == 0)
		timeout = 300 * ONE_SEC;
	switch (st->uses) {
	case SPEC_INIT_WAIT_TCP:
		return init_wait_tcp(st->host, st->port, timeout, &j->r->cancel, ret_reason);
	case SPEC_INIT_WAIT_HTTP:
		return init_wait_http(st->url, st->expect_status, timeout, &j->r->cancel, ret_reason);
	case SPEC_INIT_RUN:
		return init_run(j, st, timeout, ret_reason);
	default:
		*ret_reason = xstrdup("unknown init action");
		return -EINVAL;
	}
}

/* Every step once; warn/continue steps do not fail the list. */
static int init_steps(struct replica_job *j, char **ret_reason) {
	for (size_t i = 0; i < j->spec->n_init_steps; i++) {
		const struct spec_init_step *st = &j->spec->init_steps[i];
		_cleanup_free_ char *reason = NULL;
		int r = init_step(j, st, &reason);

		if (r == -ECANCELED)
			return r;
		if (r >= 0)
			continue;
		if (st->on_failure == SPEC_ON_FAILURE_FAIL) {
			*ret_reason = xasprintf("init step '%s': %s", strna(st->id), strna(reason));
			return r;
		}
		if (st->on_failure == SPEC_ON_FAILURE_WARN)
			strv_push(&j->warnings, reason ? reason : "init step failed");
	}
	return 0;
}

static void create_work(void *p) {
	struct replica_job *j = p;
	struct runtime *rt = j->rt;
	struct container_status st = {};
	enum spec_init_failure_action policy = j->spec->on_init_failure;
	unsigned attempts = policy == SPEC_INIT_FAILURE_FAIL ? 1 : 1 + INIT_RESTARTS;
	int r;

	if (j->remove_first)
		(void)rt->ops->remove(rt, j->id, true, NULL);
	r = rt->ops->create(rt, &j->cfg, &j->err);
	if (r < 0)
		goto out;
	crashpoint("replica.created");
	for (unsigned a = 0; a < attempts && j->spec->n_init_steps > 0; a++) {
		_cleanup_free_ char *reason = NULL;
		r = init_steps(j, &reason);
		if (r >= 0 || r == -ECANCELED)
			break;
		if (a + 1 == attempts) {
			j->init_failed = true;
			if (attempts > 1)
				za_error_make(&j->err, ZA_ERROR_INIT_ACTION_FAILED, -r, "%s (after %u attempts)",
				              reason, attempts);
			else
				za_error_make(&j->err, ZA_ERROR_INIT_ACTION_FAILED, -r, "%s", reason);
			break;
		}
		if (policy == SPEC_INIT_FAILURE_BACKOFF) {
			uint64_t delay = ONE_SEC << a; /* 1 s, 2 s, 4 s */
			for (uint64_t t = 0; t < delay && !cancelled(j); t += INIT_RUN_POLL_NSEC * 5)
				nanosleep(&(struct timespec){ .tv_nsec = (long)INIT_RUN_POLL_NSEC * 5 }, NULL);
		}
	}
	if (r == -ECANCELED)
		za_error_make(&j->err, ZA_ERROR_START_FAILED, ECANCELED, "cancelled");
	if (r >= 0)
		r = rt->ops->start(rt, j->id, &j->err);
	if (r >= 0)
		crashpoint("replica.started");
	if (r >= 0 && rt->ops->state(rt, j->id, &st, NULL) >= 0) {
		j->pid = st.pid;
		j->ip = st.ip ? xstrdup(st.ip) : NULL;
		container_status_release(&st);
	}
	if (r < 0)
		/* Nothing half-made: the failed replica's container goes (its
		 * error is kept in the status). */
		(void)rt->ops->remove(rt, j->id, true, NULL);
out:
	j->result = r;
}

/* After an exit: start the same container again (its rootfs, network
 * namespace and address kept, as Docker's restart policies do); when that
 * cannot be done (it was removed, the runtime refuses), make it anew. */
static void restart_work(void *p) {
	struct replica_job *j = p;
	struct runtime *rt = j->rt;
	struct container_status st = {};
	_cleanup_za_error_ struct za_error *err = NULL;

	if (rt->ops->start(rt, j->id, &err) >= 0) {
		if (rt->ops->state(rt, j->id, &st, NULL) >= 0) {
			j->pid = st.pid;
			j->ip = st.ip ? xstrdup(st.ip) : NULL;
			container_status_release(&st);
		}
		j->result = 0;
		return;
	}
	log_debug("replica %s: cannot start it again (%s); making it anew", j->id, err ? err->message : "error");
	j->remove_first = true;
	create_work(p);
}

static void stop_work(void *p) {
	struct replica_job *j = p;
	struct runtime *rt = j->rt;
	_cleanup_za_error_ struct za_error *err = NULL;

	(void)rt->ops->stop(rt, j->id, 0, NULL);
	j->result = rt->ops->remove(rt, j->id, true, &err);
	if (j->result < 0 && err && err->kind == ZA_ERROR_NOT_FOUND)
		j->result = 0;
	crashpoint("replica.removed");
	if (j->result < 0)
		j->err = TAKE_PTR(err);
}

/* A worker is done: the replica may have been forgotten meanwhile. */
static bool job_end(struct replica_job *j) {
	struct replica *r = j->r;

	r->workers--;
	if (r->state != REPLICA_GONE && r->svc->dep->m->shutting_down) {
		/* the daemon is going: nothing more starts; containers stay */
		job_free(j);
		return false;
	}
	if (r->state == REPLICA_GONE) {
		if (r->workers == 0)
			replica_free(r);
		job_free(j);
		return false;
	}
	return true;
}

static void launch_stop(struct replica *r);

static void create_done(void *p) {
	struct replica_job *j = p;
	struct replica *r = j->r;

	if (!job_end(j))
		return;
	STRV_FOREACH (w, j->warnings)
		emit(r, "InitStepWarning", "%s", *w);
	if (r->stop_after_create) {
		r->stop_after_create = false;
		job_free(j);
		launch_stop(r);
		return;
	}
	if (j->result < 0) {
		free(r->error);
		r->error = xstrdup(j->err ? j->err->message : "create failed");
		emit(r, j->init_failed ? "InitFailed" : "ContainerFailed", "%s", r->error);
		job_free(j);
		replica_event(r, REPLICA_EV_START_FAILED);
		manager_changed(r->svc->dep);
		return;
	}
	r->pid = j->pid;
	free(r->ip);
	r->ip = TAKE_PTR(j->ip);
	free(r->error);
	r->error = NULL;
	job_free(j);
	replica_event(r, REPLICA_EV_STARTED);
	manager_changed(r->svc->dep);
}

static void stop_done(void *p) {
	struct replica_job *j = p;
	struct replica *r = j->r;

	if (!job_end(j))
		return;
	if (j->result < 0)
		log_warning("removing replica %s failed: %s", r->id, j->err ? j->err->message : "error");
	job_free(j);
	replica_event(r, REPLICA_EV_STOPPED);
}

static struct replica_job *job_new(struct replica *r) {
	struct replica_job *j = xnew(struct replica_job, 1);

	j->r = r;
	j->rt = r->svc->dep->m->o.rt;
	j->id = xstrdup(r->id);
	r->workers++;
	return j;
}

static int job_config(struct replica *r, struct replica_job *j, struct za_error **reterr) {
	struct service *s = r->svc;
	char **env = NULL;
	int e;

	e = container_config_from_service(s->spec, r->n, &j->cfg, reterr);
	if (e < 0)
		return e;
	e = service_env_resolve(s->spec, s->dep->m->o.secrets, &env, reterr);
	if (e < 0)
		return e;
	strv_free(j->cfg.env);
	j->cfg.env = env;
	free(j->cfg.image_digest);
	j->cfg.image_digest = xstrdup(s->digest);
	{
		_cleanup_free_ char *a = xasprintf("io.zlayer.deployment=%s", s->dep->name);
		_cleanup_free_ char *b = xasprintf("io.zlayer.service=%s", s->name);
		_cleanup_free_ char *hash = manager_spec_hash(s);
		_cleanup_free_ char *c = xasprintf(MANAGER_LABEL_SPEC "=%s", hash);
		strv_push(&j->cfg.labels, a);
		strv_push(&j->cfg.labels, b);
		strv_push(&j->cfg.labels, c);
	}
	j->spec = s->spec;
	return 0;
}

static void launch_create(struct replica *r, bool remove_first, bool restart) {
	struct replica_job *j = job_new(r);
	struct za_error *err = NULL;

	atomic_store(&r->cancel, false);
	j->remove_first = remove_first;
	if (job_config(r, j, &err) < 0) {
		/* e.g. a missing secret: fails at once, nothing created */
		j->result = -EINVAL;
		j->err = err;
		create_done(j);
		return;
	}
	manager_work(r->svc->dep->m, restart ? restart_work : create_work, create_done, j);
}

static void launch_stop(struct replica *r) {
	struct replica_job *j = job_new(r);

	atomic_store(&r->cancel, true);
	manager_work(r->svc->dep->m, stop_work, stop_done, j);
}

void replica_launch(struct replica *r) {
	r->state = REPLICA_CREATING;
	launch_create(r, true, false);
}

/* --- health -------------------------------------------------------------------------- */

static void health_schedule(struct replica *r, uint64_t delay);

struct probe_job {
	struct replica *r;
	struct runtime *rt;
	char *id;
	char *ip;
	struct spec_health_check check;
	uint64_t timeout;
	struct probe_result res;
	int result;
};

/* Output of a command check, stdout and stderr in the order they came. */
static int probe_collect(enum exec_stream s, const char *data, size_t len, void *userdata) {
	struct strbuf *sb = userdata;

	strbuf_add(sb, data, MIN(len, EXEC_OUTPUT_MAX - MIN(EXEC_OUTPUT_MAX, sb->len))); /* the rest is dropped */
	return 0;
}

/* The check's timeout is a timerfd the exec watches: a command that hangs
 * is killed when it fires, and the check fails as timed out. */
static int probe_exec(void *userdata, char *const *argv, uint64_t timeout_nsec, int *ret_exit_code, char **ret_output) {
	struct probe_job *p = userdata;
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_close_ int tfd = -1;
	struct exec_stream_io io = { .output = probe_collect, .userdata = &sb, .cancel_fd = -1 };
	int r, code = 0;

	if (!p->rt->ops->exec_stream)
		return -EOPNOTSUPP;
	if (timeout_nsec > 0) {
		struct itimerspec its = { .it_value = { .tv_sec = (time_t)(timeout_nsec / 1000000000),
			                                .tv_nsec = (long)(timeout_nsec % 1000000000) } };
		tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
			return -errno;
		io.cancel_fd = tfd;
	}
	r = p->rt->ops->exec_stream(p->rt, p->id, &(struct exec_options){ .argv = argv }, &io, &code, NULL);
	if (r == -ECANCELED)
		return -ETIMEDOUT;
	if (r < 0)
		return r;
	*ret_exit_code = code;
	*ret_output = strbuf_detach(&sb, NULL);
	return 0;
}

static void probe_work(void *userdata) {
	struct probe_job *p = userdata;
	struct health_target t = { .ip = p->ip, .exec = probe_exec, .exec_userdata = p };

	p->result = health_probe_run(&p->check, &t, p->timeout, &p->r->cancel, &p->res);
}

static void probe_done(void *userdata) {
	struct probe_job *p = userdata;
	struct replica *r = p->r;
	enum health_transition tr;
	struct timespec now;

	r->workers--;
	r->probing = false;
	if (r->state != REPLICA_RUNNING || r->svc->dep->m->shutting_down) {
		if (r->state == REPLICA_GONE && r->workers == 0)
			replica_free(r);
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	tr = health_state_record(&r->health, &r->svc->spec->health, p->result >= 0, p->res.reason, p->res.output,
	                         (int64_t)now.tv_sec * 1000000000 + now.tv_nsec, r->started_ns);
	if (tr == HEALTH_TRANSITION_BECAME_HEALTHY)
		emit(r, "HealthHealthy", "replica is healthy");
	else if (tr == HEALTH_TRANSITION_BECAME_UNHEALTHY)
		emit(r, "HealthUnhealthy", "replica is unhealthy after %u failed checks: %s", r->health.failures,
		     strna(r->health.reason));
	if (tr != HEALTH_TRANSITION_NONE)
		manager_changed(r->svc->dep);
	{
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		health_schedule(r, health_next_delay_ns(&r->svc->spec->health, &r->health,
		                                        (int64_t)t.tv_sec * 1000000000 + t.tv_nsec, r->started_ns));
	}
out:
	free(p->id);
	free(p->ip);
	probe_result_release(&p->res);
	free(p);
}

static int on_health_timer(sd_event_source *es, uint64_t usec, void *userdata) {
	struct replica *r = userdata;
	const struct spec_health *h = &r->svc->spec->health;
	struct probe_job *p;

	if (r->state != REPLICA_RUNNING || r->probing)
		return 0;
	p = xnew(struct probe_job, 1);
	p->r = r;
	p->rt = r->svc->dep->m->o.rt;
	p->id = xstrdup(r->id);
	p->ip = xstrdup(r->ip ? r->ip : "127.0.0.1");
	p->check = h->check; /* strings borrowed from the spec, kept alive */
	p->timeout = h->timeout_nsec ? h->timeout_nsec : 5 * ONE_SEC;
	r->probing = true;
	r->workers++;
	manager_work(r->svc->dep->m, probe_work, probe_done, p);
	return 0;
}

static void health_schedule(struct replica *r, uint64_t delay) {
	sd_event *e = r->svc->dep->m->o.event;
	uint64_t now;

	if (r->svc->dep->m->shutting_down)
		return;
	(void)sd_event_now(e, CLOCK_MONOTONIC, &now);
	if (r->health_timer) {
		(void)sd_event_source_set_time(r->health_timer, now + delay / 1000);
		(void)sd_event_source_set_enabled(r->health_timer, SD_EVENT_ONESHOT);
	} else if (sd_event_add_time(e, &r->health_timer, CLOCK_MONOTONIC, now + delay / 1000, 1000, on_health_timer,
	                             r) < 0)
		log_warning("cannot schedule health checks of %s", r->id);
}

static void health_begin(struct replica *r) {
	struct timespec t;

	health_state_release(&r->health);
	health_state_init(&r->health);
	if (r->svc->spec->health.check.type == SPEC_CHECK_NONE)
		return;
	clock_gettime(CLOCK_REALTIME, &t);
	r->started_ns = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
	health_schedule(r, 0);
}

static void health_end(struct replica *r) {
	if (r->health_timer)
		(void)sd_event_source_set_enabled(r->health_timer, SD_EVENT_OFF);
}

/* --- the supervisor -------------------------------------------------------------------- */

static int on_restart_due(sd_event_source *es, uint64_t usec, void *userdata) {
	struct replica *r = userdata;

	r->restart_timer = sd_event_source_disable_unref(r->restart_timer);
	replica_event(r, REPLICA_EV_RESTART_DUE);
	return 0;
}

void replica_restart_after(struct replica *r, uint64_t delay_nsec) {
	struct manager *m = r->svc->dep->m;
	uint64_t now;

	(void)sd_event_now(m->o.event, CLOCK_MONOTONIC, &now);
	r->restart_timer = sd_event_source_disable_unref(r->restart_timer);
	if (sd_event_add_time(m->o.event, &r->restart_timer, CLOCK_MONOTONIC, now + delay_nsec / 1000, 1000,
	                      on_restart_due, r) < 0)
		replica_event(r, REPLICA_EV_RESTART_DUE);
}

static void decide(struct replica *r) {
	struct manager *m = r->svc->dep->m;
	const struct wait_outcome *w = &r->last_exit;
	struct supervisor_decision d;
	struct timespec t;

	supervisor_decide_exit(r->svc->spec, &m->o.supervisor, &r->history, w, manager_now(), &d);
	log_debug("replica %s: exit %d (%s): %s", r->id, w->exit_code, exit_reason_to_string(w->reason),
	          exit_decision_to_string(d.decision));
	switch (d.decision) {
	case EXIT_DECISION_COMPLETE:
		r->state = REPLICA_COMPLETED;
		emit(r, "ContainerCompleted", "exited 0");
		break;
	case EXIT_DECISION_FAIL:
		r->state = REPLICA_FAILED;
		free(r->error);
		r->error = xasprintf("exited with %d%s", w->exit_code,
		                     w->reason == EXIT_REASON_OOM_KILLED ? " (out of memory)" : "");
		if (r->svc->spec->on_panic == SPEC_PANIC_SHUTDOWN)
			emit(r, "ServiceShutdown", "replica %s; not restarted (on_panic: shutdown)", r->error);
		else
			emit(r, "ContainerFailed", "replica %s; no restart left", r->error);
		break;
	case EXIT_DECISION_ISOLATE:
		r->state = REPLICA_ISOLATED;
		emit(r, "ContainerIsolated", "exited with %d; left as it is for debugging (on_panic: isolate)",
		     w->exit_code);
		break;
	case EXIT_DECISION_RESTART:
	default:
		r->state = REPLICA_BACKOFF;
		if (d.crash_loop)
			emit(r, "CrashLoopBackOff",
			     "more than %u restarts within %" PRIu64 "s; restarting in %" PRIu64 "s",
			     m->o.supervisor.crashloop_restarts, m->o.supervisor.crashloop_window_nsec / ONE_SEC,
			     d.delay_nsec / ONE_SEC);
		clock_gettime(CLOCK_REALTIME, &t);
		r->restart_due_ns = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec + (int64_t)d.delay_nsec;
		/* kept before the timer may fire: a restart of the agent keeps the pace */
		replica_state_save(r);
		replica_restart_after(r, d.delay_nsec);
		manager_changed(r->svc->dep);
		return;
	}
	r->restart_due_ns = 0;
	replica_state_save(r);
	manager_changed(r->svc->dep);
}

void replica_event(struct replica *r, enum replica_event e) {
	struct replica_transition t = supervisor_step(r->state, e);
	enum replica_state was = r->state;

	log_debug("replica %s: %s + %s -> %s (%s)", r->id, replica_state_to_string(was), replica_event_to_string(e),
	          replica_state_to_string(t.next), replica_action_to_string(t.action));
	r->state = t.next;
	switch (t.action) {
	case REPLICA_ACT_DEFER_EXIT:
		/* The exit may beat the create worker's report: keep it. */
		r->exit_pending = true;
		r->pending_exit = r->last_exit;
		break;
	case REPLICA_ACT_WATCH:
		if (r->started_once && r->history.total > 0)
			emit(r, "ContainerRestarted", "restart %u", r->history.total);
		else
			emit(r, "ContainerStarted", "pid %d", (int)r->pid);
		r->started_once = true;
		if (r->restart_due_ns) {
			r->restart_due_ns = 0;
			replica_state_save(r); /* the restart is done */
		}
		health_begin(r);
		if (r->exit_pending) {
			r->exit_pending = false;
			r->last_exit = r->pending_exit;
			replica_event(r, REPLICA_EV_EXITED);
		}
		break;
	case REPLICA_ACT_DECIDE:
		health_end(r);
		decide(r);
		break;
	case REPLICA_ACT_RECREATE:
		launch_create(r, true, true); /* in place when it can */
		break;
	case REPLICA_ACT_STOP:
		health_end(r);
		launch_stop(r);
		break;
	case REPLICA_ACT_CANCEL_STOP:
		r->restart_timer = sd_event_source_disable_unref(r->restart_timer);
		launch_stop(r);
		break;
	case REPLICA_ACT_STOP_WHEN_UP:
		r->stop_after_create = true;
		atomic_store(&r->cancel, true); /* init steps end early */
		break;
	case REPLICA_ACT_FORGET: {
		struct service *s = r->svc;
		for (size_t i = 0; i < s->n_replicas; i++)
			if (s->replicas[i] == r) {
				memmove(s->replicas + i, s->replicas + i + 1, (s->n_replicas - i - 1) * sizeof(r));
				s->n_replicas--;
				break;
			}
		emit(r, "ContainerRemoved", "replica removed");
		replica_state_forget(r);
		health_end(r);
		r->restart_timer = sd_event_source_disable_unref(r->restart_timer);
		if (r->workers == 0)
			replica_free(r);
		manager_changed(s->dep);
		break;
	}
	case REPLICA_ACT_NONE:
	case REPLICA_ACT_IGNORE:
	default:
		break;
	}
}

void replica_adopt(struct replica *r, pid_t pid, const char *ip) {
	r->state = REPLICA_RUNNING;
	r->pid = pid;
	r->ip = ip ? xstrdup(ip) : NULL;
	r->started_once = true;
	emit(r, "ContainerAdopted", "running as pid %d", (int)pid);
	health_begin(r);
}

void manager_on_exit_loop(struct manager *m, const char *id, const struct wait_outcome *w) {
	struct replica *r = manager_find_replica(m, id);

	if (!r) {
		(void)jobs_on_exit(m->jobs, id, w); /* jobs: a job execution's, or nobody's */
		return;
	}
	/* An exit restore already took from the runtime, told again by the
	 * monitor: decided once. */
	if (r->has_exit && w->finished_ns != 0 && w->finished_ns == r->last_exit.finished_ns) {
		log_debug("replica %s: exit at %" PRId64 " already handled", r->id, w->finished_ns);
		return;
	}
	r->last_exit = *w;
	r->has_exit = true;
	replica_event(r, REPLICA_EV_EXITED);
}
