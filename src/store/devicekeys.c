/* devicekeys.c: device-key bindings, their expiry, the bound on their
 * number and the limit on new ones (see devicekeys.h). Not here: the
 * signature check (reports.c), the per-address buckets (ratelimit.c). */
#include "devicekeys.h"

#include <stdio.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/str.h"
#include "ratelimit.h"
#include "store.h"

static char *num(char buf[24], long long v)
{
	snprintf(buf, 24, "%lld", v);
	return buf;
}

/* A new binding is about to be made: drop expired bindings, then evict
 * what the bound asks for. 0, or an error reply is set. */
static int make_room(struct api_ctx *c, long long now, long long expired_before)
{
	ferry_error err = {0};
	char cut[24], recent[24], n[24];
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_run(c->db, NULL, &err, "DELETE FROM device_keys WHERE last_seen < $1",
	                num(cut, expired_before));
	if (rc == 0)
		rc = db_run(c->db, &rows, &err, "SELECT count(*) FROM device_keys");
	if (rc < 0) {
		api_error_from(c, rc, &err);
		return rc;
	}
	long long count = db_cell_ll(&rows, 0, 0);
	if (count < (long long)c->st->device_keys_max)
		return 0;
	long long need = count - (long long)c->st->device_keys_max + 1;
	db_rows_free(&rows);
	rc = db_run(c->db, &rows, &err,
	            "DELETE FROM device_keys WHERE device IN (SELECT device FROM device_keys "
	            "WHERE last_seen < $1 ORDER BY CASE WHEN reports > 1 THEN 1 ELSE 0 END, "
	            "last_seen LIMIT CAST($2 AS BIGINT)) RETURNING device",
	            num(recent, now - DEVICE_KEYS_RECENT_S), num(n, need));
	if (rc < 0) {
		api_error_from(c, rc, &err);
		return rc;
	}
	if ((long long)rows.nrows < need) {
		log_warn("device keys: the table is full (%u devices, all seen within %lld days): "
		         "a new device must wait; raise --device-keys-max",
		         c->st->device_keys_max, DEVICE_KEYS_RECENT_S / 86400);
		api_error(c, 503, "device-keys-full",
		          "the store knows as many devices as it may (%u); report again later",
		          c->st->device_keys_max);
		return FERRY_E_LIMIT;
	}
	for (size_t i = 0; i < rows.nrows; i++) {
		const char *gone = db_cell(&rows, i, 0);
		log_info("device keys: table full, forgot device %s", gone ? gone : "?");
	}
	return 0;
}

static double monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int devicekeys_bind(struct api_ctx *c, const char *device, const char *key)
{
	ferry_error err = {0};
	long long now = store_now();
	long long expired_before = now - (long long)c->st->device_key_days * 86400;
	char now_s[24];
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_run(c->db, &rows, &err, "SELECT last_seen FROM device_keys WHERE device = $1",
	                device);
	if (rc < 0) {
		api_error_from(c, rc, &err);
		return rc;
	}
	if (rows.nrows == 0 || db_cell_ll(&rows, 0, 0) < expired_before) {
		const char *client = c->client && *c->client ? c->client : "unknown";
		if (!ratelimit_take(c->st->bind_limit, client, monotonic_s())) {
			log_warn("device keys: too many new devices from %s; refused %s", client,
			         device);
			api_error(c, 429, "too-many-new-devices",
			          "too many new devices from this address; report again later");
			return FERRY_E_BUSY;
		}
		if ((rc = make_room(c, now, expired_before)) < 0)
			return rc;
	}
	/* One statement binds a new id or counts a report of a known one, and
	 * locks the row: a concurrent eviction cannot slip between the two. */
	db_rows_free(&rows);
	rc = db_run(c->db, &rows, &err,
	            "INSERT INTO device_keys (device, public_key, first_seen, last_seen, reports) "
	            "VALUES ($1, $2, $3, $3, 1) ON CONFLICT (device) DO UPDATE SET "
	            "reports = device_keys.reports + CASE WHEN device_keys.public_key = "
	            "excluded.public_key THEN 1 ELSE 0 END, "
	            "last_seen = CASE WHEN device_keys.public_key = excluded.public_key THEN "
	            "excluded.last_seen ELSE device_keys.last_seen END RETURNING public_key",
	            device, key, num(now_s, now));
	if (rc < 0) {
		api_error_from(c, rc, &err);
		return rc;
	}
	if (rows.nrows == 0) {
		api_error(c, 503, "try-again",
		          "device %s: its key binding changed during the report; report again",
		          device);
		return FERRY_E_BUSY;
	}
	if (!str_eq(db_cell(&rows, 0, 0), key)) {
		log_warn("report for device %s signed with another key than its first", device);
		api_error(c, 403, "device-key-mismatch",
		          "device %s reported with another key before; this key is not "
		          "accepted for it",
		          device);
		return FERRY_E_PERM;
	}
	return 0;
}
