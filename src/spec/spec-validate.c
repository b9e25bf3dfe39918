/* SPDX-License-Identifier: Apache-2.0 */
/* Checks across services: dependency targets, cycles (named), start order,
 * host port conflicts. Runs after every service is bound. */
#include <stdarg.h>

#include "basic/alloc.h"
#include "basic/strbuf.h"
#include "spec/spec-internal.h"
#include "basic/banned.h"

/* Report at `key` of the k-th bound item of services.NAME.LIST. Binding
 * skipped (and reported) items that are not mappings, so k is not always the
 * item's index in the YAML list: count mappings to find it. */
static void item_error(struct spec_diagnostics *d, const struct ynode *root, const struct spec_service *svc,
                       const char *list, size_t k, const char *key, const char *fmt, ...) _printf_(7, 8);
static void item_error(struct spec_diagnostics *d, const struct ynode *root, const struct spec_service *svc,
                       const char *list, size_t k, const char *key, const char *fmt, ...) {
	const struct ynode *l = ynode_get(ynode_get(ynode_get(root, "services"), svc->name), list), *at = NULL;
	_cleanup_free_ char *m = NULL, *p = NULL;
	size_t index = k;
	va_list ap;

	for (size_t i = 0; l && l->type == YNODE_SEQUENCE && i < l->n; i++) {
		if (l->items[i]->type != YNODE_MAPPING)
			continue;
		if (k-- > 0)
			continue;
		index = i;
		at = ynode_get(l->items[i], key) ?: l->items[i];
		break;
	}
	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	p = xasprintf("services.%s.%s[%zu].%s", svc->name, list, index, key);
	spec_error(d, at, p, "%s", m);
}

static ssize_t service_index(const struct spec_deployment *dep, const char *name) {
	for (size_t i = 0; i < dep->n_services; i++)
		if (dep->services[i].name && streq(dep->services[i].name, name))
			return (ssize_t)i;
	return -1;
}

/* "web, db, cache", at most SERVICE_NAMES_MAX of them. */
#define SERVICE_NAMES_MAX 10
static char *service_names(const struct spec_deployment *dep) {
	_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;

	for (size_t k = 0; k < dep->n_services && k < SERVICE_NAMES_MAX; k++)
		strbuf_addf(&sb, "%s%s", k ? ", " : "", dep->services[k].name);
	if (dep->n_services > SERVICE_NAMES_MAX)
		strbuf_addf(&sb, " and %zu more", dep->n_services - SERVICE_NAMES_MAX);
	return strbuf_detach(&sb, NULL);
}

static void check_depends_targets(struct spec_diagnostics *d, const struct ynode *root, struct spec_deployment *dep) {
	_cleanup_free_ char **all = xnew(char *, dep->n_services + 1);

	for (size_t i = 0; i < dep->n_services; i++)
		all[i] = dep->services[i].name;
	for (size_t i = 0; i < dep->n_services; i++) {
		struct spec_service *svc = &dep->services[i];

		for (size_t j = 0; j < svc->n_depends; j++) {
			const char *target = svc->depends[j].service;

			if (!target)
				continue;
			if (streq(target, svc->name)) {
				item_error(d, root, svc, "depends", j, "service", "service '%s' depends on itself",
				           svc->name);
				continue;
			}
			if (service_index(dep, target) < 0) {
				_cleanup_free_ char *names = NULL;
				const char *hint;

				hint = spec_suggest(target, (const char *const *)all);
				if (hint) {
					item_error(d, root, svc, "depends", j, "service",
					           "service '%s' depends on unknown service '%s' (did you mean '%s'?)",
					           svc->name, target, hint);
					continue;
				}
				names = service_names(dep);
				item_error(d, root, svc, "depends", j, "service",
				           "service '%s' depends on unknown service '%s' (services: %s)", svc->name,
				           target, names);
				continue;
			}
			for (size_t k = 0; k < j; k++)
				if (svc->depends[k].service && streq(svc->depends[k].service, target)) {
					item_error(d, root, svc, "depends", j, "service",
					           "service '%s' lists dependency '%s' twice", svc->name, target);
					break;
				}
		}
	}
}

enum { WHITE, GREY, BLACK };

/* Depth-first search in file order; on a back edge report the cycle once,
 * at the depends entry that closes it. */
static bool visit(struct spec_diagnostics *d, const struct ynode *root, struct spec_deployment *dep, size_t v,
                  int *color, size_t *stack, size_t depth, size_t *order, size_t *n_order) {
	struct spec_service *svc = &dep->services[v];
	bool ok = true;

	color[v] = GREY;
	stack[depth] = v;
	for (size_t j = 0; j < svc->n_depends; j++) {
		ssize_t w;

		if (!svc->depends[j].service || streq(svc->depends[j].service, svc->name))
			continue;
		w = service_index(dep, svc->depends[j].service);
		if (w < 0)
			continue;
		if (color[w] == GREY) {
			_cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
			size_t start = 0;

			while (stack[start] != (size_t)w)
				start++;
			for (size_t k = start; k <= depth; k++)
				strbuf_addf(&sb, "%s -> ", dep->services[stack[k]].name);
			strbuf_addstr(&sb, dep->services[w].name);
			item_error(d, root, svc, "depends", j, "service", "dependency cycle: %s", strbuf_str(&sb));
			ok = false;
			continue;
		}
		if (color[w] == WHITE && !visit(d, root, dep, (size_t)w, color, stack, depth + 1, order, n_order))
			ok = false;
	}
	color[v] = BLACK;
	order[(*n_order)++] = v;
	return ok;
}

static void compute_start_order(struct spec_diagnostics *d, const struct ynode *root, struct spec_deployment *dep) {
	_cleanup_free_ int *color = xnew(int, dep->n_services);
	_cleanup_free_ size_t *stack = xnew(size_t, dep->n_services);
	size_t *order = xnew(size_t, dep->n_services), n_order = 0;

	for (size_t i = 0; i < dep->n_services; i++)
		if (color[i] == WHITE)
			visit(d, root, dep, i, color, stack, 0, order, &n_order);
	dep->start_order = order;
}

static bool ips_overlap(const char *a, const char *b) {
	return streq(a, b) || streq(a, "0.0.0.0") || streq(b, "0.0.0.0") || streq(a, "::") || streq(b, "::");
}

static void check_port_conflicts(struct spec_diagnostics *d, const struct ynode *root, struct spec_deployment *dep) {
	for (size_t i = 0; i < dep->n_services; i++) {
		const struct spec_service *a = &dep->services[i];

		for (size_t pi = 0; pi < a->n_port_mappings; pi++) {
			const struct spec_port_mapping *pa = &a->port_mappings[pi];
			bool reported = false;

			if (pa->host_port == 0 || !pa->host_ip)
				continue;
			for (size_t j = 0; j <= i && !reported; j++) {
				const struct spec_service *b = &dep->services[j];
				size_t limit = j == i ? pi : b->n_port_mappings;

				for (size_t pj = 0; pj < limit; pj++) {
					const struct spec_port_mapping *pb = &b->port_mappings[pj];

					if (pb->host_port != pa->host_port || pb->protocol != pa->protocol ||
					    !pb->host_ip || !ips_overlap(pa->host_ip, pb->host_ip))
						continue;
					if (a == b)
						item_error(d, root, a, "port_mappings", pi, "host_port",
						           "host port %u/%s is mapped twice in service '%s'",
						           pa->host_port, spec_ip_protocol_to_string(pa->protocol),
						           a->name);
					else
						item_error(d, root, a, "port_mappings", pi, "host_port",
						           "host port %u/%s is already mapped by service '%s'",
						           pa->host_port, spec_ip_protocol_to_string(pa->protocol),
						           b->name);
					reported = true;
					break;
				}
			}
		}
	}
}

void spec_validate_deployment(struct spec_diagnostics *d, const struct ynode *root, struct spec_deployment *dep) {
	check_depends_targets(d, root, dep);
	compute_start_order(d, root, dep);
	check_port_conflicts(d, root, dep);
}
