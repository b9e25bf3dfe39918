/* SPDX-License-Identifier: Apache-2.0 */
/* A client of one OCI distribution (v2) registry over libcurl: manifests by
 * tag or digest, blobs in parallel with resume. It owns the scheme choice,
 * authentication (anonymous, basic, bearer tokens shared process-wide) and
 * retries; callers see bytes and za_errors, never HTTP or curl codes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "image/manifest.h"

#define REGISTRY_DEFAULT_RETRIES      5
#define REGISTRY_DEFAULT_RETRY_BASE   (200ULL * 1000ULL * 1000ULL)          /* 200 ms */
#define REGISTRY_RETRY_DELAY_MAX      (10ULL * 1000ULL * 1000ULL * 1000ULL) /* backoff cap */
#define REGISTRY_RETRY_AFTER_MAX      (30ULL * 1000ULL * 1000ULL * 1000ULL) /* Retry-After cap */
#define REGISTRY_DEFAULT_PARALLEL     4
#define REGISTRY_MANIFEST_MAX         (4U * 1024U * 1024U) /* HEAD's fallback GET */
#define REGISTRY_ERROR_BODY_MAX       (64U * 1024U)
#define REGISTRY_TOKEN_REPLY_MAX      (1024U * 1024U)
#define REGISTRY_TOKEN_CACHE_MAX      256
#define REGISTRY_PROGRESS_INTERVAL_NS (100ULL * 1000ULL * 1000ULL)

struct registry_options {
	const char *auth_file;      /* --registry-auth file, consulted before the docker config; must exist */
	char **insecure_registries; /* "host:port" allowed over plain HTTP besides loopback */
	unsigned max_retries;       /* 0 -> default 5 */
	uint64_t retry_base_nsec;   /* 0 -> 200 ms, doubling, capped at 10 s */
	unsigned max_parallel;      /* 0 -> 4: concurrent blob transfers */
};

struct registry_client;

/* domain as in image_reference.domain ("docker.io", "127.0.0.1:5000",
 * "[::1]:5000"). Reads credentials now (the auth_file first, then the Docker
 * config; a malformed file is ZA_ERROR_CONFIGURATION); touches the network
 * only on first use.
 * Loopback registries and insecure ones are tried over HTTPS without
 * verification first, then plain HTTP; all others over verified HTTPS. */
int registry_client_new(const char *domain, const struct registry_options *opts, struct registry_client **ret,
                        struct za_error **reterr);
struct registry_client *registry_client_free(struct registry_client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct registry_client *, registry_client_free)

/* GET a manifest or index by tag or digest. Accepts OCI index + manifest,
 * Docker manifest list + schema2, and schema1 (so the caller can reject it
 * clearly). More than cap body bytes is an error. *ret_digest is the
 * sha256 of the body; a body that does not match the digest reference or
 * the registry's Docker-Content-Digest is ZA_ERROR_PULL_FAILED (a sha512
 * reference is ZA_ERROR_UNSUPPORTED: it cannot be verified). *ret_media_type:
 * the Content-Type without parameters, or the body's mediaType when the
 * Content-Type is missing or generic JSON. Every ret_* may be NULL. */
int registry_get_manifest(struct registry_client *c, const char *repo, const char *reference, size_t cap,
                          char **ret_body, size_t *ret_len, char **ret_media_type, char **ret_digest,
                          struct za_error **reterr);
/* HEAD; falls back to a GET when the registry sends no digest or type.
 * For a digest reference *ret_digest is that digest. ret_* may be NULL. */
int registry_head_manifest(struct registry_client *c, const char *repo, const char *reference, char **ret_digest,
                           char **ret_media_type, struct za_error **reterr);

struct registry_blob_request {
	const char *repo, *digest;
	uint64_t size;   /* expected size; more data than this is an error, less is retried then an error */
	uint64_t offset; /* resume: start at this byte (Range); if the server ignores Range, skip bytes locally */
	/* every byte from offset on is passed exactly once and in order, also across retries (resume with Range
	 * from what was delivered) */
	int (*on_data)(const void *buf, size_t len, void *userdata); /* <0 aborts this transfer */
	void *userdata;
	int result;              /* out: 0 or -errno */
	struct za_error *error;  /* out: owned by the request, free with za_error_free */
	uint64_t bytes_received; /* out: progress, offset + bytes delivered so far, updated as data arrives */
	/* optional progress callback, called at most every 100 ms per request */
	void (*on_progress)(const struct registry_blob_request *r, void *userdata);
};

/* Blob downloads, run concurrently (up to max_parallel) on one curl multi
 * handle in the calling thread. Returns 0 when all transfers were attempted
 * (check each result); <0 only for setup failures (bad arguments, registry
 * unreachable before any transfer could start: then every result is that
 * error too). */
int registry_fetch_blobs(struct registry_client *c, struct registry_blob_request *reqs, size_t n,
                         struct za_error **reterr);
