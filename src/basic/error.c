/* SPDX-License-Identifier: Apache-2.0 */
#include "error.h"

#include <stdarg.h>

#include "alloc.h"
#include "banned.h"

static const struct {
	const char *name;
	const char *label;
	int http_status;
} kind_table[_ZA_ERROR_KIND_MAX] = {
	[ZA_ERROR_NOT_FOUND] = { "not_found", "not-found", 404 },
	[ZA_ERROR_PULL_FAILED] = { "pull_failed", "pull-failed", 502 },
	[ZA_ERROR_CREATE_FAILED] = { "create_failed", "create-failed", 500 },
	[ZA_ERROR_START_FAILED] = { "start_failed", "start-failed", 500 },
	[ZA_ERROR_UNEXPECTED_EXIT] = { "unexpected_exit", "unexpected-exit", 500 },
	[ZA_ERROR_HEALTH_CHECK_FAILED] = { "health_check_failed", "health-check-failed", 503 },
	[ZA_ERROR_INIT_ACTION_FAILED] = { "init_action_failed", "init-action-failed", 500 },
	[ZA_ERROR_TIMEOUT] = { "timeout", "timeout", 504 },
	[ZA_ERROR_DEPENDENCY_TIMEOUT] = { "dependency_timeout", "dependency-timeout", 504 },
	[ZA_ERROR_INVALID_SPEC] = { "invalid_spec", "invalid-spec", 400 },
	[ZA_ERROR_NETWORK] = { "network", "network", 502 },
	[ZA_ERROR_CONFIGURATION] = { "configuration", "configuration", 400 },
	[ZA_ERROR_INTERNAL] = { "internal", "internal", 500 },
	[ZA_ERROR_UNSUPPORTED] = { "unsupported", "unsupported", 501 },
	[ZA_ERROR_GPU_UNAVAILABLE] = { "gpu_unavailable", "gpu-unavailable", 503 },
	[ZA_ERROR_GPU_SHARING_UNAVAILABLE] = { "gpu_sharing_unavailable", "gpu-sharing-unavailable", 503 },
	[ZA_ERROR_ROUTE_TO_PEER] = { "route_to_peer", "route-to-peer", 409 },
	[ZA_ERROR_WRONG_PLATFORM] = { "wrong_platform", "wrong-platform", 400 },
	[ZA_ERROR_UNAUTHORIZED] = { "unauthorized", "unauthorized", 401 },
};

static bool kind_valid(enum za_error_kind kind) {
	return kind >= 0 && kind < _ZA_ERROR_KIND_MAX;
}

const char *za_error_kind_to_string(enum za_error_kind kind) {
	return kind_valid(kind) ? kind_table[kind].name : NULL;
}

const char *za_error_kind_to_label(enum za_error_kind kind) {
	return kind_valid(kind) ? kind_table[kind].label : NULL;
}

enum za_error_kind za_error_kind_from_string(const char *s) {
	if (!s)
		return _ZA_ERROR_KIND_INVALID;
	for (int i = 0; i < _ZA_ERROR_KIND_MAX; i++)
		if (streq(kind_table[i].name, s))
			return (enum za_error_kind)i;
	return _ZA_ERROR_KIND_INVALID;
}

int za_error_kind_http_status(enum za_error_kind kind) {
	return kind_valid(kind) ? kind_table[kind].http_status : 500;
}

int za_error_make(struct za_error **reterr, enum za_error_kind kind, int code, const char *fmt, ...) {
	struct za_error *e;
	va_list ap;

	code = code < 0 ? -code : code;
	if (code == 0)
		code = EIO;
	if (!reterr || *reterr)
		return -code;

	e = xnew(struct za_error, 1);
	e->kind = kind_valid(kind) ? kind : ZA_ERROR_INTERNAL;
	e->code = code;
	errno = code; /* for %m */
	va_start(ap, fmt);
	e->message = xvasprintf(fmt, ap);
	va_end(ap);
	*reterr = e;
	return -code;
}

int za_error_wrap(struct za_error **reterr, const char *fmt, ...) {
	_cleanup_free_ char *prefix = NULL;
	struct za_error *e;
	va_list ap;
	char *m;

	if (!reterr || !*reterr)
		return -EIO;
	e = *reterr;
	errno = e->code;
	va_start(ap, fmt);
	prefix = xvasprintf(fmt, ap);
	va_end(ap);
	m = xasprintf("%s: %s", prefix, e->message);
	free(e->message);
	e->message = m;
	return -e->code;
}

char *za_error_format(const struct za_error *e) {
	if (!e)
		return xstrdup("internal: unknown error");
	return xasprintf("%s: %s", za_error_kind_to_label(e->kind), e->message);
}

int za_error_set_required_os(struct za_error **reterr, const char *os) {
	struct za_error *e = reterr ? *reterr : NULL;

	if (!e)
		return -EIO;
	if (e->kind == ZA_ERROR_ROUTE_TO_PEER && os) {
		free(e->required_os);
		e->required_os = xstrdup(os);
	}
	return -e->code;
}

struct za_error *za_error_free(struct za_error *e) {
	if (e) {
		free(e->required_os);
		free(e->message);
		free(e);
	}
	return NULL;
}
