/* SPDX-License-Identifier: Apache-2.0 */
/* The tables follow moby's oci/defaults.go and profiles/seccomp/default.json
 * (Docker 28); the JSON is generated from them, never shipped. */
#include "oci-defaults.h"

#include <ctype.h>
#include <sys/prctl.h>
#include <sys/utsname.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/parse.h"
#include "basic/banned.h"

const char *const oci_default_capabilities[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
	NULL,
};

const char *const oci_masked_paths[] = {
	"/proc/asound",
	"/proc/acpi",
	"/proc/interrupts",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
	NULL,
};

const char *const oci_readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

const struct oci_device_rule oci_default_device_rules[] = {
	{ false, 'a', -1, -1, "rwm" },  /* deny everything, then: */
	{ true, 'c', 1, 5, "rwm" },     /* zero */
	{ true, 'c', 1, 3, "rwm" },     /* null */
	{ true, 'c', 1, 9, "rwm" },     /* urandom */
	{ true, 'c', 1, 8, "rwm" },     /* random */
	{ true, 'c', 5, 0, "rwm" },     /* tty */
	{ true, 'c', 5, 1, "rwm" },     /* console */
	{ false, 'c', 10, 229, "rwm" }, /* fuse */
};
const size_t oci_default_device_rules_n = ELEMENTSOF(oci_default_device_rules);

/* In capability number order (linux/capability.h). */
static const char *const all_capabilities[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

static bool strv_contains(char *const *l, const char *s) {
	STRV_FOREACH (i, (char **)l)
		if (streq(*i, s))
			return true;
	return false;
}

char **oci_all_capabilities(void) {
	_cleanup_free_ char *buf = NULL;
	size_t n = ELEMENTSOF(all_capabilities);
	char **l = xnew(char *, 1);
	uint32_t last;

	/* What both we and the kernel know (runc skips later ones with a
	 * warning), and only what our own bounding set holds: no runtime can
	 * grant more, as dockerd filters for nested and restricted hosts. */
	if (read_full_file("/proc/sys/kernel/cap_last_cap", 64, &buf, NULL) >= 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (parse_uint32(buf, &last) >= 0 && last + 1 < n)
			n = last + 1;
	}
	for (size_t i = 0; i < n; i++)
		if (prctl(PR_CAPBSET_READ, (unsigned long)i, 0, 0, 0) != 0)
			strv_push(&l, all_capabilities[i]);
	return l;
}

char *oci_capability_normalize(const char *name) {
	_cleanup_free_ char *up = xstrdup(name), *full = NULL;

	for (char *p = up; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	full = strneq(up, "CAP_", 4) ? xstrdup(up) : xasprintf("CAP_%s", up);
	for (size_t i = 0; i < ELEMENTSOF(all_capabilities); i++)
		if (streq(all_capabilities[i], full))
			return TAKE_PTR(full);
	return NULL;
}

/* Normalise a cap_add/cap_drop list; "ALL" is kept as is. */
static int capability_list(char *const *in, const char *what, char ***ret, struct za_error **reterr) {
	_cleanup_strv_free_ char **l = xnew(char *, 1);

	STRV_FOREACH (c, (char **)in) {
		_cleanup_free_ char *n = NULL;

		if (strcasecmp(*c, "ALL") == 0) {
			strv_push(&l, "ALL");
			continue;
		}
		n = oci_capability_normalize(*c);
		if (!n)
			return za_error_make(reterr, ZA_ERROR_CREATE_FAILED, EINVAL,
			                     "unknown capability '%s' in %s (expected a name like NET_ADMIN or ALL)",
			                     *c, what);
		strv_push(&l, n);
	}
	*ret = TAKE_PTR(l);
	return 0;
}

static void push_unique(char ***l, const char *s) {
	if (!strv_contains(*l, s))
		strv_push(l, s);
}

int oci_capabilities_resolve(char *const *cap_add, char *const *cap_drop, bool privileged, char ***ret,
                             struct za_error **reterr) {
	_cleanup_strv_free_ char **add = NULL, **drop = NULL, **all = NULL, **caps = xnew(char *, 1);
	int r;

	if (privileged) {
		*ret = oci_all_capabilities();
		return 0;
	}
	r = capability_list(cap_add, "cap_add", &add, reterr);
	if (r < 0)
		return r;
	r = capability_list(cap_drop, "cap_drop", &drop, reterr);
	if (r < 0)
		return r;
	if (strv_contains(add, "ALL")) {
		all = oci_all_capabilities();
		STRV_FOREACH (c, all)
			if (!strv_contains(drop, *c))
				push_unique(&caps, *c);
	} else if (strv_contains(drop, "ALL")) {
		STRV_FOREACH (c, add)
			push_unique(&caps, *c);
	} else {
		for (const char *const *c = oci_default_capabilities; *c; c++)
			if (!strv_contains(drop, *c))
				push_unique(&caps, *c);
		STRV_FOREACH (c, add)
			push_unique(&caps, *c);
	}
	*ret = TAKE_PTR(caps);
	return 0;
}

/* ---- seccomp ---- */

/* Allowed for every container on every architecture (space-separated). */
static const char seccomp_allowed[] =
        "accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime "
        "clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep "
        "clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create "
        "epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd "
        "eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate "
        "fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr "
        "flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync "
        "ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 "
        "getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername "
        "getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 "
        "getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid "
        "gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch "
        "io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set "
        "io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule "
        "landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen "
        "listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier "
        "memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 "
        "mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend "
        "mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap "
        "name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open "
        "pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl "
        "pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev "
        "pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg "
        "remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction "
        "rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait "
        "rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam "
        "sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval "
        "sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler "
        "sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile "
        "sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 "
        "setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 "
        "setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt "
        "set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown "
        "sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 "
        "statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time "
        "timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime "
        "timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 "
        "times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat "
        "utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev";

enum seccomp_op { OP_NONE, OP_EQ, OP_NE, OP_MASKED_EQ };

/* One rule of the profile. includes: all must hold; excludes: any voids the
 * rule. Lists are space-separated (Docker's arch names, capability names). */
struct seccomp_rule {
	const char *names;
	int errno_ret; /* 0: SCMP_ACT_ALLOW; else SCMP_ACT_ERRNO with this errno */
	enum seccomp_op op;
	unsigned arg_index;
	uint64_t arg_value;
	const char *inc_arches, *inc_caps, *inc_min_kernel;
	const char *exc_arches, *exc_caps;
};

#define CLONE_NS_FLAGS UINT64_C(2114060288) /* CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP */

static const struct seccomp_rule seccomp_rules[] = {
	{ .names = "process_vm_readv process_vm_writev ptrace", .inc_min_kernel = "4.8" },
	{ .names = "socket", .op = OP_NE, .arg_value = 40 }, /* not AF_VSOCK */
	{ .names = "personality", .op = OP_EQ, .arg_value = 0 },
	{ .names = "personality", .op = OP_EQ, .arg_value = 8 },
	{ .names = "personality", .op = OP_EQ, .arg_value = 131072 },
	{ .names = "personality", .op = OP_EQ, .arg_value = 131080 },
	{ .names = "personality", .op = OP_EQ, .arg_value = 4294967295 },
	{ .names = "sync_file_range2 swapcontext", .inc_arches = "ppc64le" },
	{ .names = "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
	  .inc_arches = "arm arm64" },
	{ .names = "arch_prctl", .inc_arches = "amd64 x32" },
	{ .names = "modify_ldt", .inc_arches = "amd64 x32 x86" },
	{ .names = "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr", .inc_arches = "s390 s390x" },
	{ .names = "riscv_flush_icache", .inc_arches = "riscv64" },
	{ .names = "open_by_handle_at", .inc_caps = "CAP_DAC_READ_SEARCH" },
	{ .names = "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr "
	           "move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog "
	           "umount umount2 unshare",
	  .inc_caps = "CAP_SYS_ADMIN" },
	{ .names = "clone",
	  .op = OP_MASKED_EQ,
	  .arg_index = 0,
	  .arg_value = CLONE_NS_FLAGS,
	  .exc_caps = "CAP_SYS_ADMIN",
	  .exc_arches = "s390 s390x" },
	{ .names = "clone", /* s390 passes the flags second */
	  .op = OP_MASKED_EQ,
	  .arg_index = 1,
	  .arg_value = CLONE_NS_FLAGS,
	  .inc_arches = "s390 s390x",
	  .exc_caps = "CAP_SYS_ADMIN" },
	/* ENOSYS, so that libc falls back to clone, which the rule above filters */
	{ .names = "clone3", .errno_ret = ENOSYS, .exc_caps = "CAP_SYS_ADMIN" },
	{ .names = "reboot", .inc_caps = "CAP_SYS_BOOT" },
	{ .names = "chroot", .inc_caps = "CAP_SYS_CHROOT" },
	{ .names = "delete_module init_module finit_module", .inc_caps = "CAP_SYS_MODULE" },
	{ .names = "acct", .inc_caps = "CAP_SYS_PACCT" },
	{ .names = "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
	  .inc_caps = "CAP_SYS_PTRACE" },
	{ .names = "iopl ioperm", .inc_caps = "CAP_SYS_RAWIO" },
	{ .names = "settimeofday stime clock_settime clock_settime64", .inc_caps = "CAP_SYS_TIME" },
	{ .names = "vhangup", .inc_caps = "CAP_SYS_TTY_CONFIG" },
	{ .names = "get_mempolicy mbind set_mempolicy set_mempolicy_home_node", .inc_caps = "CAP_SYS_NICE" },
	{ .names = "syslog", .inc_caps = "CAP_SYSLOG" },
	{ .names = "bpf", .inc_caps = "CAP_BPF" },
	{ .names = "perf_event_open", .inc_caps = "CAP_PERFMON" },
};

const char *oci_native_arch(void) {
#if defined(__x86_64__) && defined(__ILP32__)
	return "x32";
#elif defined(__x86_64__)
	return "amd64";
#elif defined(__i386__)
	return "x86";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__)
	return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#else
	return "unknown";
#endif
}

/* Docker's archMap: the native architecture's filter arch, then the compat
 * ones with the image architecture that needs each. */
struct seccomp_arch {
	const char *arch;
	const char *scmp;
	const char *compat[2][2]; /* {image arch, SCMP arch} */
};

static const struct seccomp_arch seccomp_arch_map[] = {
	{ "amd64", "SCMP_ARCH_X86_64", { { "386", "SCMP_ARCH_X86" } } },
	{ "arm64", "SCMP_ARCH_AARCH64", { { "arm", "SCMP_ARCH_ARM" } } },
	{ "s390x", "SCMP_ARCH_S390X", { { "s390", "SCMP_ARCH_S390" } } },
	{ "riscv64", "SCMP_ARCH_RISCV64", {} },
};

/* Unlike dockerd, only what the image's programs need: the native arch, and
 * a compat arch only for an image of that architecture. Each arch in the
 * filter costs runc several milliseconds to compile at every start, and
 * 32-bit compat syscalls are an attack surface an amd64 image has no use
 * for. */
static json_t *seccomp_architectures(const char *image_arch) {
	for (size_t i = 0; i < ELEMENTSOF(seccomp_arch_map); i++) {
		const struct seccomp_arch *m = &seccomp_arch_map[i];
		json_t *a;

		if (!streq(m->arch, oci_native_arch()))
			continue;
		a = json_array();
		json_array_append_new(a, json_string(m->scmp));
		for (size_t k = 0; k < ELEMENTSOF(m->compat) && m->compat[k][0]; k++)
			if (image_arch && streq(image_arch, m->compat[k][0]))
				json_array_append_new(a, json_string(m->compat[k][1]));
		return a;
	}
	return NULL;
}

/* Is `word` one of the space-separated words of `list`? */
static bool word_in(const char *list, const char *word) {
	size_t l = strlen(word);

	for (const char *p = list; *p;) {
		size_t n = strcspn(p, " ");
		if (n == l && strneq(p, word, l))
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

static bool any_cap_in(const char *list, char *const *caps) {
	STRV_FOREACH (c, (char **)caps)
		if (word_in(list, *c))
			return true;
	return false;
}

static bool all_caps_in(const char *list, char *const *caps) {
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, " ");
		_cleanup_free_ char *w = xstrndup(p, n);
		if (!strv_contains(caps, w))
			return false;
		p += n;
		p += strspn(p, " ");
	}
	return true;
}

static bool kernel_at_least(const char *version) {
	static int major = -1, minor = -1;
	unsigned want_major = 0, want_minor = 0;
	struct utsname u;

	if (major < 0) {
		major = minor = 0;
		if (uname(&u) >= 0) {
			char *end;
			major = (int)strtol(u.release, &end, 10);
			if (*end == '.')
				minor = (int)strtol(end + 1, NULL, 10);
		}
	}
	(void)sscanf(version, "%u.%u", &want_major, &want_minor);
	return (unsigned)major > want_major || ((unsigned)major == want_major && (unsigned)minor >= want_minor);
}

static bool rule_applies(const struct seccomp_rule *r, char *const *caps) {
	const char *arch = oci_native_arch();

	if (r->exc_arches && word_in(r->exc_arches, arch))
		return false;
	if (r->exc_caps && any_cap_in(r->exc_caps, caps))
		return false;
	if (r->inc_arches && !word_in(r->inc_arches, arch))
		return false;
	if (r->inc_caps && !all_caps_in(r->inc_caps, caps))
		return false;
	if (r->inc_min_kernel && !kernel_at_least(r->inc_min_kernel))
		return false;
	return true;
}

/* "a b c" -> ["a", "b", "c"] */
static json_t *names_json(const char *words) {
	json_t *a = json_array();

	for (const char *p = words + strspn(words, " "); *p;) {
		size_t n = strcspn(p, " ");
		json_array_append_new(a, json_stringn(p, n));
		p += n;
		p += strspn(p, " ");
	}
	return a;
}

json_t *oci_seccomp_default(char *const *caps, const char *image_arch) {
	static const char *const ops[] = {
		[OP_EQ] = "SCMP_CMP_EQ",
		[OP_NE] = "SCMP_CMP_NE",
		[OP_MASKED_EQ] = "SCMP_CMP_MASKED_EQ",
	};
	json_t *arches = seccomp_architectures(image_arch);
	json_t *s = json_object(), *syscalls = json_array(), *first;

	json_object_set_new(s, "defaultAction", json_string("SCMP_ACT_ERRNO"));
	json_object_set_new(s, "defaultErrnoRet", json_integer(EPERM));
	if (arches)
		json_object_set_new(s, "architectures", arches);
	first = json_object();
	json_object_set_new(first, "names", names_json(seccomp_allowed));
	json_object_set_new(first, "action", json_string("SCMP_ACT_ALLOW"));
	json_array_append_new(syscalls, first);
	for (size_t i = 0; i < ELEMENTSOF(seccomp_rules); i++) {
		const struct seccomp_rule *r = &seccomp_rules[i];
		json_t *o;

		if (!rule_applies(r, caps))
			continue;
		o = json_object();
		json_object_set_new(o, "names", names_json(r->names));
		if (r->errno_ret) {
			json_object_set_new(o, "action", json_string("SCMP_ACT_ERRNO"));
			json_object_set_new(o, "errnoRet", json_integer(r->errno_ret));
		} else
			json_object_set_new(o, "action", json_string("SCMP_ACT_ALLOW"));
		if (r->op != OP_NONE) {
			json_t *arg = json_object(), *args = json_array();
			json_object_set_new(arg, "index", json_integer(r->arg_index));
			json_object_set_new(arg, "value", json_integer((json_int_t)r->arg_value));
			json_object_set_new(arg, "op", json_string(ops[r->op]));
			json_array_append_new(args, arg);
			json_object_set_new(o, "args", args);
		}
		json_array_append_new(syscalls, o);
	}
	json_object_set_new(s, "syscalls", syscalls);
	return s;
}
