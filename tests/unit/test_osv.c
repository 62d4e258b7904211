/* test_osv.c: lib/vuln/osv: records parsed whole or refused with a message
 * naming file, id and field; hostile input (bounds on sizes, counts, depth;
 * wrong types; bad versions); import from a file, an array file, a
 * directory tree and a zip, with zip entries over the bound refused by what
 * is read, not by what the header claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "vuln/osv.h"

#include "testutil.h"

/* As osv.dev writes a Debian security advisory. */
static const char dsa[] =
    "{\"schema_version\":\"1.6.0\",\"id\":\"DSA-5532-1\","
    "\"modified\":\"2023-10-25T08:12:03.123456Z\",\"published\":\"2023-10-24T00:00:00Z\","
    "\"aliases\":[\"CVE-2023-5363\"],\"upstream\":[\"CVE-2023-5363\",\"CVE-2023-5678\"],"
    "\"summary\":\"openssl - security update\",\"details\":\"Several vulnerabilities.\","
    "\"database_specific\":{\"urgency\":\"medium\"},"
    "\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\","
    "\"purl\":\"pkg:deb/debian/openssl?arch=source\"},"
    "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"fixed\":\"3.0.11-1~deb12u2\"},"
    "{\"introduced\":\"0\"}]}],\"versions\":[\"3.0.9-1\",\"3.0.11-1~deb12u1\"]}]}";

static struct osv_record *parse_ok(const char *json)
{
	struct osv_record *rec = NULL;
	ferry_error err = {0};
	if (osv_record_parse(json, strlen(json), "t.json", NULL, &rec, &err) < 0)
		fail_msg("parse: %s", err.msg);
	return rec;
}

static void expect_refused(const char *json, const struct osv_limits *lim, int code,
                           const char *msg)
{
	struct osv_record *rec = NULL;
	ferry_error err = {0};
	int rc = osv_record_parse(json, strlen(json), "t.json", lim, &rec, &err);
	assert_null(rec);
	if (rc != code || strcmp(err.msg, msg) != 0)
		fail_msg("rc %d (want %d)\n  got:  %s\n  want: %s", rc, code, err.msg, msg);
}

static void test_parse_debian_record(void **state)
{
	struct osv_record *rec = parse_ok(dsa);
	assert_string_equal(rec->id, "DSA-5532-1");
	assert_int_equal(rec->modified_ts, 1698221523);
	assert_null(rec->withdrawn);
	/* aliases then upstream, without the duplicate */
	assert_int_equal(rec->n_aliases, 2);
	assert_string_equal(rec->aliases[0], "CVE-2023-5363");
	assert_string_equal(rec->aliases[1], "CVE-2023-5678");
	assert_string_equal(rec->db_severity, "medium");
	assert_int_equal(rec->n_affected, 1);
	struct osv_affected *a = &rec->affected[0];
	assert_string_equal(a->ecosystem, "Debian:12");
	assert_string_equal(a->name, "openssl");
	assert_int_equal(a->ordering, VULN_ORDER_DPKG);
	assert_int_equal(a->n_ranges, 1);
	/* events come back sorted: introduced 0 first */
	assert_int_equal(a->ranges[0].events[0].kind, OSV_EVENT_INTRODUCED);
	assert_int_equal(a->ranges[0].events[1].kind, OSV_EVENT_FIXED);
	assert_string_equal(a->ranges[0].events[1].version, "3.0.11-1~deb12u2");
	assert_int_equal(a->n_versions, 2);
	assert_int_equal(strlen(rec->digest), 64);
	osv_record_free(rec);

	/* the digest ignores key order and white space, and sees content */
	struct osv_record *r1 =
	    parse_ok("{\"id\":\"X-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"summary\":\"a\"}");
	struct osv_record *r2 = parse_ok(
	    "{ \"summary\" : \"a\", \"modified\":\"2024-01-01T00:00:00Z\",\"id\":\"X-1\"}");
	struct osv_record *r3 =
	    parse_ok("{\"id\":\"X-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"summary\":\"b\"}");
	assert_string_equal(r1->digest, r2->digest);
	assert_string_not_equal(r1->digest, r3->digest);
	assert_null(r1->json); /* kept only on request */
	struct osv_limits keep;
	osv_limits_default(&keep);
	keep.keep_json = true;
	struct osv_record *r4 = NULL;
	const char *text =
	    "{ \"summary\" : \"a\", \"modified\":\"2024-01-01T00:00:00Z\",\"id\":\"X-1\"}";
	assert_int_equal(osv_record_parse(text, strlen(text), "t", &keep, &r4, NULL), 0);
	assert_string_equal(
	    r4->json, "{\"id\":\"X-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"summary\":\"a\"}");
	assert_string_equal(r4->digest, r1->digest);
	osv_record_free(r4);
	osv_record_free(r1);
	osv_record_free(r2);
	osv_record_free(r3);
}

static void test_parse_severity_and_semver(void **state)
{
	struct osv_record *rec = parse_ok(
	    "{\"id\":\"GHSA-xxxx-yyyy-zzzz\",\"modified\":\"2024-02-03T04:05:06+01:00\","
	    "\"withdrawn\":\"2024-03-01T00:00:00Z\","
	    "\"severity\":[{\"type\":\"CVSS_V3\",\"score\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/"
	    "I:H/A:H\"}],"
	    "\"database_specific\":{\"severity\":\"CRITICAL\"},"
	    "\"affected\":[{\"package\":{\"ecosystem\":\"npm\",\"name\":\"@scope/left-pad\"},"
	    "\"ranges\":[{\"type\":\"SEMVER\",\"events\":[{\"introduced\":\"1.0.0-rc.1\"},"
	    "{\"last_affected\":\"1.2.0\"},{\"introduced\":\"0.5.0\"},{\"fixed\":\"0.9.1\"}]},"
	    "{\"type\":\"GIT\",\"repo\":\"https://example.org/"
	    "x.git\",\"events\":[{\"introduced\":\"abc\"},{\"limit\":\"def\"}]}]}]}");
	assert_int_equal(rec->modified_ts, 1706929506);
	assert_string_equal(rec->withdrawn, "2024-03-01T00:00:00Z");
	assert_int_equal(rec->n_severity, 1);
	assert_string_equal(rec->severity[0].type, "CVSS_V3");
	assert_string_equal(rec->db_severity, "CRITICAL");
	struct osv_range *r = &rec->affected[0].ranges[0];
	assert_int_equal(r->type, OSV_RANGE_SEMVER);
	const char *order[] = {"0.5.0", "0.9.1", "1.0.0-rc.1", "1.2.0"};
	for (int i = 0; i < 4; i++)
		assert_string_equal(r->events[i].version, order[i]);
	assert_int_equal(rec->affected[0].ranges[1].type, OSV_RANGE_GIT);
	osv_record_free(rec);
}

static void test_parse_refusals(void **state)
{
	expect_refused("[1,2", NULL, FERRY_E_INVALID, "t.json:1:4: ']' expected near end of file");
	expect_refused("{\"id\":\"A\",\"id\":\"B\",\"modified\":\"2024-01-01T00:00:00Z\"}", NULL,
	               FERRY_E_INVALID, "t.json:1:14: duplicate object key near '\"id\"'");
	expect_refused("[]", NULL, FERRY_E_INVALID, "t.json: expected a JSON object");
	expect_refused("{\"modified\":\"2024-01-01T00:00:00Z\"}", NULL, FERRY_E_INVALID,
	               "t.json: id: missing");
	expect_refused("{\"id\":\"../x\",\"modified\":\"2024-01-01T00:00:00Z\"}", NULL,
	               FERRY_E_INVALID,
	               "t.json: id: '../x' has a character outside printable ASCII or a '/'");
	expect_refused("{\"id\":\"A-1\"}", NULL, FERRY_E_INVALID,
	               "t.json: record A-1: modified: missing");
	expect_refused("{\"id\":\"A-1\",\"modified\":\"yesterday\"}", NULL, FERRY_E_INVALID,
	               "t.json: record A-1: modified: 'yesterday' is not an RFC 3339 time");
	expect_refused(
	    "{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"aliases\":\"CVE-1\"}", NULL,
	    FERRY_E_INVALID, "t.json: record A-1: aliases: expected an array");
	expect_refused("{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"aliases\":[7]}",
	               NULL, FERRY_E_INVALID,
	               "t.json: record A-1: aliases[0]: expected a non-empty string");
	expect_refused("{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{}]}",
	               NULL, FERRY_E_INVALID, "t.json: record A-1: affected[0].package: missing");
	expect_refused(
	    "{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
	    "{\"ecosystem\":\"Debian:12\",\"name\":\"x\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
	    "\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1.0 beta\"}]}]}]}",
	    NULL, FERRY_E_INVALID,
	    "t.json: record A-1: affected[0].ranges[0].events[1].fixed: version '1.0 beta' "
	    "has embedded spaces");
	expect_refused(
	    "{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
	    "{\"ecosystem\":\"npm\",\"name\":\"x\"},\"ranges\":[{\"type\":\"SEMVER\","
	    "\"events\":[{\"introduced\":\"1.0\"}]}]}]}",
	    NULL, FERRY_E_INVALID,
	    "t.json: record A-1: affected[0].ranges[0].events[0].introduced: version '1.0' is "
	    "not SemVer 2.0.0");
	expect_refused(
	    "{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
	    "{\"ecosystem\":\"npm\",\"name\":\"x\"},\"ranges\":[{\"type\":\"SEMVER\","
	    "\"events\":[{\"fixed\":\"1.0.0\"}]}]}]}",
	    NULL, FERRY_E_INVALID,
	    "t.json: record A-1: affected[0].ranges[0].events: no introduced event");
	expect_refused(
	    "{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
	    "{\"ecosystem\":\"npm\",\"name\":\"x\"},\"ranges\":[{\"type\":\"SEMVER\","
	    "\"events\":[{\"introduced\":\"1.0.0\",\"fixed\":\"2.0.0\"}]}]}]}",
	    NULL, FERRY_E_INVALID,
	    "t.json: record A-1: affected[0].ranges[0].events[0]: expected an object with one "
	    "of introduced, fixed, last_affected, limit");
	expect_refused(
	    "{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
	    "{\"ecosystem\":\"npm\",\"name\":\"x\"},\"ranges\":[{\"type\":\"SEMVER\","
	    "\"events\":[{\"broken\":\"1.0.0\"}]}]}]}",
	    NULL, FERRY_E_INVALID,
	    "t.json: record A-1: affected[0].ranges[0].events[0]: unknown event 'broken'");
	expect_refused(
	    "{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
	    "{\"ecosystem\":\"npm\",\"name\":\"x\"},\"ranges\":[{\"type\":\"DATE\","
	    "\"events\":[]}]}]}",
	    NULL, FERRY_E_INVALID,
	    "t.json: record A-1: affected[0].ranges[0].type: 'DATE' is not ECOSYSTEM, SEMVER or "
	    "GIT");
}

static void test_parse_bounds(void **state)
{
	struct osv_limits lim;
	osv_limits_default(&lim);
	lim.max_aliases = 2;
	lim.max_depth = 6;
	lim.max_details = 8;
	lim.max_string = 16;
	expect_refused("{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"aliases\":[\"a\","
	               "\"b\",\"c\"]}",
	               &lim, FERRY_E_LIMIT, "t.json: record A-1: aliases: more than 2 entries");
	expect_refused(
	    "{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"x\":[[[[[[[1]]]]]]]}", &lim,
	    FERRY_E_LIMIT, "t.json: record A-1: nested deeper than 6 levels");
	expect_refused("{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"aliases\":[\"CVE-"
	               "2024-000000001\"]}",
	               &lim, FERRY_E_LIMIT, "t.json: record A-1: aliases[0]: longer than 16 bytes");
	/* the id is bounded before anything else */
	char big[300];
	memset(big, 'A', 200);
	big[200] = 0;
	char *json = str_dup_printf("{\"id\":\"%s\",\"modified\":\"2024-01-01T00:00:00Z\"}", big);
	expect_refused(json, NULL, FERRY_E_LIMIT, "t.json: id: longer than 128 bytes");
	free(json);

	/* details are cut at the bound, on a character boundary */
	struct osv_record *rec = NULL;
	ferry_error err = {0};
	const char *d = "{\"id\":\"A-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"details\":"
	                "\"1234567\xc3\xa9xyz\"}";
	assert_int_equal(osv_record_parse(d, strlen(d), "t.json", &lim, &rec, &err), 0);
	assert_string_equal(rec->details, "1234567");
	osv_record_free(rec);
}

struct collected {
	char ids[64][64];
	size_t n;
	char rejects[16][512];
	size_t nrej;
};

static int on_record(void *ctx, struct osv_record *rec, const char *origin)
{
	struct collected *c = ctx;
	if (c->n < 64)
		snprintf(c->ids[c->n++], 64, "%s", rec->id);
	osv_record_free(rec);
	return 0;
}

static void on_reject(void *ctx, const char *origin, const char *id, const ferry_error *why)
{
	struct collected *c = ctx;
	if (c->nrej < 16)
		snprintf(c->rejects[c->nrej++], 512, "%s", why->msg);
}

static void write_file(const char *rel, const char *content)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tu_tmpdir, rel);
	char *slash = strrchr(path, '/');
	*slash = 0;
	assert_int_equal(fs_mkdir_p(path, 0755, NULL), 0);
	*slash = '/';
	assert_int_equal(fs_write_atomic(path, content, strlen(content), 0644, NULL), 0);
}

static void test_import_directory(void **state)
{
	write_file("feed/a/DSA-5532-1.json", dsa);
	write_file("feed/b/many.json", "[{\"id\":\"M-1\",\"modified\":\"2024-01-01T00:00:00Z\"},"
	                               "{\"id\":\"M-2\",\"modified\":\"not a time\"},"
	                               "{\"id\":\"M-3\",\"modified\":\"2024-01-01T00:00:00Z\"}]");
	write_file("feed/b/broken.json", "{\"id\":\"B-1\",");
	write_file("feed/b/notes.txt", "not a record");
	char path[512];
	snprintf(path, sizeof(path), "%s/feed", tu_tmpdir);
	struct collected c = {0};
	struct osv_import_stats st;
	ferry_error err = {0};
	assert_int_equal(osv_import_path(path, NULL, on_record, on_reject, &c, &st, &err), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.ids[0], "DSA-5532-1");
	assert_string_equal(c.ids[1], "M-1");
	assert_string_equal(c.ids[2], "M-3");
	assert_int_equal(st.records, 3);
	assert_int_equal(st.rejected, 2);
	assert_int_equal(st.files, 3);
	char want[600];
	snprintf(want, sizeof(want),
	         "%s/feed/b/broken.json:1:12: string or '}' expected near end of file", tu_tmpdir);
	assert_string_equal(c.rejects[0], want);
	snprintf(
	    want, sizeof(want),
	    "%s/feed/b/many.json[1]: record M-2: modified: 'not a time' is not an RFC 3339 time",
	    tu_tmpdir);
	assert_string_equal(c.rejects[1], want);

	/* one file */
	snprintf(path, sizeof(path), "%s/feed/a/DSA-5532-1.json", tu_tmpdir);
	memset(&c, 0, sizeof(c));
	assert_int_equal(osv_import_path(path, NULL, on_record, on_reject, &c, &st, &err), 0);
	assert_int_equal(c.n, 1);

	/* a file over the bound is refused, the rest goes on */
	struct osv_limits lim;
	osv_limits_default(&lim);
	lim.max_file = 200;
	snprintf(path, sizeof(path), "%s/feed", tu_tmpdir);
	memset(&c, 0, sizeof(c));
	assert_int_equal(osv_import_path(path, &lim, on_record, on_reject, &c, &st, &err), 0);
	assert_int_equal(c.n, 2);
	snprintf(want, sizeof(want), "%s/feed/a/DSA-5532-1.json: larger than 200 bytes", tu_tmpdir);
	assert_non_null(strstr(c.rejects[0], "DSA-5532-1.json"));

	/* a source that does not exist fails as a whole */
	snprintf(path, sizeof(path), "%s/nope", tu_tmpdir);
	assert_int_equal(osv_import_path(path, NULL, on_record, on_reject, &c, &st, &err),
	                 FERRY_E_NOTFOUND);
	snprintf(want, sizeof(want), "%s/nope: No such file or directory", tu_tmpdir);
	assert_string_equal(err.msg, want);
}

static void make_zip(const char *path, const char *const *names, const char *const *contents,
                     size_t n)
{
	int zerr = 0;
	zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	assert_non_null(za);
	for (size_t i = 0; i < n; i++) {
		zip_source_t *src = zip_source_buffer(za, contents[i], strlen(contents[i]), 0);
		assert_non_null(src);
		assert_true(zip_file_add(za, names[i], src, ZIP_FL_OVERWRITE) >= 0);
	}
	assert_int_equal(zip_close(za), 0);
}

static void test_import_zip(void **state)
{
	/* a bomb: 8 MiB of spaces compress to a few KiB */
	size_t bomb_len = 8u << 20;
	char *bomb = malloc(bomb_len + 64);
	assert_non_null(bomb);
	strcpy(bomb, "{\"id\":\"BOMB-1\",\"modified\":\"2024-01-01T00:00:00Z\"");
	size_t l = strlen(bomb);
	memset(bomb + l, ' ', bomb_len - l - 2);
	strcpy(bomb + bomb_len - 2, "}");
	const char *names[] = {"DSA-5532-1.json", "bomb.json", "README", "bad.json"};
	const char *contents[] = {dsa, bomb, "hello", "{\"id\":\"BAD-1\",\"modified\":1}"};
	char path[512];
	snprintf(path, sizeof(path), "%s/all.zip", tu_tmpdir);
	make_zip(path, names, contents, 4);
	free(bomb);
	struct stat stbuf;
	assert_int_equal(stat(path, &stbuf), 0);
	assert_true(stbuf.st_size < 100000);

	struct osv_limits lim;
	osv_limits_default(&lim);
	lim.max_file = 1u << 20;
	struct collected c = {0};
	struct osv_import_stats st;
	ferry_error err = {0};
	assert_int_equal(osv_import_path(path, &lim, on_record, on_reject, &c, &st, &err), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.ids[0], "DSA-5532-1");
	assert_int_equal(c.nrej, 2);
	char want[600];
	snprintf(want, sizeof(want), "%s:bomb.json: larger than 1048576 bytes", path);
	assert_string_equal(c.rejects[0], want);
	snprintf(want, sizeof(want), "%s:bad.json: record BAD-1: modified: expected a string",
	         path);
	assert_string_equal(c.rejects[1], want);

	/* the same zip under another name is still read as a zip */
	char other[512];
	snprintf(other, sizeof(other), "%s/dump.bin", tu_tmpdir);
	assert_int_equal(rename(path, other), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(osv_import_path(other, &lim, on_record, on_reject, &c, &st, &err), 0);
	assert_int_equal(c.n, 1);

	/* the total bound stops the whole source */
	lim.max_file = 16u << 20;
	lim.max_total = 1u << 20;
	memset(&c, 0, sizeof(c));
	assert_int_equal(osv_import_path(other, &lim, on_record, on_reject, &c, &st, &err),
	                 FERRY_E_LIMIT);
	snprintf(want, sizeof(want), "%s: more than 1048576 bytes in all", other);
	assert_string_equal(err.msg, want);

	/* entry count */
	osv_limits_default(&lim);
	lim.max_entries = 3;
	assert_int_equal(osv_import_path(other, &lim, on_record, on_reject, &c, &st, &err),
	                 FERRY_E_LIMIT);
	snprintf(want, sizeof(want), "%s: more than 3 entries", other);
	assert_string_equal(err.msg, want);

	/* not a zip at all, though named so */
	write_file("fake.zip", "PK\3\4 this is not a zip");
	snprintf(path, sizeof(path), "%s/fake.zip", tu_tmpdir);
	assert_int_equal(osv_import_path(path, NULL, on_record, on_reject, &c, &st, &err),
	                 FERRY_E_CORRUPT);
	assert_non_null(strstr(err.msg, "fake.zip: not a readable zip: "));
}

static void test_parse_time(void **state)
{
	int64_t t;
	assert_int_equal(osv_parse_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(osv_parse_time("2024-01-01T01:00:00+01:00", &t), 0);
	assert_int_equal(t, 1704067200);
	assert_int_equal(osv_parse_time("2024-01-01T00:00:00.5Z", &t), 0);
	assert_int_equal(osv_parse_time("2024-01-01T00:00:00", &t), FERRY_E_INVALID);
	assert_int_equal(osv_parse_time("2024-01-01T00:00:00.Z", &t), FERRY_E_INVALID);
	assert_int_equal(osv_parse_time("2024-01-01T00:00:00Zjunk", &t), FERRY_E_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_debian_record),
	    cmocka_unit_test(test_parse_severity_and_semver),
	    cmocka_unit_test(test_parse_refusals),
	    cmocka_unit_test(test_parse_bounds),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test_setup_teardown(test_import_directory, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_import_zip, tu_tmpdir_setup, tu_tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
