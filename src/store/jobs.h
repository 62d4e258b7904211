/* jobs.h: the job table, a queue of work that must happen once however
 * many instances run (see jobs.c for how claiming works). A job is a kind
 * (a short name) and an argument; the queue stores, claims, finishes and
 * re-queues jobs and knows no kind. Not here: what a kind does and the
 * worker pass that runs them (job_kinds.h). */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "db.h"

#define JOBS_KIND_MAX 32 /* bytes of a kind, NUL included */
#define JOBS_ARG_MAX 256 /* bytes of an argument, NUL included */
#define JOBS_RETRY_S 30  /* a failed job runs again after this, unless its kind says */

/* Queue a job unless one of this kind and argument is queued already (that
 * one keeps the earlier time). One that is running is run again after. */
int jobs_enqueue(struct db *db, const char *kind, const char *arg, long long run_after,
                 ferry_error *err) FERRY_WUR;
/* Claim one due job: FOR UPDATE SKIP LOCKED on PostgreSQL, the single
 * writer on SQLite. Returns 1 with id/kind/arg filled, 0 when none is due. */
int jobs_claim(struct db *db, const char *owner, long long lease_s, long long *id,
               char kind[JOBS_KIND_MAX], char arg[JOBS_ARG_MAX], ferry_error *err) FERRY_WUR;

#define JOBS_LANE_KINDS_MAX 8 /* kinds a lane names at most */

/* A lane: the part of the queue one worker takes, so that a slow kind has a
 * worker of its own and never holds up the others. The queue still knows
 * no kind: the caller names them. kinds is NULL-terminated (at most
 * JOBS_LANE_KINDS_MAX); only: the jobs of those kinds, else every job of
 * any other kind (kinds unknown to the caller included). */
struct jobs_lane {
	const char *const *kinds;
	bool only;
};

/* jobs_claim within a lane (NULL: any job). The lease and the claim are the
 * same as jobs_claim's, so a job still runs once across instances whatever
 * lanes they run. */
int jobs_claim_lane(struct db *db, const struct jobs_lane *lane, const char *owner,
                    long long lease_s, long long *id, char kind[JOBS_KIND_MAX],
                    char arg[JOBS_ARG_MAX], ferry_error *err) FERRY_WUR;
/* Finish a claimed job: done, or back to the queue at run_after (with the
 * error recorded) when it failed or recurs. */
int jobs_finish(struct db *db, long long id, bool again, long long run_after, const char *error,
                ferry_error *err) FERRY_WUR;
