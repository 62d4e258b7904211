/* delta_int.h: what the delta maker (delta_make.c), the parser
 * (delta_read.c) and the applier (delta_apply.c) share: the header layout,
 * varints and the interfaces the parser reads A through and writes B's tree
 * through. Not a public interface; the byte layout is documented in
 * docs/formats/delta.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define DELTA_MAGIC "FERRYDLT"
#define DELTA_VERSION 2     /* the version the maker writes */
#define DELTA_VERSION_MIN 1 /* the oldest version the parser reads */
#define DELTA_HEADER_SIZE 160
#define DELTA_DICT_SIZE (8u << 20) /* LZMA2 dictionary of a stream */
#define DELTA_MEMLIMIT (12u << 20) /* most memory a stream's decoder may take */
#define DELTA_NSTREAMS 5
#define DELTA_CHUNK (64u * 1024)   /* B's image is checked in chunks this large */
#define DELTA_MAX_UNITS (1u << 18) /* compressed blocks listed for B */

enum delta_stream { DELTA_ENTRIES = 0, DELTA_CTRL, DELTA_DIFF, DELTA_EXTRA, DELTA_IMAGE };

enum delta_type { DELTA_DIR = 1, DELTA_FILE = 2, DELTA_SYMLINK = 3 };
enum delta_source { DELTA_LITERAL = 0, DELTA_COPY = 1, DELTA_BSDIFF = 2 };

struct delta_header {
	uint32_t version;    /* DELTA_VERSION_MIN..DELTA_VERSION: how diff bytes add */
	uint8_t compression; /* enum image_compression of B */
	uint32_t mtime;      /* B's superblock modification time */
	uint64_t a_size;
	unsigned char a_sha256[32];
	uint64_t b_size;
	unsigned char b_sha256[32];
	uint32_t b_entries; /* entries of B, the root not counted */
	uint64_t b_bytes;   /* bytes of B's regular files */
	uint64_t len[DELTA_NSTREAMS];
};

/* Check the 160 header bytes of a delta file of file_size bytes. */
int delta_header_parse(const unsigned char *buf, uint64_t file_size, struct delta_header *h,
                       ferry_error *err) FERRY_WUR;
/* Encode h, with h->version (DELTA_VERSION_MIN..DELTA_VERSION). */
void delta_header_encode(const struct delta_header *h, unsigned char *buf);

/* The add of a diff record (docs/formats/delta.md), the one rule the maker
 * and the parser share: out = old + diff over n bytes of an add run whose
 * first byte lies at offset pos of the new file. Version 1 adds byte by
 * byte (mod 256). Version 2 adds 32-bit little-endian words (mod 2^32) at
 * the new file's offsets that are multiples of 4, where the whole word lies
 * in the run, and the bytes before the first such word and after the last
 * (0 to 3 each) byte by byte. A run may be given in pieces only if every
 * piece but the last ends at a new-file offset that is a multiple of 4.
 * out may be diff. delta_sub is its inverse: diff = new - old. */
void delta_add(uint32_t version, uint64_t pos, unsigned char *out, const unsigned char *old,
               const unsigned char *diff, size_t n);
void delta_sub(uint32_t version, uint64_t pos, unsigned char *diff, const unsigned char *nw,
               const unsigned char *old, size_t n);

/* LEB128: 7 bits a byte, least significant first; at most 10 bytes. Returns
 * the bytes written into out (room for 10). */
size_t delta_varint_put(uint64_t v, unsigned char *out);
static inline uint64_t delta_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t delta_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* A's files, in image_walk order of its regular files. */
struct delta_base {
	size_t nfiles;
	uint64_t (*size)(void *ctx, size_t idx);
	/* read exactly n bytes at off (the parser has checked the range) */
	int (*read)(void *ctx, size_t idx, uint64_t off, void *buf, size_t n, ferry_error *err);
	void *ctx;
};

/* Where the parser puts B's tree. Paths are checked (relative, components of
 * 1..255 bytes, not "." or "..", at most 4095 bytes) before they are given. */
struct delta_sink {
	int (*dir)(void *ctx, const char *path, ferry_error *err);
	int (*symlink)(void *ctx, const char *path, const char *target, ferry_error *err);
	/* a file whose content is A's file idx (same size, checked) */
	int (*copy)(void *ctx, const char *path, bool exec, size_t idx, ferry_error *err);
	/* a file written in pieces: begin, write..., end */
	int (*begin)(void *ctx, const char *path, bool exec, uint64_t size, ferry_error *err);
	int (*write)(void *ctx, const void *data, size_t n, ferry_error *err);
	int (*end)(void *ctx, ferry_error *err);
	void *ctx;
};

/* Parse the delta open at fd (header already checked into h), reading A
 * through base and building B through sink, checking every bound on the
 * way; then check that every stream is consumed exactly. */
int delta_read(int fd, const char *name, const struct delta_header *h,
               const struct delta_base *base, const struct delta_sink *sink,
               ferry_error *err) FERRY_WUR;

/* The image stream: what B's image looks like, to keep its layout when this
 * machine's compressor gives other bytes, and to find the chunks to fetch. */
struct delta_unit {
	unsigned char key[8]; /* SHA-256 of the uncompressed block, first 8 bytes */
	uint32_t in_size;     /* uncompressed bytes */
	uint32_t out_size;    /* bytes B stores, 0 when stored uncompressed */
};

struct delta_table {
	uint64_t nchunks;
	unsigned char (*chunks)[8]; /* SHA-256 of each chunk of B, first 8 bytes */
	size_t nunits;
	struct delta_unit *units; /* sorted by key, then in_size */
};

int delta_read_table(int fd, const char *name, const struct delta_header *h, struct delta_table *t,
                     ferry_error *err) FERRY_WUR;
void delta_table_free(struct delta_table *t);
int delta_unit_cmp(const struct delta_unit *x, const struct delta_unit *y);
const struct delta_unit *delta_table_find(const struct delta_table *t,
                                          const struct delta_unit *key);
/* first 8 bytes of the SHA-256 of n bytes */
void delta_key(const void *data, size_t n, unsigned char key[8]);

/* The size and SHA-256 of the file at path. */
int delta_file_sha256(const char *path, uint64_t *size, unsigned char sha[32],
                      ferry_error *err) FERRY_WUR;
