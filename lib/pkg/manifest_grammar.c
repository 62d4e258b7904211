/* manifest_grammar.c: the small grammars of manifest values, each a pure
 * function of a string: versions, one-line and multi-line text, relative
 * paths, Debian package names, package URLs, environment names, and SPDX
 * license expressions (syntax only). Package and app names are pkg/name.h's.
 *
 * It does not read YAML nor phrase messages beyond saying what is wrong with
 * an SPDX expression; manifest.c calls these while checking the tree. */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/strv.h"
#include "pkg/manifest_int.h"

#define APT_NAME_MAX 128
#define APT_VERSION_MAX 128
#define PURL_MAX 512
#define SPDX_DEPTH_MAX 16

/* ---- names and small grammars ---- */

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

bool manifest_valid_version(const char *s)
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
bool manifest_clean_text(const char *s, bool multiline)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t'))) || *p == 0x7f)
			return false;
	return true;
}

size_t manifest_utf8_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			n++;
	return n;
}

/* Printable ASCII without space: 0x21..0x7e. */
bool manifest_graph_ascii(const char *s, size_t min, size_t max)
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
bool manifest_valid_rel_path(const char *s, size_t max)
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

/* ---- command lines ---- */

int manifest_split_words(const char *s, size_t max_words, char ***out, size_t *n, const char **why)
{
	struct strv v = {0};
	char *word = malloc(strlen(s) + 1);
	size_t len = 0;
	bool in_word = false;
	int rc = word ? 0 : FERRY_E_NOMEM;

	*out = NULL;
	*n = 0;
	for (const char *p = s; rc == 0; p++) {
		char ch = *p;
		if (ch == '\0' || ch == ' ' || ch == '\t') {
			if (in_word) {
				word[len] = '\0';
				if (v.n >= max_words) {
					*why = "too many words";
					rc = FERRY_E_INVALID;
					break;
				}
				rc = strv_add(&v, strdup(word));
				len = 0;
				in_word = false;
			}
			if (ch == '\0')
				break;
			continue;
		}
		in_word = true;
		if (ch == '\'') {
			const char *end = strchr(p + 1, '\'');
			if (!end) {
				*why = "a single quote is not closed";
				rc = FERRY_E_INVALID;
				break;
			}
			memcpy(word + len, p + 1, (size_t)(end - p - 1));
			len += (size_t)(end - p - 1);
			p = end;
		} else if (ch == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				word[len++] = *p;
			}
			if (!*p) {
				*why = "a double quote is not closed";
				rc = FERRY_E_INVALID;
			}
		} else if (ch == '\\') {
			if (!p[1]) {
				*why = "a backslash ends it";
				rc = FERRY_E_INVALID;
				break;
			}
			word[len++] = *++p;
		} else if (strchr("|&;<>()`", ch)) {
			*why = "shell syntax (| & ; < > ( ) `) is not interpreted: no shell runs "
			       "the command; quote it to pass it as it is, or use a script";
			rc = FERRY_E_INVALID;
		} else {
			word[len++] = ch;
		}
	}
	free(word);
	if (rc == 0 && v.n == 0) {
		*why = "no command";
		rc = FERRY_E_INVALID;
	}
	if (rc < 0) {
		strv_free(v.v);
		return rc;
	}
	*out = v.v;
	*n = v.n;
	return 0;
}

/* Debian package name [a-z0-9][a-z0-9+.-]+, optionally "=VERSION" where the
 * version starts with a digit and uses [A-Za-z0-9.+~:-]. */
bool manifest_valid_apt(const char *s)
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
bool manifest_valid_purl(const char *s)
{
	if (!manifest_graph_ascii(s, 1, PURL_MAX) || strncmp(s, "pkg:", 4) != 0)
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

bool manifest_valid_env_key(const char *s)
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
const char *manifest_spdx_problem(const char *s)
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
