/* SPDX-License-Identifier: Apache-2.0 */
/* The API's container JSON: create configs (every field, every error names
 * its key), statuses and outcomes, timestamps, signals, lossy UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <inttypes.h>
#include <signal.h>

#include "api/container-json.h"
#include "basic/alloc.h"
#include "basic/parse.h"

static json_t *load(const char *text) {
	json_error_t e;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &e);

	if (!j)
		fail_msg("bad test JSON: %s: %s", text, e.text);
	return j;
}

static void test_config_full(void **state) {
	json_t *j = load(
	        "{\"id\": \"web-1\", \"image\": \"busybox:1\", \"entrypoint\": [\"/bin/sh\", \"-c\"],"
	        " \"args\": [\"echo hi\"], \"env\": [\"A=1\", \"B=\"], \"workdir\": \"/srv\","
	        " \"user\": \"1000:1000\", \"hostname\": \"web\", \"labels\": {\"app\": \"web\"},"
	        " \"mounts\": [{\"type\": \"bind\", \"source\": \"/data\", \"target\": \"/d\", \"readonly\": true},"
	        "  {\"type\": \"volume\", \"source\": \"vol\", \"target\": \"/v\"},"
	        "  {\"type\": \"volume\", \"target\": \"/anon\"},"
	        "  {\"type\": \"tmpfs\", \"target\": \"/t\", \"size\": \"64Mi\", \"mode\": 1023},"
	        "  {\"source\": \"/x\", \"target\": \"/x\"}],"
	        " \"ports\": [{\"host_port\": 8080, \"container_port\": 80},"
	        "  {\"container_port\": 53, \"protocol\": \"udp\", \"host_ip\": \"::1\"}],"
	        " \"network_mode\": \"host\", \"resources\": {\"cpu\": 1.5, \"memory\": \"512Mi\", \"pids_limit\": "
	        "100},"
	        " \"read_only_rootfs\": true, \"tty\": true, \"auto_remove\": true, \"cap_add\": [\"CAP_NET_ADMIN\"],"
	        " \"cap_drop\": [\"ALL\"], \"privileged\": false, \"stop_signal\": \"SIGINT\", \"stop_grace\": "
	        "\"1m30s\","
	        " \"dns\": [\"1.1.1.1\"], \"extra_hosts\": [\"db:10.0.0.2\"]}");
	struct container_config c;

	assert_int_equal(container_config_from_json(j, &c, NULL), 0);
	assert_string_equal(c.id, "web-1");
	assert_string_equal(c.image, "busybox:1");
	assert_null(c.image_digest);
	assert_int_equal(strv_length(c.entrypoint), 2);
	assert_string_equal(c.args[0], "echo hi");
	assert_string_equal(c.env[1], "B=");
	assert_string_equal(c.workdir, "/srv");
	assert_string_equal(c.user, "1000:1000");
	assert_string_equal(c.hostname, "web");
	assert_string_equal(c.labels[0], "app=web");
	assert_int_equal(c.n_mounts, 5);
	assert_int_equal(c.mounts[0].type, CONTAINER_MOUNT_BIND);
	assert_true(c.mounts[0].readonly);
	assert_int_equal(c.mounts[1].type, CONTAINER_MOUNT_VOLUME);
	assert_string_equal(c.mounts[1].source, "vol");
	assert_null(c.mounts[2].source);
	assert_int_equal(c.mounts[3].type, CONTAINER_MOUNT_TMPFS);
	assert_int_equal(c.mounts[3].tmpfs_size, 64 << 20);
	assert_int_equal(c.mounts[3].tmpfs_mode, 01777);
	assert_int_equal(c.mounts[4].type, CONTAINER_MOUNT_BIND); /* the default type */
	assert_int_equal(c.n_ports, 2);
	assert_int_equal(c.ports[0].host_port, 8080);
	assert_string_equal(c.ports[0].protocol, "tcp");
	assert_null(c.ports[0].host_ip);
	assert_int_equal(c.ports[1].host_port, 0);
	assert_string_equal(c.ports[1].protocol, "udp");
	assert_string_equal(c.ports[1].host_ip, "::1");
	assert_int_equal(c.network_mode, SPEC_NETWORK_HOST);
	assert_true(c.resources.cpu == 1.5);
	assert_int_equal(c.resources.memory, 512 << 20);
	assert_int_equal(c.resources.pids_limit, 100);
	assert_true(c.read_only_rootfs && c.tty && c.auto_remove && !c.privileged);
	assert_string_equal(c.cap_add[0], "CAP_NET_ADMIN");
	assert_string_equal(c.cap_drop[0], "ALL");
	assert_int_equal(c.stop_signal, SIGINT);
	assert_int_equal(c.stop_grace_nsec, 90 * NSEC_PER_SEC);
	assert_string_equal(c.dns[0], "1.1.1.1");
	assert_string_equal(c.extra_hosts[0], "db:10.0.0.2");
	container_config_release(&c);
	json_decref(j);
}

static void test_config_minimal(void **state) {
	json_t *j = load("{\"image\": \"alpine\", \"entrypoint\": [], \"labels\": [\"a=b\"], \"stop_signal\": 9,"
	                 " \"stop_grace\": 5, \"resources\": {\"memory\": 1024, \"pids_limit\": -1}, \"user\": null}");
	struct container_config c;

	assert_int_equal(container_config_from_json(j, &c, NULL), 0);
	assert_null(c.id);
	assert_non_null(c.entrypoint); /* empty: no entrypoint, not the image's */
	assert_null(c.entrypoint[0]);
	assert_null(c.args);
	assert_null(c.env);
	assert_null(c.user);
	assert_string_equal(c.labels[0], "a=b");
	assert_int_equal(c.network_mode, SPEC_NETWORK_BRIDGE);
	assert_int_equal(c.stop_signal, 9);
	assert_int_equal(c.stop_grace_nsec, 5 * NSEC_PER_SEC);
	assert_int_equal(c.resources.memory, 1024);
	assert_int_equal(c.resources.pids_limit, 0);
	container_config_release(&c);
	json_decref(j);
}

static void test_config_errors(void **state) {
	static const struct {
		const char *json, *message;
	} bad[] = {
		{ "[]", "config: expected an object" },
		{ "{}", "config.image: required" },
		{ "{\"image\": \"\"}", "config.image: required" },
		{ "{\"image\": 5}", "config.image: expected a string, not an integer" },
		{ "{\"image\": \"a\", \"user\": [\"root\"]}", "config.user: expected a string, not an array" },
		{ "{\"image\": \"a\", \"privileged\": 1}",
		  "config.privileged: expected true or false, not an integer" },
		{ "{\"image\": \"a\", \"resources\": []}", "config.resources: expected an object, not an array" },
		{ "{\"image\": \"a\", \"resources\": {\"memory\": [1]}}",
		  "config.resources.memory: expected a size in bytes (an integer, or a string like \"512Mi\"), not an "
		  "array" },
		{ "{\"image\": \"a\", \"resources\": {\"cpu\": \"2\"}}",
		  "config.resources.cpu: expected a number of cores from 0 to 4096, not a string" },
		{ "{\"image\": \"a\", \"mounts\": [{\"source\": \"/a\", \"target\": \"/b\"}, {\"target\": \"/x\", "
		  "\"readonly\": \"yes\"}]}",
		  "config.mounts[1].readonly: expected true or false, not a string" },
		{ "{\"image\": \"a\", \"mounts\": [7]}", "config.mounts[0]: expected an object, not an integer" },
		{ "{\"image\": \"a\", \"ports\": [{\"container_port\": \"80\"}]}",
		  "config.ports[0].container_port: expected an integer from 1 to 65535, not a string" },
		{ "{\"image\": \"a\", \"ports\": [{\"container_port\": 80, \"proto\": \"tcp\"}]}",
		  "config.ports[0].proto: unknown field" },
		{ "{\"image\": \"a\", \"colour\": 1}", "config.colour: unknown field" },
		{ "{\"image\": \"a\", \"id\": \"-x\"}", "config.id: '-x' is not a valid name" },
		{ "{\"image\": \"a\", \"id\": \"a/b\"}", "config.id: 'a/b' is not a valid name" },
		{ "{\"image\": \"a\", \"args\": \"ls\"}", "config.args: expected an array of strings" },
		{ "{\"image\": \"a\", \"args\": [1]}", "config.args[0]: expected a string, not an integer" },
		{ "{\"image\": \"a\", \"cap_add\": [\"NET_ADMIN\", {}]}",
		  "config.cap_add[1]: expected a string, not an object" },
		{ "{\"image\": \"a\", \"dns\": [null]}", "config.dns[0]: expected a string, not null" },
		{ "{\"image\": \"a\", \"entrypoint\": {}}",
		  "config.entrypoint: expected an array of strings, not an object" },
		{ "{\"image\": \"a\", \"env\": [\"NOVALUE\"]}",
		  "config.env[0]: 'NOVALUE' is not of the form NAME=VALUE" },
		{ "{\"image\": \"a\", \"env\": [\"A=1\", \"B=2\", true]}",
		  "config.env[2]: expected a string, not a boolean" },
		{ "{\"image\": \"a\", \"env\": [\"=x\"]}", "config.env[0]: '=x' is not of the form" },
		{ "{\"image\": \"a\", \"workdir\": \"srv\"}", "config.workdir: must be an absolute path" },
		{ "{\"image\": \"a\", \"hostname\": \"a_b c\"}", "config.hostname: 'a_b c' is not a valid host name" },
		{ "{\"image\": \"a\", \"labels\": 3}", "config.labels: expected an object of strings" },
		{ "{\"image\": \"a\", \"labels\": {\"k\": 1}}", "config.labels.k: expected a string, not an integer" },
		{ "{\"image\": \"a\", \"labels\": {\"a=b\": \"c\"}}",
		  "config.labels: a label key must be non-empty, without '='" },
		{ "{\"image\": \"a\", \"tty\": \"yes\"}", "config.tty: expected true or false" },
		{ "{\"image\": \"a\", \"network_mode\": \"overlay\"}",
		  "config.network_mode: 'overlay' is not one of bridge, host, none" },
		{ "{\"image\": \"a\", \"stop_signal\": \"SIGNOPE\"}", "config.stop_signal: expected a signal name" },
		{ "{\"image\": \"a\", \"stop_signal\": 0}", "config.stop_signal: expected a signal name" },
		{ "{\"image\": \"a\", \"stop_grace\": \"10\"}", "config.stop_grace: expected a duration" },
		{ "{\"image\": \"a\", \"stop_grace\": -1}", "config.stop_grace: expected a duration" },
		{ "{\"image\": \"a\", \"resources\": {\"cpu\": -1}}",
		  "config.resources.cpu: expected a number of cores" },
		{ "{\"image\": \"a\", \"resources\": {\"gpu\": 1}}", "config.resources.gpu: unknown field" },
		{ "{\"image\": \"a\", \"resources\": {\"memory\": \"lots\"}}",
		  "config.resources.memory: expected a size" },
		{ "{\"image\": \"a\", \"resources\": {\"pids_limit\": 1.5}}",
		  "config.resources.pids_limit: expected an integer" },
		{ "{\"image\": \"a\", \"mounts\": {}}", "config.mounts: expected an array" },
		{ "{\"image\": \"a\", \"mounts\": [{\"target\": \"/x\"}]}",
		  "config.mounts[0]: a bind mount needs 'source', an absolute path on the host" },
		{ "{\"image\": \"a\", \"mounts\": [{\"type\": \"volume\", \"target\": \"x\"}]}",
		  "config.mounts[0]: 'target' must be an absolute path" },
		{ "{\"image\": \"a\", \"mounts\": [{\"type\": \"nfs\", \"target\": \"/x\"}]}",
		  "config.mounts[0]: type 'nfs' is not one of bind, volume, tmpfs" },
		{ "{\"image\": \"a\", \"mounts\": [{\"type\": \"volume\", \"source\": \"../x\", \"target\": \"/x\"}]}",
		  "config.mounts[0]: volume name '../x' must match" },
		{ "{\"image\": \"a\", \"mounts\": [{\"type\": \"tmpfs\", \"source\": \"x\", \"target\": \"/x\"}]}",
		  "config.mounts[0]: a tmpfs mount has no 'source'" },
		{ "{\"image\": \"a\", \"mounts\": [{\"source\": \"/a\", \"target\": \"/x\", \"size\": 5}]}",
		  "config.mounts[0]: 'size' and 'mode' are for tmpfs mounts only" },
		{ "{\"image\": \"a\", \"mounts\": [{\"type\": \"tmpfs\", \"target\": \"/x\", \"mode\": 99999}]}",
		  "config.mounts[0].mode: expected an integer from 0 to 4095" },
		{ "{\"image\": \"a\", \"mounts\": [{\"type\": \"tmpfs\", \"target\": \"/x\", \"rw\": true}]}",
		  "config.mounts[0].rw: unknown field" },
		{ "{\"image\": \"a\", \"ports\": [{\"host_port\": 80}]}",
		  "config.ports[0]: 'container_port' is required" },
		{ "{\"image\": \"a\", \"ports\": [{\"container_port\": 0}]}",
		  "config.ports[0].container_port: expected an integer from 1 to 65535" },
		{ "{\"image\": \"a\", \"ports\": [{\"container_port\": 80, \"host_port\": 65536}]}",
		  "config.ports[0].host_port: expected an integer from 0 to 65535" },
		{ "{\"image\": \"a\", \"ports\": [{\"container_port\": 80, \"protocol\": \"sctp\"}]}",
		  "config.ports[0]: protocol 'sctp' is not tcp or udp" },
		{ "{\"image\": \"a\", \"ports\": [{\"container_port\": 80, \"host_ip\": \"localhost\"}]}",
		  "config.ports[0]: host_ip 'localhost' is not an IPv4 or IPv6 address" },
		{ "{\"image\": \"a\\u0000b\"}", "config.image: contains a NUL byte" },
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		json_t *j = load(bad[i].json);
		struct container_config c = { .id = (char *)"untouched" };
		struct za_error *err = NULL;

		assert_int_equal(container_config_from_json(j, &c, &err), -EINVAL);
		assert_non_null(err);
		assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
		assert_string_equal(c.id, "untouched");
		if (!strstr(err->message, bad[i].message))
			fail_msg("%s: got '%s', want '%s'", bad[i].json, err->message, bad[i].message);
		if (!strneq(err->message, "invalid container config: ", 26))
			fail_msg("%s: message '%s' lacks the prefix", bad[i].json, err->message);
		za_error_free(err);
		json_decref(j);
	}
}

static void test_config_caps(void **state) {
	json_t *j = load("{\"image\": \"a\"}"), *env = json_array(), *mounts = json_array();
	struct container_config c;
	struct za_error *err = NULL;
	char *big = xmalloc(CONTAINER_JSON_STRING_MAX + 2);

	for (int i = 0; i <= CONTAINER_JSON_ARRAY_MAX; i++)
		json_array_append_new(env, json_string("A=1"));
	json_object_set_new(j, "env", env);
	assert_int_equal(container_config_from_json(j, &c, &err), -EINVAL);
	assert_non_null(strstr(err->message, "config.env: more than 4096 entries"));
	err = za_error_free(err);
	json_object_del(j, "env");

	memset(big, 'x', CONTAINER_JSON_STRING_MAX + 1);
	big[CONTAINER_JSON_STRING_MAX + 1] = '\0';
	json_object_set_new(j, "user", json_string(big));
	assert_int_equal(container_config_from_json(j, &c, &err), -EINVAL);
	assert_non_null(strstr(err->message, "config.user: longer than 65536 bytes"));
	err = za_error_free(err);
	json_object_del(j, "user");
	free(big);

	for (int i = 0; i <= CONTAINER_JSON_MOUNTS_MAX; i++)
		json_array_append_new(mounts, json_pack("{s:s}", "target", "/x"));
	json_object_set_new(j, "mounts", mounts);
	assert_int_equal(container_config_from_json(j, &c, &err), -EINVAL);
	assert_non_null(strstr(err->message, "config.mounts: expected an array of at most 256 mounts"));
	za_error_free(err);
	json_decref(j);
}

static void test_status_json(void **state) {
	struct container_status s = { .id = (char *)"c1",
		                      .image = (char *)"busybox",
		                      .state = CONTAINER_EXITED,
		                      .exit_code = 137,
		                      .signal = 9,
		                      .created_ns = INT64_C(1700000000) * 1000000000,
		                      .finished_ns = INT64_C(1700000001) * 1000000000 + 5 };
	struct wait_outcome w;
	json_t *j = container_status_to_json(&s), *o;

	assert_string_equal(json_string_value(json_object_get(j, "state")), "exited");
	assert_string_equal(json_string_value(json_object_get(j, "created")), "2023-11-14T22:13:20.000000000Z");
	assert_string_equal(json_string_value(json_object_get(j, "finished_at")), "2023-11-14T22:13:21.000000005Z");
	assert_true(json_is_null(json_object_get(j, "started_at")));
	assert_true(json_is_null(json_object_get(j, "ip")));
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 137);
	json_decref(j);

	container_status_outcome(&s, &w);
	assert_int_equal(w.reason, EXIT_REASON_SIGNAL);
	o = wait_outcome_to_json(&w);
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "signal");
	assert_int_equal(json_integer_value(json_object_get(o, "signal")), 9);
	json_decref(o);

	s.signal = 0;
	s.oom_killed = true;
	container_status_outcome(&s, &w);
	assert_int_equal(w.reason, EXIT_REASON_OOM_KILLED);
	s.state = CONTAINER_FAILED;
	container_status_outcome(&s, &w);
	assert_int_equal(w.reason, EXIT_REASON_RUNTIME_ERROR);
	s.state = CONTAINER_EXITED;
	s.oom_killed = false;
	s.exit_code = 3;
	container_status_outcome(&s, &w);
	assert_int_equal(w.reason, EXIT_REASON_EXITED);
	assert_int_equal(w.exit_code, 3);
}

static void test_timestamps(void **state) {
	static const struct {
		const char *in;
		int64_t ns;
	} good[] = {
		{ "1700000000", INT64_C(1700000000) * 1000000000 },
		{ "1700000000.25", INT64_C(1700000000) * 1000000000 + 250000000 },
		{ "0", 0 },
		{ "2023-11-14T22:13:20Z", INT64_C(1700000000) * 1000000000 },
		{ "2023-11-14T22:13:20.123456789Z", INT64_C(1700000000) * 1000000000 + 123456789 },
		{ "2023-11-14T22:13:20.1234567891Z", INT64_C(1700000000) * 1000000000 + 123456789 },
		{ "2023-11-15T00:13:20+02:00", INT64_C(1700000000) * 1000000000 },
		{ "2023-11-14T21:13:20.5-01:00", INT64_C(1700000000) * 1000000000 + 500000000 },
	};
	static const char *const bad[] = { "",
		                           "x",
		                           "1700000000.",
		                           "1.2.3",
		                           "2023-11-14",
		                           "2023-11-14T22:13:20",
		                           "2023-11-14T22:13:20.Z",
		                           "2023-11-14T22:13:20+0200",
		                           "2023-11-14T22:13:20Zjunk",
		                           "99999999999999999999" };
	char buf[TIMESTAMP_MAX];
	int64_t ns;

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		assert_int_equal(timestamp_parse(good[i].in, &ns), 0);
		if (ns != good[i].ns)
			fail_msg("'%s': %" PRId64 " != %" PRId64, good[i].in, ns, good[i].ns);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (timestamp_parse(bad[i], &ns) >= 0)
			fail_msg("'%s' parsed", bad[i]);
	assert_string_equal(timestamp_format(buf, INT64_C(1700000000) * 1000000000 + 42),
	                    "2023-11-14T22:13:20.000000042Z");
	assert_int_equal(timestamp_parse(buf, &ns), 0);
	assert_true(ns == INT64_C(1700000000) * 1000000000 + 42);
}

static void test_signals(void **state) {
	assert_int_equal(parse_signal("KILL"), SIGKILL);
	assert_int_equal(parse_signal("SIGKILL"), SIGKILL);
	assert_int_equal(parse_signal("sigterm"), SIGTERM);
	assert_int_equal(parse_signal("hup"), SIGHUP);
	assert_int_equal(parse_signal("9"), 9);
	assert_int_equal(parse_signal("RTMIN"), SIGRTMIN);
	assert_int_equal(parse_signal("SIGRTMIN+2"), SIGRTMIN + 2);
	assert_int_equal(parse_signal("RTMAX-1"), SIGRTMAX - 1);
	assert_int_equal(parse_signal("0"), -EINVAL);
	assert_int_equal(parse_signal("65"), -EINVAL);
	assert_int_equal(parse_signal("RTMIN+40"), -EINVAL);
	assert_int_equal(parse_signal("NOPE"), -EINVAL);
	assert_int_equal(parse_signal(""), -EINVAL);
	assert_int_equal(parse_signal("-9"), -EINVAL);
}

static void test_lossy(void **state) {
	json_t *j;

	j = json_string_lossy("héllo\n", 7);
	assert_string_equal(json_string_value(j), "héllo\n");
	json_decref(j);
	j = json_string_lossy("a\xff"
	                      "b\xc3",
	                      4);
	assert_string_equal(json_string_value(j), "a\xef\xbf\xbd"
	                                          "b\xef\xbf\xbd");
	json_decref(j);
	j = json_string_lossy("\xed\xa0\x80x", 4); /* a UTF-16 surrogate */
	assert_string_equal(json_string_value(j), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
	json_decref(j);
	j = json_string_lossy("\xc0\xaf", 2); /* overlong '/' */
	assert_string_equal(json_string_value(j), "\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(j);
	j = json_string_lossy("a\0b", 3);
	assert_int_equal(json_string_length(j), 3);
	json_decref(j);
	j = json_string_lossy(NULL, 0);
	assert_string_equal(json_string_value(j), "");
	json_decref(j);
}

static void test_ids(void **state) {
	assert_true(container_id_valid("zl-0123456789ab"));
	assert_true(container_id_valid("web-rep-1"));
	assert_true(container_id_valid("A.b_c"));
	assert_false(container_id_valid(""));
	assert_false(container_id_valid(NULL));
	assert_false(container_id_valid("-a"));
	assert_false(container_id_valid("a/b"));
	assert_false(container_id_valid("a b"));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_full),   cmocka_unit_test(test_config_minimal),
		cmocka_unit_test(test_config_errors), cmocka_unit_test(test_config_caps),
		cmocka_unit_test(test_status_json),   cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_signals),       cmocka_unit_test(test_lossy),
		cmocka_unit_test(test_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
