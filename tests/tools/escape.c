/* escape.c: a test-only program that tries one thing a confined app must not
 * (or may) do, and prints what happened on one line:
 *   ATTEMPT: ok [detail]          it worked
 *   ATTEMPT: denied ERRNO [detail] it failed with errno ERRNO (EPERM, ...)
 * Several attempts in one run are separated by "--next".
 * tests/system/test_confine.py runs it inside ferry-confine. It is built
 * without sanitizers: their run-time needs ptrace and /proc, which the
 * sandbox takes away on purpose. Never installed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/reboot.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *attempt;

static int result(int rc, const char *detail)
{
	if (rc >= 0)
		printf("%s: ok%s%s\n", attempt, detail ? " " : "", detail ? detail : "");
	else
		printf("%s: denied %s%s%s\n", attempt,
		       strerrorname_np(errno) ? strerrorname_np(errno) : "?", detail ? " " : "",
		       detail ? detail : "");
	fflush(stdout);
	return 0;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = write(fd, s, strlen(s)) < 0 ? -1 : 0;
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static int caps_line(const char *key, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	if (!f)
		return -1;
	out[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0) {
			snprintf(out, size, "%s", line + strlen(key));
			out[strcspn(out, "\n")] = 0;
		}
	fclose(f);
	return 0;
}

static int one_attempt(int argc, char **argv)
{
	const char *a1 = argc > 2 ? argv[2] : "";
	const char *a2 = argc > 3 ? argv[3] : "";
	char buf[4096];
	int fd, r;

	if (argc < 2) {
		fprintf(stderr, "usage: escape ATTEMPT [ARG]...\n");
		return 2;
	}
	attempt = argv[1];

	if (!strcmp(attempt, "write")) {
		fd = open(a1, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0 && write(fd, "escape\n", 7) == 7) {
			close(fd);
			return result(0, NULL);
		}
		return result(-1, NULL);
	}
	if (!strcmp(attempt, "read")) {
		fd = open(a1, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return result(-1, NULL);
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0)
			return result(-1, NULL);
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
		return result(0, buf);
	}
	if (!strcmp(attempt, "list")) {
		DIR *d = opendir(a1);
		struct dirent *de;
		size_t n = 0;
		if (!d)
			return result(-1, NULL);
		while ((de = readdir(d)))
			n += de->d_name[0] != '.';
		closedir(d);
		snprintf(buf, sizeof(buf), "%zu", n);
		return result(0, buf);
	}
	if (!strcmp(attempt, "open-dev")) {
		fd = open(a1, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0)
			close(fd);
		return result(fd, NULL);
	}
	if (!strcmp(attempt, "connect") || !strcmp(attempt, "bind-tcp")) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_port = htons((uint16_t)atoi(a1))};
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return result(-1, "socket");
		r = !strcmp(attempt, "connect") ? connect(fd, (struct sockaddr *)&sa, sizeof(sa))
		                                : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		return result(r, NULL);
	}
	if (!strcmp(attempt, "unix-connect")) {
		struct sockaddr_un su = {.sun_family = AF_UNIX};
		snprintf(su.sun_path, sizeof(su.sun_path), "%s", a1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		/* reaching the listener is the escape; what follows is the agent's business */
		r = connect(fd, (struct sockaddr *)&su, sizeof(su));
		return result(r, NULL);
	}
	if (!strcmp(attempt, "abstract-connect")) {
		/* an abstract Unix socket: a name in the network namespace, no file */
		struct sockaddr_un su = {.sun_family = AF_UNIX};
		size_t l = strlen(a1);
		if (l > sizeof(su.sun_path) - 2)
			return 2;
		memcpy(su.sun_path + 1, a1, l);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		r = connect(fd, (struct sockaddr *)&su,
		            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + l));
		return result(r, NULL);
	}
	if (!strcmp(attempt, "ptrace"))
		return result((int)ptrace(PTRACE_ATTACH, atoi(a1), NULL, NULL), NULL);
	if (!strcmp(attempt, "kill"))
		return result(kill(atoi(a1), 0), NULL);
	if (!strcmp(attempt, "mount"))
		return result(mount("none", "/tmp", "tmpfs", 0, NULL), NULL);
	if (!strcmp(attempt, "umount"))
		return result(umount2("/proc", MNT_DETACH), NULL);
	if (!strcmp(attempt, "module"))
		return result((int)syscall(SYS_finit_module, 0, "", 0), NULL);
	if (!strcmp(attempt, "mknod"))
		return result(mknod(a1, S_IFCHR | 0666, makedev(1, 3)), NULL);
	if (!strcmp(attempt, "mkfifo"))
		return result(mkfifo(a1, 0644), NULL);
	if (!strcmp(attempt, "whoami")) {
		char caps[64];
		caps_line("CapEff:\t", caps, sizeof(caps));
		snprintf(buf, sizeof(buf), "uid=%d euid=%d gid=%d egid=%d capeff=%s", (int)getuid(),
		         (int)geteuid(), (int)getgid(), (int)getegid(), caps);
		return result(0, buf);
	}
	if (!strcmp(attempt, "groups")) {
		gid_t gs[64];
		int n = getgroups(64, gs);
		size_t o = 0;
		buf[0] = 0;
		for (int i = 0; i < n; i++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%d", i ? "," : "",
			                      (int)gs[i]);
		return result(n, buf);
	}
	if (!strcmp(attempt, "caps")) {
		char eff[64], prm[64], bnd[64], amb[64];
		caps_line("CapEff:\t", eff, sizeof(eff));
		caps_line("CapPrm:\t", prm, sizeof(prm));
		caps_line("CapBnd:\t", bnd, sizeof(bnd));
		caps_line("CapAmb:\t", amb, sizeof(amb));
		caps_line("NoNewPrivs:\t", buf, sizeof(buf));
		char out[512];
		snprintf(out, sizeof(out), "eff=%s prm=%s bnd=%s amb=%s nnp=%s", eff, prm, bnd, amb,
		         buf);
		return result(0, out);
	}
	if (!strcmp(attempt, "raise-uid")) {
		r = setuid(0);
		snprintf(buf, sizeof(buf), "euid=%d", (int)geteuid());
		return result(r, buf);
	}
	if (!strcmp(attempt, "setuid-exec")) {
		/* a0 is a setuid-root copy of this program: it must not run as root */
		execl(a1, a1, "raise-uid", (char *)NULL);
		return result(-1, "exec");
	}
	if (!strcmp(attempt, "capset")) {
		struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
		struct __user_cap_data_struct d[2] = {{0}};
		d[0].effective = d[0].permitted = 1u << CAP_SYS_ADMIN;
		return result((int)syscall(SYS_capset, &h, d), NULL);
	}
	if (!strcmp(attempt, "ambient"))
		return result(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0),
		              NULL);
	if (!strcmp(attempt, "cgroup-move")) {
		snprintf(buf, sizeof(buf), "%d", (int)getpid());
		return result(write_file(a1, buf), NULL);
	}
	if (!strcmp(attempt, "cgroup-write"))
		return result(write_file(a1, a2), NULL);
	if (!strcmp(attempt, "stat")) {
		struct stat st;
		return result(stat(a1, &st), NULL);
	}
	if (!strcmp(attempt, "ps")) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		size_t o = 0;
		buf[0] = 0;
		if (!d)
			return result(-1, NULL);
		while ((de = readdir(d)))
			if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
				o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s",
				                      o ? "," : "", de->d_name);
		closedir(d);
		return result(0, buf);
	}
	if (!strcmp(attempt, "settime"))
		return result((int)syscall(SYS_settimeofday, NULL, NULL), NULL);
	if (!strcmp(attempt, "reboot-probe"))
		/* harmless anywhere: in a child PID namespace the kernel answers
		 * EINVAL for this command once seccomp and the capability allow it */
		return result(reboot(LINUX_REBOOT_CMD_CAD_OFF), NULL);
	if (!strcmp(attempt, "reboot")) {
		if (reboot(LINUX_REBOOT_CMD_CAD_OFF) == 0 || errno != EINVAL)
			return result(-1,
			              "not in a child PID namespace with CAP_SYS_BOOT: refusing");
		return result(reboot(RB_AUTOBOOT), NULL);
	}
	if (!strcmp(attempt, "syslog"))
		return result(klogctl(10, NULL, 0), NULL);
	if (!strcmp(attempt, "userns"))
		return result(unshare(CLONE_NEWUSER), NULL);
	if (!strcmp(attempt, "personality"))
		return result(personality(ADDR_NO_RANDOMIZE), NULL);
	if (!strcmp(attempt, "personality-query"))
		return result(personality(0xffffffff), NULL);
	if (!strcmp(attempt, "bpf"))
		return result((int)syscall(SYS_bpf, 0, NULL, 0), NULL);
	if (!strcmp(attempt, "keyctl"))
		return result((int)syscall(SYS_keyctl, 0, 0, 0, 0, 0), NULL);
	if (!strcmp(attempt, "userfaultfd"))
		return result((int)syscall(SYS_userfaultfd, 0), NULL);
	if (!strcmp(attempt, "io_uring"))
		return result((int)syscall(SYS_io_uring_setup, 1, buf), NULL);
	if (!strcmp(attempt, "tiocsti")) {
		char c = 'x';
		return result(ioctl(0, TIOCSTI, &c), NULL);
	}
	if (!strcmp(attempt, "forkbomb")) {
		int want = atoi(a1), made = 0, err = 0;
		for (int i = 0; i < want; i++) {
			pid_t p = fork();
			if (p == 0) {
				pause();
				_exit(0);
			}
			if (p < 0) {
				err = errno;
				break;
			}
			made++;
		}
		snprintf(buf, sizeof(buf), "made %d", made);
		errno = err;
		return result(err ? -1 : 0, buf);
	}
	if (!strcmp(attempt, "alloc")) {
		size_t mb = (size_t)atoi(a1);
		for (size_t i = 0; i < mb; i++) {
			char *p = malloc(1 << 20);
			if (!p)
				return result(-1, NULL);
			memset(p, 1, 1 << 20);
		}
		return result(0, NULL);
	}
	if (!strcmp(attempt, "env")) {
		extern char **environ;
		for (char **e = environ; *e; e++)
			printf("%s\n", *e);
		return result(0, NULL);
	}
	if (!strcmp(attempt, "cwd")) {
		if (!getcwd(buf, sizeof(buf)))
			return result(-1, NULL);
		return result(0, buf);
	}
	if (!strcmp(attempt, "wait")) {
		/* for the host side to look at the running sandbox */
		printf("%s: ready %d\n", attempt, (int)getpid());
		fflush(stdout);
		while (read(0, buf, sizeof(buf)) > 0)
			;
		return result(0, NULL);
	}
	if (!strcmp(attempt, "exit"))
		return atoi(a1);
	if (!strcmp(attempt, "signal")) {
		signal(atoi(a1), SIG_DFL);
		raise(atoi(a1));
		return 0;
	}
	fprintf(stderr, "escape: unknown attempt %s\n", attempt);
	return 2;
}

/* escape ATTEMPT [ARG]... [--next ATTEMPT [ARG]...]... */
int main(int argc, char **argv)
{
	int start = 1, rc = 0;

	for (int i = 1; i <= argc; i++) {
		if (i < argc && strcmp(argv[i], "--next") != 0)
			continue;
		argv[start - 1] = argv[0];
		if (i > start) {
			char *saved = argv[i];
			argv[i] = NULL;
			rc |= one_attempt(i - start + 1, argv + start - 1);
			argv[i] = saved;
		}
		start = i + 1;
	}
	return rc;
}
