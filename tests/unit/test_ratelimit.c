/* test_ratelimit.c: src/store/ratelimit: a burst up to the hourly count,
 * refill over time, addresses apart from each other, a full table giving
 * up the address that asked least recently, and no limiter allowing
 * everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "ratelimit.h"

static void test_burst_then_refill(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(3);
	assert_non_null(rl);
	for (int i = 0; i < 3; i++)
		assert_true(ratelimit_take(rl, "192.0.2.1", 100.0));
	assert_false(ratelimit_take(rl, "192.0.2.1", 100.0));
	/* another address has its own bucket */
	assert_true(ratelimit_take(rl, "192.0.2.2", 100.0));
	/* one token comes back every 1200 s at 3 an hour */
	assert_false(ratelimit_take(rl, "192.0.2.1", 1000.0));
	assert_true(ratelimit_take(rl, "192.0.2.1", 1301.0));
	assert_false(ratelimit_take(rl, "192.0.2.1", 1301.0));
	/* never more than the burst, however long it waited */
	for (int i = 0; i < 3; i++)
		assert_true(ratelimit_take(rl, "192.0.2.1", 1e6));
	assert_false(ratelimit_take(rl, "192.0.2.1", 1e6));
	ratelimit_free(rl);
}

static void test_full_table_keeps_empty_buckets(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(1);
	assert_non_null(rl);
	assert_true(ratelimit_take(rl, "flooder", 0.0));
	char addr[32];
	/* more other addresses than the table holds, while the flooder keeps
	 * asking: its empty bucket is never the one given up */
	for (int i = 0; i < RATELIMIT_ADDRESSES + 10; i++) {
		double t = 1.0 + i * 1e-3;
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
		assert_true(ratelimit_take(rl, addr, t));
		assert_false(ratelimit_take(rl, addr, t));
		assert_false(ratelimit_take(rl, "flooder", t));
	}
	/* the first of the others was given up: it starts afresh */
	assert_true(ratelimit_take(rl, "10.0.0.0", 10.0));
	ratelimit_free(rl);
}

static void test_no_limit(void **state)
{
	(void)state;
	assert_null(ratelimit_new(0));
	for (int i = 0; i < 1000; i++)
		assert_true(ratelimit_take(NULL, "192.0.2.1", 0.0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_refill),
	    cmocka_unit_test(test_full_table_keeps_empty_buckets),
	    cmocka_unit_test(test_no_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
