/* bases.h: what ferryd knows of bases (see bases.c): which base a revision
 * runs on, where the base's current revision is mounted, and which installed
 * packages use a base. db: the calling thread's state.db connection. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "agent.h"
#include "base/error.h"
#include "pkg/manifest.h"

/* The manifest of a revision on the device: from its mount, else from its
 * image (a revision whose mount is gone still names its base). */
int base_rev_manifest(struct agent *ag, const char *name, const char *rev, struct manifest **out,
                      ferry_error *err) FERRY_WUR;

/* The base the package (its manifest m) runs on is installed and is a base.
 * FERRY_E_NOTFOUND, naming the base and how to install it, when it is not;
 * 0 also for a package without base. */
int base_require(struct agent *ag, sqlite3 *db, const char *name, const struct manifest *m,
                 ferry_error *err) FERRY_WUR;

/* The directory of the base's current revision, ROOT/mnt/BASE/REV, into
 * dir (PATH_MAX), for ferry-confine --base; errors as base_require. */
int base_dir(struct agent *ag, sqlite3 *db, const char *name, const struct manifest *m, char *dir,
             ferry_error *err) FERRY_WUR;

/* Is the installed package name a base (its current revision of type base)? */
bool base_is_base(struct agent *ag, sqlite3 *db, const char *name);

/* The installed packages that use base: with current_only, those whose
 * current revision names it (what runs on it), else those with any revision
 * on the device that names it. A JSON array of names, sorted. */
int base_users(struct agent *ag, sqlite3 *db, const char *base, bool current_only, json_t **out,
               ferry_error *err) FERRY_WUR;

/* The names of a base_users array as one string, "a, b and c" (free()). */
char *base_users_text(json_t *users);
