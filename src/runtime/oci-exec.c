/* SPDX-License-Identifier: Apache-2.0 */
/* OCI exec: `runc exec --process P --pid-file F` with the container's
 * process settings and the request's overrides (bundle_exec_process), its
 * stdout and stderr on two pipes read as they fill.
 *
 * runc starts the command as the leader of a session of its own, so
 * cancelling kills that process group by the pid runc wrote (killing runc
 * would leave the command running in the container); runc then sees it die,
 * exits and is reaped. runc's own errors also go to a log file (--log, JSON
 * lines), which tells a command that could not be started (126, 127) from
 * one that exited 255. Once runc has exited, what is left in the pipes is
 * read and the rest dropped: a background child of the command that keeps
 * them open does not hold the exec. The buffered exec is the stream
 * collected. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/spawn.h"
#include "basic/strbuf.h"
#include "runtime/bundle.h"
#include "runtime/oci-internal.h"
#include "basic/banned.h"

#define EXEC_READ_CHUNK   (64 * 1024)
#define EXEC_LOG_MAX      (256 * 1024) /* runc's log of one exec */
#define EXEC_KILL_WAIT_MS 5000         /* for the pid file, then for runc to exit, before SIGKILL to runc */

/* The files of one exec in RUNTIME/containers/ID: exec-XXXXXX.{json,pid,log}. */
struct exec_files {
	char *process, *pid, *log;
};

static void exec_files_release(struct exec_files *f) {
	char *paths[] = { f->process, f->pid, f->log };

	for (size_t i = 0; i < ELEMENTSOF(paths); i++)
		if (paths[i]) {
			(void)unlink(paths[i]);
			free(paths[i]);
		}
	*f = (struct exec_files){};
}

static int exec_files_write(const char *rdir, const char *process, struct exec_files *ret, struct za_error **reterr) {
	_cleanup_free_ char *path = xasprintf("%s/exec-XXXXXX.json", rdir);
	_cleanup_close_ int fd = mkostemps(path, 5, O_CLOEXEC);
	size_t stem;

	if (fd < 0)
		return za_error_make(reterr, ZA_ERROR_INTERNAL, errno,
		                     "cannot create the exec process file in '%s': %m", rdir);
	if (loop_write(fd, process, strlen(process)) < 0) {
		int e = errno;
		(void)unlink(path);
		return za_error_make(reterr, ZA_ERROR_INTERNAL, e, "cannot write '%s': %m", path);
	}
	stem = strlen(path) - 5;
	ret->pid = xasprintf("%.*s.pid", (int)stem, path);
	ret->log = xasprintf("%.*s.log", (int)stem, path);
	ret->process = TAKE_PTR(path);
	return 0;
}

/* Exec is for running (non-WebAssembly) containers. */
static int exec_check(struct oci *o, const char *id, struct za_error **reterr) {
	struct oci_record rec = {};
	int r;

	r = oci_record_load(o, id, &rec, reterr);
	if (r < 0)
		return r;
	if (rec.wasm)
		r = za_error_make(reterr, ZA_ERROR_UNSUPPORTED, EOPNOTSUPP,
		                  "exec into container '%s' is not supported: it is a WebAssembly module, which has no "
		                  "processes to start inside",
		                  id);
	else if (!rec.started || !oci_pid_alive(rec.init_pid))
		r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, ESRCH, "container '%s' is not running", id);
	oci_record_release(&rec);
	return r;
}

/* runc's own error (the last error line of its log), or NULL: the command ran. */
static char *exec_runtime_error(const char *log_path) {
	_cleanup_free_ char *buf = NULL;
	char *msg = NULL;
	size_t len = 0;

	if (read_full_file(log_path, EXEC_LOG_MAX, &buf, &len) < 0)
		return NULL;
	for (char *line = buf, *end; line < buf + len; line = end + 1) {
		json_t *j;
		const char *m;

		end = memchr(line, '\n', (size_t)(buf + len - line));
		if (!end)
			end = buf + len;
		j = json_loadb(line, (size_t)(end - line), 0, NULL);
		m = json_string_value(json_object_get(j, "msg"));
		if (m && streq(strempty(json_string_value(json_object_get(j, "level"))), "error")) {
			free(msg);
			msg = xstrdup(m);
		}
		json_decref(j);
	}
	return msg;
}

/* Docker's codes for a command that did not start: 127 not found, 126
 * cannot be run (not executable, bad working directory, ...). */
static int exec_status(const char *log_path, int status) {
	_cleanup_free_ char *msg = status != 0 ? exec_runtime_error(log_path) : NULL;

	if (!msg)
		return status;
	log_debug("exec: the runtime failed: %s", msg);
	if (strcasestr(msg, "chdir"))
		return 126;
	if (strcasestr(msg, "executable file not found") || strcasestr(msg, "no such file or directory"))
		return 127;
	return 126;
}

static bool pidfd_exited(int pidfd) {
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	return pidfd >= 0 && poll(&p, 1, 0) > 0;
}

static void sleep_ms(unsigned ms) {
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 }, NULL);
}

/* Kill the command's process group once runc has named it; make sure runc
 * ends too. The caller reaps runc. */
static void exec_kill(const char *pid_file, pid_t runc, int runc_pidfd) {
	unsigned waited = 0;

	for (; waited < EXEC_KILL_WAIT_MS; waited += 10) {
		_cleanup_free_ char *buf = NULL;
		uint32_t pid;

		if (read_full_file(pid_file, 64, &buf, NULL) >= 0 && parse_uint32(buf, &pid) >= 0 && pid > 1) {
			log_debug("exec: killing process group %" PRIu32, pid);
			(void)kill(-(pid_t)pid, SIGKILL);
			(void)kill((pid_t)pid, SIGKILL);
			break;
		}
		if (runc_pidfd < 0 || pidfd_exited(runc_pidfd))
			break; /* no pidfd: runc gets SIGKILL below */
		sleep_ms(10);
	}
	for (waited = 0; runc_pidfd >= 0 && waited < EXEC_KILL_WAIT_MS; waited += 10) {
		if (pidfd_exited(runc_pidfd))
			return;
		sleep_ms(10);
	}
	(void)kill(runc, SIGKILL);
}

struct exec_pump {
	int fds[_EXEC_STREAM_MAX]; /* read ends, -1 at EOF */
	int pidfd;                 /* runc's, -1 when unavailable */
	const struct exec_stream_io *io;
	char *buf;
};

/* One read of stream s: 1 data, 0 nothing (EOF, EAGAIN), -ECANCELED. */
static int pump_read(struct exec_pump *p, enum exec_stream s) {
	ssize_t n = read(p->fds[s], p->buf, EXEC_READ_CHUNK);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		p->fds[s] = safe_close(p->fds[s]);
		return 0;
	}
	return p->io->output(s, p->buf, (size_t)n, p->io->userdata) < 0 ? -ECANCELED : 1;
}

/* Output until runc exits (then what the pipes hold) or, without a pidfd,
 * until both pipes end. 0, or -ECANCELED. */
static int exec_pump_run(struct exec_pump *p) {
	for (;;) {
		struct pollfd pf[_EXEC_STREAM_MAX + 2];
		enum exec_stream which[_EXEC_STREAM_MAX];
		nfds_t ns = 0, n;
		int r = 0;

		for (int s = 0; s < _EXEC_STREAM_MAX; s++)
			if (p->fds[s] >= 0) {
				which[ns] = (enum exec_stream)s;
				pf[ns++] = (struct pollfd){ .fd = p->fds[s], .events = POLLIN };
			}
		if (ns == 0 && p->pidfd < 0)
			return 0;
		n = ns;
		if (p->pidfd >= 0)
			pf[n++] = (struct pollfd){ .fd = p->pidfd, .events = POLLIN };
		if (p->io->cancel_fd >= 0)
			pf[n++] = (struct pollfd){ .fd = p->io->cancel_fd, .events = POLLIN };
		if (poll(pf, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p->io->cancel_fd >= 0 && pf[n - 1].revents)
			return -ECANCELED;
		for (nfds_t i = 0; i < ns; i++)
			if (pf[i].revents && (r = pump_read(p, which[i])) < 0)
				return r;
		if (p->pidfd >= 0 && pidfd_exited(p->pidfd)) {
			/* runc exited: its command did too; take what it left */
			for (int s = 0; s < _EXEC_STREAM_MAX; s++) {
				if (p->fds[s] >= 0)
					(void)fcntl(p->fds[s], F_SETFL, O_NONBLOCK);
				while (p->fds[s] >= 0 && (r = pump_read(p, (enum exec_stream)s)) > 0)
					;
				if (r < 0)
					return r;
			}
			return 0;
		}
	}
}

int oci_exec_stream(struct runtime *rt, const char *id, const struct exec_options *eo, const struct exec_stream_io *io,
                    int *ret_exit_code, struct za_error **reterr) {
	struct oci *o = rt->data;
	_cleanup_(exec_files_release) struct exec_files f = {};
	_cleanup_free_ char *rdir = NULL, *bundle = NULL, *process = NULL, *buf = NULL;
	_cleanup_strv_free_ char **cmd = NULL;
	_cleanup_close_ int devnull = -1, pidfd = -1;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 };
	struct za_spawn_opts so = ZA_SPAWN_OPTS_INIT;
	struct exec_pump p;
	pid_t pid;
	int r, status;

	if (!eo || !eo->argv || !eo->argv[0])
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "exec needs a command");
	r = exec_check(o, id, reterr);
	if (r < 0)
		return r;
	rdir = oci_run_dir(o, id);
	bundle = xasprintf("%s/bundle", rdir);
	r = bundle_exec_process(
	        bundle,
	        &(struct bundle_exec_options){ .argv = eo->argv, .env = eo->env, .cwd = eo->workdir, .user = eo->user },
	        &process, reterr);
	if (r < 0)
		return r;
	r = exec_files_write(rdir, process, &f, reterr);
	if (r < 0)
		return r;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		r = za_error_make(reterr, ZA_ERROR_INTERNAL, errno, "cannot set up the exec's output pipes: %m");
		goto finish;
	}
	strv_push(&cmd, o->runtime_path);
	strv_push(&cmd, "--root");
	strv_push(&cmd, o->runtime_root);
	strv_push(&cmd, "--log");
	strv_push(&cmd, f.log);
	strv_push(&cmd, "--log-format");
	strv_push(&cmd, "json");
	strv_push(&cmd, "exec");
	strv_push(&cmd, "--process");
	strv_push(&cmd, f.process);
	strv_push(&cmd, "--pid-file");
	strv_push(&cmd, f.pid);
	strv_push(&cmd, id);
	so.stdin_fd = devnull;
	so.stdout_fd = out[1];
	so.stderr_fd = err[1];
	r = za_spawn(cmd, &so, &pid);
	out[1] = safe_close(out[1]);
	err[1] = safe_close(err[1]);
	if (r < 0) {
		r = za_error_make(reterr, ZA_ERROR_INTERNAL, r, "cannot run '%s exec': %m", o->runtime_path);
		goto finish;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		log_debug("exec: no pidfd for %d (%m): reading until the pipes end", (int)pid);
	if (io->started)
		io->started(io->userdata);

	buf = xmalloc(EXEC_READ_CHUNK);
	p = (struct exec_pump){ .fds = { out[0], err[0] }, .pidfd = pidfd, .io = io, .buf = buf };
	r = exec_pump_run(&p);
	out[0] = safe_close(p.fds[EXEC_STREAM_STDOUT]);
	err[0] = safe_close(p.fds[EXEC_STREAM_STDERR]);
	if (r < 0)
		exec_kill(f.pid, pid, pidfd);
	if (za_wait(pid, &status) < 0)
		status = 255;
	if (r == -ECANCELED) {
		r = za_error_make(reterr, ZA_ERROR_INTERNAL, ECANCELED, "exec in container '%s' was cancelled", id);
		goto finish;
	}
	if (r < 0) {
		r = za_error_make(reterr, ZA_ERROR_INTERNAL, r, "reading the output of exec in container '%s': %m", id);
		goto finish;
	}
	*ret_exit_code = exec_status(f.log, status);
	r = 0;
finish:
	safe_close(out[0]);
	safe_close(out[1]);
	safe_close(err[0]);
	safe_close(err[1]);
	return r;
}

/* --- buffered ----------------------------------------------------------------- */

struct exec_collect {
	struct strbuf b[_EXEC_STREAM_MAX];
	size_t cap;
};

static int exec_collect_output(enum exec_stream s, const char *data, size_t len, void *userdata) {
	struct exec_collect *c = userdata;
	size_t room = c->cap - MIN(c->cap, c->b[s].len);

	strbuf_add(&c->b[s], data, MIN(len, room)); /* the rest is read and dropped */
	return 0;
}

int oci_exec(struct runtime *rt, const char *id, const struct exec_options *o, size_t cap, struct exec_result *ret,
             struct za_error **reterr) {
	struct exec_collect c = { .b = { STRBUF_INIT, STRBUF_INIT }, .cap = cap };
	const struct exec_stream_io io = { .output = exec_collect_output, .userdata = &c, .cancel_fd = -1 };
	int r, code = 0;

	r = oci_exec_stream(rt, id, o, &io, &code, reterr);
	if (r >= 0) {
		*ret = (struct exec_result){ .exit_code = code };
		ret->out = strbuf_detach(&c.b[EXEC_STREAM_STDOUT], &ret->out_len);
		ret->err = strbuf_detach(&c.b[EXEC_STREAM_STDERR], &ret->err_len);
	}
	strbuf_release(&c.b[EXEC_STREAM_STDOUT]);
	strbuf_release(&c.b[EXEC_STREAM_STDERR]);
	return r;
}
