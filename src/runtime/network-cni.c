/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "network-internal.h"

#include "basic/alloc.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "basic/banned.h"

bool network_ipv4_valid(const char *s) {
	struct in_addr a;

	return !isempty(s) && strlen(s) < INET_ADDRSTRLEN && inet_pton(AF_INET, s, &a) == 1;
}

int network_subnet_parse(const char *s, uint32_t *ret_addr, unsigned *ret_prefix) {
	char addr[INET_ADDRSTRLEN];
	const char *slash;
	struct in_addr a;
	uint32_t prefix, host, mask;

	if (isempty(s))
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	/* parse_uint32 accepts no sign or space; refuse leading zeros too */
	if (slash[1] == '0' || parse_uint32(slash + 1, &prefix) < 0 || prefix < 8 || prefix > 30)
		return -EINVAL;
	host = ntohl(a.s_addr);
	mask = prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
	if (host & ~mask)
		return -EINVAL;
	if (ret_addr)
		*ret_addr = host;
	if (ret_prefix)
		*ret_prefix = prefix;
	return 0;
}

int network_ports_normalize(const struct network_port_mapping *in, size_t n, struct network_port_mapping *out,
                            struct za_error **reterr) {
	if (n > NETWORK_PORTS_MAX)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, E2BIG, "too many port mappings (%zu); at most %d",
		                     n, NETWORK_PORTS_MAX);
	for (size_t i = 0; i < n; i++) {
		const struct network_port_mapping *p = &in[i];

		out[i] = *p;
		if (!p->protocol || streq(p->protocol, "tcp"))
			out[i].protocol = "tcp";
		else if (streq(p->protocol, "udp"))
			out[i].protocol = "udp";
		else
			return za_error_make(
			        reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			        "port mapping to container port %u: unknown protocol '%s'; use 'tcp' or 'udp'",
			        (unsigned)p->container_port, p->protocol);
		if (p->container_port == 0)
			return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			                     "port mapping %zu: container port 0 is not a port; use 1 to 65535", i + 1);
		if (isempty(p->host_ip))
			out[i].host_ip = "0.0.0.0";
		else if (!network_ipv4_valid(p->host_ip))
			return za_error_make(
			        reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
			        "port mapping to container port %u/%s: host IP '%s' is not an IPv4 address",
			        (unsigned)p->container_port, out[i].protocol, p->host_ip);
	}
	return 0;
}

static bool host_ips_overlap(const char *a, const char *b) {
	return streq(a, "0.0.0.0") || streq(b, "0.0.0.0") || streq(a, b);
}

bool network_ports_conflict(const struct network_port_mapping *a, const struct network_port_mapping *b) {
	return a->host_port != 0 && a->host_port == b->host_port &&
	       streq(a->protocol ? a->protocol : "tcp", b->protocol ? b->protocol : "tcp") &&
	       host_ips_overlap(isempty(a->host_ip) ? "0.0.0.0" : a->host_ip,
	                        isempty(b->host_ip) ? "0.0.0.0" : b->host_ip);
}

bool cni_plugins_conflict(const json_t *plugins, const struct network_port_mapping *p) {
	const json_t *conf;
	size_t i;

	json_array_foreach(plugins, i, conf) {
		const json_t *maps = json_object_get(json_object_get(conf, "runtimeConfig"), "portMappings");
		const json_t *m;
		size_t k;

		json_array_foreach(maps, k, m) {
			json_int_t hp = json_integer_value(json_object_get(m, "hostPort"));
			const char *proto = json_string_value(json_object_get(m, "protocol"));
			struct network_port_mapping other = {
				.host_port = hp > 0 && hp <= UINT16_MAX ? (uint16_t)hp : 0,
				.protocol = proto,
				.host_ip = json_string_value(json_object_get(m, "hostIP")),
			};

			if (network_ports_conflict(&other, p))
				return true;
		}
	}
	return false;
}

bool cni_plugin_type_valid(const char *type) {
	if (isempty(type) || strlen(type) > 64)
		return false;
	for (const char *c = type; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
			return false;
	return true;
}

json_t *cni_conf_loopback(const struct network_config *cfg) {
	return json_pack("{s:s, s:s, s:s}", "cniVersion", CNI_VERSION, "name", cfg->name, "type", "loopback");
}

json_t *cni_conf_bridge(const struct network_config *cfg) {
	const char *subnet = isempty(cfg->subnet) ? NETWORK_DEFAULT_SUBNET : cfg->subnet;

	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:{s:s, s:[[{s:s}]], s:[{s:s}], s:s}}", "cniVersion",
	                 CNI_VERSION, "name", cfg->name, "type", "bridge", "bridge", cfg->bridge, "isGateway", 1,
	                 "ipMasq", cfg->ip_masq ? 1 : 0, "hairpinMode", 1, "ipam", "type", "host-local", "ranges",
	                 "subnet", subnet, "routes", "dst", "0.0.0.0/0", "dataDir", cfg->state_dir);
}

json_t *cni_conf_portmap(const struct network_config *cfg, const struct network_port_mapping *ports, size_t n) {
	json_t *maps = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(maps, json_pack("{s:i, s:i, s:s, s:s}", "hostPort", (int)ports[i].host_port,
		                                      "containerPort", (int)ports[i].container_port, "protocol",
		                                      ports[i].protocol ? ports[i].protocol : "tcp", "hostIP",
		                                      isempty(ports[i].host_ip) ? "0.0.0.0" : ports[i].host_ip));
	/* snat: connections from the host itself (127.0.0.1:PORT, as `docker
	 * run -p` users expect) are marked for masquerade, and portmap turns on
	 * route_localnet on the bridge so 127/8 may be routed to it. */
	return json_pack("{s:s, s:s, s:s, s:{s:b}, s:b, s:{s:o}}", "cniVersion", CNI_VERSION, "name", cfg->name, "type",
	                 "portmap", "capabilities", "portMappings", 1, "snat", 1, "runtimeConfig", "portMappings",
	                 maps);
}

json_t *cni_conf_with_prev(const json_t *conf, const json_t *prev_result) {
	json_t *c = json_deep_copy(conf);

	if (c && prev_result)
		json_object_set_new(c, "prevResult", json_deep_copy(prev_result));
	return c;
}

json_t *cni_cache_new(const struct network_config *cfg, const char *container_id, const char *netns, json_t *loopback,
                      json_t *plugins, const json_t *result) {
	return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:O?, s:O, s:O?}", "kind", CNI_CACHE_KIND, "version", 1,
	                 "network", cfg->name, "containerId", container_id, "ifName", NETWORK_IFNAME, "netns",
	                 strempty(netns), "loopback", loopback, "plugins", plugins, "result", result);
}

int cni_cache_view(const json_t *j, struct cni_cache_view *ret) {
	const json_t *plugins, *conf, *loopback, *result;
	const char *kind, *id, *netns;
	size_t i;

	if (!json_is_object(j))
		return -EINVAL;
	kind = json_string_value(json_object_get(j, "kind"));
	id = json_string_value(json_object_get(j, "containerId"));
	netns = json_string_value(json_object_get(j, "netns"));
	plugins = json_object_get(j, "plugins");
	loopback = json_object_get(j, "loopback");
	result = json_object_get(j, "result");
	if (!kind || !streq(kind, CNI_CACHE_KIND) || json_integer_value(json_object_get(j, "version")) != 1)
		return -EINVAL;
	if (!id || !network_container_id_valid(id) || !netns || !json_is_array(plugins))
		return -EINVAL;
	json_array_foreach(plugins, i, conf) if (!json_is_object(conf) ||
	                                         !cni_plugin_type_valid(json_string_value(
	                                                 json_object_get(conf, "type")))) return -EINVAL;
	if (loopback && json_is_null(loopback))
		loopback = NULL;
	if (loopback && !cni_plugin_type_valid(json_string_value(json_object_get(loopback, "type"))))
		return -EINVAL;
	if (result && !json_is_object(result))
		result = NULL;
	*ret = (struct cni_cache_view){
		.container_id = id,
		.netns = netns,
		.loopback = loopback,
		.plugins = plugins,
		.result = result,
	};
	return 0;
}

bool cni_version_supported(const json_t *answer, const char *version) {
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(answer, "supportedVersions"), i,
	                   v) if (json_is_string(v) && streq(json_string_value(v), version)) return true;
	return false;
}

/* "10.88.0.2/16" -> "10.88.0.2", 16 */
static int split_cidr(const char *s, char **ret_ip, unsigned *ret_prefix) {
	const char *slash;
	uint32_t prefix;
	char *ip;

	if (!s || !(slash = strchr(s, '/')))
		return -EINVAL;
	if (parse_uint32(slash + 1, &prefix) < 0 || prefix > 32)
		return -EINVAL;
	ip = xstrndup(s, (size_t)(slash - s));
	if (!network_ipv4_valid(ip)) {
		free(ip);
		return -EINVAL;
	}
	*ret_ip = ip;
	*ret_prefix = prefix;
	return 0;
}

int cni_result_parse(const json_t *result, const char *ifname, struct network_attachment *ret) {
	const json_t *ips = json_object_get(result, "ips"), *ifaces = json_object_get(result, "interfaces"), *e;
	size_t i;

	json_array_foreach(ips, i, e) {
		const json_t *idx = json_object_get(e, "interface"), *iface = NULL;
		const char *gw = json_string_value(json_object_get(e, "gateway")), *mac = NULL;
		_cleanup_free_ char *ip = NULL;
		unsigned prefix;

		if (split_cidr(json_string_value(json_object_get(e, "address")), &ip, &prefix) < 0)
			continue; /* IPv6 or garbage */
		if (json_is_integer(idx)) {
			json_int_t k = json_integer_value(idx);
			const char *name, *sandbox;

			if (k < 0 || (size_t)k >= json_array_size(ifaces))
				continue;
			iface = json_array_get(ifaces, (size_t)k);
			name = json_string_value(json_object_get(iface, "name"));
			sandbox = json_string_value(json_object_get(iface, "sandbox"));
			if (!name || !streq(name, ifname) || isempty(sandbox))
				continue;
			mac = json_string_value(json_object_get(iface, "mac"));
		}
		if (gw && !network_ipv4_valid(gw))
			gw = NULL;
		ret->ip = TAKE_PTR(ip);
		ret->prefix_len = prefix;
		ret->gateway = gw ? xstrdup(gw) : NULL;
		ret->mac = mac && strlen(mac) < 64 ? xstrdup(mac) : NULL;
		return 0;
	}
	return -ENOENT;
}

/* Printable, single line, capped. */
static void add_clean(struct strbuf *sb, const char *s, size_t cap) {
	for (; s && *s && sb->len < cap; s++)
		strbuf_addch(sb, (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

static const char *last_line(const char *s, size_t *ret_len) {
	const char *end, *start;

	if (!s)
		return NULL;
	end = s + strlen(s);
	while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	*ret_len = (size_t)(end - start);
	return end > start ? start : NULL;
}

char *cni_failure_message(const char *out, const char *err, int status, int *ret_cni_code) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	json_t *j = out ? json_loads(out, JSON_REJECT_DUPLICATES, NULL) : NULL;
	const char *line;
	size_t len = 0;
	int code = 0;

	if (json_is_object(j) && json_is_string(json_object_get(j, "msg"))) {
		const char *details = json_string_value(json_object_get(j, "details"));

		code = (int)json_integer_value(json_object_get(j, "code"));
		add_clean(&sb, json_string_value(json_object_get(j, "msg")), CNI_MESSAGE_MAX);
		if (!isempty(details)) {
			strbuf_addstr(&sb, ": ");
			add_clean(&sb, details, CNI_MESSAGE_MAX);
		}
		strbuf_addf(&sb, " (cni error %d)", code);
	} else if ((line = last_line(err, &len))) {
		_cleanup_free_ char *l = xstrndup(line, len);

		add_clean(&sb, l, CNI_MESSAGE_MAX);
		strbuf_addf(&sb, " (exit status %d)", status);
	} else
		strbuf_addf(&sb, "exited with status %d and no error message", status);
	json_decref(j);
	if (ret_cni_code)
		*ret_cni_code = code;
	return strbuf_detach(&sb, NULL);
}
