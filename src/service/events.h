/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's event stream: what the service manager and supervisor did
 * (ContainerRestarted, CrashLoopBackOff, ContainerIsolated, ServiceShutdown,
 * ContainerCompleted, health changes, deploy steps) as JSON objects
 * {seq, time, type, deployment, service, replica, message}; the last few
 * thousand are kept for late readers, subscribers get each as it happens.
 * Loop thread only. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "basic/macro.h"

struct event_bus;

typedef void (*event_fn)(json_t *event /* borrowed */, void *userdata);

struct event_bus *event_bus_new(size_t keep);
struct event_bus *event_bus_free(struct event_bus *b);

/* replica and service may be NULL. */
void event_emit(struct event_bus *b, const char *type, const char *deployment, const char *service, const char *replica,
                const char *fmt, ...) _printf_(6, 7);

uint64_t event_subscribe(struct event_bus *b, event_fn fn, void *userdata);
void event_unsubscribe(struct event_bus *b, uint64_t id);
/* Kept events with seq > since (of one deployment when it is not NULL), a
 * new array. */
json_t *event_history(struct event_bus *b, uint64_t since, const char *deployment);
