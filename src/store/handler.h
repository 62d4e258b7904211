/* handler.h: what the route handlers (api.c, reports.c, vulns_routes.c,
 * webhooks.c) share beyond their replies: authorising the caller for a
 * package, and publishing a package after its channel map changed. Not
 * here: the replies (reply.h), the routing table (api.c). */
#pragma once

#include <stdbool.h>

#include "reply.h"

/* Authorise the caller for a package: 0, or an error reply is set and
 * a negative code returned. Takes FOR UPDATE locks on PostgreSQL when
 * for_update. */
int api_authorise_package(struct api_ctx *c, bool for_update);

/* Publish c->package after a committed change of its channel map (a
 * release, or a halt): false when that failed and a publish job is queued
 * to retry it (recovery at start covers a crash in between). */
bool api_publish_after_commit(struct api_ctx *c);
/* The same for a change made outside a request (a rollout's stage). */
bool publish_or_queue(struct store *st, struct db *db, const char *package);
