/* elf_check.c: finds the libraries of every ELF file of a staged package and
 * checks their symbol versions (see elf_check.h). Two kinds of root hold
 * libraries: a folder (the package tree, the host's /), read with openat2
 * RESOLVE_IN_ROOT, and a base image, read through an index of its entries
 * with links resolved by hand, inside the image. Parsed libraries are kept
 * for the whole check: libc is read once, not once per program. */
#include "pkg/elf_check.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "pkg/apt.h"
#include "pkg/elf.h"
#include "pkg/triplet.h"

#define CK_PATH_MAX 4096
#define MAX_LINKS 40
#define LIST_MAX (16u * 1024 * 1024) /* a base's var/lib/dpkg/info/NAME.list */
#define MAX_PROBLEMS 8

/* ---- roots ------------------------------------------------------------------ */

struct img_entry {
	char *path;
	char *target; /* symlinks */
	bool is_reg;
};

struct root {
	const char *label; /* "the package", "the base debian-13", "the host" */
	int dir_fd;        /* a folder root, else -1 */
	struct image *img; /* an image root */
	struct img_entry *e;
	size_t n, cap;
};

static int collect(const struct image_entry *ie, void *ctx)
{
	struct root *r = ctx;
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 4096;
		struct img_entry *ne = realloc(r->e, nc * sizeof(*ne));
		if (!ne)
			return FERRY_E_NOMEM;
		r->e = ne;
		r->cap = nc;
	}
	struct img_entry *x = &r->e[r->n];
	x->path = strdup(ie->path);
	x->target = ie->target ? strdup(ie->target) : NULL;
	x->is_reg = S_ISREG(ie->mode);
	if (!x->path || (ie->target && !x->target)) {
		free(x->path);
		free(x->target);
		return FERRY_E_NOMEM;
	}
	r->n++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct img_entry *)a)->path, ((const struct img_entry *)b)->path);
}

static const struct img_entry *img_lookup(const struct root *r, const char *path)
{
	struct img_entry key = {.path = (char *)path};
	return bsearch(&key, r->e, r->n, sizeof(*r->e), cmp_entry);
}

/* Resolve path inside the image (links followed, never above its root)
 * into out; false when it does not lead to a regular file. */
static bool img_resolve(const struct root *r, const char *path, char *out, size_t size)
{
	char cur[CK_PATH_MAX] = "", rest[CK_PATH_MAX];
	unsigned links = 0;
	if (str_copy(rest, sizeof(rest), path) < 0)
		return false;
	while (rest[0]) {
		char *p = rest;
		while (*p == '/')
			p++;
		size_t cl = strcspn(p, "/");
		char comp[256];
		if (cl == 0)
			break;
		if (cl >= sizeof(comp))
			return false;
		memcpy(comp, p, cl);
		comp[cl] = '\0';
		char after[CK_PATH_MAX];
		if (str_copy(after, sizeof(after), p + cl) < 0)
			return false;
		if (strcmp(comp, ".") == 0) {
			memmove(rest, after, strlen(after) + 1);
			continue;
		}
		if (strcmp(comp, "..") == 0) {
			char *slash = strrchr(cur, '/');
			if (slash)
				*slash = '\0';
			else
				cur[0] = '\0';
			memmove(rest, after, strlen(after) + 1);
			continue;
		}
		char cand[CK_PATH_MAX];
		if (str_printf(cand, sizeof(cand), "%s%s%s", cur, cur[0] ? "/" : "", comp) < 0)
			return false;
		const struct img_entry *e = img_lookup(r, cand);
		if (!e)
			return false;
		if (e->target) {
			if (++links > MAX_LINKS)
				return false;
			if (e->target[0] == '/')
				cur[0] = '\0';
			if (str_printf(rest, sizeof(rest), "%s%s", e->target, after) < 0)
				return false;
			continue;
		}
		if (str_copy(cur, sizeof(cur), cand) < 0)
			return false;
		memmove(rest, after, strlen(after) + 1);
	}
	const struct img_entry *e = img_lookup(r, cur);
	if (!e || !e->is_reg)
		return false;
	return str_copy(out, size, cur) == 0;
}

static int dir_open(const struct root *r, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
	                       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	return (int)syscall(SYS_openat2, r->dir_fd, path, &how, sizeof(how));
}

/* Read the regular file at path of root r (bounded). 1: read; 0: no such
 * file; <0: error. *where is the path it was found at (links resolved in
 * an image). */
static int root_read(const struct root *r, const char *path, unsigned char **data, size_t *len,
                     char *where, size_t where_size, ferry_error *err)
{
	*data = NULL;
	*len = 0;
	if (r->img) {
		char real[CK_PATH_MAX];
		if (!img_resolve(r, path, real, sizeof(real)))
			return 0;
		char *d = NULL;
		int rc = image_read_file(r->img, real, ELF_CHECK_FILE_MAX, &d, len, err);
		if (rc < 0)
			return rc;
		*data = (unsigned char *)d;
		snprintf(where, where_size, "%s", real);
		return 1;
	}
	_cleanup_close_ int fd = dir_open(r, path);
	if (fd < 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if ((uint64_t)st.st_size > ELF_CHECK_FILE_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: larger than %u bytes", path,
		                       ELF_CHECK_FILE_MAX);
	char *d = NULL;
	int rc = fs_read_fd(fd, path, ELF_CHECK_FILE_MAX, &d, len, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s", path);
	*data = (unsigned char *)d;
	snprintf(where, where_size, "%s", path);
	return 1;
}

/* ---- libraries ---------------------------------------------------------------- */

struct lib {
	char *key; /* "ROOTINDEX:NAME-or-path" */
	char where[CK_PATH_MAX];
	const struct root *root;
	struct elf_info info;
	bool found;
};

struct check {
	const struct elf_check_opts *o;
	struct root roots[2]; /* the package, then the base or host */
	const char *triplet;
	struct lib *libs;
	size_t n_libs, cap_libs;
	ferry_error *err;
	/* the walk's current folder, relative to the tree */
	char rel[CK_PATH_MAX];
	size_t rel_len[IMAGE_MAX_DEPTH + 2]; /* length of rel at each depth */
	/* what is missing: each distinct problem once, with the first file
	 * (a program in preference) and how many files have it */
	char what[768];
	struct problem {
		char *what;
		char *file;
		size_t files;
	} problems[MAX_PROBLEMS];
	size_t n_problems, n_files;
};

/* Try root r at dir/name; on a usable library fill l. */
static int try_lib(struct check *c, const struct root *r, const char *dir, const char *name,
                   const struct elf_info *need, struct lib *l)
{
	char path[CK_PATH_MAX];
	if (str_printf(path, sizeof(path), "%s%s%s", dir, dir[0] ? "/" : "", name) < 0)
		return 0;
	_cleanup_free_ unsigned char *data = NULL;
	size_t len = 0;
	int rc = root_read(r, path, &data, &len, l->where, sizeof(l->where), c->err);
	if (rc <= 0)
		return rc;
	if (!elf_is_elf(data, len))
		return 0;
	struct elf_info info;
	ferry_error perr = {0};
	if (elf_parse(data, len, path, &info, &perr) < 0)
		return 0; /* the loader would skip it too */
	if (info.is_64 != need->is_64 || info.machine != need->machine) {
		elf_info_free(&info);
		return 0;
	}
	l->info = info;
	l->root = r;
	l->found = true;
	return 1;
}

/* The library name as file (in the package at file_dir) would load it. */
static int find_lib(struct check *c, const char *name, const char *file_dir,
                    const struct elf_info *need, const struct lib **out)
{
	char key[CK_PATH_MAX];
	/* a RUNPATH with $ORIGIN depends on the file's folder */
	bool origin = need->runpath && strstr(need->runpath, "$ORIGIN");
	if (str_printf(key, sizeof(key), "%d:%u:%s:%s", need->is_64, need->machine,
	               origin ? file_dir : "", name) < 0)
		return ferry_error_set(c->err, FERRY_E_LIMIT, "%s: name too long", name);
	for (size_t i = 0; i < c->n_libs; i++)
		if (strcmp(c->libs[i].key, key) == 0) {
			*out = &c->libs[i];
			return 0;
		}
	if (c->n_libs == c->cap_libs) {
		size_t nc = c->cap_libs ? c->cap_libs * 2 : 64;
		struct lib *nl = realloc(c->libs, nc * sizeof(*nl));
		if (!nl)
			return ferry_error_set(c->err, FERRY_E_NOMEM, "out of memory");
		c->libs = nl;
		c->cap_libs = nc;
	}
	struct lib *l = &c->libs[c->n_libs];
	memset(l, 0, sizeof(*l));
	if (!(l->key = strdup(key)))
		return ferry_error_set(c->err, FERRY_E_NOMEM, "out of memory");
	c->n_libs++;
	*out = l;

	char std[4][128];
	snprintf(std[0], sizeof(std[0]), "lib/%s", c->triplet);
	snprintf(std[1], sizeof(std[1]), "usr/lib/%s", c->triplet);
	snprintf(std[2], sizeof(std[2]), "lib");
	snprintf(std[3], sizeof(std[3]), "usr/lib");
	int rc = 0;

	/* RUNPATH: $ORIGIN in the package, absolute folders in both roots */
	if (need->runpath) {
		_cleanup_free_ char *rp = strdup(need->runpath);
		char *save = NULL;
		if (!rp)
			return ferry_error_set(c->err, FERRY_E_NOMEM, "out of memory");
		for (char *d = strtok_r(rp, ":", &save); d && rc == 0;
		     d = strtok_r(NULL, ":", &save)) {
			char dir[CK_PATH_MAX];
			if (str_has_prefix(d, "$ORIGIN") || str_has_prefix(d, "${ORIGIN}")) {
				const char *tail = d + (d[1] == '{' ? 9 : 7);
				if (str_printf(dir, sizeof(dir), "%s%s", file_dir, tail) < 0)
					continue;
				rc = try_lib(c, &c->roots[0], dir, name, need, l);
			} else if (d[0] == '/') {
				for (int ri = 0; ri < 2 && rc == 0; ri++)
					rc = try_lib(c, &c->roots[ri], d + 1, name, need, l);
			}
		}
	}
	for (int ri = 0; ri < 2 && rc == 0; ri++)
		for (int k = 0; k < 4 && rc == 0; k++)
			rc = try_lib(c, &c->roots[ri], std[k], name, need, l);
	if (rc == 0 && need->is_64) {
		rc = try_lib(c, &c->roots[1], "lib64", name, need, l);
		if (rc == 0)
			rc = try_lib(c, &c->roots[1], "usr/lib64", name, need, l);
	}
	return rc < 0 ? rc : 0;
}

/* ---- naming the Debian package ------------------------------------------------ */

/* The package of the base whose file list has a path ending in /name. */
static bool base_package_of(struct check *c, const char *name, char *out, size_t size)
{
	const struct root *b = &c->roots[1];
	if (!b->img)
		return false;
	size_t nl = strlen(name);
	for (size_t i = 0; i < b->n; i++) {
		const char *p = b->e[i].path;
		if (!str_has_prefix(p, "var/lib/dpkg/info/") || !str_has_suffix(p, ".list") ||
		    !b->e[i].is_reg)
			continue;
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		ferry_error e = {0};
		if (image_read_file(b->img, p, LIST_MAX, &text, &len, &e) < 0)
			continue;
		for (const char *q = text; q && *q;) {
			const char *eol = strchr(q, '\n');
			size_t l = eol ? (size_t)(eol - q) : strlen(q);
			if (l > nl && q[l - nl - 1] == '/' && strncmp(q + l - nl, name, nl) == 0) {
				const char *base = p + strlen("var/lib/dpkg/info/");
				size_t bl = strlen(base) - 5;
				const char *colon = memchr(base, ':', bl);
				if (colon)
					bl = (size_t)(colon - base);
				snprintf(out, size, "%.*s", (int)bl, base);
				return true;
			}
			q = eol ? eol + 1 : NULL;
		}
	}
	return false;
}

/* dpkg -S PATTERN on the build machine: "libonig5:amd64: /usr/lib/..." */
static bool host_package_of(const char *pattern, char *out, size_t size)
{
	char *argv[] = {"dpkg", "-S", (char *)pattern, NULL};
	_cleanup_buf_ struct buf o = BUF_INIT(64 * 1024);
	int status = 0;
	ferry_error e = {0};
	if (apt_run(argv, NULL, NULL, &o, NULL, &status, &e) < 0 || status != 0 || !o.data)
		return false;
	size_t l = strcspn(o.data, ":,\n");
	if (l == 0 || l >= size)
		return false;
	snprintf(out, size, "%.*s", (int)l, o.data);
	return true;
}

/* The host's package of a library called name: in the architecture's
 * folder first, then anywhere. */
static bool host_package_of_name(struct check *c, const char *name, char *out, size_t size)
{
	char pattern[512];
	if (str_printf(pattern, sizeof(pattern), "*/%s/%s", c->triplet, name) == 0 &&
	    host_package_of(pattern, out, size))
		return true;
	return str_printf(pattern, sizeof(pattern), "*/%s", name) == 0 &&
	       host_package_of(pattern, out, size);
}

static void package_hint(struct check *c, const char *name, char *out, size_t size)
{
	char pkg[256];
	out[0] = '\0';
	if (base_package_of(c, name, pkg, sizeof(pkg)) ||
	    (!c->o->base && host_package_of_name(c, name, pkg, sizeof(pkg))))
		snprintf(out, size, " (Debian package %s has it)", pkg);
}

/* ---- the walk over the package --------------------------------------------------- */

static int check_file(struct check *c, const char *rel, const unsigned char *data, size_t len)
{
	struct elf_info info;
	int rc = elf_parse(data, len, rel, &info, c->err);
	if (rc < 0)
		return rc;
	if (!info.dynamic || (info.type != 2 && info.type != 3)) { /* ET_EXEC, ET_DYN */
		elf_info_free(&info);
		return 0;
	}
	char dir[CK_PATH_MAX];
	const char *slash = strrchr(rel, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	const char *where = c->o->base ? "the base" : "the build machine's root";
	for (size_t i = 0; rc == 0 && i < info.n_needed; i++) {
		const struct lib *l = NULL;
		if (strchr(info.needed[i], '/'))
			continue;
		if ((rc = find_lib(c, info.needed[i], dir, &info, &l)) < 0)
			break;
		if (!l->found) {
			char hint[300];
			package_hint(c, info.needed[i], hint, sizeof(hint));
			snprintf(c->what, sizeof(c->what),
			         "needs %s, which is neither in the package nor in %s%s%s%s",
			         info.needed[i], where, c->o->base ? " " : "",
			         c->o->base ? c->o->base_name : "", hint);
			rc = FERRY_E_NOTFOUND;
		}
	}
	for (size_t i = 0; rc == 0 && i < info.n_verneed; i++) {
		const struct elf_verneed *v = &info.verneed[i];
		const struct lib *l = NULL;
		if (strchr(v->file, '/'))
			continue;
		if ((rc = find_lib(c, v->file, dir, &info, &l)) < 0)
			break;
		if (!l->found || l->info.n_verdef == 0 || elf_defines(&l->info, v->version))
			continue;
		char hint[300] = "";
		char pkg[256];
		char at[CK_PATH_MAX + 1];
		snprintf(at, sizeof(at), "/%s", l->where);
		if (l->root == &c->roots[1] &&
		    (base_package_of(c, v->file, pkg, sizeof(pkg)) ||
		     (!c->o->base && (host_package_of(at, pkg, sizeof(pkg)) ||
		                      host_package_of_name(c, v->file, pkg, sizeof(pkg))))))
			snprintf(hint, sizeof(hint), " (Debian package %s)", pkg);
		snprintf(c->what, sizeof(c->what),
		         "needs version %s of %s, which %s's /%s%s does not define", v->version,
		         v->file, l->root->label, l->where, hint);
		rc = FERRY_E_NOTFOUND;
	}
	elf_info_free(&info);
	return rc;
}

static bool is_program(const char *rel)
{
	return strstr(rel, "bin/") != NULL;
}

static int note_problem(struct check *c, const char *rel)
{
	c->n_files++;
	for (size_t i = 0; i < c->n_problems; i++) {
		struct problem *p = &c->problems[i];
		if (strcmp(p->what, c->what) != 0)
			continue;
		p->files++;
		if (is_program(rel) && !is_program(p->file)) {
			char *f = strdup(rel);
			if (!f)
				return ferry_error_set(c->err, FERRY_E_NOMEM, "out of memory");
			free(p->file);
			p->file = f;
		}
		return 0;
	}
	if (c->n_problems == MAX_PROBLEMS)
		return 0;
	struct problem *p = &c->problems[c->n_problems];
	p->what = strdup(c->what);
	p->file = strdup(rel);
	p->files = 1;
	c->n_problems++;
	if (!p->what || !p->file)
		return ferry_error_set(c->err, FERRY_E_NOMEM, "out of memory");
	return 0;
}

static int walk(void *ctx, enum fs_walk_event ev, struct fs_walk_entry *e, ferry_error *err)
{
	struct check *c = ctx;
	if (e->depth > IMAGE_MAX_DEPTH)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: too deep", e->path);
	size_t base = c->rel_len[e->depth - 1];
	if (ev == FS_WALK_ENTER) {
		if (str_printf(c->rel + base, sizeof(c->rel) - base, "%s%s", base ? "/" : "",
		               e->name) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", e->path);
		c->rel_len[e->depth] = strlen(c->rel);
		return 0;
	}
	if (ev != FS_WALK_OTHER || !S_ISREG(e->st->st_mode) || e->st->st_size < 52)
		return 0;
	_cleanup_close_ int fd = openat(e->parent, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	unsigned char magic[4];
	if (fd < 0 || pread(fd, magic, 4, 0) != 4 || !elf_is_elf(magic, 4))
		return 0;
	if ((uint64_t)e->st->st_size > ELF_CHECK_FILE_MAX)
		return ferry_error_set(c->err, FERRY_E_LIMIT, "%s: larger than %u bytes", e->path,
		                       ELF_CHECK_FILE_MAX);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int rc = fs_read_fd(fd, e->name, ELF_CHECK_FILE_MAX, &data, &len, c->err);
	if (rc < 0)
		return rc;
	char rel[CK_PATH_MAX];
	if (str_printf(rel, sizeof(rel), "%.*s%s%s", (int)base, c->rel, base ? "/" : "", e->name) <
	    0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", e->path);
	rc = check_file(c, rel, (const unsigned char *)data, len);
	if (rc == FERRY_E_NOTFOUND) /* go on, to name every problem at once */
		return note_problem(c, rel);
	return rc;
}

int elf_check_tree(const struct elf_check_opts *o, ferry_error *err)
{
	struct check c = {.o = o, .err = err, .triplet = triplet_for_arch(o->arch)};
	int rc = 0;
	c.roots[0] = (struct root){.label = "the package", .dir_fd = -1};
	c.roots[1] =
	    (struct root){.label = o->base ? "the base" : "the build machine", .dir_fd = -1};
	c.roots[0].dir_fd = open(o->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.roots[0].dir_fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", o->tree);
	if (o->base) {
		c.roots[1].img = o->base;
		rc = image_walk(o->base, collect, &c.roots[1], err);
		if (rc > 0 || rc == FERRY_E_NOMEM)
			rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		if (rc == 0 && c.roots[1].n)
			qsort(c.roots[1].e, c.roots[1].n, sizeof(*c.roots[1].e), cmp_entry);
	} else {
		const char *h = o->host_root ? o->host_root : "/";
		c.roots[1].dir_fd = open(h, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c.roots[1].dir_fd < 0)
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "open %s", h);
	}
	if (rc == 0) {
		_cleanup_close_ int fd = open(o->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "open %s", o->tree);
		else
			rc = fs_walk(fd, -1, o->tree, 0, true, walk, &c, err);
	}
	if (rc == 0 && c.n_problems) {
		/* programs' problems first: they are what the publisher knows */
		struct buf b;
		buf_init(&b, FERRY_ERROR_MSG_MAX);
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < c.n_problems; i++) {
				const struct problem *p = &c.problems[i];
				if (is_program(p->file) != (pass == 0))
					continue;
				char more[48] = "";
				if (p->files > 1)
					snprintf(more, sizeof(more), " (and %zu more)",
					         p->files - 1);
				(void)!buf_printf(&b, "\n  %s%s: %s", p->file, more, p->what);
			}
		rc = ferry_error_set(
		    err, FERRY_E_NOTFOUND, "%zu ELF file%s would not load on %s:%s", c.n_files,
		    c.n_files == 1 ? "" : "s", o->base ? o->base_name : "the build machine's root",
		    b.data ? b.data : "");
		buf_free(&b);
	}
	for (size_t i = 0; i < c.n_problems; i++) {
		free(c.problems[i].what);
		free(c.problems[i].file);
	}
	for (size_t i = 0; i < c.n_libs; i++) {
		free(c.libs[i].key);
		elf_info_free(&c.libs[i].info);
	}
	free(c.libs);
	for (int r = 0; r < 2; r++) {
		if (c.roots[r].dir_fd >= 0)
			close(c.roots[r].dir_fd);
		for (size_t i = 0; i < c.roots[r].n; i++) {
			free(c.roots[r].e[i].path);
			free(c.roots[r].e[i].target);
		}
		free(c.roots[r].e);
	}
	return rc;
}
