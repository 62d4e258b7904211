/* store.h: ferry-store's pieces and the one struct the program keeps its
 * state in. The store directory (--dir DIR) holds:
 *   store.db             the SQLite database (when --db is not PostgreSQL)
 *   blobs/sha256/AB/HEX  every accepted image, named by its SHA-256
 *   tmp/                 uploads in progress (removed at start)
 *   repo/                the TUF repository (lib/tuf/repo.h); repo/published/
 *                        is the static tree devices read
 * Several instances over one PostgreSQL share DIR (a shared file system);
 * the TUF repository's lock serialises publishing between them. */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "db.h"

#define STORE_DEFAULT_LISTEN "127.0.0.1:8470"
#define STORE_DEFAULT_MAX_UPLOAD (2ull * 1024 * 1024 * 1024) /* bytes of one image */
#define STORE_MAX_JSON_BODY (64u * 1024)                     /* bytes of a JSON request */
#define STORE_MAX_JSON_DEPTH 32
#define STORE_ACCOUNT_MAX 40
#define STORE_BRANCH_LIFETIME_S (30LL * 24 * 3600)
/* the listener (server.c): an idle connection is closed after the timeout;
 * beyond the caps a new connection is closed at once */
#define STORE_CONN_TIMEOUT_DEFAULT 30 /* seconds */
#define STORE_CONN_TIMEOUT_MAX 600
#define STORE_MAX_CONNECTIONS_DEFAULT 1000
#define STORE_MAX_CONNECTIONS_MAX 60000
#define STORE_MAX_CONNECTIONS_IP_DEFAULT 64

#define STORE_METRICS_TOKEN_MAX 256

struct ratelimit;
struct metrics;

struct store {
	char dir[PATH_MAX];
	char db_url[PATH_MAX + 16];
	char blobs[PATH_MAX];
	char tmp[PATH_MAX];
	char repo[PATH_MAX];
	char instance[24]; /* this process, in the job table's owner column */
	uint64_t max_upload;
	unsigned threads;
	unsigned reports_keep;        /* outcome reports kept per package */
	unsigned halt_failures;       /* halt.h: devices failing a progressive release, 0: off */
	unsigned halt_ratio;          /* and their share of the devices reporting it, percent */
	unsigned device_key_days;     /* devicekeys.h: a binding outlives its last report */
	unsigned device_keys_max;     /* bindings kept at most */
	struct ratelimit *bind_limit; /* new bindings per client address, NULL: no limit */
	unsigned conn_timeout;        /* server.c: seconds a connection may stay idle */
	unsigned max_connections;     /* connections at once */
	unsigned max_connections_ip;  /* of them from one address, 0: no limit */
	bool webhook_allow_private;   /* webhooks.c: deliver to any address */
	unsigned devices_days;        /* inventory.h: forget devices not seen for this, 0: off */
	unsigned devices_max;         /* devices kept at most */
	unsigned rollouts_days;       /* rollout.h: finished rollouts kept this long, 0: forever */
	bool metrics_on;              /* metrics.h: GET /metrics answered (loopback or token) */
	char metrics_token[STORE_METRICS_TOKEN_MAX + 1]; /* "" when none */
	struct metrics *metrics;
	struct db_pool pool;
	pthread_mutex_t publish_lock; /* one publisher per process; the repo lock across */
	atomic_int stopping; /* set once by the main thread at SIGTERM; the job workers read it */
};

/* Fill the paths from dir and db_url (NULL: DIR/store.db). */
int store_paths(struct store *st, const char *dir, const char *db_url, ferry_error *err) FERRY_WUR;

long long store_now(void);

/* --- accounts and tokens (account.c) --- */
bool account_name_valid(const char *name);
int account_add(struct db *db, const char *name, ferry_error *err) FERRY_WUR;
/* A new token for an existing account: *token (heap, wipe and free) is
 * shown once; only its SHA-256 is stored. *id: short public id. */
int token_issue(struct db *db, const char *account, char **token, char id[17],
                ferry_error *err) FERRY_WUR;
/* Revoke one token by id, or every token of the account when id is NULL. */
int token_revoke(struct db *db, const char *account, const char *id, size_t *count,
                 ferry_error *err) FERRY_WUR;
/* Whose token is this? FERRY_E_PERM for malformed, unknown or revoked. */
int token_lookup(struct db *db, const char *token, char account[STORE_ACCOUNT_MAX + 1],
                 ferry_error *err) FERRY_WUR;
/* Print accounts and their tokens (ids, created, revoked) to stdout. */
int account_list(struct db *db, ferry_error *err) FERRY_WUR;

/* --- the HTTP server (server.c) --- */
int server_run(struct store *st, const char *listen, ferry_error *err) FERRY_WUR;

/* --- publishing the TUF repository (publish.c) --- */
/* Create the repository at init. */
int publish_init(struct store *st, ferry_error *err) FERRY_WUR;
/* Bring the published metadata of one package up to the database's channel
 * map (and its released images). */
int publish_package(struct store *st, struct db *db, const char *package,
                    ferry_error *err) FERRY_WUR;
/* Publish every package whose channel map is ahead of what is published
 * (after a crash). *count gets how many. */
int publish_recover(struct store *st, struct db *db, size_t *count, ferry_error *err) FERRY_WUR;
/* Re-sign timestamp and snapshot when they expire within within_s, and the
 * online delegated roles (bins, packages) within 7 days of expiry. */
int publish_resign(struct store *st, long long within_s, size_t *count, ferry_error *err) FERRY_WUR;

/* Re-sign every role expiring within within_s, root and targets included
 * (their keys must be in repo/keys/: the offline-key ceremony). */
int publish_resign_all(struct store *st, long long within_s, size_t *count,
                       ferry_error *err) FERRY_WUR;
