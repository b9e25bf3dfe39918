/* SPDX-License-Identifier: Apache-2.0 */
/* `_start` runs on its own stack (8 MiB, a 1 MiB guard below; a ucontext
 * in the same thread: no extra task against a pids limit), whatever
 * RLIMIT_STACK says, so deep recursion ends in a trap, not in a runaway
 * stack. wasm-rt's SIGSEGV handler calls every fault outside
 * a guard page of the main stack an out-of-bounds access; ours sorts them
 * by address instead: inside the linear memory's 8 GiB reservation ->
 * out_of_bounds, in or just below the guest stack -> stack_exhaustion,
 * anything else is a real crash of the host and is re-raised. The trap file
 * is written with async-signal-safe calls only, so the timeout's signal
 * handler can write it too. */
#include "runtime/wasm/wasm-instance.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "runtime/wasm/wasm-module.h"
#include "basic/banned.h"

#define GUEST_STACK       (8u << 20)
#define GUEST_STACK_GUARD (1u << 20)
#define ALT_STACK         (64u << 10)
#define MEMORY_RESERVED   0x200000000ull /* what wasm_rt_allocate_memory maps */

/* wasm-rt-impl.h (not installed in /usr/include): the trap jump target. */
extern jmp_buf wasm_rt_jmp_buf;

struct wasm_instance {
	struct wasm_code *code;
	wasi_ctx *wasi;
	void *inst; /* Z_m_instance_t */
	bool instantiated;
	uint64_t timeout_ns;
	int trap;
};

/* Read by signal handlers: set before they are armed. */
static struct {
	uintptr_t mem_lo, mem_hi;     /* linear memory reservation */
	uintptr_t stack_lo, stack_hi; /* the guest thread's stack, guard below */
	char path[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
	bool have_file;
} g;

static const char *const trap_names[] = {
	[WASM_RT_TRAP_NONE] = "none",
	[WASM_RT_TRAP_OOB] = "out_of_bounds",
	[WASM_RT_TRAP_INT_OVERFLOW] = "integer_overflow",
	[WASM_RT_TRAP_DIV_BY_ZERO] = "division_by_zero",
	[WASM_RT_TRAP_INVALID_CONVERSION] = "invalid_conversion",
	[WASM_RT_TRAP_UNREACHABLE] = "unreachable",
	[WASM_RT_TRAP_CALL_INDIRECT] = "indirect_call",
	[WASM_RT_TRAP_UNCAUGHT_EXCEPTION] = "uncaught_exception",
	[WASM_RT_TRAP_EXHAUSTION] = "stack_exhaustion",
};

const char *wasm_trap_to_string(int trap) {
	return trap >= 0 && (size_t)trap < ELEMENTSOF(trap_names) && trap_names[trap] ? trap_names[trap] : "unknown";
}

/* --- the outcome record (async-signal-safe) ---------------------------------------- */

static void say(const char *s) {
	(void)!write(STDERR_FILENO, s, strlen(s));
}

static void outcome_write(const char *reason, const char *trap) {
	char buf[256];
	size_t n = 0;
	int fd;

	if (!g.have_file)
		return;
	/* no snprintf: async-signal-safe string assembly */
	const char *parts[] = { "{\"reason\":\"", reason, trap ? "\",\"trap\":\"" : "", trap ? trap : "", "\"}\n" };
	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		size_t l = strlen(parts[i]);
		if (n + l >= sizeof(buf))
			return;
		memcpy(buf + n, parts[i], l);
		n += l;
	}
	fd = open(g.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return;
	if (write(fd, buf, n) != (ssize_t)n || fsync(fd) < 0) {
		close(fd);
		(void)unlink(g.tmp);
		return;
	}
	close(fd);
	if (rename(g.tmp, g.path) < 0) {
		(void)unlink(g.tmp);
		return;
	}
	fd = open(g.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static int outcome_prepare(const char *path) {
	const char *slash;
	int n;

	g.have_file = false;
	if (!path)
		return 0;
	slash = strrchr(path, '/');
	n = snprintf(g.path, sizeof(g.path), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(g.path))
		return -ENAMETOOLONG;
	n = snprintf(g.tmp, sizeof(g.tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(g.tmp))
		return -ENAMETOOLONG;
	if (!slash)
		snprintf(g.dir, sizeof(g.dir), ".");
	else
		snprintf(g.dir, sizeof(g.dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	(void)unlink(g.path); /* a stale record must not describe this run */
	g.have_file = true;
	return 0;
}

static void on_timeout(int sig) {
	say("zlayer-wasm: timeout\n");
	outcome_write(WASM_OUTCOME_TIMEOUT, NULL);
	_exit(WASM_EXIT_TIMEOUT);
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
	uintptr_t a = (uintptr_t)si->si_addr;

	if (g.mem_hi && a >= g.mem_lo && a < g.mem_hi)
		wasm_rt_trap(WASM_RT_TRAP_OOB);
	if (g.stack_hi && a < g.stack_hi && a + 2 * GUEST_STACK_GUARD >= g.stack_lo)
		wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);
	/* a host bug: crash as if nobody had caught it */
	signal(sig, SIG_DFL);
	raise(sig);
}

static int install_handlers(uint64_t timeout_ns) {
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK };
	timer_t timer;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) < 0 || sigaction(SIGBUS, &sa, NULL) < 0)
		return -errno;
	if (timeout_ns == 0)
		return 0;
	struct sigaction ta = { .sa_handler = on_timeout };
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(timeout_ns / 1000000000ull),
		                                .tv_nsec = (long)(timeout_ns % 1000000000ull) } };
	sigemptyset(&ta.sa_mask);
	if (sigaction(SIGALRM, &ta, NULL) < 0 || timer_create(CLOCK_MONOTONIC, &ev, &timer) < 0 ||
	    timer_settime(timer, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

/* --- instantiate ------------------------------------------------------------------ */

static int try_instantiate(struct wasm_instance *inst) {
	int trap;

	wasm_rt_set_unwind_target(&wasm_rt_jmp_buf);
	trap = sigsetjmp(wasm_rt_jmp_buf, 1);
	if (trap == 0)
		inst->code->instantiate(inst->inst, inst->wasi);
	return trap;
}

int wasm_instance_new(struct wasm_code *code, const struct wasm_run_config *cfg, struct wasm_instance **ret,
                      struct za_error **reterr) {
	_cleanup_(wasm_instance_freep) struct wasm_instance *inst = xnew(struct wasm_instance, 1);
	struct wasi_config wc = { .args = cfg->args,
		                  .environ = cfg->env,
		                  .preopens = cfg->preopens,
		                  .n_preopens = cfg->n_preopens,
		                  .stdio = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO } };
	uint64_t cap_pages = cfg->max_memory ? cfg->max_memory / WASM_PAGE_SIZE : WASM_MAX_PAGES;
	wasm_rt_memory_t *mem;
	int r, trap;

	inst->code = code;
	inst->timeout_ns = cfg->timeout_ns;
	if (cfg->mem_min_pages > cap_pages)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENOMEM,
		                     "the module's initial memory of %llu bytes exceeds the memory limit of %llu bytes",
		                     (unsigned long long)cfg->mem_min_pages * WASM_PAGE_SIZE,
		                     (unsigned long long)cfg->max_memory);
	r = outcome_prepare(cfg->trap_file);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "invalid trap file '%s': %m", cfg->trap_file);
	r = wasi_ctx_new(&wc, &inst->wasi, reterr);
	if (r < 0)
		return r;
	wasm_rt_init();
	r = install_handlers(0);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot install the trap handlers: %m");
	code->init_module();
	inst->inst = xcalloc(1, code->instance_size);
	trap = try_instantiate(inst);
	/* after a trap the instance is half made: leave it to the exit */
	inst->instantiated = trap == 0;
	if (trap != 0)
		return za_error_make(reterr, ZA_ERROR_START_FAILED, EINVAL,
		                     "the module trapped while it was instantiated: %s", wasm_trap_to_string(trap));
	mem = code->memory(inst->inst);
	if (mem->max_pages > cap_pages)
		mem->max_pages = (uint32_t)cap_pages;
	g.mem_lo = (uintptr_t)mem->data;
	g.mem_hi = g.mem_lo + MEMORY_RESERVED;
	wasi_ctx_set_memory(inst->wasi, mem);
	*ret = TAKE_PTR(inst);
	return 0;
}

/* --- run ----------------------------------------------------------------------------- */

static int try_start(struct wasm_instance *inst) {
	int trap;

	wasm_rt_set_unwind_target(&wasm_rt_jmp_buf);
	trap = sigsetjmp(wasm_rt_jmp_buf, 1);
	if (trap == 0)
		inst->code->start(inst->inst);
	return trap;
}

static struct wasm_instance *running;

#if defined(__SANITIZE_ADDRESS__)
#define GUEST_ON_THREAD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GUEST_ON_THREAD 1
#endif
#endif

#ifdef GUEST_ON_THREAD
/* AddressSanitizer does not follow swapcontext (a warning, and false
 * reports on longjmp): sanitizer builds run the guest on a thread with the
 * same stack and guard sizes instead. */
static void *guest_thread(void *p) {
	static uint8_t alt[ALT_STACK];
	stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) }, old = {};
	pthread_attr_t attr;
	void *lo;
	size_t size;

	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
			g.stack_lo = (uintptr_t)lo;
			g.stack_hi = (uintptr_t)lo + size;
		}
		pthread_attr_destroy(&attr);
	}
	(void)sigaltstack(&ss, &old);
	running->trap = try_start(running);
	/* the sanitizer unmaps the thread's alternate stack at its exit */
	(void)sigaltstack(&old, NULL);
	return p;
}

static int run_guest(void) {
	pthread_attr_t attr;
	pthread_t t;

	if (pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, GUEST_STACK) != 0 ||
	    pthread_attr_setguardsize(&attr, GUEST_STACK_GUARD) != 0 ||
	    pthread_create(&t, &attr, guest_thread, NULL) != 0)
		return -EAGAIN;
	pthread_attr_destroy(&attr);
	(void)pthread_join(t, NULL);
	return 0;
}
#else
static void guest_main(void) {
	running->trap = try_start(running);
}

static int run_guest(void) {
	static uint8_t alt[ALT_STACK];
	stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) };
	ucontext_t main_ctx, guest_ctx;
	uint8_t *stack;
	volatile int r = 0; /* getcontext() returns twice, as far as gcc knows */

	/* guard below the stack: PROT_NONE, as the stack grows down into it */
	stack = mmap(NULL, GUEST_STACK_GUARD + GUEST_STACK, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
	             0);
	if (stack == MAP_FAILED)
		return -errno;
	if (mprotect(stack + GUEST_STACK_GUARD, GUEST_STACK, PROT_READ | PROT_WRITE) < 0 ||
	    sigaltstack(&ss, NULL) < 0 || getcontext(&guest_ctx) < 0)
		r = -errno;
	if (r >= 0) {
		g.stack_lo = (uintptr_t)stack + GUEST_STACK_GUARD;
		g.stack_hi = g.stack_lo + GUEST_STACK;
		guest_ctx.uc_stack = (stack_t){ .ss_sp = stack + GUEST_STACK_GUARD, .ss_size = GUEST_STACK };
		guest_ctx.uc_link = &main_ctx;
		makecontext(&guest_ctx, guest_main, 0);
		if (swapcontext(&main_ctx, &guest_ctx) < 0)
			r = -errno;
	}
	g.stack_lo = g.stack_hi = 0;
	(void)munmap(stack, GUEST_STACK_GUARD + GUEST_STACK);
	return r;
}
#endif

int wasm_instance_run(struct wasm_instance *inst) {
	uint32_t code;
	int r;

	r = install_handlers(inst->timeout_ns);
	if (r < 0) {
		say("zlayer-wasm: cannot arm the timeout\n");
		return WASM_EXIT_TRAP;
	}
	running = inst;
	r = run_guest();
	running = NULL;
	if (r < 0) {
		say("zlayer-wasm: cannot set up the guest's stack\n");
		return WASM_EXIT_TRAP;
	}
	if (wasi_ctx_exited(inst->wasi, &code))
		return (int)(code & 0xff);
	if (inst->trap == 0)
		return 0;
	say("zlayer-wasm: trap: ");
	say(wasm_trap_to_string(inst->trap));
	say("\n");
	outcome_write(WASM_OUTCOME_RUNTIME_ERROR, wasm_trap_to_string(inst->trap));
	return WASM_EXIT_TRAP;
}

struct wasm_instance *wasm_instance_free(struct wasm_instance *inst) {
	if (!inst)
		return NULL;
	if (inst->instantiated) {
		inst->code->free_instance(inst->inst);
		free(inst->inst);
	}
	wasi_ctx_free(inst->wasi);
	free(inst);
	return NULL;
}
