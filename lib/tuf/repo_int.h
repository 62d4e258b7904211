/* repo_int.h: what the TUF repository writer's files share: the repository
 * and its roles in memory, paths inside the repository, and the helpers one
 * part calls in another. repo.c: names, files, roles, settings, open, init
 * and commit; repo_keys.c: keys and signing; repo_edit.c: the edits (packages,
 * targets, keys, re-signing). Not a public interface: only lib/tuf/repo*.c
 * include it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/error.h"
#include "crypto/key.h"
#include "tuf/key.h"
#include "tuf/repo.h"

#define TARGET_FILE_MAX (64ull << 30)
#define PATH_MAX_LEN 4096
/* a hex prefix of SHA-256(package name) starts every target path */
#define PATH_PREFIX_DIGITS 4

struct role {
	char *name;
	enum tuf_repo_kind kind;
	json_t *signed_;   /* the "signed" object, owned */
	long long version; /* published version; 0 = not yet published */
	bool dirty;
	time_t expires_override;
};

struct tuf_repo {
	char *dir;
	int lock_fd;
	struct tuf_repo_config cfg;
	json_t *settings; /* repo.json */
	bool settings_dirty;
	struct role **roles;
	size_t nroles, roles_cap;
	json_t *index;     /* role name -> index into roles */
	json_t *prev_root; /* root's "signed" before the first root edit since commit */
	json_t *keyindex;  /* key ID -> index into keys (NULL entry: no key file) */
	struct crypto_key **keys;
	size_t nkeys, keys_cap;
};

/* ---- repo.c ---- */

/* "bin-XX": the hash bin a package's role is delegated from. */
int repo_bin_of_package(const struct tuf_repo *repo, const char *package, char *out, size_t size,
                        ferry_error *err);
int repo_format_time(time_t t, char out[32]);
int repo_parse_time(const char *s, time_t *out);
/* DIR/fmt... into out. */
int repo_path(const struct tuf_repo *repo, char *out, size_t size, ferry_error *err,
              const char *fmt, ...) FERRY_PRINTF(5, 6);
struct role *repo_role_find(const struct tuf_repo *repo, const char *name);
int repo_role_add(struct tuf_repo *repo, const char *name, json_t *signed_, long long version,
                  struct role **out, ferry_error *err);
/* The role called name, loaded from the published tree if needed. Delegated
 * roles are found through the snapshot; FERRY_E_NOTFOUND if not listed. */
int repo_role_get(struct tuf_repo *repo, const char *name, struct role **out, ferry_error *err);
json_t *repo_new_targets_signed(bool with_delegations);
/* Generate n (at most 16) keys, saved into keys/, into keys[] (the
 * caller frees them, also on failure). */
int repo_new_keys(struct tuf_repo *repo, size_t n, struct crypto_key **keys,
                  ferry_error *err) FERRY_WUR;

/* Generate n keys into keys/ and give their key objects and IDs. */
int repo_generate_keys(struct tuf_repo *repo, size_t n, json_t **objs, json_t **ids,
                       ferry_error *err);

/* ---- repo_keys.c ---- */

int repo_save_key(struct tuf_repo *repo, struct crypto_key *key, char id[TUF_KEYID_HEX_LEN + 1],
                  ferry_error *err);
/* Key objects and sorted key IDs of n keys. */
int repo_keys_to_json(struct crypto_key *const *keys, size_t n, json_t **objs, json_t **ids,
                      ferry_error *err);
/* Sorted, de-duplicated copy of an array of key ID strings. */
json_t *repo_sorted_ids(const json_t *ids);
/* Remove from keys every key that no entry's keyids names. entries: an
 * object (root's roles) or an array (delegations' roles). */
void repo_prune_keys(json_t *keys, const json_t *entries);
json_t *repo_find_delegation(const json_t *delegating, const char *name);
/* Next version, new expiry, signatures: the file's bytes. */
int repo_finalize_role(struct tuf_repo *repo, struct role *r, time_t now, char **out, size_t *len,
                       ferry_error *err);
