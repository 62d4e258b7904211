/* vulns.h: vulnerability notices in the store: advisories imported into the
 * database, scans as jobs, findings with their history, the publisher's
 * routes, and webhooks that deliver notices (webhooks.c).
 *
 * How it fits the store
 *   - `ferry-store vulns import PATH` writes advisories (vulns.c) and, in the
 *     same transactions, queues a `vulnkey FAMILY:NAME` job for each package
 *     name whose advisories changed and that some revision bundles.
 *   - The job worker calls vulns_watch() each pass: every package whose
 *     channel map generation or next revision differs from what its
 *     findings were evaluated at gets a `vulnscan NAME` job. So an upload, a
 *     release, a promotion, a close or an expired branch is followed by a
 *     scan without the API having to remember to ask for one, and a crash
 *     between the two cannot lose it.
 *   - vulnscan reads the SBOM of revisions not yet indexed, then evaluates
 *     the components of the package's released revisions; vulnkey
 *     evaluates one advisory package name across every package bundling it.
 *     Both compare what holds now with the open findings in their scope,
 *     open and clear rows, and queue one webhook delivery per hook and
 *     notice, all in one transaction under the package's row lock.
 *   - A finding holds while its revision is released in at least one
 *     channel (or a progressive release) and a live advisory affects the
 *     component; otherwise it is cleared with the reason (not-released,
 *     withdrawn, not-affected) and kept.
 * Not here: the matching itself (lib/vuln). */
#pragma once

#include <stdbool.h>

#include "api.h"
#include "base/error.h"
#include "store.h"

/* --- ferry-store vulns (vulns.c): the arguments after the verb; exit status --- */
int vulns_main(int argc, char **argv);

/* --- jobs (vulns.c, webhooks.c) --- */
/* Queue scans for packages whose map changed since their last scan. */
int vulns_watch(struct db *db, ferry_error *err) FERRY_WUR;
/* Is kind one of the jobs below? */
bool vulns_job_kind(const char *kind);
/* Run one: vulnscan NAME, vulnkey FAMILY:NAME, webhook DELIVERY-ID.
 * again and next: whether and when the job table should run it again. */
int vulns_job_run(struct store *st, struct db *db, const char *kind, const char *arg, bool *again,
                  long long *next, ferry_error *err) FERRY_WUR;

/* Evaluate one package: every component of its released revisions (key
 * NULL), or only those advisories know as family:name. Used by the jobs and
 * the benchmark. */
int vulns_evaluate(struct db *db, const char *package, const char *family, const char *name,
                   ferry_error *err) FERRY_WUR;
/* Read the SBOMs of a package's revisions that are not indexed yet. */
int vulns_index_revisions(struct db *db, const char *package, ferry_error *err) FERRY_WUR;

/* Import advisories from path (file, directory or .zip); prints nothing.
 * Counts go to the vuln_sources row and *out (may be NULL). */
struct vulns_import_counts {
	size_t files, records, added, replaced, unchanged, older, withdrawn, rejected, jobs;
};
typedef void (*vulns_reject_fn)(void *ctx, const char *origin, const char *id,
                                const ferry_error *why);
int vulns_import(struct db *db, const char *path, vulns_reject_fn on_reject, void *ctx,
                 struct vulns_import_counts *out, ferry_error *err) FERRY_WUR;

/* Queue a delivery of notice body to every hook that covers package
 * (inside the caller's transaction). *queued gets how many. */
int webhooks_queue(struct db *db, const char *package, const char *state, const char *body,
                   size_t *queued, ferry_error *err) FERRY_WUR;
/* Attempt one delivery (the `webhook` job). */
int webhooks_deliver(struct store *st, struct db *db, const char *id, bool *again, long long *next,
                     ferry_error *err) FERRY_WUR;

/* --- API routes --- */
void vulns_h_findings(struct api_ctx *c);  /* GET /v1/packages/NAME/vulns */
void webhooks_h_list(struct api_ctx *c);   /* GET .../NAME/webhooks, /v1/account/webhooks */
void webhooks_h_add(struct api_ctx *c);    /* POST the same */
void webhooks_h_remove(struct api_ctx *c); /* DELETE .../webhooks/ID */
void webhooks_h_account_list(struct api_ctx *c);
void webhooks_h_account_add(struct api_ctx *c);
void webhooks_h_account_remove(struct api_ctx *c);
