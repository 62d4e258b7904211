/* vulns_job.c: the vulnerability scan jobs (vulns_job.h): the watch that
 * queues a `vulnscan` for every package whose channel map generation or
 * next revision moved since its findings were evaluated, and the runners of
 * `vulnscan NAME` (index new SBOMs, then evaluate the package) and
 * `vulnkey FAMILY:NAME` (evaluate one advisory package name everywhere).
 * A failed scan runs again after the queue's retry delay. Not here: the
 * evaluation (vulns.c), the dispatch of kinds (job_kinds.c). */
#include "vulns_job.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "jobs.h"
#include "vulns.h"

int vulns_watch(struct db *db, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc =
	    db_exec(db,
	            "SELECT p.name FROM packages p LEFT JOIN vuln_state v ON v.package = p.name "
	            "WHERE v.package IS NULL OR v.map_gen <> p.map_gen OR "
	            "v.next_revision <> p.next_revision",
	            NULL, 0, &rows, err);
	char now[24];
	snprintf(now, sizeof(now), "%lld", store_now());
	/* DO NOTHING: a scan already queued keeps its time (a failed one its
	 * back-off) */
	for (size_t i = 0; rc == 0 && i < rows.nrows; i++)
		rc = db_run(db, NULL, err,
		            "INSERT INTO jobs (kind, arg, run_after) VALUES ('vulnscan', $1, $2) "
		            "ON CONFLICT (kind, arg) DO NOTHING",
		            db_cell(&rows, i, 0), now);
	return rc;
}

/* A failed scan comes back after the queue's retry delay. */
static int retry_on_failure(int rc, bool *again, long long *next)
{
	*again = rc < 0;
	*next = rc < 0 ? store_now() + JOBS_RETRY_S : 0;
	return rc;
}

int vulns_job_scan(struct store *st, struct db *db, const char *package, bool *again,
                   long long *next, ferry_error *err)
{
	(void)st;
	int rc = vulns_index_revisions(db, package, err);
	if (rc == 0)
		rc = vulns_evaluate(db, package, NULL, NULL, err);
	return retry_on_failure(rc, again, next);
}

int vulns_job_key(struct store *st, struct db *db, const char *key, bool *again, long long *next,
                  ferry_error *err)
{
	(void)st;
	*again = false;
	*next = 0;
	const char *colon = strchr(key, ':');
	char fam[64];
	if (!colon || colon - key >= (long)sizeof(fam))
		return ferry_error_set(err, FERRY_E_INVALID, "vulnkey %s: expected FAMILY:NAME",
		                       key);
	snprintf(fam, sizeof(fam), "%.*s", (int)(colon - key), key);
	return retry_on_failure(vulns_evaluate_key(db, fam, colon + 1, err), again, next);
}
