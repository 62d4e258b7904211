/* report.h: the outcome report a device sends its store after each refresh,
 * install and revert: the one definition of its format, used by ferryd to
 * build the body and by ferry-store to check it (see docs/device.md,
 * "Reports", and docs/store.md).
 *
 * A report is a JSON object, the body of POST /v1/reports, with exactly
 * these members:
 *   report-id      32 lower-case hex digits, random, chosen when the report
 *                  is queued (the store keeps one report per device and
 *                  report id, so a retry after a lost answer is not counted
 *                  twice)
 *   device-id      the agent's device id: 1 to 64 of a-z, 0-9 and '-'
 *   device-key     the device's ed25519 public key, 64 lower-case hex digits
 *   package        the package name (pkg/name.h)
 *   from-revision  the revision that ran before (integer), or null
 *   to-revision    the revision the change installed or tried (integer);
 *                  revisions are 1 to 2^53
 *   channel        the channel the package tracks (pkg/channel.h)
 *   result         "ok", "rolled-back" or "failed" (the change could not be
 *                  finished nor undone)
 *   failed-step    the step that failed (1 to 32 of a-z, 0-9 and '-'), or
 *                  null; null exactly when the result is ok
 *   message        that step's error, without the output it quoted: at most
 *                  REPORT_MESSAGE_MAX bytes
 *   log            the last lines of output the error quoted (hook or
 *                  service), at most REPORT_LOG_LINES of REPORT_LINE_MAX
 *                  bytes each
 *   time           unix time of the outcome on the device, 1 to 2^40
 *   agent-version  ferryd's version, 1 to 64 bytes
 * and optional members:
 *   action         "revert" when the device's owner reverted the package by
 *                  hand (ferry revert): to-revision is the earlier revision
 *                  it went back to. Absent for installs and refreshes, so
 *                  that stores which predate it still take those.
 *   download       {"path": "delta" or "full", "downloaded": bytes,
 *                  "saved": bytes the delta saved}, integers 0 to 2^53
 * Text members are UTF-8 without control characters but tab (agent-version:
 * no tab either). The body is sent with the header
 *   X-Ferry-Device-Signature: ed25519 BASE64
 * the signature of the exact body bytes with the device key.
 *
 * Not here: the device key, the outbox and the sender (ferryd's report.c);
 * the signature check, storage and listing (the store's reports.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define REPORT_LOG_LINES 20
#define REPORT_LINE_MAX 500
#define REPORT_MESSAGE_MAX 1024
#define REPORT_DEVICE_ID_MAX 64
#define REPORT_STEP_MAX 32
#define REPORT_AGENT_VERSION_MAX 64
#define REPORT_REVISION_MAX (1LL << 53)
#define REPORT_TIME_MAX (1LL << 40)
#define REPORT_SIGNATURE_HEADER "X-Ferry-Device-Signature"
/* How ferryd's health.c quotes output in an error message (hook_run,
 * health_check): report_body() splits the error there. */
#define REPORT_OUTPUT_MARK "; last output:\n"

/* --- the device: building a body ----------------------------------------- */

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
	const char *action;      /* "revert" or NULL (see above) */
	int64_t time;
	const char *agent_version;
	const char *download_path; /* NULL: no download member */
	int64_t downloaded, saved;
};

/* The body of a report (compact JSON, keys sorted); free() it. The error is
 * split at REPORT_OUTPUT_MARK into message and log lines; both are bounded
 * and made printable UTF-8 (other bytes become '?'). */
int report_body(const struct report_outcome *o, char **out, ferry_error *err) FERRY_WUR;

/* Text made printable UTF-8 of at most max bytes, cut at a character
 * boundary: control characters but tab and invalid bytes become '?'. */
char *report_clean(const char *text, size_t len, size_t max);

/* --- the store: checking a body ------------------------------------------ */

/* A checked report; the strings point into the JSON body. */
struct report {
	const char *report_id, *device_id, *device_key, *package, *channel, *result;
	const char *failed_step; /* NULL when ok */
	const char *message;
	json_t *log;             /* array of strings */
	long long from_revision; /* 0 when none */
	long long to_revision;
	long long time;
	const char *agent_version;
	const char *action;        /* "install", "refresh" or "revert"; when absent, "install"
	                            * without a from-revision, else "refresh" */
	const char *download_path; /* NULL when the report has no download */
	long long downloaded, saved;
};

/* Check every member of a report body against its bound. FERRY_E_INVALID
 * with a message that names the member. */
int report_parse(json_t *body, struct report *out, ferry_error *err) FERRY_WUR;

/* Is s a device id: 1 to REPORT_DEVICE_ID_MAX of a-z 0-9 '-'? */
bool report_device_id_valid(const char *s);

/* --- the check-in --------------------------------------------------------- */

/* What a device sends its store at each refresh (POST /v1/devices/checkin,
 * signed as a report is, docs/store.md "Device inventory"):
 *   {"device-id", "device-key", "time", "arch", "agent-version",
 *    "packages": [{"name", "revision", "channel", "held"}, ...]}
 * revision a store revision (local installs are left out), channel as the
 * device tracks it, held true while refreshes of it are held. At most
 * CHECKIN_PACKAGES_MAX packages; no other member. */
#define CHECKIN_PACKAGES_MAX 256
#define CHECKIN_ARCH_MAX 16

struct checkin_package {
	const char *name, *channel;
	long long revision;
	bool held;
};

/* A checked check-in; the strings point into the JSON body. */
struct checkin {
	const char *device_id, *device_key, *arch, *agent_version;
	long long time;
	size_t n;
	struct checkin_package packages[CHECKIN_PACKAGES_MAX];
};

/* Check every member of a check-in body against its bound; FERRY_E_INVALID
 * naming the member. */
int checkin_parse(json_t *body, struct checkin *out, ferry_error *err) FERRY_WUR;
