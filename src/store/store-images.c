/* SPDX-License-Identifier: Apache-2.0 */
/* Rows of the images, image_layers, tags and snapshots tables. */
#include "store/store-images.h"

#include <time.h>

#include "basic/alloc.h"
#include "store/store-internal.h"
#include "basic/banned.h"

void store_layer_release(struct store_layer *l) {
	if (!l)
		return;
	free(l->blob_digest);
	free(l->diff_id);
	free(l->chain_id);
	free(l->media_type);
	*l = (struct store_layer){ 0 };
}

void store_image_release(struct store_image *img) {
	if (!img)
		return;
	free(img->digest);
	free(img->index_digest);
	free(img->config_digest);
	free(img->media_type);
	free(img->os);
	free(img->arch);
	free(img->variant);
	free(img->created);
	for (size_t i = 0; i < img->n_layers; i++)
		store_layer_release(&img->layers[i]);
	free(img->layers);
	strv_free(img->references);
	*img = (struct store_image){ 0 };
}

void store_images_free(struct store_image *imgs, size_t n) {
	for (size_t i = 0; imgs && i < n; i++)
		store_image_release(&imgs[i]);
	free(imgs);
}

static int check_required(const char *what, const char *value, struct za_error **reterr) {
	if (isempty(value))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "metadata database: image record without %s",
		                     what);
	return 0;
}

static int image_exists(struct store *s, const char *digest, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = store_prepare(s, "SELECT 1 FROM images WHERE digest = ?", &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, digest);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_error(s, rc, reterr, "look up image");
}

static int put_tag(struct store *s, const char *reference, const char *digest, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = store_prepare(s,
	                  "INSERT INTO tags (reference, image_digest) VALUES (?, ?) "
	                  "ON CONFLICT (reference) DO UPDATE SET image_digest = excluded.image_digest",
	                  &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, reference);
	(void)store_bind_text(st, 2, digest);
	return store_step_done(s, st, reterr, "set tag");
}

static int put_image_row(struct store *s, const struct store_image *img, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = store_prepare(s,
	                  "INSERT INTO images (digest, index_digest, config_digest, media_type, os, arch, variant, "
	                  "size, created, pulled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	                  "ON CONFLICT (digest) DO UPDATE SET index_digest = excluded.index_digest, "
	                  "config_digest = excluded.config_digest, media_type = excluded.media_type, "
	                  "os = excluded.os, arch = excluded.arch, variant = excluded.variant, "
	                  "size = excluded.size, created = excluded.created, pulled_at = excluded.pulled_at",
	                  &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, img->digest);
	(void)store_bind_text(st, 2, img->index_digest);
	(void)store_bind_text(st, 3, img->config_digest);
	(void)store_bind_text(st, 4, img->media_type);
	(void)store_bind_text(st, 5, img->os);
	(void)store_bind_text(st, 6, img->arch);
	(void)store_bind_text(st, 7, img->variant);
	(void)sqlite3_bind_int64(st, 8, (sqlite3_int64)img->size);
	(void)store_bind_text(st, 9, img->created);
	(void)sqlite3_bind_int64(st, 10, img->pulled_at);
	return store_step_done(s, st, reterr, "write image");
}

static int put_layers(struct store *s, const struct store_image *img, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *del = NULL, *lay = NULL, *snap = NULL;
	int64_t now = (int64_t)time(NULL);
	int r;

	r = store_prepare(s, "DELETE FROM image_layers WHERE image_digest = ?", &del, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(del, 1, img->digest);
	r = store_step_done(s, del, reterr, "replace image layers");
	if (r < 0)
		return r;

	r = store_prepare(s,
	                  "INSERT INTO image_layers (image_digest, idx, blob_digest, diff_id, chain_id, size, "
	                  "media_type) VALUES (?, ?, ?, ?, ?, ?, ?)",
	                  &lay, reterr);
	if (r < 0)
		return r;
	r = store_prepare(s,
	                  "INSERT OR IGNORE INTO snapshots (chain_id, parent, diff_id, size, created_at) "
	                  "VALUES (?, ?, ?, ?, ?)",
	                  &snap, reterr);
	if (r < 0)
		return r;

	for (size_t i = 0; i < img->n_layers; i++) {
		const struct store_layer *l = &img->layers[i];

		if ((r = check_required("layer blob digest", l->blob_digest, reterr)) < 0 ||
		    (r = check_required("layer diff id", l->diff_id, reterr)) < 0 ||
		    (r = check_required("layer chain id", l->chain_id, reterr)) < 0 ||
		    (r = check_required("layer media type", l->media_type, reterr)) < 0)
			return r;

		(void)sqlite3_reset(lay);
		(void)store_bind_text(lay, 1, img->digest);
		(void)sqlite3_bind_int64(lay, 2, (sqlite3_int64)i);
		(void)store_bind_text(lay, 3, l->blob_digest);
		(void)store_bind_text(lay, 4, l->diff_id);
		(void)store_bind_text(lay, 5, l->chain_id);
		(void)sqlite3_bind_int64(lay, 6, (sqlite3_int64)l->size);
		(void)store_bind_text(lay, 7, l->media_type);
		r = store_step_done(s, lay, reterr, "write image layer");
		if (r < 0)
			return r;

		(void)sqlite3_reset(snap);
		(void)store_bind_text(snap, 1, l->chain_id);
		(void)store_bind_text(snap, 2, i > 0 ? img->layers[i - 1].chain_id : NULL);
		(void)store_bind_text(snap, 3, l->diff_id);
		(void)sqlite3_bind_int64(snap, 4, (sqlite3_int64)l->unpacked_size);
		(void)sqlite3_bind_int64(snap, 5, now);
		r = store_step_done(s, snap, reterr, "write snapshot");
		if (r < 0)
			return r;
	}
	return 0;
}

int store_image_put(struct store *s, const struct store_image *img, struct za_error **reterr) {
	int r;

	if ((r = check_required("digest", img->digest, reterr)) < 0 ||
	    (r = check_required("config digest", img->config_digest, reterr)) < 0 ||
	    (r = check_required("media type", img->media_type, reterr)) < 0)
		return r;

	r = store_begin(s, reterr);
	if (r < 0)
		return r;
	r = put_image_row(s, img, reterr);
	if (r >= 0)
		r = put_layers(s, img, reterr);
	STRV_FOREACH (ref, img->references) {
		if (r < 0)
			break;
		r = put_tag(s, *ref, img->digest, reterr);
	}
	if (r < 0) {
		store_rollback(s);
		return za_error_wrap(reterr, "record image '%s'", img->digest);
	}
	return store_commit(s, reterr);
}

static void image_from_row(sqlite3_stmt *st, struct store_image *img) {
	img->digest = store_column_text(st, 0);
	img->index_digest = store_column_text(st, 1);
	img->config_digest = store_column_text(st, 2);
	img->media_type = store_column_text(st, 3);
	img->os = store_column_text(st, 4);
	img->arch = store_column_text(st, 5);
	img->variant = store_column_text(st, 6);
	img->size = (uint64_t)sqlite3_column_int64(st, 7);
	img->created = store_column_text(st, 8);
	img->pulled_at = sqlite3_column_int64(st, 9);
}

#define IMAGE_COLUMNS "digest, index_digest, config_digest, media_type, os, arch, variant, size, created, pulled_at"

static int load_layers(struct store *s, struct store_image *img, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t alloc = 0;
	int r, rc;

	r = store_prepare(s,
	                  "SELECT l.blob_digest, l.diff_id, l.chain_id, l.media_type, l.size, "
	                  "COALESCE(s.size, 0) FROM image_layers l LEFT JOIN snapshots s ON s.chain_id = l.chain_id "
	                  "WHERE l.image_digest = ? ORDER BY l.idx",
	                  &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, img->digest);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_layer *l;

		GROW(img->layers, alloc, img->n_layers + 1);
		l = &img->layers[img->n_layers++];
		*l = (struct store_layer){
			.blob_digest = store_column_text(st, 0),
			.diff_id = store_column_text(st, 1),
			.chain_id = store_column_text(st, 2),
			.media_type = store_column_text(st, 3),
			.size = (uint64_t)sqlite3_column_int64(st, 4),
			.unpacked_size = (uint64_t)sqlite3_column_int64(st, 5),
		};
	}
	if (rc != SQLITE_DONE)
		return store_error(s, rc, reterr, "read image layers");
	return 0;
}

static int load_references(struct store *s, struct store_image *img, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = store_prepare(s, "SELECT reference FROM tags WHERE image_digest = ? ORDER BY reference", &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, img->digest);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strv_push(&img->references, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		return store_error(s, rc, reterr, "read image tags");
	return 0;
}

int store_image_get(struct store *s, const char *digest, struct store_image *ret, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_image img = { 0 };
	int r, rc;

	r = store_prepare(s, "SELECT " IMAGE_COLUMNS " FROM images WHERE digest = ?", &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, digest);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "image '%s' not found", digest);
	if (rc != SQLITE_ROW)
		return store_error(s, rc, reterr, "read image");
	image_from_row(st, &img);
	r = load_layers(s, &img, reterr);
	if (r >= 0)
		r = load_references(s, &img, reterr);
	if (r < 0) {
		store_image_release(&img);
		return r;
	}
	*ret = img;
	return 0;
}

int store_image_list(struct store *s, struct store_image **ret, size_t *ret_n, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_image *imgs = NULL;
	size_t n = 0, alloc = 0;
	int r, rc;

	r = store_prepare(s, "SELECT " IMAGE_COLUMNS " FROM images ORDER BY pulled_at DESC, digest", &st, reterr);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		GROW(imgs, alloc, n + 1);
		imgs[n] = (struct store_image){ 0 };
		image_from_row(st, &imgs[n++]);
	}
	if (rc != SQLITE_DONE) {
		store_images_free(imgs, n);
		return store_error(s, rc, reterr, "list images");
	}
	for (size_t i = 0; i < n; i++) {
		r = load_layers(s, &imgs[i], reterr);
		if (r >= 0)
			r = load_references(s, &imgs[i], reterr);
		if (r < 0) {
			store_images_free(imgs, n);
			return r;
		}
	}
	*ret = imgs;
	*ret_n = n;
	return 0;
}

static int delete_one(struct store *s, const char *sql, const char *key, const char *what, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = store_prepare(s, sql, &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, key);
	r = store_step_done(s, st, reterr, what);
	if (r < 0)
		return r;
	if (sqlite3_changes(s->db) == 0)
		return -ENOENT;
	return 0;
}

int store_image_remove(struct store *s, const char *digest, struct za_error **reterr) {
	int r = delete_one(s, "DELETE FROM images WHERE digest = ?", digest, "remove image", reterr);
	if (r == -ENOENT)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "image '%s' not found", digest);
	return r;
}

int store_tag_set(struct store *s, const char *reference, const char *image_digest, struct za_error **reterr) {
	int r;

	r = store_begin(s, reterr);
	if (r < 0)
		return r;
	r = image_exists(s, image_digest, reterr);
	if (r == 0)
		r = za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "cannot tag '%s': image '%s' not found",
		                  reference, image_digest);
	if (r > 0)
		r = put_tag(s, reference, image_digest, reterr);
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	return store_commit(s, reterr);
}

int store_tag_resolve(struct store *s, const char *reference, char **ret_digest, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r, rc;

	r = store_prepare(s, "SELECT image_digest FROM tags WHERE reference = ?", &st, reterr);
	if (r < 0)
		return r;
	(void)store_bind_text(st, 1, reference);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "image '%s' not found", reference);
	if (rc != SQLITE_ROW)
		return store_error(s, rc, reterr, "resolve tag");
	*ret_digest = store_column_text(st, 0);
	return 0;
}

int store_tag_remove(struct store *s, const char *reference, struct za_error **reterr) {
	int r = delete_one(s, "DELETE FROM tags WHERE reference = ?", reference, "remove tag", reterr);
	if (r == -ENOENT)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "tag '%s' not found", reference);
	return r;
}

static int query_strv(struct store *s, const char *sql, const char *what, char ***ret, struct za_error **reterr) {
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_strv_free_ char **l = NULL;
	int r, rc;

	r = store_prepare(s, sql, &st, reterr);
	if (r < 0)
		return r;
	l = xnew(char *, 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strv_push(&l, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE)
		return store_error(s, rc, reterr, what);
	*ret = TAKE_PTR(l);
	return 0;
}

int store_snapshots_unreferenced(struct store *s, char ***ret_chain_ids, struct za_error **reterr) {
	return query_strv(s,
	                  "SELECT chain_id FROM snapshots WHERE chain_id NOT IN "
	                  "(SELECT chain_id FROM image_layers) ORDER BY chain_id",
	                  "list unreferenced snapshots", ret_chain_ids, reterr);
}

int store_snapshot_remove(struct store *s, const char *chain_id, struct za_error **reterr) {
	int r = delete_one(s, "DELETE FROM snapshots WHERE chain_id = ?", chain_id, "remove snapshot", reterr);
	if (r == -ENOENT)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "snapshot '%s' not found", chain_id);
	return r;
}

int store_blobs_referenced(struct store *s, char ***ret_digests, struct za_error **reterr) {
	return query_strv(s,
	                  "SELECT digest FROM images UNION SELECT config_digest FROM images "
	                  "UNION SELECT index_digest FROM images WHERE index_digest IS NOT NULL "
	                  "UNION SELECT blob_digest FROM image_layers ORDER BY 1",
	                  "list referenced blobs", ret_digests, reterr);
}
