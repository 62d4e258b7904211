/* cmd_delta.c: `ferry delta make A B -o D` and `ferry delta apply A D -o B`:
 * compute a delta between two package images, or rebuild the new image from
 * the old one and a delta (lib/pkg/delta.h). For publishers who host their
 * own images and for benchmarks; devices apply deltas through ferryd. It
 * prints what the delta holds and, on apply, that the result is the image
 * the delta names (size and SHA-256). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "http/http.h"
#include "pkg/delta.h"

static void delta_usage(FILE *f)
{
	fprintf(f, "usage: ferry delta make OLD.ferry NEW.ferry -o DELTA\n"
	           "       ferry delta apply OLD.ferry DELTA -o NEW.ferry [--fetch URL]\n"
	           "  make: the delta from OLD to NEW, computed on their content; it is checked\n"
	           "  to rebuild NEW byte for byte here.\n"
	           "  apply: rebuild NEW from OLD and DELTA; NEW is written only when its size\n"
	           "  and SHA-256 are those DELTA names. Blocks that this machine compresses\n"
	           "  otherwise are fetched from NEW's image at URL with Range requests.\n");
}

struct range_src {
	struct http_client *http;
	const char *url;
};

static int fetch_range(void *ctx, uint64_t off, size_t len, void *out, ferry_error *err)
{
	struct range_src *r = ctx;
	return http_get_range(r->http, r->url, off, len, out, err);
}

int cmd_delta(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"fetch", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL, *url = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'f')
			url = optarg;
		else if (c == 'h') {
			delta_usage(stdout);
			return 0;
		} else {
			delta_usage(stderr);
			return 2;
		}
	}
	/* options may also follow the operands */
	char *ops[3];
	int nops = 0;
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			out = argv[++i];
			continue;
		}
		if (strcmp(argv[i], "--fetch") == 0 && i + 1 < argc) {
			url = argv[++i];
			continue;
		}
		if (nops == 3) {
			delta_usage(stderr);
			return 2;
		}
		ops[nops++] = argv[i];
	}
	if (nops != 3 || !out) {
		delta_usage(stderr);
		return 2;
	}
	ferry_error err = {0};
	struct delta_stats st;
	if (strcmp(ops[0], "make") == 0) {
		if (delta_make(ops[1], ops[2], out, &st, &err) < 0)
			return cli_fail("delta make: %s", ferry_error_msg(&err));
		printf("%s: %" PRIu64 " bytes (%.1f%% of %" PRIu64 "); files: %" PRIu64
		       " copied, %" PRIu64 " diffed, %" PRIu64 " new\n",
		       out, st.delta_size,
		       st.b_size ? 100.0 * (double)st.delta_size / (double)st.b_size : 0, st.b_size,
		       st.copied, st.diffed, st.literal);
		return 0;
	}
	if (strcmp(ops[0], "apply") == 0) {
		struct range_src src = {.url = url};
		struct delta_apply_opts o = {.fetch = url ? fetch_range : NULL, .fetch_ctx = &src};
		if (url && http_client_new(NULL, &src.http, &err) < 0)
			return cli_fail("delta apply: %s", ferry_error_msg(&err));
		int rc = delta_apply(ops[1], ops[2], out, &o, &st, &err);
		if (src.http)
			http_client_free(src.http);
		if (rc < 0)
			return cli_fail("delta apply: %s", ferry_error_msg(&err));
		printf("%s: %" PRIu64 " bytes, verified; %" PRIu64
		       " blocks recompressed otherwise, %" PRIu64 " bytes fetched\n",
		       out, st.b_size, st.recompressed_differently, st.fetched);
		return 0;
	}
	delta_usage(stderr);
	return 2;
}
