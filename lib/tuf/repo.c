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
#include "tuf/repo_int.h"

#define SPEC_VERSION "1.0.31"
#define SETTINGS_MAX (1u << 20)
#define ROOT_VERSIONS_MAX 100000

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

int repo_bin_of_package(const struct tuf_repo *repo, const char *package, char *out, size_t size,
                        ferry_error *err)
{
	char hex[CRYPTO_DIGEST_HEX_MAX];
	int rc = name_hash_hex(package, hex, err);
	if (rc < 0)
		return rc;
	return str_printf(out, size, "bin-%.*s", (int)repo->cfg.bin_digits, hex);
}

int repo_format_time(time_t t, char out[32])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return FERRY_E_INVALID;
	return 0;
}

int repo_parse_time(const char *s, time_t *out)
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

int repo_path(const struct tuf_repo *repo, char *out, size_t size, ferry_error *err,
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

struct role *repo_role_find(const struct tuf_repo *repo, const char *name)
{
	json_t *i = json_object_get(repo->index, name);
	if (!i)
		return NULL;
	return repo->roles[json_integer_value(i)];
}

int repo_role_add(struct tuf_repo *repo, const char *name, json_t *signed_, long long version,
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

/* Read VERSION.NAME.json (or NAME.json when version is 0) and return the
 * whole document (new reference), its "signed" object checked. */
static int read_doc(const struct tuf_repo *repo, const char *name, long long version, json_t **out,
                    ferry_error *err)
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
	*out = steal_pointer(&doc);
	return 0;
}

/* The same, returning only the "signed" object (new reference). */
static int read_signed(const struct tuf_repo *repo, const char *name, long long version,
                       json_t **out, ferry_error *err)
{
	_cleanup_json_ json_t *doc = NULL;
	int rc = read_doc(repo, name, version, &doc, err);
	if (rc < 0)
		return rc;
	*out = json_incref(json_object_get(doc, "signed"));
	return 0;
}

/* Whether doc carries signatures from a threshold of the keys root names for
 * role. Only key ids are compared: the writer trusts its own directory, this
 * finds a commit that stopped between publishing a root with new keys and
 * the files those keys sign. */
static bool signed_by_root_keys(const json_t *root, const char *role, const json_t *doc)
{
	const json_t *r = json_object_get(json_object_get(root, "roles"), role);
	const json_t *ids = json_object_get(r, "keyids");
	json_int_t threshold = json_integer_value(json_object_get(r, "threshold"));
	json_int_t good = 0;
	size_t i, j;
	json_t *sig, *id;
	json_array_foreach(json_object_get(doc, "signatures"), i, sig)
	{
		const char *kid = json_string_value(json_object_get(sig, "keyid"));
		json_array_foreach(ids, j, id)
		{
			if (kid && str_eq(kid, json_string_value(id))) {
				good++;
				break;
			}
		}
	}
	return threshold >= 1 && good >= threshold;
}

/* The role called name, loaded from the published tree if needed. Delegated
 * roles are found through the snapshot; FERRY_E_NOTFOUND if not listed. */
int repo_role_get(struct tuf_repo *repo, const char *name, struct role **out, ferry_error *err)
{
	struct role *r = repo_role_find(repo, name);
	if (r) {
		*out = r;
		return 0;
	}
	struct role *snap = repo_role_find(repo, "snapshot");
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
	return repo_role_add(repo, name, s, v, out, err);
}

json_t *repo_new_targets_signed(bool with_delegations)
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

int repo_new_keys(struct tuf_repo *repo, size_t n, struct crypto_key **keys, ferry_error *err)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char id[TUF_KEYID_HEX_LEN + 1];
		rc = crypto_key_generate(repo->cfg.key_type, &keys[i], err);
		if (rc == 0)
			rc = repo_save_key(repo, keys[i], id, err);
	}
	return rc;
}

/* Generate n keys into keys/ and give their key objects and IDs. */
int repo_generate_keys(struct tuf_repo *repo, size_t n, json_t **objs, json_t **ids,
                       ferry_error *err)
{
	struct crypto_key *keys[16] = {NULL};
	if (n > 16)
		return ferry_error_set(err, FERRY_E_INVALID, "at most 16 keys per role");
	int rc = repo_new_keys(repo, n, keys, err);
	if (rc == 0)
		rc = repo_keys_to_json(keys, n, objs, ids, err);
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
		rc = repo_generate_keys(repo, cfg->nkeys[k], &objs[k], &ids[k], err);
	_cleanup_json_ json_t *root = NULL, *targets = NULL, *snap = NULL, *ts = NULL;
	if (rc == 0) {
		root = json_pack("{s:s, s:s, s:i, s:s, s:b, s:{}, s:{}}", "_type", "root",
		                 "spec_version", SPEC_VERSION, "version", 0, "expires", "",
		                 "consistent_snapshot", 1, "keys", "roles");
		targets = repo_new_targets_signed(true);
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
		rc = repo_role_add(repo, "root", root, 0, NULL, err);
	if (rc == 0)
		rc = repo_role_add(repo, "targets", targets, 0, NULL, err);
	if (rc == 0)
		rc = repo_role_add(repo, "snapshot", snap, 0, NULL, err);
	if (rc == 0)
		rc = repo_role_add(repo, "timestamp", ts, 0, NULL, err);
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
		_cleanup_json_ json_t *bin = repo_new_targets_signed(true);
		if (!e || !bin || json_array_append_new(json_object_get(dele, "roles"), e) < 0)
			rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		else
			rc = repo_role_add(repo, name, bin, 0, NULL, err);
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
	_cleanup_json_ json_t *root = NULL, *tsdoc = NULL, *snapdoc = NULL;
	rc = read_signed(repo, "root", rv, &root, err);
	if (rc == 0)
		rc = repo_role_add(repo, "root", root, rv, NULL, err);
	if (rc == 0)
		rc = read_doc(repo, "timestamp", 0, &tsdoc, err);
	json_t *ts = json_object_get(tsdoc, "signed");
	long long tv = json_integer_value(json_object_get(ts, "version"));
	long long sv = json_integer_value(json_object_get(
	    json_object_get(json_object_get(ts, "meta"), "snapshot.json"), "version"));
	if (rc == 0)
		rc = repo_role_add(repo, "timestamp", ts, tv, NULL, err);
	if (rc == 0)
		rc = read_doc(repo, "snapshot", sv, &snapdoc, err);
	json_t *snap = json_object_get(snapdoc, "signed");
	if (rc == 0)
		rc = repo_role_add(repo, "snapshot", snap, sv, NULL, err);
	if (rc < 0)
		return rc;
	/* A commit that rotated the timestamp or snapshot keys and stopped after
	 * publishing the new root left files signed by keys that root no longer
	 * names: clients refuse them. Sign them again now, before anything else. */
	bool ts_ok = signed_by_root_keys(root, "timestamp", tsdoc);
	bool snap_ok = signed_by_root_keys(root, "snapshot", snapdoc);
	if (!ts_ok || !snap_ok) {
		repo_role_find(repo, "timestamp")->dirty = true;
		if (!snap_ok)
			repo_role_find(repo, "snapshot")->dirty = true;
		rc = tuf_repo_commit(repo, err);
		if (rc < 0)
			return ferry_error_prefix(
			    err, rc,
			    "%s: finishing an interrupted key rotation (%s signed by old keys)",
			    dir, snap_ok ? "timestamp" : "snapshot");
	}
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
	struct role *root = repo_role_find(repo, "root"), *snap = repo_role_find(repo, "snapshot"),
	            *ts = repo_role_find(repo, "timestamp");
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
		rc = repo_finalize_role(repo, r, now, &p->data, &p->len, err);
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
		rc = repo_finalize_role(repo, snap, now, &snap_data, &snap_len, err);
		if (rc == 0 && json_object_set_new(
		                   json_object_get(ts->signed_, "meta"), "snapshot.json",
		                   json_pack("{s:I, s:I}", "version", (json_int_t)snap->version,
		                             "length", (json_int_t)snap_len)) < 0)
			rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	if (rc == 0 && root->dirty)
		rc = repo_finalize_role(repo, root, now, &root_data, &root_len, err);
	if (rc == 0)
		rc = repo_finalize_role(repo, ts, now, &ts_data, &ts_len, err);

	/* Everything is signed: publish, lowest first. */
	for (size_t i = 0; i < npend && rc == 0; i++)
		rc = fs_write_unsynced(pend[i].path, pend[i].data, pend[i].len, 0644, err);
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
