/* SPDX-License-Identifier: Apache-2.0 */
/* `zlayer-agent secret set|ls|rm`: the daemon's secret store, which
 * services read through $S:name in their env. A value comes from stdin
 * only (never argv, which other users can read in /proc) and is never
 * printed back. */
#include <jansson.h>
#include <time.h>

#include "api/server.h"
#include "basic/alloc.h"
#include "basic/base64.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "cli/cli.h"
#include "cli/cli-parse.h"
#include "cli/client.h"
#include "service/secrets.h"
#include "basic/banned.h"

static const char secret_usage[] = "Usage: zlayer-agent secret COMMAND\n"
                                   "\n"
                                   "Manage the secrets the agent stores for services ($S:NAME and $S:NAME/FIELD\n"
                                   "in a service's env). Values are never shown.\n"
                                   "\n"
                                   "Commands:\n"
                                   "  set NAME       store the value read from stdin (at most 1 MiB), replacing any\n"
                                   "                 old one; bytes are kept exactly, a trailing newline included:\n"
                                   "                   printf %s \"$PASSWORD\" | zlayer-agent secret set db-password\n"
                                   "                 stores no newline ('echo' would add one)\n"
                                   "  ls [--json]    list secrets: name, size and when each was last set\n"
                                   "  rm NAME...     remove secrets\n"
                                   "\n"
                                   "Names: letters, digits, '_', '.', '-', starting with a letter or digit.\n";

/* {"value": text} for UTF-8 text, else {"value_base64": ...}. */
static json_t *set_body(const char *data, size_t len) {
	json_t *s = memchr(data, '\0', len) ? NULL : json_stringn(data, len);
	_cleanup_free_ char *b64 = NULL;

	if (s)
		return json_pack("{s:o}", "value", s);
	b64 = base64_encode(data, len);
	return json_pack("{s:s}", "value_base64", b64);
}

static int set_run(int argc, char *argv[]) {
	struct za_error *err = NULL;
	_cleanup_free_ char *data = NULL, *esc = NULL, *path = NULL, *payload = NULL;
	json_t *body;
	size_t len = 0;
	int r;

	if (argc != 2) {
		log_error("secret set: expected exactly one name; usage: printf %%s VALUE | zlayer-agent secret set "
		          "NAME");
		return CLI_EXIT_USAGE;
	}
	if (isatty(STDIN_FILENO)) {
		log_error("secret set: refusing to read secret '%s' from a terminal, where it would echo; pipe it "
		          "in: printf %%s VALUE | zlayer-agent secret set %s",
		          argv[1], argv[1]);
		return CLI_EXIT_USAGE;
	}
	r = read_full_fd(STDIN_FILENO, SECRETS_VALUE_MAX, &data, &len);
	if (r == -EFBIG) {
		log_error("secret set: the value on stdin is larger than the limit of %d bytes (1 MiB)",
		          SECRETS_VALUE_MAX);
		return CLI_EXIT_FAILURE;
	}
	if (r < 0) {
		log_error_errno(r, "secret set: cannot read the value from stdin: %m");
		return CLI_EXIT_FAILURE;
	}

	body = set_body(data, len);
	explicit_bzero(data, len);
	payload = json_dumps(body, JSON_COMPACT);
	if (payload && strlen(payload) > API_BODY_MAX) {
		log_error("secret set: secret '%s' is too large to send: its %zu bytes take %zu bytes as a request%s, "
		          "more than the API's limit of %d bytes",
		          argv[1], len, strlen(payload),
		          json_object_get(body, "value_base64") ? " (binary values travel as base64)" : "",
		          API_BODY_MAX);
		explicit_bzero(payload, strlen(payload));
		json_decref(body);
		return CLI_EXIT_FAILURE;
	}
	if (payload)
		explicit_bzero(payload, strlen(payload));

	esc = api_client_escape(argv[1]);
	path = xasprintf("/v1/secrets?name=%s", esc);
	r = api_client_call("PUT", path, body, NULL, &err);
	json_decref(body);
	if (r < 0)
		return api_client_fail(err);
	printf("%s\n", argv[1]);
	return CLI_EXIT_OK;
}

static int ls_run(int argc, char *argv[]) {
	struct za_error *err = NULL;
	json_t *reply = NULL, *arr, *s;
	bool json = argc == 2 && streq(argv[1], "--json");
	struct timespec ts;
	int64_t now;
	size_t i;

	if (argc > 2 || (argc == 2 && !json)) {
		log_error("secret ls: unexpected argument '%s'; usage: zlayer-agent secret ls [--json]",
		          argv[argc - 1]);
		return CLI_EXIT_USAGE;
	}
	if (api_client_call("GET", "/v1/secrets", NULL, &reply, &err) < 0)
		return api_client_fail(err);
	arr = json_object_get(reply, "secrets");
	if (json) {
		char *text = json_dumps(arr ?: json_array(), JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(text);
		free(text);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	printf("%-40s %-9s %s\n", "NAME", "SIZE", "UPDATED");
	json_array_foreach(arr, i, s) {
		int64_t updated = (int64_t)json_integer_value(json_object_get(s, "updated_ns"));
		_cleanup_free_ char *ago = cli_human_duration(now > updated ? now - updated : 0);
		char size[16];

		cli_format_bytes(size, sizeof(size), (uint64_t)json_integer_value(json_object_get(s, "size")));
		printf("%-40s %-9s %s ago\n", strempty(json_string_value(json_object_get(s, "name"))), size, ago);
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int rm_run(int argc, char *argv[]) {
	int rc = CLI_EXIT_OK;

	if (argc < 2) {
		log_error("secret rm: expected at least one name; usage: zlayer-agent secret rm NAME...");
		return CLI_EXIT_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		struct za_error *err = NULL;
		_cleanup_free_ char *esc = api_client_escape(argv[i]), *path = xasprintf("/v1/secrets?name=%s", esc);

		if (api_client_call("DELETE", path, NULL, NULL, &err) < 0) {
			rc = api_client_fail(err);
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

static int secret_run(int argc, char *argv[]) {
	if (argc < 2) {
		fputs(secret_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (streq(argv[1], "set"))
		return set_run(argc - 1, argv + 1);
	if (streq(argv[1], "ls") || streq(argv[1], "list"))
		return ls_run(argc - 1, argv + 1);
	if (streq(argv[1], "rm") || streq(argv[1], "remove"))
		return rm_run(argc - 1, argv + 1);
	log_error("secret: unknown command '%s'; run 'zlayer-agent secret --help'", argv[1]);
	return CLI_EXIT_USAGE;
}

const struct cli_verb cli_verb_secret = { .name = "secret",
	                                  .summary = "manage secrets for services (set, ls, rm)",
	                                  .usage = secret_usage,
	                                  .run = secret_run };
