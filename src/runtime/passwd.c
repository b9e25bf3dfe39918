/* SPDX-License-Identifier: Apache-2.0 */
/* Follows runc's libcontainer/user GetExecUser (which dockerd uses): the
 * first matching line wins, numeric arguments are always ids, and the
 * primary gid leads the additional gids as in dockerd's getUser. */
#include "passwd.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/parse.h"
#include "basic/banned.h"

#define ID_MAX UINT32_C(2147483647)

static int open_walk(int rootfs_fd, const char *path, int flags) {
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ char *copy = xstrdup(path);
	char *p = copy, *slash;
	int fd;

	/* Without openat2: one component at a time, refusing symlinks and "..". */
	dfd = openat(rootfs_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	while ((slash = strchr(p, '/'))) {
		int next;

		*slash = '\0';
		if (streq(p, ".."))
			return -EXDEV;
		if (*p && !streq(p, ".")) {
			next = openat(dfd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next < 0)
				return errno == ENOTDIR ? -ELOOP : -errno;
			safe_close(dfd);
			dfd = next;
		}
		p = slash + 1;
	}
	if (streq(p, ".."))
		return -EXDEV;
	fd = openat(dfd, *p ? p : ".", flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

int rootfs_open(int rootfs_fd, const char *path, int flags) {
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	fd = (int)syscall(SYS_openat2, rootfs_fd, path, &how, sizeof(how));
	if (fd >= 0)
		return fd;
	if (errno != ENOSYS && errno != EPERM)
		return -errno;
	return open_walk(rootfs_fd, path, flags);
}

/* The file's content, or NULL (and 0) when it does not exist. */
static int read_etc(int rootfs_fd, const char *name, char **ret, struct za_error **reterr) {
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *path = xasprintf("etc/%s", name);
	struct stat st;
	int r;

	*ret = NULL;
	/* O_NONBLOCK: a FIFO planted as /etc/passwd must not hang us */
	fd = rootfs_open(rootfs_fd, path, O_RDONLY | O_NONBLOCK);
	if (fd == -ENOENT)
		return 0;
	if (fd == -ELOOP || fd == -EXDEV)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, -fd,
		                     "cannot read the image's /etc/%s: a symlink on the way is not followed", name);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, fd, "cannot open the image's /etc/%s: %m", name);
	if (fstat(fd, &st) < 0)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, errno, "cannot stat the image's /etc/%s: %m",
		                     name);
	if (!S_ISREG(st.st_mode))
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
		                     "the image's /etc/%s is not a regular file", name);
	r = read_full_fd(fd, PASSWD_MAX_FILE_SIZE, ret, NULL);
	if (r == -EFBIG)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "the image's /etc/%s is larger than %u MiB",
		                     name, PASSWD_MAX_FILE_SIZE >> 20);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, r, "cannot read the image's /etc/%s: %m", name);
	return 0;
}

/* Split one line into at most n ':'-separated fields (in place); returns the
 * number found. */
static size_t split_fields(char *line, char **f, size_t n) {
	size_t i = 0;

	f[i++] = line;
	for (char *p = line; *p && i < n; p++)
		if (*p == ':') {
			*p = '\0';
			f[i++] = p + 1;
		}
	return i;
}

/* Iterate the lines of buf (modified in place). */
static char *next_line(char **cursor) {
	char *line = *cursor, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*cursor = nl + 1;
	} else
		*cursor = line + strlen(line);
	return line;
}

/* A decimal id; ids past ID_MAX still count as numeric (and are refused
 * as out of range), as in runc. */
static bool parse_id(const char *s, uint64_t *ret) {
	return parse_uint64(s, ret) >= 0;
}

static bool member_of(const char *list, const char *user) {
	size_t l = strlen(user);

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (n == l && strneq(p, user, l))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

static bool user_matches(const char *name, uint64_t uid, const char *user_arg, bool numeric, uint64_t uid_num) {
	if (isempty(user_arg))
		return uid == 0; /* no user: root's entry, for its groups */
	return numeric ? uid == uid_num : streq(name, user_arg);
}

int passwd_resolve_text(const char *passwd_text, const char *group_text, const char *spec, struct passwd_user *ret,
                        struct za_error **reterr) {
	_cleanup_free_ char *passwd = passwd_text ? xstrdup(passwd_text) : NULL;
	_cleanup_free_ char *group = group_text ? xstrdup(group_text) : NULL;
	_cleanup_free_ char *user_arg = NULL, *group_arg = NULL, *matched = NULL;
	_cleanup_free_ uint32_t *sgids = NULL;
	_cleanup_(passwd_user_release) struct passwd_user u = {};
	uint64_t uid_num = 0, gid_num = 0;
	bool uid_numeric, gid_numeric = false;
	size_t n_sgids = 0;
	char *cursor, *line;

	spec = strempty(spec);
	/* "user:group:rest": the rest is ignored, like runc */
	user_arg = xstrndup(spec, strcspn(spec, ":"));
	if (spec[strlen(user_arg)] == ':') {
		const char *g = spec + strlen(user_arg) + 1;
		group_arg = xstrndup(g, strcspn(g, ":"));
	}
	uid_numeric = parse_id(user_arg, &uid_num);
	if (!isempty(group_arg))
		gid_numeric = parse_id(group_arg, &gid_num);

	cursor = passwd;
	while ((line = next_line(&cursor))) {
		char *f[7];
		uint64_t uid, gid;

		if (split_fields(line, f, 7) < 7 || !parse_id(f[2], &uid) || !parse_id(f[3], &gid) || uid > ID_MAX ||
		    gid > ID_MAX)
			continue;
		if (!user_matches(f[0], uid, user_arg, uid_numeric, uid_num))
			continue;
		matched = xstrdup(f[0]);
		u.uid = (uint32_t)uid;
		u.gid = (uint32_t)gid;
		u.home = xstrdup(f[5]);
		break;
	}
	if (!matched && !isempty(user_arg)) {
		if (!uid_numeric)
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, ENOENT,
			                     "user '%s' not found in the image's /etc/passwd", user_arg);
		if (uid_num > ID_MAX)
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, ERANGE,
			                     "user id %s is out of range (0 to %" PRIu32 ")", user_arg, ID_MAX);
		u.uid = (uint32_t)uid_num;
	}

	if (!isempty(group_arg) || matched) {
		bool found = false;

		cursor = group;
		while ((line = next_line(&cursor))) {
			char *f[4];
			uint64_t gid;

			if (split_fields(line, f, 4) < 4 || !parse_id(f[2], &gid) || gid > ID_MAX)
				continue;
			if (isempty(group_arg)) {
				/* implicit form: every group listing the user */
				if (member_of(f[3], matched)) {
					sgids = xrealloc(sgids, (n_sgids + 1) * sizeof(uint32_t));
					sgids[n_sgids++] = (uint32_t)gid;
				}
				continue;
			}
			if (gid_numeric ? gid == gid_num : streq(f[0], group_arg)) {
				u.gid = (uint32_t)gid;
				found = true;
				break;
			}
		}
		if (!isempty(group_arg) && !found) {
			if (!gid_numeric)
				return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, ENOENT,
				                     "group '%s' not found in the image's /etc/group", group_arg);
			if (gid_num > ID_MAX)
				return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, ERANGE,
				                     "group id %s is out of range (0 to %" PRIu32 ")", group_arg,
				                     ID_MAX);
			u.gid = (uint32_t)gid_num;
		}
	}

	/* the primary gid leads, as in dockerd */
	u.additional_gids = xnew(uint32_t, n_sgids + 1);
	u.additional_gids[u.n_additional_gids++] = u.gid;
	for (size_t i = 0; i < n_sgids; i++)
		u.additional_gids[u.n_additional_gids++] = sgids[i];
	*ret = u;
	u = (struct passwd_user){};
	return 0;
}

int passwd_resolve_user(int rootfs_fd, const char *spec, struct passwd_user *ret, struct za_error **reterr) {
	_cleanup_free_ char *passwd = NULL, *group = NULL;
	int r;

	r = read_etc(rootfs_fd, "passwd", &passwd, reterr);
	if (r < 0)
		return r;
	r = read_etc(rootfs_fd, "group", &group, reterr);
	if (r < 0)
		return r;
	return passwd_resolve_text(passwd, group, spec, ret, reterr);
}

void passwd_user_release(struct passwd_user *u) {
	if (!u)
		return;
	free(u->additional_gids);
	free(u->home);
	u->additional_gids = NULL;
	u->n_additional_gids = 0;
	u->home = NULL;
}
