/* jobs.c: work that must happen once however many instances run, through
 * the jobs table. An instance claims a due job in a short transaction:
 * on PostgreSQL with SELECT ... FOR UPDATE SKIP LOCKED (two instances never
 * get the same row and never wait for each other); on SQLite inside
 * BEGIN IMMEDIATE, which admits one writer at a time. A claim is a lease:
 * a job whose instance died is claimed again when its lease runs out.
 *
 * Kinds
 *   resign            recurring: re-sign timestamp and snapshot before they
 *                     expire, and drop branches past their expiry
 *   publish NAME      publish a package whose publication failed
 * Not here: what publishing does (publish.c). */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "store.h"
#include "vulns.h"

#define JOBS_LEASE_S 300
#define JOBS_RESIGN_EVERY_S 600
#define JOBS_RESIGN_WITHIN_S (12 * 3600)
#define JOBS_RETRY_S 30
#define JOBS_PER_PASS 8

int jobs_enqueue(struct db *db, const char *kind, const char *arg, long long run_after,
                 ferry_error *err)
{
	char ra[24];
	snprintf(ra, sizeof(ra), "%lld", run_after);
	/* an existing job keeps the earlier time; the conflict clause and
	 * "excluded" read the same on both engines */
	return db_run(db, NULL, err,
	              "INSERT INTO jobs (kind, arg, run_after) VALUES ($1, $2, $3) "
	              "ON CONFLICT (kind, arg) DO UPDATE SET run_after = CASE WHEN "
	              "jobs.run_after < excluded.run_after THEN jobs.run_after ELSE "
	              "excluded.run_after END",
	              kind, arg, ra);
}

int jobs_claim(struct db *db, const char *owner, long long lease_s, long long *id, char kind[32],
               char arg[256], ferry_error *err)
{
	char now[24], until[24], ids[24];
	long long t = store_now();
	snprintf(now, sizeof(now), "%lld", t);
	snprintf(until, sizeof(until), "%lld", t + lease_s);
	const char *sql =
	    db_dialect(db) == DB_POSTGRES
	        ? "SELECT id, kind, arg FROM jobs WHERE (state = 'queued' AND run_after <= $1)"
	          " OR (state = 'running' AND lease_until <= $1) ORDER BY run_after, id "
	          "LIMIT 1 FOR UPDATE SKIP LOCKED"
	        : "SELECT id, kind, arg FROM jobs WHERE (state = 'queued' AND run_after <= $1)"
	          " OR (state = 'running' AND lease_until <= $1) ORDER BY run_after, id "
	          "LIMIT 1";
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
		snprintf(kind, 32, "%s", db_cell(&rows, 0, 1));
		snprintf(arg, 256, "%s", db_cell(&rows, 0, 2) ? db_cell(&rows, 0, 2) : "");
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
	if (!again)
		return db_run(db, NULL, err, "DELETE FROM jobs WHERE id = $1", ids);
	return db_run(db, NULL, err,
	              "UPDATE jobs SET state = 'queued', run_after = $2, lease_until = 0, "
	              "owner = NULL, last_error = $3 WHERE id = $1",
	              ids, ra, error);
}

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

int jobs_run_due(struct store *st, struct db *db, size_t *ran, ferry_error *err)
{
	*ran = 0;
	if (vulns_watch(db, err) < 0)
		log_warn("vulnerability scans: %s", ferry_error_msg(err));
	for (int i = 0; i < JOBS_PER_PASS && !st->stopping; i++) {
		long long id = 0;
		char kind[32], arg[256];
		int rc = jobs_claim(db, st->instance, JOBS_LEASE_S, &id, kind, arg, err);
		if (rc <= 0)
			return rc;
		ferry_error jerr = {0};
		bool again = false;
		long long next = 0;
		if (strcmp(kind, "resign") == 0) {
			size_t n = 0;
			rc = publish_resign(st, JOBS_RESIGN_WITHIN_S, &n, &jerr);
			if (rc == 0 && n)
				log_info("re-signed %zu role%s before expiry", n,
				         n == 1 ? "" : "s");
			if (rc == 0)
				rc = expire_branches(st, db, &jerr);
			again = true;
			next = store_now() + (rc == 0 ? JOBS_RESIGN_EVERY_S : JOBS_RETRY_S);
		} else if (strcmp(kind, "publish") == 0) {
			rc = publish_package(st, db, arg, &jerr);
			again = rc < 0;
			next = store_now() + JOBS_RETRY_S;
		} else if (vulns_job_kind(kind)) {
			rc = vulns_job_run(st, db, kind, arg, &again, &next, &jerr);
		} else {
			rc = ferry_error_set(&jerr, FERRY_E_UNSUPPORTED, "unknown job kind %s",
			                     kind);
		}
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
