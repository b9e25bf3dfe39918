/* SPDX-License-Identifier: Apache-2.0 */
/* Content digests ("sha256:<64 hex>"): validation, streaming SHA-256 and
 * OCI chain ids. The only place that talks to libcrypto's digest API. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA256_LEN (7 + 64) /* "sha256:" + hex */

struct sha256 {
	void *ctx; /* SHA256_CTX */
};

/* A sha256 digest with lowercase hex: the only algorithm the store keeps. */
bool digest_is_sha256(const char *d);
/* sha256 or sha512 in canonical form. */
bool digest_valid(const char *d);
/* Pointer to the hex part, or NULL when d has no "algo:" prefix. */
const char *digest_hex(const char *d);

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* Write "sha256:<hex>" into buf (at least DIGEST_SHA256_LEN + 1) and reset. */
void sha256_final(struct sha256 *h, char *buf);
void sha256_release(struct sha256 *h);
/* Digest of a buffer, allocated. */
char *digest_sha256_buf(const void *data, size_t len);
/* chain_id(L0) = diff_id(L0); chain_id(Ln) = sha256(chain_id(Ln-1) + " " + diff_id(Ln)). */
char *digest_chain_id(const char *parent_chain_id, const char *diff_id);
