/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-agentd is the daemon's own binary (agentd.c), so that the CLI
 * links none of its libraries; `zlayer-agent daemon ARGS` execs it with
 * the same ARGS. Both print this help. */
#pragma once

#include "api/daemon.h"

#define AGENTD_NAME "zlayer-agentd"

#define AGENTD_USAGE                                                                                   \
	"Usage: zlayer-agent daemon [OPTIONS]\n"                                                       \
	"       " AGENTD_NAME " [OPTIONS]\n"                                                           \
	"\n"                                                                                           \
	"Run the agent daemon in the foreground: the HTTP API on a unix socket,\n"                     \
	"image and container metadata under the root directory. SIGTERM or SIGINT\n"                   \
	"stops it gracefully. 'zlayer-agent daemon' runs " AGENTD_NAME ", found next to\n"             \
	"zlayer-agent or in $PATH.\n"                                                                  \
	"\n"                                                                                           \
	"Options:\n"                                                                                   \
	"  --root DIR                    state directory (default $ZLAYER_ROOT_DIR or\n"               \
	"                                " DAEMON_DEFAULT_ROOT_DIR ")\n"                               \
	"  --runtime-dir DIR             socket and lock directory (default\n"                         \
	"                                $ZLAYER_RUNTIME_DIR or " DAEMON_DEFAULT_RUNTIME_DIR ")\n"     \
	"  --config FILE                 JSON configuration (default " DAEMON_DEFAULT_CONFIG_FILE "\n" \
	"                                when it exists)\n"                                            \
	"  --insecure-registry HOST      allow plain HTTP / unverified TLS for HOST[:PORT]\n"          \
	"                                (repeatable; added to the config file's list)\n"              \
	"  --max-concurrent-downloads N  parallel layer downloads per pull (default 3)\n"              \
	"  --registry-auth FILE          registry credentials (Docker config.json format)\n"           \
	"  --socket-group GROUP          group that may use the API socket (mode 0660)\n"              \
	"  --listen HOST:PORT            also serve the API on TCP (plain HTTP; every request\n"       \
	"                                needs the bearer token; port 0 picks one)\n"                  \
	"  --token-file FILE             the TCP listener's token (default ROOT/api-token,\n"          \
	"                                generated with mode 0600 when missing)\n"                     \
	"  --log-level LEVEL             error, warning, notice, info, debug\n"                        \
	"  --log-format FORMAT           text or json\n"                                               \
	"  -h, --help                    show this help\n"                                             \
	"\n"                                                                                           \
	"Config file keys: root, runtime_dir, insecure_registries, max_concurrent_downloads,\n"        \
	"registry_auth, socket_group, listen, token_file. Flags override the file.\n"
