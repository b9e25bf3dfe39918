/* SPDX-License-Identifier: Apache-2.0 */
/* Container root filesystems: an overlayfs mount of an image's layer
 * snapshots (read-only lowers) under a private upper/work directory pair,
 * and its unmount. Owns nothing but the mount it makes. */
#pragma once

#include "basic/error.h"

/* Mount overlayfs at `target` (an existing directory). `lowers`: NULL-
 * terminated absolute paths, topmost first. `upper` and `work`: both or
 * neither (read-only mount); created if missing, must be on one filesystem.
 * A single lower without upper (which overlayfs refuses) is a read-only bind.
 * Uses the new mount API with one "lowerdir+" per layer (Linux 6.8+), so the
 * layer count is not bounded by a page of options; falls back to mount(2)
 * and fails clearly if its option string would exceed a page. */
int overlay_mount(char *const *lowers, const char *upper, const char *work, const char *target,
                  struct za_error **reterr);
/* Unmount `target`, retrying while busy, detaching lazily as a last resort.
 * A target that is not mounted (or does not exist) is success. */
int overlay_umount(const char *target, struct za_error **reterr);
