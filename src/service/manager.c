/* SPDX-License-Identifier: Apache-2.0 */
/* Deployments and services: deploy/update/remove, the dependency gates
 * (started/healthy/ready with timeout and on_timeout), image pulls, scaling
 * (highest-numbered replicas go first), rolling replacement (a new replica
 * healthy before an old one stops), restore after a restart, status. Every
 * change goes through one deferred re-evaluation per deployment
 * (manager_changed), so handlers never recurse into each other. */
#include <inttypes.h>
#include <stdarg.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "image/digest.h"
#include "runtime/container.h"
#include "service/jobs.h"
#include "service/manager-internal.h"
#include "store/store-deployments.h"
#include "basic/banned.h"

#define ONE_SEC        (UINT64_C(1000000000))
#define EVENTS_KEEP    4096
#define WORKER_WAIT_MS 30000

enum op_kind { OP_DEPLOY, OP_REMOVE, OP_SCALE };

struct manager_op {
	enum op_kind kind;
	manager_done_fn done;
	void *userdata;
	struct service *scale_service;
};

static const char *const phase_names[_SERVICE_PHASE_MAX] = {
	[SERVICE_WAITING] = "waiting",
	[SERVICE_PULLING] = "pulling",
	[SERVICE_UP] = "up",
	[SERVICE_FAILED] = "failed",
};

int64_t manager_now(void) {
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* --- workers ------------------------------------------------------------------------- */

struct work {
	struct manager *m;
	void (*fn)(void *);
	void (*done)(void *);
	void *userdata;
};

static void work_done(void *p) {
	struct work *w = p;

	w->done(w->userdata);
	free(w);
}

/* The count drops once the result is posted: manager_shutdown() waits for
 * that, the results run when the daemon drains its queue, and the daemon
 * frees the manager after them. */
static void *work_thread(void *p) {
	struct work *w = p;
	struct manager *m = w->m;

	w->fn(w->userdata);
	m->o.ops.post(m->o.ops.ctx, work_done, w);
	pthread_mutex_lock(&m->lock);
	if (--m->workers == 0)
		pthread_cond_broadcast(&m->idle);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

void manager_work(struct manager *m, void (*fn)(void *), void (*done)(void *), void *userdata) {
	struct work *w = xnew(struct work, 1);
	pthread_attr_t attr;
	pthread_t t;

	*w = (struct work){ .m = m, .fn = fn, .done = done, .userdata = userdata };
	pthread_mutex_lock(&m->lock);
	m->workers++;
	pthread_mutex_unlock(&m->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, work_thread, w) != 0)
		(void)work_thread(w); /* no thread: run it here (slow, but nothing is lost) */
	pthread_attr_destroy(&attr);
}

/* --- lookup --------------------------------------------------------------------------- */

static struct deployment *find_deployment(struct manager *m, const char *name) {
	for (size_t i = 0; i < m->n_deps; i++)
		if (streq(m->deps[i]->name, name))
			return m->deps[i];
	return NULL;
}

static struct service *dep_service(struct deployment *d, const char *name) {
	for (size_t i = 0; i < d->n_services; i++)
		if (streq(d->services[i]->name, name))
			return d->services[i];
	return NULL;
}

struct service *manager_find_service(struct manager *m, const char *deployment, const char *name) {
	for (size_t i = 0; i < m->n_deps; i++)
		if (!deployment || streq(m->deps[i]->name, deployment)) {
			struct service *s = dep_service(m->deps[i], name);
			if (s)
				return s;
		}
	return NULL;
}

struct replica *manager_find_replica(struct manager *m, const char *id) {
	for (size_t i = 0; i < m->n_deps; i++)
		for (size_t k = 0; k < m->deps[i]->n_services; k++) {
			struct service *s = m->deps[i]->services[k];
			for (size_t j = 0; j < s->n_replicas; j++)
				if (streq(s->replicas[j]->id, id))
					return s->replicas[j];
		}
	return NULL;
}

/* --- services ------------------------------------------------------------------------ */

static uint32_t desired_of(const struct spec_service *sp) {
	if (sp->rtype != SPEC_RTYPE_SERVICE)
		return 0;
	switch (sp->scale.mode) {
	case SPEC_SCALE_FIXED:
		return sp->scale.replicas;
	case SPEC_SCALE_ADAPTIVE:
		return sp->scale.min ? sp->scale.min : 1;
	case SPEC_SCALE_MANUAL:
	default:
		return 1;
	}
}

static json_t *service_json(const struct spec_deployment *spec, const char *name) {
	_cleanup_free_ char *text = spec_to_json(spec);
	json_t *all = text ? json_loads(text, 0, NULL) : NULL, *s;

	s = json_incref(json_object_get(json_object_get(all, "services"), name));
	json_decref(all);
	return s ? s : json_object();
}

static struct service *service_new(struct deployment *d, const struct spec_service *sp) {
	struct service *s = xnew(struct service, 1);

	s->dep = d;
	s->spec = sp;
	s->name = xstrdup(sp->name);
	s->spec_json = service_json(d->spec, sp->name);
	s->desired = desired_of(sp);
	s->phase = SERVICE_WAITING;
	s->waiting_since = manager_now();
	return s;
}

static void service_free(struct service *s) {
	for (size_t i = 0; i < s->n_replicas; i++) {
		struct replica *r = s->replicas[i];
		r->state = REPLICA_GONE;
		if (r->workers == 0)
			replica_free(r);
	}
	free(s->replicas);
	sd_event_source_disable_unref(s->deps_timer);
	json_decref(s->spec_json);
	free(s->name);
	free(s->error);
	free(s->required_os);
	free(s->digest);
	free(s);
}

void service_fail(struct service *s, const char *fmt, ...) {
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->phase = SERVICE_FAILED;
	free(s->error);
	s->error = xstrdup(msg);
	free(s->required_os); /* image_ready() sets it again for its failure */
	s->required_os = NULL;
	event_emit(s->dep->m->events, "ServiceFailed", s->dep->name, s->name, NULL, "%s", msg);
	manager_changed(s->dep);
}

static size_t live_replicas(const struct service *s) {
	size_t n = 0;

	for (size_t i = 0; i < s->n_replicas; i++)
		if (replica_counts(s->replicas[i]))
			n++;
	return n;
}

static bool number_used(const struct service *s, unsigned n) {
	for (size_t i = 0; i < s->n_replicas; i++)
		if (s->replicas[i]->n == n)
			return true;
	return false;
}

/* A replica in slot n: adopt its container when one is there (a restart
 * of the agent), else create it. */
static struct replica *add_replica(struct service *s, unsigned n, bool adopt) {
	struct runtime *rt = s->dep->m->o.rt;
	struct replica *r = replica_new(s, n);
	struct container_status st = {};

	s->replicas = xrealloc(s->replicas, (s->n_replicas + 1) * sizeof(*s->replicas));
	s->replicas[s->n_replicas++] = r;
	if (adopt && rt->ops->state(rt, r->id, &st, NULL) >= 0) {
		if (st.state == CONTAINER_RUNNING || st.state == CONTAINER_EXITED || st.state == CONTAINER_FAILED) {
			/* with its saved history; an exit while the agent was away
			 * gets its policy once */
			replica_restore(r, &st);
			container_status_release(&st);
			return r;
		}
		container_status_release(&st);
	}
	if (!adopt)
		replica_state_forget(r); /* of an earlier replica of that name */
	replica_launch(r);
	return r;
}

static unsigned free_number(const struct service *s) {
	unsigned n = 1;

	while (number_used(s, n))
		n++;
	return n;
}

/* Create or stop replicas until the live ones are `desired`. */
static void scale_to(struct service *s, bool adopt) {
	size_t live = live_replicas(s);

	while (live < s->desired) {
		(void)add_replica(s, free_number(s), adopt);
		live++;
	}
	while (live > s->desired) {
		struct replica *top = NULL;
		for (size_t i = 0; i < s->n_replicas; i++)
			if (replica_counts(s->replicas[i]) && (!top || s->replicas[i]->n > top->n))
				top = s->replicas[i];
		if (!top)
			break;
		replica_event(top, REPLICA_EV_STOP);
		live--;
	}
}

char *manager_spec_hash(const struct service *s) {
	_cleanup_free_ char *text = json_dumps(s->spec_json, JSON_COMPACT | JSON_SORT_KEYS);

	if (!text)
		oom();
	return digest_sha256_buf(text, strlen(text));
}

/* id is `{service}-rep-{n}`: n. */
static bool replica_id_parse(const char *id, const char *service, unsigned *ret_n) {
	size_t l = strlen(service);
	_cleanup_free_ char *canonical = NULL;
	uint32_t n;

	if (!strneq(id, service, l) || !strneq(id + l, "-rep-", 5) || parse_uint32(id + l + 5, &n) < 0 || n == 0)
		return false;
	canonical = container_replica_id(service, n);
	if (!streq(canonical, id))
		return false;
	*ret_n = n;
	return true;
}

/* A container's label, from the runtime's inspect; NULL when it has none. */
static char *container_label(struct runtime *rt, const char *id, const char *key) {
	json_t *j = NULL;
	const char *v;
	char *ret;

	if (!rt->ops->inspect || rt->ops->inspect(rt, id, &j, NULL) < 0)
		return NULL;
	v = json_string_value(json_object_get(json_object_get(j, "labels"), key));
	ret = v ? xstrdup(v) : NULL;
	json_decref(j);
	return ret;
}

/* At restore: every container of the service's replicas ({name}-rep-N,
 * whatever N: a scale or a rollout may have been cut short) is taken back.
 * Those made from another spec of the service (their io.zlayer.spec label)
 * are replaced by a rollout; those neither running nor exited (a create
 * cut short) go; then the count is made right, highest numbers first. */
static void service_restore(struct service *s) {
	struct runtime *rt = s->dep->m->o.rt;
	_cleanup_strv_free_ char **ids = NULL, **stale = NULL;
	_cleanup_free_ char *hash = manager_spec_hash(s);
	size_t n_match = 0;

	(void)rt->ops->list(rt, &ids, NULL);
	STRV_FOREACH (i, ids) {
		struct container_status st = {};
		_cleanup_free_ char *label = NULL;
		struct replica *r;
		bool adoptable;
		unsigned n;

		if (!replica_id_parse(*i, s->name, &n) || number_used(s, n) || rt->ops->state(rt, *i, &st, NULL) < 0)
			continue;
		adoptable =
		        st.state == CONTAINER_RUNNING || st.state == CONTAINER_EXITED || st.state == CONTAINER_FAILED;
		container_status_release(&st);
		if (!adoptable) {
			r = replica_new(s, n);
			s->replicas = xrealloc(s->replicas, (s->n_replicas + 1) * sizeof(*s->replicas));
			s->replicas[s->n_replicas++] = r;
			r->state = REPLICA_FAILED;
			replica_event(r, REPLICA_EV_STOP);
			continue;
		}
		(void)add_replica(s, n, true);
		/* no label: made by an agent before labels, taken as it is */
		label = container_label(rt, *i, MANAGER_LABEL_SPEC);
		if (label && !streq(label, hash))
			strv_push(&stale, *i);
		else
			n_match++;
	}
	if (!stale) {
		scale_to(s, false);
		return;
	}
	s->generation++;
	for (size_t i = 0; i < s->n_replicas; i++) {
		struct replica *r = s->replicas[i];
		bool old = false;
		STRV_FOREACH (x, stale)
			if (streq(*x, r->id))
				old = true;
		if (!old)
			r->generation = s->generation;
	}
	/* more of the current spec than wanted: the highest go */
	while (n_match-- > s->desired) {
		struct replica *top = NULL;
		for (size_t i = 0; i < s->n_replicas; i++) {
			struct replica *r = s->replicas[i];
			if (replica_counts(r) && r->generation == s->generation && (!top || r->n > top->n))
				top = r;
		}
		if (!top)
			break;
		replica_event(top, REPLICA_EV_STOP);
	}
	s->rolling = true;
	event_emit(s->dep->m->events, "ServiceUpdated", s->dep->name, s->name, NULL,
	           "%zu replicas of an earlier spec found at restore: replacing them one at a time",
	           strv_length(stale));
}

static bool condition_met(struct service *t, enum spec_condition c) {
	for (size_t i = 0; i < t->n_replicas; i++) {
		struct replica *r = t->replicas[i];
		if (r->retired)
			continue;
		if (c == SPEC_CONDITION_STARTED ? r->state == REPLICA_RUNNING : replica_is_healthy(r))
			return true;
	}
	return false;
}

static int on_deps_timer(sd_event_source *es, uint64_t usec, void *userdata) {
	struct service *s = userdata;

	manager_changed(s->dep);
	return 0;
}

static void image_ready(void *userdata, int r, const struct za_error *err, const char *digest);

struct image_wait {
	struct manager *m;
	char *deployment, *service;
	bool adopt;
};

static void service_pull(struct service *s, bool adopt) {
	struct manager *m = s->dep->m;
	struct image_wait *w = xnew(struct image_wait, 1);
	enum spec_pull_policy p = s->spec->image.pull_policy;

	s->phase = SERVICE_PULLING;
	w->m = m;
	w->deployment = xstrdup(s->dep->name);
	w->service = xstrdup(s->name);
	w->adopt = adopt;
	/* After a restart, what is there is used: no pull storm at boot. */
	if (adopt && p != SPEC_PULL_NEVER)
		p = SPEC_PULL_IF_NOT_PRESENT;
	m->o.ops.image_ensure(m->o.ops.ctx, s->spec->image.name, p, image_ready, w);
}

static void image_ready(void *userdata, int r, const struct za_error *err, const char *digest) {
	struct image_wait *w = userdata;
	struct service *s =
	        find_deployment(w->m, w->deployment) ? manager_find_service(w->m, w->deployment, w->service) : NULL;

	if (s && s->phase == SERVICE_PULLING) {
		if (r < 0) {
			service_fail(s, "service '%s': image '%s': %s", s->name, s->spec->image.name,
			             err ? err->message : "cannot be made available");
			if (err && err->kind == ZA_ERROR_ROUTE_TO_PEER) {
				free(s->required_os);
				s->required_os = xstrdup(strempty(err->required_os));
			}
		} else {
			bool changed = s->digest && !streq(s->digest, digest);
			free(s->digest);
			s->digest = xstrdup(digest);
			s->phase = SERVICE_UP;
			if (changed && s->n_replicas > 0)
				s->rolling = true; /* a new digest: replace the replicas */
			else if (w->adopt)
				service_restore(s); /* containers of an earlier run */
			else
				scale_to(s, false);
			manager_changed(s->dep);
		}
	}
	free(w->deployment);
	free(w->service);
	free(w);
}

/* WAITING: are the dependencies there? Timeouts per on_timeout. */
static void service_gate(struct service *s, bool adopt) {
	struct deployment *d = s->dep;
	int64_t now = manager_now(), nearest = INT64_MAX;
	bool ready = true;

	for (size_t i = 0; i < s->spec->n_depends; i++) {
		const struct spec_depends *dp = &s->spec->depends[i];
		struct service *t = dep_service(d, dp->service);
		int64_t deadline = s->waiting_since + (int64_t)dp->timeout_nsec;

		if (!t || condition_met(t, dp->condition))
			continue;
		if (t->phase == SERVICE_FAILED && dp->on_timeout == SPEC_ON_FAILURE_FAIL) {
			service_fail(s, "service '%s': dependency '%s' failed: %s", s->name, t->name, strna(t->error));
			return;
		}
		if (dp->timeout_nsec && now >= deadline) {
			if (dp->on_timeout == SPEC_ON_FAILURE_FAIL) {
				char tb[64];
				service_fail(s, "service '%s': dependency '%s' not %s within %s", s->name, t->name,
				             spec_condition_to_string(dp->condition),
				             format_duration(tb, sizeof(tb), dp->timeout_nsec));
				s->timed_out = true;
				return;
			}
			if (dp->on_timeout == SPEC_ON_FAILURE_WARN)
				event_emit(d->m->events, "DependencyTimeout", d->name, s->name, NULL,
				           "dependency '%s' not %s within %" PRIu64
				           "s; starting anyway (on_timeout: warn)",
				           t->name, spec_condition_to_string(dp->condition),
				           dp->timeout_nsec / ONE_SEC);
			continue;
		}
		ready = false;
		if (dp->timeout_nsec && deadline < nearest)
			nearest = deadline;
	}
	if (ready) {
		s->deps_timer = sd_event_source_disable_unref(s->deps_timer);
		service_pull(s, adopt);
		return;
	}
	if (nearest != INT64_MAX) {
		uint64_t at = (uint64_t)nearest / 1000 + 1000;
		s->deps_timer = sd_event_source_disable_unref(s->deps_timer);
		if (sd_event_add_time(d->m->o.event, &s->deps_timer, CLOCK_MONOTONIC, at, 1000, on_deps_timer, s) < 0)
			log_warning("cannot arm the dependency timeout of %s", s->name);
	}
}

/* --- rollouts ------------------------------------------------------------------------- */

static bool replica_new_gen(const struct service *s, const struct replica *r) {
	return r->generation == s->generation;
}

/* One step of a rolling replacement: a new replica healthy, then one old
 * replica stops; a new one that fails stops the rollout, old ones serve. */
static void rollout_step(struct service *s) {
	struct replica *pending = NULL, *old = NULL;
	size_t n_new = 0;

	for (size_t i = 0; i < s->n_replicas; i++) {
		struct replica *r = s->replicas[i];
		if (!replica_counts(r))
			continue;
		if (!replica_new_gen(s, r)) {
			if (!old || r->n > old->n)
				old = r;
			continue;
		}
		n_new++;
		if (r->state == REPLICA_CREATING ||
		    (r->state == REPLICA_RUNNING && !replica_is_healthy(r) && r->health.status != HEALTH_UNHEALTHY))
			pending = r;
		else if (r->state != REPLICA_RUNNING || r->health.status == HEALTH_UNHEALTHY) {
			/* the new one failed: stop the rollout, keep the old ones */
			_cleanup_free_ char *why =
			        xasprintf("%s", r->error ? r->error : replica_state_to_string(r->state));
			if (r->state == REPLICA_RUNNING)
				free(why), why = xasprintf("unhealthy: %s", strna(r->health.reason));
			s->rolling = false;
			for (size_t k = 0; k < s->n_replicas; k++)
				if (replica_counts(s->replicas[k]) && replica_new_gen(s, s->replicas[k]))
					replica_event(s->replicas[k], REPLICA_EV_STOP);
			free(s->error);
			s->error = xasprintf("rollout of service '%s' stopped: new replica %s: %s; the old replicas "
			                     "keep serving",
			                     s->name, r->id, why);
			s->rollout_failed = true; /* the service stays up: the deploy fails */
			event_emit(s->dep->m->events, "RolloutFailed", s->dep->name, s->name, r->id, "%s", s->error);
			manager_changed(s->dep);
			return;
		}
	}
	if (pending)
		return;
	if (old && n_new > 0 && n_new + 1 > s->desired) {
		/* a new one is healthy: retire one old */
		crashpoint("rollout.retiring");
		old->retired = true;
		replica_event(old, REPLICA_EV_STOP);
		return;
	}
	if (old || n_new < s->desired) {
		struct replica *r;
		crashpoint("rollout.step");
		r = add_replica(s, free_number(s), false);
		r->generation = s->generation;
		return;
	}
	s->rolling = false;
	event_emit(s->dep->m->events, "RolloutComplete", s->dep->name, s->name, NULL, "%zu replicas replaced", n_new);
}

/* --- re-evaluation ------------------------------------------------------------------- */

static void op_finish(struct deployment *d, int r, const struct za_error *err);
static void deployment_forget(struct deployment *d);

static bool service_settled(const struct service *s) {
	if (s->phase == SERVICE_FAILED)
		return true;
	if (s->phase != SERVICE_UP || s->rolling)
		return false;
	if (live_replicas(s) != s->desired)
		return false;
	for (size_t i = 0; i < s->n_replicas; i++) {
		const struct replica *r = s->replicas[i];
		if (replica_counts(r) && r->state == REPLICA_CREATING)
			return false;
	}
	return true;
}

static const char *service_replica_error(const struct service *s) {
	for (size_t i = 0; i < s->n_replicas; i++)
		if (replica_counts(s->replicas[i]) && s->replicas[i]->state == REPLICA_FAILED)
			return s->replicas[i]->error;
	return NULL;
}

/* Remove: stop a service once nothing that depends on it still runs. */
static bool dependents_gone(struct deployment *d, struct service *s) {
	for (size_t i = 0; i < d->n_services; i++) {
		struct service *o = d->services[i];
		if (o == s || o->n_replicas == 0)
			continue;
		for (size_t k = 0; k < o->spec->n_depends; k++)
			if (streq(o->spec->depends[k].service, s->name))
				return false;
	}
	return true;
}

static void evaluate(struct deployment *d) {
	bool all_settled = true;
	const struct service *failed = NULL;
	const char *replica_err = NULL;

	if (d->removing) {
		bool empty = true;
		for (size_t i = 0; i < d->n_services; i++) {
			struct service *s = d->services[i];
			s->desired = 0;
			if (s->n_replicas > 0)
				empty = false;
			if (s->n_replicas > 0 && dependents_gone(d, s))
				scale_to(s, false);
		}
		if (jobs_drain(d->m->jobs, d->name) > 0) /* jobs: its executions are cancelled first */
			empty = false;
		if (empty)
			deployment_forget(d);
		return;
	}
	for (size_t i = 0; i < d->n_services; i++) {
		struct service *s = d->services[i];

		if (s->removed) {
			s->desired = 0;
			scale_to(s, false);
			if (s->n_replicas == 0) {
				memmove(d->services + i, d->services + i + 1, (d->n_services - i - 1) * sizeof(s));
				d->n_services--;
				service_free(s);
				i--;
			}
			continue;
		}
		if (s->phase == SERVICE_WAITING)
			service_gate(s, d->restoring);
		if (s->phase == SERVICE_UP && s->rolling)
			rollout_step(s);
		if (!service_settled(s))
			all_settled = false;
		if ((s->phase == SERVICE_FAILED || s->rollout_failed) && !failed)
			failed = s;
		if (!replica_err && service_replica_error(s))
			replica_err = service_replica_error(s);
	}
	if (!d->op)
		return;
	if (d->op->kind == OP_SCALE) {
		struct service *s = d->op->scale_service;
		bool stopping = false;
		for (size_t i = 0; i < s->n_replicas; i++)
			if (s->replicas[i]->state == REPLICA_STOPPING)
				stopping = true;
		if ((service_settled(s) && !stopping) || s->phase == SERVICE_FAILED) {
			const char *e = service_replica_error(s);
			struct za_error *err = NULL;
			if (e)
				za_error_make(&err, ZA_ERROR_START_FAILED, EIO, "service '%s': %s", s->name, e);
			op_finish(d, e ? -EIO : 0, err);
			za_error_free(err);
		}
		return;
	}
	if (d->op->kind != OP_DEPLOY)
		return;
	if (failed || (all_settled && replica_err)) {
		struct za_error *err = NULL;
		if (failed && failed->required_os) {
			za_error_make(&err, ZA_ERROR_ROUTE_TO_PEER, ENOEXEC, "%s", failed->error);
			za_error_set_required_os(&err, failed->required_os);
		} else if (failed)
			za_error_make(&err, failed->timed_out ? ZA_ERROR_DEPENDENCY_TIMEOUT : ZA_ERROR_START_FAILED,
			              EIO, "%s", failed->error);
		else
			za_error_make(&err, ZA_ERROR_START_FAILED, EIO, "%s", replica_err);
		op_finish(d, -EIO, err);
		za_error_free(err);
	} else if (all_settled)
		op_finish(d, 0, NULL);
}

static int on_changed(sd_event_source *es, void *userdata) {
	struct manager *m = userdata;

	(void)sd_event_source_set_enabled(es, SD_EVENT_OFF);
	m->changed_source = sd_event_source_unref(m->changed_source);
	/* a deployment may go while we look: walk by name */
	for (size_t i = 0; i < m->n_deps;) {
		struct deployment *d = m->deps[i];
		size_t n = m->n_deps;
		if (d->changed) {
			d->changed = false;
			evaluate(d);
		}
		if (m->n_deps == n)
			i++;
	}
	return 0;
}

void manager_changed(struct deployment *d) {
	struct manager *m = d->m;

	d->changed = true;
	if (m->changed_source || m->shutting_down)
		return;
	if (sd_event_add_defer(m->o.event, &m->changed_source, on_changed, m) < 0)
		log_warning("cannot schedule the service manager's re-evaluation");
}

/* jobs: a removal may be waiting for a job execution to end */
void manager_deployment_changed(struct manager *m, const char *deployment) {
	struct deployment *d = find_deployment(m, deployment);

	if (d)
		manager_changed(d);
}

/* --- status --------------------------------------------------------------------------- */

static json_t *deployment_status(struct deployment *d) {
	json_t *services = json_object();

	for (size_t i = 0; i < d->n_services; i++) {
		struct service *s = d->services[i];
		json_t *reps = json_array();
		size_t ready = 0;
		for (size_t k = 0; k < s->n_replicas; k++) {
			json_array_append_new(reps, replica_status(s->replicas[k]));
			if (replica_counts(s->replicas[k]) && replica_is_healthy(s->replicas[k]))
				ready++;
		}
		json_object_set_new(services, s->name,
		                    json_pack("{s:I, s:I, s:s, s:s, s:s, s:s?, s:s?, s:o}", "desired",
		                              (json_int_t)s->desired, "ready", (json_int_t)ready, "rtype",
		                              spec_rtype_to_string(s->spec->rtype), "phase", phase_names[s->phase],
		                              "image", s->spec->image.name, "digest", s->digest, "error", s->error,
		                              "replicas", reps));
	}
	return json_pack("{s:s, s:s, s:o}", "deployment", d->name, "file", d->file, "services", services);
}

json_t *manager_status(struct manager *m, const char *deployment) {
	if (deployment) {
		struct deployment *d = find_deployment(m, deployment);
		return d ? deployment_status(d) : NULL;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < m->n_deps; i++)
		json_array_append_new(a, deployment_status(m->deps[i]));
	return a;
}

json_t *manager_replica_status(struct manager *m, const char *id) {
	struct replica *r = manager_find_replica(m, id);
	json_t *j;

	if (!r)
		return NULL;
	j = replica_status(r);
	json_object_set_new(j, "deployment", json_string(r->svc->dep->name));
	json_object_set_new(j, "service", json_string(r->svc->name));
	return j;
}

struct event_bus *manager_events(struct manager *m) {
	return m->events;
}

struct jobs *manager_jobs(struct manager *m) {
	return m->jobs;
}

/* --- operations ------------------------------------------------------------------------ */

static void op_finish(struct deployment *d, int r, const struct za_error *err) {
	struct manager_op *op = d->op;
	json_t *st;

	if (!op)
		return;
	d->op = NULL;
	d->restoring = false;
	st = deployment_status(d);
	if (op->kind == OP_DEPLOY)
		event_emit(d->m->events, r < 0 ? "DeployFailed" : "Deployed", d->name, NULL, NULL, "%s",
		           r < 0 && err ? err->message : "every service is up");
	if (op->done)
		op->done(op->userdata, r, err, st);
	json_decref(st);
	free(op);
}

static struct manager_op *op_new(enum op_kind kind, manager_done_fn done, void *userdata) {
	struct manager_op *op = xnew(struct manager_op, 1);

	op->kind = kind;
	op->done = done;
	op->userdata = userdata;
	return op;
}

static void deployment_free(struct deployment *d) {
	for (size_t i = 0; i < d->n_services; i++)
		service_free(d->services[i]);
	free(d->services);
	spec_deployment_free(d->spec);
	for (size_t i = 0; i < d->n_old_specs; i++)
		spec_deployment_free(d->old_specs[i]);
	free(d->old_specs);
	free(d->name);
	free(d->file);
	free(d);
}

static void deployment_forget(struct deployment *d) {
	struct manager *m = d->m;
	_cleanup_za_error_ struct za_error *err = NULL;

	crashpoint("down.forgetting");
	if (store_deployment_remove(m->o.store, d->name, &err) < 0)
		log_warning("cannot forget deployment %s: %s", d->name, err->message);
	jobs_forget(m->jobs, d->name); /* jobs: its jobs, their records and logs */
	for (size_t i = 0; i < m->n_deps; i++)
		if (m->deps[i] == d) {
			memmove(m->deps + i, m->deps + i + 1, (m->n_deps - i - 1) * sizeof(d));
			m->n_deps--;
			break;
		}
	event_emit(m->events, "DeploymentRemoved", d->name, NULL, NULL, "every replica stopped and removed");
	if (d->op) {
		struct manager_op *op = d->op;
		json_t *st = json_pack("{s:s, s:{}}", "deployment", d->name, "services");
		d->op = NULL;
		if (op->done)
			op->done(op->userdata, 0, NULL, st);
		json_decref(st);
		free(op);
	}
	deployment_free(d);
}

static int spec_check_names(struct manager *m, const struct spec_deployment *spec, struct za_error **reterr) {
	for (size_t i = 0; i < spec->n_services; i++)
		for (size_t k = 0; k < m->n_deps; k++) {
			struct deployment *o = m->deps[k];
			if (streq(o->name, spec->name) || !dep_service(o, spec->services[i].name))
				continue;
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EEXIST,
			                     "service '%s' already exists in deployment '%s'; replica ids "
			                     "({service}-rep-{n}) are node-wide, so service names must be unique",
			                     spec->services[i].name, o->name);
		}
	return 0;
}

/* Point the services at the new spec; changed ones roll. */
static void deployment_update(struct deployment *d, struct spec_deployment *spec) {
	struct spec_deployment *old = d->spec;

	d->spec = spec;
	d->old_specs = xrealloc(d->old_specs, (d->n_old_specs + 1) * sizeof(*d->old_specs));
	d->old_specs[d->n_old_specs++] = old;
	for (size_t i = 0; i < d->n_services; i++)
		d->services[i]->removed = true;
	for (size_t i = 0; i < spec->n_services; i++) {
		const struct spec_service *sp = &spec->services[spec->start_order ? spec->start_order[i] : i];
		struct service *s = dep_service(d, sp->name);
		json_t *j;

		if (!s) {
			s = service_new(d, sp);
			d->services = xrealloc(d->services, (d->n_services + 1) * sizeof(*d->services));
			d->services[d->n_services++] = s;
			continue;
		}
		s->removed = false;
		j = service_json(spec, sp->name);
		s->spec = sp;
		free(s->error);
		s->error = NULL;
		free(s->required_os);
		s->required_os = NULL;
		s->rollout_failed = false;
		s->timed_out = false;
		if (json_equal(j, s->spec_json)) {
			json_decref(j);
			s->desired = desired_of(sp);
			if (s->phase == SERVICE_FAILED) {
				s->phase = SERVICE_WAITING;
				s->waiting_since = manager_now();
			} else if (s->phase == SERVICE_UP && (sp->image.pull_policy == SPEC_PULL_ALWAYS ||
			                                      sp->image.pull_policy == SPEC_PULL_NEWER))
				service_pull(s, false); /* a new digest rolls */
			else if (s->phase == SERVICE_UP)
				scale_to(s, false);
			continue;
		}
		json_decref(s->spec_json);
		s->spec_json = j;
		s->desired = desired_of(sp);
		s->generation++;
		s->rolling = s->n_replicas > 0;
		s->phase = SERVICE_WAITING;
		s->waiting_since = manager_now();
		event_emit(d->m->events, "ServiceUpdated", d->name, s->name, NULL,
		           "spec changed: replacing replicas one at a time");
	}
}

static int deployment_busy(struct deployment *d, struct za_error **reterr) {
	if (d && (d->op || d->removing))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EBUSY,
		                     "deployment '%s' is busy with an earlier request; try again when it is done",
		                     d->name);
	return 0;
}

static int deploy_spec(struct manager *m, struct spec_deployment *spec, const char *file, bool adopt,
                       const char *scales, manager_done_fn done, void *userdata, struct za_error **reterr) {
	struct deployment *d = find_deployment(m, spec->name);

	if (deployment_busy(d, reterr) < 0) {
		spec_deployment_free(spec);
		return -EBUSY;
	}
	if (!d) {
		d = xnew(struct deployment, 1);
		d->m = m;
		d->name = xstrdup(spec->name);
		d->file = xstrdup(file);
		d->spec = spec;
		d->created_ns = manager_now();
		for (size_t i = 0; i < spec->n_services; i++) {
			const struct spec_service *sp = &spec->services[spec->start_order ? spec->start_order[i] : i];
			d->services = xrealloc(d->services, (d->n_services + 1) * sizeof(*d->services));
			d->services[d->n_services++] = service_new(d, sp);
		}
		m->deps = xrealloc(m->deps, (m->n_deps + 1) * sizeof(*m->deps));
		m->deps[m->n_deps++] = d;
	} else {
		free(d->file);
		d->file = xstrdup(file);
		deployment_update(d, spec);
	}
	jobs_sync(m->jobs, d->name, d->spec); /* jobs: register its jobs and crons */
	/* counts set with `scale` before a restart */
	if (scales) {
		json_t *j = json_loads(scales, 0, NULL), *v;
		const char *key;
		json_object_foreach(j, key, v) {
			struct service *x = dep_service(d, key);
			if (x && x->spec->rtype == SPEC_RTYPE_SERVICE && json_is_integer(v) &&
			    json_integer_value(v) >= 0 && json_integer_value(v) <= 1000)
				x->desired = (uint32_t)json_integer_value(v);
		}
		json_decref(j);
	}
	d->op = op_new(OP_DEPLOY, done, userdata);
	d->restoring = adopt;
	event_emit(m->events, adopt ? "DeploymentRestored" : "Deploying", d->name, NULL, NULL, "%zu services",
	           d->n_services);
	/* the first gates with adoption: containers of an earlier run */
	for (size_t i = 0; i < d->n_services; i++)
		if (d->services[i]->phase == SERVICE_WAITING)
			service_gate(d->services[i], adopt);
	manager_changed(d);
	return 0;
}

int manager_deploy(struct manager *m, const char *file, const char *yaml, size_t len, manager_done_fn done,
                   void *userdata, struct za_error **reterr) {
	struct spec_deployment *spec = NULL;
	struct store_deployment row;
	struct timespec now;
	int r;

	r = spec_load_string(file, yaml, len, &spec, NULL, reterr);
	if (r < 0)
		return r;
	r = spec_check_names(m, spec, reterr);
	if (r >= 0) /* refused before it is stored */
		r = deployment_busy(find_deployment(m, spec->name), reterr);
	if (r < 0) {
		spec_deployment_free(spec);
		return r;
	}
	/* Stored before anything runs: a crash from here on is repaired by
	 * the next start (it deploys what is stored). */
	clock_gettime(CLOCK_REALTIME, &now);
	row = (struct store_deployment){ .name = spec->name,
		                         .file = (char *)file,
		                         .yaml = (char *)yaml,
		                         .created_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec,
		                         .updated_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec };
	{
		_cleanup_free_ char *text = xstrndup(yaml, len);
		row.yaml = text;
		r = store_deployment_put(m->o.store, &row, reterr);
	}
	if (r < 0) {
		spec_deployment_free(spec);
		return r;
	}
	crashpoint("deploy.stored");
	return deploy_spec(m, spec, file, false, NULL, done, userdata, reterr);
}

int manager_remove(struct manager *m, const char *deployment, manager_done_fn done, void *userdata,
                   struct za_error **reterr) {
	struct deployment *d = find_deployment(m, deployment);

	if (!d)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such deployment '%s'", deployment);
	if (d->removing)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EBUSY, "deployment '%s' is being removed already",
		                     deployment);
	/* Stored before any replica stops: a restarted agent finishes the
	 * removal rather than bringing the deployment back. */
	if (store_deployment_set_removing(m->o.store, d->name, reterr) < 0)
		return za_error_wrap(reterr, "remove deployment '%s'", d->name);
	crashpoint("down.marked");
	if (d->op) {
		/* A deploy still waiting is answered now: the deployment goes. */
		struct za_error *e = NULL;
		za_error_make(&e, ZA_ERROR_START_FAILED, ECANCELED, "deployment '%s' was removed before it was up",
		              d->name);
		op_finish(d, -ECANCELED, e);
		za_error_free(e);
	}
	d->removing = true;
	d->op = op_new(OP_REMOVE, done, userdata);
	event_emit(m->events, "DeploymentRemoving", d->name, NULL, NULL, "stopping every replica, dependents first");
	manager_changed(d);
	return 0;
}

int manager_scale(struct manager *m, const char *deployment, const char *service, uint32_t replicas,
                  manager_done_fn done, void *userdata, struct za_error **reterr) {
	struct service *s = NULL;
	size_t matches = 0;

	for (size_t i = 0; i < m->n_deps; i++)
		if (!deployment || streq(m->deps[i]->name, deployment)) {
			struct service *x = dep_service(m->deps[i], service);
			if (x) {
				s = x;
				matches++;
			}
		}
	if (!s)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such service '%s'%s%s%s", service,
		                     deployment ? " in deployment '" : "", strempty(deployment), deployment ? "'" : "");
	if (s->spec->rtype != SPEC_RTYPE_SERVICE)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "service '%s' is a %s; only services (rtype: service) have replicas", service,
		                     spec_rtype_to_string(s->spec->rtype));
	if (s->spec->scale.mode == SPEC_SCALE_ADAPTIVE &&
	    (replicas < s->spec->scale.min || replicas > s->spec->scale.max))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, ERANGE,
		                     "service '%s' scales adaptively between %u and %u replicas; %u is outside",
		                     service, s->spec->scale.min, s->spec->scale.max, replicas);
	if (replicas > 1000)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, ERANGE, "at most 1000 replicas per service");
	if (s->dep->op || s->dep->removing)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EBUSY,
		                     "deployment '%s' is busy with an earlier request; try again when it is done",
		                     s->dep->name);
	{
		_cleanup_za_error_ struct za_error *err = NULL;
		/* kept over restarts (a new deploy of the spec starts from its counts) */
		if (store_deployment_set_scale(m->o.store, s->dep->name, s->name, replicas, &err) < 0)
			log_warning("cannot keep the replica count of %s: %s", s->name, err->message);
	}
	crashpoint("scale.stored");
	s->desired = replicas;
	s->dep->op = op_new(OP_SCALE, done, userdata);
	s->dep->op->scale_service = s;
	event_emit(m->events, "Scaling", s->dep->name, s->name, NULL, "to %u replicas", replicas);
	if (s->phase == SERVICE_UP && !s->rolling)
		scale_to(s, false);
	manager_changed(s->dep);
	return 0;
}

/* --- lifetime ----------------------------------------------------------------------- */

struct exit_note {
	struct manager *m;
	char *id;
	struct wait_outcome w;
};

static void exit_note_loop(void *p) {
	struct exit_note *n = p;

	if (!n->m->shutting_down)
		manager_on_exit_loop(n->m, n->id, &n->w);
	free(n->id);
	free(n);
}

/* The runtime's monitor thread: hand the exit to the loop. */
static void on_exit_thread(const char *id, const struct wait_outcome *w, void *userdata) {
	struct manager *m = userdata;
	struct exit_note *n = xnew(struct exit_note, 1);

	n->m = m;
	n->id = xstrdup(id);
	n->w = *w;
	m->o.ops.post(m->o.ops.ctx, exit_note_loop, n);
}

int manager_new(const struct manager_options *o, struct manager **ret, struct za_error **reterr) {
	struct manager *m = xnew(struct manager, 1);

	m->o = *o;
	m->events = event_bus_new(EVENTS_KEEP);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->idle, NULL);
	(void)jobs_new(m, o->root_dir, &m->jobs); /* jobs */
	if (runtime_exit_handler_add(o->rt, on_exit_thread, m) < 0) {
		manager_free(m);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOSPC, "cannot watch container exits");
	}
	*ret = m;
	return 0;
}

/* --- restore: what a crash left ------------------------------------------------------------- */

struct orphans {
	struct manager *m;
	char **ids;
};

static void orphans_work(void *p) {
	struct orphans *o = p;
	struct runtime *rt = o->m->o.rt;

	STRV_FOREACH (id, o->ids) {
		_cleanup_za_error_ struct za_error *err = NULL;
		(void)rt->ops->stop(rt, *id, 0, NULL);
		if (rt->ops->remove(rt, *id, true, &err) < 0 && err && err->kind != ZA_ERROR_NOT_FOUND)
			log_warning("cannot remove container %s: %s", *id, err->message);
	}
}

static void orphans_done(void *p) {
	struct orphans *o = p;

	strv_free(o->ids);
	free(o);
}

/* Containers of the service manager (labelled with a deployment) that no
 * deployment holds any more: of a down or of an update removing a service
 * that a crash cut short. Those of stored deployments that could not be
 * restored are left alone. */
static bool strv_has(char *const *l, const char *s) {
	STRV_FOREACH (x, (char **)l)
		if (streq(*x, s))
			return true;
	return false;
}

static void sweep_orphans(struct manager *m, char *const *stored) {
	struct runtime *rt = m->o.rt;
	_cleanup_strv_free_ char **ids = NULL;
	struct orphans *o;
	char **found = NULL;

	(void)rt->ops->list(rt, &ids, NULL);
	STRV_FOREACH (id, ids) {
		_cleanup_free_ char *dep = NULL, *svc = NULL;
		struct deployment *d;

		/* replicas and job executions only: {service}-rep-N, {job}-run-N */
		if ((!strstr(*id, "-rep-") && !strstr(*id, "-run-")) || manager_find_replica(m, *id))
			continue;
		dep = container_label(rt, *id, "io.zlayer.deployment");
		if (!dep)
			continue;
		svc = container_label(rt, *id, "io.zlayer.service");
		d = find_deployment(m, dep);
		if (d ? svc && dep_service(d, svc) : strv_has(stored, dep))
			continue;
		log_info("removing container %s of %s '%s', which a crash left behind", *id,
		         d ? "a service gone from deployment" : "deployment", dep);
		strv_push(&found, *id);
	}
	if (!found)
		return;
	o = xnew(struct orphans, 1);
	o->m = m;
	o->ids = found;
	manager_work(m, orphans_work, orphans_done, o);
}

/* A down cut short: its jobs' records and logs go with it (its containers
 * with the sweep), then its row. */
static void restore_removal(struct manager *m, const struct store_deployment *row) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct spec_deployment *spec = NULL;

	if (spec_load_string(row->file, row->yaml, strlen(row->yaml), &spec, NULL, NULL) >= 0) {
		jobs_sync(m->jobs, row->name, spec);
		jobs_forget(m->jobs, row->name);
		spec_deployment_free(spec);
	}
	if (store_deployment_remove(m->o.store, row->name, &err) < 0)
		log_warning("cannot forget deployment %s: %s", row->name, err->message);
	event_emit(m->events, "DeploymentRemoved", row->name, NULL, NULL,
	           "the removal a restart of the agent cut short is finished");
}

int manager_restore(struct manager *m, struct za_error **reterr) {
	struct store_deployment *rows = NULL;
	_cleanup_strv_free_ char **stored = NULL;
	size_t n = 0;
	int r;

	r = store_deployment_list(m->o.store, &rows, &n, reterr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_za_error_ struct za_error *err = NULL;
		struct spec_deployment *spec = NULL;

		if (rows[i].removing) {
			restore_removal(m, &rows[i]);
			continue;
		}
		strv_push(&stored, rows[i].name);
		if (spec_load_string(rows[i].file, rows[i].yaml, strlen(rows[i].yaml), &spec, NULL, &err) < 0 ||
		    deploy_spec(m, spec, rows[i].file, true, rows[i].scales, NULL, NULL, &err) < 0)
			log_error("cannot restore deployment %s: %s", rows[i].name, err ? err->message : "error");
	}
	store_deployments_free(rows, n);
	sweep_orphans(m, stored);
	/* jobs: their executions, once their deployments are back */
	{
		_cleanup_za_error_ struct za_error *err = NULL;
		if (jobs_restore(m->jobs, &err) < 0)
			log_error("cannot restore job executions: %s", err->message);
	}
	return 0;
}

void manager_shutdown(struct manager *m) {
	struct timespec deadline;

	if (!m)
		return;
	m->shutting_down = true;
	jobs_shutdown(m->jobs); /* jobs: timers off, nothing new starts */
	runtime_exit_handler_remove(m->o.rt, on_exit_thread, m);
	m->changed_source = sd_event_source_disable_unref(m->changed_source);
	for (size_t i = 0; i < m->n_deps; i++)
		for (size_t k = 0; k < m->deps[i]->n_services; k++) {
			struct service *s = m->deps[i]->services[k];
			s->deps_timer = sd_event_source_disable_unref(s->deps_timer);
			for (size_t j = 0; j < s->n_replicas; j++) {
				struct replica *r = s->replicas[j];
				atomic_store(&r->cancel, true);
				r->restart_timer = sd_event_source_disable_unref(r->restart_timer);
				r->health_timer = sd_event_source_disable_unref(r->health_timer);
			}
		}
	/* Workers post their results; those run when the daemon drains its
	 * queue, before manager_free. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WORKER_WAIT_MS / 1000;
	pthread_mutex_lock(&m->lock);
	while (m->workers > 0)
		if (pthread_cond_timedwait(&m->idle, &m->lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&m->lock);
}

struct manager *manager_free(struct manager *m) {
	if (!m)
		return NULL;
	runtime_exit_handler_remove(m->o.rt, on_exit_thread, m);
	m->jobs = jobs_free(m->jobs); /* jobs */
	for (size_t i = 0; i < m->n_deps; i++) {
		struct deployment *d = m->deps[i];
		if (d->op) {
			free(d->op);
			d->op = NULL;
		}
		deployment_free(d);
	}
	free(m->deps);
	sd_event_source_disable_unref(m->changed_source);
	event_bus_free(m->events);
	pthread_cond_destroy(&m->idle);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}
