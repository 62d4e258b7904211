/* halt.h: the store halts a progressive release by itself when the devices
 * that took it report it failing (DESIGN: rollouts that stop themselves).
 *
 * The rule. A report (reports.c) whose result is rolled-back or failed and
 * whose to-revision is the progressive revision of its channel (same
 * package, track, risk and branch) makes the store count, over the reports
 * it keeps that arrived after that progressive release was made:
 *   failed     distinct devices that reported rolled-back or failed for it
 *   reporting  distinct devices that reported anything for it
 * When failed >= N and failed * 100 >= PCT * reporting, the progressive
 * release is withdrawn on every architecture of the channel (every device
 * stays on, or goes back to, the channel's full revision), a row is added to
 * the halts table and the map generation is bumped, all in the report's
 * transaction; the caller then publishes the map the way a release does.
 * N and PCT are the release's own (ferry release --halt-failures
 * --halt-ratio) or else the store's (serve --halt-failures --halt-ratio,
 * defaults 3 and 20); N = 0 turns halting off. Reports of one package are
 * serialised by the package row's lock (PostgreSQL) or the single writer
 * (SQLite), so concurrent reports halt a release once.
 *
 * A halt stays noted in the publisher's status (not in the published map)
 * until the next release to, or closing of, that channel. Not here: when
 * the map is published (handler.c, publish.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"
#include "db.h"
#include "pkg/channel.h"
#include "pkg/report.h"
#include "store.h"

#define HALT_FAILURES_DEFAULT 3
#define HALT_RATIO_DEFAULT 20
#define HALT_FAILURES_MAX 1000000

/* What halt_check did. */
struct halt {
	bool halted;
	char channel[CHANNEL_NAME_MAX + 1];
	long long revision, failed, reporting;
};

/* Apply the rule to a report just stored, inside its transaction. */
int halt_check(struct store *st, struct db *db, const struct report *r, struct halt *out,
               ferry_error *err) FERRY_WUR;

/* A release to ch, or its closing, ends the halted note of that channel
 * (inside the caller's transaction). */
int halt_clear(struct db *db, const char *package, const struct channel *ch,
               ferry_error *err) FERRY_WUR;

/* Add the halts still noted to a status map (channelmap.h) as
 *   "halts": [{"channel", "revision", "failed", "reporting", "time",
 *              "halt-failures", "halt-ratio"}, ...]
 * oldest first; the channel entries stay those devices read. */
int halt_annotate(struct db *db, const char *package, json_t *map, ferry_error *err) FERRY_WUR;
