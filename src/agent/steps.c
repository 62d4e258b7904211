/* steps.c: the steps of ferryd's changes, and which kinds of change run
 * which steps (steps_table, given to the engine in txn.c). Every step's do
 * and undo are idempotent: after a crash the engine runs a step again, or
 * its undo, from the start.
 *
 * Kinds and their steps:
 *   install-file  prepare-file mount pre-refresh stop-services copy-data
 *                 switch post-refresh start-services health commit
 *   install, refresh
 *                 resolve download base, then as install-file from mount
 *   try           prepare-dir, then as install-file from mount
 *   refresh-all   check (queues a refresh of each package with something new)
 *   refresh-list  check (records what is available; queues nothing)
 *   revert        stop-services switch start-services health commit-revert
 *   remove        stop-services remove-hook unmount forget discard
 * install-file, try, install and refresh also run dependents (before
 * switch), restart-dependents (after start-services) and dependents-health
 * (after health): nothing unless the package is a base with apps on it, which
 * then restart on its new revision and must be healthy there, or the change
 * rolls back and they restart on the old one. The base step installs the
 * base the new revision runs on when it is missing, in the same change.
 *   configure     configure restart
 *   services      service-control
 * The worker's start-up is here too: mount the kept revisions before the
 * engine recovers interrupted changes, then point the current links at what
 * state.db says and start the services.
 *
 * This file does not journal, order or undo steps (txn.c does). */
#include <dirent.h>
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
#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "bases.h"
#include "conf.h"
#include "ctl.h"
#include "health.h"
#include "pkg/check.h"
#include "revs.h"
#include "schedule.h"
#include "services.h"
#include "steps.h"
#include "delta_fetch.h"
#include "store.h"

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

static void set_summary(struct txn *t, const char *summary)
{
	if (summary)
		IGNORE_RC(state_exec(t->db, NULL, "UPDATE changes SET summary=? WHERE id=?", "ti",
		                     summary, t->id));
}

/* The store through TUF. When its signed metadata expired (a freeze, or a
 * store that stopped signing), the error says since when, and state.db keeps
 * it (config tuf-unverified-since, shown by `ferry list`) until metadata
 * verifies again; then the next outcome report says how long it lasted
 * (config tuf-unverified-note, see report.c). */
static int open_store(struct txn *t, struct store *s, ferry_error *err)
{
	int rc = store_open(t->ag, s, err);
	_cleanup_free_ char *since = state_config_get(t->db, "tuf-unverified-since");
	char from[32], now[32];
	if (rc == 0) {
		if (!since)
			return 0;
		store_utc(strtoll(since, NULL, 10), from);
		store_utc(wall_s(), now);
		_cleanup_free_ char *note = str_dup_printf(
		    "updates could not be verified from %s (the store's signed metadata had "
		    "expired) until %s",
		    from, now);
		ferry_error e;
		if (!note || state_config_set(t->db, "tuf-unverified-note", note, &e) < 0 ||
		    state_config_set(t->db, "tuf-unverified-since", NULL, &e) < 0)
			log_warn("updates verified again: %s", note ? ferry_error_msg(&e) : "");
		log_info("%s", note ? note : "updates verified again");
		return 0;
	}
	int64_t expired = store_expired_since(t->ag);
	if (expired == 0)
		return rc;
	if (!since) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", (long long)expired);
		IGNORE_RC(state_config_set(t->db, "tuf-unverified-since", v, NULL));
	}
	store_utc(since ? strtoll(since, NULL, 10) : expired, from);
	/* in `ferry changes` too */
	json_t *row = NULL;
	if (state_query_row(t->db, &row, NULL, "SELECT summary FROM changes WHERE id=?", "i",
	                    t->id) == 0) {
		_cleanup_free_ char *summary = str_dup_printf(
		    "%s: updates cannot be verified since %s", jstr(row, "summary"), from);
		json_decref(row);
		set_summary(t, summary);
	}
	return ferry_error_prefix(err, rc,
	                          "updates cannot be verified since %s (the store's signed "
	                          "metadata expired then and was not renewed)",
	                          from);
}

/* The new revision t->to of a change from a local source, in state.db (status
 * new) and in the change's data, with the change's summary; one SQLite
 * transaction. */
static int record_new_revision(struct txn *t, const char *version, const char *sha, uint64_t size,
                               int local, const char *summary, ferry_error *err)
{
	json_object_set_new(t->data, "name", json_string(t->name));
	json_object_set_new(t->data, "from", json_string(t->from));
	json_object_set_new(t->data, "to", json_string(t->to));
	json_object_set_new(t->data, "version", json_string(version));
	if (*sha)
		json_object_set_new(t->data, "sha256", json_string(sha));
	int rc = state_begin(t->db, err);
	if (rc < 0)
		return rc;
	rc = state_exec(t->db, err,
	                "INSERT OR REPLACE INTO revisions(name, rev, version, sha256, size, local, "
	                "status, added)"
	                " VALUES(?, ?, ?, ?, ?, ?, 'new', ?)",
	                "ttttiii", t->name, t->to, version, sha, (int64_t)size, (int64_t)local,
	                wall_s());
	if (rc == 0)
		rc = txn_save_data(t, err);
	if (rc == 0)
		rc = state_exec(t->db, err, "UPDATE changes SET summary=? WHERE id=?", "ti",
		                summary ? summary : "", t->id);
	return state_end(t->db, rc, err);
}

static int step_prepare_file(struct txn *t, ferry_error *err)
{
	char incoming_dir[PATH_MAX], incoming[PATH_MAX], image[PATH_MAX];
	if (agent_path(t->ag, incoming_dir, "images/.incoming") < 0 ||
	    agent_path(t->ag, incoming, "images/.incoming/%lld.ferry", (long long)t->id) < 0)
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
		rc = open_store(t, &s, err);
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
	if (agent_path(t->ag, image, "images/%s_%s.ferry", t->name, t->to) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	if (rename(incoming, image) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "rename %s", image);
	rc = fs_fsync_parent(image, err);
	if (rc < 0)
		return rc;
	const char *how = dangerous ? "local file" : "local file, verified";
	_cleanup_free_ char *summary =
	    *t->from ? str_dup_printf("Refresh %s from revision %s to %s (%s)", t->name, t->from,
	                              t->to, how)
	             : str_dup_printf("Install %s revision %s (%s)", t->name, t->to, how);
	return record_new_revision(t, version, sha, size, dangerous ? REV_LOCAL_FILE : 0, summary,
	                           err);
}

/* ferry try DIR: DIR itself becomes revision xN, after the checks `ferry
 * pack` applies (the manifest, knowing the interfaces; the file-system
 * safety rules; hooks and commands). */
static int check_tried_dir(const char *dir, struct manifest **m, ferry_error *err)
{
	char yaml[PATH_MAX];
	if (str_printf(yaml, sizeof(yaml), "%s/meta/ferry.yaml", dir) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
	if (!fs_exists(yaml))
		return ferry_error_set(
		    err, FERRY_E_NOTFOUND,
		    "%s: no meta/ferry.yaml (ferry init %s writes a starting one)", dir, dir);
	int rc = manifest_load_strict(yaml, MANIFEST_KNOWN_INTERFACES, m, err);
	if (rc < 0)
		return rc;
	_cleanup_close_ int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "%s", dir);
	if (rc == 0)
		rc = pkg_check_safety(dir, err);
	if (rc == 0)
		rc = pkg_check_hooks(root, *m, err);
	if (rc == 0)
		rc = pkg_check_apps(root, *m, err);
	if (rc < 0) {
		manifest_free(*m);
		*m = NULL;
	}
	return rc;
}

static int step_prepare_dir(struct txn *t, ferry_error *err)
{
	const char *dir = jstr(t->data, "source");
	struct manifest *m = NULL;
	int rc = check_tried_dir(dir, &m, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "cannot try %s", dir);
	rc = str_copy(t->name, sizeof(t->name), m->name);
	_cleanup_free_ char *version = strdup(m->version);
	manifest_free(m);
	if (rc < 0 || !version)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: bad name", dir);
	char cur[STATE_REV_MAX] = "", link[PATH_MAX];
	rc = state_current(t->db, t->name, cur, NULL);
	if (rc < 0 && rc != FERRY_E_NOTFOUND)
		return ferry_error_set(err, rc, "state.db: read package %s", t->name);
	IGNORE_RC(str_copy(t->from, sizeof(t->from), rc == 0 ? cur : ""));
	rc = next_local_rev(t, t->to, err);
	if (rc < 0)
		return rc;
	if (agent_path(t->ag, link, "images/%s_%s.try", t->name, t->to) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	rc = symlink_replace(dir, link, err);
	if (rc < 0)
		return rc;
	_cleanup_free_ char *summary =
	    *t->from ? str_dup_printf("Try %s from %s (revision %s, was %s)", t->name, dir, t->to,
	                              t->from)
	             : str_dup_printf("Try %s from %s (revision %s)", t->name, dir, t->to);
	return record_new_revision(t, version, "", 0, REV_LOCAL_TRIED, summary, err);
}

/* Remove the new revision's image and row, unless it was kept already. */
static int forget_new_revision(struct txn *t, ferry_error *err)
{
	if (!*t->name || !*t->to || rev_ok(t, t->to))
		return 0;
	int rc = rev_forget_image(t->ag, t->name, t->to, err);
	if (rc < 0)
		return rc;
	return state_exec(t->db, err,
	                  "DELETE FROM revisions WHERE name=? AND rev=? AND status='new'", "tt",
	                  t->name, t->to);
}

static int undo_prepare(struct txn *t, ferry_error *err)
{
	char incoming[PATH_MAX];
	if (agent_path(t->ag, incoming, "images/.incoming/%lld.ferry", (long long)t->id) == 0) {
		unlink(incoming);
		char tmp[PATH_MAX + 8];
		snprintf(tmp, sizeof(tmp), "%s.tmp", incoming);
		unlink(tmp);
	}
	return forget_new_revision(t, err);
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

static int finish_early(struct txn *t, ferry_error *err)
{
	json_object_set_new(t->data, "note", json_string(t->note));
	set_summary(t, t->note);
	int rc = txn_save_data(t, err);
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
	int rc = open_store(t, &s, err);
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
	return txn_save_data(t, err);
}

static int step_download(struct txn *t, ferry_error *err)
{
	char image[PATH_MAX];
	if (agent_path(t->ag, image, "images/%s_%s.ferry", t->name, t->to) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	struct store s;
	int rc = open_store(t, &s, err);
	if (rc < 0)
		return rc;
	rc = delta_fetch_download(&s, t->name, t->from, t->to, image, t->data, err);
	store_close(&s);
	if (rc == 0)
		rc = txn_save_data(t, err);
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
	return forget_new_revision(t, err);
}

/* install, refresh from the store: when the new revision runs on a base
 * that is not installed, install that base in this change, from the
 * channel the manifest names (base-channel) or latest/stable. What this
 * change installs is kept in data "base" ({name, rev, channel, version,
 * sha256, size}) before anything is fetched, so that the undo, after a
 * failure or a crash, takes back exactly that; the commit keeps it. */
static int step_base(struct txn *t, ferry_error *err)
{
	char image[PATH_MAX], bimage[PATH_MAX], blink[PATH_MAX];
	if (agent_path(t->ag, image, "images/%s_%s.ferry", t->name, t->to) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	struct manifest *m = NULL;
	int rc = rev_image_manifest(image, &m, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s revision %s", t->name, t->to);
	json_t *b = json_object_get(t->data, "base");
	char cur[STATE_REV_MAX];
	if (!m->base || m->type == MANIFEST_TYPE_BASE ||
	    (!b && state_current(t->db, m->base, cur, NULL) == 0)) {
		manifest_free(m);
		return 0; /* none, or there already: the mount step checks it */
	}
	char bname[STATE_NAME_MAX], channel[CHANNEL_NAME_MAX];
	IGNORE_RC(str_copy(bname, sizeof(bname), m->base));
	IGNORE_RC(str_copy(channel, sizeof(channel),
	                   m->base_channel ? m->base_channel : "latest/stable"));
	manifest_free(m);
	struct store s;
	rc = open_store(t, &s, err);
	if (rc < 0)
		return rc;
	if (!b) {
		struct store_choice c;
		rc = store_resolve(&s, bname, channel, &c, err);
		if (rc < 0) {
			store_close(&s);
			return ferry_error_prefix(
			    err, rc,
			    "%s revision %s runs on the base %s, which is not "
			    "installed; it cannot be installed from %s",
			    t->name, t->to, bname, channel);
		}
		b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "name", bname, "rev", c.rev,
		              "channel", c.channel, "version", c.version, "sha256", c.sha256,
		              "size", (json_int_t)c.size);
		json_object_set_new(t->data, "base", b);
		rc = txn_save_data(t, err);
		if (rc < 0) {
			store_close(&s);
			return rc;
		}
	}
	const char *brev = jstr(b, "rev");
	if (agent_path(t->ag, bimage, "images/%s_%s.ferry", bname, brev) < 0 ||
	    agent_path(t->ag, blink, "mnt/%s/current", bname) < 0) {
		store_close(&s);
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	}
	log_info("%s revision %s runs on the base %s: installing %s revision %s (%s)", t->name,
	         t->to, bname, bname, brev, jstr(b, "channel"));
	rc = store_download(&s, bname, brev, bimage, err);
	store_close(&s);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "base %s revision %s", bname, brev);
	struct manifest *bm = NULL;
	rc = rev_image_manifest(bimage, &bm, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "base %s revision %s", bname, brev);
	bool ok = bm->type == MANIFEST_TYPE_BASE && strcmp(bm->name, bname) == 0;
	manifest_free(bm);
	if (!ok)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s revision %s runs on the base %s, but %s revision %s of "
		                       "the store is not a base of that name",
		                       t->name, t->to, bname, bname, brev);
	if (FAULT("base-fetched"))
		return ferry_error_set(err, FERRY_E_FAULT, "fault point base-fetched");
	rc = state_exec(t->db, err,
	                "INSERT OR IGNORE INTO revisions(name, rev, version, sha256, size, local, "
	                "status, added) VALUES(?, ?, ?, ?, ?, 0, 'new', ?)",
	                "ttttii", bname, brev, jstr(b, "version"), jstr(b, "sha256"),
	                (int64_t)json_integer_value(json_object_get(b, "size")), wall_s());
	if (rc == 0)
		rc = rev_mount(t->ag, bname, brev, err);
	if (rc == 0 && FAULT("base-mounted"))
		rc = ferry_error_set(err, FERRY_E_FAULT, "fault point base-mounted");
	if (rc == 0)
		rc = symlink_replace(brev, blink, err);
	if (rc == 0)
		rc = state_exec(t->db, err,
		                "INSERT OR IGNORE INTO packages(name, current, channel, installed) "
		                "VALUES(?, ?, ?, ?)",
		                "ttti", bname, brev, jstr(b, "channel"), wall_s());
	if (rc == 0)
		snprintf(t->note, sizeof(t->note), "Installed the base %s revision %s (%s)", bname,
		         brev, jstr(b, "channel"));
	return rc;
}

static int undo_base(struct txn *t, ferry_error *err)
{
	json_t *b = json_object_get(t->data, "base");
	if (!b)
		return 0;
	const char *bname = jstr(b, "name"), *brev = jstr(b, "rev");
	char mdir[PATH_MAX];
	if (agent_path(t->ag, mdir, "mnt/%s", bname) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	int rc = state_exec(t->db, err, "DELETE FROM packages WHERE name=? AND current=?", "tt",
	                    bname, brev);
	if (rc == 0)
		rc = rev_unmount(t->ag, bname, brev, err);
	if (rc == 0)
		rc = rev_forget_image(t->ag, bname, brev, err);
	if (rc == 0)
		rc = state_exec(t->db, err,
		                "DELETE FROM revisions WHERE name=? AND rev=? AND status='new'",
		                "tt", bname, brev);
	if (rc == 0)
		rc = fs_remove_tree(mdir, err);
	return rc;
}

/* The new base this change installed, kept (the commit's part). */
static int commit_base(struct txn *t, ferry_error *err)
{
	json_t *b = json_object_get(t->data, "base");
	if (!b)
		return 0;
	const char *bname = jstr(b, "name"), *brev = jstr(b, "rev");
	/* after a crash it may not be mounted yet */
	int rc = rev_mounted(t->ag, bname, brev) ? 0 : rev_mount(t->ag, bname, brev, err);
	if (rc < 0)
		return rc;
	return state_exec(t->db, err, "UPDATE revisions SET status='ok' WHERE name=? AND rev=?",
	                  "tt", bname, brev);
}

/* A check that reached the store: when (config refresh-last-check), what it
 * found (refresh-last-result), and how many automatic checks found nothing
 * (refresh-empty-checks; they are not kept as changes). For ferry refresh
 * --time. */
static void note_check(struct txn *t, bool automatic, size_t spawned, bool empty)
{
	char now[32], count[32];
	snprintf(now, sizeof(now), "%lld", (long long)wall_s());
	_cleanup_free_ char *result =
	    spawned ? str_dup_printf("%zu package%s to refresh", spawned, spawned == 1 ? "" : "s")
	            : strdup("nothing new");
	IGNORE_RC(state_config_set(t->db, "refresh-last-check", now, NULL));
	IGNORE_RC(state_config_set(t->db, "refresh-last-result", result ? result : "", NULL));
	if (!automatic || !empty)
		return;
	_cleanup_free_ char *n = state_config_get(t->db, "refresh-empty-checks");
	snprintf(count, sizeof(count), "%lld", (n ? strtoll(n, NULL, 10) : 0) + 1);
	IGNORE_RC(state_config_set(t->db, "refresh-empty-checks", count, NULL));
}

/* refresh (all or some): find what has something new and queue a refresh of
 * each. A general refresh skips held packages; an automatic one also skips
 * packages installed from a file. A list (ferry refresh --list) queues
 * nothing: it records what each package could be refreshed to, held ones
 * too, in "available". */
static int step_check(struct txn *t, ferry_error *err)
{
	bool automatic = json_is_true(json_object_get(t->data, "auto"));
	bool list = json_is_true(json_object_get(t->data, "list"));
	json_t *names = json_object_get(t->data, "names");
	json_t *rows = NULL;
	int rc = state_query(t->db, &rows, err,
	                     "SELECT name, current, channel FROM packages ORDER BY name", NULL);
	if (rc < 0)
		return rc;
	struct store s;
	rc = open_store(t, &s, err);
	if (rc < 0) {
		json_decref(rows);
		if (automatic) {
			/* try again sooner than the schedule: back-off from
			 * retry-delay, doubling, at most an hour */
			pthread_mutex_lock(&t->ag->lock);
			unsigned f = t->ag->refresh_failures < 20 ? ++t->ag->refresh_failures : 20;
			uint64_t ms = t->ag->retry_delay_ms << (f < 12 ? f : 12);
			int64_t soon = wall_s() + (int64_t)(ms > 3600000 ? 3600 : ms / 1000 + 1);
			/* retries too stay inside the refresh windows */
			if ((t->ag->refresh_next == 0 || soon < t->ag->refresh_next) &&
			    schedule_inside(t->ag->refresh_timer, soon))
				t->ag->refresh_next = soon;
			pthread_mutex_unlock(&t->ag->lock);
			uint64_t one = 1;
			IGNORE_RC(write(t->ag->wake_fd, &one, sizeof(one)) < 0);
			log_warn("automatic refresh failed; trying again in %lld s",
			         (long long)(soon - wall_s()));
		}
		return rc;
	}
	json_t *spawned = json_array(), *available = json_array();
	struct buf notes = BUF_INIT(8192);
	bool trouble = false; /* a package the store could not answer for */
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
		bool is_held = held(t->db, name);
		if (!list && json_array_size(names) == 0 && is_held) {
			IGNORE_RC(buf_printf(&notes, "%s: held\n", name));
			continue;
		}
		if (!list && automatic && cur[0] == 'x') {
			IGNORE_RC(buf_printf(&notes, "%s: installed from a file\n", name));
			continue;
		}
		struct store_choice c;
		ferry_error e2;
		if (store_resolve(&s, name, jstr(r, "channel"), &c, &e2) < 0) {
			IGNORE_RC(buf_printf(&notes, "%s: %s\n", name, ferry_error_msg(&e2)));
			trouble = true;
			continue;
		}
		if (strcmp(c.rev, cur) == 0)
			continue;
		IGNORE_RC(str_copy(t->name, sizeof(t->name), name));
		bool blocked = is_blocked(t, c.rev);
		if (list) {
			json_array_append_new(available,
			                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:b}",
			                                "name", name, "current", cur, "revision",
			                                c.rev, "version", c.version, "channel",
			                                c.channel, "size", (json_int_t)c.size,
			                                "held", is_held, "blocked", blocked));
			continue;
		}
		if (blocked) {
			IGNORE_RC(buf_printf(
			    &notes, "%s: revision %s failed or was reverted here\n", name, c.rev));
			continue;
		}
		_cleanup_free_ char *summary = str_dup_printf(
		    "Refresh %s from revision %s to %s (%s)", name, cur, c.rev, c.channel);
		json_t *data =
		    json_pack("{s:s, s:b, s:b}", "name", name, "auto", automatic, "devmode",
		              json_is_true(json_object_get(t->data, "devmode")));
		int64_t id = 0;
		rc = txn_create(t->ag, t->db, "refresh", name, summary ? summary : "Refresh", data,
		                &id, err);
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
		pthread_mutex_lock(&t->ag->lock);
		t->ag->refresh_failures = 0;
		pthread_mutex_unlock(&t->ag->lock);
	}
	size_t n = json_array_size(spawned);
	json_object_set_new(t->data, "changes", spawned);
	if (list)
		json_object_set_new(t->data, "available", available);
	else
		json_decref(available);
	if (notes.len)
		json_object_set_new(t->data, "note", json_stringn(notes.data, notes.len));
	buf_free(&notes);
	if (rc < 0)
		return rc;
	note_check(t, automatic, n, n == 0 && !trouble);
	/* an automatic check that found nothing is counted, not kept */
	if (automatic && n == 0 && !trouble)
		json_object_set_new(t->data, "forget", json_true());
	_cleanup_free_ char *summary =
	    list ? str_dup_printf("Refresh list: %zu package%s with something new",
	                          json_array_size(available),
	                          json_array_size(available) == 1 ? "" : "s")
	    : n  ? str_dup_printf("%s refresh: %zu package%s to refresh",
                                 automatic ? "Automatic" : "Manual", n, n == 1 ? "" : "s")
	         : str_dup_printf("%s refresh: nothing new", automatic ? "Automatic" : "Manual");
	set_summary(t, summary);
	return txn_save_data(t, err);
}

/* devmode (seccomp logs instead of denying) is the device's choice, not
 * the publisher's: a revision that asks for it runs only where the device
 * agreed (ferry install/refresh --devmode, kept in state.db until the
 * package is removed). */
static int devmode_consent(struct txn *t, ferry_error *err)
{
	if (json_is_true(json_object_get(t->data, "devmode")))
		return state_exec(t->db, err,
		                  "INSERT OR REPLACE INTO devmode(name, at) VALUES(?, ?)", "ti",
		                  t->name, wall_s());
	json_t *row = NULL;
	int rc =
	    state_query_row(t->db, &row, err, "SELECT at FROM devmode WHERE name=?", "t", t->name);
	json_decref(row);
	if (rc != FERRY_E_NOTFOUND)
		return rc;
	return ferry_error_set(err, FERRY_E_PERM,
	                       "%s revision %s asks for devmode confinement (system calls outside "
	                       "its rules are logged, not denied); this device has not allowed "
	                       "devmode for %s: install or refresh it with --devmode to allow it",
	                       t->name, t->to, t->name);
}

static int step_mount(struct txn *t, ferry_error *err)
{
	int rc = rev_mount(t->ag, t->name, t->to, err);
	if (rc < 0)
		return rc;
	struct manifest *m = NULL;
	rc = rev_manifest(t->ag, t->name, t->to, &m, err);
	if (rc < 0)
		return rc;
	if (strcmp(m->name, t->name) != 0)
		rc = ferry_error_set(err, FERRY_E_INVALID, "revision %s calls itself %s, not %s",
		                     t->to, m->name, t->name);
	if (rc == 0 && m->confinement == CONFINEMENT_DEVMODE)
		rc = devmode_consent(t, err);
	/* an app on a base that is not here (installed from a file: the
	 * store's installs bring the base with them, step base) */
	if (rc == 0)
		rc = base_require(t->ag, t->db, t->name, m, err);
	manifest_free(m);
	return rc;
}

static int undo_mount(struct txn *t, ferry_error *err)
{
	if (!*t->name || !*t->to || rev_ok(t, t->to))
		return 0;
	return rev_unmount(t->ag, t->name, t->to, err);
}

static int run_hook_of(struct txn *t, const char *rev, enum manifest_hook h, uint64_t timeout,
                       ferry_error *err)
{
	struct manifest *m = NULL;
	int rc = rev_manifest(t->ag, t->name, rev, &m, err);
	if (rc < 0)
		return rc;
	rc = hook_run(t->ag, t->db, t->name, rev, m, h, timeout, err);
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
	pkg_stop_services(t->ag, t->name);
	return 0;
}

static int undo_stop_services(struct txn *t, ferry_error *err)
{
	char cur[STATE_REV_MAX];
	if (state_current(t->db, t->name, cur, NULL) < 0)
		return 0; /* a first install: nothing ran before */
	if (!rev_mounted(t->ag, t->name, cur)) {
		int rc = rev_mount(t->ag, t->name, cur, err);
		if (rc < 0)
			return rc;
	}
	return pkg_start_services(t->ag, t->db, t->name, cur, false, err);
}

static int step_copy_data(struct txn *t, ferry_error *err)
{
	char dir[PATH_MAX], dst[PATH_MAX], part[PATH_MAX], src[PATH_MAX], common[PATH_MAX];
	if (agent_path(t->ag, dir, "data/%s", t->name) < 0 ||
	    agent_path(t->ag, dst, "data/%s/%s", t->name, t->to) < 0 ||
	    agent_path(t->ag, part, "data/%s/%s.part", t->name, t->to) < 0 ||
	    agent_path(t->ag, common, "data/%s/common", t->name) < 0)
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
		if (agent_path(t->ag, src, "data/%s/%s", t->name, t->from) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	} else if (agent_path(t->ag, src, "data/%s/saved", t->name) < 0) {
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
	if (agent_path(t->ag, dst, "data/%s/%s", t->name, t->to) < 0 ||
	    agent_path(t->ag, part, "data/%s/%s.part", t->name, t->to) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	int rc = fs_remove_tree(part, err);
	return rc < 0 ? rc : fs_remove_tree(dst, err);
}

/* Point mnt/NAME/current and data/NAME/current at rev (or remove them).
 * in_change: a fault point between the two, for crash tests. */
static int link_current(struct agent *ag, const char *name, const char *rev, bool in_change,
                        ferry_error *err)
{
	char mlink[PATH_MAX], dlink[PATH_MAX];
	if (agent_path(ag, mlink, "mnt/%s/current", name) < 0 ||
	    agent_path(ag, dlink, "data/%s/current", name) < 0)
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
	int rc = link_current(t->ag, t->name, rev, true, err);
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
	return pkg_start_services(t->ag, t->db, t->name, t->to, true, err);
}

static int undo_start_services(struct txn *t, ferry_error *err)
{
	(void)err;
	pkg_stop_services(t->ag, t->name);
	return 0;
}

static int step_health(struct txn *t, ferry_error *err)
{
	struct manifest *m = NULL;
	int rc = rev_manifest(t->ag, t->name, t->to, &m, err);
	if (rc < 0)
		return rc;
	rc = health_check(t->ag, t->db, t->name, t->to, m, err);
	manifest_free(m);
	return rc;
}

/* --- a base and the apps on it ------------------------------------------- */

/* A base refresh (revision to of a base over from): the packages whose
 * current revision runs on it, kept with the change before the switch, so
 * that the undo knows whom to restart after a crash. Nothing for any other
 * change. */
static int step_dependents(struct txn *t, ferry_error *err)
{
	if (!*t->from)
		return 0; /* a first install: nothing runs on it yet */
	struct manifest *m = NULL;
	int rc = rev_manifest(t->ag, t->name, t->to, &m, err);
	if (rc < 0)
		return rc;
	bool is_base = m->type == MANIFEST_TYPE_BASE;
	manifest_free(m);
	if (!is_base)
		return 0;
	json_t *users = NULL;
	rc = base_users(t->ag, t->db, t->name, true, &users, err);
	if (rc < 0)
		return rc;
	if (json_array_size(users) > 0) {
		_cleanup_free_ char *names = base_users_text(users);
		snprintf(t->note, sizeof(t->note), "On %s: %s", t->name, names ? names : "");
	}
	json_object_set_new(t->data, "dependents", users);
	return txn_save_data(t, err);
}

/* Restart the services of each dependent on the base revision current now. */
static int restart_dependents(struct txn *t, bool wait_ready, ferry_error *err)
{
	json_t *deps = json_object_get(t->data, "dependents");
	int rc = 0;
	size_t i;
	json_t *d;
	json_array_foreach(deps, i, d)
	{
		const char *name = json_string_value(d);
		char cur[STATE_REV_MAX];
		if (!name || state_current(t->db, name, cur, NULL) < 0)
			continue; /* removed meanwhile: nothing runs */
		pkg_stop_services(t->ag, name);
		ferry_error e;
		int r = pkg_start_services(t->ag, t->db, name, cur, wait_ready, &e);
		if (r < 0 && rc == 0) {
			rc = r;
			*err = e;
			ferry_error_prefix(err, rc, "%s revision %s on %s", name, cur, t->name);
		} else if (r < 0) {
			log_warn("%s: %s", name, ferry_error_msg(&e));
		}
	}
	return rc;
}

static int undo_dependents(struct txn *t, ferry_error *err)
{
	if (!json_is_true(json_object_get(t->data, "dependents-restarted")))
		return 0;
	/* the switch is undone: they start again on the old revision */
	log_info("%s: restarting the apps on it on revision %s", t->name, t->from);
	return restart_dependents(t, false, err);
}

static int step_restart_dependents(struct txn *t, ferry_error *err)
{
	if (json_array_size(json_object_get(t->data, "dependents")) == 0)
		return 0;
	json_object_set_new(t->data, "dependents-restarted", json_true());
	int rc = txn_save_data(t, err);
	if (rc < 0)
		return rc;
	if (FAULT("restart-dependents-saved"))
		return ferry_error_set(err, FERRY_E_FAULT, "fault point restart-dependents-saved");
	return restart_dependents(t, true, err);
}

/* Each app on the new base revision must be healthy (its check-health hook,
 * its daemons through the grace period), or the base rolls back. */
static int step_dependents_health(struct txn *t, ferry_error *err)
{
	json_t *deps = json_object_get(t->data, "dependents");
	size_t i;
	json_t *d;
	json_array_foreach(deps, i, d)
	{
		const char *name = json_string_value(d);
		char cur[STATE_REV_MAX];
		if (!name || state_current(t->db, name, cur, NULL) < 0)
			continue;
		struct manifest *m = NULL;
		int rc = rev_manifest(t->ag, name, cur, &m, err);
		if (rc == 0)
			rc = health_check(t->ag, t->db, name, cur, m, err);
		manifest_free(m);
		if (rc < 0) {
			json_object_set_new(t->data, "failed-dependent", json_string(name));
			IGNORE_RC(txn_save_data(t, NULL));
			/* ferry changes names it */
			json_t *row = NULL;
			if (state_query_row(t->db, &row, NULL,
			                    "SELECT summary FROM changes WHERE id=?", "i",
			                    t->id) == 0) {
				_cleanup_free_ char *summary = str_dup_printf(
				    "%s: %s is not healthy on it", jstr(row, "summary"), name);
				json_decref(row);
				set_summary(t, summary);
			}
			return ferry_error_prefix(err, rc,
			                          "%s revision %s is not healthy on %s revision %s",
			                          name, cur, t->name, t->to);
		}
	}
	return 0;
}

/* remove: a base stays while any revision of any package on the device
 * runs on it (the check is the API's too; here it holds for a change
 * queued before such a package was installed). */
static int refuse_base_in_use(struct agent *ag, sqlite3 *db, const char *name, ferry_error *err)
{
	if (!base_is_base(ag, db, name))
		return 0;
	json_t *users = NULL;
	int rc = base_users(ag, db, name, false, &users, err);
	if (rc < 0)
		return rc;
	size_t n = json_array_size(users);
	_cleanup_free_ char *names = base_users_text(users);
	json_decref(users);
	if (n == 0)
		return 0;
	return ferry_error_set(err, FERRY_E_EXISTS,
	                       "cannot remove the base %s: %s %s on it (a revision on the device "
	                       "names it); remove %s first",
	                       name, names ? names : "", n == 1 ? "runs" : "run",
	                       n == 1 ? "it" : "them");
}

int steps_refuse_base_in_use(struct agent *ag, sqlite3 *db, const char *name, ferry_error *err)
{
	return refuse_base_in_use(ag, db, name, err);
}

static int step_remove_stop(struct txn *t, ferry_error *err)
{
	int rc = refuse_base_in_use(t->ag, t->db, t->name, err);
	return rc < 0 ? rc : step_stop_services(t, err);
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
		if ((int)i < t->ag->retain - 1)
			continue;
		const char *rev = jstr(row, "rev");
		char data[PATH_MAX];
		ferry_error err;
		if (rev_unmount(t->ag, t->name, rev, &err) < 0 ||
		    rev_forget_image(t->ag, t->name, rev, &err) < 0) {
			log_warn("prune %s revision %s: %s", t->name, rev, ferry_error_msg(&err));
			continue;
		}
		if (agent_path(t->ag, data, "data/%s/%s", t->name, rev) == 0 &&
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
	int rc = rev_mount(t->ag, t->name, t->to, err);
	if (rc == 0)
		rc = commit_base(t, err);
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
	if (agent_path(t->ag, saved, "data/%s/saved", t->name) == 0)
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
		return txn_save_data(t, err);
	}
	return 0;
}

/* The remove change is ordered so that nothing that cannot be undone
 * happens before its point of no return: unmount (undone by mounting
 * again), forget (the package's rows, one SQLite transaction: the commit
 * point), then discard (the files, idempotent, finished after a crash). */
static int each_revision(struct txn *t,
                         int (*fn)(struct agent *, const char *, const char *, ferry_error *),
                         ferry_error *err)
{
	json_t *rows = NULL;
	int rc =
	    state_query(t->db, &rows, err, "SELECT rev FROM revisions WHERE name=?", "t", t->name);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (rc < 0)
			break;
		rc = fn(t->ag, t->name, jstr(row, "rev"), err);
	}
	json_decref(rows);
	return rc;
}

static int mount_if_needed(struct agent *ag, const char *name, const char *rev, ferry_error *err)
{
	return rev_mounted(ag, name, rev) ? 0 : rev_mount(ag, name, rev, err);
}

static int step_unmount(struct txn *t, ferry_error *err)
{
	int rc = link_current(t->ag, t->name, NULL, false, err);
	return rc < 0 ? rc : each_revision(t, rev_unmount, err);
}

static int undo_unmount(struct txn *t, ferry_error *err)
{
	int rc = each_revision(t, mount_if_needed, err);
	if (rc < 0 || !*t->from)
		return rc;
	return link_current(t->ag, t->name, t->from, false, err);
}

static int step_forget(struct txn *t, ferry_error *err)
{
	/* one transaction: a failure leaves the package all there */
	t->unchanged = true;
	bool purge = json_is_true(json_object_get(t->data, "purge"));
	/* the revisions the discard step deletes, kept with the change */
	json_t *rows = NULL;
	int rc =
	    state_query(t->db, &rows, err, "SELECT rev FROM revisions WHERE name=?", "t", t->name);
	if (rc < 0)
		return rc;
	if (json_array_size(rows) > 0) { /* a second run finds none: keep the first list */
		json_t *revs = json_array();
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		    json_array_append(revs, json_object_get(row, "rev"));
		json_object_set_new(t->data, "revisions", revs);
	}
	json_decref(rows);
	rc = state_begin(t->db, err);
	if (rc < 0)
		return rc;
	rc = txn_save_data(t, err);
	const char *stmts[] = {
	    "DELETE FROM packages WHERE name=?",    "DELETE FROM revisions WHERE name=?",
	    "DELETE FROM holds WHERE name=?",       "DELETE FROM blocked WHERE name=?",
	    "DELETE FROM connections WHERE name=?", "DELETE FROM devmode WHERE name=?",
	};
	for (size_t k = 0; k < ARRAY_SIZE(stmts) && rc == 0; k++)
		rc = state_exec(t->db, err, stmts[k], "t", t->name);
	if (rc == 0 && purge)
		rc = state_exec(t->db, err, "DELETE FROM pkg_config WHERE name=?", "t", t->name);
	/* the package's uid is freed with the files that belong to it: the
	 * discard step runs before any other change (at start-up too) */
	if (rc == 0 && purge)
		rc = state_exec(t->db, err, "DELETE FROM pkg_ids WHERE name=?", "t", t->name);
	if (rc == 0 && FAULT("forget-rows"))
		rc = ferry_error_set(err, FERRY_E_FAULT, "fault point forget-rows");
	return state_end(t->db, rc, err);
}

/* Past the point of no return: every deletion is tried, so that one that
 * fails does not keep the others; the first error is returned. */
static void keep_first(int *rc, int r, ferry_error *err, ferry_error *e)
{
	if (r < 0 && *rc == 0) {
		*rc = r;
		*err = *e;
	} else if (r < 0) {
		log_warn("%s", ferry_error_msg(e));
	}
}

static int step_discard(struct txn *t, ferry_error *err)
{
	bool purge = json_is_true(json_object_get(t->data, "purge"));
	int rc = 0;
	ferry_error e;
	size_t i;
	json_t *rev;
	json_array_foreach(json_object_get(t->data, "revisions"), i, rev)
	{
		const char *r = json_string_value(rev);
		if (!r)
			continue;
		ferry_error_clear(&e);
		int u = rev_unmount(t->ag, t->name, r, &e);
		keep_first(&rc, u, err, &e);
		/* a tried revision still bound keeps its link: never a removal
		 * through the mount */
		if (u == 0)
			keep_first(&rc, rev_forget_image(t->ag, t->name, r, &e), err, &e);
	}
	char mdir[PATH_MAX], ddir[PATH_MAX], cur[PATH_MAX], saved[PATH_MAX];
	if (agent_path(t->ag, mdir, "mnt/%s", t->name) < 0 ||
	    agent_path(t->ag, ddir, "data/%s", t->name) < 0 ||
	    agent_path(t->ag, cur, "data/%s/%s", t->name, t->from) < 0 ||
	    agent_path(t->ag, saved, "data/%s/saved", t->name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "root path too long");
	keep_first(&rc, fs_remove_tree(mdir, &e), err, &e);
	if (purge) {
		keep_first(&rc, fs_remove_tree(ddir, &e), err, &e);
	} else {
		/* Keep the data of the revision that ran last (as data/NAME/saved,
		 * which the next install starts from) and the common data. */
		if (*t->from && fs_exists(cur) && !fs_exists(saved) && rename(cur, saved) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "rename %s", cur);
		DIR *d = opendir(ddir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    !strcmp(de->d_name, "saved") || !strcmp(de->d_name, "common"))
				continue;
			char p[PATH_MAX];
			if (str_printf(p, sizeof(p), "%s/%s", ddir, de->d_name) == 0)
				keep_first(&rc, fs_remove_tree(p, &e), err, &e);
		}
		if (d)
			closedir(d);
	}
	ctl_forget(t->ag, t->name);
	if (purge) { /* the configuration hooks read goes with its rows */
		char conf[PATH_MAX];
		if (agent_path(t->ag, conf, "run/config/%s.json", t->name) == 0 &&
		    unlink(conf) < 0 && errno != ENOENT)
			log_warn("remove %s: %s", conf, strerror(errno));
	}
	pthread_mutex_lock(&t->ag->lock);
	svc_forget_package(t->ag, t->name);
	pthread_mutex_unlock(&t->ag->lock);
	char logs[PATH_MAX];
	if (purge && agent_path(t->ag, logs, "logs/%s", t->name) == 0)
		IGNORE_RC(fs_remove_tree(logs, NULL));
	return rc;
}

/* configure: the whole configuration as it was before is kept with the
 * change, so that an undo also takes back what the hook itself set with
 * ferry-ctl. */
static int step_configure(struct txn *t, ferry_error *err)
{
	int rc;
	if (!json_object_get(t->data, "before")) {
		json_t *before = NULL;
		rc = conf_all(t->db, t->name, &before, err);
		if (rc < 0)
			return rc;
		json_object_set_new(t->data, "before", before);
		rc = txn_save_data(t, err);
		if (rc < 0)
			return rc;
	}
	rc = conf_apply(t->db, t->name, json_object_get(t->data, "values"), err);
	if (rc == 0)
		rc = conf_write_file(t->ag, t->db, t->name, err);
	if (rc < 0)
		return rc;
	char cur[STATE_REV_MAX];
	rc = state_current(t->db, t->name, cur, err);
	if (rc < 0)
		return rc;
	return run_hook_of(t, cur, HOOK_CONFIGURE, 0, err);
}

/* Restart the services whose manifest asks for it (restart-on-configure),
 * when the configuration changed; wait until they started. */
static int restart_configured(struct txn *t, ferry_error *err)
{
	char cur[STATE_REV_MAX];
	int rc = state_current(t->db, t->name, cur, err);
	if (rc < 0)
		return rc;
	struct manifest *m = NULL;
	rc = rev_manifest(t->ag, t->name, cur, &m, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&t->ag->lock);
	for (size_t i = 0; i < m->n_apps && rc == 0; i++) {
		const struct manifest_app *a = &m->apps[i];
		if (a->daemon == DAEMON_NONE || !manifest_restarts_on_configure(m, a))
			continue;
		struct service *s = svc_find(t->ag, t->name, a->name);
		if (s && s->state == SVC_STOPPED)
			continue; /* stopped by the user: stays so */
		if (s)
			svc_stop_wait(t->ag, s);
		rc = svc_setup(t->ag, t->db, t->name, cur, m, a->name, &s, err);
		if (rc == 0) {
			s->exits = 0;
			rc = svc_start(t->ag, s, err);
		}
		log_info("%s.%s restarted: its configuration changed", t->name, a->name);
	}
	pthread_mutex_unlock(&t->ag->lock);
	manifest_free(m);
	return rc;
}

static int step_configure_restart(struct txn *t, ferry_error *err)
{
	json_t *after = NULL;
	int rc = conf_all(t->db, t->name, &after, err);
	if (rc < 0)
		return rc;
	bool changed = !json_equal(after, json_object_get(t->data, "before"));
	json_decref(after);
	if (!changed)
		return 0;
	json_object_set_new(t->data, "restarted", json_true());
	rc = txn_save_data(t, err);
	return rc < 0 ? rc : restart_configured(t, err);
}

static int undo_configure(struct txn *t, ferry_error *err)
{
	json_t *before = json_object_get(t->data, "before");
	json_t *old = json_object_get(t->data, "old"); /* a change of an older ferryd */
	if (!before && !old)
		return 0; /* the step did not start */
	int rc = before ? conf_replace(t->db, t->name, before, err)
	                : conf_apply(t->db, t->name, old, err);
	if (rc == 0)
		rc = conf_write_file(t->ag, t->db, t->name, err);
	if (rc == 0 && json_is_true(json_object_get(t->data, "restarted"))) {
		ferry_error e;
		/* they run with what they read: the configuration taken back */
		if (restart_configured(t, &e) < 0)
			log_warn("%s: %s", t->name, ferry_error_msg(&e));
	}
	return rc;
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
	rc = rev_manifest(t->ag, t->name, cur, &m, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&t->ag->lock);
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
		struct service *s = svc_find(t->ag, t->name, a->name);
		if (strcmp(action, "stop") == 0 || strcmp(action, "restart") == 0) {
			if (s)
				svc_stop_wait(t->ag, s);
		}
		if (strcmp(action, "start") == 0 || strcmp(action, "restart") == 0) {
			rc = svc_setup(t->ag, t->db, t->name, cur, m, a->name, &s, err);
			if (rc == 0) {
				s->exits = 0;
				rc = svc_start(t->ag, s, err);
			}
		}
	}
	pthread_mutex_unlock(&t->ag->lock);
	manifest_free(m);
	return rc;
}

static const struct step_def steps_install_file[] = {
    {"prepare-file", "Copy and verify the package file", step_prepare_file, undo_prepare, false,
     false},
    {"mount", "Mount the new revision read-only", step_mount, undo_mount, false, true},
    {"pre-refresh", "Run the pre-refresh hook of the old revision", step_pre_refresh, NULL, false,
     false},
    {"stop-services", "Stop the services of the old revision", step_stop_services,
     undo_stop_services, false, false},
    {"copy-data", "Copy the data of the old revision", step_copy_data, undo_copy_data, false,
     false},
    {"dependents", "Find the apps on the base", step_dependents, undo_dependents, false, false},
    {"switch", "Make the new revision current", step_switch, undo_switch, false, false},
    {"post-refresh", "Run the post-refresh (or install) hook of the new revision",
     step_post_refresh, NULL, false, true},
    {"start-services", "Start the services of the new revision", step_start_services,
     undo_start_services, false, true},
    {"restart-dependents", "Restart the apps on the base on its new revision",
     step_restart_dependents, NULL, false, true},
    {"health", "Check the health of the new revision", step_health, NULL, false, true},
    {"dependents-health", "Check the health of the apps on the base", step_dependents_health, NULL,
     false, true},
    {"commit", "Keep the new revision and prune old ones", step_commit, NULL, true, false},
    {NULL, NULL, NULL, NULL, false, false},
};

#define STEPS_FROM_MOUNT                                                                            \
	{"mount", "Mount the new revision read-only", step_mount, undo_mount, false, true},         \
	    {"pre-refresh",                                                                         \
	     "Run the pre-refresh hook of the old revision",                                        \
	     step_pre_refresh,                                                                      \
	     NULL,                                                                                  \
	     false,                                                                                 \
	     false},                                                                                \
	    {"stop-services",                                                                       \
	     "Stop the services of the old revision",                                               \
	     step_stop_services,                                                                    \
	     undo_stop_services,                                                                    \
	     false,                                                                                 \
	     false},                                                                                \
	    {"copy-data",    "Copy the data of the old revision",                                   \
	     step_copy_data, undo_copy_data,                                                        \
	     false,          false},                                                                \
	    {"dependents", "Find the apps on the base", step_dependents, undo_dependents, false,    \
	     false},                                                                                \
	    {"switch", "Make the new revision current", step_switch, undo_switch, false, false},    \
	    {"post-refresh",                                                                        \
	     "Run the post-refresh (or install) hook of the new revision",                          \
	     step_post_refresh,                                                                     \
	     NULL,                                                                                  \
	     false,                                                                                 \
	     true},                                                                                 \
	    {"start-services",                                                                      \
	     "Start the services of the new revision",                                              \
	     step_start_services,                                                                   \
	     undo_start_services,                                                                   \
	     false,                                                                                 \
	     true},                                                                                 \
	    {"restart-dependents",                                                                  \
	     "Restart the apps on the base on its new revision",                                    \
	     step_restart_dependents,                                                               \
	     NULL,                                                                                  \
	     false,                                                                                 \
	     true},                                                                                 \
	    {"health", "Check the health of the new revision", step_health, NULL, false, true},     \
	    {"dependents-health",                                                                   \
	     "Check the health of the apps on the base",                                            \
	     step_dependents_health,                                                                \
	     NULL,                                                                                  \
	     false,                                                                                 \
	     true},                                                                                 \
	    {"commit", "Keep the new revision and prune old ones", step_commit, NULL, true, false}, \
	{                                                                                           \
		NULL, NULL, NULL, NULL, false, false                                                \
	}

static const struct step_def steps_store[] = {
    {"resolve", "Find the revision the channel holds for this device", step_resolve, NULL, false,
     false},
    {"download", "Download the image and verify it against the signed metadata", step_download,
     undo_download, false, false},
    {"base", "Install the base the new revision runs on, when it is missing", step_base, undo_base,
     false, false},
    STEPS_FROM_MOUNT,
};

static const struct step_def steps_try[] = {
    {"prepare-dir", "Check the directory to try", step_prepare_dir, undo_prepare, false, false},
    STEPS_FROM_MOUNT,
};

static const struct step_def steps_check[] = {
    {"check", "Check the store for new revisions", step_check, NULL, false, false},
    {NULL, NULL, NULL, NULL, false, false},
};

static const struct step_def steps_revert[] = {
    {"stop-services", "Stop the services of the current revision", step_stop_services,
     undo_stop_services, false, false},
    {"switch", "Make the earlier revision current", step_switch, undo_switch, false, false},
    {"start-services", "Start the services of the earlier revision", step_start_services,
     undo_start_services, false, true},
    {"health", "Check the health of the earlier revision", step_health, NULL, false, true},
    {"commit-revert", "Keep the earlier revision", step_commit_revert, NULL, true, false},
    {NULL, NULL, NULL, NULL, false, false},
};

static const struct step_def steps_remove[] = {
    {"stop-services", "Stop the services", step_remove_stop, undo_stop_services, false, false},
    {"remove-hook", "Run the remove hook", step_remove_hook, NULL, false, false},
    {"unmount", "Unmount the revisions", step_unmount, undo_unmount, false, false},
    {"forget", "Forget the package", step_forget, NULL, true, false},
    {"discard", "Remove the revisions and their data", step_discard, NULL, true, false},
    {NULL, NULL, NULL, NULL, false, false},
};

static const struct step_def steps_configure[] = {
    {"configure", "Apply the configuration and run the configure hook", step_configure,
     undo_configure, false, false},
    {"restart", "Restart the services that ask for it on a change", step_configure_restart, NULL,
     false, false},
    {NULL, NULL, NULL, NULL, false, false},
};

static const struct step_def steps_services[] = {
    {"service-control", "Start, stop or restart services", step_service_control, NULL, false,
     false},
    {NULL, NULL, NULL, NULL, false, false},
};

static const struct txn_kind kinds[] = {
    {"install-file", steps_install_file},
    {"install", steps_store},
    {"refresh", steps_store},
    {"try", steps_try},
    {"refresh-all", steps_check},
    {"refresh-list", steps_check},
    {"revert", steps_revert},
    {"remove", steps_remove},
    {"configure", steps_configure},
    {"services", steps_services},
    {NULL, NULL},
};

static void mount_all(struct agent *ag, sqlite3 *db)
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
		if (rev_mounted(ag, name, rev))
			continue;
		if (rev_mount(ag, name, rev, &err) < 0)
			log_error("%s revision %s: %s", name, rev, ferry_error_msg(&err));
	}
	json_decref(rows);
}

static void start_all(struct agent *ag, sqlite3 *db)
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
		if (link_current(ag, jstr(r, "name"), jstr(r, "current"), false, &err) < 0)
			log_error("%s", ferry_error_msg(&err));
		if (pkg_start_services(ag, db, jstr(r, "name"), jstr(r, "current"), false, &err) <
		    0)
			log_error("%s", ferry_error_msg(&err));
	}
	json_decref(rows);
}

const struct txn_table steps_table = {
    .kinds = kinds,
    .before_recovery = mount_all,
    .after_recovery = start_all,
};
