/* deltas_schema.h: the store's table of deltas (deltas.c), one row per
 * pair of revisions a delta was tried for:
 *   deltas.state      'kept' (a blob, published as a TUF target), 'large'
 *                     (not smaller than 60% of the full image: dropped) or
 *                     'failed' (error says why); tried once either way
 *   deltas.sha256     the delta blob under blobs/sha256/ ('kept' only)
 *   deltas.published  1 once the target is in the package's role
 * Rows go with the revision they lead to (ON DELETE CASCADE).
 * And what a device's report says of its download (lib/pkg/report.h):
 *   reports.download   'delta' or 'full', NULL when the report says nothing
 *   reports.downloaded bytes downloaded
 *   reports.saved      bytes a delta saved */
#pragma once

#define V9_DELTAS                                                                                  \
	"CREATE TABLE deltas (package TEXT NOT NULL, from_rev BIGINT NOT NULL,"                    \
	"  to_rev BIGINT NOT NULL, state TEXT NOT NULL, sha256 TEXT, size BIGINT,"                 \
	"  full_size BIGINT NOT NULL, error TEXT, created BIGINT NOT NULL,"                        \
	"  published BIGINT NOT NULL DEFAULT 0,"                                                   \
	"  PRIMARY KEY (package, from_rev, to_rev),"                                               \
	"  FOREIGN KEY (package, to_rev) REFERENCES revisions(package, revision)"                  \
	"    ON DELETE CASCADE);"                                                                  \
	"ALTER TABLE reports ADD COLUMN download TEXT;"                                            \
	"ALTER TABLE reports ADD COLUMN downloaded BIGINT;"                                        \
	"ALTER TABLE reports ADD COLUMN saved BIGINT;"
