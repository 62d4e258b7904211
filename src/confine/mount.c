/* mount.c: the sandbox's mount namespace.
 *
 * mount_plan_build() turns the policy into a list of mounts (pure, printed by
 * --dry-run and unit-tested); mount_sandbox() carries it out in the new mount
 * namespace:
 *
 *   1. make every mount a slave, so nothing propagates back to the host;
 *   2. open every host source (O_PATH) while the host's tree is still "/";
 *   3. mount a tmpfs on /tmp (only in this namespace) as the new root and
 *      build the sandbox in it, binding sources through /proc/self/fd/N;
 *   4. make the binds read-only (mount_setattr, recursively; the mountinfo
 *      walk on kernels before 5.12), remount the helper tmpfs read-only;
 *   5. pivot_root into it and detach the host's tree.
 *
 * Layout and the reasons for it: docs/confinement.md. This file does not
 * decide what is granted (interfaces.c does) and applies no Landlock rules. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/str.h"
#include "confine.h"

#define NEWROOT "/tmp"

DEFINE_CLEANUP(DIR *, closedir)

/* Top-level host directories that are never bound wholesale: they are
 * replaced (proc, dev, tmp, run), hidden (root, home, media, mnt) or reserved
 * (ferry); an interface may grant some of them back. */
static const char *const skip_toplevel[] = {
    "proc", "sys", "dev", "tmp", "run", "root", "home", "media", "mnt", "ferry", "lost+found", NULL,
};

static const char *const devfs_nodes[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};

static int plan_add(struct mnt_plan *plan, enum mnt_kind kind, const char *src, const char *dst,
                    bool optional, bool writable, ferry_error *err)
{
	struct mnt_entry *e;

	if (plan->n >= CONFINE_MAX_MOUNTS)
		return ferry_error_set(err, FERRY_E_LIMIT, "more than %d mounts",
		                       CONFINE_MAX_MOUNTS);
	e = &plan->e[plan->n];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->src = src ? strdup(src) : NULL;
	e->dst = strdup(dst);
	if ((src && !e->src) || !e->dst) {
		free(e->src);
		free(e->dst);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	e->optional = optional;
	e->writable = writable;
	plan->n++;
	return 0;
}

static size_t path_depth(const char *p)
{
	size_t d = 0;
	for (; *p; p++)
		d += *p == '/' && p[1];
	return d;
}

/* Is path equal to or beneath dir? */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static bool is_skipped_toplevel(const char *name)
{
	for (size_t i = 0; skip_toplevel[i]; i++)
		if (strcmp(name, skip_toplevel[i]) == 0)
			return true;
	return false;
}

static enum mnt_kind kind_for_access(enum confine_access a)
{
	switch (a) {
	case ACCESS_RO:
		return MNT_BIND_RO;
	case ACCESS_RW:
		return MNT_BIND_RW;
	case ACCESS_DEV:
		return MNT_BIND_DEV;
	case ACCESS_DEV_RO:
		return MNT_BIND_DEV_RO;
	}
	return MNT_BIND_RO;
}

/* A read-only identity bind beneath another read-only identity bind adds
 * nothing: drop it (hardware-observe's /sys covers /sys/devices/system/cpu). */
static bool covered(const struct mnt_plan *plan, size_t i)
{
	const struct mnt_entry *e = &plan->e[i];

	if (e->kind != MNT_BIND_RO || !e->src || strcmp(e->src, e->dst) != 0)
		return false;
	for (size_t j = 0; j < plan->n; j++) {
		const struct mnt_entry *o = &plan->e[j];
		if (j == i || o->kind != MNT_BIND_RO || !o->src || strcmp(o->src, o->dst) != 0)
			continue;
		if (path_under(e->dst, o->dst) && (strcmp(e->dst, o->dst) != 0 || j < i))
			return true;
	}
	return false;
}

int mount_plan_build(const struct confine_policy *p, char *const *toplevel, struct mnt_plan *plan,
                     ferry_error *err)
{
	char dst[1100], src[2400];
	bool have_var = false;
	int r;

	memset(plan, 0, sizeof(*plan));
	/* the host, or the base, read-only */
	for (size_t i = 0; toplevel && toplevel[i]; i++) {
		const char *arrow = strstr(toplevel[i], "->");
		size_t len = arrow ? (size_t)(arrow - toplevel[i]) : strlen(toplevel[i]);
		char name[256];
		if (len == 0 || len >= sizeof(name))
			continue;
		memcpy(name, toplevel[i], len);
		name[len] = 0;
		if (is_skipped_toplevel(name) || strchr(name, '/'))
			continue;
		if (str_printf(dst, sizeof(dst), "/%s", name) < 0)
			continue;
		if (str_printf(src, sizeof(src), "%s%s", p->base_dir ? p->base_dir : "", dst) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dst);
		if (arrow)
			r = plan_add(plan, MNT_SYMLINK, arrow + 2, dst, false, false, err);
		else
			r = plan_add(plan, MNT_BIND_RO, src, dst, false, false, err);
		if (r < 0)
			return r;
		have_var |= !arrow && strcmp(name, "var") == 0;
	}
	/* the package and its data */
	const struct {
		const char *src, *name;
		enum mnt_kind kind;
		bool owned;
	} pkg[] = {
	    {p->pkg_dir, "current", MNT_BIND_RO, false},
	    {p->data_dir, "data", MNT_BIND_RW, true},
	    {p->common_dir, "common", MNT_BIND_RW, true},
	};
	for (size_t i = 0; i < ARRAY_SIZE(pkg); i++) {
		if (str_printf(dst, sizeof(dst), "%s/%s", p->sandbox_pkg, pkg[i].name) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", pkg[i].src);
		if ((r = plan_add(plan, pkg[i].kind, pkg[i].src, dst, false, false, err)) < 0)
			return r;
		plan->e[plan->n - 1].owned = pkg[i].owned;
	}
	/* private and minimal */
	if ((r = plan_add(plan, MNT_TMPFS, NULL, "/tmp", false, true, err)) < 0 ||
	    (have_var && (r = plan_add(plan, MNT_SAME, "/tmp", "/var/tmp", true, true, err)) < 0) ||
	    (r = plan_add(plan, MNT_TMPFS, NULL, "/run", false, false, err)) < 0 ||
	    (r = plan_add(plan, MNT_DEVFS, NULL, "/dev", false, false, err)) < 0 ||
	    (r = plan_add(plan, MNT_TMPFS, NULL, "/dev/shm", false, true, err)) < 0 ||
	    (r = plan_add(plan, MNT_PROC, NULL, "/proc", false, false, err)) < 0 ||
	    (r = plan_add(plan, MNT_BIND_RO, "/sys/devices/system/cpu", "/sys/devices/system/cpu",
	                  true, false, err)) < 0)
		return r;
	/* on a base, the only files of the host a running program needs */
	static const char *const host_etc[] = {"/etc/resolv.conf", "/etc/hosts", "/etc/localtime",
	                                       "/etc/hostname", NULL};
	for (size_t i = 0; p->base_dir && host_etc[i]; i++)
		if ((r = plan_add(plan, MNT_BIND_RO, host_etc[i], host_etc[i], true, false, err)) <
		    0)
			return r;
	/* what the agent hands over: its notify socket, the configuration, the
	 * package's socket to the agent and ferry-ctl */
	if ((p->notify_socket && (r = plan_add(plan, MNT_BIND_RO, p->notify_socket,
	                                       CONFINE_SANDBOX_NOTIFY, false, false, err)) < 0) ||
	    (p->config_file && (r = plan_add(plan, MNT_BIND_RO, p->config_file,
	                                     CONFINE_SANDBOX_CONFIG, false, false, err)) < 0) ||
	    (p->ctl_socket && (r = plan_add(plan, MNT_BIND_RO, p->ctl_socket, CONFINE_SANDBOX_CTL,
	                                    false, false, err)) < 0) ||
	    (p->ctl_tool &&
	     (r = plan_add(plan, MNT_BIND_RO, p->ctl_tool, CONFINE_SANDBOX_BIN "/ferry-ctl", false,
	                   false, err)) < 0))
		return r;
	/* what the plugs grant */
	for (size_t i = 0; i < p->n_plugs; i++) {
		const struct iface *f = p->plugs[i];
		for (size_t j = 0; j < IFACE_MAX_PATHS && f->paths[j].host; j++) {
			const struct iface_path *ip = &f->paths[j];
			r = plan_add(plan, kind_for_access(ip->access), ip->host,
			             ip->sandbox ? ip->sandbox : ip->host, true, false, err);
			if (r < 0)
				return r;
		}
	}
	/* hidden even though their parent is visible */
	const char *hide[] = {p->state_dir, p->run_dir, "/var/log", NULL};
	for (size_t i = 0; hide[i]; i++) {
		bool granted = false;
		for (size_t j = 0; j < plan->n; j++)
			granted |= plan->e[j].kind != MNT_HIDE && plan->e[j].kind != MNT_SYMLINK &&
			           strcmp(plan->e[j].dst, hide[i]) == 0;
		if (!granted && (r = plan_add(plan, MNT_HIDE, NULL, hide[i], true, false, err)) < 0)
			return r;
	}
	/* drop what is covered, then order parents before children (stable) */
	size_t k = 0;
	for (size_t i = 0; i < plan->n; i++) {
		if (covered(plan, i)) {
			free(plan->e[i].src);
			free(plan->e[i].dst);
			plan->e[i].src = plan->e[i].dst = NULL;
			continue;
		}
		plan->e[k++] = plan->e[i];
	}
	plan->n = k;
	for (size_t i = 1; i < plan->n; i++) {
		struct mnt_entry t = plan->e[i];
		size_t d = path_depth(t.dst), j = i;
		while (j > 0 && path_depth(plan->e[j - 1].dst) > d) {
			plan->e[j] = plan->e[j - 1];
			j--;
		}
		plan->e[j] = t;
	}
	return 0;
}

void mount_plan_free(struct mnt_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		free(plan->e[i].src);
		free(plan->e[i].dst);
	}
	plan->n = 0;
}

static const char *kind_name(enum mnt_kind k)
{
	switch (k) {
	case MNT_BIND_RO:
		return "bind-ro";
	case MNT_BIND_RW:
		return "bind-rw";
	case MNT_BIND_DEV:
		return "bind-dev";
	case MNT_BIND_DEV_RO:
		return "bind-dev-ro";
	case MNT_TMPFS:
		return "tmpfs";
	case MNT_SAME:
		return "bind-same";
	case MNT_HIDE:
		return "hide";
	case MNT_SYMLINK:
		return "symlink";
	case MNT_DEVFS:
		return "devfs";
	case MNT_PROC:
		return "proc";
	}
	return "?";
}

void mount_plan_print(const struct mnt_plan *plan, FILE *out)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct mnt_entry *e = &plan->e[i];
		fprintf(out, "mount %-11s %s", kind_name(e->kind), e->dst);
		if (e->src)
			fprintf(out, " %s %s", e->kind == MNT_SYMLINK ? "->" : "<-", e->src);
		if (e->kind == MNT_TMPFS)
			fputs(e->writable ? " (writable)" : " (read-only)", out);
		if (e->optional && e->kind != MNT_HIDE)
			fputs(" (if present)", out);
		fputc('\n', out);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mount_toplevel_read(const char *root, char ***out, ferry_error *err)
{
	_cleanup_(closedirp) DIR *d = NULL;
	char **list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	d = opendir(root);
	if (!d)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", root);
	while ((de = readdir(d))) {
		struct stat st;
		char link[512], *item;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t l = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
			if (l <= 0)
				continue;
			link[l] = 0;
			item = str_dup_printf("%s->%s", de->d_name, link);
		} else if (S_ISDIR(st.st_mode)) {
			item = strdup(de->d_name);
		} else {
			continue;
		}
		if (!item || (n + 2 > cap && !(list = reallocarray(list, cap = cap ? cap * 2 : 32,
		                                                   sizeof(char *))))) {
			free(item);
			mount_toplevel_free(list);
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		}
		list[n++] = item;
		list[n] = NULL;
		if (n > 512)
			break;
	}
	if (list)
		qsort(list, n, sizeof(char *),
		      cmp_str); /* a stable plan, whatever readdir's order */
	*out = list;
	return 0;
}

void mount_toplevel_free(char **list)
{
	for (size_t i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
}

/* ---- carrying out the plan ---- */

/* Create dst (beneath NEWROOT) and its missing parents, refusing symbolic
 * links on the way so that no mount lands outside the sandbox. */
static int make_target(const char *dst, bool is_dir, ferry_error *err)
{
	char path[1200];
	size_t base = strlen(NEWROOT);

	if (str_printf(path, sizeof(path), NEWROOT "%s", dst) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dst);
	for (char *s = path + base + 1;; s++) {
		bool last = *s == 0;
		if (*s != '/' && !last)
			continue;
		*s = 0;
		struct stat st;
		if (lstat(path, &st) == 0) {
			if (S_ISLNK(st.st_mode))
				return ferry_error_set(err, FERRY_E_UNSAFE,
				                       "mount point %s: is a symbolic link",
				                       path + base);
		} else if (errno != ENOENT) {
			return ferry_error_errno(err, FERRY_E_IO, errno, "mount point %s",
			                         path + base);
		} else if (!last || is_dir) {
			if (mkdir(path, 0755) < 0)
				return ferry_error_errno(err, FERRY_E_IO, errno, "mount point %s",
				                         path + base);
		} else {
			int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
			if (fd < 0)
				return ferry_error_errno(err, FERRY_E_IO, errno, "mount point %s",
				                         path + base);
			close(fd);
		}
		if (last)
			break;
		*s = '/';
	}
	return 0;
}

/* Does dst exist in the sandbox as a directory, reached without symlinks? */
static bool target_is_dir(const char *dst)
{
	char path[1200];
	struct stat st;

	if (str_printf(path, sizeof(path), NEWROOT "%s", dst) < 0)
		return false;
	for (char *s = path + strlen(NEWROOT) + 1;; s++) {
		bool last = *s == 0;
		if (*s != '/' && !last)
			continue;
		*s = 0;
		if (lstat(path, &st) < 0 || S_ISLNK(st.st_mode))
			return false;
		if (last)
			return S_ISDIR(st.st_mode);
		*s = '/';
	}
}

static unsigned long ms_from_statvfs(unsigned long f)
{
	unsigned long ms = 0;
	if (f & ST_NOSUID)
		ms |= MS_NOSUID;
	if (f & ST_NODEV)
		ms |= MS_NODEV;
	if (f & ST_NOEXEC)
		ms |= MS_NOEXEC;
	if (f & ST_RDONLY)
		ms |= MS_RDONLY;
	if (f & ST_NOATIME)
		ms |= MS_NOATIME;
	if (f & ST_NODIRATIME)
		ms |= MS_NODIRATIME;
	if (f & ST_RELATIME)
		ms |= MS_RELATIME;
	return ms;
}

static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

/* Kernels before 5.12 have no mount_setattr: remount the bind and every
 * mount beneath it, keeping each one's own flags. */
static int remount_tree(const char *target, unsigned long add, bool recursive, ferry_error *err)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	if (!f)
		return ferry_error_errno(err, FERRY_E_IO, errno, "/proc/self/mountinfo");
	while (fgets(line, sizeof(line), f)) {
		char *fld[6] = {0}, *save = NULL, *t = strtok_r(line, " ", &save);
		struct statvfs sv;
		for (int i = 0; t && i < 6; i++, t = strtok_r(NULL, " ", &save))
			fld[i] = t;
		if (!fld[4])
			continue;
		unescape_octal(fld[4]);
		if (recursive ? !path_under(fld[4], target) : strcmp(fld[4], target) != 0)
			continue;
		if (statvfs(fld[4], &sv) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "%s", fld[4]);
		if (mount(NULL, fld[4], NULL,
		          MS_REMOUNT | MS_BIND | ms_from_statvfs(sv.f_flag) | add, NULL) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "remount %s", fld[4]);
	}
	return 0;
}

static int set_mount_flags(const char *target, enum mnt_kind kind, ferry_error *err)
{
	struct mount_attr attr = {0};
	unsigned long ms = 0;
	bool rec = kind == MNT_BIND_RO || kind == MNT_BIND_RW;

	switch (kind) {
	case MNT_BIND_RO:
		attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
		ms = MS_RDONLY | MS_NOSUID | MS_NODEV;
		break;
	case MNT_BIND_DEV_RO:
		attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
		ms = MS_RDONLY | MS_NOSUID | MS_NOEXEC;
		break;
	case MNT_BIND_DEV:
		attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
		ms = MS_NOSUID | MS_NOEXEC;
		break;
	default:
		attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
		ms = MS_NOSUID | MS_NODEV;
		break;
	}
	if (!FAULT("mount_setattr")) {
		if (syscall(SYS_mount_setattr, AT_FDCWD, target, rec ? AT_RECURSIVE : 0, &attr,
		            sizeof(attr)) == 0)
			return 0;
		if (errno != ENOSYS)
			return ferry_error_errno(err, FERRY_E_IO, errno, "mount_setattr %s",
			                         target + strlen(NEWROOT));
	}
	return remount_tree(target, ms, rec, err);
}

/* Open every host source while "/" is still the host's, expanding globs.
 * fds[i] is -1 for entries without a host source or skipped. */
static int open_sources(struct mnt_plan *plan, int *fds, uid_t owner, ferry_error *err)
{
	size_t n0 = plan->n;

	for (size_t i = 0; i < CONFINE_MAX_MOUNTS; i++)
		fds[i] = -1;
	for (size_t i = 0; i < n0; i++) {
		struct mnt_entry *e = &plan->e[i];
		bool bind = e->kind == MNT_BIND_RO || e->kind == MNT_BIND_RW ||
		            e->kind == MNT_BIND_DEV || e->kind == MNT_BIND_DEV_RO;
		if (!bind)
			continue;
		if (strpbrk(e->src, "*?[")) {
			glob_t g;
			int gr = glob(e->src, 0, NULL, &g);
			e->skipped = true;
			if (gr == GLOB_NOMATCH)
				continue;
			if (gr != 0)
				return ferry_error_set(err, FERRY_E_IO, "glob %s failed", e->src);
			for (size_t k = 0; k < g.gl_pathc; k++) {
				/* globbed paths are identity binds (interfaces.c) */
				int r = plan_add(plan, e->kind, g.gl_pathv[k], g.gl_pathv[k], true,
				                 false, err);
				if (r < 0) {
					globfree(&g);
					return r;
				}
			}
			globfree(&g);
		}
	}
	for (size_t i = 0; i < plan->n; i++) {
		struct mnt_entry *e = &plan->e[i];
		struct stat st;
		bool bind = e->kind == MNT_BIND_RO || e->kind == MNT_BIND_RW ||
		            e->kind == MNT_BIND_DEV || e->kind == MNT_BIND_DEV_RO;
		if (!bind || e->skipped)
			continue;
		/* device nodes are taken as they are (a symlink in /dev is not
		 * followed); the data directories must be the package's own */
		bool dev = e->kind == MNT_BIND_DEV || e->kind == MNT_BIND_DEV_RO;
		fds[i] = open(e->src, O_PATH | O_CLOEXEC | (dev || e->owned ? O_NOFOLLOW : 0));
		if (fds[i] < 0 || fstat(fds[i], &st) < 0) {
			int saved = errno;
			if (saved == ENOENT && e->optional) {
				log_debug("%s: not on this host; not mounted", e->src);
				e->skipped = true;
				continue;
			}
			return ferry_error_errno(err, FERRY_E_NOTFOUND, saved, "%s", e->src);
		}
		e->is_dir = S_ISDIR(st.st_mode);
		if (dev && !S_ISCHR(st.st_mode) && !S_ISDIR(st.st_mode)) {
			log_warn("%s: not a character device; not mounted", e->src);
			e->skipped = true;
			continue;
		}
		if (e->owned && (!S_ISDIR(st.st_mode) || st.st_uid != owner))
			return ferry_error_set(
			    err, FERRY_E_UNSAFE,
			    "%s: must be a directory owned by the package's uid %u (not a symlink)",
			    e->src, (unsigned)owner);
	}
	return 0;
}

static int mount_devfs(const char *dst, bool unprivileged, ferry_error *err)
{
	char t[1200], src[64];
	int r;

	if ((r = make_target(dst, true, err)) < 0)
		return r;
	snprintf(t, sizeof(t), NEWROOT "%s", dst);
	if (mount("tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755") < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "tmpfs on /dev");
	for (size_t i = 0; devfs_nodes[i]; i++) {
		char d[64];
		snprintf(d, sizeof(d), "%s/%s", dst, devfs_nodes[i]);
		snprintf(src, sizeof(src), "/dev/%s", devfs_nodes[i]);
		snprintf(t, sizeof(t), NEWROOT "%s", d);
		if ((r = make_target(d, false, err)) < 0)
			return r;
		if (mount(src, t, NULL, MS_BIND, NULL) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "bind %s", src);
		if ((r = set_mount_flags(t, MNT_BIND_DEV, err)) < 0)
			return r;
	}
	snprintf(t, sizeof(t), NEWROOT "%s/pts", dst);
	if (mkdir(t, 0755) < 0 ||
	    mount("devpts", t, "devpts", MS_NOSUID | MS_NOEXEC,
	          unprivileged ? "newinstance,ptmxmode=0666,mode=620"
	                       : "newinstance,ptmxmode=0666,mode=620,gid=5") < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "devpts on /dev/pts");
	static const char *const links[][2] = {
	    {"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},
	    {"stdin", "/proc/self/fd/0"},  {"stdout", "/proc/self/fd/1"},
	    {"stderr", "/proc/self/fd/2"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		snprintf(t, sizeof(t), NEWROOT "%s/%s", dst, links[i][0]);
		if (symlink(links[i][1], t) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "/dev/%s", links[i][0]);
	}
	return 0;
}

int mount_sandbox(const struct confine_policy *p, struct mnt_plan *plan, ferry_error *err)
{
	int fds[CONFINE_MAX_MOUNTS];
	char hide_real[3][PATH_MAX];
	char t[1200], s[1200];
	int r = 0;

	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "making / a slave mount");
	if ((r = open_sources(plan, fds, p->uid, err)) < 0)
		goto out;
	/* a hidden path is hidden where it really is (it may be reached through a symlink) */
	for (size_t i = 0, h = 0; i < plan->n && h < ARRAY_SIZE(hide_real); i++) {
		struct mnt_entry *e = &plan->e[i];
		if (e->kind != MNT_HIDE)
			continue;
		if (!realpath(e->dst, hide_real[h])) {
			e->skipped = true;
			continue;
		}
		free(e->dst);
		if (!(e->dst = strdup(hide_real[h++]))) {
			r = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			goto out;
		}
	}

	if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
		r = ferry_error_errno(err, FERRY_E_IO, errno, "tmpfs for the new root");
		goto out;
	}
	for (size_t i = 0; i < plan->n; i++) {
		struct mnt_entry *e = &plan->e[i];
		if (e->skipped)
			continue;
		snprintf(t, sizeof(t), NEWROOT "%s", e->dst);
		switch (e->kind) {
		case MNT_SYMLINK:
			if (symlink(e->src, t) < 0)
				r = ferry_error_errno(err, FERRY_E_IO, errno, "symlink %s", e->dst);
			break;
		case MNT_BIND_RO:
		case MNT_BIND_RW:
		case MNT_BIND_DEV:
		case MNT_BIND_DEV_RO:
			if ((r = make_target(e->dst, e->is_dir, err)) < 0)
				break;
			snprintf(s, sizeof(s), "/proc/self/fd/%d", fds[i]);
			if (mount(s, t, NULL, MS_BIND | (e->is_dir ? MS_REC : 0), NULL) < 0)
				r = ferry_error_errno(err, FERRY_E_IO, errno, "bind %s on %s",
				                      e->src, e->dst);
			else
				r = set_mount_flags(t, e->kind, err);
			break;
		case MNT_TMPFS:
			if ((r = make_target(e->dst, true, err)) < 0)
				break;
			if (mount("tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV,
			          e->writable ? "mode=1777" : "mode=0755") < 0)
				r = ferry_error_errno(err, FERRY_E_IO, errno, "tmpfs on %s",
				                      e->dst);
			break;
		case MNT_SAME:
			snprintf(s, sizeof(s), NEWROOT "%s", e->src);
			if (!target_is_dir(e->dst)) {
				e->skipped = true;
				break;
			}
			if (mount(s, t, NULL, MS_BIND, NULL) < 0)
				r = ferry_error_errno(err, FERRY_E_IO, errno, "bind %s on %s",
				                      e->src, e->dst);
			break;
		case MNT_HIDE:
			if (!target_is_dir(e->dst)) {
				e->skipped = true;
				break;
			}
			if (mount("tmpfs", t, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			          "mode=0555,size=4k,nr_inodes=1") < 0)
				r = ferry_error_errno(err, FERRY_E_IO, errno, "hiding %s", e->dst);
			break;
		case MNT_DEVFS:
			r = mount_devfs(e->dst, p->unprivileged, err);
			break;
		case MNT_PROC:
			if ((r = make_target(e->dst, true, err)) < 0)
				break;
			if (mount("proc", t, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
				r = ferry_error_errno(err, FERRY_E_IO, errno, "proc on %s", e->dst);
			break;
		}
		if (r < 0)
			goto out;
	}
	/* what was writable only while we built it becomes read-only */
	for (size_t i = plan->n; i-- > 0;) {
		struct mnt_entry *e = &plan->e[i];
		unsigned long fl = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV;
		if (e->skipped || !((e->kind == MNT_TMPFS && !e->writable) || e->kind == MNT_DEVFS))
			continue;
		snprintf(t, sizeof(t), NEWROOT "%s", e->dst);
		if (mount(NULL, t, NULL, fl | (e->kind == MNT_DEVFS ? MS_NOEXEC : 0), NULL) < 0) {
			r = ferry_error_errno(err, FERRY_E_IO, errno, "read-only %s", e->dst);
			goto out;
		}
	}
	/* pivot: NEWROOT becomes "/", the host's tree is detached */
	if (chdir(NEWROOT) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
		r = ferry_error_errno(err, FERRY_E_IO, errno, "pivot_root into the sandbox");
		goto out;
	}
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) <
	    0)
		r = ferry_error_errno(err, FERRY_E_IO, errno, "read-only /");
out:
	for (size_t i = 0; i < plan->n && i < CONFINE_MAX_MOUNTS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}
