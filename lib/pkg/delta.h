/* delta.h: delta updates between two package images.
 *
 * A delta turns revision A's image into revision B's. It is computed on the
 * content, not on the compressed bytes: every file of B is a copy of a file
 * of A, a binary diff against one (bsdiff-style: a suffix array of the old
 * file, "add" bytes that absorb shifted pointers, "extra" bytes that are
 * new), or a literal; names, types, the execute bit and symlink targets are
 * listed in B's order. Applying rebuilds B's tree and writes it with the
 * deterministic image writer, then checks the result's size and SHA-256
 * against those the delta names for B (which the caller has from signed
 * metadata): only a byte-exact B is ever put in place.
 *
 * The format is in docs/formats/delta.md. Applying is bounded: the delta's
 * xz streams decompress in at most 12 MiB each, files are
 * rebuilt in 64 KiB pieces read from A's extracted tree, every offset into
 * A is checked against the A file's size, every size against the header's
 * totals, and nothing is written outside a work directory beside the output
 * and the output itself. It needs disk space for A's and B's trees.
 *
 * It does not fetch anything, verify signatures, or decide whether a delta
 * is worth using: callers verify the delta file against signed metadata
 * before calling delta_apply. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct delta_stats {
	uint64_t delta_size;               /* bytes of the delta file */
	uint64_t a_size;                   /* bytes of A's image */
	uint64_t b_size;                   /* bytes of B's image */
	uint64_t copied;                   /* files of B copied from A */
	uint64_t diffed;                   /* files of B diffed against a file of A */
	uint64_t literal;                  /* files of B stored whole */
	uint64_t recompressed_differently; /* blocks this machine compressed otherwise */
	uint64_t fetched;                  /* bytes of B's image fetched (opts->fetch) */
};

/* Fetch len bytes of B's image at off into buf (an HTTP Range request). */
typedef int (*delta_fetch_fn)(void *ctx, uint64_t off, size_t len, void *buf, ferry_error *err);

struct delta_apply_opts {
	delta_fetch_fn fetch; /* NULL: a block that recompresses otherwise fails */
	void *fetch_ctx;
};

/* Compute the delta from image a_path to image b_path and write it to
 * out_path (atomically). It checks that B rebuilds byte for byte here from
 * its own content (same writer, same compressor library) and refuses with
 * FERRY_E_UNSUPPORTED when it does not: such a delta could never apply.
 * stats may be NULL. */
int delta_make(const char *a_path, const char *b_path, const char *out_path,
               struct delta_stats *stats, ferry_error *err) FERRY_WUR;

/* Rebuild B from image a_path and the delta at delta_path into out_path
 * (atomically, mode 0644). Where this machine's compressor gives a block
 * other bytes than B holds, the block keeps B's size (so B's layout stays)
 * and the 64 KiB chunks of B that differ are fetched through opts->fetch.
 * Fails with FERRY_E_VERIFY when A is not the image the delta was made from
 * (size or SHA-256) or when the rebuilt image is not B; FERRY_E_CORRUPT or
 * FERRY_E_LIMIT for a damaged or hostile delta. On any failure out_path is
 * left as it was and the work directory is removed. opts and stats may be
 * NULL. */
int delta_apply(const char *a_path, const char *delta_path, const char *out_path,
                const struct delta_apply_opts *opts, struct delta_stats *stats,
                ferry_error *err) FERRY_WUR;

/* What a delta file says of itself, after checking its header (not its
 * streams): the images it goes between. */
struct delta_info {
	uint64_t a_size;
	unsigned char a_sha256[32];
	uint64_t b_size;
	unsigned char b_sha256[32];
	uint64_t delta_size;
};
int delta_read_info(const char *delta_path, struct delta_info *info, ferry_error *err) FERRY_WUR;

/* The TUF target name of the delta of package from revision from to
 * revision to: "NAME_FROM-TO.delta" (the store publishes it, ferryd asks
 * for it). Returns -1 when it does not fit. */
int delta_target_name(const char *package, long long from, long long to, char *out, size_t size);
