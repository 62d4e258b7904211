/* landlock.c: Landlock rules that repeat the mount namespace's file-system
 * policy inside the kernel's own access control, so that a hole in one layer
 * is not a hole in both.
 *
 * Rules (on the sandbox's paths, after pivot_root):
 *   "/"                              read, execute, list
 *   data, common, /tmp, /var/tmp,
 *   /dev/shm, read-write grants      everything but creating device nodes
 *   /dev/null zero full random
 *   urandom tty, /dev/pts, devices   read, write, truncate, ioctl
 *   read-only devices                read, ioctl
 *   the terminal on fds 0-2, if any  read, write, ioctl (it lives on the
 *                                    host's devpts, which "/" does not reach)
 * Network (ABI 4+): TCP bind denied unless `network-bind`; in the host's
 * network namespace, TCP connect denied unless `network` (in a private one
 * the app may connect to itself over loopback).
 * Scopes (ABI 6+): abstract Unix sockets and signals stay inside the sandbox.
 * Logging (ABI 7+): denials after exec go to the kernel's audit log.
 *
 * The ABI version decides which rights exist; what this kernel lacks is
 * logged once per start. Landlock has no report-only mode, so devmode does
 * not relax it. This file does not mount anything. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "confine.h"

/* Rights and flags newer than the C library's headers may know. */
#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REMOVE_DIR (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR (1ull << 6)
#define LL_FS_MAKE_DIR (1ull << 7)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_MAKE_SOCK (1ull << 9)
#define LL_FS_MAKE_FIFO (1ull << 10)
#define LL_FS_MAKE_BLOCK (1ull << 11)
#define LL_FS_MAKE_SYM (1ull << 12)
#define LL_FS_REFER (1ull << 13)                   /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14)                /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15)               /* ABI 5 */
#define LL_NET_BIND_TCP (1ull << 0)                /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1)             /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0)         /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)                /* ABI 6 */
#define LL_RESTRICT_SELF_LOG_NEW_EXEC_ON (1u << 1) /* ABI 7 */
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1u << 0)
#endif
#define LL_RULE_PATH_BENEATH 1

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

#define LL_FILE_RIGHTS                                                                             \
	(LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)
#define LL_READ (LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR)
#define LL_WRITE                                                                                   \
	(LL_READ | LL_FS_WRITE_FILE | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE | LL_FS_MAKE_DIR |      \
	 LL_FS_MAKE_REG | LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO | LL_FS_MAKE_SYM | LL_FS_REFER |       \
	 LL_FS_TRUNCATE)
#define LL_DEV                                                                                     \
	(LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV | LL_FS_READ_DIR)
#define LL_DEV_RO (LL_FS_READ_FILE | LL_FS_IOCTL_DEV | LL_FS_READ_DIR)

int landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

static uint64_t handled_fs(int abi)
{
	uint64_t h = (1ull << 13) - 1;
	if (abi >= 2)
		h |= LL_FS_REFER;
	if (abi >= 3)
		h |= LL_FS_TRUNCATE;
	if (abi >= 5)
		h |= LL_FS_IOCTL_DEV;
	return h;
}

struct ruleset {
	int fd;
	uint64_t handled;
	const char *label;
};

static int add_rule_fd(struct ruleset *rs, int fd, uint64_t access, const char *what,
                       ferry_error *err)
{
	struct stat st;
	struct ll_path_beneath pb;

	if (fstat(fd, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "landlock: %s", what);
	access &= rs->handled;
	if (!S_ISDIR(st.st_mode))
		access &= LL_FILE_RIGHTS;
	pb.allowed_access = access;
	pb.parent_fd = fd;
	if (access && syscall(SYS_landlock_add_rule, rs->fd, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "landlock rule for %s", what);
	return 0;
}

static int add_rule(struct ruleset *rs, const char *path, uint64_t access, bool optional,
                    ferry_error *err)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 0;
		return ferry_error_errno(err, FERRY_E_IO, errno, "landlock: %s", path);
	}
	return add_rule_fd(rs, fd, access, path, err);
}

static void log_missing(const struct confine_policy *p, int abi)
{
	char miss[512] = "";
	size_t n = 0;

	if (abi == 0) {
		log_warn("%s: landlock: not available in this kernel; the mount namespace alone "
		         "enforces the "
		         "file-system policy",
		         p->label);
		return;
	}
#define MISSING(v, s)                                                                              \
	if (abi < (v))                                                                             \
	n += (size_t)snprintf(miss + n, sizeof(miss) - n, "%s%s (ABI %d)", n ? ", " : "", s, v)
	MISSING(2, "rename/link across directories");
	MISSING(3, "truncate");
	MISSING(4, "TCP bind and connect rules");
	MISSING(5, "device ioctl");
	MISSING(6, "abstract Unix socket and signal scoping");
	MISSING(7, "denial logging");
#undef MISSING
	if (n)
		log_warn("%s: landlock: ABI %d; this kernel cannot restrict: %s", p->label, abi,
		         miss);
	else
		log_debug("%s: landlock: ABI %d, every restriction used", p->label, abi);
}

int landlock_apply(const struct confine_policy *p, const struct mnt_plan *plan, ferry_error *err)
{
	int abi = landlock_abi();
	struct ll_ruleset_attr attr = {0};
	size_t attr_size = sizeof(attr.handled_access_fs);
	_cleanup_close_ int rfd = -1;
	struct ruleset rs;
	int r;

	log_missing(p, abi);
	if (abi == 0)
		return 0;
	attr.handled_access_fs = handled_fs(abi);
	if (abi >= 4) {
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
		if (!(p->flags & IFACE_TCP_BIND))
			attr.handled_access_net |= LL_NET_BIND_TCP;
		if ((p->flags & IFACE_HOST_NET) && !(p->flags & IFACE_TCP_CONNECT))
			attr.handled_access_net |= LL_NET_CONNECT_TCP;
	}
	if (abi >= 6) {
		attr_size = sizeof(attr);
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	}
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (rfd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "landlock_create_ruleset");
	rs = (struct ruleset){.fd = rfd, .handled = attr.handled_access_fs, .label = p->label};

	if ((r = add_rule(&rs, "/", LL_READ, false, err)) < 0)
		return r;
	for (size_t i = 0; i < plan->n; i++) {
		const struct mnt_entry *e = &plan->e[i];
		if (e->skipped)
			continue;
		switch (e->kind) {
		case MNT_BIND_RW:
			r = add_rule(&rs, e->dst, LL_WRITE, false, err);
			break;
		case MNT_TMPFS:
		case MNT_SAME:
			r = e->writable ? add_rule(&rs, e->dst, LL_WRITE, false, err) : 0;
			break;
		case MNT_BIND_DEV:
			r = add_rule(&rs, e->dst, LL_DEV, false, err);
			break;
		case MNT_BIND_DEV_RO:
			r = add_rule(&rs, e->dst, LL_DEV_RO, false, err);
			break;
		case MNT_DEVFS: {
			static const char *const nodes[] = {
			    "/dev/null",    "/dev/zero", "/dev/full", "/dev/random",
			    "/dev/urandom", "/dev/tty",  "/dev/pts",  NULL};
			for (size_t k = 0; nodes[k] && r == 0; k++)
				r = add_rule(&rs, nodes[k], LL_DEV, false, err);
			break;
		}
		default:
			r = 0;
			break;
		}
		if (r < 0)
			return r;
	}
	for (int fd = 0; fd <= 2; fd++)
		if (isatty(fd) && (r = add_rule_fd(&rs, fd, LL_DEV, "the terminal", err)) < 0)
			return r;

	if (syscall(SYS_landlock_restrict_self, rfd,
	            abi >= 7 ? LL_RESTRICT_SELF_LOG_NEW_EXEC_ON : 0) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "landlock_restrict_self");
	return 0;
}
