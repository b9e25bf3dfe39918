/* SPDX-License-Identifier: Apache-2.0 */
/* The zlayer-agent command line: one binary, subcommands ("verbs"). Each
 * verb parses its own options and returns the process exit code. */
#pragma once

struct cli_verb {
	const char *name;
	const char *summary;
	const char *usage; /* full --help text of the verb */
	int (*run)(int argc, char *argv[]);
};

/* Exit codes shared by all verbs. */
#define CLI_EXIT_OK      0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE   2

extern const struct cli_verb cli_verb_validate;

/* True when argv has -h/--help before "--". */
int cli_wants_help(int argc, char *argv[]);
