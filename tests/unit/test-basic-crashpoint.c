/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "basic/crashpoint.h"

/* Reach name `times` times in a child; its wait status. */
static int reach_in_child(const char *spec, const char *name, int times) {
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0)
			(void)dup2(fd, STDERR_FILENO);
		if (crashpoint_arm(spec) < 0)
			_exit(2);
		for (int i = 0; i < times; i++)
			crashpoint(name);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static bool killed(int status) {
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

static void test_unarmed_costs_nothing(void **state) {
	assert_int_equal(crashpoint_arm(NULL), 0);
	assert_null(crashpoint_armed);
	crashpoint("deploy.stored"); /* nothing happens */
	assert_int_equal(crashpoint_arm(""), 0);
	assert_null(crashpoint_armed);
}

static void test_first_reach_kills(void **state) {
	assert_true(killed(reach_in_child("deploy.stored", "deploy.stored", 1)));
	assert_int_equal(reach_in_child("deploy.stored", "deploy.other", 3), 0);
	/* a name is matched whole, not as a prefix */
	assert_int_equal(reach_in_child("deploy", "deploy.stored", 1), 0);
}

static void test_nth_reach(void **state) {
	assert_int_equal(reach_in_child("replica.started@3", "replica.started", 2), 0);
	assert_true(killed(reach_in_child("replica.started@3", "replica.started", 3)));
}

static void test_list(void **state) {
	assert_true(killed(reach_in_child("a.b,replica.created@2,c", "c", 1)));
	assert_true(killed(reach_in_child("a.b,replica.created@2,c", "replica.created", 2)));
	assert_int_equal(reach_in_child("a.b,replica.created@2,c,", "replica.created", 1), 0);
}

static void test_bad_specs(void **state) {
	const char *bad[] = { "a@0", "a@", "@2", "a,,b", "A.B", "a b", "a@x", "a@-1", "a@99999999" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(crashpoint_arm(bad[i]), -EINVAL);
		assert_null(crashpoint_armed);
	}
}

static void test_setup_unsets(void **state) {
	assert_int_equal(setenv(CRASHPOINT_ENV, "x.y@2", 1), 0);
	assert_int_equal(crashpoint_setup(), 0);
	assert_null(getenv(CRASHPOINT_ENV));
	assert_non_null(crashpoint_armed);
	crashpoint("x.y"); /* the first reach only counts */
	assert_int_equal(crashpoint_arm(NULL), 0);
	assert_int_equal(setenv(CRASHPOINT_ENV, "x.y@", 1), 0);
	assert_int_equal(crashpoint_setup(), -EINVAL);
	assert_null(getenv(CRASHPOINT_ENV));
	assert_null(crashpoint_armed);
	assert_int_equal(crashpoint_setup(), 0); /* unset: nothing armed */
	assert_null(crashpoint_armed);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unarmed_costs_nothing),
		cmocka_unit_test(test_first_reach_kills),
		cmocka_unit_test(test_nth_reach),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_setup_unsets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
