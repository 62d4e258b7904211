/* cmd_reports.c: `ferry reports NAME [--json] [--device ID] [--revision R]
 * [-n N]`: what devices reported of their refreshes of a package (the
 * store's GET /v1/packages/NAME/reports; its owner and collaborators only).
 * A table, newest first, or with --json the full records, log lines
 * included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "cli.h"
#include "opts.h"
#include "output.h"
#include "store_client.h"

/* A string of the record, or none when it is missing or empty. */
static const char *sv(json_t *o, const char *k, const char *none)
{
	const char *s = cli_json_str(o, k, "");
	return *s ? s : none;
}

/* "5 -> 6", "- -> 1" for a first install, "5 -> 4 (revert)" for a revert
 * by the device's owner; its length. */
static int revisions_of(json_t *r, char *out, size_t size)
{
	json_t *from = json_object_get(r, "from-revision");
	char f[24] = "-";
	if (json_is_integer(from))
		snprintf(f, sizeof(f), "%lld", (long long)json_integer_value(from));
	return snprintf(out, size, "%s -> %lld%s", f,
	                (long long)json_integer_value(json_object_get(r, "to-revision")),
	                strcmp(cli_json_str(r, "action", ""), "revert") == 0 ? " (revert)" : "");
}

static void print_table(const char *name, json_t *reports)
{
	if (json_array_size(reports) == 0) {
		printf("no device has reported on %s yet\n", name);
		return;
	}
	/* widths from the content: device ids run from 1 to 64 characters */
	int wdev = 6, wrev = 9, wchan = 7;
	size_t i;
	json_t *r;
	char revs[64];
	json_array_foreach(reports, i, r)
	{
		int d = (int)strlen(sv(r, "device", "")), ch = (int)strlen(sv(r, "channel", ""));
		int n = revisions_of(r, revs, sizeof(revs));
		wdev = d > wdev ? d : wdev;
		wchan = ch > wchan ? ch : wchan;
		wrev = n > wrev ? n : wrev;
	}
	printf("%-20s  %-*s  %-*s  %-*s  %-11s  %s\n", "Time", wdev, "Device", wrev, "Revision",
	       wchan, "Channel", "Result", "Failed step");
	json_array_foreach(reports, i, r)
	{
		char when[CLI_TIME_SIZE];
		cli_time_utc(json_integer_value(json_object_get(r, "time")), "?", when,
		             sizeof(when));
		revisions_of(r, revs, sizeof(revs));
		printf("%-20s  %-*s  %-*s  %-*s  %-11s  %s\n", when, wdev, sv(r, "device", "?"),
		       wrev, revs, wchan, sv(r, "channel", "-"), sv(r, "result", "?"),
		       sv(r, "failed-step", "-"));
	}
	/* what deltas saved, over the downloads these reports describe */
	long long deltas = 0, downloads = 0, got = 0, saved = 0;
	json_array_foreach(reports, i, r)
	{
		json_t *d = json_object_get(r, "download");
		if (!d)
			continue;
		downloads++;
		deltas += strcmp(cli_json_str(d, "path", ""), "delta") == 0;
		got += (long long)json_integer_value(json_object_get(d, "downloaded"));
		saved += (long long)json_integer_value(json_object_get(d, "saved"));
	}
	if (deltas)
		printf("\nDeltas: %lld of %lld downloads; %lld bytes downloaded, %lld saved "
		       "(%.0f%%)\n",
		       deltas, downloads, got, saved,
		       got + saved ? 100.0 * (double)saved / (double)(got + saved) : 0.0);
}

int cmd_reports(int argc, char **argv)
{
	const char *store = NULL, *device = NULL, *revision = NULL, *n_arg = NULL, *name = NULL;
	bool insecure = false, json = false;
	unsigned long long limit = 0;
	char *args[2];
	int nargs = 0;
	const struct cli_opt opts[] = {
	    {"--json", NULL, &json, NULL},
	    {"--insecure", NULL, &insecure, NULL},
	    {"--store", NULL, NULL, &store},
	    {"--device", NULL, NULL, &device},
	    {"--revision", NULL, NULL, &revision},
	    {"-n", NULL, NULL, &n_arg},
	    {NULL, NULL, NULL, NULL},
	};
	int rc = cli_parse_opts(argc, argv, "reports", opts, args, 2, &nargs);
	if (rc)
		return rc;
	if (nargs > 1) {
		fprintf(stderr, "ferry reports: one package at a time\n");
		return cli_usage("reports");
	}
	if (n_arg && (str_to_u64(n_arg, 1000, &limit) < 0 || limit == 0)) {
		fprintf(stderr, "ferry reports: -n: expected 1 to 1000\n");
		return 2;
	}
	name = nargs ? args[0] : NULL;
	if (!name)
		return cli_usage("reports");
	unsigned long long rev = 0;
	if (revision && (str_to_u64(revision, 1ull << 53, &rev) < 0 || rev == 0))
		return cli_fail("reports: --revision \"%s\": expected a positive number", revision);
	struct store_client c;
	ferry_error err = {0};
	if ((rc = cli_store_open(&c, store, insecure)))
		return rc;
	_cleanup_free_ char *ename = store_escape(name);
	_cleanup_free_ char *edev = device ? store_escape(device) : NULL;
	char path[1024], n[32] = "";
	if (limit)
		snprintf(n, sizeof(n), "%llu", limit);
	rc = str_printf(path, sizeof(path), "/v1/packages/%s/reports?limit=%s%s%s%s%s",
	                ename ? ename : "", limit ? n : "100", edev ? "&device=" : "",
	                edev ? edev : "", revision ? "&revision=" : "", revision ? revision : "");
	if (rc < 0) {
		store_client_free(&c);
		return cli_fail("reports: arguments too long");
	}
	json_t *reply = NULL;
	rc = store_call(&c, "GET", path, NULL, &reply, NULL, &err);
	store_client_free(&c);
	if (rc < 0) {
		json_decref(reply);
		return cli_fail("reports %s: %s", name, ferry_error_msg(&err));
	}
	if (json) {
		cli_print_json(json_object_get(reply, "reports"), false);
	} else {
		print_table(name, json_object_get(reply, "reports"));
	}
	json_decref(reply);
	return 0;
}
