/* SPDX-License-Identifier: Apache-2.0 */
/* What the container endpoints share: worker threads and their count, id
 * resolution, the open log streams per container ("followers") and the
 * exits auto-remove recorded, the error replies; and auto-remove itself: a
 * watcher per container polls its state, records the exit, lets the log
 * streams drain, then removes it. */
#include <time.h>

#include "api/container-json.h"
#include "api/containers-internal.h"
#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/banned.h"

#define FOLLOWER_DRAIN_MAX_MS 10000 /* auto-remove waits at most this for log streams */

/* --- shared helpers --------------------------------------------------------- */

int containers_spawn(struct containers *cs, void *(*fn)(void *), void *arg, struct za_error **reterr) {
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (atomic_load(&cs->cancel))
		return za_error_make(reterr, ZA_ERROR_UNSUPPORTED, ESHUTDOWN, "the daemon is shutting down");
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&cs->threads, 1);
	r = -pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		atomic_fetch_sub(&cs->threads, 1);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot start a worker thread: %m");
	}
	return 0;
}

void containers_thread_exit(struct containers *cs) {
	atomic_fetch_sub(&cs->threads, 1);
}

bool containers_state_active(enum container_state s) {
	return s == CONTAINER_PENDING || s == CONTAINER_INITIALIZING || s == CONTAINER_RUNNING ||
	       s == CONTAINER_STOPPING;
}

bool containers_sleep(struct containers *cs, unsigned ms, const atomic_bool *stop) {
	struct timespec deadline;
	uint64_t kicks;

	/* The stop flag of a stream has no kick: look at it every 10 ms. */
	if (stop && ms > 10)
		ms = 10;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&cs->lock);
	kicks = cs->kicks;
	while (kicks == cs->kicks && !atomic_load(&cs->cancel) && !(stop && atomic_load(stop)))
		if (pthread_cond_timedwait(&cs->wake, &cs->lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&cs->lock);
	return !atomic_load(&cs->cancel) && !(stop && atomic_load(stop));
}

void containers_kick(struct containers *cs) {
	pthread_mutex_lock(&cs->lock);
	cs->kicks++;
	pthread_cond_broadcast(&cs->wake);
	pthread_mutex_unlock(&cs->lock);
}

int containers_resolve(struct containers *cs, const char *id, char **ret_id, struct container_status *ret,
                       struct za_error **reterr) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_free_ char *match = NULL;
	size_t n = 0;
	int r;

	r = cs->rt->ops->state(cs->rt, id, ret, &err);
	if (r >= 0) {
		*ret_id = xstrdup(id);
		return 0;
	}
	if (!err || err->kind != ZA_ERROR_NOT_FOUND) {
		if (reterr && !*reterr)
			*reterr = TAKE_PTR(err);
		return r;
	}
	/* Generated ids may be abbreviated, as with docker; names may not. */
	if (strneq(id, "zl-", 3) && strlen(id) >= 6 && cs->rt->ops->list(cs->rt, &ids, NULL) >= 0)
		STRV_FOREACH (i, ids)
			if (strneq(*i, id, strlen(id)) && n++ == 0)
				match = xstrdup(*i);
	if (n > 1)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "container id prefix '%s' matches %zu containers; give more characters", id, n);
	if (n == 1 && cs->rt->ops->state(cs->rt, match, ret, NULL) >= 0) {
		*ret_id = TAKE_PTR(match);
		return 0;
	}
	return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no such container '%s'", id);
}

void containers_follower_add(struct containers *cs, const char *id) {
	struct containers_follower *f;

	pthread_mutex_lock(&cs->lock);
	for (f = cs->followers; f && !streq(f->id, id); f = f->next)
		;
	if (!f) {
		f = xnew(struct containers_follower, 1);
		f->id = xstrdup(id);
		f->next = cs->followers;
		cs->followers = f;
	}
	f->n++;
	pthread_mutex_unlock(&cs->lock);
}

void containers_follower_remove(struct containers *cs, const char *id) {
	pthread_mutex_lock(&cs->lock);
	for (struct containers_follower **p = &cs->followers; *p; p = &(*p)->next)
		if (streq((*p)->id, id)) {
			struct containers_follower *f = *p;
			if (--f->n == 0) {
				*p = f->next;
				free(f->id);
				free(f);
			}
			break;
		}
	/* an auto-remove may be waiting for the last reader */
	cs->kicks++;
	pthread_cond_broadcast(&cs->wake);
	pthread_mutex_unlock(&cs->lock);
}

static bool follower_any(struct containers *cs, const char *id) {
	bool any = false;

	pthread_mutex_lock(&cs->lock);
	for (struct containers_follower *f = cs->followers; f; f = f->next)
		if (streq(f->id, id))
			any = true;
	pthread_mutex_unlock(&cs->lock);
	return any;
}

static void exit_record(struct containers *cs, const char *id, const struct wait_outcome *w) {
	struct containers_exit *e;

	pthread_mutex_lock(&cs->lock);
	e = &cs->exits[cs->exits_next++ % CONTAINERS_EXIT_CACHE];
	free(e->id);
	e->id = xstrdup(id);
	e->outcome = *w;
	pthread_mutex_unlock(&cs->lock);
}

bool containers_exit_lookup(struct containers *cs, const char *id, struct wait_outcome *ret) {
	bool found = false;

	pthread_mutex_lock(&cs->lock);
	/* Newest first: a name can be reused. */
	for (size_t k = 0; k < CONTAINERS_EXIT_CACHE && !found; k++) {
		struct containers_exit *e = &cs->exits[(cs->exits_next - 1 - k) % CONTAINERS_EXIT_CACHE];
		if (e->id && streq(e->id, id)) {
			*ret = e->outcome;
			found = true;
		}
	}
	pthread_mutex_unlock(&cs->lock);
	return found;
}

int containers_reply_error(struct api_request *req, const struct za_error *e) {
	if (e->code == EEXIST)
		return api_reply_error_status(req, 409, e->kind, "%s", e->message);
	if (e->code == ESHUTDOWN)
		return api_reply_error_status(req, 503, e->kind, "%s", e->message);
	return api_reply_error(req, e);
}

int containers_reply_bad_query(struct api_request *req, const char *name, const char *expected) {
	return api_reply_error_status(req, 400, ZA_ERROR_INVALID_SPEC, "query parameter '%s' %s", name, expected);
}

/* --- auto-remove -------------------------------------------------------------- */

static void watched_remove(struct containers *cs, const char *id) {
	pthread_mutex_lock(&cs->lock);
	for (char **i = cs->watched; i && *i; i++)
		if (streq(*i, id)) {
			free(*i);
			memmove(i, i + 1, (strv_length(i + 1) + 1) * sizeof(char *));
			break;
		}
	pthread_mutex_unlock(&cs->lock);
}

struct watch {
	struct containers *cs;
	char *id;
};

static void *watch_thread(void *p) {
	unsigned backoff = 0;
	struct watch *wa = p;
	struct containers *cs = wa->cs;
	const char *id = wa->id;
	struct container_status st = {};
	struct wait_outcome w;
	int r;

	for (;;) {
		r = cs->rt->ops->state(cs->rt, id, &st, NULL);
		if (r < 0)
			goto out; /* removed by someone else */
		if (!containers_state_active(st.state))
			break;
		container_status_release(&st);
		if (!containers_sleep(cs, containers_backoff(&backoff, CONTAINERS_WATCH_POLL_MS), NULL))
			goto out; /* shutdown: the next daemon re-arms */
	}
	container_status_outcome(&st, &w);
	container_status_release(&st);
	exit_record(cs, id, &w);
	containers_kick(cs);
	for (unsigned ms = 0; ms < FOLLOWER_DRAIN_MAX_MS && follower_any(cs, id); ms += 20)
		if (!containers_sleep(cs, 20, NULL))
			goto out;
	{
		_cleanup_za_error_ struct za_error *err = NULL;
		if (cs->rt->ops->remove(cs->rt, id, true, &err) < 0 && err && err->kind != ZA_ERROR_NOT_FOUND)
			log_warning("auto-remove of container %s failed: %s", id, err->message);
		else
			log_info("container %s exited (%d) and was removed", id, w.exit_code);
		containers_kick(cs); /* `wait --condition removed` */
	}
out:
	watched_remove(cs, id);
	free(wa->id);
	free(wa);
	containers_thread_exit(cs);
	return NULL;
}

bool containers_auto_removing(struct containers *cs, const char *id) {
	bool found = false;

	pthread_mutex_lock(&cs->lock);
	STRV_FOREACH (i, cs->watched)
		if (streq(*i, id))
			found = true;
	pthread_mutex_unlock(&cs->lock);
	return found;
}

/* Watch id and remove it when it exits (once per container). */
void containers_watch_arm(struct containers *cs, const char *id) {
	struct watch *wa;
	bool armed = false;

	pthread_mutex_lock(&cs->lock);
	STRV_FOREACH (i, cs->watched)
		if (streq(*i, id))
			armed = true;
	if (!armed)
		strv_push(&cs->watched, id);
	pthread_mutex_unlock(&cs->lock);
	if (armed)
		return;
	wa = xnew(struct watch, 1);
	wa->cs = cs;
	wa->id = xstrdup(id);
	if (containers_spawn(cs, watch_thread, wa, NULL) < 0) {
		watched_remove(cs, id);
		free(wa->id);
		free(wa);
		log_warning("cannot watch container %s for auto-remove", id);
	}
}

/* After a restart: containers created with auto_remove get their watcher
 * again (the runtime's inspect says which). */
static void *rearm_thread(void *p) {
	struct containers *cs = p;
	_cleanup_strv_free_ char **ids = NULL;

	if (cs->rt->ops->list(cs->rt, &ids, NULL) >= 0)
		STRV_FOREACH (i, ids) {
			json_t *j = NULL;
			if (atomic_load(&cs->cancel))
				break;
			if (cs->rt->ops->inspect(cs->rt, *i, &j, NULL) >= 0 &&
			    json_is_true(json_object_get(j, "auto_remove")))
				containers_watch_arm(cs, *i);
			json_decref(j);
		}
	containers_thread_exit(cs);
	return NULL;
}

static int on_first_iteration(sd_event_source *es, void *userdata) {
	struct containers *cs = userdata;

	if (containers_spawn(cs, rearm_thread, cs, NULL) < 0)
		log_warning("cannot look for auto-remove containers of an earlier run");
	return sd_event_source_set_enabled(es, SD_EVENT_OFF);
}

void containers_rearm_later(struct containers *cs) {
	/* Once the loop runs: no thread touches the runtime before that. */
	if (sd_event_add_defer(cs->daemon->event, NULL, on_first_iteration, cs) < 0)
		log_warning("cannot look for auto-remove containers of an earlier run");
}
