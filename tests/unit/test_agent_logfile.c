/* test_agent_logfile.c: the stamped output logs of ferryd
 * (src/agent/logfile.c): lines stamped when they start (a line in pieces
 * once), ferryd's notes on a line of their own, and reading back: the last
 * n lines across the rotated file, since a stamp, after an offset (only
 * complete lines), unstamped lines of old, and the tails errors quote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "logfile.h"
#include "testutil.h"

static char path[PATH_MAX], old[PATH_MAX];

static int setup(void **state)
{
	tu_tmpdir_setup(state);
	snprintf(path, sizeof(path), "%s/app.log", tu_tmpdir);
	snprintf(old, sizeof(old), "%s/app.log.1", tu_tmpdir);
	return 0;
}

static void put(const char *file, const char *text)
{
	assert_int_equal(fs_write_atomic(file, text, strlen(text), 0600, NULL), 0);
}

static void test_stamps_and_pieces(void **state)
{
	(void)state;
	struct logfile lf;
	logfile_open(&lf, path);
	logfile_write(&lf, path, 1 << 20, "one\ntw", 6);
	logfile_write(&lf, path, 1 << 20, "o\nthr", 5);
	logfile_note(&lf, path, 1 << 20, "-- ferryd: note --");
	logfile_close(&lf);
	struct log_lines l;
	assert_int_equal(logfile_tail(path, 10, NULL, 0, false, &l, NULL, NULL), 0);
	assert_int_equal(l.n, 4);
	const char *want[] = {"one", "two", "thr", "-- ferryd: note --"};
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(l.v[i].text, want[i]);
		assert_int_equal(strlen(l.v[i].stamp), LOG_STAMP_LEN);
		assert_true(l.v[i].stamp[10] == 'T' && l.v[i].stamp[26] == 'Z');
	}
	log_lines_free(&l);
	/* what errors quote: no stamps, no notes */
	char *t = log_tail(path, 2, 0);
	assert_string_equal(t, "two\nthr");
	free(t);
}

static void test_tail_since_rotated_and_old_lines(void **state)
{
	(void)state;
	put(old, "2026-01-01T00:00:01.000000Z a\n2026-01-01T00:00:02.000000Z b\n");
	put(path, "unstamped c\n2026-01-01T00:00:03.000000Z d\n2026-01-01T00:00:04.000000Z e\n");
	struct log_lines l;
	off_t end = 0;
	assert_int_equal(logfile_tail(path, 4, NULL, 0, true, &l, &end, NULL), 0);
	assert_int_equal(end, 12 + 2 * 30);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].text, "b");
	assert_string_equal(l.v[1].text, "unstamped c");
	assert_string_equal(l.v[1].stamp, "");
	assert_string_equal(l.v[3].text, "e");
	log_lines_free(&l);
	/* not older: only the current file */
	assert_int_equal(logfile_tail(path, 10, NULL, 0, false, &l, NULL, NULL), 0);
	assert_int_equal(l.n, 3);
	log_lines_free(&l);
	/* since: stamped at or after, across both files */
	assert_int_equal(
	    logfile_tail(path, 10, "2026-01-01T00:00:02.000000Z", 0, true, &l, NULL, NULL), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].text, "b");
	assert_string_equal(l.v[1].text, "d");
	log_lines_free(&l);
	assert_int_equal(
	    logfile_tail(path, 10, "2027-01-01T00:00:00.000000Z", 0, true, &l, NULL, NULL), 0);
	assert_int_equal(l.n, 0);
	log_lines_free(&l);
}

static void test_after_gives_complete_lines(void **state)
{
	(void)state;
	put(path, "2026-01-01T00:00:03.000000Z d\n2026-01-01T00:00:04.000000Z par");
	struct log_lines l;
	off_t off = 0;
	assert_int_equal(logfile_after(path, &off, &l, NULL), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].text, "d");
	assert_int_equal(off, 30);
	log_lines_free(&l);
	/* beyond the end: rotated, from the start */
	off = 1 << 20;
	assert_int_equal(logfile_after(path, &off, &l, NULL), 0);
	assert_int_equal(off, 30);
	log_lines_free(&l);
}

static void test_rotation_keeps_two_files(void **state)
{
	(void)state;
	struct logfile lf;
	logfile_open(&lf, path);
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\n';
	for (int i = 0; i < 5; i++)
		logfile_write(&lf, path, 4096, big, sizeof(big));
	logfile_close(&lf);
	struct log_lines l;
	assert_int_equal(logfile_tail(path, 10, NULL, 0, true, &l, NULL, NULL), 0);
	assert_int_equal(l.n, 2); /* one line in each file */
	assert_int_equal(strlen(l.v[0].text), 2999);
	log_lines_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stamps_and_pieces, setup, tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_tail_since_rotated_and_old_lines, setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_after_gives_complete_lines, setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_keeps_two_files, setup,
	                                    tu_tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
