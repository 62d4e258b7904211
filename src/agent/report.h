/* report.h: the outcome reports ferryd sends to its store after each
 * refresh, install and revert (see docs/device.md, "Reports"). Their format,
 * and the body builder, are lib/pkg/report.h's.
 *
 * report.c keeps the device key, queues reports in state.db's outbox inside
 * the transaction that records a change's outcome, and runs the thread that
 * sends them. */
#pragma once

#include <sqlite3.h>
#include <stdint.h>

#include "agent.h"
#include "base/error.h"
#include "pkg/report.h"

#define REPORT_OUTBOX_MAX 100

/* --- report.c --------------------------------------------------------------- */

/* Start-up: load ROOT/device.key, or generate it at first start (ed25519,
 * PKCS#8 PEM, 0600, written once and never rewritten). */
int report_setup(struct agent *ag, ferry_error *err) FERRY_WUR;
void report_cleanup(struct agent *ag);
/* The device's public key, 64 hex digits ("" before report_setup). */
const char *report_device_key(const struct agent *ag);

/* Worker, inside the transaction that records the outcome of a change: queue
 * its report when it has one (a store is configured; an install, refresh or
 * revert of a store revision), keeping the newest REPORT_OUTBOX_MAX. result
 * NULL: none. Returns 1 when a report was queued. */
int report_queue(struct agent *ag, sqlite3 *db, int64_t change, const char *kind, const char *name,
                 const char *from, const char *to, const char *channel, const char *result,
                 const char *failed_step, const char *error, ferry_error *err) FERRY_WUR;
/* After the commit: tell the sender there is something to send. */
void report_kick(struct agent *ag);
/* GET /v1/system's "reports": {"waiting": N, "last-error": the oldest
 * waiting report's, "device-key-mismatch": true when the store binds this
 * device id to another key}. A new reference, NULL when state.db fails. */
json_t *report_status(sqlite3 *db);
/* After a change (a refresh above all): have the sender check in with the
 * store (what the device runs), unless checkin = off. */
void report_checkin(struct agent *ag);

/* The sender thread: posts queued reports oldest first; retries network
 * errors, 5xx, 429 and redirects with back-off (retry-delay doubling, at
 * most an hour), a 403 device-key-mismatch hourly; drops a report the store
 * refuses for good (another 4xx), with a warning. */
int report_start(struct agent *ag, ferry_error *err) FERRY_WUR;
/* Main thread at shutdown, after ag->quit is set. */
void report_stop(struct agent *ag);
