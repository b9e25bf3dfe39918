/* SPDX-License-Identifier: Apache-2.0 */
/* One layer entry, confined beneath the layer directory: the path is
 * normalized and refused if absolute or holding '..', the parent resolved
 * with openat2(RESOLVE_BENEATH) so a symlink may only lead to a place beneath
 * the layer, the entry created with *at() calls on that parent. Metadata in
 * the order that keeps it: owner, mode (chown clears setuid), xattrs (chown
 * clears security.capability), times (directories' last of all). */
#include "image/unpack.h"
#include "image/unpack-internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/banned.h"

#define OPENAT2_RETRIES  32
#define WHITEOUT_PREFIX  ".wh."
#define WHITEOUT_META    ".wh..wh."
#define WHITEOUT_OPAQUE  ".wh..wh..opq"
#define OVERLAY_XATTR    "trusted.overlay."
#define OVERLAY_OPAQUE   "trusted.overlay.opaque"
#define KIND             ZA_ERROR_PULL_FAILED
#define PROC_FD_PATH_MAX (sizeof("/proc/self/fd//") + 3 * sizeof(int) + NAME_MAX + 1)

/* A place to apply metadata: `name` in directory `pfd`, or with pfd ==
 * AT_FDCWD a /proc/self/fd path that must be followed (the layer root). */
struct target {
	int pfd;
	const char *name;
	bool follow;
};

/* Entry names come from the layer: show them bounded and printable. */
const char *unpack_shown(const char *s, char buf[static UNPACK_SHOWN_SIZE]) {
	size_t j = 0;

	for (size_t i = 0; s && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		bool escape = c < 0x20 || c == 0x7f || c == '\\';

		if (j + (escape ? 4 : 1) > UNPACK_SHOWN_MAX * 4) { /* room left for "..." and NUL */
			memcpy(buf + j, "...", 3);
			j += 3;
			break;
		}
		if (escape) {
			(void)snprintf(buf + j, 5, "\\x%02x", c);
			j += 4;
		} else
			buf[j++] = (char)c;
	}
	buf[j] = 0;
	return buf;
}

int unpack_entry_error(struct za_error **reterr, const char *entry, int code, const char *fmt, ...) {
	_cleanup_free_ char *msg = NULL;
	char buf[UNPACK_SHOWN_SIZE];
	va_list ap;

	errno = abs(code); /* for %m */
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return za_error_make(reterr, KIND, code, "layer entry '%s': %s", unpack_shown(entry, buf), msg);
}

/* "./a//b/" -> "a/b"; "" is the layer root. Rejects absolute paths and '..'
 * components, naming which rule failed in *ret_why. */
static int normalize_path(const char *in, char **ret, const char **ret_why) {
	_cleanup_free_ char *out = NULL;
	size_t len, n = 0;
	int depth = 0;
	bool dotdot = false;

	if (isempty(in)) {
		*ret_why = "is empty";
		return -EINVAL;
	}
	len = strlen(in);
	if (len >= LAYER_UNPACK_MAX_PATH) {
		*ret_why = "is longer than 4096 bytes";
		return -ENAMETOOLONG;
	}
	if (in[0] == '/') {
		*ret_why = "is absolute";
		return -EPERM;
	}
	out = xmalloc(len + 1);
	for (const char *p = in; *p;) {
		size_t l = strcspn(p, "/");

		if (l == 2 && p[0] == '.' && p[1] == '.') {
			dotdot = true;
			if (--depth < 0) {
				*ret_why = "escapes the layer";
				return -EPERM;
			}
		} else if (l > 0 && !(l == 1 && p[0] == '.')) {
			depth++;
			if (n > 0)
				out[n++] = '/';
			memcpy(out + n, p, l);
			n += l;
		}
		p += l;
		while (*p == '/')
			p++;
	}
	if (dotdot) {
		*ret_why = "contains '..'";
		return -EPERM;
	}
	out[n] = 0;
	*ret = TAKE_PTR(out);
	return 0;
}

/* Split "a/b/c" in place into parent "a/b" and name "c"; "c" -> "" and "c". */
static void split_path(char *path, const char **ret_parent, const char **ret_name) {
	char *slash = strrchr(path, '/');

	if (!slash) {
		*ret_parent = "";
		*ret_name = path;
		return;
	}
	*slash = 0;
	*ret_parent = path;
	*ret_name = slash + 1;
}

static int open_beneath(int dir_fd, const char *path, int *ret_fd) {
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd = -1;

	/* EAGAIN: a rename elsewhere raced with '..' resolution; retry. */
	for (int i = 0; i < OPENAT2_RETRIES; i++) {
		fd = syscall(SYS_openat2, dir_fd, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0)
		return -errno;
	*ret_fd = (int)fd;
	return 0;
}

static bool is_whiteout(const struct stat *st) {
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* trusted.overlay.opaque=y on directory `name` in pfd (NULL: pfd itself). */
static int mark_opaque(int pfd, const char *name) {
	char path[PROC_FD_PATH_MAX];

	if (name)
		(void)snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", pfd, name);
	else
		(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	if ((name ? lsetxattr : setxattr)(path, OVERLAY_OPAQUE, "y", 1, 0) < 0)
		return -errno;
	return 0;
}

/* A component of the parent path is a whiteout made earlier in this layer
 * ("d" deleted, then "d/x" added without an entry for "d"): an opaque
 * directory says the same to overlayfs and can hold children. */
static int replace_whiteout_with_dir(int pfd, const char *name) {
	struct stat st;
	int r;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !is_whiteout(&st))
		return -ENOTDIR;
	if (unlinkat(pfd, name, 0) < 0 || mkdirat(pfd, name, 0755) < 0)
		return -errno;
	r = mark_opaque(pfd, name);
	return r < 0 ? r : 0;
}

/* Open `parent` beneath the root, creating missing directories (0755, as
 * tar entries may omit them) one component at a time. */
static int open_or_make_parent(int dir_fd, const char *parent, int *ret_fd) {
	_cleanup_free_ char *p = xstrdup(parent);
	_cleanup_close_ int prev = -1;
	char *cur = p;

	for (;;) {
		char *slash = strchr(cur, '/');
		int fd, r;

		if (slash)
			*slash = 0;
		r = open_beneath(dir_fd, p, &fd);
		if (r == -ENOENT || r == -ENOTDIR) {
			const char *last = strrchr(p, '/');
			int at = prev >= 0 ? prev : dir_fd;

			if (r == -ENOENT && mkdirat(at, last ? last + 1 : p, 0755) < 0 && errno != EEXIST)
				return -errno;
			if (r == -ENOTDIR && replace_whiteout_with_dir(at, last ? last + 1 : p) < 0)
				return r;
			r = open_beneath(dir_fd, p, &fd);
		}
		if (r < 0)
			return r;
		safe_close(prev);
		prev = fd;
		if (!slash)
			break;
		*slash = '/';
		cur = slash + 1;
	}
	*ret_fd = TAKE_FD(prev);
	return 0;
}

void unpack_cache_drop(struct unpack *u) {
	free(u->cached_parent);
	u->cached_parent = NULL;
	u->cached_fd = safe_close(u->cached_fd);
	u->cache_stale = false;
}

static int path_error(struct za_error **reterr, const char *entry, const char *what, const char *path, int r) {
	char buf[UNPACK_SHOWN_SIZE];

	switch (r) {
	case -EXDEV:
		return unpack_entry_error(reterr, entry, r, "%s escapes the layer through a symlink", what);
	case -ELOOP:
		return unpack_entry_error(reterr, entry, r, "%s resolves through too many symlinks", what);
	case -ENOTDIR:
		return unpack_entry_error(reterr, entry, r, "%s goes through '%s', which is not a directory", what,
		                          unpack_shown(path, buf));
	default:
		return unpack_entry_error(reterr, entry, r, "cannot open parent directory '%s': %m",
		                          unpack_shown(path, buf));
	}
}

/* The directory `parent` (normalized) beneath the root, borrowed: valid
 * until the next call. */
static int get_parent(struct unpack *u, const char *entry, const char *parent, int *ret_fd, struct za_error **reterr) {
	int fd = -1, r;

	if (parent[0] == 0) {
		*ret_fd = u->dir_fd;
		return 0;
	}
	if (u->cache_stale)
		unpack_cache_drop(u);
	if (u->cached_parent && streq(u->cached_parent, parent)) {
		*ret_fd = u->cached_fd;
		return 0;
	}
	r = open_or_make_parent(u->dir_fd, parent, &fd);
	if (r < 0)
		return path_error(reterr, entry, "path", parent, r);
	unpack_cache_drop(u);
	u->cached_parent = xstrdup(parent);
	u->cached_fd = fd;
	*ret_fd = fd;
	return 0;
}

/* An entry of the same name exists: keep it if both are directories (1),
 * remove it otherwise (0, or 2 if it was a whiteout). */
static int clear_slot(struct unpack *u, int pfd, const char *name, bool want_dir) {
	struct stat st;
	int r;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		if (want_dir)
			return 1;
		rm_rf_at(pfd, name);
		r = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT ? 0 : -ENOTEMPTY;
	} else if (unlinkat(pfd, name, 0) < 0)
		r = -errno;
	else
		r = is_whiteout(&st) ? 2 : 0;
	/* The removed entry may be (or lead to) the cached parent; pfd itself
	 * stays valid: it is the parent of what was removed. */
	u->cache_stale = true;
	return r;
}

static int proc_path(const struct target *t, char buf[static PROC_FD_PATH_MAX]) {
	int n;

	if (t->follow)
		n = snprintf(buf, PROC_FD_PATH_MAX, "%s", t->name);
	else
		n = snprintf(buf, PROC_FD_PATH_MAX, "/proc/self/fd/%d/%s", t->pfd, t->name);
	return n < 0 || (size_t)n >= PROC_FD_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Apply the entry's xattrs. fd >= 0: an open regular file. Run after chown,
 * which drops security.capability. */
static int apply_xattrs(struct archive_entry *e, const char *entry, int fd, const struct target *t, mode_t type,
                        struct za_error **reterr) {
	char path[PROC_FD_PATH_MAX];
	const char *key;
	const void *value;
	size_t size;
	int n, r;

	n = archive_entry_xattr_reset(e);
	if (n <= 0)
		return 0;
	if ((unsigned)n > LAYER_UNPACK_MAX_XATTRS)
		return unpack_entry_error(reterr, entry, -E2BIG, "more than %u extended attributes",
		                          LAYER_UNPACK_MAX_XATTRS);
	if (fd < 0) {
		r = proc_path(t, path);
		if (r < 0)
			return unpack_entry_error(reterr, entry, r, "cannot set extended attributes: %m");
	}
	while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
		if (isempty(key))
			continue;
		if (strlen(key) > XATTR_NAME_MAX)
			return unpack_entry_error(reterr, entry, -ERANGE,
			                          "extended attribute name longer than %d bytes", XATTR_NAME_MAX);
		if (size > LAYER_UNPACK_MAX_XATTR_VALUE)
			return unpack_entry_error(reterr, entry, -E2BIG,
			                          "extended attribute '%s' is larger than %u bytes", key,
			                          LAYER_UNPACK_MAX_XATTR_VALUE);
		/* overlayfs metadata is ours to write: a layer may only express
		 * whiteouts and opaque directories with .wh. entries. */
		if (strneq(key, OVERLAY_XATTR, strlen(OVERLAY_XATTR))) {
			log_debug("layer entry '%s': dropping extended attribute '%s'", entry, key);
			continue;
		}
		/* The kernel refuses user.* on anything but files and dirs. */
		if (strneq(key, "user.", 5) && type != S_IFREG && type != S_IFDIR)
			continue;
		if (fd >= 0)
			r = fsetxattr(fd, key, value, size, 0);
		else if (t->follow)
			r = setxattr(path, key, value, size, 0);
		else
			r = lsetxattr(path, key, value, size, 0);
		if (r < 0) {
			if (errno == ENOTSUP || errno == EOPNOTSUPP) {
				log_debug("layer entry '%s': extended attribute '%s' not supported, skipped", entry,
				          key);
				continue;
			}
			return unpack_entry_error(reterr, entry, -errno, "set extended attribute '%s': %m", key);
		}
	}
	return 0;
}

static int entry_owner(struct archive_entry *e, const char *entry, uid_t *ret_uid, gid_t *ret_gid,
                       struct za_error **reterr) {
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

	/* (uid_t)-1 would mean "leave unchanged" to chown. */
	if (uid < 0 || uid >= UINT32_MAX)
		return unpack_entry_error(reterr, entry, -EINVAL, "uid %" PRId64 " out of range", (int64_t)uid);
	if (gid < 0 || gid >= UINT32_MAX)
		return unpack_entry_error(reterr, entry, -EINVAL, "gid %" PRId64 " out of range", (int64_t)gid);
	*ret_uid = (uid_t)uid;
	*ret_gid = (gid_t)gid;
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2]) {
	if (archive_entry_mtime_is_set(e)) {
		ts[1].tv_sec = archive_entry_mtime(e);
		ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	} else
		ts[1].tv_nsec = UTIME_OMIT;
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else
		ts[0] = ts[1];
	for (int i = 0; i < 2; i++)
		if (ts[i].tv_nsec != UTIME_OMIT && (ts[i].tv_nsec < 0 || ts[i].tv_nsec >= 1000000000))
			ts[i].tv_nsec = 0;
}

/* Ownership, then mode (chown clears setuid), then xattrs (chown clears
 * security.capability), then times unless deferred (directories). */
static int apply_metadata(struct archive_entry *e, const char *entry, const struct target *t, mode_t type,
                          bool set_times, struct za_error **reterr) {
	struct timespec ts[2];
	int flags = t->follow ? 0 : AT_SYMLINK_NOFOLLOW;
	uid_t uid;
	gid_t gid;
	int r;

	r = entry_owner(e, entry, &uid, &gid, reterr);
	if (r < 0)
		return r;
	if (fchownat(t->pfd, t->name, uid, gid, flags) < 0)
		return unpack_entry_error(reterr, entry, -errno, "chown: %m");
	if (type != S_IFLNK && fchmodat(t->pfd, t->name, archive_entry_perm(e) & 07777, 0) < 0)
		return unpack_entry_error(reterr, entry, -errno, "chmod: %m");
	r = apply_xattrs(e, entry, -1, t, type, reterr);
	if (r < 0)
		return r;
	if (!set_times)
		return 0;
	entry_times(e, ts);
	if (utimensat(t->pfd, t->name, ts, flags) < 0)
		return unpack_entry_error(reterr, entry, -errno, "set times: %m");
	return 0;
}

static int remember_dir(struct unpack *u, const char *entry, const char *path, struct archive_entry *e,
                        struct za_error **reterr) {
	u->dir_bytes += strlen(path) + 1 + sizeof(struct dir_time);
	if (u->dir_bytes > UNPACK_MAX_DIR_BYTES)
		return unpack_entry_error(reterr, entry, -E2BIG,
		                          "the layer's directories take more than %u MiB to track",
		                          UNPACK_MAX_DIR_BYTES >> 20);
	GROW(u->dirs, u->alloc_dirs, u->n_dirs + 1);
	u->dirs[u->n_dirs].path = xstrdup(path);
	entry_times(e, u->dirs[u->n_dirs].ts);
	u->n_dirs++;
	return 0;
}

static int write_file(struct unpack *u, struct archive_entry *e, const char *entry, int pfd, const char *name,
                      struct za_error **reterr) {
	_cleanup_close_ int fd = -1;
	struct timespec ts[2];
	struct target t = { .pfd = pfd, .name = name };
	la_int64_t size = archive_entry_size(e), pos = 0;
	uid_t uid;
	gid_t gid;
	int r;

	r = entry_owner(e, entry, &uid, &gid, reterr);
	if (r < 0)
		return r;
	for (int attempt = 0;; attempt++) {
		fd = openat(pfd, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST || attempt > 0)
			return unpack_entry_error(reterr, entry, -errno, "create file: %m");
		r = clear_slot(u, pfd, name, false);
		if (r < 0)
			return unpack_entry_error(reterr, entry, r, "replace existing entry: %m");
	}
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;

		r = archive_read_data_block(u->tar, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return unpack_stream_error(u, entry, reterr);
		if (off != pos) { /* sparse file: leave a hole */
			if (off < pos || lseek(fd, off, SEEK_SET) < 0)
				return unpack_entry_error(reterr, entry, off < pos ? -EINVAL : -errno,
				                          "sparse data: %m");
			pos = off;
		}
		r = loop_write(fd, buf, len);
		if (r < 0)
			return unpack_entry_error(reterr, entry, r, "write: %m");
		pos += (la_int64_t)len;
	}
	if (pos < size && ftruncate(fd, size) < 0)
		return unpack_entry_error(reterr, entry, -errno, "truncate: %m");
	if (fchown(fd, uid, gid) < 0)
		return unpack_entry_error(reterr, entry, -errno, "chown: %m");
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return unpack_entry_error(reterr, entry, -errno, "chmod: %m");
	r = apply_xattrs(e, entry, fd, &t, S_IFREG, reterr);
	if (r < 0)
		return r;
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return unpack_entry_error(reterr, entry, -errno, "set times: %m");
	if (close(TAKE_FD(fd)) < 0)
		return unpack_entry_error(reterr, entry, -errno, "close: %m");
	return 0;
}

static int make_hardlink(struct unpack *u, const char *entry, const char *path, int pfd, const char *name,
                         const char *link, struct za_error **reterr) {
	_cleanup_free_ char *norm = NULL;
	_cleanup_close_ int tfd = -1;
	char buf[UNPACK_SHOWN_SIZE];
	const char *why, *tparent, *tname;
	struct stat st;
	int r;

	r = normalize_path(link, &norm, &why);
	if (r < 0)
		return unpack_entry_error(reterr, entry, r, "hardlink target '%s' %s", unpack_shown(link, buf), why);
	if (isempty(norm))
		return unpack_entry_error(reterr, entry, -EPERM, "hardlink target '%s' is the layer root",
		                          unpack_shown(link, buf));
	if (streq(norm, path)) /* a link to itself: nothing to do */
		return 0;
	split_path(norm, &tparent, &tname);
	if (tparent[0] != 0) {
		r = open_beneath(u->dir_fd, tparent, &tfd);
		if (r == -ENOENT)
			return unpack_entry_error(reterr, entry, r, "hardlink target '%s' does not exist in the layer",
			                          unpack_shown(link, buf));
		if (r < 0) {
			_cleanup_free_ char *what = xasprintf("hardlink target '%s'", unpack_shown(link, buf));
			return path_error(reterr, entry, what, tparent, r);
		}
	}
	if (fstatat(tfd >= 0 ? tfd : u->dir_fd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return unpack_entry_error(reterr, entry, -ENOENT,
			                          "hardlink target '%s' does not exist in the layer",
			                          unpack_shown(link, buf));
		return unpack_entry_error(reterr, entry, -errno, "hardlink target '%s': %m", unpack_shown(link, buf));
	}
	if (S_ISDIR(st.st_mode))
		return unpack_entry_error(reterr, entry, -EPERM, "hardlink target '%s' is a directory",
		                          unpack_shown(link, buf));
	for (int attempt = 0;; attempt++) {
		if (linkat(tfd >= 0 ? tfd : u->dir_fd, tname, pfd, name, 0) >= 0)
			return 0;
		if (errno != EEXIST || attempt > 0)
			return unpack_entry_error(reterr, entry, -errno, "link to '%s': %m", unpack_shown(link, buf));
		r = clear_slot(u, pfd, name, false);
		if (r < 0)
			return unpack_entry_error(reterr, entry, r, "replace existing entry: %m");
	}
}

static int make_whiteout(struct unpack *u, const char *entry, int pfd, const char *name, struct za_error **reterr) {
	const char *target = name + strlen(WHITEOUT_PREFIX);
	struct stat st;
	int r;

	if (streq(name, WHITEOUT_OPAQUE)) {
		r = mark_opaque(pfd, NULL);
		if (r < 0)
			return unpack_entry_error(reterr, entry, r, "mark directory opaque: %m");
		return 0;
	}
	if (strneq(name, WHITEOUT_META, strlen(WHITEOUT_META))) /* aufs bookkeeping: .wh..wh.plnk etc. */
		return 0;
	if (isempty(target) || streq(target, ".") || streq(target, ".."))
		return unpack_entry_error(reterr, entry, -EINVAL, "invalid whiteout name");
	if (mknodat(pfd, target, S_IFCHR | 0000, makedev(0, 0)) >= 0)
		return 0;
	if (errno != EEXIST)
		return unpack_entry_error(reterr, entry, -errno, "create whiteout: %m");
	/* The name exists in this layer, which already hides the lower ones; a
	 * directory must also stop merging with them. */
	if (fstatat(pfd, target, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return unpack_entry_error(reterr, entry, -errno, "create whiteout: %m");
	if (S_ISDIR(st.st_mode)) {
		r = mark_opaque(pfd, target);
		if (r < 0)
			return unpack_entry_error(reterr, entry, r, "mark directory opaque: %m");
	}
	return 0;
}

static int make_node(struct unpack *u, struct archive_entry *e, const char *entry, int pfd, const char *name,
                     mode_t type, struct za_error **reterr) {
	const char *link = archive_entry_symlink(e);
	dev_t dev = 0;
	int r;

	if (type == S_IFLNK) {
		if (isempty(link))
			return unpack_entry_error(reterr, entry, -EINVAL, "symlink has an empty target");
		if (strlen(link) >= LAYER_UNPACK_MAX_PATH)
			return unpack_entry_error(reterr, entry, -ENAMETOOLONG,
			                          "symlink target is longer than 4096 bytes");
	} else if (type == S_IFCHR || type == S_IFBLK)
		dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	for (int attempt = 0;; attempt++) {
		if (type == S_IFLNK)
			r = symlinkat(link, pfd, name);
		else
			r = mknodat(pfd, name, type | 0600, dev);
		if (r >= 0)
			break;
		if (errno != EEXIST || attempt > 0)
			return unpack_entry_error(reterr, entry, -errno, "create %s: %m",
			                          type == S_IFLNK ? "symlink" : "device node");
		r = clear_slot(u, pfd, name, false);
		if (r < 0)
			return unpack_entry_error(reterr, entry, r, "replace existing entry: %m");
	}
	return apply_metadata(e, entry, &(struct target){ .pfd = pfd, .name = name }, type, true, reterr);
}

static int make_dir(struct unpack *u, struct archive_entry *e, const char *entry, const char *path, int pfd,
                    const char *name, struct za_error **reterr) {
	int r;

	if (mkdirat(pfd, name, 0700) < 0) {
		if (errno != EEXIST)
			return unpack_entry_error(reterr, entry, -errno, "create directory: %m");
		r = clear_slot(u, pfd, name, true);
		if (r < 0)
			return unpack_entry_error(reterr, entry, r, "replace existing entry: %m");
		if (r != 1 && mkdirat(pfd, name, 0700) < 0)
			return unpack_entry_error(reterr, entry, -errno, "create directory: %m");
		/* deleted, then created again in this layer: hide the lower one */
		if (r == 2 && (r = mark_opaque(pfd, name)) < 0)
			return unpack_entry_error(reterr, entry, r, "mark directory opaque: %m");
	}
	r = remember_dir(u, entry, path, e, reterr);
	if (r < 0)
		return r;
	return apply_metadata(e, entry, &(struct target){ .pfd = pfd, .name = name }, S_IFDIR, false, reterr);
}

int unpack_entry(struct unpack *u, struct archive_entry *e, struct za_error **reterr) {
	_cleanup_free_ char *path = NULL, *split = NULL;
	const char *entry = archive_entry_pathname(e), *why, *parent, *name, *link;
	mode_t type = archive_entry_filetype(e);
	int pfd = -1, r;

	if (!entry)
		entry = strempty(archive_entry_pathname_utf8(e));
	r = normalize_path(entry, &path, &why);
	if (r < 0)
		return unpack_entry_error(reterr, entry, r, "path %s", why);

	if (path[0] == 0) { /* "./": metadata of the layer root */
		char proc[PROC_FD_PATH_MAX];

		if (type != AE_IFDIR || archive_entry_hardlink(e))
			return unpack_entry_error(reterr, entry, -EPERM, "entry would replace the layer root");
		(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", u->dir_fd);
		r = remember_dir(u, entry, path, e, reterr);
		if (r < 0)
			return r;
		return apply_metadata(e, entry, &(struct target){ .pfd = AT_FDCWD, .name = proc, .follow = true },
		                      S_IFDIR, false, reterr);
	}

	split = xstrdup(path);
	split_path(split, &parent, &name);
	r = get_parent(u, entry, parent, &pfd, reterr);
	if (r < 0)
		return r;

	if (strneq(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)))
		return make_whiteout(u, entry, pfd, name, reterr);

	link = archive_entry_hardlink(e);
	if (link)
		return make_hardlink(u, entry, path, pfd, name, link, reterr);

	switch (type) {
	case AE_IFREG:
		return write_file(u, e, entry, pfd, name, reterr);
	case AE_IFDIR:
		return make_dir(u, e, entry, path, pfd, name, reterr);
	case AE_IFLNK:
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return make_node(u, e, entry, pfd, name, type, reterr);
	default:
		return unpack_entry_error(reterr, entry, -EINVAL, "unsupported entry type 0%o", (unsigned)type);
	}
}

/* Directory times last: creating children changed them. */
int unpack_fix_dir_times(struct unpack *u, struct za_error **reterr) {
	for (size_t i = 0; i < u->n_dirs; i++) {
		struct dir_time *d = &u->dirs[i];
		const char *parent, *name;
		struct stat st;
		int pfd;

		if (d->path[0] == 0) {
			char proc[PROC_FD_PATH_MAX];

			(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", u->dir_fd);
			if (utimensat(AT_FDCWD, proc, d->ts, 0) < 0)
				return unpack_entry_error(reterr, ".", -errno, "set times: %m");
			continue;
		}
		split_path(d->path, &parent, &name);
		if (parent[0] == 0)
			pfd = u->dir_fd;
		else if (u->cached_parent && !u->cache_stale && streq(u->cached_parent, parent))
			pfd = u->cached_fd;
		else {
			unpack_cache_drop(u);
			if (open_beneath(u->dir_fd, parent, &pfd) < 0)
				continue; /* replaced by a later entry */
			u->cached_parent = xstrdup(parent);
			u->cached_fd = pfd;
		}
		/* A later entry may have replaced the directory. */
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (utimensat(pfd, name, d->ts, AT_SYMLINK_NOFOLLOW) < 0)
			return unpack_entry_error(reterr, name, -errno, "set times: %m");
	}
	return 0;
}
