/* SPDX-License-Identifier: Apache-2.0 */
/* Layer unpacking. Needs root (ownership, device nodes,
 * trusted.* xattrs); skipped otherwise. Tar streams are built in
 * memory with libarchive's writer and fed through a pipe by a thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <locale.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "image/unpack.h"

enum comp { COMP_NONE, COMP_GZIP, COMP_ZSTD };

struct ent {
	const char *path;
	mode_t type; /* AE_IF*; 0 = regular file */
	mode_t perm;
	const char *data;
	const char *link;     /* symlink target */
	const char *hardlink; /* hardlink target */
	int64_t uid, gid;
	unsigned maj, min;
	time_t mtime;
	const char *xattrs[5]; /* name, value, name, value, NULL */
	size_t size;           /* with data == NULL: that many bytes of a pattern */
};

struct buf {
	uint8_t *p;
	size_t len, alloc;
};

static void buf_add(struct buf *b, const void *p, size_t n) {
	GROW(b->p, b->alloc, b->len + n + 1);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static la_ssize_t buf_write_cb(struct archive *a, void *userdata, const void *p, size_t n) {
	buf_add(userdata, p, n);
	return (la_ssize_t)n;
}

static uint8_t pattern_byte(size_t i) {
	return (uint8_t)((i * 7 + i / 4096) & 0xff);
}

static void build_tar(const struct ent *ents, size_t n, struct buf *out) {
	struct archive *a = archive_write_new();

	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open(a, out, NULL, buf_write_cb, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		const struct ent *x = &ents[i];
		struct archive_entry *e = archive_entry_new();
		size_t size = x->data ? strlen(x->data) : x->size;

		archive_entry_copy_pathname(e, x->path);
		archive_entry_set_filetype(e, x->type ? x->type : AE_IFREG);
		archive_entry_set_perm(e, x->perm ? x->perm : 0644);
		archive_entry_set_uid(e, x->uid);
		archive_entry_set_gid(e, x->gid);
		archive_entry_set_mtime(e, x->mtime ? x->mtime : 1700000000, 0);
		if (x->link)
			archive_entry_copy_symlink(e, x->link);
		if (x->hardlink)
			archive_entry_copy_hardlink(e, x->hardlink);
		if (x->type == AE_IFCHR || x->type == AE_IFBLK) {
			archive_entry_set_rdevmajor(e, x->maj);
			archive_entry_set_rdevminor(e, x->min);
		}
		for (size_t j = 0; x->xattrs[j]; j += 2)
			archive_entry_xattr_add_entry(e, x->xattrs[j], x->xattrs[j + 1], strlen(x->xattrs[j + 1]));
		if ((!x->type || x->type == AE_IFREG) && !x->hardlink)
			archive_entry_set_size(e, (la_int64_t)size);
		/* WARN: a name that is not ASCII in the C locale, written raw */
		assert_true(archive_write_header(a, e) >= ARCHIVE_WARN);
		if (x->data)
			assert_int_equal(archive_write_data(a, x->data, size), (la_ssize_t)size);
		else if (size > 0) {
			uint8_t *p = xmalloc(size);
			for (size_t k = 0; k < size; k++)
				p[k] = pattern_byte(k);
			assert_int_equal(archive_write_data(a, p, size), (la_ssize_t)size);
			free(p);
		}
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void compress_buf(const struct buf *in, enum comp c, struct buf *out) {
	struct archive *a;
	struct archive_entry *e;

	if (c == COMP_NONE) {
		buf_add(out, in->p, in->len);
		return;
	}
	a = archive_write_new();
	assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
	assert_int_equal(c == COMP_GZIP ? archive_write_add_filter_gzip(a) : archive_write_add_filter_zstd(a),
	                 ARCHIVE_OK);
	assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
	assert_int_equal(archive_write_open(a, out, NULL, buf_write_cb, NULL), ARCHIVE_OK);
	e = archive_entry_new();
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)in->len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, in->p, in->len), (la_ssize_t)in->len);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static char *sha256_hex(const void *p, size_t n) {
	unsigned char md[32];
	unsigned md_len = 0;
	char *s = xmalloc(7 + 64 + 1);

	assert_int_equal(EVP_Digest(p, n, md, &md_len, EVP_sha256(), NULL), 1);
	memcpy(s, "sha256:", 7);
	for (unsigned i = 0; i < md_len; i++)
		(void)snprintf(s + 7 + 2 * i, 3, "%02x", md[i]);
	return s;
}

struct feeder {
	int fd;
	const struct buf *data;
	int err; /* errno of a failed write */
};

static void *feed_thread(void *userdata) {
	struct feeder *f = userdata;

	f->err = -loop_write(f->fd, f->data->p, f->data->len);
	close(f->fd);
	return NULL;
}

/* Feed `stream` through a pipe into layer_unpack_limited(dir). */
static int unpack_stream(const struct buf *stream, const char *dir, const struct layer_unpack_limits *limits,
                         char **ret_diff_id, struct layer_unpack_stats *ret_stats, struct za_error **reterr) {
	struct feeder f = { .data = stream };
	pthread_t t;
	int p[2], dfd, r;

	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	f.fd = p[1];
	assert_int_equal(pthread_create(&t, NULL, feed_thread, &f), 0);
	r = layer_unpack_limited(p[0], dfd, limits, ret_diff_id, ret_stats, reterr);
	close(p[0]); /* on failure the writer may get EPIPE: that ends it */
	assert_int_equal(pthread_join(t, NULL), 0);
	if (r == 0)
		assert_int_equal(f.err, 0); /* read to EOF: no EPIPE */
	close(dfd);
	return r;
}

struct sandbox {
	char base[64];
	char layer[96];
	char sentinel[96];
	char outside[96];
};

static void sandbox_init(struct sandbox *s) {
	strncpy(s->base, "/tmp/za-test-unpack-XXXXXX", sizeof(s->base));
	assert_non_null(mkdtemp(s->base));
	(void)snprintf(s->layer, sizeof(s->layer), "%s/layer", s->base);
	(void)snprintf(s->sentinel, sizeof(s->sentinel), "%s/sentinel", s->base);
	(void)snprintf(s->outside, sizeof(s->outside), "%s/outside", s->base);
	assert_int_equal(mkdir(s->layer, 0755), 0);
	assert_int_equal(mkdir(s->sentinel, 0755), 0);
	assert_int_equal(write_file_atomic(s->outside, "precious", 8, 0644), 0);
}

/* Nothing was written outside the layer directory. */
static void sandbox_check(const struct sandbox *s) {
	_cleanup_free_ char *data = NULL;
	struct dirent *de;
	struct stat st;
	size_t len, n = 0;
	DIR *d;

	d = opendir(s->sentinel);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			fail_msg("'%s' appeared in the sentinel directory", de->d_name);
	closedir(d);
	d = opendir(s->base);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
			if (!streq(de->d_name, "layer") && !streq(de->d_name, "sentinel") &&
			    !streq(de->d_name, "outside"))
				fail_msg("'%s' appeared next to the layer", de->d_name);
			n++;
		}
	closedir(d);
	assert_int_equal(n, 3);
	assert_int_equal(lstat(s->outside, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(read_full_file(s->outside, 100, &data, &len), 0);
	assert_string_equal(data, "precious");
	assert_int_equal(lstat("/etc/za-unpack-test-canary", &st), -1);
}

static void sandbox_release(struct sandbox *s) {
	rm_rf(s->base);
}

static bool need_root(void) {
	if (geteuid() == 0)
		return true;
	print_message("skipped: needs root\n");
	return false;
}

static void lstat_in(const struct sandbox *s, const char *path, struct stat *st) {
	_cleanup_free_ char *p = xasprintf("%s/%s", s->layer, path);

	if (lstat(p, st) < 0)
		fail_msg("lstat '%s': %s", path, strerror(errno));
}

static void check_absent(const struct sandbox *s, const char *path) {
	_cleanup_free_ char *p = xasprintf("%s/%s", s->layer, path);
	struct stat st;

	assert_int_equal(lstat(p, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void check_file(const struct sandbox *s, const char *path, const char *data, mode_t perm, uid_t uid, gid_t gid) {
	_cleanup_free_ char *p = xasprintf("%s/%s", s->layer, path), *got = NULL;
	struct stat st;
	size_t len;

	lstat_in(s, path, &st);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, perm);
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_gid, gid);
	assert_int_equal(read_full_file(p, 1 << 20, &got, &len), 0);
	assert_int_equal(len, strlen(data));
	assert_memory_equal(got, data, len);
}

static void check_xattr(const struct sandbox *s, const char *path, const char *name, const char *value) {
	_cleanup_free_ char *p = xasprintf("%s/%s", s->layer, path);
	char got[256];
	ssize_t n = lgetxattr(p, name, got, sizeof(got) - 1);

	if (!value) {
		assert_int_equal(n, -1);
		return;
	}
	if (n < 0)
		fail_msg("getxattr '%s' '%s': %s", path, name, strerror(errno));
	got[n] = 0;
	assert_string_equal(got, value);
}

#define BIG_SIZE (3 * 1024 * 1024 + 123)

static const struct ent tree[] = {
	{ .path = "./", .type = AE_IFDIR, .perm = 0751, .mtime = 1111 },
	{ .path = "etc/", .type = AE_IFDIR, .perm = 0755, .mtime = 2222 },
	{ .path = "etc/hostname", .data = "hello\n", .perm = 0644, .mtime = 1000000000 },
	{ .path = "usr/bin/", .type = AE_IFDIR, .perm = 0755 },
	{ .path = "usr/bin/su", .data = "su-binary", .perm = 04755 },
	{ .path = "usr/bin/tool", .data = "tool", .perm = 02711, .uid = 1234, .gid = 5678 },
	{ .path = "usr/bin/hard", .hardlink = "usr/bin/tool" },
	{ .path = "home/u/", .type = AE_IFDIR, .perm = 0700, .uid = 1234, .gid = 1234, .mtime = 12345 },
	{ .path = "home/u/f",
	  .data = "x",
	  .uid = 1234,
	  .gid = 1234,
	  .xattrs = { "user.foo", "bar", "trusted.baz", "qux" } },
	{ .path = "home/u/sneaky", .data = "y", .xattrs = { "trusted.overlay.opaque", "y" } },
	{ .path = "bin", .type = AE_IFLNK, .link = "usr/bin", .uid = 1234, .gid = 1234, .mtime = 3333 },
	{ .path = "bin/through", .data = "via symlink" },
	{ .path = "dev/null", .type = AE_IFCHR, .perm = 0666, .maj = 1, .min = 3 },
	{ .path = "dev/sda", .type = AE_IFBLK, .perm = 0660, .maj = 8, .min = 0, .gid = 6 },
	{ .path = "run/fifo", .type = AE_IFIFO, .perm = 0600 },
	{ .path = "var/lib/.wh.gone", .data = "" },
	{ .path = "opt/.wh..wh..opq", .data = "" },
	{ .path = "opt/keep", .data = "kept" },
	{ .path = "var/.wh..wh.plnk", .type = AE_IFDIR },
	{ .path = "caf\xc3\xa9", .data = "unicode" },
	{ .path = "dup", .data = "one" },
	{ .path = "dup", .data = "two", .perm = 0600 },
	{ .path = "dupdir/", .type = AE_IFDIR, .perm = 0700 },
	{ .path = "dupdir/x", .data = "x" },
	{ .path = "dupdir/", .type = AE_IFDIR, .perm = 0750 },
	{ .path = "rep/", .type = AE_IFDIR },
	{ .path = "rep/sub/deeper", .data = "gone" },
	{ .path = "rep", .data = "now a file" },
	{ .path = "./empty", .data = "", .perm = 0400 },
	{ .path = "big", .size = BIG_SIZE },
	{ .path = "l", .type = AE_IFLNK, .link = "/nonexistent/target" },
	{ .path = "l", .data = "replaced the symlink" },
	{ .path = "hl", .hardlink = "bin" }, /* links the symlink itself */
};

static void check_tree(const struct sandbox *s) {
	_cleanup_free_ char *big = NULL, *bigpath = NULL;
	struct stat st, st2;
	char link[64];
	ssize_t n;
	size_t len;

	lstat_in(s, ".", &st);
	assert_int_equal(st.st_mode & 07777, 0751);
	assert_int_equal(st.st_mtime, 1111);
	lstat_in(s, "etc", &st);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mtime, 2222);
	check_file(s, "etc/hostname", "hello\n", 0644, 0, 0);
	lstat_in(s, "etc/hostname", &st);
	assert_int_equal(st.st_mtime, 1000000000);
	lstat_in(s, "usr", &st); /* implicit parent */
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	check_file(s, "usr/bin/su", "su-binary", 04755, 0, 0);
	check_file(s, "usr/bin/tool", "tool", 02711, 1234, 5678);
	lstat_in(s, "usr/bin/tool", &st);
	lstat_in(s, "usr/bin/hard", &st2);
	assert_int_equal(st.st_ino, st2.st_ino);
	assert_int_equal(st.st_nlink, 2);
	lstat_in(s, "home/u", &st);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_mtime, 12345);
	check_file(s, "home/u/f", "x", 0644, 1234, 1234);
	check_xattr(s, "home/u/f", "user.foo", "bar");
	check_xattr(s, "home/u/f", "trusted.baz", "qux");
	check_xattr(s, "home/u/sneaky", "trusted.overlay.opaque", NULL);
	lstat_in(s, "bin", &st);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_mtime, 3333);
	{
		_cleanup_free_ char *p = xasprintf("%s/bin", s->layer);
		n = readlink(p, link, sizeof(link) - 1);
		assert_int_equal(n, 7);
		link[n] = 0;
		assert_string_equal(link, "usr/bin");
	}
	check_file(s, "usr/bin/through", "via symlink", 0644, 0, 0);
	lstat_in(s, "dev/null", &st);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(1, 3));
	assert_int_equal(st.st_mode & 07777, 0666);
	lstat_in(s, "dev/sda", &st);
	assert_true(S_ISBLK(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(8, 0));
	assert_int_equal(st.st_gid, 6);
	lstat_in(s, "run/fifo", &st);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	lstat_in(s, "var/lib/gone", &st);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	check_absent(s, "var/lib/.wh.gone");
	check_xattr(s, "opt", "trusted.overlay.opaque", "y");
	check_absent(s, "opt/.wh..wh..opq");
	check_file(s, "opt/keep", "kept", 0644, 0, 0);
	check_absent(s, "var/.wh..wh.plnk");
	check_file(s, "caf\xc3\xa9", "unicode", 0644, 0, 0);
	check_file(s, "dup", "two", 0600, 0, 0);
	check_file(s, "dupdir/x", "x", 0644, 0, 0);
	lstat_in(s, "dupdir", &st);
	assert_int_equal(st.st_mode & 07777, 0750);
	check_file(s, "rep", "now a file", 0644, 0, 0);
	check_file(s, "empty", "", 0400, 0, 0);
	check_file(s, "l", "replaced the symlink", 0644, 0, 0);
	lstat_in(s, "hl", &st);
	assert_true(S_ISLNK(st.st_mode));
	lstat_in(s, "bin", &st2);
	assert_int_equal(st.st_ino, st2.st_ino);

	bigpath = xasprintf("%s/big", s->layer);
	assert_int_equal(read_full_file(bigpath, BIG_SIZE + 1, &big, &len), 0);
	assert_int_equal(len, BIG_SIZE);
	for (size_t i = 0; i < len; i++)
		if ((uint8_t)big[i] != pattern_byte(i))
			fail_msg("big: byte %zu differs", i);
}

static void buf_release(struct buf *b) {
	free(b->p);
	*b = (struct buf){};
}

static void unpack_tree(enum comp c) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *want = NULL, *got = NULL;
	struct buf tar = {}, stream = {};
	struct layer_unpack_stats stats;
	struct sandbox s;

	if (!need_root())
		skip();
	sandbox_init(&s);
	build_tar(tree, ELEMENTSOF(tree), &tar);
	want = sha256_hex(tar.p, tar.len);
	compress_buf(&tar, c, &stream);
	if (unpack_stream(&stream, s.layer, NULL, &got, &stats, &err) < 0)
		fail_msg("unpack: %s", err->message);
	assert_null(err);
	assert_string_equal(got, want);
	assert_int_equal(stats.entries, ELEMENTSOF(tree));
	assert_int_equal(stats.bytes, tar.len);
	check_tree(&s);
	sandbox_check(&s);
	sandbox_release(&s);
	buf_release(&tar);
	buf_release(&stream);
}

static void test_tree_plain(void **state) {
	unpack_tree(COMP_NONE);
}

static void test_tree_gzip(void **state) {
	unpack_tree(COMP_GZIP);
}

static void test_tree_zstd(void **state) {
	unpack_tree(COMP_ZSTD);
}

/* Bytes after the end-of-archive marker: part of the uncompressed stream
 * (so of the diff_id) when plain, ignored after a gzip stream; the input is
 * read to its end either way (the feeder checks for EPIPE). libarchive's
 * zstd decoder refuses data after the last frame. */
static void test_trailing_data(void **state) {
	static const struct ent ents[] = { { .path = "a", .data = "a" } };
	static const enum comp comps[] = { COMP_NONE, COMP_GZIP, COMP_ZSTD, COMP_ZSTD };

	if (!need_root())
		skip();
	for (size_t i = 0; i < ELEMENTSOF(comps); i++) {
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *want = NULL, *got = NULL;
		struct buf tar = {}, stream = {};
		uint8_t *junk = xcalloc(1, 3 << 20);
		struct sandbox s;
		int r;

		sandbox_init(&s);
		build_tar(ents, ELEMENTSOF(ents), &tar);
		if (comps[i] == COMP_NONE) {
			buf_add(&tar, junk, 3 << 20);
			buf_add(&tar, "not a tar header", 16);
			want = sha256_hex(tar.p, tar.len);
			compress_buf(&tar, comps[i], &stream);
		} else {
			want = sha256_hex(tar.p, tar.len);
			compress_buf(&tar, comps[i], &stream);
			if (i != 3)
				buf_add(&stream, junk, 3 << 20);
		}
		r = unpack_stream(&stream, s.layer, NULL, &got, NULL, &err);
		if (i == 2) {
			assert_true(r < 0);
			assert_string_equal(err->message,
			                    "decompress layer: Zstd decompression failed: Unknown frame descriptor");
		} else {
			if (r < 0)
				fail_msg("unpack: %s", err->message);
			assert_string_equal(got, want);
			check_file(&s, "a", "a", 0644, 0, 0);
		}
		sandbox_check(&s);
		sandbox_release(&s);
		buf_release(&tar);
		buf_release(&stream);
		free(junk);
	}
}

/* A whiteout only hides lower layers: a file of that name in the same layer
 * stays, a directory stays and stops merging with lower ones (opaque); a
 * directory made where a whiteout was is opaque too. */
static void test_whiteout_same_layer(void **state) {
	static const struct ent ents[] = {
		{ .path = "a", .data = "kept" }, { .path = ".wh.a", .data = "" },
		{ .path = ".wh.b", .data = "" }, { .path = "b", .data = "replaces the whiteout" },
		{ .path = ".wh.d", .data = "" }, { .path = "d/", .type = AE_IFDIR },
		{ .path = "d/x", .data = "x" },  { .path = "e/", .type = AE_IFDIR },
		{ .path = "e/y", .data = "y" },  { .path = ".wh.e", .data = "" },
		{ .path = ".wh.f", .data = "" }, { .path = "f/z", .data = "z" },
		{ .path = ".wh.g", .data = "" }, { .path = "g", .type = AE_IFLNK, .link = "a" },
	};
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *got = NULL;
	struct buf tar = {};
	struct sandbox s;
	struct stat st;

	if (!need_root())
		skip();
	sandbox_init(&s);
	build_tar(ents, ELEMENTSOF(ents), &tar);
	if (unpack_stream(&tar, s.layer, NULL, &got, NULL, &err) < 0)
		fail_msg("unpack: %s", err->message);
	check_file(&s, "a", "kept", 0644, 0, 0);
	check_xattr(&s, "a", "trusted.overlay.opaque", NULL);
	check_file(&s, "b", "replaces the whiteout", 0644, 0, 0);
	check_file(&s, "d/x", "x", 0644, 0, 0);
	check_xattr(&s, "d", "trusted.overlay.opaque", "y");
	check_file(&s, "e/y", "y", 0644, 0, 0);
	check_xattr(&s, "e", "trusted.overlay.opaque", "y");
	check_file(&s, "f/z", "z", 0644, 0, 0);
	check_xattr(&s, "f", "trusted.overlay.opaque", "y");
	lstat_in(&s, "g", &st);
	assert_true(S_ISLNK(st.st_mode));
	sandbox_check(&s);
	sandbox_release(&s);
	buf_release(&tar);
}

#define SENTINEL "@sentinel" /* replaced by the sandbox's sentinel path */

static const struct {
	struct ent ents[4];
	const char *message;
} rejects[] = {
	{ { { .path = "../x", .data = "x" } }, "layer entry '../x': path escapes the layer" },
	{ { { .path = "a/../../x", .data = "x" } }, "layer entry 'a/../../x': path escapes the layer" },
	{ { { .path = "a/../b", .data = "x" } }, "layer entry 'a/../b': path contains '..'" },
	{ { { .path = "/abs", .data = "x" } }, "layer entry '/abs': path is absolute" },
	{ { { .path = "l", .type = AE_IFLNK, .link = SENTINEL }, { .path = "l/passwd", .data = "x" } },
	  "layer entry 'l/passwd': path escapes the layer through a symlink" },
	{ { { .path = "l", .type = AE_IFLNK, .link = "/etc" }, { .path = "l/za-unpack-test-canary", .data = "x" } },
	  "layer entry 'l/za-unpack-test-canary': path escapes the layer through a symlink" },
	{ { { .path = "l", .type = AE_IFLNK, .link = "../.." }, { .path = "l/x", .data = "x" } },
	  "layer entry 'l/x': path escapes the layer through a symlink" },
	{ { { .path = "a", .type = AE_IFLNK, .link = "b/c" },
	    { .path = "b", .type = AE_IFLNK, .link = "../sentinel" },
	    { .path = "a/x", .type = AE_IFDIR } },
	  "layer entry 'a/x/': path escapes the layer through a symlink" },
	{ { { .path = "h", .hardlink = "../outside" } },
	  "layer entry 'h': hardlink target '../outside' escapes the layer" },
	{ { { .path = "h", .hardlink = "/etc/passwd" } },
	  "layer entry 'h': hardlink target '/etc/passwd' is absolute" },
	{ { { .path = "l", .type = AE_IFLNK, .link = ".." }, { .path = "h", .hardlink = "l/outside" } },
	  "layer entry 'h': hardlink target 'l/outside' escapes the layer through a symlink" },
	{ { { .path = "d", .type = AE_IFDIR }, { .path = "h", .hardlink = "d" } },
	  "layer entry 'h': hardlink target 'd' is a directory" },
	{ { { .path = "h", .hardlink = "missing" } },
	  "layer entry 'h': hardlink target 'missing' does not exist in the layer" },
	{ { { .path = "f", .data = "x" }, { .path = "f/x", .data = "x" } },
	  "layer entry 'f/x': path goes through 'f', which is not a directory" },
	{ { { .path = ".wh...", .data = "" } }, "layer entry '.wh...': invalid whiteout name" },
	{ { { .path = "./", .type = AE_IFLNK, .link = SENTINEL } },
	  "layer entry './': entry would replace the layer root" },
	{ { { .path = "x\n/../../y", .data = "x" } }, "layer entry 'x\\x0a/../../y': path escapes the layer" },
	{ { { .path = "u", .data = "x", .uid = 4294967295LL } }, "layer entry 'u': uid 4294967295 out of range" },
};

static void test_rejects(void **state) {
	if (!need_root())
		skip();
	for (size_t i = 0; i < ELEMENTSOF(rejects); i++) {
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *got = NULL;
		struct ent ents[4];
		struct buf tar = {};
		struct sandbox s;
		size_t n = 0;
		int r;

		sandbox_init(&s);
		for (; n < ELEMENTSOF(ents) && rejects[i].ents[n].path; n++) {
			ents[n] = rejects[i].ents[n];
			if (ents[n].link && streq(ents[n].link, SENTINEL))
				ents[n].link = s.sentinel;
		}
		build_tar(ents, n, &tar);
		r = unpack_stream(&tar, s.layer, NULL, &got, NULL, &err);
		if (r >= 0)
			fail_msg("case %zu ('%s') was accepted", i, rejects[i].message);
		assert_non_null(err);
		assert_int_equal(err->kind, ZA_ERROR_PULL_FAILED);
		assert_int_equal(-r, err->code);
		assert_string_equal(err->message, rejects[i].message);
		assert_null(got);
		sandbox_check(&s);
		sandbox_release(&s);
		buf_release(&tar);
	}
}

static void test_caps(void **state) {
	_cleanup_free_ char *longpath = xmalloc(5001), *bigval = xmalloc(70001), *want = NULL;
	char names[130][16];
	struct ent big = { .path = "big", .data = "", .xattrs = { "user.big", NULL } };
	struct ent lp = { .path = NULL, .data = "" }, esc = { .path = NULL, .data = "" };
	_cleanup_free_ char *escpath = NULL, *escwant = NULL;
	struct ent three[] = { { .path = "a", .data = "" },
		               { .path = "b", .data = "" },
		               { .path = "c", .data = "" },
		               { .path = "d", .data = "" } };
	struct {
		struct ent *ents;
		size_t n;
		struct layer_unpack_limits limits;
		const char *message;
	} cases[] = {
		{ &lp, 1, {}, NULL },
		{ &big, 1, {}, "layer entry 'big': extended attribute 'user.big' is larger than 65536 bytes" },
		{ three, 4, { .max_entries = 3 }, "layer has more than 3 entries" },
		{ three, 4, { .max_bytes = 2048 }, "layer is larger than 2048 bytes uncompressed" },
		{ &esc, 1, {}, NULL },
	};

	if (!need_root())
		skip();
	memset(longpath, 'a', 5000);
	longpath[5000] = 0;
	lp.path = longpath;
	want = xasprintf("layer entry '%.800s...': path is longer than 4096 bytes", longpath);
	cases[0].message = want;
	/* an escape that would not fit before the cut */
	escpath = xasprintf("../%.796s\001b", longpath);
	escwant = xasprintf("layer entry '../%.796s...': path escapes the layer", longpath);
	esc.path = escpath;
	cases[4].message = escwant;
	memset(bigval, 'v', 70000);
	bigval[70000] = 0;
	big.xattrs[1] = bigval;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *got = NULL;
		struct buf tar = {};
		struct sandbox s;

		sandbox_init(&s);
		build_tar(cases[i].ents, cases[i].n, &tar);
		assert_true(unpack_stream(&tar, s.layer, &cases[i].limits, &got, NULL, &err) < 0);
		assert_non_null(err);
		assert_string_equal(err->message, cases[i].message);
		sandbox_check(&s);
		sandbox_release(&s);
		buf_release(&tar);
	}

	/* More than 128 xattrs: libarchive's entry holds them, the pax writer
	 * writes them all. */
	{
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *got = NULL;
		struct archive_entry *e = archive_entry_new();
		struct archive *a = archive_write_new();
		struct buf tar = {};
		struct sandbox s;

		assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
		assert_int_equal(archive_write_open(a, &tar, NULL, buf_write_cb, NULL), ARCHIVE_OK);
		archive_entry_copy_pathname(e, "many");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 0);
		for (size_t i = 0; i < ELEMENTSOF(names); i++) {
			(void)snprintf(names[i], sizeof(names[i]), "user.x%zu", i);
			archive_entry_xattr_add_entry(e, names[i], "v", 1);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_close(a), ARCHIVE_OK);
		archive_write_free(a);
		archive_entry_free(e);
		sandbox_init(&s);
		assert_true(unpack_stream(&tar, s.layer, NULL, &got, NULL, &err) < 0);
		assert_string_equal(err->message, "layer entry 'many': more than 128 extended attributes");
		sandbox_check(&s);
		sandbox_release(&s);
		buf_release(&tar);
	}
}

static void test_not_a_layer(void **state) {
	static const struct ent ents[] = { { .path = "a", .size = 100000 } };
	static const char *const prefixes[] = {
		"layer is empty",
		"layer is not a valid tar stream: ",
		"layer entry 'a': invalid tar data: ",
		"decompress layer: ",
	};

	if (!need_root())
		skip();
	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *got = NULL;
		struct buf tar = {}, stream = {};
		struct sandbox s;

		sandbox_init(&s);
		switch (i) {
		case 0:
			break;
		case 1:
			buf_add(&stream,
			        "this is not a tar archive, not even close, and it goes on for a while........", 78);
			for (int k = 0; k < 20; k++)
				buf_add(&stream, "garbage garbage garbage garbage ", 32);
			break;
		case 2: /* truncated in the middle of a file */
			build_tar(ents, ELEMENTSOF(ents), &tar);
			buf_add(&stream, tar.p, 512 * 3 + 1000);
			break;
		case 3: /* corrupt gzip */
			build_tar(ents, ELEMENTSOF(ents), &tar);
			compress_buf(&tar, COMP_GZIP, &stream);
			stream.len /= 2;
			break;
		}
		assert_true(unpack_stream(&stream, s.layer, NULL, &got, NULL, &err) < 0);
		assert_non_null(err);
		if (i == 3 ? !strstr(err->message, prefixes[i])
		           : !strneq(err->message, prefixes[i], strlen(prefixes[i])))
			fail_msg("case %zu: unexpected message '%s'", i, err->message);
		sandbox_check(&s);
		sandbox_release(&s);
		buf_release(&tar);
		buf_release(&stream);
	}
}

/* Go's archive/tar (and libarchive in a UTF-8 locale) writes non-ASCII
 * names as UTF-8 pax records; they must land byte for byte whatever the
 * agent's locale, as must names in no charset at all. */
static void test_utf8_names(void **state) {
	static const struct ent ents[] = {
		{ .path = "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac", .data = "utf-8" },
		{ .path = "latin1-\xe9", .data = "latin-1" },
		{ .path = "l\xc3\xa9", .type = AE_IFLNK, .link = "caf\xc3\xa9" },
		{ .path = "h\xc3\xa9", .hardlink = "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac" },
	};
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *got = NULL, *p = NULL;
	struct buf tar = {};
	struct sandbox s;
	char link[64];
	ssize_t n;

	if (!need_root())
		skip();
	sandbox_init(&s);
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		skip();
	build_tar(ents, ELEMENTSOF(ents), &tar);
	assert_non_null(setlocale(LC_CTYPE, "C"));
	if (unpack_stream(&tar, s.layer, NULL, &got, NULL, &err) < 0)
		fail_msg("unpack: %s", err->message);
	check_file(&s, "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac", "utf-8", 0644, 0, 0);
	check_file(&s, "latin1-\xe9", "latin-1", 0644, 0, 0);
	check_file(&s, "h\xc3\xa9", "utf-8", 0644, 0, 0);
	p = xasprintf("%s/l\xc3\xa9", s.layer);
	n = readlink(p, link, sizeof(link) - 1);
	assert_int_equal(n, 5);
	link[n] = 0;
	assert_string_equal(link, "caf\xc3\xa9");
	sandbox_check(&s);
	sandbox_release(&s);
	buf_release(&tar);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_plain),
		cmocka_unit_test(test_tree_gzip),
		cmocka_unit_test(test_tree_zstd),
		cmocka_unit_test(test_trailing_data),
		cmocka_unit_test(test_whiteout_same_layer),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_not_a_layer),
		cmocka_unit_test(test_utf8_names),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
