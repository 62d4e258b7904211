/* report.h: a device's outcome report once checked (reports_validate in
 * reports.h), the one shape the store's report handling and the halting
 * rule (halt.h) share. The format devices send is ferryd's (see
 * src/agent/report.h and docs/store.md). Not here: checking, storing or
 * answering reports (reports.c). */
#pragma once

#include <jansson.h>

/* A checked report; the strings point into the JSON body. */
struct report {
	const char *report_id, *device_id, *device_key, *package, *channel, *result;
	const char *failed_step; /* NULL when ok */
	const char *message;
	json_t *log;             /* array of strings */
	long long from_revision; /* 0 when none */
	long long to_revision;
	long long time;
	const char *agent_version;
};
