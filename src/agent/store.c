/* store.c: what ferryd reads from a store, always through TUF (lib/tuf's
 * updater over lib/http): the package's channel map (target
 * HHHH/NAME/channels.json of the package's delegated role, HHHH the first
 * four hex digits of SHA-256(NAME)), which revision this device should run
 * (its channel, its architecture, a progressive release decided by a stable
 * hash of device id, package and revision), and the image itself
 * (HHHH/NAME/NAME_REV.ferry), downloaded resumably into
 * images/.incoming/NAME_REV.part and renamed into images/ only after its
 * length and hashes matched the signed metadata.
 *
 * Devices trust only the root.json they were provisioned with
 * (ROOT/tuf/root.json, written at first start from --trust). Network
 * failures are retried with back-off; a download first checks free space.
 * Worker thread only. It does not decide whether to refresh (steps.c does). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "crypto/digest.h"
#include "http/http.h"
#include "pkg/channel.h"
#include "pkg/manifest.h"
#include "store.h"
#include "tuf/metadata.h"

#define CHANNEL_MAP_MAX (4 * 1024 * 1024)

int store_provision(struct agent *ag, ferry_error *err)
{
	char meta[PATH_MAX], root[PATH_MAX];
	if (agent_path(ag, meta, "tuf") < 0 || agent_path(ag, root, "tuf/root.json") < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", ag->root);
	if (fs_exists(root))
		return 0; /* provisioned before: what verified since then is trusted */
	char *data = NULL;
	size_t len = 0;
	int rc = fs_read_file(ag->trust_path, 512 * 1024, &data, &len, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "--trust");
	rc = tuf_updater_init(meta, data, len, err);
	free(data);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "--trust %s", ag->trust_path);
	log_info("provisioned: trusting %s for %s", ag->trust_path, ag->store_url);
	return 0;
}

static int progress(void *ctx, uint64_t received, uint64_t total)
{
	struct agent *ag = ctx;
	pthread_mutex_lock(&ag->lock);
	ag->progress_done = received;
	ag->progress_total = total;
	pthread_mutex_unlock(&ag->lock);
	return ag->quit ? 1 : 0;
}

void store_close(struct store *s)
{
	if (s->u)
		tuf_updater_free(s->u);
	if (s->http)
		http_client_free(s->http);
	s->u = NULL;
	s->http = NULL;
}

static bool transient(int rc)
{
	return rc == FERRY_E_NETWORK || rc == FERRY_E_TIMEOUT;
}

/* Wait ms unless ferryd is stopping; false when it is. */
static bool backoff(struct agent *ag, uint64_t ms)
{
	int64_t until = now_ms() + (int64_t)ms;
	pthread_mutex_lock(&ag->lock);
	while (!ag->quit && now_ms() < until) {
		int64_t left = until - now_ms();
		agent_wait_ms(ag, left);
	}
	bool go = !ag->quit;
	pthread_mutex_unlock(&ag->lock);
	return go;
}

int store_open(struct agent *ag, struct store *s, ferry_error *err)
{
	memset(s, 0, sizeof(*s));
	s->ag = ag;
	if (!ag->store_url)
		return ferry_error_set(
		    err, FERRY_E_UNSUPPORTED,
		    "ferryd has no store (start it with --store URL --trust ROOT_JSON)");
	struct http_options ho = {.connect_timeout_ms = 15000, .stall_timeout_s = 60};
	int rc = http_client_new(&ho, &s->http, err);
	if (rc < 0)
		return rc;
	http_set_progress(s->http, progress, ag);
	char meta[PATH_MAX];
	_cleanup_free_ char *murl = str_dup_printf("%s/repo/metadata/", ag->store_url);
	_cleanup_free_ char *turl = str_dup_printf("%s/repo/targets/", ag->store_url);
	if (!murl || !turl || agent_path(ag, meta, "tuf") < 0) {
		store_close(s);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	struct tuf_updater_config cfg = {
	    .metadata_dir = meta, .metadata_url = murl, .target_base_url = turl, .http = s->http};
	rc = tuf_updater_new(&cfg, &s->u, err);
	if (rc < 0) {
		store_close(s);
		return rc;
	}
	for (unsigned attempt = 0;; attempt++) {
		rc = tuf_updater_refresh(s->u, err);
		if (rc == 0 || !transient(rc) || attempt + 1 >= ag->retries ||
		    !backoff(ag, ag->retry_delay_ms << attempt))
			break;
		log_warn("store %s: %s; trying again", ag->store_url, ferry_error_msg(err));
		/* a fresh updater: a failed refresh leaves it unusable */
		tuf_updater_free(s->u);
		s->u = NULL;
		rc = tuf_updater_new(&cfg, &s->u, err);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		store_close(s);
		return ferry_error_prefix(err, rc, "store %s", ag->store_url);
	}
	return 0;
}

int64_t store_expired_since(struct agent *ag)
{
	static const char *const roles[] = {"timestamp", "snapshot"};
	int64_t since = 0, now = wall_s();
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
		char path[PATH_MAX];
		_cleanup_free_ char *data = NULL;
		size_t len = 0;
		if (agent_path(ag, path, "tuf/%s.json", roles[i]) < 0 ||
		    fs_read_file(path, 64 * 1024 * 1024, &data, &len, NULL) < 0)
			continue;
		json_error_t jerr;
		json_t *md = json_loadb(data, len, 0, &jerr);
		const char *exp =
		    json_string_value(json_object_get(json_object_get(md, "signed"), "expires"));
		time_t t;
		if (exp && tuf_parse_expires(exp, &t) == 0 && (int64_t)t <= now &&
		    (since == 0 || (int64_t)t < since))
			since = (int64_t)t;
		json_decref(md);
	}
	return since;
}

void store_utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)t);
}

static int target_path(const char *name, const char *file, char *out, size_t size)
{
	char hex[CRYPTO_DIGEST_HEX_MAX];
	if (crypto_digest_hex(CRYPTO_HASH_SHA256, name, strlen(name), hex, NULL) < 0)
		return FERRY_E_INTERNAL;
	return str_printf(out, size, "%.4s/%s/%s", hex, name, file);
}

static int load_map(struct store *s, const char *name, json_t **map, ferry_error *err)
{
	struct agent *ag = s->ag;
	char path[512];
	if (target_path(name, "channels.json", path, sizeof(path)) < 0)
		return ferry_error_set(err, FERRY_E_INVALID, "%s: bad package name", name);
	const struct tuf_target *t = NULL;
	int rc = tuf_updater_find_target(s->u, path, &t, err);
	if (rc == FERRY_E_NOTFOUND)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s is not in the store", name);
	if (rc < 0)
		return rc;
	if (t->length > CHANNEL_MAP_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s: channel map of %llu bytes is too large", name,
		                       (unsigned long long)t->length);
	char dir[PATH_MAX], file[PATH_MAX];
	if (agent_path(ag, dir, "tuf/maps") < 0 ||
	    agent_path(ag, file, "tuf/maps/%s.json", name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	rc = fs_mkdir_p(dir, 0755, err);
	if (rc < 0)
		return rc;
	/* The verified copy from last time, when it is still what is signed. */
	if (!tuf_target_file_matches(t, file)) {
		for (unsigned attempt = 0;; attempt++) {
			rc = tuf_updater_download_target(s->u, t, file, err);
			if (rc == 0 || !transient(rc) || attempt + 1 >= ag->retries ||
			    !backoff(ag, ag->retry_delay_ms << attempt))
				break;
		}
		if (rc < 0)
			return ferry_error_prefix(err, rc, "%s: channel map", name);
	}
	char *data = NULL;
	size_t len = 0;
	rc = fs_read_file(file, CHANNEL_MAP_MAX, &data, &len, err);
	if (rc < 0)
		return rc;
	json_error_t jerr;
	*map = json_loadb(data, len, 0, &jerr);
	free(data);
	if (!json_is_object(*map)) {
		json_decref(*map);
		*map = NULL;
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: channel map is not a JSON object",
		                       name);
	}
	return 0;
}

static void choice_from_rev(json_t *map, const char *rev, struct store_choice *c)
{
	json_t *r = json_object_get(json_object_get(map, "revisions"), rev);
	snprintf(c->rev, sizeof(c->rev), "%s", rev);
	const char *v = json_string_value(json_object_get(r, "version"));
	const char *h = json_string_value(json_object_get(r, "sha256"));
	snprintf(c->version, sizeof(c->version), "%s", v ? v : "");
	snprintf(c->sha256, sizeof(c->sha256), "%s", h ? h : "");
	c->size = (uint64_t)json_integer_value(json_object_get(r, "size"));
}

int store_resolve(struct store *s, const char *name, const char *channel, struct store_choice *out,
                  ferry_error *err)
{
	struct agent *ag = s->ag;
	struct channel ch;
	int rc = channel_parse(channel, &ch, err);
	if (rc < 0)
		return rc;
	char want[CHANNEL_NAME_MAX];
	channel_format(&ch, want, sizeof(want));
	json_t *map = NULL;
	rc = load_map(s, name, &map, err);
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	snprintf(out->channel, sizeof(out->channel), "%s", want);
	const char *arch = manifest_host_architecture();
	json_t *found = NULL;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(map, "channels"), i, e)
	{
		const char *cn = json_string_value(json_object_get(e, "channel"));
		const char *ea = json_string_value(json_object_get(e, "architecture"));
		if (!cn || !ea || strcmp(cn, want) != 0)
			continue;
		if (strcmp(ea, arch) == 0 || (strcmp(ea, "all") == 0 && !found))
			found = e;
	}
	json_t *rev = json_object_get(found, "revision");
	if (!found || !json_is_integer(rev)) {
		json_decref(map);
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s has no revision in %s for %s",
		                       name, want, arch);
	}
	char revs[32];
	snprintf(revs, sizeof(revs), "%lld", (long long)json_integer_value(rev));
	json_t *prog = json_object_get(found, "progressive");
	if (json_is_object(prog)) {
		char prev[32];
		snprintf(prev, sizeof(prev), "%lld",
		         (long long)json_integer_value(json_object_get(prog, "revision")));
		json_int_t pct = json_integer_value(json_object_get(prog, "percentage"));
		if (pct > 0 && channel_progressive_pick(ag->device_id, name, prev, (unsigned)pct)) {
			snprintf(revs, sizeof(revs), "%s", prev);
			out->progressive = true;
		}
	}
	choice_from_rev(map, revs, out);
	json_decref(map);
	if (!out->sha256[0] || !out->size)
		return ferry_error_set(err, FERRY_E_CORRUPT,
		                       "%s: channel map names revision %s without its image", name,
		                       revs);
	return 0;
}

int store_find_by_sha256(struct store *s, const char *name, const char *sha256,
                         struct store_choice *out, ferry_error *err)
{
	json_t *map = NULL;
	int rc = load_map(s, name, &map, err);
	if (rc < 0)
		return rc;
	const char *rev;
	json_t *r;
	rc = FERRY_E_NOTFOUND;
	memset(out, 0, sizeof(*out));
	json_object_foreach(json_object_get(map, "revisions"), rev, r)
	{
		const char *h = json_string_value(json_object_get(r, "sha256"));
		if (h && strcmp(h, sha256) == 0) {
			choice_from_rev(map, rev, out);
			rc = 0;
			break;
		}
	}
	json_decref(map);
	if (rc < 0)
		return ferry_error_set(err, FERRY_E_VERIFY,
		                       "no signed metadata of %s covers this file", name);
	return 0;
}

int store_find_target(struct store *s, const char *name, const char *file,
                      const struct tuf_target **t, ferry_error *err)
{
	char path[512];
	if (target_path(name, file, path, sizeof(path)) < 0)
		return ferry_error_set(err, FERRY_E_INVALID, "%s: bad package name", name);
	return tuf_updater_find_target(s->u, path, t, err);
}

static int image_target(struct store *s, const char *name, const char *rev,
                        const struct tuf_target **t, ferry_error *err)
{
	char file[96];
	snprintf(file, sizeof(file), "%s_%s.ferry", name, rev);
	int rc = store_find_target(s, name, file, t, err);
	if (rc == FERRY_E_NOTFOUND)
		return ferry_error_set(err, FERRY_E_VERIFY,
		                       "%s revision %s: no signed metadata names its image", name,
		                       rev);
	return rc;
}

int store_image_target(struct store *s, const char *name, const char *rev,
                       const struct tuf_target **t, ferry_error *err)
{
	return image_target(s, name, rev, t, err);
}

int store_verify_file(struct store *s, const char *name, const char *rev, const char *path,
                      ferry_error *err)
{
	const struct tuf_target *t = NULL;
	int rc = image_target(s, name, rev, &t, err);
	if (rc < 0)
		return rc;
	if (!tuf_target_file_matches(t, path))
		return ferry_error_set(
		    err, FERRY_E_VERIFY,
		    "%s revision %s: the file does not match its signed length and hashes", name,
		    rev);
	return 0;
}

static int free_space_check(struct agent *ag, const char *dir, uint64_t need, ferry_error *err)
{
	struct statvfs vfs;
	if (statvfs(dir, &vfs) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "statvfs %s", dir);
	uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (ag->min_free > avail || need > avail - ag->min_free)
		return ferry_error_set(
		    err, FERRY_E_LIMIT,
		    "not enough free space in %s: %llu MiB needed (and %llu MiB kept free), "
		    "%llu MiB free",
		    dir, (unsigned long long)(need >> 20), (unsigned long long)(ag->min_free >> 20),
		    (unsigned long long)(avail >> 20));
	return 0;
}

char *store_target_url(struct store *s, const struct tuf_target *t)
{
	/* Consistent snapshots name a target file by its hash. */
	const struct tuf_metadata *root = tuf_updater_trusted(s->u, "root");
	const char *slash = strrchr(t->path, '/');
	_cleanup_free_ char *rel =
	    root && root->root.consistent_snapshot && t->hashes.n > 0 && slash
	        ? str_dup_printf("%.*s/%s.%s", (int)(slash - t->path), t->path, t->hashes.v[0].hex,
	                         slash + 1)
	        : strdup(t->path);
	_cleanup_free_ char *qrel = rel ? http_quote(rel, true) : NULL;
	return qrel ? str_dup_printf("%s/repo/targets/%s", s->ag->store_url, qrel) : NULL;
}

int store_fetch_target(struct store *s, const struct tuf_target *t, const char *part,
                       const char *dest, const char *what, const char *noun, uint64_t extra_space,
                       ferry_error *err)
{
	struct agent *ag = s->ag;
	if (tuf_target_file_matches(t, dest))
		return 0; /* downloaded and verified before a crash */
	char dir[PATH_MAX];
	if (agent_path(ag, dir, "images/.incoming") < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	int rc = fs_mkdir_p(dir, 0700, err);
	if (rc < 0)
		return rc;
	struct stat st;
	uint64_t have = stat(part, &st) == 0 ? (uint64_t)st.st_size : 0;
	if (have > t->length) {
		unlink(part);
		have = 0;
	}
	rc = free_space_check(ag, dir, (t->length - have) + extra_space, err);
	if (rc < 0)
		return rc;
	_cleanup_free_ char *url = store_target_url(s, t);
	if (!url)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	pthread_mutex_lock(&ag->lock);
	ag->progress_done = have;
	ag->progress_total = t->length;
	pthread_mutex_unlock(&ag->lock);
	for (unsigned attempt = 0;; attempt++) {
		rc = http_get_file(s->http, url, part, t->length, true, NULL, err);
		if (rc == 0 || !transient(rc) || attempt + 1 >= ag->retries)
			break;
		log_warn("download %s: %s; resuming", what, ferry_error_msg(err));
		if (!backoff(ag, ag->retry_delay_ms << attempt))
			break;
	}
	pthread_mutex_lock(&ag->lock);
	ag->progress_total = 0;
	pthread_mutex_unlock(&ag->lock);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "download %s", what);
	if (!tuf_target_file_matches(t, part)) {
		unlink(part);
		return ferry_error_set(err, FERRY_E_VERIFY,
		                       "download %s: the %s does not match its signed length "
		                       "and hashes; discarded it",
		                       what, noun);
	}
	if (rename(part, dest) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "rename %s", dest);
	return fs_fsync_parent(dest, err);
}

int store_download(struct store *s, const char *name, const char *rev, const char *dest,
                   ferry_error *err)
{
	struct agent *ag = s->ag;
	const struct tuf_target *t = NULL;
	int rc = image_target(s, name, rev, &t, err);
	if (rc < 0)
		return rc;
	char part[PATH_MAX], what[256];
	if (agent_path(ag, part, "images/.incoming/%s_%s.part", name, rev) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	snprintf(what, sizeof(what), "%s revision %s", name, rev);
	/* The image, and as much again when it is extracted instead of mounted. */
	return store_fetch_target(s, t, part, dest, what, "image", ag->extract ? t->length * 3 : 0,
	                          err);
}
