/* reports_schema.h: the tables of device outcome reports (schema version
 * 3), next to the code that uses them (reports.c). Included by schema.c only.
 *
 * Tables (version 3)
 *   device_keys  each device id and the ed25519 public key it first reported
 *                with (trust on first use): later reports of that id must be
 *                signed with the same key; forgotten with the last report of
 *                the device that pruning removes, so the table stays bounded
 *   reports      the newest reports per package (the store keeps
 *                --reports-keep of them, pruned as each one arrives);
 *                (device, report_id) unique, so a retried report counts once */
#pragma once

/* Version 4: progressive releases the store halted because devices reported
 * them failing (reports.c); `active` until the next release to the channel.
 *   halts        package, channel (TRACK/RISK[/BRANCH]), revision, the
 *                distinct devices that failed and that reported, when */
#define V4_HALTS(serial)                                                                           \
	"CREATE TABLE halts (id " serial ","                                                       \
	"  package TEXT NOT NULL REFERENCES packages(name), channel TEXT NOT NULL,"                \
	"  revision BIGINT NOT NULL, failed BIGINT NOT NULL, reporting BIGINT NOT NULL,"           \
	"  at BIGINT NOT NULL, active INTEGER NOT NULL DEFAULT 1);"                                \
	"CREATE INDEX halts_package ON halts(package, channel);"

#define V3_REPORTS(serial)                                                                         \
	"CREATE TABLE device_keys (device TEXT PRIMARY KEY, public_key TEXT NOT NULL,"             \
	"  first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL);"                                \
	"CREATE TABLE reports (id " serial ","                                                     \
	"  package TEXT NOT NULL REFERENCES packages(name), device TEXT NOT NULL,"                 \
	"  report_id TEXT NOT NULL, from_revision BIGINT, to_revision BIGINT NOT NULL,"            \
	"  channel TEXT NOT NULL, result TEXT NOT NULL, failed_step TEXT,"                         \
	"  message TEXT NOT NULL, log TEXT NOT NULL, reported BIGINT NOT NULL,"                    \
	"  received BIGINT NOT NULL, agent_version TEXT NOT NULL,"                                 \
	"  UNIQUE (device, report_id));"                                                           \
	"CREATE INDEX reports_package ON reports(package, id);"                                    \
	"CREATE INDEX reports_device ON reports(device);"
