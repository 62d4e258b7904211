/* vulns.c: vulnerability notices in the store, the domain part (see
 * vulns.h for how the parts fit): advisories imported into the database,
 * the components of each revision read from its SBOM, and the evaluation
 * of a package's released revisions (or of one advisory package name
 * across the packages bundling it) into findings with their history and
 * the notices they make.
 *
 * The matching is lib/vuln's: an evaluation loads, for each (family, name)
 * its components are known by, the live advisories naming it from the
 * database into a lib/vuln index and asks the index. Nothing is cached
 * across jobs, so every instance sees the same advisories.
 *
 * Not here: the scan jobs and the watch that queues them (vulns_job.c),
 * GET /v1/packages/NAME/vulns (vulns_routes.c), the `ferry-store vulns`
 * commands (vulns_admin.c), webhooks and their deliveries (webhooks.c). */
#include "vulns.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "jobs.h"
#include "pkg/sbom.h"
#include "vuln/index.h"
#include "vuln/match.h"
#include "vuln/notice.h"
#include "store.h"
#include "vuln/osv.h"
#include "webhooks.h"

#define VULNS_BATCH 500      /* advisories per import transaction */
#define VULNS_INDEX_BATCH 50 /* revisions per indexing transaction */
#define VULNS_KEY_BATCH 50   /* packages per transaction of a vulnkey scan */
#define VULNS_KEY_MAX 200    /* bytes of "FAMILY:NAME" */

static char *ll_str(char buf[24], long long v)
{
	snprintf(buf, 24, "%lld", v);
	return buf;
}

/* (family, name) as stored: the ecosystem before any ':' ("Debian:12" ->
 * "Debian"), and PyPI names normalised as PEP 503 says (lib/vuln does the
 * same), so that both sides of the join agree. Fails when too long. */
static int key_norm(const char *ecosystem, const char *name, char fam[64], char nm[VULNS_KEY_MAX])
{
	size_t flen = strcspn(ecosystem, ":");
	size_t nlen = strlen(name);
	if (flen == 0 || flen >= 64 || nlen == 0 || flen + 1 + nlen >= VULNS_KEY_MAX)
		return FERRY_E_LIMIT;
	memcpy(fam, ecosystem, flen);
	fam[flen] = '\0';
	bool pypi = strcmp(fam, "PyPI") == 0;
	for (size_t i = 0; i <= nlen; i++) {
		char ch = name[i];
		if (pypi)
			ch = (ch >= 'A' && ch <= 'Z')   ? (char)(ch + 32)
			     : (ch == '_' || ch == '.') ? '-'
			                                : ch;
		nm[i] = ch;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* import                                                              */

struct import_state {
	struct db *db;
	char source[24];
	char now[24];
	struct vulns_import_counts *cnt;
	json_t *keys; /* "FAMILY\tNAME" -> true: changed in this batch */
	size_t in_batch;
	bool committed; /* a batch (and so the source's row) was committed */
	vulns_reject_fn on_reject;
	void *ctx;
	ferry_error *err;
};

static int add_key(struct import_state *s, const char *family, const char *name)
{
	char k[VULNS_KEY_MAX + 64];
	snprintf(k, sizeof(k), "%s\t%s", family, name);
	return json_object_set_new(s->keys, k, json_true()) == 0 ? 0 : FERRY_E_NOMEM;
}

/* Queue a vulnkey job for every changed key that a revision bundles, record
 * the counts so far, and commit the batch. */
static int import_flush(struct import_state *s)
{
	struct db *db = s->db;
	if (!db->in_txn)
		return 0;
	const char *k;
	json_t *v;
	int rc = 0;
	json_object_foreach(s->keys, k, v)
	{
		char fam[64], arg[VULNS_KEY_MAX + 64];
		const char *tab = strchr(k, '\t');
		snprintf(fam, sizeof(fam), "%.*s", (int)(tab - k), k);
		_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
		rc = db_run(
		    db, &rows, s->err,
		    "SELECT 1 FROM revision_components WHERE family = $1 AND name = $2 LIMIT 1",
		    fam, tab + 1);
		if (rc < 0)
			return rc;
		if (rows.nrows == 0)
			continue;
		snprintf(arg, sizeof(arg), "%s:%s", fam, tab + 1);
		if ((rc = jobs_enqueue(db, "vulnkey", arg, store_now(), s->err)) < 0)
			return rc;
		s->cnt->jobs++;
	}
	json_object_clear(s->keys);
	char c[9][24];
	rc = db_run(
	    db, NULL, s->err,
	    "UPDATE vuln_sources SET files = $2, records = $3, added = $4, replaced = $5, "
	    "unchanged = $6, older = $7, withdrawn = $8, rejected = $9 WHERE id = $1",
	    s->source, ll_str(c[0], (long long)s->cnt->files),
	    ll_str(c[1], (long long)s->cnt->records), ll_str(c[2], (long long)s->cnt->added),
	    ll_str(c[3], (long long)s->cnt->replaced), ll_str(c[4], (long long)s->cnt->unchanged),
	    ll_str(c[5], (long long)s->cnt->older), ll_str(c[6], (long long)s->cnt->withdrawn),
	    ll_str(c[7], (long long)s->cnt->rejected));
	if (rc == 0)
		rc = db_commit(db, s->err);
	s->committed |= rc == 0;
	s->in_batch = 0;
	return rc;
}

static int import_record(struct import_state *s, struct osv_record *rec)
{
	struct db *db = s->db;
	int rc = 0;
	if (!db->in_txn && (rc = db_begin(db, true, s->err)) < 0)
		return rc;
	_cleanup_rows_ struct db_rows old = DB_ROWS_INIT;
	rc = db_run(db, &old, s->err, "SELECT digest, modified FROM advisories WHERE id = $1",
	            rec->id);
	if (rc < 0)
		return rc;
	s->cnt->records++;
	if (old.nrows && str_eq(db_cell(&old, 0, 0), rec->digest)) {
		s->cnt->unchanged++;
		goto next;
	}
	if (old.nrows && rec->modified_ts < db_cell_ll(&old, 0, 1)) {
		s->cnt->older++;
		goto next;
	}
	if (old.nrows) {
		_cleanup_rows_ struct db_rows pk = DB_ROWS_INIT;
		rc = db_run(db, &pk, s->err,
		            "SELECT family, name FROM advisory_packages WHERE advisory = $1",
		            rec->id);
		for (size_t i = 0; rc == 0 && i < pk.nrows; i++)
			rc = add_key(s, db_cell(&pk, i, 0), db_cell(&pk, i, 1));
		if (rc == 0)
			rc = db_run(db, NULL, s->err,
			            "DELETE FROM advisory_packages WHERE advisory = $1", rec->id);
		if (rc < 0)
			return rc;
	}
	char mod[24], wd[24];
	int64_t wts = 0;
	if (rec->withdrawn && osv_parse_time(rec->withdrawn, &wts) < 0)
		wts = rec->modified_ts;
	rc = db_run(
	    db, NULL, s->err,
	    "INSERT INTO advisories (id, modified, digest, withdrawn, record, source, imported, "
	    "updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO UPDATE SET "
	    "modified = $2, digest = $3, withdrawn = $4, record = $5, source = $6, updated = $7",
	    rec->id, ll_str(mod, rec->modified_ts), rec->digest,
	    rec->withdrawn ? ll_str(wd, wts) : NULL, rec->json, s->source, s->now);
	if (rc < 0)
		return rc;
	if (old.nrows)
		s->cnt->replaced++;
	else
		s->cnt->added++;
	if (rec->withdrawn) {
		s->cnt->withdrawn++;
		goto next;
	}
	for (size_t i = 0; i < rec->n_affected; i++) {
		const struct osv_affected *a = &rec->affected[i];
		char fam[64], nm[VULNS_KEY_MAX];
		if (!a->ecosystem || !a->name || key_norm(a->ecosystem, a->name, fam, nm) < 0)
			continue;
		rc = db_run(
		    db, NULL, s->err,
		    "INSERT INTO advisory_packages (advisory, family, name) VALUES ($1, $2, $3) "
		    "ON CONFLICT DO NOTHING",
		    rec->id, fam, nm);
		if (rc == 0)
			rc = add_key(s, fam, nm);
		if (rc < 0)
			return rc;
	}
next:
	if (++s->in_batch >= VULNS_BATCH)
		return import_flush(s);
	return 0;
}

static int on_import_record(void *ctx, struct osv_record *rec, const char *origin)
{
	(void)origin;
	struct import_state *s = ctx;
	int rc = rec->json ? import_record(s, rec)
	                   : ferry_error_set(s->err, FERRY_E_INTERNAL, "record %s: no JSON kept",
	                                     rec->id);
	if (rc < 0)
		ferry_error_prefix(s->err, rc, "advisory %s", rec->id);
	osv_record_free(rec);
	return rc;
}

static void on_import_reject(void *ctx, const char *origin, const char *id, const ferry_error *why)
{
	struct import_state *s = ctx;
	s->cnt->rejected++;
	if (s->on_reject)
		s->on_reject(s->ctx, origin, id, why);
}

int vulns_import(struct db *db, const char *path, vulns_reject_fn on_reject, void *ctx,
                 struct vulns_import_counts *out, ferry_error *err)
{
	struct vulns_import_counts cnt0 = {0};
	struct vulns_import_counts *cnt = out ? out : &cnt0;
	*cnt = cnt0;
	char abs[PATH_MAX];
	if (!realpath(path, abs))
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", path);
	struct import_state s = {
	    .db = db, .cnt = cnt, .on_reject = on_reject, .ctx = ctx, .err = err};
	ll_str(s.now, store_now());
	s.keys = json_object();
	if (!s.keys)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	/* the source's row goes in with the first batch, its end with the
	 * last: one commit for a small import */
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_begin(db, true, err);
	if (rc == 0)
		rc = db_run(db, &rows, err,
		            "INSERT INTO vuln_sources (path, started) VALUES ($1, $2) RETURNING id",
		            abs, s.now);
	if (rc < 0) {
		db_rollback(db);
		json_decref(s.keys);
		return rc;
	}
	snprintf(s.source, sizeof(s.source), "%s", db_cell(&rows, 0, 0));
	struct osv_limits lim;
	osv_limits_default(&lim);
	lim.keep_json = true;
	struct osv_import_stats st = {0};
	rc = osv_import_path(abs, &lim, on_import_record, on_import_reject, &s, &st, err);
	cnt->files = st.files;
	char fin[24], files[24], rej[24];
	ll_str(fin, store_now());
	ll_str(files, (long long)st.files);
	if (rc == 0 && !db->in_txn)
		rc = db_begin(db, true, err);
	if (rc == 0)
		rc = db_run(db, NULL, err, "UPDATE vuln_sources SET finished = $2 WHERE id = $1",
		            s.source, fin);
	if (rc == 0)
		rc = import_flush(&s);
	db_rollback(db); /* the batch in progress when a record failed */
	json_decref(s.keys);
	if (rc == 0)
		return 0;
	/* the failure, on the source's row (made anew when no batch had been
	 * committed) */
	ferry_error e2 = {0};
	ll_str(rej, (long long)cnt->rejected);
	if ((s.committed
	         ? db_run(db, NULL, &e2,
	                  "UPDATE vuln_sources SET finished = $2, files = $3, rejected = $4, "
	                  "error = $5 WHERE id = $1",
	                  s.source, fin, files, rej, ferry_error_msg(err))
	         : db_run(db, NULL, &e2,
	                  "INSERT INTO vuln_sources (path, started, finished, files, rejected, "
	                  "error) VALUES ($1, $2, $3, $4, $5, $6)",
	                  abs, s.now, fin, files, rej, ferry_error_msg(err))) < 0)
		log_warn("vulns import: %s", ferry_error_msg(&e2));
	return rc;
}

/* ------------------------------------------------------------------ */
/* the components of revisions                                         */

static int index_one(struct db *db, const char *package, const char *rev, const char *sbom,
                     ferry_error *err)
{
	struct sbom_component *comps = NULL;
	size_t n = 0, added = 0, skipped = 0;
	if (sbom && *sbom) {
		ferry_error serr = {0};
		if (sbom_read_components(sbom, strlen(sbom), &comps, &n, &serr) < 0) {
			log_warn("%s revision %s: SBOM not read: %s", package, rev,
			         ferry_error_msg(&serr));
			skipped = 1;
		}
	}
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct vuln_component c;
		char fam[64], nm[VULNS_KEY_MAX];
		if (!comps[i].purl || vuln_component_from_purl(comps[i].purl, &c, NULL) < 0 ||
		    key_norm(c.ecosystem, c.name, fam, nm) < 0) {
			skipped++;
			continue;
		}
		rc = db_run(
		    db, NULL, err,
		    "INSERT INTO revision_components (package, revision, purl, family, name) "
		    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
		    package, rev, comps[i].purl, fam, nm);
		added++;
	}
	sbom_components_free(comps, n);
	char a[24], s[24], now[24];
	if (rc == 0)
		rc = db_run(
		    db, NULL, err,
		    "INSERT INTO vuln_indexed (package, revision, components, skipped, indexed) "
		    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
		    package, rev, ll_str(a, (long long)added), ll_str(s, (long long)skipped),
		    ll_str(now, store_now()));
	return rc;
}

int vulns_index_revisions(struct db *db, const char *package, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc =
	    db_run(db, &rows, err,
	           "SELECT r.revision, r.sbom FROM revisions r LEFT JOIN vuln_indexed v ON "
	           "v.package = r.package AND v.revision = r.revision WHERE r.package = $1 AND "
	           "v.package IS NULL ORDER BY r.revision",
	           package);
	/* a few revisions per transaction: one after an upload, all of a
	 * package's in a few commits after an upgrade */
	for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
		if (i % VULNS_INDEX_BATCH == 0)
			rc = db_begin(db, true, err);
		if (rc == 0)
			rc =
			    index_one(db, package, db_cell(&rows, i, 0), db_cell(&rows, i, 1), err);
		if (rc == 0 &&
		    (i % VULNS_INDEX_BATCH == VULNS_INDEX_BATCH - 1 || i + 1 == rows.nrows))
			rc = db_commit(db, err);
	}
	db_rollback(db);
	return rc < 0 ? ferry_error_prefix(err, rc, "index %s", package) : 0;
}

/* ------------------------------------------------------------------ */
/* evaluation                                                          */

static int risk_rank(const char *risk)
{
	static const char *const r[] = {"stable", "candidate", "beta", "edge"};
	for (int i = 0; i < 4; i++)
		if (strcmp(r[i], risk) == 0)
			return i;
	return 4;
}

struct chan {
	const char *track, *risk, *branch;
	long long rev;
};

static int chan_cmp(const void *a, const void *b)
{
	const struct chan *x = a, *y = b;
	int d = strcmp(x->track, y->track);
	if (d == 0)
		d = risk_rank(x->risk) - risk_rank(y->risk);
	if (d == 0)
		d = strcmp(x->branch, y->branch);
	return d;
}

/* The released revisions of a package: {"REV": ["track/risk", ...]}. */
static int released_revisions(struct db *db, const char *package, json_t **out, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	char now[24];
	int rc = db_run(db, &rows, err,
	                "SELECT track, risk, branch, revision, progressive_revision FROM channels "
	                "WHERE package = $1 AND (expires IS NULL OR expires > $2)",
	                package, ll_str(now, store_now()));
	if (rc < 0)
		return rc;
	_cleanup_free_ struct chan *ch = calloc(rows.nrows * 2 + 1, sizeof(*ch));
	if (!ch)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	size_t n = 0;
	for (size_t i = 0; i < rows.nrows; i++)
		for (size_t col = 3; col <= 4; col++)
			if (db_cell(&rows, i, col))
				ch[n++] =
				    (struct chan){db_cell(&rows, i, 0), db_cell(&rows, i, 1),
				                  db_cell(&rows, i, 2) ? db_cell(&rows, i, 2) : "",
				                  db_cell_ll(&rows, i, col)};
	qsort(ch, n, sizeof(*ch), chan_cmp);
	json_t *rel = json_object();
	if (!rel)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		char key[24], name[256];
		ll_str(key, ch[i].rev);
		if (*ch[i].branch)
			snprintf(name, sizeof(name), "%s/%s/%s", ch[i].track, ch[i].risk,
			         ch[i].branch);
		else
			snprintf(name, sizeof(name), "%s/%s", ch[i].track, ch[i].risk);
		json_t *list = json_object_get(rel, key);
		if (!list) {
			list = json_array();
			json_object_set_new(rel, key, list);
		}
		bool dup = false;
		size_t k;
		json_t *v;
		json_array_foreach(list, k, v) dup |= str_eq(json_string_value(v), name);
		if (!dup)
			json_array_append_new(list, json_string(name));
	}
	*out = rel;
	return 0;
}

struct eval {
	struct db *db;
	ferry_error *err;
	struct vuln_index *ix;
	json_t *loaded;  /* "FAMILY\tNAME" -> true */
	json_t *desired; /* "REV PURL ADV" -> {"detail": {...}, ...} */
	/* the component being scanned */
	long long rev;
	const char *purl;
	const char *family, *name;
	const struct vuln_component *comp;
	const char **channels;
	size_t n_channels;
};

/* Bring the live advisories naming (family, name) into the index. */
static int load_key(struct eval *e, const char *family, const char *name)
{
	char k[VULNS_KEY_MAX + 64];
	snprintf(k, sizeof(k), "%s\t%s", family, name);
	if (json_object_get(e->loaded, k))
		return 0;
	json_object_set_new(e->loaded, k, json_true());
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc =
	    db_run(e->db, &rows, e->err,
	           "SELECT a.id, a.record FROM advisory_packages p JOIN advisories a ON "
	           "a.id = p.advisory WHERE p.family = $1 AND p.name = $2 AND a.withdrawn IS NULL",
	           family, name);
	for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
		if (vuln_index_get(e->ix, db_cell(&rows, i, 0)))
			continue;
		struct osv_record *rec = NULL;
		ferry_error perr = {0};
		const char *text = db_cell(&rows, i, 1);
		if (osv_record_parse(text, strlen(text), db_cell(&rows, i, 0), NULL, &rec, &perr) <
		    0) {
			log_warn("advisory %s no longer parses: %s", db_cell(&rows, i, 0),
			         ferry_error_msg(&perr));
			continue;
		}
		enum vuln_put_result res;
		rc = vuln_index_put(e->ix, rec, &res, NULL, NULL, e->err);
	}
	return rc;
}

static int on_hit(void *ctx, const struct osv_record *rec, const char *fixed)
{
	struct eval *e = ctx;
	struct vuln_finding f = {.revision = (uint64_t)e->rev,
	                         .channels = e->channels,
	                         .n_channels = e->n_channels,
	                         .component = e->comp,
	                         .advisory = rec,
	                         .fixed = fixed};
	json_t *detail = vuln_finding_json(&f);
	if (!detail)
		return ferry_error_set(e->err, FERRY_E_INVALID,
		                       "finding %s on %s: text is not UTF-8", rec->id,
		                       e->comp->package);
	char key[PURL_MAX + 200];
	snprintf(key, sizeof(key), "%lld %s %s", e->rev, e->purl, rec->id);
	json_t *o = json_pack("{s:o, s:I, s:s, s:s, s:s, s:s, s:s}", "detail", detail, "revision",
	                      (json_int_t)e->rev, "purl", e->purl, "component", e->comp->package,
	                      "advisory", rec->id, "family", e->family, "source", e->name);
	if (!o || json_object_set_new(e->desired, key, o) < 0)
		return ferry_error_set(e->err, FERRY_E_NOMEM, "out of memory");
	return 0;
}

static char *dump(json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

static int clear_reason(struct db *db, json_t *released, long long rev, const char *advisory,
                        const char **reason, ferry_error *err)
{
	char key[24];
	if (!json_object_get(released, ll_str(key, rev))) {
		*reason = "not-released";
		return 0;
	}
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_run(db, &rows, err, "SELECT withdrawn FROM advisories WHERE id = $1", advisory);
	if (rc < 0)
		return rc;
	*reason = (rows.nrows == 0 || db_cell(&rows, 0, 0)) ? "withdrawn" : "not-affected";
	return 0;
}

/* Queue the notices of one evaluation (inside its transaction). */
static int queue_notices(struct db *db, const char *package, json_t *cleared, size_t opened,
                         ferry_error *err)
{
	size_t queued = 0;
	int rc = 0;
	if (json_array_size(cleared)) {
		_cleanup_free_ char *body = NULL;
		rc = vuln_notice_wrap(package, "cleared", store_now(), cleared, &body, err);
		if (rc == 0)
			rc = webhooks_queue(db, package, "cleared", body, &queued, err);
	}
	if (rc == 0 && opened) {
		_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
		rc = db_run(
		    db, &rows, err,
		    "SELECT detail FROM vuln_findings WHERE package = $1 AND cleared IS NULL "
		    "ORDER BY revision, component, advisory",
		    package);
		json_auto_t *all = json_array();
		for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
			json_t *d = json_loads(db_cell(&rows, i, 0), 0, NULL);
			if (d)
				json_array_append_new(all, d);
		}
		_cleanup_free_ char *body = NULL;
		if (rc == 0)
			rc = vuln_notice_wrap(package, "open", store_now(), all, &body, err);
		if (rc == 0)
			rc = webhooks_queue(db, package, "open", body, &queued, err);
	}
	return rc;
}

static int evaluate_locked(struct eval *e, const char *package, const char *family,
                           const char *name, size_t *opened_out, size_t *cleared_out)
{
	struct db *db = e->db;
	ferry_error *err = e->err;
	_cleanup_rows_ struct db_rows pk = DB_ROWS_INIT;
	int rc =
	    db_run(db, &pk, err,
	           db_dialect(db) == DB_POSTGRES
	               ? "SELECT map_gen, next_revision FROM packages WHERE name = $1 FOR UPDATE"
	               : "SELECT map_gen, next_revision FROM packages WHERE name = $1",
	           package);
	if (rc < 0 || pk.nrows == 0)
		return rc;
	json_auto_t *released = NULL;
	if ((rc = released_revisions(db, package, &released, err)) < 0)
		return rc;
	_cleanup_rows_ struct db_rows comps = DB_ROWS_INIT;
	/* only the released revisions' components, found through the primary
	 * key (package, revision, ...) whatever the number of revisions; the
	 * key is filtered here, so that no planner prefers its index (which
	 * spans every revision of every package) */
	rc =
	    db_run(db, &comps, err,
	           "SELECT revision, purl, family, name FROM revision_components WHERE "
	           "package = $1 AND revision IN (SELECT revision FROM channels WHERE package = $1 "
	           "AND revision IS NOT NULL UNION SELECT progressive_revision FROM channels WHERE "
	           "package = $1 AND progressive_revision IS NOT NULL) ORDER BY revision, purl",
	           package);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < comps.nrows; i++) {
		json_t *chans = json_object_get(released, db_cell(&comps, i, 0));
		if (!chans || (family && (!str_eq(db_cell(&comps, i, 2), family) ||
		                          !str_eq(db_cell(&comps, i, 3), name))))
			continue;
		struct vuln_component c;
		const char *purl = db_cell(&comps, i, 1);
		if (vuln_component_from_purl(purl, &c, NULL) < 0)
			continue;
		if ((rc = load_key(e, db_cell(&comps, i, 2), db_cell(&comps, i, 3))) < 0)
			return rc;
		const char *names[64];
		size_t n = 0, k;
		json_t *v;
		json_array_foreach(chans, k, v) if (n < 64) names[n++] = json_string_value(v);
		e->rev = db_cell_ll(&comps, i, 0);
		e->purl = purl;
		e->family = db_cell(&comps, i, 2);
		e->name = db_cell(&comps, i, 3);
		e->comp = &c;
		e->channels = names;
		e->n_channels = n;
		if ((rc = vuln_index_scan(e->ix, &c, on_hit, e, NULL, err)) < 0)
			return rc;
	}

	_cleanup_rows_ struct db_rows cur = DB_ROWS_INIT;
	rc = family ? db_run(db, &cur, err,
	                     "SELECT id, revision, purl, advisory, detail FROM vuln_findings WHERE "
	                     "package = $1 AND cleared IS NULL AND family = $2 AND source = $3",
	                     package, family, name)
	            : db_run(db, &cur, err,
	                     "SELECT id, revision, purl, advisory, detail FROM vuln_findings WHERE "
	                     "package = $1 AND cleared IS NULL",
	                     package);
	if (rc < 0)
		return rc;
	char now[24];
	ll_str(now, store_now());
	json_auto_t *cleared = json_array();
	for (size_t i = 0; i < cur.nrows; i++) {
		char key[PURL_MAX + 200];
		long long rev = db_cell_ll(&cur, i, 1);
		snprintf(key, sizeof(key), "%lld %s %s", rev, db_cell(&cur, i, 2),
		         db_cell(&cur, i, 3));
		json_t *want = json_object_get(e->desired, key);
		if (want) {
			_cleanup_free_ char *d = dump(json_object_get(want, "detail"));
			if (!d)
				return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			if (!str_eq(d, db_cell(&cur, i, 4)) &&
			    (rc = db_run(db, NULL, err,
			                 "UPDATE vuln_findings SET detail = $2 WHERE id = $1",
			                 db_cell(&cur, i, 0), d)) < 0)
				return rc;
			json_object_del(e->desired, key);
			continue;
		}
		const char *reason = NULL;
		if ((rc = clear_reason(db, released, rev, db_cell(&cur, i, 3), &reason, err)) < 0 ||
		    (rc = db_run(
		         db, NULL, err,
		         "UPDATE vuln_findings SET cleared = $2, cleared_reason = $3 WHERE id = $1",
		         db_cell(&cur, i, 0), now, reason)) < 0)
			return rc;
		json_t *d = json_loads(db_cell(&cur, i, 4), 0, NULL);
		if (d) {
			json_object_set_new(d, "cleared_reason", json_string(reason));
			json_array_append_new(cleared, d);
		}
	}
	size_t opened = 0;
	const char *key;
	json_t *want;
	json_object_foreach(e->desired, key, want)
	{
		_cleanup_free_ char *d = dump(json_object_get(want, "detail"));
		char rev[24];
		if (!d)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		rc = db_run(
		    db, NULL, err,
		    "INSERT INTO vuln_findings (package, revision, component, purl, advisory, "
		    "family, source, detail, first_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, "
		    "$8, $9)",
		    package,
		    ll_str(rev, (long long)json_integer_value(json_object_get(want, "revision"))),
		    json_string_value(json_object_get(want, "component")),
		    json_string_value(json_object_get(want, "purl")),
		    json_string_value(json_object_get(want, "advisory")),
		    json_string_value(json_object_get(want, "family")),
		    json_string_value(json_object_get(want, "source")), d, now);
		if (rc < 0)
			return rc;
		opened++;
	}
	if ((rc = queue_notices(db, package, cleared, opened, err)) < 0)
		return rc;
	if (!family)
		rc = db_run(
		    db, NULL, err,
		    "INSERT INTO vuln_state (package, map_gen, next_revision, scanned) VALUES "
		    "($1, $2, $3, $4) ON CONFLICT (package) DO UPDATE SET map_gen = $2, "
		    "next_revision = $3, scanned = $4",
		    package, db_cell(&pk, 0, 0), db_cell(&pk, 0, 1), now);
	*opened_out = opened;
	*cleared_out = json_array_size(cleared);
	return rc;
}

static void eval_free(struct eval *e)
{
	json_decref(e->loaded);
	json_decref(e->desired);
	vuln_index_free(e->ix);
}

static int eval_init(struct eval *e, struct db *db, ferry_error *err)
{
	*e = (struct eval){.db = db, .err = err};
	int rc = vuln_index_new(&e->ix, err);
	if (rc < 0)
		return rc;
	e->loaded = json_object();
	e->desired = json_object();
	if (!e->loaded || !e->desired) {
		eval_free(e);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	return 0;
}

/* One package with e's advisories (loaded as needed and kept for the next
 * package of the same job). */
static int evaluate_one(struct eval *e, const char *package, const char *family, const char *name)
{
	struct db *db = e->db;
	size_t opened = 0, cleared = 0;
	json_object_clear(e->desired);
	int rc = db_begin(db, true, e->err);
	if (rc == 0)
		rc = evaluate_locked(e, package, family, name, &opened, &cleared);
	if (rc == 0)
		rc = db_commit(db, e->err);
	db_rollback(db);
	if (rc < 0)
		return ferry_error_prefix(e->err, rc, "vulnerability scan of %s", package);
	if (opened || cleared)
		log_info("vulnerabilities of %s%s%s%s: %zu new finding%s, %zu cleared", package,
		         family ? " (" : "", family ? name : "", family ? ")" : "", opened,
		         opened == 1 ? "" : "s", cleared);
	return 0;
}

int vulns_evaluate(struct db *db, const char *package, const char *family, const char *name,
                   ferry_error *err)
{
	struct eval e;
	int rc = eval_init(&e, db, err);
	if (rc < 0)
		return rc;
	rc = evaluate_one(&e, package, family, name);
	eval_free(&e);
	return rc;
}

int vulns_evaluate_key(struct db *db, const char *family, const char *name, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	/* the packages that bundle it in a released revision, or hold open
	 * findings for it (which may have to clear) */
	int rc =
	    db_run(db, &rows, err,
	           "SELECT DISTINCT rc.package FROM revision_components rc JOIN channels c ON "
	           "c.package = rc.package AND (c.revision = rc.revision OR "
	           "c.progressive_revision = rc.revision) WHERE rc.family = $1 AND rc.name = $2 "
	           "UNION SELECT package FROM vuln_findings WHERE cleared IS NULL AND "
	           "family = $1 AND source = $2 ORDER BY 1",
	           family, name);
	/* several packages per transaction (one commit, not one each),
	 * locked in name order as the rows come */
	struct eval e;
	if (rc == 0 && rows.nrows && (rc = eval_init(&e, db, err)) == 0) {
		size_t opened = 0, cleared = 0;
		for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
			size_t o = 0, cl = 0;
			if (i % VULNS_KEY_BATCH == 0)
				rc = db_begin(db, true, err);
			json_object_clear(e.desired);
			if (rc == 0)
				rc = evaluate_locked(&e, db_cell(&rows, i, 0), family, name, &o,
				                     &cl);
			if (rc < 0)
				ferry_error_prefix(err, rc, "vulnerability scan of %s",
				                   db_cell(&rows, i, 0));
			if (rc == 0 &&
			    (i % VULNS_KEY_BATCH == VULNS_KEY_BATCH - 1 || i + 1 == rows.nrows))
				rc = db_commit(db, err);
			opened += o;
			cleared += cl;
		}
		db_rollback(db);
		eval_free(&e);
		if (rc == 0 && (opened || cleared))
			log_info("vulnerabilities of %s %s in %zu package%s: %zu new finding%s, "
			         "%zu cleared",
			         family, name, rows.nrows, rows.nrows == 1 ? "" : "s", opened,
			         opened == 1 ? "" : "s", cleared);
	}
	return rc;
}
