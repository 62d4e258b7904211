/* devicekeys.h: which ed25519 key each device id reports with (trust on
 * first use), kept independently of the reports themselves: a binding
 * lives until its device has not reported for st->device_key_days,
 * whatever report retention prunes, so inventing device ids cannot free a
 * real device's id for another key.
 *
 * The table is bounded by st->device_keys_max. When it is full, a new
 * binding evicts first the devices that reported once and were not seen
 * since, longest ago first, then the device seen longest ago, but never one
 * that reported within DEVICE_KEYS_RECENT_S: with nothing to evict, the new
 * device is answered 503 device-keys-full and reports again later. New
 * bindings are limited per client address (st->bind_limit, ratelimit.h):
 * over it, 429 too-many-new-devices. A known id with another key is
 * refused with 403 device-key-mismatch. Not here: the checks of a report
 * (reports.c). */
#pragma once

#include "api.h"

#define DEVICE_KEY_DAYS_DEFAULT 180
#define DEVICE_KEY_DAYS_MAX 36500
#define DEVICE_KEYS_MAX_DEFAULT 1000000
#define DEVICE_KEYS_MAX_MAX 100000000
#define DEVICE_BINDS_PER_HOUR_DEFAULT 100
#define DEVICE_KEYS_RECENT_S (30LL * 86400)

/* Within the caller's transaction: accept key for device (binding it when
 * the id is new or its binding expired), and count the report. 0, or a
 * negative code with the error reply set in c (the caller rolls back). */
int devicekeys_bind(struct api_ctx *c, const char *device, const char *key) FERRY_WUR;
