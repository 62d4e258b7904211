/* main.c: ferry-store, the store. Verbs:
 *   init     create DIR (database, blob and temp directories, TUF repository)
 *   serve    run the HTTP server (publisher API and the static tree devices read)
 *   migrate  bring the database schema to this version
 *   account  add NAME | token NAME | revoke NAME [TOKEN-ID] | list
 *   track    add PACKAGE TRACK (open a track besides "latest")
 *   resign   [--all] [--within SECONDS]: re-sign metadata before it expires
 * Every verb takes --dir DIR (default .) and --db URL (default: SQLite at
 * DIR/store.db; or FERRY_STORE_DB). Exit 0 success, 1 failure, 2 bad usage. */
#include <errno.h>
#include <stddef.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "pkg/channel.h"
#include "reports.h"
#include "devicekeys.h"
#include "halt.h"
#include "inventory.h"
#include "metrics.h"
#include "ratelimit.h"
#include "rollout.h"
#include "store.h"
#include "vulns_admin.h"

static const char usage_text[] =
    "usage: ferry-store VERB [--dir DIR] [--db URL] [ARGS...]\n"
    "\n"
    "verbs:\n"
    "  init                      create the store in DIR: database, blobs, TUF keys\n"
    "  serve [--listen ADDR:PORT] [--threads N] [--max-upload BYTES] [--reports-keep N]\n"
    "                            serve the publisher API and the signed repository\n"
    "                            (default 127.0.0.1:8470); keep the newest N device\n"
    "                            reports per package (default 1000)\n"
    "        [--halt-failures N] [--halt-ratio PCT]\n"
    "                            halt a progressive release when at least N devices\n"
    "                            (default 3) and PCT% of those reporting it (default\n"
    "                            20) report it failing; 0 devices: never halt\n"
    "        [--webhook-allow-private]\n"
    "                            deliver webhooks to loopback, link-local and private\n"
    "                            addresses too (by default only to public ones)\n"
    "        [--device-key-days N] [--device-keys-max N] [--device-binds-per-hour N]\n"
    "                            a device's key binding lasts N days after its last\n"
    "                            report (default 180); at most N bindings (default\n"
    "                            1000000); at most N new devices an hour from one\n"
    "                            client address (default 100, 0: no limit)\n"
    "        [--devices-days N] [--devices-max N]\n"
    "                            forget a device not seen for N days (default 90, 0:\n"
    "                            record no check-ins); at most N devices (default\n"
    "                            1000000)\n"
    "        [--rollouts-days N]\n"
    "                            delete a staged rollout N days after it finished\n"
    "                            (default 365, 0: keep them all)\n"
    "        [--metrics on|off] [--metrics-token FILE]\n"
    "                            GET /metrics from loopback (default on), and from\n"
    "                            anywhere with the bearer token in FILE\n"
    "        [--conn-timeout S] [--max-connections N] [--max-connections-per-ip N]\n"
    "                            close a connection idle for S seconds (default 30);\n"
    "                            at most N connections (default 1000), N from one\n"
    "                            address (default 64, 0: no limit; behind a proxy,\n"
    "                            raise it to --max-connections)\n"
    "  migrate                   bring the database schema up to date\n"
    "  account add NAME          create a publisher account; prints its first token\n"
    "  account token NAME        issue another token (printed once)\n"
    "  account revoke NAME [ID]  revoke one token, or every token of the account\n"
    "  account list              accounts and their tokens\n"
    "  track add PACKAGE TRACK   open a track besides \"latest\" for a package\n"
    "  resign [--all] [--within SECONDS]\n"
    "                            re-sign timestamp and snapshot (with --all, every role,\n"
    "                            root and targets too: their keys must be in repo/keys/)\n"
    "                            expiring within SECONDS (default 1 day)\n"
    "  vulns import PATH         import OSV advisories (.json file, directory, .zip)\n"
    "  vulns sources [--json]    what was imported and when, with counts\n"
    "\n"
    "--dir DIR   the store directory (default .)\n"
    "--db URL    postgresql://... for PostgreSQL (or FERRY_STORE_DB); default SQLite in DIR\n"
    "--log-level error|warn|info|debug\n";

/* The metrics token: the first line of file, 16 to STORE_METRICS_TOKEN_MAX
 * printable bytes. */
static int read_metrics_token(const char *file, struct store *st, ferry_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = fs_read_file(file, STORE_METRICS_TOKEN_MAX + 2, &text, &len, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "--metrics-token %s", file);
	size_t read = len;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	bool ok = len >= 16 && len <= STORE_METRICS_TOKEN_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = text[i] > 0x20 && text[i] < 0x7f;
	if (ok) {
		memcpy(st->metrics_token, text, len);
		st->metrics_token[len] = '\0';
	}
	OPENSSL_clear_free(text, read);
	if (!ok)
		return ferry_error_set(
		    err, FERRY_E_INVALID,
		    "--metrics-token %s: expected one line of 16 to %d printable "
		    "characters without spaces",
		    file, STORE_METRICS_TOKEN_MAX);
	return 0;
}

static int usage(void)
{
	fputs(usage_text, stderr);
	return 2;
}

static int fail(const char *verb, const ferry_error *err)
{
	fprintf(stderr, "ferry-store %s: %s\n", verb, ferry_error_msg(err));
	return 1;
}

long long store_now(void)
{
	return (long long)time(NULL);
}

int store_paths(struct store *st, const char *dir, const char *db_url, ferry_error *err)
{
	char abs[PATH_MAX];
	if (!realpath(dir, abs)) {
		if (errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "%s", dir);
		if (str_copy(abs, sizeof(abs), dir) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
	}
	if (str_copy(st->dir, sizeof(st->dir), abs) < 0 ||
	    str_printf(st->blobs, sizeof(st->blobs), "%s/blobs", abs) < 0 ||
	    str_printf(st->tmp, sizeof(st->tmp), "%s/tmp", abs) < 0 ||
	    str_printf(st->repo, sizeof(st->repo), "%s/repo", abs) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
	if (db_url && *db_url) {
		if (str_copy(st->db_url, sizeof(st->db_url), db_url) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "--db: too long");
	} else if (str_printf(st->db_url, sizeof(st->db_url), "%s/store.db", abs) < 0) {
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
	}
	return 0;
}

struct opts {
	const char *dir;
	const char *db;
	const char *listen;
	unsigned threads;
	unsigned long long max_upload;
	unsigned long long reports_keep;
	unsigned long long halt_failures, halt_ratio;
	unsigned long long device_key_days, device_keys_max, device_binds_per_hour;
	unsigned long long conn_timeout, max_connections, max_connections_ip;
	unsigned long long devices_days, devices_max;
	unsigned long long rollouts_days;
	const char *metrics, *metrics_token;
	unsigned long long within;
	bool all;
	bool webhook_allow_private;
	char *args[8];
	int nargs;
};

/* The numeric settings of serve that need nothing but a range check. */
static const struct {
	const char *name;
	unsigned long long min, max;
	size_t offset;
} number_opts[] = {
    {"--device-key-days", 1, DEVICE_KEY_DAYS_MAX, offsetof(struct opts, device_key_days)},
    {"--device-keys-max", 1, DEVICE_KEYS_MAX_MAX, offsetof(struct opts, device_keys_max)},
    {"--device-binds-per-hour", 0, 1000000, offsetof(struct opts, device_binds_per_hour)},
    {"--conn-timeout", 1, STORE_CONN_TIMEOUT_MAX, offsetof(struct opts, conn_timeout)},
    {"--max-connections", 1, STORE_MAX_CONNECTIONS_MAX, offsetof(struct opts, max_connections)},
    {"--max-connections-per-ip", 0, STORE_MAX_CONNECTIONS_MAX,
     offsetof(struct opts, max_connections_ip)},
    {"--devices-days", 0, INVENTORY_DAYS_MAX, offsetof(struct opts, devices_days)},
    {"--devices-max", 1, INVENTORY_MAX_MAX, offsetof(struct opts, devices_max)},
    {"--rollouts-days", 0, ROLLOUT_DAYS_MAX, offsetof(struct opts, rollouts_days)},
};

/* 1: a is one of number_opts and its value is stored; 0: it is not one;
 * -1: its value is out of range (said on stderr). */
static int parse_number_opt(const char *a, const char *v, struct opts *o)
{
	for (size_t i = 0; i < ARRAY_SIZE(number_opts); i++) {
		if (strcmp(a, number_opts[i].name) != 0)
			continue;
		unsigned long long *out =
		    (unsigned long long *)(void *)((char *)o + number_opts[i].offset);
		if (str_to_u64(v, number_opts[i].max, out) < 0 || *out < number_opts[i].min) {
			fprintf(stderr, "ferry-store: %s: expected %llu to %llu\n", a,
			        number_opts[i].min, number_opts[i].max);
			return -1;
		}
		return 1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->dir = ".";
	o->db = getenv("FERRY_STORE_DB");
	o->listen = STORE_DEFAULT_LISTEN;
	o->threads = 4;
	o->max_upload = STORE_DEFAULT_MAX_UPLOAD;
	o->within = 86400;
	o->reports_keep = REPORTS_KEEP_DEFAULT;
	o->halt_failures = HALT_FAILURES_DEFAULT;
	o->halt_ratio = HALT_RATIO_DEFAULT;
	o->device_key_days = DEVICE_KEY_DAYS_DEFAULT;
	o->device_keys_max = DEVICE_KEYS_MAX_DEFAULT;
	o->device_binds_per_hour = DEVICE_BINDS_PER_HOUR_DEFAULT;
	o->conn_timeout = STORE_CONN_TIMEOUT_DEFAULT;
	o->max_connections = STORE_MAX_CONNECTIONS_DEFAULT;
	o->max_connections_ip = STORE_MAX_CONNECTIONS_IP_DEFAULT;
	o->devices_days = INVENTORY_DAYS_DEFAULT;
	o->devices_max = INVENTORY_MAX_DEFAULT;
	o->rollouts_days = ROLLOUT_DAYS_DEFAULT;
	o->metrics = "on";
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int number = v ? parse_number_opt(a, v, o) : 0;
		if (number < 0)
			return 2;
		if (number > 0) {
			i++;
			continue;
		}
		bool has = true;
		if (strcmp(a, "--dir") == 0 && v)
			o->dir = v;
		else if (strcmp(a, "--db") == 0 && v)
			o->db = v;
		else if (strcmp(a, "--listen") == 0 && v)
			o->listen = v;
		else if (strcmp(a, "--threads") == 0 && v) {
			unsigned long long n = 0;
			if (str_to_u64(v, 256, &n) < 0 || n == 0) {
				fprintf(stderr, "ferry-store: --threads: expected 1 to 256\n");
				return 2;
			}
			o->threads = (unsigned)n;
		} else if (strcmp(a, "--max-upload") == 0 && v) {
			if (str_to_u64(v, 1ull << 40, &o->max_upload) < 0 || o->max_upload == 0) {
				fprintf(stderr,
				        "ferry-store: --max-upload: expected a number of bytes "
				        "up to 1 TiB\n");
				return 2;
			}
		} else if (strcmp(a, "--reports-keep") == 0 && v) {
			if (str_to_u64(v, REPORTS_KEEP_MAX, &o->reports_keep) < 0 ||
			    o->reports_keep == 0) {
				fprintf(stderr, "ferry-store: --reports-keep: expected 1 to %d\n",
				        REPORTS_KEEP_MAX);
				return 2;
			}
		} else if (strcmp(a, "--halt-failures") == 0 && v) {
			if (str_to_u64(v, HALT_FAILURES_MAX, &o->halt_failures) < 0) {
				fprintf(stderr,
				        "ferry-store: --halt-failures: expected 0 (never halt) to "
				        "%d devices\n",
				        HALT_FAILURES_MAX);
				return 2;
			}
		} else if (strcmp(a, "--halt-ratio") == 0 && v) {
			if (str_to_u64(v, 100, &o->halt_ratio) < 0) {
				fprintf(stderr,
				        "ferry-store: --halt-ratio: expected a percentage from 0 "
				        "to 100\n");
				return 2;
			}
		} else if (strcmp(a, "--within") == 0 && v) {
			if (str_to_u64(v, 100ull * 366 * 86400, &o->within) < 0) {
				fprintf(stderr, "ferry-store: --within: expected seconds\n");
				return 2;
			}
		} else if (strcmp(a, "--all") == 0) {
			o->all = true;
			continue;
		} else if (strcmp(a, "--webhook-allow-private") == 0) {
			o->webhook_allow_private = true;
			continue;
		} else if (strcmp(a, "--metrics") == 0 && v) {
			if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
				fprintf(stderr, "ferry-store: --metrics: expected on or off\n");
				return 2;
			}
			o->metrics = v;
		} else if (strcmp(a, "--metrics-token") == 0 && v) {
			o->metrics_token = v;
		} else if (strcmp(a, "--log-level") == 0 && v) {
			int l = log_level_parse(v);
			if (l < 0) {
				fprintf(stderr,
				        "ferry-store: --log-level: expected error, warn, info "
				        "or debug\n");
				return 2;
			}
			log_set_level((enum log_level)l);
		} else {
			has = false;
		}
		if (has) {
			i++;
			continue;
		}
		if (a[0] == '-' && a[1]) {
			fprintf(stderr, "ferry-store: unknown option %s%s\n", a,
			        v ? "" : " (or it needs a value)");
			return 2;
		}
		if (o->nargs == (int)ARRAY_SIZE(o->args)) {
			fprintf(stderr, "ferry-store: too many arguments\n");
			return 2;
		}
		o->args[o->nargs++] = argv[i];
	}
	return 0;
}

static int cmd_init(struct store *st, struct opts *o)
{
	ferry_error err = {0};
	if (o->nargs)
		return usage();
	if (fs_exists(st->repo))
		return ferry_error_set(&err, FERRY_E_EXISTS, "%s: a store is already there",
		                       st->dir),
		       fail("init", &err);
	if (fs_mkdir_p(st->dir, 0755, &err) < 0 || fs_mkdir_p(st->blobs, 0755, &err) < 0 ||
	    fs_mkdir_p(st->tmp, 0700, &err) < 0)
		return fail("init", &err);
	struct db *db = NULL;
	int from = 0, to = 0;
	if (db_open(st->db_url, &db, &err) < 0 || db_migrate(db, &from, &to, &err) < 0) {
		db_close(db);
		return fail("init", &err);
	}
	db_close(db);
	if (publish_init(st, &err) < 0)
		return fail("init", &err);
	printf("store created in %s (database schema version %d)\n", st->dir, to);
	printf("root metadata for devices: %s/published/metadata/1.root.json\n", st->repo);
	return 0;
}

static int cmd_migrate(struct store *st, struct opts *o)
{
	ferry_error err = {0};
	struct db *db = NULL;
	int from = 0, to = 0;
	if (o->nargs)
		return usage();
	if (db_open(st->db_url, &db, &err) < 0 || db_migrate(db, &from, &to, &err) < 0) {
		db_close(db);
		return fail("migrate", &err);
	}
	db_close(db);
	if (from == to)
		printf("database schema is at version %d, nothing to do\n", to);
	else
		printf("database schema migrated from version %d to %d\n", from, to);
	return 0;
}

static int print_token(const char *account, struct db *db, ferry_error *err)
{
	char *token = NULL, id[17];
	int rc = token_issue(db, account, &token, id, err);
	if (rc < 0)
		return rc;
	printf("%s\n", token);
	fflush(stdout);
	fprintf(stderr, "token %s for %s: shown once, keep it secret\n", id, account);
	OPENSSL_clear_free(token, strlen(token));
	return 0;
}

static int cmd_account(struct store *st, struct opts *o)
{
	ferry_error err = {0};
	struct db *db = NULL;
	int rc = 0;
	if (o->nargs < 1)
		return usage();
	const char *sub = o->args[0];
	if (strcmp(sub, "list") == 0     ? o->nargs != 1
	    : strcmp(sub, "revoke") == 0 ? (o->nargs < 2 || o->nargs > 3)
	    : (strcmp(sub, "add") == 0 || strcmp(sub, "token") == 0) ? o->nargs != 2
	                                                             : true)
		return usage();
	if (db_open_checked(st->db_url, &db, &err) < 0)
		return fail("account", &err);
	if (strcmp(sub, "add") == 0) {
		rc = db_begin(db, true, &err);
		if (rc == 0)
			rc = account_add(db, o->args[1], &err);
		if (rc == 0)
			rc = print_token(o->args[1], db, &err);
		if (rc == 0)
			rc = db_commit(db, &err);
		db_rollback(db);
	} else if (strcmp(sub, "token") == 0) {
		rc = print_token(o->args[1], db, &err);
	} else if (strcmp(sub, "revoke") == 0) {
		size_t n = 0;
		rc = token_revoke(db, o->args[1], o->nargs == 3 ? o->args[2] : NULL, &n, &err);
		if (rc == 0)
			printf("revoked %zu token%s of %s\n", n, n == 1 ? "" : "s", o->args[1]);
	} else {
		rc = account_list(db, &err);
	}
	db_close(db);
	return rc < 0 ? fail("account", &err) : 0;
}

static int cmd_track(struct store *st, struct opts *o)
{
	ferry_error err = {0};
	struct db *db = NULL;
	if (o->nargs != 3 || strcmp(o->args[0], "add") != 0)
		return usage();
	const char *pkg = o->args[1], *track = o->args[2];
	if (!channel_track_valid(track))
		return fprintf(stderr,
		               "ferry-store track: invalid track \"%s\": letters and digits with "
		               "single '.', '_' or '-' between them, at most %d bytes\n",
		               track, CHANNEL_TRACK_MAX),
		       1;
	if (db_open_checked(st->db_url, &db, &err) < 0)
		return fail("track", &err);
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	char now[24];
	snprintf(now, sizeof(now), "%lld", store_now());
	int rc = db_run(db, &rows, &err, "SELECT name FROM packages WHERE name = $1", pkg);
	if (rc == 0 && rows.nrows == 0)
		rc = ferry_error_set(&err, FERRY_E_NOTFOUND, "package %s is not registered", pkg);
	if (rc == 0 && strcmp(track, CHANNEL_DEFAULT_TRACK) != 0)
		rc = db_run(db, NULL, &err,
		            "INSERT INTO tracks (package, track, created) VALUES ($1, $2, $3)", pkg,
		            track, now);
	db_close(db);
	if (rc == FERRY_E_EXISTS) {
		printf("track %s of %s is already open\n", track, pkg);
		return 0;
	}
	if (rc < 0)
		return fail("track", &err);
	printf("track %s of %s is open\n", track, pkg);
	return 0;
}

static int cmd_resign(struct store *st, struct opts *o)
{
	ferry_error err = {0};
	size_t n = 0;
	if (o->nargs)
		return usage();
	int rc = o->all ? publish_resign_all(st, (long long)o->within, &n, &err)
	                : publish_resign(st, (long long)o->within, &n, &err);
	if (rc < 0)
		return fail("resign", &err);
	printf("re-signed %zu role%s\n", n, n == 1 ? "" : "s");
	return 0;
}

static int cmd_serve(struct store *st, struct opts *o)
{
	ferry_error err = {0};
	int rc;
	if (o->nargs)
		return usage();
	if (!fs_exists(st->repo)) {
		ferry_error_set(&err, FERRY_E_NOTFOUND, "%s: no store here; run ferry-store init",
		                st->dir);
		return fail("serve", &err);
	}
	st->max_upload = o->max_upload;
	st->threads = o->threads;
	st->reports_keep = (unsigned)o->reports_keep;
	st->halt_failures = (unsigned)o->halt_failures;
	st->halt_ratio = (unsigned)o->halt_ratio;
	st->webhook_allow_private = o->webhook_allow_private;
	st->device_key_days = (unsigned)o->device_key_days;
	st->device_keys_max = (unsigned)o->device_keys_max;
	st->conn_timeout = (unsigned)o->conn_timeout;
	st->max_connections = (unsigned)o->max_connections;
	st->max_connections_ip = (unsigned)o->max_connections_ip;
	st->devices_days = (unsigned)o->devices_days;
	st->devices_max = (unsigned)o->devices_max;
	st->rollouts_days = (unsigned)o->rollouts_days;
	st->metrics_on = strcmp(o->metrics, "on") == 0;
	if (o->metrics_token && (rc = read_metrics_token(o->metrics_token, st, &err)) < 0)
		return fail("serve", &err);
	if (metrics_new(&st->metrics, &err) < 0)
		return fail("serve", &err);
	st->bind_limit = ratelimit_new((unsigned)o->device_binds_per_hour);
	if (o->device_binds_per_hour && !st->bind_limit) {
		ferry_error_set(&err, FERRY_E_NOMEM, "out of memory");
		return fail("serve", &err);
	}
	rc = server_run(st, o->listen, &err);
	ratelimit_free(st->bind_limit);
	st->bind_limit = NULL;
	metrics_free(st->metrics);
	st->metrics = NULL;
	OPENSSL_cleanse(st->metrics_token, sizeof(st->metrics_token));
	return rc < 0 ? fail("serve", &err) : 0;
}

int main(int argc, char **argv)
{
	log_setup("ferry-store", LOG_LEVEL_INFO, NULL);
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("ferry-store %s\n", FERRY_VERSION);
		return 0;
	}
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc < 2) {
		return usage();
	}
	const char *verb = argv[1];
	static const char *const verbs[] = {"init",  "serve",  "migrate", "account",
	                                    "track", "resign", "vulns",   NULL};
	bool known = false;
	for (size_t i = 0; verbs[i]; i++)
		known |= strcmp(verbs[i], verb) == 0;
	if (!known) {
		const char *near = str_did_you_mean(verb, verbs);
		if (near)
			fprintf(stderr, "ferry-store: unknown verb \"%s\"; did you mean \"%s\"?\n",
			        verb, near);
		else
			fprintf(stderr, "ferry-store: unknown verb \"%s\"\n", verb);
		return usage();
	}
	if (strcmp(verb, "vulns") == 0)
		return vulns_main(argc - 2, argv + 2);
	struct opts o;
	int rc = parse_opts(argc - 2, argv + 2, &o);
	if (rc)
		return rc;
	static struct store st;
	ferry_error err = {0};
	if (store_paths(&st, o.dir, o.db, &err) < 0)
		return fail(verb, &err);
	snprintf(st.instance, sizeof(st.instance), "%d", (int)getpid());
	pthread_mutex_init(&st.publish_lock, NULL);
	if (strcmp(verb, "init") == 0)
		return cmd_init(&st, &o);
	if (strcmp(verb, "serve") == 0)
		return cmd_serve(&st, &o);
	if (strcmp(verb, "migrate") == 0)
		return cmd_migrate(&st, &o);
	if (strcmp(verb, "account") == 0)
		return cmd_account(&st, &o);
	if (strcmp(verb, "resign") == 0)
		return cmd_resign(&st, &o);
	return cmd_track(&st, &o);
}
