/* job_kinds.c: the kinds of job (job_kinds.h) in one table, kind name to
 * runner, and the worker pass that claims due jobs from the queue and runs
 * each through the table. The runners of the resign and publish kinds are
 * here; the others live with what they do (vulns_job.c, webhooks.c,
 * rollout.c). Each kind belongs to a lane (job_kinds.h): the delta jobs
 * to their own, so that a worker making deltas never holds up the others.
 * A runner says whether and when its job runs again. Not here: the queue
 * (jobs.c). */
#include "job_kinds.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "deltas.h"
#include "inventory.h"
#include "jobs.h"
#include "metrics.h"
#include "rollout.h"
#include "vulns_job.h"
#include "webhooks.h"

#define JOBS_LEASE_S 300
#define JOBS_RESIGN_EVERY_S 600
#define JOBS_RESIGN_WITHIN_S (12 * 3600)
#define JOBS_PER_PASS 8

typedef int (*job_fn)(struct store *st, struct db *db, const char *arg, bool *again,
                      long long *next, ferry_error *err);

/* Drop branches whose 30 days have passed, and publish what changed. */
static int expire_branches(struct store *st, struct db *db, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	char now[24];
	snprintf(now, sizeof(now), "%lld", store_now());
	int rc = db_run(db, &rows, err,
	                "SELECT DISTINCT package FROM channels WHERE expires IS NOT NULL AND "
	                "expires <= $1",
	                now);
	for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
		const char *pkg = db_cell(&rows, i, 0);
		rc = db_begin(db, true, err);
		if (rc == 0)
			rc = db_run(
			    db, NULL, err,
			    "DELETE FROM channels WHERE package = $1 AND expires IS NOT NULL "
			    "AND expires <= $2",
			    pkg, now);
		if (rc == 0)
			rc = db_run(db, NULL, err,
			            "UPDATE packages SET map_gen = map_gen + 1 WHERE name = $1",
			            pkg);
		if (rc == 0)
			rc = db_commit(db, err);
		db_rollback(db);
		if (rc == 0)
			rc = publish_package(st, db, pkg, err);
		if (rc == 0)
			log_info("expired branches of %s removed", pkg);
	}
	return rc;
}

static int job_resign(struct store *st, struct db *db, const char *arg, bool *again,
                      long long *next, ferry_error *err)
{
	(void)arg;
	size_t n = 0;
	int rc = publish_resign(st, JOBS_RESIGN_WITHIN_S, &n, err);
	if (rc == 0 && n)
		log_info("re-signed %zu role%s before expiry", n, n == 1 ? "" : "s");
	if (rc == 0)
		rc = expire_branches(st, db, err);
	*again = true;
	*next = store_now() + (rc == 0 ? JOBS_RESIGN_EVERY_S : JOBS_RETRY_S);
	return rc;
}

static int job_publish(struct store *st, struct db *db, const char *arg, bool *again,
                       long long *next, ferry_error *err)
{
	int rc = publish_package(st, db, arg, err);
	*again = rc < 0;
	*next = store_now() + JOBS_RETRY_S;
	return rc;
}

/* lane: JOB_LANE_DELTA for a kind with a worker of its own, else
 * JOB_LANE_MAIN */
static const struct {
	const char *kind;
	job_fn run;
	enum job_lane lane;
} kinds[] = {
    {"resign", job_resign, JOB_LANE_MAIN},
    {"publish", job_publish, JOB_LANE_MAIN},
    {"vulnscan", vulns_job_scan, JOB_LANE_MAIN},
    {"vulnkey", vulns_job_key, JOB_LANE_MAIN},
    {"webhook", webhooks_deliver, JOB_LANE_MAIN},
    {"rollout", rollout_job, JOB_LANE_MAIN},
    {"inventory-prune", inventory_job_prune, JOB_LANE_MAIN},
    {"rollout-prune", rollout_job_prune, JOB_LANE_MAIN},
    {"delta", deltas_job, JOB_LANE_DELTA},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* The kind as a static string for the metrics ("other" when unknown). */
static const char *job_label(const char *kind)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (strcmp(kinds[i].kind, kind) == 0)
			return kinds[i].kind;
	return "other";
}

static int run_kind(struct store *st, struct db *db, const char *kind, const char *arg, bool *again,
                    long long *next, ferry_error *err)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (strcmp(kinds[i].kind, kind) == 0)
			return kinds[i].run(st, db, arg, again, next, err);
	return ferry_error_set(err, FERRY_E_UNSUPPORTED, "unknown job kind %s", kind);
}

int job_kinds_run_lane(struct store *st, struct db *db, enum job_lane lane, size_t *ran,
                       ferry_error *err)
{
	/* the queue's filter: the delta lane's kinds, taken only by that
	 * lane and left by the main one */
	const char *delta_kinds[NKINDS + 1];
	size_t n = 0;
	for (size_t i = 0; i < NKINDS; i++)
		if (kinds[i].lane == JOB_LANE_DELTA)
			delta_kinds[n++] = kinds[i].kind;
	delta_kinds[n] = NULL;
	const struct jobs_lane filter = {delta_kinds, lane == JOB_LANE_DELTA};
	*ran = 0;
	if (lane != JOB_LANE_DELTA && vulns_watch(db, err) < 0)
		log_warn("vulnerability scans: %s", ferry_error_msg(err));
	for (int i = 0; i < JOBS_PER_PASS && !st->stopping; i++) {
		long long id = 0;
		char kind[JOBS_KIND_MAX], arg[JOBS_ARG_MAX];
		int rc = jobs_claim_lane(db, lane == JOB_LANE_ALL ? NULL : &filter, st->instance,
		                         JOBS_LEASE_S, &id, kind, arg, err);
		if (rc <= 0)
			return rc;
		ferry_error jerr = {0};
		bool again = false;
		long long next = 0;
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = run_kind(st, db, kind, arg, &again, &next, &jerr);
		metrics_job(st->metrics, job_label(kind), metrics_since(&t0), rc < 0);
		if (rc < 0)
			log_warn("job %s %s: %s", kind, arg, ferry_error_msg(&jerr));
		db_rollback(db);
		rc = jobs_finish(db, id, again, next, rc < 0 ? ferry_error_msg(&jerr) : NULL, err);
		if (rc < 0)
			return rc;
		(*ran)++;
	}
	return 0;
}

int job_kinds_run_due(struct store *st, struct db *db, size_t *ran, ferry_error *err)
{
	return job_kinds_run_lane(st, db, JOB_LANE_ALL, ran, err);
}
