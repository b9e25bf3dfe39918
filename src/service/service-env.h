/* SPDX-License-Identifier: Apache-2.0 */
/* A service's environment as a container gets it: every `env` value of the
 * spec with its references resolved ($E:VAR from the agent's environment,
 * $S:name[/field] from the secret store). Resolution happens at each
 * replica's create, so a changed secret reaches the next replica. */
#pragma once

#include "basic/error.h"
#include "service/secrets.h"
#include "spec/spec.h"

/* NULL-terminated "KEY=value" strings in the spec's order. Fails (kind
 * configuration) naming the service, the env key and what is missing: an
 * unset variable or secret, a missing JSON field, a value an environment
 * variable cannot hold (a NUL byte). A $S:name/field reference reads the
 * secret as a JSON object: a string member verbatim, numbers and booleans
 * as their JSON text. secrets may be NULL (then every secret is unset). */
int service_env_resolve(const struct spec_service *svc, struct secrets *secrets, char ***ret_env,
                        struct za_error **reterr);
