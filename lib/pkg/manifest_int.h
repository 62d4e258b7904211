/* manifest_int.h: what the manifest reader's files share: the YAML tree
 * (manifest_tree.c builds it, manifest.c checks it), the parse context with
 * its field path and messages, and the small grammars of manifest values
 * (manifest_grammar.c). Not a public interface: only lib/pkg/manifest*.c
 * include it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "base/error.h"
#include "pkg/manifest.h"

#define PATH_BUF 320 /* the field path shown in messages */
#define SHOW_MAX 64  /* characters of a value quoted in a message */
#define ENV_KEY_MAX 64

/* ---- the tree (manifest_tree.c) ---- */

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

struct ctx {
	const char *file;
	ferry_error *err;
	char path[PATH_BUF];
	size_t plen;
	size_t nodes;
	yaml_parser_t *parser;
	const char *data;
	size_t len;
	unsigned strict; /* enum manifest_strict */
};

void manifest_node_free(struct node *n);

/* Parse the whole stream of c->parser into one tree; exactly one document. */
int manifest_build_tree(struct ctx *c, struct node **root);

/* ---- messages (manifest_tree.c) ---- */

/* Quote s for a message: at most SHOW_MAX characters, cut on a UTF-8
 * boundary, with quotes, backslashes and control bytes escaped. */
void manifest_show(const char *s, char *out, size_t size);

/* Append ".key" (or "key" first) to the path; returns the length to restore. */
size_t manifest_path_push(struct ctx *c, const char *key);
size_t manifest_path_push_index(struct ctx *c, size_t i);
void manifest_path_pop(struct ctx *c, size_t saved);

/* "FILE:LINE:COL: PATH: message" into c->err; returns code. */
int manifest_fail_at(struct ctx *c, unsigned line, unsigned col, int code, const char *fmt, ...)
    FERRY_PRINTF(5, 6);
#define fail(c, node, code, ...)                                                                   \
	manifest_fail_at((c), (node)->line, (node)->col, (code), __VA_ARGS__)

/* "got "value"" for a scalar, "got a list" for the rest. */
const char *manifest_got(const struct node *n, char *buf, size_t size);
#define GOT(n) manifest_got((n), (char[SHOW_MAX * 4 + 32]){0}, SHOW_MAX * 4 + 32)

int manifest_oom(struct ctx *c);

/* ---- small grammars (manifest_grammar.c) ---- */

bool manifest_valid_version(const char *s);
/* No control characters (tab and newline allowed only when multiline). */
bool manifest_clean_text(const char *s, bool multiline);
size_t manifest_utf8_chars(const char *s);
/* Printable ASCII without space: 0x21..0x7e, min to max bytes. */
bool manifest_graph_ascii(const char *s, size_t min, size_t max);
/* A relative path inside the package: no leading "/", no empty or ".."
 * component, no whitespace or control characters. */
bool manifest_valid_rel_path(const char *s, size_t max);
/* Split a command line into words, as a shell would without expanding
 * anything: blanks separate words, '...' is literal, "..." is literal but
 * for \" and \\, and a backslash outside quotes makes the next character
 * literal. Unquoted | & ; < > ( ) and ` are refused (no shell reads it).
 * 0 with *out (NULL-terminated, strv_free) and *n; FERRY_E_INVALID with
 * *why; FERRY_E_NOMEM. */
int manifest_split_words(const char *s, size_t max_words, char ***out, size_t *n, const char **why);
/* Debian package name, optionally "=VERSION". */
bool manifest_valid_apt(const char *s);
/* pkg:TYPE/NAME... */
bool manifest_valid_purl(const char *s);
/* Letters, digits and '_', not starting with a digit, 1 to ENV_KEY_MAX. */
bool manifest_valid_env_key(const char *s);
/* NULL when s is a well-formed SPDX expression, else why not. */
const char *manifest_spdx_problem(const char *s);
