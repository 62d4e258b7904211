/* main.c: ferry-tuf-client, the TUF client (lib/tuf/updater.h) behind the
 * command-line contract of TUF's conformance suite (tuf-conformance,
 * CLIENT-CLI.md):
 *
 *   ferry-tuf-client --metadata-dir DIR init ROOT_FILE
 *   ferry-tuf-client --metadata-url URL --metadata-dir DIR refresh
 *   ferry-tuf-client --metadata-url URL --metadata-dir DIR
 *       --target-name NAME [--target-name NAME...] --target-dir DIR
 *       --target-base-url URL download
 *
 * Exit status 0 on success and 1 on any failure (usage errors included).
 * Targets are stored in the target dir under their path percent-encoded into
 * one file name; one that is already there with the right length and hashes
 * is not downloaded again. -v / --verbose (repeatable) logs more. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "http/http.h"
#include "tuf/updater.h"

#define PROG "ferry-tuf-client"

/* Sanitizer builds (tests) must keep the contract's exit status too, and
 * run under faketime's LD_PRELOAD. ASAN_OPTIONS in the environment wins. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "exitcode=1:abort_on_error=0:verify_asan_link_order=0";
}
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "exitcode=1:abort_on_error=0:print_stacktrace=1";
}

struct args {
	const char *metadata_dir;
	const char *metadata_url;
	const char *target_dir;
	const char *target_base_url;
	const char **target_names;
	size_t ntargets;
	int verbose;
};

static int fail(const char *verb, const ferry_error *err)
{
	fprintf(stderr, PROG ": %s: %s\n", verb, ferry_error_msg(err));
	return 1;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: " PROG " --metadata-dir DIR init ROOT_FILE\n"
	             "       " PROG " --metadata-url URL --metadata-dir DIR refresh\n"
	             "       " PROG " --metadata-url URL --metadata-dir DIR --target-name NAME...\n"
	             "              --target-dir DIR --target-base-url URL download\n");
}

static int cmd_init(const struct args *a, const char *root_file)
{
	ferry_error err = {0};
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (fs_read_file(root_file, TUF_MAX_ROOT_LENGTH, &data, &len, &err) < 0 ||
	    tuf_updater_init(a->metadata_dir, data, len, &err) < 0)
		return fail("init", &err);
	log_info("trusting %s as the initial root in %s", root_file, a->metadata_dir);
	return 0;
}

static int make_updater(const struct args *a, struct tuf_updater **u, ferry_error *err)
{
	struct tuf_updater_config cfg = {
	    .metadata_dir = a->metadata_dir,
	    .metadata_url = a->metadata_url,
	    .target_base_url = a->target_base_url,
	};
	return tuf_updater_new(&cfg, u, err);
}

static int cmd_refresh(const struct args *a)
{
	ferry_error err = {0};
	_cleanup_updater_ struct tuf_updater *u = NULL;
	if (make_updater(a, &u, &err) < 0 || tuf_updater_refresh(u, &err) < 0)
		return fail("refresh", &err);
	return 0;
}

static int cmd_download(const struct args *a)
{
	ferry_error err = {0};
	_cleanup_updater_ struct tuf_updater *u = NULL;
	if (make_updater(a, &u, &err) < 0 || tuf_updater_refresh(u, &err) < 0)
		return fail("download", &err);
	for (size_t i = 0; i < a->ntargets; i++) {
		const char *name = a->target_names[i];
		const struct tuf_target *t = NULL;
		if (tuf_updater_find_target(u, name, &t, &err) < 0)
			return fail("download", &err);
		_cleanup_free_ char *file = http_quote(name, false);
		char dest[PATH_MAX];
		if (!file || strlen(file) > NAME_MAX ||
		    str_printf(dest, sizeof(dest), "%s/%s", a->target_dir, file) < 0) {
			ferry_error_set(&err, FERRY_E_LIMIT, "target %s: name too long to store",
			                name);
			return fail("download", &err);
		}
		if (tuf_target_file_matches(t, dest)) {
			log_info("%s: already downloaded", name);
			continue;
		}
		if (tuf_updater_download_target(u, t, dest, &err) < 0)
			return fail("download", &err);
		log_info("%s: downloaded to %s", name, dest);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"metadata-dir", required_argument, NULL, 'd'},
	    {"metadata-url", required_argument, NULL, 'u'},
	    {"target-name", required_argument, NULL, 'n'},
	    {"target-dir", required_argument, NULL, 't'},
	    {"target-base-url", required_argument, NULL, 'b'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct args a = {0};
	_cleanup_free_ const char **names = calloc((size_t)argc + 1, sizeof(char *));
	if (!names)
		return 1;
	a.target_names = names;
	int c;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			a.metadata_dir = optarg;
			break;
		case 'u':
			a.metadata_url = optarg;
			break;
		case 'n':
			names[a.ntargets++] = optarg;
			break;
		case 't':
			a.target_dir = optarg;
			break;
		case 'b':
			a.target_base_url = optarg;
			break;
		case 'v':
			a.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	log_setup(PROG,
	          a.verbose >= 2 ? LOG_LEVEL_DEBUG
	          : a.verbose    ? LOG_LEVEL_INFO
	                         : LOG_LEVEL_WARN,
	          NULL);
	const char *verb = optind < argc ? argv[optind] : NULL;
	if (!verb || !a.metadata_dir) {
		usage(stderr);
		return 1;
	}
	if (strcmp(verb, "init") == 0) {
		if (optind + 2 != argc) {
			usage(stderr);
			return 1;
		}
		return cmd_init(&a, argv[optind + 1]);
	}
	if (optind + 1 != argc || !a.metadata_url) {
		usage(stderr);
		return 1;
	}
	if (strcmp(verb, "refresh") == 0)
		return cmd_refresh(&a);
	if (strcmp(verb, "download") == 0) {
		if (a.ntargets == 0 || !a.target_dir || !a.target_base_url) {
			fprintf(stderr, PROG ": download needs --target-name, --target-dir and "
			                     "--target-base-url\n");
			return 1;
		}
		return cmd_download(&a);
	}
	fprintf(stderr, PROG ": unknown command %s\n", verb);
	usage(stderr);
	return 1;
}
