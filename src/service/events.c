/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "service/events.h"
#include "basic/banned.h"

#define EVENT_MESSAGE_MAX 4096

struct event_sub {
	uint64_t id;
	event_fn fn;
	void *userdata;
	bool dead;
};

/* Kept as compact JSON text, the deployment's name after its NUL: ~200
 * bytes an event where a jansson object takes ~1.3 KiB, which for a full
 * ring of 4096 is 0.8 MiB against 5.2 MiB of the idle daemon's memory.
 * Readers of the history (rare) parse it again. */
struct kept_event {
	uint64_t seq;
	char *text;
	const char *deployment; /* in text's allocation, NULL when none */
};

struct event_bus {
	struct kept_event *ring;
	size_t keep, n, head; /* head: index of the oldest */
	uint64_t seq;
	struct event_sub *subs;
	size_t n_subs;
	uint64_t next_sub;
	unsigned delivering;
};

struct event_bus *event_bus_new(size_t keep) {
	struct event_bus *b = xnew(struct event_bus, 1);

	b->keep = keep ? keep : 1;
	b->ring = xnew(struct kept_event, b->keep);
	return b;
}

static void kept_event_set(struct kept_event *k, uint64_t seq, json_t *ev, const char *deployment) {
	_cleanup_free_ char *text = json_dumps(ev, JSON_COMPACT);
	size_t n, d;

	if (!text)
		oom();
	n = strlen(text);
	d = deployment ? strlen(deployment) + 1 : 0;
	free(k->text);
	k->seq = seq;
	k->text = xmalloc(n + 1 + d);
	memcpy(k->text, text, n + 1);
	k->deployment = deployment ? memcpy(k->text + n + 1, deployment, d) : NULL;
}

struct event_bus *event_bus_free(struct event_bus *b) {
	if (!b)
		return NULL;
	for (size_t i = 0; i < b->n; i++)
		free(b->ring[(b->head + i) % b->keep].text);
	free(b->ring);
	free(b->subs);
	free(b);
	return NULL;
}

static void format_time(char *buf, size_t cap) {
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

void event_emit(struct event_bus *b, const char *type, const char *deployment, const char *service, const char *replica,
                const char *fmt, ...) {
	char msg[EVENT_MESSAGE_MAX], when[64];
	json_t *ev;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	format_time(when, sizeof(when));
	ev = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:s?, s:s}", "seq", (json_int_t)++b->seq, "time", when, "type",
	               type, "deployment", deployment, "service", service, "replica", replica, "message", msg);
	log_info("event %s%s%s%s%s: %s", type, deployment ? " " : "", strempty(deployment), replica ? " " : "",
	         strempty(replica), msg);
	if (ev) { /* NULL: a message that is not UTF-8; subscribers still hear of it */
		if (b->n == b->keep) {
			b->head = (b->head + 1) % b->keep; /* the oldest slot is reused */
			b->n--;
		}
		kept_event_set(&b->ring[(b->head + b->n) % b->keep], b->seq, ev, deployment);
		b->n++;
	}

	b->delivering++;
	for (size_t i = 0; i < b->n_subs; i++)
		if (!b->subs[i].dead)
			b->subs[i].fn(ev, b->subs[i].userdata);
	if (--b->delivering == 0) {
		size_t k = 0;
		for (size_t i = 0; i < b->n_subs; i++)
			if (!b->subs[i].dead)
				b->subs[k++] = b->subs[i];
		b->n_subs = k;
	}
	json_decref(ev);
}

uint64_t event_subscribe(struct event_bus *b, event_fn fn, void *userdata) {
	b->subs = xrealloc(b->subs, (b->n_subs + 1) * sizeof(*b->subs));
	b->subs[b->n_subs++] = (struct event_sub){ .id = ++b->next_sub, .fn = fn, .userdata = userdata };
	return b->next_sub;
}

void event_unsubscribe(struct event_bus *b, uint64_t id) {
	for (size_t i = 0; i < b->n_subs; i++)
		if (b->subs[i].id == id) {
			if (b->delivering)
				b->subs[i].dead = true; /* compacted after the delivery */
			else {
				b->subs[i] = b->subs[--b->n_subs];
			}
			return;
		}
}

json_t *event_history(struct event_bus *b, uint64_t since, const char *deployment) {
	json_t *a = json_array();

	for (size_t i = 0; i < b->n; i++) {
		const struct kept_event *k = &b->ring[(b->head + i) % b->keep];
		json_t *ev;
		if (k->seq <= since)
			continue;
		if (deployment && (!k->deployment || !streq(k->deployment, deployment)))
			continue;
		ev = json_loads(k->text, 0, NULL);
		if (ev)
			json_array_append_new(a, ev);
	}
	return a;
}
