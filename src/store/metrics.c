/* metrics.c: the store's metrics (metrics.h): fixed tables of counters and
 * histograms under one lock, and their Prometheus text exposition. Every
 * table is bounded: label sets beyond its size are counted under the
 * label "other", so a client sending odd requests cannot grow memory. Not
 * here: who may read them (server.c). */
#include "metrics.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "inventory.h"

#define ROUTES_MAX 64
#define REQUEST_SERIES_MAX 512
#define JOB_KINDS_MAX 16
#define RESULTS_MAX 4
#define NBUCKETS 11
#define RENDER_MAX (4u * 1024 * 1024)

static const double buckets[NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct histogram {
	uint64_t counts[NBUCKETS + 1]; /* the last: above every bound (+Inf only) */
	uint64_t n;
	double sum;
};

struct request_series {
	const char *route;
	char method[8];
	unsigned status;
	uint64_t n;
};

struct named_histogram {
	const char *name;
	struct histogram h;
	uint64_t failed;
};

struct metrics {
	pthread_mutex_t lock;
	struct request_series requests[REQUEST_SERIES_MAX];
	size_t nrequests;
	struct named_histogram routes[ROUTES_MAX];
	size_t nroutes;
	struct named_histogram jobs[JOB_KINDS_MAX];
	size_t njobs;
	struct histogram publish;
	uint64_t reports[RESULTS_MAX]; /* ok, rolled-back, failed, other */
	uint64_t checkins, halts, stages;
};

static const char *const results[RESULTS_MAX] = {"ok", "rolled-back", "failed", "other"};

int metrics_new(struct metrics **out, ferry_error *err)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return ferry_error_set(err, FERRY_E_NOMEM, "metrics: out of memory");
	pthread_mutex_init(&(*out)->lock, NULL);
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

double metrics_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void observe(struct histogram *h, double v)
{
	size_t i = 0;
	while (i < NBUCKETS && v > buckets[i])
		i++;
	h->counts[i]++;
	h->n++;
	h->sum += v;
}

/* The histogram of name in a table of max, or the "other" one when full
 * (the last slot is kept for it). */
static struct named_histogram *named(struct named_histogram *t, size_t *n, size_t max,
                                     const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	if (*n + 1 >= max)
		name = "other";
	for (size_t i = 0; i < *n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	t[*n].name = name;
	return &t[(*n)++];
}

void metrics_request(struct metrics *m, const char *route, const char *method, unsigned status,
                     double seconds)
{
	if (!m)
		return;
	static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE"};
	const char *meth = "other";
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(method, methods[i]) == 0)
			meth = methods[i];
	pthread_mutex_lock(&m->lock);
	observe(&named(m->routes, &m->nroutes, ROUTES_MAX, route)->h, seconds);
	struct request_series *s = NULL;
	for (size_t i = 0; i < m->nrequests && !s; i++)
		if (strcmp(m->requests[i].route, route) == 0 &&
		    strcmp(m->requests[i].method, meth) == 0 && m->requests[i].status == status)
			s = &m->requests[i];
	if (!s && m->nrequests < REQUEST_SERIES_MAX) {
		s = &m->requests[m->nrequests++];
		s->route = route;
		snprintf(s->method, sizeof(s->method), "%s", meth);
		s->status = status;
	}
	if (!s) /* full: the last series counts the rest */
		s = &m->requests[REQUEST_SERIES_MAX - 1];
	s->n++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_publish(struct metrics *m, double seconds)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	observe(&m->publish, seconds);
	pthread_mutex_unlock(&m->lock);
}

void metrics_job(struct metrics *m, const char *kind, double seconds, bool failed)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	struct named_histogram *h = named(m->jobs, &m->njobs, JOB_KINDS_MAX, kind);
	observe(&h->h, seconds);
	h->failed += failed;
	pthread_mutex_unlock(&m->lock);
}

void metrics_report(struct metrics *m, const char *result)
{
	if (!m)
		return;
	size_t i = 0;
	while (i < RESULTS_MAX - 1 && strcmp(results[i], result) != 0)
		i++;
	pthread_mutex_lock(&m->lock);
	m->reports[i]++;
	pthread_mutex_unlock(&m->lock);
}

#define COUNTER_FN(fn, field)                                                                      \
	void fn(struct metrics *m)                                                                 \
	{                                                                                          \
		if (!m)                                                                            \
			return;                                                                    \
		pthread_mutex_lock(&m->lock);                                                      \
		m->field++;                                                                        \
		pthread_mutex_unlock(&m->lock);                                                    \
	}

COUNTER_FN(metrics_count_checkin, checkins)
COUNTER_FN(metrics_halt, halts)
COUNTER_FN(metrics_stage, stages)

/* A label value as the text format wants it: \ " and newline escaped. */
static int label(struct buf *b, const char *v)
{
	int rc = 0;
	for (; *v && rc == 0; v++) {
		if (*v == '\\' || *v == '"')
			rc = buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			rc = buf_append_str(b, "\\n");
		else
			rc = buf_append(b, v, 1);
	}
	return rc;
}

static int histogram(struct buf *b, const char *name, const char *lname, const char *lvalue,
                     const struct histogram *h)
{
	uint64_t cum = 0;
	int rc = 0;
	char lab[160] = "";
	for (size_t i = 0; i <= NBUCKETS && rc == 0; i++) {
		cum += h->counts[i];
		rc = buf_printf(b, "%s_bucket{", name);
		if (rc == 0 && lname) {
			rc = buf_printf(b, "%s=\"", lname);
			if (rc == 0)
				rc = label(b, lvalue);
			if (rc == 0)
				rc = buf_append_str(b, "\",");
		}
		if (rc == 0 && i < NBUCKETS)
			rc =
			    buf_printf(b, "le=\"%g\"} %llu\n", buckets[i], (unsigned long long)cum);
		else if (rc == 0)
			rc = buf_printf(b, "le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	if (lname) {
		struct buf lb = BUF_INIT(sizeof(lab));
		if (rc == 0)
			rc = label(&lb, lvalue);
		if (rc == 0)
			snprintf(lab, sizeof(lab), "{%s=\"%.*s\"}", lname, (int)lb.len, lb.data);
		buf_free(&lb);
	}
	if (rc == 0)
		rc = buf_printf(b, "%s_sum%s %.6f\n%s_count%s %llu\n", name, lab, h->sum, name, lab,
		                (unsigned long long)h->n);
	return rc;
}

static int render_locked(struct metrics *m, struct buf *b)
{
	int rc = buf_append_str(b, "# HELP ferry_store_http_requests_total HTTP requests answered, "
	                           "by route, method and status.\n"
	                           "# TYPE ferry_store_http_requests_total counter\n");
	for (size_t i = 0; rc == 0 && i < m->nrequests; i++) {
		rc = buf_append_str(b, "ferry_store_http_requests_total{route=\"");
		if (rc == 0)
			rc = label(b, m->requests[i].route);
		if (rc == 0)
			rc = buf_printf(b, "\",method=\"%s\",status=\"%u\"} %llu\n",
			                m->requests[i].method, m->requests[i].status,
			                (unsigned long long)m->requests[i].n);
	}
	if (rc == 0)
		rc = buf_append_str(b,
		                    "# HELP ferry_store_http_request_duration_seconds Time to "
		                    "answer a request, by route.\n"
		                    "# TYPE ferry_store_http_request_duration_seconds histogram\n");
	for (size_t i = 0; rc == 0 && i < m->nroutes; i++)
		rc = histogram(b, "ferry_store_http_request_duration_seconds", "route",
		               m->routes[i].name, &m->routes[i].h);
	if (rc == 0)
		rc =
		    buf_append_str(b, "# HELP ferry_store_publish_duration_seconds Time to publish "
		                      "a package's signed metadata.\n"
		                      "# TYPE ferry_store_publish_duration_seconds histogram\n");
	if (rc == 0)
		rc = histogram(b, "ferry_store_publish_duration_seconds", NULL, NULL, &m->publish);
	if (rc == 0)
		rc = buf_append_str(b, "# HELP ferry_store_job_duration_seconds Time a job of the "
		                       "job table ran, by kind.\n"
		                       "# TYPE ferry_store_job_duration_seconds histogram\n");
	for (size_t i = 0; rc == 0 && i < m->njobs; i++)
		rc = histogram(b, "ferry_store_job_duration_seconds", "kind", m->jobs[i].name,
		               &m->jobs[i].h);
	if (rc == 0)
		rc = buf_append_str(b, "# HELP ferry_store_jobs_failed_total Jobs that failed (and "
		                       "were queued again), by kind.\n"
		                       "# TYPE ferry_store_jobs_failed_total counter\n");
	for (size_t i = 0; rc == 0 && i < m->njobs; i++)
		rc = buf_printf(b, "ferry_store_jobs_failed_total{kind=\"%s\"} %llu\n",
		                m->jobs[i].name, (unsigned long long)m->jobs[i].failed);
	if (rc == 0)
		rc = buf_append_str(b, "# HELP ferry_store_reports_received_total Device outcome "
		                       "reports stored, by result.\n"
		                       "# TYPE ferry_store_reports_received_total counter\n");
	for (size_t i = 0; rc == 0 && i < RESULTS_MAX; i++)
		rc = buf_printf(b, "ferry_store_reports_received_total{result=\"%s\"} %llu\n",
		                results[i], (unsigned long long)m->reports[i]);
	if (rc == 0)
		rc = buf_printf(
		    b,
		    "# HELP ferry_store_checkins_received_total Device check-ins received.\n"
		    "# TYPE ferry_store_checkins_received_total counter\n"
		    "ferry_store_checkins_received_total %llu\n"
		    "# HELP ferry_store_halts_total Releases halted because devices reported them "
		    "failing.\n"
		    "# TYPE ferry_store_halts_total counter\n"
		    "ferry_store_halts_total %llu\n"
		    "# HELP ferry_store_rollout_stages_total Staged rollouts moved to their next "
		    "stage.\n"
		    "# TYPE ferry_store_rollout_stages_total counter\n"
		    "ferry_store_rollout_stages_total %llu\n",
		    (unsigned long long)m->checkins, (unsigned long long)m->halts,
		    (unsigned long long)m->stages);
	return rc;
}

int metrics_render(struct metrics *m, struct db *db, char **out, size_t *len, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = inventory_active_by_channel(db, &rows, err);
	if (rc < 0)
		return rc;
	struct buf b = BUF_INIT(RENDER_MAX);
	pthread_mutex_lock(&m->lock);
	rc = render_locked(m, &b);
	pthread_mutex_unlock(&m->lock);
	if (rc == 0)
		rc = buf_append_str(&b, "# HELP ferry_store_active_devices Devices that checked in "
		                        "within 7 days, by package and channel.\n"
		                        "# TYPE ferry_store_active_devices gauge\n");
	for (size_t i = 0; rc == 0 && i < rows.nrows; i++) {
		rc = buf_append_str(&b, "ferry_store_active_devices{package=\"");
		if (rc == 0)
			rc = label(&b, db_cell(&rows, i, 0));
		if (rc == 0)
			rc = buf_append_str(&b, "\",channel=\"");
		if (rc == 0)
			rc = label(&b, db_cell(&rows, i, 1));
		if (rc == 0)
			rc = buf_printf(&b, "\"} %lld\n", db_cell_ll(&rows, i, 2));
	}
	if (rc == 0)
		rc = buf_append(&b, "", 1); /* NUL, not counted */
	if (rc < 0) {
		buf_free(&b);
		return ferry_error_set(err, rc, "metrics: the exposition exceeds %u bytes",
		                       RENDER_MAX);
	}
	*len = b.len - 1;
	*out = (char *)b.data;
	return 0;
}
