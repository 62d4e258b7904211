/* seccomp.c: the system-call filter (libseccomp).
 *
 * The filter allows by default and denies, with EPERM, what no app needs:
 * the rules below, each with a name that appears in denial messages. An
 * interface may lift a rule group (enum syscall_lift). How a denial is
 * reported:
 *   strict mode: SCMP_ACT_NOTIFY. The sandbox's init receives the
 *     notification, logs "denied by seccomp rule NAME: SYSCALL(2) ..." and
 *     answers EPERM; it never lets a call through. Kernels without user
 *     notification get SCMP_ACT_ERRNO(EPERM) with the filter's log flag set,
 *     so the kernel's audit log records the denial.
 *   devmode: SCMP_ACT_NOTIFY too, but init logs "... would be denied by
 *     seccomp rule NAME ...; allowed (devmode)" and lets the call go ahead
 *     (SECCOMP_USER_NOTIF_FLAG_CONTINUE). Without user notification:
 *     SCMP_ACT_LOG, and the kernel's audit log records the call
 *     (type=1326 ... syscall=N).
 * clone3 is always answered ENOSYS so that the C library falls back to clone,
 * whose flags the filter can read.
 *
 * The monitor builds the filter with libseccomp and writes it, as classic
 * BPF, into a pipe while init builds the mount namespace (the two run in
 * parallel); the app reads it and loads it with seccomp(2) itself, so that
 * the listener belongs to the app. Foreign system-call ABIs (x32 on x86_64)
 * are not in the filter: their calls end the process (libseccomp's "bad
 * architecture" action). i386 on x86_64 and arm on aarch64 get the rules.
 *
 * This file does not load Landlock rules or touch capabilities. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "confine.h"

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

static const struct syscall_rule rules[] = {
    {"mount",
     {"mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig",
      "fsmount", "fspick", "mount_setattr", NULL},
     0,
     SYSCALL_ARG_ANY,
     "mounting is the agent's job"},
    {"module",
     {"init_module", "finit_module", "delete_module", "create_module", NULL},
     0,
     SYSCALL_ARG_ANY,
     "loading kernel modules"},
    {"kexec",
     {"kexec_load", "kexec_file_load", NULL},
     0,
     SYSCALL_ARG_ANY,
     "replacing the running kernel"},
    {"bpf", {"bpf", NULL}, 0, SYSCALL_ARG_ANY, "loading BPF programs"},
    {"ptrace",
     {"ptrace", "process_vm_readv", "process_vm_writev", NULL},
     0,
     SYSCALL_ARG_ANY,
     "tracing processes (the sandbox's PID namespace hides the host's anyway)"},
    {"keyring",
     {"keyctl", "add_key", "request_key", NULL},
     0,
     SYSCALL_ARG_ANY,
     "the kernel keyring is not namespaced"},
    {"perf", {"perf_event_open", NULL}, 0, SYSCALL_ARG_ANY, "performance counters expose the host"},
    {"userfaultfd", {"userfaultfd", NULL}, 0, SYSCALL_ARG_ANY, "a common kernel-exploit primitive"},
    {"io_uring",
     {"io_uring_setup", "io_uring_enter", "io_uring_register", NULL},
     0,
     SYSCALL_ARG_ANY,
     "io_uring requests bypass this filter"},
    {"swap", {"swapon", "swapoff", NULL}, 0, SYSCALL_ARG_ANY, "swap is the system's"},
    {"reboot", {"reboot", NULL}, LIFT_REBOOT, SYSCALL_ARG_ANY, "needs the shutdown interface"},
    {"file-handle",
     {"open_by_handle_at", NULL},
     0,
     SYSCALL_ARG_ANY,
     "opens files by handle, around the mount namespace"},
    {"personality",
     {"personality", NULL},
     0,
     SYSCALL_ARG_PERSONALITY,
     "personality flags that weaken address-space randomisation"},
    {"userns", {"unshare", "clone", NULL}, 0, SYSCALL_ARG_NEWUSER, "new user namespaces"},
    {"setns", {"setns", NULL}, 0, SYSCALL_ARG_ANY, "joining other namespaces"},
    {"clone3",
     {"clone3", NULL},
     0,
     SYSCALL_ARG_ENOSYS,
     "its flags cannot be inspected; libc falls back to clone"},
    {"time",
     {"clock_settime", "settimeofday", "adjtimex", "clock_adjtime", "stime", NULL},
     LIFT_TIME,
     SYSCALL_ARG_ANY,
     "needs the time-control interface"},
    {"mknod", {"mknod", "mknodat", NULL}, 0, SYSCALL_ARG_DEVICE_MODE, "creating device nodes"},
    {"syslog", {"syslog", NULL}, LIFT_SYSLOG, SYSCALL_ARG_ANY, "needs the log-observe interface"},
    {"tty-inject",
     {"ioctl", NULL},
     0,
     SYSCALL_ARG_TTY_INJECT,
     "TIOCSTI/TIOCLINUX inject input into a terminal"},
    {"admin",
     {"acct", "quotactl", "ioperm", "iopl", "vhangup", "uselib", "nfsservctl", "lookup_dcookie",
      "_sysctl", NULL},
     0,
     SYSCALL_ARG_ANY,
     "system administration"},
};

const struct syscall_rule *syscall_filter_rules(size_t *n)
{
	*n = ARRAY_SIZE(rules);
	return rules;
}

/* Weak personality flags, denied unless the call is the 0xffffffff query. */
#define PERSONA_WEAK (ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT | MMAP_PAGE_ZERO | READ_IMPLIES_EXEC)

static int add_rule(scmp_filter_ctx ctx, uint32_t act, int nr, const struct syscall_rule *r)
{
	int rc = 0;

	switch (r->arg_kind) {
	case SYSCALL_ARG_ANY:
		return seccomp_rule_add(ctx, act, nr, 0);
	case SYSCALL_ARG_ENOSYS:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
	case SYSCALL_ARG_DEVICE_MODE: {
		unsigned arg = strcmp(r->syscalls[0], "mknod") == 0 &&
		                       nr == seccomp_syscall_resolve_name("mknod")
		                   ? 1
		                   : 2;
		rc = seccomp_rule_add(ctx, act, nr, 1,
		                      SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, act, nr, 1,
			                      SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK));
		return rc;
	}
	case SYSCALL_ARG_NEWUSER:
		/* clone's flags are argument 0 on the architectures ferry runs on,
		 * as are unshare's */
		return seccomp_rule_add(ctx, act, nr, 1,
		                        SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
	case SYSCALL_ARG_TTY_INJECT:
		rc = seccomp_rule_add(ctx, act, nr, 1,
		                      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, act, nr, 1,
			                      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
		return rc;
	case SYSCALL_ARG_PERSONALITY:
		/* a weak flag with bit 31 clear */
		for (unsigned f = 1; f; f <<= 1) {
			if (!(f & PERSONA_WEAK))
				continue;
			rc = seccomp_rule_add(ctx, act, nr, 1,
			                      SCMP_A0(SCMP_CMP_MASKED_EQ, f | 0x80000000u, f));
			if (rc < 0)
				return rc;
		}
		/* bit 31 set but not the query 0xffffffff: some other bit clear */
		for (unsigned b = 0; b < 31; b++) {
			rc = seccomp_rule_add(
			    ctx, act, nr, 1,
			    SCMP_A0(SCMP_CMP_MASKED_EQ, 0x80000000u | (1u << b), 0x80000000u));
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	return -EINVAL;
}

static void add_secondary_arches(scmp_filter_ctx ctx)
{
	uint32_t native = seccomp_arch_native();

	/* 32-bit programs on a 64-bit kernel get the same rules */
	if (native == SCMP_ARCH_X86_64) {
		(void)seccomp_arch_add(ctx, SCMP_ARCH_X86);
	} else if (native == SCMP_ARCH_AARCH64) {
		(void)seccomp_arch_add(ctx, SCMP_ARCH_ARM);
	}
}

int syscall_filter_build(const struct confine_policy *p, bool notify, void **out, ferry_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	uint32_t act = notify ? SCMP_ACT_NOTIFY : p->devmode ? SCMP_ACT_LOG : SCMP_ACT_ERRNO(EPERM);
	int rc;

	if (!ctx)
		return ferry_error_set(err, FERRY_E_NOMEM, "seccomp_init failed");
	add_secondary_arches(ctx);
	/* no-new-privs is set by caps.c already; log what the filter denies
	 * when the kernel can (no effect on notifications) */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (!notify)
		(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		const struct syscall_rule *r = &rules[i];
		if (r->lifted_by & p->lifts)
			continue;
		for (size_t j = 0; r->syscalls[j]; j++) {
			int nr = seccomp_syscall_resolve_name(r->syscalls[j]);
			if (nr == __NR_SCMP_ERROR)
				continue; /* not a system call on this architecture */
			rc = add_rule(ctx, act, nr, r);
			if (rc < 0 && rc != -EDOM) {
				seccomp_release(ctx);
				return ferry_error_errno(err, FERRY_E_INTERNAL, -rc,
				                         "seccomp rule %s (%s)", r->name,
				                         r->syscalls[j]);
			}
		}
	}
	*out = ctx;
	return 0;
}

void syscall_filter_release(void *ctx)
{
	if (ctx)
		seccomp_release((scmp_filter_ctx)ctx);
}

bool syscall_filter_can_notify(const struct confine_policy *p)
{
	/* user notification needs libseccomp API level 5 and a kernel >= 5.0 */
	(void)p;
	return seccomp_api_get() >= 5;
}

int syscall_filter_export(const struct confine_policy *p, bool notify, int fd, ferry_error *err)
{
	void *ctx = NULL;
	int r, rc;

	if ((r = syscall_filter_build(p, notify, &ctx, err)) < 0)
		return r;
	rc = seccomp_export_bpf((scmp_filter_ctx)ctx, fd);
	syscall_filter_release(ctx);
	if (rc < 0)
		return ferry_error_errno(err, FERRY_E_IO, -rc, "writing the seccomp filter");
	return 0;
}

int syscall_filter_load(int fd, bool notify, int *listener, ferry_error *err)
{
	/* BPF_MAXINSNS instructions at most */
	static struct sock_filter insns[BPF_MAXINSNS];
	size_t len = 0;
	ssize_t n;
	long rc;

	*listener = -1;
	while (len < sizeof(insns) &&
	       (n = read(fd, (char *)insns + len, sizeof(insns) - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno,
			                         "reading the seccomp filter");
		len += (size_t)n;
	}
	if (len == 0 || len % sizeof(struct sock_filter) != 0)
		return ferry_error_set(err, FERRY_E_INTERNAL,
		                       "no seccomp filter received (%zu bytes)", len);
	struct sock_fprog prog = {.len = (unsigned short)(len / sizeof(struct sock_filter)),
	                          .filter = insns};
	unsigned flags = notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : SECCOMP_FILTER_FLAG_LOG;
	rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (rc < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "loading the seccomp filter");
	if (notify)
		*listener = (int)rc;
	return 0;
}

void syscall_filter_describe(uint32_t arch, int nr, const uint64_t args[6], char *out, size_t size)
{
	char *name = seccomp_syscall_resolve_num_arch(arch ? arch : seccomp_arch_native(), nr);
	const struct syscall_rule *rule = NULL;
	const char *detail = "";

	for (size_t i = 0; name && !rule && i < ARRAY_SIZE(rules); i++)
		for (size_t j = 0; rules[i].syscalls[j]; j++)
			if (strcmp(rules[i].syscalls[j], name) == 0) {
				rule = &rules[i];
				break;
			}
	if (rule && rule->arg_kind == SYSCALL_ARG_DEVICE_MODE) {
		uint64_t mode = strcmp(name, "mknod") == 0 ? args[1] : args[2];
		detail =
		    (mode & S_IFMT) == S_IFBLK ? " of a block device" : " of a character device";
	} else if (rule && rule->arg_kind == SYSCALL_ARG_NEWUSER) {
		detail = " with CLONE_NEWUSER";
	} else if (rule && rule->arg_kind == SYSCALL_ARG_TTY_INJECT) {
		detail = (uint32_t)args[1] == TIOCSTI ? " TIOCSTI" : " TIOCLINUX";
	} else if (rule && rule->arg_kind == SYSCALL_ARG_PERSONALITY) {
		detail = " with a flag that weakens ASLR";
	}
	if (rule)
		snprintf(out, size, "%s(2)%s denied by seccomp rule \"%s\" (%s)", name, detail,
		         rule->name, rule->why);
	else
		snprintf(out, size, "system call %d%s%s denied by seccomp", nr, name ? " " : "",
		         name ? name : "");
	free(name);
}

int syscall_filter_serve_one(const struct confine_policy *p, int fd)
{
	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	char what[512], comm[64] = "?", path[64];
	int rc;

	if (seccomp_notify_alloc(&req, &resp) < 0)
		return -1;
	rc = seccomp_notify_receive(fd, req);
	if (rc < 0) {
		seccomp_notify_free(req, resp);
		/* the caller died meanwhile (ENOENT) or a signal interrupted us */
		return rc == -ENOENT || rc == -EINTR ? 0 : -1;
	}
	uint64_t args[6];
	for (int i = 0; i < 6; i++)
		args[i] = req->data.args[i];
	syscall_filter_describe(req->data.arch, req->data.nr, args, what, sizeof(what));
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)req->pid);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
	resp->id = req->id;
	resp->val = 0;
	resp->error = -EPERM;
	resp->flags = 0;
	if (p->devmode) {
		/* report, and let the call go ahead: the kernel runs it as if the
		 * filter had allowed it (its own checks still apply) */
		char *d = strstr(what, " denied by ");
		if (d)
			log_warn("%s: pid %d (%s): %.*s would be%s; allowed (devmode)", p->label,
			         (int)req->pid, comm, (int)(d - what), what, d);
		else
			log_warn("%s: pid %d (%s): %s; allowed (devmode)", p->label, (int)req->pid,
			         comm, what);
		resp->error = 0;
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else {
		log_warn("%s: pid %d (%s): %s", p->label, (int)req->pid, comm, what);
	}
	rc = seccomp_notify_respond(fd, resp);
	seccomp_notify_free(req, resp);
	return rc == 0 || rc == -ENOENT ? 0 : -1;
}
