/* SPDX-License-Identifier: Apache-2.0 */
/* OCI / Docker image manifests, indexes (manifest lists) and image configs
 * parsed from JSON into structs, with media-type checks, size caps and
 * platform selection. Pure: no network, no disk. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"

#define MEDIA_TYPE_OCI_INDEX             "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_OCI_MANIFEST          "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_TYPE_OCI_CONFIG            "application/vnd.oci.image.config.v1+json"
#define MEDIA_TYPE_OCI_LAYER             "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_TYPE_OCI_LAYER_GZIP        "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_TYPE_OCI_LAYER_ZSTD        "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_TYPE_DOCKER_LIST           "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_DOCKER_MANIFEST       "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_TYPE_DOCKER_CONFIG         "application/vnd.docker.container.image.v1+json"
#define MEDIA_TYPE_DOCKER_LAYER_GZIP     "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MEDIA_TYPE_DOCKER_SCHEMA1        "application/vnd.docker.distribution.manifest.v1+json"
#define MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

#define MANIFEST_MAX_SIZE     (4u << 20)
#define IMAGE_CONFIG_MAX_SIZE (16u << 20)
#define MANIFEST_MAX_LAYERS   1024
#define INDEX_MAX_MANIFESTS   1024

/* The Accept header value for manifest requests. */
extern const char manifest_accept_types[];

enum manifest_kind {
	MANIFEST_KIND_INDEX,
	MANIFEST_KIND_IMAGE,
	_MANIFEST_KIND_MAX,
	_MANIFEST_KIND_INVALID = -1,
};

struct oci_platform {
	char *os;
	char *architecture;
	char *variant; /* may be NULL */
};

struct oci_descriptor {
	char *media_type;
	char *digest;
	uint64_t size;
	bool has_platform;
	struct oci_platform platform;
};

struct oci_index {
	char *media_type;
	struct oci_descriptor *manifests;
	size_t n_manifests;
};

struct oci_manifest {
	char *media_type;
	struct oci_descriptor config;
	struct oci_descriptor *layers;
	size_t n_layers;
};

struct oci_kv {
	char *key;
	char *value;
};

struct oci_image_config {
	char *os, *architecture, *variant, *created;
	char *user, *working_dir, *stop_signal;
	char **entrypoint, **cmd, **env; /* NULL when absent */
	char **exposed_ports;            /* "80/tcp" */
	struct oci_kv *labels;
	size_t n_labels;
	char **diff_ids;
	size_t n_diff_ids;
};

/* Which kind a fetched document is, from the Content-Type (may be NULL) and
 * the body's own mediaType / shape. Schema 1 and unknown types fail with a
 * pull_failed error naming the type. */
int manifest_detect_kind(const char *content_type, const char *body, size_t len, enum manifest_kind *ret,
                         char **ret_media_type, struct za_error **reterr);
int oci_index_parse(const char *body, size_t len, struct oci_index *ret, struct za_error **reterr);
int oci_manifest_parse(const char *body, size_t len, struct oci_manifest *ret, struct za_error **reterr);
int oci_image_config_parse(const char *body, size_t len, struct oci_image_config *ret, struct za_error **reterr);
void oci_index_release(struct oci_index *i);
void oci_manifest_release(struct oci_manifest *m);
void oci_image_config_release(struct oci_image_config *c);
void oci_platform_release(struct oci_platform *p);

/* "linux/arm64/v8" -> platform; os and architecture required. */
int oci_platform_parse(const char *s, struct oci_platform *ret, struct za_error **reterr);
char *oci_platform_to_string(const struct oci_platform *p);
/* The operating system of every node this agent runs on. */
#define OCI_NODE_OS "linux"
/* The node's platform: linux and the Go name of uname's machine. */
void oci_platform_default(struct oci_platform *ret);
/* An image whose config says `os`, wanted for `want`: when want is for the
 * node's OS and os is another one ("windows", "darwin"), only a peer
 * running that OS can take it: route_to_peer naming it, with
 * required_os set. 0 otherwise (also for no or an "unknown" os). */
int oci_platform_check_os(const char *os, const struct oci_platform *want, struct za_error **reterr);
/* Best manifest of the index for `want` (variant NULL matches any, preferring
 * the normalised default: arm64 -> v8); none: wrong_platform error listing
 * what the index offers, or route_to_peer (as oci_platform_check_os) when
 * every platform of the index is for an OS other than the node's. */
int oci_index_select(const struct oci_index *idx, const struct oci_platform *want, const struct oci_descriptor **ret,
                     struct za_error **reterr);

enum layer_compression {
	LAYER_COMPRESSION_NONE,
	LAYER_COMPRESSION_GZIP,
	LAYER_COMPRESSION_ZSTD,
	_LAYER_COMPRESSION_MAX,
	_LAYER_COMPRESSION_INVALID = -1,
};
/* The compression of a layer media type; unknown types (including foreign
 * layers) fail with a pull_failed error naming the type. */
int layer_media_type_compression(const char *media_type, enum layer_compression *ret, struct za_error **reterr);
/* A WebAssembly module layer (the module's bytes, not a tarball): its
 * snapshot is one file, module.wasm. */
#define MEDIA_TYPE_WASM_LAYER         "application/wasm"
#define MEDIA_TYPE_WASM_CONTENT_LAYER "application/vnd.wasm.content.layer.v1+wasm"
bool layer_media_type_is_wasm(const char *media_type);
