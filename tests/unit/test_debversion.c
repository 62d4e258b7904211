/* test_debversion.c: lib/vuln/debversion and lib/vuln/semver: Debian
 * ordering over a table of known cases (deb-version(7) and dpkg's own
 * rules), parse errors in dpkg's words, SemVer 2.0.0 precedence, and the
 * ecosystem table. The cross-check against dpkg itself over thousands of
 * real versions is tests/system/test_debversion_dpkg.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "vuln/debversion.h"
#include "vuln/semver.h"

static int deb(const char *a, const char *b)
{
	int r = 99;
	ferry_error err = {0};
	if (debversion_compare(a, b, &r, &err) < 0)
		fail_msg("compare %s %s: %s", a, b, err.msg);
	return r < 0 ? -1 : r > 0;
}

static void test_deb_table(void **state)
{
	static const struct {
		const char *a, *b;
		int want;
	} cases[] = {
	    {"1.0", "1.0", 0},
	    {"1.0", "1.1", -1},
	    {"1.10", "1.9", 1},
	    {"1.0~rc1", "1.0", -1},      /* ~ before the end */
	    {"1.0~rc1", "1.0~rc1~1", 1}, /* ~~ before ~ */
	    {"1.0~", "1.0", -1},
	    {"1.0~~", "1.0~", -1},
	    {"1.0", "1.0a", -1},  /* end before letters */
	    {"1.0a", "1.0+", -1}, /* letters before non-letters */
	    {"1.0+", "1.0.", -1}, /* '+' (43) before '.' (46) */
	    {"1.0-", "1.0", 0},   /* never valid, see parse test */
	    {"1:0.1", "2.0", 1},  /* epoch first */
	    {"0:1.0", "1.0", 0},  /* epoch 0 is no epoch */
	    {"1.0-1", "1.0-0", 1},
	    {"1.0", "1.0-0", 0}, /* missing revision is "0" */
	    {"1.0-0.1", "1.0", 1},
	    {"1.01", "1.1", 0}, /* digits compare as numbers */
	    {"1.001", "1.1", 0},
	    {"1.0000000000000000000000001", "1.1", 0}, /* longer than any int */
	    {"1.99999999999999999999999", "1.100000000000000000000000", -1},
	    {"3.0.11-1~deb12u2", "3.0.11-1", -1},
	    {"3.0.11-1~deb12u2", "3.0.11-1~deb12u1", 1},
	    {"3.0.11-1~deb12u2", "3.0.13-1~deb12u1", -1},
	    {"2.36-9+deb12u4", "2.36-9+deb12u10", -1},
	    {"1:1.2.13.dfsg-1", "1.2.13.dfsg-1", 1},
	    {"1.2.3-1+b1", "1.2.3-1", 1},
	    {"7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1},
	    {"a", "b", -1}, /* dpkg warns but compares */
	    {"1.0-1ubuntu1", "1.0-1", 1},
	    {"1.0-1", "1.0-1.1", -1},
	    {"2.30-1", "2.30~git-1", 1},
	    {"9.9", "10.0", -1},
	    {"1.2-3-4", "1.2-3-5", -1}, /* upstream "1.2-3", revision "4" */
	    {"1:2:3", "1:2:4", -1},     /* colons after the epoch belong to upstream */
	    {"0.0", "0", 1},
	    {"0", "00", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].a, "1.0-") == 0)
			continue;
		int got = deb(cases[i].a, cases[i].b);
		if (got != cases[i].want)
			fail_msg("%s vs %s: got %d, want %d", cases[i].a, cases[i].b, got,
			         cases[i].want);
		int back = deb(cases[i].b, cases[i].a);
		if (back != -cases[i].want)
			fail_msg("%s vs %s: not antisymmetric", cases[i].b, cases[i].a);
	}
}

static void test_deb_parse(void **state)
{
	struct debversion v;
	ferry_error err = {0};
	assert_int_equal(debversion_parse("  1:2.3-4+b1 \n", &v, &err), 0);
	assert_int_equal(v.epoch, 1);
	assert_string_equal(v.upstream, "2.3");
	assert_string_equal(v.revision, "4+b1");
	assert_int_equal(debversion_parse("2.3", &v, &err), 0);
	assert_string_equal(v.revision, "");

	static const struct {
		const char *in, *msg;
	} bad[] = {
	    {"", "version string is empty"},
	    {"   ", "version string is empty"},
	    {"1 2", "version '1 2' has embedded spaces"},
	    {":1.0", "version ':1.0': epoch in version is empty"},
	    {"a:1.0", "version 'a:1.0': epoch in version is not number"},
	    {"-1:1.0", "version '-1:1.0': epoch in version is not number"},
	    {"99999999999:1", "version '99999999999:1': epoch in version is too big"},
	    {"1:", "version '1:': nothing after colon in version number"},
	    {"1.0-", "version '1.0-': revision number is empty"},
	    {"-1", "version '-1': version number is empty"},
	    {"1.0_1", "version '1.0_1': invalid character in version number"},
	    {"1.0-a_b", "version '1.0-a_b': invalid character in revision number"},
	    {"1.0-1\xc3\xa9", "version '1.0-1\xc3\xa9': invalid character in revision number"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_error_clear(&err);
		int rc = debversion_parse(bad[i].in, &v, &err);
		if (rc != FERRY_E_INVALID || strcmp(err.msg, bad[i].msg) != 0)
			fail_msg("'%s': rc %d, message '%s', want '%s'", bad[i].in, rc, err.msg,
			         bad[i].msg);
	}
	char longv[DEBVERSION_MAX + 8];
	memset(longv, '1', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = 0;
	assert_int_equal(debversion_parse(longv, &v, &err), FERRY_E_LIMIT);
	assert_non_null(strstr(err.msg, "longer than 256 bytes"));
	int r;
	assert_int_equal(debversion_compare("1.0", "1.0-", &r, &err), FERRY_E_INVALID);
}

static int sv(const char *a, const char *b)
{
	int r = 99;
	ferry_error err = {0};
	if (semver_compare(a, b, &r, &err) < 0)
		fail_msg("compare %s %s: %s", a, b, err.msg);
	return r;
}

static void test_semver(void **state)
{
	/* the precedence chain from semver.org, section 11 */
	static const char *chain[] = {
	    "1.0.0-alpha",
	    "1.0.0-alpha.1",
	    "1.0.0-alpha.beta",
	    "1.0.0-beta",
	    "1.0.0-beta.2",
	    "1.0.0-beta.11",
	    "1.0.0-rc.1",
	    "1.0.0",
	    "1.0.1",
	    "1.1.0",
	    "2.0.0",
	    "10.0.0",
	    "18446744073709551616.0.0",
	};
	size_t n = sizeof(chain) / sizeof(chain[0]);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int want = i < j ? -1 : i > j;
			if (sv(chain[i], chain[j]) != want)
				fail_msg("%s vs %s: want %d", chain[i], chain[j], want);
		}
	assert_int_equal(sv("1.0.0+build.1", "1.0.0+build.2"), 0); /* build ignored */
	assert_int_equal(sv("v1.2.3", "1.2.3"), 0);                /* Go's "v" */
	assert_int_equal(sv("1.0.0-1", "1.0.0-a"), -1);            /* numeric before alnum */
	assert_int_equal(sv("1.0.0-a-b", "1.0.0-a"), 1);

	static const char *bad[] = {"1.0",      "1.0.0.0", "01.0.0",     "1.0.0-",
	                            "1.0.0-01", "1.0.0+",  "1.0.0-a..b", "1.0.0_x",
	                            "",         "x.y.z",   "1.0.0-é"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (semver_valid(bad[i]))
			fail_msg("'%s' accepted as SemVer", bad[i]);
	ferry_error err = {0};
	int r;
	assert_int_equal(semver_compare("1.0", "1.0.0", &r, &err), FERRY_E_INVALID);
	assert_string_equal(err.msg, "version '1.0' is not SemVer 2.0.0");
}

static void test_ecosystems(void **state)
{
	assert_int_equal(vuln_ecosystem_ordering("Debian:12"), VULN_ORDER_DPKG);
	assert_int_equal(vuln_ecosystem_ordering("Debian"), VULN_ORDER_DPKG);
	assert_int_equal(vuln_ecosystem_ordering("Ubuntu:22.04:LTS"), VULN_ORDER_DPKG);
	assert_int_equal(vuln_ecosystem_ordering("npm"), VULN_ORDER_SEMVER);
	assert_int_equal(vuln_ecosystem_ordering("Go"), VULN_ORDER_SEMVER);
	assert_int_equal(vuln_ecosystem_ordering("PyPI"), VULN_ORDER_NONE);
	assert_int_equal(vuln_ecosystem_ordering("Debianx"), VULN_ORDER_NONE);
	int r;
	ferry_error err = {0};
	assert_int_equal(vuln_version_compare(VULN_ORDER_NONE, "1", "2", &r, &err),
	                 FERRY_E_UNSUPPORTED);
	assert_int_equal(vuln_version_compare(VULN_ORDER_DPKG, "1.0~b", "1.0", &r, &err), 0);
	assert_true(r < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deb_table),
	    cmocka_unit_test(test_deb_parse),
	    cmocka_unit_test(test_semver),
	    cmocka_unit_test(test_ecosystems),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
