/* agent.h: ferryd's context, the one struct that holds the program's
 * settings and state, handed to every function that needs it as its first
 * parameter (`struct agent *ag`); and the few helpers on it every file uses
 * (paths under the root, clocks, waiting). Each file declares its own
 * functions in its own header (revs.h, services.h, health.h, sandbox.h,
 * txn.h, steps.h, schedule.h, api.h, store.h, report.h, state.h, config.h,
 * conf.h, ctl.h).
 * No file keeps a global copy: src/agent/main.c owns the single instance of
 * ferryd, and unit tests make their own.
 *
 * Threads: the main thread runs the event loop (local API, child processes,
 * service logs, timers); one worker thread runs changes (transactions) one at
 * a time; a sender thread posts outcome reports. All of them share the one
 * struct agent main.c hands them. Its settings are written before the
 * threads start and only read afterwards. Everything in struct agent below
 * `lock` is guarded by it; the main thread holds it while it handles an
 * event, the worker while it touches services or children. Each thread has
 * its own SQLite connection (the main thread's is ag->db; the worker's and
 * the sender's are their own, passed to the functions that read state.db).
 * Only the main thread reaps children: the worker waits on `cond` for what it
 * needs. */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* For results that are rightly ignored (gcc ignores a (void) cast on them). */
#define IGNORE_RC(x)                                                                               \
	do {                                                                                       \
		if (x) {                                                                           \
		}                                                                                  \
	} while (0)

#define AGENT_DEFAULT_ROOT "/var/lib/ferry"
#define AGENT_DEFAULT_SOCKET "/run/ferry/ferryd.sock"
#define AGENT_LOG_MAX_DEFAULT (1024 * 1024) /* bytes per log file before rotation */
#define AGENT_RETAIN_DEFAULT 2
#define AGENT_RETAIN_MIN 2
#define AGENT_RETAIN_MAX 20
#define AGENT_HOOK_LOG_LINES 10      /* lines quoted when something fails */
#define AGENT_START_TIMEOUT_MS 30000 /* notify/forking/oneshot start */
#define AGENT_HOOK_TIMEOUT_DEFAULT_MS (10 * 60 * 1000)
#define AGENT_APP_ID_MIN 70000
#define AGENT_APP_ID_MAX 79999
/* The local API's connections (api.c, docs/device.md): at most
 * API_MAX_CONNS open, of which at most API_MAX_USER_CONNS belong to users
 * other than root and ferryd's own (the rest is kept for them), at most
 * API_MAX_CONNS_PER_UID to any one such user; idle ones are closed after
 * API_IDLE_TIMEOUT_S. */
#define API_MAX_CONNS 64
#define API_MAX_USER_CONNS 48
#define API_MAX_CONNS_PER_UID 8
#define API_IDLE_TIMEOUT_S 30

struct service;    /* services.h */
struct child;      /* services.h */
struct txn_table;  /* txn.h */
struct crypto_key; /* crypto/key.h */
struct ctl_server; /* ctl.c's own */

/* report.c's own: the device key and the sender thread. */
struct agent_reports {
	struct crypto_key *key;
	char key_hex[65];
	pthread_t thread;
	bool started;
	bool kicked;      /* a report was queued since the sender last looked (lock) */
	bool checkin_due; /* a change finished: tell the store what runs (lock) */
};

struct agent {
	/* settings: filled by config.c before any thread starts, then read only */
	char root[PATH_MAX];
	char socket_path[108];
	char notify_path[108];
	int log_level;   /* enum log_level */
	bool privileged; /* euid 0: loop mounts */
	bool checkin;    /* send the store a check-in after each change (report.c) */
	bool extract;    /* images extracted instead of mounted */
	int retain;
	uint64_t log_max;
	uint64_t hook_timeout_ms; /* hooks other than check-health */
	uid_t owner_uid;          /* may change state besides root */
	char *store_url;
	char *trust_path;
	char device_id[65];      /* generated at first start (config device-id) */
	unsigned retries;        /* attempts of one network operation */
	uint64_t retry_delay_ms; /* first back-off; doubles */
	uint64_t min_free;       /* bytes a download must leave free */
	char *refresh_timer;     /* "00:00~24:00/4" or "every 10m" */
	bool confine;            /* apps run through ferry-confine (off: development only) */
	char confine_path[PATH_MAX];
	char ctl_tool[PATH_MAX];         /* ferry-ctl, bound into sandboxes; "" when not found */
	char *cgroup_parent;             /* --cgroup-parent for ferry-confine, NULL: its default */
	uint64_t app_id_min, app_id_max; /* uids and gids of packages (as root) */
	const struct txn_table *txns;    /* the changes the worker knows (steps.c's) */

	sqlite3 *db; /* main thread's connection */
	int epfd, sigfd, notify_fd, listen_fd;
	void *mhd; /* struct MHD_Daemon */
	/* open API connections of each uid but root and owner_uid (api.c) */
	struct api_peer {
		uid_t uid;
		unsigned n;
	} api_peers[API_MAX_USER_CONNS];
	unsigned api_user_conns;     /* their sum */
	int64_t api_warned_ms;       /* last warning a user can cause (monotonic) */
	int64_t api_paused_until_ms; /* listener not watched (out of descriptors) */
	pthread_t worker;
	bool worker_started;

	char db_path[PATH_MAX];
	int wake_fd; /* eventfd: the worker has finished */
	struct agent_reports reports;
	struct ctl_server *ctl; /* the packages' sockets (ctl.c; its own lock) */

	_Atomic bool quit; /* SIGTERM/SIGINT: stop at the next safe point */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* broadcast on any child exit, readiness or work */
	bool work;           /* a change was queued */
	bool ready;          /* start-up recovery done */
	bool worker_done;
	struct service *services;
	struct child *children;
	int64_t running_change;                 /* id of the change the worker runs, 0 none */
	uint64_t progress_done, progress_total; /* the download under way */
	int64_t refresh_next;      /* wall clock of the next automatic refresh, 0 none */
	unsigned refresh_failures; /* consecutive automatic checks that failed */
};

/* Settings at their defaults, descriptors at -1, the lock and the condition
 * variable (on CLOCK_MONOTONIC) made. */
void agent_init(struct agent *ag);
/* Free what agent_init and config.c allocated (not the connections). */
void agent_cleanup(struct agent *ag);

/* time */
int64_t now_ms(void); /* CLOCK_MONOTONIC */
/* Wait on ag->cond, with ag->lock held, for at most ms milliseconds. */
void agent_wait_ms(struct agent *ag, int64_t ms);
int64_t wall_s(void);  /* time(NULL) */
int64_t wall_ms(void); /* CLOCK_REALTIME in milliseconds */

/* paths under the root: "ROOT/FMT" into out (PATH_MAX) */
int agent_path(const struct agent *ag, char *out, const char *fmt, ...)
    FERRY_PRINTF(3, 4) FERRY_WUR;
