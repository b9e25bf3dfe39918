/* SPDX-License-Identifier: Apache-2.0 */
#include "api/api-body.h"

#include <stdarg.h>

#include "api/server.h"
#include "basic/alloc.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

/* Names and values quoted in messages are cut to this many bytes (at a
 * character boundary): a client can send a key of a megabyte. */
#define QUOTE_MAX 64

const char *api_json_type_name(const json_t *v) {
	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_NULL:
		return "null";
	}
	return "a value";
}

const char *api_body_string(const json_t *body, const char *name) {
	return json_string_value(json_object_get(body, name));
}

static unsigned type_bit(const json_t *v) {
	switch (json_typeof(v)) {
	case JSON_STRING:
		return API_JSON_STRING;
	case JSON_INTEGER:
		return API_JSON_INTEGER;
	case JSON_REAL:
		return API_JSON_REAL;
	case JSON_TRUE:
	case JSON_FALSE:
		return API_JSON_BOOLEAN;
	case JSON_OBJECT:
		return API_JSON_OBJECT;
	case JSON_ARRAY:
		return API_JSON_ARRAY;
	case JSON_NULL:
		break;
	}
	return 0;
}

/* "a string", "a string or an integer", "a number, a string or an array". */
static char *types_describe(unsigned types) {
	static const struct {
		unsigned mask;
		const char *name;
	} names[] = {
		{ API_JSON_STRING, "a string" }, { API_JSON_NUMBER, "a number" },   { API_JSON_INTEGER, "an integer" },
		{ API_JSON_REAL, "a number" },   { API_JSON_BOOLEAN, "a boolean" }, { API_JSON_OBJECT, "an object" },
		{ API_JSON_ARRAY, "an array" },
	};
	const char *picked[ELEMENTSOF(names)];
	size_t n = 0;
	unsigned left = types;
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if ((left & names[i].mask) == names[i].mask) {
			picked[n++] = names[i].name;
			left &= ~names[i].mask;
		}
	if (n == 0)
		return xstrdup("nothing");
	for (size_t i = 0; i < n; i++)
		strbuf_addf(&sb, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", picked[i]);
	return strbuf_detach(&sb, NULL);
}

/* s cut to QUOTE_MAX bytes without splitting a UTF-8 sequence. */
static char *quote_cut(const char *s) {
	size_t n = strlen(s);

	if (n <= QUOTE_MAX)
		return xstrdup(s);
	n = QUOTE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return xasprintf("%.*s...", (int)n, s);
}

static int bad(struct za_error **reterr, const char *path, const char *fmt, ...) _printf_(3, 4);
static int bad(struct za_error **reterr, const char *path, const char *fmt, ...) {
	_cleanup_free_ char *m = NULL, *p = quote_cut(path);
	va_list ap;

	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "request body: field '%s' %s", p, m);
}

static int check_object(json_t *obj, const char *path, const struct api_body_field *fields, unsigned depth,
                        struct za_error **reterr);

static int check_string(json_t *v, const char *path, const struct api_body_field *f, struct za_error **reterr) {
	const char *s = json_string_value(v);
	bool found;

	if (strlen(s) != json_string_length(v))
		return bad(reterr, path, "contains a NUL byte");
	if (!f->choices)
		return 0;
	found = false;
	for (const char *const *c = f->choices; *c && !found; c++)
		found = streq(*c, s);
	if (!found) {
		_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
		_cleanup_free_ char *q = quote_cut(s);

		for (const char *const *c = f->choices; *c; c++)
			strbuf_addf(&sb, "%s%s", c == f->choices ? "" : ", ", *c);
		return bad(reterr, path, "must be one of %s, not '%s'", strbuf_str(&sb), q);
	}
	return 0;
}

/* v (not NULL, not null) against the types in mask, then its contents. */
static int check_value(json_t *v, const char *path, const struct api_body_field *f, unsigned mask, unsigned depth,
                       struct za_error **reterr) {
	int r;

	if (!(type_bit(v) & mask)) {
		_cleanup_free_ char *want = types_describe(mask);
		return bad(reterr, path, "must be %s, not %s", want, api_json_type_name(v));
	}
	if (json_is_string(v)) {
		if (f->max && json_string_length(v) > f->max)
			return bad(reterr, path, "is longer than %zu bytes", f->max);
		return check_string(v, path, f, reterr);
	}
	if (json_is_object(v)) {
		if (f->max && json_object_size(v) > f->max)
			return bad(reterr, path, "has more than %zu entries", f->max);
		return f->fields ? check_object(v, path, f->fields, depth + 1, reterr) : 0;
	}
	if (json_is_array(v)) {
		json_t *e;
		size_t i;

		if (f->max && json_array_size(v) > f->max)
			return bad(reterr, path, "has more than %zu entries", f->max);
		if (!f->items)
			return 0;
		if (depth + 1 > API_BODY_DEPTH_MAX)
			return bad(reterr, path, "is nested more than %d levels deep", API_BODY_DEPTH_MAX);
		json_array_foreach(v, i, e) {
			_cleanup_free_ char *p = xasprintf("%s[%zu]", path, i);
			struct api_body_field item = *f;

			/* An entry's own size is not the array's cap. */
			item.max = 0;
			r = check_value(e, p, &item, f->items, depth + 1, reterr);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int check_object(json_t *obj, const char *path, const struct api_body_field *fields, unsigned depth,
                        struct za_error **reterr) {
	const char *key;
	json_t *v;
	int r;

	if (depth > API_BODY_DEPTH_MAX)
		return bad(reterr, path, "is nested more than %d levels deep", API_BODY_DEPTH_MAX);
	json_object_foreach(obj, key, v) {
		const struct api_body_field *f = fields;
		_cleanup_free_ char *p = path ? xasprintf("%s.%s", path, key) : xstrdup(key);

		while (f->name && !streq(f->name, key))
			f++;
		if (!f->name) {
			_cleanup_free_ char *q = quote_cut(p);
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "request body: unknown field '%s'",
			                     q);
		}
		if (json_is_null(v))
			continue;
		r = check_value(v, p, f, f->types, depth, reterr);
		if (r < 0)
			return r;
	}
	for (const struct api_body_field *f = fields; f->name; f++) {
		json_t *e = json_object_get(obj, f->name);
		_cleanup_free_ char *p = NULL;

		if (!f->required || (e && !json_is_null(e)))
			continue;
		p = path ? xasprintf("%s.%s", path, f->name) : xstrdup(f->name);
		return bad(reterr, p, "is required");
	}
	return 0;
}

int api_body_check_at(json_t *obj, const char *path, const struct api_body_field *fields, struct za_error **reterr) {
	_cleanup_(json_decrefp) json_t *empty = NULL;

	if (!obj || json_is_null(obj))
		obj = empty = json_object();
	if (!json_is_object(obj)) {
		if (!path)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "request body must be a JSON object, not %s", api_json_type_name(obj));
		return bad(reterr, path, "must be an object, not %s", api_json_type_name(obj));
	}
	return check_object(obj, path, fields, 0, reterr);
}

int api_body_check(json_t *body, const struct api_body_field *fields, struct za_error **reterr) {
	return api_body_check_at(body, NULL, fields, reterr);
}

int api_query_bool(struct api_request *req, const char *name, bool def, bool *ret, struct za_error **reterr) {
	const char *v = api_request_query(req, name);
	_cleanup_free_ char *q = NULL;
	int b;

	if (isempty(v)) {
		*ret = def;
		return 0;
	}
	b = parse_bool(v);
	if (b >= 0) {
		*ret = b > 0;
		return 0;
	}
	q = quote_cut(v);
	return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
	                     "query parameter '%s' must be a boolean (1, true, yes, on, 0, false, no, off), not '%s'",
	                     name, q);
}
