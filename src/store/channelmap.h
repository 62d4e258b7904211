/* channelmap.h: a package's channel map as the database holds it, resolved
 * the way devices and `ferry status` see it.
 *
 * For every track and architecture that holds anything, all four risks are
 * listed; a risk without a revision of its own (never released, or closed)
 * follows the next more stable risk of its track that has one ("follows"),
 * or holds nothing. Branches are listed after their risk while they have
 * not expired. A progressive release shows the revision that a share of
 * devices gets besides the one the rest keep. The JSON (also the TUF target
 * "channels.json" of the package's role) is:
 *   {"package": NAME, "generation": N, "tracks": [...],
 *    "channels": [{"channel": "latest/stable", "track", "risk",
 *                  "branch" (or null), "architecture", "revision" (or null),
 *                  "version" (or null), "follows" (or null),
 *                  "progressive": {"revision", "version", "percentage"} or null,
 *                  "expires" (Unix time, branches) or null}, ...],
 *    "revisions": {"N": {"version", "target": "NAME_N.ferry", "size",
 *                        "sha256", "architectures": [...]}, ...}}
 * revisions lists exactly the revisions the channels reference. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"
#include "db.h"
#include "pkg/channel.h"

/* Build the map from the database (read inside the caller's transaction, if
 * any). The generation is read before the rows, so the rows are at least as
 * new as *gen says. */
int channelmap_build(struct db *db, const char *package, long long now, json_t **out,
                     long long *gen, ferry_error *err) FERRY_WUR;

/* The revision each architecture of a channel resolves to (following closed
 * risks), as a JSON object {"ARCH": REV, ...}; empty when it holds nothing. */
int channelmap_resolve(struct db *db, const char *package, const struct channel *ch, long long now,
                       json_t **out, ferry_error *err) FERRY_WUR;

/* The name of the image target of a revision: "NAME_REV.ferry". */
void channelmap_target_name(const char *package, long long revision, char *out, size_t size);
