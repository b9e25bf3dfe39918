/* SPDX-License-Identifier: Apache-2.0 */
/* `zlayer-agent metrics`: GET /v1/metrics, printed as the daemon sends it
 * (the Prometheus text format), so every endpoint has a verb. */
#include <stdio.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "basic/banned.h"

static const char metrics_usage[] = "Usage: zlayer-agent metrics\n"
                                    "\n"
                                    "The daemon's metrics in the Prometheus text format (what GET /metrics\n"
                                    "serves): containers by state, restarts, health transitions, job\n"
                                    "outcomes, image pulls and bytes, API requests and latency, the process.\n";

static int metrics_run(int argc, char *argv[]) {
	struct za_error *err = NULL;
	_cleanup_free_ char *text = NULL;
	size_t len;

	if (cli_wants_help(argc, argv)) {
		fputs(metrics_usage, stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 1) {
		fputs(metrics_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (api_client_get_text("/v1/metrics", &text, &len, &err) < 0)
		return api_client_fail(err);
	if (loop_write(STDOUT_FILENO, text, len) < 0) {
		perror("zlayer-agent metrics: write");
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_metrics = { .name = "metrics",
	                                   .summary = "Print the daemon's metrics (Prometheus text)",
	                                   .usage = metrics_usage,
	                                   .run = metrics_run };
