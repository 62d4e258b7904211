/* release.h: writing a release into the channels table, one row (package,
 * channel, architecture) at a time, fully or progressively, with what a
 * halt needs to know of it (halt.h). Used by the publisher's release,
 * promote and push --release (api.c) and by a staged rollout moving to its
 * next stage (rollout.c). Not here: who may release, the halted notes and
 * rollouts a release ends (the callers), publishing the map (publish.c). */
#pragma once

#include "base/error.h"
#include "db.h"
#include "pkg/channel.h"

/* A release's own halting thresholds (halt.h), progressive or full; -1:
 * the store's. */
struct release_limits {
	long long failures, ratio;
};

extern const struct release_limits release_store_limits; /* {-1, -1} */

/* Set rev on one row, progressively when 0 < pct < 100, fully otherwise;
 * inside the caller's transaction. A progressive release keeps the report
 * it began after while only its percentage changes; a full one records
 * what it replaces (the revision a halt goes back to) and which reports
 * count towards halting it. */
int release_row(struct db *db, const char *package, const struct channel *ch, const char *arch,
                long long rev, long long pct, const struct release_limits *limits,
                ferry_error *err) FERRY_WUR;

/* The package's channel map changed: bump its generation (publish.c
 * publishes it when the generation is ahead). */
int release_bump(struct db *db, const char *package, ferry_error *err) FERRY_WUR;
