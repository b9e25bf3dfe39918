/* SPDX-License-Identifier: Apache-2.0 */
/* Registry authentication: what the challenge asks for, bearer tokens from
 * the realm (GET with basic credentials, or an OAuth2 refresh-token POST
 * when an identity token is configured), and the process-wide token cache
 * that every client in every thread shares. */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "image/registry-internal.h"
#include "image/www-authenticate.h"
#include "basic/banned.h"

#define TOKEN_DEFAULT_LIFETIME_SEC 60
#define TOKEN_MAX                  (64U * 1024U)

struct token_entry {
	char *key; /* realm \n service \n scope \n username */
	char *token;
	uint64_t expires_usec; /* CLOCK_REALTIME */
};

static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;
static struct token_entry token_cache[REGISTRY_TOKEN_CACHE_MAX];
static size_t n_tokens;

static const char *const auth_mode_table[_REGISTRY_AUTH_MODE_MAX] = {
	[REGISTRY_AUTH_NONE] = "anonymous",
	[REGISTRY_AUTH_BASIC] = "basic",
	[REGISTRY_AUTH_BEARER] = "bearer",
};

const char *registry_auth_mode_to_string(enum registry_auth_mode m) {
	return m >= 0 && m < _REGISTRY_AUTH_MODE_MAX ? auth_mode_table[m] : NULL;
}

static void free_secret(char *s) {
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void token_entry_remove(size_t i) {
	free(token_cache[i].key);
	free_secret(token_cache[i].token);
	token_cache[i] = token_cache[--n_tokens];
	token_cache[n_tokens] = (struct token_entry){};
}

static char *token_cache_get(const char *key) {
	uint64_t now = now_usec(CLOCK_REALTIME);
	char *t = NULL;

	pthread_mutex_lock(&token_lock);
	for (size_t i = 0; i < n_tokens; i++) {
		if (!streq(token_cache[i].key, key))
			continue;
		if (now < token_cache[i].expires_usec)
			t = xstrdup(token_cache[i].token);
		else
			token_entry_remove(i);
		break;
	}
	pthread_mutex_unlock(&token_lock);
	return t;
}

static void token_cache_put(const char *key, const char *token, uint64_t expires_usec) {
	uint64_t now = now_usec(CLOCK_REALTIME);
	size_t i;

	pthread_mutex_lock(&token_lock);
	for (i = 0; i < n_tokens; i++)
		if (streq(token_cache[i].key, key))
			break;
	if (i < n_tokens)
		token_entry_remove(i);
	for (i = 0; i < n_tokens;)
		if (token_cache[i].expires_usec <= now)
			token_entry_remove(i);
		else
			i++;
	if (n_tokens >= REGISTRY_TOKEN_CACHE_MAX) {
		size_t soonest = 0;
		for (i = 1; i < n_tokens; i++)
			if (token_cache[i].expires_usec < token_cache[soonest].expires_usec)
				soonest = i;
		token_entry_remove(soonest);
	}
	token_cache[n_tokens++] = (struct token_entry){
		.key = xstrdup(key),
		.token = xstrdup(token),
		.expires_usec = expires_usec,
	};
	pthread_mutex_unlock(&token_lock);
}

/* Drop the entry only if it still holds the token that was refused: another
 * thread may have put a fresh one meanwhile. */
static void token_cache_drop(const char *key, const char *token) {
	pthread_mutex_lock(&token_lock);
	for (size_t i = 0; i < n_tokens; i++)
		if (streq(token_cache[i].key, key)) {
			if (streq(token_cache[i].token, token))
				token_entry_remove(i);
			break;
		}
	pthread_mutex_unlock(&token_lock);
}

static char *token_key(const struct registry_client *c, const char *scope) {
	return xasprintf("%s\n%s\n%s\n%s", strempty(c->realm), strempty(c->service), scope,
	                 c->have_creds ? strempty(c->creds.username) : "");
}

char *registry_default_scope(const char *repo) {
	return xasprintf("repository:%s:pull", repo);
}

/* RFC 3339 "2024-05-01T10:00:00.123Z" / "...+02:00" -> seconds since the epoch. */
static int parse_rfc3339(const char *s, int64_t *ret) {
	struct tm tm = {};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t t, off = 0;

	if (!p)
		return -EINVAL;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' && strspn(p + 1, "0123456789") == 2 &&
	         strspn(p + 4, "0123456789") == 2) {
		int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');
		off = (*p == '-' ? -1 : 1) * (h * 3600 + m * 60);
		p += 6;
	} else
		return -EINVAL;
	if (*p)
		return -EINVAL;
	t = (int64_t)timegm(&tm);
	if (t == -1)
		return -EINVAL;
	*ret = t - off;
	return 0;
}

static bool valid_token(const char *t) {
	size_t n = strlen(t);

	if (n == 0 || n > TOKEN_MAX)
		return false;
	for (const char *p = t; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return false;
	return true;
}

static const char *auth_remedy(const struct registry_client *c, char *buf, size_t len) {
	if (c->have_creds)
		return "check the credentials in ~/.docker/config.json or --registry-auth";
	(void)snprintf(buf, len,
	               "no credentials for '%s' were found; add them to ~/.docker/config.json or pass --registry-auth",
	               c->domain);
	return buf;
}

int registry_auth_error(struct registry_client *c, const char *repo, long status, const char *body, size_t len,
                        struct za_error **reterr) {
	_cleanup_free_ char *summary = registry_error_summary(body, len);
	char remedy[512];

	return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EACCES,
	                     "authentication to registry '%s' failed for repository '%s': %ld %s%s%s (%s)", c->domain,
	                     repo, status, http_status_reason(status), summary ? ": " : "", strempty(summary),
	                     auth_remedy(c, remedy, sizeof(remedy)));
}

static int token_parse_reply(const char *realm, const char *body, size_t len, char **ret_token, uint64_t *ret_expires,
                             struct za_error **reterr) {
	_cleanup_(json_decrefp) json_t *root = NULL;
	const char *token, *issued;
	int64_t lifetime = TOKEN_DEFAULT_LIFETIME_SEC, issued_at = 0, margin;
	json_t *v;

	root = json_loadb(body ?: "", len, 0, NULL);
	if (!json_is_object(root))
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
		                     "token server '%s' sent a reply that is not a JSON object", realm);
	token = json_string_value(json_object_get(root, "token"));
	if (isempty(token))
		token = json_string_value(json_object_get(root, "access_token"));
	if (isempty(token) || !valid_token(token))
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
		                     "token server '%s' sent no usable 'token' or 'access_token'", realm);

	v = json_object_get(root, "expires_in");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		lifetime = MIN(json_integer_value(v), (json_int_t)(365 * 24 * 3600));
	issued = json_string_value(json_object_get(root, "issued_at"));
	if (!issued || parse_rfc3339(issued, &issued_at) < 0)
		issued_at = (int64_t)(now_usec(CLOCK_REALTIME) / 1000000ULL);
	/* stop using a token a little before the server does */
	margin = MIN((int64_t)5, lifetime / 4);
	issued_at = MAX(issued_at, (int64_t)0);
	*ret_expires = (uint64_t)(issued_at + lifetime - margin) * 1000000ULL;
	*ret_token = xstrdup(token);
	return 0;
}

static int token_fetch(struct registry_client *c, const char *repo, const char *scope, char **ret_token,
                       uint64_t *ret_expires, struct za_error **reterr) {
	_cleanup_(registry_request_release) struct registry_request req = {};
	_cleanup_free_ char *authority = NULL, *url = NULL, *esc_service = NULL, *esc_scope = NULL, *fields = NULL;
	bool plain = strncasecmp(c->realm, "http://", 7) == 0;
	int r;

	if (!plain && strncasecmp(c->realm, "https://", 8) != 0)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPROTO,
		                     "registry '%s' named token realm '%s', which is not an http(s) URL", c->domain,
		                     c->realm);
	authority = registry_url_authority(c->realm);
	if (!authority || strchr(c->realm, '@'))
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPROTO,
		                     "registry '%s' named an invalid token realm '%s'", c->domain, c->realm);
	if (plain && !registry_host_is_insecure(c, authority))
		return za_error_make(
		        reterr, ZA_ERROR_PULL_FAILED, EPROTO,
		        "registry '%s' named token realm '%s' over plain HTTP; refusing to send credentials "
		        "there (list '%s' as an insecure registry if that is intended)",
		        c->domain, c->realm, authority);

	esc_service = curl_easy_escape(c->easy, strempty(c->service), 0);
	esc_scope = curl_easy_escape(c->easy, scope, 0);
	if (!esc_service || !esc_scope)
		oom();

	req.tls_verify = !registry_host_is_insecure(c, authority);
	req.body_cap = REGISTRY_TOKEN_REPLY_MAX;
	if (c->have_creds && c->creds.identity_token) {
		_cleanup_free_ char *esc_token = curl_easy_escape(c->easy, c->creds.identity_token, 0);
		if (!esc_token)
			oom();
		url = xstrdup(c->realm);
		fields = xasprintf(
		        "grant_type=refresh_token&client_id=zlayer-agent&refresh_token=%s&service=%s&scope=%s",
		        esc_token, esc_service, esc_scope);
		explicit_bzero(esc_token, strlen(esc_token));
		req.method = "POST";
		req.post_fields = fields;
		log_debug("requesting a token for '%s' from '%s' with an identity token", scope, c->realm);
	} else {
		url = xasprintf("%s%c%s%s%sscope=%s", c->realm, strchr(c->realm, '?') ? '&' : '?',
		                c->service ? "service=" : "", c->service ? esc_service : "", c->service ? "&" : "",
		                esc_scope);
		if (c->have_creds && c->creds.username) {
			req.username = c->creds.username;
			req.password = c->creds.password;
		}
		log_debug("requesting a token for '%s' from '%s' %s", scope, c->realm,
		          req.username ? "with basic credentials" : "anonymously");
	}
	req.url = url;

	r = registry_perform(c, &req, reterr);
	if (fields)
		explicit_bzero(fields, strlen(fields));
	if (r < 0)
		return r;
	if (req.resp.too_big)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EFBIG,
		                     "token server '%s' sent a reply larger than %u bytes", c->realm,
		                     REGISTRY_TOKEN_REPLY_MAX);
	if (req.resp.status == 401 || req.resp.status == 403) {
		_cleanup_free_ char *summary = registry_error_summary(req.resp.body.buf, req.resp.body.len);
		char remedy[512];
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EACCES,
		                     "authentication to registry '%s' failed for repository '%s': token server '%s' "
		                     "returned %ld %s%s%s (%s)",
		                     c->domain, repo, c->realm, req.resp.status, http_status_reason(req.resp.status),
		                     summary ? ": " : "", strempty(summary), auth_remedy(c, remedy, sizeof(remedy)));
	}
	if (req.resp.status != 200) {
		_cleanup_free_ char *summary = registry_error_summary(req.resp.body.buf, req.resp.body.len);
		char suffix[64];
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EIO, "token server '%s' returned %ld %s%s%s%s",
		                     c->realm, req.resp.status, http_status_reason(req.resp.status),
		                     summary ? ": " : "", strempty(summary),
		                     registry_retries_suffix(suffix, sizeof(suffix), req.retries));
	}
	return token_parse_reply(c->realm, req.resp.body.buf, req.resp.body.len, ret_token, ret_expires, reterr);
}

int registry_auth_token(struct registry_client *c, const char *repo, const char *scope, char **ret_token,
                        struct za_error **reterr) {
	_cleanup_free_ char *key = token_key(c, scope);
	char *token;
	uint64_t expires;
	int r;

	token = token_cache_get(key);
	if (token) {
		log_debug("using a cached token for '%s' at '%s'", scope, c->realm);
		*ret_token = token;
		return 0;
	}
	r = token_fetch(c, repo, scope, &token, &expires, reterr);
	if (r < 0)
		return r;
	token_cache_put(key, token, expires);
	*ret_token = token;
	return 0;
}

int registry_auth_apply(struct registry_client *c, const char *repo, const char *scope, struct registry_request *req,
                        char **ret_token, struct za_error **reterr) {
	int r;

	*ret_token = NULL;
	req->bearer = req->username = req->password = NULL;
	switch (c->auth) {
	case REGISTRY_AUTH_BASIC:
		if (c->have_creds && c->creds.username) {
			req->username = c->creds.username;
			req->password = c->creds.password;
		}
		return 0;
	case REGISTRY_AUTH_BEARER:
		r = registry_auth_token(c, repo, scope, ret_token, reterr);
		if (r < 0)
			return r;
		req->bearer = *ret_token;
		return 0;
	default:
		return 0;
	}
}

/* Take what a challenge says; 1 when bearer or basic was found. */
static int learn(struct registry_client *c, const char *www_authenticate, char **ret_scope, struct za_error **reterr) {
	struct www_auth_challenge *ch = NULL;
	const struct www_auth_challenge *b;
	size_t n = 0;
	int r;

	r = www_authenticate_parse(www_authenticate, &ch, &n, reterr);
	if (r < 0)
		return za_error_wrap(reterr, "registry '%s' sent an unusable authentication challenge", c->domain);

	b = www_auth_challenges_find(ch, n, "bearer");
	if (b && !isempty(b->realm)) {
		free(c->realm);
		free(c->service);
		c->realm = xstrdup(b->realm);
		c->service = b->service ? xstrdup(b->service) : NULL;
		if (ret_scope)
			*ret_scope = b->scope ? xstrdup(b->scope) : NULL;
		c->auth = REGISTRY_AUTH_BEARER;
		r = 1;
	} else if (www_auth_challenges_find(ch, n, "basic")) {
		c->auth = REGISTRY_AUTH_BASIC;
		r = 1;
	} else if (b)
		r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPROTO,
		                  "registry '%s' sent a Bearer challenge without a realm", c->domain);
	else
		r = za_error_make(reterr, ZA_ERROR_UNSUPPORTED, ENOTSUP,
		                  "registry '%s' asks for authentication scheme '%s', which is not supported (expected "
		                  "Bearer or Basic)",
		                  c->domain, ch[0].scheme);
	www_auth_challenges_free(ch, n);
	return r;
}

int registry_auth_learn(struct registry_client *c, const char *www_authenticate, struct za_error **reterr) {
	int r;

	if (isempty(www_authenticate)) {
		log_debug("registry '%s' answered 401 without a challenge", c->domain);
		return 0;
	}
	r = learn(c, www_authenticate, NULL, reterr);
	if (r < 0)
		return r;
	log_debug("registry '%s' uses %s authentication%s%s", c->domain, registry_auth_mode_to_string(c->auth),
	          c->auth == REGISTRY_AUTH_BEARER ? ", realm " : "", c->auth == REGISTRY_AUTH_BEARER ? c->realm : "");
	return 0;
}

int registry_auth_handle_401(struct registry_client *c, const char *repo, const char *used_scope,
                             const char *used_token, const char *www_authenticate, char **ret_scope,
                             struct za_error **reterr) {
	enum registry_auth_mode before = c->auth;
	_cleanup_free_ char *scope = NULL;
	int r;

	if (used_token) {
		_cleanup_free_ char *key = token_key(c, used_scope);
		token_cache_drop(key, used_token);
	}
	if (isempty(www_authenticate))
		return 0;
	r = learn(c, www_authenticate, &scope, reterr);
	if (r < 0)
		return r;

	if (c->auth == REGISTRY_AUTH_BASIC) {
		if (before == REGISTRY_AUTH_BASIC || !c->have_creds || !c->creds.username)
			return 0; /* the credentials were sent already, or there are none */
		log_debug("registry '%s' asks for basic authentication", c->domain);
		*ret_scope = xstrdup(used_scope);
		return 1;
	}
	log_debug("registry '%s' asks for a bearer token from '%s'%s", c->domain, c->realm,
	          used_token ? " (the previous one was refused)" : "");
	*ret_scope = !isempty(scope) ? TAKE_PTR(scope) : registry_default_scope(repo);
	return 1;
}
