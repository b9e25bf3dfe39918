/* SPDX-License-Identifier: Apache-2.0 */
/* Crash injection for tests: crashpoint("deploy.stored") kills the process
 * with SIGKILL when ZLAYER_DEBUG_CRASH_AT names that point, so a test can
 * stop the daemon between any two steps of an operation and check what the
 * next start repairs. The variable is read once by crashpoint_setup() (the
 * daemon's main) and unset, so nothing the daemon spawns inherits it. Its
 * value: points separated by commas, each NAME (the first time it is
 * reached) or NAME@N (the Nth time). Unset, a point costs one test of a
 * cached pointer. The points are listed in docs/crash-points.md. */
#pragma once

#include "macro.h"

#define CRASHPOINT_ENV "ZLAYER_DEBUG_CRASH_AT"

struct crashpoint_set;
extern struct crashpoint_set *crashpoint_armed;

/* Read and unset $ZLAYER_DEBUG_CRASH_AT; -EINVAL or -E2BIG (nothing armed)
 * when its value does not parse or names too many points. Call once, before
 * any thread starts. */
int crashpoint_setup(void);
/* Arm the points of spec (the variable's syntax); NULL disarms. */
int crashpoint_arm(const char *spec);
/* Count a reach of name; kills the process when that reach is armed. */
void crashpoint_reached(const char *name);

static inline void crashpoint(const char *name) {
	if (_unlikely_(crashpoint_armed != NULL))
		crashpoint_reached(name);
}
