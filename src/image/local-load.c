/* SPDX-License-Identifier: Apache-2.0 */
#include "image/local-load.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/strbuf.h"
#include "image/digest.h"
#include "image/reference.h"
#include "basic/banned.h"

#define LAYOUT_JSON_MAX     (4u << 20)
#define ARCHIVE_MAX_ENTRIES 100000

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free)

/* Copy a file into the content store, verifying digest and size. */
static int import_blob(struct content_store *cs, const char *path, const char *digest, uint64_t size,
                       struct za_error **reterr) {
	struct content_writer *w = NULL;
	_cleanup_close_ int fd = -1;
	char buf[1 << 16];
	int r;

	if (content_has(cs, digest, NULL))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, errno,
		                     "blob '%s' is missing from the image source: %m", digest);
	r = content_writer_open(cs, digest, size, &w, reterr);
	if (r < 0)
		return r;
	if (content_writer_offset(w) > 0) { /* restart: a local file needs no resume */
		content_writer_abort(w, true);
		r = content_writer_open(cs, digest, size, &w, reterr);
		if (r < 0)
			return r;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			r = za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot read '%s': %m", path);
			content_writer_abort(w, true);
			return r;
		}
		if (n == 0)
			break;
		r = content_writer_write(w, buf, (size_t)n, reterr);
		if (r < 0) {
			content_writer_abort(w, true);
			return r;
		}
	}
	return content_writer_commit(w, reterr);
}

static char *layout_blob_path(const char *dir, const char *digest) {
	const char *hex = digest_hex(digest);
	_cleanup_free_ char *algo = xstrndup(digest, (size_t)(hex - 1 - digest));
	return xasprintf("%s/blobs/%s/%s", dir, algo, hex);
}

static int read_layout_blob(const char *dir, const char *digest, size_t cap, char **ret, size_t *ret_len,
                            struct za_error **reterr) {
	_cleanup_free_ char *path = layout_blob_path(dir, digest), *buf = NULL, *actual = NULL;
	size_t len;
	int r;

	r = read_full_file(path, cap, &buf, &len);
	if (r < 0)
		return za_error_make(reterr, r == -ENOENT ? ZA_ERROR_NOT_FOUND : ZA_ERROR_PULL_FAILED, r,
		                     "cannot read blob '%s' of the layout: %m", digest);
	actual = digest_sha256_buf(buf, len);
	if (!streq(actual, digest))
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
		                     "digest mismatch for blob '%s' of the layout: its content hashes to '%s'", digest,
		                     actual);
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* Pick the manifest of an OCI layout: by tag annotation, else the only one. */
static int layout_pick(const char *dir, const char *tag, const struct oci_platform *platform, char **ret_digest,
                       struct za_error **reterr) {
	_cleanup_free_ char *path = xasprintf("%s/index.json", dir), *buf = NULL;
	json_t *j, *arr, *v;
	json_error_t jerr;
	size_t len, i, n_found = 0;
	const char *found = NULL, *found_type = NULL;
	_cleanup_strbuf_ struct strbuf tags = STRBUF_INIT;
	int r;

	r = read_full_file(path, LAYOUT_JSON_MAX, &buf, &len);
	if (r < 0)
		return za_error_make(reterr, r == -ENOENT ? ZA_ERROR_NOT_FOUND : ZA_ERROR_PULL_FAILED, r,
		                     "'%s' is not an OCI image layout: cannot read index.json: %m", dir);
	j = json_loadb(buf, len, 0, &jerr);
	arr = json_object_get(j, "manifests");
	if (!json_is_array(arr)) {
		json_decref(j);
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "'%s': index.json has no 'manifests' array",
		                     path);
	}
	json_array_foreach(arr, i, v) {
		const char *name = json_string_value(
		        json_object_get(json_object_get(v, "annotations"), "org.opencontainers.image.ref.name"));
		const char *d = json_string_value(json_object_get(v, "digest"));

		if (name)
			strbuf_addf(&tags, "%s%s", tags.len ? ", " : "", name);
		if (!d || (tag && (!name || !streq(name, tag))))
			continue;
		found = d;
		found_type = json_string_value(json_object_get(v, "mediaType"));
		n_found++;
	}
	if (n_found != 1) {
		_cleanup_free_ char *t = tags.len ? strbuf_detach(&tags, NULL) : xstrdup("none");
		json_decref(j);
		if (tag)
			return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT,
			                     "tag '%s' is not in the layout '%s' (tags: %s)", tag, dir, t);
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT,
		                     "layout '%s' holds %zu images; name one with :TAG (tags: %s)", dir, n_found, t);
	}
	if (!digest_is_sha256(found)) {
		_cleanup_free_ char *copy = xstrdup(found);
		json_decref(j);
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "layout entry digest '%s' is not sha256",
		                     copy);
	}
	*ret_digest = xstrdup(found);
	if (found_type && (streq(found_type, MEDIA_TYPE_OCI_INDEX) || streq(found_type, MEDIA_TYPE_DOCKER_LIST))) {
		/* nested index: select the platform */
		_cleanup_free_ char *ibuf = NULL;
		struct oci_index idx = {};
		const struct oci_descriptor *d;

		r = read_layout_blob(dir, *ret_digest, MANIFEST_MAX_SIZE, &ibuf, &len, reterr);
		if (r >= 0)
			r = oci_index_parse(ibuf, len, &idx, reterr);
		if (r >= 0)
			r = oci_index_select(&idx, platform, &d, reterr);
		if (r >= 0) {
			free(*ret_digest);
			*ret_digest = xstrdup(d->digest);
		}
		oci_index_release(&idx);
		if (r < 0) {
			free(*ret_digest);
			*ret_digest = NULL;
		}
	}
	json_decref(j);
	return r;
}

static int load_layout(const char *dir, const char *tag, const char *refname, const struct load_options *o,
                       struct store_image *ret, struct za_error **reterr) {
	_cleanup_free_ char *digest = NULL, *mbuf = NULL, *cbuf = NULL;
	struct oci_manifest m = {};
	struct oci_image_config c = {};
	struct oci_platform node = {};
	struct store_image img = {};
	size_t mlen, clen;
	int r;

	oci_platform_default(&node);
	r = layout_pick(dir, tag, o->platform ? o->platform : &node, &digest, reterr);
	if (r >= 0)
		r = read_layout_blob(dir, digest, MANIFEST_MAX_SIZE, &mbuf, &mlen, reterr);
	if (r >= 0)
		r = oci_manifest_parse(mbuf, mlen, &m, reterr);
	if (r >= 0)
		r = read_layout_blob(dir, m.config.digest, IMAGE_CONFIG_MAX_SIZE, &cbuf, &clen, reterr);
	if (r >= 0)
		r = oci_image_config_parse(cbuf, clen, &c, reterr);
	if (r >= 0)
		r = oci_platform_check_os(c.os, o->platform ? o->platform : &node, reterr);
	oci_platform_release(&node);
	if (r >= 0)
		r = content_write(o->content, mbuf, mlen, digest, NULL, reterr);
	if (r >= 0)
		r = content_write(o->content, cbuf, clen, m.config.digest, NULL, reterr);
	for (size_t i = 0; r >= 0 && i < m.n_layers; i++) {
		_cleanup_free_ char *p = layout_blob_path(dir, m.layers[i].digest);
		if (!digest_is_sha256(m.layers[i].digest))
			r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPROTONOSUPPORT,
			                  "layer digest '%s' is not sha256", m.layers[i].digest);
		else
			r = import_blob(o->content, p, m.layers[i].digest, m.layers[i].size, reterr);
	}
	if (r >= 0) {
		struct layers_job job = { .root_dir = o->root_dir,
			                  .content = o->content,
			                  .manifest = &m,
			                  .config = &c,
			                  .on_progress = o->on_progress,
			                  .userdata = o->userdata };
		r = layers_fetch_and_unpack(&job, &img, reterr);
	}
	if (r >= 0) {
		img.digest = TAKE_PTR(digest);
		img.config_digest = xstrdup(m.config.digest);
		img.media_type = xstrdup(m.media_type ? m.media_type : MEDIA_TYPE_OCI_MANIFEST);
		img.os = c.os ? xstrdup(c.os) : NULL;
		img.arch = c.architecture ? xstrdup(c.architecture) : NULL;
		img.variant = c.variant ? xstrdup(c.variant) : NULL;
		img.created = c.created ? xstrdup(c.created) : NULL;
		img.size = m.config.size;
		for (size_t i = 0; i < m.n_layers; i++)
			img.size += m.layers[i].size;
		img.pulled_at = (int64_t)time(NULL);
		strv_push(&img.references, refname);
		*ret = img;
	} else
		store_image_release(&img);
	oci_manifest_release(&m);
	oci_image_config_release(&c);
	return r;
}

/* Extract the regular files and directories of a tar into dir, refusing
 * anything else and any path that could leave it. */
static int extract_archive(const char *file, const char *dir, struct za_error **reterr) {
	_cleanup_(archive_read_freep) struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t n = 0;
	int r;

	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, file, 1 << 20) != ARCHIVE_OK)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, archive_errno(a) > 0 ? archive_errno(a) : ENOENT,
		                     "cannot open archive '%s': %s", file, archive_error_string(a));
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		_cleanup_free_ char *path = NULL;
		_cleanup_close_ int fd = -1;
		mode_t type = archive_entry_filetype(e);

		while (name && strneq(name, "./", 2))
			name += 2;
		if (!name || !*name || streq(name, "."))
			continue;
		if (++n > ARCHIVE_MAX_ENTRIES)
			return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EFBIG,
			                     "archive '%s' has more than %d entries", file, ARCHIVE_MAX_ENTRIES);
		if (name[0] == '/' || streq(name, "..") || strneq(name, "../", 3) || strstr(name, "/../") ||
		    (strlen(name) >= 3 && streq(name + strlen(name) - 3, "/..")))
			return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPERM,
			                     "archive '%s': entry '%s' escapes the archive", file, name);
		path = xasprintf("%s/%s", dir, name);
		if (type == AE_IFDIR) {
			if ((r = mkdir_p(path, 0700)) < 0)
				return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot create '%s': %m", path);
			continue;
		}
		if (type != AE_IFREG)
			continue; /* image archives hold only files and directories */
		{
			_cleanup_free_ char *parent = xstrdup(path);
			char *slash = strrchr(parent, '/');
			*slash = '\0';
			if ((r = mkdir_p(parent, 0700)) < 0)
				return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot create '%s': %m", parent);
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return za_error_make(reterr, ZA_ERROR_PULL_FAILED, errno,
			                     "archive '%s': cannot extract entry '%s': %m", file, name);
		if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK)
			return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EIO, "archive '%s': entry '%s': %s", file,
			                     name, archive_error_string(a));
	}
	if (r != ARCHIVE_EOF)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EIO, "archive '%s' is damaged: %s", file,
		                     archive_error_string(a));
	return 0;
}

/* A classic `docker save` archive: manifest.json + config + layer tars.
 * Writes an OCI layout for it next to the extracted files. */
static int docker_archive_to_layout(const char *dir, char **ret_refname, struct za_error **reterr) {
	_cleanup_free_ char *mpath = xasprintf("%s/manifest.json", dir), *buf = NULL, *cfg_digest = NULL;
	_cleanup_free_ char *mdigest = NULL, *manifest_text = NULL, *index_text = NULL;
	json_t *j, *entry, *layers, *v, *manifest_json, *layer_arr;
	json_error_t jerr;
	const char *cfg;
	size_t len, i;
	int r;

	r = read_full_file(mpath, LAYOUT_JSON_MAX, &buf, &len);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, r,
		                     "not a docker archive: cannot read manifest.json: %m");
	j = json_loadb(buf, len, 0, &jerr);
	entry = json_array_get(j, 0);
	cfg = json_string_value(json_object_get(entry, "Config"));
	layers = json_object_get(entry, "Layers");
	if (!json_is_array(j) || json_array_size(j) != 1 || !cfg || !json_is_array(layers)) {
		json_decref(j);
		return za_error_make(
		        reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
		        "docker archive manifest.json must describe exactly one image with Config and Layers");
	}
	layer_arr = json_array();
	{
		_cleanup_free_ char *cpath = xasprintf("%s/%s", dir, cfg), *cbuf = NULL, *target = NULL;
		size_t clen;

		r = read_full_file(cpath, IMAGE_CONFIG_MAX_SIZE, &cbuf, &clen);
		if (r >= 0) {
			cfg_digest = digest_sha256_buf(cbuf, clen);
			target = xasprintf("%s/blobs/sha256/%s", dir, digest_hex(cfg_digest));
			_cleanup_free_ char *blobdir = xasprintf("%s/blobs/sha256", dir);
			(void)mkdir_p(blobdir, 0700);
			r = write_file_atomic(target, cbuf, clen, 0600);
		}
		if (r < 0) {
			json_decref(j);
			json_decref(layer_arr);
			return za_error_make(reterr, ZA_ERROR_PULL_FAILED, r,
			                     "docker archive: cannot read config '%s': %m", cfg);
		}
		manifest_json = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}}", "schemaVersion", 2, "mediaType",
		                          MEDIA_TYPE_DOCKER_MANIFEST, "config", "mediaType", MEDIA_TYPE_DOCKER_CONFIG,
		                          "digest", cfg_digest, "size", (json_int_t)clen);
	}
	json_array_foreach(layers, i, v) {
		_cleanup_free_ char *lpath = NULL, *target = NULL;
		_cleanup_close_ int fd = -1;
		struct sha256 h;
		unsigned char magic[4] = { 0 };
		char out[DIGEST_SHA256_LEN + 1], rbuf[1 << 16];
		uint64_t size = 0;
		ssize_t n;

		if (!json_is_string(v)) {
			r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
			                  "docker archive: layer %zu is not a path", i);
			break;
		}
		lpath = xasprintf("%s/%s", dir, json_string_value(v));
		fd = open(lpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, errno, "docker archive: layer '%s': %m",
			                  json_string_value(v));
			break;
		}
		sha256_init(&h);
		while ((n = read(fd, rbuf, sizeof(rbuf))) > 0) {
			if (size == 0)
				memcpy(magic, rbuf, MIN((size_t)n, sizeof(magic)));
			sha256_update(&h, rbuf, (size_t)n);
			size += (uint64_t)n;
		}
		sha256_final(&h, out);
		sha256_release(&h);
		target = xasprintf("%s/blobs/sha256/%s", dir, digest_hex(out));
		if (rename(lpath, target) < 0 && errno != EEXIST) {
			r = za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot move layer '%s': %m", lpath);
			break;
		}
		json_array_append_new(layer_arr, json_pack("{s:s, s:s, s:I}", "mediaType",
		                                           magic[0] == 0x1f && magic[1] == 0x8b
		                                                   ? MEDIA_TYPE_DOCKER_LAYER_GZIP
		                                                   : "application/vnd.docker.image.rootfs.diff.tar",
		                                           "digest", out, "size", (json_int_t)size));
	}
	json_object_set_new(manifest_json, "layers", layer_arr);
	if (r >= 0) {
		const char *tag = json_string_value(json_array_get(json_object_get(entry, "RepoTags"), 0));
		_cleanup_free_ char *target = NULL, *ipath = xasprintf("%s/index.json", dir);

		manifest_text = json_dumps(manifest_json, JSON_COMPACT);
		mdigest = digest_sha256_buf(manifest_text, strlen(manifest_text));
		target = xasprintf("%s/blobs/sha256/%s", dir, digest_hex(mdigest));
		r = write_file_atomic(target, manifest_text, strlen(manifest_text), 0600);
		index_text = xasprintf(
		        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
		        MEDIA_TYPE_DOCKER_MANIFEST, mdigest, strlen(manifest_text));
		if (r >= 0)
			r = write_file_atomic(ipath, index_text, strlen(index_text), 0600);
		if (r < 0)
			za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot convert the docker archive: %m");
		else if (tag) {
			struct image_reference ref;
			image_reference_init(&ref);
			if (image_reference_parse(tag, &ref, NULL) >= 0)
				*ret_refname = image_reference_to_string(&ref);
			image_reference_release(&ref);
		}
	}
	json_decref(manifest_json);
	json_decref(j);
	return r;
}

int image_load(const char *reference, const struct load_options *o, struct store_image *ret, struct za_error **reterr) {
	struct image_reference ref;
	_cleanup_free_ char *normal = NULL, *tmp = NULL, *refname = NULL, *layout = NULL;
	int r;

	image_reference_init(&ref);
	r = image_reference_parse(reference, &ref, reterr);
	if (r < 0)
		return r;
	normal = image_reference_to_string(&ref);
	if (ref.transport == IMAGE_TRANSPORT_REGISTRY) {
		image_reference_release(&ref);
		return za_error_make(
		        reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		        "'%s' is a registry reference; load takes oci-layout:DIR[:TAG], oci-archive:FILE[:TAG] "
		        "or docker-archive:FILE (use pull for registries)",
		        reference);
	}
	if (ref.transport == IMAGE_TRANSPORT_OCI_LAYOUT)
		layout = xstrdup(ref.local_path);
	else {
		_cleanup_free_ char *tmpdir = xasprintf("%s/tmp", o->root_dir);
		tmp = xasprintf("%s/load-XXXXXX", tmpdir);
		(void)mkdir_p(tmpdir, 0700);
		if (!mkdtemp(tmp)) {
			r = za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot create a temporary directory: %m");
			free(tmp);
			tmp = NULL;
		} else {
			r = extract_archive(ref.local_path, tmp, reterr);
			layout = xstrdup(tmp);
		}
		if (r >= 0 && ref.transport == IMAGE_TRANSPORT_DOCKER_ARCHIVE) {
			struct stat st;
			_cleanup_free_ char *idx = xasprintf("%s/index.json", tmp);
			/* Docker 25+ writes an OCI layout inside the archive; use it as is. */
			if (stat(idx, &st) < 0)
				r = docker_archive_to_layout(tmp, &refname, reterr);
		}
	}
	if (r >= 0)
		r = load_layout(layout, ref.tag, refname ? refname : normal, o, ret, reterr);
	if (tmp)
		rm_rf(tmp);
	if (r < 0)
		za_error_wrap(reterr, "load '%s'", reference);
	image_reference_release(&ref);
	return r;
}
