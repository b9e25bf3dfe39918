/* SPDX-License-Identifier: Apache-2.0 */
/* Opening, migrating and transactions of the metadata database.
 *
 * Durability: synchronous=FULL. In WAL mode NORMAL never corrupts the file
 * but may lose the last commits on power loss; the agent acts on disk right
 * after committing (deletes snapshot directories after removing the rows,
 * later starts containers recorded here), so a commit must be durable before
 * that happens. Commits are rare (one per pull, remove or container change),
 * so one fsync of the WAL per commit costs nothing that matters. */
#include "store/store.h"

#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "store/store-internal.h"
#include "basic/banned.h"

#define STORE_BUSY_TIMEOUT_MSEC 5000

/* Ordered; migration i takes the schema from version i to i + 1. Never edit
 * a released migration: append a new one. */
static const char *const migrations[] = {
	/* 1: images, their layers, tags and unpacked layer snapshots */
	"CREATE TABLE images ("
	"  digest TEXT PRIMARY KEY," /* platform manifest digest */
	"  index_digest TEXT,"       /* image index it was chosen from */
	"  config_digest TEXT NOT NULL,"
	"  media_type TEXT NOT NULL," /* of the manifest */
	"  os TEXT, arch TEXT, variant TEXT,"
	"  size INTEGER NOT NULL,"     /* manifest + config + layer blobs */
	"  created TEXT,"              /* from the image config, RFC 3339 */
	"  pulled_at INTEGER NOT NULL" /* unix seconds */
	") STRICT;"
	"CREATE TABLE image_layers ("
	"  image_digest TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  blob_digest TEXT NOT NULL,"
	"  diff_id TEXT NOT NULL,"
	"  chain_id TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  media_type TEXT NOT NULL,"
	"  PRIMARY KEY (image_digest, idx)"
	") STRICT;"
	"CREATE INDEX image_layers_chain_id ON image_layers(chain_id);"
	"CREATE INDEX image_layers_blob_digest ON image_layers(blob_digest);"
	"CREATE TABLE tags ("
	"  reference TEXT PRIMARY KEY," /* normalised: docker.io/library/busybox:1 */
	"  image_digest TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE"
	") STRICT;"
	"CREATE INDEX tags_image_digest ON tags(image_digest);"
	"CREATE TABLE snapshots ("
	"  chain_id TEXT PRIMARY KEY,"
	"  parent TEXT," /* chain id of the layer below, NULL for the base */
	"  diff_id TEXT NOT NULL,"
	"  size INTEGER NOT NULL," /* unpacked bytes, 0 when unknown */
	"  created_at INTEGER NOT NULL"
	") STRICT;",
	/* 2: deployments the service manager keeps alive */
	"CREATE TABLE deployments ("
	"  name TEXT PRIMARY KEY,"
	"  file TEXT NOT NULL,"          /* the name it was deployed from */
	"  yaml TEXT NOT NULL,"          /* the spec as written */
	"  created_at INTEGER NOT NULL," /* unix ns */
	"  updated_at INTEGER NOT NULL"
	") STRICT;",
	/* 3: executions of jobs and crons (the last few per job) */
	"CREATE TABLE job_executions ("
	"  id TEXT PRIMARY KEY," /* {job}-run-{n} */
	"  job TEXT NOT NULL,"
	"  deployment TEXT NOT NULL,"
	"  n INTEGER NOT NULL,"
	"  status TEXT NOT NULL,"
	"  trigger TEXT NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  exit_code INTEGER," /* NULL: none */
	"  reason TEXT,"
	"  created_at INTEGER NOT NULL," /* unix ns; 0: not yet */
	"  started_at INTEGER NOT NULL,"
	"  finished_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX job_executions_job ON job_executions(job, n);",
	/* 4: replica counts set with `scale`, kept over restarts: {"service": n} */
	"ALTER TABLE deployments ADD COLUMN scales TEXT NOT NULL DEFAULT '{}';",
	/* 5: a `down` under way (1), written before any replica stops: a restarted
	 * agent finishes the removal instead of bringing the deployment back */
	"ALTER TABLE deployments ADD COLUMN removing INTEGER NOT NULL DEFAULT 0;",
};

unsigned store_schema_version(void) {
	return ELEMENTSOF(migrations);
}

const char *store_path(const struct store *s) {
	return s->path;
}

static int sqlite_rc_to_errno(int rc) {
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EBUSY;
	case SQLITE_NOMEM:
		return ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return EACCES;
	case SQLITE_FULL:
		return ENOSPC;
	case SQLITE_CANTOPEN:
		return ENOENT;
	case SQLITE_CONSTRAINT:
		return EEXIST;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return EUCLEAN;
	case SQLITE_TOOBIG:
		return E2BIG;
	default:
		return EIO;
	}
}

int store_error(struct store *s, int rc, struct za_error **reterr, const char *op) {
	return za_error_make(reterr, ZA_ERROR_INTERNAL, sqlite_rc_to_errno(rc), "metadata database: %s: %s", op,
	                     s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret, struct za_error **reterr) {
	int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
	if (rc != SQLITE_OK)
		return store_error(s, rc, reterr, "prepare statement");
	return 0;
}

int store_bind_text(sqlite3_stmt *st, int idx, const char *s) {
	return s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
}

char *store_column_text(sqlite3_stmt *st, int col) {
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? xstrdup((const char *)t) : NULL;
}

int store_step_done(struct store *s, sqlite3_stmt *st, struct za_error **reterr, const char *op) {
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		return store_error(s, rc, reterr, op);
	return 0;
}

static int store_exec(struct store *s, const char *sql, struct za_error **reterr, const char *op) {
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_error(s, rc, reterr, op);
	return 0;
}

int store_begin(struct store *s, struct za_error **reterr) {
	char sql[64];
	int r;

	if (s->tx_depth == 0)
		r = store_exec(s, "BEGIN IMMEDIATE", reterr, "begin transaction");
	else {
		(void)snprintf(sql, sizeof(sql), "SAVEPOINT sp%u", s->tx_depth);
		r = store_exec(s, sql, reterr, "begin savepoint");
	}
	if (r < 0)
		return r;
	s->tx_depth++;
	return 0;
}

int store_commit(struct store *s, struct za_error **reterr) {
	char sql[64];
	int r;

	if (s->tx_depth == 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL,
		                     "metadata database: commit without transaction");
	if (s->tx_depth == 1)
		r = store_exec(s, "COMMIT", reterr, "commit transaction");
	else {
		(void)snprintf(sql, sizeof(sql), "RELEASE sp%u", s->tx_depth - 1);
		r = store_exec(s, sql, reterr, "release savepoint");
	}
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	s->tx_depth--;
	return 0;
}

void store_rollback(struct store *s) {
	char sql[96];

	if (s->tx_depth == 0)
		return;
	if (s->tx_depth == 1) {
		/* Fails only when SQLite already rolled back by itself (e.g. after
		 * SQLITE_FULL); either way no transaction is left open. */
		if (sqlite3_get_autocommit(s->db) == 0)
			(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	} else {
		(void)snprintf(sql, sizeof(sql), "ROLLBACK TO sp%u; RELEASE sp%u", s->tx_depth - 1, s->tx_depth - 1);
		(void)sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	}
	s->tx_depth--;
}

static int store_user_version(struct store *s, unsigned *ret, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = store_prepare(s, "PRAGMA user_version", &st, reterr);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return store_error(s, rc, reterr, "read schema version");
	*ret = (unsigned)sqlite3_column_int(st, 0);
	return 0;
}

static int store_migrate(struct store *s, struct za_error **reterr) {
	unsigned version;
	int r;

	r = store_user_version(s, &version, reterr);
	if (r < 0)
		return r;
	if (version > ELEMENTSOF(migrations))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EPROTONOSUPPORT,
		                     "metadata database '%s' has schema version %u, newer than the %zu this "
		                     "zlayer-agent supports; run a newer zlayer-agent or use another root directory",
		                     s->path, version, ELEMENTSOF(migrations));

	for (; version < ELEMENTSOF(migrations); version++) {
		char sql[64];

		log_debug("migrating metadata database '%s' to schema version %u", s->path, version + 1);
		r = store_begin(s, reterr);
		if (r < 0)
			return r;
		(void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %u", version + 1);
		/* Re-check inside the write lock: another process may have
		 * migrated between our read and BEGIN IMMEDIATE. */
		unsigned now;
		r = store_user_version(s, &now, reterr);
		if (r >= 0 && now != version) {
			store_rollback(s);
			return store_migrate(s, reterr);
		}
		if (r >= 0)
			r = store_exec(s, migrations[version], reterr, "migrate schema");
		if (r >= 0)
			r = store_exec(s, sql, reterr, "set schema version");
		if (r < 0) {
			store_rollback(s);
			return za_error_wrap(reterr, "migration to schema version %u", version + 1);
		}
		r = store_commit(s, reterr);
		if (r < 0)
			return r;
	}
	return 0;
}

static int store_pragma(struct store *s, const char *sql, const char *expect, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = store_prepare(s, sql, &st, reterr);
	if (r < 0)
		return r;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_error(s, rc, reterr, sql);
	if (expect && (rc != SQLITE_ROW || !sqlite3_column_text(st, 0) ||
	               strcasecmp((const char *)sqlite3_column_text(st, 0), expect) != 0))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EIO, "metadata database '%s': '%s' did not take effect",
		                     s->path, sql);
	return 0;
}

int store_open(const char *root_dir, struct store **ret, struct za_error **reterr) {
	_cleanup_(store_freep) struct store *s = NULL;
	int r, rc;

	s = xnew(struct store, 1);
	s->path = xasprintf("%s/metadata.db", root_dir);

	rc = sqlite3_open_v2(s->path, &s->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
	                     NULL);
	if (rc != SQLITE_OK) {
		r = za_error_make(reterr, ZA_ERROR_INTERNAL, sqlite_rc_to_errno(rc),
		                  "cannot open metadata database '%s': %s", s->path,
		                  s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		return r;
	}
	(void)chmod(s->path, 0600);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MSEC);
	(void)sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, 16 * 1024 * 1024);

	r = store_pragma(s, "PRAGMA journal_mode = WAL", "wal", reterr);
	if (r >= 0)
		r = store_pragma(s, "PRAGMA foreign_keys = ON", NULL, reterr);
	if (r >= 0)
		r = store_pragma(s, "PRAGMA synchronous = FULL", NULL, reterr);
	if (r >= 0)
		r = store_migrate(s, reterr);
	if (r < 0) {
		if (reterr && *reterr && !strstr((*reterr)->message, s->path))
			return za_error_wrap(reterr, "open '%s'", s->path);
		return r;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

struct store *store_free(struct store *s) {
	if (!s)
		return NULL;
	while (s->tx_depth > 0)
		store_rollback(s);
	if (s->db)
		(void)sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
	return NULL;
}
