/* fs.h: file-system helpers that do not lose data: atomic replace (write a
 * temporary file in the same directory, fsync it, rename it over the target,
 * fsync the directory), reads bounded by a maximum size, directory creation
 * and removal. All errors name the path. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "base/error.h"

/* Write all len bytes to fd, retrying on EINTR and short writes. */
int fs_write_all(int fd, const void *data, size_t len) FERRY_WUR;

/* Replace path atomically with data, mode applied before rename. After a
 * crash at any point, path holds either the old or the new content. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                    ferry_error *err) FERRY_WUR;

/* The same without fsync: for files nothing refers to yet, whose file
 * system the caller syncs before anything refers to them. */
int fs_write_unsynced(const char *path, const void *data, size_t len, mode_t mode,
                      ferry_error *err) FERRY_WUR;

/* Read the whole file at path, at most max bytes; a larger file fails with
 * FERRY_E_LIMIT before anything is allocated beyond max. *out is
 * NUL-terminated and must be freed. */
int fs_read_file(const char *path, size_t max, char **out, size_t *len, ferry_error *err) FERRY_WUR;

/* Same, on an open descriptor (read from its current offset). */
int fs_read_fd(int fd, const char *name, size_t max, char **out, size_t *len,
               ferry_error *err) FERRY_WUR;

/* fsync the directory at path. */
int fs_fsync_dir(const char *path, ferry_error *err) FERRY_WUR;

/* fsync the directory that contains path. */
int fs_fsync_parent(const char *path, ferry_error *err) FERRY_WUR;

/* mkdir -p with mode for created directories. */
int fs_mkdir_p(const char *path, mode_t mode, ferry_error *err) FERRY_WUR;

/* rm -rf that never follows symbolic links and stays on one file system,
 * to any depth (fs_walk). A missing path is not an error. */
int fs_remove_tree(const char *path, ferry_error *err) FERRY_WUR;

/* What fs_walk tells its callback about. */
enum fs_walk_event {
	FS_WALK_OTHER, /* an entry that is not a directory */
	FS_WALK_ENTER, /* a directory, just opened, before its entries */
	FS_WALK_LEAVE, /* a directory, after all its entries */
};

struct fs_walk_entry {
	int parent;            /* the open directory that holds the entry */
	int parent_aux;        /* the caller's descriptor paired with parent, or -1 */
	const char *name;      /* the entry's name in parent */
	const struct stat *st; /* the entry as lstat found it */
	int fd;                /* ENTER, LEAVE: the directory itself, open; else -1 */
	int aux;               /* ENTER: set it to pair a descriptor with fd (the walk
	                          closes it); LEAVE: that descriptor, or -1 */
	const char *path;      /* for messages only: shortened with "..." when long */
	unsigned depth;        /* 1 for the entries of the top directory */
};

typedef int (*fs_walk_fn)(void *ctx, enum fs_walk_event ev, struct fs_walk_entry *e,
                          ferry_error *err);

/* Visit the tree under the open directory dirfd (named path in messages),
 * depth first, without recursion and without following symbolic links: at
 * any time it holds open only the directory it reads and its parent, and
 * goes back up through ".." checked against the device and inode it came
 * from. Memory grows with the depth and with the names of subdirectories
 * still to visit, never the C stack. aux is the caller's descriptor paired
 * with dirfd (the destination of a copy), or -1. A directory more than
 * max_depth levels below dirfd (0: no limit) fails with FERRY_E_LIMIT
 * before it is opened; with one_fs, one on another file system fails with
 * FERRY_E_UNSAFE. A callback's negative return stops the walk with it. */
int fs_walk(int dirfd, int aux, const char *path, unsigned max_depth, bool one_fs, fs_walk_fn fn,
            void *ctx, ferry_error *err) FERRY_WUR;

/* Does path exist (without following a final symlink)? */
int fs_exists(const char *path);
