/* SPDX-License-Identifier: Apache-2.0 */
/* The zlayer-agent command line: one binary, subcommands ("verbs"). Each
 * verb parses its own options and returns the process exit code. */
#pragma once

#include <stdbool.h>

struct cli_verb {
	const char *name;
	const char *summary;
	const char *usage; /* full --help text of the verb */
	int (*run)(int argc, char *argv[]);
	bool hidden;   /* works, but not listed in --help */
	bool own_help; /* parses -h itself: its operands may carry their own -h (run IMAGE ARGS, exec ID CMD) */
};

/* Exit codes shared by all verbs. */
#define CLI_EXIT_OK      0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE   2

extern const struct cli_verb cli_verb_validate;
extern const struct cli_verb cli_verb_daemon;
extern const struct cli_verb cli_verb_ping;
extern const struct cli_verb cli_verb_pull;
extern const struct cli_verb cli_verb_load;
extern const struct cli_verb cli_verb_images;
extern const struct cli_verb cli_verb_image;
extern const struct cli_verb cli_verb_tag;
extern const struct cli_verb cli_verb_rmi;
/* Containers (cli-run.c, cli-containers.c). */
extern const struct cli_verb cli_verb_run;
extern const struct cli_verb cli_verb_create;
extern const struct cli_verb cli_verb_start;
extern const struct cli_verb cli_verb_ps;
extern const struct cli_verb cli_verb_logs;
extern const struct cli_verb cli_verb_exec;
extern const struct cli_verb cli_verb_stop;
extern const struct cli_verb cli_verb_kill;
extern const struct cli_verb cli_verb_rm;
extern const struct cli_verb cli_verb_inspect;
extern const struct cli_verb cli_verb_stats;
extern const struct cli_verb cli_verb_wait;
/* Deployments (cli-deploy.c). */
extern const struct cli_verb cli_verb_deploy;
extern const struct cli_verb cli_verb_up;
extern const struct cli_verb cli_verb_down;
extern const struct cli_verb cli_verb_status;
extern const struct cli_verb cli_verb_scale;
extern const struct cli_verb cli_verb_events;
extern const struct cli_verb cli_verb_wasm;
extern const struct cli_verb cli_verb_info;
extern const struct cli_verb cli_verb_metrics;
/* Secrets (cli-secrets.c). */
extern const struct cli_verb cli_verb_secret;
/* Jobs and crons (cli-jobs.c). */
extern const struct cli_verb cli_verb_job;
extern const struct cli_verb cli_verb_cron;

/* True when argv has -h/--help before "--". */
int cli_wants_help(int argc, char *argv[]);
