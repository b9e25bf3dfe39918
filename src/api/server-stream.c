/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming replies: chunked JSON lines produced on the loop thread.
 *
 * MHD pulls data through stream_read(). With nothing buffered the
 * connection is suspended (MHD would otherwise poll the reader in a busy
 * loop) and, since a suspended connection leaves MHD's epoll set, its socket
 * is watched for EPOLLRDHUP so a client that leaves is noticed while the
 * producer is silent. A client that stops reading is dropped once
 * API_STREAM_BUFFER_MAX bytes wait for it. */
#include <sys/socket.h>

#include "api/server-internal.h"
#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/banned.h"

#define STREAM_BLOCK_SIZE (32 * 1024)

static struct api_stream *stream_unref(struct api_stream *st) {
	if (!st || --st->n_ref > 0)
		return NULL;
	sd_event_source_disable_unref(st->hup_source);
	sd_event_source_disable_unref(st->defer_source);
	sd_event_unref(st->event);
	strbuf_release(&st->buf);
	free(st);
	return NULL;
}

static void stream_notify_closed(struct api_stream *st) {
	if (st->notified || st->ended || !st->closed_fn)
		return;
	st->notified = true;
	st->closed_fn(st, st->closed_userdata);
}

static int on_stream_defer(sd_event_source *es, void *userdata) {
	struct api_stream *st = userdata;

	st->defer_source = sd_event_source_disable_unref(st->defer_source);
	st->n_ref++;
	stream_notify_closed(st);
	stream_unref(st);
	return 0;
}

/* Let MHD process the connection again: to send new data, finish, or see
 * that the stream was closed. */
void stream_wake(struct api_stream *st) {
	st->hup_source = sd_event_source_disable_unref(st->hup_source);
	if (!st->waiting)
		return;
	st->waiting = false;
	if (st->req && st->req->conn)
		server_resume(st->req->server, st->req->conn);
}

static int on_stream_hup(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
	struct api_stream *st = userdata;

	log_debug("stream client of %s hung up", st->req ? st->req->path : "?");
	st->closed = true;
	stream_wake(st);
	return 0;
}

static void stream_wait(struct api_stream *st) {
	const union MHD_ConnectionInfo *ci;
	struct MHD_Connection *conn = st->req->conn;

	MHD_suspend_connection(conn);
	st->waiting = true;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci && sd_event_add_io(st->event, &st->hup_source, ci->connect_fd, EPOLLRDHUP, on_stream_hup, st) < 0)
		st->hup_source = NULL; /* we will notice at the next line instead */
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
	struct api_stream *st = cls;
	size_t n;

	if (st->closed)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (st->off < st->buf.len) {
		n = MIN(max, st->buf.len - st->off);
		memcpy(out, st->buf.buf + st->off, n);
		st->off += n;
		if (st->off == st->buf.len) {
			strbuf_reset(&st->buf);
			st->off = 0;
		}
		return (ssize_t)n;
	}
	if (st->ended)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (!st->waiting && st->req && st->req->conn)
		stream_wait(st);
	return 0;
}

static void stream_response_free(void *cls) {
	stream_unref(cls);
}

struct api_stream *api_stream_begin(struct api_request *req, unsigned status) {
	struct api_stream *st = xnew(struct api_stream, 1);
	struct MHD_Response *resp;

	st->n_ref = 1;
	if (req->answered || !req->conn) {
		st->closed = true;
		request_drop_owner_ref(req);
		return st;
	}
	st->event = sd_event_ref(req->server->event);
	st->req = req;
	req->stream = st;
	st->n_ref += 2; /* request, response */
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK_SIZE, stream_read, st,
	                                         stream_response_free);
	if (!resp)
		oom();
	(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
	(void)request_answer(req, status, resp, true);
	return st;
}

static void stream_drop(struct api_stream *st, const char *why) {
	const union MHD_ConnectionInfo *ci;

	log_info("%s %s: dropping stream client: %s", st->req ? st->req->method : "?", st->req ? st->req->path : "?",
	         why);
	st->closed = true;
	strbuf_release(&st->buf);
	st->off = 0;
	if (st->waiting) {
		stream_wake(st);
		return;
	}
	/* MHD waits for the socket to drain; shut it so MHD sees the error now. */
	if (st->req && st->req->conn) {
		ci = MHD_get_connection_info(st->req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci)
			(void)shutdown(ci->connect_fd, SHUT_RDWR);
	}
}

int api_stream_send_json(struct api_stream *st, json_t *line) {
	char *text;
	size_t len;

	if (st->closed || st->ended || !st->req) {
		json_decref(line);
		return -EPIPE;
	}
	text = json_dumps(line, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(line);
	if (!text)
		return -EINVAL;
	len = strlen(text);
	if (st->buf.len - st->off + len + 1 > API_STREAM_BUFFER_MAX) {
		free(text);
		stream_drop(st, "client is not reading");
		return -EPIPE;
	}
	if (st->off > 0 && st->off >= st->buf.len / 2) {
		memmove(st->buf.buf, st->buf.buf + st->off, st->buf.len - st->off);
		st->buf.len -= st->off;
		st->buf.buf[st->buf.len] = '\0';
		st->off = 0;
	}
	strbuf_add(&st->buf, text, len);
	strbuf_addch(&st->buf, '\n');
	free(text);
	stream_wake(st);
	return 0;
}

int api_stream_send_error(struct api_stream *st, const struct za_error *e) {
	return api_stream_send_json(st, json_pack("{s:o}", "error", api_error_json(e)));
}

void api_stream_set_closed_callback(struct api_stream *st, api_stream_closed_fn fn, void *userdata) {
	st->closed_fn = fn;
	st->closed_userdata = userdata;
	/* Born closed, or closed already: tell the producer from the loop. */
	if (st->closed && fn && st->event && !st->notified && !st->defer_source)
		(void)sd_event_add_defer(st->event, &st->defer_source, on_stream_defer, st);
}

bool api_stream_closed(const struct api_stream *st) {
	return st->closed || !st->req;
}

size_t api_stream_unsent(const struct api_stream *st) {
	return st->buf.len - st->off;
}

void api_stream_end(struct api_stream *st) {
	if (!st || st->ended)
		return;
	st->ended = true;
	stream_wake(st);
	stream_unref(st);
}

void stream_shutdown(struct api_stream *st) {
	st->closed = true;
	stream_wake(st);
}

void stream_detach(struct api_stream *st, bool failed) {
	st->hup_source = sd_event_source_disable_unref(st->hup_source);
	st->waiting = false;
	st->req = NULL;
	if (failed)
		st->closed = true;
	st->n_ref++;
	if (st->closed)
		stream_notify_closed(st);
	stream_unref(st);
	stream_unref(st); /* the request's reference */
}
