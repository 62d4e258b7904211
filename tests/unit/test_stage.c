/* test_stage.c: lib/pkg/stage without the network: package names as apt
 * takes them, prime filters, dpkg-deb control fields, apt's --print-uris
 * lines and os-release. Staging real packages from the archive is
 * tests/system/test_stage.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "pkg/stage.h"

static void test_valid_spec(void **state)
{
	assert_true(stage_valid_spec("jq"));
	assert_true(stage_valid_spec("libjq1"));
	assert_true(stage_valid_spec("libstdc++6"));
	assert_true(stage_valid_spec("python3.11"));
	assert_true(stage_valid_spec("jq=1.6-2.1+deb12u3"));
	assert_true(stage_valid_spec("bsdutils=1:2.38.1-5+deb12u3"));
	assert_true(stage_valid_spec("libssl3=3.0.11-1~deb12u2"));

	assert_false(stage_valid_spec(NULL));
	assert_false(stage_valid_spec(""));
	assert_false(stage_valid_spec("j"));  /* at least two characters */
	assert_false(stage_valid_spec("-o")); /* never an option */
	assert_false(stage_valid_spec("--print-uris"));
	assert_false(stage_valid_spec("Jq")); /* lower case only */
	assert_false(stage_valid_spec("jq;rm -rf /"));
	assert_false(stage_valid_spec("jq "));
	assert_false(stage_valid_spec("jq/bookworm"));
	assert_false(stage_valid_spec("jq="));
	assert_false(stage_valid_spec("jq=abc")); /* versions start with a digit */
	assert_false(stage_valid_spec("jq=1.6 x"));
	assert_false(stage_valid_spec("jq=1$(id)"));
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(stage_valid_spec(longname));
}

static void test_prime(void **state)
{
	/* no filters keep everything */
	assert_true(stage_prime_keep(NULL, 0, "usr/share/doc/jq/copyright"));

	char *drop[] = {"-usr/share/doc/*", "-usr/share/man"};
	assert_false(stage_prime_keep(drop, 2, "usr/share/doc/jq"));
	assert_false(stage_prime_keep(drop, 2, "usr/share/doc/jq/copyright"));
	assert_true(stage_prime_keep(drop, 2, "usr/share/doc")); /* the folder itself stays */
	assert_false(stage_prime_keep(drop, 2, "usr/share/man"));
	assert_false(stage_prime_keep(drop, 2, "usr/share/man/man1/jq.1.gz"));
	assert_true(stage_prime_keep(drop, 2, "usr/share/manual")); /* whole components only */
	assert_true(stage_prime_keep(drop, 2, "usr/bin/jq"));

	/* includes: only what they match (and what is below it) */
	char *keep[] = {"usr/bin/jq", "usr/lib/*/libjq.so.*", "usr/lib/x86_64-linux-gnu/libonig*"};
	assert_true(stage_prime_keep(keep, 3, "usr/bin/jq"));
	assert_false(stage_prime_keep(keep, 3, "usr/bin/jqx"));
	assert_true(stage_prime_keep(keep, 3, "usr/lib/x86_64-linux-gnu/libjq.so.1"));
	assert_true(stage_prime_keep(keep, 3, "usr/lib/x86_64-linux-gnu/libjq.so.1.0.4"));
	assert_false(stage_prime_keep(keep, 3, "usr/lib/x86_64-linux-gnu/libjq.a"));
	assert_true(stage_prime_keep(keep, 3, "usr/lib/x86_64-linux-gnu/libonig.so.5"));
	assert_false(stage_prime_keep(keep, 3, "usr/share/doc/jq/copyright"));
	/* "*" does not cross "/" */
	char *star[] = {"usr/*"};
	assert_true(stage_prime_keep(star, 1, "usr/bin"));
	assert_true(stage_prime_keep(star, 1, "usr/bin/jq")); /* below a match */
	assert_false(stage_prime_keep(star, 1, "etc/x"));

	/* a "-" filter beats an include */
	char *both[] = {"usr", "-usr/share", "usr/share/jq/"};
	assert_true(stage_prime_keep(both, 3, "usr/bin/jq"));
	assert_false(stage_prime_keep(both, 3, "usr/share/jq/x"));
	/* a trailing slash means the same folder */
	char *slash[] = {"-usr/share/doc/"};
	assert_false(stage_prime_keep(slash, 1, "usr/share/doc/x"));
}

static void test_control(void **state)
{
	struct stage_deb d = {0};
	assert_int_equal(stage_parse_control("Package: libjq1\nVersion: 1.6-2.1+deb12u3\n"
	                                     "Architecture: amd64\nSource: jq\n",
	                                     &d, NULL),
	                 0);
	assert_string_equal(d.name, "libjq1");
	assert_string_equal(d.version, "1.6-2.1+deb12u3");
	assert_string_equal(d.arch, "amd64");
	assert_string_equal(d.source, "jq");
	assert_string_equal(d.source_version, "1.6-2.1+deb12u3");
	free(d.name), free(d.version), free(d.arch), free(d.source), free(d.source_version);

	memset(&d, 0, sizeof(d));
	assert_int_equal(
	    stage_parse_control("Package: bsdutils\nVersion: 1:2.38.1-5+deb12u3\n"
	                        "Architecture: amd64\nSource: util-linux (2.38.1-5+deb12u3)\n",
	                        &d, NULL),
	    0);
	assert_string_equal(d.version, "1:2.38.1-5+deb12u3");
	assert_string_equal(d.source, "util-linux");
	assert_string_equal(d.source_version, "2.38.1-5+deb12u3");
	free(d.name), free(d.version), free(d.arch), free(d.source), free(d.source_version);

	/* no Source field: the package is its own source */
	memset(&d, 0, sizeof(d));
	assert_int_equal(
	    stage_parse_control("Package: jq\nVersion: 1.6-2.1+deb12u3\nArchitecture: amd64\n", &d,
	                        NULL),
	    0);
	assert_string_equal(d.source, "jq");
	assert_string_equal(d.source_version, "1.6-2.1+deb12u3");
	free(d.name), free(d.version), free(d.arch), free(d.source), free(d.source_version);

	struct {
		const char *text, *msg;
	} bad[] = {
	    {"Version: 1\nArchitecture: amd64\n", "control: no valid Package field"},
	    {"Package: x;y\nVersion: 1\nArchitecture: amd64\n", "control: no valid Package field"},
	    {"Package: jq\nArchitecture: amd64\n", "control: no valid Version field"},
	    {"Package: jq\nVersion: 1\n", "control: no valid Architecture field"},
	    {"Package: jq\nVersion: 1\nArchitecture: amd64\nSource: jq (1\n",
	     "Source: expected \"name (version)\""},
	    {"Package: jq\nVersion: 1\nArchitecture: amd64\nSource: ../x\n",
	     "control: Source \"../x\" is not a package name"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_error err = {0};
		memset(&d, 0, sizeof(d));
		assert_int_equal(stage_parse_control(bad[i].text, &d, &err), FERRY_E_INVALID);
		assert_string_equal(err.msg, bad[i].msg);
		free(d.name), free(d.version), free(d.arch), free(d.source), free(d.source_version);
	}
}

static void test_print_uris(void **state)
{
	char *f = NULL, *h = NULL;
	ferry_error err = {0};
	assert_int_equal(
	    stage_parse_print_uris(
	        "'http://example.invalid/pool/main/u/util-linux/"
	        "bsdutils_2.38.1-5%2bdeb12u3_amd64.deb' "
	        "bsdutils_1%3a2.38.1-5+deb12u3_amd64.deb 94412 "
	        "SHA256:6cae172b006a4603e710e046c3acba8d98d36748894cbe3eeda31d415fec331e",
	        &f, &h, &err),
	    0);
	assert_string_equal(f, "bsdutils_1%3a2.38.1-5+deb12u3_amd64.deb");
	assert_string_equal(h, "6cae172b006a4603e710e046c3acba8d98d36748894cbe3eeda31d415fec331e");
	free(f);
	free(h);

	assert_int_equal(stage_parse_print_uris(
	                     "'u' ../../etc/x.deb 1 SHA256:"
	                     "6cae172b006a4603e710e046c3acba8d98d36748894cbe3eeda31d415fec331e",
	                     &f, &h, &err),
	                 FERRY_E_UNSAFE);
	assert_null(f);
	assert_int_equal(stage_parse_print_uris("'u' x.deb 1 MD5Sum:abc", &f, &h, &err),
	                 FERRY_E_VERIFY);
	assert_int_equal(stage_parse_print_uris("'u' x.deb 1 SHA256:abc", &f, &h, &err),
	                 FERRY_E_VERIFY);
	assert_int_equal(stage_parse_print_uris("x.deb 1 SHA256:abc", &f, &h, &err),
	                 FERRY_E_INVALID);
	assert_int_equal(stage_parse_print_uris(
	                     "'u' x.txt 1 SHA256:"
	                     "6cae172b006a4603e710e046c3acba8d98d36748894cbe3eeda31d415fec331e",
	                     &f, &h, &err),
	                 FERRY_E_UNSAFE);
}

static void test_distro(void **state)
{
	char dir[] = "/tmp/ferry-test-stage-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/os-release", dir);
	const char *text =
	    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
	    "VERSION_ID=\"12\"\nID=debian\n";
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644, NULL), 0);
	char vendor[32], distro[64];
	assert_int_equal(stage_distro(path, vendor, sizeof(vendor), distro, sizeof(distro)), 0);
	assert_string_equal(vendor, "debian");
	assert_string_equal(distro, "debian-12");

	/* no VERSION_ID (testing/sid): no distro qualifier */
	text = "ID=debian\n";
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644, NULL), 0);
	assert_int_equal(stage_distro(path, vendor, sizeof(vendor), distro, sizeof(distro)), 0);
	assert_string_equal(vendor, "debian");
	assert_string_equal(distro, "");

	/* no file */
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(stage_distro(path, vendor, sizeof(vendor), distro, sizeof(distro)), 0);
	assert_string_equal(vendor, "");
	assert_int_equal(fs_remove_tree(dir, NULL), 0);
}

static void test_invalid_spec_refused_before_apt(void **state)
{
	/* a manifest built by hand, past the parser's checks: stage refuses the
	 * name itself before running anything */
	char *pkgs[] = {"--allow-unauthenticated", NULL};
	struct manifest_part part = {.name = "evil", .stage_packages = pkgs, .n_stage_packages = 1};
	struct manifest m = {.name = "x", .parts = &part, .n_parts = 1};
	char dir[] = "/tmp/ferry-test-stage-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct stage_opts o = {.work_dir = dir};
	struct stage_result r;
	ferry_error err = {0};
	assert_int_equal(stage_parts(&m, dir, &o, &r, &err), FERRY_E_INVALID);
	assert_string_equal(err.msg,
	                    "parts.evil.stage-packages: \"--allow-unauthenticated\" is not "
	                    "NAME or NAME=VERSION");
	assert_int_equal(r.n, 0);
	assert_int_equal(fs_remove_tree(dir, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_spec),
	    cmocka_unit_test(test_prime),
	    cmocka_unit_test(test_control),
	    cmocka_unit_test(test_print_uris),
	    cmocka_unit_test(test_distro),
	    cmocka_unit_test(test_invalid_spec_refused_before_apt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
