/* halt.c: halting a release that devices report failing, progressive or
 * full, and the note publishers see of it (see halt.h for the rule). */
#include "halt.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/str.h"
#include "release.h"
#include "rollout.h"

static char *ll(char buf[24], long long v)
{
	snprintf(buf, 24, "%lld", v);
	return buf;
}

/* The two kinds of release a report can halt: a row's progressive revision,
 * or its full revision (only one released since schema version 6, when the
 * store began to record what it replaced). */
struct halt_kind {
	const char *name;    /* as the halts table and the status say it */
	const char *match;   /* the channels rows holding the reported revision */
	const char *columns; /* halt_failures, halt_ratio, count-from, restored */
	const char *withdraw;
};

static const struct halt_kind kinds[] = {
    {"progressive", "progressive_revision = $5",
     "halt_failures, halt_ratio, COALESCE(progressive_after, 0), NULL",
     "progressive_revision = NULL, progressive_pct = NULL, progressive_after = NULL, "
     "halt_failures = NULL, halt_ratio = NULL"},
    {"full", "revision = $5 AND full_after IS NOT NULL",
     "full_halt_failures, full_halt_ratio, full_after, previous_revision",
     "revision = previous_revision, previous_revision = NULL, full_after = NULL, "
     "full_halt_failures = NULL, full_halt_ratio = NULL"},
};

static int halt_one(struct store *st, struct db *db, const struct report *r,
                    const struct halt_kind *k, struct halt *out, ferry_error *err)
{
	struct channel ch;
	if (channel_parse(r->channel, &ch, NULL) < 0)
		return 0; /* report_parse refused it already */
	char name[CHANNEL_NAME_MAX + 1], alt[CHANNEL_NAME_MAX + 1], rev[24], sql[512];
	channel_format(&ch, name, sizeof(name));
	channel_short_name(&ch, alt, sizeof(alt));
	ll(rev, r->to_revision);
	const char *risk = channel_risk_name(ch.risk);

	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT, counts = DB_ROWS_INIT;
	snprintf(sql, sizeof(sql),
	         "SELECT %s FROM channels WHERE package = $1 AND track = $2 AND risk = $3 AND "
	         "branch = $4 AND %s ORDER BY arch",
	         k->columns, k->match);
	int rc = db_run(db, &rows, err, sql, r->package, ch.track, risk, ch.branch, rev);
	if (rc < 0 || rows.nrows == 0)
		return rc;
	long long min_failed = st->halt_failures, ratio = st->halt_ratio, since = -1;
	for (size_t i = 0; i < rows.nrows; i++) {
		if (db_cell(&rows, i, 0))
			min_failed = db_cell_ll(&rows, i, 0);
		if (db_cell(&rows, i, 1))
			ratio = db_cell_ll(&rows, i, 1);
		if (since < 0 || db_cell_ll(&rows, i, 2) < since)
			since = db_cell_ll(&rows, i, 2);
	}
	if (min_failed <= 0)
		return 0; /* halting is off for this release */
	char since_s[24];
	rc = db_run(db, &counts, err,
	            "SELECT COUNT(DISTINCT CASE WHEN result <> 'ok' THEN device END), "
	            "COUNT(DISTINCT device) FROM reports WHERE package = $1 AND "
	            "to_revision = $2 AND channel IN ($3, $4) AND id > $5",
	            r->package, rev, name, alt, ll(since_s, since));
	if (rc < 0)
		return rc;
	long long failed = db_cell_ll(&counts, 0, 0), reporting = db_cell_ll(&counts, 0, 1);
	if (failed < min_failed || failed * 100 < ratio * reporting)
		return 0;

	/* what the channel goes back to: the first architecture's (they agree
	 * unless the architectures were released apart) */
	const char *restored = db_cell(&rows, 0, 3);
	char now[24], f[24], n[24], mf[24], ra[24];
	ll(now, store_now());
	snprintf(sql, sizeof(sql),
	         "UPDATE channels SET %s, updated = $6 WHERE package = $1 AND track = $2 AND "
	         "risk = $3 AND branch = $4 AND %s",
	         k->withdraw, k->match);
	rc = db_run(db, NULL, err, sql, r->package, ch.track, risk, ch.branch, rev, now);
	if (rc == 0)
		rc = halt_clear(db, r->package, &ch, err);
	if (rc == 0)
		rc = db_run(db, NULL, err,
		            "INSERT INTO halts (package, track, risk, branch, channel, revision, "
		            "failed, reporting, halt_failures, halt_ratio, halted, kind, restored) "
		            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
		            r->package, ch.track, risk, ch.branch, name, rev, ll(f, failed),
		            ll(n, reporting), ll(mf, min_failed), ll(ra, ratio), now, k->name,
		            restored);
	if (rc == 0)
		rc = release_bump(db, r->package, err);
	if (rc < 0)
		return rc;
	out->halted = true;
	out->kind = k->name;
	snprintf(out->channel, sizeof(out->channel), "%s", name);
	out->revision = r->to_revision;
	out->failed = failed;
	out->reporting = reporting;
	out->restored = restored ? db_cell_ll(&rows, 0, 3) : 0;
	/* the rollout of that revision ends, and webhooks hear of the halt */
	return rollout_halted(db, r->package, &ch, out, err);
}

int halt_check(struct store *st, struct db *db, const struct report *r, struct halt *out,
               ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(r->result, "ok") == 0)
		return 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && !out->halted && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		rc = halt_one(st, db, r, &kinds[i], out, err);
	return rc;
}

int halt_clear(struct db *db, const char *package, const struct channel *ch, ferry_error *err)
{
	char now[24];
	return db_run(db, NULL, err,
	              "UPDATE halts SET cleared = $5 WHERE package = $1 AND track = $2 AND "
	              "risk = $3 AND branch = $4 AND cleared IS NULL",
	              package, ch->track, channel_risk_name(ch->risk), ch->branch,
	              ll(now, store_now()));
}

static json_t *halt_json(const struct db_rows *rows, size_t i)
{
	const char *restored = db_cell(rows, i, 11);
	return json_pack(
	    "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o}", "channel", db_cell(rows, i, 3),
	    "revision", (json_int_t)db_cell_ll(rows, i, 4), "failed",
	    (json_int_t)db_cell_ll(rows, i, 5), "reporting", (json_int_t)db_cell_ll(rows, i, 6),
	    "time", (json_int_t)db_cell_ll(rows, i, 7), "halt-failures",
	    (json_int_t)db_cell_ll(rows, i, 8), "halt-ratio", (json_int_t)db_cell_ll(rows, i, 9),
	    "kind", db_cell(rows, i, 10), "restored",
	    restored ? json_integer(db_cell_ll(rows, i, 11)) : json_null());
}

int halt_annotate(struct db *db, const char *package, json_t *map, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_run(
	    db, &rows, err,
	    "SELECT track, risk, branch, channel, revision, failed, reporting, "
	    "halted, halt_failures, halt_ratio, kind, restored FROM halts WHERE package = $1 AND "
	    "cleared IS NULL ORDER BY id",
	    package);
	if (rc < 0)
		return rc;
	json_t *list = json_array();
	if (!list)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < rows.nrows; i++)
		json_array_append_new(list, halt_json(&rows, i));
	json_object_set_new(map, "halts", list);
	return 0;
}
