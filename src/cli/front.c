/* front.c: in `ferry` itself, the publisher verbs (init, pack, inspect, import and
 * those that talk to a store) run the program beside it, ferry-publish, with
 * the same arguments. ferry-publish links what they need (libsquashfs, the
 * compressors, libyaml, libcrypto); `ferry` does not, so the device verbs,
 * `ferry run` above all, start in well under a millisecond. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int publisher(void)
{
	char path[4200];
	if (cli_sibling("ferry-publish", NULL, path, sizeof(path)) < 0)
		return cli_fail("%s needs %s, which is not installed beside ferry",
		                cli_argv[1] ? cli_argv[1] : "this verb", path);
	execv(path, cli_argv);
	return cli_fail("cannot run %s: %s", path, strerror(errno));
}

#define PUBLISHER_VERB(fn)                                                                         \
	int fn(int argc, char **argv)                                                              \
	{                                                                                          \
		(void)argc;                                                                        \
		(void)argv;                                                                        \
		return publisher();                                                                \
	}

PUBLISHER_VERB(cmd_init)
PUBLISHER_VERB(cmd_pack)
PUBLISHER_VERB(cmd_base)
PUBLISHER_VERB(cmd_inspect)
PUBLISHER_VERB(cmd_import)
PUBLISHER_VERB(cmd_delta)
PUBLISHER_VERB(cmd_login)
PUBLISHER_VERB(cmd_logout)
PUBLISHER_VERB(cmd_whoami)
PUBLISHER_VERB(cmd_register)
PUBLISHER_VERB(cmd_collaborators)
PUBLISHER_VERB(cmd_push)
PUBLISHER_VERB(cmd_release)
PUBLISHER_VERB(cmd_promote)
PUBLISHER_VERB(cmd_close)
PUBLISHER_VERB(cmd_status)
PUBLISHER_VERB(cmd_revisions)
PUBLISHER_VERB(cmd_reports)
PUBLISHER_VERB(cmd_rollout)
PUBLISHER_VERB(cmd_devices)
PUBLISHER_VERB(cmd_vulns)
PUBLISHER_VERB(cmd_webhooks)
