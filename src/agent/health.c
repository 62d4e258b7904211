/* health.c: hooks and the health of a revision after it was started.
 *
 * A hook is meta/hooks/HOOK of the revision, run confined like the apps
 * (sandbox.c: app name hook.HOOK, the hook's plugs), its output appended to
 * logs/NAME/hooks.log; a hook that fails or outlives its timeout is an error
 * whose message ends with its last lines of output.
 *
 * Health: the check-health hook (when the package has one) exits 0 within the
 * manifest's health timeout, and every daemon of the package is still up at
 * the end of the grace period: a daemon that exits (or restarts) inside it
 * fails the check at once, quoting the last lines of its log. Oneshot
 * daemons are expected to have finished with status 0. */
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
	FILE *lf = fopen(logpath, "ae");
	if (lf) {
		fprintf(lf, "-- ferryd: %s hook of %s revision %s --\n", manifest_hook_name(h),
		        name, rev);
		fclose(lf);
	}
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
			_cleanup_close_ int lfd =
			    open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
			if (lfd < 0 || fs_write_all(lfd, out, (size_t)n) < 0)
				log_warn("%s: %s", logpath, strerror(errno));
		}
	}
	if (rc < 0) {
		_cleanup_free_ char *tail = log_tail(logpath, AGENT_HOOK_LOG_LINES, before);
		char msg[FERRY_ERROR_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s", ferry_error_msg(err));
		return ferry_error_set(err, rc, "%s hook %s%s%s", manifest_hook_name(h), msg,
		                       tail && *tail ? "; last output:\n" : "", tail ? tail : "");
	}
	return 0;
}

int health_check(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                 const struct manifest *m, ferry_error *err)
{
	int64_t grace_end = now_ms() + (int64_t)m->health_grace_ms;
	if (FAULT("health-check"))
		return ferry_error_set(err, FERRY_E_FAULT, "fault point health-check");
	int rc = hook_run(ag, db, name, rev, m, HOOK_CHECK_HEALTH, m->health_timeout_ms, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&ag->lock);
	for (;;) {
		for (struct service *s = ag->services; s; s = s->next) {
			if (strcmp(s->name, name) != 0 || strcmp(s->rev, rev) != 0)
				continue;
			if (s->exits == 0 && s->state != SVC_STOPPED)
				continue;
			if (s->type == DAEMON_ONESHOT && s->state == SVC_EXITED && s->ready)
				continue;
			char logpath[PATH_MAX];
			_cleanup_free_ char *tail = NULL;
			if (agent_path(ag, logpath, "logs/%s/%s.log", name, s->app) == 0)
				tail = log_tail(logpath, AGENT_HOOK_LOG_LINES, 0);
			int st = s->last_status;
			char how[96];
			if (WIFEXITED(st))
				snprintf(how, sizeof(how), "exited with status %d",
				         WEXITSTATUS(st));
			else if (WIFSIGNALED(st))
				snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(st));
			else
				snprintf(how, sizeof(how), "stopped");
			pthread_mutex_unlock(&ag->lock);
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "daemon %s.%s %s within the %llu ms grace period%s%s", name, s->app,
			    how, (unsigned long long)m->health_grace_ms,
			    tail && *tail ? "; last output:\n" : "", tail ? tail : "");
		}
		int64_t left = grace_end - now_ms();
		if (left <= 0 || ag->quit)
			break;
		agent_wait_ms(ag, left);
	}
	bool quit = ag->quit;
	pthread_mutex_unlock(&ag->lock);
	if (quit)
		return ferry_error_set(err, FERRY_E_CANCELLED, "ferryd is stopping");
	return 0;
}
