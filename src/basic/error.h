/* SPDX-License-Identifier: Apache-2.0 */
/* The error object that fallible module functions hand back through their
 * last argument `struct za_error **reterr`: an errno-style code, a kind from
 * the seed's taxonomy (stable name + HTTP status for the API), a message. */
#pragma once

#include "macro.h"

enum za_error_kind {
	ZA_ERROR_NOT_FOUND,
	ZA_ERROR_PULL_FAILED,
	ZA_ERROR_CREATE_FAILED,
	ZA_ERROR_START_FAILED,
	ZA_ERROR_UNEXPECTED_EXIT,
	ZA_ERROR_HEALTH_CHECK_FAILED,
	ZA_ERROR_INIT_ACTION_FAILED,
	ZA_ERROR_TIMEOUT,
	ZA_ERROR_DEPENDENCY_TIMEOUT,
	ZA_ERROR_INVALID_SPEC,
	ZA_ERROR_NETWORK,
	ZA_ERROR_CONFIGURATION,
	ZA_ERROR_INTERNAL,
	ZA_ERROR_UNSUPPORTED,
	ZA_ERROR_GPU_UNAVAILABLE,
	ZA_ERROR_GPU_SHARING_UNAVAILABLE,
	ZA_ERROR_ROUTE_TO_PEER,
	ZA_ERROR_WRONG_PLATFORM,
	ZA_ERROR_UNAUTHORIZED, /* 401: an API listener that wants a bearer token */
	_ZA_ERROR_KIND_MAX,
	_ZA_ERROR_KIND_INVALID = -1,
};

struct za_error {
	enum za_error_kind kind;
	int code;      /* positive errno value */
	char *message; /* what failed, then why; no kind prefix */
	/* route_to_peer: the operating system a node must run to take the
	 * work ("windows"); the API replies carry it as "required_os". */
	char *required_os;
};

/* Stable API name: "not_found", "route_to_peer", ... */
const char *za_error_kind_to_string(enum za_error_kind kind);
enum za_error_kind za_error_kind_from_string(const char *s);
/* Prefix used in human-readable output: "not-found", "route-to-peer". */
const char *za_error_kind_to_label(enum za_error_kind kind);
int za_error_kind_http_status(enum za_error_kind kind);

/* Store a new error in *reterr (if reterr is non-NULL and *reterr is NULL)
 * and return -code. `code` is a positive or negative errno; %m in fmt
 * expands to strerror(code). */
int za_error_make(struct za_error **reterr, enum za_error_kind kind, int code, const char *fmt, ...) _printf_(4, 5);
/* Prefix the message of *reterr with context ("pull 'x': ") and return
 * -code. If reterr is NULL or empty, returns -EIO. */
int za_error_wrap(struct za_error **reterr, const char *fmt, ...) _printf_(2, 3);
/* Attach the OS a route_to_peer error in *reterr needs (nothing for other
 * kinds, or no error); returns -code of *reterr, -EIO without one. */
int za_error_set_required_os(struct za_error **reterr, const char *os);
/* "route-to-peer: service 'web' requires OS 'windows' on another node" */
char *za_error_format(const struct za_error *e);
struct za_error *za_error_free(struct za_error *e);
static inline void za_error_freep(struct za_error **e) {
	*e = za_error_free(*e);
}
#define _cleanup_za_error_ _cleanup_(za_error_freep)
