/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by manager.c (deployments, services, ordering, scaling, rollouts)
 * and manager-replica.c (one replica's life: workers, supervisor table,
 * restarts, health). Loop thread only, except where a field says so. */
#pragma once

#include <stdatomic.h>

#include "service/manager.h"
#include "service/health.h"

struct deployment;
struct service;

enum service_phase {
	SERVICE_WAITING, /* for its dependencies */
	SERVICE_PULLING, /* its image */
	SERVICE_UP,      /* replicas managed */
	SERVICE_FAILED,  /* a dependency timed out, the image failed, a replica failed to start */
	_SERVICE_PHASE_MAX,
	_SERVICE_PHASE_INVALID = -1,
};

struct replica {
	struct service *svc;
	char *id;
	unsigned n;
	enum replica_state state;
	struct restart_history history;
	sd_event_source *restart_timer; /* the one pending delayed restart */
	int64_t restart_due_ns;         /* CLOCK_REALTIME of that restart; 0: none */
	bool exit_pending;              /* exited while CREATING: handled at STARTED */
	struct wait_outcome pending_exit;
	struct wait_outcome last_exit;
	bool has_exit;
	bool stop_after_create; /* STOP arrived while a create worker ran */
	bool retired;           /* replaced by a rollout: not counted */
	bool started_once;
	unsigned generation; /* the service's when it was made */
	pid_t pid;
	char *error;
	int64_t started_ns; /* CLOCK_MONOTONIC, last start */
	unsigned workers;   /* create/stop workers running for it */
	/* health */
	struct health_state health;
	sd_event_source *health_timer;
	bool probing;
	atomic_bool cancel; /* read by workers */
	char *ip;
};

struct service {
	struct deployment *dep;
	const struct spec_service *spec; /* in dep->spec (or an older spec kept alive) */
	char *name;
	json_t *spec_json; /* normalised, to see changes */
	enum service_phase phase;
	char *error;
	char *digest; /* the image's, once ensured */
	uint32_t desired;
	struct replica **replicas;
	size_t n_replicas;
	sd_event_source *deps_timer; /* the nearest dependency timeout */
	int64_t waiting_since;       /* CLOCK_MONOTONIC */
	bool rolling;                /* a rollout replaces its replicas */
	bool removed;                /* gone from the spec: replicas being stopped */
	bool timed_out;              /* failed on a dependency timeout */
	char *required_os;           /* failed as route_to_peer: the OS its image needs */
	bool rollout_failed;         /* the last rollout stopped; the old replicas serve */
	unsigned generation;         /* bumped by an update that replaces replicas */
};

struct manager_op; /* a request waiting for the manager to finish something */

struct deployment {
	struct manager *m;
	char *name;
	char *file;
	struct spec_deployment *spec;
	struct spec_deployment **old_specs; /* kept until the deployment goes: workers may point in */
	size_t n_old_specs;
	struct service **services;
	size_t n_services;
	struct manager_op *op; /* deploy / remove / scale under way */
	bool removing;
	bool changed;   /* re-evaluate on the next loop iteration */
	bool restoring; /* brought back at start: adopt what runs */
	int64_t created_ns;
};

struct manager {
	struct manager_options o;
	struct event_bus *events;
	struct deployment **deps;
	size_t n_deps;
	unsigned workers; /* running worker threads */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	bool shutting_down;
	sd_event_source *changed_source;
	struct jobs *jobs; /* jobs and crons (service/jobs.h) */
};

/* manager.c */
/* Label of a replica's container: the hash of its service's spec
 * (manager_spec_hash), so a restored agent sees which spec made it. */
#define MANAGER_LABEL_SPEC "io.zlayer.spec"
char *manager_spec_hash(const struct service *s);
struct service *manager_find_service(struct manager *m, const char *deployment, const char *name);
struct replica *manager_find_replica(struct manager *m, const char *id);
/* Something changed (a replica's state or health): gates, ops, rollouts. */
void manager_changed(struct deployment *d);
void service_fail(struct service *s, const char *fmt, ...) _printf_(2, 3);
/* manager_changed() by name; nothing when the deployment is gone (jobs). */
void manager_deployment_changed(struct manager *m, const char *deployment);

/* manager-replica.c */
struct replica *replica_new(struct service *s, unsigned n);
struct replica *replica_free(struct replica *r);
/* Feed one event through the supervisor table. */
void replica_event(struct replica *r, enum replica_event e);
/* Create and start (a worker); the replica is CREATING. */
void replica_launch(struct replica *r);
/* Adopt a container found running for this replica at restore. */
void replica_adopt(struct replica *r, pid_t pid, const char *ip);
/* BACKOFF: the one pending restart, delay_nsec from now. */
void replica_restart_after(struct replica *r, uint64_t delay_nsec);
bool replica_counts(const struct replica *r); /* desired-replica accounting */
bool replica_is_healthy(const struct replica *r);
json_t *replica_status(const struct replica *r);
void manager_on_exit_loop(struct manager *m, const char *id, const struct wait_outcome *w);

/* manager-state.c: what a replica's supervisor keeps over agent restarts,
 * ROOT/replicas/ID.json (restart history, the last exit decided and its
 * outcome), so each exit is decided once and crash loops keep their pace. */
void replica_state_save(const struct replica *r);
void replica_state_forget(const struct replica *r);
/* At restore, the container found for r (running or exited): adopted with
 * the saved history; an exit decided before keeps its outcome (a pending
 * restart at its time), a new one is decided now, once. */
void replica_restore(struct replica *r, const struct container_status *st);

/* Run fn on a worker thread, then done on the loop thread. */
void manager_work(struct manager *m, void (*fn)(void *userdata), void (*done)(void *userdata), void *userdata);
int64_t manager_now(void); /* CLOCK_MONOTONIC ns */
