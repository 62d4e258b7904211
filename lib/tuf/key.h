/* key.h (tuf): TUF key objects and key IDs.
 *
 * A TUF key object is {"keytype": T, "scheme": S, "keyval": {"public": P}}
 * plus any fields a writer added (they count in the key ID). Its key ID is
 * the lower-case hex SHA-256 of the object's canonical JSON (cjson.h).
 * The crypto itself is lib/crypto/key.h. */
#pragma once

#include <jansson.h>

#include "base/error.h"
#include "crypto/key.h"

#define TUF_KEYID_HEX_LEN 64

/* The public key a key object describes. Errors name the field. */
int tuf_key_from_json(const json_t *obj, struct crypto_key **out, ferry_error *err) FERRY_WUR;

/* The key object of key's public half (no other fields). */
int tuf_key_to_json(const struct crypto_key *key, json_t **out, ferry_error *err) FERRY_WUR;

/* Key ID of a key object (any fields), into id (65 bytes). */
int tuf_keyid_of_json(const json_t *obj, char id[TUF_KEYID_HEX_LEN + 1],
                      ferry_error *err) FERRY_WUR;

/* Key ID of tuf_key_to_json(key). */
int tuf_keyid(const struct crypto_key *key, char id[TUF_KEYID_HEX_LEN + 1],
              ferry_error *err) FERRY_WUR;
