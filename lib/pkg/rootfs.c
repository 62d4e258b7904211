/* rootfs.c: `ferry base build`: mmdebstrap, normalisation, manifest, SBOM
 * and image of a base (see rootfs.h). Programs run through apt_run
 * (fork/exec, arguments checked, never a shell). */
#include "pkg/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "pkg/apt.h"
#include "pkg/dpkg_status.h"
#include "pkg/manifest.h"
#include "pkg/name.h"
#include "pkg/sbom.h"
#include "pkg/stage.h"

#define ROOT_PATH_MAX 4096

/* ---- normalisation ---------------------------------------------------------- */

/* Removed outright. */
static const char *const drop_paths[] = {
    "etc/machine-id",
    "var/lib/dbus/machine-id",
    "etc/apt/sources.list",
    "var/cache/ldconfig/aux-cache",
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/diversions-old",
    "var/lib/dpkg/statoverride-old",
    "var/lib/dpkg/available-old",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
    "var/cache/debconf/passwords.dat-old",
    NULL,
};

/* Emptied of everything below them, the folder kept. */
static const char *const empty_dirs[] = {
    "dev", "var/log", "var/cache/apt", "var/lib/apt/lists", "run", "tmp", NULL,
};

/* Empty regular files, the sandbox's mount points for the host's. */
static const char *const placeholder_files[] = {
    "etc/hostname",
    "etc/resolv.conf",
    "etc/hosts",
    NULL,
};

/* Folders the sandbox needs in its root. */
static const char *const needed_dirs[] = {
    "ferry", "proc", "dev", "sys", "tmp", "run", "home", NULL,
};

static int walk_fix(void *ctx, enum fs_walk_event ev, struct fs_walk_entry *e, ferry_error *err)
{
	(void)ctx;
	if (ev != FS_WALK_OTHER)
		return 0;
	mode_t m = e->st->st_mode;
	if (S_ISCHR(m) || S_ISBLK(m) || S_ISFIFO(m) || S_ISSOCK(m)) {
		if (unlinkat(e->parent, e->name, 0) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "%s: remove", e->path);
		return 0;
	}
	if (S_ISREG(m) && (m & (S_ISUID | S_ISGID))) {
		if (fchmodat(e->parent, e->name, m & 0777, 0) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "%s: chmod", e->path);
		return 0;
	}
	if (!S_ISLNK(m))
		return 0;
	char target[ROOT_PATH_MAX], fixed[ROOT_PATH_MAX];
	ssize_t n = readlinkat(e->parent, e->name, target, sizeof(target) - 1);
	if (n < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s: read link", e->path);
	target[n] = '\0';
	if (target[0] != '/')
		return 0;
	/* depth 1 is an entry of the root: "/a/b" becomes "a/b" */
	size_t used = 0;
	for (unsigned i = 1; i < e->depth; i++) {
		if (used + 4 >= sizeof(fixed))
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: link too deep", e->path);
		memcpy(fixed + used, "../", 3);
		used += 3;
	}
	const char *t = target;
	while (*t == '/')
		t++;
	if (str_copy(fixed + used, sizeof(fixed) - used, *t ? t : ".") < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: link target too long", e->path);
	if (unlinkat(e->parent, e->name, 0) < 0 || symlinkat(fixed, e->parent, e->name) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s: rewrite link", e->path);
	return 0;
}

/* Remove everything inside root/rel, keeping rel. */
static int empty_dir(const char *root, const char *rel, ferry_error *err)
{
	char p[ROOT_PATH_MAX];
	if (str_printf(p, sizeof(p), "%s/%s", root, rel) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", root);
	struct stat st;
	if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	int rc = fs_remove_tree(p, err);
	if (rc < 0)
		return rc;
	if (mkdir(p, 0755) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create %s", p);
	return 0;
}

/* etc/localtime is a link into usr/share/zoneinfo; the sandbox mounts the
 * device's over it, which needs a file: a copy of what the link names. */
static int localtime_file(const char *root, ferry_error *err)
{
	char p[ROOT_PATH_MAX], target[ROOT_PATH_MAX], zone[ROOT_PATH_MAX];
	if (str_printf(p, sizeof(p), "%s/etc/localtime", root) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", root);
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	if (n < 0)
		return 0; /* a file already, or none */
	target[n] = '\0';
	const char *t = target;
	while (str_has_prefix(t, "../"))
		t += 3;
	while (*t == '/')
		t++;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (strstr(t, "..") || str_printf(zone, sizeof(zone), "%s/%s", root, t) < 0 ||
	    fs_read_file(zone, 1024 * 1024, &data, &len, NULL) < 0)
		data = NULL;
	if (unlink(p) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "remove %s", p);
	return fs_write_atomic(p, data ? data : "", data ? len : 0, 0644, err);
}

int rootfs_normalise(const char *root, ferry_error *err)
{
	char p[ROOT_PATH_MAX];
	int rc;
	if ((rc = localtime_file(root, err)) < 0)
		return rc;
	for (size_t i = 0; drop_paths[i]; i++) {
		if (str_printf(p, sizeof(p), "%s/%s", root, drop_paths[i]) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", root);
		if (unlink(p) < 0 && errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "remove %s", p);
	}
	for (size_t i = 0; empty_dirs[i]; i++)
		if ((rc = empty_dir(root, empty_dirs[i], err)) < 0)
			return rc;
	for (size_t i = 0; placeholder_files[i]; i++) {
		if (str_printf(p, sizeof(p), "%s/%s", root, placeholder_files[i]) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", root);
		if (unlink(p) < 0 && errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "remove %s", p);
		if ((rc = fs_write_atomic(p, "", 0, 0644, err)) < 0)
			return rc;
	}
	for (size_t i = 0; needed_dirs[i]; i++) {
		if (str_printf(p, sizeof(p), "%s/%s", root, needed_dirs[i]) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", root);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return ferry_error_errno(err, FERRY_E_IO, errno, "create %s", p);
	}
	_cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", root);
	return fs_walk(fd, -1, root, IMAGE_MAX_DEPTH, true, walk_fix, NULL, err);
}

/* ---- the build ------------------------------------------------------------------ */

static void say(const struct rootfs_opts *o, const char *what)
{
	if (o->progress)
		o->progress(what, o->progress_ctx);
}

static int run_mmdebstrap(const struct rootfs_opts *o, const char *arch, const char *target,
                          char *const *lines, size_t n_lines, uint64_t epoch, ferry_error *err)
{
	_cleanup_buf_ struct buf inc = BUF_INIT(64 * 1024);
	char a_arch[64], a_epoch[64];
	char *argv[16 + 2];
	size_t n = 0;
	int rc, status = 0;

	for (size_t i = 0; i < o->n_include; i++) {
		if (!stage_valid_spec(o->include[i]) || strchr(o->include[i], '='))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "--include: \"%.80s\" is not a Debian package name",
			                       o->include[i]);
		if (buf_printf(&inc, "%s%s", i ? "," : "--include=", o->include[i]) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "--include: too long");
	}
	snprintf(a_arch, sizeof(a_arch), "--architectures=%s", arch);
	snprintf(a_epoch, sizeof(a_epoch), "SOURCE_DATE_EPOCH=%llu", (unsigned long long)epoch);
	argv[n++] = "mmdebstrap";
	argv[n++] = "--variant=minbase";
	argv[n++] = geteuid() == 0 ? "--mode=root" : "--mode=unshare";
	argv[n++] = a_arch;
	argv[n++] = "--quiet";
	if (inc.data)
		argv[n++] = inc.data;
	argv[n++] = (char *)o->suite;
	argv[n++] = (char *)target;
	for (size_t i = 0; i < n_lines && i < 2; i++)
		argv[n++] = lines[i];
	argv[n] = NULL;
	char *env[] = {a_epoch, NULL};
	_cleanup_buf_ struct buf errout = BUF_INIT(APT_OUTPUT_MAX);
	rc = apt_run(argv, NULL, env, NULL, &errout, &status, err);
	if (rc < 0)
		return rc;
	if (status != 0) {
		char msg[768];
		apt_child_message(&errout, msg, sizeof(msg));
		return ferry_error_set(err, FERRY_E_IO, "mmdebstrap %s: %s", o->suite,
		                       msg[0] ? msg : "failed");
	}
	return 0;
}

static bool version_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '+' || c == '~' || c == '-';
}

/* meta/ferry.yaml and meta/sbom.cdx.json of the base */
static int write_meta(const struct rootfs_opts *o, const char *root, const char *arch,
                      struct rootfs_result *res, ferry_error *err)
{
	char p[ROOT_PATH_MAX];
	_cleanup_free_ char *osr = NULL, *dv = NULL, *status = NULL, *yaml = NULL, *sbom = NULL;
	size_t len = 0, sbom_len = 0;
	int rc;

	if (str_printf(p, sizeof(p), "%s/usr/lib/os-release", root) < 0 ||
	    (rc = fs_read_file(p, 64 * 1024, &osr, &len, err)) < 0)
		return ferry_error_prefix(err, FERRY_E_NOTFOUND, "the base has no os-release");
	char id[32], version_id[32], pretty[128], debver[32] = "";
	apt_os_release_value(osr, "ID", id, sizeof(id));
	apt_os_release_value(osr, "VERSION_ID", version_id, sizeof(version_id));
	apt_os_release_value(osr, "PRETTY_NAME", pretty, sizeof(pretty));
	if (str_printf(p, sizeof(p), "%s/etc/debian_version", root) == 0 &&
	    fs_read_file(p, 256, &dv, &len, NULL) == 0) {
		size_t k = 0;
		while (dv[k] && version_char(dv[k]) && k + 1 < sizeof(debver)) {
			debver[k] = dv[k];
			k++;
		}
		debver[k] = '\0';
		if (dv[k] != '\n' && dv[k] != '\0') /* "trixie/sid": no version */
			debver[0] = '\0';
	}
	time_t t = (time_t)res->epoch;
	struct tm tm;
	gmtime_r(&t, &tm);
	char day[16];
	strftime(day, sizeof(day), "%Y%m%d", &tm);
	const char *v = debver[0] ? debver : version_id[0] ? version_id : "0";
	/* manifest_parse below checks the version's grammar */
	if (str_printf(res->version, sizeof(res->version), "%s+%s", v, day) < 0)
		return ferry_error_set(err, FERRY_E_INVALID, "cannot make a version of \"%s\"", v);
	for (char *c = pretty; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
			*c = ' ';

	yaml = str_dup_printf("name: %s\n"
	                      "version: \"%s\"\n"
	                      "summary: \"%s minbase root file system\"\n"
	                      "type: base\n"
	                      "architectures: [%s]\n",
	                      o->name, res->version, pretty[0] ? pretty : "Debian", arch);
	if (!yaml)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	struct manifest *m = NULL;
	if ((rc = manifest_parse(yaml, strlen(yaml), "meta/ferry.yaml", &m, err)) < 0)
		return rc;
	if (str_printf(p, sizeof(p), "%s/meta", root) < 0 ||
	    (mkdir(p, 0755) < 0 && errno != EEXIST)) {
		manifest_free(m);
		return ferry_error_errno(err, FERRY_E_IO, errno, "create %s", p);
	}
	if (str_printf(p, sizeof(p), "%s/meta/ferry.yaml", root) < 0 ||
	    (rc = fs_write_atomic(p, yaml, strlen(yaml), 0644, err)) < 0) {
		manifest_free(m);
		return rc < 0 ? rc : ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	}

	struct stage_result held = {0};
	if (str_printf(p, sizeof(p), "%s/%s", root, DPKG_STATUS_PATH) < 0 ||
	    (rc = fs_read_file(p, DPKG_STATUS_MAX_BYTES, &status, &len, err)) < 0 ||
	    (rc = dpkg_status_parse(status, len, &held, err)) < 0) {
		manifest_free(m);
		return rc < 0 ? rc : ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	}
	res->packages = held.n;
	char distro[80];
	snprintf(distro, sizeof(distro), "%s-%s", id[0] ? id : "debian",
	         version_id[0] ? version_id : o->suite);
	struct sbom_input si = {.manifest = m,
	                        .debs = held.debs,
	                        .n_debs = held.n,
	                        .vendor = id[0] ? id : "debian",
	                        .distro = distro,
	                        .timestamp = res->epoch,
	                        .tool_version = FERRY_VERSION};
	rc = sbom_write_json(&si, &sbom, &sbom_len, err);
	stage_result_free(&held);
	manifest_free(m);
	if (rc < 0)
		return rc;
	if (str_printf(p, sizeof(p), "%s/%s", root, SBOM_PATH) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	return fs_write_atomic(p, sbom, sbom_len, 0644, err);
}

int rootfs_build(const struct rootfs_opts *o, struct rootfs_result *res, ferry_error *err)
{
	char apt_dir[ROOT_PATH_MAX], root[ROOT_PATH_MAX];
	struct apt_mirrors mirrors;
	struct apt_suite suite = {0};
	char *lines[2] = {NULL, NULL};
	size_t n_lines = 0;
	const char *arch = o->arch ? o->arch : manifest_host_architecture();
	int rc;

	memset(res, 0, sizeof(*res));
	if (!pkg_name_valid(o->name))
		return ferry_error_set(err, FERRY_E_INVALID, "\"%.80s\": not a package name",
		                       o->name);
	if (str_printf(apt_dir, sizeof(apt_dir), "%s/apt", o->work_dir) < 0 ||
	    str_printf(root, sizeof(root), "%s/root", o->work_dir) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", o->work_dir);
	if ((rc = apt_host_mirrors(NULL, NULL, &mirrors, err)) < 0)
		return rc;
	say(o, "reading the archive's signed Release files");
	if ((rc = apt_suite_open(apt_dir, o->suite, arch, &mirrors, NULL, &suite, err)) < 0)
		return rc;
	rc = apt_suite_release_epoch(&suite, &res->epoch, err);
	if (rc == 0 && apt_suite_source_lines(&suite, &mirrors, lines, &n_lines) < 0)
		rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	apt_suite_free(&suite);
	if (rc == 0) {
		say(o, "installing the suite with mmdebstrap");
		rc = run_mmdebstrap(o, arch, root, lines, n_lines, res->epoch, err);
	}
	free(lines[0]);
	free(lines[1]);
	if (rc < 0)
		return rc;
	say(o, "normalising the tree");
	if ((rc = rootfs_normalise(root, err)) < 0)
		return rc;
	if ((rc = write_meta(o, root, arch, res, err)) < 0)
		return rc;
	if (res->epoch > UINT32_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "archive date past 2106");
	if (o->out)
		rc = str_copy(res->path, sizeof(res->path), o->out);
	else
		rc = str_printf(res->path, sizeof(res->path), "%s_%s_%s.ferry", o->name,
		                res->version, arch);
	if (rc < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "output: path too long");
	say(o, "writing the image");
	struct image_write_opts wo = {.compression = o->compression, .mtime = (uint32_t)res->epoch};
	return image_write(root, res->path, &wo, err);
}
