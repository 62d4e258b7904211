/* db.h: the store's database, one interface over two real backends: SQLite
 * (db_sqlite.c, the embedded default) and PostgreSQL (db_pg.c, libpq).
 *
 * A backend is a small table of function pointers (struct db_ops). SQL is
 * written once with numbered parameters $1, $2, ... which both engines take
 * (SQLite reads "$1" as a named parameter that db_sqlite.c binds by name).
 * Every parameter and every result cell is text or NULL; the schema keeps to
 * TEXT and BIGINT so that both engines agree. Where the dialects differ the
 * caller asks db_dialect() and says so (schema.c, the job queue's claim).
 *
 * A connection is used by one thread at a time; struct db_pool hands them out
 * to the server's threads. Write transactions on SQLite are BEGIN IMMEDIATE
 * (one writer, others wait up to the busy timeout); on PostgreSQL they run at
 * READ COMMITTED and take row locks (SELECT ... FOR UPDATE) where two
 * instances could race.
 *
 * Not here: the schema itself (schema.c), what the rows mean (the API). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum db_dialect { DB_SQLITE = 0, DB_POSTGRES = 1 };

/* Rows returned by a query: cells[row * ncols + col], NULL for SQL NULL. */
struct db_rows {
	size_t nrows;
	size_t ncols;
	char **cells;
	uint64_t changes; /* rows inserted, updated or deleted by the statement */
};

struct db;

struct db_ops {
	const char *name;
	enum db_dialect dialect;
	int (*open)(const char *target, struct db **out, ferry_error *err);
	void (*close)(struct db *db);
	/* Run one statement with n text parameters; rows may be NULL when the
	 * caller wants none. */
	int (*exec)(struct db *db, const char *sql, const char *const *params, size_t n,
	            struct db_rows *rows, ferry_error *err);
	/* Run several statements separated by ';' without parameters. */
	int (*exec_script)(struct db *db, const char *sql, ferry_error *err);
	int (*begin)(struct db *db, bool write, ferry_error *err);
	int (*commit)(struct db *db, ferry_error *err);
	int (*rollback)(struct db *db);
};

struct db {
	const struct db_ops *ops;
	bool in_txn;
};

extern const struct db_ops db_sqlite_ops;
#ifdef FERRY_HAVE_PQ
extern const struct db_ops db_pg_ops;
#endif

/* Open by URL: "postgresql://..." or "postgres://..." goes to PostgreSQL, a
 * path or "sqlite:PATH" to SQLite. */
int db_open(const char *url, struct db **out, ferry_error *err) FERRY_WUR;
void db_close(struct db *db);
enum db_dialect db_dialect(const struct db *db);

int db_exec(struct db *db, const char *sql, const char *const *params, size_t n,
            struct db_rows *rows, ferry_error *err) FERRY_WUR;
int db_exec_script(struct db *db, const char *sql, ferry_error *err) FERRY_WUR;
int db_begin(struct db *db, bool write, ferry_error *err) FERRY_WUR;
int db_commit(struct db *db, ferry_error *err) FERRY_WUR;
/* Roll back if a transaction is open; harmless otherwise. */
void db_rollback(struct db *db);

/* Convenience: db_exec with a NULL-terminated parameter list. */
#define DB_PARAMS(...) ((const char *const[]){__VA_ARGS__})
#define db_run(db, rows, err, sql, ...)                                                            \
	db_exec((db), (sql), DB_PARAMS(__VA_ARGS__),                                               \
	        sizeof(DB_PARAMS(__VA_ARGS__)) / sizeof(const char *), (rows), (err))

void db_rows_free(struct db_rows *rows);
static inline const char *db_cell(const struct db_rows *r, size_t row, size_t col)
{
	return (row < r->nrows && col < r->ncols) ? r->cells[row * r->ncols + col] : NULL;
}
/* A cell as a signed integer (0 when NULL or not a number). */
long long db_cell_ll(const struct db_rows *r, size_t row, size_t col);

static inline void db_rows_freep(struct db_rows *r)
{
	db_rows_free(r);
}
#define _cleanup_rows_ __attribute__((cleanup(db_rows_freep)))
#define DB_ROWS_INIT                                                                               \
	{                                                                                          \
		0, 0, NULL, 0                                                                      \
	}

/* Schema migrations (schema.c): bring the database to the newest version,
 * in one transaction per step. *from and *to (optional) get the versions. */
int db_migrate(struct db *db, int *from, int *to, ferry_error *err) FERRY_WUR;
/* The version the database is at (0 for an empty one). */
int db_schema_version(struct db *db, int *out, ferry_error *err) FERRY_WUR;
/* The newest version this program knows. */
int db_schema_latest(void);
/* Is the database at the version this program knows? FERRY_E_INVALID with
 * a message naming the database (url, without credentials) and both
 * versions when not. */
int db_schema_check(struct db *db, const char *url, ferry_error *err) FERRY_WUR;
/* db_open, then db_schema_check: how every command that uses the store's
 * data opens it (migrate and init open it with db_open). */
int db_open_checked(const char *url, struct db **out, ferry_error *err) FERRY_WUR;

/* A fixed set of connections for the server's threads. */
struct db_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct db **conns;
	bool *busy;
	size_t n;
};

int db_pool_open(struct db_pool *pool, const char *url, size_t n, ferry_error *err) FERRY_WUR;
void db_pool_close(struct db_pool *pool);
/* Wait for a free connection. */
struct db *db_pool_get(struct db_pool *pool);
/* Hand it back (a transaction left open is rolled back). */
void db_pool_put(struct db_pool *pool, struct db *db);
