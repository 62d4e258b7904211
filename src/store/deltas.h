/* deltas.h: delta updates in the store. Each time a package is published
 * (a release, a promotion, a halt), a job "delta NAME/REV" runs for every
 * revision its channels reference; it computes deltas to that revision from
 * the revisions devices on the package's channels can hold: what each
 * channel holds now, its progressive revision and the revision it held
 * before its last full release, and the DELTAS_FROM_MAX newest published
 * revisions before it (at most DELTAS_SOURCES_MAX in all, newest first);
 * it keeps each only when it is smaller than
 * DELTAS_KEEP_PCT of the full image, stores it as a blob and publishes it as
 * a TUF target NAME_FROM-TO.delta in the package's role (length and hashes;
 * custom {"package", "from", "to"}). Each pair is tried once. The delta
 * format and maker are lib/pkg/delta.h. Not here: the queue (jobs.h). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"
#include "db.h"
#include "store.h"
#include "tuf/repo.h"

#define DELTAS_FROM_MAX 3
#define DELTAS_SOURCES_MAX 8
/* Making a delta takes seconds (the whole image is rebuilt): the job runs
 * this long after the release, so that the jobs the release queued beside
 * it (vulnerability scans, webhooks) run first. */
#define DELTAS_DELAY_S 10
#define DELTAS_KEEP_PCT 60

/* The job: arg is "NAME/REV". */
int deltas_job(struct store *st, struct db *db, const char *arg, bool *again, long long *next,
               ferry_error *err) FERRY_WUR;

/* Queue the job for revision rev of package (publish.c, for every revision
 * a channel references, each time it publishes the package). */
int deltas_queue(struct db *db, const char *package, const char *rev, ferry_error *err) FERRY_WUR;

/* Add the kept deltas of package not yet published to repo as targets,
 * before the repository commits; *rows gets the pairs added, for
 * deltas_mark_published after the commit. */
int deltas_add_targets(struct store *st, struct tuf_repo *repo, struct db *db, const char *package,
                       struct db_rows *rows, ferry_error *err) FERRY_WUR;
/* Add "downloads" to a channel map: for the newest revisions devices
 * reported downloading, [{revision, downloads, deltas, downloaded, saved}]
 * (bytes, from the reports the store keeps). */
int deltas_annotate(struct db *db, const char *package, json_t *map, ferry_error *err) FERRY_WUR;
int deltas_mark_published(struct db *db, const char *package, const struct db_rows *rows,
                          ferry_error *err) FERRY_WUR;
