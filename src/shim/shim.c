/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-shim: the per-container monitor. The agent runs it; it detaches
 * (fork, parent exits, setsid, child subreaper), runs `RUNTIME create` so
 * the container's init becomes its child, reports "ok SHIM INIT" or
 * "error MSG" on the inherited stdout, turns the container's output into
 * JSON-lines logs, writes STATE/exit.json when the init is reaped and exits
 * when the agent writes "collected" to STATE/control. The full contract is
 * in shim-protocol.h.
 *
 * One poll loop (signalfd SIGCHLD, control FIFO, stdout/stderr pipes or the
 * pty master) drives this state x event table:
 *   CREATING  runtime exited 0      -> report ok, RUNNING
 *             runtime failed        -> runtime delete -f, report error, exit 1
 *   RUNNING   init reaped           -> DRAINING (until pipes EOF or timeout)
 *   DRAINING  pipes EOF / deadline  -> write exit.json, EXITED
 *   EXITED    "collected"           -> exit 0
 *   any       "reopen-logs"         -> reopen the log file
 *   any       other child reaped    -> nothing more (subreaper duty)
 * Libc only, linked statically: its RSS stays well under 1 MiB. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/macro.h"
#include "shim/shim-cgroup.h"
#include "shim/shim-log.h"
#include "shim/shim-protocol.h"
#include "shim/shim-util.h"
#include "basic/banned.h"

#define CGROUP_ROOT        "/sys/fs/cgroup"
#define CONSOLE_TIMEOUT_MS 5000
#define CONTROL_LINE_MAX   256

struct shim_args {
	const char *id, *bundle, *state_dir, *runtime, *log_file, *runtime_root;
	uint64_t log_max_size;
	unsigned log_max_files;
	bool tty, systemd_cgroup, start;
};

enum shim_state {
	SHIM_CREATING,
	SHIM_RUNNING,
	SHIM_DRAINING,
	SHIM_EXITED,
};

struct shim {
	struct shim_args a;
	enum shim_state state;
	int report_fd, sig_fd, ctl_fd, null_fd, console_fd;
	pid_t create_pid, init_pid;
	struct shim_log log;
	struct shim_stream out, err;
	struct shim_oom oom;
	/* CREATING: the tail of what the runtime printed, for "error" */
	char *capture;
	size_t capture_len;
	int init_status;
	struct timespec finished;
	int64_t drain_deadline_ms;
	char ctl[CONTROL_LINE_MAX];
	size_t ctl_len;
	bool ctl_skip; /* inside an overlong control line */
};

static const char usage[] = "usage: zlayer-shim --id ID --bundle DIR --state-dir DIR --runtime PATH --log-file PATH "
                            "[--log-max-size BYTES] [--log-max-files N] [--tty] [--runtime-root DIR] "
                            "[--systemd-cgroup] [--start]";

static const char *errstr(int e) {
	const char *s = strerrordesc_np(e < 0 ? -e : e);
	return s ? s : "unknown error";
}

static int64_t now_ms(void) {
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the report line ------------------------------------------------------------ */

/* One line: control characters become spaces, runs of them collapse, the
 * ends are trimmed, the length is capped on a UTF-8 boundary. */
static size_t one_line(char *dst, size_t cap, const char *src, size_t n) {
	size_t k = 0;
	bool space = true;

	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c < 0x20 || c == 0x7f || c == ' ') {
			if (!space)
				dst[k++] = ' ';
			space = true;
			continue;
		}
		dst[k++] = (char)c;
		space = false;
	}
	if (k + 1 >= cap) {
		/* drop a UTF-8 sequence the cap cut short */
		size_t start = k;
		while (start > 0 && k - start < 4 && ((unsigned char)dst[start - 1] & 0xC0) == 0x80)
			start--;
		if (start > 0 && (unsigned char)dst[start - 1] >= 0xC0) {
			unsigned char lead = (unsigned char)dst[start - 1];
			size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
			if (k - (start - 1) < need)
				k = start - 1;
		}
	}
	while (k > 0 && dst[k - 1] == ' ')
		k--;
	dst[k] = '\0';
	return k;
}

static void report(struct shim *s, const char *word, const char *text, size_t n) {
	char line[SHIM_ERROR_MAX + 16];
	size_t k;

	if (s->report_fd < 0)
		return;
	k = (size_t)snprintf(line, sizeof(line), "%s ", word);
	k += one_line(line + k, MIN(sizeof(line) - k - 1, (size_t)SHIM_ERROR_MAX + 1), text, n);
	line[k++] = '\n';
	(void)shim_write_all(s->report_fd, line, k);
	s->report_fd = safe_close(s->report_fd);
}

static void report_errorf(struct shim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_errorf(struct shim *s, const char *fmt, ...) {
	char msg[SHIM_ERROR_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(s, SHIM_REPORT_ERROR, msg, n < 0 ? 0 : MIN((size_t)n, sizeof(msg) - 1));
}

/* runc logs `time="..." level=error msg="runc create failed: ..."`: the
 * last error's msg, unquoted, else the last non-empty line. */
static void runtime_error(const char *buf, size_t n, char *dst, size_t cap) {
	const char *best = NULL, *last = NULL;
	size_t best_len = 0, last_len = 0;

	for (size_t i = 0; i < n;) {
		const char *line = buf + i, *end = memchr(line, '\n', n - i), *m;
		size_t len = end ? (size_t)(end - line) : n - i;

		if (len > 0 && memmem(line, len, "level=error", 11) && (m = memmem(line, len, "msg=\"", 5))) {
			best = m + 5;
			best_len = len - (size_t)(best - line);
		} else if (len > 0) {
			last = line;
			last_len = len;
		}
		i += len + 1;
	}
	if (best) {
		size_t k = 0;
		for (size_t i = 0; i < best_len && k + 1 < cap; i++) {
			char c = best[i];
			if (c == '"')
				break;
			if (c == '\\' && i + 1 < best_len) {
				c = best[++i];
				if (c == 'n' || c == 't')
					c = ' ';
			}
			dst[k++] = c;
		}
		dst[k] = '\0';
		return;
	}
	one_line(dst, cap, last ? last : "", last_len);
}

/* --- arguments ------------------------------------------------------------------ */

static bool option_takes_value(const char *name) {
	static const char *const names[] = { "--id",       "--bundle",       "--state-dir",    "--runtime",
		                             "--log-file", "--runtime-root", "--log-max-size", "--log-max-files" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (streq(name, names[i]))
			return true;
	return false;
}

static int parse_args(int argc, char **argv, struct shim_args *a, char *err, size_t errcap) {
	const char *opt = "";

	*a = (struct shim_args){ .log_max_files = SHIM_LOG_MAX_FILES_DEFAULT };

	for (int i = 1; i < argc; i++) {
		const char *eq = strchr(argv[i], '='), *val = NULL;
		size_t nlen = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
		char name[32];
		uint64_t v;

		opt = argv[i];
		if (nlen >= sizeof(name) || !strneq(opt, "--", 2))
			goto unknown;
		memcpy(name, opt, nlen);
		name[nlen] = '\0';
		if (streq(name, "--tty") || streq(name, "--systemd-cgroup") || streq(name, "--start")) {
			if (eq)
				goto unknown;
			*(streq(name, "--tty")     ? &a->tty
			  : streq(name, "--start") ? &a->start
			                           : &a->systemd_cgroup) = true;
			continue;
		}
		if (streq(name, "--help")) {
			snprintf(err, errcap, "%s", usage);
			return 1;
		}
		if (!option_takes_value(name))
			goto unknown;
		val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!val) {
			snprintf(err, errcap, "option '%s' needs a value", name);
			return -EINVAL;
		}
		if (streq(name, "--id"))
			a->id = val;
		else if (streq(name, "--bundle"))
			a->bundle = val;
		else if (streq(name, "--state-dir"))
			a->state_dir = val;
		else if (streq(name, "--runtime"))
			a->runtime = val;
		else if (streq(name, "--log-file"))
			a->log_file = val;
		else if (streq(name, "--runtime-root"))
			a->runtime_root = val;
		else if (streq(name, "--log-max-size")) {
			if (shim_parse_u64(val, &a->log_max_size) < 0) {
				snprintf(err, errcap, "invalid --log-max-size '%s' (expected bytes)", val);
				return -EINVAL;
			}
		} else if (streq(name, "--log-max-files")) {
			if (shim_parse_u64(val, &v) < 0 || v < 1 || v > SHIM_LOG_MAX_FILES_MAX) {
				snprintf(err, errcap, "invalid --log-max-files '%s' (expected 1..%d)", val,
				         SHIM_LOG_MAX_FILES_MAX);
				return -EINVAL;
			}
			a->log_max_files = (unsigned)v;
		} else
			goto unknown;
	}
	if (!a->id || !a->bundle || !a->state_dir || !a->runtime || !a->log_file) {
		snprintf(err, errcap, "missing option; %s", usage);
		return -EINVAL;
	}
	if (!*a->id || strchr(a->id, '/') || strlen(a->id) > 1024) {
		snprintf(err, errcap, "invalid container id '%.64s'", a->id);
		return -EINVAL;
	}
	const char *paths[] = { a->bundle, a->state_dir, a->log_file, a->runtime_root };
	for (size_t i = 0; i < ELEMENTSOF(paths); i++)
		if (paths[i] && (paths[i][0] != '/' || strlen(paths[i]) >= PATH_MAX - 32)) {
			snprintf(err, errcap, "path '%.256s' must be absolute (the shim runs in '/')", paths[i]);
			return -EINVAL;
		}
	return 0;
unknown:
	snprintf(err, errcap, "unknown option '%.64s'; %s", opt, usage);
	return -EINVAL;
}

/* --- running the runtime ---------------------------------------------------------- */

/* RUNTIME [--root R] [--systemd-cgroup] then `tail`. */
static void runtime_argv(const struct shim_args *a, const char *const *tail, const char **argv, size_t cap) {
	size_t n = 0;

	argv[n++] = a->runtime;
	if (a->runtime_root) {
		argv[n++] = "--root";
		argv[n++] = a->runtime_root;
	}
	if (a->systemd_cgroup)
		argv[n++] = "--systemd-cgroup";
	for (; *tail && n + 1 < cap; tail++)
		argv[n++] = *tail;
	argv[n] = NULL;
}

static pid_t spawn(struct shim *s, const char **argv, int out_fd, int err_fd) {
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigset_t none;
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)signal(SIGPIPE, SIG_DFL);
	if (dup2(s->null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
	execvp(argv[0], (char **)argv);
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "cannot run the runtime '%s': %s\n", argv[0], errstr(errno));
	(void)shim_write_all(STDERR_FILENO, msg, (size_t)MIN(n, (int)sizeof(msg) - 1));
	_exit(127);
}

static void runtime_delete(struct shim *s) {
	const char *tail[] = { "delete", "-f", s->a.id, NULL }, *argv[16];
	int status;
	pid_t pid;

	runtime_argv(&s->a, tail, argv, ELEMENTSOF(argv));
	pid = spawn(s, argv, s->null_fd, s->null_fd);
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
}

static _noreturn_ void fail_create(struct shim *s, const char *msg) {
	runtime_delete(s);
	report(s, SHIM_REPORT_ERROR, msg, strlen(msg));
	exit(SHIM_EXIT_FAILURE);
}

/* Keep the last SHIM_ERROR_MAX bytes: runc's error comes last. */
static void capture_append(struct shim *s, const char *p, size_t n) {
	if (n >= SHIM_ERROR_MAX) {
		p += n - SHIM_ERROR_MAX;
		n = SHIM_ERROR_MAX;
	}
	if (s->capture_len + n > SHIM_ERROR_MAX) {
		size_t drop = s->capture_len + n - SHIM_ERROR_MAX;
		memmove(s->capture, s->capture + drop, s->capture_len - drop);
		s->capture_len -= drop;
	}
	memcpy(s->capture + s->capture_len, p, n);
	s->capture_len += n;
}

/* While the runtime runs. With --start the container runs too and shares
 * the pipes: what they carry is also its output, logged as it comes. */
static void capture_drain(struct shim *s, struct shim_stream *st) {
	char buf[1024];
	ssize_t n;

	while (st->fd >= 0 && ((n = read(st->fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0) {
			capture_append(s, buf, (size_t)n);
			if (s->a.start) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				(void)shim_stream_feed(st, &s->log, buf, (size_t)n, &ts);
			}
		}
}

/* The pty master runc sends over the console socket (SCM_RIGHTS). */
static int console_receive(int listen_fd) {
	struct pollfd p = { .fd = listen_fd, .events = POLLIN };
	char data[256], ctl[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	_cleanup_close_ int conn = -1;
	int master = -1;

	if (poll(&p, 1, CONSOLE_TIMEOUT_MS) <= 0)
		return -ETIMEDOUT;
	conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return -errno;
	if (recvmsg(conn, &mh, MSG_CMSG_CLOEXEC) < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (master < 0)
				master = fd;
			else
				close(fd);
		}
	}
	return master >= 0 ? master : -EBADMSG;
}

static void reap_children(struct shim *s);

static void handle_create_exit(struct shim *s, int status) {
	char msg[SHIM_ERROR_MAX], buf[32], *path;
	uint64_t pid;
	ssize_t n;

	capture_drain(s, &s->out);
	capture_drain(s, &s->err);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		runtime_error(s->capture, s->capture_len, msg, sizeof(msg));
		if (!msg[0])
			snprintf(msg, sizeof(msg), "runtime '%s' create failed with %s %d", s->a.runtime,
			         WIFEXITED(status) ? "exit status" : "signal",
			         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		fail_create(s, msg);
	}
	path = shim_concat(s->a.state_dir, "/" SHIM_FILE_INIT, NULL);
	n = path ? shim_read_file(path, buf, sizeof(buf)) : -ENOMEM;
	free(path);
	if (n < 0 || shim_parse_u64(buf, &pid) < 0 || pid < 1 || pid > INT_MAX) {
		snprintf(msg, sizeof(msg), "cannot read the init pid from '%s/%s': %s", s->a.state_dir, SHIM_FILE_INIT,
		         n < 0 ? errstr((int)n) : "not a pid");
		fail_create(s, msg);
	}
	s->init_pid = (pid_t)pid;
	if (s->a.tty) {
		int master = console_receive(s->console_fd);
		if (master < 0) {
			snprintf(msg, sizeof(msg), "no terminal from the runtime on the console socket: %s",
			         errstr(master));
			fail_create(s, msg);
		}
		(void)fcntl(master, F_SETFL, O_NONBLOCK);
		safe_close(s->out.fd);
		s->out.fd = master;
		s->console_fd = safe_close(s->console_fd);
		path = shim_concat(s->a.state_dir, "/" SHIM_FILE_CONSOLE, NULL);
		if (path)
			(void)unlink(path);
		free(path);
	}
	(void)shim_oom_open(&s->oom, CGROUP_ROOT, s->init_pid);
	free(s->capture);
	s->capture = NULL;
	s->state = SHIM_RUNNING;
	n = snprintf(msg, sizeof(msg), "%d %d", (int)getpid(), (int)s->init_pid);
	report(s, SHIM_REPORT_OK, msg, (size_t)n);
	/* the init may have died already, its SIGCHLD consumed */
	reap_children(s);
}

/* --- exit --------------------------------------------------------------------------- */

static void reap_children(struct shim *s) {
	int status;
	pid_t pid;

	if (s->state == SHIM_CREATING) {
		/* only the runtime: the init's pid is not known yet */
		pid = waitpid(s->create_pid, &status, WNOHANG);
		if (pid == s->create_pid)
			handle_create_exit(s, status);
		return;
	}
	if (s->state == SHIM_RUNNING) {
		/* read the OOM counter while the init is a zombie: whoever runs
		 * `runc delete` waits for it to be reaped before removing the
		 * cgroup */
		siginfo_t si = {};
		if (waitid(P_PID, (id_t)s->init_pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == s->init_pid)
			shim_oom_update(&s->oom);
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != s->init_pid || s->state != SHIM_RUNNING)
			continue;
		(void)clock_gettime(CLOCK_REALTIME, &s->finished);
		shim_oom_update(&s->oom);
		s->init_status = status;
		s->state = SHIM_DRAINING;
		s->drain_deadline_ms = now_ms() + SHIM_DRAIN_TIMEOUT_MS;
	}
}

static int write_exit(struct shim *s) {
	char when[SHIM_TIME_MAX], buf[512];
	int code, sig = 0, n;

	if (WIFSIGNALED(s->init_status)) {
		sig = WTERMSIG(s->init_status);
		code = 128 + sig;
	} else
		code = WEXITSTATUS(s->init_status);
	shim_format_time(when, &s->finished);
	n = snprintf(buf, sizeof(buf),
	             "{\"" SHIM_EXIT_CODE "\":%d,\"" SHIM_EXIT_SIGNAL "\":%d,\"" SHIM_EXIT_OOM
	             "\":%s,\"" SHIM_EXIT_FINISHED "\":\"%s\",\"" SHIM_EXIT_FINISHED_NS "\":%lld}\n",
	             code, sig, shim_oom_killed(&s->oom) ? "true" : "false", when,
	             (long long)s->finished.tv_sec * 1000000000LL + s->finished.tv_nsec);
	return shim_write_file_atomic(s->a.state_dir, SHIM_FILE_EXIT, buf, (size_t)n);
}

static void flush_streams(struct shim *s) {
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)shim_stream_flush(&s->out, &s->log, &ts);
	(void)shim_stream_flush(&s->err, &s->log, &ts);
}

static void maybe_finish(struct shim *s) {
	if (s->state != SHIM_DRAINING)
		return;
	if ((s->out.fd >= 0 || s->err.fd >= 0) && now_ms() < s->drain_deadline_ms)
		return;
	/* partial lines are complete as far as this exit goes */
	flush_streams(s);
	if (write_exit(s) < 0) {
		s->drain_deadline_ms = now_ms() + 1000; /* try again */
		return;
	}
	shim_oom_close(&s->oom);
	s->state = SHIM_EXITED;
}

/* --- control ------------------------------------------------------------------------ */

static void control_line(struct shim *s, const char *line) {
	if (streq(line, SHIM_CMD_REOPEN_LOGS))
		(void)shim_log_reopen(&s->log);
	else if (streq(line, SHIM_CMD_COLLECTED) && s->state == SHIM_EXITED) {
		flush_streams(s);
		exit(SHIM_EXIT_OK);
	}
}

static void control_read(struct shim *s) {
	for (;;) {
		ssize_t n = read(s->ctl_fd, s->ctl + s->ctl_len, sizeof(s->ctl) - s->ctl_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s->ctl_len += (size_t)n;
		char *nl;
		while ((nl = memchr(s->ctl, '\n', s->ctl_len))) {
			size_t len = (size_t)(nl - s->ctl);
			*nl = '\0';
			if (len > 0 && s->ctl[len - 1] == '\r')
				s->ctl[len - 1] = '\0';
			if (!s->ctl_skip)
				control_line(s, s->ctl);
			s->ctl_skip = false;
			memmove(s->ctl, nl + 1, s->ctl_len - len - 1);
			s->ctl_len -= len + 1;
		}
		if (s->ctl_len == sizeof(s->ctl)) {
			s->ctl_skip = true; /* overlong: ignore up to the next newline */
			s->ctl_len = 0;
		}
	}
}

/* --- setup -------------------------------------------------------------------------- */

static int setup(struct shim *s, char *err, size_t errcap) {
	const char *a_state = s->a.state_dir;
	_cleanup_free_ char *fifo = shim_concat(a_state, "/" SHIM_FILE_CONTROL, NULL);
	_cleanup_free_ char *initp = shim_concat(a_state, "/" SHIM_FILE_INIT, NULL);
	_cleanup_free_ char *exitp = shim_concat(a_state, "/" SHIM_FILE_EXIT, NULL);
	char buf[32];
	int r, n;

	if (!fifo || !initp || !exitp)
		return -ENOMEM;
	if (mkdir(a_state, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errcap, "cannot create the state directory '%s': %s", a_state, errstr(r));
		return r;
	}
	(void)unlink(initp);
	(void)unlink(exitp);
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	r = shim_write_file_atomic(a_state, SHIM_FILE_PID, buf, (size_t)n);
	if (r < 0) {
		snprintf(err, errcap, "cannot write '%s/%s': %s", a_state, SHIM_FILE_PID, errstr(r));
		return r;
	}
	(void)unlink(fifo);
	if (mkfifo(fifo, 0600) < 0 || (s->ctl_fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errcap, "cannot create the control FIFO '%s': %s", fifo, errstr(r));
		return r;
	}
	r = shim_log_open(&s->log, s->a.log_file, s->a.log_max_size, s->a.log_max_files);
	if (r < 0) {
		snprintf(err, errcap, "cannot open the log file '%s': %s", s->a.log_file, errstr(r));
		return r;
	}
	if (s->a.tty) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", a_state, SHIM_FILE_CONSOLE) >=
		    sizeof(sa.sun_path)) {
			snprintf(err, errcap,
			         "state directory '%s' is too long for a console socket path (%zu bytes at most); use "
			         "a shorter one",
			         a_state, sizeof(sa.sun_path) - sizeof(SHIM_FILE_CONSOLE) - 1);
			return -ENAMETOOLONG;
		}
		(void)unlink(sa.sun_path);
		s->console_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s->console_fd < 0 || bind(s->console_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(s->console_fd, 1) < 0) {
			r = -errno;
			snprintf(err, errcap, "cannot listen on '%s': %s", sa.sun_path, errstr(r));
			return r;
		}
	}
	return 0;
}

static int start_create(struct shim *s, char *err, size_t errcap) {
	_cleanup_free_ char *pidfile = shim_concat(s->a.state_dir, "/" SHIM_FILE_INIT, NULL);
	_cleanup_free_ char *sock = shim_concat(s->a.state_dir, "/" SHIM_FILE_CONSOLE, NULL);
	_cleanup_close_ int out_w = -1, err_w = -1;
	const char *argv[24];
	int p[2], r;

	if (!pidfile || !sock)
		return -ENOMEM;
	const char *tail[] = { s->a.start ? "run" : "create",
		               s->a.start ? "--detach" : "--bundle",
		               s->a.start ? "--bundle" : s->a.bundle,
		               s->a.start ? s->a.bundle : "--pid-file",
		               s->a.start ? "--pid-file" : pidfile,
		               s->a.start ? pidfile : (s->a.tty ? "--console-socket" : s->a.id),
		               s->a.start ? (s->a.tty ? "--console-socket" : s->a.id) : (s->a.tty ? sock : NULL),
		               s->a.start ? (s->a.tty ? sock : NULL) : (s->a.tty ? s->a.id : NULL),
		               s->a.start && s->a.tty ? s->a.id : NULL,
		               NULL };
	/* the container's stdio, read ends non-blocking (the write ends stay
	 * blocking: they are separate open file descriptions) */
	for (int i = 0; i < 2; i++) {
		if (pipe2(p, O_CLOEXEC) < 0) {
			r = -errno;
			snprintf(err, errcap, "cannot create a pipe: %s", errstr(r));
			return r;
		}
		(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
		shim_stream_init(i == 0 ? &s->out : &s->err, i == 0 ? SHIM_STREAM_STDOUT : SHIM_STREAM_STDERR, p[0]);
		*(i == 0 ? &out_w : &err_w) = p[1];
	}
	s->capture = malloc(SHIM_ERROR_MAX);
	if (!s->capture)
		return -ENOMEM;
	runtime_argv(&s->a, tail, argv, ELEMENTSOF(argv));
	s->create_pid = spawn(s, argv, out_w, err_w);
	if (s->create_pid < 0) {
		r = -errno;
		snprintf(err, errcap, "cannot fork: %s", errstr(r));
		return r;
	}
	return 0;
}

/* --- the loop ----------------------------------------------------------------------- */

static _noreturn_ void run(struct shim *s) {
	for (;;) {
		struct pollfd p[4] = {
			{ .fd = s->sig_fd, .events = POLLIN },
			{ .fd = s->ctl_fd, .events = POLLIN },
			{ .fd = s->out.fd, .events = POLLIN },
			{ .fd = s->err.fd, .events = POLLIN },
		};
		int timeout = -1;

		if (s->state == SHIM_DRAINING)
			timeout = (int)MAX(0, MIN(s->drain_deadline_ms - now_ms(), (int64_t)SHIM_DRAIN_TIMEOUT_MS));
		if (poll(p, ELEMENTSOF(p), timeout) < 0 && errno != EINTR)
			exit(SHIM_EXIT_FAILURE);
		if (p[0].revents) {
			struct signalfd_siginfo si;
			while (read(s->sig_fd, &si, sizeof(si)) == sizeof(si))
				;
			reap_children(s);
		}
		if (p[1].revents)
			control_read(s);
		for (int i = 0; i < 2; i++) {
			struct shim_stream *st = i == 0 ? &s->out : &s->err;
			if (!(p[2 + i].revents) || st->fd < 0)
				continue;
			if (s->state == SHIM_CREATING)
				capture_drain(s, st);
			else
				/* bounded: one pass per stream per round */
				for (int k = 0; k < 16 && shim_stream_read(st, &s->log) > 0; k++)
					;
		}
		maybe_finish(s);
	}
}

int main(int argc, char **argv) {
	struct shim s = { .report_fd = STDOUT_FILENO, .sig_fd = -1, .ctl_fd = -1, .null_fd = -1, .console_fd = -1 };
	char err[SHIM_ERROR_MAX];
	sigset_t mask;
	pid_t pid;
	int r;

	(void)close_range(3, ~0U, 0);
	r = parse_args(argc, argv, &s.a, err, sizeof(err));
	if (r > 0) {
		(void)shim_write_all(STDOUT_FILENO, err, strlen(err));
		(void)shim_write_all(STDOUT_FILENO, "\n", 1);
		return SHIM_EXIT_OK;
	}
	if (r < 0) {
		report(&s, SHIM_REPORT_ERROR, err, strlen(err));
		return SHIM_EXIT_USAGE;
	}
	shim_stream_init(&s.out, SHIM_STREAM_STDOUT, -1);
	shim_stream_init(&s.err, SHIM_STREAM_STDERR, -1);

	/* Detach: the agent's waitpid returns now, the child lives on in its
	 * own session as the subreaper of everything the runtime leaves. */
	pid = fork();
	if (pid < 0) {
		report_errorf(&s, "cannot fork the shim: %s", errstr(errno));
		return SHIM_EXIT_FAILURE;
	}
	if (pid > 0)
		_exit(SHIM_EXIT_OK);
	(void)setsid();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		report_errorf(&s, "cannot become a child subreaper: %s", errstr(errno));
		return SHIM_EXIT_FAILURE;
	}
	s.report_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	s.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (s.report_fd < 0 || s.null_fd < 0 || dup2(s.null_fd, STDIN_FILENO) < 0 ||
	    dup2(s.null_fd, STDOUT_FILENO) < 0 || dup2(s.null_fd, STDERR_FILENO) < 0 || chdir("/") < 0) {
		if (s.report_fd < 0)
			s.report_fd = STDOUT_FILENO;
		report_errorf(&s, "cannot set up the shim's stdio: %s", errstr(errno));
		return SHIM_EXIT_FAILURE;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (s.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		report_errorf(&s, "cannot watch SIGCHLD: %s", errstr(errno));
		return SHIM_EXIT_FAILURE;
	}
	r = setup(&s, err, sizeof(err));
	if (r >= 0)
		r = start_create(&s, err, sizeof(err));
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, sizeof(err), "out of memory");
		report(&s, SHIM_REPORT_ERROR, err, strlen(err));
		return SHIM_EXIT_FAILURE;
	}
	run(&s);
}
