/* reports_schema.h: the tables of device outcome reports (schema version
 * 3, and 5), next to the code that uses them (reports.c, devicekeys.c).
 * Included by schema.c only.
 *
 * Tables (version 3)
 *   device_keys  each device id and the ed25519 public key it first reported
 *                with (trust on first use): later reports of that id must be
 *                signed with the same key (version 3 forgot a device with
 *                its last report that pruning removed; version 5 keeps it)
 *   reports      the newest reports per package (the store keeps
 *                --reports-keep of them, pruned as each one arrives);
 *                (device, report_id) unique, so a retried report counts once
 *
 * Version 5: bindings outlive reports (devicekeys.h)
 *   device_keys.reports  how many reports the device sent with its key (1:
 *                        it reported once and was not seen since; bindings
 *                        from before count 2 when their last report came
 *                        after their first); indexes for eviction by last
 *                        report, once-seen devices first
 *
 * Version 7: what the device did
 *   reports.action  install, refresh or revert (a revert by the device's
 *                   owner, `ferry revert`); refresh for earlier reports */
#pragma once

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

#define V5_DEVICE_KEYS                                                                             \
	"ALTER TABLE device_keys ADD COLUMN reports BIGINT NOT NULL DEFAULT 1;"                    \
	"UPDATE device_keys SET reports = 2 WHERE last_seen > first_seen;"                         \
	"CREATE INDEX device_keys_last_seen ON device_keys(last_seen);"                            \
	"CREATE INDEX device_keys_evict ON device_keys(reports, last_seen);"

#define V8_REPORT_ACTION "ALTER TABLE reports ADD COLUMN action TEXT NOT NULL DEFAULT 'refresh';"
