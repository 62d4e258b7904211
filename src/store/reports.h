/* reports.h: outcome reports that devices send after each refresh
 * (POST /v1/reports), kept per package, and what a publisher reads of them
 * (GET /v1/packages/NAME/reports). The report format is ferryd's (see
 * src/agent/report.h and docs/store.md).
 *
 * A report carries no account token: the device proves itself by an
 * ed25519 signature over the exact body bytes, in the header
 *   X-Ferry-Device-Signature: ed25519 BASE64
 * with the public key in the body. The first valid report of a device id
 * binds that id to its key; a report of the same id with another key is
 * refused (403; devicekeys.h, where bindings live apart from reports). The
 * package must be registered. Each package keeps the newest
 * st->reports_keep reports, pruned in the transaction that adds one. A
 * failure report may halt a progressive release (halt.h). Not here: HTTP
 * framing (server.c). */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "api.h"
#include "base/error.h"

#define REPORTS_KEEP_DEFAULT 1000
#define REPORTS_KEEP_MAX 1000000
#define REPORTS_LIST_DEFAULT 100
#define REPORTS_LIST_MAX 1000
#define REPORTS_LOG_LINES 20
#define REPORTS_LINE_MAX 500
#define REPORTS_MESSAGE_MAX 1024
#define REPORTS_SIGNATURE_HEADER "X-Ferry-Device-Signature"

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
};

/* Check every field of a report body against its bound. FERRY_E_INVALID
 * with a message that names the field. */
int reports_validate(json_t *body, struct report *out, ferry_error *err) FERRY_WUR;

/* Is s a device id: 1 to 64 of a-z 0-9 '-'? */
bool reports_device_id_valid(const char *s);

/* Routes (api.c's table) */
void reports_h_post(struct api_ctx *c);
void reports_h_list(struct api_ctx *c);
