/* main.c: the `ferry` command: dispatches to one cmd_*() per verb. Verbs are
 * added here as they are implemented; an unknown verb prints usage, exit 2;
 * VERB --help prints the verb's usage to stdout, exit 0. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/str.h"
#include "cli.h"

char **cli_argv;

/* The file `name` beside the running program (/proc/self/exe), or in
 * ../SUBDIR/ when running from the build tree. */
int cli_sibling(const char *name, const char *subdir, char *out, size_t size)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	if (snprintf(out, size, "%s/%s", self, name) < (int)size && access(out, X_OK) == 0)
		return 0;
	if (subdir && snprintf(out, size, "%s/../%s/%s", self, subdir, name) < (int)size &&
	    access(out, X_OK) == 0)
		return 0;
	snprintf(out, size, "%s/%s", self, name);
	return -1;
}

static const struct cli_verb verbs[] = {
    {"init", cmd_init, "[DIR]",
     "write a commented meta/ferry.yaml in DIR (default: .) unless one exists"},
    {"pack", cmd_pack, "DIR [-o FILE] [--compression zstd|xz|lz4] [--deb-cache DIR] [--base FILE]",
     "pack DIR into a NAME_VERSION_ARCH.ferry image"},
    {"base", cmd_base, "build NAME --suite SUITE [--include PKG,...] [-o FILE]",
     "build a base (a Debian minbase root file system) from the archive"},
    {"inspect", cmd_inspect, "FILE [--json] [--files]", "show what a .ferry image holds"},
    {"import", cmd_import, "FILE.snap [-o DIR] [--base-map SNAPBASE=BASE[,...]] [--json]",
     "turn a .snap into a package directory (meta/ferry.yaml from meta/snap.yaml)"},
    {"delta", cmd_delta, "make OLD NEW -o DELTA | apply OLD DELTA -o NEW",
     "compute a delta between two images, or rebuild the new one from it"},
    {"login", cmd_login, "--store URL [--token-file FILE] [--insecure]",
     "save a store token (read from standard input) for the publisher verbs"},
    {"logout", cmd_logout, "", "forget the saved store token"},
    {"whoami", cmd_whoami, "[--json]", "the store and account the publisher verbs use"},
    {"register", cmd_register, "NAME", "reserve a package name for your account"},
    {"collaborators", cmd_collaborators, "add|remove NAME ACCOUNT | list NAME",
     "let another account push and release a package"},
    {"push", cmd_push, "FILE [--release CHANNEL[,CHANNEL...]] [--json]",
     "upload a package image to the store"},
    {"release", cmd_release,
     "NAME REVISION CHANNEL... [--progressive PCT | --stages 1,10,50,100 [--stage-wait 6h] "
     "[--stage-min-ok 1]] [--halt-failures N] [--halt-ratio PCT] [--no-halt] [--json]",
     "release a revision to channels"},
    {"promote", cmd_promote, "NAME --from CHANNEL --to CHANNEL [--json]",
     "release what one channel holds to another"},
    {"close", cmd_close, "NAME CHANNEL... [--json]",
     "close channels (they follow the next more stable risk)"},
    {"status", cmd_status, "NAME [--json]", "the channel map of a package"},
    {"revisions", cmd_revisions, "NAME [--json]", "the revisions of a package"},
    {"rollout", cmd_rollout, "[pause|resume|stop] NAME [CHANNEL] [--json]",
     "a staged rollout: its stage, devices and why it waits; or pause, resume, stop it"},
    {"devices", cmd_devices, "[NAME] [--not-seen DAYS] [--json]",
     "devices running your packages: weekly active by revision, channel, arch"},
    {"reports", cmd_reports, "NAME [--json] [--device ID] [--revision R] [-n N]",
     "what devices reported of their refreshes of a package"},
    {"vulns", cmd_vulns, "NAME [--json]",
     "known vulnerabilities in the released revisions of a package"},
    {"webhooks", cmd_webhooks, "NAME [--json] | add NAME URL --secret-file FILE | remove NAME ID",
     "webhooks that receive vulnerability notices (NAME: a package or @ACCOUNT)"},
    {"install", cmd_install, "NAME [--channel CH] [--devmode] | FILE [--dangerous] [--devmode]",
     "install a package from the store or a file"},
    {"try", cmd_try, "DIR [--devmode]",
     "run an unpacked package directory on this device, as it is (for development)"},
    {"remove", cmd_remove, "NAME... [--purge]", "remove packages (--purge: and their data)"},
    {"refresh", cmd_refresh,
     "[NAME...] [--channel CH] [--devmode] | --list [NAME...] [--json] | --time",
     "refresh packages now, list what is available, or show the schedule"},
    {"revert", cmd_revert, "NAME [--revision REV]",
     "go back to an earlier revision on this device"},
    {"list", cmd_list, "[--all] [--json]", "list installed packages"},
    {"info", cmd_info, "NAME [--json]", "show an installed package"},
    {"hold", cmd_hold, "[NAME...] --for DURATION | --forever", "hold automatic refreshes"},
    {"unhold", cmd_unhold, "[NAME...]", "let automatic refreshes happen again"},
    {"changes", cmd_changes, "[NAME] [-n N] [--json]", "list recent changes"},
    {"change", cmd_change, "ID [--json]", "show the steps of one change"},
    {"logs", cmd_logs, "NAME[.APP] [-f] [-n N] [--since TIME]",
     "show the output of services and hooks, with the time of each line"},
    {"services", cmd_services, "[NAME...] [--json]", "list services and their state"},
    {"start", cmd_start, "NAME[.APP]...", "start services"},
    {"stop", cmd_stop, "NAME[.APP]...", "stop services"},
    {"restart", cmd_restart, "NAME[.APP]...", "restart services"},
    {"set", cmd_set, "NAME KEY=VALUE...", "configure a package (runs its configure hook)"},
    {"get", cmd_get, "NAME [KEY] [--json]", "show a package's configuration"},
    {"run", cmd_run, "NAME[.APP] [ARGS...]", "run an app of an installed package, confined"},
    {"connect", cmd_connect, "NAME:PLUG", "connect a plug (effective at the app's next start)"},
    {"disconnect", cmd_disconnect, "NAME:PLUG", "disconnect a plug (effective at the next start)"},
    {"connections", cmd_connections, "[NAME] [--json]",
     "list plugs and whether they are connected"},
    {NULL, NULL, NULL, NULL},
};

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	fputs("ferry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static void usage_all(FILE *out)
{
	fprintf(out, "usage: ferry [--verbose] VERB [ARGS...]\n\nverbs:\n");
	for (size_t i = 0; verbs[i].name; i++)
		fprintf(out, "  %-12s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(out, "\nferry VERB --help shows the arguments of one verb.\n");
}

static int usage_verb(const char *verb, FILE *out, int status)
{
	for (size_t i = 0; verbs[i].name; i++)
		if (strcmp(verbs[i].name, verb) == 0) {
			fprintf(out, "usage: ferry %s %s\n  %s\n", verbs[i].name, verbs[i].usage,
			        verbs[i].summary);
			return status;
		}
	usage_all(out);
	return status;
}

int cli_usage(const char *verb)
{
	return usage_verb(verb, stderr, 2);
}

int cli_help(const char *verb)
{
	return usage_verb(verb, stdout, 0);
}

bool cli_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int main(int argc, char **argv)
{
	enum log_level level = LOG_LEVEL_WARN;
	int i = 1;

	log_setup("ferry", level, NULL);
	cli_argv = argv;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
			log_set_level(LOG_LEVEL_DEBUG);
		} else if (cli_is_help(argv[i])) {
			usage_all(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("ferry %s\n", FERRY_VERSION);
			return 0;
		} else {
			fprintf(stderr, "ferry: unknown option %s\n", argv[i]);
			usage_all(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage_all(stderr);
		return 2;
	}
	const char *verb = argv[i];
	/* VERB --help is the same for every verb, whatever its own parser does
	 * (`ferry run NAME --help` still passes --help to the app) */
	for (size_t k = 0; verbs[k].name; k++)
		if (strcmp(verbs[k].name, verb) == 0)
			return i + 1 < argc && cli_is_help(argv[i + 1])
			           ? cli_help(verb)
			           : verbs[k].run(argc - i, argv + i);

	const char *names[64];
	size_t n = 0;
	for (size_t k = 0; verbs[k].name && n + 1 < sizeof(names) / sizeof(names[0]); k++)
		names[n++] = verbs[k].name;
	names[n] = NULL;
	const char *near = str_did_you_mean(verb, names);
	if (near)
		fprintf(stderr, "ferry: unknown verb \"%s\"; did you mean \"%s\"?\n", verb, near);
	else
		fprintf(stderr, "ferry: unknown verb \"%s\"\n", verb);
	usage_all(stderr);
	return 2;
}
