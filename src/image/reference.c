/* SPDX-License-Identifier: Apache-2.0 */
#include "image/reference.h"

#include <arpa/inet.h>
#include <stdarg.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

#define DEFAULT_DOMAIN        "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_REPO_PREFIX  "library/"
#define DEFAULT_TAG           "latest"
#define REGISTRY_PREFIX       "docker://"
#define QUOTE_MAX             300

#define TAG_EXPECTED  "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
#define PATH_EXPECTED "lowercase letters and digits separated by '.', '_', '__' or '-'"

static const char *const transport_table[_IMAGE_TRANSPORT_MAX] = {
	[IMAGE_TRANSPORT_REGISTRY] = "docker",
	[IMAGE_TRANSPORT_OCI_LAYOUT] = "oci-layout",
	[IMAGE_TRANSPORT_OCI_ARCHIVE] = "oci-archive",
	[IMAGE_TRANSPORT_DOCKER_ARCHIVE] = "docker-archive",
};

const char *image_transport_to_string(enum image_transport t) {
	if (t < 0 || t >= _IMAGE_TRANSPORT_MAX)
		return NULL;
	return transport_table[t];
}

enum image_transport image_transport_from_string(const char *s) {
	if (!s)
		return _IMAGE_TRANSPORT_INVALID;
	for (int i = 0; i < _IMAGE_TRANSPORT_MAX; i++)
		if (streq(transport_table[i], s))
			return (enum image_transport)i;
	return _IMAGE_TRANSPORT_INVALID;
}

void image_reference_init(struct image_reference *r) {
	*r = (struct image_reference){ .transport = IMAGE_TRANSPORT_REGISTRY };
}

void image_reference_release(struct image_reference *r) {
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	free(r->local_path);
	image_reference_init(r);
}

/* Character classes in plain ASCII: references are not locale-dependent. */
static bool is_lower_alnum(char c) {
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c) {
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c) {
	return is_alnum(c) || c == '_';
}

static bool is_digit(char c) {
	return c >= '0' && c <= '9';
}

static bool is_lower_hex(char c) {
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

static bool is_space(char c) {
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_control(char c) {
	return (unsigned char)c < 0x20 || c == 0x7f;
}

/* Render n bytes of s for an error message: printable ASCII as is, quotes
 * and backslashes and everything else escaped, at most QUOTE_MAX bytes of
 * input followed by "..." so a hostile reference cannot flood a log. */
static char *quote(const char *s, size_t n) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	size_t m = MIN(n, (size_t)QUOTE_MAX);

	for (size_t i = 0; i < m; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' || c == '\'')
			strbuf_addf(&sb, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			strbuf_addch(&sb, (char)c);
		else
			strbuf_addf(&sb, "\\x%02x", c);
	}
	if (m < n)
		strbuf_addstr(&sb, "...");
	return strbuf_detach(&sb, NULL);
}

static int fail(struct za_error **reterr, const char *input, const char *fmt, ...) _printf_(3, 4);
static int fail(struct za_error **reterr, const char *input, const char *fmt, ...) {
	_cleanup_free_ char *why = NULL, *q = NULL;
	va_list ap;

	va_start(ap, fmt);
	why = xvasprintf(fmt, ap);
	va_end(ap);
	q = quote(input, strlen(input));
	return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid image reference '%s': %s", q, why);
}

static bool startswith(const char *s, const char *prefix) {
	return strneq(s, prefix, strlen(prefix));
}

/* Does s begin with one of our local transports' "name:" prefixes? Such a
 * string always parses as a local reference, so no registry reference may
 * print as one. */
static enum image_transport local_transport_prefix(const char *s, size_t *ret_len) {
	for (int i = 0; i < _IMAGE_TRANSPORT_MAX; i++) {
		size_t n = strlen(transport_table[i]);

		if (i == IMAGE_TRANSPORT_REGISTRY)
			continue;
		if (strneq(s, transport_table[i], n) && s[n] == ':') {
			if (ret_len)
				*ret_len = n + 1;
			return (enum image_transport)i;
		}
	}
	return _IMAGE_TRANSPORT_INVALID;
}

static int validate_tag(const char *input, const char *tag, struct za_error **reterr) {
	_cleanup_free_ char *q = NULL;
	size_t n = strlen(tag);
	bool ok = n > 0 && is_word(tag[0]);

	if (n == 0)
		return fail(reterr, input, "tag is empty (expected " TAG_EXPECTED ")");
	for (size_t i = 1; ok && i < n; i++)
		ok = is_word(tag[i]) || tag[i] == '.' || tag[i] == '-';
	q = quote(tag, n);
	if (!ok)
		return fail(reterr, input, "tag '%s' is invalid (expected " TAG_EXPECTED ")", q);
	if (n > IMAGE_REFERENCE_TAG_MAX)
		return fail(reterr, input, "tag '%s' is longer than %d characters", q, IMAGE_REFERENCE_TAG_MAX);
	return 0;
}

static int validate_digest(const char *input, const char *digest, struct za_error **reterr) {
	_cleanup_free_ char *q = NULL;
	const char *colon, *hex;
	size_t want, n;

	if (!*digest)
		return fail(reterr, input, "digest is empty (expected sha256:<64 lowercase hex digits>)");
	q = quote(digest, strlen(digest));
	colon = strchr(digest, ':');
	if (!colon)
		return fail(reterr, input, "digest '%s' is invalid (expected sha256:<64 lowercase hex digits>)", q);
	if (startswith(digest, "sha256:"))
		want = 64;
	else if (startswith(digest, "sha512:"))
		want = 128;
	else {
		_cleanup_free_ char *qa = quote(digest, (size_t)(colon - digest));
		return fail(reterr, input, "digest '%s' uses unsupported algorithm '%s' (expected sha256 or sha512)", q,
		            qa);
	}
	hex = colon + 1;
	n = strlen(hex);
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(hex[i]))
			n = 0; /* force the error below */
	if (n != want)
		return fail(reterr, input, "digest '%s' is invalid (expected %.*s:<%zu lowercase hex digits>)", q,
		            (int)(colon - digest), digest, want);
	return 0;
}

/* [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])? separated by single dots. */
static bool hostname_valid(const char *s, size_t n) {
	size_t i = 0;

	if (n == 0)
		return false;
	for (;;) {
		size_t start = i;

		while (i < n && (is_alnum(s[i]) || s[i] == '-'))
			i++;
		if (i == start || s[start] == '-' || s[i - 1] == '-')
			return false;
		if (i == n)
			return true;
		if (s[i] != '.')
			return false;
		i++;
	}
}

/* Docker allows any run of digits; a port outside 1..65535 can only fail
 * later, so refuse it here where the message can point at it. */
static bool port_valid(const char *s) {
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

static int validate_domain(const char *input, const char *domain, struct za_error **reterr) {
	_cleanup_free_ char *q = quote(domain, strlen(domain));
	const char *port = NULL;

	if (domain[0] == '[') {
		const char *close = strchr(domain, ']');
		char addr[INET6_ADDRSTRLEN];
		struct in6_addr in6;
		size_t n;

		if (!close)
			return fail(reterr, input, "IPv6 address in registry '%s' lacks a closing ']'", q);
		n = (size_t)(close - domain - 1);
		if (n == 0 || n >= sizeof(addr) || strspn(domain + 1, "0123456789abcdefABCDEF:") != n)
			return fail(reterr, input, "invalid IPv6 address in registry '%s'", q);
		memcpy(addr, domain + 1, n);
		addr[n] = '\0';
		if (inet_pton(AF_INET6, addr, &in6) != 1)
			return fail(reterr, input, "invalid IPv6 address in registry '%s'", q);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return fail(reterr, input, "registry '%s' has junk after the IPv6 address (expected ':PORT')",
			            q);
	} else {
		const char *colon = strchr(domain, ':');
		size_t n = colon ? (size_t)(colon - domain) : strlen(domain);

		if (!hostname_valid(domain, n)) {
			_cleanup_free_ char *qh = quote(domain, n);
			return fail(reterr, input,
			            "invalid host name '%s' in registry '%s' (expected letters, digits and '-' in "
			            "dot-separated labels)",
			            qh, q);
		}
		if (colon)
			port = colon + 1;
	}
	if (port && !port_valid(port))
		return fail(reterr, input, "invalid port in registry '%s'", q);
	if (local_transport_prefix(domain, NULL) >= 0)
		return fail(reterr, input, "registry '%s' cannot be told apart from a local transport", q);
	return 0;
}

/* alnum+ ((. | _ | __ | -+) alnum+)* with alnum = [a-z0-9]. */
static bool path_component_valid(const char *s, size_t n) {
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return false;
		if (i == n)
			return true;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return false;
	}
}

static int validate_path(const char *input, const char *path, struct za_error **reterr) {
	size_t n = strlen(path);

	for (size_t i = 0; i < n; i++)
		if (path[i] >= 'A' && path[i] <= 'Z') {
			_cleanup_free_ char *q = quote(path, n);
			return fail(reterr, input, "repository name '%s' must be lowercase", q);
		}
	for (const char *p = path;;) {
		size_t len = strcspn(p, "/");

		if (len == 0) {
			_cleanup_free_ char *q = quote(path, n);
			return fail(reterr, input, "repository name '%s' has an empty path component", q);
		}
		if (!path_component_valid(p, len)) {
			_cleanup_free_ char *q = quote(p, len);
			return fail(reterr, input, "path component '%s' is invalid (expected " PATH_EXPECTED ")", q);
		}
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* A first component is a registry when Docker would take it for one:
 * a dot or a colon (host name, IP, port, IPv6) or exactly "localhost". */
static bool looks_like_domain(const char *s, size_t n) {
	return memchr(s, '.', n) || memchr(s, ':', n) || (n > 0 && s[0] == '[') ||
	       (n == strlen("localhost") && strneq(s, "localhost", n));
}

static bool is_image_id(const char *s) {
	size_t n = strlen(s);

	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return true;
}

static int parse_registry(const char *input, const char *s, struct image_reference *r, struct za_error **reterr) {
	_cleanup_free_ char *name = NULL;
	const char *at, *colon, *slash;
	int k;

	if (is_image_id(s))
		return fail(reterr, input, "repository name cannot be a 64-character hexadecimal string (an image ID)");

	/* Neither name nor tag may contain '@', so the first one starts the digest. */
	at = strchr(s, '@');
	if (at) {
		k = validate_digest(input, at + 1, reterr);
		if (k < 0)
			return k;
		r->digest = xstrdup(at + 1);
		name = xstrndup(s, (size_t)(at - s));
	} else
		name = xstrdup(s);

	/* The last ':' starts a tag unless a '/' follows it ("host:5000/app"). */
	colon = strrchr(name, ':');
	if (colon && !strchr(colon, '/')) {
		k = validate_tag(input, colon + 1, reterr);
		if (k < 0)
			return k;
		r->tag = xstrdup(colon + 1);
		name[colon - name] = '\0';
	}
	if (!name[0])
		return fail(reterr, input, "repository name is empty");

	slash = strchr(name, '/');
	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		r->domain = xstrndup(name, (size_t)(slash - name));
		r->path = xstrdup(slash + 1);
		k = validate_domain(input, r->domain, reterr);
		if (k < 0)
			return k;
		if (streq(r->domain, LEGACY_DEFAULT_DOMAIN)) {
			free(r->domain);
			r->domain = xstrdup(DEFAULT_DOMAIN);
		}
	} else {
		r->domain = xstrdup(DEFAULT_DOMAIN);
		r->path = xstrdup(name);
	}

	if (!r->path[0]) {
		_cleanup_free_ char *q = quote(r->domain, strlen(r->domain));
		return fail(reterr, input, "repository name is empty after registry '%s'", q);
	}
	k = validate_path(input, r->path, reterr);
	if (k < 0)
		return k;
	if (streq(r->domain, DEFAULT_DOMAIN) && !strchr(r->path, '/')) {
		char *p = xasprintf(OFFICIAL_REPO_PREFIX "%s", r->path);
		free(r->path);
		r->path = p;
	}
	if (strlen(r->domain) + 1 + strlen(r->path) > IMAGE_REFERENCE_NAME_MAX)
		return fail(reterr, input, "repository name is longer than %d characters", IMAGE_REFERENCE_NAME_MAX);

	if (!r->tag && !r->digest)
		r->tag = xstrdup(DEFAULT_TAG);
	return 0;
}

static int parse_local(const char *input, enum image_transport t, const char *s, struct image_reference *r,
                       struct za_error **reterr) {
	const char *what = t == IMAGE_TRANSPORT_OCI_LAYOUT ? "directory" : "file";
	size_t n = strlen(s);

	/* oci-layout and oci-archive take an optional ":TAG"; a ':' followed by
	 * a '/' belongs to the path. docker-archive takes the rest verbatim. */
	if (t != IMAGE_TRANSPORT_DOCKER_ARCHIVE) {
		const char *colon = strrchr(s, ':');

		if (colon && !strchr(colon, '/')) {
			int k;

			n = (size_t)(colon - s);
			if (n == 0)
				return fail(reterr, input, "%s: reference needs a %s path", transport_table[t], what);
			k = validate_tag(input, colon + 1, reterr);
			if (k < 0)
				return k;
			r->tag = xstrdup(colon + 1);
		}
	}
	if (n == 0)
		return fail(reterr, input, "%s: reference needs a %s path", transport_table[t], what);
	if (n > IMAGE_REFERENCE_PATH_MAX)
		return fail(reterr, input, "%s: path is longer than %d characters", transport_table[t],
		            IMAGE_REFERENCE_PATH_MAX);
	r->local_path = xstrndup(s, n);
	return 0;
}

int image_reference_parse(const char *s, struct image_reference *ret, struct za_error **reterr) {
	_cleanup_(image_reference_release) struct image_reference r = { .transport = IMAGE_TRANSPORT_REGISTRY };
	enum image_transport t;
	size_t n, skip = 0;
	int k;

	if (isempty(s))
		return fail(reterr, "", "reference is empty");
	n = strnlen(s, IMAGE_REFERENCE_INPUT_MAX + 1);
	if (n > IMAGE_REFERENCE_INPUT_MAX)
		return fail(reterr, s, "reference is longer than %d characters", IMAGE_REFERENCE_INPUT_MAX);
	if (is_space(s[0]) || is_space(s[n - 1]))
		return fail(reterr, s, "reference has leading or trailing whitespace");
	for (size_t i = 0; i < n; i++)
		if (is_control(s[i]))
			return fail(reterr, s, "reference contains control character 0x%02x at offset %zu",
			            (unsigned)(unsigned char)s[i], i);

	t = local_transport_prefix(s, &skip);
	if (t >= 0) {
		r.transport = t;
		k = parse_local(s, t, s + skip, &r, reterr);
	} else {
		if (startswith(s, REGISTRY_PREFIX))
			skip = strlen(REGISTRY_PREFIX);
		k = parse_registry(s, s + skip, &r, reterr);
	}
	if (k < 0)
		return k;

	*ret = r;
	image_reference_init(&r);
	return 0;
}

static void add_tag_digest(struct strbuf *sb, const struct image_reference *r) {
	if (r->tag)
		strbuf_addf(sb, ":%s", r->tag);
	if (r->digest)
		strbuf_addf(sb, "@%s", r->digest);
}

static void add_local(struct strbuf *sb, const struct image_reference *r) {
	strbuf_addf(sb, "%s:%s", strna(image_transport_to_string(r->transport)), strempty(r->local_path));
}

char *image_reference_to_string(const struct image_reference *r) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	if (r->transport == IMAGE_TRANSPORT_REGISTRY)
		strbuf_addf(&sb, "%s/%s", strempty(r->domain), strempty(r->path));
	else
		add_local(&sb, r);
	add_tag_digest(&sb, r);
	return strbuf_detach(&sb, NULL);
}

char *image_reference_repository(const struct image_reference *r) {
	if (r->transport == IMAGE_TRANSPORT_REGISTRY)
		return xasprintf("%s/%s", strempty(r->domain), strempty(r->path));
	return xasprintf("%s:%s", strna(image_transport_to_string(r->transport)), strempty(r->local_path));
}

char *image_reference_familiar(const struct image_reference *r) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	const char *path = strempty(r->path);

	if (r->transport != IMAGE_TRANSPORT_REGISTRY)
		return image_reference_to_string(r);

	if (r->domain && streq(r->domain, DEFAULT_DOMAIN)) {
		const char *rest = startswith(path, OFFICIAL_REPO_PREFIX) ? path + strlen(OFFICIAL_REPO_PREFIX) : NULL;
		size_t first = strcspn(path, "/");

		/* Unlike Docker, keep what the short form would lose: "library/"
		 * before a transport name ("library/oci-layout:1" is not
		 * "oci-layout:1"), "docker.io/" before a first component that
		 * would be read back as a registry ("docker.io/a.b/c"). */
		if (rest && !strchr(rest, '/') && image_transport_from_string(rest) <= IMAGE_TRANSPORT_REGISTRY)
			strbuf_addstr(&sb, rest);
		else if (looks_like_domain(path, first))
			strbuf_addf(&sb, "%s/%s", r->domain, path);
		else
			strbuf_addstr(&sb, path);
	} else
		strbuf_addf(&sb, "%s/%s", strempty(r->domain), path);
	add_tag_digest(&sb, r);
	return strbuf_detach(&sb, NULL);
}
