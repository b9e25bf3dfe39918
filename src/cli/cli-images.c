/* SPDX-License-Identifier: Apache-2.0 */
/* Image commands: pull, images, image inspect/prune/ls/rm, tag, rmi, load.
 * They talk to the daemon through the API client; progress of pull and load
 * is drawn as bars on a terminal and as plain lines otherwise. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "cli/cli.h"
#include "cli/cli-parse.h"
#include "cli/client.h"
#include "basic/banned.h"

/* --- pull / load progress ------------------------------------------------ */

struct layer_line {
	char *digest;
	char *state;
	uint64_t current, total;
	uint64_t rate_base, rate_bytes; /* for the rate estimate */
	int64_t rate_start_ms;
};

struct progress {
	bool tty, quiet;
	struct layer_line *layers;
	size_t n, alloc;
	size_t drawn; /* lines drawn last time */
	char *digest, *reference;
	struct za_error *error;
};

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct layer_line *progress_layer(struct progress *p, const char *digest) {
	for (size_t i = 0; i < p->n; i++)
		if (streq(p->layers[i].digest, digest))
			return &p->layers[i];
	GROW(p->layers, p->alloc, p->n + 1);
	p->layers[p->n] =
	        (struct layer_line){ .digest = xstrdup(digest), .state = xstrdup(""), .rate_start_ms = now_ms() };
	return &p->layers[p->n++];
}

static void progress_draw(struct progress *p) {
	if (p->drawn)
		fprintf(stderr, "\033[%zuA", p->drawn);
	for (size_t i = 0; i < p->n; i++) {
		struct layer_line *l = &p->layers[i];
		char cur[16], tot[16], rate[48] = "";
		int64_t ms = now_ms() - l->rate_start_ms;
		int width = 30, fill = l->total ? (int)((double)l->current / (double)l->total * width) : 0;
		char bar[64];

		cli_format_bytes(cur, sizeof(cur), l->current);
		cli_format_bytes(tot, sizeof(tot), l->total);
		if (streq(l->state, "downloading") && ms > 500 && l->current > l->rate_base) {
			double bps = (double)(l->current - l->rate_base) * 1000.0 / (double)ms;
			char r[16];
			cli_format_bytes(r, sizeof(r), (uint64_t)bps);
			snprintf(rate, sizeof(rate), "%s/s", r);
			if (bps > 0) {
				size_t off = strlen(rate);
				snprintf(rate + off, sizeof(rate) - off, " %.0fs",
				         (double)(l->total - l->current) / bps);
			}
		}
		fill = MIN(MAX(fill, 0), width);
		memset(bar, '=', (size_t)fill);
		memset(bar + fill, ' ', (size_t)(width - fill));
		bar[width] = '\0';
		fprintf(stderr, "\033[2K%.19s: %-11s [%s] %7s/%-7s %s\n", l->digest + 7, l->state, bar, cur, tot, rate);
	}
	p->drawn = p->n;
	fflush(stderr);
}

static int progress_line(json_t *line, void *userdata) {
	struct progress *p = userdata;
	const char *status = json_string_value(json_object_get(line, "status"));

	if (!status)
		return 0;
	if (streq(status, "layer")) {
		const char *digest = json_string_value(json_object_get(line, "layer"));
		const char *state = json_string_value(json_object_get(line, "state"));
		struct layer_line *l;
		bool changed;

		if (!digest || !state)
			return 0;
		l = progress_layer(p, digest);
		changed = !streq(l->state, state);
		if (changed) {
			free(l->state);
			l->state = xstrdup(state);
			l->rate_base = l->current;
			l->rate_start_ms = now_ms();
		}
		l->current = (uint64_t)json_integer_value(json_object_get(line, "current"));
		l->total = (uint64_t)json_integer_value(json_object_get(line, "total"));
		if (p->quiet)
			return 0;
		if (p->tty)
			progress_draw(p);
		else if (changed && !streq(state, "verifying"))
			fprintf(stderr, "%.19s: %s\n", digest + 7, state);
	} else if (streq(status, "progress")) {
		if (!p->quiet && !p->tty)
			fprintf(stderr, "%s\n", strempty(json_string_value(json_object_get(line, "message"))));
	} else if (streq(status, "done")) {
		p->digest = xstrdup(strempty(json_string_value(json_object_get(line, "digest"))));
		p->reference = xstrdup(strempty(json_string_value(json_object_get(line, "reference"))));
	} else if (streq(status, "error")) {
		json_t *e = json_object_get(line, "error");
		const char *kind = json_string_value(json_object_get(e, "kind"));
		za_error_make(&p->error, kind ? za_error_kind_from_string(kind) : ZA_ERROR_INTERNAL, EIO, "%s",
		              strempty(json_string_value(json_object_get(e, "message"))));
	}
	return 0;
}

static int run_fetch(const char *path, const char *reference, const char *platform, bool quiet) {
	struct progress p = { .tty = isatty(STDERR_FILENO), .quiet = quiet };
	struct za_error *err = NULL;
	json_t *body = json_pack("{s:s}", "reference", reference);
	int r;

	if (platform)
		json_object_set_new(body, "platform", json_string(platform));
	r = api_client_stream("POST", path, body, progress_line, &p, &err);
	json_decref(body);
	for (size_t i = 0; i < p.n; i++) {
		free(p.layers[i].digest);
		free(p.layers[i].state);
	}
	free(p.layers);
	if (r < 0)
		return api_client_fail(err);
	if (p.error) {
		za_error_free(err);
		return api_client_fail(p.error);
	}
	if (!p.digest) {
		za_error_make(&err, ZA_ERROR_INTERNAL, EPROTO, "the daemon ended the stream without a result");
		return api_client_fail(err);
	}
	if (!quiet)
		printf("%s\n", p.reference);
	printf("digest: %s\n", p.digest);
	free(p.digest);
	free(p.reference);
	return CLI_EXIT_OK;
}

static const char pull_usage[] =
        "Usage: zlayer-agent pull [--platform OS/ARCH[/VARIANT]] [--quiet] REFERENCE\n"
        "\n"
        "Pull an image from a registry into the local store and unpack its layers.\n"
        "Credentials come from --registry-auth of the daemon or ~/.docker/config.json.\n"
        "\n"
        "  --platform P  the platform to pick from a multi-platform image (default: the node's)\n"
        "  -q, --quiet   print only the digest\n";

static int pull_run(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{},
	};
	const char *platform = NULL;
	bool quiet = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "q", options, NULL)) >= 0)
		switch (c) {
		case 'p':
			platform = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			fputs(pull_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	if (argc - optind != 1) {
		log_error("pull: expected exactly one image reference; usage: zlayer-agent pull REFERENCE");
		return CLI_EXIT_USAGE;
	}
	return run_fetch("/v1/images/pull", argv[optind], platform, quiet);
}

const struct cli_verb cli_verb_pull = {
	.name = "pull", .summary = "pull an image from a registry", .usage = pull_usage, .run = pull_run
};

static const char load_usage[] = "Usage: zlayer-agent load REFERENCE\n"
                                 "\n"
                                 "Load an image from a local source into the store:\n"
                                 "  oci-layout:DIR[:TAG]     an OCI image layout directory\n"
                                 "  oci-archive:FILE[:TAG]   a tar archive of an OCI image layout\n"
                                 "  docker-archive:FILE      a 'docker save' archive\n";

static int load_run(int argc, char *argv[]) {
	if (argc != 2) {
		log_error("load: expected exactly one reference; usage: zlayer-agent load oci-layout:DIR[:TAG]");
		return CLI_EXIT_USAGE;
	}
	return run_fetch("/v1/images/load", argv[1], NULL, false);
}

const struct cli_verb cli_verb_load = {
	.name = "load", .summary = "load an image from an OCI layout or archive", .usage = load_usage, .run = load_run
};

/* --- images, inspect, tag, rmi, prune ------------------------------------- */

static char *relative_time(const char *created) {
	struct tm tm = {};
	time_t t, now = time(NULL);
	double d;

	if (!created || !strptime(created, "%Y-%m-%dT%H:%M:%S", &tm))
		return xstrdup("-");
	t = timegm(&tm);
	d = difftime(now, t);
	if (d < 120)
		return xstrdup("just now");
	if (d < 7200)
		return xasprintf("%.0f minutes ago", d / 60);
	if (d < 2 * 86400)
		return xasprintf("%.0f hours ago", d / 3600);
	if (d < 60 * 86400)
		return xasprintf("%.0f days ago", d / 86400);
	if (d < 730 * 86400)
		return xasprintf("%.0f months ago", d / (30 * 86400));
	return xasprintf("%.0f years ago", d / (365 * 86400));
}

static const char images_usage[] = "Usage: zlayer-agent images [--json]\n"
                                   "\n"
                                   "List stored images: repository, tag, digest, size and creation time.\n";

static int images_run(int argc, char *argv[]) {
	struct za_error *err = NULL;
	json_t *reply = NULL, *arr, *img;
	bool json = argc > 1 && streq(argv[argc - 1], "--json");
	size_t i;

	if (argc > 2 || (argc == 2 && !json)) {
		fputs(images_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (api_client_call("GET", "/v1/images", NULL, &reply, &err) < 0)
		return api_client_fail(err);
	arr = json_object_get(reply, "images");
	if (json) {
		char *s = json_dumps(arr, JSON_INDENT(2));
		puts(s);
		free(s);
		json_decref(reply);
		return CLI_EXIT_OK;
	}
	printf("%-40s %-16s %-19s %-9s %s\n", "REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED");
	json_array_foreach(arr, i, img) {
		json_t *refs = json_object_get(img, "references");
		const char *digest = strempty(json_string_value(json_object_get(img, "digest")));
		_cleanup_free_ char *when = relative_time(json_string_value(json_object_get(img, "created")));
		char size[16];
		size_t k;
		json_t *r;

		cli_format_bytes(size, sizeof(size), (uint64_t)json_integer_value(json_object_get(img, "size")));
		if (json_array_size(refs) == 0)
			printf("%-40s %-16s %-19.19s %-9s %s\n", "<none>", "<none>", digest, size, when);
		json_array_foreach(refs, k, r) {
			const char *ref = json_string_value(r), *colon = strrchr(ref, ':'), *slash = strrchr(ref, '/');
			_cleanup_free_ char *repo = NULL;

			if (colon && (!slash || colon > slash))
				repo = xstrndup(ref, (size_t)(colon - ref));
			else
				repo = xstrdup(ref);
			printf("%-40s %-16s %-19.19s %-9s %s\n", repo,
			       colon && (!slash || colon > slash) ? colon + 1 : "<none>", digest, size, when);
		}
	}
	json_decref(reply);
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_images = {
	.name = "images", .summary = "list stored images", .usage = images_usage, .run = images_run
};

static int inspect_one(const char *ref) {
	struct za_error *err = NULL;
	_cleanup_free_ char *esc = api_client_escape(ref), *path = xasprintf("/v1/images/inspect?ref=%s", esc);
	json_t *reply = NULL;
	char *s;

	if (api_client_call("GET", path, NULL, &reply, &err) < 0)
		return api_client_fail(err);
	s = json_dumps(reply, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int remove_one(const char *ref, bool force) {
	struct za_error *err = NULL;
	_cleanup_free_ char *esc = api_client_escape(ref);
	_cleanup_free_ char *path = xasprintf("/v1/images?ref=%s%s", esc, force ? "&force=1" : "");
	json_t *reply = NULL, *v;
	size_t i;

	if (api_client_call("DELETE", path, NULL, &reply, &err) < 0)
		return api_client_fail(err);
	json_array_foreach(json_object_get(reply, "untagged"), i, v) printf("untagged: %s\n", json_string_value(v));
	json_array_foreach(json_object_get(reply, "deleted"), i, v) printf("deleted: %s\n", json_string_value(v));
	json_decref(reply);
	return CLI_EXIT_OK;
}

static int prune_run(void) {
	struct za_error *err = NULL;
	json_t *reply = NULL, *v;
	size_t i;

	if (api_client_call("POST", "/v1/images/prune", NULL, &reply, &err) < 0)
		return api_client_fail(err);
	json_array_foreach(json_object_get(reply, "deleted"), i, v) printf("deleted: %s\n", json_string_value(v));
	printf("reclaimed %" JSON_INTEGER_FORMAT " bytes\n", json_integer_value(json_object_get(reply, "reclaimed")));
	json_decref(reply);
	return CLI_EXIT_OK;
}

static const char rmi_usage[] = "Usage: zlayer-agent rmi [--force] IMAGE...\n"
                                "\n"
                                "Remove images by name or digest. A name that is one of several names of an\n"
                                "image only removes that name; --force removes the image with all its names.\n"
                                "Blobs and layers no other image uses are deleted.\n";

static int rmi_run(int argc, char *argv[]) {
	bool force = false;
	int first = 1, rc = CLI_EXIT_OK;

	if (argc > 1 && (streq(argv[1], "-f") || streq(argv[1], "--force"))) {
		force = true;
		first = 2;
	}
	if (first >= argc) {
		fputs(rmi_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	for (int i = first; i < argc; i++)
		if (remove_one(argv[i], force) != CLI_EXIT_OK)
			rc = CLI_EXIT_FAILURE;
	return rc;
}

const struct cli_verb cli_verb_rmi = { .name = "rmi", .summary = "remove images", .usage = rmi_usage, .run = rmi_run };

static const char tag_usage[] = "Usage: zlayer-agent tag SOURCE TARGET\n"
                                "\n"
                                "Give the image SOURCE (name or digest) the additional name TARGET.\n";

static int tag_run(int argc, char *argv[]) {
	struct za_error *err = NULL;
	json_t *reply = NULL, *body;

	if (argc != 3) {
		fputs(tag_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	body = json_pack("{s:s, s:s}", "source", argv[1], "target", argv[2]);
	if (api_client_call("POST", "/v1/images/tag", body, &reply, &err) < 0) {
		json_decref(body);
		return api_client_fail(err);
	}
	json_decref(body);
	printf("%s -> %s\n", json_string_value(json_object_get(reply, "reference")),
	       json_string_value(json_object_get(reply, "digest")));
	json_decref(reply);
	return CLI_EXIT_OK;
}

const struct cli_verb cli_verb_tag = {
	.name = "tag", .summary = "add a name to an image", .usage = tag_usage, .run = tag_run
};

static const char image_usage[] = "Usage: zlayer-agent image COMMAND\n"
                                  "\n"
                                  "Commands:\n"
                                  "  ls [--json]            list images (as 'images')\n"
                                  "  inspect IMAGE...       print image details and config as JSON\n"
                                  "  rm [--force] IMAGE...  remove images (as 'rmi')\n"
                                  "  prune                  remove unnamed images and unreferenced blobs and layers\n"
                                  "  pull, load, tag        as the top-level commands\n";

static int image_run(int argc, char *argv[]) {
	int rc = CLI_EXIT_OK;

	if (argc < 2) {
		fputs(image_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (streq(argv[1], "ls") || streq(argv[1], "list"))
		return images_run(argc - 1, argv + 1);
	if (streq(argv[1], "rm"))
		return rmi_run(argc - 1, argv + 1);
	if (streq(argv[1], "pull"))
		return pull_run(argc - 1, argv + 1);
	if (streq(argv[1], "load"))
		return load_run(argc - 1, argv + 1);
	if (streq(argv[1], "tag"))
		return tag_run(argc - 1, argv + 1);
	if (streq(argv[1], "prune")) {
		if (argc != 2) {
			fputs(image_usage, stderr);
			return CLI_EXIT_USAGE;
		}
		return prune_run();
	}
	if (streq(argv[1], "inspect")) {
		int first = 2;
		if (argc > 2 && streq(argv[2], "--json"))
			first = 3;
		if (first >= argc) {
			fputs(image_usage, stderr);
			return CLI_EXIT_USAGE;
		}
		for (int i = first; i < argc; i++)
			if (!streq(argv[i], "--json") && inspect_one(argv[i]) != CLI_EXIT_OK)
				rc = CLI_EXIT_FAILURE;
		return rc;
	}
	log_error("image: unknown command '%s'; run 'zlayer-agent image --help'", argv[1]);
	return CLI_EXIT_USAGE;
}

const struct cli_verb cli_verb_image = {
	.name = "image", .summary = "manage images (ls, inspect, rm, prune)", .usage = image_usage, .run = image_run
};
