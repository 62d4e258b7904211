/* cmd_base.c: `ferry base build NAME --suite SUITE [--include PKG,...]
 * [-o FILE] [--compression zstd|xz|lz4]`: builds a base image, a Debian
 * minbase root file system of one suite, reproducibly (lib/pkg/rootfs).
 * The guide is docs/bases.md. It only parses options and prints the
 * result. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "cli.h"
#include "crypto/digest.h"
#include "pkg/manifest.h"
#include "pkg/rootfs.h"

#define BASE_PATH_MAX 4096
#define INCLUDE_MAX 256

static void base_usage(FILE *f)
{
	fprintf(f, "usage: ferry base build NAME --suite SUITE [--include PKG,...] [-o FILE]\n"
	           "                          [--compression zstd|xz|lz4]\n"
	           "  Build the base NAME (a package of type base) from the Debian suite\n"
	           "  SUITE (bookworm, trixie, ...) with mmdebstrap, from the mirror this\n"
	           "  machine's apt uses; by default NAME_VERSION_ARCH.ferry here.\n");
}

static void base_progress(const char *what, void *ctx)
{
	(void)ctx;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K%s", what);
}

static int base_build(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"suite", required_argument, NULL, 's'},  {"include", required_argument, NULL, 'i'},
	    {"output", required_argument, NULL, 'o'}, {"compression", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct rootfs_opts o = {.compression = IMAGE_ZSTD, .progress = base_progress};
	const char *out = NULL;
	char *include[INCLUDE_MAX];
	_cleanup_free_ char *inc_copy = NULL;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.suite = optarg;
			break;
		case 'i': {
			free(inc_copy);
			inc_copy = strdup(optarg);
			o.n_include = 0;
			char *save = NULL;
			for (char *t = inc_copy ? strtok_r(inc_copy, ",", &save) : NULL; t;
			     t = strtok_r(NULL, ",", &save)) {
				if (o.n_include == INCLUDE_MAX)
					return cli_fail("base build: --include: more than %d "
					                "packages",
					                INCLUDE_MAX);
				include[o.n_include++] = t;
			}
			o.include = include;
			break;
		}
		case 'o':
			out = optarg;
			break;
		case 'c': {
			int v = image_compression_parse(optarg);
			if (v < 0 || v == IMAGE_GZIP) {
				fprintf(stderr, "ferry: base build: --compression: expected zstd, "
				                "xz or lz4\n");
				return 2;
			}
			o.compression = (enum image_compression)v;
			break;
		}
		case 'h':
			base_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "ferry: base build: unknown option or missing value: %s\n",
			        argv[optind - 1]);
			base_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1 || !o.suite) {
		fprintf(stderr, "ferry: base build: %s\n",
		        argc - optind != 1 ? "which base? (ferry base build NAME --suite SUITE)"
		                           : "which Debian suite? (--suite bookworm)");
		base_usage(stderr);
		return 2;
	}
	o.name = argv[optind];

	char work[BASE_PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	if (str_printf(work, sizeof(work), "%s/ferry-base-XXXXXX", tmp && *tmp ? tmp : "/tmp") <
	        0 ||
	    !mkdtemp(work))
		return cli_fail("base build: cannot create a work folder in %s",
		                tmp && *tmp ? tmp : "/tmp");
	o.work_dir = work;
	o.out = out;

	ferry_error err = {0};
	struct rootfs_result res;
	int rc = rootfs_build(&o, &res, &err);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");
	ferry_error rerr = {0};
	if (fs_remove_tree(work, &rerr) < 0)
		log_warn("cannot remove %s: %s", work, ferry_error_msg(&rerr));
	if (rc < 0)
		return cli_fail("base build: %s", ferry_error_msg(&err));
	const char *out_path = res.path;

	struct crypto_file_digests dg;
	if (crypto_digest_file_all(out_path, &dg, &err) < 0)
		return cli_fail("base build: %s", ferry_error_msg(&err));
	printf("%s\n", out_path);
	printf("  version:  %s\n", res.version);
	printf("  packages: %zu\n", res.packages);
	printf("  archive:  SOURCE_DATE_EPOCH=%llu\n", (unsigned long long)res.epoch);
	printf("  size:     %llu bytes\n", (unsigned long long)dg.size);
	printf("  sha256:   %s\n", dg.sha256);
	return 0;
}

int cmd_base(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		base_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "build") == 0)
		return base_build(argc - 1, argv + 1);
	fprintf(stderr, "ferry: base: unknown verb \"%s\" (build)\n", argv[1]);
	return 2;
}
