/* osv.h: advisories in the OSV format (https://ossf.github.io/osv-schema/),
 * parsed into plain C records, and read from a file, a directory of .json
 * files or a .zip of them (osv.dev's per-ecosystem dumps).
 *
 * What is kept of a record: id, modified, published, withdrawn, aliases (and
 * `upstream`, which Debian's records use for the CVE they derive from),
 * summary, details (cut at a bound), severity entries (type and score string
 * as given: the CVSS vector is carried, not scored), a free-text severity
 * that databases write outside `severity` (database_specific.severity, or
 * the urgency Debian writes in ecosystem_specific/database_specific), and
 * affected[] with package {ecosystem, name, purl}, ranges of type ECOSYSTEM,
 * SEMVER and GIT with their events, and explicit versions. GIT ranges are
 * kept but never match: ferry knows bundled versions, not commits.
 *
 * Parsing is all or nothing: a record is either returned whole or refused
 * with an error that names the file, the id (when it has one) and the field.
 * Versions in ECOSYSTEM ranges of an ecosystem whose ordering ferry knows,
 * and in SEMVER ranges, must parse under that ordering; events are returned
 * sorted by version. Every count, string and the nesting depth are bounded
 * (struct osv_limits). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "vuln/semver.h"

enum osv_event_kind {
	OSV_EVENT_INTRODUCED,
	OSV_EVENT_FIXED,
	OSV_EVENT_LAST_AFFECTED,
	OSV_EVENT_LIMIT,
};

struct osv_event {
	enum osv_event_kind kind;
	char *version; /* "0" for an introduced event means "since the start" */
};

enum osv_range_type {
	OSV_RANGE_ECOSYSTEM,
	OSV_RANGE_SEMVER,
	OSV_RANGE_GIT, /* kept, never matched */
};

struct osv_range {
	enum osv_range_type type;
	struct osv_event *events; /* sorted by version under the range's ordering */
	size_t n_events;
};

struct osv_affected {
	char *ecosystem;             /* as written: "Debian:12", "npm", ... */
	char *name;                  /* for Debian and Ubuntu: the source package */
	char *purl;                  /* NULL when absent */
	enum vuln_ordering ordering; /* of ECOSYSTEM ranges, from the ecosystem */
	struct osv_range *ranges;
	size_t n_ranges;
	char **versions;
	size_t n_versions;
	char *severity; /* ecosystem_specific severity/urgency, or NULL */
};

struct osv_severity {
	char *type;  /* CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu, ... */
	char *score; /* the vector or label as given */
};

struct osv_record {
	char *id;
	char *modified;      /* RFC 3339, as given */
	int64_t modified_ts; /* seconds since the epoch, for ordering */
	char *published;     /* NULL when absent */
	char *withdrawn;     /* NULL unless withdrawn */
	char **aliases;      /* aliases then upstream ids, without duplicates */
	size_t n_aliases;
	char *summary;
	char *details; /* at most osv_limits.max_details bytes */
	struct osv_severity *severity;
	size_t n_severity;
	char *db_severity; /* database_specific severity/urgency, or NULL */
	struct osv_affected *affected;
	size_t n_affected;
	char digest[65]; /* SHA-256 (hex) of the record's canonical JSON */
	char *json;      /* that canonical JSON (compact, sorted keys, ASCII) when
	                  * the limits asked for it (keep_json), else NULL */
};

struct osv_limits {
	size_t max_file;    /* bytes of one JSON file or zip entry */
	size_t max_entries; /* files in a directory tree, entries in a zip */
	uint64_t max_total; /* uncompressed bytes read from one source */
	size_t max_depth;   /* JSON nesting */
	size_t max_string;  /* bytes of an id, name, version, alias... */
	size_t max_details; /* bytes of summary/details kept (longer is cut) */
	size_t max_aliases;
	size_t max_affected;
	size_t max_ranges;   /* per affected entry */
	size_t max_events;   /* per range */
	size_t max_versions; /* per affected entry */
	size_t max_severity;
	bool keep_json; /* keep the record's canonical JSON (osv_record.json) */
};

/* The defaults: 16 MiB per file, 1,000,000 entries, 8 GiB per source, depth
 * 32, strings 1 KiB, details 64 KiB, 1,000 aliases, 10,000 affected, 256
 * ranges, 1,024 events, 100,000 versions, 32 severities. */
void osv_limits_default(struct osv_limits *lim);

/* Parse one record from a JSON object. origin names where it came from
 * ("dump.zip:DSA-1-1.json") for messages. */
struct json_t;
int osv_record_from_json(struct json_t *obj, const char *origin, const struct osv_limits *lim,
                         struct osv_record **out, ferry_error *err) FERRY_WUR;

/* Parse one record from JSON text. */
int osv_record_parse(const char *data, size_t len, const char *origin, const struct osv_limits *lim,
                     struct osv_record **out, ferry_error *err) FERRY_WUR;

void osv_record_free(struct osv_record *rec);

/* A record parsed from a source. Return 0 to go on, or a negative ferry_err
 * to stop the import (it is returned by osv_import_path). The callback owns
 * rec and must free it. */
typedef int (*osv_record_fn)(void *ctx, struct osv_record *rec, const char *origin);

/* A record that was refused: origin names the file (and the zip entry),
 * id is NULL when the record had none that could be read. */
typedef void (*osv_reject_fn)(void *ctx, const char *origin, const char *id,
                              const ferry_error *why);

struct osv_import_stats {
	size_t files;    /* JSON files or zip entries read */
	size_t records;  /* records handed to on_record */
	size_t rejected; /* records or files refused */
	uint64_t bytes;  /* uncompressed bytes read */
};

/* Read every record under path: a .json file (one record, or an array of
 * records), a directory (its *.json files, recursively, in name order) or a
 * .zip (its *.json entries). A malformed record or file is reported through
 * on_reject and skipped; the source as a whole fails (FERRY_E_IO, _LIMIT,
 * _CORRUPT, ...) only when it cannot be read or breaks a source-wide bound,
 * and then records already handed on stay handed on. */
int osv_import_path(const char *path, const struct osv_limits *lim, osv_record_fn on_record,
                    osv_reject_fn on_reject, void *ctx, struct osv_import_stats *stats,
                    ferry_error *err) FERRY_WUR;

/* Parse an RFC 3339 UTC time ("2024-01-02T03:04:05Z", optional fraction,
 * "Z" or +00:00) into seconds since the epoch. */
int osv_parse_time(const char *s, int64_t *out) FERRY_WUR;
