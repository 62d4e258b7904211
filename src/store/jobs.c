/* jobs.c: the job table (jobs.h), a queue of work that must happen once
 * however many instances run. An instance claims a due job in a short
 * transaction: on PostgreSQL with SELECT ... FOR UPDATE SKIP LOCKED (two
 * instances never get the same row and never wait for each other); on
 * SQLite inside BEGIN IMMEDIATE, which admits one writer at a time. A claim
 * is a lease: a job whose instance died is claimed again when its lease
 * runs out. A job queued again while it runs is marked "rerun" and goes
 * back to the queue when that run ends. A finished job is deleted, or
 * re-queued at the time its runner chose (a retry after a failure, a
 * back-off, or the next run of a recurring job). Not here: the kinds of
 * job and the worker pass that runs them (job_kinds.c). */
#include "jobs.h"

#include <stdio.h>
#include <string.h>

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

int jobs_claim(struct db *db, const char *owner, long long lease_s, long long *id,
               char kind[JOBS_KIND_MAX], char arg[JOBS_ARG_MAX], ferry_error *err)
{
	char now[24], until[24], ids[24];
	long long t = store_now();
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(until, sizeof(until), "%lld", t + lease_s);
	const char *sql =
	    db_dialect(db) == DB_POSTGRES
	        ? "SELECT id, kind, arg FROM jobs WHERE (state = 'queued' AND run_after <= $1)"
	          " OR (state IN ('running', 'rerun') AND lease_until <= $1) ORDER BY "
	          "run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED"
	        : "SELECT id, kind, arg FROM jobs WHERE (state = 'queued' AND run_after <= $1)"
	          " OR (state IN ('running', 'rerun') AND lease_until <= $1) ORDER BY "
	          "run_after, id LIMIT 1";
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_begin(db, true, err);
	if (rc == 0)
		rc = db_run(db, &rows, err, sql, now);
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
