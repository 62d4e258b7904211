/* vuln_bench.c: measures lib/vuln on a store-sized data set (see run):
 *   1. import N OSV advisories from a zip into the index;
 *   2. record the components of R revisions x C components (purls in the
 *      shape ferry's SBOM writes them), de-duplicated;
 *   3. the full scan: every distinct component against the index, then the
 *      findings of every revision gathered;
 *   4. the incremental scan after importing one advisory (file -> index ->
 *      re-scan of the packages it names -> the revisions now affected),
 *      repeated, median and worst;
 *   5. the naive scan (every component of every revision against every
 *      advisory, no index, no de-duplication) timed on a sample of revisions
 *      and extrapolated, to show what the index buys.
 * Revisions come from A apps that each bundle C packages drawn from a shared
 * pool of popular ones; each revision of an app moves a few components to a
 * new version, so revisions share most components, as real ones do. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "vuln/index.h"

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
	fprintf(stderr, "vuln-bench: %s: %s\n", what, err ? ferry_error_msg(err) : "failed");
	exit(1);
}

struct import_state {
	struct vuln_index *ix;
	const struct osv_record **all;
	size_t n_all, cap_all;
	struct {
		char family[64], name[256];
	} keys[64];
	size_t n_keys;
	size_t rejected;
};

static int on_key(void *ctx, const char *family, const char *name)
{
	struct import_state *is = ctx;
	if (is->n_keys < 64) {
		snprintf(is->keys[is->n_keys].family, 64, "%s", family);
		snprintf(is->keys[is->n_keys].name, 256, "%s", name);
		is->n_keys++;
	}
	return 0;
}

static int on_record(void *ctx, struct osv_record *rec, const char *origin)
{
	struct import_state *is = ctx;
	if (is->n_all == is->cap_all) {
		is->cap_all = is->cap_all ? is->cap_all * 2 : 1024;
		is->all = realloc(is->all, is->cap_all * sizeof(*is->all));
		if (!is->all)
			return FERRY_E_NOMEM;
	}
	is->all[is->n_all++] = rec;
	enum vuln_put_result res;
	return vuln_index_put(is->ix, rec, &res, on_key, is, NULL);
}

static void on_reject(void *ctx, const char *origin, const char *id, const ferry_error *why)
{
	struct import_state *is = ctx;
	if (is->rejected++ < 5)
		fprintf(stderr, "rejected: %s\n", why->msg);
}

static char *purl_of(const struct pkg *p, unsigned gen)
{
	char ver[300];
	if (gen == 0)
		snprintf(ver, sizeof(ver), "%s", p->srcver);
	else
		snprintf(ver, sizeof(ver), "%s+r%u", p->srcver, gen);
	/* as the SBOM writes it: "+" percent-encoded, source after "@" */
	_cleanup_buf_ struct buf b = BUF_INIT(1024);
	if (buf_printf(&b, "pkg:deb/debian/%s@", p->bin) < 0)
		return NULL;
	for (const char *s = p->binver; *s; s++)
		if ((*s == '+' ? buf_append_str(&b, "%2B") : buf_append(&b, s, 1)) < 0)
			return NULL;
	if (buf_printf(&b, "?arch=amd64&distro=debian-12&upstream=%s%%40", p->src) < 0)
		return NULL;
	for (const char *s = ver; *s; s++)
		if ((*s == '+' ? buf_append_str(&b, "%2B") : buf_append(&b, s, 1)) < 0)
			return NULL;
	return buf_steal(&b, NULL);
}

static int count_rev(void *ctx, uint64_t revision)
{
	(*(size_t *)ctx)++;
	return 0;
}

static int count_finding(void *ctx, uint64_t revision, const struct vuln_component *c,
                         const char *advisory, const char *fixed)
{
	(*(size_t *)ctx)++;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *pkgs_path = NULL, *adv_path = NULL, *tmp = "/tmp";
	size_t n_rev = 10000, n_comp = 100, n_apps = 200, pool_size = 3000, naive_sample = 5;
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
		else if (!strcmp(argv[i], "--naive-sample"))
			naive_sample = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--tmp"))
			tmp = argv[i + 1];
	}
	if (!pkgs_path || !adv_path) {
		fprintf(stderr, "usage: vuln-bench --pkgs TSV --advisories ZIP [--revisions N] "
		                "[--components N] [--apps N] [--naive-sample N] [--tmp DIR]\n");
		return 2;
	}
	ferry_error err = {0};

	/* the package list */
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
		}
		struct pkg *p = &pkgs[n_pkgs];
		p->bin = line;
		char *t = strchr(line, '\t');
		if (!t)
			continue;
		*t++ = 0;
		p->binver = t;
		if (!(t = strchr(t, '\t')))
			continue;
		*t++ = 0;
		p->src = t;
		if (!(t = strchr(t, '\t')))
			continue;
		*t++ = 0;
		p->srcver = t;
		n_pkgs++;
	}
	if (n_pkgs < pool_size)
		pool_size = n_pkgs;

	/* 1. import */
	struct import_state is = {0};
	if (vuln_index_new(&is.ix, &err) < 0)
		die("index", &err);
	struct osv_import_stats ist;
	double t0 = now();
	if (osv_import_path(adv_path, NULL, on_record, on_reject, &is, &ist, &err) < 0)
		die(adv_path, &err);
	double t_import = now() - t0;

	/* 2. revisions */
	struct vuln_catalog *cat = NULL;
	if (vuln_catalog_new(&cat, &err) < 0)
		die("catalog", &err);
	size_t *pool = calloc(pool_size, sizeof(size_t));
	for (size_t i = 0; i < pool_size; i++)
		pool[i] = rnd() % n_pkgs;
	size_t *app_pkgs = calloc(n_apps * n_comp, sizeof(size_t));
	unsigned *app_gen = calloc(n_apps * n_comp, sizeof(unsigned));
	for (size_t a = 0; a < n_apps * n_comp; a++)
		app_pkgs[a] = pool[rnd() % pool_size];
	char **purls = calloc(n_comp, sizeof(char *));
	double t_purls = 0, t_add = 0;
	size_t unsupported = 0;
	for (size_t r = 0; r < n_rev; r++) {
		size_t app = r % n_apps;
		double ta = now();
		for (size_t j = 0; j < n_comp; j++) {
			size_t k = app * n_comp + j;
			if (r >= n_apps && rnd() % 100 < 2)
				app_gen[k]++; /* this revision moves the component */
			purls[j] = purl_of(&pkgs[app_pkgs[k]], app_gen[k]);
		}
		double tb = now();
		if (vuln_catalog_add(cat, r + 1, (const char *const *)purls, n_comp, &unsupported,
		                     &err) < 0)
			die("catalog add", &err);
		t_add += now() - tb;
		t_purls += tb - ta;
		for (size_t j = 0; j < n_comp; j++)
			free(purls[j]);
	}

	/* 3. full scan */
	struct vuln_scan_stats st = {0};
	t0 = now();
	if (vuln_catalog_scan_all(cat, is.ix, &st, &err) < 0)
		die("scan", &err);
	double t_scan = now() - t0;
	size_t total_findings = 0, affected_revs = 0;
	t0 = now();
	for (size_t r = 0; r < n_rev; r++) {
		size_t before = total_findings;
		if (vuln_catalog_findings(cat, r + 1, count_finding, &total_findings) < 0)
			die("findings", NULL);
		affected_revs += total_findings > before;
	}
	double t_gather = now() - t0;

	/* 4. incremental: one new advisory at a time */
	enum { ROUNDS = 21 };
	double inc[ROUNDS];
	size_t inc_revs = 0;
	char path[512];
	snprintf(path, sizeof(path), "%s/vuln-bench-%d.json", tmp, (int)getpid());
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
		t0 = now();
		is.n_keys = 0;
		if (osv_import_path(path, NULL, on_record, on_reject, &is, NULL, &err) < 0)
			die(path, &err);
		struct vuln_scan_stats ist2 = {0};
		size_t nrev = 0;
		for (size_t k = 0; k < is.n_keys; k++) {
			if (vuln_catalog_scan_package(cat, is.ix, is.keys[k].family,
			                              is.keys[k].name, &ist2, &err) < 0)
				die("incremental scan", &err);
			if (vuln_catalog_affected_revisions(cat, is.keys[k].family, is.keys[k].name,
			                                    count_rev, &nrev) < 0)
				die("affected revisions", NULL);
		}
		inc[round] = now() - t0;
		inc_revs += nrev;
	}
	unlink(path);
	qsort(inc, ROUNDS, sizeof(double), cmp_double);

	/* 5. naive, on a sample */
	size_t naive_hits = 0;
	t0 = now();
	for (size_t s = 0; s < naive_sample; s++) {
		size_t app = s % n_apps;
		for (size_t j = 0; j < n_comp; j++) {
			size_t k = app * n_comp + j;
			_cleanup_free_ char *purl = purl_of(&pkgs[app_pkgs[k]], 0);
			struct vuln_component c;
			if (vuln_component_from_purl(purl, &c, &err) < 0)
				continue;
			for (size_t a = 0; a < is.n_all; a++) {
				bool hit;
				if (vuln_record_check(is.all[a], &c, &hit, NULL, NULL) == 0 && hit)
					naive_hits++;
			}
		}
	}
	double t_naive = (now() - t0) / (double)(naive_sample ? naive_sample : 1) * (double)n_rev;

	printf("advisories: %zu imported from %s (%zu rejected) in %.2f s\n", ist.records, adv_path,
	       ist.rejected, t_import);
	printf("revisions: %zu x %zu components = %zu references, %zu distinct components\n", n_rev,
	       n_comp, n_rev * n_comp, vuln_catalog_distinct(cat));
	printf("  purl generation %.2f s (not ferry), recording (parse + de-duplicate) %.2f s\n",
	       t_purls, t_add);
	printf("full scan: %.3f s (%zu components, %zu record evaluations, %zu component "
	       "findings) + %.3f s gathering %zu findings over %zu affected revisions\n",
	       t_scan, st.components, st.records, st.findings, t_gather, total_findings,
	       affected_revs);
	printf("full scan, recording included: %.2f s\n", t_add + t_scan + t_gather);
	printf("incremental (import 1 advisory + re-scan + affected revisions), %d rounds: median "
	       "%.2f ms, worst %.2f ms, %zu revisions affected in all\n",
	       ROUNDS, inc[ROUNDS / 2] * 1e3, inc[ROUNDS - 1] * 1e3, inc_revs);
	printf("naive scan (no index, no de-duplication), extrapolated from %zu revisions: %.0f s "
	       "(%zu hits in the sample); ratio naive / indexed full scan: %.0fx\n",
	       naive_sample, t_naive, naive_hits, t_naive / (t_add + t_scan + t_gather));

	vuln_catalog_free(cat);
	vuln_index_free(is.ix);
	free(is.all);
	free(pool);
	free(app_pkgs);
	free(app_gen);
	free(purls);
	free(pkgs);
	return 0;
}
