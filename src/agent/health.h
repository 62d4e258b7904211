/* health.h: hooks and the health of a revision after it was started (see
 * health.c). Worker thread; db is its connection. */
#pragma once

#include <sqlite3.h>
#include <stdint.h>

#include "agent.h"
#include "base/error.h"
#include "pkg/manifest.h"

int hook_run(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
             const struct manifest *m, enum manifest_hook h, uint64_t timeout_ms,
             ferry_error *err) FERRY_WUR;
int health_check(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                 const struct manifest *m, ferry_error *err) FERRY_WUR;
