/* channel.h: release channels as Snap users know them, TRACK/RISK[/BRANCH].
 *
 * Risks, most stable first: stable, candidate, beta, edge. The default track
 * is "latest". Short forms expand the way snap does:
 *   "edge"             latest/edge
 *   "2.0"              2.0/stable        (a lone word that is not a risk is a track)
 *   "edge/fix-1"       latest/edge/fix-1 (RISK/BRANCH when the first part is a risk)
 *   "2.0/beta"         2.0/beta
 *   "2.0/beta/fix-1"   2.0/beta/fix-1
 * Tracks and branches: letters, digits and single '.', '_' or '-' between
 * them; tracks at most 28 bytes, branches at most 128. Anything else is
 * refused with a message naming the channel and the rule it breaks.
 * Not here: which tracks a package has opened, what a channel holds. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define CHANNEL_TRACK_MAX 28
#define CHANNEL_BRANCH_MAX 128
#define CHANNEL_NAME_MAX (CHANNEL_TRACK_MAX + CHANNEL_BRANCH_MAX + 16)
#define CHANNEL_DEFAULT_TRACK "latest"

enum channel_risk {
	RISK_STABLE = 0,
	RISK_CANDIDATE = 1,
	RISK_BETA = 2,
	RISK_EDGE = 3,
	RISK__COUNT = 4,
};

struct channel {
	char track[CHANNEL_TRACK_MAX + 1];
	enum channel_risk risk;
	char branch[CHANNEL_BRANCH_MAX + 1]; /* "" when none */
};

/* Parse a full or short channel name. */
int channel_parse(const char *s, struct channel *out, ferry_error *err) FERRY_WUR;

/* "TRACK/RISK" or "TRACK/RISK/BRANCH" into out (CHANNEL_NAME_MAX bytes). */
void channel_format(const struct channel *c, char *out, size_t size);

const char *channel_risk_name(enum channel_risk r);
/* -1 when s is not a risk */
int channel_risk_parse(const char *s);

bool channel_track_valid(const char *s);
bool channel_branch_valid(const char *s);

/* The short form a device may know a channel by ("stable" for
 * latest/stable, "2.x" for 2.x/stable, "edge/fix" for latest/edge/fix), or
 * the canonical name again when there is none. */
void channel_short_name(const struct channel *c, char *out, size_t size);

/* Progressive releases, the rule the store and its devices share: a device
 * takes revision rev of name when the first 32 bits of
 * SHA-256("DEVICE_ID/NAME/REV"), as a big-endian number, modulo 100 are
 * below percentage. The same device always decides the same. */
bool channel_progressive_pick(const char *device_id, const char *name, const char *rev,
                              unsigned percentage);
