/* api.h: ferryd's local API on its Unix socket (see api.c). Main thread,
 * with ag->lock held for api_run. */
#pragma once

#include <stdint.h>

#include "agent.h"
#include "base/error.h"

int api_start(struct agent *ag, ferry_error *err) FERRY_WUR;
void api_run(struct agent *ag);
int64_t api_timeout_ms(struct agent *ag);
void api_stop(struct agent *ag);
