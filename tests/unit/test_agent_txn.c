/* test_agent_txn.c: ferryd's transaction engine (src/agent/txn.c) over a
 * real state.db in a temporary root, with a table of steps of the test's
 * own: every step done in order; a failing step undoes the steps before it
 * (and itself) newest first, blocks the new revision when the step says so,
 * and leaves the step statuses a user sees in `ferry changes`; a step past
 * the point of no return is not undone; a change that finishes early holds
 * its remaining steps; and recovery at start-up undoes an interrupted change
 * or, past its point of no return, finishes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/str.h"
#include "testutil.h"
#include "txn.h"

static char trace[512];   /* "do:one do:two undo:one ..." */
static const char *fails; /* the step whose run fails, NULL: none */
static bool complete_at_two;
static bool commit_unchanged; /* the commit step fails having changed nothing */

static void note(const char *what, const char *step)
{
	size_t l = strlen(trace);
	snprintf(trace + l, sizeof(trace) - l, "%s%s:%s", l ? " " : "", what, step);
}

static int run_step(const char *step, ferry_error *err)
{
	note("do", step);
	if (fails && strcmp(fails, step) == 0)
		return ferry_error_set(err, FERRY_E_INVALID, "%s broke", step);
	return 0;
}

static int do_one(struct txn *t, ferry_error *err)
{
	(void)t;
	return run_step("one", err);
}

static int undo_one(struct txn *t, ferry_error *err)
{
	(void)t;
	(void)err;
	note("undo", "one");
	return 0;
}

static int do_two(struct txn *t, ferry_error *err)
{
	int rc = run_step("two", err);
	if (rc == 0 && complete_at_two) {
		snprintf(t->note, sizeof(t->note), "nothing to do");
		return STEP_COMPLETE;
	}
	return rc;
}

static int do_three(struct txn *t, ferry_error *err)
{
	(void)t;
	return run_step("three", err);
}

static int undo_three(struct txn *t, ferry_error *err)
{
	(void)t;
	(void)err;
	note("undo", "three");
	return 0;
}

static int do_commit(struct txn *t, ferry_error *err)
{
	t->unchanged = commit_unchanged;
	return run_step("commit", err);
}

static const struct step_def steps_test[] = {
    {"one", "Step one", do_one, undo_one, false, false},
    {"two", "Step two (nothing to undo)", do_two, NULL, false, false},
    {"three", "Step three (the new revision's own)", do_three, undo_three, false, true},
    {"commit", "Commit", do_commit, NULL, true, false},
    {NULL, NULL, NULL, NULL, false, false},
};

static const struct txn_kind kinds_test[] = {
    {"test", steps_test},
    {NULL, NULL},
};

static const struct txn_table table_test = {.kinds = kinds_test};

struct fixture {
	struct agent ag;
	sqlite3 *db;
};

static int setup(void **state)
{
	tu_tmpdir_setup(state);
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	agent_init(&f->ag);
	assert_int_equal(str_copy(f->ag.root, sizeof(f->ag.root), tu_tmpdir), 0);
	f->ag.txns = &table_test;
	char path[PATH_MAX];
	assert_int_equal(agent_path(&f->ag, path, "state.db"), 0);
	assert_int_equal(state_open(path, &f->db, NULL), 0);
	trace[0] = '\0';
	fails = NULL;
	complete_at_two = false;
	commit_unchanged = false;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	state_close(f->db);
	agent_cleanup(&f->ag);
	free(f);
	return tu_tmpdir_teardown(state);
}

static int64_t create(struct fixture *f)
{
	json_t *data = json_pack("{s:s, s:s, s:s}", "name", "pkg", "from", "4", "to", "5");
	int64_t id = 0;
	ferry_error err;
	assert_int_equal(txn_create(&f->ag, f->db, "test", "pkg", "A test", data, &id, &err), 0);
	json_decref(data);
	assert_true(id > 0);
	return id;
}

/* "one=Done two=Done ..." */
static void step_statuses(struct fixture *f, int64_t id, char *out, size_t size)
{
	json_t *rows = NULL;
	assert_int_equal(state_query(f->db, &rows, NULL,
	                             "SELECT kind, status FROM steps WHERE change=? ORDER BY seq",
	                             "i", id),
	                 0);
	out[0] = '\0';
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		size_t l = strlen(out);
		snprintf(out + l, size - l, "%s%s=%s", l ? " " : "",
		         json_string_value(json_object_get(r, "kind")),
		         json_string_value(json_object_get(r, "status")));
	}
	json_decref(rows);
}

/* The change's status and its error message ("" when none) into err. */
static void change_status(struct fixture *f, int64_t id, char *status, char *err, size_t size)
{
	json_t *row = NULL;
	assert_int_equal(state_query_row(f->db, &row, NULL,
	                                 "SELECT status, err FROM changes WHERE id=?", "i", id),
	                 0);
	const char *e = json_string_value(json_object_get(row, "err"));
	snprintf(status, 16, "%s", json_string_value(json_object_get(row, "status")));
	snprintf(err, size, "%s", e ? e : "");
	json_decref(row);
}

/* What the user sees after the run: the steps that ran or were undone, each
 * step's status, the change's status; its error message into err. */
static void expect(struct fixture *f, int64_t id, const char *want_trace, const char *want_steps,
                   const char *want_status, char *err, size_t size)
{
	assert_string_equal(trace, want_trace);
	char st[256], status[16];
	step_statuses(f, id, st, sizeof(st));
	assert_string_equal(st, want_steps);
	change_status(f, id, status, err, size);
	assert_string_equal(status, want_status);
}

static bool blocked(struct fixture *f, const char *rev)
{
	json_t *row = NULL;
	int rc = state_query_row(f->db, &row, NULL,
	                         "SELECT reason FROM blocked WHERE name='pkg' AND rev=?", "t", rev);
	json_decref(row);
	return rc == 0;
}

static void test_all_steps_done(void **state)
{
	struct fixture *f = *state;
	int64_t id = create(f);
	txn_run(&f->ag, f->db, id);
	char err[256];
	expect(f, id, "do:one do:two do:three do:commit",
	       "one=Done two=Done three=Done commit=Done", "Done", err, sizeof(err));
	assert_string_equal(err, "");
	assert_false(blocked(f, "5"));
}

static void test_failure_undoes_in_reverse(void **state)
{
	struct fixture *f = *state;
	fails = "three";
	int64_t id = create(f);
	txn_run(&f->ag, f->db, id);
	/* the failing step is undone too, then the ones before it, newest first */
	char err[256];
	expect(f, id, "do:one do:two do:three undo:three undo:one",
	       "one=Undone two=Undone three=Error commit=Do", "Error", err, sizeof(err));
	assert_string_equal(err, "three: three broke");
	/* step three is the new revision's own: revision 5 is not tried again */
	assert_true(blocked(f, "5"));
}

static void test_failure_of_other_step_does_not_block(void **state)
{
	struct fixture *f = *state;
	fails = "two";
	int64_t id = create(f);
	txn_run(&f->ag, f->db, id);
	char err[256];
	expect(f, id, "do:one do:two undo:one", "one=Undone two=Error three=Do commit=Do", "Error",
	       err, sizeof(err));
	assert_string_equal(err, "two: two broke");
	assert_false(blocked(f, "5"));
}

static void test_no_undo_past_point_of_no_return(void **state)
{
	struct fixture *f = *state;
	fails = "commit";
	int64_t id = create(f);
	txn_run(&f->ag, f->db, id);
	char err[256];
	expect(f, id, "do:one do:two do:three do:commit",
	       "one=Done two=Done three=Done commit=Error", "Error", err, sizeof(err));
	assert_string_equal(err, "commit broke");
}

/* A step of no return whose work rolled back as a whole (one SQLite
 * transaction) changed nothing: the change is undone like before it. */
static void test_unchanged_point_of_no_return_is_undone(void **state)
{
	struct fixture *f = *state;
	fails = "commit";
	commit_unchanged = true;
	int64_t id = create(f);
	txn_run(&f->ag, f->db, id);
	char err[256];
	expect(f, id, "do:one do:two do:three do:commit undo:three undo:one",
	       "one=Undone two=Undone three=Undone commit=Error", "Error", err, sizeof(err));
	assert_string_equal(err, "commit: commit broke");
}

static void test_complete_early_holds_the_rest(void **state)
{
	struct fixture *f = *state;
	complete_at_two = true;
	int64_t id = create(f);
	txn_run(&f->ag, f->db, id);
	char err[256];
	expect(f, id, "do:one do:two", "one=Done two=Done three=Hold commit=Hold", "Done", err,
	       sizeof(err));
	json_t *row = NULL;
	assert_int_equal(state_query_row(f->db, &row, NULL,
	                                 "SELECT msg FROM steps WHERE change=? AND kind='two'", "i",
	                                 id),
	                 0);
	assert_string_equal(json_string_value(json_object_get(row, "msg")), "nothing to do");
	json_decref(row);
}

/* What a crash leaves: the change Doing, its steps as given. */
static void interrupt(struct fixture *f, int64_t id, const char *const status[4])
{
	assert_int_equal(
	    state_exec(f->db, NULL, "UPDATE changes SET status='Doing' WHERE id=?", "i", id), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(state_exec(f->db, NULL,
		                            "UPDATE steps SET status=? WHERE change=? AND seq=?",
		                            "tii", status[i], id, (int64_t)i),
		                 0);
}

static void test_recovery_undoes_interrupted_change(void **state)
{
	struct fixture *f = *state;
	int64_t id = create(f);
	const char *const crashed[4] = {"Done", "Done", "Doing", "Do"};
	interrupt(f, id, crashed);
	assert_int_equal(txn_recover(&f->ag, f->db), 0);
	/* nothing runs forward; what ran is undone, newest first */
	char err[256];
	expect(f, id, "undo:three undo:one", "one=Undone two=Undone three=Undone commit=Do",
	       "Error", err, sizeof(err));
	assert_string_equal(err, "three: interrupted (ferryd stopped during this step); rolled "
	                         "back when ferryd started again");
	/* a crash is not the revision's fault */
	assert_false(blocked(f, "5"));
	/* recovered once: a second start finds nothing to do */
	trace[0] = '\0';
	assert_int_equal(txn_recover(&f->ag, f->db), 0);
	assert_string_equal(trace, "");
}

static void test_recovery_finishes_past_point_of_no_return(void **state)
{
	struct fixture *f = *state;
	int64_t id = create(f);
	const char *const crashed[4] = {"Done", "Done", "Done", "Doing"};
	interrupt(f, id, crashed);
	assert_int_equal(txn_recover(&f->ag, f->db), 0);
	char err[256];
	expect(f, id, "do:commit", "one=Done two=Done three=Done commit=Done", "Done", err,
	       sizeof(err));
}

static void test_recovery_of_a_rollback_cut_short(void **state)
{
	struct fixture *f = *state;
	int64_t id = create(f);
	/* three failed and its undo ran; ferryd stopped before undoing one */
	const char *const crashed[4] = {"Done", "Undone", "Error", "Do"};
	interrupt(f, id, crashed);
	assert_int_equal(txn_recover(&f->ag, f->db), 0);
	char err[256];
	expect(f, id, "undo:three undo:one", "one=Undone two=Undone three=Error commit=Do", "Error",
	       err, sizeof(err));
	/* the step that failed was the revision's own: it stays blocked */
	assert_true(blocked(f, "5"));
}

static void test_unknown_kind(void **state)
{
	struct fixture *f = *state;
	int64_t id = 0;
	ferry_error err;
	assert_int_equal(txn_create(&f->ag, f->db, "frobnicate", "", "x", NULL, &id, &err),
	                 FERRY_E_INTERNAL);
	assert_string_equal(err.msg, "unknown change kind frobnicate");
	json_t *rows = NULL;
	assert_int_equal(state_query(f->db, &rows, NULL, "SELECT id FROM changes", NULL), 0);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_all_steps_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_undoes_in_reverse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_of_other_step_does_not_block, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_no_undo_past_point_of_no_return, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unchanged_point_of_no_return_is_undone, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_complete_early_holds_the_rest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_undoes_interrupted_change, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_finishes_past_point_of_no_return, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_of_a_rollback_cut_short, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_kind, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
