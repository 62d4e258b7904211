/* inventory.c: the device inventory (inventory.h): recording the signed
 * check-in a device sends at each refresh, the publisher's view of the
 * devices running their packages, and the job that forgets devices not
 * seen for --devices-days. Not here: the check-in's format (lib/pkg
 * report.h), the device signature and key bindings (reports.c,
 * devicekeys.c). */
#include "inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/str.h"
#include "devicekeys.h"
#include "handler.h"
#include "jobs.h"
#include "metrics.h"
#include "pkg/channel.h"
#include "reports.h"

#define WEEK_S (7 * 86400LL)
#define PRUNE_EVERY_S 86400
#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define NOT_SEEN_MAX_DAYS 3650

static char *num(char buf[24], long long v)
{
	snprintf(buf, 24, "%lld", v);
	return buf;
}

/* Inside the transaction: a device that is not in the table yet makes
 * room for itself when it is full, the devices seen longest ago going. */
static int make_room(struct api_ctx *c, const char *device, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc =
	    db_run(c->db, &rows, err,
	           "SELECT (SELECT COUNT(*) FROM devices), (SELECT COUNT(*) FROM devices WHERE "
	           "device = $1)",
	           device);
	if (rc < 0 || db_cell_ll(&rows, 0, 1) > 0)
		return rc;
	long long over = db_cell_ll(&rows, 0, 0) - (long long)c->st->devices_max + 1;
	if (over <= 0)
		return 0;
	char n[24];
	num(n, over);
	rc = db_run(c->db, NULL, err,
	            "DELETE FROM device_packages WHERE device IN (SELECT device FROM devices "
	            "ORDER BY last_seen, device LIMIT $1)",
	            n);
	if (rc == 0)
		rc = db_run(
		    c->db, NULL, err,
		    "DELETE FROM devices WHERE device IN (SELECT device FROM devices ORDER BY "
		    "last_seen, device LIMIT $1)",
		    n);
	if (rc == 0)
		log_warn("inventory full (%u devices): forgot %lld seen longest ago",
		         c->st->devices_max, over);
	return rc;
}

/* Record a checked check-in (inside the transaction); *kept: the packages
 * of this store it named. */
static int record(struct api_ctx *c, const struct checkin *ci, long long *kept, ferry_error *err)
{
	char now[24];
	num(now, store_now());
	int rc = make_room(c, ci->device_id, err);
	if (rc == 0)
		rc = db_run(
		    c->db, NULL, err,
		    "INSERT INTO devices (device, arch, agent_version, first_seen, last_seen) "
		    "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (device) DO UPDATE SET arch = $2, "
		    "agent_version = $3, last_seen = $4",
		    ci->device_id, ci->arch, ci->agent_version, now);
	if (rc == 0)
		rc = db_run(c->db, NULL, err, "DELETE FROM device_packages WHERE device = $1",
		            ci->device_id);
	for (size_t i = 0; rc == 0 && i < ci->n; i++) {
		const struct checkin_package *p = &ci->packages[i];
		struct channel ch;
		char name[CHANNEL_NAME_MAX + 1], rev[24];
		if (channel_parse(p->channel, &ch, NULL) < 0)
			continue; /* checkin_parse refused it already */
		channel_format(&ch, name, sizeof(name));
		_cleanup_rows_ struct db_rows ins = DB_ROWS_INIT;
		/* names this store does not know are dropped, never stored */
		rc = db_run(
		    c->db, &ins, err,
		    "INSERT INTO device_packages (device, package, revision, channel, held, "
		    "seen) SELECT $1, name, $3, $4, $5, $6 FROM packages WHERE name = $2",
		    ci->device_id, p->name, num(rev, p->revision), name, p->held ? "1" : "0", now);
		*kept += (long long)ins.changes;
	}
	return rc;
}

void inventory_h_checkin(struct api_ctx *c)
{
	_cleanup_free_ struct checkin *ci = calloc(1, sizeof(*ci));
	ferry_error err = {0};
	if (!ci)
		return api_error(c, 500, "internal", "out of memory");
	if (checkin_parse(c->body, ci, &err) < 0)
		return api_error(c, 400, "bad-request", "%s", ferry_error_msg(&err));
	if (reports_check_signature(c, "check-in", ci->device_key) < 0)
		return;
	metrics_count_checkin(c->st->metrics);
	if (c->st->devices_days == 0) /* the operator turned the inventory off */
		return api_reply(c, 200, json_pack("{s:i}", "recorded", 0));
	long long kept = 0;
	int rc = db_begin(c->db, true, &err);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	/* the same binding of id to key as reports (trust on first use) */
	if (devicekeys_bind(c, ci->device_id, ci->device_key) < 0) {
		db_rollback(c->db);
		return;
	}
	rc = record(c, ci, &kept, &err);
	if (rc == 0)
		rc = db_commit(c->db, &err);
	if (rc < 0) {
		db_rollback(c->db);
		return api_error_from(c, rc, &err);
	}
	log_debug("device %s checked in: %lld package%s of this store", ci->device_id, kept,
	          kept == 1 ? "" : "s");
	api_reply(c, 200, json_pack("{s:I}", "recorded", (json_int_t)kept));
}

/* [{"KEY": value, "devices": n}, ...] from rows of (value, count). */
static json_t *breakdown(const struct db_rows *rows, const char *key, bool integer)
{
	json_t *list = json_array();
	for (size_t i = 0; i < rows->nrows; i++)
		json_array_append_new(
		    list,
		    json_pack("{s:o, s:I}", key,
		              integer ? json_integer(db_cell_ll(rows, i, 0))
		                      : json_string(db_cell(rows, i, 0) ? db_cell(rows, i, 0) : ""),
		              "devices", (json_int_t)db_cell_ll(rows, i, 1)));
	return list;
}

static json_t *device_json(const struct db_rows *rows, size_t i)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:s, s:b, s:I, s:I}", "device", db_cell(rows, i, 0),
	                 "revision", (json_int_t)db_cell_ll(rows, i, 1), "channel",
	                 db_cell(rows, i, 2), "arch", db_cell(rows, i, 3), "agent-version",
	                 db_cell(rows, i, 4), "held", db_cell_ll(rows, i, 5) != 0, "last-seen",
	                 (json_int_t)db_cell_ll(rows, i, 6), "first-seen",
	                 (json_int_t)db_cell_ll(rows, i, 7));
}

void inventory_h_devices(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	unsigned long long limit = LIST_DEFAULT, days = 0;
	if (c->q_limit && (str_to_u64(c->q_limit, LIST_MAX, &limit) < 0 || limit == 0))
		return api_error(c, 400, "bad-request", "limit: expected 1 to %d", LIST_MAX);
	if (c->q_not_seen && (str_to_u64(c->q_not_seen, NOT_SEEN_MAX_DAYS, &days) < 0 || days == 0))
		return api_error(c, 400, "bad-request", "not-seen: expected 1 to %d days",
		                 NOT_SEEN_MAX_DAYS);
	long long now = store_now();
	char week[24], cut[24], lim[24];
	num(week, now - WEEK_S);
	num(cut, days ? now - (long long)days * 86400 : now + 1);
	num(lim, (long long)limit + 1);
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows total = DB_ROWS_INIT, revs = DB_ROWS_INIT,
	                              chans = DB_ROWS_INIT, arches = DB_ROWS_INIT,
	                              list = DB_ROWS_INIT;
	int rc = db_run(c->db, &total, &err,
	                "SELECT COUNT(*) FROM device_packages WHERE package = $1 AND seen >= $2",
	                c->package, week);
	if (rc == 0)
		rc = db_run(c->db, &revs, &err,
		            "SELECT revision, COUNT(*) FROM device_packages WHERE package = $1 AND "
		            "seen >= $2 GROUP BY revision ORDER BY revision DESC",
		            c->package, week);
	if (rc == 0)
		rc = db_run(c->db, &chans, &err,
		            "SELECT channel, COUNT(*) FROM device_packages WHERE package = $1 AND "
		            "seen >= $2 GROUP BY channel ORDER BY COUNT(*) DESC, channel",
		            c->package, week);
	if (rc == 0)
		rc = db_run(c->db, &arches, &err,
		            "SELECT d.arch, COUNT(*) FROM device_packages p JOIN devices d ON "
		            "d.device = p.device WHERE p.package = $1 AND p.seen >= $2 GROUP BY "
		            "d.arch ORDER BY COUNT(*) DESC, d.arch",
		            c->package, week);
	if (rc == 0)
		rc = db_run(
		    c->db, &list, &err,
		    "SELECT p.device, p.revision, p.channel, d.arch, d.agent_version, p.held, "
		    "p.seen, d.first_seen FROM device_packages p JOIN devices d ON d.device = "
		    "p.device WHERE p.package = $1 AND p.seen < $2 ORDER BY p.seen DESC, "
		    "p.device LIMIT $3",
		    c->package, cut, lim);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	json_t *devs = json_array();
	for (size_t i = 0; i < list.nrows && i < limit; i++)
		json_array_append_new(devs, device_json(&list, i));
	api_reply(c, 200,
	          json_pack("{s:s, s:I, s:{s:I, s:o, s:o, s:o}, s:o, s:b}", "package", c->package,
	                    "time", (json_int_t)now, "weekly-active", "total",
	                    (json_int_t)db_cell_ll(&total, 0, 0), "by-revision",
	                    breakdown(&revs, "revision", true), "by-channel",
	                    breakdown(&chans, "channel", false), "by-arch",
	                    breakdown(&arches, "arch", false), "devices", devs, "truncated",
	                    list.nrows > limit));
}

int inventory_active_by_channel(struct db *db, struct db_rows *rows, ferry_error *err)
{
	char week[24];
	num(week, store_now() - WEEK_S);
	return db_run(db, rows, err,
	              "SELECT package, channel, COUNT(*) FROM device_packages WHERE seen >= $1 "
	              "GROUP BY package, channel ORDER BY package, channel",
	              week);
}

int inventory_job_prune(struct store *st, struct db *db, const char *arg, bool *again,
                        long long *next, ferry_error *err)
{
	(void)arg;
	*again = true;
	*next = store_now() + PRUNE_EVERY_S;
	char cut[24];
	/* --devices-days 0 records nothing, and keeps nothing recorded before */
	num(cut, store_now() - (long long)st->devices_days * 86400);
	int rc = db_begin(db, true, err);
	if (rc == 0)
		rc = db_run(
		    db, NULL, err,
		    "DELETE FROM device_packages WHERE seen < $1 OR device IN (SELECT device "
		    "FROM devices WHERE last_seen < $1)",
		    cut);
	_cleanup_rows_ struct db_rows gone = DB_ROWS_INIT;
	if (rc == 0)
		rc = db_run(db, &gone, err, "DELETE FROM devices WHERE last_seen < $1", cut);
	if (rc == 0)
		rc = db_commit(db, err);
	if (rc < 0) {
		db_rollback(db);
		*next = store_now() + JOBS_RETRY_S;
		return rc;
	}
	if (gone.changes)
		log_info("inventory: forgot %llu device%s not seen for %u days",
		         (unsigned long long)gone.changes, gone.changes == 1 ? "" : "s",
		         st->devices_days);
	return 0;
}
