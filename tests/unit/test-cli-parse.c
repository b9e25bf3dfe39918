/* SPDX-License-Identifier: Apache-2.0 */
/* The pure helpers of the container verbs: -p, -v, --tmpfs, -e, --memory,
 * --since, and the ps/stats text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <inttypes.h>

#include "basic/alloc.h"
#include "cli/cli-parse.h"

static void test_ports(void **state) {
	static const struct {
		const char *in;
		unsigned host, ctr;
		const char *proto, *ip;
	} good[] = {
		{ "8080:80", 8080, 80, "tcp", NULL },
		{ "80", 0, 80, "tcp", NULL },
		{ "53/udp", 0, 53, "udp", NULL },
		{ "127.0.0.1:8080:80", 8080, 80, "tcp", "127.0.0.1" },
		{ "127.0.0.1::80/udp", 0, 80, "udp", "127.0.0.1" },
		{ "[::1]:8080:80", 8080, 80, "tcp", "::1" },
		{ "[fe80::1]::443/tcp", 0, 443, "tcp", "fe80::1" },
		{ "0.0.0.0:65535:1", 65535, 1, "tcp", "0.0.0.0" },
	};
	static const struct {
		const char *in, *message;
	} bad[] = {
		{ "", "container port '' is not a number" },
		{ "8080:", "container port '' is not a number" },
		{ "8080:0", "container port '0' is not a number from 1 to 65535" },
		{ "70000:80", "host port '70000' is not a number" },
		{ "80/sctp", "protocol 'sctp' is not tcp or udp" },
		{ "8000-8010:80", "(ranges are not supported)" },
		{ "::1:8080:80", "write an IPv6 address in brackets" },
		{ "1.2.3:8080:80", "'1.2.3' is not an IP address" },
		{ "[::1]8080:80", "expected [IPV6]:HOST:CONTAINER" },
		{ "[::1]:8080", "expected [IPV6]:HOST:CONTAINER" },
		{ "x:80", "host port 'x' is not a number" },
	};

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		struct container_port p;
		struct za_error *err = NULL;

		assert_int_equal(cli_parse_port(good[i].in, &p, &err), 0);
		assert_int_equal(p.host_port, good[i].host);
		assert_int_equal(p.container_port, good[i].ctr);
		assert_string_equal(p.protocol, good[i].proto);
		if (good[i].ip)
			assert_string_equal(p.host_ip, good[i].ip);
		else
			assert_null(p.host_ip);
		free(p.protocol);
		free(p.host_ip);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct container_port p;
		struct za_error *err = NULL;

		assert_int_equal(cli_parse_port(bad[i].in, &p, &err), -EINVAL);
		assert_non_null(err);
		assert_int_equal(err->kind, ZA_ERROR_INVALID_SPEC);
		if (!strstr(err->message, bad[i].message))
			fail_msg("'%s': got '%s', want '%s'", bad[i].in, err->message, bad[i].message);
		za_error_free(err);
	}
}

static void test_volumes(void **state) {
	static const struct {
		const char *in;
		enum container_mount_type type;
		const char *source, *target;
		bool ro;
	} good[] = {
		{ "/srv/data:/data", CONTAINER_MOUNT_BIND, "/srv/data", "/data", false },
		{ "/srv/data:/data:ro", CONTAINER_MOUNT_BIND, "/srv/data", "/data", true },
		{ "/srv:/srv:rw", CONTAINER_MOUNT_BIND, "/srv", "/srv", false },
		{ "./conf:/etc/app:ro", CONTAINER_MOUNT_BIND, "/home/u/./conf", "/etc/app", true },
		{ "..:/up", CONTAINER_MOUNT_BIND, "/home/u/..", "/up", false },
		{ "pgdata:/var/lib/postgresql", CONTAINER_MOUNT_VOLUME, "pgdata", "/var/lib/postgresql", false },
		{ "cache.v1:/cache:ro", CONTAINER_MOUNT_VOLUME, "cache.v1", "/cache", true },
		{ "/scratch", CONTAINER_MOUNT_VOLUME, NULL, "/scratch", false },
	};
	static const struct {
		const char *in, *message;
	} bad[] = {
		{ "relative", "the target 'relative' must be an absolute path" },
		{ "/a:b", "the target 'b' must be an absolute path" },
		{ "/a:/b:rx", "option 'rx' is not ro or rw" },
		{ "/a:/b:ro:z", "expected SOURCE:TARGET[:ro]" },
		{ "-bad:/b", "neither an absolute path nor a volume name" },
		{ "~/x:/b", "neither an absolute path nor a volume name" },
	};

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		struct container_mount m;
		struct za_error *err = NULL;

		assert_int_equal(cli_parse_volume(good[i].in, "/home/u", &m, &err), 0);
		assert_int_equal(m.type, good[i].type);
		if (good[i].source)
			assert_string_equal(m.source, good[i].source);
		else
			assert_null(m.source);
		assert_string_equal(m.target, good[i].target);
		assert_int_equal(m.readonly, good[i].ro);
		free(m.source);
		free(m.target);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct container_mount m;
		struct za_error *err = NULL;

		assert_int_equal(cli_parse_volume(bad[i].in, "/home/u", &m, &err), -EINVAL);
		if (!strstr(err->message, bad[i].message))
			fail_msg("'%s': got '%s', want '%s'", bad[i].in, err->message, bad[i].message);
		za_error_free(err);
	}
	{
		struct container_mount m;
		struct za_error *err = NULL;

		/* relative without a working directory */
		assert_int_equal(cli_parse_volume("./x:/x", NULL, &m, &err), -EINVAL);
		za_error_free(err);
		/* the root as working directory: no double slash */
		assert_int_equal(cli_parse_volume("./x:/x", "/", &m, NULL), 0);
		assert_string_equal(m.source, "/./x");
		free(m.source);
		free(m.target);
	}
}

static void test_tmpfs(void **state) {
	struct container_mount m;
	struct za_error *err = NULL;

	assert_int_equal(cli_parse_tmpfs("/run", &m, NULL), 0);
	assert_int_equal(m.type, CONTAINER_MOUNT_TMPFS);
	assert_null(m.source);
	assert_string_equal(m.target, "/run");
	assert_int_equal(m.tmpfs_size, 0);
	assert_int_equal(m.tmpfs_mode, 0);
	free(m.target);

	assert_int_equal(cli_parse_tmpfs("/tmp:size=64m,mode=1770", &m, NULL), 0);
	assert_int_equal(m.tmpfs_size, 64 << 20);
	assert_int_equal(m.tmpfs_mode, 01770);
	free(m.target);

	assert_int_equal(cli_parse_tmpfs("tmp", &m, &err), -EINVAL);
	assert_non_null(strstr(err->message, "must be an absolute path"));
	err = za_error_free(err);
	assert_int_equal(cli_parse_tmpfs("/t:noexec", &m, &err), -EINVAL);
	assert_non_null(strstr(err->message, "option 'noexec'"));
	err = za_error_free(err);
	assert_int_equal(cli_parse_tmpfs("/t:mode=999", &m, &err), -EINVAL);
	err = za_error_free(err);
	assert_int_equal(cli_parse_tmpfs("/t:size=0", &m, &err), -EINVAL);
	za_error_free(err);
}

static void test_env(void **state) {
	char *kv = NULL;
	struct za_error *err = NULL;

	assert_int_equal(cli_parse_env("A=1", &kv, NULL), 0);
	assert_string_equal(kv, "A=1");
	free(kv);
	assert_int_equal(cli_parse_env("A=", &kv, NULL), 0);
	assert_string_equal(kv, "A=");
	free(kv);
	assert_int_equal(cli_parse_env("A=b=c", &kv, NULL), 0);
	assert_string_equal(kv, "A=b=c");
	free(kv);

	setenv("ZL_TEST_FROM_ENV", "x y", 1);
	assert_int_equal(cli_parse_env("ZL_TEST_FROM_ENV", &kv, NULL), 0);
	assert_string_equal(kv, "ZL_TEST_FROM_ENV=x y");
	free(kv);
	unsetenv("ZL_TEST_FROM_ENV");
	assert_int_equal(cli_parse_env("ZL_TEST_FROM_ENV", &kv, NULL), 0);
	assert_null(kv);

	assert_int_equal(cli_parse_env("=1", &kv, &err), -EINVAL);
	err = za_error_free(err);
	assert_int_equal(cli_parse_env("", &kv, &err), -EINVAL);
	za_error_free(err);
}

static void test_memory(void **state) {
	static const struct {
		const char *in;
		uint64_t bytes;
	} good[] = {
		{ "0", 0 },
		{ "1024", 1024 },
		{ "512m", 512ULL << 20 },
		{ "512M", 512ULL << 20 },
		{ "512MiB", 512ULL << 20 },
		{ "512mb", 512ULL << 20 },
		{ "1g", 1ULL << 30 },
		{ "1.5G", 3ULL << 29 },
		{ "64k", 64 << 10 },
		{ "2t", 2ULL << 40 },
		{ "100b", 100 },
		{ "1 g", 1ULL << 30 },
	};
	static const char *const bad[] = { "", "m", "-1", "1x", "1gg", "1.2.3", "1 ", "1e3" };
	uint64_t v;

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		assert_int_equal(cli_parse_memory(good[i].in, &v), 0);
		assert_int_equal(v, good[i].bytes);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (cli_parse_memory(bad[i], &v) >= 0)
			fail_msg("'%s' parsed as %" PRIu64, bad[i], v);
}

static void test_since(void **state) {
	int64_t now = INT64_C(1700000000) * 1000000000 + 250000000;
	char *s;

	s = cli_since_to_query("10m", now);
	assert_string_equal(s, "1699999400.250000000");
	free(s);
	s = cli_since_to_query("1h30m", now);
	assert_string_equal(s, "1699994600.250000000");
	free(s);
	s = cli_since_to_query("500ms", now);
	assert_string_equal(s, "1699999999.750000000");
	free(s);
	/* longer ago than the epoch: from the start */
	s = cli_since_to_query("100000d", now);
	assert_string_equal(s, "0.000000000");
	free(s);
	/* the rest passes through for the daemon */
	s = cli_since_to_query("2026-01-02T15:04:05Z", now);
	assert_string_equal(s, "2026-01-02T15:04:05Z");
	free(s);
	s = cli_since_to_query("1700000000", now);
	assert_string_equal(s, "1700000000");
	free(s);
}

static void test_human(void **state) {
	static const struct {
		double secs;
		const char *text;
	} cases[] = {
		{ 0, "Less than a second" },  { 0.9, "Less than a second" }, { 1, "1 second" },
		{ 1.9, "1 second" },          { 59, "59 seconds" },          { 60, "About a minute" },
		{ 119, "About a minute" },    { 120, "2 minutes" },          { 3599, "59 minutes" },
		{ 3600, "About an hour" },    { 5399, "About an hour" },     { 5400, "2 hours" },
		{ 47 * 3600, "47 hours" },    { 48 * 3600, "2 days" },       { 13 * 86400, "13 days" },
		{ 14 * 86400, "2 weeks" },    { 59 * 86400, "8 weeks" },     { 60 * 86400, "2 months" },
		{ 729 * 86400, "24 months" }, { 730 * 86400, "2 years" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *t = cli_human_duration((int64_t)(cases[i].secs * 1e9));
		if (!streq(t, cases[i].text))
			fail_msg("%g s: got '%s', want '%s'", cases[i].secs, t, cases[i].text);
		free(t);
	}
}

static void test_status(void **state) {
	int64_t s = INT64_C(1000000000), now = 100 * s;
	static const struct {
		const char *state;
		int exit_status;
		int64_t started, finished;
		const char *text;
	} cases[] = {
		{ "running", 0, 97, 0, "Up 3 seconds" },
		{ "running", 0, 0, 0, "Up Less than a second" },
		{ "exited", 3, 10, 98, "Exited (3) 2 seconds ago" },
		{ "exited", 137, 10, 40, "Exited (137) About a minute ago" },
		{ "exited", 0, 0, 0, "Exited (0)" },
		{ "created", 0, 0, 0, "Created" },
		{ "stopping", 0, 50, 0, "Stopping" },
		{ "failed", 255, 50, 0, "Failed" },
		{ "pending", 0, 0, 0, "Pending" },
		{ "weird", 0, 0, 0, "weird" },
		{ NULL, 0, 0, 0, "Unknown" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *t = cli_status_text(cases[i].state, cases[i].exit_status, cases[i].started * s,
		                          cases[i].finished * s, now);
		assert_string_equal(t, cases[i].text);
		free(t);
	}
}

static void test_exit_and_bytes(void **state) {
	char buf[32];

	assert_int_equal(cli_exit_status(0, 0), 0);
	assert_int_equal(cli_exit_status(3, 0), 3);
	assert_int_equal(cli_exit_status(0, 9), 137);
	assert_int_equal(cli_exit_status(137, 9), 137);
	assert_int_equal(cli_exit_status(143, 15), 143);
	assert_int_equal(cli_exit_status(300, 0), 255);
	assert_int_equal(cli_exit_status(-1, 0), 255);

	cli_format_bytes(buf, sizeof(buf), 100);
	assert_string_equal(buf, "100B");
	cli_format_bytes(buf, sizeof(buf), 1536);
	assert_string_equal(buf, "1.5KiB");
	cli_format_bytes(buf, sizeof(buf), 512ULL << 20);
	assert_string_equal(buf, "512MiB");
	cli_format_bytes(buf, sizeof(buf), 3ULL << 29);
	assert_string_equal(buf, "1.5GiB");
	cli_format_bytes(buf, sizeof(buf), 12345678);
	assert_string_equal(buf, "11.77MiB");
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports), cmocka_unit_test(test_volumes), cmocka_unit_test(test_tmpfs),
		cmocka_unit_test(test_env),   cmocka_unit_test(test_memory),  cmocka_unit_test(test_since),
		cmocka_unit_test(test_human), cmocka_unit_test(test_status),  cmocka_unit_test(test_exit_and_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
