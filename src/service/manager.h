/* SPDX-License-Identifier: Apache-2.0 */
/* The service manager: deployments (validated specs) brought up in
 * dependency order and kept the way the spec says — replicas
 * `{service}-rep-{n}`, init steps, health checks, the supervisor's restart
 * policies, scaling, rolling updates. All its state lives on the daemon's
 * event loop thread; runtime calls (blocking) run on worker threads that
 * post their results back. Deployments are stored before anything runs, so
 * a restarted agent brings them back (manager_restore). */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "basic/error.h"
#include "runtime/runtime.h"
#include "service/events.h"
#include "service/supervisor.h"
#include "spec/spec.h"
#include "store/store.h"

struct manager;
struct secrets;

typedef void (*manager_image_done_fn)(void *userdata, int r, const struct za_error *err, const char *digest);

struct manager_ops {
	/* Make the image present as pull_policy says (resolving, pulling) and
	 * call done once, on the loop thread, with its stored digest. */
	void (*image_ensure)(void *ctx, const char *reference, enum spec_pull_policy policy, manager_image_done_fn done,
	                     void *userdata);
	/* Run fn on the loop thread soon; callable from any thread. */
	void (*post)(void *ctx, void (*fn)(void *userdata), void *userdata);
	void *ctx;
};

struct manager_options {
	sd_event *event;
	struct runtime *rt;
	struct store *store;
	struct secrets *secrets; /* may be NULL: $S: references then fail */
	const char *root_dir;    /* the agent's: jobs keep their logs under ROOT/jobs */
	struct supervisor_settings supervisor;
	struct manager_ops ops;
};

int manager_new(const struct manager_options *o, struct manager **ret, struct za_error **reterr);
/* Stop timers and health checks and wait for workers; containers keep
 * running (a restarted agent adopts them). */
void manager_shutdown(struct manager *m);
struct manager *manager_free(struct manager *m);

/* Bring back the stored deployments: adopt their running replicas, create
 * what is missing. */
int manager_restore(struct manager *m, struct za_error **reterr);

/* status: the deployment's status (manager_status form), borrowed. */
typedef void (*manager_done_fn)(void *userdata, int r, const struct za_error *err, json_t *status);

/* Deploy a spec (YAML text) or update the deployment of that name: done
 * once every service is up (its replicas started, dependencies honoured),
 * or with the first error. Jobs and crons are registered, not run. */
int manager_deploy(struct manager *m, const char *file, const char *yaml, size_t len, manager_done_fn done,
                   void *userdata, struct za_error **reterr);
/* Stop every replica (dependents first) and forget the deployment. */
int manager_remove(struct manager *m, const char *deployment, manager_done_fn done, void *userdata,
                   struct za_error **reterr);
/* Set a service's replica count (deployment may be NULL when the service
 * name is unique); done once the change is made. */
int manager_scale(struct manager *m, const char *deployment, const char *service, uint32_t replicas,
                  manager_done_fn done, void *userdata, struct za_error **reterr);
/* {deployment, services: {NAME: {desired, rtype, image, replicas: [{id,
 * state, health, restarts, pid, exit_code, error}]}}}; NULL deployment: an
 * array of them all. NULL when the deployment is unknown. New reference. */
json_t *manager_status(struct manager *m, const char *deployment);

struct event_bus *manager_events(struct manager *m);
/* A replica's status (manager_status's replica object plus deployment and
 * service), or NULL when id is not a replica. New reference. */
json_t *manager_replica_status(struct manager *m, const char *id);
/* The deployments' jobs and crons (service/jobs.h). */
struct jobs *manager_jobs(struct manager *m);
