/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "runtime/passwd.h"

static const char passwd_text[] = "root:x:0:0:root:/root:/bin/sh\n"
                                  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                  "# a comment line is skipped\n"
                                  "broken line\n"
                                  "app:x:1000:1000:App:/home/app:/bin/sh\n"
                                  "app:x:2000:2000:second app:/other:/bin/sh\n"
                                  "big:x:4294967296:1:too big:/:/bin/sh\n";
static const char group_text[] = "root:x:0:\n"
                                 "wheel:x:10:root,app\n"
                                 "app:x:1000:\n"
                                 "docker:x:999:other,app\n"
                                 "staff:x:50:\n";

struct fixture {
	char *dir, *rootfs;
	int fd;
};

static void write_at(const char *root, const char *rel, const char *text) {
	_cleanup_free_ char *path = xasprintf("%s/%s", root, rel);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static int setup(void **state) {
	struct fixture *f = xnew(struct fixture, 1);
	char tmpl[] = "/tmp/test-passwd-XXXXXX";
	_cleanup_free_ char *etc = NULL;

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->rootfs = xasprintf("%s/rootfs", f->dir);
	etc = xasprintf("%s/etc", f->rootfs);
	assert_int_equal(mkdir_p(etc, 0755), 0);
	write_at(f->rootfs, "etc/passwd", passwd_text);
	write_at(f->rootfs, "etc/group", group_text);
	f->fd = open(f->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->fd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state) {
	struct fixture *f = *state;

	close(f->fd);
	rm_rf(f->dir);
	free(f->dir);
	free(f->rootfs);
	free(f);
	return 0;
}

static void check(int fd, const char *spec, uint32_t uid, uint32_t gid, const uint32_t *gids, size_t n,
                  const char *home) {
	struct passwd_user u = {};

	assert_int_equal(passwd_resolve_user(fd, spec, &u, NULL), 0);
	assert_int_equal(u.uid, uid);
	assert_int_equal(u.gid, gid);
	assert_int_equal(u.n_additional_gids, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(u.additional_gids[i], gids[i]);
	if (home)
		assert_string_equal(u.home, home);
	else
		assert_null(u.home);
	passwd_user_release(&u);
}

static void check_error(int fd, const char *spec, const char *message) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct passwd_user u = {};

	assert_true(passwd_resolve_user(fd, spec, &u, &err) < 0);
	assert_non_null(err);
	assert_int_equal(err->kind, ZA_ERROR_CREATE_FAILED);
	assert_string_equal(err->message, message);
	assert_null(u.additional_gids);
}

static void test_names_and_ids(void **state) {
	struct fixture *f = *state;

	/* root by default, with root's supplementary groups */
	check(f->fd, NULL, 0, 0, (uint32_t[]){ 0, 10 }, 2, "/root");
	check(f->fd, "", 0, 0, (uint32_t[]){ 0, 10 }, 2, "/root");
	/* first matching line wins; groups listing the user follow the primary */
	check(f->fd, "app", 1000, 1000, (uint32_t[]){ 1000, 10, 999 }, 3, "/home/app");
	/* numeric ids are always ids, matched against the file */
	check(f->fd, "1000", 1000, 1000, (uint32_t[]){ 1000, 10, 999 }, 3, "/home/app");
	check(f->fd, "2000", 2000, 2000, (uint32_t[]){ 2000, 10, 999 }, 3, "/other");
	/* ... or taken as they are when absent */
	check(f->fd, "4242", 4242, 0, (uint32_t[]){ 0 }, 1, NULL);
	check(f->fd, "4242:4343", 4242, 4343, (uint32_t[]){ 4343 }, 1, NULL);
	/* an explicit group replaces the supplementary list */
	check(f->fd, "app:staff", 1000, 50, (uint32_t[]){ 50 }, 1, "/home/app");
	check(f->fd, "app:77", 1000, 77, (uint32_t[]){ 77 }, 1, "/home/app");
	check(f->fd, "daemon:wheel:ignored", 1, 10, (uint32_t[]){ 10 }, 1, "/usr/sbin");
	check(f->fd, ":staff", 0, 50, (uint32_t[]){ 50 }, 1, "/root");
}

static void test_errors(void **state) {
	struct fixture *f = *state;

	check_error(f->fd, "nobody", "user 'nobody' not found in the image's /etc/passwd");
	check_error(f->fd, "app:nogroup", "group 'nogroup' not found in the image's /etc/group");
	check_error(f->fd, "3000000000", "user id 3000000000 is out of range (0 to 2147483647)");
	check_error(f->fd, "1:3000000000", "group id 3000000000 is out of range (0 to 2147483647)");
	/* an entry with an id past the range is not a match */
	check_error(f->fd, "big", "user 'big' not found in the image's /etc/passwd");
}

static void test_no_files(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *p = xasprintf("%s/etc/passwd", f->rootfs), *g = xasprintf("%s/etc/group", f->rootfs);

	assert_int_equal(unlink(p), 0);
	assert_int_equal(unlink(g), 0);
	check(f->fd, NULL, 0, 0, (uint32_t[]){ 0 }, 1, NULL);
	check(f->fd, "1000", 1000, 0, (uint32_t[]){ 0 }, 1, NULL);
	check(f->fd, "1000:1000", 1000, 1000, (uint32_t[]){ 1000 }, 1, NULL);
	check_error(f->fd, "app", "user 'app' not found in the image's /etc/passwd");
	check_error(f->fd, "1000:staff", "group 'staff' not found in the image's /etc/group");
}

static void test_symlinks_stay_inside(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *outside = xasprintf("%s/outside", f->dir), *p = xasprintf("%s/etc/passwd", f->rootfs);
	_cleanup_free_ char *target = xasprintf("%s/passwd", outside), *data = xasprintf("%s/data", f->rootfs);
	_cleanup_free_ char *etc = xasprintf("%s/etc", f->rootfs), *etc_target = NULL;

	/* a host file the image points at, absolutely and relatively */
	assert_int_equal(mkdir(outside, 0755), 0);
	write_at(outside, "passwd", "evil:x:0:0::/:/bin/sh\n");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(target, p), 0);
	check_error(f->fd, "evil", "user 'evil' not found in the image's /etc/passwd");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("../../outside/passwd", p), 0);
	check_error(f->fd, "evil", "user 'evil' not found in the image's /etc/passwd");

	/* a symlink inside the rootfs is read inside the rootfs */
	assert_int_equal(mkdir(data, 0755), 0);
	write_at(f->rootfs, "data/passwd", "inside:x:1234:1234::/in:/bin/sh\n");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("/data/passwd", p), 0);
	check(f->fd, "inside", 1234, 1234, (uint32_t[]){ 1234 }, 1, "/in");

	/* /etc itself pointing out of the rootfs */
	etc_target = xasprintf("%s", outside);
	rm_rf(etc);
	assert_int_equal(symlink(etc_target, etc), 0);
	check_error(f->fd, "evil", "user 'evil' not found in the image's /etc/passwd");
}

static void test_not_regular(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *p = xasprintf("%s/etc/passwd", f->rootfs);

	/* a FIFO must neither hang nor be read */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	check_error(f->fd, "app", "the image's /etc/passwd is not a regular file");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	check_error(f->fd, "app", "the image's /etc/passwd is not a regular file");
}

static void test_rootfs_open(void **state) {
	struct fixture *f = *state;
	_cleanup_free_ char *link = xasprintf("%s/escape", f->rootfs);
	int fd;

	fd = rootfs_open(f->fd, "/etc/group", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	/* ".." cannot climb out of the root */
	fd = rootfs_open(f->fd, "../../../../etc/group", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink("/", link), 0);
	fd = rootfs_open(f->fd, "escape/etc/group", O_RDONLY);
	assert_true(fd >= 0); /* "/" is the rootfs itself */
	close(fd);
	assert_int_equal(rootfs_open(f->fd, "etc/missing", O_RDONLY), -ENOENT);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names_and_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks_stay_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rootfs_open, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
