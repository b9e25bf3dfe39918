/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by server.c (MHD, routing, requests) and server-stream.c (chunked
 * JSON-lines replies) only. */
#pragma once

#include <microhttpd.h>

#include "api/server.h"
#include "basic/strbuf.h"

#define API_DIGEST_LENGTH 32 /* SHA-256 */

struct route {
	char *method;
	char *path;
	api_handler_fn fn;
	void *userdata;
};

/* One listening socket with its own MHD daemon; all share the routes. */
struct api_listener {
	struct api_server *server;
	struct MHD_Daemon *mhd;
	sd_event_source *io_source, *timer_source;
	bool accepting;
	bool need_token;                               /* TCP: "Authorization: Bearer TOKEN" on every request */
	unsigned char token_digest[API_DIGEST_LENGTH]; /* SHA-256 of the token; the token itself is not kept */
};

struct api_server {
	sd_event *event;
	struct api_listener **listeners; /* [0] is the unix socket */
	size_t n_listeners, alloc_listeners;
	struct route *routes;
	size_t n_routes, alloc_routes;
	struct api_request *requests; /* in flight */
	unsigned n_requests;
	bool kick;                        /* a connection was resumed: run every MHD daemon without waiting */
	api_request_observer_fn observer; /* told of every completed request */
	void *observer_userdata;
};

struct api_request {
	unsigned n_ref;              /* the connection's, plus the owner's while suspended */
	struct api_server *server;   /* NULL once completed */
	struct MHD_Connection *conn; /* NULL once completed */
	struct api_request *prev, *next;
	char *method, *path;
	struct strbuf raw; /* body as received */
	json_t *body;
	struct MHD_Response *response; /* answered, not yet queued */
	unsigned status;
	struct api_stream *stream; /* strong */
	size_t discarded;          /* body bytes dropped after too_large */
	bool dispatched, answered, queued, too_large;
	bool suspended;                   /* connection suspended waiting for the owner's reply */
	bool owner_ref;                   /* api_request_suspend()'s reference not yet given back */
	const char *route;                /* the route table's path it matched (for 405 too), or NULL */
	uint64_t start_usec, answer_usec; /* CLOCK_MONOTONIC: headers in, reply ready */
};

struct api_stream {
	unsigned n_ref; /* producer, response, request */
	sd_event *event;
	struct api_request *req; /* weak; NULL once the request completed */
	struct strbuf buf;
	size_t off;   /* bytes of buf already handed to MHD */
	bool ended;   /* the producer let go */
	bool closed;  /* client gone, dropped, or server stopping */
	bool waiting; /* connection suspended in the reader, waiting for data */
	bool notified;
	api_stream_closed_fn closed_fn;
	void *closed_userdata;
	sd_event_source *hup_source, *defer_source;
};

/* Resume conn and make the loop run MHD at once (server.c). */
void server_resume(struct api_server *s, struct MHD_Connection *conn);
/* Record resp as req's answer; by_owner gives back the reference taken by
 * api_request_suspend(). -EALREADY / -ECONNRESET as api_reply_json(). */
int request_answer(struct api_request *req, unsigned status, struct MHD_Response *resp, bool by_owner);
void request_drop_owner_ref(struct api_request *req);
json_t *server_error_body(enum za_error_kind kind, const char *message);
/* The body (NULL: an empty object) as one JSON line, application/json. */
struct MHD_Response *server_response_from_json(json_t *body);

/* server-auth.c: true when the request may go on; otherwise it was answered
 * 401 (with WWW-Authenticate) and logged once, without the token. */
bool server_request_authorized(const struct api_listener *l, struct api_request *req);
void server_token_digest(const char *token, size_t len, unsigned char ret[API_DIGEST_LENGTH]);

/* server-stream.c */
void stream_wake(struct api_stream *st);
/* The server is going away: end the response with an error. */
void stream_shutdown(struct api_stream *st);
/* The request completed (failed: not by a clean end of stream); drops the
 * request's reference. */
void stream_detach(struct api_stream *st, bool failed);
