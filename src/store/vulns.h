/* vulns.h: vulnerability notices in the store: advisories imported into the
 * database, the components of revisions, and the evaluation of released
 * revisions into findings with their history (vulns.c, the domain). The
 * other layers have their own files: the scan jobs (vulns_job.h), the
 * publisher's route (vulns_routes.h), the `ferry-store vulns` commands
 * (vulns_admin.h), and webhooks that deliver notices (webhooks.h).
 *
 * How it fits the store
 *   - `ferry-store vulns import PATH` writes advisories (vulns_import) and,
 *     in the same transactions, queues a `vulnkey FAMILY:NAME` job for each
 *     package name whose advisories changed and that some revision bundles.
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
 * Not here: the matching itself (lib/vuln), HTTP, jobs, command lines. */
#pragma once

#include <stddef.h>

#include "base/error.h"
#include "db.h"

/* Evaluate one package: every component of its released revisions (key
 * NULL), or only those advisories know as family:name. Used by the jobs and
 * the benchmark. */
int vulns_evaluate(struct db *db, const char *package, const char *family, const char *name,
                   ferry_error *err) FERRY_WUR;
/* Evaluate the advisories of family:name in every package that bundles it
 * in a released revision or holds open findings for it, several packages
 * per transaction. */
int vulns_evaluate_key(struct db *db, const char *family, const char *name,
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
