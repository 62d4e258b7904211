/* cgroup.c: one cgroup per app process, with the limits it was given.
 *
 * Where:   <hierarchy>/<cgroup-parent>/<PKG>.<APP>.<monitor pid>
 * v2:      when /sys/fs/cgroup is a cgroup2 file system (the unified
 *          hierarchy): memory.max (+ memory.swap.max 0), pids.max, cpu.max;
 *          the controllers are enabled in cgroup.subtree_control of every
 *          level from the root down to the parent.
 * v1:      otherwise, per controller under /sys/fs/cgroup/{memory,pids,cpu}:
 *          memory.limit_in_bytes (+ memory.memsw.limit_in_bytes), pids.max,
 *          cpu.cfs_period_us/cpu.cfs_quota_us. A hybrid host (cgroup2 at
 *          /sys/fs/cgroup/unified next to v1 controllers) uses v1, where the
 *          controllers are.
 * No limit given: no cgroup (the PID namespace already holds every process
 * of the app together). Not root: no cgroup, with a warning if limits were
 * asked for.
 *
 * The sandbox's init joins it before entering a cgroup namespace, so the app
 * sees its own cgroup as "/" and cannot name the others. This file does not
 * read the limits from anywhere but the policy. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "confine.h"

#define CG_ROOT "/sys/fs/cgroup"

static bool is_fs(const char *path, long magic)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

static int cg_write(const char *dir, const char *file, const char *value, ferry_error *err)
{
	char path[700];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "cgroup %s", path);
	return 0;
}

static bool cg_has(const char *dir, const char *file)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

/* mkdir; a leftover of an earlier monitor with the same pid is removed first */
static int cg_mkdir(const char *path, bool fresh, ferry_error *err)
{
	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno == EEXIST && !fresh)
		return 0;
	if (errno == EEXIST && rmdir(path) == 0 && mkdir(path, 0755) == 0)
		return 0;
	return ferry_error_errno(err, FERRY_E_IO, errno, "cgroup %s", path);
}

static int mkdir_parents(const char *root, const char *parent, ferry_error *err, bool v2)
{
	char path[600], ctl[256] = "";
	int r;

	if (v2) {
		_cleanup_free_ char *avail = NULL;
		if (fs_read_file(CG_ROOT "/cgroup.controllers", 4096, &avail, NULL, NULL) == 0) {
			const char *want[] = {"memory", "pids", "cpu", NULL};
			for (size_t i = 0; want[i]; i++) {
				char *s = avail;
				size_t l = strlen(want[i]);
				bool found = false;
				while ((s = strstr(s, want[i]))) {
					found |= (s == avail || s[-1] == ' ') &&
					         (s[l] == ' ' || s[l] == '\n' || !s[l]);
					s += l;
				}
				if (found)
					snprintf(ctl + strlen(ctl), sizeof(ctl) - strlen(ctl),
					         "%s+%s", ctl[0] ? " " : "", want[i]);
			}
		}
	}
	snprintf(path, sizeof(path), "%s", root);
	for (const char *s = parent;;) {
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		/* controllers for the children of this level */
		if (v2 && ctl[0] && (r = cg_write(path, "cgroup.subtree_control", ctl, err)) < 0)
			return ferry_error_prefix(
			    err, r,
			    "enabling %s (a cgroup with processes cannot delegate "
			    "controllers; choose another --cgroup-parent)",
			    ctl);
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%.*s", (int)l, s);
		if ((r = cg_mkdir(path, false, err)) < 0)
			return r;
		if (!e)
			break;
		s = e + 1;
	}
	if (v2 && ctl[0] && (r = cg_write(path, "cgroup.subtree_control", ctl, err)) < 0)
		return ferry_error_prefix(err, r, "enabling %s", ctl);
	return 0;
}

int cgroup_create(const struct confine_policy *p, pid_t monitor, struct cgroup_handle *cg,
                  ferry_error *err)
{
	char leaf[160], v[64];
	int r;

	memset(cg, 0, sizeof(*cg));
	if (!p->memory_max && !p->pids_max && !p->cpu_quota_us)
		return 0;
	if (p->unprivileged) {
		log_warn("%s: not running as root: --memory, --pids and --cpu are not applied",
		         p->label);
		return 0;
	}
	snprintf(leaf, sizeof(leaf), "%s.%d", p->label, (int)monitor);

	if (is_fs(CG_ROOT, CGROUP2_SUPER_MAGIC)) {
		char *path = cg->paths[0];
		cg->version = 2;
		if ((r = mkdir_parents(CG_ROOT, p->cgroup_parent, err, true)) < 0)
			return r;
		snprintf(path, sizeof(cg->paths[0]), CG_ROOT "/%s/%s", p->cgroup_parent, leaf);
		if ((r = cg_mkdir(path, true, err)) < 0)
			return r;
		cg->n = 1;
		if (p->memory_max) {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)p->memory_max);
			if ((r = cg_write(path, "memory.max", v, err)) < 0)
				return r;
			if (cg_has(path, "memory.swap.max") &&
			    (r = cg_write(path, "memory.swap.max", "0", err)) < 0)
				return r;
		}
		if (p->pids_max) {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)p->pids_max);
			if ((r = cg_write(path, "pids.max", v, err)) < 0)
				return r;
		}
		if (p->cpu_quota_us) {
			snprintf(v, sizeof(v), "%llu 100000", (unsigned long long)p->cpu_quota_us);
			if ((r = cg_write(path, "cpu.max", v, err)) < 0)
				return r;
		}
		return 0;
	}

	cg->version = 1;
	static const char *const ctls[] = {"memory", "pids", "cpu"};
	for (size_t i = 0; i < ARRAY_SIZE(ctls); i++) {
		char root[64], *path = cg->paths[cg->n];
		bool wanted = (i == 0 && p->memory_max) || (i == 1 && p->pids_max) ||
		              (i == 2 && p->cpu_quota_us);
		if (!wanted)
			continue;
		snprintf(root, sizeof(root), CG_ROOT "/%s", ctls[i]);
		if (!is_fs(root, CGROUP_SUPER_MAGIC))
			return ferry_error_set(
			    err, FERRY_E_UNSUPPORTED,
			    "cgroup: no %s controller here (neither cgroup v2 at " CG_ROOT
			    " nor v1 at %s); the limit cannot be applied",
			    ctls[i], root);
		if ((r = mkdir_parents(root, p->cgroup_parent, err, false)) < 0)
			return r;
		snprintf(path, sizeof(cg->paths[0]), "%s/%s/%s", root, p->cgroup_parent, leaf);
		if ((r = cg_mkdir(path, true, err)) < 0)
			return r;
		cg->n++;
		if (i == 0) {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)p->memory_max);
			if ((r = cg_write(path, "memory.limit_in_bytes", v, err)) < 0)
				return r;
			if (cg_has(path, "memory.memsw.limit_in_bytes") &&
			    (r = cg_write(path, "memory.memsw.limit_in_bytes", v, err)) < 0)
				return r;
		} else if (i == 1) {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)p->pids_max);
			if ((r = cg_write(path, "pids.max", v, err)) < 0)
				return r;
		} else {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)p->cpu_quota_us);
			if ((r = cg_write(path, "cpu.cfs_period_us", "100000", err)) < 0 ||
			    (r = cg_write(path, "cpu.cfs_quota_us", v, err)) < 0)
				return r;
		}
	}
	return 0;
}

int cgroup_join(const struct cgroup_handle *cg, ferry_error *err)
{
	for (size_t i = 0; i < cg->n; i++) {
		int r = cg_write(cg->paths[i], "cgroup.procs", "0", err);
		if (r < 0)
			return r;
	}
	return 0;
}

bool cgroup_oom_killed(const struct cgroup_handle *cg)
{
	for (size_t i = 0; i < cg->n; i++) {
		char path[700];
		_cleanup_free_ char *s = NULL;
		const char *file = cg->version == 2 ? "memory.events" : "memory.oom_control";
		snprintf(path, sizeof(path), "%s/%s", cg->paths[i], file);
		if (fs_read_file(path, 8192, &s, NULL, NULL) < 0)
			continue;
		const char *k = strstr(s, "oom_kill ");
		if (k && k[9] != '0')
			return true;
	}
	return false;
}

void cgroup_remove(const struct cgroup_handle *cg)
{
	for (size_t i = 0; i < cg->n; i++) {
		/* the last task's exit may still be in flight: retry briefly */
		for (int tries = 0; rmdir(cg->paths[i]) < 0 && errno == EBUSY && tries < 500;
		     tries++) {
			struct timespec ts = {0, 2000000};
			nanosleep(&ts, NULL);
		}
		if (access(cg->paths[i], F_OK) == 0)
			log_warn("cgroup %s: could not remove it: %m", cg->paths[i]);
	}
}
