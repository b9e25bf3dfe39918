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
 * Every listener (the unix socket, an optional TCP address) has its own MHD
 * daemon; all share the route table, the requests in flight and the loop.
 * A TCP listener wants "Authorization: Bearer TOKEN" on every request
 * (server-auth.c): it is checked before the body is read, in constant time.
 * An observer hears of every completed request (for /metrics). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
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

#define API_TOKEN_BYTES    32 /* random bytes; the token file holds them as 64 hex characters */
#define API_TOKEN_FILE_MAX 4096
#define API_TOKEN_REALM    "zlayer-agent"

struct api_server;
struct api_request;
struct api_stream;

typedef int (*api_handler_fn)(struct api_request *req, void *userdata);
typedef void (*api_stream_closed_fn)(struct api_stream *st, void *userdata);

/* Create, bind and listen on a unix socket at path with mode (and group gid
 * unless gid is (gid_t)-1). A stale socket file is replaced: callers hold
 * the runtime directory's lock. Returns the fd (O_CLOEXEC | O_NONBLOCK). */
int api_listen_unix(const char *path, mode_t mode, gid_t gid, struct za_error **reterr);

/* server-auth.c: "A.B.C.D:PORT" or "[V6]:PORT", numeric only; port 0 lets
 * the kernel choose one. */
int api_address_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len, struct za_error **reterr);
/* "127.0.0.1:8080", "[::1]:8080" (malloc'd); "?" for other families. */
char *api_address_format(const struct sockaddr *sa);
bool api_address_is_loopback(const struct sockaddr *sa);
/* Bind and listen on address (SO_REUSEADDR); *ret_bound gets the address
 * with the port the kernel chose. Returns the fd (O_CLOEXEC | O_NONBLOCK). */
int api_listen_tcp(const char *address, char **ret_bound, bool *ret_loopback, struct za_error **reterr);
/* The API token in path: 64 hex characters (and an optional newline) in a
 * regular file no one but its owner may read. A missing file is created
 * (mode 0600, atomically) with API_TOKEN_BYTES from getrandom() when create
 * is set. Looser modes and other contents are refused, never repaired. */
int api_token_load(const char *path, bool create, char **ret_token, bool *ret_created, struct za_error **reterr);

/* Serve on listen_fd (taken over, also on failure) from the loop `event`.
 * Registers GET /v1/version and GET /v1/ping. */
int api_server_new(sd_event *event, int listen_fd, struct api_server **ret, struct za_error **reterr);
/* Resumes suspended requests (answering them 503), ends streams, closes all
 * connections. Safe with requests and streams still referenced elsewhere. */
/* Serve listen_fd (taken over, also on failure) too, with the same routes.
 * With bearer_token, every request must carry "Authorization: Bearer
 * TOKEN" or is answered 401 before its body is read; only a digest of the
 * token is kept. */
int api_server_add_listener(struct api_server *s, int listen_fd, const char *bearer_token, struct za_error **reterr);
struct api_server *api_server_free(struct api_server *s);
static inline void api_server_freep(struct api_server **s) {
	*s = api_server_free(*s);
}

/* Exact path ("/v1/images"); several methods may share a path. The route
 * table is fixed once the loop runs: add routes at start-up only. */
int api_server_add_route(struct api_server *s, const char *method, const char *path, api_handler_fn fn, void *userdata);
/* Close the listening sockets; requests in flight continue. */
void api_server_stop_accepting(struct api_server *s);
/* Requests received and not yet completed (including suspended ones and
 * open streams). */
unsigned api_server_requests_in_flight(const struct api_server *s);

/* A completed request, as an observer hears of it (loop thread): the method
 * as sent, the route table's path it matched (NULL: none, so a client cannot
 * invent values), the status (0: the client left before a reply) and the
 * time from its headers to its reply being ready (for a stream: to its
 * start; unanswered: to its end). */
struct api_request_record {
	const char *method;
	const char *route;
	unsigned status;
	uint64_t duration_usec;
};
typedef void (*api_request_observer_fn)(const struct api_request_record *rec, void *userdata);
/* One observer; NULL to remove it (before what userdata points to goes). */
void api_server_set_observer(struct api_server *s, api_request_observer_fn fn, void *userdata);

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
/* The JSON form of e in replies and stream lines: {"kind", "message"}, and
 * "required_os" for route_to_peer (NULL e: an internal "unknown error"). */
json_t *api_error_json(const struct za_error *e);
/* Same with an explicit status, for protocol errors without a kind of their
 * own (405, 413). */
int api_reply_error_status(struct api_request *req, unsigned status, enum za_error_kind kind, const char *fmt, ...)
        _printf_(4, 5);
/* A reply that is not JSON: len bytes of body (malloc'd, stolen) with that
 * Content-Type. Returns as api_reply_json(). */
int api_reply_text(struct api_request *req, unsigned status, const char *content_type, char *body, size_t len);

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
/* Bytes queued and not yet handed to the connection: a producer that can
 * wait (exec output) keeps this low instead of being dropped at
 * API_STREAM_BUFFER_MAX. */
size_t api_stream_unsent(const struct api_stream *st);
/* Finish the response after the queued lines and release the stream. */
void api_stream_end(struct api_stream *st);
