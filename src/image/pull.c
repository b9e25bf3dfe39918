/* SPDX-License-Identifier: Apache-2.0 */
#include "image/pull.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strbuf.h"
#include "image/digest.h"
#include "image/layers.h"
#include "image/reference.h"
#include "basic/banned.h"

static void progress_message(const struct pull_options *o, const char *fmt, ...) _printf_(2, 3);
static void progress_message(const struct pull_options *o, const char *fmt, ...) {
	_cleanup_free_ char *m = NULL;
	va_list ap;

	if (!o->on_progress)
		return;
	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	o->on_progress(&(struct pull_progress){ .message = m }, o->userdata);
}

/* Store a document, remembering (and claiming) it when this pull created it,
 * so a failed pull can take it back. */
static int store_doc(struct content_store *cs, const void *data, size_t len, const char *digest, char ***created,
                     struct za_error **reterr) {
	bool had = content_has(cs, digest, NULL);
	int r;

	if (!had)
		claim_hold(digest);
	r = content_write(cs, data, len, digest, NULL, reterr);
	if (had)
		return r;
	if (r < 0)
		claim_drop(digest);
	else
		strv_push(created, digest);
	return r;
}

/* A small blob (manifest or config) from the registry, verified. */
struct small_blob {
	struct strbuf buf;
	size_t cap;
};

static int small_blob_data(const void *data, size_t len, void *userdata) {
	struct small_blob *b = userdata;

	if (len > b->cap - b->buf.len)
		return -EFBIG;
	strbuf_add(&b->buf, data, len);
	return 0;
}

static int fetch_small_blob(struct registry_client *c, struct content_store *cs, const char *repo,
                            const struct oci_descriptor *d, size_t cap, char ***created, char **ret, size_t *ret_len,
                            struct za_error **reterr) {
	struct small_blob b = { .buf = STRBUF_INIT, .cap = cap };
	struct registry_blob_request req = {
		.repo = repo, .digest = d->digest, .size = d->size, .on_data = small_blob_data, .userdata = &b
	};
	int r;

	if (content_has(cs, d->digest, NULL))
		return content_read(cs, d->digest, cap, ret, ret_len, reterr);
	if (d->size > cap)
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EFBIG,
		                     "blob '%s' is %" PRIu64 " bytes, over the limit of %zu", d->digest, d->size, cap);
	r = registry_fetch_blobs(c, &req, 1, reterr);
	if (r >= 0 && req.result < 0) {
		r = req.result;
		if (reterr && !*reterr)
			*reterr = TAKE_PTR(req.error);
	}
	za_error_free(req.error);
	if (r < 0) {
		strbuf_release(&b.buf);
		return r;
	}
	r = store_doc(cs, b.buf.buf ? b.buf.buf : "", b.buf.len, d->digest, created, reterr);
	if (r < 0) {
		strbuf_release(&b.buf);
		return r;
	}
	*ret = strbuf_detach(&b.buf, ret_len);
	return 0;
}

/* Fetch the manifest for `ref` (tag or digest), walking an index to the
 * platform's image manifest. Stores every fetched document. */
static int resolve_manifest(struct registry_client *c, const struct pull_options *o, const char *repo, const char *ref,
                            const struct oci_platform *platform, char ***created, char **ret_index_digest,
                            char **ret_digest, struct oci_manifest *ret_manifest, struct za_error **reterr) {
	_cleanup_free_ char *body = NULL, *media_type = NULL, *digest = NULL, *kind_type = NULL;
	_cleanup_free_ char *index_digest = NULL;
	enum manifest_kind kind;
	size_t len;
	int r;

	r = registry_get_manifest(c, repo, ref, MANIFEST_MAX_SIZE, &body, &len, &media_type, &digest, reterr);
	if (r < 0)
		return r;
	r = manifest_detect_kind(media_type, body, len, &kind, &kind_type, reterr);
	if (r < 0)
		return r;
	if (kind == MANIFEST_KIND_INDEX) {
		struct oci_index idx = {};
		const struct oci_descriptor *d;

		r = oci_index_parse(body, len, &idx, reterr);
		if (r < 0)
			return r;
		r = oci_index_select(&idx, platform, &d, reterr);
		if (r >= 0)
			r = store_doc(o->content, body, len, digest, created, reterr);
		if (r < 0) {
			oci_index_release(&idx);
			return r;
		}
		index_digest = TAKE_PTR(digest);
		digest = xstrdup(d->digest);
		oci_index_release(&idx);
		free(body);
		free(media_type);
		free(kind_type);
		body = media_type = kind_type = NULL;
		r = registry_get_manifest(c, repo, digest, MANIFEST_MAX_SIZE, &body, &len, &media_type, NULL, reterr);
		if (r < 0)
			return r;
		r = manifest_detect_kind(media_type, body, len, &kind, &kind_type, reterr);
		if (r < 0)
			return r;
		if (kind != MANIFEST_KIND_IMAGE)
			return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPROTO,
			                     "index entry '%s' is another index; nested indexes are not supported",
			                     digest);
	}
	r = oci_manifest_parse(body, len, ret_manifest, reterr);
	if (r < 0)
		return r;
	r = store_doc(o->content, body, len, digest, created, reterr);
	if (r < 0) {
		oci_manifest_release(ret_manifest);
		return r;
	}
	if (!ret_manifest->media_type)
		ret_manifest->media_type = TAKE_PTR(kind_type);
	*ret_index_digest = TAKE_PTR(index_digest);
	*ret_digest = TAKE_PTR(digest);
	return 0;
}

int image_pull(const char *reference, const struct pull_options *o, struct store_image *ret, struct za_error **reterr) {
	struct image_reference ref;
	_cleanup_(registry_client_freep) struct registry_client *client = NULL;
	_cleanup_free_ char *normal = NULL, *index_digest = NULL, *digest = NULL, *config_body = NULL;
	_cleanup_free_ char *wanted = NULL;
	_cleanup_strv_free_ char **created = NULL;
	struct oci_platform node = {};
	const struct oci_platform *platform = o->platform;
	struct oci_manifest manifest = {};
	struct oci_image_config config = {};
	struct store_image img = {};
	size_t config_len;
	int r;

	image_reference_init(&ref);
	r = image_reference_parse(reference, &ref, reterr);
	if (r < 0)
		return r;
	if (ref.transport != IMAGE_TRANSPORT_REGISTRY) {
		image_reference_release(&ref);
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "'%s' is a local image; use 'zlayer-agent load' for %s references", reference,
		                     image_transport_to_string(ref.transport));
	}
	normal = image_reference_to_string(&ref);
	if (!platform) {
		oci_platform_default(&node);
		platform = &node;
	}
	wanted = oci_platform_to_string(platform);

	r = registry_client_new(ref.domain, o->registry, &client, reterr);
	if (r >= 0)
		r = resolve_manifest(client, o, ref.path, ref.digest ? ref.digest : ref.tag, platform, &created,
		                     &index_digest, &digest, &manifest, reterr);
	if (r >= 0) {
		crashpoint("pull.manifest");
		progress_message(o, "resolved %s to %s", normal, digest);
		r = fetch_small_blob(client, o->content, ref.path, &manifest.config, IMAGE_CONFIG_MAX_SIZE, &created,
		                     &config_body, &config_len, reterr);
	}
	if (r >= 0)
		r = oci_image_config_parse(config_body, config_len, &config, reterr);
	if (r >= 0 && !index_digest)
		r = oci_platform_check_os(config.os, platform, reterr);
	if (r >= 0 && o->platform && !index_digest && config.os && config.architecture &&
	    (!streq(config.os, platform->os) || !streq(config.architecture, platform->architecture)))
		r = za_error_make(reterr, ZA_ERROR_WRONG_PLATFORM, ENOENT, "image '%s' is for %s/%s, not %s", normal,
		                  config.os, config.architecture, wanted);
	if (r >= 0) {
		struct layers_job job = {
			.root_dir = o->root_dir,
			.content = o->content,
			.client = client,
			.repo = ref.path,
			.manifest = &manifest,
			.config = &config,
			.on_progress = o->on_progress,
			.userdata = o->userdata,
			.cancel = o->cancel,
		};
		r = layers_fetch_and_unpack(&job, &img, reterr);
	}
	if (r >= 0) {
		uint64_t size = manifest.config.size;

		for (size_t i = 0; i < manifest.n_layers; i++)
			size += manifest.layers[i].size;
		img.digest = TAKE_PTR(digest);
		img.index_digest = TAKE_PTR(index_digest);
		img.config_digest = xstrdup(manifest.config.digest);
		img.media_type = xstrdup(strempty(manifest.media_type));
		img.os = config.os ? xstrdup(config.os) : NULL;
		img.arch = config.architecture ? xstrdup(config.architecture) : NULL;
		img.variant = config.variant ? xstrdup(config.variant) : NULL;
		img.created = config.created ? xstrdup(config.created) : NULL;
		img.size = size;
		img.pulled_at = (int64_t)time(NULL);
		strv_push(&img.references, normal);
		*ret = img;
	} else
		store_image_release(&img);

	/* A failed pull takes back the documents it stored, unless another pull
	 * uses them too. */
	STRV_FOREACH (dg, created)
		if (claim_drop_last(*dg) && r < 0)
			(void)content_remove(o->content, *dg);
	if (r < 0 && reterr && *reterr)
		za_error_wrap(reterr, "pull '%s'", normal);
	oci_manifest_release(&manifest);
	oci_image_config_release(&config);
	oci_platform_release(&node);
	image_reference_release(&ref);
	return r;
}

int image_remote_digest(const char *reference, const struct registry_options *opts, char **ret_digest,
                        struct za_error **reterr) {
	_cleanup_(registry_client_freep) struct registry_client *client = NULL;
	struct image_reference ref;
	int r;

	image_reference_init(&ref);
	r = image_reference_parse(reference, &ref, reterr);
	if (r >= 0 && ref.transport != IMAGE_TRANSPORT_REGISTRY)
		r = za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "'%s' is not a registry reference", reference);
	if (r >= 0)
		r = registry_client_new(ref.domain, opts, &client, reterr);
	if (r >= 0)
		r = registry_head_manifest(client, ref.path, ref.digest ? ref.digest : ref.tag, ret_digest, NULL,
		                           reterr);
	image_reference_release(&ref);
	return r;
}

int pull_policy_decide(enum spec_pull_policy policy, const char *image, const char *local_digest,
                       const char *remote_digest, bool *ret_pull, struct za_error **reterr) {
	switch (policy) {
	case SPEC_PULL_ALWAYS:
		*ret_pull = true;
		return 0;
	case SPEC_PULL_NEWER:
		/* Pull when absent, or when the registry answered with another digest. */
		*ret_pull = !local_digest || (remote_digest && !streq(remote_digest, local_digest));
		return 0;
	case SPEC_PULL_IF_NOT_PRESENT:
		*ret_pull = !local_digest;
		return 0;
	case SPEC_PULL_NEVER:
		if (!local_digest)
			return za_error_make(
			        reterr, ZA_ERROR_NOT_FOUND, ENOENT,
			        "image '%s' is not present and pull_policy is 'never'; load or pull it first", image);
		*ret_pull = false;
		return 0;
	default:
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "unknown pull policy %d", (int)policy);
	}
}
