/* SPDX-License-Identifier: Apache-2.0 */
/* GET /metrics and GET /v1/metrics: the daemon in the Prometheus text
 * format 0.0.4.
 *
 * Counters move as things happen, on the loop thread: the event bus
 * (restarts, health transitions, job outcomes, every event by type), the
 * API server's observer (requests and their latency) and the image service
 * (pulls and bytes). Gauges are computed at each scrape: containers by
 * state, deployments, the process from /proc/self. The runtime's state()
 * can block (up to two shim drain timeouts while a container's exit record
 * is being written), so containers are counted on a worker thread; scrapes
 * that arrive meanwhile share its result. */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>

#include "api/api-metrics.h"
#include "api/daemon.h"
#include "api/metrics.h"
#include "api/server.h"
#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "image/layers.h"
#include "runtime/runtime.h"
#include "service/manager.h"
#include "basic/banned.h"

#define PROC_STAT_MAX (16 * 1024)

struct scrape_waiter {
	struct scrape_waiter *next;
	struct api_request *req;
};

struct scrape {
	struct api_metrics *am;
	uint64_t counts[_CONTAINER_STATE_MAX];
	int r;
	uint64_t usec;
};

struct api_metrics {
	struct daemon *d;
	struct metrics *reg;
	struct metric_family *containers, *deployments, *restarts, *health, *jobs, *events, *pulls, *pull_bytes,
	        *requests, *latency, *build_info, *cpu, *rss, *vsize, *fds, *max_fds, *start_time, *dropped;
	struct event_bus *bus;
	uint64_t sub;
	struct scrape_waiter *waiters;
	pthread_t thread;
	bool thread_live; /* started, not joined */
	atomic_bool cancel;
};

/* ---- families ---- */

static int families_add(struct api_metrics *am) {
	static const char *const state_l[] = { "state", NULL }, *const restart_l[] = { "deployment", "service", NULL },
	                         *const health_l[] = { "deployment", "service", "to", NULL },
	                         *const job_l[] = { "deployment", "job", "outcome", NULL },
	                         *const type_l[] = { "type", NULL }, *const result_l[] = { "result", NULL },
	                         *const req_l[] = { "method", "route", "code", NULL },
	                         *const lat_l[] = { "method", "route", "code_class", NULL },
	                         *const version_l[] = { "version", NULL }, *const family_l[] = { "family", NULL };
	const struct {
		struct metric_family **f;
		const char *name, *help;
		enum metric_type type;
		const char *const *labels;
		bool latency;
	} t[] = {
		{ &am->containers, "zlayer_containers", "Containers known to the runtime, by state.", METRIC_GAUGE,
		  state_l },
		{ &am->deployments, "zlayer_deployments", "Deployments the service manager keeps.", METRIC_GAUGE },
		{ &am->restarts, "zlayer_container_restarts_total", "Replica restarts by the supervisor.",
		  METRIC_COUNTER, restart_l },
		{ &am->health, "zlayer_health_transitions_total",
		  "Replica health changes (to healthy: the first success too).", METRIC_COUNTER, health_l },
		{ &am->jobs, "zlayer_job_executions_total", "Job executions that ended, by outcome.", METRIC_COUNTER,
		  job_l },
		{ &am->events, "zlayer_events_total", "Events on the agent's event stream, by type.", METRIC_COUNTER,
		  type_l },
		{ &am->pulls, "zlayer_image_pulls_total", "Image pulls from registries that ended, by result.",
		  METRIC_COUNTER, result_l },
		{ &am->pull_bytes, "zlayer_image_pull_bytes_total", "Layer bytes downloaded from registries.",
		  METRIC_COUNTER },
		{ &am->requests, "zlayer_api_requests_total",
		  "API requests by method, route and status (code 0: the client left before a reply).", METRIC_COUNTER,
		  req_l },
		{ &am->latency, "zlayer_api_request_duration_seconds",
		  "Time from a request's headers to its reply (for streams: to the start of the stream).",
		  METRIC_HISTOGRAM, lat_l, true },
		{ &am->build_info, "zlayer_build_info", "The agent's version (always 1).", METRIC_GAUGE, version_l },
		{ &am->dropped, "zlayer_metrics_series_dropped_total",
		  "Label sets not recorded because their family was at its cap.", METRIC_COUNTER, family_l },
		{ &am->cpu, "process_cpu_seconds_total", "User and system CPU time of the daemon.", METRIC_COUNTER },
		{ &am->rss, "process_resident_memory_bytes", "Resident memory of the daemon.", METRIC_GAUGE },
		{ &am->vsize, "process_virtual_memory_bytes", "Virtual memory of the daemon.", METRIC_GAUGE },
		{ &am->fds, "process_open_fds", "Open file descriptors of the daemon.", METRIC_GAUGE },
		{ &am->max_fds, "process_max_fds", "The daemon's limit of open file descriptors.", METRIC_GAUGE },
		{ &am->start_time, "process_start_time_seconds", "Start of the daemon, seconds since the epoch.",
		  METRIC_GAUGE },
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		int r = metrics_add_family(am->reg, t[i].name, t[i].help, t[i].type, t[i].labels,
		                           t[i].latency ? metrics_latency_buckets : NULL,
		                           t[i].latency ? metrics_latency_buckets_n : 0, t[i].f);
		if (r < 0)
			return r;
	}
	return metric_set(am->build_info, 1, METRIC_LABELS(ZA_VERSION));
}

/* ---- what happens ---- */

static void on_event(json_t *ev, void *userdata) {
	struct api_metrics *am = userdata;
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *dep = strempty(json_string_value(json_object_get(ev, "deployment")));
	const char *svc = strempty(json_string_value(json_object_get(ev, "service")));

	if (!type)
		return;
	(void)metric_add(am->events, 1, METRIC_LABELS(type));
	if (streq(type, "ContainerRestarted"))
		(void)metric_add(am->restarts, 1, METRIC_LABELS(dep, svc));
	else if (streq(type, "HealthHealthy"))
		(void)metric_add(am->health, 1, METRIC_LABELS(dep, svc, "healthy"));
	else if (streq(type, "HealthUnhealthy"))
		(void)metric_add(am->health, 1, METRIC_LABELS(dep, svc, "unhealthy"));
	else if (streq(type, "JobCompleted"))
		(void)metric_add(am->jobs, 1, METRIC_LABELS(dep, svc, "completed"));
	else if (streq(type, "JobFailed"))
		(void)metric_add(am->jobs, 1, METRIC_LABELS(dep, svc, "failed"));
	else if (streq(type, "JobCancelled"))
		(void)metric_add(am->jobs, 1, METRIC_LABELS(dep, svc, "cancelled"));
}

/* A client chooses the method: anything unusual is "other". */
static const char *method_label(const char *m) {
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS" };

	for (size_t i = 0; i < ELEMENTSOF(known); i++)
		if (streq(m, known[i]))
			return known[i];
	return "other";
}

static void on_request(const struct api_request_record *rec, void *userdata) {
	struct api_metrics *am = userdata;
	const char *method = method_label(rec->method), *route = rec->route ? rec->route : "other";
	char code[16], class[8];

	snprintf(code, sizeof(code), "%u", rec->status);
	if (rec->status >= 100 && rec->status <= 599)
		snprintf(class, sizeof(class), "%uxx", rec->status / 100);
	else
		snprintf(class, sizeof(class), "none");
	(void)metric_add(am->requests, 1, METRIC_LABELS(method, route, code));
	(void)metric_observe(am->latency, (double)rec->duration_usec / 1e6, METRIC_LABELS(method, route, class));
}

void api_metrics_image_pulled(struct daemon *d, bool ok, uint64_t bytes) {
	struct api_metrics *am = d->metrics;

	if (!am)
		return;
	(void)metric_add(am->pulls, 1, METRIC_LABELS(ok ? "success" : "failure"));
	(void)metric_add(am->pull_bytes, (double)bytes, NULL);
}

struct pull_tally_layer {
	char *digest;
	uint64_t base, last;
};

void metrics_pull_tally_progress(struct metrics_pull_tally *t, const struct pull_progress *pp) {
	struct pull_tally_layer *l = NULL;

	if (!pp->layer_digest || (pp->state != PULL_LAYER_DOWNLOADING && pp->state != PULL_LAYER_VERIFYING))
		return;
	for (size_t i = 0; i < t->n; i++)
		if (streq(t->layers[i].digest, pp->layer_digest)) {
			l = &t->layers[i];
			break;
		}
	if (!l) {
		/* A download reports its start (at its offset) first; a layer
		 * seen verifying only was not downloaded by us. */
		if (pp->state != PULL_LAYER_DOWNLOADING)
			return;
		GROW(t->layers, t->alloc, t->n + 1);
		l = &t->layers[t->n++];
		*l = (struct pull_tally_layer){ .digest = xstrdup(pp->layer_digest),
			                        .base = pp->current,
			                        .last = pp->current };
	}
	if (pp->current > l->last)
		l->last = pp->current;
}

uint64_t metrics_pull_tally_bytes(const struct metrics_pull_tally *t) {
	uint64_t sum = 0;

	for (size_t i = 0; i < t->n; i++)
		sum += t->layers[i].last - t->layers[i].base;
	return sum;
}

void metrics_pull_tally_release(struct metrics_pull_tally *t) {
	for (size_t i = 0; i < t->n; i++)
		free(t->layers[i].digest);
	free(t->layers);
	*t = (struct metrics_pull_tally){};
}

/* ---- /proc/self ---- */

static double proc_btime(void) {
	_cleanup_free_ char *buf = NULL;
	const char *p;
	size_t len;

	if (read_full_file("/proc/stat", 1 << 20, &buf, &len) < 0)
		return 0;
	p = strstr(buf, "\nbtime ");
	return p ? strtod(p + 7, NULL) : 0;
}

static void process_update(struct api_metrics *am) {
	_cleanup_free_ char *buf = NULL;
	double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
	uint64_t cpu, start;
	struct rlimit rl;
	size_t len;
	DIR *dir;

	if (read_full_file("/proc/self/stat", PROC_STAT_MAX, &buf, &len) >= 0 &&
	    metrics_parse_proc_stat(buf, &cpu, &start) >= 0 && tick > 0) {
		(void)metric_set(am->cpu, (double)cpu / tick, NULL);
		(void)metric_set(am->start_time, proc_btime() + (double)start / tick, NULL);
	}
	free(buf);
	buf = NULL;
	if (read_full_file("/proc/self/statm", PROC_STAT_MAX, &buf, &len) >= 0) {
		unsigned long long size = 0, resident = 0;
		if (sscanf(buf, "%llu %llu", &size, &resident) == 2) {
			(void)metric_set(am->vsize, (double)size * page, NULL);
			(void)metric_set(am->rss, (double)resident * page, NULL);
		}
	}
	dir = opendir("/proc/self/fd");
	if (dir) {
		struct dirent *de;
		double n = 0;

		while ((de = readdir(dir)))
			if (de->d_name[0] != '.')
				n++;
		(void)closedir(dir);
		(void)metric_set(am->fds, n - 1, NULL); /* less the directory's own */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) >= 0)
		(void)metric_set(am->max_fds, rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur, NULL);
}

/* ---- scrapes ---- */

static uint64_t mono_usec(void) {
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void scrape_done(void *userdata);

static void *scrape_thread(void *userdata) {
	struct scrape *sc = userdata;
	struct runtime *rt = sc->am->d->runtime;
	_cleanup_strv_free_ char **ids = NULL;
	uint64_t t0 = mono_usec();

	sc->r = rt->ops->list(rt, &ids, NULL);
	STRV_FOREACH (i, ids) {
		struct container_status st = {};

		if (atomic_load(&sc->am->cancel))
			break;
		if (rt->ops->state(rt, *i, &st, NULL) < 0)
			continue; /* removed meanwhile */
		if (st.state >= 0 && st.state < _CONTAINER_STATE_MAX)
			sc->counts[st.state]++;
		container_status_release(&st);
	}
	sc->usec = mono_usec() - t0;
	daemon_post(sc->am->d, scrape_done, sc);
	return NULL;
}

/* The rendered text, or (text NULL) a 500 with why. */
static void reply_all(struct api_metrics *am, const char *text, size_t len, const char *why) {
	while (am->waiters) {
		struct scrape_waiter *w = am->waiters;

		am->waiters = w->next;
		if (text)
			(void)api_reply_text(w->req, 200, METRICS_CONTENT_TYPE, xstrndup(text, len), len);
		else
			(void)api_reply_error_status(w->req, 500, ZA_ERROR_INTERNAL, "%s", strempty(why));
		free(w);
	}
}

static void scrape_done(void *userdata) {
	struct scrape *sc = userdata;
	struct api_metrics *am = sc->am;
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	uint64_t t0 = mono_usec();

	if (am->thread_live) {
		(void)pthread_join(am->thread, NULL); /* it has nothing left to do but return */
		am->thread_live = false;
	}
	if (atomic_load(&am->cancel)) {
		/* after the EXIT hooks: the manager may be gone */
		reply_all(am, NULL, 0, "the daemon is shutting down");
		free(sc);
		return;
	}
	metric_family_clear(am->containers);
	if (sc->r >= 0)
		for (int s = 0; s < _CONTAINER_STATE_MAX; s++)
			(void)metric_set(am->containers, (double)sc->counts[s],
			                 METRIC_LABELS(container_state_to_string((enum container_state)s)));
	if (am->d->manager) {
		json_t *deps = manager_status(am->d->manager, NULL);
		(void)metric_set(am->deployments, (double)json_array_size(deps), NULL);
		json_decref(deps);
	}
	process_update(am);
	for (struct metric_family *f = metrics_first(am->reg); f; f = metrics_next(f))
		if (metric_family_labels(f) > 0 && f != am->dropped) /* only these can drop */
			(void)metric_set(am->dropped, (double)metric_family_dropped(f),
			                 METRIC_LABELS(metric_family_name(f)));
	metrics_render(am->reg, &out);
	log_debug("metrics: containers counted in %" PRIu64 " us, rendered %zu bytes in %" PRIu64 " us", sc->usec,
	          out.len, mono_usec() - t0);
	reply_all(am, strbuf_str(&out), out.len, NULL);
	free(sc);
}

static int handle_metrics(struct api_request *req, void *userdata) {
	struct api_metrics *am = userdata;
	struct scrape_waiter *w = xnew(struct scrape_waiter, 1);
	struct scrape *sc;
	int r;

	api_request_suspend(req);
	w->req = req;
	w->next = am->waiters;
	am->waiters = w;
	if (am->thread_live)
		return API_ASYNC; /* the count under way serves this one too */
	sc = xnew(struct scrape, 1);
	sc->am = am;
	r = -pthread_create(&am->thread, NULL, scrape_thread, sc);
	if (r < 0) {
		log_warning("cannot start a thread for /metrics: %s", strerror(-r));
		free(sc);
		reply_all(am, NULL, 0, "cannot count the containers: no worker thread");
		return API_ASYNC;
	}
	am->thread_live = true;
	return API_ASYNC;
}

/* ---- lifetime ---- */

static void api_metrics_free(void *userdata) {
	struct api_metrics *am = userdata;

	reply_all(am, NULL, 0, "the daemon is shutting down");
	metrics_free(am->reg);
	free(am);
}

/* The event bus is the manager's, freed after the EXIT hooks (posted by
 * api-deployments.c's, which ran before ours); the scrape thread's result
 * is posted too, so we go after it. */
static void on_exit_hook(struct daemon *d, void *userdata) {
	struct api_metrics *am = userdata;

	api_server_set_observer(d->api, NULL, NULL);
	if (am->bus)
		event_unsubscribe(am->bus, am->sub);
	atomic_store(&am->cancel, true);
	if (am->thread_live) {
		(void)pthread_join(am->thread, NULL);
		am->thread_live = false;
	}
	d->metrics = NULL;
	daemon_post(d, api_metrics_free, am);
}

int api_metrics_register(struct daemon *d, struct za_error **reterr) {
	struct api_metrics *am = xnew(struct api_metrics, 1);
	int r;

	am->d = d;
	am->reg = metrics_new();
	r = families_add(am);
	if (r < 0) {
		metrics_free(am->reg);
		free(am);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot set up the metrics: %m");
	}
	if (d->manager) {
		am->bus = manager_events(d->manager);
		am->sub = event_subscribe(am->bus, on_event, am);
	}
	api_server_set_observer(d->api, on_request, am);
	daemon_add_hook(d, DAEMON_HOOK_EXIT, on_exit_hook, am);
	api_server_add_route(d->api, "GET", "/metrics", handle_metrics, am);
	api_server_add_route(d->api, "GET", "/v1/metrics", handle_metrics, am);
	d->metrics = am;
	return 0;
}
