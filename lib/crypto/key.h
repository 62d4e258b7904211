/* key.h: signing keys as TUF uses them, on OpenSSL 3's EVP interface.
 *
 * Three kinds, named by TUF's (keytype, scheme) pairs:
 *   ed25519 / ed25519                keyval.public: 64 hex digits (raw key)
 *   ecdsa / ecdsa-sha2-nistp256      keyval.public: PEM SubjectPublicKeyInfo
 *                                    (P-256); signatures DER (r, s)
 *   rsa / rsassa-pss-sha256          keyval.public: PEM SubjectPublicKeyInfo;
 *                                    PSS, MGF1-SHA256, salt = digest length
 *                                    when signing, any salt when verifying
 * The older key type string "ecdsa-sha2-nistp256" is accepted for ECDSA, with
 * a PEM or a hex (uncompressed point) public value, and kept as given so that
 * the key serialises back the way it came.
 *
 * ferry's own key files hold one private key as unencrypted PKCS#8 PEM
 * ("-----BEGIN PRIVATE KEY-----"), mode 0600, written atomically; loading
 * refuses a file that group or others can read. Buffers that held private
 * material are wiped (OPENSSL_cleanse) before they are freed.
 *
 * This module knows nothing about JSON: lib/tuf/key.h turns keys into TUF key
 * objects and computes key IDs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

enum crypto_key_type {
	CRYPTO_KEY_ED25519 = 0,
	CRYPTO_KEY_ECDSA_P256 = 1,
	CRYPTO_KEY_RSA = 2,
};

/* Bounds on what a key may be, checked before parsing. */
#define CRYPTO_KEY_PUBLIC_MAX 16384 /* bytes of keyval.public */
#define CRYPTO_KEY_FILE_MAX 65536   /* bytes of a private key file */
#define CRYPTO_SIG_MAX 2048         /* bytes of one raw signature */
#define CRYPTO_RSA_MIN_BITS 2048
#define CRYPTO_RSA_MAX_BITS 8192
#define CRYPTO_RSA_GEN_BITS 3072

struct crypto_key;

/* A public key from TUF's keytype, scheme and keyval.public strings. Unknown
 * or mismatched keytype/scheme pairs fail with FERRY_E_UNSUPPORTED; a public
 * value that does not parse, is the wrong curve or an RSA key outside
 * CRYPTO_RSA_MIN_BITS..MAX_BITS fails with FERRY_E_INVALID. */
int crypto_key_from_public(const char *keytype, const char *scheme, const char *public_value,
                           struct crypto_key **out, ferry_error *err) FERRY_WUR;

/* A new key pair. */
int crypto_key_generate(enum crypto_key_type type, struct crypto_key **out,
                        ferry_error *err) FERRY_WUR;

/* Write the private key to path (PKCS#8 PEM, mode 0600, atomic). Fails with
 * FERRY_E_INVALID when the key has no private half. */
int crypto_key_save_private(const struct crypto_key *key, const char *path,
                            ferry_error *err) FERRY_WUR;

/* Read a key file written by crypto_key_save_private (or any unencrypted
 * PKCS#8 PEM of a supported kind). FERRY_E_UNSAFE when the file is readable
 * by group or others. */
int crypto_key_load_private(const char *path, struct crypto_key **out, ferry_error *err) FERRY_WUR;

/* The same, from PEM bytes in memory (the caller wipes them). */
int crypto_key_from_private_pem(const char *pem, size_t len, struct crypto_key **out,
                                ferry_error *err) FERRY_WUR;

enum crypto_key_type crypto_key_type(const struct crypto_key *key);
bool crypto_key_has_private(const struct crypto_key *key);
/* TUF strings: "ed25519" | "ecdsa" (or the legacy string it was read with) |
 * "rsa", and the scheme. Valid as long as the key. */
const char *crypto_key_keytype(const struct crypto_key *key);
const char *crypto_key_scheme(const struct crypto_key *key);

/* keyval.public as TUF writes it (hex for ed25519, PEM otherwise, or the hex
 * point a legacy ECDSA key was read with). Heap string; free() it. */
int crypto_key_public_value(const struct crypto_key *key, char **out, ferry_error *err) FERRY_WUR;

/* Same public key material (the key type strings aside)? */
bool crypto_key_public_equal(const struct crypto_key *a, const struct crypto_key *b);

/* Verify sig over data with the key's scheme. Returns 0, or FERRY_E_VERIFY
 * for a signature that does not verify (including empty or malformed ones). */
int crypto_key_verify(const struct crypto_key *key, const unsigned char *sig, size_t siglen,
                      const void *data, size_t len, ferry_error *err) FERRY_WUR;

/* Sign data with the key's scheme; *sig is malloc'd (free it). */
int crypto_key_sign(const struct crypto_key *key, const void *data, size_t len, unsigned char **sig,
                    size_t *siglen, ferry_error *err) FERRY_WUR;

void crypto_key_free(struct crypto_key *key);

static inline void crypto_key_freep(struct crypto_key **k)
{
	if (*k)
		crypto_key_free(*k);
}
#define _cleanup_key_ __attribute__((cleanup(crypto_key_freep)))
