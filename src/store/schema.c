/* schema.c: the store's schema as numbered migrations, all in this one
 * place, and the runner that applies them. The database records its version
 * in schema_version (one row); each migration runs in its own transaction
 * together with the version bump, so a crash leaves the database at one
 * version or the next. Two instances starting together on PostgreSQL are
 * serialised by an advisory lock; SQLite's BEGIN IMMEDIATE does the same.
 *
 * Both engines get the same SQL except where written out twice: the
 * auto-numbered key of the job table (INTEGER PRIMARY KEY on SQLite,
 * BIGSERIAL on PostgreSQL). Types keep to TEXT and BIGINT; times are Unix
 * seconds; a revision's architectures are a JSON array in text.
 *
 * Tables (version 1)
 *   accounts       publishers
 *   tokens         API tokens: SHA-256 of the token, never the token
 *   packages       registered names, owner, next revision, and the
 *                  generation of its channel map (map_gen) against the one
 *                  last published (published_gen): recovery re-publishes
 *                  every package where they differ
 *   collaborators  accounts besides the owner that may push and release
 *   tracks         tracks other than "latest" opened for a package
 *   revisions      uploads: hashes, size, version, architectures, manifest,
 *                  SBOM, and whether its image is a published target yet;
 *                  (package, sha256) unique
 *   channels       one row per (package, track, risk, branch, arch) that
 *                  holds a revision, a progressive release, or a closing
 *   jobs           work that must happen once, claimed by one instance
 * Version 2: vulnerability notices (vulns_schema.h); version 3: device
 * outcome reports (reports_schema.h); version 4: halting a progressive
 * release that devices report failing (halt_schema.h); version 5: device-key
 * bindings kept apart from reports (reports_schema.h); version 6: halting
 * full releases too (halt_schema.h); version 7: staged rollouts, the device
 * inventory and release events to webhooks (rollout_schema.h); version 8: the
 * action of a device report (reports_schema.h); version 9: deltas and what
 * a device downloaded (deltas_schema.h).
 *
 * Also here: the one check that a database is at this program's version
 * (db_open_checked, db_schema_check). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "deltas_schema.h"
#include "halt_schema.h"
#include "reports_schema.h"
#include "rollout_schema.h"
#include "vulns_schema.h"

struct migration {
	int version;
	const char *sql_sqlite;
	const char *sql_pg;
};

#define V1_COMMON                                                                                  \
	"CREATE TABLE accounts (name TEXT PRIMARY KEY, created BIGINT NOT NULL);"                  \
	"CREATE TABLE tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"                     \
	"  account TEXT NOT NULL REFERENCES accounts(name), created BIGINT NOT NULL,"              \
	"  revoked BIGINT);"                                                                       \
	"CREATE INDEX tokens_account ON tokens(account);"                                          \
	"CREATE TABLE packages (name TEXT PRIMARY KEY,"                                            \
	"  owner TEXT NOT NULL REFERENCES accounts(name), created BIGINT NOT NULL,"                \
	"  next_revision BIGINT NOT NULL DEFAULT 1,"                                               \
	"  map_gen BIGINT NOT NULL DEFAULT 0, published_gen BIGINT NOT NULL DEFAULT 0);"           \
	"CREATE TABLE collaborators (package TEXT NOT NULL REFERENCES packages(name),"             \
	"  account TEXT NOT NULL REFERENCES accounts(name), added BIGINT NOT NULL,"                \
	"  PRIMARY KEY (package, account));"                                                       \
	"CREATE TABLE tracks (package TEXT NOT NULL REFERENCES packages(name),"                    \
	"  track TEXT NOT NULL, created BIGINT NOT NULL, PRIMARY KEY (package, track));"           \
	"CREATE TABLE revisions (package TEXT NOT NULL REFERENCES packages(name),"                 \
	"  revision BIGINT NOT NULL, sha256 TEXT NOT NULL, sha512 TEXT NOT NULL,"                  \
	"  size BIGINT NOT NULL, version TEXT NOT NULL, architectures TEXT NOT NULL,"              \
	"  manifest TEXT NOT NULL, sbom TEXT, uploader TEXT NOT NULL,"                             \
	"  created BIGINT NOT NULL, published BIGINT NOT NULL DEFAULT 0,"                          \
	"  PRIMARY KEY (package, revision),"                                                       \
	"  UNIQUE (package, sha256));"                                                             \
	"CREATE TABLE channels (package TEXT NOT NULL REFERENCES packages(name),"                  \
	"  track TEXT NOT NULL, risk TEXT NOT NULL, branch TEXT NOT NULL DEFAULT '',"              \
	"  arch TEXT NOT NULL, revision BIGINT, progressive_revision BIGINT,"                      \
	"  progressive_pct BIGINT, updated BIGINT NOT NULL, expires BIGINT,"                       \
	"  PRIMARY KEY (package, track, risk, branch, arch));"

#define V1_JOBS(serial)                                                                            \
	"CREATE TABLE jobs (id " serial ", kind TEXT NOT NULL,"                                    \
	"  arg TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'queued',"                    \
	"  run_after BIGINT NOT NULL, lease_until BIGINT NOT NULL DEFAULT 0,"                      \
	"  attempts BIGINT NOT NULL DEFAULT 0, owner TEXT, last_error TEXT,"                       \
	"  UNIQUE (kind, arg));"                                                                   \
	"CREATE INDEX jobs_due ON jobs(state, run_after);"

static const struct migration migrations[] = {
    {1, V1_COMMON V1_JOBS("INTEGER PRIMARY KEY"), V1_COMMON V1_JOBS("BIGSERIAL PRIMARY KEY")},
    {2, V2_VULNS("INTEGER PRIMARY KEY"), V2_VULNS("BIGSERIAL PRIMARY KEY")},
    {3, V3_REPORTS("INTEGER PRIMARY KEY"), V3_REPORTS("BIGSERIAL PRIMARY KEY")},
    {4, V4_HALTS("INTEGER PRIMARY KEY"), V4_HALTS("BIGSERIAL PRIMARY KEY")},
    {5, V5_DEVICE_KEYS, V5_DEVICE_KEYS},
    {6, V6_FULL_HALTS, V6_FULL_HALTS},
    {7, V7_ROLLOUTS("INTEGER PRIMARY KEY"), V7_ROLLOUTS("BIGSERIAL PRIMARY KEY")},
    {8, V8_REPORT_ACTION, V8_REPORT_ACTION},
    {9, V9_DELTAS, V9_DELTAS},
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

int db_schema_latest(void)
{
	return migrations[N_MIGRATIONS - 1].version;
}

static int read_version(struct db *db, int *out, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_exec(db, "SELECT version FROM schema_version", NULL, 0, &rows, err);
	if (rc < 0)
		return rc;
	*out = rows.nrows ? (int)db_cell_ll(&rows, 0, 0) : 0;
	return 0;
}

static int ensure_version_table(struct db *db, ferry_error *err)
{
	return db_exec_script(
	    db, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)", err);
}

int db_schema_version(struct db *db, int *out, ferry_error *err)
{
	int rc = ensure_version_table(db, err);
	return rc < 0 ? rc : read_version(db, out, err);
}

/* The database as a message names it: the path of a SQLite file, or a
 * PostgreSQL URL without its user, password and parameters (which may hold
 * secrets). */
static void display_name(const char *url, char *out, size_t size)
{
	const char *rest = strstr(url, "://");
	if (strncmp(url, "sqlite:", 7) == 0 || !rest) {
		snprintf(out, size, "%s", strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url);
		return;
	}
	rest += 3;
	size_t auth = strcspn(rest, "/?#");
	const char *at = memchr(rest, '@', auth);
	const char *host = at ? at + 1 : rest;
	snprintf(out, size, "%.*s%.*s", (int)(rest - url), url, (int)strcspn(host, "?#"), host);
}

int db_schema_check(struct db *db, const char *url, ferry_error *err)
{
	int v = 0, rc = db_schema_version(db, &v, err);
	if (rc < 0 || v == db_schema_latest())
		return rc;
	char name[PATH_MAX + 16];
	display_name(url, name, sizeof(name));
	return ferry_error_set(err, FERRY_E_INVALID,
	                       "database %s: schema is version %d, this ferry-store needs %d: run "
	                       "ferry-store migrate",
	                       name, v, db_schema_latest());
}

int db_open_checked(const char *url, struct db **out, ferry_error *err)
{
	int rc = db_open(url, out, err);
	if (rc == 0 && (rc = db_schema_check(*out, url, err)) < 0) {
		db_close(*out);
		*out = NULL;
	}
	return rc;
}

int db_migrate(struct db *db, int *from, int *to, ferry_error *err)
{
	int rc = ensure_version_table(db, err), cur = 0, start = -1;
	if (rc < 0)
		return ferry_error_prefix(err, rc, "schema");
	for (;;) {
		if ((rc = db_begin(db, true, err)) < 0)
			return ferry_error_prefix(err, rc, "schema");
		if (db_dialect(db) == DB_POSTGRES &&
		    (rc = db_exec_script(db, "SELECT pg_advisory_xact_lock(8470)", err)) < 0)
			goto fail;
		if ((rc = read_version(db, &cur, err)) < 0)
			goto fail;
		if (start < 0)
			start = cur;
		if (cur > db_schema_latest()) {
			rc = ferry_error_set(err, FERRY_E_UNSUPPORTED,
			                     "database schema version %d is newer than this "
			                     "ferry-store knows (%d): upgrade ferry-store",
			                     cur, db_schema_latest());
			goto fail;
		}
		const struct migration *m = NULL;
		for (size_t i = 0; i < N_MIGRATIONS; i++)
			if (migrations[i].version == cur + 1)
				m = &migrations[i];
		if (!m) {
			db_rollback(db);
			break;
		}
		rc = db_exec_script(db, db_dialect(db) == DB_POSTGRES ? m->sql_pg : m->sql_sqlite,
		                    err);
		if (rc < 0)
			goto fail;
		char v[16];
		snprintf(v, sizeof(v), "%d", m->version);
		rc = cur == 0 ? db_run(db, NULL, err, "INSERT INTO schema_version VALUES ($1)", v)
		              : db_run(db, NULL, err, "UPDATE schema_version SET version = $1", v);
		if (rc < 0)
			goto fail;
		if ((rc = db_commit(db, err)) < 0)
			goto fail;
	}
	if (from)
		*from = start;
	if (to)
		*to = cur;
	return 0;
fail:
	db_rollback(db);
	return ferry_error_prefix(err, rc, "schema migration to version %d", cur + 1);
}
