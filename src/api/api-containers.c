/* SPDX-License-Identifier: Apache-2.0 */
/* Container endpoints (see containers.h for the routes). The create body:
 *   {"config": {id, image, entrypoint, args, env, workdir, user, hostname,
 *               labels, mounts: [{type, source, target, readonly, size, mode}],
 *               ports: [{host_port, container_port, protocol, host_ip}],
 *               network_mode, resources: {cpu, memory, pids_limit},
 *               read_only_rootfs, tty, auto_remove, cap_add, cap_drop,
 *               privileged, stop_signal, stop_grace, dns, extra_hosts},
 *    "pull": "missing" | "always" | "never"}
 * The image is resolved (and pulled or loaded if the policy allows) on the
 * loop thread, which owns the store; everything that calls the runtime runs
 * on a worker and posts its result back.
 *
 * Waiting polls the runtime's state rather than blocking in its wait(), so
 * a shutdown can end the worker (auto-remove, in api-containers-common.c,
 * does the same). */
#include <inttypes.h>
#include <signal.h>
#include <sys/random.h>
#include <time.h>

#include "api/api-body.h"
#include "api/container-json.h"
#include "api/containers-internal.h"
#include "api/images.h"
#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "runtime/oci.h"
#include "basic/banned.h"

#define EXIT_JOIN_MAX_MS 5000 /* EXIT hook waits at most this for workers */

static bool state_running(enum container_state s) {
	return s == CONTAINER_RUNNING || s == CONTAINER_STOPPING;
}

/* A boolean query parameter, false when absent; a bad value is answered
 * with 400 here (and -EINVAL returned). */
static int query_bool(struct api_request *req, const char *name, bool *ret) {
	_cleanup_za_error_ struct za_error *err = NULL;

	if (api_query_bool(req, name, false, ret, &err) >= 0)
		return 0;
	(void)api_reply_error(req, err);
	return -EINVAL;
}

/* --- jobs: one runtime call on a worker, the reply from the loop ------------- */

struct job;
typedef int (*job_fn)(struct job *j);

struct job {
	struct containers *cs;
	struct api_request *req;
	job_fn fn;
	char *id;
	/* parameters */
	struct container_config cfg;
	uint64_t timeout_nsec;
	int sig;
	bool force, all;
	enum wait_condition cond;
	/* results */
	struct za_error *err;
	json_t *reply;
	unsigned status;
	bool arm; /* watch id for auto-remove once replied */
};

static struct job *job_new(struct containers *cs, struct api_request *req, job_fn fn, const char *id) {
	struct job *j = xnew(struct job, 1);

	j->cs = cs;
	j->req = req;
	j->fn = fn;
	j->id = id ? xstrdup(id) : NULL;
	j->status = 200;
	return j;
}

static void job_free(struct job *j) {
	free(j->id);
	container_config_release(&j->cfg);
	za_error_free(j->err);
	json_decref(j->reply);
	free(j);
}

static int do_inspect(struct job *j);

static void job_done(void *p) {
	struct job *j = p;
	struct daemon *d = j->cs->daemon;

	/* a replica: what the service manager knows (health, restarts) */
	if (j->fn == do_inspect && json_is_object(j->reply) && d->replica_status) {
		json_t *rs = d->replica_status(d->replica_status_ctx, j->id);
		static const char *const keys[] = { "health", "restarts", "deployment", "service", NULL };
		for (size_t i = 0; rs && keys[i]; i++)
			if (json_object_get(rs, keys[i]))
				json_object_set(j->reply, keys[i], json_object_get(rs, keys[i]));
		json_decref(rs);
	}

	if (j->err) {
		log_debug("%s %s: %s", api_request_method(j->req) ?: "?", api_request_path(j->req) ?: "?",
		          j->err->message);
		(void)containers_reply_error(j->req, j->err);
	} else
		(void)api_reply_json(j->req, j->status, TAKE_PTR(j->reply));
	if (j->arm)
		containers_watch_arm(j->cs, j->id);
	job_free(j);
}

static void *job_thread(void *p) {
	struct job *j = p;
	struct containers *cs = j->cs;
	int r;

	r = j->fn(j);
	if (r < 0 && !j->err)
		za_error_make(&j->err, ZA_ERROR_INTERNAL, r, "container operation failed: %m");
	if (r >= 0)
		j->err = za_error_free(j->err);
	daemon_post(cs->daemon, job_done, j);
	containers_thread_exit(cs);
	return NULL;
}

/* Suspend req and run j on a worker; on failure reply at once. */
static int job_start(struct job *j) {
	struct api_request *req = j->req;
	_cleanup_za_error_ struct za_error *err = NULL;

	api_request_suspend(req);
	if (containers_spawn(j->cs, job_thread, j, &err) < 0) {
		job_free(j);
		(void)containers_reply_error(req, err);
		return 0;
	}
	return API_ASYNC;
}

/* The job's container by id (or prefix), its canonical id into j->id. */
static int job_resolve(struct job *j, struct container_status *ret) {
	struct container_status st = {};
	char *id = NULL;
	int r;

	r = containers_resolve(j->cs, j->id, &id, &st, &j->err);
	if (r < 0)
		return r;
	free(j->id);
	j->id = id;
	if (ret)
		*ret = st;
	else
		container_status_release(&st);
	return 0;
}

static json_t *id_reply(struct job *j) {
	return json_pack("{s:s}", "id", j->id);
}

/* --- create ----------------------------------------------------------------- */

static int do_create(struct job *j) {
	struct runtime *rt = j->cs->rt;
	int r;

	r = rt->ops->create(rt, &j->cfg, &j->err);
	if (r < 0)
		return r;
	log_info("created container %s from %s", j->cfg.id, j->cfg.image);
	j->status = 201;
	j->reply = json_pack("{s:s}", "id", j->cfg.id);
	j->arm = j->cfg.auto_remove;
	return 0;
}

static int create_with_digest(struct job *j, const char *digest) {
	free(j->cfg.image_digest);
	j->cfg.image_digest = xstrdup(digest);
	return job_start(j);
}

static void create_pulled(int r, const struct za_error *err, const struct store_image *img, void *userdata) {
	struct job *j = userdata;

	if (r < 0) {
		(void)containers_reply_error(j->req, err);
		job_free(j);
		return;
	}
	(void)create_with_digest(j, img->digest);
}

static char *generate_id(void) {
	uint8_t b[6];
	char *id;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)((uint64_t)ts.tv_nsec >> (i * 5)) ^ (uint8_t)(getpid() >> i);
	}
	id = xasprintf("zl-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	return id;
}

static const char *const pull_policies[] = { "missing", "always", "never", NULL };

/* config's own fields are checked by container_config_from_json(). */
static const struct api_body_field create_body[] = {
	{ "config", API_JSON_OBJECT, .required = true },
	{ "pull", API_JSON_STRING, .choices = pull_policies },
	{},
};

static int handle_create(struct api_request *req, void *userdata) {
	struct containers *cs = userdata;
	struct images *im = cs->daemon->images;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *digest = NULL;
	json_t *body = api_request_body(req);
	const char *pull = api_body_string(body, "pull") ?: "missing";
	struct job *j;
	int r;

	if (api_body_check(body, create_body, &err) < 0)
		return api_reply_error(req, err);
	j = job_new(cs, req, do_create, NULL);
	if (container_config_from_json(json_object_get(body, "config"), &j->cfg, &err) < 0) {
		job_free(j);
		return api_reply_error(req, err);
	}
	if (!j->cfg.id)
		j->cfg.id = generate_id();
	j->id = xstrdup(j->cfg.id);
	if (!im) {
		job_free(j);
		return api_reply_error_status(req, 500, ZA_ERROR_INTERNAL, "the image service is not available");
	}

	if (j->cfg.wasm_module)
		return job_start(j); /* a file: module: no image to resolve */
	if (!streq(pull, "always")) {
		r = images_resolve(im, j->cfg.image, &digest, &err);
		if (r >= 0 && images_check_runnable(im, digest, &err) < 0)
			r = za_error_wrap(&err, "image '%s'", j->cfg.image);
		if (r >= 0)
			return create_with_digest(j, digest);
		if (streq(pull, "never") || err->kind != ZA_ERROR_NOT_FOUND) {
			job_free(j);
			return api_reply_error(req, err);
		}
		err = za_error_free(err);
	}
	log_info("container %s: fetching image %s", j->cfg.id, j->cfg.image);
	api_request_suspend(req);
	r = images_fetch_start(im, j->cfg.image, NULL, NULL, create_pulled, j, &err);
	if (r < 0) {
		job_free(j);
		(void)containers_reply_error(req, err);
		return 0;
	}
	return API_ASYNC;
}

/* --- start, stop, kill, remove ------------------------------------------------ */

static int do_start(struct job *j) {
	int r = job_resolve(j, NULL);

	if (r >= 0)
		r = j->cs->rt->ops->start(j->cs->rt, j->id, &j->err);
	if (r >= 0)
		j->reply = id_reply(j);
	return r;
}

static int do_stop(struct job *j) {
	int r = job_resolve(j, NULL);

	if (r >= 0)
		r = j->cs->rt->ops->stop(j->cs->rt, j->id, j->timeout_nsec, &j->err);
	if (r >= 0)
		j->reply = id_reply(j);
	return r;
}

static int do_kill(struct job *j) {
	int r = job_resolve(j, NULL);

	if (r >= 0)
		r = j->cs->rt->ops->kill(j->cs->rt, j->id, j->sig, &j->err);
	if (r >= 0)
		j->reply = id_reply(j);
	return r;
}

static int do_remove(struct job *j) {
	int r = job_resolve(j, NULL);

	if (r >= 0)
		r = j->cs->rt->ops->remove(j->cs->rt, j->id, j->force, &j->err);
	if (r >= 0)
		j->reply = id_reply(j);
	return r;
}

/* A job on the container named by ?id=. */
static int id_job(struct api_request *req, struct containers *cs, job_fn fn, struct job **ret) {
	const char *id = api_request_query(req, "id");

	if (isempty(id))
		return containers_reply_bad_query(req, "id", "is required");
	*ret = job_new(cs, req, fn, id);
	return 1;
}

static int handle_start(struct api_request *req, void *userdata) {
	struct containers *cs = userdata;
	struct job *j = NULL;
	bool attach, wait_removed;
	int r;

	if (query_bool(req, "attach", &attach) < 0 || query_bool(req, "wait_removed", &wait_removed) < 0)
		return 0;
	r = id_job(req, cs, do_start, &j);
	if (r <= 0)
		return r;
	if (attach) {
		job_free(j);
		return containers_start_attached(cs, req, api_request_query(req, "id"), wait_removed);
	}
	return job_start(j);
}

static int handle_stop(struct api_request *req, void *userdata) {
	const char *t = api_request_query(req, "timeout");
	struct job *j = NULL;
	uint64_t secs = 0, ns = 0;
	int r;

	if (t && parse_uint64(t, &secs) >= 0 && secs <= 86400)
		ns = secs == 0 ? 1 : secs * NSEC_PER_SEC; /* 0 s: kill at once (0 means the default) */
	else if (t && (parse_duration(t, &ns) < 0 || ns > 86400 * NSEC_PER_SEC))
		return containers_reply_bad_query(req, "timeout", "must be seconds from 0 to 86400");
	else if (t && ns == 0)
		ns = 1;
	r = id_job(req, userdata, do_stop, &j);
	if (r <= 0)
		return r;
	j->timeout_nsec = ns;
	return job_start(j);
}

static int handle_kill(struct api_request *req, void *userdata) {
	const char *s = api_request_query(req, "signal");
	struct job *j = NULL;
	int sig = s ? parse_signal(s) : SIGKILL, r;

	if (sig < 0)
		return containers_reply_bad_query(req, "signal", "must be a signal name (KILL, SIGTERM) or number");
	r = id_job(req, userdata, do_kill, &j);
	if (r <= 0)
		return r;
	j->sig = sig;
	return job_start(j);
}

static int handle_remove(struct api_request *req, void *userdata) {
	struct job *j = NULL;
	bool force;
	int r;

	if (query_bool(req, "force", &force) < 0)
		return 0;
	r = id_job(req, userdata, do_remove, &j);
	if (r <= 0)
		return r;
	j->force = force;
	return job_start(j);
}

/* --- list, inspect, stats ------------------------------------------------------- */

static int cmp_created(const void *a, const void *b) {
	int64_t x = json_integer_value(json_object_get(*(json_t *const *)a, "created_ns"));
	int64_t y = json_integer_value(json_object_get(*(json_t *const *)b, "created_ns"));
	return x < y ? 1 : x > y ? -1 : 0;
}

static int do_list(struct job *j) {
	struct runtime *rt = j->cs->rt;
	_cleanup_strv_free_ char **ids = NULL;
	_cleanup_free_ json_t **items = NULL;
	size_t n = 0;
	json_t *arr;
	int r;

	r = rt->ops->list(rt, &ids, &j->err);
	if (r < 0)
		return r;
	items = xnew(json_t *, strv_length(ids) + 1);
	STRV_FOREACH (i, ids) {
		struct container_status st = {};
		if (rt->ops->state(rt, *i, &st, NULL) < 0)
			continue; /* removed meanwhile */
		if (j->all || state_running(st.state))
			items[n++] = container_status_to_json(&st);
		container_status_release(&st);
	}
	qsort(items, n, sizeof(*items), cmp_created);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	j->reply = json_pack("{s:o}", "containers", arr);
	return 0;
}

static int handle_list(struct api_request *req, void *userdata) {
	struct job *j;
	bool all;

	if (query_bool(req, "all", &all) < 0)
		return 0;
	j = job_new(userdata, req, do_list, NULL);
	j->all = all;
	return job_start(j);
}

static int do_inspect(struct job *j) {
	struct container_status st = {};
	json_t *out = NULL;
	int r;

	r = job_resolve(j, &st);
	if (r >= 0)
		r = j->cs->rt->ops->inspect(j->cs->rt, j->id, &out, &j->err);
	if (r >= 0) {
		if (!json_is_object(out)) {
			json_decref(out);
			out = json_object();
		}
		json_object_update_new(out, container_status_to_json(&st));
		j->reply = out;
	}
	container_status_release(&st);
	return r;
}

static int do_stats(struct job *j) {
	struct container_stats s = {};
	int r = job_resolve(j, NULL);

	if (r >= 0)
		r = j->cs->rt->ops->stats(j->cs->rt, j->id, &s, &j->err);
	if (r >= 0) {
		j->reply = container_stats_to_json(&s);
		json_object_set_new(j->reply, "id", json_string(j->id));
	}
	return r;
}

static int handle_inspect(struct api_request *req, void *userdata) {
	struct job *j = NULL;
	int r = id_job(req, userdata, do_inspect, &j);
	return r <= 0 ? r : job_start(j);
}

static int handle_stats(struct api_request *req, void *userdata) {
	struct job *j = NULL;
	int r = id_job(req, userdata, do_stats, &j);
	return r <= 0 ? r : job_start(j);
}

/* --- wait -------------------------------------------------------------------- */

static int do_wait(struct job *j) {
	struct runtime *rt = j->cs->rt;
	struct container_status st = {};
	struct wait_outcome w = {};
	int64_t first_finished;
	bool seen_exit = false;
	unsigned backoff = 0;
	int r;

	r = job_resolve(j, &st);
	if (r < 0) {
		/* Auto-removed already: its exit is remembered for a while. */
		if (j->cond != WAIT_NEXT_EXIT && containers_exit_lookup(j->cs, j->id, &w)) {
			j->err = za_error_free(j->err);
			j->reply = wait_outcome_to_json(&w);
			return 0;
		}
		return r;
	}
	first_finished = st.finished_ns;
	for (;;) {
		bool done;

		if (!containers_state_active(st.state) || st.state == CONTAINER_INITIALIZING ||
		    st.state == CONTAINER_PENDING) {
			container_status_outcome(&st, &w);
			seen_exit = !containers_state_active(st.state);
		}
		done = (j->cond == WAIT_NOT_RUNNING && !state_running(st.state)) ||
		       (j->cond == WAIT_NEXT_EXIT && !containers_state_active(st.state) &&
		        st.finished_ns != first_finished);
		container_status_release(&st);
		if (done)
			break;
		if (!containers_sleep(j->cs, containers_backoff(&backoff, CONTAINERS_POLL_MS), NULL))
			return za_error_make(&j->err, ZA_ERROR_UNSUPPORTED, ESHUTDOWN,
			                     "the daemon is shutting down; wait again once it is back");
		r = rt->ops->state(rt, j->id, &st, &j->err);
		if (r >= 0)
			continue;
		if (j->err->kind != ZA_ERROR_NOT_FOUND)
			return r;
		/* Gone: that is what WAIT_REMOVED waits for; the others take the
		 * exit recorded by auto-remove, or the last one seen. */
		j->err = za_error_free(j->err);
		if (containers_exit_lookup(j->cs, j->id, &w) || seen_exit || j->cond == WAIT_REMOVED)
			break;
		return za_error_make(&j->err, ZA_ERROR_NOT_FOUND, ENOENT, "container '%s' was removed before it exited",
		                     j->id);
	}
	j->reply = wait_outcome_to_json(&w);
	return 0;
}

static int handle_wait(struct api_request *req, void *userdata) {
	const char *c = api_request_query(req, "condition");
	enum wait_condition cond = WAIT_NOT_RUNNING;
	struct job *j = NULL;
	int r;

	if (c && streq(c, "next-exit"))
		cond = WAIT_NEXT_EXIT;
	else if (c && streq(c, "removed"))
		cond = WAIT_REMOVED;
	else if (c && !streq(c, "not-running"))
		return containers_reply_bad_query(req, "condition", "must be one of not-running, next-exit, removed");
	r = id_job(req, userdata, do_wait, &j);
	if (r <= 0)
		return r;
	j->cond = cond;
	return job_start(j);
}

/* --- WebAssembly ------------------------------------------------------------------- */

static int do_precompile(struct job *j) {
	_cleanup_free_ char *out = NULL;
	const char *module = container_image_file_path(j->id);
	int r;

	r = oci_wasm_precompile(j->cs->rt, module, &out, &j->err);
	if (r < 0)
		return r;
	j->reply = json_pack("{s:s, s:s}", "module", module, "cached", out);
	return 0;
}

/* POST /v1/wasm/precompile?reference=file:/ABS/PATH.wasm */
static int handle_precompile(struct api_request *req, void *userdata) {
	const char *ref = api_request_query(req, "reference");
	const char *f = container_image_file_path(ref);

	if (!f || f[0] != '/' || strlen(f) < 6 || !streq(f + strlen(f) - 5, ".wasm"))
		return containers_reply_bad_query(req, "reference", "must be file:/ABSOLUTE/PATH.wasm");
	return job_start(job_new(userdata, req, do_precompile, ref));
}

/* --- registration ----------------------------------------------------------------- */

/* From the runtime's monitor thread: whoever sleeps on an exit wakes now. */
static void on_container_exit(const char *id, const struct wait_outcome *w, void *userdata) {
	containers_kick(userdata);
}

static void containers_stop(struct daemon *d, void *userdata) {
	struct containers *cs = userdata;

	/* Polling workers (wait, follow, auto-remove) leave within a poll. */
	atomic_store(&cs->cancel, true);
	containers_kick(cs);
}

static void containers_free(void *userdata) {
	struct containers *cs = userdata;

	for (struct containers_follower *f = cs->followers, *next; f; f = next) {
		next = f->next;
		free(f->id);
		free(f);
	}
	for (size_t i = 0; i < CONTAINERS_EXIT_CACHE; i++)
		free(cs->exits[i].id);
	strv_free(cs->watched);
	pthread_mutex_destroy(&cs->lock);
	free(cs);
}

static void containers_exit(struct daemon *d, void *userdata) {
	struct containers *cs = userdata;

	runtime_exit_handler_remove(cs->rt, on_container_exit, cs);
	atomic_store(&cs->cancel, true);
	containers_kick(cs);
	for (int i = 0; i < EXIT_JOIN_MAX_MS / 10 && atomic_load(&cs->threads) > 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	if (atomic_load(&cs->threads) > 0) {
		/* A runtime call still running (a long stop); it keeps `cs`. */
		log_warning("%u container workers still running at exit", atomic_load(&cs->threads));
		return;
	}
	/* The workers' last posts (replies, a pull's end) are still queued and
	 * use `cs`: free it after them. */
	daemon_post(d, containers_free, cs);
}

int api_containers_register(struct daemon *d, struct runtime *rt) {
	struct containers *cs = xnew(struct containers, 1);

	cs->daemon = d;
	cs->rt = rt;
	pthread_mutex_init(&cs->lock, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&cs->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	daemon_add_hook(d, DAEMON_HOOK_STOP, containers_stop, cs);
	daemon_add_hook(d, DAEMON_HOOK_EXIT, containers_exit, cs);
	api_server_add_route(d->api, "POST", "/v1/containers", handle_create, cs);
	api_server_add_route(d->api, "GET", "/v1/containers", handle_list, cs);
	api_server_add_route(d->api, "DELETE", "/v1/containers", handle_remove, cs);
	api_server_add_route(d->api, "POST", "/v1/containers/start", handle_start, cs);
	api_server_add_route(d->api, "POST", "/v1/containers/stop", handle_stop, cs);
	api_server_add_route(d->api, "POST", "/v1/containers/kill", handle_kill, cs);
	api_server_add_route(d->api, "GET", "/v1/containers/inspect", handle_inspect, cs);
	api_server_add_route(d->api, "GET", "/v1/containers/stats", handle_stats, cs);
	api_server_add_route(d->api, "POST", "/v1/containers/wait", handle_wait, cs);
	containers_exec_register(cs); /* POST /v1/containers/exec */
	api_server_add_route(d->api, "GET", "/v1/containers/logs", containers_handle_logs, cs);
	api_server_add_route(d->api, "POST", "/v1/wasm/precompile", handle_precompile, cs);
	(void)runtime_exit_handler_add(rt, on_container_exit, cs);
	containers_rearm_later(cs);
	return 0;
}
