/* SPDX-License-Identifier: Apache-2.0 */
/* zl-testhelper: the one program the runtime contract tests run inside
 * containers. Static, libc only, so it works in any rootfs. Each subcommand
 * does one observable thing and prints plain "key=value" or line output that
 * the pytest suite parses; exit codes are part of the contract (see usage). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/banned.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIB          (1024UL * 1024UL)

extern char **environ;

static const char usage[] =
        "usage: zl-testhelper COMMAND [ARGS...]\n"
        "  args [A...]            print each argument on its own line\n"
        "  env                    print the environment, one K=V a line\n"
        "  id                     print uid=U gid=G groups=G1,G2\n"
        "  cwd                    print the working directory\n"
        "  pid                    print the process id\n"
        "  hostname               print the host name\n"
        "  fds                    print the open descriptors other than 0-2, one a line\n"
        "  exit N                 exit with code N\n"
        "  sleep SECONDS          sleep (fractions allowed), then exit 0\n"
        "  oom [MAX_MIB]          allocate and touch memory until killed; exit 2 after MAX_MIB\n"
        "                         (4096), 3 if an allocation fails\n"
        "  alloc MIB              allocate and touch MIB MiB, print 'allocated', sleep forever\n"
        "  forks N                fork N children at once; print forked=K [errno=E]\n"
        "  flood LINES [BYTES]    print LINES numbered lines of BYTES bytes each (64), flush at the end\n"
        "  stderr TEXT            print TEXT to stderr\n"
        "  tcp PORT               echo server on PORT\n"
        "  http PORT [STATUS]     answer every request with STATUS (200) and a small body\n"
        "  signals                print 'got SIGNAME' per signal; exit 0 after SIGTERM\n"
        "  ignore-term            ignore SIGTERM and sleep forever\n"
        "  seccomp [SYSCALL]      try a syscall Docker's profile denies (keyctl, add_key, unshare-user);\n"
        "                         exit 1 if denied, 0 if allowed\n"
        "  write PATH             exit 0 if PATH can be created and written\n"
        "  cgroup                 print memory_max=, pids_max=, cpu_max= as the container sees them\n"
        "  cpu SECONDS            burn one core for SECONDS (0: forever)\n";

static int die_usage(const char *what) {
	fprintf(stderr, "zl-testhelper: %s\n%s", what, usage);
	return 64;
}

static bool parse_u64(const char *s, uint64_t *ret) {
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

static bool parse_seconds(const char *s, double *ret) {
	char *end;
	double v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || v < 0 || v > 1e9)
		return false;
	*ret = v;
	return true;
}

static double now_mono(void) {
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s) {
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static int cmd_args(int argc, char **argv) {
	for (int i = 0; i < argc; i++)
		printf("%s\n", argv[i]);
	return 0;
}

static int cmd_env(int argc, char **argv) {
	for (char **e = environ; e && *e; e++)
		printf("%s\n", *e);
	return 0;
}

static int cmd_id(int argc, char **argv) {
	gid_t groups[256];
	int n = getgroups(ARRAY_LEN(groups), groups);

	printf("uid=%u gid=%u groups=", (unsigned)getuid(), (unsigned)getgid());
	for (int i = 0; i < n; i++)
		printf("%s%u", i ? "," : "", (unsigned)groups[i]);
	printf("\n");
	return 0;
}

static int cmd_cwd(int argc, char **argv) {
	char buf[4096];

	if (!getcwd(buf, sizeof(buf))) {
		fprintf(stderr, "getcwd: %s\n", strerror(errno));
		return 1;
	}
	printf("%s\n", buf);
	return 0;
}

static int cmd_pid(int argc, char **argv) {
	printf("%d\n", (int)getpid());
	return 0;
}

static int cmd_hostname(int argc, char **argv) {
	struct utsname u;

	if (uname(&u) < 0)
		return 1;
	printf("%s\n", u.nodename);
	return 0;
}

static int cmd_fds(int argc, char **argv) {
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char path[64], target[4096];

	if (!d) {
		fprintf(stderr, "/proc/self/fd: %s\n", strerror(errno));
		return 1;
	}
	while ((de = readdir(d))) {
		uint64_t fd;
		ssize_t n;

		if (!parse_u64(de->d_name, &fd) || fd <= 2 || (int)fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%" PRIu64, fd);
		n = readlink(path, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = 0;
		printf("%s %s\n", de->d_name, target);
	}
	closedir(d);
	return 0;
}

static int cmd_exit(int argc, char **argv) {
	uint64_t code;

	if (argc < 1 || !parse_u64(argv[0], &code) || code > 255)
		return die_usage("exit: N must be 0..255");
	return (int)code;
}

static int cmd_sleep(int argc, char **argv) {
	double s;

	if (argc < 1 || !parse_seconds(argv[0], &s))
		return die_usage("sleep: SECONDS must be a number");
	sleep_seconds(s);
	return 0;
}

static int cmd_oom(int argc, char **argv) {
	uint64_t max_mib = 4096, mib = 0;
	const size_t chunk = 4 * MIB;

	if (argc >= 1 && !parse_u64(argv[0], &max_mib))
		return die_usage("oom: MAX_MIB must be a number");
	say("allocating\n");
	while (mib < max_mib) {
		char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			say("mmap failed after %" PRIu64 " MiB: %s\n", mib, strerror(errno));
			return 3;
		}
		for (size_t off = 0; off < chunk; off += 4096)
			p[off] = (char)(off | 1);
		mib += chunk / MIB;
		if (mib % 64 == 0)
			say("allocated %" PRIu64 " MiB\n", mib);
	}
	say("not killed after %" PRIu64 " MiB\n", mib);
	return 2;
}

static int cmd_alloc(int argc, char **argv) {
	uint64_t mib;
	char *p;

	if (argc < 1 || !parse_u64(argv[0], &mib) || mib == 0 || mib > 65536)
		return die_usage("alloc: MIB must be 1..65536");
	p = mmap(NULL, mib * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "alloc: mmap: %s\n", strerror(errno));
		return 3;
	}
	for (size_t off = 0; off < mib * MIB; off += 4096)
		p[off] = (char)(off | 1);
	say("allocated %" PRIu64 " MiB\n", mib);
	for (;;)
		pause();
	return 0;
}

static int cmd_forks(int argc, char **argv) {
	uint64_t want;
	pid_t kids[1024];
	size_t n = 0;
	int err = 0;

	if (argc < 1 || !parse_u64(argv[0], &want) || want == 0 || want > ARRAY_LEN(kids))
		return die_usage("forks: N must be 1..1024");
	/* children wait in pause() until killed, so they all count at once */
	while (n < want) {
		pid_t pid = fork();

		if (pid == 0) {
			for (;;)
				pause();
		}
		if (pid < 0) {
			err = errno;
			break;
		}
		kids[n++] = pid;
	}
	printf("forked=%zu", n);
	if (err)
		printf(" errno=%s", strerrorname_np(err));
	printf("\n");
	for (size_t i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (size_t i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}

static int cmd_flood(int argc, char **argv) {
	uint64_t lines, bytes = 64;
	static char buf[1 << 16];
	char *pad;

	if (argc < 1 || !parse_u64(argv[0], &lines))
		return die_usage("flood: LINES must be a number");
	if (argc >= 2 && (!parse_u64(argv[1], &bytes) || bytes < 12 || bytes > 1024 * 1024))
		return die_usage("flood: BYTES must be 12..1048576");
	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	/* "%010u " + padding + "\n" == bytes */
	pad = malloc(bytes);
	if (!pad)
		return 1;
	memset(pad, 'x', bytes);
	pad[bytes - 12] = 0;
	for (uint64_t i = 0; i < lines; i++)
		printf("%010" PRIu64 " %s\n", i, pad);
	free(pad);
	if (fflush(stdout) != 0)
		return 1;
	return 0;
}

static int cmd_stderr(int argc, char **argv) {
	if (argc < 1)
		return die_usage("stderr: TEXT missing");
	fprintf(stderr, "%s\n", argv[0]);
	return 0;
}

static int listen_on(const char *port_s) {
	uint64_t port;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd, one = 1;

	if (!port_s || !parse_u64(port_s, &port) || port == 0 || port > 65535)
		return -EINVAL;
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void echo_conn(int c) {
	char buf[4096];
	ssize_t n;

	while ((n = read(c, buf, sizeof(buf))) > 0)
		if (write(c, buf, (size_t)n) != n)
			break;
}

static int cmd_tcp(int argc, char **argv) {
	int fd = listen_on(argc ? argv[0] : NULL);

	if (fd == -EINVAL)
		return die_usage("tcp: PORT must be 1..65535");
	if (fd < 0) {
		fprintf(stderr, "tcp: listen: %s\n", strerror(-fd));
		return 1;
	}
	signal(SIGCHLD, SIG_IGN);
	say("listening on %s\n", argv[0]);
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (fork() == 0) {
			close(fd);
			echo_conn(c);
			_exit(0);
		}
		close(c);
	}
}

static const char *status_text(unsigned s) {
	switch (s) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 404:
		return "Not Found";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

static void http_conn(int c, unsigned status) {
	char req[8192], resp[512], body[128];
	size_t have = 0;
	int blen, rlen;

	/* read the request head (bounded), answer, close */
	while (have < sizeof(req) - 1) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			return;
		n = read(c, req + have, sizeof(req) - 1 - have);
		if (n <= 0)
			return;
		have += (size_t)n;
		req[have] = 0;
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	blen = snprintf(body, sizeof(body), "zl-testhelper %u\n", status);
	rlen = snprintf(resp, sizeof(resp),
	                "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
	                "Connection: close\r\n\r\n%s",
	                status, status_text(status), blen, strncmp(req, "HEAD ", 5) == 0 ? "" : body);
	if (write(c, resp, (size_t)rlen) < 0)
		return;
}

static int cmd_http(int argc, char **argv) {
	uint64_t status = 200;
	int fd;

	if (argc >= 2 && (!parse_u64(argv[1], &status) || status < 100 || status > 599))
		return die_usage("http: STATUS must be 100..599");
	fd = listen_on(argc ? argv[0] : NULL);
	if (fd == -EINVAL)
		return die_usage("http: PORT must be 1..65535");
	if (fd < 0) {
		fprintf(stderr, "http: listen: %s\n", strerror(-fd));
		return 1;
	}
	say("listening on %s\n", argv[0]);
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		http_conn(c, (unsigned)status);
		close(c);
	}
}

static int cmd_signals(int argc, char **argv) {
	sigset_t all;
	siginfo_t si;

	/* sigwaitinfo with everything blocked: works as PID 1, which ignores
	 * signals it has no handler for */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	say("ready\n");
	for (;;) {
		int sig = sigwaitinfo(&all, &si);
		const char *name;

		if (sig < 0)
			continue;
		name = sigabbrev_np(sig);
		if (name)
			say("got SIG%s\n", name);
		else
			say("got signal %d\n", sig);
		if (sig == SIGTERM)
			return 0;
	}
}

static int cmd_ignore_term(int argc, char **argv) {
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	say("ignoring SIGTERM\n");
	for (;;)
		pause();
	return 0;
}

static long try_syscall(const char *name, bool *known) {
	*known = true;
	errno = 0;
	if (strcmp(name, "keyctl") == 0)
		/* KEYCTL_GET_KEYRING_ID(KEY_SPEC_SESSION_KEYRING, create=0) */
		return syscall(SYS_keyctl, 0, -3, 0);
	if (strcmp(name, "add_key") == 0)
		return syscall(SYS_add_key, "user", "zl-testhelper", "x", 1, -3);
	if (strcmp(name, "unshare-user") == 0)
		return syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */);
	*known = false;
	return -1;
}

static int cmd_seccomp(int argc, char **argv) {
	const char *name = argc ? argv[0] : "keyctl";
	bool known;
	long r;
	char line[256];
	FILE *f;

	f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "Seccomp:", 8) == 0)
			printf("mode=%d\n", (int)strtol(line + 8, NULL, 10));
	if (f)
		fclose(f);

	r = try_syscall(name, &known);
	if (!known)
		return die_usage("seccomp: SYSCALL must be keyctl, add_key or unshare-user");
	/* a filter answers EPERM (Docker's default) or ENOSYS; without one these
	 * calls succeed or fail with ENOKEY/EDQUOT/EINVAL */
	if (r < 0 && (errno == EPERM || errno == ENOSYS || errno == EACCES)) {
		printf("%s: denied errno=%d (%s)\n", name, errno, strerrorname_np(errno));
		return 1;
	}
	if (r < 0)
		printf("%s: allowed errno=%d (%s)\n", name, errno, strerrorname_np(errno));
	else
		printf("%s: allowed result=%ld\n", name, r);
	return 0;
}

static int cmd_write(int argc, char **argv) {
	int fd;

	if (argc < 1)
		return die_usage("write: PATH missing");
	fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "ok\n", 3) != 3) {
		fprintf(stderr, "write '%s': %s\n", argv[0], strerror(errno));
		return 1;
	}
	close(fd);
	printf("wrote %s\n", argv[0]);
	return 0;
}

/* The first line of the first readable file, trimmed; NULL if none. */
static char *read_first(const char *const *paths, char *buf, size_t size) {
	for (; *paths; paths++) {
		FILE *f = fopen(*paths, "re");
		bool ok;

		if (!f)
			continue;
		ok = fgets(buf, (int)size, f) != NULL;
		fclose(f);
		if (ok) {
			buf[strcspn(buf, "\n")] = 0;
			return buf;
		}
	}
	return NULL;
}

static int cmd_cgroup(int argc, char **argv) {
	static const char *const mem_v2[] = { "/sys/fs/cgroup/memory.max", NULL };
	static const char *const mem_v1[] = { "/sys/fs/cgroup/memory/memory.limit_in_bytes", NULL };
	static const char *const pids[] = { "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max", NULL };
	static const char *const cpu_v2[] = { "/sys/fs/cgroup/cpu.max", NULL };
	static const char *const quota_v1[] = { "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
		                                "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", NULL };
	static const char *const period_v1[] = { "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
		                                 "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", NULL };
	char a[128], b[128];
	const char *v;
	uint64_t n;

	v = read_first(mem_v2, a, sizeof(a));
	if (!v) {
		v = read_first(mem_v1, a, sizeof(a));
		/* v1 says "no limit" with a huge page-rounded number */
		if (v && parse_u64(v, &n) && n >= (UINT64_C(1) << 62))
			v = "max";
	}
	printf("memory_max=%s\n", v ? v : "unknown");
	v = read_first(pids, a, sizeof(a));
	printf("pids_max=%s\n", v ? v : "unknown");
	v = read_first(cpu_v2, a, sizeof(a));
	if (v) {
		printf("cpu_max=%s\n", v);
	} else {
		const char *q = read_first(quota_v1, a, sizeof(a));
		const char *p = read_first(period_v1, b, sizeof(b));

		if (q && p)
			printf("cpu_max=%s %s\n", strcmp(q, "-1") == 0 ? "max" : q, p);
		else
			printf("cpu_max=unknown\n");
	}
	return 0;
}

static int cmd_cpu(int argc, char **argv) {
	double s, end;
	volatile uint64_t x = 0;

	if (argc < 1 || !parse_seconds(argv[0], &s))
		return die_usage("cpu: SECONDS must be a number");
	say("burning\n");
	end = now_mono() + s;
	while (s == 0 || now_mono() < end)
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005ULL + 1;
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "args", cmd_args },       { "env", cmd_env },         { "id", cmd_id },
	{ "cwd", cmd_cwd },         { "pid", cmd_pid },         { "hostname", cmd_hostname },
	{ "fds", cmd_fds },         { "exit", cmd_exit },       { "sleep", cmd_sleep },
	{ "oom", cmd_oom },         { "alloc", cmd_alloc },     { "forks", cmd_forks },
	{ "flood", cmd_flood },     { "stderr", cmd_stderr },   { "tcp", cmd_tcp },
	{ "http", cmd_http },       { "signals", cmd_signals }, { "ignore-term", cmd_ignore_term },
	{ "seccomp", cmd_seccomp }, { "write", cmd_write },     { "cgroup", cmd_cgroup },
	{ "cpu", cmd_cpu },
};

int main(int argc, char **argv) {
	if (argc < 2)
		return die_usage("a command is needed");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (strcmp(commands[i].name, argv[1]) == 0)
			return commands[i].fn(argc - 2, argv + 2);
	return die_usage("unknown command");
}
