/* SPDX-License-Identifier: Apache-2.0 */
/* The WASI preview 1 host's path_* calls (and the escapes they refuse),
 * fd_readdir, poll_oneoff and the sock_* calls. */
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "wasi-fixture.h"

static uint32_t path2(struct fx *f,
                      uint32_t (*fn)(wasi_ctx *, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t),
                      const char *from, const char *to) {
	uint32_t n1 = put(f, P_PATH, from), n2 = put(f, P_PATH2, to);

	return fn(f->ctx, PRE, P_PATH, n1, PRE, P_PATH2, n2);
}

static uint32_t do_link(struct fx *f, uint32_t lookup, const char *from, const char *to) {
	uint32_t n1 = put(f, P_PATH, from), n2 = put(f, P_PATH2, to);

	return W(path_link)(f->ctx, PRE, lookup, P_PATH, n1, PRE, P_PATH2, n2);
}

static uint32_t do_symlink(struct fx *f, const char *contents, const char *at) {
	uint32_t n1 = put(f, P_PATH, contents), n2 = put(f, P_PATH2, at);

	return W(path_symlink)(f->ctx, P_PATH, n1, PRE, P_PATH2, n2);
}

static void test_directories(void **state) {
	struct fx *f = *state;

	assert_int_equal(path_call(f, W(path_create_directory), "d"), 0);
	assert_int_equal(path_call(f, W(path_create_directory), "d/e/"), 0);
	assert_int_equal(path_call(f, W(path_create_directory), "d"), WASI_EEXIST);
	assert_int_equal(path_call(f, W(path_create_directory), "x/y"), WASI_ENOENT);
	assert_int_equal(filetype_at(f, 0, "d/e"), WASI_FILETYPE_DIRECTORY);
	assert_int_equal(path_call(f, W(path_remove_directory), "d"), WASI_ENOTEMPTY);
	assert_int_equal(path_call(f, W(path_unlink_file), "d/e"), WASI_EISDIR);
	assert_int_equal(path_call(f, W(path_remove_directory), "d/e/"), 0);
	assert_int_equal(path_call(f, W(path_remove_directory), "d"), 0);
	assert_false(host_exists(f, "d"));
	host_file(f, "file", "");
	assert_int_equal(path_call(f, W(path_remove_directory), "file"), WASI_ENOTDIR);
	assert_int_equal(path_call(f, W(path_unlink_file), "file/"), WASI_ENOTDIR);
	assert_int_equal(path_call(f, W(path_unlink_file), "file"), 0);
	assert_int_equal(path_call(f, W(path_unlink_file), "file"), WASI_ENOENT);
	assert_int_equal(path_call(f, W(path_unlink_file), ""), WASI_ENOENT);
}

static void test_rename(void **state) {
	struct fx *f = *state;

	host_file(f, "a", "A");
	assert_int_equal(path_call(f, W(path_create_directory), "dir"), 0);
	assert_int_equal(path2(f, W(path_rename), "a", "dir/b"), 0);
	assert_false(host_exists(f, "a"));
	assert_true(host_exists(f, "dir/b"));
	assert_int_equal(path2(f, W(path_rename), "a", "c"), WASI_ENOENT);
	assert_int_equal(path2(f, W(path_rename), "dir/b/", "c"), WASI_ENOTDIR);
	assert_int_equal(path_call(f, W(path_create_directory), "empty"), 0);
	assert_int_equal(path2(f, W(path_rename), "dir/b", "empty"), WASI_EISDIR);
	assert_int_equal(path2(f, W(path_rename), "dir", "dir2/"), 0);
	assert_int_equal(path2(f, W(path_rename), "dir2/b", "../out"), WASI_EPERM);
	assert_int_equal(path2(f, W(path_rename), "dir2/b", "/tmp/out"), WASI_EPERM);
	assert_true(host_exists(f, "dir2/b"));
}

static void test_link(void **state) {
	struct fx *f = *state;

	host_file(f, "file", "x");
	assert_int_equal(do_link(f, 0, "file", "hard"), 0);
	assert_int_equal(W(path_filestat_get)(f->ctx, PRE, 0, P_PATH2, 4, P_STAT), 0);
	assert_int_equal(u64_at(f, P_STAT + 24), 2);
	assert_int_equal(do_link(f, 0, "file", "hard"), WASI_EEXIST);
	assert_int_equal(do_link(f, 0, "file", "new/"), WASI_ENOENT);
	assert_int_equal(path_call(f, W(path_create_directory), "dir"), 0);
	assert_int_equal(do_link(f, 0, "dir", "dirlink"), WASI_EPERM);
	/* following: through a symlink inside, never one out */
	host_symlink(f, "file", "sym");
	assert_int_equal(do_link(f, WASI_LOOKUP_SYMLINK_FOLLOW, "sym", "viasym"), 0);
	assert_int_equal(filetype_at(f, 0, "viasym"), WASI_FILETYPE_REGULAR_FILE);
	host_symlink(f, "../secret", "out");
	assert_int_equal(do_link(f, WASI_LOOKUP_SYMLINK_FOLLOW, "out", "stolen"), WASI_EPERM);
	assert_int_equal(do_link(f, 0, "../secret", "stolen"), WASI_EPERM);
	assert_false(host_exists(f, "stolen"));
	/* without following, the link itself is linked */
	assert_int_equal(do_link(f, 0, "out", "out2"), 0);
	assert_int_equal(filetype_at(f, 0, "out2"), WASI_FILETYPE_SYMBOLIC_LINK);
}

static void test_symlink_readlink(void **state) {
	struct fx *f = *state;
	uint32_t n;

	assert_int_equal(do_symlink(f, "target/file", "ln"), 0);
	n = put(f, P_PATH, "ln");
	assert_int_equal(W(path_readlink)(f->ctx, PRE, P_PATH, n, P_BUF, 64, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 11);
	assert_memory_equal(f->mem.data + P_BUF, "target/file", 11);
	/* a short buffer gets the start, never more */
	f->mem.data[P_BUF + 4] = 0x55;
	assert_int_equal(W(path_readlink)(f->ctx, PRE, P_PATH, n, P_BUF, 4, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 4);
	assert_int_equal(f->mem.data[P_BUF + 4], 0x55);
	assert_int_equal(W(path_readlink)(f->ctx, PRE, P_PATH, n, MEM_SIZE - 2, 4, P_RET), WASI_EFAULT);
	assert_int_equal(W(path_readlink)(f->ctx, PRE, P_PATH, n, P_BUF, 4, MEM_SIZE), WASI_EFAULT);
	host_file(f, "plain", "");
	n = put(f, P_PATH, "plain");
	assert_int_equal(W(path_readlink)(f->ctx, PRE, P_PATH, n, P_BUF, 64, P_RET), WASI_EINVAL);
	assert_int_equal(do_symlink(f, "x", "ln"), WASI_EEXIST);
	assert_int_equal(do_symlink(f, "x", "dangling/"), WASI_ENOENT);
	assert_int_equal(do_symlink(f, "/etc/passwd", "abs"), WASI_EPERM);
	assert_false(host_exists(f, "abs"));
	assert_int_equal(filetype_at(f, 0, "ln"), WASI_FILETYPE_SYMBOLIC_LINK);
	assert_int_equal(path_call(f, W(path_unlink_file), "ln"), 0);
}

static void test_path_filestat(void **state) {
	struct fx *f = *state;
	struct stat st;
	char p[256];

	host_file(f, "file", "12345");
	host_symlink(f, "file", "ln");
	assert_int_equal(filetype_at(f, 0, "ln"), WASI_FILETYPE_SYMBOLIC_LINK);
	assert_int_equal(filetype_at(f, WASI_LOOKUP_SYMLINK_FOLLOW, "ln"), WASI_FILETYPE_REGULAR_FILE);
	assert_int_equal(u64_at(f, P_STAT + 32), 5);
	host_path(f, "file", p, sizeof(p));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(u64_at(f, P_STAT + 8), st.st_ino);
	assert_int_equal(u64_at(f, P_STAT + 0), st.st_dev);
	assert_int_equal(filetype_at(f, 0, "."), WASI_FILETYPE_DIRECTORY);
	assert_int_equal(filetype_at(f, 0, "file/"), 0xff);
	assert_int_equal(W(path_filestat_get)(f->ctx, PRE, 0, P_PATH, put(f, P_PATH, "file"), MEM_SIZE - 8),
	                 WASI_EFAULT);
}

static void test_escape_dotdot(void **state) {
	struct fx *f = *state;
	uint32_t fd;

	assert_int_equal(path_call(f, W(path_create_directory), "sub"), 0);
	assert_int_equal(open_file(f, "../secret", 0, &fd), WASI_EPERM);
	assert_int_equal(open_file(f, "sub/../../secret", 0, &fd), WASI_EPERM);
	assert_int_equal(open_at(f, PRE, 0, "..", WASI_OFLAG_DIRECTORY, 0, 0, &fd), WASI_EPERM);
	assert_int_equal(filetype_at(f, 0, "../secret"), 0xff);
	assert_int_equal(path_call(f, W(path_unlink_file), "../secret"), WASI_EPERM);
	assert_int_equal(path_call(f, W(path_remove_directory), "sub/../.."), WASI_EPERM);
	assert_int_equal(path_call(f, W(path_create_directory), "../made"), WASI_EPERM);
	/* `..` that stays inside is fine */
	assert_int_equal(open_at(f, PRE, 0, "sub/..", WASI_OFLAG_DIRECTORY, WASI_RIGHTS_DIR_BASE, 0, &fd), 0);
	assert_int_equal(open_file(f, "sub/./../sub/../new", WASI_OFLAG_CREAT, &fd), 0);
	assert_true(host_exists(f, "new"));
}

static void test_escape_absolute(void **state) {
	struct fx *f = *state;
	uint32_t fd;

	assert_int_equal(open_file(f, "/etc/passwd", 0, &fd), WASI_EPERM);
	assert_int_equal(open_at(f, PRE, 0, "/", WASI_OFLAG_DIRECTORY, 0, 0, &fd), WASI_EPERM);
	assert_int_equal(filetype_at(f, WASI_LOOKUP_SYMLINK_FOLLOW, "/etc/passwd"), 0xff);
	assert_int_equal(path_call(f, W(path_unlink_file), "/tmp/x"), WASI_EPERM);
	assert_int_equal(path_call(f, W(path_create_directory), "/tmp/x"), WASI_EPERM);
}

static void test_escape_absolute_symlink(void **state) {
	struct fx *f = *state;
	uint32_t fd;

	host_symlink(f, "/etc", "abs");
	assert_int_equal(open_file(f, "abs/passwd", 0, &fd), WASI_EPERM);
	assert_int_equal(open_at(f, PRE, WASI_LOOKUP_SYMLINK_FOLLOW, "abs", WASI_OFLAG_DIRECTORY, 0, 0, &fd),
	                 WASI_EPERM);
	assert_int_equal(filetype_at(f, WASI_LOOKUP_SYMLINK_FOLLOW, "abs"), 0xff);
	assert_int_equal(filetype_at(f, 0, "abs/"), 0xff);
	assert_int_equal(filetype_at(f, 0, "abs"), WASI_FILETYPE_SYMBOLIC_LINK);
	assert_int_equal(path_call(f, W(path_unlink_file), "abs"), 0);
	assert_true(access("/etc", F_OK) == 0);
}

static void test_escape_relative_symlinks(void **state) {
	struct fx *f = *state;
	uint32_t fd, n;

	host_symlink(f, "..", "up");
	host_symlink(f, "../secret", "sec");
	assert_int_equal(path_call(f, W(path_create_directory), "in"), 0);
	host_symlink(f, "../../secret", "in/deep");
	assert_int_equal(open_file(f, "up/secret", 0, &fd), WASI_EPERM);
	assert_int_equal(open_file(f, "sec", 0, &fd), WASI_EPERM);
	assert_int_equal(open_file(f, "in/deep", 0, &fd), WASI_EPERM);
	assert_int_equal(open_file(f, "sec", WASI_OFLAG_CREAT | WASI_OFLAG_TRUNC, &fd), WASI_EPERM);
	assert_int_equal(path_call(f, W(path_create_directory), "up/made"), WASI_EPERM);
	assert_int_equal(path_call(f, W(path_unlink_file), "up/secret"), WASI_EPERM);
	assert_int_equal(W(path_filestat_set_times)(f->ctx, PRE, WASI_LOOKUP_SYMLINK_FOLLOW, P_PATH,
	                                            put(f, P_PATH, "sec"), 0, 0, WASI_FSTFLAG_MTIM),
	                 WASI_EPERM);
	n = put(f, P_PATH, "up/");
	assert_int_equal(W(path_readlink)(f->ctx, PRE, P_PATH, n, P_BUF, 64, P_RET), WASI_EPERM);
	/* the links themselves are ordinary files to remove */
	assert_int_equal(path_call(f, W(path_unlink_file), "up"), 0);
	assert_int_equal(path_call(f, W(path_unlink_file), "sec"), 0);
	assert_true(access(f->dir, F_OK) == 0);
}

static void test_symlink_loop_nofollow(void **state) {
	struct fx *f = *state;
	uint32_t fd;

	host_symlink(f, "loop", "loop");
	host_symlink(f, "b", "a");
	host_symlink(f, "a", "b");
	host_file(f, "file", "content");
	host_symlink(f, "file", "ln");
	assert_int_equal(open_file(f, "loop", 0, &fd), WASI_ELOOP);
	assert_int_equal(open_file(f, "a", 0, &fd), WASI_ELOOP);
	assert_int_equal(open_file(f, "a/x", WASI_OFLAG_CREAT, &fd), WASI_ELOOP);
	assert_int_equal(filetype_at(f, WASI_LOOKUP_SYMLINK_FOLLOW, "loop"), 0xff);
	/* without symlink_follow the last component is not followed */
	assert_int_equal(open_at(f, PRE, 0, "ln", 0, WASI_RIGHTS_FILE_BASE, 0, &fd), WASI_ELOOP);
	assert_int_equal(open_at(f, PRE, WASI_LOOKUP_SYMLINK_FOLLOW, "ln", 0, WASI_RIGHTS_FILE_BASE, 0, &fd), 0);
	iov1(f, 7);
	assert_int_equal(W(fd_read)(f->ctx, fd, P_IOV, 1, P_RET), 0);
	assert_memory_equal(f->mem.data + P_BUF, "content", 7);
}

/* Read a whole directory with `bufsize`-byte calls; the names, sorted. */
static char *read_names(struct fx *f, uint32_t fd, uint32_t bufsize, unsigned *ret_n) {
	char names[4096] = "";
	uint64_t cookie = 0;
	unsigned n = 0;

	for (unsigned calls = 0;; calls++) {
		uint32_t used, off = 0;
		bool progress = false;

		assert_true(calls < 1000);
		assert_int_equal(W(fd_readdir)(f->ctx, fd, P_BUF, bufsize, cookie, P_RET), 0);
		used = u32_at(f, P_RET);
		assert_true(used <= bufsize);
		while (off + WASI_DIRENT_SIZE <= used) {
			const uint8_t *d = f->mem.data + P_BUF + off;
			uint32_t namlen = wasi_get_u32(d + 16);

			if (off + WASI_DIRENT_SIZE + namlen > used)
				break;
			strncat(names, (const char *)d + WASI_DIRENT_SIZE, namlen);
			strncat(names, " ", 2);
			cookie = wasi_get_u64(d);
			off += WASI_DIRENT_SIZE + namlen;
			n++;
			progress = true;
		}
		if (used < bufsize)
			break;
		if (!progress) {
			/* one entry larger than the buffer: the caller must grow */
			*ret_n = n;
			return NULL;
		}
	}
	*ret_n = n;
	return xstrdup(names);
}

static void test_readdir(void **state) {
	struct fx *f = *state;
	_cleanup_free_ char *all = NULL, *small = NULL;
	uint32_t dir, n1, n2, used;
	uint8_t canary[8];
	char p[256];
	struct stat st;

	host_file(f, "alpha", "");
	host_file(f, "a-rather-long-file-name.txt", "");
	assert_int_equal(path_call(f, W(path_create_directory), "sub"), 0);
	host_symlink(f, "alpha", "ln");
	assert_int_equal(open_at(f, PRE, 0, ".", WASI_OFLAG_DIRECTORY, WASI_RIGHTS_DIR_BASE, 0, &dir), 0);

	all = read_names(f, dir, 4096, &n1);
	assert_non_null(all);
	assert_int_equal(n1, 6); /* . .. alpha a-rather-... sub ln */
	assert_non_null(strstr(all, "alpha "));
	assert_non_null(strstr(all, ". "));
	/* small buffers: the same entries, each once, cookie by cookie */
	small = read_names(f, dir, 60, &n2);
	assert_non_null(small);
	assert_int_equal(n2, n1);
	assert_string_equal(small, all);

	/* the types and inode numbers */
	assert_int_equal(W(fd_readdir)(f->ctx, dir, P_BUF, 4096, 0, P_RET), 0);
	used = u32_at(f, P_RET);
	host_path(f, "alpha", p, sizeof(p));
	assert_int_equal(stat(p, &st), 0);
	for (uint32_t off = 0; off < used;) {
		const uint8_t *d = f->mem.data + P_BUF + off;
		uint32_t namlen = wasi_get_u32(d + 16);
		const char *name = (const char *)d + WASI_DIRENT_SIZE;

		if (namlen == 5 && strneq(name, "alpha", 5)) {
			assert_int_equal(d[20], WASI_FILETYPE_REGULAR_FILE);
			assert_int_equal(wasi_get_u64(d + 8), st.st_ino);
		} else if (namlen == 3 && strneq(name, "sub", 3))
			assert_int_equal(d[20], WASI_FILETYPE_DIRECTORY);
		else if (namlen == 2 && strneq(name, "ln", 2))
			assert_int_equal(d[20], WASI_FILETYPE_SYMBOLIC_LINK);
		off += WASI_DIRENT_SIZE + namlen;
	}

	/* a buffer smaller than one entry: filled, not overrun */
	memset(canary, 0xa5, sizeof(canary));
	memcpy(f->mem.data + P_BUF + 10, canary, sizeof(canary));
	assert_int_equal(W(fd_readdir)(f->ctx, dir, P_BUF, 10, 0, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 10);
	assert_memory_equal(f->mem.data + P_BUF + 10, canary, sizeof(canary));
	/* past the end: nothing */
	assert_int_equal(W(fd_readdir)(f->ctx, dir, P_BUF, 4096, 1000, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 0);

	/* new entries show up when read from the start again */
	host_file(f, "late", "");
	_cleanup_free_ char *again = read_names(f, dir, 4096, &n2);
	assert_non_null(again);
	assert_non_null(strstr(again, "late "));
	assert_int_equal(n2, n1 + 1);

	assert_int_equal(W(fd_readdir)(f->ctx, dir, MEM_SIZE - 4, 8, 0, P_RET), WASI_EFAULT);
	assert_int_equal(W(fd_readdir)(f->ctx, 1, P_BUF, 64, 0, P_RET), WASI_ENOTCAPABLE);
	/* the preopen itself can be listed */
	assert_int_equal(W(fd_readdir)(f->ctx, PRE, P_BUF, 4096, 0, P_RET), 0);
	assert_true(u32_at(f, P_RET) > 0);
}

static void put_sub_clock(struct fx *f, uint32_t i, uint64_t userdata, uint32_t clock, uint64_t timeout,
                          uint16_t flags) {
	uint8_t *p = f->mem.data + P_SUBS + i * WASI_SUBSCRIPTION_SIZE;

	memset(p, 0, WASI_SUBSCRIPTION_SIZE);
	wasi_put_u64(p, userdata);
	p[8] = WASI_EVENTTYPE_CLOCK;
	wasi_put_u32(p + 16, clock);
	wasi_put_u64(p + 24, timeout);
	wasi_put_u16(p + 40, flags);
}

static void put_sub_fd(struct fx *f, uint32_t i, uint64_t userdata, uint8_t type, uint32_t fd) {
	uint8_t *p = f->mem.data + P_SUBS + i * WASI_SUBSCRIPTION_SIZE;

	memset(p, 0, WASI_SUBSCRIPTION_SIZE);
	wasi_put_u64(p, userdata);
	p[8] = type;
	wasi_put_u32(p + 16, fd);
}

static uint64_t mono_ns(void) {
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_poll_clock(void **state) {
	struct fx *f = *state;
	uint64_t t0 = mono_ns();
	const uint8_t *ev = f->mem.data + P_EVTS;

	put_sub_clock(f, 0, 7, WASI_CLOCK_MONOTONIC, 20000000, 0); /* 20 ms */
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 1, P_RET), 0);
	assert_true(mono_ns() - t0 >= 20000000);
	assert_int_equal(u32_at(f, P_RET), 1);
	assert_int_equal(wasi_get_u64(ev), 7);
	assert_int_equal(wasi_get_u16(ev + 8), 0);
	assert_int_equal(ev[10], WASI_EVENTTYPE_CLOCK);

	/* absolute realtime in the past, and a long one: only the first fires */
	put_sub_clock(f, 0, 1, WASI_CLOCK_REALTIME, 1000, WASI_SUBCLOCK_ABSTIME);
	put_sub_clock(f, 1, 2, WASI_CLOCK_MONOTONIC, UINT64_C(60) * 1000000000u, 0);
	t0 = mono_ns();
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 2, P_RET), 0);
	assert_true(mono_ns() - t0 < UINT64_C(5) * 1000000000u);
	assert_int_equal(u32_at(f, P_RET), 1);
	assert_int_equal(wasi_get_u64(ev), 1);

	/* an absolute monotonic deadline 10 ms ahead */
	put_sub_clock(f, 0, 3, WASI_CLOCK_MONOTONIC, mono_ns() + 10000000, WASI_SUBCLOCK_ABSTIME);
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 1, P_RET), 0);
	assert_int_equal(wasi_get_u64(ev), 3);

	put_sub_clock(f, 0, 4, WASI_CLOCK_PROCESS_CPUTIME, 1, 0);
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 1, P_RET), 0);
	assert_int_equal(wasi_get_u16(ev + 8), WASI_EINVAL);

	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 0, P_RET), WASI_EINVAL);
	assert_int_equal(W(poll_oneoff)(f->ctx, MEM_SIZE - 40, P_EVTS, 1, P_RET), WASI_EFAULT);
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, MEM_SIZE - 16, 1, P_RET), WASI_EFAULT);
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 0x10000000, P_RET), WASI_EINVAL);
	f->mem.data[P_SUBS + 8] = 9;
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 1, P_RET), WASI_EINVAL);
}

static void test_poll_fds(void **state) {
	struct fx *f = *state;
	const uint8_t *ev = f->mem.data + P_EVTS;
	uint32_t fd;

	/* stdin has nothing yet, stdout has room: only the write is ready */
	put_sub_fd(f, 0, 10, WASI_EVENTTYPE_FD_READ, 0);
	put_sub_fd(f, 1, 11, WASI_EVENTTYPE_FD_WRITE, 1);
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 2, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 1);
	assert_int_equal(wasi_get_u64(ev), 11);
	assert_int_equal(ev[10], WASI_EVENTTYPE_FD_WRITE);

	assert_int_equal(write(f->in[1], "abc", 3), 3);
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 1, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 1);
	assert_int_equal(wasi_get_u64(ev), 10);
	assert_int_equal(wasi_get_u64(ev + 16), 3);

	/* a closed fd: an event carrying badf; a regular file: ready at once */
	host_file(f, "file", "0123456789");
	assert_int_equal(open_file(f, "file", 0, &fd), 0);
	put_sub_fd(f, 0, 20, WASI_EVENTTYPE_FD_READ, 99);
	put_sub_fd(f, 1, 21, WASI_EVENTTYPE_FD_READ, fd);
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 2, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 2);
	assert_int_equal(wasi_get_u16(ev + 8), WASI_EBADF);
	assert_int_equal(wasi_get_u64(ev + WASI_EVENT_SIZE + 16), 10);

	/* a hung-up pipe */
	close(f->in[1]);
	f->in[1] = -1;
	assert_int_equal(W(fd_read)(f->ctx, 0, P_IOV, 0, P_RET), 0);
	iov1(f, 3);
	assert_int_equal(W(fd_read)(f->ctx, 0, P_IOV, 1, P_RET), 0);
	put_sub_fd(f, 0, 30, WASI_EVENTTYPE_FD_READ, 0);
	assert_int_equal(W(poll_oneoff)(f->ctx, P_SUBS, P_EVTS, 1, P_RET), 0);
	assert_int_equal(wasi_get_u16(ev + 24), WASI_EVENT_FD_READWRITE_HANGUP);
}

static void test_sock_not_socket(void **state) {
	struct fx *f = *state;

	assert_int_equal(W(sock_shutdown)(f->ctx, 1, WASI_SDFLAG_RD), WASI_ENOTSOCK);
	assert_int_equal(W(sock_shutdown)(f->ctx, PRE, WASI_SDFLAG_WR), WASI_ENOTSOCK);
	assert_int_equal(W(sock_shutdown)(f->ctx, 99, WASI_SDFLAG_RD), WASI_EBADF);
	assert_int_equal(W(sock_send)(f->ctx, 1, P_IOV, 0, 0, P_RET), WASI_ENOTSOCK);
	assert_int_equal(W(sock_recv)(f->ctx, 0, P_IOV, 0, 0, P_RET, P_RET2), WASI_ENOTSOCK);
	assert_int_equal(W(sock_accept)(f->ctx, 0, 0, P_RET), WASI_ENOTSOCK);
	assert_int_equal(W(sock_accept)(f->ctx, 98, 0, P_RET), WASI_EBADF);
}

/* A second context whose stdin is host fd `in` and stdout `out`. */
static wasi_ctx *swap_ctx(struct fx *f, int in, int out) {
	struct wasi_config cfg = { .stdio = { in, out, -1 } };
	wasi_ctx *orig = f->ctx;

	assert_int_equal(wasi_ctx_new(&cfg, &f->ctx, NULL), 0);
	wasi_ctx_set_memory(f->ctx, &f->mem);
	return orig;
}

static void test_sock_send_recv(void **state) {
	struct fx *f = *state;
	wasi_ctx *orig;
	char buf[8] = {};
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	orig = swap_ctx(f, sp[0], -1);
	assert_int_equal(W(fd_fdstat_get)(f->ctx, 0, P_STAT), 0);
	assert_int_equal(f->mem.data[P_STAT], WASI_FILETYPE_SOCKET_STREAM);
	iov1(f, put(f, P_BUF, "ping"));
	assert_int_equal(W(sock_send)(f->ctx, 0, P_IOV, 1, 0, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 4);
	assert_int_equal(W(sock_send)(f->ctx, 0, P_IOV, 1, 1, P_RET), WASI_EINVAL);
	assert_int_equal(read(sp[1], buf, sizeof(buf)), 4);
	assert_string_equal(buf, "ping");

	assert_int_equal(write(sp[1], "pong", 4), 4);
	iov1(f, 8);
	assert_int_equal(W(sock_recv)(f->ctx, 0, P_IOV, 1, WASI_RIFLAG_RECV_PEEK, P_RET, P_RET2), 0);
	assert_int_equal(u32_at(f, P_RET), 4);
	assert_int_equal(W(sock_recv)(f->ctx, 0, P_IOV, 1, 0, P_RET, P_RET2), 0);
	assert_int_equal(u32_at(f, P_RET), 4);
	assert_int_equal(wasi_get_u16(f->mem.data + P_RET2), 0);
	assert_memory_equal(f->mem.data + P_BUF, "pong", 4);
	assert_int_equal(W(sock_recv)(f->ctx, 0, P_IOV, 1, 4, P_RET, P_RET2), WASI_EINVAL);
	assert_int_equal(W(sock_recv)(f->ctx, 0, P_IOV, 1, 0, P_RET, MEM_SIZE - 1), WASI_EFAULT);

	assert_int_equal(W(sock_shutdown)(f->ctx, 0, 0), WASI_EINVAL);
	assert_int_equal(W(sock_shutdown)(f->ctx, 0, 4), WASI_EINVAL);
	assert_int_equal(W(sock_shutdown)(f->ctx, 0, WASI_SDFLAG_WR), 0);
	assert_int_equal(read(sp[1], buf, sizeof(buf)), 0); /* EOF */

	wasi_ctx_free(f->ctx);
	f->ctx = orig;
	close(sp[0]);
	close(sp[1]);
}

static void test_sock_accept(void **state) {
	struct fx *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	wasi_ctx *orig;
	int lsn, cli;
	uint32_t fd;

	lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", f->dir);
	assert_int_equal(bind(lsn, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lsn, 1), 0);
	orig = swap_ctx(f, -1, lsn);

	cli = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(W(sock_accept)(f->ctx, 1, 0x10, P_RET), WASI_EINVAL);
	assert_int_equal(W(sock_accept)(f->ctx, 1, WASI_FDFLAG_NONBLOCK, MEM_SIZE - 2), WASI_EFAULT);
	assert_int_equal(W(sock_accept)(f->ctx, 1, WASI_FDFLAG_NONBLOCK, P_RET), 0);
	fd = u32_at(f, P_RET);
	assert_int_equal(fd, 3);
	assert_int_equal(W(fd_fdstat_get)(f->ctx, fd, P_STAT), 0);
	assert_int_equal(f->mem.data[P_STAT], WASI_FILETYPE_SOCKET_STREAM);
	assert_int_equal(wasi_get_u16(f->mem.data + P_STAT + 2), WASI_FDFLAG_NONBLOCK);
	assert_int_equal(u64_at(f, P_STAT + 8) & WASI_RIGHT_SOCK_ACCEPT, 0);
	/* the flags are the new fd's; the listening one blocks unless told */
	assert_int_equal(W(fd_fdstat_set_flags)(f->ctx, 1, WASI_FDFLAG_NONBLOCK), 0);
	assert_int_equal(W(sock_accept)(f->ctx, 1, 0, P_RET), WASI_EAGAIN);
	iov1(f, 8);
	assert_int_equal(W(sock_recv)(f->ctx, fd, P_IOV, 1, 0, P_RET, P_RET2), WASI_EAGAIN);
	assert_int_equal(write(cli, "hi", 2), 2);
	assert_int_equal(W(fd_read)(f->ctx, fd, P_IOV, 1, P_RET), 0);
	assert_int_equal(u32_at(f, P_RET), 2);
	assert_int_equal(W(sock_shutdown)(f->ctx, fd, WASI_SDFLAG_RD | WASI_SDFLAG_WR), 0);

	wasi_ctx_free(f->ctx);
	f->ctx = orig;
	close(cli);
	close(lsn);
}

int main(void) {
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_directories),
		T(test_rename),
		T(test_link),
		T(test_symlink_readlink),
		T(test_path_filestat),
		T(test_escape_dotdot),
		T(test_escape_absolute),
		T(test_escape_absolute_symlink),
		T(test_escape_relative_symlinks),
		T(test_symlink_loop_nofollow),
		T(test_readdir),
		T(test_poll_clock),
		T(test_poll_fds),
		T(test_sock_not_socket),
		T(test_sock_send_recv),
		T(test_sock_accept),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
