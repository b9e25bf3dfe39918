/* SPDX-License-Identifier: Apache-2.0 */
/* Named network namespaces, like `ip netns add`: DIR/NAME is a bind mount of
 * the net namespace of a short-lived child made with clone(CLONE_NEWNET), so
 * no agent thread ever changes namespace. The mount keeps the namespace alive
 * with no process in it until netns_remove(); it survives an agent crash. */
#pragma once

#include "basic/error.h"

/* Longest NAME accepted: [A-Za-z0-9][A-Za-z0-9_.-]*. */
#define NETNS_NAME_MAX 128

/* Create the directory `dir` (the namespace directory itself, e.g.
 * RUNTIME_DIR/netns) if needed and a new namespace at dir/name. A leftover
 * plain file of that name (a crash between create and mount) is reused; a
 * mounted namespace of that name is -EEXIST. Needs CAP_SYS_ADMIN. */
int netns_create(const char *dir, const char *name, char **ret_path, struct za_error **reterr);
/* umount2(MNT_DETACH) + unlink; a missing or unmounted file is fine. */
int netns_remove(const char *path);
/* 1 if path is a mounted network namespace, 0 if not (or missing), -errno. */
int netns_is_mounted(const char *path);
bool netns_name_valid(const char *name);
