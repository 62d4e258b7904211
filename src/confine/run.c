/* run.c: ferry-confine, starts one app process inside its sandbox
 * (confine_main; main.c is the program, and `ferry run` calls it in-process).
 *
 * One linear set-up, in three processes (confine.h has the contract):
 *
 *   monitor  parse and check the command line; build the mount plan; create
 *            the cgroup; clone init into new namespaces; drop every
 *            capability but CAP_KILL; build the seccomp filter and hand it over through a
 *            pipe (while init builds the mounts); forward signals; collect
 *            the outcome; remove the cgroup; write the status line; exit
 *            with the app's status.
 *   init     (PID 1) parent-death signal; close every inherited descriptor
 *            above 2; map ids (unprivileged only); join the cgroup; cgroup
 *            namespace; loopback up; build the mount namespace and pivot;
 *            fork the app; drop to the package's uid with no capability;
 *            not dumpable; reap, forward signals, log seccomp denials.
 *   app      (PID 2) descriptors above 2 close-on-exec; environment;
 *            credentials and capabilities;
 *            no-new-privs; seccomp; Landlock; execve.
 *
 * Any failure before execve ends that process with status 125 (126/127 when
 * the command cannot be executed) after one log line, and the monitor reports
 * it. Nothing here parses a manifest or a database. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "confine.h"
#include "pkg/manifest.h"
#include "pkg/triplet.h"

static struct {
	struct confine_policy p;
	struct mnt_plan plan;
	struct cgroup_handle cg;
	int report[2]; /* init and app -> monitor: "failed ...", "exited N", "killed N" */
	int filter[2]; /* monitor -> app: the seccomp filter as BPF */
	bool notify;   /* the filter denies through user notification */
	int log_fd;    /* where this program's own log lines go (2, or a copy of --log-fd) */
	uid_t outer_uid;
	gid_t outer_gid;
} g = {.report = {-1, -1}, .filter = {-1, -1}, .log_fd = 2};

static void report(const char *fmt, ...) FERRY_PRINTF(1, 2);
static void report(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (g.report[1] < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(g.report[1], line, (size_t)n);
}

/* Only the sandbox set-up may die (STYLE.md): one line, then 125. */
static void __attribute__((noreturn)) die_setup(const char *step, const ferry_error *err)
{
	log_error("%s: %s: %s", g.p.label, step, ferry_error_msg(err));
	report("failed %s: %s", step, ferry_error_msg(err));
	_exit(CONFINE_EXIT_SETUP);
}

static int send_fd(int sock, int fd)
{
	char data = 'n';
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &data, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (fd >= 0) {
		memset(ctl, 0, sizeof(ctl));
		msg.msg_control = ctl;
		msg.msg_controllen = sizeof(ctl);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* close_range(2) (Linux 5.9; CLOSE_RANGE_CLOEXEC 5.11), or the same done
 * one descriptor at a time from /proc/self/fd on an older kernel. */
static int fds_close_range(unsigned lo, unsigned hi, unsigned flags)
{
	if (close_range(lo, hi, flags) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL)
		return -1;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		unsigned long long fd = 0;
		if (str_to_u64(de->d_name, ~0U, &fd) < 0 || fd < lo || fd > hi ||
		    (int)fd == dirfd(d))
			continue;
		if (flags & CLOSE_RANGE_CLOEXEC)
			(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		else
			close((int)fd);
	}
	closedir(d);
	return 0;
}

/* Close every descriptor above 2 but the n in keep: init's part of the rule
 * that nothing the caller had open (a file on fd 7, --log-fd, --status-fd)
 * reaches the sandbox. What the app needs is passed by path (the notify
 * socket, the configuration) or set up here, never inherited. */
static int close_inherited(const int *keep, size_t n, ferry_error *err)
{
	unsigned lo = 3;
	for (;;) {
		unsigned hi = ~0U;
		for (size_t i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (unsigned)keep[i] - 1 < hi)
				hi = (unsigned)keep[i] - 1;
		if (hi >= lo && fds_close_range(lo, hi, 0) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "close_range %u-%u", lo,
			                         hi);
		if (hi == ~0U)
			return 0;
		lo = hi + 2;
	}
}

/* Has the monitor gone? It alone holds the read end of the report pipe:
 * polling the write end says POLLERR once that is closed. */
static bool monitor_gone(void)
{
	struct pollfd pfd = {.fd = g.report[1]};
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR);
}

/* The app's environment: nothing inherited but TERM, LANG, LC_ALL and TZ. */
static char **build_env(const struct confine_policy *p)
{
	static char *env[CONFINE_MAX_ENV + 20];
	static const char *const pass[] = {"TERM", "LANG", "LC_ALL", "TZ", NULL};
	const char *pkg = p->sandbox_pkg;
	size_t n = 0;

	env[n++] = str_dup_printf(
	    "PATH=%s/current/usr/sbin:%s/current/usr/bin:%s/current/sbin:%s/current/bin:"
	    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin%s",
	    pkg, pkg, pkg, pkg, p->ctl_tool ? ":" CONFINE_SANDBOX_BIN : "");
	env[n++] = str_dup_printf("HOME=%s/data", pkg);
	/* on a base the staged libraries are found without the publisher's help */
	if (p->base_dir)
		env[n++] = str_dup_printf(
		    "LD_LIBRARY_PATH=%s/current/usr/lib/%s:%s/current/lib/%s:%s/current/usr/lib:"
		    "%s/current/lib",
		    pkg, triplet_for_arch(manifest_host_architecture()), pkg,
		    triplet_for_arch(manifest_host_architecture()), pkg, pkg);
	env[n++] = str_dup_printf("TMPDIR=/tmp");
	env[n++] = str_dup_printf("FERRY=%s/current", pkg);
	env[n++] = str_dup_printf("FERRY_NAME=%s", p->name);
	env[n++] = str_dup_printf("FERRY_APP=%s", p->app);
	env[n++] = str_dup_printf("FERRY_PKG=%s/current", pkg);
	env[n++] = str_dup_printf("FERRY_REVISION=%s", p->revision);
	env[n++] = str_dup_printf("FERRY_DATA=%s/data", pkg);
	env[n++] = str_dup_printf("FERRY_COMMON=%s/common", pkg);
	if (p->hook)
		env[n++] = str_dup_printf("FERRY_HOOK=%s", p->hook);
	if (p->config_file)
		env[n++] = str_dup_printf("FERRY_CONFIG=%s", CONFINE_SANDBOX_CONFIG);
	if (p->notify_socket)
		env[n++] = str_dup_printf("NOTIFY_SOCKET=%s", CONFINE_SANDBOX_NOTIFY);
	for (size_t i = 0; pass[i]; i++) {
		const char *v = getenv(pass[i]);
		if (v && strlen(v) < 256)
			env[n++] = str_dup_printf("%s=%s", pass[i], v);
	}
	for (size_t i = 0; i < p->n_env; i++) {
		size_t klen = (size_t)(strchr(p->env[i], '=') - p->env[i]) + 1;
		size_t j;
		for (j = 0; j < n; j++)
			if (env[j] && strncmp(env[j], p->env[i], klen) == 0)
				break;
		env[j == n ? n++ : j] = (char *)p->env[i];
	}
	env[n] = NULL;
	for (size_t i = 0; i < n; i++)
		if (!env[i])
			return NULL;
	return env;
}

static void __attribute__((noreturn)) run_app(int notify_sock)
{
	struct confine_policy *p = &g.p;
	ferry_error err = {0};
	sigset_t none;
	char path[1200], dir[200];
	char **env;
	int nfd = -1, r, e;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* init closed what the caller had open; whatever is still open above 2
	 * (this program's log, the report pipe) closes on exec */
	if (fds_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		ferry_error_errno(&err, FERRY_E_IO, errno, "close_range");
		die_setup("descriptors", &err);
	}
	if (!(env = build_env(p))) {
		ferry_error_set(&err, FERRY_E_NOMEM, "out of memory");
		die_setup("environment", &err);
	}
	snprintf(dir, sizeof(dir), "%s/data", p->sandbox_pkg);
	if (chdir(dir) < 0) {
		ferry_error_errno(&err, FERRY_E_IO, errno, "%s", dir);
		die_setup("working directory", &err);
	}
	if ((r = caps_drop_to(p, p->caps_keep, &err)) < 0)
		die_setup("credentials", &err);
	r = syscall_filter_load(g.filter[0], g.notify, &nfd, &err);
	close(g.filter[0]);
	if (r < 0)
		die_setup("seccomp", &err);
	if (send_fd(notify_sock, nfd) < 0) {
		ferry_error_errno(&err, FERRY_E_IO, errno, "handing the seccomp listener to init");
		die_setup("seccomp", &err);
	}
	if (nfd >= 0)
		close(nfd);
	close(notify_sock);
	if ((r = landlock_apply(p, &g.plan, &err)) < 0)
		die_setup("landlock", &err);

	if (p->argv[0][0] == '/')
		snprintf(path, sizeof(path), "%s", p->argv[0]);
	else
		snprintf(path, sizeof(path), "%s/current/%s", p->sandbox_pkg, p->argv[0]);
	/* The program sees the path it was started by as argv[0], as from a
	 * shell: programs that find their own files from it (python3 finds its
	 * library beside its binary) would otherwise look relative to the
	 * working directory. */
	size_t argc = 0;
	while (p->argv[argc])
		argc++;
	char **av = calloc(argc + 1, sizeof(*av));
	if (!av) {
		ferry_error_errno(&err, FERRY_E_NOMEM, ENOMEM, "argument vector");
		die_setup("exec", &err);
	}
	av[0] = path;
	for (size_t i = 1; i < argc; i++)
		av[i] = p->argv[i];
	execve(path, av, env);
	e = errno;
	free(av);
	log_error("%s: cannot execute %s: %s", p->label, path, strerror(e));
	report("failed cannot execute %s: %s", path, strerror(e));
	_exit(e == ENOENT ? CONFINE_EXIT_NOTFOUND : CONFINE_EXIT_NOEXEC);
}

static void __attribute__((noreturn)) run_init(void)
{
	struct confine_policy *p = &g.p;
	ferry_error err = {0};
	int sv[2], st, code;
	pid_t app;

	close(g.report[0]);
	close(g.filter[1]);
	/* if the monitor is killed, so is the sandbox; set again below after
	 * the uid change, which clears it */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (monitor_gone())
		_exit(CONFINE_EXIT_SETUP);
	const int keep[] = {g.report[1], g.filter[0], g.log_fd};
	if (close_inherited(keep, ARRAY_SIZE(keep), &err) < 0)
		die_setup("descriptors", &err);
	if (p->unprivileged && ns_write_id_maps(g.outer_uid, g.outer_gid, &err) < 0)
		die_setup("user namespace", &err);
	if (cgroup_join(&g.cg, &err) < 0)
		die_setup("cgroup", &err);
	if (unshare(CLONE_NEWCGROUP) < 0) {
		ferry_error_errno(&err, FERRY_E_IO, errno, "unshare");
		die_setup("cgroup namespace", &err);
	}
	if (!(p->flags & IFACE_HOST_NET) && ns_loopback_up(&err) < 0)
		die_setup("network", &err);
	if (mount_sandbox(p, &g.plan, &err) < 0)
		die_setup("mount namespace", &err);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		ferry_error_errno(&err, FERRY_E_IO, errno, "socketpair");
		die_setup("init", &err);
	}
	app = fork();
	if (app < 0) {
		ferry_error_errno(&err, FERRY_E_IO, errno, "fork");
		die_setup("init", &err);
	}
	if (app == 0) {
		close(sv[0]);
		run_app(sv[1]);
	}
	close(sv[1]);
	close(g.filter[0]);
	(void)prctl(PR_SET_NAME, "ferry-init", 0, 0, 0);
	/* init needs nothing more than the app has: same uid, no capability */
	if (caps_drop_to(p, 0, &err) < 0) {
		kill(app, SIGKILL);
		die_setup("init credentials", &err);
	}
	/* not to be traced or read through /proc by the app, which has the same
	 * uid (the uid change does this as root, not in a user namespace) */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* the uid change cleared the parent-death signal: set it again, then
	 * make sure the monitor did not die in between */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (monitor_gone()) {
		kill(app, SIGKILL);
		_exit(CONFINE_EXIT_SETUP);
	}
	st = ns_init_loop(p, app, sv[0]);
	/* whatever the app left behind goes with it, before init reports */
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		report("killed %d", WTERMSIG(st));
		code = 128 + WTERMSIG(st);
	} else {
		code = WEXITSTATUS(st);
		report("exited %d", code);
	}
	/* _exit: nothing of the monitor's state to flush here */
	_exit(code);
}

static void write_status(const char *line)
{
	if (g.p.status_fd >= 0) {
		char buf[1100];
		int n = snprintf(buf, sizeof(buf), "%s\n", line);
		if (n > 0 &&
		    fs_write_all(g.p.status_fd, buf,
		                 (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1)) < 0)
			log_warn("--status-fd: %m");
	}
}

static void print_dry_run(const struct confine_policy *p)
{
	printf("package %s app %s revision %s uid %u gid %u%s%s\n", p->name, p->app, p->revision,
	       (unsigned)p->uid, (unsigned)p->gid, p->devmode ? " devmode" : "",
	       p->unprivileged ? " unprivileged" : "");
	for (size_t i = 0; i < p->n_plugs; i++)
		printf("plug %s\n", p->plugs[i]->name);
	printf("network %s\n", p->flags & IFACE_HOST_NET ? "host" : "loopback only");
	for (size_t i = 0; i < p->n_groups; i++)
		printf("group %u\n", (unsigned)p->groups[i]);
	for (int c = 0; c < 64; c++)
		if (p->caps_keep & (1ull << c))
			printf("capability %s\n", confine_cap_name(c));
	size_t n;
	const struct syscall_rule *r = syscall_filter_rules(&n);
	for (size_t i = 0; i < n; i++)
		printf("seccomp %s %s\n", r[i].name,
		       r[i].lifted_by & p->lifts ? "allowed" : "denied");
	if (p->memory_max)
		printf("limit memory %llu\n", (unsigned long long)p->memory_max);
	if (p->pids_max)
		printf("limit pids %llu\n", (unsigned long long)p->pids_max);
	if (p->cpu_quota_us)
		printf("limit cpu %llu/100000\n", (unsigned long long)p->cpu_quota_us);
	mount_plan_print(&g.plan, stdout);
	printf("exec %s\n", p->argv[0]);
}

int confine_main(int argc, char **argv)
{
	struct confine_policy *p = &g.p;
	ferry_error err = {0};
	char **top = NULL;
	char outcome[1100] = "", line[1100];
	bool done;
	sigset_t set;
	pid_t init;
	int st, code;

	log_setup("ferry-confine", LOG_LEVEL_WARN, NULL);
	if (policy_parse(p, argc, argv, &done, &err) < 0) {
		fprintf(stderr, "ferry-confine: %s\n", ferry_error_msg(&err));
		return 2;
	}
	if (done)
		return 0;
	/* the caller's descriptors are never the sandbox's (init closes them
	 * too; 0 to 2 are the app's own output) */
	if (p->status_fd > 2)
		(void)fcntl(p->status_fd, F_SETFD, FD_CLOEXEC);
	if (p->log_fd > 2)
		(void)fcntl(p->log_fd, F_SETFD, FD_CLOEXEC);
	if (p->log_fd != 2) {
		/* a copy that closes on exec: the sandbox never gets --log-fd */
		int fd = fcntl(p->log_fd, F_DUPFD_CLOEXEC, 3);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (f) {
			setvbuf(f, NULL, _IOLBF, 0);
			log_setup("ferry-confine", log_get_level(), f);
			g.log_fd = fd;
		} else if (fd >= 0) {
			close(fd);
		}
	}
	if (policy_finish(p, &err) < 0 ||
	    mount_toplevel_read(p->base_dir ? p->base_dir : "/", &top, &err) < 0 ||
	    mount_plan_build(p, top, &g.plan, &err) < 0) {
		log_error("%s", ferry_error_msg(&err));
		mount_toplevel_free(top);
		return 2;
	}
	mount_toplevel_free(top);
	if (p->dry_run) {
		print_dry_run(p);
		mount_plan_free(&g.plan);
		return 0;
	}
	if (p->unprivileged)
		log_info("%s: not running as root: using a user namespace (development mode)",
		         p->label);
	if (p->devmode)
		log_info("%s: devmode: seccomp logs instead of denying; Landlock and the mount "
		         "namespace still apply",
		         p->label);

	g.notify = syscall_filter_can_notify(p);
	if (pipe2(g.report, O_CLOEXEC) < 0 || pipe2(g.filter, O_CLOEXEC) < 0) {
		log_error("%s: pipe: %m", p->label);
		return CONFINE_EXIT_SETUP;
	}
	if (cgroup_create(p, getpid(), &g.cg, &err) < 0) {
		log_error("%s: %s", p->label, ferry_error_msg(&err));
		cgroup_remove(&g.cg);
		snprintf(line, sizeof(line), "failed cgroup: %s", ferry_error_msg(&err));
		write_status(line);
		return CONFINE_EXIT_SETUP;
	}
	sigemptyset(&set);
	for (size_t i = 0; ns_forwarded_signals[i]; i++)
		sigaddset(&set, ns_forwarded_signals[i]);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	g.outer_uid = geteuid();
	g.outer_gid = getegid();

	init = ns_clone(p, &err);
	if (init == 0)
		run_init();
	close(g.report[1]);
	g.report[1] = -1;
	if (init < 0) {
		log_error("%s: %s", p->label, ferry_error_msg(&err));
		cgroup_remove(&g.cg);
		snprintf(line, sizeof(line), "failed namespaces: %s", ferry_error_msg(&err));
		write_status(line);
		return CONFINE_EXIT_SETUP;
	}
	/* a sandbox that died early closes the filter pipe: EPIPE, not SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	/* the monitor keeps uid 0 (to remove the cgroup) and CAP_KILL (to
	 * signal init, which runs as the package's uid) */
	if (!p->unprivileged && caps_drop_all_keep_uid(1ull << CAP_KILL, &err) < 0)
		log_warn("%s: monitor: %s", p->label, ferry_error_msg(&err));
	/* the filter, built while init builds the mount namespace; on failure
	 * the app reads nothing and stops */
	close(g.filter[0]);
	if (syscall_filter_export(p, g.notify, g.filter[1], &err) < 0)
		log_error("%s: seccomp: %s", p->label, ferry_error_msg(&err));
	close(g.filter[1]);

	/* with a cgroup to remove, wait for init itself; otherwise its report
	 * that the app and all its processes are gone is enough */
	char buf[4096];
	bool init_gone = ns_monitor_wait(init, g.report[0], g.cg.n > 0, buf, sizeof(buf), &st);

	/* what init and the app reported; the last line is the outcome */
	{
		char *failed = strstr(buf, "failed ");
		char *last = NULL, *save = NULL;
		for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			last = l;
		if (failed)
			snprintf(outcome, sizeof(outcome), "%s", failed);
		else if (last)
			snprintf(outcome, sizeof(outcome), "%s", last);
		/* init's last line, "exited N" or "killed N", when it is not waited for */
		code = !last                              ? CONFINE_EXIT_SETUP
		       : strncmp(last, "killed ", 7) == 0 ? 128 + atoi(last + 7)
		                                          : atoi(last + 7);
	}
	if (!init_gone) {
		/* code is set */
	} else if (WIFSIGNALED(st) && (WTERMSIG(st) == SIGHUP || WTERMSIG(st) == SIGINT)) {
		/* the kernel ends a PID namespace's init with SIGHUP (restart) or
		 * SIGINT (power off, halt) when a process in it calls reboot(2) */
		const char *what = WTERMSIG(st) == SIGHUP ? "restart" : "poweroff";
		log_info("%s: the app asked for a %s", p->label, what);
		snprintf(outcome, sizeof(outcome), "reboot %s", what);
		code = 0;
	} else if (WIFSIGNALED(st)) {
		code = 128 + WTERMSIG(st);
		snprintf(outcome, sizeof(outcome), "killed %d", WTERMSIG(st));
	} else {
		code = WEXITSTATUS(st);
		if (!outcome[0])
			snprintf(outcome, sizeof(outcome), "exited %d", code);
	}
	if (code == 128 + SIGKILL && cgroup_oom_killed(&g.cg)) {
		log_warn("%s: killed: out of memory (--memory %llu bytes)", p->label,
		         (unsigned long long)p->memory_max);
		snprintf(outcome, sizeof(outcome), "killed %d oom", SIGKILL);
	}
	cgroup_remove(&g.cg);
	write_status(outcome);
	mount_plan_free(&g.plan);
	return code;
}
