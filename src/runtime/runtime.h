/* SPDX-License-Identifier: Apache-2.0 */
/* The runtime interface: what every way of running a container offers (the
 * seed's Runtime trait as a struct of function pointers). Implementations:
 * oci (runc/crun through a per-container shim), later docker and wasm.
 * Operations are synchronous and safe to call from worker threads for
 * different containers; the daemon runs them off its event loop. An
 * operation an implementation cannot do returns -EOPNOTSUPP with an
 * `unsupported` error, never a fake success. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "runtime/container.h"

enum container_state {
	CONTAINER_PENDING,      /* known, not created yet */
	CONTAINER_INITIALIZING, /* created (shim + runtime), not started */
	CONTAINER_RUNNING,
	CONTAINER_STOPPING,
	CONTAINER_EXITED,
	CONTAINER_FAILED,
	_CONTAINER_STATE_MAX,
	_CONTAINER_STATE_INVALID = -1,
};
const char *container_state_to_string(enum container_state s);
enum container_state container_state_from_string(const char *s);

enum exit_reason {
	EXIT_REASON_EXITED,
	EXIT_REASON_SIGNAL,
	EXIT_REASON_OOM_KILLED,
	EXIT_REASON_RUNTIME_ERROR, /* the runtime failed it: a WebAssembly trap, a lost shim */
	EXIT_REASON_TIMEOUT,       /* a run time limit ended it (WebAssembly max_execution_time) */
	_EXIT_REASON_MAX,
	_EXIT_REASON_INVALID = -1,
};
const char *exit_reason_to_string(enum exit_reason r);

struct container_status {
	char *id;
	char *image;
	char *image_digest;
	enum container_state state;
	pid_t pid;     /* init pid while created/running, else 0 */
	char *ip;      /* bridge network address, or NULL */
	int exit_code; /* EXITED */
	int signal;    /* EXITED by a signal */
	bool oom_killed;
	char *reason;                                /* FAILED: why; EXITED: a trap or timeout, if one ended it */
	int64_t created_ns, started_ns, finished_ns; /* CLOCK_REALTIME, 0 = never */
};
void container_status_release(struct container_status *s);

enum wait_condition {
	WAIT_NOT_RUNNING, /* returns at once if not running */
	WAIT_NEXT_EXIT,   /* the next exit from now */
	WAIT_REMOVED,     /* until the container is removed */
	_WAIT_CONDITION_MAX,
	_WAIT_CONDITION_INVALID = -1,
};

struct wait_outcome {
	enum exit_reason reason;
	int exit_code;
	int signal;
	int64_t finished_ns;
};

/* What exec runs: argv with the container's process settings (env, cwd,
 * user, capabilities, limits), some of them overridden. */
struct exec_options {
	char *const *argv;   /* required, non-empty */
	char *const *env;    /* "K=V" over the container's env (an existing K replaced); NULL: none */
	const char *workdir; /* absolute; NULL: the container's */
	const char *user;    /* "name", "uid", "uid:gid", "name:group" in the container's files; NULL: its own */
};

struct exec_result {
	int exit_code;
	char *out, *err; /* capped; NUL-terminated, and may hold NUL bytes */
	size_t out_len, err_len;
};

enum exec_stream {
	EXEC_STREAM_STDOUT,
	EXEC_STREAM_STDERR,
	_EXEC_STREAM_MAX,
	_EXEC_STREAM_INVALID = -1,
};
const char *exec_stream_to_string(enum exec_stream s); /* "stdout", "stderr" */
enum exec_stream exec_stream_from_string(const char *s);

/* How exec_stream reports: output chunks as they arrive (any size, no
 * framing; each stream in order), on the calling thread. */
struct exec_stream_io {
	/* Once the command's process is being started: from here on, failures
	 * to run it are its exit code (126, 127), not errors. Optional. */
	void (*started)(void *userdata);
	/* A negative return cancels. */
	int (*output)(enum exec_stream s, const char *data, size_t len, void *userdata);
	void *userdata;
	int cancel_fd; /* readable: cancel (-1: never) */
};

struct log_options {
	bool follow;
	uint64_t tail;                     /* 0: all */
	int64_t since_ns;                  /* 0: from the start */
	bool stdout_stream, stderr_stream; /* both false: both */
};
/* One log record: stream "stdout"/"stderr", time in ns, the text. Return <0
 * to stop (follow mode ends the same way). */
typedef int (*log_record_fn)(const char *stream, int64_t time_ns, const char *text, size_t len, void *userdata);

struct container_stats {
	double cpu_percent; /* over the sampling interval, of one core = 100 */
	uint64_t cpu_usage_ns;
	uint64_t memory_usage, memory_limit; /* bytes; limit 0 = none */
	uint64_t pids;
	uint64_t read_ns;
};

struct runtime;

struct runtime_ops {
	const char *name;
	int (*create)(struct runtime *rt, const struct container_config *cfg, struct za_error **reterr);
	int (*start)(struct runtime *rt, const char *id, struct za_error **reterr);
	/* stop_signal, then SIGKILL after timeout (0: the container's grace period) */
	int (*stop)(struct runtime *rt, const char *id, uint64_t timeout_nsec, struct za_error **reterr);
	int (*kill)(struct runtime *rt, const char *id, int sig, struct za_error **reterr);
	int (*remove)(struct runtime *rt, const char *id, bool force, struct za_error **reterr);
	int (*state)(struct runtime *rt, const char *id, struct container_status *ret, struct za_error **reterr);
	int (*list)(struct runtime *rt, char ***ret_ids, struct za_error **reterr);
	int (*logs)(struct runtime *rt, const char *id, const struct log_options *o, log_record_fn fn, void *userdata,
	            struct za_error **reterr);
	/* Run a command in the running container and wait for it: its exit
	 * status (128+N when signal N ended it, as runc reports it; 127 for a
	 * command not found, 126 for one that cannot be run) and output, each
	 * stream capped at cap bytes (the rest is read and dropped). */
	int (*exec)(struct runtime *rt, const char *id, const struct exec_options *o, size_t cap,
	            struct exec_result *ret, struct za_error **reterr);
	/* The same, streaming: output goes to io as it is produced. Cancelling
	 * kills the command (its process group) and returns -ECANCELED once the
	 * runtime's exec process is reaped. Errors before io->started: not
	 * running (configuration), unsupported, invalid_spec (user, workdir). */
	int (*exec_stream)(struct runtime *rt, const char *id, const struct exec_options *o,
	                   const struct exec_stream_io *io, int *ret_exit_code, struct za_error **reterr);
	int (*stats)(struct runtime *rt, const char *id, struct container_stats *ret, struct za_error **reterr);
	/* Blocks until the condition holds. */
	int (*wait)(struct runtime *rt, const char *id, enum wait_condition cond, struct wait_outcome *ret,
	            struct za_error **reterr);
	int (*inspect)(struct runtime *rt, const char *id, json_t **ret, struct za_error **reterr);
	void (*free)(struct runtime *rt);
};

/* Told once per container exit, from a runtime thread (never the daemon's
 * event loop): quick, thread-safe, no runtime calls for the same container
 * from inside. */
typedef void (*runtime_exit_fn)(const char *id, const struct wait_outcome *w, void *userdata);

#define RUNTIME_EXIT_HANDLERS_MAX 4

struct runtime {
	const struct runtime_ops *ops;
	void *data;
	pthread_mutex_t handler_lock;
	struct {
		runtime_exit_fn fn;
		void *userdata;
	} on_exit[RUNTIME_EXIT_HANDLERS_MAX];
};

/* Fills the struct (no allocation); implementations call it. */
void runtime_init(struct runtime *rt, const struct runtime_ops *ops, void *data);
/* Add or remove (same fn and userdata) an exit handler; -ENOSPC when full. */
int runtime_exit_handler_add(struct runtime *rt, runtime_exit_fn fn, void *userdata);
void runtime_exit_handler_remove(struct runtime *rt, runtime_exit_fn fn, void *userdata);
/* Tell every handler (runtimes call it, from their own thread). */
void runtime_notify_exit(struct runtime *rt, const char *id, const struct wait_outcome *w);

void exec_result_release(struct exec_result *r);
