/* tree.c: scans a staged directory tree for the image writer and checks that
 * it is safe by construction: only directories, regular files and symlinks;
 * no setuid/setgid file; valid names; bounded depth, path length, entry count
 * and total size; and no symlink that resolves outside the tree. The result
 * is an in-memory tree with children sorted by the bytes of their names and
 * modes already normalised.
 *
 * It never follows a symlink: entries are examined with fstatat
 * (AT_SYMLINK_NOFOLLOW) and directories opened with O_NOFOLLOW relative to
 * their parent's descriptor. It does not read file contents (the writer does,
 * checking that each file is still the one scanned here). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "pkg/image_int.h"

#define LINK_HOPS_MAX 40 /* as the kernel's MAXSYMLINKS */

struct scan {
	struct tree *tree;
	size_t max_files;
	uint64_t max_bytes;
	ferry_error *err;
};

void tree_path(const struct tree_node *n, char *buf, size_t size)
{
	if (size == 0)
		return;
	/* Fill from the end: walk up the parents. Paths are bounded by
	 * IMAGE_MAX_PATH when scanned, a smaller buffer truncates. */
	size_t len = n->path_len;
	if (len >= size) {
		/* Too long for buf: give the leading part, marked. */
		char tmp[IMAGE_MAX_PATH + 1];
		if (len > IMAGE_MAX_PATH) {
			snprintf(buf, size, "%s", n->name);
			return;
		}
		tree_path(n, tmp, sizeof(tmp));
		snprintf(buf, size, "%s", tmp);
		return;
	}
	buf[len] = '\0';
	size_t end = len;
	for (const struct tree_node *p = n; p && p->parent; p = p->parent) {
		end -= p->name_len;
		memcpy(buf + end, p->name, p->name_len);
		if (end > 0)
			buf[--end] = '/';
	}
}

int tree_error(ferry_error *err, int code, int errnum, const struct tree_node *n, const char *what)
{
	char path[IMAGE_MAX_PATH + 1];
	tree_path(n, path, sizeof(path));
	if (errnum)
		return ferry_error_errno(err, code, errnum, "%s: %s", path[0] ? path : ".", what);
	return ferry_error_set(err, code, "%s: %s", path[0] ? path : ".", what);
}

static void node_free(struct tree_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nchildren; i++)
		node_free(n->children[i]);
	free(n->children);
	free(n->name);
	free(n->target);
	free(n->inode);
	free(n);
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	node_free(t->root);
	t->root = NULL;
}

static int node_cmp(const void *a, const void *b)
{
	const struct tree_node *x = *(const struct tree_node *const *)a;
	const struct tree_node *y = *(const struct tree_node *const *)b;
	return strcmp(x->name, y->name);
}

/* Why a name cannot be stored, or NULL. */
static const char *name_problem(const char *name, size_t len)
{
	if (len == 0)
		return "empty name";
	if (len > IMAGE_MAX_NAME)
		return "name longer than 255 bytes";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "name is \".\" or \"..\"";
	if (memchr(name, '/', len))
		return "name contains '/'";
	return NULL;
}

__attribute__((noinline)) static int add_child(struct scan *s, struct tree_node *dir,
                                               const char *name, struct tree_node **out)
{
	size_t len = strlen(name);
	char path[IMAGE_MAX_PATH + 1];

	if (dir->nchildren == dir->cap) {
		size_t cap = dir->cap ? dir->cap * 2 : 8;
		struct tree_node **c = realloc(dir->children, cap * sizeof(*c));
		if (!c)
			return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
		dir->children = c;
		dir->cap = cap;
	}
	struct tree_node *n = calloc(1, sizeof(*n));
	if (!n)
		return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
	n->name = strdup(name);
	if (!n->name) {
		free(n);
		return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
	}
	n->parent = dir;
	n->name_len = len;
	n->depth = dir->depth + 1;
	n->path_len = (dir->parent ? dir->path_len + 1 : 0) + len;
	dir->children[dir->nchildren++] = n;
	*out = n;

	const char *why = name_problem(name, len);
	if (why) {
		tree_path(dir, path, sizeof(path));
		return ferry_error_set(s->err, FERRY_E_INVALID, "%s%s%s: %s", path,
		                       path[0] ? "/" : "", name, why);
	}
	if (n->path_len > IMAGE_MAX_PATH) {
		/* Name the start and the end: the whole would not fit a message. */
		tree_path(dir, path, sizeof(path));
		return ferry_error_set(s->err, FERRY_E_LIMIT,
		                       "%.64s.../%.64s: path longer than %d bytes", path, name,
		                       IMAGE_MAX_PATH);
	}
	if (n->depth > IMAGE_MAX_DEPTH) {
		tree_path(n, path, sizeof(path));
		return ferry_error_set(s->err, FERRY_E_LIMIT, "%s: deeper than %d levels", path,
		                       IMAGE_MAX_DEPTH);
	}
	if (++s->tree->entries > s->max_files)
		return ferry_error_set(s->err, FERRY_E_LIMIT, "more than %zu entries",
		                       s->max_files);
	return 0;
}

__attribute__((noinline)) static int scan_entry(struct scan *s, int dfd, struct tree_node *n)
{
	char path[IMAGE_MAX_PATH + 1];
	struct stat st;

	tree_path(n, path, sizeof(path));
	if (fstatat(dfd, n->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ferry_error_errno(s->err, FERRY_E_IO, errno, "%s: stat", path);
	n->dev = st.st_dev;
	n->ino = st.st_ino;
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		n->type = S_IFDIR;
		n->perm = 0755;
		n->parent->nsubdirs++;
		return 0;
	case S_IFREG:
		if (st.st_mode & S_ISUID)
			return ferry_error_set(s->err, FERRY_E_UNSAFE, "%s: setuid bit set", path);
		if (st.st_mode & S_ISGID)
			return ferry_error_set(s->err, FERRY_E_UNSAFE, "%s: setgid bit set", path);
		n->type = S_IFREG;
		n->perm = (st.st_mode & S_IXUSR) ? 0755 : 0644;
		n->size = (uint64_t)st.st_size;
		if (n->size > s->max_bytes - s->tree->bytes)
			return ferry_error_set(s->err, FERRY_E_LIMIT,
			                       "%s: more than %llu bytes of files in the tree",
			                       path, (unsigned long long)s->max_bytes);
		s->tree->bytes += n->size;
		return 0;
	case S_IFLNK: {
		char buf[IMAGE_MAX_PATH + 2];
		n->type = S_IFLNK;
		n->perm = 0777;
		ssize_t len = readlinkat(dfd, n->name, buf, sizeof(buf));
		if (len < 0)
			return ferry_error_errno(s->err, FERRY_E_IO, errno, "%s: readlink", path);
		if ((size_t)len > IMAGE_MAX_PATH)
			return ferry_error_set(s->err, FERRY_E_LIMIT,
			                       "%s: symlink target longer than %d bytes", path,
			                       IMAGE_MAX_PATH);
		if (len == 0)
			return ferry_error_set(s->err, FERRY_E_INVALID, "%s: empty symlink target",
			                       path);
		buf[len] = '\0';
		n->target = strdup(buf);
		if (!n->target)
			return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
		n->size = (uint64_t)len;
		return 0;
	}
	case S_IFCHR:
	case S_IFBLK:
		return ferry_error_set(s->err, FERRY_E_UNSAFE, "%s: device node", path);
	case S_IFSOCK:
		return ferry_error_set(s->err, FERRY_E_UNSAFE, "%s: socket", path);
	case S_IFIFO:
		return ferry_error_set(s->err, FERRY_E_UNSAFE, "%s: FIFO", path);
	default:
		return ferry_error_set(s->err, FERRY_E_UNSAFE, "%s: unknown file type", path);
	}
}

/* Scan the directory open at dfd (consumed) into dir. */
static int scan_dir(struct scan *s, struct tree_node *dir, int dfd)
{
	int rc = 0;

	DIR *d = fdopendir(dfd);
	if (!d) {
		rc = tree_error(s->err, FERRY_E_IO, errno, dir, "opendir");
		close(dfd);
		return rc;
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno) {
				rc = tree_error(s->err, FERRY_E_IO, errno, dir, "readdir");
				goto out;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct tree_node *n = NULL;
		rc = add_child(s, dir, de->d_name, &n);
		if (rc == 0)
			rc = scan_entry(s, dirfd(d), n);
		if (rc < 0)
			goto out;
	}
	if (dir->nchildren > 1)
		qsort(dir->children, dir->nchildren, sizeof(dir->children[0]), node_cmp);
	for (size_t i = 0; i < dir->nchildren; i++) {
		struct tree_node *c = dir->children[i];
		if (c->type != S_IFDIR)
			continue;
		int cfd =
		    openat(dirfd(d), c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (cfd < 0 || fstat(cfd, &st) < 0) {
			rc = tree_error(s->err, FERRY_E_IO, errno, c, "open directory");
			if (cfd >= 0)
				close(cfd);
			goto out;
		}
		if (st.st_dev != c->dev || st.st_ino != c->ino) {
			close(cfd);
			rc = tree_error(s->err, FERRY_E_IO, 0, c, "changed while being scanned");
			goto out;
		}
		rc = scan_dir(s, c, cfd);
		if (rc < 0)
			goto out;
	}
out:
	closedir(d);
	return rc;
}

/* The child of dir named by the len bytes at name, or NULL. */
static struct tree_node *child_lookup(const struct tree_node *dir, const char *name, size_t len)
{
	size_t lo = 0, hi = dir->nchildren;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct tree_node *c = dir->children[mid];
		size_t m = c->name_len < len ? c->name_len : len;
		int cmp = memcmp(c->name, name, m);
		if (cmp == 0)
			cmp = (c->name_len > len) - (c->name_len < len);
		if (cmp == 0)
			return dir->children[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Resolve the target of link as the kernel would inside the tree mounted
 * somewhere: relative to the link's directory, following the symlinks it
 * passes through (not a final one: that link is checked on its own). Returns
 * 0 when the target stays inside, else a refusal. Components that do not
 * exist are tracked lexically: ".." after them cannot escape further than
 * the lexical path says. */
static int check_link(struct scan *s, const struct tree_node *link)
{
	struct frame {
		const char *p; /* the rest of this target */
	} stack[LINK_HOPS_MAX + 1];
	int top = 0, hops = 0;
	const struct tree_node *cur = link->parent;
	size_t missing = 0; /* components below cur that do not exist */
	char path[IMAGE_MAX_PATH + 1];

	tree_path(link, path, sizeof(path));
	if (link->target[0] == '/')
		return ferry_error_set(s->err, FERRY_E_UNSAFE,
		                       "%s: symlink target \"%s\" is absolute", path, link->target);
	stack[0].p = link->target;
	while (top >= 0) {
		const char *p = stack[top].p;
		while (*p == '/')
			p++;
		if (*p == '\0') {
			top--;
			continue;
		}
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		stack[top].p = p + len;
		if (len == 1 && p[0] == '.')
			continue;
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (missing > 0)
				missing--;
			else if (cur->parent)
				cur = cur->parent;
			else
				return ferry_error_set(
				    s->err, FERRY_E_UNSAFE,
				    "%s: symlink target \"%s\" points outside the tree", path,
				    link->target);
			continue;
		}
		if (missing > 0) {
			missing++;
			continue;
		}
		const struct tree_node *c = child_lookup(cur, p, len);
		if (!c) {
			missing++;
			continue;
		}
		if (c->type == S_IFDIR) {
			cur = c;
			continue;
		}
		/* Is anything left to resolve after this component? */
		bool final = true;
		for (int i = top; i >= 0 && final; i--)
			if (stack[i].p[0] != '\0')
				final = false;
		if (final)
			break;
		if (c->type != S_IFLNK) {
			missing++; /* a file used as a directory: ENOTDIR at run time */
			continue;
		}
		if (++hops > LINK_HOPS_MAX || top == LINK_HOPS_MAX)
			return ferry_error_set(
			    s->err, FERRY_E_UNSAFE,
			    "%s: symlink target \"%s\": too many levels of symbolic links", path,
			    link->target);
		if (c->target[0] == '/')
			return ferry_error_set(s->err, FERRY_E_UNSAFE,
			                       "%s: symlink target \"%s\" points outside the tree",
			                       path, link->target);
		stack[++top].p = c->target;
	}
	return 0;
}

static int check_links(struct scan *s, const struct tree_node *n)
{
	if (n->type == S_IFLNK)
		return check_link(s, n);
	for (size_t i = 0; i < n->nchildren; i++) {
		int rc = check_links(s, n->children[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int tree_scan(int rootfd, size_t max_files, uint64_t max_bytes, struct tree *out, ferry_error *err)
{
	struct scan s = {.tree = out, .max_files = max_files, .max_bytes = max_bytes, .err = err};
	struct stat st;

	memset(out, 0, sizeof(*out));
	if (fstat(rootfd, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat");
	out->root = calloc(1, sizeof(*out->root));
	if (!out->root)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	out->root->name = strdup("");
	if (!out->root->name)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	out->root->type = S_IFDIR;
	out->root->perm = 0755;
	out->root->dev = st.st_dev;
	out->root->ino = st.st_ino;

	int dfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open");
	int rc = scan_dir(&s, out->root, dfd);
	if (rc == 0)
		rc = check_links(&s, out->root);
	return rc;
}
