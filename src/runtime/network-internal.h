/* SPDX-License-Identifier: Apache-2.0 */
/* The pure half of network.c, exposed for tests: CNI plugin configs, the
 * cache record, result and error parsing, port bookkeeping. No I/O. */
#pragma once

#include <jansson.h>

#include "runtime/network.h"

#define CNI_VERSION     "1.0.0"
#define CNI_CACHE_KIND  "zlayer-cni-cache"
#define CNI_MESSAGE_MAX 512

/* "10.88.0.0/16" -> address (host order) and prefix; -EINVAL unless a
 * dotted quad, a prefix 8..30 and no host bits set. */
int network_subnet_parse(const char *s, uint32_t *ret_addr, unsigned *ret_prefix);
/* A plain dotted-quad IPv4 address. */
bool network_ipv4_valid(const char *s);

/* Normalised copy of a request (protocol and host_ip never NULL, pointing
 * at static strings or at the caller's); -EINVAL with a message otherwise. */
int network_ports_normalize(const struct network_port_mapping *in, size_t n, struct network_port_mapping *out,
                            struct za_error **reterr);
/* Same protocol and host port on overlapping host addresses (0.0.0.0
 * overlaps everything). */
bool network_ports_conflict(const struct network_port_mapping *a, const struct network_port_mapping *b);
/* Does a portmap entry in plugins (a cache record's "plugins") conflict? */
bool cni_plugins_conflict(const json_t *plugins, const struct network_port_mapping *p);

/* Plugin configs for one attachment; ports already resolved (no 0). */
json_t *cni_conf_loopback(const struct network_config *cfg);
json_t *cni_conf_bridge(const struct network_config *cfg);
json_t *cni_conf_portmap(const struct network_config *cfg, const struct network_port_mapping *ports, size_t n);
/* The config a plugin gets on stdin: conf plus prevResult when given. */
json_t *cni_conf_with_prev(const json_t *conf, const json_t *prev_result);

/* The cache record (see network.h). result may be NULL. */
json_t *cni_cache_new(const struct network_config *cfg, const char *container_id, const char *netns, json_t *loopback,
                      json_t *plugins, const json_t *result);
/* Validates a record read back: the fields DEL needs, borrowed from j. */
struct cni_cache_view {
	const char *container_id;
	const char *netns;      /* may be "" */
	const json_t *loopback; /* may be NULL */
	const json_t *plugins;  /* array, each with a plain "type" */
	const json_t *result;   /* NULL if ADD never finished */
};
int cni_cache_view(const json_t *j, struct cni_cache_view *ret);
bool cni_plugin_type_valid(const char *type);

/* Does a VERSION answer list version? */
bool cni_version_supported(const json_t *answer, const char *version);

/* eth0's IPv4 address, prefix, gateway and MAC from a 1.0.0 (or 0.4.0)
 * result; -ENOENT if no IPv4 address belongs to ifname in a sandbox. */
int cni_result_parse(const json_t *result, const char *ifname, struct network_attachment *ret);
/* Human text for a failed plugin run: the CNI error's msg and details
 * (quoted with its code), else the last line of stderr, else the exit
 * status. Capped at CNI_MESSAGE_MAX; *ret_cni_code is the CNI code or 0. */
char *cni_failure_message(const char *out, const char *err, int status, int *ret_cni_code);
