/* hash.c: SHA-256/SHA-512 (and SHA-1 for UUIDs) of memory and files with
 * OpenSSL EVP. Files are read in 64 KiB chunks through one descriptor, so
 * their size is not bounded here; callers that need a bound check it. */
#include "crypto/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/cleanup.h"
#include "base/str.h"

DEFINE_CLEANUP(EVP_MD_CTX *, EVP_MD_CTX_free)

static const EVP_MD *hash_md(enum hash_algo algo)
{
	switch (algo) {
	case HASH_SHA256:
		return EVP_sha256();
	case HASH_SHA512:
		return EVP_sha512();
	case HASH_SHA1:
		return EVP_sha1();
	}
	return NULL;
}

size_t hash_len(enum hash_algo algo)
{
	switch (algo) {
	case HASH_SHA256:
		return 32;
	case HASH_SHA512:
		return 64;
	case HASH_SHA1:
		return 20;
	}
	return 0;
}

const char *hash_name(enum hash_algo algo)
{
	switch (algo) {
	case HASH_SHA256:
		return "sha256";
	case HASH_SHA512:
		return "sha512";
	case HASH_SHA1:
		return "sha1";
	}
	return "unknown";
}

int hash_memory(enum hash_algo algo, const void *data, size_t len, unsigned char *out)
{
	const EVP_MD *md = hash_md(algo);
	unsigned int n = 0;
	if (!md)
		return FERRY_E_INVALID;
	if (EVP_Digest(data, len, out, &n, md, NULL) != 1 || n != hash_len(algo))
		return FERRY_E_INTERNAL;
	return 0;
}

int hash_memory_hex(enum hash_algo algo, const void *data, size_t len, char *hex, size_t hex_size)
{
	unsigned char d[HASH_MAX_LEN];
	size_t n = hash_len(algo);
	if (n == 0 || hex_size < 2 * n + 1)
		return FERRY_E_LIMIT;
	int rc = hash_memory(algo, data, len, d);
	if (rc < 0)
		return rc;
	str_hex(d, n, hex);
	return 0;
}

/* Feed the file at path to every context in ctx (n of them). */
static int hash_file_into(const char *path, EVP_MD_CTX **ctx, size_t n, uint64_t *size,
                          ferry_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", path);
	static const size_t chunk = 64 * 1024;
	_cleanup_free_ unsigned char *b = malloc(chunk);
	if (!b)
		return ferry_error_set(err, FERRY_E_NOMEM, "hash %s: out of memory", path);
	uint64_t total = 0;
	for (;;) {
		ssize_t r = read(fd, b, chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ferry_error_errno(err, FERRY_E_IO, errno, "read %s", path);
		}
		if (r == 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (EVP_DigestUpdate(ctx[i], b, (size_t)r) != 1)
				return ferry_error_set(err, FERRY_E_INTERNAL,
				                       "hash %s: digest failed", path);
		total += (uint64_t)r;
	}
	if (size)
		*size = total;
	return 0;
}

static int hash_final_hex(EVP_MD_CTX *ctx, enum hash_algo algo, char *hex)
{
	unsigned char d[HASH_MAX_LEN];
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(ctx, d, &n) != 1 || n != hash_len(algo))
		return FERRY_E_INTERNAL;
	str_hex(d, n, hex);
	return 0;
}

int hash_file_hex(enum hash_algo algo, const char *path, char *hex, size_t hex_size,
                  ferry_error *err)
{
	const EVP_MD *md = hash_md(algo);
	if (!md || hex_size < 2 * hash_len(algo) + 1)
		return ferry_error_set(err, FERRY_E_INVALID, "hash %s: bad algorithm or buffer",
		                       path);
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1)
		return ferry_error_set(err, FERRY_E_NOMEM, "hash %s: cannot start digest", path);
	int rc = hash_file_into(path, &ctx, 1, NULL, err);
	if (rc < 0)
		return rc;
	if (hash_final_hex(ctx, algo, hex) < 0)
		return ferry_error_set(err, FERRY_E_INTERNAL, "hash %s: digest failed", path);
	return 0;
}

int hash_file_digests(const char *path, struct hash_file_digests *out, ferry_error *err)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *c256 = EVP_MD_CTX_new();
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *c512 = EVP_MD_CTX_new();
	if (!c256 || !c512 || EVP_DigestInit_ex(c256, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestInit_ex(c512, EVP_sha512(), NULL) != 1)
		return ferry_error_set(err, FERRY_E_NOMEM, "hash %s: cannot start digest", path);
	EVP_MD_CTX *both[2] = {c256, c512};
	int rc = hash_file_into(path, both, 2, &out->size, err);
	if (rc < 0)
		return rc;
	if (hash_final_hex(c256, HASH_SHA256, out->sha256) < 0 ||
	    hash_final_hex(c512, HASH_SHA512, out->sha512) < 0)
		return ferry_error_set(err, FERRY_E_INTERNAL, "hash %s: digest failed", path);
	return 0;
}
