/* halt_schema.h: what the store needs to halt a release that devices
 * report failing (schema version 4: progressive releases; version 6: full
 * releases too), next to the code that uses it (halt.c). Included by
 * schema.c only.
 *
 * Version 4
 *   channels.halt_failures      the release's own thresholds (ferry release
 *   channels.halt_ratio         --halt-failures N --halt-ratio PCT), NULL for
 *                               the store's (serve --halt-failures/--halt-ratio)
 *   channels.progressive_after  the newest report's id when the progressive
 *                               revision was set: only later reports count
 *                               towards halting it
 *   halts                       each halt: channel, revision, the counts that
 *                               crossed the threshold and when; cleared is set
 *                               by the next release on that channel (the note
 *                               `ferry status` shows until then)
 *
 * Version 6: halting full releases
 *   channels.previous_revision  the revision the row held before its full
 *                               revision was released (NULL: none; the
 *                               channel was closed or held nothing)
 *   channels.full_after         the newest report's id when the full
 *                               revision was released; NULL for releases
 *                               made before version 6, which are never
 *                               halted (what came before them is unknown)
 *   channels.full_halt_failures the full release's own thresholds, as
 *   channels.full_halt_ratio    halt_failures and halt_ratio for the
 *                               progressive one
 *   halts.kind                  'progressive' or 'full'
 *   halts.restored              for a full release, the revision the
 *                               channel went back to (NULL: closed) */
#pragma once

#define V4_HALTS(serial)                                                                           \
	"ALTER TABLE channels ADD COLUMN halt_failures BIGINT;"                                    \
	"ALTER TABLE channels ADD COLUMN halt_ratio BIGINT;"                                       \
	"ALTER TABLE channels ADD COLUMN progressive_after BIGINT;"                                \
	"CREATE TABLE halts (id " serial ","                                                       \
	"  package TEXT NOT NULL REFERENCES packages(name), track TEXT NOT NULL,"                  \
	"  risk TEXT NOT NULL, branch TEXT NOT NULL, channel TEXT NOT NULL,"                       \
	"  revision BIGINT NOT NULL, failed BIGINT NOT NULL, reporting BIGINT NOT NULL,"           \
	"  halt_failures BIGINT NOT NULL, halt_ratio BIGINT NOT NULL,"                             \
	"  halted BIGINT NOT NULL, cleared BIGINT);"                                               \
	"CREATE INDEX halts_package ON halts(package, cleared);"

#define V6_FULL_HALTS                                                                              \
	"ALTER TABLE channels ADD COLUMN previous_revision BIGINT;"                                \
	"ALTER TABLE channels ADD COLUMN full_after BIGINT;"                                       \
	"ALTER TABLE channels ADD COLUMN full_halt_failures BIGINT;"                               \
	"ALTER TABLE channels ADD COLUMN full_halt_ratio BIGINT;"                                  \
	"ALTER TABLE halts ADD COLUMN kind TEXT NOT NULL DEFAULT 'progressive';"                   \
	"ALTER TABLE halts ADD COLUMN restored BIGINT;"
