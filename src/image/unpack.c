/* SPDX-License-Identifier: Apache-2.0 */
/* Two libarchive readers chained in one thread: `raw` (format raw, gzip and
 * zstd filters) decompresses the input descriptor; `tar` parses what `raw`
 * yields, through a read callback that also feeds the SHA-256 of the diff_id.
 * Entries are created with *at() calls on descriptors resolved beneath the
 * layer directory by openat2(RESOLVE_BENEATH), never by path from the cwd:
 * archive_write_disk is not used because it works relative to the process
 * cwd and the agent is multi-threaded. */
#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/banned.h"

#define BUF_SIZE           (1024 * 1024)
#define RM_MAX_DEPTH       128
#define SHOWN_MAX          200
#define OPENAT2_RETRIES    32
#define WHITEOUT_PREFIX    ".wh."
#define WHITEOUT_META      ".wh..wh."
#define WHITEOUT_OPAQUE    ".wh..wh..opq"
#define OVERLAY_XATTR      "trusted.overlay."
#define OVERLAY_OPAQUE     "trusted.overlay.opaque"
#define KIND               ZA_ERROR_PULL_FAILED
#define PROC_FD_PATH_MAX   (sizeof("/proc/self/fd//") + 3 * sizeof(int) + NAME_MAX + 1)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

struct dir_time {
	char *path; /* normalized, "" for the layer root */
	struct timespec ts[2];
};

struct unpack {
	int in_fd;
	int dir_fd;
	struct archive *raw;
	struct archive *tar;
	EVP_MD_CTX *sha;
	uint8_t *in_buf;
	uint8_t *tar_buf;
	bool in_eof, raw_eof;
	int raw_errno;   /* set when `raw` or the input failed: the real cause */
	char *raw_error; /* its message */
	uint64_t bytes, max_bytes;
	uint64_t entries, max_entries;

	/* One cached parent directory: entries of a directory come together. */
	char *cached_parent;
	int cached_fd;
	bool cache_stale; /* something was removed: drop the cache before reuse */

	struct dir_time *dirs;
	size_t n_dirs, alloc_dirs;
};

/* A place to apply metadata: `name` in directory `pfd`, or with pfd ==
 * AT_FDCWD a /proc/self/fd path that must be followed (the layer root). */
struct target {
	int pfd;
	const char *name;
	bool follow;
};

/* Entry names come from the layer: show them bounded and printable. */
static const char *shown(const char *s, char buf[static SHOWN_MAX * 4 + 4]) {
	size_t j = 0;

	for (size_t i = 0; s && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (j >= SHOWN_MAX * 4) {
			memcpy(buf + j, "...", 3);
			j += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '\\') {
			(void)snprintf(buf + j, 5, "\\x%02x", c);
			j += 4;
		} else
			buf[j++] = (char)c;
	}
	buf[j] = 0;
	return buf;
}

_printf_(4, 5) static int entry_error(struct za_error **reterr, const char *entry, int code, const char *fmt, ...) {
	_cleanup_free_ char *msg = NULL;
	char buf[SHOWN_MAX * 4 + 4];
	va_list ap;

	errno = abs(code); /* for %m */
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return za_error_make(reterr, KIND, code, "layer entry '%s': %s", shown(entry, buf), msg);
}

/* The best explanation of a failed read from `tar`: the input or the
 * decompressor if they failed, the tar parser otherwise. */
static int stream_error(struct unpack *u, const char *entry, struct za_error **reterr) {
	char buf[SHOWN_MAX * 4 + 4];
	const char *why;
	int code;

	if (u->raw_errno) {
		code = u->raw_errno;
		why = u->raw_error;
	} else {
		code = archive_errno(u->tar) > 0 ? archive_errno(u->tar) : EBADMSG;
		why = archive_error_string(u->tar);
		if (code == ARCHIVE_ERRNO_FILE_FORMAT || code == ARCHIVE_ERRNO_MISC || code == ARCHIVE_ERRNO_PROGRAMMER)
			code = EBADMSG;
	}
	if (entry)
		return za_error_make(reterr, KIND, code, "layer entry '%s': invalid tar data: %s", shown(entry, buf),
		                     strna(why));
	return za_error_make(reterr, KIND, code, "layer is not a valid tar stream: %s", strna(why));
}

static la_ssize_t input_read(struct archive *a, void *userdata, const void **ret_buf) {
	struct unpack *u = userdata;
	ssize_t n;

	for (;;) {
		n = read(u->in_fd, u->in_buf, BUF_SIZE);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) { /* a non-blocking pipe: wait for the writer */
			struct pollfd p = { .fd = u->in_fd, .events = POLLIN };
			(void)poll(&p, 1, -1);
			continue;
		}
		archive_set_error(a, errno, "read layer: %s", strerror(errno));
		return -1;
	}
	if (n == 0)
		u->in_eof = true;
	*ret_buf = u->in_buf;
	return n;
}

/* Pull the next decompressed block from `raw` into tar_buf and hash it;
 * 0 at the end of the stream, -1 with raw_errno/raw_error set on failure. */
static ssize_t raw_pull(struct unpack *u) {
	la_ssize_t n;

	if (u->raw_eof)
		return 0;
	n = archive_read_data(u->raw, u->tar_buf, BUF_SIZE);
	if (n < 0) {
		u->raw_errno = archive_errno(u->raw) > 0 ? archive_errno(u->raw) : EBADMSG;
		if (u->raw_errno == ARCHIVE_ERRNO_MISC || u->raw_errno == ARCHIVE_ERRNO_FILE_FORMAT)
			u->raw_errno = EBADMSG;
		free(u->raw_error);
		u->raw_error = xasprintf("decompress layer: %s", strna(archive_error_string(u->raw)));
		return -1;
	}
	if (n == 0) {
		u->raw_eof = true;
		return 0;
	}
	u->bytes += (uint64_t)n;
	if (u->max_bytes > 0 && u->bytes > u->max_bytes) {
		u->raw_errno = EFBIG;
		free(u->raw_error);
		u->raw_error = xasprintf("layer is larger than %" PRIu64 " bytes uncompressed", u->max_bytes);
		return -1;
	}
	if (EVP_DigestUpdate(u->sha, u->tar_buf, (size_t)n) != 1) {
		u->raw_errno = EIO;
		free(u->raw_error);
		u->raw_error = xstrdup("sha256 update failed");
		return -1;
	}
	return n;
}

static la_ssize_t tar_read(struct archive *a, void *userdata, const void **ret_buf) {
	struct unpack *u = userdata;
	ssize_t n = raw_pull(u);

	if (n < 0) {
		archive_set_error(a, u->raw_errno, "%s", u->raw_error);
		return -1;
	}
	*ret_buf = u->tar_buf;
	return n;
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
		if (r == -ENOENT) {
			const char *last = strrchr(p, '/');

			if (mkdirat(prev >= 0 ? prev : dir_fd, last ? last + 1 : p, 0755) < 0 && errno != EEXIST)
				return -errno;
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

static void cache_drop(struct unpack *u) {
	free(u->cached_parent);
	u->cached_parent = NULL;
	u->cached_fd = safe_close(u->cached_fd);
	u->cache_stale = false;
}

static int path_error(struct za_error **reterr, const char *entry, const char *what, const char *path, int r) {
	char buf[SHOWN_MAX * 4 + 4];

	switch (r) {
	case -EXDEV:
		return entry_error(reterr, entry, r, "%s escapes the layer through a symlink", what);
	case -ELOOP:
		return entry_error(reterr, entry, r, "%s resolves through too many symlinks", what);
	case -ENOTDIR:
		return entry_error(reterr, entry, r, "%s goes through '%s', which is not a directory", what,
		                   shown(path, buf));
	default:
		return entry_error(reterr, entry, r, "cannot open parent directory '%s': %m", shown(path, buf));
	}
}

/* The directory `parent` (normalized) beneath the root, borrowed: valid
 * until the next call. */
static int get_parent(struct unpack *u, const char *entry, const char *parent, int *ret_fd,
                      struct za_error **reterr) {
	int fd, r;

	if (parent[0] == 0) {
		*ret_fd = u->dir_fd;
		return 0;
	}
	if (u->cache_stale)
		cache_drop(u);
	if (u->cached_parent && streq(u->cached_parent, parent)) {
		*ret_fd = u->cached_fd;
		return 0;
	}
	r = open_or_make_parent(u->dir_fd, parent, &fd);
	if (r < 0)
		return path_error(reterr, entry, "path", parent, r);
	cache_drop(u);
	u->cached_parent = xstrdup(parent);
	u->cached_fd = fd;
	*ret_fd = fd;
	return 0;
}

static int rm_rf_at(int pfd, const char *name, unsigned depth) {
	DIR *d;
	struct dirent *de;
	int fd, r = 0;

	if (depth > RM_MAX_DEPTH)
		return -ELOOP;
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		safe_close(fd);
		return -errno;
	}
	while (r == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (de->d_type == DT_UNKNOWN && fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			de->d_type = DT_DIR;
		if (de->d_type == DT_DIR)
			r = rm_rf_at(fd, de->d_name, depth + 1);
		else if (unlinkat(fd, de->d_name, 0) < 0)
			r = -errno;
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	if (r < 0)
		return r;
	return unlinkat(pfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* An entry of the same name exists: keep it if both are directories (1),
 * remove it otherwise (0). */
static int clear_slot(struct unpack *u, int pfd, const char *name, bool want_dir) {
	struct stat st;
	int r;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		if (want_dir)
			return 1;
		r = rm_rf_at(pfd, name, 0);
	} else
		r = unlinkat(pfd, name, 0) < 0 ? -errno : 0;
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
		return entry_error(reterr, entry, -E2BIG, "more than %u extended attributes", LAYER_UNPACK_MAX_XATTRS);
	if (fd < 0) {
		r = proc_path(t, path);
		if (r < 0)
			return entry_error(reterr, entry, r, "cannot set extended attributes: %m");
	}
	while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
		if (isempty(key))
			continue;
		if (strlen(key) > XATTR_NAME_MAX)
			return entry_error(reterr, entry, -ERANGE, "extended attribute name longer than %d bytes",
			                   XATTR_NAME_MAX);
		if (size > LAYER_UNPACK_MAX_XATTR_VALUE)
			return entry_error(reterr, entry, -E2BIG, "extended attribute '%s' is larger than %u bytes", key,
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
				log_debug("layer entry '%s': extended attribute '%s' not supported, skipped", entry, key);
				continue;
			}
			return entry_error(reterr, entry, -errno, "set extended attribute '%s': %m", key);
		}
	}
	return 0;
}

static int entry_owner(struct archive_entry *e, const char *entry, uid_t *ret_uid, gid_t *ret_gid,
                       struct za_error **reterr) {
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

	/* (uid_t)-1 would mean "leave unchanged" to chown. */
	if (uid < 0 || uid >= UINT32_MAX)
		return entry_error(reterr, entry, -EINVAL, "uid %" PRId64 " out of range", (int64_t)uid);
	if (gid < 0 || gid >= UINT32_MAX)
		return entry_error(reterr, entry, -EINVAL, "gid %" PRId64 " out of range", (int64_t)gid);
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
		return entry_error(reterr, entry, -errno, "chown: %m");
	if (type != S_IFLNK && fchmodat(t->pfd, t->name, archive_entry_perm(e) & 07777, 0) < 0)
		return entry_error(reterr, entry, -errno, "chmod: %m");
	r = apply_xattrs(e, entry, -1, t, type, reterr);
	if (r < 0)
		return r;
	if (!set_times)
		return 0;
	entry_times(e, ts);
	if (utimensat(t->pfd, t->name, ts, flags) < 0)
		return entry_error(reterr, entry, -errno, "set times: %m");
	return 0;
}

static void remember_dir(struct unpack *u, const char *path, struct archive_entry *e) {
	GROW(u->dirs, u->alloc_dirs, u->n_dirs + 1);
	u->dirs[u->n_dirs].path = xstrdup(path);
	entry_times(e, u->dirs[u->n_dirs].ts);
	u->n_dirs++;
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
			return entry_error(reterr, entry, -errno, "create file: %m");
		r = clear_slot(u, pfd, name, false);
		if (r < 0)
			return entry_error(reterr, entry, r, "replace existing entry: %m");
	}
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;

		r = archive_read_data_block(u->tar, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return stream_error(u, entry, reterr);
		if (off != pos) { /* sparse file: leave a hole */
			if (off < pos || lseek(fd, off, SEEK_SET) < 0)
				return entry_error(reterr, entry, off < pos ? -EINVAL : -errno, "sparse data: %m");
			pos = off;
		}
		r = loop_write(fd, buf, len);
		if (r < 0)
			return entry_error(reterr, entry, r, "write: %m");
		pos += (la_int64_t)len;
	}
	if (pos < size && ftruncate(fd, size) < 0)
		return entry_error(reterr, entry, -errno, "truncate: %m");
	if (fchown(fd, uid, gid) < 0)
		return entry_error(reterr, entry, -errno, "chown: %m");
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return entry_error(reterr, entry, -errno, "chmod: %m");
	r = apply_xattrs(e, entry, fd, &t, S_IFREG, reterr);
	if (r < 0)
		return r;
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return entry_error(reterr, entry, -errno, "set times: %m");
	if (close(TAKE_FD(fd)) < 0)
		return entry_error(reterr, entry, -errno, "close: %m");
	return 0;
}

static int make_hardlink(struct unpack *u, const char *entry, const char *path, int pfd, const char *name,
                         const char *link, struct za_error **reterr) {
	_cleanup_free_ char *norm = NULL;
	_cleanup_close_ int tfd = -1;
	char buf[SHOWN_MAX * 4 + 4];
	const char *why, *tparent, *tname;
	struct stat st;
	int r;

	r = normalize_path(link, &norm, &why);
	if (r < 0)
		return entry_error(reterr, entry, r, "hardlink target '%s' %s", shown(link, buf), why);
	if (isempty(norm))
		return entry_error(reterr, entry, -EPERM, "hardlink target '%s' is the layer root", shown(link, buf));
	if (streq(norm, path)) /* a link to itself: nothing to do */
		return 0;
	split_path(norm, &tparent, &tname);
	if (tparent[0] != 0) {
		r = open_beneath(u->dir_fd, tparent, &tfd);
		if (r == -ENOENT)
			return entry_error(reterr, entry, r, "hardlink target '%s' does not exist in the layer",
			                   shown(link, buf));
		if (r < 0) {
			_cleanup_free_ char *what = xasprintf("hardlink target '%s'", shown(link, buf));
			return path_error(reterr, entry, what, tparent, r);
		}
	}
	if (fstatat(tfd >= 0 ? tfd : u->dir_fd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return entry_error(reterr, entry, -ENOENT, "hardlink target '%s' does not exist in the layer",
			                   shown(link, buf));
		return entry_error(reterr, entry, -errno, "hardlink target '%s': %m", shown(link, buf));
	}
	if (S_ISDIR(st.st_mode))
		return entry_error(reterr, entry, -EPERM, "hardlink target '%s' is a directory", shown(link, buf));
	for (int attempt = 0;; attempt++) {
		if (linkat(tfd >= 0 ? tfd : u->dir_fd, tname, pfd, name, 0) >= 0)
			return 0;
		if (errno != EEXIST || attempt > 0)
			return entry_error(reterr, entry, -errno, "link to '%s': %m", shown(link, buf));
		r = clear_slot(u, pfd, name, false);
		if (r < 0)
			return entry_error(reterr, entry, r, "replace existing entry: %m");
	}
}

static int make_whiteout(struct unpack *u, const char *entry, int pfd, const char *name, struct za_error **reterr) {
	const char *target = name + strlen(WHITEOUT_PREFIX);

	if (streq(name, WHITEOUT_OPAQUE)) {
		char path[PROC_FD_PATH_MAX];

		(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
		if (setxattr(path, OVERLAY_OPAQUE, "y", 1, 0) < 0)
			return entry_error(reterr, entry, -errno, "mark directory opaque: %m");
		return 0;
	}
	if (strneq(name, WHITEOUT_META, strlen(WHITEOUT_META))) /* aufs bookkeeping: .wh..wh.plnk etc. */
		return 0;
	if (isempty(target) || streq(target, ".") || streq(target, ".."))
		return entry_error(reterr, entry, -EINVAL, "invalid whiteout name");
	/* An entry of that name in this layer already hides the lower ones. */
	if (mknodat(pfd, target, S_IFCHR | 0000, makedev(0, 0)) < 0 && errno != EEXIST)
		return entry_error(reterr, entry, -errno, "create whiteout: %m");
	return 0;
}

static int make_node(struct unpack *u, struct archive_entry *e, const char *entry, int pfd, const char *name,
                     mode_t type, struct za_error **reterr) {
	const char *link = archive_entry_symlink(e);
	dev_t dev = 0;
	int r;

	if (type == S_IFLNK) {
		if (isempty(link))
			return entry_error(reterr, entry, -EINVAL, "symlink has an empty target");
		if (strlen(link) >= LAYER_UNPACK_MAX_PATH)
			return entry_error(reterr, entry, -ENAMETOOLONG, "symlink target is longer than 4096 bytes");
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
			return entry_error(reterr, entry, -errno, "create %s: %m",
			                   type == S_IFLNK ? "symlink" : "device node");
		r = clear_slot(u, pfd, name, false);
		if (r < 0)
			return entry_error(reterr, entry, r, "replace existing entry: %m");
	}
	return apply_metadata(e, entry, &(struct target){ .pfd = pfd, .name = name }, type, true, reterr);
}

static int make_dir(struct unpack *u, struct archive_entry *e, const char *entry, const char *path, int pfd,
                    const char *name, struct za_error **reterr) {
	int r;

	if (mkdirat(pfd, name, 0700) < 0) {
		if (errno != EEXIST)
			return entry_error(reterr, entry, -errno, "create directory: %m");
		r = clear_slot(u, pfd, name, true);
		if (r < 0)
			return entry_error(reterr, entry, r, "replace existing entry: %m");
		if (r == 0 && mkdirat(pfd, name, 0700) < 0)
			return entry_error(reterr, entry, -errno, "create directory: %m");
	}
	remember_dir(u, path, e);
	return apply_metadata(e, entry, &(struct target){ .pfd = pfd, .name = name }, S_IFDIR, false, reterr);
}

static int unpack_entry(struct unpack *u, struct archive_entry *e, struct za_error **reterr) {
	_cleanup_free_ char *path = NULL, *split = NULL;
	const char *entry = archive_entry_pathname(e), *why, *parent, *name, *link;
	mode_t type = archive_entry_filetype(e);
	int pfd, r;

	if (!entry)
		entry = strempty(archive_entry_pathname_utf8(e));
	r = normalize_path(entry, &path, &why);
	if (r < 0)
		return entry_error(reterr, entry, r, "path %s", why);

	if (path[0] == 0) { /* "./": metadata of the layer root */
		char proc[PROC_FD_PATH_MAX];

		if (type != AE_IFDIR || archive_entry_hardlink(e))
			return entry_error(reterr, entry, -EPERM, "entry would replace the layer root");
		(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", u->dir_fd);
		remember_dir(u, path, e);
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
		return entry_error(reterr, entry, -EINVAL, "unsupported entry type 0%o", (unsigned)type);
	}
}

/* Directory times last: creating children changed them. */
static int fix_dir_times(struct unpack *u, struct za_error **reterr) {
	for (size_t i = 0; i < u->n_dirs; i++) {
		struct dir_time *d = &u->dirs[i];
		const char *parent, *name;
		struct stat st;
		int pfd;

		if (d->path[0] == 0) {
			char proc[PROC_FD_PATH_MAX];

			(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", u->dir_fd);
			if (utimensat(AT_FDCWD, proc, d->ts, 0) < 0)
				return entry_error(reterr, ".", -errno, "set times: %m");
			continue;
		}
		split_path(d->path, &parent, &name);
		if (parent[0] == 0)
			pfd = u->dir_fd;
		else if (u->cached_parent && !u->cache_stale && streq(u->cached_parent, parent))
			pfd = u->cached_fd;
		else {
			cache_drop(u);
			if (open_beneath(u->dir_fd, parent, &pfd) < 0)
				continue; /* replaced by a later entry */
			u->cached_parent = xstrdup(parent);
			u->cached_fd = pfd;
		}
		/* A later entry may have replaced the directory. */
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (utimensat(pfd, name, d->ts, AT_SYMLINK_NOFOLLOW) < 0)
			return entry_error(reterr, name, -errno, "set times: %m");
	}
	return 0;
}

static void unpack_release(struct unpack *u) {
	cache_drop(u);
	for (size_t i = 0; i < u->n_dirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
	free(u->raw_error);
	free(u->in_buf);
	free(u->tar_buf);
}

static int open_readers(struct unpack *u, struct za_error **reterr) {
	struct archive_entry *e;
	int r;

	u->raw = archive_read_new();
	u->tar = archive_read_new();
	if (!u->raw || !u->tar)
		oom();
	/* gzip and zstd are what OCI layers use; built in, so no helper
	 * program is ever spawned from this multi-threaded process. */
	if (archive_read_support_filter_gzip(u->raw) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(u->raw) != ARCHIVE_OK || archive_read_support_format_raw(u->raw) != ARCHIVE_OK)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOTSUP,
		                     "libarchive lacks built-in gzip or zstd support: %s",
		                     strna(archive_error_string(u->raw)));
	if (archive_read_support_format_tar(u->tar) != ARCHIVE_OK)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOTSUP, "libarchive lacks tar support");
	if (archive_read_open(u->raw, u, NULL, input_read, NULL) != ARCHIVE_OK)
		return za_error_make(reterr, KIND, archive_errno(u->raw) > 0 ? archive_errno(u->raw) : EBADMSG,
		                     "read layer: %s", strna(archive_error_string(u->raw)));
	r = archive_read_next_header(u->raw, &e);
	if (r == ARCHIVE_EOF)
		return za_error_make(reterr, KIND, EBADMSG, "layer is empty");
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return za_error_make(reterr, KIND, archive_errno(u->raw) > 0 ? archive_errno(u->raw) : EBADMSG,
		                     "read layer: %s", strna(archive_error_string(u->raw)));
	if (archive_read_open(u->tar, u, NULL, tar_read, NULL) != ARCHIVE_OK)
		return stream_error(u, NULL, reterr);
	return 0;
}

/* After the tar end-of-archive: the rest of the decompressed stream counts
 * in the diff_id, the rest of the input must be consumed. */
static int drain(struct unpack *u, struct za_error **reterr) {
	ssize_t n;

	while ((n = raw_pull(u)) > 0)
		;
	if (n < 0)
		return za_error_make(reterr, KIND, u->raw_errno, "%s", u->raw_error);
	while (!u->in_eof) {
		const void *buf;

		if (input_read(u->raw, u, &buf) < 0)
			return za_error_make(reterr, KIND, archive_errno(u->raw), "read layer: %m");
	}
	return 0;
}

int layer_unpack_limited(int fd, int dir_fd, const struct layer_unpack_limits *limits, char **ret_diff_id,
                         struct layer_unpack_stats *ret_stats, struct za_error **reterr) {
	_cleanup_(archive_read_freep) struct archive *raw = NULL, *tar = NULL;
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *sha = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	struct unpack u = {
		.in_fd = fd,
		.dir_fd = dir_fd,
		.cached_fd = -1,
		.max_entries = limits && limits->max_entries ? limits->max_entries : LAYER_UNPACK_MAX_ENTRIES,
		.max_bytes = limits ? limits->max_bytes : 0,
	};
	char *hex;
	int r;

	sha = EVP_MD_CTX_new();
	if (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOMEM, "cannot initialize sha256");
	u.sha = sha;
	u.in_buf = xmalloc(BUF_SIZE);
	u.tar_buf = xmalloc(BUF_SIZE);

	r = open_readers(&u, reterr);
	raw = u.raw;
	tar = u.tar;
	if (r < 0)
		goto finish;

	for (;;) {
		struct archive_entry *e;

		r = archive_read_next_header(u.tar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			r = stream_error(&u, NULL, reterr);
			goto finish;
		}
		if (++u.entries > u.max_entries) {
			r = za_error_make(reterr, KIND, E2BIG, "layer has more than %" PRIu64 " entries", u.max_entries);
			goto finish;
		}
		r = unpack_entry(&u, e, reterr);
		if (r < 0)
			goto finish;
	}
	r = fix_dir_times(&u, reterr);
	if (r < 0)
		goto finish;
	r = drain(&u, reterr);
	if (r < 0)
		goto finish;

	if (EVP_DigestFinal_ex(sha, md, &md_len) != 1) {
		r = za_error_make(reterr, ZA_ERROR_INTERNAL, EIO, "sha256 finalization failed");
		goto finish;
	}
	hex = xmalloc(strlen("sha256:") + 2 * md_len + 1);
	memcpy(hex, "sha256:", 7);
	for (unsigned i = 0; i < md_len; i++)
		(void)snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
	log_debug("unpacked layer %s: %" PRIu64 " entries, %" PRIu64 " bytes", hex, u.entries, u.bytes);
	*ret_diff_id = hex;
	if (ret_stats)
		*ret_stats = (struct layer_unpack_stats){ .entries = u.entries, .bytes = u.bytes };
	r = 0;
finish:
	unpack_release(&u);
	return r;
}

int layer_unpack(int fd, int dir_fd, char **ret_diff_id, struct layer_unpack_stats *ret_stats,
                 struct za_error **reterr) {
	return layer_unpack_limited(fd, dir_fd, NULL, ret_diff_id, ret_stats, reterr);
}
