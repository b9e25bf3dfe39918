/* SPDX-License-Identifier: Apache-2.0 */
/* `zlayer-agent daemon`: its configuration, and the process that owns the
 * sd-event loop, the metadata store and the API server. Everything in
 * struct daemon belongs to the loop thread; other threads (the image
 * puller's workers) hand results back with daemon_post(). */
#pragma once

#include <pthread.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "basic/error.h"

#define DAEMON_DEFAULT_ROOT_DIR    "/var/lib/zlayer"
#define DAEMON_DEFAULT_RUNTIME_DIR "/run/zlayer"
#define DAEMON_DEFAULT_CONFIG_FILE "/etc/zlayer/daemon.json"
#define DAEMON_SOCKET_NAME         "agent.sock"
#define DAEMON_LOCK_NAME           "agent.lock"
#define DAEMON_TOKEN_NAME          "api-token" /* in the root directory */
#define DAEMON_CONFIG_MAX          (1024 * 1024)
#define DAEMON_DOWNLOADS_DEFAULT   3
#define DAEMON_DOWNLOADS_MAX       64
#define DAEMON_SHUTDOWN_GRACE_SEC  10

struct daemon_config {
	char *root_dir;    /* metadata, content, snapshots; 0700 */
	char *runtime_dir; /* socket and lock; 0755 */
	char *config_file; /* the file that was read, or NULL */
	char *registry_auth_file;
	char **insecure_registries; /* NULL-terminated; may be NULL */
	unsigned max_concurrent_downloads;
	gid_t socket_group;
	bool socket_group_set;
	/* optional TCP listener "HOST:PORT" (plain HTTP, bearer token from
	 * token_file, default ROOT/api-token); NULL: unix socket only */
	char *listen;
	char *token_file;
	/* the supervisor's crash-loop rule (spec: more than 5 restarts in 300 s
	 * -> CrashLoopBackOff, 30 s between restarts); keys crashloop_window,
	 * crashloop_restarts, crashloop_delay, so tests can shrink them */
	uint64_t crashloop_window_nsec, crashloop_delay_nsec;
	unsigned crashloop_restarts;
	/* cgroup_favordynmods: false keeps the host's cgroup2 options (see
	 * runtime/cgroup-host.h); the default turns favordynmods on */
	bool keep_cgroup_options;
};

/* Defaults, with ZLAYER_ROOT_DIR / ZLAYER_RUNTIME_DIR from the environment. */
void daemon_config_init(struct daemon_config *c);
void daemon_config_release(struct daemon_config *c);
/* Merge the JSON file at path into c (keys: root, runtime_dir,
 * insecure_registries, max_concurrent_downloads, registry_auth,
 * socket_group, listen, token_file, crashloop_*). Unknown keys and wrong
 * types are errors naming the key. */
int daemon_config_load_file(struct daemon_config *c, const char *path, struct za_error **reterr);
/* Look up a group by name or number for the socket. */
int daemon_config_set_socket_group(struct daemon_config *c, const char *group, struct za_error **reterr);
/* Make directories absolute, check that the socket path fits and the listen
 * address parses; token_file defaults to ROOT/api-token. */
int daemon_config_finish(struct daemon_config *c, struct za_error **reterr);
/* "$runtime_dir/agent.sock" */
char *daemon_config_socket_path(const struct daemon_config *c);

struct daemon;

enum daemon_hook {
	DAEMON_HOOK_STOP, /* shutdown began: cancel work, end streams; the loop still runs */
	DAEMON_HOOK_EXIT, /* the loop ended: join threads, free state; store still open */
	_DAEMON_HOOK_MAX,
	_DAEMON_HOOK_INVALID = -1,
};

typedef void (*daemon_hook_fn)(struct daemon *d, void *userdata);

struct daemon_post_item;
struct daemon_hook_entry;

struct daemon {
	sd_event *event;
	struct store *store;
	struct api_server *api;
	const struct daemon_config *config;
	void *images;            /* owned by api-images.c */
	struct secrets *secrets; /* the secret store (api-secrets.c creates it) */
	struct runtime *runtime; /* the container runtime (oci) */
	/* The service manager's view of a replica container (health, restarts,
	 * deployment, service) for inspect; NULL when it is not a replica.
	 * Loop thread only; set by api-deployments.c. */
	json_t *(*replica_status)(void *ctx, const char *id);
	void *replica_status_ctx;
	struct manager *manager;     /* the service manager (set by api-deployments.c), or NULL */
	struct api_metrics *metrics; /* /metrics (api-metrics.c), or NULL */

	/* private to daemon.c */
	char *socket_path;
	char *tcp_address;      /* the bound TCP listener ("127.0.0.1:2376"), or NULL */
	char *notify_socket;    /* $NOTIFY_SOCKET, taken out of the environment (see daemon.c) */
	uint64_t watchdog_usec; /* $WATCHDOG_USEC when it is for us, else 0 */
	sd_event_source *watchdog_source, *trim_source;
	int lock_fd, root_lock_fd;
	int post_fd; /* eventfd */
	pthread_mutex_t post_lock;
	struct daemon_post_item *post_head, *post_tail;
	sd_event_source *post_source, *sigterm_source, *sigint_source, *drain_source;
	struct daemon_hook_entry *hooks[_DAEMON_HOOK_MAX];
	bool stopping;
	uint64_t stop_deadline;
};

/* Set everything up (directories, locks, store, API socket, modules) without
 * running the loop; daemon_loop() runs it until SIGTERM/SIGINT. */
int daemon_new(const struct daemon_config *cfg, struct daemon **ret, struct za_error **reterr);
int daemon_loop(struct daemon *d, struct za_error **reterr);
struct daemon *daemon_free(struct daemon *d);
static inline void daemon_freep(struct daemon **d) {
	*d = daemon_free(*d);
}
/* new + loop + free: returns 0 after a graceful stop. */
int daemon_run(const struct daemon_config *cfg, struct za_error **reterr);

/* Run fn(userdata) on the loop thread, soon; callable from any thread.
 * Items still queued when the daemon is freed run then, in order, after the
 * EXIT hooks: a module joins its threads in its EXIT hook, so nothing posts
 * once daemon_free() has drained the queue. */
void daemon_post(struct daemon *d, void (*fn)(void *userdata), void *userdata);
/* Begin a graceful stop, as SIGTERM does (loop thread only). */
void daemon_stop(struct daemon *d);
/* Hooks run in registration order (loop thread). */
void daemon_add_hook(struct daemon *d, enum daemon_hook hook, daemon_hook_fn fn, void *userdata);

/* Image endpoints (api-images.c). */
int api_images_register(struct daemon *d);
/* The service manager's endpoints (api-deployments.c); after the runtime,
 * images and secrets. */
int api_deployments_register(struct daemon *d, struct za_error **reterr);
/* Secret store and endpoints (api-secrets.c). */
int api_secrets_register(struct daemon *d, struct za_error **reterr);
/* GET /metrics (api-metrics.c); last, after the deployments. */
int api_metrics_register(struct daemon *d, struct za_error **reterr);
