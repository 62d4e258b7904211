/* agent.h: ferryd's internals shared between its files: the one struct that
 * holds the program's state, and the functions each file offers the others.
 *
 * Threads: the main thread runs the event loop (local API, child processes,
 * service logs, timers); one worker thread runs changes (transactions) one at
 * a time. Everything in struct agent below `lock` is guarded by it; the main
 * thread holds it while it handles an event, the worker while it touches
 * services or children. Each thread has its own SQLite connection. Only the
 * main thread reaps children: the worker waits on `cond` for what it needs. */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/strv.h"
#include "pkg/manifest.h"
#include "state.h"

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

enum svc_state {
	SVC_STOPPED = 0, /* not running, not wanted */
	SVC_STARTING,    /* notify: waiting for READY=1; forking: for the parent to exit */
	SVC_RUNNING,
	SVC_STOPPING, /* SIGTERM sent */
	SVC_WAITING,  /* died; restart scheduled at restart_at */
	SVC_EXITED,   /* oneshot finished, or died with no restart */
};

struct service {
	struct service *next;
	char name[STATE_NAME_MAX]; /* package */
	char app[STATE_NAME_MAX];
	char rev[STATE_REV_MAX]; /* revision whose command runs */
	enum manifest_daemon type;
	enum manifest_restart restart;
	uint64_t restart_delay_ms;
	uint64_t stop_timeout_ms;
	char **argv; /* NULL-terminated, owned */
	char **envp; /* NULL-terminated, owned */
	char *cwd;
	pid_t pid; /* 0 when none */
	pid_t pgid;
	enum svc_state state;
	int64_t restart_at_ms; /* monotonic, SVC_WAITING */
	int last_status;       /* wait status of the last exit */
	unsigned exits;        /* exits counted since the service was set up */
	unsigned adoptions;    /* forking: children adopted for this start */
	bool ready;            /* notify: READY=1 seen */
	int log_rd, log_wr;    /* pipe: the child's stdout and stderr */
	int log_fd;            /* logs/NAME/APP.log, append */
	uint64_t log_size;
};

/* A child the worker waits for (hooks). */
struct child {
	struct child *next;
	pid_t pid;
	bool done;
	int status;
};

struct agent {
	char root[PATH_MAX];
	char socket_path[108];
	char notify_path[108];
	char *config_path;
	bool privileged; /* euid 0: loop mounts */
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
	char *cgroup_parent;             /* --cgroup-parent for ferry-confine, NULL: its default */
	uint64_t app_id_min, app_id_max; /* uids and gids of packages (as root) */

	sqlite3 *db; /* main thread's connection */
	int epfd, sigfd, notify_fd, listen_fd;
	void *mhd; /* struct MHD_Daemon */
	pthread_t worker;
	bool worker_started;

	char db_path[PATH_MAX];
	int wake_fd; /* eventfd: the worker has finished */

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

extern struct agent agent;

/* time */
int64_t now_ms(void); /* CLOCK_MONOTONIC */
/* Wait on agent.cond, with agent.lock held, for at most ms milliseconds
 * (the condition variable runs on CLOCK_MONOTONIC). */
void agent_wait_ms(int64_t ms);
int64_t wall_s(void); /* time(NULL) */

/* paths under the root: "ROOT/FMT" into out (PATH_MAX) */
int agent_path(char *out, const char *fmt, ...) FERRY_PRINTF(2, 3) FERRY_WUR;

/* revs.c: images and revisions on disk */
int rev_image_check(const char *path, uint64_t *size, ferry_error *err) FERRY_WUR;
int rev_image_manifest(const char *image, struct manifest **out, ferry_error *err) FERRY_WUR;
int rev_mount(const char *name, const char *rev, ferry_error *err) FERRY_WUR;
int rev_unmount(const char *name, const char *rev, ferry_error *err) FERRY_WUR;
bool rev_mounted(const char *name, const char *rev);
int rev_manifest(const char *name, const char *rev, struct manifest **out,
                 ferry_error *err) FERRY_WUR;
int copy_tree(const char *src, const char *dst, ferry_error *err) FERRY_WUR;
int copy_file(const char *src, const char *dst, uint64_t *hashed_size, char sha256_hex[65],
              ferry_error *err) FERRY_WUR;
int symlink_replace(const char *target, const char *linkpath, ferry_error *err) FERRY_WUR;

/* services.c (call with agent.lock held unless said otherwise) */
/* The environment of a program of the package. sandboxed: only the
 * manifest's entries (extra), with $FERRY_* expanded to the paths inside the
 * sandbox (ferry-confine sets the rest); else the full environment with the
 * host's paths (confinement off). */
int svc_env(const char *name, const char *rev, const struct manifest *m,
            const struct manifest_env *extra, size_t n_extra, bool sandboxed, char ***envp,
            ferry_error *err) FERRY_WUR;
int svc_setup(const char *name, const char *rev, const struct manifest *m, const char *app,
              struct service **out, ferry_error *err) FERRY_WUR;
int svc_start(struct service *s, ferry_error *err) FERRY_WUR;
/* Stop and wait (drops the lock while waiting). */
void svc_stop_wait(struct service *s);
struct service *svc_find(const char *name, const char *app);
void svc_forget_package(const char *name);
void svc_free_all(void);
void svc_reap(void);             /* main thread: SIGCHLD */
void svc_log_readable(int fd);   /* main thread */
void svc_notify_readable(void);  /* main thread */
int64_t svc_timers(int64_t now); /* main thread: restarts due; next deadline or -1 */
void svc_kill_stale(void);       /* start-up: processes a killed ferryd left */
int svc_record_pid(struct service *s);
const char *svc_state_name(enum svc_state st);
/* Run a program of a package and wait for it (worker; takes the lock itself).
 * Output goes to logpath. 0 when it exited 0; FERRY_E_TIMEOUT; else
 * FERRY_E_INVALID with "exited with status N" / "killed by signal S". */
int proc_run(char *const argv[], char *const envp[], const char *cwd, const char *logpath,
             uint64_t timeout_ms, ferry_error *err) FERRY_WUR;
/* The last n lines of a file (at most 4 KiB), for messages. free(). */
char *log_tail(const char *path, int n, off_t from);

/* package-level service control (worker; takes the lock itself) */
int pkg_start_services(const char *name, const char *rev, bool wait_ready,
                       ferry_error *err) FERRY_WUR;
void pkg_stop_services(const char *name);

/* hooks and health (worker) */
int hook_run(const char *name, const char *rev, const struct manifest *m, enum manifest_hook h,
             uint64_t timeout_ms, ferry_error *err) FERRY_WUR;
int health_check(const char *name, const char *rev, const struct manifest *m,
                 ferry_error *err) FERRY_WUR;

/* sandbox.c: starting a program of a package through ferry-confine */
#define AGENT_APP_ID_MIN 70000
#define AGENT_APP_ID_MAX 79999
struct launch {
	char **argv; /* owned, NULL-terminated */
	char **envp; /* owned; NULL: the agent's own environment */
	char *cwd;   /* NULL: none (ferry-confine picks the sandbox's) */
	uid_t uid;   /* the package's user */
};
/* The state.db connection of the calling thread (the worker's or the main one). */
sqlite3 *agent_db(void);
void sandbox_set_thread_db(sqlite3 *db);
int sandbox_find_helper(const char *configured, ferry_error *err) FERRY_WUR;
/* How to start app a (NULL: hook h) of revision rev. */
int sandbox_launch(sqlite3 *db, const char *name, const char *rev, const struct manifest *m,
                   const struct manifest_app *a, int h, struct launch *l,
                   ferry_error *err) FERRY_WUR;
void launch_free(struct launch *l);
/* The package's uid and gid, allocated at first use when ferryd is root. */
int pkg_ids(sqlite3 *db, const char *name, uid_t *uid, gid_t *gid, ferry_error *err) FERRY_WUR;
/* Every plug the manifest declares (top level, apps, hooks), once each;
 * free() the array only (the strings are the manifest's). */
int plug_declared(const struct manifest *m, char ***out, ferry_error *err) FERRY_WUR;
const char *plug_interface(const struct manifest *m, const char *plug);
bool plug_auto_connects(const char *iface);
/* Is the plug connected, and how ("manual", "auto", "-")? */
int conn_state(sqlite3 *db, const char *name, const char *plug, const char *iface, bool *connected,
               const char **how) FERRY_WUR;
/* Copy ferry-confine's lines about denials from a program's output to the agent's log. */
void sandbox_log_denials(const char *label, const char *buf, size_t len);

/* txn.c */
int txn_create(sqlite3 *db, const char *kind, const char *name, const char *summary, json_t *data,
               int64_t *id, ferry_error *err) FERRY_WUR;
void *txn_worker(void *arg);
int txn_recover(sqlite3 *db);
void txn_wake(void);

/* schedule.c */
int schedule_check(const char *spec, ferry_error *err) FERRY_WUR;
int64_t schedule_next(const char *spec, int64_t after);
/* Is the time inside one of the windows (always, for "every")? */
bool schedule_inside(const char *spec, int64_t at);

/* api.c */
int api_start(ferry_error *err) FERRY_WUR;
void api_run(void);
int64_t api_timeout_ms(void);
void api_stop(void);
