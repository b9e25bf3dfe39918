/* SPDX-License-Identifier: Apache-2.0 */
/* Parallel blob downloads on one curl multi handle. Each transfer delivers
 * every byte from its offset exactly once: a retry resumes with a Range
 * from what was delivered, and a server that ignores Range has the prefix
 * skipped locally. */
#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "image/digest.h"
#include "image/registry-internal.h"
#include "basic/banned.h"

enum xfer_state {
	XFER_PENDING,
	XFER_RUNNING,
	XFER_DONE,
};

struct blob_xfer {
	struct registry_client *c;
	struct registry_blob_request *r;
	enum xfer_state state;
	CURL *easy;
	struct curl_slist *headers;
	char *url, *scope, *token;
	struct http_response resp;
	char errbuf[CURL_ERROR_SIZE];
	uint64_t delivered;     /* absolute offset of the next byte to pass on */
	uint64_t attempt_start; /* delivered when this attempt began: the Range start */
	uint64_t skip;          /* bytes still to drop because the server ignored Range */
	bool body_started;
	bool failed; /* r->result and r->error are set; stop */
	bool reauthed;
	unsigned retries;
	uint64_t not_before; /* CLOCK_MONOTONIC usec */
	uint64_t last_progress;
};

static void xfer_fail_errno(struct blob_xfer *x, int r) {
	x->r->result = r < 0 ? r : -EIO;
	x->failed = true;
}

static int xfer_fail(struct blob_xfer *x, enum za_error_kind kind, int code, const char *fmt, ...) _printf_(4, 5);
static int xfer_fail(struct blob_xfer *x, enum za_error_kind kind, int code, const char *fmt, ...) {
	_cleanup_free_ char *m = NULL;
	va_list ap;

	errno = abs(code); /* for %m */
	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	xfer_fail_errno(x, za_error_make(&x->r->error, kind, code, "%s", m));
	return x->r->result;
}

/* "bytes 100-999/1000" (or an unknown total) -> 100 */
static int parse_content_range_start(const char *s, uint64_t *ret) {
	_cleanup_free_ char *num = NULL;

	if (!s || strncasecmp(s, "bytes ", 6) != 0)
		return -EINVAL;
	s += 6;
	num = xstrndup(s, strcspn(s, "-"));
	return parse_uint64(num, ret);
}

static void xfer_progress(struct blob_xfer *x) {
	uint64_t now;

	if (!x->r->on_progress)
		return;
	now = now_usec(CLOCK_MONOTONIC);
	if (x->last_progress && now - x->last_progress < REGISTRY_PROGRESS_INTERVAL_NS / 1000ULL)
		return;
	x->last_progress = now;
	x->r->on_progress(x->r, x->r->userdata);
}

static size_t blob_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
	struct blob_xfer *x = userdata;
	struct registry_blob_request *r = x->r;
	size_t n = size * nmemb, len = n;
	const char *p = ptr;
	long status = x->resp.status;
	int rc;

	if (status < 200 || status >= 300) {
		if (x->resp.body.len < REGISTRY_ERROR_BODY_MAX)
			strbuf_add(&x->resp.body, ptr, MIN(n, REGISTRY_ERROR_BODY_MAX - x->resp.body.len));
		return n;
	}

	if (!x->body_started) {
		x->body_started = true;
		if (status == 206) {
			uint64_t start;
			if (parse_content_range_start(x->resp.content_range, &start) < 0 || start != x->attempt_start) {
				xfer_fail(x, ZA_ERROR_PULL_FAILED, EBADMSG,
				          "blob '%s' from repository '%s/%s': asked for bytes from %" PRIu64
				          " and got a partial response with Content-Range '%s'",
				          r->digest, x->c->domain, r->repo, x->attempt_start,
				          strna(x->resp.content_range));
				return 0;
			}
		} else if (status == 200) {
			if (x->attempt_start > 0)
				log_debug("'%s' ignored the Range request, skipping %" PRIu64 " bytes", x->url,
				          x->attempt_start);
			x->skip = x->attempt_start;
		} else {
			xfer_fail(x, ZA_ERROR_PULL_FAILED, EBADMSG,
			          "fetching blob '%s' from repository '%s/%s' failed: unexpected status %ld", r->digest,
			          x->c->domain, r->repo, status);
			return 0;
		}
	}

	if (x->skip > 0) {
		size_t k = (size_t)MIN((uint64_t)len, x->skip);
		x->skip -= k;
		p += k;
		len -= k;
		if (len == 0)
			return n;
	}
	if (x->delivered > r->size || len > r->size - x->delivered) {
		xfer_fail(x, ZA_ERROR_PULL_FAILED, EFBIG,
		          "blob '%s' from repository '%s/%s' is larger than its expected size of %" PRIu64 " bytes",
		          r->digest, x->c->domain, r->repo, r->size);
		return 0;
	}
	rc = r->on_data(p, len, r->userdata);
	if (rc < 0) {
		xfer_fail(x, ZA_ERROR_PULL_FAILED, rc, "storing blob '%s' from repository '%s/%s' failed: %m",
		          r->digest, x->c->domain, r->repo);
		return 0;
	}
	x->delivered += len;
	r->bytes_received = x->delivered;
	xfer_progress(x);
	return n;
}

static void xfer_drop_token(struct blob_xfer *x) {
	if (x->token) {
		explicit_bzero(x->token, strlen(x->token));
		free(x->token);
		x->token = NULL;
	}
}

static void xfer_release_attempt(struct blob_xfer *x, CURLM *multi) {
	if (x->easy) {
		(void)curl_multi_remove_handle(multi, x->easy);
		curl_easy_cleanup(x->easy);
		x->easy = NULL;
	}
	curl_slist_free_all(x->headers);
	x->headers = NULL;
}

static void xfer_finish(struct blob_xfer *x) {
	x->state = XFER_DONE;
	xfer_drop_token(x);
	if (!x->failed)
		x->r->result = 0;
	x->r->bytes_received = x->delivered;
}

static void xfer_start(struct blob_xfer *x, CURLM *multi) {
	struct registry_client *c = x->c;
	const char *user = NULL, *pass = NULL;
	CURLMcode mc;
	int r;

	xfer_drop_token(x);
	if (c->auth == REGISTRY_AUTH_BEARER) {
		r = registry_auth_token(c, x->r->repo, x->scope, &x->token, &x->r->error);
		if (r < 0) {
			xfer_fail_errno(x, r);
			xfer_finish(x);
			return;
		}
	} else if (c->auth == REGISTRY_AUTH_BASIC && c->have_creds && c->creds.username) {
		user = c->creds.username;
		pass = c->creds.password;
	}

	x->easy = curl_easy_init();
	if (!x->easy) {
		xfer_fail(x, ZA_ERROR_INTERNAL, ENOMEM, "cannot create a curl handle");
		xfer_finish(x);
		return;
	}
	http_response_reset_headers(&x->resp);
	registry_easy_setup(x->easy, x->url, c->tls_verify, NULL, x->token, user, pass, &x->headers, x->errbuf);
	(void)curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, http_response_header_cb);
	(void)curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, &x->resp);
	(void)curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, blob_write_cb);
	(void)curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	(void)curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	x->attempt_start = x->delivered;
	x->skip = 0;
	x->body_started = false;
	if (x->delivered > 0) {
		char range[32];
		(void)snprintf(range, sizeof(range), "%" PRIu64 "-", x->delivered);
		(void)curl_easy_setopt(x->easy, CURLOPT_RANGE, range);
	}

	mc = curl_multi_add_handle(multi, x->easy);
	if (mc != CURLM_OK) {
		xfer_release_attempt(x, multi);
		xfer_fail(x, ZA_ERROR_INTERNAL, EIO, "cannot start a transfer: %s", curl_multi_strerror(mc));
		xfer_finish(x);
		return;
	}
	log_debug("GET %s (%s%s)", x->url, registry_auth_mode_to_string(c->auth), x->delivered > 0 ? ", resuming" : "");
	x->state = XFER_RUNNING;
}

/* Try again later if the budget allows; progress refills the budget. */
static bool xfer_retry(struct blob_xfer *x, int64_t retry_after_sec, const char *why) {
	if (x->delivered > x->attempt_start)
		x->retries = 0;
	if (x->retries >= x->c->max_retries)
		return false;
	uint64_t delay = registry_retry_delay(x->c, x->retries, retry_after_sec);
	x->retries++;
	log_debug("blob '%s': %s, retry %u/%u in %" PRIu64 " ms from byte %" PRIu64, x->r->digest, why, x->retries,
	          x->c->max_retries, delay / NSEC_PER_MSEC, x->delivered);
	x->not_before = now_usec(CLOCK_MONOTONIC) + delay / 1000ULL;
	x->state = XFER_PENDING;
	return true;
}

static void xfer_done(struct blob_xfer *x, CURLcode code, CURLM *multi) {
	struct registry_blob_request *r = x->r;
	struct registry_client *c = x->c;
	long status = x->resp.status;
	char suffix[64];

	xfer_release_attempt(x, multi);
	if (x->failed)
		goto finish;

	if (code != CURLE_OK) {
		if (registry_curl_is_transient(code) &&
		    xfer_retry(x, -1, isempty(x->errbuf) ? curl_easy_strerror(code) : x->errbuf))
			return;
		xfer_fail_errno(x, registry_curl_error(&r->error, code, x->errbuf, x->url, x->retries));
		goto finish;
	}

	if (status >= 200 && status < 300) {
		if (x->delivered == r->size)
			goto finish;
		if (xfer_retry(x, -1, "transfer ended early"))
			return;
		xfer_fail(x, ZA_ERROR_PULL_FAILED, EPIPE,
		          "blob '%s' from repository '%s/%s' ended after %" PRIu64 " of %" PRIu64 " bytes%s", r->digest,
		          c->domain, r->repo, x->delivered, r->size,
		          registry_retries_suffix(suffix, sizeof(suffix), x->retries));
		goto finish;
	}

	if (status == 401 && !x->reauthed) {
		_cleanup_free_ char *next_scope = NULL;
		int k = registry_auth_handle_401(c, r->repo, x->scope, x->token, x->resp.www_authenticate.buf,
		                                 &next_scope, &r->error);
		if (k < 0) {
			xfer_fail_errno(x, k);
			goto finish;
		}
		if (k > 0) {
			x->reauthed = true;
			free(x->scope);
			x->scope = TAKE_PTR(next_scope);
			x->not_before = 0;
			x->state = XFER_PENDING;
			xfer_drop_token(x);
			return;
		}
	}
	if (status == 401 || status == 403) {
		xfer_fail_errno(x,
		                registry_auth_error(c, r->repo, status, x->resp.body.buf, x->resp.body.len, &r->error));
		goto finish;
	}
	if (status == 404) {
		_cleanup_free_ char *summary = registry_error_summary(x->resp.body.buf, x->resp.body.len);
		xfer_fail(x, ZA_ERROR_NOT_FOUND, ENOENT, "blob '%s' not found in repository '%s/%s'%s%s%s", r->digest,
		          c->domain, r->repo, summary ? " (" : "", strempty(summary), summary ? ")" : "");
		goto finish;
	}
	if (registry_status_is_transient(status)) {
		char why[32];
		(void)snprintf(why, sizeof(why), "status %ld", status);
		if (xfer_retry(x, x->resp.retry_after_sec, why))
			return;
	}
	{
		_cleanup_free_ char *summary = registry_error_summary(x->resp.body.buf, x->resp.body.len);
		xfer_fail(x, ZA_ERROR_PULL_FAILED, status == 429 ? EBUSY : EIO,
		          "fetching blob '%s' from repository '%s/%s' failed: %ld %s%s%s%s", r->digest, c->domain,
		          r->repo, status, http_status_reason(status), summary ? ": " : "", strempty(summary),
		          registry_retries_suffix(suffix, sizeof(suffix), x->retries));
	}
finish:
	xfer_finish(x);
}

static int check_request(const struct registry_blob_request *r, struct za_error **reterr) {
	if (!r->repo || !registry_valid_repo(r->repo))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid repository name '%s'",
		                     strna(r->repo));
	if (!r->digest || !digest_valid(r->digest))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid blob digest '%s'",
		                     strna(r->digest));
	if (!r->on_data)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "blob request '%s' has no data callback",
		                     r->digest);
	if (r->offset > r->size)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL,
		                     "blob request '%s' starts at %" PRIu64 ", past its size %" PRIu64, r->digest,
		                     r->offset, r->size);
	return 0;
}

static void xfers_free(struct blob_xfer *xfers, size_t n, CURLM *multi) {
	for (size_t i = 0; i < n; i++) {
		xfer_release_attempt(&xfers[i], multi);
		xfer_drop_token(&xfers[i]);
		http_response_release(&xfers[i].resp);
		free(xfers[i].url);
		free(xfers[i].scope);
	}
	free(xfers);
}

int registry_fetch_blobs(struct registry_client *c, struct registry_blob_request *reqs, size_t n,
                         struct za_error **reterr) {
	struct blob_xfer *xfers;
	CURLM *multi;
	int r;

	for (size_t i = 0; i < n; i++) {
		r = check_request(&reqs[i], reterr);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		reqs[i].result = 0;
		reqs[i].error = NULL;
		reqs[i].bytes_received = reqs[i].offset;
	}
	if (n == 0)
		return 0;
	r = registry_ensure_probed(c, reterr);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			reqs[i].result = r;
		return r;
	}
	multi = curl_multi_init();
	if (!multi)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOMEM, "cannot create a curl multi handle");

	xfers = xnew(struct blob_xfer, n);
	for (size_t i = 0; i < n; i++) {
		struct blob_xfer *x = &xfers[i];

		x->c = c;
		x->r = &reqs[i];
		x->url = xasprintf("%s/v2/%s/blobs/%s", c->base_url, reqs[i].repo, reqs[i].digest);
		x->scope = registry_default_scope(reqs[i].repo);
		x->delivered = reqs[i].offset;
		x->resp.retry_after_sec = -1;
		if (x->delivered == reqs[i].size)
			xfer_finish(x);
	}

	for (;;) {
		uint64_t now = now_usec(CLOCK_MONOTONIC), next = UINT64_MAX;
		size_t running = 0, pending = 0;
		struct CURLMsg *msg;
		int still, q, timeout_ms;

		for (size_t i = 0; i < n; i++)
			running += xfers[i].state == XFER_RUNNING;
		for (size_t i = 0; i < n; i++) {
			struct blob_xfer *x = &xfers[i];

			if (x->state != XFER_PENDING)
				continue;
			if (x->not_before <= now && running < c->max_parallel) {
				xfer_start(x, multi);
				running += x->state == XFER_RUNNING;
			}
			if (x->state == XFER_PENDING) {
				pending++;
				next = MIN(next, x->not_before);
			}
		}
		if (running == 0 && pending == 0)
			break;

		(void)curl_multi_perform(multi, &still);
		while ((msg = curl_multi_info_read(multi, &q))) {
			struct blob_xfer *x = NULL;
			CURL *easy = msg->easy_handle;
			CURLcode code = msg->data.result;

			if (msg->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
			if (x)
				xfer_done(x, code, multi);
		}

		running = pending = 0;
		next = UINT64_MAX;
		for (size_t i = 0; i < n; i++) {
			running += xfers[i].state == XFER_RUNNING;
			if (xfers[i].state == XFER_PENDING) {
				pending++;
				next = MIN(next, xfers[i].not_before);
			}
		}
		if (running == 0 && pending == 0)
			break;
		timeout_ms = 1000;
		if (pending > 0) {
			now = now_usec(CLOCK_MONOTONIC);
			timeout_ms = next <= now ? 0 : (int)MIN((next - now) / 1000ULL + 1, (uint64_t)1000);
		}
		if (running > 0)
			(void)curl_multi_poll(multi, NULL, 0, timeout_ms, NULL);
		else if (timeout_ms > 0) {
			struct timespec ts = { .tv_sec = timeout_ms / 1000,
				               .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };
			(void)nanosleep(&ts, NULL);
		}
	}

	xfers_free(xfers, n, multi);
	curl_multi_cleanup(multi);
	return 0;
}
