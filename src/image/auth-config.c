/* SPDX-License-Identifier: Apache-2.0 */
/* Docker's config.json convention: auths maps a registry key to {"auth":
 * base64(user:pass)} or {"username", "password"}, plus an optional
 * "identitytoken". Keys come in several historical spellings. */
#include "auth-config.h"

#include <jansson.h>
#include <stdint.h>
#include <strings.h>

#include "basic/alloc.h"
#include "basic/base64.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/banned.h"

static const char *const docker_hub_keys[] = {
	"https://index.docker.io/v1/",
	"index.docker.io",
	"docker.io",
	"registry-1.docker.io",
};

void registry_credentials_release(struct registry_credentials *c) {
	if (!c)
		return;
	free(c->username);
	free(c->password);
	free(c->identity_token);
	*c = (struct registry_credentials){};
}

static char *default_config_path(void) {
	const char *d = getenv("DOCKER_CONFIG"), *home;

	if (!isempty(d))
		return xasprintf("%s/config.json", d);
	home = getenv("HOME");
	if (isempty(home))
		return NULL;
	return xasprintf("%s/.docker/config.json", home);
}

/* "https://Host:5000/v2/" -> "Host:5000" compared case-insensitively. */
static bool key_matches_host(const char *key, const char *host) {
	size_t n;

	if (strncasecmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncasecmp(key, "http://", 7) == 0)
		key += 7;
	n = strcspn(key, "/");
	return strlen(host) == n && strncasecmp(key, host, n) == 0;
}

static json_t *find_entry(json_t *auths, const char *domain, const char **ret_key) {
	bool hub = streq(domain, "docker.io");
	const char *key;
	json_t *v;

	/* exact spellings first, so a precise key wins over a loose one */
	v = json_object_get(auths, domain);
	if (v) {
		*ret_key = domain;
		return v;
	}
	if (hub)
		for (size_t i = 0; i < ELEMENTSOF(docker_hub_keys); i++) {
			v = json_object_get(auths, docker_hub_keys[i]);
			if (v) {
				*ret_key = docker_hub_keys[i];
				return v;
			}
		}

	json_object_foreach(auths, key, v) {
		if (key_matches_host(key, domain))
			goto found;
		if (hub)
			for (size_t i = 1; i < ELEMENTSOF(docker_hub_keys); i++)
				if (key_matches_host(key, docker_hub_keys[i]))
					goto found;
	}
	return NULL;
found:
	*ret_key = key;
	return v;
}

static int bad_entry(struct za_error **reterr, const char *path, const char *key, const char *field, const char *what) {
	return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
	                     "invalid registry credentials file '%s': auths entry '%s'%s%s%s %s", path, key,
	                     field ? " field '" : "", strempty(field), field ? "'" : "", what);
}

/* A string field or NULL; "" counts as absent. */
static int get_string(json_t *entry, const char *field, const char *path, const char *key, const char **ret,
                      struct za_error **reterr) {
	json_t *v = json_object_get(entry, field);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad_entry(reterr, path, key, field, "is not a string");
	if (json_string_length(v) > AUTH_CONFIG_SECRET_MAX)
		return bad_entry(reterr, path, key, field, "is too long");
	if (json_string_length(v) > 0)
		*ret = json_string_value(v);
	return 0;
}

static int parse_entry(json_t *entry, const char *path, const char *key, struct registry_credentials *ret,
                       struct za_error **reterr) {
	_cleanup_(registry_credentials_release) struct registry_credentials c = {};
	const char *auth, *user, *pass, *token;
	int r;

	if (!json_is_object(entry))
		return bad_entry(reterr, path, key, NULL, "is not a JSON object");
	if ((r = get_string(entry, "auth", path, key, &auth, reterr)) < 0 ||
	    (r = get_string(entry, "username", path, key, &user, reterr)) < 0 ||
	    (r = get_string(entry, "password", path, key, &pass, reterr)) < 0 ||
	    (r = get_string(entry, "identitytoken", path, key, &token, reterr)) < 0)
		return r;

	if (auth) {
		_cleanup_free_ char *decoded = NULL;
		size_t len;
		char *colon;

		if (base64_decode(auth, strlen(auth), &decoded, &len) < 0)
			return bad_entry(reterr, path, key, "auth", "is not valid base64");
		if (strlen(decoded) != len)
			return bad_entry(reterr, path, key, "auth", "decodes to data with a NUL character");
		colon = strchr(decoded, ':');
		if (!colon)
			return bad_entry(reterr, path, key, "auth", "does not decode to 'username:password'");
		c.username = xstrndup(decoded, (size_t)(colon - decoded));
		c.password = xstrdup(colon + 1);
		explicit_bzero(decoded, len);
	} else if (user) {
		c.username = xstrdup(user);
		c.password = xstrdup(strempty(pass));
	} else if (pass)
		return bad_entry(reterr, path, key, NULL, "has a password but no username");

	if (token)
		c.identity_token = xstrdup(token);
	if (!c.username && !c.identity_token)
		return -ENOENT;
	if (c.username && isempty(c.username) && !c.identity_token)
		return bad_entry(reterr, path, key, "auth", "has an empty username");

	*ret = c;
	c = (struct registry_credentials){};
	return 0;
}

int auth_config_lookup(const char *path, const char *registry_domain, struct registry_credentials *ret,
                       struct za_error **reterr) {
	_cleanup_(json_decrefp) json_t *root = NULL;
	_cleanup_free_ char *p = NULL, *buf = NULL;
	const char *key = NULL;
	json_error_t jerr;
	json_t *auths, *entry;
	size_t len;
	int r;

	p = path ? xstrdup(path) : default_config_path();
	if (!p)
		return -ENOENT;

	r = read_full_file(p, AUTH_CONFIG_FILE_MAX, &buf, &len);
	if (r == -ENOENT || r == -ENOTDIR)
		return -ENOENT;
	if (r == -EFBIG)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r,
		                     "registry credentials file '%s' is larger than %u bytes", p, AUTH_CONFIG_FILE_MAX);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r,
		                     "cannot read registry credentials file '%s': %m", p);

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	explicit_bzero(buf, len);
	if (!root)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "invalid registry credentials file '%s': line %d column %d: %s", p, jerr.line,
		                     jerr.column, jerr.text);
	if (!json_is_object(root))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "invalid registry credentials file '%s': the top level is not a JSON object", p);

	auths = json_object_get(root, "auths");
	if (!auths || json_is_null(auths)) {
		if (json_object_get(root, "credsStore") || json_object_get(root, "credHelpers"))
			log_debug("'%s' names credential helpers, which are not supported", p);
		return -ENOENT;
	}
	if (!json_is_object(auths))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "invalid registry credentials file '%s': 'auths' is not a JSON object", p);

	entry = find_entry(auths, registry_domain, &key);
	if (!entry)
		return -ENOENT;
	r = parse_entry(entry, p, key, ret, reterr);
	if (r == 0)
		log_debug("using credentials for '%s' from '%s' (key '%s')", registry_domain, p, key);
	return r;
}
