/* strmap.c: see strmap.h. */
#include "vuln/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29));
}

static struct strmap_slot *find(const struct strmap *m, const char *key, size_t klen, size_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key || (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0))
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key, size_t klen)
{
	if (m->cap == 0)
		return NULL;
	struct strmap_slot *s = find(m, key, klen, hash_bytes(key, klen));
	return s->key ? s->value : NULL;
}

static int grow(struct strmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct strmap_slot *old = m->slots;
	size_t ocap = m->cap;
	m->slots = calloc(ncap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -1;
	}
	m->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].key)
			*find(m, old[i].key, old[i].klen, old[i].hash) = old[i];
	free(old);
	return 0;
}

void **strmap_slot(struct strmap *m, const char *key, size_t klen)
{
	if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return NULL;
	size_t h = hash_bytes(key, klen);
	struct strmap_slot *s = find(m, key, klen, h);
	if (!s->key) {
		s->key = malloc(klen + 1);
		if (!s->key)
			return NULL;
		memcpy(s->key, key, klen);
		s->key[klen] = 0;
		s->klen = klen;
		s->hash = h;
		s->value = NULL;
		m->count++;
	}
	return &s->value;
}

void strmap_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}
