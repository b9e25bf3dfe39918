/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's secret store: ROOT/secrets/ (0700), one file per secret named
 * after it (0600, replaced atomically and fsync'd), values opaque bytes of
 * at most SECRETS_VALUE_MAX. Thread-safe: API handlers and the service
 * manager share one store. Listing shows names, sizes and times, never
 * values. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"

#define SECRETS_DIR_NAME  "secrets"
#define SECRETS_VALUE_MAX (1024 * 1024) /* bytes of one value */
#define SECRETS_NAME_MAX  128           /* bytes of one name */
#define SECRETS_COUNT_MAX 10000         /* secrets listed at most */

struct secrets;

struct secret_info {
	char *name;
	uint64_t size;
	int64_t updated_ns; /* the file's mtime, ns since the epoch */
};

/* Open (creating) ROOT/secrets; removes temp files a crash left behind. */
int secrets_new(const char *root_dir, struct secrets **ret, struct za_error **reterr);
struct secrets *secrets_free(struct secrets *s);
static inline void secrets_freep(struct secrets **s) {
	*s = secrets_free(*s);
}

/* Names: [A-Za-z0-9][A-Za-z0-9_.-]*, at most SECRETS_NAME_MAX bytes, not
 * ending like a temp file (".tmp." and 6 letters or digits); invalid_spec
 * otherwise. NULL when name is acceptable, else why not (static text). */
const char *secrets_name_problem(const char *name);

/* Create or replace; data may hold any bytes (len 0 is a valid value). */
int secrets_set(struct secrets *s, const char *name, const void *data, size_t len, struct za_error **reterr);
/* *ret_data is NUL-terminated after ret_len bytes; not_found when unset. */
int secrets_get(struct secrets *s, const char *name, char **ret_data, size_t *ret_len, struct za_error **reterr);
/* Sorted by name. */
int secrets_list(struct secrets *s, struct secret_info **ret, size_t *ret_n, struct za_error **reterr);
/* not_found when unset. */
int secrets_remove(struct secrets *s, const char *name, struct za_error **reterr);

void secret_infos_free(struct secret_info *infos, size_t n);
