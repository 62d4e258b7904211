/* vulnscan.c: test helper that imports OSV advisories with lib/vuln and
 * matches package URLs against them, for system tests with real Debian
 * packages.
 *   vulnscan ADVISORIES PURL...
 * Prints "imported N rejected N" and then, per finding, one line
 *   PURL<TAB>ADVISORY<TAB>FIXED|-<TAB>SEVERITY|-<TAB>ALIAS,ALIAS...
 * Rejections go to standard error. Exit 1 when the source cannot be read. */
#include <stdio.h>
#include <string.h>

#include "vuln/index.h"

static int on_record(void *ctx, struct osv_record *rec, const char *origin)
{
	return vuln_index_put(ctx, rec, NULL, NULL, NULL, NULL);
}

static void on_reject(void *ctx, const char *origin, const char *id, const ferry_error *why)
{
	fprintf(stderr, "rejected: %s\n", why->msg);
}

struct hit_ctx {
	const char *purl;
	const struct vuln_component *c;
};

static int on_hit(void *ctx, const struct osv_record *rec, const char *fixed)
{
	struct hit_ctx *h = ctx;
	const char *sev = vuln_record_severity(rec, h->c);
	printf("%s\t%s\t%s\t%s\t", h->purl, rec->id, fixed ? fixed : "-", sev ? sev : "-");
	for (size_t i = 0; i < rec->n_aliases; i++)
		printf("%s%s", i ? "," : "", rec->aliases[i]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: vulnscan ADVISORIES PURL...\n");
		return 2;
	}
	struct vuln_index *ix = NULL;
	ferry_error err = {0};
	struct osv_import_stats st;
	if (vuln_index_new(&ix, &err) < 0 ||
	    osv_import_path(argv[1], NULL, on_record, on_reject, ix, &st, &err) < 0) {
		fprintf(stderr, "vulnscan: %s\n", ferry_error_msg(&err));
		vuln_index_free(ix);
		return 1;
	}
	printf("imported %zu rejected %zu\n", st.records, st.rejected);
	int rc = 0;
	for (int i = 2; i < argc; i++) {
		struct vuln_component c;
		if (vuln_component_from_purl(argv[i], &c, &err) < 0) {
			fprintf(stderr, "vulnscan: %s\n", ferry_error_msg(&err));
			rc = 1;
			continue;
		}
		struct hit_ctx h = {argv[i], &c};
		if (vuln_index_scan(ix, &c, on_hit, &h, NULL, &err) < 0) {
			fprintf(stderr, "vulnscan: %s\n", ferry_error_msg(&err));
			rc = 1;
		}
	}
	vuln_index_free(ix);
	return rc;
}
