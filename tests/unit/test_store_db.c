/* test_store_db.c: the store's database layer on a real backend: SQLite in a
 * temporary directory by default, or the PostgreSQL database named by
 * FERRY_TEST_DB (tests/system/test_store_db.py runs this program against a
 * private PostgreSQL server). Migrations, parameters and NULLs, unique
 * violations, transactions, the connection pool, tokens, the job queue's
 * claim (SKIP LOCKED on PostgreSQL) and channel-map resolution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/str.h"
#include "channelmap.h"
#include "db.h"
#include "jobs.h"
#include "store.h"
#include "testutil.h"

static char url[1024];

/* The program's clock (main.c), fixed here so that expiries are exact. */
long long store_now(void)
{
	return 1700000000LL;
}

static int setup(void **state)
{
	(void)state;
	const char *env = getenv("FERRY_TEST_DB");
	tu_tmpdir_setup(state);
	if (env && *env)
		snprintf(url, sizeof(url), "%s", env);
	else
		snprintf(url, sizeof(url), "%s/store.db", tu_tmpdir);
	return 0;
}

static struct db *open_migrated(void)
{
	struct db *db = NULL;
	ferry_error err = {0};
	assert_int_equal(db_open(url, &db, &err), 0);
	int from = -1, to = -1;
	assert_int_equal(db_migrate(db, &from, &to, &err), 0);
	assert_int_equal(to, db_schema_latest());
	return db;
}

/* Empty every table (the PostgreSQL database lives across tests). */
static void wipe(struct db *db)
{
	assert_int_equal(db_exec_script(db,
	                                "DELETE FROM jobs; DELETE FROM channels; "
	                                "DELETE FROM revisions; DELETE FROM tracks; "
	                                "DELETE FROM collaborators; DELETE FROM packages; "
	                                "DELETE FROM tokens; DELETE FROM accounts;",
	                                NULL),
	                 0);
}

static void test_migrations(void **state)
{
	(void)state;
	struct db *db = open_migrated();
	ferry_error err = {0};
	int from = -1, to = -1, v = 0;
	assert_int_equal(db_migrate(db, &from, &to, &err), 0);
	assert_int_equal(from, to); /* nothing to do the second time */
	assert_int_equal(db_schema_version(db, &v, &err), 0);
	assert_int_equal(v, db_schema_latest());
	/* a database from a newer ferry-store is refused, not damaged */
	assert_int_equal(db_exec_script(db, "UPDATE schema_version SET version = 99", NULL), 0);
	assert_int_equal(db_migrate(db, NULL, NULL, &err), FERRY_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "database schema version 99 is newer than this "
	                                "ferry-store knows"));
	/* and every command that opens it names the database and both versions */
	char want[128];
	snprintf(want, sizeof(want), "schema is version 99, this ferry-store needs %d",
	         db_schema_latest());
	struct db *other = NULL;
	assert_int_equal(db_open_checked(url, &other, &err), FERRY_E_INVALID);
	assert_null(other);
	assert_non_null(strstr(err.msg, want));
	if (!str_has_prefix(url, "postgres"))
		assert_non_null(strstr(err.msg, url));
	/* a PostgreSQL URL is named without its credentials */
	assert_int_equal(
	    db_schema_check(db, "postgresql://u:secret@db.example:5432/ferry?password=x", &err),
	    FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "database postgresql://db.example:5432/ferry: "));
	assert_null(strstr(err.msg, "secret"));
	char latest[8];
	snprintf(latest, sizeof(latest), "%d", db_schema_latest());
	assert_int_equal(db_run(db, NULL, NULL, "UPDATE schema_version SET version = $1", latest),
	                 0);
	assert_int_equal(db_open_checked(url, &other, &err), 0);
	db_close(other);
	db_close(db);
}

static void test_params_rows_and_errors(void **state)
{
	(void)state;
	struct db *db = open_migrated();
	ferry_error err = {0};
	wipe(db);
	struct db_rows rows = DB_ROWS_INIT;
	assert_int_equal(db_run(db, NULL, &err,
	                        "INSERT INTO accounts (name, created) VALUES ($1, $2)", "alice",
	                        "5"),
	                 0);
	assert_int_equal(db_run(db, NULL, &err,
	                        "INSERT INTO accounts (name, created) VALUES ($1, $2)", "bob", "6"),
	                 0);
	/* a unique violation is FERRY_E_EXISTS on both engines */
	assert_int_equal(db_run(db, NULL, &err,
	                        "INSERT INTO accounts (name, created) VALUES ($1, $2)", "alice",
	                        "7"),
	                 FERRY_E_EXISTS);
	/* text that looks like SQL stays text */
	assert_int_equal(db_run(db, NULL, &err,
	                        "INSERT INTO accounts (name, created) VALUES ($1, $2)",
	                        "x'); DROP TABLE accounts; --", "8"),
	                 0);
	assert_int_equal(
	    db_run(db, &rows, &err,
	           "SELECT name, created FROM accounts WHERE created >= $1 ORDER BY name", "6"),
	    0);
	assert_int_equal(rows.nrows, 2);
	assert_int_equal(rows.ncols, 2);
	assert_string_equal(db_cell(&rows, 0, 0), "bob");
	assert_int_equal(db_cell_ll(&rows, 1, 1), 8);
	assert_null(db_cell(&rows, 5, 0));
	db_rows_free(&rows);
	/* NULL in, NULL out; changes counted */
	assert_int_equal(db_run(db, NULL, &err,
	                        "INSERT INTO tokens (id, hash, account, created, revoked) "
	                        "VALUES ($1, $2, $3, $4, $5)",
	                        "t1", "h1", "alice", "1", NULL),
	                 0);
	assert_int_equal(db_run(db, &rows, &err, "SELECT revoked FROM tokens WHERE id = $1", "t1"),
	                 0);
	assert_int_equal(rows.nrows, 1);
	assert_null(db_cell(&rows, 0, 0));
	db_rows_free(&rows);
	assert_int_equal(db_run(db, &rows, &err, "UPDATE accounts SET created = $1", "9"), 0);
	assert_int_equal(rows.changes, 3);
	db_rows_free(&rows);
	/* a foreign key holds */
	assert_int_equal(
	    db_run(db, NULL, &err,
	           "INSERT INTO tokens (id, hash, account, created) VALUES ($1, $2, $3, "
	           "$4)",
	           "t2", "h2", "nobody", "1"),
	    FERRY_E_DB);
	/* a syntax error names the engine */
	assert_int_equal(db_exec(db, "SELEKT 1", NULL, 0, NULL, &err), FERRY_E_DB);
	assert_true(str_has_prefix(err.msg, "sqlite ") || str_has_prefix(err.msg, "postgresql "));
	db_close(db);
}

static void test_transactions(void **state)
{
	(void)state;
	struct db *db = open_migrated();
	ferry_error err = {0};
	struct db_rows rows = DB_ROWS_INIT;
	wipe(db);
	assert_int_equal(db_begin(db, true, &err), 0);
	assert_int_equal(db_begin(db, true, &err), FERRY_E_INTERNAL);
	assert_int_equal(db_run(db, NULL, &err,
	                        "INSERT INTO accounts (name, created) VALUES ($1, $2)", "gone",
	                        "1"),
	                 0);
	db_rollback(db);
	assert_int_equal(db_exec(db, "SELECT name FROM accounts", NULL, 0, &rows, &err), 0);
	assert_int_equal(rows.nrows, 0);
	db_rows_free(&rows);
	assert_int_equal(db_begin(db, true, &err), 0);
	assert_int_equal(db_run(db, NULL, &err,
	                        "INSERT INTO accounts (name, created) VALUES ($1, $2)", "kept",
	                        "1"),
	                 0);
	assert_int_equal(db_commit(db, &err), 0);
	assert_int_equal(db_commit(db, &err), FERRY_E_INTERNAL);
	/* another connection sees the commit */
	struct db_pool pool;
	assert_int_equal(db_pool_open(&pool, url, 2, &err), 0);
	struct db *a = db_pool_get(&pool), *b = db_pool_get(&pool);
	assert_ptr_not_equal(a, b);
	assert_int_equal(db_exec(a, "SELECT name FROM accounts", NULL, 0, &rows, &err), 0);
	assert_int_equal(rows.nrows, 1);
	assert_string_equal(db_cell(&rows, 0, 0), "kept");
	db_rows_free(&rows);
	/* a transaction left open is rolled back when handed back */
	assert_int_equal(db_begin(b, true, &err), 0);
	db_pool_put(&pool, b);
	assert_false(b->in_txn);
	db_pool_put(&pool, a);
	db_pool_close(&pool);
	db_close(db);
}

static void test_tokens(void **state)
{
	(void)state;
	struct db *db = open_migrated();
	ferry_error err = {0};
	wipe(db);
	char *tok = NULL, id[17], who[STORE_ACCOUNT_MAX + 1];
	assert_int_equal(account_add(db, "alice", &err), 0);
	assert_int_equal(account_add(db, "alice", &err), FERRY_E_EXISTS);
	assert_string_equal(err.msg, "account alice already exists");
	assert_int_equal(account_add(db, "A", &err), FERRY_E_INVALID);
	assert_int_equal(token_issue(db, "nobody", &tok, id, &err), FERRY_E_NOTFOUND);
	assert_int_equal(token_issue(db, "alice", &tok, id, &err), 0);
	assert_int_equal(strlen(tok), 70);
	assert_int_equal(token_lookup(db, tok, who, &err), 0);
	assert_string_equal(who, "alice");
	/* only the hash is stored */
	struct db_rows rows = DB_ROWS_INIT;
	assert_int_equal(db_run(db, &rows, &err, "SELECT hash FROM tokens WHERE id = $1", id), 0);
	assert_int_equal(rows.nrows, 1);
	assert_null(strstr(tok, db_cell(&rows, 0, 0)));
	assert_int_equal(strlen(db_cell(&rows, 0, 0)), 64);
	db_rows_free(&rows);
	assert_int_equal(token_lookup(db, "ferry_123", who, &err), FERRY_E_PERM);
	assert_string_equal(err.msg, "malformed token");
	char other[71];
	snprintf(other, sizeof(other), "%s", tok);
	other[69] = other[69] == '0' ? '1' : '0';
	assert_int_equal(token_lookup(db, other, who, &err), FERRY_E_PERM);
	assert_string_equal(err.msg, "unknown token");
	size_t n = 0;
	assert_int_equal(token_revoke(db, "alice", id, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(token_lookup(db, tok, who, &err), FERRY_E_PERM);
	assert_string_equal(err.msg, "token revoked");
	assert_int_equal(token_revoke(db, "alice", id, &n, &err), FERRY_E_NOTFOUND);
	free(tok);
	db_close(db);
}

static void test_jobs(void **state)
{
	(void)state;
	struct db_pool pool;
	ferry_error err = {0};
	assert_int_equal(db_pool_open(&pool, url, 2, &err), 0);
	struct db *a = db_pool_get(&pool), *b = db_pool_get(&pool);
	wipe(a);
	long long id = 0, id2 = 0;
	char kind[32], arg[256];
	assert_int_equal(jobs_enqueue(a, "resign", "", store_now() + 10, &err), 0);
	assert_int_equal(jobs_enqueue(a, "resign", "", store_now() - 10, &err), 0);
	assert_int_equal(jobs_enqueue(a, "resign", "", store_now() + 50, &err), 0);
	struct db_rows rows = DB_ROWS_INIT;
	assert_int_equal(db_exec(a, "SELECT run_after FROM jobs", NULL, 0, &rows, &err), 0);
	assert_int_equal(rows.nrows, 1); /* one job, at the earliest time asked */
	assert_int_equal(db_cell_ll(&rows, 0, 0), store_now() - 10);
	db_rows_free(&rows);

	if (db_dialect(a) == DB_POSTGRES) {
		/* a row another instance holds is skipped, not waited for */
		assert_int_equal(db_begin(a, true, &err), 0);
		assert_int_equal(
		    db_exec(a, "SELECT id FROM jobs FOR UPDATE SKIP LOCKED", NULL, 0, &rows, &err),
		    0);
		assert_int_equal(rows.nrows, 1);
		db_rows_free(&rows);
		assert_int_equal(jobs_claim(b, "b", 60, &id2, kind, arg, &err), 0);
		db_rollback(a);
	}
	assert_int_equal(jobs_claim(a, "a", 60, &id, kind, arg, &err), 1);
	assert_string_equal(kind, "resign");
	/* claimed: nobody else gets it while the lease lasts */
	assert_int_equal(jobs_claim(b, "b", 60, &id2, kind, arg, &err), 0);
	/* finished with "again": due later, not now */
	assert_int_equal(jobs_finish(a, id, true, store_now() + 600, "boom", &err), 0);
	assert_int_equal(jobs_claim(b, "b", 60, &id2, kind, arg, &err), 0);
	assert_int_equal(
	    db_run(a, &rows, &err, "SELECT last_error, state FROM jobs WHERE id = $1", "1") < 0,
	    false);
	db_rows_free(&rows);
	/* a lease that ran out (its instance died) is claimed again */
	assert_int_equal(
	    db_exec_script(a, "UPDATE jobs SET state = 'running', lease_until = 1", NULL), 0);
	assert_int_equal(jobs_claim(b, "b", 60, &id2, kind, arg, &err), 1);
	assert_int_equal(id2, id);
	assert_int_equal(jobs_finish(b, id2, false, 0, NULL, &err), 0);
	assert_int_equal(jobs_claim(a, "a", 60, &id, kind, arg, &err), 0);

	/* queued again while it runs: the run's end queues it, not deletes it */
	assert_int_equal(jobs_enqueue(a, "delta", "hello/5", store_now() - 5, &err), 0);
	assert_int_equal(jobs_claim(a, "a", 60, &id, kind, arg, &err), 1);
	assert_int_equal(jobs_enqueue(b, "delta", "hello/5", store_now() - 1, &err), 0);
	assert_int_equal(jobs_claim(b, "b", 60, &id2, kind, arg, &err), 0); /* still leased */
	assert_int_equal(jobs_finish(a, id, false, 0, NULL, &err), 0);
	assert_int_equal(jobs_claim(b, "b", 60, &id2, kind, arg, &err), 1);
	assert_string_equal(arg, "hello/5");
	/* a recurring job asked for again runs at the earlier time */
	assert_int_equal(jobs_enqueue(a, "delta", "hello/5", store_now() - 3, &err), 0);
	assert_int_equal(jobs_finish(b, id2, true, store_now() + 600, NULL, &err), 0);
	assert_int_equal(jobs_claim(a, "a", 60, &id, kind, arg, &err), 1);
	assert_int_equal(jobs_finish(a, id, false, 0, NULL, &err), 0);
	assert_int_equal(jobs_claim(b, "b", 60, &id2, kind, arg, &err), 0);
	db_pool_put(&pool, a);
	db_pool_put(&pool, b);
	db_pool_close(&pool);
}

/* Lanes: a worker claims only its lane's kinds, and the lease and claim
 * are those of the whole queue. */
static void test_job_lanes(void **state)
{
	(void)state;
	struct db_pool pool;
	ferry_error err = {0};
	assert_int_equal(db_pool_open(&pool, url, 2, &err), 0);
	struct db *a = db_pool_get(&pool), *b = db_pool_get(&pool);
	wipe(a);
	static const char *const slow[] = {"delta", NULL};
	const struct jobs_lane delta = {slow, true}, main_lane = {slow, false};
	long long id = 0, id2 = 0;
	char kind[32], arg[256];
	long long now = store_now();
	assert_int_equal(jobs_enqueue(a, "delta", "hello/2", now - 20, &err), 0);
	assert_int_equal(jobs_enqueue(a, "webhook", "7", now - 10, &err), 0);
	assert_int_equal(jobs_enqueue(a, "resign", "", now - 5, &err), 0);
	assert_int_equal(jobs_enqueue(a, "newer-kind", "x", now - 1, &err), 0);

	/* the main lane passes over the oldest job, a delta */
	assert_int_equal(jobs_claim_lane(a, &main_lane, "a", 60, &id, kind, arg, &err), 1);
	assert_string_equal(kind, "webhook");
	assert_int_equal(jobs_claim_lane(b, &delta, "b", 60, &id2, kind, arg, &err), 1);
	assert_string_equal(kind, "delta");
	assert_string_equal(arg, "hello/2");
	/* nothing else is the delta lane's, however much is due */
	assert_int_equal(jobs_claim_lane(b, &delta, "b", 60, &id2, kind, arg, &err), 0);
	assert_int_equal(jobs_claim_lane(a, &main_lane, "a", 60, &id, kind, arg, &err), 1);
	assert_string_equal(kind, "resign");
	/* a kind the lane does not name is the main lane's */
	assert_int_equal(jobs_claim_lane(a, &main_lane, "a", 60, &id, kind, arg, &err), 1);
	assert_string_equal(kind, "newer-kind");
	assert_int_equal(jobs_claim_lane(a, &main_lane, "a", 60, &id, kind, arg, &err), 0);

	/* a delta whose lease ran out goes back to a delta lane, never to a
	 * main one */
	assert_int_equal(
	    db_exec_script(a, "UPDATE jobs SET lease_until = 1 WHERE kind = 'delta'", NULL), 0);
	assert_int_equal(jobs_claim_lane(b, &main_lane, "b", 60, &id2, kind, arg, &err), 0);
	if (db_dialect(a) == DB_POSTGRES) {
		/* a row another instance holds is skipped within a lane too */
		struct db_rows rows = DB_ROWS_INIT;
		assert_int_equal(db_begin(b, true, &err), 0);
		assert_int_equal(db_exec(b, "SELECT id FROM jobs WHERE kind = 'delta' FOR UPDATE",
		                         NULL, 0, &rows, &err),
		                 0);
		db_rows_free(&rows);
		assert_int_equal(jobs_claim_lane(a, &delta, "a", 60, &id, kind, arg, &err), 0);
		db_rollback(b);
	}
	assert_int_equal(jobs_claim_lane(a, &delta, "a", 60, &id, kind, arg, &err), 1);
	assert_string_equal(kind, "delta");
	assert_int_equal(jobs_finish(a, id, false, 0, NULL, &err), 0);
	assert_int_equal(jobs_claim_lane(b, &delta, "b", 60, &id2, kind, arg, &err), 0);

	/* a lane of no kind takes nothing; one of too many is refused */
	static const char *const none[] = {NULL};
	const struct jobs_lane empty = {none, true};
	assert_int_equal(jobs_enqueue(a, "delta", "hello/3", now - 1, &err), 0);
	assert_int_equal(jobs_claim_lane(a, &empty, "a", 60, &id, kind, arg, &err), 0);
	static const char *const many[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", NULL};
	const struct jobs_lane wide = {many, true};
	assert_int_equal(jobs_claim_lane(a, &wide, "a", 60, &id, kind, arg, &err), FERRY_E_LIMIT);
	assert_string_equal(err.msg, "job lane: 9 kinds, at most 8");
	db_pool_put(&pool, a);
	db_pool_put(&pool, b);
	db_pool_close(&pool);
}

static void add_channel(struct db *db, const char *track, const char *risk, const char *branch,
                        const char *rev, const char *expires)
{
	assert_int_equal(
	    db_run(db, NULL, NULL,
	           "INSERT INTO channels (package, track, risk, branch, arch, revision, "
	           "updated, expires) VALUES ('hello', $1, $2, $3, 'amd64', $4, 1, $5)",
	           track, risk, branch, rev, expires),
	    0);
}

static void test_channel_map(void **state)
{
	(void)state;
	struct db *db = open_migrated();
	ferry_error err = {0};
	wipe(db);
	assert_int_equal(account_add(db, "alice", &err), 0);
	assert_int_equal(db_exec_script(db,
	                                "INSERT INTO packages (name, owner, created, map_gen) "
	                                "VALUES ('hello', 'alice', 1, 3)",
	                                &err),
	                 0);
	for (int r = 1; r <= 3; r++) {
		char q[512];
		snprintf(q, sizeof(q),
		         "INSERT INTO revisions (package, revision, sha256, sha512, size, version, "
		         "architectures, manifest, uploader, created) VALUES ('hello', %d, 'h%d', "
		         "'s', 10, '1.%d', '[\"amd64\"]', 'm', 'alice', 1)",
		         r, r, r);
		assert_int_equal(db_exec_script(db, q, &err), 0);
	}
	add_channel(db, "latest", "stable", "", "1", NULL);
	add_channel(db, "latest", "beta", "", "2", NULL);
	add_channel(db, "latest", "edge", "fix", "3", "1700000100");
	add_channel(db, "latest", "edge", "old", "3", "1600000000"); /* expired */
	json_t *map = NULL;
	long long gen = 0;
	assert_int_equal(channelmap_build(db, "hello", store_now(), &map, &gen, &err), 0);
	assert_int_equal(gen, 3);
	json_t *ch = json_object_get(map, "channels");
	assert_int_equal(json_array_size(ch), 5); /* four risks and one live branch */
	const char *want[5][3] = {{"latest/stable", "1", ""},
	                          {"latest/candidate", "1", "latest/stable"},
	                          {"latest/beta", "2", ""},
	                          {"latest/edge", "2", "latest/beta"},
	                          {"latest/edge/fix", "3", ""}};
	for (size_t i = 0; i < 5; i++) {
		json_t *e = json_array_get(ch, i);
		assert_string_equal(json_string_value(json_object_get(e, "channel")), want[i][0]);
		assert_int_equal(json_integer_value(json_object_get(e, "revision")),
		                 atoi(want[i][1]));
		json_t *f = json_object_get(e, "follows");
		if (*want[i][2])
			assert_string_equal(json_string_value(f), want[i][2]);
		else
			assert_true(json_is_null(f));
	}
	json_t *revs = json_object_get(map, "revisions");
	assert_int_equal(json_object_size(revs), 3);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(revs, "3"), "target")),
	    "hello_3.ferry");
	json_decref(map);

	struct channel c;
	assert_int_equal(channel_parse("candidate", &c, NULL), 0);
	json_t *res = NULL;
	assert_int_equal(channelmap_resolve(db, "hello", &c, store_now(), &res, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "amd64")), 1);
	json_decref(res);
	assert_int_equal(channel_parse("edge/old", &c, NULL), 0);
	assert_int_equal(channelmap_resolve(db, "hello", &c, store_now(), &res, &err), 0);
	assert_int_equal(json_object_size(res), 0); /* expired branches hold nothing */
	json_decref(res);
	assert_int_equal(channelmap_build(db, "nothing", store_now(), &map, NULL, &err),
	                 FERRY_E_NOTFOUND);
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_migrations),   cmocka_unit_test(test_params_rows_and_errors),
	    cmocka_unit_test(test_transactions), cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_jobs),         cmocka_unit_test(test_job_lanes),
	    cmocka_unit_test(test_channel_map),
	};
	return cmocka_run_group_tests(tests, setup, tu_tmpdir_teardown);
}
