/* SPDX-License-Identifier: Apache-2.0 */
/* Compile tiers: a module's code becomes native either through the cache
 * (`cc -O2` of wasm2c's output, dlopen()ed) or, while that is missing,
 * through libtcc in memory. Owns the cache directory, keyed by the sha256
 * of the module's bytes:
 *   mHEX.c mHEX.h    `wasm2c -n m` output     mHEX.c.sum sha256 of .c + .h
 *   HEX.so           cc -O2 -shared -fPIC     HEX.so.sum sha256 of the .so
 *   HEX.lock         flock: writing mHEX.c/.h HEX.so.lock flock: building .so
 *   HEX.so.failed    the last cc error (no background retry for 10 minutes)
 * Every file is written as tmp + fsync + rename; an entry whose sum does not
 * match is rebuilt. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "runtime/wasm/wasi.h"

#define WASM_CACHE_DIR_DEFAULT "/var/lib/zlayer/wasm"
#define WASM_CACHE_DIR_ENV     "ZLAYER_WASM_CACHE_DIR"
#define WASM_DIGEST_HEX_LEN    64

enum wasm_tier {
	WASM_TIER_AUTO,   /* the cached .so if valid, else tcc + a background build */
	WASM_TIER_TCC,    /* always tcc (no .so used or built) */
	WASM_TIER_CACHED, /* the .so, built synchronously when missing */
	_WASM_TIER_MAX,
	_WASM_TIER_INVALID = -1,
};

const char *wasm_tier_to_string(enum wasm_tier t);
enum wasm_tier wasm_tier_from_string(const char *s);

/* Where each part of a cold start went, in nanoseconds. */
struct wasm_timing {
	uint64_t hash, wasm2c, tcc_compile, tcc_relocate, cc, dlopen;
};

/* A module's code, loaded: wasm2c's entry points for `-n m`. */
struct wasm_code {
	enum wasm_tier tier; /* what was used: WASM_TIER_TCC or WASM_TIER_CACHED */
	char hex[WASM_DIGEST_HEX_LEN + 1];
	char *cache_dir;      /* NULL when the cache is unusable */
	bool want_build;      /* auto tier ran on tcc: build the .so for next time */
	size_t instance_size; /* sizeof(Z_m_instance_t) */
	void (*init_module)(void);
	void (*instantiate)(void *instance, wasi_ctx *wasi);
	void (*free_instance)(void *instance);
	wasm_rt_memory_t *(*memory)(void *instance);
	void (*start)(void *instance);
	struct wasm_timing timing;
	void *dl;  /* dlopen handle */
	void *tcc; /* TCCState, owns the code */
};

struct wasm_load_options {
	const char *cache_dir; /* NULL: WASM_CACHE_DIR_DEFAULT */
	enum wasm_tier tier;
};

/* The module's bytes must have passed wasm_module_inspect(). wasm2c's
 * rejection is an invalid_spec error "invalid wasm: MESSAGE". */
int wasm_code_load(const void *wasm, size_t len, const struct wasm_load_options *o, struct wasm_code **ret,
                   struct za_error **reterr);
struct wasm_code *wasm_code_free(struct wasm_code *c);
static inline void wasm_code_freep(struct wasm_code **c) {
	*c = wasm_code_free(*c);
}

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t wasm_now_ns(void);

/* "sha256 hex" of the module bytes into buf (WASM_DIGEST_HEX_LEN + 1). */
void wasm_digest_hex(const void *wasm, size_t len, char *buf);

/* Make DIR/HEX.so (and the C it needs) now; *ret_path: the .so. */
int wasm_cache_build(const char *cache_dir, const void *wasm, size_t len, char **ret_path, struct za_error **reterr);
/* Make DIR/HEX.so from the cached C (the background builder's job). Returns
 * 0 when built or already valid, -EBUSY when another build holds the lock
 * and `wait` is false. */
int wasm_cache_build_so(const char *cache_dir, const char *hex, bool wait, struct za_error **reterr);
/* Start `SELF build-cache --cache-dir DIR HEX` in its own session: it
 * outlives the caller; the caller reaps *ret_pid or lets it be reparented. */
int wasm_cache_spawn_build(const char *self, const char *cache_dir, const char *hex, pid_t *ret_pid);

/* The prelude that makes wasm2c's output compile with tcc 0.9.27 (exposed
 * for tests). */
extern const char wasm_tcc_prelude[];
