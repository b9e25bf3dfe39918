/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's metadata database: one SQLite file `$root/metadata.db` in WAL
 * mode, schema versioned with PRAGMA user_version and an ordered list of
 * migrations. It owns the connection; tables are read and written by the
 * store-*.c files (images now, containers later). Used only from the
 * event-loop thread: the handle is not shared between threads. */
#pragma once

#include "basic/error.h"

struct store;

/* Highest schema version this agent knows. */
unsigned store_schema_version(void);

/* Open or create `root_dir/metadata.db` and migrate it to the current
 * schema. A database written by a newer agent (higher user_version) is
 * refused with kind configuration. */
int store_open(const char *root_dir, struct store **ret, struct za_error **reterr);
struct store *store_free(struct store *s);
static inline void store_freep(struct store **s) {
	*s = store_free(*s);
}

const char *store_path(const struct store *s);

/* Transactions nest: the outermost store_begin() opens a write transaction
 * (BEGIN IMMEDIATE), inner ones are savepoints. store_rollback() undoes the
 * innermost level; it never fails from the caller's point of view. */
int store_begin(struct store *s, struct za_error **reterr);
int store_commit(struct store *s, struct za_error **reterr);
void store_rollback(struct store *s);
