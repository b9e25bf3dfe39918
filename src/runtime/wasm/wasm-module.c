/* SPDX-License-Identifier: Apache-2.0 */
/* A single forward walk over the binary with a bounded cursor: every LEB128
 * is at most 5 bytes with no stray high bits, every vector count is checked
 * against the bytes left before anything is allocated for it, and the
 * section order is the spec's (custom sections anywhere). */
#include "runtime/wasm/wasm-module.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

enum {
	SEC_CUSTOM = 0,
	SEC_TYPE = 1,
	SEC_IMPORT = 2,
	SEC_FUNCTION = 3,
	SEC_TABLE = 4,
	SEC_MEMORY = 5,
	SEC_GLOBAL = 6,
	SEC_EXPORT = 7,
	SEC_START = 8,
	SEC_ELEMENT = 9,
	SEC_CODE = 10,
	SEC_DATA = 11,
	SEC_DATACOUNT = 12,
	SEC_TAG = 13,
};

/* Position of each known section id in the required order. */
static const uint8_t section_rank[] = {
	[SEC_TYPE] = 1,       [SEC_IMPORT] = 2, [SEC_FUNCTION] = 3, [SEC_TABLE] = 4, [SEC_MEMORY] = 5,
	[SEC_TAG] = 6,        [SEC_GLOBAL] = 7, [SEC_EXPORT] = 8,   [SEC_START] = 9, [SEC_ELEMENT] = 10,
	[SEC_DATACOUNT] = 11, [SEC_CODE] = 12,  [SEC_DATA] = 13,
};

static const char *const section_names[] = {
	"custom", "type",  "import",  "function", "table", "memory",    "global",
	"export", "start", "element", "code",     "data",  "datacount", "tag",
};

static const struct {
	const char *name, *sig;
} wasi_functions[] = {
	{ "args_get", "ii:i" },
	{ "args_sizes_get", "ii:i" },
	{ "clock_res_get", "ii:i" },
	{ "clock_time_get", "iIi:i" },
	{ "environ_get", "ii:i" },
	{ "environ_sizes_get", "ii:i" },
	{ "fd_advise", "iIIi:i" },
	{ "fd_allocate", "iII:i" },
	{ "fd_close", "i:i" },
	{ "fd_datasync", "i:i" },
	{ "fd_fdstat_get", "ii:i" },
	{ "fd_fdstat_set_flags", "ii:i" },
	{ "fd_fdstat_set_rights", "iII:i" },
	{ "fd_filestat_get", "ii:i" },
	{ "fd_filestat_set_size", "iI:i" },
	{ "fd_filestat_set_times", "iIIi:i" },
	{ "fd_pread", "iiiIi:i" },
	{ "fd_prestat_dir_name", "iii:i" },
	{ "fd_prestat_get", "ii:i" },
	{ "fd_pwrite", "iiiIi:i" },
	{ "fd_read", "iiii:i" },
	{ "fd_readdir", "iiiIi:i" },
	{ "fd_renumber", "ii:i" },
	{ "fd_seek", "iIii:i" },
	{ "fd_sync", "i:i" },
	{ "fd_tell", "ii:i" },
	{ "fd_write", "iiii:i" },
	{ "path_create_directory", "iii:i" },
	{ "path_filestat_get", "iiiii:i" },
	{ "path_filestat_set_times", "iiiiIIi:i" },
	{ "path_link", "iiiiiii:i" },
	{ "path_open", "iiiiiIIii:i" },
	{ "path_readlink", "iiiiii:i" },
	{ "path_remove_directory", "iii:i" },
	{ "path_rename", "iiiiii:i" },
	{ "path_symlink", "iiiii:i" },
	{ "path_unlink_file", "iii:i" },
	{ "poll_oneoff", "iiii:i" },
	{ "proc_exit", "i:" },
	{ "proc_raise", "i:i" },
	{ "random_get", "ii:i" },
	{ "sched_yield", ":i" },
	{ "sock_accept", "iii:i" },
	{ "sock_recv", "iiiiii:i" },
	{ "sock_send", "iiiii:i" },
	{ "sock_shutdown", "ii:i" },
};

const char *wasm_wasi_signature(const char *name) {
	for (size_t i = 0; i < ELEMENTSOF(wasi_functions); i++)
		if (streq(wasi_functions[i].name, name))
			return wasi_functions[i].sig;
	return NULL;
}

struct cursor {
	const uint8_t *p, *end;
	int section; /* id of the section being read, -1 outside */
};

struct parse {
	struct wasm_module_info info;
	char **types;         /* n_types signatures, "params:results" */
	uint32_t *func_types; /* type index of every function, imports first */
	uint32_t n_func_types, n_imported_funcs;
	uint32_t n_memories, n_code;
	bool start_export, memory_export;
};

static _printf_(3, 4) int fail(const struct cursor *c, struct za_error **reterr, const char *fmt, ...) {
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (c && c->section >= 0)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid wasm: section %d: %s", c->section,
		                     msg);
	return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid wasm: %s", msg);
}

static size_t left(const struct cursor *c) {
	return (size_t)(c->end - c->p);
}

static int read_u8(struct cursor *c, uint8_t *ret, struct za_error **reterr) {
	if (c->p >= c->end)
		return fail(c, reterr, "unexpected end");
	*ret = *c->p++;
	return 0;
}

static int read_u32(struct cursor *c, uint32_t *ret, struct za_error **reterr) {
	uint32_t v = 0;

	for (unsigned i = 0; i < 5; i++) {
		uint8_t b;
		if (c->p >= c->end)
			return fail(c, reterr, "unexpected end");
		b = *c->p++;
		if (i == 4 && (b & 0x80))
			return fail(c, reterr, "malformed LEB128 integer (longer than 5 bytes)");
		if (i == 4 && (b & 0x70))
			return fail(c, reterr, "integer too large (more than 32 bits)");
		v |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return fail(c, reterr, "malformed LEB128 integer");
}

/* A vector count, with each element taking at least min_size bytes. */
static int read_count(struct cursor *c, const char *what, size_t min_size, uint32_t *ret, struct za_error **reterr) {
	uint32_t n = 0;
	int r = read_u32(c, &n, reterr);

	if (r < 0)
		return r;
	if ((uint64_t)n * min_size > left(c))
		return fail(c, reterr, "%s count exceeds section size", what);
	*ret = n;
	return 0;
}

/* A name for messages: printable ASCII kept, the rest as \xNN, capped. */
static char *quote_name(const uint8_t *s, size_t n) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < n && sb.len < 64; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' && s[i] != '\'')
			strbuf_addch(&sb, (char)s[i]);
		else
			strbuf_addf(&sb, "\\x%02x", s[i]);
	}
	if (sb.len >= 64)
		strbuf_addstr(&sb, "...");
	return strbuf_detach(&sb, NULL);
}

static int read_name(struct cursor *c, const uint8_t **ret, uint32_t *ret_len, struct za_error **reterr) {
	uint32_t n = 0;
	int r = read_u32(c, &n, reterr);

	if (r < 0)
		return r;
	if (n > left(c))
		return fail(c, reterr, "name length %u exceeds section size", n);
	*ret = c->p;
	*ret_len = n;
	c->p += n;
	return 0;
}

static bool name_is(const uint8_t *s, uint32_t n, const char *want) {
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

static int read_valtype(struct cursor *c, char *ret, struct za_error **reterr) {
	uint8_t t = 0;
	int r = read_u8(c, &t, reterr);

	if (r < 0)
		return r;
	switch (t) {
	case 0x7f:
		*ret = 'i';
		return 0;
	case 0x7e:
		*ret = 'I';
		return 0;
	case 0x7d:
		*ret = 'f';
		return 0;
	case 0x7c:
		*ret = 'F';
		return 0;
	case 0x7b:
		*ret = 'v';
		return 0;
	case 0x70:
		*ret = 'r';
		return 0;
	case 0x6f:
		*ret = 'x';
		return 0;
	}
	return fail(c, reterr, "invalid value type 0x%02x", t);
}

static int read_limits(struct cursor *c, bool memory, uint32_t *ret_min, uint32_t *ret_max, bool *ret_has_max,
                       struct za_error **reterr) {
	uint8_t flags = 0;
	uint32_t min, max = 0;
	int r = read_u8(c, &flags, reterr);

	if (r < 0)
		return r;
	if (memory && (flags & 4))
		return fail(c, reterr, "64-bit memory (memory64) is not supported");
	if (memory && (flags & 2))
		return fail(c, reterr, "shared memory (threads) is not supported");
	if (flags > 1)
		return fail(c, reterr, "invalid limits flags 0x%02x", flags);
	r = read_u32(c, &min, reterr);
	if (r >= 0 && flags == 1)
		r = read_u32(c, &max, reterr);
	if (r < 0)
		return r;
	if (memory && (min > WASM_MAX_PAGES || (flags == 1 && max > WASM_MAX_PAGES)))
		return fail(c, reterr, "memory size must be at most %u pages (4 GiB)", WASM_MAX_PAGES);
	if (flags == 1 && max < min)
		return fail(c, reterr, "size minimum %u must not be greater than maximum %u", min, max);
	*ret_min = min;
	*ret_max = flags == 1 ? max : (memory ? WASM_MAX_PAGES : UINT32_MAX);
	*ret_has_max = flags == 1;
	return 0;
}

static int parse_types(struct cursor *c, struct parse *ps, struct za_error **reterr) {
	uint32_t n = 0;
	int r = read_count(c, "type", 3, &n, reterr);

	if (r < 0)
		return r;
	ps->types = xnew(char *, (size_t)n + 1);
	ps->info.n_types = n;
	for (uint32_t i = 0; i < n; i++) {
		_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
		uint32_t np = 0, nr = 0;
		uint8_t form = 0;
		char t = 0;

		if ((r = read_u8(c, &form, reterr)) < 0)
			return r;
		if (form != 0x60)
			return fail(c, reterr, "type %u: invalid function type form 0x%02x", i, form);
		if ((r = read_count(c, "parameter", 1, &np, reterr)) < 0)
			return r;
		for (uint32_t k = 0; k < np; k++) {
			if ((r = read_valtype(c, &t, reterr)) < 0)
				return r;
			strbuf_addch(&sb, t);
		}
		strbuf_addch(&sb, ':');
		if ((r = read_count(c, "result", 1, &nr, reterr)) < 0)
			return r;
		for (uint32_t k = 0; k < nr; k++) {
			if ((r = read_valtype(c, &t, reterr)) < 0)
				return r;
			strbuf_addch(&sb, t);
		}
		ps->types[i] = strbuf_detach(&sb, NULL);
	}
	return 0;
}

/* "(i32, i64) -> i32" from "iI:i". */
static char *format_sig(const char *sig) {
	static const struct {
		char c;
		const char *name;
	} names[] = { { 'i', "i32" },  { 'I', "i64" },     { 'f', "f32" },      { 'F', "f64" },
		      { 'v', "v128" }, { 'r', "funcref" }, { 'x', "externref" } };
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	bool first = true;

	strbuf_addch(&sb, '(');
	for (const char *p = sig; *p; p++) {
		if (*p == ':') {
			strbuf_addstr(&sb, ") -> (");
			first = true;
			continue;
		}
		for (size_t i = 0; i < ELEMENTSOF(names); i++)
			if (names[i].c == *p)
				strbuf_addf(&sb, "%s%s", first ? "" : ", ", names[i].name);
		first = false;
	}
	strbuf_addch(&sb, ')');
	return strbuf_detach(&sb, NULL);
}

static void push_func_type(struct parse *ps, uint32_t type, size_t *alloc) {
	GROW(ps->func_types, *alloc, (size_t)ps->n_func_types + 1);
	ps->func_types[ps->n_func_types++] = type;
}

static int parse_import(struct cursor *c, struct parse *ps, size_t *alloc, struct za_error **reterr) {
	static const char *const kinds[] = { "function", "table", "memory", "global", "tag" };
	_cleanup_free_ char *qm = NULL, *qn = NULL;
	const uint8_t *mod, *name;
	uint32_t mlen = 0, nlen = 0, idx = 0;
	uint8_t kind = 0;
	int r;

	if ((r = read_name(c, &mod, &mlen, reterr)) < 0 || (r = read_name(c, &name, &nlen, reterr)) < 0 ||
	    (r = read_u8(c, &kind, reterr)) < 0)
		return r;
	qm = quote_name(mod, mlen);
	qn = quote_name(name, nlen);
	if (kind == 2)
		return fail(NULL, reterr,
		            "import '%s' '%s': imported memory is not supported (the module must define and export "
		            "its own memory)",
		            qm, qn);
	if (!name_is(mod, mlen, WASI_MODULE_NAME))
		return fail(NULL, reterr, "import '%s' '%s' is not provided (only %s imports are)", qm, qn,
		            WASI_MODULE_NAME);
	if (kind != 0)
		return fail(NULL, reterr, "import '%s' '%s' is a %s; only functions are provided", qm, qn,
		            kind < ELEMENTSOF(kinds) ? kinds[kind] : "unknown kind");
	if ((r = read_u32(c, &idx, reterr)) < 0)
		return r;

	_cleanup_free_ char *field = xstrndup((const char *)name, nlen);
	const char *want = memchr(name, 0, nlen) ? NULL : wasm_wasi_signature(field);
	if (!want)
		return fail(NULL, reterr, "import '%s' '%s' is not provided (not a WASI preview 1 function)", qm, qn);
	if (idx >= ps->info.n_types)
		return fail(c, reterr, "import '%s' '%s': type index %u out of range (%u types)", qm, qn, idx,
		            ps->info.n_types);
	if (!streq(ps->types[idx], want)) {
		_cleanup_free_ char *got = format_sig(ps->types[idx]), *exp = format_sig(want);
		return fail(NULL, reterr, "import '%s' '%s' has type %s, expected %s", qm, qn, got, exp);
	}
	push_func_type(ps, idx, alloc);
	ps->n_imported_funcs++;
	strv_push(&ps->info.wasi_imports, field);
	ps->info.n_wasi_imports++;
	return 0;
}

static int parse_imports(struct cursor *c, struct parse *ps, size_t *alloc, struct za_error **reterr) {
	uint32_t n = 0;
	int r = read_count(c, "import", 4, &n, reterr);

	for (uint32_t i = 0; r >= 0 && i < n; i++)
		r = parse_import(c, ps, alloc, reterr);
	return r;
}

static int parse_functions(struct cursor *c, struct parse *ps, size_t *alloc, struct za_error **reterr) {
	uint32_t n = 0, idx = 0;
	int r = read_count(c, "function", 1, &n, reterr);

	if (r < 0)
		return r;
	ps->info.n_funcs = n;
	for (uint32_t i = 0; i < n; i++) {
		if ((r = read_u32(c, &idx, reterr)) < 0)
			return r;
		if (idx >= ps->info.n_types)
			return fail(c, reterr, "function %u: type index %u out of range (%u types)", i, idx,
			            ps->info.n_types);
		push_func_type(ps, idx, alloc);
	}
	return 0;
}

static int parse_memories(struct cursor *c, struct parse *ps, struct za_error **reterr) {
	uint32_t n = 0;
	int r = read_count(c, "memory", 2, &n, reterr);

	if (r < 0)
		return r;
	if (n > 1)
		return fail(c, reterr, "%u memories (multi-memory is not supported)", n);
	ps->n_memories = n;
	if (n == 1)
		r = read_limits(c, true, &ps->info.mem_min_pages, &ps->info.mem_max_pages, &ps->info.mem_has_max,
		                reterr);
	return r;
}

static int parse_tables(struct cursor *c, struct za_error **reterr) {
	uint32_t n = 0, lo, hi;
	bool has_max;
	char t = 0;
	int r = read_count(c, "table", 3, &n, reterr);

	for (uint32_t i = 0; r >= 0 && i < n; i++) {
		r = read_valtype(c, &t, reterr);
		if (r >= 0 && t != 'r' && t != 'x')
			return fail(c, reterr, "table %u: element type is not a reference type", i);
		if (r >= 0)
			r = read_limits(c, false, &lo, &hi, &has_max, reterr);
	}
	return r;
}

static int parse_exports(struct cursor *c, struct parse *ps, struct za_error **reterr) {
	uint32_t n = 0, idx = 0, nlen = 0;
	const uint8_t *name;
	uint8_t kind = 0;
	int r = read_count(c, "export", 3, &n, reterr);

	for (uint32_t i = 0; r >= 0 && i < n; i++) {
		if ((r = read_name(c, &name, &nlen, reterr)) < 0 || (r = read_u8(c, &kind, reterr)) < 0 ||
		    (r = read_u32(c, &idx, reterr)) < 0)
			return r;
		if (kind > 4)
			return fail(c, reterr, "export %u: invalid kind 0x%02x", i, kind);
		if (name_is(name, nlen, "_start")) {
			if (kind != 0)
				return fail(NULL, reterr, "export '_start' is not a function");
			if (idx >= ps->n_func_types)
				return fail(c, reterr, "export '_start': function index %u out of range", idx);
			if (!streq(ps->types[ps->func_types[idx]], ":"))
				return fail(NULL, reterr, "export '_start' must have type () -> ()");
			ps->start_export = true;
		} else if (name_is(name, nlen, "memory")) {
			if (kind != 2)
				return fail(NULL, reterr, "export 'memory' is not a memory");
			if (idx >= ps->n_memories)
				return fail(c, reterr, "export 'memory': memory index %u out of range", idx);
			ps->memory_export = true;
		}
	}
	return r;
}

static int parse_custom(struct cursor *c, struct za_error **reterr) {
	const uint8_t *name;
	uint32_t nlen;

	return read_name(c, &name, &nlen, reterr);
}

static int parse_code(struct cursor *c, struct parse *ps, struct za_error **reterr) {
	ps->info.code_bytes = left(c);
	return read_count(c, "code", 1, &ps->n_code, reterr);
}

static bool fully_parsed(uint8_t id) {
	return id == SEC_TYPE || id == SEC_IMPORT || id == SEC_FUNCTION || id == SEC_TABLE || id == SEC_MEMORY ||
	       id == SEC_EXPORT;
}

static int parse_section(struct cursor *c, uint8_t id, struct parse *ps, size_t *alloc, struct za_error **reterr) {
	switch (id) {
	case SEC_CUSTOM:
		return parse_custom(c, reterr);
	case SEC_TYPE:
		return parse_types(c, ps, reterr);
	case SEC_IMPORT:
		return parse_imports(c, ps, alloc, reterr);
	case SEC_FUNCTION:
		return parse_functions(c, ps, alloc, reterr);
	case SEC_TABLE:
		return parse_tables(c, reterr);
	case SEC_MEMORY:
		return parse_memories(c, ps, reterr);
	case SEC_EXPORT:
		return parse_exports(c, ps, reterr);
	case SEC_CODE:
		return parse_code(c, ps, reterr);
	}
	return 0; /* the rest is wasm2c's to check */
}

static int check_header(const uint8_t *b, size_t len, struct za_error **reterr) {
	static const uint8_t magic[4] = { 0x00, 'a', 's', 'm' };
	uint32_t version;

	if (len < 4 || memcmp(b, magic, 4) != 0)
		return fail(NULL, reterr, "not a WebAssembly module (bad magic)");
	if (len < 8)
		return fail(NULL, reterr, "truncated header (%zu bytes)", len);
	version = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
	if ((version & 0xffff) != 1 && (version >> 16) == 1)
		return fail(NULL, reterr, "a WebAssembly component, not a core module (components are not supported)");
	if (version != 1)
		return fail(NULL, reterr, "unsupported binary format version %u (only version 1 is)", version);
	return 0;
}

static int check_module(struct parse *ps, struct za_error **reterr) {
	if (ps->info.n_funcs != ps->n_code)
		return fail(NULL, reterr, "function and code section have inconsistent lengths (%u and %u)",
		            ps->info.n_funcs, ps->n_code);
	if (ps->n_memories == 0)
		return fail(NULL, reterr,
		            "the module has no memory (a WASI command defines one and exports it "
		            "as 'memory')");
	if (!ps->memory_export)
		return fail(NULL, reterr, "the module does not export its memory as 'memory'");
	if (!ps->start_export)
		return fail(NULL, reterr,
		            "no '_start' export (only WASI commands are supported, not reactors or "
		            "libraries)");
	return 0;
}

int wasm_module_inspect(const void *buf, size_t len, struct wasm_module_info *ret, struct za_error **reterr) {
	struct parse ps = {};
	struct cursor top = { .p = buf, .end = (const uint8_t *)buf + len, .section = -1 };
	size_t alloc = 0;
	unsigned last_rank = 0;
	int r;

	if (len > WASM_MODULE_MAX_BYTES)
		return fail(NULL, reterr, "module of %zu bytes is larger than the limit of %u MiB", len,
		            WASM_MODULE_MAX_BYTES >> 20);
	r = check_header(buf, len, reterr);
	if (r < 0)
		return r;
	top.p += 8;
	while (r >= 0 && top.p < top.end) {
		struct cursor c = top;
		uint8_t id = *top.p++;
		uint32_t size = 0;

		c.section = id;
		if (id >= ELEMENTSOF(section_names)) {
			r = fail(NULL, reterr, "unknown section id %u at offset %zu", id,
			         (size_t)(top.p - 1 - (const uint8_t *)buf));
			break;
		}
		c.p = top.p;
		if ((r = read_u32(&c, &size, reterr)) < 0)
			break;
		if (size > left(&c)) {
			r = fail(&c, reterr, "size %u exceeds the module (%zu bytes left)", size, left(&c));
			break;
		}
		if (id != SEC_CUSTOM) {
			if (section_rank[id] == last_rank) {
				r = fail(&c, reterr, "duplicate %s section", section_names[id]);
				break;
			}
			if (section_rank[id] < last_rank) {
				r = fail(&c, reterr, "%s section out of order", section_names[id]);
				break;
			}
			last_rank = section_rank[id];
		}
		top.p = c.p + size;
		c.end = top.p;
		r = parse_section(&c, id, &ps, &alloc, reterr);
		if (r >= 0 && fully_parsed(id) && c.p != c.end)
			r = fail(&c, reterr, "section size mismatch (%zu bytes left over)", left(&c));
	}
	if (r >= 0)
		r = check_module(&ps, reterr);
	strv_free(ps.types);
	free(ps.func_types);
	if (r < 0) {
		wasm_module_info_release(&ps.info);
		return r;
	}
	*ret = ps.info;
	return 0;
}

void wasm_module_info_release(struct wasm_module_info *info) {
	if (!info)
		return;
	info->wasi_imports = strv_free(info->wasi_imports);
	info->n_wasi_imports = 0;
}

int wasm_module_read(const char *path, void **ret_buf, size_t *ret_len, struct za_error **reterr) {
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = read_full_file(path, WASM_MODULE_MAX_BYTES, &buf, &len);
	if (r == -EFBIG)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EFBIG,
		                     "invalid wasm: module '%s' is larger than the limit of %u MiB", path,
		                     WASM_MODULE_MAX_BYTES >> 20);
	if (r < 0)
		return za_error_make(reterr, r == -ENOENT ? ZA_ERROR_NOT_FOUND : ZA_ERROR_CONFIGURATION, r,
		                     "cannot read the module '%s': %m", path);
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}
