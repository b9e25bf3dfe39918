/* SPDX-License-Identifier: Apache-2.0 */
/* Resolve a service's env map through envref: the parser is the spec's,
 * the lookups (agent environment, secret store, JSON fields) live here. */
#include "service/service-env.h"

#include <jansson.h>

#include "basic/alloc.h"
#include "spec/envref.h"
#include "basic/banned.h"

/* The shortest JSON text that reads back as the same double. */
static char *real_to_text(const json_t *v) {
	double d = json_real_value(v);

	for (int p = 1; p <= 17; p++) {
		char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(p));

		if (!s)
			oom();
		if (p == 17 || strtod(s, NULL) == d)
			return s;
		free(s);
	}
	return NULL; /* not reached */
}

static int secret_field(const char *name, const char *field, const char *data, size_t len, char **ret,
                        struct za_error **reterr) {
	_cleanup_(json_decrefp) json_t *doc = NULL;
	json_t *v;
	char *s;

	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "secret '%s' is not a JSON object, so it has no field '%s'", name, field);
	v = json_object_get(doc, field);
	if (!v)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENOENT, "secret '%s' has no field '%s'", name,
		                     field);
	switch (json_typeof(v)) {
	case JSON_STRING:
		/* jansson refuses \u0000 unless asked, so no NUL inside. */
		*ret = xstrdup(json_string_value(v));
		return 0;
	case JSON_INTEGER:
	case JSON_TRUE:
	case JSON_FALSE:
		s = json_dumps(v, JSON_ENCODE_ANY);
		if (!s)
			oom();
		*ret = s;
		return 0;
	case JSON_REAL:
		*ret = real_to_text(v);
		return 0;
	default:
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "field '%s' of secret '%s' is %s; only strings, numbers and booleans can be "
		                     "environment values",
		                     field, name,
		                     json_is_null(v)    ? "null"
		                     : json_is_array(v) ? "an array"
		                                        : "an object");
	}
}

static int lookup_secret(struct secrets *secrets, const char *name, const char *field, char **ret,
                         struct za_error **reterr) {
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r;

	r = secrets ? secrets_get(secrets, name, &data, &len, &err)
	            : za_error_make(&err, ZA_ERROR_NOT_FOUND, ENOENT, "no secret store");
	if (r < 0 && err->kind == ZA_ERROR_NOT_FOUND)
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENOENT,
		                     "secret '%s' is not set (set it with 'zlayer-agent secret set %s')", name, name);
	if (r < 0) {
		if (reterr && !*reterr)
			*reterr = TAKE_PTR(err);
		return r;
	}
	if (field)
		return secret_field(name, field, data, len, ret, reterr);
	if (memchr(data, '\0', len))
		return za_error_make(reterr, ZA_ERROR_CONFIGURATION, EINVAL,
		                     "secret '%s' contains a NUL byte, which an environment variable cannot hold",
		                     name);
	*ret = TAKE_PTR(data);
	return 0;
}

static int lookup(enum envref_kind kind, const char *name, const char *field, void *userdata, char **ret_value,
                  struct za_error **reterr) {
	const char *v;

	switch (kind) {
	case ENVREF_ENV:
		v = getenv(name);
		if (!v)
			return za_error_make(reterr, ZA_ERROR_CONFIGURATION, ENOENT,
			                     "environment variable '%s' is not set in the agent's environment", name);
		*ret_value = xstrdup(v);
		return 0;
	case ENVREF_SECRET:
		return lookup_secret(userdata, name, field, ret_value, reterr);
	default:
		return za_error_make(reterr, ZA_ERROR_INTERNAL, EINVAL, "unexpected reference kind %d", (int)kind);
	}
}

static int resolve_one(const char *value, struct secrets *secrets, char **ret, struct za_error **reterr) {
	struct envref e = {};
	int r;

	r = envref_parse(value, &e, reterr);
	if (r < 0)
		return r;
	r = envref_resolve(&e, lookup, secrets, ret, reterr);
	envref_release(&e);
	return r;
}

int service_env_resolve(const struct spec_service *svc, struct secrets *secrets, char ***ret_env,
                        struct za_error **reterr) {
	_cleanup_strv_free_ char **env = xnew(char *, svc->n_env + 1);

	for (size_t i = 0; i < svc->n_env; i++) {
		const struct spec_kv *kv = &svc->env[i];
		_cleanup_za_error_ struct za_error *err = NULL;
		_cleanup_free_ char *value = NULL;
		int r;

		r = resolve_one(strempty(kv->value), secrets, &value, &err);
		if (r < 0) {
			r = za_error_wrap(&err, "service '%s': env '%s'", svc->name, kv->key);
			if (reterr && !*reterr)
				*reterr = TAKE_PTR(err);
			return r;
		}
		env[i] = xasprintf("%s=%s", kv->key, value);
	}
	*ret_env = TAKE_PTR(env);
	return 0;
}
