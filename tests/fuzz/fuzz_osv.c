/* fuzz_osv.c: OSV records from untrusted bytes: parse under small bounds,
 * and when a record comes back, evaluate it against a few components of
 * each ordering and put it twice into an index (the second put must be
 * "unchanged"). */
#include <stdint.h>
#include <stdlib.h>

#include "vuln/index.h"
#include "vuln/osv.h"

static const char *const purls[] = {
    "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12&upstream=openssl",
    "pkg:deb/debian/x@1:2.0~rc1-1+b1?distro=bookworm",
    "pkg:npm/left-pad@1.3.0-beta.1",
    "pkg:pypi/requests@2.30.0",
    "pkg:golang/golang.org/x/net@v0.17.0",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct osv_limits lim;
	osv_limits_default(&lim);
	lim.max_depth = 16;
	lim.max_events = 64;
	lim.max_versions = 256;
	struct osv_record *rec = NULL;
	if (osv_record_parse((const char *)data, size, "fuzz", &lim, &rec, NULL) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(purls) / sizeof(purls[0]); i++) {
		struct vuln_component c;
		if (vuln_component_from_purl(purls[i], &c, NULL) < 0)
			abort();
		bool hit;
		const char *fixed;
		/* a fix named is never empty, and only named when affected */
		if (vuln_record_check(rec, &c, &hit, &fixed, NULL) == 0 && fixed &&
		    (!hit || !*fixed))
			abort();
		(void)vuln_record_severity(rec, &c);
		/* every affected entry with the record's own package name */
		for (size_t a = 0; a < rec->n_affected; a++)
			if (vuln_affected_check(&rec->affected[a], c.version, &hit, &fixed, NULL) ==
			        0 &&
			    fixed && !hit)
				abort();
	}
	struct vuln_index *ix = NULL;
	if (vuln_index_new(&ix, NULL) < 0)
		abort();
	struct osv_record *again = NULL;
	if (osv_record_parse((const char *)data, size, "fuzz", &lim, &again, NULL) < 0)
		abort(); /* parsing is deterministic */
	enum vuln_put_result r1, r2;
	if (vuln_index_put(ix, rec, &r1, NULL, NULL, NULL) < 0 ||
	    vuln_index_put(ix, again, &r2, NULL, NULL, NULL) < 0)
		abort();
	if (r1 != VULN_PUT_ADDED || r2 != VULN_PUT_UNCHANGED)
		abort();
	vuln_index_free(ix);
	return 0;
}
