/* SPDX-License-Identifier: Apache-2.0 */
/* Registry credentials from Docker-format JSON files (`auths` of
 * ~/.docker/config.json, or a --registry-auth file in the same format).
 * Credential helpers (credsStore, credHelpers) are not run. */
#pragma once

#include "basic/error.h"

#define AUTH_CONFIG_FILE_MAX   (4U * 1024U * 1024U)
#define AUTH_CONFIG_SECRET_MAX (64U * 1024U)

struct registry_credentials {
	char *username, *password; /* both set or both NULL */
	char *identity_token;      /* OAuth2 refresh token, or NULL */
};

/* Find the entry for registry_domain (as in image_reference.domain; for
 * "docker.io" the keys "https://index.docker.io/v1/", "index.docker.io",
 * "docker.io" and "registry-1.docker.io" all match). A key may be "host",
 * "host:port" or a URL "https://host[:port]/path"; hosts compare
 * case-insensitively, ports exactly.
 * path NULL: $DOCKER_CONFIG/config.json if DOCKER_CONFIG is set, else
 * $HOME/.docker/config.json.
 * Returns 0 and fills *ret when found; -ENOENT when the file or an entry with
 * credentials is absent; another -errno with kind ZA_ERROR_CONFIGURATION
 * naming the file and the problem when it is unreadable or malformed. */
int auth_config_lookup(const char *path, const char *registry_domain, struct registry_credentials *ret,
                       struct za_error **reterr);
void registry_credentials_release(struct registry_credentials *c);
