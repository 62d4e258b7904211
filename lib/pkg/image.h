/* image.h: the package image: a squashfs file system written and read with
 * libsquashfs (squashfs-tools-ng), never mounted to be read here.
 *
 * Writing takes a staged directory tree, checks that it is safe by
 * construction (regular files, directories and symlinks only; no setuid or
 * setgid bits; no link that resolves outside the tree; bounded file count and
 * size), and writes a deterministic image: entries in byte order of their
 * names, every owner root:root, every mtime the given timestamp, modes
 * normalised, a fixed block size and compressor options. The same tree gives
 * the same bytes whatever the listing order, mtimes, umask or machine.
 *
 * Reading opens an untrusted image and bounds everything it follows (inode
 * counts, directory sizes and depth, table offsets); a corrupt, truncated or
 * hostile image gets FERRY_E_CORRUPT or FERRY_E_LIMIT with a message, never
 * a crash. The byte layout is docs/formats/package.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

#define IMAGE_MAX_FILES 200000u                      /* entries in one image */
#define IMAGE_MAX_BYTES (4ull * 1024 * 1024 * 1024)   /* uncompressed total */
#define IMAGE_MAX_DEPTH 64                            /* directory nesting */
#define IMAGE_DEFAULT_MTIME 0                         /* without SOURCE_DATE_EPOCH */

enum image_compression { IMAGE_ZSTD = 0, IMAGE_XZ, IMAGE_LZ4, IMAGE_GZIP };

/* name -> compression ("zstd", "xz", "lz4", "gzip"); -1 when unknown */
int image_compression_parse(const char *name);
const char *image_compression_name(enum image_compression c);

/* Progress of a long operation: done and total in bytes. */
typedef void (*image_progress_fn)(uint64_t done, uint64_t total, void *ctx);

struct image_write_opts {
	enum image_compression compression;
	uint32_t mtime;             /* applied to every inode and the superblock */
	size_t max_files;           /* 0: IMAGE_MAX_FILES */
	uint64_t max_bytes;         /* 0: IMAGE_MAX_BYTES */
	image_progress_fn progress; /* may be NULL */
	void *progress_ctx;
};

/* Check the tree at dir and write its image to out_path (atomically: a temp
 * file renamed into place only when complete). Refusals name the path inside
 * the tree and the reason, e.g. "usr/bin/su: setuid bit set". */
int image_write(const char *dir, const char *out_path, const struct image_write_opts *opts,
		ferry_error *err) FERRY_WUR;

struct image;

struct image_entry {
	const char *path;     /* relative, no leading slash; "" is the root */
	mode_t mode;          /* type and permission bits */
	uint64_t size;        /* regular files: bytes */
	const char *target;   /* symlinks: where they point */
};

/* Open an image file for reading; validates the superblock and tables. */
int image_open(const char *path, struct image **out, ferry_error *err) FERRY_WUR;
void image_close(struct image *img);

/* Compressor of an opened image. */
enum image_compression image_get_compression(const struct image *img);

/* Read one regular file of the image, at most max bytes. */
int image_read_file(struct image *img, const char *path, size_t max, char **data, size_t *len,
		    ferry_error *err) FERRY_WUR;

/* Visit every entry, depth-first in name order. A non-zero return from fn
 * stops the walk and is returned. */
typedef int (*image_visit_fn)(const struct image_entry *e, void *ctx);
int image_walk(struct image *img, image_visit_fn fn, void *ctx, ferry_error *err) FERRY_WUR;

/* Extract the whole image into dest (which must not exist), read-only. The
 * agent uses this when it cannot loop-mount. */
int image_extract(struct image *img, const char *dest, ferry_error *err) FERRY_WUR;
