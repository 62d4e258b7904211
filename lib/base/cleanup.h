/* cleanup.h: scope-bound release of memory, descriptors and streams with
 * __attribute__((cleanup)), and steal_pointer()/steal_fd() to hand ownership
 * on. Initialise every such variable (NULL or -1) where it is declared. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void cleanup_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)

/* Return *pp and set it to NULL, so that a cleanup attribute no longer frees
 * what was handed on. */
static inline void *steal_pointer_impl(void *pp)
{
	void **p = (void **)pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal_pointer(pp) steal_pointer_impl(pp)

static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

/* Declare a cleanup function for a type that has a free function:
 * DEFINE_CLEANUP(json_t *, json_decref) gives _cleanup_(json_decrefp). */
#define DEFINE_CLEANUP(type, func)                                                                 \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
