/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by api-containers.c (routes, plain operations, wait),
 * api-containers-common.c (workers, followers, auto-remove),
 * api-containers-logs.c (logs and attach streams) and
 * api-containers-exec.c (exec) only. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "api/containers.h"
#include "api/server.h"

#define CONTAINERS_EXIT_CACHE    128 /* exits of auto-removed containers kept for late waiters */
#define CONTAINERS_POLL_MS       100 /* wait and log-follow polling */
#define CONTAINERS_WATCH_POLL_MS 250 /* auto-remove watchers */
#define CONTAINERS_POLL_FIRST_MS                              \
	5 /* polls start this short and double: a short-lived \
	   * container is noticed within milliseconds */

/* The next pause of a poll loop: *interval, then doubled up to max. */
static inline unsigned containers_backoff(unsigned *interval, unsigned max) {
	unsigned now = *interval ? *interval : CONTAINERS_POLL_FIRST_MS;

	*interval = now * 2 > max ? max : now * 2;
	return now > max ? max : now;
}

struct containers_follower {
	struct containers_follower *next;
	char *id;
	unsigned n;
};

struct containers_exit {
	char *id;
	struct wait_outcome outcome;
};

struct containers {
	struct daemon *daemon;
	struct runtime *rt;
	atomic_uint threads; /* workers alive */
	atomic_bool cancel;  /* shutdown: polling workers leave */
	/* Tables workers share, under lock. */
	pthread_mutex_t lock;
	struct containers_follower *followers; /* log streams open per container */
	struct containers_exit exits[CONTAINERS_EXIT_CACHE];
	size_t exits_next;
	char **watched; /* containers with an auto-remove watcher */
	/* Sleeping pollers wake on a kick: a worker that saw a container exit
	 * (or go) tells the others at once instead of at their next poll. */
	pthread_cond_t wake;
	uint64_t kicks;             /* under lock */
	struct exec_session *execs; /* exec requests in progress (api-containers-exec.c), under lock */
};

/* Wake every containers_sleep() now (any thread). */
void containers_kick(struct containers *cs);

/* Run fn(arg) on a detached worker counted in cs->threads; the worker calls
 * containers_thread_exit() last. Fails while the daemon shuts down. */
int containers_spawn(struct containers *cs, void *(*fn)(void *), void *arg, struct za_error **reterr);
void containers_thread_exit(struct containers *cs);

/* Worker side: the container named id, or the one generated id ("zl-...")
 * that id is a prefix of, and its status. not_found "no such container". */
int containers_resolve(struct containers *cs, const char *id, char **ret_id, struct container_status *ret,
                       struct za_error **reterr);
/* Running, or on its way to (created, stopping). */
bool containers_state_active(enum container_state s);
/* Sleep ms unless shutdown begins or *stop becomes true: false then. */
bool containers_sleep(struct containers *cs, unsigned ms, const atomic_bool *stop);

/* Auto-remove waits until a container's log streams are drained. */
void containers_follower_add(struct containers *cs, const char *id);
void containers_follower_remove(struct containers *cs, const char *id);
/* The exit of an auto-removed container, recorded before its removal. */
bool containers_exit_lookup(struct containers *cs, const char *id, struct wait_outcome *ret);

/* Watch id and remove it when it exits (once per container). */
void containers_watch_arm(struct containers *cs, const char *id);
/* Once the loop runs, arm the watchers of containers created with
 * auto_remove by an earlier daemon. */
void containers_rearm_later(struct containers *cs);

/* Loop thread: reply with e; a name conflict (EEXIST) is 409. */
int containers_reply_error(struct api_request *req, const struct za_error *e);
/* 400 for a missing or malformed query parameter. */
int containers_reply_bad_query(struct api_request *req, const char *name, const char *expected);

/* api-containers-exec.c: POST /v1/containers/exec (buffered, or stream=1),
 * and the STOP hook that cancels execs in progress. */
void containers_exec_register(struct containers *cs);

/* api-containers-logs.c */
int containers_handle_logs(struct api_request *req, void *userdata);
/* POST /v1/containers/start?attach=1: start, then stream the logs from the
 * beginning until the container exits, then a line {exit: outcome}. */
/* Is id watched for auto-remove? */
bool containers_auto_removing(struct containers *cs, const char *id);
/* wait_removed: an auto-remove container's stream ends once it is removed
 * (its last line {"exit": ..., "removed": true}), saving `run --rm` a call. */
int containers_start_attached(struct containers *cs, struct api_request *req, const char *id, bool wait_removed);
