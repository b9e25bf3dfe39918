/* SPDX-License-Identifier: Apache-2.0 */
/* The Container Device Interface: vendor spec files (JSON, or YAML as
 * nvidia-ctk writes them) in /etc/cdi and /var/run/cdi that say, per device
 * "vendor.com/class=name", which edits of a runtime-spec config give a
 * container that device. Here they are read and applied to a config.json. */
#pragma once

#include <jansson.h>

#include "basic/error.h"
#include "spec/spec.h"

#define CDI_MAX_SPEC_FILES 256
#define CDI_MAX_SPEC_SIZE  (4u * 1024 * 1024)
#define CDI_MPS_PIPE_DIR   "/tmp/nvidia-mps"

/* "/etc/cdi", "/var/run/cdi": later directories win for the same device. */
extern const char *const cdi_default_dirs[];

/* "nvidia.com/gpu", "amd.com/gpu", "intel.com/gpu" */
const char *cdi_gpu_kind(enum spec_gpu_vendor vendor);

/* Apply the edits (env, deviceNodes, mounts, hooks, additionalGids) of the
 * fully qualified devices ("nvidia.com/gpu=0") found in the spec files of
 * `dirs` (NULL: cdi_default_dirs) to `config`. A device that no spec defines
 * fails with gpu_unavailable naming it and the directories searched. */
int cdi_inject(json_t *config, char *const *devices, char *const *dirs, struct za_error **reterr);

/* Give the container gpu->count GPUs of gpu->vendor: `names` chooses them
 * (NULL: the first count the specs define, by index) and their edits are
 * applied. With `sharing: mps` the MPS pipe directory (gpu->mps_pipe_dir or
 * CDI_MPS_PIPE_DIR) must exist (else gpu_sharing_unavailable naming it); it
 * and the log directory are bind-mounted, CUDA_MPS_PIPE_DIRECTORY/
 * CUDA_MPS_LOG_DIRECTORY set, and the container joins the host IPC namespace
 * (MPS clients reach the server through host shared memory). On success
 * *ret_devices (optional) lists the qualified names applied. */
int cdi_apply_gpu(json_t *config, const struct spec_gpu *gpu, char *const *names, char *const *dirs,
                  char ***ret_devices, struct za_error **reterr);
