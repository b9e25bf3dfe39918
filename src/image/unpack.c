/* SPDX-License-Identifier: Apache-2.0 */
/* Two libarchive readers chained in one thread: `raw` (format raw, gzip and
 * zstd filters) decompresses the input descriptor; `tar` parses what `raw`
 * yields, through a read callback that also feeds the SHA-256 of the diff_id.
 * Each entry is handed to unpack-entry.c, which creates it with *at() calls
 * beneath the layer directory: archive_write_disk is not used because it
 * works relative to the process cwd and the agent is multi-threaded. */
#include "image/unpack.h"
#include "image/unpack-internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/banned.h"

#define BUF_SIZE (1024 * 1024) /* input reads and decompressed blocks */
#define KIND     ZA_ERROR_PULL_FAILED

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);

/* The best explanation of a failed read from `tar`: the input or the
 * decompressor if they failed, the tar parser otherwise. */
int unpack_stream_error(struct unpack *u, const char *entry, struct za_error **reterr) {
	char buf[UNPACK_SHOWN_SIZE];
	const char *why;
	int code;

	if (u->raw_errno) {
		if (entry)
			return za_error_make(reterr, KIND, u->raw_errno, "layer entry '%s': %s",
			                     unpack_shown(entry, buf), u->raw_error);
		return za_error_make(reterr, KIND, u->raw_errno, "%s", u->raw_error);
	}
	code = archive_errno(u->tar) > 0 ? archive_errno(u->tar) : EBADMSG;
	if (code == EILSEQ || code == EINVAL) /* libarchive's "file format" and "programmer" codes */
		code = EBADMSG;
	why = strna(archive_error_string(u->tar));
	if (entry)
		return za_error_make(reterr, KIND, code, "layer entry '%s': invalid tar data: %s",
		                     unpack_shown(entry, buf), why);
	return za_error_make(reterr, KIND, code, "layer is not a valid tar stream: %s", why);
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
		u->in_errno = errno;
		archive_set_error(a, errno, "read layer: %s", strerror(errno));
		return -1;
	}
	if (n == 0)
		u->in_eof = true;
	u->in_bytes += (uint64_t)n;
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
		if (u->raw_errno == EILSEQ || u->raw_errno == EINVAL)
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
	sha256_update(u->sha, u->tar_buf, (size_t)n);
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

static void unpack_release(struct unpack *u) {
	unpack_cache_drop(u);
	for (size_t i = 0; i < u->n_dirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
	free(u->raw_error);
	free(u->in_buf);
	free(u->tar_buf);
}

static int raw_open_error(struct unpack *u, struct za_error **reterr) {
	int code = archive_errno(u->raw);

	if (u->in_errno)
		return za_error_make(reterr, KIND, u->in_errno, "read layer: %m");
	if (u->in_bytes == 0)
		return za_error_make(reterr, KIND, EBADMSG, "layer is empty");
	return za_error_make(reterr, KIND, code > 0 && code != EILSEQ && code != EINVAL ? code : EBADMSG,
	                     "decompress layer: %s", strna(archive_error_string(u->raw)));
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
	    archive_read_support_filter_zstd(u->raw) != ARCHIVE_OK ||
	    archive_read_support_format_raw(u->raw) != ARCHIVE_OK)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOTSUP,
		                     "libarchive lacks built-in gzip or zstd support: %s",
		                     strna(archive_error_string(u->raw)));
	if (archive_read_support_format_tar(u->tar) != ARCHIVE_OK)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOTSUP, "libarchive lacks tar support");
	if (archive_read_open(u->raw, u, NULL, input_read, NULL) != ARCHIVE_OK)
		return raw_open_error(u, reterr);
	r = archive_read_next_header(u->raw, &e);
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return raw_open_error(u, reterr);
	if (archive_read_open(u->tar, u, NULL, tar_read, NULL) != ARCHIVE_OK)
		return unpack_stream_error(u, NULL, reterr);
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
			return za_error_make(reterr, KIND, u->in_errno, "read layer: %m");
	}
	return 0;
}

int layer_unpack_limited(int fd, int dir_fd, const struct layer_unpack_limits *limits, char **ret_diff_id,
                         struct layer_unpack_stats *ret_stats, struct za_error **reterr) {
	_cleanup_(archive_read_freep) struct archive *raw = NULL, *tar = NULL;
	struct sha256 sha;
	struct unpack u = {
		.in_fd = fd,
		.dir_fd = dir_fd,
		.cached_fd = -1,
		.max_entries = limits && limits->max_entries ? limits->max_entries : LAYER_UNPACK_MAX_ENTRIES,
		.max_bytes = limits ? limits->max_bytes : 0,
	};
	char *hex;
	int r;

	sha256_init(&sha);
	u.sha = &sha;
	u.in_buf = xmalloc(BUF_SIZE);
	/* A pipe: fewer, larger reads (best effort, capped by pipe-max-size). */
	(void)fcntl(fd, F_SETPIPE_SZ, BUF_SIZE);
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
			r = unpack_stream_error(&u, NULL, reterr);
			goto finish;
		}
		if (++u.entries > u.max_entries) {
			r = za_error_make(reterr, KIND, E2BIG, "layer has more than %" PRIu64 " entries",
			                  u.max_entries);
			goto finish;
		}
		r = unpack_entry(&u, e, reterr);
		if (r < 0)
			goto finish;
	}
	r = unpack_fix_dir_times(&u, reterr);
	if (r < 0)
		goto finish;
	r = drain(&u, reterr);
	if (r < 0)
		goto finish;

	hex = xmalloc(DIGEST_SHA256_LEN + 1);
	sha256_final(&sha, hex);
	log_debug("unpacked layer %s: %" PRIu64 " entries, %" PRIu64 " bytes", hex, u.entries, u.bytes);
	*ret_diff_id = hex;
	if (ret_stats)
		*ret_stats = (struct layer_unpack_stats){ .entries = u.entries, .bytes = u.bytes };
	r = 0;
finish:
	unpack_release(&u);
	sha256_release(&sha);
	return r;
}

int layer_unpack(int fd, int dir_fd, char **ret_diff_id, struct layer_unpack_stats *ret_stats,
                 struct za_error **reterr) {
	return layer_unpack_limited(fd, dir_fd, NULL, ret_diff_id, ret_stats, reterr);
}

int layer_store_file(int fd, int dir_fd, const char *name, uint64_t max_bytes, char **ret_diff_id,
                     struct layer_unpack_stats *ret_stats, struct za_error **reterr) {
	_cleanup_close_ int out = -1;
	_cleanup_free_ char *buf = xmalloc(BUF_SIZE);
	struct sha256 sha;
	uint64_t total = 0;
	char *hex;
	int r = 0;

	out = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, errno, "cannot create '%s': %m", name);
	sha256_init(&sha);
	for (;;) {
		ssize_t n = read(fd, buf, BUF_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, errno, "cannot read the layer: %m");
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (max_bytes && total > max_bytes) {
			r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EFBIG,
			                  "the module layer is larger than %" PRIu64 " bytes", max_bytes);
			break;
		}
		sha256_update(&sha, buf, (size_t)n);
		r = loop_write(out, buf, (size_t)n);
		if (r < 0) {
			r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, r, "cannot write '%s': %m", name);
			break;
		}
	}
	if (r < 0) {
		sha256_release(&sha);
		return r;
	}
	hex = xmalloc(DIGEST_SHA256_LEN + 1);
	sha256_final(&sha, hex);
	sha256_release(&sha);
	*ret_diff_id = hex;
	if (ret_stats)
		*ret_stats = (struct layer_unpack_stats){ .entries = 1, .bytes = total };
	return 0;
}
