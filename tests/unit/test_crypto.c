/* test_crypto.c: lib/crypto and lib/tuf/key: hashes (known answers: FIPS 180
 * examples; files read in chunks give the digest of their bytes, and errors
 * name the file), the
 * three key kinds (verify securesystemslib's signatures of the fixture keys,
 * sign and verify round trips, tampering), key IDs as securesystemslib
 * computes them, key files (0600, refusal of readable files), base64 (RFC
 * 4648 test vectors, strict decoding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "crypto/base64.h"
#include "crypto/digest.h"
#include "crypto/key.h"
#include "tuf/cjson.h"
#include "tuf/key.h"

#include "testutil.h"

static const char *names[] = {"ed25519", "ecdsa", "rsa"};

/* The fixture file tests/data/keys/NAME. */
static char *read_data(const char *name, size_t *len)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "keys/%s", name);
	return tu_read_data(rel, len);
}

static void test_digest_known_answers(void **state)
{
	char hex[CRYPTO_DIGEST_HEX_MAX];
	assert_int_equal(crypto_digest_hex(CRYPTO_HASH_SHA256, "abc", 3, hex, NULL), 0);
	assert_string_equal(hex,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(crypto_digest_hex(CRYPTO_HASH_SHA512, "abc", 3, hex, NULL), 0);
	assert_string_equal(hex,
	                    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	                    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");

	/* streaming in uneven chunks gives the same digest */
	struct crypto_digest *d = NULL;
	unsigned char md[CRYPTO_DIGEST_MAX];
	assert_int_equal(crypto_digest_new(CRYPTO_HASH_SHA256, &d, NULL), 0);
	assert_int_equal(crypto_digest_update(d, "a", 1, NULL), 0);
	assert_int_equal(crypto_digest_update(d, "", 0, NULL), 0);
	assert_int_equal(crypto_digest_update(d, "bc", 2, NULL), 0);
	assert_int_equal(crypto_digest_final(d, md, NULL), 0);
	crypto_digest_free(d);
	assert_true(crypto_digest_equal_hex(
	    md, 32, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	assert_false(crypto_digest_equal_hex(
	    md, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae"));
	assert_false(crypto_digest_equal_hex(md, 32, "ba78"));
	assert_false(crypto_digest_equal_hex(md, 32, NULL));

	enum crypto_hash_alg alg;
	assert_int_equal(crypto_hash_alg_from_name("sha512", &alg), 0);
	assert_int_equal(alg, CRYPTO_HASH_SHA512);
	assert_int_equal(crypto_hash_alg_from_name("md5", &alg), FERRY_E_UNSUPPORTED);
	assert_int_equal(crypto_hash_alg_from_name("SHA256", &alg), FERRY_E_UNSUPPORTED);
}

static void test_digest_file(void **state)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/f", tu_tmpdir);
	assert_int_equal(fs_write_atomic(path, "abc", 3, 0644, NULL), 0);
	unsigned char md[CRYPTO_DIGEST_MAX];
	assert_int_equal(crypto_digest_file(CRYPTO_HASH_SHA256, path, md, NULL), 0);
	assert_true(crypto_digest_equal_hex(
	    md, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	ferry_error err = {0};
	snprintf(path, sizeof(path), "%s/missing", tu_tmpdir);
	assert_int_equal(crypto_digest_file(CRYPTO_HASH_SHA256, path, md, &err), FERRY_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "missing"));
}

#define ABC_256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_512                                                                                    \
	"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8"         \
	"36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
#define EMPTY_256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_digest_memory_known(void **state)
{
	char hex[CRYPTO_DIGEST_HEX_MAX];
	assert_int_equal(crypto_digest_hex(CRYPTO_HASH_SHA256, "", 0, hex, NULL), 0);
	assert_string_equal(hex, EMPTY_256);
	/* SHA-1, for name-based UUIDs only: computed, never looked up by name */
	assert_int_equal(crypto_digest_hex(CRYPTO_HASH_SHA1, "abc", 3, hex, NULL), 0);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	enum crypto_hash_alg alg;
	assert_int_equal(crypto_hash_alg_from_name("sha1", &alg), FERRY_E_UNSUPPORTED);
	assert_int_equal(crypto_hash_alg_size(CRYPTO_HASH_SHA256), 32);
	assert_int_equal(crypto_hash_alg_size(CRYPTO_HASH_SHA512), 64);
	assert_int_equal(crypto_hash_alg_size(CRYPTO_HASH_SHA1), 20);
	assert_string_equal(crypto_hash_alg_name(CRYPTO_HASH_SHA512), "sha512");
}

static void test_digest_file_all(void **state)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/abc", tu_tmpdir);
	assert_int_equal(fs_write_atomic(path, "abc", 3, 0644, NULL), 0);
	struct crypto_file_digests d;
	assert_int_equal(crypto_digest_file_all(path, &d, NULL), 0);
	assert_int_equal(d.size, 3);
	assert_string_equal(d.sha256, ABC_256);
	assert_string_equal(d.sha512, ABC_512);

	/* larger than one read chunk, not a multiple of it */
	size_t n = 3 * 65536 + 17;
	unsigned char *big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 31 + 7);
	snprintf(path, sizeof(path), "%s/big", tu_tmpdir);
	assert_int_equal(fs_write_atomic(path, big, n, 0644, NULL), 0);
	char want[CRYPTO_DIGEST_HEX_MAX];
	unsigned char got[CRYPTO_DIGEST_MAX];
	assert_int_equal(crypto_digest_hex(CRYPTO_HASH_SHA512, big, n, want, NULL), 0);
	assert_int_equal(crypto_digest_file(CRYPTO_HASH_SHA512, path, got, NULL), 0);
	assert_true(crypto_digest_equal_hex(got, 64, want));
	assert_int_equal(crypto_digest_file_all(path, &d, NULL), 0);
	assert_int_equal(d.size, n);
	assert_string_equal(d.sha512, want);
	free(big);
}

static void test_digest_file_errors(void **state)
{
	ferry_error err = {0};
	unsigned char md[CRYPTO_DIGEST_MAX];
	assert_int_equal(crypto_digest_file(CRYPTO_HASH_SHA256, "/nonexistent/x", md, &err),
	                 FERRY_E_NOTFOUND);
	assert_string_equal(err.msg, "open /nonexistent/x: No such file or directory");
	struct crypto_file_digests d;
	ferry_error_clear(&err);
	/* a directory opens but cannot be read */
	assert_int_equal(crypto_digest_file_all(tu_tmpdir, &d, &err), FERRY_E_IO);
	assert_non_null(strstr(err.msg, "Is a directory"));
}

static struct crypto_key *fixture_public(const char *name, json_t **obj_out)
{
	char file[64];
	snprintf(file, sizeof(file), "%s.pub.json", name);
	size_t len = 0;
	_cleanup_free_ char *text = read_data(file, &len);
	json_t *obj = NULL;
	assert_int_equal(tuf_json_parse(text, len, NULL, &obj, NULL), 0);
	struct crypto_key *key = NULL;
	ferry_error err = {0};
	int rc = tuf_key_from_json(obj, &key, &err);
	if (rc < 0)
		fail_msg("%s: %s", name, err.msg);
	if (obj_out)
		*obj_out = obj;
	else
		json_decref(obj);
	return key;
}

static void test_verify_securesystemslib_signatures(void **state)
{
	size_t msglen = 0;
	_cleanup_free_ char *msg = read_data("message.txt", &msglen);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		_cleanup_key_ struct crypto_key *key = fixture_public(names[i], NULL);
		char file[64];
		snprintf(file, sizeof(file), "%s.sig", names[i]);
		_cleanup_free_ char *hex = read_data(file, NULL);
		size_t hexlen = strcspn(hex, "\n");
		unsigned char sig[CRYPTO_SIG_MAX];
		long siglen = crypto_hex_decode(hex, hexlen, sig, sizeof(sig));
		assert_true(siglen > 0);
		assert_int_equal(crypto_key_verify(key, sig, (size_t)siglen, msg, msglen, NULL), 0);
		/* one flipped bit of the message or of the signature fails */
		msg[0] ^= 1;
		ferry_error err = {0};
		assert_int_equal(crypto_key_verify(key, sig, (size_t)siglen, msg, msglen, &err),
		                 FERRY_E_VERIFY);
		assert_non_null(strstr(err.msg, "does not verify"));
		msg[0] ^= 1;
		sig[siglen / 2] ^= 0x10;
		assert_int_equal(crypto_key_verify(key, sig, (size_t)siglen, msg, msglen, NULL),
		                 FERRY_E_VERIFY);
		/* empty signatures never verify */
		assert_int_equal(crypto_key_verify(key, sig, 0, msg, msglen, NULL), FERRY_E_VERIFY);
	}
}

static void test_ed25519_known_signature(void **state)
{
	/* ed25519 is deterministic: our signature equals securesystemslib's */
	size_t pemlen = 0;
	_cleanup_free_ char *pem = read_data("ed25519.pem", &pemlen);
	_cleanup_key_ struct crypto_key *key = NULL;
	assert_int_equal(crypto_key_from_private_pem(pem, pemlen, &key, NULL), 0);
	size_t msglen = 0;
	_cleanup_free_ char *msg = read_data("message.txt", &msglen);
	_cleanup_free_ unsigned char *sig = NULL;
	size_t siglen = 0;
	assert_int_equal(crypto_key_sign(key, msg, msglen, &sig, &siglen, NULL), 0);
	assert_int_equal(siglen, 64);
	char hex[129];
	str_hex(sig, siglen, hex);
	_cleanup_free_ char *want = read_data("ed25519.sig", NULL);
	want[strcspn(want, "\n")] = '\0';
	assert_string_equal(hex, want);
}

static void test_keyids_match_securesystemslib(void **state)
{
	_cleanup_free_ char *ids = read_data("keyids.txt", NULL);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		json_t *obj = NULL;
		_cleanup_key_ struct crypto_key *key = fixture_public(names[i], &obj);
		char id[TUF_KEYID_HEX_LEN + 1], id2[TUF_KEYID_HEX_LEN + 1];
		assert_int_equal(tuf_keyid_of_json(obj, id, NULL), 0);
		/* and the same from the key itself, re-serialised */
		assert_int_equal(tuf_keyid(key, id2, NULL), 0);
		assert_string_equal(id, id2);
		char line[128];
		snprintf(line, sizeof(line), "%s %s\n", names[i], id);
		assert_non_null(strstr(ids, line));
		/* extra fields count in the key ID */
		json_object_set_new(obj, "x-extra", json_string("1"));
		assert_int_equal(tuf_keyid_of_json(obj, id2, NULL), 0);
		assert_string_not_equal(id, id2);
		json_decref(obj);
	}
}

static void test_sign_verify_roundtrip_generated(void **state)
{
	const enum crypto_key_type types[] = {CRYPTO_KEY_ED25519, CRYPTO_KEY_ECDSA_P256,
	                                      CRYPTO_KEY_RSA};
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		_cleanup_key_ struct crypto_key *key = NULL;
		assert_int_equal(crypto_key_generate(types[i], &key, NULL), 0);
		assert_true(crypto_key_has_private(key));
		_cleanup_free_ unsigned char *sig = NULL;
		size_t siglen = 0;
		assert_int_equal(crypto_key_sign(key, "payload", 7, &sig, &siglen, NULL), 0);

		/* through the TUF key object and back: public only */
		json_t *obj = NULL;
		assert_int_equal(tuf_key_to_json(key, &obj, NULL), 0);
		assert_string_equal(json_string_value(json_object_get(obj, "keytype")), names[i]);
		_cleanup_key_ struct crypto_key *pub = NULL;
		assert_int_equal(tuf_key_from_json(obj, &pub, NULL), 0);
		json_decref(obj);
		assert_false(crypto_key_has_private(pub));
		assert_true(crypto_key_public_equal(key, pub));
		assert_int_equal(crypto_key_verify(pub, sig, siglen, "payload", 7, NULL), 0);
		assert_int_equal(crypto_key_verify(pub, sig, siglen, "payloae", 7, NULL),
		                 FERRY_E_VERIFY);
		/* a public key cannot sign */
		unsigned char *nosig = NULL;
		assert_int_equal(crypto_key_sign(pub, "x", 1, &nosig, &siglen, NULL),
		                 FERRY_E_INVALID);

		/* another key of the same kind does not verify it */
		_cleanup_key_ struct crypto_key *other = NULL;
		assert_int_equal(crypto_key_generate(types[i], &other, NULL), 0);
		assert_false(crypto_key_public_equal(key, other));
		assert_int_equal(crypto_key_verify(other, sig, siglen, "payload", 7, NULL),
		                 FERRY_E_VERIFY);
	}
}

static void test_key_files(void **state)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/signing.key", tu_tmpdir);
	_cleanup_key_ struct crypto_key *key = NULL;
	assert_int_equal(crypto_key_generate(CRYPTO_KEY_ECDSA_P256, &key, NULL), 0);
	assert_int_equal(crypto_key_save_private(key, path, NULL), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	_cleanup_key_ struct crypto_key *loaded = NULL;
	assert_int_equal(crypto_key_load_private(path, &loaded, NULL), 0);
	assert_true(crypto_key_public_equal(key, loaded));
	assert_string_equal(crypto_key_scheme(loaded), "ecdsa-sha2-nistp256");

	/* a key file others can read is refused, and says why */
	assert_int_equal(chmod(path, 0644), 0);
	ferry_error err = {0};
	struct crypto_key *k2 = NULL;
	assert_int_equal(crypto_key_load_private(path, &k2, &err), FERRY_E_UNSAFE);
	assert_non_null(strstr(err.msg, "chmod 600"));

	/* garbage is not a key */
	assert_int_equal(fs_write_atomic(path, "hello", 5, 0600, NULL), 0);
	assert_int_equal(crypto_key_load_private(path, &k2, &err), FERRY_E_INVALID);

	/* a public key has no private half to save */
	_cleanup_key_ struct crypto_key *pub = fixture_public("ed25519", NULL);
	assert_int_equal(crypto_key_save_private(pub, path, NULL), FERRY_E_INVALID);
}

static void test_key_parse_refusals(void **state)
{
	struct crypto_key *k = NULL;
	ferry_error err = {0};
	assert_int_equal(crypto_key_from_public("ed25519", "ed25519", "abcd", &k, &err),
	                 FERRY_E_INVALID);
	assert_int_equal(crypto_key_from_public(
	                     "ed25519", "ecdsa-sha2-nistp256",
	                     "ab092cabfe65f928e649ba5b90cd01e2414d4e9a9c6db1ab29597d329a8eaf92", &k,
	                     &err),
	                 FERRY_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "not supported"));
	assert_int_equal(crypto_key_from_public("dsa", "dsa", "x", &k, &err), FERRY_E_UNSUPPORTED);

	/* an ed25519 PEM key claimed to be ECDSA */
	_cleanup_key_ struct crypto_key *ed = fixture_public("ed25519", NULL);
	_cleanup_key_ struct crypto_key *rsa = fixture_public("rsa", NULL);
	_cleanup_free_ char *rsa_pem = NULL;
	assert_int_equal(crypto_key_public_value(rsa, &rsa_pem, NULL), 0);
	assert_int_equal(crypto_key_from_public("ecdsa", "ecdsa-sha2-nistp256", rsa_pem, &k, &err),
	                 FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "not an ECDSA key"));

	/* the legacy key type string, with PEM and with a hex point */
	_cleanup_key_ struct crypto_key *ec = fixture_public("ecdsa", NULL);
	_cleanup_free_ char *ec_pem = NULL;
	assert_int_equal(crypto_key_public_value(ec, &ec_pem, NULL), 0);
	_cleanup_key_ struct crypto_key *legacy = NULL;
	assert_int_equal(crypto_key_from_public("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256",
	                                        ec_pem, &legacy, NULL),
	                 0);
	assert_true(crypto_key_public_equal(ec, legacy));
	assert_string_equal(crypto_key_keytype(legacy), "ecdsa-sha2-nistp256");
	_cleanup_key_ struct crypto_key *point = NULL;
	/* sigstore's first root carries keys this way */
	assert_int_equal(crypto_key_from_public(
	                     "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256",
	                     "04cbc5cab2684160323c25cd06c3307178a6b1d1c9b949328453ae473c5ba7527e35b"
	                     "13f298b41633382241f3fd8526c262d43b45adee5c618fa0642c82b8a9803",
	                     &point, &err),
	                 0);
	_cleanup_free_ char *hex = NULL;
	assert_int_equal(crypto_key_public_value(point, &hex, NULL), 0);
	assert_string_equal(hex,
	                    "04cbc5cab2684160323c25cd06c3307178a6b1d1c9b949328453ae473c5ba7527e35b1"
	                    "3f298b41633382241f3fd8526c262d43b45adee5c618fa0642c82b8a9803");

	/* an over-long public value is refused before parsing */
	_cleanup_free_ char *big = malloc(CRYPTO_KEY_PUBLIC_MAX + 2);
	memset(big, 'A', CRYPTO_KEY_PUBLIC_MAX + 1);
	big[CRYPTO_KEY_PUBLIC_MAX + 1] = '\0';
	assert_int_equal(crypto_key_from_public("rsa", "rsassa-pss-sha256", big, &k, &err),
	                 FERRY_E_LIMIT);
}

static void test_base64(void **state)
{
	(void)state;
	/* RFC 4648 section 10 */
	const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char out[16];
		crypto_base64_encode((const unsigned char *)plain[i], strlen(plain[i]), out);
		assert_string_equal(out, enc[i]);
		unsigned char back[16];
		size_t n = 99;
		assert_int_equal(crypto_base64_decode(enc[i], back, sizeof(back), &n, NULL), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(back, plain[i], n);
	}
	unsigned char b[16];
	size_t n;
	const char *bad[] = {"Zg=", "Zg", " Zg==", "Zg==\n", "Z=g=", "Zm9v!A==", "=Zm9", "Zg=a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(crypto_base64_decode(bad[i], b, sizeof(b), &n, NULL),
		                 FERRY_E_INVALID);
	assert_int_equal(crypto_base64_decode("Zm9vYmFy", b, 5, &n, NULL), FERRY_E_LIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_digest_known_answers),
	    cmocka_unit_test(test_digest_file),
	    cmocka_unit_test(test_digest_memory_known),
	    cmocka_unit_test(test_digest_file_all),
	    cmocka_unit_test(test_digest_file_errors),
	    cmocka_unit_test(test_verify_securesystemslib_signatures),
	    cmocka_unit_test(test_ed25519_known_signature),
	    cmocka_unit_test(test_keyids_match_securesystemslib),
	    cmocka_unit_test(test_sign_verify_roundtrip_generated),
	    cmocka_unit_test(test_key_files),
	    cmocka_unit_test(test_key_parse_refusals),
	    cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, tu_tmpdir_setup, tu_tmpdir_teardown);
}
