/* metadata.h: TUF 1.0 metadata (root, timestamp, snapshot, targets and
 * delegated targets): parsing with validation, signature thresholds, expiry.
 *
 * tuf_metadata_parse() takes the exact bytes of one metadata file and checks
 * its form: {"signatures": [{"keyid", "sig"}...], "signed": {...}} with a
 * known "_type" equal to the expected one, spec_version 1.x, version >= 1,
 * expires as "YYYY-MM-DDTHH:MM:SSZ", and the fields of its type. It keeps the
 * canonical JSON of "signed" (the bytes signatures cover, unknown fields
 * included). Signatures with the same keyid twice are refused (the spec
 * makes them unique). A key of an unsupported type or whose public value does
 * not parse is kept as unusable: it never counts towards a threshold.
 *
 * tuf_verify_threshold() counts, for one role, the distinct keys that
 * produced a valid signature: each key ID of the role at most once, and two
 * key IDs that name the same public key count once too.
 *
 * Bounds: every document is parsed under tuf_metadata_limits (size, depth,
 * value count); a role lists at most TUF_MAX_KEYIDS keys; a threshold is at
 * most TUF_MAX_THRESHOLD. This module does no I/O and reads no clock. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "base/error.h"
#include "crypto/digest.h"
#include "crypto/key.h"
#include "tuf/cjson.h"

enum tuf_role {
	TUF_ROLE_ROOT = 0,
	TUF_ROLE_TIMESTAMP = 1,
	TUF_ROLE_SNAPSHOT = 2,
	TUF_ROLE_TARGETS = 3, /* top-level targets and every delegated role */
};
#define TUF_TOP_ROLES 4

#define TUF_MAX_KEYIDS 256
#define TUF_MAX_THRESHOLD 256
#define TUF_SPEC_VERSION "1.0.31"

/* "root", "timestamp", "snapshot", "targets". */
const char *tuf_role_name(enum tuf_role role);
/* Is name one of the four top-level role names? */
bool tuf_is_top_role_name(const char *name);

struct tuf_hash {
	char *alg; /* as written; may be one ferry does not know */
	char *hex;
};

struct tuf_hashes {
	struct tuf_hash *v;
	size_t n;
};

/* An entry of timestamp's or snapshot's "meta". */
struct tuf_metafile {
	char *name; /* "snapshot.json", "targets.json", "ROLE.json" */
	uint64_t version;
	bool has_length;
	uint64_t length;
	struct tuf_hashes hashes; /* n == 0 when absent */
};

struct tuf_key_entry {
	char *keyid;
	struct crypto_key *key; /* NULL when unusable (unsupported or unparsable) */
};

struct tuf_keyring {
	struct tuf_key_entry *v;
	size_t n;
};

struct tuf_role_keys {
	char **keyids; /* unique */
	size_t nkeyids;
	uint64_t threshold;
};

struct tuf_delegated_role {
	char *name;
	struct tuf_role_keys keys;
	bool terminating;
	char **paths; /* shell-style patterns, or NULL */
	size_t npaths;
	char **hash_prefixes; /* hex prefixes of sha256(target path), or NULL */
	size_t nhash_prefixes;
};

/* TAP 15 succinct hash-bin delegation: 2^bit_length roles named
 * NAME_PREFIX-HEX, a target going to the bin of the top bit_length bits of
 * sha256(path). */
struct tuf_succinct_roles {
	unsigned bit_length; /* 1..32 */
	char *name_prefix;
	struct tuf_role_keys keys;
};

struct tuf_delegations {
	struct tuf_keyring keys;
	struct tuf_delegated_role *roles; /* in order of appearance */
	size_t nroles;
	struct tuf_succinct_roles *succinct; /* instead of roles, or NULL */
};

struct tuf_target {
	char *path;
	uint64_t length;
	struct tuf_hashes hashes; /* at least one */
	json_t *custom;           /* borrowed from the document, or NULL */
};

struct tuf_signature {
	char *keyid;
	unsigned char *sig; /* NULL when "sig" was not hex */
	size_t siglen;
};

struct tuf_metadata {
	enum tuf_role type;
	char *spec_version;
	uint64_t version;
	time_t expires;
	json_t *doc;        /* the whole parsed document */
	char *signed_bytes; /* canonical JSON of "signed" */
	size_t signed_len;
	struct tuf_signature *sigs;
	size_t nsigs;

	struct {
		bool consistent_snapshot;
		struct tuf_keyring keys;
		struct tuf_role_keys roles[TUF_TOP_ROLES];
	} root;
	struct {
		struct tuf_metafile snapshot;
	} timestamp;
	struct {
		struct tuf_metafile *meta;
		size_t nmeta;
	} snapshot;
	struct {
		struct tuf_target *targets;
		size_t ntargets;
		struct tuf_delegations *delegations; /* NULL when absent */
	} targets;
};

/* Limits every metadata document is parsed under (16 MiB, depth 32). */
extern const struct tuf_json_limits tuf_metadata_limits;

/* Parse and validate one metadata file of the expected type. Errors say
 * which field is wrong: "snapshot: signed.meta.targets.json.version:
 * expected an integer >= 1". */
int tuf_metadata_parse(const void *data, size_t len, enum tuf_role expected,
                       struct tuf_metadata **out, ferry_error *err) FERRY_WUR;
void tuf_metadata_free(struct tuf_metadata *md);

static inline void tuf_metadata_freep(struct tuf_metadata **md)
{
	if (*md)
		tuf_metadata_free(*md);
}
#define _cleanup_metadata_ __attribute__((cleanup(tuf_metadata_freep)))

/* Check that md is signed by a threshold of the role's keys, looked up in
 * keys. role_name is for messages. Returns 0 or FERRY_E_VERIFY ("snapshot: 1
 * of 3 required signatures"). */
int tuf_verify_threshold(const struct tuf_metadata *md, const struct tuf_keyring *keys,
                         const struct tuf_role_keys *role, const char *role_name,
                         ferry_error *err) FERRY_WUR;

/* Has md expired at now? (expires <= now, as the spec compares). */
bool tuf_metadata_expired(const struct tuf_metadata *md, time_t now);

/* Parse "YYYY-MM-DDTHH:MM:SSZ" (UTC). */
int tuf_parse_expires(const char *s, time_t *out) FERRY_WUR;

/* The entry of snapshot meta called name ("targets.json"), or NULL. */
const struct tuf_metafile *tuf_snapshot_find(const struct tuf_metadata *snapshot, const char *name);
/* The target called path in a targets role, or NULL. */
const struct tuf_target *tuf_targets_find(const struct tuf_metadata *targets, const char *path);

/* One child role that a delegator trusts for a target path. */
struct tuf_role_match {
	char name[512];
	const struct tuf_role_keys *keys;
	bool terminating;
};

/* The delegated roles of d that may sign target path, in order (a succinct
 * delegation gives exactly one, terminating). Fills at most max entries and
 * returns how many (<= max), or a negative ferry_err. */
int tuf_delegations_match(const struct tuf_delegations *d, const char *path,
                          struct tuf_role_match *out, size_t max, ferry_error *err) FERRY_WUR;

/* Does one delegated role's paths / path_hash_prefixes cover target path?
 * Patterns match as fnmatch() with '*' and '?' not crossing '/'. */
bool tuf_role_matches_path(const struct tuf_delegated_role *role, const char *path);

/* Verify data (its bytes) against a length and hashes. Every hash listed must
 * be of a known algorithm and match; at least one is required when
 * need_hash. Errors: FERRY_E_VERIFY. what names the thing. */
int tuf_check_length_hashes(const void *data, size_t len, bool has_length, uint64_t length,
                            const struct tuf_hashes *hashes, bool need_hash, const char *what,
                            ferry_error *err) FERRY_WUR;
