/* SPDX-License-Identifier: Apache-2.0 */
/* One HTTP exchange with a registry or token server: the curl options every
 * transfer shares, header capture, bounded bodies, retries with backoff, and
 * the translation of curl failures into za_errors. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <strings.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "image/registry-internal.h"
#include "image/www-authenticate.h"
#include "basic/banned.h"

#define HEADER_VALUE_MAX 1024

uint64_t now_usec(clockid_t clock) {
	struct timespec ts;

	(void)clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

void http_response_reset_headers(struct http_response *r) {
	r->status = 0;
	r->too_big = false;
	strbuf_reset(&r->body);
	free(r->content_type);
	free(r->docker_content_digest);
	free(r->content_range);
	r->content_type = r->docker_content_digest = r->content_range = NULL;
	strbuf_reset(&r->www_authenticate);
	r->retry_after_sec = -1;
}

void http_response_release(struct http_response *r) {
	http_response_reset_headers(r);
	strbuf_release(&r->body);
	strbuf_release(&r->www_authenticate);
}

void registry_request_release(struct registry_request *req) {
	http_response_release(&req->resp);
}

static void set_header(char **slot, const char *value, size_t len) {
	if (len > HEADER_VALUE_MAX)
		return;
	free(*slot);
	*slot = xstrndup(value, len);
}

size_t http_response_header_cb(char *buf, size_t size, size_t nitems, void *userdata) {
	struct http_response *r = userdata;
	size_t n = size * nitems, name_len, vlen;
	const char *colon, *v;

	if (n >= 5 && strneq(buf, "HTTP/", 5)) {
		/* a new response (redirect, 100-continue): forget the previous one */
		size_t i = 5;
		long status = 0;

		http_response_reset_headers(r);
		while (i < n && buf[i] != ' ')
			i++;
		while (i < n && buf[i] == ' ')
			i++;
		for (int k = 0; k < 3 && i < n && buf[i] >= '0' && buf[i] <= '9'; k++, i++)
			status = status * 10 + (buf[i] - '0');
		r->status = status;
		return n;
	}

	colon = memchr(buf, ':', n);
	if (!colon)
		return n;
	name_len = (size_t)(colon - buf);
	v = colon + 1;
	vlen = n - name_len - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;

#define IS(h) (name_len == strlen(h) && strncasecmp(buf, h, name_len) == 0)
	if (IS("content-type"))
		set_header(&r->content_type, v, vlen);
	else if (IS("docker-content-digest"))
		set_header(&r->docker_content_digest, v, vlen);
	else if (IS("content-range"))
		set_header(&r->content_range, v, vlen);
	else if (IS("www-authenticate")) {
		/* past the parser's cap is past it: keep one byte more so it says so */
		if (r->www_authenticate.len <= WWW_AUTH_HEADER_MAX) {
			if (r->www_authenticate.len > 0)
				strbuf_addstr(&r->www_authenticate, ", ");
			strbuf_add(&r->www_authenticate, v, MIN(vlen, WWW_AUTH_HEADER_MAX + 1));
		}
	} else if (IS("retry-after")) {
		_cleanup_free_ char *s = xstrndup(v, MIN(vlen, 32));
		uint64_t sec;

		if (parse_uint64(s, &sec) >= 0)
			r->retry_after_sec = (int64_t)MIN(sec, (uint64_t)INT32_MAX);
	}
#undef IS
	return n;
}

static size_t body_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
	struct http_response *r = userdata;
	size_t n = size * nmemb;
	bool ok = r->status >= 200 && r->status < 300;

	if (ok) {
		if (n > r->body_cap - MIN(r->body.len, r->body_cap)) {
			r->too_big = true;
			return 0; /* abort */
		}
		strbuf_add(&r->body, ptr, n);
	} else if (r->body.len < REGISTRY_ERROR_BODY_MAX)
		/* an error page is only read for its message: keep the start */
		strbuf_add(&r->body, ptr, MIN(n, REGISTRY_ERROR_BODY_MAX - r->body.len));
	return n;
}

void registry_easy_setup(CURL *easy, const char *url, bool tls_verify, const char *accept, const char *bearer,
                         const char *username, const char *password, struct curl_slist **headers, char *errbuf) {
	struct curl_slist *h = NULL;

	errbuf[0] = '\0';
	(void)curl_easy_setopt(easy, CURLOPT_URL, url);
	(void)curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* blob downloads redirect to storage; curl drops credentials (also a
	 * custom Authorization header) when the host changes */
	(void)curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
	(void)curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
	(void)curl_easy_setopt(easy, CURLOPT_UNRESTRICTED_AUTH, 0L);
	(void)curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer is a failed one (and retried) */
	(void)curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	(void)curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 60L);
	(void)curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, tls_verify ? 1L : 0L);
	(void)curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, tls_verify ? 2L : 0L);
	(void)curl_easy_setopt(easy, CURLOPT_USERAGENT, "zlayer-agent/" ZA_VERSION);

	if (accept) {
		_cleanup_free_ char *a = xasprintf("Accept: %s", accept);
		h = curl_slist_append(h, a);
	}
	if (bearer) {
		_cleanup_free_ char *a = xasprintf("Authorization: Bearer %s", bearer);
		h = curl_slist_append(h, a);
		explicit_bzero(a, strlen(a));
	} else if (username) {
		(void)curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		(void)curl_easy_setopt(easy, CURLOPT_USERNAME, username);
		(void)curl_easy_setopt(easy, CURLOPT_PASSWORD, strempty(password));
	}
	if (h)
		(void)curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
	*headers = h;
}

bool registry_curl_is_transient(CURLcode code) {
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

bool registry_status_is_transient(long status) {
	return status == 429 || (status >= 500 && status <= 599) || status == 408;
}

static bool curl_is_tls(CURLcode code) {
	switch (code) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

uint64_t registry_retry_delay(const struct registry_client *c, unsigned attempt, int64_t retry_after_sec) {
	uint64_t d = c->retry_base_nsec;

	for (unsigned k = 0; k < attempt && d < REGISTRY_RETRY_DELAY_MAX; k++)
		d *= 2;
	d = MIN(d, REGISTRY_RETRY_DELAY_MAX);
	if (retry_after_sec > 0) {
		uint64_t ra = MIN((uint64_t)retry_after_sec, REGISTRY_RETRY_AFTER_MAX / NSEC_PER_SEC) * NSEC_PER_SEC;
		d = MAX(d, ra);
	}
	return d;
}

static void sleep_nsec(uint64_t nsec) {
	struct timespec ts = { .tv_sec = (time_t)(nsec / NSEC_PER_SEC), .tv_nsec = (long)(nsec % NSEC_PER_SEC) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *registry_retries_suffix(char *buf, size_t len, unsigned retries) {
	if (retries == 0)
		return "";
	(void)snprintf(buf, len, " (after %u %s)", retries, retries == 1 ? "retry" : "retries");
	return buf;
}

char *registry_url_authority(const char *url) {
	const char *s = strstr(url, "://"), *at;
	size_t n;

	if (!s)
		return NULL;
	s += 3;
	n = strcspn(s, "/?#");
	at = memchr(s, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	return n > 0 ? xstrndup(s, n) : NULL;
}

int registry_curl_error(struct za_error **reterr, CURLcode code, const char *errbuf, const char *url,
                        unsigned retries) {
	const char *why = !isempty(errbuf) ? errbuf : curl_easy_strerror(code);
	char suffix[64];
	int e;

	if (curl_is_tls(code)) {
		_cleanup_free_ char *authority = registry_url_authority(url);
		return za_error_make(
		        reterr, ZA_ERROR_NETWORK, EPROTO,
		        "TLS connection to '%s' failed: %s (if '%s' is a registry you trust, list it as an "
		        "insecure registry to skip TLS verification or use plain HTTP)",
		        strna(authority), why, strna(authority));
	}
	switch (code) {
	case CURLE_COULDNT_CONNECT:
		e = ECONNREFUSED;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		e = EHOSTUNREACH;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		e = ETIMEDOUT;
		break;
	case CURLE_TOO_MANY_REDIRECTS:
		e = ELOOP;
		break;
	default:
		e = EIO;
	}
	return za_error_make(reterr, ZA_ERROR_NETWORK, e, "request to '%s' failed: %s%s", url, why,
	                     registry_retries_suffix(suffix, sizeof(suffix), retries));
}

int registry_perform(struct registry_client *c, struct registry_request *req, struct za_error **reterr) {
	for (unsigned attempt = 0;; attempt++) {
		struct curl_slist *headers = NULL;
		_cleanup_free_ char *effective = NULL;
		const char *eff = NULL;
		CURLcode code;
		uint64_t delay;

		curl_easy_reset(c->easy);
		http_response_reset_headers(&req->resp);
		registry_easy_setup(c->easy, req->url, req->tls_verify, req->accept, req->bearer, req->username,
		                    req->password, &headers, req->errbuf);
		(void)curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, http_response_header_cb);
		(void)curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, &req->resp);
		(void)curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, body_cb);
		(void)curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &req->resp);
		req->resp.body_cap = req->body_cap;
		if (req->method && streq(req->method, "HEAD"))
			(void)curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L);
		else if (req->method && streq(req->method, "POST"))
			(void)curl_easy_setopt(c->easy, CURLOPT_COPYPOSTFIELDS, strempty(req->post_fields));

		code = curl_easy_perform(c->easy);
		/* nothing on the handle may point at freed or stack memory later */
		(void)curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
		(void)curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
		curl_slist_free_all(headers);
		if (curl_easy_getinfo(c->easy, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
			effective = xstrdup(eff);
		req->curl_result = code;
		req->retries = attempt;

		if (code == CURLE_WRITE_ERROR && req->resp.too_big)
			return 0;
		if (code != CURLE_OK) {
			if (!registry_curl_is_transient(code) || attempt >= c->max_retries)
				return registry_curl_error(reterr, code, req->errbuf, effective ?: req->url, attempt);
			delay = registry_retry_delay(c, attempt, -1);
			log_debug("request to '%s' failed (%s), retry %u/%u in %" PRIu64 " ms", req->url,
			          isempty(req->errbuf) ? curl_easy_strerror(code) : req->errbuf, attempt + 1,
			          c->max_retries, delay / NSEC_PER_MSEC);
		} else if (registry_status_is_transient(req->resp.status) && attempt < c->max_retries) {
			delay = registry_retry_delay(c, attempt, req->resp.retry_after_sec);
			log_debug("request to '%s' returned %ld, retry %u/%u in %" PRIu64 " ms", req->url,
			          req->resp.status, attempt + 1, c->max_retries, delay / NSEC_PER_MSEC);
		} else
			return 0;
		sleep_nsec(delay);
	}
}

const char *http_status_reason(long status) {
	static const struct {
		long status;
		const char *reason;
	} table[] = {
		{ 400, "Bad Request" },         { 401, "Unauthorized" },
		{ 403, "Forbidden" },           { 404, "Not Found" },
		{ 405, "Method Not Allowed" },  { 406, "Not Acceptable" },
		{ 408, "Request Timeout" },     { 410, "Gone" },
		{ 413, "Content Too Large" },   { 416, "Range Not Satisfiable" },
		{ 429, "Too Many Requests" },   { 500, "Internal Server Error" },
		{ 501, "Not Implemented" },     { 502, "Bad Gateway" },
		{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
	};

	for (size_t i = 0; i < ELEMENTSOF(table); i++)
		if (table[i].status == status)
			return table[i].reason;
	return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "Unexpected Status";
}

/* A peer's text in our messages: printable ASCII only, bounded. */
static void add_sanitized(struct strbuf *sb, const char *s, size_t max) {
	size_t n = 0;

	for (; *s && n < max; s++, n++)
		strbuf_addch(sb, (*s >= 0x20 && *s < 0x7f) ? *s : '?');
	if (*s)
		strbuf_addstr(sb, "...");
}

char *registry_error_summary(const char *body, size_t len) {
	_cleanup_(json_decrefp) json_t *root = NULL;
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	json_t *errors, *e;
	size_t i;

	if (!body || len == 0)
		return NULL;
	root = json_loadb(body, len, 0, NULL);
	if (!root || !json_is_object(root))
		return NULL;
	errors = json_object_get(root, "errors");
	if (!json_is_array(errors))
		return NULL;
	json_array_foreach(errors, i, e) {
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *message = json_string_value(json_object_get(e, "message"));

		if (i >= 3) {
			strbuf_addstr(&sb, "; ...");
			break;
		}
		if (!code && !message)
			continue;
		if (sb.len > 0)
			strbuf_addstr(&sb, "; ");
		if (code)
			add_sanitized(&sb, code, 64);
		if (code && message)
			strbuf_addstr(&sb, ": ");
		if (message)
			add_sanitized(&sb, message, 256);
	}
	return sb.len > 0 ? strbuf_detach(&sb, NULL) : NULL;
}

static bool host_part(const char *authority, char *buf, size_t len) {
	const char *h = authority, *end;
	size_t n;

	if (*h == '[') {
		h++;
		end = strchr(h, ']');
		if (!end)
			return false;
	} else {
		end = strchr(h, ':');
		if (!end)
			end = h + strlen(h);
	}
	n = (size_t)(end - h);
	if (n == 0 || n >= len)
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	return true;
}

bool registry_host_is_loopback(const char *authority) {
	char host[256];
	struct in_addr a4;
	struct in6_addr a6;

	if (!authority || !host_part(authority, host, sizeof(host)))
		return false;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

bool registry_host_is_insecure(const struct registry_client *c, const char *authority) {
	if (registry_host_is_loopback(authority))
		return true;
	STRV_FOREACH (i, c->insecure)
		if (strcasecmp(*i, authority) == 0)
			return true;
	return false;
}
