/* test_sbom.c: lib/pkg/sbom: package URLs as the purl specification writes
 * them, the CycloneDX document's shape, byte-identical output for the same
 * input in any order, and reading components back from hostile documents.
 * The schema itself is checked by tests/system/test_sbom.py with the
 * CycloneDX project's validator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pkg/manifest.h"
#include "pkg/sbom.h"

static void test_purl_encoding(void **state)
{
	char *p = sbom_purl_encode("1:2.38.1-5+deb12u3 a/b@c?d=e&f#g%~_");
	assert_string_equal(p, "1:2.38.1-5%2Bdeb12u3%20a%2Fb%40c%3Fd%3De%26f%23g%25~_");
	free(p);
	p = sbom_purl_encode("\xc3\xa9");
	assert_string_equal(p, "%C3%A9");
	free(p);
}

static void test_deb_purl(void **state)
{
	/* source differs by name only */
	char *p = sbom_deb_purl("debian", "libjq1", "1.6-2.1+deb12u3", "amd64", "debian-12", "jq",
	                        "1.6-2.1+deb12u3");
	assert_string_equal(p,
	                    "pkg:deb/debian/libjq1@1.6-2.1%2Bdeb12u3?arch=amd64&distro=debian-12&"
	                    "upstream=jq");
	free(p);
	/* epoch stays readable (":" is never encoded), source version differs */
	p = sbom_deb_purl("debian", "bsdutils", "1:2.38.1-5+deb12u3", "amd64", "debian-12",
	                  "util-linux", "2.38.1-5+deb12u3");
	assert_string_equal(
	    p, "pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12&"
	       "upstream=util-linux%402.38.1-5%2Bdeb12u3");
	free(p);
	/* source is the package itself: no upstream; no distro known */
	p = sbom_deb_purl("debian", "jq", "1.6-2.1+deb12u3", "amd64", NULL, NULL, NULL);
	assert_string_equal(p, "pkg:deb/debian/jq@1.6-2.1%2Bdeb12u3?arch=amd64");
	free(p);
	p = sbom_deb_purl("Ubuntu", "zlib1g", "1:1.2.13", "arm64", "ubuntu-24.04", "zlib",
	                  "1:1.2.13");
	assert_string_equal(
	    p, "pkg:deb/ubuntu/zlib1g@1:1.2.13?arch=arm64&distro=ubuntu-24.04&upstream=zlib");
	free(p);
}

#define MANIFEST                                                                                   \
	"name: hello\n"                                                                            \
	"version: \"1.0\"\n"                                                                       \
	"summary: Says hello\n"                                                                    \
	"license: MIT OR Apache-2.0\n"                                                             \
	"components:\n"                                                                            \
	"  - name: left-pad\n"                                                                     \
	"    version: 1.3.0\n"                                                                     \
	"    purl: pkg:npm/left-pad@1.3.0\n"                                                       \
	"  - {name: vendored, version: \"2\"}\n"

static struct stage_deb debs[] = {
    {.part = "tools",
     .name = "libonig5",
     .version = "6.9.8-1",
     .arch = "amd64",
     .source = "libonig",
     .source_version = "6.9.8-1",
     .sha256 = "1111111111111111111111111111111111111111111111111111111111111111"},
    {.part = "tools",
     .name = "jq",
     .version = "1.6-2.1+deb12u3",
     .arch = "amd64",
     .source = "jq",
     .source_version = "1.6-2.1+deb12u3",
     .sha256 = "2222222222222222222222222222222222222222222222222222222222222222"},
    {.part = "tools",
     .name = "libjq1",
     .version = "1.6-2.1+deb12u3",
     .arch = "amd64",
     .source = "jq",
     .source_version = "1.6-2.1+deb12u3",
     .sha256 = "3333333333333333333333333333333333333333333333333333333333333333"},
};

static char *write_sbom(const struct manifest *m, const struct stage_deb *d, size_t n)
{
	struct sbom_input in = {.manifest = m,
	                        .debs = d,
	                        .n_debs = n,
	                        .vendor = "debian",
	                        .distro = "debian-12",
	                        .timestamp = 1700000000,
	                        .tool_version = "9.9"};
	char *json = NULL;
	size_t len = 0;
	ferry_error err = {0};
	int rc = sbom_write_json(&in, &json, &len, &err);
	if (rc < 0)
		fail_msg("sbom_write_json: %s", ferry_error_msg(&err));
	assert_int_equal(strlen(json), len);
	assert_int_equal(json[len - 1], '\n');
	return json;
}

static void test_document(void **state)
{
	struct manifest *m = NULL;
	assert_int_equal(manifest_parse(MANIFEST, strlen(MANIFEST), "ferry.yaml", &m, NULL), 0);
	char *json = write_sbom(m, debs, 3);

	json_error_t je;
	json_t *doc = json_loads(json, 0, &je);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "bomFormat")), "CycloneDX");
	assert_string_equal(json_string_value(json_object_get(doc, "specVersion")), "1.5");
	assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
	regex_t re;
	assert_int_equal(regcomp(&re,
	                         "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
	                         "[0-9a-f]{12}$",
	                         REG_EXTENDED | REG_NOSUB),
	                 0);
	assert_int_equal(
	    regexec(&re, json_string_value(json_object_get(doc, "serialNumber")), 0, NULL, 0), 0);
	regfree(&re);

	json_t *meta = json_object_get(doc, "metadata");
	assert_string_equal(json_string_value(json_object_get(meta, "timestamp")),
	                    "2023-11-14T22:13:20Z");
	json_t *self = json_object_get(meta, "component");
	assert_string_equal(json_string_value(json_object_get(self, "type")), "application");
	assert_string_equal(json_string_value(json_object_get(self, "name")), "hello");
	assert_string_equal(json_string_value(json_object_get(self, "version")), "1.0");
	assert_string_equal(json_string_value(json_object_get(self, "bom-ref")), "hello@1.0");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(json_object_get(self, "licenses"), 0),
	                                      "expression")),
	    "MIT OR Apache-2.0");

	/* debs sorted by name, then the manifest's components in its order */
	json_t *comps = json_object_get(doc, "components");
	assert_int_equal(json_array_size(comps), 5);
	const char *names[] = {"jq", "libjq1", "libonig5", "left-pad", "vendored"};
	for (size_t i = 0; i < 5; i++) {
		json_t *c = json_array_get(comps, i);
		assert_string_equal(json_string_value(json_object_get(c, "name")), names[i]);
		assert_string_equal(json_string_value(json_object_get(c, "type")), "library");
	}
	json_t *onig = json_array_get(comps, 2);
	assert_string_equal(
	    json_string_value(json_object_get(onig, "purl")),
	    "pkg:deb/debian/libonig5@6.9.8-1?arch=amd64&distro=debian-12&upstream=libonig");
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(onig, "hashes"), 0), "content")),
	                    debs[0].sha256);
	assert_string_equal(json_string_value(json_object_get(json_array_get(comps, 3), "purl")),
	                    "pkg:npm/left-pad@1.3.0");
	assert_null(json_object_get(json_array_get(comps, 4), "purl"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(comps, 4), "bom-ref")),
	                    "vendored@2");

	/* the package depends on every component */
	json_t *dep = json_array_get(json_object_get(doc, "dependencies"), 0);
	assert_string_equal(json_string_value(json_object_get(dep, "ref")), "hello@1.0");
	assert_int_equal(json_array_size(json_object_get(dep, "dependsOn")), 5);

	/* read back as ferry inspect does */
	struct sbom_component *c = NULL;
	size_t n = 0;
	assert_int_equal(sbom_read_components(json, strlen(json), &c, &n, NULL), 0);
	assert_int_equal(n, 5);
	assert_string_equal(c[1].name, "libjq1");
	assert_string_equal(c[1].version, "1.6-2.1+deb12u3");
	assert_string_equal(
	    c[1].purl,
	    "pkg:deb/debian/libjq1@1.6-2.1%2Bdeb12u3?arch=amd64&distro=debian-12&upstream=jq");
	assert_null(c[4].purl);
	sbom_components_free(c, n);

	json_decref(doc);
	free(json);
	manifest_free(m);
}

static void test_deterministic(void **state)
{
	struct manifest *m = NULL;
	assert_int_equal(manifest_parse(MANIFEST, strlen(MANIFEST), "ferry.yaml", &m, NULL), 0);
	struct stage_deb reversed[3] = {debs[2], debs[1], debs[0]};
	char *a = write_sbom(m, debs, 3);
	char *b = write_sbom(m, reversed, 3);
	assert_string_equal(a, b);

	/* any change in content changes the serial number */
	struct stage_deb changed[3] = {debs[0], debs[1], debs[2]};
	changed[1].version = "1.6-2.1+deb12u4";
	char *c = write_sbom(m, changed, 3);
	json_t *ja = json_loads(a, 0, NULL), *jc = json_loads(c, 0, NULL);
	assert_string_not_equal(json_string_value(json_object_get(ja, "serialNumber")),
	                        json_string_value(json_object_get(jc, "serialNumber")));
	json_decref(ja);
	json_decref(jc);
	free(a);
	free(b);
	free(c);
	manifest_free(m);
}

static void expect_read_error(const char *json, int code, const char *msg)
{
	struct sbom_component *c = NULL;
	size_t n = 0;
	ferry_error err = {0};
	assert_int_equal(sbom_read_components(json, strlen(json), &c, &n, &err), code);
	assert_string_equal(err.msg, msg);
	assert_null(c);
}

static void test_read_hostile(void **state)
{
	expect_read_error("{", FERRY_E_CORRUPT,
	                  "sbom: line 1 column 1: string or '}' expected near end of file");
	expect_read_error("[]", FERRY_E_CORRUPT, "sbom: not a CycloneDX document");
	expect_read_error("{\"bomFormat\":\"SPDX\"}", FERRY_E_CORRUPT,
	                  "sbom: not a CycloneDX document");
	expect_read_error("{\"bomFormat\":\"CycloneDX\",\"components\":{}}", FERRY_E_CORRUPT,
	                  "sbom: components is not a list");
	expect_read_error("{\"bomFormat\":\"CycloneDX\",\"components\":[{\"type\":\"library\"}]}",
	                  FERRY_E_CORRUPT,
	                  "sbom: components[0]: expected an object with a type and a name");
	expect_read_error(
	    "{\"bomFormat\":\"CycloneDX\",\"components\":[{\"type\":\"library\",\"name\":1}]}",
	    FERRY_E_CORRUPT, "sbom: components[0]: expected an object with a type and a name");
	expect_read_error("{\"bomFormat\":\"CycloneDX\",\"bomFormat\":\"CycloneDX\"}",
	                  FERRY_E_CORRUPT,
	                  "sbom: line 1 column 36: duplicate object key near '\"bomFormat\"'");

	/* too many components */
	size_t n = SBOM_MAX_COMPONENTS + 1;
	char *big = malloc(64 + n * 32);
	char *w = big + sprintf(big, "{\"bomFormat\":\"CycloneDX\",\"components\":[");
	for (size_t i = 0; i < n; i++)
		w += sprintf(w, "%s{\"type\":\"a\",\"name\":\"b\"}", i ? "," : "");
	strcpy(w, "]}");
	expect_read_error(big, FERRY_E_LIMIT, "sbom: more than 10000 components");
	free(big);

	/* no components at all is fine */
	struct sbom_component *c = NULL;
	size_t count = 7;
	assert_int_equal(
	    sbom_read_components("{\"bomFormat\":\"CycloneDX\"}", 25, &c, &count, NULL), 0);
	assert_int_equal(count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_purl_encoding), cmocka_unit_test(test_deb_purl),
	    cmocka_unit_test(test_document),      cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_read_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
