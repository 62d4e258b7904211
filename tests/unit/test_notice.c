/* test_notice.c: lib/vuln/notice: the webhook notice's JSON, the
 * X-Ferry-Signature HMAC-SHA256 (RFC 4231 vector, tampering refused) and
 * the retry schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vuln/notice.h"

static void test_signature(void **state)
{
	/* RFC 4231, test case 2 */
	const char *key = "Jefe", *data = "what do ya want for nothing?";
	char sig[VULN_SIGNATURE_LEN + 1];
	assert_int_equal(vuln_signature(key, 4, data, strlen(data), sig, NULL), 0);
	assert_string_equal(
	    sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	assert_true(vuln_signature_verify(key, 4, data, strlen(data), sig));
	assert_false(vuln_signature_verify("Jeff", 4, data, strlen(data), sig));
	assert_false(
	    vuln_signature_verify(key, 4, "what do ya want for nothing!", strlen(data), sig));
	sig[VULN_SIGNATURE_LEN - 1] ^= 1;
	assert_false(vuln_signature_verify(key, 4, data, strlen(data), sig));
	assert_false(vuln_signature_verify(key, 4, data, strlen(data), "sha256=5bdc"));
	assert_false(vuln_signature_verify(key, 4, data, strlen(data), NULL));
}

static void test_retry(void **state)
{
	assert_int_equal(vuln_retry_delay_ms(0), 0);
	assert_int_equal(vuln_retry_delay_ms(1), 30000);
	assert_int_equal(vuln_retry_delay_ms(2), 60000);
	assert_int_equal(vuln_retry_delay_ms(7), 1920000);
	assert_int_equal(vuln_retry_delay_ms(8), 3600000);
	assert_int_equal(vuln_retry_delay_ms(VULN_RETRY_MAX), 3600000);
	assert_int_equal(vuln_retry_delay_ms(VULN_RETRY_MAX + 1), 0);
}

static void test_notice_json(void **state)
{
	const char *rec_json =
	    "{\"id\":\"DSA-5600-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"summary\":\"openssl - "
	    "security update\","
	    "\"upstream\":[\"CVE-2023-5678\",\"CVE-2023-6129\"],\"database_specific\":{\"urgency\":"
	    "\"medium\"},"
	    "\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"},"
	    "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"3."
	    "0.13-1~deb12u1\"}]}]}]}";
	struct osv_record *rec = NULL;
	assert_int_equal(osv_record_parse(rec_json, strlen(rec_json), "t", NULL, &rec, NULL), 0);
	struct vuln_component c;
	assert_int_equal(
	    vuln_component_from_purl(
	        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12&upstream=openssl", &c,
	        NULL),
	    0);
	const char *chans[] = {"latest/stable", "latest/beta"};
	struct vuln_finding f = {12, chans, 2, &c, rec, "3.0.13-1~deb12u1"};
	char *json = NULL;
	ferry_error err = {0};
	assert_int_equal(vuln_notice_json("hello", "open", 1718704800, &f, 1, &json, &err), 0);
	assert_string_equal(
	    json,
	    "{\"findings\":[{\"advisory\":\"DSA-5600-1\",\"aliases\":[\"CVE-2023-5678\",\"CVE-2023-"
	    "6129\"],"
	    "\"bundled_version\":\"3.0.11-1~deb12u2\",\"channels\":[\"latest/stable\",\"latest/"
	    "beta\"],"
	    "\"component\":\"libssl3\",\"ecosystem\":\"Debian\",\"fixed_version\":\"3.0.13-1~"
	    "deb12u1\","
	    "\"release\":\"12\",\"revision\":12,\"severity\":\"medium\",\"source\":\"openssl\","
	    "\"source_version\":\"3.0.11-1~deb12u2\",\"summary\":\"openssl - security update\"}],"
	    "\"generated\":\"2024-06-18T10:00:00Z\",\"package\":\"hello\",\"state\":\"open\","
	    "\"type\":\"ferry.vulnerability-notice\",\"version\":1}");
	free(json);
	f.fixed = NULL;
	assert_int_equal(vuln_notice_json("hello", "cleared", 0, &f, 1, &json, &err), 0);
	assert_non_null(strstr(json, "\"fixed_version\":null"));
	assert_non_null(strstr(json, "\"state\":\"cleared\""));
	free(json);
	assert_int_equal(vuln_notice_json("hello", "maybe", 0, &f, 1, &json, &err),
	                 FERRY_E_INVALID);
	assert_string_equal(err.msg, "notice state 'maybe' is not open or cleared");
	assert_int_equal(vuln_notice_json("hel\xfflo", "open", 0, NULL, 0, &json, &err),
	                 FERRY_E_INVALID);
	osv_record_free(rec);
}

/* A store keeps findings as JSON and wraps them later: the same bytes as
 * the notice built from records. */
static void test_notice_wrap(void **state)
{
	const char *rec_json =
	    "{\"id\":\"DSA-1-1\",\"modified\":\"2024-01-01T00:00:00Z\","
	    "\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"zlib\"},"
	    "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":"
	    "\"2\"}]}]}]}";
	struct osv_record *rec = NULL;
	assert_int_equal(osv_record_parse(rec_json, strlen(rec_json), "t", NULL, &rec, NULL), 0);
	struct vuln_component c;
	assert_int_equal(vuln_component_from_purl(
	                     "pkg:deb/debian/zlib1g@1?distro=debian-12&upstream=zlib", &c, NULL),
	                 0);
	const char *chans[] = {"latest/edge"};
	struct vuln_finding f = {3, chans, 1, &c, rec, "2"};
	char *direct = NULL, *wrapped = NULL;
	ferry_error err = {0};
	assert_int_equal(vuln_notice_json("app", "open", 0, &f, 1, &direct, &err), 0);
	json_t *arr = json_array();
	json_t *one = vuln_finding_json(&f);
	assert_non_null(one);
	assert_int_equal(json_integer_value(json_object_get(one, "revision")), 3);
	assert_true(json_is_null(json_object_get(one, "severity")));
	json_array_append_new(arr, one);
	assert_int_equal(vuln_notice_wrap("app", "open", 0, arr, &wrapped, &err), 0);
	assert_string_equal(direct, wrapped);
	free(wrapped);
	assert_int_equal(vuln_notice_wrap("app", "closed", 0, arr, &wrapped, &err),
	                 FERRY_E_INVALID);
	assert_string_equal(err.msg, "notice state 'closed' is not open or cleared");
	assert_int_equal(vuln_notice_wrap("app", "open", 0, one, &wrapped, &err), FERRY_E_INVALID);
	assert_string_equal(err.msg, "notice for app: findings is not an array");
	json_decref(arr);
	free(direct);
	osv_record_free(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signature),
	    cmocka_unit_test(test_retry),
	    cmocka_unit_test(test_notice_json),
	    cmocka_unit_test(test_notice_wrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
