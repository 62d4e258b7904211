/* ns.c: namespaces and the two waiting processes.
 *
 * ns_clone() creates the sandbox's init in new PID, mount, IPC, UTS and
 * (unless `network` is connected) network namespaces, plus a user namespace
 * when not run as root. ns_init_loop() is that init (PID 1): it reaps every
 * child, forwards the signals the monitor forwards to it on to the app, and
 * serves the seccomp notification descriptor (a denied system call is
 * logged, then answered EPERM). ns_monitor_wait() is the monitor outside,
 * which returns as soon as init reports that every process of the app is
 * gone (or, when a cgroup must be removed, once init itself is).
 *
 * This file builds no mounts (mount.c) and loads no filter (seccomp.c). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "confine.h"

const int ns_forwarded_signals[] = {SIGHUP,  SIGINT,  SIGQUIT,  SIGTERM,
                                    SIGUSR1, SIGUSR2, SIGWINCH, 0};

pid_t ns_clone(const struct confine_policy *p, ferry_error *err)
{
	unsigned long flags = SIGCHLD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
	pid_t pid;

	if (!(p->flags & IFACE_HOST_NET))
		flags |= CLONE_NEWNET;
	if (p->unprivileged)
		flags |= CLONE_NEWUSER;
	/* fork-like clone (no new stack), as bubblewrap does */
	pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		int e = errno;
		if (p->unprivileged && (e == EPERM || e == ENOSPC || e == EINVAL))
			ferry_error_errno(
			    err, FERRY_E_PERM, e,
			    "creating namespaces without root needs unprivileged user namespaces");
		else
			ferry_error_errno(err, FERRY_E_IO, e, "creating namespaces");
		return -1;
	}
	return pid;
}

static int write_file(const char *path, const char *s, ferry_error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || fs_write_all(fd, s, strlen(s)) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", path);
	return 0;
}

int ns_write_id_maps(uid_t outer_uid, gid_t outer_gid, ferry_error *err)
{
	char m[64];
	int r;

	if ((r = write_file("/proc/self/setgroups", "deny", err)) < 0)
		return r;
	snprintf(m, sizeof(m), "%u %u 1\n", (unsigned)outer_uid, (unsigned)outer_uid);
	if ((r = write_file("/proc/self/uid_map", m, err)) < 0)
		return r;
	snprintf(m, sizeof(m), "%u %u 1\n", (unsigned)outer_gid, (unsigned)outer_gid);
	return write_file("/proc/self/gid_map", m, err);
}

int ns_loopback_up(ferry_error *err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "loopback");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "bringing loopback up");
	return 0;
}

static sigset_t forwarded_set(void)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; ns_forwarded_signals[i]; i++)
		sigaddset(&set, ns_forwarded_signals[i]);
	sigaddset(&set, SIGCHLD);
	return set;
}

/* Receive the seccomp listener the app sends before it execs; -1 if the app
 * sent none (devmode, an old kernel, or it failed first). */
static int receive_fd(int sock)
{
	char data;
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &data, .iov_len = 1};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	int fd = -1;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* --forking: the app's first process exited 0 and left others running;
 * tell the agent the service is up, as a notify service would. */
static void send_ready(const struct confine_policy *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;

	if (!p->notify_socket)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, CONFINE_SANDBOX_NOTIFY, sizeof(CONFINE_SANDBOX_NOTIFY));
	if (fd < 0 ||
	    sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		log_warn("%s: notify socket: %m", p->label);
}

int ns_init_loop(const struct confine_policy *p, pid_t app, int notify_sock)
{
	sigset_t set = forwarded_set();
	_cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	int nfd = receive_fd(notify_sock);
	int app_status = -1;
	bool forked = false; /* --forking: the first process is gone, its children run */

	close(notify_sock);
	if (sfd < 0) {
		log_error("%s: signalfd: %m", p->label);
		kill(app, SIGKILL);
	}
	for (;;) {
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
		                        {.fd = nfd, .events = POLLIN}};
		int n = poll(pfd, nfd >= 0 ? 2 : 1, -1);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo != SIGCHLD) {
					kill(forked ? -1 : app, (int)si.ssi_signo);
				} else {
					pid_t pid;
					int st;
					while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
						if (pid == app || forked)
							app_status = st;
					/* --forking: the sandbox lives while the processes
					 * the app left run; the last one's status counts. */
					if (p->forking && !forked && app_status != -1 &&
					    WIFEXITED(app_status) && WEXITSTATUS(app_status) == 0 &&
					    pid == 0) {
						forked = true;
						send_ready(p);
						continue;
					}
					if (forked && (pid == 0 || errno != ECHILD))
						continue;
					/* The app is done: leaving ends every process left in the
					 * namespace, as the kernel kills them with PID 1. */
					if (app_status != -1)
						return app_status;
				}
			}
		}
		if (nfd >= 0 && pfd[1].revents) {
			if ((pfd[1].revents & POLLIN) && syscall_filter_serve_one(p, nfd) == 0)
				continue;
			if (pfd[1].revents & (POLLHUP | POLLERR | POLLNVAL) ||
			    !(pfd[1].revents & POLLIN)) {
				close(nfd);
				nfd = -1;
			}
		}
	}
	/* not reached unless poll fails: wait plainly */
	while (waitpid(app, &app_status, 0) < 0 && errno == EINTR)
		;
	return app_status;
}

/* Has init written its last line, "exited N" or "killed N"? */
static bool final_line(const char *buf)
{
	for (const char *l = buf; *l;) {
		const char *nl = strchr(l, '\n');
		if (!nl)
			return false;
		if (strncmp(l, "exited ", 7) == 0 || strncmp(l, "killed ", 7) == 0)
			return true;
		l = nl + 1;
	}
	return false;
}

bool ns_monitor_wait(pid_t init, int report_fd, bool wait_for_init, char *buf, size_t size, int *st)
{
	sigset_t set = forwarded_set();
	_cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	size_t len = 0;
	bool eof = false;

	buf[0] = 0;
	*st = 0;
	while (sfd >= 0) {
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
		                        {.fd = eof ? -1 : report_fd, .events = POLLIN}};
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents) {
			ssize_t n = len < size - 1 ? read(report_fd, buf + len, size - 1 - len) : 0;
			if (n > 0) {
				len += (size_t)n;
				buf[len] = 0;
				/* every process of the app is gone once init says so;
				 * the kernel dismantles the namespaces after that */
				if (!wait_for_init && final_line(buf))
					return false;
			} else if (n == 0 || errno != EINTR) {
				eof = true;
			}
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD) {
				kill(init, (int)si.ssi_signo);
				continue;
			}
			if (waitpid(init, st, WNOHANG) == init) {
				ssize_t n;
				while (len < size - 1 &&
				       (n = read(report_fd, buf + len, size - 1 - len)) > 0)
					len += (size_t)n;
				buf[len] = 0;
				return true;
			}
		}
	}
	while (waitpid(init, st, 0) < 0 && errno == EINTR)
		;
	return true;
}
