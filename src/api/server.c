/* SPDX-License-Identifier: Apache-2.0 */
/* libmicrohttpd driven by sd-event in one thread: the listening socket,
 * routing, request bodies, replies and asynchronous (suspended) requests.
 * Streams are in server-stream.c.
 *
 * MHD runs in "external epoll" mode: its epoll fd is an sd-event io source
 * and a one-shot timer carries MHD_get_timeout(), refreshed by a prepare
 * callback before every poll; a resumed connection forces an immediate run
 * (see server_resume()), so work made pending from outside MHD is never
 * stuck. */
#include "api/server.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "basic/utf8.h"
#include "api/server-internal.h"
#include "basic/banned.h"

#define API_BODY_DISCARD_MAX (16 * API_BODY_MAX)

int api_listen_unix(const char *path, mode_t mode, gid_t gid, struct za_error **reterr) {
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old_umask;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENAMETOOLONG,
		                     "socket path '%s' is longer than %zu bytes; choose a shorter runtime directory",
		                     path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot create API socket: %m");
	if (unlink(path) < 0 && errno != ENOENT)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot remove stale socket '%s': %m", path);
	/* No window in which the socket exists with looser permissions. */
	old_umask = umask(~mode & 0777);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	r = r < 0 ? -errno : 0;
	umask(old_umask);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot bind API socket '%s': %m", path);
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) {
		r = -errno;
		(void)unlink(path);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot give socket '%s' to group %u: %m", path,
		                     (unsigned)gid);
	}
	if (chmod(path, mode) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		(void)unlink(path);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot listen on API socket '%s': %m", path);
	}
	return TAKE_FD(fd);
}

/* ---- requests ---- */

/* MHD_resume_connection() wakes only MHD's own polling thread: in
 * external-epoll mode nothing becomes readable and MHD_get_timeout() does
 * not count resumed connections (seen with 0.9.75), so run MHD right after
 * this loop iteration. */
void server_resume(struct api_server *s, struct MHD_Connection *conn) {
	MHD_resume_connection(conn);
	s->kick = true;
}

static uint64_t now_usec(void) {
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static struct api_request *request_unref(struct api_request *req) {
	if (!req || --req->n_ref > 0)
		return NULL;
	strbuf_release(&req->raw);
	json_decref(req->body);
	free(req->method);
	free(req->path);
	free(req);
	return NULL;
}

void request_drop_owner_ref(struct api_request *req) {
	if (req->owner_ref) {
		req->owner_ref = false;
		request_unref(req);
	}
}

const char *api_request_method(const struct api_request *req) {
	return req->method;
}

const char *api_request_path(const struct api_request *req) {
	return req->path;
}

const char *api_request_query(struct api_request *req, const char *name) {
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

const char *api_request_header(struct api_request *req, const char *name) {
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name) : NULL;
}

json_t *api_request_body(const struct api_request *req) {
	return req->body;
}

bool api_request_gone(const struct api_request *req) {
	return !req->conn;
}

void api_request_suspend(struct api_request *req) {
	if (!req->conn || req->answered || req->suspended)
		return;
	MHD_suspend_connection(req->conn);
	req->suspended = true;
	req->owner_ref = true;
	req->n_ref++;
}

/* Record resp as the answer; it is queued when MHD next calls on_access
 * (right after the handler, or once the resumed connection is processed). */
int request_answer(struct api_request *req, unsigned status, struct MHD_Response *resp, bool by_owner) {
	int r = 0;

	if (req->answered || !req->conn) {
		MHD_destroy_response(resp);
		r = req->answered ? -EALREADY : -ECONNRESET;
	} else {
		req->answered = true;
		req->response = resp;
		req->status = status;
		req->answer_usec = now_usec();
		log_debug("%s %s -> %u", req->method, req->path, status);
		if (req->suspended) {
			req->suspended = false;
			server_resume(req->server, req->conn);
		}
	}
	if (by_owner)
		request_drop_owner_ref(req);
	return r;
}

struct MHD_Response *server_response_from_json(json_t *body) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	struct MHD_Response *resp;
	char *text;
	size_t len;

	text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	strbuf_addstr(&sb, text ? text : "{}");
	strbuf_addch(&sb, '\n');
	free(text);
	text = strbuf_detach(&sb, &len);
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		oom();
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return resp;
}

int api_reply_text(struct api_request *req, unsigned status, const char *content_type, char *body, size_t len) {
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (!resp)
		oom();
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return request_answer(req, status, resp, true);
}

int api_reply_json(struct api_request *req, unsigned status, json_t *body) {
	struct MHD_Response *resp = server_response_from_json(body);
	json_decref(body);
	return request_answer(req, status, resp, true);
}

/* Messages quote what clients sent (paths, ids, query values), which need
 * not be UTF-8: such bytes become U+FFFD rather than losing the reply. */
static json_t *message_json(const char *message) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	const unsigned char *p = (const unsigned char *)strempty(message);
	size_t len = strlen((const char *)p);
	json_t *j = json_stringn((const char *)p, len);

	if (j)
		return j;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_valid_len(p + i, len - i);
		strbuf_add(&sb, n ? (const void *)(p + i) : "\xef\xbf\xbd", n ? n : 3);
		i += n ? n : 1;
	}
	return json_string(strbuf_str(&sb)) ?: json_string("");
}

json_t *server_error_body(enum za_error_kind kind, const char *message) {
	return json_pack("{s:s, s:o}", "kind", za_error_kind_to_string(kind) ?: "internal", "message",
	                 message_json(message));
}

json_t *api_error_json(const struct za_error *e) {
	json_t *j = server_error_body(e ? e->kind : ZA_ERROR_INTERNAL, e ? e->message : "unknown error");

	if (e && e->kind == ZA_ERROR_ROUTE_TO_PEER && e->required_os)
		json_object_set_new(j, "required_os", message_json(e->required_os));
	return j;
}

static int reply_error_body(struct api_request *req, unsigned status, enum za_error_kind kind, const char *message,
                            json_t *body, bool by_owner) {
	struct MHD_Response *resp;

	if (status >= 500)
		log_warning("%s %s: %s: %s", req->method, req->path, za_error_kind_to_label(kind), message);
	else
		log_info("%s %s: %s: %s", req->method, req->path, za_error_kind_to_label(kind), message);
	resp = server_response_from_json(body);
	json_decref(body);
	return request_answer(req, status, resp, by_owner);
}

static int reply_error_internal(struct api_request *req, unsigned status, enum za_error_kind kind, const char *message,
                                bool by_owner) {
	return reply_error_body(req, status, kind, message, server_error_body(kind, message), by_owner);
}

int api_reply_error(struct api_request *req, const struct za_error *e) {
	if (!e)
		return reply_error_internal(req, 500, ZA_ERROR_INTERNAL, "unknown error", true);
	return reply_error_body(req, (unsigned)za_error_kind_http_status(e->kind), e->kind, e->message,
	                        api_error_json(e), true);
}

int api_reply_error_status(struct api_request *req, unsigned status, enum za_error_kind kind, const char *fmt, ...) {
	_cleanup_free_ char *message = NULL;
	va_list ap;

	va_start(ap, fmt);
	message = xvasprintf(fmt, ap);
	va_end(ap);
	return reply_error_internal(req, status, kind, message, true);
}

static void reply_error_server(struct api_request *req, unsigned status, enum za_error_kind kind, const char *fmt, ...)
        _printf_(4, 5);
static void reply_error_server(struct api_request *req, unsigned status, enum za_error_kind kind, const char *fmt,
                               ...) {
	_cleanup_free_ char *message = NULL;
	va_list ap;

	va_start(ap, fmt);
	message = xvasprintf(fmt, ap);
	va_end(ap);
	(void)reply_error_internal(req, status, kind, message, false);
}

/* ---- dispatch ---- */

static int json_error_column(const json_error_t *e) {
	return e->column > 0 ? e->column : 1;
}

static void request_dispatch(struct api_server *s, struct api_request *req) {
	const struct route *route = NULL;
	_cleanup_strbuf_ struct strbuf allowed = STRBUF_INIT;
	int r;

	req->dispatched = true;
	for (size_t i = 0; i < s->n_routes; i++) {
		if (!streq(s->routes[i].path, req->path))
			continue;
		if (streq(s->routes[i].method, req->method)) {
			route = &s->routes[i];
			req->route = route->path;
			break;
		}
		strbuf_addf(&allowed, "%s%s", allowed.len ? ", " : "", s->routes[i].method);
		req->route = s->routes[i].path;
	}
	if (!route && allowed.len == 0) {
		reply_error_server(req, 404, ZA_ERROR_NOT_FOUND, "no API endpoint '%s'", req->path);
		return;
	}
	if (!route) {
		struct MHD_Response *resp;
		json_t *body;
		_cleanup_free_ char *m = xasprintf("method '%s' is not allowed on '%s'; use %s", req->method, req->path,
		                                   strbuf_str(&allowed));

		log_info("%s %s: %s", req->method, req->path, m);
		body = server_error_body(ZA_ERROR_UNSUPPORTED, m);
		resp = server_response_from_json(body);
		json_decref(body);
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, strbuf_str(&allowed));
		(void)request_answer(req, 405, resp, false);
		return;
	}

	if (req->raw.len > 0) {
		json_error_t jerr;

		req->body = json_loadb(req->raw.buf, req->raw.len, JSON_REJECT_DUPLICATES, &jerr);
		if (!req->body) {
			reply_error_server(req, 400, ZA_ERROR_INVALID_SPEC,
			                   "malformed JSON request body at line %d, column %d: %s", jerr.line,
			                   json_error_column(&jerr), jerr.text);
			return;
		}
		if (!json_is_object(req->body)) {
			reply_error_server(req, 400, ZA_ERROR_INVALID_SPEC, "request body must be a JSON object");
			return;
		}
	}
	strbuf_release(&req->raw);

	errno = 0;
	r = route->fn(req, route->userdata);
	if (req->answered || req->suspended)
		return;
	if (r < 0)
		reply_error_server(req, 500, ZA_ERROR_INTERNAL, "%s %s failed: %s", req->method, req->path,
		                   strerror(-r));
	else
		reply_error_server(req, 500, ZA_ERROR_INTERNAL, "%s %s did not reply", req->method, req->path);
}

static enum MHD_Result request_queue(struct api_request *req) {
	enum MHD_Result ok;

	if (!req->response || req->queued)
		return MHD_YES;
	ok = MHD_queue_response(req->conn, req->status, req->response);
	MHD_destroy_response(req->response);
	req->response = NULL;
	req->queued = true;
	return ok;
}

static void reply_too_large(struct api_request *req) {
	reply_error_server(req, 413, ZA_ERROR_INVALID_SPEC, "request body is larger than the limit of %d bytes",
	                   API_BODY_MAX);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
	struct api_listener *l = cls;
	struct api_server *s = l->server;
	struct api_request *req = *con_cls;

	if (!req) {
		const char *cl, *expect;
		uint64_t n = UINT64_MAX;

		req = xnew(struct api_request, 1);
		req->n_ref = 1;
		req->server = s;
		req->conn = conn;
		req->method = xstrdup(method);
		req->start_usec = now_usec();
		req->path = xstrdup(url);
		req->next = s->requests;
		if (s->requests)
			s->requests->prev = req;
		s->requests = req;
		s->n_requests++;
		*con_cls = req;

		/* Before the body: a client without the token sends nothing
		 * further to any handler. */
		if (l->need_token && !server_request_authorized(l, req))
			return request_queue(req);

		/* Too large: answer before the body only if the client waits for
		 * "100 Continue"; closing on a client that is still sending
		 * can reset the connection before it reads our answer. */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && (parse_uint64(cl, &n) < 0 || n > API_BODY_MAX)) {
			expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
			req->too_large = true;
			if (n > API_BODY_DISCARD_MAX || (expect && strcasecmp(expect, "100-continue") == 0)) {
				reply_too_large(req);
				return request_queue(req);
			}
		}
		return MHD_YES;
	}

	if (*upload_data_size > 0) {
		/* MHD takes no response while a body arrives: past the cap we
		 * discard the rest and answer 413 at its end, unless the client
		 * keeps sending far beyond it. */
		if (req->answered && !req->too_large)
			return MHD_NO; /* refused before its body (401): none is read */
		if (req->too_large) {
			req->discarded += *upload_data_size;
			if (req->discarded > API_BODY_DISCARD_MAX)
				return MHD_NO;
		} else if (*upload_data_size > API_BODY_MAX - req->raw.len) {
			strbuf_release(&req->raw);
			req->too_large = true;
		} else
			strbuf_add(&req->raw, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (req->too_large && !req->answered)
		reply_too_large(req);

	if (!req->dispatched && !req->answered)
		request_dispatch(s, req);
	return request_queue(req);
}

static void request_complete(struct api_server *s, struct api_request *req, enum MHD_RequestTerminationCode toe) {
	struct api_stream *st = req->stream;

	if (req->prev)
		req->prev->next = req->next;
	else
		s->requests = req->next;
	if (req->next)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
	s->n_requests--;
	if (s->observer) {
		uint64_t end = req->answered ? req->answer_usec : now_usec();
		struct api_request_record rec = {
			.method = req->method,
			.route = req->route,
			.status = req->answered ? req->status : 0,
			.duration_usec = end > req->start_usec ? end - req->start_usec : 0,
		};
		s->observer(&rec, s->observer_userdata);
	}

	req->conn = NULL;
	req->server = NULL;
	req->suspended = false;
	if (req->response) {
		MHD_destroy_response(req->response);
		req->response = NULL;
	}
	if (st) {
		req->stream = NULL;
		stream_detach(st, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
	}
	request_unref(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
	struct api_request *req = *con_cls;

	if (!req)
		return;
	*con_cls = NULL;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_debug("%s %s: connection ended early (%d)", req->method, req->path, (int)toe);
	request_complete(cls, req, toe);
}

/* ---- loop integration ---- */

/* Every listener's daemon: a kick does not say which one holds the resumed
 * connection, and an idle MHD_run costs one epoll_wait. */
static void server_run(struct api_server *s) {
	s->kick = false;
	for (size_t i = 0; i < s->n_listeners; i++)
		if (MHD_run(s->listeners[i]->mhd) != MHD_YES)
			log_debug("MHD_run failed");
}

static int on_mhd_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
	struct api_listener *l = userdata;

	server_run(l->server);
	return 0;
}

static int on_mhd_timer(sd_event_source *es, uint64_t usec, void *userdata) {
	struct api_listener *l = userdata;

	server_run(l->server);
	return 0;
}

static int on_mhd_prepare(sd_event_source *es, void *userdata) {
	struct api_listener *l = userdata;
	struct api_server *s = l->server;
	MHD_UNSIGNED_LONG_LONG ms;
	uint64_t now;

	/* The kick stays set until MHD runs: sd-event dispatches one source
	 * per iteration, so the armed timer may still be pending here. */
	if (s->kick)
		ms = 0;
	else if (MHD_get_timeout(l->mhd, &ms) != MHD_YES)
		return sd_event_source_set_enabled(l->timer_source, SD_EVENT_OFF);
	if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) < 0)
		now = 0;
	if (ms > UINT64_C(1) << 40)
		ms = UINT64_C(1) << 40;
	(void)sd_event_source_set_time(l->timer_source, now + ms * 1000);
	return sd_event_source_set_enabled(l->timer_source, SD_EVENT_ONESHOT);
}

_printf_(2, 0) static void mhd_logger(void *cls, const char *fmt, va_list ap) {
	_cleanup_free_ char *m = NULL;
	size_t n;

	if (log_get_max_level() < LOG_DEBUG)
		return;
	m = xvasprintf(fmt, ap);
	n = strlen(m);
	while (n > 0 && m[n - 1] == '\n')
		m[--n] = '\0';
	log_debug("microhttpd: %s", m);
}

static int handle_version(struct api_request *req, void *userdata) {
	return api_reply_json(req, 200, json_pack("{s:s, s:i}", "version", ZA_VERSION, "api_version", API_VERSION));
}

static int handle_ping(struct api_request *req, void *userdata) {
	return api_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static struct api_listener *listener_free(struct api_listener *l) {
	if (!l)
		return NULL;
	if (l->mhd)
		MHD_stop_daemon(l->mhd);
	sd_event_source_disable_unref(l->io_source);
	sd_event_source_disable_unref(l->timer_source);
	explicit_bzero(l->token_digest, sizeof(l->token_digest));
	free(l);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct api_listener *, listener_free);

int api_server_add_listener(struct api_server *s, int listen_fd, const char *bearer_token, struct za_error **reterr) {
	_cleanup_close_ int fd = listen_fd;
	_cleanup_(listener_freep) struct api_listener *l = NULL;
	const union MHD_DaemonInfo *info;
	int r;

	l = xnew(struct api_listener, 1);
	l->server = s;
	if (bearer_token) {
		l->need_token = true;
		server_token_digest(bearer_token, strlen(bearer_token), l->token_digest);
	}
	l->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	                          on_access, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_LISTEN_SOCKET,
	                          fd, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONNECTION_MEMORY,
	                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONNECTION_LIMIT,
	                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_TIMEOUT_SEC,
	                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!l->mhd)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EIO, "cannot start the HTTP server (libmicrohttpd)");
	TAKE_FD(fd); /* MHD owns it now */
	l->accepting = true;

	info = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EIO, "HTTP server has no epoll descriptor");
	r = sd_event_add_io(s->event, &l->io_source, info->epoll_fd, EPOLLIN, on_mhd_io, l);
	if (r >= 0)
		r = sd_event_add_time(s->event, &l->timer_source, CLOCK_MONOTONIC, UINT64_MAX, 1, on_mhd_timer, l);
	if (r >= 0)
		r = sd_event_source_set_prepare(l->io_source, on_mhd_prepare);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot watch the HTTP server: %m");
	(void)sd_event_source_set_description(l->io_source, "api-server");
	(void)sd_event_source_set_description(l->timer_source, "api-server-timer");

	GROW(s->listeners, s->alloc_listeners, s->n_listeners + 1);
	s->listeners[s->n_listeners++] = TAKE_PTR(l);
	return 0;
}

int api_server_new(sd_event *event, int listen_fd, struct api_server **ret, struct za_error **reterr) {
	_cleanup_(api_server_freep) struct api_server *s = NULL;
	int r;

	s = xnew(struct api_server, 1);
	s->event = sd_event_ref(event);
	r = api_server_add_listener(s, listen_fd, NULL, reterr);
	if (r < 0)
		return r;

	(void)api_server_add_route(s, "GET", "/v1/version", handle_version, NULL);
	(void)api_server_add_route(s, "GET", "/v1/ping", handle_ping, NULL);
	*ret = TAKE_PTR(s);
	return 0;
}

int api_server_add_route(struct api_server *s, const char *method, const char *path, api_handler_fn fn,
                         void *userdata) {
	for (size_t i = 0; i < s->n_routes; i++)
		if (streq(s->routes[i].method, method) && streq(s->routes[i].path, path))
			return -EEXIST;
	GROW(s->routes, s->alloc_routes, s->n_routes + 1);
	s->routes[s->n_routes++] = (struct route){
		.method = xstrdup(method),
		.path = xstrdup(path),
		.fn = fn,
		.userdata = userdata,
	};
	return 0;
}

void api_server_stop_accepting(struct api_server *s) {
	for (size_t i = 0; i < s->n_listeners; i++) {
		struct api_listener *l = s->listeners[i];
		int fd;

		if (!l->accepting)
			continue;
		l->accepting = false;
		fd = MHD_quiesce_daemon(l->mhd);
		if (fd >= 0)
			(void)close(fd);
	}
}

void api_server_set_observer(struct api_server *s, api_request_observer_fn fn, void *userdata) {
	s->observer = fn;
	s->observer_userdata = userdata;
}

unsigned api_server_requests_in_flight(const struct api_server *s) {
	return s->n_requests;
}

struct api_server *api_server_free(struct api_server *s) {
	if (!s)
		return NULL;
	if (s->n_listeners > 0) {
		api_server_stop_accepting(s);
		/* MHD_stop_daemon must not see suspended connections. */
		for (struct api_request *req = s->requests; req; req = req->next) {
			if (req->suspended)
				reply_error_server(req, 503, ZA_ERROR_INTERNAL, "the daemon is shutting down");
			if (req->stream)
				stream_shutdown(req->stream);
		}
		server_run(s);
	}
	for (size_t i = 0; i < s->n_listeners; i++)
		listener_free(s->listeners[i]);
	free(s->listeners);
	for (size_t i = 0; i < s->n_routes; i++) {
		free(s->routes[i].method);
		free(s->routes[i].path);
	}
	free(s->routes);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}
