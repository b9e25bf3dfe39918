/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl over the daemon's unix socket; CURLcode and HTTP statuses are
 * translated into za_errors here. */
#include "cli/client.h"

#include <curl/curl.h>
#include <pthread.h>

#include "api/daemon.h"
#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "cli/cli.h"
#include "basic/banned.h"

#define UNREACHABLE_PREFIX "cannot reach the zlayer-agent daemon at "

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

struct transfer {
	CURL *curl;
	struct strbuf data; /* the reply (call), the error body or the partial line (stream) */
	size_t cap;
	bool too_big;
	/* streams only */
	int (*on_line)(json_t *line, void *userdata);
	void *userdata;
	bool status_known, streaming;
	int stream_r;
	struct za_error *stream_err;
};

char *api_client_socket_path(void) {
	const char *e = getenv("ZLAYER_RUNTIME_DIR");
	return xasprintf("%s/%s", !isempty(e) ? e : DAEMON_DEFAULT_RUNTIME_DIR, DAEMON_SOCKET_NAME);
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
	       strneq(e->message, UNREACHABLE_PREFIX, strlen(UNREACHABLE_PREFIX));
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
static int error_from_body(const char *body, size_t len, long status, struct za_error **reterr) {
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
	return za_error_make(reterr, ZA_ERROR_INTERNAL, EREMOTEIO, "the daemon replied with HTTP status %ld%s%.*s",
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

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata) {
	struct transfer *t = userdata;
	size_t n = size * nmemb;

	if (t->on_line && !t->status_known) {
		long status = 0;

		(void)curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
		t->status_known = true;
		t->streaming = status >= 200 && status < 300;
	}
	if (!t->streaming) {
		if (n > t->cap - t->data.len) {
			t->too_big = true;
			return 0;
		}
		strbuf_add(&t->data, data, n);
		return n;
	}

	for (size_t i = 0; i < n;) {
		const char *nl = memchr(data + i, '\n', n - i);
		size_t chunk = nl ? (size_t)(nl - (data + i)) : n - i;

		if (chunk > API_CLIENT_LINE_MAX - t->data.len) {
			t->stream_r = za_error_make(&t->stream_err, ZA_ERROR_INTERNAL, EMSGSIZE,
			                            "the daemon sent a stream line longer than %d bytes",
			                            API_CLIENT_LINE_MAX);
			return 0;
		}
		strbuf_add(&t->data, data + i, chunk);
		i += chunk;
		if (!nl)
			break;
		i++; /* the newline */
		t->stream_r = stream_line(t, t->data.buf, t->data.len);
		strbuf_reset(&t->data);
		if (t->stream_r < 0)
			return 0;
	}
	return n;
}

static int unreachable(const char *socket, long os_errno, struct za_error **reterr) {
	int e = os_errno > 0 ? (int)os_errno : ECONNREFUSED;

	if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
		return za_error_make(reterr, ZA_ERROR_NETWORK, e,
		                     UNREACHABLE_PREFIX "%s (%m); start it with 'zlayer-agent daemon'", socket);
	if (e == EACCES || e == EPERM)
		return za_error_make(reterr, ZA_ERROR_NETWORK, e,
		                     UNREACHABLE_PREFIX "%s (%m); run as root or as a member of the socket's group",
		                     socket);
	return za_error_make(reterr, ZA_ERROR_NETWORK, e, UNREACHABLE_PREFIX "%s (%m)", socket);
}

static void curl_init_once(void) {
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int client_perform(const char *method, const char *path_and_query, json_t *body, struct transfer *t,
                          long *ret_status, struct za_error **reterr) {
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	_cleanup_(curl_easy_cleanupp) CURL *curl = NULL;
	_cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
	_cleanup_free_ char *socket = api_client_socket_path(), *url = NULL, *payload = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	long os_errno = 0;
	CURLcode rc;

	(void)pthread_once(&once, curl_init_once);
	if (path_and_query[0] != '/')
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "API path '%s' must start with '/'",
		                     path_and_query);
	curl = curl_easy_init();
	if (!curl)
		oom();
	t->curl = curl;
	url = xasprintf("http://localhost%s", path_and_query);
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Expect:");
	if (body) {
		payload = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!payload)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "cannot encode the request body");
		headers = curl_slist_append(headers, "Content-Type: application/json");
	}
	if (!headers)
		oom();

	(void)curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket);
	(void)curl_easy_setopt(curl, CURLOPT_URL, url);
	(void)curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	(void)curl_easy_setopt(curl, CURLOPT_USERAGENT, "zlayer-agent/" ZA_VERSION);
	(void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	(void)curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
	(void)curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
	if (payload || streq(method, "POST") || streq(method, "PUT")) {
		(void)curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload ?: "");
		(void)curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(payload ? strlen(payload) : 0));
	}
	/* POSTFIELDS made it a POST and no body means GET; anything else is
	 * named explicitly. */
	if (!(streq(method, "POST") || (streq(method, "GET") && !payload)))
		(void)curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);

	rc = curl_easy_perform(curl);
	if (t->stream_r < 0) {
		if (reterr && !*reterr)
			*reterr = TAKE_PTR(t->stream_err);
		return t->stream_r;
	}
	if (t->too_big)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EMSGSIZE, "the daemon's reply is larger than %d bytes",
		                     (int)t->cap);
	if (rc == CURLE_COULDNT_CONNECT) {
		(void)curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
		return unreachable(socket, os_errno, reterr);
	}
	if (rc != CURLE_OK)
		return za_error_make(reterr, ZA_ERROR_NETWORK, ECONNRESET, "%s %s: connection to the daemon at %s: %s",
		                     method, path_and_query, socket, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	(void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, ret_status);
	return 0;
}

static void transfer_release(struct transfer *t) {
	strbuf_release(&t->data);
	za_error_free(t->stream_err);
}

int api_client_call(const char *method, const char *path_and_query, json_t *body, json_t **ret_reply,
                    struct za_error **reterr) {
	_cleanup_(transfer_release) struct transfer t = { .data = STRBUF_INIT, .cap = API_CLIENT_REPLY_MAX };
	json_t *reply = NULL;
	json_error_t jerr;
	long status = 0;
	int r;

	r = client_perform(method, path_and_query, body, &t, &status, reterr);
	if (r < 0)
		return r;
	if (status >= 300)
		return error_from_body(strbuf_str(&t.data), t.data.len, status, reterr);
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

int api_client_stream(const char *method, const char *path_and_query, json_t *body,
                      int (*on_line)(json_t *line, void *userdata), void *userdata, struct za_error **reterr) {
	_cleanup_(transfer_release) struct transfer t = {
		.data = STRBUF_INIT,
		.cap = API_CLIENT_LINE_MAX,
		.on_line = on_line,
		.userdata = userdata,
	};
	long status = 0;
	int r;

	r = client_perform(method, path_and_query, body, &t, &status, reterr);
	if (r < 0)
		return r;
	if (!t.status_known)
		t.streaming = status >= 200 && status < 300;
	if (!t.streaming)
		return error_from_body(strbuf_str(&t.data), t.data.len, status, reterr);
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
