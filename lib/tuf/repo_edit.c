/* repo_edit.c: the edits of a TUF repository: packages and their roles,
 * targets (stored under their hashes), the keys of a role and their
 * rotation, re-signing what expires, version look-ups. Each edit changes
 * roles in memory and marks them; tuf_repo_commit (repo.c) signs and
 * publishes. It does not sign nor write metadata itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "crypto/digest.h"
#include "tuf/cjson.h"
#include "tuf/repo_int.h"

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
	rc = repo_role_get(repo, name, &r, NULL);
	if (rc < 0 && rc != FERRY_E_NOTFOUND)
		return repo_role_get(repo, name, &r, err);
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
		rc = repo_bin_of_package(repo, package, bin_name, sizeof(bin_name), err);
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
		rc = repo_keys_to_json(keys, n, &objs, &ids, err);
		if (rc < 0)
			return rc;
		thr = threshold;
	} else if (!repo->cfg.shared_package_keys) {
		rc = repo_generate_keys(repo, repo->cfg.nkeys[TUF_REPO_PACKAGES], &objs, &ids, err);
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
	rc = repo_role_get(repo, bin_name, &bin, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "package %s", package);
	json_t *dele = json_object_get(bin->signed_, "delegations");
	json_t *e = json_pack("{s:s, s:O, s:I, s:b, s:[s]}", "name", name, "keyids", ids,
	                      "threshold", thr, "terminating", 1, "paths", pattern);
	if (!e || json_object_update(json_object_get(dele, "keys"), objs) < 0 ||
	    json_array_append_new(json_object_get(dele, "roles"), e) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	_cleanup_json_ json_t *s = repo_new_targets_signed(false);
	if (!s)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	struct role *r = NULL;
	rc = repo_role_add(repo, name, s, 0, &r, err);
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
	rc = repo_role_get(repo, name, out, err);
	if (rc == FERRY_E_NOTFOUND)
		return ferry_error_set(err, rc, "package %s: no role in the repository", package);
	return rc;
}

/* A package's target: its path (tpath, PATH_MAX_LEN bytes) and the role
 * that lists it. */
static int target_role(struct tuf_repo *repo, const char *package, const char *file, char *tpath,
                       struct role **r, ferry_error *err)
{
	int rc = tuf_repo_target_path(package, file, tpath, PATH_MAX_LEN, err);
	return rc < 0 ? rc : package_role(repo, package, r, err);
}

/* Store content under DIR/HASH.FILE for each hash, from fd (>= 0) or data. */
static int store_target(struct tuf_repo *repo, const char *package, const char *file, int fd,
                        const void *data, size_t len, const json_t *custom, ferry_error *err)
{
	char tpath[PATH_MAX_LEN], dir[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
	struct role *r = NULL;
	int rc = target_role(repo, package, file, tpath, &r, err);
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
	int rc = target_role(repo, package, file, tpath, &r, err);
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
	struct role *root = repo_role_find(repo, "root");
	if (!repo->prev_root && !(repo->prev_root = json_deep_copy(root->signed_)))
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	json_t *roles = json_object_get(root->signed_, "roles");
	json_t *keys = json_object_get(root->signed_, "keys");
	if (json_object_set_new(
	        roles, role, json_pack("{s:O, s:I}", "keyids", ids, "threshold", threshold)) < 0 ||
	    json_object_update(keys, (json_t *)objs) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	repo_prune_keys(keys, roles);
	root->dirty = true;
	if (!str_eq(role, "root")) {
		struct role *r = NULL;
		int rc = repo_role_get(repo, role, &r, err);
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
	int rc = repo_role_get(repo, "targets", &targets, err);
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
			rc = repo_role_get(repo, json_string_value(json_object_get(e, "name")),
			                   &bin, err);
		if (rc < 0)
			return rc;
		bin->dirty = true;
	}
	repo_prune_keys(json_object_get(dele, "keys"), roles);
	targets->dirty = true;
	return 0;
}

/* Re-key one package's delegation in its bin; both are re-signed. */
static int set_keys_package(struct tuf_repo *repo, const char *name, const json_t *objs,
                            const json_t *ids, json_int_t threshold, ferry_error *err)
{
	char bin_name[64];
	struct role *bin = NULL, *r = NULL;
	int rc = repo_bin_of_package(repo, name + strlen("pkg-"), bin_name, sizeof(bin_name), err);
	if (rc == 0)
		rc = repo_role_get(repo, name, &r, err);
	if (rc == 0)
		rc = repo_role_get(repo, bin_name, &bin, err);
	if (rc < 0)
		return rc;
	json_t *e = repo_find_delegation(bin->signed_, name);
	if (!e)
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: does not delegate to %s",
		                       bin_name, name);
	rc = redelegate(bin->signed_, e, objs, ids, threshold, err);
	if (rc < 0)
		return rc;
	json_t *dele = json_object_get(bin->signed_, "delegations");
	repo_prune_keys(json_object_get(dele, "keys"), json_object_get(dele, "roles"));
	bin->dirty = true;
	r->dirty = true;
	return 0;
}

/* New default package keys: every package that uses the old ones moves. */
static int set_keys_packages(struct tuf_repo *repo, const json_t *objs, const json_t *ids,
                             json_int_t threshold, ferry_error *err)
{
	json_t *pk = json_object_get(repo->settings, "package_keys");
	_cleanup_json_ json_t *old = repo_sorted_ids(json_object_get(pk, "keyids"));
	struct role *targets = NULL;
	int rc = repo_role_get(repo, "targets", &targets, err);
	if (rc < 0 || !old)
		return rc < 0 ? rc : ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	size_t i;
	json_t *be;
	json_array_foreach(
	    json_object_get(json_object_get(targets->signed_, "delegations"), "roles"), i, be)
	{
		struct role *bin = NULL;
		rc = repo_role_get(repo, json_string_value(json_object_get(be, "name")), &bin, err);
		if (rc < 0)
			return rc;
		size_t j;
		json_t *e;
		json_array_foreach(
		    json_object_get(json_object_get(bin->signed_, "delegations"), "roles"), j, e)
		{
			_cleanup_json_ json_t *cur = repo_sorted_ids(json_object_get(e, "keyids"));
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
	int rc = repo_keys_to_json(keys, n, &objs, &ids, err);
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
	int rc = repo_new_keys(repo, n, keys, err);
	if (rc == 0)
		rc = tuf_repo_set_keys(repo, role, keys, n, threshold, err);
	for (size_t i = 0; i < n; i++)
		crypto_key_free(keys[i]);
	return rc;
}

static int mark_if_expiring(struct role *r, time_t limit, size_t *count, ferry_error *err)
{
	time_t exp = 0;
	if (repo_parse_time(json_string_value(json_object_get(r->signed_, "expires")), &exp) < 0)
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
	int rc = mark_if_expiring(repo_role_find(repo, "timestamp"), limit, &n, err);
	if (rc == 0)
		rc = mark_if_expiring(repo_role_find(repo, "snapshot"), limit, &n, err);
	if (rc == 0 && all) {
		rc = mark_if_expiring(repo_role_find(repo, "root"), limit, &n, err);
		struct role *snap = repo_role_find(repo, "snapshot");
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
			rc = repo_role_get(repo, name, &r, err);
			if (rc == 0)
				rc = mark_if_expiring(r, limit, &n, err);
		}
	}
	if (count)
		*count = n;
	return rc;
}

/* The role a user names (a top-level role, or a package's name). */
static int role_named(struct tuf_repo *repo, const char *role, struct role **out, ferry_error *err)
{
	char name[96];
	int rc = resolve_role(role, name, sizeof(name), err);
	return rc < 0 ? rc : repo_role_get(repo, name, out, err);
}

int tuf_repo_touch(struct tuf_repo *repo, const char *role, time_t expires, ferry_error *err)
{
	struct role *r = NULL;
	int rc = role_named(repo, role, &r, err);
	if (rc < 0)
		return rc;
	r->dirty = true;
	r->expires_override = expires;
	return 0;
}

int tuf_repo_version(struct tuf_repo *repo, const char *role, long long *out, ferry_error *err)
{
	struct role *r = NULL;
	int rc = role_named(repo, role, &r, err);
	if (rc < 0)
		return rc;
	*out = r->version;
	return 0;
}
