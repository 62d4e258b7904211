/* image_read.c: reads an untrusted package image: superblock and table
 * validation (image_open), the tree walk (image_walk), single files
 * (image_read_file) and extraction to a read-only tree (image_extract).
 *
 * Everything an image says is bounded before it is followed: table offsets
 * must lie inside the file system, which must lie inside the file; the inode
 * count, entry count, depth, path and name lengths, symlink target lengths,
 * file sizes and total size have fixed maxima (image.h); every inode is
 * pre-checked before libsquashfs decodes it (libsquashfs would allocate what
 * a hostile size field asks); each inode may be reached once, so a directory
 * loop ends the walk; data blocks are decompressed into buffers of exactly
 * the size they must have. Metadata is decoded by libsquashfs' meta reader,
 * data blocks by its decompressors; the checks around them are ours.
 *
 * It does not mount anything, follow symlinks, or keep more than one
 * directory level's state per depth. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/compressor.h>
#include <sqfs/dir.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/meta_reader.h>
#include <sqfs/super.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "pkg/image_int.h"

#define NO_TABLE 0xFFFFFFFFFFFFFFFFull
#define SUPER_SIZE 96

struct image {
	char *name;
	int fd;
	uint64_t file_size;
	sqfs_super_t super;
	enum image_compression compression;
	sqfs_file_t *file;
	sqfs_compressor_t *cmp;
	sqfs_id_table_t *idtbl;
	sqfs_frag_table_t *frag;
	size_t frag_count;
	sqfs_meta_reader_t *imr; /* inode table */
	sqfs_meta_reader_t *dmr; /* directory table */
	sqfs_inode_generic_t *root;
	uint8_t *raw;        /* one on-disk block */
	uint8_t *block;      /* one decompressed data block */
	uint8_t *frag_block; /* the cached fragment block */
	size_t frag_len;
	uint32_t frag_cached; /* its index, or UINT32_MAX */
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int corrupt(struct image *img, ferry_error *err, const char *fmt, ...) FERRY_PRINTF(3, 4);
static int corrupt(struct image *img, ferry_error *err, const char *fmt, ...)
{
	char msg[FERRY_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ferry_error_set(err, FERRY_E_CORRUPT, "%s: %s", img->name, msg);
}

/* A libsquashfs failure while reading what: corrupt unless memory or I/O. */
static int sqfs_read_fail(struct image *img, ferry_error *err, int e, const char *what,
                          const char *path)
{
	int code = image_sqfs_code(e);
	if (code == FERRY_E_INTERNAL || code == FERRY_E_UNSUPPORTED)
		code = FERRY_E_CORRUPT;
	return ferry_error_set(err, code, "%s: %s%s%s: %s", img->name, path ? path : "",
	                       path ? ": " : "", what, image_sqfs_strerror(e));
}

static const char *type_name(unsigned type)
{
	switch (type) {
	case SQFS_INODE_BDEV:
	case SQFS_INODE_CDEV:
	case SQFS_INODE_EXT_BDEV:
	case SQFS_INODE_EXT_CDEV:
		return "device node";
	case SQFS_INODE_FIFO:
	case SQFS_INODE_EXT_FIFO:
		return "FIFO";
	case SQFS_INODE_SOCKET:
	case SQFS_INODE_EXT_SOCKET:
		return "socket";
	default:
		return "unknown file type";
	}
}

static unsigned basic_type(unsigned type)
{
	return type >= SQFS_INODE_EXT_DIR ? type - 7 : type;
}

/* ---- open ---- */

static int table_list_fits(uint64_t start, uint64_t entries, uint64_t entry_size, uint64_t end)
{
	uint64_t bytes = entries * entry_size; /* callers bound entries well below overflow */
	uint64_t blocks = (bytes + SQFS_META_BLOCK_SIZE - 1) / SQFS_META_BLOCK_SIZE;
	return start < end && blocks * 8 <= end - start;
}

static int check_super(struct image *img, const uint8_t *raw, ferry_error *err)
{
	sqfs_super_t *s = &img->super;

	s->magic = le32(raw + 0);
	s->inode_count = le32(raw + 4);
	s->modification_time = le32(raw + 8);
	s->block_size = le32(raw + 12);
	s->fragment_entry_count = le32(raw + 16);
	s->compression_id = le16(raw + 20);
	s->block_log = le16(raw + 22);
	s->flags = le16(raw + 24);
	s->id_count = le16(raw + 26);
	s->version_major = le16(raw + 28);
	s->version_minor = le16(raw + 30);
	s->root_inode_ref = le64(raw + 32);
	s->bytes_used = le64(raw + 40);
	s->id_table_start = le64(raw + 48);
	s->xattr_id_table_start = le64(raw + 56);
	s->inode_table_start = le64(raw + 64);
	s->directory_table_start = le64(raw + 72);
	s->fragment_table_start = le64(raw + 80);
	s->export_table_start = le64(raw + 88);

	if (s->magic != SQFS_MAGIC)
		return corrupt(img, err, "not a squashfs image (bad magic)");
	if (s->version_major != 4 || s->version_minor != 0)
		return corrupt(img, err, "squashfs version %u.%u, expected 4.0", s->version_major,
		               s->version_minor);
	if (s->block_size < SQFS_MIN_BLOCK_SIZE || s->block_size > SQFS_MAX_BLOCK_SIZE ||
	    (s->block_size & (s->block_size - 1)) || s->block_log > 20 ||
	    (1u << s->block_log) != s->block_size)
		return corrupt(img, err, "block size %u (log %u) is not valid", s->block_size,
		               s->block_log);
	switch (s->compression_id) {
	case SQFS_COMP_ZSTD:
		img->compression = IMAGE_ZSTD;
		break;
	case SQFS_COMP_XZ:
		img->compression = IMAGE_XZ;
		break;
	case SQFS_COMP_LZ4:
		img->compression = IMAGE_LZ4;
		break;
	case SQFS_COMP_GZIP:
		img->compression = IMAGE_GZIP;
		break;
	case SQFS_COMP_LZMA:
	case SQFS_COMP_LZO:
		return ferry_error_set(
		    err, FERRY_E_UNSUPPORTED,
		    "%s: compressor %s is not supported (use zstd, xz, lz4 or gzip)", img->name,
		    s->compression_id == SQFS_COMP_LZO ? "lzo" : "lzma");
	default:
		return corrupt(img, err, "unknown compressor %u", s->compression_id);
	}
	if (s->bytes_used < SUPER_SIZE || s->bytes_used > img->file_size)
		return corrupt(
		    img, err, "truncated: the superblock says %llu bytes, the file has %llu",
		    (unsigned long long)s->bytes_used, (unsigned long long)img->file_size);
	if (s->inode_count == 0)
		return corrupt(img, err, "no inodes");
	if (s->inode_count > IMAGE_MAX_FILES + 1)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s: %u inodes, more than the limit of %u", img->name,
		                       s->inode_count, IMAGE_MAX_FILES + 1);
	if (s->id_count == 0)
		return corrupt(img, err, "empty ID table");

	uint64_t end = s->bytes_used;
	if (s->inode_table_start < SUPER_SIZE || s->inode_table_start >= end)
		return corrupt(img, err, "inode table offset %llu out of bounds",
		               (unsigned long long)s->inode_table_start);
	if (s->directory_table_start <= s->inode_table_start || s->directory_table_start >= end)
		return corrupt(img, err, "directory table offset %llu out of bounds",
		               (unsigned long long)s->directory_table_start);
	if (s->id_table_start <= s->directory_table_start ||
	    !table_list_fits(s->id_table_start, s->id_count, 4, end))
		return corrupt(img, err, "ID table offset %llu out of bounds",
		               (unsigned long long)s->id_table_start);
	if (s->fragment_table_start == NO_TABLE || (s->flags & SQFS_FLAG_NO_FRAGMENTS)) {
		img->frag_count = 0;
	} else {
		/* Every fragment block holds the tail of at least one file. */
		if (s->fragment_entry_count > s->inode_count)
			return corrupt(img, err, "%u fragment blocks for %u inodes",
			               s->fragment_entry_count, s->inode_count);
		if (s->fragment_table_start <= s->directory_table_start ||
		    s->fragment_table_start >= s->id_table_start ||
		    !table_list_fits(s->fragment_table_start, s->fragment_entry_count, 16,
		                     s->id_table_start))
			return corrupt(img, err, "fragment table offset %llu out of bounds",
			               (unsigned long long)s->fragment_table_start);
		img->frag_count = s->fragment_entry_count;
	}
	if (s->export_table_start != NO_TABLE &&
	    (s->export_table_start <= s->directory_table_start || s->export_table_start >= end))
		return corrupt(img, err, "export table offset %llu out of bounds",
		               (unsigned long long)s->export_table_start);
	if (s->xattr_id_table_start != NO_TABLE &&
	    (s->xattr_id_table_start <= s->id_table_start || s->xattr_id_table_start >= end))
		return corrupt(img, err, "xattr table offset %llu out of bounds",
		               (unsigned long long)s->xattr_id_table_start);
	if ((s->root_inode_ref & 0xFFFF) >= SQFS_META_BLOCK_SIZE ||
	    (s->root_inode_ref >> 16) >= s->directory_table_start - s->inode_table_start)
		return corrupt(img, err, "root inode reference out of bounds");
	return 0;
}

/* Read the fixed part of the inode at ref and check every size in it that
 * libsquashfs would allocate by, then let libsquashfs decode it. */
static int read_inode(struct image *img, uint64_t ref, const char *path, sqfs_inode_generic_t **out,
                      ferry_error *err)
{
	const sqfs_super_t *s = &img->super;
	uint64_t block = ref >> 16;
	size_t offset = ref & 0xFFFF;
	uint8_t b[40];
	const char *what = path[0] ? path : "root directory";
	int e;

	if (offset >= SQFS_META_BLOCK_SIZE ||
	    block >= s->directory_table_start - s->inode_table_start)
		return corrupt(img, err, "%s: inode reference out of bounds", what);
	e = sqfs_meta_reader_seek(img->imr, s->inode_table_start + block, offset);
	if (e == 0)
		e = sqfs_meta_reader_read(img->imr, b, 16);
	if (e)
		return sqfs_read_fail(img, err, e, "inode", what);
	unsigned type = le16(b);
	if (le16(b + 4) >= s->id_count || le16(b + 6) >= s->id_count)
		return corrupt(img, err, "%s: owner index out of range", what);
	switch (type) {
	case SQFS_INODE_EXT_FILE:
		e = sqfs_meta_reader_read(img->imr, b, 40);
		if (e)
			return sqfs_read_fail(img, err, e, "inode", what);
		if (le64(b + 8) > IMAGE_MAX_BYTES)
			return ferry_error_set(
			    err, FERRY_E_LIMIT,
			    "%s: %s: file of %llu bytes, more than the limit of %llu", img->name,
			    what, (unsigned long long)le64(b + 8),
			    (unsigned long long)IMAGE_MAX_BYTES);
		break;
	case SQFS_INODE_SLINK:
	case SQFS_INODE_EXT_SLINK:
		e = sqfs_meta_reader_read(img->imr, b, 8);
		if (e)
			return sqfs_read_fail(img, err, e, "inode", what);
		if (le32(b + 4) == 0 || le32(b + 4) > IMAGE_MAX_PATH)
			return corrupt(img, err, "%s: symlink target of %u bytes", what,
			               le32(b + 4));
		break;
	case SQFS_INODE_EXT_DIR: {
		e = sqfs_meta_reader_read(img->imr, b, 24);
		if (e)
			return sqfs_read_fail(img, err, e, "inode", what);
		unsigned count = le16(b + 16);
		for (unsigned i = 0; i < count; i++) {
			uint8_t name[SQFS_MAX_DIR_ENT];
			e = sqfs_meta_reader_read(img->imr, b, 12);
			if (e)
				return sqfs_read_fail(img, err, e, "directory index", what);
			uint32_t len = le32(b + 8);
			if (len >= SQFS_MAX_DIR_ENT)
				return corrupt(img, err, "%s: directory index name of %u bytes",
				               what, len + 1);
			e = sqfs_meta_reader_read(img->imr, name, len + 1);
			if (e)
				return sqfs_read_fail(img, err, e, "directory index", what);
		}
		break;
	}
	case SQFS_INODE_DIR:
	case SQFS_INODE_FILE: /* sizes are 32 bits: below IMAGE_MAX_BYTES */
	case SQFS_INODE_BDEV:
	case SQFS_INODE_CDEV:
	case SQFS_INODE_FIFO:
	case SQFS_INODE_SOCKET:
	case SQFS_INODE_EXT_BDEV:
	case SQFS_INODE_EXT_CDEV:
	case SQFS_INODE_EXT_FIFO:
	case SQFS_INODE_EXT_SOCKET:
		break;
	default:
		return corrupt(img, err, "%s: unknown inode type %u", what, type);
	}
	e = sqfs_meta_reader_read_inode(img->imr, s, block, offset, out);
	if (e)
		return sqfs_read_fail(img, err, e, "inode", what);
	return 0;
}

static int open_tables(struct image *img, ferry_error *err)
{
	const sqfs_super_t *s = &img->super;
	sqfs_compressor_config_t cfg;
	int e;

	img->file = image_file_create(img->fd, img->file_size, s->bytes_used, false);
	if (!img->file)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	e = sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)s->compression_id, s->block_size,
	                                SQFS_COMP_FLAG_UNCOMPRESS);
	if (e == 0)
		e = sqfs_compressor_create(&cfg, &img->cmp);
	if (e)
		return ferry_error_set(err, FERRY_E_UNSUPPORTED, "%s: decompressor %s: %s",
		                       img->name, image_compression_name(img->compression),
		                       image_sqfs_strerror(e));
	img->idtbl = sqfs_id_table_create(0);
	img->frag = sqfs_frag_table_create(0);
	if (!img->idtbl || !img->frag)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	e = sqfs_id_table_read(img->idtbl, img->file, s, img->cmp);
	if (e)
		return sqfs_read_fail(img, err, e, "ID table", NULL);
	if (img->frag_count > 0) {
		e = sqfs_frag_table_read(img->frag, img->file, s, img->cmp);
		if (e)
			return sqfs_read_fail(img, err, e, "fragment table", NULL);
	}
	/* The directory table ends where the next table's blocks begin. */
	uint64_t dir_end = s->id_table_start;
	if (img->frag_count > 0 && s->fragment_table_start < dir_end)
		dir_end = s->fragment_table_start;
	if (s->export_table_start != NO_TABLE && s->export_table_start < dir_end)
		dir_end = s->export_table_start;
	img->imr = sqfs_meta_reader_create(img->file, img->cmp, s->inode_table_start,
	                                   s->directory_table_start);
	img->dmr = sqfs_meta_reader_create(img->file, img->cmp, s->directory_table_start, dir_end);
	img->raw = malloc(s->block_size);
	img->block = malloc(s->block_size);
	img->frag_block = malloc(s->block_size);
	if (!img->imr || !img->dmr || !img->raw || !img->block || !img->frag_block)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	img->frag_cached = UINT32_MAX;

	int rc = read_inode(img, s->root_inode_ref, "", &img->root, err);
	if (rc < 0)
		return rc;
	if (img->root->base.type != SQFS_INODE_DIR && img->root->base.type != SQFS_INODE_EXT_DIR)
		return corrupt(img, err, "the root is not a directory");
	if (img->root->base.inode_number == 0 || img->root->base.inode_number > s->inode_count)
		return corrupt(img, err, "root directory: inode number %u out of range",
		               img->root->base.inode_number);
	return 0;
}

int image_open_fd(int fd, const char *name, struct image **out, ferry_error *err)
{
	uint8_t raw[SUPER_SIZE];
	struct stat st;
	int rc;

	*out = NULL;
	struct image *img = calloc(1, sizeof(*img));
	if (!img)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	img->fd = -1;
	img->name = strdup(name);
	if (!img->name) {
		image_close(img);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	img->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (img->fd < 0 || fstat(img->fd, &st) < 0) {
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "%s", name);
		image_close(img);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		image_close(img);
		return ferry_error_set(err, FERRY_E_INVALID, "%s: not a regular file", name);
	}
	img->file_size = (uint64_t)st.st_size;
	if (img->file_size < SUPER_SIZE) {
		rc = corrupt(img, err, "truncated: %llu bytes, smaller than a squashfs superblock",
		             (unsigned long long)img->file_size);
		image_close(img);
		return rc;
	}
	ssize_t n;
	do
		n = pread(img->fd, raw, sizeof(raw), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(raw)) {
		rc = n < 0 ? ferry_error_errno(err, FERRY_E_IO, errno, "read %s", name)
		           : corrupt(img, err, "truncated superblock");
		image_close(img);
		return rc;
	}
	rc = check_super(img, raw, err);
	if (rc == 0)
		rc = open_tables(img, err);
	if (rc < 0) {
		image_close(img);
		return rc;
	}
	*out = img;
	return 0;
}

int image_open(const char *path, struct image **out, ferry_error *err)
{
	*out = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ferry_error_errno(err, errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO,
		                         errno, "open %s", path);
	return image_open_fd(fd, path, out, err);
}

void image_close(struct image *img)
{
	if (!img)
		return;
	free(img->root);
	sqfs_destroy(img->dmr);
	sqfs_destroy(img->imr);
	sqfs_destroy(img->frag);
	sqfs_destroy(img->idtbl);
	sqfs_destroy(img->cmp);
	sqfs_destroy(img->file);
	free(img->raw);
	free(img->block);
	free(img->frag_block);
	if (img->fd >= 0)
		close(img->fd);
	free(img->name);
	free(img);
}

enum image_compression image_get_compression(const struct image *img)
{
	return img->compression;
}

void image_get_info(const struct image *img, struct image_info *info)
{
	info->compression = img->compression;
	info->block_size = img->super.block_size;
	info->mtime = img->super.modification_time;
	info->inodes = img->super.inode_count;
	info->bytes_used = img->super.bytes_used;
}

/* ---- file data ---- */

typedef int (*data_sink)(void *ctx, const void *data, size_t len);

/* Read and decompress the on-disk block at off (size word sz) into out,
 * which must receive exactly want bytes (want 0: any size up to a block). */
static int read_block(struct image *img, uint64_t off, uint32_t sz, uint8_t *out, size_t want,
                      size_t *got, const char *what, ferry_error *err)
{
	uint32_t on_disk = SQFS_ON_DISK_BLOCK_SIZE(sz);
	size_t cap = want ? want : img->super.block_size;

	if (on_disk > img->super.block_size)
		return corrupt(img, err, "%s: block of %u bytes, larger than the block size", what,
		               on_disk);
	if (off < SUPER_SIZE || off > img->super.inode_table_start ||
	    on_disk > img->super.inode_table_start - off)
		return corrupt(img, err, "%s: block outside the data area", what);
	int e = img->file->read_at(img->file, off, img->raw, on_disk);
	if (e)
		return sqfs_read_fail(img, err, e, "data block", what);
	if (SQFS_IS_BLOCK_COMPRESSED(sz)) {
		sqfs_s32 r = img->cmp->do_block(img->cmp, img->raw, on_disk, out, (sqfs_u32)cap);
		if (r <= 0 || (want && (size_t)r != want))
			return corrupt(img, err, "%s: compressed data is damaged", what);
		*got = (size_t)r;
	} else {
		if (on_disk > cap || (want && on_disk != want))
			return corrupt(img, err, "%s: stored block of %u bytes, expected %zu", what,
			               on_disk, want);
		memcpy(out, img->raw, on_disk);
		*got = on_disk;
	}
	return 0;
}

static int read_data(struct image *img, const sqfs_inode_generic_t *inode, const char *path,
                     data_sink sink, void *ctx, ferry_error *err)
{
	const uint32_t bs = img->super.block_size;
	uint64_t size, off;
	uint32_t frag_idx, frag_off;
	size_t got;
	int rc;

	sqfs_inode_get_file_size(inode, &size);
	sqfs_inode_get_file_block_start(inode, &off);
	sqfs_inode_get_frag_location(inode, &frag_idx, &frag_off);
	bool has_frag = frag_idx != 0xFFFFFFFF && frag_off != 0xFFFFFFFF;
	size_t count = sqfs_inode_get_file_block_count(inode);

	for (size_t i = 0; i < count; i++) {
		uint64_t left = size - (uint64_t)i * bs;
		size_t want = left < bs ? (size_t)left : bs;
		uint32_t sz = inode->extra[i];
		if (SQFS_IS_SPARSE_BLOCK(sz)) {
			memset(img->block, 0, want);
		} else {
			rc = read_block(img, off, sz, img->block, want, &got, path, err);
			if (rc < 0)
				return rc;
			off += SQFS_ON_DISK_BLOCK_SIZE(sz);
		}
		rc = sink(ctx, img->block, want);
		if (rc < 0)
			return rc;
	}
	uint64_t covered = (uint64_t)count * bs;
	uint64_t tail = covered < size ? size - covered : 0;
	if (tail == 0)
		return 0;
	if (!has_frag || tail >= bs)
		return corrupt(img, err, "%s: block list does not cover the file", path);
	if (frag_idx != img->frag_cached) {
		sqfs_fragment_t ent;
		if (frag_idx >= img->frag_count ||
		    sqfs_frag_table_lookup(img->frag, frag_idx, &ent))
			return corrupt(img, err, "%s: fragment %u out of range", path, frag_idx);
		if (SQFS_IS_SPARSE_BLOCK(ent.size))
			return corrupt(img, err, "%s: empty fragment block", path);
		img->frag_cached = UINT32_MAX;
		rc = read_block(img, ent.start_offset, ent.size, img->frag_block, 0, &img->frag_len,
		                path, err);
		if (rc < 0)
			return rc;
		img->frag_cached = frag_idx;
	}
	if (frag_off > img->frag_len || tail > img->frag_len - frag_off)
		return corrupt(img, err, "%s: fragment out of bounds", path);
	return sink(ctx, img->frag_block + frag_off, (size_t)tail);
}

/* ---- walking ---- */

struct walk;
typedef int (*walk_visit_fn)(struct walk *w, const struct image_entry *e,
                             const sqfs_inode_generic_t *inode);

struct walk {
	struct image *img;
	ferry_error *err;
	walk_visit_fn visit;
	walk_visit_fn leave; /* after a directory's entries; may be NULL */
	void *ctx;
	uint8_t *seen; /* bitmap of inode numbers */
	size_t entries;
	uint64_t bytes;
	char path[IMAGE_MAX_PATH + 1];
};

static bool mark_seen(struct walk *w, uint32_t num)
{
	if (num == 0 || num > w->img->super.inode_count)
		return false;
	uint8_t bit = (uint8_t)(1u << (num & 7));
	if (w->seen[num >> 3] & bit)
		return false;
	w->seen[num >> 3] |= bit;
	return true;
}

/* Does target, relative to a directory depth components deep, stay inside? */
static bool target_inside(const char *target, unsigned depth)
{
	long level = depth;
	if (target[0] == '/')
		return false;
	for (const char *p = target; *p;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (--level < 0)
				return false;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			level++;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	return true;
}

/* Validate the inode of the entry at w->path and describe it in e. */
static int check_entry(struct walk *w, const sqfs_inode_generic_t *inode, unsigned depth,
                       struct image_entry *e)
{
	struct image *img = w->img;
	const char *what = w->path[0] ? w->path : "root directory";
	unsigned type = inode->base.type;

	if (!mark_seen(w, inode->base.inode_number))
		return corrupt(
		    img, w->err,
		    "%s: inode %u out of range or reached twice (directory loop or hard link)",
		    what, inode->base.inode_number);
	memset(e, 0, sizeof(*e));
	e->path = w->path;
	e->mode = inode->base.mode;
	e->depth = depth;
	switch (basic_type(type)) {
	case SQFS_INODE_DIR:
		break;
	case SQFS_INODE_FILE:
		if (e->mode & S_ISUID)
			return ferry_error_set(w->err, FERRY_E_UNSAFE, "%s: %s: setuid bit set",
			                       img->name, what);
		if (e->mode & S_ISGID)
			return ferry_error_set(w->err, FERRY_E_UNSAFE, "%s: %s: setgid bit set",
			                       img->name, what);
		sqfs_inode_get_file_size(inode, &e->size);
		if (e->size > IMAGE_MAX_BYTES - w->bytes)
			return ferry_error_set(w->err, FERRY_E_LIMIT,
			                       "%s: more than %llu bytes of files", img->name,
			                       (unsigned long long)IMAGE_MAX_BYTES);
		w->bytes += e->size;
		break;
	case SQFS_INODE_SLINK: {
		const char *t = (const char *)inode->extra;
		if (strlen(t) != inode->data.slink.target_size)
			return corrupt(img, w->err, "%s: symlink target contains a NUL byte", what);
		if (t[0] == '/')
			return ferry_error_set(w->err, FERRY_E_UNSAFE,
			                       "%s: %s: symlink target \"%s\" is absolute",
			                       img->name, what, t);
		if (!target_inside(t, depth - 1))
			return ferry_error_set(
			    w->err, FERRY_E_UNSAFE,
			    "%s: %s: symlink target \"%s\" points outside the tree", img->name,
			    what, t);
		e->target = t;
		e->size = inode->data.slink.target_size;
		break;
	}
	default:
		return ferry_error_set(w->err, FERRY_E_UNSAFE, "%s: %s: %s", img->name, what,
		                       type_name(type));
	}
	return 0;
}

static int walk_dir(struct walk *w, const sqfs_inode_generic_t *dir, size_t path_len,
                    unsigned depth)
{
	struct image *img = w->img;
	sqfs_readdir_state_t st;
	char prev[SQFS_MAX_DIR_ENT + 1];
	size_t prev_len = 0;
	bool first = true;
	int rc = 0;

	const char *dpath = path_len ? w->path : "root directory";
	int e = sqfs_readdir_state_init(&st, &img->super, dir);
	if (e)
		return sqfs_read_fail(img, w->err, e, "directory", dpath);
	for (;;) {
		sqfs_dir_entry_t *ent = NULL;
		sqfs_u32 inum;
		sqfs_u64 iref;

		w->path[path_len] = '\0';
		e = sqfs_meta_reader_readdir(img->dmr, &st, &ent, &inum, &iref);
		if (e > 0)
			break;
		if (e < 0)
			return sqfs_read_fail(img, w->err, e, "directory", dpath);
		size_t len = (size_t)ent->size + 1;
		if (len > IMAGE_MAX_NAME) {
			sqfs_free(ent);
			return corrupt(img, w->err, "%s: entry name longer than %d bytes", dpath,
			               IMAGE_MAX_NAME);
		}
		char name[IMAGE_MAX_NAME + 1];
		memcpy(name, ent->name, len);
		name[len] = '\0';
		unsigned ent_type = ent->type;
		sqfs_free(ent);
		if (strlen(name) != len || strchr(name, '/') || strcmp(name, ".") == 0 ||
		    strcmp(name, "..") == 0)
			return corrupt(img, w->err, "%s: entry name is not valid", dpath);
		if (!first) {
			int cmp = memcmp(prev, name, prev_len < len ? prev_len : len);
			if (cmp > 0 || (cmp == 0 && prev_len >= len))
				return corrupt(img, w->err,
				               "%s: entries not in order or repeated (%s)", dpath,
				               name);
		}
		first = false;
		memcpy(prev, name, len);
		prev_len = len;

		if (++w->entries > IMAGE_MAX_FILES)
			return ferry_error_set(w->err, FERRY_E_LIMIT, "%s: more than %u entries",
			                       img->name, IMAGE_MAX_FILES);
		if (depth + 1 > IMAGE_MAX_DEPTH)
			return ferry_error_set(w->err, FERRY_E_LIMIT,
			                       "%s: %s/%s: deeper than %d levels", img->name,
			                       w->path, name, IMAGE_MAX_DEPTH);
		size_t new_len = path_len + (path_len ? 1 : 0) + len;
		if (new_len > IMAGE_MAX_PATH)
			return ferry_error_set(w->err, FERRY_E_LIMIT,
			                       "%s: %s/%s: path longer than %d bytes", img->name,
			                       w->path, name, IMAGE_MAX_PATH);
		if (path_len)
			w->path[path_len] = '/';
		memcpy(w->path + path_len + (path_len ? 1 : 0), name, len + 1);

		sqfs_inode_generic_t *inode = NULL;
		rc = read_inode(img, iref, w->path, &inode, w->err);
		if (rc < 0)
			return rc;
		struct image_entry entry;
		if (basic_type(inode->base.type) != ent_type)
			rc = corrupt(img, w->err, "%s: entry type %u does not match inode type %u",
			             w->path, ent_type, inode->base.type);
		if (rc == 0)
			rc = check_entry(w, inode, depth + 1, &entry);
		if (rc == 0)
			rc = w->visit(w, &entry, inode);
		if (rc == 0 && S_ISDIR(entry.mode)) {
			rc = walk_dir(w, inode, new_len, depth + 1);
			w->path[new_len] = '\0';
			if (rc == 0 && w->leave)
				rc = w->leave(w, &entry, inode);
		}
		free(inode);
		if (rc)
			return rc;
	}
	return 0;
}

static int walk_run(struct walk *w)
{
	struct image *img = w->img;
	struct image_entry root;
	size_t bits = (size_t)img->super.inode_count + 1;

	w->seen = calloc((bits + 7) / 8, 1);
	if (!w->seen)
		return ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");
	w->path[0] = '\0';
	int rc = check_entry(w, img->root, 0, &root);
	if (rc == 0)
		rc = w->visit(w, &root, img->root);
	if (rc == 0)
		rc = walk_dir(w, img->root, 0, 0);
	w->path[0] = '\0';
	if (rc == 0 && w->leave)
		rc = w->leave(w, &root, img->root);
	free(w->seen);
	w->seen = NULL;
	return rc;
}

struct user_walk {
	image_visit_fn fn;
	void *ctx;
};

static int user_visit(struct walk *w, const struct image_entry *e,
                      const sqfs_inode_generic_t *inode)
{
	struct user_walk *u = w->ctx;
	return u->fn(e, u->ctx);
}

int image_walk(struct image *img, image_visit_fn fn, void *ctx, ferry_error *err)
{
	struct user_walk u = {fn, ctx};
	struct walk w = {.img = img, .err = err, .visit = user_visit, .ctx = &u};
	return walk_run(&w);
}

/* ---- one file ---- */

static int sink_buf(void *ctx, const void *data, size_t len)
{
	return buf_append(ctx, data, len);
}

int image_read_file(struct image *img, const char *path, size_t max, char **data, size_t *len,
                    ferry_error *err)
{
	sqfs_inode_generic_t *cur = NULL;
	char sofar[IMAGE_MAX_PATH + 1] = "";
	size_t sofar_len = 0;
	unsigned depth = 0;
	int rc = 0;

	*data = NULL;
	if (len)
		*len = 0;
	if (!path[0] || path[0] == '/' || strlen(path) > IMAGE_MAX_PATH)
		return ferry_error_set(err, FERRY_E_INVALID, "%s: %s: not a valid path in an image",
		                       img->name, path);
	const sqfs_inode_generic_t *dir = img->root;
	for (const char *p = path; *p;) {
		const char *end = strchr(p, '/');
		size_t clen = end ? (size_t)(end - p) : strlen(p);
		bool last = !end || end[1] == '\0';
		if (clen == 0 || clen > IMAGE_MAX_NAME || (clen == 1 && p[0] == '.') ||
		    (clen == 2 && p[0] == '.' && p[1] == '.') || ++depth > IMAGE_MAX_DEPTH) {
			rc = ferry_error_set(err, FERRY_E_INVALID,
			                     "%s: %s: not a valid path in an image", img->name,
			                     path);
			goto out;
		}
		if (sofar_len)
			sofar[sofar_len++] = '/';
		memcpy(sofar + sofar_len, p, clen);
		sofar_len += clen;
		sofar[sofar_len] = '\0';

		sqfs_readdir_state_t st;
		int e = sqfs_readdir_state_init(&st, &img->super, dir);
		if (e) {
			rc = sqfs_read_fail(img, err, e, "directory", path);
			goto out;
		}
		sqfs_u64 found = UINT64_MAX;
		for (size_t n = 0; n <= IMAGE_MAX_FILES; n++) {
			sqfs_dir_entry_t *ent = NULL;
			sqfs_u64 iref;
			e = sqfs_meta_reader_readdir(img->dmr, &st, &ent, NULL, &iref);
			if (e > 0)
				break;
			if (e < 0) {
				rc = sqfs_read_fail(img, err, e, "directory", path);
				goto out;
			}
			size_t elen = (size_t)ent->size + 1;
			bool match = elen == clen && memcmp(ent->name, p, clen) == 0;
			sqfs_free(ent);
			if (match) {
				found = iref;
				break;
			}
		}
		if (found == UINT64_MAX) {
			rc = ferry_error_set(err, FERRY_E_NOTFOUND,
			                     "%s: %s: no such file in the image", img->name, path);
			goto out;
		}
		sqfs_inode_generic_t *next = NULL;
		rc = read_inode(img, found, sofar, &next, err);
		if (rc < 0)
			goto out;
		free(cur);
		cur = next;
		dir = cur;
		unsigned t = basic_type(cur->base.type);
		if (!last && t != SQFS_INODE_DIR) {
			rc = ferry_error_set(err, FERRY_E_NOTFOUND, "%s: %s: %s is not a directory",
			                     img->name, path, sofar);
			goto out;
		}
		if (last && t != SQFS_INODE_FILE) {
			rc = ferry_error_set(err, FERRY_E_INVALID, "%s: %s: not a regular file",
			                     img->name, path);
			goto out;
		}
		p += clen;
		if (*p == '/')
			p++;
	}
	uint64_t size;
	sqfs_inode_get_file_size(cur, &size);
	if (size > max) {
		rc = ferry_error_set(err, FERRY_E_LIMIT,
		                     "%s: %s: %llu bytes, more than the limit of %zu", img->name,
		                     path, (unsigned long long)size, max);
		goto out;
	}
	struct buf b = BUF_INIT(max);
	rc = buf_reserve(&b, (size_t)size);
	if (rc == 0)
		rc = read_data(img, cur, path, sink_buf, &b, err);
	else
		rc = ferry_error_set(err, FERRY_E_NOMEM, "%s: %s: out of memory", img->name, path);
	if (rc < 0) {
		buf_free(&b);
		goto out;
	}
	if (!b.data && buf_reserve(&b, 0) < 0) {
		rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		goto out;
	}
	b.data[b.len] = '\0';
	*data = buf_steal(&b, len);
out:
	free(cur);
	return rc;
}

/* ---- extraction ---- */

struct extract {
	int fds[IMAGE_MAX_DEPTH + 1]; /* fds[d]: the directory at depth d */
	int fd;                       /* the file being written */
	const char *dest;
	ferry_error *err;
	const char *path;
};

static int sink_fd(void *ctx, const void *data, size_t len)
{
	struct extract *x = ctx;
	if (fs_write_all(x->fd, data, len) < 0)
		return ferry_error_errno(x->err, FERRY_E_IO, errno, "%s/%s: write", x->dest,
		                         x->path);
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static int extract_visit(struct walk *w, const struct image_entry *e,
                         const sqfs_inode_generic_t *inode)
{
	struct extract *x = w->ctx;
	struct timespec times[2] = {{inode->base.mod_time, 0}, {inode->base.mod_time, 0}};

	if (e->depth == 0)
		return 0;
	int pfd = x->fds[e->depth - 1];
	const char *name = base_name(e->path);
	if (S_ISDIR(e->mode)) {
		if (mkdirat(pfd, name, 0700) < 0)
			return ferry_error_errno(w->err, FERRY_E_IO, errno, "%s/%s: mkdir", x->dest,
			                         e->path);
		x->fds[e->depth] =
		    openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (x->fds[e->depth] < 0)
			return ferry_error_errno(w->err, FERRY_E_IO, errno, "%s/%s: open", x->dest,
			                         e->path);
		return 0;
	}
	if (S_ISLNK(e->mode)) {
		if (symlinkat(e->target, pfd, name) < 0 ||
		    utimensat(pfd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
			return ferry_error_errno(w->err, FERRY_E_IO, errno, "%s/%s: symlink",
			                         x->dest, e->path);
		return 0;
	}
	x->fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (x->fd < 0)
		return ferry_error_errno(w->err, FERRY_E_IO, errno, "%s/%s: create", x->dest,
		                         e->path);
	x->err = w->err;
	x->path = e->path;
	int rc = read_data(w->img, inode, e->path, sink_fd, x, w->err);
	if (rc == 0 &&
	    (fchmod(x->fd, (e->mode & S_IXUSR) ? 0555 : 0444) < 0 || futimens(x->fd, times) < 0))
		rc = ferry_error_errno(w->err, FERRY_E_IO, errno, "%s/%s: chmod", x->dest, e->path);
	close(x->fd);
	x->fd = -1;
	return rc;
}

static int extract_leave(struct walk *w, const struct image_entry *e,
                         const sqfs_inode_generic_t *inode)
{
	struct extract *x = w->ctx;
	struct timespec times[2] = {{inode->base.mod_time, 0}, {inode->base.mod_time, 0}};
	int fd = x->fds[e->depth];
	int rc = 0;

	if (fchmod(fd, 0555) < 0 || futimens(fd, times) < 0)
		rc = ferry_error_errno(w->err, FERRY_E_IO, errno, "%s/%s: chmod", x->dest, e->path);
	if (e->depth > 0) {
		close(fd);
		x->fds[e->depth] = -1;
	}
	return rc;
}

int image_extract(struct image *img, const char *dest, ferry_error *err)
{
	struct extract x = {.fd = -1, .dest = dest};
	for (size_t i = 0; i < ARRAY_SIZE(x.fds); i++)
		x.fds[i] = -1;

	if (mkdir(dest, 0700) < 0) {
		if (errno == EEXIST)
			return ferry_error_set(err, FERRY_E_EXISTS, "%s: already exists", dest);
		return ferry_error_errno(err, errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO,
		                         errno, "mkdir %s", dest);
	}
	x.fds[0] = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc;
	if (x.fds[0] < 0) {
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "open %s", dest);
	} else {
		struct walk w = {.img = img,
		                 .err = err,
		                 .visit = extract_visit,
		                 .leave = extract_leave,
		                 .ctx = &x};
		rc = walk_run(&w);
	}
	for (size_t i = 0; i < ARRAY_SIZE(x.fds); i++)
		if (x.fds[i] >= 0)
			close(x.fds[i]);
	if (rc != 0) {
		ferry_error keep = {0};
		if (err)
			keep = *err;
		if (fs_remove_tree(dest, NULL) < 0) {
			/* keep the first error; the partial tree stays read-only */
		}
		if (err)
			*err = keep;
	}
	return rc;
}
