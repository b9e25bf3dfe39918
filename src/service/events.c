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

struct event_bus {
	json_t **ring;
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
	b->ring = xnew(json_t *, b->keep);
	return b;
}

struct event_bus *event_bus_free(struct event_bus *b) {
	if (!b)
		return NULL;
	for (size_t i = 0; i < b->n; i++)
		json_decref(b->ring[(b->head + i) % b->keep]);
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
	if (b->n == b->keep) {
		json_decref(b->ring[b->head]);
		b->head = (b->head + 1) % b->keep;
		b->n--;
	}
	b->ring[(b->head + b->n) % b->keep] = json_incref(ev);
	b->n++;

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
		json_t *ev = b->ring[(b->head + i) % b->keep];
		const char *d = json_string_value(json_object_get(ev, "deployment"));
		if ((uint64_t)json_integer_value(json_object_get(ev, "seq")) <= since)
			continue;
		if (deployment && (!d || !streq(d, deployment)))
			continue;
		json_array_append(a, ev);
	}
	return a;
}
