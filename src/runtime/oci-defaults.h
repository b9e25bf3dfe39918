/* SPDX-License-Identifier: Apache-2.0 */
/* Docker's defaults for an unprivileged container, as data: the 14 default
 * capabilities, the /proc and /sys paths masked or made read-only, the device
 * cgroup rules, and the default seccomp profile (a table turned into
 * runtime-spec JSON for one container's capabilities and this architecture). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "basic/error.h"

/* NULL-terminated */
extern const char *const oci_default_capabilities[];
extern const char *const oci_masked_paths[];
extern const char *const oci_readonly_paths[];

struct oci_device_rule {
	bool allow;
	char type;            /* 'a', 'c', 'b' */
	int64_t major, minor; /* -1: any */
	const char *access;
};
extern const struct oci_device_rule oci_default_device_rules[];
extern const size_t oci_default_device_rules_n;

/* Every capability this kernel knows ("CAP_CHOWN" ... up to cap_last_cap). */
char **oci_all_capabilities(void);
/* "CAP_NET_ADMIN" (or "NET_ADMIN", any case) -> "CAP_NET_ADMIN"; NULL if unknown. */
char *oci_capability_normalize(const char *name);
/* Docker's rules: privileged -> all; cap_add ALL -> all minus cap_drop;
 * cap_drop ALL -> only cap_add; else defaults minus cap_drop plus cap_add.
 * Unknown names fail with create_failed. */
int oci_capabilities_resolve(char *const *cap_add, char *const *cap_drop, bool privileged, char ***ret,
                             struct za_error **reterr);

/* Docker's default seccomp profile (defaultAction SCMP_ACT_ERRNO with
 * defaultErrnoRet 1) for a container whose bounding set is `caps`: the
 * capability-, architecture- and kernel-conditional rules are resolved here,
 * as dockerd does, so the result is plain runtime-spec linux.seccomp.
 * Architectures: the native one, plus its compat one (x86, arm, s390) only
 * for an image of that architecture (image_arch may be NULL). */
json_t *oci_seccomp_default(char *const *caps, const char *image_arch);
/* Docker's name for this machine ("amd64", "arm64", ...). */
const char *oci_native_arch(void);
