/* SPDX-License-Identifier: Apache-2.0 */
#include "spec/yaml-tree.h"

#include <yaml.h>

#include "basic/alloc.h"
#include "basic/macro.h"
#include "basic/parse.h"
#include "basic/banned.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(yaml_parser_t *, yaml_parser_delete)

struct anchor {
	char *name;
	struct ynode *node; /* borrowed from the tree */
};

struct loader {
	yaml_parser_t parser;
	const char *buf;
	size_t len;
	struct anchor *anchors;
	size_t n_anchors, alloc_anchors;
	size_t n_nodes;
	unsigned err_line, err_col;
	char *err_message;
};

static const char *const ynode_type_table[_YNODE_TYPE_MAX] = {
	[YNODE_SCALAR] = "scalar",
	[YNODE_MAPPING] = "mapping",
	[YNODE_SEQUENCE] = "sequence",
};

const char *ynode_type_to_string(enum ynode_type t) {
	return t >= 0 && t < _YNODE_TYPE_MAX ? ynode_type_table[t] : NULL;
}

struct ynode *ynode_free(struct ynode *n) {
	if (!n)
		return NULL;
	for (size_t i = 0; i < n->n; i++) {
		ynode_free(n->items[i]);
		if (n->keys)
			ynode_free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->value);
	free(n);
	return NULL;
}

static int loader_fail(struct loader *l, unsigned line, unsigned col, const char *fmt, ...) _printf_(4, 5);
static int loader_fail(struct loader *l, unsigned line, unsigned col, const char *fmt, ...) {
	va_list ap;

	if (l->err_message)
		return -EINVAL;
	l->err_line = line;
	l->err_col = col;
	va_start(ap, fmt);
	l->err_message = xvasprintf(fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static struct ynode *ynode_new(struct loader *l, enum ynode_type type, const yaml_mark_t *mark) {
	struct ynode *n;

	if (l->n_nodes >= YAML_TREE_MAX_NODES) {
		loader_fail(l, (unsigned)mark->line + 1, (unsigned)mark->column + 1, "document has more than %d nodes",
		            YAML_TREE_MAX_NODES);
		return NULL;
	}
	l->n_nodes++;
	n = xnew(struct ynode, 1);
	n->type = type;
	n->line = (unsigned)mark->line + 1;
	n->col = (unsigned)mark->column + 1;
	return n;
}

static struct ynode *ynode_copy(struct loader *l, const struct ynode *src) {
	struct ynode *n;

	if (l->n_nodes >= YAML_TREE_MAX_NODES) {
		loader_fail(l, src->line, src->col, "document has more than %d nodes (alias expansion)",
		            YAML_TREE_MAX_NODES);
		return NULL;
	}
	l->n_nodes++;
	n = xnew(struct ynode, 1);
	n->type = src->type;
	n->line = src->line;
	n->col = src->col;
	n->quoted = src->quoted;
	n->block = src->block;
	n->key_line = src->key_line;
	n->key_col = src->key_col;
	n->len = src->len;
	if (src->value) {
		n->value = xmalloc(src->len + 1);
		memcpy(n->value, src->value, src->len + 1);
	}
	if (src->n) {
		n->items = xnew(struct ynode *, src->n);
		if (src->keys)
			n->keys = xnew(struct ynode *, src->n);
		n->alloc = src->n;
	}
	for (size_t i = 0; i < src->n; i++) {
		n->items[i] = ynode_copy(l, src->items[i]);
		if (src->keys)
			n->keys[i] = ynode_copy(l, src->keys[i]);
		n->n = i + 1;
		if (!n->items[i] || (src->keys && !n->keys[i]))
			return ynode_free(n);
	}
	return n;
}

static void ynode_append(struct ynode *parent, struct ynode *key, struct ynode *value) {
	if (parent->n == parent->alloc) {
		size_t a = parent->alloc;
		GROW(parent->items, parent->alloc, parent->n + 1);
		if (parent->type == YNODE_MAPPING)
			parent->keys = xgrow(parent->keys, &a, parent->n + 1, sizeof(struct ynode *));
	}
	if (parent->type == YNODE_MAPPING)
		parent->keys[parent->n] = key;
	parent->items[parent->n++] = value;
}

static void loader_add_anchor(struct loader *l, const yaml_char_t *name, struct ynode *node) {
	if (!name)
		return;
	/* A later anchor with the same name shadows the earlier one. */
	GROW(l->anchors, l->alloc_anchors, l->n_anchors + 1);
	l->anchors[l->n_anchors].name = xstrdup((const char *)name);
	l->anchors[l->n_anchors].node = node;
	l->n_anchors++;
}

static struct ynode *loader_find_anchor(struct loader *l, const char *name) {
	for (size_t i = l->n_anchors; i > 0; i--)
		if (streq(l->anchors[i - 1].name, name))
			return l->anchors[i - 1].node;
	return NULL;
}

static int loader_next(struct loader *l, yaml_event_t *ev) {
	const yaml_parser_t *p = &l->parser;
	const yaml_mark_t *m = &p->problem_mark, *cm = &p->context_mark;
	_cleanup_free_ char *started = NULL;
	const char *hint = "";

	if (yaml_parser_parse(&l->parser, ev))
		return 0;
	/* libyaml reports an unclosed bracket or quote where it gave up; name
	 * the line where the construct began too. */
	if (p->context && cm->line != m->line)
		started = xasprintf(" that starts at line %u", (unsigned)cm->line + 1);
	if (m->index < l->len && l->buf[m->index] == '\t')
		hint = " (YAML indentation must use spaces, not tabs)";
	return loader_fail(l, (unsigned)m->line + 1, (unsigned)m->column + 1, "%s%s%s%s%s", strempty(p->problem),
	                   p->context ? " " : "", strempty(p->context), strempty(started), hint);
}

static bool ynode_key_equal(const struct ynode *a, const struct ynode *b) {
	return a->type == YNODE_SCALAR && b->type == YNODE_SCALAR && a->len == b->len &&
	       memcmp(a->value, b->value, a->len) == 0;
}

/* Load the node whose first event is *ev (ownership of ev taken). */
static int loader_load_node(struct loader *l, yaml_event_t *ev, unsigned depth, struct ynode **ret) {
	_cleanup_(ynode_freep) struct ynode *n = NULL;
	yaml_event_t child;
	int r;

	if (depth > YAML_TREE_MAX_DEPTH) {
		r = loader_fail(l, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
		                "nesting deeper than %d levels", YAML_TREE_MAX_DEPTH);
		yaml_event_delete(ev);
		return r;
	}

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = ynode_new(l, YNODE_SCALAR, &ev->start_mark);
		if (!n)
			break;
		n->len = ev->data.scalar.length;
		n->value = xmalloc(n->len + 1);
		memcpy(n->value, ev->data.scalar.value, n->len);
		n->value[n->len] = '\0';
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !ev->data.scalar.plain_implicit;
		loader_add_anchor(l, ev->data.scalar.anchor, n);
		break;

	case YAML_ALIAS_EVENT: {
		struct ynode *target = loader_find_anchor(l, (const char *)ev->data.alias.anchor);
		if (!target) {
			r = loader_fail(l, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
			                "unknown alias '*%s'", (const char *)ev->data.alias.anchor);
			yaml_event_delete(ev);
			return r;
		}
		n = ynode_copy(l, target);
		break;
	}

	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool mapping = ev->type == YAML_MAPPING_START_EVENT;

		n = ynode_new(l, mapping ? YNODE_MAPPING : YNODE_SEQUENCE, &ev->start_mark);
		if (!n)
			break;
		n->block = mapping ? ev->data.mapping_start.style == YAML_BLOCK_MAPPING_STYLE
		                   : ev->data.sequence_start.style == YAML_BLOCK_SEQUENCE_STYLE;
		loader_add_anchor(l, mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor, n);
		yaml_event_delete(ev);
		for (;;) {
			struct ynode *key = NULL, *value = NULL;

			if ((r = loader_next(l, &child)) < 0)
				return r;
			if (child.type == YAML_SEQUENCE_END_EVENT || child.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&child);
				break;
			}
			if (mapping) {
				if ((r = loader_load_node(l, &child, depth + 1, &key)) < 0)
					return r;
				if (key->type != YNODE_SCALAR) {
					r = loader_fail(l, key->line, key->col,
					                "mapping keys must be scalars, not a %s",
					                ynode_type_to_string(key->type));
					ynode_free(key);
					return r;
				}
				for (size_t i = 0; i < n->n; i++)
					if (ynode_key_equal(n->keys[i], key)) {
						r = loader_fail(l, key->line, key->col,
						                "duplicate key '%s' (first at line %u)", key->value,
						                n->keys[i]->line);
						ynode_free(key);
						return r;
					}
				if ((r = loader_next(l, &child)) < 0) {
					ynode_free(key);
					return r;
				}
			}
			if ((r = loader_load_node(l, &child, depth + 1, &value)) < 0) {
				ynode_free(key);
				return r;
			}
			if (key) {
				value->key_line = key->line;
				value->key_col = key->col;
			}
			ynode_append(n, key, value);
		}
		*ret = TAKE_PTR(n);
		return 0;
	}

	default:
		r = loader_fail(l, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
		                "unexpected YAML event %d", (int)ev->type);
		yaml_event_delete(ev);
		return r;
	}

	yaml_event_delete(ev);
	if (!n)
		return -EINVAL;
	*ret = TAKE_PTR(n);
	return 0;
}

int yaml_tree_parse(const char *buf, size_t len, struct ynode **ret, unsigned *ret_line, unsigned *ret_col,
                    char **ret_message) {
	struct loader l = {};
	_cleanup_(yaml_parser_deletep) yaml_parser_t *parser = NULL;
	_cleanup_(ynode_freep) struct ynode *root = NULL;
	yaml_event_t ev;
	bool done = false;
	int r = 0;

	if (!yaml_parser_initialize(&l.parser))
		oom();
	parser = &l.parser;
	l.buf = buf;
	l.len = len;
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)buf, len);

	while (!done) {
		if ((r = loader_next(&l, &ev)) < 0)
			break;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			yaml_event_delete(&ev);
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (root) {
				r = loader_fail(&l, (unsigned)ev.start_mark.line + 1,
				                (unsigned)ev.start_mark.column + 1,
				                "more than one YAML document; a spec file holds exactly one");
				yaml_event_delete(&ev);
				done = true;
				break;
			}
			yaml_event_delete(&ev);
			if ((r = loader_next(&l, &ev)) < 0) {
				done = true;
				break;
			}
			if (ev.type == YAML_DOCUMENT_END_EVENT) {
				yaml_event_delete(&ev);
				break;
			}
			r = loader_load_node(&l, &ev, 0, &root);
			if (r < 0)
				done = true;
			break;
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			done = true;
			break;
		default:
			yaml_event_delete(&ev);
			r = loader_fail(&l, 1, 1, "malformed YAML stream");
			done = true;
		}
	}

	for (size_t i = 0; i < l.n_anchors; i++)
		free(l.anchors[i].name);
	free(l.anchors);

	if (r < 0) {
		*ret_line = l.err_line;
		*ret_col = l.err_col;
		*ret_message = l.err_message ? l.err_message : xstrdup("invalid YAML");
		return r;
	}
	free(l.err_message);
	*ret = TAKE_PTR(root);
	return 0;
}

struct ynode *ynode_get(const struct ynode *n, const char *key) {
	if (!n || n->type != YNODE_MAPPING)
		return NULL;
	for (size_t i = 0; i < n->n; i++)
		if (streq(n->keys[i]->value, key))
			return n->items[i];
	return NULL;
}

bool ynode_is_null(const struct ynode *n) {
	if (!n || n->type != YNODE_SCALAR || n->quoted)
		return false;
	return streq(n->value, "") || streq(n->value, "~") || streq(n->value, "null") || streq(n->value, "Null") ||
	       streq(n->value, "NULL");
}

const char *ynode_describe(const struct ynode *n) {
	int64_t i;
	double d;

	if (!n)
		return "nothing";
	switch (n->type) {
	case YNODE_MAPPING:
		return "a mapping";
	case YNODE_SEQUENCE:
		return "a list";
	default:
		break;
	}
	if (n->quoted)
		return "a string";
	if (ynode_is_null(n))
		return "null";
	if (parse_int64(n->value, &i) >= 0)
		return "an integer";
	if (parse_double(n->value, &d) >= 0)
		return "a number";
	if (streq(n->value, "true") || streq(n->value, "false") || streq(n->value, "True") ||
	    streq(n->value, "False") || streq(n->value, "TRUE") || streq(n->value, "FALSE"))
		return "a boolean";
	return "a string";
}
