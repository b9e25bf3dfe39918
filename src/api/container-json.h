/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON forms of containers in the API: the create body's `config` read
 * into a container_config (strictly: unknown keys, wrong types and values
 * out of range are errors naming the key path), and statuses, wait outcomes
 * and stats written out. Also the small parsers the endpoints share:
 * timestamps (RFC 3339 or unix seconds), signals (name or number), and
 * lossy UTF-8 for process output. Pure functions, no daemon state. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "basic/error.h"
#include "runtime/runtime.h"

/* Caps on what a client sends in a config. */
#define CONTAINER_JSON_STRING_MAX (64 * 1024) /* one string value */
#define CONTAINER_JSON_ARRAY_MAX  4096        /* env, args, labels, caps, ... */
#define CONTAINER_JSON_MOUNTS_MAX 256
#define CONTAINER_JSON_PORTS_MAX  1024
#define CONTAINER_ID_MAX          128

#define TIMESTAMP_MAX 64 /* "2026-11-22T08:00:00.123456789Z" + NUL, with room */

/* [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most CONTAINER_ID_MAX: the names the
 * runtime accepts as container ids. */
bool container_id_valid(const char *id);

/* Fill *ret from a JSON object with the fields of struct container_config
 * (see docs in api-containers.c). On failure *ret is untouched and the
 * error (kind invalid_spec) names the field: "config.ports[1].container_port:
 * expected an integer from 1 to 65535". */
int container_config_from_json(json_t *j, struct container_config *ret, struct za_error **reterr);

/* {id, image, image_digest, state, pid, ip, exit_code, signal, oom_killed,
 *  reason, created, started_at, finished_at, created_ns, started_ns,
 *  finished_ns} */
json_t *container_status_to_json(const struct container_status *s);
/* The outcome a status describes (reason from state, OOM and signal). */
void container_status_outcome(const struct container_status *s, struct wait_outcome *ret);
/* {exit_code, reason, signal, finished_at} */
json_t *wait_outcome_to_json(const struct wait_outcome *w);
/* {cpu_percent, cpu_usage_ns, memory_usage, memory_limit, pids, read_ns} */
json_t *container_stats_to_json(const struct container_stats *st);

/* "2026-11-22T08:00:00Z", "...:00.5+02:00", or unix seconds "1700000000[.25]"
 * -> ns since the epoch. 0 on success, -EINVAL / -ERANGE. */
int timestamp_parse(const char *s, int64_t *ret_ns);
/* RFC 3339 in UTC with nanoseconds; returns buf. */
char *timestamp_format(char buf[static TIMESTAMP_MAX], int64_t ns);

/* A JSON string of the bytes, invalid UTF-8 replaced by U+FFFD (process
 * output is not always text); NUL bytes are kept. */
json_t *json_string_lossy(const char *s, size_t len);
