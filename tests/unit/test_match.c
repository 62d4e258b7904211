/* test_match.c: lib/vuln/match and lib/vuln/index: purls into components
 * (deb through the source package), OSV range semantics (introduced "0",
 * fixed, last_affected, limit, several ranges, versions lists, releases),
 * the fixed version reported, and the index: idempotent re-import, a
 * changed record replaces, an older one does not, a withdrawn one stops
 * matching; full and incremental scans over de-duplicated components. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "vuln/index.h"
#include "vuln/match.h"

static struct vuln_component comp(const char *purl)
{
	struct vuln_component c;
	ferry_error err = {0};
	if (vuln_component_from_purl(purl, &c, &err) < 0)
		fail_msg("%s: %s", purl, err.msg);
	return c;
}

static void test_purl(void **state)
{
	struct vuln_component c = comp(
	    "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl");
	assert_string_equal(c.ecosystem, "Debian");
	assert_string_equal(c.release, "12");
	assert_string_equal(c.name, "openssl");
	assert_string_equal(c.version, "3.0.11-1~deb12u2");
	assert_string_equal(c.package, "libssl3");

	/* source version given, percent-encoded, differs from the binary's */
	c = comp("pkg:deb/debian/"
	         "libgcc-s1@12.2.0-14?distro=bookworm&upstream=gcc-12%4012.2.0-14%2Bdeb12u1");
	assert_string_equal(c.release, "12");
	assert_string_equal(c.name, "gcc-12");
	assert_string_equal(c.version, "12.2.0-14+deb12u1");
	assert_string_equal(c.package_version, "12.2.0-14");

	/* epoch encoded, binNMU suffix dropped when no source version is given */
	c = comp("pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1%2Bb1?arch=amd64");
	assert_string_equal(c.name, "zlib1g");
	assert_string_equal(c.version, "1:1.2.13.dfsg-1");
	assert_string_equal(c.release, "");

	c = comp("pkg:npm/%40babel/core@7.22.0");
	assert_string_equal(c.ecosystem, "npm");
	assert_string_equal(c.name, "@babel/core");
	c = comp("pkg:golang/golang.org/x/net@v0.17.0");
	assert_string_equal(c.ecosystem, "Go");
	assert_string_equal(c.name, "golang.org/x/net");
	c = comp("pkg:pypi/Django_Rest.framework@3.0");
	assert_string_equal(c.name, "django-rest-framework");
	c = comp("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1");
	assert_string_equal(c.name, "org.apache.logging.log4j:log4j-core");

	struct vuln_component x;
	ferry_error err = {0};
	assert_int_equal(vuln_component_from_purl("pkg:rpm/fedora/curl@8.0", &x, &err),
	                 FERRY_E_UNSUPPORTED);
	assert_string_equal(err.msg, "purl 'pkg:rpm/fedora/curl@8.0': type 'rpm' is not supported");
	assert_int_equal(vuln_component_from_purl("pkg:deb/debian/curl", &x, &err),
	                 FERRY_E_INVALID);
	assert_string_equal(err.msg, "purl 'pkg:deb/debian/curl': no version");
	assert_int_equal(vuln_component_from_purl("pkg:deb/debian/curl@1%2", &x, &err),
	                 FERRY_E_INVALID);
	assert_int_equal(vuln_component_from_purl("pkg:deb/debian/curl@1%00", &x, &err),
	                 FERRY_E_INVALID);
	assert_int_equal(vuln_component_from_purl("http://x", &x, &err), FERRY_E_INVALID);
	assert_int_equal(vuln_component_from_purl("pkg:deb/fedora/x@1", &x, &err),
	                 FERRY_E_UNSUPPORTED);
}

static struct osv_record *rec_of(const char *fmt, ...) FERRY_PRINTF(1, 2);
static struct osv_record *rec_of(const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	struct osv_record *rec = NULL;
	ferry_error err = {0};
	if (osv_record_parse(buf, strlen(buf), "t.json", NULL, &rec, &err) < 0)
		fail_msg("%s", err.msg);
	return rec;
}

/* A Debian record for openssl with the given ranges/versions JSON. */
static struct osv_record *deb_rec(const char *id, const char *eco, const char *affected_rest)
{
	return rec_of(
	    "{\"id\":\"%s\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
	    "{\"ecosystem\":\"%s\",\"name\":\"openssl\"},%s}]}",
	    id, eco, affected_rest);
}

/* Is version affected, and what fix is named? "-" for no fix. */
static const char *check(const struct osv_record *rec, const char *purl_version)
{
	static char out[128];
	char purl[256];
	snprintf(purl, sizeof(purl), "pkg:deb/debian/libssl3@%s?distro=debian-12&upstream=openssl",
	         purl_version);
	struct vuln_component c = comp(purl);
	bool hit;
	const char *fixed;
	ferry_error err = {0};
	if (vuln_record_check(rec, &c, &hit, &fixed, &err) < 0)
		fail_msg("%s", err.msg);
	if (!hit)
		return "no";
	snprintf(out, sizeof(out), "yes %s", fixed ? fixed : "-");
	return out;
}

static void test_ranges(void **state)
{
	struct osv_record *r =
	    deb_rec("R-1", "Debian:12",
	            "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},"
	            "{\"fixed\":\"3.0.11-1~deb12u2\"}]}]");
	assert_string_equal(check(r, "3.0.9-1"), "yes 3.0.11-1~deb12u2");
	assert_string_equal(check(r, "3.0.11-1~deb12u1"), "yes 3.0.11-1~deb12u2");
	assert_string_equal(check(r, "3.0.11-1~deb12u2"), "no"); /* fixed itself */
	assert_string_equal(check(r, "3.0.11-1"), "no");
	assert_string_equal(check(r, "0.9"), "yes 3.0.11-1~deb12u2");
	osv_record_free(r);

	/* two introduced/fixed pairs in one range, a last_affected range, a
	 * limit, and a versions list */
	r = deb_rec(
	    "R-2", "Debian:12",
	    "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"1.0\"},"
	    "{\"fixed\":\"1.5\"},{\"introduced\":\"2.0\"},{\"fixed\":\"2.3\"}]},"
	    "{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"5.0\"},{\"last_affected\":\"5."
	    "2\"}]},"
	    "{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"7.0\"},{\"limit\":\"7.5\"}]},"
	    "{\"type\":\"GIT\",\"repo\":\"x\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":"
	    "\"abc\"}]}],"
	    "\"versions\":[\"9.0-1\"]");
	assert_string_equal(check(r, "0.9"), "no");
	assert_string_equal(check(r, "1.0"), "yes 1.5"); /* introduced includes itself */
	assert_string_equal(check(r, "1.4.9"), "yes 1.5");
	assert_string_equal(check(r, "1.5~rc1"), "yes 1.5");
	assert_string_equal(check(r, "1.5"), "no");
	assert_string_equal(check(r, "1.9"), "no");
	assert_string_equal(check(r, "2.1"), "yes 2.3");
	assert_string_equal(check(r, "2.3"), "no");
	assert_string_equal(check(r, "5.2"), "yes -"); /* last_affected includes itself */
	assert_string_equal(check(r, "5.2-1"), "no");
	assert_string_equal(check(r, "7.4"), "yes -");
	assert_string_equal(check(r, "7.5"), "no");
	assert_string_equal(check(r, "9.0-1"), "yes -"); /* versions list */
	assert_string_equal(check(r, "9.0-2"), "no");
	osv_record_free(r);

	/* overlapping ranges: the smallest fix above the version is named */
	r = deb_rec(
	    "R-3", "Debian:12",
	    "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"3."
	    "0\"}]},"
	    "{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"1.0\"},{\"fixed\":\"2.0\"}]}]");
	assert_string_equal(check(r, "1.5"), "yes 2.0");
	assert_string_equal(check(r, "2.5"), "yes 3.0");
	osv_record_free(r);

	/* releases: Debian:11 records do not apply to Debian 12, plain Debian does */
	r = deb_rec("R-4", "Debian:11",
	            "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]");
	assert_string_equal(check(r, "1.0"), "no");
	osv_record_free(r);
	r = deb_rec("R-5", "Debian",
	            "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]");
	assert_string_equal(check(r, "1.0"), "yes -");
	osv_record_free(r);

	/* matched through the source package, not the binary name */
	r = rec_of(
	    "{\"id\":\"R-6\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
	    "{\"ecosystem\":\"Debian:12\",\"name\":\"libssl3\"},\"ranges\":[{\"type\":"
	    "\"ECOSYSTEM\","
	    "\"events\":[{\"introduced\":\"0\"}]}]}]}");
	assert_string_equal(check(r, "1.0"), "no");
	osv_record_free(r);

	/* withdrawn never matches */
	r = rec_of("{\"id\":\"R-7\",\"modified\":\"2024-01-01T00:00:00Z\",\"withdrawn\":\"2024-01-"
	           "02T00:00:00Z\","
	           "\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"},"
	           "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]}]}");
	assert_string_equal(check(r, "1.0"), "no");
	osv_record_free(r);
}

static void test_semver_and_unordered(void **state)
{
	struct osv_record *r =
	    rec_of("{\"id\":\"G-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":["
	           "{\"package\":{\"ecosystem\":\"npm\",\"name\":\"left-pad\"},\"ranges\":[{"
	           "\"type\":\"SEMVER\","
	           "\"events\":[{\"introduced\":\"1.0.0-alpha\"},{\"fixed\":\"1.3.0\"}]}]},"
	           "{\"package\":{\"ecosystem\":\"PyPI\",\"name\":\"Requests\"},\"ranges\":[{"
	           "\"type\":\"ECOSYSTEM\","
	           "\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"2.31.0\"}]}],\"versions\":[\"2."
	           "30.0\"]}]}");
	struct vuln_component c = comp("pkg:npm/left-pad@1.0.0-beta");
	bool hit;
	const char *fixed;
	assert_int_equal(vuln_record_check(r, &c, &hit, &fixed, NULL), 0);
	assert_true(hit);
	assert_string_equal(fixed, "1.3.0");
	c = comp("pkg:npm/left-pad@1.3.0");
	assert_int_equal(vuln_record_check(r, &c, &hit, &fixed, NULL), 0);
	assert_false(hit);
	/* PyPI has no ordering here: only the explicit list matches */
	c = comp("pkg:pypi/requests@2.30.0");
	assert_int_equal(vuln_record_check(r, &c, &hit, &fixed, NULL), 0);
	assert_true(hit);
	c = comp("pkg:pypi/requests@2.29.0");
	assert_int_equal(vuln_record_check(r, &c, &hit, &fixed, NULL), 0);
	assert_false(hit);
	/* a component version that is not SemVer cannot be evaluated */
	c = comp("pkg:npm/left-pad@banana");
	ferry_error err = {0};
	assert_int_equal(vuln_record_check(r, &c, &hit, &fixed, &err), FERRY_E_INVALID);
	assert_string_equal(err.msg, "G-1: left-pad banana: version 'banana' is not SemVer 2.0.0");
	osv_record_free(r);
}

struct keys {
	char seen[16][128];
	size_t n;
};

static int on_key(void *ctx, const char *family, const char *name)
{
	struct keys *k = ctx;
	if (k->n < 16)
		snprintf(k->seen[k->n++], 128, "%s/%s", family, name);
	return 0;
}

static enum vuln_put_result put(struct vuln_index *ix, struct osv_record *r, struct keys *k)
{
	enum vuln_put_result res;
	ferry_error err = {0};
	if (vuln_index_put(ix, r, &res, k ? on_key : NULL, k, &err) < 0)
		fail_msg("%s", err.msg);
	return res;
}

#define REC_JSON                                                                                   \
	"{\"id\":\"DSA-1\",\"modified\":\"%s\",%s\"affected\":[{\"package\":"                      \
	"{\"ecosystem\":\"Debian:12\",\"name\":\"%s\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","       \
	"\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"%s\"}]}]}]}"

struct found {
	char lines[32][160];
	size_t n;
};

static int on_finding(void *ctx, uint64_t revision, const struct vuln_component *c,
                      const char *advisory, const char *fixed)
{
	struct found *f = ctx;
	if (f->n < 32)
		snprintf(f->lines[f->n++], 160, "r%llu %s %s %s %s", (unsigned long long)revision,
		         c->package, c->version, advisory, fixed ? fixed : "-");
	return 0;
}

static size_t findings(struct vuln_catalog *cat, uint64_t rev, struct found *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(vuln_catalog_findings(cat, rev, on_finding, f), 0);
	return f->n;
}

static void test_index_and_scans(void **state)
{
	struct vuln_index *ix = NULL;
	struct vuln_catalog *cat = NULL;
	ferry_error err = {0};
	assert_int_equal(vuln_index_new(&ix, &err), 0);
	assert_int_equal(vuln_catalog_new(&cat, &err), 0);

	/* two revisions share libssl3 3.0.9-1; revision 2 also bundles a newer
	 * libcrypto from the same source, listed twice */
	const char *r1[] = {
	    "pkg:deb/debian/libssl3@3.0.9-1?distro=debian-12&upstream=openssl",
	    "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?distro=debian-12&upstream=zlib",
	    "pkg:rpm/fedora/x@1",
	};
	const char *r2[] = {
	    "pkg:deb/debian/libssl3@3.0.9-1?distro=debian-12&upstream=openssl",
	    "pkg:deb/debian/openssl@3.0.9-1?distro=debian-12&upstream=openssl",
	};
	const char *r3[] = {
	    "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12&upstream=openssl",
	};
	size_t unsupported = 0;
	assert_int_equal(vuln_catalog_add(cat, 1, r1, 3, &unsupported, &err), 0);
	assert_int_equal(vuln_catalog_add(cat, 2, r2, 2, &unsupported, &err), 0);
	assert_int_equal(vuln_catalog_add(cat, 3, r3, 1, &unsupported, &err), 0);
	assert_int_equal(unsupported, 1);
	assert_int_equal(vuln_catalog_distinct(cat), 3);

	char buf[2048];
	struct keys k = {0};
	snprintf(buf, sizeof(buf), REC_JSON, "2024-01-01T00:00:00Z", "", "openssl",
	         "3.0.11-1~deb12u2");
	struct osv_record *rec = NULL;
	assert_int_equal(osv_record_parse(buf, strlen(buf), "a.json", NULL, &rec, &err), 0);
	assert_int_equal(put(ix, rec, &k), VULN_PUT_ADDED);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.seen[0], "Debian/openssl");

	struct vuln_scan_stats st = {0};
	assert_int_equal(vuln_catalog_scan_all(cat, ix, &st, &err), 0);
	assert_int_equal(st.components, 3);
	assert_int_equal(st.findings, 1); /* one distinct component affected */
	struct found f;
	assert_int_equal(findings(cat, 1, &f), 1);
	assert_string_equal(f.lines[0], "r1 libssl3 3.0.9-1 DSA-1 3.0.11-1~deb12u2");
	assert_int_equal(findings(cat, 2, &f), 1);
	assert_int_equal(findings(cat, 3, &f), 0);

	/* the same record again: unchanged, no package touched */
	memset(&k, 0, sizeof(k));
	assert_int_equal(osv_record_parse(buf, strlen(buf), "a.json", NULL, &rec, &err), 0);
	assert_int_equal(put(ix, rec, &k), VULN_PUT_UNCHANGED);
	assert_int_equal(k.n, 0);
	assert_int_equal(vuln_index_size(ix), 1);

	/* an older version of it is kept out */
	snprintf(buf, sizeof(buf), REC_JSON, "2023-06-01T00:00:00Z", "", "openssl", "3.0.10-1");
	assert_int_equal(osv_record_parse(buf, strlen(buf), "a.json", NULL, &rec, &err), 0);
	assert_int_equal(put(ix, rec, &k), VULN_PUT_OLDER);
	assert_string_equal(vuln_index_get(ix, "DSA-1")->affected[0].ranges[0].events[1].version,
	                    "3.0.11-1~deb12u2");

	/* a changed record replaces: now about zlib, not openssl; both touched */
	snprintf(buf, sizeof(buf), REC_JSON, "2024-02-01T00:00:00Z", "", "zlib", "1:1.2.13.dfsg-2");
	assert_int_equal(osv_record_parse(buf, strlen(buf), "a.json", NULL, &rec, &err), 0);
	assert_int_equal(put(ix, rec, &k), VULN_PUT_REPLACED);
	assert_int_equal(k.n, 2);
	assert_string_equal(k.seen[0], "Debian/openssl");
	assert_string_equal(k.seen[1], "Debian/zlib");
	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i < k.n; i++) {
		char *slash = strchr(k.seen[i], '/');
		*slash = 0;
		assert_int_equal(
		    vuln_catalog_scan_package(cat, ix, k.seen[i], slash + 1, &st, &err), 0);
	}
	assert_int_equal(st.components, 3); /* two openssl versions, one zlib */
	assert_int_equal(findings(cat, 2, &f), 0);
	assert_int_equal(findings(cat, 1, &f), 1);
	assert_string_equal(f.lines[0], "r1 zlib1g 1:1.2.13.dfsg-1 DSA-1 1:1.2.13.dfsg-2");

	/* withdrawn: held, no longer matches */
	memset(&k, 0, sizeof(k));
	snprintf(buf, sizeof(buf), REC_JSON, "2024-03-01T00:00:00Z",
	         "\"withdrawn\":\"2024-03-01T00:00:00Z\",", "zlib", "1:1.2.13.dfsg-2");
	assert_int_equal(osv_record_parse(buf, strlen(buf), "a.json", NULL, &rec, &err), 0);
	assert_int_equal(put(ix, rec, &k), VULN_PUT_REPLACED);
	assert_int_equal(vuln_catalog_scan_package(cat, ix, "Debian", "zlib", NULL, &err), 0);
	assert_int_equal(findings(cat, 1, &f), 0);
	const struct osv_record *const *recs;
	size_t n;
	vuln_index_lookup(ix, "Debian:12", "zlib", &recs, &n);
	assert_int_equal(n, 0);
	assert_non_null(vuln_index_get(ix, "DSA-1"));
	/* and re-importing the withdrawn record changes nothing */
	assert_int_equal(osv_record_parse(buf, strlen(buf), "a.json", NULL, &rec, &err), 0);
	assert_int_equal(put(ix, rec, &k), VULN_PUT_UNCHANGED);

	vuln_catalog_free(cat);
	vuln_index_free(ix);
}

static int count_rev(void *ctx, uint64_t revision)
{
	(*(size_t *)ctx)++;
	return 0;
}

static void test_affected_revisions(void **state)
{
	struct vuln_index *ix = NULL;
	struct vuln_catalog *cat = NULL;
	assert_int_equal(vuln_index_new(&ix, NULL), 0);
	assert_int_equal(vuln_catalog_new(&cat, NULL), 0);
	char purl[256];
	for (uint64_t rev = 1; rev <= 50; rev++) {
		snprintf(purl, sizeof(purl),
		         "pkg:deb/debian/libssl3@3.0.%llu-1?distro=debian-12&upstream=openssl",
		         (unsigned long long)(rev % 5 + 8));
		const char *p = purl;
		assert_int_equal(vuln_catalog_add(cat, rev, &p, 1, NULL, NULL), 0);
	}
	assert_int_equal(vuln_catalog_distinct(cat), 5); /* 3.0.8 .. 3.0.12 */
	char buf[2048];
	snprintf(buf, sizeof(buf), REC_JSON, "2024-01-01T00:00:00Z", "", "openssl", "3.0.11-1");
	struct osv_record *rec = NULL;
	assert_int_equal(osv_record_parse(buf, strlen(buf), "a.json", NULL, &rec, NULL), 0);
	assert_int_equal(put(ix, rec, NULL), VULN_PUT_ADDED);
	assert_int_equal(vuln_catalog_scan_package(cat, ix, "Debian", "openssl", NULL, NULL), 0);
	size_t nrev = 0;
	assert_int_equal(
	    vuln_catalog_affected_revisions(cat, "Debian", "openssl", count_rev, &nrev), 0);
	assert_int_equal(nrev, 30); /* 3.0.8, 3.0.9, 3.0.10: 10 revisions each */
	vuln_catalog_free(cat);
	vuln_index_free(ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_purl),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_semver_and_unordered),
	    cmocka_unit_test(test_index_and_scans),
	    cmocka_unit_test(test_affected_revisions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
