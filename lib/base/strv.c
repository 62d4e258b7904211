/* strv.c: NULL-terminated vectors of heap strings (see strv.h). It knows
 * nothing of what the strings mean. */
#include <stdlib.h>

#include "base/error.h"
#include "base/strv.h"

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int strv_add(struct strv *s, char *item)
{
	if (!item)
		return FERRY_E_NOMEM;
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **v = realloc(s->v, cap * sizeof(char *));
		if (!v) {
			free(item);
			return FERRY_E_NOMEM;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = item;
	s->v[s->n] = NULL;
	return 0;
}
