/* SPDX-License-Identifier: Apache-2.0 */
#include "image/content.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/macro.h"
#include "basic/banned.h"

struct content_writer {
	struct content_store *cs;
	char *digest;
	char *partial; /* name in ingest/ */
	int fd;
	uint64_t size, offset;
	struct sha256 hash;
};

int content_store_open(const char *root_dir, struct content_store **ret, struct za_error **reterr) {
	_cleanup_free_ char *root = xasprintf("%s/content", root_dir), *blobs = NULL, *ingest = NULL;
	struct content_store *cs;
	int r;

	blobs = xasprintf("%s/sha256", root);
	ingest = xasprintf("%s/ingest", root);
	if ((r = mkdir_p(blobs, 0700)) < 0 || (r = mkdir_p(ingest, 0700)) < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot create content store under '%s': %m",
		                     root);
	cs = xnew(struct content_store, 1);
	cs->root = TAKE_PTR(root);
	cs->blobs_fd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cs->ingest_fd = open(ingest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cs->blobs_fd < 0 || cs->ingest_fd < 0) {
		r = -errno;
		content_store_free(cs);
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot open content store '%s': %m", blobs);
	}
	*ret = cs;
	return 0;
}

struct content_store *content_store_free(struct content_store *cs) {
	if (!cs)
		return NULL;
	safe_close(cs->blobs_fd);
	safe_close(cs->ingest_fd);
	free(cs->root);
	free(cs);
	return NULL;
}

char *content_path(const struct content_store *cs, const char *digest) {
	return xasprintf("%s/sha256/%s", cs->root, strempty(digest_hex(digest)));
}

bool content_has(const struct content_store *cs, const char *digest, uint64_t *ret_size) {
	struct stat st;

	if (!digest_is_sha256(digest))
		return false;
	if (fstatat(cs->blobs_fd, digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	if (ret_size)
		*ret_size = (uint64_t)st.st_size;
	return true;
}

static int invalid_digest(struct za_error **reterr, const char *digest) {
	return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EINVAL,
	                     "digest '%s' is not a sha256 digest; only sha256 content is stored", strna(digest));
}

int content_read(const struct content_store *cs, const char *digest, size_t cap, char **ret_buf, size_t *ret_len,
                 struct za_error **reterr) {
	_cleanup_free_ char *buf = NULL, *actual = NULL;
	_cleanup_close_ int fd = -1;
	size_t len;
	int r;

	if (!digest_is_sha256(digest))
		return invalid_digest(reterr, digest);
	fd = openat(cs->blobs_fd, digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return za_error_make(reterr, errno == ENOENT ? ZA_ERROR_NOT_FOUND : ZA_ERROR_INTERNAL, errno,
		                     "blob '%s' is not in the content store: %m", digest);
	r = read_full_fd(fd, cap, &buf, &len);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot read blob '%s': %m", digest);
	actual = digest_sha256_buf(buf, len);
	if (!streq(actual, digest))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EBADMSG,
		                     "blob '%s' in the content store is corrupt (its content hashes to '%s')", digest,
		                     actual);
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* fsync'd temp file in ingest/, renamed into sha256/. */
static int content_publish(struct content_store *cs, int fd, const char *tmpname, const char *digest) {
	if (fsync(fd) < 0)
		return -errno;
	if (renameat(cs->ingest_fd, tmpname, cs->blobs_fd, digest_hex(digest)) < 0)
		return -errno;
	(void)fsync(cs->blobs_fd);
	return 0;
}

int content_write(struct content_store *cs, const void *data, size_t len, const char *digest, char **ret_digest,
                  struct za_error **reterr) {
	_cleanup_free_ char *actual = digest_sha256_buf(data, len), *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (digest && !streq(actual, digest))
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
		                     "digest mismatch: expected '%s', content hashes to '%s'", digest, actual);
	if (!content_has(cs, actual, NULL)) {
		tmp = xasprintf("%s.write.%d.%p", digest_hex(actual), getpid(), (void *)&fd);
		fd = openat(cs->ingest_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot write blob '%s': %m", actual);
		r = loop_write(fd, data, len);
		if (r >= 0)
			r = content_publish(cs, fd, tmp, actual);
		if (r < 0) {
			(void)unlinkat(cs->ingest_fd, tmp, 0);
			return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot write blob '%s': %m", actual);
		}
	}
	if (ret_digest)
		*ret_digest = TAKE_PTR(actual);
	return 0;
}

int content_remove(struct content_store *cs, const char *digest) {
	if (!digest_is_sha256(digest))
		return -EINVAL;
	if (unlinkat(cs->blobs_fd, digest_hex(digest), 0) < 0)
		return -errno;
	return 0;
}

int content_list(const struct content_store *cs, char ***ret, struct za_error **reterr) {
	_cleanup_strv_free_ char **l = NULL;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(cs->blobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		safe_close(fd);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot list the content store: %m");
	}
	while ((de = readdir(d))) {
		_cleanup_free_ char *dg = NULL;

		if (de->d_name[0] == '.')
			continue;
		dg = xasprintf("sha256:%s", de->d_name);
		if (digest_is_sha256(dg))
			strv_push(&l, dg);
	}
	closedir(d);
	*ret = l ? TAKE_PTR(l) : xnew(char *, 1);
	return 0;
}

int content_writer_open(struct content_store *cs, const char *digest, uint64_t size, struct content_writer **ret,
                        struct za_error **reterr) {
	struct content_writer *w;
	struct stat st;

	if (!digest_is_sha256(digest))
		return invalid_digest(reterr, digest);
	w = xnew(struct content_writer, 1);
	w->cs = cs;
	w->digest = xstrdup(digest);
	w->size = size;
	w->partial = xasprintf("%s.partial", digest_hex(digest));
	sha256_init(&w->hash);
	w->fd = openat(cs->ingest_fd, w->partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd < 0) {
		int r = -errno;
		content_writer_abort(w, false);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot open download file for '%s': %m", digest);
	}
	/* One writer per digest: a second concurrent writer would interleave. */
	if (flock(w->fd, LOCK_EX | LOCK_NB) < 0) {
		int r = -errno;
		content_writer_abort(w, false);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "blob '%s' is being downloaded by another writer",
		                     digest);
	}
	if (fstat(w->fd, &st) == 0 && st.st_size > 0) {
		/* Resume: re-hash what is there; a partial longer than the blob is junk. */
		if ((uint64_t)st.st_size > size) {
			if (ftruncate(w->fd, 0) < 0) {
				int r = -errno;
				content_writer_abort(w, true);
				return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot reset download of '%s': %m",
				                     digest);
			}
		} else {
			char buf[1 << 16];
			uint64_t left = (uint64_t)st.st_size;

			while (left > 0) {
				ssize_t n = pread(w->fd, buf, MIN(sizeof(buf), left), (off_t)w->offset);
				if (n <= 0)
					break;
				sha256_update(&w->hash, buf, (size_t)n);
				w->offset += (uint64_t)n;
				left -= (uint64_t)n;
			}
		}
	}
	if (lseek(w->fd, (off_t)w->offset, SEEK_SET) < 0 || ftruncate(w->fd, (off_t)w->offset) < 0) {
		int r = -errno;
		content_writer_abort(w, true);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot position download of '%s': %m", digest);
	}
	*ret = w;
	return 0;
}

uint64_t content_writer_offset(const struct content_writer *w) {
	return w->offset;
}

int content_writer_partial_fd(const struct content_writer *w) {
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", w->fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

int content_writer_write(struct content_writer *w, const void *data, size_t len, struct za_error **reterr) {
	int r;

	if (len > w->size - w->offset)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EFBIG,
		                     "blob '%s' is larger than the %" PRIu64 " bytes its descriptor declares",
		                     w->digest, w->size);
	r = loop_write(w->fd, data, len);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot write blob '%s': %m", w->digest);
	sha256_update(&w->hash, data, len);
	w->offset += len;
	return 0;
}

int content_writer_commit(struct content_writer *w, struct za_error **reterr) {
	char actual[DIGEST_SHA256_LEN + 1];
	int r;

	if (w->offset != w->size) {
		r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPIPE,
		                  "blob '%s' ended after %" PRIu64 " of %" PRIu64 " bytes", w->digest, w->offset,
		                  w->size);
		content_writer_abort(w, false);
		return r;
	}
	sha256_final(&w->hash, actual);
	if (!streq(actual, w->digest)) {
		r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
		                  "digest mismatch for blob '%s': the downloaded content hashes to '%s'", w->digest,
		                  actual);
		content_writer_abort(w, true);
		return r;
	}
	r = content_publish(w->cs, w->fd, w->partial, w->digest);
	if (r < 0) {
		za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot store blob '%s': %m", w->digest);
		content_writer_abort(w, true);
		return r;
	}
	free(w->partial);
	w->partial = NULL;
	content_writer_abort(w, false);
	return 0;
}

void content_writer_abort(struct content_writer *w, bool discard) {
	if (!w)
		return;
	if (discard && w->partial)
		(void)unlinkat(w->cs->ingest_fd, w->partial, 0);
	safe_close(w->fd);
	sha256_release(&w->hash);
	free(w->partial);
	free(w->digest);
	free(w);
}

int content_ingest_clear(struct content_store *cs) {
	struct dirent *de;
	DIR *d;
	int fd = openat(cs->ingest_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(d = fdopendir(fd))) {
		safe_close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !strstr(de->d_name, ".partial"))
			(void)unlinkat(cs->ingest_fd, de->d_name, 0); /* half-written small blobs */
	closedir(d);
	return 0;
}
