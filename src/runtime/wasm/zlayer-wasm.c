/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-wasm: runs WebAssembly (WASI preview 1) commands, directly
 * (`run MODULE.wasm ARGS`) or as an OCI runtime that zlayer-shim calls
 * instead of runc (see wasm-oci.h). Exit statuses of `run`: the guest's
 * proc_exit code (0 when _start returns), 134 after a trap, 124 after
 * --timeout, 125 when zlayer-wasm failed before the guest ran.
 * `build-cache --cache-dir DIR HEX` is internal: the detached background
 * build of a cached module (see wasm_cache_spawn_build()). */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/spawn.h"
#include "runtime/wasm/wasm-compile.h"
#include "runtime/wasm/wasm-instance.h"
#include "runtime/wasm/wasm-module.h"
#include "runtime/wasm/wasm-oci.h"
#include "basic/banned.h"

#define EXIT_RUNNER 125

static const char usage[] =
        "usage: zlayer-wasm run [--env K=V]... [--dir HOST[:GUEST]]... [--cache-dir DIR] [--tier auto|tcc|cached]\n"
        "                       [--max-memory BYTES] [--timeout DURATION] [--trap-file PATH] MODULE.wasm [ARGS...]\n"
        "       zlayer-wasm precompile [--cache-dir DIR] MODULE.wasm\n"
        "       zlayer-wasm [--root DIR] [--systemd-cgroup] create --bundle DIR --pid-file PATH\n"
        "                   [--console-socket PATH] ID\n"
        "       zlayer-wasm [--root DIR] run --detach --bundle DIR --pid-file PATH ID\n"
        "       zlayer-wasm [--root DIR] start|state|delete [--force]|events --stats ID\n"
        "       zlayer-wasm [--root DIR] kill ID [SIGNAL]\n"
        "The cache directory defaults to $" WASM_CACHE_DIR_ENV " or " WASM_CACHE_DIR_DEFAULT ".\n";

static void fail(const struct za_error *e) {
	fprintf(stderr, "zlayer-wasm: error: %s\n", e && e->message ? e->message : "unknown error");
}

/* "--name value" or "--name=value" at argv[*i]; advances *i. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **ret) {
	size_t n = strlen(name);

	if (!strneq(argv[*i], name, n))
		return 0;
	if (argv[*i][n] == '=') {
		*ret = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "zlayer-wasm: error: option '%s' needs a value\n", name);
		return -EINVAL;
	}
	*ret = argv[++*i];
	return 1;
}

static const char *cache_dir_default(const char *flag) {
	const char *e = getenv(WASM_CACHE_DIR_ENV);

	if (flag)
		return flag;
	return isempty(e) ? WASM_CACHE_DIR_DEFAULT : e;
}

static char *self_exe(void) {
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

static void *reap(void *p) {
	(void)za_wait((pid_t)(intptr_t)p, NULL);
	return NULL;
}

/* Start the background cc build; a thread reaps it if it ends before us. */
static void start_build(const struct wasm_code *code) {
	_cleanup_free_ char *self = self_exe();
	pthread_t t;
	pid_t pid;

	if (!self || wasm_cache_spawn_build(self, code->cache_dir, code->hex, &pid) < 0) {
		log_debug("cannot start the background build of module %s", code->hex);
		return;
	}
	if (pthread_create(&t, NULL, reap, (void *)(intptr_t)pid) == 0)
		pthread_detach(t);
}

static void print_timing(const struct wasm_code *c, uint64_t instantiate, uint64_t total) {
	const struct wasm_timing *t = &c->timing;

	fprintf(stderr,
	        "zlayer-wasm: timing: tier=%s hash=%.2fms wasm2c=%.2fms tcc_compile=%.2fms tcc_relocate=%.2fms "
	        "cc=%.2fms dlopen=%.2fms instantiate=%.2fms total=%.2fms\n",
	        wasm_tier_to_string(c->tier), t->hash / 1e6, t->wasm2c / 1e6, t->tcc_compile / 1e6,
	        t->tcc_relocate / 1e6, t->cc / 1e6, t->dlopen / 1e6, instantiate / 1e6, total / 1e6);
}

struct run_args {
	char **env;
	struct wasi_preopen *preopens;
	size_t n_preopens;
	const char *cache_dir, *trap_file;
	enum wasm_tier tier;
	uint64_t max_memory, timeout_ns;
};

static int add_dir(struct run_args *a, const char *spec) {
	const char *sep = strstr(spec, "::");
	size_t hlen = sep ? (size_t)(sep - spec) : strcspn(spec, ":");
	const char *guest = sep ? sep + 2 : (spec[hlen] ? spec + hlen + 1 : spec);

	if (hlen == 0 || isempty(guest)) {
		fprintf(stderr, "zlayer-wasm: error: invalid --dir '%s' (expected HOST or HOST:GUEST)\n", spec);
		return -EINVAL;
	}
	a->preopens = xrealloc(a->preopens, (a->n_preopens + 1) * sizeof(*a->preopens));
	a->preopens[a->n_preopens++] =
	        (struct wasi_preopen){ .host_path = xstrndup(spec, hlen), .guest_path = xstrdup(guest) };
	return 0;
}

static int parse_run(int argc, char **argv, struct run_args *a, int *ret_first) {
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *v = NULL;
		int r;

		if (streq(argv[i], "--")) {
			i++;
			break;
		}
		if ((r = take_value(argc, argv, &i, "--env", &v)) != 0) {
			if (r < 0)
				return r;
			if (!strchr(v, '=')) {
				fprintf(stderr, "zlayer-wasm: error: invalid --env '%s' (expected K=V)\n", v);
				return -EINVAL;
			}
			strv_push(&a->env, v);
		} else if ((r = take_value(argc, argv, &i, "--dir", &v)) != 0) {
			if (r < 0 || (r = add_dir(a, v)) < 0)
				return r;
		} else if ((r = take_value(argc, argv, &i, "--cache-dir", &a->cache_dir)) != 0) {
			if (r < 0)
				return r;
		} else if ((r = take_value(argc, argv, &i, "--trap-file", &a->trap_file)) != 0) {
			if (r < 0)
				return r;
		} else if ((r = take_value(argc, argv, &i, "--tier", &v)) != 0) {
			if (r < 0)
				return r;
			a->tier = wasm_tier_from_string(v);
			if (a->tier < 0) {
				fprintf(stderr,
				        "zlayer-wasm: error: invalid --tier '%s' (expected auto, tcc or cached)\n", v);
				return -EINVAL;
			}
		} else if ((r = take_value(argc, argv, &i, "--max-memory", &v)) != 0) {
			if (r < 0)
				return r;
			if (parse_size(v, &a->max_memory) < 0 || a->max_memory < WASM_PAGE_SIZE) {
				fprintf(stderr,
				        "zlayer-wasm: error: invalid --max-memory '%s' (expected bytes, at least "
				        "64Ki)\n",
				        v);
				return -EINVAL;
			}
		} else if ((r = take_value(argc, argv, &i, "--timeout", &v)) != 0) {
			if (r < 0)
				return r;
			if (parse_duration(v, &a->timeout_ns) < 0 || a->timeout_ns == 0) {
				fprintf(stderr,
				        "zlayer-wasm: error: invalid --timeout '%s' (expected a duration like 5s)\n",
				        v);
				return -EINVAL;
			}
		} else {
			fprintf(stderr, "zlayer-wasm: error: unknown option '%s'\n%s", argv[i], usage);
			return -EINVAL;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "zlayer-wasm: error: no module given\n%s", usage);
		return -EINVAL;
	}
	*ret_first = i;
	return 0;
}

static int verb_run(int argc, char **argv) {
	struct run_args a = { .tier = WASM_TIER_AUTO };
	_cleanup_(wasm_code_freep) struct wasm_code *code = NULL;
	_cleanup_(wasm_instance_freep) struct wasm_instance *inst = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_strv_free_ char **args = NULL;
	struct wasm_module_info info = {};
	_cleanup_free_ void *wasm = NULL;
	uint64_t t0 = wasm_now_ns(), t1;
	const char *module, *base;
	size_t len;
	int first, r;

	r = parse_run(argc, argv, &a, &first);
	if (r < 0)
		return EXIT_RUNNER;
	module = argv[first];
	base = strrchr(module, '/') ? strrchr(module, '/') + 1 : module;
	strv_push(&args, base);
	for (int i = first + 1; i < argc; i++)
		strv_push(&args, argv[i]);
	if (!a.env)
		a.env = xnew(char *, 1);

	r = wasm_module_read(module, &wasm, &len, &err);
	if (r >= 0)
		r = wasm_module_inspect(wasm, len, &info, &err);
	if (r >= 0) {
		struct wasm_load_options lo = { .cache_dir = cache_dir_default(a.cache_dir), .tier = a.tier };
		r = wasm_code_load(wasm, len, &lo, &code, &err);
	}
	if (r >= 0) {
		struct wasm_run_config rc = { .args = args,
			                      .env = a.env,
			                      .preopens = a.preopens,
			                      .n_preopens = a.n_preopens,
			                      .max_memory = a.max_memory,
			                      .mem_min_pages = info.mem_min_pages,
			                      .timeout_ns = a.timeout_ns,
			                      .trap_file = a.trap_file };
		t1 = wasm_now_ns();
		r = wasm_instance_new(code, &rc, &inst, &err);
		if (r >= 0 && getenv("ZLAYER_WASM_TIMING"))
			print_timing(code, wasm_now_ns() - t1, wasm_now_ns() - t0);
	}
	wasm_module_info_release(&info);
	for (size_t i = 0; i < a.n_preopens; i++) {
		/* wasi_ctx_new opened them: the strings are ours again */
		free((char *)a.preopens[i].host_path);
		free((char *)a.preopens[i].guest_path);
	}
	free(a.preopens);
	if (r < 0) {
		strv_free(a.env);
		fail(err);
		return EXIT_RUNNER;
	}
	if (code->want_build)
		start_build(code);
	free(wasm); /* the guest may run for long */
	wasm = NULL;
	r = wasm_instance_run(inst);
	strv_free(a.env);
	return r;
}

static int verb_precompile(int argc, char **argv) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct wasm_module_info info = {};
	_cleanup_free_ void *wasm = NULL;
	_cleanup_free_ char *path = NULL;
	const char *dir = NULL;
	size_t len;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if ((r = take_value(argc, argv, &i, "--cache-dir", &dir)) < 0)
			return EXIT_RUNNER;
		if (r == 0) {
			fprintf(stderr, "zlayer-wasm: error: unknown option '%s'\n%s", argv[i], usage);
			return EXIT_RUNNER;
		}
	}
	if (i + 1 != argc) {
		fprintf(stderr, "zlayer-wasm: error: precompile takes one module\n%s", usage);
		return EXIT_RUNNER;
	}
	r = wasm_module_read(argv[i], &wasm, &len, &err);
	if (r >= 0)
		r = wasm_module_inspect(wasm, len, &info, &err);
	if (r >= 0)
		r = wasm_cache_build(cache_dir_default(dir), wasm, len, &path, &err);
	wasm_module_info_release(&info);
	if (r < 0) {
		fail(err);
		return EXIT_RUNNER;
	}
	printf("%s\n", path);
	return 0;
}

/* The background builder: low priority, quiet, gives way to a running one. */
static int verb_build_cache(int argc, char **argv) {
	_cleanup_za_error_ struct za_error *err = NULL;
	const char *dir = NULL;
	int i = 1, r;

	if (i < argc && (r = take_value(argc, argv, &i, "--cache-dir", &dir)) > 0)
		i++;
	if (!dir || i + 1 != argc || strlen(argv[i]) != WASM_DIGEST_HEX_LEN || strchr(argv[i], '/')) {
		fprintf(stderr, "zlayer-wasm: error: usage: build-cache --cache-dir DIR HEX\n");
		return EXIT_RUNNER;
	}
	(void)setpriority(PRIO_PROCESS, 0, 10);
	r = wasm_cache_build_so(dir, argv[i], false, &err);
	if (r == -EBUSY)
		return 0;
	if (r < 0) {
		fail(err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv) {
	struct wasm_oci_globals g = {};
	_cleanup_free_ char *self = NULL;
	int i;

	log_setup("zlayer-wasm");
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		int r;

		if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		}
		if (streq(argv[i], "--version") || streq(argv[i], "-v")) {
			printf("zlayer-wasm version %s\nspec: 1.0.2\n", ZA_VERSION);
			return 0;
		}
		if (streq(argv[i], "--systemd-cgroup")) {
			g.systemd_cgroup = true;
			continue;
		}
		if (streq(argv[i], "--debug"))
			continue;
		if ((r = take_value(argc, argv, &i, "--root", &g.root)) != 0) {
			if (r < 0)
				return EXIT_RUNNER;
			continue;
		}
		/* runc's logging options: accepted, errors go to stderr */
		if ((r = take_value(argc, argv, &i, "--log", &v)) != 0 ||
		    (r = take_value(argc, argv, &i, "--log-format", &v)) != 0) {
			if (r < 0)
				return EXIT_RUNNER;
			continue;
		}
		fprintf(stderr, "zlayer-wasm: error: unknown option '%s'\n%s", argv[i], usage);
		return EXIT_RUNNER;
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return EXIT_RUNNER;
	}
	argc -= i;
	argv += i;
	if (streq(argv[0], "run") && !wasm_oci_is_run(argc, argv))
		return verb_run(argc, argv);
	if (streq(argv[0], "precompile"))
		return verb_precompile(argc, argv);
	if (streq(argv[0], "build-cache"))
		return verb_build_cache(argc, argv);
	if (streq(argv[0], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	self = self_exe();
	g.self = self;
	return wasm_oci_main(&g, argc, argv);
}
