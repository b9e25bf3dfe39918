/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 over the daemon's unix socket or its TCP listener, one
 * connection per call ("Connection: close"): the socket I/O here, the
 * protocol in http-client.c. Socket errors and HTTP statuses become
 * za_errors here. */
#include "cli/client.h"

#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api/daemon.h"
#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "cli/cli.h"
#include "cli/http-client.h"
#include "basic/banned.h"

#define UNREACHABLE_PREFIX  "cannot reach the zlayer-agent daemon at "
#define PERMISSION_PREFIX   "permission denied on "
#define CONNECT_TIMEOUT_SEC 10
#define READ_CHUNK          (64 * 1024)
#define TOKEN_FILE_MAX      4096

/* Set once by main() before any thread starts; NULL: the environment. */
static const char *opt_host, *opt_token_file;

/* Where one call goes, resolved from the options and the environment. */
struct endpoint {
	char *display; /* the socket path, or "tcp://HOST:PORT" */
	char *path;    /* unix */
	char *host, *port;
	char *authorization; /* "Bearer TOKEN" (TCP only) */
	const char *token_source;
};

static void endpoint_release(struct endpoint *ep) {
	free(ep->display);
	free(ep->path);
	free(ep->host);
	free(ep->port);
	if (ep->authorization)
		explicit_bzero(ep->authorization, strlen(ep->authorization));
	free(ep->authorization);
}

struct transfer {
	struct http_reply resp;
	struct strbuf data; /* the reply (call), the error body or the partial line (stream) */
	size_t cap;
	/* streams only */
	int (*on_line)(json_t *line, void *userdata);
	void *userdata;
	bool status_known, streaming;
	struct za_error *stream_err;
};

char *api_client_socket_path(void) {
	const char *e = getenv("ZLAYER_RUNTIME_DIR");
	return xasprintf("%s/%s", !isempty(e) ? e : DAEMON_DEFAULT_RUNTIME_DIR, DAEMON_SOCKET_NAME);
}

void api_client_set_host(const char *host) {
	opt_host = host;
}

void api_client_set_token_file(const char *path) {
	opt_token_file = path;
}

static int host_invalid(const char *host, const char *source, const char *why, struct za_error **reterr) {
	return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
	                     "invalid daemon address '%s' (%s): %s; use unix:///PATH or tcp://HOST:PORT", host, source,
	                     why);
}

/* "tcp://HOST:PORT" (HOST a name, an IPv4 address or [IPv6]) */
static int parse_tcp(const char *host, const char *source, struct endpoint *ep, struct za_error **reterr) {
	const char *rest = host + strlen("tcp://"), *colon, *port;
	size_t n = strcspn(rest, "/");
	uint32_t pn;

	if (rest[n] && !streq(rest + n, "/"))
		return host_invalid(host, source, "a TCP address takes no path", reterr);
	if (rest[0] == '[') {
		const char *end = memchr(rest, ']', n);
		if (!end || end[1] != ':')
			return host_invalid(host, source, "no ']:PORT' after the IPv6 address", reterr);
		ep->host = xstrndup(rest + 1, (size_t)(end - rest - 1));
		port = end + 2;
	} else {
		colon = memrchr(rest, ':', n);
		if (!colon)
			return host_invalid(host, source, "no ':PORT'", reterr);
		ep->host = xstrndup(rest, (size_t)(colon - rest));
		port = colon + 1;
	}
	ep->port = xstrndup(port, (size_t)(rest + n - port));
	if (isempty(ep->host) || parse_uint32(ep->port, &pn) < 0 || pn == 0 || pn > 65535)
		return host_invalid(host, source, "HOST and a port from 1 to 65535 are needed", reterr);
	ep->display = xasprintf("tcp://%s%s%s:%s", strchr(ep->host, ':') ? "[" : "", ep->host,
	                        strchr(ep->host, ':') ? "]" : "", ep->port);
	return 0;
}

/* The token for a TCP endpoint: --token-file, $ZLAYER_TOKEN, then
 * $ZLAYER_TOKEN_FILE; none at all lets the daemon's 401 explain. */
static int endpoint_token(struct endpoint *ep, struct za_error **reterr) {
	const char *file = opt_token_file, *env = getenv("ZLAYER_TOKEN");
	_cleanup_free_ char *buf = NULL;
	const char *token = NULL;
	size_t len = 0, buf_len = 0;
	int r;

	if (file)
		ep->token_source = "--token-file";
	else if (!isempty(env)) {
		ep->token_source = "$ZLAYER_TOKEN";
		token = env;
		len = strlen(env);
	} else if (!isempty(getenv("ZLAYER_TOKEN_FILE"))) {
		file = getenv("ZLAYER_TOKEN_FILE");
		ep->token_source = "$ZLAYER_TOKEN_FILE";
	} else
		return 0;
	if (file) {
		r = read_full_file(file, TOKEN_FILE_MAX, &buf, &buf_len);
		if (r < 0)
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r,
			                     "cannot read the API token file '%s' (%s): %m", file, ep->token_source);
		token = buf;
		len = buf_len;
	}
	while (len > 0 && strchr(" \t\r\n", token[len - 1]))
		len--;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
			len = 0;
	if (len == 0) {
		if (buf)
			explicit_bzero(buf, buf_len);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "the API token from %s is empty or holds spaces or control characters",
		                     ep->token_source);
	}
	ep->authorization = xasprintf("Bearer %.*s", (int)len, token);
	if (buf)
		explicit_bzero(buf, buf_len);
	return 0;
}

static int endpoint_resolve(struct endpoint *ep, struct za_error **reterr) {
	const char *host = opt_host, *source = "--host";

	if (!host) {
		host = getenv("ZLAYER_HOST");
		source = "$ZLAYER_HOST";
	}
	if (isempty(host)) {
		ep->path = api_client_socket_path();
		ep->display = xstrdup(ep->path);
		return 0;
	}
	if (strneq(host, "unix://", strlen("unix://"))) {
		if (host[strlen("unix://")] != '/')
			return host_invalid(host, source,
			                    "the socket path must be absolute (unix:///run/zlayer/agent.sock)", reterr);
		ep->path = xstrdup(host + strlen("unix://"));
		ep->display = xstrdup(ep->path);
		return 0;
	}
	if (!strneq(host, "tcp://", strlen("tcp://")))
		return host_invalid(host, source, "unknown scheme", reterr);
	if (parse_tcp(host, source, ep, reterr) < 0)
		return -EINVAL;
	return endpoint_token(ep, reterr);
}

char *api_client_endpoint(void) {
	_cleanup_(endpoint_release) struct endpoint ep = {};
	_cleanup_za_error_ struct za_error *err = NULL;

	if (endpoint_resolve(&ep, &err) < 0)
		return xstrdup(opt_host ?: strempty(getenv("ZLAYER_HOST")));
	return TAKE_PTR(ep.display);
}

char *api_client_escape(const char *s) {
	static const char hex[] = "0123456789ABCDEF";
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p))
			strbuf_addch(&sb, (char)*p);
		else {
			strbuf_addch(&sb, '%');
			strbuf_addch(&sb, hex[*p >> 4]);
			strbuf_addch(&sb, hex[*p & 15]);
		}
	}
	return strbuf_detach(&sb, NULL);
}

bool api_client_error_unreachable(const struct za_error *e) {
	return e && e->kind == ZA_ERROR_NETWORK && e->message &&
	       (strneq(e->message, UNREACHABLE_PREFIX, strlen(UNREACHABLE_PREFIX)) ||
	        strneq(e->message, PERMISSION_PREFIX, strlen(PERMISSION_PREFIX)));
}

int api_client_print_error(const struct za_error *e) {
	/* One line, "error: " first, so scripts can grep for it. */
	if (api_client_error_unreachable(e))
		fprintf(stderr, "error: %s\n", e->message);
	else {
		_cleanup_free_ char *m = za_error_format(e);
		fprintf(stderr, "error: %s\n", m);
	}
	return CLI_EXIT_FAILURE;
}

/* {kind, message} from the daemon, or what we can say about a body that
 * is not one. */
static int error_from_body(const char *body, size_t len, unsigned status, struct za_error **reterr) {
	_cleanup_(json_decrefp) json_t *j = json_loadb(body, len, 0, NULL);
	const char *kind = json_string_value(json_object_get(j, "kind"));
	const char *message = json_string_value(json_object_get(j, "message"));
	enum za_error_kind k;

	if (message) {
		k = za_error_kind_from_string(kind);
		return za_error_make(reterr, k >= 0 ? k : ZA_ERROR_INTERNAL, EREMOTEIO, "%s", message);
	}
	while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r'))
		len--;
	return za_error_make(reterr, ZA_ERROR_INTERNAL, EREMOTEIO, "the daemon replied with HTTP status %u%s%.*s",
	                     status, len ? ": " : "", (int)MIN(len, (size_t)200), body);
}

static int stream_line(struct transfer *t, const char *line, size_t len) {
	_cleanup_(json_decrefp) json_t *j = NULL;
	json_error_t jerr;
	json_t *err;
	int r;

	while (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 0;
	j = json_loadb(line, len, 0, &jerr);
	if (!j)
		return za_error_make(&t->stream_err, ZA_ERROR_INTERNAL, EBADMSG,
		                     "the daemon sent a malformed stream line: %s", jerr.text);
	err = json_object_get(j, "error");
	if (json_is_object(err)) {
		const char *message = json_string_value(json_object_get(err, "message"));
		enum za_error_kind k = za_error_kind_from_string(json_string_value(json_object_get(err, "kind")));

		return za_error_make(&t->stream_err, k >= 0 ? k : ZA_ERROR_INTERNAL, EREMOTEIO, "%s",
		                     message ?: "unknown error");
	}
	r = t->on_line(j, t->userdata);
	if (r < 0)
		return za_error_make(&t->stream_err, ZA_ERROR_INTERNAL, r, "stopped reading the daemon's reply: %m");
	return 0;
}

/* The body as it arrives: collected (calls, error replies), or cut into
 * lines for on_line (2xx streams). */
static int on_body(const char *data, size_t n, void *userdata) {
	struct transfer *t = userdata;

	if (t->on_line && !t->status_known) {
		t->status_known = true;
		t->streaming = t->resp.status >= 200 && t->resp.status < 300;
	}
	if (!t->streaming) {
		if (n > t->cap - t->data.len)
			return za_error_make(&t->stream_err, ZA_ERROR_INTERNAL, EMSGSIZE,
			                     "the daemon's reply is larger than %zu bytes", t->cap);
		strbuf_add(&t->data, data, n);
		return 0;
	}

	for (size_t i = 0; i < n;) {
		const char *nl = memchr(data + i, '\n', n - i);
		size_t chunk = nl ? (size_t)(nl - (data + i)) : n - i;
		int r;

		if (chunk > API_CLIENT_LINE_MAX - t->data.len)
			return za_error_make(&t->stream_err, ZA_ERROR_INTERNAL, EMSGSIZE,
			                     "the daemon sent a stream line longer than %d bytes", API_CLIENT_LINE_MAX);
		strbuf_add(&t->data, data + i, chunk);
		i += chunk;
		if (!nl)
			break;
		i++; /* the newline */
		r = stream_line(t, t->data.buf, t->data.len);
		strbuf_reset(&t->data);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool in_group(gid_t gid) {
	_cleanup_free_ gid_t *groups = NULL;
	int n;

	if (getegid() == gid)
		return true;
	n = getgroups(0, NULL);
	if (n <= 0)
		return false;
	groups = xnew(gid_t, (size_t)n);
	n = getgroups(n, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* EACCES on the socket: say which group would let us in. */
static int permission_denied(const char *socket, int e, struct za_error **reterr) {
	struct group grp, *res = NULL;
	char buf[16384], num[16];
	const char *name;
	struct stat st;

	if (stat(socket, &st) < 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, e,
		                     PERMISSION_PREFIX
		                     "%s: your user may not enter its directory (%m); run as root "
		                     "or ask for the runtime directory to be made searchable (mode 0755)",
		                     socket);
	if (getgrgid_r(st.st_gid, &grp, buf, sizeof(buf), &res) == 0 && res)
		name = res->gr_name;
	else {
		(void)snprintf(num, sizeof(num), "%u", (unsigned)st.st_gid);
		name = num;
	}
	if (st.st_gid == 0)
		return za_error_make(reterr, ZA_ERROR_NETWORK, e,
		                     PERMISSION_PREFIX
		                     "%s: only root may use it (the daemon runs without "
		                     "--socket-group); run as root, or start the daemon with --socket-group GROUP",
		                     socket);
	if (!in_group(st.st_gid))
		return za_error_make(reterr, ZA_ERROR_NETWORK, e,
		                     PERMISSION_PREFIX
		                     "%s: your user is not in group '%s' (the daemon's socket "
		                     "group); ask for 'usermod -aG %s USER' and log in again, or run as root",
		                     socket, name, name);
	return za_error_make(reterr, ZA_ERROR_NETWORK, e,
	                     PERMISSION_PREFIX "%s (%m) although your user is in its group '%s': the socket has mode "
	                                       "%04o, not 0660",
	                     socket, name, (unsigned)(st.st_mode & 07777));
}

static int unreachable(const struct endpoint *ep, int e, struct za_error **reterr) {
	if (!ep->path && e == ECONNREFUSED)
		return za_error_make(reterr, ZA_ERROR_NETWORK, e,
		                     UNREACHABLE_PREFIX "%s (%m); is a daemon running there with --listen?",
		                     ep->display);
	if (!ep->path && e == ENXIO)
		return za_error_make(reterr, ZA_ERROR_NETWORK, e, UNREACHABLE_PREFIX "%s (cannot resolve host '%s')",
		                     ep->display, ep->host);
	if (!ep->path)
		return za_error_make(reterr, ZA_ERROR_NETWORK, e, UNREACHABLE_PREFIX "%s (%m)", ep->display);
	if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
		return za_error_make(reterr, ZA_ERROR_NETWORK, e,
		                     UNREACHABLE_PREFIX "%s (%m); start it with 'zlayer-agent daemon'", ep->display);
	if (e == EACCES || e == EPERM)
		return permission_denied(ep->path, e, reterr);
	return za_error_make(reterr, ZA_ERROR_NETWORK, e, UNREACHABLE_PREFIX "%s (%m)", ep->display);
}

/* The daemon's 401: how to pass the token, on one line. */
static int unauthorized(const struct endpoint *ep, struct za_error **reterr) {
	if (!ep->authorization)
		return za_error_make(
		        reterr, ZA_ERROR_UNAUTHORIZED, EACCES,
		        "the daemon at %s wants its API token: set ZLAYER_TOKEN, or point --token-file or "
		        "ZLAYER_TOKEN_FILE at the daemon's token file (ROOT/api-token, default " DAEMON_DEFAULT_ROOT_DIR
		        "/" DAEMON_TOKEN_NAME ")",
		        ep->display);
	return za_error_make(reterr, ZA_ERROR_UNAUTHORIZED, EACCES,
	                     "the daemon at %s refused the API token from %s: it is not the daemon's token (see its "
	                     "token file, ROOT/api-token, default " DAEMON_DEFAULT_ROOT_DIR "/" DAEMON_TOKEN_NAME ")",
	                     ep->display, ep->token_source);
}

static int connect_unix(const char *path, int *ret_fd) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_SEC };
	size_t len = strlen(path);
	_cleanup_close_ int fd = -1;

	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A unix connect() blocks on a full backlog, for at most SO_SNDTIMEO
	 * (then EAGAIN). Lifted afterwards: a busy daemon may read a request
	 * late, and streams last as long as they last. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1)) < 0) {
		if (errno == EINTR) /* an interrupted unix connect leaves the socket unconnected */
			continue;
		return -errno;
	}
	tv.tv_sec = 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int connect_tcp(const struct endpoint *ep, int *ret_fd) {
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
	struct timeval tv = { .tv_sec = CONNECT_TIMEOUT_SEC };
	int r;

	r = getaddrinfo(ep->host, ep->port, &hints, &ai);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -ENXIO;
	r = -EHOSTUNREACH;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		_cleanup_close_ int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			r = -errno;
			continue;
		}
		/* connect() honours SO_SNDTIMEO; lifted afterwards as for unix. */
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			r = errno == EINPROGRESS || errno == EAGAIN ? -ETIMEDOUT : -errno;
			continue;
		}
		tv.tv_sec = 0;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		*ret_fd = TAKE_FD(fd);
		r = 0;
		break;
	}
	freeaddrinfo(ai);
	return r;
}

static int send_all(int fd, const char *p, size_t len) {
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One request, its reply fed to t->resp until the reply ends (we do not
 * wait for the close) or the connection does. Never shuts down our
 * writing side: the daemon drops stream clients on EPOLLRDHUP. */
static int client_perform(const char *method, const char *path_and_query, json_t *body, struct transfer *t,
                          struct za_error **reterr) {
	_cleanup_(endpoint_release) struct endpoint ep = {};
	_cleanup_free_ char *payload = NULL, *buf = NULL;
	_cleanup_strbuf_ struct strbuf req = STRBUF_INIT;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_close_ int fd = -1;
	int r, send_errno = 0;

	if (path_and_query[0] != '/')
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "API path '%s' must start with '/'",
		                     path_and_query);
	r = endpoint_resolve(&ep, reterr);
	if (r < 0)
		return r;
	if (body) {
		payload = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!payload)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "cannot encode the request body");
	}
	r = http_request_format(
	        &(struct http_request){
	                .method = method,
	                .target = path_and_query,
	                .host = "localhost",
	                .user_agent = "zlayer-agent/" ZA_VERSION,
	                .accept = "application/json",
	                .content_type = "application/json",
	                .authorization = ep.authorization,
	                .body = payload,
	                .body_len = payload ? strlen(payload) : 0,
	        },
	        &req, reterr);
	if (r < 0)
		return r;

	r = ep.path ? connect_unix(ep.path, &fd) : connect_tcp(&ep, &fd);
	if (r < 0)
		return unreachable(&ep, -r, reterr);
	r = send_all(fd, req.buf, req.len);
	if (r < 0) {
		if (r != -EPIPE && r != -ECONNRESET)
			return za_error_make(reterr, ZA_ERROR_NETWORK, r,
			                     "%s %s: connection to the daemon at %s: send the request: %m", method,
			                     path_and_query, ep.display);
		/* It may have answered (413) and closed before reading it all. */
		send_errno = -r;
	}

	buf = xmalloc(READ_CHUNK);
	for (;;) {
		ssize_t n = recv(fd, buf, READ_CHUNK, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return za_error_make(reterr, ZA_ERROR_NETWORK, errno,
			                     "%s %s: connection to the daemon at %s: receive the reply: %m", method,
			                     path_and_query, ep.display);
		}
		r = n == 0 ? http_reply_finish(&t->resp, &err) : http_reply_feed(&t->resp, buf, (size_t)n, &err);
		if (r < 0 || n == 0 || http_reply_done(&t->resp))
			break;
	}
	if (r >= 0 && t->resp.status == 401 && !ep.path)
		return unauthorized(&ep, reterr);
	if (r >= 0)
		return 0;
	if (t->stream_err) { /* on_body's: a line, a cap, or on_line stopped us */
		if (reterr && !*reterr)
			*reterr = TAKE_PTR(t->stream_err);
		return r;
	}
	if (send_errno && !t->resp.any_input)
		return za_error_make(reterr, ZA_ERROR_NETWORK, send_errno,
		                     "%s %s: connection to the daemon at %s: send the request: %m", method,
		                     path_and_query, ep.display);
	return za_error_make(reterr, ZA_ERROR_NETWORK, r, "%s %s: connection to the daemon at %s: %s", method,
	                     path_and_query, ep.display, err ? err->message : "bad reply");
}

static void transfer_release(struct transfer *t) {
	http_reply_release(&t->resp);
	strbuf_release(&t->data);
	za_error_free(t->stream_err);
}

int api_client_call(const char *method, const char *path_and_query, json_t *body, json_t **ret_reply,
                    struct za_error **reterr) {
	_cleanup_(transfer_release) struct transfer t = { .data = STRBUF_INIT, .cap = API_CLIENT_REPLY_MAX };
	json_t *reply = NULL;
	json_error_t jerr;
	int r;

	http_reply_init(&t.resp, API_CLIENT_REPLY_MAX, on_body, &t);
	r = client_perform(method, path_and_query, body, &t, reterr);
	if (r < 0)
		return r;
	if (t.resp.status >= 300)
		return error_from_body(strbuf_str(&t.data), t.data.len, t.resp.status, reterr);
	if (strspn(strbuf_str(&t.data), " \t\r\n") < t.data.len) {
		reply = json_loadb(t.data.buf, t.data.len, 0, &jerr);
		if (!reply)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, EBADMSG,
			                     "%s %s: the daemon sent malformed JSON: %s", method, path_and_query,
			                     jerr.text);
	}
	if (ret_reply)
		*ret_reply = reply;
	else
		json_decref(reply);
	return 0;
}

int api_client_get_text(const char *path_and_query, char **ret_text, size_t *ret_len, struct za_error **reterr) {
	_cleanup_(transfer_release) struct transfer t = { .data = STRBUF_INIT, .cap = API_CLIENT_REPLY_MAX };
	int r;

	http_reply_init(&t.resp, API_CLIENT_REPLY_MAX, on_body, &t);
	r = client_perform("GET", path_and_query, NULL, &t, reterr);
	if (r < 0)
		return r;
	if (t.resp.status >= 300)
		return error_from_body(strbuf_str(&t.data), t.data.len, t.resp.status, reterr);
	*ret_text = strbuf_detach(&t.data, ret_len);
	return 0;
}

int api_client_stream(const char *method, const char *path_and_query, json_t *body,
                      int (*on_line)(json_t *line, void *userdata), void *userdata, struct za_error **reterr) {
	_cleanup_(transfer_release) struct transfer t = {
		.data = STRBUF_INIT,
		.cap = API_CLIENT_LINE_MAX,
		.on_line = on_line,
		.userdata = userdata,
	};
	int r;

	http_reply_init(&t.resp, UINT64_MAX, on_body, &t);
	r = client_perform(method, path_and_query, body, &t, reterr);
	if (r < 0)
		return r;
	if (!t.status_known)
		t.streaming = t.resp.status >= 200 && t.resp.status < 300;
	if (!t.streaming)
		return error_from_body(strbuf_str(&t.data), t.data.len, t.resp.status, reterr);
	if (t.data.len > 0) { /* a last line without newline */
		r = stream_line(&t, t.data.buf, t.data.len);
		if (r < 0) {
			if (reterr && !*reterr)
				*reterr = TAKE_PTR(t.stream_err);
			return r;
		}
	}
	return 0;
}

int api_client_fail(struct za_error *e) {
	int r = api_client_print_error(e);

	za_error_free(e);
	return r;
}
