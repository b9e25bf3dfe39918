/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the store-*.c files only: the handle's layout and helpers that
 * translate SQLite failures into za_errors at the module boundary. */
#pragma once

#include <sqlite3.h>
#include <stdint.h>

#include "basic/error.h"
#include "store/store.h"

struct store {
	sqlite3 *db;
	char *path;
	unsigned tx_depth; /* 0: no transaction; 1: BEGIN; >1: savepoints */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

/* za_error of kind internal: "<op>: <sqlite message>"; returns -errno
 * derived from the SQLite result code. */
int store_error(struct store *s, int rc, struct za_error **reterr, const char *op);
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret, struct za_error **reterr);
/* Bind a string, or NULL when s is NULL. */
int store_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Column as a malloc'd string, NULL for SQL NULL. */
char *store_column_text(sqlite3_stmt *st, int col);
/* Run a statement that returns no rows (or whose rows are ignored). */
int store_step_done(struct store *s, sqlite3_stmt *st, struct za_error **reterr, const char *op);
