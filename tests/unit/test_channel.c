/* test_channel.c: lib/pkg/channel: short and full channel names, the
 * messages for every rule a name can break, formatting back, short names,
 * and the progressive pick the store and ferryd share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pkg/channel.h"

static void expect_channel(const char *in, const char *full)
{
	struct channel c;
	ferry_error err = {0};
	char out[CHANNEL_NAME_MAX + 1];
	assert_int_equal(channel_parse(in, &c, &err), 0);
	channel_format(&c, out, sizeof(out));
	assert_string_equal(out, full);
}

static void expect_error(const char *in, const char *msg)
{
	struct channel c;
	ferry_error err = {0};
	assert_int_equal(channel_parse(in, &c, &err), FERRY_E_INVALID);
	assert_string_equal(err.msg, msg);
}

static void test_short_forms(void **state)
{
	(void)state;
	expect_channel("stable", "latest/stable");
	expect_channel("edge", "latest/edge");
	expect_channel("2.0", "2.0/stable");
	expect_channel("edge/fix-1", "latest/edge/fix-1");
	expect_channel("2.0/beta", "2.0/beta");
	expect_channel("2.0/beta/fix_1.2", "2.0/beta/fix_1.2");
	expect_channel("latest/candidate", "latest/candidate");
}

static void test_fields(void **state)
{
	(void)state;
	struct channel c;
	assert_int_equal(channel_parse("1.x/edge/hot", &c, NULL), 0);
	assert_string_equal(c.track, "1.x");
	assert_int_equal(c.risk, RISK_EDGE);
	assert_string_equal(c.branch, "hot");
	assert_int_equal(channel_parse("beta", &c, NULL), 0);
	assert_string_equal(c.track, "latest");
	assert_int_equal(c.risk, RISK_BETA);
	assert_string_equal(c.branch, "");
	assert_int_equal(channel_risk_parse("candidate"), RISK_CANDIDATE);
	assert_int_equal(channel_risk_parse("Stable"), -1);
	assert_string_equal(channel_risk_name(RISK_STABLE), "stable");
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("", "invalid channel \"\": empty name");
	expect_error("latest/foo",
	             "invalid channel \"latest/foo\": \"foo\" is not a risk (stable, candidate, "
	             "beta, edge)");
	expect_error("a/b/c/d", "invalid channel \"a/b/c/d\": more than three parts "
	                        "(TRACK/RISK/BRANCH)");
	expect_error("edge/", "invalid channel \"edge/\": empty part");
	expect_error("/edge", "invalid channel \"/edge\": empty part");
	expect_error("stable/a..b",
	             "invalid channel \"stable/a..b\": branch \"a..b\" must be letters and digits "
	             "with single '.', '_' or '-' between them, at most 128 bytes");
	expect_error("-x/stable",
	             "invalid channel \"-x/stable\": track \"-x\" must be letters and digits with "
	             "single '.', '_' or '-' between them, at most 28 bytes");
	expect_error("latest/stable/", "invalid channel \"latest/stable/\": empty part");
	expect_error("st\xc3\xa4"
	             "ble",
	             "invalid channel: only printable ASCII is allowed");
	expect_error("a b", "invalid channel \"a b\": track \"a b\" must be letters and digits "
	                    "with single '.', '_' or '-' between them, at most 28 bytes");
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	expect_error(longname, "invalid channel: longer than 172 bytes");
	/* a track of 29 bytes */
	expect_error(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa/stable",
	    "invalid channel \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaa/stable\": track "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" must be letters and digits with single '.', "
	    "'_' or '-' between them, at most 28 bytes");
	assert_true(channel_track_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_false(channel_branch_valid("x-"));
}

static void test_short_name_and_pick(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {{"latest/stable", "stable"},
	             {"latest/edge/fix-1", "edge/fix-1"},
	             {"2.x/stable", "2.x"},
	             {"2.x/beta", "2.x/beta"},
	             {"2.x/stable/hot", "2.x/stable/hot"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct channel c;
		char out[CHANNEL_NAME_MAX + 1];
		assert_int_equal(channel_parse(cases[i].in, &c, NULL), 0);
		channel_short_name(&c, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
	}
	/* SHA-256("dev-1/hello/2") puts dev-1 at 96, dev-2 at 60 (of 100) */
	assert_false(channel_progressive_pick("dev-1", "hello", "2", 96));
	assert_true(channel_progressive_pick("dev-1", "hello", "2", 97));
	assert_false(channel_progressive_pick("dev-2", "hello", "2", 60));
	assert_true(channel_progressive_pick("dev-2", "hello", "2", 61));
	assert_true(channel_progressive_pick("dev-2", "hello", "2", 100));
	assert_false(channel_progressive_pick("dev-2", "hello", "2", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_short_forms),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_short_name_and_pick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
