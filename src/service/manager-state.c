/* SPDX-License-Identifier: Apache-2.0 */
/* What a replica's supervisor keeps over restarts of the agent, in
 * ROOT/replicas/ID.json: its restart history (the crash-loop window and the
 * count status shows), the last exit it decided about and the outcome (a
 * pending restart's time, or the state the replica ended in). Written on
 * the loop at each decision and after each restart, as an atomic
 * replacement without fsync: after a power loss the containers are gone
 * too. Replicas that never exited have no file. At restore the container
 * found is matched against it (by the exit's time), so an exit is decided
 * once however often the agent restarts, and a crash loop keeps its pace. */
#include <inttypes.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "service/manager-internal.h"
#include "basic/banned.h"

#define REPLICA_STATE_FILE_MAX (64 << 10)

static char *state_dir(const struct replica *r) {
	const char *root = r->svc->dep->m->o.root_dir;
	return root ? xasprintf("%s/replicas", root) : NULL;
}

static char *state_path(const struct replica *r) {
	_cleanup_free_ char *dir = state_dir(r);
	return dir ? xasprintf("%s/%s.json", dir, r->id) : NULL;
}

static int64_t realtime_ns(void) {
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void replica_state_save(const struct replica *r) {
	_cleanup_free_ char *dir = state_dir(r), *path = state_path(r), *text = NULL;
	int64_t off = manager_now() - realtime_ns(); /* history times are CLOCK_MONOTONIC */
	json_t *at = json_array(), *j;
	int e;

	if (!path)
		return;
	for (uint32_t i = 0; i < r->history.n; i++)
		json_array_append_new(at, json_integer(r->history.at[i] - off));
	j = json_pack("{s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:i, s:s?}", "deployment", r->svc->dep->name, "service",
	              r->svc->name, "state", replica_state_to_string(r->state), "restarts",
	              (json_int_t)r->history.total, "at", at, "exit_finished_ns",
	              (json_int_t)(r->has_exit ? r->last_exit.finished_ns : 0), "restart_due_ns",
	              (json_int_t)r->restart_due_ns, "exit_code", r->last_exit.exit_code, "error", r->error);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		oom();
	e = mkdir_p(dir, 0700);
	if (e >= 0)
		e = write_file_replace(path, text, strlen(text), 0600);
	if (e < 0)
		log_warning("cannot keep the restart history of replica %s in '%s': %s", r->id, path, strerror(-e));
}

void replica_state_forget(const struct replica *r) {
	_cleanup_free_ char *path = state_path(r);

	if (path && unlink(path) < 0 && errno != ENOENT)
		log_debug("cannot remove '%s': %m", path);
}

/* The saved state of r (its history loaded into r), or NULL. */
static json_t *state_load(struct replica *r) {
	_cleanup_free_ char *path = state_path(r), *buf = NULL;
	int64_t off = manager_now() - realtime_ns();
	json_t *j, *v;
	size_t len, i;

	if (!path || read_full_file(path, REPLICA_STATE_FILE_MAX, &buf, &len) < 0)
		return NULL;
	j = json_loadb(buf, len, 0, NULL);
	/* a file of an earlier replica of that name in another deployment: not ours */
	if (!json_is_object(j) ||
	    !streq(strempty(json_string_value(json_object_get(j, "deployment"))), r->svc->dep->name) ||
	    !streq(strempty(json_string_value(json_object_get(j, "service"))), r->svc->name)) {
		log_debug("replica %s: ignoring '%s', which is not its state", r->id, path);
		json_decref(j);
		return NULL;
	}
	r->history = (struct restart_history){};
	json_array_foreach(json_object_get(j, "at"), i, v) {
		if (r->history.n == SUPERVISOR_HISTORY_MAX)
			break;
		if (json_is_integer(v))
			r->history.at[r->history.n++] = (int64_t)json_integer_value(v) + off;
	}
	v = json_object_get(j, "restarts");
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= UINT32_MAX)
		r->history.total = (uint32_t)json_integer_value(v);
	return j;
}

static int64_t jint(json_t *j, const char *key) {
	return (int64_t)json_integer_value(json_object_get(j, key));
}

void replica_restore(struct replica *r, const struct container_status *st) {
	struct manager *m = r->svc->dep->m;
	json_t *saved = state_load(r);
	enum replica_state was = REPLICA_RUNNING;

	if (st->state == CONTAINER_RUNNING) {
		replica_adopt(r, st->pid, st->ip);
		if (saved && jint(saved, "restart_due_ns") != 0)
			replica_state_save(r); /* it was restarted meanwhile: nothing pending */
		json_decref(saved);
		return;
	}
	r->pid = 0;
	free(r->ip);
	r->ip = st->ip ? xstrdup(st->ip) : NULL;
	r->started_once = true;
	if (st->state == CONTAINER_FAILED)
		/* gone without an exit record: as the exit monitor reports it */
		r->last_exit = (struct wait_outcome){ .reason = EXIT_REASON_RUNTIME_ERROR, .exit_code = 255 };
	else
		r->last_exit = (struct wait_outcome){ .reason = st->oom_killed ? EXIT_REASON_OOM_KILLED
			                                        : st->signal   ? EXIT_REASON_SIGNAL
			                                                       : EXIT_REASON_EXITED,
			                              .exit_code = st->exit_code,
			                              .signal = st->signal,
			                              .finished_ns = st->finished_ns };
	r->has_exit = true;
	if (saved && st->finished_ns != 0 && jint(saved, "exit_finished_ns") == st->finished_ns)
		was = replica_state_from_string(json_string_value(json_object_get(saved, "state")));
	switch (was) {
	case REPLICA_COMPLETED:
	case REPLICA_FAILED:
	case REPLICA_ISOLATED: {
		const char *error = json_string_value(json_object_get(saved, "error"));
		r->state = was;
		free(r->error);
		r->error = error ? xstrdup(error) : NULL;
		event_emit(m->events, "ContainerAdopted", r->svc->dep->name, r->svc->name, r->id,
		           "exited with %d before the agent restarted; %s", r->last_exit.exit_code,
		           replica_state_to_string(was));
		break;
	}
	case REPLICA_BACKOFF:
	case REPLICA_CREATING: {
		/* decided before: its restart keeps its time (a crash loop its pace) */
		int64_t due = jint(saved, "restart_due_ns"), left = due - realtime_ns();
		/* a clock set back since: never longer than the longest delay */
		int64_t cap =
		        (int64_t)MAX(m->o.supervisor.crashloop_delay_nsec, r->svc->spec->restart_policy.delay_nsec);
		left = MIN(left, cap);
		r->state = REPLICA_BACKOFF;
		r->restart_due_ns = due;
		event_emit(m->events, "ContainerAdopted", r->svc->dep->name, r->svc->name, r->id,
		           "exited with %d before the agent restarted; restart due in %" PRId64 " ms",
		           r->last_exit.exit_code, left > 0 ? left / 1000000 : 0);
		replica_restart_after(r, left > 0 ? (uint64_t)left : 0);
		break;
	}
	default:
		/* exited while the agent was away: its policy applies, once */
		r->state = REPLICA_RUNNING;
		event_emit(m->events, "ContainerAdopted", r->svc->dep->name, r->svc->name, r->id,
		           "exited with %d while the agent was away", r->last_exit.exit_code);
		replica_event(r, REPLICA_EV_EXITED);
		break;
	}
	json_decref(saved);
	manager_changed(r->svc->dep);
}
