/* SPDX-License-Identifier: Apache-2.0 */
/* Log streams: GET /v1/containers/logs and POST /v1/containers/start?attach=1.
 *
 * A worker reads the runtime's log in batches and hands each batch to the
 * loop thread, waiting until the loop has queued it on the stream (so a
 * huge log never piles up in memory ahead of the stream). Following polls
 * the runtime every CONTAINERS_POLL_MS (longer for huge logs) from the last
 * record seen (records with the same timestamp are counted, so none is
 * sent twice), until the container stops and one more read drains its log,
 * or the client leaves.
 * While a stream is open the container is a "follower": auto-remove waits
 * for it, so `run --rm` sees every line and the exit. */
#include <time.h>

#include "api/api-body.h"
#include "api/container-json.h"
#include "api/containers-internal.h"
#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/banned.h"

#define LOG_BATCH_BYTES (256 * 1024)
#define LOG_BATCH_LINES 1024
#define LOG_TAIL_MAX    100000
#define LOG_POLL_MAX_MS 5000 /* longest pause between two reads of a followed log */

struct logs_session {
	struct containers *cs;
	/* loop thread */
	struct api_request *req;
	struct api_stream *stream; /* NULL before the first batch and once closed */
	bool begun;
	/* set on the loop, read by the worker */
	atomic_bool closed;
	/* parameters */
	char *id;
	bool follow, attach, tail_none, wait_removed;
	uint64_t tail;
	int64_t since_ns;
	/* worker */
	json_t *batch;
	size_t batch_bytes;
	int64_t last_ns;    /* newest record time delivered */
	uint64_t n_at_last; /* records delivered with exactly that time */
	uint64_t skip;      /* of those, still to skip in this read */
	/* batches posted, not yet on the stream */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned in_flight;
	/* results */
	struct za_error *err;
	json_t *final; /* attach: {exit: ...} */
};

struct logs_batch {
	struct logs_session *s;
	json_t *lines;
};

static void session_free(struct logs_session *s) {
	free(s->id);
	json_decref(s->batch);
	json_decref(s->final);
	za_error_free(s->err);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}

static bool session_stopped(struct logs_session *s) {
	return atomic_load(&s->closed) || atomic_load(&s->cs->cancel);
}

/* --- loop thread ---------------------------------------------------------------- */

static void on_stream_closed(struct api_stream *st, void *userdata) {
	struct logs_session *s = userdata;

	atomic_store(&s->closed, true);
	s->stream = NULL;
	api_stream_end(st);
}

static void session_begin(struct logs_session *s) {
	if (s->begun)
		return;
	s->begun = true;
	s->stream = api_stream_begin(s->req, 200);
	api_stream_set_closed_callback(s->stream, on_stream_closed, s);
}

static void batch_deliver(void *userdata) {
	struct logs_batch *b = userdata;
	struct logs_session *s = b->s;
	size_t i;
	json_t *line;

	session_begin(s);
	json_array_foreach(b->lines, i, line) {
		if (!s->stream || api_stream_send_json(s->stream, json_incref(line)) < 0) {
			atomic_store(&s->closed, true);
			break;
		}
	}
	json_decref(b->lines);
	free(b);
	pthread_mutex_lock(&s->lock);
	s->in_flight--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void session_done(void *userdata) {
	struct logs_session *s = userdata;

	if (!s->begun && s->err) {
		/* Nothing streamed yet: a plain error reply (404 and the like). */
		(void)containers_reply_error(s->req, s->err);
		session_free(s);
		return;
	}
	session_begin(s);
	if (s->stream) {
		if (s->err)
			(void)api_stream_send_error(s->stream, s->err);
		else if (s->final)
			(void)api_stream_send_json(s->stream, TAKE_PTR(s->final));
		api_stream_set_closed_callback(s->stream, NULL, NULL);
		api_stream_end(s->stream);
		s->stream = NULL;
	}
	session_free(s);
}

/* --- worker --------------------------------------------------------------------- */

/* Hand the batch to the loop and wait until it is on the stream. */
static void session_flush(struct logs_session *s) {
	struct logs_batch *b;

	if (!s->batch)
		return;
	b = xnew(struct logs_batch, 1);
	b->s = s;
	b->lines = TAKE_PTR(s->batch);
	s->batch_bytes = 0;
	pthread_mutex_lock(&s->lock);
	s->in_flight++;
	pthread_mutex_unlock(&s->lock);
	daemon_post(s->cs->daemon, batch_deliver, b);

	pthread_mutex_lock(&s->lock);
	while (s->in_flight > 0 && !atomic_load(&s->cs->cancel)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
}

static int on_record(const char *stream, int64_t time_ns, const char *text, size_t len, void *userdata) {
	struct logs_session *s = userdata;
	char ts[TIMESTAMP_MAX];

	if (session_stopped(s))
		return -ECANCELED;
	if (time_ns == s->last_ns && s->skip > 0) {
		s->skip--; /* sent by the previous read */
		return 0;
	}
	if (time_ns > s->last_ns) {
		s->last_ns = time_ns;
		s->n_at_last = 1;
	} else if (time_ns == s->last_ns)
		s->n_at_last++;
	if (!s->batch)
		s->batch = json_array();
	json_array_append_new(s->batch, json_pack("{s:s, s:s, s:o}", "stream", stream, "time",
	                                          timestamp_format(ts, time_ns), "log", json_string_lossy(text, len)));
	s->batch_bytes += len + 64;
	if (s->batch_bytes >= LOG_BATCH_BYTES || json_array_size(s->batch) >= LOG_BATCH_LINES) {
		session_flush(s);
		if (session_stopped(s))
			return -ECANCELED;
	}
	return 0;
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct counter {
	struct logs_session *s;
	uint64_t n;
};

static int count_at_last(const char *stream, int64_t time_ns, const char *text, size_t len, void *userdata) {
	struct counter *c = userdata;

	if (time_ns == c->s->last_ns)
		c->n++;
	return session_stopped(c->s) ? -ECANCELED : 0;
}

static uint64_t monotonic_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read (and with follow, keep reading) the log into the stream. Each read
 * costs what the whole log costs to scan, so the pause between reads grows
 * with it (4x the read, up to LOG_POLL_MAX_MS): a huge log followed costs
 * at most a fifth of a core, and new lines wait at most that long. */
static int session_pump(struct logs_session *s) {
	struct runtime *rt = s->cs->rt;
	struct log_options o = { .tail = s->tail, .since_ns = s->since_ns };
	bool last_read = false;
	unsigned backoff = 0;
	int r;

	if (s->tail_none) {
		if (!s->follow)
			return 0;
		s->last_ns = MAX(now_ns(), s->since_ns);
		o = (struct log_options){ .since_ns = s->last_ns };
	}
	for (;;) {
		_cleanup_za_error_ struct za_error *err = NULL;
		struct container_status st = {};
		uint64_t t0 = monotonic_ms(), pause;

		s->skip = s->n_at_last;
		r = rt->ops->logs(rt, s->id, &o, on_record, s, &err);
		session_flush(s); /* nothing when the read found nothing */
		if (r >= 0 && o.tail > 0 && s->follow && s->n_at_last > 0) {
			/* A tail shows the last records of a time that may have more
			 * before them (the shim stamps a whole read at once): count
			 * them all, or the next read would send the rest. */
			struct counter c = { .s = s };
			struct log_options co = { .since_ns = s->last_ns };
			if (rt->ops->logs(rt, s->id, &co, count_at_last, &c, NULL) >= 0 && c.n > s->n_at_last)
				s->n_at_last = c.n;
		}
		if (r < 0) {
			if (err && err->kind == ZA_ERROR_NOT_FOUND && s->follow)
				return 0; /* removed while we followed: the end of its log */
			if (s->err == NULL)
				s->err = TAKE_PTR(err);
			return r;
		}
		if (!s->follow || last_read || session_stopped(s))
			break;
		/* Stopped already (its exit's wake-up may have come before we
		 * slept): no pause before the last read. */
		if (rt->ops->state(rt, s->id, &st, NULL) < 0)
			break;
		if (containers_state_active(st.state)) {
			container_status_release(&st);
			pause = MIN(MAX((monotonic_ms() - t0) * 4,
			                (uint64_t)containers_backoff(&backoff, CONTAINERS_POLL_MS)),
			            (uint64_t)LOG_POLL_MAX_MS);
			if (!containers_sleep(s->cs, (unsigned)pause, &s->closed))
				break;
			if (rt->ops->state(rt, s->id, &st, NULL) < 0)
				break;
		}
		/* Stopped: one more read drains what it wrote last. */
		last_read = !containers_state_active(st.state);
		if (last_read)
			containers_kick(s->cs); /* waiters and the auto-remove watcher */
		container_status_release(&st);
		o = (struct log_options){ .since_ns = s->last_ns ? s->last_ns : s->since_ns };
	}
	if (atomic_load(&s->cs->cancel) && !atomic_load(&s->closed))
		return za_error_make(&s->err, ZA_ERROR_UNSUPPORTED, ESHUTDOWN, "the daemon is shutting down");
	return 0;
}

/* attach: the exit, as the container's status (or auto-remove) tells it. */
static void session_final(struct logs_session *s) {
	struct runtime *rt = s->cs->rt;
	struct container_status st = {};
	struct wait_outcome w;
	bool known = false;

	if (rt->ops->state(rt, s->id, &st, NULL) >= 0) {
		if (!containers_state_active(st.state)) {
			container_status_outcome(&st, &w);
			known = true;
		}
		container_status_release(&st);
	} else
		known = containers_exit_lookup(s->cs, s->id, &w);
	if (known)
		s->final = json_pack("{s:s, s:o}", "id", s->id, "exit", wait_outcome_to_json(&w));
	else if (!session_stopped(s))
		za_error_make(&s->err, ZA_ERROR_NOT_FOUND, ENOENT, "container '%s' was removed before it exited",
		              s->id);
}

static void *session_thread(void *userdata) {
	struct logs_session *s = userdata;
	struct containers *cs = s->cs;
	struct container_status st = {};
	char *id = NULL;
	bool following = false;
	int r;

	r = containers_resolve(cs, s->id, &id, &st, &s->err);
	if (r < 0)
		goto done;
	container_status_release(&st);
	free(s->id);
	s->id = id;
	containers_follower_add(cs, s->id);
	following = true;
	if (s->attach) {
		r = cs->rt->ops->start(cs->rt, s->id, &s->err);
		if (r < 0)
			goto done;
		log_debug("started container %s attached", s->id);
		/* Started: the reply is a stream now, even before any output. */
		if (!s->batch)
			s->batch = json_array();
		session_flush(s);
	}
	r = session_pump(s);
	if (r >= 0 && s->attach)
		session_final(s);
	if (r >= 0 && s->attach && s->wait_removed && s->final && containers_auto_removing(cs, s->id)) {
		/* The auto-remove waits for its followers: leave, then wait. */
		struct wait_outcome w;
		containers_follower_remove(cs, s->id);
		following = false;
		if (cs->rt->ops->wait(cs->rt, s->id, WAIT_REMOVED, &w, NULL) >= 0)
			json_object_set_new(s->final, "removed", json_true());
	}
done:
	if (r < 0 && !s->err)
		za_error_make(&s->err, ZA_ERROR_INTERNAL, r, "reading the log of container '%s' failed: %m", s->id);
	if (following)
		containers_follower_remove(cs, s->id);
	daemon_post(cs->daemon, session_done, s);
	containers_thread_exit(cs);
	return NULL;
}

static struct logs_session *session_new(struct containers *cs, struct api_request *req, const char *id) {
	struct logs_session *s = xnew(struct logs_session, 1);

	s->cs = cs;
	s->req = req;
	s->id = xstrdup(id);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return s;
}

static int session_start(struct logs_session *s) {
	struct api_request *req = s->req;
	_cleanup_za_error_ struct za_error *err = NULL;

	api_request_suspend(req);
	if (containers_spawn(s->cs, session_thread, s, &err) < 0) {
		session_free(s);
		(void)containers_reply_error(req, err);
		return 0;
	}
	return API_ASYNC;
}

int containers_handle_logs(struct api_request *req, void *userdata) {
	struct containers *cs = userdata;
	const char *id = api_request_query(req, "id"), *tail = api_request_query(req, "tail");
	const char *since = api_request_query(req, "since");
	_cleanup_za_error_ struct za_error *err = NULL;
	struct logs_session *s;
	uint64_t n = 0;
	int64_t since_ns = 0;
	bool follow;

	if (isempty(id))
		return containers_reply_bad_query(req, "id", "is required");
	if (api_query_bool(req, "follow", false, &follow, &err) < 0)
		return api_reply_error(req, err);
	if (tail && !streq(tail, "all") && (parse_uint64(tail, &n) < 0 || n > LOG_TAIL_MAX))
		return containers_reply_bad_query(req, "tail", "must be 'all' or a number of lines up to 100000");
	if (!isempty(since) && timestamp_parse(since, &since_ns) < 0)
		return containers_reply_bad_query(req, "since",
		                                  "must be an RFC 3339 time or unix seconds (1700000000.5)");
	s = session_new(cs, req, id);
	s->follow = follow;
	s->since_ns = since_ns;
	if (tail && !streq(tail, "all")) {
		s->tail = n;
		s->tail_none = n == 0;
	}
	return session_start(s);
}

int containers_start_attached(struct containers *cs, struct api_request *req, const char *id, bool wait_removed) {
	struct logs_session *s = session_new(cs, req, id);

	s->attach = true;
	s->wait_removed = wait_removed;
	s->follow = true;
	return session_start(s);
}
