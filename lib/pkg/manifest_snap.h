/* manifest_snap.h: a ferry manifest (meta/ferry.yaml) written from a snap's
 * meta/snap.yaml, for `ferry import FILE.snap` (see manifest_snap.c for
 * what maps to what). It reads YAML and writes YAML text; it does not open
 * the .snap nor write files. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

struct snap_import_opts {
	/* hooks the snap has as files in meta/hooks/ (snapd runs them whether
	 * snap.yaml lists them or not); NULL-terminated, may be NULL */
	const char *const *hook_files;
	/* "SNAPBASE=FERRYBASE" pairs (--base-map core22=debian-12) */
	const char *const *base_map;
	size_t n_base_map;
};

/* Convert len bytes of snap.yaml (filename for messages). On success
 * *ferry_yaml is the manifest text (free()) and *info a JSON object:
 *   name, version, base (a ferry base or null), apps (names), hooks
 *   (names kept), plugs (snap plug -> ferry interface), dropped-hooks
 *   (hook files ferry has no use for), not-carried: [{what, why}] for
 *   everything that could not be carried over.
 * A snap that cannot be a ferry package at all (not YAML, no name or
 * version, an invalid name or version, a snap of another type than app)
 * fails with FERRY_E_INVALID. */
int manifest_from_snap(const char *yaml, size_t len, const char *filename,
                       const struct snap_import_opts *opts, char **ferry_yaml, json_t **info,
                       ferry_error *err) FERRY_WUR;
