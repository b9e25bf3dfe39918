/* SPDX-License-Identifier: Apache-2.0 */
#include "spawn.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "alloc.h"
#include "macro.h"
#include "strbuf.h"
#include "banned.h"

extern char **environ;

DEFINE_TRIVIAL_CLEANUP_FUNC(posix_spawn_file_actions_t *, posix_spawn_file_actions_destroy)
DEFINE_TRIVIAL_CLEANUP_FUNC(posix_spawnattr_t *, posix_spawnattr_destroy)

int za_spawn(char *const argv[], const struct za_spawn_opts *opts, pid_t *ret_pid) {
	const struct za_spawn_opts defaults = ZA_SPAWN_OPTS_INIT;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	_cleanup_(posix_spawn_file_actions_destroyp) posix_spawn_file_actions_t *fap = NULL;
	_cleanup_(posix_spawnattr_destroyp) posix_spawnattr_t *attrp = NULL;
	const int fds[3] = { opts ? opts->stdin_fd : -1, opts ? opts->stdout_fd : -1, opts ? opts->stderr_fd : -1 };
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	sigset_t all, none;
	pid_t pid;
	int r;

	if (!argv || !argv[0])
		return -EINVAL;
	if (!opts)
		opts = &defaults;

	if ((r = posix_spawn_file_actions_init(&fa)) != 0)
		return -r;
	fap = &fa;
	if ((r = posix_spawnattr_init(&attr)) != 0)
		return -r;
	attrp = &attr;

	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0 && (r = posix_spawn_file_actions_adddup2(&fa, fds[i], i)) != 0)
			return -r;
	if (opts->cwd && (r = posix_spawn_file_actions_addchdir_np(&fa, opts->cwd)) != 0)
		return -r;

	/* The child starts with default dispositions and an empty mask, whatever
	 * the agent's event loop blocked. */
	sigfillset(&all);
	sigemptyset(&none);
	if ((r = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (r = posix_spawnattr_setsigmask(&attr, &none)) != 0)
		return -r;
	if (opts->new_session)
		flags |= POSIX_SPAWN_SETSID;
	if ((r = posix_spawnattr_setflags(&attr, flags)) != 0)
		return -r;

	r = (opts->search_path ? posix_spawnp : posix_spawn)(&pid, argv[0], &fa, &attr, argv,
	                                                     opts->envp ? opts->envp : environ);
	if (r != 0)
		return -r;
	if (ret_pid)
		*ret_pid = pid;
	return 0;
}

int za_wait(pid_t pid, int *ret_status) {
	int status;

	for (;;) {
		if (waitpid(pid, &status, 0) >= 0)
			break;
		if (errno != EINTR)
			return -errno;
	}
	if (ret_status) {
		if (WIFEXITED(status))
			*ret_status = WEXITSTATUS(status);
		else if (WIFSIGNALED(status))
			*ret_status = 128 + WTERMSIG(status);
		else
			*ret_status = 255;
	}
	return 0;
}

int za_run(char *const argv[], const struct za_spawn_opts *opts, int *ret_status) {
	pid_t pid;
	int r;

	r = za_spawn(argv, opts, &pid);
	if (r < 0)
		return r;
	return za_wait(pid, ret_status);
}

int za_run_capture(char *const argv[], const struct za_spawn_opts *opts, size_t cap, char **ret_out, int *ret_status) {
	struct za_spawn_opts o = ZA_SPAWN_OPTS_INIT;
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
	_cleanup_close_ int rd = -1, wr = -1;
	int pipefd[2], r, status;
	pid_t pid;

	if (opts)
		o = *opts;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	rd = pipefd[0];
	wr = pipefd[1];
	o.stdout_fd = wr;

	r = za_spawn(argv, &o, &pid);
	if (r < 0)
		return r;
	wr = safe_close(wr);

	for (;;) {
		char buf[4096];
		ssize_t n = read(rd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		if (out.len < cap)
			strbuf_add(&out, buf, MIN((size_t)n, cap - out.len));
	}
	rd = safe_close(rd);
	if (za_wait(pid, &status) < 0 && r == 0)
		r = -ECHILD;
	if (r < 0)
		return r;
	if (ret_out)
		*ret_out = strbuf_detach(&out, NULL);
	if (ret_status)
		*ret_status = status;
	return 0;
}
