/* SPDX-License-Identifier: Apache-2.0 */
/* The API's TCP listener: listen addresses, the token file, the bearer
 * check (before any body, before any handler), and the CLI's client over
 * TCP (--host, the token sources, the 401 message). One server, a unix
 * and a TCP listener, its sd-event loop in a thread of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "api/server.h"
#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strbuf.h"
#include "cli/client.h"

#define TOKEN       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define OTHER_TOKEN "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" /* same length */

static struct {
	char dir[64];
	char sock[128];
	char tcp[64]; /* "127.0.0.1:PORT" */
	pthread_t thread;
	sd_event *event;
	struct api_server *server;
	int quit_fd;
	sem_t ready;
} env;

static atomic_int handled;

/* ---- addresses ---- */

static void test_address_parse(void **state) {
	static const char *const bad[] = {
		"",         "127.0.0.1", "localhost:80", "::1:80",     "[::1]80",     "[::1]",    "1.2.3.4:65536",
		"1.2.3.4:", ":80",       "1.2.3:80",     "1.2.3.4:-1", "1.2.3.4: 80", "[nope]:1", "1.2.3.4:80x",
	};
	struct sockaddr_storage ss;
	socklen_t len;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_za_error_ struct za_error *err = NULL;

		assert_int_equal(api_address_parse(bad[i], &ss, &len, &err), -EINVAL);
		assert_int_equal(err->kind, ZA_ERROR_CONFIGURATION);
		assert_non_null(strstr(err->message, "invalid listen address"));
	}

	assert_int_equal(api_address_parse("127.0.0.1:2376", &ss, &len, NULL), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	{
		_cleanup_free_ char *s = api_address_format((struct sockaddr *)&ss);
		assert_string_equal(s, "127.0.0.1:2376");
	}
	assert_true(api_address_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(api_address_parse("127.5.6.7:0", &ss, &len, NULL), 0);
	assert_true(api_address_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(api_address_parse("0.0.0.0:2376", &ss, &len, NULL), 0);
	assert_false(api_address_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(api_address_parse("10.1.2.3:80", &ss, &len, NULL), 0);
	assert_false(api_address_is_loopback((struct sockaddr *)&ss));

	assert_int_equal(api_address_parse("[::1]:65535", &ss, &len, NULL), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	{
		_cleanup_free_ char *s = api_address_format((struct sockaddr *)&ss);
		assert_string_equal(s, "[::1]:65535");
	}
	assert_true(api_address_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(api_address_parse("[::]:1", &ss, &len, NULL), 0);
	assert_false(api_address_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(api_address_parse("[::ffff:127.0.0.1]:1", &ss, &len, NULL), 0);
	assert_true(api_address_is_loopback((struct sockaddr *)&ss));
}

static void test_listen_tcp(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *bound = NULL, *again = NULL;
	bool loopback = false;
	int fd, fd2;

	fd = api_listen_tcp("127.0.0.1:0", &bound, &loopback, NULL);
	assert_true(fd >= 0);
	assert_true(loopback);
	assert_true(strneq(bound, "127.0.0.1:", strlen("127.0.0.1:")));
	assert_string_not_equal(bound, "127.0.0.1:0");
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);

	fd2 = api_listen_tcp(bound, &again, NULL, &err);
	assert_int_equal(fd2, -EADDRINUSE);
	assert_non_null(strstr(err->message, "already in use"));
	close(fd);
}

/* ---- the token file ---- */

static void test_token_file(void **state) {
	char dir[] = "/tmp/test-api-auth-XXXXXX";
	_cleanup_free_ char *path = NULL, *link = NULL, *t1 = NULL, *t2 = NULL, *text = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	bool created = false;
	struct stat st;
	size_t len;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/api-token", dir);
	link = xasprintf("%s/link", dir);

	/* missing, not to be made */
	assert_int_equal(api_token_load(path, false, &t1, &created, &err), -ENOENT);
	err = za_error_free(err);

	/* made: 0600, 64 hex characters and a newline */
	assert_int_equal(api_token_load(path, true, &t1, &created, NULL), 0);
	assert_true(created);
	assert_int_equal(strlen(t1), 64);
	assert_int_equal(strspn(t1, "0123456789abcdef"), 64);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(read_full_file(path, 4096, &text, &len), 0);
	assert_int_equal(len, 65);
	assert_memory_equal(text, t1, 64);
	assert_int_equal(text[64], '\n');

	/* kept */
	assert_int_equal(api_token_load(path, true, &t2, &created, NULL), 0);
	assert_false(created);
	assert_string_equal(t1, t2);
	free(t2);
	t2 = NULL;

	/* stricter is fine, looser is refused and left alone */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(api_token_load(path, true, &t2, NULL, NULL), 0);
	free(t2);
	t2 = NULL;
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(api_token_load(path, true, &t2, NULL, &err), -EPERM);
	assert_non_null(strstr(err->message, "has mode 0640, looser than 0600"));
	err = za_error_free(err);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(api_token_load(path, true, &t2, NULL, &err), -EPERM);
	err = za_error_free(err);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);

	/* malformed: short, long, not hex, two lines */
	static const char *const bad[] = { "abc\n", TOKEN "0\n",
		                           "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		                           TOKEN "\n\n", "" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		assert_int_equal(write_file_atomic(path, bad[i], strlen(bad[i]), 0600), 0);
		assert_int_equal(api_token_load(path, true, &t2, NULL, &err), -EINVAL);
		assert_non_null(strstr(err->message, "is malformed"));
		err = za_error_free(err);
	}
	/* no newline, upper case: as written */
	assert_int_equal(
	        write_file_atomic(path, "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 64, 0600),
	        0);
	assert_int_equal(api_token_load(path, true, &t2, NULL, NULL), 0);
	assert_string_equal(t2, "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");

	/* a symlink is not followed */
	assert_int_equal(symlink(path, link), 0);
	free(t1);
	t1 = NULL;
	assert_int_equal(api_token_load(link, true, &t1, NULL, &err), -ELOOP);
	assert_non_null(strstr(err->message, "symbolic link"));
	err = za_error_free(err);

	unlink(link);
	unlink(path);
	rmdir(dir);
}

/* ---- a server with both listeners ---- */

static int h_echo(struct api_request *req, void *userdata) {
	json_t *body = api_request_body(req);

	atomic_fetch_add(&handled, 1);
	return api_reply_json(
	        req, 200, json_pack("{s:s, s:O?}", "path", api_request_path(req), "body", body ? body : json_null()));
}

static int h_stream(struct api_request *req, void *userdata) {
	struct api_stream *st = api_stream_begin(req, 200);

	atomic_fetch_add(&handled, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(api_stream_send_json(st, json_pack("{s:i}", "i", i)), 0);
	api_stream_end(st);
	return 0;
}

static int on_quit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
	return sd_event_exit(env.event, 0);
}

static void *loop_main(void *arg) {
	_cleanup_free_ char *bound = NULL;
	int fd;

	assert_int_equal(sd_event_new(&env.event), 0);
	fd = api_listen_unix(env.sock, 0660, (gid_t)-1, NULL);
	assert_true(fd >= 0);
	assert_int_equal(api_server_new(env.event, fd, &env.server, NULL), 0);
	fd = api_listen_tcp("127.0.0.1:0", &bound, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(api_server_add_listener(env.server, fd, TOKEN, NULL), 0);
	(void)snprintf(env.tcp, sizeof(env.tcp), "%s", bound);
	assert_int_equal(api_server_add_route(env.server, "GET", "/echo", h_echo, NULL), 0);
	assert_int_equal(api_server_add_route(env.server, "POST", "/echo", h_echo, NULL), 0);
	assert_int_equal(api_server_add_route(env.server, "GET", "/stream", h_stream, NULL), 0);
	assert_int_equal(sd_event_add_io(env.event, NULL, env.quit_fd, EPOLLIN, on_quit, NULL), 0);
	sem_post(&env.ready);
	assert_int_equal(sd_event_loop(env.event), 0);
	env.server = api_server_free(env.server);
	env.event = sd_event_unref(env.event);
	return NULL;
}

static int group_setup(void **state) {
	memcpy(env.dir, "/tmp/test-auth-XXXXXX", sizeof("/tmp/test-auth-XXXXXX"));
	assert_non_null(mkdtemp(env.dir));
	(void)snprintf(env.sock, sizeof(env.sock), "%s/agent.sock", env.dir);
	setenv("ZLAYER_RUNTIME_DIR", env.dir, 1);
	unsetenv("ZLAYER_HOST");
	unsetenv("ZLAYER_TOKEN");
	unsetenv("ZLAYER_TOKEN_FILE");
	env.quit_fd = eventfd(0, EFD_CLOEXEC);
	sem_init(&env.ready, 0, 0);
	assert_int_equal(pthread_create(&env.thread, NULL, loop_main, NULL), 0);
	sem_wait(&env.ready);
	return 0;
}

static int group_teardown(void **state) {
	uint64_t one = 1;

	assert_int_equal(write(env.quit_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(env.thread, NULL);
	close(env.quit_fd);
	unlink(env.sock);
	rmdir(env.dir);
	return 0;
}

/* A raw exchange on a fresh TCP connection: send req, read until the
 * server closes or 5 s pass. */
static char *raw_tcp(const char *req, size_t len) {
	struct sockaddr_in sa = { .sin_family = AF_INET };
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	_cleanup_close_ int fd = -1;
	const char *colon = strrchr(env.tcp, ':');
	char buf[4096];

	sa.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		strbuf_add(&out, buf, (size_t)n);
		if (strstr(strbuf_str(&out), "\r\n\r\n") && strstr(strbuf_str(&out), "}\n"))
			break;
	}
	return strbuf_detach(&out, NULL);
}

static void test_bearer_check(void **state) {
	static const char *const rejected[] = {
		"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " TOKEN "\r\n\r\n",
		"GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n\r\n",
		"GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "0\r\n\r\n",
		"GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " OTHER_TOKEN "\r\n\r\n",
		"GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n\r\n",
		"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	int before = atomic_load(&handled);

	for (size_t i = 0; i < ELEMENTSOF(rejected); i++) {
		_cleanup_free_ char *reply = raw_tcp(rejected[i], strlen(rejected[i]));

		assert_true(strneq(reply, "HTTP/1.1 401 ", 13));
		assert_non_null(strcasestr(reply, "\r\nWWW-Authenticate: Bearer realm=\"zlayer-agent\"\r\n"));
		assert_non_null(strstr(reply, "{\"kind\":\"unauthorized\",\"message\":"));
	}
	/* the right token, any case of the scheme */
	{
		static const char ok[] = "GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: bearer  " TOKEN "\r\n\r\n";
		_cleanup_free_ char *reply = raw_tcp(ok, strlen(ok));

		assert_true(strneq(reply, "HTTP/1.1 200 ", 13));
		assert_non_null(strstr(reply, "\"path\":\"/echo\""));
	}
	assert_int_equal(atomic_load(&handled), before + 1);
}

/* A body the client announces is never read without the token: the 401
 * comes right after the headers. */
static void test_unauthenticated_body(void **state) {
	static const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	                          "Content-Length: 100000000\r\n\r\n{\"a\":";
	int before = atomic_load(&handled);
	_cleanup_free_ char *reply = raw_tcp(req, strlen(req));

	assert_true(strneq(reply, "HTTP/1.1 401 ", 13));
	assert_int_equal(atomic_load(&handled), before);
}

static int count_line(json_t *line, void *userdata) {
	(*(int *)userdata)++;
	return 0;
}

static json_t *drop(json_t *j) {
	json_decref(j);
	return NULL;
}

static void test_client_tcp(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *host = xasprintf("tcp://%s", env.tcp), *file = xasprintf("%s/token", env.dir),
	                    *endpoint = NULL;
	json_t *reply = NULL, *body = json_pack("{s:s}", "k", "v");
	int lines = 0;

	/* the unix socket needs no token */
	assert_int_equal(api_client_call("GET", "/echo", NULL, &reply, NULL), 0);
	reply = drop(reply);

	api_client_set_host(host);
	endpoint = api_client_endpoint();
	assert_string_equal(endpoint, host);

	/* no token */
	assert_int_equal(api_client_call("GET", "/echo", NULL, &reply, &err), -EACCES);
	assert_int_equal(err->kind, ZA_ERROR_UNAUTHORIZED);
	assert_non_null(strstr(err->message, "wants its API token: set ZLAYER_TOKEN"));
	assert_false(api_client_error_unreachable(err));
	err = za_error_free(err);

	/* a wrong one */
	setenv("ZLAYER_TOKEN", "nope", 1);
	assert_int_equal(api_client_call("GET", "/echo", NULL, &reply, &err), -EACCES);
	assert_non_null(strstr(err->message, "refused the API token from $ZLAYER_TOKEN"));
	err = za_error_free(err);

	/* the right one: a call with a body, a stream */
	setenv("ZLAYER_TOKEN", TOKEN, 1);
	assert_int_equal(api_client_call("POST", "/echo", body, &reply, NULL), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "body"), "k")), "v");
	reply = drop(reply);
	assert_int_equal(api_client_stream("GET", "/stream", NULL, count_line, &lines, NULL), 0);
	assert_int_equal(lines, 3);

	/* a token file wins over $ZLAYER_TOKEN */
	assert_int_equal(write_file_atomic(file, "wrong\n", 6, 0600), 0);
	api_client_set_token_file(file);
	assert_int_equal(api_client_call("GET", "/echo", NULL, &reply, &err), -EACCES);
	assert_non_null(strstr(err->message, "from --token-file"));
	err = za_error_free(err);
	assert_int_equal(write_file_atomic(file, TOKEN "\n", 65, 0600), 0);
	assert_int_equal(api_client_call("GET", "/echo", NULL, &reply, NULL), 0);
	reply = drop(reply);
	api_client_set_token_file(NULL);
	unsetenv("ZLAYER_TOKEN");
	setenv("ZLAYER_TOKEN_FILE", file, 1);
	assert_int_equal(api_client_call("GET", "/echo", NULL, &reply, NULL), 0);
	reply = drop(reply);
	unsetenv("ZLAYER_TOKEN_FILE");
	unlink(file);

	api_client_set_host(NULL);
	json_decref(body);
}

static void test_client_hosts(void **state) {
	static const char *const bad[] = { "http://x:1",    "tcp://x",         "tcp://:80",       "tcp://x:0",
		                           "tcp://x:99999", "tcp://x:80/path", "unix://relative", "tcp://[::1:80" };
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *unix_host = xasprintf("unix://%s", env.sock), *closed = NULL;
	json_t *reply = NULL;
	int fd;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		api_client_set_host(bad[i]);
		assert_int_equal(api_client_call("GET", "/echo", NULL, &reply, &err), -EINVAL);
		assert_int_equal(err->kind, ZA_ERROR_CONFIGURATION);
		assert_non_null(strstr(err->message, "use unix:///PATH or tcp://HOST:PORT"));
		err = za_error_free(err);
	}

	setenv("ZLAYER_HOST", unix_host, 1);
	api_client_set_host(NULL);
	assert_int_equal(api_client_call("GET", "/echo", NULL, &reply, NULL), 0);
	reply = drop(reply);
	unsetenv("ZLAYER_HOST");

	/* a port nobody listens on */
	fd = api_listen_tcp("127.0.0.1:0", &closed, NULL, NULL);
	assert_true(fd >= 0);
	close(fd);
	{
		_cleanup_free_ char *h = xasprintf("tcp://%s", closed);
		api_client_set_host(h);
		assert_int_equal(api_client_call("GET", "/echo", NULL, &reply, &err), -ECONNREFUSED);
		assert_true(api_client_error_unreachable(err));
		assert_non_null(strstr(err->message, "is a daemon running there with --listen?"));
		err = za_error_free(err);
	}
	api_client_set_host(NULL);
}

int main(void) {
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_address_parse),
		cmocka_unit_test(test_listen_tcp),
		cmocka_unit_test(test_token_file),
	};
	const struct CMUnitTest server[] = {
		cmocka_unit_test(test_bearer_check),
		cmocka_unit_test(test_unauthenticated_body),
		cmocka_unit_test(test_client_tcp),
		cmocka_unit_test(test_client_hosts),
	};
	int r;

	log_setup("test-api-auth");
	r = cmocka_run_group_tests_name("api-auth", pure, NULL, NULL);
	return r + cmocka_run_group_tests_name("api-auth-server", server, group_setup, group_teardown);
}
