/* deltas.c: the store's delta job and the delta targets of a package's
 * role (deltas.h). The job runs on one instance (the job table); it makes
 * each delta with lib/pkg/delta (which checks that the new image rebuilds
 * byte for byte), keeps it only when it is small enough, and stores it
 * like an image: blobs/sha256/AB/HEX, written to a temporary file first. A
 * failure to make one delta is recorded on its row and does not stop the
 * others: a device without a delta downloads the full image. */
#include "deltas.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "crypto/digest.h"
#include "jobs.h"
#include "pkg/delta.h"

static int blob_path(struct store *st, const char *sha, char *out, size_t size)
{
	return str_printf(out, size, "%s/sha256/%.2s/%s", st->blobs, sha, sha);
}

int deltas_queue(struct db *db, const char *package, const char *rev, ferry_error *err)
{
	char arg[JOBS_ARG_MAX];
	if (str_printf(arg, sizeof(arg), "%s/%s", package, rev) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "delta job argument too long");
	return jobs_enqueue(db, "delta", arg, store_now() + DELTAS_DELAY_S, err);
}

static int record(struct db *db, const char *package, const char *from, const char *to,
                  const char *state, const char *sha, long long size, long long full,
                  const char *error, ferry_error *err)
{
	char sz[24], fs[24], now[24];
	snprintf(sz, sizeof(sz), "%lld", size);
	snprintf(fs, sizeof(fs), "%lld", full);
	snprintf(now, sizeof(now), "%lld", store_now());
	return db_run(db, NULL, err,
	              "INSERT INTO deltas (package, from_rev, to_rev, state, sha256, size, "
	              "full_size, error, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
	              package, from, to, state, sha, sha ? sz : NULL, fs, error, now);
}

/* Make the delta from -> to, keep or drop it, and record the row. Returns
 * 1 when a delta was kept. */
static int make_one(struct store *st, struct db *db, const char *package, const char *from,
                    const char *from_sha, const char *to, const char *to_sha, long long full,
                    ferry_error *err)
{
	char a[PATH_MAX], b[PATH_MAX], tmp[PATH_MAX], dest[PATH_MAX];
	struct delta_stats stats;
	ferry_error derr = {0};
	if (blob_path(st, from_sha, a, sizeof(a)) < 0 || blob_path(st, to_sha, b, sizeof(b)) < 0 ||
	    str_printf(tmp, sizeof(tmp), "%s/delta-%s-%s-%s.tmp", st->tmp, package, from, to) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	unlink(tmp);
	/* a test fails the making here, or holds the job in its lane (pause) */
	int made = FAULT("deltas.make")
	               ? ferry_error_set(&derr, FERRY_E_FAULT, "fault point deltas.make")
	               : delta_make(a, b, tmp, &stats, &derr);
	if (made < 0) {
		log_warn("delta %s %s->%s: %s", package, from, to, ferry_error_msg(&derr));
		return record(db, package, from, to, "failed", NULL, 0, full,
		              ferry_error_msg(&derr), err);
	}
	if (stats.delta_size * 100 >= (uint64_t)full * DELTAS_KEEP_PCT) {
		unlink(tmp);
		log_info("delta %s %s->%s: %llu bytes, not under %d%% of %lld: dropped", package,
		         from, to, (unsigned long long)stats.delta_size, DELTAS_KEEP_PCT, full);
		return record(db, package, from, to, "large", NULL, 0, full, NULL, err);
	}
	struct crypto_file_digests d;
	int rc = crypto_digest_file_all(tmp, &d, err);
	if (rc == 0 && (blob_path(st, d.sha256, dest, sizeof(dest)) < 0))
		rc = ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	char dir[PATH_MAX];
	if (rc == 0 && str_printf(dir, sizeof(dir), "%s/sha256/%.2s", st->blobs, d.sha256) < 0)
		rc = ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	if (rc == 0)
		rc = fs_mkdir_p(dir, 0755, err);
	if (rc == 0 && rename(tmp, dest) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "rename %s", tmp);
	if (rc == 0)
		rc = fs_fsync_parent(dest, err);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	log_info("delta %s %s->%s: %llu bytes (%.1f%% of %lld)", package, from, to,
	         (unsigned long long)d.size, 100.0 * (double)d.size / (double)full, full);
	rc = record(db, package, from, to, "kept", d.sha256, (long long)d.size, full, NULL, err);
	return rc < 0 ? rc : 1;
}

int deltas_job(struct store *st, struct db *db, const char *arg, bool *again, long long *next,
               ferry_error *err)
{
	char package[JOBS_ARG_MAX];
	*again = false;
	*next = 0;
	const char *slash = strrchr(arg, '/');
	if (!slash || (size_t)(slash - arg) >= sizeof(package))
		return ferry_error_set(err, FERRY_E_INVALID, "delta job %s: expected NAME/REV",
		                       arg);
	memcpy(package, arg, (size_t)(slash - arg));
	package[slash - arg] = '\0';
	const char *to = slash + 1;

	_cleanup_rows_ struct db_rows target = DB_ROWS_INIT;
	_cleanup_rows_ struct db_rows from = DB_ROWS_INIT;
	char limit[8], sources[8];
	snprintf(limit, sizeof(limit), "%d", DELTAS_FROM_MAX);
	snprintf(sources, sizeof(sources), "%d", DELTAS_SOURCES_MAX);
	int rc = db_run(db, &target, err,
	                "SELECT sha256, size FROM revisions WHERE package = $1 AND revision = $2",
	                package, to);
	if (rc == 0 && target.nrows == 0)
		return 0; /* gone since */
	if (rc == 0)
		rc = db_run(
		    db, &from, err,
		    "SELECT r.revision, r.sha256 FROM revisions r WHERE r.package = $1 AND "
		    "r.revision <> $2 AND r.published = 1 AND NOT EXISTS (SELECT 1 FROM deltas "
		    "d WHERE d.package = r.package AND d.from_rev = r.revision AND d.to_rev = "
		    "$2) AND (r.revision IN (SELECT revision FROM channels WHERE package = $1 "
		    "UNION SELECT progressive_revision FROM channels WHERE package = $1 "
		    "UNION SELECT previous_revision FROM channels WHERE package = $1) OR "
		    "r.revision IN (SELECT revision FROM revisions WHERE package = $1 AND "
		    "published = 1 AND revision < $2 ORDER BY revision DESC LIMIT $3)) "
		    "ORDER BY r.revision DESC LIMIT $4",
		    package, to, limit, sources);
	int kept = 0;
	bool stopped = false;
	for (size_t i = 0; rc == 0 && i < from.nrows; i++) {
		/* a stopping store ends the job between two deltas: the pairs
		 * made are recorded, so the next run starts where this one
		 * stopped */
		if (st->stopping) {
			stopped = true;
			break;
		}
		int made = make_one(st, db, package, db_cell(&from, i, 0), db_cell(&from, i, 1), to,
		                    db_cell(&target, 0, 0), db_cell_ll(&target, 0, 1), err);
		if (made < 0)
			rc = made;
		else if (made > 0)
			kept++;
	}
	if (rc >= 0 && kept)
		rc = publish_package(st, db, package, err);
	if (rc < 0 || stopped) {
		*again = true;
		*next = store_now() + (rc < 0 ? JOBS_RETRY_S : 0);
		return rc;
	}
	return 0;
}

int deltas_add_targets(struct store *st, struct tuf_repo *repo, struct db *db, const char *package,
                       struct db_rows *rows, ferry_error *err)
{
	int rc =
	    db_run(db, rows, err,
	           "SELECT from_rev, to_rev, sha256 FROM deltas WHERE package = $1 AND state = "
	           "'kept' AND published = 0",
	           package);
	for (size_t i = 0; rc == 0 && i < rows->nrows; i++) {
		char name[512], blob[PATH_MAX];
		long long f = db_cell_ll(rows, i, 0), t = db_cell_ll(rows, i, 1);
		if (delta_target_name(package, f, t, name, sizeof(name)) < 0 ||
		    blob_path(st, db_cell(rows, i, 2), blob, sizeof(blob)) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "delta target name too long");
		json_t *custom = json_pack("{s:s, s:I, s:I}", "package", package, "from",
		                           (json_int_t)f, "to", (json_int_t)t);
		rc = tuf_repo_add_target_file(repo, package, name, blob, custom, err);
		json_decref(custom);
	}
	return rc;
}

int deltas_mark_published(struct db *db, const char *package, const struct db_rows *rows,
                          ferry_error *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < rows->nrows; i++)
		rc = db_run(
		    db, NULL, err,
		    "UPDATE deltas SET published = 1 WHERE package = $1 AND from_rev = $2 AND "
		    "to_rev = $3",
		    package, db_cell(rows, i, 0), db_cell(rows, i, 1));
	return rc;
}

int deltas_annotate(struct db *db, const char *package, json_t *map, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_run(db, &rows, err,
	                "SELECT to_revision, count(*), "
	                "sum(CASE WHEN download = 'delta' THEN 1 ELSE 0 END), sum(downloaded), "
	                "sum(saved) FROM reports WHERE package = $1 AND download IS NOT NULL "
	                "GROUP BY to_revision ORDER BY to_revision DESC LIMIT 10",
	                package);
	if (rc < 0)
		return rc;
	json_t *list = json_array();
	if (!list)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < rows.nrows; i++)
		json_array_append_new(list,
		                      json_pack("{s:I, s:I, s:I, s:I, s:I}", "revision",
		                                (json_int_t)db_cell_ll(&rows, i, 0), "downloads",
		                                (json_int_t)db_cell_ll(&rows, i, 1), "deltas",
		                                (json_int_t)db_cell_ll(&rows, i, 2), "downloaded",
		                                (json_int_t)db_cell_ll(&rows, i, 3), "saved",
		                                (json_int_t)db_cell_ll(&rows, i, 4)));
	json_object_set_new(map, "downloads", list);
	return 0;
}
