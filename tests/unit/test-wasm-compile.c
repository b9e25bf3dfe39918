/* SPDX-License-Identifier: Apache-2.0 */
/* The compile tiers with a hand-made module (no clang needed; wasm2c and cc
 * are): tcc and cached loads, the cache's files, a corrupt entry rebuilt,
 * an unusable cache, wasm2c's error, the lock, and the tcc prelude's
 * builtins against the compiler's. */
#include <fcntl.h>
#include <libtcc.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/strbuf.h"
#include "runtime/wasm/wasm-compile-internal.h"
#include "runtime/wasm/wasm-compile.h"
#include "runtime/wasm/wasm-module.h"

static char cache[] = "/tmp/test-wasm-compile-XXXXXX";

/* (module (memory (export "memory") 1) (func (export "_start") BODY)) */
static void module(struct strbuf *sb, const char *body, size_t n) {
	strbuf_add(sb, "\0asm\1\0\0\0", 8);
	strbuf_add(sb, "\x01\x04\x01\x60\x00\x00", 6); /* type () -> () */
	strbuf_add(sb, "\x03\x02\x01\x00", 4);         /* one function */
	strbuf_add(sb, "\x05\x03\x01\x00\x01", 5);     /* memory 1 */
	strbuf_add(sb, "\x07\x13\x02\x06_start\x00\x00\x06memory\x02\x00", 21);
	strbuf_addch(sb, 0x0a);
	strbuf_addch(sb, (char)(n + 3));
	strbuf_addch(sb, 1);
	strbuf_addch(sb, (char)(n + 1));
	strbuf_addch(sb, 0); /* no locals */
	strbuf_add(sb, body, n);
}

static char *path_of(const char *hex, const char *suffix, bool c_file) {
	return xasprintf("%s/%s%s%s", cache, c_file ? "m" : "", hex, suffix);
}

static int setup(void **state) {
	assert_non_null(mkdtemp(cache));
	return 0;
}

static int teardown(void **state) {
	rm_rf(cache);
	return 0;
}

static void test_tiers(void **state) {
	assert_string_equal(wasm_tier_to_string(WASM_TIER_AUTO), "auto");
	assert_string_equal(wasm_tier_to_string(WASM_TIER_TCC), "tcc");
	assert_string_equal(wasm_tier_to_string(WASM_TIER_CACHED), "cached");
	assert_null(wasm_tier_to_string(_WASM_TIER_MAX));
	assert_int_equal(wasm_tier_from_string("cached"), WASM_TIER_CACHED);
	assert_int_equal(wasm_tier_from_string("gcc"), _WASM_TIER_INVALID);
	assert_int_equal(wasm_tier_from_string(NULL), _WASM_TIER_INVALID);
}

static void test_tool_error(void **state) {
	char *m = wasm_tool_error("x.wasm:000001e: error: type mismatch in i32.add, expected [i32, i32] but got []\n"
	                          "x.wasm:000001e: error: second\n");
	assert_string_equal(m, "type mismatch in i32.add, expected [i32, i32] but got []");
	free(m);
	m = wasm_tool_error("\nsomething else\nmore\n");
	assert_string_equal(m, "something else");
	free(m);
	m = wasm_tool_error("");
	assert_string_equal(m, "no error message");
	free(m);
}

static void test_tcc_then_cached(void **state) {
	struct strbuf sb = STRBUF_INIT;
	struct wasm_load_options o = { .cache_dir = cache, .tier = WASM_TIER_AUTO };
	struct wasm_code *code = NULL;
	struct za_error *err = NULL;
	struct wasm_module_info info;
	char *so, *c, *path = NULL;

	module(&sb, "\x01\x0b", 2); /* nop end */
	assert_int_equal(wasm_module_inspect(sb.buf, sb.len, &info, &err), 0);
	wasm_module_info_release(&info);
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	assert_null(err);
	assert_int_equal(code->tier, WASM_TIER_TCC);
	assert_true(code->want_build);
	assert_true(code->instance_size > 0);
	assert_non_null(code->start);
	assert_true(code->timing.wasm2c > 0);
	c = path_of(code->hex, ".c", true);
	so = path_of(code->hex, ".so", false);
	assert_int_equal(access(c, F_OK), 0);
	assert_int_equal(access(so, F_OK), -1);
	wasm_code_free(code);

	/* the C is reused: no second wasm2c */
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	assert_int_equal(code->timing.wasm2c, 0);
	wasm_code_free(code);

	assert_int_equal(wasm_cache_build(cache, sb.buf, sb.len, &path, &err), 0);
	assert_string_equal(path, so);
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	assert_int_equal(code->tier, WASM_TIER_CACHED);
	assert_false(code->want_build);
	assert_non_null(code->start);
	wasm_code_free(code);

	/* tcc on demand even with a .so */
	o.tier = WASM_TIER_TCC;
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	assert_int_equal(code->tier, WASM_TIER_TCC);
	assert_false(code->want_build);
	wasm_code_free(code);
	free(path);
	free(so);
	free(c);
	strbuf_release(&sb);
}

static void corrupt(const char *path, bool truncate_it) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	if (truncate_it)
		assert_int_equal(ftruncate(fd, st.st_size / 2), 0);
	else
		assert_int_equal(pwrite(fd, "\xff\xfe", 2, st.st_size / 2), 2);
	close(fd);
}

static void test_corrupt_so_rebuilt(void **state) {
	struct strbuf sb = STRBUF_INIT;
	struct wasm_load_options o = { .cache_dir = cache, .tier = WASM_TIER_AUTO };
	struct wasm_code *code = NULL;
	struct za_error *err = NULL;
	char *so = NULL;

	module(&sb, "\x01\x01\x0b", 3); /* nop nop end: another module */
	assert_int_equal(wasm_cache_build(cache, sb.buf, sb.len, &so, &err), 0);
	for (int round = 0; round < 2; round++) {
		corrupt(so, round == 0);
		/* a reader never uses it, and never deletes it */
		assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
		assert_int_equal(code->tier, WASM_TIER_TCC);
		assert_true(code->want_build);
		assert_int_equal(wasm_cache_build_so(cache, code->hex, false, &err), 0);
		wasm_code_free(code);
		assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
		assert_int_equal(code->tier, WASM_TIER_CACHED);
		wasm_code_free(code);
	}
	/* the cached tier rebuilds synchronously */
	corrupt(so, false);
	o.tier = WASM_TIER_CACHED;
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	assert_int_equal(code->tier, WASM_TIER_CACHED);
	wasm_code_free(code);
	free(so);
	strbuf_release(&sb);
}

static void test_corrupt_c_retranslated(void **state) {
	struct strbuf sb = STRBUF_INIT;
	struct wasm_load_options o = { .cache_dir = cache, .tier = WASM_TIER_TCC };
	struct wasm_code *code = NULL;
	struct za_error *err = NULL;
	char *c;

	module(&sb, "\x01\x01\x01\x0b", 4);
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	c = path_of(code->hex, ".c", true);
	wasm_code_free(code);
	corrupt(c, true);
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	assert_true(code->timing.wasm2c > 0);
	assert_int_equal(code->tier, WASM_TIER_TCC);
	wasm_code_free(code);
	free(c);
	strbuf_release(&sb);
}

static void test_unusable_cache(void **state) {
	struct strbuf sb = STRBUF_INIT;
	struct wasm_load_options o = { .cache_dir = "/proc/no-such-cache", .tier = WASM_TIER_AUTO };
	struct wasm_code *code = NULL;
	struct za_error *err = NULL;

	module(&sb, "\x01\x0b", 2);
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	assert_int_equal(code->tier, WASM_TIER_TCC);
	assert_null(code->cache_dir);
	assert_false(code->want_build);
	wasm_code_free(code);

	o.tier = WASM_TIER_CACHED;
	assert_true(wasm_code_load(sb.buf, sb.len, &o, &code, &err) < 0);
	assert_int_equal(err->kind, ZA_ERROR_CONFIGURATION);
	assert_non_null(strstr(err->message, "cannot use the cache directory '/proc/no-such-cache'"));
	za_error_free(err);
	strbuf_release(&sb);
}

static void test_wasm2c_rejects(void **state) {
	struct strbuf sb = STRBUF_INIT;
	struct wasm_load_options o = { .cache_dir = cache, .tier = WASM_TIER_TCC };
	struct wasm_code *code = NULL;
	struct za_error *err = NULL;
	struct wasm_module_info info;

	module(&sb, "\x6a\x0b", 2); /* i32.add on an empty stack */
	assert_int_equal(wasm_module_inspect(sb.buf, sb.len, &info, &err), 0);
	wasm_module_info_release(&info);
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), -EINVAL);
	assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
	assert_true(strneq(err->message, "invalid wasm: ", 14));
	assert_non_null(strstr(err->message, "i32.add"));
	za_error_free(err);
	strbuf_release(&sb);
}

static void test_lock_busy(void **state) {
	char hex[WASM_DIGEST_HEX_LEN + 1];
	char *lock;
	struct za_error *err = NULL;
	int fd = -1;

	wasm_digest_hex("x", 1, hex);
	lock = path_of(hex, ".so.lock", false);
	assert_int_equal(wasm_cache_lock(lock, false, &fd), 0);
	assert_int_equal(wasm_cache_build_so(cache, hex, false, &err), -EBUSY);
	assert_null(err);
	close(fd);
	/* free again, but there is no C to build from */
	assert_int_equal(wasm_cache_build_so(cache, hex, false, &err), -ENOENT);
	assert_non_null(strstr(err->message, "no translated code for module"));
	za_error_free(err);
	free(lock);
}

static void test_failed_build_not_retried(void **state) {
	struct strbuf sb = STRBUF_INIT;
	struct wasm_load_options o = { .cache_dir = cache, .tier = WASM_TIER_AUTO };
	struct wasm_code *code = NULL;
	struct za_error *err = NULL;
	char *failed;

	module(&sb, "\x01\x01\x01\x01\x0b", 5);
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	assert_true(code->want_build);
	failed = path_of(code->hex, ".so.failed", false);
	setenv("ZLAYER_WASM_CC", "false", 1);
	assert_true(wasm_cache_build_so(cache, code->hex, true, &err) < 0);
	unsetenv("ZLAYER_WASM_CC");
	assert_non_null(strstr(err->message, "cannot compile module"));
	err = za_error_free(err);
	assert_int_equal(access(failed, F_OK), 0);
	wasm_code_free(code);
	/* no background retry storm: auto starts stop asking for a build */
	assert_int_equal(wasm_code_load(sb.buf, sb.len, &o, &code, &err), 0);
	assert_int_equal(code->tier, WASM_TIER_TCC);
	assert_false(code->want_build);
	/* a synchronous build still tries, and clears the mark */
	assert_int_equal(wasm_cache_build_so(cache, code->hex, true, &err), 0);
	assert_int_equal(access(failed, F_OK), -1);
	wasm_code_free(code);
	free(failed);
	strbuf_release(&sb);
}

/* The prelude's builtins against gcc's, through libtcc. */
static void test_prelude_builtins(void **state) {
	static const uint64_t values[] = { 1,
		                           2,
		                           3,
		                           0x80,
		                           0xff,
		                           0x1000,
		                           0x7fffffff,
		                           0x80000000u,
		                           0xffffffffu,
		                           0x100000000ull,
		                           0x123456789abcdefull,
		                           0x8000000000000000ull,
		                           0xffffffffffffffffull,
		                           0x0f0f0f0f0f0f0f0full };
	struct strbuf src = STRBUF_INIT;
	TCCState *s = tcc_new();
	int (*f)(int, uint64_t), (*ff)(double, float);
	static const double doubles[] = { 1.0, -1.0, 0.0, -0.0, NAN, -NAN, INFINITY, -INFINITY };

	strbuf_addstr(&src, wasm_tcc_prelude);
	strbuf_addstr(&src, "int probe(int which, uint64_t v) {\n"
	                    "  switch (which) {\n"
	                    "  case 0: return __builtin_clz((uint32_t)v);\n"
	                    "  case 1: return __builtin_clzll(v);\n"
	                    "  case 2: return __builtin_ctz((uint32_t)v);\n"
	                    "  case 3: return __builtin_ctzll(v);\n"
	                    "  case 4: return __builtin_popcount((uint32_t)v);\n"
	                    "  case 5: return __builtin_popcountll(v);\n"
	                    "  case 6: { uint32_t x = (uint32_t)v, y; wasm_rt_memcpy(&y, &x, 4); return y == x; }\n"
	                    "  }\n  return -1;\n}\n"
	                    "int probe_f(double x, float y) {\n"
	                    "  return isnan(x) | signbit(x) << 1 | isnan(y) << 2 | signbit(y) << 3;\n}\n");
	assert_non_null(s);
	tcc_set_options(s, "-nostdlib");
	assert_int_equal(tcc_set_output_type(s, TCC_OUTPUT_MEMORY), 0);
	tcc_define_symbol(s, "WASM_RT_MEMCHECK_SIGNAL_HANDLER", "1");
	assert_int_equal(tcc_compile_string(s, src.buf), 0);
	tcc_add_symbol(s, "memcpy", (const void *)memcpy);
	assert_int_equal(tcc_relocate(s, TCC_RELOCATE_AUTO), 0);
	f = (int (*)(int, uint64_t))tcc_get_symbol(s, "probe");
	assert_non_null(f);
	for (size_t i = 0; i < ELEMENTSOF(values); i++) {
		uint64_t v = values[i];
		if ((uint32_t)v) {
			assert_int_equal(f(0, v), __builtin_clz((uint32_t)v));
			assert_int_equal(f(2, v), __builtin_ctz((uint32_t)v));
		}
		assert_int_equal(f(1, v), __builtin_clzll(v));
		assert_int_equal(f(3, v), __builtin_ctzll(v));
		assert_int_equal(f(4, v), __builtin_popcount((uint32_t)v));
		assert_int_equal(f(5, v), __builtin_popcountll(v));
		assert_int_equal(f(6, v), 1);
	}
	ff = (int (*)(double, float))tcc_get_symbol(s, "probe_f");
	assert_non_null(ff);
	for (size_t i = 0; i < ELEMENTSOF(doubles); i++) {
		double x = doubles[i];
		float y = (float)doubles[ELEMENTSOF(doubles) - 1 - i];
		assert_int_equal(ff(x, y),
		                 (isnan(x) ? 1 : 0) | (signbit(x) ? 2 : 0) | (isnan(y) ? 4 : 0) | (signbit(y) ? 8 : 0));
	}
	tcc_delete(s);
	strbuf_release(&src);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiers),
		cmocka_unit_test(test_tool_error),
		cmocka_unit_test(test_tcc_then_cached),
		cmocka_unit_test(test_corrupt_so_rebuilt),
		cmocka_unit_test(test_corrupt_c_retranslated),
		cmocka_unit_test(test_unusable_cache),
		cmocka_unit_test(test_wasm2c_rejects),
		cmocka_unit_test(test_lock_busy),
		cmocka_unit_test(test_failed_build_not_retried),
		cmocka_unit_test(test_prelude_builtins),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
