/* repo.c: the TUF repository writer (see repo.h for the layout and the
 * delegation structure). It builds the "signed" part of each role with
 * jansson, signs its canonical JSON (cjson.h) with every key of the role found
 * in keys/ (crypto/key.h), and publishes in an order that never leaves the
 * published tree pointing at a missing file. It does not verify metadata the
 * way a client must (it trusts its own directory), serve HTTP, or prune old
 * versions. */
#include "tuf/repo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/str.h"
#include "crypto/digest.h"
#include "pkg/name.h"
#include "tuf/cjson.h"
#include "tuf/key.h"

#define SPEC_VERSION "1.0.31"
#define SETTINGS_MAX (1u << 20)
#define ROOT_VERSIONS_MAX 100000
#define TARGET_FILE_MAX (64ull << 30)
#define PATH_MAX_LEN 4096
/* a hex prefix of SHA-256(package name) starts every target path */
#define PATH_PREFIX_DIGITS 4

/* The writer reads back only files it wrote itself, but still bounds them:
 * a snapshot of a million packages stays well below these. */
static const struct tuf_json_limits own_limits = {
    .max_bytes = 256u << 20,
    .max_depth = 32,
    .max_values = 50000000,
};

static const char *const kind_names[TUF_REPO_KIND_COUNT] = {
    "root", "targets", "snapshot", "timestamp", "bins", "packages",
};

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

DEFINE_CLEANUP(struct tuf_repo *, tuf_repo_close)

/* ---- names, paths, time ---- */

void tuf_repo_config_default(struct tuf_repo_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	const long long day = 86400;
	cfg->expires_s[TUF_REPO_ROOT] = 365 * day;
	cfg->expires_s[TUF_REPO_TARGETS] = 90 * day;
	cfg->expires_s[TUF_REPO_SNAPSHOT] = 7 * day;
	cfg->expires_s[TUF_REPO_TIMESTAMP] = 1 * day;
	cfg->expires_s[TUF_REPO_BINS] = 90 * day;
	cfg->expires_s[TUF_REPO_PACKAGES] = 90 * day;
	for (int k = 0; k < TUF_REPO_KIND_COUNT; k++) {
		cfg->nkeys[k] = 1;
		cfg->threshold[k] = 1;
	}
	cfg->bin_digits = 2;
	cfg->key_type = CRYPTO_KEY_ED25519;
	cfg->sha512 = false;
}

const char *tuf_repo_kind_name(enum tuf_repo_kind kind)
{
	if ((unsigned)kind >= TUF_REPO_KIND_COUNT)
		return "?";
	return kind_names[kind];
}

int tuf_repo_kind_from_name(const char *name)
{
	for (int k = 0; k < TUF_REPO_KIND_COUNT; k++)
		if (str_eq(name, kind_names[k]))
			return k;
	return -1;
}

static const char *key_type_name(enum crypto_key_type t)
{
	switch (t) {
	case CRYPTO_KEY_ED25519:
		return "ed25519";
	case CRYPTO_KEY_ECDSA_P256:
		return "ecdsa";
	case CRYPTO_KEY_RSA:
		return "rsa";
	}
	return "?";
}

static int key_type_from_name(const char *s, enum crypto_key_type *out)
{
	if (str_eq(s, "ed25519"))
		*out = CRYPTO_KEY_ED25519;
	else if (str_eq(s, "ecdsa"))
		*out = CRYPTO_KEY_ECDSA_P256;
	else if (str_eq(s, "rsa"))
		*out = CRYPTO_KEY_RSA;
	else
		return -1;
	return 0;
}

/* The package-name rule of pkg/name.h, with an error that names it. */
static int check_package_name(const char *package, ferry_error *err)
{
	const char *why = package ? pkg_name_problem(package, PKG_NAME_MIN) : "missing";
	if (why)
		return ferry_error_set(err, FERRY_E_INVALID, "package name '%s': expected %s",
		                       package ? package : "", why);
	return 0;
}

bool tuf_repo_file_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > TUF_REPO_FILE_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || strchr("._+~-", c) != NULL;
		if (!ok)
			return false;
	}
	return true;
}

static int name_hash_hex(const char *package, char hex[CRYPTO_DIGEST_HEX_MAX], ferry_error *err)
{
	return crypto_digest_hex(CRYPTO_HASH_SHA256, package, strlen(package), hex, err);
}

int tuf_repo_target_path(const char *package, const char *file, char *out, size_t size,
                         ferry_error *err)
{
	int rc = check_package_name(package, err);
	if (rc < 0)
		return rc;
	if (!tuf_repo_file_name_valid(file))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "target file name '%s': expected letters, digits and ._+~- "
		                       "(not first '.'), at most %d bytes",
		                       file ? file : "", TUF_REPO_FILE_MAX);
	char hex[CRYPTO_DIGEST_HEX_MAX];
	rc = name_hash_hex(package, hex, err);
	if (rc < 0)
		return rc;
	if (str_printf(out, size, "%.*s/%s/%s", PATH_PREFIX_DIGITS, hex, package, file) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "target path of %s/%s: too long",
		                       package, file);
	return 0;
}

int tuf_repo_package_role(const char *package, char *out, size_t size, ferry_error *err)
{
	int rc = check_package_name(package, err);
	if (rc < 0)
		return rc;
	if (str_printf(out, size, "pkg-%s", package) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "role name of %s: too long", package);
	return 0;
}

static int bin_of_package(const struct tuf_repo *repo, const char *package, char *out, size_t size,
                          ferry_error *err)
{
	char hex[CRYPTO_DIGEST_HEX_MAX];
	int rc = name_hash_hex(package, hex, err);
	if (rc < 0)
		return rc;
	return str_printf(out, size, "bin-%.*s", (int)repo->cfg.bin_digits, hex);
}

static int format_time(time_t t, char out[32])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return FERRY_E_INVALID;
	return 0;
}

static int parse_time(const char *s, time_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (!end || *end)
		return FERRY_E_INVALID;
	*out = timegm(&tm);
	return 0;
}

static enum tuf_repo_kind kind_of_role(const char *name)
{
	int k = tuf_repo_kind_from_name(name);
	if (k >= 0 && k <= TUF_REPO_TIMESTAMP)
		return (enum tuf_repo_kind)k;
	if (str_has_prefix(name, "bin-"))
		return TUF_REPO_BINS;
	return TUF_REPO_PACKAGES;
}

/* ---- files ---- */

static int repo_path(const struct tuf_repo *repo, char *out, size_t size, ferry_error *err,
                     const char *fmt, ...) FERRY_PRINTF(5, 6);
static int repo_path(const struct tuf_repo *repo, char *out, size_t size, ferry_error *err,
                     const char *fmt, ...)
{
	char rel[PATH_MAX_LEN];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel) || str_printf(out, size, "%s/%s", repo->dir, rel) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "path in %s: too long", repo->dir);
	return 0;
}

/* Write path by temp file + rename, without fsync: for files that nothing
 * refers to yet (the commit syncs the file system before it refers to them). */
static int write_unsynced(const char *path, const void *data, size_t len, mode_t mode,
                          ferry_error *err)
{
	char tmp[PATH_MAX_LEN];
	if (str_printf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", path);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create temporary file for %s",
		                         path);
	if (fs_write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0) {
		int e = errno;
		unlink(tmp);
		return ferry_error_errno(err, FERRY_E_IO, e, "write %s", tmp);
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return ferry_error_errno(err, FERRY_E_IO, e, "rename %s to %s", tmp, path);
	}
	return 0;
}

static int sync_fs(const struct tuf_repo *repo, ferry_error *err)
{
	_cleanup_close_ int fd = open(repo->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "sync file system of %s",
		                         repo->dir);
	return 0;
}

/* ---- roles in memory ---- */

static void role_free(struct role *r)
{
	if (!r)
		return;
	free(r->name);
	json_decref(r->signed_);
	free(r);
}

static struct role *role_find(const struct tuf_repo *repo, const char *name)
{
	json_t *i = json_object_get(repo->index, name);
	if (!i)
		return NULL;
	return repo->roles[json_integer_value(i)];
}

static int role_add(struct tuf_repo *repo, const char *name, json_t *signed_, long long version,
                    struct role **out, ferry_error *err)
{
	if (repo->nroles == repo->roles_cap) {
		size_t cap = repo->roles_cap ? repo->roles_cap * 2 : 64;
		struct role **n = realloc(repo->roles, cap * sizeof(*n));
		if (!n)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		repo->roles = n;
		repo->roles_cap = cap;
	}
	struct role *r = calloc(1, sizeof(*r));
	if (!r || !(r->name = strdup(name))) {
		free(r);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	r->kind = kind_of_role(name);
	r->signed_ = json_incref(signed_);
	r->version = version;
	if (json_object_set_new(repo->index, name, json_integer((json_int_t)repo->nroles)) < 0) {
		role_free(r);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	repo->roles[repo->nroles++] = r;
	if (out)
		*out = r;
	return 0;
}

/* Read VERSION.NAME.json (or NAME.json when version is 0) and return its
 * "signed" object (new reference). */
static int read_signed(const struct tuf_repo *repo, const char *name, long long version,
                       json_t **out, ferry_error *err)
{
	char path[PATH_MAX_LEN];
	int rc = version > 0
	             ? repo_path(repo, path, sizeof(path), err, "published/metadata/%lld.%s.json",
	                         version, name)
	             : repo_path(repo, path, sizeof(path), err, "published/metadata/%s.json", name);
	if (rc < 0)
		return rc;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	rc = fs_read_file(path, own_limits.max_bytes, &data, &len, err);
	if (rc < 0)
		return rc;
	_cleanup_json_ json_t *doc = NULL;
	rc = tuf_json_parse(data, len, &own_limits, &doc, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s", path);
	json_t *s = json_object_get(doc, "signed");
	if (!json_is_object(s) || !json_is_integer(json_object_get(s, "version")))
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: no signed object with a version",
		                       path);
	if (version > 0 && json_integer_value(json_object_get(s, "version")) != version)
		return ferry_error_set(
		    err, FERRY_E_CORRUPT, "%s: holds version %lld", path,
		    (long long)json_integer_value(json_object_get(s, "version")));
	*out = json_incref(s);
	return 0;
}

/* The role called name, loaded from the published tree if needed. Delegated
 * roles are found through the snapshot; FERRY_E_NOTFOUND if not listed. */
static int role_get(struct tuf_repo *repo, const char *name, struct role **out, ferry_error *err)
{
	struct role *r = role_find(repo, name);
	if (r) {
		*out = r;
		return 0;
	}
	struct role *snap = role_find(repo, "snapshot");
	if (!snap)
		return ferry_error_set(err, FERRY_E_INTERNAL, "no snapshot loaded");
	char key[PATH_MAX_LEN];
	if (str_printf(key, sizeof(key), "%s.json", name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "role name %s: too long", name);
	json_t *m = json_object_get(json_object_get(snap->signed_, "meta"), key);
	if (!m)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "role %s: not in the repository",
		                       name);
	long long v = json_integer_value(json_object_get(m, "version"));
	_cleanup_json_ json_t *s = NULL;
	int rc = read_signed(repo, name, v, &s, err);
	if (rc < 0)
		return rc;
	return role_add(repo, name, s, v, out, err);
}

static json_t *new_targets_signed(bool with_delegations)
{
	json_t *s = json_pack("{s:s, s:s, s:i, s:s, s:{}}", "_type", "targets", "spec_version",
	                      SPEC_VERSION, "version", 0, "expires", "", "targets");
	if (s && with_delegations &&
	    json_object_set_new(s, "delegations", json_pack("{s:{}, s:[]}", "keys", "roles")) < 0) {
		json_decref(s);
		return NULL;
	}
	return s;
}

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

static int save_key(struct tuf_repo *repo, struct crypto_key *key, char id[TUF_KEYID_HEX_LEN + 1],
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
static int keys_to_json(struct crypto_key *const *keys, size_t n, json_t **objs, json_t **ids,
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
static json_t *sorted_ids(const json_t *ids)
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
static void prune_keys(json_t *keys, const json_t *entries)
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

static json_t *find_delegation(const json_t *delegating, const char *name)
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
		rc = role_get(repo, "root", &parent, err);
		if (rc < 0)
			return rc;
		e = json_object_get(json_object_get(parent->signed_, "roles"), r->name);
		break;
	case TUF_REPO_BINS:
		rc = role_get(repo, "targets", &parent, err);
		if (rc < 0)
			return rc;
		e = find_delegation(parent->signed_, r->name);
		break;
	case TUF_REPO_PACKAGES: {
		char bin[64];
		const char *pkg = r->name + strlen("pkg-");
		rc = bin_of_package(repo, pkg, bin, sizeof(bin), err);
		if (rc < 0)
			return rc;
		rc = role_get(repo, bin, &parent, err);
		if (rc < 0)
			return rc;
		e = find_delegation(parent->signed_, r->name);
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
static int finalize_role(struct tuf_repo *repo, struct role *r, time_t now, char **out, size_t *len,
                         ferry_error *err)
{
	long long v = r->version + 1;
	time_t exp =
	    r->expires_override ? r->expires_override : now + (time_t)repo->cfg.expires_s[r->kind];
	char when[32];
	if (format_time(exp, when) < 0)
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

/* ---- settings ---- */

static int settings_from_cfg(const struct tuf_repo_config *cfg, json_t *pkg_keys, json_t *pkg_ids,
                             json_t **out, ferry_error *err)
{
	json_t *exp = json_object();
	if (!exp)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (int k = 0; k < TUF_REPO_KIND_COUNT; k++)
		json_object_set_new(exp, kind_names[k], json_integer(cfg->expires_s[k]));
	json_t *s = json_pack(
	    "{s:i, s:i, s:s, s:b, s:b, s:o, s:{s:O, s:O, s:i}}", "format", 1, "bin_digits",
	    (int)cfg->bin_digits, "key_type", key_type_name(cfg->key_type), "sha512", cfg->sha512,
	    "shared_package_keys", cfg->shared_package_keys, "expires", exp, "package_keys", "keys",
	    pkg_keys, "keyids", pkg_ids, "threshold", (int)cfg->threshold[TUF_REPO_PACKAGES]);
	if (!s)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	*out = s;
	return 0;
}

static int cfg_from_settings(const json_t *s, struct tuf_repo_config *cfg, ferry_error *err)
{
	tuf_repo_config_default(cfg);
	if (json_integer_value(json_object_get(s, "format")) != 1)
		return ferry_error_set(err, FERRY_E_UNSUPPORTED, "repo.json: unknown format");
	json_int_t d = json_integer_value(json_object_get(s, "bin_digits"));
	if (d < 1 || d > 3)
		return ferry_error_set(err, FERRY_E_CORRUPT,
		                       "repo.json: bin_digits: expected 1..3");
	cfg->bin_digits = (unsigned)d;
	if (key_type_from_name(json_string_value(json_object_get(s, "key_type")), &cfg->key_type) <
	    0)
		return ferry_error_set(err, FERRY_E_CORRUPT, "repo.json: key_type: unknown");
	cfg->sha512 = json_is_true(json_object_get(s, "sha512"));
	cfg->shared_package_keys = json_is_true(json_object_get(s, "shared_package_keys"));
	json_t *exp = json_object_get(s, "expires");
	for (int k = 0; k < TUF_REPO_KIND_COUNT; k++) {
		json_int_t v = json_integer_value(json_object_get(exp, kind_names[k]));
		if (v <= 0)
			return ferry_error_set(err, FERRY_E_CORRUPT,
			                       "repo.json: expires.%s: expected seconds > 0",
			                       kind_names[k]);
		cfg->expires_s[k] = v;
	}
	json_t *pk = json_object_get(s, "package_keys");
	cfg->nkeys[TUF_REPO_PACKAGES] = (unsigned)json_array_size(json_object_get(pk, "keyids"));
	cfg->threshold[TUF_REPO_PACKAGES] =
	    (unsigned)json_integer_value(json_object_get(pk, "threshold"));
	if (!json_is_object(json_object_get(pk, "keys")) ||
	    !json_is_array(json_object_get(pk, "keyids")) ||
	    json_integer_value(json_object_get(pk, "threshold")) < 1)
		return ferry_error_set(err, FERRY_E_CORRUPT, "repo.json: package_keys: malformed");
	return 0;
}

/* ---- open, init, close ---- */

static int repo_alloc(const char *dir, struct tuf_repo **out, ferry_error *err)
{
	struct tuf_repo *repo = calloc(1, sizeof(*repo));
	if (!repo)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	repo->lock_fd = -1;
	repo->dir = strdup(dir);
	repo->index = json_object();
	repo->keyindex = json_object();
	if (!repo->dir || !repo->index || !repo->keyindex) {
		tuf_repo_close(repo);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	char path[PATH_MAX_LEN];
	int rc = repo_path(repo, path, sizeof(path), err, "lock");
	if (rc < 0) {
		tuf_repo_close(repo);
		return rc;
	}
	repo->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (repo->lock_fd < 0) {
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "open %s", path);
		tuf_repo_close(repo);
		return rc;
	}
	if (flock(repo->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK
		         ? ferry_error_set(err, FERRY_E_BUSY,
		                           "repository %s: another writer has it open", dir)
		         : ferry_error_errno(err, FERRY_E_IO, errno, "lock %s", path);
		tuf_repo_close(repo);
		return rc;
	}
	*out = repo;
	return 0;
}

void tuf_repo_close(struct tuf_repo *repo)
{
	if (!repo)
		return;
	for (size_t i = 0; i < repo->nroles; i++)
		role_free(repo->roles[i]);
	free(repo->roles);
	for (size_t i = 0; i < repo->nkeys; i++)
		crypto_key_free(repo->keys[i]);
	free(repo->keys);
	json_decref(repo->index);
	json_decref(repo->keyindex);
	json_decref(repo->settings);
	json_decref(repo->prev_root);
	if (repo->lock_fd >= 0)
		close(repo->lock_fd); /* releases the flock */
	free(repo->dir);
	free(repo);
}

static int check_config(const struct tuf_repo_config *cfg, ferry_error *err)
{
	if (cfg->bin_digits < 1 || cfg->bin_digits > 3)
		return ferry_error_set(err, FERRY_E_INVALID, "bin digits: expected 1, 2 or 3");
	for (int k = 0; k < TUF_REPO_KIND_COUNT; k++) {
		if (cfg->nkeys[k] < 1 || cfg->nkeys[k] > 16)
			return ferry_error_set(err, FERRY_E_INVALID, "%s keys: expected 1..16",
			                       kind_names[k]);
		if (cfg->threshold[k] < 1 || cfg->threshold[k] > cfg->nkeys[k])
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "%s threshold: expected 1..%u (its key count)",
			                       kind_names[k], cfg->nkeys[k]);
		if (cfg->expires_s[k] <= 0 || cfg->expires_s[k] > 100LL * 366 * 86400)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "%s expiry: expected 1 second to 100 years",
			                       kind_names[k]);
	}
	return 0;
}

/* Generate n keys into keys/ and give their key objects and IDs. */
static int generate_keys(struct tuf_repo *repo, size_t n, json_t **objs, json_t **ids,
                         ferry_error *err)
{
	struct crypto_key *keys[16] = {NULL};
	int rc = 0;
	if (n > 16)
		return ferry_error_set(err, FERRY_E_INVALID, "at most 16 keys per role");
	for (size_t i = 0; i < n && rc == 0; i++) {
		char id[TUF_KEYID_HEX_LEN + 1];
		rc = crypto_key_generate(repo->cfg.key_type, &keys[i], err);
		if (rc == 0)
			rc = save_key(repo, keys[i], id, err);
	}
	if (rc == 0)
		rc = keys_to_json(keys, n, objs, ids, err);
	for (size_t i = 0; i < n; i++)
		crypto_key_free(keys[i]);
	return rc;
}

int tuf_repo_init(const char *dir, const struct tuf_repo_config *cfg, ferry_error *err)
{
	int rc = check_config(cfg, err);
	if (rc < 0)
		return rc;
	if (fs_exists(dir)) {
		char probe[PATH_MAX_LEN];
		if (str_printf(probe, sizeof(probe), "%s/repo.json", dir) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
		if (fs_exists(probe))
			return ferry_error_set(err, FERRY_E_EXISTS, "%s: already a repository",
			                       dir);
	}
	static const char *const subdirs[] = {"keys", "published/metadata", "published/targets"};
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		char p[PATH_MAX_LEN];
		if (str_printf(p, sizeof(p), "%s/%s", dir, subdirs[i]) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
		rc = fs_mkdir_p(dir, 0755, err);
		if (rc == 0)
			rc = fs_mkdir_p(p, i == 0 ? 0700 : 0755, err);
		if (rc < 0)
			return rc;
	}
	_cleanup_(tuf_repo_closep) struct tuf_repo *repo = NULL;
	rc = repo_alloc(dir, &repo, err);
	if (rc < 0)
		return rc;
	repo->cfg = *cfg;

	json_t *objs[TUF_REPO_KIND_COUNT] = {NULL}, *ids[TUF_REPO_KIND_COUNT] = {NULL};
	for (int k = 0; k < TUF_REPO_KIND_COUNT && rc == 0; k++)
		rc = generate_keys(repo, cfg->nkeys[k], &objs[k], &ids[k], err);
	_cleanup_json_ json_t *root = NULL, *targets = NULL, *snap = NULL, *ts = NULL;
	if (rc == 0) {
		root = json_pack("{s:s, s:s, s:i, s:s, s:b, s:{}, s:{}}", "_type", "root",
		                 "spec_version", SPEC_VERSION, "version", 0, "expires", "",
		                 "consistent_snapshot", 1, "keys", "roles");
		targets = new_targets_signed(true);
		snap = json_pack("{s:s, s:s, s:i, s:s, s:{}}", "_type", "snapshot", "spec_version",
		                 SPEC_VERSION, "version", 0, "expires", "", "meta");
		ts = json_pack("{s:s, s:s, s:i, s:s, s:{}}", "_type", "timestamp", "spec_version",
		               SPEC_VERSION, "version", 0, "expires", "", "meta");
		if (!root || !targets || !snap || !ts)
			rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	for (int k = TUF_REPO_ROOT; k <= TUF_REPO_TIMESTAMP && rc == 0; k++) {
		json_object_update(json_object_get(root, "keys"), objs[k]);
		json_object_set_new(
		    json_object_get(root, "roles"), kind_names[k],
		    json_pack("{s:O, s:i}", "keyids", ids[k], "threshold", (int)cfg->threshold[k]));
	}
	if (rc == 0)
		rc = settings_from_cfg(cfg, objs[TUF_REPO_PACKAGES], ids[TUF_REPO_PACKAGES],
		                       &repo->settings, err);
	if (rc == 0)
		rc = role_add(repo, "root", root, 0, NULL, err);
	if (rc == 0)
		rc = role_add(repo, "targets", targets, 0, NULL, err);
	if (rc == 0)
		rc = role_add(repo, "snapshot", snap, 0, NULL, err);
	if (rc == 0)
		rc = role_add(repo, "timestamp", ts, 0, NULL, err);
	/* the bins, all delegated from targets with the bins keys */
	json_t *dele = json_object_get(targets, "delegations");
	if (rc == 0)
		json_object_update(json_object_get(dele, "keys"), objs[TUF_REPO_BINS]);
	unsigned nbins = 1u << (4 * cfg->bin_digits);
	for (unsigned b = 0; b < nbins && rc == 0; b++) {
		char name[32], pattern[32];
		snprintf(name, sizeof(name), "bin-%0*x", (int)cfg->bin_digits, b);
		snprintf(pattern, sizeof(pattern), "%0*x*/*/*", (int)cfg->bin_digits, b);
		json_t *e =
		    json_pack("{s:s, s:O, s:i, s:b, s:[s]}", "name", name, "keyids",
		              ids[TUF_REPO_BINS], "threshold", (int)cfg->threshold[TUF_REPO_BINS],
		              "terminating", 1, "paths", pattern);
		_cleanup_json_ json_t *bin = new_targets_signed(true);
		if (!e || !bin || json_array_append_new(json_object_get(dele, "roles"), e) < 0)
			rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		else
			rc = role_add(repo, name, bin, 0, NULL, err);
	}
	for (int k = 0; k < TUF_REPO_KIND_COUNT; k++) {
		json_decref(objs[k]);
		json_decref(ids[k]);
	}
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < repo->nroles; i++)
		repo->roles[i]->dirty = true;
	repo->settings_dirty = true;
	return tuf_repo_commit(repo, err);
}

int tuf_repo_open(const char *dir, struct tuf_repo **out, ferry_error *err)
{
	_cleanup_(tuf_repo_closep) struct tuf_repo *repo = NULL;
	char path[PATH_MAX_LEN];
	if (str_printf(path, sizeof(path), "%s/repo.json", dir) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
	if (!fs_exists(path))
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: not a repository (no repo.json)",
		                       dir);
	int rc = repo_alloc(dir, &repo, err);
	if (rc < 0)
		return rc;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	rc = fs_read_file(path, SETTINGS_MAX, &data, &len, err);
	if (rc < 0)
		return rc;
	rc = tuf_json_parse(data, len, NULL, &repo->settings, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s", path);
	rc = cfg_from_settings(repo->settings, &repo->cfg, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s", dir);

	long long rv = 0;
	for (long long v = 1; v <= ROOT_VERSIONS_MAX; v++) {
		rc = repo_path(repo, path, sizeof(path), err, "published/metadata/%lld.root.json",
		               v);
		if (rc < 0)
			return rc;
		if (!fs_exists(path))
			break;
		rv = v;
	}
	if (rv == 0)
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: no 1.root.json", dir);
	_cleanup_json_ json_t *root = NULL, *ts = NULL, *snap = NULL;
	rc = read_signed(repo, "root", rv, &root, err);
	if (rc == 0)
		rc = role_add(repo, "root", root, rv, NULL, err);
	if (rc == 0)
		rc = read_signed(repo, "timestamp", 0, &ts, err);
	long long tv = json_integer_value(json_object_get(ts, "version"));
	long long sv = json_integer_value(json_object_get(
	    json_object_get(json_object_get(ts, "meta"), "snapshot.json"), "version"));
	if (rc == 0)
		rc = role_add(repo, "timestamp", ts, tv, NULL, err);
	if (rc == 0)
		rc = read_signed(repo, "snapshot", sv, &snap, err);
	if (rc == 0)
		rc = role_add(repo, "snapshot", snap, sv, NULL, err);
	if (rc < 0)
		return rc;
	*out = steal_pointer(&repo);
	return 0;
}

/* ---- commit ---- */

struct pending {
	char path[PATH_MAX_LEN];
	char *data;
	size_t len;
};

static void pending_free(struct pending *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].data);
	free(p);
}

int tuf_repo_commit(struct tuf_repo *repo, ferry_error *err)
{
	bool any = false;
	for (size_t i = 0; i < repo->nroles; i++)
		any = any || repo->roles[i]->dirty;
	int rc;
	if (repo->settings_dirty) {
		_cleanup_free_ char *s = NULL;
		size_t len = 0;
		char path[PATH_MAX_LEN];
		rc = repo_path(repo, path, sizeof(path), err, "repo.json");
		if (rc == 0)
			rc = tuf_cjson_dump(repo->settings, &s, &len, err);
		if (rc == 0)
			rc = fs_write_atomic(path, s, len, 0644, err);
		if (rc < 0)
			return rc;
		repo->settings_dirty = false;
	}
	if (!any)
		return 0;

	time_t now = time(NULL);
	struct role *root = role_find(repo, "root"), *snap = role_find(repo, "snapshot"),
	            *ts = role_find(repo, "timestamp");
	if (!root || !snap || !ts)
		return ferry_error_set(err, FERRY_E_INTERNAL, "top-level roles not loaded");
	json_t *snapmeta = json_object_get(snap->signed_, "meta");

	size_t npend = 0;
	struct pending *pend = NULL;
	_cleanup_free_ char *snap_data = NULL, *root_data = NULL, *ts_data = NULL;
	size_t snap_len = 0, root_len = 0, ts_len = 0;
	rc = 0;
	for (size_t i = 0; i < repo->nroles && rc == 0; i++) {
		struct role *r = repo->roles[i];
		if (!r->dirty || r->kind == TUF_REPO_ROOT || r->kind == TUF_REPO_SNAPSHOT ||
		    r->kind == TUF_REPO_TIMESTAMP)
			continue;
		if (!pend) {
			pend = calloc(repo->nroles, sizeof(*pend));
			if (!pend) {
				rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
				break;
			}
		}
		struct pending *p = &pend[npend];
		rc = finalize_role(repo, r, now, &p->data, &p->len, err);
		if (rc < 0)
			break;
		npend++;
		rc = repo_path(repo, p->path, sizeof(p->path), err,
		               "published/metadata/%lld.%s.json", r->version, r->name);
		char key[PATH_MAX_LEN];
		snprintf(key, sizeof(key), "%s.json", r->name);
		if (rc == 0 &&
		    json_object_set_new(snapmeta, key,
		                        json_pack("{s:I}", "version", (json_int_t)r->version)) < 0)
			rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		snap->dirty = true;
	}
	if (rc == 0 && snap->dirty) {
		rc = finalize_role(repo, snap, now, &snap_data, &snap_len, err);
		if (rc == 0 && json_object_set_new(
		                   json_object_get(ts->signed_, "meta"), "snapshot.json",
		                   json_pack("{s:I, s:I}", "version", (json_int_t)snap->version,
		                             "length", (json_int_t)snap_len)) < 0)
			rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	if (rc == 0 && root->dirty)
		rc = finalize_role(repo, root, now, &root_data, &root_len, err);
	if (rc == 0)
		rc = finalize_role(repo, ts, now, &ts_data, &ts_len, err);

	/* Everything is signed: publish, lowest first. */
	for (size_t i = 0; i < npend && rc == 0; i++)
		rc = write_unsynced(pend[i].path, pend[i].data, pend[i].len, 0644, err);
	pending_free(pend, npend);
	if (rc == 0 && FAULT("tuf_repo.sync"))
		rc = ferry_error_set(err, FERRY_E_FAULT, "fault point tuf_repo.sync");
	if (rc == 0)
		rc = sync_fs(repo, err);
	char path[PATH_MAX_LEN];
	if (rc == 0 && snap_data) {
		rc = repo_path(repo, path, sizeof(path), err,
		               "published/metadata/%lld.snapshot.json", snap->version);
		if (rc == 0)
			rc = fs_write_atomic(path, snap_data, snap_len, 0644, err);
	}
	if (rc == 0 && FAULT("tuf_repo.root"))
		rc = ferry_error_set(err, FERRY_E_FAULT, "fault point tuf_repo.root");
	if (rc == 0 && root_data) {
		rc = repo_path(repo, path, sizeof(path), err, "published/metadata/%lld.root.json",
		               root->version);
		if (rc == 0)
			rc = fs_write_atomic(path, root_data, root_len, 0644, err);
		/* an unversioned copy for bootstrapping; clients fetch N.root.json */
		if (rc == 0)
			rc = repo_path(repo, path, sizeof(path), err,
			               "published/metadata/root.json");
		if (rc == 0)
			rc = fs_write_atomic(path, root_data, root_len, 0644, err);
	}
	if (rc == 0 && FAULT("tuf_repo.timestamp"))
		rc = ferry_error_set(err, FERRY_E_FAULT, "fault point tuf_repo.timestamp");
	if (rc == 0) {
		rc = repo_path(repo, path, sizeof(path), err, "published/metadata/timestamp.json");
		if (rc == 0)
			rc = fs_write_atomic(path, ts_data, ts_len, 0644, err);
	}
	if (rc < 0)
		return ferry_error_prefix(err, rc, "publish %s", repo->dir);
	for (size_t i = 0; i < repo->nroles; i++) {
		repo->roles[i]->dirty = false;
		repo->roles[i]->expires_override = 0;
	}
	json_decref(repo->prev_root);
	repo->prev_root = NULL;
	return 0;
}

/* ---- edits ---- */

/* "root".."timestamp", "bin-XX" and "pkg-NAME" as given; a package name
 * becomes "pkg-NAME". */
static int resolve_role(const char *in, char *out, size_t size, ferry_error *err)
{
	int k = tuf_repo_kind_from_name(in);
	if ((k >= TUF_REPO_ROOT && k <= TUF_REPO_TIMESTAMP) || str_has_prefix(in, "bin-") ||
	    str_has_prefix(in, "pkg-"))
		return str_copy(out, size, in) < 0
		           ? ferry_error_set(err, FERRY_E_LIMIT, "role name %s: too long", in)
		           : 0;
	return tuf_repo_package_role(in, out, size, err);
}

int tuf_repo_has_package(struct tuf_repo *repo, const char *package, bool *out, ferry_error *err)
{
	char name[96];
	int rc = tuf_repo_package_role(package, name, sizeof(name), err);
	if (rc < 0)
		return rc;
	struct role *r = NULL;
	rc = role_get(repo, name, &r, NULL);
	if (rc < 0 && rc != FERRY_E_NOTFOUND)
		return role_get(repo, name, &r, err);
	*out = rc == 0;
	return 0;
}

int tuf_repo_add_package(struct tuf_repo *repo, const char *package, struct crypto_key *const *keys,
                         size_t n, unsigned threshold, ferry_error *err)
{
	char name[96], bin_name[64], pattern[PATH_MAX_LEN];
	bool exists = false;
	int rc = tuf_repo_has_package(repo, package, &exists, err);
	if (rc < 0)
		return rc;
	if (exists)
		return ferry_error_set(err, FERRY_E_EXISTS, "package %s: already has a role",
		                       package);
	rc = tuf_repo_package_role(package, name, sizeof(name), err);
	if (rc == 0)
		rc = bin_of_package(repo, package, bin_name, sizeof(bin_name), err);
	if (rc == 0)
		rc = tuf_repo_target_path(package, "x", pattern, sizeof(pattern), err);
	if (rc < 0)
		return rc;
	pattern[strlen(pattern) - 1] = '*'; /* HHHH/NAME/x -> HHHH/NAME/ + "*" */

	_cleanup_json_ json_t *objs = NULL, *ids = NULL;
	json_int_t thr;
	if (keys) {
		if (n < 1 || threshold < 1 || threshold > n)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "package %s: threshold %u of %zu keys", package,
			                       threshold, n);
		rc = keys_to_json(keys, n, &objs, &ids, err);
		if (rc < 0)
			return rc;
		thr = threshold;
	} else if (!repo->cfg.shared_package_keys) {
		rc = generate_keys(repo, repo->cfg.nkeys[TUF_REPO_PACKAGES], &objs, &ids, err);
		if (rc < 0)
			return ferry_error_prefix(err, rc, "keys of package %s", package);
		thr = repo->cfg.threshold[TUF_REPO_PACKAGES];
	} else {
		json_t *pk = json_object_get(repo->settings, "package_keys");
		objs = json_incref(json_object_get(pk, "keys"));
		ids = json_incref(json_object_get(pk, "keyids"));
		thr = json_integer_value(json_object_get(pk, "threshold"));
	}
	struct role *bin = NULL;
	rc = role_get(repo, bin_name, &bin, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "package %s", package);
	json_t *dele = json_object_get(bin->signed_, "delegations");
	json_t *e = json_pack("{s:s, s:O, s:I, s:b, s:[s]}", "name", name, "keyids", ids,
	                      "threshold", thr, "terminating", 1, "paths", pattern);
	if (!e || json_object_update(json_object_get(dele, "keys"), objs) < 0 ||
	    json_array_append_new(json_object_get(dele, "roles"), e) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	_cleanup_json_ json_t *s = new_targets_signed(false);
	if (!s)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	struct role *r = NULL;
	rc = role_add(repo, name, s, 0, &r, err);
	if (rc < 0)
		return rc;
	r->dirty = true;
	bin->dirty = true;
	return 0;
}

static int package_role(struct tuf_repo *repo, const char *package, struct role **out,
                        ferry_error *err)
{
	char name[96];
	int rc = tuf_repo_package_role(package, name, sizeof(name), err);
	if (rc < 0)
		return rc;
	rc = role_get(repo, name, out, err);
	if (rc == FERRY_E_NOTFOUND)
		return ferry_error_set(err, rc, "package %s: no role in the repository", package);
	return rc;
}

/* Store content under DIR/HASH.FILE for each hash, from fd (>= 0) or data. */
static int store_target(struct tuf_repo *repo, const char *package, const char *file, int fd,
                        const void *data, size_t len, const json_t *custom, ferry_error *err)
{
	char tpath[PATH_MAX_LEN], dir[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
	struct role *r = NULL;
	int rc = tuf_repo_target_path(package, file, tpath, sizeof(tpath), err);
	if (rc == 0)
		rc = package_role(repo, package, &r, err);
	if (rc < 0)
		return rc;
	if (custom && !json_is_object(custom))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "target %s: custom: expected an object", tpath);
	rc = repo_path(repo, dir, sizeof(dir), err, "published/targets/%.*s",
	               PATH_PREFIX_DIGITS + 1 + (int)strlen(package), tpath);
	if (rc == 0)
		rc = fs_mkdir_p(dir, 0755, err);
	if (rc < 0)
		return rc;

	enum crypto_hash_alg algs[2] = {CRYPTO_HASH_SHA256, CRYPTO_HASH_SHA512};
	size_t nalg = repo->cfg.sha512 ? 2 : 1;
	struct crypto_digest *d[2] = {NULL, NULL};
	unsigned char md[2][CRYPTO_DIGEST_MAX];
	char hex[2][CRYPTO_DIGEST_HEX_MAX];
	unsigned long long total = 0;
	if (str_printf(tmp, sizeof(tmp), "%s/.tmp.XXXXXX", dir) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
	_cleanup_close_ int out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create temporary file in %s",
		                         dir);
	for (size_t a = 0; a < nalg && rc == 0; a++)
		rc = crypto_digest_new(algs[a], &d[a], err);
	_cleanup_free_ char *chunk = fd >= 0 ? malloc(1 << 20) : NULL;
	if (rc == 0 && fd >= 0 && !chunk)
		rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	while (rc == 0) {
		const void *p = data;
		size_t n = len;
		if (fd >= 0) {
			ssize_t got = read(fd, chunk, 1 << 20);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				rc = ferry_error_errno(err, FERRY_E_IO, errno, "read target %s",
				                       file);
				break;
			}
			p = chunk;
			n = (size_t)got;
		}
		if (n == 0 && (fd >= 0 || total > 0))
			break;
		total += n;
		if (total > TARGET_FILE_MAX) {
			rc =
			    ferry_error_set(err, FERRY_E_LIMIT, "target %s: larger than %llu bytes",
			                    file, TARGET_FILE_MAX);
			break;
		}
		for (size_t a = 0; a < nalg && rc == 0; a++)
			rc = crypto_digest_update(d[a], p, n, err);
		if (rc == 0 && fs_write_all(out, p, n) < 0)
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "write %s", tmp);
		if (fd < 0)
			break;
	}
	for (size_t a = 0; a < nalg; a++) {
		if (rc == 0)
			rc = crypto_digest_final(d[a], md[a], err);
		if (rc == 0)
			str_hex(md[a], crypto_hash_alg_size(algs[a]), hex[a]);
		crypto_digest_free(d[a]);
	}
	if (rc == 0 && fchmod(out, 0644) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "chmod %s", tmp);
	const char *base = strrchr(tpath, '/') + 1;
	for (size_t a = 0; a < nalg && rc == 0; a++) {
		char final[PATH_MAX_LEN];
		if (str_printf(final, sizeof(final), "%s/%s.%s", dir, hex[a], base) < 0) {
			rc = ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
			break;
		}
		if (link(tmp, final) < 0 && errno != EEXIST)
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "link %s", final);
	}
	unlink(tmp);
	if (rc < 0)
		return rc;

	json_t *hashes = json_object();
	for (size_t a = 0; a < nalg && hashes; a++)
		json_object_set_new(hashes, crypto_hash_alg_name(algs[a]), json_string(hex[a]));
	json_t *entry = json_pack("{s:I, s:o}", "length", (json_int_t)total, "hashes", hashes);
	if (entry && custom)
		json_object_set_new(entry, "custom", json_deep_copy(custom));
	if (!entry || json_object_set_new(json_object_get(r->signed_, "targets"), tpath, entry) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	r->dirty = true;
	return 0;
}

int tuf_repo_add_target(struct tuf_repo *repo, const char *package, const char *file,
                        const void *data, size_t len, const json_t *custom, ferry_error *err)
{
	return store_target(repo, package, file, -1, data, len, custom, err);
}

int tuf_repo_add_target_file(struct tuf_repo *repo, const char *package, const char *file,
                             const char *src_path, const json_t *custom, ferry_error *err)
{
	_cleanup_close_ int fd = open(src_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", src_path);
	return store_target(repo, package, file, fd, NULL, 0, custom, err);
}

int tuf_repo_remove_target(struct tuf_repo *repo, const char *package, const char *file,
                           ferry_error *err)
{
	char tpath[PATH_MAX_LEN];
	struct role *r = NULL;
	int rc = tuf_repo_target_path(package, file, tpath, sizeof(tpath), err);
	if (rc == 0)
		rc = package_role(repo, package, &r, err);
	if (rc < 0)
		return rc;
	if (json_object_del(json_object_get(r->signed_, "targets"), tpath) < 0)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "target %s: not listed", tpath);
	r->dirty = true;
	return 0;
}

/* Replace keyids/threshold of one delegation entry in a delegating role. */
static int redelegate(json_t *delegating, json_t *entry, const json_t *objs, const json_t *ids,
                      json_int_t threshold, ferry_error *err)
{
	json_t *dele = json_object_get(delegating, "delegations");
	if (json_object_set(entry, "keyids", (json_t *)ids) < 0 ||
	    json_object_set_new(entry, "threshold", json_integer(threshold)) < 0 ||
	    json_object_update(json_object_get(dele, "keys"), (json_t *)objs) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	return 0;
}

static int set_keys_top(struct tuf_repo *repo, const char *role, const json_t *objs,
                        const json_t *ids, json_int_t threshold, ferry_error *err)
{
	struct role *root = role_find(repo, "root");
	if (!repo->prev_root && !(repo->prev_root = json_deep_copy(root->signed_)))
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	json_t *roles = json_object_get(root->signed_, "roles");
	json_t *keys = json_object_get(root->signed_, "keys");
	if (json_object_set_new(
	        roles, role, json_pack("{s:O, s:I}", "keyids", ids, "threshold", threshold)) < 0 ||
	    json_object_update(keys, (json_t *)objs) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	prune_keys(keys, roles);
	root->dirty = true;
	if (!str_eq(role, "root")) {
		struct role *r = NULL;
		int rc = role_get(repo, role, &r, err);
		if (rc < 0)
			return rc;
		r->dirty = true; /* re-signed with the new keys */
	}
	return 0;
}

static int set_keys_bins(struct tuf_repo *repo, const json_t *objs, const json_t *ids,
                         json_int_t threshold, ferry_error *err)
{
	struct role *targets = NULL;
	int rc = role_get(repo, "targets", &targets, err);
	if (rc < 0)
		return rc;
	json_t *dele = json_object_get(targets->signed_, "delegations");
	json_t *roles = json_object_get(dele, "roles");
	size_t i;
	json_t *e;
	json_array_foreach(roles, i, e)
	{
		rc = redelegate(targets->signed_, e, objs, ids, threshold, err);
		struct role *bin = NULL;
		if (rc == 0)
			rc = role_get(repo, json_string_value(json_object_get(e, "name")), &bin,
			              err);
		if (rc < 0)
			return rc;
		bin->dirty = true;
	}
	prune_keys(json_object_get(dele, "keys"), roles);
	targets->dirty = true;
	return 0;
}

/* Re-key one package's delegation in its bin; both are re-signed. */
static int set_keys_package(struct tuf_repo *repo, const char *name, const json_t *objs,
                            const json_t *ids, json_int_t threshold, ferry_error *err)
{
	char bin_name[64];
	struct role *bin = NULL, *r = NULL;
	int rc = bin_of_package(repo, name + strlen("pkg-"), bin_name, sizeof(bin_name), err);
	if (rc == 0)
		rc = role_get(repo, name, &r, err);
	if (rc == 0)
		rc = role_get(repo, bin_name, &bin, err);
	if (rc < 0)
		return rc;
	json_t *e = find_delegation(bin->signed_, name);
	if (!e)
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: does not delegate to %s",
		                       bin_name, name);
	rc = redelegate(bin->signed_, e, objs, ids, threshold, err);
	if (rc < 0)
		return rc;
	json_t *dele = json_object_get(bin->signed_, "delegations");
	prune_keys(json_object_get(dele, "keys"), json_object_get(dele, "roles"));
	bin->dirty = true;
	r->dirty = true;
	return 0;
}

/* New default package keys: every package that uses the old ones moves. */
static int set_keys_packages(struct tuf_repo *repo, const json_t *objs, const json_t *ids,
                             json_int_t threshold, ferry_error *err)
{
	json_t *pk = json_object_get(repo->settings, "package_keys");
	_cleanup_json_ json_t *old = sorted_ids(json_object_get(pk, "keyids"));
	struct role *targets = NULL;
	int rc = role_get(repo, "targets", &targets, err);
	if (rc < 0 || !old)
		return rc < 0 ? rc : ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	size_t i;
	json_t *be;
	json_array_foreach(
	    json_object_get(json_object_get(targets->signed_, "delegations"), "roles"), i, be)
	{
		struct role *bin = NULL;
		rc = role_get(repo, json_string_value(json_object_get(be, "name")), &bin, err);
		if (rc < 0)
			return rc;
		size_t j;
		json_t *e;
		json_array_foreach(
		    json_object_get(json_object_get(bin->signed_, "delegations"), "roles"), j, e)
		{
			_cleanup_json_ json_t *cur = sorted_ids(json_object_get(e, "keyids"));
			if (!json_equal(cur, old))
				continue;
			rc = set_keys_package(repo, json_string_value(json_object_get(e, "name")),
			                      objs, ids, threshold, err);
			if (rc < 0)
				return rc;
		}
	}
	if (json_object_set(pk, "keys", (json_t *)objs) < 0 ||
	    json_object_set(pk, "keyids", (json_t *)ids) < 0 ||
	    json_object_set_new(pk, "threshold", json_integer(threshold)) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	repo->settings_dirty = true;
	return 0;
}

int tuf_repo_set_keys(struct tuf_repo *repo, const char *role, struct crypto_key *const *keys,
                      size_t n, unsigned threshold, ferry_error *err)
{
	if (n < 1 || n > 16 || threshold < 1 || threshold > n)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "keys of %s: expected 1..16 keys and a threshold of 1..%zu",
		                       role, n);
	_cleanup_json_ json_t *objs = NULL, *ids = NULL;
	int rc = keys_to_json(keys, n, &objs, &ids, err);
	if (rc < 0)
		return rc;
	int k = tuf_repo_kind_from_name(role);
	if (k >= TUF_REPO_ROOT && k <= TUF_REPO_TIMESTAMP)
		rc = set_keys_top(repo, role, objs, ids, threshold, err);
	else if (k == TUF_REPO_BINS)
		rc = set_keys_bins(repo, objs, ids, threshold, err);
	else if (k == TUF_REPO_PACKAGES)
		rc = set_keys_packages(repo, objs, ids, threshold, err);
	else {
		char name[96];
		rc = resolve_role(role, name, sizeof(name), err);
		if (rc == 0 && !str_has_prefix(name, "pkg-"))
			rc = ferry_error_set(err, FERRY_E_INVALID,
			                     "keys of %s: not a role with keys "
			                     "of its own",
			                     role);
		if (rc == 0)
			rc = set_keys_package(repo, name, objs, ids, threshold, err);
	}
	if (rc < 0)
		return ferry_error_prefix(err, rc, "keys of %s", role);
	return 0;
}

int tuf_repo_rotate_keys(struct tuf_repo *repo, const char *role, size_t n, unsigned threshold,
                         ferry_error *err)
{
	if (n < 1 || n > 16)
		return ferry_error_set(err, FERRY_E_INVALID, "rotate %s: expected 1..16 keys",
		                       role);
	struct crypto_key *keys[16] = {NULL};
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char id[TUF_KEYID_HEX_LEN + 1];
		rc = crypto_key_generate(repo->cfg.key_type, &keys[i], err);
		if (rc == 0)
			rc = save_key(repo, keys[i], id, err);
	}
	if (rc == 0)
		rc = tuf_repo_set_keys(repo, role, keys, n, threshold, err);
	for (size_t i = 0; i < n; i++)
		crypto_key_free(keys[i]);
	return rc;
}

static int mark_if_expiring(struct role *r, time_t limit, size_t *count, ferry_error *err)
{
	time_t exp = 0;
	if (parse_time(json_string_value(json_object_get(r->signed_, "expires")), &exp) < 0)
		return ferry_error_set(err, FERRY_E_CORRUPT, "role %s: unreadable expiry", r->name);
	if (exp <= limit && !r->dirty) {
		r->dirty = true;
		(*count)++;
	}
	return 0;
}

int tuf_repo_resign_expiring(struct tuf_repo *repo, long long within_s, bool all, size_t *count,
                             ferry_error *err)
{
	size_t n = 0;
	time_t limit = time(NULL) + (time_t)within_s;
	int rc = mark_if_expiring(role_find(repo, "timestamp"), limit, &n, err);
	if (rc == 0)
		rc = mark_if_expiring(role_find(repo, "snapshot"), limit, &n, err);
	if (rc == 0 && all) {
		rc = mark_if_expiring(role_find(repo, "root"), limit, &n, err);
		struct role *snap = role_find(repo, "snapshot");
		const char *file;
		json_t *v;
		json_object_foreach(json_object_get(snap->signed_, "meta"), file, v)
		{
			if (rc < 0)
				break;
			char name[PATH_MAX_LEN];
			struct role *r = NULL;
			size_t len = strlen(file);
			if (len < 6 || len - 5 >= sizeof(name))
				continue;
			memcpy(name, file, len - 5); /* drop ".json" */
			name[len - 5] = '\0';
			rc = role_get(repo, name, &r, err);
			if (rc == 0)
				rc = mark_if_expiring(r, limit, &n, err);
		}
	}
	if (count)
		*count = n;
	return rc;
}

int tuf_repo_touch(struct tuf_repo *repo, const char *role, time_t expires, ferry_error *err)
{
	char name[96];
	struct role *r = NULL;
	int rc = resolve_role(role, name, sizeof(name), err);
	if (rc == 0)
		rc = role_get(repo, name, &r, err);
	if (rc < 0)
		return rc;
	r->dirty = true;
	r->expires_override = expires;
	return 0;
}

int tuf_repo_version(struct tuf_repo *repo, const char *role, long long *out, ferry_error *err)
{
	char name[96];
	struct role *r = NULL;
	int rc = resolve_role(role, name, sizeof(name), err);
	if (rc == 0)
		rc = role_get(repo, name, &r, err);
	if (rc < 0)
		return rc;
	*out = r->version;
	return 0;
}
