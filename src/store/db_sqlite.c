/* db_sqlite.c: the SQLite backend. One sqlite3 handle per connection, in WAL
 * mode (readers never wait for the writer) with synchronous=FULL, foreign
 * keys on, and a busy timeout so that writers queue instead of failing.
 * Write transactions are BEGIN IMMEDIATE: SQLite has one writer at a time,
 * which is also what makes the job queue's claim exclusive here.
 * Parameters $1..$N are bound by name. Not here: any SQL of the store's. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

#define SQLITE_BUSY_TIMEOUT_MS 15000

struct db_sqlite {
	struct db base;
	sqlite3 *h;
	char path[4096];
};

static int sqlite_fail(struct db_sqlite *d, int rc, ferry_error *err, const char *what)
{
	int code = FERRY_E_DB;
	int prim = rc & 0xff;
	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		code = FERRY_E_BUSY;
	else if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		code = FERRY_E_EXISTS;
	return ferry_error_set(err, code, "sqlite %s: %s: %s", d->path, what,
	                       d->h ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc));
}

static void sqlite_close(struct db *db)
{
	struct db_sqlite *d = (struct db_sqlite *)db;
	sqlite3_close_v2(d->h);
	free(d);
}

static int sqlite_script(struct db *db, const char *sql, ferry_error *err)
{
	struct db_sqlite *d = (struct db_sqlite *)db;
	char *msg = NULL;
	int rc = sqlite3_exec(d->h, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		int code = ((rc & 0xff) == SQLITE_BUSY) ? FERRY_E_BUSY : FERRY_E_DB;
		ferry_error_set(err, code, "sqlite %s: %s", d->path,
		                msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return code;
	}
	return 0;
}

static int sqlite_open(const char *path, struct db **out, ferry_error *err)
{
	struct db_sqlite *d = calloc(1, sizeof(*d));
	if (!d)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	d->base.ops = &db_sqlite_ops;
	snprintf(d->path, sizeof(d->path), "%s", path);
	int rc = sqlite3_open_v2(
	    path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlite_fail(d, rc, err, "open");
		sqlite_close(&d->base);
		return rc;
	}
	sqlite3_extended_result_codes(d->h, 1);
	sqlite3_busy_timeout(d->h, SQLITE_BUSY_TIMEOUT_MS);
	rc = sqlite_script(&d->base,
	                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
	                   "PRAGMA foreign_keys=ON;",
	                   err);
	if (rc < 0) {
		sqlite_close(&d->base);
		return rc;
	}
	*out = &d->base;
	return 0;
}

static int sqlite_exec(struct db *db, const char *sql, const char *const *params, size_t n,
                       struct db_rows *rows, ferry_error *err)
{
	struct db_sqlite *d = (struct db_sqlite *)db;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(d->h, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(d, rc, err, "prepare");
	for (size_t i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "$%zu", i + 1);
		int idx = sqlite3_bind_parameter_index(st, name);
		if (idx == 0)
			continue; /* the statement does not use this one */
		rc = params[i] ? sqlite3_bind_text(st, idx, params[i], -1, SQLITE_TRANSIENT)
		               : sqlite3_bind_null(st, idx);
		if (rc != SQLITE_OK) {
			sqlite3_finalize(st);
			return sqlite_fail(d, rc, err, "bind");
		}
	}
	size_t ncols = (size_t)sqlite3_column_count(st), cap = 0;
	if (rows)
		rows->ncols = ncols;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			rc = sqlite_fail(d, rc, err, "step");
			sqlite3_finalize(st);
			if (rows)
				db_rows_free(rows);
			return rc;
		}
		if (!rows)
			continue;
		if (rows->nrows == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **c =
			    realloc(rows->cells, ncap * (ncols ? ncols : 1) * sizeof(char *));
			if (!c) {
				sqlite3_finalize(st);
				db_rows_free(rows);
				return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			}
			rows->cells = c;
			cap = ncap;
		}
		for (size_t c = 0; c < ncols; c++) {
			const unsigned char *v = sqlite3_column_text(st, (int)c);
			char *copy = NULL;
			if (v && !(copy = strdup((const char *)v))) {
				rows->cells[rows->nrows * ncols + c] = NULL;
				rows->nrows++;
				sqlite3_finalize(st);
				db_rows_free(rows);
				return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			}
			rows->cells[rows->nrows * ncols + c] = copy;
		}
		rows->nrows++;
	}
	if (rows)
		rows->changes = (uint64_t)sqlite3_changes64(d->h);
	sqlite3_finalize(st);
	return 0;
}

static int sqlite_begin(struct db *db, bool write, ferry_error *err)
{
	return sqlite_script(db, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
}

static int sqlite_commit(struct db *db, ferry_error *err)
{
	return sqlite_script(db, "COMMIT", err);
}

static int sqlite_rollback(struct db *db)
{
	return sqlite_script(db, "ROLLBACK", NULL);
}

const struct db_ops db_sqlite_ops = {
    .name = "sqlite",
    .dialect = DB_SQLITE,
    .open = sqlite_open,
    .close = sqlite_close,
    .exec = sqlite_exec,
    .exec_script = sqlite_script,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
};
