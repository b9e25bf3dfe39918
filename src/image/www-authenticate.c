/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 7235 section 4.1 with the leniency real servers need: commas separate
 * both challenges and params, so an item "name=value" belongs to the current
 * challenge and a bare token starts a new one. */
#include "www-authenticate.h"

#include <strings.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

struct parser {
	const char *s;
	size_t i;
	struct www_auth_challenge *c;
	size_t n;
	/* names seen in the current challenge, for the duplicate check */
	struct {
		size_t start, len;
	} names[WWW_AUTH_PARAMS_MAX];
	size_t n_names;
	struct za_error **reterr;
};

/* ASCII only, whatever the locale says about bytes >= 0x80. */
static bool is_alnum(unsigned char c) {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_tchar(unsigned char c) {
	return c != 0 && (is_alnum(c) || strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token68_char(unsigned char c) {
	return c != 0 && (is_alnum(c) || strchr("-._~+/", c));
}

static bool is_ows(char c) {
	return c == ' ' || c == '\t';
}

static bool is_end_or_comma(const struct parser *p, size_t i) {
	while (is_ows(p->s[i]))
		i++;
	return p->s[i] == '\0' || p->s[i] == ',';
}

static int fail(struct parser *p, int code, const char *what) {
	return za_error_make(p->reterr, ZA_ERROR_PULL_FAILED, code, "invalid WWW-Authenticate header: %s at offset %zu",
	                     what, p->i);
}

static void skip_ows(struct parser *p) {
	while (is_ows(p->s[p->i]))
		p->i++;
}

static size_t token_len(const struct parser *p, size_t i) {
	size_t n = 0;
	while (p->s[i + n] && is_tchar((unsigned char)p->s[i + n]))
		n++;
	return n;
}

/* A token68 runs to the end of the item: 1*chars *"=" then OWS and the end or
 * a comma. Anything else after the scheme must be an auth-param list. */
static size_t token68_len(const struct parser *p, size_t i) {
	size_t n = 0;
	while (p->s[i + n] && is_token68_char((unsigned char)p->s[i + n]))
		n++;
	if (n == 0)
		return 0;
	while (p->s[i + n] == '=')
		n++;
	return is_end_or_comma(p, i + n) ? n : 0;
}

/* "name BWS = BWS value" with a non-empty value starts at i? */
static bool looks_like_param(const struct parser *p, size_t i) {
	size_t n = token_len(p, i);
	unsigned char c;

	if (n == 0)
		return false;
	i += n;
	while (is_ows(p->s[i]))
		i++;
	if (p->s[i] != '=')
		return false;
	i++;
	while (is_ows(p->s[i]))
		i++;
	c = (unsigned char)p->s[i];
	return c == '"' || (c && is_tchar(c) && c != '=');
}

static int parse_quoted(struct parser *p, char **ret) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	p->i++; /* opening quote */
	for (;;) {
		unsigned char c = (unsigned char)p->s[p->i];

		if (c == '\0')
			return fail(p, EBADMSG, "unterminated quoted string");
		if (c == '"')
			break;
		if (c == '\\') {
			p->i++;
			c = (unsigned char)p->s[p->i];
			if (c == '\0')
				return fail(p, EBADMSG, "unterminated quoted string");
			if (c != '\t' && c < 0x20)
				return fail(p, EBADMSG, "control character in quoted string");
			if (c == 0x7f)
				return fail(p, EBADMSG, "control character in quoted string");
		} else if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, EBADMSG, "control character in quoted string");
		strbuf_addch(&sb, (char)c);
		p->i++;
	}
	p->i++; /* closing quote */
	*ret = strbuf_detach(&sb, NULL);
	return 0;
}

static char **known_param(struct www_auth_challenge *c, const char *name, size_t len) {
	static const struct {
		const char *name;
		size_t offset;
	} table[] = {
		{ "realm", offsetof(struct www_auth_challenge, realm) },
		{ "service", offsetof(struct www_auth_challenge, service) },
		{ "scope", offsetof(struct www_auth_challenge, scope) },
		{ "error", offsetof(struct www_auth_challenge, error) },
	};

	for (size_t k = 0; k < ELEMENTSOF(table); k++)
		if (strlen(table[k].name) == len && strncasecmp(table[k].name, name, len) == 0)
			return (char **)((char *)c + table[k].offset);
	return NULL;
}

static int parse_param(struct parser *p) {
	_cleanup_free_ char *value = NULL;
	size_t name_start = p->i, name_len = token_len(p, p->i);
	char **slot;
	int r;

	if (p->n == 0)
		return fail(p, EBADMSG, "auth-param before any scheme");
	for (size_t k = 0; k < p->n_names; k++)
		if (p->names[k].len == name_len &&
		    strncasecmp(p->s + p->names[k].start, p->s + name_start, name_len) == 0)
			return fail(p, EBADMSG, "duplicate auth-param");
	if (p->n_names >= WWW_AUTH_PARAMS_MAX)
		return fail(p, E2BIG, "too many auth-params in one challenge");
	p->names[p->n_names].start = name_start;
	p->names[p->n_names].len = name_len;
	p->n_names++;

	p->i += name_len;
	skip_ows(p);
	p->i++; /* '=', checked by looks_like_param() */
	skip_ows(p);
	if (p->s[p->i] == '"') {
		r = parse_quoted(p, &value);
		if (r < 0)
			return r;
	} else {
		size_t n = token_len(p, p->i);
		value = xstrndup(p->s + p->i, n);
		p->i += n;
	}

	slot = known_param(&p->c[p->n - 1], p->s + name_start, name_len);
	if (slot)
		*slot = TAKE_PTR(value);
	return 0;
}

static int parse_challenge_start(struct parser *p) {
	struct www_auth_challenge *c;
	size_t n = token_len(p, p->i);

	if (n == 0)
		return fail(p, EBADMSG, "expected an authentication scheme");
	if (p->n >= WWW_AUTH_CHALLENGES_MAX)
		return fail(p, E2BIG, "too many challenges");

	p->c = xrealloc(p->c, (p->n + 1) * sizeof(*p->c));
	c = &p->c[p->n++];
	*c = (struct www_auth_challenge){ .scheme = xstrndup(p->s + p->i, n) };
	for (char *q = c->scheme; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	p->n_names = 0;
	p->i += n;

	if (is_end_or_comma(p, p->i))
		return 0;
	if (!is_ows(p->s[p->i]))
		return fail(p, EBADMSG, "unexpected character after scheme");
	skip_ows(p);

	n = token68_len(p, p->i);
	if (n > 0) {
		p->i += n; /* credentials in a challenge carry nothing we use */
		return 0;
	}
	if (!looks_like_param(p, p->i))
		return fail(p, EBADMSG, "expected token68 or auth-param");
	return parse_param(p);
}

void www_auth_challenges_free(struct www_auth_challenge *c, size_t n) {
	for (size_t k = 0; c && k < n; k++) {
		free(c[k].scheme);
		free(c[k].realm);
		free(c[k].service);
		free(c[k].scope);
		free(c[k].error);
	}
	free(c);
}

int www_authenticate_parse(const char *header, struct www_auth_challenge **ret, size_t *ret_n,
                           struct za_error **reterr) {
	struct parser p = { .s = header, .reterr = reterr };
	int r = 0;

	if (!header)
		p.s = header = "";
	if (strnlen(header, WWW_AUTH_HEADER_MAX + 1) > WWW_AUTH_HEADER_MAX)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, E2BIG,
		                     "invalid WWW-Authenticate header: longer than %d bytes", WWW_AUTH_HEADER_MAX);

	for (;;) {
		/* empty list elements are allowed: ", ,Basic" */
		while (is_ows(p.s[p.i]) || p.s[p.i] == ',')
			p.i++;
		if (p.s[p.i] == '\0')
			break;

		if (looks_like_param(&p, p.i))
			r = parse_param(&p);
		else
			r = parse_challenge_start(&p);
		if (r < 0)
			break;

		skip_ows(&p);
		if (p.s[p.i] != '\0' && p.s[p.i] != ',') {
			r = fail(&p, EBADMSG, "expected ',' or end of header");
			break;
		}
	}
	if (r == 0 && p.n == 0) {
		p.i = 0;
		r = fail(&p, EBADMSG, "no challenge");
	}
	if (r < 0) {
		www_auth_challenges_free(p.c, p.n);
		return r;
	}

	*ret = p.c;
	*ret_n = p.n;
	return 0;
}

const struct www_auth_challenge *www_auth_challenges_find(const struct www_auth_challenge *c, size_t n,
                                                          const char *scheme) {
	for (size_t k = 0; k < n; k++)
		if (streq(c[k].scheme, scheme))
			return &c[k];
	return NULL;
}
