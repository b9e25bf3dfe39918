/* SPDX-License-Identifier: Apache-2.0 */
/* Layers come from registries: whatever their bytes, layer_unpack() must
 * create nothing outside the layer directory, and must explain a failure.
 * The first input byte picks a mode. Odd: the rest is the layer stream
 * itself (tar, gzip or zstd). Even: the rest is lines describing entries,
 * "<type><path>[\t<target or data>]", written as a tar with libarchive, so
 * that paths, symlinks and hardlinks get explored without fighting tar
 * checksums. Types: f file, d dir, l symlink, h hardlink, c char device,
 * p fifo, x file with an xattr "<name>=<value>". Targets starting with '@'
 * point at the sentinel directory, '%' at the fuzzing root.
 *
 * Layout, made once: /tmp/za-fuzz-tar-XXXXXX/{layer,sentinel,outside}.
 * Run it as root in a throwaway mount namespace: a bug here writes where a
 * hostile layer wants. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "image/unpack.h"
#include "basic/banned.h"

#define INPUT_MAX   (1024 * 1024)
#define ENTRIES_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[] = "/tmp/za-fuzz-tar-XXXXXX";
static char *layer, *sentinel, *outside;

static void cleanup(void) {
	rm_rf(root);
}

static void setup_once(void) {
	if (layer)
		return;
	if (!mkdtemp(root))
		abort();
	atexit(cleanup); /* libFuzzer exit()s at the end of a run; a crash keeps the tree */
	layer = xasprintf("%s/layer", root);
	sentinel = xasprintf("%s/sentinel", root);
	outside = xasprintf("%s/outside", root);
	if (mkdir(sentinel, 0755) < 0 || write_file_atomic(outside, "precious", 8, 0644) < 0)
		abort();
}

/* Only layer, sentinel and outside next to each other; sentinel empty;
 * outside untouched and not linked from anywhere. */
static void check_confined(void) {
	_cleanup_free_ char *got = NULL;
	struct dirent *de;
	struct stat st;
	size_t len;
	DIR *d;

	d = opendir(root);
	if (!d)
		abort();
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && !streq(de->d_name, "layer") &&
		    !streq(de->d_name, "sentinel") && !streq(de->d_name, "outside"))
			abort();
	closedir(d);
	d = opendir(sentinel);
	if (!d)
		abort();
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			abort();
	closedir(d);
	if (lstat(outside, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_size != 8)
		abort();
	if (read_full_file(outside, 100, &got, &len) < 0 || !streq(got, "precious"))
		abort();
}

static la_ssize_t write_cb(struct archive *a, void *userdata, const void *p, size_t n) {
	if (loop_write(*(int *)userdata, p, n) < 0)
		return -1;
	return (la_ssize_t)n;
}

static const char *expand(const char *t, char **buf) {
	if (t[0] == '@')
		return *buf = xasprintf("%s%s", sentinel, t + 1);
	if (t[0] == '%')
		return *buf = xasprintf("%s%s", root, t + 1);
	return t;
}

/* Write the entries described by `text` as a pax tar into fd. */
static void write_structured(int fd, char *text) {
	struct archive *a = archive_write_new();
	char *save = NULL, *line;
	int n = 0;

	if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open(a, &fd, NULL, write_cb, NULL) != ARCHIVE_OK)
		abort();
	for (line = strtok_r(text, "\n", &save); line && n < ENTRIES_MAX; line = strtok_r(NULL, "\n", &save), n++) {
		struct archive_entry *e = archive_entry_new();
		_cleanup_free_ char *buf = NULL;
		char type = line[0], *arg = strchr(line, '\t'), *eq;
		const char *path = type ? line + 1 : line;

		if (arg)
			*arg++ = 0;
		if (!arg)
			arg = "";
		archive_entry_copy_pathname(e, path);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_filetype(e, AE_IFREG);
		switch (type) {
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_copy_symlink(e, expand(arg, &buf));
			break;
		case 'h':
			archive_entry_copy_hardlink(e, expand(arg, &buf));
			break;
		case 'c':
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_rdevmajor(e, 1);
			archive_entry_set_rdevminor(e, 3);
			break;
		case 'p':
			archive_entry_set_filetype(e, AE_IFIFO);
			break;
		case 'x':
			eq = strchr(arg, '=');
			if (eq) {
				*eq = 0;
				archive_entry_xattr_add_entry(e, arg, eq + 1, strlen(eq + 1));
			}
			arg = "";
			break;
		default:
			break;
		}
		if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e))
			archive_entry_set_size(e, (la_int64_t)strlen(arg));
		if (archive_write_header(a, e) >= ARCHIVE_WARN && archive_entry_filetype(e) == AE_IFREG &&
		    !archive_entry_hardlink(e) && *arg)
			(void)archive_write_data(a, arg, strlen(arg));
		archive_entry_free(e);
	}
	(void)archive_write_close(a);
	archive_write_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	struct layer_unpack_limits limits = { .max_entries = 10000, .max_bytes = 64 * 1024 * 1024 };
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *diff_id = NULL;
	_cleanup_close_ int in = -1, dir = -1;
	int r;

	if (size < 1 || size > INPUT_MAX)
		return 0;
	setup_once();
	in = memfd_create("fuzz-tar-path", MFD_CLOEXEC);
	if (in < 0)
		abort();
	if (data[0] & 1) {
		if (loop_write(in, data + 1, size - 1) < 0)
			abort();
	} else {
		_cleanup_free_ char *text = xstrndup((const char *)data + 1, size - 1);
		write_structured(in, text);
	}
	if (lseek(in, 0, SEEK_SET) < 0)
		abort();
	if (mkdir(layer, 0755) < 0)
		abort();
	dir = open(layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		abort();

	r = layer_unpack_limited(in, dir, &limits, &diff_id, NULL, &err);
	if (r < 0) {
		/* A failure explains itself and hands nothing out. */
		if (!err || err->code != -r || isempty(err->message) || diff_id)
			abort();
	} else if (err || !diff_id || strlen(diff_id) != 7 + 64 || !strneq(diff_id, "sha256:", 7))
		abort();

	check_confined();
	rm_rf(layer);
	return 0;
}
