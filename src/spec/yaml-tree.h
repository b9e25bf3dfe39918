/* SPDX-License-Identifier: Apache-2.0 */
/* A YAML document loaded into a tree of nodes that remember their line and
 * column, so every later error can point at the exact place. Aliases are
 * expanded (with a node cap against "billion laughs"), duplicate mapping keys
 * and multiple documents are errors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum ynode_type {
	YNODE_SCALAR,
	YNODE_MAPPING,
	YNODE_SEQUENCE,
	_YNODE_TYPE_MAX,
	_YNODE_TYPE_INVALID = -1,
};

struct ynode {
	enum ynode_type type;
	unsigned line, col; /* 1-based */
	/* scalar */
	char *value;
	size_t len;
	bool quoted; /* single/double quoted or block scalar: always a string */
	/* sequence: items; mapping: keys[i] -> items[i] */
	struct ynode **items;
	struct ynode **keys;
	size_t n;
	size_t alloc;
	/* Where to report something missing from a block mapping: the key it is
	 * the value of (a block mapping itself starts at its first key, which
	 * has nothing to do with what is missing). 0 when not a mapping value. */
	bool block;
	unsigned key_line, key_col;
};

#define YAML_TREE_MAX_NODES 200000
#define YAML_TREE_MAX_DEPTH 64

/* Parse buf. On failure returns -EINVAL and sets *ret_line, *ret_col and
 * *ret_message (allocated) to the first syntax error. An empty document
 * yields *ret = NULL and 0. */
int yaml_tree_parse(const char *buf, size_t len, struct ynode **ret, unsigned *ret_line, unsigned *ret_col,
                    char **ret_message);
struct ynode *ynode_free(struct ynode *n);
static inline void ynode_freep(struct ynode **n) {
	*n = ynode_free(*n);
}

/* Mapping lookup; NULL when absent or n is not a mapping. */
struct ynode *ynode_get(const struct ynode *n, const char *key);
/* A plain scalar spelling YAML null: "", "~", "null", "Null", "NULL". */
bool ynode_is_null(const struct ynode *n);
const char *ynode_type_to_string(enum ynode_type t);
/* "string", "integer", "boolean", "null", "mapping", "list" as a reader
 * would call what they wrote. */
const char *ynode_describe(const struct ynode *n);
