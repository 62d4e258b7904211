/* key.c (tuf): key objects <-> crypto_key, key IDs (see key.h). It does not
 * check that a metadata file's key IDs match their keys: real repositories
 * carry historical IDs, and TUF clients look keys up by the ID as written. */
#include "tuf/key.h"

#include <stdlib.h>

#include "base/cleanup.h"
#include "crypto/digest.h"
#include "tuf/cjson.h"

int tuf_key_from_json(const json_t *obj, struct crypto_key **out, ferry_error *err)
{
	if (!json_is_object(obj))
		return ferry_error_set(err, FERRY_E_INVALID, "key: expected an object");
	const json_t *keytype = json_object_get(obj, "keytype");
	const json_t *scheme = json_object_get(obj, "scheme");
	const json_t *keyval = json_object_get(obj, "keyval");
	if (!json_is_string(keytype))
		return ferry_error_set(err, FERRY_E_INVALID, "key: keytype: expected a string");
	if (!json_is_string(scheme))
		return ferry_error_set(err, FERRY_E_INVALID, "key: scheme: expected a string");
	if (!json_is_object(keyval))
		return ferry_error_set(err, FERRY_E_INVALID, "key: keyval: expected an object");
	const json_t *pub = json_object_get(keyval, "public");
	if (!json_is_string(pub))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "key: keyval.public: expected a string");
	return crypto_key_from_public(json_string_value(keytype), json_string_value(scheme),
	                              json_string_value(pub), out, err);
}

int tuf_key_to_json(const struct crypto_key *key, json_t **out, ferry_error *err)
{
	_cleanup_free_ char *pub = NULL;
	int rc = crypto_key_public_value(key, &pub, err);
	if (rc < 0)
		return rc;
	json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "keytype", crypto_key_keytype(key), "scheme",
	                        crypto_key_scheme(key), "keyval", "public", pub);
	if (!obj)
		return ferry_error_set(err, FERRY_E_NOMEM, "key: out of memory");
	*out = obj;
	return 0;
}

int tuf_keyid_of_json(const json_t *obj, char id[TUF_KEYID_HEX_LEN + 1], ferry_error *err)
{
	_cleanup_free_ char *canon = NULL;
	size_t len = 0;
	int rc = tuf_cjson_dump(obj, &canon, &len, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "key ID");
	return crypto_digest_hex(CRYPTO_HASH_SHA256, canon, len, id, err);
}

int tuf_keyid(const struct crypto_key *key, char id[TUF_KEYID_HEX_LEN + 1], ferry_error *err)
{
	_cleanup_json_ json_t *obj = NULL;
	int rc = tuf_key_to_json(key, &obj, err);
	if (rc < 0)
		return rc;
	return tuf_keyid_of_json(obj, id, err);
}
