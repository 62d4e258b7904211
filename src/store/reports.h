/* reports.h: outcome reports that devices send after each refresh
 * (POST /v1/reports), kept per package, and what a publisher reads of them
 * (GET /v1/packages/NAME/reports). The report format and its checks are
 * lib/pkg/report.h's (see also docs/store.md).
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

#include "base/error.h"
#include "pkg/report.h"
#include "reply.h"

#define REPORTS_KEEP_DEFAULT 1000
#define REPORTS_KEEP_MAX 1000000
#define REPORTS_LIST_DEFAULT 100
#define REPORTS_LIST_MAX 1000

/* Routes (api.c's table) */
/* The device signature header over the raw body, by device_key (hex): 0,
 * or an error reply naming what (a "report", a "check-in") is set. */
int reports_check_signature(struct api_ctx *c, const char *what, const char *device_key);

void reports_h_post(struct api_ctx *c);
void reports_h_list(struct api_ctx *c);
