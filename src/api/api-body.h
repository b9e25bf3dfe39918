/* SPDX-License-Identifier: Apache-2.0 */
/* Request-body schemas: a handler describes the fields its JSON body may
 * have in a table and checks the body against it before reading anything.
 * Unknown fields, wrong types, missing required fields, values outside a
 * list of choices and over-long values are invalid_spec (400) errors that
 * name the field by its full path:
 *   request body: unknown field 'foo'
 *   request body: field 'reference' must be a string, not an integer
 *   request body: field 'argv' is required
 *   request body: field 'argv[2]' must be a string, not an object
 *   request body: field 'config.resources.memory' ...   (nested tables)
 * A null value counts as absent everywhere. Query parameters get the same
 * treatment: a value that does not parse is an error naming the parameter.
 * No state: the checks read what they are given. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"

/* JSON types a field accepts (a mask). */
enum {
	API_JSON_STRING = 1 << 0,
	API_JSON_INTEGER = 1 << 1,
	API_JSON_REAL = 1 << 2,
	API_JSON_NUMBER = API_JSON_INTEGER | API_JSON_REAL,
	API_JSON_BOOLEAN = 1 << 3,
	API_JSON_OBJECT = 1 << 4,
	API_JSON_ARRAY = 1 << 5,
	API_JSON_ANY = API_JSON_STRING | API_JSON_NUMBER | API_JSON_BOOLEAN | API_JSON_OBJECT | API_JSON_ARRAY,
};

/* Nesting deeper than this is refused (tables can be recursive). */
#define API_BODY_DEPTH_MAX 16

struct api_body_field {
	const char *name;
	unsigned types; /* API_JSON_* the value may be */
	bool required;  /* absent or null is an error */
	unsigned items; /* arrays: what every entry must be (0: anything) */
	size_t max;     /* strings: bytes; arrays and objects: entries (0: only the body's cap) */
	/* Strings (and string entries of arrays): the accepted values, NULL-
	 * terminated (NULL: any string). */
	const char *const *choices;
	/* Objects (and object entries of arrays): their own fields, checked
	 * recursively (NULL: the handler checks them itself). */
	const struct api_body_field *fields;
};

/* Check a request body (NULL, when none was sent, is checked as {}) against
 * fields, a table ending with an entry whose name is NULL. Every string in
 * a checked value is free of NUL bytes. */
int api_body_check(json_t *body, const struct api_body_field *fields, struct za_error **reterr);
/* The same for an object nested in a body at path ("config.resources"): its
 * keys are named "PATH.KEY". path NULL is the body itself. */
int api_body_check_at(json_t *obj, const char *path, const struct api_body_field *fields, struct za_error **reterr);

/* What a value is, for messages: "a string", "an integer", "a number",
 * "a boolean", "an object", "an array", "null" ("nothing" for NULL). */
const char *api_json_type_name(const json_t *v);

/* A field's string value; NULL when absent, null or not a string. */
const char *api_body_string(const json_t *body, const char *name);

struct api_request;
/* A boolean query parameter: 1, true, yes, on or 0, false, no, off (any
 * case); absent or empty gives def; anything else is invalid_spec "query
 * parameter 'force' must be a boolean (1, true, yes, on, 0, false, no,
 * off), not 'maybe'". */
int api_query_bool(struct api_request *req, const char *name, bool def, bool *ret, struct za_error **reterr);
