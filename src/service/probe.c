/* SPDX-License-Identifier: Apache-2.0 */
/* Probes and init waits. Every wait is sliced into PROBE_CANCEL_SLICE_NSEC
 * steps so that a cancel flag set by another thread is seen quickly. HTTP
 * goes through a private curl multi handle polled in those slices (the easy
 * interface's progress callback may only run once a second). */
#include "probe.h"

#include <curl/curl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "basic/utf8.h"
#include "basic/banned.h"

#define ATTEMPT_MAX_NSEC (2 * NSEC_PER_SEC)
#define PAUSE_MIN_NSEC   (100 * NSEC_PER_MSEC)
#define PAUSE_MAX_NSEC   NSEC_PER_SEC
/* Addresses of one name tried per attempt. */
#define TCP_ADDRESSES_MAX 8

DEFINE_TRIVIAL_CLEANUP_FUNC(struct addrinfo *, freeaddrinfo)
DEFINE_TRIVIAL_CLEANUP_FUNC(CURLU *, curl_url_cleanup)

static void *mfree(void *p) {
	free(p);
	return NULL;
}

void probe_result_release(struct probe_result *r) {
	r->reason = mfree(r->reason);
	r->output = mfree(r->output);
	r->code = -1;
}

static uint64_t now_nsec(void) {
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static bool cancelled(const atomic_bool *cancel) {
	return cancel && atomic_load(cancel);
}

/* A library's message with a lowercase start ("Connection refused" ->
 * "connection refused"), leaving acronyms ("SSL ...") alone. */
static char *describe(const char *text) {
	char *s = xstrdup(isempty(text) ? "unknown error" : text);
	size_t n = strlen(s);

	if (s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z'))
		s[0] = (char)(s[0] - 'A' + 'a');
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '.'))
		s[--n] = '\0';
	return s;
}

static char *describe_errno(int e) {
	return describe(strerrordesc_np(abs(e)));
}

static char *describe_timeout(uint64_t nsec) {
	char buf[FORMAT_DURATION_MAX];

	return xasprintf("timed out after %s", format_duration(buf, sizeof(buf), nsec));
}

static int sleep_cancellable(uint64_t nsec, const atomic_bool *cancel) {
	uint64_t end = now_nsec() + nsec;

	for (;;) {
		uint64_t n, step;

		if (cancelled(cancel))
			return -ECANCELED;
		n = now_nsec();
		if (n >= end)
			return 0;
		step = MIN(end - n, PROBE_CANCEL_SLICE_NSEC);
		(void)nanosleep(&(struct timespec){ .tv_sec = (time_t)(step / NSEC_PER_SEC),
		                                    .tv_nsec = (long)(step % NSEC_PER_SEC) },
		                NULL);
	}
}

char *probe_text_clean(const char *data, size_t len, size_t max) {
	static const char replacement[] = "\xef\xbf\xbd";
	struct strbuf sb = STRBUF_INIT;
	size_t i = 0;

	while (i < len) {
		size_t n = data[i] ? utf8_valid_len((const unsigned char *)data + i, len - i) : 0; /* NUL: replaced */
		const char *add = n ? data + i : replacement;
		size_t add_len = n ? n : sizeof(replacement) - 1;

		if (sb.len + add_len > max)
			break;
		strbuf_add(&sb, add, add_len);
		i += n ? n : 1;
	}
	return strbuf_detach(&sb, NULL);
}

/* ---- TCP ---- */

static char *format_host_port(const char *host, uint16_t port) {
	return strchr(host, ':') && host[0] != '[' ? xasprintf("[%s]:%u", host, port) : xasprintf("%s:%u", host, port);
}

static char *format_sockaddr(const struct sockaddr *sa, socklen_t len) {
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return xstrdup("?");
	return sa->sa_family == AF_INET6 ? xasprintf("[%s]:%s", host, serv) : xasprintf("%s:%s", host, serv);
}

/* 0 connected (and closed again), -errno otherwise. */
static int connect_one(const struct sockaddr *sa, socklen_t len, uint64_t deadline, const atomic_bool *cancel) {
	_cleanup_close_ int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		socklen_t err_len = sizeof(int);
		uint64_t n;
		int r, err = 0;

		if (cancelled(cancel))
			return -ECANCELED;
		n = now_nsec();
		if (n >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1,
		         (int)((MIN(deadline - n, PROBE_CANCEL_SLICE_NSEC) + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0)
			return -errno;
		return -err;
	}
}

/* One connect attempt. On failure *ret_cause says why ("connection
 * refused") and *ret_where is the last address tried (NULL if none). */
static int tcp_attempt(const char *host, uint16_t port, uint64_t timeout_nsec, const atomic_bool *cancel,
                       char **ret_cause, char **ret_where) {
	_cleanup_(freeaddrinfop) struct addrinfo *res = NULL;
	_cleanup_free_ char *name = NULL, *where = NULL;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	uint64_t deadline = now_nsec() + timeout_nsec;
	char service[8];
	size_t n = strlen(host), tried = 0;
	int r;

	/* "[::1]" as written in URLs and host:port pairs */
	name = n > 2 && host[0] == '[' && host[n - 1] == ']' ? xstrndup(host + 1, n - 2) : xstrdup(host);
	(void)snprintf(service, sizeof(service), "%u", port);
	if (cancelled(cancel))
		return *ret_cause = xstrdup("cancelled"), *ret_where = NULL, -ECANCELED;
	r = getaddrinfo(name, service, &hints, &res);
	if (r != 0) {
		int e = r == EAI_SYSTEM ? errno : EHOSTUNREACH;
		_cleanup_free_ char *why = describe(r == EAI_SYSTEM ? strerrordesc_np(e) : gai_strerror(r));

		*ret_cause = xasprintf("resolve '%s': %s", name, why);
		*ret_where = NULL;
		return -e;
	}
	r = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai && tried < TCP_ADDRESSES_MAX; ai = ai->ai_next, tried++) {
		r = connect_one(ai->ai_addr, ai->ai_addrlen, deadline, cancel);
		if (r == 0)
			return 0;
		free(where);
		where = format_sockaddr(ai->ai_addr, ai->ai_addrlen);
		if (r == -ECANCELED || r == -ETIMEDOUT)
			break;
	}
	*ret_cause = r == -ETIMEDOUT   ? describe_timeout(timeout_nsec)
	             : r == -ECANCELED ? xstrdup("cancelled")
	                               : describe_errno(r);
	*ret_where = TAKE_PTR(where);
	return r;
}

int probe_tcp(const char *host, uint16_t port, uint64_t timeout_nsec, const atomic_bool *cancel, char **ret_reason) {
	_cleanup_free_ char *cause = NULL, *where = NULL;
	int r;

	r = tcp_attempt(host, port, timeout_nsec, cancel, &cause, &where);
	if (r >= 0)
		return 0;
	if (ret_reason)
		*ret_reason = where ? xasprintf("connect to %s: %s", where, cause) : TAKE_PTR(cause);
	return r;
}

/* ---- HTTP ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void) {
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct http_body {
	char data[PROBE_OUTPUT_MAX];
	size_t len;
	bool full; /* stopped the transfer: more than data holds */
};

struct http_xfer {
	CURLM *multi;
	CURL *easy;
	bool added;
	struct curl_slist *connect_to;
	char errbuf[CURL_ERROR_SIZE];
	struct http_body body;
};

static void http_xfer_release(struct http_xfer *x) {
	if (x->added)
		(void)curl_multi_remove_handle(x->multi, x->easy);
	if (x->easy)
		curl_easy_cleanup(x->easy);
	if (x->multi)
		(void)curl_multi_cleanup(x->multi);
	curl_slist_free_all(x->connect_to);
}

static size_t http_body_write(char *p, size_t size, size_t nmemb, void *userdata) {
	struct http_body *b = userdata;
	size_t len = size * nmemb, take = MIN(len, sizeof(b->data) - b->len);

	memcpy(b->data + b->len, p, take);
	b->len += take;
	if (take < len) {
		b->full = true;
		return 0; /* enough kept: stop the transfer */
	}
	return len;
}

/* Check url (http or https only) and prepare "localhost::10.88.0.5:" when
 * its host means the local machine, so that the connection goes to
 * localhost_ip with the URL (and Host) unchanged. */
static int http_parse_url(const char *url, const char *localhost_ip, struct curl_slist **list, char **ret_cause) {
	_cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
	_cleanup_free_ char *entry = NULL;
	char *scheme = NULL, *host = NULL;
	CURLUcode uc;
	bool v6;
	int r = 0;

	if (!u)
		oom();
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (uc != CURLUE_OK) {
		_cleanup_free_ char *why = describe(curl_url_strerror(uc));

		*ret_cause = xasprintf("invalid url: %s", why);
		r = -EINVAL;
	} else if (!streq(scheme, "http") && !streq(scheme, "https")) {
		*ret_cause = xasprintf("unsupported scheme '%s' (expected http or https)", scheme);
		r = -EINVAL;
	} else if (!isempty(localhost_ip) &&
	           (strcasecmp(host, "localhost") == 0 || streq(host, "127.0.0.1") || streq(host, "[::1]"))) {
		struct curl_slist *l;

		v6 = strchr(localhost_ip, ':') && localhost_ip[0] != '[';
		entry = xasprintf("%s::%s%s%s:", host, v6 ? "[" : "", localhost_ip, v6 ? "]" : "");
		l = curl_slist_append(*list, entry);
		if (!l)
			oom();
		*list = l;
	}
	curl_free(scheme);
	curl_free(host);
	return r;
}

static int http_setup(struct http_xfer *x, const char *url, uint64_t timeout_nsec) {
	long timeout_ms = (long)MAX((timeout_nsec + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC, UINT64_C(1));

	(void)pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK)
		return -ENOMEM;
	x->multi = curl_multi_init();
	x->easy = curl_easy_init();
	if (!x->multi || !x->easy)
		oom();
	if (curl_easy_setopt(x->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
		return -EINVAL;
	(void)curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "*");
	(void)curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	(void)curl_easy_setopt(x->easy, CURLOPT_CONNECT_TO, x->connect_to);
	/* The container's own endpoint: its certificate rarely names its IP. */
	(void)curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 0L);
	(void)curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	(void)curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "zlayer-agent/" ZA_VERSION " (health)");
	(void)curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, http_body_write);
	(void)curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, &x->body);
	(void)curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	if (curl_multi_add_handle(x->multi, x->easy) != CURLM_OK)
		return -ENOMEM;
	x->added = true;
	return 0;
}

/* Drive the transfer in cancel slices; the CURLcode in *ret_res. */
static int http_run(struct http_xfer *x, const atomic_bool *cancel, CURLcode *ret_res) {
	CURLMsg *m;
	int left;

	for (;;) {
		int running = 0;

		if (cancelled(cancel))
			return -ECANCELED;
		if (curl_multi_perform(x->multi, &running) != CURLM_OK)
			return -EIO;
		if (!running)
			break;
		if (curl_multi_poll(x->multi, NULL, 0, (int)(PROBE_CANCEL_SLICE_NSEC / NSEC_PER_MSEC), NULL) !=
		    CURLM_OK)
			return -EIO;
	}
	while ((m = curl_multi_info_read(x->multi, &left)))
		if (m->msg == CURLMSG_DONE) {
			*ret_res = m->data.result;
			return 0;
		}
	return -EIO;
}

static int http_failure(struct http_xfer *x, CURLcode res, uint64_t timeout_nsec, char **ret_cause) {
	long os_errno = 0;

	if (res == CURLE_OPERATION_TIMEDOUT) {
		*ret_cause = describe_timeout(timeout_nsec);
		return -ETIMEDOUT;
	}
	/* "connection refused" rather than curl's "Failed to connect to ..." */
	if (res == CURLE_COULDNT_CONNECT && curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
	    os_errno > 0 && os_errno < 4096) {
		*ret_cause = describe_errno((int)os_errno);
		return -(int)os_errno;
	}
	*ret_cause = describe(isempty(x->errbuf) ? curl_easy_strerror(res) : x->errbuf);
	switch (res) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* One GET. *ret_cause on failure ("status 503, expected 200"); *ret_output
 * and *ret_code whenever there was a response. */
static int http_attempt(const char *url, const char *localhost_ip, uint16_t expect_status, uint64_t timeout_nsec,
                        const atomic_bool *cancel, char **ret_cause, char **ret_output, int *ret_code) {
	_cleanup_(http_xfer_release) struct http_xfer x = {};
	CURLcode res = CURLE_OK;
	long status = 0;
	int r;

	*ret_cause = *ret_output = NULL;
	*ret_code = -1;
	if (expect_status == 0)
		expect_status = 200;
	r = http_parse_url(url, localhost_ip, &x.connect_to, ret_cause);
	if (r < 0)
		return r;
	r = http_setup(&x, url, timeout_nsec);
	if (r < 0)
		return *ret_cause = xstrdup("cannot set up libcurl"), r;
	r = http_run(&x, cancel, &res);
	if (r == -ECANCELED)
		return *ret_cause = xstrdup("cancelled"), r;
	if (r < 0)
		return *ret_cause = xstrdup("libcurl multi interface failed"), r;
	if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && x.body.full))
		return http_failure(&x, res, timeout_nsec, ret_cause);
	(void)curl_easy_getinfo(x.easy, CURLINFO_RESPONSE_CODE, &status);
	*ret_code = (int)status;
	if (x.body.len > 0)
		*ret_output = probe_text_clean(x.body.data, x.body.len, PROBE_OUTPUT_MAX);
	if (status != expect_status) {
		*ret_cause = xasprintf("status %ld, expected %u", status, expect_status);
		return -EIO;
	}
	return 0;
}

int probe_http(const char *url, const char *localhost_ip, uint16_t expect_status, uint64_t timeout_nsec,
               const atomic_bool *cancel, struct probe_result *ret) {
	_cleanup_free_ char *cause = NULL;
	int r;

	*ret = (struct probe_result){ .code = -1 };
	r = http_attempt(url, localhost_ip, expect_status, timeout_nsec, cancel, &cause, &ret->output, &ret->code);
	if (r < 0)
		ret->reason = xasprintf("%s: %s", url, cause);
	return r;
}

/* ---- command ---- */

int probe_command(const char *command, probe_exec_fn exec, void *userdata, uint64_t timeout_nsec,
                  struct probe_result *ret) {
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)command, NULL };
	_cleanup_free_ char *out = NULL, *why = NULL;
	int r, exit_code = -1;

	*ret = (struct probe_result){ .code = -1 };
	if (!exec) {
		ret->reason = xstrdup("command checks need a runtime that can exec into the container");
		return -EOPNOTSUPP;
	}
	r = exec(userdata, argv, timeout_nsec, &exit_code, &out);
	if (r == -ETIMEDOUT) {
		why = describe_timeout(timeout_nsec);
		ret->reason = xasprintf("command %s", why);
		return r;
	}
	if (r < 0) {
		why = describe_errno(r);
		ret->reason = xasprintf("run command: %s", why);
		return r;
	}
	ret->code = exit_code;
	if (!isempty(out))
		ret->output = probe_text_clean(out, strlen(out), PROBE_OUTPUT_MAX);
	if (exit_code != 0) {
		ret->reason = xasprintf("command exited with %d", exit_code);
		return -EIO;
	}
	return 0;
}

/* ---- init waits ---- */

struct wait_target {
	const char *host; /* tcp */
	uint16_t port;
	const char *url; /* http */
	uint16_t expect_status;
};

static int wait_attempt(const struct wait_target *w, uint64_t timeout_nsec, const atomic_bool *cancel,
                        char **ret_cause) {
	_cleanup_free_ char *where = NULL, *output = NULL;
	int code;

	if (w->url)
		return http_attempt(w->url, NULL, w->expect_status, timeout_nsec, cancel, ret_cause, &output, &code);
	return tcp_attempt(w->host, w->port, timeout_nsec, cancel, ret_cause, &where);
}

/* Attempt until success, timeout or cancel; the last cause in *ret_cause. */
static int wait_until(const struct wait_target *w, uint64_t timeout_nsec, const atomic_bool *cancel, char **ret_cause) {
	_cleanup_free_ char *cause = NULL;
	uint64_t start = now_nsec(), pause = PAUSE_MIN_NSEC;

	for (bool first = true;; first = false) {
		uint64_t elapsed = now_nsec() - start, remaining = timeout_nsec > elapsed ? timeout_nsec - elapsed : 0;
		int r;

		if (cancelled(cancel))
			return -ECANCELED;
		if (remaining == 0 && !first)
			return *ret_cause = TAKE_PTR(cause), -ETIMEDOUT;
		cause = mfree(cause);
		r = wait_attempt(w, remaining > 0 ? MIN(remaining, ATTEMPT_MAX_NSEC) : PAUSE_MIN_NSEC, cancel, &cause);
		if (r >= 0)
			return 0;
		if (r == -ECANCELED)
			return r;
		elapsed = now_nsec() - start;
		if (elapsed >= timeout_nsec)
			continue;
		if (sleep_cancellable(MIN(pause, timeout_nsec - elapsed), cancel) < 0)
			return -ECANCELED;
		pause = MIN(pause * 2, PAUSE_MAX_NSEC);
	}
}

static int wait_report(const char *what, const char *verdict, uint64_t timeout_nsec, int r, const char *cause,
                       char **ret_reason) {
	char buf[FORMAT_DURATION_MAX];

	if (r >= 0 || !ret_reason)
		return r;
	if (r == -ECANCELED)
		*ret_reason = xasprintf("%s: cancelled", what);
	else
		*ret_reason = xasprintf("%s: %s within %s: %s", what, verdict,
		                        format_duration(buf, sizeof(buf), timeout_nsec), strempty(cause));
	return r;
}

int init_wait_tcp(const char *host, uint16_t port, uint64_t timeout_nsec, const atomic_bool *cancel,
                  char **ret_reason) {
	_cleanup_free_ char *cause = NULL, *host_port = format_host_port(host, port), *what = NULL;
	int r;

	r = wait_until(&(struct wait_target){ .host = host, .port = port }, timeout_nsec, cancel, &cause);
	what = xasprintf("init.wait_tcp %s", host_port);
	return wait_report(what, "not reachable", timeout_nsec, r, cause, ret_reason);
}

int init_wait_http(const char *url, uint16_t expect_status, uint64_t timeout_nsec, const atomic_bool *cancel,
                   char **ret_reason) {
	_cleanup_free_ char *cause = NULL, *what = NULL;
	int r;

	r = wait_until(&(struct wait_target){ .url = url, .expect_status = expect_status }, timeout_nsec, cancel,
	               &cause);
	what = xasprintf("init.wait_http %s", url);
	return wait_report(what, "not ready", timeout_nsec, r, cause, ret_reason);
}
