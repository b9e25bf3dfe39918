/* SPDX-License-Identifier: Apache-2.0 */
/* The cache and the tiers. wasm2c runs once per digest (its C is kept, so a
 * second tcc start skips it); tcc compiles that C in memory in a fraction
 * of cc's time; `cc -O2` runs in a detached builder and the next start
 * dlopen()s its .so. Both tiers compile the same C with the same wasm-rt
 * configuration as libwasm-rt-impl.a (signal-handler bounds checks and
 * stack exhaustion, WASM_RT_MEMCHECK_SIGNAL_HANDLER=1). Readers never
 * delete: an entry that does not match its sum is treated as missing, and
 * only a builder holding the entry's lock replaces it. */
#include "runtime/wasm/wasm-compile.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/spawn.h"
#include "basic/strbuf.h"
#include "image/digest.h"
#include "runtime/wasm/wasm-compile-internal.h"
#include "basic/banned.h"

#define SUM_MAX         256
#define TOOL_ERR_MAX    (64u << 10)
#define C_SOURCE_MAX    (4ull << 30) /* wasm2c output of a 256 MiB module stays below */
#define WASM2C_FLAGS    "--no-debug-names"
#define BUILD_RETRY_SEC 600 /* after a failed background build */

static const char *const tier_names[_WASM_TIER_MAX] = {
	[WASM_TIER_AUTO] = "auto",
	[WASM_TIER_TCC] = "tcc",
	[WASM_TIER_CACHED] = "cached",
};

const char *wasm_tier_to_string(enum wasm_tier t) {
	return t >= 0 && t < _WASM_TIER_MAX ? tier_names[t] : NULL;
}

enum wasm_tier wasm_tier_from_string(const char *s) {
	for (int i = 0; s && i < _WASM_TIER_MAX; i++)
		if (streq(s, tier_names[i]))
			return (enum wasm_tier)i;
	return _WASM_TIER_INVALID;
}

uint64_t wasm_now_ns(void) {
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void wasm_digest_hex(const void *wasm, size_t len, char *buf) {
	_cleanup_free_ char *d = digest_sha256_buf(wasm, len);

	memcpy(buf, digest_hex(d), WASM_DIGEST_HEX_LEN);
	buf[WASM_DIGEST_HEX_LEN] = '\0';
}

/* --- files: locks, sums, whole reads ------------------------------------------- */

int wasm_cache_lock(const char *path, bool wait, int *ret_fd) {
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* A whole (large) file in one allocation, NUL-terminated. */
static int read_whole(const char *path, char **ret, size_t *ret_len) {
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	if ((uint64_t)st.st_size > C_SOURCE_MAX)
		return -EFBIG;
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA; /* shrank under us */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = got;
	return 0;
}

static void sum_format(struct sha256 *h, char *out) {
	sha256_final(h, out);
	out[DIGEST_SHA256_LEN] = '\n';
	out[DIGEST_SHA256_LEN + 1] = '\0';
}

/* sha256 over the files' contents, in order, as "sha256:HEX\n". */
static int sum_files(const char *const *paths, char *out) {
	struct sha256 h;
	int r = 0;

	sha256_init(&h);
	for (; r >= 0 && *paths; paths++) {
		_cleanup_close_ int fd = open(*paths, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		char buf[1 << 16];
		ssize_t n;

		if (fd < 0) {
			r = -errno;
			break;
		}
		while ((n = read(fd, buf, sizeof(buf))) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = -errno;
				break;
			}
			sha256_update(&h, buf, (size_t)n);
		}
	}
	if (r >= 0)
		sum_format(&h, out);
	sha256_release(&h);
	return r;
}

static bool sum_matches(const char *sum_path, const char *sum) {
	char buf[SUM_MAX];
	_cleanup_close_ int fd = open(sum_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return streq(buf, sum);
}

static bool files_valid(const char *sum_path, const char *const *paths) {
	char sum[SUM_MAX];

	return sum_files(paths, sum) >= 0 && sum_matches(sum_path, sum);
}

static int fsync_path(const char *path) {
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

static char *cache_path(const char *dir, const char *hex, const char *suffix) {
	return xasprintf("%s/%s%s", dir, hex, suffix);
}

/* wasm2c derives the header guard from the file name, which must not start
 * with a digit: the C files are mHEX.c and mHEX.h. */
static char *c_path(const char *dir, const char *hex, const char *suffix) {
	return xasprintf("%s/m%s%s", dir, hex, suffix);
}

/* --- running the tools ----------------------------------------------------------- */

/* The first line of a tool's stderr that says "error", without wasm2c's
 * "FILE:OFFSET: error: " prefix; else the first non-empty line. */
char *wasm_tool_error(const char *text) {
	const char *first = NULL, *p;

	for (const char *line = text; line && *line;) {
		const char *end = strchrnul(line, '\n');
		size_t len = (size_t)(end - line);
		if (len > 0 && !first)
			first = line;
		if ((p = memmem(line, len, "error: ", 7))) {
			first = p + 7;
			break;
		}
		line = *end ? end + 1 : NULL;
	}
	if (!first || !*first)
		return xstrdup("no error message");
	return xstrndup(first, MIN((size_t)(strchrnul(first, '\n') - first), (size_t)1024));
}

/* Run argv with stdout and stderr into a memfd; *ret_err: that output when
 * the tool failed. */
int wasm_run_tool(char *const *argv, int *ret_status, char **ret_err) {
	_cleanup_close_ int out = memfd_create("wasm-tool", MFD_CLOEXEC);
	struct za_spawn_opts so = ZA_SPAWN_OPTS_INIT;
	_cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int status, r;

	if (out < 0 || null < 0)
		return -errno;
	so.stdin_fd = null;
	so.stdout_fd = out;
	so.stderr_fd = out;
	r = za_run(argv, &so, &status);
	if (r < 0)
		return r;
	if (status != 0 && ret_err) {
		size_t len;
		(void)lseek(out, 0, SEEK_SET);
		if (read_full_fd(out, TOOL_ERR_MAX, ret_err, &len) < 0)
			*ret_err = xstrdup("");
	}
	*ret_status = status;
	return 0;
}

/* --- wasm2c: mHEX.c and mHEX.h ------------------------------------------------------- */

static int translate(const char *dir, const char *hex, const void *wasm, size_t len, struct wasm_timing *t,
                     struct za_error **reterr) {
	_cleanup_free_ char *tmp = xasprintf("%s/.tmp-%s-XXXXXX", dir, hex), *in = NULL, *c = NULL, *h = NULL;
	_cleanup_free_ char *errtext = NULL, *cfin = NULL, *hfin = NULL, *sumfin = NULL;
	char sum[SUM_MAX];
	uint64_t t0 = wasm_now_ns();
	int status, r;

	if (!mkdtemp(tmp))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot create a directory in '%s': %m", dir);
	in = xasprintf("%s/module.wasm", tmp);
	c = c_path(tmp, hex, ".c");
	h = c_path(tmp, hex, ".h");
	r = write_file_atomic(in, wasm, len, 0644);
	if (r < 0) {
		za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot write '%s': %m", in);
		goto out;
	}
	char *argv[] = { "wasm2c", "-n", "m", WASM2C_FLAGS, in, "-o", c, NULL };
	r = wasm_run_tool(argv, &status, &errtext);
	if (r < 0) {
		za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot run 'wasm2c' (install wabt): %m");
		goto out;
	}
	if (status == 127) {
		r = za_error_make(reterr, ZA_ERROR_INTERNAL, ENOENT, "cannot run 'wasm2c': not found (install wabt)");
		goto out;
	}
	if (status != 0) {
		_cleanup_free_ char *msg = wasm_tool_error(errtext);
		r = za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid wasm: %s", msg);
		goto out;
	}
	t->wasm2c = wasm_now_ns() - t0;
	cfin = c_path(dir, hex, ".c");
	hfin = c_path(dir, hex, ".h");
	sumfin = c_path(dir, hex, ".c.sum");
	const char *paths[] = { c, h, NULL };
	if ((r = fsync_path(c)) < 0 || (r = fsync_path(h)) < 0 || (r = sum_files(paths, sum)) < 0 ||
	    rename(h, hfin) < 0 || rename(c, cfin) < 0 || (r = write_file_atomic(sumfin, sum, strlen(sum), 0644)) < 0) {
		r = r < 0 ? r : -errno;
		za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot store wasm2c's output in '%s': %m", dir);
	}
out:
	rm_rf(tmp);
	return r;
}

/* mHEX.c read whole and checked against mHEX.c.sum (with mHEX.h). */
static int load_c(const char *dir, const char *hex, char **ret, size_t *ret_len) {
	_cleanup_free_ char *c = c_path(dir, hex, ".c"), *h = c_path(dir, hex, ".h");
	_cleanup_free_ char *sumpath = c_path(dir, hex, ".c.sum"), *cbuf = NULL, *hbuf = NULL;
	char sum[SUM_MAX];
	struct sha256 sh;
	size_t clen = 0, hlen = 0;
	int r;

	r = read_whole(c, &cbuf, &clen);
	if (r >= 0)
		r = read_full_file(h, 1 << 24, &hbuf, &hlen);
	if (r < 0)
		return r;
	sha256_init(&sh);
	sha256_update(&sh, cbuf, clen);
	sha256_update(&sh, hbuf, hlen);
	sum_format(&sh, sum);
	sha256_release(&sh);
	if (!sum_matches(sumpath, sum))
		return -EBADMSG;
	*ret = TAKE_PTR(cbuf);
	*ret_len = clen;
	return 0;
}

/* mHEX.c/.h present and whole, wasm2c run under the lock when not; with
 * ret_c, the C read into memory. */
static int ensure_c(const char *dir, const char *hex, const void *wasm, size_t len, struct wasm_timing *t, char **ret_c,
                    size_t *ret_len, struct za_error **reterr) {
	_cleanup_free_ char *lock = cache_path(dir, hex, ".lock"), *c = c_path(dir, hex, ".c");
	_cleanup_free_ char *h = c_path(dir, hex, ".h"), *sum = c_path(dir, hex, ".c.sum");
	_cleanup_close_ int lfd = -1;
	const char *paths[] = { c, h, NULL };
	int r;

	r = wasm_cache_lock(lock, true, &lfd);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot lock '%s': %m", lock);
	if (ret_c ? load_c(dir, hex, ret_c, ret_len) >= 0 : files_valid(sum, paths))
		return 0;
	r = translate(dir, hex, wasm, len, t, reterr);
	if (r < 0 || !ret_c)
		return r;
	r = load_c(dir, hex, ret_c, ret_len);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot read back wasm2c's output '%s': %m", c);
	return 0;
}

/* --- cc: HEX.so ---------------------------------------------------------------------- */

static const char *cc_path(void) {
	const char *e = getenv("ZLAYER_WASM_CC");
	return isempty(e) ? "cc" : e;
}

int wasm_cache_build_so(const char *dir, const char *hex, bool wait, struct za_error **reterr) {
	_cleanup_free_ char *lock = cache_path(dir, hex, ".so.lock"), *so = cache_path(dir, hex, ".so");
	_cleanup_free_ char *sumso = cache_path(dir, hex, ".so.sum"), *c = c_path(dir, hex, ".c");
	_cleanup_free_ char *h = c_path(dir, hex, ".h"), *sumc = c_path(dir, hex, ".c.sum");
	_cleanup_free_ char *tmp = xasprintf("%s/.tmp-%s-XXXXXX", dir, hex), *wrap = NULL, *out = NULL;
	_cleanup_free_ char *src = NULL, *errtext = NULL;
	_cleanup_close_ int lfd = -1;
	const char *sopaths[] = { so, NULL }, *cpaths[] = { c, h, NULL };
	char sum[SUM_MAX];
	int status, r;

	r = wasm_cache_lock(lock, wait, &lfd);
	if (r == -EBUSY)
		return r;
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot lock '%s': %m", lock);
	if (files_valid(sumso, sopaths))
		return 0;
	if (!files_valid(sumc, cpaths))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, ENOENT,
		                     "no translated code for module %s in '%s' (run 'zlayer-wasm precompile')", hex,
		                     dir);
	if (!mkdtemp(tmp))
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot create a directory in '%s': %m", dir);
	wrap = xasprintf("%s/wrap.c", tmp);
	out = xasprintf("%s/%s.so", tmp, hex);
	src = wasm_trailer(c, hex);
	r = write_file_atomic(wrap, src, strlen(src), 0644);
	if (r < 0) {
		za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot write '%s': %m", wrap);
		goto out;
	}
	char *argv[] = { (char *)cc_path(), "-O2", "-fPIC", "-shared", "-w",  "-I", (char *)dir,
		         WASM_RT_CONFIG_CC, "-o",  out,     wrap,      "-lm", NULL };
	r = wasm_run_tool(argv, &status, &errtext);
	if (r >= 0 && status != 0) {
		_cleanup_free_ char *msg = wasm_tool_error(errtext);
		r = za_error_make(reterr, ZA_ERROR_INTERNAL, EIO, "cannot compile module %s with '%s': %s", hex,
		                  cc_path(), msg);
		goto out;
	}
	if (r < 0) {
		za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot run '%s': %m", cc_path());
		goto out;
	}
	sopaths[0] = out;
	if ((r = fsync_path(out)) < 0 || (r = sum_files(sopaths, sum)) < 0 ||
	    (r = write_file_atomic(sumso, sum, strlen(sum), 0644)) < 0 || rename(out, so) < 0) {
		r = r < 0 ? r : -errno;
		za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot store '%s': %m", so);
	}
out:
	rm_rf(tmp);
	/* a failed build is remembered for a while: no background retry storm
	 * of minute-long compiles; a synchronous build always tries */
	_cleanup_free_ char *failed = cache_path(dir, hex, ".so.failed");
	if (r < 0 && reterr && *reterr)
		(void)write_file_atomic(failed, (*reterr)->message, strlen((*reterr)->message), 0644);
	else if (r >= 0)
		(void)unlink(failed);
	return r;
}

/* Whether a background build failed less than BUILD_RETRY_SEC ago. */
static bool build_failed_recently(const char *dir, const char *hex) {
	_cleanup_free_ char *failed = cache_path(dir, hex, ".so.failed");
	struct stat st;

	return stat(failed, &st) == 0 && time(NULL) - st.st_mtime < BUILD_RETRY_SEC;
}

static int cache_dir_usable(const char *dir) {
	_cleanup_free_ char *probe = NULL;
	_cleanup_close_ int fd = -1;
	int r = mkdir_p(dir, 0755);

	if (r < 0)
		return r;
	probe = xasprintf("%s/.probe-XXXXXX", dir);
	fd = mkostemp(probe, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	(void)unlink(probe);
	return 0;
}

int wasm_cache_build(const char *dir, const void *wasm, size_t len, char **ret_path, struct za_error **reterr) {
	struct wasm_timing t = {};
	char hex[WASM_DIGEST_HEX_LEN + 1];
	int r;

	r = cache_dir_usable(dir);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot use the cache directory '%s': %m", dir);
	wasm_digest_hex(wasm, len, hex);
	r = ensure_c(dir, hex, wasm, len, &t, NULL, NULL, reterr);
	if (r >= 0)
		r = wasm_cache_build_so(dir, hex, true, reterr);
	if (r < 0)
		return r;
	*ret_path = cache_path(dir, hex, ".so");
	return 0;
}

int wasm_cache_spawn_build(const char *self, const char *dir, const char *hex, pid_t *ret_pid) {
	struct za_spawn_opts so = ZA_SPAWN_OPTS_INIT;
	_cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	char *argv[] = { (char *)self, "build-cache", "--cache-dir", (char *)dir, (char *)hex, NULL };

	if (null < 0)
		return -errno;
	so.stdin_fd = so.stdout_fd = so.stderr_fd = null;
	so.new_session = true;
	so.search_path = false;
	so.cwd = "/";
	return za_spawn(argv, &so, ret_pid);
}

/* --- loading ------------------------------------------------------------------------- */

static int resolve(struct wasm_code *code, void *(*sym)(void *, const char *), void *handle) {
	const size_t *size = sym(handle, "zw_instance_size");

	code->init_module = (void (*)(void))sym(handle, "Z_m_init_module");
	code->instantiate = (void (*)(void *, wasi_ctx *))sym(handle, "Z_m_instantiate");
	code->free_instance = (void (*)(void *))sym(handle, "Z_m_free");
	code->memory = (wasm_rt_memory_t * (*)(void *)) sym(handle, "Z_mZ_memory");
	code->start = (void (*)(void *))sym(handle, "Z_mZ__start");
	if (!size || !code->init_module || !code->instantiate || !code->free_instance || !code->memory || !code->start)
		return -ENOENT;
	code->instance_size = *size;
	return 0;
}

static void *dl_sym(void *h, const char *name) {
	return dlsym(h, name);
}

/* The cached .so when its sum matches and it is this module's. */
static int load_so(struct wasm_code *code) {
	_cleanup_free_ char *so = cache_path(code->cache_dir, code->hex, ".so");
	_cleanup_free_ char *sum = cache_path(code->cache_dir, code->hex, ".so.sum");
	const char *paths[] = { so, NULL };
	uint64_t t0 = wasm_now_ns();
	const char *digest;
	void *dl;

	if (!files_valid(sum, paths))
		return -ENOENT;
	dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		log_debug("cannot dlopen '%s': %s", so, dlerror());
		return -ENOEXEC;
	}
	digest = dlsym(dl, "zw_module_digest");
	if (!digest || !streq(digest, code->hex) || resolve(code, dl_sym, dl) < 0) {
		log_debug("'%s' is not module %s's code", so, code->hex);
		dlclose(dl);
		return -ENOEXEC;
	}
	code->dl = dl;
	code->tier = WASM_TIER_CACHED;
	code->timing.dlopen = wasm_now_ns() - t0;
	return 0;
}

static int load_tcc(struct wasm_code *code, const char *dir, char *c, size_t clen, struct za_error **reterr) {
	int r = wasm_tcc_compile(code, dir, c, clen, reterr);

	if (r < 0)
		return r;
	return resolve(code, wasm_tcc_symbol, code->tcc) < 0
	               ? za_error_make(reterr, ZA_ERROR_INTERNAL, ENOENT,
	                               "tcc output of module %s lacks an entry point", code->hex)
	               : 0;
}

int wasm_code_load(const void *wasm, size_t len, const struct wasm_load_options *o, struct wasm_code **ret,
                   struct za_error **reterr) {
	_cleanup_(wasm_code_freep) struct wasm_code *code = xnew(struct wasm_code, 1);
	_cleanup_free_ char *tmpdir = NULL, *c = NULL;
	const char *dir = o && o->cache_dir ? o->cache_dir : WASM_CACHE_DIR_DEFAULT;
	enum wasm_tier tier = o ? o->tier : WASM_TIER_AUTO;
	uint64_t t0 = wasm_now_ns();
	size_t clen = 0;
	int r;

	wasm_digest_hex(wasm, len, code->hex);
	code->timing.hash = wasm_now_ns() - t0;
	r = cache_dir_usable(dir);
	if (r < 0 && tier == WASM_TIER_CACHED)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r,
		                     "cannot use the cache directory '%s': %m; the cached tier needs it", dir);
	if (r < 0) {
		const char *t = getenv("TMPDIR");
		log_debug("cache directory '%s' unusable (%s); compiling in a temporary directory", dir, strerror(-r));
		tmpdir = xasprintf("%s/zlayer-wasm-XXXXXX", isempty(t) ? "/tmp" : t);
		if (!mkdtemp(tmpdir))
			return za_error_make(reterr, ZA_ERROR_INTERNAL, errno,
			                     "cannot create a temporary directory: %m");
	} else
		code->cache_dir = xstrdup(dir);

	if (code->cache_dir && tier != WASM_TIER_TCC && load_so(code) >= 0) {
		*ret = TAKE_PTR(code);
		return 0;
	}
	r = ensure_c(tmpdir ? tmpdir : dir, code->hex, wasm, len, &code->timing, tier == WASM_TIER_CACHED ? NULL : &c,
	             &clen, reterr);
	if (r >= 0 && tier == WASM_TIER_CACHED) {
		t0 = wasm_now_ns();
		r = wasm_cache_build_so(dir, code->hex, true, reterr);
		code->timing.cc = wasm_now_ns() - t0;
		if (r >= 0 && load_so(code) < 0)
			r = za_error_make(reterr, ZA_ERROR_INTERNAL, ENOEXEC,
			                  "cannot load the compiled module '%s/%s.so'", dir, code->hex);
	} else if (r >= 0) {
		r = load_tcc(code, tmpdir ? tmpdir : dir, c, clen, reterr);
		code->want_build =
		        r >= 0 && tier == WASM_TIER_AUTO && code->cache_dir && !build_failed_recently(dir, code->hex);
	}
	if (tmpdir)
		rm_rf(tmpdir);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(code);
	return 0;
}

struct wasm_code *wasm_code_free(struct wasm_code *c) {
	if (!c)
		return NULL;
	if (c->dl)
		dlclose(c->dl);
	wasm_tcc_free(c->tcc);
	free(c->cache_dir);
	free(c);
	return NULL;
}
