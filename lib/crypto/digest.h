/* digest.h: the hash functions TUF metadata names (sha256, sha512), one-shot
 * and streaming, of memory and of files, on OpenSSL 3's EVP interface; and
 * SHA-1, only to derive name-based (version 5) UUIDs, never to check
 * integrity.
 *
 * A digest context hashes any number of chunks (a file as it downloads) and
 * gives the raw digest at the end; crypto_digest_equal_hex compares that with
 * the lower- or upper-case hex string a metadata file carries, in constant
 * time. Files are read in 64 KiB chunks and their size is not bounded here;
 * callers that need a bound check it. This module knows nothing about JSON or
 * TUF roles. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum crypto_hash_alg {
	CRYPTO_HASH_SHA256 = 0,
	CRYPTO_HASH_SHA512 = 1,
	/* Not one TUF may name: crypto_hash_alg_from_name never returns it. */
	CRYPTO_HASH_SHA1 = 2,
};
/* The algorithms TUF metadata may name are the first CRYPTO_HASH_ALG_COUNT. */
#define CRYPTO_HASH_ALG_COUNT 2

/* Largest digest in bytes (sha512) and its hex form with the NUL. */
#define CRYPTO_DIGEST_MAX 64
#define CRYPTO_DIGEST_HEX_MAX (2 * CRYPTO_DIGEST_MAX + 1)

/* "sha256" / "sha512" -> alg. Returns 0, or FERRY_E_UNSUPPORTED for any other
 * name (no error record: the caller names the context). */
int crypto_hash_alg_from_name(const char *name, enum crypto_hash_alg *out) FERRY_WUR;
/* "sha256" / "sha512" / "sha1". */
const char *crypto_hash_alg_name(enum crypto_hash_alg alg);
/* 32 / 64 / 20, or 0 for an unknown algorithm. */
size_t crypto_hash_alg_size(enum crypto_hash_alg alg);

struct crypto_digest;

int crypto_digest_new(enum crypto_hash_alg alg, struct crypto_digest **out,
                      ferry_error *err) FERRY_WUR;
int crypto_digest_update(struct crypto_digest *d, const void *data, size_t len,
                         ferry_error *err) FERRY_WUR;
/* Write the digest (crypto_hash_alg_size bytes) into out; the context can then
 * only be freed. */
int crypto_digest_final(struct crypto_digest *d, unsigned char out[CRYPTO_DIGEST_MAX],
                        ferry_error *err) FERRY_WUR;
void crypto_digest_free(struct crypto_digest *d);

static inline void crypto_digest_freep(struct crypto_digest **d)
{
	if (*d)
		crypto_digest_free(*d);
}
#define _cleanup_digest_ __attribute__((cleanup(crypto_digest_freep)))

/* One shot: digest of len bytes into out. */
int crypto_digest_buf(enum crypto_hash_alg alg, const void *data, size_t len,
                      unsigned char out[CRYPTO_DIGEST_MAX], ferry_error *err) FERRY_WUR;
/* One shot, lower-case hex into hex, which has room for
 * 2 * crypto_hash_alg_size(alg) + 1 bytes (CRYPTO_DIGEST_HEX_MAX always fits). */
int crypto_digest_hex(enum crypto_hash_alg alg, const void *data, size_t len, char *hex,
                      ferry_error *err) FERRY_WUR;
/* Digest of the whole file at path, read in chunks. */
int crypto_digest_file(enum crypto_hash_alg alg, const char *path,
                       unsigned char out[CRYPTO_DIGEST_MAX], ferry_error *err) FERRY_WUR;

/* The size, SHA-256 and SHA-512 (lower-case hex) of one file, read once. */
struct crypto_file_digests {
	uint64_t size;
	char sha256[2 * 32 + 1];
	char sha512[2 * 64 + 1];
};
int crypto_digest_file_all(const char *path, struct crypto_file_digests *out,
                           ferry_error *err) FERRY_WUR;

/* Does hex (either case, exactly 2*size digits) spell digest? Constant time
 * in the digest bytes. */
bool crypto_digest_equal_hex(const unsigned char *digest, size_t size, const char *hex);

/* Decode hex (either case) into out; returns the byte count, or -1 when hex
 * has odd length, a non-hex digit, or needs more than max bytes. */
long crypto_hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t max);
