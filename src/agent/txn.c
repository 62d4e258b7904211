/* txn.c: changes, the agent's transactions. A change is a list of steps
 * stored in state.db when it is created; the worker thread runs changes one
 * at a time, recording each step as Doing before it runs and Done after.
 * When a step fails, the steps done (and the failing one) are undone in
 * reverse order. Every step's do and undo are idempotent, so that after a
 * crash at any point ferryd can finish or undo the change at start-up:
 *   - a change that reached its point of no return (commit, discard) is
 *     finished: the remaining steps run again;
 *   - any other interrupted change is undone from where it stopped.
 * Afterwards each package runs its old revision or its new one, never
 * neither and never a mix of one's code with the other's data.
 *
 * Kinds and their steps:
 *   install-file  prepare-file mount pre-refresh stop-services copy-data
 *                 switch post-refresh start-services health commit
 *   revert        stop-services switch start-services health commit-revert
 *   remove        stop-services remove-hook discard
 *   configure     configure
 *   services      service-control
 * A fault point (lib/base/fault.h) sits at the start of each step (its
 * name), after it (NAME-done) and before each undo (undo-NAME). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "report.h"
#include "store.h"

struct txn {
	sqlite3 *db;
	int64_t id;
	char kind[32];
	json_t *data;   /* owned */
	char note[512]; /* a step's remark, kept as its message */
	char name[STATE_NAME_MAX];
	char from[STATE_REV_MAX]; /* "" when there is none */
	char to[STATE_REV_MAX];
};

/* A step returns 0, a negative ferry_err, or STEP_COMPLETE when the change
 * is complete without its remaining steps (a refresh finds nothing new). */
#define STEP_COMPLETE 1
typedef int (*step_fn)(struct txn *t, ferry_error *err);

struct step_def {
	const char *kind;
	const char *summary;
	step_fn run;
	step_fn undo;   /* NULL: nothing to undo */
	bool no_return; /* once started, finished forward */
};

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static int save_data(struct txn *t, ferry_error *err)
{
	_cleanup_free_ char *text = json_dumps(t->data, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	return state_exec(t->db, err, "UPDATE changes SET data=?, name=? WHERE id=?", "tti", text,
	                  t->name, t->id);
}

static void load_names(struct txn *t)
{
	IGNORE_RC(str_copy(t->name, sizeof(t->name), jstr(t->data, "name")));
	IGNORE_RC(str_copy(t->from, sizeof(t->from), jstr(t->data, "from")));
	IGNORE_RC(str_copy(t->to, sizeof(t->to), jstr(t->data, "to")));
}

static bool rev_ok(struct txn *t, const char *rev)
{
	json_t *row = NULL;
	if (state_query_row(t->db, &row, NULL,
	                    "SELECT status FROM revisions WHERE name=? AND rev=?", "tt", t->name,
	                    rev) < 0)
		return false;
	bool ok = strcmp(jstr(row, "status"), "ok") == 0;
	json_decref(row);
	return ok;
}

/* --- steps --------------------------------------------------------------- */

static int next_local_rev(struct txn *t, char *out, ferry_error *err)
{
	char key[96];
	snprintf(key, sizeof(key), "local-seq.%s", t->name);
	_cleanup_free_ char *v = state_config_get(t->db, key);
	unsigned long long n = 0;
	if (v && str_to_u64(v, 1ull << 40, &n) < 0)
		n = 0;
	n++;
	char nv[32];
	snprintf(nv, sizeof(nv), "%llu", n);
	int rc = state_config_set(t->db, key, nv, err);
	if (rc < 0)
		return rc;
	snprintf(out, STATE_REV_MAX, "x%llu", n);
	return 0;
}

static int step_prepare_file(struct txn *t, ferry_error *err)
{
	char incoming_dir[PATH_MAX], incoming[PATH_MAX], image[PATH_MAX];
	if (agent_path(incoming_dir, "images/.incoming") < 0 ||
	    agent_path(incoming, "images/.incoming/%lld.ferry", (long long)t->id) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	int rc = fs_mkdir_p(incoming_dir, 0700, err);
	if (rc < 0)
		return rc;
	const char *source = jstr(t->data, "source");
	rc = rev_image_check(source, NULL, err);
	if (rc < 0)
		return rc;
	uint64_t size = 0;
	char sha[65];
	rc = copy_file(source, incoming, &size, sha, err);
	if (rc < 0)
		return rc;
	/* From here on only the copy is used: the caller's file may change. */
	rc = rev_image_check(incoming, NULL, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s", source);
	struct manifest *m = NULL;
	rc = rev_image_manifest(incoming, &m, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s", source);
	rc = str_copy(t->name, sizeof(t->name), m->name);
	_cleanup_free_ char *version = strdup(m->version);
	manifest_free(m);
	if (rc < 0 || !version)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: bad name", source);
	char cur[STATE_REV_MAX] = "";
	rc = state_current(t->db, t->name, cur, NULL);
	if (rc < 0 && rc != FERRY_E_NOTFOUND)
		return ferry_error_set(err, rc, "state.db: read package %s", t->name);
	IGNORE_RC(str_copy(t->from, sizeof(t->from), rc == 0 ? cur : ""));
	bool dangerous = json_is_true(json_object_get(t->data, "dangerous"));
	if (dangerous) {
		rc = next_local_rev(t, t->to, err);
		if (rc < 0)
			return rc;
	} else {
		/* Accepted only when signed metadata covers these exact bytes. */
		struct store s;
		struct store_choice c;
		rc = store_open(&s, err);
		if (rc == 0)
			rc = store_find_by_sha256(&s, t->name, sha, &c, err);
		if (rc == 0)
			rc = store_verify_file(&s, t->name, c.rev, incoming, err);
		store_close(&s);
		if (rc < 0)
			return ferry_error_prefix(err, rc, "%s", source);
		IGNORE_RC(str_copy(t->to, sizeof(t->to), c.rev));
		if (*t->from && strcmp(t->from, t->to) == 0)
			return ferry_error_set(err, FERRY_E_EXISTS,
			                       "%s revision %s is already installed", t->name,
			                       t->to);
	}
	if (agent_path(image, "images/%s_%s.ferry", t->name, t->to) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	if (rename(incoming, image) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "rename %s", image);
	rc = fs_fsync_parent(image, err);
	if (rc < 0)
		return rc;
	json_object_set_new(t->data, "name", json_string(t->name));
	json_object_set_new(t->data, "from", json_string(t->from));
	json_object_set_new(t->data, "to", json_string(t->to));
	json_object_set_new(t->data, "version", json_string(version));
	json_object_set_new(t->data, "sha256", json_string(sha));
	rc = state_begin(t->db, err);
	if (rc < 0)
		return rc;
	rc = state_exec(t->db, err,
	                "INSERT OR REPLACE INTO revisions(name, rev, version, sha256, size, local, "
	                "status, added)"
	                " VALUES(?, ?, ?, ?, ?, ?, 'new', ?)",
	                "ttttiii", t->name, t->to, version, sha, (int64_t)size, (int64_t)dangerous,
	                wall_s());
	if (rc == 0)
		rc = save_data(t, err);
	if (rc == 0) {
		const char *how = dangerous ? "local file" : "local file, verified";
		_cleanup_free_ char *summary =
		    *t->from ? str_dup_printf("Refresh %s from revision %s to %s (%s)", t->name,
		                              t->from, t->to, how)
		             : str_dup_printf("Install %s revision %s (%s)", t->name, t->to, how);
		rc = state_exec(t->db, err, "UPDATE changes SET summary=? WHERE id=?", "ti",
		                summary ? summary : "", t->id);
	}
	if (rc < 0) {
		state_rollback(t->db);
		return rc;
	}
	return state_commit(t->db, err);
}

static int undo_prepare(struct txn *t, ferry_error *err)
{
	char incoming[PATH_MAX];
	if (agent_path(incoming, "images/.incoming/%lld.ferry", (long long)t->id) == 0) {
		unlink(incoming);
		char tmp[PATH_MAX + 8];
		snprintf(tmp, sizeof(tmp), "%s.tmp", incoming);
		unlink(tmp);
	}
	if (!*t->name || !*t->to || rev_ok(t, t->to))
		return 0;
	char image[PATH_MAX];
	if (agent_path(image, "images/%s_%s.ferry", t->name, t->to) == 0 && unlink(image) < 0 &&
	    errno != ENOENT)
		return ferry_error_errno(err, FERRY_E_IO, errno, "remove %s", image);
	return state_exec(t->db, err,
	                  "DELETE FROM revisions WHERE name=? AND rev=? AND status='new'", "tt",
	                  t->name, t->to);
}

static bool is_blocked(struct txn *t, const char *rev)
{
	json_t *row = NULL;
	if (state_query_row(t->db, &row, NULL, "SELECT reason FROM blocked WHERE name=? AND rev=?",
	                    "tt", t->name, rev) < 0)
		return false;
	json_decref(row);
	return true;
}

static bool held(sqlite3 *db, const char *name)
{
	json_t *row = NULL;
	if (state_query_row(
	        db, &row, NULL,
	        "SELECT until FROM holds WHERE (name=? OR name='*') AND (until=0 OR until>?)", "ti",
	        name, wall_s()) < 0)
		return false;
	json_decref(row);
	return true;
}

static void set_summary(struct txn *t, const char *summary)
{
	if (summary)
		IGNORE_RC(state_exec(t->db, NULL, "UPDATE changes SET summary=? WHERE id=?", "ti",
		                     summary, t->id));
}

static int finish_early(struct txn *t, ferry_error *err)
{
	json_object_set_new(t->data, "note", json_string(t->note));
	set_summary(t, t->note);
	int rc = save_data(t, err);
	return rc < 0 ? rc : STEP_COMPLETE;
}

/* install NAME / refresh NAME: which revision the channel gives this device */
static int step_resolve(struct txn *t, ferry_error *err)
{
	bool install = strcmp(t->kind, "install") == 0;
	char cur[STATE_REV_MAX] = "";
	bool installed = state_current(t->db, t->name, cur, NULL) == 0;
	if (install && installed)
		return ferry_error_set(err, FERRY_E_EXISTS,
		                       "%s is already installed (ferry refresh %s updates it)",
		                       t->name, t->name);
	if (!install && !installed)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s is not installed", t->name);
	char channel[CHANNEL_NAME_MAX] = "latest/stable";
	const char *want = jstr(t->data, "channel");
	if (*want) {
		snprintf(channel, sizeof(channel), "%s", want);
	} else if (installed) {
		json_t *row = NULL;
		if (state_query_row(t->db, &row, NULL, "SELECT channel FROM packages WHERE name=?",
		                    "t", t->name) == 0) {
			snprintf(channel, sizeof(channel), "%s", jstr(row, "channel"));
			json_decref(row);
		}
	}
	struct store s;
	int rc = store_open(&s, err);
	if (rc < 0)
		return rc;
	struct store_choice c;
	rc = store_resolve(&s, t->name, channel, &c, err);
	store_close(&s);
	if (rc < 0)
		return rc;
	json_object_set_new(t->data, "channel", json_string(c.channel));
	if (installed && strcmp(c.rev, cur) == 0) {
		IGNORE_RC(state_exec(t->db, NULL, "UPDATE packages SET channel=? WHERE name=?",
		                     "tt", c.channel, t->name));
		snprintf(t->note, sizeof(t->note), "%s is up to date (revision %s, %s)", t->name,
		         cur, c.channel);
		return finish_early(t, err);
	}
	if (is_blocked(t, c.rev) && !json_is_true(json_object_get(t->data, "explicit"))) {
		snprintf(
		    t->note, sizeof(t->note),
		    "%s revision %s failed or was reverted on this device; waiting for a newer one",
		    t->name, c.rev);
		return finish_early(t, err);
	}
	IGNORE_RC(str_copy(t->from, sizeof(t->from), cur));
	IGNORE_RC(str_copy(t->to, sizeof(t->to), c.rev));
	json_object_set_new(t->data, "from", json_string(t->from));
	json_object_set_new(t->data, "to", json_string(t->to));
	json_object_set_new(t->data, "version", json_string(c.version));
	json_object_set_new(t->data, "sha256", json_string(c.sha256));
	json_object_set_new(t->data, "size", json_integer((json_int_t)c.size));
	json_object_set_new(t->data, "progressive", json_boolean(c.progressive));
	_cleanup_free_ char *summary =
	    installed ? str_dup_printf("Refresh %s from revision %s to %s (%s)", t->name, cur,
	                               c.rev, c.channel)
	              : str_dup_printf("Install %s revision %s (%s)", t->name, c.rev, c.channel);
	set_summary(t, summary);
	return save_data(t, err);
}

static int step_download(struct txn *t, ferry_error *err)
{
	char image[PATH_MAX];
	if (agent_path(image, "images/%s_%s.ferry", t->name, t->to) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	struct store s;
	int rc = store_open(&s, err);
	if (rc < 0)
		return rc;
	rc = store_download(&s, t->name, t->to, image, err);
	store_close(&s);
	if (rc < 0)
		return rc;
	return state_exec(t->db, err,
	                  "INSERT OR IGNORE INTO revisions(name, rev, version, sha256, size, "
	                  "local, status, added)"
	                  " VALUES(?, ?, ?, ?, ?, 0, 'new', ?)",
	                  "ttttii", t->name, t->to, jstr(t->data, "version"),
	                  jstr(t->data, "sha256"),
	                  (int64_t)json_integer_value(json_object_get(t->data, "size")), wall_s());
}

static int undo_download(struct txn *t, ferry_error *err)
{
	/* A partial download (images/.incoming/NAME_REV.part) stays, to be
	 * resumed by the next attempt. */
	if (!*t->name || !*t->to || rev_ok(t, t->to))
		return 0;
	char image[PATH_MAX];
	if (agent_path(image, "images/%s_%s.ferry", t->name, t->to) == 0 && unlink(image) < 0 &&
	    errno != ENOENT)
		return ferry_error_errno(err, FERRY_E_IO, errno, "remove %s", image);
	return state_exec(t->db, err,
	                  "DELETE FROM revisions WHERE name=? AND rev=? AND status='new'", "tt",
	                  t->name, t->to);
}

/* refresh (all or some): find what has something new and queue a refresh of
 * each. A general refresh skips held packages; an automatic one also skips
 * packages installed from a file. */
static int step_check(struct txn *t, ferry_error *err)
{
	bool automatic = json_is_true(json_object_get(t->data, "auto"));
	json_t *names = json_object_get(t->data, "names");
	json_t *rows = NULL;
	int rc = state_query(t->db, &rows, err,
	                     "SELECT name, current, channel FROM packages ORDER BY name", NULL);
	if (rc < 0)
		return rc;
	struct store s;
	rc = store_open(&s, err);
	if (rc < 0) {
		json_decref(rows);
		if (automatic) {
			/* try again sooner than the schedule: back-off from
			 * retry-delay, doubling, at most an hour */
			pthread_mutex_lock(&agent.lock);
			unsigned f = agent.refresh_failures < 20 ? ++agent.refresh_failures : 20;
			uint64_t ms = agent.retry_delay_ms << (f < 12 ? f : 12);
			int64_t soon = wall_s() + (int64_t)(ms > 3600000 ? 3600 : ms / 1000 + 1);
			/* retries too stay inside the refresh windows */
			if ((agent.refresh_next == 0 || soon < agent.refresh_next) &&
			    schedule_inside(agent.refresh_timer, soon))
				agent.refresh_next = soon;
			pthread_mutex_unlock(&agent.lock);
			uint64_t one = 1;
			IGNORE_RC(write(agent.wake_fd, &one, sizeof(one)) < 0);
			log_warn("automatic refresh failed; trying again in %lld s",
			         (long long)(soon - wall_s()));
		}
		return rc;
	}
	json_t *spawned = json_array();
	struct buf notes = BUF_INIT(8192);
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		const char *name = jstr(r, "name"), *cur = jstr(r, "current");
		bool named = json_array_size(names) == 0;
		size_t k;
		json_t *n;
		json_array_foreach(names, k, n) if (strcmp(json_string_value(n), name) == 0) named =
		    true;
		if (!named)
			continue;
		if (json_array_size(names) == 0 && held(t->db, name)) {
			IGNORE_RC(buf_printf(&notes, "%s: held\n", name));
			continue;
		}
		if (automatic && cur[0] == 'x') {
			IGNORE_RC(buf_printf(&notes, "%s: installed from a file\n", name));
			continue;
		}
		struct store_choice c;
		ferry_error e2;
		if (store_resolve(&s, name, jstr(r, "channel"), &c, &e2) < 0) {
			IGNORE_RC(buf_printf(&notes, "%s: %s\n", name, ferry_error_msg(&e2)));
			continue;
		}
		if (strcmp(c.rev, cur) == 0)
			continue;
		IGNORE_RC(str_copy(t->name, sizeof(t->name), name));
		if (is_blocked(t, c.rev)) {
			IGNORE_RC(buf_printf(
			    &notes, "%s: revision %s failed or was reverted here\n", name, c.rev));
			continue;
		}
		_cleanup_free_ char *summary = str_dup_printf(
		    "Refresh %s from revision %s to %s (%s)", name, cur, c.rev, c.channel);
		json_t *data = json_pack("{s:s, s:b}", "name", name, "auto", automatic);
		int64_t id = 0;
		rc = txn_create(t->db, "refresh", name, summary ? summary : "Refresh", data, &id,
		                err);
		json_decref(data);
		if (rc < 0)
			break;
		char ids[32];
		snprintf(ids, sizeof(ids), "%lld", (long long)id);
		json_array_append_new(spawned, json_string(ids));
	}
	t->name[0] = '\0';
	store_close(&s);
	json_decref(rows);
	if (automatic) {
		pthread_mutex_lock(&agent.lock);
		agent.refresh_failures = 0;
		pthread_mutex_unlock(&agent.lock);
	}
	json_object_set_new(t->data, "changes", spawned);
	if (notes.len)
		json_object_set_new(t->data, "note", json_stringn(notes.data, notes.len));
	buf_free(&notes);
	if (rc < 0)
		return rc;
	size_t n = json_array_size(spawned);
	_cleanup_free_ char *summary =
	    n ? str_dup_printf("%s refresh: %zu package%s to refresh",
	                       automatic ? "Automatic" : "Manual", n, n == 1 ? "" : "s")
	      : str_dup_printf("%s refresh: nothing new", automatic ? "Automatic" : "Manual");
	set_summary(t, summary);
	return save_data(t, err);
}

static int step_mount(struct txn *t, ferry_error *err)
{
	int rc = rev_mount(t->name, t->to, err);
	if (rc < 0)
		return rc;
	struct manifest *m = NULL;
	rc = rev_manifest(t->name, t->to, &m, err);
	if (rc < 0)
		return rc;
	if (strcmp(m->name, t->name) != 0)
		rc = ferry_error_set(err, FERRY_E_INVALID, "revision %s calls itself %s, not %s",
		                     t->to, m->name, t->name);
	manifest_free(m);
	return rc;
}

static int undo_mount(struct txn *t, ferry_error *err)
{
	if (!*t->name || !*t->to || rev_ok(t, t->to))
		return 0;
	return rev_unmount(t->name, t->to, err);
}

static int run_hook_of(struct txn *t, const char *rev, enum manifest_hook h, uint64_t timeout,
                       ferry_error *err)
{
	struct manifest *m = NULL;
	int rc = rev_manifest(t->name, rev, &m, err);
	if (rc < 0)
		return rc;
	rc = hook_run(t->name, rev, m, h, timeout, err);
	manifest_free(m);
	return rc;
}

static int step_pre_refresh(struct txn *t, ferry_error *err)
{
	if (!*t->from)
		return 0;
	return run_hook_of(t, t->from, HOOK_PRE_REFRESH, 0, err);
}

static int step_stop_services(struct txn *t, ferry_error *err)
{
	(void)err;
	pkg_stop_services(t->name);
	return 0;
}

static int undo_stop_services(struct txn *t, ferry_error *err)
{
	char cur[STATE_REV_MAX];
	if (state_current(t->db, t->name, cur, NULL) < 0)
		return 0; /* a first install: nothing ran before */
	if (!rev_mounted(t->name, cur)) {
		int rc = rev_mount(t->name, cur, err);
		if (rc < 0)
			return rc;
	}
	return pkg_start_services(t->name, cur, false, err);
}

static int step_copy_data(struct txn *t, ferry_error *err)
{
	char dir[PATH_MAX], dst[PATH_MAX], part[PATH_MAX], src[PATH_MAX], common[PATH_MAX];
	if (agent_path(dir, "data/%s", t->name) < 0 ||
	    agent_path(dst, "data/%s/%s", t->name, t->to) < 0 ||
	    agent_path(part, "data/%s/%s.part", t->name, t->to) < 0 ||
	    agent_path(common, "data/%s/common", t->name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	int rc = fs_mkdir_p(dir, 0755, err);
	if (rc == 0)
		rc = fs_mkdir_p(common, 0755, err);
	if (rc == 0)
		rc = fs_remove_tree(part, err);
	if (rc == 0)
		rc = fs_remove_tree(dst, err);
	if (rc < 0)
		return rc;
	if (*t->from) {
		if (agent_path(src, "data/%s/%s", t->name, t->from) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	} else if (agent_path(src, "data/%s/saved", t->name) < 0) {
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	}
	if (fs_exists(src))
		rc = copy_tree(src, part, err);
	else if (mkdir(part, 0755) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "mkdir %s", part);
	if (rc < 0)
		return rc;
	if (rename(part, dst) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "rename %s", dst);
	return fs_fsync_dir(dir, err);
}

static int undo_copy_data(struct txn *t, ferry_error *err)
{
	if (!*t->name || !*t->to || rev_ok(t, t->to))
		return 0;
	char dst[PATH_MAX], part[PATH_MAX];
	if (agent_path(dst, "data/%s/%s", t->name, t->to) < 0 ||
	    agent_path(part, "data/%s/%s.part", t->name, t->to) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	int rc = fs_remove_tree(part, err);
	return rc < 0 ? rc : fs_remove_tree(dst, err);
}

/* Point mnt/NAME/current and data/NAME/current at rev (or remove them).
 * in_change: a fault point between the two, for crash tests. */
static int link_current(const char *name, const char *rev, bool in_change, ferry_error *err)
{
	char mlink[PATH_MAX], dlink[PATH_MAX];
	if (agent_path(mlink, "mnt/%s/current", name) < 0 ||
	    agent_path(dlink, "data/%s/current", name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	if (!rev) {
		if ((unlink(mlink) < 0 && errno != ENOENT) ||
		    (unlink(dlink) < 0 && errno != ENOENT))
			return ferry_error_errno(err, FERRY_E_IO, errno, "remove current of %s",
			                         name);
		return 0;
	}
	int rc = symlink_replace(rev, mlink, err);
	if (rc == 0 && in_change && FAULT("switch-links"))
		return ferry_error_set(err, FERRY_E_FAULT, "fault point switch-links");
	return rc < 0 ? rc : symlink_replace(rev, dlink, err);
}

static int set_current(struct txn *t, const char *rev, ferry_error *err)
{
	int rc = link_current(t->name, rev, true, err);
	if (rc < 0)
		return rc;
	if (!rev)
		return state_exec(t->db, err, "DELETE FROM packages WHERE name=?", "t", t->name);
	const char *channel = jstr(t->data, "channel");
	return state_exec(
	    t->db, err,
	    "INSERT INTO packages(name, current, channel, installed) VALUES(?, ?, ?, ?)"
	    " ON CONFLICT(name) DO UPDATE SET current=excluded.current",
	    "ttti", t->name, rev, *channel ? channel : "latest/stable", wall_s());
}

static int step_switch(struct txn *t, ferry_error *err)
{
	return set_current(t, t->to, err);
}

static int undo_switch(struct txn *t, ferry_error *err)
{
	if (!*t->name)
		return 0;
	return set_current(t, *t->from ? t->from : NULL, err);
}

static int step_post_refresh(struct txn *t, ferry_error *err)
{
	return run_hook_of(t, t->to, *t->from ? HOOK_POST_REFRESH : HOOK_INSTALL, 0, err);
}

static int step_start_services(struct txn *t, ferry_error *err)
{
	return pkg_start_services(t->name, t->to, true, err);
}

static int undo_start_services(struct txn *t, ferry_error *err)
{
	(void)err;
	pkg_stop_services(t->name);
	return 0;
}

static int step_health(struct txn *t, ferry_error *err)
{
	struct manifest *m = NULL;
	int rc = rev_manifest(t->name, t->to, &m, err);
	if (rc < 0)
		return rc;
	rc = health_check(t->name, t->to, m, err);
	manifest_free(m);
	return rc;
}

/* Keep the current revision and the retain-1 newest others; never the
 * current one, never the one a rollback would go back to. */
static void prune(struct txn *t)
{
	json_t *rows = NULL;
	if (state_query(t->db, &rows, NULL,
	                "SELECT rev FROM revisions WHERE name=? AND status='ok' AND rev<>? ORDER "
	                "BY added DESC, rowid DESC",
	                "tt", t->name, t->to) < 0)
		return;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if ((int)i < agent.retain - 1)
			continue;
		const char *rev = jstr(row, "rev");
		char image[PATH_MAX], data[PATH_MAX];
		ferry_error err;
		if (rev_unmount(t->name, rev, &err) < 0) {
			log_warn("prune %s revision %s: %s", t->name, rev, ferry_error_msg(&err));
			continue;
		}
		if (agent_path(image, "images/%s_%s.ferry", t->name, rev) == 0)
			unlink(image);
		if (agent_path(data, "data/%s/%s", t->name, rev) == 0 &&
		    fs_remove_tree(data, &err) < 0)
			log_warn("prune: %s", ferry_error_msg(&err));
		if (state_exec(t->db, &err, "DELETE FROM revisions WHERE name=? AND rev=?", "tt",
		               t->name, rev) < 0)
			log_warn("prune: %s", ferry_error_msg(&err));
		log_info("pruned %s revision %s", t->name, rev);
	}
	json_decref(rows);
}

static int step_commit(struct txn *t, ferry_error *err)
{
	/* after a crash the new revision may not be mounted yet */
	int rc = rev_mount(t->name, t->to, err);
	if (rc < 0)
		return rc;
	/* a refresh that switched channels now tracks the new one */
	const char *channel = jstr(t->data, "channel");
	if (*channel) {
		rc = state_exec(t->db, err, "UPDATE packages SET channel=? WHERE name=?", "tt",
		                channel, t->name);
		if (rc < 0)
			return rc;
	}
	rc = state_exec(t->db, err, "UPDATE revisions SET status='ok' WHERE name=? AND rev=?", "tt",
	                t->name, t->to);
	if (rc < 0)
		return rc;
	char saved[PATH_MAX];
	if (agent_path(saved, "data/%s/saved", t->name) == 0)
		IGNORE_RC(fs_remove_tree(saved, NULL));
	prune(t);
	return 0;
}

static int step_commit_revert(struct txn *t, ferry_error *err)
{
	return state_exec(
	    t->db, err,
	    "INSERT OR REPLACE INTO blocked(name, rev, reason, at) VALUES(?, ?, 'reverted', ?)",
	    "tti", t->name, t->from, wall_s());
}

static int step_remove_hook(struct txn *t, ferry_error *err)
{
	ferry_error herr;
	ferry_error_clear(&herr);
	if (run_hook_of(t, t->from, HOOK_REMOVE, 0, &herr) < 0) {
		/* A failing remove hook must not keep a package a user wants gone. */
		log_warn("%s: remove hook failed (ignored): %s", t->name, ferry_error_msg(&herr));
		json_object_set_new(t->data, "remove-hook-error",
		                    json_string(ferry_error_msg(&herr)));
		return save_data(t, err);
	}
	return 0;
}

static int step_discard(struct txn *t, ferry_error *err)
{
	bool purge = json_is_true(json_object_get(t->data, "purge"));
	int rc = link_current(t->name, NULL, false, err);
	if (rc < 0)
		return rc;
	json_t *rows = NULL;
	rc = state_query(t->db, &rows, err, "SELECT rev FROM revisions WHERE name=?", "t", t->name);
	if (rc < 0)
		return rc;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		const char *rev = jstr(row, "rev");
		char image[PATH_MAX];
		rc = rev_unmount(t->name, rev, err);
		if (rc < 0)
			break;
		if (agent_path(image, "images/%s_%s.ferry", t->name, rev) == 0)
			unlink(image);
	}
	json_decref(rows);
	if (rc < 0)
		return rc;
	char mdir[PATH_MAX], ddir[PATH_MAX], cur[PATH_MAX], saved[PATH_MAX], common[PATH_MAX];
	if (agent_path(mdir, "mnt/%s", t->name) < 0 || agent_path(ddir, "data/%s", t->name) < 0 ||
	    agent_path(cur, "data/%s/%s", t->name, t->from) < 0 ||
	    agent_path(saved, "data/%s/saved", t->name) < 0 ||
	    agent_path(common, "data/%s/common", t->name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	rc = fs_remove_tree(mdir, err);
	if (rc < 0)
		return rc;
	if (purge) {
		rc = fs_remove_tree(ddir, err);
	} else {
		/* Keep the data of the revision that ran last (as data/NAME/saved,
		 * which the next install starts from) and the common data. */
		if (*t->from && fs_exists(cur) && !fs_exists(saved) && rename(cur, saved) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "rename %s", cur);
		DIR *d = opendir(ddir);
		struct dirent *de;
		while (d && rc == 0 && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    !strcmp(de->d_name, "saved") || !strcmp(de->d_name, "common"))
				continue;
			char p[PATH_MAX];
			if (str_printf(p, sizeof(p), "%s/%s", ddir, de->d_name) == 0)
				rc = fs_remove_tree(p, err);
		}
		if (d)
			closedir(d);
	}
	if (rc < 0)
		return rc;
	rc = state_begin(t->db, err);
	if (rc < 0)
		return rc;
	const char *stmts[] = {
	    "DELETE FROM packages WHERE name=?",
	    "DELETE FROM revisions WHERE name=?",
	    "DELETE FROM holds WHERE name=?",
	    "DELETE FROM blocked WHERE name=?",
	};
	for (size_t k = 0; k < ARRAY_SIZE(stmts) && rc == 0; k++)
		rc = state_exec(t->db, err, stmts[k], "t", t->name);
	if (rc == 0)
		rc = state_exec(t->db, err, "DELETE FROM connections WHERE name=?", "t", t->name);
	if (rc == 0 && purge)
		rc = state_exec(t->db, err, "DELETE FROM pkg_config WHERE name=?", "t", t->name);
	/* the package's uid is freed with the last file that belongs to it */
	if (rc == 0 && purge)
		rc = state_exec(t->db, err, "DELETE FROM pkg_ids WHERE name=?", "t", t->name);
	if (rc < 0) {
		state_rollback(t->db);
		return rc;
	}
	rc = state_commit(t->db, err);
	if (rc < 0)
		return rc;
	if (purge) { /* the configuration hooks read goes with its rows */
		char conf[PATH_MAX];
		if (agent_path(conf, "run/config/%s.json", t->name) == 0 && unlink(conf) < 0 &&
		    errno != ENOENT)
			log_warn("remove %s: %s", conf, strerror(errno));
	}
	pthread_mutex_lock(&agent.lock);
	svc_forget_package(t->name);
	pthread_mutex_unlock(&agent.lock);
	char logs[PATH_MAX];
	if (purge && agent_path(logs, "logs/%s", t->name) == 0)
		IGNORE_RC(fs_remove_tree(logs, NULL));
	return 0;
}

/* run/config/NAME.json: the package's configuration, for its hooks. */
static int write_config_file(struct txn *t, ferry_error *err)
{
	json_t *rows = NULL;
	int rc = state_query(t->db, &rows, err,
	                     "SELECT key, value FROM pkg_config WHERE name=? ORDER BY key", "t",
	                     t->name);
	if (rc < 0)
		return rc;
	json_t *o = json_object();
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	    json_object_set(o, jstr(r, "key"), json_object_get(r, "value"));
	json_decref(rows);
	_cleanup_free_ char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	char dir[PATH_MAX], path[PATH_MAX];
	if (!text || agent_path(dir, "run/config") < 0 ||
	    agent_path(path, "run/config/%s.json", t->name) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "configuration file of %s", t->name);
	rc = fs_mkdir_p(dir, 0700, err);
	if (rc < 0)
		return rc;
	return fs_write_atomic(path, text, strlen(text), 0600, err);
}

static int step_configure(struct txn *t, ferry_error *err)
{
	json_t *values = json_object_get(t->data, "values");
	json_t *old = json_object();
	const char *key;
	json_t *v;
	int rc = state_begin(t->db, err);
	if (rc < 0) {
		json_decref(old);
		return rc;
	}
	json_object_foreach(values, key, v)
	{
		json_t *row = NULL;
		if (state_query_row(t->db, &row, NULL,
		                    "SELECT value FROM pkg_config WHERE name=? AND key=?", "tt",
		                    t->name, key) == 0) {
			json_object_set(old, key, json_object_get(row, "value"));
			json_decref(row);
		} else {
			json_object_set_new(old, key, json_null());
		}
		if (json_is_null(v))
			rc = state_exec(t->db, err, "DELETE FROM pkg_config WHERE name=? AND key=?",
			                "tt", t->name, key);
		else
			rc = state_exec(
			    t->db, err,
			    "INSERT OR REPLACE INTO pkg_config(name, key, value) VALUES(?, ?, ?)",
			    "ttt", t->name, key, json_string_value(v));
		if (rc < 0)
			break;
	}
	if (!json_object_get(t->data, "old"))
		json_object_set(t->data, "old", old);
	json_decref(old);
	if (rc == 0)
		rc = save_data(t, err);
	if (rc < 0) {
		state_rollback(t->db);
		return rc;
	}
	rc = state_commit(t->db, err);
	if (rc < 0)
		return rc;
	rc = write_config_file(t, err);
	if (rc < 0)
		return rc;
	char cur[STATE_REV_MAX];
	rc = state_current(t->db, t->name, cur, err);
	if (rc < 0)
		return rc;
	return run_hook_of(t, cur, HOOK_CONFIGURE, 0, err);
}

static int undo_configure(struct txn *t, ferry_error *err)
{
	json_t *old = json_object_get(t->data, "old");
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach(old, key, v)
	{
		if (json_is_null(v))
			rc = state_exec(t->db, err, "DELETE FROM pkg_config WHERE name=? AND key=?",
			                "tt", t->name, key);
		else
			rc = state_exec(
			    t->db, err,
			    "INSERT OR REPLACE INTO pkg_config(name, key, value) VALUES(?, ?, ?)",
			    "ttt", t->name, key, json_string_value(v));
		if (rc < 0)
			return rc;
	}
	return write_config_file(t, err);
}

static int step_service_control(struct txn *t, ferry_error *err)
{
	const char *action = jstr(t->data, "action");
	json_t *apps = json_object_get(t->data, "apps");
	char cur[STATE_REV_MAX];
	int rc = state_current(t->db, t->name, cur, err);
	if (rc < 0)
		return rc;
	struct manifest *m = NULL;
	rc = rev_manifest(t->name, cur, &m, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&agent.lock);
	for (size_t i = 0; i < m->n_apps && rc == 0; i++) {
		const struct manifest_app *a = &m->apps[i];
		if (a->daemon == DAEMON_NONE)
			continue;
		bool wanted = json_array_size(apps) == 0;
		size_t k;
		json_t *it;
		json_array_foreach(apps, k, it) if (strcmp(json_string_value(it), a->name) == 0)
		    wanted = true;
		if (!wanted)
			continue;
		struct service *s = svc_find(t->name, a->name);
		if (strcmp(action, "stop") == 0 || strcmp(action, "restart") == 0) {
			if (s)
				svc_stop_wait(s);
		}
		if (strcmp(action, "start") == 0 || strcmp(action, "restart") == 0) {
			rc = svc_setup(t->name, cur, m, a->name, &s, err);
			if (rc == 0) {
				s->exits = 0;
				rc = svc_start(s, err);
			}
		}
	}
	pthread_mutex_unlock(&agent.lock);
	manifest_free(m);
	return rc;
}

static const struct step_def steps_install_file[] = {
    {"prepare-file", "Copy and verify the package file", step_prepare_file, undo_prepare, false},
    {"mount", "Mount the new revision read-only", step_mount, undo_mount, false},
    {"pre-refresh", "Run the pre-refresh hook of the old revision", step_pre_refresh, NULL, false},
    {"stop-services", "Stop the services of the old revision", step_stop_services,
     undo_stop_services, false},
    {"copy-data", "Copy the data of the old revision", step_copy_data, undo_copy_data, false},
    {"switch", "Make the new revision current", step_switch, undo_switch, false},
    {"post-refresh", "Run the post-refresh (or install) hook of the new revision",
     step_post_refresh, NULL, false},
    {"start-services", "Start the services of the new revision", step_start_services,
     undo_start_services, false},
    {"health", "Check the health of the new revision", step_health, NULL, false},
    {"commit", "Keep the new revision and prune old ones", step_commit, NULL, true},
    {NULL, NULL, NULL, NULL, false},
};

#define STEPS_FROM_MOUNT                                                                           \
	{"mount", "Mount the new revision read-only", step_mount, undo_mount, false},              \
	    {"pre-refresh", "Run the pre-refresh hook of the old revision", step_pre_refresh,      \
	     NULL, false},                                                                         \
	    {"stop-services", "Stop the services of the old revision", step_stop_services,         \
	     undo_stop_services, false},                                                           \
	    {"copy-data", "Copy the data of the old revision", step_copy_data, undo_copy_data,     \
	     false},                                                                               \
	    {"switch", "Make the new revision current", step_switch, undo_switch, false},          \
	    {"post-refresh", "Run the post-refresh (or install) hook of the new revision",         \
	     step_post_refresh, NULL, false},                                                      \
	    {"start-services", "Start the services of the new revision", step_start_services,      \
	     undo_start_services, false},                                                          \
	    {"health", "Check the health of the new revision", step_health, NULL, false},          \
	    {"commit", "Keep the new revision and prune old ones", step_commit, NULL, true},       \
	{                                                                                          \
		NULL, NULL, NULL, NULL, false                                                      \
	}

static const struct step_def steps_store[] = {
    {"resolve", "Find the revision the channel holds for this device", step_resolve, NULL, false},
    {"download", "Download the image and verify it against the signed metadata", step_download,
     undo_download, false},
    STEPS_FROM_MOUNT,
};

static const struct step_def steps_check[] = {
    {"check", "Check the store for new revisions", step_check, NULL, false},
    {NULL, NULL, NULL, NULL, false},
};

static const struct step_def steps_revert[] = {
    {"stop-services", "Stop the services of the current revision", step_stop_services,
     undo_stop_services, false},
    {"switch", "Make the earlier revision current", step_switch, undo_switch, false},
    {"start-services", "Start the services of the earlier revision", step_start_services,
     undo_start_services, false},
    {"health", "Check the health of the earlier revision", step_health, NULL, false},
    {"commit-revert", "Keep the earlier revision", step_commit_revert, NULL, true},
    {NULL, NULL, NULL, NULL, false},
};

static const struct step_def steps_remove[] = {
    {"stop-services", "Stop the services", step_stop_services, undo_stop_services, false},
    {"remove-hook", "Run the remove hook", step_remove_hook, NULL, false},
    {"discard", "Remove the revisions and their data", step_discard, NULL, true},
    {NULL, NULL, NULL, NULL, false},
};

static const struct step_def steps_configure[] = {
    {"configure", "Apply the configuration and run the configure hook", step_configure,
     undo_configure, false},
    {NULL, NULL, NULL, NULL, false},
};

static const struct step_def steps_services[] = {
    {"service-control", "Start, stop or restart services", step_service_control, NULL, false},
    {NULL, NULL, NULL, NULL, false},
};

static const struct {
	const char *kind;
	const struct step_def *steps;
} kinds[] = {
    {"install-file", steps_install_file}, {"install", steps_store},     {"refresh", steps_store},
    {"refresh-all", steps_check},         {"revert", steps_revert},     {"remove", steps_remove},
    {"configure", steps_configure},       {"services", steps_services},
};

static const struct step_def *steps_of(const char *kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (strcmp(kinds[i].kind, kind) == 0)
			return kinds[i].steps;
	return NULL;
}

/* --- the journal ------------------------------------------------------------ */

int txn_create(sqlite3 *db, const char *kind, const char *name, const char *summary, json_t *data,
               int64_t *id, ferry_error *err)
{
	const struct step_def *steps = steps_of(kind);
	if (!steps)
		return ferry_error_set(err, FERRY_E_INTERNAL, "unknown change kind %s", kind);
	_cleanup_free_ char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	int rc = state_begin(db, err);
	if (rc < 0)
		return rc;
	rc = state_exec(db, err,
	                "INSERT INTO changes(kind, name, summary, status, spawn, data) VALUES(?, "
	                "?, ?, 'Do', ?, ?)",
	                "tttit", kind, name ? name : "", summary, wall_s(), text);
	int64_t cid = sqlite3_last_insert_rowid(db);
	for (int i = 0; rc == 0 && steps[i].kind; i++)
		rc = state_exec(db, err,
		                "INSERT INTO steps(change, seq, kind, summary, status) VALUES(?, "
		                "?, ?, ?, 'Do')",
		                "iitt", cid, (int64_t)i, steps[i].kind, steps[i].summary);
	if (rc < 0) {
		state_rollback(db);
		return rc;
	}
	rc = state_commit(db, err);
	if (rc < 0)
		return rc;
	*id = cid;
	return 0;
}

void txn_wake(void)
{
	agent.work = true;
	pthread_cond_broadcast(&agent.cond);
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_step(struct txn *t, int seq, const char *status, const char *msg)
{
	ferry_error err;
	int rc;
	int64_t ms = wall_ms();
	if (strcmp(status, "Doing") == 0 || strcmp(status, "Undoing") == 0)
		rc = state_exec(t->db, &err,
		                "UPDATE steps SET status=?, started=coalesce(started, ?),"
		                " started_ms=coalesce(started_ms, ?) WHERE change=? AND seq=?",
		                "tiiii", status, ms / 1000, ms, t->id, (int64_t)seq);
	else if (msg)
		rc = state_exec(t->db, &err,
		                "UPDATE steps SET status=?, ended=?, ended_ms=?, msg=? WHERE "
		                "change=? AND seq=?",
		                "tiitii", status, ms / 1000, ms, msg, t->id, (int64_t)seq);
	else
		rc = state_exec(
		    t->db, &err,
		    "UPDATE steps SET status=?, ended=?, ended_ms=? WHERE change=? AND seq=?",
		    "tiiii", status, ms / 1000, ms, t->id, (int64_t)seq);
	if (rc < 0)
		log_error("change %lld: %s", (long long)t->id, ferry_error_msg(&err));
}

static void set_change(struct txn *t, const char *status, const char *errmsg)
{
	ferry_error err;
	int rc;
	if (strcmp(status, "Doing") == 0)
		rc = state_exec(t->db, &err, "UPDATE changes SET status=? WHERE id=?", "ti", status,
		                t->id);
	else
		rc = state_exec(t->db, &err,
		                "UPDATE changes SET status=?, ready=?, err=? WHERE id=?", "titi",
		                status, wall_s(), errmsg, t->id);
	if (rc < 0)
		log_error("change %lld: %s", (long long)t->id, ferry_error_msg(&err));
}

/* The final status of a change and its outcome report (result: ok,
 * rolled-back, failed; NULL for none) in one transaction: after a crash
 * there are both or neither. */
static void finish_change(struct txn *t, const char *status, const char *errmsg, const char *result,
                          const char *failed_step, const char *step_error)
{
	ferry_error err;
	bool txn = state_begin(t->db, &err) == 0;
	if (!txn)
		log_error("change %lld: %s", (long long)t->id, ferry_error_msg(&err));
	set_change(t, status, errmsg);
	int queued = report_queue(t->db, t->id, t->kind, t->name, t->from, t->to,
	                          jstr(t->data, "channel"), result, failed_step, step_error, &err);
	if (queued < 0)
		log_warn("change %lld: no report: %s", (long long)t->id, ferry_error_msg(&err));
	if (txn && state_commit(t->db, &err) < 0)
		log_error("change %lld: %s", (long long)t->id, ferry_error_msg(&err));
	else if (queued > 0)
		report_kick();
}

static bool fault(const char *prefix, const char *kind, const char *suffix)
{
	char name[64];
	snprintf(name, sizeof(name), "%s%s%s", prefix, kind, suffix);
	return FAULT(name);
}

/* Undo steps [0, upto] whose status says they ran, newest first. False when
 * an undo failed (the change could not be rolled back cleanly). */
static bool undo_from(struct txn *t, const struct step_def *steps, json_t *rows, int upto)
{
	bool clean = true;
	for (int i = upto; i >= 0; i--) {
		const char *st = jstr(json_array_get(rows, (size_t)i), "status");
		bool ran = !strcmp(st, "Doing") || !strcmp(st, "Done") || !strcmp(st, "Undoing") ||
		           !strcmp(st, "Error");
		if (!ran)
			continue;
		bool failed_here = !strcmp(st, "Error");
		/* the step that failed stays Error: recovery needs to know */
		if (!failed_here)
			set_step(t, i, "Undoing", NULL);
		(void)fault("undo-", steps[i].kind, "");
		ferry_error err;
		ferry_error_clear(&err);
		if (steps[i].undo && steps[i].undo(t, &err) < 0) {
			log_error("change %lld: undo %s: %s", (long long)t->id, steps[i].kind,
			          ferry_error_msg(&err));
			char msg[FERRY_ERROR_MSG_MAX + 32];
			snprintf(msg, sizeof(msg), "undo failed: %s", ferry_error_msg(&err));
			set_step(t, i, "Error", msg);
			clean = false;
			continue;
		}
		if (!failed_here) /* its end stays the moment it failed */
			set_step(t, i, "Undone", NULL);
	}
	return clean;
}

static int load_txn(sqlite3 *db, int64_t id, struct txn *t, json_t **rows,
                    const struct step_def **steps)
{
	json_t *row = NULL;
	ferry_error err;
	if (state_query_row(db, &row, &err, "SELECT kind, data FROM changes WHERE id=?", "i", id) <
	    0)
		return -1;
	memset(t, 0, sizeof(*t));
	t->db = db;
	t->id = id;
	*steps = steps_of(jstr(row, "kind"));
	snprintf(t->kind, sizeof(t->kind), "%s", jstr(row, "kind"));
	json_error_t jerr;
	t->data = json_loads(jstr(row, "data"), 0, &jerr);
	json_decref(row);
	if (!*steps || !t->data) {
		json_decref(t->data);
		return -1;
	}
	load_names(t);
	if (state_query(db, rows, &err,
	                "SELECT seq, kind, status FROM steps WHERE change=? ORDER BY seq", "i",
	                id) < 0) {
		json_decref(t->data);
		return -1;
	}
	return 0;
}

/* After a rollback, the new revision is not tried again until a newer one is
 * released: when it was the new revision that failed (it did not mount, its
 * hook failed, its services did not start or were not healthy), not when the
 * network, the old revision or a crash stopped the change. */
static void block_revision(struct txn *t, const char *failed_step)
{
	static const char *const own[] = {"mount", "post-refresh", "start-services", "health"};
	bool bad = false;
	for (size_t i = 0; i < ARRAY_SIZE(own); i++)
		if (strcmp(failed_step, own[i]) == 0)
			bad = true;
	if (!bad || !*t->to || !*t->name)
		return;
	ferry_error err;
	if (state_exec(
	        t->db, &err,
	        "INSERT OR REPLACE INTO blocked(name, rev, reason, at) VALUES(?, ?, 'failed', ?)",
	        "tti", t->name, t->to, wall_s()) < 0)
		log_warn("%s", ferry_error_msg(&err));
}

static void run_change(sqlite3 *db, int64_t id)
{
	struct txn t;
	json_t *rows = NULL;
	const struct step_def *steps = NULL;
	if (load_txn(db, id, &t, &rows, &steps) < 0) {
		log_error("change %lld cannot be loaded; marking it failed", (long long)id);
		IGNORE_RC(state_exec(
		    db, NULL,
		    "UPDATE changes SET status='Error', err='cannot be loaded' WHERE id=?", "i",
		    id));
		return;
	}
	json_t *kindrow = NULL;
	_cleanup_free_ char *kind = NULL;
	if (state_query_row(db, &kindrow, NULL, "SELECT kind FROM changes WHERE id=?", "i", id) ==
	    0) {
		kind = strdup(jstr(kindrow, "kind"));
		json_decref(kindrow);
	}
	pthread_mutex_lock(&agent.lock);
	agent.running_change = id;
	pthread_mutex_unlock(&agent.lock);
	set_change(&t, "Doing", NULL);
	log_info("change %lld (%s) starts", (long long)id, kind ? kind : "?");
	int n = (int)json_array_size(rows);
	bool complete_early = false;
	for (int i = 0; i < n; i++) {
		json_t *r = json_array_get(rows, (size_t)i);
		if (!strcmp(jstr(r, "status"), "Done"))
			continue;
		if (agent.quit)
			goto out; /* left Doing: finished or undone at the next start */
		set_step(&t, i, "Doing", NULL);
		json_object_set_new(r, "status", json_string("Doing"));
		ferry_error err;
		ferry_error_clear(&err);
		int rc;
		if (fault("", steps[i].kind, ""))
			rc = ferry_error_set(&err, FERRY_E_FAULT, "fault point %s", steps[i].kind);
		else
			rc = steps[i].run(&t, &err);
		if (rc == 0 && fault("", steps[i].kind, "-done"))
			rc = ferry_error_set(&err, FERRY_E_FAULT, "fault point %s-done",
			                     steps[i].kind);
		if (rc < 0) {
			if (agent.quit)
				goto out;
			char msg[FERRY_ERROR_MSG_MAX + 64];
			snprintf(msg, sizeof(msg), "%s", ferry_error_msg(&err));
			log_warn("change %lld: %s failed: %s", (long long)id, steps[i].kind, msg);
			set_step(&t, i, "Error", msg);
			json_object_set_new(r, "status", json_string("Error"));
			if (steps[i].no_return) {
				finish_change(&t, "Error", msg, "failed", steps[i].kind, msg);
				goto out;
			}
			bool clean = undo_from(&t, steps, rows, i);
			char full[FERRY_ERROR_MSG_MAX + 128];
			snprintf(full, sizeof(full), "%s: %s", steps[i].kind, msg);
			block_revision(&t, steps[i].kind);
			finish_change(&t, "Error", full, clean ? "rolled-back" : "failed",
			              steps[i].kind, msg);
			log_warn("change %lld rolled back", (long long)id);
			goto out;
		}
		set_step(&t, i, "Done", t.note[0] ? t.note : NULL);
		t.note[0] = '\0';
		json_object_set_new(r, "status", json_string("Done"));
		if (rc == STEP_COMPLETE) {
			complete_early = true;
			IGNORE_RC(state_exec(db, NULL,
			                     "UPDATE steps SET status='Hold' WHERE change=? AND "
			                     "seq>? AND status='Do'",
			                     "ii", id, (int64_t)i));
			break;
		}
	}
	/* nothing to report when nothing was tried (up to date, blocked) */
	finish_change(&t, "Done", NULL, complete_early ? NULL : "ok", NULL, NULL);
	log_info("change %lld done", (long long)id);
out:
	pthread_mutex_lock(&agent.lock);
	agent.running_change = 0;
	pthread_mutex_unlock(&agent.lock);
	json_decref(rows);
	json_decref(t.data);
}

/* After a crash: finish or undo every change that was under way. */
int txn_recover(sqlite3 *db)
{
	json_t *changes = NULL;
	ferry_error err;
	if (state_query(db, &changes, &err,
	                "SELECT id, kind FROM changes WHERE status='Doing' ORDER BY id",
	                NULL) < 0) {
		log_error("%s", ferry_error_msg(&err));
		return -1;
	}
	size_t ci;
	json_t *c;
	json_array_foreach(changes, ci, c)
	{
		int64_t id = json_integer_value(json_object_get(c, "id"));
		struct txn t;
		json_t *rows = NULL;
		const struct step_def *steps = NULL;
		if (load_txn(db, id, &t, &rows, &steps) < 0)
			continue;
		int n = (int)json_array_size(rows), forward = -1, last = -1;
		bool undoing = false;
		for (int i = 0; i < n; i++) {
			const char *st = jstr(json_array_get(rows, (size_t)i), "status");
			if (strcmp(st, "Do") != 0)
				last = i;
			if (!strcmp(st, "Undoing") || !strcmp(st, "Undone") || !strcmp(st, "Error"))
				undoing = true;
			if (steps[i].no_return && forward < 0 &&
			    (!strcmp(st, "Doing") || !strcmp(st, "Done")))
				forward = i;
		}
		const char *at = last >= 0 ? steps[last].kind : "start";
		if (forward >= 0 && !undoing) {
			log_warn("change %lld was interrupted at %s, past its point of no return: "
			         "finishing it",
			         (long long)id, at);
			json_decref(rows);
			json_decref(t.data);
			run_change(db, id);
			continue;
		}
		log_warn("change %lld was interrupted at %s: undoing it", (long long)id, at);
		const char *failed = NULL;
		for (int i = 0; i < n; i++)
			if (!strcmp(jstr(json_array_get(rows, (size_t)i), "status"), "Error"))
				failed = steps[i].kind;
		bool clean = undo_from(&t, steps, rows, last);
		char msg[256];
		snprintf(msg, sizeof(msg),
		         "%s: interrupted (ferryd stopped during this step); rolled back when "
		         "ferryd started again",
		         at);
		if (failed)
			block_revision(&t, failed);
		finish_change(&t, "Error", msg, clean ? "rolled-back" : "failed",
		              failed ? failed : at, msg + strlen(at) + 2);
		json_decref(rows);
		json_decref(t.data);
	}
	json_decref(changes);
	return 0;
}

static void mount_all(sqlite3 *db)
{
	json_t *rows = NULL;
	ferry_error err;
	/* Only kept revisions: one a change added is mounted by that change, or
	 * by its commit when it is finished at start-up. */
	if (state_query(db, &rows, &err,
	                "SELECT name, rev FROM revisions WHERE status='ok' ORDER BY name, rev",
	                NULL) < 0) {
		log_error("%s", ferry_error_msg(&err));
		return;
	}
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		const char *name = jstr(r, "name"), *rev = jstr(r, "rev");
		if (rev_mounted(name, rev))
			continue;
		if (rev_mount(name, rev, &err) < 0)
			log_error("%s revision %s: %s", name, rev, ferry_error_msg(&err));
	}
	json_decref(rows);
}

static void start_all(sqlite3 *db)
{
	json_t *rows = NULL;
	ferry_error err;
	if (state_query(db, &rows, &err, "SELECT name, current FROM packages ORDER BY name", NULL) <
	    0)
		return;
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		/* the links follow the database, which is the truth */
		if (link_current(jstr(r, "name"), jstr(r, "current"), false, &err) < 0)
			log_error("%s", ferry_error_msg(&err));
		if (pkg_start_services(jstr(r, "name"), jstr(r, "current"), false, &err) < 0)
			log_error("%s", ferry_error_msg(&err));
	}
	json_decref(rows);
}

void *txn_worker(void *arg)
{
	(void)arg;
	sqlite3 *db = NULL;
	ferry_error err;
	if (state_open(agent.db_path, &db, &err) < 0) {
		log_error("%s", ferry_error_msg(&err));
		return NULL;
	}
	sandbox_set_thread_db(db);
	mount_all(db);
	txn_recover(db);
	start_all(db);
	pthread_mutex_lock(&agent.lock);
	agent.ready = true;
	pthread_mutex_unlock(&agent.lock);
	log_info("ready");
	for (;;) {
		pthread_mutex_lock(&agent.lock);
		while (!agent.work && !agent.quit)
			pthread_cond_wait(&agent.cond, &agent.lock);
		agent.work = false;
		bool quit = agent.quit;
		pthread_mutex_unlock(&agent.lock);
		if (quit)
			break;
		for (;;) {
			json_t *row = NULL;
			if (agent.quit ||
			    state_query_row(
			        db, &row, NULL,
			        "SELECT id FROM changes WHERE status='Do' ORDER BY id LIMIT 1",
			        NULL) < 0)
				break;
			int64_t id = json_integer_value(json_object_get(row, "id"));
			json_decref(row);
			run_change(db, id);
		}
	}
	state_close(db);
	return NULL;
}
