/* txn.c: the journal of changes, the agent's transactions. A change is a
 * list of steps stored in state.db when it is created; the worker thread runs
 * changes one at a time, recording each step as Doing before it runs and
 * Done after. When a step fails, the steps done (and the failing one) are
 * undone in reverse order. Every step's do and undo are idempotent, so that
 * after a crash at any point ferryd can finish or undo the change at
 * start-up (a step of no return that fails without having changed anything
 * is undone with the steps before it, see struct txn's unchanged):
 *   - a change that reached its point of no return (commit, forget) is
 *     finished: the remaining steps run again;
 *   - any other interrupted change is undone from where it stopped.
 * Each change's final status and its outcome report are written in one
 * SQLite transaction. A fault point (lib/base/fault.h) sits at the start of
 * each step (its name), after it (NAME-done) and before each undo
 * (undo-NAME).
 *
 * This file knows no kind of change and no step: it runs the table in
 * ag->txns (steps.c's in ferryd, their own in unit tests). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/str.h"
#include "report.h"
#include "txn.h"

int txn_save_data(struct txn *t, ferry_error *err)
{
	_cleanup_free_ char *text = json_dumps(t->data, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	return state_exec(t->db, err, "UPDATE changes SET data=?, name=? WHERE id=?", "tti", text,
	                  t->name, t->id);
}

static void load_names(struct txn *t)
{
	IGNORE_RC(str_copy(t->name, sizeof(t->name), jstr(t->data, "name")));
	IGNORE_RC(str_copy(t->from, sizeof(t->from), jstr(t->data, "from")));
	IGNORE_RC(str_copy(t->to, sizeof(t->to), jstr(t->data, "to")));
}

static const struct step_def *steps_of(struct agent *ag, const char *kind)
{
	for (const struct txn_kind *k = ag->txns ? ag->txns->kinds : NULL; k && k->kind; k++)
		if (strcmp(k->kind, kind) == 0)
			return k->steps;
	return NULL;
}

/* --- the journal ------------------------------------------------------------ */

int txn_create(struct agent *ag, sqlite3 *db, const char *kind, const char *name,
               const char *summary, json_t *data, int64_t *id, ferry_error *err)
{
	const struct step_def *steps = steps_of(ag, kind);
	if (!steps)
		return ferry_error_set(err, FERRY_E_INTERNAL, "unknown change kind %s", kind);
	_cleanup_free_ char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	int rc = state_begin(db, err);
	if (rc < 0)
		return rc;
	rc = state_exec(db, err,
	                "INSERT INTO changes(kind, name, summary, status, spawn, data) VALUES(?, "
	                "?, ?, 'Do', ?, ?)",
	                "tttit", kind, name ? name : "", summary, wall_s(), text);
	int64_t cid = sqlite3_last_insert_rowid(db);
	for (int i = 0; rc == 0 && steps[i].kind; i++)
		rc = state_exec(db, err,
		                "INSERT INTO steps(change, seq, kind, summary, status) VALUES(?, "
		                "?, ?, ?, 'Do')",
		                "iitt", cid, (int64_t)i, steps[i].kind, steps[i].summary);
	rc = state_end(db, rc, err);
	if (rc < 0)
		return rc;
	*id = cid;
	return 0;
}

void txn_wake(struct agent *ag)
{
	ag->work = true;
	pthread_cond_broadcast(&ag->cond);
}

static void set_step(struct txn *t, int seq, const char *status, const char *msg)
{
	ferry_error err;
	int rc;
	int64_t ms = wall_ms();
	if (strcmp(status, "Doing") == 0 || strcmp(status, "Undoing") == 0)
		rc = state_exec(t->db, &err,
		                "UPDATE steps SET status=?, started=coalesce(started, ?),"
		                " started_ms=coalesce(started_ms, ?) WHERE change=? AND seq=?",
		                "tiiii", status, ms / 1000, ms, t->id, (int64_t)seq);
	else if (msg)
		rc = state_exec(t->db, &err,
		                "UPDATE steps SET status=?, ended=?, ended_ms=?, msg=? WHERE "
		                "change=? AND seq=?",
		                "tiitii", status, ms / 1000, ms, msg, t->id, (int64_t)seq);
	else
		rc = state_exec(
		    t->db, &err,
		    "UPDATE steps SET status=?, ended=?, ended_ms=? WHERE change=? AND seq=?",
		    "tiiii", status, ms / 1000, ms, t->id, (int64_t)seq);
	if (rc < 0)
		log_error("change %lld: %s", (long long)t->id, ferry_error_msg(&err));
}

static void set_change(struct txn *t, const char *status, const char *errmsg)
{
	ferry_error err;
	int rc;
	if (strcmp(status, "Doing") == 0)
		rc = state_exec(t->db, &err, "UPDATE changes SET status=? WHERE id=?", "ti", status,
		                t->id);
	else
		rc = state_exec(t->db, &err,
		                "UPDATE changes SET status=?, ready=?, err=? WHERE id=?", "titi",
		                status, wall_s(), errmsg, t->id);
	if (rc < 0)
		log_error("change %lld: %s", (long long)t->id, ferry_error_msg(&err));
}

/* The final status of a change and its outcome report (result: ok,
 * rolled-back, failed; NULL for none) in one transaction: after a crash
 * there are both or neither. BEGIN IMMEDIATE waits state.db's busy timeout
 * and is tried again a few times; should it still fail, a savepoint opens
 * the transaction (its writes wait for the lock), never two commits. The
 * report is queued under a savepoint of its own: a report that cannot be
 * queued does not undo the outcome. */
#define FINISH_BEGIN_TRIES 6 /* each waits the busy timeout (10 s) */
static void finish_change(struct txn *t, const char *status, const char *errmsg, const char *result,
                          const char *failed_step, const char *step_error)
{
	ferry_error err;
	int rc = -1;
	for (int i = 0; i < FINISH_BEGIN_TRIES && rc < 0; i++)
		rc = state_begin(t->db, &err);
	if (rc < 0) {
		log_error("change %lld: %s", (long long)t->id, ferry_error_msg(&err));
		if (sqlite3_exec(t->db, "SAVEPOINT finish", NULL, NULL, NULL) != SQLITE_OK)
			log_error("change %lld: state.db: savepoint: %s", (long long)t->id,
			          sqlite3_errmsg(t->db));
	}
	set_change(t, status, errmsg);
	bool sp = sqlite3_exec(t->db, "SAVEPOINT report", NULL, NULL, NULL) == SQLITE_OK;
	int queued = report_queue(t->ag, t->db, t->id, t->kind, t->name, t->from, t->to,
	                          jstr(t->data, "channel"), result, failed_step, step_error, &err);
	if (queued < 0) {
		log_warn("change %lld: no report: %s", (long long)t->id, ferry_error_msg(&err));
		if (sp)
			sqlite3_exec(t->db, "ROLLBACK TO report", NULL, NULL, NULL);
	}
	if (sp)
		sqlite3_exec(t->db, "RELEASE report", NULL, NULL, NULL);
	if (!sqlite3_get_autocommit(t->db) && state_commit(t->db, &err) < 0)
		log_error("change %lld: %s", (long long)t->id, ferry_error_msg(&err));
	else if (queued > 0)
		report_kick(t->ag);
	report_checkin(t->ag);
}

static bool fault(const char *prefix, const char *kind, const char *suffix)
{
	char name[64];
	snprintf(name, sizeof(name), "%s%s%s", prefix, kind, suffix);
	return FAULT(name);
}

/* Undo steps [0, upto] whose status says they ran, newest first. False when
 * an undo failed (the change could not be rolled back cleanly). */
static bool undo_from(struct txn *t, const struct step_def *steps, json_t *rows, int upto)
{
	bool clean = true;
	for (int i = upto; i >= 0; i--) {
		const char *st = jstr(json_array_get(rows, (size_t)i), "status");
		bool ran = !strcmp(st, "Doing") || !strcmp(st, "Done") || !strcmp(st, "Undoing") ||
		           !strcmp(st, "Error");
		if (!ran)
			continue;
		bool failed_here = !strcmp(st, "Error");
		/* the step that failed stays Error: recovery needs to know */
		if (!failed_here)
			set_step(t, i, "Undoing", NULL);
		(void)fault("undo-", steps[i].kind, "");
		ferry_error err;
		ferry_error_clear(&err);
		if (steps[i].undo && steps[i].undo(t, &err) < 0) {
			log_error("change %lld: undo %s: %s", (long long)t->id, steps[i].kind,
			          ferry_error_msg(&err));
			char msg[FERRY_ERROR_MSG_MAX + 32];
			snprintf(msg, sizeof(msg), "undo failed: %s", ferry_error_msg(&err));
			set_step(t, i, "Error", msg);
			clean = false;
			continue;
		}
		if (!failed_here) /* its end stays the moment it failed */
			set_step(t, i, "Undone", NULL);
	}
	return clean;
}

static int load_txn(struct agent *ag, sqlite3 *db, int64_t id, struct txn *t, json_t **rows,
                    const struct step_def **steps)
{
	json_t *row = NULL;
	ferry_error err;
	if (state_query_row(db, &row, &err, "SELECT kind, data FROM changes WHERE id=?", "i", id) <
	    0)
		return -1;
	memset(t, 0, sizeof(*t));
	t->ag = ag;
	t->db = db;
	t->id = id;
	*steps = steps_of(ag, jstr(row, "kind"));
	snprintf(t->kind, sizeof(t->kind), "%s", jstr(row, "kind"));
	json_error_t jerr;
	t->data = json_loads(jstr(row, "data"), 0, &jerr);
	json_decref(row);
	if (!*steps || !t->data) {
		json_decref(t->data);
		return -1;
	}
	load_names(t);
	if (state_query(db, rows, &err,
	                "SELECT seq, kind, status FROM steps WHERE change=? ORDER BY seq", "i",
	                id) < 0) {
		json_decref(t->data);
		return -1;
	}
	return 0;
}

/* After a rollback, the new revision is not tried again until a newer one is
 * released: when it was the new revision that failed (the failed step
 * blocks_revision), not when the network, the old revision or a crash
 * stopped the change. */
static void block_revision(struct txn *t, const struct step_def *failed)
{
	if (!failed->blocks_revision || !*t->to || !*t->name)
		return;
	ferry_error err;
	if (state_exec(
	        t->db, &err,
	        "INSERT OR REPLACE INTO blocked(name, rev, reason, at) VALUES(?, ?, 'failed', ?)",
	        "tti", t->name, t->to, wall_s()) < 0)
		log_warn("%s", ferry_error_msg(&err));
}

void txn_run(struct agent *ag, sqlite3 *db, int64_t id)
{
	struct txn t;
	json_t *rows = NULL;
	const struct step_def *steps = NULL;
	if (load_txn(ag, db, id, &t, &rows, &steps) < 0) {
		log_error("change %lld cannot be loaded; marking it failed", (long long)id);
		IGNORE_RC(state_exec(
		    db, NULL,
		    "UPDATE changes SET status='Error', err='cannot be loaded' WHERE id=?", "i",
		    id));
		return;
	}
	json_t *kindrow = NULL;
	_cleanup_free_ char *kind = NULL;
	if (state_query_row(db, &kindrow, NULL, "SELECT kind FROM changes WHERE id=?", "i", id) ==
	    0) {
		kind = strdup(jstr(kindrow, "kind"));
		json_decref(kindrow);
	}
	pthread_mutex_lock(&ag->lock);
	ag->running_change = id;
	pthread_mutex_unlock(&ag->lock);
	set_change(&t, "Doing", NULL);
	log_info("change %lld (%s) starts", (long long)id, kind ? kind : "?");
	int n = (int)json_array_size(rows);
	bool complete_early = false;
	for (int i = 0; i < n; i++) {
		json_t *r = json_array_get(rows, (size_t)i);
		if (!strcmp(jstr(r, "status"), "Done"))
			continue;
		if (ag->quit)
			goto out; /* left Doing: finished or undone at the next start */
		set_step(&t, i, "Doing", NULL);
		json_object_set_new(r, "status", json_string("Doing"));
		ferry_error err;
		ferry_error_clear(&err);
		int rc;
		t.unchanged = false;
		if (fault("", steps[i].kind, "")) {
			rc = ferry_error_set(&err, FERRY_E_FAULT, "fault point %s", steps[i].kind);
			t.unchanged = true; /* the step did not start */
		} else {
			rc = steps[i].run(&t, &err);
		}
		if (rc >= 0)
			t.unchanged = false; /* it did what it does */
		if (rc == 0 && fault("", steps[i].kind, "-done"))
			rc = ferry_error_set(&err, FERRY_E_FAULT, "fault point %s-done",
			                     steps[i].kind);
		if (rc < 0) {
			if (ag->quit)
				goto out;
			char msg[FERRY_ERROR_MSG_MAX + 64];
			snprintf(msg, sizeof(msg), "%s", ferry_error_msg(&err));
			log_warn("change %lld: %s failed: %s", (long long)id, steps[i].kind, msg);
			set_step(&t, i, "Error", msg);
			json_object_set_new(r, "status", json_string("Error"));
			if (steps[i].no_return && !t.unchanged) {
				finish_change(&t, "Error", msg, "failed", steps[i].kind, msg);
				goto out;
			}
			bool clean = undo_from(&t, steps, rows, i);
			char full[FERRY_ERROR_MSG_MAX + 128];
			snprintf(full, sizeof(full), "%s: %s", steps[i].kind, msg);
			block_revision(&t, &steps[i]);
			finish_change(&t, "Error", full, clean ? "rolled-back" : "failed",
			              steps[i].kind, msg);
			log_warn("change %lld rolled back", (long long)id);
			goto out;
		}
		set_step(&t, i, "Done", t.note[0] ? t.note : NULL);
		t.note[0] = '\0';
		json_object_set_new(r, "status", json_string("Done"));
		if (rc == STEP_COMPLETE) {
			complete_early = true;
			IGNORE_RC(state_exec(db, NULL,
			                     "UPDATE steps SET status='Hold' WHERE change=? AND "
			                     "seq>? AND status='Do'",
			                     "ii", id, (int64_t)i));
			break;
		}
	}
	/* nothing to report when nothing was tried (up to date, blocked) */
	finish_change(&t, "Done", NULL, complete_early ? NULL : "ok", NULL, NULL);
	log_info("change %lld done", (long long)id);
	/* a change that did nothing worth keeping (an automatic refresh that
	 * found nothing new) says so in its data: it is not kept */
	if (json_is_true(json_object_get(t.data, "forget")) &&
	    (state_exec(db, NULL, "DELETE FROM steps WHERE change=?", "i", id) < 0 ||
	     state_exec(db, NULL, "DELETE FROM changes WHERE id=?", "i", id) < 0))
		log_warn("change %lld: cannot forget it", (long long)id);
out:
	pthread_mutex_lock(&ag->lock);
	ag->running_change = 0;
	pthread_mutex_unlock(&ag->lock);
	json_decref(rows);
	json_decref(t.data);
}

int txn_recover(struct agent *ag, sqlite3 *db)
{
	json_t *changes = NULL;
	ferry_error err;
	if (state_query(db, &changes, &err,
	                "SELECT id, kind FROM changes WHERE status='Doing' ORDER BY id",
	                NULL) < 0) {
		log_error("%s", ferry_error_msg(&err));
		return -1;
	}
	size_t ci;
	json_t *c;
	json_array_foreach(changes, ci, c)
	{
		int64_t id = json_integer_value(json_object_get(c, "id"));
		struct txn t;
		json_t *rows = NULL;
		const struct step_def *steps = NULL;
		if (load_txn(ag, db, id, &t, &rows, &steps) < 0)
			continue;
		int n = (int)json_array_size(rows), forward = -1, last = -1;
		bool undoing = false;
		for (int i = 0; i < n; i++) {
			const char *st = jstr(json_array_get(rows, (size_t)i), "status");
			if (strcmp(st, "Do") != 0)
				last = i;
			if (!strcmp(st, "Undoing") || !strcmp(st, "Undone") || !strcmp(st, "Error"))
				undoing = true;
			if (steps[i].no_return && forward < 0 &&
			    (!strcmp(st, "Doing") || !strcmp(st, "Done")))
				forward = i;
		}
		const char *at = last >= 0 ? steps[last].kind : "start";
		if (forward >= 0 && !undoing) {
			log_warn("change %lld was interrupted at %s, past its point of no return: "
			         "finishing it",
			         (long long)id, at);
			json_decref(rows);
			json_decref(t.data);
			txn_run(ag, db, id);
			continue;
		}
		log_warn("change %lld was interrupted at %s: undoing it", (long long)id, at);
		const struct step_def *failed = NULL;
		for (int i = 0; i < n; i++)
			if (!strcmp(jstr(json_array_get(rows, (size_t)i), "status"), "Error"))
				failed = &steps[i];
		bool clean = undo_from(&t, steps, rows, last);
		char msg[256];
		snprintf(msg, sizeof(msg),
		         "%s: interrupted (ferryd stopped during this step); rolled back when "
		         "ferryd started again",
		         at);
		if (failed)
			block_revision(&t, failed);
		finish_change(&t, "Error", msg, clean ? "rolled-back" : "failed",
		              failed ? failed->kind : at, msg + strlen(at) + 2);
		json_decref(rows);
		json_decref(t.data);
	}
	json_decref(changes);
	return 0;
}

void *txn_worker(void *arg)
{
	struct agent *ag = arg;
	sqlite3 *db = NULL;
	ferry_error err;
	if (state_open(ag->db_path, &db, &err) < 0) {
		log_error("%s", ferry_error_msg(&err));
		return NULL;
	}
	if (ag->txns && ag->txns->before_recovery)
		ag->txns->before_recovery(ag, db);
	txn_recover(ag, db);
	if (ag->txns && ag->txns->after_recovery)
		ag->txns->after_recovery(ag, db);
	pthread_mutex_lock(&ag->lock);
	ag->ready = true;
	pthread_mutex_unlock(&ag->lock);
	log_info("ready");
	for (;;) {
		pthread_mutex_lock(&ag->lock);
		while (!ag->work && !ag->quit)
			pthread_cond_wait(&ag->cond, &ag->lock);
		ag->work = false;
		bool quit = ag->quit;
		pthread_mutex_unlock(&ag->lock);
		if (quit)
			break;
		for (;;) {
			json_t *row = NULL;
			if (ag->quit ||
			    state_query_row(
			        db, &row, NULL,
			        "SELECT id FROM changes WHERE status='Do' ORDER BY id LIMIT 1",
			        NULL) < 0)
				break;
			int64_t id = json_integer_value(json_object_get(row, "id"));
			json_decref(row);
			txn_run(ag, db, id);
		}
	}
	state_close(db);
	return NULL;
}
