/* sandbox.h: starting a program of a package through ferry-confine, and the
 * package's ids, plugs and connections that decide its sandbox (see
 * sandbox.c). db: the calling thread's state.db connection. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent.h"
#include "base/error.h"
#include "pkg/manifest.h"

struct launch {
	char **argv; /* owned, NULL-terminated */
	char **envp; /* owned; NULL: the agent's own environment */
	char *cwd;   /* NULL: none (ferry-confine picks the sandbox's) */
	uid_t uid;   /* the package's user */
};

/* Find ferry-confine (configured: its path, else next to ferryd) into
 * ag->confine_path. */
int sandbox_find_helper(struct agent *ag, const char *configured, ferry_error *err) FERRY_WUR;
/* How to start app a (NULL: hook h) of revision rev. */
int sandbox_launch(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                   const struct manifest *m, const struct manifest_app *a, int h, struct launch *l,
                   ferry_error *err) FERRY_WUR;
/* The same for app a, changing nothing (for reads): no ids allocated, no
 * directory made; a package without ids yet gets no --uid/--gid. */
int sandbox_describe(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                     const struct manifest *m, const struct manifest_app *a, struct launch *l,
                     ferry_error *err) FERRY_WUR;
/* The same for a program ferryd supervises itself (a daemon, a hook):
 * confined, ferry-confine writes its own lines (denials among them) to
 * descriptor SANDBOX_LOG_FD, which the caller opens for it and the app
 * never inherits; unconfined, nothing changes. */
#define SANDBOX_LOG_FD 3
#define SANDBOX_LOG_FD_STR "3"
int sandbox_launch_supervised(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                              const struct manifest *m, const struct manifest_app *a, int h,
                              struct launch *l, ferry_error *err) FERRY_WUR;
void launch_free(struct launch *l);
/* The package's uid and gid, allocated at first use when ferryd is root. */
int pkg_ids(struct agent *ag, sqlite3 *db, const char *name, uid_t *uid, gid_t *gid,
            ferry_error *err) FERRY_WUR;
/* The package's ids if it has any (FERRY_E_NOTFOUND: none yet); allocates
 * nothing. */
int pkg_ids_find(struct agent *ag, sqlite3 *db, const char *name, uid_t *uid, gid_t *gid,
                 ferry_error *err) FERRY_WUR;
/* Every plug the manifest declares (top level, apps, hooks), once each;
 * free() the array only (the strings are the manifest's). */
int plug_declared(const struct manifest *m, char ***out, ferry_error *err) FERRY_WUR;
const char *plug_interface(const struct manifest *m, const char *plug);
bool plug_auto_connects(const char *iface);
/* Is the plug connected, and how ("manual", "auto", "-")? */
int conn_state(sqlite3 *db, const char *name, const char *plug, const char *iface, bool *connected,
               const char **how) FERRY_WUR;
/* Copy ferry-confine's lines about denials (read from SANDBOX_LOG_FD) to the agent's log. */
void sandbox_log_denials(const char *label, const char *buf, size_t len);
