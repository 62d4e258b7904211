/* halt.h: the store halts a release by itself when the devices that took
 * it report it failing (DESIGN: rollouts that stop themselves), progressive
 * or full.
 *
 * The rule. A report (reports.c) whose result is rolled-back or failed and
 * whose to-revision is the progressive revision of its channel (same
 * package, track, risk and branch), or else the channel's full revision,
 * makes the store count, over the reports it keeps that arrived after that
 * release was made:
 *   failed     distinct devices that reported rolled-back or failed for it
 *   reporting  distinct devices that reported anything for it
 * When failed >= N and failed * 100 >= PCT * reporting, the release is
 * withdrawn on every architecture of the channel: a progressive release is
 * cleared (every device stays on, or goes back to, the channel's full
 * revision); a full release gives way to the revision the channel held
 * before it (channels.previous_revision), or, when it held none, leaves the
 * channel closed (a risk then follows the next more stable one, as after
 * ferry close). A row is added to the halts table and the map generation is
 * bumped, all in the report's transaction; the caller then publishes the
 * map the way a release does. N and PCT are the release's own (ferry
 * release --halt-failures --halt-ratio, --no-halt for N = 0) or else the
 * store's (serve --halt-failures --halt-ratio, defaults 3 and 20); N = 0
 * turns halting off. The revision a halt goes back to is not halted in
 * turn, nor is a full release made before schema version 6 (what it
 * replaced is unknown). Completing a progressive release counts from where
 * the progressive one began; releasing the revision a channel holds again
 * keeps its count. Reports of one package are serialised by the package
 * row's lock (PostgreSQL) or the single writer (SQLite), so concurrent
 * reports halt a release once.
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
	const char *kind; /* "progressive" or "full" */
	char channel[CHANNEL_NAME_MAX + 1];
	long long revision, failed, reporting;
	long long restored; /* full: the revision gone back to, 0: closed */
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
 *              "halt-failures", "halt-ratio", "kind", "restored"}, ...]
 * oldest first; the channel entries stay those devices read. */
int halt_annotate(struct db *db, const char *package, json_t *map, ferry_error *err) FERRY_WUR;
