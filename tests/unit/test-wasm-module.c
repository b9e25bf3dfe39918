/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "runtime/wasm/wasm-module.h"

/* --- a tiny module builder ------------------------------------------------------- */

struct mod {
	struct strbuf sb;
};

static void mod_init(struct mod *m) {
	strbuf_init(&m->sb);
	strbuf_add(&m->sb, "\0asm\1\0\0\0", 8);
}

static void add_leb(struct strbuf *sb, uint32_t v) {
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		if (v)
			b |= 0x80;
		strbuf_addch(sb, (char)b);
	} while (v);
}

static void add_name(struct strbuf *sb, const char *s) {
	add_leb(sb, (uint32_t)strlen(s));
	strbuf_addstr(sb, s);
}

static void add_section(struct mod *m, uint8_t id, const struct strbuf *body) {
	strbuf_addch(&m->sb, (char)id);
	add_leb(&m->sb, (uint32_t)body->len);
	strbuf_add(&m->sb, body->buf, body->len);
}

/* Types: 0 () -> (), 1 (i32 x4) -> i32 (fd_write), 2 (i32) -> () (proc_exit). */
static void add_types(struct mod *m) {
	struct strbuf b = STRBUF_INIT;
	add_leb(&b, 3);
	strbuf_add(&b, "\x60\x00\x00", 3);
	strbuf_add(&b, "\x60\x04\x7f\x7f\x7f\x7f\x01\x7f", 8);
	strbuf_add(&b, "\x60\x01\x7f\x00", 4);
	add_section(m, 1, &b);
	strbuf_release(&b);
}

static void add_import(struct mod *m, const char *module, const char *name, uint8_t kind, const char *desc,
                       size_t desc_len) {
	struct strbuf b = STRBUF_INIT;
	add_leb(&b, 1);
	add_name(&b, module);
	add_name(&b, name);
	strbuf_addch(&b, (char)kind);
	strbuf_add(&b, desc, desc_len);
	add_section(m, 2, &b);
	strbuf_release(&b);
}

static void add_functions(struct mod *m, uint32_t n) {
	struct strbuf b = STRBUF_INIT;
	add_leb(&b, n);
	for (uint32_t i = 0; i < n; i++)
		add_leb(&b, 0);
	add_section(m, 3, &b);
	strbuf_release(&b);
}

static void add_memory(struct mod *m, const char *limits, size_t n) {
	struct strbuf b = STRBUF_INIT;
	add_leb(&b, 1);
	strbuf_add(&b, limits, n);
	add_section(m, 5, &b);
	strbuf_release(&b);
}

static void add_exports(struct mod *m, uint32_t start_func, bool start, bool memory) {
	struct strbuf b = STRBUF_INIT;
	add_leb(&b, (uint32_t)start + (uint32_t)memory);
	if (start) {
		add_name(&b, "_start");
		strbuf_addch(&b, 0);
		add_leb(&b, start_func);
	}
	if (memory) {
		add_name(&b, "memory");
		strbuf_addch(&b, 2);
		add_leb(&b, 0);
	}
	add_section(m, 7, &b);
	strbuf_release(&b);
}

static void add_code(struct mod *m, uint32_t n) {
	struct strbuf b = STRBUF_INIT;
	add_leb(&b, n);
	for (uint32_t i = 0; i < n; i++)
		strbuf_add(&b, "\x02\x00\x0b", 3); /* size 2: no locals, end */
	add_section(m, 10, &b);
	strbuf_release(&b);
}

/* type, import fd_write, function, memory, export, code */
static void build_valid(struct mod *m) {
	mod_init(m);
	add_types(m);
	add_import(m, "wasi_snapshot_preview1", "fd_write", 0, "\x01", 1);
	add_functions(m, 1);
	add_memory(m, "\x00\x01", 2);
	add_exports(m, 1, true, true);
	add_code(m, 1);
}

static int inspect(const struct mod *m, struct wasm_module_info *info, struct za_error **err) {
	return wasm_module_inspect(m->sb.buf, m->sb.len, info, err);
}

static void expect_error(const void *buf, size_t len, const char *message) {
	struct za_error *err = NULL;
	struct wasm_module_info info = {};

	assert_int_equal(wasm_module_inspect(buf, len, &info, &err), -EINVAL);
	assert_non_null(err);
	assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
	assert_string_equal(err->message, message);
	za_error_free(err);
}

static void expect_mod_error(struct mod *m, const char *message) {
	expect_error(m->sb.buf, m->sb.len, message);
	strbuf_release(&m->sb);
}

/* --- cases ------------------------------------------------------------------------ */

static void test_valid(void **state) {
	struct wasm_module_info info = {};
	struct mod m;

	build_valid(&m);
	assert_int_equal(inspect(&m, &info, NULL), 0);
	assert_int_equal(info.n_types, 3);
	assert_int_equal(info.n_funcs, 1);
	assert_int_equal(info.n_wasi_imports, 1);
	assert_string_equal(info.wasi_imports[0], "fd_write");
	assert_int_equal(info.mem_min_pages, 1);
	assert_false(info.mem_has_max);
	assert_int_equal(info.mem_max_pages, WASM_MAX_PAGES);
	assert_int_equal(info.code_bytes, 4);
	wasm_module_info_release(&info);
	strbuf_release(&m.sb);
}

static void test_valid_with_max_and_customs(void **state) {
	struct wasm_module_info info = {};
	struct strbuf custom = STRBUF_INIT;
	struct mod m;

	add_name(&custom, "name");
	strbuf_add(&custom, "\x01\x02\x03", 3);
	mod_init(&m);
	add_section(&m, 0, &custom);
	add_types(&m);
	add_section(&m, 0, &custom);
	add_functions(&m, 2);
	add_memory(&m, "\x01\x02\x10", 3);
	add_exports(&m, 0, true, true);
	add_code(&m, 2);
	add_section(&m, 0, &custom);
	assert_int_equal(inspect(&m, &info, NULL), 0);
	assert_int_equal(info.n_wasi_imports, 0);
	assert_int_equal(info.mem_min_pages, 2);
	assert_int_equal(info.mem_max_pages, 16);
	assert_true(info.mem_has_max);
	wasm_module_info_release(&info);
	strbuf_release(&m.sb);
	strbuf_release(&custom);
}

static void test_bad_magic(void **state) {
	expect_error("", 0, "invalid wasm: not a WebAssembly module (bad magic)");
	expect_error("\x7f"
	             "ELF\2\1\1\0",
	             8, "invalid wasm: not a WebAssembly module (bad magic)");
	expect_error("\0as", 3, "invalid wasm: not a WebAssembly module (bad magic)");
}

static void test_truncated_header(void **state) {
	expect_error("\0asm\1\0", 6, "invalid wasm: truncated header (6 bytes)");
}

static void test_versions(void **state) {
	expect_error("\0asm\2\0\0\0", 8, "invalid wasm: unsupported binary format version 2 (only version 1 is)");
	expect_error("\0asm\x0d\0\1\0", 8,
	             "invalid wasm: a WebAssembly component, not a core module (components are not supported)");
}

static void test_empty_module(void **state) {
	expect_error("\0asm\1\0\0\0", 8,
	             "invalid wasm: the module has no memory (a WASI command defines one and exports it as 'memory')");
}

static void test_truncated_section(void **state) {
	struct mod m;

	build_valid(&m);
	m.sb.len -= 2; /* cut into the code section */
	expect_mod_error(&m, "invalid wasm: section 10: size 4 exceeds the module (2 bytes left)");
}

static void test_truncated_leb(void **state) {
	expect_error("\0asm\1\0\0\0\1\x80", 10, "invalid wasm: section 1: unexpected end");
}

static void test_overlong_leb(void **state) {
	expect_error("\0asm\1\0\0\0\1\x80\x80\x80\x80\x80\x00", 15,
	             "invalid wasm: section 1: malformed LEB128 integer (longer than 5 bytes)");
}

static void test_leb_too_large(void **state) {
	expect_error("\0asm\1\0\0\0\1\x80\x80\x80\x80\x1f", 14,
	             "invalid wasm: section 1: integer too large (more than 32 bits)");
}

static void test_section_order(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_functions(&m, 1);
	add_import(&m, "wasi_snapshot_preview1", "fd_write", 0, "\x01", 1);
	expect_mod_error(&m, "invalid wasm: section 2: import section out of order");
}

static void test_duplicate_section(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_types(&m);
	expect_mod_error(&m, "invalid wasm: section 1: duplicate type section");
}

static void test_unknown_section(void **state) {
	expect_error("\0asm\1\0\0\0\x0e\x00", 10, "invalid wasm: unknown section id 14 at offset 8");
}

static void test_function_count(void **state) {
	struct strbuf b = STRBUF_INIT;
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_leb(&b, 1000);
	strbuf_add(&b, "\0\0", 2);
	add_section(&m, 3, &b);
	strbuf_release(&b);
	expect_mod_error(&m, "invalid wasm: section 3: function count exceeds section size");
}

static void test_type_index_range(void **state) {
	struct strbuf b = STRBUF_INIT;
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_leb(&b, 1);
	add_leb(&b, 7);
	add_section(&m, 3, &b);
	strbuf_release(&b);
	expect_mod_error(&m, "invalid wasm: section 3: function 0: type index 7 out of range (3 types)");
}

static void test_section_leftover(void **state) {
	struct strbuf b = STRBUF_INIT;
	struct mod m;

	mod_init(&m);
	add_leb(&b, 1);
	strbuf_add(&b, "\x60\x00\x00\x00", 4);
	add_section(&m, 1, &b);
	strbuf_release(&b);
	expect_mod_error(&m, "invalid wasm: section 1: section size mismatch (1 bytes left over)");
}

static void test_import_not_wasi(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_import(&m, "env", "foo", 0, "\x00", 1);
	expect_mod_error(&m, "invalid wasm: import 'env' 'foo' is not provided (only wasi_snapshot_preview1 imports "
	                     "are)");
}

static void test_import_memory(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_import(&m, "env", "memory", 2, "\x00\x01", 2);
	expect_mod_error(&m, "invalid wasm: import 'env' 'memory': imported memory is not supported (the module must "
	                     "define and export its own memory)");
}

static void test_import_unknown_wasi(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_import(&m, "wasi_snapshot_preview1", "fd_frobnicate", 0, "\x01", 1);
	expect_mod_error(&m, "invalid wasm: import 'wasi_snapshot_preview1' 'fd_frobnicate' is not provided (not a "
	                     "WASI preview 1 function)");
}

static void test_import_bad_name_quoted(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_import(&m, "e'n\nv", "x", 0, "\x00", 1);
	expect_mod_error(&m, "invalid wasm: import 'e\\x27n\\x0av' 'x' is not provided (only wasi_snapshot_preview1 "
	                     "imports are)");
}

static void test_import_wrong_type(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_import(&m, "wasi_snapshot_preview1", "proc_exit", 0, "\x01", 1);
	expect_mod_error(&m, "invalid wasm: import 'wasi_snapshot_preview1' 'proc_exit' has type (i32, i32, i32, "
	                     "i32) -> (i32), expected (i32) -> ()");
}

static void test_import_global(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_import(&m, "wasi_snapshot_preview1", "fd_write", 3, "\x7f\x00", 2);
	expect_mod_error(&m, "invalid wasm: import 'wasi_snapshot_preview1' 'fd_write' is a global; only functions "
	                     "are provided");
}

static void test_import_type_range(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_import(&m, "wasi_snapshot_preview1", "fd_write", 0, "\x09", 1);
	expect_mod_error(&m, "invalid wasm: section 2: import 'wasi_snapshot_preview1' 'fd_write': type index 9 out "
	                     "of range (3 types)");
}

static void test_no_memory_export(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_functions(&m, 1);
	add_memory(&m, "\x00\x01", 2);
	add_exports(&m, 0, true, false);
	add_code(&m, 1);
	expect_mod_error(&m, "invalid wasm: the module does not export its memory as 'memory'");
}

static void test_no_start(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_functions(&m, 1);
	add_memory(&m, "\x00\x01", 2);
	add_exports(&m, 0, false, true);
	add_code(&m, 1);
	expect_mod_error(&m, "invalid wasm: no '_start' export (only WASI commands are supported, not reactors or "
	                     "libraries)");
}

static void test_start_wrong_type(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_import(&m, "wasi_snapshot_preview1", "fd_write", 0, "\x01", 1);
	add_functions(&m, 1);
	add_memory(&m, "\x00\x01", 2);
	add_exports(&m, 0, true, true); /* function 0 is the fd_write import */
	add_code(&m, 1);
	expect_mod_error(&m, "invalid wasm: export '_start' must have type () -> ()");
}

static void test_memory_kinds(void **state) {
	static const struct {
		const char *limits;
		size_t n;
		const char *message;
	} cases[] = {
		{ "\x03\x01\x02", 3, "invalid wasm: section 5: shared memory (threads) is not supported" },
		{ "\x04\x01", 2, "invalid wasm: section 5: 64-bit memory (memory64) is not supported" },
		{ "\x01\x05\x02", 3, "invalid wasm: section 5: size minimum 5 must not be greater than maximum 2" },
		{ "\x00\x81\x80\x04", 4, "invalid wasm: section 5: memory size must be at most 65536 pages (4 GiB)" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct mod m;
		mod_init(&m);
		add_memory(&m, cases[i].limits, cases[i].n);
		expect_mod_error(&m, cases[i].message);
	}
}

static void test_two_memories(void **state) {
	struct strbuf b = STRBUF_INIT;
	struct mod m;

	mod_init(&m);
	add_leb(&b, 2);
	strbuf_add(&b, "\x00\x01\x00\x01", 4);
	add_section(&m, 5, &b);
	strbuf_release(&b);
	expect_mod_error(&m, "invalid wasm: section 5: 2 memories (multi-memory is not supported)");
}

static void test_code_count_mismatch(void **state) {
	struct mod m;

	mod_init(&m);
	add_types(&m);
	add_functions(&m, 2);
	add_memory(&m, "\x00\x01", 2);
	add_exports(&m, 0, true, true);
	add_code(&m, 1);
	expect_mod_error(&m, "invalid wasm: function and code section have inconsistent lengths (2 and 1)");
}

static void test_every_prefix_fails_cleanly(void **state) {
	struct mod m;

	build_valid(&m);
	for (size_t n = 0; n < m.sb.len; n++) {
		struct za_error *err = NULL;
		struct wasm_module_info info = {};
		assert_true(wasm_module_inspect(m.sb.buf, n, &info, &err) < 0);
		assert_non_null(err);
		assert_true(strneq(err->message, "invalid wasm: ", 14));
		za_error_free(err);
	}
	strbuf_release(&m.sb);
}

static void test_signatures(void **state) {
	assert_string_equal(wasm_wasi_signature("fd_write"), "iiii:i");
	assert_string_equal(wasm_wasi_signature("path_open"), "iiiiiIIii:i");
	assert_string_equal(wasm_wasi_signature("proc_exit"), "i:");
	assert_string_equal(wasm_wasi_signature("sched_yield"), ":i");
	assert_null(wasm_wasi_signature("fd_write2"));
	assert_null(wasm_wasi_signature(""));
}

static void test_read_file(void **state) {
	char path[] = "/tmp/test-wasm-module-XXXXXX";
	struct za_error *err = NULL;
	void *buf = NULL;
	size_t len = 0;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)WASM_MODULE_MAX_BYTES + 1), 0);
	close(fd);
	assert_int_equal(wasm_module_read(path, &buf, &len, &err), -EFBIG);
	assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
	assert_true(strstr(err->message, "is larger than the limit of 256 MiB") != NULL);
	err = za_error_free(err);
	assert_int_equal(truncate(path, 8), 0);
	assert_int_equal(wasm_module_read(path, &buf, &len, &err), 0);
	assert_int_equal(len, 8);
	free(buf);
	unlink(path);
	assert_int_equal(wasm_module_read(path, &buf, &len, &err), -ENOENT);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	za_error_free(err);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_valid_with_max_and_customs),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_empty_module),
		cmocka_unit_test(test_truncated_section),
		cmocka_unit_test(test_truncated_leb),
		cmocka_unit_test(test_overlong_leb),
		cmocka_unit_test(test_leb_too_large),
		cmocka_unit_test(test_section_order),
		cmocka_unit_test(test_duplicate_section),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_function_count),
		cmocka_unit_test(test_type_index_range),
		cmocka_unit_test(test_section_leftover),
		cmocka_unit_test(test_import_not_wasi),
		cmocka_unit_test(test_import_memory),
		cmocka_unit_test(test_import_unknown_wasi),
		cmocka_unit_test(test_import_bad_name_quoted),
		cmocka_unit_test(test_import_wrong_type),
		cmocka_unit_test(test_import_global),
		cmocka_unit_test(test_import_type_range),
		cmocka_unit_test(test_no_memory_export),
		cmocka_unit_test(test_no_start),
		cmocka_unit_test(test_start_wrong_type),
		cmocka_unit_test(test_memory_kinds),
		cmocka_unit_test(test_two_memories),
		cmocka_unit_test(test_code_count_mismatch),
		cmocka_unit_test(test_every_prefix_fails_cleanly),
		cmocka_unit_test(test_signatures),
		cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
