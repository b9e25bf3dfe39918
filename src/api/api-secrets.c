/* SPDX-License-Identifier: Apache-2.0 */
/* Secret endpoints over the daemon's one secret store (d->secrets):
 *   PUT    /v1/secrets?name=NAME  {"value": STRING}         -> {name, size}
 *                                 {"value_base64": STRING}
 *   GET    /v1/secrets                                      -> {secrets: [{name, size, updated, updated_ns}]}
 *   DELETE /v1/secrets?name=NAME                            -> {name}; 404 not_found when unset
 * A body has exactly one of the two keys: "value" stores the string's UTF-8
 * bytes, "value_base64" (RFC 4648, padding optional) any bytes. Values are
 * capped at SECRETS_VALUE_MAX (1 MiB) and the whole body at API_BODY_MAX,
 * so values close to the cap only fit as "value" with little escaping. No
 * endpoint ever returns a value: containers get them through their env.
 * Handlers run on the loop thread; a set is one small fsync'd write. */
#include <jansson.h>

#include "api/api-body.h"
#include "api/container-json.h"
#include "api/daemon.h"
#include "api/server.h"
#include "basic/alloc.h"
#include "basic/base64.h"
#include "service/secrets.h"
#include "basic/banned.h"

static int query_name(struct api_request *req, const char **ret, struct za_error **reterr) {
	const char *name = api_request_query(req, "name");

	if (isempty(name))
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL, "query parameter 'name' is required");
	*ret = name;
	return 0;
}

/* NUL bytes can only come base64-encoded. */
static const struct api_body_field set_body[] = {
	{ "value", API_JSON_STRING },
	{ "value_base64", API_JSON_STRING },
	{},
};

/* The value of a PUT body, decoded; *ret_data NUL-terminated. */
static int body_value(json_t *body, char **ret_data, size_t *ret_len, struct za_error **reterr) {
	json_t *text = json_object_get(body, "value"), *b64 = json_object_get(body, "value_base64"), *v;
	const char *s;
	size_t len;
	int r;

	r = api_body_check(body, set_body, reterr);
	if (r < 0)
		return r;
	if (json_is_null(text))
		text = NULL;
	if (json_is_null(b64))
		b64 = NULL;
	if (!text == !b64)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "request body: exactly one of the fields 'value' and 'value_base64' is required");
	v = text ?: b64;
	s = json_string_value(v);
	len = json_string_length(v);
	if (text) {
		*ret_data = xstrndup(s, len);
		*ret_len = len;
		return 0;
	}
	if (base64_decode(s, len, ret_data, ret_len) < 0)
		return za_error_make(reterr, ZA_ERROR_INVALID_SPEC, EINVAL,
		                     "request body: field 'value_base64' is not valid base64");
	return 0;
}

static int handle_set(struct api_request *req, void *userdata) {
	struct secrets *secrets = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	_cleanup_free_ char *data = NULL;
	const char *name = NULL;
	size_t len = 0;
	int r;

	if (query_name(req, &name, &err) < 0 || body_value(api_request_body(req), &data, &len, &err) < 0)
		return api_reply_error(req, err);
	r = secrets_set(secrets, name, data, len, &err);
	explicit_bzero(data, len);
	if (r < 0)
		return api_reply_error(req, err);
	return api_reply_json(req, 200, json_pack("{s:s, s:I}", "name", name, "size", (json_int_t)len));
}

static int handle_list(struct api_request *req, void *userdata) {
	struct secrets *secrets = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	struct secret_info *infos = NULL;
	size_t n = 0;
	json_t *arr;

	if (secrets_list(secrets, &infos, &n, &err) < 0)
		return api_reply_error(req, err);
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char buf[TIMESTAMP_MAX];

		json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:I}", "name", infos[i].name, "size",
		                                     (json_int_t)infos[i].size, "updated",
		                                     timestamp_format(buf, infos[i].updated_ns), "updated_ns",
		                                     (json_int_t)infos[i].updated_ns));
	}
	secret_infos_free(infos, n);
	return api_reply_json(req, 200, json_pack("{s:o}", "secrets", arr));
}

static int handle_remove(struct api_request *req, void *userdata) {
	struct secrets *secrets = userdata;
	_cleanup_za_error_ struct za_error *err = NULL;
	const char *name = NULL;

	if (query_name(req, &name, &err) < 0 || secrets_remove(secrets, name, &err) < 0)
		return api_reply_error(req, err);
	return api_reply_json(req, 200, json_pack("{s:s}", "name", name));
}

static void secrets_free_posted(void *userdata) {
	struct daemon *d = userdata;

	d->secrets = secrets_free(d->secrets);
}

static void secrets_exit(struct daemon *d, void *userdata) {
	/* After every EXIT hook: modules that read secrets join their
	 * threads in theirs. */
	daemon_post(d, secrets_free_posted, d);
}

int api_secrets_register(struct daemon *d, struct za_error **reterr) {
	struct secrets *secrets;
	int r;

	r = secrets_new(d->config->root_dir, &secrets, reterr);
	if (r < 0)
		return r;
	d->secrets = secrets;
	daemon_add_hook(d, DAEMON_HOOK_EXIT, secrets_exit, NULL);
	api_server_add_route(d->api, "PUT", "/v1/secrets", handle_set, secrets);
	api_server_add_route(d->api, "GET", "/v1/secrets", handle_list, secrets);
	api_server_add_route(d->api, "DELETE", "/v1/secrets", handle_remove, secrets);
	return 0;
}
