/* state.h: the agent's durable state, ROOT/state.db (SQLite, WAL, synchronous
 * FULL: a committed write survives a power cut). It holds installed packages
 * and their revisions, holds, per-package configuration, interface
 * connections, revisions not to be tried again, agent settings, the
 * transaction journal (changes and their steps), and the outbox of outcome
 * reports not yet sent to the store (report.c).
 *
 * The schema is versioned with PRAGMA user_version; state_open() applies the
 * migrations that a database lacks, each in its own transaction, so an older
 * state.db is upgraded in place and a newer one is refused.
 *
 * Each thread opens its own connection; this module keeps no global state.
 * It does not decide anything: steps.c, txn.c and api.c do. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define STATE_SCHEMA_VERSION 4
#define STATE_REV_MAX 24  /* "12345" or "x3" */
#define STATE_NAME_MAX 41 /* package names: 40 + NUL */

/* Open (creating when missing) the database at path and migrate it. */
int state_open(const char *path, sqlite3 **out, ferry_error *err) FERRY_WUR;
void state_close(sqlite3 *db);

/* Run one statement without results; args are bound in order from a
 * format: 't' text (const char *, NULL binds NULL), 'i' int64_t, 'n' NULL. */
int state_exec(sqlite3 *db, ferry_error *err, const char *sql, const char *fmt, ...) FERRY_WUR;

/* Run a query and return its rows as a JSON array of objects keyed by column
 * name (integers as integers, text as strings, NULL as null). */
int state_query(sqlite3 *db, json_t **rows, ferry_error *err, const char *sql, const char *fmt,
                ...) FERRY_WUR;

/* A text column of a row, "" when it is NULL or missing. */
const char *jstr(json_t *o, const char *key);

/* Rows of (key, value) as one object, key -> value; rows is released. */
json_t *state_pairs(json_t *rows);

/* The first row of a query as a JSON object; FERRY_E_NOTFOUND when none. */
int state_query_row(sqlite3 *db, json_t **row, ferry_error *err, const char *sql, const char *fmt,
                    ...) FERRY_WUR;

int state_begin(sqlite3 *db, ferry_error *err) FERRY_WUR;
int state_commit(sqlite3 *db, ferry_error *err) FERRY_WUR;
void state_rollback(sqlite3 *db);
/* End what state_begin began: commit when rc is 0 (and return how that
 * went), else roll back and return rc. */
int state_end(sqlite3 *db, int rc, ferry_error *err) FERRY_WUR;

/* Agent settings (table config): get a copy (NULL when unset) or set one. */
char *state_config_get(sqlite3 *db, const char *key);
int state_config_set(sqlite3 *db, const char *key, const char *value, ferry_error *err) FERRY_WUR;

/* The current revision of an installed package into rev (STATE_REV_MAX);
 * FERRY_E_NOTFOUND when the package is not installed. */
int state_current(sqlite3 *db, const char *name, char *rev, ferry_error *err) FERRY_WUR;

/* Compare two revisions: store revisions numerically, local ones ("x3")
 * after every store revision and by their number. <0, 0, >0. */
int state_rev_cmp(const char *a, const char *b);
