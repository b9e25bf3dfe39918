/* SPDX-License-Identifier: Apache-2.0 */
/* Environment value references: a whole value `$E:VAR`, `$S:name`,
 * `$S:name/field`, or references inside a string `postgres://${E:PW}@db`,
 * `${S:name/field}`; `$${` is a literal `${`. Parsing is done at validation
 * time; resolving (with caller-provided lookups) at container create. */
#pragma once

#include <stddef.h>

#include "basic/error.h"

enum envref_kind {
	ENVREF_LITERAL,
	ENVREF_ENV,    /* the agent's environment variable */
	ENVREF_SECRET, /* a stored secret, optionally a JSON field of it */
	_ENVREF_KIND_MAX,
	_ENVREF_KIND_INVALID = -1,
};

struct envref_part {
	enum envref_kind kind;
	char *text;  /* literal text, variable name or secret name */
	char *field; /* secret JSON field, or NULL */
};

struct envref {
	struct envref_part *parts;
	size_t n;
};

int envref_parse(const char *value, struct envref *ret, struct za_error **reterr);
void envref_release(struct envref *e);
/* Look up one reference; return 0 and set *ret_value, or fail with an error
 * naming what is missing. */
typedef int (*envref_lookup_fn)(enum envref_kind kind, const char *name, const char *field, void *userdata,
                                char **ret_value, struct za_error **reterr);
int envref_resolve(const struct envref *e, envref_lookup_fn lookup, void *userdata, char **ret,
                   struct za_error **reterr);
/* Variable names: [A-Za-z_][A-Za-z0-9_]*; secret names and fields:
 * [A-Za-z0-9][A-Za-z0-9_.-]* */
bool envref_valid_var_name(const char *s, size_t len);
bool envref_valid_secret_name(const char *s, size_t len);
