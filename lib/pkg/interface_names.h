/* interface_names.h: the names of the interfaces a plug may use, the
 * contract between the manifest (which refuses a plug naming any other) and
 * ferry-confine (whose table, src/confine/interfaces.c, implements every
 * confined one, in the same order: a unit test checks it). What an
 * interface grants is not here: that is ferry-confine's table. */
#pragma once

#include <stdbool.h>

/* The interfaces ferry-confine implements, NULL-terminated. */
extern const char *const pkg_interfaces[];
/* Interfaces a manifest may name that ferry-confine does not implement
 * (snapcraft's `content`): they pack, and a device reports the plug as not
 * supported. NULL-terminated. */
extern const char *const pkg_interfaces_declared_only[];

/* Is name one of either list? */
bool pkg_interface_known(const char *name);
/* The known interface name nearest to name, for "did you mean", or NULL. */
const char *pkg_interface_suggest(const char *name);
