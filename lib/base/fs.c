/* fs.c: atomic replace, bounded reads, mkdir -p, remove-tree. It does not
 * lock files; callers that share files across processes lock themselves. */
#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
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

/* Write path by temporary file and rename; with sync, the file is on disk
 * before it gets its name. */
static int write_replace(const char *path, const void *data, size_t len, mode_t mode, bool sync,
                         ferry_error *err)
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
	if (sync && (FAULT("fs_write_atomic.fsync") || fsync(fd) < 0)) {
		rc = ferry_error_errno(err, FERRY_E_IO, errno ? errno : EIO, "fsync %s", tmp);
		goto fail;
	}
	if ((sync && FAULT("fs_write_atomic.rename")) || rename(tmp, path) < 0) {
		rc = ferry_error_errno(err, FERRY_E_IO, errno ? errno : EIO, "rename %s to %s", tmp,
		                       path);
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, ferry_error *err)
{
	int rc = write_replace(path, data, len, mode, true, err);
	return rc < 0 ? rc : fs_fsync_parent(path, err);
}

int fs_write_unsynced(const char *path, const void *data, size_t len, mode_t mode, ferry_error *err)
{
	return write_replace(path, data, len, mode, false, err);
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

/* --- walking a tree ------------------------------------------------------ */

/* One directory on the way down from the top. */
struct walk_frame {
	char *name;     /* in its parent; NULL for the top */
	struct stat st; /* as lstat found it before it was opened */
	dev_t adev;     /* the paired descriptor's device and inode */
	ino_t aino;
	size_t plen;   /* length of its path in walk.path */
	bool cut;      /* that path was shortened */
	char *pending; /* NUL-separated subdirectories still to visit */
	size_t npending, pos, cap;
};

struct walk {
	struct walk_frame *f;
	size_t n, cap;
	char path[PATH_MAX];      /* of the directory being read */
	char entry[PATH_MAX + 8]; /* of an entry in it */
	int cur, cur_aux;         /* that directory, open; owned when n > 1 */
};

static const char *walk_entry_path(struct walk *w, const char *name)
{
	if (str_printf(w->entry, sizeof(w->entry), "%s/%s", w->path, name) < 0)
		memcpy(w->entry + sizeof(w->entry) - 5, "/...", 5);
	return w->entry;
}

static int walk_pending_add(struct walk_frame *f, const char *name, ferry_error *err)
{
	size_t len = strlen(name) + 1;
	if (f->npending + len > f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		while (cap < f->npending + len)
			cap *= 2;
		char *p = realloc(f->pending, cap);
		if (!p)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		f->pending = p;
		f->cap = cap;
	}
	memcpy(f->pending + f->npending, name, len);
	f->npending += len;
	return 0;
}

/* Read the directory w->cur once: every entry that is not a directory goes
 * to fn at once, subdirectories to the frame's list of those to visit. */
static int walk_scan(struct walk *w, fs_walk_fn fn, void *ctx, ferry_error *err)
{
	struct walk_frame *f = &w->f[w->n - 1];
	/* its own open file: reading must not move the caller's offset */
	int fd = openat(w->cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return ferry_error_errno(err, FERRY_E_IO, e, "open %s", w->path);
	}
	int rc = 0;
	int rerr = 0;
	while (rc == 0) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			rerr = errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			rc = walk_pending_add(f, de->d_name, err);
			continue;
		}
		struct stat st;
		if (fstatat(w->cur, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rc = ferry_error_errno(err, FERRY_E_IO, errno, "stat %s",
				                       walk_entry_path(w, de->d_name));
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk_pending_add(f, de->d_name, err);
		} else {
			struct fs_walk_entry e = {w->cur,
			                          w->cur_aux,
			                          de->d_name,
			                          &st,
			                          -1,
			                          -1,
			                          walk_entry_path(w, de->d_name),
			                          (unsigned)w->n};
			rc = fn(ctx, FS_WALK_OTHER, &e, err);
		}
	}
	if (rc == 0 && rerr != 0)
		rc = ferry_error_errno(err, FERRY_E_IO, rerr, "read directory %s", w->path);
	closedir(d);
	return rc;
}

/* Open ".." of fd and check that it is the directory (dev, ino) we came
 * from: something moved in the tree meanwhile otherwise. */
static int walk_open_parent(int fd, dev_t dev, ino_t ino, const char *path, ferry_error *err)
{
	int p = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s/..", path);
	struct stat st;
	if (fstat(p, &st) < 0 || st.st_dev != dev || st.st_ino != ino) {
		close(p);
		return ferry_error_set(err, FERRY_E_UNSAFE, "%s: moved while it was walked", path);
	}
	return p;
}

/* Into the subdirectory name of w->cur. Returns 1 when entered, 0 when it
 * is not a directory (any more) or gone. */
static int walk_enter(struct walk *w, const char *name, unsigned max_depth, bool one_fs,
                      fs_walk_fn fn, void *ctx, ferry_error *err)
{
	struct stat st;
	const char *path = walk_entry_path(w, name);
	if (fstatat(w->cur, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		struct fs_walk_entry e = {w->cur, w->cur_aux, name, &st,
		                          -1,     -1,         path, (unsigned)w->n};
		int rc = fn(ctx, FS_WALK_OTHER, &e, err);
		return rc < 0 ? rc : 0;
	}
	if (one_fs && st.st_dev != w->f[0].st.st_dev)
		return ferry_error_set(err, FERRY_E_UNSAFE,
		                       "%s: another file system is mounted here", path);
	if (max_depth && w->n > max_depth)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s: more than %u levels of directories; refused", path,
		                       max_depth);
	if (w->n == w->cap) {
		size_t cap = w->cap * 2;
		struct walk_frame *nf = realloc(w->f, cap * sizeof(*nf));
		if (!nf)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		w->f = nf;
		w->cap = cap;
	}
	struct walk_frame *f = &w->f[w->n];
	memset(f, 0, sizeof(*f));
	f->st = st;
	f->name = strdup(name);
	if (!f->name)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	int fd = openat(w->cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat now;
	if (fd < 0 || fstat(fd, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
		int e = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		free(f->name);
		if (e == ENOENT)
			return 0;
		return e ? ferry_error_errno(err, FERRY_E_IO, e, "open %s", path)
		         : ferry_error_set(err, FERRY_E_UNSAFE, "%s: replaced while it was walked",
		                           path);
	}
	struct fs_walk_entry e = {w->cur, w->cur_aux, name, &st, fd, -1, path, (unsigned)w->n};
	int rc = fn(ctx, FS_WALK_ENTER, &e, err);
	struct stat ast = {0};
	if (rc == 0 && e.aux >= 0 && fstat(e.aux, &ast) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "stat copy of %s", path);
	if (rc < 0) {
		close(fd);
		if (e.aux >= 0)
			close(e.aux);
		free(f->name);
		return rc;
	}
	f->adev = ast.st_dev;
	f->aino = ast.st_ino;
	/* the path of the new directory, cut once it no longer fits */
	struct walk_frame *up = &w->f[w->n - 1];
	size_t len = strlen(name);
	f->cut = up->cut;
	f->plen = up->plen;
	if (!f->cut && up->plen + 1 + len + 5 < sizeof(w->path)) {
		w->path[f->plen++] = '/';
		memcpy(w->path + f->plen, name, len + 1);
		f->plen += len;
	} else if (!f->cut) {
		memcpy(w->path + f->plen, "/...", 5);
		f->plen += 4;
		f->cut = true;
	}
	if (w->n > 1) {
		close(w->cur);
		if (w->cur_aux >= 0)
			close(w->cur_aux);
	}
	w->cur = fd;
	w->cur_aux = e.aux;
	w->n++;
	return 1;
}

/* Back up from the directory being read, which has no entries left. */
static int walk_leave(struct walk *w, int dirfd, int aux, fs_walk_fn fn, void *ctx,
                      ferry_error *err)
{
	struct walk_frame *f = &w->f[w->n - 1], *up = &w->f[w->n - 2];
	int pfd = dirfd, paux = aux;
	if (w->n > 2) {
		pfd = walk_open_parent(w->cur, up->st.st_dev, up->st.st_ino, w->path, err);
		if (pfd < 0)
			return pfd;
		paux = -1;
		if (w->cur_aux >= 0) {
			paux = walk_open_parent(w->cur_aux, up->adev, up->aino, w->path, err);
			if (paux < 0) {
				close(pfd);
				return paux;
			}
		}
	}
	struct fs_walk_entry e = {pfd,    paux,       f->name, &f->st,
	                          w->cur, w->cur_aux, w->path, (unsigned)w->n - 1};
	int rc = fn(ctx, FS_WALK_LEAVE, &e, err);
	close(w->cur);
	if (w->cur_aux >= 0)
		close(w->cur_aux);
	free(f->name);
	free(f->pending);
	w->n--;
	w->cur = pfd;
	w->cur_aux = paux;
	w->path[up->plen] = '\0';
	return rc;
}

int fs_walk(int dirfd, int aux, const char *path, unsigned max_depth, bool one_fs, fs_walk_fn fn,
            void *ctx, ferry_error *err)
{
	_cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
	if (!w || !(w->f = calloc(16, sizeof(*w->f)))) {
		if (w)
			free(w->f);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	w->cap = 16;
	w->n = 1;
	w->cur = dirfd;
	w->cur_aux = aux;
	if (str_copy(w->path, sizeof(w->path) - 5, path) < 0) {
		memcpy(w->path + sizeof(w->path) - 9, "/...", 5);
		w->f[0].cut = true;
	}
	w->f[0].plen = strlen(w->path);
	int rc = 0;
	if (fstat(dirfd, &w->f[0].st) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", path);
	if (rc == 0 && aux >= 0) {
		struct stat ast;
		if (fstat(aux, &ast) < 0)
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "stat copy of %s", path);
		w->f[0].adev = ast.st_dev;
		w->f[0].aino = ast.st_ino;
	}
	if (rc == 0)
		rc = walk_scan(w, fn, ctx, err);
	while (rc == 0) {
		struct walk_frame *f = &w->f[w->n - 1];
		if (f->pos < f->npending) {
			const char *name = f->pending + f->pos;
			f->pos += strlen(name) + 1;
			rc = walk_enter(w, name, max_depth, one_fs, fn, ctx, err);
			if (rc == 1)
				rc = walk_scan(w, fn, ctx, err);
		} else if (w->n > 1) {
			rc = walk_leave(w, dirfd, aux, fn, ctx, err);
		} else {
			break;
		}
	}
	if (w->n > 1) {
		close(w->cur);
		if (w->cur_aux >= 0)
			close(w->cur_aux);
	}
	for (size_t i = 0; i < w->n; i++) {
		free(w->f[i].name);
		free(w->f[i].pending);
	}
	free(w->f);
	return rc;
}

/* --- removing a tree ---------------------------------------------------- */

static int remove_entry(void *ctx, enum fs_walk_event ev, struct fs_walk_entry *e, ferry_error *err)
{
	(void)ctx;
	switch (ev) {
	case FS_WALK_ENTER:
		/* A read-only tree (an extracted image) must be made writable first. */
		if ((e->st->st_mode & 0700) != 0700)
			(void)fchmod(e->fd, e->st->st_mode | 0700);
		return 0;
	case FS_WALK_LEAVE:
		if (unlinkat(e->parent, e->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "rmdir %s", e->path);
		return 0;
	case FS_WALK_OTHER:
		if (unlinkat(e->parent, e->name, 0) < 0 && errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "unlink %s", e->path);
		return 0;
	}
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
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "unlink %s", path);
		return 0;
	}
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", path);
	if ((st.st_mode & 0700) != 0700)
		(void)fchmod(fd, st.st_mode | 0700);
	int rc = fs_walk(fd, -1, path, 0, true, remove_entry, NULL, err);
	if (rc < 0)
		return rc;
	if (rmdir(path) < 0 && errno != ENOENT)
		return ferry_error_errno(err, FERRY_E_IO, errno, "rmdir %s", path);
	return 0;
}

int fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}
