/* rollout_schema.h: the tables of staged rollouts, the device inventory and
 * release events sent to webhooks (schema version 7), next to the code that
 * uses them (rollout.c, inventory.c, webhooks.c). Included by schema.c only.
 *
 * Version 7
 *   rollouts         one per staged release of a revision to a channel
 *                    (ferry release --stages): its stages (a JSON array of
 *                    percentages), the index of the current one, how long
 *                    a stage lasts at least, the devices that must report
 *                    ok, its halt thresholds (NULL: the store's), its state
 *                    (running, paused, halted, stopped, superseded, done),
 *                    when it and its current stage began, and the newest
 *                    report's id when it began (only later reports count)
 *   rollout_events   what happened to a rollout, for its history and chart
 *                    (the newest ROLLOUT_EVENTS_KEEP per rollout are kept)
 *   devices          the inventory: one row per device that checked in
 *                    (arch, ferryd version, first and last check-in)
 *   device_packages  per device, the packages of this store it runs: the
 *                    revision, the channel (canonical name), whether held,
 *                    and when the device last said so
 *   webhook_deliveries.event  what a delivery tells: vulnerability-notice
 *                    (all deliveries before version 7) or a release event
 *                    (release-halted, rollout-stage, ...): the
 *                    X-Ferry-Event header */
#pragma once

#define V7_ROLLOUTS(serial)                                                                        \
	"CREATE TABLE rollouts (id " serial ","                                                    \
	"  package TEXT NOT NULL REFERENCES packages(name), track TEXT NOT NULL,"                  \
	"  risk TEXT NOT NULL, branch TEXT NOT NULL, channel TEXT NOT NULL,"                       \
	"  revision BIGINT NOT NULL, stages TEXT NOT NULL, stage BIGINT NOT NULL,"                 \
	"  stage_wait BIGINT NOT NULL, min_ok BIGINT NOT NULL,"                                    \
	"  halt_failures BIGINT, halt_ratio BIGINT, state TEXT NOT NULL,"                          \
	"  started BIGINT NOT NULL, stage_started BIGINT NOT NULL, finished BIGINT,"               \
	"  after_report BIGINT NOT NULL);"                                                         \
	"CREATE INDEX rollouts_channel ON rollouts(package, track, risk, branch, state);"          \
	"CREATE TABLE rollout_events (id " serial ", rollout BIGINT NOT NULL,"                     \
	"  time BIGINT NOT NULL, event TEXT NOT NULL, stage BIGINT NOT NULL,"                      \
	"  percentage BIGINT NOT NULL, failed BIGINT, reporting BIGINT);"                          \
	"CREATE INDEX rollout_events_rollout ON rollout_events(rollout, id);"                      \
	"CREATE TABLE devices (device TEXT PRIMARY KEY, arch TEXT NOT NULL,"                       \
	"  agent_version TEXT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL);"   \
	"CREATE INDEX devices_last_seen ON devices(last_seen);"                                    \
	"CREATE TABLE device_packages (device TEXT NOT NULL,"                                      \
	"  package TEXT NOT NULL REFERENCES packages(name), revision BIGINT NOT NULL,"             \
	"  channel TEXT NOT NULL, held BIGINT NOT NULL, seen BIGINT NOT NULL,"                     \
	"  PRIMARY KEY (device, package));"                                                        \
	"CREATE INDEX device_packages_package ON device_packages(package, seen);"                  \
	"ALTER TABLE webhook_deliveries ADD COLUMN event TEXT NOT NULL "                           \
	"  DEFAULT 'vulnerability-notice';"
