/* services.c: the processes ferryd starts: daemons it supervises (simple,
 * oneshot, notify, forking; restart policy and delay; SIGTERM then SIGKILL
 * after the stop timeout; stdout and stderr into size-bounded, rotated files
 * logs/NAME/APP.log) and programs it runs once and waits for (hooks).
 *
 * Each process starts in a session of its own (so a stop reaches everything
 * it forked) with a clean environment: the package's paths and the manifest's
 * `environment`. The main thread is the only one that reaps children; the
 * worker waits on ag->cond. ferryd is a child subreaper, so the daemon a
 * `forking` service leaves behind becomes its child and is supervised.
 * Pid files under ROOT/run/pids let a restarted ferryd stop what a killed
 * one left running. What runs is ferry-confine with the package's policy
 * (sandbox.c), whose monitor process is the one supervised here: it forwards
 * signals into the sandbox and exits with the app's status. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "base/strv.h"
#include "logfile.h"
#include "revs.h"
#include "sandbox.h"
#include "services.h"

extern char **environ;

const char *svc_state_name(enum svc_state st)
{
	switch (st) {
	case SVC_STOPPED:
		return "inactive";
	case SVC_STARTING:
		return "starting";
	case SVC_RUNNING:
		return "active";
	case SVC_STOPPING:
		return "stopping";
	case SVC_WAITING:
		return "restarting";
	case SVC_EXITED:
		return "exited";
	}
	return "unknown";
}

/* --- environment ---------------------------------------------------------- */

/* Expand $FERRY_X and ${FERRY_X} for the package's own variables; anything
 * else is kept as written. */
static char *expand(const char *value, char *const vars[][2], size_t nvars)
{
	struct buf b = BUF_INIT(8192);
	for (const char *p = value; *p;) {
		if (*p == '$') {
			bool brace = p[1] == '{';
			const char *nm = p + (brace ? 2 : 1);
			bool matched = false;
			for (size_t i = 0; i < nvars; i++) {
				size_t l = strlen(vars[i][0]);
				if (strncmp(nm, vars[i][0], l) != 0)
					continue;
				char next = nm[l];
				if (brace ? next != '}'
				          : (next == '_' || (next >= 'A' && next <= 'Z') ||
				             (next >= 'a' && next <= 'z') ||
				             (next >= '0' && next <= '9')))
					continue;
				if (buf_append_str(&b, vars[i][1]) < 0)
					goto fail;
				p = nm + l + (brace ? 1 : 0);
				matched = true;
				break;
			}
			if (matched)
				continue;
		}
		if (buf_append(&b, p, 1) < 0)
			goto fail;
		p++;
	}
	if (buf_append(&b, "", 0) < 0)
		goto fail;
	return buf_steal(&b, NULL);
fail:
	buf_free(&b);
	return NULL;
}

/* The package's paths, as the program sees them: inside the sandbox, or on
 * the host (confinement off). */
struct pkg_paths {
	char pkg[PATH_MAX], data[PATH_MAX], common[PATH_MAX];
	char *vars[5][2]; /* what expand() replaces: $FERRY_NAME ... */
};

static int pkg_paths(struct agent *ag, const char *name, const char *rev, bool sandboxed,
                     struct pkg_paths *p, ferry_error *err)
{
	if (sandboxed) {
		/* docs/formats/confine.md: the package at /ferry/NAME/current */
		if (str_printf(p->pkg, sizeof(p->pkg), "/ferry/%s/current", name) < 0 ||
		    str_printf(p->data, sizeof(p->data), "/ferry/%s/data", name) < 0 ||
		    str_printf(p->common, sizeof(p->common), "/ferry/%s/common", name) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: name too long", name);
	} else if (agent_path(ag, p->pkg, "mnt/%s/%s", name, rev) < 0 ||
	           agent_path(ag, p->data, "data/%s/%s", name, rev) < 0 ||
	           agent_path(ag, p->common, "data/%s/common", name) < 0) {
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
	}
	char *const vars[][2] = {
	    {"FERRY_NAME", (char *)name}, {"FERRY_REVISION", (char *)rev}, {"FERRY_PKG", p->pkg},
	    {"FERRY_DATA", p->data},      {"FERRY_COMMON", p->common},
	};
	memcpy(p->vars, vars, sizeof(p->vars));
	return 0;
}

/* Is key set by a later entry of the lists (which wins)? */
static bool env_overridden(const struct manifest_env *later, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(later[i].key, key) == 0)
			return true;
	return false;
}

int svc_env(struct agent *ag, const char *name, const char *rev, const struct manifest *m,
            const struct manifest_env *extra, size_t n_extra, bool sandboxed, char ***envp,
            ferry_error *err)
{
	struct pkg_paths pp;
	int rc = pkg_paths(ag, name, rev, sandboxed, &pp, err);
	if (rc < 0)
		return rc;
	char *const(*vars)[2] = pp.vars;
	struct strv s = {0};
	if (sandboxed)
		rc = strv_add(&s, strdup("LANG=C.UTF-8")); /* ferry-confine sets the rest */
	for (size_t i = 0; i < ARRAY_SIZE(pp.vars) && rc == 0 && !sandboxed; i++)
		rc = strv_add(&s, str_dup_printf("%s=%s", vars[i][0], vars[i][1]));
	if (rc == 0 && !sandboxed)
		rc = strv_add(&s, str_dup_printf("HOME=%s", pp.data));
	if (rc == 0 && !sandboxed)
		rc = strv_add(
		    &s, str_dup_printf("PATH=%s/bin:%s/usr/bin:/usr/local/sbin:/usr/local/bin:"
		                       "/usr/sbin:/usr/bin:/sbin:/bin",
		                       pp.pkg, pp.pkg));
	if (rc == 0 && !sandboxed)
		rc = strv_add(&s, strdup("LANG=C.UTF-8"));
	/* the package's environment, then the app's own, which wins */
	const struct manifest_env *lists[2] = {m ? m->env : NULL, extra};
	size_t counts[2] = {m ? m->n_env : 0, n_extra};
	for (int l = 0; l < 2 && rc == 0; l++)
		for (size_t i = 0; i < counts[l] && rc == 0; i++) {
			if (l == 0 && env_overridden(extra, n_extra, lists[l][i].key))
				continue;
			_cleanup_free_ char *v =
			    expand(lists[l][i].value, vars, ARRAY_SIZE(pp.vars));
			rc = v ? strv_add(&s, str_dup_printf("%s=%s", lists[l][i].key, v))
			       : FERRY_E_NOMEM;
		}
	if (rc < 0) {
		strv_free(s.v);
		return ferry_error_set(err, FERRY_E_NOMEM, "environment of %s: out of memory",
		                       name);
	}
	*envp = s.v;
	return 0;
}

int svc_command(struct agent *ag, const char *name, const char *rev, const struct manifest_app *a,
                bool sandboxed, struct strv *argv, ferry_error *err)
{
	struct pkg_paths pp;
	int rc = pkg_paths(ag, name, rev, sandboxed, &pp, err);
	if (rc < 0)
		return rc;
	size_t first = argv->n;
	for (size_t i = 0; i <= a->n_command_chain && rc == 0; i++) {
		const char *prog = i < a->n_command_chain ? a->command_chain[i] : a->command;
		/* ferry-confine finds the first in the package; the others are
		 * arguments, which must say where they are */
		rc = strv_add(argv, sandboxed && argv->n == first
		                        ? strdup(prog)
		                        : str_dup_printf("%s/%s", pp.pkg, prog));
	}
	for (size_t i = 0; i < a->n_args && rc == 0; i++)
		rc = strv_add(argv, expand(a->args[i], pp.vars, ARRAY_SIZE(pp.vars)));
	if (rc < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "command of %s.%s: out of memory", name,
		                       a->name);
	return 0;
}

/* --- pid files: what a killed ferryd left behind -------------------------- */

static unsigned long long proc_starttime(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* after ") " come fields 3 (state) ... 22 (starttime) */
	unsigned long long v = 0;
	int field = 2;
	for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
		if (++field == 22) {
			v = strtoull(tok, NULL, 10);
			break;
		}
	}
	return v;
}

static int pidfile_path(struct agent *ag, char *out, const char *tag)
{
	return agent_path(ag, out, "run/pids/%s.pid", tag);
}

static void pidfile_write(struct agent *ag, const char *tag, pid_t pid)
{
	char path[PATH_MAX], dir[PATH_MAX], line[128];
	ferry_error err;
	if (pidfile_path(ag, path, tag) < 0 || agent_path(ag, dir, "run/pids") < 0)
		return;
	if (fs_mkdir_p(dir, 0700, &err) < 0)
		return;
	int n = snprintf(line, sizeof(line), "%d %llu\n", (int)pid, proc_starttime(pid));
	if (fs_write_atomic(path, line, (size_t)n, 0600, &err) < 0)
		log_warn("%s", ferry_error_msg(&err));
}

static void pidfile_remove(struct agent *ag, const char *tag)
{
	char path[PATH_MAX];
	if (pidfile_path(ag, path, tag) == 0)
		unlink(path);
}

int svc_record_pid(struct agent *ag, struct service *s)
{
	char tag[96];
	snprintf(tag, sizeof(tag), "svc-%s.%s", s->name, s->app);
	if (s->pid > 0)
		pidfile_write(ag, tag, s->pid);
	else
		pidfile_remove(ag, tag);
	return 0;
}

void svc_kill_stale(struct agent *ag)
{
	char dir[PATH_MAX];
	if (agent_path(ag, dir, "run/pids") < 0)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	pid_t pids[256];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < ARRAY_SIZE(pids)) {
		if (!str_has_suffix(de->d_name, ".pid"))
			continue;
		char path[PATH_MAX];
		if (str_printf(path, sizeof(path), "%s/%s", dir, de->d_name) < 0)
			continue;
		char *text = NULL;
		ferry_error err;
		if (fs_read_file(path, 128, &text, NULL, &err) == 0) {
			int pid = 0;
			unsigned long long start = 0;
			if (sscanf(text, "%d %llu", &pid, &start) == 2 && pid > 1 &&
			    proc_starttime(pid) == start && start != 0) {
				log_info("stopping process %d that an earlier ferryd left (%s)",
				         pid, de->d_name);
				kill(-pid, SIGTERM);
				kill(pid, SIGTERM);
				pids[n++] = pid;
			}
			free(text);
		}
		unlink(path);
	}
	closedir(d);
	/* Give them a few seconds, then SIGKILL whatever is left. */
	for (int i = 0; i < 50 && n > 0; i++) {
		bool alive = false;
		for (size_t k = 0; k < n; k++)
			if (pids[k] > 0 && kill(pids[k], 0) == 0)
				alive = true;
		if (!alive)
			return;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	for (size_t k = 0; k < n; k++) {
		kill(-pids[k], SIGKILL);
		kill(pids[k], SIGKILL);
	}
}

/* --- spawning ------------------------------------------------------------- */

/* confine_fd >= 0: ferry-confine's SANDBOX_LOG_FD (the app never has it) */
static int spawn(char *const argv[], char *const envp[], const char *cwd, int out_fd,
                 const char *out_path, int confine_fd, pid_t *pid, ferry_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigset_t none, dflt;
	sigemptyset(&none);
	sigfillset(&dflt);
	sigdelset(&dflt, SIGKILL);
	sigdelset(&dflt, SIGSTOP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dflt);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
	                                  POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out_fd >= 0) {
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
		                                 O_WRONLY | O_APPEND | O_CREAT, 0600);
	}
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (confine_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, confine_fd, SANDBOX_LOG_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, confine_fd >= 0 ? SANDBOX_LOG_FD + 1 : 3);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	int e = posix_spawn(pid, argv[0], &fa, &at, argv, envp ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e != 0)
		return ferry_error_errno(err, FERRY_E_IO, e, "start %s", argv[0]);
	return 0;
}

void svc_describe_status(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(out, size, "stopped (status 0x%x)", status);
}

/* A program's output, from the pipe *rd into its log: up to 1 MiB a call
 * (the program may write for ever); *rd closed and -1 at its end. */
static void pump_output(struct agent *ag, int *rd, const char *logpath, struct logfile *lf)
{
	char buf[16384];
	for (int i = 0; i < 64 && *rd >= 0; i++) {
		ssize_t n = read(*rd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				close(*rd);
				*rd = -1;
			}
			return;
		}
		logfile_write(lf, logpath, ag->log_max, buf, (size_t)n);
	}
}

int proc_run(struct agent *ag, char *const argv[], char *const envp[], const char *cwd,
             const char *logpath, int confine_fd, uint64_t timeout_ms, ferry_error *err)
{
	struct child c = {0};
	/* the output through a pipe, into a log bounded like the daemons' */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "pipe");
	int rd = pfd[0];
	IGNORE_RC(fcntl(rd, F_SETFL, O_NONBLOCK));
	struct logfile lf;
	logfile_open(&lf, logpath);
	pthread_mutex_lock(&ag->lock);
	int rc = spawn(argv, envp, cwd, pfd[1], NULL, confine_fd, &c.pid, err);
	close(pfd[1]);
	if (rc < 0) {
		pthread_mutex_unlock(&ag->lock);
		close(rd);
		logfile_close(&lf);
		return rc;
	}
	c.next = ag->children;
	ag->children = &c;
	char tag[48];
	snprintf(tag, sizeof(tag), "child-%d", (int)c.pid);
	pidfile_write(ag, tag, c.pid);

	int64_t deadline = now_ms() + (int64_t)timeout_ms;
	bool killed = false;
	while (!c.done) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			if (killed) {
				/* Unkillable (D state): stop waiting and leave it. */
				break;
			}
			kill(-c.pid, SIGKILL);
			kill(c.pid, SIGKILL);
			killed = true;
			deadline = now_ms() + 10000;
			continue;
		}
		if (rd < 0) { /* its output is closed: wait for its end */
			agent_wait_ms(ag, left);
			continue;
		}
		pthread_mutex_unlock(&ag->lock);
		struct pollfd p = {.fd = rd, .events = POLLIN};
		if (poll(&p, 1, left < 100 ? (int)left : 100) > 0)
			pump_output(ag, &rd, logpath, &lf);
		pthread_mutex_lock(&ag->lock);
	}
	for (struct child **pp = &ag->children; *pp; pp = &(*pp)->next)
		if (*pp == &c) {
			*pp = c.next;
			break;
		}
	pthread_mutex_unlock(&ag->lock);
	pidfile_remove(ag, tag);
	pump_output(ag, &rd, logpath, &lf); /* what it wrote last */
	if (rd >= 0)
		close(rd);
	logfile_close(&lf);

	if (killed)
		return ferry_error_set(err, FERRY_E_TIMEOUT,
		                       "did not finish within %llu ms; killed",
		                       (unsigned long long)timeout_ms);
	if (WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0)
		return 0;
	char how[96];
	svc_describe_status(c.status, how, sizeof(how));
	return ferry_error_set(err, FERRY_E_INVALID, "%s", how);
}

/* --- daemons ------------------------------------------------------------- */

struct service *svc_find(struct agent *ag, const char *name, const char *app)
{
	for (struct service *s = ag->services; s; s = s->next)
		if (strcmp(s->name, name) == 0 && (!app || strcmp(s->app, app) == 0))
			return s;
	return NULL;
}

static void svc_free(struct agent *ag, struct service *s)
{
	if (s->log_rd >= 0) {
		epoll_ctl(ag->epfd, EPOLL_CTL_DEL, s->log_rd, NULL);
		close(s->log_rd);
	}
	if (s->log_wr >= 0)
		close(s->log_wr);
	if (s->confine_rd >= 0) {
		epoll_ctl(ag->epfd, EPOLL_CTL_DEL, s->confine_rd, NULL);
		close(s->confine_rd);
	}
	if (s->confine_wr >= 0)
		close(s->confine_wr);
	logfile_close(&s->log);
	strv_free(s->argv);
	strv_free(s->envp);
	free(s->cwd);
	free(s);
}

void svc_forget_package(struct agent *ag, const char *name)
{
	for (struct service **pp = &ag->services; *pp;) {
		struct service *s = *pp;
		if (strcmp(s->name, name) == 0 && s->pid == 0) {
			*pp = s->next;
			svc_free(ag, s);
		} else {
			pp = &s->next;
		}
	}
}

void svc_free_all(struct agent *ag)
{
	while (ag->services) {
		struct service *s = ag->services;
		ag->services = s->next;
		svc_free(ag, s);
	}
}

static int log_open(struct agent *ag, struct service *s)
{
	char dir[PATH_MAX], path[PATH_MAX];
	ferry_error err;
	if (agent_path(ag, dir, "logs/%s", s->name) < 0 ||
	    agent_path(ag, path, "logs/%s/%s.log", s->name, s->app) < 0)
		return -1;
	if (fs_mkdir_p(dir, 0750, &err) < 0) {
		log_warn("%s", ferry_error_msg(&err));
		return -1;
	}
	logfile_open(&s->log, path);
	return s->log.fd < 0 ? -1 : 0;
}

/* The output of a daemon goes through a pseudo-terminal, not a pipe, so
 * that what it writes to stdout reaches its log as it writes it: C's stdio
 * (and Python's, and most runtimes') buffer a pipe by blocks but a terminal
 * by lines. Raw mode: no newline becomes "\r\n", nothing is echoed or
 * interpreted. p[0] is the side ferryd reads (non-blocking), p[1] the
 * daemon's stdout and stderr. ferryd keeps p[1] open for as long as the
 * service exists, as it kept the pipe's write end: what a daemon wrote
 * before it ended is never lost to a hang-up. It is no one's controlling
 * terminal. -1 when no pseudo-terminal can be had (a pipe is used then). */
static int output_pty(int p[2])
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -1;
	char name[64];
	struct termios t;
	int sl = -1;
	if (grantpt(m) == 0 && unlockpt(m) == 0 && ptsname_r(m, name, sizeof(name)) == 0)
		sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sl < 0 || tcgetattr(sl, &t) < 0) {
		log_warn("pseudo-terminal: %s; the output of daemons goes through pipes",
		         strerror(errno));
		if (sl >= 0)
			close(sl);
		close(m);
		return -1;
	}
	cfmakeraw(&t);
	(void)tcsetattr(sl, TCSANOW, &t);
	(void)fcntl(m, F_SETFL, O_NONBLOCK);
	p[0] = m;
	p[1] = sl;
	return 0;
}

/* Its output is a terminal (output_pty) that understands nothing: say so
 * to the sandbox (ferry-confine's --env, first: the manifest's environment
 * may say otherwise). */
static int dumb_terminal(char ***argv)
{
	struct strv v = {0};
	int rc = strv_add(&v, strdup((*argv)[0]));
	if (rc == 0)
		rc = strv_add(&v, strdup("--env"));
	if (rc == 0)
		rc = strv_add(&v, strdup("TERM=dumb"));
	for (char **a = *argv + 1; *a && rc == 0; a++)
		rc = strv_add(&v, strdup(*a));
	if (rc < 0) {
		strv_free(v.v);
		return rc;
	}
	strv_free(*argv);
	*argv = v.v;
	return 0;
}

/* A line of ferryd's own in the service's log, after what the service wrote
 * before it. */
static void svc_note(struct agent *ag, struct service *s, const char *line)
{
	char path[PATH_MAX];
	if (s->log_rd >= 0)
		svc_log_readable(ag, s->log_rd);
	if (agent_path(ag, path, "logs/%s/%s.log", s->name, s->app) == 0)
		logfile_note(&s->log, path, ag->log_max, line);
}

int svc_setup(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
              const struct manifest *m, const char *app, struct service **out, ferry_error *err)
{
	const struct manifest_app *a = NULL;
	for (size_t i = 0; i < m->n_apps; i++)
		if (strcmp(m->apps[i].name, app) == 0)
			a = &m->apps[i];
	if (!a || a->daemon == DAEMON_NONE)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s.%s is not a service", name, app);
	struct service *s = svc_find(ag, name, app);
	bool fresh = !s;
	if (fresh) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		s->log_rd = s->log_wr = s->log.fd = s->confine_rd = s->confine_wr = -1;
		if (str_copy(s->name, sizeof(s->name), name) < 0 ||
		    str_copy(s->app, sizeof(s->app), app) < 0) {
			free(s);
			return ferry_error_set(err, FERRY_E_LIMIT, "%s.%s: name too long", name,
			                       app);
		}
		int p[2];
		if (output_pty(p) < 0 && pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
			free(s);
			return ferry_error_errno(err, FERRY_E_IO, errno, "pipe");
		}
		s->log_rd = p[0];
		s->log_wr = p[1];
		struct epoll_event ev = {.events = EPOLLIN};
		ev.data.u64 = ((uint64_t)2 << 32) | (uint32_t)s->log_rd;
		epoll_ctl(ag->epfd, EPOLL_CTL_ADD, s->log_rd, &ev);
		if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
			svc_free(ag, s);
			return ferry_error_errno(err, FERRY_E_IO, errno, "pipe");
		}
		s->confine_rd = p[0];
		s->confine_wr = p[1];
		ev.data.u64 = ((uint64_t)6 << 32) | (uint32_t)s->confine_rd; /* EV_CONFINE_LOG */
		epoll_ctl(ag->epfd, EPOLL_CTL_ADD, s->confine_rd, &ev);
		if (log_open(ag, s) < 0)
			log_warn("%s.%s: cannot open its log file", name, app);
		s->next = ag->services;
		ag->services = s;
	}
	if (s->pid > 0)
		return ferry_error_set(err, FERRY_E_BUSY, "%s.%s is running", name, app);
	struct launch l;
	int rc = sandbox_launch_supervised(ag, db, name, rev, m, a, -1, &l, err);
	if (rc < 0)
		return rc;
	if (ag->confine && (rc = dumb_terminal(&l.argv)) < 0) {
		launch_free(&l);
		return ferry_error_set(err, rc, "out of memory");
	}
	char **argv = l.argv, **envp = l.envp;
	char *cwd = l.cwd;
	strv_free(s->argv);
	strv_free(s->envp);
	free(s->cwd);
	s->argv = argv;
	s->envp = envp;
	s->cwd = cwd;
	IGNORE_RC(str_copy(s->rev, sizeof(s->rev), rev));
	s->type = a->daemon;
	s->restart = a->restart;
	s->restart_delay_ms = a->restart_delay_ms;
	s->stop_timeout_ms = a->stop_timeout_ms;
	*out = s;
	return 0;
}

int svc_start(struct agent *ag, struct service *s, ferry_error *err)
{
	if (s->pid > 0 && s->state != SVC_STOPPING)
		return 0;
	if (s->pid > 0)
		return ferry_error_set(err, FERRY_E_BUSY, "%s.%s is stopping", s->name, s->app);
	char line[256];
	snprintf(line, sizeof(line), "-- ferryd: starting %s.%s revision %s --", s->name, s->app,
	         s->rev);
	svc_note(ag, s, line);
	int rc = spawn(s->argv, s->envp, s->cwd, s->log_wr, NULL, ag->confine ? s->confine_wr : -1,
	               &s->pid, err);
	if (rc < 0) {
		s->pid = 0;
		s->state = SVC_EXITED;
		s->last_status = 127 << 8;
		s->exits++;
		return ferry_error_prefix(err, rc, "%s.%s", s->name, s->app);
	}
	s->pgid = s->pid;
	s->ready = false;
	s->adoptions = 0;
	s->state =
	    (s->type == DAEMON_NOTIFY || s->type == DAEMON_FORKING) ? SVC_STARTING : SVC_RUNNING;
	svc_record_pid(ag, s);
	log_info("%s.%s (revision %s) started, pid %d", s->name, s->app, s->rev, (int)s->pid);
	return 0;
}

static void svc_signal(struct service *s, int sig)
{
	if (s->pid <= 0)
		return;
	if (s->pgid > 1)
		kill(-s->pgid, sig);
	kill(s->pid, sig);
}

void svc_stop_wait(struct agent *ag, struct service *s)
{
	if (s->pid <= 0) {
		s->state = SVC_STOPPED;
		return;
	}
	s->state = SVC_STOPPING;
	svc_signal(s, SIGTERM);
	int64_t deadline = now_ms() + (int64_t)(s->stop_timeout_ms ? s->stop_timeout_ms : 10000);
	bool killed = false;
	while (s->pid > 0) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			if (killed)
				break;
			log_warn("%s.%s did not stop within its stop-timeout; killing it", s->name,
			         s->app);
			svc_signal(s, SIGKILL);
			killed = true;
			deadline = now_ms() + 10000;
			continue;
		}
		agent_wait_ms(ag, left);
	}
	s->state = SVC_STOPPED;
}

/* forking: the parent exited 0; adopt the child it left (ours, as subreaper). */
static pid_t find_orphan(struct agent *ag)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	pid_t me = getpid(), found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 1)
			continue;
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		char *p = strrchr(buf, ')');
		char state;
		int ppid;
		if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2 || ppid != me || state == 'Z')
			continue;
		bool known = false;
		for (struct service *s = ag->services; s; s = s->next)
			if (s->pid == pid)
				known = true;
		for (struct child *c = ag->children; c; c = c->next)
			if (c->pid == pid)
				known = true;
		if (!known)
			found = (pid_t)pid;
	}
	closedir(d);
	return found;
}

void svc_exited(struct agent *ag, struct service *s, int status)
{
	char how[96];
	svc_describe_status(status, how, sizeof(how));
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	s->pid = 0;
	s->last_status = status;
	if (s->state == SVC_STOPPING || s->state == SVC_STOPPED) {
		s->state = SVC_STOPPED;
		svc_record_pid(ag, s);
		log_info("%s.%s stopped (%s)", s->name, s->app, how);
		return;
	}
	if (s->type == DAEMON_FORKING && ok && s->adoptions < 4) {
		pid_t orphan = find_orphan(ag);
		if (orphan > 0) {
			s->pid = orphan;
			s->pgid = getpgid(orphan);
			s->adoptions++;
			s->state = SVC_RUNNING;
			s->ready = true;
			svc_record_pid(ag, s);
			log_info("%s.%s: supervising pid %d it forked", s->name, s->app,
			         (int)orphan);
			return;
		}
	}
	svc_record_pid(ag, s);
	if (s->type == DAEMON_ONESHOT && ok) {
		s->state = SVC_EXITED;
		s->ready = true;
		log_info("%s.%s finished", s->name, s->app);
		return;
	}
	s->exits++;
	char line[160];
	snprintf(line, sizeof(line), "-- ferryd: %s.%s %s --", s->name, s->app, how);
	svc_note(ag, s, line);
	bool again = s->restart == RESTART_ALWAYS || (s->restart == RESTART_ON_FAILURE && !ok);
	if (s->type == DAEMON_ONESHOT && s->restart != RESTART_ALWAYS)
		again = false;
	if (again) {
		uint64_t delay = s->restart_delay_ms < 100 ? 100 : s->restart_delay_ms;
		s->state = SVC_WAITING;
		s->restart_at_ms = now_ms() + (int64_t)delay;
		log_warn("%s.%s %s; restarting in %llu ms", s->name, s->app, how,
		         (unsigned long long)delay);
	} else {
		s->state = SVC_EXITED;
		log_warn("%s.%s %s", s->name, s->app, how);
	}
}

void svc_reap(struct agent *ag)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		bool found = false;
		for (struct child *c = ag->children; c && !found; c = c->next)
			if (c->pid == pid) {
				c->done = true;
				c->status = status;
				found = true;
			}
		for (struct service *s = ag->services; s && !found; s = s->next)
			if (s->pid == pid) {
				svc_exited(ag, s, status);
				found = true;
			}
	}
	pthread_cond_broadcast(&ag->cond);
}

int64_t svc_timers(struct agent *ag, int64_t now)
{
	int64_t next = -1;
	for (struct service *s = ag->services; s; s = s->next) {
		if (s->state != SVC_WAITING)
			continue;
		if (s->restart_at_ms <= now) {
			ferry_error err;
			if (svc_start(ag, s, &err) < 0)
				log_error("%s", ferry_error_msg(&err));
			pthread_cond_broadcast(&ag->cond);
			if (s->state == SVC_WAITING && (next < 0 || s->restart_at_ms < next))
				next = s->restart_at_ms;
			continue;
		}
		if (next < 0 || s->restart_at_ms < next)
			next = s->restart_at_ms;
	}
	return next;
}

void svc_log_readable(struct agent *ag, int fd)
{
	struct service *s = NULL;
	bool confine = false; /* ferry-confine's own lines, not the app's */
	for (struct service *it = ag->services; it; it = it->next)
		if (it->log_rd == fd || it->confine_rd == fd) {
			s = it;
			confine = it->confine_rd == fd;
		}
	if (!s)
		return;
	char buf[16384], path[PATH_MAX];
	if (agent_path(ag, path, "logs/%s/%s.log", s->name, s->app) < 0)
		return;
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		char label[96];
		snprintf(label, sizeof(label), "%s.%s", s->name, s->app);
		if (confine)
			sandbox_log_denials(label, buf, (size_t)n);
		logfile_write(&s->log, path, ag->log_max, buf, (size_t)n);
	}
}

char *svc_last_output(struct agent *ag, struct service *s, int n)
{
	char path[PATH_MAX];
	if (s->log_rd >= 0)
		svc_log_readable(ag, s->log_rd); /* what it wrote last may be in the pipe */
	if (agent_path(ag, path, "logs/%s/%s.log", s->name, s->app) < 0)
		return NULL;
	return log_tail(path, n, 0);
}

/* Is pid a descendant of ancestor? (a confined service's app is the child
 * of ferry-init, the child of the ferry-confine monitor ferryd started) */
static bool descends_from(pid_t pid, pid_t ancestor)
{
	for (int depth = 0; depth < 16 && pid > 1; depth++) {
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			return false;
		buf[n] = '\0';
		char *p = strrchr(buf, ')');
		char state;
		int ppid;
		if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
			return false;
		if (ppid == ancestor)
			return true;
		pid = ppid;
	}
	return false;
}

void svc_notify_readable(struct agent *ag)
{
	for (int i = 0; i < 16; i++) {
		char buf[4096];
		char cbuf[CMSG_SPACE(sizeof(struct ucred))];
		struct iovec iov = {buf, sizeof(buf) - 1};
		struct msghdr mh = {.msg_iov = &iov,
		                    .msg_iovlen = 1,
		                    .msg_control = cbuf,
		                    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(ag->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			return;
		buf[n] = '\0';
		struct ucred *cred = NULL;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
				cred = (struct ucred *)(void *)CMSG_DATA(c);
		if (!cred)
			continue;
		pid_t pgid = getpgid(cred->pid);
		for (struct service *s = ag->services; s; s = s->next) {
			if (s->pid <= 0 || (s->pid != cred->pid && s->pgid != pgid &&
			                    !descends_from(cred->pid, s->pid)))
				continue;
			for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
				if (strcmp(line, "READY=1") == 0 && !s->ready) {
					s->ready = true;
					if (s->state == SVC_STARTING)
						s->state = SVC_RUNNING;
					log_info("%s.%s is ready", s->name, s->app);
				}
			break;
		}
		pthread_cond_broadcast(&ag->cond);
	}
}

/* --- a package's services -------------------------------------------------- */

static bool wait_started(struct agent *ag, struct service *s, int64_t deadline, ferry_error *err)
{
	while (now_ms() < deadline) {
		if (s->type == DAEMON_ONESHOT && s->state == SVC_EXITED && s->ready)
			return true;
		if (s->type == DAEMON_NOTIFY && s->ready)
			return true;
		if (s->type == DAEMON_FORKING && s->state == SVC_RUNNING && s->ready)
			return true;
		if (s->exits > 0 || s->state == SVC_EXITED) {
			char how[96];
			svc_describe_status(s->last_status, how, sizeof(how));
			_cleanup_free_ char *tail = svc_last_output(ag, s, AGENT_HOOK_LOG_LINES);
			ferry_error_set(err, FERRY_E_INVALID, "%s.%s %s while starting%s%s",
			                s->name, s->app, how,
			                tail && *tail ? "; last output:\n" : "", tail ? tail : "");
			return false;
		}
		agent_wait_ms(ag, 50);
	}
	ferry_error_set(err, FERRY_E_TIMEOUT, "%s.%s did not report it was ready within %d s",
	                s->name, s->app, AGENT_START_TIMEOUT_MS / 1000);
	return false;
}

int pkg_start_services(struct agent *ag, sqlite3 *db, const char *name, const char *rev,
                       bool wait_ready, ferry_error *err)
{
	struct manifest *m = NULL;
	int rc = rev_manifest(ag, name, rev, &m, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&ag->lock);
	for (size_t i = 0; i < m->n_apps && rc == 0; i++) {
		if (m->apps[i].daemon == DAEMON_NONE)
			continue;
		struct service *s = svc_find(ag, name, m->apps[i].name);
		if (s && s->pid > 0 && strcmp(s->rev, rev) == 0 && s->state != SVC_STOPPING)
			continue; /* already running this revision */
		if (s && s->pid > 0)
			svc_stop_wait(ag, s);
		rc = svc_setup(ag, db, name, rev, m, m->apps[i].name, &s, err);
		if (rc < 0)
			break;
		s->exits = 0;
		rc = svc_start(ag, s, err);
		if (rc == 0 && wait_ready && s->type != DAEMON_SIMPLE &&
		    !wait_started(ag, s, now_ms() + AGENT_START_TIMEOUT_MS, err))
			rc = FERRY_E_INVALID;
	}
	pthread_mutex_unlock(&ag->lock);
	manifest_free(m);
	return rc;
}

void pkg_stop_services(struct agent *ag, const char *name)
{
	pthread_mutex_lock(&ag->lock);
	for (struct service *s = ag->services; s; s = s->next)
		if (strcmp(s->name, name) == 0 && s->state != SVC_STOPPED)
			svc_stop_wait(ag, s);
	pthread_mutex_unlock(&ag->lock);
}
