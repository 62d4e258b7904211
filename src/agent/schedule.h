/* schedule.h: when the automatic refresh runs (see schedule.c for the
 * syntax of a schedule). Pure: no state but its arguments. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

int schedule_check(const char *spec, ferry_error *err) FERRY_WUR;
/* The first run after `after` (unix time); the random moment inside a slot
 * depends on device_id. -1 when spec is wrong. */
int64_t schedule_next(const char *spec, const char *device_id, int64_t after);
/* Is the time inside one of the windows (always, for "every")? */
bool schedule_inside(const char *spec, int64_t at);
