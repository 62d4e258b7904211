/* strmap.h: a hash map from byte-string keys to pointers (open addressing,
 * linear probing, FNV-1a), private to lib/vuln. Keys are copied; values are
 * the caller's. No removal: the vulnerability index only grows while it
 * lives, and replaced entries keep their key. */
#pragma once

#include <stddef.h>

#include "base/error.h"

struct strmap_slot {
	char *key;
	size_t klen;
	size_t hash;
	void *value;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t count;
};

/* The value under key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key, size_t klen);
/* The address of the value under key, inserting NULL there first when the
 * key is new. NULL only when out of memory. */
void **strmap_slot(struct strmap *m, const char *key, size_t klen);
/* Free the keys and the table (not the values). */
void strmap_free(struct strmap *m);

#define strmap_foreach(m, s)                                                                       \
	for (struct strmap_slot *s = (m)->slots; s && s < (m)->slots + (m)->cap; s++)              \
		if (s->key)
