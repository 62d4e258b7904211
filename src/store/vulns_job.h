/* vulns_job.h: the vulnerability scan jobs (see vulns.h for how they fit):
 * the watch that queues a `vulnscan` of every package whose map changed,
 * and the runners of the `vulnscan NAME` and `vulnkey FAMILY:NAME` kinds
 * that job_kinds.c dispatches to. Not here: the evaluation (vulns.h), the
 * queue (jobs.h). */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "db.h"
#include "store.h"

/* Queue scans for packages whose map changed since their last scan. */
int vulns_watch(struct db *db, ferry_error *err) FERRY_WUR;

/* The runners: again and next say whether and when the job table should
 * run the job again (after a failure). */
int vulns_job_scan(struct store *st, struct db *db, const char *package, bool *again,
                   long long *next, ferry_error *err) FERRY_WUR;
int vulns_job_key(struct store *st, struct db *db, const char *key, bool *again, long long *next,
                  ferry_error *err) FERRY_WUR;
