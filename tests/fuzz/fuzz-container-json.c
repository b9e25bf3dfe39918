/* SPDX-License-Identifier: Apache-2.0 */
/* The create body's config comes from API clients: whatever parses must
 * satisfy what the runtime relies on, whatever fails must say why with the
 * key path. The same bytes also go through the timestamp, signal and lossy
 * UTF-8 helpers (query parameters and process output). */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "api/container-json.h"
#include "basic/parse.h"
#include "basic/alloc.h"
#include "basic/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_config(const struct container_config *c) {
	if (isempty(c->image) || (c->id && !container_id_valid(c->id)))
		abort();
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct container_mount *m = &c->mounts[i];
		if (!m->target || m->target[0] != '/')
			abort();
		if (m->type == CONTAINER_MOUNT_BIND && (!m->source || m->source[0] != '/'))
			abort();
		if (m->type == CONTAINER_MOUNT_TMPFS && m->source)
			abort();
	}
	for (size_t i = 0; i < c->n_ports; i++)
		if (c->ports[i].container_port == 0 || !c->ports[i].protocol ||
		    (!streq(c->ports[i].protocol, "tcp") && !streq(c->ports[i].protocol, "udp")))
			abort();
	STRV_FOREACH (e, c->env)
		if (!strchr(*e, '=') || (*e)[0] == '=')
			abort();
	if ((int)c->network_mode < 0 || c->network_mode >= _SPEC_NETWORK_MODE_MAX)
		abort();
	if (c->stop_signal < 0 || c->stop_signal >= NSIG)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	_cleanup_free_ char *s = xstrndup((const char *)data, size);
	json_t *j = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL), *lossy;
	struct container_config c;
	struct za_error *err = NULL;
	char buf[TIMESTAMP_MAX];
	int64_t ns, back;
	int sig;

	if (j) {
		if (container_config_from_json(j, &c, &err) >= 0) {
			if (err)
				abort();
			check_config(&c);
			container_config_release(&c);
		} else if (!err || !strneq(err->message, "invalid container config: ", 26))
			abort();
		za_error_free(err);
		json_decref(j);
	}

	if (timestamp_parse(s, &ns) >= 0) {
		if (ns < 0)
			abort();
		if (timestamp_parse(timestamp_format(buf, ns), &back) < 0 || back != ns)
			abort();
	}
	sig = parse_signal(s);
	if (sig != -EINVAL && (sig <= 0 || sig > SIGRTMAX))
		abort();
	lossy = json_string_lossy((const char *)data, size);
	if (!lossy || !json_is_string(lossy))
		abort();
	json_decref(lossy);
	return 0;
}
