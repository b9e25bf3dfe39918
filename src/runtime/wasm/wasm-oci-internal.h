/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the OCI verbs (wasm-oci.c: create, run, start; wasm-oci-ops.c:
 * the state file, state, kill, delete, events); not for other modules. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "runtime/wasm/wasm-cgroup.h"
#include "runtime/wasm/wasm-oci.h"

#define OCI_VERSION  "1.0.2"
#define FILE_STATE   "state.json"
#define FILE_FIFO    "exec.fifo"
#define FILE_OUTCOME "outcome.json"
#define STATE_MAX    (1u << 20)
#define ID_MAX       1024

/* ROOT/ID/state.json */
struct oci_state {
	char *id, *bundle, *rootfs, *created;
	pid_t pid;
	uint64_t starttime; /* /proc/PID/stat field 22: pid reuse check */
	struct wasm_cgroup cg;
	json_t *annotations;
};

enum oci_status {
	OCI_CREATED,
	OCI_RUNNING,
	OCI_STOPPED,
	_OCI_STATUS_MAX,
	_OCI_STATUS_INVALID = -1,
};

const char *oci_status_to_string(enum oci_status s);
char *oci_dir(const struct wasm_oci_globals *g, const char *id);
const char *oci_root(const struct wasm_oci_globals *g);
bool oci_valid_id(const char *id);
int oci_state_load(const struct wasm_oci_globals *g, const char *id, struct oci_state *ret, struct za_error **reterr);
int oci_state_save(const struct wasm_oci_globals *g, const struct oci_state *st, struct za_error **reterr);
void oci_state_release(struct oci_state *st);
enum oci_status oci_state_status(const struct wasm_oci_globals *g, const struct oci_state *st);
/* Field 22 of /proc/PID/stat and its state letter; -ESRCH when gone. */
int oci_proc_stat(pid_t pid, uint64_t *ret_start, char *ret_state);
/* Whether st's process is alive (not a zombie) and still the same one. */
bool oci_alive(const struct oci_state *st);
/* Wait until st's process is gone or a zombie; false on timeout. */
bool oci_wait_gone(const struct oci_state *st, int timeout_ms);
char *oci_now_rfc3339(void);
int oci_fail(const char *fmt, ...) _printf_(1, 2);
int oci_fail_err(const struct za_error *e);

int oci_verb_create(const struct wasm_oci_globals *g, int argc, char **argv);
int oci_verb_run(const struct wasm_oci_globals *g, int argc, char **argv);
int oci_verb_start(const struct wasm_oci_globals *g, int argc, char **argv);
/* Remove ROOT/ID and the cgroups of a stopped container. */
int oci_destroy(const struct wasm_oci_globals *g, struct oci_state *st);
