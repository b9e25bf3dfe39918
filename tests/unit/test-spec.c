/* SPDX-License-Identifier: Apache-2.0 */
/* The spec loader's API: defaults, resolved values, start order, error
 * collection and caps. Per-message checks live in the fixture test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>

#include "basic/alloc.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "spec/spec.h"

static struct spec_deployment *load_ok(const char *yaml) {
	struct spec_deployment *d = NULL;
	struct spec_diagnostics diags;
	int r = spec_load_string("t.yaml", yaml, strlen(yaml), &d, &diags, NULL);

	for (size_t i = 0; i < diags.n; i++) {
		_cleanup_free_ char *m = spec_diag_format(&diags, &diags.items[i]);
		print_error("%s\n", m);
	}
	spec_diagnostics_release(&diags);
	assert_int_equal(r, 0);
	return d;
}

static void test_defaults(void **state) {
	_cleanup_(spec_deployment_freep) struct spec_deployment *d =
	        load_ok("version: v1\ndeployment: app\nservices:\n  web:\n    image: {name: nginx}\n"
	                "    endpoints: [{name: http, protocol: http, port: 80, target_port: 8080}]\n");
	const struct spec_service *s = spec_find_service(d, "web");

	assert_non_null(s);
	assert_int_equal(s->rtype, SPEC_RTYPE_SERVICE);
	assert_string_equal(s->image.ref.domain, "docker.io");
	assert_string_equal(s->image.ref.path, "library/nginx");
	assert_string_equal(s->image.ref.tag, "latest");
	assert_int_equal(s->image.pull_policy, SPEC_PULL_IF_NOT_PRESENT);
	assert_int_equal(s->scale.mode, SPEC_SCALE_ADAPTIVE);
	assert_int_equal(s->scale.min, 1);
	assert_int_equal(s->scale.max, 10);
	/* implicit health: tcp on the first http endpoint's target port */
	assert_int_equal(s->health.check.type, SPEC_CHECK_TCP);
	assert_int_equal(s->health.check.port, 8080);
	assert_true(s->health.start_grace_nsec == 5 * NSEC_PER_SEC);
	assert_int_equal(s->health.retries, 3);
	assert_int_equal(s->on_panic, SPEC_PANIC_RESTART);
	assert_int_equal(s->on_init_failure, SPEC_INIT_FAILURE_FAIL);
	assert_int_equal(s->stop_signal, SIGTERM);
	assert_true(s->stop_grace_period_nsec == 10 * NSEC_PER_SEC);
	assert_int_equal(s->network_mode, SPEC_NETWORK_BRIDGE);
	assert_true(s->logs_max_size_bytes == UINT64_C(100) << 20);
	assert_int_equal(s->endpoints[0].expose, SPEC_EXPOSE_INTERNAL);
	assert_false(s->restart_policy.set);
	assert_null(s->command.entrypoint);
}

static void test_no_probe_target(void **state) {
	_cleanup_(spec_deployment_freep) struct spec_deployment *d =
	        load_ok("version: v1\ndeployment: app\nservices:\n  worker:\n    image: {name: busybox}\n");

	assert_int_equal(d->services[0].health.check.type, SPEC_CHECK_NONE);
}

static void test_values(void **state) {
	_cleanup_(spec_deployment_freep) struct spec_deployment *d =
	        load_ok("version: v1\n"
	                "deployment: app\n"
	                "services:\n"
	                "  api:\n"
	                "    image: {name: '127.0.0.1:5000/api:2', pull_policy: always}\n"
	                "    resources: {cpu: 0.5, memory: 512Mi, pids_limit: 100, oom_score_adj: -500}\n"
	                "    scale: {mode: fixed, replicas: 3}\n"
	                "    stop_signal: SIGINT\n"
	                "    stop_grace_period: 1m30s\n"
	                "    cap_add: [net_admin]\n"
	                "    capabilities: [CAP_SYS_TIME]\n"
	                "    ulimits: {nofile: 1024, nproc: {soft: 10, hard: 20}}\n"
	                "    depends: [{service: db}]\n"
	                "    restart_policy: {kind: on_failure, max_attempts: 5, delay: 2s}\n"
	                "  db:\n"
	                "    image: {name: postgres}\n"
	                "    health: {check: {type: command, command: pg_isready}, retries: 5}\n"
	                "  backup:\n"
	                "    rtype: cron\n"
	                "    schedule: '0 0 3 * * * *'\n"
	                "    image: {name: tools}\n"
	                "    depends: [{service: db, condition: started, on_timeout: warn}]\n");
	const struct spec_service *api = spec_find_service(d, "api"), *db = spec_find_service(d, "db"),
	                          *backup = spec_find_service(d, "backup");

	assert_true(api->resources.cpu == 0.5);
	assert_true(api->resources.memory == UINT64_C(512) << 20);
	assert_int_equal(api->resources.pids_limit, 100);
	assert_int_equal(api->resources.oom_score_adj, -500);
	assert_int_equal(api->scale.replicas, 3);
	assert_int_equal(api->stop_signal, SIGINT);
	assert_true(api->stop_grace_period_nsec == 90 * NSEC_PER_SEC);
	assert_string_equal(api->cap_add[0], "CAP_SYS_TIME");
	assert_string_equal(api->cap_add[1], "CAP_NET_ADMIN");
	assert_int_equal(api->n_ulimits, 2);
	assert_int_equal(api->ulimits[0].soft, 1024);
	assert_int_equal(api->ulimits[0].hard, 1024);
	assert_int_equal(api->ulimits[1].hard, 20);
	assert_int_equal(api->depends[0].condition, SPEC_CONDITION_HEALTHY);
	assert_true(api->depends[0].timeout_nsec == 300 * NSEC_PER_SEC);
	assert_int_equal(api->depends[0].on_timeout, SPEC_ON_FAILURE_FAIL);
	assert_int_equal(api->restart_policy.max_attempts, 5);
	/* explicit health: no start grace unless given */
	assert_int_equal(db->health.check.type, SPEC_CHECK_COMMAND);
	assert_true(db->health.start_grace_nsec == 0);
	assert_int_equal(db->health.retries, 5);
	assert_int_equal(backup->cron.nfields, 7);
	assert_int_equal(backup->concurrency, SPEC_CONCURRENCY_FORBID);
	assert_int_equal(backup->depends[0].on_timeout, SPEC_ON_FAILURE_WARN);
	/* dependencies first, otherwise file order */
	assert_string_equal(d->services[d->start_order[0]].name, "db");
	assert_string_equal(d->services[d->start_order[1]].name, "api");
	assert_string_equal(d->services[d->start_order[2]].name, "backup");
}

static void test_error_cap(void **state) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct spec_deployment *d = NULL;
	struct spec_diagnostics diags;

	strbuf_addstr(&sb, "version: v1\ndeployment: app\nservices:\n");
	for (int i = 0; i < 80; i++)
		strbuf_addf(&sb, "  s%d: {image: {name: x}, zzzzz: 1}\n", i);
	assert_int_equal(spec_load_string("cap.yaml", sb.buf, sb.len, &d, &diags, &err), -EINVAL);
	assert_null(d);
	assert_int_equal(diags.n, SPEC_MAX_DIAGNOSTICS);
	assert_true(diags.truncated);
	assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
	assert_string_equal(err->message,
	                    "cap.yaml:4:26: services.s0.zzzzz: unknown field 'zzzzz' in service 's0' (and "
	                    "49 more; stopped counting)");
	spec_diagnostics_release(&diags);
}

static void test_missing_file(void **state) {
	_cleanup_za_error_ struct za_error *err = NULL;
	struct spec_deployment *d = NULL;

	assert_int_equal(spec_load_file("/nonexistent/x.yaml", &d, NULL, &err), -ENOENT);
	assert_int_equal(err->kind, ZA_ERROR_NOT_FOUND);
	assert_string_equal(err->message, "spec file '/nonexistent/x.yaml' does not exist");
}

static void test_billion_laughs(void **state) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	struct spec_deployment *d = NULL;
	struct spec_diagnostics diags;

	strbuf_addstr(&sb, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 10; i++)
		strbuf_addf(&sb, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
		            i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	assert_int_equal(spec_load_string("laughs.yaml", sb.buf, sb.len, &d, &diags, NULL), -EINVAL);
	assert_int_equal(diags.n, 1);
	assert_non_null(strstr(diags.items[0].message, "more than 200000 nodes"));
	spec_diagnostics_release(&diags);
}

static void test_deep_nesting(void **state) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	struct spec_deployment *d = NULL;
	struct spec_diagnostics diags;

	for (int i = 0; i < 100; i++)
		strbuf_addch(&sb, '[');
	assert_int_equal(spec_load_string("deep.yaml", sb.buf, sb.len, &d, &diags, NULL), -EINVAL);
	assert_int_equal(diags.n, 1);
	assert_non_null(strstr(diags.items[0].message, "nesting deeper than 64 levels"));
	spec_diagnostics_release(&diags);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),     cmocka_unit_test(test_no_probe_target),
		cmocka_unit_test(test_values),       cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_missing_file), cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_deep_nesting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
