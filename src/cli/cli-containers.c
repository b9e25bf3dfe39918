/* SPDX-License-Identifier: Apache-2.0 */
/* Container commands that act on existing containers: start, ps, logs,
 * exec, stop, kill, rm, inspect, stats, wait (run and create live in
 * cli-run.c). Each talks to the daemon's /v1/containers endpoints; verbs
 * that take several containers go on after a failure and exit 1 at the end. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/base64.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "cli/cli-parse.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "basic/banned.h"

static int usage(const char *text) {
	fputs(text, stderr);
	return CLI_EXIT_USAGE;
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void print_json(json_t *j) {
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s)
		puts(s);
	free(s);
}

static const char *jstr(json_t *o, const char *key) {
	return json_string_value(json_object_get(o, key));
}

/* A json string of the malloc'd s, which it frees. */
static json_t *json_string_take(char *s) {
	json_t *j = json_string(s);

	free(s);
	return j ? j : json_string("");
}

static int64_t jint(json_t *o, const char *key) {
	return json_integer_value(json_object_get(o, key));
}

/* POST/DELETE "/v1/containers{what}?id=ID{extra}" for each id, printing the id. */
static int for_each_id(const char *method, const char *what, const char *extra, int argc, char **argv) {
	int rc = CLI_EXIT_OK;

	for (int i = 0; i < argc; i++) {
		struct za_error *err = NULL;
		_cleanup_free_ char *esc = api_client_escape(argv[i]);
		_cleanup_free_ char *path = xasprintf("/v1/containers%s?id=%s%s", what, esc, strempty(extra));

		if (api_client_call(method, path, NULL, NULL, &err) < 0)
			rc = api_client_fail(err);
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}

/* --- start, stop, kill, rm ----------------------------------------------------- */

static const char start_usage[] = "Usage: zlayer-agent start ID...\n"
                                  "\n"
                                  "Start created containers (in the background; 'logs -f' follows them).\n";

static int start_run(int argc, char *argv[]) {
	if (argc < 2 || argv[1][0] == '-')
		return usage(start_usage);
	return for_each_id("POST", "/start", NULL, argc - 1, argv + 1);
}

const struct cli_verb cli_verb_start = {
	.name = "start", .summary = "start created containers", .usage = start_usage, .run = start_run
};

static const char stop_usage[] = "Usage: zlayer-agent stop [-t SECONDS] ID...\n"
                                 "\n"
                                 "Stop running containers: the stop signal (the image's, or SIGTERM), then\n"
                                 "SIGKILL after the grace period.\n"
                                 "\n"
                                 "  -t, --time SECONDS  grace period (default: the container's, 10 s unless set)\n";

static int stop_run(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "time", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 't' },
		{},
	};
	_cleanup_free_ char *extra = NULL;
	uint64_t secs;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "t:", options, NULL)) >= 0)
		switch (c) {
		case 't':
			if (parse_uint64(optarg, &secs) < 0 || secs > 86400) {
				log_error("stop: invalid --time '%s': expected seconds from 0 to 86400", optarg);
				return CLI_EXIT_USAGE;
			}
			free(extra);
			extra = xasprintf("&timeout=%" PRIu64, secs);
			break;
		default:
			return usage(stop_usage);
		}
	if (optind >= argc)
		return usage(stop_usage);
	return for_each_id("POST", "/stop", extra, argc - optind, argv + optind);
}

const struct cli_verb cli_verb_stop = {
	.name = "stop", .summary = "stop running containers", .usage = stop_usage, .run = stop_run
};

static const char kill_usage[] = "Usage: zlayer-agent kill [-s SIGNAL] ID...\n"
                                 "\n"
                                 "Send a signal to the containers' main process.\n"
                                 "\n"
                                 "  -s, --signal SIG  name (KILL, SIGHUP) or number (default KILL)\n";

static int kill_run(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "signal", required_argument, NULL, 's' },
		{},
	};
	_cleanup_free_ char *extra = NULL;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "s:", options, NULL)) >= 0)
		switch (c) {
		case 's': {
			_cleanup_free_ char *esc = api_client_escape(optarg);
			free(extra);
			extra = xasprintf("&signal=%s", esc);
			break;
		}
		default:
			return usage(kill_usage);
		}
	if (optind >= argc)
		return usage(kill_usage);
	return for_each_id("POST", "/kill", extra, argc - optind, argv + optind);
}

const struct cli_verb cli_verb_kill = {
	.name = "kill", .summary = "send a signal to containers", .usage = kill_usage, .run = kill_run
};

static const char rm_usage[] = "Usage: zlayer-agent rm [-f] ID...\n"
                               "\n"
                               "Remove containers with their writable layer and logs.\n"
                               "\n"
                               "  -f, --force  kill and remove running containers too\n";

static int rm_run(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "force", no_argument, NULL, 'f' },
		{},
	};
	bool force = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "f", options, NULL)) >= 0)
		switch (c) {
		case 'f':
			force = true;
			break;
		default:
			return usage(rm_usage);
		}
	if (optind >= argc)
		return usage(rm_usage);
	return for_each_id("DELETE", "", force ? "&force=1" : NULL, argc - optind, argv + optind);
}

const struct cli_verb cli_verb_rm = { .name = "rm", .summary = "remove containers", .usage = rm_usage, .run = rm_run };

/* --- ps ---------------------------------------------------------------------------- */

static const char ps_usage[] = "Usage: zlayer-agent ps [-a] [--json]\n"
                               "\n"
                               "List running containers (all of them with -a).\n"
                               "\n"
                               "  -a, --all   include created and exited containers\n"
                               "  --json      the daemon's records as a JSON array\n";

#define PS_COLUMNS 5

static int ps_run(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{},
	};
	static const char *const headers[PS_COLUMNS] = { "ID", "IMAGE", "STATE", "STATUS", "IP" };
	struct za_error *err = NULL;
	json_t *reply = NULL, *arr, *ct;
	bool all = false, json = false;
	size_t width[PS_COLUMNS], n, i;
	char ***rows;
	int64_t now = now_ns();
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "a", options, NULL)) >= 0)
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'j':
			json = true;
			break;
		default:
			return usage(ps_usage);
		}
	if (optind != argc)
		return usage(ps_usage);
	if (api_client_call("GET", all ? "/v1/containers?all=1" : "/v1/containers", NULL, &reply, &err) < 0)
		return api_client_fail(err);
	arr = json_object_get(reply, "containers");
	/* The STATUS text, as the table shows it. */
	json_array_foreach(arr, i, ct) {
		int status = cli_exit_status((int)jint(ct, "exit_code"), (int)jint(ct, "signal"));
		json_object_set_new(ct, "status",
		                    json_string_take(cli_status_text(jstr(ct, "state"), status, jint(ct, "started_ns"),
		                                                     jint(ct, "finished_ns"), now)));
	}
	if (json) {
		print_json(arr ? arr : json_array());
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	n = json_array_size(arr);
	rows = xnew(char **, n);
	for (int k = 0; k < PS_COLUMNS; k++)
		width[k] = strlen(headers[k]);
	json_array_foreach(arr, i, ct) {
		const char *state = jstr(ct, "state");
		bool running = state && (streq(state, "running") || streq(state, "stopping"));

		rows[i] = xnew(char *, PS_COLUMNS);
		rows[i][0] = xstrdup(strempty(jstr(ct, "id")));
		rows[i][1] = xstrdup(strempty(jstr(ct, "image")));
		rows[i][2] = xstrdup(strempty(state));
		rows[i][3] = xstrdup(strempty(jstr(ct, "status")));
		rows[i][4] = xstrdup(running ? strempty(jstr(ct, "ip")) : ""); /* a stopped one has none */
		for (int k = 0; k < PS_COLUMNS; k++)
			width[k] = MAX(width[k], strlen(rows[i][k]));
	}
	for (int k = 0; k < PS_COLUMNS; k++)
		printf("%-*s%s", k + 1 < PS_COLUMNS ? (int)width[k] : 0, headers[k], k + 1 < PS_COLUMNS ? "   " : "\n");
	for (i = 0; i < n; i++) {
		for (int k = 0; k < PS_COLUMNS; k++) {
			printf("%-*s%s", k + 1 < PS_COLUMNS ? (int)width[k] : 0, rows[i][k],
			       k + 1 < PS_COLUMNS ? "   " : "\n");
			free(rows[i][k]);
		}
		free(rows[i]);
	}
	free(rows);
	json_decref(reply);
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_ps = { .name = "ps", .summary = "list containers", .usage = ps_usage, .run = ps_run };

/* --- logs ------------------------------------------------------------------------- */

struct logs_out {
	bool timestamps, follow;
	bool broken; /* our stdout or stderr was closed: stop quietly */
};

static int logs_line(json_t *line, void *userdata) {
	struct logs_out *o = userdata;
	json_t *log = json_object_get(line, "log");
	const char *stream = jstr(line, "stream"), *text = json_string_value(log);
	FILE *f = stream && streq(stream, "stderr") ? stderr : stdout;

	if (!text)
		return 0;
	if (o->timestamps)
		fprintf(f, "%s ", strempty(jstr(line, "time")));
	if (fwrite(text, 1, json_string_length(log), f) != json_string_length(log) ||
	    ((o->follow || f == stderr) && fflush(f) != 0)) {
		o->broken = true;
		return -EPIPE;
	}
	return 0;
}

static const char logs_usage[] = "Usage: zlayer-agent logs [-f] [--tail N] [--since TIME] [-t] ID\n"
                                 "\n"
                                 "Print a container's output (stdout to stdout, stderr to stderr).\n"
                                 "\n"
                                 "  -f, --follow      keep printing new output until the container stops\n"
                                 "  -n, --tail N      only the last N lines ('all': everything)\n"
                                 "  --since TIME      only output since TIME: RFC 3339 (2026-01-02T15:04:05Z),\n"
                                 "                    unix seconds, or a duration before now (10m, 1h30m)\n"
                                 "  -t, --timestamps  prefix each line with its time\n";

static int logs_run(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, 's' },
		{ "timestamps", no_argument, NULL, 't' },
		{},
	};
	struct logs_out o = {};
	struct za_error *err = NULL;
	_cleanup_free_ char *tail = NULL, *since = NULL, *esc = NULL, *path = NULL;
	uint64_t n;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "fn:t", options, NULL)) >= 0)
		switch (c) {
		case 'f':
			o.follow = true;
			break;
		case 'n':
			if (!streq(optarg, "all") && parse_uint64(optarg, &n) < 0) {
				log_error("logs: invalid --tail '%s': expected a number of lines or 'all'", optarg);
				return CLI_EXIT_USAGE;
			}
			free(tail);
			tail = api_client_escape(optarg);
			break;
		case 's': {
			_cleanup_free_ char *q = cli_since_to_query(optarg, now_ns());
			free(since);
			since = api_client_escape(q);
			break;
		}
		case 't':
			o.timestamps = true;
			break;
		default:
			return usage(logs_usage);
		}
	if (argc - optind != 1)
		return usage(logs_usage);
	esc = api_client_escape(argv[optind]);
	path = xasprintf("/v1/containers/logs?id=%s%s%s%s%s%s", esc, o.follow ? "&follow=1" : "", tail ? "&tail=" : "",
	                 strempty(tail), since ? "&since=" : "", strempty(since));
	(void)signal(SIGPIPE, SIG_IGN);
	r = api_client_stream("GET", path, NULL, logs_line, &o, &err);
	(void)fflush(stdout);
	if (r < 0 && o.broken) {
		za_error_free(err);
		return CLI_EXIT_OK;
	}
	if (r < 0)
		return api_client_fail(err);
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_logs = {
	.name = "logs", .summary = "print a container's output", .usage = logs_usage, .run = logs_run
};

/* --- exec --------------------------------------------------------------------------- */

static const char exec_usage[] = "Usage: zlayer-agent exec [-e NAME=VALUE] [-w DIR] [-u USER] ID COMMAND [ARGS...]\n"
                                 "\n"
                                 "Run a command in a running container. Its output appears as it is produced\n"
                                 "(stdout to stdout, stderr to stderr) and its exit status becomes ours (128+N\n"
                                 "when signal N ended it). The command gets no stdin and no terminal; Ctrl-C\n"
                                 "ends it (the daemon kills it when we leave).\n"
                                 "\n"
                                 "  -e, --env NAME=VALUE  environment variable over the container's (NAME alone:\n"
                                 "                        our value)\n"
                                 "  -w, --workdir DIR     working directory (absolute) instead of the container's\n"
                                 "  -u, --user USER       user: name, uid, uid:gid or name:group in the container\n";

struct exec_out {
	bool exited;
	int exit_code;
	bool broken; /* our stdout or stderr was closed */
};

/* {"stream", "data"[, "encoding": "base64"]} or the last {"exit_code"}. */
static int exec_line(json_t *line, void *userdata) {
	struct exec_out *o = userdata;
	json_t *data = json_object_get(line, "data"), *code = json_object_get(line, "exit_code");
	const char *stream = jstr(line, "stream"), *encoding = jstr(line, "encoding"), *p;
	_cleanup_free_ char *bytes = NULL;
	size_t n;
	FILE *f;

	if (json_is_integer(code)) {
		o->exited = true;
		o->exit_code = (int)json_integer_value(code);
		return 0;
	}
	if (!stream || !json_is_string(data))
		return 0; /* a line of a later version */
	p = json_string_value(data);
	n = json_string_length(data);
	if (encoding && streq(encoding, "base64")) {
		if (base64_decode(p, n, &bytes, &n) < 0)
			return -EBADMSG;
		p = bytes;
	}
	f = streq(stream, "stderr") ? stderr : stdout;
	if (fwrite(p, 1, n, f) != n || fflush(f) != 0) {
		o->broken = true;
		return -EPIPE;
	}
	return 0;
}

static int exec_run(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct za_error *err = NULL;
	_cleanup_free_ char *esc = NULL, *path = NULL;
	_cleanup_(json_decrefp) json_t *body = json_pack("{s:[]}", "argv");
	struct exec_out o = {};
	int c, r;

	optind = 0;
	/* "+": options end at the container id; the command's are its own */
	while ((c = getopt_long(argc, argv, "+e:w:u:h", options, NULL)) >= 0)
		switch (c) {
		case 'e': {
			char *kv = NULL;
			if (cli_parse_env(optarg, &kv, &err) < 0) {
				log_error("exec: %s", err->message);
				za_error_free(err);
				return CLI_EXIT_USAGE;
			}
			if (kv) {
				if (!json_object_get(body, "env"))
					json_object_set_new(body, "env", json_array());
				json_array_append_new(json_object_get(body, "env"), json_string(kv));
			}
			free(kv);
			break;
		}
		case 'w':
			if (optarg[0] != '/') {
				log_error("exec: invalid --workdir '%s': must be an absolute path", optarg);
				return CLI_EXIT_USAGE;
			}
			json_object_set_new(body, "workdir", json_string(optarg));
			break;
		case 'u':
			json_object_set_new(body, "user", json_string(optarg));
			break;
		case 'h':
			fputs(exec_usage, stdout);
			return CLI_EXIT_OK;
		default:
			return usage(exec_usage);
		}
	if (argc - optind < 2)
		return usage(exec_usage);
	for (int i = optind + 1; i < argc; i++)
		json_array_append_new(json_object_get(body, "argv"), json_string(argv[i]));
	esc = api_client_escape(argv[optind]);
	path = xasprintf("/v1/containers/exec?id=%s&stream=1", esc);
	(void)signal(SIGPIPE, SIG_IGN);
	r = api_client_stream("POST", path, body, exec_line, &o, &err);
	(void)fflush(stdout);
	if (r < 0 && o.broken) {
		/* as a local command writing into a closed pipe: the daemon kills
		 * the command once we hang up */
		za_error_free(err);
		return 128 + SIGPIPE;
	}
	if (r < 0)
		return api_client_fail(err);
	if (!o.exited) {
		log_error("exec: the daemon ended the stream without the command's exit status");
		return CLI_EXIT_FAILURE;
	}
	return cli_exit_status(o.exit_code, 0);
}

const struct cli_verb cli_verb_exec = { .name = "exec",
	                                .summary = "run a command in a running container",
	                                .usage = exec_usage,
	                                .run = exec_run,
	                                .own_help = true };

/* --- inspect, stats, wait ------------------------------------------------------------ */

/* GET or POST "/v1/containers{what}?id=ID{extra}" for each id; replies go
 * to on_reply (which takes them). */
static int for_each_reply(const char *method, const char *what, const char *extra, int argc, char **argv,
                          void (*on_reply)(json_t *reply, void *userdata), void *userdata) {
	int rc = CLI_EXIT_OK;

	for (int i = 0; i < argc; i++) {
		struct za_error *err = NULL;
		_cleanup_free_ char *esc = api_client_escape(argv[i]);
		_cleanup_free_ char *path = xasprintf("/v1/containers%s?id=%s%s", what, esc, strempty(extra));
		json_t *reply = NULL;

		if (api_client_call(method, path, NULL, &reply, &err) < 0)
			rc = api_client_fail(err);
		else
			on_reply(reply, userdata);
	}
	return rc;
}

static void collect(json_t *reply, void *userdata) {
	json_array_append_new(userdata, reply);
}

/* Leading --json flags (accepted everywhere for symmetry) and the ids. */
static int ids_after_json(int argc, char *argv[], const char *text, bool *json, int *first) {
	*first = 1;
	*json = false;
	while (*first < argc && streq(argv[*first], "--json")) {
		*json = true;
		(*first)++;
	}
	for (int i = *first; i < argc; i++)
		if (streq(argv[i], "--json"))
			*json = true;
		else if (argv[i][0] == '-')
			return usage(text);
	if (*first >= argc)
		return usage(text);
	return 0;
}

static const char inspect_usage[] = "Usage: zlayer-agent inspect [--json] ID...\n"
                                    "\n"
                                    "Print the containers' configuration and state as a JSON array.\n";

static int inspect_run(int argc, char *argv[]) {
	json_t *all = json_array();
	bool json;
	int first, rc;

	rc = ids_after_json(argc, argv, inspect_usage, &json, &first);
	if (rc) {
		json_decref(all);
		return rc;
	}
	for (int i = first; i < argc; i++)
		if (!streq(argv[i], "--json") &&
		    for_each_reply("GET", "/inspect", NULL, 1, argv + i, collect, all) != CLI_EXIT_OK)
			rc = CLI_EXIT_FAILURE;
	if (json_array_size(all) > 0 || rc == CLI_EXIT_OK)
		print_json(all);
	json_decref(all);
	return rc;
}

const struct cli_verb cli_verb_inspect = {
	.name = "inspect", .summary = "show containers in detail (JSON)", .usage = inspect_usage, .run = inspect_run
};

static const char stats_usage[] = "Usage: zlayer-agent stats [--json] ID...\n"
                                  "\n"
                                  "One sample of the containers' CPU, memory and process count.\n";

static int stats_run(int argc, char *argv[]) {
	json_t *all = json_array(), *s;
	bool json;
	int first, rc;
	size_t i;

	rc = ids_after_json(argc, argv, stats_usage, &json, &first);
	if (rc) {
		json_decref(all);
		return rc;
	}
	for (int k = first; k < argc; k++)
		if (!streq(argv[k], "--json") &&
		    for_each_reply("GET", "/stats", NULL, 1, argv + k, collect, all) != CLI_EXIT_OK)
			rc = CLI_EXIT_FAILURE;
	if (json)
		print_json(all);
	else if (json_array_size(all) > 0) {
		printf("%-24s %8s   %-22s %8s   %s\n", "ID", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS");
		json_array_foreach(all, i, s) {
			uint64_t use = (uint64_t)jint(s, "memory_usage"), lim = (uint64_t)jint(s, "memory_limit");
			char u[32], l[32], mem[72], pct[16];

			cli_format_bytes(u, sizeof(u), use);
			if (lim)
				cli_format_bytes(l, sizeof(l), lim);
			snprintf(mem, sizeof(mem), "%s / %s", u, lim ? l : "-");
			if (lim)
				snprintf(pct, sizeof(pct), "%.2f%%", (double)use * 100.0 / (double)lim);
			else
				snprintf(pct, sizeof(pct), "-");
			printf("%-24s %7.2f%%   %-22s %8s   %" PRId64 "\n", strempty(jstr(s, "id")),
			       json_number_value(json_object_get(s, "cpu_percent")), mem, pct, jint(s, "pids"));
		}
	}
	json_decref(all);
	return rc;
}

const struct cli_verb cli_verb_stats = {
	.name = "stats", .summary = "show containers' resource usage", .usage = stats_usage, .run = stats_run
};

static const char wait_usage[] = "Usage: zlayer-agent wait ID...\n"
                                 "\n"
                                 "Wait until the containers stop, then print each exit status (128+N for\n"
                                 "a container ended by signal N).\n";

static void print_exit(json_t *reply, void *userdata) {
	printf("%d\n", cli_exit_status((int)jint(reply, "exit_code"), (int)jint(reply, "signal")));
	(void)fflush(stdout);
	json_decref(reply);
}

static int wait_run(int argc, char *argv[]) {
	if (argc < 2 || argv[1][0] == '-')
		return usage(wait_usage);
	return for_each_reply("POST", "/wait", "&condition=not-running", argc - 1, argv + 1, print_exit, NULL);
}

const struct cli_verb cli_verb_wait = {
	.name = "wait", .summary = "wait for containers to stop", .usage = wait_usage, .run = wait_run
};
