/* vulns_base.c: the open findings an app inherits from the bases its
 * released revisions run on (see vulns_base.h). For each live channel of
 * the app: the base named by the manifest of the revision released there
 * (and of a progressive one), the base's revisions released in the same
 * channel, and the base's open findings for those revisions, with the
 * app's channels and revisions that use each. Reads only; the findings are
 * the base's own scan's. Not here: the route (vulns_routes.c), how findings
 * are made (vulns.c). */
#include "vulns_base.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "pkg/manifest.h"
#include "store.h"

#define BASE_CHANNELS_MAX 1000 /* channel rows of an app looked at */
#define BASE_FINDINGS_MAX 1000 /* open findings listed per base revision */

/* The manifest of package's revision rev; *out NULL when there is none or
 * it no longer parses. */
static int load_manifest(struct db *db, const char *package, const char *rev, struct manifest **out,
                         ferry_error *err)
{
	_cleanup_rows_ struct db_rows r = DB_ROWS_INIT;
	int rc = db_run(db, &r, err,
	                "SELECT manifest FROM revisions WHERE package = $1 AND revision = $2",
	                package, rev);
	*out = NULL;
	if (rc < 0)
		return rc;
	ferry_error perr = {0};
	const char *text = r.nrows ? db_cell(&r, 0, 0) : NULL;
	if (text && manifest_parse(text, strlen(text), "meta/ferry.yaml", out, &perr) < 0)
		*out = NULL;
	ferry_error_clear(&perr);
	return 0;
}

/* The base named by the manifest of package's revision rev, from cache
 * ("REV" -> name or null) or the revisions table. *out is borrowed from the
 * cache; NULL for none. */
static int base_of(struct db *db, const char *package, const char *rev, json_t *cache,
                   const char **out, ferry_error *err)
{
	json_t *hit = json_object_get(cache, rev);
	if (!hit) {
		struct manifest *m = NULL;
		int rc = load_manifest(db, package, rev, &m, err);
		if (rc < 0)
			return rc;
		hit = m && m->base ? json_string(m->base) : json_null();
		manifest_free(m);
		if (!hit || json_object_set_new(cache, rev, hit) < 0)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	*out = json_string_value(hit);
	return 0;
}

static void add_unique(json_t *list, json_t *v)
{
	size_t i;
	json_t *x;
	json_array_foreach(list, i, x) if (json_equal(x, v))
	{
		json_decref(v);
		return;
	}
	json_array_append_new(list, v);
}

/* Record that the app's revision app_rev in channel name runs on the base's
 * revisions released in the same channel: uses["BASE\tREV"]. */
static int add_uses(struct db *db, const struct db_rows *ch, size_t i, const char *base,
                    long long app_rev, const char *now, json_t *uses, ferry_error *err)
{
	_cleanup_rows_ struct db_rows b = DB_ROWS_INIT;
	int rc = db_run(db, &b, err,
	                "SELECT revision, progressive_revision FROM channels WHERE package = $1 "
	                "AND track = $2 AND risk = $3 AND branch = $4 AND (arch = $5 OR arch = "
	                "'all' OR $5 = 'all') AND (expires IS NULL OR expires > $6)",
	                base, db_cell(ch, i, 0), db_cell(ch, i, 1), db_cell(ch, i, 2),
	                db_cell(ch, i, 3), now);
	if (rc < 0)
		return rc;
	char name[512];
	if (*db_cell(ch, i, 2))
		snprintf(name, sizeof(name), "%s/%s/%s", db_cell(ch, i, 0), db_cell(ch, i, 1),
		         db_cell(ch, i, 2));
	else
		snprintf(name, sizeof(name), "%s/%s", db_cell(ch, i, 0), db_cell(ch, i, 1));
	for (size_t r = 0; r < b.nrows; r++)
		for (size_t col = 0; col <= 1; col++) {
			if (!db_cell(&b, r, col))
				continue;
			char key[300];
			snprintf(key, sizeof(key), "%s\t%lld", base, db_cell_ll(&b, r, col));
			json_t *u = json_object_get(uses, key);
			if (!u) {
				u = json_pack("{s:s, s:I, s:[], s:[]}", "base", base,
				              "base_revision", (json_int_t)db_cell_ll(&b, r, col),
				              "channels", "revisions");
				if (!u || json_object_set_new(uses, key, u) < 0)
					return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			}
			add_unique(json_object_get(u, "channels"), json_string(name));
			add_unique(json_object_get(u, "revisions"), json_integer(app_rev));
		}
	return 0;
}

/* Append the base's open findings for one use to out. Only a revision of
 * `type: base` counts: an app naming another publisher's app as its base
 * learns nothing of that app's findings. */
static int add_findings(struct db *db, json_t *u, json_t *out, ferry_error *err)
{
	_cleanup_rows_ struct db_rows f = DB_ROWS_INIT;
	char rev[24], lim[24];
	snprintf(rev, sizeof(rev), "%lld",
	         (long long)json_integer_value(json_object_get(u, "base_revision")));
	snprintf(lim, sizeof(lim), "%d", BASE_FINDINGS_MAX);
	struct manifest *m = NULL;
	int rc = load_manifest(db, json_string_value(json_object_get(u, "base")), rev, &m, err);
	bool is_base = m && m->type == MANIFEST_TYPE_BASE;
	manifest_free(m);
	if (rc < 0 || !is_base)
		return rc;
	rc = db_run(db, &f, err,
	            "SELECT detail, first_seen FROM vuln_findings WHERE package = $1 AND "
	            "revision = $2 AND cleared IS NULL ORDER BY component, advisory LIMIT $3",
	            json_string_value(json_object_get(u, "base")), rev, lim);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < f.nrows; i++) {
		json_t *d = json_loads(db_cell(&f, i, 0), 0, NULL);
		if (!d)
			continue;
		/* the base's channels stay as base_channels; channels and
		 * revisions become the app's that run on it */
		json_t *bch = json_object_get(d, "channels");
		json_object_set(d, "base_channels", bch ? bch : json_null());
		json_object_del(d, "revision");
		json_object_set_new(d, "first_seen", json_integer(db_cell_ll(&f, i, 1)));
		json_object_set_new(d, "from", json_string("base"));
		json_object_set(d, "base", json_object_get(u, "base"));
		json_object_set(d, "base_revision", json_object_get(u, "base_revision"));
		json_object_set(d, "channels", json_object_get(u, "channels"));
		json_object_set(d, "revisions", json_object_get(u, "revisions"));
		json_object_set_new(d, "fix", json_string("base-refresh"));
		json_array_append_new(out, d);
	}
	return 0;
}

int vulns_base_findings(struct db *db, const char *package, json_t **out, ferry_error *err)
{
	_cleanup_rows_ struct db_rows ch = DB_ROWS_INIT;
	char now[24], lim[24];
	snprintf(now, sizeof(now), "%lld", store_now());
	snprintf(lim, sizeof(lim), "%d", BASE_CHANNELS_MAX);
	int rc = db_run(db, &ch, err,
	                "SELECT track, risk, branch, arch, revision, progressive_revision FROM "
	                "channels WHERE package = $1 AND (expires IS NULL OR expires > $2) ORDER "
	                "BY track, risk, branch, arch LIMIT $3",
	                package, now, lim);
	if (rc < 0)
		return rc;
	json_t *cache = json_object(), *uses = json_object(), *list = json_array();
	if (!cache || !uses || !list)
		rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < ch.nrows; i++)
		for (size_t col = 4; rc == 0 && col <= 5; col++) {
			const char *base = NULL;
			if (db_cell(&ch, i, col))
				rc = base_of(db, package, db_cell(&ch, i, col), cache, &base, err);
			if (rc == 0 && base)
				rc = add_uses(db, &ch, i, base, db_cell_ll(&ch, i, col), now, uses,
				              err);
		}
	/* in the order the channels were met */
	const char *key;
	json_t *u;
	json_object_foreach(uses, key, u)
	{
		if (rc < 0 || (rc = add_findings(db, u, list, err)) < 0)
			break;
	}
	json_decref(cache);
	json_decref(uses);
	if (rc < 0) {
		json_decref(list);
		return ferry_error_prefix(err, rc, "base findings of %s", package);
	}
	*out = list;
	return 0;
}
