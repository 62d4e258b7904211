/* report.h: the outcome reports ferryd sends to its store after each
 * refresh, install and revert (see docs/device.md, "Reports").
 *
 * A report is a JSON object, the body of POST /v1/reports:
 *   report-id      32 hex digits, random, chosen when the report is queued
 *                  (the store keeps one report per device and report id, so
 *                  a retry after a lost answer is not counted twice)
 *   device-id      the agent's device id
 *   device-key     the device's ed25519 public key, 64 hex digits
 *   package        the package name
 *   from-revision  the revision that ran before (integer), or null
 *   to-revision    the revision the change installed or tried (integer)
 *   channel        the channel the package tracks
 *   result         "ok", "rolled-back" or "failed" (the change could not be
 *                  finished nor undone)
 *   failed-step    the step that failed, or null
 *   message        that step's error, without the output it quoted
 *   log            the last lines of output the error quoted (hook or
 *                  service), at most REPORT_LOG_LINES of REPORT_LINE_MAX
 *                  bytes each
 *   time           unix time of the outcome on the device
 *   agent-version  ferryd's version
 * It is sent with "X-Ferry-Device-Signature: ed25519 BASE64", the signature
 * of the exact body bytes with the device key.
 *
 * report_body.c builds the body (pure, unit tested); report.c keeps the
 * device key, queues reports in state.db's outbox inside the transaction
 * that records a change's outcome, and runs the thread that sends them. */
#pragma once

#include <sqlite3.h>
#include <stdint.h>

#include "agent.h"
#include "base/error.h"

#define REPORT_LOG_LINES 20
#define REPORT_LINE_MAX 500
#define REPORT_MESSAGE_MAX 1024
#define REPORT_OUTBOX_MAX 100
/* How health.c quotes output in an error message (hook_run, health_check). */
#define REPORT_OUTPUT_MARK "; last output:\n"

struct report_outcome {
	const char *report_id; /* 32 hex digits */
	const char *device_id;
	const char *device_key; /* hex */
	const char *package;
	const char *from; /* "" or a local revision: null */
	const char *to;   /* a store revision */
	const char *channel;
	const char *result;      /* ok, rolled-back, failed */
	const char *failed_step; /* NULL when ok */
	const char *error;       /* the failing step's message, NULL when ok */
	int64_t time;
	const char *agent_version;
};

/* The body of a report (compact JSON, keys sorted); free() it. The error is
 * split at REPORT_OUTPUT_MARK into message and log lines; both are bounded
 * and made printable UTF-8 (other bytes become '?'). */
int report_body(const struct report_outcome *o, char **out, ferry_error *err) FERRY_WUR;

/* Text made printable UTF-8 of at most max bytes, cut at a character
 * boundary: control characters but tab and invalid bytes become '?'. */
char *report_clean(const char *text, size_t len, size_t max);

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

/* The sender thread: posts queued reports oldest first; retries network
 * errors, 5xx and 429 with back-off (retry-delay doubling, at most an hour);
 * drops a report the store refuses for good (another 4xx), with a warning. */
int report_start(struct agent *ag, ferry_error *err) FERRY_WUR;
/* Main thread at shutdown, after ag->quit is set. */
void report_stop(struct agent *ag);
