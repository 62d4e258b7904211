/* store_bench.c: the store-level vulnerability scan on a store-sized
 * database (SQLite, as `ferry-store init` makes it), through the store's own
 * code: migrations, vulns_import, the job table and its worker.
 *   1. import N OSV advisories from a zip into the database;
 *   2. R revisions of A apps, each with an SBOM of C Debian packages (the
 *      same generator as vuln_bench.c: a shared pool of real packages, each
 *      revision moving a few components), the newest revision of each app
 *      released to stable and the one before to edge; read every SBOM
 *      (the upload scan's indexing) and evaluate every app (full scan);
 *   3. the incremental scan after importing one advisory: vulns_import of
 *      one file, then the worker runs what it queued (the vulnkey job: every
 *      app bundling the package, evaluated, findings written), repeated,
 *      median and worst;
 *   4. the baseline: after the same kind of import, re-evaluating every app
 *      in full, as a store without the (family, name) index would.
 * Prints one line per step; bench/vulns/run-store drives it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "job_kinds.h"
#include "store.h"
#include "vulns.h"

struct pkg {
	char *bin, *binver, *src, *srcver;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void die(const char *what, const ferry_error *err)
{
	fprintf(stderr, "store-bench: %s: %s\n", what, err ? ferry_error_msg(err) : "failed");
	exit(1);
}

/* stands in for main.c's, which the store's library does not carry */
long long store_now(void)
{
	return (long long)time(NULL);
}

static void purl_of(struct buf *b, const struct pkg *p, unsigned gen)
{
	char ver[300];
	if (gen == 0)
		snprintf(ver, sizeof(ver), "%s", p->srcver);
	else
		snprintf(ver, sizeof(ver), "%s+r%u", p->srcver, gen);
	bool ok = buf_printf(b, "pkg:deb/debian/%s@", p->bin) == 0;
	for (const char *s = p->binver; ok && *s; s++)
		ok = (*s == '+' ? buf_append_str(b, "%2B") : buf_append(b, s, 1)) == 0;
	ok = ok && buf_printf(b, "?arch=amd64&distro=debian-12&upstream=%s%%40", p->src) == 0;
	for (const char *s = ver; ok && *s; s++)
		ok = (*s == '+' ? buf_append_str(b, "%2B") : buf_append(b, s, 1)) == 0;
	if (!ok)
		die("purl", NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Run the job worker until nothing is due. */
static size_t drain(struct store *st, struct db *db)
{
	ferry_error err = {0};
	size_t total = 0, ran;
	do {
		if (job_kinds_run_due(st, db, &ran, &err) < 0)
			die("jobs", &err);
		total += ran;
	} while (ran);
	return total;
}

static long long count(struct db *db, const char *sql)
{
	_cleanup_rows_ struct db_rows r = DB_ROWS_INIT;
	ferry_error err = {0};
	if (db_exec(db, sql, NULL, 0, &r, &err) < 0)
		die(sql, &err);
	return db_cell_ll(&r, 0, 0);
}

int main(int argc, char **argv)
{
	const char *pkgs_path = NULL, *adv_path = NULL, *tmp = "/tmp";
	size_t n_rev = 10000, n_comp = 100, n_apps = 200, pool_size = 3000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--pkgs"))
			pkgs_path = argv[i + 1];
		else if (!strcmp(argv[i], "--advisories"))
			adv_path = argv[i + 1];
		else if (!strcmp(argv[i], "--revisions"))
			n_rev = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--components"))
			n_comp = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--apps"))
			n_apps = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--tmp"))
			tmp = argv[i + 1];
	}
	if (!pkgs_path || !adv_path || n_rev < 2 * n_apps) {
		fprintf(stderr, "usage: store-bench --pkgs TSV --advisories ZIP [--revisions N] "
		                "[--components N] [--apps N (at most N/2)] [--tmp DIR]\n");
		return 2;
	}
	ferry_error err = {0};
	_cleanup_free_ char *tsv = NULL;
	size_t tsv_len;
	if (fs_read_file(pkgs_path, 64u << 20, &tsv, &tsv_len, &err) < 0)
		die(pkgs_path, &err);
	size_t n_pkgs = 0, cap = 0;
	struct pkg *pkgs = NULL;
	for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
		if (n_pkgs == cap) {
			cap = cap ? cap * 2 : 4096;
			pkgs = realloc(pkgs, cap * sizeof(*pkgs));
			if (!pkgs)
				die("out of memory", NULL);
		}
		struct pkg *p = &pkgs[n_pkgs];
		char *f[4] = {line, NULL, NULL, NULL};
		for (int k = 1; k < 4 && f[k - 1]; k++)
			if ((f[k] = strchr(f[k - 1], '\t')))
				*f[k]++ = 0;
		if (!f[3])
			continue;
		*p = (struct pkg){f[0], f[1], f[2], f[3]};
		n_pkgs++;
	}
	if (n_pkgs < pool_size)
		pool_size = n_pkgs;

	static struct store st;
	snprintf(st.dir, sizeof(st.dir), "%s/store", tmp);
	snprintf(st.db_url, sizeof(st.db_url), "%s/store.db", st.dir);
	snprintf(st.instance, sizeof(st.instance), "bench");
	if (fs_mkdir_p(st.dir, 0755, &err) < 0)
		die(st.dir, &err);
	struct db *db = NULL;
	if (db_open(st.db_url, &db, &err) < 0 || db_migrate(db, NULL, NULL, &err) < 0)
		die(st.db_url, &err);

	/* 1. advisories */
	struct vulns_import_counts ic, first;
	double t0 = now();
	if (vulns_import(db, adv_path, NULL, NULL, &first, &err) < 0)
		die(adv_path, &err);
	double t_import = now() - t0;

	/* 2. revisions and releases (set-up, not timed) */
	size_t *pool = calloc(pool_size, sizeof(size_t));
	size_t *app_pkgs = calloc(n_apps * n_comp, sizeof(size_t));
	unsigned *app_gen = calloc(n_apps * n_comp, sizeof(unsigned));
	if (!pool || !app_pkgs || !app_gen)
		die("out of memory", NULL);
	for (size_t i = 0; i < pool_size; i++)
		pool[i] = rnd() % n_pkgs;
	for (size_t a = 0; a < n_apps * n_comp; a++)
		app_pkgs[a] = pool[rnd() % pool_size];
	double t_setup = now();
	if (db_run(db, NULL, &err, "INSERT INTO accounts (name, created) VALUES ('bench', 0)") < 0)
		die("account", &err);
	for (size_t a = 0; a < n_apps; a++) {
		char name[32];
		snprintf(name, sizeof(name), "app-%zu", a);
		if (db_run(db, NULL, &err,
		           "INSERT INTO packages (name, owner, created) VALUES ($1, 'bench', 0)",
		           name) < 0)
			die("package", &err);
	}
	struct buf sb = BUF_INIT(64u << 20);
	for (size_t r = 0; r < n_rev; r++) {
		size_t app = r % n_apps;
		if (r % 100 == 0 && db_begin(db, true, &err) < 0)
			die("begin", &err);
		buf_reset(&sb);
		if (buf_append_str(&sb, "{\"bomFormat\":\"CycloneDX\",\"components\":[") < 0)
			die("sbom", NULL);
		for (size_t j = 0; j < n_comp; j++) {
			size_t k = app * n_comp + j;
			if (r >= n_apps && rnd() % 100 < 2)
				app_gen[k]++;
			if (buf_printf(&sb, "%s{\"type\":\"library\",\"name\":\"%s\",\"purl\":\"",
			               j ? "," : "", pkgs[app_pkgs[k]].bin) < 0)
				die("sbom", NULL);
			purl_of(&sb, &pkgs[app_pkgs[k]], app_gen[k]);
			if (buf_append_str(&sb, "\"}") < 0)
				die("sbom", NULL);
		}
		if (buf_append_str(&sb, "]}") < 0 || buf_append(&sb, "", 1) < 0)
			die("sbom", NULL);
		char name[32], rev[24], sha[80];
		snprintf(name, sizeof(name), "app-%zu", app);
		snprintf(rev, sizeof(rev), "%zu", r / n_apps + 1);
		snprintf(sha, sizeof(sha), "%064zx", r);
		if (db_run(
		        db, NULL, &err,
		        "INSERT INTO revisions (package, revision, sha256, sha512, size, version, "
		        "architectures, manifest, sbom, uploader, created) VALUES ($1, $2, $3, $3, "
		        "1, $2, '[\"amd64\"]', '', $4, 'bench', 0)",
		        name, rev, sha, sb.data) < 0 ||
		    db_run(db, NULL, &err,
		           "UPDATE packages SET next_revision = $2 + 1 WHERE name = $1", name,
		           rev) < 0)
			die("revision", &err);
		/* the newest revision of each app in stable, the one before in edge */
		const char *risk = r + n_apps >= n_rev       ? "stable"
		                   : r + 2 * n_apps >= n_rev ? "edge"
		                                             : NULL;
		if (risk &&
		    db_run(db, NULL, &err,
		           "INSERT INTO channels (package, track, risk, branch, arch, revision, "
		           "updated) VALUES ($1, 'latest', $2, '', 'amd64', $3, 0)",
		           name, risk, rev) < 0)
			die("release", &err);
		if ((r % 100 == 99 || r + 1 == n_rev) && db_commit(db, &err) < 0)
			die("commit", &err);
	}
	buf_free(&sb);
	t_setup = now() - t_setup;

	/* reading every SBOM (what the scan after each upload does first) */
	t0 = now();
	for (size_t a = 0; a < n_apps; a++) {
		char name[32];
		snprintf(name, sizeof(name), "app-%zu", a);
		if (vulns_index_revisions(db, name, &err) < 0)
			die("index", &err);
	}
	double t_index = now() - t0;
	/* the full scan: the watch queues one vulnscan per app */
	t0 = now();
	size_t jobs_full = drain(&st, db);
	double t_full = now() - t0;
	long long findings_full =
	    count(db, "SELECT COUNT(*) FROM vuln_findings WHERE cleared IS NULL");
	long long refs = count(db, "SELECT COUNT(*) FROM revision_components");

	/* 3. incremental */
	enum { ROUNDS = 21 };
	double inc[ROUNDS];
	long long inc_findings = 0;
	size_t inc_jobs = 0;
	char path[600];
	snprintf(path, sizeof(path), "%s/one-advisory.json", tmp);
	for (int round = 0; round < ROUNDS; round++) {
		const struct pkg *p = &pkgs[pool[rnd() % pool_size]];
		_cleanup_free_ char *json = str_dup_printf(
		    "{\"id\":\"BENCH-%d\",\"modified\":\"2025-01-01T00:00:00Z\",\"upstream\":"
		    "[\"CVE-2025-%d\"],\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\","
		    "\"name\":\"%s\"},\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{"
		    "\"introduced\":"
		    "\"0\"},{\"fixed\":\"%s+r9\"}]}]}]}",
		    round, round, p->src, p->srcver);
		if (fs_write_atomic(path, json, strlen(json), 0644, &err) < 0)
			die(path, &err);
		long long before = count(db, "SELECT COUNT(*) FROM vuln_findings");
		t0 = now();
		if (vulns_import(db, path, NULL, NULL, &ic, &err) < 0)
			die(path, &err);
		inc_jobs += drain(&st, db);
		inc[round] = now() - t0;
		inc_findings += count(db, "SELECT COUNT(*) FROM vuln_findings") - before;
	}
	qsort(inc, ROUNDS, sizeof(double), cmp_double);

	/* 4. the baseline: every app re-evaluated in full after one import */
	const struct pkg *p = &pkgs[pool[rnd() % pool_size]];
	_cleanup_free_ char *json = str_dup_printf(
	    "{\"id\":\"BENCH-FULL\",\"modified\":\"2025-01-01T00:00:00Z\",\"affected\":[{"
	    "\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"%s\"},\"ranges\":[{\"type\":"
	    "\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"%s+r9\"}]}]}]}",
	    p->src, p->srcver);
	if (fs_write_atomic(path, json, strlen(json), 0644, &err) < 0)
		die(path, &err);
	t0 = now();
	if (vulns_import(db, path, NULL, NULL, &ic, &err) < 0)
		die(path, &err);
	for (size_t a = 0; a < n_apps; a++) {
		char name[32];
		snprintf(name, sizeof(name), "app-%zu", a);
		if (vulns_evaluate(db, name, NULL, NULL, &err) < 0)
			die("evaluate", &err);
	}
	double t_base = now() - t0;
	unlink(path);
	drain(&st, db);

	printf("advisories: %zu imported into the database from %s (%zu rejected) in %.2f s\n",
	       first.added, adv_path, first.rejected, t_import);
	printf("revisions: %zu of %zu apps x %zu components (set-up %.1f s, not timed); "
	       "%zu released\n",
	       n_rev, n_apps, n_comp, t_setup, (size_t)count(db, "SELECT COUNT(*) FROM channels"));
	printf("reading every SBOM into the component table: %.2f s (%lld references)\n", t_index,
	       refs);
	printf("full scan of the released revisions (%zu jobs): %.2f s, %lld open findings\n",
	       jobs_full, t_full, findings_full);
	printf("incremental (import 1 advisory + the scan it queues, findings written), %d "
	       "rounds: median %.1f ms, worst %.1f ms (%zu jobs, %lld findings opened)\n",
	       ROUNDS, inc[ROUNDS / 2] * 1e3, inc[ROUNDS - 1] * 1e3, inc_jobs, inc_findings);
	printf("baseline (import 1 advisory + every app re-evaluated in full): %.2f s; ratio "
	       "baseline / incremental median: %.0fx\n",
	       t_base, t_base / inc[ROUNDS / 2]);
	db_close(db);
	free(pool);
	free(app_pkgs);
	free(app_gen);
	free(pkgs);
	return 0;
}
