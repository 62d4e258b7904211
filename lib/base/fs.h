/* fs.h: file-system helpers that do not lose data: atomic replace (write a
 * temporary file in the same directory, fsync it, rename it over the target,
 * fsync the directory), reads bounded by a maximum size, directory creation
 * and removal. All errors name the path. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

/* Write all len bytes to fd, retrying on EINTR and short writes. */
int fs_write_all(int fd, const void *data, size_t len) FERRY_WUR;

/* Replace path atomically with data, mode applied before rename. After a
 * crash at any point, path holds either the old or the new content. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
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

/* rm -rf that never follows symbolic links and stays on one file system.
 * A missing path is not an error. */
int fs_remove_tree(const char *path, ferry_error *err) FERRY_WUR;

/* Does path exist (without following a final symlink)? */
int fs_exists(const char *path);
