/* SPDX-License-Identifier: Apache-2.0 */
/* `zlayer-agent job run|ls|status|logs|cancel` and `cron ls|trigger`: the
 * jobs and crons of deployed specs. Waiting (run --wait, cancel) polls the
 * execution every 100 ms: executions take seconds, a poll costs a
 * millisecond, and the daemon keeps no waiter state. */
#include <getopt.h>
#include <jansson.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "basic/banned.h"

#define POLL_NSEC       (100 * 1000000L)
#define CANCEL_WAIT_SEC 120

static const char *jstr(json_t *o, const char *key) {
	return json_string_value(json_object_get(o, key));
}

static bool finished(const char *status) {
	return status && (streq(status, "completed") || streq(status, "failed") || streq(status, "cancelled"));
}

static void print_json(json_t *j) {
	_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	puts(s ? s : "null");
}

static char *duration_text(json_t *e) {
	json_t *d = json_object_get(e, "duration");

	return d ? xasprintf("%.1fs", json_number_value(d)) : xstrdup("-");
}

static char *exit_text(json_t *e) {
	json_t *c = json_object_get(e, "exit_code");

	return c ? xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(c)) : xstrdup("-");
}

static int get_execution(const char *id, json_t **ret, struct za_error **reterr) {
	_cleanup_free_ char *esc = api_client_escape(id), *path = xasprintf("/v1/jobs/execution?id=%s", esc);

	return api_client_call("GET", path, NULL, ret, reterr);
}

/* Poll until the execution ends (or timeout_sec, 0: forever). */
static int wait_execution(const char *id, unsigned timeout_sec, json_t **ret) {
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct za_error *err = NULL;
		json_t *e = NULL;

		if (get_execution(id, &e, &err) < 0)
			return api_client_fail(err);
		if (finished(jstr(e, "status"))) {
			*ret = e;
			return CLI_EXIT_OK;
		}
		json_decref(e);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout_sec && now.tv_sec - start.tv_sec >= (time_t)timeout_sec) {
			fprintf(stderr, "error: timeout: execution '%s' did not end within %us\n", id, timeout_sec);
			return CLI_EXIT_FAILURE;
		}
		nanosleep(&(struct timespec){ .tv_nsec = POLL_NSEC }, NULL);
	}
}

/* "backup-run-3 completed (exit 0) in 1.2s" on stderr; the exit status
 * of the job's container, 1 when it ended without one. */
static int report_end(json_t *e) {
	_cleanup_free_ char *dur = duration_text(e), *code = exit_text(e);
	const char *status = jstr(e, "status"), *reason = jstr(e, "reason");
	json_t *c = json_object_get(e, "exit_code");
	int rc;

	fprintf(stderr, "%s %s (exit %s) in %s%s%s\n", strna(jstr(e, "id")), strna(status), code, dur,
	        reason ? ": " : "", strempty(reason));
	if (status && streq(status, "completed"))
		return CLI_EXIT_OK;
	rc = c ? (int)json_integer_value(c) : 1;
	return rc > 0 && rc < 256 ? rc : 1;
}

/* --- job ---------------------------------------------------------------------------------- */

static const char job_usage[] = "Usage: zlayer-agent job COMMAND\n"
                                "\n"
                                "Run the jobs (rtype: job) and crons of deployed specs, and see their runs.\n"
                                "Each run is an execution JOB-run-N: pending (queued: at most 10 run at\n"
                                "once on the node), initializing, running, then completed, failed or\n"
                                "cancelled. A failed attempt is retried up to the job's backoff_limit times.\n"
                                "Its log is kept (the last 1 MiB) after its container is removed.\n"
                                "\n"
                                "Commands:\n"
                                "  run [--wait] [--deployment D] NAME   queue a run and print its execution id;\n"
                                "                                       --wait: until it ends, exiting with\n"
                                "                                       the job's exit code\n"
                                "  ls [--json] [NAME]                   jobs and their executions\n"
                                "  status [--json] EXECUTION            one execution\n"
                                "  logs [-t] EXECUTION                  its output (stdout and stderr apart)\n"
                                "  cancel [--no-wait] EXECUTION         stop it (stop_signal, then SIGKILL after\n"
                                "                                       stop_grace_period) and wait until it is\n"
                                "                                       cancelled\n";

static int submit(const char *what, const char *name, const char *deployment, bool wait) {
	_cleanup_free_ char *esc = api_client_escape(name), *desc = deployment ? api_client_escape(deployment) : NULL;
	_cleanup_free_ char *path = NULL;
	struct za_error *err = NULL;
	json_t *reply = NULL, *end = NULL;
	int rc;

	path = xasprintf("/v1/%s?name=%s%s%s", what, esc, desc ? "&deployment=" : "", strempty(desc));
	if (api_client_call("POST", path, NULL, &reply, &err) < 0)
		return api_client_fail(err);
	printf("%s\n", strna(jstr(reply, "execution")));
	fflush(stdout);
	if (!wait) {
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	rc = wait_execution(jstr(reply, "execution"), 0, &end);
	json_decref(reply);
	if (rc != CLI_EXIT_OK)
		return rc;
	rc = report_end(end);
	json_decref(end);
	return rc;
}

static int run_run(int argc, char *argv[], const char *what) {
	static const struct option options[] = { { "wait", no_argument, NULL, 'w' },
		                                 { "deployment", required_argument, NULL, 'd' },
		                                 {} };
	const char *deployment = NULL;
	bool wait = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+wd:", options, NULL)) >= 0)
		switch (c) {
		case 'w':
			wait = true;
			break;
		case 'd':
			deployment = optarg;
			break;
		default:
			return CLI_EXIT_USAGE;
		}
	if (argc - optind != 1) {
		log_error("expected one name; run 'zlayer-agent %s --help'", streq(what, "jobs/run") ? "job" : "cron");
		return CLI_EXIT_USAGE;
	}
	return submit(what, argv[optind], deployment, wait);
}

static void print_jobs_table(json_t *jobs) {
	json_t *j, *e;
	size_t i, k;

	printf("%-20s %-26s %-13s %-6s %-9s %-10s %s\n", "JOB", "EXECUTION", "STATUS", "EXIT", "DURATION", "TRIGGER",
	       "CREATED");
	json_array_foreach(jobs, i, j) {
		json_t *execs = json_object_get(j, "executions");
		if (json_array_size(execs) == 0)
			printf("%-20s %-26s\n", strna(jstr(j, "name")), "-");
		json_array_foreach(execs, k, e) {
			_cleanup_free_ char *dur = duration_text(e), *code = exit_text(e);
			printf("%-20s %-26s %-13s %-6s %-9s %-10s %s\n", strna(jstr(j, "name")), strna(jstr(e, "id")),
			       strna(jstr(e, "status")), code, dur, strna(jstr(e, "trigger")),
			       strna(jstr(e, "created_at")));
		}
	}
}

static int ls_run(int argc, char *argv[]) {
	static const struct option options[] = { { "json", no_argument, NULL, 'j' }, {} };
	_cleanup_free_ char *path = NULL;
	struct za_error *err = NULL;
	json_t *reply = NULL;
	bool json = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+", options, NULL)) >= 0)
		if (c == 'j')
			json = true;
		else
			return CLI_EXIT_USAGE;
	if (argc - optind > 1) {
		log_error("job ls: expected at most one job name");
		return CLI_EXIT_USAGE;
	}
	if (optind < argc) {
		_cleanup_free_ char *esc = api_client_escape(argv[optind]);
		path = xasprintf("/v1/jobs?name=%s", esc);
	} else
		path = xstrdup("/v1/jobs");
	if (api_client_call("GET", path, NULL, &reply, &err) < 0)
		return api_client_fail(err);
	if (json)
		print_json(reply);
	else if (json_is_array(reply))
		print_jobs_table(reply);
	else {
		json_t *a = json_array();
		json_array_append(a, reply);
		print_jobs_table(a);
		json_decref(a);
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

static void print_execution(json_t *e) {
	_cleanup_free_ char *dur = duration_text(e), *code = exit_text(e);

	printf("execution:  %s\n", strna(jstr(e, "id")));
	printf("job:        %s (deployment %s)\n", strna(jstr(e, "job")), strna(jstr(e, "deployment")));
	printf("status:     %s\n", strna(jstr(e, "status")));
	printf("exit code:  %s\n", code);
	printf("duration:   %s\n", dur);
	printf("attempts:   %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(e, "attempts")));
	printf("trigger:    %s\n", strna(jstr(e, "trigger")));
	printf("created:    %s\n", jstr(e, "created_at") ? jstr(e, "created_at") : "-");
	printf("started:    %s\n", jstr(e, "started_at") ? jstr(e, "started_at") : "-");
	printf("finished:   %s\n", jstr(e, "finished_at") ? jstr(e, "finished_at") : "-");
	if (jstr(e, "reason"))
		printf("reason:     %s\n", jstr(e, "reason"));
}

static int status_run(int argc, char *argv[]) {
	struct za_error *err = NULL;
	bool json = argc == 3 && streq(argv[1], "--json");
	const char *id = json ? argv[2] : argv[1];
	json_t *e = NULL;

	if (argc != 2 && !json) {
		log_error("job status: expected one execution id; usage: zlayer-agent job status [--json] EXECUTION");
		return CLI_EXIT_USAGE;
	}
	if (get_execution(id, &e, &err) < 0)
		return api_client_fail(err);
	if (json)
		print_json(e);
	else
		print_execution(e);
	json_decref(e);
	return CLI_EXIT_OK;
}

static bool logs_timestamps;

static int logs_line(json_t *line, void *userdata) {
	json_t *log = json_object_get(line, "log");
	const char *stream = jstr(line, "stream");
	FILE *f = stream && streq(stream, "stderr") ? stderr : stdout;

	if (!json_is_string(log))
		return 0;
	if (logs_timestamps)
		fprintf(f, "%s ", strempty(jstr(line, "time")));
	if (fwrite(json_string_value(log), 1, json_string_length(log), f) != json_string_length(log))
		return -EPIPE;
	return 0;
}

static int logs_run(int argc, char *argv[]) {
	_cleanup_free_ char *esc = NULL, *path = NULL;
	struct za_error *err = NULL;
	const char *id = NULL;

	for (int i = 1; i < argc; i++)
		if (streq(argv[i], "-t") || streq(argv[i], "--timestamps"))
			logs_timestamps = true;
		else if (!id && argv[i][0] != '-')
			id = argv[i];
		else {
			log_error("job logs: unexpected argument '%s'; usage: zlayer-agent job logs [-t] EXECUTION",
			          argv[i]);
			return CLI_EXIT_USAGE;
		}
	if (!id) {
		log_error("job logs: expected an execution id; usage: zlayer-agent job logs [-t] EXECUTION");
		return CLI_EXIT_USAGE;
	}
	esc = api_client_escape(id);
	path = xasprintf("/v1/jobs/logs?id=%s", esc);
	if (api_client_stream("GET", path, NULL, logs_line, NULL, &err) < 0) {
		if (err && err->code == EPIPE) {
			za_error_free(err);
			return CLI_EXIT_OK;
		}
		return api_client_fail(err);
	}
	fflush(stdout);
	return CLI_EXIT_OK;
}

static int cancel_run(int argc, char *argv[]) {
	_cleanup_free_ char *esc = NULL, *path = NULL;
	struct za_error *err = NULL;
	bool no_wait = argc == 3 && streq(argv[1], "--no-wait");
	const char *id = no_wait ? argv[2] : argv[1];
	json_t *e = NULL;
	int rc;

	if (argc != 2 && !no_wait) {
		log_error("job cancel: expected one execution id; usage: zlayer-agent job cancel [--no-wait] "
		          "EXECUTION");
		return CLI_EXIT_USAGE;
	}
	esc = api_client_escape(id);
	path = xasprintf("/v1/jobs/cancel?id=%s", esc);
	if (api_client_call("POST", path, NULL, &e, &err) < 0)
		return api_client_fail(err);
	if (!no_wait && !finished(jstr(e, "status"))) {
		json_decref(e);
		e = NULL;
		rc = wait_execution(id, CANCEL_WAIT_SEC, &e);
		if (rc != CLI_EXIT_OK)
			return rc;
	}
	printf("%s %s\n", id, strna(jstr(e, "status")));
	json_decref(e);
	return CLI_EXIT_OK;
}

static int job_run(int argc, char *argv[]) {
	if (argc < 2) {
		fputs(job_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (streq(argv[1], "run"))
		return run_run(argc - 1, argv + 1, "jobs/run");
	if (streq(argv[1], "ls") || streq(argv[1], "list"))
		return ls_run(argc - 1, argv + 1);
	if (streq(argv[1], "status"))
		return status_run(argc - 1, argv + 1);
	if (streq(argv[1], "logs"))
		return logs_run(argc - 1, argv + 1);
	if (streq(argv[1], "cancel"))
		return cancel_run(argc - 1, argv + 1);
	log_error("job: unknown command '%s'; run 'zlayer-agent job --help'", argv[1]);
	return CLI_EXIT_USAGE;
}

const struct cli_verb cli_verb_job = { .name = "job",
	                               .summary = "run jobs and see their executions (run, ls, status, logs, cancel)",
	                               .usage = job_usage,
	                               .run = job_run };

/* --- cron --------------------------------------------------------------------------------- */

static const char cron_usage[] = "Usage: zlayer-agent cron COMMAND\n"
                                 "\n"
                                 "The crons (rtype: cron) of deployed specs: each runs its job on its\n"
                                 "schedule, in UTC; times missed while the agent was down or paused are not\n"
                                 "caught up. concurrency: forbid (default: a time that comes while a run is\n"
                                 "still going is skipped, with a CronSkipped event), allow, replace (the\n"
                                 "running one is cancelled). Their runs are listed by 'zlayer-agent job ls'.\n"
                                 "\n"
                                 "Commands:\n"
                                 "  ls [--json]                          schedule, last run and next run of each\n"
                                 "  trigger [--wait] [--deployment D] NAME   run it now (concurrency applies:\n"
                                 "                                       refused under forbid while it runs)\n";

static int cron_ls(int argc, char *argv[]) {
	struct za_error *err = NULL;
	bool json = argc == 2 && streq(argv[1], "--json");
	json_t *reply = NULL, *c;
	size_t i;

	if (argc > 2 || (argc == 2 && !json)) {
		log_error("cron ls: unexpected argument '%s'; usage: zlayer-agent cron ls [--json]", argv[argc - 1]);
		return CLI_EXIT_USAGE;
	}
	if (api_client_call("GET", "/v1/crons", NULL, &reply, &err) < 0)
		return api_client_fail(err);
	if (json) {
		print_json(reply);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	printf("%-20s %-16s %-18s %-11s %-42s %s\n", "CRON", "DEPLOYMENT", "SCHEDULE", "CONCURRENCY", "LAST RUN",
	       "NEXT RUN");
	json_array_foreach(reply, i, c) {
		json_t *last = json_object_get(c, "last_run");
		_cleanup_free_ char *lt = json_is_object(last) ? xasprintf("%s %s", strna(jstr(last, "time")),
		                                                           strna(jstr(last, "status")))
		                                               : xstrdup("-");
		printf("%-20s %-16s %-18s %-11s %-42s %s\n", strna(jstr(c, "name")), strna(jstr(c, "deployment")),
		       strna(jstr(c, "schedule")), strna(jstr(c, "concurrency")), lt,
		       jstr(c, "next_run") ? jstr(c, "next_run") : "-");
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int cron_run(int argc, char *argv[]) {
	if (argc < 2) {
		fputs(cron_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (streq(argv[1], "ls") || streq(argv[1], "list"))
		return cron_ls(argc - 1, argv + 1);
	if (streq(argv[1], "trigger"))
		return run_run(argc - 1, argv + 1, "crons/trigger");
	log_error("cron: unknown command '%s'; run 'zlayer-agent cron --help'", argv[1]);
	return CLI_EXIT_USAGE;
}

const struct cli_verb cli_verb_cron = {
	.name = "cron", .summary = "list crons and trigger one now (ls, trigger)", .usage = cron_usage, .run = cron_run
};
