/* updater.c: the TUF client workflow (see updater.h for the steps). Each
 * step function names the spec section it implements. The updater keeps the
 * trusted set in memory for its lifetime and never forgets a role it has
 * verified; it does not lock METADATA_DIR against a concurrent updater. */
#include "tuf/updater.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"

struct trusted_role {
	char *name;
	char *delegator;
	struct tuf_metadata *md;
};

struct tuf_updater {
	struct tuf_updater_config cfg;
	char *dir;
	char *meta_url;   /* ends with '/' */
	char *target_url; /* ends with '/', or NULL */
	struct http_client *http;
	bool own_http;
	time_t now;
	bool refreshed;
	int refresh_rc;
	struct tuf_metadata *root;
	struct tuf_metadata *timestamp;
	struct tuf_metadata *snapshot;
	struct trusted_role **roles; /* targets and delegated roles */
	size_t nroles;
};

/* One role waiting in the delegation search. */
struct visit {
	char *name;
	const char *delegator;
	const struct tuf_keyring *keys;
	const struct tuf_role_keys *rk;
};

#define DELEGATION_STACK_MAX 4096

static char *with_slash(const char *url)
{
	if (!url)
		return NULL;
	size_t n = strlen(url);
	return str_dup_printf("%s%s", url, n > 0 && url[n - 1] == '/' ? "" : "/");
}

/* METADATA_DIR/QUOTED(name).json */
static int role_path(const struct tuf_updater *u, const char *dir, const char *name, char *out,
                     size_t size, ferry_error *err)
{
	_cleanup_free_ char *q = http_quote(name, false);
	if (!q)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	if (strlen(q) + 5 > NAME_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "role name %.60s... too long to store",
		                       name);
	if (str_printf(out, size, "%s/%s.json", dir, q) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
	return 0;
}

static int read_local(struct tuf_updater *u, const char *name, size_t max, char **data, size_t *len,
                      ferry_error *err)
{
	char path[PATH_MAX];
	int rc = role_path(u, u->dir, name, path, sizeof(path), err);
	if (rc < 0)
		return rc;
	return fs_read_file(path, max, data, len, err);
}

static int store(struct tuf_updater *u, const char *name, const void *data, size_t len,
                 ferry_error *err)
{
	char path[PATH_MAX];
	int rc = role_path(u, u->dir, name, path, sizeof(path), err);
	if (rc < 0)
		return rc;
	rc = fs_write_atomic(path, data, len, 0644, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "store %s", name);
	log_debug("stored %s (%zu bytes)", name, len);
	return 0;
}

static void forget_local(struct tuf_updater *u, const char *name)
{
	char path[PATH_MAX];
	if (role_path(u, u->dir, name, path, sizeof(path), NULL) == 0 && unlink(path) == 0)
		log_info("deleted trusted %s: its keys were rotated", name);
}

/* GET METADATA_URL/[VERSION.]QUOTED(name).json into out, at most max bytes. */
static int fetch_meta(struct tuf_updater *u, const char *name, uint64_t version, size_t max,
                      struct buf *out, ferry_error *err)
{
	_cleanup_free_ char *q = http_quote(name, false);
	_cleanup_free_ char *url = NULL;
	if (!q)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	if (version > 0)
		url = str_dup_printf("%s%llu.%s.json", u->meta_url, (unsigned long long)version, q);
	else
		url = str_dup_printf("%s%s.json", u->meta_url, q);
	if (!url)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	log_debug("fetch %s (at most %zu bytes)", url, max);
	return http_get_buf(u->http, url, max, out, NULL, err);
}

int tuf_updater_init(const char *metadata_dir, const void *root_bytes, size_t len, ferry_error *err)
{
	int rc = fs_mkdir_p(metadata_dir, 0755, err);
	if (rc < 0)
		return rc;
	char path[PATH_MAX];
	if (str_printf(path, sizeof(path), "%s/root.json", metadata_dir) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", metadata_dir);
	return fs_write_atomic(path, root_bytes, len, 0644, err);
}

int tuf_updater_new(const struct tuf_updater_config *cfg, struct tuf_updater **out,
                    ferry_error *err)
{
	if (!cfg->metadata_dir)
		return ferry_error_set(err, FERRY_E_INVALID, "updater: no metadata directory");
	_cleanup_(tuf_updater_freep) struct tuf_updater *u = calloc(1, sizeof(*u));
	if (!u)
		return ferry_error_set(err, FERRY_E_NOMEM, "updater: out of memory");
	u->cfg = *cfg;
	size_t *lengths[] = {&u->cfg.max_root_length, &u->cfg.max_timestamp_length,
	                     &u->cfg.max_snapshot_length, &u->cfg.max_targets_length};
	const size_t length_defaults[] = {TUF_MAX_ROOT_LENGTH, TUF_MAX_TIMESTAMP_LENGTH,
	                                  TUF_MAX_SNAPSHOT_LENGTH, TUF_MAX_TARGETS_LENGTH};
	for (size_t i = 0; i < ARRAY_SIZE(lengths); i++)
		if (*lengths[i] == 0)
			*lengths[i] = length_defaults[i];
	if (u->cfg.max_root_rotations == 0)
		u->cfg.max_root_rotations = TUF_MAX_ROOT_ROTATIONS;
	if (u->cfg.max_delegations == 0)
		u->cfg.max_delegations = TUF_MAX_DELEGATIONS;
	u->now = cfg->now ? cfg->now : time(NULL);
	u->dir = strdup(cfg->metadata_dir);
	u->meta_url = cfg->metadata_url ? with_slash(cfg->metadata_url) : NULL;
	u->target_url = cfg->target_base_url ? with_slash(cfg->target_base_url) : NULL;
	if (!u->dir || (cfg->metadata_url && !u->meta_url) ||
	    (cfg->target_base_url && !u->target_url))
		return ferry_error_set(err, FERRY_E_NOMEM, "updater: out of memory");
	if (cfg->http) {
		u->http = cfg->http;
	} else {
		int rc = http_client_new(NULL, &u->http, err);
		if (rc < 0)
			return rc;
		u->own_http = true;
	}
	*out = steal_pointer(&u);
	return 0;
}

void tuf_updater_free(struct tuf_updater *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->nroles; i++) {
		free(u->roles[i]->name);
		free(u->roles[i]->delegator);
		tuf_metadata_free(u->roles[i]->md);
		free(u->roles[i]);
	}
	free(u->roles);
	tuf_metadata_free(u->root);
	tuf_metadata_free(u->timestamp);
	tuf_metadata_free(u->snapshot);
	if (u->own_http)
		http_client_free(u->http);
	free(u->dir);
	free(u->meta_url);
	free(u->target_url);
	free(u);
}

static void fmt_time(time_t t, char out[32])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)t);
}

static int check_expiry(const struct tuf_updater *u, const struct tuf_metadata *md,
                        const char *name, ferry_error *err)
{
	if (!tuf_metadata_expired(md, u->now))
		return 0;
	char when[32];
	fmt_time(md->expires, when);
	return ferry_error_set(err, FERRY_E_EXPIRED, "%s v%llu expired at %s", name,
	                       (unsigned long long)md->version, when);
}

static int verify_by_root(const struct tuf_metadata *root, const struct tuf_metadata *md,
                          enum tuf_role role, ferry_error *err)
{
	return tuf_verify_threshold(md, &root->root.keys, &root->root.roles[role],
	                            tuf_role_name(role), err);
}

/* 5.2: the trusted root, signed by a threshold of its own keys. */
static int load_trusted_root(struct tuf_updater *u, ferry_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int rc = read_local(u, "root", u->cfg.max_root_length, &data, &len, err);
	if (rc == 0)
		rc = tuf_metadata_parse(data, len, TUF_ROLE_ROOT, &u->root, err);
	if (rc == 0)
		rc = verify_by_root(u->root, u->root, TUF_ROLE_ROOT, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "trusted root");
	return 0;
}

static bool same_keyids(const struct tuf_role_keys *a, const struct tuf_role_keys *b)
{
	if (a->nkeyids != b->nkeyids)
		return false;
	for (size_t i = 0; i < a->nkeyids; i++) {
		bool found = false;
		for (size_t j = 0; j < b->nkeyids && !found; j++)
			found = strcmp(a->keyids[i], b->keyids[j]) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* 5.3: the root rotation chain. */
static int update_root(struct tuf_updater *u, ferry_error *err)
{
	struct tuf_metadata *orig = u->root;
	int rc = 0;
	for (unsigned i = 0; i < u->cfg.max_root_rotations; i++) {
		uint64_t next = u->root->version + 1;
		_cleanup_buf_ struct buf b = BUF_INIT(u->cfg.max_root_length);
		rc = fetch_meta(u, "root", next, u->cfg.max_root_length, &b, err);
		if (rc == FERRY_E_NOTFOUND || rc == FERRY_E_PERM) {
			ferry_error_clear(err);
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		struct tuf_metadata *md = NULL;
		rc = tuf_metadata_parse(b.data, b.len, TUF_ROLE_ROOT, &md, err);
		if (rc < 0)
			ferry_error_prefix(err, rc, "%llu.root.json", (unsigned long long)next);
		if (rc == 0 && (rc = verify_by_root(u->root, md, TUF_ROLE_ROOT, err)) < 0)
			ferry_error_prefix(
			    err, rc, "root v%llu: not signed by the trusted root v%llu",
			    (unsigned long long)next, (unsigned long long)u->root->version);
		if (rc == 0 && (rc = verify_by_root(md, md, TUF_ROLE_ROOT, err)) < 0)
			ferry_error_prefix(err, rc, "root v%llu: not signed by its own keys",
			                   (unsigned long long)next);
		if (rc == 0 && md->version != next)
			rc = ferry_error_set(
			    err, FERRY_E_ROLLBACK, "root: %llu.root.json holds version %llu",
			    (unsigned long long)next, (unsigned long long)md->version);
		if (rc == 0)
			rc = store(u, "root", b.data, b.len, err);
		if (rc < 0) {
			tuf_metadata_free(md);
			break;
		}
		if (u->root != orig)
			tuf_metadata_free(u->root);
		u->root = md;
		log_info("trusted root v%llu", (unsigned long long)md->version);
	}
	if (u->root != orig) {
		/* 5.3.11: fast-forward attack recovery */
		if (!same_keyids(&orig->root.roles[TUF_ROLE_TIMESTAMP],
		                 &u->root->root.roles[TUF_ROLE_TIMESTAMP]) ||
		    !same_keyids(&orig->root.roles[TUF_ROLE_SNAPSHOT],
		                 &u->root->root.roles[TUF_ROLE_SNAPSHOT])) {
			forget_local(u, "timestamp");
			forget_local(u, "snapshot");
		}
		tuf_metadata_free(orig);
	}
	if (rc < 0)
		return rc;
	/* 5.3.10: freeze attack */
	return check_expiry(u, u->root, "root", err);
}

/* A stored role, parsed and verified by the given keys; NULL when missing or
 * not valid (which is not an error: it is fetched again). */
static struct tuf_metadata *load_local_verified(struct tuf_updater *u, const char *name,
                                                enum tuf_role type, size_t max,
                                                const struct tuf_keyring *keys,
                                                const struct tuf_role_keys *rk)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	struct tuf_metadata *md = NULL;
	ferry_error e = {0};
	if (read_local(u, name, max, &data, &len, &e) < 0)
		return NULL;
	if (tuf_metadata_parse(data, len, type, &md, &e) < 0 ||
	    tuf_verify_threshold(md, keys, rk, name, &e) < 0) {
		log_debug("stored %s not used: %s", name, e.msg);
		tuf_metadata_free(md);
		return NULL;
	}
	return md;
}

/* The last steps of 5.4 and 5.5 for a new top-level role md that verified:
 * refuse it when expired, persist its bytes, and make it the trusted one in
 * *slot in place of what was there. */
static int trust_new(struct tuf_updater *u, const char *name, struct tuf_metadata **md,
                     const struct buf *b, struct tuf_metadata **slot, ferry_error *err)
{
	int rc = check_expiry(u, *md, name, err);
	if (rc < 0)
		return rc;
	rc = store(u, name, b->data, b->len, err);
	if (rc < 0)
		return rc;
	tuf_metadata_free(*slot);
	*slot = steal_pointer(md);
	log_info("trusted %s v%llu", name, (unsigned long long)(*slot)->version);
	return 0;
}

/* 5.4: timestamp. */
static int update_timestamp(struct tuf_updater *u, ferry_error *err)
{
	struct tuf_metadata *old =
	    load_local_verified(u, "timestamp", TUF_ROLE_TIMESTAMP, u->cfg.max_timestamp_length,
	                        &u->root->root.keys, &u->root->root.roles[TUF_ROLE_TIMESTAMP]);
	u->timestamp = old;

	_cleanup_buf_ struct buf b = BUF_INIT(u->cfg.max_timestamp_length);
	int rc = fetch_meta(u, "timestamp", 0, u->cfg.max_timestamp_length, &b, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "timestamp");
	_cleanup_metadata_ struct tuf_metadata *md = NULL;
	rc = tuf_metadata_parse(b.data, b.len, TUF_ROLE_TIMESTAMP, &md, err);
	if (rc < 0)
		return rc;
	rc = verify_by_root(u->root, md, TUF_ROLE_TIMESTAMP, err);
	if (rc < 0)
		return rc;
	if (old) {
		if (md->version < old->version)
			return ferry_error_set(
			    err, FERRY_E_ROLLBACK,
			    "timestamp: version %llu is older than the trusted %llu",
			    (unsigned long long)md->version, (unsigned long long)old->version);
		if (md->version == old->version) {
			log_debug("timestamp v%llu unchanged", (unsigned long long)md->version);
			return check_expiry(u, old, "timestamp", err);
		}
		if (md->timestamp.snapshot.version < old->timestamp.snapshot.version)
			return ferry_error_set(err, FERRY_E_ROLLBACK,
			                       "timestamp: names snapshot v%llu, older than the "
			                       "trusted v%llu",
			                       (unsigned long long)md->timestamp.snapshot.version,
			                       (unsigned long long)old->timestamp.snapshot.version);
	}
	return trust_new(u, "timestamp", &md, &b, &u->timestamp, err);
}

/* 5.5: snapshot. */
static int update_snapshot(struct tuf_updater *u, ferry_error *err)
{
	const struct tuf_metafile *want = &u->timestamp->timestamp.snapshot;
	struct tuf_metadata *old =
	    load_local_verified(u, "snapshot", TUF_ROLE_SNAPSHOT, u->cfg.max_snapshot_length,
	                        &u->root->root.keys, &u->root->root.roles[TUF_ROLE_SNAPSHOT]);
	u->snapshot = old;
	if (old && old->version == want->version && !tuf_metadata_expired(old, u->now))
		return 0;

	size_t max = want->has_length ? (size_t)want->length : u->cfg.max_snapshot_length;
	_cleanup_buf_ struct buf b = BUF_INIT(max);
	int rc = fetch_meta(u, "snapshot", u->root->root.consistent_snapshot ? want->version : 0,
	                    max, &b, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "snapshot v%llu",
		                          (unsigned long long)want->version);
	rc = tuf_check_length_hashes(b.data, b.len, want->has_length, want->length, &want->hashes,
	                             false, "snapshot", err);
	if (rc < 0)
		return rc;
	_cleanup_metadata_ struct tuf_metadata *md = NULL;
	rc = tuf_metadata_parse(b.data, b.len, TUF_ROLE_SNAPSHOT, &md, err);
	if (rc < 0)
		return rc;
	rc = verify_by_root(u->root, md, TUF_ROLE_SNAPSHOT, err);
	if (rc < 0)
		return rc;
	if (old) {
		for (size_t i = 0; i < old->snapshot.nmeta; i++) {
			const struct tuf_metafile *o = &old->snapshot.meta[i];
			const struct tuf_metafile *n = tuf_snapshot_find(md, o->name);
			if (!n)
				return ferry_error_set(err, FERRY_E_ROLLBACK,
				                       "snapshot v%llu: %s is missing; the trusted "
				                       "snapshot lists it",
				                       (unsigned long long)md->version, o->name);
			if (n->version < o->version)
				return ferry_error_set(err, FERRY_E_ROLLBACK,
				                       "snapshot v%llu: %s version %llu is older "
				                       "than the trusted %llu",
				                       (unsigned long long)md->version, o->name,
				                       (unsigned long long)n->version,
				                       (unsigned long long)o->version);
		}
	}
	if (md->version != want->version)
		return ferry_error_set(
		    err, md->version < want->version ? FERRY_E_ROLLBACK : FERRY_E_VERIFY,
		    "snapshot: version %llu, the timestamp names %llu",
		    (unsigned long long)md->version, (unsigned long long)want->version);
	return trust_new(u, "snapshot", &md, &b, &u->snapshot, err);
}

static struct trusted_role *find_role(const struct tuf_updater *u, const char *name)
{
	for (size_t i = 0; i < u->nroles; i++)
		if (strcmp(u->roles[i]->name, name) == 0)
			return u->roles[i];
	return NULL;
}

static int add_role(struct tuf_updater *u, const char *name, const char *delegator,
                    struct tuf_metadata **md, struct trusted_role **out, ferry_error *err)
{
	struct trusted_role **v = realloc(u->roles, (u->nroles + 1) * sizeof(*v));
	if (!v)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	u->roles = v;
	struct trusted_role *r = calloc(1, sizeof(*r));
	if (!r)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	r->name = strdup(name);
	r->delegator = strdup(delegator);
	if (!r->name || !r->delegator) {
		free(r->name);
		free(r->delegator);
		free(r);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	r->md = steal_pointer(md);
	u->roles[u->nroles++] = r;
	*out = r;
	return 0;
}

/* Check one targets role's bytes against its snapshot entry and delegator. */
static int verify_targets(struct tuf_updater *u, const char *name, const void *data, size_t len,
                          const struct tuf_metafile *meta, const struct tuf_keyring *keys,
                          const struct tuf_role_keys *rk, struct tuf_metadata **out,
                          ferry_error *err)
{
	int rc = tuf_check_length_hashes(data, len, meta->has_length, meta->length, &meta->hashes,
	                                 false, name, err);
	if (rc < 0)
		return rc;
	_cleanup_metadata_ struct tuf_metadata *md = NULL;
	rc = tuf_metadata_parse(data, len, TUF_ROLE_TARGETS, &md, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "role %s", name);
	rc = tuf_verify_threshold(md, keys, rk, name, err);
	if (rc < 0)
		return rc;
	if (md->version != meta->version)
		return ferry_error_set(
		    err, md->version < meta->version ? FERRY_E_ROLLBACK : FERRY_E_VERIFY,
		    "%s: version %llu, the snapshot names %llu", name,
		    (unsigned long long)md->version, (unsigned long long)meta->version);
	rc = check_expiry(u, md, name, err);
	if (rc < 0)
		return rc;
	*out = steal_pointer(&md);
	return 0;
}

/* 5.6 for one role: targets (delegator "root") or a delegated role. */
static int load_targets(struct tuf_updater *u, const char *name, const char *delegator,
                        const struct tuf_keyring *keys, const struct tuf_role_keys *rk,
                        struct trusted_role **out, ferry_error *err)
{
	struct trusted_role *have = find_role(u, name);
	if (have) {
		if (strcmp(have->delegator, delegator) != 0) {
			/* reached another way: that delegation must hold too */
			int rc = tuf_verify_threshold(have->md, keys, rk, name, err);
			if (rc < 0)
				return ferry_error_prefix(err, rc, "role %s as delegated by %s",
				                          name, delegator);
		}
		*out = have;
		return 0;
	}
	_cleanup_free_ char *file = str_dup_printf("%s.json", name);
	if (!file)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	const struct tuf_metafile *meta = tuf_snapshot_find(u->snapshot, file);
	if (!meta)
		return ferry_error_set(err, FERRY_E_NOTFOUND,
		                       "role %s is not listed in snapshot v%llu", name,
		                       (unsigned long long)u->snapshot->version);
	size_t max = meta->has_length ? (size_t)meta->length : u->cfg.max_targets_length;
	struct tuf_metadata *md = NULL;

	/* the stored copy, if it is still the one the snapshot names */
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	ferry_error e = {0};
	if (read_local(u, name, max, &data, &len, &e) == 0 &&
	    verify_targets(u, name, data, len, meta, keys, rk, &md, &e) == 0)
		return add_role(u, name, delegator, &md, out, err);
	log_debug("stored %s not used: %s", name, e.msg);

	_cleanup_buf_ struct buf b = BUF_INIT(max);
	int rc = fetch_meta(u, name, u->root->root.consistent_snapshot ? meta->version : 0, max, &b,
	                    err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "role %s v%llu", name,
		                          (unsigned long long)meta->version);
	rc = verify_targets(u, name, b.data, b.len, meta, keys, rk, &md, err);
	if (rc < 0)
		return rc;
	rc = store(u, name, b.data, b.len, err);
	if (rc == 0)
		rc = add_role(u, name, delegator, &md, out, err);
	tuf_metadata_free(md);
	if (rc == 0)
		log_info("trusted %s v%llu", name, (unsigned long long)(*out)->md->version);
	return rc;
}

int tuf_updater_refresh(struct tuf_updater *u, ferry_error *err)
{
	if (u->refreshed)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "updater: refresh runs once per updater");
	if (!u->meta_url)
		return ferry_error_set(err, FERRY_E_INVALID, "updater: no metadata URL");
	u->refreshed = true;
	int rc = load_trusted_root(u, err);
	if (rc == 0)
		rc = update_root(u, err);
	if (rc == 0)
		rc = update_timestamp(u, err);
	if (rc == 0)
		rc = update_snapshot(u, err);
	struct trusted_role *t = NULL;
	if (rc == 0)
		rc = load_targets(u, "targets", "root", &u->root->root.keys,
		                  &u->root->root.roles[TUF_ROLE_TARGETS], &t, err);
	u->refresh_rc = rc;
	return rc;
}

static void free_visits(struct visit *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* 5.6.7: depth-first, pre-order search of the delegation graph. */
int tuf_updater_find_target(struct tuf_updater *u, const char *path, const struct tuf_target **out,
                            ferry_error *err)
{
	int rc;
	if (!u->refreshed) {
		rc = tuf_updater_refresh(u, err);
		if (rc < 0)
			return rc;
	} else if (u->refresh_rc < 0) {
		return ferry_error_set(err, u->refresh_rc, "updater: the refresh failed");
	}
	struct visit *stack = malloc(sizeof(*stack));
	size_t n = 0, cap = 1;
	if (!stack)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	stack[n++] = (struct visit){strdup("targets"), "root", &u->root->root.keys,
	                            &u->root->root.roles[TUF_ROLE_TARGETS]};
	if (!stack[0].name) {
		free_visits(stack, n);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	char **visited = calloc(u->cfg.max_delegations + 1, sizeof(char *));
	size_t nvisited = 0;
	if (!visited) {
		free_visits(stack, n);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	struct tuf_role_match *matches = NULL;
	rc = FERRY_E_NOTFOUND;
	while (n > 0 && nvisited <= u->cfg.max_delegations) {
		struct visit cur = stack[--n];
		bool seen = false;
		for (size_t i = 0; i < nvisited && !seen; i++)
			seen = strcmp(visited[i], cur.name) == 0;
		if (seen) {
			free(cur.name);
			continue;
		}
		struct trusted_role *role = NULL;
		rc = load_targets(u, cur.name, cur.delegator, cur.keys, cur.rk, &role, err);
		if (rc < 0) {
			free(cur.name);
			break;
		}
		const struct tuf_target *t = tuf_targets_find(role->md, path);
		if (t) {
			log_debug("%s: found in role %s", path, cur.name);
			*out = t;
			free(cur.name);
			rc = 0;
			break;
		}
		rc = FERRY_E_NOTFOUND;
		if (nvisited == u->cfg.max_delegations) {
			free(cur.name);
			break;
		}
		visited[nvisited++] = cur.name;
		const struct tuf_delegations *d = role->md->targets.delegations;
		if (!d)
			continue;
		size_t max = d->succinct ? 1 : d->nroles;
		free(matches);
		matches = calloc(max + 1, sizeof(*matches));
		if (!matches) {
			rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			break;
		}
		int m = tuf_delegations_match(d, path, matches, max, err);
		if (m < 0) {
			rc = m;
			break;
		}
		if (m > 0 && matches[m - 1].terminating) {
			/* terminating: nothing else is searched after this branch */
			free_visits(stack, n);
			stack = NULL;
			n = cap = 0;
		}
		if (n + (size_t)m > DELEGATION_STACK_MAX) {
			rc = ferry_error_set(err, FERRY_E_LIMIT,
			                     "%s: more than %d delegations to search", path,
			                     DELEGATION_STACK_MAX);
			break;
		}
		if (n + (size_t)m > cap) {
			size_t ncap = n + (size_t)m;
			struct visit *ns = realloc(stack, ncap * sizeof(*ns));
			if (!ns) {
				rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
				break;
			}
			stack = ns;
			cap = ncap;
		}
		for (int i = m - 1; i >= 0; i--) {
			char *name = strdup(matches[i].name);
			if (!name) {
				rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
				break;
			}
			stack[n++] = (struct visit){name, role->name, &d->keys, matches[i].keys};
		}
		if (rc == FERRY_E_NOMEM)
			break;
	}
	free(matches);
	free_visits(stack, n);
	for (size_t i = 0; i < nvisited; i++)
		free(visited[i]);
	free(visited);
	if (rc == FERRY_E_NOTFOUND)
		return ferry_error_set(err, rc, "target %s: no trusted role lists it", path);
	return rc;
}

/* Length and every hash of the file at path; FERRY_E_VERIFY on mismatch. */
static int check_file(const struct tuf_target *t, const char *path, ferry_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != t->length)
		return ferry_error_set(err, FERRY_E_VERIFY, "target %s: %lld bytes, expected %llu",
		                       t->path, (long long)st.st_size,
		                       (unsigned long long)t->length);
	if (t->hashes.n == 0)
		return ferry_error_set(err, FERRY_E_VERIFY, "target %s: no hashes", t->path);
	for (size_t i = 0; i < t->hashes.n; i++) {
		enum crypto_hash_alg alg;
		if (crypto_hash_alg_from_name(t->hashes.v[i].alg, &alg) < 0)
			return ferry_error_set(err, FERRY_E_VERIFY,
			                       "target %s: hash algorithm %.40s is not supported",
			                       t->path, t->hashes.v[i].alg);
		unsigned char md[CRYPTO_DIGEST_MAX];
		int rc = crypto_digest_file(alg, path, md, err);
		if (rc < 0)
			return rc;
		if (!crypto_digest_equal_hex(md, crypto_hash_alg_size(alg), t->hashes.v[i].hex))
			return ferry_error_set(err, FERRY_E_VERIFY,
			                       "target %s: %s hash does not match", t->path,
			                       t->hashes.v[i].alg);
	}
	return 0;
}

bool tuf_target_file_matches(const struct tuf_target *t, const char *path)
{
	return check_file(t, path, NULL) == 0;
}

int tuf_updater_download_target(struct tuf_updater *u, const struct tuf_target *t, const char *dest,
                                ferry_error *err)
{
	if (!u->target_url)
		return ferry_error_set(err, FERRY_E_INVALID, "updater: no target base URL");
	/* URL: BASE/DIR/HASH.NAME under consistent snapshots, else BASE/PATH */
	_cleanup_free_ char *rel = NULL;
	const char *slash = strrchr(t->path, '/');
	if (u->root->root.consistent_snapshot && !u->cfg.no_hash_prefix && t->hashes.n > 0)
		rel = slash ? str_dup_printf("%.*s/%s.%s", (int)(slash - t->path), t->path,
		                             t->hashes.v[0].hex, slash + 1)
		            : str_dup_printf("%s.%s", t->hashes.v[0].hex, t->path);
	else
		rel = strdup(t->path);
	_cleanup_free_ char *qrel = rel ? http_quote(rel, true) : NULL;
	_cleanup_free_ char *url = qrel ? str_dup_printf("%s%s", u->target_url, qrel) : NULL;
	if (!url)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");

	/* a temporary file beside dest, hidden, never left behind */
	char tmp[PATH_MAX], dircopy[PATH_MAX];
	if (str_copy(dircopy, sizeof(dircopy), dest) < 0 ||
	    str_printf(tmp, sizeof(tmp), "%s/.ferry-download.XXXXXX", dirname(dircopy)) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dest);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create temporary file for %s",
		                         dest);
	close(fd);
	log_debug("fetch %s (%llu bytes)", url, (unsigned long long)t->length);
	int rc = http_get_file(u->http, url, tmp, t->length, false, NULL, err);
	if (rc < 0)
		ferry_error_prefix(err, rc, "target %s", t->path);
	if (rc == 0)
		rc = check_file(t, tmp, err);
	if (rc == 0 && rename(tmp, dest) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "rename %s to %s", tmp, dest);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	return fs_fsync_parent(dest, err);
}

const struct tuf_metadata *tuf_updater_trusted(const struct tuf_updater *u, const char *role)
{
	if (strcmp(role, "root") == 0)
		return u->root;
	if (strcmp(role, "timestamp") == 0)
		return u->timestamp;
	if (strcmp(role, "snapshot") == 0)
		return u->snapshot;
	struct trusted_role *r = find_role(u, role);
	return r ? r->md : NULL;
}
