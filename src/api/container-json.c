/* SPDX-License-Identifier: Apache-2.0 */
#include "api/container-json.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>

#include "api/api-body.h"
#include "basic/alloc.h"
#include "basic/parse.h"
#include "basic/strbuf.h"
#include "basic/utf8.h"
#include "basic/banned.h"

bool container_id_valid(const char *id) {
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > CONTAINER_ID_MAX || !isalnum((unsigned char)id[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && !strchr("_.-", id[i]))
			return false;
	return true;
}

/* --- config ---------------------------------------------------------------- */

static int bad(struct za_error **reterr, const char *path, const char *fmt, ...) _printf_(3, 4);
static int bad(struct za_error **reterr, const char *path, const char *fmt, ...) {
	_cleanup_free_ char *m = NULL;
	va_list ap;

	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "invalid container config: %s: %s", path, m);
}

static char *sub(const char *path, const char *key) {
	return xasprintf("%s.%s", path, key);
}

/* A string, or NULL when absent or null. */
static int get_string(json_t *o, const char *key, const char *path, char **ret, struct za_error **reterr) {
	json_t *v = json_object_get(o, key);
	_cleanup_free_ char *p = NULL;

	if (!v || json_is_null(v)) {
		*ret = NULL;
		return 0;
	}
	p = sub(path, key);
	if (!json_is_string(v))
		return bad(reterr, p, "expected a string, not %s", api_json_type_name(v));
	if (json_string_length(v) > CONTAINER_JSON_STRING_MAX)
		return bad(reterr, p, "longer than %d bytes", CONTAINER_JSON_STRING_MAX);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(reterr, p, "contains a NUL byte");
	*ret = xstrdup(json_string_value(v));
	return 0;
}

static int get_bool(json_t *o, const char *key, const char *path, bool *ret, struct za_error **reterr) {
	json_t *v = json_object_get(o, key);
	_cleanup_free_ char *p = NULL;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		p = sub(path, key);
		return bad(reterr, p, "expected true or false, not %s", api_json_type_name(v));
	}
	*ret = json_is_true(v);
	return 0;
}

/* An array of strings; an empty array gives an empty (non-NULL) list. */
static int get_strv(json_t *o, const char *key, const char *path, char ***ret, struct za_error **reterr) {
	json_t *v = json_object_get(o, key), *e;
	_cleanup_free_ char *p = NULL;
	char **l;
	size_t i;

	if (!v || json_is_null(v)) {
		*ret = NULL;
		return 0;
	}
	p = sub(path, key);
	if (!json_is_array(v))
		return bad(reterr, p, "expected an array of strings, not %s", api_json_type_name(v));
	if (json_array_size(v) > CONTAINER_JSON_ARRAY_MAX)
		return bad(reterr, p, "more than %d entries", CONTAINER_JSON_ARRAY_MAX);
	json_array_foreach(v, i, e) {
		_cleanup_free_ char *pe = NULL;

		if (json_is_string(e) && json_string_length(e) <= CONTAINER_JSON_STRING_MAX &&
		    strlen(json_string_value(e)) == json_string_length(e))
			continue;
		pe = xasprintf("%s[%zu]", p, i);
		if (!json_is_string(e))
			return bad(reterr, pe, "expected a string, not %s", api_json_type_name(e));
		if (json_string_length(e) > CONTAINER_JSON_STRING_MAX)
			return bad(reterr, pe, "longer than %d bytes", CONTAINER_JSON_STRING_MAX);
		return bad(reterr, pe, "contains a NUL byte");
	}
	l = xnew(char *, json_array_size(v) + 1);
	json_array_foreach(v, i, e) l[i] = xstrdup(json_string_value(e));
	*ret = l;
	return 0;
}

static int check_keys(json_t *o, const char *path, const char *const *allowed, struct za_error **reterr) {
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			if (streq(*a, key))
				ok = true;
		if (!ok) {
			_cleanup_free_ char *p = sub(path, key);
			return bad(reterr, p, "unknown field");
		}
	}
	return 0;
}

/* An integer in [min, max]. */
static int get_int(json_t *o, const char *key, const char *path, int64_t min, int64_t max, int64_t *ret,
                   struct za_error **reterr) {
	json_t *v = json_object_get(o, key);
	_cleanup_free_ char *p = NULL;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		p = sub(path, key);
		if (!json_is_integer(v))
			return bad(reterr, p, "expected an integer from %" PRId64 " to %" PRId64 ", not %s", min, max,
			           api_json_type_name(v));
		return bad(reterr, p, "expected an integer from %" PRId64 " to %" PRId64, min, max);
	}
	*ret = json_integer_value(v);
	return 0;
}

/* Bytes as an integer or a size string ("512Mi"). */
static int get_size(json_t *o, const char *key, const char *path, uint64_t *ret, struct za_error **reterr) {
	json_t *v = json_object_get(o, key);
	_cleanup_free_ char *p = NULL;

	if (!v || json_is_null(v))
		return 0;
	p = sub(path, key);
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && parse_size(json_string_value(v), ret) >= 0)
		return 0;
	if (!json_is_string(v) && !json_is_integer(v))
		return bad(reterr, p, "expected a size in bytes (an integer, or a string like \"512Mi\"), not %s",
		           api_json_type_name(v));
	return bad(reterr, p, "expected a size in bytes (an integer, or a string like \"512Mi\")");
}

static int parse_labels(json_t *o, const char *path, char ***ret, struct za_error **reterr) {
	json_t *v = json_object_get(o, "labels"), *e;
	_cleanup_free_ char *p = sub(path, "labels");
	const char *k;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_array(v))
		return get_strv(o, "labels", path, ret, reterr);
	if (!json_is_object(v))
		return bad(reterr, p, "expected an object of strings (or an array of \"KEY=VALUE\"), not %s",
		           api_json_type_name(v));
	if (json_object_size(v) > CONTAINER_JSON_ARRAY_MAX)
		return bad(reterr, p, "more than %d entries", CONTAINER_JSON_ARRAY_MAX);
	json_object_foreach(v, k, e) {
		_cleanup_free_ char *pk = NULL, *kv = NULL;

		if (isempty(k) || strlen(k) > CONTAINER_JSON_STRING_MAX || strchr(k, '='))
			return bad(reterr, p, "a label key must be non-empty, without '=' and at most %d bytes",
			           CONTAINER_JSON_STRING_MAX);
		if (!json_is_string(e) || json_string_length(e) > CONTAINER_JSON_STRING_MAX ||
		    strlen(json_string_value(e)) != json_string_length(e)) {
			pk = sub(p, k);
			if (!json_is_string(e))
				return bad(reterr, pk, "expected a string, not %s", api_json_type_name(e));
			return bad(reterr, pk, "longer than %d bytes or contains a NUL byte",
			           CONTAINER_JSON_STRING_MAX);
		}
		kv = xasprintf("%s=%s", k, json_string_value(e));
		strv_push(ret, kv);
	}
	return 0;
}

static bool absolute_path(const char *s) {
	return s && s[0] == '/' && strlen(s) < 4096;
}

static int parse_mount(json_t *m, const char *path, struct container_mount *ret, struct za_error **reterr) {
	static const char *const keys[] = { "type", "source", "target", "readonly", "size", "mode", NULL };
	_cleanup_free_ char *type = NULL;
	int64_t mode = -1;
	int r;

	if (!json_is_object(m))
		return bad(reterr, path, "expected an object, not %s", api_json_type_name(m));
	r = check_keys(m, path, keys, reterr);
	if (r >= 0)
		r = get_string(m, "type", path, &type, reterr);
	if (r >= 0)
		r = get_string(m, "source", path, &ret->source, reterr);
	if (r >= 0)
		r = get_string(m, "target", path, &ret->target, reterr);
	if (r >= 0)
		r = get_bool(m, "readonly", path, &ret->readonly, reterr);
	if (r >= 0)
		r = get_size(m, "size", path, &ret->tmpfs_size, reterr);
	if (r >= 0)
		r = get_int(m, "mode", path, 0, 07777, &mode, reterr);
	if (r < 0)
		return r;
	ret->tmpfs_mode = mode >= 0 ? (uint32_t)mode : 0;
	if (!type || streq(type, "bind"))
		ret->type = CONTAINER_MOUNT_BIND;
	else if (streq(type, "volume"))
		ret->type = CONTAINER_MOUNT_VOLUME;
	else if (streq(type, "tmpfs"))
		ret->type = CONTAINER_MOUNT_TMPFS;
	else
		return bad(reterr, path, "type '%s' is not one of bind, volume, tmpfs", type);
	if (!absolute_path(ret->target))
		return bad(reterr, path, "'target' must be an absolute path in the container");
	if (ret->type == CONTAINER_MOUNT_BIND && !absolute_path(ret->source))
		return bad(reterr, path, "a bind mount needs 'source', an absolute path on the host");
	if (ret->type == CONTAINER_MOUNT_VOLUME && ret->source && !container_id_valid(ret->source))
		return bad(reterr, path, "volume name '%s' must match [a-zA-Z0-9][a-zA-Z0-9_.-]*", ret->source);
	if (ret->type == CONTAINER_MOUNT_TMPFS && ret->source)
		return bad(reterr, path, "a tmpfs mount has no 'source'");
	if (ret->type != CONTAINER_MOUNT_TMPFS && (ret->tmpfs_size || mode >= 0))
		return bad(reterr, path, "'size' and 'mode' are for tmpfs mounts only");
	return 0;
}

static int parse_port(json_t *m, const char *path, struct container_port *ret, struct za_error **reterr) {
	static const char *const keys[] = { "host_port", "container_port", "protocol", "host_ip", NULL };
	int64_t host = 0, ctr = -1;
	unsigned char addr[16];
	int r;

	if (!json_is_object(m))
		return bad(reterr, path, "expected an object, not %s", api_json_type_name(m));
	r = check_keys(m, path, keys, reterr);
	if (r >= 0)
		r = get_int(m, "host_port", path, 0, 65535, &host, reterr);
	if (r >= 0)
		r = get_int(m, "container_port", path, 1, 65535, &ctr, reterr);
	if (r >= 0)
		r = get_string(m, "protocol", path, &ret->protocol, reterr);
	if (r >= 0)
		r = get_string(m, "host_ip", path, &ret->host_ip, reterr);
	if (r < 0)
		return r;
	if (ctr < 0)
		return bad(reterr, path, "'container_port' is required");
	ret->host_port = (uint16_t)host;
	ret->container_port = (uint16_t)ctr;
	if (!ret->protocol)
		ret->protocol = xstrdup("tcp");
	else if (!streq(ret->protocol, "tcp") && !streq(ret->protocol, "udp"))
		return bad(reterr, path, "protocol '%s' is not tcp or udp", ret->protocol);
	if (ret->host_ip && inet_pton(AF_INET, ret->host_ip, addr) != 1 && inet_pton(AF_INET6, ret->host_ip, addr) != 1)
		return bad(reterr, path, "host_ip '%s' is not an IPv4 or IPv6 address", ret->host_ip);
	return 0;
}

static int parse_resources(json_t *o, const char *path, struct spec_resources *ret, struct za_error **reterr) {
	static const char *const keys[] = { "cpu", "memory", "pids_limit", NULL };
	json_t *v = json_object_get(o, "resources"), *cpu;
	_cleanup_free_ char *p = sub(path, "resources"), *pc = NULL;
	int64_t pids = 0;
	int r;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return bad(reterr, p, "expected an object, not %s", api_json_type_name(v));
	r = check_keys(v, p, keys, reterr);
	if (r >= 0)
		r = get_size(v, "memory", p, &ret->memory, reterr);
	if (r >= 0)
		r = get_int(v, "pids_limit", p, -1, INT32_MAX, &pids, reterr);
	if (r < 0)
		return r;
	ret->pids_limit = pids < 0 ? 0 : pids;
	cpu = json_object_get(v, "cpu");
	if (cpu && !json_is_null(cpu)) {
		if (!json_is_number(cpu) || json_number_value(cpu) < 0 || json_number_value(cpu) > 4096) {
			pc = sub(p, "cpu");
			if (!json_is_number(cpu))
				return bad(reterr, pc, "expected a number of cores from 0 to 4096, not %s",
				           api_json_type_name(cpu));
			return bad(reterr, pc, "expected a number of cores from 0 to 4096");
		}
		ret->cpu = json_number_value(cpu);
	}
	return 0;
}

static int parse_env(char **env, const char *path, struct za_error **reterr) {
	for (size_t i = 0; env && env[i]; i++)
		if (env[i][0] == '=' || !strchr(env[i], '=')) {
			_cleanup_free_ char *p = xasprintf("%s[%zu]", path, i);
			return bad(reterr, p, "'%s' is not of the form NAME=VALUE", env[i]);
		}
	return 0;
}

static int parse_config(json_t *j, struct container_config *c, struct za_error **reterr) {
	static const char *const keys[] = { "id",          "image",
		                            "entrypoint",  "args",
		                            "env",         "workdir",
		                            "user",        "hostname",
		                            "labels",      "mounts",
		                            "ports",       "network_mode",
		                            "resources",   "read_only_rootfs",
		                            "tty",         "auto_remove",
		                            "cap_add",     "cap_drop",
		                            "privileged",  "stop_signal",
		                            "stop_grace",  "dns",
		                            "extra_hosts", "log_max_size",
		                            NULL };
	const char *path = "config";
	_cleanup_free_ char *net = NULL;
	json_t *v;
	size_t i;
	int r;

	if (!json_is_object(j))
		return bad(reterr, path, "expected an object, not %s", api_json_type_name(j));
	r = check_keys(j, path, keys, reterr);
	if (r >= 0)
		r = get_string(j, "id", path, &c->id, reterr);
	if (r >= 0 && c->id && !container_id_valid(c->id))
		r = bad(reterr, "config.id", "'%s' is not a valid name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most %d)", c->id,
		        CONTAINER_ID_MAX);
	if (r >= 0)
		r = get_string(j, "image", path, &c->image, reterr);
	if (r >= 0 && isempty(c->image))
		r = bad(reterr, "config.image", "required");
	if (r >= 0 && container_image_file_path(c->image)) {
		const char *f = container_image_file_path(c->image);
		if (!absolute_path(f) || strlen(f) < 6 || !streq(f + strlen(f) - 5, ".wasm"))
			r = bad(reterr, "config.image",
			        "'%s': a file reference is file:/ABSOLUTE/PATH.wasm (a WebAssembly module)", c->image);
		else
			c->wasm_module = xstrdup(f);
	}
	if (r >= 0)
		r = get_strv(j, "entrypoint", path, &c->entrypoint, reterr);
	if (r >= 0)
		r = get_strv(j, "args", path, &c->args, reterr);
	if (r >= 0)
		r = get_strv(j, "env", path, &c->env, reterr);
	if (r >= 0)
		r = parse_env(c->env, "config.env", reterr);
	if (r >= 0)
		r = get_string(j, "workdir", path, &c->workdir, reterr);
	if (r >= 0 && c->workdir && !absolute_path(c->workdir))
		r = bad(reterr, "config.workdir", "must be an absolute path");
	if (r >= 0)
		r = get_string(j, "user", path, &c->user, reterr);
	if (r >= 0)
		r = get_string(j, "hostname", path, &c->hostname, reterr);
	if (r >= 0 && c->hostname && (strlen(c->hostname) > 63 || !container_id_valid(c->hostname)))
		r = bad(reterr, "config.hostname", "'%s' is not a valid host name", c->hostname);
	if (r >= 0)
		r = parse_labels(j, path, &c->labels, reterr);
	if (r >= 0)
		r = get_strv(j, "cap_add", path, &c->cap_add, reterr);
	if (r >= 0)
		r = get_strv(j, "cap_drop", path, &c->cap_drop, reterr);
	if (r >= 0)
		r = get_strv(j, "dns", path, &c->dns, reterr);
	if (r >= 0)
		r = get_strv(j, "extra_hosts", path, &c->extra_hosts, reterr);
	if (r >= 0)
		r = get_bool(j, "read_only_rootfs", path, &c->read_only_rootfs, reterr);
	if (r >= 0)
		r = get_bool(j, "tty", path, &c->tty, reterr);
	if (r >= 0)
		r = get_bool(j, "auto_remove", path, &c->auto_remove, reterr);
	if (r >= 0)
		r = get_bool(j, "privileged", path, &c->privileged, reterr);
	if (r >= 0)
		r = parse_resources(j, path, &c->resources, reterr);
	if (r >= 0)
		r = get_string(j, "network_mode", path, &net, reterr);
	if (r < 0)
		return r;

	c->network_mode = SPEC_NETWORK_BRIDGE;
	if (net) {
		c->network_mode = spec_network_mode_from_string(net);
		if ((int)c->network_mode < 0)
			return bad(reterr, "config.network_mode", "'%s' is not one of bridge, host, none", net);
	}

	v = json_object_get(j, "stop_signal");
	if (v && !json_is_null(v)) {
		int sig = json_is_integer(v)  ? (json_integer_value(v) > 0 && json_integer_value(v) < NSIG
		                                         ? (int)json_integer_value(v)
		                                         : -EINVAL)
		          : json_is_string(v) ? parse_signal(json_string_value(v))
		                              : -EINVAL;
		if (sig < 0)
			return bad(reterr, "config.stop_signal", "expected a signal name (\"SIGTERM\") or number");
		c->stop_signal = sig;
	}
	v = json_object_get(j, "stop_grace");
	if (v && !json_is_null(v)) {
		if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 86400 * 365)
			c->stop_grace_nsec = (uint64_t)json_integer_value(v) * NSEC_PER_SEC;
		else if (!json_is_string(v) || parse_duration(json_string_value(v), &c->stop_grace_nsec) < 0)
			return bad(reterr, "config.stop_grace", "expected a duration like \"10s\" or \"1m30s\"");
	}

	r = get_size(j, "log_max_size", path, &c->log_max_size, reterr);
	if (r < 0)
		return r;
	if (c->log_max_size && c->log_max_size < 4096)
		return bad(reterr, "config.log_max_size", "expected at least 4Ki (the shim rotates at this size)");

	v = json_object_get(j, "mounts");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v) || json_array_size(v) > CONTAINER_JSON_MOUNTS_MAX)
			return bad(reterr, "config.mounts", "expected an array of at most %d mounts",
			           CONTAINER_JSON_MOUNTS_MAX);
		c->mounts = xnew(struct container_mount, json_array_size(v));
		for (i = 0; i < json_array_size(v); i++) {
			_cleanup_free_ char *p = xasprintf("config.mounts[%zu]", i);
			c->n_mounts = i + 1; /* released with the rest on failure */
			r = parse_mount(json_array_get(v, i), p, &c->mounts[i], reterr);
			if (r < 0)
				return r;
		}
	}
	v = json_object_get(j, "ports");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v) || json_array_size(v) > CONTAINER_JSON_PORTS_MAX)
			return bad(reterr, "config.ports", "expected an array of at most %d ports",
			           CONTAINER_JSON_PORTS_MAX);
		c->ports = xnew(struct container_port, json_array_size(v));
		for (i = 0; i < json_array_size(v); i++) {
			_cleanup_free_ char *p = xasprintf("config.ports[%zu]", i);
			c->n_ports = i + 1;
			r = parse_port(json_array_get(v, i), p, &c->ports[i], reterr);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int container_config_from_json(json_t *j, struct container_config *ret, struct za_error **reterr) {
	struct container_config c = {};
	int r;

	r = parse_config(j, &c, reterr);
	if (r < 0) {
		container_config_release(&c);
		return r;
	}
	*ret = c;
	return 0;
}

/* --- out ------------------------------------------------------------------- */

static json_t *time_json(int64_t ns) {
	char buf[TIMESTAMP_MAX];
	return ns > 0 ? json_string(timestamp_format(buf, ns)) : json_null();
}

json_t *container_status_to_json(const struct container_status *s) {
	return json_pack("{s:s?, s:s?, s:s?, s:s?, s:i, s:s?, s:i, s:i, s:b, s:s?, s:o, s:o, s:o, s:I, s:I, s:I}", "id",
	                 s->id, "image", s->image, "image_digest", s->image_digest, "state",
	                 container_state_to_string(s->state), "pid", (int)s->pid, "ip", s->ip, "exit_code",
	                 s->exit_code, "signal", s->signal, "oom_killed", s->oom_killed, "reason", s->reason, "created",
	                 time_json(s->created_ns), "started_at", time_json(s->started_ns), "finished_at",
	                 time_json(s->finished_ns), "created_ns", (json_int_t)s->created_ns, "started_ns",
	                 (json_int_t)s->started_ns, "finished_ns", (json_int_t)s->finished_ns);
}

void container_status_outcome(const struct container_status *s, struct wait_outcome *ret) {
	*ret = (struct wait_outcome){ .exit_code = s->exit_code, .signal = s->signal, .finished_ns = s->finished_ns };
	if (s->state == CONTAINER_FAILED)
		ret->reason = EXIT_REASON_RUNTIME_ERROR;
	else if (s->state == CONTAINER_EXITED && s->reason)
		ret->reason = strneq(s->reason, "timeout", 7) ? EXIT_REASON_TIMEOUT : EXIT_REASON_RUNTIME_ERROR;
	else if (s->oom_killed)
		ret->reason = EXIT_REASON_OOM_KILLED;
	else if (s->signal > 0)
		ret->reason = EXIT_REASON_SIGNAL;
	else
		ret->reason = EXIT_REASON_EXITED;
}

json_t *wait_outcome_to_json(const struct wait_outcome *w) {
	return json_pack("{s:i, s:s?, s:i, s:o}", "exit_code", w->exit_code, "reason", exit_reason_to_string(w->reason),
	                 "signal", w->signal, "finished_at", time_json(w->finished_ns));
}

json_t *container_stats_to_json(const struct container_stats *st) {
	return json_pack("{s:f, s:I, s:I, s:I, s:I, s:I}", "cpu_percent", st->cpu_percent, "cpu_usage_ns",
	                 (json_int_t)st->cpu_usage_ns, "memory_usage", (json_int_t)st->memory_usage, "memory_limit",
	                 (json_int_t)st->memory_limit, "pids", (json_int_t)st->pids, "read_ns",
	                 (json_int_t)st->read_ns);
}

/* --- timestamps, signals, text ------------------------------------------- */

/* Up to 9 fraction digits after p (which points past the '.'), as ns. */
static const char *parse_fraction(const char *p, int64_t *ret_ns) {
	int64_t ns = 0, scale = 100000000;
	const char *start = p;

	for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
		if (scale > 0)
			ns += (*p - '0') * scale;
	if (p == start)
		return NULL;
	*ret_ns = ns;
	return p;
}

int timestamp_parse(const char *s, int64_t *ret_ns) {
	struct tm tm = {};
	const char *p;
	int64_t secs, frac = 0, off = 0;

	if (isempty(s))
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789.") == strlen(s)) {
		/* unix seconds */
		_cleanup_free_ char *whole = NULL;
		const char *dot = strchr(s, '.');
		uint64_t v;

		whole = dot ? xstrndup(s, (size_t)(dot - s)) : xstrdup(s);
		if (parse_uint64(whole, &v) < 0 || v > (uint64_t)INT64_MAX / 1000000000 - 1)
			return -ERANGE;
		if (dot && (!(p = parse_fraction(dot + 1, &frac)) || *p))
			return -EINVAL;
		*ret_ns = (int64_t)v * 1000000000 + frac;
		return 0;
	}
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.' && !(p = parse_fraction(p + 1, &frac)))
		return -EINVAL;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
	         p[3] == ':' && isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '+')
			off = -off;
		p += 6;
	} else
		return -EINVAL;
	if (*p)
		return -EINVAL;
	secs = (int64_t)timegm(&tm) + off;
	if (secs < 0 || secs > INT64_MAX / 1000000000 - 1)
		return -ERANGE;
	*ret_ns = secs * 1000000000 + frac;
	return 0;
}

char *timestamp_format(char buf[static TIMESTAMP_MAX], int64_t ns) {
	time_t secs = (time_t)(ns / 1000000000);
	struct tm tm;
	char date[32];

	if (ns < 0 || !gmtime_r(&secs, &tm)) {
		snprintf(buf, TIMESTAMP_MAX, "1970-01-01T00:00:00.000000000Z");
		return buf;
	}
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, TIMESTAMP_MAX, "%s.%09" PRId64 "Z", date, ns % 1000000000);
	return buf;
}

json_t *json_string_lossy(const char *s, size_t len) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	json_t *j;

	if (!s)
		return json_string("");
	j = json_stringn(s, len);
	if (j)
		return j;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_valid_len(p + i, len - i);
		if (n == 0) {
			strbuf_add(&sb, "\xef\xbf\xbd", 3);
			i++;
		} else {
			strbuf_add(&sb, p + i, n);
			i += n;
		}
	}
	j = json_stringn(sb.buf ? sb.buf : "", sb.len);
	return j ? j : json_string("");
}
