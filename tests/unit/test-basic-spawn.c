/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>

#include "basic/alloc.h"
#include "basic/spawn.h"

static void test_run_exit_codes(void **state) {
	char *ok[] = { "true", NULL }, *no[] = { "false", NULL }, *sh[] = { "sh", "-c", "exit 7", NULL };
	char *missing[] = { "/nonexistent/zlayer-test", NULL };
	int status;

	assert_int_equal(za_run(ok, NULL, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(za_run(no, NULL, &status), 0);
	assert_int_equal(status, 1);
	assert_int_equal(za_run(sh, NULL, &status), 0);
	assert_int_equal(status, 7);
	assert_int_equal(za_run(missing, NULL, &status), -ENOENT);
}

static void test_signal_status(void **state) {
	char *sh[] = { "sh", "-c", "kill -TERM $$", NULL };
	int status;

	assert_int_equal(za_run(sh, NULL, &status), 0);
	assert_int_equal(status, 128 + SIGTERM);
}

static void test_capture_env_cwd(void **state) {
	char *argv[] = { "sh", "-c", "printf '%s:%s' \"$ZA_X\" \"$(pwd)\"", NULL };
	char *envp[] = { "ZA_X=42", "PATH=/usr/bin:/bin", NULL };
	struct za_spawn_opts o = ZA_SPAWN_OPTS_INIT;
	_cleanup_free_ char *out = NULL;
	int status;

	o.envp = envp;
	o.cwd = "/tmp";
	assert_int_equal(za_run_capture(argv, &o, 1024, &out, &status), 0);
	assert_int_equal(status, 0);
	assert_string_equal(out, "42:/tmp");
}

static void test_capture_cap(void **state) {
	char *argv[] = { "sh", "-c", "yes | head -c 100000", NULL };
	_cleanup_free_ char *out = NULL;
	int status;

	assert_int_equal(za_run_capture(argv, NULL, 10, &out, &status), 0);
	assert_int_equal(strlen(out), 10);
	assert_int_equal(status, 0);
}

static void test_stdin_redirect(void **state) {
	char *argv[] = { "cat", NULL };
	struct za_spawn_opts o = ZA_SPAWN_OPTS_INIT;
	_cleanup_free_ char *out = NULL;
	_cleanup_close_ int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	int status;

	if (fd < 0)
		skip();
	o.stdin_fd = fd;
	assert_int_equal(za_run_capture(argv, &o, 4096, &out, &status), 0);
	assert_true(strlen(out) > 0);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_exit_codes),  cmocka_unit_test(test_signal_status),
		cmocka_unit_test(test_capture_env_cwd), cmocka_unit_test(test_capture_cap),
		cmocka_unit_test(test_stdin_redirect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
