/* cmd_pack.c: `ferry pack DIR [-o FILE] [--compression zstd|xz|lz4]
 * [--deb-cache DIR]`: turns a package tree into a NAME_VERSION_ARCH.ferry
 * image.
 *
 * Steps, each of which stops the pack with one message on failure:
 *  1. read DIR/meta/ferry.yaml (manifest_load_strict: plugs name known
 *     interfaces);
 *  2. copy DIR into a private staging folder, leaving out only version
 *     control folders (.git, .hg, .svn, .bzr) and *.ferry files at the top
 *     of DIR, and refusing what no package may hold (device nodes, FIFOs,
 *     sockets, setuid or setgid files, more than IMAGE_MAX_FILES entries);
 *     symlinks are copied as links, never followed;
 *  3. stage the parts' stage-packages into it (lib/pkg/stage); for an app
 *     on a base (--base FILE, the base's image), from the base's suite
 *     through ferry's own apt configuration (lib/pkg/apt), leaving out what
 *     the base holds;
 *  4. check every ELF file's libraries and symbol versions against the
 *     package and the base, or the build machine's root without a base
 *     (lib/pkg/elf_check; for one architecture, the machine's unless on a
 *     base);
 *     check hooks (every hook in the manifest has an executable
 *     meta/hooks/NAME, every file there is a declared hook) and apps (each
 *     command is an executable file in the tree, symlinks resolved inside
 *     the tree): lib/pkg/check.c, which ferryd applies to `ferry try` too;
 *  5. write meta/sbom.cdx.json (lib/pkg/sbom);
 *  6. write the image (image_write) with every mtime SOURCE_DATE_EPOCH, or 0.
 *
 * It never writes into DIR (unless -o points there) and removes the staging
 * folder on the way out. The format is docs/formats/package.md; the guide is
 * docs/publishing.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "cli.h"
#include "crypto/digest.h"
#include "pkg/apt.h"
#include "pkg/check.h"
#include "pkg/dpkg_status.h"
#include "pkg/elf_check.h"
#include "pkg/image.h"
#include "pkg/manifest.h"
#include "pkg/sbom.h"
#include "pkg/stage.h"

#define PACK_PATH_MAX 4096

struct pack {
	const char *dir;
	const char *out;
	const char *deb_cache;
	const char *base_file; /* --base */
	enum image_compression compression;
	uint32_t mtime;
	bool tty;
	char work[PACK_PATH_MAX];
	char tree[PACK_PATH_MAX];
	struct manifest *m;
	struct stage_result staged;
	/* the base, for an app that names one */
	struct image *base;
	struct stage_result held; /* its dpkg status */
	struct apt_suite apt;
	char base_vendor[64], base_distro[128], base_codename[64];
	/* copy state */
	size_t entries;
	uint64_t bytes;
	dev_t out_dev;
	ino_t out_ino;
	bool out_exists;
	int last_pct;
};

static void pack_usage(FILE *f)
{
	fprintf(f, "usage: ferry pack DIR [-o FILE] [--compression zstd|xz|lz4] [--deb-cache DIR]\n"
	           "                 [--base FILE]\n"
	           "  Pack the package tree DIR (with DIR/meta/ferry.yaml) into an image,\n"
	           "  by default NAME_VERSION_ARCH.ferry in the current directory.\n"
	           "  --base FILE: the image of the base the manifest names (base: NAME).\n"
	           "  SOURCE_DATE_EPOCH sets every timestamp in the image (default 0).\n");
}

/* ---- SOURCE_DATE_EPOCH --------------------------------------------------- */

/* image_mtime_from_env parses the value; pack adds only its own message, and
 * refuses a variable that is set but empty (the library takes that as unset). */
static int source_date_epoch(uint32_t *out, ferry_error *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	if ((s && !*s) || image_mtime_from_env(out, NULL) < 0)
		return ferry_error_set(
		    err, FERRY_E_INVALID,
		    "SOURCE_DATE_EPOCH: expected seconds since 1970 as a whole number "
		    "from 0 to %u; got \"%.40s\"",
		    UINT32_MAX, s);
	return 0;
}

/* ---- copying the tree ----------------------------------------------------- */

static bool excluded_at_top(const char *name)
{
	static const char *const vcs[] = {".git", ".hg", ".svn", ".bzr", NULL};
	for (size_t i = 0; vcs[i]; i++)
		if (strcmp(name, vcs[i]) == 0)
			return true;
	return str_has_suffix(name, ".ferry");
}

static const char *kind_name(mode_t m)
{
	if (S_ISCHR(m))
		return "character device";
	if (S_ISBLK(m))
		return "block device";
	if (S_ISFIFO(m))
		return "named pipe (FIFO)";
	if (S_ISSOCK(m))
		return "socket";
	return "special file";
}

static int copy_regular(int src_dir, const char *name, int dst_dir, const char *rel, mode_t mode,
                        ferry_error *err)
{
	_cleanup_close_ int in =
	    openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s: open", rel);
	_cleanup_close_ int out =
	    openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s: create copy", rel);
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 20, 0);
		if (n > 0)
			continue;
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
			return ferry_error_errno(err, FERRY_E_IO, errno, "%s: copy", rel);
		char b[65536];
		for (;;) {
			ssize_t r = read(in, b, sizeof(b));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return ferry_error_errno(err, FERRY_E_IO, errno, "%s: read", rel);
			if (r == 0)
				break;
			if (fs_write_all(out, b, (size_t)r) < 0)
				return ferry_error_errno(err, FERRY_E_IO, errno, "%s: write copy",
				                         rel);
		}
		break;
	}
	if (fchmod(out, mode & 0777) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s: chmod copy", rel);
	return 0;
}

static int copy_dir(struct pack *p, int src_dir, int dst_dir, const char *rel, int depth,
                    ferry_error *err)
{
	if (depth > IMAGE_MAX_DEPTH)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: directories nested deeper than %d",
		                       rel, IMAGE_MAX_DEPTH);
	struct dirent **names = NULL;
	int n = scandirat(src_dir, ".", &names, NULL, alphasort);
	if (n < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s: read directory",
		                         *rel ? rel : ".");
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char child[PACK_PATH_MAX];
		struct stat st;
		if (rc < 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			goto next;
		if (depth == 0 && excluded_at_top(name))
			goto next;
		if (str_printf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", name) < 0) {
			rc = ferry_error_set(err, FERRY_E_LIMIT, "%s/%s: path too long", rel, name);
			goto next;
		}
		if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "%s: stat", child);
			goto next;
		}
		if (p->out_exists && st.st_dev == p->out_dev && st.st_ino == p->out_ino)
			goto next; /* the output of an earlier pack */
		if (++p->entries >= IMAGE_MAX_FILES) {
			rc = ferry_error_set(err, FERRY_E_LIMIT,
			                     "too many files: more than %u entries",
			                     IMAGE_MAX_FILES);
			goto next;
		}
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dst_dir, name, 0700) < 0) {
				rc = ferry_error_errno(err, FERRY_E_IO, errno, "%s: create copy",
				                       child);
				goto next;
			}
			int s =
			    openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int d =
			    openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s < 0 || d < 0)
				rc = ferry_error_errno(err, FERRY_E_IO, errno, "%s: open directory",
				                       child);
			else
				rc = copy_dir(p, s, d, child, depth + 1, err);
			/* set the mode last, so a read-only directory can be filled;
			 * setgid and sticky bits mean nothing on a read-only image */
			if (rc == 0 && fchmod(d, (st.st_mode & 0777) | 0700) < 0)
				rc = ferry_error_errno(err, FERRY_E_IO, errno, "%s: chmod copy",
				                       child);
			if (s >= 0)
				close(s);
			if (d >= 0)
				close(d);
		} else if (S_ISREG(st.st_mode)) {
			if (st.st_mode & S_ISUID)
				rc = ferry_error_set(err, FERRY_E_UNSAFE, "%s: setuid bit set",
				                     child);
			else if (st.st_mode & S_ISGID)
				rc = ferry_error_set(err, FERRY_E_UNSAFE, "%s: setgid bit set",
				                     child);
			else if ((p->bytes += (uint64_t)st.st_size) > IMAGE_MAX_BYTES)
				rc = ferry_error_set(err, FERRY_E_LIMIT,
				                     "too large: more than %llu bytes",
				                     (unsigned long long)IMAGE_MAX_BYTES);
			else
				rc = copy_regular(src_dir, name, dst_dir, child, st.st_mode, err);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PACK_PATH_MAX];
			ssize_t tl = readlinkat(src_dir, name, target, sizeof(target) - 1);
			if (tl < 0) {
				rc = ferry_error_errno(err, FERRY_E_IO, errno, "%s: read link",
				                       child);
				goto next;
			}
			target[tl] = '\0';
			if (symlinkat(target, dst_dir, name) < 0)
				rc = ferry_error_errno(err, FERRY_E_IO, errno, "%s: copy link",
				                       child);
		} else {
			rc = ferry_error_set(
			    err, FERRY_E_UNSAFE,
			    "%s: %s: only regular files, directories and symlinks can "
			    "be packed",
			    child, kind_name(st.st_mode));
		}
	next:
		free(names[i]);
	}
	free(names);
	return rc;
}

static int copy_tree(struct pack *p, ferry_error *err)
{
	_cleanup_close_ int src = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", p->dir);
	if (mkdir(p->tree, 0755) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create %s", p->tree);
	_cleanup_close_ int dst = open(p->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dst < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", p->tree);
	return copy_dir(p, src, dst, "", 0, err);
}

/* ---- checks on the staged tree ---------------------------------------------- */

/* ---- architectures -------------------------------------------------------- */

static bool lists_arch(const struct manifest *m, const char *arch)
{
	for (size_t i = 0; i < m->n_architectures; i++)
		if (strcmp(m->architectures[i], arch) == 0)
			return true;
	return false;
}

/* The ARCH of the output name: the one architecture, or "multi". */
static const char *file_arch(const struct manifest *m)
{
	return m->n_architectures == 1 ? m->architectures[0] : "multi";
}

static int check_staged_arch(struct pack *p, ferry_error *err)
{
	for (size_t i = 0; i < p->staged.n; i++) {
		const struct stage_deb *d = &p->staged.debs[i];
		if (strcmp(d->arch, "all") == 0 || lists_arch(p->m, d->arch))
			continue;
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "parts.%s.stage-packages: %s %s is built for %s, which "
		                       "architectures does not list",
		                       d->part, d->name, d->version, d->arch);
	}
	return 0;
}

/* ---- the base ---------------------------------------------------------------- */

/* KEY=value of an os-release text, [a-z0-9.-] only, into out. */
static void os_release_get(const char *text, const char *key, char *out, size_t size)
{
	apt_os_release_value(text, key, out, size);
	for (const char *c = out; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' ||
		      *c == '-'))
			out[0] = '\0';
}

/* Open --base, check it is the base the manifest names, read what it holds
 * and set up apt for its suite. */
static int open_base(struct pack *p, ferry_error *err)
{
	const char *want = p->m->base;
	int rc;
	if (!p->base_file)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "base: %s: give its image with --base FILE (ferry base "
		                       "build %s --suite SUITE writes one)",
		                       want, want);
	if ((rc = image_open(p->base_file, &p->base, err)) < 0)
		return ferry_error_prefix(err, rc, "--base");
	_cleanup_free_ char *yaml = NULL, *osr = NULL, *status = NULL;
	size_t len = 0;
	struct manifest *bm = NULL;
	if ((rc = image_read_file(p->base, "meta/ferry.yaml", MANIFEST_MAX_BYTES, &yaml, &len,
	                          err)) < 0 ||
	    (rc = manifest_parse(yaml, len, "meta/ferry.yaml", &bm, err)) < 0)
		return ferry_error_prefix(err, rc, "--base %s", p->base_file);
	bool is_base = bm->type == MANIFEST_TYPE_BASE, same = strcmp(bm->name, want) == 0;
	char bname[PKG_NAME_MAX + 1];
	snprintf(bname, sizeof(bname), "%s", bm->name);
	bool arch_ok = p->m->n_architectures == 1 && bm->n_architectures == 1 &&
	               strcmp(bm->architectures[0], p->m->architectures[0]) == 0;
	manifest_free(bm);
	if (!is_base)
		return ferry_error_set(err, FERRY_E_INVALID, "--base %s: %s is not of type base",
		                       p->base_file, bname);
	if (!same)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--base %s: the manifest names base %s, the image is %s",
		                       p->base_file, want, bname);
	if (!arch_ok)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--base %s: an app on a base has the one architecture of "
		                       "its base",
		                       p->base_file);
	if ((rc = image_read_file(p->base, "etc/os-release", 64 * 1024, &osr, &len, err)) < 0 &&
	    (rc = image_read_file(p->base, "usr/lib/os-release", 64 * 1024, &osr, &len, err)) < 0)
		return ferry_error_prefix(err, rc, "--base %s", p->base_file);
	char version_id[32];
	os_release_get(osr, "ID", p->base_vendor, sizeof(p->base_vendor));
	os_release_get(osr, "VERSION_ID", version_id, sizeof(version_id));
	os_release_get(osr, "VERSION_CODENAME", p->base_codename, sizeof(p->base_codename));
	if (!p->base_vendor[0] || !p->base_codename[0])
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--base %s: os-release names no ID and VERSION_CODENAME",
		                       p->base_file);
	snprintf(p->base_distro, sizeof(p->base_distro), "%s-%s", p->base_vendor,
	         version_id[0] ? version_id : p->base_codename);
	if ((rc = image_read_file(p->base, DPKG_STATUS_PATH, DPKG_STATUS_MAX_BYTES, &status, &len,
	                          err)) < 0 ||
	    (rc = dpkg_status_parse(status, len, &p->held, err)) < 0)
		return ferry_error_prefix(err, rc, "--base %s", p->base_file);

	/* apt for the base's suite, resolving against the base's status */
	char status_path[PACK_PATH_MAX], apt_dir[APT_SUITE_PATH_MAX];
	struct apt_mirrors mirrors;
	if (str_printf(status_path, sizeof(status_path), "%s/base-status", p->work) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "TMPDIR: path too long");
	if ((rc = fs_write_atomic(status_path, status, len, 0644, err)) < 0)
		return rc;
	if ((rc = apt_host_mirrors(NULL, NULL, &mirrors, err)) < 0)
		return rc;
	if (apt_suite_default_dir(p->base_codename, p->m->architectures[0], apt_dir,
	                          sizeof(apt_dir)) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "apt cache folder: path too long");
	if ((rc = apt_suite_open(apt_dir, p->base_codename, p->m->architectures[0], &mirrors,
	                         status_path, &p->apt, err)) < 0)
		return ferry_error_prefix(err, rc, "base %s", want);
	return 0;
}

/* ---- progress --------------------------------------------------------------- */

static void stage_progress(const char *what, void *ctx)
{
	struct pack *p = ctx;
	if (p->tty)
		fprintf(stderr, "\r\033[K%s", what);
}

static void image_progress(uint64_t done, uint64_t total, void *ctx)
{
	struct pack *p = ctx;
	if (!p->tty || total == 0)
		return;
	int pct = (int)(done * 100 / total);
	if (pct == p->last_pct)
		return;
	p->last_pct = pct;
	char bar[31];
	int fill = pct * 30 / 100;
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r\033[Kwriting image [%s] %3d%%", bar, pct);
}

static void progress_line(struct pack *p, const char *what)
{
	stage_progress(what, p);
}

static void progress_done(struct pack *p)
{
	if (p->tty)
		fprintf(stderr, "\r\033[K");
}

/* ---- the verb --------------------------------------------------------------- */

static int pack_run(struct pack *p, char *out_path, size_t out_size, ferry_error *err)
{
	char manifest_path[PACK_PATH_MAX];
	struct stat st;
	int rc;

	if (stat(p->dir, &st) < 0)
		return ferry_error_errno(err, FERRY_E_NOTFOUND, errno, "%s", p->dir);
	if (!S_ISDIR(st.st_mode))
		return ferry_error_set(err, FERRY_E_INVALID, "%s: not a directory", p->dir);
	if (str_printf(manifest_path, sizeof(manifest_path), "%s/meta/ferry.yaml", p->dir) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", p->dir);
	if (!fs_exists(manifest_path))
		return ferry_error_set(
		    err, FERRY_E_NOTFOUND,
		    "%s: no meta/ferry.yaml (ferry init %s writes a starting one)", p->dir, p->dir);
	if ((rc = manifest_load_strict(manifest_path, MANIFEST_KNOWN_INTERFACES, &p->m, err)) < 0)
		return rc;

	if (p->out) {
		if (str_copy(out_path, out_size, p->out) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "-o: path too long");
	} else if (str_printf(out_path, out_size, "%s_%s_%s.ferry", p->m->name, p->m->version,
	                      file_arch(p->m)) < 0) {
		return ferry_error_set(err, FERRY_E_LIMIT, "output name too long");
	}
	if (strchr(p->m->version, '/'))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "version: \"/\" cannot be in a file name");
	if (stat(out_path, &st) == 0) {
		p->out_exists = true;
		p->out_dev = st.st_dev;
		p->out_ino = st.st_ino;
	}

	const char *tmp = getenv("TMPDIR");
	if (str_printf(p->work, sizeof(p->work), "%s/ferry-pack-XXXXXX",
	               tmp && *tmp ? tmp : "/tmp") < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "TMPDIR: path too long");
	if (!mkdtemp(p->work)) {
		int e = errno;
		p->work[0] = '\0';
		return ferry_error_errno(err, FERRY_E_IO, e, "create a staging folder in %s",
		                         tmp && *tmp ? tmp : "/tmp");
	}
	if (str_printf(p->tree, sizeof(p->tree), "%s/tree", p->work) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "TMPDIR: path too long");

	if ((rc = copy_tree(p, err)) < 0)
		return rc;
	char sbom_path[PACK_PATH_MAX];
	if (str_printf(sbom_path, sizeof(sbom_path), "%s/%s", p->tree, SBOM_PATH) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "TMPDIR: path too long");
	if (fs_exists(sbom_path))
		return ferry_error_set(err, FERRY_E_EXISTS,
		                       "%s: ferry pack writes this file; remove it from %s",
		                       SBOM_PATH, p->dir);

	const char *arch = NULL;
	if (p->m->n_architectures == 1 && strcmp(p->m->architectures[0], "all") != 0)
		arch = p->m->architectures[0];
	if (p->base_file && !p->m->base)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--base %s: the manifest names no base (add base: NAME)",
		                       p->base_file);
	if (p->m->base && (rc = open_base(p, err)) < 0)
		return rc;
	struct stage_opts so = {.work_dir = p->work,
	                        .arch = arch,
	                        .cache_dir = p->deb_cache,
	                        .apt = p->m->base ? &p->apt : NULL,
	                        .held = p->m->base ? &p->held : NULL,
	                        .progress = stage_progress,
	                        .progress_ctx = p};
	rc = stage_parts(p->m, p->tree, &so, &p->staged, err);
	progress_done(p);
	if (rc < 0)
		return rc;
	if ((rc = check_staged_arch(p, err)) < 0)
		return rc;

	_cleanup_close_ int root = open(p->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", p->tree);
	if ((rc = pkg_check_hooks(root, p->m, err)) < 0 ||
	    (rc = pkg_check_apps(root, p->m, err)) < 0)
		return rc;
	if (arch && (p->base || strcmp(arch, manifest_host_architecture()) == 0)) {
		progress_line(p, "checking libraries");
		struct elf_check_opts eo = {
		    .tree = p->tree, .base = p->base, .base_name = p->m->base, .arch = arch};
		rc = elf_check_tree(&eo, err);
		progress_done(p);
		if (rc < 0)
			return rc;
	}

	char vendor[64], distro[128];
	if (p->base) {
		snprintf(vendor, sizeof(vendor), "%s", p->base_vendor);
		snprintf(distro, sizeof(distro), "%s", p->base_distro);
	} else if ((rc = stage_distro(NULL, vendor, sizeof(vendor), distro, sizeof(distro))) < 0) {
		return ferry_error_set(err, rc, "cannot read /etc/os-release");
	}
	struct sbom_input si = {.manifest = p->m,
	                        .debs = p->staged.debs,
	                        .n_debs = p->staged.n,
	                        .vendor = vendor[0] ? vendor : "debian",
	                        .distro = distro,
	                        .timestamp = p->mtime,
	                        .tool_version = FERRY_VERSION};
	_cleanup_free_ char *sbom = NULL;
	size_t sbom_len = 0;
	if ((rc = sbom_write_json(&si, &sbom, &sbom_len, err)) < 0)
		return rc;
	if ((rc = fs_write_atomic(sbom_path, sbom, sbom_len, 0644, err)) < 0)
		return rc;

	struct image_write_opts wo = {.compression = p->compression,
	                              .mtime = p->mtime,
	                              .progress = image_progress,
	                              .progress_ctx = p};
	p->last_pct = -1;
	rc = image_write(p->tree, out_path, &wo, err);
	progress_done(p);
	return rc;
}

int cmd_pack(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"compression", required_argument, NULL, 'c'},
	    {"deb-cache", required_argument, NULL, 'C'},
	    {"base", required_argument, NULL, 'B'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct pack p = {.compression = IMAGE_ZSTD};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			p.out = optarg;
			break;
		case 'c': {
			int v = image_compression_parse(optarg);
			if (v < 0 || v == IMAGE_GZIP) {
				fprintf(stderr,
				        "ferry: pack: --compression: expected zstd, xz or lz4; got "
				        "\"%s\"\n",
				        optarg);
				pack_usage(stderr);
				return 2;
			}
			p.compression = (enum image_compression)v;
			break;
		}
		case 'C':
			p.deb_cache = optarg;
			break;
		case 'B':
			p.base_file = optarg;
			break;
		case 'h':
			pack_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "ferry: pack: unknown option or missing value: %s\n",
			        argv[optind - 1]);
			pack_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "ferry: pack: %s\n",
		        argc - optind < 1 ? "which directory? (ferry pack DIR)" : "one DIR only");
		pack_usage(stderr);
		return 2;
	}
	p.dir = argv[optind];
	p.tty = isatty(STDERR_FILENO);

	ferry_error err = {0};
	if (source_date_epoch(&p.mtime, &err) < 0)
		return cli_fail("pack: %s", ferry_error_msg(&err));

	char out_path[PACK_PATH_MAX];
	int rc = pack_run(&p, out_path, sizeof(out_path), &err);

	if (p.work[0]) {
		ferry_error rerr = {0};
		if (fs_remove_tree(p.work, &rerr) < 0)
			log_warn("cannot remove %s: %s", p.work, ferry_error_msg(&rerr));
	}
	stage_result_free(&p.staged);
	stage_result_free(&p.held);
	apt_suite_free(&p.apt);
	image_close(p.base);
	manifest_free(p.m);
	if (rc < 0)
		return cli_fail("pack: %s", ferry_error_msg(&err));

	struct crypto_file_digests dg;
	if (crypto_digest_file_all(out_path, &dg, &err) < 0)
		return cli_fail("pack: %s", ferry_error_msg(&err));
	printf("%s\n", out_path);
	printf("  size:   %llu bytes\n", (unsigned long long)dg.size);
	printf("  sha256: %s\n", dg.sha256);
	return 0;
}
