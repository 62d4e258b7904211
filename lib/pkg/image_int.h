/* image_int.h: what the image writer (image_write.c), reader (image_read.c)
 * and staged-tree scanner (tree.c) share: the in-memory tree of a staged
 * directory, an fd-backed sqfs_file_t, and libsquashfs error texts. Not a
 * public interface. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sqfs/io.h>
#include <sqfs/predef.h>

#include "base/error.h"
#include "pkg/image.h"

/* One entry of the staged tree, as found by tree_scan. */
struct tree_node {
	struct tree_node *parent; /* NULL for the root */
	char *name;               /* "" for the root */
	size_t name_len;
	size_t path_len; /* bytes of the relative path */
	unsigned depth;  /* path components; 0 for the root */
	mode_t type;     /* S_IFDIR, S_IFREG or S_IFLNK */
	uint16_t perm;   /* normalised permission bits */
	dev_t dev;       /* what lstat saw, to detect swaps */
	ino_t ino;
	uint64_t size;               /* regular files */
	char *target;                /* symlinks */
	struct tree_node **children; /* directories: sorted by name bytes */
	size_t nchildren;
	size_t cap;
	uint32_t nsubdirs;
	/* filled in by the writer */
	uint32_t inode_num;
	uint64_t inode_ref;
	struct sqfs_inode_generic_t *inode;
};

struct tree {
	struct tree_node *root;
	size_t entries; /* every node but the root */
	uint64_t bytes; /* sum of regular file sizes */
};

/* Scan the directory open at rootfd (not consumed) with lstat semantics and
 * build the sorted tree, refusing what image.h forbids; then check every
 * symlink. Messages name the path inside the tree. */
int tree_scan(int rootfd, size_t max_files, uint64_t max_bytes, struct tree *out,
              ferry_error *err) FERRY_WUR;
void tree_free(struct tree *t);

/* The relative path of n into buf ("" for the root); truncated to size. */
void tree_path(const struct tree_node *n, char *buf, size_t size);

/* Record "PATH: what" (and ": strerror(errnum)" when errnum is not 0) for
 * node n and return code. Kept out of line so that recursive callers do
 * not carry a path buffer in every frame. */
int tree_error(ferry_error *err, int code, int errnum, const struct tree_node *n, const char *what)
    __attribute__((noinline));

/* An sqfs_file_t over a descriptor it does not own. Reads past limit fail
 * with SQFS_ERROR_OUT_OF_BOUNDS; writes (when writable) grow the size. */
sqfs_file_t *image_file_create(int fd, uint64_t size, uint64_t limit, bool writable);

/* Text and ferry code of a libsquashfs error value. */
const char *image_sqfs_strerror(int sqfs_err);
int image_sqfs_code(int sqfs_err);
