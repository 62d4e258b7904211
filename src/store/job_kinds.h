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
 *                         (deltas.h)
 * Not here: the queue itself (jobs.c). */
#pragma once

#include <stddef.h>

#include "base/error.h"
#include "db.h"
#include "store.h"

/* One pass of the worker: queue the scans the watch asks for, then claim
 * and run what is due (at most a few jobs). *ran gets how many ran. */
int job_kinds_run_due(struct store *st, struct db *db, size_t *ran, ferry_error *err) FERRY_WUR;
