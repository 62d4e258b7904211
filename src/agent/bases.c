/* bases.c: bases on the device. A base (a package of type base) is
 * installed, mounted and refreshed like any package (ROOT/mnt/BASE/REV,
 * mnt/BASE/current); an app whose manifest names it (`base: NAME`) runs with
 * the base's current revision as its sandbox's root (ferry-confine --base).
 * This file answers the questions the other files ask about bases: which
 * base a revision runs on, where that base is mounted, whether it is there,
 * and which installed packages use it. What is known comes from state.db
 * (packages, revisions) and from each revision's manifest: nothing about
 * bases is kept anywhere else.
 *
 * It decides nothing: steps.c installs a missing base with the app, refuses
 * to remove one in use, and refreshes one with the apps on it; sandbox.c
 * passes its directory to ferry-confine. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/str.h"
#include "bases.h"
#include "revs.h"
#include "state.h"

int base_rev_manifest(struct agent *ag, const char *name, const char *rev, struct manifest **out,
                      ferry_error *err)
{
	if (rev_mounted(ag, name, rev))
		return rev_manifest(ag, name, rev, out, err);
	char image[PATH_MAX];
	if (agent_path(ag, image, "images/%s_%s.ferry", name, rev) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
	int rc = rev_image_manifest(image, out, err);
	return rc < 0 ? ferry_error_prefix(err, rc, "%s revision %s", name, rev) : 0;
}

static int base_current(struct agent *ag, sqlite3 *db, const char *name, const char *base,
                        char *rev, ferry_error *err)
{
	int rc = state_current(db, base, rev, NULL);
	if (rc == FERRY_E_NOTFOUND)
		return ferry_error_set(err, FERRY_E_NOTFOUND,
		                       "%s runs on the base %s, which is not installed: install it "
		                       "first (ferry install %s), or install %s from the store, "
		                       "which installs its base with it",
		                       name, base, base, name);
	if (rc < 0)
		return ferry_error_set(err, rc, "state.db: read package %s", base);
	struct manifest *bm = NULL;
	rc = base_rev_manifest(ag, base, rev, &bm, err);
	if (rc < 0)
		return rc;
	bool is_base = bm->type == MANIFEST_TYPE_BASE;
	manifest_free(bm);
	if (!is_base)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s runs on the base %s, but the package %s installed here "
		                       "is not a base (type: app)",
		                       name, base, base);
	return 0;
}

int base_require(struct agent *ag, sqlite3 *db, const char *name, const struct manifest *m,
                 ferry_error *err)
{
	if (!m->base || m->type == MANIFEST_TYPE_BASE)
		return 0;
	char rev[STATE_REV_MAX];
	return base_current(ag, db, name, m->base, rev, err);
}

int base_dir(struct agent *ag, sqlite3 *db, const char *name, const struct manifest *m, char *dir,
             ferry_error *err)
{
	char rev[STATE_REV_MAX];
	int rc = base_current(ag, db, name, m->base, rev, err);
	if (rc < 0)
		return rc;
	if (agent_path(ag, dir, "mnt/%s/%s", m->base, rev) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", m->base);
	if (!rev_mounted(ag, m->base, rev))
		return ferry_error_set(err, FERRY_E_NOTFOUND,
		                       "%s runs on the base %s, whose revision %s is not mounted "
		                       "(%s)",
		                       name, m->base, rev, dir);
	return 0;
}

bool base_is_base(struct agent *ag, sqlite3 *db, const char *name)
{
	char rev[STATE_REV_MAX];
	if (state_current(db, name, rev, NULL) < 0)
		return false;
	struct manifest *m = NULL;
	if (base_rev_manifest(ag, name, rev, &m, NULL) < 0)
		return false;
	bool is_base = m->type == MANIFEST_TYPE_BASE;
	manifest_free(m);
	return is_base;
}

static bool names_base(struct agent *ag, const char *name, const char *rev, const char *base)
{
	struct manifest *m = NULL;
	if (base_rev_manifest(ag, name, rev, &m, NULL) < 0)
		return false;
	bool uses = m->type != MANIFEST_TYPE_BASE && m->base && strcmp(m->base, base) == 0;
	manifest_free(m);
	return uses;
}

int base_users(struct agent *ag, sqlite3 *db, const char *base, bool current_only, json_t **out,
               ferry_error *err)
{
	json_t *rows = NULL;
	int rc = current_only
	             ? state_query(db, &rows, err,
	                           "SELECT name, current AS rev FROM packages WHERE name<>? "
	                           "ORDER BY name",
	                           "t", base)
	             : state_query(db, &rows, err,
	                           "SELECT name, rev FROM revisions WHERE name<>? ORDER BY name, "
	                           "rev",
	                           "t", base);
	if (rc < 0)
		return rc;
	json_t *users = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		const char *name = jstr(r, "name");
		size_t n = json_array_size(users);
		if (n && strcmp(json_string_value(json_array_get(users, n - 1)), name) == 0)
			continue; /* already found through another revision */
		if (names_base(ag, name, jstr(r, "rev"), base))
			json_array_append_new(users, json_string(name));
	}
	json_decref(rows);
	*out = users;
	return 0;
}

char *base_users_text(json_t *users)
{
	struct buf b = BUF_INIT(256);
	size_t n = json_array_size(users);
	for (size_t i = 0; i < n; i++)
		IGNORE_RC(buf_printf(&b, "%s%s",
		                     i == 0       ? ""
		                     : i + 1 == n ? " and "
		                                  : ", ",
		                     json_string_value(json_array_get(users, i))));
	char *s = str_dup_printf("%.*s", (int)b.len, b.data ? b.data : "");
	buf_free(&b);
	return s;
}
