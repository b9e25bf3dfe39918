/* SPDX-License-Identifier: Apache-2.0 */
/* The content store: verified writes, resumable downloads, corruption
 * detected on read, nothing visible before verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "image/content.h"
#include "image/digest.h"

struct fixture {
	char dir[64];
	struct content_store *cs;
};

static int setup(void **state) {
	struct fixture *f = xnew(struct fixture, 1);

	snprintf(f->dir, sizeof(f->dir), "/tmp/za-test-content-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(content_store_open(f->dir, &f->cs, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	struct fixture *f = *state;

	content_store_free(f->cs);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static size_t count_files(const char *dir) {
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_write_read(void **state) {
	struct fixture *f = *state;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *digest = NULL, *buf = NULL, *path = NULL, *bad = NULL;
	_cleanup_strv_free_ char **list = NULL;
	uint64_t size;
	size_t len;

	assert_int_equal(content_write(f->cs, "hello", 5, NULL, &digest, NULL), 0);
	assert_true(content_has(f->cs, digest, &size));
	assert_int_equal(size, 5);
	assert_int_equal(content_read(f->cs, digest, 100, &buf, &len, NULL), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	/* wrong expected digest: refused, nothing stored */
	bad = digest_sha256_buf("other", 5);
	assert_int_equal(content_write(f->cs, "hello!", 6, bad, NULL, &err), -EBADMSG);
	assert_false(content_has(f->cs, bad, NULL));
	assert_non_null(strstr(err->message, "digest mismatch"));
	err = za_error_free(err);
	/* corruption on disk is detected on read */
	path = content_path(f->cs, digest);
	assert_int_equal(write_file_atomic(path, "jello", 5, 0600), 0);
	free(buf);
	buf = NULL;
	assert_int_equal(content_read(f->cs, digest, 100, &buf, &len, &err), -EBADMSG);
	assert_non_null(strstr(err->message, "is corrupt"));
	assert_int_equal(content_list(f->cs, &list, NULL), 0);
	assert_int_equal(strv_length(list), 1);
	assert_string_equal(list[0], digest);
	assert_int_equal(content_remove(f->cs, digest), 0);
	assert_false(content_has(f->cs, digest, NULL));
}

static void test_writer_resume(void **state) {
	struct fixture *f = *state;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *data = xmalloc(100000), *digest = NULL, *ingest = NULL;
	struct content_writer *w = NULL;
	char buf[16];
	ssize_t n;

	for (size_t i = 0; i < 100000; i++)
		data[i] = (char)(i * 7 + 3);
	digest = digest_sha256_buf(data, 100000);
	ingest = xasprintf("%s/content/ingest", f->dir);

	assert_int_equal(content_writer_open(f->cs, digest, 100000, &w, NULL), 0);
	assert_int_equal(content_writer_offset(w), 0);
	assert_int_equal(content_writer_write(w, data, 40000, NULL), 0);
	/* interrupted: keep the partial */
	content_writer_abort(w, false);
	assert_false(content_has(f->cs, digest, NULL));
	assert_int_equal(count_files(ingest), 1);

	assert_int_equal(content_writer_open(f->cs, digest, 100000, &w, NULL), 0);
	assert_int_equal(content_writer_offset(w), 40000);
	{
		_cleanup_close_ int pfd = content_writer_partial_fd(w);
		assert_true(pfd >= 0);
		n = read(pfd, buf, sizeof(buf));
		assert_int_equal(n, sizeof(buf));
		assert_memory_equal(buf, data, sizeof(buf));
	}
	/* more than the declared size is refused */
	assert_int_equal(content_writer_write(w, data + 40000, 60001, &err), -EFBIG);
	err = za_error_free(err);
	assert_int_equal(content_writer_write(w, data + 40000, 60000, NULL), 0);
	assert_int_equal(content_writer_commit(w, NULL), 0);
	assert_true(content_has(f->cs, digest, NULL));
	assert_int_equal(count_files(ingest), 0);
}

static void test_writer_mismatch_and_short(void **state) {
	struct fixture *f = *state;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *digest = digest_sha256_buf("abcdef", 6), *ingest = NULL;
	struct content_writer *w = NULL;

	ingest = xasprintf("%s/content/ingest", f->dir);
	/* short */
	assert_int_equal(content_writer_open(f->cs, digest, 6, &w, NULL), 0);
	assert_int_equal(content_writer_write(w, "abc", 3, NULL), 0);
	assert_int_equal(content_writer_commit(w, &err), -EPIPE);
	assert_non_null(strstr(err->message, "ended after 3 of 6 bytes"));
	err = za_error_free(err);
	assert_false(content_has(f->cs, digest, NULL));
	/* corrupt: same length, other bytes -> mismatch, partial discarded */
	assert_int_equal(content_writer_open(f->cs, digest, 6, &w, NULL), 0);
	assert_int_equal(content_writer_offset(w), 3);
	assert_int_equal(content_writer_write(w, "xyz", 3, NULL), 0);
	assert_int_equal(content_writer_commit(w, &err), -EBADMSG);
	assert_non_null(strstr(err->message, "digest mismatch for blob"));
	assert_false(content_has(f->cs, digest, NULL));
	assert_int_equal(count_files(ingest), 0);
}

static void test_writer_exclusive(void **state) {
	struct fixture *f = *state;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *digest = digest_sha256_buf("q", 1);
	struct content_writer *w1 = NULL, *w2 = NULL;

	assert_int_equal(content_writer_open(f->cs, digest, 1, &w1, NULL), 0);
	assert_int_equal(content_writer_open(f->cs, digest, 1, &w2, &err), -EWOULDBLOCK);
	assert_non_null(strstr(err->message, "another writer"));
	content_writer_abort(w1, true);
	assert_int_equal(content_writer_open(f->cs, "sha256:nothex", 1, &w2, NULL), -EINVAL);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_mismatch_and_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_exclusive, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
