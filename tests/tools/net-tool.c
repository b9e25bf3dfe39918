/* SPDX-License-Identifier: Apache-2.0 */
/* net-tool: the network API as commands, for tests/integration/test_network.py.
 *
 *   net-tool [--root DIR] [--name N] [--bridge B] [--subnet CIDR]
 *            [--plugin-dir DIR] [--masq] COMMAND ARGS...
 *   create-ns DIR NAME        prints the namespace path
 *   remove-ns PATH
 *   attach ID NS [[IP:]HOST:CTR[/tcp|udp]]...   prints the attachment as JSON
 *   detach ID [NS]
 *   list                      attached container IDs, one a line
 *   allocations               "IP ID" lines from host-local's state
 *   check                     the plugins are there and speak CNI 1.0.0
 *
 * State lives under ROOT/cni/networks and ROOT/cni/cache. Errors go to
 * stderr as "kind-label: message", exit status 1. */
#include <getopt.h>
#include <jansson.h>

#include "basic/alloc.h"
#include "basic/error.h"
#include "basic/parse.h"
#include "runtime/netns.h"
#include "runtime/network.h"
#include "basic/banned.h"

static int fail(struct za_error *e) {
	_cleanup_free_ char *m = za_error_format(e);

	fprintf(stderr, "%s\n", m);
	za_error_free(e);
	return 1;
}

static int usage(void) {
	fprintf(stderr, "usage: net-tool [--root DIR] [--name N] [--bridge B] [--subnet CIDR] [--plugin-dir DIR] "
	                "[--masq] create-ns|remove-ns|attach|detach|list|allocations|check ...\n");
	return 2;
}

static int parse_port(const char *s, uint16_t *ret) {
	uint32_t v;

	if (parse_uint32(s, &v) < 0 || v > UINT16_MAX)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* [IP:]HOST:CTR[/proto]; the strings point into buf. */
static int parse_mapping(char *buf, struct network_port_mapping *ret) {
	char *slash = strchr(buf, '/'), *colon;
	struct network_port_mapping m = {};

	if (slash) {
		*slash = '\0';
		m.protocol = slash + 1;
	}
	colon = strrchr(buf, ':');
	if (!colon || parse_port(colon + 1, &m.container_port) < 0)
		return -EINVAL;
	*colon = '\0';
	colon = strrchr(buf, ':');
	if (colon) {
		*colon = '\0';
		m.host_ip = buf;
		buf = colon + 1;
	}
	if (parse_port(buf, &m.host_port) < 0)
		return -EINVAL;
	*ret = m;
	return 0;
}

static int cmd_attach(const struct network_config *cfg, int argc, char **argv) {
	_cleanup_free_ struct network_port_mapping *ports = NULL;
	struct network_attachment a = {};
	struct za_error *e = NULL;
	json_t *j, *hp;
	char *text;
	size_t n = 0;

	if (argc < 2)
		return usage();
	ports = xnew(struct network_port_mapping, (size_t)argc);
	for (int i = 2; i < argc; i++)
		if (parse_mapping(argv[i], &ports[n++]) < 0) {
			fprintf(stderr, "bad port mapping '%s'\n", argv[i]);
			return 2;
		}
	if (network_attach(cfg, argv[0], argv[1], ports, n, &a, &e) < 0)
		return fail(e);
	hp = json_array();
	for (size_t i = 0; i < a.n_ports; i++)
		json_array_append_new(hp, json_integer(a.host_ports[i]));
	j = json_pack("{s:s, s:s, s:s?, s:s?, s:i, s:o}", "netns", a.netns_path, "ip", a.ip, "gateway", a.gateway,
	              "mac", a.mac, "prefix_len", (int)a.prefix_len, "host_ports", hp);
	text = json_dumps(j, JSON_COMPACT);
	printf("%s\n", text);
	free(text);
	json_decref(j);
	network_attachment_release(&a);
	return 0;
}

int main(int argc, char **argv) {
	static const struct option options[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "bridge", required_argument, NULL, 'b' },
		{ "subnet", required_argument, NULL, 's' },
		{ "plugin-dir", required_argument, NULL, 'p' },
		{ "masq", no_argument, NULL, 'm' },
		{},
	};
	_cleanup_free_ char *state = NULL, *cache = NULL;
	struct network_config cfg = {};
	struct za_error *e = NULL;
	const char *root = NULL, *cmd;
	int c;

	while ((c = getopt_long(argc, argv, "+", options, NULL)) >= 0)
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 'n':
			cfg.name = optarg;
			break;
		case 'b':
			cfg.bridge = optarg;
			break;
		case 's':
			cfg.subnet = optarg;
			break;
		case 'p':
			cfg.plugin_dir = optarg;
			break;
		case 'm':
			cfg.ip_masq = true;
			break;
		default:
			return usage();
		}
	if (optind >= argc)
		return usage();
	cmd = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;

	if (streq(cmd, "create-ns")) {
		_cleanup_free_ char *path = NULL;

		if (argc != 2)
			return usage();
		if (netns_create(argv[0], argv[1], &path, &e) < 0)
			return fail(e);
		printf("%s\n", path);
		return 0;
	}
	if (streq(cmd, "remove-ns")) {
		int r;

		if (argc != 1)
			return usage();
		r = netns_remove(argv[0]);
		if (r < 0) {
			fprintf(stderr, "remove '%s': %s\n", argv[0], strerror(-r));
			return 1;
		}
		return 0;
	}

	if (!root)
		return usage();
	state = xasprintf("%s/cni/networks", root);
	cache = xasprintf("%s/cni/cache", root);
	cfg.state_dir = state;
	cfg.cache_dir = cache;

	if (streq(cmd, "attach"))
		return cmd_attach(&cfg, argc, argv);
	if (streq(cmd, "detach")) {
		if (argc < 1 || argc > 2)
			return usage();
		if (network_detach(&cfg, argv[0], argc == 2 ? argv[1] : NULL, &e) < 0)
			return fail(e);
		return 0;
	}
	if (streq(cmd, "check")) {
		if (network_check_plugins(&cfg, &e) < 0)
			return fail(e);
		return 0;
	}
	if (streq(cmd, "list")) {
		_cleanup_strv_free_ char **ids = NULL;

		if (network_list_attached(&cfg, &ids, &e) < 0)
			return fail(e);
		STRV_FOREACH (id, ids)
			printf("%s\n", *id);
		return 0;
	}
	if (streq(cmd, "allocations")) {
		struct network_allocation *a = NULL;
		size_t n = 0;

		if (network_list_allocations(&cfg, &a, &n, &e) < 0)
			return fail(e);
		for (size_t i = 0; i < n; i++)
			printf("%s %s\n", a[i].ip, a[i].container_id);
		network_allocations_free(a, n);
		return 0;
	}
	return usage();
}
