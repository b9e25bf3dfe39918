/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer-agent validate FILE...: parse and validate deployment specs; print
 * every error of every file, a summary of each valid one, or with --json the
 * normalised spec with defaults filled in. */
#include <getopt.h>
#include <time.h>

#include "basic/alloc.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "cli/cli.h"
#include "spec/spec.h"
#include "basic/banned.h"

static const char usage[] = "Usage: zlayer-agent validate [--json] [--quiet] FILE...\n"
                            "\n"
                            "Check deployment spec files. Every error of every file is printed as\n"
                            "FILE:LINE:COL: KEY.PATH: MESSAGE (at most 50 per file).\n"
                            "\n"
                            "Options:\n"
                            "  --json     print the normalised spec of each valid file, defaults filled in\n"
                            "             (one object for one file, an array for several)\n"
                            "  -q, --quiet  print nothing for valid files\n"
                            "  -h, --help   show this help\n"
                            "\n"
                            "Exit status: 0 all files valid, 1 some file invalid, 2 usage error.\n";

static void describe_scale(struct strbuf *sb, const struct spec_service *s) {
	switch (s->scale.mode) {
	case SPEC_SCALE_FIXED:
		strbuf_addf(sb, "%u replica%s", s->scale.replicas, s->scale.replicas == 1 ? "" : "s");
		break;
	case SPEC_SCALE_MANUAL:
		strbuf_addstr(sb, "manual scale (1 replica)");
		break;
	default:
		strbuf_addf(sb, "adaptive %u-%u replicas", s->scale.min, s->scale.max);
	}
}

static void describe_health(struct strbuf *sb, const struct spec_service *s) {
	const struct spec_health_check *c = &s->health.check;
	char iv[FORMAT_DURATION_MAX];

	format_duration(iv, sizeof(iv), s->health.interval_nsec);
	switch (c->type) {
	case SPEC_CHECK_TCP:
		strbuf_addf(sb, "health tcp:%u every %s", c->port, iv);
		break;
	case SPEC_CHECK_HTTP:
		strbuf_addf(sb, "health http %s -> %u every %s", c->url, c->expect_status, iv);
		break;
	case SPEC_CHECK_COMMAND:
		strbuf_addf(sb, "health command every %s", iv);
		break;
	default:
		strbuf_addstr(sb, "no health probe");
	}
}

static void print_summary(const struct spec_deployment *d) {
	size_t width = 0;

	printf("%s: ok: deployment '%s', %zu service%s\n", d->file, d->name, d->n_services,
	       d->n_services == 1 ? "" : "s");
	for (size_t i = 0; i < d->n_services; i++)
		width = MAX(width, strlen(d->services[i].name));

	for (size_t i = 0; i < d->n_services; i++) {
		const struct spec_service *s = &d->services[i];
		_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
		_cleanup_free_ char *image = image_reference_to_string(&s->image.ref);

		strbuf_addf(&sb, "  %-*s  %-7s  %s", (int)width, s->name, spec_rtype_to_string(s->rtype), image);
		if (s->rtype == SPEC_RTYPE_SERVICE) {
			strbuf_addstr(&sb, ", ");
			describe_scale(&sb, s);
			strbuf_addstr(&sb, ", ");
			describe_health(&sb, s);
		} else if (s->rtype == SPEC_RTYPE_CRON) {
			time_t next;
			struct tm tm;
			char when[64] = "never";

			if (cron_next(&s->cron, time(NULL), &next) >= 0 && gmtime_r(&next, &tm))
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
			strbuf_addf(&sb, ", schedule \"%s\" (next %s)", s->schedule, when);
		}
		for (size_t j = 0; j < s->n_endpoints; j++)
			strbuf_addf(&sb, "%s%s %s:%u", j == 0 ? ", endpoints " : ", ", s->endpoints[j].name,
			            spec_protocol_to_string(s->endpoints[j].protocol), s->endpoints[j].port);
		for (size_t j = 0; j < s->n_depends; j++) {
			char to[FORMAT_DURATION_MAX];
			strbuf_addf(&sb, "%s%s (%s within %s)", j == 0 ? ", after " : ", ", s->depends[j].service,
			            spec_condition_to_string(s->depends[j].condition),
			            format_duration(to, sizeof(to), s->depends[j].timeout_nsec));
		}
		if (s->n_init_steps)
			strbuf_addf(&sb, ", %zu init step%s", s->n_init_steps, s->n_init_steps == 1 ? "" : "s");
		puts(strbuf_str(&sb));
	}
	printf("  start order:");
	for (size_t i = 0; i < d->n_services; i++)
		printf("%s %s", i ? "," : "", d->services[d->start_order[i]].name);
	putchar('\n');
}

static int validate_run(int argc, char *argv[]) {
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	bool json = false, quiet = false;
	int c, failed = 0, nfiles;
	_cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+qh", options, NULL)) >= 0)
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(usage, stderr);
			return CLI_EXIT_USAGE;
		}
	nfiles = argc - optind;
	if (nfiles <= 0) {
		log_error("validate: no spec file given; usage: zlayer-agent validate FILE...");
		return CLI_EXIT_USAGE;
	}

	if (json && nfiles > 1)
		strbuf_addstr(&out, "[\n");
	for (int i = optind; i < argc; i++) {
		_cleanup_(spec_deployment_freep) struct spec_deployment *d = NULL;
		_cleanup_za_error_ struct za_error *err = NULL;
		struct spec_diagnostics diags;

		if (spec_load_file(argv[i], &d, &diags, &err) < 0) {
			for (size_t k = 0; k < diags.n; k++) {
				_cleanup_free_ char *line = spec_diag_format(&diags, &diags.items[k]);
				fprintf(stderr, "%s\n", line);
			}
			if (diags.n == 0) {
				_cleanup_free_ char *m = za_error_format(err);
				fprintf(stderr, "%s\n", m);
			}
			if (diags.truncated)
				fprintf(stderr, "%s: too many errors (%zu in all); showing the first %d\n", argv[i],
				        diags.n_found, SPEC_MAX_DIAGNOSTICS);
			spec_diagnostics_release(&diags);
			failed++;
			continue;
		}
		spec_diagnostics_release(&diags);
		if (json) {
			_cleanup_free_ char *j = spec_to_json(d);
			if (out.len > 2)
				strbuf_addstr(&out, ",\n");
			strbuf_addstr(&out, j);
		} else if (!quiet)
			print_summary(d);
	}
	if (json) {
		if (nfiles > 1)
			strbuf_addstr(&out, "\n]");
		if (out.len)
			puts(strbuf_str(&out));
	}
	if (failed && nfiles > 1)
		fprintf(stderr, "%d of %d spec files are invalid\n", failed, nfiles);
	return failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

const struct cli_verb cli_verb_validate = {
	.name = "validate",
	.summary = "check deployment spec files and print a summary",
	.usage = usage,
	.run = validate_run,
};
