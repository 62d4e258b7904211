/* caps.c: credentials. Drops to the package's uid and gid with only the
 * capabilities an interface grants (kept as ambient capabilities so that they
 * survive execve of an ordinary binary), empties the bounding set of every
 * other capability and sets no-new-privs.
 *
 * Uses the capget/capset system calls directly (no libcap). Does not decide
 * which capabilities are granted (interfaces.c does). */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "confine.h"

static int capset_sets(uint64_t perm, uint64_t inh, uint64_t eff)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {
	    {.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
	    {.effective = (uint32_t)(eff >> 32),
	     .permitted = (uint32_t)(perm >> 32),
	     .inheritable = (uint32_t)(inh >> 32)},
	};
	return (int)syscall(SYS_capset, &h, d);
}

static int drop_bounding(uint64_t keep, ferry_error *err)
{
	for (int cap = 0; cap < 64; cap++) {
		if (keep & (1ull << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			return ferry_error_errno(err, FERRY_E_IO, errno,
			                         "dropping capability %d from the bounding set",
			                         cap);
		}
	}
	return 0;
}

int caps_drop_to(const struct confine_policy *p, uint64_t keep, ferry_error *err)
{
	int r;

	if ((r = drop_bounding(keep, err)) < 0)
		return r;
	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "PR_SET_KEEPCAPS");
	/* In a user namespace (unprivileged mode) setgroups is denied by design. */
	if (!p->unprivileged && setgroups(p->n_groups, p->groups) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "setgroups");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "setresgid %u", (unsigned)p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "setresuid %u", (unsigned)p->uid);
	if (capset_sets(keep, keep, keep) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "capset");
	for (int cap = 0; cap < 64; cap++)
		if ((keep & (1ull << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno,
			                         "raising ambient capability %d", cap);
	if (keep)
		(void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "PR_SET_NO_NEW_PRIVS");
	/* Paranoia, as snap-confine does: getting root back must be impossible. */
	if (!p->unprivileged && (geteuid() == 0 || getegid() == 0 || setuid(0) == 0))
		return ferry_error_set(err, FERRY_E_INTERNAL,
		                       "still able to become root after dropping privileges");
	return 0;
}

int caps_drop_all_keep_uid(uint64_t keep, ferry_error *err)
{
	int r;

	if ((r = drop_bounding(keep, err)) < 0)
		return r;
	if (capset_sets(keep, 0, keep) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "PR_SET_NO_NEW_PRIVS");
	return 0;
}
