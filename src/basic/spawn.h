/* SPDX-License-Identifier: Apache-2.0 */
/* The one way the agent starts a program: posix_spawn with explicit stdio,
 * environment, working directory and session, plus waiting and capturing.
 * Nothing here goes through a shell. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct za_spawn_opts {
	int stdin_fd;  /* -1: inherit; otherwise dup2'd to 0 */
	int stdout_fd; /* -1: inherit */
	int stderr_fd; /* -1: inherit */
	char **envp;   /* NULL: inherit */
	const char *cwd;
	bool new_session; /* setsid() in the child */
	bool search_path; /* look argv[0] up in $PATH */
};

#define ZA_SPAWN_OPTS_INIT \
	{ .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .search_path = true }

int za_spawn(char *const argv[], const struct za_spawn_opts *opts, pid_t *ret_pid);
/* Wait for pid; *ret_status is the exit code, or 128+signal if killed. */
int za_wait(pid_t pid, int *ret_status);
/* Spawn and wait. */
int za_run(char *const argv[], const struct za_spawn_opts *opts, int *ret_status);
/* Spawn with stdout captured (at most `cap` bytes kept, the rest drained),
 * stderr inherited unless opts says otherwise, and wait. */
int za_run_capture(char *const argv[], const struct za_spawn_opts *opts, size_t cap, char **ret_out, int *ret_status);
