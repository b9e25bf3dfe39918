/* SPDX-License-Identifier: Apache-2.0 */
/* Rows of the deployments table: each deployment's spec as written, so a
 * restarted agent brings back what it was asked to keep running. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "store/store.h"

struct store_deployment {
	char *name;
	char *file;
	char *yaml;
	char *scales; /* JSON {"service": replicas} set by `scale`; NULL: {} */
	int64_t created_ns, updated_ns;
	bool removing; /* a `down` was under way */
};
void store_deployment_release(struct store_deployment *d);

/* Insert or replace (created_ns kept on replace). */
int store_deployment_put(struct store *s, const struct store_deployment *d, struct za_error **reterr);
int store_deployment_list(struct store *s, struct store_deployment **ret, size_t *ret_n, struct za_error **reterr);
/* Record a service's replica count set with `scale`. */
int store_deployment_set_scale(struct store *s, const char *name, const char *service, uint32_t replicas,
                               struct za_error **reterr);
/* Mark the deployment as being removed (before its replicas stop). */
int store_deployment_set_removing(struct store *s, const char *name, struct za_error **reterr);
/* Missing is not an error. */
int store_deployment_remove(struct store *s, const char *name, struct za_error **reterr);
void store_deployments_free(struct store_deployment *d, size_t n);
