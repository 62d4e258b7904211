/* metrics.h: ferry-store's counters and histograms, and GET /metrics in
 * the Prometheus text format (0.0.4): requests by route, method and
 * status, request latency by route, publish and job durations, reports
 * and check-ins received, halts, rollout stages, and weekly active devices
 * by package and channel (read from the inventory at each scrape). The
 * counters are this process's, since it started; one lock guards them.
 * Who may read them is the server's (server.c: loopback, or the metrics
 * token). Not here: the HTTP side. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/error.h"
#include "db.h"

struct metrics;

int metrics_new(struct metrics **out, ferry_error *err) FERRY_WUR;
void metrics_free(struct metrics *m);

/* route: the API's pattern, or "/repo", "/metrics", "other" (a static
 * string: it is kept, not copied) */
void metrics_request(struct metrics *m, const char *route, const char *method, unsigned status,
                     double seconds);
void metrics_publish(struct metrics *m, double seconds);
void metrics_job(struct metrics *m, const char *kind, double seconds, bool failed);
void metrics_report(struct metrics *m, const char *result);
void metrics_count_checkin(struct metrics *m);
void metrics_halt(struct metrics *m);
void metrics_stage(struct metrics *m);

/* The exposition text (malloc'd, *out) with the gauges read from db. */
int metrics_render(struct metrics *m, struct db *db, char **out, size_t *len,
                   ferry_error *err) FERRY_WUR;

/* Seconds since t0 (CLOCK_MONOTONIC), for the callers' timings. */
double metrics_since(const struct timespec *t0);
