/* sandbox.c: how ferryd starts a program of a package: through
 * ferry-confine (docs/formats/confine.md), with the policy this file resolves
 * from the manifest and state.db:
 *
 *   - the package's own uid and gid: allocated from the app-ids range when
 *     ferryd is root (table pkg_ids), ferryd's own ids otherwise; its data
 *     directories (data/NAME/REV, data/NAME/common) are made to belong to it;
 *   - the connected plugs of the app or hook: a plug is connected when the
 *     user connected it (table connections, keyed by package and plug, so a
 *     decision survives refreshes and reverts), or, without a decision, when
 *     its interface is network or network-bind (auto-connected);
 *   - the manifest's limits, devmode, and environment (with $FERRY_* expanded
 *     to the sandbox's paths);
 *   - for notify and forking services the agent's notify socket, for hooks
 *     the package's configuration file;
 *   - for an app on a base (`base: NAME`), the base's current revision as
 *     the sandbox's root (--base, bases.c);
 *   - for every program it starts (not for `ferry run` by another user,
 *     which only reads), the package's own socket to ferryd (ctl.c) and
 *     ferry-ctl, found beside ferry-confine.
 *
 * With `confinement = off` (development only, logged loudly at start) the
 * program runs directly with the agent's environment of old. This file
 * decides nothing about when a program runs (services.c, health.c do). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "base/strv.h"
#include "bases.h"
#include "confine.h"
#include "ctl.h"
#include "sandbox.h"
#include "services.h"

/* ferry-ctl: installed beside ferry-confine (in a build tree, src/ctl
 * beside src/confine). Without it apps still get their socket. */
static void find_ctl_tool(struct agent *ag)
{
	char dir[PATH_MAX], cand[PATH_MAX];
	IGNORE_RC(str_copy(dir, sizeof(dir), ag->confine_path));
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	for (int i = 0; i < 2; i++) {
		char *real = NULL;
		if (str_printf(cand, sizeof(cand), "%s/%sferry-ctl", dir, i ? "../ctl/" : "") ==
		        0 &&
		    access(cand, X_OK) == 0)
			real = realpath(cand, NULL);
		int rc = real ? str_copy(ag->ctl_tool, sizeof(ag->ctl_tool), real) : -1;
		free(real);
		if (rc == 0)
			return;
	}
	ag->ctl_tool[0] = '\0';
	log_warn("ferry-ctl not found beside %s: apps cannot run it", ag->confine_path);
}

int sandbox_find_helper(struct agent *ag, const char *configured, ferry_error *err)
{
	char self[PATH_MAX], cand[2][PATH_MAX];
	size_t n = 0;
	if (configured) {
		if (configured[0] != '/')
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "ferry-confine: expected an absolute path; got \"%s\"", configured);
		IGNORE_RC(str_copy(cand[n++], PATH_MAX, configured));
	} else {
		ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (l <= 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "/proc/self/exe");
		self[l] = '\0';
		char *slash = strrchr(self, '/');
		*slash = '\0';
		/* next to ferryd; in a build tree, src/confine beside src/agent */
		if (str_printf(cand[n], PATH_MAX, "%s/ferry-confine", self) == 0)
			n++;
		if (str_printf(cand[n], PATH_MAX, "%s/../confine/ferry-confine", self) == 0)
			n++;
	}
	for (size_t i = 0; i < n; i++)
		if (access(cand[i], X_OK) == 0) {
			char *real = realpath(cand[i], NULL);
			int rc =
			    real ? str_copy(ag->confine_path, sizeof(ag->confine_path), real) : -1;
			free(real);
			if (rc == 0) {
				find_ctl_tool(ag);
				return 0;
			}
		}
	return ferry_error_set(
	    err, FERRY_E_NOTFOUND,
	    "ferry-confine not found (%s%s%s); every app runs through it: install it "
	    "next to ferryd or name it with ferry-confine = PATH in the configuration",
	    n > 0 ? cand[0] : "", n > 1 ? ", " : "", n > 1 ? cand[1] : "");
}

/* --- the package's uid and gid ------------------------------------------- */

int pkg_ids_find(struct agent *ag, sqlite3 *db, const char *name, uid_t *uid, gid_t *gid,
                 ferry_error *err)
{
	if (!ag->privileged) {
		*uid = getuid();
		*gid = getgid();
		return 0;
	}
	json_t *row = NULL;
	int rc = state_query_row(db, &row, err, "SELECT uid FROM pkg_ids WHERE name=?", "t", name);
	if (rc < 0)
		return rc;
	*uid = (uid_t)json_integer_value(json_object_get(row, "uid"));
	*gid = (gid_t)*uid;
	json_decref(row);
	return 0;
}

int pkg_ids(struct agent *ag, sqlite3 *db, const char *name, uid_t *uid, gid_t *gid,
            ferry_error *err)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int rc = pkg_ids_find(ag, db, name, uid, gid, NULL);
		if (rc == 0)
			return 0;
		json_t *rows = NULL;
		rc = state_query(db, &rows, err, "SELECT uid FROM pkg_ids ORDER BY uid", NULL);
		if (rc < 0)
			return rc;
		/* the lowest free id: not taken by a package, nor a user or group of
		 * the system */
		uint64_t pick = 0;
		size_t k = 0;
		for (uint64_t u = ag->app_id_min; u <= ag->app_id_max && !pick; u++) {
			while (k < json_array_size(rows) &&
			       (uint64_t)json_integer_value(
			           json_object_get(json_array_get(rows, k), "uid")) < u)
				k++;
			if (k < json_array_size(rows) &&
			    (uint64_t)json_integer_value(
			        json_object_get(json_array_get(rows, k), "uid")) == u)
				continue;
			if (getpwuid((uid_t)u) || getgrgid((gid_t)u))
				continue;
			pick = u;
		}
		json_decref(rows);
		if (!pick)
			return ferry_error_set(err, FERRY_E_LIMIT,
			                       "no free id left in app-ids %llu-%llu for %s",
			                       (unsigned long long)ag->app_id_min,
			                       (unsigned long long)ag->app_id_max, name);
		rc = state_exec(db, NULL, "INSERT INTO pkg_ids(name, uid) VALUES(?, ?)", "ti", name,
		                (int64_t)pick);
		if (rc == 0)
			log_info("%s: uid and gid %llu", name, (unsigned long long)pick);
		/* on a conflict (another thread took it) look again */
	}
	return ferry_error_set(err, FERRY_E_DB, "state.db: cannot record the uid of %s", name);
}

struct owner {
	uid_t uid;
	gid_t gid;
};

/* Clear the set-user-id and set-group-id bits of a regular file the package
 * has, opened without following a link and checked to be the file that was
 * found: the package may swap entries meanwhile. */
static int clear_setid(int dfd, const char *name, const struct stat *st, const char *path,
                       ferry_error *err)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP
		           ? 0
		           : ferry_error_errno(err, FERRY_E_IO, errno, "open %s", path);
	struct stat now;
	int rc = 0;
	if (fstat(fd, &now) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", path);
	else if (S_ISREG(now.st_mode) && now.st_dev == st->st_dev && now.st_ino == st->st_ino &&
	         (now.st_mode & (S_ISUID | S_ISGID)) &&
	         fchmod(fd, now.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID)) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "chmod %s", path);
	close(fd);
	return rc;
}

/* One entry of a tree handed to the package. Everything goes through
 * descriptors opened with O_NOFOLLOW relative to their parent (fs_walk), so
 * that the package's own processes, which may write in common/ meanwhile,
 * cannot turn an entry into a symlink that leads root's chown out of the
 * tree. */
static int chown_entry(void *ctx, enum fs_walk_event ev, struct fs_walk_entry *e, ferry_error *err)
{
	const struct owner *o = ctx;
	if (ev == FS_WALK_LEAVE)
		return 0;
	if (ev == FS_WALK_ENTER) {
		if (fchown(e->fd, o->uid, o->gid) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "chown %s", e->path);
		return 0;
	}
	if (fchownat(e->parent, e->name, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT
		           ? 0
		           : ferry_error_errno(err, FERRY_E_IO, errno, "chown %s", e->path);
	/* chown clears them on Linux; said here, not left to the kernel */
	if (S_ISREG(e->st->st_mode) && (e->st->st_mode & (S_ISUID | S_ISGID)))
		return clear_setid(e->parent, e->name, e->st, e->path, err);
	return 0;
}

/* Give the tree at path to uid:gid, set-id bits cleared, at any depth. */
static int chown_tree(const char *path, uid_t uid, gid_t gid, ferry_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", path);
	struct owner o = {uid, gid};
	int rc = fchown(fd, uid, gid) < 0
	             ? ferry_error_errno(err, FERRY_E_IO, errno, "chown %s", path)
	             : fs_walk(fd, -1, path, 0, false, chown_entry, &o, err);
	close(fd);
	return rc;
}

/* data/NAME is reachable by root and the package alone (root's, group the
 * package's, 0710): no other local user gets at the package's files, and
 * the package cannot rename what ferryd keeps there (current, revisions). */
static int close_top(const struct agent *ag, const char *top, gid_t gid, ferry_error *err)
{
	_cleanup_close_ int fd = open(top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", top);
	if (!ag->privileged) {
		if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "chmod %s", top);
		return 0;
	}
	if ((st.st_uid != 0 || st.st_gid != gid) && fchown(fd, 0, gid) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "chown %s", top);
	if ((st.st_mode & 07777) != 0710 && fchmod(fd, 0710) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "chmod %s", top);
	return 0;
}

/* data/NAME/REV and data/NAME/common exist and belong to the package. */
static int prepare_dirs(struct agent *ag, const char *name, const char *rev, uid_t uid, gid_t gid,
                        ferry_error *err)
{
	char top[PATH_MAX], dirs[2][PATH_MAX];
	if (agent_path(ag, top, "data/%s", name) < 0 ||
	    agent_path(ag, dirs[0], "data/%s/%s", name, rev) < 0 ||
	    agent_path(ag, dirs[1], "data/%s/common", name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
	int rc = fs_mkdir_p(top, 0700, err);
	if (rc == 0)
		rc = close_top(ag, top, gid, err);
	for (int i = 0; i < 2 && rc == 0; i++) {
		struct stat st;
		if (mkdir(dirs[i], 0750) < 0 && errno != EEXIST)
			return ferry_error_errno(err, FERRY_E_IO, errno, "mkdir %s", dirs[i]);
		if (lstat(dirs[i], &st) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "%s", dirs[i]);
		if (!S_ISDIR(st.st_mode))
			return ferry_error_set(err, FERRY_E_INVALID, "%s: not a directory",
			                       dirs[i]);
		if (st.st_uid != uid || st.st_gid != gid) {
			if (!ag->privileged)
				continue; /* ferry-confine says what is wrong */
			rc = chown_tree(dirs[i], uid, gid, err);
		}
	}
	return rc;
}

/* --- plugs and connections ---------------------------------------------------- */

static bool listed(char **v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

const char *plug_interface(const struct manifest *m, const char *plug)
{
	for (size_t i = 0; i < m->n_plugs; i++)
		if (strcmp(m->plugs[i].name, plug) == 0)
			return m->plugs[i].interface;
	return plug;
}

bool plug_auto_connects(const char *iface)
{
	return strcmp(iface, "network") == 0 || strcmp(iface, "network-bind") == 0;
}

/* Is a top-level plug named by some app or hook? If not, every app and hook
 * has it. */
static bool plug_bound(const struct manifest *m, const char *plug)
{
	for (size_t i = 0; i < m->n_apps; i++)
		if (listed(m->apps[i].plugs, plug))
			return true;
	for (int h = 0; h < HOOK__COUNT; h++)
		if (listed(m->hooks[h].plugs, plug))
			return true;
	return false;
}

int plug_declared(const struct manifest *m, char ***out, ferry_error *err)
{
	size_t cap = m->n_plugs + 1, n = 0;
	for (size_t i = 0; i < m->n_apps; i++)
		cap += m->apps[i].n_plugs;
	for (int h = 0; h < HOOK__COUNT; h++)
		cap += m->hooks[h].n_plugs;
	char **v = calloc(cap, sizeof(char *));
	if (!v)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < m->n_plugs; i++)
		v[n++] = m->plugs[i].name;
	for (size_t i = 0; i < m->n_apps; i++)
		for (size_t k = 0; k < m->apps[i].n_plugs; k++)
			if (!listed(v, m->apps[i].plugs[k]))
				v[n++] = m->apps[i].plugs[k];
	for (int h = 0; h < HOOK__COUNT; h++)
		for (size_t k = 0; k < m->hooks[h].n_plugs; k++)
			if (!listed(v, m->hooks[h].plugs[k]))
				v[n++] = m->hooks[h].plugs[k];
	*out = v; /* the strings are the manifest's */
	return 0;
}

int conn_state(sqlite3 *db, const char *name, const char *plug, const char *iface, bool *connected,
               const char **how)
{
	json_t *row = NULL;
	int rc = state_query_row(db, &row, NULL,
	                         "SELECT connected FROM connections WHERE name=? AND plug=? AND "
	                         "interface=?",
	                         "ttt", name, plug, iface);
	/* A decision holds for the interface it was made for: a revision that
	 * points the plug at another interface gets no grant from it. */
	if (rc == 0) {
		*connected = json_integer_value(json_object_get(row, "connected")) != 0;
		*how = "manual";
		json_decref(row);
		return 0;
	}
	if (rc != FERRY_E_NOTFOUND)
		return rc;
	*connected = plug_auto_connects(iface) && iface_find(iface);
	*how = *connected ? "auto" : "-";
	return 0;
}

/* The interfaces of the connected plugs of app a (NULL: of hook h). */
static int connected_ifaces(sqlite3 *db, const char *name, const struct manifest *m,
                            const struct manifest_app *a, int h, const char **out, size_t *n,
                            ferry_error *err)
{
	_cleanup_free_ char **plugs = NULL;
	int rc = plug_declared(m, &plugs, err);
	if (rc < 0)
		return rc;
	*n = 0;
	for (char **p = plugs; *p; p++) {
		bool mine = a ? listed(a->plugs, *p) : listed(m->hooks[h].plugs, *p);
		if (!mine && !plug_bound(m, *p))
			mine = true; /* a top-level plug no app names: everyone's */
		if (!mine)
			continue;
		const char *iface = plug_interface(m, *p);
		bool on = false;
		const char *how;
		rc = conn_state(db, name, *p, iface, &on, &how);
		if (rc < 0)
			return ferry_error_set(err, rc, "state.db: connections of %s", name);
		if (!on)
			continue;
		if (!iface_find(iface)) {
			log_warn("%s:%s: interface %s is not supported; not granted", name, *p,
			         iface);
			continue;
		}
		bool dup = false;
		for (size_t k = 0; k < *n; k++)
			dup |= strcmp(out[k], iface) == 0;
		if (!dup && *n < CONFINE_MAX_PLUGS)
			out[(*n)++] = iface;
	}
	return 0;
}

/* --- the command line --------------------------------------------------------- */

static int add2(struct strv *s, const char *opt, const char *value)
{
	int rc = strv_add(s, strdup(opt));
	return rc < 0 ? rc : strv_add(s, strdup(value));
}

void launch_free(struct launch *l)
{
	strv_free(l->argv);
	strv_free(l->envp);
	free(l->cwd);
	memset(l, 0, sizeof(*l));
}

/* Unconfined (development switch): the program directly, with the agent's
 * environment of old. */
static int launch_direct(struct agent *ag, const char *name, const char *rev,
                         const struct manifest *m, const struct manifest_app *a, int h,
                         bool prepare, struct launch *l, ferry_error *err)
{
	char hook[PATH_MAX], cwd[PATH_MAX];
	if ((!a && agent_path(ag, hook, "mnt/%s/%s/meta/hooks/%s", name, rev,
	                      manifest_hook_name(h)) < 0) ||
	    agent_path(ag, cwd, "data/%s/%s", name, rev) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
	int rc =
	    svc_env(ag, name, rev, m, a ? a->env : NULL, a ? a->n_env : 0, false, &l->envp, err);
	if (rc < 0)
		return rc;
	struct strv e = {l->envp, 0, 0};
	while (e.v[e.n])
		e.n++;
	e.cap = e.n + 1;
	char confpath[PATH_MAX];
	if (a && (a->daemon == DAEMON_NOTIFY))
		rc = strv_add(&e, str_dup_printf("NOTIFY_SOCKET=%s", ag->notify_path));
	if (!a && rc == 0)
		rc = strv_add(&e, str_dup_printf("FERRY_HOOK=%s", manifest_hook_name(h)));
	if (!a && rc == 0 && agent_path(ag, confpath, "run/config/%s.json", name) == 0 &&
	    fs_exists(confpath))
		rc = strv_add(&e, str_dup_printf("FERRY_CONFIG=%s", confpath));
	char ctl[PATH_MAX];
	ferry_error cerr;
	if (rc == 0 && prepare && ctl_socket(ag, name, getuid(), getgid(), ctl, &cerr) == 0)
		rc = strv_add(&e, str_dup_printf("FERRY_CTL_SOCKET=%s", ctl));
	l->envp = e.v;
	struct strv v = {0};
	if (rc == 0 && a)
		rc = svc_command(ag, name, rev, a, false, &v, err);
	else if (rc == 0)
		rc = strv_add(&v, strdup(hook));
	l->argv = v.v;
	l->cwd = strdup(cwd);
	if (rc < 0 || !l->cwd) {
		launch_free(l);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	return 0;
}

enum {
	/* allocate the package's ids and make its data directories (what
	 * starting it needs); without it change nothing, and leave out the ids
	 * of a package that has none yet */
	LAUNCH_PREPARE = 1,
	/* ferry-confine writes its own lines to SANDBOX_LOG_FD (--log-fd) */
	LAUNCH_LOG_FD = 2,
};

static int launch_build(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                        const struct manifest *m, const struct manifest_app *a, int h, int flags,
                        struct launch *l, ferry_error *err)
{
	memset(l, 0, sizeof(*l));
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	bool have_ids = true;
	int rc;
	if (flags & LAUNCH_PREPARE) {
		rc = pkg_ids(ag, db, name, &uid, &gid, err);
		if (rc == 0)
			rc = prepare_dirs(ag, name, rev, uid, gid, err);
	} else {
		rc = pkg_ids_find(ag, db, name, &uid, &gid, err);
		if (rc == FERRY_E_NOTFOUND) {
			have_ids = false;
			rc = 0;
		}
	}
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s", name);
	l->uid = uid;
	if (!ag->confine)
		return launch_direct(ag, name, rev, m, a, h, (flags & LAUNCH_PREPARE) != 0, l, err);

	const char *ifaces[CONFINE_MAX_PLUGS];
	size_t n_ifaces = 0;
	rc = connected_ifaces(db, name, m, a, h, ifaces, &n_ifaces, err);
	if (rc < 0)
		return rc;
	char app[64], pkg[PATH_MAX], data[PATH_MAX], common[PATH_MAX],
	    rundir[sizeof(ag->socket_path)], confpath[PATH_MAX];
	if (a)
		snprintf(app, sizeof(app), "%s", a->name);
	else
		snprintf(app, sizeof(app), "hook.%s", manifest_hook_name(h));
	if (agent_path(ag, pkg, "mnt/%s/%s", name, rev) < 0 ||
	    agent_path(ag, data, "data/%s/%s", name, rev) < 0 ||
	    agent_path(ag, common, "data/%s/common", name) < 0 ||
	    agent_path(ag, confpath, "run/config/%s.json", name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
	memcpy(rundir, ag->socket_path, sizeof(rundir));
	char *slash = strrchr(rundir, '/');
	if (slash && slash != rundir)
		*slash = '\0';

	struct strv v = {0};
	rc = strv_add(&v, strdup(ag->confine_path));
	if (rc == 0)
		rc = add2(&v, "--name", name);
	if (rc == 0)
		rc = add2(&v, "--app", app);
	if (rc == 0)
		rc = add2(&v, "--revision", rev);
	if (rc == 0)
		rc = add2(&v, "--pkg-dir", pkg);
	if (rc == 0)
		rc = add2(&v, "--data", data);
	if (rc == 0 && m->base && m->type != MANIFEST_TYPE_BASE) {
		/* the base revision current now: a base refresh restarts the
		 * apps on it, which then get the new one */
		char base[PATH_MAX];
		rc = base_dir(ag, db, name, m, base, err);
		if (rc < 0) {
			strv_free(v.v);
			return rc;
		}
		rc = add2(&v, "--base", base);
	}
	if (rc == 0)
		rc = add2(&v, "--common", common);
	if (rc == 0 && ag->privileged && have_ids) {
		char id[24];
		snprintf(id, sizeof(id), "%u", (unsigned)uid);
		rc = add2(&v, "--uid", id);
		snprintf(id, sizeof(id), "%u", (unsigned)gid);
		if (rc == 0)
			rc = add2(&v, "--gid", id);
	}
	for (size_t i = 0; i < n_ifaces && rc == 0; i++)
		rc = add2(&v, "--plug", ifaces[i]);
	struct manifest_limits lim = manifest_limits_of(m, a);
	if (rc == 0 && lim.memory)
		rc = strv_add(&v, str_dup_printf("--memory=%llu", (unsigned long long)lim.memory));
	if (rc == 0 && lim.cpu_percent)
		rc = strv_add(&v,
		              str_dup_printf("--cpu=%llu%%", (unsigned long long)lim.cpu_percent));
	if (rc == 0 && lim.pids)
		rc = strv_add(&v, str_dup_printf("--pids=%llu", (unsigned long long)lim.pids));
	if (rc == 0 && m->confinement == CONFINEMENT_DEVMODE)
		rc = strv_add(&v, strdup("--devmode"));
	if (rc == 0) { /* hooks get the package's environment, apps their own too */
		char **env = NULL;
		rc =
		    svc_env(ag, name, rev, m, a ? a->env : NULL, a ? a->n_env : 0, true, &env, err);
		if (rc < 0) {
			strv_free(v.v);
			return rc;
		}
		for (char **e = env; *e && rc == 0; e++) {
			if (str_has_prefix(*e, "FERRY_") || str_has_prefix(*e, "FERRY=")) {
				log_warn(
				    "%s.%s: environment %.*s: FERRY variables are set by ferry; "
				    "ignored",
				    name, app, (int)strcspn(*e, "="), *e);
				continue;
			}
			rc = add2(&v, "--env", *e);
		}
		strv_free(env);
	}
	if (rc == 0)
		rc = add2(&v, "--state-dir", ag->root);
	if (rc == 0 && strcmp(rundir, ag->socket_path) != 0)
		rc = add2(&v, "--run-dir", rundir);
	if (rc == 0 && ag->cgroup_parent)
		rc = add2(&v, "--cgroup-parent", ag->cgroup_parent);
	if (rc == 0 && a && (a->daemon == DAEMON_NOTIFY || a->daemon == DAEMON_FORKING))
		rc = add2(&v, "--notify-socket", ag->notify_path);
	if (rc == 0 && a && a->daemon == DAEMON_FORKING)
		rc = strv_add(&v, strdup("--forking"));
	if (rc == 0 && (flags & LAUNCH_PREPARE)) {
		char ctl[PATH_MAX];
		rc = ctl_socket(ag, name, uid, gid, ctl, err);
		if (rc < 0) {
			strv_free(v.v);
			return rc;
		}
		rc = add2(&v, "--ctl-socket", ctl);
		if (rc == 0 && ag->ctl_tool[0])
			rc = add2(&v, "--ctl-tool", ag->ctl_tool);
	}
	if (rc == 0 && !a && fs_exists(confpath)) {
		/* readable by the package's user alone */
		if (ag->privileged && chown(confpath, uid, gid) < 0)
			log_warn("chown %s: %s", confpath, strerror(errno));
		rc = add2(&v, "--config-file", confpath);
	}
	if (rc == 0 && (flags & LAUNCH_LOG_FD) && ag->confine)
		rc = add2(&v, "--log-fd", SANDBOX_LOG_FD_STR);
	if (rc == 0)
		rc = strv_add(&v, strdup("--"));
	if (rc == 0 && a) {
		rc = svc_command(ag, name, rev, a, true, &v, err);
		if (rc < 0) {
			strv_free(v.v);
			return rc;
		}
	} else if (rc == 0) {
		rc = strv_add(&v, str_dup_printf("meta/hooks/%s", manifest_hook_name(h)));
	}
	if (rc < 0) {
		strv_free(v.v);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	l->argv = v.v;
	return 0;
}

int sandbox_launch(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                   const struct manifest *m, const struct manifest_app *a, int h, struct launch *l,
                   ferry_error *err)
{
	return launch_build(ag, db, name, rev, m, a, h, LAUNCH_PREPARE, l, err);
}

int sandbox_describe(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                     const struct manifest *m, const struct manifest_app *a, struct launch *l,
                     ferry_error *err)
{
	return launch_build(ag, db, name, rev, m, a, -1, 0, l, err);
}

int sandbox_launch_supervised(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                              const struct manifest *m, const struct manifest_app *a, int h,
                              struct launch *l, ferry_error *err)
{
	return launch_build(ag, db, name, rev, m, a, h, LAUNCH_PREPARE | LAUNCH_LOG_FD, l, err);
}

/* Lines ferry-confine wrote about a denial, copied into the agent's own log. */
void sandbox_log_denials(const char *label, const char *buf, size_t len)
{
	size_t i = 0;
	while (buf && i < len) {
		char line[1024];
		size_t l = 0;
		while (i < len && buf[i] != '\n') {
			if (l < sizeof(line) - 1)
				line[l++] = buf[i];
			i++;
		}
		i++;
		line[l] = '\0';
		if (str_has_prefix(line, "ferry-confine[") &&
		    (strstr(line, " denied ") || strstr(line, ": error: ")))
			log_warn("%s: %s", label, line);
	}
}
