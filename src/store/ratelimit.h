/* ratelimit.h: a token bucket per client address, in memory, bounded: each
 * address may do a thing per_hour times an hour, in bursts of up to
 * per_hour. The store uses it for new device-key bindings (devicekeys.c).
 * Thread-safe. Not shared between instances, not kept across restarts: it
 * slows a flood down, it does not count exactly. */
#pragma once

#include <stdbool.h>

#define RATELIMIT_ADDRESSES 4096 /* addresses remembered at once */

struct ratelimit;

/* NULL when per_hour is 0 (no limit) or memory runs out. */
struct ratelimit *ratelimit_new(unsigned per_hour);
void ratelimit_free(struct ratelimit *rl);

/* Take one token for addr at now_s (a monotonic clock in seconds): false
 * when its bucket is empty. A NULL limiter always allows. */
bool ratelimit_take(struct ratelimit *rl, const char *addr, double now_s);
