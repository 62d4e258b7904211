/* repo_keys.c: keys and signing for the TUF repository writer: the
 * private keys in keys/ (loaded once, saved 0600), key objects and sorted key
 * IDs for metadata, which keys a role's delegating role lists, and signing a
 * role's canonical JSON with every one of them that is present. It does not
 * decide which roles change or when they are published (repo.c, repo_edit.c).
 */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "tuf/cjson.h"
#include "tuf/repo_int.h"

/* ---- keys ---- */

static int key_slot(struct tuf_repo *repo, const char *id, struct crypto_key *key, ferry_error *err)
{
	if (repo->nkeys == repo->keys_cap) {
		size_t cap = repo->keys_cap ? repo->keys_cap * 2 : 16;
		struct crypto_key **n = realloc(repo->keys, cap * sizeof(*n));
		if (!n)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		repo->keys = n;
		repo->keys_cap = cap;
	}
	if (json_object_set_new(repo->keyindex, id, json_integer((json_int_t)repo->nkeys)) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	repo->keys[repo->nkeys++] = key;
	return 0;
}

/* The private key with this ID from keys/, or *out NULL when there is no
 * such file (the key is kept offline). */
static int signing_key(struct tuf_repo *repo, const char *id, struct crypto_key **out,
                       ferry_error *err)
{
	json_t *i = json_object_get(repo->keyindex, id);
	if (i) {
		*out = repo->keys[json_integer_value(i)];
		return 0;
	}
	char path[PATH_MAX_LEN];
	int rc = repo_path(repo, path, sizeof(path), err, "keys/%s.pem", id);
	if (rc < 0)
		return rc;
	struct crypto_key *key = NULL;
	if (fs_exists(path)) {
		rc = crypto_key_load_private(path, &key, err);
		if (rc < 0)
			return rc;
	}
	rc = key_slot(repo, id, key, err);
	if (rc < 0) {
		crypto_key_free(key);
		return rc;
	}
	*out = key;
	return 0;
}

int repo_save_key(struct tuf_repo *repo, struct crypto_key *key, char id[TUF_KEYID_HEX_LEN + 1],
                  ferry_error *err)
{
	int rc = tuf_keyid(key, id, err);
	if (rc < 0)
		return rc;
	char path[PATH_MAX_LEN];
	rc = repo_path(repo, path, sizeof(path), err, "keys/%s.pem", id);
	if (rc < 0)
		return rc;
	return crypto_key_save_private(key, path, err);
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Key objects and sorted key IDs of n keys. */
int repo_keys_to_json(struct crypto_key *const *keys, size_t n, json_t **objs, json_t **ids,
                      ferry_error *err)
{
	_cleanup_json_ json_t *o = json_object();
	_cleanup_json_ json_t *a = json_array();
	if (!o || !a)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *k = NULL;
		char id[TUF_KEYID_HEX_LEN + 1];
		int rc = tuf_key_to_json(keys[i], &k, err);
		if (rc < 0)
			return rc;
		rc = tuf_keyid_of_json(k, id, err);
		if (rc < 0) {
			json_decref(k);
			return rc;
		}
		if (json_object_get(o, id)) {
			json_decref(k);
			return ferry_error_set(err, FERRY_E_INVALID, "key %s given twice", id);
		}
		json_object_set_new(o, id, k);
	}
	const char *id;
	json_t *v;
	/* jansson keeps insertion order; sort the IDs for stable output */
	size_t cnt = json_object_size(o), j = 0;
	_cleanup_free_ const char **sorted = calloc(cnt ? cnt : 1, sizeof(*sorted));
	if (!sorted)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	json_object_foreach(o, id, v) sorted[j++] = id;
	qsort(sorted, cnt, sizeof(*sorted), cmp_str_ptr);
	for (j = 0; j < cnt; j++)
		json_array_append_new(a, json_string(sorted[j]));
	*objs = steal_pointer(&o);
	*ids = steal_pointer(&a);
	return 0;
}

/* Sorted, de-duplicated copy of an array of key ID strings. */
json_t *repo_sorted_ids(const json_t *ids)
{
	size_t n = json_array_size(ids);
	_cleanup_free_ const char **v = calloc(n ? n : 1, sizeof(*v));
	json_t *out = json_array();
	if (!v || !out) {
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_string_value(json_array_get(ids, i));
	qsort(v, n, sizeof(*v), cmp_str_ptr);
	for (size_t i = 0; i < n; i++)
		if (v[i] && (i == 0 || strcmp(v[i], v[i - 1]) != 0))
			json_array_append_new(out, json_string(v[i]));
	return out;
}

static void add_used_ids(json_t *used, const json_t *keyids)
{
	size_t i;
	json_t *id;
	json_array_foreach(keyids, i, id) if (json_is_string(id))
	    json_object_set(used, json_string_value(id), json_true());
}

/* Remove from keys every key that no entry's keyids names. entries: an
 * object (root's roles) or an array (delegations' roles). */
void repo_prune_keys(json_t *keys, const json_t *entries)
{
	_cleanup_json_ json_t *used = json_object();
	if (!used)
		return;
	if (json_is_object(entries)) {
		const char *name;
		json_t *e;
		json_object_foreach((json_t *)entries, name, e)
		    add_used_ids(used, json_object_get(e, "keyids"));
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(entries, i, e) add_used_ids(used, json_object_get(e, "keyids"));
	}
	const char *id;
	json_t *v, *tmp;
	json_object_foreach_safe(keys, tmp, id, v) if (!json_object_get(used, id))
	    json_object_del(keys, id);
}

/* ---- signing ---- */

json_t *repo_find_delegation(const json_t *delegating, const char *name)
{
	const json_t *roles = json_object_get(json_object_get(delegating, "delegations"), "roles");
	size_t i;
	json_t *e;
	json_array_foreach(
	    roles, i, e) if (str_eq(json_string_value(json_object_get(e, "name")), name)) return e;
	return NULL;
}

/* The keyids/threshold entry that authorises role r. */
static int role_authority(struct tuf_repo *repo, const struct role *r, json_t **entry,
                          ferry_error *err)
{
	json_t *e = NULL;
	struct role *parent = NULL;
	int rc;
	switch (r->kind) {
	case TUF_REPO_ROOT:
	case TUF_REPO_TARGETS:
	case TUF_REPO_SNAPSHOT:
	case TUF_REPO_TIMESTAMP:
		rc = repo_role_get(repo, "root", &parent, err);
		if (rc < 0)
			return rc;
		e = json_object_get(json_object_get(parent->signed_, "roles"), r->name);
		break;
	case TUF_REPO_BINS:
		rc = repo_role_get(repo, "targets", &parent, err);
		if (rc < 0)
			return rc;
		e = repo_find_delegation(parent->signed_, r->name);
		break;
	case TUF_REPO_PACKAGES: {
		char bin[64];
		const char *pkg = r->name + strlen("pkg-");
		rc = repo_bin_of_package(repo, pkg, bin, sizeof(bin), err);
		if (rc < 0)
			return rc;
		rc = repo_role_get(repo, bin, &parent, err);
		if (rc < 0)
			return rc;
		e = repo_find_delegation(parent->signed_, r->name);
		break;
	}
	}
	if (!e)
		return ferry_error_set(err, FERRY_E_CORRUPT,
		                       "role %s: no delegation names its keys", r->name);
	*entry = e;
	return 0;
}

/* Sign r's "signed" object with every key of its own (and, for a root
 * rotation, of the previous root) found in keys/, check each threshold, and
 * give the canonical JSON of the whole file. */
static int sign_role(struct tuf_repo *repo, struct role *r, char **out, size_t *outlen,
                     ferry_error *err)
{
	json_t *sets[2] = {NULL, NULL};
	int rc = role_authority(repo, r, &sets[0], err);
	if (rc < 0)
		return rc;
	if (r->kind == TUF_REPO_ROOT && repo->prev_root)
		sets[1] = json_object_get(json_object_get(repo->prev_root, "roles"), "root");

	_cleanup_free_ char *canon = NULL;
	size_t clen = 0;
	rc = tuf_cjson_dump(r->signed_, &canon, &clen, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "role %s", r->name);
	_cleanup_json_ json_t *sigs = json_array();
	_cleanup_json_ json_t *done = json_object();
	if (!sigs || !done)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (int s = 0; s < 2; s++) {
		if (!sets[s])
			continue;
		size_t i;
		json_t *idv;
		json_array_foreach(json_object_get(sets[s], "keyids"), i, idv)
		{
			const char *id = json_string_value(idv);
			if (!id || json_object_get(done, id))
				continue;
			struct crypto_key *key = NULL;
			rc = signing_key(repo, id, &key, err);
			if (rc < 0)
				return ferry_error_prefix(err, rc, "sign %s", r->name);
			if (!key)
				continue;
			_cleanup_free_ unsigned char *sig = NULL;
			size_t siglen = 0;
			rc = crypto_key_sign(key, canon, clen, &sig, &siglen, err);
			if (rc < 0)
				return ferry_error_prefix(err, rc, "sign %s with key %s", r->name,
				                          id);
			_cleanup_free_ char *hex = malloc(2 * siglen + 1);
			if (!hex)
				return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			str_hex(sig, siglen, hex);
			json_array_append_new(sigs,
			                      json_pack("{s:s, s:s}", "keyid", id, "sig", hex));
			json_object_set(done, id, json_true());
		}
	}
	for (int s = 0; s < 2; s++) {
		if (!sets[s])
			continue;
		long long threshold = json_integer_value(json_object_get(sets[s], "threshold"));
		long long have = 0;
		size_t i;
		json_t *idv;
		json_array_foreach(json_object_get(sets[s], "keyids"), i,
		                   idv) if (json_object_get(done, json_string_value(idv))) have++;
		if (have < threshold)
			return ferry_error_set(
			    err, FERRY_E_PERM,
			    "sign %s: %lld of the %lld keys needed (%s keys) are in "
			    "%s/keys",
			    r->name, have, threshold, s == 0 ? "its" : "the previous root's",
			    repo->dir);
	}
	_cleanup_json_ json_t *env =
	    json_pack("{s:O, s:O}", "signatures", sigs, "signed", r->signed_);
	if (!env)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	return tuf_cjson_dump(env, out, outlen, err);
}

/* Next version, new expiry, signatures: the file's bytes. */
int repo_finalize_role(struct tuf_repo *repo, struct role *r, time_t now, char **out, size_t *len,
                       ferry_error *err)
{
	long long v = r->version + 1;
	time_t exp =
	    r->expires_override ? r->expires_override : now + (time_t)repo->cfg.expires_s[r->kind];
	char when[32];
	if (repo_format_time(exp, when) < 0)
		return ferry_error_set(err, FERRY_E_INVALID, "role %s: expiry out of range",
		                       r->name);
	if (json_object_set_new(r->signed_, "version", json_integer(v)) < 0 ||
	    json_object_set_new(r->signed_, "expires", json_string(when)) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	int rc = sign_role(repo, r, out, len, err);
	if (rc < 0)
		return rc;
	r->version = v;
	return 0;
}
