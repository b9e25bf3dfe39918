/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-agent daemon: exec zlayer-agentd (agentd.c), which holds the
 * daemon and every library it needs, with the same arguments.
 * zlayer-agent ping (hidden): ask the daemon whether it is there. */
#include "api/daemon.h"
#include "basic/alloc.h"
#include "basic/log.h"
#include "cli/agentd.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "basic/banned.h"

/* Exec, not spawn: whoever started `zlayer-agent daemon` (systemd, the
 * tests) must signal and wait for the daemon itself, under the same pid. */
static int daemon_verb_run(int argc, char *argv[]) {
	_cleanup_strv_free_ char **args = NULL;
	_cleanup_free_ char *self_dir = NULL;
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int e;

	strv_push(&args, AGENTD_NAME);
	for (int i = 1; i < argc; i++)
		strv_push(&args, argv[i]);

	/* testing aid: another build of the daemon (scripts/check runs the
	 * integration suite against the sanitizer build) */
	if (!isempty(getenv("ZLAYER_AGENTD"))) {
		(void)execv(getenv("ZLAYER_AGENTD"), args);
		(void)log_error_errno(errno, "daemon: cannot run '%s' ($ZLAYER_AGENTD): %m", getenv("ZLAYER_AGENTD"));
		return CLI_EXIT_FAILURE;
	}

	if (n > 0) {
		const char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			_cleanup_free_ char *path = NULL;

			self_dir = xstrndup(self, (size_t)(slash - self));
			path = xasprintf("%s/" AGENTD_NAME, self_dir);
			if (access(path, X_OK) == 0) {
				(void)execv(path, args); /* argv[0] stays the bare name, for getopt's messages */
				(void)log_error_errno(errno, "daemon: cannot run '%s': %m", path);
				return CLI_EXIT_FAILURE;
			}
		}
	}
	(void)execvp(AGENTD_NAME, args);
	e = errno;
	if (e == ENOENT)
		log_error("daemon: the daemon binary '" AGENTD_NAME
		          "' is neither next to zlayer-agent (in '%s') nor in "
		          "$PATH; install it alongside zlayer-agent",
		          strna(self_dir));
	else
		(void)log_error_errno(e, "daemon: cannot run '" AGENTD_NAME "' from $PATH: %m");
	return CLI_EXIT_FAILURE;
}

const struct cli_verb cli_verb_daemon = {
	.name = "daemon",
	.summary = "run the agent daemon (HTTP API on a unix socket)",
	.usage = AGENTD_USAGE,
	.run = daemon_verb_run,
};

static const char ping_usage[] = "Usage: zlayer-agent ping\n"
                                 "\n"
                                 "Check that the daemon answers on $ZLAYER_RUNTIME_DIR/agent.sock\n"
                                 "(default " DAEMON_DEFAULT_RUNTIME_DIR "/agent.sock) and print its version.\n"
                                 "Exit status 1 when it does not.\n";

static int ping_run(int argc, char *argv[]) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *socket = NULL;
	json_t *reply = NULL;

	if (argc > 1) {
		fputs(ping_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (api_client_call("GET", "/v1/version", NULL, &reply, &err) < 0)
		return api_client_print_error(err);
	socket = api_client_endpoint();
	printf("ok: zlayer-agent daemon %s (API version %" JSON_INTEGER_FORMAT ") on %s\n",
	       strna(json_string_value(json_object_get(reply, "version"))),
	       json_integer_value(json_object_get(reply, "api_version")), socket);
	json_decref(reply);
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_ping = {
	.name = "ping",
	.summary = "check that the daemon answers",
	.usage = ping_usage,
	.run = ping_run,
	.hidden = true,
};
