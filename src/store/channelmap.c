/* channelmap.c: builds the resolved channel map of a package (channelmap.h)
 * from the channels, tracks and revisions tables. Reads only. */
#include "channelmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"

struct row {
	const char *track;
	int risk;
	const char *branch;
	const char *arch;
	long long rev;      /* 0: none */
	long long prog_rev; /* 0: none */
	long long pct;
	long long expires; /* 0: never */
};

void channelmap_target_name(const char *package, long long revision, char *out, size_t size)
{
	snprintf(out, size, "%s_%lld.ferry", package, revision);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Add s to a sorted set of strings (no copies: rows own them). */
static void set_add(const char **set, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(set[i], s) == 0)
			return;
	set[(*n)++] = s;
}

static json_t *progressive_json(const struct row *r, json_t *versions)
{
	if (!r || !r->prog_rev)
		return json_null();
	char key[24];
	snprintf(key, sizeof(key), "%lld", r->prog_rev);
	json_t *v = json_object_get(versions, key);
	return json_pack("{s:I, s:O, s:I}", "revision", (json_int_t)r->prog_rev, "version",
	                 v ? v : json_null(), "percentage", (json_int_t)r->pct);
}

static json_t *entry(const char *track, int risk, const char *branch, const char *arch,
                     long long rev, const char *follows, const struct row *own, json_t *versions)
{
	char name[CHANNEL_NAME_MAX + 1];
	struct channel ch;
	memset(&ch, 0, sizeof(ch));
	snprintf(ch.track, sizeof(ch.track), "%s", track);
	ch.risk = (enum channel_risk)risk;
	snprintf(ch.branch, sizeof(ch.branch), "%s", branch);
	channel_format(&ch, name, sizeof(name));
	json_t *version = json_null();
	if (rev) {
		char key[24];
		snprintf(key, sizeof(key), "%lld", rev);
		json_t *v = json_object_get(versions, key);
		if (v)
			version = json_incref(v);
	}
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "channel", name,
	                 "track", track, "risk", channel_risk_name(ch.risk), "branch",
	                 *branch ? json_string(branch) : json_null(), "architecture", arch,
	                 "revision", rev ? json_integer(rev) : json_null(), "version", version,
	                 "follows", follows ? json_string(follows) : json_null(), "progressive",
	                 progressive_json(own, versions), "expires",
	                 own && own->expires ? json_integer(own->expires) : json_null());
}

int channelmap_build(struct db *db, const char *package, long long now, json_t **out,
                     long long *gen, ferry_error *err)
{
	_cleanup_rows_ struct db_rows g = DB_ROWS_INIT, cr = DB_ROWS_INIT, tr = DB_ROWS_INIT,
	                              rv = DB_ROWS_INIT;
	*out = NULL;
	int rc = db_run(db, &g, err, "SELECT map_gen FROM packages WHERE name = $1", package);
	if (rc < 0)
		return rc;
	if (g.nrows == 0)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "package %s is not registered",
		                       package);
	if (gen)
		*gen = db_cell_ll(&g, 0, 0);
	rc = db_run(db, &cr, err,
	            "SELECT track, risk, branch, arch, revision, progressive_revision, "
	            "progressive_pct, expires FROM channels WHERE package = $1",
	            package);
	if (rc == 0)
		rc = db_run(db, &tr, err, "SELECT track FROM tracks WHERE package = $1", package);
	if (rc == 0)
		rc = db_run(db, &rv, err,
		            "SELECT revision, version, size, sha256, architectures FROM revisions "
		            "WHERE package = $1",
		            package);
	if (rc < 0)
		return rc;

	size_t n = 0;
	_cleanup_free_ struct row *rows = calloc(cr.nrows + 1, sizeof(*rows));
	_cleanup_free_ const char **tracks = calloc(cr.nrows + tr.nrows + 2, sizeof(char *));
	_cleanup_free_ const char **arches = calloc(cr.nrows + 1, sizeof(char *));
	json_t *versions = json_object();
	if (!rows || !tracks || !arches || !versions) {
		json_decref(versions);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < rv.nrows; i++)
		json_object_set_new(versions, db_cell(&rv, i, 0), json_string(db_cell(&rv, i, 1)));
	for (size_t i = 0; i < cr.nrows; i++) {
		struct row *r = &rows[n];
		r->track = db_cell(&cr, i, 0);
		r->risk = channel_risk_parse(db_cell(&cr, i, 1) ? db_cell(&cr, i, 1) : "");
		r->branch = db_cell(&cr, i, 2) ? db_cell(&cr, i, 2) : "";
		r->arch = db_cell(&cr, i, 3);
		r->rev = db_cell_ll(&cr, i, 4);
		r->prog_rev = db_cell_ll(&cr, i, 5);
		r->pct = db_cell_ll(&cr, i, 6);
		r->expires = db_cell_ll(&cr, i, 7);
		if (!r->track || !r->arch || r->risk < 0)
			continue;
		if (r->expires && r->expires <= now)
			continue; /* an expired branch is gone */
		if (!r->rev && !r->prog_rev)
			continue;
		n++;
	}
	size_t ntracks = 0;
	tracks[ntracks++] = CHANNEL_DEFAULT_TRACK;
	for (size_t i = 0; i < tr.nrows; i++)
		set_add(tracks, &ntracks, db_cell(&tr, i, 0));
	for (size_t i = 0; i < n; i++)
		set_add(tracks, &ntracks, rows[i].track);
	if (ntracks > 2)
		qsort(tracks + 1, ntracks - 1, sizeof(char *), cmp_str);

	json_t *channels = json_array(), *referenced = json_object();
	for (size_t t = 0; t < ntracks; t++) {
		size_t narch = 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(rows[i].track, tracks[t]) == 0)
				set_add(arches, &narch, rows[i].arch);
		qsort(arches, narch, sizeof(char *), cmp_str);
		for (size_t a = 0; a < narch; a++) {
			for (int risk = 0; risk < RISK__COUNT; risk++) {
				const struct row *own = NULL;
				for (size_t i = 0; i < n; i++)
					if (rows[i].risk == risk && !*rows[i].branch &&
					    strcmp(rows[i].track, tracks[t]) == 0 &&
					    strcmp(rows[i].arch, arches[a]) == 0)
						own = &rows[i];
				long long rev = own ? own->rev : 0;
				char follows[CHANNEL_NAME_MAX + 1] = "";
				for (int s = risk - 1; !rev && s >= 0; s--)
					for (size_t i = 0; i < n; i++)
						if (rows[i].risk == s && !*rows[i].branch &&
						    rows[i].rev &&
						    strcmp(rows[i].track, tracks[t]) == 0 &&
						    strcmp(rows[i].arch, arches[a]) == 0) {
							rev = rows[i].rev;
							snprintf(follows, sizeof(follows), "%s/%s",
							         tracks[t], channel_risk_name(s));
						}
				json_array_append_new(
				    channels, entry(tracks[t], risk, "", arches[a], rev,
				                    *follows ? follows : NULL, own, versions));
				char key[24];
				if (rev) {
					snprintf(key, sizeof(key), "%lld", rev);
					json_object_set_new(referenced, key, json_true());
				}
				if (own && own->prog_rev) {
					snprintf(key, sizeof(key), "%lld", own->prog_rev);
					json_object_set_new(referenced, key, json_true());
				}
				/* branches of this risk, by name */
				_cleanup_free_ const struct row **br = calloc(n + 1, sizeof(*br));
				size_t nbr = 0;
				for (size_t i = 0; br && i < n; i++)
					if (rows[i].risk == risk && *rows[i].branch &&
					    strcmp(rows[i].track, tracks[t]) == 0 &&
					    strcmp(rows[i].arch, arches[a]) == 0)
						br[nbr++] = &rows[i];
				for (size_t x = 0; x + 1 < nbr; x++)
					for (size_t y = x + 1; y < nbr; y++)
						if (strcmp(br[x]->branch, br[y]->branch) > 0) {
							const struct row *tmp = br[x];
							br[x] = br[y];
							br[y] = tmp;
						}
				for (size_t x = 0; x < nbr; x++) {
					json_array_append_new(channels,
					                      entry(tracks[t], risk, br[x]->branch,
					                            arches[a], br[x]->rev, NULL,
					                            br[x], versions));
					if (br[x]->rev) {
						snprintf(key, sizeof(key), "%lld", br[x]->rev);
						json_object_set_new(referenced, key, json_true());
					}
					if (br[x]->prog_rev) {
						snprintf(key, sizeof(key), "%lld", br[x]->prog_rev);
						json_object_set_new(referenced, key, json_true());
					}
				}
			}
		}
	}
	json_t *revs = json_object();
	for (size_t i = 0; i < rv.nrows; i++) {
		const char *key = db_cell(&rv, i, 0);
		if (!json_object_get(referenced, key))
			continue;
		char target[256];
		long long revno = db_cell_ll(&rv, i, 0);
		channelmap_target_name(package, revno, target, sizeof(target));
		json_t *archs = json_loads(db_cell(&rv, i, 4) ? db_cell(&rv, i, 4) : "[]", 0, NULL);
		json_object_set_new(
		    revs, key,
		    json_pack("{s:s, s:s, s:I, s:s, s:o}", "version", db_cell(&rv, i, 1), "target",
		              target, "size", (json_int_t)db_cell_ll(&rv, i, 2), "sha256",
		              db_cell(&rv, i, 3), "architectures", archs ? archs : json_array()));
	}
	json_t *jt = json_array();
	for (size_t t = 0; t < ntracks; t++)
		json_array_append_new(jt, json_string(tracks[t]));
	json_decref(referenced);
	json_decref(versions);
	*out = json_pack("{s:s, s:I, s:o, s:o, s:o}", "package", package, "generation",
	                 (json_int_t)(gen ? *gen : db_cell_ll(&g, 0, 0)), "tracks", jt, "channels",
	                 channels, "revisions", revs);
	if (!*out)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	return 0;
}

int channelmap_resolve(struct db *db, const char *package, const struct channel *ch, long long now,
                       json_t **out, ferry_error *err)
{
	json_t *map = NULL;
	char name[CHANNEL_NAME_MAX + 1];
	channel_format(ch, name, sizeof(name));
	int rc = channelmap_build(db, package, now, &map, NULL, err);
	if (rc < 0)
		return rc;
	json_t *res = json_object(), *e;
	size_t i;
	json_array_foreach(json_object_get(map, "channels"), i, e)
	{
		json_t *rev = json_object_get(e, "revision");
		if (json_is_integer(rev) &&
		    str_eq(json_string_value(json_object_get(e, "channel")), name))
			json_object_set(res, json_string_value(json_object_get(e, "architecture")),
			                rev);
	}
	json_decref(map);
	*out = res;
	return 0;
}
