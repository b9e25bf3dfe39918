/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's side of the API: HTTP over the daemon's unix socket
 * ($ZLAYER_RUNTIME_DIR/agent.sock, default /run/zlayer/agent.sock) or its
 * TCP listener (--host / $ZLAYER_HOST tcp://HOST:PORT, with the bearer
 * token from --token-file, $ZLAYER_TOKEN or $ZLAYER_TOKEN_FILE), spoken by
 * http-client.h (no libcurl: the CLI starts in about a millisecond).
 * Errors come back as za_errors: the daemon's {kind, message}, or a
 * one-line "cannot reach the zlayer-agent daemon ..." / "permission denied
 * on SOCKET: ..." when nothing could be sent. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "basic/error.h"

#define API_CLIENT_REPLY_MAX (64 * 1024 * 1024) /* whole reply of api_client_call */
#define API_CLIENT_LINE_MAX  (1024 * 1024)      /* one line of a stream */

/* The default socket, $ZLAYER_RUNTIME_DIR/agent.sock (malloc'd). */
char *api_client_socket_path(void);
/* Global options, set by main() before any call or thread: host is
 * "unix:///PATH" or "tcp://HOST:PORT" (HOST a name, IPv4 or [IPv6]) and
 * wins over $ZLAYER_HOST; path is a file holding the token and wins over
 * $ZLAYER_TOKEN and $ZLAYER_TOKEN_FILE. NULL: the environment decides. */
void api_client_set_host(const char *host);
void api_client_set_token_file(const char *path);
/* Where calls go, for messages: the socket path or "tcp://HOST:PORT". */
char *api_client_endpoint(void);

/* method + "/v1/images?name=..." (escape values with api_client_escape).
 * body: JSON to send, or NULL (not stolen). *ret_reply (may be NULL) gets the
 * reply's JSON, NULL for an empty reply. An error status yields its
 * {kind, message} with code EREMOTEIO; a 401 from a TCP listener an
 * `unauthorized` error saying how to pass the token. */
int api_client_call(const char *method, const char *path_and_query, json_t *body, json_t **ret_reply,
                    struct za_error **reterr);

/* GET a reply that is not JSON (/v1/metrics): its body as it came
 * (NUL-terminated, malloc'd). Errors as api_client_call(). */
int api_client_get_text(const char *path_and_query, char **ret_text, size_t *ret_len, struct za_error **reterr);

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
