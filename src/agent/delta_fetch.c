/* delta_fetch.c: ferryd downloads a delta instead of a full image when the
 * store signed one from the revision this device runs (target
 * NAME_FROM-TO.delta in the package's role, lib/pkg/delta.h).
 *
 * Order: the delta is downloaded like an image (resumable part file in
 * images/.incoming, checked against its signed length and hashes before
 * anything parses it); its header must name exactly the new image the
 * metadata signs (length and SHA-256) and the old image this device holds;
 * it is applied into images/ (a work directory beside the new image, left
 * over ones removed first), blocks that this compressor builds otherwise
 * are fetched from the full image with HTTP Range; the result is checked
 * against the image's signed length and hashes before it is renamed into
 * place. Any failure is returned and the caller downloads the full image.
 * Not here: the choice of revision (steps.c) or the full download
 * (store.c). */
#include "delta_fetch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "crypto/digest.h"
#include "pkg/delta.h"

struct range_src {
	struct store *s;
	const char *url;
};

static int fetch_range(void *ctx, uint64_t off, size_t len, void *out, ferry_error *err)
{
	struct range_src *r = ctx;
	return http_get_range(r->s->http, r->url, off, len, out, err);
}

static const char *target_sha256(const struct tuf_target *t)
{
	for (size_t i = 0; i < t->hashes.n; i++)
		if (strcmp(t->hashes.v[i].alg, "sha256") == 0)
			return t->hashes.v[i].hex;
	return NULL;
}

/* Work directories of an apply that a crash interrupted. */
static void remove_stale(struct agent *ag, const char *base)
{
	char dir[PATH_MAX];
	if (agent_path(ag, dir, "images") < 0)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t n = strlen(base);
	for (struct dirent *e; (e = readdir(d));) {
		char path[PATH_MAX];
		if (strncmp(e->d_name, base, n) != 0 || strncmp(e->d_name + n, ".delta.", 7) != 0 ||
		    str_printf(path, sizeof(path), "%s/%s", dir, e->d_name) < 0)
			continue;
		ferry_error ignored = {0};
		if (fs_remove_tree(path, &ignored) < 0)
			log_warn("%s", ferry_error_msg(&ignored));
	}
	closedir(d);
}

int delta_fetch(struct store *s, const char *name, const char *from, const char *to,
                const char *dest, struct delta_fetch_result *r, ferry_error *err)
{
	struct agent *ag = s->ag;
	char file[256], old[PATH_MAX], part[PATH_MAX], delta[PATH_MAX], what[300];
	const struct tuf_target *dt = NULL, *it = NULL;
	unsigned long long f, t;

	memset(r, 0, sizeof(*r));
	if (!from || !*from || str_to_u64(from, LLONG_MAX, &f) < 0 ||
	    str_to_u64(to, LLONG_MAX, &t) < 0 || f == 0)
		return FERRY_E_NOTFOUND; /* a local revision, or none */
	if (delta_target_name(name, (long long)f, (long long)t, file, sizeof(file)) < 0 ||
	    agent_path(ag, old, "images/%s_%s.ferry", name, from) < 0 ||
	    agent_path(ag, part, "images/.incoming/%s.part", file) < 0 ||
	    agent_path(ag, delta, "images/.incoming/%s", file) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	if (access(old, R_OK) < 0)
		return FERRY_E_NOTFOUND;
	int rc = store_find_target(s, name, file, &dt, err);
	if (rc == FERRY_E_NOTFOUND) {
		ferry_error_clear(err);
		return FERRY_E_NOTFOUND;
	}
	if (rc == 0)
		rc = store_image_target(s, name, to, &it, err);
	if (rc < 0)
		return rc;
	r->full = it->length;
	const char *sha = target_sha256(it);
	if (!sha)
		return ferry_error_set(err, FERRY_E_VERIFY, "%s revision %s: no SHA-256 signed",
		                       name, to);
	snprintf(what, sizeof(what), "delta of %s from revision %s to %s", name, from, to);
	rc = store_fetch_target(s, dt, part, delta, what, "delta", it->length * 3, err);
	if (rc < 0)
		return rc;
	r->downloaded = dt->length;

	struct delta_info info;
	rc = delta_read_info(delta, &info, err);
	if (rc == 0 && (info.b_size != it->length ||
	                !crypto_digest_equal_hex(info.b_sha256, sizeof(info.b_sha256), sha)))
		rc = ferry_error_set(err, FERRY_E_VERIFY, "%s: does not lead to the signed image",
		                     what);
	if (rc < 0) {
		unlink(delta);
		return rc;
	}
	char base[300];
	snprintf(base, sizeof(base), "%s_%s.ferry", name, to);
	remove_stale(ag, base);
	_cleanup_free_ char *url = store_target_url(s, it);
	if (!url)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	struct range_src src = {s, url};
	struct delta_apply_opts opts = {fetch_range, &src};
	struct delta_stats st;
	rc = delta_apply(old, delta, dest, &opts, &st, err);
	r->downloaded += st.fetched;
	unlink(delta);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s", what);
	if (!tuf_target_file_matches(it, dest)) {
		unlink(dest);
		return ferry_error_set(err, FERRY_E_VERIFY,
		                       "%s: the rebuilt image does not match its signed length and "
		                       "hashes",
		                       what);
	}
	if (st.fetched)
		log_info("%s: %llu blocks compressed otherwise here, %llu bytes fetched", what,
		         (unsigned long long)st.recompressed_differently,
		         (unsigned long long)st.fetched);
	return 0;
}

int delta_fetch_download(struct store *s, const char *name, const char *from, const char *to,
                         const char *dest, json_t *data, ferry_error *err)
{
	struct delta_fetch_result r = {0};
	ferry_error derr = {0};
	const char *path = "full";
	if (json_object_get(data, "download")) /* done before a crash: keep its record */
		return store_download(s, name, to, dest, err);
	int rc = delta_fetch(s, name, from, to, dest, &r, &derr);
	json_t *d = json_object();
	if (rc == 0) {
		path = "delta";
	} else {
		if (rc != FERRY_E_NOTFOUND) {
			log_warn("%s; downloading the full image", ferry_error_msg(&derr));
			json_object_set_new(d, "delta_error", json_string(ferry_error_msg(&derr)));
		}
		rc = store_download(s, name, to, dest, err);
		struct stat st;
		r.full = rc == 0 && stat(dest, &st) == 0 ? (uint64_t)st.st_size : 0;
		r.downloaded += r.full; /* what a failed delta cost comes on top */
	}
	if (rc < 0) {
		json_decref(d);
		return rc;
	}
	json_object_set_new(d, "path", json_string(path));
	json_object_set_new(d, "downloaded", json_integer((json_int_t)r.downloaded));
	json_object_set_new(d, "full", json_integer((json_int_t)r.full));
	json_object_set_new(
	    d, "saved",
	    json_integer(r.full > r.downloaded ? (json_int_t)(r.full - r.downloaded) : 0));
	json_object_set_new(data, "download", d);
	return 0;
}
