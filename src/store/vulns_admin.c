/* vulns_admin.c: the `ferry-store vulns` commands: `import PATH` reads
 * OSV advisories into the store's database (and queues the scans they
 * call for), `sources` lists what was imported. They open the database
 * themselves (--dir, --db or FERRY_STORE_DB) and print for a person or as
 * JSON. Not here: the import itself (vulns.c). */
#include "vulns_admin.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "store.h"
#include "vulns.h"

static const char vulns_usage[] =
    "usage: ferry-store vulns import PATH [--dir DIR] [--db URL]\n"
    "       ferry-store vulns sources [--json] [--dir DIR] [--db URL]\n"
    "  import   read OSV advisories from a .json file, a directory of them or a .zip\n"
    "  sources  what was imported, from where and when, with counts\n";

static void print_reject(void *ctx, const char *origin, const char *id, const ferry_error *why)
{
	(void)ctx;
	(void)origin;
	(void)id;
	fprintf(stderr, "ferry-store vulns import: rejected: %s\n", ferry_error_msg(why));
}

static int open_store_db(const char *dir, const char *url, struct db **db, ferry_error *err)
{
	char path[PATH_MAX + 16];
	if (!url || !*url) {
		if (str_printf(path, sizeof(path), "%s/store.db", dir) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
		if (!fs_exists(path))
			return ferry_error_set(
			    err, FERRY_E_NOTFOUND,
			    "%s: no store here; run ferry-store init or give --db", dir);
		url = path;
	}
	return db_open_checked(url, db, err);
}

static void fmt_time(long long t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "-");
}

static int print_sources(struct db *db, bool as_json, ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT, tot = DB_ROWS_INIT;
	int rc =
	    db_exec(db,
	            "SELECT id, path, started, finished, files, records, added, replaced, "
	            "unchanged, older, withdrawn, rejected, error FROM vuln_sources ORDER BY id",
	            NULL, 0, &rows, err);
	if (rc == 0)
		rc = db_exec(db, "SELECT COUNT(*), COUNT(withdrawn), MAX(updated) FROM advisories",
		             NULL, 0, &tot, err);
	if (rc < 0)
		return rc;
	static const char *const cols[] = {"files",     "records", "added",     "replaced",
	                                   "unchanged", "older",   "withdrawn", "rejected"};
	if (as_json) {
		json_auto_t *list = json_array();
		for (size_t i = 0; i < rows.nrows; i++) {
			json_t *o = json_pack(
			    "{s:I, s:s, s:I, s:o, s:o}", "id", (json_int_t)db_cell_ll(&rows, i, 0),
			    "path", db_cell(&rows, i, 1), "started",
			    (json_int_t)db_cell_ll(&rows, i, 2), "finished",
			    db_cell(&rows, i, 3) ? json_integer(db_cell_ll(&rows, i, 3))
			                         : json_null(),
			    "error",
			    db_cell(&rows, i, 12) ? json_string(db_cell(&rows, i, 12))
			                          : json_null());
			for (size_t k = 0; o && k < 8; k++)
				json_object_set_new(o, cols[k],
				                    json_integer(db_cell_ll(&rows, i, 4 + k)));
			json_array_append_new(list, o);
		}
		json_auto_t *doc =
		    json_pack("{s:I, s:I, s:O}", "advisories", (json_int_t)db_cell_ll(&tot, 0, 0),
		              "withdrawn", (json_int_t)db_cell_ll(&tot, 0, 1), "imports", list);
		_cleanup_free_ char *s =
		    doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
		if (!s)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		printf("%s\n", s);
		return 0;
	}
	char last[32];
	fmt_time(db_cell_ll(&tot, 0, 2), last);
	printf("%lld advisories held (%lld withdrawn), last changed %s\n", db_cell_ll(&tot, 0, 0),
	       db_cell_ll(&tot, 0, 1), last);
	if (rows.nrows == 0) {
		printf("nothing imported yet: ferry-store vulns import PATH\n");
		return 0;
	}
	printf("%-20s %8s %6s %8s %7s %7s %9s %9s %8s  %s\n", "Imported", "Records", "Added",
	       "Replaced", "Same", "Older", "Withdrawn", "Rejected", "Status", "Path");
	for (size_t i = 0; i < rows.nrows; i++) {
		char when[32];
		fmt_time(db_cell_ll(&rows, i, 2), when);
		const char *status = db_cell(&rows, i, 12)  ? "failed"
		                     : db_cell(&rows, i, 3) ? "done"
		                                            : "running";
		printf("%-20s %8lld %6lld %8lld %7lld %7lld %9lld %9lld %8s  %s\n", when,
		       db_cell_ll(&rows, i, 5), db_cell_ll(&rows, i, 6), db_cell_ll(&rows, i, 7),
		       db_cell_ll(&rows, i, 8), db_cell_ll(&rows, i, 9), db_cell_ll(&rows, i, 10),
		       db_cell_ll(&rows, i, 11), status, db_cell(&rows, i, 1));
		if (db_cell(&rows, i, 12))
			printf("%20s %s\n", "", db_cell(&rows, i, 12));
	}
	return 0;
}

int vulns_main(int argc, char **argv)
{
	const char *dir = ".", *url = getenv("FERRY_STORE_DB");
	bool as_json = false;
	const char *args[4];
	int nargs = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			as_json = true;
		} else if ((strcmp(a, "--dir") == 0 || strcmp(a, "--db") == 0 ||
		            strcmp(a, "--log-level") == 0) &&
		           v) {
			if (a[2] == 'd' && a[3] == 'i')
				dir = v;
			else if (a[2] == 'd')
				url = v;
			else if (log_level_parse(v) >= 0)
				log_set_level((enum log_level)log_level_parse(v));
			i++;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(vulns_usage, stdout);
			return 0;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "ferry-store vulns: unknown option %s%s\n", a,
			        v ? "" : " (or it needs a value)");
			fputs(vulns_usage, stderr);
			return 2;
		} else if (nargs < 4) {
			args[nargs++] = a;
		} else {
			fputs(vulns_usage, stderr);
			return 2;
		}
	}
	bool import = nargs == 2 && strcmp(args[0], "import") == 0;
	bool sources = nargs == 1 && strcmp(args[0], "sources") == 0;
	if (!import && !sources) {
		fputs(vulns_usage, stderr);
		return 2;
	}
	ferry_error err = {0};
	struct db *db = NULL;
	if (open_store_db(dir, url, &db, &err) < 0) {
		fprintf(stderr, "ferry-store vulns: %s\n", ferry_error_msg(&err));
		return 1;
	}
	int rc;
	if (sources) {
		rc = print_sources(db, as_json, &err);
		db_close(db);
		if (rc < 0)
			fprintf(stderr, "ferry-store vulns sources: %s\n", ferry_error_msg(&err));
		return rc < 0 ? 1 : 0;
	}
	struct vulns_import_counts n = {0};
	rc = vulns_import(db, args[1], print_reject, NULL, &n, &err);
	db_close(db);
	if (rc < 0) {
		fprintf(stderr, "ferry-store vulns import: %s\n", ferry_error_msg(&err));
		fprintf(stderr,
		        "ferry-store vulns import: %zu records read before the failure were kept\n",
		        n.records);
		return 1;
	}
	printf("imported %s: %zu record%s from %zu file%s: %zu added, %zu replaced, %zu unchanged, "
	       "%zu older, %zu withdrawn, %zu rejected\n",
	       args[1], n.records, n.records == 1 ? "" : "s", n.files, n.files == 1 ? "" : "s",
	       n.added, n.replaced, n.unchanged, n.older, n.withdrawn, n.rejected);
	if (n.jobs)
		printf("queued %zu scan%s of the packages these advisories name\n", n.jobs,
		       n.jobs == 1 ? "" : "s");
	return 0;
}
