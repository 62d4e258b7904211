/* pack_image.c: a small driver of the package image writer and reader for
 * benchmarks and manual checks; not installed. `ferry pack` is the user's
 * command, this only exercises lib/pkg/image.
 *
 *   pack-image [-c zstd|xz|lz4|gzip] [-t THREADS] [-m MTIME] DIR OUT
 *   pack-image -l IMAGE          list the entries of IMAGE
 *   pack-image -x IMAGE DEST     extract IMAGE into DEST */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "pkg/image.h"

static int list_entry(const struct image_entry *e, void *ctx)
{
	(void)ctx;
	printf("%06o %10" PRIu64 " /%s%s%s\n", (unsigned)e->mode, e->size, e->path,
	       e->target ? " -> " : "", e->target ? e->target : "");
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: pack-image [-c zstd|xz|lz4|gzip] [-t THREADS] [-m MTIME] DIR OUT\n"
	                "       pack-image -l IMAGE\n"
	                "       pack-image -x IMAGE DEST\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct image_write_opts opts = {.compression = IMAGE_ZSTD};
	ferry_error err = {0};
	unsigned long long v;
	char mode = 'w';
	int c;

	if (image_mtime_from_env(&opts.mtime, &err) < 0) {
		fprintf(stderr, "pack-image: %s\n", ferry_error_msg(&err));
		return 1;
	}
	while ((c = getopt(argc, argv, "c:t:m:lx")) != -1) {
		switch (c) {
		case 'c':
			if (image_compression_parse(optarg) < 0)
				return usage();
			opts.compression = (enum image_compression)image_compression_parse(optarg);
			break;
		case 't':
			if (str_to_u64(optarg, 64, &v) < 0)
				return usage();
			opts.threads = (unsigned)v;
			break;
		case 'm':
			if (str_to_u64(optarg, UINT32_MAX, &v) < 0)
				return usage();
			opts.mtime = (uint32_t)v;
			break;
		case 'l':
		case 'x':
			mode = (char)c;
			break;
		default:
			return usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (mode == 'w') {
		if (argc != 2)
			return usage();
		if (image_write(argv[0], argv[1], &opts, &err) < 0) {
			fprintf(stderr, "pack-image: %s\n", ferry_error_msg(&err));
			return 1;
		}
		return 0;
	}
	if (argc != (mode == 'l' ? 1 : 2))
		return usage();
	struct image *img = NULL;
	int rc = image_open(argv[0], &img, &err);
	if (rc == 0)
		rc = mode == 'l' ? image_walk(img, list_entry, NULL, &err)
		                 : image_extract(img, argv[1], &err);
	image_close(img);
	if (rc < 0) {
		fprintf(stderr, "pack-image: %s\n", ferry_error_msg(&err));
		return 1;
	}
	return 0;
}
