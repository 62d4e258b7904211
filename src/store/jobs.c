/* jobs.c: the job table (jobs.h), a queue of work that must happen once
 * however many instances run. An instance claims a due job in a short
 * transaction: on PostgreSQL with SELECT ... FOR UPDATE SKIP LOCKED (two
 * instances never get the same row and never wait for each other); on
 * SQLite inside BEGIN IMMEDIATE, which admits one writer at a time. A claim
 * is a lease: a job whose instance died is claimed again when its lease
 * runs out. A job queued again while it runs is marked "rerun" and goes
 * back to the queue when that run ends. A finished job is deleted, or
 * re-queued at the time its runner chose (a retry after a failure, a
 * back-off, or the next run of a recurring job). A claim may be limited to
 * a lane, a list of kinds taken or left, so that a worker of its own runs a
 * slow kind; the lease and the locking are the same in every lane. Not
 * here: the kinds of job, their lanes and the worker pass that runs them
 * (job_kinds.c). */
#include "jobs.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "store.h"

int jobs_enqueue(struct db *db, const char *kind, const char *arg, long long run_after,
                 ferry_error *err)
{
	char ra[24];
	snprintf(ra, sizeof(ra), "%lld", run_after);
	/* an existing queued job keeps the earlier time. A job that is
	 * running becomes "rerun": what it read may be stale, so it is queued
	 * again at the time asked when it finishes instead of being deleted.
	 * The conflict clause and "excluded" read the same on both engines. */
	return db_run(db, NULL, err,
	              "INSERT INTO jobs (kind, arg, run_after) VALUES ($1, $2, $3) "
	              "ON CONFLICT (kind, arg) DO UPDATE SET run_after = CASE WHEN "
	              "jobs.state = 'running' OR excluded.run_after < jobs.run_after THEN "
	              "excluded.run_after ELSE jobs.run_after END, state = CASE WHEN "
	              "jobs.state = 'running' THEN 'rerun' ELSE jobs.state END",
	              kind, arg, ra);
}

#define JOBS_CLAIM_SQL_MAX 1024

/* The claim's query into q: the due jobs of the lane, oldest first. The
 * lane's kinds are parameters $2..., never spliced into the SQL. *none:
 * the lane takes nothing (only, and no kind). */
static int claim_sql(const struct jobs_lane *lane, enum db_dialect dialect, struct buf *q,
                     const char **params, size_t *n, bool *none, ferry_error *err)
{
	size_t nk = 0;
	while (lane && lane->kinds && lane->kinds[nk])
		nk++;
	if (nk > JOBS_LANE_KINDS_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "job lane: %zu kinds, at most %d", nk,
		                       JOBS_LANE_KINDS_MAX);
	*none = lane && lane->only && nk == 0;
	int rc = buf_append_str(q, "SELECT id, kind, arg FROM jobs WHERE ((state = 'queued' AND "
	                           "run_after <= $1) OR (state IN ('running', 'rerun') AND "
	                           "lease_until <= $1))");
	if (rc == 0 && nk)
		rc = buf_printf(q, " AND kind %sIN (", lane->only ? "" : "NOT ");
	for (size_t i = 0; rc == 0 && i < nk; i++) {
		params[(*n)++] = lane->kinds[i];
		rc = buf_printf(q, "%s$%zu", i ? ", " : "", *n);
	}
	if (rc == 0 && nk)
		rc = buf_append_str(q, ")");
	if (rc == 0)
		rc = buf_printf(q, " ORDER BY run_after, id LIMIT 1%s",
		                dialect == DB_POSTGRES ? " FOR UPDATE SKIP LOCKED" : "");
	return rc < 0 ? ferry_error_set(err, rc, "job claim query: %s", ferry_strerror(rc)) : 0;
}

int jobs_claim(struct db *db, const char *owner, long long lease_s, long long *id,
               char kind[JOBS_KIND_MAX], char arg[JOBS_ARG_MAX], ferry_error *err)
{
	return jobs_claim_lane(db, NULL, owner, lease_s, id, kind, arg, err);
}

int jobs_claim_lane(struct db *db, const struct jobs_lane *lane, const char *owner,
                    long long lease_s, long long *id, char kind[JOBS_KIND_MAX],
                    char arg[JOBS_ARG_MAX], ferry_error *err)
{
	char now[24], until[24], ids[24];
	const char *params[1 + JOBS_LANE_KINDS_MAX];
	size_t nparams = 0;
	bool none = false;
	_cleanup_buf_ struct buf sql = BUF_INIT(JOBS_CLAIM_SQL_MAX);
	long long t = store_now();
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(until, sizeof(until), "%lld", t + lease_s);
	params[nparams++] = now;
	int rc = claim_sql(lane, db_dialect(db), &sql, params, &nparams, &none, err);
	if (rc < 0 || none)
		return rc;
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	rc = db_begin(db, true, err);
	if (rc == 0)
		rc = db_exec(db, sql.data, params, nparams, &rows, err);
	if (rc == 0 && rows.nrows == 0) {
		db_rollback(db);
		return 0;
	}
	if (rc == 0) {
		*id = db_cell_ll(&rows, 0, 0);
		snprintf(kind, JOBS_KIND_MAX, "%s", db_cell(&rows, 0, 1));
		snprintf(arg, JOBS_ARG_MAX, "%s", db_cell(&rows, 0, 2) ? db_cell(&rows, 0, 2) : "");
		snprintf(ids, sizeof(ids), "%lld", *id);
		rc = db_run(db, NULL, err,
		            "UPDATE jobs SET state = 'running', lease_until = $1, owner = $2, "
		            "attempts = attempts + 1 WHERE id = $3",
		            until, owner, ids);
	}
	if (rc == 0)
		rc = db_commit(db, err);
	if (rc < 0) {
		db_rollback(db);
		return rc;
	}
	return 1;
}

int jobs_finish(struct db *db, long long id, bool again, long long run_after, const char *error,
                ferry_error *err)
{
	char ids[24], ra[24];
	snprintf(ids, sizeof(ids), "%lld", id);
	snprintf(ra, sizeof(ra), "%lld", run_after);
	/* Deleted only while still "running": a job asked for again during
	 * the run ("rerun") goes back to the queue, at the earlier of the two
	 * times when it also asked to recur. */
	int rc = 0;
	if (!again)
		rc = db_run(db, NULL, err, "DELETE FROM jobs WHERE id = $1 AND state = 'running'",
		            ids);
	if (rc == 0)
		rc = db_run(db, NULL, err,
		            "UPDATE jobs SET state = 'queued', run_after = CASE WHEN state = "
		            "'rerun' AND ($4 = 0 OR run_after < $2) THEN run_after ELSE $2 END, "
		            "lease_until = 0, owner = NULL, last_error = $3 WHERE id = $1",
		            ids, ra, error, again ? "1" : "0");
	return rc;
}
