/* SPDX-License-Identifier: Apache-2.0 */
/* Rows of the deployments table. */
#include "store/store-deployments.h"

#include "basic/alloc.h"
#include "store/store-internal.h"
#include "basic/banned.h"

void store_deployment_release(struct store_deployment *d) {
	if (!d)
		return;
	free(d->name);
	free(d->file);
	free(d->yaml);
	free(d->scales);
	*d = (struct store_deployment){ 0 };
}

void store_deployments_free(struct store_deployment *d, size_t n) {
	for (size_t i = 0; d && i < n; i++)
		store_deployment_release(&d[i]);
	free(d);
}

int store_deployment_put(struct store *s, const struct store_deployment *d, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = store_prepare(s,
	                  "INSERT INTO deployments (name, file, yaml, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
	                  "ON CONFLICT(name) DO UPDATE SET file = excluded.file, yaml = excluded.yaml, "
	                  "updated_at = excluded.updated_at, scales = '{}', removing = 0",
	                  &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, d->name);
	(void)store_bind_text(st, 2, d->file);
	(void)store_bind_text(st, 3, d->yaml);
	(void)sqlite3_bind_int64(st, 4, d->created_ns);
	(void)sqlite3_bind_int64(st, 5, d->updated_ns);
	return store_step_done(s, st, reterr, "save deployment");
}

int store_deployment_list(struct store *s, struct store_deployment **ret, size_t *ret_n, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_deployment *ds = NULL;
	size_t n = 0, alloc = 0;
	int r, rc;

	r = store_prepare(s,
	                  "SELECT name, file, yaml, created_at, updated_at, scales, removing FROM deployments "
	                  "ORDER BY name",
	                  &st, reterr);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		GROW(ds, alloc, n + 1);
		ds[n++] = (struct store_deployment){
			.name = store_column_text(st, 0),
			.file = store_column_text(st, 1),
			.yaml = store_column_text(st, 2),
			.created_ns = sqlite3_column_int64(st, 3),
			.updated_ns = sqlite3_column_int64(st, 4),
			.scales = store_column_text(st, 5),
			.removing = sqlite3_column_int(st, 6) != 0,
		};
	}
	if (rc != SQLITE_DONE) {
		store_deployments_free(ds, n);
		return store_error(s, rc, reterr, "read deployments");
	}
	*ret = ds;
	*ret_n = n;
	return 0;
}

int store_deployment_remove(struct store *s, const char *name, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = store_prepare(s, "DELETE FROM deployments WHERE name = ?", &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, name);
	return store_step_done(s, st, reterr, "remove deployment");
}

int store_deployment_set_removing(struct store *s, const char *name, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = store_prepare(s, "UPDATE deployments SET removing = 1 WHERE name = ?", &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, name);
	return store_step_done(s, st, reterr, "mark the deployment as being removed");
}

int store_deployment_set_scale(struct store *s, const char *name, const char *service, uint32_t replicas,
                               struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *path = NULL;
	int r;

	r = store_prepare(s, "UPDATE deployments SET scales = json_set(scales, ?, ?) WHERE name = ?", &st, reterr);
	if (r < 0)
		return r;
	path = xasprintf("$.\"%s\"", service);
	(void)store_bind_text(st, 1, path);
	(void)sqlite3_bind_int64(st, 2, replicas);
	(void)store_bind_text(st, 3, name);
	return store_step_done(s, st, reterr, "save the replica count");
}
