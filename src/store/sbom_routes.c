/* sbom_routes.c: GET /v1/packages/NAME/revisions/REV/components, the
 * components of one revision as its SBOM (meta/sbom.cdx.json, kept with the
 * revision at push) lists them, for its owner and collaborators:
 *   {"package", "revision", "version", "sbom": true|false,
 *    "components": [{"type", "name", "version", "purl"}]}
 * ("sbom": false and no components for an image without one; version and
 * purl may be null). Not here: reading the SBOM (lib/pkg/sbom.c), which
 * components have notices (vulns_routes.c). */
#include "sbom_routes.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "handler.h"
#include "pkg/sbom.h"

#define SBOM_REVISION_MAX 1000000000ULL

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

void sbom_h_components(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	unsigned long long rev = 0;
	if (str_to_u64(c->arg, SBOM_REVISION_MAX, &rev) < 0 || rev == 0)
		return api_error(c, 404, "not-found", "%s has no revision %.20s", c->package,
		                 c->arg);
	char rev_text[24];
	snprintf(rev_text, sizeof(rev_text), "%llu", rev);
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_run(c->db, &rows, &err,
	                "SELECT version, sbom FROM revisions WHERE package = $1 AND revision = $2",
	                c->package, rev_text);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	if (rows.nrows == 0)
		return api_error(c, 404, "not-found", "%s has no revision %llu", c->package, rev);
	const char *sbom = db_cell(&rows, 0, 1);
	struct sbom_component *comps = NULL;
	size_t n = 0;
	if (sbom && *sbom && sbom_read_components(sbom, strlen(sbom), &comps, &n, &err) < 0)
		return api_error(c, 400, "bad-request", "%s revision %llu: %s", c->package, rev,
		                 ferry_error_msg(&err));
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:o, s:o, s:o, s:o}", "type",
		                                      str_or_null(comps[i].type), "name",
		                                      str_or_null(comps[i].name), "version",
		                                      str_or_null(comps[i].version), "purl",
		                                      str_or_null(comps[i].purl)));
	sbom_components_free(comps, n);
	api_reply(c, 200,
	          json_pack("{s:s, s:I, s:s, s:b, s:o}", "package", c->package, "revision",
	                    (json_int_t)rev, "version", db_cell(&rows, 0, 0), "sbom", sbom && *sbom,
	                    "components", list));
}
