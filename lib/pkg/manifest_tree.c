/* manifest_tree.c: the first pass of reading meta/ferry.yaml. libyaml's
 * event parser feeds a small tree of our own (maps, lists, strings, each with
 * its line and column), built under hard bounds: file size, nesting depth,
 * entries per list or map, total nodes, string length. Anchors, aliases and
 * tags are refused while building, so no input can expand (billion laughs) or
 * change a value's meaning. Also the messages every check shares: the field
 * path, quoting a value, "FILE:LINE:COLUMN: PATH: ...".
 *
 * It does not know any manifest key: checking the tree and filling struct
 * manifest is manifest.c's, the small grammars manifest_grammar.c's. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/str.h"
#include "pkg/manifest_int.h"

#define PATH_KEY_MAX 48 /* characters of one key shown in a path */

/* ---- the tree ---- */

void manifest_node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		manifest_node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

/* ---- messages ---- */

/* Quote s for a message: at most SHOW_MAX characters, cut on a UTF-8
 * boundary, with quotes, backslashes and control bytes escaped, so that a
 * message is always one printable line. */
void manifest_show(const char *s, char *out, size_t size)
{
	size_t o = 0, chars = 0;
	const unsigned char *p = (const unsigned char *)s;

	if (size < 8) {
		if (size)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (; *p; p++) {
		unsigned char ch = *p;
		if ((ch & 0xC0) != 0x80 && ++chars > SHOW_MAX) {
			if (o + 4 < size) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (o + 6 >= size)
			break;
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

static bool plain_key(const char *k)
{
	if (!*k)
		return false;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	return strlen(k) <= PATH_KEY_MAX;
}

/* Append ".key" (or "key" first) to the path; returns the length to restore. */
size_t manifest_path_push(struct ctx *c, const char *key)
{
	size_t saved = c->plen;
	char shown[PATH_KEY_MAX * 4 + 16];

	if (plain_key(key))
		snprintf(shown, sizeof(shown), "%s", key);
	else
		manifest_show(key, shown, sizeof(shown));
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "",
	                 shown);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
		                                                : sizeof(c->path) - 1;
	return saved;
}

size_t manifest_path_push_index(struct ctx *c, size_t i)
{
	size_t saved = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
		                                                : sizeof(c->path) - 1;
	return saved;
}

void manifest_path_pop(struct ctx *c, size_t saved)
{
	c->plen = saved;
	c->path[saved] = '\0';
}

int manifest_fail_at(struct ctx *c, unsigned line, unsigned col, int code, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->plen)
		return ferry_error_set(c->err, code, "%s:%u:%u: %s: %s", c->file, line, col,
		                       c->path, msg);
	return ferry_error_set(c->err, code, "%s:%u:%u: %s", c->file, line, col, msg);
}

static const char *kind_name(const struct node *n)
{
	if (n->kind == NODE_LIST)
		return "a list";
	if (n->kind == NODE_MAP)
		return "a map";
	return n->is_null ? "nothing" : "a string";
}

/* "got "value"" for a scalar, "got a list" for the rest. */
const char *manifest_got(const struct node *n, char *buf, size_t size)
{
	if (n->kind == NODE_SCALAR && !n->is_null) {
		char q[SHOW_MAX * 4 + 16];
		manifest_show(n->str, q, sizeof(q));
		snprintf(buf, size, "got %s", q);
	} else {
		snprintf(buf, size, "got %s", kind_name(n));
	}
	return buf;
}

int manifest_oom(struct ctx *c)
{
	return ferry_error_set(c->err, FERRY_E_NOMEM, "%s: out of memory", c->file);
}

/* ---- building the tree from libyaml events ---- */

/* Line and column (1-based, in characters) of a byte offset: for reader
 * errors, which libyaml reports as an offset only. */
static void offset_mark(const struct ctx *c, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < c->len; i++) {
		unsigned char ch = (unsigned char)c->data[i];
		if (ch == '\n') {
			(*line)++;
			*col = 1;
		} else if ((ch & 0xC0) != 0x80) {
			(*col)++;
		}
	}
}

static int yaml_fail(struct ctx *c)
{
	yaml_parser_t *p = c->parser;
	const char *problem = p->problem ? p->problem : "malformed YAML";
	unsigned line, col;

	if (p->error == YAML_MEMORY_ERROR)
		return manifest_oom(c);
	if (p->error == YAML_READER_ERROR) {
		offset_mark(c, p->problem_offset, &line, &col);
		return manifest_fail_at(c, line, col, FERRY_E_INVALID, "invalid YAML: %s", problem);
	}
	line = (unsigned)p->problem_mark.line + 1;
	col = (unsigned)p->problem_mark.column + 1;
	if (p->context)
		return manifest_fail_at(c, line, col, FERRY_E_INVALID,
		                        "invalid YAML: %s (%s at line %u)", problem, p->context,
		                        (unsigned)p->context_mark.line + 1);
	return manifest_fail_at(c, line, col, FERRY_E_INVALID, "invalid YAML: %s", problem);
}

static int next_event(struct ctx *c, yaml_event_t *ev)
{
	if (!yaml_parser_parse(c->parser, ev))
		return yaml_fail(c);
	return 0;
}

static int add_kid(struct ctx *c, struct node *parent, struct node *kid, size_t *cap)
{
	if (parent->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct node **k = realloc(parent->kids, ncap * sizeof(*k));
		if (!k)
			return manifest_oom(c);
		parent->kids = k;
		*cap = ncap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

/* manifest_show() of sigil + name, for anchors and aliases: "&x", "*x". */
static void show_mark(char sigil, const yaml_char_t *name, char *out, size_t size)
{
	char buf[SHOW_MAX * 4 + 2];
	snprintf(buf, sizeof(buf), "%c%s", sigil, (const char *)name);
	manifest_show(buf, out, size);
}

static bool scalar_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Build the node that starts with ev (owned by the caller); depth is the
 * number of collections around it. */
static int build_node(struct ctx *c, const yaml_event_t *ev, unsigned depth, struct node **out)
{
	unsigned line = (unsigned)ev->start_mark.line + 1,
	         col = (unsigned)ev->start_mark.column + 1;
	const yaml_char_t *anchor = NULL, *tag = NULL;
	enum node_kind kind;
	char q[SHOW_MAX * 4 + 16];

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		show_mark('*', ev->data.alias.anchor, q, sizeof(q));
		return manifest_fail_at(c, line, col, FERRY_E_INVALID,
		                        "aliases are not allowed; got %s", q);
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		kind = NODE_SCALAR;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		kind = NODE_LIST;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		kind = NODE_MAP;
		break;
	default:
		return manifest_fail_at(c, line, col, FERRY_E_INVALID,
		                        "invalid YAML: unexpected event");
	}
	if (anchor) {
		show_mark('&', anchor, q, sizeof(q));
		return manifest_fail_at(c, line, col, FERRY_E_INVALID,
		                        "anchors are not allowed; got %s", q);
	}
	if (tag) {
		/* libyaml hands over the resolved tag; show "!!str" as written */
		const char *t = (const char *)tag;
		char written[SHOW_MAX * 4];
		if (str_has_prefix(t, "tag:yaml.org,2002:"))
			snprintf(written, sizeof(written), "!!%s", t + 18);
		else
			snprintf(written, sizeof(written), "%s", t);
		manifest_show(written, q, sizeof(q));
		return manifest_fail_at(c, line, col, FERRY_E_INVALID,
		                        "tags are not allowed; got %s", q);
	}
	if (kind != NODE_SCALAR && depth >= MANIFEST_MAX_DEPTH)
		return manifest_fail_at(c, line, col, FERRY_E_LIMIT, "nested deeper than %d levels",
		                        MANIFEST_MAX_DEPTH);
	if (++c->nodes > MANIFEST_MAX_NODES)
		return manifest_fail_at(c, line, col, FERRY_E_LIMIT,
		                        "more than %d values in the file", MANIFEST_MAX_NODES);

	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return manifest_oom(c);
	n->kind = kind;
	n->line = line;
	n->col = col;

	if (kind == NODE_SCALAR) {
		size_t len = ev->data.scalar.length;
		if (len > MANIFEST_STRING_MAX) {
			manifest_node_free(n);
			return manifest_fail_at(c, line, col, FERRY_E_LIMIT,
			                        "string of %zu bytes; at most %d allowed", len,
			                        MANIFEST_STRING_MAX);
		}
		if (memchr(ev->data.scalar.value, '\0', len)) {
			manifest_node_free(n);
			return manifest_fail_at(c, line, col, FERRY_E_INVALID,
			                        "strings must not contain NUL characters");
		}
		n->str = strndup((const char *)ev->data.scalar.value, len);
		if (!n->str) {
			manifest_node_free(n);
			return manifest_oom(c);
		}
		n->len = len;
		n->is_null = scalar_is_null(ev);
		*out = n;
		return 0;
	}

	size_t cap = 0;
	int rc = 0;
	for (;;) {
		yaml_event_t e;
		size_t entries = kind == NODE_MAP ? n->n / 2 : n->n;
		if ((rc = next_event(c, &e)) < 0)
			break;
		if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&e);
			break;
		}
		if (entries >= MANIFEST_MAX_ITEMS) {
			rc = manifest_fail_at(c, (unsigned)e.start_mark.line + 1,
			                      (unsigned)e.start_mark.column + 1, FERRY_E_LIMIT,
			                      "more than %d entries in one %s", MANIFEST_MAX_ITEMS,
			                      kind == NODE_MAP ? "map" : "list");
			yaml_event_delete(&e);
			break;
		}
		struct node *kid = NULL;
		if (kind == NODE_LIST) {
			size_t saved = manifest_path_push_index(c, n->n);
			rc = build_node(c, &e, depth + 1, &kid);
			manifest_path_pop(c, saved);
			yaml_event_delete(&e);
			if (rc == 0 && (rc = add_kid(c, n, kid, &cap)) < 0)
				manifest_node_free(kid);
			if (rc < 0)
				break;
			continue;
		}
		/* a map: the key must be a plain string */
		if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT) {
			rc = manifest_fail_at(c, (unsigned)e.start_mark.line + 1,
			                      (unsigned)e.start_mark.column + 1, FERRY_E_INVALID,
			                      "keys must be strings; got a %s",
			                      e.type == YAML_MAPPING_START_EVENT ? "map" : "list");
			yaml_event_delete(&e);
			break;
		}
		rc = build_node(c, &e, depth + 1, &kid);
		yaml_event_delete(&e);
		if (rc == 0 && (rc = add_kid(c, n, kid, &cap)) < 0)
			manifest_node_free(kid);
		if (rc < 0)
			break;
		if ((rc = next_event(c, &e)) < 0)
			break;
		size_t saved = manifest_path_push(c, kid->str);
		struct node *val = NULL;
		rc = build_node(c, &e, depth + 1, &val);
		manifest_path_pop(c, saved);
		yaml_event_delete(&e);
		if (rc == 0 && (rc = add_kid(c, n, val, &cap)) < 0)
			manifest_node_free(val);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		manifest_node_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/* Parse the whole stream into one tree; exactly one document. */
int manifest_build_tree(struct ctx *c, struct node **root)
{
	yaml_event_t e;
	int rc;

	*root = NULL;
	if ((rc = next_event(c, &e)) < 0)
		return rc;
	yaml_event_delete(&e); /* stream start */
	if ((rc = next_event(c, &e)) < 0)
		return rc;
	if (e.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&e);
		return manifest_fail_at(
		    c, 1, 1, FERRY_E_INVALID,
		    "the manifest is empty; expected a map with at least name, version "
		    "and summary");
	}
	yaml_event_delete(&e); /* document start */
	if ((rc = next_event(c, &e)) < 0)
		return rc;
	rc = build_node(c, &e, 0, root);
	yaml_event_delete(&e);
	if (rc < 0)
		return rc;
	if ((rc = next_event(c, &e)) < 0)
		goto fail;
	yaml_event_delete(&e); /* document end */
	if ((rc = next_event(c, &e)) < 0)
		goto fail;
	if (e.type != YAML_STREAM_END_EVENT) {
		rc = manifest_fail_at(c, (unsigned)e.start_mark.line + 1,
		                      (unsigned)e.start_mark.column + 1, FERRY_E_INVALID,
		                      "only one YAML document is allowed");
		yaml_event_delete(&e);
		goto fail;
	}
	yaml_event_delete(&e);
	return 0;
fail:
	manifest_node_free(*root);
	*root = NULL;
	return rc;
}
