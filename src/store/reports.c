/* reports.c: device outcome reports in the store (see reports.h): the
 * signature, bounded retention, and the publisher's listing. Not here: the
 * checks of every field (lib/pkg/report.c) and device-key bindings
 * (devicekeys.c). */
#include "reports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/str.h"
#include "crypto/base64.h"
#include "crypto/key.h"
#include "devicekeys.h"
#include "halt.h"
#include "handler.h"
#include "metrics.h"
#include "store.h"

int reports_check_signature(struct api_ctx *c, const char *what, const char *device_key)
{
	const char *h = c->device_signature;
	if (!h || !*h) {
		api_error(c, 401, "signature-required",
		          "a %s must be signed: " REPORT_SIGNATURE_HEADER " header missing", what);
		return FERRY_E_PERM;
	}
	if (!str_has_prefix(h, "ed25519 ") || strlen(h) > 200) {
		api_error(c, 400, "bad-request",
		          REPORT_SIGNATURE_HEADER ": expected \"ed25519 BASE64\"");
		return FERRY_E_INVALID;
	}
	unsigned char sig[64];
	size_t siglen = 0;
	if (crypto_base64_decode(h + 8, sig, sizeof(sig), &siglen, NULL) < 0 || siglen != 64) {
		api_error(c, 400, "bad-request",
		          REPORT_SIGNATURE_HEADER ": expected 64 bytes of ed25519 signature in "
		                                  "base64");
		return FERRY_E_INVALID;
	}
	ferry_error err = {0};
	struct crypto_key *key = NULL;
	int rc = crypto_key_from_public("ed25519", "ed25519", device_key, &key, &err);
	if (rc < 0) {
		api_error(c, 400, "bad-request", "%s: \"device-key\": %s", what,
		          ferry_error_msg(&err));
		return rc;
	}
	rc = crypto_key_verify(key, sig, siglen, c->raw_body, c->raw_len, &err);
	crypto_key_free(key);
	if (rc < 0) {
		api_error(c, 403, "bad-signature",
		          "the %s's signature does not verify with its device key", what);
		return FERRY_E_VERIFY;
	}
	return 0;
}

static char *num(char buf[24], long long v)
{
	snprintf(buf, 24, "%lld", v);
	return buf;
}

void reports_h_post(struct api_ctx *c)
{
	struct report r;
	ferry_error err = {0};
	if (report_parse(c->body, &r, &err) < 0)
		return api_error(c, 400, "bad-request", "%s", ferry_error_msg(&err));
	if (reports_check_signature(c, "report", r.device_key) < 0)
		return;
	_cleanup_free_ char *log = json_dumps(r.log, JSON_COMPACT);
	if (!log)
		return api_error(c, 500, "internal", "out of memory");
	bool pg = db_dialect(c->db) == DB_POSTGRES;
	char now[24], from[24], to[24], when[24], dl[24], sv[24];
	num(now, store_now());
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_begin(c->db, true, &err);
	if (rc == 0)
		rc = db_run(c->db, &rows, &err,
		            pg ? "SELECT name FROM packages WHERE name = $1 FOR UPDATE"
		               : "SELECT name FROM packages WHERE name = $1",
		            r.package);
	if (rc == 0 && rows.nrows == 0) {
		db_rollback(c->db);
		return api_error(c, 404, "not-found", "package %s is not registered", r.package);
	}
	db_rows_free(&rows);
	/* trust on first use: the first valid report binds the id to its key */
	if (rc == 0 && devicekeys_bind(c, r.device_id, r.device_key) < 0) {
		db_rollback(c->db);
		return;
	}
	if (rc == 0)
		rc = db_run(
		    c->db, &rows, &err,
		    "INSERT INTO reports (package, device, report_id, from_revision, "
		    "to_revision, channel, result, failed_step, message, log, reported, "
		    "received, agent_version, action, download, downloaded, saved) VALUES ($1, $2, "
		    "$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON "
		    "CONFLICT "
		    "(device, report_id) DO NOTHING RETURNING id",
		    r.package, r.device_id, r.report_id,
		    r.from_revision ? num(from, r.from_revision) : NULL, num(to, r.to_revision),
		    r.channel, r.result, r.failed_step, r.message, log, num(when, r.time), now,
		    r.agent_version, r.action, r.download_path,
		    r.download_path ? num(dl, r.downloaded) : NULL,
		    r.download_path ? num(sv, r.saved) : NULL);
	bool duplicate = rc == 0 && rows.nrows == 0;
	long long id = rc == 0 && !duplicate ? db_cell_ll(&rows, 0, 0) : 0;
	if (rc == 0 && !duplicate) {
		char sql[256];
		snprintf(sql, sizeof(sql),
		         "DELETE FROM reports WHERE package = $1 AND id NOT IN (SELECT id FROM "
		         "reports WHERE package = $1 ORDER BY id DESC LIMIT %u)",
		         c->st->reports_keep);
		rc = db_run(c->db, NULL, &err, sql, r.package);
	}
	/* a release that its devices report failing stops here, in the same
	 * transaction (halt.h) */
	struct halt halt = {0};
	if (rc == 0 && !duplicate)
		rc = halt_check(c->st, c->db, &r, &halt, &err);
	if (rc == 0)
		rc = db_commit(c->db, &err);
	if (rc < 0) {
		db_rollback(c->db);
		return api_error_from(c, rc, &err);
	}
	if (!duplicate)
		metrics_report(c->st->metrics, r.result);
	if (halt.halted) {
		metrics_halt(c->st->metrics);
		log_warn("halted the %s release of %s revision %lld on %s: %lld of %lld "
		         "reporting devices failed",
		         halt.kind, r.package, halt.revision, halt.channel, halt.failed,
		         halt.reporting);
		snprintf(c->package, sizeof(c->package), "%s", r.package);
		api_publish_after_commit(c);
	}
	json_decref(c->reply);
	if (duplicate) {
		c->reply = json_pack("{s:b}", "duplicate", 1);
		c->status = 200;
		return;
	}
	log_info("device %s reported %s revision %lld: %s", r.device_id, r.package, r.to_revision,
	         r.result);
	c->reply = json_pack("{s:I, s:b}", "id", (json_int_t)id, "duplicate", 0);
	c->status = 201;
}

static json_t *row_json(const struct db_rows *rows, size_t i)
{
	json_t *log = json_loads(db_cell(rows, i, 10) ? db_cell(rows, i, 10) : "[]", 0, NULL);
	const char *step = db_cell(rows, i, 8);
	json_t *o = json_pack(
	    "{s:I, s:s, s:o, s:I, s:s, s:s, s:o, s:s, s:o, s:I, s:I, s:s, s:s}", "id",
	    (json_int_t)db_cell_ll(rows, i, 0), "device", db_cell(rows, i, 1), "from-revision",
	    db_cell(rows, i, 3) ? json_integer(db_cell_ll(rows, i, 3)) : json_null(), "to-revision",
	    (json_int_t)db_cell_ll(rows, i, 4), "channel", db_cell(rows, i, 5), "result",
	    db_cell(rows, i, 6), "failed-step", step ? json_string(step) : json_null(), "message",
	    db_cell(rows, i, 9), "log", json_is_array(log) ? log : json_array(), "time",
	    (json_int_t)db_cell_ll(rows, i, 11), "received", (json_int_t)db_cell_ll(rows, i, 12),
	    "agent-version", db_cell(rows, i, 13), "action", db_cell(rows, i, 14));
	if (o && db_cell(rows, i, 15))
		json_object_set_new(o, "download",
		                    json_pack("{s:s, s:I, s:I}", "path", db_cell(rows, i, 15),
		                              "downloaded", (json_int_t)db_cell_ll(rows, i, 16),
		                              "saved", (json_int_t)db_cell_ll(rows, i, 17)));
	return o;
}

void reports_h_list(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	const char *device = c->q_device ? c->q_device : "";
	const char *revision = c->q_revision ? c->q_revision : "";
	unsigned long long limit = REPORTS_LIST_DEFAULT, rev = 0;
	if (*device && !report_device_id_valid(device))
		return api_error(c, 400, "bad-request",
		                 "device: expected a device id (1 to 64 of a-z, 0-9 and '-')");
	if (*revision &&
	    (str_to_u64(revision, (unsigned long long)REPORT_REVISION_MAX, &rev) < 0 || rev == 0))
		return api_error(c, 400, "bad-request", "revision: expected a positive integer");
	if (c->q_limit && (str_to_u64(c->q_limit, REPORTS_LIST_MAX, &limit) < 0 || limit == 0))
		return api_error(c, 400, "bad-request", "limit: expected 1 to %d",
		                 REPORTS_LIST_MAX);
	char sql[640];
	snprintf(sql, sizeof(sql),
	         "SELECT id, device, report_id, from_revision, to_revision, channel, result, "
	         "received, failed_step, message, log, reported, received, agent_version, action, "
	         "download, downloaded, saved FROM reports WHERE package = $1 AND ($2 = '' OR "
	         "device = $2) "
	         "AND ($3 = '' OR to_revision = CAST(NULLIF($3, '') AS BIGINT)) "
	         "ORDER BY id DESC LIMIT %llu",
	         limit);
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	ferry_error err = {0};
	int rc = db_run(c->db, &rows, &err, sql, c->package, device, revision);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	json_t *list = json_array();
	for (size_t i = 0; i < rows.nrows; i++)
		json_array_append_new(list, row_json(&rows, i));
	json_decref(c->reply);
	c->reply = json_pack("{s:s, s:o}", "package", c->package, "reports", list);
	c->status = c->reply ? 200 : 500;
	if (!c->reply)
		api_error(c, 500, "internal", "out of memory");
}
