/* test_agent_schedule.c: ferryd's refresh schedule (src/agent/schedule.c)
 * and the ordering of revisions (src/agent/state.c): what is refused with
 * which message, that every time chosen lies inside a window and after the
 * given time, and that one run of a window picks a time in each of its
 * slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schedule.h"
#include "state.h"

static void test_refused(void **state)
{
	(void)state;
	const char *bad[] = {
	    "",         "24:01",         "25:00",          "9:00",          "09:00~",
	    "~10:00",   "09:00~10:00/0", "09:00~10:00/97", "09:00~10:00/x", "every",
	    "every 0s", "every 500ms",   "every 200h",     "09:00,,10:00",  "09:00;10:00"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ferry_error err;
		ferry_error_clear(&err);
		assert_int_equal(schedule_check(bad[i], &err), FERRY_E_INVALID);
		assert_non_null(strstr(err.msg, "refresh timer"));
	}
	ferry_error err;
	assert_int_equal(schedule_check("25:00", &err), FERRY_E_INVALID);
	assert_string_equal(err.msg,
	                    "refresh timer \"25:00\": expected windows such as 00:00~24:00/4, "
	                    "09:00~17:00 or 03:30, separated by commas (or every DURATION)");
	const char *good[] = {"00:00~24:00/4",       "09:00~17:00", "03:30",    "22:00~02:00/2",
	                      "02:00~04:00/2,14:00", "every 30m",   "every 1s", "every 168h"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(schedule_check(good[i], NULL), 0);
}

static int64_t at(int day, int h, int m)
{
	struct tm tm = {0};
	tm.tm_year = 2026 - 1900;
	tm.tm_mon = 4;
	tm.tm_mday = 10 + day;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

static void test_next_is_inside_and_after(void **state)
{
	(void)state;
	const char *specs[] = {"00:00~24:00/4", "09:00~17:00", "03:30", "22:00~02:00/2",
	                       "02:00~04:00/2,14:00"};
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++)
		for (int h = 0; h < 24; h++) {
			int64_t now = at(0, h, 7);
			int64_t next = schedule_next(specs[s], "", now);
			assert_true(next > now);
			assert_true(next <= now + 48 * 3600);
			assert_true(schedule_inside(specs[s], next));
		}
	assert_int_equal(schedule_next("every 30m", "", 1000), 1000 + 1800);
	assert_true(schedule_inside("every 30m", 12345));
	assert_false(schedule_inside("09:00~17:00", at(0, 8, 59)));
	assert_true(schedule_inside("09:00~17:00", at(0, 9, 0)));
	assert_false(schedule_inside("09:00~17:00", at(0, 17, 0)));
	assert_true(schedule_inside("22:00~02:00", at(0, 1, 30)));
	assert_true(schedule_inside("22:00~02:00", at(0, 23, 0)));
	assert_false(schedule_inside("22:00~02:00", at(0, 2, 30)));
	/* an exact time is that minute */
	int64_t n = schedule_next("03:30", "", at(0, 4, 0));
	assert_true(n >= at(1, 3, 30) && n < at(1, 3, 31));
}

static void test_four_a_day_spreads(void **state)
{
	(void)state;
	/* walking through a day, each quarter gets its run */
	int quarters[4] = {0};
	int64_t t = at(0, 0, 0) - 1;
	for (int i = 0; i < 4; i++) {
		t = schedule_next("00:00~24:00/4", "", t);
		struct tm tm;
		time_t tt = (time_t)t;
		localtime_r(&tt, &tm);
		quarters[tm.tm_hour / 6]++;
	}
	for (int q = 0; q < 4; q++)
		assert_int_equal(quarters[q], 1);
}

static void test_revision_order(void **state)
{
	(void)state;
	assert_true(state_rev_cmp("2", "10") < 0);
	assert_true(state_rev_cmp("10", "2") > 0);
	assert_int_equal(state_rev_cmp("7", "7"), 0);
	assert_true(state_rev_cmp("x1", "999") > 0);
	assert_true(state_rev_cmp("x2", "x10") < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_next_is_inside_and_after),
	    cmocka_unit_test(test_four_a_day_spreads),
	    cmocka_unit_test(test_revision_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
