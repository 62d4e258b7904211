/* test_report.c: lib/pkg/report: the body of ferryd's outcome reports (the
 * failing step's error split into message and quoted output, the bounds on
 * lines and their count, bytes that are not printable UTF-8 replaced,
 * revisions as integers or null), and the store's check of a body: what the
 * device builds passes, a member out of bounds is refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/report.h"

static struct report_outcome outcome(const char *result, const char *step, const char *error)
{
	return (struct report_outcome){.report_id = "0123456789abcdef0123456789abcdef",
	                               .device_id = "dev-1",
	                               .device_key = "ab",
	                               .package = "hello",
	                               .from = "1",
	                               .to = "2",
	                               .channel = "latest/stable",
	                               .result = result,
	                               .failed_step = step,
	                               .error = error,
	                               .time = 1700000000,
	                               .agent_version = "0.1.0"};
}

static json_t *body_of(const struct report_outcome *o)
{
	char *text = NULL;
	assert_int_equal(report_body(o, &text, NULL), 0);
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	free(text);
	return j;
}

static void test_ok(void **state)
{
	(void)state;
	struct report_outcome o = outcome("ok", NULL, NULL);
	char *text = NULL;
	assert_int_equal(report_body(&o, &text, NULL), 0);
	/* compact, keys sorted: the exact bytes that are signed */
	assert_string_equal(text,
	                    "{\"agent-version\":\"0.1.0\",\"channel\":\"latest/stable\","
	                    "\"device-id\":\"dev-1\",\"device-key\":\"ab\",\"failed-step\":null,"
	                    "\"from-revision\":1,\"log\":[],\"message\":\"\",\"package\":\"hello\","
	                    "\"report-id\":\"0123456789abcdef0123456789abcdef\",\"result\":\"ok\","
	                    "\"time\":1700000000,\"to-revision\":2}");
	free(text);
	/* a first install has no from-revision; nor has a local one */
	o.from = "";
	json_t *j = body_of(&o);
	assert_true(json_is_null(json_object_get(j, "from-revision")));
	json_decref(j);
	o.from = "x3";
	j = body_of(&o);
	assert_true(json_is_null(json_object_get(j, "from-revision")));
	json_decref(j);
	/* a local to-revision is not reported */
	o.to = "x4";
	assert_int_equal(report_body(&o, &text, NULL), FERRY_E_INVALID);
}

static void test_split_and_bound(void **state)
{
	(void)state;
	struct report_outcome o = outcome("rolled-back", "health",
	                                  "check-health hook exited with status 1; last output:\n"
	                                  "one\ntwo\n");
	json_t *j = body_of(&o);
	assert_string_equal(json_string_value(json_object_get(j, "message")),
	                    "check-health hook exited with status 1");
	json_t *log = json_object_get(j, "log");
	assert_int_equal(json_array_size(log), 2);
	assert_string_equal(json_string_value(json_array_get(log, 0)), "one");
	assert_string_equal(json_string_value(json_array_get(log, 1)), "two");
	assert_string_equal(json_string_value(json_object_get(j, "failed-step")), "health");
	json_decref(j);

	/* 30 lines: the last 20 are kept; a long line is cut at 500 bytes */
	char err[8192] = "hook failed; last output:\n";
	for (int i = 0; i < 29; i++)
		snprintf(err + strlen(err), sizeof(err) - strlen(err), "line %d\n", i);
	memset(err + strlen(err), 'x', 600);
	o.error = err;
	j = body_of(&o);
	log = json_object_get(j, "log");
	assert_int_equal(json_array_size(log), REPORT_LOG_LINES);
	assert_string_equal(json_string_value(json_array_get(log, 0)), "line 10");
	assert_int_equal(strlen(json_string_value(json_array_get(log, 19))), REPORT_LINE_MAX);
	json_decref(j);

	/* a long message is cut */
	char longmsg[3000];
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	o.error = longmsg;
	j = body_of(&o);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "message"))),
	                 REPORT_MESSAGE_MAX);
	assert_int_equal(json_array_size(json_object_get(j, "log")), 0);
	json_decref(j);
}

static void test_clean(void **state)
{
	(void)state;
	char *c = report_clean("a\x01"
	                       "b\tc\xff"
	                       "d\x7f",
	                       8, 100);
	assert_string_equal(c, "a?b\tc?d?");
	free(c);
	/* é is two bytes: never cut in half */
	c = report_clean("ab\xc3\xa9", 4, 3);
	assert_string_equal(c, "ab");
	free(c);
	c = report_clean("\xe2\x82", 2, 10); /* a truncated sequence */
	assert_string_equal(c, "??");
	free(c);
	c = report_clean("\xed\xa0\x80", 3, 10); /* a surrogate */
	assert_string_equal(c, "???");
	free(c);
}

static const char key_hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* A body the device built, parsed as the store parses it. */
static void test_parse_round_trip(void **state)
{
	(void)state;
	struct report_outcome o = outcome(
	    "rolled-back", "health", "health check failed" REPORT_OUTPUT_MARK "line 1\nline 2");
	o.device_key = key_hex;
	json_t *j = body_of(&o);
	struct report r;
	ferry_error err = {0};
	assert_int_equal(report_parse(j, &r, &err), 0);
	assert_string_equal(r.package, "hello");
	assert_string_equal(r.failed_step, "health");
	assert_string_equal(r.message, "health check failed");
	assert_int_equal(r.from_revision, 1);
	assert_int_equal(r.to_revision, 2);
	assert_int_equal(json_array_size(r.log), 2);
	json_decref(j);
}

static void expect_refused(const char *member, json_t *value, const char *why)
{
	struct report_outcome o = outcome("ok", NULL, NULL);
	o.device_key = key_hex;
	json_t *j = body_of(&o);
	if (value)
		json_object_set_new(j, member, value);
	else
		json_object_del(j, member);
	struct report r;
	ferry_error err = {0};
	assert_int_equal(report_parse(j, &r, &err), FERRY_E_INVALID);
	if (!strstr(err.msg, why))
		fail_msg("%s: got \"%s\", expected \"%s\"", member, err.msg, why);
	json_decref(j);
}

static void test_parse_refusals(void **state)
{
	(void)state;
	expect_refused("package", NULL, "\"package\": missing");
	expect_refused("package", json_string("Hello"), "\"package\": expected a package name");
	expect_refused("package", json_string("123"), "\"package\": expected a package name");
	expect_refused("device-id", json_string("Dev"), "\"device-id\": expected 1 to 64");
	expect_refused("to-revision", json_integer(0), "\"to-revision\": expected a revision");
	expect_refused("to-revision", json_integer(REPORT_REVISION_MAX + 1), "expected a revision");
	expect_refused("failed-step", json_string("health"), "must be null when the result is ok");
	expect_refused("result", json_string("maybe"), "expected ok, rolled-back or failed");
	expect_refused("message", json_string("a\x01"), "\"message\": expected text");
	expect_refused("time", json_integer(REPORT_TIME_MAX + 1), "\"time\": expected unix time");
	expect_refused("extra", json_true(), "unknown field \"extra\"");
	assert_true(report_device_id_valid("dev-1"));
	assert_false(report_device_id_valid(""));
	assert_false(report_device_id_valid(NULL));
}

static json_t *checkin_json(void)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:[{s:s, s:I, s:s, s:b}]}", "device-id",
	                 "dev-1", "device-key", key_hex, "time", (json_int_t)1764921600, "arch",
	                 "amd64", "agent-version", "0.1.0", "packages", "name", "hello", "revision",
	                 (json_int_t)7, "channel", "stable", "held", 1);
}

static void expect_checkin_refused(const char *member, json_t *value, const char *why)
{
	json_t *j = checkin_json();
	if (value)
		json_object_set_new(j, member, value);
	else
		json_object_del(j, member);
	struct checkin c;
	ferry_error err = {0};
	assert_int_equal(checkin_parse(j, &c, &err), FERRY_E_INVALID);
	if (!strstr(err.msg, why))
		fail_msg("%s: got \"%s\", expected \"%s\"", member, err.msg, why);
	json_decref(j);
}

static void test_checkin(void **state)
{
	(void)state;
	json_t *j = checkin_json();
	struct checkin c;
	ferry_error err = {0};
	assert_int_equal(checkin_parse(j, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.packages[0].name, "hello");
	assert_string_equal(c.packages[0].channel, "stable");
	assert_int_equal(c.packages[0].revision, 7);
	assert_true(c.packages[0].held);
	assert_string_equal(c.arch, "amd64");
	json_decref(j);
	expect_checkin_refused("arch", NULL, "check-in: \"arch\": missing");
	expect_checkin_refused("arch", json_string("x86 64"), "\"arch\": expected");
	expect_checkin_refused("device-id", json_string("Dev"), "check-in: \"device-id\"");
	expect_checkin_refused("time", json_integer(0), "check-in: \"time\"");
	expect_checkin_refused("report-id", json_string("x"), "unknown field \"report-id\"");
	expect_checkin_refused("packages", json_string("hello"), "\"packages\": expected an array");
	expect_checkin_refused("packages", json_pack("[{s:s}]", "name", "hello"),
	                       "\"packages\"[0]: expected an object");
	expect_checkin_refused("packages",
	                       json_pack("[{s:s, s:I, s:s, s:b}]", "name", "hello", "revision",
	                                 (json_int_t)0, "channel", "stable", "held", 0),
	                       "\"packages\"[0].revision");
	expect_checkin_refused("packages",
	                       json_pack("[{s:s, s:I, s:s, s:i}]", "name", "hello", "revision",
	                                 (json_int_t)1, "channel", "stable", "held", 0),
	                       "\"packages\"[0].held");
	json_t *many = json_array();
	for (int i = 0; i <= CHECKIN_PACKAGES_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		json_array_append_new(many,
		                      json_pack("{s:s, s:I, s:s, s:b}", "name", name, "revision",
		                                (json_int_t)1, "channel", "edge", "held", 0));
	}
	expect_checkin_refused("packages", many, "at most 256");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ok),
	    cmocka_unit_test(test_split_and_bound),
	    cmocka_unit_test(test_clean),
	    cmocka_unit_test(test_parse_round_trip),
	    cmocka_unit_test(test_parse_refusals),
	    cmocka_unit_test(test_checkin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
