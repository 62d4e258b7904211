/* vulns_routes.c: GET /v1/packages/NAME/vulns, a package's open
 * findings, those of the bases its channels run on (vulns_base.h), its
 * recent cleared ones, the state of its scan and whether the
 * store has advisories to scan against at all (no import yet: no finding
 * means nothing), for its owner and collaborators. Not here: how findings
 * are made (vulns.c), the import (vulns.c, vulns_admin.c). */
#include "vulns_routes.h"

#include <stdio.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "handler.h"
#include "vulns_base.h"

#define VULNS_HISTORY_MAX 200 /* cleared findings a reply lists */

static json_t *finding_row(const struct db_rows *r, size_t i)
{
	json_t *d = json_loads(db_cell(r, i, 0), 0, NULL);
	if (!d)
		return NULL;
	json_object_set_new(d, "first_seen", json_integer(db_cell_ll(r, i, 1)));
	if (db_cell(r, i, 2)) {
		json_object_set_new(d, "cleared", json_integer(db_cell_ll(r, i, 2)));
		json_object_set_new(d, "cleared_reason", json_string(db_cell(r, i, 3)));
	}
	return d;
}

void vulns_h_findings(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows cur = DB_ROWS_INIT, hist = DB_ROWS_INIT, st = DB_ROWS_INIT,
	                              imp = DB_ROWS_INIT;
	char lim[24];
	snprintf(lim, sizeof(lim), "%d", VULNS_HISTORY_MAX);
	int rc =
	    db_run(c->db, &cur, &err,
	           "SELECT detail, first_seen, cleared, cleared_reason FROM vuln_findings WHERE "
	           "package = $1 AND cleared IS NULL ORDER BY revision, component, advisory",
	           c->package);
	if (rc == 0)
		rc = db_run(
		    c->db, &hist, &err,
		    "SELECT detail, first_seen, cleared, cleared_reason FROM vuln_findings "
		    "WHERE package = $1 AND cleared IS NOT NULL ORDER BY cleared DESC, id DESC "
		    "LIMIT $2",
		    c->package, lim);
	if (rc == 0)
		rc =
		    db_run(c->db, &st, &err,
		           "SELECT v.scanned, (v.map_gen = p.map_gen AND v.next_revision = "
		           "p.next_revision), (SELECT COUNT(*) FROM jobs WHERE kind = 'vulnkey' OR "
		           "(kind = 'vulnscan' AND arg = $1)), (SELECT COUNT(*) FROM advisories "
		           "WHERE withdrawn IS NULL) FROM packages p LEFT JOIN vuln_state v ON "
		           "v.package = p.name WHERE p.name = $1",
		           c->package);
	/* imports that finished, failed ones too: what they read before the
	 * failure was kept (vulns.h) */
	if (rc == 0)
		rc =
		    db_run(c->db, &imp, &err,
		           "SELECT COUNT(*), MAX(finished), COUNT(DISTINCT path) FROM vuln_sources "
		           "WHERE finished IS NOT NULL");
	json_t *from_base = NULL;
	if (rc == 0)
		rc = vulns_base_findings(c->db, c->package, &from_base, &err);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	json_t *findings = json_array(), *history = json_array();
	for (size_t i = 0; i < cur.nrows; i++) {
		json_t *d = finding_row(&cur, i);
		if (d)
			json_array_append_new(findings, d);
	}
	for (size_t i = 0; i < hist.nrows; i++) {
		json_t *d = finding_row(&hist, i);
		if (d)
			json_array_append_new(history, d);
	}
	const char *up = db_cell(&st, 0, 1);
	bool pending = !db_cell(&st, 0, 0) || !up || !(str_eq(up, "1") || str_eq(up, "t")) ||
	               db_cell_ll(&st, 0, 2) > 0;
	json_t *scan =
	    json_pack("{s:o, s:b, s:I}", "scanned",
	              db_cell(&st, 0, 0) ? json_integer(db_cell_ll(&st, 0, 0)) : json_null(),
	              "pending", pending, "advisories", (json_int_t)db_cell_ll(&st, 0, 3));
	bool imported = db_cell_ll(&imp, 0, 0) > 0;
	json_t *advisories = json_pack(
	    "{s:b, s:o, s:I, s:I, s:I}", "imported", imported, "last-import",
	    imported ? json_integer(db_cell_ll(&imp, 0, 1)) : json_null(), "imports",
	    (json_int_t)db_cell_ll(&imp, 0, 0), "sources", (json_int_t)db_cell_ll(&imp, 0, 2),
	    "held", (json_int_t)db_cell_ll(&st, 0, 3));
	bool open = json_array_size(findings) || json_array_size(from_base);
	json_t *r =
	    json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "package", c->package, "state",
	              open ? "open" : "clear", "findings", findings, "base_findings", from_base,
	              "history", history, "scan", scan, "advisories", advisories);
	api_reply(c, 200, r);
}
