/* SPDX-License-Identifier: Apache-2.0 */
/* Deployment endpoints: the service manager's face.
 *   POST   /v1/deployments          {"file": NAME, "yaml": TEXT} -> status once up (or the error)
 *   GET    /v1/deployments[?name=D] status of one (404) or all
 *   DELETE /v1/deployments?name=D   stop every replica, dependents first, forget it
 *   POST   /v1/deployments/scale?service=S&replicas=N[&deployment=D]
 *   GET    /v1/events[?deployment=D][&since=SEQ][&follow=1]  JSON lines
 * Also the glue the manager needs: images made present per pull_policy,
 * results posted to the loop, restore of stored deployments at start. */
#include "api/daemon.h"
#include "api/api-body.h"
#include "api/api-jobs.h"
#include "api/images.h"
#include "api/server.h"
#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "runtime/oci.h"
#include "service/manager.h"
#include "store/store-images.h"
#include "basic/banned.h"

#define DEPLOY_YAML_MAX      (1024 * 1024)
#define DEPLOY_FILE_NAME_MAX 4096 /* "file": a name for messages, not read */

struct event_follow;

struct deployments {
	struct daemon *daemon;
	struct manager *m;
	struct event_follow *follows; /* open `events --follow` streams */
};

/* --- glue -------------------------------------------------------------------------------- */

static void post(void *ctx, void (*fn)(void *), void *userdata) {
	daemon_post(ctx, fn, userdata);
}

struct ensure {
	struct daemon *d;
	char *reference;
	enum spec_pull_policy policy;
	manager_image_done_fn done;
	void *userdata;
};

static void ensure_fetched(int r, const struct za_error *err, const struct store_image *img, void *userdata) {
	struct ensure *e = userdata;

	if (r < 0 && e->policy == SPEC_PULL_NEWER) {
		/* the registry is away: what we have will do */
		_cleanup_free_ char *digest = NULL;
		if (images_resolve(e->d->images, e->reference, &digest, NULL) >= 0) {
			log_warning("image %s: cannot check the registry (%s); using the local copy", e->reference,
			            err ? err->message : "error");
			e->done(e->userdata, 0, NULL, digest);
			goto out;
		}
	}
	e->done(e->userdata, r, err, r >= 0 ? img->digest : NULL);
out:
	free(e->reference);
	free(e);
}

static void image_ensure(void *ctx, const char *reference, enum spec_pull_policy policy, manager_image_done_fn done,
                         void *userdata) {
	struct daemon *d = ctx;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *digest = NULL;
	struct ensure *e;
	int r;

	if (!d->images) {
		za_error_make(&err, ZA_ERROR_INTERNAL, ENOSYS, "the image service is not available");
		done(userdata, -ENOSYS, err, NULL);
		return;
	}
	if (policy == SPEC_PULL_IF_NOT_PRESENT || policy == SPEC_PULL_NEVER) {
		r = images_resolve(d->images, reference, &digest, &err);
		if (r >= 0)
			r = images_check_runnable(d->images, digest, &err);
		if (r >= 0 || policy == SPEC_PULL_NEVER || err->kind != ZA_ERROR_NOT_FOUND) {
			done(userdata, r, err, digest);
			return;
		}
		err = za_error_free(err);
	}
	e = xnew(struct ensure, 1);
	*e = (struct ensure){
		.d = d, .reference = xstrdup(reference), .policy = policy, .done = done, .userdata = userdata
	};
	r = images_fetch_start(d->images, reference, NULL, NULL, ensure_fetched, e, &err);
	if (r < 0) {
		done(userdata, r, err, NULL);
		free(e->reference);
		free(e);
	}
}

/* --- handlers ------------------------------------------------------------------------------ */

static void reply_done(void *userdata, int r, const struct za_error *err, json_t *status) {
	struct api_request *req = userdata;

	if (r < 0 && err)
		(void)api_reply_error(req, err);
	else
		(void)api_reply_json(req, 200, json_incref(status));
}

/* yaml's cap is checked by hand: over it is 413, not 400. */
static const struct api_body_field deploy_body[] = {
	{ "yaml", API_JSON_STRING, .required = true },
	{ "file", API_JSON_STRING, .max = DEPLOY_FILE_NAME_MAX },
	{},
};

static int handle_deploy(struct api_request *req, void *userdata) {
	struct deployments *ds = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	json_t *body = api_request_body(req);
	const char *file = api_body_string(body, "file"), *yaml = api_body_string(body, "yaml");
	int r;

	if (api_body_check(body, deploy_body, &err) < 0)
		return api_reply_error(req, err);
	if (json_string_length(json_object_get(body, "yaml")) > DEPLOY_YAML_MAX)
		return api_reply_error_status(req, 413, ZA_ERROR_INVALID_SPEC,
		                              "request body: field 'yaml' is larger than %d bytes", DEPLOY_YAML_MAX);
	api_request_suspend(req);
	r = manager_deploy(ds->m, file ? file : "<request>", yaml, json_string_length(json_object_get(body, "yaml")),
	                   reply_done, req, &err);
	if (r < 0)
		(void)api_reply_error(req, err);
	return API_ASYNC;
}

static int handle_list(struct api_request *req, void *userdata) {
	struct deployments *ds = userdata;
	const char *name = api_request_query(req, "name");
	json_t *st = manager_status(ds->m, isempty(name) ? NULL : name);

	if (!st)
		return api_reply_error_status(req, 404, ZA_ERROR_NOT_FOUND, "no such deployment '%s'", name);
	return api_reply_json(req, 200, st);
}

static int handle_remove(struct api_request *req, void *userdata) {
	struct deployments *ds = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	const char *name = api_request_query(req, "name");

	if (isempty(name))
		return api_reply_error_status(req, 400, ZA_ERROR_INVALID_SPEC, "query parameter 'name' is required");
	api_request_suspend(req);
	if (manager_remove(ds->m, name, reply_done, req, &err) < 0)
		(void)api_reply_error(req, err);
	return API_ASYNC;
}

static int handle_scale(struct api_request *req, void *userdata) {
	struct deployments *ds = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	const char *service = api_request_query(req, "service"), *n = api_request_query(req, "replicas");
	const char *dep = api_request_query(req, "deployment");
	uint32_t replicas;

	if (isempty(service))
		return api_reply_error_status(req, 400, ZA_ERROR_INVALID_SPEC, "query parameter 'service' is required");
	if (!n || parse_uint32(n, &replicas) < 0)
		return api_reply_error_status(req, 400, ZA_ERROR_INVALID_SPEC,
		                              "query parameter 'replicas' must be a number of replicas");
	api_request_suspend(req);
	if (manager_scale(ds->m, isempty(dep) ? NULL : dep, service, replicas, reply_done, req, &err) < 0)
		(void)api_reply_error(req, err);
	return API_ASYNC;
}

struct event_follow {
	struct deployments *ds;
	struct api_stream *st;
	char *deployment;
	uint64_t sub;
	struct event_follow *next;
};

static void follow_free(struct event_follow *f) {
	for (struct event_follow **p = &f->ds->follows; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	if (f->sub)
		event_unsubscribe(manager_events(f->ds->m), f->sub);
	free(f->deployment);
	free(f);
}

static void on_event(json_t *ev, void *userdata) {
	struct event_follow *f = userdata;
	const char *d = json_string_value(json_object_get(ev, "deployment"));

	if (f->deployment && (!d || !streq(d, f->deployment)))
		return;
	(void)api_stream_send_json(f->st, json_incref(ev));
}

static void on_follow_closed(struct api_stream *st, void *userdata) {
	struct event_follow *f = userdata;

	api_stream_end(st);
	follow_free(f);
}

static int handle_events(struct api_request *req, void *userdata) {
	struct deployments *ds = userdata;
	const char *dep = api_request_query(req, "deployment"), *since = api_request_query(req, "since");
	_cleanup_za_error_ struct za_error *err = NULL;
	struct api_stream *st;
	uint64_t seq = 0;
	json_t *hist, *ev;
	bool follow;
	size_t i;

	if (since && parse_uint64(since, &seq) < 0)
		return api_reply_error_status(req, 400, ZA_ERROR_INVALID_SPEC,
		                              "query parameter 'since' must be an event sequence number");
	if (api_query_bool(req, "follow", false, &follow, &err) < 0)
		return api_reply_error(req, err);
	hist = event_history(manager_events(ds->m), seq, isempty(dep) ? NULL : dep);
	st = api_stream_begin(req, 200);
	json_array_foreach(hist, i, ev)(void) api_stream_send_json(st, json_incref(ev));
	json_decref(hist);
	if (!follow) {
		api_stream_end(st);
		return 0;
	}
	{
		struct event_follow *f = xnew(struct event_follow, 1);
		f->ds = ds;
		f->st = st;
		f->deployment = isempty(dep) ? NULL : xstrdup(dep);
		f->sub = event_subscribe(manager_events(ds->m), on_event, f);
		f->next = ds->follows;
		ds->follows = f;
		api_stream_set_closed_callback(st, on_follow_closed, f);
	}
	return 0;
}

/* GET /v1/info: what this agent runs with, and how much it holds. */
static int handle_info(struct api_request *req, void *userdata) {
	struct deployments *ds = userdata;
	struct daemon *d = ds->daemon;
	_cleanup_strv_free_ char **ids = NULL;
	struct store_image *imgs = NULL;
	size_t n_imgs = 0;
	json_t *deps = manager_status(ds->m, NULL), *j;

	(void)d->runtime->ops->list(d->runtime, &ids, NULL);
	if (store_image_list(d->store, &imgs, &n_imgs, NULL) < 0)
		n_imgs = 0;
	store_images_free(imgs, n_imgs);
	j = json_pack("{s:s, s:s, s:s, s:o, s:{s:I, s:I, s:I}}", "version", ZA_VERSION, "root_dir", d->config->root_dir,
	              "runtime_dir", d->config->runtime_dir, "runtime", oci_runtime_describe(d->runtime), "counts",
	              "containers", (json_int_t)strv_length(ids), "images", (json_int_t)n_imgs, "deployments",
	              (json_int_t)json_array_size(deps));
	json_decref(deps);
	return api_reply_json(req, 200, j);
}

/* --- lifetime ------------------------------------------------------------------------------ */

static json_t *replica_status(void *ctx, const char *id) {
	struct deployments *ds = ctx;
	return manager_replica_status(ds->m, id);
}

static void deployments_free(void *userdata) {
	struct deployments *ds = userdata;

	manager_free(ds->m);
	free(ds);
}

/* Shutdown: followers' streams end (the server waits for open requests). */
static void on_stop_hook(struct daemon *d, void *userdata) {
	struct deployments *ds = userdata;

	while (ds->follows) {
		struct event_follow *f = ds->follows;
		api_stream_set_closed_callback(f->st, NULL, NULL);
		api_stream_end(f->st);
		follow_free(f);
	}
}

static void on_exit_hook(struct daemon *d, void *userdata) {
	struct deployments *ds = userdata;

	d->replica_status = NULL;
	d->manager = NULL;
	on_stop_hook(d, ds);
	manager_shutdown(ds->m);
	/* results of the last workers are queued: free after them */
	daemon_post(d, deployments_free, ds);
}

static int on_first_iteration(sd_event_source *es, void *userdata) {
	struct deployments *ds = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;

	if (manager_restore(ds->m, &err) < 0)
		log_error("cannot restore deployments: %s", err->message);
	return sd_event_source_set_enabled(es, SD_EVENT_OFF);
}

int api_deployments_register(struct daemon *d, struct za_error **reterr) {
	struct deployments *ds = xnew(struct deployments, 1);
	struct manager_options o = {
		.event = d->event,
		.rt = d->runtime,
		.store = d->store,
		.secrets = d->secrets,
		.root_dir = d->config->root_dir,
		.supervisor = { .crashloop_window_nsec = d->config->crashloop_window_nsec,
		                .crashloop_restarts = d->config->crashloop_restarts,
		                .crashloop_delay_nsec = d->config->crashloop_delay_nsec },
		.ops = { .image_ensure = image_ensure, .post = post, .ctx = d },
	};
	int r;

	ds->daemon = d;
	r = manager_new(&o, &ds->m, reterr);
	if (r < 0) {
		free(ds);
		return r;
	}
	d->replica_status = replica_status;
	d->replica_status_ctx = ds;
	d->manager = ds->m;
	daemon_add_hook(d, DAEMON_HOOK_STOP, on_stop_hook, ds);
	daemon_add_hook(d, DAEMON_HOOK_EXIT, on_exit_hook, ds);
	api_server_add_route(d->api, "POST", "/v1/deployments", handle_deploy, ds);
	api_server_add_route(d->api, "GET", "/v1/deployments", handle_list, ds);
	api_server_add_route(d->api, "DELETE", "/v1/deployments", handle_remove, ds);
	api_server_add_route(d->api, "POST", "/v1/deployments/scale", handle_scale, ds);
	api_server_add_route(d->api, "GET", "/v1/events", handle_events, ds);
	api_server_add_route(d->api, "GET", "/v1/info", handle_info, ds);
	api_jobs_register(d->api, manager_jobs(ds->m));
	if (sd_event_add_defer(d->event, NULL, on_first_iteration, ds) < 0)
		log_warning("cannot schedule the restore of stored deployments");
	return 0;
}
