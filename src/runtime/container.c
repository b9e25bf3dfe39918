/* SPDX-License-Identifier: Apache-2.0 */
#include "container.h"

#include "basic/alloc.h"
#include "basic/banned.h"

void container_config_release(struct container_config *c) {
	if (!c)
		return;
	free(c->wasm_module);
	free(c->id);
	free(c->image);
	free(c->image_digest);
	strv_free(c->entrypoint);
	strv_free(c->args);
	strv_free(c->env);
	free(c->workdir);
	free(c->user);
	free(c->hostname);
	strv_free(c->labels);
	for (size_t i = 0; i < c->n_mounts; i++) {
		free(c->mounts[i].source);
		free(c->mounts[i].target);
	}
	free(c->mounts);
	for (size_t i = 0; i < c->n_ports; i++) {
		free(c->ports[i].protocol);
		free(c->ports[i].host_ip);
	}
	free(c->ports);
	strv_free(c->dns);
	strv_free(c->extra_hosts);
	free(c->resources.cpuset);
	free(c->resources.gpu.mps_pipe_dir);
	free(c->resources.gpu.mps_log_dir);
	for (size_t i = 0; i < c->n_devices; i++)
		free(c->devices[i].path);
	free(c->devices);
	for (size_t i = 0; i < c->n_ulimits; i++)
		free(c->ulimits[i].name);
	free(c->ulimits);
	for (size_t i = 0; i < c->n_sysctls; i++) {
		free(c->sysctls[i].key);
		free(c->sysctls[i].value);
	}
	free(c->sysctls);
	strv_free(c->cap_add);
	strv_free(c->cap_drop);
	*c = (struct container_config){};
}

char *container_replica_id(const char *service, unsigned replica) {
	return xasprintf("%s-rep-%u", service, replica);
}

static char *xstrdup_or_null(const char *s) {
	return s ? xstrdup(s) : NULL;
}

static char **kv_to_strv(const struct spec_kv *kv, size_t n) {
	char **l = xnew(char *, n + 1);

	for (size_t i = 0; i < n; i++)
		l[i] = xasprintf("%s=%s", kv[i].key, kv[i].value);
	return l;
}

int container_config_from_service(const struct spec_service *svc, unsigned replica, struct container_config *ret,
                                  struct za_error **reterr) {
	struct container_config c = {};
	size_t anon = 0;

	c.id = container_replica_id(svc->name, replica);
	c.image = xstrdup_or_null(svc->image.name);
	c.entrypoint = svc->command.entrypoint ? strv_copy(svc->command.entrypoint) : NULL;
	c.args = svc->command.args ? strv_copy(svc->command.args) : NULL;
	c.env = kv_to_strv(svc->env, svc->n_env);
	c.workdir = xstrdup_or_null(svc->command.workdir);
	c.user = xstrdup_or_null(svc->user);
	c.hostname = xstrdup_or_null(svc->hostname);
	c.labels = kv_to_strv(svc->labels, svc->n_labels);

	c.mounts = xnew(struct container_mount, svc->n_storage + 1);
	for (size_t i = 0; i < svc->n_storage; i++) {
		const struct spec_storage *st = &svc->storage[i];
		struct container_mount *m = &c.mounts[c.n_mounts++];

		m->target = xstrdup(st->target);
		m->readonly = st->readonly;
		switch (st->type) {
		case SPEC_STORAGE_BIND:
			m->type = CONTAINER_MOUNT_BIND;
			m->source = xstrdup(st->source);
			break;
		case SPEC_STORAGE_NAMED:
			m->type = CONTAINER_MOUNT_VOLUME;
			m->source = xstrdup(st->name);
			break;
		case SPEC_STORAGE_ANONYMOUS:
			/* One per replica and target, kept across restarts of the
			 * replica as Docker keeps a restarted container's; removing
			 * the replica removes "{id}-anon-*". */
			m->type = CONTAINER_MOUNT_VOLUME;
			m->source = xasprintf("%s-anon-%zu", c.id, anon++);
			break;
		case SPEC_STORAGE_TMPFS:
		default:
			m->type = CONTAINER_MOUNT_TMPFS;
			m->tmpfs_size = st->size;
			m->tmpfs_mode = st->has_mode ? st->mode : 0;
			break;
		}
	}

	c.ports = xnew(struct container_port, svc->n_port_mappings + 1);
	for (size_t i = 0; i < svc->n_port_mappings; i++) {
		const struct spec_port_mapping *pm = &svc->port_mappings[i];
		c.ports[c.n_ports++] = (struct container_port){
			.host_port = pm->host_port,
			.container_port = pm->container_port,
			.protocol = xstrdup(spec_ip_protocol_to_string(pm->protocol)),
			.host_ip = xstrdup_or_null(pm->host_ip),
		};
	}

	c.network_mode = svc->network_mode;
	c.dns = svc->dns ? strv_copy(svc->dns) : NULL;
	c.extra_hosts = svc->extra_hosts ? strv_copy(svc->extra_hosts) : NULL;

	c.resources = svc->resources;
	c.resources.cpuset = xstrdup_or_null(svc->resources.cpuset);
	c.resources.gpu.mps_pipe_dir = xstrdup_or_null(svc->resources.gpu.mps_pipe_dir);
	c.resources.gpu.mps_log_dir = xstrdup_or_null(svc->resources.gpu.mps_log_dir);

	c.devices = xnew(struct spec_device, svc->n_devices + 1);
	for (size_t i = 0; i < svc->n_devices; i++) {
		c.devices[i] = svc->devices[i];
		c.devices[i].path = xstrdup(svc->devices[i].path);
	}
	c.n_devices = svc->n_devices;
	c.ulimits = xnew(struct spec_ulimit, svc->n_ulimits + 1);
	for (size_t i = 0; i < svc->n_ulimits; i++) {
		c.ulimits[i] = svc->ulimits[i];
		c.ulimits[i].name = xstrdup(svc->ulimits[i].name);
	}
	c.n_ulimits = svc->n_ulimits;
	c.sysctls = xnew(struct spec_kv, svc->n_sysctls + 1);
	for (size_t i = 0; i < svc->n_sysctls; i++) {
		c.sysctls[i].key = xstrdup(svc->sysctls[i].key);
		c.sysctls[i].value = xstrdup(svc->sysctls[i].value);
	}
	c.n_sysctls = svc->n_sysctls;

	c.cap_add = svc->cap_add ? strv_copy(svc->cap_add) : NULL;
	c.cap_drop = svc->cap_drop ? strv_copy(svc->cap_drop) : NULL;
	c.privileged = svc->privileged;
	c.read_only_rootfs = svc->read_only_root_fs;
	c.tty = svc->tty;
	c.stop_signal = svc->stop_signal;
	c.stop_grace_nsec = svc->stop_grace_period_nsec;
	c.log_max_size = svc->logs_max_size_bytes;
	if (svc->has_wasm) {
		c.wasm_max_memory = svc->wasm.max_memory;
		c.wasm_timeout_nsec = svc->wasm.max_execution_time_nsec ? svc->wasm.max_execution_time_nsec
		                                                        : svc->wasm.request_timeout_nsec;
	}

	*ret = c;
	return 0;
}

const char *container_image_file_path(const char *image) {
	if (!image || !strneq(image, "file:", 5))
		return NULL;
	return image + 5;
}
