/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/strbuf.h"

static void test_strbuf(void **state) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *s = NULL;
	size_t len;

	assert_string_equal(strbuf_str(&sb), "");
	strbuf_addstr(&sb, "a");
	strbuf_addch(&sb, 'b');
	strbuf_addf(&sb, "%d-%s", 42, "x");
	strbuf_add(&sb, "\0z", 2);
	assert_int_equal(sb.len, 8);
	assert_memory_equal(sb.buf, "ab42-x\0z", 8);
	strbuf_reset(&sb);
	assert_string_equal(strbuf_str(&sb), "");
	for (int i = 0; i < 1000; i++)
		strbuf_addf(&sb, "%04d", i);
	assert_int_equal(sb.len, 4000);
	s = strbuf_detach(&sb, &len);
	assert_int_equal(len, 4000);
	assert_true(strneq(s + 3996, "0999", 4));
	assert_null(sb.buf);
}

static void test_json_escape(void **state) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	strbuf_add_json_string(&sb, "a\"b\\c\n\t\x01z");
	assert_string_equal(strbuf_str(&sb), "\"a\\\"b\\\\c\\n\\t\\u0001z\"");
}

static void test_strv(void **state) {
	_cleanup_strv_free_ char **l = NULL, **c = NULL;

	assert_int_equal(strv_length(l), 0);
	strv_push(&l, "a");
	strv_push(&l, "b");
	assert_int_equal(strv_length(l), 2);
	c = strv_copy(l);
	assert_string_equal(c[1], "b");
	assert_null(c[2]);
}

static void test_files(void **state) {
	char dir[] = "/tmp/za-test-fileio-XXXXXX";
	_cleanup_free_ char *path = NULL, *sub = NULL, *buf = NULL;
	size_t len;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/f", dir);
	assert_int_equal(write_file_atomic(path, "hello", 5, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(read_full_file(path, 100, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);
	buf = NULL;
	assert_int_equal(read_full_file(path, 4, &buf, &len), -EFBIG);
	assert_int_equal(read_full_file(dir, 4, &buf, &len), -EISDIR);
	assert_int_equal(write_file_atomic(path, "bye", 3, 0644), 0);
	assert_int_equal(read_full_file(path, 100, &buf, &len), 0);
	assert_string_equal(buf, "bye");
	sub = xasprintf("%s/a/b/c", dir);
	assert_int_equal(mkdir_p(sub, 0755), 0);
	assert_int_equal(mkdir_p(sub, 0755), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(sub), 0);
	sub[strlen(sub) - 2] = '\0';
	assert_int_equal(rmdir(sub), 0);
	sub[strlen(sub) - 2] = '\0';
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0); /* fails if a temp file was left */
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strbuf),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_strv),
		cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
