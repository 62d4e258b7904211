/* state.c: SQLite state of the agent (see state.h): opening with the pragmas
 * that make commits durable, schema migrations, and small helpers that bind
 * arguments and turn rows into JSON. It knows the tables but not what the
 * agent does with them. */
#include "state.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"

/* Migration N takes a database from user_version N to N+1. Never edit one
 * that has shipped: add another. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE config(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE packages("
    "  name TEXT PRIMARY KEY,"
    "  current TEXT NOT NULL," /* revision running */
    "  channel TEXT NOT NULL DEFAULT 'latest/stable',"
    "  installed INTEGER NOT NULL);" /* unix time of first install */
    "CREATE TABLE revisions("
    "  name TEXT NOT NULL, rev TEXT NOT NULL,"
    "  version TEXT NOT NULL DEFAULT '',"
    "  sha256 TEXT NOT NULL DEFAULT '',"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  local INTEGER NOT NULL DEFAULT 0,"   /* installed from a file with --dangerous */
    "  status TEXT NOT NULL DEFAULT 'new'," /* new (in a transaction) or ok */
    "  added INTEGER NOT NULL,"
    "  PRIMARY KEY(name, rev));"
    "CREATE TABLE holds(name TEXT PRIMARY KEY," /* '*' holds every package */
    "  until INTEGER NOT NULL);"                /* unix time; 0 forever */
    "CREATE TABLE pkg_config(name TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY(name, key));"
    "CREATE TABLE connections(plug TEXT NOT NULL, slot TEXT NOT NULL, PRIMARY KEY(plug, slot));"
    "CREATE TABLE blocked(name TEXT NOT NULL, rev TEXT NOT NULL, reason TEXT NOT NULL,"
    "  at INTEGER NOT NULL, PRIMARY KEY(name, rev));" /* not refreshed to again */
    "CREATE TABLE changes("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', summary TEXT NOT NULL,"
    "  status TEXT NOT NULL," /* Do, Doing, Done, Error */
    "  spawn INTEGER NOT NULL, ready INTEGER,"
    "  err TEXT, data TEXT NOT NULL DEFAULT '{}');"
    "CREATE TABLE steps("
    "  change INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  kind TEXT NOT NULL, summary TEXT NOT NULL,"
    "  status TEXT NOT NULL," /* Do Doing Done Undoing Undone Error */
    "  started INTEGER, ended INTEGER, msg TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY(change, seq));",
    /* 1 -> 2: step times in milliseconds too (for `ferry change` and bench/agent) */
    "ALTER TABLE steps ADD COLUMN started_ms INTEGER;"
    "ALTER TABLE steps ADD COLUMN ended_ms INTEGER;",
    /* 2 -> 3: confinement. connections: the user's decisions, per package and
     * plug (not revision: they survive refreshes); a plug without a row is
     * connected when its interface auto-connects (sandbox.c). pkg_ids: the
     * uid and gid (the same number) of each package when ferryd is root. */
    "DROP TABLE connections;"
    "CREATE TABLE connections(name TEXT NOT NULL, plug TEXT NOT NULL,"
    "  interface TEXT NOT NULL, connected INTEGER NOT NULL, at INTEGER NOT NULL,"
    "  PRIMARY KEY(name, plug));"
    "CREATE TABLE pkg_ids(name TEXT PRIMARY KEY, uid INTEGER NOT NULL UNIQUE);",
    /* 3 -> 4: outcome reports waiting to be sent to the store (report.c); at
     * most one per change */
    "CREATE TABLE IF NOT EXISTS outbox("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  change INTEGER NOT NULL UNIQUE,"
    "  body TEXT NOT NULL," /* the exact bytes that are signed and sent */
    "  created INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_ms INTEGER NOT NULL DEFAULT 0," /* wall clock */
    "  last_error TEXT);",
    /* 2 -> 3: the packages the device agreed to run in devmode */
    "CREATE TABLE IF NOT EXISTS devmode(name TEXT PRIMARY KEY, at INTEGER NOT NULL);",
};

static int db_error(sqlite3 *db, ferry_error *err, const char *what)
{
	return ferry_error_set(err, FERRY_E_DB, "state.db: %s: %s", what, sqlite3_errmsg(db));
}

int state_begin(sqlite3 *db, ferry_error *err)
{
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(db, err, "begin");
	return 0;
}

int state_commit(sqlite3 *db, ferry_error *err)
{
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = db_error(db, err, "commit");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return 0;
}

void state_rollback(sqlite3 *db)
{
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int state_end(sqlite3 *db, int rc, ferry_error *err)
{
	if (rc < 0) {
		state_rollback(db);
		return rc;
	}
	return state_commit(db, err);
}

static int migrate(sqlite3 *db, ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return db_error(db, err, "read schema version");
	int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (version > (int)ARRAY_SIZE(migrations))
		return ferry_error_set(
		    err, FERRY_E_UNSUPPORTED,
		    "state.db: schema version %d is newer than this ferryd knows (%d)", version,
		    (int)ARRAY_SIZE(migrations));
	for (int v = version; v < (int)ARRAY_SIZE(migrations); v++) {
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v + 1);
		if (state_begin(db, err) < 0)
			return ferry_error_prefix(err, FERRY_E_DB, "migrate to %d", v + 1);
		if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
			int rc = db_error(db, err, "migrate schema");
			state_rollback(db);
			return rc;
		}
		if (state_commit(db, err) < 0)
			return FERRY_E_DB;
	}
	return 0;
}

int state_open(const char *path, sqlite3 **out, ferry_error *err)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		int rc = ferry_error_set(err, FERRY_E_DB, "%s: %s", path,
		                         db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 10000);
	/* WAL with synchronous=FULL: every commit is on disk when it returns.
	 * A small page cache keeps the agent's memory small. */
	const char *pragmas = "PRAGMA journal_mode=WAL;"
	                      "PRAGMA synchronous=FULL;"
	                      "PRAGMA foreign_keys=ON;"
	                      "PRAGMA cache_size=-256;";
	if (sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		int rc = db_error(db, err, path);
		sqlite3_close(db);
		return rc;
	}
	int rc = migrate(db, err);
	if (rc < 0) {
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

void state_close(sqlite3 *db)
{
	if (db)
		sqlite3_close(db);
}

static int prepare_bind(sqlite3 *db, sqlite3_stmt **out, ferry_error *err, const char *sql,
                        const char *fmt, va_list ap)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(db, err, "prepare");
	for (int i = 0; fmt && fmt[i]; i++) {
		int r = SQLITE_OK;
		switch (fmt[i]) {
		case 't': {
			const char *s = va_arg(ap, const char *);
			r = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT)
			      : sqlite3_bind_null(st, i + 1);
			break;
		}
		case 'i':
			r = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		case 'n':
			r = sqlite3_bind_null(st, i + 1);
			break;
		default:
			sqlite3_finalize(st);
			return ferry_error_set(err, FERRY_E_INTERNAL, "state: bad bind format %c",
			                       fmt[i]);
		}
		if (r != SQLITE_OK) {
			int rc = db_error(db, err, "bind");
			sqlite3_finalize(st);
			return rc;
		}
	}
	*out = st;
	return 0;
}

int state_exec(sqlite3 *db, ferry_error *err, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	va_start(ap, fmt);
	int rc = prepare_bind(db, &st, err, sql, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return rc;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (r != SQLITE_DONE)
		rc = db_error(db, err, "write");
	sqlite3_finalize(st);
	return rc;
}

static json_t *row_to_json(sqlite3_stmt *st)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	int n = sqlite3_column_count(st);
	for (int c = 0; c < n; c++) {
		json_t *v;
		switch (sqlite3_column_type(st, c)) {
		case SQLITE_INTEGER:
			v = json_integer(sqlite3_column_int64(st, c));
			break;
		case SQLITE_NULL:
			v = json_null();
			break;
		default:
			v = json_string((const char *)sqlite3_column_text(st, c));
			if (!v)
				v = json_string("");
			break;
		}
		if (!v || json_object_set_new(o, sqlite3_column_name(st, c), v) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int query_v(sqlite3 *db, json_t **rows, bool one, ferry_error *err, const char *sql,
                   const char *fmt, va_list ap)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare_bind(db, &st, err, sql, fmt, ap);
	if (rc < 0)
		return rc;
	json_t *arr = json_array();
	int r;
	while (arr && (r = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = row_to_json(st);
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			sqlite3_finalize(st);
			return ferry_error_set(err, FERRY_E_NOMEM, "state: out of memory");
		}
		if (one)
			break;
	}
	if (!arr) {
		sqlite3_finalize(st);
		return ferry_error_set(err, FERRY_E_NOMEM, "state: out of memory");
	}
	if (!one && r != SQLITE_DONE) {
		rc = db_error(db, err, "read");
		json_decref(arr);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	*rows = arr;
	return 0;
}

int state_query(sqlite3 *db, json_t **rows, ferry_error *err, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = query_v(db, rows, false, err, sql, fmt, ap);
	va_end(ap);
	return rc;
}

int state_query_row(sqlite3 *db, json_t **row, ferry_error *err, const char *sql, const char *fmt,
                    ...)
{
	json_t *rows = NULL;
	va_list ap;
	va_start(ap, fmt);
	int rc = query_v(db, &rows, true, err, sql, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return rc;
	if (json_array_size(rows) == 0) {
		json_decref(rows);
		return ferry_error_set(err, FERRY_E_NOTFOUND, "not found");
	}
	*row = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return 0;
}

char *state_config_get(sqlite3 *db, const char *key)
{
	json_t *row = NULL;
	if (state_query_row(db, &row, NULL, "SELECT value FROM config WHERE key=?", "t", key) < 0)
		return NULL;
	const char *v = json_string_value(json_object_get(row, "value"));
	char *copy = v ? strdup(v) : NULL;
	json_decref(row);
	return copy;
}

int state_config_set(sqlite3 *db, const char *key, const char *value, ferry_error *err)
{
	if (!value)
		return state_exec(db, err, "DELETE FROM config WHERE key=?", "t", key);
	return state_exec(db, err, "INSERT OR REPLACE INTO config(key, value) VALUES(?, ?)", "tt",
	                  key, value);
}

int state_current(sqlite3 *db, const char *name, char *rev, ferry_error *err)
{
	json_t *row = NULL;
	int rc =
	    state_query_row(db, &row, NULL, "SELECT current FROM packages WHERE name=?", "t", name);
	if (rc == FERRY_E_NOTFOUND)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s is not installed", name);
	if (rc < 0)
		return ferry_error_set(err, rc, "state.db: read package %s", name);
	rc = str_copy(rev, STATE_REV_MAX, json_string_value(json_object_get(row, "current")));
	json_decref(row);
	return rc < 0 ? ferry_error_set(err, FERRY_E_CORRUPT, "%s: bad revision", name) : 0;
}

static int rev_parse(const char *r, bool *local, unsigned long long *n)
{
	*local = r[0] == 'x';
	return str_to_u64(r + (*local ? 1 : 0), 1ull << 62, n);
}

int state_rev_cmp(const char *a, const char *b)
{
	bool la, lb;
	unsigned long long na = 0, nb = 0;
	if (rev_parse(a, &la, &na) < 0 || rev_parse(b, &lb, &nb) < 0)
		return strcmp(a, b);
	if (la != lb)
		return la ? 1 : -1;
	return na < nb ? -1 : na > nb ? 1 : 0;
}

const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

json_t *state_pairs(json_t *rows)
{
	json_t *o = json_object();
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	    json_object_set(o, jstr(r, "key"), json_object_get(r, "value"));
	json_decref(rows);
	return o;
}
