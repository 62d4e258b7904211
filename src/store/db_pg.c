/* db_pg.c: the PostgreSQL backend on libpq. One PGconn per connection;
 * statements go through PQexecParams with text parameters and text results,
 * so SQL written for SQLite's $N names runs unchanged. SQLSTATE classes map
 * to ferry errors (23505 unique violation: FERRY_E_EXISTS; serialization
 * failures, deadlocks and lock timeouts: FERRY_E_BUSY). A connection found
 * broken outside a transaction is reset once and the statement retried.
 * Not here: any SQL of the store's, connection pooling (db.c). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

struct db_pg {
	struct db base;
	PGconn *conn;
};

static void pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* NOTICEs (e.g. "relation already exists") are not errors */
}

static int pg_fail(struct db_pg *d, PGresult *res, ferry_error *err, const char *what)
{
	int code = FERRY_E_DB;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (state) {
		if (strcmp(state, "23505") == 0)
			code = FERRY_E_EXISTS;
		else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
		         strcmp(state, "55P03") == 0)
			code = FERRY_E_BUSY;
	}
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(d->conn);
	char clean[512];
	snprintf(clean, sizeof(clean), "%s", msg && *msg ? msg : "unknown error");
	size_t len = strlen(clean);
	while (len && (clean[len - 1] == '\n' || clean[len - 1] == ' '))
		clean[--len] = '\0';
	return ferry_error_set(err, code, "postgresql %s%s%s: %s", PQdb(d->conn), what ? ": " : "",
	                       what ? what : "", clean);
}

static void pg_close(struct db *db)
{
	struct db_pg *d = (struct db_pg *)db;
	if (d->conn)
		PQfinish(d->conn);
	free(d);
}

static int pg_open(const char *url, struct db **out, ferry_error *err)
{
	struct db_pg *d = calloc(1, sizeof(*d));
	if (!d)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	d->base.ops = &db_pg_ops;
	d->conn = PQconnectdb(url);
	if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
		const char *m = d->conn ? PQerrorMessage(d->conn) : "out of memory";
		char clean[512];
		snprintf(clean, sizeof(clean), "%s", m);
		size_t len = strlen(clean);
		while (len && clean[len - 1] == '\n')
			clean[--len] = '\0';
		ferry_error_set(err, FERRY_E_DB, "postgresql: cannot connect: %s", clean);
		pg_close(&d->base);
		return FERRY_E_DB;
	}
	PQsetNoticeProcessor(d->conn, pg_quiet, NULL);
	*out = &d->base;
	return 0;
}

static PGresult *pg_run(struct db_pg *d, const char *sql, const char *const *params, size_t n)
{
	PGresult *res = PQexecParams(d->conn, sql, (int)n, NULL, params, NULL, NULL, 0);
	if (PQstatus(d->conn) == CONNECTION_BAD && !d->base.in_txn) {
		PQclear(res);
		PQreset(d->conn);
		res = PQexecParams(d->conn, sql, (int)n, NULL, params, NULL, NULL, 0);
	}
	return res;
}

static int pg_exec(struct db *db, const char *sql, const char *const *params, size_t n,
                   struct db_rows *rows, ferry_error *err)
{
	struct db_pg *d = (struct db_pg *)db;
	PGresult *res = pg_run(d, sql, params, n);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = pg_fail(d, res, err, NULL);
		PQclear(res);
		return rc;
	}
	if (rows) {
		size_t nr = (size_t)PQntuples(res), nc = (size_t)PQnfields(res);
		rows->ncols = nc;
		const char *ch = PQcmdTuples(res);
		rows->changes = ch && *ch ? strtoull(ch, NULL, 10) : 0;
		if (nr && nc) {
			rows->cells = calloc(nr * nc, sizeof(char *));
			if (!rows->cells) {
				PQclear(res);
				return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			}
			rows->nrows = nr;
			for (size_t r = 0; r < nr; r++)
				for (size_t c = 0; c < nc; c++) {
					if (PQgetisnull(res, (int)r, (int)c))
						continue;
					char *v = strdup(PQgetvalue(res, (int)r, (int)c));
					if (!v) {
						PQclear(res);
						db_rows_free(rows);
						return ferry_error_set(err, FERRY_E_NOMEM,
						                       "out of memory");
					}
					rows->cells[r * nc + c] = v;
				}
		} else {
			rows->nrows = nr;
		}
	}
	PQclear(res);
	return 0;
}

static int pg_script(struct db *db, const char *sql, ferry_error *err)
{
	struct db_pg *d = (struct db_pg *)db;
	PGresult *res = PQexec(d->conn, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = pg_fail(d, res, err, NULL);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	return 0;
}

static int pg_begin(struct db *db, bool write, ferry_error *err)
{
	(void)write; /* READ COMMITTED; writers lock the rows they depend on */
	if (PQstatus(((struct db_pg *)db)->conn) == CONNECTION_BAD)
		PQreset(((struct db_pg *)db)->conn);
	return pg_script(db, "BEGIN", err);
}

static int pg_commit(struct db *db, ferry_error *err)
{
	return pg_script(db, "COMMIT", err);
}

static int pg_rollback(struct db *db)
{
	return pg_script(db, "ROLLBACK", NULL);
}

const struct db_ops db_pg_ops = {
    .name = "postgresql",
    .dialect = DB_POSTGRES,
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .exec_script = pg_script,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
};
