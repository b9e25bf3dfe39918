/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "basic/alloc.h"
#include "basic/fileio.h"
#include "runtime/netns.h"
#include "runtime/network-internal.h"
#include "runtime/network.h"

#define CFG(dir)                                                                                     \
	{                                                                                            \
		.name = "zltest", .bridge = "zltest0", .subnet = "10.77.0.0/16", .state_dir = (dir), \
		.cache_dir = (dir), .plugin_dir = (dir)                                              \
	}

static void test_subnet_parse(void **state) {
	static const struct {
		const char *s;
		int r;
		uint32_t addr;
		unsigned prefix;
	} cases[] = {
		{ "10.88.0.0/16", 0, 0x0a580000, 16 },
		{ "192.168.7.0/24", 0, 0xc0a80700, 24 },
		{ "172.16.0.0/12", 0, 0xac100000, 12 },
		{ "10.0.0.0/8", 0, 0x0a000000, 8 },
		{ "10.1.2.4/30", 0, 0x0a010204, 30 },
		{ "10.88.0.1/16", -EINVAL, 0, 0 }, /* host bits */
		{ "10.88.0.0/31", -EINVAL, 0, 0 },
		{ "10.0.0.0/7", -EINVAL, 0, 0 },
		{ "10.88.0.0/016", -EINVAL, 0, 0 },
		{ "10.88.0.0/+16", -EINVAL, 0, 0 },
		{ "10.88.0.0/16 ", -EINVAL, 0, 0 },
		{ "10.88.0.0", -EINVAL, 0, 0 },
		{ "10.88.0/16", -EINVAL, 0, 0 },
		{ "fd00::/64", -EINVAL, 0, 0 },
		{ "/16", -EINVAL, 0, 0 },
		{ "", -EINVAL, 0, 0 },
		{ "1111111111111111.0.0.0/16", -EINVAL, 0, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint32_t addr = 0;
		unsigned prefix = 0;

		assert_int_equal(network_subnet_parse(cases[i].s, &addr, &prefix), cases[i].r);
		if (cases[i].r == 0) {
			assert_int_equal(addr, cases[i].addr);
			assert_int_equal(prefix, cases[i].prefix);
		}
	}
	assert_int_equal(network_subnet_parse(NULL, NULL, NULL), -EINVAL);
}

static void test_names(void **state) {
	assert_true(network_container_id_valid("c1"));
	assert_true(network_container_id_valid("0123abcdef_x.y-z"));
	assert_false(network_container_id_valid(""));
	assert_false(network_container_id_valid(NULL));
	assert_false(network_container_id_valid("-x"));
	assert_false(network_container_id_valid("a/b"));
	assert_false(network_container_id_valid(".."));
	assert_false(network_container_id_valid("a b"));
	{
		char longid[NETWORK_CONTAINER_ID_MAX + 2];

		memset(longid, 'a', sizeof(longid) - 1);
		longid[sizeof(longid) - 1] = '\0';
		assert_false(network_container_id_valid(longid));
		longid[NETWORK_CONTAINER_ID_MAX] = '\0';
		assert_true(network_container_id_valid(longid));
	}
	assert_true(netns_name_valid("web-1.abc"));
	assert_false(netns_name_valid("."));
	assert_true(cni_plugin_type_valid("host-local"));
	assert_false(cni_plugin_type_valid("../bin/sh"));
	assert_false(cni_plugin_type_valid("Bridge"));
}

static void test_config_validate(void **state) {
	struct network_config good = CFG("/var/lib/x"), c;
	_cleanup_za_error_ struct za_error *e = NULL;

	assert_int_equal(network_config_validate(&good, NULL), 0);
	c = (struct network_config){ .state_dir = "/a", .cache_dir = "/b" }; /* defaults */
	assert_int_equal(network_config_validate(&c, NULL), 0);

	c = good;
	c.bridge = "a-very-long-bridge";
	assert_int_equal(network_config_validate(&c, &e), -EINVAL);
	assert_int_equal(e->kind, ZA_ERROR_CONFIGURATION);
	assert_string_equal(e->message, "network 'zltest': bridge name 'a-very-long-bridge' is invalid; use at most 15 "
	                                "letters, digits, '_', '.' and '-'");
	e = za_error_free(e);
	c = good;
	c.subnet = "10.88.0.1/16";
	assert_int_equal(network_config_validate(&c, &e), -EINVAL);
	assert_non_null(strstr(e->message, "subnet '10.88.0.1/16' is invalid"));
	e = za_error_free(e);
	c = good;
	c.name = "bad name";
	assert_int_equal(network_config_validate(&c, NULL), -EINVAL);
	c = good;
	c.cache_dir = "relative";
	assert_int_equal(network_config_validate(&c, NULL), -EINVAL);
	c = good;
	c.state_dir = NULL;
	assert_int_equal(network_config_validate(&c, NULL), -EINVAL);
}

static void test_ports_normalize(void **state) {
	const struct network_port_mapping in[] = {
		{ 8080, 80, NULL, NULL },
		{ 0, 53, "udp", "127.0.0.1" },
	};
	struct network_port_mapping out[2];
	_cleanup_za_error_ struct za_error *e = NULL;

	assert_int_equal(network_ports_normalize(in, 2, out, NULL), 0);
	assert_string_equal(out[0].protocol, "tcp");
	assert_string_equal(out[0].host_ip, "0.0.0.0");
	assert_int_equal(out[0].host_port, 8080);
	assert_string_equal(out[1].protocol, "udp");
	assert_string_equal(out[1].host_ip, "127.0.0.1");

	assert_int_equal(network_ports_normalize(&(struct network_port_mapping){ 1, 2, "sctp", NULL }, 1, out, &e),
	                 -EINVAL);
	assert_string_equal(e->message,
	                    "port mapping to container port 2: unknown protocol 'sctp'; use 'tcp' or 'udp'");
	e = za_error_free(e);
	assert_int_equal(network_ports_normalize(&(struct network_port_mapping){ 1, 0, "tcp", NULL }, 1, out, NULL),
	                 -EINVAL);
	assert_int_equal(network_ports_normalize(&(struct network_port_mapping){ 1, 2, "tcp", "::1" }, 1, out, &e),
	                 -EINVAL);
	assert_string_equal(e->message, "port mapping to container port 2/tcp: host IP '::1' is not an IPv4 address");
	e = za_error_free(e);
	assert_int_equal(network_ports_normalize(in, NETWORK_PORTS_MAX + 1, NULL, &e), -E2BIG);
}

static void test_ports_conflict(void **state) {
	static const struct {
		struct network_port_mapping a, b;
		bool conflict;
	} cases[] = {
		{ { 80, 1, "tcp", "0.0.0.0" }, { 80, 2, "tcp", "0.0.0.0" }, true },
		{ { 80, 1, "tcp", "0.0.0.0" }, { 80, 2, NULL, NULL }, true },
		{ { 80, 1, "tcp", "127.0.0.1" }, { 80, 2, "tcp", "0.0.0.0" }, true },
		{ { 80, 1, "tcp", "127.0.0.1" }, { 80, 2, "tcp", "127.0.0.2" }, false },
		{ { 80, 1, "tcp", "0.0.0.0" }, { 80, 1, "udp", "0.0.0.0" }, false },
		{ { 80, 1, "tcp", "0.0.0.0" }, { 81, 1, "tcp", "0.0.0.0" }, false },
		{ { 0, 1, "tcp", "0.0.0.0" }, { 0, 1, "tcp", "0.0.0.0" }, false }, /* not resolved yet */
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		assert_int_equal(network_ports_conflict(&cases[i].a, &cases[i].b), cases[i].conflict);
		assert_int_equal(network_ports_conflict(&cases[i].b, &cases[i].a), cases[i].conflict);
	}
}

static char *dump(const json_t *j) {
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(s);
	return s;
}

static void test_conf_build(void **state) {
	struct network_config cfg = CFG("/s");
	const struct network_port_mapping ports[] = {
		{ 8080, 80, "tcp", "0.0.0.0" },
		{ 5353, 53, "udp", "127.0.0.1" },
	};
	json_t *j;
	char *s;

	j = cni_conf_loopback(&cfg);
	s = dump(j);
	assert_string_equal(s, "{\"cniVersion\":\"1.0.0\",\"name\":\"zltest\",\"type\":\"loopback\"}");
	free(s);
	json_decref(j);

	j = cni_conf_bridge(&cfg);
	s = dump(j);
	assert_string_equal(
	        s, "{\"bridge\":\"zltest0\",\"cniVersion\":\"1.0.0\",\"hairpinMode\":true,"
	           "\"ipMasq\":false,\"ipam\":{\"dataDir\":\"/s\",\"ranges\":[[{\"subnet\":\"10.77.0.0/16\"}]],"
	           "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"type\":\"host-local\"},\"isGateway\":true,"
	           "\"name\":\"zltest\",\"type\":\"bridge\"}");
	free(s);
	json_decref(j);
	cfg.ip_masq = true;
	j = cni_conf_bridge(&cfg);
	assert_true(json_is_true(json_object_get(j, "ipMasq")));
	json_decref(j);

	j = cni_conf_portmap(&cfg, ports, 2);
	s = dump(j);
	assert_string_equal(s,
	                    "{\"capabilities\":{\"portMappings\":true},\"cniVersion\":\"1.0.0\",\"name\":\"zltest\","
	                    "\"runtimeConfig\":{\"portMappings\":["
	                    "{\"containerPort\":80,\"hostIP\":\"0.0.0.0\",\"hostPort\":8080,\"protocol\":\"tcp\"},"
	                    "{\"containerPort\":53,\"hostIP\":\"127.0.0.1\",\"hostPort\":5353,\"protocol\":\"udp\"}]},"
	                    "\"snat\":true,\"type\":\"portmap\"}");
	free(s);

	{
		json_t *prev = json_pack("{s:s}", "cniVersion", "1.0.0"), *c = cni_conf_with_prev(j, prev);

		assert_non_null(json_object_get(c, "prevResult"));
		assert_null(json_object_get(j, "prevResult")); /* a copy */
		json_decref(c);
		c = cni_conf_with_prev(j, NULL);
		assert_null(json_object_get(c, "prevResult"));
		json_decref(c);
		json_decref(prev);
	}
	json_decref(j);

	j = cni_conf_portmap(&cfg, NULL, 0);
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "runtimeConfig"), "portMappings")), 0);
	json_decref(j);
}

static void test_cache_record(void **state) {
	struct network_config cfg = CFG("/s");
	const struct network_port_mapping ports[] = { { 8080, 80, "tcp", "0.0.0.0" } };
	json_t *lo = cni_conf_loopback(&cfg);
	json_t *plugins = json_pack("[o, o]", cni_conf_bridge(&cfg), cni_conf_portmap(&cfg, ports, 1));
	json_t *rec, *back;
	struct cni_cache_view v;
	char *s;

	rec = cni_cache_new(&cfg, "c1", "/run/x/netns/c1", lo, plugins, NULL);
	s = dump(rec);
	back = json_loads(s, 0, NULL);
	free(s);
	assert_int_equal(cni_cache_view(back, &v), 0);
	assert_string_equal(v.container_id, "c1");
	assert_string_equal(v.netns, "/run/x/netns/c1");
	assert_non_null(v.loopback);
	assert_null(v.result);
	assert_int_equal(json_array_size(v.plugins), 2);

	/* bookkeeping: the record reserves its host port */
	assert_true(cni_plugins_conflict(v.plugins, &(struct network_port_mapping){ 8080, 1, "tcp", "127.0.0.1" }));
	assert_false(cni_plugins_conflict(v.plugins, &(struct network_port_mapping){ 8080, 1, "udp", "0.0.0.0" }));
	assert_false(cni_plugins_conflict(v.plugins, &(struct network_port_mapping){ 8081, 1, "tcp", "0.0.0.0" }));

	/* tampered records are refused */
	json_object_set_new(json_array_get(json_object_get(back, "plugins"), 0), "type", json_string("../../bin/sh"));
	assert_int_equal(cni_cache_view(back, &v), -EINVAL);
	json_decref(back);
	back = json_deep_copy(rec);
	json_object_set_new(back, "containerId", json_string("a/b"));
	assert_int_equal(cni_cache_view(back, &v), -EINVAL);
	json_decref(back);
	back = json_deep_copy(rec);
	json_object_set_new(back, "kind", json_string("other"));
	assert_int_equal(cni_cache_view(back, &v), -EINVAL);
	json_decref(back);
	assert_int_equal(cni_cache_view(json_array_get(plugins, 0), &v), -EINVAL);

	json_decref(rec);
	{
		json_t *res = json_pack("{s:s}", "cniVersion", "1.0.0");

		rec = cni_cache_new(&cfg, "c1", NULL, NULL, plugins, res);
		json_decref(res);
		assert_int_equal(cni_cache_view(rec, &v), 0);
		assert_string_equal(v.netns, "");
		assert_null(v.loopback);
		assert_non_null(v.result);
		json_decref(rec);
	}
	json_decref(lo);
	json_decref(plugins);
}

/* As printed by bridge 1.1.1 (then passed through by portmap). */
static const char result_100[] =
        "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"zlayer0\",\"mac\":\"de:78:dc:88:8c:2a\"},"
        "{\"name\":\"vethb35c8ba0\",\"mac\":\"36:38:0f:cb:86:e8\"},"
        "{\"name\":\"eth0\",\"mac\":\"e2:34:1f:36:d4:6a\",\"sandbox\":\"/run/zl/netns/c1\"}],"
        "\"ips\":[{\"interface\":2,\"address\":\"10.88.0.2/16\",\"gateway\":\"10.88.0.1\"}],"
        "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}";

static void expect_result(const char *text, int r, const char *ip, unsigned prefix, const char *gw, const char *mac) {
	json_t *j = json_loads(text, 0, NULL);
	struct network_attachment a = {};

	assert_non_null(j);
	assert_int_equal(cni_result_parse(j, "eth0", &a), r);
	if (r == 0) {
		assert_string_equal(a.ip, ip);
		assert_int_equal(a.prefix_len, prefix);
		if (gw)
			assert_string_equal(a.gateway, gw);
		else
			assert_null(a.gateway);
		if (mac)
			assert_string_equal(a.mac, mac);
		else
			assert_null(a.mac);
	}
	network_attachment_release(&a);
	json_decref(j);
}

static void test_result_parse(void **state) {
	expect_result(result_100, 0, "10.88.0.2", 16, "10.88.0.1", "e2:34:1f:36:d4:6a");
	/* 0.4.0 shape: "version" per address */
	expect_result("{\"cniVersion\":\"0.4.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"aa:bb:cc:dd:ee:ff\","
	              "\"sandbox\":\"/x\"}],\"ips\":[{\"version\":\"4\",\"interface\":0,\"address\":\"10.1.0.5/24\"}]}",
	              0, "10.1.0.5", 24, NULL, "aa:bb:cc:dd:ee:ff");
	/* IPv6 first, an address of a host-side interface, then ours */
	expect_result("{\"interfaces\":[{\"name\":\"br\"},{\"name\":\"eth0\",\"sandbox\":\"/x\"}],\"ips\":["
	              "{\"interface\":1,\"address\":\"fd00::2/64\"},{\"interface\":0,\"address\":\"10.1.0.1/24\"},"
	              "{\"interface\":1,\"address\":\"10.1.0.9/24\",\"gateway\":\"nonsense\"}]}",
	              0, "10.1.0.9", 24, NULL, NULL);
	/* no interface index: taken as is */
	expect_result("{\"ips\":[{\"address\":\"10.2.0.3/16\",\"gateway\":\"10.2.0.1\"}]}", 0, "10.2.0.3", 16,
	              "10.2.0.1", NULL);
	expect_result("{\"ips\":[{\"interface\":5,\"address\":\"10.2.0.3/16\"}]}", -ENOENT, NULL, 0, NULL, NULL);
	expect_result("{\"interfaces\":[{\"name\":\"eth0\"}],\"ips\":[{\"interface\":0,\"address\":\"10.2.0.3/16\"}]}",
	              -ENOENT, NULL, 0, NULL, NULL);
	expect_result("{\"ips\":[{\"address\":\"10.2.0.3\"},{\"address\":\"10.2.0.3/33\"},{\"address\":7}]}", -ENOENT,
	              NULL, 0, NULL, NULL);
	expect_result("{}", -ENOENT, NULL, 0, NULL, NULL);
	expect_result("[]", -ENOENT, NULL, 0, NULL, NULL);
}

static void test_version_supported(void **state) {
	json_t *j = json_loads("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\"]}", 0, NULL);

	assert_true(cni_version_supported(j, "1.0.0"));
	assert_false(cni_version_supported(j, "1.1.0"));
	json_decref(j);
	j = json_loads("{\"supportedVersions\":[1,null]}", 0, NULL);
	assert_false(cni_version_supported(j, "1.0.0"));
	json_decref(j);
	assert_false(cni_version_supported(NULL, "1.0.0"));
}

static void expect_message(const char *out, const char *err, int status, const char *want, int want_code) {
	int code = -1;
	char *m = cni_failure_message(out, err, status, &code);

	assert_string_equal(m, want);
	assert_int_equal(code, want_code);
	free(m);
}

static void test_failure_message(void **state) {
	char *big, *m;

	expect_message("{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"invalid config\",\"details\":\"no bridge\"}", "",
	               1, "invalid config: no bridge (cni error 7)", 7);
	expect_message("{\"code\":999,\"msg\":\"unknown FS magic on \\\"/x\\\": ef53\"}", NULL, 1,
	               "unknown FS magic on \"/x\": ef53 (cni error 999)", 999);
	expect_message("panic: boom\n", "line one\ngoroutine 1 [running]:\n\n", 2,
	               "goroutine 1 [running]: (exit status 2)", 0);
	expect_message("", "", 137, "exited with status 137 and no error message", 0);
	expect_message(NULL, NULL, 1, "exited with status 1 and no error message", 0);
	expect_message("{\"code\":3,\"msg\":\"a\\nb\\u0007c\"}", NULL, 1, "a b c (cni error 3)", 3);

	big = xmalloc(4 * CNI_MESSAGE_MAX);
	memset(big, 'x', 4 * CNI_MESSAGE_MAX - 1);
	big[4 * CNI_MESSAGE_MAX - 1] = '\0';
	m = cni_failure_message(NULL, big, 1, NULL);
	assert_true(strlen(m) < CNI_MESSAGE_MAX + 32);
	free(m);
	free(big);
}

/* --- attach/detach against fake plugins: shell scripts that log their calls
 * and answer like the real ones. No root needed: /proc/self/ns/net is a
 * mounted network namespace. */

struct fake {
	char dir[64];
	struct network_config cfg;
	char *state, *cache;
};

static const char fake_script[] =
        "#!/bin/sh\n"
        "d=$(dirname \"$0\"); t=$(basename \"$0\")\n"
        "cat > \"$d/stdin.$CNI_COMMAND.$t\"\n"
        "echo \"$CNI_COMMAND $t $CNI_IFNAME $CNI_CONTAINERID $CNI_NETNS\" >> \"$d/calls.log\"\n"
        "if [ -e \"$d/fail-$CNI_COMMAND-$t\" ]; then\n"
        "  echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad config\",\"details\":\"from '$t'\"}'\n"
        "  echo 'some noise' >&2; exit 1\n"
        "fi\n"
        "if [ \"$CNI_COMMAND\" = VERSION ]; then\n"
        "  if [ -e \"$d/old-$t\" ]; then v='\"0.3.1\",\"0.4.0\"'; else v='\"0.4.0\",\"1.0.0\"'; fi\n"
        "  echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":['$v']}'; exit 0\n"
        "fi\n"
        "[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
        "if [ \"$t\" = loopback ]; then echo '{\"cniVersion\":\"1.0.0\"}'; exit 0; fi\n"
        "echo "
        "'{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"br\"},{\"name\":\"eth0\",\"mac\":\"02:00:00:00:00:01\","
        "\"sandbox\":\"'$CNI_NETNS'\"}],\"ips\":[{\"interface\":1,\"address\":\"10.77.0.2/16\","
        "\"gateway\":\"10.77.0.1\"}]}'\n";

static int fake_setup(void **state) {
	struct fake *f = xnew(struct fake, 1);
	const char *types[] = { "loopback", "bridge", "host-local", "portmap" };

	snprintf(f->dir, sizeof(f->dir), "/tmp/za-test-network-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	for (size_t i = 0; i < ELEMENTSOF(types); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", f->dir, types[i]);

		assert_int_equal(write_file_atomic(p, fake_script, strlen(fake_script), 0755), 0);
	}
	f->state = xasprintf("%s/networks", f->dir);
	f->cache = xasprintf("%s/cache", f->dir);
	f->cfg = (struct network_config){ .name = "zltest",
		                          .bridge = "zltest0",
		                          .subnet = "10.77.0.0/16",
		                          .state_dir = f->state,
		                          .cache_dir = f->cache,
		                          .plugin_dir = f->dir };
	*state = f;
	return 0;
}

static int fake_teardown(void **state) {
	struct fake *f = *state;

	rm_rf(f->dir);
	free(f->state);
	free(f->cache);
	free(f);
	return 0;
}

static char *fake_read(struct fake *f, const char *name) {
	_cleanup_free_ char *p = xasprintf("%s/%s", f->dir, name);
	char *buf = NULL;

	if (read_full_file(p, 1 << 20, &buf, NULL) < 0)
		return NULL;
	return buf;
}

static void fake_forget_calls(struct fake *f) {
	_cleanup_free_ char *p = xasprintf("%s/calls.log", f->dir);

	(void)unlink(p);
}

static void test_fake_attach_detach(void **state) {
	struct fake *f = *state;
	const struct network_port_mapping ports[] = { { 0, 80, "tcp", "127.0.0.1" } };
	_cleanup_za_error_ struct za_error *e = NULL;
	struct network_attachment a = {}, b = {};
	_cleanup_free_ char *calls = NULL, *pm_in = NULL;
	char **ids = NULL;
	json_t *j;

	assert_int_equal(network_attach(&f->cfg, "c1", "/proc/self/ns/net", ports, 1, &a, &e), 0);
	assert_null(e);
	assert_string_equal(a.ip, "10.77.0.2");
	assert_string_equal(a.gateway, "10.77.0.1");
	assert_string_equal(a.mac, "02:00:00:00:00:01");
	assert_string_equal(a.netns_path, "/proc/self/ns/net");
	assert_int_equal(a.n_ports, 1);
	assert_true(a.host_ports[0] > 0);

	calls = fake_read(f, "calls.log");
	assert_string_equal(calls, "ADD loopback lo c1 /proc/self/ns/net\n"
	                           "ADD bridge eth0 c1 /proc/self/ns/net\n"
	                           "ADD portmap eth0 c1 /proc/self/ns/net\n");
	/* portmap got the bridge's result and the resolved ephemeral port */
	pm_in = fake_read(f, "stdin.ADD.portmap");
	j = json_loads(pm_in, 0, NULL);
	assert_non_null(json_object_get(j, "prevResult"));
	assert_int_equal(
	        json_integer_value(json_object_get(
	                json_array_get(json_object_get(json_object_get(j, "runtimeConfig"), "portMappings"), 0),
	                "hostPort")),
	        a.host_ports[0]);
	json_decref(j);

	assert_int_equal(network_list_attached(&f->cfg, &ids, NULL), 0);
	assert_int_equal(strv_length(ids), 1);
	assert_string_equal(ids[0], "c1");
	ids = strv_free(ids);

	/* attached already */
	assert_int_equal(network_attach(&f->cfg, "c1", "/proc/self/ns/net", NULL, 0, &b, &e), -EEXIST);
	assert_string_equal(e->message, "attach container 'c1' to network 'zltest': it is already attached; detach it "
	                                "first");
	e = za_error_free(e);

	/* the same host port for another container */
	{
		const struct network_port_mapping same[] = { { a.host_ports[0], 81, "tcp", "0.0.0.0" } };
		_cleanup_free_ char *want = xasprintf(
		        "attach container 'c2' to network 'zltest': host port %u/tcp on 0.0.0.0 is already mapped to "
		        "container 'c1'; choose another host port, or 0 for an ephemeral one",
		        (unsigned)a.host_ports[0]);

		assert_int_equal(network_attach(&f->cfg, "c2", "/proc/self/ns/net", same, 1, &b, &e), -EADDRINUSE);
		assert_int_equal(e->kind, ZA_ERROR_NETWORK);
		assert_string_equal(e->message, want);
		e = za_error_free(e);
	}

	fake_forget_calls(f);
	free(calls);
	assert_int_equal(network_detach(&f->cfg, "c1", NULL, &e), 0);
	calls = fake_read(f, "calls.log");
	assert_string_equal(calls, "DEL portmap eth0 c1 /proc/self/ns/net\n"
	                           "DEL bridge eth0 c1 /proc/self/ns/net\n");
	free(pm_in);
	pm_in = fake_read(f, "stdin.DEL.portmap");
	j = json_loads(pm_in, 0, NULL);
	assert_non_null(json_object_get(j, "prevResult")); /* the cached result */
	json_decref(j);
	assert_int_equal(network_list_attached(&f->cfg, &ids, NULL), 0);
	assert_int_equal(strv_length(ids), 0);
	ids = strv_free(ids);

	/* again, with no cache and a namespace that is gone: rebuilt configs, "" */
	fake_forget_calls(f);
	free(calls);
	assert_int_equal(network_detach(&f->cfg, "c1", "/nonexistent/ns", &e), 0);
	calls = fake_read(f, "calls.log");
	assert_string_equal(calls, "DEL portmap eth0 c1 \nDEL bridge eth0 c1 \n");
	free(pm_in);
	pm_in = fake_read(f, "stdin.DEL.portmap");
	assert_non_null(strstr(pm_in, "\"portMappings\":[{")); /* so portmap tears down */
	network_attachment_release(&a);
}

static void touch(struct fake *f, const char *name, bool on) {
	_cleanup_free_ char *p = xasprintf("%s/%s", f->dir, name);

	if (on)
		assert_int_equal(write_file_atomic(p, "", 0, 0644), 0);
	else
		assert_int_equal(unlink(p), 0);
}

static void test_fake_failure_rolls_back(void **state) {
	struct fake *f = *state;
	_cleanup_za_error_ struct za_error *e = NULL;
	struct network_attachment a = {};
	char *calls, **ids = NULL;

	/* portmap ADD fails: both DEL'd, the record dropped */
	touch(f, "fail-ADD-portmap", true);
	assert_int_equal(network_attach(&f->cfg, "c9", "/proc/self/ns/net", NULL, 0, &a, &e), -EIO);
	assert_int_equal(e->kind, ZA_ERROR_NETWORK);
	assert_string_equal(e->message, "attach container 'c9' to network 'zltest': cni plugin 'portmap' ADD failed: "
	                                "bad config: from portmap (cni error 7)");
	e = za_error_free(e);
	calls = fake_read(f, "calls.log");
	assert_string_equal(calls, "ADD loopback lo c9 /proc/self/ns/net\n"
	                           "ADD bridge eth0 c9 /proc/self/ns/net\n"
	                           "ADD portmap eth0 c9 /proc/self/ns/net\n"
	                           "DEL portmap eth0 c9 /proc/self/ns/net\n"
	                           "DEL bridge eth0 c9 /proc/self/ns/net\n");
	free(calls);
	assert_int_equal(network_list_attached(&f->cfg, &ids, NULL), 0);
	assert_int_equal(strv_length(ids), 0);
	ids = strv_free(ids);

	/* bridge ADD fails: only the bridge is DEL'd */
	touch(f, "fail-ADD-portmap", false);
	touch(f, "fail-ADD-bridge", true);
	fake_forget_calls(f);
	assert_int_equal(network_attach(&f->cfg, "c9", "/proc/self/ns/net", NULL, 0, &a, &e), -EIO);
	assert_non_null(strstr(e->message, "cni plugin 'bridge' ADD failed"));
	e = za_error_free(e);
	calls = fake_read(f, "calls.log");
	assert_string_equal(calls, "ADD loopback lo c9 /proc/self/ns/net\n"
	                           "ADD bridge eth0 c9 /proc/self/ns/net\n"
	                           "DEL bridge eth0 c9 /proc/self/ns/net\n");
	free(calls);
	touch(f, "fail-ADD-bridge", false);

	/* the rollback fails too: the record stays for a later detach */
	touch(f, "fail-ADD-portmap", true);
	touch(f, "fail-DEL-portmap", true);
	assert_int_equal(network_attach(&f->cfg, "c9", "/proc/self/ns/net", NULL, 0, &a, &e), -EIO);
	e = za_error_free(e);
	assert_int_equal(network_list_attached(&f->cfg, &ids, NULL), 0);
	assert_int_equal(strv_length(ids), 1);
	ids = strv_free(ids);
	assert_int_equal(network_detach(&f->cfg, "c9", NULL, &e), -EIO);
	assert_string_equal(e->message, "detach container 'c9' from network 'zltest': cni plugin 'portmap' DEL failed: "
	                                "bad config: from portmap (cni error 7)");
	e = za_error_free(e);
	assert_int_equal(network_list_attached(&f->cfg, &ids, NULL), 0);
	assert_int_equal(strv_length(ids), 1);
	ids = strv_free(ids);
	touch(f, "fail-DEL-portmap", false);
	assert_int_equal(network_detach(&f->cfg, "c9", NULL, NULL), 0);
	assert_int_equal(network_list_attached(&f->cfg, &ids, NULL), 0);
	assert_int_equal(strv_length(ids), 0);
	ids = strv_free(ids);
	touch(f, "fail-ADD-portmap", false);
}

static void test_fake_bad_input(void **state) {
	struct fake *f = *state;
	_cleanup_za_error_ struct za_error *e = NULL;
	struct network_attachment a = {};
	struct network_config cfg = f->cfg;
	_cleanup_free_ char *notns = xasprintf("%s/bridge", f->dir);

	assert_int_equal(network_attach(&f->cfg, "c1", notns, NULL, 0, &a, &e), -ENOENT);
	assert_non_null(strstr(e->message, "is not a network namespace"));
	e = za_error_free(e);
	assert_int_equal(network_attach(&f->cfg, "../c1", "/proc/self/ns/net", NULL, 0, &a, &e), -EINVAL);
	assert_int_equal(e->kind, ZA_ERROR_INVALID_SPEC);
	e = za_error_free(e);
	assert_int_equal(network_attach(&f->cfg, "c1", "/proc/self/ns/net",
	                                &(struct network_port_mapping){ 0, 80, "tcp", "192.0.2.254" }, 1, &a, &e),
	                 -EADDRNOTAVAIL);
	assert_string_equal(e->message, "attach container 'c1' to network 'zltest': host IP '192.0.2.254' of port "
	                                "mapping 80/tcp is not an address of this host");
	e = za_error_free(e);

	cfg.plugin_dir = "/nonexistent/cni";
	assert_int_equal(network_attach(&cfg, "c1", "/proc/self/ns/net", NULL, 0, &a, &e), -ENOENT);
	assert_string_equal(e->message, "attach container 'c1' to network 'zltest': cni plugin 'loopback' not usable "
	                                "in '/nonexistent/cni': No such file or directory; install "
	                                "containernetworking-plugins");
	e = za_error_free(e);
}

static void test_fake_check_plugins(void **state) {
	struct fake *f = *state;
	_cleanup_za_error_ struct za_error *e = NULL;
	_cleanup_free_ char *calls = NULL, *p = NULL;
	struct network_config cfg = f->cfg;

	assert_int_equal(network_check_plugins(&f->cfg, &e), 0);
	calls = fake_read(f, "calls.log");
	assert_string_equal(calls,
	                    "VERSION loopback   \nVERSION bridge   \nVERSION host-local   \nVERSION portmap   \n");

	touch(f, "old-host-local", true);
	assert_int_equal(network_check_plugins(&f->cfg, &e), -EPROTONOSUPPORT);
	assert_int_equal(e->kind, ZA_ERROR_CONFIGURATION);
	p = xasprintf("network 'zltest': cni plugin 'host-local' in '%s' does not support CNI 1.0.0; install "
	              "containernetworking-plugins 1.0 or newer",
	              f->dir);
	assert_string_equal(e->message, p);
	e = za_error_free(e);
	touch(f, "old-host-local", false);

	touch(f, "fail-VERSION-portmap", true);
	assert_int_equal(network_check_plugins(&f->cfg, &e), -EIO);
	assert_int_equal(e->kind, ZA_ERROR_CONFIGURATION);
	assert_string_equal(e->message,
	                    "network 'zltest': cni plugin 'portmap' VERSION failed: bad config: from portmap "
	                    "(cni error 7)");
	e = za_error_free(e);
	assert_int_equal(network_check_plugins(&f->cfg, NULL), -EIO);
	touch(f, "fail-VERSION-portmap", false);

	cfg.plugin_dir = "/nonexistent";
	assert_int_equal(network_check_plugins(&cfg, &e), -ENOENT);
	assert_string_equal(e->message, "network 'zltest': cni plugin 'loopback' not usable in '/nonexistent': No such "
	                                "file or directory; install containernetworking-plugins");
}

static void test_allocations(void **state) {
	struct fake *f = *state;
	_cleanup_free_ char *dir = xasprintf("%s/zltest", f->state);
	struct network_allocation *a = NULL;
	size_t n = 0;
	const char *files[][2] = {
		{ "10.77.0.10", "c10\r\neth0" },
		{ "10.77.0.9", "c9\r\neth0" },
		{ "last_reserved_ip.0", "10.77.0.10" },
		{ "lock", "" },
	};

	assert_int_equal(network_list_allocations(&f->cfg, &a, &n, NULL), 0);
	assert_int_equal(n, 0);
	network_allocations_free(a, n);

	assert_int_equal(mkdir_p(dir, 0755), 0);
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, files[i][0]);

		assert_int_equal(write_file_atomic(p, files[i][1], strlen(files[i][1]), 0644), 0);
	}
	assert_int_equal(network_list_allocations(&f->cfg, &a, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(a[0].ip, "10.77.0.9");
	assert_string_equal(a[0].container_id, "c9");
	assert_string_equal(a[1].ip, "10.77.0.10");
	assert_string_equal(a[1].container_id, "c10");
	network_allocations_free(a, n);
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subnet_parse),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_config_validate),
		cmocka_unit_test(test_ports_normalize),
		cmocka_unit_test(test_ports_conflict),
		cmocka_unit_test(test_conf_build),
		cmocka_unit_test(test_cache_record),
		cmocka_unit_test(test_result_parse),
		cmocka_unit_test(test_version_supported),
		cmocka_unit_test(test_failure_message),
		cmocka_unit_test_setup_teardown(test_fake_attach_detach, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_fake_failure_rolls_back, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_fake_bad_input, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_fake_check_plugins, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_allocations, fake_setup, fake_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
