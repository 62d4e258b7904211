/* job_kinds.h: the kinds of job the store runs and the worker pass that
 * claims due jobs from the queue (jobs.h) and runs each by its kind:
 *   resign                recurring: re-sign timestamp and snapshot before
 *                         they expire, and drop branches past their expiry
 *   publish NAME          publish a package whose publication failed
 *   vulnscan NAME         scan a package (vulns_job.h)
 *   vulnkey FAMILY:NAME   evaluate one advisory package name (vulns_job.h)
 *   webhook DELIVERY-ID   attempt one webhook delivery (webhooks.h)
 *   rollout ID            move a staged rollout to its next stage when it
 *                         may (rollout.h)
 *   inventory-prune       recurring, daily: forget devices not seen for
 *                         --devices-days (inventory.h)
 *   rollout-prune         recurring, daily: delete rollouts that finished
 *                         more than --rollouts-days ago (rollout.h)
 *   delta NAME/REV        make the deltas to a newly published revision
 *                         (deltas.h); in the delta lane
 * Lanes: the server runs one worker per lane, each claiming only its lane's
 * jobs, so that making deltas (minutes for a large image) never holds up
 * the scans, webhooks and publications queued behind it. The delta lane
 * takes the delta jobs; the main lane every other kind, unknown ones
 * included. Not here: the queue itself (jobs.c). */
#pragma once

#include <stddef.h>

#include "base/error.h"
#include "db.h"
#include "store.h"

enum job_lane {
	JOB_LANE_ALL = 0, /* every kind: one worker for everything (tools, benchmarks) */
	JOB_LANE_MAIN,    /* every kind but the delta lane's */
	JOB_LANE_DELTA,   /* delta jobs only */
};

/* One pass of the worker of a lane: queue the scans the watch asks for
 * (all and main lanes), then claim and run what is due in the lane (at
 * most a few jobs). *ran gets how many ran. */
int job_kinds_run_lane(struct store *st, struct db *db, enum job_lane lane, size_t *ran,
                       ferry_error *err) FERRY_WUR;
/* job_kinds_run_lane over every lane. */
int job_kinds_run_due(struct store *st, struct db *db, size_t *ran, ferry_error *err) FERRY_WUR;
