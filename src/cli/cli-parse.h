/* SPDX-License-Identifier: Apache-2.0 */
/* The pure parts of the container verbs: `run` flag values (-p, -v,
 * --tmpfs, -e, --memory), `logs --since`, and the text `ps` and `stats`
 * show. No I/O, so the unit tests drive them directly. Parsers follow
 * docker's syntax where it has one; errors are invalid_spec za_errors whose
 * message names the flag value. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "runtime/container.h"

/* -p [IP:][HOST:]CTR[/PROTO]: "8080:80", "127.0.0.1:8080:80/udp",
 * "[::1]:8080:80", "127.0.0.1::80" and "80" (an ephemeral host port). */
int cli_parse_port(const char *spec, struct container_port *ret, struct za_error **reterr);
/* -v SRC:DST[:OPTS]: SRC an absolute (or ./relative, joined to cwd) host
 * path is a bind mount, a name a named volume; "DST" alone an anonymous
 * volume. OPTS: ro, rw (comma-separated). */
int cli_parse_volume(const char *spec, const char *cwd, struct container_mount *ret, struct za_error **reterr);
/* --tmpfs PATH[:size=64m,mode=1777] */
int cli_parse_tmpfs(const char *spec, struct container_mount *ret, struct za_error **reterr);
/* -e NAME=VALUE, or NAME alone: NAME's value in the CLI's environment
 * (*ret NULL when unset: the variable is skipped, as docker does). */
int cli_parse_env(const char *spec, char **ret, struct za_error **reterr);
/* --memory: docker's units, binary: "512m", "1g", "1.5G", "512MiB", bytes. */
int cli_parse_memory(const char *s, uint64_t *ret_bytes);
/* --since for the API: a duration ("10m", "1h30m") is that long before
 * now_ns, as unix seconds; anything else passes through for the daemon to
 * parse (RFC 3339, unix seconds). */
char *cli_since_to_query(const char *s, int64_t now_ns);

/* docker's rounding: "Less than a second", "1 second", "5 seconds",
 * "About a minute", "5 minutes", "About an hour", "3 hours", "3 days",
 * "3 weeks", "3 months", "3 years". */
char *cli_human_duration(int64_t ns);
/* The STATUS column: "Created", "Up 5 seconds", "Exited (3) 2 minutes ago",
 * "Stopping", "Failed", for a state name of the API. */
char *cli_status_text(const char *state, int exit_status, int64_t started_ns, int64_t finished_ns, int64_t now_ns);
/* A container's exit as a process exit status: 128+signal when a signal
 * ended it, else the exit code (0..255). */
int cli_exit_status(int exit_code, int signal);
/* "1.5GiB", "512MiB", "12.3KiB", "100B" */
void cli_format_bytes(char *buf, size_t len, uint64_t b);
