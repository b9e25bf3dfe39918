/* SPDX-License-Identifier: Apache-2.0 */
/* Deployments: deploy, up, down, status, scale, events. A spec file is
 * validated here first (every error printed, as `validate` does), then
 * sent to the daemon as text. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "spec/spec.h"
#include "basic/banned.h"

#define SPEC_FILE_MAX (1024 * 1024)

/* --- shared --------------------------------------------------------------------------------- */

/* Read and validate FILE; prints every diagnostic. */
static int load_spec(const char *path, char **ret_text, size_t *ret_len, char **ret_name) {
	_cleanup_(spec_deployment_freep) struct spec_deployment *d = NULL;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *text = NULL;
	struct spec_diagnostics diags;
	size_t len;
	int r;

	r = read_full_file(path, SPEC_FILE_MAX, &text, &len);
	if (r < 0) {
		fprintf(stderr, "error: cannot read '%s': %s\n", path,
		        r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return CLI_EXIT_FAILURE;
	}
	if (spec_load_string(path, text, len, &d, &diags, &err) < 0) {
		for (size_t k = 0; k < diags.n; k++) {
			_cleanup_free_ char *line = spec_diag_format(&diags, &diags.items[k]);
			fprintf(stderr, "%s\n", line);
		}
		if (diags.n == 0) {
			_cleanup_free_ char *m = za_error_format(err);
			fprintf(stderr, "error: %s\n", m);
		}
		spec_diagnostics_release(&diags);
		return CLI_EXIT_FAILURE;
	}
	spec_diagnostics_release(&diags);
	*ret_name = xstrdup(d->name);
	*ret_text = TAKE_PTR(text);
	*ret_len = len;
	return CLI_EXIT_OK;
}

static const char *health_of(json_t *rep) {
	const char *h = json_string_value(json_object_get(json_object_get(rep, "health"), "status"));
	return h ? h : "-";
}

static void print_status_table(json_t *deps) {
	size_t i;
	json_t *d;

	printf("%-16s %-16s %-9s %-10s %-9s %-8s %s\n", "DEPLOYMENT", "SERVICE", "READY", "PHASE", "HEALTH", "RESTARTS",
	       "IMAGE");
	json_array_foreach(deps, i, d) {
		const char *name;
		json_t *s;

		json_object_foreach(json_object_get(d, "services"), name, s) {
			json_t *reps = json_object_get(s, "replicas"), *r;
			json_int_t restarts = 0;
			size_t k, healthy = 0, unhealthy = 0;
			char ready[32];
			const char *health = "-";

			size_t running = 0;
			json_array_foreach(reps, k, r) {
				restarts += json_integer_value(json_object_get(r, "restarts"));
				if (!streq(strempty(json_string_value(json_object_get(r, "state"))), "running"))
					continue;
				running++;
				if (streq(health_of(r), "healthy") || streq(health_of(r), "none"))
					healthy++;
				else if (streq(health_of(r), "unhealthy"))
					unhealthy++;
			}
			if (unhealthy)
				health = "unhealthy";
			else if (running && healthy == running)
				health = "healthy";
			else if (running)
				health = "checking";
			snprintf(ready, sizeof(ready), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
			         json_integer_value(json_object_get(s, "ready")),
			         json_integer_value(json_object_get(s, "desired")));
			printf("%-16s %-16s %-9s %-10s %-9s %-8" JSON_INTEGER_FORMAT " %s\n",
			       json_string_value(json_object_get(d, "deployment")), name, ready,
			       json_string_value(json_object_get(s, "phase")), health, restarts,
			       json_string_value(json_object_get(s, "image")));
			json_array_foreach(reps, k, r) {
				const char *err = json_string_value(json_object_get(r, "error"));
				printf("  %-30s %-10s %-10s pid %-8" JSON_INTEGER_FORMAT "%s%s\n",
				       json_string_value(json_object_get(r, "id")),
				       json_string_value(json_object_get(r, "state")), health_of(r),
				       json_integer_value(json_object_get(r, "pid")), err ? " " : "", err ? err : "");
			}
		}
	}
}

/* One deployment's status (an object), as the table. */
static void print_one_status(json_t *reply) {
	json_t *a = json_array();

	json_array_append(a, reply);
	print_status_table(a);
	json_decref(a);
}

static void print_event(json_t *ev) {
	const char *rep = json_string_value(json_object_get(ev, "replica"));
	const char *svc = json_string_value(json_object_get(ev, "service"));

	printf("%s %-20s %s%s%s %s\n", json_string_value(json_object_get(ev, "time")),
	       json_string_value(json_object_get(ev, "type")),
	       strempty(json_string_value(json_object_get(ev, "deployment"))),
	       rep   ? "/"
	       : svc ? "/"
	             : "",
	       rep ? rep : strempty(svc), json_string_value(json_object_get(ev, "message")));
	fflush(stdout);
}

static int deploy_file(const char *path, bool quiet, char **ret_name) {
	_cleanup_free_ char *text = NULL, *name = NULL;
	struct za_error *err = NULL;
	json_t *reply = NULL, *body;
	size_t len;
	int r;

	r = load_spec(path, &text, &len, &name);
	if (r != CLI_EXIT_OK)
		return r;
	if (ret_name)
		*ret_name = xstrdup(name);
	body = json_pack("{s:s, s:s%}", "file", path, "yaml", text, len);
	r = api_client_call("POST", "/v1/deployments", body, &reply, &err);
	json_decref(body);
	if (r < 0)
		return api_client_fail(err);
	if (!quiet)
		print_one_status(reply);
	json_decref(reply);
	return CLI_EXIT_OK;
}

/* --- deploy ------------------------------------------------------------------------------------ */

static const char deploy_usage[] = "Usage: zlayer-agent deploy [--quiet] FILE\n"
                                   "\n"
                                   "Deploy the spec in FILE, or update the deployment of that name: services\n"
                                   "start in dependency order and the command returns once every service is\n"
                                   "up (its replicas started; `depends` conditions honoured), or with the\n"
                                   "first error. Changed services are replaced one replica at a time, each new\n"
                                   "replica healthy before an old one stops. Jobs and crons are registered.\n"
                                   "\n"
                                   "  -q, --quiet  print nothing on success\n";

static int deploy_run(int argc, char *argv[]) {
	static const struct option options[] = { { "quiet", no_argument, NULL, 'q' },
		                                 { "help", no_argument, NULL, 'h' },
		                                 {} };
	bool quiet = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+qh", options, NULL)) >= 0)
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(deploy_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(deploy_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	if (argc - optind != 1) {
		fputs(deploy_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	return deploy_file(argv[optind], quiet, NULL);
}

const struct cli_verb cli_verb_deploy = {
	.name = "deploy", .summary = "deploy or update a spec file", .usage = deploy_usage, .run = deploy_run
};

/* --- down ---------------------------------------------------------------------------------------- */

static const char down_usage[] = "Usage: zlayer-agent down DEPLOYMENT...\n"
                                 "\n"
                                 "Stop every replica of the deployment (dependents first, each with its\n"
                                 "stop_signal and stop_grace_period), remove them and forget the deployment.\n";

static int remove_deployment(const char *name) {
	_cleanup_free_ char *esc = api_client_escape(name), *path = xasprintf("/v1/deployments?name=%s", esc);
	struct za_error *err = NULL;

	if (api_client_call("DELETE", path, NULL, NULL, &err) < 0)
		return api_client_fail(err);
	return CLI_EXIT_OK;
}

static int down_run(int argc, char *argv[]) {
	int rc = CLI_EXIT_OK;

	if (argc < 2 || cli_wants_help(argc, argv)) {
		fputs(down_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	for (int i = 1; i < argc; i++)
		if (remove_deployment(argv[i]) != CLI_EXIT_OK)
			rc = CLI_EXIT_FAILURE;
		else
			printf("%s\n", argv[i]);
	return rc;
}

const struct cli_verb cli_verb_down = {
	.name = "down", .summary = "stop and remove a deployment", .usage = down_usage, .run = down_run
};

/* --- status -------------------------------------------------------------------------------------- */

static const char status_usage[] = "Usage: zlayer-agent status [--json] [DEPLOYMENT]\n"
                                   "\n"
                                   "Services with replicas ready/desired, phase, health, restarts and image,\n"
                                   "then each replica's id, state, health and pid.\n"
                                   "\n"
                                   "  --json  {deployment, services: {NAME: {desired, ready, phase, image,\n"
                                   "          replicas: [{id, state, health, restarts, pid, ...}]}}} (an array\n"
                                   "          of those without DEPLOYMENT)\n";

static int status_run(int argc, char *argv[]) {
	static const struct option options[] = { { "json", no_argument, NULL, 'j' },
		                                 { "help", no_argument, NULL, 'h' },
		                                 {} };
	_cleanup_free_ char *path = NULL;
	struct za_error *err = NULL;
	bool json = false;
	json_t *reply = NULL;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(status_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(status_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	if (argc - optind > 1) {
		fputs(status_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (optind < argc) {
		_cleanup_free_ char *esc = api_client_escape(argv[optind]);
		path = xasprintf("/v1/deployments?name=%s", esc);
	} else
		path = xstrdup("/v1/deployments");
	if (api_client_call("GET", path, NULL, &reply, &err) < 0)
		return api_client_fail(err);
	if (json) {
		_cleanup_free_ char *s = json_dumps(reply, JSON_INDENT(2));
		puts(s);
	} else if (json_is_array(reply))
		print_status_table(reply);
	else
		print_one_status(reply);
	json_decref(reply);
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_status = {
	.name = "status", .summary = "show deployments and their replicas", .usage = status_usage, .run = status_run
};

/* --- scale ----------------------------------------------------------------------------------------- */

static const char scale_usage[] = "Usage: zlayer-agent scale [DEPLOYMENT/]SERVICE REPLICAS\n"
                                  "\n"
                                  "Set a service's replica count: new replicas {service}-rep-{n} take the\n"
                                  "lowest free numbers, the highest-numbered go first. Returns once done.\n";

static int scale_run(int argc, char *argv[]) {
	_cleanup_free_ char *svc = NULL, *dep = NULL, *path = NULL, *e1 = NULL, *e2 = NULL;
	struct za_error *err = NULL;
	json_t *reply = NULL;
	uint32_t n;
	char *slash;

	if (cli_wants_help(argc, argv)) {
		fputs(scale_usage, stdout);
		return CLI_EXIT_OK;
	}
	if (argc != 3 || parse_uint32(argv[2], &n) < 0) {
		fputs(scale_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	svc = xstrdup(argv[1]);
	if ((slash = strchr(svc, '/'))) {
		*slash = '\0';
		dep = xstrdup(svc);
		memmove(svc, slash + 1, strlen(slash + 1) + 1);
	}
	e1 = api_client_escape(svc);
	if (dep) {
		e2 = api_client_escape(dep);
		path = xasprintf("/v1/deployments/scale?service=%s&replicas=%u&deployment=%s", e1, n, e2);
	} else
		path = xasprintf("/v1/deployments/scale?service=%s&replicas=%u", e1, n);
	if (api_client_call("POST", path, NULL, &reply, &err) < 0)
		return api_client_fail(err);
	print_one_status(reply);
	json_decref(reply);
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_scale = {
	.name = "scale", .summary = "set a service's replica count", .usage = scale_usage, .run = scale_run
};

/* --- events ------------------------------------------------------------------------------------- */

static const char events_usage[] = "Usage: zlayer-agent events [--json] [--no-follow] [--since SEQ] [DEPLOYMENT]\n"
                                   "\n"
                                   "Print the service manager's events (ContainerRestarted, CrashLoopBackOff,\n"
                                   "ContainerIsolated, ServiceShutdown, ContainerCompleted, health changes,\n"
                                   "deploy steps): the kept history, then new ones as they happen.\n";

static bool events_json;

static int on_event_line(json_t *line, void *userdata) {
	if (events_json) {
		_cleanup_free_ char *s = json_dumps(line, JSON_COMPACT);
		puts(s);
		fflush(stdout);
	} else
		print_event(line);
	return 0;
}

static int follow_events(const char *deployment, uint64_t since, bool follow) {
	_cleanup_free_ char *esc = deployment ? api_client_escape(deployment) : NULL, *path = NULL;
	struct za_error *err = NULL;

	path = xasprintf("/v1/events?since=%" PRIu64 "&follow=%d%s%s", since, follow ? 1 : 0, esc ? "&deployment=" : "",
	                 strempty(esc));
	if (api_client_stream("GET", path, NULL, on_event_line, NULL, &err) < 0)
		return api_client_fail(err);
	return CLI_EXIT_OK;
}

static int events_run(int argc, char *argv[]) {
	static const struct option options[] = { { "json", no_argument, NULL, 'j' },
		                                 { "no-follow", no_argument, NULL, 'n' },
		                                 { "since", required_argument, NULL, 's' },
		                                 { "help", no_argument, NULL, 'h' },
		                                 {} };
	bool follow = true;
	uint64_t since = 0;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
		switch (c) {
		case 'j':
			events_json = true;
			break;
		case 'n':
			follow = false;
			break;
		case 's':
			if (parse_uint64(optarg, &since) < 0) {
				fprintf(stderr, "error: --since takes an event sequence number, not '%s'\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(events_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(events_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	if (argc - optind > 1) {
		fputs(events_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	return follow_events(optind < argc ? argv[optind] : NULL, since, follow);
}

const struct cli_verb cli_verb_events = {
	.name = "events", .summary = "follow the service manager's events", .usage = events_usage, .run = events_run
};

/* --- up ------------------------------------------------------------------------------------------ */

static const char up_usage[] = "Usage: zlayer-agent up [--for DURATION] FILE\n"
                               "\n"
                               "Deploy FILE and print its status, then follow its events in the terminal\n"
                               "until Ctrl-C (SIGINT or SIGTERM), or until DURATION has passed; then print\n"
                               "the status once more and take the deployment down.\n"
                               "\n"
                               "  --for DURATION  take the deployment down after DURATION (\"60s\", \"5m\")\n";

static int print_deployment_status(const char *name) {
	_cleanup_free_ char *esc = api_client_escape(name), *path = xasprintf("/v1/deployments?name=%s", esc);
	struct za_error *err = NULL;
	json_t *reply = NULL, *a;

	if (api_client_call("GET", path, NULL, &reply, &err) < 0)
		return api_client_fail(err);
	a = json_array();
	json_array_append_new(a, reply);
	print_status_table(a);
	json_decref(a);
	fflush(stdout);
	return CLI_EXIT_OK;
}

/* Wait for SIGINT or SIGTERM, the follower's end (SIGCHLD) or the deadline
 * (CLOCK_MONOTONIC ns, 0 = none); the signal, or 0 when the time is up. */
static int up_wait(const sigset_t *set, uint64_t deadline) {
	for (;;) {
		struct timespec now, left;
		int sig;

		if (deadline == 0) {
			if (sigwait(set, &sig) == 0)
				return sig;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t t = (uint64_t)now.tv_sec * NSEC_PER_SEC + (uint64_t)now.tv_nsec;
		if (t >= deadline)
			return 0;
		left.tv_sec = (time_t)((deadline - t) / NSEC_PER_SEC);
		left.tv_nsec = (long)((deadline - t) % NSEC_PER_SEC);
		sig = sigtimedwait(set, NULL, &left);
		if (sig > 0)
			return sig;
		if (errno == EAGAIN)
			return 0;
	}
}

static int up_run(int argc, char *argv[]) {
	static const struct option options[] = { { "for", required_argument, NULL, 'f' },
		                                 { "help", no_argument, NULL, 'h' },
		                                 {} };
	_cleanup_free_ char *name = NULL;
	uint64_t duration = 0, deadline = 0;
	sigset_t set;
	pid_t child;
	int r, c, sig, status;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'f':
			if (parse_duration(optarg, &duration) < 0 || duration == 0) {
				fprintf(stderr, "error: --for takes a duration like \"60s\" or \"5m\", not '%s'\n",
				        optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(up_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(up_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	if (argc - optind != 1) {
		fputs(up_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	r = deploy_file(argv[optind], false, &name);
	if (r != CLI_EXIT_OK) {
		/* a partial deployment would outlive us: take it down */
		if (name)
			(void)remove_deployment(name);
		return r;
	}
	if (duration > 0) {
		char buf[FORMAT_DURATION_MAX];
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		deadline = (uint64_t)now.tv_sec * NSEC_PER_SEC + (uint64_t)now.tv_nsec + duration;
		printf("deployment '%s' is up; following events for %s (Ctrl-C takes it down sooner)\n", name,
		       format_duration(buf, sizeof(buf), duration));
	} else
		printf("deployment '%s' is up; following events (Ctrl-C takes it down)\n", name);
	fflush(stdout);
	/* The event stream runs in a child so the signal ends it cleanly. */
	child = fork();
	if (child < 0) {
		(void)remove_deployment(name);
		return CLI_EXIT_FAILURE;
	}
	if (child == 0) {
		(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
		(void)signal(SIGINT, SIG_DFL);
		_exit(follow_events(name, 0, true));
	}
	sig = up_wait(&set, deadline);
	(void)kill(child, SIGTERM);
	(void)waitpid(child, &status, 0);
	if (sig == 0)
		printf("\ntime is up (--for)\n");
	else if (sig == SIGCHLD)
		printf("\nthe event stream ended\n");
	else
		printf("\n");
	fflush(stdout);
	(void)print_deployment_status(name);
	printf("taking deployment '%s' down...\n", name);
	fflush(stdout);
	r = remove_deployment(name);
	if (r == CLI_EXIT_OK)
		printf("deployment '%s' removed\n", name);
	return r;
}

const struct cli_verb cli_verb_up = { .name = "up",
	                              .summary = "deploy, follow, and take down on Ctrl-C or after a time",
	                              .usage = up_usage,
	                              .run = up_run };

/* --- wasm ------------------------------------------------------------------------------------------ */

static const char wasm_usage[] = "Usage: zlayer-agent wasm precompile file:MODULE.wasm\n"
                                 "\n"
                                 "Build a WebAssembly module's fast tier (wasm2c + cc -O2) into the daemon's\n"
                                 "compile cache now, so that its first start does not need the tcc tier.\n";

static int wasm_run(int argc, char *argv[]) {
	_cleanup_free_ char *ref = NULL, *esc = NULL, *path = NULL, *cwd = NULL;
	struct za_error *err = NULL;
	json_t *reply = NULL;

	if (cli_wants_help(argc, argv)) {
		fputs(wasm_usage, stdout);
		return CLI_EXIT_OK;
	}
	if (argc != 3 || !streq(argv[1], "precompile")) {
		fputs(wasm_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strneq(argv[2], "file:", 5)) {
		fprintf(stderr, "error: expected file:PATH.wasm, not '%s'\n", argv[2]);
		return CLI_EXIT_USAGE;
	}
	cwd = getcwd(NULL, 0);
	ref = argv[2][5] == '/' ? xstrdup(argv[2]) : xasprintf("file:%s/%s", strempty(cwd), argv[2] + 5);
	esc = api_client_escape(ref);
	path = xasprintf("/v1/wasm/precompile?reference=%s", esc);
	if (api_client_call("POST", path, NULL, &reply, &err) < 0)
		return api_client_fail(err);
	printf("%s\n", strempty(json_string_value(json_object_get(reply, "cached"))));
	json_decref(reply);
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_wasm = {
	.name = "wasm", .summary = "WebAssembly: precompile a module", .usage = wasm_usage, .run = wasm_run
};

/* --- info ------------------------------------------------------------------------------------------ */

static const char info_usage[] = "Usage: zlayer-agent info [--json]\n"
                                 "\n"
                                 "What the daemon runs with (version, directories, OCI runtime, shim,\n"
                                 "WebAssembly runtime and cache, cgroup layout) and how many containers,\n"
                                 "images and deployments it holds.\n";

static int info_run(int argc, char *argv[]) {
	struct za_error *err = NULL;
	json_t *j = NULL, *rt, *n;
	bool json = argc == 2 && streq(argv[1], "--json");

	if (cli_wants_help(argc, argv)) {
		fputs(info_usage, stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 2 || (argc == 2 && !json)) {
		fputs(info_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (api_client_call("GET", "/v1/info", NULL, &j, &err) < 0)
		return api_client_fail(err);
	if (json) {
		_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2));
		puts(s);
	} else {
		rt = json_object_get(j, "runtime");
		n = json_object_get(j, "counts");
		printf("Version:        %s\n", strempty(json_string_value(json_object_get(j, "version"))));
		printf("Root dir:       %s\n", strempty(json_string_value(json_object_get(j, "root_dir"))));
		printf("Runtime dir:    %s\n", strempty(json_string_value(json_object_get(j, "runtime_dir"))));
		printf("OCI runtime:    %s\n", strempty(json_string_value(json_object_get(rt, "runtime"))));
		printf("Shim:           %s\n", strempty(json_string_value(json_object_get(rt, "shim"))));
		printf("WebAssembly:    %s (cache %s)\n",
		       strempty(json_string_value(json_object_get(rt, "wasm_runtime"))),
		       strempty(json_string_value(json_object_get(rt, "wasm_cache_dir"))));
		printf("Cgroups:        %s\n", strempty(json_string_value(json_object_get(rt, "cgroups"))));
		printf("Containers:     %" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(json_object_get(n, "containers")));
		printf("Images:         %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(n, "images")));
		printf("Deployments:    %" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(json_object_get(n, "deployments")));
	}
	json_decref(j);
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_info = {
	.name = "info", .summary = "show what the daemon runs with", .usage = info_usage, .run = info_run
};
