/* fs.c: atomic replace, bounded reads, mkdir -p, remove-tree. It does not
 * lock files; callers that share files across processes lock themselves. */
#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/str.h"

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return FERRY_E_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int parent_dir(const char *path, char *out, size_t size)
{
	char tmp[4096];
	if (str_copy(tmp, sizeof(tmp), path) < 0)
		return FERRY_E_LIMIT;
	return str_copy(out, size, dirname(tmp));
}

int fs_fsync_dir(const char *path, ferry_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open directory %s", path);
	if (fsync(fd) < 0 && errno != EINVAL)
		return ferry_error_errno(err, FERRY_E_IO, errno, "fsync directory %s", path);
	return 0;
}

int fs_fsync_parent(const char *path, ferry_error *err)
{
	char dir[4096];
	if (parent_dir(path, dir, sizeof(dir)) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", path);
	return fs_fsync_dir(dir, err);
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, ferry_error *err)
{
	char tmp[4096];
	int rc;

	if (str_printf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", path);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create temporary file for %s",
		                         path);
	if (fs_write_all(fd, data, len) < 0) {
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "write %s", tmp);
		goto fail;
	}
	if (fchmod(fd, mode) < 0) {
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "chmod %s", tmp);
		goto fail;
	}
	if (FAULT("fs_write_atomic.fsync") || fsync(fd) < 0) {
		rc = ferry_error_errno(err, FERRY_E_IO, errno ? errno : EIO, "fsync %s", tmp);
		goto fail;
	}
	if (FAULT("fs_write_atomic.rename") || rename(tmp, path) < 0) {
		rc = ferry_error_errno(err, FERRY_E_IO, errno ? errno : EIO, "rename %s to %s", tmp,
		                       path);
		goto fail;
	}
	return fs_fsync_parent(path, err);
fail:
	unlink(tmp);
	return rc;
}

int fs_read_fd(int fd, const char *name, size_t max, char **out, size_t *len, ferry_error *err)
{
	struct stat st;
	size_t n = 0;

	if (max >= SIZE_MAX - 2)
		return ferry_error_set(err, FERRY_E_INTERNAL, "%s: read limit too large", name);
	if (fstat(fd, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", name);
	if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s: %lld bytes, more than the limit of %zu", name,
		                       (long long)st.st_size, max);
	/* Read at most max+1 bytes: one more than allowed tells "too big". */
	size_t limit = max + 1;
	size_t room = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096;
	if (room > limit)
		room = limit;
	_cleanup_free_ char *data = malloc(room + 1);
	if (!data)
		return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", name);
	for (;;) {
		if (n == room) {
			size_t grow = room * 2 > limit ? limit : room * 2;
			char *p = realloc(data, grow + 1);
			if (!p)
				return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory",
				                       name);
			data = p;
			room = grow;
		}
		ssize_t r = read(fd, data + n, room - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ferry_error_errno(err, FERRY_E_IO, errno, "read %s", name);
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max)
			return ferry_error_set(err, FERRY_E_LIMIT,
			                       "%s: more than the limit of %zu bytes", name, max);
	}
	data[n] = '\0';
	*out = steal_pointer(&data);
	if (len)
		*len = n;
	return 0;
}

int fs_read_file(const char *path, size_t max, char **out, size_t *len, ferry_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO,
		                         errno, "open %s", path);
	return fs_read_fd(fd, path, max, out, len, err);
}

int fs_mkdir_p(const char *path, mode_t mode, ferry_error *err)
{
	char tmp[4096];
	if (str_copy(tmp, sizeof(tmp), path) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return ferry_error_errno(err, FERRY_E_IO, errno, "mkdir %s", tmp);
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return ferry_error_errno(err, FERRY_E_IO, errno, "mkdir %s", tmp);
	struct stat st;
	if (stat(tmp, &st) < 0 || !S_ISDIR(st.st_mode))
		return ferry_error_set(err, FERRY_E_EXISTS, "%s: exists and is not a directory",
		                       path);
	return 0;
}

static int remove_at(int parent_fd, const char *name, dev_t dev, const char *path, int depth,
                     ferry_error *err)
{
	struct stat st;

	if (depth > 256)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: tree deeper than 256 levels", path);
	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "unlink %s", path);
		return 0;
	}
	if (st.st_dev != dev)
		return ferry_error_set(err, FERRY_E_UNSAFE,
		                       "%s: another file system is mounted here", path);
	int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", path);
	/* A read-only tree (an extracted image) must be made writable first. */
	if ((st.st_mode & 0700) != 0700)
		(void)fchmod(fd, st.st_mode | 0700);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ferry_error_errno(err, FERRY_E_IO, errno, "opendir %s", path);
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* The path is only for messages: a deep tree whose full path does
		 * not fit PATH_MAX is still removed, relative to its parent. */
		char sub[4096];
		if (str_printf(sub, sizeof(sub), "%s/%s", path, de->d_name) < 0)
			memcpy(sub + sizeof(sub) - 5, "/...", 5);
		rc = remove_at(dirfd(d), de->d_name, dev, sub, depth + 1, err);
	}
	closedir(d);
	if (rc < 0)
		return rc;
	if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ferry_error_errno(err, FERRY_E_IO, errno, "rmdir %s", path);
	return 0;
}

int fs_remove_tree(const char *path, ferry_error *err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", path);
	}
	return remove_at(AT_FDCWD, path, st.st_dev, path, 0, err);
}

int fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}
