/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "store/store-deployments.h"
#include "store/store-images.h"
#include "store/store-jobs.h"
#include "store/store.h"

#define D(c)                                                                                                          \
	"sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
	        c c c c c c c c c c c c c c

struct fixture {
	char dir[64];
	struct store *s;
};

static int setup(void **state) {
	struct fixture *f = xnew(struct fixture, 1);

	memcpy(f->dir, "/tmp/test-store-XXXXXX", sizeof("/tmp/test-store-XXXXXX"));
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open(f->dir, &f->s, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *db = xasprintf("%s/metadata.db", f->dir);
	_cleanup_free_ char *wal = xasprintf("%s-wal", db), *shm = xasprintf("%s-shm", db);

	store_free(f->s);
	(void)unlink(db);
	(void)unlink(wal);
	(void)unlink(shm);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

/* An image with n layers whose digests derive from `seed`; layer i's chain
 * id is shared with other images built from the same seed prefix. */
static void make_image(struct store_image *img, const char *digest, const char *const *chains, size_t n,
                       const char *ref) {
	*img = (struct store_image){
		.digest = xstrdup(digest),
		.config_digest = xasprintf("%s-config", digest),
		.media_type = xstrdup("application/vnd.oci.image.manifest.v1+json"),
		.os = xstrdup("linux"),
		.arch = xstrdup("amd64"),
		.created = xstrdup("2024-01-02T03:04:05Z"),
		.size = 1234,
		.pulled_at = 1700000000,
	};
	img->layers = xnew(struct store_layer, n);
	img->n_layers = n;
	for (size_t i = 0; i < n; i++)
		img->layers[i] = (struct store_layer){
			.blob_digest = xasprintf("blob-%s", chains[i]),
			.diff_id = xasprintf("diff-%s", chains[i]),
			.chain_id = xstrdup(chains[i]),
			.media_type = xstrdup("application/vnd.oci.image.layer.v1.tar+gzip"),
			.size = 100 + i,
			.unpacked_size = 1000 + i,
		};
	if (ref)
		strv_push(&img->references, ref);
}

static void test_schema_version(void **state) {
	struct fixture *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st;
	_cleanup_free_ char *path = xasprintf("%s/metadata.db", f->dir);
	struct stat stbuf;

	assert_int_equal(store_schema_version(), 5);
	assert_string_equal(store_path(f->s), path);
	assert_int_equal(stat(path, &stbuf), 0);
	assert_int_equal(stbuf.st_mode & 0777, 0600);

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 5);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_deployments(void **state) {
	struct fixture *f = *state;
	struct store_deployment a = {
		.name = "shop", .file = "shop.yaml", .yaml = "v: 1", .created_ns = 1, .updated_ns = 1
	};
	struct store_deployment b = {
		.name = "blog", .file = "b.yaml", .yaml = "v: 2", .created_ns = 5, .updated_ns = 5
	};
	struct store_deployment *ds = NULL;
	size_t n = 0;

	assert_int_equal(store_deployment_put(f->s, &a, NULL), 0);
	assert_int_equal(store_deployment_put(f->s, &b, NULL), 0);
	a.yaml = "v: 3";
	a.created_ns = 9;
	a.updated_ns = 9;
	assert_int_equal(store_deployment_put(f->s, &a, NULL), 0);
	assert_int_equal(store_deployment_list(f->s, &ds, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ds[0].name, "blog");
	assert_string_equal(ds[1].name, "shop");
	assert_string_equal(ds[1].yaml, "v: 3");
	assert_int_equal(ds[1].created_ns, 1); /* kept on replace */
	assert_int_equal(ds[1].updated_ns, 9);
	store_deployments_free(ds, n);
	assert_int_equal(store_deployment_set_scale(f->s, "shop", "web", 4, NULL), 0);
	assert_int_equal(store_deployment_set_scale(f->s, "shop", "db", 2, NULL), 0);
	assert_int_equal(store_deployment_set_scale(f->s, "shop", "web", 5, NULL), 0);
	assert_int_equal(store_deployment_list(f->s, &ds, &n, NULL), 0);
	assert_string_equal(ds[1].scales, "{\"web\":5,\"db\":2}");
	store_deployments_free(ds, n);
	/* a new deploy of the spec starts from its own counts again */
	assert_int_equal(store_deployment_put(f->s, &a, NULL), 0);
	assert_int_equal(store_deployment_list(f->s, &ds, &n, NULL), 0);
	assert_string_equal(ds[1].scales, "{}");
	assert_false(ds[1].removing);
	store_deployments_free(ds, n);
	/* a down under way is kept; a new deploy of the spec clears it */
	assert_int_equal(store_deployment_set_removing(f->s, "shop", NULL), 0);
	assert_int_equal(store_deployment_list(f->s, &ds, &n, NULL), 0);
	assert_true(ds[1].removing);
	assert_false(ds[0].removing);
	store_deployments_free(ds, n);
	assert_int_equal(store_deployment_put(f->s, &a, NULL), 0);
	assert_int_equal(store_deployment_list(f->s, &ds, &n, NULL), 0);
	assert_false(ds[1].removing);
	store_deployments_free(ds, n);
	assert_int_equal(store_deployment_remove(f->s, "shop", NULL), 0);
	assert_int_equal(store_deployment_remove(f->s, "shop", NULL), 0);
	assert_int_equal(store_deployment_list(f->s, &ds, &n, NULL), 0);
	assert_int_equal(n, 1);
	store_deployments_free(ds, n);
}

static void test_job_executions(void **state) {
	struct fixture *f = *state;
	struct store_job_execution a = { .id = "backup-run-1",
		                         .job = "backup",
		                         .deployment = "ops",
		                         .n = 1,
		                         .status = "completed",
		                         .trigger = "schedule",
		                         .attempts = 1,
		                         .has_exit = true,
		                         .exit_code = 0,
		                         .created_ns = 10,
		                         .started_ns = 11,
		                         .finished_ns = 12 };
	struct store_job_execution b = { .id = "backup-run-2",
		                         .job = "backup",
		                         .deployment = "ops",
		                         .n = 2,
		                         .status = "running",
		                         .trigger = "manual",
		                         .attempts = 2,
		                         .created_ns = 20 };
	struct store_job_execution c = { .id = "report-run-1",
		                         .job = "report",
		                         .deployment = "ops",
		                         .n = 1,
		                         .status = "failed",
		                         .trigger = "manual",
		                         .attempts = 3,
		                         .has_exit = true,
		                         .exit_code = 3,
		                         .reason = "exited with 3",
		                         .created_ns = 30 };
	struct store_job_execution *es = NULL;
	size_t n = 0;

	assert_int_equal(store_job_execution_put(f->s, &c, NULL), 0);
	assert_int_equal(store_job_execution_put(f->s, &b, NULL), 0);
	assert_int_equal(store_job_execution_put(f->s, &a, NULL), 0);
	b.status = "completed"; /* replaced by id */
	b.has_exit = true;
	b.exit_code = 0;
	assert_int_equal(store_job_execution_put(f->s, &b, NULL), 0);
	assert_int_equal(store_job_execution_list(f->s, &es, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_string_equal(es[0].id, "backup-run-1");
	assert_true(es[0].has_exit);
	assert_int_equal(es[0].finished_ns, 12);
	assert_null(es[0].reason);
	assert_string_equal(es[1].id, "backup-run-2");
	assert_string_equal(es[1].status, "completed");
	assert_int_equal(es[1].attempts, 2);
	assert_string_equal(es[2].id, "report-run-1");
	assert_string_equal(es[2].reason, "exited with 3");
	assert_int_equal(es[2].exit_code, 3);
	store_job_executions_free(es, n);

	assert_int_equal(store_job_execution_remove(f->s, "backup-run-1", NULL), 0);
	assert_int_equal(store_job_execution_remove(f->s, "backup-run-1", NULL), 0);
	assert_int_equal(store_job_executions_remove_job(f->s, "report", NULL), 0);
	assert_int_equal(store_job_execution_list(f->s, &es, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(es[0].id, "backup-run-2");
	assert_false(es[0].has_exit && es[0].exit_code != 0);
	store_job_executions_free(es, n);
}

static void test_put_get_list_remove(void **state) {
	struct fixture *f = *state;
	static const char *const chains_a[] = { "chain-1", "chain-2" };
	static const char *const chains_b[] = { "chain-1", "chain-3", "chain-4" };
	struct store_image a, b, got, *list;
	_cleanup_za_error_ struct za_error *err = NULL;
	size_t n;

	make_image(&a, D("a"), chains_a, 2, "docker.io/library/a:1");
	a.index_digest = xstrdup(D("9"));
	make_image(&b, D("b"), chains_b, 3, "docker.io/library/b:1");
	b.pulled_at = a.pulled_at + 10;
	assert_int_equal(store_image_put(f->s, &a, NULL), 0);
	assert_int_equal(store_image_put(f->s, &b, NULL), 0);

	assert_int_equal(store_image_get(f->s, D("a"), &got, NULL), 0);
	assert_string_equal(got.digest, D("a"));
	assert_string_equal(got.index_digest, D("9"));
	assert_string_equal(got.config_digest, D("a") "-config");
	assert_string_equal(got.os, "linux");
	assert_null(got.variant);
	assert_int_equal(got.size, 1234);
	assert_int_equal(got.pulled_at, 1700000000);
	assert_int_equal(got.n_layers, 2);
	assert_string_equal(got.layers[0].chain_id, "chain-1");
	assert_string_equal(got.layers[1].blob_digest, "blob-chain-2");
	assert_int_equal(got.layers[1].size, 101);
	assert_int_equal(got.layers[1].unpacked_size, 1001);
	assert_int_equal(strv_length(got.references), 1);
	assert_string_equal(got.references[0], "docker.io/library/a:1");
	store_image_release(&got);

	/* newest first */
	assert_int_equal(store_image_list(f->s, &list, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].digest, D("b"));
	assert_int_equal(list[0].n_layers, 3);
	assert_string_equal(list[1].digest, D("a"));
	store_images_free(list, n);

	/* replace: same digest, one layer, the old tag is kept, a new one added */
	store_image_release(&a);
	make_image(&a, D("a"), chains_a, 1, "docker.io/library/a:2");
	assert_int_equal(store_image_put(f->s, &a, NULL), 0);
	assert_int_equal(store_image_get(f->s, D("a"), &got, NULL), 0);
	assert_int_equal(got.n_layers, 1);
	assert_null(got.index_digest);
	assert_int_equal(strv_length(got.references), 2);
	assert_string_equal(got.references[0], "docker.io/library/a:1");
	assert_string_equal(got.references[1], "docker.io/library/a:2");
	store_image_release(&got);

	assert_int_equal(store_image_remove(f->s, D("a"), NULL), 0);
	assert_int_equal(store_image_get(f->s, D("a"), &got, &err), -ENOENT);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	assert_string_equal(err->message, "image '" D("a") "' not found");
	err = za_error_free(err);
	assert_int_equal(store_image_remove(f->s, D("a"), &err), -ENOENT);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);

	store_image_release(&a);
	store_image_release(&b);
}

static void test_tags_and_cascade(void **state) {
	struct fixture *f = *state;
	static const char *const chains[] = { "c1" };
	struct store_image a, b;
	_cleanup_za_error_ struct za_error *err = NULL;
	char *digest = NULL;

	make_image(&a, D("a"), chains, 1, "r/a:1");
	make_image(&b, D("b"), chains, 1, NULL);
	assert_int_equal(store_image_put(f->s, &a, NULL), 0);
	assert_int_equal(store_image_put(f->s, &b, NULL), 0);

	assert_int_equal(store_tag_resolve(f->s, "r/a:1", &digest, NULL), 0);
	assert_string_equal(digest, D("a"));
	free(digest);

	/* a tag moves */
	assert_int_equal(store_tag_set(f->s, "r/a:1", D("b"), NULL), 0);
	assert_int_equal(store_tag_resolve(f->s, "r/a:1", &digest, NULL), 0);
	assert_string_equal(digest, D("b"));
	free(digest);
	assert_int_equal(store_tag_set(f->s, "r/extra:1", D("b"), NULL), 0);

	/* tagging a missing image */
	assert_int_equal(store_tag_set(f->s, "r/x:1", D("c"), &err), -ENOENT);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	err = za_error_free(err);

	assert_int_equal(store_tag_remove(f->s, "r/extra:1", NULL), 0);
	assert_int_equal(store_tag_remove(f->s, "r/extra:1", &err), -ENOENT);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	err = za_error_free(err);

	/* removing the image removes its tags */
	assert_int_equal(store_image_remove(f->s, D("b"), NULL), 0);
	assert_int_equal(store_tag_resolve(f->s, "r/a:1", &digest, &err), -ENOENT);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	assert_string_equal(err->message, "image 'r/a:1' not found");

	store_image_release(&a);
	store_image_release(&b);
}

static void test_snapshots_and_blobs(void **state) {
	struct fixture *f = *state;
	static const char *const chains_a[] = { "s1", "s2" };
	static const char *const chains_b[] = { "s1", "s3" };
	struct store_image a, b;
	char **l = NULL;

	make_image(&a, D("a"), chains_a, 2, NULL);
	a.index_digest = xstrdup(D("9"));
	make_image(&b, D("b"), chains_b, 2, NULL);
	assert_int_equal(store_image_put(f->s, &a, NULL), 0);
	assert_int_equal(store_image_put(f->s, &b, NULL), 0);

	assert_int_equal(store_snapshots_unreferenced(f->s, &l, NULL), 0);
	assert_int_equal(strv_length(l), 0);
	l = strv_free(l);

	assert_int_equal(store_blobs_referenced(f->s, &l, NULL), 0);
	assert_int_equal(strv_length(l), 8);
	assert_string_equal(l[0], "blob-s1"); /* shared layer listed once */
	assert_string_equal(l[1], "blob-s2");
	assert_string_equal(l[2], "blob-s3");
	assert_string_equal(l[3], D("9"));
	assert_string_equal(l[4], D("a"));
	assert_string_equal(l[5], D("a") "-config");
	assert_string_equal(l[6], D("b"));
	assert_string_equal(l[7], D("b") "-config");
	l = strv_free(l);

	assert_int_equal(store_image_remove(f->s, D("a"), NULL), 0);
	assert_int_equal(store_snapshots_unreferenced(f->s, &l, NULL), 0);
	assert_int_equal(strv_length(l), 1);
	assert_string_equal(l[0], "s2"); /* s1 is still used by b */
	l = strv_free(l);

	assert_int_equal(store_image_remove(f->s, D("b"), NULL), 0);
	assert_int_equal(store_snapshots_unreferenced(f->s, &l, NULL), 0);
	assert_int_equal(strv_length(l), 3);
	l = strv_free(l);

	assert_int_equal(store_snapshot_remove(f->s, "s2", NULL), 0);
	assert_int_equal(store_snapshot_remove(f->s, "s2", NULL), -ENOENT);
	assert_int_equal(store_snapshots_unreferenced(f->s, &l, NULL), 0);
	assert_int_equal(strv_length(l), 2);
	assert_string_equal(l[0], "s1");
	assert_string_equal(l[1], "s3");
	l = strv_free(l);

	assert_int_equal(store_blobs_referenced(f->s, &l, NULL), 0);
	assert_int_equal(strv_length(l), 0);
	l = strv_free(l);

	store_image_release(&a);
	store_image_release(&b);
}

static void test_transactions(void **state) {
	struct fixture *f = *state;
	static const char *const chains[] = { "t1" };
	struct store_image a, b, got;
	_cleanup_za_error_ struct za_error *err = NULL;

	make_image(&a, D("a"), chains, 1, "r/a:1");
	make_image(&b, D("b"), chains, 1, NULL);

	/* an outer rollback undoes an inner put (nested savepoint) */
	assert_int_equal(store_begin(f->s, NULL), 0);
	assert_int_equal(store_image_put(f->s, &a, NULL), 0);
	assert_int_equal(store_image_get(f->s, D("a"), &got, NULL), 0);
	store_image_release(&got);
	store_rollback(f->s);
	assert_int_equal(store_image_get(f->s, D("a"), &got, NULL), -ENOENT);

	/* a failing put leaves nothing behind: a layer without chain id */
	free(b.layers[0].chain_id);
	b.layers[0].chain_id = NULL;
	assert_true(store_image_put(f->s, &b, &err) < 0);
	assert_int_equal(err->kind, ZA_ERROR_INTERNAL);
	assert_non_null(strstr(err->message, "without layer chain id"));
	assert_int_equal(store_image_get(f->s, D("b"), &got, NULL), -ENOENT);

	assert_int_equal(store_begin(f->s, NULL), 0);
	assert_int_equal(store_image_put(f->s, &a, NULL), 0);
	assert_int_equal(store_commit(f->s, NULL), 0);
	assert_int_equal(store_image_get(f->s, D("a"), &got, NULL), 0);
	store_image_release(&got);

	store_image_release(&a);
	store_image_release(&b);
}

static void test_reopen_keeps_data(void **state) {
	struct fixture *f = *state;
	static const char *const chains[] = { "k1" };
	struct store_image a, got;

	make_image(&a, D("a"), chains, 1, "r/a:1");
	assert_int_equal(store_image_put(f->s, &a, NULL), 0);
	f->s = store_free(f->s);
	assert_int_equal(store_open(f->dir, &f->s, NULL), 0);
	assert_int_equal(store_image_get(f->s, D("a"), &got, NULL), 0);
	assert_string_equal(got.references[0], "r/a:1");
	store_image_release(&got);
	store_image_release(&a);
}

static void test_refuses_newer_schema(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *path = xasprintf("%s/metadata.db", f->dir);
	_cleanup_za_error_ struct za_error *err = NULL;
	struct store *s = NULL;
	sqlite3 *db;

	f->s = store_free(f->s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_true(store_open(f->dir, &s, &err) < 0);
	assert_null(s);
	assert_int_equal(err->kind, ZA_ERROR_CONFIGURATION);
	assert_non_null(strstr(err->message, "schema version 99, newer than the 5 this zlayer-agent supports"));
	assert_non_null(strstr(err->message, path));
}

static void test_open_fails_cleanly(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct store *s = NULL;

	assert_true(store_open("/nonexistent/dir/for/test-store", &s, &err) < 0);
	assert_null(s);
	assert_int_equal(err->kind, ZA_ERROR_INTERNAL);
	assert_non_null(
	        strstr(err->message, "cannot open metadata database '/nonexistent/dir/for/test-store/metadata.db'"));
}

static void test_not_a_database(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *path = xasprintf("%s/metadata.db", f->dir);
	_cleanup_za_error_ struct za_error *err = NULL;
	struct store *s = NULL;
	char junk[4096];

	f->s = store_free(f->s);
	memset(junk, 'x', sizeof(junk));
	(void)unlink(path);
	assert_int_equal(write_file_atomic(path, junk, sizeof(junk), 0600), 0);
	assert_true(store_open(f->dir, &s, &err) < 0);
	assert_null(s);
	assert_non_null(strstr(err->message, path));
	assert_non_null(strstr(err->message, "not a database"));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deployments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_executions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_get_list_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags_and_cascade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshots_and_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
		cmocka_unit_test(test_open_fails_cleanly),
		cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
