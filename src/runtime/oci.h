/* SPDX-License-Identifier: Apache-2.0 */
/* The OCI runtime: containers run by runc (or crun where the host allows)
 * under a per-container zlayer-shim, so they outlive the agent. Layout:
 *   ROOT/containers/ID/      container.json, upper/, work/, container.log*
 *   RUNTIME/containers/ID/   rootfs/ (overlay mount), bundle/, state/ (shim)
 *   RUNTIME/runc/            the runtime's own state (--root)
 *   RUNTIME/netns/ID         the network namespace (bridge, none) */
#pragma once

#include "image/content.h"
#include "runtime/network.h"
#include "runtime/runtime.h"

struct oci_runtime_options {
	const char *root_dir;
	const char *runtime_dir;
	const char *runtime_path; /* NULL: detected (crun if the cgroup layout allows, else runc) */
	const char *shim_path;    /* NULL: zlayer-shim next to the running binary, else $PATH */
	struct content_store *content;
	const struct network_config *network; /* NULL: defaults under ROOT */
	bool keep_cgroup_options;             /* do not turn favordynmods on (cgroup-host.h) */
};

int oci_runtime_new(const struct oci_runtime_options *o, struct runtime **ret, struct za_error **reterr);
/* Build the fast (cc -O2) tier of a WebAssembly module into the runtime's
 * compile cache now (zlayer-wasm precompile); *ret_output says where. */
int oci_wasm_precompile(struct runtime *rt, const char *module, char **ret_output, struct za_error **reterr);
/* What the runtime uses, for `zlayer-agent info`: {runtime, runtime_root,
 * shim, wasm_runtime, wasm_cache_dir, cgroups: v1|hybrid|v2}. */
json_t *oci_runtime_describe(struct runtime *rt);
/* "crun" or "runc" for this host, with the reason when runc was chosen. */
const char *oci_detect_runtime(char **ret_reason);
