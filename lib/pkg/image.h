/* image.h: the package image: a squashfs file system written and read with
 * libsquashfs (squashfs-tools-ng), never mounted to be read here.
 *
 * Writing takes a staged directory tree, checks that it is safe by
 * construction (regular files, directories and symlinks only; no setuid or
 * setgid bits; no link that resolves outside the tree; bounded file count and
 * size), and writes a deterministic image: entries in byte order of their
 * names, every owner root:root, every mtime the given timestamp, modes
 * normalised, a fixed block size and compressor options. The same tree gives
 * the same bytes whatever the listing order, mtimes, umask, thread count or
 * machine.
 *
 * Reading opens an untrusted image and bounds everything it follows (inode
 * counts, directory sizes and depth, table offsets); a corrupt, truncated or
 * hostile image gets FERRY_E_CORRUPT or FERRY_E_LIMIT with a message that
 * names the image and what is wrong, never a crash and never unbounded
 * memory. The byte layout and the rules are in docs/formats/package.md.
 *
 * Rules both sides apply (the writer refuses, the reader rejects):
 *   - entry names: 1..255 bytes, no '/', not "." or ".."
 *   - at most IMAGE_MAX_DEPTH path components, paths at most IMAGE_MAX_PATH
 *     bytes, at most max_files entries (IMAGE_MAX_FILES) and max_bytes of
 *     regular file contents (IMAGE_MAX_BYTES)
 *   - only directories, regular files and symlinks; no setuid/setgid file
 *   - symlink targets relative, 1..IMAGE_MAX_PATH bytes, never leading out of
 *     the tree. The writer resolves each target through the staged tree
 *     (following the links it passes through, as the kernel would), the
 *     reader checks the target lexically from the link's directory.
 *
 * Decisions worth knowing:
 *   - Hard links in the staged tree are stored as separate copies: each path
 *     gets its own inode (identical contents are deduplicated at the block
 *     level, so this costs almost nothing). Whether the staging step happened
 *     to hard-link two files therefore never changes the image's bytes. The
 *     reader rejects an image in which one inode is reachable by two paths.
 *   - The setgid bit of a directory only asks new files to inherit the
 *     directory's group; it grants nothing, so it is dropped by the mode
 *     normalisation (directories are 0755) instead of being refused.
 *
 * Thread safety: an image_write call is self-contained (it may start worker
 * threads of its own). A struct image must not be used by two threads at
 * once. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

#define IMAGE_MAX_FILES 200000u                     /* entries in one image */
#define IMAGE_MAX_BYTES (4ull * 1024 * 1024 * 1024) /* uncompressed total */
#define IMAGE_MAX_DEPTH 64                          /* path components */
#define IMAGE_MAX_PATH 4095                         /* bytes of a path or link target */
#define IMAGE_MAX_NAME 255                          /* bytes of one name */
#define IMAGE_BLOCK_SIZE (128u * 1024)              /* squashfs data block size */
#define IMAGE_DEFAULT_MTIME 0                       /* without SOURCE_DATE_EPOCH */

enum image_compression { IMAGE_ZSTD = 0, IMAGE_XZ, IMAGE_LZ4, IMAGE_GZIP };

/* name -> compression ("zstd", "xz", "lz4", "gzip"); -1 when unknown */
int image_compression_parse(const char *name);
const char *image_compression_name(enum image_compression c);

/* The timestamp for image_write_opts.mtime: SOURCE_DATE_EPOCH from the
 * environment when set (a decimal number of seconds, at most 2^32-1), else
 * IMAGE_DEFAULT_MTIME. A malformed value is FERRY_E_INVALID. */
int image_mtime_from_env(uint32_t *mtime, ferry_error *err) FERRY_WUR;

/* Progress of a long operation: done and total in bytes of file contents. */
typedef void (*image_progress_fn)(uint64_t done, uint64_t total, void *ctx);

/* Sees every block the writer compresses (data, fragment and metadata
 * blocks), possibly on several threads at once: in_size uncompressed bytes
 * at in, and what compression gave: out_size bytes at out (0: the block is
 * stored uncompressed), in a buffer of room bytes. Returns the size to store
 * (at most room, and below in_size; 0 to store in uncompressed), having
 * replaced the bytes at out if it likes, or -1 to fail the write. Delta
 * rebuilds use it to keep another image's layout (lib/pkg/delta_apply.c). */
typedef long (*image_block_hook)(const void *in, size_t in_size, void *out, size_t out_size,
                                 size_t room, void *ctx);

struct image_write_opts {
	enum image_compression compression;
	uint32_t mtime;             /* applied to every inode and the superblock */
	size_t max_files;           /* 0: IMAGE_MAX_FILES */
	uint64_t max_bytes;         /* 0: IMAGE_MAX_BYTES */
	unsigned threads;           /* compressor threads; 0: one per CPU (max 16) */
	image_progress_fn progress; /* may be NULL */
	void *progress_ctx;
	image_block_hook block_hook; /* may be NULL */
	void *block_hook_ctx;
};

/* Check the tree at dir and write its image to out_path (atomically: a temp
 * file next to out_path, fsynced and renamed into place only when complete;
 * on any error nothing is left behind). The image file gets mode 0644.
 * Refusals name the path inside the tree and the reason, for example
 *   "usr/bin/su: setuid bit set"                           FERRY_E_UNSAFE
 *   "dev/null: device node"   ("socket", "FIFO")            FERRY_E_UNSAFE
 *   "lib/x: symlink target \"/etc/x\" is absolute"          FERRY_E_UNSAFE
 *   "lib/y: symlink target \"../../etc\" points outside the tree"
 *   "a/b: deeper than 64 levels", "more than 3 entries"     FERRY_E_LIMIT
 * A file that changes while it is being packed fails with FERRY_E_IO.
 * opts may be NULL: zstd, mtime 0, the default limits. */
int image_write(const char *dir, const char *out_path, const struct image_write_opts *opts,
                ferry_error *err) FERRY_WUR;

struct image;

struct image_entry {
	const char *path;   /* relative, no leading slash; "" is the root */
	mode_t mode;        /* type and permission bits */
	uint64_t size;      /* regular files: bytes */
	const char *target; /* symlinks: where they point; else NULL */
	unsigned depth;     /* path components: 0 for the root */
};

struct image_info {
	enum image_compression compression;
	uint32_t block_size;
	uint32_t mtime;      /* the superblock's modification time */
	uint32_t inodes;     /* inode count, the root included */
	uint64_t bytes_used; /* bytes of the file system, without padding */
};

/* Open an image file for reading; validates the superblock (magic, version
 * 4.0, block size, compressor, sizes and table offsets within the file,
 * inode count at most IMAGE_MAX_FILES + 1), the ID and fragment tables and
 * the root inode. Messages start with path. */
int image_open(const char *path, struct image **out, ferry_error *err) FERRY_WUR;

/* Same on an open descriptor (duplicated: the caller keeps fd); name is used
 * in messages. */
int image_open_fd(int fd, const char *name, struct image **out, ferry_error *err) FERRY_WUR;

void image_close(struct image *img);

/* Compressor of an opened image. */
enum image_compression image_get_compression(const struct image *img);

void image_get_info(const struct image *img, struct image_info *info);

/* Read one regular file of the image (path relative, components separated by
 * '/', symlinks not followed), at most max bytes: a larger file fails with
 * FERRY_E_LIMIT before anything is allocated. *data is NUL-terminated (not
 * counted in *len) and must be freed. A missing path is FERRY_E_NOTFOUND, a
 * path that is not a regular file FERRY_E_INVALID. */
int image_read_file(struct image *img, const char *path, size_t max, char **data, size_t *len,
                    ferry_error *err) FERRY_WUR;

/* Visit every entry, the root first, then depth-first in byte order of
 * names; each entry is validated before fn sees it (names, order, depth,
 * types, modes, symlink targets, inode reached twice, entry count and total
 * size bounds). The entry and its strings are valid during the call only.
 * A non-zero return from fn stops the walk and is returned as is. fn may call
 * image_read_file on the same image. */
typedef int (*image_visit_fn)(const struct image_entry *e, void *ctx);
int image_walk(struct image *img, image_visit_fn fn, void *ctx, ferry_error *err) FERRY_WUR;

/* Extract the whole image into dest, which must not exist (FERRY_E_EXISTS)
 * and whose parent must. Files are created read-only (0444, or 0555 when
 * executable), directories 0555, every mtime the image's; nothing is created
 * through a symlink. On error the partial tree is removed. The agent uses
 * this when it cannot loop-mount. */
int image_extract(struct image *img, const char *dest, ferry_error *err) FERRY_WUR;
