/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>

#include "basic/log.h"
#include "basic/macro.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "basic/banned.h"

static const struct cli_verb *const verbs[] = {
	&cli_verb_validate, &cli_verb_daemon, &cli_verb_ping,   &cli_verb_pull,   &cli_verb_images, &cli_verb_image,
	&cli_verb_tag,      &cli_verb_rmi,    &cli_verb_load,   &cli_verb_run,    &cli_verb_create, &cli_verb_start,
	&cli_verb_ps,       &cli_verb_logs,   &cli_verb_exec,   &cli_verb_stop,   &cli_verb_kill,   &cli_verb_rm,
	&cli_verb_inspect,  &cli_verb_stats,  &cli_verb_wait,   &cli_verb_deploy, &cli_verb_up,     &cli_verb_down,
	&cli_verb_status,   &cli_verb_scale,  &cli_verb_events, &cli_verb_wasm,   &cli_verb_info,   &cli_verb_secret,
	&cli_verb_metrics,  &cli_verb_job,    &cli_verb_cron,
};

static void print_help(void) {
	printf("zlayer-agent %s: a container runtime agent for Linux nodes\n\n"
	       "Usage: zlayer-agent [--host URL] [--token-file FILE] [--version] [--help] COMMAND [ARGS...]\n\n"
	       "Global options (before the command):\n"
	       "  --host URL         the daemon: unix:///PATH or tcp://HOST:PORT (default $ZLAYER_HOST, else\n"
	       "                     the socket $ZLAYER_RUNTIME_DIR/agent.sock, /run/zlayer/agent.sock)\n"
	       "  --token-file FILE  the API token for tcp:// (default $ZLAYER_TOKEN, else the file\n"
	       "                     $ZLAYER_TOKEN_FILE; the daemon keeps it in ROOT/api-token)\n\n"
	       "Commands:\n",
	       ZA_VERSION);
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (!verbs[i]->hidden)
			printf("  %-12s %s\n", verbs[i]->name, verbs[i]->summary);
	printf("  %-12s %s\n", "help", "show help for a command");
	printf("\nRun 'zlayer-agent COMMAND --help' for a command's options.\n"
	       "Environment: ZLAYER_HOST, ZLAYER_TOKEN, ZLAYER_TOKEN_FILE, ZLAYER_RUNTIME_DIR,\n"
	       "ZLAYER_LOG_LEVEL (error..debug), ZLAYER_LOG_FORMAT (text, json).\n");
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

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value, or NULL when
 * argv[*i] is another option; *i moves past what was used. */
static const char *global_option(int argc, char *argv[], int *i, const char *name, bool *missing) {
	size_t n = strlen(name);

	if (!strneq(argv[*i], name, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[(*i)++] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	*i += 2;
	return argv[*i - 1];
}

int main(int argc, char *argv[]) {
	const struct cli_verb *verb;
	int i = 1;

	log_setup("zlayer-agent");

	/* Global options come before the command; a command's own options
	 * (daemon --token-file) come after it. */
	while (i < argc && argv[i][0] == '-') {
		const char *v;
		bool missing = false;

		if ((v = global_option(argc, argv, &i, "--host", &missing))) {
			if (isempty(v)) {
				log_error("--host wants unix:///PATH or tcp://HOST:PORT");
				return CLI_EXIT_USAGE;
			}
			api_client_set_host(v);
		} else if ((v = global_option(argc, argv, &i, "--token-file", &missing))) {
			if (isempty(v)) {
				log_error("--token-file wants a file name");
				return CLI_EXIT_USAGE;
			}
			api_client_set_token_file(v);
		} else if (missing) {
			log_error("option '%s' wants a value; run 'zlayer-agent --help'", argv[i]);
			return CLI_EXIT_USAGE;
		} else
			break;
	}
	argv[i - 1] = argv[0];
	argc -= i - 1;
	argv += i - 1;

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
