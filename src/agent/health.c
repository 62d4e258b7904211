/* health.c: hooks and the health of a revision after it was started.
 *
 * A hook is meta/hooks/HOOK of the revision, run confined like the apps
 * (sandbox.c: app name hook.HOOK, the hook's plugs), its output appended to
 * logs/NAME/hooks.log; a hook that fails or outlives its timeout is an error
 * whose message ends with its last lines of output.
 *
 * Health (the manifest's `health`): after start-period, the check-health
 * hook (when the package has one) exits 0 within timeout, tried again after
 * interval while it fails, at most retries more times; and every daemon of
 * the package stays up from the start of the check to the end of the grace
 * period (or of the hook's success, when later). A daemon that exits (or
 * restarts) at any point of it fails the check at once, named with how it
 * ended and the last lines of its log, also when the hook failed meanwhile:
 * the daemon is the cause. Oneshot daemons are expected to have finished
 * with status 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "health.h"
#include "logfile.h"
#include "sandbox.h"
#include "services.h"

/* the most of ferry-confine's own lines kept from one hook run */
#define HOOK_CONFINE_LOG_MAX 16384

/* An unnamed file in dir for ferry-confine's lines. -1 with errno. */
static int confine_log_open(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd;
	char tmpl[PATH_MAX];
	if (str_printf(tmpl, sizeof(tmpl), "%s/.confine-XXXXXX", dir) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd >= 0)
		unlink(tmpl);
	return fd;
}

#define OUTPUT_MARK "; last output:\n" /* REPORT_OUTPUT_MARK: reports split there */

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : 0;
}

int hook_run(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
             const struct manifest *m, enum manifest_hook h, uint64_t timeout_ms, ferry_error *err)
{
	if (!m->hooks[h].present)
		return 0;
	char prog[PATH_MAX], logdir[PATH_MAX], logpath[PATH_MAX];
	if (agent_path(ag, prog, "mnt/%s/%s/meta/hooks/%s", name, rev, manifest_hook_name(h)) < 0 ||
	    agent_path(ag, logdir, "logs/%s", name) < 0 ||
	    agent_path(ag, logpath, "logs/%s/hooks.log", name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
	int rc = fs_mkdir_p(logdir, 0750, err);
	if (rc < 0)
		return rc;
	if (access(prog, X_OK) < 0)
		return ferry_error_errno(err, FERRY_E_INVALID, errno,
		                         "%s hook of %s revision %s: meta/hooks/%s",
		                         manifest_hook_name(h), name, rev, manifest_hook_name(h));
	/* Keep hooks.log bounded: start it over when it has grown too big. */
	if ((uint64_t)file_size(logpath) > ag->log_max) {
		char old[PATH_MAX];
		if (agent_path(ag, old, "logs/%s/hooks.log.1", name) == 0)
			(void)rename(logpath, old);
	}
	struct launch l;
	rc = sandbox_launch_supervised(ag, db, name, rev, m, NULL, (int)h, &l, err);
	if (rc < 0)
		return rc;
	/* ferry-confine's own lines: a file of their own, never the hook's output */
	_cleanup_close_ int confine_fd = ag->confine ? confine_log_open(logdir) : -1;
	if (ag->confine && confine_fd < 0) {
		launch_free(&l);
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s: temporary file", logdir);
	}
	char note[160];
	snprintf(note, sizeof(note), "-- ferryd: %s hook of %s revision %s --",
	         manifest_hook_name(h), name, rev);
	struct logfile lf;
	logfile_open(&lf, logpath);
	logfile_note(&lf, logpath, ag->log_max, note);
	logfile_close(&lf);
	off_t before = file_size(logpath);
	rc = proc_run(ag, l.argv, l.envp, l.cwd, logpath, confine_fd,
	              timeout_ms ? timeout_ms : ag->hook_timeout_ms, err);
	launch_free(&l);
	if (confine_fd >= 0) {
		/* what the sandbox denied, into the agent's log and hooks.log */
		char out[HOOK_CONFINE_LOG_MAX];
		ssize_t n = pread(confine_fd, out, sizeof(out), 0);
		char label[96];
		snprintf(label, sizeof(label), "%s.hook.%s", name, manifest_hook_name(h));
		if (n > 0) {
			sandbox_log_denials(label, out, (size_t)n);
			logfile_open(&lf, logpath);
			logfile_write(&lf, logpath, ag->log_max, out, (size_t)n);
			logfile_close(&lf);
		}
	}
	if (rc < 0) {
		_cleanup_free_ char *tail = log_tail(logpath, AGENT_HOOK_LOG_LINES, before);
		char msg[FERRY_ERROR_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", ferry_error_msg(err));
		return ferry_error_set(err, rc, "%s hook %s%s%s", manifest_hook_name(h), msg,
		                       tail && *tail ? OUTPUT_MARK : "", tail ? tail : "");
	}
	return 0;
}

/* The first daemon of the revision that exited (or stopped) since its
 * start, as an error naming it, how it ended, `when` and its last lines of
 * output (drained from its pipe first: it may have written them just
 * before it ended); 0 when every daemon is up. Lock held. */
static int daemon_failure(struct agent *ag, const char *name, const char *rev, const char *when,
                          const char *also, ferry_error *err)
{
	for (struct service *s = ag->services; s; s = s->next) {
		if (strcmp(s->name, name) != 0 || strcmp(s->rev, rev) != 0)
			continue;
		if (s->exits == 0 && s->state != SVC_STOPPED)
			continue;
		if (s->type == DAEMON_ONESHOT && s->state == SVC_EXITED && s->ready)
			continue;
		_cleanup_free_ char *tail = svc_last_output(ag, s, AGENT_HOOK_LOG_LINES);
		char how[96];
		svc_describe_status(s->last_status, how, sizeof(how));
		return ferry_error_set(err, FERRY_E_INVALID, "daemon %s.%s %s %s%s%s%s%s", name,
		                       s->app, how, when, also ? " " : "", also ? also : "",
		                       tail && *tail ? OUTPUT_MARK : "", tail ? tail : "");
	}
	return 0;
}

/* Watch the revision's daemons until `until` (monotonic ms): a daemon that
 * ends fails it at once (daemon_failure). Lock held. */
static int watch_daemons(struct agent *ag, const char *name, const char *rev, int64_t until,
                         const char *when, ferry_error *err)
{
	for (;;) {
		int rc = daemon_failure(ag, name, rev, when, NULL, err);
		if (rc < 0)
			return rc;
		int64_t left = until - now_ms();
		if (left <= 0)
			return 0;
		if (ag->quit)
			return ferry_error_set(err, FERRY_E_CANCELLED, "ferryd is stopping");
		agent_wait_ms(ag, left);
	}
}

/* A failed check-health hook, when a daemon ended meanwhile: the daemon is
 * the cause, named with its own output; the hook's outcome is said in a
 * few words (its output is in hooks.log). */
static int hook_or_daemon(struct agent *ag, const char *name, const char *rev, int rc, bool *daemon,
                          ferry_error *err)
{
	char hook[256];
	snprintf(hook, sizeof(hook), "(the %s)", ferry_error_msg(err));
	char *mark = strstr(hook, OUTPUT_MARK);
	if (mark)
		strcpy(mark, ")");
	pthread_mutex_lock(&ag->lock);
	int drc = daemon_failure(ag, name, rev, "while the check-health hook ran", hook, err);
	pthread_mutex_unlock(&ag->lock);
	*daemon = drc < 0;
	return drc < 0 ? drc : rc;
}

int health_check(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                 const struct manifest *m, ferry_error *err)
{
	int64_t start = now_ms();
	int64_t grace_end = start + (int64_t)m->health_grace_ms;
	if (FAULT("health-check"))
		return ferry_error_set(err, FERRY_E_FAULT, "fault point health-check");
	char when[96];
	int rc = 0;
	if (m->hooks[HOOK_CHECK_HEALTH].present && m->health_start_period_ms > 0) {
		snprintf(when, sizeof(when), "within the %llu ms start period",
		         (unsigned long long)m->health_start_period_ms);
		pthread_mutex_lock(&ag->lock);
		rc = watch_daemons(ag, name, rev, start + (int64_t)m->health_start_period_ms, when,
		                   err);
		pthread_mutex_unlock(&ag->lock);
	}
	/* the hook, again after interval while it fails, retries more times */
	for (unsigned attempt = 0; rc == 0 && m->hooks[HOOK_CHECK_HEALTH].present; attempt++) {
		bool daemon = false;
		rc = hook_run(ag, db, name, rev, m, HOOK_CHECK_HEALTH, m->health_timeout_ms, err);
		if (rc < 0)
			rc = hook_or_daemon(ag, name, rev, rc, &daemon, err);
		if (rc == 0 || rc == FERRY_E_CANCELLED || daemon)
			break;
		if (attempt == m->health_retries) {
			if (attempt > 0)
				ferry_error_prefix(
				    err, rc, "check-health failed %u times, the last", attempt + 1);
			break;
		}
		log_info("%s revision %s: check-health attempt %u of %u failed; again in %llu ms",
		         name, rev, attempt + 1, m->health_retries + 1,
		         (unsigned long long)m->health_interval_ms);
		snprintf(when, sizeof(when), "between two check-health attempts");
		pthread_mutex_lock(&ag->lock);
		rc = watch_daemons(ag, name, rev, now_ms() + (int64_t)m->health_interval_ms, when,
		                   err);
		pthread_mutex_unlock(&ag->lock);
	}
	if (rc < 0)
		return rc;
	snprintf(when, sizeof(when), "within the %llu ms grace period",
	         (unsigned long long)m->health_grace_ms);
	pthread_mutex_lock(&ag->lock);
	rc = watch_daemons(ag, name, rev, grace_end, when, err);
	pthread_mutex_unlock(&ag->lock);
	return rc;
}
