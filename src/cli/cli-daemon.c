/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-agent daemon: build the configuration (environment < config file <
 * flags) and run the daemon in the foreground until SIGTERM/SIGINT.
 * zlayer-agent ping (hidden): ask the daemon whether it is there. */
#include <getopt.h>
#include <stdarg.h>

#include "api/daemon.h"
#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "basic/banned.h"

static const char daemon_usage[] =
        "Usage: zlayer-agent daemon [OPTIONS]\n"
        "\n"
        "Run the agent daemon in the foreground: the HTTP API on a unix socket,\n"
        "image and container metadata under the root directory. SIGTERM or SIGINT\n"
        "stops it gracefully.\n"
        "\n"
        "Options:\n"
        "  --root DIR                    state directory (default $ZLAYER_ROOT_DIR or\n"
        "                                " DAEMON_DEFAULT_ROOT_DIR ")\n"
        "  --runtime-dir DIR             socket and lock directory (default\n"
        "                                $ZLAYER_RUNTIME_DIR or " DAEMON_DEFAULT_RUNTIME_DIR ")\n"
        "  --config FILE                 JSON configuration (default " DAEMON_DEFAULT_CONFIG_FILE "\n"
        "                                when it exists)\n"
        "  --insecure-registry HOST      allow plain HTTP / unverified TLS for HOST[:PORT]\n"
        "                                (repeatable; added to the config file's list)\n"
        "  --max-concurrent-downloads N  parallel layer downloads per pull (default 3)\n"
        "  --registry-auth FILE          registry credentials (Docker config.json format)\n"
        "  --socket-group GROUP          group that may use the API socket (mode 0660)\n"
        "  --log-level LEVEL             error, warning, notice, info, debug\n"
        "  --log-format FORMAT           text or json\n"
        "  -h, --help                    show this help\n"
        "\n"
        "Config file keys: root, runtime_dir, insecure_registries, max_concurrent_downloads,\n"
        "registry_auth, socket_group. Flags override the file.\n";

enum {
	ARG_ROOT = 0x100,
	ARG_RUNTIME_DIR,
	ARG_CONFIG,
	ARG_INSECURE_REGISTRY,
	ARG_MAX_DOWNLOADS,
	ARG_REGISTRY_AUTH,
	ARG_SOCKET_GROUP,
	ARG_LOG_LEVEL,
	ARG_LOG_FORMAT,
};

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...) {
	_cleanup_free_ char *m = NULL;
	va_list ap;

	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	log_error("daemon: %s; see 'zlayer-agent daemon --help'", m);
	return CLI_EXIT_USAGE;
}

static int daemon_verb_run(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "root", required_argument, NULL, ARG_ROOT },
		{ "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "insecure-registry", required_argument, NULL, ARG_INSECURE_REGISTRY },
		{ "max-concurrent-downloads", required_argument, NULL, ARG_MAX_DOWNLOADS },
		{ "registry-auth", required_argument, NULL, ARG_REGISTRY_AUTH },
		{ "socket-group", required_argument, NULL, ARG_SOCKET_GROUP },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "log-format", required_argument, NULL, ARG_LOG_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *root = NULL, *runtime_dir = NULL, *config = NULL, *registry_auth = NULL, *group = NULL;
	_cleanup_strv_free_ char **insecure = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct daemon_config cfg;
	uint32_t downloads = 0;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
		switch (c) {
		case ARG_ROOT:
			root = optarg;
			break;
		case ARG_RUNTIME_DIR:
			runtime_dir = optarg;
			break;
		case ARG_CONFIG:
			config = optarg;
			break;
		case ARG_INSECURE_REGISTRY:
			if (isempty(optarg) || strpbrk(optarg, "/ \t"))
				return usage_error("--insecure-registry wants HOST[:PORT], not '%s'", optarg);
			strv_push(&insecure, optarg);
			break;
		case ARG_MAX_DOWNLOADS:
			if (parse_uint32(optarg, &downloads) < 0 || downloads < 1 || downloads > DAEMON_DOWNLOADS_MAX)
				return usage_error("--max-concurrent-downloads wants a number from 1 to 64, not '%s'",
				                   optarg);
			break;
		case ARG_REGISTRY_AUTH:
			registry_auth = optarg;
			break;
		case ARG_SOCKET_GROUP:
			group = optarg;
			break;
		case ARG_LOG_LEVEL:
			r = log_level_from_string(optarg);
			if (r < 0)
				return usage_error("unknown log level '%s' (error, warning, notice, info, debug)",
				                   optarg);
			log_set_max_level(r);
			break;
		case ARG_LOG_FORMAT:
			if (log_format_from_string(optarg) < 0)
				return usage_error("unknown log format '%s' (text, json)", optarg);
			log_set_format(log_format_from_string(optarg));
			break;
		case 'h':
			fputs(daemon_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(daemon_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);

	daemon_config_init(&cfg);
	r = 0;
	if (config)
		r = daemon_config_load_file(&cfg, config, &err);
	else if (access(DAEMON_DEFAULT_CONFIG_FILE, F_OK) == 0)
		r = daemon_config_load_file(&cfg, DAEMON_DEFAULT_CONFIG_FILE, &err);
	if (r >= 0) {
		if (root) {
			free(cfg.root_dir);
			cfg.root_dir = xstrdup(root);
		}
		if (runtime_dir) {
			free(cfg.runtime_dir);
			cfg.runtime_dir = xstrdup(runtime_dir);
		}
		if (registry_auth) {
			free(cfg.registry_auth_file);
			cfg.registry_auth_file = xstrdup(registry_auth);
		}
		if (downloads)
			cfg.max_concurrent_downloads = downloads;
		STRV_FOREACH (h, insecure)
			strv_push(&cfg.insecure_registries, *h);
		if (group)
			r = daemon_config_set_socket_group(&cfg, group, &err);
	}
	if (r >= 0)
		r = daemon_config_finish(&cfg, &err);
	if (r >= 0)
		r = daemon_run(&cfg, &err);
	daemon_config_release(&cfg);
	if (r < 0) {
		log_error("%s", err ? err->message : "daemon failed");
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_daemon = {
	.name = "daemon",
	.summary = "run the agent daemon (HTTP API on a unix socket)",
	.usage = daemon_usage,
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
	socket = api_client_socket_path();
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
