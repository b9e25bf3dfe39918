/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>

#include "basic/alloc.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "spec/spec-internal.h"
#include "basic/banned.h"

char *spec_path_join(const char *path, const char *key) {
	return isempty(path) ? xstrdup(key) : xasprintf("%s.%s", path, key);
}

char *spec_path_index(const char *path, size_t i) {
	return xasprintf("%s[%zu]", path, i);
}

void spec_error(struct spec_diagnostics *d, const struct ynode *at, const char *path, const char *fmt, ...) {
	_cleanup_free_ char *m = NULL;
	va_list ap;

	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	spec_diagnostics_add(d, at ? at->line : 0, at ? at->col : 0, path, "%s", m);
}

static size_t levenshtein(const char *a, const char *b) {
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
			c = MIN(c, prev[j] + 1);
			c = MIN(c, cur[j - 1] + 1);
			cur[j] = c;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

const char *spec_suggest(const char *s, const char *const *allowed) {
	const char *best = NULL;
	size_t best_d = SIZE_MAX, limit = strlen(s) <= 4 ? 1 : 2;

	for (const char *const *a = allowed; a && *a; a++) {
		size_t dist = levenshtein(s, *a);
		if (dist <= limit && dist < best_d) {
			best = *a;
			best_d = dist;
		}
	}
	return best;
}

char *spec_join_table(const char *const *table, size_t n) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < n; i++) {
		if (!table[i])
			continue;
		if (sb.len)
			strbuf_addstr(&sb, ", ");
		strbuf_addstr(&sb, table[i]);
	}
	return strbuf_detach(&sb, NULL);
}

bool spec_valid_name(const char *s, size_t min, size_t max) {
	size_t l = strlen(s);

	if (l < min || l > max)
		return false;
	if (!isalnum((unsigned char)s[0]) || s[l - 1] == '-')
		return false;
	for (size_t i = 0; i < l; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

bool sect_open(struct sect *s, struct spec_diagnostics *d, const struct ynode *n, const char *path, const char *where,
               const char *const *allowed) {
	*s = (struct sect){ .diags = d, .node = n, .path = path, .where = where };

	if (!n || n->type != YNODE_MAPPING) {
		spec_error(d, n, path, "expected a mapping, got %s", ynode_describe(n));
		s->node = NULL;
		return false;
	}
	for (size_t i = 0; i < n->n; i++) {
		const char *key = n->keys[i]->value, *hint;
		bool ok = false;
		_cleanup_free_ char *p = NULL;

		for (const char *const *a = allowed; a && *a; a++)
			if (streq(*a, key)) {
				ok = true;
				break;
			}
		if (ok)
			continue;
		p = spec_path_join(path, key);
		hint = spec_suggest(key, allowed);
		if (streq(key, "<<") && !n->keys[i]->quoted)
			spec_error(
			        d, n->keys[i], p,
			        "YAML merge keys ('<<') are not supported in %s; repeat the fields, or alias a whole "
			        "value (env: *common-env)",
			        where);
		else if (hint)
			spec_error(d, n->keys[i], p, "unknown field '%s' in %s (did you mean '%s'?)", key, where, hint);
		else
			spec_error(d, n->keys[i], p, "unknown field '%s' in %s", key, where);
	}
	return true;
}

const struct ynode *sect_get(const struct sect *s, const char *key) {
	const struct ynode *v;

	if (!s->node)
		return NULL;
	v = ynode_get(s->node, key);
	return ynode_is_null(v) ? NULL : v;
}

void sect_missing(const struct sect *s, const char *key) {
	_cleanup_free_ char *p = spec_path_join(s->path, key);
	const struct ynode *n = s->node;

	if (!n)
		return;
	/* A block mapping starts at its first key, an unrelated line: point at
	 * the key that names the mapping instead ("web:" for a service). */
	if (n->block && n->key_line > 0)
		spec_diagnostics_add(s->diags, n->key_line, n->key_col, p, "missing required field '%s' in %s", key,
		                     s->where);
	else
		spec_error(s->diags, n, p, "missing required field '%s' in %s", key, s->where);
}

bool bind_string(struct spec_diagnostics *d, const struct ynode *n, const char *path, char **ret) {
	if (!n || n->type != YNODE_SCALAR || ynode_is_null(n)) {
		spec_error(d, n, path, "expected a string, got %s", ynode_describe(n));
		return false;
	}
	if (strlen(n->value) != n->len) {
		spec_error(d, n, path, "string contains a NUL character");
		return false;
	}
	free(*ret);
	*ret = xstrdup(n->value);
	return true;
}

static bool bind_plain_scalar(struct spec_diagnostics *d, const struct ynode *n, const char *path,
                              const char *expected) {
	if (!n || n->type != YNODE_SCALAR || n->quoted || ynode_is_null(n)) {
		if (n && n->type == YNODE_SCALAR && n->quoted)
			spec_error(d, n, path, "expected %s, got a string '%s' (remove the quotes)", expected,
			           n->value);
		else
			spec_error(d, n, path, "expected %s, got %s", expected, ynode_describe(n));
		return false;
	}
	return true;
}

bool bind_uint(struct spec_diagnostics *d, const struct ynode *n, const char *path, uint64_t min, uint64_t max,
               uint64_t *ret) {
	uint64_t v;
	int64_t sv;
	int r;

	if (!bind_plain_scalar(d, n, path, "an integer"))
		return false;
	r = parse_uint64(n->value, &v);
	if (r == -EINVAL && parse_int64(n->value, &sv) >= 0) {
		/* "+80" is 80; anything else parse_int64 takes is negative. */
		if (sv >= 0) {
			v = (uint64_t)sv;
			r = 0;
		} else if (max == UINT64_MAX || max == UINT32_MAX) {
			spec_error(d, n, path, "value %s is below the minimum of %" PRIu64, n->value, min);
			return false;
		} else
			r = -ERANGE;
	}
	if (r == -ERANGE) {
		spec_error(d, n, path, "value %s is out of range %" PRIu64 "-%" PRIu64, n->value, min, max);
		return false;
	}
	if (r < 0) {
		spec_error(d, n, path, "expected an integer, got %s '%s'", ynode_describe(n), n->value);
		return false;
	}
	if (v < min && (max == UINT64_MAX || max == UINT32_MAX)) {
		spec_error(d, n, path, "value %" PRIu64 " is below the minimum of %" PRIu64, v, min);
		return false;
	}
	if (v < min || v > max) {
		spec_error(d, n, path, "value %" PRIu64 " is out of range %" PRIu64 "-%" PRIu64, v, min, max);
		return false;
	}
	*ret = v;
	return true;
}

bool bind_int(struct spec_diagnostics *d, const struct ynode *n, const char *path, int64_t min, int64_t max,
              int64_t *ret) {
	int64_t v;
	int r;

	if (!bind_plain_scalar(d, n, path, "an integer"))
		return false;
	r = parse_int64(n->value, &v);
	if (r == -ERANGE) {
		spec_error(d, n, path, "value %s is out of range %" PRId64 " to %" PRId64, n->value, min, max);
		return false;
	}
	if (r < 0) {
		spec_error(d, n, path, "expected an integer, got %s '%s'", ynode_describe(n), n->value);
		return false;
	}
	if (v < min && max == INT64_MAX) {
		spec_error(d, n, path, "value %" PRId64 " is below the minimum of %" PRId64, v, min);
		return false;
	}
	if (v < min || v > max) {
		spec_error(d, n, path, "value %" PRId64 " is out of range %" PRId64 " to %" PRId64, v, min, max);
		return false;
	}
	*ret = v;
	return true;
}

bool bind_list(struct spec_diagnostics *d, const struct ynode *n, const char *path) {
	if (!n || n->type != YNODE_SEQUENCE) {
		spec_error(d, n, path, "expected a list, got %s", ynode_describe(n));
		return false;
	}
	return true;
}

#define SECT_VALUE(s, key, v, p)                      \
	const struct ynode *v = sect_get((s), (key)); \
	_cleanup_free_ char *p = NULL;                \
	if (!v)                                       \
		return 0;                             \
	p = spec_path_join((s)->path, (key))

int sect_string(const struct sect *s, const char *key, char **ret) {
	SECT_VALUE(s, key, v, p);
	return bind_string(s->diags, v, p, ret) ? 1 : -1;
}

int sect_bool(const struct sect *s, const char *key, bool *ret) {
	SECT_VALUE(s, key, v, p);
	if (!bind_plain_scalar(s->diags, v, p, "true or false"))
		return -1;
	if (streq(v->value, "true") || streq(v->value, "True") || streq(v->value, "TRUE")) {
		*ret = true;
		return 1;
	}
	if (streq(v->value, "false") || streq(v->value, "False") || streq(v->value, "FALSE")) {
		*ret = false;
		return 1;
	}
	spec_error(s->diags, v, p, "expected true or false, got '%s'", v->value);
	return -1;
}

int sect_uint(const struct sect *s, const char *key, uint64_t min, uint64_t max, uint64_t *ret) {
	SECT_VALUE(s, key, v, p);
	return bind_uint(s->diags, v, p, min, max, ret) ? 1 : -1;
}

int sect_int(const struct sect *s, const char *key, int64_t min, int64_t max, int64_t *ret) {
	SECT_VALUE(s, key, v, p);
	return bind_int(s->diags, v, p, min, max, ret) ? 1 : -1;
}

int sect_u32(const struct sect *s, const char *key, uint32_t min, uint32_t max, uint32_t *ret) {
	uint64_t v;
	int r = sect_uint(s, key, min, max, &v);

	if (r > 0)
		*ret = (uint32_t)v;
	return r;
}

int sect_port(const struct sect *s, const char *key, uint16_t min, uint16_t *ret) {
	uint64_t v;
	int r = sect_uint(s, key, min, 65535, &v);

	if (r > 0)
		*ret = (uint16_t)v;
	return r;
}

int sect_double(const struct sect *s, const char *key, double min, double max, double *ret) {
	double x;

	SECT_VALUE(s, key, v, p);
	if (!bind_plain_scalar(s->diags, v, p, "a number"))
		return -1;
	if (parse_double(v->value, &x) < 0) {
		spec_error(s->diags, v, p, "expected a number, got %s '%s'", ynode_describe(v), v->value);
		return -1;
	}
	if (x < min || x > max) {
		spec_error(s->diags, v, p, "value %s is out of range %g-%g", v->value, min, max);
		return -1;
	}
	*ret = x;
	return 1;
}

int sect_duration(const struct sect *s, const char *key, uint64_t *ret) {
	uint64_t x;
	int r;

	SECT_VALUE(s, key, v, p);
	if (v->type != YNODE_SCALAR) {
		spec_error(s->diags, v, p, "expected a duration like '30s', got %s", ynode_describe(v));
		return -1;
	}
	r = parse_duration(v->value, &x);
	if (r == -ERANGE) {
		spec_error(s->diags, v, p, "duration '%s' is too large", v->value);
		return -1;
	}
	if (r < 0) {
		spec_error(s->diags, v, p,
		           "invalid duration '%s' (expected a number with a unit, e.g. 500ms, 30s, 5m, 1h30m)",
		           v->value);
		return -1;
	}
	*ret = x;
	return 1;
}

int sect_size(const struct sect *s, const char *key, uint64_t *ret) {
	uint64_t x;
	int r;

	SECT_VALUE(s, key, v, p);
	if (v->type != YNODE_SCALAR) {
		spec_error(s->diags, v, p, "expected a size like '512Mi', got %s", ynode_describe(v));
		return -1;
	}
	r = parse_size(v->value, &x);
	if (r == -ERANGE) {
		spec_error(s->diags, v, p, "size '%s' is too large", v->value);
		return -1;
	}
	if (r < 0) {
		spec_error(s->diags, v, p,
		           "invalid size '%s' (expected an integer with a binary suffix, e.g. 64Ki, 512Mi, 2Gi)",
		           v->value);
		return -1;
	}
	*ret = x;
	return 1;
}

int sect_enum(const struct sect *s, const char *key, const char *const *table, size_t n, const char *what, int *ret) {
	_cleanup_free_ char *expected = NULL;

	SECT_VALUE(s, key, v, p);
	if (v->type != YNODE_SCALAR) {
		expected = spec_join_table(table, n);
		spec_error(s->diags, v, p, "expected one of %s, got %s", expected, ynode_describe(v));
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (table[i] && streq(table[i], v->value)) {
			*ret = (int)i;
			return 1;
		}
	expected = spec_join_table(table, n);
	spec_error(s->diags, v, p, "unknown %s '%s' (expected %s)", what, v->value, expected);
	return -1;
}

int sect_strv(const struct sect *s, const char *key, char ***ret) {
	char **l;
	bool ok = true;

	SECT_VALUE(s, key, v, p);
	if (!bind_list(s->diags, v, p))
		return -1;
	l = xnew(char *, v->n + 1);
	for (size_t i = 0; i < v->n; i++) {
		_cleanup_free_ char *ip = spec_path_index(p, i);
		char *item = NULL;

		if (!bind_string(s->diags, v->items[i], ip, &item)) {
			ok = false;
			continue;
		}
		l[strv_length(l)] = item;
	}
	strv_free(*ret);
	*ret = l;
	return ok ? 1 : -1;
}

int sect_kv(const struct sect *s, const char *key, struct spec_kv **ret, size_t *ret_n) {
	struct spec_kv *kv;
	size_t n = 0;
	bool ok = true;

	SECT_VALUE(s, key, v, p);
	if (v->type != YNODE_MAPPING) {
		spec_error(s->diags, v, p, "expected a mapping, got %s", ynode_describe(v));
		return -1;
	}
	kv = xnew(struct spec_kv, v->n ? v->n : 1);
	for (size_t i = 0; i < v->n; i++) {
		_cleanup_free_ char *ip = spec_path_join(p, v->keys[i]->value);
		char *value = NULL;

		if (ynode_is_null(v->items[i])) {
			spec_error(s->diags, v->items[i], ip, "value of '%s' is null (use \"\" for an empty string)",
			           v->keys[i]->value);
			ok = false;
			continue;
		}
		if (!bind_string(s->diags, v->items[i], ip, &value)) {
			ok = false;
			continue;
		}
		kv[n].key = xstrdup(v->keys[i]->value);
		kv[n].value = value;
		n++;
	}
	*ret = kv;
	*ret_n = n;
	return ok ? 1 : -1;
}
