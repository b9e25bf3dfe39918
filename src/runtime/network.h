/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's bridge network, through the CNI plugins (spec 1.0.0): per
 * container, loopback (lo) then the chain bridge + host-local IPAM ->
 * portmap, executed plugin by plugin with prevResult. It owns one cache file
 * per attached container, CACHE_DIR/NAME/ID.json, written before the first
 * ADD, holding the exact plugin configs (ports resolved) and the result: DEL
 * needs nothing else, so teardown works after an agent crash. Host ports are
 * reserved through those files (portmap itself does not reserve them).
 * Plugins are run with the spawn helper and a time limit; calls block. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"

#define NETWORK_PORTS_MAX        256
#define NETWORK_CONTAINER_ID_MAX 128
#define NETWORK_IFNAME           "eth0"

struct network_port_mapping {
	uint16_t host_port; /* 0: ephemeral, picked by network_attach */
	uint16_t container_port;
	const char *protocol; /* "tcp" (NULL) or "udp" */
	const char *host_ip;  /* IPv4; NULL: "0.0.0.0" */
};

struct network_config {         /* the agent's bridge network */
	const char *name;       /* "zlayer" */
	const char *bridge;     /* "zlayer0", at most 15 characters */
	const char *subnet;     /* "10.88.0.0/16" by default; configurable */
	const char *state_dir;  /* host-local IPAM data dir, e.g. ROOT/cni/networks */
	const char *cache_dir;  /* CNI result cache, ROOT/cni/cache, so DEL works after a crash */
	const char *plugin_dir; /* /usr/lib/cni */
	bool ip_masq;           /* masquerade traffic leaving the subnet (outbound access) */
};

#define NETWORK_DEFAULT_NAME       "zlayer"
#define NETWORK_DEFAULT_BRIDGE     "zlayer0"
#define NETWORK_DEFAULT_SUBNET     "10.88.0.0/16"
#define NETWORK_DEFAULT_PLUGIN_DIR "/usr/lib/cni"

struct network_attachment {
	char *netns_path;
	char *ip;      /* "10.88.0.2" */
	char *gateway; /* "10.88.0.1", or NULL */
	char *mac;     /* of eth0 in the namespace, or NULL */
	unsigned prefix_len;
	uint16_t *host_ports; /* resolved (ephemeral ones included), in the order of the request */
	size_t n_ports;
};

/* Set up eth0 (and lo) in netns_path for container_id. A container already
 * attached is -EEXIST: detach it first. On failure the plugins that ran are
 * DEL'd and the cache entry removed (kept, for a later detach, if that DEL
 * fails too). */
int network_attach(const struct network_config *cfg, const char *container_id, const char *netns_path,
                   const struct network_port_mapping *ports, size_t n_ports, struct network_attachment *ret,
                   struct za_error **reterr);
/* CNI DEL with the cached configs and result (or, without a cache entry,
 * configs rebuilt from cfg, which still release the address and the port
 * rules). netns_path NULL: the cached one. A namespace that is gone is
 * passed as "" so the plugins clean what lives outside it. Idempotent; the
 * cache entry is removed only when every plugin succeeded. */
int network_detach(const struct network_config *cfg, const char *container_id, const char *netns_path,
                   struct za_error **reterr);
void network_attachment_release(struct network_attachment *a);
/* Containers with a cache entry, sorted: after a crash, those without a live
 * container are orphans to detach. */
int network_list_attached(const struct network_config *cfg, char ***ret_container_ids, struct za_error **reterr);

/* host-local's view: one address per file in STATE_DIR/NAME. */
struct network_allocation {
	char *ip;
	char *container_id;
};
int network_list_allocations(const struct network_config *cfg, struct network_allocation **ret, size_t *ret_n,
                             struct za_error **reterr);
void network_allocations_free(struct network_allocation *a, size_t n);

/* Ask each plugin the network uses (loopback, bridge, host-local, portmap)
 * for its versions: a `configuration` error names the first one missing or
 * without CNI 1.0.0. For the daemon's start, before any container. */
int network_check_plugins(const struct network_config *cfg, struct za_error **reterr);

bool network_container_id_valid(const char *id);
/* Checks names, the bridge name length, the subnet (IPv4 CIDR, prefix 8..30,
 * no host bits) and that the directories are absolute. */
int network_config_validate(const struct network_config *cfg, struct za_error **reterr);
