/* SPDX-License-Identifier: Apache-2.0 */
/* Image endpoints of the API and the image service behind them:
 *   POST   /v1/images/pull    {reference, platform?}  -> JSON lines: progress, then {status: done} or {error}
 *   POST   /v1/images/load    {reference}             -> JSON lines, as pull
 *   GET    /v1/images                                 -> {images: [...]}
 *   GET    /v1/images/inspect?ref=R                   -> the image with its config
 *   POST   /v1/images/tag     {source, target}
 *   DELETE /v1/images?ref=R[&force=1]                 -> {untagged: [...], deleted: [...], reclaimed}
 *   POST   /v1/images/prune                           -> {deleted: [...], reclaimed}
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "api/api-body.h"
#include "api/api-metrics.h"
#include "api/images.h"
#include "api/server.h"
#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "image/content.h"
#include "image/digest.h"
#include "image/local-load.h"
#include "image/pull.h"
#include "image/reference.h"
#include "runtime/runtime.h"
#include "store/store.h"
#include "basic/banned.h"

struct images {
	struct daemon *daemon;
	struct content_store *content;
	struct registry_options registry;
	unsigned active;     /* pulls and loads running (loop thread) */
	atomic_uint threads; /* worker threads alive */
	atomic_bool cancel;  /* shutdown: workers stop transferring */
};

struct fetch_job {
	struct images *im;
	char *reference;
	bool has_platform;
	struct oci_platform platform;
	images_line_fn on_line;
	images_done_fn on_done;
	void *userdata;
	/* results, written by the worker, read on the loop after the done post */
	int r;
	struct za_error *err;
	struct store_image img;
	bool registry;                   /* a pull, not a load */
	struct metrics_pull_tally tally; /* bytes fetched (worker) */
};

struct line_post {
	struct fetch_job *job;
	json_t *line;
};

/* --- worker thread -> event loop ---------------------------------------- */

static void line_deliver(void *userdata) {
	struct line_post *p = userdata;

	if (p->job->on_line)
		p->job->on_line(p->line, p->job->userdata);
	json_decref(p->line);
	free(p);
}

static void job_post_line(struct fetch_job *job, json_t *line) {
	struct line_post *p = xnew(struct line_post, 1);

	p->job = job;
	p->line = line;
	daemon_post(job->im->daemon, line_deliver, p);
}

static void job_progress(const struct pull_progress *pp, void *userdata) {
	struct fetch_job *job = userdata;

	metrics_pull_tally_progress(&job->tally, pp);
	if (pp->message)
		job_post_line(job, json_pack("{s:s, s:s}", "status", "progress", "message", pp->message));
	else
		job_post_line(job, json_pack("{s:s, s:s, s:s, s:I, s:I}", "status", "layer", "layer", pp->layer_digest,
		                             "state", pull_layer_state_to_string(pp->state), "current",
		                             (json_int_t)pp->current, "total", (json_int_t)pp->total));
}

static void job_free(struct fetch_job *job) {
	free(job->reference);
	oci_platform_release(&job->platform);
	za_error_free(job->err);
	store_image_release(&job->img);
	metrics_pull_tally_release(&job->tally);
	free(job);
}

static void job_done(void *userdata) {
	struct fetch_job *job = userdata;
	struct images *im = job->im;
	int r = job->r;

	if (r >= 0) {
		/* The record is written on the loop thread, after everything it
		 * names is on disk: a crash before this leaves only prunable files. */
		crashpoint("pull.recording");
		r = store_image_put(im->daemon->store, &job->img, &job->err);
		if (r >= 0)
			crashpoint("pull.recorded");
	}
	im->active--;
	if (job->registry)
		api_metrics_image_pulled(im->daemon, r >= 0, metrics_pull_tally_bytes(&job->tally));
	if (r < 0 && !job->err)
		za_error_make(&job->err, ZA_ERROR_INTERNAL, r, "image fetch failed: %m");
	if (r < 0)
		log_info("%s", job->err->message);
	else
		log_info("stored image %s as %s", job->img.digest, job->img.references ? job->img.references[0] : "-");
	job->on_done(r, job->err, r >= 0 ? &job->img : NULL, job->userdata);
	job_free(job);
}

static void *job_thread(void *userdata) {
	struct fetch_job *job = userdata;
	struct images *im = job->im;
	struct image_reference ref;
	bool local;

	image_reference_init(&ref);
	local = image_reference_parse(job->reference, &ref, NULL) >= 0 && ref.transport != IMAGE_TRANSPORT_REGISTRY;
	image_reference_release(&ref);
	if (local) {
		struct load_options o = { .root_dir = im->daemon->config->root_dir,
			                  .content = im->content,
			                  .platform = job->has_platform ? &job->platform : NULL,
			                  .on_progress = job_progress,
			                  .userdata = job };
		job->r = image_load(job->reference, &o, &job->img, &job->err);
	} else {
		struct pull_options o = { .root_dir = im->daemon->config->root_dir,
			                  .content = im->content,
			                  .registry = &im->registry,
			                  .platform = job->has_platform ? &job->platform : NULL,
			                  .on_progress = job_progress,
			                  .userdata = job };
		job->registry = true;
		job->r = image_pull(job->reference, &o, &job->img, &job->err);
	}
	daemon_post(im->daemon, job_done, job);
	atomic_fetch_sub(&im->threads, 1);
	return NULL;
}

int images_fetch_start(struct images *im, const char *reference, const struct oci_platform *platform,
                       images_line_fn on_line, images_done_fn on_done, void *userdata, struct za_error **reterr) {
	struct fetch_job *job;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	job = xnew(struct fetch_job, 1);
	job->im = im;
	job->reference = xstrdup(reference);
	if (platform) {
		job->has_platform = true;
		job->platform.os = xstrdup(platform->os);
		job->platform.architecture = xstrdup(platform->architecture);
		job->platform.variant = platform->variant ? xstrdup(platform->variant) : NULL;
	}
	job->on_line = on_line;
	job->on_done = on_done;
	job->userdata = userdata;

	if (atomic_load(&im->cancel)) {
		job_free(job);
		return za_error_make(reterr, ZA_ERROR_UNSUPPORTED, ESHUTDOWN, "the daemon is shutting down");
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&im->threads, 1);
	r = -pthread_create(&t, &attr, job_thread, job);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		atomic_fetch_sub(&im->threads, 1);
		job_free(job);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot start a pull thread: %m");
	}
	im->active++;
	return 0;
}

struct content_store *images_content(struct images *im) {
	return im->content;
}

/* --- lookups ------------------------------------------------------------ */

static bool is_hex(const char *s) {
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static bool strv_contains(char **l, const char *s) {
	STRV_FOREACH (i, l)
		if (streq(*i, s))
			return true;
	return false;
}

int images_resolve(struct images *im, const char *reference, char **ret_digest, struct za_error **reterr) {
	struct store *st = im->daemon->store;
	struct image_reference ref;
	_cleanup_free_ char *normal = NULL;
	const char *hex = strneq(reference, "sha256:", 7) ? reference + 7 : reference;
	int r;

	/* A full or abbreviated image digest. */
	if (strlen(hex) >= 12 && strlen(hex) <= 64 && is_hex(hex)) {
		struct store_image *all = NULL;
		size_t n = 0, matches = 0;
		char *found = NULL;

		r = store_image_list(st, &all, &n, reterr);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (strneq(all[i].digest + 7, hex, strlen(hex))) {
				matches++;
				free(found);
				found = xstrdup(all[i].digest);
			}
		store_images_free(all, n);
		if (matches == 1) {
			*ret_digest = found;
			return 0;
		}
		free(found);
		if (matches > 1)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "digest prefix '%s' matches %zu images; give more digits", reference,
			                     matches);
		if (strlen(hex) == 64 || strneq(reference, "sha256:", 7))
			return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "no image with digest '%s'",
			                     reference);
	}
	image_reference_init(&ref);
	r = image_reference_parse(reference, &ref, reterr);
	if (r < 0)
		return r;
	normal = image_reference_to_string(&ref);
	image_reference_release(&ref);
	r = store_tag_resolve(st, normal, ret_digest, NULL);
	if (r == -ENOENT)
		return za_error_make(reterr, ZA_ERROR_NOT_FOUND, ENOENT, "image '%s' not found (pull or load it first)",
		                     reference);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot look up image '%s': %m", reference);
	return 0;
}

int images_check_runnable(struct images *im, const char *digest, struct za_error **reterr) {
	struct store_image img = {};
	struct oci_platform node = {};
	int r;

	if (store_image_get(im->daemon->store, digest, &img, NULL) < 0)
		return 0; /* gone meanwhile: whoever uses it says so */
	oci_platform_default(&node);
	r = oci_platform_check_os(img.os, &node, reterr);
	oci_platform_release(&node);
	store_image_release(&img);
	return r;
}

/* --- garbage collection ------------------------------------------------- */

static uint64_t tree_size_at(int dfd, const char *name) {
	struct stat st;
	uint64_t total = 0;
	int fd;
	DIR *d;
	struct dirent *de;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	total = (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode))
		return total;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		safe_close(fd);
		return total;
	}
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			total += tree_size_at(dirfd(d), de->d_name);
	closedir(d);
	return total;
}

/* Remove every entry of dir (optionally only those `keep` rejects). */
static void clear_dir(const char *dir, uint64_t *reclaimed) {
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		*reclaimed += tree_size_at(dirfd(d), de->d_name);
		rm_rf_at(dirfd(d), de->d_name);
	}
	if (d)
		closedir(d);
}

int images_gc(struct images *im, uint64_t *reclaimed, struct za_error **reterr) {
	const char *root = im->daemon->config->root_dir;
	_cleanup_strv_free_ char **blobs = NULL, **stored = NULL, **chains = NULL, **dead_rows = NULL;
	_cleanup_free_ char *snapdir = xasprintf("%s/snapshots", root), *tmpdir = xasprintf("%s/tmp", root);
	_cleanup_free_ char *ingest = xasprintf("%s/content/ingest", root);
	struct store_image *all = NULL;
	size_t n = 0;
	DIR *d;
	struct dirent *de;
	int r;

	/* Files of a running pull are not in the store yet: collect nothing
	 * then, rather than race it. */
	if (im->active > 0) {
		log_debug("garbage collection skipped: %u pulls running", im->active);
		return 0;
	}
	r = store_blobs_referenced(im->daemon->store, &blobs, reterr);
	if (r >= 0)
		r = content_list(im->content, &stored, reterr);
	if (r >= 0)
		r = store_image_list(im->daemon->store, &all, &n, reterr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < all[i].n_layers; k++)
			strv_push(&chains, all[i].layers[k].chain_id);
	store_images_free(all, n);

	STRV_FOREACH (b, stored)
		if (!strv_contains(blobs, *b) && !claim_in_use(*b)) {
			_cleanup_free_ char *p = content_path(im->content, *b);
			*reclaimed += tree_size_at(AT_FDCWD, p);
			(void)content_remove(im->content, *b);
			log_debug("removed unreferenced blob %s", *b);
		}

	d = opendir(snapdir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *chain = NULL;

		if (de->d_name[0] == '.')
			continue;
		chain = xasprintf("sha256:%s", de->d_name);
		if (strv_contains(chains, chain) || claim_in_use(chain))
			continue;
		*reclaimed += tree_size_at(dirfd(d), de->d_name);
		rm_rf_at(dirfd(d), de->d_name);
		log_debug("removed unreferenced snapshot %s", chain);
	}
	if (d)
		closedir(d);
	if (store_snapshots_unreferenced(im->daemon->store, &dead_rows, NULL) >= 0)
		STRV_FOREACH (c, dead_rows)
			(void)store_snapshot_remove(im->daemon->store, *c, NULL);

	/* Leftovers of pulls killed mid-way. */
	clear_dir(tmpdir, reclaimed);
	clear_dir(ingest, reclaimed);
	return 0;
}

/* --- HTTP handlers ------------------------------------------------------- */

static json_t *error_json(const struct za_error *e) {
	return api_error_json(e);
}

static json_t *strv_json(char **l) {
	json_t *a = json_array();
	STRV_FOREACH (s, l)
		json_array_append_new(a, json_string(*s));
	return a;
}

static json_t *image_summary_json(const struct store_image *img) {
	return json_pack("{s:o, s:s, s:I, s:s?, s:s?, s:s?, s:s?, s:I}", "references", strv_json(img->references),
	                 "digest", img->digest, "size", (json_int_t)img->size, "created", img->created, "os", img->os,
	                 "architecture", img->arch, "variant", img->variant, "pulled_at", (json_int_t)img->pulled_at);
}

struct stream_ctx {
	struct api_stream *stream; /* NULL once the client went away */
};

static void stream_closed(struct api_stream *st, void *userdata) {
	struct stream_ctx *c = userdata;

	/* The client went away; the pull goes on (as docker's does). */
	c->stream = NULL;
	api_stream_end(st);
}

static void stream_line(json_t *line, void *userdata) {
	struct stream_ctx *c = userdata;

	if (c->stream)
		api_stream_send_json(c->stream, json_incref(line));
}

static void stream_done(int r, const struct za_error *err, const struct store_image *img, void *userdata) {
	struct stream_ctx *c = userdata;

	if (c->stream) {
		if (r < 0)
			api_stream_send_json(c->stream,
			                     json_pack("{s:s, s:o}", "status", "error", "error", error_json(err)));
		else
			api_stream_send_json(c->stream,
			                     json_pack("{s:s, s:s, s:s?, s:o}", "status", "done", "digest", img->digest,
			                               "reference", img->references ? img->references[0] : NULL,
			                               "image", image_summary_json(img)));
		api_stream_set_closed_callback(c->stream, NULL, NULL);
		api_stream_end(c->stream);
	}
	free(c);
}

static const struct api_body_field fetch_body[] = {
	{ "reference", API_JSON_STRING, .required = true, .max = IMAGE_REFERENCE_INPUT_MAX },
	{ "platform", API_JSON_STRING, .max = 256 },
	{},
};

static int handle_fetch(struct api_request *req, void *userdata) {
	struct images *im = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	json_t *body = api_request_body(req);
	const char *reference = api_body_string(body, "reference");
	const char *platform_s = api_body_string(body, "platform");
	struct oci_platform platform = {};
	struct stream_ctx *c;
	int r;

	if (api_body_check(body, fetch_body, &err) < 0)
		return api_reply_error(req, err);
	if (platform_s && oci_platform_parse(platform_s, &platform, &err) < 0)
		return api_reply_error(req, err);
	c = xnew(struct stream_ctx, 1);
	r = images_fetch_start(im, reference, platform_s ? &platform : NULL, stream_line, stream_done, c, &err);
	oci_platform_release(&platform);
	if (r < 0) {
		free(c);
		return api_reply_error(req, err);
	}
	c->stream = api_stream_begin(req, 200);
	api_stream_set_closed_callback(c->stream, stream_closed, c);
	return 0;
}

static int handle_list(struct api_request *req, void *userdata) {
	struct images *im = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct store_image *all = NULL;
	size_t n = 0;
	json_t *arr;

	if (store_image_list(im->daemon->store, &all, &n, &err) < 0)
		return api_reply_error(req, err);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, image_summary_json(&all[i]));
	store_images_free(all, n);
	return api_reply_json(req, 200, json_pack("{s:o}", "images", arr));
}

static json_t *config_json(const struct oci_image_config *c) {
	json_t *labels = json_object(), *ports = json_object();

	for (size_t i = 0; i < c->n_labels; i++)
		json_object_set_new(labels, c->labels[i].key, json_string(c->labels[i].value));
	STRV_FOREACH (p, c->exposed_ports)
		json_object_set_new(ports, *p, json_object());
	return json_pack("{s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:s?}", "Entrypoint",
	                 c->entrypoint ? strv_json(c->entrypoint) : json_null(), "Cmd",
	                 c->cmd ? strv_json(c->cmd) : json_null(), "Env", strv_json(c->env), "WorkingDir",
	                 strempty(c->working_dir), "User", strempty(c->user), "ExposedPorts", ports, "Labels", labels,
	                 "StopSignal", c->stop_signal);
}

static int handle_inspect(struct api_request *req, void *userdata) {
	struct images *im = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *digest = NULL, *cbuf = NULL;
	const char *ref = api_request_query(req, "ref");
	struct store_image img = {};
	struct oci_image_config c = {};
	json_t *out, *layers;
	size_t clen;

	if (!ref) {
		za_error_make(&err, ZA_ERROR_INVALID_SPEC, EINVAL, "query parameter 'ref' is required");
		return api_reply_error(req, err);
	}
	if (images_resolve(im, ref, &digest, &err) < 0 || store_image_get(im->daemon->store, digest, &img, &err) < 0)
		return api_reply_error(req, err);
	if (content_read(im->content, img.config_digest, IMAGE_CONFIG_MAX_SIZE, &cbuf, &clen, &err) < 0 ||
	    oci_image_config_parse(cbuf, clen, &c, &err) < 0) {
		store_image_release(&img);
		return api_reply_error(req, err);
	}
	layers = json_array();
	for (size_t i = 0; i < img.n_layers; i++)
		json_array_append_new(
		        layers, json_pack("{s:s, s:s, s:s, s:I, s:s?}", "digest", img.layers[i].blob_digest, "diff_id",
		                          img.layers[i].diff_id, "chain_id", img.layers[i].chain_id, "size",
		                          (json_int_t)img.layers[i].size, "media_type", img.layers[i].media_type));
	out = json_pack("{s:s, s:s?, s:s, s:s, s:o, s:s?, s:s?, s:s?, s:s?, s:I, s:I}", "digest", img.digest,
	                "index_digest", img.index_digest, "config_digest", img.config_digest, "media_type",
	                img.media_type, "references", strv_json(img.references), "os", img.os, "architecture", img.arch,
	                "variant", img.variant, "created", img.created, "size", (json_int_t)img.size, "pulled_at",
	                (json_int_t)img.pulled_at);
	json_object_set_new(out, "config", config_json(&c));
	json_object_set_new(out, "layers", layers);
	oci_image_config_release(&c);
	store_image_release(&img);
	return api_reply_json(req, 200, out);
}

static const struct api_body_field tag_body[] = {
	{ "source", API_JSON_STRING, .required = true, .max = IMAGE_REFERENCE_INPUT_MAX },
	{ "target", API_JSON_STRING, .required = true, .max = IMAGE_REFERENCE_INPUT_MAX },
	{},
};

static int handle_tag(struct api_request *req, void *userdata) {
	struct images *im = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *digest = NULL, *normal = NULL;
	json_t *body = api_request_body(req);
	const char *source = api_body_string(body, "source");
	const char *target = api_body_string(body, "target");
	struct image_reference ref;
	int r;

	if (api_body_check(body, tag_body, &err) < 0)
		return api_reply_error(req, err);
	if (images_resolve(im, source, &digest, &err) < 0)
		return api_reply_error(req, err);
	image_reference_init(&ref);
	r = image_reference_parse(target, &ref, &err);
	if (r >= 0 && (ref.transport != IMAGE_TRANSPORT_REGISTRY || ref.digest))
		r = za_error_make(&err, ZA_ERROR_INVALID_SPEC, EINVAL,
		                  "tag target '%s' must be a name with a tag, not a digest or local path", target);
	if (r >= 0)
		normal = image_reference_to_string(&ref);
	image_reference_release(&ref);
	if (r < 0 || store_tag_set(im->daemon->store, normal, digest, &err) < 0)
		return api_reply_error(req, err);
	return api_reply_json(req, 200, json_pack("{s:s, s:s}", "reference", normal, "digest", digest));
}

/* The containers created from the image, if any (first one named). */
static size_t image_users(struct images *im, const char *digest, char **ret_first) {
	struct runtime *rt = im->daemon->runtime;
	_cleanup_strv_free_ char **ids = NULL;
	size_t n = 0;

	if (!rt || rt->ops->list(rt, &ids, NULL) < 0)
		return 0;
	STRV_FOREACH (id, ids) {
		struct container_status st = {};

		if (rt->ops->state(rt, *id, &st, NULL) < 0)
			continue;
		if (st.image_digest && streq(st.image_digest, digest) && n++ == 0 && ret_first)
			*ret_first = xstrdup(*id);
		container_status_release(&st);
	}
	return n;
}

static int handle_remove(struct api_request *req, void *userdata) {
	struct images *im = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *digest = NULL, *normal = NULL;
	const char *ref = api_request_query(req, "ref");
	struct store_image img = {};
	struct image_reference parsed;
	json_t *untagged, *deleted;
	uint64_t reclaimed = 0;
	bool by_name, force;

	if (api_query_bool(req, "force", false, &force, &err) < 0)
		return api_reply_error(req, err);
	if (!ref) {
		za_error_make(&err, ZA_ERROR_INVALID_SPEC, EINVAL, "query parameter 'ref' is required");
		return api_reply_error(req, err);
	}
	if (images_resolve(im, ref, &digest, &err) < 0 || store_image_get(im->daemon->store, digest, &img, &err) < 0)
		return api_reply_error(req, err);
	image_reference_init(&parsed);
	if (!strneq(ref, "sha256:", 7) && image_reference_parse(ref, &parsed, NULL) >= 0)
		normal = image_reference_to_string(&parsed);
	image_reference_release(&parsed);
	by_name = normal && strv_contains(img.references, normal);

	untagged = json_array();
	deleted = json_array();
	if (by_name && strv_length(img.references) > 1 && !force) {
		/* Docker semantics: removing one of several names only untags. */
		if (store_tag_remove(im->daemon->store, normal, &err) < 0)
			goto fail;
		json_array_append_new(untagged, json_string(normal));
	} else if (!by_name && strv_length(img.references) > 1 && !force) {
		za_error_make(&err, ZA_ERROR_CONFIGURATION, EBUSY,
		              "image '%s' has %zu names; remove them one by one or use --force", ref,
		              strv_length(img.references));
		goto fail;
	} else {
		_cleanup_free_ char *user = NULL;
		size_t users = image_users(im, digest, &user);

		if (users > 0 && !force) {
			za_error_make(&err, ZA_ERROR_CONFIGURATION, EBUSY,
			              "image '%s' is used by %zu container%s ('%s'); remove %s first or use --force",
			              ref, users, users == 1 ? "" : "s", user, users == 1 ? "it" : "them");
			goto fail;
		}
		STRV_FOREACH (r, img.references)
			json_array_append_new(untagged, json_string(*r));
		if (store_image_remove(im->daemon->store, digest, &err) < 0)
			goto fail;
		json_array_append_new(deleted, json_string(digest));
		if (images_gc(im, &reclaimed, &err) < 0)
			goto fail;
	}
	store_image_release(&img);
	return api_reply_json(req, 200,
	                      json_pack("{s:o, s:o, s:I}", "untagged", untagged, "deleted", deleted, "reclaimed",
	                                (json_int_t)reclaimed));
fail:
	store_image_release(&img);
	json_decref(untagged);
	json_decref(deleted);
	return api_reply_error(req, err);
}

static int handle_prune(struct api_request *req, void *userdata) {
	struct images *im = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct store_image *all = NULL;
	size_t n = 0;
	uint64_t reclaimed = 0;
	json_t *deleted;

	/* Dangling images (no name left) go; then whatever nothing references. */
	if (store_image_list(im->daemon->store, &all, &n, &err) < 0)
		return api_reply_error(req, err);
	deleted = json_array();
	for (size_t i = 0; i < n; i++)
		if (strv_length(all[i].references) == 0 &&
		    store_image_remove(im->daemon->store, all[i].digest, NULL) >= 0)
			json_array_append_new(deleted, json_string(all[i].digest));
	store_images_free(all, n);
	if (images_gc(im, &reclaimed, &err) < 0) {
		json_decref(deleted);
		return api_reply_error(req, err);
	}
	return api_reply_json(req, 200,
	                      json_pack("{s:o, s:I}", "deleted", deleted, "reclaimed", (json_int_t)reclaimed));
}

static void images_stop(struct daemon *d, void *userdata) {
	struct images *im = userdata;

	/* Running transfers end with an error at their next chunk. */
	atomic_store(&im->cancel, true);
}

static void images_free(void *userdata) {
	struct images *im = userdata;

	im->daemon->images = NULL;
	content_store_free(im->content);
	free(im);
}

static void images_exit(struct daemon *d, void *userdata) {
	struct images *im = userdata;

	/* The loop is gone: wait (bounded) for workers to leave, then free. A
	 * worker still running after that keeps using `im`, so leak it then. */
	atomic_store(&im->cancel, true);
	for (int i = 0; i < 1000 && atomic_load(&im->threads) > 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	if (atomic_load(&im->threads) > 0) {
		log_warning("%u image workers still running at exit", atomic_load(&im->threads));
		return;
	}
	/* Workers' last posts run after the exit hooks: free after them. */
	daemon_post(d, images_free, im);
}

int api_images_register(struct daemon *d) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *tmp = xasprintf("%s/tmp", d->config->root_dir);
	struct images *im = xnew(struct images, 1);
	int r;

	im->daemon = d;
	im->registry.auth_file = d->config->registry_auth_file;
	im->registry.insecure_registries = d->config->insecure_registries;
	im->registry.max_parallel = d->config->max_concurrent_downloads;
	r = content_store_open(d->config->root_dir, &im->content, &err);
	if (r < 0) {
		log_error("%s", err->message);
		free(im);
		return r;
	}
	/* Temp dirs of pulls interrupted by a crash are garbage now. */
	rm_rf(tmp);
	(void)mkdir_p(tmp, 0700);
	d->images = im;
	daemon_add_hook(d, DAEMON_HOOK_STOP, images_stop, im);
	daemon_add_hook(d, DAEMON_HOOK_EXIT, images_exit, im);
	api_server_add_route(d->api, "POST", "/v1/images/pull", handle_fetch, im);
	api_server_add_route(d->api, "POST", "/v1/images/load", handle_fetch, im);
	api_server_add_route(d->api, "GET", "/v1/images", handle_list, im);
	api_server_add_route(d->api, "GET", "/v1/images/inspect", handle_inspect, im);
	api_server_add_route(d->api, "POST", "/v1/images/tag", handle_tag, im);
	api_server_add_route(d->api, "DELETE", "/v1/images", handle_remove, im);
	api_server_add_route(d->api, "POST", "/v1/images/prune", handle_prune, im);
	return 0;
}
