/* SPDX-License-Identifier: Apache-2.0 */
/* `run` and `create`: flags into a container config for POST /v1/containers.
 * `run` without -d starts the container attached (POST start?attach=1):
 * the daemon streams its output from the first byte, then its exit, which
 * becomes our exit status (128+N for signal N, as docker does).
 *
 * Ctrl-C while attached: the first SIGINT or SIGTERM stops the container
 * gracefully (its stop signal, SIGKILL after its grace period), the second
 * kills it at once, a third leaves without waiting. There is no stdin: the
 * signal is not forwarded, which also spares a PID 1 that ignores SIGINT
 * from hanging on. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "cli/cli-parse.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "basic/banned.h"

static const char run_usage[] = "Usage: zlayer-agent run [OPTIONS] IMAGE [COMMAND [ARGS...]]\n"
                                "\n"
                                "Create a container from IMAGE and start it. Options go before IMAGE; what\n"
                                "follows IMAGE is the container's command. Without -d the output is printed\n"
                                "until the container exits, and its exit status is ours (128+N for signal N).\n"
                                "Ctrl-C stops the container (again: kills it; a third time: detach).\n"
                                "\n"
                                "Options:\n"
                                "  -d, --detach               start in the background and print the id\n"
                                "  --rm                       remove the container when it exits\n"
                                "  --name NAME                container name and id (default zl-<12 hex>)\n"
                                "  -e, --env NAME=VALUE       environment variable (NAME alone: our value)\n"
                                "  -p, --publish [IP:]HOST:CTR[/PROTO]  publish a port (bridge network)\n"
                                "  -v, --volume SRC:DST[:ro]  bind mount (SRC a path) or volume (SRC a name)\n"
                                "  --tmpfs PATH[:size=64m,mode=1777]  a tmpfs mount\n"
                                "  --network bridge|host|none network mode (default bridge)\n"
                                "  -m, --memory SIZE          memory limit (512m, 1g)\n"
                                "  --cpus N                   CPU limit in cores (1.5)\n"
                                "  --pids-limit N             process limit (-1: none)\n"
                                "  -u, --user USER[:GROUP]    user to run as (name or uid)\n"
                                "  -w, --workdir DIR          working directory\n"
                                "  --entrypoint CMD           replace the image's entrypoint (\"\": none)\n"
                                "  --hostname NAME            host name (default: the container id)\n"
                                "  -l, --label KEY=VALUE      label\n"
                                "  --cap-add CAP, --cap-drop CAP  add or drop a capability (CAP_NET_ADMIN, ALL)\n"
                                "  --privileged               all capabilities and devices\n"
                                "  --read-only                read-only root filesystem\n"
                                "  -t, --tty                  give the container a terminal\n"
                                "  --stop-signal SIG          stop signal (default: the image's, else SIGTERM)\n"
                                "  --stop-timeout SECONDS     grace period before SIGKILL (default 10)\n"
                                "  --pull missing|always|never  when to pull the image (default missing)\n";

static const char create_usage[] = "Usage: zlayer-agent create [OPTIONS] IMAGE [COMMAND [ARGS...]]\n"
                                   "\n"
                                   "Create a container without starting it and print its id. Options are\n"
                                   "those of 'zlayer-agent run' except -d.\n";

enum {
	ARG_RM = 0x100,
	ARG_NAME,
	ARG_TMPFS,
	ARG_NETWORK,
	ARG_CPUS,
	ARG_PIDS,
	ARG_ENTRYPOINT,
	ARG_HOSTNAME,
	ARG_CAP_ADD,
	ARG_CAP_DROP,
	ARG_PRIVILEGED,
	ARG_READ_ONLY,
	ARG_STOP_SIGNAL,
	ARG_STOP_TIMEOUT,
	ARG_PULL,
	ARG_LOG_MAX_SIZE,
	ARG_LOG_OPT,
};

struct run_args {
	json_t *config;
	const char *pull;
	bool detach, rm;
};

static int bad_value(const char *verb, const char *flag, const char *value, const char *expected) {
	log_error("%s: invalid %s '%s': %s", verb, flag, value, expected);
	return CLI_EXIT_USAGE;
}

static int bad_spec(const char *verb, struct za_error *err) {
	log_error("%s: %s", verb, err->message);
	za_error_free(err);
	return CLI_EXIT_USAGE;
}

static void append(json_t *config, const char *key, json_t *value) {
	json_t *a = json_object_get(config, key);

	if (!a) {
		a = json_array();
		json_object_set_new(config, key, a);
	}
	json_array_append_new(a, value);
}

static json_t *resources(json_t *config) {
	json_t *r = json_object_get(config, "resources");

	if (!r) {
		r = json_object();
		json_object_set_new(config, "resources", r);
	}
	return r;
}

static json_t *mount_json(const struct container_mount *m) {
	static const char *const types[] = { "bind", "volume", "tmpfs" };
	json_t *j = json_pack("{s:s, s:s, s:b}", "type", types[m->type], "target", m->target, "readonly", m->readonly);

	if (m->source)
		json_object_set_new(j, "source", json_string(m->source));
	if (m->tmpfs_size)
		json_object_set_new(j, "size", json_integer((json_int_t)m->tmpfs_size));
	if (m->tmpfs_mode)
		json_object_set_new(j, "mode", json_integer(m->tmpfs_mode));
	return j;
}

/* Parse the flags into a->config. Returns -1 when parsed (*ret_first: the
 * index of IMAGE), else the exit status to leave with. */
static int parse_run(const char *verb, int argc, char *argv[], struct run_args *a, int *ret_first) {
	static const struct option options[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "rm", no_argument, NULL, ARG_RM },
		{ "name", required_argument, NULL, ARG_NAME },
		{ "env", required_argument, NULL, 'e' },
		{ "publish", required_argument, NULL, 'p' },
		{ "volume", required_argument, NULL, 'v' },
		{ "tmpfs", required_argument, NULL, ARG_TMPFS },
		{ "network", required_argument, NULL, ARG_NETWORK },
		{ "net", required_argument, NULL, ARG_NETWORK },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, ARG_CPUS },
		{ "pids-limit", required_argument, NULL, ARG_PIDS },
		{ "user", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "entrypoint", required_argument, NULL, ARG_ENTRYPOINT },
		{ "hostname", required_argument, NULL, ARG_HOSTNAME },
		{ "label", required_argument, NULL, 'l' },
		{ "cap-add", required_argument, NULL, ARG_CAP_ADD },
		{ "cap-drop", required_argument, NULL, ARG_CAP_DROP },
		{ "privileged", no_argument, NULL, ARG_PRIVILEGED },
		{ "read-only", no_argument, NULL, ARG_READ_ONLY },
		{ "tty", no_argument, NULL, 't' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "stop-signal", required_argument, NULL, ARG_STOP_SIGNAL },
		{ "stop-timeout", required_argument, NULL, ARG_STOP_TIMEOUT },
		{ "pull", required_argument, NULL, ARG_PULL },
		{ "log-max-size", required_argument, NULL, ARG_LOG_MAX_SIZE },
		{ "log-opt", required_argument, NULL, ARG_LOG_OPT },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *text = streq(verb, "run") ? run_usage : create_usage;
	_cleanup_free_ char *cwd = getcwd(NULL, 0);
	json_t *c = a->config;
	struct za_error *err = NULL;
	uint64_t u;
	int64_t i64;
	double d;
	int opt;

	optind = 0;
	/* "+": stop at IMAGE, so the container's own flags stay its own. */
	while ((opt = getopt_long(argc, argv, "+de:p:v:m:u:w:l:tih", options, NULL)) >= 0)
		switch (opt) {
		case 'h':
			fputs(text, stdout);
			return CLI_EXIT_OK;
		case 'd':
			if (!streq(verb, "run")) {
				fputs(text, stderr);
				return CLI_EXIT_USAGE;
			}
			a->detach = true;
			break;
		case ARG_RM:
			a->rm = true;
			json_object_set_new(c, "auto_remove", json_true());
			break;
		case ARG_NAME:
			json_object_set_new(c, "id", json_string(optarg));
			break;
		case 'e': {
			char *kv = NULL;
			if (cli_parse_env(optarg, &kv, &err) < 0)
				return bad_spec(verb, err);
			if (kv)
				append(c, "env", json_string(kv));
			free(kv);
			break;
		}
		case 'p': {
			struct container_port p;
			json_t *j;
			if (cli_parse_port(optarg, &p, &err) < 0)
				return bad_spec(verb, err);
			j = json_pack("{s:i, s:i, s:s}", "host_port", p.host_port, "container_port", p.container_port,
			              "protocol", p.protocol);
			if (p.host_ip)
				json_object_set_new(j, "host_ip", json_string(p.host_ip));
			append(c, "ports", j);
			free(p.protocol);
			free(p.host_ip);
			break;
		}
		case 'v':
		case ARG_TMPFS: {
			struct container_mount m;
			int r = opt == 'v' ? cli_parse_volume(optarg, cwd, &m, &err)
			                   : cli_parse_tmpfs(optarg, &m, &err);
			if (r < 0)
				return bad_spec(verb, err);
			append(c, "mounts", mount_json(&m));
			free(m.source);
			free(m.target);
			break;
		}
		case ARG_NETWORK:
			if (!streq(optarg, "bridge") && !streq(optarg, "host") && !streq(optarg, "none"))
				return bad_value(verb, "--network", optarg, "expected bridge, host or none");
			json_object_set_new(c, "network_mode", json_string(optarg));
			break;
		case 'm':
			if (cli_parse_memory(optarg, &u) < 0 || u == 0)
				return bad_value(verb, "--memory", optarg, "expected a size like 512m or 1g");
			json_object_set_new(resources(c), "memory", json_integer((json_int_t)u));
			break;
		case ARG_CPUS:
			if (parse_double(optarg, &d) < 0 || d <= 0 || d > 4096)
				return bad_value(verb, "--cpus", optarg, "expected a number of cores like 0.5 or 2");
			json_object_set_new(resources(c), "cpu", json_real(d));
			break;
		case ARG_PIDS:
			if (parse_int64(optarg, &i64) < 0 || i64 < -1 || i64 > INT32_MAX)
				return bad_value(verb, "--pids-limit", optarg, "expected a number of processes, or -1");
			json_object_set_new(resources(c), "pids_limit", json_integer(i64));
			break;
		case 'u':
			json_object_set_new(c, "user", json_string(optarg));
			break;
		case 'w':
			json_object_set_new(c, "workdir", json_string(optarg));
			break;
		case ARG_ENTRYPOINT:
			json_object_set_new(c, "entrypoint", isempty(optarg) ? json_array() : json_pack("[s]", optarg));
			break;
		case ARG_HOSTNAME:
			json_object_set_new(c, "hostname", json_string(optarg));
			break;
		case 'l': {
			const char *eq = strchr(optarg, '=');
			_cleanup_free_ char *k = eq ? xstrndup(optarg, (size_t)(eq - optarg)) : xstrdup(optarg);
			json_t *labels = json_object_get(c, "labels");
			if (isempty(k))
				return bad_value(verb, "--label", optarg, "expected KEY=VALUE");
			if (!labels) {
				labels = json_object();
				json_object_set_new(c, "labels", labels);
			}
			json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
			break;
		}
		case ARG_CAP_ADD:
		case ARG_CAP_DROP:
			append(c, opt == ARG_CAP_ADD ? "cap_add" : "cap_drop", json_string(optarg));
			break;
		case ARG_PRIVILEGED:
			json_object_set_new(c, "privileged", json_true());
			break;
		case ARG_READ_ONLY:
			json_object_set_new(c, "read_only_rootfs", json_true());
			break;
		case 't':
			json_object_set_new(c, "tty", json_true());
			break;
		case 'i':
			log_error("%s: -i/--interactive is not supported: containers get no stdin", verb);
			return CLI_EXIT_USAGE;
		case ARG_STOP_SIGNAL:
			json_object_set_new(c, "stop_signal", json_string(optarg));
			break;
		case ARG_STOP_TIMEOUT:
			if (parse_uint64(optarg, &u) < 0 || u > 86400)
				return bad_value(verb, "--stop-timeout", optarg, "expected seconds from 0 to 86400");
			json_object_set_new(c, "stop_grace", json_integer((json_int_t)u));
			break;
		case ARG_LOG_OPT:
			/* docker's spelling of the one json-file option we have */
			if (!strneq(optarg, "max-size=", 9))
				return bad_value(verb, "--log-opt", optarg, "only max-size=SIZE is supported");
			optarg += 9;
			_fallthrough_;
		case ARG_LOG_MAX_SIZE: {
			uint64_t sz;
			/* docker writes 10m for 10 MB; accept both that and 10Mi */
			_cleanup_free_ char *norm = xstrdup(optarg);
			size_t l = strlen(norm);
			if (l > 1 && (norm[l - 1] == 'k' || norm[l - 1] == 'm' || norm[l - 1] == 'g'))
				norm[l - 1] = (char)(norm[l - 1] - 'a' + 'A');
			if (parse_size(norm, &sz) < 0 || sz < 4096)
				return bad_value(verb, "--log-max-size", optarg,
				                 "expected a size of at least 4Ki, like 10Mi");
			json_object_set_new(c, "log_max_size", json_integer((json_int_t)sz));
			break;
		}
		case ARG_PULL:
			if (!streq(optarg, "missing") && !streq(optarg, "always") && !streq(optarg, "never"))
				return bad_value(verb, "--pull", optarg, "expected missing, always or never");
			a->pull = optarg;
			break;
		default:
			fputs(text, stderr);
			return CLI_EXIT_USAGE;
		}
	if (optind >= argc) {
		log_error("%s: expected an image; usage: zlayer-agent %s [OPTIONS] IMAGE [COMMAND [ARGS...]]", verb,
		          verb);
		return CLI_EXIT_USAGE;
	}
	if (strneq(argv[optind], "file:", 5) && argv[optind][5] != '/') {
		/* a WebAssembly module named relative to here: the daemon needs it absolute */
		_cleanup_free_ char *abs = xasprintf("file:%s/%s", cwd, argv[optind] + 5);
		json_object_set_new(c, "image", json_string(abs));
	} else
		json_object_set_new(c, "image", json_string(argv[optind]));
	if (optind + 1 < argc) {
		json_t *args = json_array();
		for (int i = optind + 1; i < argc; i++)
			json_array_append_new(args, json_string(argv[i]));
		json_object_set_new(c, "args", args);
	}
	*ret_first = optind;
	return -1;
}

/* docker run's exit codes when the command cannot run at all: 127 not
 * found, 126 not executable; other failures 1. */
static int fail(struct za_error *err) {
	const char *m = err && err->message ? err->message : "";
	bool exec_failed = strstr(m, "exec:");
	int code = CLI_EXIT_FAILURE;

	if (exec_failed && (strstr(m, "no such file or directory") || strstr(m, "executable file not found")))
		code = 127;
	else if (exec_failed && strstr(m, "permission denied"))
		code = 126;
	(void)api_client_fail(err);
	return code;
}

/* POST /v1/containers; the new id. */
static int create_container(const struct run_args *a, char **ret_id) {
	struct za_error *err = NULL;
	json_t *body = json_pack("{s:O, s:s}", "config", a->config, "pull", a->pull ? a->pull : "missing");
	json_t *reply = NULL;
	const char *id;
	int r;

	r = api_client_call("POST", "/v1/containers", body, &reply, &err);
	json_decref(body);
	if (r < 0)
		return fail(err);
	id = json_string_value(json_object_get(reply, "id"));
	if (!id) {
		json_decref(reply);
		za_error_make(&err, ZA_ERROR_INTERNAL, EPROTO, "the daemon's reply has no container id");
		return fail(err);
	}
	*ret_id = xstrdup(id);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static void remove_quietly(const char *id) {
	_cleanup_free_ char *esc = api_client_escape(id), *path = xasprintf("/v1/containers?id=%s&force=1", esc);
	struct za_error *err = NULL;

	if (api_client_call("DELETE", path, NULL, NULL, &err) < 0)
		za_error_free(err);
}

/* --- attached ------------------------------------------------------------------ */

struct attach {
	const char *id;
	bool got_exit;
	bool removed; /* the daemon said the container is gone */
	int exit_status;
	bool out_closed; /* our stdout/stderr went away: drop output, keep waiting */
	pthread_t signal_thread;
	sigset_t signals;
};

static int attach_line(json_t *line, void *userdata) {
	struct attach *at = userdata;
	json_t *log = json_object_get(line, "log"), *exit = json_object_get(line, "exit");
	const char *stream = json_string_value(json_object_get(line, "stream"));
	FILE *f = stream && streq(stream, "stderr") ? stderr : stdout;

	if (json_is_object(exit)) {
		at->got_exit = true;
		at->removed = json_is_true(json_object_get(line, "removed"));
		at->exit_status = cli_exit_status((int)json_integer_value(json_object_get(exit, "exit_code")),
		                                  (int)json_integer_value(json_object_get(exit, "signal")));
		return 0;
	}
	if (!json_is_string(log) || at->out_closed)
		return 0;
	if (fwrite(json_string_value(log), 1, json_string_length(log), f) != json_string_length(log) || fflush(f) != 0)
		at->out_closed = true;
	return 0;
}

struct action {
	char *path;
};

static void *action_thread(void *p) {
	struct action *a = p;
	struct za_error *err = NULL;

	if (api_client_call("POST", a->path, NULL, NULL, &err) < 0) {
		/* Already gone is fine: the stream ends by itself then. */
		if (err->kind != ZA_ERROR_NOT_FOUND)
			(void)api_client_print_error(err);
		za_error_free(err);
	}
	free(a->path);
	free(a);
	return NULL;
}

static void post_in_background(const char *path) {
	struct action *a = xnew(struct action, 1);
	pthread_attr_t attr;
	pthread_t t;

	a->path = xstrdup(path);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, action_thread, a) != 0) {
		free(a->path);
		free(a);
	}
	pthread_attr_destroy(&attr);
}

static void *signal_thread(void *p) {
	struct attach *at = p;
	_cleanup_free_ char *esc = api_client_escape(at->id);
	unsigned n = 0;
	int sig;

	for (;;) {
		if (sigwait(&at->signals, &sig) != 0 || sig == SIGUSR2)
			return NULL;
		if (++n == 1) {
			_cleanup_free_ char *path = xasprintf("/v1/containers/stop?id=%s", esc);
			fprintf(stderr, "stopping container %s (press Ctrl-C again to kill it)\n", at->id);
			post_in_background(path);
		} else if (n == 2) {
			_cleanup_free_ char *path = xasprintf("/v1/containers/kill?id=%s&signal=KILL", esc);
			fprintf(stderr, "killing container %s\n", at->id);
			post_in_background(path);
		} else {
			sigset_t one;
			fprintf(stderr, "detached from container %s\n", at->id);
			(void)signal(sig, SIG_DFL);
			sigemptyset(&one);
			sigaddset(&one, sig);
			(void)pthread_sigmask(SIG_UNBLOCK, &one, NULL);
			(void)raise(sig);
			return NULL;
		}
	}
}

static int run_attached(const struct run_args *a, const char *id) {
	struct attach at = { .id = id };
	struct za_error *err = NULL;
	_cleanup_free_ char *esc = api_client_escape(id);
	_cleanup_free_ char *path =
	        xasprintf("/v1/containers/start?id=%s&attach=1%s", esc, a->rm ? "&wait_removed=1" : "");
	bool have_thread;
	int r;

	sigemptyset(&at.signals);
	sigaddset(&at.signals, SIGINT);
	sigaddset(&at.signals, SIGTERM);
	sigaddset(&at.signals, SIGUSR2);
	(void)pthread_sigmask(SIG_BLOCK, &at.signals, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
	have_thread = pthread_create(&at.signal_thread, NULL, signal_thread, &at) == 0;

	r = api_client_stream("POST", path, NULL, attach_line, &at, &err);

	if (have_thread) {
		(void)pthread_kill(at.signal_thread, SIGUSR2);
		(void)pthread_join(at.signal_thread, NULL);
	}
	if (r < 0) {
		/* A start that failed leaves a created container: --rm means gone. */
		if (a->rm && !at.got_exit)
			remove_quietly(id);
		return fail(err);
	}
	if (!at.got_exit) {
		za_error_make(&err, ZA_ERROR_INTERNAL, EPROTO,
		              "the daemon ended the output of container '%s' without its exit status", id);
		return fail(err);
	}
	if (a->rm && !at.removed) {
		/* The daemon removes it; return once that is done, as docker does. */
		_cleanup_free_ char *wpath = xasprintf("/v1/containers/wait?id=%s&condition=removed", esc);
		if (api_client_call("POST", wpath, NULL, NULL, &err) < 0)
			err = za_error_free(err);
	}
	return at.exit_status;
}

static int run_or_create(const char *verb, int argc, char *argv[]) {
	struct run_args a = { .config = json_object() };
	_cleanup_free_ char *id = NULL;
	struct za_error *err = NULL;
	int first = 0, r;

	r = parse_run(verb, argc, argv, &a, &first);
	if (r >= 0)
		goto out;
	r = create_container(&a, &id);
	if (r != CLI_EXIT_OK)
		goto out;
	if (streq(verb, "create")) {
		printf("%s\n", id);
		goto out;
	}
	if (!a.detach) {
		r = run_attached(&a, id);
		goto out;
	}
	{
		_cleanup_free_ char *esc = api_client_escape(id), *path = xasprintf("/v1/containers/start?id=%s", esc);
		if (api_client_call("POST", path, NULL, NULL, &err) < 0) {
			if (a.rm)
				remove_quietly(id);
			r = fail(err);
			goto out;
		}
	}
	printf("%s\n", id);
	r = CLI_EXIT_OK;
out:
	json_decref(a.config);
	return r;
}

static int run_run(int argc, char *argv[]) {
	return run_or_create("run", argc, argv);
}

static int create_run(int argc, char *argv[]) {
	return run_or_create("create", argc, argv);
}

const struct cli_verb cli_verb_run = { .name = "run",
	                               .summary = "run a command in a new container",
	                               .usage = run_usage,
	                               .run = run_run,
	                               .own_help = true };

const struct cli_verb cli_verb_create = { .name = "create",
	                                  .summary = "create a container without starting it",
	                                  .usage = create_usage,
	                                  .run = create_run,
	                                  .own_help = true };
