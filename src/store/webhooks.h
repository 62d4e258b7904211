/* webhooks.h: publishers' webhooks and the delivery of vulnerability
 * notices and release events to them (webhooks.c says how). Not here: when
 * notices and events are made (vulns.h, rollout.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "db.h"
#include "reply.h"
#include "store.h"

/* Queue a delivery of notice body to every hook that covers package
 * (inside the caller's transaction). *queued gets how many. */
int webhooks_queue(struct db *db, const char *package, const char *state, const char *body,
                   size_t *queued, ferry_error *err) FERRY_WUR;
#define WEBHOOK_EVENT_NOTICE "vulnerability-notice"

/* Queue a delivery of a release event (X-Ferry-Event: event; body its
 * JSON) to every hook that covers package, in the caller's transaction;
 * signed and retried as notices are. */
int webhooks_queue_event(struct db *db, const char *package, const char *event, const char *body,
                         ferry_error *err) FERRY_WUR;
/* Attempt one delivery (the `webhook DELIVERY-ID` job). again and next:
 * whether and when the job table should run it again. */
int webhooks_deliver(struct store *st, struct db *db, const char *id, bool *again, long long *next,
                     ferry_error *err) FERRY_WUR;

/* --- API routes --- */
void webhooks_h_list(struct api_ctx *c);   /* GET .../NAME/webhooks, /v1/account/webhooks */
void webhooks_h_add(struct api_ctx *c);    /* POST the same */
void webhooks_h_remove(struct api_ctx *c); /* DELETE .../webhooks/ID */
void webhooks_h_account_list(struct api_ctx *c);
void webhooks_h_account_add(struct api_ctx *c);
void webhooks_h_account_remove(struct api_ctx *c);
