/* handler.c: authorising a caller for a package and publishing after a
 * committed map change, for every route handler (see handler.h). Not here:
 * the routes themselves. */
#include "handler.h"

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/str.h"
#include "jobs.h"
#include "metrics.h"

int api_authorise_package(struct api_ctx *c, bool for_update)
{
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	const char *sql = (for_update && db_dialect(c->db) == DB_POSTGRES)
	                      ? "SELECT owner FROM packages WHERE name = $1 FOR UPDATE"
	                      : "SELECT owner FROM packages WHERE name = $1";
	int rc = db_run(c->db, &rows, &err, sql, c->package);
	if (rc < 0) {
		api_error_from(c, rc, &err);
		return rc;
	}
	if (rows.nrows == 0) {
		api_error(c, 404, "not-found", "package %s is not registered (ferry register %s)",
		          c->package, c->package);
		return FERRY_E_NOTFOUND;
	}
	if (str_eq(db_cell(&rows, 0, 0), c->account))
		return 0;
	db_rows_free(&rows);
	rc = db_run(c->db, &rows, &err,
	            "SELECT account FROM collaborators WHERE package = $1 AND account = $2",
	            c->package, c->account);
	if (rc < 0) {
		api_error_from(c, rc, &err);
		return rc;
	}
	if (rows.nrows == 0) {
		api_error(c, 403, "forbidden", "account %s may not publish %s", c->account,
		          c->package);
		return FERRY_E_PERM;
	}
	return 0;
}

bool publish_or_queue(struct store *st, struct db *db, const char *package)
{
	ferry_error err = {0};
	if (FAULT("release-after-commit"))
		return false;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = publish_package(st, db, package, &err);
	metrics_publish(st->metrics, metrics_since(&t0));
	if (rc < 0) {
		log_error("publish %s: %s (queued for retry)", package, ferry_error_msg(&err));
		ferry_error jerr = {0};
		if (jobs_enqueue(db, "publish", package, store_now() + 5, &jerr) < 0)
			log_error("queue publish %s: %s", package, ferry_error_msg(&jerr));
		return false;
	}
	return true;
}

bool api_publish_after_commit(struct api_ctx *c)
{
	return publish_or_queue(c->st, c->db, c->package);
}
