/* SPDX-License-Identifier: Apache-2.0 */
/* The registry client: endpoint and scheme choice, the authenticated
 * request loop (one re-authentication per request) and manifests. */
#include "registry.h"

#include <jansson.h>
#include <pthread.h>
#include <strings.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "image/digest.h"
#include "image/registry-internal.h"
#include "basic/banned.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void) {
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *const manifest_accept = manifest_accept_types;

bool registry_valid_repo(const char *repo) {
	size_t n = strlen(repo);

	if (n == 0 || n > 255 || repo[0] == '/' || repo[n - 1] == '/' || strstr(repo, "//"))
		return false;
	for (const char *p = repo; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
			return false;
	return true;
}

static bool valid_tag(const char *s) {
	size_t n = strlen(s);

	if (n == 0 || n > 128 || *s == '.' || *s == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("._-", *p)))
			return false;
	return true;
}

static int check_args(const char *repo, const char *reference, struct za_error **reterr) {
	if (!repo || !registry_valid_repo(repo))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid repository name '%s'",
		                     strna(repo));
	if (reference && !digest_valid(reference) && !valid_tag(reference))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid tag or digest '%s' for repository '%s'", reference, repo);
	return 0;
}

static int load_credentials(struct registry_client *c, const struct registry_options *opts, struct za_error **reterr) {
	int r = -ENOENT;

	if (opts && opts->auth_file) {
		r = auth_config_lookup(opts->auth_file, c->domain, &c->creds, reterr);
		if (r == -ENOENT && access(opts->auth_file, F_OK) < 0)
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, errno,
			                     "cannot use registry credentials file '%s': %m", opts->auth_file);
	}
	if (r == -ENOENT)
		r = auth_config_lookup(NULL, c->domain, &c->creds, reterr);
	if (r == -ENOENT) {
		log_debug("no credentials for registry '%s'", c->domain);
		return 0;
	}
	if (r < 0)
		return r;
	c->have_creds = true;
	return 0;
}

int registry_client_new(const char *domain, const struct registry_options *opts, struct registry_client **ret,
                        struct za_error **reterr) {
	_cleanup_(registry_client_freep) struct registry_client *c = NULL;
	int r;

	if (isempty(domain) || strlen(domain) > 255 || strpbrk(domain, "/@?# \t\r\n"))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid registry name '%s'",
		                     strempty(domain));
	(void)pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EIO, "cannot initialize libcurl: %s",
		                     curl_easy_strerror(curl_init_result));

	c = xnew(struct registry_client, 1);
	c->domain = xstrdup(domain);
	c->host = xstrdup(streq(domain, "docker.io") || streq(domain, "index.docker.io") ? "registry-1.docker.io"
	                                                                                 : domain);
	c->insecure = opts ? strv_copy(opts->insecure_registries) : NULL;
	c->plain_allowed = registry_host_is_insecure(c, domain);
	c->tls_verify = true;
	c->max_retries = opts && opts->max_retries ? opts->max_retries : REGISTRY_DEFAULT_RETRIES;
	c->retry_base_nsec = opts && opts->retry_base_nsec ? opts->retry_base_nsec : REGISTRY_DEFAULT_RETRY_BASE;
	c->max_parallel = opts && opts->max_parallel ? opts->max_parallel : REGISTRY_DEFAULT_PARALLEL;
	c->easy = curl_easy_init();
	if (!c->easy)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOMEM, "cannot create a curl handle");

	r = load_credentials(c, opts, reterr);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

struct registry_client *registry_client_free(struct registry_client *c) {
	if (!c)
		return NULL;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	free(c->domain);
	free(c->host);
	free(c->base_url);
	strv_free(c->insecure);
	registry_credentials_release(&c->creds);
	free(c->realm);
	free(c->service);
	free(c);
	return NULL;
}

static int probe_at(struct registry_client *c, const char *scheme, bool verify, unsigned retries,
                    struct registry_request *req, struct za_error **reterr) {
	_cleanup_free_ char *url = xasprintf("%s://%s/v2/", scheme, c->host);
	unsigned saved = c->max_retries;
	int r;

	*req = (struct registry_request){ .url = url, .tls_verify = verify, .body_cap = REGISTRY_ERROR_BODY_MAX };
	c->max_retries = retries;
	r = registry_perform(c, req, reterr);
	c->max_retries = saved;
	req->url = NULL;
	if (r < 0)
		return r;
	free(c->base_url);
	c->base_url = xasprintf("%s://%s", scheme, c->host);
	c->tls_verify = verify;
	return 0;
}

int registry_ensure_probed(struct registry_client *c, struct za_error **reterr) {
	_cleanup_(registry_request_release) struct registry_request req = {};
	int r = -EIO;

	if (c->probed)
		return 0;

	if (c->plain_allowed) {
		/* as Docker does for insecure registries: HTTPS without
		 * verification if it answers, else plain HTTP */
		_cleanup_za_error_ struct za_error *e = NULL;

		r = probe_at(c, "https", false, 0, &req, &e);
		if (r < 0) {
			log_debug("registry '%s' over HTTPS: %s; trying plain HTTP", c->domain, e->message);
			registry_request_release(&req);
			r = probe_at(c, "http", false, c->max_retries, &req, reterr);
		}
	} else
		r = probe_at(c, "https", true, c->max_retries, &req, reterr);
	if (r < 0)
		return r;
	log_debug("registry '%s' at %s (TLS verification %s), /v2/ answered %ld", c->domain, c->base_url,
	          c->tls_verify ? "on" : "off", req.resp.status);

	if (req.resp.status == 401) {
		r = registry_auth_learn(c, req.resp.www_authenticate.buf, reterr);
		if (r < 0)
			return r;
	} else
		log_debug("registry '%s' uses anonymous access", c->domain);
	c->probed = true;
	return 0;
}

/* Perform req (URL under the registry), authenticating as the registry asks
 * and re-authenticating once on a 401. */
static int request_authenticated(struct registry_client *c, const char *repo, struct registry_request *req,
                                 struct za_error **reterr) {
	_cleanup_free_ char *scope = registry_default_scope(repo);
	int r;

	for (unsigned round = 0;; round++) {
		_cleanup_free_ char *token = NULL, *next_scope = NULL;

		r = registry_auth_apply(c, repo, scope, req, &token, reterr);
		if (r < 0)
			return r;
		log_debug("%s %s (%s)", req->method ?: "GET", req->url, registry_auth_mode_to_string(c->auth));
		r = registry_perform(c, req, reterr);
		req->bearer = NULL;
		if (r < 0 || req->resp.status != 401 || round > 0)
			return r;
		r = registry_auth_handle_401(c, repo, scope, token, req->resp.www_authenticate.buf, &next_scope,
		                             reterr);
		if (r <= 0)
			return r;
		free(scope);
		scope = TAKE_PTR(next_scope);
	}
}

static int manifest_status_error(struct registry_client *c, const char *repo, const char *reference,
                                 const struct registry_request *req, struct za_error **reterr) {
	_cleanup_free_ char *summary = NULL;
	long status = req->resp.status;
	char suffix[64];

	if (status == 401 || status == 403)
		return registry_auth_error(c, repo, status, req->resp.body.buf, req->resp.body.len, reterr);
	summary = registry_error_summary(req->resp.body.buf, req->resp.body.len);
	if (status == 404)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT,
		                     "manifest '%s' not found in repository '%s/%s'%s%s%s", reference, c->domain, repo,
		                     summary ? " (" : "", strempty(summary), summary ? ")" : "");
	return za_error_make(reterr, ZA_ERROR_PULL_FAILED, status == 429 ? EBUSY : EIO,
	                     "fetching manifest '%s' from repository '%s/%s' failed: %ld %s%s%s%s", reference,
	                     c->domain, repo, status, http_status_reason(status), summary ? ": " : "",
	                     strempty(summary), registry_retries_suffix(suffix, sizeof(suffix), req->retries));
}

static char *media_type_of(const struct http_response *resp) {
	const char *ct = resp->content_type;
	size_t n = 0;

	if (ct) {
		n = strcspn(ct, ";");
		while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
			n--;
	}
	if (resp->body.len > 0 && (n == 0 || (n == 16 && strncasecmp(ct, "application/json", n) == 0) ||
	                           (n == 10 && strncasecmp(ct, "text/plain", n) == 0))) {
		_cleanup_(json_decrefp) json_t *root = json_loadb(resp->body.buf, resp->body.len, 0, NULL);
		const char *mt = json_string_value(json_object_get(root, "mediaType"));

		if (!isempty(mt) && strlen(mt) <= 255)
			return xstrdup(mt);
	}
	return n > 0 ? xstrndup(ct, n) : xstrdup("application/octet-stream");
}

static bool is_schema1(const char *media_type) {
	return streq(media_type, MEDIA_TYPE_DOCKER_SCHEMA1) || streq(media_type, MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED);
}

/* The digest to report, after checking the body against what it claims. */
static int verify_manifest_digest(struct registry_client *c, const char *repo, const char *reference,
                                  const char *media_type, const struct http_response *resp, char **ret_digest,
                                  struct za_error **reterr) {
	const char *want = NULL, *header = resp->docker_content_digest;
	_cleanup_free_ char *got = digest_sha256_buf(resp->body.buf ?: "", resp->body.len);

	if (digest_valid(reference))
		want = reference;
	else if (digest_is_sha256(header) && !is_schema1(media_type))
		/* schema1 digests cover the payload without signatures */
		want = header;
	if (want && !streq(got, want))
		return za_error_make(
		        reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
		        "manifest '%s' from repository '%s/%s' does not match digest '%s' (its content has "
		        "digest '%s')",
		        reference, c->domain, repo, want, got);
	*ret_digest = TAKE_PTR(got);
	return 0;
}

int registry_get_manifest(struct registry_client *c, const char *repo, const char *reference, size_t cap,
                          char **ret_body, size_t *ret_len, char **ret_media_type, char **ret_digest,
                          struct za_error **reterr) {
	_cleanup_(registry_request_release) struct registry_request req = {};
	_cleanup_free_ char *url = NULL, *media_type = NULL, *digest = NULL;
	int r;

	r = check_args(repo, reference, reterr);
	if (r < 0)
		return r;
	if (!reference)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "no tag or digest for repository '%s'",
		                     repo);
	if (!digest_is_sha256(reference) && digest_valid(reference))
		return za_error_make(
		        reterr, ZA_ERROR_UNSUPPORTED, ENOTSUP,
		        "manifest digest '%s' uses an algorithm that cannot be verified (use the sha256 digest "
		        "of the image)",
		        reference);
	r = registry_ensure_probed(c, reterr);
	if (r < 0)
		return r;

	url = xasprintf("%s/v2/%s/manifests/%s", c->base_url, repo, reference);
	req.url = url;
	req.accept = manifest_accept;
	req.tls_verify = c->tls_verify;
	req.body_cap = cap;
	r = request_authenticated(c, repo, &req, reterr);
	if (r < 0)
		return r;
	if (req.resp.status != 200)
		return manifest_status_error(c, repo, reference, &req, reterr);
	if (req.resp.too_big)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EFBIG,
		                     "manifest '%s' in repository '%s/%s' is larger than %zu bytes", reference,
		                     c->domain, repo, cap);

	media_type = media_type_of(&req.resp);
	r = verify_manifest_digest(c, repo, reference, media_type, &req.resp, &digest, reterr);
	if (r < 0)
		return r;
	log_debug("manifest '%s' of '%s/%s': %s, %zu bytes, %s", reference, c->domain, repo, media_type,
	          req.resp.body.len, digest);

	if (ret_body)
		*ret_body = strbuf_detach(&req.resp.body, ret_len);
	else if (ret_len)
		*ret_len = req.resp.body.len;
	if (ret_media_type)
		*ret_media_type = TAKE_PTR(media_type);
	if (ret_digest)
		*ret_digest = TAKE_PTR(digest);
	return 0;
}

int registry_head_manifest(struct registry_client *c, const char *repo, const char *reference, char **ret_digest,
                           char **ret_media_type, struct za_error **reterr) {
	_cleanup_(registry_request_release) struct registry_request req = {};
	_cleanup_free_ char *url = NULL, *media_type = NULL, *digest = NULL;
	const char *header;
	int r;

	r = check_args(repo, reference, reterr);
	if (r < 0)
		return r;
	if (!reference)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "no tag or digest for repository '%s'",
		                     repo);
	r = registry_ensure_probed(c, reterr);
	if (r < 0)
		return r;

	url = xasprintf("%s/v2/%s/manifests/%s", c->base_url, repo, reference);
	req.url = url;
	req.method = "HEAD";
	req.accept = manifest_accept;
	req.tls_verify = c->tls_verify;
	r = request_authenticated(c, repo, &req, reterr);
	if (r < 0)
		return r;
	if (req.resp.status != 200)
		return manifest_status_error(c, repo, reference, &req, reterr);

	header = req.resp.docker_content_digest;
	if (req.resp.content_type && (digest_valid(reference) || (header && digest_valid(header)))) {
		if (ret_digest)
			*ret_digest = xstrdup(digest_valid(reference) ? reference : header);
		if (ret_media_type)
			*ret_media_type = media_type_of(&req.resp);
		return 0;
	}

	log_debug("HEAD of manifest '%s' of '%s/%s' gave no digest or type, fetching it", reference, c->domain, repo);
	r = registry_get_manifest(c, repo, reference, REGISTRY_MANIFEST_MAX, NULL, NULL, &media_type, &digest, reterr);
	if (r < 0)
		return r;
	if (ret_digest)
		*ret_digest = TAKE_PTR(digest);
	if (ret_media_type)
		*ret_media_type = TAKE_PTR(media_type);
	return 0;
}
