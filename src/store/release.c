/* release.c: one release into the channels table (release.h). Not here:
 * authorisation, halted notes, rollouts, publishing. */
#include "release.h"

#include <stdio.h>

#include "store.h"

const struct release_limits release_store_limits = {-1, -1};

/* The newest report when a progressive release begins: only later ones count
 * towards halting it. */
#define LAST_REPORT "(SELECT COALESCE(MAX(id), 0) FROM reports)"

/* What a full release of $6 replaces, for a halt to go back to (halt.h):
 * the row's revision, unless it is $6 already (a release again keeps what
 * the first one replaced) or the row is an expired branch (gone). */
#define FULL_PREVIOUS                                                                              \
	"CASE WHEN channels.revision = $6 THEN channels.previous_revision WHEN "                   \
	"channels.expires <= $7 THEN NULL ELSE channels.revision END"

/* The report a full release of $6 counts failures after: the same revision
 * again keeps its count (a release from before schema version 6 stays
 * unhalted), completing a progressive release of it counts from where that
 * began, anything else from the newest report. */
#define FULL_AFTER                                                                                 \
	"CASE WHEN channels.revision = $6 THEN channels.full_after WHEN "                          \
	"channels.progressive_revision = $6 THEN COALESCE(channels.progressive_after, 0) "         \
	"ELSE " LAST_REPORT " END"

int release_row(struct db *db, const char *package, const struct channel *ch, const char *arch,
                long long rev, long long pct, const struct release_limits *limits, ferry_error *err)
{
	char now[24], exp[24], pcts[24], hf[24], hr[24], revs[24];
	snprintf(now, sizeof(now), "%lld", store_now());
	snprintf(exp, sizeof(exp), "%lld", store_now() + STORE_BRANCH_LIFETIME_S);
	snprintf(pcts, sizeof(pcts), "%lld", pct);
	snprintf(hf, sizeof(hf), "%lld", limits->failures);
	snprintf(hr, sizeof(hr), "%lld", limits->ratio);
	snprintf(revs, sizeof(revs), "%lld", rev);
	const char *expires = *ch->branch ? exp : NULL;
	const char *risk = channel_risk_name(ch->risk);
	if (pct > 0 && pct < 100)
		return db_run(db, NULL, err,
		              "INSERT INTO channels (package, track, risk, branch, arch, "
		              "revision, progressive_revision, progressive_pct, updated, "
		              "expires, progressive_after, halt_failures, halt_ratio) "
		              "VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, " LAST_REPORT
		              ", $10, $11) ON CONFLICT (package, track, risk, branch, arch) "
		              "DO UPDATE SET progressive_after = CASE WHEN "
		              "channels.progressive_revision = $6 THEN "
		              "COALESCE(channels.progressive_after, 0) ELSE " LAST_REPORT " END, "
		              "progressive_revision = $6, progressive_pct = $7, "
		              "updated = $8, expires = $9, halt_failures = $10, "
		              "halt_ratio = $11",
		              package, ch->track, risk, ch->branch, arch, revs, pcts, now, expires,
		              limits->failures >= 0 ? hf : NULL, limits->ratio >= 0 ? hr : NULL);
	return db_run(db, NULL, err,
	              "INSERT INTO channels (package, track, risk, branch, arch, "
	              "revision, progressive_revision, progressive_pct, updated, "
	              "expires, previous_revision, full_after, full_halt_failures, "
	              "full_halt_ratio) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, "
	              "$7, $8, NULL, " LAST_REPORT ", $9, $10) "
	              "ON CONFLICT (package, track, risk, branch, arch) DO UPDATE "
	              "SET previous_revision = " FULL_PREVIOUS ", "
	              "full_after = " FULL_AFTER ", revision = $6, "
	              "progressive_revision = NULL, progressive_pct = NULL, "
	              "progressive_after = NULL, halt_failures = NULL, "
	              "halt_ratio = NULL, updated = $7, expires = $8, "
	              "full_halt_failures = $9, full_halt_ratio = $10",
	              package, ch->track, risk, ch->branch, arch, revs, now, expires,
	              limits->failures >= 0 ? hf : NULL, limits->ratio >= 0 ? hr : NULL);
}

int release_bump(struct db *db, const char *package, ferry_error *err)
{
	return db_run(db, NULL, err, "UPDATE packages SET map_gen = map_gen + 1 WHERE name = $1",
	              package);
}
