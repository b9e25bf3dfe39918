/* SPDX-License-Identifier: Apache-2.0 */
/* Image references as users write them in specs and on the command line:
 * Docker-style registry names ("busybox", "ghcr.io/o/r:1@sha256:...") with
 * distribution/reference normalisation, and the local transports
 * "oci-layout:DIR[:TAG]", "oci-archive:FILE[:TAG]", "docker-archive:FILE".
 * A parsed reference owns its strings; it never touches the network or disk. */
#pragma once

#include "basic/error.h"

enum image_transport {
	IMAGE_TRANSPORT_REGISTRY,       /* "docker" */
	IMAGE_TRANSPORT_OCI_LAYOUT,     /* "oci-layout" */
	IMAGE_TRANSPORT_OCI_ARCHIVE,    /* "oci-archive" */
	IMAGE_TRANSPORT_DOCKER_ARCHIVE, /* "docker-archive" */
	_IMAGE_TRANSPORT_MAX,
	_IMAGE_TRANSPORT_INVALID = -1,
};

const char *image_transport_to_string(enum image_transport t);
enum image_transport image_transport_from_string(const char *s);

/* Caps: Docker's NameTotalLengthMax for domain + "/" + path; a local path
 * must fit PATH_MAX; anything longer than the whole-input cap is refused
 * before it is looked at. */
#define IMAGE_REFERENCE_NAME_MAX  255
#define IMAGE_REFERENCE_TAG_MAX   128
#define IMAGE_REFERENCE_PATH_MAX  4095
#define IMAGE_REFERENCE_INPUT_MAX 8192

struct image_reference {
	enum image_transport transport;
	char *domain;     /* registry: "docker.io", "127.0.0.1:5000", "[::1]:5000"; NULL for local transports */
	char *path;       /* registry: "library/busybox"; NULL for local transports */
	char *tag;        /* registry: "latest" when neither tag nor digest was given, NULL when only a digest
	                   * was; local transports: NULL when none was given (the single image in the layout) */
	char *digest;     /* registry: "sha256:<64 hex>" / "sha512:<128 hex>" or NULL; always NULL for local */
	char *local_path; /* local transports: the filesystem path as given; NULL for registry */
};

/* Zero, transport REGISTRY; allocates nothing. */
void image_reference_init(struct image_reference *r);
/* Free the strings and re-init; safe on an init'ed or released reference. */
void image_reference_release(struct image_reference *r);

/* Parse and normalise s. On success *ret (which must own nothing) receives
 * the result; on failure *ret is untouched and *reterr says which part is
 * wrong (kind ZA_ERROR_INVALID_SPEC, returns -EINVAL). A leading "docker://"
 * selects the registry transport explicitly. */
int image_reference_parse(const char *s, struct image_reference *ret, struct za_error **reterr);

/* Normalised form, re-parses to an equal reference:
 * "docker.io/library/busybox:latest", "ghcr.io/o/r:1@sha256:...",
 * "oci-layout:/path:tag". */
char *image_reference_to_string(const struct image_reference *r);
/* Docker's short form: "busybox:latest", "myorg/app:1",
 * "127.0.0.1:5000/app:1". Local transports: same as to_string. */
char *image_reference_familiar(const struct image_reference *r);
/* Name without tag or digest: "docker.io/library/busybox"; local
 * transports: "oci-layout:/path". */
char *image_reference_repository(const struct image_reference *r);
