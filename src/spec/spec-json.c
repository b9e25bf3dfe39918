/* SPDX-License-Identifier: Apache-2.0 */
/* The normalised spec as JSON: same keys as the YAML, every default filled
 * in, durations and sizes in their canonical text form. JSON is YAML, so the
 * output is itself a valid spec that loads to the same structs. */
#include <jansson.h>
#include <signal.h>

#include "basic/alloc.h"
#include "basic/parse.h"
#include "spec/spec-internal.h"
#include "basic/banned.h"

static json_t *jdur(uint64_t nsec) {
	char buf[FORMAT_DURATION_MAX];
	return json_string(format_duration(buf, sizeof(buf), nsec));
}

static json_t *jsize(uint64_t bytes) {
	char buf[FORMAT_SIZE_MAX];
	return json_string(format_size(buf, sizeof(buf), bytes));
}

static json_t *jstrv(char **l) {
	json_t *a = json_array();
	STRV_FOREACH (s, l)
		json_array_append_new(a, json_string(*s));
	return a;
}

static json_t *jkv(const struct spec_kv *kv, size_t n) {
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, kv[i].key, json_string(kv[i].value));
	return o;
}

#define SET(o, k, v) json_object_set_new((o), (k), (v))

static json_t *service_resources(const struct spec_resources *r) {
	json_t *o = json_object();

	if (r->cpu > 0)
		SET(o, "cpu", json_real(r->cpu));
	if (r->memory)
		SET(o, "memory", jsize(r->memory));
	if (r->pids_limit)
		SET(o, "pids_limit", json_integer(r->pids_limit));
	if (r->cpuset)
		SET(o, "cpuset", json_string(r->cpuset));
	if (r->cpu_shares)
		SET(o, "cpu_shares", json_integer((json_int_t)r->cpu_shares));
	if (r->memory_swap)
		SET(o, "memory_swap", jsize(r->memory_swap));
	if (r->memory_reservation)
		SET(o, "memory_reservation", jsize(r->memory_reservation));
	if (r->has_oom_score_adj)
		SET(o, "oom_score_adj", json_integer(r->oom_score_adj));
	if (r->gpu.count) {
		json_t *g = json_pack("{s:i, s:s, s:s}", "count", (json_int_t)r->gpu.count, "vendor",
		                      spec_gpu_vendor_to_string(r->gpu.vendor), "sharing",
		                      spec_gpu_sharing_to_string(r->gpu.sharing));
		if (r->gpu.mps_pipe_dir)
			SET(g, "mps_pipe_dir", json_string(r->gpu.mps_pipe_dir));
		if (r->gpu.mps_log_dir)
			SET(g, "mps_log_dir", json_string(r->gpu.mps_log_dir));
		SET(o, "gpu", g);
	}
	return o;
}

static json_t *service_scale(const struct spec_scale *s) {
	json_t *o = json_pack("{s:s}", "mode", spec_scale_mode_to_string(s->mode));

	if (s->mode == SPEC_SCALE_FIXED)
		SET(o, "replicas", json_integer(s->replicas));
	if (s->mode == SPEC_SCALE_ADAPTIVE) {
		json_t *t = json_object();
		SET(o, "min", json_integer(s->min));
		SET(o, "max", json_integer(s->max));
		SET(o, "cooldown", jdur(s->cooldown_nsec));
		if (s->target_cpu)
			SET(t, "cpu", json_integer(s->target_cpu));
		if (s->target_memory)
			SET(t, "memory", json_integer(s->target_memory));
		if (s->target_rps)
			SET(t, "rps", json_integer(s->target_rps));
		if (json_object_size(t))
			SET(o, "targets", t);
		else
			json_decref(t);
	}
	return o;
}

static json_t *service_health(const struct spec_health *h) {
	json_t *o =
	        json_pack("{s:o, s:o, s:o, s:i}", "start_grace", jdur(h->start_grace_nsec), "interval",
	                  jdur(h->interval_nsec), "timeout", jdur(h->timeout_nsec), "retries", (json_int_t)h->retries);
	const struct spec_health_check *c = &h->check;

	switch (c->type) {
	case SPEC_CHECK_TCP:
		SET(o, "check", json_pack("{s:s, s:i}", "type", "tcp", "port", (json_int_t)c->port));
		break;
	case SPEC_CHECK_HTTP:
		SET(o, "check",
		    json_pack("{s:s, s:s, s:i}", "type", "http", "url", c->url, "expect_status",
		              (json_int_t)c->expect_status));
		break;
	case SPEC_CHECK_COMMAND:
		SET(o, "check", json_pack("{s:s, s:s}", "type", "command", "command", c->command));
		break;
	default:
		/* SPEC_CHECK_NONE has no YAML form: leave health out. */
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *service_init(const struct spec_service *svc) {
	json_t *steps = json_array();

	for (size_t i = 0; i < svc->n_init_steps; i++) {
		const struct spec_init_step *st = &svc->init_steps[i];
		json_t *with = json_object();

		switch (st->uses) {
		case SPEC_INIT_WAIT_TCP:
			SET(with, "host", json_string(st->host));
			SET(with, "port", json_integer(st->port));
			break;
		case SPEC_INIT_WAIT_HTTP:
			SET(with, "url", json_string(st->url));
			SET(with, "expect_status", json_integer(st->expect_status));
			break;
		case SPEC_INIT_RUN:
			SET(with, "command", json_string(st->command));
			break;
		default:
			break;
		}
		if (st->with_timeout_nsec)
			SET(with, "timeout", jdur(st->with_timeout_nsec));
		json_array_append_new(steps, json_pack("{s:s, s:s, s:o, s:o, s:s}", "id", st->id, "uses",
		                                       spec_init_action_to_string(st->uses), "with", with, "timeout",
		                                       jdur(st->timeout_nsec), "on_failure",
		                                       spec_on_failure_to_string(st->on_failure)));
	}
	return json_pack("{s:o}", "steps", steps);
}

static json_t *service_storage(const struct spec_service *svc) {
	json_t *a = json_array();

	for (size_t i = 0; i < svc->n_storage; i++) {
		const struct spec_storage *st = &svc->storage[i];
		json_t *o =
		        json_pack("{s:s, s:s}", "type", spec_storage_type_to_string(st->type), "target", st->target);

		switch (st->type) {
		case SPEC_STORAGE_BIND:
			SET(o, "source", json_string(st->source));
			SET(o, "readonly", json_boolean(st->readonly));
			break;
		case SPEC_STORAGE_NAMED:
			SET(o, "name", json_string(st->name));
			SET(o, "readonly", json_boolean(st->readonly));
			break;
		case SPEC_STORAGE_TMPFS:
			if (st->size)
				SET(o, "size", jsize(st->size));
			if (st->has_mode) {
				char m[16];
				snprintf(m, sizeof(m), "%o", st->mode);
				SET(o, "mode", json_string(m));
			}
			break;
		default:
			break;
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *service_to_json(const struct spec_service *svc) {
	json_t *o = json_object(), *a, *h;
	char sig[32];

	SET(o, "rtype", json_string(spec_rtype_to_string(svc->rtype)));
	if (svc->schedule) {
		SET(o, "schedule", json_string(svc->schedule));
		SET(o, "concurrency", json_string(spec_concurrency_to_string(svc->concurrency)));
	}
	if (svc->rtype != SPEC_RTYPE_SERVICE)
		SET(o, "backoff_limit", json_integer(svc->backoff_limit));
	SET(o, "image",
	    json_pack("{s:s, s:s}", "name", svc->image.name, "pull_policy",
	              spec_pull_policy_to_string(svc->image.pull_policy)));
	if (svc->platform.os >= 0 || svc->platform.arch >= 0) {
		json_t *p = json_object();
		if (svc->platform.os >= 0)
			SET(p, "os", json_string(spec_os_to_string(svc->platform.os)));
		if (svc->platform.arch >= 0)
			SET(p, "arch", json_string(spec_arch_to_string(svc->platform.arch)));
		SET(o, "platform", p);
	}
	if (svc->command.entrypoint || svc->command.args || svc->command.workdir) {
		json_t *c = json_object();
		if (svc->command.entrypoint)
			SET(c, "entrypoint", jstrv(svc->command.entrypoint));
		if (svc->command.args)
			SET(c, "args", jstrv(svc->command.args));
		if (svc->command.workdir)
			SET(c, "workdir", json_string(svc->command.workdir));
		SET(o, "command", c);
	}
	SET(o, "env", jkv(svc->env, svc->n_env));
	SET(o, "resources", service_resources(&svc->resources));
	SET(o, "scale", service_scale(&svc->scale));

	a = json_array();
	for (size_t i = 0; i < svc->n_endpoints; i++) {
		const struct spec_endpoint *e = &svc->endpoints[i];
		json_t *eo = json_pack("{s:s, s:s, s:i, s:i, s:s}", "name", e->name, "protocol",
		                       spec_protocol_to_string(e->protocol), "port", (json_int_t)e->port, "target_port",
		                       (json_int_t)e->target_port, "expose", spec_expose_to_string(e->expose));
		if (e->path)
			SET(eo, "path", json_string(e->path));
		json_array_append_new(a, eo);
	}
	SET(o, "endpoints", a);

	a = json_array();
	for (size_t i = 0; i < svc->n_port_mappings; i++) {
		const struct spec_port_mapping *p = &svc->port_mappings[i];
		json_array_append_new(a, json_pack("{s:i, s:i, s:s, s:s}", "host_port", (json_int_t)p->host_port,
		                                   "container_port", (json_int_t)p->container_port, "protocol",
		                                   spec_ip_protocol_to_string(p->protocol), "host_ip", p->host_ip));
	}
	SET(o, "port_mappings", a);

	a = json_array();
	for (size_t i = 0; i < svc->n_depends; i++) {
		const struct spec_depends *d = &svc->depends[i];
		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:s}", "service", d->service, "condition",
		                                   spec_condition_to_string(d->condition), "timeout",
		                                   jdur(d->timeout_nsec), "on_timeout",
		                                   spec_on_failure_to_string(d->on_timeout)));
	}
	SET(o, "depends", a);

	h = service_health(&svc->health);
	if (h)
		SET(o, "health", h);
	SET(o, "init", service_init(svc));
	SET(o, "errors",
	    json_pack("{s:{s:s}, s:{s:s}}", "on_init_failure", "action",
	              spec_init_failure_action_to_string(svc->on_init_failure), "on_panic", "action",
	              spec_panic_action_to_string(svc->on_panic)));
	if (svc->restart_policy.set) {
		json_t *rp = json_pack("{s:s, s:o}", "kind", spec_restart_kind_to_string(svc->restart_policy.kind),
		                       "delay", jdur(svc->restart_policy.delay_nsec));
		if (svc->restart_policy.max_attempts)
			SET(rp, "max_attempts", json_integer(svc->restart_policy.max_attempts));
		SET(o, "restart_policy", rp);
	}
	SET(o, "storage", service_storage(svc));

	a = json_array();
	for (size_t i = 0; i < svc->n_devices; i++) {
		const struct spec_device *d = &svc->devices[i];
		json_array_append_new(a, json_pack("{s:s, s:b, s:b, s:b}", "path", d->path, "read", d->read, "write",
		                                   d->write, "mknod", d->mknod));
	}
	SET(o, "devices", a);

	if (svc->user)
		SET(o, "user", json_string(svc->user));
	if (svc->hostname)
		SET(o, "hostname", json_string(svc->hostname));
	SET(o, "labels", jkv(svc->labels, svc->n_labels));
	snprintf(sig, sizeof(sig), "SIG%s", strempty(sigabbrev_np(svc->stop_signal)));
	SET(o, "stop_signal", sigabbrev_np(svc->stop_signal) ? json_string(sig) : json_integer(svc->stop_signal));
	SET(o, "stop_grace_period", jdur(svc->stop_grace_period_nsec));
	SET(o, "privileged", json_boolean(svc->privileged));
	SET(o, "cap_add", jstrv(svc->cap_add));
	SET(o, "cap_drop", jstrv(svc->cap_drop));
	SET(o, "read_only_root_fs", json_boolean(svc->read_only_root_fs));
	SET(o, "tty", json_boolean(svc->tty));
	SET(o, "dns", jstrv(svc->dns));
	SET(o, "extra_hosts", jstrv(svc->extra_hosts));
	SET(o, "sysctls", jkv(svc->sysctls, svc->n_sysctls));
	{
		json_t *u = json_object();
		for (size_t i = 0; i < svc->n_ulimits; i++)
			SET(u, svc->ulimits[i].name,
			    json_pack("{s:I, s:I}", "soft", (json_int_t)svc->ulimits[i].soft, "hard",
			              (json_int_t)svc->ulimits[i].hard));
		SET(o, "ulimits", u);
	}
	SET(o, "network_mode", json_string(spec_network_mode_to_string(svc->network_mode)));
	SET(o, "logs", json_pack("{s:o}", "max_size_bytes", jsize(svc->logs_max_size_bytes)));
	SET(o, "service_type", json_string(spec_service_type_to_string(svc->service_type)));
	if (svc->has_wasm) {
		const struct spec_wasm *w = &svc->wasm;
		json_t *wo = json_pack("{s:o, s:o, s:o, s:i, s:i}", "request_timeout", jdur(w->request_timeout_nsec),
		                       "idle_timeout", jdur(w->idle_timeout_nsec), "epoch_interval",
		                       jdur(w->epoch_interval_nsec), "min_instances", (json_int_t)w->min_instances,
		                       "max_instances", (json_int_t)w->max_instances);
		json_t *pa = json_array();
		if (w->max_memory)
			SET(wo, "max_memory", jsize(w->max_memory));
		if (w->max_execution_time_nsec)
			SET(wo, "max_execution_time", jdur(w->max_execution_time_nsec));
		for (size_t i = 0; i < w->n_preopens; i++)
			json_array_append_new(pa,
			                      json_pack("{s:s, s:s, s:b}", "source", w->preopens[i].source, "target",
			                                w->preopens[i].target, "readonly", w->preopens[i].readonly));
		SET(wo, "preopens", pa);
		SET(o, "wasm", wo);
	}
	return o;
}

char *spec_to_json(const struct spec_deployment *d) {
	_cleanup_(json_decrefp) json_t *root = NULL;
	json_t *services = json_object();
	char *s;

	root = json_pack("{s:s, s:s}", "version", d->version, "deployment", d->name);
	for (size_t i = 0; i < d->n_services; i++)
		SET(services, d->services[i].name, service_to_json(&d->services[i]));
	SET(root, "services", services);
	/* 15 significant digits print "cpu: 0.1" as 0.1, not 0.10000000000000001,
	 * and still load back to a double that prints the same. */
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	if (!s)
		oom();
	return s;
}
