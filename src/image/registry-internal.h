/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by registry.c (client, manifests), registry-http.c (one request
 * with retries), registry-token.c (auth, token cache) and registry-blobs.c
 * (parallel downloads). Not for use outside the registry client. */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "basic/strbuf.h"
#include "image/auth-config.h"
#include "image/registry.h"

enum registry_auth_mode {
	REGISTRY_AUTH_NONE,
	REGISTRY_AUTH_BASIC,
	REGISTRY_AUTH_BEARER,
	_REGISTRY_AUTH_MODE_MAX,
	_REGISTRY_AUTH_MODE_INVALID = -1,
};

const char *registry_auth_mode_to_string(enum registry_auth_mode m);

struct registry_client {
	char *domain;       /* as in the image reference: "docker.io" */
	char *host;         /* endpoint authority: "registry-1.docker.io", "127.0.0.1:5000" */
	char *base_url;     /* "https://host" once probed */
	bool plain_allowed; /* loopback or listed insecure: HTTPS unverified, then HTTP */
	bool tls_verify;    /* for the registry endpoint */
	bool probed;        /* scheme and first challenge known */
	char **insecure;    /* copy of the option, for realm hosts */
	bool have_creds;
	struct registry_credentials creds;
	enum registry_auth_mode auth;
	char *realm, *service; /* from the last bearer challenge */
	unsigned max_retries, max_parallel;
	uint64_t retry_base_nsec;
	CURL *easy; /* reused for everything outside the blob multi handle */
};

/* What we keep of one HTTP response; reset at every status line so that
 * only the final response after redirects counts. */
struct http_response {
	long status;
	struct strbuf body;
	size_t body_cap; /* a 2xx body larger than this aborts the transfer */
	bool too_big;
	char *content_type, *docker_content_digest, *content_range;
	struct strbuf www_authenticate; /* several headers joined with ", " */
	int64_t retry_after_sec;        /* -1 when absent */
};

void http_response_release(struct http_response *r);
void http_response_reset_headers(struct http_response *r);
/* CURLOPT_HEADERFUNCTION with an http_response as data. */
size_t http_response_header_cb(char *buf, size_t size, size_t nitems, void *userdata);

struct registry_request {
	const char *url;
	const char *method;              /* NULL (GET), "HEAD" or "POST" */
	const char *post_fields;         /* POST: application/x-www-form-urlencoded body */
	const char *accept;              /* Accept header or NULL */
	const char *bearer;              /* token for Authorization: Bearer, or NULL */
	const char *username, *password; /* basic auth, or NULL */
	bool tls_verify;
	size_t body_cap;
	/* out */
	struct http_response resp;
	CURLcode curl_result;
	char errbuf[CURL_ERROR_SIZE];
	unsigned retries; /* how many retries were made */
};

void registry_request_release(struct registry_request *req);

/* Set the options every transfer shares on a fresh or reset easy handle;
 * the caller adds callbacks. *headers gets the slist to free after it. */
void registry_easy_setup(CURL *easy, const char *url, bool tls_verify, const char *accept, const char *bearer,
                         const char *username, const char *password, struct curl_slist **headers, char *errbuf);

/* Perform req on c->easy, retrying connection errors, 5xx and 429 with
 * backoff. 0 when an HTTP response arrived (any status: the caller judges
 * it; a 5xx or 429 left after the retries is still 0; a 2xx body over the
 * cap sets resp.too_big); <0 with reterr for transport failures. */
int registry_perform(struct registry_client *c, struct registry_request *req, struct za_error **reterr);

bool registry_curl_is_transient(CURLcode code);
bool registry_status_is_transient(long status);
/* The delay before retry number `attempt` (0-based), honouring Retry-After. */
uint64_t registry_retry_delay(const struct registry_client *c, unsigned attempt, int64_t retry_after_sec);
/* ZA_ERROR_NETWORK for a curl failure on url; TLS failures name the host and
 * the insecure-registry remedy. */
int registry_curl_error(struct za_error **reterr, CURLcode code, const char *errbuf, const char *url, unsigned retries);
const char *http_status_reason(long status);
/* "CODE: message; CODE: message" from a distribution error body, or NULL. */
char *registry_error_summary(const char *body, size_t len);
/* " (after N retries)" or "" */
const char *registry_retries_suffix(char *buf, size_t len, unsigned retries);
uint64_t now_usec(clockid_t clock);
/* Is the host of an authority ("host", "host:port", "[v6]:port") loopback? */
bool registry_host_is_loopback(const char *authority);
bool registry_host_is_insecure(const struct registry_client *c, const char *authority);
/* The authority of an http(s) URL, or NULL. */
char *registry_url_authority(const char *url);

/* Authentication. */
/* "repository:<repo>:pull" */
char *registry_default_scope(const char *repo);
/* Fill req->bearer/username/password for a request in scope; fetches a
 * token when the client is in bearer mode and none is cached. *ret_token
 * owns the bearer string. */
int registry_auth_apply(struct registry_client *c, const char *repo, const char *scope, struct registry_request *req,
                        char **ret_token, struct za_error **reterr);
/* Variant for easy handles outside registry_perform (the blob multi). */
int registry_auth_token(struct registry_client *c, const char *repo, const char *scope, char **ret_token,
                        struct za_error **reterr);
/* After a 401: drop the token just used (if any), learn the challenge.
 * *ret_scope is the scope to use for the retry. Returns 1 when retrying
 * can help, 0 when it cannot (no usable credentials), <0 on a bad
 * challenge. */
int registry_auth_handle_401(struct registry_client *c, const char *repo, const char *used_scope,
                             const char *used_token, const char *www_authenticate, char **ret_scope,
                             struct za_error **reterr);
/* Learn the first challenge from the /v2/ ping. */
int registry_auth_learn(struct registry_client *c, const char *www_authenticate, struct za_error **reterr);
/* The "authentication ... failed" error for a 401/403 of the registry. */
int registry_auth_error(struct registry_client *c, const char *repo, long status, const char *body, size_t len,
                        struct za_error **reterr);

/* Probe the scheme and the auth challenge once (GET /v2/). */
int registry_ensure_probed(struct registry_client *c, struct za_error **reterr);
bool registry_valid_repo(const char *repo);
