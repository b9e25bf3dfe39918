/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-agentd, the daemon binary: build the configuration (environment <
 * config file < flags) and run the daemon in the foreground until
 * SIGTERM/SIGINT. `zlayer-agent daemon ARGS` execs it with ARGS. */
#include <getopt.h>
#include <stdarg.h>

#include "api/daemon.h"
#include "basic/alloc.h"
#include "basic/crashpoint.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "cli/agentd.h"
#include "cli/cli.h"
#include "basic/banned.h"

enum {
	ARG_ROOT = 0x100,
	ARG_RUNTIME_DIR,
	ARG_CONFIG,
	ARG_INSECURE_REGISTRY,
	ARG_MAX_DOWNLOADS,
	ARG_REGISTRY_AUTH,
	ARG_SOCKET_GROUP,
	ARG_LISTEN,
	ARG_TOKEN_FILE,
	ARG_LOG_LEVEL,
	ARG_LOG_FORMAT,
	ARG_VERSION,
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

int main(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "root", required_argument, NULL, ARG_ROOT },
		{ "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "insecure-registry", required_argument, NULL, ARG_INSECURE_REGISTRY },
		{ "max-concurrent-downloads", required_argument, NULL, ARG_MAX_DOWNLOADS },
		{ "registry-auth", required_argument, NULL, ARG_REGISTRY_AUTH },
		{ "socket-group", required_argument, NULL, ARG_SOCKET_GROUP },
		{ "listen", required_argument, NULL, ARG_LISTEN },
		{ "token-file", required_argument, NULL, ARG_TOKEN_FILE },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "log-format", required_argument, NULL, ARG_LOG_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{},
	};
	const char *root = NULL, *runtime_dir = NULL, *config = NULL, *registry_auth = NULL, *group = NULL;
	const char *listen = NULL, *token_file = NULL;
	_cleanup_strv_free_ char **insecure = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct daemon_config cfg;
	uint32_t downloads = 0;
	int c, r;

	log_setup("zlayer-agent");
	if (crashpoint_setup() < 0)
		return usage_error("$" CRASHPOINT_ENV
		                   " is not a list of crash points (NAME or NAME@N, comma-separated)");
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
		case ARG_LISTEN:
			if (isempty(optarg))
				return usage_error("--listen wants HOST:PORT (127.0.0.1:2376, [::1]:2376)");
			listen = optarg;
			break;
		case ARG_TOKEN_FILE:
			if (isempty(optarg))
				return usage_error("--token-file wants a file name");
			token_file = optarg;
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
			fputs(AGENTD_USAGE, stdout);
			return CLI_EXIT_OK;
		case ARG_VERSION:
			printf("%s %s\n", AGENTD_NAME, ZA_VERSION);
			return CLI_EXIT_OK;
		default:
			fputs(AGENTD_USAGE, stderr);
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
		if (listen) {
			free(cfg.listen);
			cfg.listen = xstrdup(listen);
		}
		if (token_file) {
			free(cfg.token_file);
			cfg.token_file = xstrdup(token_file);
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
