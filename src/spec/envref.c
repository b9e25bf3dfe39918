/* SPDX-License-Identifier: Apache-2.0 */
#include "spec/envref.h"

#include <ctype.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

bool envref_valid_var_name(const char *s, size_t len) {
	if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

bool envref_valid_secret_name(const char *s, size_t len) {
	if (len == 0 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

static void envref_push(struct envref *e, size_t *alloc, enum envref_kind kind, const char *text, size_t len,
                        const char *field, size_t field_len) {
	struct envref_part *p;

	/* Merge adjacent literals. */
	if (kind == ENVREF_LITERAL && e->n > 0 && e->parts[e->n - 1].kind == ENVREF_LITERAL) {
		p = &e->parts[e->n - 1];
		size_t old = strlen(p->text);
		p->text = xrealloc(p->text, old + len + 1);
		memcpy(p->text + old, text, len);
		p->text[old + len] = '\0';
		return;
	}
	GROW(e->parts, *alloc, e->n + 1);
	p = &e->parts[e->n++];
	p->kind = kind;
	p->text = xstrndup(text, len);
	p->field = field ? xstrndup(field, field_len) : NULL;
}

/* Parse "E:VAR" / "S:name[/field]" in s[0..len). */
static int envref_parse_ref(const char *value, const char *s, size_t len, struct envref *e, size_t *alloc,
                            struct za_error **reterr) {
	if (len >= 2 && s[0] == 'E' && s[1] == ':') {
		if (!envref_valid_var_name(s + 2, len - 2))
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "invalid environment variable name '%.*s' in '%s' (expected "
			                     "[A-Za-z_][A-Za-z0-9_]*)",
			                     (int)(len - 2), s + 2, value);
		envref_push(e, alloc, ENVREF_ENV, s + 2, len - 2, NULL, 0);
		return 0;
	}
	if (len >= 2 && s[0] == 'S' && s[1] == ':') {
		const char *name = s + 2, *slash = memchr(name, '/', len - 2);
		size_t name_len = slash ? (size_t)(slash - name) : len - 2;
		size_t field_len = slash ? len - 2 - name_len - 1 : 0;

		if (!envref_valid_secret_name(name, name_len))
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "invalid secret name '%.*s' in '%s' (expected [A-Za-z0-9][A-Za-z0-9_.-]*)",
			                     (int)name_len, name, value);
		if (slash && !envref_valid_secret_name(slash + 1, field_len))
			return za_error_make(
			        reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			        "invalid secret field '%.*s' in '%s' (expected [A-Za-z0-9][A-Za-z0-9_.-]*)",
			        (int)field_len, slash + 1, value);
		envref_push(e, alloc, ENVREF_SECRET, name, name_len, slash ? slash + 1 : NULL, field_len);
		return 0;
	}
	return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
	                     "invalid reference '%.*s' in '%s' (expected E:VAR, S:name or S:name/field)", (int)len, s,
	                     value);
}

int envref_parse(const char *value, struct envref *ret, struct za_error **reterr) {
	struct envref e = {};
	size_t alloc = 0;
	const char *p = value;
	int r;

	/* Whole-value forms. */
	if (strneq(value, "$E:", 3) || strneq(value, "$S:", 3)) {
		r = envref_parse_ref(value, value + 1, strlen(value) - 1, &e, &alloc, reterr);
		if (r < 0) {
			envref_release(&e);
			return r;
		}
		*ret = e;
		return 0;
	}

	while (*p) {
		const char *d = strchr(p, '$');

		if (!d) {
			envref_push(&e, &alloc, ENVREF_LITERAL, p, strlen(p), NULL, 0);
			break;
		}
		if (d > p)
			envref_push(&e, &alloc, ENVREF_LITERAL, p, (size_t)(d - p), NULL, 0);
		if (d[1] == '$' && d[2] == '{') { /* escaped */
			envref_push(&e, &alloc, ENVREF_LITERAL, "${", 2, NULL, 0);
			p = d + 3;
			continue;
		}
		if (d[1] == '{' && (d[2] == 'E' || d[2] == 'S') && d[3] == ':') {
			const char *end = strchr(d + 2, '}');
			if (!end) {
				r = za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
				                  "unterminated reference '%s' in '%s' (missing '}')", d, value);
				envref_release(&e);
				return r;
			}
			r = envref_parse_ref(value, d + 2, (size_t)(end - d - 2), &e, &alloc, reterr);
			if (r < 0) {
				envref_release(&e);
				return r;
			}
			p = end + 1;
			continue;
		}
		/* A lone '$' or another ${...} form is literal text. */
		envref_push(&e, &alloc, ENVREF_LITERAL, d, 1, NULL, 0);
		p = d + 1;
	}
	*ret = e;
	return 0;
}

void envref_release(struct envref *e) {
	for (size_t i = 0; i < e->n; i++) {
		free(e->parts[i].text);
		free(e->parts[i].field);
	}
	free(e->parts);
	e->parts = NULL;
	e->n = 0;
}

int envref_resolve(const struct envref *e, envref_lookup_fn lookup, void *userdata, char **ret,
                   struct za_error **reterr) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < e->n; i++) {
		const struct envref_part *p = &e->parts[i];
		_cleanup_free_ char *v = NULL;
		int r;

		if (p->kind == ENVREF_LITERAL) {
			strbuf_addstr(&sb, p->text);
			continue;
		}
		r = lookup(p->kind, p->text, p->field, userdata, &v, reterr);
		if (r < 0)
			return r;
		strbuf_addstr(&sb, v);
	}
	*ret = strbuf_detach(&sb, NULL);
	return 0;
}
