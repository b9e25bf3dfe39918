/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>

#include "basic/log.h"
#include "basic/macro.h"
#include "cli/cli.h"
#include "basic/banned.h"

static const struct cli_verb *const verbs[] = {
	&cli_verb_validate, &cli_verb_daemon, &cli_verb_ping,   &cli_verb_pull,   &cli_verb_images, &cli_verb_image,
	&cli_verb_tag,      &cli_verb_rmi,    &cli_verb_load,   &cli_verb_run,    &cli_verb_create, &cli_verb_start,
	&cli_verb_ps,       &cli_verb_logs,   &cli_verb_exec,   &cli_verb_stop,   &cli_verb_kill,   &cli_verb_rm,
	&cli_verb_inspect,  &cli_verb_stats,  &cli_verb_wait,   &cli_verb_deploy, &cli_verb_up,     &cli_verb_down,
	&cli_verb_status,   &cli_verb_scale,  &cli_verb_events, &cli_verb_wasm,   &cli_verb_info,   &cli_verb_secret,
	&cli_verb_job,      &cli_verb_cron,
};

static void print_help(void) {
	printf("zlayer-agent %s: a container runtime agent for Linux nodes\n\n"
	       "Usage: zlayer-agent [--version] [--help] COMMAND [ARGS...]\n\n"
	       "Commands:\n",
	       ZA_VERSION);
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (!verbs[i]->hidden)
			printf("  %-12s %s\n", verbs[i]->name, verbs[i]->summary);
	printf("  %-12s %s\n", "help", "show help for a command");
	printf("\nRun 'zlayer-agent COMMAND --help' for a command's options.\n"
	       "Environment: ZLAYER_LOG_LEVEL (error..debug), ZLAYER_LOG_FORMAT (text, json).\n");
}

static const struct cli_verb *find_verb(const char *name) {
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(verbs[i]->name, name))
			return verbs[i];
	return NULL;
}

int cli_wants_help(int argc, char *argv[]) {
	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--"))
			return 0;
		if (streq(argv[i], "-h") || streq(argv[i], "--help"))
			return 1;
	}
	return 0;
}

int main(int argc, char *argv[]) {
	const struct cli_verb *verb;

	log_setup("zlayer-agent");

	if (argc < 2) {
		print_help();
		return CLI_EXIT_USAGE;
	}
	if (streq(argv[1], "--version") || streq(argv[1], "version")) {
		printf("zlayer-agent %s\n", ZA_VERSION);
		return CLI_EXIT_OK;
	}
	if (streq(argv[1], "--help") || streq(argv[1], "-h")) {
		print_help();
		return CLI_EXIT_OK;
	}
	if (streq(argv[1], "help")) {
		if (argc < 3) {
			print_help();
			return CLI_EXIT_OK;
		}
		verb = find_verb(argv[2]);
		if (!verb) {
			log_error("unknown command '%s'; run 'zlayer-agent --help' for the list", argv[2]);
			return CLI_EXIT_USAGE;
		}
		fputs(verb->usage, stdout);
		return CLI_EXIT_OK;
	}
	if (argv[1][0] == '-') {
		log_error("unknown option '%s'; run 'zlayer-agent --help'", argv[1]);
		return CLI_EXIT_USAGE;
	}
	verb = find_verb(argv[1]);
	if (!verb) {
		log_error("unknown command '%s'; run 'zlayer-agent --help' for the list", argv[1]);
		return CLI_EXIT_USAGE;
	}
	if (!verb->own_help && cli_wants_help(argc - 1, argv + 1)) {
		fputs(verb->usage, stdout);
		return CLI_EXIT_OK;
	}
	return verb->run(argc - 1, argv + 1);
}
