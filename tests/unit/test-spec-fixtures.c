/* SPDX-License-Identifier: Apache-2.0 */
/* Every spec under tests/fixtures/specs/good must load, and its normalised
 * JSON must load back to the same JSON; every spec under .../bad must fail
 * with exactly the diagnostics in the .err file beside it (one per line,
 * "NAME.yaml:LINE:COL: PATH: MESSAGE"). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/strbuf.h"
#include "spec/spec.h"

static int cmp_str(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted .yaml names in dir. */
static char **list_yaml(const char *dir) {
	char **l = NULL;
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n > 5 && streq(de->d_name + n - 5, ".yaml"))
			strv_push(&l, de->d_name);
	}
	closedir(d);
	if (l)
		qsort(l, strv_length(l), sizeof(char *), cmp_str);
	return l;
}

static char *diagnostics_text(const struct spec_diagnostics *diags) {
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < diags->n; i++) {
		_cleanup_free_ char *line = spec_diag_format(diags, &diags->items[i]);
		strbuf_addf(&sb, "%s\n", line);
	}
	return strbuf_detach(&sb, NULL);
}

static void test_good_specs(void **state) {
	_cleanup_strv_free_ char **files = list_yaml(FIXTURES_DIR "/specs/good");
	size_t count = 0;

	STRV_FOREACH (f, files) {
		_cleanup_free_ char *path = xasprintf(FIXTURES_DIR "/specs/good/%s", *f), *buf = NULL;
		_cleanup_free_ char *json = NULL, *json2 = NULL, *text = NULL;
		_cleanup_(spec_deployment_freep) struct spec_deployment *d = NULL, *d2 = NULL;
		struct spec_diagnostics diags;
		size_t len;
		int r;

		assert_int_equal(read_full_file(path, SPEC_MAX_FILE_SIZE, &buf, &len), 0);
		r = spec_load_string(*f, buf, len, &d, &diags, NULL);
		text = diagnostics_text(&diags);
		if (r < 0)
			print_error("%s should be valid but got:\n%s", *f, text);
		assert_int_equal(r, 0);
		spec_diagnostics_release(&diags);

		json = spec_to_json(d);
		r = spec_load_string("roundtrip.json", json, strlen(json), &d2, &diags, NULL);
		free(text);
		text = diagnostics_text(&diags);
		if (r < 0)
			print_error("normalised JSON of %s does not load:\n%s\n%s", *f, text, json);
		assert_int_equal(r, 0);
		spec_diagnostics_release(&diags);
		json2 = spec_to_json(d2);
		assert_string_equal(json, json2);
		count++;
	}
	print_message("%zu good specs\n", count);
	assert_true(count >= 10);
}

static void test_bad_specs(void **state) {
	_cleanup_strv_free_ char **files = list_yaml(FIXTURES_DIR "/specs/bad");
	size_t count = 0, failures = 0;

	STRV_FOREACH (f, files) {
		_cleanup_free_ char *path = xasprintf(FIXTURES_DIR "/specs/bad/%s", *f), *buf = NULL;
		_cleanup_free_ char *errpath = NULL, *expected = NULL, *got = NULL;
		_cleanup_(spec_deployment_freep) struct spec_deployment *d = NULL;
		struct spec_diagnostics diags;
		size_t len;
		int r;

		errpath = xasprintf("%.*s.err", (int)(strlen(path) - 5), path);
		assert_int_equal(read_full_file(path, SPEC_MAX_FILE_SIZE, &buf, &len), 0);
		if (read_full_file(errpath, 1 << 20, &expected, &len) < 0) {
			print_error("%s has no .err file\n", *f);
			failures++;
			continue;
		}
		r = spec_load_string(*f, buf, len = strlen(buf), &d, &diags, NULL);
		got = diagnostics_text(&diags);
		spec_diagnostics_release(&diags);
		if (r >= 0 || !streq(got, expected)) {
			print_error("%s: expected:\n%sgot:\n%s", *f, expected, got);
			failures++;
		}
		count++;
	}
	print_message("%zu bad specs\n", count);
	assert_int_equal(failures, 0);
	assert_true(count >= 40);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_specs),
		cmocka_unit_test(test_bad_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
