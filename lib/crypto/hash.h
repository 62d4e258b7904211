/* hash.h: message digests (SHA-256, SHA-512) of memory and of files through
 * OpenSSL's EVP interface, as raw bytes or lower-case hex.
 *
 * It does not sign, verify signatures or compare digests in constant time;
 * those belong to the signature module. SHA-1 is here only to derive
 * name-based (version 5) UUIDs, never to check integrity. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum hash_algo { HASH_SHA256 = 0, HASH_SHA512, HASH_SHA1 };

#define HASH_MAX_LEN 64                   /* bytes of the largest digest */
#define HASH_SHA256_HEX_SIZE (2 * 32 + 1) /* hex digits and the NUL */
#define HASH_SHA512_HEX_SIZE (2 * 64 + 1)

/* Digest length in bytes (20, 32 or 64), or 0 for an unknown algorithm. */
size_t hash_len(enum hash_algo algo);
/* "sha256", "sha512", "sha1" */
const char *hash_name(enum hash_algo algo);

/* Digest of len bytes at data into out (hash_len(algo) bytes). */
int hash_memory(enum hash_algo algo, const void *data, size_t len, unsigned char *out) FERRY_WUR;

/* Same, as lower-case hex into hex (2 * hash_len(algo) + 1 bytes). */
int hash_memory_hex(enum hash_algo algo, const void *data, size_t len, char *hex,
                    size_t hex_size) FERRY_WUR;

/* Lower-case hex digest of the file at path. */
int hash_file_hex(enum hash_algo algo, const char *path, char *hex, size_t hex_size,
                  ferry_error *err) FERRY_WUR;

/* The SHA-256 and SHA-512 of one file, read once, with its size. */
struct hash_file_digests {
	uint64_t size;
	char sha256[HASH_SHA256_HEX_SIZE];
	char sha512[HASH_SHA512_HEX_SIZE];
};
int hash_file_digests(const char *path, struct hash_file_digests *out, ferry_error *err) FERRY_WUR;
