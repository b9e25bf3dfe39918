/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP API server: libmicrohttpd on a listening socket we create, run
 * from the sd-event loop in the loop's own thread (no MHD threads), so
 * handlers may touch service state directly. It owns the route table, the
 * requests in flight and their streams.
 *
 * A handler replies synchronously (api_reply_json / api_reply_error /
 * api_stream_begin before returning 0), or asynchronously: it calls
 * api_request_suspend(), returns API_ASYNC, and later, on the loop thread,
 * one reply call completes it. Requests are reference counted so a late
 * reply after the client left (or after the server is gone) is harmless.
 *
 * Later listeners (TCP with a bearer token) get their own MHD daemon sharing
 * this route table; /metrics will want a non-JSON reply next to
 * api_reply_json. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "basic/error.h"

#define API_VERSION 1

/* Caps on what a client controls. */
#define API_BODY_MAX          (1024 * 1024)     /* request body; larger is 413 */
#define API_STREAM_BUFFER_MAX (8 * 1024 * 1024) /* unsent stream bytes before we drop the client */
#define API_CONNECTION_MEMORY (64 * 1024)       /* per connection: request line + headers */
#define API_CONNECTION_LIMIT  256
#define API_IDLE_TIMEOUT_SEC  120 /* idle or stalled connections; suspended ones never */

#define API_ASYNC 1

struct api_server;
struct api_request;
struct api_stream;

typedef int (*api_handler_fn)(struct api_request *req, void *userdata);
typedef void (*api_stream_closed_fn)(struct api_stream *st, void *userdata);

/* Create, bind and listen on a unix socket at path with mode (and group gid
 * unless gid is (gid_t)-1). A stale socket file is replaced: callers hold
 * the runtime directory's lock. Returns the fd (O_CLOEXEC | O_NONBLOCK). */
int api_listen_unix(const char *path, mode_t mode, gid_t gid, struct za_error **reterr);

/* Serve on listen_fd (taken over, also on failure) from the loop `event`.
 * Registers GET /v1/version and GET /v1/ping. */
int api_server_new(sd_event *event, int listen_fd, struct api_server **ret, struct za_error **reterr);
/* Resumes suspended requests (answering them 503), ends streams, closes all
 * connections. Safe with requests and streams still referenced elsewhere. */
struct api_server *api_server_free(struct api_server *s);
static inline void api_server_freep(struct api_server **s) {
	*s = api_server_free(*s);
}

/* Exact path ("/v1/images"); several methods may share a path. The route
 * table is fixed once the loop runs: add routes at start-up only. */
int api_server_add_route(struct api_server *s, const char *method, const char *path, api_handler_fn fn, void *userdata);
/* Close the listening socket; requests in flight continue. */
void api_server_stop_accepting(struct api_server *s);
/* Requests received and not yet completed (including suspended ones and
 * open streams). */
unsigned api_server_requests_in_flight(const struct api_server *s);

/* Request accessors; strings live as long as the request. */
const char *api_request_method(const struct api_request *req);
const char *api_request_path(const struct api_request *req);
/* Query parameter, URL-decoded; NULL when absent or the client is gone. */
const char *api_request_query(struct api_request *req, const char *name);
/* Request header, NULL when absent or the client is gone. */
const char *api_request_header(struct api_request *req, const char *name);
/* The body as a JSON object, or NULL when the request had none (the server
 * answers 400/413 itself for malformed, non-object or too large bodies). */
json_t *api_request_body(const struct api_request *req);
/* The client hung up, so no reply will reach it. */
bool api_request_gone(const struct api_request *req);

/* Keep req open past the handler's return; the caller owns a reference
 * until one api_reply_json / api_reply_error / api_stream_begin call. */
void api_request_suspend(struct api_request *req);

/* Reply with body (stolen; NULL for an empty object). Returns 0, -EALREADY
 * when req was already answered, -ECONNRESET when the client is gone. */
int api_reply_json(struct api_request *req, unsigned status, json_t *body);
/* {"kind": ..., "message": ...} with the kind's HTTP status. */
int api_reply_error(struct api_request *req, const struct za_error *e);
/* Same with an explicit status, for protocol errors without a kind of their
 * own (405, 413). */
int api_reply_error_status(struct api_request *req, unsigned status, enum za_error_kind kind, const char *fmt, ...)
        _printf_(4, 5);

/* A chunked response of JSON lines. The caller owns the stream until
 * api_stream_end(); it never returns NULL (for a request that is already
 * gone the stream is born closed). A stream that fails after it began sends
 * a last line {"error": {"kind", "message"}} (api_stream_send_error). */
struct api_stream *api_stream_begin(struct api_request *req, unsigned status);
/* Queue one line (stolen). -EPIPE once the client is gone or was dropped
 * for not reading (more than API_STREAM_BUFFER_MAX unsent). */
int api_stream_send_json(struct api_stream *st, json_t *line);
int api_stream_send_error(struct api_stream *st, const struct za_error *e);
/* Called once, on the loop thread and never from inside an api_stream_*
 * call, when the client goes away before api_stream_end(). */
void api_stream_set_closed_callback(struct api_stream *st, api_stream_closed_fn fn, void *userdata);
bool api_stream_closed(const struct api_stream *st);
/* Finish the response after the queued lines and release the stream. */
void api_stream_end(struct api_stream *st);
