/* SPDX-License-Identifier: Apache-2.0 */
/* overlayfs mounts of layer snapshots. Needs root; skipped otherwise. The
 * snapshots are mostly laid out by hand, in the form layer_unpack() writes
 * (whiteouts as 0/0 character devices, opaque directories by xattr); one
 * test mounts layers that layer_unpack() wrote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "image/overlay.h"
#include "image/unpack.h"

static bool need_root(void) {
	if (geteuid() == 0)
		return true;
	print_message("skipped: needs root\n");
	return false;
}

static void put_file(const char *dir, const char *path, const char *data) {
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, path), *parent = xstrdup(p);

	*strrchr(parent, '/') = 0;
	assert_int_equal(mkdir_p(parent, 0755), 0);
	assert_int_equal(write_file_atomic(p, data, strlen(data), 0644), 0);
}

static void put_whiteout(const char *dir, const char *path) {
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, path);

	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(mknod(p, S_IFCHR, makedev(0, 0)), 0);
}

static void put_opaque(const char *dir, const char *path) {
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, path);

	assert_int_equal(mkdir_p(p, 0755), 0);
	assert_int_equal(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
}

static bool exists(const char *dir, const char *path) {
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, path);
	struct stat st;

	return lstat(p, &st) == 0;
}

static void check_content(const char *dir, const char *path, const char *want) {
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, path), *got = NULL;
	size_t len;

	if (read_full_file(p, 1024, &got, &len) < 0)
		fail_msg("read '%s': %s", p, strerror(errno));
	assert_string_equal(got, want);
}

struct layout {
	char base[64];
	char *top, *bottom, *upper, *work, *merged;
};

static void layout_init(struct layout *l) {
	strncpy(l->base, "/tmp/za-test-overlay-XXXXXX", sizeof(l->base));
	assert_non_null(mkdtemp(l->base));
	l->top = xasprintf("%s/snapshots/top", l->base);
	l->bottom = xasprintf("%s/snapshots/bottom", l->base);
	l->upper = xasprintf("%s/c1/upper", l->base);
	l->work = xasprintf("%s/c1/work", l->base);
	l->merged = xasprintf("%s/c1/rootfs", l->base);
	put_file(l->bottom, "a", "bottom a");
	put_file(l->bottom, "b", "bottom b");
	put_file(l->bottom, "d/x", "bottom x");
	put_file(l->bottom, "e/y", "bottom y");
	put_whiteout(l->top, "a");
	put_opaque(l->top, "d");
	put_file(l->top, "d/z", "top z");
	put_file(l->top, "b", "top b");
	assert_int_equal(mkdir_p(l->merged, 0755), 0);
}

static void layout_release(struct layout *l) {
	(void)umount2(l->merged, MNT_DETACH);
	rm_rf(l->base);
	free(l->top);
	free(l->bottom);
	free(l->upper);
	free(l->work);
	free(l->merged);
}

static void test_merged_view(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *p = NULL;
	struct layout l;
	int fd;

	if (!need_root())
		skip();
	layout_init(&l);
	{
		char *lowers[] = { l.top, l.bottom, NULL };
		if (overlay_mount(lowers, l.upper, l.work, l.merged, &err) < 0)
			fail_msg("mount: %s", err->message);
	}
	assert_false(exists(l.merged, "a")); /* whiteout */
	check_content(l.merged, "b", "top b");
	assert_false(exists(l.merged, "d/x")); /* opaque directory */
	check_content(l.merged, "d/z", "top z");
	check_content(l.merged, "e/y", "bottom y");
	p = xasprintf("%s/new", l.merged);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_true(exists(l.upper, "new"));
	assert_false(exists(l.top, "new"));

	assert_int_equal(overlay_umount(l.merged, &err), 0);
	assert_false(exists(l.merged, "b"));
	/* not mounted, not there: success */
	assert_int_equal(overlay_umount(l.merged, &err), 0);
	assert_int_equal(overlay_umount("/nonexistent/za-test", &err), 0);
	assert_null(err);
	layout_release(&l);
}

static void test_read_only(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct statvfs sv;
	struct layout l;

	if (!need_root())
		skip();
	layout_init(&l);
	{
		char *lowers[] = { l.top, l.bottom, NULL };
		if (overlay_mount(lowers, NULL, NULL, l.merged, &err) < 0)
			fail_msg("read-only mount: %s", err->message);
	}
	check_content(l.merged, "b", "top b");
	assert_false(exists(l.merged, "a"));
	assert_int_equal(statvfs(l.merged, &sv), 0);
	assert_true(sv.f_flag & ST_RDONLY);
	assert_int_equal(overlay_umount(l.merged, &err), 0);

	/* overlayfs refuses one lower without an upper: a read-only bind */
	{
		char *lowers[] = { l.bottom, NULL };
		if (overlay_mount(lowers, NULL, NULL, l.merged, &err) < 0)
			fail_msg("single-lower mount: %s", err->message);
	}
	check_content(l.merged, "a", "bottom a");
	assert_int_equal(statvfs(l.merged, &sv), 0);
	assert_true(sv.f_flag & ST_RDONLY);
	assert_int_equal(overlay_umount(l.merged, &err), 0);
	assert_false(exists(l.merged, "a"));
	layout_release(&l);
}

/* A busy mount is detached after the retries. */
static void test_umount_busy(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *p = NULL;
	struct layout l;
	int fd;

	if (!need_root())
		skip();
	layout_init(&l);
	{
		char *lowers[] = { l.top, l.bottom, NULL };
		if (overlay_mount(lowers, l.upper, l.work, l.merged, &err) < 0)
			fail_msg("mount: %s", err->message);
	}
	p = xasprintf("%s/e", l.merged);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fchdir(fd), 0); /* a cwd inside keeps it busy */
	assert_int_equal(overlay_umount(l.merged, &err), 0);
	assert_int_equal(chdir("/"), 0);
	close(fd);
	assert_false(exists(l.merged, "b"));
	layout_release(&l);
}

/* Paths too long for fsconfig() strings go through mount(2), which takes a
 * page of options at most. */
static void test_long_paths(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *deep = NULL, *upper = NULL, *work = NULL, *want = NULL;
	char *many[20] = {};
	char name[201];
	struct layout l;

	if (!need_root())
		skip();
	layout_init(&l);
	memset(name, 'n', 200);
	name[200] = 0;
	deep = xasprintf("%s/%s/%s/lower", l.base, name, name);
	upper = xasprintf("%s/%s/%s/upper", l.base, name, name);
	work = xasprintf("%s/%s/%s/work", l.base, name, name);
	put_file(deep, "f", "deep");
	{
		char *lowers[] = { deep, l.bottom, NULL };
		if (overlay_mount(lowers, upper, work, l.merged, &err) < 0)
			fail_msg("mount: %s", err->message);
	}
	check_content(l.merged, "f", "deep");
	check_content(l.merged, "a", "bottom a");
	assert_int_equal(overlay_umount(l.merged, &err), 0);

	for (size_t i = 0; i < 19; i++)
		many[i] = deep;
	assert_int_equal(overlay_mount(many, NULL, NULL, l.merged, &err), -E2BIG);
	assert_int_equal(err->kind, ZA_ERROR_UNSUPPORTED);
	want = xasprintf("mount overlay at '%s': the options for 19 layers take %zu bytes, more than the %ld mount(2) "
	                 "accepts, and the kernel lacks 'lowerdir+' (use Linux 6.8 or newer, or an image with fewer "
	                 "layers)",
	                 l.merged, strlen("lowerdir=") + 19 * strlen(deep) + 18, sysconf(_SC_PAGESIZE));
	assert_string_equal(err->message, want);
	layout_release(&l);
}

static void test_bad_arguments(void **state) {
	struct layout l;

	if (!need_root())
		skip();
	layout_init(&l);
	{
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *missing = xasprintf("%s/missing", l.base);
		_cleanup_free_ char *want =
		        xasprintf("mount overlay at '%s': lower directory '%s': ", l.merged, missing);
		char *lowers[] = { missing, l.bottom, NULL };

		assert_int_equal(overlay_mount(lowers, NULL, NULL, l.merged, &err), -ENOENT);
		if (!strneq(err->message, want, strlen(want)))
			fail_msg("unexpected message '%s'", err->message);
	}
	{
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *want =
		        xasprintf("mount overlay at '%s': lower directory 'relative' is not absolute", l.merged);
		char *lowers[] = { "relative", NULL };

		assert_int_equal(overlay_mount(lowers, NULL, NULL, l.merged, &err), -EINVAL);
		assert_string_equal(err->message, want);
	}
	{
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *want =
		        xasprintf("mount overlay at '%s': upper and work directories go together", l.merged);
		char *lowers[] = { l.bottom, NULL };

		assert_int_equal(overlay_mount(lowers, l.upper, NULL, l.merged, &err), -EINVAL);
		assert_string_equal(err->message, want);
	}
	{
		_cleanup_za_error_ struct za_error *err = NULL;
		char *lowers[] = { NULL };

		assert_int_equal(overlay_mount(lowers, NULL, NULL, l.merged, &err), -EINVAL);
	}
	layout_release(&l);
}

static la_ssize_t write_cb(struct archive *a, void *userdata, const void *p, size_t n) {
	assert_int_equal(loop_write(*(int *)userdata, p, n), 0);
	return (la_ssize_t)n;
}

/* Unpack a layer given as "path" (directory when ending in '/') or
 * "path=content" lines into dir. */
static void unpack_layer(const char *dir, const char *const *lines) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *diff_id = NULL;
	struct archive *a = archive_write_new();
	int fd = memfd_create("layer", MFD_CLOEXEC), dfd;

	assert_true(fd >= 0);
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open(a, &fd, NULL, write_cb, NULL), ARCHIVE_OK);
	for (size_t i = 0; lines[i]; i++) {
		_cleanup_free_ char *path = xstrdup(lines[i]);
		struct archive_entry *e = archive_entry_new();
		char *data = strchr(path, '=');

		if (data)
			*data++ = 0;
		archive_entry_copy_pathname(e, path);
		archive_entry_set_filetype(e, path[strlen(path) - 1] == '/' ? AE_IFDIR : AE_IFREG);
		archive_entry_set_perm(e, 0755);
		archive_entry_set_size(e, data ? (la_int64_t)strlen(data) : 0);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (data)
			assert_int_equal(archive_write_data(a, data, strlen(data)), (la_ssize_t)strlen(data));
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	if (layer_unpack(fd, dfd, &diff_id, NULL, &err) < 0)
		fail_msg("unpack: %s", err->message);
	close(dfd);
	close(fd);
}

/* What layer_unpack() writes means to overlayfs what the OCI layers say. */
static void test_unpacked_layers(void **state) {
	static const char *const bottom[] = { "a=a", "b=b", "d/", "d/x=x", "e/", "e/y=y", "f/", "f/old=old", NULL };
	static const char *const top[] = { ".wh.a",     "d/.wh..wh..opq", "d/z=z",     ".wh.e", "e/",
		                           "e/new=new", "f/.wh.old",      "f/new=new", NULL };
	_cleanup_za_error_ struct za_error *err = NULL;
	struct layout l;

	if (!need_root())
		skip();
	layout_init(&l);
	rm_rf(l.top);
	rm_rf(l.bottom);
	unpack_layer(l.bottom, bottom);
	unpack_layer(l.top, top);
	{
		char *lowers[] = { l.top, l.bottom, NULL };
		if (overlay_mount(lowers, l.upper, l.work, l.merged, &err) < 0)
			fail_msg("mount: %s", err->message);
	}
	assert_false(exists(l.merged, "a"));
	check_content(l.merged, "b", "b");
	assert_false(exists(l.merged, "d/x"));
	check_content(l.merged, "d/z", "z");
	assert_false(exists(l.merged, "e/y")); /* deleted and made again */
	check_content(l.merged, "e/new", "new");
	assert_false(exists(l.merged, "f/old"));
	check_content(l.merged, "f/new", "new");
	assert_int_equal(overlay_umount(l.merged, &err), 0);
	layout_release(&l);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merged_view),   cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_umount_busy),   cmocka_unit_test(test_long_paths),
		cmocka_unit_test(test_bad_arguments), cmocka_unit_test(test_unpacked_layers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
