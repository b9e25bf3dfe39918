/* SPDX-License-Identifier: Apache-2.0 */
/* The API server on a temporary unix socket, its sd-event loop in a thread
 * of its own; the test thread is the client (raw curl, raw sockets and the
 * CLI's api_client_*). Also daemon_post() and the daemon's locks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "api/daemon.h"
#include "api/server.h"
#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strbuf.h"
#include "cli/client.h"

static struct {
	char dir[64];
	char sock[128];
	pthread_t thread;
	sd_event *event;
	struct api_server *server;
	int quit_fd;
	sem_t ready;
} env;

static atomic_int stream_closed, flood_epipe, flood_closed;

/* ---- handlers (loop thread) ---- */

static int h_echo(struct api_request *req, void *userdata) {
	return api_reply_json(req, 200,
	                      json_pack("{s:s, s:s, s:s?, s:O?}", "method", api_request_method(req), "path",
	                                api_request_path(req), "x", api_request_query(req, "x"), "body",
	                                api_request_body(req)));
}

static int h_fail(struct api_request *req, void *userdata) {
	return -EIO;
}

static int h_noreply(struct api_request *req, void *userdata) {
	return 0;
}

static int on_async_timer(sd_event_source *s, uint64_t usec, void *userdata) {
	struct api_request *req = userdata;

	if (streq(api_request_path(req), "/async-error")) {
		struct za_error e = { .kind = ZA_ERROR_NOT_FOUND,
			              .code = ENOENT,
			              .message = (char *)"thing 'x' not found" };
		assert_int_equal(api_reply_error(req, &e), 0);
	} else
		assert_int_equal(api_reply_json(req, 201, json_pack("{s:b}", "async", 1)), 0);
	return 0;
}

static int h_async(struct api_request *req, void *userdata) {
	api_request_suspend(req);
	assert_int_equal(
	        sd_event_add_time_relative(env.event, NULL, CLOCK_MONOTONIC, 50 * 1000, 1, on_async_timer, req), 0);
	return API_ASYNC;
}

static struct api_request *hung_req;
static atomic_int hung_called;

static int h_hang(struct api_request *req, void *userdata) {
	api_request_suspend(req);
	hung_req = req;
	atomic_store(&hung_called, 1);
	return API_ASYNC;
}

struct producer {
	struct api_stream *st;
	sd_event_source *timer;
	int n, limit;
	size_t line_size;
};

static void producer_free(struct producer *p) {
	sd_event_source_disable_unref(p->timer);
	api_stream_end(p->st);
	free(p);
}

static int on_produce(sd_event_source *s, uint64_t usec, void *userdata) {
	struct producer *p = userdata;
	int r;

	if (p->line_size) {
		_cleanup_free_ char *big = xmalloc(p->line_size + 1);
		memset(big, 'x', p->line_size);
		big[p->line_size] = '\0';
		r = api_stream_send_json(p->st, json_pack("{s:s}", "data", big));
		if (r == -EPIPE) {
			atomic_store(&flood_epipe, 1);
			(void)sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
			return 0;
		}
	} else {
		r = api_stream_send_json(p->st, json_pack("{s:i}", "i", p->n));
		if (r < 0) { /* the closed callback frees us */
			(void)sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
			return 0;
		}
	}
	assert_int_equal(r, 0);
	if (++p->n == p->limit) {
		producer_free(p);
		return 0;
	}
	(void)sd_event_source_set_time_relative(s, p->line_size ? 1000 : 5000);
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void on_producer_closed(struct api_stream *st, void *userdata) {
	struct producer *p = userdata;

	if (p->line_size)
		atomic_store(&flood_closed, 1);
	else
		atomic_fetch_add(&stream_closed, 1);
	producer_free(p);
}

static int h_stream(struct api_request *req, void *userdata) {
	struct producer *p = xnew(struct producer, 1);
	const char *path = api_request_path(req);

	p->st = api_stream_begin(req, 200);
	p->limit = streq(path, "/stream") ? 5 : -1;
	p->line_size = streq(path, "/stream-flood") ? 256 * 1024 : 0;
	api_stream_set_closed_callback(p->st, on_producer_closed, p);
	assert_int_equal(sd_event_add_time_relative(env.event, &p->timer, CLOCK_MONOTONIC, 1000, 1, on_produce, p), 0);
	return 0;
}

static void on_idle_closed(struct api_stream *st, void *userdata) {
	atomic_fetch_add(&stream_closed, 1);
	api_stream_end(st);
}

/* One line, then silence until the client leaves: only the EPOLLRDHUP
 * watch can notice. */
static atomic_int idle_begun;

static int h_stream_idle(struct api_request *req, void *userdata) {
	struct api_stream *st = api_stream_begin(req, 200);

	atomic_fetch_add(&idle_begun, 1);
	assert_int_equal(api_stream_send_json(st, json_pack("{s:i}", "hello", 1)), 0);
	api_stream_set_closed_callback(st, on_idle_closed, NULL);
	return 0;
}

static int h_stream_error(struct api_request *req, void *userdata) {
	struct api_stream *st = api_stream_begin(req, 200);
	struct za_error e = { .kind = ZA_ERROR_PULL_FAILED, .code = EIO, .message = (char *)"fetch layer: 500" };

	assert_int_equal(api_stream_send_json(st, json_pack("{s:i}", "i", 0)), 0);
	assert_int_equal(api_stream_send_error(st, &e), 0);
	api_stream_end(st);
	return 0;
}

static int on_stream_async_timer(sd_event_source *s, uint64_t usec, void *userdata) {
	struct api_stream *st = api_stream_begin(userdata, 200);

	assert_int_equal(api_stream_send_json(st, json_pack("{s:i}", "late", 1)), 0);
	assert_int_equal(api_stream_send_json(st, json_pack("{s:i}", "late", 2)), 0);
	api_stream_end(st);
	return 0;
}

/* Suspended first, the stream begins later (a pull that waits its turn). */
static int h_stream_async(struct api_request *req, void *userdata) {
	api_request_suspend(req);
	assert_int_equal(
	        sd_event_add_time_relative(env.event, NULL, CLOCK_MONOTONIC, 20 * 1000, 1, on_stream_async_timer, req),
	        0);
	return API_ASYNC;
}

static int on_quit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
	return sd_event_exit(env.event, 0);
}

static void *loop_main(void *arg) {
	static const struct {
		const char *method, *path;
		api_handler_fn fn;
	} routes[] = {
		{ "GET", "/echo", h_echo },
		{ "POST", "/echo", h_echo },
		{ "GET", "/fail", h_fail },
		{ "GET", "/noreply", h_noreply },
		{ "GET", "/async", h_async },
		{ "GET", "/async-error", h_async },
		{ "GET", "/stream", h_stream },
		{ "GET", "/stream-forever", h_stream },
		{ "GET", "/stream-flood", h_stream },
		{ "GET", "/stream-idle", h_stream_idle },
		{ "GET", "/stream-error", h_stream_error },
		{ "GET", "/hang", h_hang },
		{ "GET", "/stream-async", h_stream_async },
	};
	int fd;

	assert_int_equal(sd_event_new(&env.event), 0);
	fd = api_listen_unix(env.sock, 0660, (gid_t)-1, NULL);
	assert_true(fd >= 0);
	assert_int_equal(api_server_new(env.event, fd, &env.server, NULL), 0);
	for (size_t i = 0; i < ELEMENTSOF(routes); i++)
		assert_int_equal(api_server_add_route(env.server, routes[i].method, routes[i].path, routes[i].fn, NULL),
		                 0);
	assert_int_equal(api_server_add_route(env.server, "GET", "/echo", h_echo, NULL), -EEXIST);
	assert_int_equal(sd_event_add_io(env.event, NULL, env.quit_fd, EPOLLIN, on_quit, NULL), 0);
	sem_post(&env.ready);
	assert_int_equal(sd_event_loop(env.event), 0);
	env.server = api_server_free(env.server);
	env.event = sd_event_unref(env.event);
	return NULL;
}

static int group_setup(void **state) {
	memcpy(env.dir, "/tmp/test-api-XXXXXX", sizeof("/tmp/test-api-XXXXXX"));
	assert_non_null(mkdtemp(env.dir));
	(void)snprintf(env.sock, sizeof(env.sock), "%s/agent.sock", env.dir);
	setenv("ZLAYER_RUNTIME_DIR", env.dir, 1);
	env.quit_fd = eventfd(0, EFD_CLOEXEC);
	sem_init(&env.ready, 0, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	assert_int_equal(pthread_create(&env.thread, NULL, loop_main, NULL), 0);
	sem_wait(&env.ready);
	return 0;
}

static void stop_server(void) {
	uint64_t one = 1;

	if (env.quit_fd < 0)
		return;
	assert_int_equal(write(env.quit_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(env.thread, NULL);
	close(env.quit_fd);
	env.quit_fd = -1;
}

static int group_teardown(void **state) {
	stop_server();
	unlink(env.sock);
	rmdir(env.dir);
	curl_global_cleanup();
	return 0;
}

/* ---- a plain curl client ---- */

struct reply {
	long status;
	struct strbuf body, headers;
	int abort_after; /* > 0: fail the transfer after this many body callbacks */
};

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
	struct reply *r = userdata;

	strbuf_add(&r->body, data, size * n);
	if (r->abort_after > 0 && --r->abort_after == 0)
		return 0;
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
	strbuf_add(&((struct reply *)userdata)->headers, data, size * n);
	return size * n;
}

struct upload {
	const char *data;
	size_t len, off;
};

static size_t on_read(char *buf, size_t size, size_t n, void *userdata) {
	struct upload *u = userdata;
	size_t k = MIN(size * n, u->len - u->off);

	memcpy(buf, u->data + u->off, k);
	u->off += k;
	return k;
}

static bool http_expect;

static CURLcode http(const char *method, const char *path, const char *body, size_t len, bool chunked,
                     struct reply *r) {
	CURL *c = curl_easy_init();
	_cleanup_free_ char *url = xasprintf("http://localhost%s", path);
	struct curl_slist *h = curl_slist_append(NULL, http_expect ? "Expect: 100-continue" : "Expect:");
	struct upload u = { body, len, 0 };
	CURLcode rc;

	strbuf_init(&r->body);
	strbuf_init(&r->headers);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, env.sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (chunked) {
		h = curl_slist_append(h, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &u);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return rc;
}

static void reply_release(struct reply *r) {
	strbuf_release(&r->body);
	strbuf_release(&r->headers);
}

/* Status and the body's JSON; asserts it parses. */
static json_t *call(const char *method, const char *path, const char *body, long expect_status) {
	struct reply r = { 0 };
	json_t *j;

	assert_int_equal(http(method, path, body, body ? strlen(body) : 0, false, &r), CURLE_OK);
	assert_int_equal(r.status, expect_status);
	j = json_loadb(r.body.buf, r.body.len, 0, NULL);
	assert_non_null(j);
	assert_true(strstr(r.headers.buf, "Content-Type: application/json") != NULL);
	reply_release(&r);
	return j;
}

static void assert_error(json_t *j, const char *kind, const char *message_part) {
	assert_string_equal(json_string_value(json_object_get(j, "kind")), kind);
	assert_non_null(json_string_value(json_object_get(j, "message")));
	if (!strstr(json_string_value(json_object_get(j, "message")), message_part))
		fail_msg("message '%s' lacks '%s'", json_string_value(json_object_get(j, "message")), message_part);
	assert_int_equal(json_object_size(j), 2);
	json_decref(j);
}

static void wait_for(atomic_int *flag, int value) {
	for (int i = 0; i < 500 && atomic_load(flag) < value; i++)
		usleep(10 * 1000);
	assert_int_equal(atomic_load(flag), value);
}

/* ---- tests ---- */

static void test_socket_mode(void **state) {
	struct stat st;

	assert_int_equal(stat(env.sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
}

static void test_builtin_routes(void **state) {
	json_t *j = call("GET", "/v1/version", NULL, 200);

	assert_string_equal(json_string_value(json_object_get(j, "version")), ZA_VERSION);
	assert_int_equal(json_integer_value(json_object_get(j, "api_version")), API_VERSION);
	json_decref(j);
	j = call("GET", "/v1/ping", NULL, 200);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
}

static void test_routes_and_query(void **state) {
	json_t *j = call("GET", "/echo?x=a%20b%2Fc&y=1", NULL, 200);

	assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
	assert_string_equal(json_string_value(json_object_get(j, "path")), "/echo");
	assert_string_equal(json_string_value(json_object_get(j, "x")), "a b/c");
	assert_true(json_is_null(json_object_get(j, "body")));
	json_decref(j);

	j = call("POST", "/echo", "{\"a\": [1, 2]}", 200);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(json_object_get(j, "body"), "a"), 1)), 2);
	json_decref(j);

	/* empty body: no JSON */
	j = call("POST", "/echo", "", 200);
	assert_true(json_is_null(json_object_get(j, "body")));
	json_decref(j);
}

static void test_errors(void **state) {
	struct reply r = { 0 };

	assert_error(call("GET", "/nope", NULL, 404), "not_found", "no API endpoint '/nope'");
	assert_error(call("GET", "/echo/", NULL, 404), "not_found", "'/echo/'");
	assert_error(call("DELETE", "/echo", NULL, 405), "unsupported",
	             "method 'DELETE' is not allowed on '/echo'; use GET, POST");
	assert_int_equal(http("PUT", "/echo", NULL, 0, false, &r), CURLE_OK);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.headers.buf, "Allow: GET, POST"));
	reply_release(&r);

	assert_error(call("POST", "/echo", "{\"a\": 1,\n  bad}", 400), "invalid_spec",
	             "malformed JSON request body at line 2, column");
	assert_error(call("POST", "/echo", "[1, 2]", 400), "invalid_spec", "request body must be a JSON object");
	assert_error(call("POST", "/echo", "{\"a\": 1, \"a\": 2}", 400), "invalid_spec", "duplicate");
	assert_error(call("GET", "/fail", NULL, 500), "internal", "GET /fail failed: Input/output error");
	assert_error(call("GET", "/noreply", NULL, 500), "internal", "GET /noreply did not reply");
}

static void test_body_limit(void **state) {
	size_t len = API_BODY_MAX + 1;
	_cleanup_free_ char *big = xmalloc(len);
	struct reply r = { 0 };
	json_t *j;

	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	/* Content-Length says it all: refused before the body is read */
	(void)http("POST", "/echo", big, len, false, &r);
	assert_int_equal(r.status, 413);
	j = json_loadb(r.body.buf, r.body.len, 0, NULL);
	assert_error(j, "invalid_spec", "larger than the limit of 1048576 bytes");
	reply_release(&r);

	/* chunked: refused once the limit is crossed */
	(void)http("POST", "/echo", big, len, true, &r);
	assert_int_equal(r.status, 413);
	j = json_loadb(r.body.buf, r.body.len, 0, NULL);
	assert_error(j, "invalid_spec", "larger than the limit");
	reply_release(&r);

	/* a client that waits for "100 Continue" is answered before it sends */
	http_expect = true;
	assert_int_equal(http("POST", "/echo", big, len, false, &r), CURLE_OK);
	http_expect = false;
	assert_int_equal(r.status, 413);
	j = json_loadb(r.body.buf, r.body.len, 0, NULL);
	assert_error(j, "invalid_spec", "larger than the limit");
	reply_release(&r);

	/* exactly at the limit is fine */
	(void)http("POST", "/echo", big, len - 1, false, &r);
	assert_int_equal(r.status, 400); /* "{   ...  " is unterminated, but it was read */
	reply_release(&r);

	/* the server is still healthy */
	json_decref(call("GET", "/v1/ping", NULL, 200));
}

static void test_async(void **state) {
	json_t *j = call("GET", "/async", NULL, 201);

	assert_true(json_is_true(json_object_get(j, "async")));
	json_decref(j);
	assert_error(call("GET", "/async-error", NULL, 404), "not_found", "thing 'x' not found");
}

static void test_stream(void **state) {
	struct reply r = { 0 };
	const char *p;
	int lines = 0;

	assert_int_equal(http("GET", "/stream", NULL, 0, false, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers.buf, "Transfer-Encoding: chunked"));
	assert_non_null(strstr(r.headers.buf, "Content-Type: application/x-ndjson"));
	for (p = r.body.buf; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 5);
	assert_string_equal(r.body.buf, "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n{\"i\":4}\n");
	reply_release(&r);

	assert_int_equal(http("GET", "/stream-async", NULL, 0, false, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body.buf, "{\"late\":1}\n{\"late\":2}\n");
	reply_release(&r);
}

static void test_stream_disconnect(void **state) {
	struct reply r = { .abort_after = 1 };
	int before = atomic_load(&stream_closed);

	/* the producer keeps writing; the client reads once and leaves */
	assert_int_equal(http("GET", "/stream-forever", NULL, 0, false, &r), CURLE_WRITE_ERROR);
	reply_release(&r);
	wait_for(&stream_closed, before + 1);

	/* the stream is idle (connection suspended) when the client leaves */
	r = (struct reply){ .abort_after = 1 };
	assert_int_equal(http("GET", "/stream-idle", NULL, 0, false, &r), CURLE_WRITE_ERROR);
	assert_string_equal(r.body.buf, "{\"hello\":1}\n");
	reply_release(&r);
	wait_for(&stream_closed, before + 2);
}

static void test_stream_slow_reader_dropped(void **state) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char req[] = "GET /stream-flood HTTP/1.1\r\nHost: localhost\r\n\r\n";
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, env.sock, strlen(env.sock) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	/* never read: the server must give up on us at 8 MiB buffered */
	wait_for(&flood_epipe, 1);
	wait_for(&flood_closed, 1);
	close(fd);
	json_decref(call("GET", "/v1/ping", NULL, 200));
}

/* ---- the CLI's client against the same server ---- */

static int collect_line(json_t *line, void *userdata) {
	json_array_append(userdata, line);
	return json_array_size(userdata) == 100 ? -ECANCELED : 0;
}

static int cancel_line(json_t *line, void *userdata) {
	return -ECANCELED;
}

static void test_client(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	json_t *reply = NULL, *body, *lines;
	_cleanup_free_ char *esc = api_client_escape("docker.io/library/busybox:1.36 &x=y");
	int before;

	assert_string_equal(esc, "docker.io%2Flibrary%2Fbusybox%3A1.36%20%26x%3Dy");

	assert_int_equal(api_client_call("GET", "/v1/version", NULL, &reply, NULL), 0);
	assert_int_equal(json_integer_value(json_object_get(reply, "api_version")), API_VERSION);
	json_decref(reply);

	body = json_pack("{s:s}", "name", "x");
	assert_int_equal(api_client_call("POST", "/echo", body, &reply, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "body"), "name")), "x");
	json_decref(reply);
	json_decref(body);

	assert_int_equal(api_client_call("GET", "/nope?x=1", NULL, &reply, &err), -EREMOTEIO);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	assert_string_equal(err->message, "no API endpoint '/nope'");
	assert_false(api_client_error_unreachable(err));
	err = za_error_free(err);

	lines = json_array();
	assert_int_equal(api_client_stream("GET", "/stream", NULL, collect_line, lines, NULL), 0);
	assert_int_equal(json_array_size(lines), 5);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(lines, 4), "i")), 4);
	json_array_clear(lines);

	assert_int_equal(api_client_stream("GET", "/stream-error", NULL, collect_line, lines, &err), -EREMOTEIO);
	assert_int_equal(json_array_size(lines), 1);
	assert_int_equal(err->kind, ZA_ERROR_PULL_FAILED);
	assert_string_equal(err->message, "fetch layer: 500");
	err = za_error_free(err);
	json_decref(lines);

	assert_int_equal(api_client_stream("GET", "/nope", NULL, cancel_line, NULL, &err), -EREMOTEIO);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	err = za_error_free(err);

	before = atomic_load(&stream_closed);
	assert_int_equal(api_client_stream("GET", "/stream-forever", NULL, cancel_line, NULL, &err), -ECANCELED);
	err = za_error_free(err);
	wait_for(&stream_closed, before + 1);
}

static void test_client_unreachable(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	char dir[] = "/tmp/test-api-none-XXXXXX";
	_cleanup_free_ char *sock = NULL, *expect = NULL;
	int fd;

	assert_non_null(mkdtemp(dir));
	setenv("ZLAYER_RUNTIME_DIR", dir, 1);

	expect = xasprintf("cannot reach the zlayer-agent daemon at %s/agent.sock (No such file or directory); "
	                   "start it with 'zlayer-agent daemon'",
	                   dir);
	assert_int_equal(api_client_call("GET", "/v1/version", NULL, NULL, &err), -ENOENT);
	assert_string_equal(err->message, expect);
	assert_int_equal(err->kind, ZA_ERROR_NETWORK);
	assert_true(api_client_error_unreachable(err));
	err = za_error_free(err);

	/* a socket file nobody listens on (a daemon that died) */
	sock = xasprintf("%s/agent.sock", dir);
	fd = api_listen_unix(sock, 0660, (gid_t)-1, NULL);
	assert_true(fd >= 0);
	close(fd);
	free(expect);
	expect = xasprintf("cannot reach the zlayer-agent daemon at %s (Connection refused); "
	                   "start it with 'zlayer-agent daemon'",
	                   sock);
	assert_int_equal(api_client_stream("GET", "/v1/version", NULL, cancel_line, NULL, &err), -ECONNREFUSED);
	assert_string_equal(err->message, expect);

	unlink(sock);
	rmdir(dir);
	setenv("ZLAYER_RUNTIME_DIR", env.dir, 1);
}

struct bg_get {
	const char *path;
	struct reply r;
	CURLcode rc;
};

static void *bg_get_main(void *userdata) {
	struct bg_get *g = userdata;
	g->rc = http("GET", g->path, NULL, 0, false, &g->r);
	return NULL;
}

/* Last of the group: the server goes away under a suspended request and an
 * idle stream; both clients hear about it, the owners' late calls are safe. */
static void test_free_with_requests_in_flight(void **state) {
	struct bg_get hang = { .path = "/hang" }, idle = { .path = "/stream-idle" };
	pthread_t t1, t2;
	int before = atomic_load(&stream_closed), begun = atomic_load(&idle_begun);
	json_t *j;

	assert_int_equal(pthread_create(&t1, NULL, bg_get_main, &hang), 0);
	assert_int_equal(pthread_create(&t2, NULL, bg_get_main, &idle), 0);
	wait_for(&hung_called, 1);
	wait_for(&idle_begun, begun + 1);
	usleep(50 * 1000); /* let the first line go out and the stream fall idle */
	stop_server();
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);

	assert_int_equal(hang.rc, CURLE_OK);
	assert_int_equal(hang.r.status, 503);
	j = json_loadb(hang.r.body.buf, hang.r.body.len, 0, NULL);
	assert_error(j, "internal", "the daemon is shutting down");
	assert_int_equal(atomic_load(&stream_closed), before + 1);
	assert_string_equal(idle.r.body.buf, "{\"hello\":1}\n");
	reply_release(&hang.r);
	reply_release(&idle.r);

	/* the owner answers late: nothing is sent, its reference is dropped */
	assert_true(api_request_gone(hung_req));
	assert_int_equal(api_reply_json(hung_req, 200, json_object()), -EALREADY);
}

/* ---- the daemon's own machinery ---- */

static pthread_t loop_thread;
static int posted;
static bool posted_elsewhere;

static void on_posted(void *userdata) {
	if (!pthread_equal(pthread_self(), loop_thread))
		posted_elsewhere = true;
	posted++;
}

static void on_last(void *userdata) {
	daemon_stop(userdata);
}

static void *poster(void *userdata) {
	for (int i = 0; i < 1000; i++)
		daemon_post(userdata, on_posted, NULL);
	return NULL;
}

static void test_daemon_post_and_lock(void **state) {
	_cleanup_free_ char *root = NULL, *run = NULL, *sock = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	char dir[] = "/tmp/test-daemon-XXXXXX";
	struct daemon_config cfg;
	struct daemon *d = NULL, *d2 = NULL;
	pthread_t threads[4];
	struct stat st;

	assert_non_null(mkdtemp(dir));
	root = xasprintf("%s/root", dir);
	run = xasprintf("%s/run", dir);
	daemon_config_init(&cfg);
	free(cfg.root_dir);
	free(cfg.runtime_dir);
	cfg.root_dir = xstrdup(root);
	cfg.runtime_dir = xstrdup(run);
	assert_int_equal(daemon_config_finish(&cfg, NULL), 0);
	assert_int_equal(daemon_new(&cfg, &d, NULL), 0);

	sock = xasprintf("%s/agent.sock", run);
	assert_int_equal(stat(root, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(run, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_int_equal(stat(sock, &st), 0);

	/* one daemon per runtime directory */
	assert_int_equal(daemon_new(&cfg, &d2, &err), -EBUSY);
	assert_null(d2);
	{
		_cleanup_free_ char *m =
		        xasprintf("another zlayer-agent daemon (pid %d) is already running with runtime directory '%s'",
		                  (int)getpid(), run);
		if (!strstr(err->message, m))
			fail_msg("'%s' lacks '%s'", err->message, m);
	}
	assert_int_equal(stat(sock, &st), 0); /* the loser did not remove the winner's socket */

	loop_thread = pthread_self();
	for (size_t i = 0; i < ELEMENTSOF(threads); i++)
		assert_int_equal(pthread_create(&threads[i], NULL, poster, d), 0);
	for (size_t i = 0; i < ELEMENTSOF(threads); i++)
		pthread_join(threads[i], NULL);
	daemon_post(d, on_last, d);
	assert_int_equal(daemon_loop(d, NULL), 0);
	assert_int_equal(posted, 4000);
	assert_false(posted_elsewhere);
	assert_int_equal(stat(sock, &st), -1); /* stopping removed the socket */

	d = daemon_free(d);
	daemon_config_release(&cfg);
	rm_rf(dir);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_mode),
		cmocka_unit_test(test_builtin_routes),
		cmocka_unit_test(test_routes_and_query),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_stream_disconnect),
		cmocka_unit_test(test_stream_slow_reader_dropped),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_client_unreachable),
		cmocka_unit_test(test_free_with_requests_in_flight),
	};
	const struct CMUnitTest daemon_tests[] = {
		cmocka_unit_test(test_daemon_post_and_lock),
	};
	int r;

	log_setup("test-api-server");
	r = cmocka_run_group_tests_name("api-server", tests, group_setup, group_teardown);
	return r + cmocka_run_group_tests_name("daemon", daemon_tests, NULL, NULL);
}
