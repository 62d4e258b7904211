/* manifest.c: reads meta/ferry.yaml. libyaml's event parser feeds a small
 * tree of our own (maps, lists, strings, each with its line and column), built
 * under hard bounds: file size, nesting depth, entries per list or map, total
 * nodes, string length. Anchors, aliases and tags are refused while building,
 * so no input can expand (billion laughs) or change a value's meaning. A
 * second pass walks the tree in file order, checks every key and value
 * against the rules of docs/formats/manifest.md and fills struct manifest;
 * the first problem found ends the parse with one message of the shape
 *   FILE:LINE:COLUMN: FIELD.PATH: what was expected; got "what was there"
 * Every scalar is kept as the text that was written (YAML 1.1 booleans and
 * numbers mean nothing here), so `version: 1.10` stays "1.10".
 *
 * It does not look at the package tree: whether an app's command exists is
 * for `ferry pack` to check. */
#include "pkg/manifest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "pkg/name.h"

#define PATH_BUF 320    /* the field path shown in messages */
#define SHOW_MAX 64     /* characters of a value quoted in a message */
#define PATH_KEY_MAX 48 /* characters of one key shown in a path */
#define COMMAND_MAX 256
#define PRIME_MAX 256
#define APT_NAME_MAX 128
#define APT_VERSION_MAX 128
#define COMPONENT_NAME_MAX 128
#define COMPONENT_VERSION_MAX 64
#define PURL_MAX 512
#define ENV_KEY_MAX 64
#define SPDX_DEPTH_MAX 16

#define DEFAULT_RESTART_DELAY_MS 1000
#define DEFAULT_STOP_TIMEOUT_MS 10000
#define DEFAULT_HEALTH_GRACE_MS 30000
#define DEFAULT_HEALTH_TIMEOUT_MS 30000

/* ---- the tree ---- */

enum node_kind { NODE_SCALAR, NODE_LIST, NODE_MAP };

struct node {
	enum node_kind kind;
	unsigned line, col; /* 1-based */
	bool is_null;       /* a plain empty, "~" or "null" scalar */
	char *str;          /* scalars: NUL-terminated, no NUL inside */
	size_t len;
	struct node **kids; /* lists: items; maps: key, value, key, value, ... */
	size_t n;
};

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

/* ---- messages ---- */

/* Quote s for a message: at most SHOW_MAX characters, cut on a UTF-8
 * boundary, with quotes, backslashes and control bytes escaped, so that a
 * message is always one printable line. */
static void show(const char *s, char *out, size_t size)
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

struct ctx {
	const char *file;
	ferry_error *err;
	char path[PATH_BUF];
	size_t plen;
	size_t nodes;
	yaml_parser_t *parser;
	const char *data;
	size_t len;
};

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
static size_t path_push(struct ctx *c, const char *key)
{
	size_t saved = c->plen;
	char shown[PATH_KEY_MAX * 4 + 16];

	if (plain_key(key))
		snprintf(shown, sizeof(shown), "%s", key);
	else
		show(key, shown, sizeof(shown));
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "",
	                 shown);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
		                                                : sizeof(c->path) - 1;
	return saved;
}

static size_t path_push_index(struct ctx *c, size_t i)
{
	size_t saved = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
		                                                : sizeof(c->path) - 1;
	return saved;
}

static void path_pop(struct ctx *c, size_t saved)
{
	c->plen = saved;
	c->path[saved] = '\0';
}

static int fail_at(struct ctx *c, unsigned line, unsigned col, int code, const char *fmt, ...)
    FERRY_PRINTF(5, 6);
static int fail_at(struct ctx *c, unsigned line, unsigned col, int code, const char *fmt, ...)
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

#define fail(c, node, code, ...) fail_at((c), (node)->line, (node)->col, (code), __VA_ARGS__)

static const char *kind_name(const struct node *n)
{
	if (n->kind == NODE_LIST)
		return "a list";
	if (n->kind == NODE_MAP)
		return "a map";
	return n->is_null ? "nothing" : "a string";
}

/* "got "value"" for a scalar, "got a list" for the rest. */
static const char *got(const struct node *n, char *buf, size_t size)
{
	if (n->kind == NODE_SCALAR && !n->is_null) {
		char q[SHOW_MAX * 4 + 16];
		show(n->str, q, sizeof(q));
		snprintf(buf, size, "got %s", q);
	} else {
		snprintf(buf, size, "got %s", kind_name(n));
	}
	return buf;
}

#define GOT(n) got((n), (char[SHOW_MAX * 4 + 32]){0}, SHOW_MAX * 4 + 32)

static int oom(struct ctx *c)
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
		return oom(c);
	if (p->error == YAML_READER_ERROR) {
		offset_mark(c, p->problem_offset, &line, &col);
		return fail_at(c, line, col, FERRY_E_INVALID, "invalid YAML: %s", problem);
	}
	line = (unsigned)p->problem_mark.line + 1;
	col = (unsigned)p->problem_mark.column + 1;
	if (p->context)
		return fail_at(c, line, col, FERRY_E_INVALID, "invalid YAML: %s (%s at line %u)",
		               problem, p->context, (unsigned)p->context_mark.line + 1);
	return fail_at(c, line, col, FERRY_E_INVALID, "invalid YAML: %s", problem);
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
			return oom(c);
		parent->kids = k;
		*cap = ncap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

/* show() of sigil + name, for anchors and aliases: "&x", "*x". */
static void show_mark(char sigil, const yaml_char_t *name, char *out, size_t size)
{
	char buf[SHOW_MAX * 4 + 2];
	snprintf(buf, sizeof(buf), "%c%s", sigil, (const char *)name);
	show(buf, out, size);
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
		return fail_at(c, line, col, FERRY_E_INVALID, "aliases are not allowed; got %s", q);
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
		return fail_at(c, line, col, FERRY_E_INVALID, "invalid YAML: unexpected event");
	}
	if (anchor) {
		show_mark('&', anchor, q, sizeof(q));
		return fail_at(c, line, col, FERRY_E_INVALID, "anchors are not allowed; got %s", q);
	}
	if (tag) {
		/* libyaml hands over the resolved tag; show "!!str" as written */
		const char *t = (const char *)tag;
		char written[SHOW_MAX * 4];
		if (str_has_prefix(t, "tag:yaml.org,2002:"))
			snprintf(written, sizeof(written), "!!%s", t + 18);
		else
			snprintf(written, sizeof(written), "%s", t);
		show(written, q, sizeof(q));
		return fail_at(c, line, col, FERRY_E_INVALID, "tags are not allowed; got %s", q);
	}
	if (kind != NODE_SCALAR && depth >= MANIFEST_MAX_DEPTH)
		return fail_at(c, line, col, FERRY_E_LIMIT, "nested deeper than %d levels",
		               MANIFEST_MAX_DEPTH);
	if (++c->nodes > MANIFEST_MAX_NODES)
		return fail_at(c, line, col, FERRY_E_LIMIT, "more than %d values in the file",
		               MANIFEST_MAX_NODES);

	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return oom(c);
	n->kind = kind;
	n->line = line;
	n->col = col;

	if (kind == NODE_SCALAR) {
		size_t len = ev->data.scalar.length;
		if (len > MANIFEST_STRING_MAX) {
			node_free(n);
			return fail_at(c, line, col, FERRY_E_LIMIT,
			               "string of %zu bytes; at most %d allowed", len,
			               MANIFEST_STRING_MAX);
		}
		if (memchr(ev->data.scalar.value, '\0', len)) {
			node_free(n);
			return fail_at(c, line, col, FERRY_E_INVALID,
			               "strings must not contain NUL characters");
		}
		n->str = strndup((const char *)ev->data.scalar.value, len);
		if (!n->str) {
			node_free(n);
			return oom(c);
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
			rc = fail_at(c, (unsigned)e.start_mark.line + 1,
			             (unsigned)e.start_mark.column + 1, FERRY_E_LIMIT,
			             "more than %d entries in one %s", MANIFEST_MAX_ITEMS,
			             kind == NODE_MAP ? "map" : "list");
			yaml_event_delete(&e);
			break;
		}
		struct node *kid = NULL;
		if (kind == NODE_LIST) {
			size_t saved = path_push_index(c, n->n);
			rc = build_node(c, &e, depth + 1, &kid);
			path_pop(c, saved);
			yaml_event_delete(&e);
			if (rc == 0 && (rc = add_kid(c, n, kid, &cap)) < 0)
				node_free(kid);
			if (rc < 0)
				break;
			continue;
		}
		/* a map: the key must be a plain string */
		if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT) {
			rc = fail_at(c, (unsigned)e.start_mark.line + 1,
			             (unsigned)e.start_mark.column + 1, FERRY_E_INVALID,
			             "keys must be strings; got a %s",
			             e.type == YAML_MAPPING_START_EVENT ? "map" : "list");
			yaml_event_delete(&e);
			break;
		}
		rc = build_node(c, &e, depth + 1, &kid);
		yaml_event_delete(&e);
		if (rc == 0 && (rc = add_kid(c, n, kid, &cap)) < 0)
			node_free(kid);
		if (rc < 0)
			break;
		if ((rc = next_event(c, &e)) < 0)
			break;
		size_t saved = path_push(c, kid->str);
		struct node *val = NULL;
		rc = build_node(c, &e, depth + 1, &val);
		path_pop(c, saved);
		yaml_event_delete(&e);
		if (rc == 0 && (rc = add_kid(c, n, val, &cap)) < 0)
			node_free(val);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		node_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/* Parse the whole stream into one tree; exactly one document. */
static int build_tree(struct ctx *c, struct node **root)
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
		return fail_at(c, 1, 1, FERRY_E_INVALID,
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
		rc = fail_at(c, (unsigned)e.start_mark.line + 1, (unsigned)e.start_mark.column + 1,
		             FERRY_E_INVALID, "only one YAML document is allowed");
		yaml_event_delete(&e);
		goto fail;
	}
	yaml_event_delete(&e);
	return 0;
fail:
	node_free(*root);
	*root = NULL;
	return rc;
}

/* ---- names and small grammars ---- */

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static bool valid_version(const char *s)
{
	size_t len = strlen(s);
	if (len < 1 || len > MANIFEST_VERSION_MAX || !is_alnum(s[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && !strchr(".+~-", s[i]))
			return false;
	return true;
}

/* No control characters (tab and newline allowed only when multiline). */
static bool clean_text(const char *s, bool multiline)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t'))) || *p == 0x7f)
			return false;
	return true;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			n++;
	return n;
}

/* Printable ASCII without space: 0x21..0x7e. */
static bool graph_ascii(const char *s, size_t min, size_t max)
{
	size_t len = strlen(s);
	if (len < min || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* A relative path inside the package: no leading "/", no empty or ".."
 * component, no whitespace or control characters. ("./bin/x" is fine.) */
static bool valid_rel_path(const char *s, size_t max)
{
	size_t len = strlen(s);
	if (len == 0 || len > max || s[0] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch == 0x7f)
			return false;
	}
	const char *p = s;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		if (clen == 0 || (clen == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			break;
		p = slash + 1;
	}
	return true;
}

/* Debian package name [a-z0-9][a-z0-9+.-]+, optionally "=VERSION" where the
 * version starts with a digit and uses [A-Za-z0-9.+~:-]. */
static bool valid_apt(const char *s)
{
	const char *eq = strchr(s, '=');
	size_t nlen = eq ? (size_t)(eq - s) : strlen(s);

	if (nlen < 2 || nlen > APT_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 0; i < nlen; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
		      ch == '.' || ch == '-'))
			return false;
	}
	if (!eq)
		return true;
	const char *v = eq + 1;
	size_t vlen = strlen(v);
	if (vlen < 1 || vlen > APT_VERSION_MAX || !(v[0] >= '0' && v[0] <= '9'))
		return false;
	for (size_t i = 0; i < vlen; i++)
		if (!is_alnum(v[i]) && !strchr(".+~:-", v[i]))
			return false;
	return true;
}

/* pkg:TYPE/NAME...: type [a-zA-Z][a-zA-Z0-9.+-]*, then a non-empty rest of
 * printable ASCII without spaces. */
static bool valid_purl(const char *s)
{
	if (!graph_ascii(s, 1, PURL_MAX) || strncmp(s, "pkg:", 4) != 0)
		return false;
	const char *p = s + 4;
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while (is_alnum(*p) || *p == '.' || *p == '+' || *p == '-')
		p++;
	if (*p != '/')
		return false;
	p++;
	return *p && *p != '/' && *p != '@';
}

static bool valid_env_key(const char *s)
{
	size_t len = strlen(s);
	if (len < 1 || len > ENV_KEY_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_')
			return false;
	return true;
}

/* ---- SPDX license expressions (SPDX 2.3, annex D), syntax only ---- */

struct spdx {
	const char *p;
	const char *why;
	unsigned depth;
};

enum spdx_tok { TOK_END, TOK_OPEN, TOK_CLOSE, TOK_AND, TOK_OR, TOK_WITH, TOK_WORD };

static enum spdx_tok spdx_peek(struct spdx *s, const char **w, size_t *wlen)
{
	while (*s->p == ' ')
		s->p++;
	if (!*s->p)
		return TOK_END;
	if (*s->p == '(')
		return TOK_OPEN;
	if (*s->p == ')')
		return TOK_CLOSE;
	const char *b = s->p;
	size_t n = 0;
	while (b[n] && b[n] != ' ' && b[n] != '(' && b[n] != ')')
		n++;
	*w = b;
	*wlen = n;
	if ((n == 3 && (!strncmp(b, "AND", 3) || !strncmp(b, "and", 3))))
		return TOK_AND;
	if ((n == 2 && (!strncmp(b, "OR", 2) || !strncmp(b, "or", 2))))
		return TOK_OR;
	if ((n == 4 && (!strncmp(b, "WITH", 4) || !strncmp(b, "with", 4))))
		return TOK_WITH;
	return TOK_WORD;
}

static void spdx_skip(struct spdx *s, enum spdx_tok t, size_t wlen)
{
	s->p += (t == TOK_OPEN || t == TOK_CLOSE) ? 1 : wlen;
}

/* idstring = 1*(ALPHA / DIGIT / "-" / ".") */
static bool spdx_idstring(const char *w, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(w[i]) && w[i] != '-' && w[i] != '.')
			return false;
	return true;
}

static bool spdx_license_id(const char *w, size_t n)
{
	if (n >= 12 && !strncmp(w, "DocumentRef-", 12)) {
		const char *colon = memchr(w, ':', n);
		if (!colon || !spdx_idstring(w + 12, (size_t)(colon - w) - 12))
			return false;
		size_t rest = n - (size_t)(colon + 1 - w);
		return rest > 11 && !strncmp(colon + 1, "LicenseRef-", 11) &&
		       spdx_idstring(colon + 12, rest - 11);
	}
	if (n >= 11 && !strncmp(w, "LicenseRef-", 11))
		return spdx_idstring(w + 11, n - 11);
	if (n > 1 && w[n - 1] == '+')
		n--;
	return spdx_idstring(w, n);
}

static bool spdx_or(struct spdx *s);

static bool spdx_primary(struct spdx *s, const char *after)
{
	const char *w = NULL;
	size_t n = 0;
	enum spdx_tok t = spdx_peek(s, &w, &n);

	if (t == TOK_OPEN) {
		if (++s->depth > SPDX_DEPTH_MAX) {
			s->why = "parentheses nested too deep";
			return false;
		}
		spdx_skip(s, t, n);
		if (!spdx_or(s))
			return false;
		if (spdx_peek(s, &w, &n) != TOK_CLOSE) {
			s->why = "a \"(\" is not closed";
			return false;
		}
		spdx_skip(s, TOK_CLOSE, n);
		s->depth--;
		return true;
	}
	if (t != TOK_WORD) {
		s->why = after;
		return false;
	}
	if (!spdx_license_id(w, n)) {
		s->why = "a license identifier has characters other than letters, digits, \"-\" "
		         "and \".\"";
		return false;
	}
	spdx_skip(s, t, n);
	if (spdx_peek(s, &w, &n) == TOK_WITH) {
		spdx_skip(s, TOK_WITH, n);
		t = spdx_peek(s, &w, &n);
		if (t != TOK_WORD || !spdx_idstring(w, n)) {
			s->why = "an exception identifier is missing after WITH";
			return false;
		}
		spdx_skip(s, t, n);
	}
	return true;
}

static bool spdx_and(struct spdx *s, const char *first_why)
{
	const char *w = NULL;
	size_t n = 0;
	if (!spdx_primary(s, first_why))
		return false;
	while (spdx_peek(s, &w, &n) == TOK_AND) {
		spdx_skip(s, TOK_AND, n);
		if (!spdx_primary(s, "a license is missing after AND"))
			return false;
	}
	return true;
}

static bool spdx_or(struct spdx *s)
{
	const char *w = NULL;
	size_t n = 0;
	if (!spdx_and(s, "a license is missing"))
		return false;
	while (spdx_peek(s, &w, &n) == TOK_OR) {
		spdx_skip(s, TOK_OR, n);
		if (!spdx_and(s, "a license is missing after OR"))
			return false;
	}
	return true;
}

/* NULL when s is a well-formed SPDX expression, else why not. */
static const char *spdx_problem(const char *s)
{
	struct spdx p = {s, NULL, 0};
	const char *w = NULL;
	size_t n = 0;

	for (const char *q = s; *q; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
			return "only ASCII letters, digits, \"-\", \".\", \"+\", \":\", spaces and "
			       "parentheses";
	if (!spdx_or(&p))
		return p.why;
	enum spdx_tok t = spdx_peek(&p, &w, &n);
	if (t == TOK_CLOSE)
		return "a \")\" has no matching \"(\"";
	if (t != TOK_END)
		return "AND, OR or WITH is missing between licenses";
	return NULL;
}

/* ---- checking the tree ---- */

static int want_kind(struct ctx *c, const struct node *n, enum node_kind kind, const char *what)
{
	if (n->kind == kind && !(kind == NODE_SCALAR && n->is_null))
		return 0;
	return fail(c, n, FERRY_E_INVALID, "expected %s; %s", what, GOT(n));
}

static int dup_string(struct ctx *c, const char *s, char **out)
{
	free(*out);
	*out = strdup(s);
	return *out ? 0 : oom(c);
}

/* Find key i of map n in allowed; errors for a duplicate or unknown key. */
static int key_index(struct ctx *c, const struct node *map, size_t i, const char *const *allowed,
                     const char *unknown_what, int *idx)
{
	const struct node *k = map->kids[i];
	for (size_t j = 0; j < i; j += 2)
		if (strcmp(map->kids[j]->str, k->str) == 0) {
			size_t saved = path_push(c, k->str);
			int rc = fail(c, k, FERRY_E_INVALID, "duplicate key (first at line %u)",
			              map->kids[j]->line);
			path_pop(c, saved);
			return rc;
		}
	if (!allowed) {
		*idx = -1;
		return 0;
	}
	for (int a = 0; allowed[a]; a++)
		if (strcmp(allowed[a], k->str) == 0) {
			*idx = a;
			return 0;
		}
	size_t saved = path_push(c, k->str);
	const char *near = str_did_you_mean(k->str, allowed);
	int rc;
	if (near) {
		rc = fail(c, k, FERRY_E_INVALID, "unknown %s; did you mean \"%s\"?", unknown_what,
		          near);
	} else {
		char list[512];
		size_t o = 0;
		for (int a = 0; allowed[a] && o < sizeof(list); a++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", a ? ", " : "",
			                      allowed[a]);
		rc = fail(c, k, FERRY_E_INVALID, "unknown %s; expected one of %s", unknown_what,
		          list);
	}
	path_pop(c, saved);
	return rc;
}

static int missing(struct ctx *c, const struct node *map, const char *key)
{
	size_t saved = path_push(c, key);
	int rc = fail(c, map, FERRY_E_INVALID, "required key is missing");
	path_pop(c, saved);
	return rc;
}

static int get_enum(struct ctx *c, const struct node *n, const char *const *names, int *out)
{
	char list[256];
	size_t o = 0;
	for (int a = 0; names[a] && o < sizeof(list); a++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", a ? ", " : "", names[a]);
	if (n->kind == NODE_SCALAR && !n->is_null)
		for (int a = 0; names[a]; a++)
			if (strcmp(names[a], n->str) == 0) {
				*out = a;
				return 0;
			}
	return fail(c, n, FERRY_E_INVALID, "expected one of %s; %s", list, GOT(n));
}

static int get_duration(struct ctx *c, const struct node *n, unsigned long long min_ms,
                        uint64_t *out)
{
	unsigned long long ms = 0;
	if (n->kind != NODE_SCALAR || n->is_null ||
	    str_parse_duration_ms(n->str, MANIFEST_DURATION_MAX_MS, &ms) < 0 || ms < min_ms)
		return fail(c, n, FERRY_E_INVALID,
		            "expected a duration from %s to 1h, such as 500ms, 30s, 5m or 1h; %s",
		            min_ms ? "1ms" : "0s", GOT(n));
	*out = ms;
	return 0;
}

/* A name under the package-name rule with min characters (1 or 2). */
static int check_name(struct ctx *c, const struct node *n, size_t min, const char *what)
{
	int rc = want_kind(c, n, NODE_SCALAR, what);
	if (rc < 0)
		return rc;
	const char *why = pkg_name_problem(n->str, min);
	if (why)
		return fail(c, n, FERRY_E_INVALID, "expected %s: %s; %s", what, why, GOT(n));
	return 0;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

typedef int (*item_check_fn)(struct ctx *c, const struct node *item);

/* A list of unique strings, each passing check; NULL-terminated copy in out. */
static int get_string_list(struct ctx *c, const struct node *n, const char *what,
                           item_check_fn check, bool allow_empty, char ***out, size_t *count)
{
	int rc;
	if (n->kind != NODE_LIST)
		return fail(c, n, FERRY_E_INVALID, "expected a list of %s; %s", what, GOT(n));
	if (n->n == 0 && !allow_empty)
		return fail(c, n, FERRY_E_INVALID, "expected a list of %s; got an empty list",
		            what);
	char **v = calloc(n->n + 1, sizeof(*v));
	if (!v)
		return oom(c);
	for (size_t i = 0; i < n->n; i++) {
		const struct node *it = n->kids[i];
		size_t saved = path_push_index(c, i);
		rc = want_kind(c, it, NODE_SCALAR, what);
		if (rc == 0)
			rc = check(c, it);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(n->kids[j]->str, it->str) == 0)
				rc = fail(c, it, FERRY_E_INVALID,
				          "\"%s\" is listed twice (first at line %u)", v[j],
				          n->kids[j]->line);
		path_pop(c, saved);
		if (rc == 0 && !(v[i] = strdup(it->str)))
			rc = oom(c);
		if (rc < 0) {
			strv_free(v);
			return rc;
		}
	}
	strv_free(*out);
	*out = v;
	*count = n->n;
	return 0;
}

static int check_plug_ref(struct ctx *c, const struct node *it)
{
	return check_name(c, it, PKG_NAME_MIN, "a plug name");
}

/* ---- top-level fields ---- */

static int field_name(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = check_name(c, v, PKG_NAME_MIN, "a package name");
	return rc < 0 ? rc : dup_string(c, v->str, &m->name);
}

static int field_version(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_SCALAR, "a version");
	if (rc < 0)
		return rc;
	if (!valid_version(v->str))
		return fail(c, v, FERRY_E_INVALID,
		            "expected 1 to 32 letters, digits, \".\", \"+\", \"~\" and \"-\", "
		            "starting with a "
		            "letter or digit; %s",
		            GOT(v));
	return dup_string(c, v->str, &m->version);
}

static int field_summary(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_SCALAR, "a one-line summary");
	if (rc < 0)
		return rc;
	size_t n = utf8_chars(v->str);
	if (n < 1 || n > MANIFEST_SUMMARY_MAX || !clean_text(v->str, false))
		return fail(c, v, FERRY_E_INVALID, "expected one line of 1 to %d characters; %s",
		            MANIFEST_SUMMARY_MAX, n ? GOT(v) : "got an empty string");
	return dup_string(c, v->str, &m->summary);
}

static int field_description(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_SCALAR, "a description");
	if (rc < 0)
		return rc;
	if (v->len > MANIFEST_DESCRIPTION_MAX || !clean_text(v->str, true))
		return fail(c, v, FERRY_E_INVALID,
		            "expected text of at most %d bytes without control characters; %s",
		            MANIFEST_DESCRIPTION_MAX, GOT(v));
	return dup_string(c, v->str, &m->description);
}

static int field_license(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_SCALAR, "an SPDX license expression");
	if (rc < 0)
		return rc;
	const char *why = v->len > MANIFEST_LICENSE_MAX ? "too long" : spdx_problem(v->str);
	if (why)
		return fail(
		    c, v, FERRY_E_INVALID,
		    "expected an SPDX license expression such as \"MIT\" or \"GPL-2.0-only OR "
		    "Apache-2.0\" (%s); %s",
		    why, GOT(v));
	return dup_string(c, v->str, &m->license);
}

static const char *const known_arches[] = {
    "all",     "amd64",    "arm64",   "armel",   "armhf", "i386",
    "loong64", "mips64el", "ppc64el", "riscv64", "s390x", NULL,
};

static int check_arch(struct ctx *c, const struct node *it)
{
	for (size_t i = 0; known_arches[i]; i++)
		if (strcmp(known_arches[i], it->str) == 0)
			return 0;
	const char *near = str_did_you_mean(it->str, known_arches);
	if (near) {
		char q[SHOW_MAX * 4 + 16];
		show(it->str, q, sizeof(q));
		return fail(c, it, FERRY_E_INVALID, "unknown architecture %s; did you mean \"%s\"?",
		            q, near);
	}
	return fail(
	    c, it, FERRY_E_INVALID,
	    "expected a Debian architecture (all, amd64, arm64, armel, armhf, i386, loong64, "
	    "mips64el, ppc64el, riscv64, s390x); %s",
	    GOT(it));
}

static int field_architectures(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = get_string_list(c, v, "architectures", check_arch, false, &m->architectures,
	                         &m->n_architectures);
	if (rc < 0)
		return rc;
	m->architectures_default = false;
	if (m->n_architectures > 1)
		for (size_t i = 0; i < m->n_architectures; i++)
			if (strcmp(m->architectures[i], "all") == 0) {
				size_t saved = path_push_index(c, i);
				rc = fail(c, v->kids[i], FERRY_E_INVALID,
				          "\"all\" must be the only architecture when listed");
				path_pop(c, saved);
				return rc;
			}
	return 0;
}

static const char *const confinement_names[] = {"strict", "devmode", NULL};
static const char *const grade_names[] = {"stable", "devel", NULL};
static const char *const daemon_names[] = {"simple", "oneshot", "notify", "forking", NULL};
static const char *const restart_names[] = {"on-failure", "always", "never", NULL};
static const char *const hook_names[] = {"install",      "configure", "pre-refresh", "post-refresh",
                                         "check-health", "remove",    NULL};

static int check_command(struct ctx *c, const struct node *v)
{
	if (!valid_rel_path(v->str, COMMAND_MAX))
		return fail(
		    c, v, FERRY_E_INVALID,
		    "expected a relative path inside the package, such as bin/server (no leading "
		    "\"/\", no \"..\", no spaces; put arguments in a script); %s",
		    GOT(v));
	return 0;
}

static int get_env(struct ctx *c, const struct node *v, struct manifest_env **out, size_t *count)
{
	if (v->kind != NODE_MAP)
		return fail(c, v, FERRY_E_INVALID, "expected a map of NAME: value; %s", GOT(v));
	struct manifest_env *env = calloc(v->n / 2 + 1, sizeof(*env));
	size_t n = 0;
	int rc = 0;
	if (!env)
		return oom(c);
	for (size_t i = 0; rc == 0 && i < v->n; i += 2) {
		const struct node *k = v->kids[i], *val = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, NULL, NULL, &idx)) < 0)
			break;
		size_t saved = path_push(c, k->str);
		if (!valid_env_key(k->str))
			rc = fail(c, k, FERRY_E_INVALID,
			          "expected a variable name of letters, digits and \"_\" (at most "
			          "%d, not "
			          "starting with a digit); %s",
			          ENV_KEY_MAX, GOT(k));
		else if (val->kind != NODE_SCALAR)
			rc = fail(c, val, FERRY_E_INVALID, "expected a string; %s", GOT(val));
		else if (!clean_text(val->str, false))
			rc = fail(c, val, FERRY_E_INVALID,
			          "expected one line without control characters; %s", GOT(val));
		path_pop(c, saved);
		if (rc == 0) {
			env[n].key = strdup(k->str);
			env[n].value = strdup(val->is_null ? "" : val->str);
			n++;
			if (!env[n - 1].key || !env[n - 1].value)
				rc = oom(c);
		}
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			free(env[i].key);
			free(env[i].value);
		}
		free(env);
		return rc;
	}
	*out = env;
	*count = n;
	return 0;
}

static const char *const limit_keys[] = {"memory", "cpu", "pids", NULL};

/* limits: {memory: 256M, cpu: 50%, pids: 64} */
static int get_limits(struct ctx *c, const struct node *v, struct manifest_limits *l)
{
	int rc = want_kind(c, v, NODE_MAP, "a map with memory, cpu or pids");
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *val = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, limit_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = path_push(c, v->kids[i]->str);
		const char *s = val->kind == NODE_SCALAR && !val->is_null ? val->str : "";
		size_t n = strlen(s);
		char num[24];
		unsigned long long x = 0, mult = 1;
		bool ok = n > 0 && n < sizeof(num);
		if (ok)
			memcpy(num, s, n + 1);
		if (idx == 0) {
			const char *units = "KMGT";
			const char *u = ok ? strchr(units, num[n - 1]) : NULL;
			if (u && num[n - 1]) {
				mult = 1ull << (10 * (u - units + 1));
				num[--n] = '\0';
			}
			ok = ok && n > 0 && str_to_u64(num, MANIFEST_MEMORY_MAX, &x) == 0 &&
			     x <= MANIFEST_MEMORY_MAX / mult && x * mult >= MANIFEST_MEMORY_MIN;
			if (!ok)
				rc = fail(
				    c, val, FERRY_E_INVALID,
				    "expected a size from 4M to 1T, in bytes or with K, M, G or T "
				    "(powers of 1024), such as 256M; %s",
				    GOT(val));
			else
				l->memory = x * mult;
		} else if (idx == 1) {
			ok = ok && n > 1 && num[n - 1] == '%';
			if (ok)
				num[--n] = '\0';
			ok = ok && str_to_u64(num, MANIFEST_CPU_MAX, &x) == 0 && x > 0;
			if (!ok)
				rc = fail(c, val, FERRY_E_INVALID,
				          "expected a percentage of one CPU from 1%% to 100000%%, "
				          "such as "
				          "50%% or 200%% (two CPUs); %s",
				          GOT(val));
			else
				l->cpu_percent = x;
		} else {
			ok = ok && str_to_u64(num, MANIFEST_PIDS_MAX, &x) == 0 && x > 0;
			if (!ok)
				rc = fail(c, val, FERRY_E_INVALID,
				          "expected a number of processes and threads from 1 to "
				          "4194304; %s",
				          GOT(val));
			else
				l->pids = x;
		}
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct manifest_limits manifest_limits_of(const struct manifest *m, const struct manifest_app *a)
{
	struct manifest_limits l = m->limits;
	if (a) {
		if (a->limits.memory)
			l.memory = a->limits.memory;
		if (a->limits.cpu_percent)
			l.cpu_percent = a->limits.cpu_percent;
		if (a->limits.pids)
			l.pids = a->limits.pids;
	}
	return l;
}

static const char *const app_keys[] = {"command",       "daemon",       "restart",
                                       "restart-delay", "stop-timeout", "plugs",
                                       "environment",   "limits",       NULL};

static int parse_app(struct ctx *c, const struct node *map, struct manifest_app *app)
{
	int rc = want_kind(c, map, NODE_MAP, "a map with at least command");
	const struct node *restart_key = NULL;
	if (rc < 0)
		return rc;
	app->restart_delay_ms = DEFAULT_RESTART_DELAY_MS;
	app->stop_timeout_ms = DEFAULT_STOP_TIMEOUT_MS;
	for (size_t i = 0; i < map->n; i += 2) {
		const struct node *k = map->kids[i], *v = map->kids[i + 1];
		int idx, e = 0;
		if ((rc = key_index(c, map, i, app_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = path_push(c, k->str);
		switch (idx) {
		case 0:
			rc = want_kind(c, v, NODE_SCALAR, "a relative path inside the package");
			if (rc == 0)
				rc = check_command(c, v);
			if (rc == 0)
				rc = dup_string(c, v->str, &app->command);
			break;
		case 1:
			rc = get_enum(c, v, daemon_names, &e);
			app->daemon = (enum manifest_daemon)(e + 1);
			break;
		case 2:
			rc = get_enum(c, v, restart_names, &e);
			app->restart = (enum manifest_restart)e;
			restart_key = restart_key ? restart_key : k;
			break;
		case 3:
			rc = get_duration(c, v, 0, &app->restart_delay_ms);
			restart_key = restart_key ? restart_key : k;
			break;
		case 4:
			rc = get_duration(c, v, 1, &app->stop_timeout_ms);
			restart_key = restart_key ? restart_key : k;
			break;
		case 5:
			rc = get_string_list(c, v, "plug names", check_plug_ref, true, &app->plugs,
			                     &app->n_plugs);
			break;
		case 6:
			rc = get_env(c, v, &app->env, &app->n_env);
			break;
		case 7:
			rc = get_limits(c, v, &app->limits);
			break;
		}
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	if (!app->command)
		return missing(c, map, "command");
	if (restart_key && app->daemon == DAEMON_NONE) {
		size_t saved = path_push(c, restart_key->str);
		rc = fail(
		    c, restart_key, FERRY_E_INVALID,
		    "only allowed for a daemon; add daemon: simple (or oneshot, notify, forking)");
		path_pop(c, saved);
		return rc;
	}
	return 0;
}

static void app_clear(struct manifest_app *a)
{
	free(a->name);
	free(a->command);
	strv_free(a->plugs);
	for (size_t i = 0; i < a->n_env; i++) {
		free(a->env[i].key);
		free(a->env[i].value);
	}
	free(a->env);
}

static int field_apps(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_MAP, "a map of app names to apps");
	if (rc < 0)
		return rc;
	m->apps = calloc(v->n / 2 + 1, sizeof(*m->apps));
	if (!m->apps)
		return oom(c);
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *k = v->kids[i];
		int idx;
		if ((rc = key_index(c, v, i, NULL, NULL, &idx)) < 0)
			return rc;
		const char *why = pkg_name_problem(k->str, PKG_APP_NAME_MIN);
		if (why)
			return fail(c, k, FERRY_E_INVALID, "expected an app name: %s; %s", why,
			            GOT(k));
		struct manifest_app *app = &m->apps[m->n_apps++];
		if (!(app->name = strdup(k->str)))
			return oom(c);
		size_t saved = path_push(c, k->str);
		rc = parse_app(c, v->kids[i + 1], app);
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const char *const hook_keys[] = {"plugs", NULL};

static int field_hooks(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_MAP, "a map of hook names");
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *k = v->kids[i], *h = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, hook_names, "hook", &idx)) < 0)
			return rc;
		struct manifest_hook_def *def = &m->hooks[idx];
		def->present = true;
		size_t saved = path_push(c, k->str);
		if (h->kind == NODE_SCALAR && h->is_null) {
			path_pop(c, saved);
			continue;
		}
		rc = want_kind(c, h, NODE_MAP, "an empty map or a map with plugs");
		for (size_t j = 0; rc == 0 && j < h->n; j += 2) {
			int hidx;
			if ((rc = key_index(c, h, j, hook_keys, "key", &hidx)) < 0)
				break;
			size_t s2 = path_push(c, h->kids[j]->str);
			rc = get_string_list(c, h->kids[j + 1], "plug names", check_plug_ref, true,
			                     &def->plugs, &def->n_plugs);
			path_pop(c, s2);
		}
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const char *const health_keys[] = {"grace", "timeout", NULL};

static int field_health(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_MAP, "a map with grace and timeout");
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < v->n; i += 2) {
		int idx;
		if ((rc = key_index(c, v, i, health_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = path_push(c, v->kids[i]->str);
		if (idx == 0)
			rc = get_duration(c, v->kids[i + 1], 0, &m->health_grace_ms);
		else
			rc = get_duration(c, v->kids[i + 1], 1, &m->health_timeout_ms);
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void plug_clear(struct manifest_plug *p)
{
	free(p->name);
	free(p->interface);
	for (size_t i = 0; i < p->n_attrs; i++) {
		free(p->attrs[i].key);
		free(p->attrs[i].value);
	}
	free(p->attrs);
}

/* The body of one plug or slot in map form: null, an interface name, or a
 * map with an optional interface and string attributes. */
static int parse_plug_body(struct ctx *c, const struct node *v, struct manifest_plug *p)
{
	int rc;
	if (v->kind == NODE_SCALAR) {
		if (v->is_null)
			return dup_string(c, p->name, &p->interface);
		if ((rc = check_name(c, v, PKG_NAME_MIN, "an interface name")) < 0)
			return rc;
		return dup_string(c, v->str, &p->interface);
	}
	if (v->kind != NODE_MAP)
		return fail(c, v, FERRY_E_INVALID,
		            "expected an interface name or a map of attributes; %s", GOT(v));
	p->attrs = calloc(v->n / 2 + 1, sizeof(*p->attrs));
	if (!p->attrs)
		return oom(c);
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *k = v->kids[i], *a = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, NULL, NULL, &idx)) < 0)
			return rc;
		size_t saved = path_push(c, k->str);
		if (strcmp(k->str, "interface") == 0) {
			rc = check_name(c, a, PKG_NAME_MIN, "an interface name");
			if (rc == 0)
				rc = dup_string(c, a->str, &p->interface);
		} else if (pkg_name_problem(k->str, PKG_APP_NAME_MIN)) {
			rc = fail(c, k, FERRY_E_INVALID, "expected an attribute name: %s; %s",
			          pkg_name_problem(k->str, PKG_APP_NAME_MIN), GOT(k));
		} else if (a->kind != NODE_SCALAR || a->is_null) {
			rc = fail(c, a, FERRY_E_INVALID, "expected a string; %s", GOT(a));
		} else if (!clean_text(a->str, false)) {
			rc = fail(c, a, FERRY_E_INVALID,
			          "expected one line without control characters; %s", GOT(a));
		} else {
			struct manifest_env *e = &p->attrs[p->n_attrs++];
			if (!(e->key = strdup(k->str)) || !(e->value = strdup(a->str)))
				rc = oom(c);
		}
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	if (!p->interface)
		return dup_string(c, p->name, &p->interface);
	return 0;
}

/* plugs or slots: a map (name: body) or a list of names. */
static int get_plugs(struct ctx *c, const struct node *v, const char *what,
                     struct manifest_plug **out, size_t *count)
{
	int rc;
	if (v->kind == NODE_SCALAR)
		return fail(c, v, FERRY_E_INVALID, "expected a map or a list of %s names; %s", what,
		            GOT(v));
	size_t n = v->kind == NODE_MAP ? v->n / 2 : v->n;
	*out = calloc(n + 1, sizeof(**out));
	if (!*out)
		return oom(c);
	for (size_t i = 0; i < n; i++) {
		struct manifest_plug *p = &(*out)[(*count)++];
		const struct node *k = v->kind == NODE_MAP ? v->kids[2 * i] : v->kids[i];
		size_t saved = v->kind == NODE_MAP ? c->plen : path_push_index(c, i);
		int idx;
		if (v->kind == NODE_MAP)
			rc = key_index(c, v, 2 * i, NULL, NULL, &idx);
		else
			rc = want_kind(c, k, NODE_SCALAR, "a name");
		if (rc == 0)
			rc = check_name(c, k, PKG_NAME_MIN,
			                strcmp(what, "plug") == 0 ? "a plug name" : "a slot name");
		for (size_t j = 0; rc == 0 && v->kind == NODE_LIST && j < i; j++)
			if (strcmp(v->kids[j]->str, k->str) == 0)
				rc = fail(c, k, FERRY_E_INVALID,
				          "\"%s\" is listed twice (first at line %u)", k->str,
				          v->kids[j]->line);
		if (rc == 0 && !(p->name = strdup(k->str)))
			rc = oom(c);
		if (rc == 0 && v->kind == NODE_LIST)
			rc = dup_string(c, p->name, &p->interface);
		path_pop(c, saved);
		if (rc == 0 && v->kind == NODE_MAP) {
			saved = path_push(c, k->str);
			rc = parse_plug_body(c, v->kids[2 * i + 1], p);
			path_pop(c, saved);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int field_plugs(struct ctx *c, const struct node *v, struct manifest *m)
{
	return get_plugs(c, v, "plug", &m->plugs, &m->n_plugs);
}

static int field_slots(struct ctx *c, const struct node *v, struct manifest *m)
{
	return get_plugs(c, v, "slot", &m->slots, &m->n_slots);
}

static int check_apt(struct ctx *c, const struct node *it)
{
	if (!valid_apt(it->str))
		return fail(c, it, FERRY_E_INVALID,
		            "expected a Debian package as NAME or NAME=VERSION (such as libssl3 or "
		            "libssl3=3.0.11-1~deb12u2); %s",
		            GOT(it));
	return 0;
}

static int check_prime(struct ctx *c, const struct node *it)
{
	const char *s = it->str[0] == '-' ? it->str + 1 : it->str;
	if (!valid_rel_path(s, PRIME_MAX))
		return fail(
		    c, it, FERRY_E_INVALID,
		    "expected a relative path or pattern inside the package, \"-\" in front to "
		    "exclude (such as usr/bin/* or -usr/share/doc); %s",
		    GOT(it));
	return 0;
}

static const char *const part_keys[] = {"stage-packages", "prime", NULL};

static int field_parts(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_MAP, "a map of part names to parts");
	if (rc < 0)
		return rc;
	m->parts = calloc(v->n / 2 + 1, sizeof(*m->parts));
	if (!m->parts)
		return oom(c);
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *k = v->kids[i], *p = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, NULL, NULL, &idx)) < 0)
			return rc;
		const char *why = pkg_name_problem(k->str, PKG_APP_NAME_MIN);
		if (why)
			return fail(c, k, FERRY_E_INVALID, "expected a part name: %s; %s", why,
			            GOT(k));
		struct manifest_part *part = &m->parts[m->n_parts++];
		if (!(part->name = strdup(k->str)))
			return oom(c);
		size_t saved = path_push(c, k->str);
		rc = want_kind(c, p, NODE_MAP, "a map with stage-packages and prime");
		for (size_t j = 0; rc == 0 && j < p->n; j += 2) {
			if ((rc = key_index(c, p, j, part_keys, "key", &idx)) < 0)
				break;
			size_t s2 = path_push(c, p->kids[j]->str);
			if (idx == 0)
				rc = get_string_list(c, p->kids[j + 1], "Debian packages",
				                     check_apt, true, &part->stage_packages,
				                     &part->n_stage_packages);
			else
				rc = get_string_list(c, p->kids[j + 1], "paths", check_prime, true,
				                     &part->prime, &part->n_prime);
			path_pop(c, s2);
		}
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const char *const component_keys[] = {"name", "version", "purl", NULL};

static int parse_component(struct ctx *c, const struct node *map, struct manifest_component *comp)
{
	int rc = want_kind(c, map, NODE_MAP, "a map with name, version and purl");
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < map->n; i += 2) {
		const struct node *v = map->kids[i + 1];
		int idx;
		if ((rc = key_index(c, map, i, component_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = path_push(c, map->kids[i]->str);
		rc = want_kind(c, v, NODE_SCALAR, "a string");
		if (rc == 0 && idx == 0 && !graph_ascii(v->str, 1, COMPONENT_NAME_MAX))
			rc = fail(c, v, FERRY_E_INVALID,
			          "expected 1 to %d printable ASCII characters without spaces; %s",
			          COMPONENT_NAME_MAX, GOT(v));
		if (rc == 0 && idx == 1 && !graph_ascii(v->str, 1, COMPONENT_VERSION_MAX))
			rc = fail(c, v, FERRY_E_INVALID,
			          "expected 1 to %d printable ASCII characters without spaces; %s",
			          COMPONENT_VERSION_MAX, GOT(v));
		if (rc == 0 && idx == 2 && !valid_purl(v->str))
			rc = fail(c, v, FERRY_E_INVALID,
			          "expected a package URL such as pkg:npm/left-pad@1.3.0; %s",
			          GOT(v));
		if (rc == 0)
			rc = dup_string(c, v->str,
			                idx == 0   ? &comp->name
			                : idx == 1 ? &comp->version
			                           : &comp->purl);
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	if (!comp->name)
		return missing(c, map, "name");
	if (!comp->version)
		return missing(c, map, "version");
	return 0;
}

static int field_components(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_LIST, "a list of components");
	if (rc < 0)
		return rc;
	m->components = calloc(v->n + 1, sizeof(*m->components));
	if (!m->components)
		return oom(c);
	for (size_t i = 0; i < v->n; i++) {
		size_t saved = path_push_index(c, i);
		rc = parse_component(c, v->kids[i], &m->components[m->n_components++]);
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int field_confinement(struct ctx *c, const struct node *v, struct manifest *m)
{
	int e = 0;
	int rc = get_enum(c, v, confinement_names, &e);
	m->confinement = (enum manifest_confinement)e;
	return rc;
}

static int field_grade(struct ctx *c, const struct node *v, struct manifest *m)
{
	int e = 0;
	int rc = get_enum(c, v, grade_names, &e);
	m->grade = (enum manifest_grade)e;
	return rc;
}

static int field_limits(struct ctx *c, const struct node *v, struct manifest *m)
{
	return get_limits(c, v, &m->limits);
}

typedef int (*field_fn)(struct ctx *c, const struct node *v, struct manifest *m);

static const char *const top_keys[] = {
    "name",        "version", "summary",    "description", "license", "architectures",
    "confinement", "grade",   "apps",       "hooks",       "health",  "plugs",
    "slots",       "parts",   "components", "limits",      NULL,
};

static const field_fn top_fields[] = {
    field_name,    field_version,       field_summary,     field_description,
    field_license, field_architectures, field_confinement, field_grade,
    field_apps,    field_hooks,         field_health,      field_plugs,
    field_slots,   field_parts,         field_components,  field_limits,
};

static int check_manifest(struct ctx *c, const struct node *root, struct manifest *m)
{
	int rc;
	if (root->kind != NODE_MAP)
		return fail(c, root, FERRY_E_INVALID,
		            "expected a map with at least name, version and summary; %s",
		            GOT(root));
	for (size_t i = 0; i < root->n; i += 2) {
		int idx;
		if ((rc = key_index(c, root, i, top_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = path_push(c, root->kids[i]->str);
		rc = top_fields[idx](c, root->kids[i + 1], m);
		path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	if (!m->name)
		return missing(c, root, "name");
	if (!m->version)
		return missing(c, root, "version");
	if (!m->summary)
		return missing(c, root, "summary");

	/* a name is a plug or a slot, not both */
	for (size_t i = 0; i < m->n_slots; i++)
		for (size_t j = 0; j < m->n_plugs; j++)
			if (strcmp(m->slots[i].name, m->plugs[j].name) == 0) {
				const struct node *slots = NULL;
				for (size_t k = 0; k < root->n; k += 2)
					if (strcmp(root->kids[k]->str, "slots") == 0)
						slots = root->kids[k + 1];
				size_t saved = path_push(c, "slots");
				rc = fail(c, slots, FERRY_E_INVALID,
				          "\"%s\" is already the name of a plug", m->slots[i].name);
				path_pop(c, saved);
				return rc;
			}

	if (!m->architectures) {
		m->architectures = calloc(2, sizeof(char *));
		if (!m->architectures ||
		    !(m->architectures[0] = strdup(manifest_host_architecture())))
			return oom(c);
		m->n_architectures = 1;
		m->architectures_default = true;
	}
	return 0;
}

/* ---- public ---- */

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->version);
	free(m->summary);
	free(m->description);
	free(m->license);
	strv_free(m->architectures);
	for (size_t i = 0; i < m->n_apps; i++)
		app_clear(&m->apps[i]);
	free(m->apps);
	for (size_t i = 0; i < HOOK__COUNT; i++)
		strv_free(m->hooks[i].plugs);
	for (size_t i = 0; i < m->n_plugs; i++)
		plug_clear(&m->plugs[i]);
	free(m->plugs);
	for (size_t i = 0; i < m->n_slots; i++)
		plug_clear(&m->slots[i]);
	free(m->slots);
	for (size_t i = 0; i < m->n_parts; i++) {
		free(m->parts[i].name);
		strv_free(m->parts[i].stage_packages);
		strv_free(m->parts[i].prime);
	}
	free(m->parts);
	for (size_t i = 0; i < m->n_components; i++) {
		free(m->components[i].name);
		free(m->components[i].version);
		free(m->components[i].purl);
	}
	free(m->components);
	free(m);
}

int manifest_parse(const char *data, size_t len, const char *filename, struct manifest **out,
                   ferry_error *err)
{
	if (!data) { /* libyaml asserts on a NULL input, even an empty one */
		data = "";
		len = 0;
	}
	struct ctx c = {
	    .file = filename ? filename : "meta/ferry.yaml", .err = err, .data = data, .len = len};
	yaml_parser_t parser;
	struct node *root = NULL;
	int rc;

	*out = NULL;
	if (len > MANIFEST_MAX_BYTES)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s: %zu bytes; a manifest may have at most %u", c.file, len,
		                       MANIFEST_MAX_BYTES);
	if (!yaml_parser_initialize(&parser))
		return oom(&c);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	c.parser = &parser;
	rc = build_tree(&c, &root);
	yaml_parser_delete(&parser);
	if (rc < 0)
		return rc;

	struct manifest *m = calloc(1, sizeof(*m));
	if (!m) {
		node_free(root);
		return oom(&c);
	}
	m->health_grace_ms = DEFAULT_HEALTH_GRACE_MS;
	m->health_timeout_ms = DEFAULT_HEALTH_TIMEOUT_MS;
	rc = check_manifest(&c, root, m);
	node_free(root);
	if (rc < 0) {
		manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int manifest_load(const char *path, struct manifest **out, ferry_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;

	*out = NULL;
	int rc = fs_read_file(path, MANIFEST_MAX_BYTES, &data, &len, err);
	if (rc < 0)
		return rc;
	return manifest_parse(data, len, path, out, err);
}

const char *manifest_hook_name(enum manifest_hook h)
{
	return (unsigned)h < HOOK__COUNT ? hook_names[h] : NULL;
}

const char *manifest_daemon_name(enum manifest_daemon d)
{
	return d >= DAEMON_SIMPLE && d <= DAEMON_FORKING ? daemon_names[d - 1] : NULL;
}

const char *manifest_restart_name(enum manifest_restart r)
{
	return (unsigned)r <= RESTART_NEVER ? restart_names[r] : NULL;
}

const char *manifest_confinement_name(enum manifest_confinement cf)
{
	return (unsigned)cf <= CONFINEMENT_DEVMODE ? confinement_names[cf] : NULL;
}

const char *manifest_grade_name(enum manifest_grade g)
{
	return (unsigned)g <= GRADE_DEVEL ? grade_names[g] : NULL;
}

const char *manifest_host_architecture(void)
{
#if defined(__x86_64__) && !defined(__ILP32__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
	return "armhf";
#elif defined(__arm__)
	return "armel";
#elif defined(__i386__)
	return "i386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64el";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__loongarch64)
	return "loong64";
#elif defined(__mips64) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "mips64el";
#else
#error "unknown architecture: add its Debian name to manifest_host_architecture()"
#endif
}

/* Lines that start with "# " and a word are prose; every other "#" line is
 * a field left commented out, written so that removing its "#" gives valid
 * YAML (the unit tests do exactly that). */
#define TEMPLATE                                                                                   \
	"# meta/ferry.yaml: what ferry pack puts in the package %1$s.\n"                           \
	"# Every field is described in ferry's docs/formats/manifest.md.\n"                        \
	"\n"                                                                                       \
	"# Required: the package name (2 to 40 lowercase letters, digits, hyphens),\n"             \
	"# your own version string, and one line for the store.\n"                                 \
	"name: %1$s\n"                                                                             \
	"version: \"0.1\"\n"                                                                       \
	"summary: One line that says what %1$s does\n"                                             \
	"description: |\n"                                                                         \
	"  A few lines for people deciding whether to install it.\n"                               \
	"license: Apache-2.0\n"                                                                    \
	"\n"                                                                                       \
	"# Default: the architecture of the machine that runs ferry pack.\n"                       \
	"#architectures: [amd64, arm64]\n"                                                         \
	"\n"                                                                                       \
	"# strict: the apps run confined. devmode: for development only.\n"                        \
	"confinement: strict\n"                                                                    \
	"# stable, or devel for a build not meant for the stable channel yet.\n"                   \
	"grade: devel\n"                                                                           \
	"\n"                                                                                       \
	"apps:\n"                                                                                  \
	"  %1$s:\n"                                                                                \
	"    # A path inside the package, run as NAME.APP (or NAME when APP is NAME).\n"           \
	"    command: bin/%1$s\n"                                                                  \
	"    # Uncomment to run it as a service, restarted when it fails.\n"                       \
	"#    daemon: simple\n"                                                                    \
	"#    restart: on-failure\n"                                                               \
	"#    restart-delay: 1s\n"                                                                 \
	"#    stop-timeout: 10s\n"                                                                 \
	"#    plugs: [network, network-bind]\n"                                                    \
	"#    environment:\n"                                                                      \
	"#      LOG_LEVEL: info\n"                                                                 \
	"\n"                                                                                       \
	"# Programs under meta/hooks/ that ferryd runs at steps of the package's life.\n"          \
	"#hooks:\n"                                                                                \
	"#  check-health: {}\n"                                                                    \
	"#  post-refresh:\n"                                                                       \
	"#    plugs: [network]\n"                                                                  \
	"\n"                                                                                       \
	"# After a refresh, daemons must stay up for grace and check-health must\n"                \
	"# succeed within timeout, or ferryd goes back to the previous revision.\n"                \
	"#health:\n"                                                                               \
	"#  grace: 30s\n"                                                                          \
	"#  timeout: 30s\n"                                                                        \
	"\n"                                                                                       \
	"# Debian packages to bundle, and which of their files to keep.\n"                         \
	"#parts:\n"                                                                                \
	"#  deps:\n"                                                                               \
	"#    stage-packages: [libssl3, zlib1g]\n"                                                 \
	"#    prime: [\"-usr/share/doc\", \"-usr/share/man\"]\n"                                   \
	"\n"                                                                                       \
	"# Libraries bundled some other way, so the store can watch them for\n"                    \
	"# known vulnerabilities.\n"                                                               \
	"#components:\n"                                                                           \
	"#  - name: left-pad\n"                                                                    \
	"#    version: 1.3.0\n"                                                                    \
	"#    purl: pkg:npm/left-pad@1.3.0\n"

char *manifest_template(const char *name)
{
	if (!pkg_name_valid(name))
		return NULL;
	return str_dup_printf(TEMPLATE, name);
}
