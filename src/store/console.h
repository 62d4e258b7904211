/* console.h: the web console's files, compiled into ferry-store and served
 * under /console/ (server.c), with the headers every one of them is sent
 * with. The table is generated at build time from src/store/console/ by
 * embed_files.py. Not here: HTTP framing (server.c), the JSON API the
 * console's script calls (api.c and the route files). */
#pragma once

#include <stddef.h>

#define CONSOLE_PREFIX "/console/"

/* Sent with every answer under /console/: the page may load only its own
 * script, style sheet and images and talk only to its own origin; no inline
 * script or style, no frames, no forms posted anywhere; and no string may
 * be parsed as HTML by the page's script (Trusted Types with no policy:
 * innerHTML and the like throw). */
#define CONSOLE_CSP                                                                                \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                \
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'; "        \
	"require-trusted-types-for 'script'; trusted-types 'none'"

struct console_file {
	const char *name;         /* "index.html" */
	const char *content_type; /* "text/html; charset=utf-8" */
	const unsigned char *data;
	size_t size;
	const char *etag; /* quoted */
};

extern const struct console_file console_files[];
extern const size_t console_files_count;

/* The file a path below /console/ names ("" is index.html), or NULL. Only
 * the exact names of the table match: nothing else is ever read. */
const struct console_file *console_find(const char *rel);
