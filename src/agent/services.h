/* services.h: the processes ferryd starts (see services.c): the daemons it
 * supervises and the programs it runs once and waits for. Call with ag->lock
 * held unless said otherwise. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "base/error.h"
#include "base/strv.h"
#include "logfile.h"
#include "pkg/manifest.h"
#include "state.h"

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
	int confine_rd;        /* pipe: ferry-confine's own lines, */
	int confine_wr;        /* its SANDBOX_LOG_FD (confined only) */
	struct logfile log;    /* logs/NAME/APP.log */
};

/* A child the worker waits for (hooks). */
struct child {
	struct child *next;
	pid_t pid;
	bool done;
	int status;
};

/* The environment of a program of the package. sandboxed: only the
 * manifest's entries (the package's `environment`, then extra: the app's,
 * which wins), with $FERRY_* expanded to the paths inside the sandbox
 * (ferry-confine sets the rest); else the full environment with the host's
 * paths (confinement off). m may be NULL: no package environment. */
int svc_env(struct agent *ag, const char *name, const char *rev, const struct manifest *m,
            const struct manifest_env *extra, size_t n_extra, bool sandboxed, char ***envp,
            ferry_error *err) FERRY_WUR;
/* Append the command line of app a to argv: its command-chain, its
 * program and its arguments, with $FERRY_* expanded as in svc_env. Inside
 * the sandbox the first is relative (ferry-confine finds it in the package)
 * and the others are at /ferry/NAME/current; else the host's paths. */
int svc_command(struct agent *ag, const char *name, const char *rev, const struct manifest_app *a,
                bool sandboxed, struct strv *argv, ferry_error *err) FERRY_WUR;
/* Make (or update) the service of app for revision rev; db: the calling
 * thread's connection. */
int svc_setup(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
              const struct manifest *m, const char *app, struct service **out,
              ferry_error *err) FERRY_WUR;
int svc_start(struct agent *ag, struct service *s, ferry_error *err) FERRY_WUR;
/* Stop and wait (drops the lock while waiting). */
void svc_stop_wait(struct agent *ag, struct service *s);
struct service *svc_find(struct agent *ag, const char *name, const char *app);
void svc_forget_package(struct agent *ag, const char *name);
void svc_free_all(struct agent *ag);
void svc_reap(struct agent *ag);                 /* main thread: SIGCHLD */
void svc_log_readable(struct agent *ag, int fd); /* main thread */
void svc_notify_readable(struct agent *ag);      /* main thread */
/* main thread: restarts due; next deadline or -1 */
int64_t svc_timers(struct agent *ag, int64_t now);
void svc_kill_stale(struct agent *ag); /* start-up: processes a killed ferryd left */
int svc_record_pid(struct agent *ag, struct service *s);
const char *svc_state_name(enum svc_state st);
/* Main thread: a service's process ended with wait status `status`. Its
 * next state follows from its type and restart policy: stopped (a stop was
 * asked), exited, or waiting for a restart at now + its delay (at least
 * 100 ms); a forking service whose parent exited 0 adopts the child it
 * left. */
void svc_exited(struct agent *ag, struct service *s, int status);

/* Run a program of a package and wait for it (worker; takes the lock itself).
 * Output goes to logpath, rotated at the log limit like the daemons' logs;
 * confine_fd (-1: none) is its SANDBOX_LOG_FD. 0 when it exited 0;
 * FERRY_E_TIMEOUT; else FERRY_E_INVALID with "exited with status N" /
 * "killed by signal S". */
int proc_run(struct agent *ag, char *const argv[], char *const envp[], const char *cwd,
             const char *logpath, int confine_fd, uint64_t timeout_ms, ferry_error *err) FERRY_WUR;
/* "exited with status N", "killed by signal S (Name)" for a wait status. */
void svc_describe_status(int status, char *out, size_t size);
/* The last n lines a daemon wrote (its pipe drained first), for messages.
 * free(). */
char *svc_last_output(struct agent *ag, struct service *s, int n);

/* package-level service control (worker; takes the lock itself); db: the
 * worker's connection */
int pkg_start_services(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                       bool wait_ready, ferry_error *err) FERRY_WUR;
void pkg_stop_services(struct agent *ag, const char *name);
