/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "service/secrets.h"

struct fixture {
	char root[64];
	char *dir;
	struct secrets *s;
};

static int setup(void **state) {
	struct fixture *f = xnew(struct fixture, 1);

	snprintf(f->root, sizeof(f->root), "/tmp/test-secrets-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->dir = xasprintf("%s/secrets", f->root);
	assert_int_equal(secrets_new(f->root, &f->s, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	struct fixture *f = *state;

	secrets_free(f->s);
	rm_rf(f->root);
	free(f->dir);
	free(f);
	return 0;
}

static void assert_value(struct secrets *s, const char *name, const void *want, size_t want_len) {
	_cleanup_free_ char *data = NULL;
	size_t len = 0;

	assert_int_equal(secrets_get(s, name, &data, &len, NULL), 0);
	assert_int_equal(len, want_len);
	assert_memory_equal(data, want, want_len);
	assert_int_equal(data[len], '\0');
}

static void test_set_get_list_remove(void **state) {
	struct fixture *f = *state;
	struct secret_info *infos = NULL;
	struct timespec ts;
	size_t n = 99;
	int64_t now;

	assert_int_equal(secrets_list(f->s, &infos, &n, NULL), 0);
	assert_int_equal(n, 0);
	secret_infos_free(infos, n);

	assert_int_equal(secrets_set(f->s, "db", "hunter2\n", 8, NULL), 0);
	assert_int_equal(secrets_set(f->s, "api-key.v2", "k", 1, NULL), 0);
	assert_int_equal(secrets_set(f->s, "empty", "", 0, NULL), 0);
	assert_value(f->s, "db", "hunter2\n", 8);
	assert_value(f->s, "api-key.v2", "k", 1);
	assert_value(f->s, "empty", "", 0);

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	assert_int_equal(secrets_list(f->s, &infos, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_string_equal(infos[0].name, "api-key.v2"); /* sorted */
	assert_int_equal(infos[0].size, 1);
	assert_string_equal(infos[1].name, "db");
	assert_int_equal(infos[1].size, 8);
	assert_string_equal(infos[2].name, "empty");
	assert_int_equal(infos[2].size, 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(infos[i].updated_ns <= now);
		assert_true(infos[i].updated_ns > now - 60 * (int64_t)1000000000);
	}
	secret_infos_free(infos, n);

	assert_int_equal(secrets_remove(f->s, "db", NULL), 0);
	assert_int_equal(secrets_list(f->s, &infos, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(infos[0].name, "api-key.v2");
	assert_string_equal(infos[1].name, "empty");
	secret_infos_free(infos, n);
}

static void test_missing(void **state) {
	struct fixture *f = *state;
	_cleanup_za_error_ struct za_error *e1 = NULL, *e2 = NULL;
	char *data = NULL;
	size_t len = 7;

	assert_int_equal(secrets_get(f->s, "nope", &data, &len, &e1), -ENOENT);
	assert_null(data);
	assert_int_equal(len, 7);
	assert_int_equal(e1->kind, ZA_ERROR_NOT_FOUND);
	assert_string_equal(e1->message, "no such secret 'nope'");

	assert_int_equal(secrets_remove(f->s, "nope", &e2), -ENOENT);
	assert_int_equal(e2->kind, ZA_ERROR_NOT_FOUND);
	assert_string_equal(e2->message, "no such secret 'nope'");
}

static void test_overwrite(void **state) {
	struct fixture *f = *state;
	struct secret_info *infos = NULL;
	size_t n = 0;

	assert_int_equal(secrets_set(f->s, "db", "a much longer first value", 25, NULL), 0);
	assert_int_equal(secrets_set(f->s, "db", "short", 5, NULL), 0);
	assert_value(f->s, "db", "short", 5);
	assert_int_equal(secrets_list(f->s, &infos, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(infos[0].size, 5);
	secret_infos_free(infos, n);
}

static void test_invalid_names(void **state) {
	static const char *const bad[] = {
		"", ".hidden", "a/b", "../x", "a b", "-x", "_x", "x\n", "db.tmp.AbC123", "é",
	};
	struct fixture *f = *state;
	char long_name[SECRETS_NAME_MAX + 2];

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_za_error_ struct za_error *e1 = NULL, *e2 = NULL, *e3 = NULL;
		char *data = NULL;
		size_t len;

		assert_int_equal(secrets_set(f->s, bad[i], "v", 1, &e1), -EINVAL);
		assert_int_equal(e1->kind, ZA_ERROR_INVALID_SPEC);
		assert_int_equal(secrets_get(f->s, bad[i], &data, &len, &e2), -EINVAL);
		assert_int_equal(e2->kind, ZA_ERROR_INVALID_SPEC);
		assert_int_equal(secrets_remove(f->s, bad[i], &e3), -EINVAL);
		assert_int_equal(e3->kind, ZA_ERROR_INVALID_SPEC);
	}

	{
		_cleanup_za_error_ struct za_error *e = NULL;
		assert_int_equal(secrets_set(f->s, "a/b", "v", 1, &e), -EINVAL);
		assert_string_equal(e->message,
		                    "invalid secret name 'a/b': a secret name must match [A-Za-z0-9][A-Za-z0-9_.-]*");
	}
	{
		_cleanup_za_error_ struct za_error *e = NULL;
		assert_int_equal(secrets_set(f->s, "db.tmp.AbC123", "v", 1, &e), -EINVAL);
		assert_string_equal(e->message, "invalid secret name 'db.tmp.AbC123': a secret name must not end like "
		                                "a temporary file ('.tmp.' and 6 letters or digits)");
	}

	/* the longest name works, one more byte does not */
	memset(long_name, 'n', sizeof(long_name));
	long_name[SECRETS_NAME_MAX] = '\0';
	assert_int_equal(secrets_set(f->s, long_name, "v", 1, NULL), 0);
	long_name[SECRETS_NAME_MAX] = 'n';
	long_name[SECRETS_NAME_MAX + 1] = '\0';
	{
		_cleanup_za_error_ struct za_error *e = NULL;
		assert_int_equal(secrets_set(f->s, long_name, "v", 1, &e), -EINVAL);
		assert_non_null(strstr(e->message, "at most 128 bytes"));
	}

	/* names close to the temp pattern are fine */
	assert_int_equal(secrets_set(f->s, "db.tmp.AbC12", "v", 1, NULL), 0);
	assert_int_equal(secrets_set(f->s, "db.tmp.AbC1234", "v", 1, NULL), 0);
	assert_int_equal(secrets_set(f->s, "db.tmp.AbC-12", "v", 1, NULL), 0);
	assert_null(secrets_name_problem("db.tmp.AbC12"));
	assert_non_null(secrets_name_problem("x.tmp.000000"));
}

static void test_cap(void **state) {
	struct fixture *f = *state;
	_cleanup_za_error_ struct za_error *e = NULL;
	_cleanup_free_ char *big = xmalloc(SECRETS_VALUE_MAX + 1);

	memset(big, 'x', SECRETS_VALUE_MAX + 1);
	assert_int_equal(secrets_set(f->s, "big", big, SECRETS_VALUE_MAX, NULL), 0);
	assert_value(f->s, "big", big, SECRETS_VALUE_MAX);

	assert_int_equal(secrets_set(f->s, "bigger", big, SECRETS_VALUE_MAX + 1, &e), -EFBIG);
	assert_int_equal(e->kind, ZA_ERROR_INVALID_SPEC);
	assert_string_equal(e->message,
	                    "secret 'bigger' is 1048577 bytes, more than the limit of 1048576 bytes (1 MiB)");
	{
		_cleanup_free_ char *path = xasprintf("%s/bigger", f->dir);
		assert_int_equal(access(path, F_OK), -1);
	}
}

static void test_binary(void **state) {
	struct fixture *f = *state;
	unsigned char all[512];

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(i * 7);
	all[0] = 0;
	all[sizeof(all) - 1] = 0;
	assert_int_equal(secrets_set(f->s, "blob", all, sizeof(all), NULL), 0);
	assert_value(f->s, "blob", all, sizeof(all));
}

static void test_modes(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *file = xasprintf("%s/db", f->dir);
	struct stat st;
	mode_t old = umask(0);

	assert_int_equal(secrets_set(f->s, "db", "v", 1, NULL), 0);
	umask(old);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(file, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	/* a directory made too open is closed again on open */
	secrets_free(f->s);
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(secrets_new(f->root, &f->s, NULL), 0);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_value(f->s, "db", "v", 1);
}

static void test_leftovers_and_strangers(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *tmp = xasprintf("%s/db.tmp.AbC123", f->dir), *sub = xasprintf("%s/adir", f->dir);
	_cleanup_free_ char *link = xasprintf("%s/alink", f->dir), *dotfile = xasprintf("%s/.x", f->dir);
	_cleanup_za_error_ struct za_error *e = NULL;
	struct secret_info *infos = NULL;
	char *data = NULL;
	size_t n = 0, len;

	assert_int_equal(write_file_atomic(tmp, "partial", 7, 0600), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	assert_int_equal(write_file_atomic(dotfile, "x", 1, 0600), 0);
	assert_int_equal(secrets_set(f->s, "real", "v", 1, NULL), 0);

	/* a crash's temp file goes when the store opens */
	secrets_free(f->s);
	assert_int_equal(secrets_new(f->root, &f->s, NULL), 0);
	assert_int_equal(access(tmp, F_OK), -1);

	assert_int_equal(secrets_list(f->s, &infos, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(infos[0].name, "real");
	secret_infos_free(infos, n);

	/* symlinks are never followed */
	assert_true(secrets_get(f->s, "alink", &data, &len, &e) < 0);
	assert_null(data);
}

#define N_THREADS 8
#define N_ROUNDS  40

struct worker {
	struct secrets *s;
	int id;
	int failures;
};

static void *worker_run(void *arg) {
	struct worker *w = arg;

	for (int i = 0; i < N_ROUNDS; i++) {
		char name[32], value[64];
		int n;

		snprintf(name, sizeof(name), "t%d-%d", w->id, i);
		n = snprintf(value, sizeof(value), "value of %d in round %d", w->id, i);
		if (secrets_set(w->s, name, value, (size_t)n, NULL) < 0)
			w->failures++;
		/* everyone fights over one name: each value is whole */
		if (secrets_set(w->s, "shared", value, (size_t)n, NULL) < 0)
			w->failures++;
	}
	return NULL;
}

static void test_concurrent(void **state) {
	struct fixture *f = *state;
	struct worker w[N_THREADS];
	pthread_t t[N_THREADS];
	struct secret_info *infos = NULL;
	_cleanup_free_ char *data = NULL;
	size_t n = 0, len = 0;
	int id, round;

	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){ .s = f->s, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(secrets_list(f->s, &infos, &n, NULL), 0);
	assert_int_equal(n, N_THREADS * N_ROUNDS + 1);
	secret_infos_free(infos, n);
	assert_value(f->s, "t3-17", "value of 3 in round 17", 22);
	assert_int_equal(secrets_get(f->s, "shared", &data, &len, NULL), 0);
	assert_int_equal(sscanf(data, "value of %d in round %d", &id, &round), 2);
	assert_int_equal(round, N_ROUNDS - 1);
}

static void test_new_fails_clearly(void **state) {
	_cleanup_za_error_ struct za_error *e = NULL;
	struct secrets *s = NULL;
	char root[] = "/tmp/test-secrets-XXXXXX";
	_cleanup_free_ char *file = NULL;

	assert_non_null(mkdtemp(root));
	file = xasprintf("%s/secrets", root);
	assert_int_equal(write_file_atomic(file, "x", 1, 0600), 0); /* a file where the directory goes */
	assert_true(secrets_new(root, &s, &e) < 0);
	assert_null(s);
	assert_int_equal(e->kind, ZA_ERROR_CONFIGURATION);
	assert_non_null(strstr(e->message, "secret directory"));
	rm_rf(root);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_get_list_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftovers_and_strangers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test(test_new_fails_clearly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
