/* SPDX-License-Identifier: Apache-2.0 */
/* POST /v1/containers/exec?id=ID[&stream=1]: run a command in a running
 * container. Body {"argv": [...], "env": ["K=V"...], "workdir": "/abs",
 * "user": "name|uid[:group|gid]"}, checked with api-body.h.
 *
 * Buffered (default): the runtime's exec, then one reply {exit_code,
 * stdout, stderr}, each output capped at 1 MiB.
 *
 * Streamed (stream=1; the same path with a flag, as start?attach=1: same
 * body, same checks, same errors before the stream): JSON lines begun once
 * the command is starting,
 *   {"stream": "stdout"|"stderr", "data": TEXT}
 *   {"stream": ..., "data": BASE64, "encoding": "base64"}
 *   {"exit_code": N}                                     (last)
 * A chunk is text when it is UTF-8 without NUL bytes (a character split
 * between two reads waits for the rest), base64 otherwise: as secret
 * values, readable with curl in the common case, lossless always.
 *
 * A worker runs the exec and hands each chunk to the loop, then waits until
 * the loop has queued it and fewer than EXEC_UNSENT_MAX bytes wait for the
 * client: a slow reader slows the command down (its pipe fills) instead of
 * being dropped at API_STREAM_BUFFER_MAX. A client that leaves, or the
 * daemon stopping, cancels the exec: the runtime kills the command. */
#include <limits.h>
#include <sys/eventfd.h>
#include <time.h>

#include "api/api-body.h"
#include "api/container-json.h"
#include "api/containers-internal.h"
#include "basic/alloc.h"
#include "basic/base64.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

#define EXEC_OUTPUT_MAX      (1024 * 1024) /* buffered: each stream */
#define EXEC_UNSENT_MAX      (1024 * 1024) /* streamed: bytes waiting for the client before the worker waits */
#define EXEC_DRAIN_POLL_USEC (5 * 1000)    /* how often the loop looks whether they drained */
#define EXEC_USER_MAX        256
#define EXEC_WAIT_SLICE_NSEC (100 * 1000 * 1000)
#define EXEC_UTF8_HELD_MAX   3 /* bytes of a character that a read split */

struct exec_session {
	struct containers *cs;
	struct exec_session *prev, *next; /* cs->execs, under cs->lock */
	/* loop thread */
	struct api_request *req;
	struct api_stream *stream; /* NULL before the start and once closed */
	sd_event_source *drain_timer;
	bool begun;
	/* set on the loop (or by the STOP hook), read by the worker */
	atomic_bool closed, shutdown;
	int cancel_fd; /* eventfd, written with closed or shutdown */
	/* chunks posted and not yet acknowledged, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned in_flight;
	/* parameters */
	bool streaming;
	char *id, **argv, **env, *workdir, *user;
	/* worker */
	struct strbuf collected[_EXEC_STREAM_MAX]; /* buffered */
	char held[_EXEC_STREAM_MAX][EXEC_UTF8_HELD_MAX];
	size_t n_held[_EXEC_STREAM_MAX];
	/* results */
	struct za_error *err;
	int exit_code;
	json_t *reply; /* buffered */
};

struct exec_chunk {
	struct exec_session *s;
	json_t *lines;
};

static void session_free(struct exec_session *s) {
	sd_event_source_disable_unref(s->drain_timer);
	safe_close(s->cancel_fd);
	free(s->id);
	strv_free(s->argv);
	strv_free(s->env);
	free(s->workdir);
	free(s->user);
	za_error_free(s->err);
	json_decref(s->reply);
	for (int i = 0; i < _EXEC_STREAM_MAX; i++)
		strbuf_release(&s->collected[i]);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}

/* Any thread: stop the exec (the runtime kills the command). */
static void session_cancel(struct exec_session *s) {
	atomic_store(&s->closed, true);
	(void)eventfd_write(s->cancel_fd, 1);
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static bool session_stopped(struct exec_session *s) {
	return atomic_load(&s->closed) || atomic_load(&s->shutdown);
}

/* --- loop thread ----------------------------------------------------------------- */

static void on_stream_closed(struct api_stream *st, void *userdata) {
	struct exec_session *s = userdata;

	log_debug("exec in %s: the client left, cancelling", s->id);
	session_cancel(s);
	s->stream = NULL;
	api_stream_end(st);
}

static void session_begin(struct exec_session *s) {
	if (s->begun)
		return;
	s->begun = true;
	s->stream = api_stream_begin(s->req, 200);
	api_stream_set_closed_callback(s->stream, on_stream_closed, s);
}

static void chunk_ack(struct exec_session *s) {
	pthread_mutex_lock(&s->lock);
	s->in_flight--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void chunk_ack_when_drained(struct exec_session *s);

static int on_drain_timer(sd_event_source *es, uint64_t usec, void *userdata) {
	struct exec_session *s = userdata;

	s->drain_timer = sd_event_source_disable_unref(s->drain_timer);
	chunk_ack_when_drained(s);
	return 0;
}

static void chunk_ack_when_drained(struct exec_session *s) {
	if (s->stream && !api_stream_closed(s->stream) && api_stream_unsent(s->stream) > EXEC_UNSENT_MAX &&
	    sd_event_add_time_relative(s->cs->daemon->event, &s->drain_timer, CLOCK_MONOTONIC, EXEC_DRAIN_POLL_USEC,
	                               1000, on_drain_timer, s) >= 0)
		return;
	chunk_ack(s);
}

static void chunk_deliver(void *userdata) {
	struct exec_chunk *c = userdata;
	struct exec_session *s = c->s;
	json_t *line;
	size_t i;

	session_begin(s);
	json_array_foreach(c->lines, i, line) {
		if (!s->stream || api_stream_send_json(s->stream, json_incref(line)) < 0) {
			session_cancel(s);
			break;
		}
	}
	json_decref(c->lines);
	free(c);
	chunk_ack_when_drained(s);
}

static void session_done(void *userdata) {
	struct exec_session *s = userdata;

	if (!s->streaming || (!s->begun && s->err)) {
		/* Buffered, or nothing streamed yet: a plain reply (404, 400, 501). */
		if (s->err) {
			log_debug("exec in %s: %s", s->id, s->err->message);
			(void)containers_reply_error(s->req, s->err);
		} else
			(void)api_reply_json(s->req, 200, TAKE_PTR(s->reply));
		session_free(s);
		return;
	}
	session_begin(s);
	if (s->stream) {
		if (s->err)
			(void)api_stream_send_error(s->stream, s->err);
		else
			(void)api_stream_send_json(s->stream, json_pack("{s:i}", "exit_code", s->exit_code));
		api_stream_set_closed_callback(s->stream, NULL, NULL);
		api_stream_end(s->stream);
		s->stream = NULL;
	}
	session_free(s);
}

/* --- worker --------------------------------------------------------------------- */

/* Hand lines (stolen) to the loop; with wait, until they are on the stream
 * and the client has caught up. */
static void session_post(struct exec_session *s, json_t *lines, bool wait) {
	struct exec_chunk *c = xnew(struct exec_chunk, 1);

	c->s = s;
	c->lines = lines;
	pthread_mutex_lock(&s->lock);
	s->in_flight++;
	pthread_mutex_unlock(&s->lock);
	daemon_post(s->cs->daemon, chunk_deliver, c);
	if (!wait)
		return;
	pthread_mutex_lock(&s->lock);
	while (s->in_flight > 0 && !session_stopped(s)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += EXEC_WAIT_SLICE_NSEC;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Bytes at the end of p[0..n) that start a UTF-8 character and lack its
 * continuation bytes (0 when the end is complete, or not UTF-8 at all). */
static size_t utf8_incomplete_tail(const unsigned char *p, size_t n) {
	for (size_t k = 1; k <= MIN(n, (size_t)EXEC_UTF8_HELD_MAX); k++) {
		unsigned char c = p[n - k];
		size_t need;

		if ((c & 0xc0) == 0x80)
			continue; /* a continuation byte: look further back */
		if (c < 0xc0)
			return 0;
		need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		return need > k ? k : 0;
	}
	return 0;
}

static json_t *output_line(enum exec_stream st, const char *data, size_t len) {
	json_t *text = memchr(data, '\0', len) ? NULL : json_stringn(data, len);
	_cleanup_free_ char *b64 = NULL;

	if (text)
		return json_pack("{s:s, s:o}", "stream", exec_stream_to_string(st), "data", text);
	b64 = base64_encode(data, len);
	return json_pack("{s:s, s:s, s:s}", "stream", exec_stream_to_string(st), "data", b64, "encoding", "base64");
}

/* data after what was held back for st, less the incomplete character at
 * its end unless final, as a line (NULL: nothing to send yet). */
static json_t *session_line(struct exec_session *s, enum exec_stream st, const char *data, size_t len, bool final) {
	_cleanup_free_ char *all = NULL;
	size_t n = s->n_held[st] + len, keep;

	if (n == 0)
		return NULL;
	all = xmalloc(n);
	memcpy(all, s->held[st], s->n_held[st]);
	if (len > 0)
		memcpy(all + s->n_held[st], data, len);
	keep = final ? 0 : utf8_incomplete_tail((const unsigned char *)all, n);
	memcpy(s->held[st], all + n - keep, keep);
	s->n_held[st] = keep;
	return n > keep ? output_line(st, all, n - keep) : NULL;
}

static void on_started(void *userdata) {
	struct exec_session *s = userdata;

	session_post(s, json_array(), false); /* begins the stream */
}

static int on_output(enum exec_stream st, const char *data, size_t len, void *userdata) {
	struct exec_session *s = userdata;
	json_t *line;

	if (session_stopped(s))
		return -ECANCELED;
	line = session_line(s, st, data, len, false);
	if (line)
		session_post(s, json_pack("[o]", line), true);
	return session_stopped(s) ? -ECANCELED : 0;
}

static int on_collect(enum exec_stream st, const char *data, size_t len, void *userdata) {
	struct exec_session *s = userdata;
	size_t room = EXEC_OUTPUT_MAX - MIN((size_t)EXEC_OUTPUT_MAX, s->collected[st].len);

	if (session_stopped(s))
		return -ECANCELED;
	strbuf_add(&s->collected[st], data, MIN(len, room)); /* the rest is read and dropped */
	return 0;
}

/* Text for the buffered reply: invalid UTF-8 and NUL bytes (which strict
 * JSON parsers refuse as \u0000) become U+FFFD. */
static json_t *output_text(const char *s, size_t len) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	len = MIN(len, (size_t)EXEC_OUTPUT_MAX);
	if (!s || !memchr(s, '\0', len))
		return json_string_lossy(s, len);
	for (const char *p = s, *end = s + len, *nul; p < end; p = nul + 1) {
		nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul)
			nul = end;
		strbuf_add(&sb, p, (size_t)(nul - p));
		if (nul < end)
			strbuf_add(&sb, "\xef\xbf\xbd", 3);
	}
	return json_string_lossy(sb.buf, sb.len);
}

static json_t *buffered_reply(int exit_code, const char *out, size_t out_len, const char *err, size_t err_len) {
	return json_pack("{s:i, s:o, s:o}", "exit_code", exit_code, "stdout", output_text(out, out_len), "stderr",
	                 output_text(err, err_len));
}

/* Buffered: collected from the stream where the runtime streams, so that a
 * daemon that stops cancels it too; else the runtime's own exec. */
static int session_run_buffered(struct exec_session *s, const struct exec_options *o) {
	struct runtime *rt = s->cs->rt;
	struct exec_result res = {};
	struct strbuf *c = s->collected;
	int r;

	if (rt->ops->exec_stream) {
		r = rt->ops->exec_stream(
		        rt, s->id, o,
		        &(struct exec_stream_io){ .output = on_collect, .userdata = s, .cancel_fd = s->cancel_fd },
		        &s->exit_code, &s->err);
		if (r >= 0)
			s->reply = buffered_reply(s->exit_code, strbuf_str(&c[EXEC_STREAM_STDOUT]),
			                          c[EXEC_STREAM_STDOUT].len, strbuf_str(&c[EXEC_STREAM_STDERR]),
			                          c[EXEC_STREAM_STDERR].len);
		return r;
	}
	r = rt->ops->exec(rt, s->id, o, EXEC_OUTPUT_MAX, &res, &s->err);
	if (r < 0)
		return r;
	s->exit_code = res.exit_code;
	s->reply = buffered_reply(res.exit_code, res.out, res.out_len, res.err, res.err_len);
	exec_result_release(&res);
	return 0;
}

static int session_run(struct exec_session *s) {
	struct runtime *rt = s->cs->rt;
	const struct exec_options o = { .argv = s->argv, .env = s->env, .workdir = s->workdir, .user = s->user };
	int r;

	if (!s->streaming)
		return session_run_buffered(s, &o);
	if (!rt->ops->exec_stream)
		return za_error_make(&s->err, ZA_ERROR_UNSUPPORTED, EOPNOTSUPP,
		                     "the '%s' runtime cannot stream an exec; call without stream=1", rt->ops->name);
	r = rt->ops->exec_stream(
	        rt, s->id, &o,
	        &(struct exec_stream_io){
	                .started = on_started, .output = on_output, .userdata = s, .cancel_fd = s->cancel_fd },
	        &s->exit_code, &s->err);
	if (r < 0)
		return r;
	/* what a read split and nothing completed */
	for (int st = 0; st < _EXEC_STREAM_MAX; st++) {
		json_t *line = session_line(s, (enum exec_stream)st, NULL, 0, true);
		if (line)
			session_post(s, json_pack("[o]", line), true);
	}
	return 0;
}

static void session_unlink(struct exec_session *s) {
	struct containers *cs = s->cs;

	pthread_mutex_lock(&cs->lock);
	if (s->prev)
		s->prev->next = s->next;
	else if (cs->execs == s)
		cs->execs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	pthread_mutex_unlock(&cs->lock);
}

static void *session_thread(void *userdata) {
	struct exec_session *s = userdata;
	struct containers *cs = s->cs;
	struct container_status st = {};
	char *id = NULL;
	int r;

	r = containers_resolve(cs, s->id, &id, &st, &s->err);
	if (r >= 0) {
		container_status_release(&st);
		free(s->id);
		s->id = id;
		r = session_run(s);
	}
	if (r < 0 && atomic_load(&s->shutdown)) {
		s->err = za_error_free(s->err);
		za_error_make(&s->err, ZA_ERROR_UNSUPPORTED, ESHUTDOWN, "the daemon is shutting down");
	} else if (r < 0 && !s->err)
		za_error_make(&s->err, ZA_ERROR_INTERNAL, r, "exec in container '%s' failed: %m", s->id);
	else if (r >= 0)
		log_debug("exec in %s: %s exited %d", s->id, s->argv[0], s->exit_code);
	session_unlink(s);
	daemon_post(cs->daemon, session_done, s);
	containers_thread_exit(cs);
	return NULL;
}

/* --- request ------------------------------------------------------------------- */

static const struct api_body_field exec_body[] = {
	{ .name = "argv",
	  .types = API_JSON_ARRAY,
	  .required = true,
	  .items = API_JSON_STRING,
	  .max = CONTAINER_JSON_ARRAY_MAX },
	{ .name = "env", .types = API_JSON_ARRAY, .items = API_JSON_STRING, .max = CONTAINER_JSON_ARRAY_MAX },
	{ .name = "workdir", .types = API_JSON_STRING, .max = PATH_MAX },
	{ .name = "user", .types = API_JSON_STRING, .max = EXEC_USER_MAX },
	{},
};

static char **strv_from_json(json_t *arr) {
	char **l = xnew(char *, json_array_size(arr) + 1);
	json_t *e;
	size_t i;

	json_array_foreach(arr, i, e) l[i] = xstrdup(json_string_value(e));
	return l;
}

/* What api_body_check cannot say: contents. */
static int exec_body_check(json_t *body, struct za_error **reterr) {
	const char *workdir = api_body_string(body, "workdir");
	json_t *e;
	size_t i;

	if (json_array_size(json_object_get(body, "argv")) == 0)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "request body: field 'argv' must have at least one entry (the command)");
	json_array_foreach(json_object_get(body, "env"), i, e) {
		const char *kv = json_string_value(e);
		if (kv[0] == '=' || !strchr(kv, '='))
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "request body: field 'env[%zu]' must be of the form NAME=VALUE", i);
	}
	if (workdir && workdir[0] != '/')
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "request body: field 'workdir' must be an absolute path");
	return 0;
}

static int handle_exec(struct api_request *req, void *userdata) {
	struct containers *cs = userdata;
	const char *id = api_request_query(req, "id");
	json_t *body = api_request_body(req);
	_cleanup_za_error_ struct za_error *err = NULL;
	struct exec_session *s;
	const char *v;
	bool streaming;

	if (isempty(id))
		return containers_reply_bad_query(req, "id", "is required");
	if (api_query_bool(req, "stream", false, &streaming, &err) < 0 || api_body_check(body, exec_body, &err) < 0 ||
	    exec_body_check(body, &err) < 0)
		return api_reply_error(req, err);

	s = xnew(struct exec_session, 1);
	s->cs = cs;
	s->req = req;
	s->streaming = streaming;
	s->id = xstrdup(id);
	s->argv = strv_from_json(json_object_get(body, "argv"));
	if (json_is_array(json_object_get(body, "env")))
		s->env = strv_from_json(json_object_get(body, "env"));
	if ((v = api_body_string(body, "workdir")))
		s->workdir = xstrdup(v);
	if ((v = api_body_string(body, "user")) && !isempty(v))
		s->user = xstrdup(v);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->cancel_fd < 0) {
		session_free(s);
		return api_reply_error_status(req, 500, ZA_ERROR_INTERNAL, "cannot create an eventfd: %m");
	}

	pthread_mutex_lock(&cs->lock);
	s->next = cs->execs;
	if (cs->execs)
		cs->execs->prev = s;
	cs->execs = s;
	pthread_mutex_unlock(&cs->lock);

	api_request_suspend(req);
	if (containers_spawn(cs, session_thread, s, &err) < 0) {
		session_unlink(s);
		session_free(s);
		(void)containers_reply_error(req, err);
		return 0;
	}
	return API_ASYNC;
}

/* Shutdown: every exec is cancelled; streams end with an error line. */
static void exec_stop(struct daemon *d, void *userdata) {
	struct containers *cs = userdata;

	pthread_mutex_lock(&cs->lock);
	for (struct exec_session *s = cs->execs; s; s = s->next) {
		atomic_store(&s->shutdown, true);
		(void)eventfd_write(s->cancel_fd, 1);
		pthread_mutex_lock(&s->lock);
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&cs->lock);
}

void containers_exec_register(struct containers *cs) {
	daemon_add_hook(cs->daemon, DAEMON_HOOK_STOP, exec_stop, cs);
	api_server_add_route(cs->daemon->api, "POST", "/v1/containers/exec", handle_exec, cs);
}
