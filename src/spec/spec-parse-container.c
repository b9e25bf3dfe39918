/* SPDX-License-Identifier: Apache-2.0 */
/* The Docker-compatible container options of a service: storage, devices,
 * capabilities, sysctls, ulimits, DNS, hosts, user, stop signal, logs, and
 * the WebAssembly section. */
#include <ctype.h>
#include <inttypes.h>
#include <signal.h>

#include "basic/alloc.h"
#include "basic/parse.h"
#include "spec/spec-internal.h"
#include "basic/banned.h"

static const char *const capability_names[] = {
	"CHOWN",
	"DAC_OVERRIDE",
	"DAC_READ_SEARCH",
	"FOWNER",
	"FSETID",
	"KILL",
	"SETGID",
	"SETUID",
	"SETPCAP",
	"LINUX_IMMUTABLE",
	"NET_BIND_SERVICE",
	"NET_BROADCAST",
	"NET_ADMIN",
	"NET_RAW",
	"IPC_LOCK",
	"IPC_OWNER",
	"SYS_MODULE",
	"SYS_RAWIO",
	"SYS_CHROOT",
	"SYS_PTRACE",
	"SYS_PACCT",
	"SYS_ADMIN",
	"SYS_BOOT",
	"SYS_NICE",
	"SYS_RESOURCE",
	"SYS_TIME",
	"SYS_TTY_CONFIG",
	"MKNOD",
	"LEASE",
	"AUDIT_WRITE",
	"AUDIT_CONTROL",
	"SETFCAP",
	"MAC_OVERRIDE",
	"MAC_ADMIN",
	"SYSLOG",
	"WAKE_ALARM",
	"BLOCK_SUSPEND",
	"AUDIT_READ",
	"PERFMON",
	"BPF",
	"CHECKPOINT_RESTORE",
	NULL,
};

static const char *const ulimit_names[] = {
	"as",     "core",  "cpu", "data",   "fsize",  "locks",      "memlock", "msgqueue", "nice",
	"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",   NULL,
};

static const struct ynode *field_node(const struct sect *s, const char *key) {
	return sect_get(s, key);
}

/* "net_admin", "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; "ALL" stays. */
static char *capability_normalize(const char *name) {
	_cleanup_free_ char *up = xstrdup(name);
	const char *bare;

	for (char *p = up; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (streq(up, "ALL"))
		return xstrdup("ALL");
	bare = strneq(up, "CAP_", 4) ? up + 4 : up;
	for (const char *const *c = capability_names; *c; c++)
		if (streq(*c, bare))
			return xasprintf("CAP_%s", bare);
	return NULL;
}

static void bind_capabilities(const struct svc_ctx *c, const struct sect *s, const char *key, char ***list) {
	const struct ynode *v = field_node(s, key);
	_cleanup_free_ char *p = NULL;

	if (!v)
		return;
	p = spec_path_join(s->path, key);
	if (!bind_list(c->d, v, p))
		return;
	for (size_t i = 0; i < v->n; i++) {
		_cleanup_free_ char *ip = spec_path_index(p, i), *name = NULL, *norm = NULL;

		if (!bind_string(c->d, v->items[i], ip, &name))
			continue;
		norm = capability_normalize(name);
		if (!norm) {
			spec_error(c->d, v->items[i], ip,
			           "unknown capability '%s' (expected a Linux capability like "
			           "NET_ADMIN or CAP_NET_ADMIN, or ALL)",
			           name);
			continue;
		}
		strv_push(list, norm);
	}
}

static bool valid_hostname(const char *h) {
	size_t l = strlen(h), label = 0;

	if (l == 0 || l > 253)
		return false;
	for (size_t i = 0; i < l; i++) {
		char ch = h[i];
		if (ch == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)ch) || (ch == '-' && label > 0)))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && h[l - 1] != '-';
}

static bool sysctl_namespaced(const char *k) {
	return strneq(k, "net.", 4) || strneq(k, "kernel.shm", 10) || strneq(k, "kernel.msg", 10) ||
	       streq(k, "kernel.sem") || strneq(k, "fs.mqueue.", 10) || streq(k, "kernel.domainname") ||
	       streq(k, "kernel.hostname");
}

static void parse_storage(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const all[] = { "type", "source", "name", "target", "readonly", "size", "mode", NULL };
	static const char *const per_type[][6] = {
		[SPEC_STORAGE_BIND] = { "type", "source", "target", "readonly", NULL },
		[SPEC_STORAGE_NAMED] = { "type", "name", "target", "readonly", NULL },
		[SPEC_STORAGE_ANONYMOUS] = { "type", "target", NULL },
		[SPEC_STORAGE_TMPFS] = { "type", "target", "size", "mode", NULL },
	};
	struct spec_service *svc = c->svc;
	_cleanup_free_ size_t *item_index = NULL;

	if (!bind_list(c->d, n, path))
		return;
	/* storage[] skips items that failed; messages name the YAML index. */
	item_index = xnew(size_t, n->n ? n->n : 1);
	svc->storage = xnew(struct spec_storage, n->n ? n->n : 1);
	for (size_t i = 0; i < n->n; i++) {
		_cleanup_free_ char *ip = spec_path_index(path, i), *where = NULL;
		struct spec_storage *st = &svc->storage[svc->n_storage];
		struct sect s;
		int type = -1, r;

		if (!svc_open(c, &s, n->items[i], ip, all, &where))
			continue;
		r = SECT_ENUM(&s, "type", spec_storage_type, "storage type", &type);
		if (r == 0)
			sect_missing(&s, "type");
		if (r <= 0)
			continue;
		item_index[svc->n_storage++] = i;
		st->type = type;
		for (size_t k = 0; k < n->items[i]->n; k++) {
			const char *key = n->items[i]->keys[k]->value;
			bool ok = false, known = false;
			for (const char *const *a = per_type[type]; *a; a++)
				ok = ok || streq(*a, key);
			for (const char *const *a = all; *a; a++)
				known = known || streq(*a, key);
			if (!ok && known) {
				_cleanup_free_ char *p = spec_path_join(ip, key);
				spec_error(c->d, n->items[i]->keys[k], p, "field '%s' does not apply to %s storage",
				           key, spec_storage_type_to_string(type));
			}
		}
		r = sect_string(&s, "target", &st->target);
		if (r == 0)
			sect_missing(&s, "target");
		else if (r > 0) {
			_cleanup_free_ char *p = spec_path_join(ip, "target");
			if (st->target[0] != '/')
				spec_error(c->d, field_node(&s, "target"), p, "target '%s' must be an absolute path",
				           st->target);
			else
				for (size_t j = 0; j + 1 < svc->n_storage; j++)
					if (svc->storage[j].target && streq(svc->storage[j].target, st->target)) {
						spec_error(c->d, field_node(&s, "target"), p,
						           "target '%s' is already mounted by storage[%zu]", st->target,
						           item_index[j]);
						break;
					}
		}
		sect_bool(&s, "readonly", &st->readonly);
		switch (st->type) {
		case SPEC_STORAGE_BIND:
			r = sect_string(&s, "source", &st->source);
			if (r == 0)
				sect_missing(&s, "source");
			else if (r > 0 && st->source[0] != '/') {
				_cleanup_free_ char *p = spec_path_join(ip, "source");
				spec_error(c->d, field_node(&s, "source"), p,
				           "bind source '%s' must be an absolute path", st->source);
			}
			break;
		case SPEC_STORAGE_NAMED:
			r = sect_string(&s, "name", &st->name);
			if (r == 0)
				sect_missing(&s, "name");
			else if (r > 0) {
				bool ok = isalnum((unsigned char)st->name[0]) && strlen(st->name) <= 255;
				for (const char *q = st->name; ok && *q; q++)
					ok = isalnum((unsigned char)*q) || *q == '_' || *q == '.' || *q == '-';
				if (!ok) {
					_cleanup_free_ char *p = spec_path_join(ip, "name");
					spec_error(c->d, field_node(&s, "name"), p,
					           "invalid volume name '%s' (expected [a-zA-Z0-9][a-zA-Z0-9_.-]*)",
					           st->name);
				}
			}
			break;
		case SPEC_STORAGE_TMPFS: {
			const struct ynode *m = field_node(&s, "mode");
			sect_size(&s, "size", &st->size);
			if (m) {
				_cleanup_free_ char *p = spec_path_join(ip, "mode");
				bool ok = m->type == YNODE_SCALAR && !isempty(m->value) && strlen(m->value) <= 5;
				uint32_t mode = 0;
				const char *q = m && m->value ? m->value : "";

				if (strneq(q, "0o", 2))
					q += 2;
				for (; ok && *q; q++) {
					ok = *q >= '0' && *q <= '7';
					mode = mode * 8 + (uint32_t)(*q - '0');
				}
				if (!ok || mode > 07777)
					spec_error(c->d, m, p,
					           "invalid mode '%s' (expected octal permissions like 1777)",
					           m->type == YNODE_SCALAR ? m->value : ynode_describe(m));
				else {
					st->mode = mode;
					st->has_mode = true;
				}
			}
			break;
		}
		default:
			break;
		}
	}
}

static void parse_devices(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "path", "read", "write", "mknod", NULL };
	struct spec_service *svc = c->svc;

	if (!bind_list(c->d, n, path))
		return;
	svc->devices = xnew(struct spec_device, n->n ? n->n : 1);
	for (size_t i = 0; i < n->n; i++) {
		_cleanup_free_ char *ip = spec_path_index(path, i), *where = NULL;
		struct spec_device *dv = &svc->devices[svc->n_devices];
		struct sect s;
		int r;

		if (!svc_open(c, &s, n->items[i], ip, allowed, &where))
			continue;
		svc->n_devices++;
		dv->read = dv->write = true;
		r = sect_string(&s, "path", &dv->path);
		if (r == 0)
			sect_missing(&s, "path");
		else if (r > 0 && !strneq(dv->path, "/dev/", 5)) {
			_cleanup_free_ char *p = spec_path_join(ip, "path");
			spec_error(c->d, field_node(&s, "path"), p, "device path '%s' must be under /dev/", dv->path);
		}
		sect_bool(&s, "read", &dv->read);
		sect_bool(&s, "write", &dv->write);
		sect_bool(&s, "mknod", &dv->mknod);
	}
}

static void parse_ulimits(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "soft", "hard", NULL };
	struct spec_service *svc = c->svc;

	if (n->type != YNODE_MAPPING) {
		spec_error(c->d, n, path, "expected a mapping of limit names to values, got %s", ynode_describe(n));
		return;
	}
	svc->ulimits = xnew(struct spec_ulimit, n->n ? n->n : 1);
	for (size_t i = 0; i < n->n; i++) {
		const char *name = n->keys[i]->value, *hint;
		_cleanup_free_ char *ip = spec_path_join(path, name);
		const struct ynode *v = n->items[i];
		struct spec_ulimit u = { .soft = -1, .hard = -1 };
		bool known = false;

		for (const char *const *a = ulimit_names; *a; a++)
			known = known || streq(*a, name);
		if (!known) {
			hint = spec_suggest(name, ulimit_names);
			if (hint)
				spec_error(c->d, n->keys[i], ip, "unknown ulimit '%s' (did you mean '%s'?)", name,
				           hint);
			else
				spec_error(c->d, n->keys[i], ip, "unknown ulimit '%s'", name);
			continue;
		}
		if (v->type == YNODE_SCALAR && (streq(v->value, "unlimited") || streq(v->value, "infinity"))) {
			spec_error(c->d, v, ip, "expected an integer, got '%s' (use -1 for unlimited)", v->value);
			continue;
		}
		if (v->type == YNODE_SCALAR) {
			if (!bind_int(c->d, v, ip, -1, INT64_MAX, &u.soft))
				continue;
			u.hard = u.soft;
		} else {
			_cleanup_free_ char *where = NULL;
			struct sect s;
			int rs, rh;

			if (!svc_open(c, &s, v, ip, allowed, &where))
				continue;
			rs = sect_int(&s, "soft", -1, INT64_MAX, &u.soft);
			rh = sect_int(&s, "hard", -1, INT64_MAX, &u.hard);
			if (rs == 0)
				sect_missing(&s, "soft");
			if (rh == 0)
				sect_missing(&s, "hard");
			if (rs <= 0 || rh <= 0)
				continue;
			if (u.hard != -1 && (u.soft == -1 || u.soft > u.hard)) {
				_cleanup_free_ char *p = spec_path_join(ip, "soft");
				spec_error(c->d, field_node(&s, "soft"), p,
				           "soft limit %" PRId64 " is above the hard limit %" PRId64, u.soft, u.hard);
				continue;
			}
		}
		u.name = xstrdup(name);
		svc->ulimits[svc->n_ulimits++] = u;
	}
}

static void parse_sysctls(const struct svc_ctx *c, const struct sect *s) {
	struct spec_service *svc = c->svc;
	const struct ynode *v = field_node(s, "sysctls");

	if (sect_kv(s, "sysctls", &svc->sysctls, &svc->n_sysctls) <= 0 && !v)
		return;
	for (size_t i = 0; v && v->type == YNODE_MAPPING && i < v->n; i++) {
		const char *k = v->keys[i]->value;
		_cleanup_free_ char *p = spec_path_join(s->path, "sysctls");
		_cleanup_free_ char *kp = spec_path_join(p, k);

		if (!sysctl_namespaced(k))
			spec_error(c->d, v->keys[i], kp,
			           "sysctl '%s' is not namespaced and cannot be set per container (allowed: net.*, "
			           "kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)",
			           k);
	}
}

static void parse_wasm(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "max_memory",         "max_fuel", "epoch_interval", "request_timeout",
		                               "max_execution_time", "preopens", "min_instances",  "max_instances",
		                               "idle_timeout",       NULL };
	static const char *const preopen_allowed[] = { "source", "target", "readonly", NULL };
	_cleanup_free_ char *where = NULL;
	struct spec_wasm *w = &c->svc->wasm;
	const struct ynode *v;
	struct sect s;
	int r;

	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	c->svc->has_wasm = true;
	w->max_instances = 10;
	w->request_timeout_nsec = 30 * NSEC_PER_SEC;
	w->idle_timeout_nsec = 300 * NSEC_PER_SEC;
	if (sect_size(&s, "max_memory", &w->max_memory) > 0 &&
	    (w->max_memory < (UINT64_C(64) << 10) || w->max_memory > (UINT64_C(4) << 30))) {
		_cleanup_free_ char *p = spec_path_join(path, "max_memory");
		spec_error(c->d, field_node(&s, "max_memory"), p,
		           "max_memory '%s' is out of range 64Ki-4Gi (one WebAssembly page to the wasm32 limit)",
		           field_node(&s, "max_memory")->value);
	}
	if ((v = field_node(&s, "max_fuel"))) {
		_cleanup_free_ char *p = spec_path_join(path, "max_fuel");
		spec_error(c->d, v, p,
		           "max_fuel is not supported: this agent runs WebAssembly as native code without fuel "
		           "metering; use max_execution_time or request_timeout to bound a run");
	}
	sect_duration(&s, "epoch_interval", &w->epoch_interval_nsec);
	sect_duration(&s, "request_timeout", &w->request_timeout_nsec);
	sect_duration(&s, "max_execution_time", &w->max_execution_time_nsec);
	sect_duration(&s, "idle_timeout", &w->idle_timeout_nsec);
	sect_u32(&s, "min_instances", 0, 10000, &w->min_instances);
	sect_u32(&s, "max_instances", 1, 10000, &w->max_instances);
	if (w->min_instances > w->max_instances) {
		_cleanup_free_ char *p = spec_path_join(path, "min_instances");
		spec_error(c->d, field_node(&s, "min_instances") ?: n, p,
		           "min_instances (%u) is greater than max_instances (%u)", w->min_instances, w->max_instances);
	}
	if ((v = field_node(&s, "preopens"))) {
		_cleanup_free_ char *p = spec_path_join(path, "preopens");
		if (!bind_list(c->d, v, p))
			return;
		w->preopens = xnew(struct spec_preopen, v->n ? v->n : 1);
		for (size_t i = 0; i < v->n; i++) {
			_cleanup_free_ char *ip = spec_path_index(p, i), *pw = NULL;
			struct spec_preopen *po = &w->preopens[w->n_preopens];
			struct sect ps;

			if (!svc_open(c, &ps, v->items[i], ip, preopen_allowed, &pw))
				continue;
			w->n_preopens++;
			r = sect_string(&ps, "source", &po->source);
			if (r == 0)
				sect_missing(&ps, "source");
			else if (r > 0 && po->source[0] != '/') {
				_cleanup_free_ char *sp = spec_path_join(ip, "source");
				spec_error(c->d, field_node(&ps, "source"), sp,
				           "preopen source '%s' must be an absolute path on the host", po->source);
			}
			if (sect_string(&ps, "target", &po->target) == 0)
				sect_missing(&ps, "target");
			sect_bool(&ps, "readonly", &po->readonly);
		}
	}
}

void spec_parse_container_options(const struct svc_ctx *c, const struct sect *s) {
	struct spec_service *svc = c->svc;
	const struct ynode *v;
	int r;

	if ((v = field_node(s, "storage"))) {
		_cleanup_free_ char *p = spec_path_join(s->path, "storage");
		parse_storage(c, v, p);
	}
	if ((v = field_node(s, "devices"))) {
		_cleanup_free_ char *p = spec_path_join(s->path, "devices");
		parse_devices(c, v, p);
	}
	if ((v = field_node(s, "ulimits"))) {
		_cleanup_free_ char *p = spec_path_join(s->path, "ulimits");
		parse_ulimits(c, v, p);
	}
	parse_sysctls(c, s);
	sect_kv(s, "labels", &svc->labels, &svc->n_labels);

	r = sect_string(s, "user", &svc->user);
	if (r > 0) {
		bool ok = !isempty(svc->user) && strchr(svc->user, ':') == strrchr(svc->user, ':');
		for (const char *q = svc->user; ok && *q; q++)
			ok = !isspace((unsigned char)*q);
		if (!ok || svc->user[0] == ':' || svc->user[strlen(svc->user) - 1] == ':') {
			_cleanup_free_ char *p = spec_path_join(s->path, "user");
			spec_error(c->d, field_node(s, "user"), p,
			           "invalid user '%s' (expected user, uid, user:group or uid:gid)", svc->user);
		}
	}
	if (sect_string(s, "hostname", &svc->hostname) > 0 && !valid_hostname(svc->hostname)) {
		_cleanup_free_ char *p = spec_path_join(s->path, "hostname");
		spec_error(c->d, field_node(s, "hostname"), p,
		           "invalid hostname '%s' (expected dot-separated labels of letters, digits and '-', each 1-63 "
		           "characters and not starting or ending with '-')",
		           svc->hostname);
	}
	if ((v = field_node(s, "stop_signal"))) {
		_cleanup_free_ char *p = spec_path_join(s->path, "stop_signal"), *name = NULL;
		if (bind_string(c->d, v, p, &name)) {
			int sig = parse_signal(name);
			if (sig < 0)
				spec_error(c->d, v, p, "unknown signal '%s' (expected a name like SIGTERM or a number)",
				           name);
			else
				svc->stop_signal = sig;
		}
	}
	sect_duration(s, "stop_grace_period", &svc->stop_grace_period_nsec);
	sect_bool(s, "privileged", &svc->privileged);
	bind_capabilities(c, s, "capabilities", &svc->cap_add);
	bind_capabilities(c, s, "cap_add", &svc->cap_add);
	bind_capabilities(c, s, "cap_drop", &svc->cap_drop);
	sect_bool(s, "read_only_root_fs", &svc->read_only_root_fs);
	sect_bool(s, "tty", &svc->tty);

	if (sect_strv(s, "dns", &svc->dns) > 0) {
		const struct ynode *l = field_node(s, "dns");
		for (size_t i = 0; svc->dns[i]; i++)
			if (!spec_valid_ip(svc->dns[i])) {
				_cleanup_free_ char *p = spec_path_join(s->path, "dns"), *ip = spec_path_index(p, i);
				spec_error(c->d, l->items[i], ip,
				           "invalid DNS server address '%s' (expected an IPv4 or IPv6 address like "
				           "1.1.1.1)",
				           svc->dns[i]);
			}
	}
	if (sect_strv(s, "extra_hosts", &svc->extra_hosts) > 0) {
		const struct ynode *l = field_node(s, "extra_hosts");
		for (size_t i = 0; svc->extra_hosts[i]; i++) {
			const char *e = svc->extra_hosts[i], *colon = strchr(e, ':');
			_cleanup_free_ char *host = colon ? xstrndup(e, (size_t)(colon - e)) : NULL;

			if (!colon || !valid_hostname(host) || !spec_valid_ip(colon + 1)) {
				_cleanup_free_ char *p = spec_path_join(s->path, "extra_hosts"),
				                    *ip = spec_path_index(p, i);
				spec_error(c->d, l->items[i], ip, "invalid extra host '%s' (expected hostname:ip)", e);
			}
		}
	}
	SECT_ENUM(s, "network_mode", spec_network_mode, "network mode", &svc->network_mode);
	if (svc->network_mode == SPEC_NETWORK_NONE && svc->n_port_mappings > 0) {
		_cleanup_free_ char *p = spec_path_join(s->path, "port_mappings");
		spec_error(c->d, field_node(s, "port_mappings"), p,
		           "port_mappings need a network; network_mode is 'none'");
	}
	if ((v = field_node(s, "logs"))) {
		static const char *const allowed[] = { "max_size_bytes", NULL };
		_cleanup_free_ char *p = spec_path_join(s->path, "logs"), *where = NULL;
		struct sect ls;

		if (svc_open(c, &ls, v, p, allowed, &where) &&
		    sect_size(&ls, "max_size_bytes", &svc->logs_max_size_bytes) > 0 &&
		    svc->logs_max_size_bytes < (UINT64_C(4) << 10)) {
			_cleanup_free_ char *mp = spec_path_join(p, "max_size_bytes");
			spec_error(c->d, field_node(&ls, "max_size_bytes"), mp,
			           "max_size_bytes '%s' is below the minimum of 4Ki",
			           field_node(&ls, "max_size_bytes")->value);
		}
	}
	SECT_ENUM(s, "service_type", spec_service_type, "service type", &svc->service_type);
	if ((v = field_node(s, "wasm"))) {
		_cleanup_free_ char *p = spec_path_join(s->path, "wasm");
		if (svc->service_type == SPEC_SERVICE_TYPE_STANDARD && svc->platform.os != SPEC_OS_WASI)
			spec_error(c->d, v, p,
			           "'wasm' only applies to WebAssembly services (service_type wasm or wasm_http, or "
			           "platform os wasi)");
		else
			parse_wasm(c, v, p);
	}
	if ((svc->platform.os == SPEC_OS_WASI) != (svc->platform.arch == SPEC_ARCH_WASM32) &&
	    svc->platform.os != _SPEC_OS_INVALID && svc->platform.arch != _SPEC_ARCH_INVALID) {
		_cleanup_free_ char *p = spec_path_join(s->path, "platform");
		spec_error(c->d, field_node(s, "platform"), p, "platform os '%s' cannot run arch '%s'",
		           spec_os_to_string(svc->platform.os), spec_arch_to_string(svc->platform.arch));
	}
}
