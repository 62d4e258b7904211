/* publish.c: turns the database's channel maps into the signed TUF
 * repository devices read (lib/tuf/repo.h), in DIR/repo.
 *
 * Each package has a delegated role pkg-NAME; its targets are
 *   channels.json       the resolved channel map (channelmap.h), custom
 *                       {"generation": N}
 *   NAME_REV.ferry      the image of every revision a channel has referenced
 *                       (added at its first release, never removed)
 *   NAME_A-B.delta      the deltas kept between revisions (deltas.h)
 *
 * Order, so that a crash never leaves metadata pointing at a missing blob or
 * at a channel map the database does not hold:
 *   1. the database change commits first, bumping packages.map_gen;
 *   2. publish_package() reads the map (generation first), copies new
 *      images into the published tree, writes channels.json, and commits
 *      the repository, which writes the target files and lower roles, then
 *      snapshot, then timestamp.json last by atomic rename;
 *   3. packages.published_gen is raised to the generation published.
 * A crash before 3 leaves map_gen ahead of published_gen; publish_recover()
 * at start-up (and the job queue) publishes those packages again from the
 * database. Publishing is serialised: a mutex within the process and the
 * repository's lock file across processes (waited for, not failed on). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "channelmap.h"
#include "deltas.h"
#include "store.h"
#include "tuf/repo.h"

#define PUBLISH_LOCK_WAIT_MS 60000
#define PUBLISH_DELEGATED_WITHIN_S (7LL * 24 * 3600) /* of 90 days */

int publish_init(struct store *st, ferry_error *err)
{
	struct tuf_repo_config cfg;
	tuf_repo_config_default(&cfg);
	int rc = tuf_repo_init(st->repo, &cfg, err);
	return rc < 0 ? ferry_error_prefix(err, rc, "TUF repository %s", st->repo) : 0;
}

static int repo_open_wait(struct store *st, struct tuf_repo **repo, ferry_error *err)
{
	for (int waited = 0;; waited += 20) {
		int rc = tuf_repo_open(st->repo, repo, err);
		if (rc != FERRY_E_BUSY || waited >= PUBLISH_LOCK_WAIT_MS)
			return rc;
		ferry_error_clear(err);
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static int publish_locked(struct store *st, struct tuf_repo *repo, struct db *db,
                          const char *package, ferry_error *err)
{
	json_t *map = NULL;
	long long gen = 0;
	_cleanup_rows_ struct db_rows todo = DB_ROWS_INIT;
	_cleanup_rows_ struct db_rows deltas = DB_ROWS_INIT;
	int rc = channelmap_build(db, package, store_now(), &map, &gen, err);
	if (rc < 0)
		return rc;
	bool has = false;
	rc = tuf_repo_has_package(repo, package, &has, err);
	if (rc == 0 && !has)
		rc = tuf_repo_add_package(repo, package, NULL, 0, 0, err);
	if (rc == 0)
		rc =
		    db_run(db, &todo, err,
		           "SELECT revision, sha256, version FROM revisions WHERE package = $1 AND "
		           "published = 0",
		           package);
	json_t *revs = json_object_get(map, "revisions");
	/* which of todo become targets now: only those are marked published */
	_cleanup_free_ bool *added = calloc(todo.nrows + 1, sizeof(*added));
	if (rc == 0 && !added)
		rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < todo.nrows; i++) {
		if (!json_object_get(revs, db_cell(&todo, i, 0)))
			continue; /* not referenced by any channel: stays unpublished */
		added[i] = true;
		char target[256], blob[PATH_MAX];
		long long rev = db_cell_ll(&todo, i, 0);
		const char *h = db_cell(&todo, i, 1);
		channelmap_target_name(package, rev, target, sizeof(target));
		if (str_printf(blob, sizeof(blob), "%s/sha256/%.2s/%s", st->blobs, h, h) < 0) {
			rc = ferry_error_set(err, FERRY_E_LIMIT, "blob path too long");
			break;
		}
		json_t *custom = json_pack("{s:s, s:I, s:s}", "package", package, "revision",
		                           (json_int_t)rev, "version", db_cell(&todo, i, 2));
		rc = tuf_repo_add_target_file(repo, package, target, blob, custom, err);
		json_decref(custom);
	}
	if (rc == 0) {
		_cleanup_free_ char *text = json_dumps(map, JSON_COMPACT | JSON_SORT_KEYS);
		json_t *custom = json_pack("{s:I}", "generation", (json_int_t)gen);
		rc = text ? tuf_repo_add_target(repo, package, "channels.json", text, strlen(text),
		                                custom, err)
		          : ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		json_decref(custom);
	}
	/* deltas to what the channels reference now, from what they held: a
	 * pair is made once, so a job with nothing new ends at once */
	const char *rk;
	json_t *rv;
	json_object_foreach(revs, rk, rv)
	{
		if (rc == 0)
			rc = deltas_queue(db, package, rk, err);
	}
	json_decref(map);
	if (rc == 0)
		rc = deltas_add_targets(st, repo, db, package, &deltas, err);
	if (rc == 0 && FAULT("publish-before-commit"))
		rc = ferry_error_set(err, FERRY_E_FAULT, "fault point publish-before-commit");
	if (rc == 0)
		rc = tuf_repo_commit(repo, err);
	if (rc == 0 && FAULT("publish-after-commit"))
		rc = ferry_error_set(err, FERRY_E_FAULT, "fault point publish-after-commit");
	if (rc < 0)
		return rc;
	char gens[24];
	snprintf(gens, sizeof(gens), "%lld", gen);
	for (size_t i = 0; rc == 0 && i < todo.nrows; i++)
		if (added[i]) {
			rc = db_run(db, NULL, err,
			            "UPDATE revisions SET published = 1 WHERE package = $1 AND "
			            "revision = $2",
			            package, db_cell(&todo, i, 0));
		}
	if (rc == 0)
		rc = deltas_mark_published(db, package, &deltas, err);
	if (rc == 0)
		rc = db_run(db, NULL, err,
		            "UPDATE packages SET published_gen = $2 WHERE name = $1 AND "
		            "published_gen < $2",
		            package, gens);
	if (rc == 0)
		log_debug("published %s at generation %lld", package, gen);
	return rc;
}

int publish_package(struct store *st, struct db *db, const char *package, ferry_error *err)
{
	struct tuf_repo *repo = NULL;
	pthread_mutex_lock(&st->publish_lock);
	int rc = repo_open_wait(st, &repo, err);
	if (rc == 0)
		rc = publish_locked(st, repo, db, package, err);
	tuf_repo_close(repo);
	pthread_mutex_unlock(&st->publish_lock);
	return rc < 0 ? ferry_error_prefix(err, rc, "publish %s", package) : 0;
}

int publish_recover(struct store *st, struct db *db, size_t *count, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	*count = 0;
	int rc =
	    db_exec(db, "SELECT name FROM packages WHERE map_gen <> published_gen ORDER BY name",
	            NULL, 0, &rows, err);
	for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
		rc = publish_package(st, db, db_cell(&rows, i, 0), err);
		if (rc == 0)
			(*count)++;
	}
	return rc;
}

static int read_json(const char *path, json_t **out, ferry_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int rc = fs_read_file(path, 64u << 20, &text, &len, err);
	if (rc < 0)
		return rc;
	json_error_t jerr;
	*out = json_loadb(text, len, 0, &jerr);
	if (!*out)
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: %s", path, jerr.text);
	return 0;
}

/* The online delegated roles (bin-XX, pkg-NAME) are re-signed by their own
 * changes; the ones that do not change are re-signed here before they
 * expire. Their expiry is read from the published files that snapshot
 * names. */
static int touch_expiring_delegated(struct store *st, struct tuf_repo *repo, long long within_s,
                                    size_t *count, ferry_error *err)
{
	char path[PATH_MAX];
	json_t *ts = NULL, *snap = NULL;
	int rc = str_printf(path, sizeof(path), "%s/published/metadata/timestamp.json", st->repo);
	if (rc == 0)
		rc = read_json(path, &ts, err);
	long long sv = json_integer_value(
	    json_object_get(json_object_get(json_object_get(json_object_get(ts, "signed"), "meta"),
	                                    "snapshot.json"),
	                    "version"));
	json_decref(ts);
	if (rc == 0 && str_printf(path, sizeof(path), "%s/published/metadata/%lld.snapshot.json",
	                          st->repo, sv) < 0)
		rc = ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	if (rc == 0)
		rc = read_json(path, &snap, err);
	const char *name;
	json_t *info;
	time_t limit = time(NULL) + (time_t)within_s;
	json_object_foreach(json_object_get(json_object_get(snap, "signed"), "meta"), name, info)
	{
		if (rc < 0)
			break;
		if (!str_has_prefix(name, "bin-") && !str_has_prefix(name, "pkg-"))
			continue;
		json_t *role = NULL;
		long long v = json_integer_value(json_object_get(info, "version"));
		if (str_printf(path, sizeof(path), "%s/published/metadata/%lld.%s", st->repo, v,
		               name) < 0 ||
		    read_json(path, &role, NULL) < 0)
			continue; /* a role with no file yet is written at its first commit */
		const char *exp =
		    json_string_value(json_object_get(json_object_get(role, "signed"), "expires"));
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		bool soon =
		    !exp || !strptime(exp, "%Y-%m-%dT%H:%M:%SZ", &tm) || timegm(&tm) < limit;
		json_decref(role);
		if (!soon)
			continue;
		char rname[96];
		snprintf(rname, sizeof(rname), "%.*s", (int)(strlen(name) - strlen(".json")), name);
		rc = tuf_repo_touch(repo, rname, 0, err);
		if (rc == 0)
			(*count)++;
	}
	json_decref(snap);
	return rc;
}

int publish_resign_all(struct store *st, long long within_s, size_t *count, ferry_error *err)
{
	struct tuf_repo *repo = NULL;
	*count = 0;
	pthread_mutex_lock(&st->publish_lock);
	int rc = repo_open_wait(st, &repo, err);
	if (rc == 0)
		rc = tuf_repo_resign_expiring(repo, within_s, true, count, err);
	if (rc == 0 && *count)
		rc = tuf_repo_commit(repo, err);
	tuf_repo_close(repo);
	pthread_mutex_unlock(&st->publish_lock);
	return rc < 0 ? ferry_error_prefix(err, rc, "re-sign") : 0;
}

int publish_resign(struct store *st, long long within_s, size_t *count, ferry_error *err)
{
	struct tuf_repo *repo = NULL;
	size_t delegated = 0;
	*count = 0;
	pthread_mutex_lock(&st->publish_lock);
	int rc = repo_open_wait(st, &repo, err);
	if (rc == 0)
		rc =
		    touch_expiring_delegated(st, repo, PUBLISH_DELEGATED_WITHIN_S, &delegated, err);
	if (rc == 0)
		rc = tuf_repo_resign_expiring(repo, within_s, false, count, err);
	*count += delegated;
	if (rc == 0 && *count)
		rc = tuf_repo_commit(repo, err);
	tuf_repo_close(repo);
	pthread_mutex_unlock(&st->publish_lock);
	return rc < 0 ? ferry_error_prefix(err, rc, "re-sign") : 0;
}
