/* seccomp-export.c: writes ferry-confine's seccomp filter for an app with no
 * plugs, as classic BPF (what `bwrap --seccomp FD` loads), to standard
 * output. The rules are ferry-confine's own (seccomp.c), with EPERM instead
 * of user notification. Used by bench/confine to give bubblewrap the same
 * filter. Test-only; never installed. */
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "confine.h"

int main(int argc, char **argv)
{
	struct confine_policy p;
	ferry_error err = {0};
	void *ctx = NULL;

	memset(&p, 0, sizeof(p));
	(void)argc;
	(void)argv;
	if (syscall_filter_build(&p, false, &ctx, &err) < 0) {
		fprintf(stderr, "seccomp-export: %s\n", ferry_error_msg(&err));
		return 1;
	}
	int rc = seccomp_export_bpf((scmp_filter_ctx)ctx, STDOUT_FILENO);
	syscall_filter_release(ctx);
	return rc < 0 ? 1 : 0;
}
