/* conf.c: a package's configuration, key/value strings in state.db (table
 * pkg_config), written by `ferry set` (a configure change, steps.c) and by
 * the package itself through `ferry-ctl set` (ctl.c), and read by
 * `ferry get`, `ferry-ctl get` and the package's hooks (the file
 * ROOT/run/config/NAME.json, FERRY_CONFIG in the sandbox).
 *
 * It holds the rules every writer applies: the key grammar, the size of a
 * value, how many pairs one request and one package may have. It does not
 * decide who may read or write (api.c and ctl.c do), nor run the configure
 * hook (steps.c does). */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "conf.h"
#include "state.h"

static bool key_ok(const char *key)
{
	size_t kl = strlen(key);
	bool ok = kl > 0 && kl <= CONF_KEY_MAX;
	for (size_t i = 0; ok && i < kl; i++)
		ok = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9') ||
		     key[i] == '-' || key[i] == '.' || key[i] == '_';
	return ok;
}

int conf_check(const char *verb, json_t *values, ferry_error *err)
{
	if (!json_is_object(values) || json_object_size(values) == 0 ||
	    json_object_size(values) > CONF_MAX_PAIRS)
		return ferry_error_set(err, FERRY_E_INVALID, "%s: give 1 to %d key=value pairs",
		                       verb, CONF_MAX_PAIRS);
	const char *key;
	json_t *v;
	json_object_foreach(values, key, v)
	{
		if (!key_ok(key))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "%s: key \"%s\": expected 1 to %d of a-z 0-9 - . _",
			                       verb, key, CONF_KEY_MAX);
		if (!json_is_null(v) &&
		    (!json_is_string(v) || json_string_length(v) > CONF_VALUE_MAX ||
		     strlen(json_string_value(v)) != json_string_length(v)))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "%s: %s: value must be a string up to %d bytes",
			                       verb, key, CONF_VALUE_MAX);
	}
	return 0;
}

int conf_all(sqlite3 *db, const char *name, json_t **out, ferry_error *err)
{
	json_t *rows = NULL;
	int rc =
	    state_query(db, &rows, err,
	                "SELECT key, value FROM pkg_config WHERE name=? ORDER BY key", "t", name);
	if (rc < 0)
		return rc;
	*out = state_pairs(rows);
	return *out ? 0 : ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
}

static int put(sqlite3 *db, const char *name, const char *key, json_t *v, ferry_error *err)
{
	if (json_is_null(v))
		return state_exec(db, err, "DELETE FROM pkg_config WHERE name=? AND key=?", "tt",
		                  name, key);
	return state_exec(db, err,
	                  "INSERT OR REPLACE INTO pkg_config(name, key, value) VALUES(?, ?, ?)",
	                  "ttt", name, key, json_string_value(v));
}

int conf_apply(sqlite3 *db, const char *name, json_t *values, ferry_error *err)
{
	int rc = state_begin(db, err);
	if (rc < 0)
		return rc;
	const char *key;
	json_t *v;
	json_object_foreach(values, key, v)
	{
		rc = put(db, name, key, v, err);
		if (rc < 0)
			break;
	}
	json_t *row = NULL;
	if (rc == 0)
		rc = state_query_row(
		    db, &row, err, "SELECT count(*) AS n FROM pkg_config WHERE name=?", "t", name);
	if (rc == 0 && json_integer_value(json_object_get(row, "n")) > CONF_MAX_KEYS)
		rc = ferry_error_set(err, FERRY_E_LIMIT,
		                     "%s would have more than %d configuration keys", name,
		                     CONF_MAX_KEYS);
	json_decref(row);
	return state_end(db, rc, err);
}

int conf_replace(sqlite3 *db, const char *name, json_t *all, ferry_error *err)
{
	int rc = state_begin(db, err);
	if (rc < 0)
		return rc;
	rc = state_exec(db, err, "DELETE FROM pkg_config WHERE name=?", "t", name);
	const char *key;
	json_t *v;
	json_object_foreach(all, key, v)
	{
		if (rc < 0)
			break;
		if (json_is_string(v))
			rc = put(db, name, key, v, err);
	}
	return state_end(db, rc, err);
}

int conf_write_file(struct agent *ag, sqlite3 *db, const char *name, ferry_error *err)
{
	json_t *o = NULL;
	int rc = conf_all(db, name, &o, err);
	if (rc < 0)
		return rc;
	_cleanup_free_ char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	char dir[PATH_MAX], path[PATH_MAX];
	if (!text || agent_path(ag, dir, "run/config") < 0 ||
	    agent_path(ag, path, "run/config/%s.json", name) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "configuration file of %s", name);
	rc = fs_mkdir_p(dir, 0700, err);
	if (rc < 0)
		return rc;
	return fs_write_atomic(path, text, strlen(text), 0600, err);
}
