/* conf.h: a package's configuration, the key/value pairs `ferry set` and
 * `ferry-ctl set` write (see conf.c). db: the calling thread's state.db
 * connection. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>

#include "agent.h"
#include "base/error.h"

#define CONF_KEY_MAX 64     /* bytes of a key: a-z 0-9 - . _ */
#define CONF_VALUE_MAX 4096 /* bytes of a value (UTF-8) */
#define CONF_MAX_PAIRS 64   /* keys one request sets or unsets */
#define CONF_MAX_KEYS 256   /* keys one package may hold */

/* Check a request's values: an object of 1 to CONF_MAX_PAIRS keys, each
 * mapped to a string (set) or null (unset). Messages start with verb. */
int conf_check(const char *verb, json_t *values, ferry_error *err) FERRY_WUR;
/* The package's configuration as one object, key -> string (new reference). */
int conf_all(sqlite3 *db, const char *name, json_t **out, ferry_error *err) FERRY_WUR;
/* Apply checked values in one SQLite transaction: none is applied when the
 * package would hold more than CONF_MAX_KEYS keys. */
int conf_apply(sqlite3 *db, const char *name, json_t *values, ferry_error *err) FERRY_WUR;
/* Make the package's configuration exactly all (an object as conf_all's). */
int conf_replace(sqlite3 *db, const char *name, json_t *all, ferry_error *err) FERRY_WUR;
/* Write ROOT/run/config/NAME.json, the file hooks read (FERRY_CONFIG). */
int conf_write_file(struct agent *ag, sqlite3 *db, const char *name, ferry_error *err) FERRY_WUR;
