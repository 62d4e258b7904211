/* ratelimit.c: token buckets per client address (see ratelimit.h). The
 * table is a fixed array searched linearly: it is only consulted for rare
 * events (a device's first report). When every slot is taken, the address
 * whose bucket is fullest (it would allow the most anyway) gives its slot
 * up. Not here: what is limited, or how the address is found (server.c). */
#include "ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bucket {
	char addr[48];
	double tokens;
	double updated; /* the last time it asked */
};

struct ratelimit {
	pthread_mutex_t lock;
	double capacity, per_second;
	size_t used;
	struct bucket slots[RATELIMIT_ADDRESSES];
};

struct ratelimit *ratelimit_new(unsigned per_hour)
{
	if (per_hour == 0)
		return NULL;
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	pthread_mutex_init(&rl->lock, NULL);
	rl->capacity = per_hour;
	rl->per_second = per_hour / 3600.0;
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

static void refill(struct ratelimit *rl, struct bucket *b, double now_s)
{
	if (now_s > b->updated)
		b->tokens += (now_s - b->updated) * rl->per_second;
	if (b->tokens > rl->capacity)
		b->tokens = rl->capacity;
	b->updated = now_s;
}

bool ratelimit_take(struct ratelimit *rl, const char *addr, double now_s)
{
	if (!rl)
		return true;
	pthread_mutex_lock(&rl->lock);
	struct bucket *b = NULL, *idlest = NULL;
	for (size_t i = 0; i < rl->used && !b; i++) {
		if (strcmp(rl->slots[i].addr, addr) == 0)
			b = &rl->slots[i];
		else if (!idlest || rl->slots[i].updated < idlest->updated)
			idlest = &rl->slots[i];
	}
	if (b) {
		refill(rl, b, now_s);
	} else {
		b = rl->used < RATELIMIT_ADDRESSES ? &rl->slots[rl->used++] : idlest;
		snprintf(b->addr, sizeof(b->addr), "%s", addr);
		b->tokens = rl->capacity;
		b->updated = now_s;
	}
	bool ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
