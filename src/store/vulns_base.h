/* vulns_base.h: the open findings an app inherits from its base: for each
 * channel an app is released in, the base its revision's manifest names
 * (`base: NAME`) and the revision of that base released in the same channel
 * (track, risk, branch, architecture), with the base's open findings for
 * that revision. They are the base's findings, made by the base's own scan
 * (vulns.h); nothing is stored for the app. A base refresh on the devices
 * clears them, not a rebuild of the app. Not here: the route (vulns_routes.c). */
#pragma once

#include <jansson.h>

#include "base/error.h"
#include "db.h"

/* *out: a new array of finding details, each with "from": "base", "base",
 * "base_revision", "base_channels" (where the base has it), "channels" and
 * "revisions" (the app's that run on it) and "fix": "base-refresh". Empty
 * for an app without a base in any of its channels. */
int vulns_base_findings(struct db *db, const char *package, json_t **out,
                        ferry_error *err) FERRY_WUR;
