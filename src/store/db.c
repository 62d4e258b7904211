/* db.c: picks the backend from a URL, forwards calls through its table of
 * function pointers, frees result rows, and keeps the connection pool. It
 * holds no SQL of its own (the schema is schema.c). */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "base/str.h"

int db_open(const char *url, struct db **out, ferry_error *err)
{
	*out = NULL;
	if (str_has_prefix(url, "postgresql://") || str_has_prefix(url, "postgres://")) {
#ifdef FERRY_HAVE_PQ
		return db_pg_ops.open(url, out, err);
#else
		return ferry_error_set(err, FERRY_E_UNSUPPORTED,
		                       "%s: this ferry-store was built without PostgreSQL", url);
#endif
	}
	if (str_has_prefix(url, "sqlite:"))
		url += strlen("sqlite:");
	return db_sqlite_ops.open(url, out, err);
}

void db_close(struct db *db)
{
	if (db)
		db->ops->close(db);
}

enum db_dialect db_dialect(const struct db *db)
{
	return db->ops->dialect;
}

int db_exec(struct db *db, const char *sql, const char *const *params, size_t n,
            struct db_rows *rows, ferry_error *err)
{
	if (rows)
		*rows = (struct db_rows)DB_ROWS_INIT;
	return db->ops->exec(db, sql, params, n, rows, err);
}

int db_exec_script(struct db *db, const char *sql, ferry_error *err)
{
	return db->ops->exec_script(db, sql, err);
}

int db_begin(struct db *db, bool write, ferry_error *err)
{
	if (db->in_txn)
		return ferry_error_set(err, FERRY_E_INTERNAL, "database: transaction already open");
	int rc = db->ops->begin(db, write, err);
	if (rc == 0)
		db->in_txn = true;
	return rc;
}

int db_commit(struct db *db, ferry_error *err)
{
	if (!db->in_txn)
		return ferry_error_set(err, FERRY_E_INTERNAL, "database: no transaction to commit");
	int rc = db->ops->commit(db, err);
	if (rc < 0)
		db->ops->rollback(db);
	db->in_txn = false;
	return rc;
}

void db_rollback(struct db *db)
{
	if (db && db->in_txn) {
		db->ops->rollback(db);
		db->in_txn = false;
	}
}

void db_rows_free(struct db_rows *rows)
{
	if (!rows || !rows->cells)
		return;
	for (size_t i = 0; i < rows->nrows * rows->ncols; i++)
		free(rows->cells[i]);
	free(rows->cells);
	*rows = (struct db_rows)DB_ROWS_INIT;
}

long long db_cell_ll(const struct db_rows *r, size_t row, size_t col)
{
	const char *s = db_cell(r, row, col);
	return s ? strtoll(s, NULL, 10) : 0;
}

int db_pool_open(struct db_pool *pool, const char *url, size_t n, ferry_error *err)
{
	memset(pool, 0, sizeof(*pool));
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pool->conns = calloc(n, sizeof(*pool->conns));
	pool->busy = calloc(n, sizeof(*pool->busy));
	if (!pool->conns || !pool->busy) {
		db_pool_close(pool);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		int rc = db_open(url, &pool->conns[i], err);
		if (rc < 0) {
			pool->n = i;
			db_pool_close(pool);
			return rc;
		}
	}
	pool->n = n;
	return 0;
}

void db_pool_close(struct db_pool *pool)
{
	for (size_t i = 0; i < pool->n; i++)
		db_close(pool->conns[i]);
	free(pool->conns);
	free(pool->busy);
	pool->conns = NULL;
	pool->busy = NULL;
	pool->n = 0;
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->cond);
}

struct db *db_pool_get(struct db_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		for (size_t i = 0; i < pool->n; i++)
			if (!pool->busy[i]) {
				pool->busy[i] = true;
				pthread_mutex_unlock(&pool->lock);
				return pool->conns[i];
			}
		pthread_cond_wait(&pool->cond, &pool->lock);
	}
}

void db_pool_put(struct db_pool *pool, struct db *db)
{
	if (!db)
		return;
	db_rollback(db);
	pthread_mutex_lock(&pool->lock);
	for (size_t i = 0; i < pool->n; i++)
		if (pool->conns[i] == db)
			pool->busy[i] = false;
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}
