/* index.h: advisories in memory, found by the package they name, and the
 * components of many revisions, de-duplicated, with what affects each.
 *
 * The cost of a scan follows the number of distinct components, not
 * revisions x components x advisories: revisions share most of their
 * components, so each (ecosystem, release, name, version) is evaluated once,
 * and only against the records that name its package (a hash lookup on
 * ecosystem and name). Importing one advisory re-evaluates only the
 * components of the packages it names (before and after the change).
 *
 * Neither structure is thread-safe; one owner uses it at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "vuln/match.h"
#include "vuln/osv.h"

struct vuln_index;

int vuln_index_new(struct vuln_index **out, ferry_error *err) FERRY_WUR;
void vuln_index_free(struct vuln_index *ix);

enum vuln_put_result {
	VULN_PUT_ADDED,     /* a new id */
	VULN_PUT_REPLACED,  /* same id, different content, not older */
	VULN_PUT_UNCHANGED, /* same id, same content (digest): nothing changed */
	VULN_PUT_OLDER,     /* same id, modified earlier than what is held: kept */
};

const char *vuln_put_result_name(enum vuln_put_result r);

/* Called for each package a changed record named before or after the
 * change: family is the ecosystem without release ("Debian"). */
typedef int (*vuln_key_fn)(void *ctx, const char *family, const char *name);

/* Add or replace a record, keyed by id. Takes ownership of rec whatever the
 * outcome. A withdrawn record is held (so that re-importing it stays
 * unchanged) but never returned by lookups. on_key (may be NULL) hears of
 * every package whose findings may change. */
int vuln_index_put(struct vuln_index *ix, struct osv_record *rec, enum vuln_put_result *res,
                   vuln_key_fn on_key, void *ctx, ferry_error *err) FERRY_WUR;

const struct osv_record *vuln_index_get(const struct vuln_index *ix, const char *id);
size_t vuln_index_size(const struct vuln_index *ix);

/* The live records naming (family, name) in an affected entry; the array
 * stays valid until the next put. */
void vuln_index_lookup(const struct vuln_index *ix, const char *family, const char *name,
                       const struct osv_record *const **recs, size_t *n);

/* Every live record that affects c: fn(ctx, rec, fixed) for each, fixed
 * being the smallest fixed version above c's (NULL when none is known).
 * A record that cannot be evaluated for c (its version does not parse) is
 * skipped and counted in *skipped (may be NULL). */
typedef int (*vuln_hit_fn)(void *ctx, const struct osv_record *rec, const char *fixed);
int vuln_index_scan(const struct vuln_index *ix, const struct vuln_component *c, vuln_hit_fn fn,
                    void *ctx, size_t *skipped, ferry_error *err) FERRY_WUR;

/* ---- components of revisions ---- */

struct vuln_catalog;

struct vuln_scan_stats {
	size_t components; /* distinct components evaluated */
	size_t records;    /* record evaluations */
	size_t findings;   /* (component, advisory) pairs found */
	size_t skipped;    /* evaluations that failed (unparseable versions) */
};

int vuln_catalog_new(struct vuln_catalog **out, ferry_error *err) FERRY_WUR;
void vuln_catalog_free(struct vuln_catalog *cat);

/* Record that revision bundles the components of these purls. A purl whose
 * type ferry cannot match is counted in *unsupported (may be NULL) and
 * otherwise ignored; a malformed one fails. */
int vuln_catalog_add(struct vuln_catalog *cat, uint64_t revision, const char *const *purls,
                     size_t n, size_t *unsupported, ferry_error *err) FERRY_WUR;

size_t vuln_catalog_distinct(const struct vuln_catalog *cat);

/* Evaluate every distinct component (full scan) ... */
int vuln_catalog_scan_all(struct vuln_catalog *cat, const struct vuln_index *ix,
                          struct vuln_scan_stats *st, ferry_error *err) FERRY_WUR;

/* ... or only those of one package (after an import touched it). */
int vuln_catalog_scan_package(struct vuln_catalog *cat, const struct vuln_index *ix,
                              const char *family, const char *name, struct vuln_scan_stats *st,
                              ferry_error *err) FERRY_WUR;

/* The findings of one revision, from the last scan of its components. */
typedef int (*vuln_finding_fn)(void *ctx, uint64_t revision, const struct vuln_component *c,
                               const char *advisory, const char *fixed);
int vuln_catalog_findings(const struct vuln_catalog *cat, uint64_t revision, vuln_finding_fn fn,
                          void *ctx) FERRY_WUR;

/* The revisions that bundle a component of (family, name) with at least one
 * finding: fn(ctx, revision) once per revision. */
typedef int (*vuln_revision_fn)(void *ctx, uint64_t revision);
int vuln_catalog_affected_revisions(const struct vuln_catalog *cat, const char *family,
                                    const char *name, vuln_revision_fn fn, void *ctx) FERRY_WUR;
