/* stage.c: stage-packages. Runs apt-get and dpkg-deb as child processes
 * (fork/exec, arguments checked, standard input /dev/null, output captured
 * under a bound, locale C so that messages are apt's English), then merges
 * what dpkg-deb unpacked into the package tree without ever following a
 * symbolic link there. See stage.h for the rules. What those programs print
 * is read by stage_parse.c, which also holds the checks on names and the
 * prime filters.
 *
 * It resolves no dependencies itself: for a part that follows Depends it
 * asks apt (install --print-uris) and stages what apt would fetch; other
 * parts get exactly what the manifest names. It does not run maintainer
 * scripts. */
#include "pkg/stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "crypto/digest.h"
#include "pkg/apt.h"
#include "pkg/dpkg_status.h"
#include "pkg/stage_int.h"

#define OUTPUT_MAX APT_OUTPUT_MAX
#define MERGE_MAX_DEPTH 64

/* ---- merging an unpacked .deb into the tree ----------------------------- */

struct merge {
	int root_fd;     /* the tree */
	const char *pkg; /* for messages */
	char *const *filters;
	size_t n_filters;
	size_t count;
	ferry_error *err;
};

/* Open the directory rel inside the tree, creating missing components with
 * mode, never following a symlink. "" is the root. */
static int tree_open_dir(struct merge *m, const char *rel, mode_t mode, bool create)
{
	char p[PATH_MAX_LEN];
	if (str_copy(p, sizeof(p), rel) < 0)
		return ferry_error_set(m->err, FERRY_E_LIMIT, "%s: path too long", rel);
	int fd = fcntl(m->root_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "dup");
	char *save = NULL;
	for (char *comp = strtok_r(p, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0700) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return ferry_error_errno(m->err, FERRY_E_IO, e, "%s: create %s",
				                         m->pkg, rel);
			}
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next >= 0 && fchmod(next, mode & 07777) < 0) {
				int e = errno;
				close(next);
				close(fd);
				return ferry_error_errno(m->err, FERRY_E_IO, e, "%s: chmod %s",
				                         m->pkg, rel);
			}
		}
		if (next < 0) {
			int e = errno;
			close(fd);
			if (e == ELOOP || e == ENOTDIR)
				return ferry_error_set(
				    m->err, FERRY_E_UNSAFE,
				    "%s: %s: the tree has a symlink or file where the "
				    "package has a directory",
				    m->pkg, rel);
			return ferry_error_errno(m->err, FERRY_E_IO, e, "%s: open %s", m->pkg, rel);
		}
		close(fd);
		fd = next;
	}
	return fd;
}

static void split_parent(const char *rel, char *parent, size_t psize, const char **base)
{
	const char *slash = strrchr(rel, '/');
	if (!slash) {
		parent[0] = '\0';
		*base = rel;
		return;
	}
	snprintf(parent, psize, "%.*s", (int)(slash - rel), rel);
	*base = slash + 1;
}

/* Same bytes in two open files? */
static int same_content(int a, int b, bool *same)
{
	char x[8192], y[8192];
	*same = false;
	for (;;) {
		ssize_t ra = read(a, x, sizeof(x));
		if (ra < 0)
			return FERRY_E_IO;
		ssize_t rb = ra > 0 ? read(b, y, (size_t)ra) : read(b, y, 1);
		if (rb < 0)
			return FERRY_E_IO;
		if (ra != rb || memcmp(x, y, (size_t)ra) != 0)
			return 0;
		if (ra == 0) {
			*same = true;
			return 0;
		}
	}
}

static int copy_fd(int in, int out)
{
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 20, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
			return FERRY_E_IO;
		break;
	}
	char b[65536];
	for (;;) {
		ssize_t n = read(in, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return FERRY_E_IO;
		if (n == 0)
			return 0;
		if (fs_write_all(out, b, (size_t)n) < 0)
			return FERRY_E_IO;
	}
}

static int merge_file(struct merge *m, int src_dir, const char *name, const char *rel,
                      const struct stat *st)
{
	char parent[PATH_MAX_LEN];
	const char *base;
	split_parent(rel, parent, sizeof(parent), &base);
	_cleanup_close_ int dfd = tree_open_dir(m, parent, 0755, true);
	if (dfd < 0)
		return dfd;
	_cleanup_close_ int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s: open unpacked %s", m->pkg,
		                         rel);

	struct stat cur;
	if (fstatat(dfd, base, &cur, AT_SYMLINK_NOFOLLOW) == 0) {
		bool same = false;
		if (S_ISREG(cur.st_mode) && cur.st_size == st->st_size) {
			_cleanup_close_ int old =
			    openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (old < 0 || same_content(in, old, &same) < 0)
				return ferry_error_errno(m->err, FERRY_E_IO, errno,
				                         "%s: compare %s", m->pkg, rel);
		}
		if (!same)
			return ferry_error_set(m->err, FERRY_E_EXISTS,
			                       "%s: %s is already in the tree with other content",
			                       m->pkg, rel);
		return 0;
	}
	_cleanup_close_ int out =
	    openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s: create %s", m->pkg, rel);
	if (copy_fd(in, out) < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s: write %s", m->pkg, rel);
	if (fchmod(out, st->st_mode & 07777) < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s: chmod %s", m->pkg, rel);
	return 0;
}

/* An absolute target /a/b seen from the link at rel (x/y/link) becomes
 * ../../a/b: the same file once the tree is the root. */
static int relative_target(const char *rel, const char *target, char *out, size_t size)
{
	size_t depth = 0;
	for (const char *p = rel; *p; p++)
		if (*p == '/')
			depth++;
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < depth; i++) {
		if (used + 3 >= size)
			return FERRY_E_LIMIT;
		memcpy(out + used, "../", 3);
		used += 3;
	}
	while (*target == '/')
		target++;
	if (!*target) /* a link to "/" is a link to the tree's root */
		return str_copy(out + used, size - used, ".");
	return str_copy(out + used, size - used, target);
}

static int merge_symlink(struct merge *m, int src_dir, const char *name, const char *rel)
{
	char target[PATH_MAX_LEN], fixed[PATH_MAX_LEN];
	ssize_t n = readlinkat(src_dir, name, target, sizeof(target) - 1);
	if (n < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s: read link %s", m->pkg,
		                         rel);
	target[n] = '\0';
	const char *t = target;
	if (target[0] == '/') {
		if (relative_target(rel, target, fixed, sizeof(fixed)) < 0)
			return ferry_error_set(m->err, FERRY_E_LIMIT,
			                       "%s: %s: link target too long", m->pkg, rel);
		t = fixed;
	}
	char parent[PATH_MAX_LEN];
	const char *base;
	split_parent(rel, parent, sizeof(parent), &base);
	_cleanup_close_ int dfd = tree_open_dir(m, parent, 0755, true);
	if (dfd < 0)
		return dfd;
	char cur[PATH_MAX_LEN];
	ssize_t cn = readlinkat(dfd, base, cur, sizeof(cur) - 1);
	if (cn >= 0) {
		cur[cn] = '\0';
		if (strcmp(cur, t) == 0)
			return 0;
		return ferry_error_set(m->err, FERRY_E_EXISTS,
		                       "%s: %s is already in the tree as a link to %s", m->pkg, rel,
		                       cur);
	}
	struct stat st;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return ferry_error_set(m->err, FERRY_E_EXISTS, "%s: %s is already in the tree",
		                       m->pkg, rel);
	if (symlinkat(t, dfd, base) < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s: create link %s", m->pkg,
		                         rel);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The entry names of an open directory (not . and ..), sorted. */
static int read_names(int dir_fd, char ***out, size_t *count, size_t max, ferry_error *err,
                      const char *what)
{
	int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", what);
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return ferry_error_errno(err, FERRY_E_IO, e, "%s", what);
	}
	rewinddir(d);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n >= max) {
			rc = ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %zu entries", what,
			                     max);
			break;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			char **nn = realloc(names, nc * sizeof(char *));
			if (!nn) {
				rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
				break;
			}
			names = nn;
			cap = nc;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	if (rc < 0) {
		free_names(names, n);
		return rc;
	}
	if (n)
		qsort(names, n, sizeof(char *), cmp_names);
	*out = names;
	*count = n;
	return 0;
}

static int merge_dir(struct merge *m, int src_dir, const char *rel, int depth)
{
	if (depth > MERGE_MAX_DEPTH)
		return ferry_error_set(m->err, FERRY_E_LIMIT, "%s: %s: nested deeper than %d",
		                       m->pkg, rel, MERGE_MAX_DEPTH);
	char **names = NULL;
	size_t n = 0;
	int rc = read_names(src_dir, &names, &n, STAGE_MAX_FILES_PER_DEB, m->err, m->pkg);
	if (rc < 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char child[PATH_MAX_LEN];
		if (str_printf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", names[i]) <
		    0) {
			rc = ferry_error_set(m->err, FERRY_E_LIMIT, "%s: path too long under %s",
			                     m->pkg, rel);
			break;
		}
		if (++m->count > STAGE_MAX_FILES_PER_DEB) {
			rc = ferry_error_set(m->err, FERRY_E_LIMIT, "%s: more than %u files",
			                     m->pkg, STAGE_MAX_FILES_PER_DEB);
			break;
		}
		struct stat st;
		if (fstatat(src_dir, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = ferry_error_errno(m->err, FERRY_E_IO, errno, "%s: stat unpacked %s",
			                       m->pkg, child);
			break;
		}
		bool keep = stage_prime_keep(m->filters, m->n_filters, child);
		if (S_ISDIR(st.st_mode)) {
			/* a directory dropped by a "-" filter drops all below it */
			bool dropped = false;
			for (size_t f = 0; f < m->n_filters; f++)
				if (m->filters[f][0] == '-' &&
				    stage_filter_matches(m->filters[f] + 1, child))
					dropped = true;
			if (dropped)
				continue;
			if (keep) {
				int d = tree_open_dir(m, child, st.st_mode, true);
				if (d < 0) {
					rc = d;
					break;
				}
				close(d);
			}
			int sub = openat(src_dir, names[i],
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				rc = ferry_error_errno(m->err, FERRY_E_IO, errno,
				                       "%s: open unpacked %s", m->pkg, child);
				break;
			}
			rc = merge_dir(m, sub, child, depth + 1);
			close(sub);
		} else if (!keep) {
			continue;
		} else if (S_ISREG(st.st_mode)) {
			rc = merge_file(m, src_dir, names[i], child, &st);
		} else if (S_ISLNK(st.st_mode)) {
			rc = merge_symlink(m, src_dir, names[i], child);
		} else {
			rc = ferry_error_set(m->err, FERRY_E_UNSAFE,
			                     "%s: %s: not a regular file, directory or symlink",
			                     m->pkg, child);
		}
	}
	free_names(names, n);
	return rc;
}

/* ---- one package -------------------------------------------------------- */

struct stager {
	const struct stage_opts *opts;
	const char *tree;
	char empty_status[PATH_MAX_LEN]; /* dpkg status of nothing installed */
	char **resolved;                 /* specs apt chose, owned here */
	size_t n_resolved;
	char uris_dir[PATH_MAX_LEN]; /* stays empty: print-uris skips files it finds */
	char debs_dir[PATH_MAX_LEN]; /* apt-get download writes here */
	char scratch[PATH_MAX_LEN];  /* dpkg-deb -x target, one package at a time */
	ferry_error *err;
};

static void progress(const struct stager *s, const char *verb, const char *spec)
{
	if (s->opts->progress) {
		char line[512];
		snprintf(line, sizeof(line), "%s %s", verb, spec);
		s->opts->progress(line, s->opts->progress_ctx);
	}
}

/* The apt argument for spec: NAME[:ARCH][=VERSION]. */
static int apt_arg(const struct stager *s, const char *spec, char *out, size_t size)
{
	const char *arch = s->opts->arch;
	if (!arch || strcmp(arch, manifest_host_architecture()) == 0 || strcmp(arch, "all") == 0)
		return str_copy(out, size, spec);
	const char *eq = strchr(spec, '=');
	if (!eq)
		return str_printf(out, size, "%s:%s", spec, arch);
	return str_printf(out, size, "%.*s:%s%s", (int)(eq - spec), spec, arch, eq);
}

static int apt_failed(const struct stager *s, const char *spec, const struct buf *errout,
                      int status)
{
	char msg[768];
	apt_child_message(errout, msg, sizeof(msg));
	if (!msg[0])
		snprintf(msg, sizeof(msg), "exit status %d", status);
	(void)s;
	return ferry_error_set(s->err, FERRY_E_NOTFOUND, "%s: apt-get: %s", spec, msg);
}

static bool file_has_sha256(const char *path, const char *want)
{
	unsigned char md[CRYPTO_DIGEST_MAX];
	if (crypto_digest_file(CRYPTO_HASH_SHA256, path, md, NULL) < 0)
		return false;
	return crypto_digest_equal_hex(md, 32, want);
}

/* Copy src to dst through a temporary file and rename (for the cache). */
static int copy_file_atomic(const char *src, const char *dst, ferry_error *err)
{
	char tmp[PATH_MAX_LEN];
	if (str_printf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", dst) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dst);
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", src);
	_cleanup_close_ int out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create %s", tmp);
	if (copy_fd(in, out) < 0 || fchmod(out, 0644) < 0 || fsync(out) < 0 ||
	    rename(tmp, dst) < 0) {
		int e = errno;
		unlink(tmp);
		return ferry_error_errno(err, FERRY_E_IO, e, "write %s", dst);
	}
	return 0;
}

/* One package to stage. */
struct job {
	const struct manifest_part *part;
	const char *spec;        /* as the manifest wrote it */
	char arg[SPEC_MAX + 64]; /* as apt is given it: NAME[:ARCH][=VERSION] */
	struct stage_deb *d;
	char path[PATH_MAX_LEN]; /* where the .deb is once fetched */
	bool held;               /* the base holds it at this version */
};

static bool spec_names(const char *spec, const char *name)
{
	size_t n = strcspn(spec, "=:");
	return strlen(name) == n && strncmp(spec, name, n) == 0;
}

/* The start of an apt-get command line: "apt-get", the suite's options,
 * then words; room for extra more entries after them. */
static char **apt_argv(const struct stager *s, const char *const *words, size_t extra, size_t *used)
{
	size_t no = s->opts->apt ? s->opts->apt->n_opts : 0, nw = 0;
	while (words[nw])
		nw++;
	char **argv = calloc(1 + no + nw + extra + 1, sizeof(char *));
	if (!argv)
		return NULL;
	size_t k = 0;
	argv[k++] = "apt-get";
	for (size_t i = 0; i < no; i++)
		argv[k++] = s->opts->apt->argv_opts[i];
	for (size_t i = 0; i < nw; i++)
		argv[k++] = (char *)words[i];
	*used = k;
	return argv;
}

/* apt-get download --print-uris for n jobs in one run (apt takes seconds to
 * start, so one run for all); when it fails, once per job to find the one
 * apt refuses: *failed is its index. */
static int print_uris(struct stager *s, struct job *jobs, size_t n, size_t *failed)
{
	static const char *const words[] = {"download", "-q", "--print-uris", NULL};
	size_t k = 0;
	_cleanup_free_ char **argv = apt_argv(s, words, n, &k);
	_cleanup_buf_ struct buf out = BUF_INIT(OUTPUT_MAX);
	_cleanup_buf_ struct buf errout = BUF_INIT(OUTPUT_MAX);
	int status = 0, rc;

	*failed = 0;
	if (!argv)
		return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		argv[k + i] = jobs[i].arg;
	rc = apt_run(argv, s->uris_dir, NULL, &out, &errout, &status, s->err);
	if (rc < 0)
		return ferry_error_prefix(s->err, rc, "%s", jobs[0].spec);
	if (status != 0) {
		for (size_t i = 0; n > 1 && i < n; i++) {
			rc = print_uris(s, &jobs[i], 1, failed);
			if (rc < 0) {
				*failed = i;
				return rc;
			}
		}
		return apt_failed(s, jobs[0].spec, &errout, status);
	}
	for (const char *line = out.data ? out.data : ""; *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (line[0] == '\'') {
			_cleanup_free_ char *one = stage_dup_span(line, len);
			char *file = NULL, *sha = NULL;
			if (!one)
				return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
			rc = stage_parse_print_uris(one, &file, &sha, s->err);
			if (rc < 0)
				return rc;
			size_t nl = strcspn(file, "_");
			bool used = false;
			for (size_t i = 0; i < n && !used; i++) {
				struct stage_deb *d = jobs[i].d;
				if (d->filename || strcspn(jobs[i].spec, "=:") != nl ||
				    strncmp(jobs[i].spec, file, nl) != 0)
					continue;
				d->filename = file;
				d->sha256 = sha;
				used = true;
			}
			if (!used) {
				free(file);
				free(sha);
			}
		}
		line += len;
		if (*line == '\n')
			line++;
	}
	for (size_t i = 0; i < n; i++)
		if (!jobs[i].d->filename) {
			*failed = i;
			return ferry_error_set(s->err, FERRY_E_NOTFOUND,
			                       "%s: apt-get: no download offered for it",
			                       jobs[i].spec);
		}
	return 0;
}

/* apt-get download for the n jobs not found in the cache, in one run; when
 * it fails, once per job to name the one that fails. */
static int download(struct stager *s, struct job **jobs, size_t n, size_t *failed)
{
	static const char *const words[] = {"download", "-q", NULL};
	size_t k = 0;
	_cleanup_free_ char **argv = apt_argv(s, words, n, &k);
	_cleanup_buf_ struct buf errout = BUF_INIT(OUTPUT_MAX);
	int status = 0, rc;

	*failed = 0;
	if (!argv)
		return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		argv[k + i] = jobs[i]->arg;
	rc = apt_run(argv, s->debs_dir, NULL, NULL, &errout, &status, s->err);
	if (rc < 0)
		return ferry_error_prefix(s->err, rc, "%s", jobs[0]->spec);
	if (status != 0) {
		for (size_t i = 0; n > 1 && i < n; i++) {
			rc = download(s, &jobs[i], 1, failed);
			if (rc < 0) {
				*failed = i;
				return rc;
			}
		}
		return apt_failed(s, jobs[0]->spec, &errout, status);
	}
	return 0;
}

/* Where each job's .deb is: the cache when a file there has apt's SHA-256,
 * else fetched into the download folder and checked. *failed is the index
 * of the job an error is about. */
static int fetch_all(struct stager *s, struct job *jobs, size_t n, size_t *failed)
{
	int rc = print_uris(s, jobs, n, failed);
	if (rc < 0)
		return rc;

	_cleanup_free_ struct job **missing = calloc(n, sizeof(*missing));
	size_t n_missing = 0;
	if (!missing)
		return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct stage_deb *d = jobs[i].d;
		char cached[PATH_MAX_LEN];
		*failed = i;
		_cleanup_free_ char *spec = NULL, *arch = NULL;
		if (s->opts->held && stage_parse_deb_filename(d->filename, &spec, &arch) == 0) {
			size_t nl = strcspn(spec, "=");
			spec[nl] = '\0';
			const struct stage_deb *h = dpkg_status_find(s->opts->held, spec, arch);
			if (h && strcmp(h->version, spec + nl + 1) == 0) {
				log_info("left out %s %s: the base holds it", spec, h->version);
				jobs[i].held = true;
				continue;
			}
		}
		if (s->opts->cache_dir &&
		    str_printf(cached, sizeof(cached), "%s/%s", s->opts->cache_dir, d->filename) ==
		        0 &&
		    file_has_sha256(cached, d->sha256)) {
			log_debug("stage: %s from the cache %s", jobs[i].spec, cached);
			if (str_copy(jobs[i].path, sizeof(jobs[i].path), cached) < 0)
				return ferry_error_set(s->err, FERRY_E_LIMIT, "%s: path too long",
				                       cached);
			continue;
		}
		if (str_printf(jobs[i].path, sizeof(jobs[i].path), "%s/%s", s->debs_dir,
		               d->filename) < 0)
			return ferry_error_set(s->err, FERRY_E_LIMIT, "%s: path too long",
			                       d->filename);
		missing[n_missing++] = &jobs[i];
	}
	if (n_missing == 0)
		return 0;

	progress(s, "fetching", n_missing == 1 ? missing[0]->spec : "packages from the archive");
	size_t f = 0;
	rc = download(s, missing, n_missing, &f);
	if (rc < 0) {
		*failed = (size_t)(missing[f] - jobs);
		return rc;
	}
	for (size_t k = 0; k < n_missing; k++) {
		struct job *j = missing[k];
		*failed = (size_t)(j - jobs);
		if (!fs_exists(j->path))
			return ferry_error_set(s->err, FERRY_E_NOTFOUND,
			                       "%s: apt-get did not write %s", j->spec,
			                       j->d->filename);
		if (!file_has_sha256(j->path, j->d->sha256))
			return ferry_error_set(
			    s->err, FERRY_E_VERIFY,
			    "%s: %s does not have the SHA-256 the archive's index gives", j->spec,
			    j->d->filename);
		if (s->opts->cache_dir) {
			char cached[PATH_MAX_LEN];
			ferry_error cerr = {0};
			if (str_printf(cached, sizeof(cached), "%s/%s", s->opts->cache_dir,
			               j->d->filename) < 0 ||
			    copy_file_atomic(j->path, cached, &cerr) < 0)
				log_warn("cannot keep %s in the cache: %s", j->d->filename,
				         ferry_error_msg(&cerr));
		}
	}
	return 0;
}

/* The packages apt would fetch to install part's stage-packages, against
 * the dpkg status of the apt configuration (the base's) or an empty one:
 * appended to s->resolved as "NAME=VERSION". */
static int resolve_part(struct stager *s, const struct manifest_part *part)
{
	static const char *const words[] = {
	    "install", "-qq", "--print-uris", "-y", "-o", "APT::Install-Recommends=false", NULL};
	size_t k = 0;
	_cleanup_free_ char **argv = apt_argv(s, words, part->n_stage_packages + 2, &k);
	_cleanup_free_ char *status_opt = NULL;
	_cleanup_buf_ struct buf out = BUF_INIT(OUTPUT_MAX);
	_cleanup_buf_ struct buf errout = BUF_INIT(OUTPUT_MAX);
	char args[STAGE_MAX_PACKAGES][SPEC_MAX + 64];
	int status = 0, rc;

	if (!argv)
		return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
	if (!s->opts->apt) {
		status_opt = str_dup_printf("Dir::State::status=%s", s->empty_status);
		if (!status_opt)
			return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
		argv[k++] = "-o";
		argv[k++] = status_opt;
	}
	for (size_t i = 0; i < part->n_stage_packages && i < STAGE_MAX_PACKAGES; i++) {
		if (apt_arg(s, part->stage_packages[i], args[i], sizeof(args[i])) < 0)
			return ferry_error_set(s->err, FERRY_E_LIMIT, "%s: too long",
			                       part->stage_packages[i]);
		argv[k++] = args[i];
	}
	progress(s, "resolving", part->name);
	rc = apt_run(argv, s->uris_dir, NULL, &out, &errout, &status, s->err);
	if (rc < 0)
		return rc;
	if (status != 0) {
		char msg[768];
		apt_child_message(&errout, msg, sizeof(msg));
		return ferry_error_set(s->err, FERRY_E_NOTFOUND, "apt-get install: %s",
		                       msg[0] ? msg : "failed");
	}
	for (const char *line = out.data ? out.data : ""; *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (line[0] == '\'') {
			/* 'URI' FILE SIZE HASH: the hash is apt's choice here (MD5Sum);
			 * download --print-uris gives the SHA-256 that is checked */
			_cleanup_free_ char *one = stage_dup_span(line, len);
			_cleanup_free_ char *file = NULL, *arch = NULL;
			char *spec = NULL;
			if (!one)
				return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
			const char *q = strchr(one + 1, '\'');
			if (q && q[1] == ' ')
				file = stage_dup_span(q + 2, strcspn(q + 2, " "));
			if (!file || stage_parse_deb_filename(file, &spec, &arch) < 0)
				return ferry_error_set(
				    s->err, FERRY_E_INVALID,
				    "apt-get install: unexpected line \"%.120s\"", one);
			if (s->n_resolved >= STAGE_MAX_PACKAGES) {
				free(spec);
				return ferry_error_set(s->err, FERRY_E_LIMIT,
				                       "more than %d packages with their Depends",
				                       STAGE_MAX_PACKAGES);
			}
			char **v = realloc(s->resolved, (s->n_resolved + 1) * sizeof(char *));
			if (!v) {
				free(spec);
				return ferry_error_set(s->err, FERRY_E_NOMEM, "out of memory");
			}
			s->resolved = v;
			v[s->n_resolved++] = spec;
		}
		line += len;
		if (*line == '\n')
			line++;
	}
	return 0;
}

/* Read the control fields of a fetched .deb, unpack it and merge it. */
static int stage_one(struct stager *s, struct job *j)
{
	struct stage_deb *d = j->d;
	const char *spec = j->spec;
	int status = 0, rc;

	{
		_cleanup_buf_ struct buf out = BUF_INIT(OUTPUT_MAX);
		_cleanup_buf_ struct buf errout = BUF_INIT(OUTPUT_MAX);
		char *argv[] = {"dpkg-deb", "-f",           j->path,  "Package",
		                "Version",  "Architecture", "Source", NULL};
		rc = apt_run(argv, NULL, NULL, &out, &errout, &status, s->err);
		if (rc < 0)
			return ferry_error_prefix(s->err, rc, "%s", spec);
		if (status != 0) {
			char msg[512];
			apt_child_message(&errout, msg, sizeof(msg));
			return ferry_error_set(s->err, FERRY_E_CORRUPT, "%s: dpkg-deb -f: %s", spec,
			                       msg);
		}
		rc = stage_parse_control(out.data ? out.data : "", d, s->err);
		if (rc < 0)
			return ferry_error_prefix(s->err, rc, "%s: %s", spec, d->filename);
	}
	if (!spec_names(spec, d->name))
		return ferry_error_set(s->err, FERRY_E_VERIFY, "%s: apt gave package %s", spec,
		                       d->name);
	const char *eq = strchr(spec, '=');
	if (eq && strcmp(d->version, eq + 1) != 0)
		return ferry_error_set(s->err, FERRY_E_VERIFY, "%s: apt gave version %s", spec,
		                       d->version);

	progress(s, "unpacking", spec);
	rc = fs_remove_tree(s->scratch, s->err);
	if (rc < 0)
		return rc;
	if (mkdir(s->scratch, 0700) < 0)
		return ferry_error_errno(s->err, FERRY_E_IO, errno, "create %s", s->scratch);
	{
		_cleanup_buf_ struct buf errout = BUF_INIT(OUTPUT_MAX);
		char *argv[] = {"dpkg-deb", "-x", j->path, s->scratch, NULL};
		rc = apt_run(argv, NULL, NULL, NULL, &errout, &status, s->err);
		if (rc < 0)
			return ferry_error_prefix(s->err, rc, "%s", spec);
		if (status != 0) {
			char msg[512];
			apt_child_message(&errout, msg, sizeof(msg));
			return ferry_error_set(s->err, FERRY_E_CORRUPT, "%s: dpkg-deb -x: %s", spec,
			                       msg);
		}
	}
	_cleanup_close_ int root = open(s->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return ferry_error_errno(s->err, FERRY_E_IO, errno, "open %s", s->tree);
	_cleanup_close_ int src = open(s->scratch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return ferry_error_errno(s->err, FERRY_E_IO, errno, "open %s", s->scratch);
	struct merge m = {.root_fd = root,
	                  .pkg = d->name,
	                  .filters = j->part->prime,
	                  .n_filters = j->part->n_prime,
	                  .err = s->err};
	rc = merge_dir(&m, src, "", 0);
	if (rc < 0)
		return rc;
	return fs_remove_tree(s->scratch, s->err);
}

static void strv_free_n(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void deb_free(struct stage_deb *d)
{
	free(d->part);
	free(d->name);
	free(d->version);
	free(d->arch);
	free(d->source);
	free(d->source_version);
	free(d->sha256);
	free(d->filename);
	memset(d, 0, sizeof(*d));
}

void stage_result_free(struct stage_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		deb_free(&r->debs[i]);
	free(r->debs);
	r->debs = NULL;
	r->n = 0;
}

/* Make the download folder writable by apt's sandbox user when we are root,
 * so apt need not fall back to downloading as root. */
static int prepare_download_dir(const char *work_dir, const char *dir, ferry_error *err)
{
	if (mkdir(dir, 0700) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create %s", dir);
	if (geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam("_apt");
	if (!pw)
		return 0;
	if (chmod(work_dir, 0711) < 0 || chown(dir, pw->pw_uid, (gid_t)-1) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "prepare %s for apt", dir);
	return 0;
}

int stage_parts(const struct manifest *m, const char *tree, const struct stage_opts *opts,
                struct stage_result *out, ferry_error *err)
{
	struct stager s = {.opts = opts, .tree = tree, .err = err};
	int rc;

	memset(out, 0, sizeof(*out));
	size_t total = 0;
	for (size_t i = 0; i < m->n_parts; i++)
		total += m->parts[i].n_stage_packages;
	if (total == 0)
		return 0;
	if (total > STAGE_MAX_PACKAGES)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "parts: more than %d stage-packages in all",
		                       STAGE_MAX_PACKAGES);
	if (!opts->work_dir)
		return ferry_error_set(err, FERRY_E_INVALID, "stage: no work directory");
	if (opts->arch && !stage_valid_deb_arch(opts->arch))
		return ferry_error_set(err, FERRY_E_INVALID, "stage: bad architecture \"%s\"",
		                       opts->arch);
	if (str_printf(s.uris_dir, sizeof(s.uris_dir), "%s/uris", opts->work_dir) < 0 ||
	    str_printf(s.debs_dir, sizeof(s.debs_dir), "%s/debs", opts->work_dir) < 0 ||
	    str_printf(s.scratch, sizeof(s.scratch), "%s/unpack", opts->work_dir) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", opts->work_dir);
	if (mkdir(s.uris_dir, 0700) < 0 && errno != EEXIST)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create %s", s.uris_dir);
	if ((rc = prepare_download_dir(opts->work_dir, s.debs_dir, err)) < 0)
		return rc;

	if (str_printf(s.empty_status, sizeof(s.empty_status), "%s/empty-status", opts->work_dir) <
	        0 ||
	    (rc = fs_write_atomic(s.empty_status, "", 0, 0644, err)) < 0)
		return rc < 0 ? rc : ferry_error_set(err, FERRY_E_LIMIT, "path too long");

	out->debs = calloc(STAGE_MAX_PACKAGES, sizeof(*out->debs));
	struct job *jobs = calloc(STAGE_MAX_PACKAGES, sizeof(*jobs));
	if (!out->debs || !jobs) {
		free(jobs);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	size_t n = 0;
	for (size_t i = 0; i < m->n_parts; i++) {
		const struct manifest_part *part = &m->parts[i];
		char *const *specs = part->stage_packages;
		size_t n_specs = part->n_stage_packages;
		for (size_t j = 0; j < n_specs; j++)
			if (!stage_valid_spec(specs[j])) {
				rc = ferry_error_set(
				    err, FERRY_E_INVALID,
				    "parts.%s.stage-packages: \"%s\" is not NAME or "
				    "NAME=VERSION",
				    part->name, specs[j]);
				goto fail;
			}
		if (n_specs && manifest_part_follows_deps(m, part)) {
			size_t first = s.n_resolved;
			if ((rc = resolve_part(&s, part)) < 0) {
				ferry_error_prefix(err, rc, "parts.%s.stage-packages", part->name);
				goto fail;
			}
			specs = s.resolved + first;
			n_specs = s.n_resolved - first;
		}
		for (size_t j = 0; j < n_specs; j++) {
			const char *spec = specs[j];
			/* the same name twice (in two parts) is staged once, if the
			 * pins agree */
			size_t nlen = strcspn(spec, "=");
			bool dup = false;
			for (size_t k = 0; k < n && !dup; k++) {
				const char *o = jobs[k].spec;
				if (strcspn(o, "=") != nlen || strncmp(o, spec, nlen) != 0)
					continue;
				if (strcmp(o + nlen, spec + nlen) != 0) {
					rc = ferry_error_set(
					    err, FERRY_E_INVALID,
					    "parts.%s.stage-packages: %s: part %s already "
					    "stages %s",
					    part->name, spec, jobs[k].part->name, o);
					goto fail;
				}
				dup = true;
			}
			if (dup)
				continue;
			if (n >= STAGE_MAX_PACKAGES) {
				rc = ferry_error_set(err, FERRY_E_LIMIT,
				                     "parts: more than %d packages to stage",
				                     STAGE_MAX_PACKAGES);
				goto fail;
			}
			struct job *jb = &jobs[n];
			jb->part = part;
			jb->spec = spec;
			jb->d = &out->debs[n];
			if (apt_arg(&s, spec, jb->arg, sizeof(jb->arg)) < 0 ||
			    !(jb->d->part = strdup(part->name))) {
				rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
				goto fail;
			}
			n++;
			out->n = n;
		}
	}

	size_t failed = 0;
	rc = n ? fetch_all(&s, jobs, n, &failed) : 0;
	if (rc < 0) {
		ferry_error_prefix(err, rc, "parts.%s.stage-packages", jobs[failed].part->name);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].held)
			continue;
		rc = stage_one(&s, &jobs[i]);
		if (rc < 0) {
			ferry_error_prefix(err, rc, "parts.%s.stage-packages", jobs[i].part->name);
			goto fail;
		}
		log_info("staged %s %s (%s)", jobs[i].d->name, jobs[i].d->version, jobs[i].d->arch);
	}
	/* what the base holds is not part of the package */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].held) {
			deb_free(&out->debs[i]);
			out->n_left_out++;
			continue;
		}
		if (kept != i) {
			out->debs[kept] = out->debs[i];
			memset(&out->debs[i], 0, sizeof(out->debs[i]));
		}
		kept++;
	}
	out->n = kept;
	free(jobs);
	strv_free_n(s.resolved, s.n_resolved);
	return 0;
fail:
	free(jobs);
	strv_free_n(s.resolved, s.n_resolved);
	stage_result_free(out);
	return rc;
}
