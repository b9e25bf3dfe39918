/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-wasm's OCI runtime verbs: the subset of runc's command line that
 * zlayer-shim and the agent use (create, start, run --detach, kill, delete,
 * state, events --stats, exec), with runc's argv, output and
 * `time="..." level=error msg="..."` errors. The bundle contract is in the
 * comment at the top of wasm-oci.c. */
#pragma once

#include <stdbool.h>

#define WASM_OCI_ROOT_DEFAULT "/run/zlayer-wasm"

struct wasm_oci_globals {
	const char *root; /* state directory, WASM_OCI_ROOT_DEFAULT when NULL */
	bool systemd_cgroup;
	const char *self; /* this executable, for the background builder */
};

/* Run `verb` with its arguments (argv[0] is the verb); the exit status. */
int wasm_oci_main(const struct wasm_oci_globals *g, int argc, char **argv);
/* Whether `run`'s arguments are runc's (--bundle, --detach, ...) rather
 * than a module to run directly. */
bool wasm_oci_is_run(int argc, char **argv);
/* runc's error line on stderr. */
void wasm_oci_print_error(const char *msg);
