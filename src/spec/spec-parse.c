/* SPDX-License-Identifier: Apache-2.0 */
/* One service of the spec: every key of spec-reference.md bound to struct
 * spec_service with its default. Checks that need other services (depends,
 * port conflicts) are in spec-validate.c. */
#include <arpa/inet.h>
#include <ctype.h>
#include <signal.h>

#include "basic/alloc.h"
#include "basic/parse.h"
#include "spec/envref.h"
#include "spec/spec-internal.h"
#include "basic/banned.h"

/* "'health.check' of service 'web'" */
static char *svc_where(const struct svc_ctx *c, const char *path) {
	const char *rel = path + strlen(c->path) + 1;
	return xasprintf("'%s' of service '%s'", rel, c->svc->name);
}

bool svc_open(const struct svc_ctx *c, struct sect *s, const struct ynode *n, const char *path,
              const char *const *allowed, char **ret_where) {
	*ret_where = svc_where(c, path);
	return sect_open(s, c->d, n, path, *ret_where, allowed);
}

static void service_defaults(struct spec_service *svc) {
	svc->rtype = SPEC_RTYPE_SERVICE;
	svc->concurrency = SPEC_CONCURRENCY_FORBID;
	svc->image.pull_policy = SPEC_PULL_IF_NOT_PRESENT;
	image_reference_init(&svc->image.ref);
	svc->platform.os = _SPEC_OS_INVALID;
	svc->platform.arch = _SPEC_ARCH_INVALID;
	svc->scale.mode = SPEC_SCALE_ADAPTIVE;
	svc->scale.min = 1;
	svc->scale.max = 10;
	svc->scale.cooldown_nsec = 60 * NSEC_PER_SEC;
	svc->health.start_grace_nsec = 5 * NSEC_PER_SEC;
	svc->health.interval_nsec = 10 * NSEC_PER_SEC;
	svc->health.timeout_nsec = 5 * NSEC_PER_SEC;
	svc->health.retries = 3;
	svc->health.check.type = SPEC_CHECK_TCP;
	svc->on_init_failure = SPEC_INIT_FAILURE_FAIL;
	svc->on_panic = SPEC_PANIC_RESTART;
	svc->stop_signal = SIGTERM;
	svc->stop_grace_period_nsec = 10 * NSEC_PER_SEC;
	svc->network_mode = SPEC_NETWORK_BRIDGE;
	svc->logs_max_size_bytes = UINT64_C(100) << 20;
	svc->service_type = SPEC_SERVICE_TYPE_STANDARD;
	svc->resources.gpu.vendor = SPEC_GPU_VENDOR_NVIDIA;
	svc->resources.gpu.sharing = SPEC_GPU_SHARING_EXCLUSIVE;
}

static void parse_image(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "name", "pull_policy", NULL };
	_cleanup_free_ char *where = NULL;
	struct spec_image *img = &c->svc->image;
	struct sect s;
	int r;

	/* The Compose habit "image: busybox" */
	if (n->type == YNODE_SCALAR) {
		spec_error(c->d, n, path, "expected a mapping like { name: \"%s\" }, got a string", n->value);
		return;
	}
	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	r = sect_string(&s, "name", &img->name);
	if (r == 0)
		sect_missing(&s, "name");
	else if (r > 0) {
		_cleanup_za_error_ struct za_error *e = NULL;
		_cleanup_free_ char *p = spec_path_join(path, "name");

		if (image_reference_parse(img->name, &img->ref, &e) < 0)
			spec_error(c->d, sect_get(&s, "name"), p, "%s", e->message);
	}
	SECT_ENUM(&s, "pull_policy", spec_pull_policy, "pull policy", &img->pull_policy);
}

static void parse_platform(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "os", "arch", NULL };
	_cleanup_free_ char *where = NULL;
	struct sect s;

	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	SECT_ENUM(&s, "os", spec_os, "os", &c->svc->platform.os);
	SECT_ENUM(&s, "arch", spec_arch, "arch", &c->svc->platform.arch);
}

static void parse_command(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "entrypoint", "args", "workdir", NULL };
	_cleanup_free_ char *where = NULL;
	struct spec_command *cmd = &c->svc->command;
	struct sect s;

	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	sect_strv(&s, "entrypoint", &cmd->entrypoint);
	sect_strv(&s, "args", &cmd->args);
	if (sect_string(&s, "workdir", &cmd->workdir) > 0 && cmd->workdir[0] != '/') {
		_cleanup_free_ char *p = spec_path_join(path, "workdir");
		spec_error(c->d, sect_get(&s, "workdir"), p, "workdir '%s' must be an absolute path", cmd->workdir);
	}
}

static void parse_env(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	struct spec_service *svc = c->svc;

	if (n->type != YNODE_MAPPING) {
		spec_error(c->d, n, path, "expected a mapping of variable names to values, got %s", ynode_describe(n));
		return;
	}
	svc->env = xnew(struct spec_kv, n->n ? n->n : 1);
	for (size_t i = 0; i < n->n; i++) {
		const char *name = n->keys[i]->value;
		_cleanup_free_ char *p = spec_path_join(path, name);
		_cleanup_za_error_ struct za_error *e = NULL;
		struct envref ref = {};
		char *value = NULL;

		if (!envref_valid_var_name(name, strlen(name))) {
			spec_error(c->d, n->keys[i], p,
			           "invalid environment variable name '%s' (expected [A-Za-z_][A-Za-z0-9_]*)", name);
			continue;
		}
		if (ynode_is_null(n->items[i])) {
			spec_error(c->d, n->items[i], p, "value of '%s' is null (use \"\" for an empty string)", name);
			continue;
		}
		if (!bind_string(c->d, n->items[i], p, &value))
			continue;
		if (envref_parse(value, &ref, &e) < 0) {
			spec_error(c->d, n->items[i], p, "%s", e->message);
			free(value);
			continue;
		}
		envref_release(&ref);
		svc->env[svc->n_env].key = xstrdup(name);
		svc->env[svc->n_env].value = value;
		svc->n_env++;
	}
}

static bool valid_cpuset(const char *s) {
	/* "0-3,5,7-8" */
	const char *p = s;

	if (isempty(s))
		return false;
	for (;;) {
		unsigned long a, b;
		char *end;

		if (!isdigit((unsigned char)*p))
			return false;
		a = strtoul(p, &end, 10);
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				return false;
			b = strtoul(p, &end, 10);
			p = end;
			if (b < a)
				return false;
		}
		if (*p == '\0')
			return true;
		if (*p != ',')
			return false;
		p++;
	}
}

static void parse_gpu(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "count", "vendor", "sharing", "mps_pipe_dir", "mps_log_dir", NULL };
	_cleanup_free_ char *where = NULL;
	struct spec_gpu *g = &c->svc->resources.gpu;
	struct sect s;

	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	g->count = 1;
	sect_u32(&s, "count", 1, 64, &g->count);
	SECT_ENUM(&s, "vendor", spec_gpu_vendor, "GPU vendor", &g->vendor);
	SECT_ENUM(&s, "sharing", spec_gpu_sharing, "GPU sharing mode", &g->sharing);
	sect_string(&s, "mps_pipe_dir", &g->mps_pipe_dir);
	sect_string(&s, "mps_log_dir", &g->mps_log_dir);
	if (g->sharing == SPEC_GPU_SHARING_MPS) {
		if (g->vendor != SPEC_GPU_VENDOR_NVIDIA) {
			_cleanup_free_ char *p = spec_path_join(path, "sharing");
			spec_error(c->d, sect_get(&s, "sharing"), p, "GPU sharing 'mps' needs vendor nvidia, not '%s'",
			           spec_gpu_vendor_to_string(g->vendor));
		}
		if (!g->mps_pipe_dir)
			g->mps_pipe_dir = xstrdup("/tmp/nvidia-mps");
		if (!g->mps_log_dir)
			g->mps_log_dir = xstrdup("/tmp/nvidia-log");
	} else if (sect_get(&s, "mps_pipe_dir") || sect_get(&s, "mps_log_dir")) {
		const char *key = sect_get(&s, "mps_pipe_dir") ? "mps_pipe_dir" : "mps_log_dir";
		_cleanup_free_ char *p = spec_path_join(path, key);
		spec_error(c->d, sect_get(&s, key), p, "'%s' only applies to GPU sharing 'mps'", key);
	}
}

static void parse_resources(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "cpu",        "memory",      "pids_limit",         "cpuset",
		                               "cpu_shares", "memory_swap", "memory_reservation", "oom_score_adj",
		                               "gpu",        NULL };
	_cleanup_free_ char *where = NULL;
	struct spec_resources *res = &c->svc->resources;
	const struct ynode *v;
	struct sect s;
	int64_t i64;
	int r;

	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	sect_double(&s, "cpu", 0.001, 1024, &res->cpu);
	r = sect_size(&s, "memory", &res->memory);
	if (r > 0 && res->memory < (UINT64_C(6) << 20)) {
		_cleanup_free_ char *p = spec_path_join(path, "memory");
		spec_error(c->d, sect_get(&s, "memory"), p, "memory limit '%s' is below the minimum of 6Mi",
		           sect_get(&s, "memory")->value);
		res->memory = 0;
	}
	if (sect_int(&s, "pids_limit", 1, INT64_MAX, &i64) > 0)
		res->pids_limit = i64;
	if (sect_string(&s, "cpuset", &res->cpuset) > 0 && !valid_cpuset(res->cpuset)) {
		_cleanup_free_ char *p = spec_path_join(path, "cpuset");
		spec_error(c->d, sect_get(&s, "cpuset"), p, "invalid cpuset '%s' (expected a list like 0-3,5)",
		           res->cpuset);
	}
	sect_uint(&s, "cpu_shares", 2, 262144, &res->cpu_shares);
	r = sect_size(&s, "memory_swap", &res->memory_swap);
	if (r > 0) {
		_cleanup_free_ char *p = spec_path_join(path, "memory_swap");
		v = sect_get(&s, "memory_swap");
		if (!res->memory)
			spec_error(c->d, v, p, "memory_swap needs a memory limit");
		else if (res->memory_swap < res->memory)
			spec_error(c->d, v, p,
			           "memory_swap '%s' is smaller than memory; it is the limit of memory plus swap",
			           v->value);
	}
	r = sect_size(&s, "memory_reservation", &res->memory_reservation);
	if (r > 0 && res->memory && res->memory_reservation > res->memory) {
		_cleanup_free_ char *p = spec_path_join(path, "memory_reservation");
		spec_error(c->d, sect_get(&s, "memory_reservation"), p,
		           "memory_reservation '%s' is larger than the memory limit",
		           sect_get(&s, "memory_reservation")->value);
	}
	if (sect_int(&s, "oom_score_adj", -1000, 1000, &i64) > 0) {
		res->has_oom_score_adj = true;
		res->oom_score_adj = (int32_t)i64;
	}
	if ((v = sect_get(&s, "gpu"))) {
		_cleanup_free_ char *p = spec_path_join(path, "gpu");
		parse_gpu(c, v, p);
	}
}

static void parse_scale(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const all[] = { "mode", "replicas", "min", "max", "cooldown", "targets", NULL };
	static const char *const fixed[] = { "mode", "replicas", NULL };
	static const char *const manual[] = { "mode", NULL };
	static const char *const adaptive[] = { "mode", "min", "max", "cooldown", "targets", NULL };
	static const char *const targets_allowed[] = { "cpu", "memory", "rps", NULL };
	_cleanup_free_ char *where = NULL;
	struct spec_scale *sc = &c->svc->scale;
	struct sect s;
	const struct ynode *t;
	int mode = -1;

	if (!svc_open(c, &s, n, path, all, &where))
		return;
	if (SECT_ENUM(&s, "mode", spec_scale_mode, "scale mode", &mode) == 0) {
		sect_missing(&s, "mode");
		return;
	}
	if (mode < 0)
		return;
	sc->mode = mode;
	/* Re-check keys for the chosen mode, so "replicas" with adaptive is named. */
	for (size_t i = 0; i < n->n; i++) {
		const char *key = n->keys[i]->value;
		const char *const *ok = mode == SPEC_SCALE_FIXED    ? fixed
		                        : mode == SPEC_SCALE_MANUAL ? manual
		                                                    : adaptive;
		bool found = false, known = false;

		for (const char *const *a = ok; *a; a++)
			found = found || streq(*a, key);
		for (const char *const *a = all; *a; a++)
			known = known || streq(*a, key);
		if (!found && known) {
			_cleanup_free_ char *p = spec_path_join(path, key);
			spec_error(c->d, n->keys[i], p, "field '%s' does not apply to scale mode '%s'", key,
			           spec_scale_mode_to_string(mode));
		}
	}
	switch (sc->mode) {
	case SPEC_SCALE_FIXED:
		if (sect_u32(&s, "replicas", 0, 1000, &sc->replicas) == 0)
			sect_missing(&s, "replicas");
		break;
	case SPEC_SCALE_MANUAL:
		sc->replicas = 1;
		break;
	case SPEC_SCALE_ADAPTIVE:
		sect_u32(&s, "min", 0, 1000, &sc->min);
		sect_u32(&s, "max", 1, 1000, &sc->max);
		sect_duration(&s, "cooldown", &sc->cooldown_nsec);
		if (sc->min > sc->max) {
			_cleanup_free_ char *p = spec_path_join(path, "min");
			spec_error(c->d, sect_get(&s, "min") ?: n, p, "min (%u) is greater than max (%u)", sc->min,
			           sc->max);
		}
		if ((t = sect_get(&s, "targets"))) {
			_cleanup_free_ char *tp = spec_path_join(path, "targets"), *twhere = NULL;
			struct sect ts;

			if (svc_open(c, &ts, t, tp, targets_allowed, &twhere)) {
				sect_u32(&ts, "cpu", 1, 100, &sc->target_cpu);
				sect_u32(&ts, "memory", 1, 100, &sc->target_memory);
				sect_u32(&ts, "rps", 1, UINT32_MAX, &sc->target_rps);
			}
		}
		break;
	default:
		break;
	}
}

static void parse_endpoints(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "name", "protocol", "port", "target_port", "path", "expose", NULL };
	struct spec_service *svc = c->svc;

	if (!bind_list(c->d, n, path))
		return;
	svc->endpoints = xnew(struct spec_endpoint, n->n ? n->n : 1);
	for (size_t i = 0; i < n->n; i++) {
		_cleanup_free_ char *ip = spec_path_index(path, i), *where = NULL;
		struct spec_endpoint *ep = &svc->endpoints[svc->n_endpoints];
		struct sect s;
		int r;

		if (!svc_open(c, &s, n->items[i], ip, allowed, &where))
			continue;
		svc->n_endpoints++;
		ep->expose = SPEC_EXPOSE_INTERNAL;
		ep->protocol = SPEC_PROTOCOL_HTTP;
		r = sect_string(&s, "name", &ep->name);
		if (r == 0)
			sect_missing(&s, "name");
		else if (r > 0 && !spec_valid_name(ep->name, 1, 63)) {
			_cleanup_free_ char *p = spec_path_join(ip, "name");
			spec_error(c->d, sect_get(&s, "name"), p,
			           "invalid endpoint name '%s' (expected 1-63 characters of a-z, 0-9 and '-', starting "
			           "with a "
			           "letter or digit and not ending with '-')",
			           ep->name);
		}
		if (SECT_ENUM(&s, "protocol", spec_protocol, "protocol", &ep->protocol) == 0)
			sect_missing(&s, "protocol");
		if (sect_port(&s, "port", 1, &ep->port) == 0)
			sect_missing(&s, "port");
		if (sect_port(&s, "target_port", 1, &ep->target_port) <= 0)
			ep->target_port = ep->port;
		if (sect_string(&s, "path", &ep->path) > 0 && ep->path[0] != '/') {
			_cleanup_free_ char *p = spec_path_join(ip, "path");
			spec_error(c->d, sect_get(&s, "path"), p, "path '%s' must start with '/'", ep->path);
		}
		SECT_ENUM(&s, "expose", spec_expose, "expose mode", &ep->expose);
		/* unique names within the service */
		for (size_t j = 0; ep->name && j + 1 < svc->n_endpoints; j++)
			if (svc->endpoints[j].name && streq(svc->endpoints[j].name, ep->name)) {
				_cleanup_free_ char *p = spec_path_join(ip, "name");
				spec_error(c->d, sect_get(&s, "name"), p,
				           "duplicate endpoint name '%s' (endpoint names are unique within a service)",
				           ep->name);
				break;
			}
	}
}

bool spec_valid_ip(const char *s) {
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void parse_port_mappings(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "host_port", "container_port", "protocol", "host_ip", NULL };
	struct spec_service *svc = c->svc;

	if (!bind_list(c->d, n, path))
		return;
	svc->port_mappings = xnew(struct spec_port_mapping, n->n ? n->n : 1);
	for (size_t i = 0; i < n->n; i++) {
		_cleanup_free_ char *ip = spec_path_index(path, i), *where = NULL;
		struct spec_port_mapping *pm = &svc->port_mappings[svc->n_port_mappings];
		struct sect s;

		/* The Compose short form "ports: ['8080:80']" */
		if (n->items[i]->type == YNODE_SCALAR && !ynode_is_null(n->items[i])) {
			spec_error(c->d, n->items[i], ip,
			           "expected a mapping like { host_port: 8080, container_port: 80 }, got a string '%s'",
			           n->items[i]->value);
			continue;
		}
		if (!svc_open(c, &s, n->items[i], ip, allowed, &where))
			continue;
		svc->n_port_mappings++;
		sect_port(&s, "host_port", 0, &pm->host_port);
		if (sect_port(&s, "container_port", 1, &pm->container_port) == 0)
			sect_missing(&s, "container_port");
		SECT_ENUM(&s, "protocol", spec_ip_protocol, "protocol", &pm->protocol);
		if (sect_string(&s, "host_ip", &pm->host_ip) > 0 && !spec_valid_ip(pm->host_ip)) {
			_cleanup_free_ char *p = spec_path_join(ip, "host_ip");
			spec_error(c->d, sect_get(&s, "host_ip"), p,
			           "invalid IP address '%s' (expected an IPv4 or IPv6 address like 127.0.0.1 or ::1)",
			           pm->host_ip);
		}
		if (!pm->host_ip)
			pm->host_ip = xstrdup("0.0.0.0");
	}
}

static void parse_depends(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "service", "condition", "timeout", "on_timeout", NULL };
	struct spec_service *svc = c->svc;

	if (!bind_list(c->d, n, path))
		return;
	svc->depends = xnew(struct spec_depends, n->n ? n->n : 1);
	for (size_t i = 0; i < n->n; i++) {
		_cleanup_free_ char *ip = spec_path_index(path, i), *where = NULL;
		struct spec_depends *dp = &svc->depends[svc->n_depends];
		struct sect s;

		/* The Compose short form "depends_on: [db]" */
		if (n->items[i]->type == YNODE_SCALAR && !ynode_is_null(n->items[i])) {
			spec_error(c->d, n->items[i], ip, "expected a mapping like { service: %s }, got a string",
			           n->items[i]->value);
			continue;
		}
		if (!svc_open(c, &s, n->items[i], ip, allowed, &where))
			continue;
		svc->n_depends++;
		dp->condition = SPEC_CONDITION_HEALTHY;
		dp->timeout_nsec = 300 * NSEC_PER_SEC;
		dp->on_timeout = SPEC_ON_FAILURE_FAIL;
		if (sect_string(&s, "service", &dp->service) == 0)
			sect_missing(&s, "service");
		SECT_ENUM(&s, "condition", spec_condition, "dependency condition", &dp->condition);
		sect_duration(&s, "timeout", &dp->timeout_nsec);
		SECT_ENUM(&s, "on_timeout", spec_on_failure, "on_timeout action", &dp->on_timeout);
	}
}

static bool valid_http_url(const char *u) {
	const char *rest;

	if (strneq(u, "http://", 7))
		rest = u + 7;
	else if (strneq(u, "https://", 8))
		rest = u + 8;
	else
		return false;
	if (!*rest || *rest == '/')
		return false;
	for (const char *p = u; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return false;
	return true;
}

static void parse_health_check(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const all[] = { "type", "port", "url", "expect_status", "command", NULL };
	static const char *const per_type[][4] = {
		[SPEC_CHECK_TCP] = { "type", "port", NULL },
		[SPEC_CHECK_HTTP] = { "type", "url", "expect_status", NULL },
		[SPEC_CHECK_COMMAND] = { "type", "command", NULL },
	};
	_cleanup_free_ char *where = NULL;
	struct spec_health_check *hc = &c->svc->health.check;
	struct sect s;
	int type = -1, r;

	if (!svc_open(c, &s, n, path, all, &where))
		return;
	r = SECT_ENUM(&s, "type", spec_check_type, "check type", &type);
	if (r == 0) {
		sect_missing(&s, "type");
		return;
	}
	if (r < 0)
		return;
	hc->type = type;
	for (size_t i = 0; i < n->n; i++) {
		const char *key = n->keys[i]->value;
		bool found = false, known = false;

		for (const char *const *a = per_type[type]; *a; a++)
			found = found || streq(*a, key);
		for (const char *const *a = all; *a; a++)
			known = known || streq(*a, key);
		if (!found && known) {
			_cleanup_free_ char *p = spec_path_join(path, key);
			spec_error(c->d, n->keys[i], p, "field '%s' does not apply to a %s check", key,
			           spec_check_type_to_string(type));
		}
	}
	switch (hc->type) {
	case SPEC_CHECK_TCP:
		sect_port(&s, "port", 0, &hc->port);
		break;
	case SPEC_CHECK_HTTP:
		hc->expect_status = 200;
		r = sect_string(&s, "url", &hc->url);
		if (r == 0)
			sect_missing(&s, "url");
		else if (r > 0 && !valid_http_url(hc->url)) {
			_cleanup_free_ char *p = spec_path_join(path, "url");
			spec_error(c->d, sect_get(&s, "url"), p,
			           "invalid URL '%s' (expected http://host[:port]/path or https://...)", hc->url);
		}
		{
			uint32_t st;
			if (sect_u32(&s, "expect_status", 100, 599, &st) > 0)
				hc->expect_status = (uint16_t)st;
		}
		break;
	case SPEC_CHECK_COMMAND:
		r = sect_string(&s, "command", &hc->command);
		if (r == 0)
			sect_missing(&s, "command");
		else if (r > 0 && isempty(hc->command)) {
			_cleanup_free_ char *p = spec_path_join(path, "command");
			spec_error(c->d, sect_get(&s, "command"), p, "command is empty");
		}
		break;
	default:
		break;
	}
}

static void parse_health(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "start_grace", "interval", "timeout", "retries", "check", NULL };
	_cleanup_free_ char *where = NULL;
	struct spec_health *h = &c->svc->health;
	const struct ynode *v;
	struct sect s;

	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	/* An explicit health section without start_grace has none (the seed's
	 * default of 5s applies only to the implicit health check). */
	h->start_grace_nsec = 0;
	sect_duration(&s, "start_grace", &h->start_grace_nsec);
	if (sect_duration(&s, "interval", &h->interval_nsec) > 0 && h->interval_nsec < NSEC_PER_MSEC * 100) {
		_cleanup_free_ char *p = spec_path_join(path, "interval");
		spec_error(c->d, sect_get(&s, "interval"), p, "interval '%s' is shorter than the minimum of 100ms",
		           sect_get(&s, "interval")->value);
	}
	if (sect_duration(&s, "timeout", &h->timeout_nsec) > 0 && h->timeout_nsec == 0) {
		_cleanup_free_ char *p = spec_path_join(path, "timeout");
		spec_error(c->d, sect_get(&s, "timeout"), p, "timeout must be greater than 0");
	}
	sect_u32(&s, "retries", 1, 1000, &h->retries);
	if ((v = sect_get(&s, "check"))) {
		_cleanup_free_ char *p = spec_path_join(path, "check");
		parse_health_check(c, v, p);
	}
}

static void parse_init_with(const struct svc_ctx *c, const struct ynode *n, const char *path,
                            struct spec_init_step *st) {
	static const char *const per_action[][4] = {
		[SPEC_INIT_WAIT_TCP] = { "host", "port", "timeout", NULL },
		[SPEC_INIT_WAIT_HTTP] = { "url", "expect_status", "timeout", NULL },
		[SPEC_INIT_RUN] = { "command", "timeout", NULL },
	};
	_cleanup_free_ char *where = NULL;
	struct sect s;
	int r;

	if (!svc_open(c, &s, n, path, per_action[st->uses], &where))
		return;
	switch (st->uses) {
	case SPEC_INIT_WAIT_TCP:
		if (sect_string(&s, "host", &st->host) == 0)
			sect_missing(&s, "host");
		if (sect_port(&s, "port", 1, &st->port) == 0)
			sect_missing(&s, "port");
		break;
	case SPEC_INIT_WAIT_HTTP: {
		uint32_t status;

		st->expect_status = 200;
		r = sect_string(&s, "url", &st->url);
		if (r == 0)
			sect_missing(&s, "url");
		else if (r > 0 && !valid_http_url(st->url)) {
			_cleanup_free_ char *p = spec_path_join(path, "url");
			spec_error(c->d, sect_get(&s, "url"), p,
			           "invalid URL '%s' (expected http://host[:port]/path or https://...)", st->url);
		}
		if (sect_u32(&s, "expect_status", 100, 599, &status) > 0)
			st->expect_status = (uint16_t)status;
		break;
	}
	case SPEC_INIT_RUN:
		r = sect_string(&s, "command", &st->command);
		if (r == 0)
			sect_missing(&s, "command");
		else if (r > 0 && isempty(st->command)) {
			_cleanup_free_ char *p = spec_path_join(path, "command");
			spec_error(c->d, sect_get(&s, "command"), p, "command is empty");
		}
		break;
	default:
		break;
	}
	sect_duration(&s, "timeout", &st->with_timeout_nsec);
}

static void parse_init(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "steps", NULL };
	static const char *const step_allowed[] = { "id", "uses", "with", "timeout", "on_failure", NULL };
	_cleanup_free_ char *where = NULL, *sp = NULL;
	struct spec_service *svc = c->svc;
	const struct ynode *steps;
	struct sect s;

	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	steps = sect_get(&s, "steps");
	if (!steps)
		return;
	sp = spec_path_join(path, "steps");
	if (!bind_list(c->d, steps, sp))
		return;
	svc->init_steps = xnew(struct spec_init_step, steps->n ? steps->n : 1);
	for (size_t i = 0; i < steps->n; i++) {
		_cleanup_free_ char *ip = spec_path_index(sp, i), *swhere = NULL;
		struct spec_init_step *st = &svc->init_steps[svc->n_init_steps];
		const struct ynode *with;
		struct sect ss;
		int uses = -1, r;

		if (!svc_open(c, &ss, steps->items[i], ip, step_allowed, &swhere))
			continue;
		svc->n_init_steps++;
		st->timeout_nsec = 300 * NSEC_PER_SEC;
		st->on_failure = SPEC_ON_FAILURE_FAIL;
		r = sect_string(&ss, "id", &st->id);
		if (r == 0)
			sect_missing(&ss, "id");
		else if (r > 0) {
			for (size_t j = 0; j + 1 < svc->n_init_steps; j++)
				if (svc->init_steps[j].id && streq(svc->init_steps[j].id, st->id)) {
					_cleanup_free_ char *p = spec_path_join(ip, "id");
					spec_error(c->d, sect_get(&ss, "id"), p, "duplicate init step id '%s'", st->id);
					break;
				}
		}
		sect_duration(&ss, "timeout", &st->timeout_nsec);
		SECT_ENUM(&ss, "on_failure", spec_on_failure, "on_failure action", &st->on_failure);
		r = SECT_ENUM(&ss, "uses", spec_init_action, "init action", &uses);
		if (r == 0)
			sect_missing(&ss, "uses");
		if (r <= 0)
			continue;
		st->uses = uses;
		with = sect_get(&ss, "with");
		if (!with) {
			sect_missing(&ss, "with");
			continue;
		}
		{
			_cleanup_free_ char *wp = spec_path_join(ip, "with");
			parse_init_with(c, with, wp, st);
		}
	}
}

static void parse_errors(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "on_init_failure", "on_panic", NULL };
	static const char *const action_allowed[] = { "action", NULL };
	_cleanup_free_ char *where = NULL;
	struct sect s;
	const struct ynode *v;

	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	if ((v = sect_get(&s, "on_init_failure"))) {
		_cleanup_free_ char *p = spec_path_join(path, "on_init_failure"), *w = NULL;
		struct sect a;
		if (svc_open(c, &a, v, p, action_allowed, &w) &&
		    SECT_ENUM(&a, "action", spec_init_failure_action, "on_init_failure action",
		              &c->svc->on_init_failure) == 0)
			sect_missing(&a, "action");
	}
	if ((v = sect_get(&s, "on_panic"))) {
		_cleanup_free_ char *p = spec_path_join(path, "on_panic"), *w = NULL;
		struct sect a;
		if (svc_open(c, &a, v, p, action_allowed, &w) &&
		    SECT_ENUM(&a, "action", spec_panic_action, "on_panic action", &c->svc->on_panic) == 0)
			sect_missing(&a, "action");
	}
}

static void parse_restart_policy(const struct svc_ctx *c, const struct ynode *n, const char *path) {
	static const char *const allowed[] = { "kind", "max_attempts", "delay", NULL };
	_cleanup_free_ char *where = NULL;
	struct spec_restart_policy *rp = &c->svc->restart_policy;
	struct sect s;

	if (!svc_open(c, &s, n, path, allowed, &where))
		return;
	rp->set = true;
	if (SECT_ENUM(&s, "kind", spec_restart_kind, "restart policy kind", &rp->kind) == 0)
		sect_missing(&s, "kind");
	if (sect_u32(&s, "max_attempts", 1, UINT32_MAX, &rp->max_attempts) > 0 && rp->kind != SPEC_RESTART_ON_FAILURE) {
		_cleanup_free_ char *p = spec_path_join(path, "max_attempts");
		spec_error(c->d, sect_get(&s, "max_attempts"), p,
		           "max_attempts only applies to kind on_failure, not '%s'",
		           spec_restart_kind_to_string(rp->kind));
	}
	sect_duration(&s, "delay", &rp->delay_nsec);
}

static void resolve_health_port(const struct svc_ctx *c, const struct ynode *n) {
	struct spec_service *svc = c->svc;
	const struct ynode *check = ynode_get(ynode_get(n, "health"), "check");

	if (svc->health.check.type != SPEC_CHECK_TCP || svc->health.check.port != 0)
		return;
	for (size_t i = 0; i < svc->n_endpoints; i++) {
		enum spec_protocol p = svc->endpoints[i].protocol;
		if (p == SPEC_PROTOCOL_HTTP || p == SPEC_PROTOCOL_HTTPS || p == SPEC_PROTOCOL_WEBSOCKET) {
			svc->health.check.port = svc->endpoints[i].target_port;
			return;
		}
	}
	if (check && check->type == YNODE_MAPPING) {
		_cleanup_free_ char *p = xasprintf("%s.health.check.port", c->path);
		spec_error(c->d, ynode_get(check, "port") ?: check, p,
		           "a tcp check without a port probes the first http, https or websocket endpoint, but service "
		           "'%s' has none; set a port",
		           svc->name);
		return;
	}
	/* Implicit health check and nothing to probe: running means healthy. */
	svc->health.check.type = SPEC_CHECK_NONE;
}

void spec_parse_service(struct spec_diagnostics *d, const struct ynode *key, const struct ynode *n,
                        struct spec_service *svc) {
	static const char *const allowed[] = {
		"rtype",
		"schedule",
		"concurrency",
		"backoff_limit",
		"image",
		"platform",
		"command",
		"env",
		"resources",
		"scale",
		"endpoints",
		"port_mappings",
		"depends",
		"health",
		"init",
		"errors",
		"restart_policy",
		"storage",
		"devices",
		"user",
		"hostname",
		"labels",
		"stop_signal",
		"stop_grace_period",
		"privileged",
		"capabilities",
		"cap_add",
		"cap_drop",
		"read_only_root_fs",
		"tty",
		"dns",
		"extra_hosts",
		"sysctls",
		"ulimits",
		"network_mode",
		"logs",
		"service_type",
		"wasm",
		NULL,
	};
	static const struct {
		const char *key;
		void (*parse)(const struct svc_ctx *c, const struct ynode *n, const char *path);
	} sections[] = {
		{ "image", parse_image },
		{ "platform", parse_platform },
		{ "command", parse_command },
		{ "env", parse_env },
		{ "resources", parse_resources },
		{ "scale", parse_scale },
		{ "endpoints", parse_endpoints },
		{ "port_mappings", parse_port_mappings },
		{ "depends", parse_depends },
		{ "health", parse_health },
		{ "init", parse_init },
		{ "errors", parse_errors },
		{ "restart_policy", parse_restart_policy },
	};
	_cleanup_free_ char *path = NULL, *where = NULL;
	struct svc_ctx c = { .d = d, .svc = svc };
	struct sect s;
	const struct ynode *v;
	int r;

	service_defaults(svc);
	svc->name = xstrdup(key->value);
	svc->line = key->line;
	svc->col = key->col;
	path = xasprintf("services.%s", svc->name);
	c.path = path;
	if (!spec_valid_name(svc->name, 1, 63))
		spec_error(d, key, path,
		           "invalid service name '%s' (expected 1-63 characters of a-z, 0-9 and '-', starting with a "
		           "letter "
		           "or digit and not ending with '-')",
		           svc->name);

	where = xasprintf("service '%s'", svc->name);
	if (!sect_open(&s, d, n, path, where, allowed))
		return;

	SECT_ENUM(&s, "rtype", spec_rtype, "rtype", &svc->rtype);
	r = sect_string(&s, "schedule", &svc->schedule);
	if (r > 0) {
		_cleanup_za_error_ struct za_error *e = NULL;
		_cleanup_free_ char *p = spec_path_join(path, "schedule");

		if (svc->rtype != SPEC_RTYPE_CRON)
			spec_error(d, sect_get(&s, "schedule"), p, "schedule only applies to rtype cron, not '%s'",
			           spec_rtype_to_string(svc->rtype));
		else if (cron_parse(svc->schedule, &svc->cron, &e) < 0)
			spec_error(d, sect_get(&s, "schedule"), p, "invalid cron expression '%s': %s", svc->schedule,
			           e->message);
	} else if (r == 0 && svc->rtype == SPEC_RTYPE_CRON) {
		_cleanup_free_ char *p = spec_path_join(path, "schedule");
		/* Point at "rtype: cron", the line that asks for a schedule. */
		spec_error(d, sect_get(&s, "rtype"), p,
		           "missing required field 'schedule' in service '%s' (rtype cron runs on a schedule)",
		           svc->name);
	}
	if (SECT_ENUM(&s, "concurrency", spec_concurrency, "concurrency policy", &svc->concurrency) > 0 &&
	    svc->rtype != SPEC_RTYPE_CRON) {
		_cleanup_free_ char *p = spec_path_join(path, "concurrency");
		spec_error(d, sect_get(&s, "concurrency"), p, "concurrency only applies to rtype cron, not '%s'",
		           spec_rtype_to_string(svc->rtype));
	}
	if (sect_u32(&s, "backoff_limit", 0, 100, &svc->backoff_limit) > 0 && svc->rtype == SPEC_RTYPE_SERVICE) {
		_cleanup_free_ char *p = spec_path_join(path, "backoff_limit");
		spec_error(d, sect_get(&s, "backoff_limit"), p,
		           "backoff_limit only applies to rtype job or cron, not 'service'");
	}

	if (!sect_get(&s, "image"))
		sect_missing(&s, "image");
	for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
		_cleanup_free_ char *p = NULL;

		v = sect_get(&s, sections[i].key);
		if (!v)
			continue;
		p = spec_path_join(path, sections[i].key);
		sections[i].parse(&c, v, p);
	}
	spec_parse_container_options(&c, &s);
	resolve_health_port(&c, n);
}

void spec_service_release(struct spec_service *svc) {
	free(svc->name);
	free(svc->schedule);
	free(svc->image.name);
	image_reference_release(&svc->image.ref);
	strv_free(svc->command.entrypoint);
	strv_free(svc->command.args);
	free(svc->command.workdir);
	for (size_t i = 0; i < svc->n_env; i++) {
		free(svc->env[i].key);
		free(svc->env[i].value);
	}
	free(svc->env);
	free(svc->resources.cpuset);
	free(svc->resources.gpu.mps_pipe_dir);
	free(svc->resources.gpu.mps_log_dir);
	for (size_t i = 0; i < svc->n_endpoints; i++) {
		free(svc->endpoints[i].name);
		free(svc->endpoints[i].path);
	}
	free(svc->endpoints);
	for (size_t i = 0; i < svc->n_port_mappings; i++)
		free(svc->port_mappings[i].host_ip);
	free(svc->port_mappings);
	for (size_t i = 0; i < svc->n_depends; i++)
		free(svc->depends[i].service);
	free(svc->depends);
	free(svc->health.check.url);
	free(svc->health.check.command);
	for (size_t i = 0; i < svc->n_init_steps; i++) {
		struct spec_init_step *st = &svc->init_steps[i];
		free(st->id);
		free(st->host);
		free(st->url);
		free(st->command);
	}
	free(svc->init_steps);
	for (size_t i = 0; i < svc->n_storage; i++) {
		free(svc->storage[i].source);
		free(svc->storage[i].name);
		free(svc->storage[i].target);
	}
	free(svc->storage);
	for (size_t i = 0; i < svc->n_devices; i++)
		free(svc->devices[i].path);
	free(svc->devices);
	free(svc->user);
	free(svc->hostname);
	for (size_t i = 0; i < svc->n_labels; i++) {
		free(svc->labels[i].key);
		free(svc->labels[i].value);
	}
	free(svc->labels);
	strv_free(svc->cap_add);
	strv_free(svc->cap_drop);
	strv_free(svc->dns);
	strv_free(svc->extra_hosts);
	for (size_t i = 0; i < svc->n_sysctls; i++) {
		free(svc->sysctls[i].key);
		free(svc->sysctls[i].value);
	}
	free(svc->sysctls);
	for (size_t i = 0; i < svc->n_ulimits; i++)
		free(svc->ulimits[i].name);
	free(svc->ulimits);
	for (size_t i = 0; i < svc->wasm.n_preopens; i++) {
		free(svc->wasm.preopens[i].source);
		free(svc->wasm.preopens[i].target);
	}
	free(svc->wasm.preopens);
}
