/* rollout.c: staged rollouts (rollout.h): recording one, the job that
 * moves it stage by stage, its end (done, halted, stopped, superseded),
 * what the API shows of it, the events it sends to webhooks, and deleting
 * it --rollouts-days after it ended (rollout-prune). Not here:
 * the channel rows (release.c), the halting rule (halt.c), delivering
 * events (webhooks.c). */
#include "rollout.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/str.h"
#include "handler.h"
#include "jobs.h"
#include "metrics.h"
#include "webhooks.h"

#define COLUMNS                                                                                    \
	"id, package, track, risk, branch, channel, revision, stages, stage, stage_wait, min_ok, " \
	"halt_failures, halt_ratio, state, started, stage_started, finished, after_report"
#define ACTIVE "state IN ('running', 'paused')"
#define FINISHED "state IN ('done', 'stopped', 'halted', 'superseded')"
#define PRUNE_EVERY_S 86400
#define PRUNE_BATCH 1000     /* rollouts deleted in one transaction */
#define CHECK_EVERY_MAX_S 60 /* a rollout waiting for reports looks again after this */
#define SERIES_BUCKETS 50
#define SERIES_EVENTS 40
#define INVENTORY_SCAN_MAX 100000 /* devices of a channel counted at most */

struct rollout {
	long long id;
	char package[80];
	struct channel ch;
	char channel[CHANNEL_NAME_MAX + 1];
	long long revision;
	long long stages[ROLLOUT_STAGES_MAX];
	size_t n;
	long long stage, stage_wait, min_ok;
	long long halt_failures, halt_ratio; /* -1: the store's */
	char state[16];
	long long started, stage_started, finished, after;
};

struct counts {
	long long ok, failed, reporting, pending, not_seen, outside;
};

static char *num(char buf[24], long long v)
{
	snprintf(buf, 24, "%lld", v);
	return buf;
}

static void iso_time(long long t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", t);
}

/* "[1,10,50,100]" (as stored) into stages; false when it does not parse. */
static bool stages_parse(const char *text, long long *stages, size_t *n)
{
	json_t *a = json_loads(text ? text : "", 0, NULL), *v;
	size_t i;
	*n = 0;
	bool ok =
	    json_is_array(a) && json_array_size(a) >= 1 && json_array_size(a) <= ROLLOUT_STAGES_MAX;
	json_array_foreach(a, i, v)
	{
		if (!ok || !json_is_integer(v))
			ok = false;
		else
			stages[(*n)++] = json_integer_value(v);
	}
	json_decref(a);
	return ok;
}

static void row_load(const struct db_rows *rows, size_t i, struct rollout *r)
{
	memset(r, 0, sizeof(*r));
	r->id = db_cell_ll(rows, i, 0);
	snprintf(r->package, sizeof(r->package), "%s", db_cell(rows, i, 1));
	snprintf(r->ch.track, sizeof(r->ch.track), "%s", db_cell(rows, i, 2));
	r->ch.risk = (enum channel_risk)channel_risk_parse(db_cell(rows, i, 3));
	snprintf(r->ch.branch, sizeof(r->ch.branch), "%s", db_cell(rows, i, 4));
	snprintf(r->channel, sizeof(r->channel), "%s", db_cell(rows, i, 5));
	r->revision = db_cell_ll(rows, i, 6);
	if (!stages_parse(db_cell(rows, i, 7), r->stages, &r->n)) {
		r->stages[0] = 100;
		r->n = 1;
	}
	r->stage = db_cell_ll(rows, i, 8);
	if (r->stage < 0 || (size_t)r->stage >= r->n)
		r->stage = (long long)r->n - 1;
	r->stage_wait = db_cell_ll(rows, i, 9);
	r->min_ok = db_cell_ll(rows, i, 10);
	r->halt_failures = db_cell(rows, i, 11) ? db_cell_ll(rows, i, 11) : -1;
	r->halt_ratio = db_cell(rows, i, 12) ? db_cell_ll(rows, i, 12) : -1;
	snprintf(r->state, sizeof(r->state), "%s", db_cell(rows, i, 13));
	r->started = db_cell_ll(rows, i, 14);
	r->stage_started = db_cell_ll(rows, i, 15);
	r->finished = db_cell(rows, i, 16) ? db_cell_ll(rows, i, 16) : 0;
	r->after = db_cell_ll(rows, i, 17);
}

static int load(struct db *db, long long id, bool lock, struct rollout *r, bool *found,
                ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	char ids[24];
	int rc = db_run(db, &rows, err,
	                lock && db_dialect(db) == DB_POSTGRES
	                    ? "SELECT " COLUMNS " FROM rollouts WHERE id = $1 FOR UPDATE"
	                    : "SELECT " COLUMNS " FROM rollouts WHERE id = $1",
	                num(ids, id));
	*found = rc == 0 && rows.nrows == 1;
	if (*found)
		row_load(&rows, 0, r);
	return rc;
}

/* The thresholds in force: the release's own, or the store's. */
static void thresholds(const struct store *st, const struct rollout *r, long long *failures,
                       long long *ratio)
{
	*failures = r->halt_failures >= 0 ? r->halt_failures : st->halt_failures;
	*ratio = r->halt_ratio >= 0 ? r->halt_ratio : st->halt_ratio;
}

/* Devices that reported the revision on the channel since the rollout
 * began (either name of the channel, as devices may use the short one),
 * received from from to before to (Unix seconds: 0, LLONG_MAX for all). */
static int report_counts(struct db *db, const struct rollout *r, long long from, long long to,
                         struct counts *k, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	char alt[CHANNEL_NAME_MAX + 1], rev[24], after[24], f[24], t[24];
	channel_short_name(&r->ch, alt, sizeof(alt));
	int rc = db_run(db, &rows, err,
	                "SELECT COUNT(DISTINCT CASE WHEN result = 'ok' THEN device END), "
	                "COUNT(DISTINCT CASE WHEN result <> 'ok' THEN device END), "
	                "COUNT(DISTINCT device) FROM reports WHERE package = $1 AND "
	                "to_revision = $2 AND channel IN ($3, $4) AND id > $5 AND "
	                "received >= $6 AND received < $7",
	                r->package, num(rev, r->revision), r->channel, alt, num(after, r->after),
	                num(f, from), num(t, to));
	if (rc < 0)
		return rc;
	k->ok = db_cell_ll(&rows, 0, 0);
	k->failed = db_cell_ll(&rows, 0, 1);
	k->reporting = db_cell_ll(&rows, 0, 2);
	return 0;
}

/* Report counts, then the inventory's devices on the channel that have
 * not reported: chosen by the current percentage and seen in this stage
 * (pending), chosen and not seen since (not seen), or not chosen yet. */
static int counts_all(struct db *db, const struct rollout *r, struct counts *k, ferry_error *err)
{
	memset(k, 0, sizeof(*k));
	int rc = report_counts(db, r, 0, LLONG_MAX, k, err);
	if (rc < 0)
		return rc;
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	char alt[CHANNEL_NAME_MAX + 1], rev[24], after[24], lim[24];
	channel_short_name(&r->ch, alt, sizeof(alt));
	rc = db_run(db, &rows, err,
	            "SELECT d.device, d.seen FROM device_packages d WHERE d.package = $1 AND "
	            "d.channel = $2 AND NOT EXISTS (SELECT 1 FROM reports p WHERE p.package = $1 "
	            "AND p.device = d.device AND p.to_revision = $3 AND p.channel IN ($2, $4) AND "
	            "p.id > $5) ORDER BY d.device LIMIT $6",
	            r->package, r->channel, num(rev, r->revision), alt, num(after, r->after),
	            num(lim, INVENTORY_SCAN_MAX));
	if (rc < 0)
		return rc;
	bool done = strcmp(r->state, "done") == 0;
	unsigned pct = (unsigned)r->stages[r->stage];
	for (size_t i = 0; i < rows.nrows; i++) {
		if (!done && !channel_progressive_pick(db_cell(&rows, i, 0), r->package, rev, pct))
			k->outside++;
		else if (db_cell_ll(&rows, i, 1) >= r->stage_started)
			k->pending++;
		else
			k->not_seen++;
	}
	return 0;
}

/* Why a running rollout does not move now (a reason, *until the time it
 * may, 0 when unknown, and the sentence), or NULL when it may. */
static const char *why_waiting(const struct store *st, const struct rollout *r,
                               const struct counts *k, long long now, long long *until, char *msg,
                               size_t size)
{
	*until = 0;
	char when[32];
	long long pct = r->stages[r->stage];
	if (strcmp(r->state, "running") != 0) {
		snprintf(msg, size, "the rollout is %s", r->state);
		return r->state;
	}
	if (r->stage_started + r->stage_wait > now) {
		*until = r->stage_started + r->stage_wait;
		iso_time(*until, when);
		snprintf(msg, size, "stage %lld of %zu (%lld %%) lasts until %s", r->stage + 1,
		         r->n, pct, when);
		return "stage-wait";
	}
	if (k->ok < r->min_ok) {
		snprintf(msg, size,
		         "stage %lld of %zu (%lld %%): %lld of the %lld devices needed reported ok",
		         r->stage + 1, r->n, pct, k->ok, r->min_ok);
		return "too-few-ok";
	}
	long long failures, ratio;
	thresholds(st, r, &failures, &ratio);
	if (failures <= 0) { /* halting is off: the store's rule still gates moving on */
		failures = st->halt_failures ? st->halt_failures : HALT_FAILURES_DEFAULT;
		ratio = st->halt_failures ? st->halt_ratio : HALT_RATIO_DEFAULT;
	}
	if (k->failed >= failures && k->failed * 100 >= ratio * k->reporting) {
		snprintf(
		    msg, size,
		    "stage %lld of %zu (%lld %%): %lld of %lld devices failed (halting is off)",
		    r->stage + 1, r->n, pct, k->failed, k->reporting);
		return "failures";
	}
	return NULL;
}

/* Record an event of r (its state and stage as they are now), keep the
 * newest ROLLOUT_EVENTS_KEEP and every start of a stage (stage_counts
 * needs them), and send it to the webhooks (hook: the X-Ferry-Event, NULL
 * for none). */
static int event(struct db *db, const struct rollout *r, const char *what, const char *hook,
                 const struct halt *h, ferry_error *err)
{
	char now[24], id[24], stage[24], pct[24], f[24], n[24], keep[24];
	long long t = store_now();
	int rc = db_run(db, NULL, err,
	                "INSERT INTO rollout_events (rollout, time, event, stage, percentage, "
	                "failed, reporting) VALUES ($1, $2, $3, $4, $5, $6, $7)",
	                num(id, r->id), num(now, t), what, num(stage, r->stage),
	                num(pct, r->stages[r->stage]), h ? num(f, h->failed) : NULL,
	                h ? num(n, h->reporting) : NULL);
	if (rc == 0)
		rc = db_run(db, NULL, err,
		            "DELETE FROM rollout_events WHERE rollout = $1 AND event NOT IN "
		            "('started', 'stage') AND id NOT IN (SELECT id FROM rollout_events "
		            "WHERE rollout = $1 ORDER BY id DESC LIMIT $2)",
		            id, num(keep, ROLLOUT_EVENTS_KEEP));
	if (rc < 0 || !hook)
		return rc;
	struct counts k = {0};
	if ((rc = report_counts(db, r, 0, LLONG_MAX, &k, err)) < 0)
		return rc;
	json_t *body =
	    json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:I, s:{s:I, s:I, s:I}}", "event",
	              hook, "package", r->package, "channel", r->channel, "revision",
	              (json_int_t)r->revision, "time", (json_int_t)t, "rollout", (json_int_t)r->id,
	              "state", r->state, "stage", (json_int_t)r->stage, "percentage",
	              (json_int_t)r->stages[r->stage], "counts", "ok", (json_int_t)k.ok,
	              "rolled-back", (json_int_t)k.failed, "reporting", (json_int_t)k.reporting);
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	return webhooks_queue_event(db, r->package, hook, text, err);
}

/* End r in state (halted, stopped, superseded, done). */
static int finish(struct db *db, struct rollout *r, const char *state, const struct halt *h,
                  ferry_error *err)
{
	char id[24], now[24], stage[24];
	snprintf(r->state, sizeof(r->state), "%s", state);
	r->finished = store_now();
	int rc = db_run(db, NULL, err,
	                "UPDATE rollouts SET state = $2, finished = $3, stage = $4 WHERE id = $1",
	                num(id, r->id), state, num(now, r->finished), num(stage, r->stage));
	if (rc == 0)
		rc = event(db, r, state, "rollout-finished", h, err);
	if (rc == 0)
		log_info("rollout %lld of %s revision %lld on %s: %s", r->id, r->package,
		         r->revision, r->channel, state);
	return rc;
}

int rollout_spec_parse(json_t *body, struct rollout_spec *spec, bool *given, ferry_error *err)
{
	memset(spec, 0, sizeof(*spec));
	spec->stage_wait = ROLLOUT_STAGE_WAIT_DEFAULT;
	spec->min_ok = ROLLOUT_MIN_OK_DEFAULT;
	json_t *st = json_object_get(body, "stages");
	json_t *wait = json_object_get(body, "stage-wait"),
	       *min = json_object_get(body, "stage-min-ok");
	*given = st && !json_is_null(st);
	if (!*given) {
		if ((wait && !json_is_null(wait)) || (min && !json_is_null(min)))
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "\"stage-wait\" and \"stage-min-ok\" need \"stages\"");
		return 0;
	}
	json_t *p = json_object_get(body, "progressive");
	if (p && !json_is_null(p))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "\"stages\" and \"progressive\" contradict each other");
	size_t i;
	json_t *v;
	if (!json_is_array(st) || json_array_size(st) < 2 ||
	    json_array_size(st) > ROLLOUT_STAGES_MAX)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "\"stages\": expected 2 to %d percentages",
		                       ROLLOUT_STAGES_MAX);
	json_array_foreach(st, i, v)
	{
		long long x = json_is_integer(v) ? json_integer_value(v) : -1;
		if (x < 1 || x > 100 || (i > 0 && x <= spec->stages[i - 1]))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "\"stages\": expected percentages from 1 to 100, "
			                       "each larger than the one before");
		spec->stages[spec->n++] = x;
	}
	if (spec->stages[spec->n - 1] != 100)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "\"stages\": the last stage must be 100");
	if (wait && !json_is_null(wait)) {
		if (!json_is_integer(wait) || json_integer_value(wait) < 1 ||
		    json_integer_value(wait) > ROLLOUT_STAGE_WAIT_MAX)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "\"stage-wait\": expected seconds from 1 to %lld",
			                       ROLLOUT_STAGE_WAIT_MAX);
		spec->stage_wait = json_integer_value(wait);
	}
	if (min && !json_is_null(min)) {
		if (!json_is_integer(min) || json_integer_value(min) < 0 ||
		    json_integer_value(min) > ROLLOUT_MIN_OK_MAX)
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "\"stage-min-ok\": expected a number of devices from 0 "
			    "to %d",
			    ROLLOUT_MIN_OK_MAX);
		spec->min_ok = json_integer_value(min);
	}
	return 0;
}

int rollout_begin(struct db *db, const char *package, const struct channel *ch, long long rev,
                  const struct rollout_spec *spec, const struct release_limits *limits,
                  long long *id, ferry_error *err)
{
	char name[CHANNEL_NAME_MAX + 1], revs[24], now[24], wait[24], min[24], hf[24], hr[24];
	char stages[ROLLOUT_STAGES_MAX * 5 + 3] = "[";
	for (size_t i = 0; i < spec->n; i++)
		snprintf(stages + strlen(stages), sizeof(stages) - strlen(stages), "%s%lld",
		         i ? "," : "", spec->stages[i]);
	strcat(stages, "]");
	channel_format(ch, name, sizeof(name));
	long long t = store_now();
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_run(
	    db, &rows, err,
	    "INSERT INTO rollouts (package, track, risk, branch, channel, revision, stages, stage, "
	    "stage_wait, min_ok, halt_failures, halt_ratio, state, started, stage_started, "
	    "after_report) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, 'running', "
	    "$12, $12, (SELECT COALESCE(MAX(id), 0) FROM reports)) RETURNING id",
	    package, ch->track, channel_risk_name(ch->risk), ch->branch, name, num(revs, rev),
	    stages, num(wait, spec->stage_wait), num(min, spec->min_ok),
	    limits->failures >= 0 ? num(hf, limits->failures) : NULL,
	    limits->ratio >= 0 ? num(hr, limits->ratio) : NULL, num(now, t));
	if (rc < 0)
		return rc;
	*id = db_cell_ll(&rows, 0, 0);
	struct rollout r;
	bool found = false;
	if ((rc = load(db, *id, false, &r, &found, err)) < 0)
		return rc;
	rc = event(db, &r, "started", NULL, NULL, err);
	if (rc == 0)
		rc = jobs_enqueue(db, "rollout", num(revs, *id), t + spec->stage_wait, err);
	if (rc == 0)
		log_info("rollout %lld of %s revision %lld on %s: stages %s, %lld s each", *id,
		         package, rev, name, stages, spec->stage_wait);
	return rc;
}

/* The active rollouts of a channel (rows of COLUMNS). */
static int active_on(struct db *db, const char *package, const struct channel *ch,
                     struct db_rows *rows, ferry_error *err)
{
	return db_run(db, rows, err,
	              "SELECT " COLUMNS " FROM rollouts WHERE package = $1 AND track = $2 AND "
	              "risk = $3 AND branch = $4 AND " ACTIVE " ORDER BY id",
	              package, ch->track, channel_risk_name(ch->risk), ch->branch);
}

int rollout_supersede(struct db *db, const char *package, const struct channel *ch,
                      ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = active_on(db, package, ch, &rows, err);
	for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
		struct rollout r;
		row_load(&rows, i, &r);
		rc = finish(db, &r, "superseded", NULL, err);
	}
	return rc;
}

int rollout_halted(struct db *db, const char *package, const struct channel *ch,
                   const struct halt *h, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	long long rollout = 0;
	int rc = active_on(db, package, ch, &rows, err);
	for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
		struct rollout r;
		row_load(&rows, i, &r);
		if (r.revision != h->revision)
			continue;
		rollout = r.id;
		rc = finish(db, &r, "halted", h, err);
	}
	if (rc < 0)
		return rc;
	json_t *body = json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:o, s:s, s:I, s:I, s:o}", "event", "release-halted",
	    "package", package, "channel", h->channel, "revision", (json_int_t)h->revision, "time",
	    (json_int_t)store_now(), "rollout", rollout ? json_integer(rollout) : json_null(),
	    "kind", h->kind, "failed", (json_int_t)h->failed, "reporting", (json_int_t)h->reporting,
	    "restored", h->restored ? json_integer(h->restored) : json_null());
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	return webhooks_queue_event(db, package, "release-halted", text, err);
}

/* Move r to its next stage (inside the job's transaction): raise the
 * percentage, or complete the release at 100 %. */
static int advance(struct db *db, struct rollout *r, ferry_error *err)
{
	char rev[24], now[24], pct[24], id[24], stage[24];
	const char *risk = channel_risk_name(r->ch.risk);
	r->stage++;
	r->stage_started = store_now();
	num(rev, r->revision);
	num(now, r->stage_started);
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_run(db, &rows, err,
	                "SELECT arch FROM channels WHERE package = $1 AND track = $2 AND risk = $3 "
	                "AND branch = $4 AND progressive_revision = $5 ORDER BY arch",
	                r->package, r->ch.track, risk, r->ch.branch, rev);
	if (rc < 0)
		return rc;
	if (rows.nrows == 0) /* withdrawn by something that did not end the rollout */
		return finish(db, r, "superseded", NULL, err);
	bool last = r->stages[r->stage] >= 100;
	if (last) {
		struct release_limits limits = {r->halt_failures, r->halt_ratio};
		for (size_t i = 0; rc == 0 && i < rows.nrows; i++)
			rc = release_row(db, r->package, &r->ch, db_cell(&rows, i, 0), r->revision,
			                 100, &limits, err);
	} else {
		rc = db_run(
		    db, NULL, err,
		    "UPDATE channels SET progressive_pct = $6, updated = $7 WHERE package = $1 "
		    "AND track = $2 AND risk = $3 AND branch = $4 AND progressive_revision = $5",
		    r->package, r->ch.track, risk, r->ch.branch, rev, num(pct, r->stages[r->stage]),
		    now);
	}
	if (rc == 0)
		rc = release_bump(db, r->package, err);
	if (rc == 0)
		rc = db_run(db, NULL, err,
		            "UPDATE rollouts SET stage = $2, stage_started = $3 WHERE id = $1",
		            num(id, r->id), num(stage, r->stage), now);
	if (rc == 0)
		rc = event(db, r, "stage", "rollout-stage", NULL, err);
	if (rc == 0)
		log_info("rollout %lld of %s revision %lld on %s: stage %lld (%lld %%)", r->id,
		         r->package, r->revision, r->channel, r->stage + 1, r->stages[r->stage]);
	if (rc == 0 && last)
		rc = finish(db, r, "done", NULL, err);
	return rc;
}

int rollout_job(struct store *st, struct db *db, const char *arg, bool *again, long long *next,
                ferry_error *err)
{
	unsigned long long id = 0;
	*again = false;
	if (str_to_u64(arg, (unsigned long long)1 << 62, &id) < 0)
		return ferry_error_set(err, FERRY_E_INVALID, "rollout job: bad id %s", arg);
	struct rollout r;
	bool found = false;
	int rc = db_begin(db, true, err);
	if (rc == 0 && db_dialect(db) == DB_POSTGRES) /* serialised with the package's reports */
		rc = db_run(db, NULL, err,
		            "SELECT name FROM packages WHERE name = (SELECT package FROM rollouts "
		            "WHERE id = $1) FOR UPDATE",
		            arg);
	if (rc == 0)
		rc = load(db, (long long)id, true, &r, &found, err);
	if (rc < 0 || !found || strcmp(r.state, "running") != 0) {
		db_rollback(db);
		return rc; /* paused: resume queues the job again */
	}
	struct counts k;
	long long now = store_now(), until = 0;
	char msg[256];
	rc = counts_all(db, &r, &k, err);
	const char *why = rc == 0 ? why_waiting(st, &r, &k, now, &until, msg, sizeof(msg)) : NULL;
	if (rc < 0 || why) {
		db_rollback(db);
		*again = true;
		long long every =
		    r.stage_wait < CHECK_EVERY_MAX_S ? r.stage_wait : CHECK_EVERY_MAX_S;
		*next = until > now ? until : now + every;
		return rc;
	}
	rc = advance(db, &r, err);
	if (rc == 0)
		rc = db_commit(db, err);
	if (rc < 0) {
		db_rollback(db);
		*again = true;
		*next = now + JOBS_RETRY_S;
		return rc;
	}
	metrics_stage(st->metrics);
	publish_or_queue(st, db, r.package);
	*again = strcmp(r.state, "running") == 0;
	*next = r.stage_started + r.stage_wait;
	return 0;
}

int rollout_job_prune(struct store *st, struct db *db, const char *arg, bool *again,
                      long long *next, ferry_error *err)
{
	(void)arg;
	*again = true;
	*next = store_now() + PRUNE_EVERY_S;
	if (st->rollouts_days == 0) /* kept forever */
		return 0;
	char cut[24], lim[24];
	num(cut, store_now() - (long long)st->rollouts_days * 86400);
	num(lim, PRUNE_BATCH);
	/* the same rows twice in one transaction: their events, then them */
	_cleanup_rows_ struct db_rows gone = DB_ROWS_INIT;
	int rc = db_begin(db, true, err);
	if (rc == 0)
		rc = db_run(db, NULL, err,
		            "DELETE FROM rollout_events WHERE rollout IN (SELECT id FROM rollouts "
		            "WHERE " FINISHED " AND finished < $1 ORDER BY id LIMIT $2)",
		            cut, lim);
	if (rc == 0)
		rc = db_run(
		    db, &gone, err,
		    "DELETE FROM rollouts WHERE id IN (SELECT id FROM rollouts WHERE " FINISHED
		    " AND finished < $1 ORDER BY id LIMIT $2)",
		    cut, lim);
	if (rc == 0)
		rc = db_commit(db, err);
	if (rc < 0) {
		db_rollback(db);
		*next = store_now() + JOBS_RETRY_S;
		return rc;
	}
	if (gone.changes >= PRUNE_BATCH) /* more to delete: at the next pass */
		*next = store_now();
	if (gone.changes)
		log_info("rollouts: deleted %llu that finished more than %u days ago",
		         (unsigned long long)gone.changes, st->rollouts_days);
	return 0;
}

/* ------------------------------------------------------------------ */
/* what the API shows                                                   */

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

/* The chart's points: cumulated devices ok and failed, and the percentage
 * in force, at each event, each bucket's end and the end. */
static int series(struct db *db, const struct rollout *r, const struct db_rows *events,
                  long long end, json_t **out, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rep = DB_ROWS_INIT;
	char alt[CHANNEL_NAME_MAX + 1], rev[24], after[24];
	channel_short_name(&r->ch, alt, sizeof(alt));
	int rc =
	    db_run(db, &rep, err,
	           "SELECT device, result, received FROM reports WHERE package = $1 AND "
	           "to_revision = $2 AND channel IN ($3, $4) AND id > $5 ORDER BY received, id",
	           r->package, num(rev, r->revision), r->channel, alt, num(after, r->after));
	if (rc < 0)
		return rc;
	long long times[SERIES_BUCKETS + SERIES_EVENTS + 2];
	size_t nt = 0;
	long long span = end > r->started ? end - r->started : 0;
	for (size_t i = 0; i <= SERIES_BUCKETS && span > 0; i++)
		times[nt++] = r->started + span * (long long)i / SERIES_BUCKETS;
	size_t first = events->nrows > SERIES_EVENTS ? events->nrows - SERIES_EVENTS : 0;
	for (size_t i = first; i < events->nrows; i++)
		times[nt++] = db_cell_ll(events, i, 0);
	times[nt++] = end;
	qsort(times, nt, sizeof(times[0]), cmp_ll);
	json_t *list = json_array(), *ok = json_object(), *failed = json_object();
	size_t ri = 0, ei = 0;
	long long pct = r->stages[0], last = -1;
	for (size_t i = 0; i < nt; i++) {
		long long t = times[i];
		if (t == last)
			continue;
		last = t;
		for (; ri < rep.nrows && db_cell_ll(&rep, ri, 2) <= t; ri++)
			json_object_set_new(strcmp(db_cell(&rep, ri, 1), "ok") == 0 ? ok : failed,
			                    db_cell(&rep, ri, 0), json_true());
		for (; ei < events->nrows && db_cell_ll(events, ei, 0) <= t; ei++)
			pct = db_cell_ll(events, ei, 3);
		json_array_append_new(list, json_pack("{s:I, s:I, s:I, s:I}", "time", (json_int_t)t,
		                                      "percentage", (json_int_t)pct, "ok",
		                                      (json_int_t)json_object_size(ok), "failed",
		                                      (json_int_t)json_object_size(failed)));
	}
	json_decref(ok);
	json_decref(failed);
	*out = list;
	return 0;
}

static json_t *events_json(const struct db_rows *ev)
{
	json_t *list = json_array();
	for (size_t i = 0; i < ev->nrows; i++) {
		json_t *e =
		    json_pack("{s:I, s:s, s:I, s:I}", "time", (json_int_t)db_cell_ll(ev, i, 0),
		              "event", db_cell(ev, i, 1), "stage", (json_int_t)db_cell_ll(ev, i, 2),
		              "percentage", (json_int_t)db_cell_ll(ev, i, 3));
		if (db_cell(ev, i, 4)) {
			json_object_set_new(e, "failed", json_integer(db_cell_ll(ev, i, 4)));
			json_object_set_new(e, "reporting", json_integer(db_cell_ll(ev, i, 5)));
		}
		json_array_append_new(list, e);
	}
	return list;
}

/* For each stage reached so far, the devices that reported the revision
 * ok and rolled back (or failed) during it: a report counts in the stage
 * during which the store received it (to the second), the stage reached
 * last taking every report since it began. A stage begins at its "stage"
 * event (events: rows of time, event, stage); one whose event is missing
 * (pruned before they were kept) begins where the one before it did. */
static int stage_counts(struct db *db, const struct rollout *r, const struct db_rows *events,
                        json_t **out, ferry_error *err)
{
	long long start[ROLLOUT_STAGES_MAX] = {0};
	for (size_t i = 0; i < events->nrows; i++) {
		long long stage = db_cell_ll(events, i, 2);
		if (strcmp(db_cell(events, i, 1), "stage") == 0 && stage > 0 && stage <= r->stage &&
		    start[stage] == 0)
			start[stage] = db_cell_ll(events, i, 0);
	}
	for (long long s = 1; s <= r->stage; s++)
		if (start[s] == 0 || start[s] < start[s - 1])
			start[s] = start[s - 1];
	json_t *list = json_array();
	for (long long s = 0; s <= r->stage; s++) {
		struct counts k = {0};
		long long to = s < r->stage ? start[s + 1] : LLONG_MAX;
		int rc = report_counts(db, r, start[s], to, &k, err);
		if (rc < 0) {
			json_decref(list);
			return rc;
		}
		json_array_append_new(
		    list, json_pack("{s:I, s:I, s:I, s:I, s:I}", "stage", (json_int_t)s,
		                    "percentage", (json_int_t)r->stages[s], "started",
		                    (json_int_t)(start[s] ? start[s] : r->started), "ok",
		                    (json_int_t)k.ok, "rolled-back", (json_int_t)k.failed));
	}
	*out = list;
	return 0;
}

json_t *rollout_show(struct store *st, struct db *db, long long id, ferry_error *err)
{
	struct rollout r;
	bool found = false;
	struct counts k;
	_cleanup_rows_ struct db_rows ev = DB_ROWS_INIT, job = DB_ROWS_INIT;
	char ids[24];
	if (load(db, id, false, &r, &found, err) < 0)
		return NULL;
	if (!found) {
		ferry_error_set(err, FERRY_E_NOTFOUND, "no rollout %lld", id);
		return NULL;
	}
	if (counts_all(db, &r, &k, err) < 0 ||
	    db_run(db, &ev, err,
	           "SELECT time, event, stage, percentage, failed, reporting FROM rollout_events "
	           "WHERE rollout = $1 ORDER BY id",
	           num(ids, id)) < 0 ||
	    db_run(db, &job, err, "SELECT run_after FROM jobs WHERE kind = 'rollout' AND arg = $1",
	           ids) < 0)
		return NULL;
	long long now = store_now(), until = 0, failures, ratio;
	char msg[256];
	const char *why = why_waiting(st, &r, &k, now, &until, msg, sizeof(msg));
	json_t *chart = NULL, *per_stage = NULL;
	/* up to now, also for an ended rollout: late reports count as its
	 * counts do */
	if (series(db, &r, &ev, now, &chart, err) < 0)
		return NULL;
	if (stage_counts(db, &r, &ev, &per_stage, err) < 0) {
		json_decref(chart);
		return NULL;
	}
	thresholds(st, &r, &failures, &ratio);
	json_t *stages = json_array();
	for (size_t i = 0; i < r.n; i++)
		json_array_append_new(stages, json_integer(r.stages[i]));
	bool active = strcmp(r.state, "running") == 0 || strcmp(r.state, "paused") == 0;
	json_t *waiting = why ? json_pack("{s:s, s:o, s:s}", "reason", why, "until",
	                                  until ? json_integer(until) : json_null(), "message", msg)
	                      : json_null();
	return json_pack(
	    "{s:I, s:s, s:I, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, "
	    "s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:o, s:o}",
	    "id", (json_int_t)r.id, "channel", r.channel, "revision", (json_int_t)r.revision,
	    "state", r.state, "stages", stages, "stage", (json_int_t)r.stage, "percentage",
	    (json_int_t)r.stages[r.stage], "stage-wait", (json_int_t)r.stage_wait, "stage-min-ok",
	    (json_int_t)r.min_ok, "halt-failures", (json_int_t)failures, "halt-ratio",
	    (json_int_t)ratio, "started", (json_int_t)r.started, "stage-started",
	    (json_int_t)r.stage_started, "finished",
	    r.finished ? json_integer(r.finished) : json_null(), "next-check",
	    active && job.nrows ? json_integer(db_cell_ll(&job, 0, 0)) : json_null(), "counts",
	    "ok", (json_int_t)k.ok, "rolled-back", (json_int_t)k.failed, "pending",
	    (json_int_t)k.pending, "not-seen", (json_int_t)k.not_seen, "outside",
	    (json_int_t)k.outside, "reporting", (json_int_t)k.reporting, "stage-counts", per_stage,
	    "waiting", waiting, "series", chart, "events", events_json(&ev));
}

/* ------------------------------------------------------------------ */
/* routes                                                               */

/* The rows of COLUMNS for ?channel= (or every channel), active only
 * unless all. */
static int select_rollouts(struct api_ctx *c, const char *channel, bool all, struct db_rows *rows,
                           ferry_error *err)
{
	struct channel ch;
	if (channel && channel_parse(channel, &ch, err) < 0)
		return FERRY_E_INVALID;
	const char *state = all ? "" : " AND " ACTIVE;
	char sql[512];
	if (channel) {
		snprintf(sql, sizeof(sql),
		         "SELECT " COLUMNS " FROM rollouts WHERE package = $1 AND track = $2 AND "
		         "risk = $3 AND branch = $4%s ORDER BY id DESC LIMIT 100",
		         state);
		return db_run(c->db, rows, err, sql, c->package, ch.track,
		              channel_risk_name(ch.risk), ch.branch);
	}
	snprintf(sql, sizeof(sql),
	         "SELECT " COLUMNS " FROM rollouts WHERE package = $1%s ORDER BY id DESC LIMIT 100",
	         state);
	return db_run(c->db, rows, err, sql, c->package);
}

void rollout_h_list(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	bool all = c->q_all && strcmp(c->q_all, "0") != 0;
	int rc = select_rollouts(c, c->q_channel, all, &rows, &err);
	if (rc == FERRY_E_INVALID)
		return api_error(c, 400, "invalid-channel", "channel: %s", ferry_error_msg(&err));
	if (rc < 0)
		return api_error_from(c, rc, &err);
	json_t *list = json_array();
	for (size_t i = 0; i < rows.nrows; i++) {
		json_t *one = rollout_show(c->st, c->db, db_cell_ll(&rows, i, 0), &err);
		if (!one && err.code == FERRY_E_NOTFOUND) { /* deleted meanwhile (rollout-prune) */
			err = (ferry_error){0};
			continue;
		}
		if (!one) {
			json_decref(list);
			return api_error_from(c, FERRY_E_DB, &err);
		}
		json_array_append_new(list, one);
	}
	api_reply(c, 200, json_pack("{s:s, s:o}", "package", c->package, "rollouts", list));
}

/* Apply action to r (inside the transaction): 0, or an error reply. */
static int act(struct api_ctx *c, struct rollout *r, const char *action, bool *map_changed,
               ferry_error *err)
{
	char id[24], now[24], rev[24];
	num(id, r->id);
	num(now, store_now());
	bool running = strcmp(r->state, "running") == 0, paused = strcmp(r->state, "paused") == 0;
	if ((strcmp(action, "pause") == 0 && !running) ||
	    (strcmp(action, "resume") == 0 && !paused) ||
	    (strcmp(action, "stop") == 0 && !running && !paused)) {
		api_error(c, 409, "conflict",
		          "cannot %s the rollout of revision %lld on %s: it is %s", action,
		          r->revision, r->channel, r->state);
		return FERRY_E_EXISTS;
	}
	int rc;
	if (strcmp(action, "pause") == 0) {
		snprintf(r->state, sizeof(r->state), "paused");
		rc = db_run(c->db, NULL, err, "UPDATE rollouts SET state = 'paused' WHERE id = $1",
		            id);
		if (rc == 0)
			rc = event(c->db, r, "paused", "rollout-paused", NULL, err);
	} else if (strcmp(action, "resume") == 0) {
		snprintf(r->state, sizeof(r->state), "running");
		r->stage_started = store_now();
		rc = db_run(
		    c->db, NULL, err,
		    "UPDATE rollouts SET state = 'running', stage_started = $2 WHERE id = $1", id,
		    now);
		if (rc == 0)
			rc = event(c->db, r, "resumed", "rollout-resumed", NULL, err);
		if (rc == 0)
			rc = jobs_enqueue(c->db, "rollout", id, r->stage_started + r->stage_wait,
			                  err);
	} else {
		rc = db_run(
		    c->db, NULL, err,
		    "UPDATE channels SET progressive_revision = NULL, progressive_pct = NULL, "
		    "progressive_after = NULL, halt_failures = NULL, halt_ratio = NULL, "
		    "updated = $6 WHERE package = $1 AND track = $2 AND risk = $3 AND "
		    "branch = $4 AND progressive_revision = $5",
		    r->package, r->ch.track, channel_risk_name(r->ch.risk), r->ch.branch,
		    num(rev, r->revision), now);
		if (rc == 0)
			rc = release_bump(c->db, r->package, err);
		if (rc == 0)
			rc = finish(c->db, r, "stopped", NULL, err);
		*map_changed = true;
	}
	if (rc < 0)
		api_error_from(c, rc, err);
	return rc;
}

void rollout_h_action(struct api_ctx *c)
{
	const char *action = c->arg;
	if (strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0 &&
	    strcmp(action, "stop") != 0)
		return api_error(c, 404, "not-found", "no rollout action %s (pause, resume, stop)",
		                 action);
	json_t *jc = json_object_get(c->body, "channel");
	if (jc && !json_is_null(jc) && !json_is_string(jc))
		return api_error(c, 400, "bad-request", "\"channel\": expected a channel name");
	const char *channel = json_string_value(jc);
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_begin(c->db, true, &err);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	if (api_authorise_package(c, true) < 0)
		goto out;
	rc = select_rollouts(c, channel, false, &rows, &err);
	if (rc == FERRY_E_INVALID) {
		api_error(c, 400, "invalid-channel", "channel: %s", ferry_error_msg(&err));
		goto out;
	}
	if (rc == 0 && rows.nrows == 0) {
		db_rows_free(&rows);
		rc = select_rollouts(c, channel, true, &rows, &err);
		if (rc == 0 && rows.nrows > 0)
			api_error(c, 409, "conflict", "the newest rollout of %s%s%s is %s",
			          c->package, channel ? " on " : "", channel ? channel : "",
			          db_cell(&rows, 0, 13));
		else if (rc == 0)
			api_error(c, 404, "not-found", "%s has no rollout%s%s", c->package,
			          channel ? " on " : "", channel ? channel : "");
		else
			api_error_from(c, rc, &err);
		goto out;
	}
	if (rc == 0 && rows.nrows > 1) {
		api_error(c, 409, "conflict",
		          "%s has %zu active rollouts: name the channel (the newest is on %s)",
		          c->package, rows.nrows, db_cell(&rows, 0, 5));
		goto out;
	}
	if (rc < 0) {
		api_error_from(c, rc, &err);
		goto out;
	}
	struct rollout r;
	row_load(&rows, 0, &r);
	bool map_changed = false;
	if (act(c, &r, action, &map_changed, &err) < 0)
		goto out;
	if ((rc = db_commit(c->db, &err)) < 0) {
		api_error_from(c, rc, &err);
		goto out;
	}
	if (map_changed)
		api_publish_after_commit(c);
	log_info("%s: %s the rollout %lld of %s revision %lld on %s", c->account, action, r.id,
	         c->package, r.revision, r.channel);
	json_t *one = rollout_show(c->st, c->db, r.id, &err);
	if (!one)
		return api_error_from(c, FERRY_E_DB, &err);
	return api_reply(c, 200, json_pack("{s:o}", "rollout", one));
out:
	db_rollback(c->db);
}
