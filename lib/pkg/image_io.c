/* image_io.c: the sqfs_file_t that libsquashfs reads and writes the image
 * through: positioned I/O on a descriptor owned by the caller, with a hard
 * read limit so that no offset found in an untrusted image can read past the
 * end of the file system. Also libsquashfs error values as text and ferry
 * codes. It does not open, sync or close anything. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqfs/error.h>

#include "base/fault.h"
#include "pkg/image_int.h"

struct fd_file {
	sqfs_file_t base;
	int fd;
	uint64_t size;
	uint64_t limit;
	bool writable;
};

static void fd_file_destroy(sqfs_object_t *obj)
{
	free(obj);
}

static int fd_file_read_at(sqfs_file_t *base, sqfs_u64 offset, void *buffer, size_t size)
{
	struct fd_file *f = (struct fd_file *)base;
	char *p = buffer;

	if (offset > f->limit || size > f->limit - offset)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	while (size > 0) {
		ssize_t n = pread(f->fd, p, size, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return SQFS_ERROR_IO;
		}
		if (n == 0)
			return SQFS_ERROR_OUT_OF_BOUNDS; /* the file shrank */
		p += n;
		offset += (uint64_t)n;
		size -= (size_t)n;
	}
	return 0;
}

static int fd_file_write_at(sqfs_file_t *base, sqfs_u64 offset, const void *buffer, size_t size)
{
	struct fd_file *f = (struct fd_file *)base;
	const char *p = buffer;

	if (!f->writable)
		return SQFS_ERROR_IO;
	if (FAULT("image_write.write")) {
		errno = EIO;
		return SQFS_ERROR_IO;
	}
	if (offset > UINT64_MAX - size)
		return SQFS_ERROR_OVERFLOW;
	uint64_t end = offset + size;
	while (size > 0) {
		ssize_t n = pwrite(f->fd, p, size, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return SQFS_ERROR_IO;
		}
		p += n;
		offset += (uint64_t)n;
		size -= (size_t)n;
	}
	if (end > f->size)
		f->size = end;
	if (f->size > f->limit)
		f->limit = f->size;
	return 0;
}

static sqfs_u64 fd_file_get_size(const sqfs_file_t *base)
{
	return ((const struct fd_file *)base)->size;
}

static int fd_file_truncate(sqfs_file_t *base, sqfs_u64 size)
{
	struct fd_file *f = (struct fd_file *)base;
	if (!f->writable)
		return SQFS_ERROR_IO;
	if (ftruncate(f->fd, (off_t)size) < 0)
		return SQFS_ERROR_IO;
	f->size = size;
	f->limit = size;
	return 0;
}

sqfs_file_t *image_file_create(int fd, uint64_t size, uint64_t limit, bool writable)
{
	struct fd_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->base.base.destroy = fd_file_destroy;
	f->base.base.copy = NULL; /* libsquashfs never needs to copy our files */
	f->base.read_at = fd_file_read_at;
	f->base.write_at = fd_file_write_at;
	f->base.get_size = fd_file_get_size;
	f->base.truncate = fd_file_truncate;
	f->fd = fd;
	f->size = size;
	f->limit = limit;
	f->writable = writable;
	return &f->base;
}

const char *image_sqfs_strerror(int e)
{
	switch (e) {
	case SQFS_ERROR_ALLOC:
		return "out of memory";
	case SQFS_ERROR_IO:
		return "input/output error";
	case SQFS_ERROR_COMPRESSOR:
		return "compressed data is damaged";
	case SQFS_ERROR_INTERNAL:
		return "internal error of libsquashfs";
	case SQFS_ERROR_CORRUPTED:
		return "data structure is corrupted";
	case SQFS_ERROR_UNSUPPORTED:
		return "unsupported feature";
	case SQFS_ERROR_OVERFLOW:
		return "size overflows";
	case SQFS_ERROR_OUT_OF_BOUNDS:
		return "reference out of bounds";
	case SFQS_ERROR_SUPER_MAGIC:
		return "bad magic";
	case SFQS_ERROR_SUPER_VERSION:
		return "unsupported version";
	case SQFS_ERROR_SUPER_BLOCK_SIZE:
		return "bad block size";
	case SQFS_ERROR_NOT_DIR:
		return "not a directory";
	case SQFS_ERROR_NO_ENTRY:
		return "no such entry";
	case SQFS_ERROR_LINK_LOOP:
		return "loop";
	case SQFS_ERROR_NOT_FILE:
		return "not a regular file";
	case SQFS_ERROR_ARG_INVALID:
		return "invalid argument";
	case SQFS_ERROR_SEQUENCE:
		return "calls out of sequence";
	default:
		return "unknown libsquashfs error";
	}
}

int image_sqfs_code(int e)
{
	switch (e) {
	case SQFS_ERROR_ALLOC:
		return FERRY_E_NOMEM;
	case SQFS_ERROR_IO:
		return FERRY_E_IO;
	case SQFS_ERROR_INTERNAL:
	case SQFS_ERROR_ARG_INVALID:
	case SQFS_ERROR_SEQUENCE:
		return FERRY_E_INTERNAL;
	case SQFS_ERROR_UNSUPPORTED:
		return FERRY_E_UNSUPPORTED;
	default:
		return FERRY_E_CORRUPT;
	}
}
