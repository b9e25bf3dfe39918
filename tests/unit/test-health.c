/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/parse.h"
#include "service/health.h"

#define MSEC NSEC_PER_MSEC
#define SEC  NSEC_PER_SEC

static uint64_t now_ns(void) {
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms) {
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 }, NULL);
}

/* ---- state machine ---- */

static const struct spec_health health3 = {
	.start_grace_nsec = 5 * SEC,
	.interval_nsec = 10 * SEC,
	.timeout_nsec = 5 * SEC,
	.retries = 3,
	.check = { .type = SPEC_CHECK_TCP, .port = 80 },
};

static void test_status_strings(void **state) {
	for (int i = 0; i < _HEALTH_STATUS_MAX; i++)
		assert_int_equal(health_status_from_string(health_status_to_string(i)), i);
	assert_string_equal(health_status_to_string(HEALTH_UNHEALTHY), "unhealthy");
	assert_null(health_status_to_string(_HEALTH_STATUS_MAX));
	assert_null(health_status_to_string(_HEALTH_STATUS_INVALID));
	assert_int_equal(health_status_from_string("sick"), _HEALTH_STATUS_INVALID);
	assert_int_equal(health_status_from_string(NULL), _HEALTH_STATUS_INVALID);
}

static void test_state_table(void **state) {
	/* started at t=100 s, grace until 105 s */
	const int64_t T = 100 * (int64_t)SEC, S = (int64_t)SEC;
	static const struct step {
		uint32_t retries;
		int64_t at; /* seconds after start */
		bool ok;
		enum health_transition tr;
		enum health_status status;
		uint32_t failures;
	} steps[] = {
		/* retries 3: grace failures do not count, then 3 counted ones */
		{ 3, 0, false, HEALTH_TRANSITION_NONE, HEALTH_CHECKING, 0 },
		{ 3, 4, false, HEALTH_TRANSITION_NONE, HEALTH_CHECKING, 0 },
		{ 3, 6, false, HEALTH_TRANSITION_NONE, HEALTH_CHECKING, 1 },
		{ 3, 7, false, HEALTH_TRANSITION_NONE, HEALTH_CHECKING, 2 },
		{ 3, 8, false, HEALTH_TRANSITION_BECAME_UNHEALTHY, HEALTH_UNHEALTHY, 3 },
		{ 3, 9, false, HEALTH_TRANSITION_NONE, HEALTH_UNHEALTHY, 4 },
		/* unhealthy -> healthy on one success */
		{ 3, 10, true, HEALTH_TRANSITION_BECAME_HEALTHY, HEALTH_HEALTHY, 0 },
		{ 3, 11, true, HEALTH_TRANSITION_NONE, HEALTH_HEALTHY, 0 },
		/* a success resets the count */
		{ 3, 12, false, HEALTH_TRANSITION_NONE, HEALTH_HEALTHY, 1 },
		{ 3, 13, false, HEALTH_TRANSITION_NONE, HEALTH_HEALTHY, 2 },
		{ 3, 14, true, HEALTH_TRANSITION_NONE, HEALTH_HEALTHY, 0 },
		{ 3, 15, false, HEALTH_TRANSITION_NONE, HEALTH_HEALTHY, 1 },
		{ 3, 16, false, HEALTH_TRANSITION_NONE, HEALTH_HEALTHY, 2 },
		{ 3, 17, false, HEALTH_TRANSITION_BECAME_UNHEALTHY, HEALTH_UNHEALTHY, 3 },
	}, steps1[] = {
		/* retries 1: healthy inside grace, then grace no longer applies */
		{ 1, 0, false, HEALTH_TRANSITION_NONE, HEALTH_CHECKING, 0 },
		{ 1, 1, true, HEALTH_TRANSITION_BECAME_HEALTHY, HEALTH_HEALTHY, 0 },
		{ 1, 2, false, HEALTH_TRANSITION_BECAME_UNHEALTHY, HEALTH_UNHEALTHY, 1 },
		{ 1, 3, true, HEALTH_TRANSITION_BECAME_HEALTHY, HEALTH_HEALTHY, 0 },
	}, steps0[] = {
		/* retries 0 counts as 1; after grace the first failure counts */
		{ 0, 6, false, HEALTH_TRANSITION_BECAME_UNHEALTHY, HEALTH_UNHEALTHY, 1 },
	};
	static const struct {
		const struct step *s;
		size_t n;
	} tables[] = { { steps, ELEMENTSOF(steps) }, { steps1, ELEMENTSOF(steps1) }, { steps0, ELEMENTSOF(steps0) } };

	for (size_t t = 0; t < ELEMENTSOF(tables); t++) {
		struct health_state s;
		struct spec_health h = health3;

		health_state_init(&s);
		assert_int_equal(s.status, HEALTH_UNKNOWN);
		for (size_t i = 0; i < tables[t].n; i++) {
			const struct step *st = &tables[t].s[i];
			enum health_transition tr;

			h.retries = st->retries;
			tr = health_state_record(&s, &h, st->ok, st->ok ? NULL : "connection refused",
			                         st->ok ? "fine" : "boom", T + st->at * S, T);
			assert_int_equal(tr, st->tr);
			assert_int_equal(s.status, st->status);
			assert_int_equal(s.failures, st->failures);
			assert_int_equal(s.checks, i + 1);
			assert_int_equal(s.last_check_ns, T + st->at * S);
			if (st->ok)
				assert_null(s.reason);
			else
				assert_string_equal(s.reason, "connection refused");
			assert_string_equal(s.output, st->ok ? "fine" : "boom");
		}
		health_state_release(&s);
	}
}

static void test_state_caps(void **state) {
	_cleanup_free_ char *big = xmalloc(10000), *out = NULL;
	struct health_state s;
	json_t *j = NULL;

	memset(big, 'r', 9999);
	big[9999] = '\0';
	health_state_init(&s);
	health_state_record(&s, &health3, false, big, big, 1, 0);
	assert_int_equal(strlen(s.reason), HEALTH_REASON_MAX);
	assert_int_equal(strlen(s.output), PROBE_OUTPUT_MAX);
	/* a NULL reason gets a generic one; NULL output clears */
	health_state_record(&s, &health3, false, NULL, NULL, 2, 0);
	assert_string_equal(s.reason, "check failed");
	assert_null(s.output);
	/* invalid UTF-8 becomes U+FFFD */
	health_state_record(&s, &health3, true, NULL,
	                    "a\xff"
	                    "b",
	                    1714564800123456789, 0);
	assert_string_equal(s.output, "a\xef\xbf\xbd"
	                              "b");

	assert_int_equal(health_state_to_json(&s, &j), 0);
	out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(out, "{\"checks\":3,\"failures\":0,\"last_check\":\"2024-05-01T12:00:00.123456789Z\","
	                         "\"output\":\"a\xef\xbf\xbd"
	                         "b\",\"reason\":null,\"status\":\"healthy\"}");
	json_decref(j);
	health_state_release(&s);

	assert_int_equal(health_state_to_json(&s, &j), 0);
	free(out);
	out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(out, "{\"checks\":0,\"failures\":0,\"last_check\":null,\"output\":null,\"reason\":null,"
	                         "\"status\":\"unknown\"}");
	json_decref(j);
}

static void test_text_clean(void **state) {
	static const struct {
		const char *in;
		size_t len, max;
		const char *out;
	} cases[] = {
		{ "hello", 5, 100, "hello" },
		{ "hello", 5, 3, "hel" },
		{ "\xc3\xa9t\xc3\xa9", 5, 100, "\xc3\xa9t\xc3\xa9" },
		{ "\xc3\xa9t\xc3\xa9", 5, 4, "\xc3\xa9t" }, /* no half character */
		{ "a\0b", 3, 100,
		  "a\xef\xbf\xbd"
		  "b" },                                                            /* NUL */
		{ "\xc0\x80", 2, 100, "\xef\xbf\xbd\xef\xbf\xbd" },                 /* overlong */
		{ "\xed\xa0\x80", 3, 100, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* surrogate */
		{ "\xe2\x82", 2, 100, "\xef\xbf\xbd\xef\xbf\xbd" },                 /* truncated */
		{ "", 0, 100, "" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *s = probe_text_clean(cases[i].in, cases[i].len, cases[i].max);
		assert_string_equal(s, cases[i].out);
	}
}

static void test_next_delay(void **state) {
	const int64_t T = 100 * (int64_t)SEC;
	struct health_state s;

	health_state_init(&s);
	assert_int_equal(health_next_delay_ns(&health3, &s, T, T), 0);
	health_state_record(&s, &health3, false, "x", NULL, T, T);
	assert_int_equal(health_next_delay_ns(&health3, &s, T, T), HEALTH_START_INTERVAL_NSEC);
	assert_int_equal(health_next_delay_ns(&health3, &s, T + 6 * (int64_t)SEC, T), 10 * SEC);
	health_state_record(&s, &health3, true, NULL, NULL, T + 1, T);
	assert_int_equal(health_next_delay_ns(&health3, &s, T + 1, T), 10 * SEC);
	health_state_release(&s);
}

/* ---- local servers ---- */

/* A TCP socket bound to addr:port (0: ephemeral), listening if backlog >= 0. */
static int tcp_socket(const char *addr, uint16_t port, int backlog, uint16_t *ret_port) {
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	if (backlog >= 0)
		assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	if (ret_port)
		*ret_port = ntohs(sa.sin_port);
	return fd;
}

/* A port nobody listens on: bound and closed again. */
static uint16_t closed_port(void) {
	uint16_t port;

	close(tcp_socket("127.0.0.1", 0, -1, &port));
	return port;
}

struct http_server {
	int fd, stop[2];
	uint16_t port;
	pthread_t thread;
	atomic_int flaky;
};

static void send_all(int fd, const char *data, size_t len) {
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

static void respond(int fd, int status, const char *body, size_t len) {
	_cleanup_free_ char *head =
	        xasprintf("HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status, len);

	send_all(fd, head, strlen(head));
	send_all(fd, body, len);
}

static void serve_one(struct http_server *srv, int fd) {
	char req[4096], path[256] = "", *host, *end;
	size_t len = 0;

	while (len < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (sscanf(req, "GET %255s ", path) != 1)
		return;
	if (streq(path, "/ok"))
		respond(fd, 200, "all good", 8);
	else if (streq(path, "/fail"))
		respond(fd, 503, "down", 4);
	else if (streq(path, "/flaky"))
		atomic_fetch_add(&srv->flaky, 1) < 2 ? respond(fd, 503, "not yet", 7) : respond(fd, 200, "now", 3);
	else if (streq(path, "/big")) {
		static char big[65536];
		memset(big, 'x', sizeof(big));
		respond(fd, 200, big, sizeof(big));
	} else if (streq(path, "/host") && (host = strcasestr(req, "\r\nHost: ")) && (end = strstr(host + 2, "\r\n")))
		respond(fd, 200, host + 8, (size_t)(end - host - 8));
	else if (streq(path, "/redirect")) {
		const char *r = "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		send_all(fd, r, strlen(r));
	} else if (streq(path, "/slow")) {
		/* never answer: wait for the client to give up or the test to end */
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = srv->stop[0], .events = POLLIN } };
		(void)poll(p, 2, 10000);
	} else
		respond(fd, 404, "", 0);
}

static void *http_server_main(void *userdata) {
	struct http_server *srv = userdata;

	for (;;) {
		struct pollfd p[2] = { { .fd = srv->fd, .events = POLLIN }, { .fd = srv->stop[0], .events = POLLIN } };
		int c;

		if (poll(p, 2, -1) < 0 || p[1].revents)
			return NULL;
		c = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_one(srv, c);
		close(c);
	}
}

static void http_server_start(struct http_server *srv, const char *addr) {
	*srv = (struct http_server){};
	srv->fd = tcp_socket(addr, 0, 16, &srv->port);
	assert_int_equal(pipe2(srv->stop, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&srv->thread, NULL, http_server_main, srv), 0);
}

static void http_server_stop(struct http_server *srv) {
	assert_int_equal(write(srv->stop[1], "x", 1), 1);
	pthread_join(srv->thread, NULL);
	close(srv->fd);
	close(srv->stop[0]);
	close(srv->stop[1]);
}

struct canceller {
	atomic_bool flag;
	unsigned after_ms;
	pthread_t thread;
};

static void *canceller_main(void *userdata) {
	struct canceller *c = userdata;

	sleep_ms(c->after_ms);
	atomic_store(&c->flag, true);
	return NULL;
}

static void canceller_start(struct canceller *c, unsigned after_ms) {
	atomic_init(&c->flag, false);
	c->after_ms = after_ms;
	assert_int_equal(pthread_create(&c->thread, NULL, canceller_main, c), 0);
}

/* ---- TCP ---- */

static void test_tcp(void **state) {
	uint16_t port, dead = closed_port();
	int fd = tcp_socket("127.0.0.1", 0, 8, &port);
	_cleanup_free_ char *reason = NULL, *expect = NULL;

	assert_int_equal(probe_tcp("127.0.0.1", port, SEC, NULL, &reason), 0);
	assert_null(reason);
	assert_int_equal(probe_tcp("localhost", port, SEC, NULL, &reason), 0);
	close(fd);

	assert_int_equal(probe_tcp("127.0.0.1", dead, SEC, NULL, &reason), -ECONNREFUSED);
	expect = xasprintf("connect to 127.0.0.1:%u: connection refused", dead);
	assert_string_equal(reason, expect);
	free(reason);
	reason = NULL;

	/* IPv6 literal, bracketed or not, where loopback has ::1 */
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		socklen_t len = sizeof(sa);

		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 8) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
			assert_int_equal(probe_tcp("::1", ntohs(sa.sin6_port), SEC, NULL, NULL), 0);
			assert_int_equal(probe_tcp("[::1]", ntohs(sa.sin6_port), SEC, NULL, NULL), 0);
			close(fd);
			assert_int_equal(probe_tcp("::1", ntohs(sa.sin6_port), SEC, NULL, &reason), -ECONNREFUSED);
			free(expect);
			expect = xasprintf("connect to [::1]:%u: connection refused", ntohs(sa.sin6_port));
			assert_string_equal(reason, expect);
			free(reason);
			reason = NULL;
		} else
			close(fd);
	}

	assert_true(probe_tcp("no-such-host.invalid", 80, SEC, NULL, &reason) < 0);
	assert_true(strneq(reason, "resolve 'no-such-host.invalid': ", 32));
}

/* A listener whose accept queue is full drops further SYNs: connect hangs. */
static int black_hole(uint16_t *ret_port, int *ret_filler) {
	int fd = tcp_socket("127.0.0.1", 0, 0, ret_port);
	struct sockaddr_in sa = { .sin_family = AF_INET,
		                  .sin_port = htons(*ret_port),
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	*ret_filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*ret_filler, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void test_tcp_timeout_cancel(void **state) {
	_cleanup_free_ char *reason = NULL, *expect = NULL;
	struct canceller c;
	uint16_t port;
	int filler, fd = black_hole(&port, &filler);
	uint64_t t0 = now_ns();
	int r;

	r = probe_tcp("127.0.0.1", port, 300 * MSEC, NULL, &reason);
	if (r == 0) {
		close(filler);
		close(fd);
		skip(); /* this kernel accepted anyway */
	}
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 290 * MSEC && now_ns() - t0 < 800 * MSEC);
	expect = xasprintf("connect to 127.0.0.1:%u: timed out after 300ms", port);
	assert_string_equal(reason, expect);
	free(reason);
	reason = NULL;

	canceller_start(&c, 200);
	t0 = now_ns();
	assert_int_equal(probe_tcp("127.0.0.1", port, 10 * SEC, &c.flag, &reason), -ECANCELED);
	assert_true(now_ns() - t0 < 500 * MSEC);
	pthread_join(c.thread, NULL);
	close(filler);
	close(fd);
}

/* ---- HTTP ---- */

static char *url(const struct http_server *srv, const char *host, const char *path) {
	return xasprintf("http://%s:%u%s", host, srv->port, path);
}

static void test_http(void **state) {
	struct http_server srv;
	struct probe_result res;
	_cleanup_free_ char *u = NULL, *expect = NULL;

	/* a proxy in the environment must not be used */
	setenv("http_proxy", "http://127.0.0.1:9", 1);
	http_server_start(&srv, "127.0.0.1");

	u = url(&srv, "127.0.0.1", "/ok");
	assert_int_equal(probe_http(u, NULL, 200, SEC, NULL, &res), 0);
	assert_null(res.reason);
	assert_string_equal(res.output, "all good");
	assert_int_equal(res.code, 200);
	probe_result_release(&res);
	assert_int_equal(probe_http(u, NULL, 0, SEC, NULL, &res), 0); /* 0 means 200 */
	probe_result_release(&res);

	free(u);
	u = url(&srv, "127.0.0.1", "/fail");
	assert_int_equal(probe_http(u, NULL, 200, SEC, NULL, &res), -EIO);
	expect = xasprintf("%s: status 503, expected 200", u);
	assert_string_equal(res.reason, expect);
	assert_string_equal(res.output, "down");
	assert_int_equal(res.code, 503);
	probe_result_release(&res);
	assert_int_equal(probe_http(u, NULL, 503, SEC, NULL, &res), 0);
	probe_result_release(&res);

	/* redirects are not followed */
	free(u);
	u = url(&srv, "127.0.0.1", "/redirect");
	assert_int_equal(probe_http(u, NULL, 200, SEC, NULL, &res), -EIO);
	assert_int_equal(res.code, 302);
	probe_result_release(&res);

	/* the body is cut at PROBE_OUTPUT_MAX and the transfer stopped */
	free(u);
	u = url(&srv, "127.0.0.1", "/big");
	assert_int_equal(probe_http(u, NULL, 200, SEC, NULL, &res), 0);
	assert_int_equal(strlen(res.output), PROBE_OUTPUT_MAX);
	probe_result_release(&res);

	/* refused */
	free(u);
	free(expect);
	u = xasprintf("http://127.0.0.1:%u/ok", closed_port());
	assert_int_equal(probe_http(u, NULL, 200, SEC, NULL, &res), -ECONNREFUSED);
	expect = xasprintf("%s: connection refused", u);
	assert_string_equal(res.reason, expect);
	assert_null(res.output);
	assert_int_equal(res.code, -1);
	probe_result_release(&res);

	/* not http */
	assert_int_equal(probe_http("ftp://127.0.0.1/x", NULL, 200, SEC, NULL, &res), -EINVAL);
	assert_string_equal(res.reason, "ftp://127.0.0.1/x: unsupported scheme 'ftp' (expected http or https)");
	probe_result_release(&res);
	assert_int_equal(probe_http("not a url", NULL, 200, SEC, NULL, &res), -EINVAL);
	assert_true(strneq(res.reason, "not a url: invalid url: ", 24));
	probe_result_release(&res);

	http_server_stop(&srv);
	unsetenv("http_proxy");
}

static void test_http_timeout_cancel(void **state) {
	struct http_server srv;
	struct probe_result res;
	struct canceller c;
	_cleanup_free_ char *u = NULL, *expect = NULL;
	uint64_t t0;

	http_server_start(&srv, "127.0.0.1");
	u = url(&srv, "127.0.0.1", "/slow");
	t0 = now_ns();
	assert_int_equal(probe_http(u, NULL, 200, 300 * MSEC, NULL, &res), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 290 * MSEC && now_ns() - t0 < 800 * MSEC);
	expect = xasprintf("%s: timed out after 300ms", u);
	assert_string_equal(res.reason, expect);
	probe_result_release(&res);

	canceller_start(&c, 200);
	t0 = now_ns();
	assert_int_equal(probe_http(u, NULL, 200, 10 * SEC, &c.flag, &res), -ECANCELED);
	assert_true(now_ns() - t0 < 500 * MSEC);
	free(expect);
	expect = xasprintf("%s: cancelled", u);
	assert_string_equal(res.reason, expect);
	probe_result_release(&res);
	pthread_join(c.thread, NULL);
	http_server_stop(&srv);
}

/* "localhost" and "127.0.0.1" reach the container's address, Host unchanged. */
static void test_http_localhost(void **state) {
	struct http_server srv;
	struct probe_result res;
	_cleanup_free_ char *u = NULL, *expect = NULL;
	int guard;

	http_server_start(&srv, "127.0.0.2");
	/* nobody answers on 127.0.0.1 at that port while we hold it */
	guard = tcp_socket("127.0.0.1", srv.port, -1, NULL);

	u = url(&srv, "localhost", "/host");
	assert_int_equal(probe_http(u, "127.0.0.2", 200, SEC, NULL, &res), 0);
	expect = xasprintf("localhost:%u", srv.port);
	assert_string_equal(res.output, expect);
	probe_result_release(&res);
	if (guard >= 0)
		assert_int_equal(probe_http(u, NULL, 200, SEC, NULL, &res), -ECONNREFUSED);
	probe_result_release(&res);

	free(u);
	free(expect);
	u = url(&srv, "127.0.0.1", "/host");
	assert_int_equal(probe_http(u, "127.0.0.2", 200, SEC, NULL, &res), 0);
	expect = xasprintf("127.0.0.1:%u", srv.port);
	assert_string_equal(res.output, expect);
	probe_result_release(&res);

	/* through health_probe_run: tcp and http against the target's ip */
	{
		const struct health_target t = { .ip = "127.0.0.2" };
		struct spec_health_check tcp = { .type = SPEC_CHECK_TCP, .port = srv.port };
		struct spec_health_check http = { .type = SPEC_CHECK_HTTP, .url = u, .expect_status = 200 };
		struct spec_health_check none = { .type = SPEC_CHECK_NONE };

		assert_int_equal(health_probe_run(&tcp, &t, SEC, NULL, &res), 0);
		probe_result_release(&res);
		assert_int_equal(health_probe_run(&http, &t, SEC, NULL, &res), 0);
		assert_string_equal(res.output, expect);
		probe_result_release(&res);
		assert_int_equal(health_probe_run(&none, &t, SEC, NULL, &res), 0);
		probe_result_release(&res);
		assert_int_equal(health_probe_run(&tcp, &(struct health_target){}, SEC, NULL, &res), -EADDRNOTAVAIL);
		assert_string_equal(res.reason, "tcp check: the container has no address");
		probe_result_release(&res);
	}

	if (guard >= 0)
		close(guard);
	http_server_stop(&srv);
}

/* ---- command ---- */

struct fake_exec {
	int r, exit_code;
	const char *output;
	char *seen;
};

static int fake_exec(void *userdata, char *const *argv, uint64_t timeout_nsec, int *ret_exit_code, char **ret_output) {
	struct fake_exec *f = userdata;

	assert_int_equal(timeout_nsec, 5 * SEC);
	free(f->seen);
	f->seen = xasprintf("%s|%s|%s|%s", argv[0], argv[1], argv[2], argv[3] ? "more" : "end");
	if (f->r < 0)
		return f->r;
	*ret_exit_code = f->exit_code;
	*ret_output = f->output ? xstrdup(f->output) : NULL;
	return 0;
}

static void test_command(void **state) {
	_cleanup_free_ char *big = xmalloc(PROBE_OUTPUT_MAX * 2 + 1);
	struct fake_exec f = { .output = "ok\n" };
	const struct health_target t = { .ip = "10.88.0.5", .exec = fake_exec, .exec_userdata = &f };
	const struct spec_health_check check = { .type = SPEC_CHECK_COMMAND, .command = "pg_isready -q" };
	struct probe_result res;

	assert_int_equal(health_probe_run(&check, &t, 5 * SEC, NULL, &res), 0);
	assert_string_equal(f.seen, "/bin/sh|-c|pg_isready -q|end");
	assert_null(res.reason);
	assert_string_equal(res.output, "ok\n");
	assert_int_equal(res.code, 0);
	probe_result_release(&res);

	memset(big, 'o', PROBE_OUTPUT_MAX * 2);
	big[PROBE_OUTPUT_MAX * 2] = '\0';
	f = (struct fake_exec){ .exit_code = 1, .output = big, .seen = f.seen };
	assert_int_equal(probe_command("false", fake_exec, &f, 5 * SEC, &res), -EIO);
	assert_string_equal(res.reason, "command exited with 1");
	assert_int_equal(strlen(res.output), PROBE_OUTPUT_MAX);
	assert_int_equal(res.code, 1);
	probe_result_release(&res);

	f.r = -ETIMEDOUT;
	assert_int_equal(probe_command("sleep 60", fake_exec, &f, 5 * SEC, &res), -ETIMEDOUT);
	assert_string_equal(res.reason, "command timed out after 5s");
	probe_result_release(&res);

	f.r = -ENOENT;
	assert_int_equal(probe_command("x", fake_exec, &f, 5 * SEC, &res), -ENOENT);
	assert_string_equal(res.reason, "run command: no such file or directory");
	probe_result_release(&res);

	assert_int_equal(health_probe_run(&check, &(struct health_target){ .ip = "x" }, 5 * SEC, NULL, &res),
	                 -EOPNOTSUPP);
	probe_result_release(&res);
	free(f.seen);
}

/* ---- init waits ---- */

struct late_listener {
	int fd;
	pthread_t thread;
};

static void *late_listen_main(void *userdata) {
	struct late_listener *l = userdata;

	sleep_ms(300);
	(void)listen(l->fd, 8); /* a failure shows as a timeout in the test */
	return NULL;
}

static void test_init_wait_tcp(void **state) {
	_cleanup_free_ char *reason = NULL, *expect = NULL;
	struct late_listener l;
	struct canceller c;
	uint16_t port, dead = closed_port();
	uint64_t t0 = now_ns(), dt;

	/* bound but not listening: refused until the thread calls listen() */
	l.fd = tcp_socket("127.0.0.1", 0, -1, &port);
	assert_int_equal(pthread_create(&l.thread, NULL, late_listen_main, &l), 0);
	assert_int_equal(init_wait_tcp("localhost", port, 5 * SEC, NULL, &reason), 0);
	dt = now_ns() - t0;
	assert_true(dt >= 300 * MSEC && dt < 1500 * MSEC);
	assert_null(reason);
	pthread_join(l.thread, NULL);
	close(l.fd);

	t0 = now_ns();
	assert_int_equal(init_wait_tcp("127.0.0.1", dead, 500 * MSEC, NULL, &reason), -ETIMEDOUT);
	dt = now_ns() - t0;
	assert_true(dt >= 500 * MSEC && dt < 900 * MSEC);
	expect = xasprintf("init.wait_tcp 127.0.0.1:%u: not reachable within 500ms: connection refused", dead);
	assert_string_equal(reason, expect);
	free(reason);
	reason = NULL;

	/* timeout 0: one attempt */
	assert_int_equal(init_wait_tcp("::1", dead, 0, NULL, &reason), -ETIMEDOUT);
	free(expect);
	expect = xasprintf("init.wait_tcp [::1]:%u: not reachable within 0s: ", dead);
	assert_true(strneq(reason, expect, strlen(expect)));
	free(reason);
	reason = NULL;

	canceller_start(&c, 200);
	t0 = now_ns();
	assert_int_equal(init_wait_tcp("127.0.0.1", dead, 30 * SEC, &c.flag, &reason), -ECANCELED);
	assert_true(now_ns() - t0 < 500 * MSEC);
	free(expect);
	expect = xasprintf("init.wait_tcp 127.0.0.1:%u: cancelled", dead);
	assert_string_equal(reason, expect);
	pthread_join(c.thread, NULL);
}

static void test_init_wait_http(void **state) {
	_cleanup_free_ char *reason = NULL, *expect = NULL, *u = NULL;
	struct http_server srv;

	http_server_start(&srv, "127.0.0.1");
	u = url(&srv, "127.0.0.1", "/flaky"); /* 503 twice, then 200 */
	assert_int_equal(init_wait_http(u, 200, 5 * SEC, NULL, &reason), 0);
	assert_null(reason);
	assert_int_equal(atomic_load(&srv.flaky), 3);

	free(u);
	u = url(&srv, "localhost", "/fail");
	assert_int_equal(init_wait_http(u, 200, 300 * MSEC, NULL, &reason), -ETIMEDOUT);
	expect = xasprintf("init.wait_http %s: not ready within 300ms: status 503, expected 200", u);
	assert_string_equal(reason, expect);
	http_server_stop(&srv);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_strings),
		cmocka_unit_test(test_state_table),
		cmocka_unit_test(test_state_caps),
		cmocka_unit_test(test_text_clean),
		cmocka_unit_test(test_next_delay),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_tcp_timeout_cancel),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_http_timeout_cancel),
		cmocka_unit_test(test_http_localhost),
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_init_wait_tcp),
		cmocka_unit_test(test_init_wait_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
