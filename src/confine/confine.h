/* confine.h: ferry-confine's contract with its caller, and the modules that
 * build one sandbox.
 *
 * ferry-confine starts ONE app process inside its sandbox. It never reads the
 * manifest, the state database or any YAML: the agent (ferryd, root) resolves
 * the package's policy and passes it on the command line. ferry-confine checks
 * every option, builds the sandbox in a fixed order and execs the command.
 *
 *   ferry-confine --name PKG --app APP --revision R
 *                 --pkg-dir DIR --data DIR --common DIR
 *                 --uid U --gid G
 *                 [--plug IFACE]... [--memory SIZE] [--pids N] [--cpu PCT%]
 *                 [--devmode] [--env KEY=VALUE]...
 *                 [--notify-socket PATH] [--forking] [--config-file FILE]
 *                 [--ctl-socket PATH] [--ctl-tool FILE] [--state-dir DIR] [--run-dir DIR]
 * [--cgroup-parent PATH]
 *                 [--log-fd FD] [--status-fd FD] [--log-level LEVEL]
 *                 [--dry-run]
 *                 -- COMMAND [ARG]...
 *   ferry-confine --list-interfaces      the interface table, as Markdown
 *   ferry-confine --version
 *
 * The full reference (every option, the sandbox's file-system layout, exit
 * codes, the status line, unprivileged use) is docs/formats/confine.md;
 * docs/confinement.md explains the sandbox and how to read denials.
 *
 * Sandbox paths: /ferry/PKG/current (--pkg-dir, read-only), /ferry/PKG/data
 * (--data) and /ferry/PKG/common (--common), writable; private /tmp,
 * /var/tmp, /dev/shm; a minimal /dev; the sandbox's own /proc; the rest of
 * the host read-only; --state-dir (default /var/lib/ferry), --run-dir
 * (default /run/ferry, the agent's socket), /root, /home, /var/log hidden
 * unless an interface grants them.
 *
 * Exit status: the app's own; 128+N when the app was killed by signal N;
 * 0 when it asked for a reboot (shutdown interface); 2 when the command line
 * is refused; 125 when ferry-confine itself failed (one line on the log
 * saying why); 126 when COMMAND could not be executed, 127 when it does not
 * exist. --status-fd FD gets one unambiguous line: "exited N", "killed N",
 * "killed 9 oom", "reboot restart|poweroff", "failed STEP: MESSAGE".
 * --log-fd FD gets ferry-confine's own log lines (denials among them), and
 * only those: the app gets descriptors 0, 1 and 2 and no other (init closes
 * what it inherited, the app marks the rest close-on-exec), so it can write
 * neither to --log-fd nor to --status-fd.
 *
 * The agent's additions: --app hook.HOOK (a hook; FERRY_HOOK), revisions
 * xN (installed from a file), --notify-socket PATH (at /run/ferry-notify,
 * NOTIFY_SOCKET), --config-file FILE (at /run/ferry-config.json,
 * FERRY_CONFIG), --forking (the sandbox lives while processes remain after
 * the first exited 0; init sends READY=1 to the notify socket), --ctl-socket
 * PATH (the package's own socket to the agent, at /run/ferry-ctl.sock) and
 * --ctl-tool FILE (ferry-ctl, at /run/ferry-bin/ferry-ctl, on PATH).
 *
 * Not root: the same sandbox in a user namespace mapping only the caller's
 * uid and gid (development); no cgroup limits, no supplementary groups.
 *
 * Set-up order (least privilege by phase; see main.c):
 *   monitor (host PID namespace, root): check options, create the cgroup,
 *     clone the namespaces, drop every capability but CAP_KILL, build the
 *     seccomp filter
 *     (while init builds the mounts), wait and forward signals, remove the
 *     cgroup.
 *   init (PID 1 of the sandbox, root in it until it forks the app): close
 *     the descriptors it inherited (0 to 2 stay), join the cgroup, cgroup
 *     namespace, loopback up, build the mount namespace and pivot into it,
 *     fork the app, drop to the package's uid with nothing, not dumpable,
 *     reap children, forward signals, log seccomp denials.
 *   app (PID 2): capability bounding set, groups, gid, uid, capabilities
 *     (only what an interface grants, as ambient), no-new-privs, seccomp,
 *     Landlock, execve. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/error.h"

#define CONFINE_EXIT_SETUP 125
#define CONFINE_EXIT_NOEXEC 126
#define CONFINE_EXIT_NOTFOUND 127

#define CONFINE_MAX_PLUGS 32
#define CONFINE_MAX_ENV 64
#define CONFINE_MAX_GROUPS 8
#define CONFINE_MAX_MOUNTS 256
#define CONFINE_DEFAULT_STATE_DIR "/var/lib/ferry"
#define CONFINE_DEFAULT_RUN_DIR "/run/ferry"
#define CONFINE_DEFAULT_CGROUP_PARENT "ferry"

/* Inside the sandbox (docs/formats/confine.md, "Layout"). */
#define CONFINE_SANDBOX_TOP "/ferry"                    /* /ferry/PKG/{current,data,common} */
#define CONFINE_SANDBOX_NOTIFY "/run/ferry-notify"      /* --notify-socket */
#define CONFINE_SANDBOX_CONFIG "/run/ferry-config.json" /* --config-file */
#define CONFINE_SANDBOX_CTL "/run/ferry-ctl.sock"       /* --ctl-socket */
#define CONFINE_SANDBOX_BIN "/run/ferry-bin"            /* --ctl-tool's directory */

/* ---- interfaces.c: the single source of truth for what a plug grants ---- */

enum confine_access {
	ACCESS_RO = 1, /* read and execute */
	ACCESS_RW,     /* read, write, create, remove */
	ACCESS_DEV,    /* device node(s): open read-write, ioctl */
	ACCESS_DEV_RO, /* device node(s): open read-only, ioctl */
};

struct iface_path {
	const char *host;    /* path on the host; may end in a glob (/dev/ttyUSB*) */
	const char *sandbox; /* where it appears; NULL: the same path */
	enum confine_access access;
};

/* Seccomp rule groups that an interface may lift (seccomp.c). */
enum syscall_lift {
	LIFT_REBOOT = 1u << 0,
	LIFT_TIME = 1u << 1,
	LIFT_SYSLOG = 1u << 2,
};

enum iface_flag {
	IFACE_HOST_NET = 1u << 0,    /* share the host's network namespace */
	IFACE_TCP_BIND = 1u << 1,    /* Landlock does not restrict TCP bind */
	IFACE_TCP_CONNECT = 1u << 2, /* Landlock does not restrict TCP connect */
};

#define IFACE_MAX_PATHS 6

struct iface {
	const char *name;
	const char *summary;
	struct iface_path paths[IFACE_MAX_PATHS]; /* unused slots have host NULL */
	const char *groups[3]; /* supplementary groups by name, when they exist */
	unsigned lifts;        /* enum syscall_lift */
	int caps[2];           /* capabilities kept (ambient); -1 for none */
	unsigned flags;        /* enum iface_flag */
	const char *note;      /* anything else the docs must say, or NULL */
};

const struct iface *iface_find(const char *name);
/* All interfaces, in a fixed order; *n receives the count. */
const struct iface *iface_all(size_t *n);
/* Print the reference table (Markdown) that docs/interfaces.md carries. */
void iface_print_markdown(FILE *out);
const char *confine_access_name(enum confine_access a);
const char *confine_cap_name(int cap);

/* ---- the policy: everything the caller asked for, checked ---- */

struct confine_policy {
	const char *name; /* package */
	const char *app;
	const char *revision;      /* "7", or "x3" for a revision installed from a file */
	const char *hook;          /* --app hook.NAME: NAME, else NULL */
	const char *notify_socket; /* host path of the agent's notify socket, or NULL */
	const char *config_file;   /* host path of the package's configuration, or NULL */
	const char *ctl_socket;    /* host path of the package's socket to the agent, or NULL */
	const char *ctl_tool;      /* host path of ferry-ctl, or NULL */
	bool forking;              /* the sandbox lives while processes remain */
	const char *base_dir;      /* --base: the sandbox's root file system (a base's
	                            * tree), read-only; NULL: the host's */
	const char *pkg_dir;       /* host paths */
	const char *data_dir;
	const char *common_dir;
	const char *state_dir; /* hidden in the sandbox */
	const char *run_dir;   /* hidden in the sandbox */
	const char *cgroup_parent;
	uid_t uid;
	gid_t gid;
	const struct iface *plugs[CONFINE_MAX_PLUGS];
	size_t n_plugs;
	uint64_t memory_max;   /* bytes, 0: no limit */
	uint64_t pids_max;     /* 0: no limit */
	uint64_t cpu_quota_us; /* per 100 ms period, 0: no limit */
	bool devmode;
	bool dry_run;
	bool unprivileged; /* not root: user namespace (development) */
	int log_fd;
	int status_fd;                    /* -1: none */
	const char *env[CONFINE_MAX_ENV]; /* KEY=VALUE from --env */
	size_t n_env;
	char *const *argv; /* COMMAND ARG... (NULL-terminated) */

	/* derived from the plugs by policy_finish() */
	unsigned lifts;
	unsigned flags;
	uint64_t caps_keep; /* bit per capability */
	gid_t groups[CONFINE_MAX_GROUPS];
	size_t n_groups;
	char label[96];        /* "PKG.APP", for log lines */
	char sandbox_pkg[128]; /* /ferry/PKG */
};

/* Parse argv into p. Returns 0, or FERRY_E_INVALID with a message that names
 * the option; *done is set when the options asked only for output
 * (--version, --list-interfaces, --help). */
int policy_parse(struct confine_policy *p, int argc, char **argv, bool *done,
                 ferry_error *err) FERRY_WUR;
/* Derive lifts, flags, caps and groups from the plugs; check consistency. */
int policy_finish(struct confine_policy *p, ferry_error *err) FERRY_WUR;
/* "256M" -> bytes; "50%" -> quota per 100 ms period. */
int policy_parse_size(const char *s, uint64_t *out, ferry_error *err) FERRY_WUR;
int policy_parse_cpu(const char *s, uint64_t *quota_us, ferry_error *err) FERRY_WUR;

/* ---- mount.c ---- */

enum mnt_kind {
	MNT_BIND_RO,  /* recursive bind, read-only, nosuid, nodev */
	MNT_BIND_RW,  /* recursive bind, nosuid, nodev */
	MNT_BIND_DEV, /* device node or directory of nodes, nosuid, noexec */
	MNT_BIND_DEV_RO,
	MNT_TMPFS,   /* a new private tmpfs, nosuid, nodev */
	MNT_SAME,    /* bind of another sandbox path (src is a sandbox path) */
	MNT_HIDE,    /* an empty read-only tmpfs over dst, if dst exists */
	MNT_SYMLINK, /* dst -> src */
	MNT_DEVFS,   /* the minimal /dev: tmpfs, null zero full random urandom tty, pts */
	MNT_PROC,    /* a proc of the sandbox's PID namespace */
};

struct mnt_entry {
	enum mnt_kind kind;
	char *src;     /* host path (binds), link text (symlink) or NULL */
	char *dst;     /* sandbox path */
	bool optional; /* skipped when src does not exist on the host */
	bool writable; /* MNT_TMPFS: stays writable (else read-only once set up) */
	bool skipped;  /* set by mount_sandbox: optional and absent */
	bool is_dir;   /* set by mount_sandbox for binds */
	bool owned;    /* src must be a directory (not a symlink) owned by the app's uid */
};

struct mnt_plan {
	struct mnt_entry e[CONFINE_MAX_MOUNTS];
	size_t n;
};

/* Build the plan from the policy and the names found in the host's "/"
 * (toplevel: NULL-terminated; a name that is a symlink is given as
 * "NAME->TARGET"). Pure: touches nothing. */
int mount_plan_build(const struct confine_policy *p, char *const *toplevel, struct mnt_plan *plan,
                     ferry_error *err) FERRY_WUR;
void mount_plan_free(struct mnt_plan *plan);
void mount_plan_print(const struct mnt_plan *plan, FILE *out);
/* Read the top-level entries of root (the host's "/", or a base's tree) into
 * a toplevel list (free with mount_toplevel_free). */
int mount_toplevel_read(const char *root, char ***out, ferry_error *err) FERRY_WUR;
void mount_toplevel_free(char **list);
/* In the new mount namespace: carry out the plan, pivot into it. Globs in
 * the plan are replaced by what they matched; absent optional sources are
 * marked skipped (landlock.c then reads the plan). */
int mount_sandbox(const struct confine_policy *p, struct mnt_plan *plan,
                  ferry_error *err) FERRY_WUR;

/* ---- ns.c ---- */

/* Clone the sandbox's init. Returns its pid in the parent, 0 in the child. */
pid_t ns_clone(const struct confine_policy *p, ferry_error *err);
/* In the child: unprivileged mode maps our uid and gid into the user ns. */
int ns_write_id_maps(uid_t outer_uid, gid_t outer_gid, ferry_error *err) FERRY_WUR;
int ns_loopback_up(ferry_error *err) FERRY_WUR;
/* PID 1: reap, forward signals, serve the seccomp notification fd received
 * on notify_sock. Returns the app's wait status (--forking: once the app
 * exited 0, the status of the last process of the sandbox to end). */
int ns_init_loop(const struct confine_policy *p, pid_t app, int notify_sock);
/* The monitor: forward signals to init and collect the lines init and the
 * app write on report_fd into buf. Returns true once init has exited (*st is
 * its wait status), or false as soon as init reported the app's end ("exited
 * N", "killed N": by then every process of the app is gone) when
 * wait_for_init is false. */
bool ns_monitor_wait(pid_t init, int report_fd, bool wait_for_init, char *buf, size_t size,
                     int *st);
/* Signals the monitor and init forward. */
extern const int ns_forwarded_signals[];

/* ---- seccomp.c: the system-call filter. Its names start with syscall_filter_
 * (and syscall_rule, SYSCALL_ARG_): seccomp_ belongs to libseccomp. ---- */

struct syscall_rule {
	const char *name;         /* the rule's name in denial messages */
	const char *syscalls[12]; /* NULL-terminated */
	unsigned lifted_by;       /* enum syscall_lift, 0: never lifted */
	int arg_kind;             /* SYSCALL_ARG_*: which calls of it are denied */
	const char *why;
};
enum {
	SYSCALL_ARG_ANY = 0,
	SYSCALL_ARG_DEVICE_MODE, /* mknod/mknodat of a character or block device */
	SYSCALL_ARG_NEWUSER,     /* clone/unshare with CLONE_NEWUSER */
	SYSCALL_ARG_PERSONALITY, /* personality flags that weaken ASLR */
	SYSCALL_ARG_TTY_INJECT,  /* ioctl TIOCSTI, TIOCLINUX */
	SYSCALL_ARG_ENOSYS,      /* denied with ENOSYS (clone3: libc falls back) */
};

const struct syscall_rule *syscall_filter_rules(size_t *n);
/* Build the filter for the policy. notify: deny through a user notification
 * (init logs the denial) instead of plain EPERM. Returns a libseccomp
 * context (scmp_filter_ctx) in *ctx. */
int syscall_filter_build(const struct confine_policy *p, bool notify, void **ctx,
                         ferry_error *err) FERRY_WUR;
/* Use user notification for denials? (not in devmode; needs the kernel) */
bool syscall_filter_can_notify(const struct confine_policy *p);
/* Build the filter and write it to fd as classic BPF (the monitor). */
int syscall_filter_export(const struct confine_policy *p, bool notify, int fd,
                          ferry_error *err) FERRY_WUR;
/* Read a filter written by syscall_filter_export from fd and load it (the app,
 * after no-new-privs). *listener receives the notification fd when notify. */
int syscall_filter_load(int fd, bool notify, int *listener, ferry_error *err) FERRY_WUR;
void syscall_filter_release(void *ctx);
/* Describe a denied call for the log: which rule, which system call. */
void syscall_filter_describe(uint32_t arch, int nr, const uint64_t args[6], char *out, size_t size);
/* Serve one notification on fd: log and answer EPERM. <0: fd is gone. */
int syscall_filter_serve_one(const struct confine_policy *p, int fd);

/* ---- landlock.c ---- */

/* The Landlock ABI version of this kernel, 0 when it has none. */
int landlock_abi(void);
/* Restrict the calling process to the plan's file-system policy. Logs what
 * the kernel lacks. */
int landlock_apply(const struct confine_policy *p, const struct mnt_plan *plan,
                   ferry_error *err) FERRY_WUR;

/* ---- cgroup.c ---- */

struct cgroup_handle {
	int version;        /* 2, 1, or 0: none */
	char paths[4][512]; /* one per hierarchy used; "" when unused */
	size_t n;
};

/* Create the app's cgroup with its limits (monitor, before clone). */
int cgroup_create(const struct confine_policy *p, pid_t monitor_pid, struct cgroup_handle *cg,
                  ferry_error *err) FERRY_WUR;
/* Move the calling process into it (init, before the mount namespace). */
int cgroup_join(const struct cgroup_handle *cg, ferry_error *err) FERRY_WUR;
/* Did the kernel kill a process of it for lack of memory? */
bool cgroup_oom_killed(const struct cgroup_handle *cg);
/* Remove it once empty (monitor, after init exited). */
void cgroup_remove(const struct cgroup_handle *cg);

/* ---- caps.c ---- */

/* Drop to the package's uid/gid; keep only `keep` (ambient when non-zero);
 * set no-new-privs. */
int caps_drop_to(const struct confine_policy *p, uint64_t keep, ferry_error *err) FERRY_WUR;
/* Keep uid 0 and only `keep` (the monitor keeps CAP_KILL, to signal init,
 * which runs as the package's uid, and for init's parent-death signal). */
int caps_drop_all_keep_uid(uint64_t keep, ferry_error *err) FERRY_WUR;

/* run.c: the whole of ferry-confine (its main), for `ferry run` to call in
 * the process that would otherwise exec ferry-confine. Returns the exit
 * status (the contract's), or does not return. */
int confine_main(int argc, char **argv);
