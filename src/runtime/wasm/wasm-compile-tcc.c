/* SPDX-License-Identifier: Apache-2.0 */
/* The tcc tier: wasm2c's C compiled in memory by libtcc 0.9.27. tcc has no
 * __builtin_clz/ctz/popcount and does not inline, so a prelude supplies the
 * builtins and turns wasm-rt's small memcpy into plain loads and stores, and
 * macros inserted after wasm2c's DEFINE_LOAD/DEFINE_STORE block replace the
 * load/store functions (a call per memory access otherwise). Runs with
 * -nostdlib: every outside symbol is added by name (the WASI imports, the
 * wasm-rt runtime, a few libc/libm functions, tcc's conversion helpers),
 * anything else would come from dlsym() of this executable. */
#include <assert.h>
#include <libtcc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/strbuf.h"
#include "runtime/wasm/wasm-compile-internal.h"
#include "basic/banned.h"

const char wasm_tcc_prelude[] =
        "#include <stdint.h>\n"
        "#include <string.h>\n"
        "#include <math.h>\n"
        "#include <wasm-rt.h>\n"
        /* callers guarantee x != 0 (wasm2c's I32_CLZ tests it first) */
        "static inline int zw_clz32(uint32_t x) { uint32_t r; __asm__(\"bsrl %1, %0\" : \"=r\"(r) : \"r\"(x)); "
        "return (int)(31 - r); }\n"
        "static inline int zw_clz64(uint64_t x) { uint64_t r; __asm__(\"bsrq %1, %0\" : \"=r\"(r) : \"r\"(x)); "
        "return (int)(63 - r); }\n"
        "static inline int zw_ctz32(uint32_t x) { uint32_t r; __asm__(\"bsfl %1, %0\" : \"=r\"(r) : \"r\"(x)); "
        "return (int)r; }\n"
        "static inline int zw_ctz64(uint64_t x) { uint64_t r; __asm__(\"bsfq %1, %0\" : \"=r\"(r) : \"r\"(x)); "
        "return (int)r; }\n"
        "static inline int zw_popcount32(uint32_t x) { x = x - ((x >> 1) & 0x55555555u); "
        "x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u); "
        "return (int)((((x + (x >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24); }\n"
        "static inline int zw_popcount64(uint64_t x) { x = x - ((x >> 1) & 0x5555555555555555ull); "
        "x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull); "
        "return (int)((((x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full) * 0x0101010101010101ull) >> 56); }\n"
        "#define __builtin_clz(x) zw_clz32(x)\n"
        "#define __builtin_clzll(x) zw_clz64(x)\n"
        "#define __builtin_ctz(x) zw_ctz32(x)\n"
        "#define __builtin_ctzll(x) zw_ctz64(x)\n"
        "#define __builtin_popcount(x) zw_popcount32(x)\n"
        "#define __builtin_popcountll(x) zw_popcount64(x)\n"
        "#undef wasm_rt_memcpy\n"
        "#define wasm_rt_memcpy(d, s, n) "
        "((n) == 4 ? (void)(*(uint32_t *)(d) = *(const uint32_t *)(s)) : "
        "(n) == 8 ? (void)(*(uint64_t *)(d) = *(const uint64_t *)(s)) : "
        "(n) == 1 ? (void)(*(uint8_t *)(d) = *(const uint8_t *)(s)) : "
        "(n) == 2 ? (void)(*(uint16_t *)(d) = *(const uint16_t *)(s)) : (void)memcpy(d, s, n))\n"
        "#undef isnan\n"
        "#define isnan(x) ((x) != (x))\n"
        "static inline int zw_signbitf(float x) { uint32_t u; memcpy(&u, &x, 4); return (int)(u >> 31); }\n"
        "static inline int zw_signbit(double x) { uint64_t u; memcpy(&u, &x, 8); return (int)(u >> 63); }\n"
        "#undef signbit\n"
        "#define signbit(x) (sizeof(x) == sizeof(float) ? zw_signbitf(x) : zw_signbit(x))\n";

/* After this line of wasm2c 1.0.32's output the load/store helpers exist;
 * macros of the same names take over the calls that follow. */
static const char loadstore_marker[] = "DEFINE_STORE(i64_store32, u32, u64)\n";

static const char loadstore_macros[] = "#define ZW_P(t, m, a) ((t *)&(m)->data[a])\n"
                                       "#define i32_load(m, a) (*ZW_P(u32, m, a))\n"
                                       "#define i64_load(m, a) (*ZW_P(u64, m, a))\n"
                                       "#define f32_load(m, a) (*ZW_P(f32, m, a))\n"
                                       "#define f64_load(m, a) (*ZW_P(f64, m, a))\n"
                                       "#define i32_load8_s(m, a) ((u32)(s32)*ZW_P(s8, m, a))\n"
                                       "#define i64_load8_s(m, a) ((u64)(s64)*ZW_P(s8, m, a))\n"
                                       "#define i32_load8_u(m, a) ((u32)*ZW_P(u8, m, a))\n"
                                       "#define i64_load8_u(m, a) ((u64)*ZW_P(u8, m, a))\n"
                                       "#define i32_load16_s(m, a) ((u32)(s32)*ZW_P(s16, m, a))\n"
                                       "#define i64_load16_s(m, a) ((u64)(s64)*ZW_P(s16, m, a))\n"
                                       "#define i32_load16_u(m, a) ((u32)*ZW_P(u16, m, a))\n"
                                       "#define i64_load16_u(m, a) ((u64)*ZW_P(u16, m, a))\n"
                                       "#define i64_load32_s(m, a) ((u64)(s64)*ZW_P(s32, m, a))\n"
                                       "#define i64_load32_u(m, a) ((u64)*ZW_P(u32, m, a))\n"
                                       "#define i32_store(m, a, v) ((void)(*ZW_P(u32, m, a) = (u32)(v)))\n"
                                       "#define i64_store(m, a, v) ((void)(*ZW_P(u64, m, a) = (u64)(v)))\n"
                                       "#define f32_store(m, a, v) ((void)(*ZW_P(f32, m, a) = (f32)(v)))\n"
                                       "#define f64_store(m, a, v) ((void)(*ZW_P(f64, m, a) = (f64)(v)))\n"
                                       "#define i32_store8(m, a, v) ((void)(*ZW_P(u8, m, a) = (u8)(v)))\n"
                                       "#define i32_store16(m, a, v) ((void)(*ZW_P(u16, m, a) = (u16)(v)))\n"
                                       "#define i64_store8(m, a, v) ((void)(*ZW_P(u8, m, a) = (u8)(v)))\n"
                                       "#define i64_store16(m, a, v) ((void)(*ZW_P(u16, m, a) = (u16)(v)))\n"
                                       "#define i64_store32(m, a, v) ((void)(*ZW_P(u32, m, a) = (u32)(v)))\n";

char *wasm_trailer(const char *include_c, const char *hex) {
	return xasprintf("%s%s%s\n"
	                 "const size_t zw_instance_size = sizeof(Z_m_instance_t);\n"
	                 "const char zw_module_digest[] = \"%s\";\n",
	                 include_c ? "#include \"" : "", strempty(include_c), include_c ? "\"" : "", hex);
}

/* tcc's runtime helpers (libtcc1.a, not linked with -nostdlib). */
static unsigned long long zw_fixunsdfdi(double d) {
	return (unsigned long long)d;
}
static unsigned long long zw_fixunssfdi(float f) {
	return (unsigned long long)f;
}
static long long zw_fixdfdi(double d) {
	return (long long)d;
}
static long long zw_fixsfdi(float f) {
	return (long long)f;
}
static double zw_floatundidf(unsigned long long u) {
	return (double)u;
}
static float zw_floatundisf(unsigned long long u) {
	return (float)u;
}

#define SYM(n) \
	{ #n, (const void *)(n) }
static const struct {
	const char *name;
	const void *fn;
} host_symbols[] = {
	SYM(wasm_rt_trap),
	SYM(wasm_rt_register_func_type),
	SYM(wasm_rt_register_tag),
	SYM(wasm_rt_load_exception),
	SYM(wasm_rt_throw),
	SYM(wasm_rt_get_unwind_target),
	SYM(wasm_rt_set_unwind_target),
	SYM(wasm_rt_exception_tag),
	SYM(wasm_rt_exception_size),
	SYM(wasm_rt_exception),
	SYM(wasm_rt_allocate_memory),
	SYM(wasm_rt_grow_memory),
	SYM(wasm_rt_free_memory),
	SYM(wasm_rt_allocate_funcref_table),
	SYM(wasm_rt_free_funcref_table),
	SYM(wasm_rt_grow_funcref_table),
	SYM(wasm_rt_allocate_externref_table),
	SYM(wasm_rt_free_externref_table),
	SYM(wasm_rt_grow_externref_table),
	SYM(wasm_rt_is_initialized),
	SYM(wasm_rt_strerror),
	SYM(memcpy),
	SYM(memmove),
	SYM(memset),
	SYM(memcmp),
	SYM(abort),
	SYM(__assert_fail),
	SYM(floor),
	SYM(floorf),
	SYM(ceil),
	SYM(ceilf),
	SYM(trunc),
	SYM(truncf),
	SYM(nearbyint),
	SYM(nearbyintf),
	SYM(sqrt),
	SYM(sqrtf),
	SYM(fabs),
	SYM(fabsf),
	SYM(copysign),
	SYM(copysignf),
	SYM(fmin),
	SYM(fminf),
	SYM(fmax),
	SYM(fmaxf),
	{ "__fixunsdfdi", (const void *)zw_fixunsdfdi },
	{ "__fixunssfdi", (const void *)zw_fixunssfdi },
	{ "__fixdfdi", (const void *)zw_fixdfdi },
	{ "__fixsfdi", (const void *)zw_fixsfdi },
	{ "__floatundidf", (const void *)zw_floatundidf },
	{ "__floatundisf", (const void *)zw_floatundisf },
};

struct tcc_errors {
	char *first;
};

static void on_tcc_error(void *opaque, const char *msg) {
	struct tcc_errors *e = opaque;

	if (!e->first && !strstr(msg, "warning: "))
		e->first = xstrndup(msg, 1024);
}

/* prelude, C up to the marker, the macros, the rest, the trailer */
static char *tcc_source(const char *hex, const char *c, size_t clen) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_free_ char *trailer = wasm_trailer(NULL, hex);
	const char *m = memmem(c, clen, loadstore_marker, sizeof(loadstore_marker) - 1);
	size_t split = m ? (size_t)(m - c) + sizeof(loadstore_marker) - 1 : clen;

	GROW(sb.buf, sb.alloc, sizeof(wasm_tcc_prelude) + clen + sizeof(loadstore_macros) + strlen(trailer) + 2);
	strbuf_addstr(&sb, wasm_tcc_prelude);
	strbuf_add(&sb, c, split);
	if (m)
		strbuf_addstr(&sb, loadstore_macros);
	else
		log_debug("wasm2c output without '%.*s': load/store helpers stay calls",
		          (int)sizeof(loadstore_marker) - 2, loadstore_marker);
	strbuf_add(&sb, c + split, clen - split);
	strbuf_addch(&sb, '\n');
	strbuf_addstr(&sb, trailer);
	return strbuf_detach(&sb, NULL);
}

int wasm_tcc_compile(struct wasm_code *code, const char *dir, const char *c, size_t clen, struct za_error **reterr) {
	struct tcc_errors errs = {};
	_cleanup_free_ char *src = tcc_source(code->hex, c, clen);
	TCCState *s = tcc_new();
	uint64_t t0 = wasm_now_ns();
	int r = 0;

	if (!s)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOMEM, "cannot start tcc: out of memory");
	tcc_set_error_func(s, &errs, on_tcc_error);
	tcc_set_options(s, "-nostdlib -w");
	if (tcc_set_output_type(s, TCC_OUTPUT_MEMORY) < 0 || tcc_add_include_path(s, dir) < 0) {
		r = -EIO;
		goto fail;
	}
	tcc_define_symbol(s, "WASM_RT_MEMCHECK_SIGNAL_HANDLER", "1");
	if (tcc_compile_string(s, src) < 0) {
		r = -EIO;
		goto fail;
	}
	code->timing.tcc_compile = wasm_now_ns() - t0;
	t0 = wasm_now_ns();
	for (const struct wasi_symbol *w = wasi_symbols; w->name; w++)
		tcc_add_symbol(s, w->name, w->fn);
	for (size_t i = 0; i < ELEMENTSOF(host_symbols); i++)
		tcc_add_symbol(s, host_symbols[i].name, host_symbols[i].fn);
	if (tcc_relocate(s, TCC_RELOCATE_AUTO) < 0) {
		r = -EIO;
		goto fail;
	}
	code->timing.tcc_relocate = wasm_now_ns() - t0;
	code->tcc = s;
	code->tier = WASM_TIER_TCC;
	return 0;
fail:
	tcc_delete(s);
	r = za_error_make(reterr, ZA_ERROR_INTERNAL, -r, "cannot compile module %s with tcc: %s", code->hex,
	                  errs.first ? errs.first : "unknown error");
	free(errs.first);
	return r;
}

void *wasm_tcc_symbol(void *tcc, const char *name) {
	return tcc_get_symbol(tcc, name);
}

void wasm_tcc_free(void *tcc) {
	if (tcc)
		tcc_delete(tcc);
}
