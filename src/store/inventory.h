/* inventory.h: the device inventory: what the devices that check in run
 * (docs/store.md "Device inventory" has the format, the bounds and what
 * a store learns). A device's signed check-in (POST /v1/devices/checkin,
 * lib/pkg report.h) replaces what the store knew of it: its arch, ferryd
 * version and last check-in (table devices), and per package of this
 * store, its revision, channel and hold (device_packages); names the store
 * does not know are dropped. --devices-max bounds the devices kept (those
 * seen longest ago make room), --devices-days forgets devices not seen
 * for that long (the inventory-prune job, daily), 0 records nothing.
 * Publishers see their packages' rows only. Not here: the signature and
 * the key binding (reports.c, devicekeys.c). */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "db.h"
#include "reply.h"
#include "store.h"

#define INVENTORY_DAYS_DEFAULT 90
#define INVENTORY_DAYS_MAX 3650
#define INVENTORY_MAX_DEFAULT 1000000
#define INVENTORY_MAX_MAX 100000000

void inventory_h_checkin(struct api_ctx *c); /* POST /v1/devices/checkin */
void inventory_h_devices(struct api_ctx *c); /* GET /v1/packages/NAME/devices */

/* Weekly active devices per package and channel: rows of (package,
 * channel, count), for the metrics. */
int inventory_active_by_channel(struct db *db, struct db_rows *rows, ferry_error *err) FERRY_WUR;

/* The recurring `inventory-prune` job. */
int inventory_job_prune(struct store *st, struct db *db, const char *arg, bool *again,
                        long long *next, ferry_error *err) FERRY_WUR;
