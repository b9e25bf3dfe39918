/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by oci.c (lifecycle), oci-ops.c (logs, stats, inspect) and oci-exec.c. */
#pragma once

#include <pthread.h>

#include "runtime/oci.h"

struct oci {
	char *root_dir, *runtime_dir;
	char *runtime_path; /* runc or crun */
	char *runtime_root; /* RUNTIME/runc */
	char *shim_path;
	char *wasm_path;      /* zlayer-wasm, the runtime of WebAssembly containers */
	char *wasm_root;      /* RUNTIME/wasm, its --root */
	char *wasm_cache_dir; /* $ZLAYER_WASM_CACHE_DIR, else ROOT/wasm */
	struct content_store *content;
	struct network_config net;
	char *net_state_dir, *net_cache_dir;
	pthread_mutex_t lock; /* container.json read-modify-write, trash_jobs */
	pthread_cond_t trash_done;
	unsigned trash_jobs;
	struct oci_monitor *monitor;
};

/* Rename path into BASE/trash and delete it from a thread (oci_free waits
 * for those). */
void oci_trash(struct oci *o, const char *path, const char *base);

/* oci-orphans.c: remove what belongs to no recorded container (runtime
 * state of stopped ones, CNI attachments and addresses, network namespaces,
 * overlay mounts and bundles, empty cgroups no live shim names). Slow (CNI
 * plugins, runc): the startup trash thread runs it. */
void oci_orphans_sweep(struct oci *o);

/* The exit monitor (oci-monitor.c): a thread that learns of each exit as
 * the shim records it (inotify) or dies without recording one (pidfds),
 * tells the runtime's exit handler once and wakes waiters. Every container
 * with a record is watched, from create (or daemon start) to remove. */
struct oci_monitor;
int oci_monitor_new(struct oci *o, struct runtime *rt, struct oci_monitor **ret);
struct oci_monitor *oci_monitor_free(struct oci_monitor *m);
void oci_monitor_watch(struct oci_monitor *m, const char *id, pid_t shim_pid, pid_t init_pid);
void oci_monitor_forget(struct oci_monitor *m, const char *id);
/* 1 and the outcome once id exited; 0 when timeout_ns (INT64_MAX: none)
 * passed first; -ENOENT when id is not watched (removed); -ECANCELED when
 * the runtime is shutting down. */
int oci_monitor_wait(struct oci_monitor *m, const char *id, int64_t timeout_ns, struct wait_outcome *ret);
/* The exit of id's next run (it exited and starts again later): 1 and
 * the outcome, -ENOENT when it is removed first, -ECANCELED. */
int oci_monitor_wait_next(struct oci_monitor *m, const char *id, struct wait_outcome *ret);
/* Until id is forgotten (removed). */
int oci_monitor_wait_gone(struct oci_monitor *m, const char *id);

/* What the runtime remembers of a container, ROOT/containers/ID/container.json. */
struct oci_record {
	char *id, *image, *image_digest;
	char *ip, *netns;
	enum spec_network_mode network_mode;
	int stop_signal;
	uint64_t stop_grace_nsec;
	bool auto_remove, tty, started, removing;
	bool wasm; /* run by zlayer-wasm, not runc */
	pid_t shim_pid, init_pid;
	uint64_t log_max_size;
	int64_t created_ns, started_ns;
	char **args; /* the resolved process args, for ps/inspect */
};

char *oci_container_dir(const struct oci *o, const char *id); /* ROOT/containers/ID */
char *oci_run_dir(const struct oci *o, const char *id);       /* RUNTIME/containers/ID */
int oci_record_load(const struct oci *o, const char *id, struct oci_record *ret, struct za_error **reterr);
int oci_record_save(const struct oci *o, const struct oci_record *rec, struct za_error **reterr);
void oci_record_release(struct oci_record *r);
/* The exit record of the shim, if the container exited. */
int oci_read_exit(const struct oci *o, const char *id, struct wait_outcome *ret);
/* `runtime [--root R] ARGS...` with the container's runtime (runc/crun, or
 * zlayer-wasm for rec->wasm; rec may be NULL); stderr captured into the
 * error on failure. */
int oci_runc(const struct oci *o, const struct oci_record *rec, const char *what, const char *id, char *const *args,
             struct za_error **reterr);
const char *oci_runtime_path_of(const struct oci *o, const struct oci_record *rec);
const char *oci_runtime_root_of(const struct oci *o, const struct oci_record *rec);
bool oci_pid_alive(pid_t pid);

int oci_logs(struct runtime *rt, const char *id, const struct log_options *lo, log_record_fn fn, void *userdata,
             struct za_error **reterr);
/* oci-exec.c */
int oci_exec(struct runtime *rt, const char *id, const struct exec_options *o, size_t cap, struct exec_result *ret,
             struct za_error **reterr);
int oci_exec_stream(struct runtime *rt, const char *id, const struct exec_options *o, const struct exec_stream_io *io,
                    int *ret_exit_code, struct za_error **reterr);
int oci_stats(struct runtime *rt, const char *id, struct container_stats *ret, struct za_error **reterr);
int oci_inspect(struct runtime *rt, const char *id, json_t **ret, struct za_error **reterr);
