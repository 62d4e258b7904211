/* updater.h: the TUF client, following the detailed client workflow of the
 * TUF specification 1.0 (section 5) step by step:
 *
 *  5.2  load the trusted root from METADATA_DIR/root.json; it must be signed
 *       by a threshold of its own root keys.
 *  5.3  update root: fetch N+1.root.json, N+2, ... until 404 (at most
 *       max_root_rotations); each must be signed by a threshold of the
 *       trusted root's root keys and of its own, and carry version exactly
 *       N+1; each is stored as it verifies. Then the final root must not be
 *       expired. If the timestamp or snapshot keys changed, the stored
 *       timestamp and snapshot are deleted (fast-forward attack recovery).
 *  5.4  timestamp: fetch timestamp.json (at most max_timestamp_length),
 *       check signatures, refuse a version below the trusted one (an equal
 *       version keeps the trusted copy), refuse a snapshot version below the
 *       trusted timestamp's, refuse it expired.
 *  5.5  snapshot: use the stored snapshot if it verifies and is the version
 *       the timestamp names; else fetch [VERSION.]snapshot.json (length and
 *       hashes from the timestamp when given), check signatures, refuse a
 *       version other than the timestamp's, a role that disappeared or whose
 *       version went down since the trusted snapshot, and expiry.
 *  5.6  targets: likewise for targets.json against the snapshot (hashes,
 *       length, version) and the root's targets keys, then delegated roles on
 *       demand: a depth-first, pre-order search in order of appearance that
 *       honours path patterns, path hash prefixes, succinct hash bins and
 *       terminating delegations, visiting at most max_delegations roles.
 *       A role reached through another delegator than before is verified
 *       again against that delegator's keys.
 *  5.7  targets files: downloaded ([HASH.]NAME under consistent snapshots)
 *       to a temporary file next to the destination, at most their length,
 *       and renamed into place only after length and every hash verified.
 *
 * Local state: METADATA_DIR holds only metadata that verified, as the exact
 * bytes received, under unversioned names (root.json, timestamp.json,
 * snapshot.json, targets.json, and ROLE.json with ROLE percent-encoded),
 * written atomically. Time is read once per updater from time(NULL).
 * Failures leave what was trusted before untouched. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"
#include "http/http.h"
#include "tuf/metadata.h"

#define TUF_MAX_ROOT_LENGTH 512000
#define TUF_MAX_TIMESTAMP_LENGTH 16384
#define TUF_MAX_SNAPSHOT_LENGTH 2000000
#define TUF_MAX_TARGETS_LENGTH 5000000
#define TUF_MAX_ROOT_ROTATIONS 256
#define TUF_MAX_DELEGATIONS 32

struct tuf_updater_config {
	const char *metadata_dir;    /* required */
	const char *metadata_url;    /* required for refresh; with or without '/' */
	const char *target_base_url; /* required to download targets */
	/* 0 means the default above */
	size_t max_root_length;
	size_t max_timestamp_length;
	size_t max_snapshot_length;
	size_t max_targets_length;
	unsigned max_root_rotations;
	unsigned max_delegations;
	/* Borrowed; NULL: the updater makes its own. */
	struct http_client *http;
	/* Fetch targets as HASH.NAME when the root asks for consistent
	 * snapshots (default true; false for repositories that store targets
	 * under their plain names only). */
	bool no_hash_prefix;
	/* Reference time; 0: time(NULL) when the updater is made. */
	time_t now;
};

struct tuf_updater;

/* Trust root_bytes as the initial root: write it as METADATA_DIR/root.json
 * (the directory is created). No network. It is checked when used. */
int tuf_updater_init(const char *metadata_dir, const void *root_bytes, size_t len,
                     ferry_error *err) FERRY_WUR;

int tuf_updater_new(const struct tuf_updater_config *cfg, struct tuf_updater **out,
                    ferry_error *err) FERRY_WUR;
void tuf_updater_free(struct tuf_updater *u);

static inline void tuf_updater_freep(struct tuf_updater **u)
{
	if (*u)
		tuf_updater_free(*u);
}
#define _cleanup_updater_ __attribute__((cleanup(tuf_updater_freep)))

/* Steps 5.2 to 5.6 for the top-level roles. */
int tuf_updater_refresh(struct tuf_updater *u, ferry_error *err) FERRY_WUR;

/* The signed description of target path (refreshing first if this updater
 * has not). FERRY_E_NOTFOUND when no trusted role lists it. The pointer is
 * valid as long as the updater. */
int tuf_updater_find_target(struct tuf_updater *u, const char *path, const struct tuf_target **out,
                            ferry_error *err) FERRY_WUR;

/* Does the file at path have exactly the target's length and hashes? */
bool tuf_target_file_matches(const struct tuf_target *t, const char *path);

/* Download t into dest (a file path), verified as in 5.7. */
int tuf_updater_download_target(struct tuf_updater *u, const struct tuf_target *t, const char *dest,
                                ferry_error *err) FERRY_WUR;

/* The trusted metadata of a role by name ("root", "timestamp", ...), or
 * NULL. Valid as long as the updater. */
const struct tuf_metadata *tuf_updater_trusted(const struct tuf_updater *u, const char *role);
