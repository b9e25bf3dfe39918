/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's configuration: defaults, environment, the JSON file. Flags
 * are applied by the CLI on top of what this file produces. */
#include "api/daemon.h"

#include <grp.h>
#include <jansson.h>
#include <sys/un.h>

#include "api/server.h"
#include "basic/alloc.h"
#include "basic/fileio.h"
#include "basic/parse.h"
#include "basic/banned.h"

void daemon_config_init(struct daemon_config *c) {
	const char *e;

	*c = (struct daemon_config){ .max_concurrent_downloads = DAEMON_DOWNLOADS_DEFAULT,
		                     .crashloop_window_nsec = UINT64_C(300) * 1000000000,
		                     .crashloop_restarts = 5,
		                     .crashloop_delay_nsec = UINT64_C(30) * 1000000000 };
	e = getenv("ZLAYER_ROOT_DIR");
	c->root_dir = xstrdup(!isempty(e) ? e : DAEMON_DEFAULT_ROOT_DIR);
	e = getenv("ZLAYER_RUNTIME_DIR");
	c->runtime_dir = xstrdup(!isempty(e) ? e : DAEMON_DEFAULT_RUNTIME_DIR);
}

void daemon_config_release(struct daemon_config *c) {
	free(c->root_dir);
	free(c->runtime_dir);
	free(c->config_file);
	free(c->registry_auth_file);
	free(c->listen);
	free(c->token_file);
	strv_free(c->insecure_registries);
	*c = (struct daemon_config){ 0 };
}

int daemon_config_set_socket_group(struct daemon_config *c, const char *group, struct za_error **reterr) {
	struct group grp, *res = NULL;
	char buf[16384];
	uint32_t gid;
	int r;

	if (parse_uint32(group, &gid) >= 0 && gid != UINT32_MAX) {
		c->socket_group = (gid_t)gid;
		c->socket_group_set = true;
		return 0;
	}
	r = getgrnam_r(group, &grp, buf, sizeof(buf), &res);
	if (r != 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot look up socket group '%s': %m", group);
	if (!res)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENOENT,
		                     "socket group '%s' does not exist; create it or choose another", group);
	c->socket_group = grp.gr_gid;
	c->socket_group_set = true;
	return 0;
}

static int config_string(const char *file, const char *key, json_t *v, char **slot, struct za_error **reterr) {
	if (!json_is_string(v) || json_string_length(v) == 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "config file '%s': key '%s' must be a non-empty string", file, key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "config file '%s': key '%s' contains a NUL character", file, key);
	free(*slot);
	*slot = xstrdup(json_string_value(v));
	return 0;
}

static int config_path(const char *file, const char *key, json_t *v, char **slot, struct za_error **reterr) {
	int r = config_string(file, key, v, slot, reterr);
	if (r < 0)
		return r;
	if ((*slot)[0] != '/')
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "config file '%s': key '%s' must be an absolute path, not '%s'", file, key, *slot);
	return 0;
}

int daemon_config_load_file(struct daemon_config *c, const char *path, struct za_error **reterr) {
	_cleanup_(json_decrefp) json_t *root = NULL;
	_cleanup_free_ char *text = NULL;
	json_error_t jerr;
	const char *key;
	json_t *v;
	size_t len;
	int r;

	r = read_full_file(path, DAEMON_CONFIG_MAX, &text, &len);
	if (r == -EFBIG)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "config file '%s' is larger than %d bytes",
		                     path, DAEMON_CONFIG_MAX);
	if (r < 0)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, r, "cannot read config file '%s': %m", path);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL, "config file '%s': line %d, column %d: %s",
		                     path, jerr.line, jerr.column > 0 ? jerr.column : 1, jerr.text);
	if (!json_is_object(root))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "config file '%s': the top level must be a JSON object", path);

	json_object_foreach(root, key, v) {
		if (streq(key, "root"))
			r = config_path(path, key, v, &c->root_dir, reterr);
		else if (streq(key, "runtime_dir"))
			r = config_path(path, key, v, &c->runtime_dir, reterr);
		else if (streq(key, "registry_auth"))
			r = config_path(path, key, v, &c->registry_auth_file, reterr);
		else if (streq(key, "listen"))
			r = config_string(path, key, v, &c->listen, reterr);
		else if (streq(key, "token_file"))
			r = config_path(path, key, v, &c->token_file, reterr);
		else if (streq(key, "max_concurrent_downloads")) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > DAEMON_DOWNLOADS_MAX)
				r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
				                  "config file '%s': key '%s' must be an integer from 1 to %d", path,
				                  key, DAEMON_DOWNLOADS_MAX);
			else
				c->max_concurrent_downloads = (unsigned)json_integer_value(v);
		} else if (streq(key, "insecure_registries")) {
			size_t i;
			json_t *h;

			if (!json_is_array(v))
				r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
				                  "config file '%s': key '%s' must be an array of host[:port] strings",
				                  path, key);
			json_array_foreach(v, i, h) {
				if (r < 0)
					break;
				if (!json_is_string(h) || json_string_length(h) == 0 ||
				    strlen(json_string_value(h)) != json_string_length(h) ||
				    strpbrk(json_string_value(h), "/ \t"))
					r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
					                  "config file '%s': key '%s': entry %zu must be a host[:port] "
					                  "string",
					                  path, key, i + 1);
				else
					strv_push(&c->insecure_registries, json_string_value(h));
			}
		} else if (streq(key, "socket_group")) {
			if (!json_is_string(v))
				r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
				                  "config file '%s': key '%s' must be a group name", path, key);
			else {
				r = daemon_config_set_socket_group(c, json_string_value(v), reterr);
				if (r < 0)
					r = za_error_wrap(reterr, "config file '%s': key '%s'", path, key);
			}
		} else if (streq(key, "crashloop_window") || streq(key, "crashloop_delay")) {
			uint64_t ns;
			if (!json_is_string(v) || parse_duration(json_string_value(v), &ns) < 0 || ns == 0)
				r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
				                  "config file '%s': key '%s' must be a duration like \"300s\"", path,
				                  key);
			else
				*(streq(key, "crashloop_window") ? &c->crashloop_window_nsec
				                                 : &c->crashloop_delay_nsec) = ns;
		} else if (streq(key, "crashloop_restarts")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000)
				r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
				                  "config file '%s': key '%s' must be an integer from 0 to 1000", path,
				                  key);
			else
				c->crashloop_restarts = (unsigned)json_integer_value(v);
		} else if (streq(key, "cgroup_favordynmods")) {
			if (!json_is_boolean(v))
				r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
				                  "config file '%s': key '%s' must be true or false", path, key);
			else
				c->keep_cgroup_options = !json_is_true(v);
		} else
			r = za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
			                  "config file '%s': unknown key '%s'; known keys: root, runtime_dir, "
			                  "insecure_registries, max_concurrent_downloads, registry_auth, socket_group, "
			                  "listen, token_file, crashloop_window, crashloop_restarts, crashloop_delay, "
			                  "cgroup_favordynmods",
			                  path, key);
		if (r < 0)
			return r;
	}
	free(c->config_file);
	c->config_file = xstrdup(path);
	return 0;
}

static int make_absolute(const char *what, char **p, struct za_error **reterr) {
	_cleanup_free_ char *cwd = NULL;
	char *abs;

	if (isempty(*p))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL, "%s must not be empty", what);
	if ((*p)[0] == '/')
		return 0;
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, errno,
		                     "cannot make %s '%s' absolute: current directory: %m", what, *p);
	abs = xasprintf("%s/%s", cwd, *p);
	free(*p);
	*p = abs;
	return 0;
}

int daemon_config_finish(struct daemon_config *c, struct za_error **reterr) {
	struct sockaddr_un sa;
	size_t n;
	int r;

	r = make_absolute("root directory", &c->root_dir, reterr);
	if (r >= 0)
		r = make_absolute("runtime directory", &c->runtime_dir, reterr);
	if (r < 0)
		return r;
	/* Trailing slashes would double up in every path we build. */
	for (char *d = c->root_dir; d; d = d == c->root_dir ? c->runtime_dir : NULL)
		for (n = strlen(d); n > 1 && d[n - 1] == '/'; n--)
			d[n - 1] = '\0';
	if (strlen(c->runtime_dir) + 1 + strlen(DAEMON_SOCKET_NAME) >= sizeof(sa.sun_path))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENAMETOOLONG,
		                     "runtime directory '%s' is too long for a unix socket path (at most %zu "
		                     "characters); choose a shorter one",
		                     c->runtime_dir, sizeof(sa.sun_path) - 2 - strlen(DAEMON_SOCKET_NAME));
	if (c->max_concurrent_downloads < 1 || c->max_concurrent_downloads > DAEMON_DOWNLOADS_MAX)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "max concurrent downloads must be from 1 to %d, not %u", DAEMON_DOWNLOADS_MAX,
		                     c->max_concurrent_downloads);
	if (c->listen) {
		struct sockaddr_storage ss;
		socklen_t len;

		r = api_address_parse(c->listen, &ss, &len, reterr);
		if (r < 0)
			return r;
	}
	if (!c->token_file)
		c->token_file = xasprintf("%s/%s", c->root_dir, DAEMON_TOKEN_NAME);
	return make_absolute("token file", &c->token_file, reterr);
}

char *daemon_config_socket_path(const struct daemon_config *c) {
	return xasprintf("%s/%s", c->runtime_dir, DAEMON_SOCKET_NAME);
}
