/* buf.h: a growable byte buffer with a hard upper bound. Appending past the
 * bound fails with FERRY_E_LIMIT and leaves the buffer as it was, so a reader
 * of outside input cannot be made to allocate without limit. The data is
 * always NUL-terminated (not counted in len) for convenience with text. */
#pragma once

#include <stddef.h>

#include "base/error.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* most bytes this buffer may ever hold */
};

#define BUF_INIT(maxbytes)                                                                         \
	{                                                                                          \
		NULL, 0, 0, (maxbytes)                                                             \
	}

void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *data, size_t len) FERRY_WUR;
int buf_append_str(struct buf *b, const char *s) FERRY_WUR;
int buf_printf(struct buf *b, const char *fmt, ...) FERRY_PRINTF(2, 3) FERRY_WUR;
/* Make room for at least extra more bytes. */
int buf_reserve(struct buf *b, size_t extra) FERRY_WUR;
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hand the data to the caller (free() it); the buffer is empty afterwards.
 * Never NULL unless out of memory. */
char *buf_steal(struct buf *b, size_t *len);

static inline void cleanup_buf(struct buf *b)
{
	buf_free(b);
}
#define _cleanup_buf_ __attribute__((cleanup(cleanup_buf)))
