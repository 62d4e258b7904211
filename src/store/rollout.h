/* rollout.h: staged rollouts (ferry release --stages): a progressive
 * release that the store moves up stage by stage by itself while the
 * devices that took it report it working, and their events sent to
 * webhooks. docs/store.md (Staged rollouts) has the rule and the JSON.
 *
 * The rule, applied by the `rollout ID` job (once across instances, the
 * job table): a running rollout moves from stage k to k+1 when stage k
 * began at least stage-wait ago, at least stage-min-ok distinct devices
 * reported the revision ok on the channel since the rollout began, and the
 * devices that failed it stay below the release's halt thresholds. A stage
 * at 100 % completes the release (a full release, release.h) and the
 * rollout is done. Halting stays halt.c's: a halt of the revision ends the
 * rollout halted (rollout_halted). Another release to the channel, or its
 * closing, ends it superseded. Publishers pause, resume and stop it (stop
 * withdraws the progressive release as a halt does). A finished rollout
 * is kept --rollouts-days (the `rollout-prune` job), then deleted.
 *
 * Not here: the channel rows (release.c), halting (halt.c), the delivery
 * of events (webhooks.c), the command line (src/cli). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"
#include "db.h"
#include "halt.h"
#include "pkg/channel.h"
#include "release.h"
#include "reply.h"
#include "store.h"

#define ROLLOUT_STAGES_MAX 10
#define ROLLOUT_STAGES_DEFAULT "1,10,50,100"
#define ROLLOUT_STAGE_WAIT_DEFAULT (6 * 3600LL)
#define ROLLOUT_STAGE_WAIT_MAX (30 * 86400LL)
#define ROLLOUT_MIN_OK_DEFAULT 1
#define ROLLOUT_MIN_OK_MAX 1000000
#define ROLLOUT_EVENTS_KEEP 100
#define ROLLOUT_DAYS_DEFAULT 365 /* finished rollouts are kept, --rollouts-days */
#define ROLLOUT_DAYS_MAX 36500

/* What ferry release --stages asks for. */
struct rollout_spec {
	long long stages[ROLLOUT_STAGES_MAX];
	size_t n;
	long long stage_wait, min_ok;
};

/* The "stages", "stage-wait" and "stage-min-ok" of a release body: 0 with
 * *given false when there is no "stages" (the others are then refused),
 * or FERRY_E_INVALID naming the field. */
int rollout_spec_parse(json_t *body, struct rollout_spec *spec, bool *given,
                       ferry_error *err) FERRY_WUR;

/* Inside the release's transaction, after the channel rows were set at the
 * first stage: record the rollout and queue its job. *id gets its id. */
int rollout_begin(struct db *db, const char *package, const struct channel *ch, long long rev,
                  const struct rollout_spec *spec, const struct release_limits *limits,
                  long long *id, ferry_error *err) FERRY_WUR;

/* A release to, or closing of, ch: its active rollout ends superseded
 * (inside the caller's transaction). */
int rollout_supersede(struct db *db, const char *package, const struct channel *ch,
                      ferry_error *err) FERRY_WUR;

/* halt.c halted a release (inside the report's transaction): the rollout
 * of that revision on the channel ends halted, and the release-halted
 * event goes to the webhooks. */
int rollout_halted(struct db *db, const char *package, const struct channel *ch,
                   const struct halt *h, ferry_error *err) FERRY_WUR;

/* The `rollout ID` job. */
int rollout_job(struct store *st, struct db *db, const char *arg, bool *again, long long *next,
                ferry_error *err) FERRY_WUR;

/* The recurring `rollout-prune` job (daily): delete the rollouts that
 * finished (done, stopped, halted, superseded) more than st->rollouts_days
 * ago, with their events; never a running or paused one; nothing when
 * rollouts_days is 0 (kept forever). */
int rollout_job_prune(struct store *st, struct db *db, const char *arg, bool *again,
                      long long *next, ferry_error *err) FERRY_WUR;

/* A rollout as the API shows it (docs/store.md), NULL on error. */
json_t *rollout_show(struct store *st, struct db *db, long long id, ferry_error *err);

/* --- API routes --- */
void rollout_h_list(struct api_ctx *c);   /* GET /v1/packages/NAME/rollouts */
void rollout_h_action(struct api_ctx *c); /* POST /v1/packages/NAME/rollouts/ACTION */
