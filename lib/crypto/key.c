/* key.c: ed25519, ECDSA P-256 and RSA-PSS keys through EVP_PKEY (see key.h).
 * It does not handle encrypted key files or hardware tokens. */
#include "crypto/key.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "crypto/digest.h"

struct crypto_key {
	EVP_PKEY *pkey;
	enum crypto_key_type type;
	bool has_private;
	char keytype[32]; /* as read or "ed25519" | "ecdsa" | "rsa" */
	char *legacy_hex; /* legacy ECDSA keys read as a hex point */
};

DEFINE_CLEANUP(EVP_PKEY *, EVP_PKEY_free)
DEFINE_CLEANUP(BIO *, BIO_free)
DEFINE_CLEANUP(EVP_MD_CTX *, EVP_MD_CTX_free)

static const char *type_scheme[] = {
    [CRYPTO_KEY_ED25519] = "ed25519",
    [CRYPTO_KEY_ECDSA_P256] = "ecdsa-sha2-nistp256",
    [CRYPTO_KEY_RSA] = "rsassa-pss-sha256",
};

static const char *type_keytype[] = {
    [CRYPTO_KEY_ED25519] = "ed25519",
    [CRYPTO_KEY_ECDSA_P256] = "ecdsa",
    [CRYPTO_KEY_RSA] = "rsa",
};

/* DER prefix of a P-256 SubjectPublicKeyInfo, followed by the 65-byte point. */
static const unsigned char p256_spki_prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};

/* Does pkey fit type (right algorithm, curve, size)? */
static int check_pkey(EVP_PKEY *pkey, enum crypto_key_type type, ferry_error *err)
{
	switch (type) {
	case CRYPTO_KEY_ED25519:
		if (!EVP_PKEY_is_a(pkey, "ED25519"))
			return ferry_error_set(err, FERRY_E_INVALID, "not an ed25519 key");
		return 0;
	case CRYPTO_KEY_ECDSA_P256: {
		char group[64] = "";
		size_t glen = 0;
		if (!EVP_PKEY_is_a(pkey, "EC") ||
		    EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1)
			return ferry_error_set(err, FERRY_E_INVALID, "not an ECDSA key");
		if (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "ECDSA key on curve %s, expected P-256", group);
		return 0;
	}
	case CRYPTO_KEY_RSA: {
		if (!EVP_PKEY_is_a(pkey, "RSA"))
			return ferry_error_set(err, FERRY_E_INVALID, "not an RSA key");
		int bits = EVP_PKEY_get_bits(pkey);
		if (bits < CRYPTO_RSA_MIN_BITS || bits > CRYPTO_RSA_MAX_BITS)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "RSA key of %d bits, expected %d to %d", bits,
			                       CRYPTO_RSA_MIN_BITS, CRYPTO_RSA_MAX_BITS);
		return 0;
	}
	}
	return ferry_error_set(err, FERRY_E_INTERNAL, "unknown key type %d", type);
}

static int key_wrap(EVP_PKEY **pkey, enum crypto_key_type type, bool priv, const char *keytype,
                    struct crypto_key **out, ferry_error *err)
{
	struct crypto_key *k = calloc(1, sizeof(*k));
	if (!k)
		return ferry_error_set(err, FERRY_E_NOMEM, "key: out of memory");
	k->pkey = steal_pointer(pkey);
	k->type = type;
	k->has_private = priv;
	if (str_copy(k->keytype, sizeof(k->keytype), keytype ? keytype : type_keytype[type]) < 0) {
		crypto_key_free(k);
		return ferry_error_set(err, FERRY_E_INTERNAL, "key type string too long");
	}
	*out = k;
	return 0;
}

static int pkey_type_of(EVP_PKEY *pkey, enum crypto_key_type *type)
{
	if (EVP_PKEY_is_a(pkey, "ED25519"))
		*type = CRYPTO_KEY_ED25519;
	else if (EVP_PKEY_is_a(pkey, "EC"))
		*type = CRYPTO_KEY_ECDSA_P256;
	else if (EVP_PKEY_is_a(pkey, "RSA"))
		*type = CRYPTO_KEY_RSA;
	else
		return FERRY_E_UNSUPPORTED;
	return 0;
}

static int parse_pem_public(const char *pem, EVP_PKEY **out, ferry_error *err)
{
	_cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, (int)strlen(pem));
	if (!bio)
		return ferry_error_set(err, FERRY_E_NOMEM, "key: out of memory");
	EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!pkey)
		return ferry_error_set(err, FERRY_E_INVALID, "public key is not a PEM public key");
	*out = pkey;
	return 0;
}

int crypto_key_from_public(const char *keytype, const char *scheme, const char *public_value,
                           struct crypto_key **out, ferry_error *err)
{
	enum crypto_key_type type;
	bool legacy_ecdsa = false;

	if (!keytype || !scheme || !public_value)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "key: missing keytype, scheme or public value");
	if (strcmp(keytype, "ed25519") == 0 && strcmp(scheme, "ed25519") == 0)
		type = CRYPTO_KEY_ED25519;
	else if (strcmp(keytype, "ecdsa") == 0 && strcmp(scheme, "ecdsa-sha2-nistp256") == 0)
		type = CRYPTO_KEY_ECDSA_P256;
	else if (strcmp(keytype, "ecdsa-sha2-nistp256") == 0 &&
	         strcmp(scheme, "ecdsa-sha2-nistp256") == 0) {
		type = CRYPTO_KEY_ECDSA_P256;
		legacy_ecdsa = true;
	} else if (strcmp(keytype, "rsa") == 0 && strcmp(scheme, "rsassa-pss-sha256") == 0)
		type = CRYPTO_KEY_RSA;
	else
		return ferry_error_set(err, FERRY_E_UNSUPPORTED,
		                       "key type %.40s with scheme %.40s is not supported", keytype,
		                       scheme);

	size_t plen = strnlen(public_value, CRYPTO_KEY_PUBLIC_MAX + 1);
	if (plen > CRYPTO_KEY_PUBLIC_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s public key longer than %d bytes",
		                       keytype, CRYPTO_KEY_PUBLIC_MAX);

	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
	_cleanup_free_ char *legacy_hex = NULL;
	int rc;
	if (type == CRYPTO_KEY_ED25519) {
		unsigned char raw[32];
		if (plen != 64 || crypto_hex_decode(public_value, plen, raw, sizeof(raw)) != 32)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "ed25519 public key must be 64 hex digits");
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
		if (!pkey)
			return ferry_error_set(err, FERRY_E_INVALID, "ed25519 public key rejected");
	} else if (legacy_ecdsa && strncmp(public_value, "-----BEGIN", 10) != 0) {
		unsigned char der[sizeof(p256_spki_prefix) + 65];
		memcpy(der, p256_spki_prefix, sizeof(p256_spki_prefix));
		if (crypto_hex_decode(public_value, plen, der + sizeof(p256_spki_prefix), 65) != 65)
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "ECDSA public key must be PEM or a 65-byte hex point");
		const unsigned char *p = der;
		pkey = d2i_PUBKEY(NULL, &p, (long)sizeof(der));
		if (!pkey)
			return ferry_error_set(err, FERRY_E_INVALID, "ECDSA public point rejected");
		legacy_hex = strdup(public_value);
		if (!legacy_hex)
			return ferry_error_set(err, FERRY_E_NOMEM, "key: out of memory");
	} else {
		rc = parse_pem_public(public_value, &pkey, err);
		if (rc < 0)
			return ferry_error_prefix(err, rc, "%s key", keytype);
	}
	rc = check_pkey(pkey, type, err);
	if (rc < 0)
		return rc;
	rc = key_wrap(&pkey, type, false, keytype, out, err);
	if (rc < 0)
		return rc;
	(*out)->legacy_hex = steal_pointer(&legacy_hex);
	return 0;
}

int crypto_key_generate(enum crypto_key_type type, struct crypto_key **out, ferry_error *err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
	switch (type) {
	case CRYPTO_KEY_ED25519:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case CRYPTO_KEY_ECDSA_P256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case CRYPTO_KEY_RSA:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)CRYPTO_RSA_GEN_BITS);
		break;
	default:
		return ferry_error_set(err, FERRY_E_INTERNAL, "unknown key type %d", type);
	}
	if (!pkey)
		return ferry_error_set(err, FERRY_E_INTERNAL, "generate %s key failed",
		                       type_keytype[type]);
	return key_wrap(&pkey, type, true, NULL, out, err);
}

int crypto_key_save_private(const struct crypto_key *key, const char *path, ferry_error *err)
{
	if (!key->has_private)
		return ferry_error_set(err, FERRY_E_INVALID, "%s: key has no private half", path);
	/* A secure-heap BIO is wiped when freed. */
	_cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_secmem());
	if (!bio)
		return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", path);
	if (PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1)
		return ferry_error_set(err, FERRY_E_INTERNAL, "%s: cannot encode private key",
		                       path);
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || !data)
		return ferry_error_set(err, FERRY_E_INTERNAL, "%s: cannot encode private key",
		                       path);
	return fs_write_atomic(path, data, (size_t)len, 0600, err);
}

int crypto_key_from_private_pem(const char *pem, size_t len, struct crypto_key **out,
                                ferry_error *err)
{
	if (len > CRYPTO_KEY_FILE_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "private key longer than %d bytes",
		                       CRYPTO_KEY_FILE_MAX);
	_cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return ferry_error_set(err, FERRY_E_NOMEM, "key: out of memory");
	/* No passphrase callback: an encrypted key fails instead of prompting. */
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey =
	    PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	if (!pkey)
		return ferry_error_set(err, FERRY_E_INVALID, "not an unencrypted PEM private key");
	enum crypto_key_type type;
	if (pkey_type_of(pkey, &type) < 0)
		return ferry_error_set(err, FERRY_E_UNSUPPORTED,
		                       "private key of an unsupported kind (%s)",
		                       EVP_PKEY_get0_type_name(pkey));
	int rc = check_pkey(pkey, type, err);
	if (rc < 0)
		return rc;
	return key_wrap(&pkey, type, true, NULL, out, err);
}

int crypto_key_load_private(const char *path, struct crypto_key **out, ferry_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ferry_error_errno(err, errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO,
		                         errno, "open key %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat key %s", path);
	if (!S_ISREG(st.st_mode))
		return ferry_error_set(err, FERRY_E_INVALID, "key %s: not a regular file", path);
	if (st.st_mode & 077)
		return ferry_error_set(err, FERRY_E_UNSAFE,
		                       "key %s: mode %04o lets others read it; chmod 600 it", path,
		                       (unsigned)(st.st_mode & 07777));
	char *data = NULL;
	size_t len = 0;
	int rc = fs_read_fd(fd, path, CRYPTO_KEY_FILE_MAX, &data, &len, err);
	if (rc < 0)
		return rc;
	rc = crypto_key_from_private_pem(data, len, out, err);
	OPENSSL_cleanse(data, len);
	free(data);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "key %s", path);
	return 0;
}

enum crypto_key_type crypto_key_type(const struct crypto_key *key)
{
	return key->type;
}

bool crypto_key_has_private(const struct crypto_key *key)
{
	return key->has_private;
}

const char *crypto_key_keytype(const struct crypto_key *key)
{
	return key->keytype;
}

const char *crypto_key_scheme(const struct crypto_key *key)
{
	return type_scheme[key->type];
}

int crypto_key_public_value(const struct crypto_key *key, char **out, ferry_error *err)
{
	if (key->legacy_hex) {
		*out = strdup(key->legacy_hex);
		return *out ? 0 : ferry_error_set(err, FERRY_E_NOMEM, "key: out of memory");
	}
	if (key->type == CRYPTO_KEY_ED25519) {
		unsigned char raw[32];
		size_t n = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &n) != 1 || n != 32)
			return ferry_error_set(err, FERRY_E_INTERNAL, "ed25519: no public key");
		char *hex = malloc(65);
		if (!hex)
			return ferry_error_set(err, FERRY_E_NOMEM, "key: out of memory");
		str_hex(raw, 32, hex);
		*out = hex;
		return 0;
	}
	_cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PUBKEY(bio, key->pkey) != 1)
		return ferry_error_set(err, FERRY_E_INTERNAL, "%s: cannot encode public key",
		                       key->keytype);
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	if (len <= 0)
		return ferry_error_set(err, FERRY_E_INTERNAL, "%s: cannot encode public key",
		                       key->keytype);
	*out = strndup(data, (size_t)len);
	return *out ? 0 : ferry_error_set(err, FERRY_E_NOMEM, "key: out of memory");
}

bool crypto_key_public_equal(const struct crypto_key *a, const struct crypto_key *b)
{
	return a->type == b->type && EVP_PKEY_eq(a->pkey, b->pkey) == 1;
}

/* Set up ctx for the key's scheme, to sign or to verify. */
static int scheme_init(const struct crypto_key *key, EVP_MD_CTX *ctx, bool sign)
{
	const EVP_MD *md = key->type == CRYPTO_KEY_ED25519 ? NULL : EVP_sha256();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = sign ? EVP_DigestSignInit(ctx, &pctx, md, NULL, key->pkey)
	              : EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key->pkey);
	if (ok != 1)
		return -1;
	if (key->type == CRYPTO_KEY_RSA) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, sign ? RSA_PSS_SALTLEN_DIGEST
		                                                : RSA_PSS_SALTLEN_AUTO) != 1)
			return -1;
	}
	return 0;
}

int crypto_key_verify(const struct crypto_key *key, const unsigned char *sig, size_t siglen,
                      const void *data, size_t len, ferry_error *err)
{
	if (siglen == 0 || siglen > CRYPTO_SIG_MAX)
		return ferry_error_set(err, FERRY_E_VERIFY, "%s signature of %zu bytes",
		                       key->keytype, siglen);
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return ferry_error_set(err, FERRY_E_NOMEM, "verify: out of memory");
	if (scheme_init(key, ctx, false) < 0)
		return ferry_error_set(err, FERRY_E_INTERNAL, "%s: cannot start verification",
		                       key->keytype);
	int ok = EVP_DigestVerify(ctx, sig, siglen, data, len);
	if (ok != 1)
		return ferry_error_set(err, FERRY_E_VERIFY, "%s signature does not verify",
		                       key->keytype);
	return 0;
}

int crypto_key_sign(const struct crypto_key *key, const void *data, size_t len, unsigned char **sig,
                    size_t *siglen, ferry_error *err)
{
	if (!key->has_private)
		return ferry_error_set(err, FERRY_E_INVALID, "%s key has no private half",
		                       key->keytype);
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return ferry_error_set(err, FERRY_E_NOMEM, "sign: out of memory");
	if (scheme_init(key, ctx, true) < 0)
		return ferry_error_set(err, FERRY_E_INTERNAL, "%s: cannot start signing",
		                       key->keytype);
	size_t n = 0;
	if (EVP_DigestSign(ctx, NULL, &n, data, len) != 1 || n == 0)
		return ferry_error_set(err, FERRY_E_INTERNAL, "%s: signing failed", key->keytype);
	_cleanup_free_ unsigned char *out = malloc(n);
	if (!out)
		return ferry_error_set(err, FERRY_E_NOMEM, "sign: out of memory");
	if (EVP_DigestSign(ctx, out, &n, data, len) != 1)
		return ferry_error_set(err, FERRY_E_INTERNAL, "%s: signing failed", key->keytype);
	*sig = steal_pointer(&out);
	*siglen = n;
	return 0;
}

void crypto_key_free(struct crypto_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey); /* OpenSSL clears private key material on free */
	free(key->legacy_hex);
	free(key);
}
