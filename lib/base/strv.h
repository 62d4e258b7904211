/* strv.h: NULL-terminated vectors of heap strings (argv, envp): a growing
 * vector and the matching free. It does not copy the strings it is given:
 * the vector takes them. */
#pragma once

#include <stddef.h>

/* A growing NULL-terminated vector of strings; {0} is an empty one. */
struct strv {
	char **v;
	size_t n, cap;
};

/* Append item (taken; NULL means an allocation failed), keeping v
 * NULL-terminated. FERRY_E_NOMEM, item freed, on failure. */
int strv_add(struct strv *s, char *item);

/* Free every string of a NULL-terminated vector, then the vector; NULL is
 * fine. */
void strv_free(char **v);
