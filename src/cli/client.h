/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's side of the API: HTTP over the daemon's unix socket
 * ($ZLAYER_RUNTIME_DIR/agent.sock, default /run/zlayer/agent.sock), spoken
 * by http-client.h (no libcurl: the CLI starts in about a millisecond).
 * Errors come back as za_errors: the daemon's {kind, message}, or
 * a one-line "cannot reach the zlayer-agent daemon ..." when nobody listens. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "basic/error.h"

#define API_CLIENT_REPLY_MAX (64 * 1024 * 1024) /* whole reply of api_client_call */
#define API_CLIENT_LINE_MAX  (1024 * 1024)      /* one line of a stream */

/* The socket the CLI talks to (malloc'd). */
char *api_client_socket_path(void);

/* method + "/v1/images?name=..." (escape values with api_client_escape).
 * body: JSON to send, or NULL (not stolen). *ret_reply (may be NULL) gets the
 * reply's JSON, NULL for an empty reply. An error status yields its
 * {kind, message} with code EREMOTEIO. */
int api_client_call(const char *method, const char *path_and_query, json_t *body, json_t **ret_reply,
                    struct za_error **reterr);

/* For replies that are JSON lines: on_line gets each line (borrowed) as it
 * arrives; a negative return stops the stream and is returned. A line
 * {"error": {"kind", "message"}} ends the stream with that error. */
int api_client_stream(const char *method, const char *path_and_query, json_t *body,
                      int (*on_line)(json_t *line, void *userdata), void *userdata, struct za_error **reterr);

/* Percent-encode s for a query value (RFC 3986 unreserved kept). */
char *api_client_escape(const char *s);

/* True when e says the daemon could not be reached at all (nothing was
 * sent), rather than an error the daemon replied with. */
bool api_client_error_unreachable(const struct za_error *e);
/* Print e on stderr as one line, the way every client verb does:
 * "error: not-found: image 'x' not found", or "error: " and the bare message
 * when the daemon is unreachable. Returns CLI exit status 1. */
int api_client_print_error(const struct za_error *e);
/* api_client_print_error, then free e: `return api_client_fail(err);` */
int api_client_fail(struct za_error *e);
