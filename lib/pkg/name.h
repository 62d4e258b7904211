/* name.h: the one grammar of package names, and of the names that share it
 * (apps, parts, hooks, plugs, slots, interfaces), as docs/formats/manifest.md
 * ("Names") states it: PKG_NAME_MIN to PKG_NAME_MAX characters of a-z, 0-9
 * and '-', at least one letter, no hyphen first or last, no two hyphens in a
 * row. App-like names (app, part, hook, attribute) may be one character.
 *
 * The manifest parser, the TUF repository writer, ferry-confine, ferryd, the
 * store and the CLI all call these: a name one of them accepts, every other
 * accepts. Not here: names of other grammars (versions, channels, target
 * files, device ids). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PKG_NAME_MIN 2     /* package, plug, slot and interface names */
#define PKG_APP_NAME_MIN 1 /* app, part, hook and attribute names */
#define PKG_NAME_MAX 40

/* NULL when s (not NULL) is a name of min (PKG_NAME_MIN or PKG_APP_NAME_MIN)
 * to PKG_NAME_MAX characters under the rule above; otherwise what is wrong,
 * for a message: "2 to 40 characters", "no two hyphens in a row", ... */
const char *pkg_name_problem(const char *s, size_t min);

/* Is name (NULL: no) a valid package name? */
bool pkg_name_valid(const char *name);
/* Is name (NULL: no) a valid app, part or hook name (1 to 40 characters)? */
bool pkg_app_name_valid(const char *name);
