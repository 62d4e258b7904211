/* digest.c: sha256/sha512 (and sha1 for UUIDs) through EVP_MD_CTX, of memory
 * and of files (see digest.h). It does not cache EVP_MD fetches:
 * EVP_sha256()/EVP_sha512()/EVP_sha1() are static tables. */
#include "crypto/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/cleanup.h"
#include "base/str.h"

struct crypto_digest {
	EVP_MD_CTX *ctx;
	enum crypto_hash_alg alg;
};

/* Every algorithm the module computes; only the first CRYPTO_HASH_ALG_COUNT
 * are looked up by name. */
#define HASH_ALGS_ALL 3
static const struct {
	const char *name;
	size_t size;
} hash_algs[HASH_ALGS_ALL] = {
    [CRYPTO_HASH_SHA256] = {"sha256", 32},
    [CRYPTO_HASH_SHA512] = {"sha512", 64},
    [CRYPTO_HASH_SHA1] = {"sha1", 20},
};

static const EVP_MD *alg_md(enum crypto_hash_alg alg)
{
	switch (alg) {
	case CRYPTO_HASH_SHA512:
		return EVP_sha512();
	case CRYPTO_HASH_SHA1:
		return EVP_sha1();
	case CRYPTO_HASH_SHA256:
		break;
	}
	return EVP_sha256();
}

int crypto_hash_alg_from_name(const char *name, enum crypto_hash_alg *out)
{
	for (int i = 0; i < CRYPTO_HASH_ALG_COUNT; i++)
		if (name && strcmp(name, hash_algs[i].name) == 0) {
			*out = (enum crypto_hash_alg)i;
			return 0;
		}
	return FERRY_E_UNSUPPORTED;
}

const char *crypto_hash_alg_name(enum crypto_hash_alg alg)
{
	return (unsigned)alg < HASH_ALGS_ALL ? hash_algs[alg].name : "unknown";
}

size_t crypto_hash_alg_size(enum crypto_hash_alg alg)
{
	return (unsigned)alg < HASH_ALGS_ALL ? hash_algs[alg].size : 0;
}

int crypto_digest_new(enum crypto_hash_alg alg, struct crypto_digest **out, ferry_error *err)
{
	if ((unsigned)alg >= HASH_ALGS_ALL)
		return ferry_error_set(err, FERRY_E_INTERNAL, "digest: unknown algorithm %d", alg);
	struct crypto_digest *d = calloc(1, sizeof(*d));
	if (!d)
		return ferry_error_set(err, FERRY_E_NOMEM, "digest: out of memory");
	d->alg = alg;
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx || EVP_DigestInit_ex(d->ctx, alg_md(alg), NULL) != 1) {
		crypto_digest_free(d);
		return ferry_error_set(err, FERRY_E_INTERNAL, "digest: cannot start %s",
		                       hash_algs[alg].name);
	}
	*out = d;
	return 0;
}

int crypto_digest_update(struct crypto_digest *d, const void *data, size_t len, ferry_error *err)
{
	if (len > 0 && EVP_DigestUpdate(d->ctx, data, len) != 1)
		return ferry_error_set(err, FERRY_E_INTERNAL, "digest: %s update failed",
		                       hash_algs[d->alg].name);
	return 0;
}

int crypto_digest_final(struct crypto_digest *d, unsigned char out[CRYPTO_DIGEST_MAX],
                        ferry_error *err)
{
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(d->ctx, out, &n) != 1 || n != hash_algs[d->alg].size)
		return ferry_error_set(err, FERRY_E_INTERNAL, "digest: %s final failed",
		                       hash_algs[d->alg].name);
	return 0;
}

void crypto_digest_free(struct crypto_digest *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

int crypto_digest_buf(enum crypto_hash_alg alg, const void *data, size_t len,
                      unsigned char out[CRYPTO_DIGEST_MAX], ferry_error *err)
{
	_cleanup_digest_ struct crypto_digest *d = NULL;
	int rc = crypto_digest_new(alg, &d, err);
	if (rc < 0)
		return rc;
	rc = crypto_digest_update(d, data, len, err);
	if (rc < 0)
		return rc;
	return crypto_digest_final(d, out, err);
}

int crypto_digest_hex(enum crypto_hash_alg alg, const void *data, size_t len, char *hex,
                      ferry_error *err)
{
	unsigned char md[CRYPTO_DIGEST_MAX];
	int rc = crypto_digest_buf(alg, data, len, md, err);
	if (rc < 0)
		return rc;
	str_hex(md, crypto_hash_alg_size(alg), hex);
	return 0;
}

/* Feed the whole file at path to each of the n contexts in d, reading it
 * once; its byte count goes to *size when size is not NULL. */
static int digest_file_into(const char *path, struct crypto_digest **d, size_t n, uint64_t *size,
                            ferry_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ferry_error_errno(err, errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO,
		                         errno, "open %s", path);
	static const size_t chunk_size = 64 * 1024;
	_cleanup_free_ unsigned char *chunk = malloc(chunk_size);
	if (!chunk)
		return ferry_error_set(err, FERRY_E_NOMEM, "hash %s: out of memory", path);
	uint64_t total = 0;
	for (;;) {
		ssize_t got = read(fd, chunk, chunk_size);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return ferry_error_errno(err, FERRY_E_IO, errno, "read %s", path);
		}
		if (got == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			int rc = crypto_digest_update(d[i], chunk, (size_t)got, err);
			if (rc < 0)
				return rc;
		}
		total += (uint64_t)got;
	}
	if (size)
		*size = total;
	return 0;
}

int crypto_digest_file(enum crypto_hash_alg alg, const char *path,
                       unsigned char out[CRYPTO_DIGEST_MAX], ferry_error *err)
{
	_cleanup_digest_ struct crypto_digest *d = NULL;
	int rc = crypto_digest_new(alg, &d, err);
	if (rc == 0)
		rc = digest_file_into(path, &d, 1, NULL, err);
	if (rc == 0)
		rc = crypto_digest_final(d, out, err);
	return rc;
}

int crypto_digest_file_all(const char *path, struct crypto_file_digests *out, ferry_error *err)
{
	_cleanup_digest_ struct crypto_digest *d256 = NULL;
	_cleanup_digest_ struct crypto_digest *d512 = NULL;
	unsigned char md[CRYPTO_DIGEST_MAX];
	int rc = crypto_digest_new(CRYPTO_HASH_SHA256, &d256, err);
	if (rc == 0)
		rc = crypto_digest_new(CRYPTO_HASH_SHA512, &d512, err);
	if (rc < 0)
		return rc;
	struct crypto_digest *both[2] = {d256, d512};
	rc = digest_file_into(path, both, 2, &out->size, err);
	if (rc < 0)
		return rc;
	if ((rc = crypto_digest_final(d256, md, err)) < 0)
		return rc;
	str_hex(md, 32, out->sha256);
	if ((rc = crypto_digest_final(d512, md, err)) < 0)
		return rc;
	str_hex(md, 64, out->sha512);
	return 0;
}

long crypto_hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t max)
{
	if (hexlen % 2 != 0 || hexlen / 2 > max)
		return -1;
	for (size_t i = 0; i < hexlen / 2; i++) {
		int hi = str_hex_digit((unsigned char)hex[2 * i]);
		int lo = str_hex_digit((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(hexlen / 2);
}

bool crypto_digest_equal_hex(const unsigned char *digest, size_t size, const char *hex)
{
	unsigned char want[CRYPTO_DIGEST_MAX];
	if (!hex || size > CRYPTO_DIGEST_MAX || strlen(hex) != 2 * size)
		return false;
	if (crypto_hex_decode(hex, 2 * size, want, sizeof(want)) != (long)size)
		return false;
	return CRYPTO_memcmp(want, digest, size) == 0;
}
