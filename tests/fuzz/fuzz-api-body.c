/* SPDX-License-Identifier: Apache-2.0 */
/* Hostile requests against the real API server: libmicrohttpd on a unix
 * socket in a temporary directory, driven by its sd-event loop in this
 * thread, with routes whose handlers run the real body and query checks
 * (api-body.h with the handlers' tables, container_config_from_json).
 *
 * Input: a first byte, then the rest.
 *  - first byte & 0x80: the rest is sent as raw bytes (any HTTP, or none),
 *    then the write side is shut. The server must answer with HTTP or close,
 *    and then still serve a clean request.
 *  - otherwise: a route (first byte % routes); the rest up to the first
 *    '\n' is the query string, the remainder the body. The request is well
 *    formed, so exactly one reply comes back: a JSON object; an error one is
 *    {kind, message} with a known kind, 400s are invalid_spec and say what
 *    was wrong (field or parameter). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "api/api-body.h"
#include "api/container-json.h"
#include "api/server.h"
#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strbuf.h"
#include "cli/http-client.h"
#include "basic/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOOP_ROUNDS_MAX 20000 /* 1 ms each at most: a request not done by then hangs */
#define STALL_ROUNDS    30    /* raw input sent, nothing heard: the server waits for more */
#define REPLY_MAX       (4 * 1024 * 1024)

/* --- the handlers' tables (api-images.c, api-containers.c, api-secrets.c,
 * api-deployments.c) and a streaming exec's ------------------------------ */

static const struct api_body_field fetch_body[] = {
	{ "reference", API_JSON_STRING, .required = true, .max = 8192 },
	{ "platform", API_JSON_STRING, .max = 256 },
	{},
};

static const struct api_body_field tag_body[] = {
	{ "source", API_JSON_STRING, .required = true, .max = 8192 },
	{ "target", API_JSON_STRING, .required = true, .max = 8192 },
	{},
};

static const char *const pull_policies[] = { "missing", "always", "never", NULL };

static const struct api_body_field create_body[] = {
	{ "config", API_JSON_OBJECT, .required = true },
	{ "pull", API_JSON_STRING, .choices = pull_policies },
	{},
};

static const struct api_body_field secret_body[] = {
	{ "value", API_JSON_STRING },
	{ "value_base64", API_JSON_STRING },
	{},
};

static const struct api_body_field deploy_body[] = {
	{ "yaml", API_JSON_STRING, .required = true },
	{ "file", API_JSON_STRING, .max = 4096 },
	{},
};

static const struct api_body_field size_fields[] = {
	{ "rows", API_JSON_INTEGER, .required = true },
	{ "cols", API_JSON_INTEGER, .required = true },
	{},
};

static const struct api_body_field exec_body[] = {
	{ "argv", API_JSON_ARRAY, .required = true, .items = API_JSON_STRING, .max = 4096 },
	{ "env", API_JSON_ARRAY, .items = API_JSON_STRING, .max = 4096 },
	{ "tty", API_JSON_BOOLEAN },
	{ "size", API_JSON_OBJECT, .fields = size_fields },
	{},
};

/* --- handlers ------------------------------------------------------------- */

static int reply(struct api_request *req, int r, struct za_error *err) {
	if (r < 0) {
		r = api_reply_error(req, err);
		za_error_free(err);
		return r;
	}
	return api_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static int h_table(struct api_request *req, void *userdata) {
	struct za_error *err = NULL;
	json_t *body = api_request_body(req);
	int r = api_body_check(body, userdata, &err);

	if (r >= 0 && userdata == create_body) {
		struct container_config c;

		r = container_config_from_json(json_object_get(body, "config"), &c, &err);
		if (r >= 0)
			container_config_release(&c);
	}
	if (r >= 0 && userdata == secret_body &&
	    !json_object_get(body, "value") == !json_object_get(body, "value_base64"))
		r = za_error_make(&err, ZA_ERROR_INVALID_SPEC, EINVAL,
		                  "request body: exactly one of the fields 'value' and 'value_base64' is required");
	return reply(req, r, err);
}

static int h_query(struct api_request *req, void *userdata) {
	static const char *const names[] = { "all", "force", "follow", "attach", "wait_removed" };
	struct za_error *err = NULL;
	int r = 0;

	for (size_t i = 0; i < ELEMENTSOF(names) && r >= 0; i++) {
		bool b;
		r = api_query_bool(req, names[i], false, &b, &err);
	}
	return reply(req, r, err);
}

static const struct {
	const char *method, *path;
	api_handler_fn fn;
	const void *table;
} routes[] = {
	{ "POST", "/v1/images/pull", h_table, fetch_body },
	{ "POST", "/v1/images/load", h_table, fetch_body },
	{ "POST", "/v1/images/tag", h_table, tag_body },
	{ "POST", "/v1/containers", h_table, create_body },
	{ "PUT", "/v1/secrets", h_table, secret_body },
	{ "POST", "/v1/deployments", h_table, deploy_body },
	{ "POST", "/v1/containers/exec", h_table, exec_body },
	{ "GET", "/v1/containers", h_query, NULL },
	/* not routed: 404 and 405 from the server itself */
	{ "DELETE", "/v1/images/pull", NULL, NULL },
	{ "GET", "/v1/nowhere", NULL, NULL },
};

/* --- the server ------------------------------------------------------------ */

static struct {
	char dir[64];
	char sock[128];
	sd_event *event;
	struct api_server *server;
} env;

static void env_done(void) {
	env.server = api_server_free(env.server);
	env.event = sd_event_unref(env.event);
	(void)unlink(env.sock);
	(void)rmdir(env.dir);
}

static void env_setup(void) {
	int fd;

	if (env.server)
		return;
	if (!env.event) {
		log_set_max_level(LOG_CRIT);
		snprintf(env.dir, sizeof(env.dir), "/tmp/fuzz-api-body-XXXXXX");
		if (!mkdtemp(env.dir))
			abort();
		snprintf(env.sock, sizeof(env.sock), "%s/api.sock", env.dir);
		if (sd_event_new(&env.event) < 0)
			abort();
		atexit(env_done);
	}
	fd = api_listen_unix(env.sock, 0600, (gid_t)-1, NULL);
	if (fd < 0 || api_server_new(env.event, fd, &env.server, NULL) < 0)
		abort();
	for (size_t i = 0; i < ELEMENTSOF(routes); i++)
		if (routes[i].fn)
			(void)api_server_add_route(env.server, routes[i].method, routes[i].path, routes[i].fn,
			                           (void *)routes[i].table);
}

/* Send req, shut the write side if asked, run the loop until the server
 * closes the connection; what it sent lands in *out. With stall_ok, a
 * server still waiting for more of a request STALL_ROUNDS after the last
 * byte is fine: false then, and the client closes. (A client that shut
 * its write side while the end of file came in with the request's first
 * bytes is, to libmicrohttpd's edge-triggered epoll, a slow client: it
 * keeps the connection until the client closes it or the idle timeout.)
 * Either way the server must let go of the connection. */
static bool exchange(const void *req, size_t len, bool shut, bool stall_ok, struct strbuf *out) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	size_t sent = 0;
	unsigned quiet = 0;
	bool stalled = false;
	char buf[65536];

	memcpy(sa.sun_path, env.sock, strlen(env.sock) + 1);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	for (unsigned round = 0;; round++) {
		ssize_t n;

		if (round >= LOOP_ROUNDS_MAX)
			abort(); /* the server neither answered nor closed */
		if (sent < len) {
			n = send(c, (const char *)req + sent, len - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				sent = len; /* the server closed on us: read what it said */
			if (sent == len && shut)
				(void)shutdown(c, SHUT_WR);
		}
		(void)sd_event_run(env.event, 1000);
		n = recv(c, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		if (n > 0) {
			if (out->len + (size_t)n > REPLY_MAX)
				abort();
			strbuf_add(out, buf, (size_t)n);
			quiet = 0;
		} else if (sent == len && stall_ok && ++quiet >= STALL_ROUNDS) {
			stalled = true;
			break;
		}
	}
	c = safe_close(c);
	if (api_server_requests_in_flight(env.server) != 0) {
		/* the close may still be on its way through MHD */
		for (unsigned i = 0; i < 100 && api_server_requests_in_flight(env.server) != 0; i++)
			(void)sd_event_run(env.event, 1000);
		if (api_server_requests_in_flight(env.server) != 0)
			abort();
	}
	return !stalled;
}

/* The one JSON reply to a well-formed request. */
static void check_reply(const struct strbuf *out, bool routed) {
	struct http_reply p;
	json_t *j, *kind, *message;
	enum za_error_kind k;

	http_reply_init(&p, REPLY_MAX, NULL, NULL);
	if (http_reply_feed(&p, out->buf ?: "", out->len, NULL) < 0 || http_reply_finish(&p, NULL) < 0 ||
	    !http_reply_done(&p))
		abort();
	if (p.status == 413 || p.status == 431) {
		/* a body or header over the caps (MHD's own page for headers) */
		http_reply_release(&p);
		return;
	}
	j = json_loadb(p.body.buf ?: "", p.body.len, 0, NULL);
	if (!json_is_object(j))
		abort();
	if (p.status == 200) {
		if (!routed || !json_is_true(json_object_get(j, "ok")))
			abort();
		goto out;
	}
	kind = json_object_get(j, "kind");
	message = json_object_get(j, "message");
	k = za_error_kind_from_string(json_string_value(kind));
	if (k < 0 || !json_is_string(message) || json_string_length(message) == 0)
		abort();
	if (p.status == 400) {
		const char *m = json_string_value(message);
		if (k != ZA_ERROR_INVALID_SPEC ||
		    !(strneq(m, "request body", 12) || strneq(m, "query parameter '", 17) ||
		      strneq(m, "invalid container config: config", 32) ||
		      strneq(m, "malformed JSON request body", 27)))
			abort();
	} else if (p.status == 404 || p.status == 405) {
		if (routed && p.status == 404)
			abort();
	} else
		abort();
out:
	json_decref(j);
	http_reply_release(&p);
}

/* Query bytes as a target's query: '=' and '&' kept, anything else that
 * could split the request line percent-encoded. */
static void add_query(struct strbuf *sb, const uint8_t *q, size_t n) {
	for (size_t i = 0; i < n; i++) {
		if ((q[i] >= 'a' && q[i] <= 'z') || (q[i] >= 'A' && q[i] <= 'Z') || (q[i] >= '0' && q[i] <= '9') ||
		    strchr("=&-_.~%+", q[i]))
			strbuf_addch(sb, (char)q[i]);
		else
			strbuf_addf(sb, "%%%02X", q[i]);
	}
}

static void structured(uint8_t sel, const uint8_t *data, size_t size) {
	size_t r = sel % ELEMENTSOF(routes), qlen = 0;
	_cleanup_strbuf_ struct strbuf target = STRBUF_INIT, req = STRBUF_INIT, out = STRBUF_INIT;
	const uint8_t *nl = memchr(data, '\n', size);
	struct http_request hr;

	if (nl) {
		qlen = (size_t)(nl - data);
		strbuf_addstr(&target, routes[r].path);
		strbuf_addch(&target, '?');
		add_query(&target, data, qlen);
		data += qlen + 1;
		size -= qlen + 1;
	} else
		strbuf_addstr(&target, routes[r].path);
	hr = (struct http_request){
		.method = routes[r].method,
		.target = strbuf_str(&target),
		.host = "localhost",
		.content_type = "application/json",
		.body = size > 0 ? data : NULL,
		.body_len = size,
	};
	if (http_request_format(&hr, &req, NULL) < 0)
		return;
	(void)exchange(req.buf, req.len, false, false, &out);
	check_reply(&out, routes[r].fn != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	static const char ping[] = "GET /v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

	if (size == 0)
		return 0;
	env_setup();
	if (!(data[0] & 0x80)) {
		structured(data[0], data + 1, size - 1);
		return 0;
	}
	(void)exchange(data + 1, size - 1, true, true, &out);
	if (out.len > 0 && !strneq(out.buf, "HTTP/1.", 7))
		abort();
	/* whatever came before, a clean request is still served */
	strbuf_reset(&out);
	(void)exchange(ping, sizeof(ping) - 1, false, false, &out);
	if (!strneq(strbuf_str(&out), "HTTP/1.1 200", 12))
		abort();
	return 0;
}
