/* txn.h: changes, the agent's transactions (see txn.c for the journal and
 * its recovery; steps.c for the steps of each kind of change). The engine
 * knows no kind of change: it runs the table it is given in ag->txns. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "base/error.h"
#include "state.h"

/* One change while it runs: what its steps read and write. */
struct txn {
	struct agent *ag;
	sqlite3 *db; /* the worker's connection */
	int64_t id;
	char kind[32];
	json_t *data;   /* owned */
	char note[512]; /* a step's remark, kept as its message */
	/* Set by a step of no return that failed having changed nothing (its
	 * work is one SQLite transaction that rolled back): the change is
	 * undone like before its point of no return. */
	bool unchanged;
	char name[STATE_NAME_MAX];
	char from[STATE_REV_MAX]; /* "" when there is none */
	char to[STATE_REV_MAX];
};

/* A step returns 0, a negative ferry_err, or STEP_COMPLETE when the change
 * is complete without its remaining steps (a refresh finds nothing new). */
#define STEP_COMPLETE 1
typedef int (*step_fn)(struct txn *t, ferry_error *err);

struct step_def {
	const char *kind;
	const char *summary;
	step_fn run;
	step_fn undo;   /* NULL: nothing to undo */
	bool no_return; /* once started, finished forward */
	/* A failure here is the new revision's own (it did not mount, its hook
	 * failed, its services did not start or were not healthy): after the
	 * rollback revision `to` is not tried again until a newer one. */
	bool blocks_revision;
};

/* A kind of change and its steps (ending with a NULL kind). */
struct txn_kind {
	const char *kind;
	const struct step_def *steps;
};

/* What the engine runs. */
struct txn_table {
	const struct txn_kind *kinds; /* ending with a NULL kind */
	/* The worker's start-up, before and after interrupted changes are
	 * finished or undone (NULL: nothing). */
	void (*before_recovery)(struct agent *ag, sqlite3 *db);
	void (*after_recovery)(struct agent *ag, sqlite3 *db);
};

/* Record a change of a kind of ag->txns, with its steps, to be run (status Do). */
int txn_create(struct agent *ag, sqlite3 *db, const char *kind, const char *name,
               const char *summary, json_t *data, int64_t *id, ferry_error *err) FERRY_WUR;
/* Tell the worker a change was queued (ag->lock held). */
void txn_wake(struct agent *ag);
/* Run change id from its first step not Done, undoing on failure. */
void txn_run(struct agent *ag, sqlite3 *db, int64_t id);
/* After a crash: finish or undo every change that was under way. */
int txn_recover(struct agent *ag, sqlite3 *db);
/* The worker thread (arg: the struct agent): start-up, recovery, then the
 * queued changes one at a time until ag->quit. */
void *txn_worker(void *arg);
/* Write t->data and t->name back to the change's row. */
int txn_save_data(struct txn *t, ferry_error *err) FERRY_WUR;
