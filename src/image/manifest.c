/* SPDX-License-Identifier: Apache-2.0 */
#include "image/manifest.h"

#include <ctype.h>
#include <jansson.h>
#include <sys/utsname.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "image/digest.h"
#include "basic/banned.h"

const char manifest_accept_types[] =
        MEDIA_TYPE_OCI_INDEX ", " MEDIA_TYPE_OCI_MANIFEST ", " MEDIA_TYPE_DOCKER_LIST ", " MEDIA_TYPE_DOCKER_MANIFEST
                             ", " MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED ", " MEDIA_TYPE_DOCKER_SCHEMA1;

static json_t *json_load(const char *body, size_t len, size_t cap, const char *what, struct za_error **reterr) {
	json_error_t jerr;
	json_t *j;

	if (len > cap) {
		za_error_make(reterr, ZA_ERROR_PULL_FAILED, EFBIG, "%s is %zu bytes, more than the limit of %zu", what,
		              len, cap);
		return NULL;
	}
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "%s is not valid JSON: line %d column %d: %s",
		              what, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "%s is not a JSON object", what);
		return NULL;
	}
	return j;
}

static const char *jstr(json_t *o, const char *key) {
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *jstrdup(json_t *o, const char *key) {
	const char *s = jstr(o, key);
	return s ? xstrdup(s) : NULL;
}

/* Array of strings -> strv; NULL when absent or null; error for other types. */
static int jstrv(json_t *o, const char *key, const char *what, char ***ret, struct za_error **reterr) {
	json_t *a = json_object_get(o, key), *v;
	char **l;
	size_t i;

	*ret = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "%s: '%s' is not an array", what, key);
	l = xnew(char *, json_array_size(a) + 1);
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			strv_free(l);
			return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "%s: '%s[%zu]' is not a string",
			                     what, key, i);
		}
		l[i] = xstrdup(json_string_value(v));
	}
	*ret = l;
	return 0;
}

void oci_platform_release(struct oci_platform *p) {
	free(p->os);
	free(p->architecture);
	free(p->variant);
	*p = (struct oci_platform){};
}

static void descriptor_release(struct oci_descriptor *d) {
	free(d->media_type);
	free(d->digest);
	oci_platform_release(&d->platform);
	*d = (struct oci_descriptor){};
}

static int descriptor_parse(json_t *o, const char *what, struct oci_descriptor *ret, struct za_error **reterr) {
	struct oci_descriptor d = {};
	json_t *size, *plat;

	if (!json_is_object(o))
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "%s is not an object", what);
	d.media_type = jstrdup(o, "mediaType");
	d.digest = jstrdup(o, "digest");
	size = json_object_get(o, "size");
	if (!d.digest || !digest_valid(d.digest)) {
		za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "%s has %s digest '%s'", what,
		              d.digest ? "an invalid" : "no", strempty(d.digest));
		descriptor_release(&d);
		return -EBADMSG;
	}
	if (!json_is_integer(size) || json_integer_value(size) < 0) {
		za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "%s '%s' has no valid size", what, d.digest);
		descriptor_release(&d);
		return -EBADMSG;
	}
	d.size = (uint64_t)json_integer_value(size);
	plat = json_object_get(o, "platform");
	if (json_is_object(plat)) {
		d.has_platform = true;
		d.platform.os = jstrdup(plat, "os");
		d.platform.architecture = jstrdup(plat, "architecture");
		d.platform.variant = jstrdup(plat, "variant");
	}
	*ret = d;
	return 0;
}

int manifest_detect_kind(const char *content_type, const char *body, size_t len, enum manifest_kind *ret,
                         char **ret_media_type, struct za_error **reterr) {
	json_t *j;
	_cleanup_free_ char *ct = NULL;
	const char *mt;
	int schema;

	j = json_load(body, len, MANIFEST_MAX_SIZE, "manifest", reterr);
	if (!j)
		return -EBADMSG;
	if (content_type) { /* strip parameters: "type; charset=utf-8" */
		ct = xstrndup(content_type, strcspn(content_type, "; \t"));
	}
	mt = jstr(j, "mediaType");
	schema = (int)json_integer_value(json_object_get(j, "schemaVersion"));
	if (!mt || !*mt) {
		/* OCI allows mediaType to be absent: fall back to the header, then the shape. */
		if (ct && !streq(ct, "application/json") && !streq(ct, "text/plain"))
			mt = ct;
		else if (json_object_get(j, "manifests"))
			mt = MEDIA_TYPE_OCI_INDEX;
		else if (json_object_get(j, "layers"))
			mt = MEDIA_TYPE_OCI_MANIFEST;
		else if (schema == 1 || json_object_get(j, "fsLayers"))
			mt = MEDIA_TYPE_DOCKER_SCHEMA1;
	}
	if (!mt) {
		json_decref(j);
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPROTO,
		                     "manifest has no mediaType and is neither an index nor an image manifest");
	}
	if (streq(mt, MEDIA_TYPE_OCI_INDEX) || streq(mt, MEDIA_TYPE_DOCKER_LIST))
		*ret = MANIFEST_KIND_INDEX;
	else if (streq(mt, MEDIA_TYPE_OCI_MANIFEST) || streq(mt, MEDIA_TYPE_DOCKER_MANIFEST))
		*ret = MANIFEST_KIND_IMAGE;
	else if (streq(mt, MEDIA_TYPE_DOCKER_SCHEMA1) || streq(mt, MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED)) {
		json_decref(j);
		return za_error_make(
		        reterr, ZA_ERROR_PULL_FAILED, EPROTONOSUPPORT,
		        "Docker schema 1 manifests are not supported (deprecated since 2017); push the image "
		        "again with a current client to get a schema 2 or OCI manifest");
	} else {
		_cleanup_free_ char *copy = xstrdup(mt);
		json_decref(j);
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPROTONOSUPPORT,
		                     "unsupported manifest media type '%s'", copy);
	}
	if (ret_media_type)
		*ret_media_type = xstrdup(mt);
	json_decref(j);
	return 0;
}

void oci_index_release(struct oci_index *idx) {
	for (size_t i = 0; i < idx->n_manifests; i++)
		descriptor_release(&idx->manifests[i]);
	free(idx->manifests);
	free(idx->media_type);
	*idx = (struct oci_index){};
}

int oci_index_parse(const char *body, size_t len, struct oci_index *ret, struct za_error **reterr) {
	struct oci_index idx = {};
	json_t *j, *arr, *v;
	size_t i;
	int r = 0;

	j = json_load(body, len, MANIFEST_MAX_SIZE, "image index", reterr);
	if (!j)
		return -EBADMSG;
	arr = json_object_get(j, "manifests");
	if (!json_is_array(arr)) {
		json_decref(j);
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "image index has no 'manifests' array");
	}
	if (json_array_size(arr) > INDEX_MAX_MANIFESTS) {
		json_decref(j);
		return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EFBIG, "image index lists more than %d manifests",
		                     INDEX_MAX_MANIFESTS);
	}
	idx.media_type = jstrdup(j, "mediaType");
	idx.manifests = xnew(struct oci_descriptor, json_array_size(arr) + 1);
	json_array_foreach(arr, i, v) {
		_cleanup_free_ char *what = xasprintf("image index entry %zu", i);
		r = descriptor_parse(v, what, &idx.manifests[idx.n_manifests], reterr);
		if (r < 0)
			break;
		idx.n_manifests++;
	}
	json_decref(j);
	if (r < 0) {
		oci_index_release(&idx);
		return r;
	}
	*ret = idx;
	return 0;
}

void oci_manifest_release(struct oci_manifest *m) {
	descriptor_release(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_release(&m->layers[i]);
	free(m->layers);
	free(m->media_type);
	*m = (struct oci_manifest){};
}

int oci_manifest_parse(const char *body, size_t len, struct oci_manifest *ret, struct za_error **reterr) {
	struct oci_manifest m = {};
	json_t *j, *arr, *v;
	size_t i;
	int r;

	j = json_load(body, len, MANIFEST_MAX_SIZE, "image manifest", reterr);
	if (!j)
		return -EBADMSG;
	m.media_type = jstrdup(j, "mediaType");
	r = descriptor_parse(json_object_get(j, "config"), "manifest config", &m.config, reterr);
	arr = json_object_get(j, "layers");
	if (r >= 0 && !json_is_array(arr))
		r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "image manifest has no 'layers' array");
	if (r >= 0 && json_array_size(arr) > MANIFEST_MAX_LAYERS)
		r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EFBIG, "image manifest has more than %d layers",
		                  MANIFEST_MAX_LAYERS);
	if (r >= 0) {
		m.layers = xnew(struct oci_descriptor, json_array_size(arr) + 1);
		json_array_foreach(arr, i, v) {
			_cleanup_free_ char *what = xasprintf("layer %zu", i);
			r = descriptor_parse(v, what, &m.layers[m.n_layers], reterr);
			if (r < 0)
				break;
			if (!m.layers[m.n_layers].media_type) {
				m.n_layers++;
				r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "layer %zu has no mediaType",
				                  i);
				break;
			}
			m.n_layers++;
		}
	}
	json_decref(j);
	if (r < 0) {
		oci_manifest_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

void oci_image_config_release(struct oci_image_config *c) {
	free(c->os);
	free(c->architecture);
	free(c->variant);
	free(c->created);
	free(c->user);
	free(c->working_dir);
	free(c->stop_signal);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	strv_free(c->env);
	strv_free(c->exposed_ports);
	for (size_t i = 0; i < c->n_labels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	strv_free(c->diff_ids);
	*c = (struct oci_image_config){};
}

int oci_image_config_parse(const char *body, size_t len, struct oci_image_config *ret, struct za_error **reterr) {
	struct oci_image_config c = {};
	json_t *j, *cfg, *rootfs, *v;
	const char *key;
	int r = 0;

	j = json_load(body, len, IMAGE_CONFIG_MAX_SIZE, "image config", reterr);
	if (!j)
		return -EBADMSG;
	c.os = jstrdup(j, "os");
	c.architecture = jstrdup(j, "architecture");
	c.variant = jstrdup(j, "variant");
	c.created = jstrdup(j, "created");
	cfg = json_object_get(j, "config");
	if (json_is_object(cfg)) {
		json_t *ports = json_object_get(cfg, "ExposedPorts"), *labels = json_object_get(cfg, "Labels");

		c.user = jstrdup(cfg, "User");
		c.working_dir = jstrdup(cfg, "WorkingDir");
		c.stop_signal = jstrdup(cfg, "StopSignal");
		if (r >= 0)
			r = jstrv(cfg, "Entrypoint", "image config", &c.entrypoint, reterr);
		if (r >= 0)
			r = jstrv(cfg, "Cmd", "image config", &c.cmd, reterr);
		if (r >= 0)
			r = jstrv(cfg, "Env", "image config", &c.env, reterr);
		if (json_is_object(ports)) {
			size_t n = 0;
			c.exposed_ports = xnew(char *, json_object_size(ports) + 1);
			json_object_foreach(ports, key, v) c.exposed_ports[n++] = xstrdup(key);
		}
		if (json_is_object(labels)) {
			c.labels = xnew(struct oci_kv, json_object_size(labels) + 1);
			json_object_foreach(labels, key, v) {
				if (!json_is_string(v))
					continue;
				c.labels[c.n_labels].key = xstrdup(key);
				c.labels[c.n_labels].value = xstrdup(json_string_value(v));
				c.n_labels++;
			}
		}
	}
	rootfs = json_object_get(j, "rootfs");
	if (r >= 0 && !json_is_object(rootfs))
		r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG, "image config has no 'rootfs'");
	if (r >= 0)
		r = jstrv(rootfs, "diff_ids", "image config rootfs", &c.diff_ids, reterr);
	if (r >= 0) {
		c.n_diff_ids = strv_length(c.diff_ids);
		for (size_t i = 0; i < c.n_diff_ids; i++)
			if (!digest_is_sha256(c.diff_ids[i])) {
				r = za_error_make(reterr, ZA_ERROR_PULL_FAILED, EBADMSG,
				                  "image config diff_id %zu '%s' is not a sha256 digest", i,
				                  c.diff_ids[i]);
				break;
			}
	}
	json_decref(j);
	if (r < 0) {
		oci_image_config_release(&c);
		return r;
	}
	*ret = c;
	return 0;
}

int oci_platform_parse(const char *s, struct oci_platform *ret, struct za_error **reterr) {
	const char *a = strchr(s, '/'), *v;
	struct oci_platform p = {};

	if (!a || a == s || !a[1])
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid platform '%s' (expected os/arch[/variant], e.g. linux/arm64/v8)", s);
	v = strchr(a + 1, '/');
	if (v && (!v[1] || strchr(v + 1, '/') || v == a + 1))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "invalid platform '%s' (expected os/arch[/variant], e.g. linux/arm64/v8)", s);
	p.os = xstrndup(s, (size_t)(a - s));
	p.architecture = v ? xstrndup(a + 1, (size_t)(v - a - 1)) : xstrdup(a + 1);
	p.variant = v ? xstrdup(v + 1) : NULL;
	*ret = p;
	return 0;
}

char *oci_platform_to_string(const struct oci_platform *p) {
	if (p->variant)
		return xasprintf("%s/%s/%s", strna(p->os), strna(p->architecture), p->variant);
	return xasprintf("%s/%s", strna(p->os), strna(p->architecture));
}

void oci_platform_default(struct oci_platform *ret) {
	static const struct {
		const char *machine, *arch, *variant;
	} map[] = {
		{ "x86_64", "amd64", NULL },    { "aarch64", "arm64", "v8" }, { "armv7l", "arm", "v7" },
		{ "armv6l", "arm", "v6" },      { "i686", "386", NULL },      { "i386", "386", NULL },
		{ "ppc64le", "ppc64le", NULL }, { "s390x", "s390x", NULL },   { "riscv64", "riscv64", NULL },
	};
	struct utsname u;

	*ret = (struct oci_platform){ .os = xstrdup(OCI_NODE_OS) };
	if (uname(&u) == 0)
		for (size_t i = 0; i < ELEMENTSOF(map); i++)
			if (streq(u.machine, map[i].machine)) {
				ret->architecture = xstrdup(map[i].arch);
				ret->variant = map[i].variant ? xstrdup(map[i].variant) : NULL;
				return;
			}
	ret->architecture = xstrdup(uname(&u) == 0 ? u.machine : "amd64");
}

/* arm64 without variant means v8; arm without variant means v7. */
static const char *normalised_variant(const char *arch, const char *variant) {
	if (variant)
		return variant;
	if (arch && streq(arch, "arm64"))
		return "v8";
	if (arch && streq(arch, "arm"))
		return "v7";
	return NULL;
}

/* An OS named in an image that says something about where it runs:
 * attestation manifests of an index are "unknown/unknown", and a name
 * that could not be an OS's says nothing either (it goes into messages). */
static bool os_known(const char *os) {
	size_t n = os ? strlen(os) : 0;

	if (n == 0 || n > 32 || streq(os, "unknown"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)os[i]) && !strchr("._-", os[i]))
			return false;
	return true;
}

/* What this node runs: Linux containers, and WASI preview 1 modules on the
 * WebAssembly runtime ("wasi", or "wasip1" as some tools write it). */
static bool node_runs(const char *os) {
	return streq(os, OCI_NODE_OS) || streq(os, "wasi") || streq(os, "wasip1");
}

static int route_to_peer(const char *oses, const char *first, struct za_error **reterr) {
	int r = za_error_make(reterr, ZA_ERROR_ROUTE_TO_PEER, ENOEXEC,
	                      "the image is for os %s, this node runs " OCI_NODE_OS ": route it to a node running %s",
	                      oses, first);

	(void)za_error_set_required_os(reterr, first);
	return r;
}

int oci_platform_check_os(const char *os, const struct oci_platform *want, struct za_error **reterr) {
	_cleanup_free_ char *q = NULL;

	if (!want || !want->os || !streq(want->os, OCI_NODE_OS) || !os_known(os) || node_runs(os))
		return 0;
	q = xasprintf("'%s'", os);
	return route_to_peer(q, os, reterr);
}

/* None of the index's platforms fits: when all it offers is for other
 * operating systems, that is route_to_peer rather than wrong_platform. */
static int index_other_os(const struct oci_index *idx, const struct oci_platform *want, struct za_error **reterr) {
	_cleanup_strbuf_ struct strbuf oses = STRBUF_INIT;
	const char *first = NULL;
	size_t n = 0;

	if (!want->os || !streq(want->os, OCI_NODE_OS))
		return 0;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct oci_descriptor *d = &idx->manifests[i];
		bool seen = false;

		if (!d->has_platform || !os_known(d->platform.os))
			continue;
		if (node_runs(d->platform.os))
			return 0;
		for (size_t k = 0; k < i && !seen; k++)
			seen = idx->manifests[k].has_platform && idx->manifests[k].platform.os &&
			       streq(idx->manifests[k].platform.os, d->platform.os);
		if (seen)
			continue;
		if (!first)
			first = d->platform.os;
		strbuf_addf(&oses, "%s'%s'", n == 0 ? "" : " or ", d->platform.os);
		n++;
	}
	if (!first)
		return 0;
	return route_to_peer(strbuf_str(&oses), first, reterr);
}

int oci_index_select(const struct oci_index *idx, const struct oci_platform *want, const struct oci_descriptor **ret,
                     struct za_error **reterr) {
	_cleanup_strbuf_ struct strbuf avail = STRBUF_INIT;
	_cleanup_free_ char *wanted = oci_platform_to_string(want);
	const struct oci_descriptor *loose = NULL;
	const char *want_variant = normalised_variant(want->architecture, want->variant);
	int r;

	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct oci_descriptor *d = &idx->manifests[i];
		const char *dv;

		if (!d->has_platform || !d->platform.os || !d->platform.architecture)
			continue;
		if (!streq(d->platform.os, want->os) || !streq(d->platform.architecture, want->architecture))
			continue;
		dv = normalised_variant(d->platform.architecture, d->platform.variant);
		if ((!dv && !want_variant) || (dv && want_variant && streq(dv, want_variant))) {
			*ret = d;
			return 0;
		}
		/* A request without a variant takes any variant if nothing matches exactly. */
		if (!want->variant && !loose)
			loose = d;
	}
	if (loose) {
		*ret = loose;
		return 0;
	}
	r = index_other_os(idx, want, reterr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct oci_descriptor *d = &idx->manifests[i];
		_cleanup_free_ char *p = NULL;

		if (!d->has_platform)
			continue;
		p = oci_platform_to_string(&d->platform);
		strbuf_addf(&avail, "%s%s", avail.len ? ", " : "", p);
	}
	return za_error_make(reterr, ZA_ERROR_WRONG_PLATFORM, ENOENT,
	                     "the index has no platform %s; available: %s (choose one with --platform)", wanted,
	                     avail.len ? strbuf_str(&avail) : "none");
}

int layer_media_type_compression(const char *media_type, enum layer_compression *ret, struct za_error **reterr) {
	static const struct {
		const char *type;
		enum layer_compression c;
	} table[] = {
		{ MEDIA_TYPE_OCI_LAYER, LAYER_COMPRESSION_NONE },
		{ MEDIA_TYPE_OCI_LAYER_GZIP, LAYER_COMPRESSION_GZIP },
		{ MEDIA_TYPE_OCI_LAYER_ZSTD, LAYER_COMPRESSION_ZSTD },
		{ MEDIA_TYPE_DOCKER_LAYER_GZIP, LAYER_COMPRESSION_GZIP },
		{ "application/vnd.docker.image.rootfs.diff.tar", LAYER_COMPRESSION_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_COMPRESSION_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LAYER_COMPRESSION_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LAYER_COMPRESSION_ZSTD },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LAYER_COMPRESSION_GZIP },
		{ MEDIA_TYPE_WASM_LAYER, LAYER_COMPRESSION_NONE },
		{ MEDIA_TYPE_WASM_CONTENT_LAYER, LAYER_COMPRESSION_NONE },
	};

	for (size_t i = 0; media_type && i < ELEMENTSOF(table); i++)
		if (streq(table[i].type, media_type)) {
			*ret = table[i].c;
			return 0;
		}
	return za_error_make(reterr, ZA_ERROR_PULL_FAILED, EPROTONOSUPPORT, "unsupported layer media type '%s'",
	                     strna(media_type));
}

bool layer_media_type_is_wasm(const char *media_type) {
	return media_type &&
	       (streq(media_type, MEDIA_TYPE_WASM_LAYER) || streq(media_type, MEDIA_TYPE_WASM_CONTENT_LAYER));
}
