/* api.c: the publisher API's routes and what each does to the database and
 * the blob store (see reply.h for the error contract, docs/store.md for
 * the endpoints). A change to a channel map is one database transaction that
 * also bumps the package's map generation; the new map is then published
 * (publish.c), and a crash in between is repaired by publish_recover() at the
 * next start. Not here: the replies and the authorisation every route
 * shares (reply.c, handler.c), the routes of reports, vulnerabilities and
 * webhooks (their own files), HTTP framing (server.c). */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "channelmap.h"
#include "deltas.h"
#include "halt.h"
#include "inventory.h"
#include "handler.h"
#include "jobs.h"
#include "pkg/channel.h"
#include "pkg/manifest.h"
#include "pkg/name.h"
#include "release.h"
#include "reports.h"
#include "rollout.h"
#include "tuf/repo.h"
#include "validate.h"
#include "sbom_routes.h"
#include "vulns_routes.h"
#include "webhooks.h"

#define API_MAX_CHANNELS 16

typedef void (*api_fn)(struct api_ctx *c);

struct api_route {
	const char *method;
	const char *pattern; /* '*' matches one path element */
	enum api_body body;
	bool auth;
	api_fn fn;
};

static const char *const known_arches[] = {"all",     "amd64",   "arm64", "armhf", "i386",
                                           "riscv64", "ppc64el", "s390x", NULL};

bool api_json_depth_ok(const char *data, size_t len, unsigned max)
{
	unsigned depth = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < len; i++) {
		char ch = data[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"')
			in_str = true;
		else if (ch == '[' || ch == '{') {
			if (++depth > max)
				return false;
		} else if ((ch == ']' || ch == '}') && depth)
			depth--;
	}
	return true;
}

static bool package_name_ok(const char *name)
{
	return pkg_name_valid(name);
}

static char *now_str(char buf[24])
{
	snprintf(buf, 24, "%lld", store_now());
	return buf;
}

static bool is_owner(struct api_ctx *c)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	ferry_error err = {0};
	if (db_run(c->db, &rows, &err, "SELECT owner FROM packages WHERE name = $1", c->package) <
	    0)
		return false;
	return rows.nrows && str_eq(db_cell(&rows, 0, 0), c->account);
}

/* The string member key of the body, or NULL with an error reply set. */
static const char *body_string(struct api_ctx *c, const char *key)
{
	json_t *v = json_object_get(c->body, key);
	if (!json_is_string(v)) {
		api_error(c, 400, "bad-request", "\"%s\": expected a string", key);
		return NULL;
	}
	return json_string_value(v);
}

/* --- whoami, register, collaborators --- */

static void h_account(struct api_ctx *c)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	ferry_error err = {0};
	int rc = db_run(c->db, &rows, &err,
	                "SELECT name FROM packages WHERE owner = $1 UNION "
	                "SELECT package FROM collaborators WHERE account = $1 ORDER BY 1",
	                c->account);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	json_t *pk = json_array();
	for (size_t i = 0; i < rows.nrows; i++)
		json_array_append_new(pk, json_string(db_cell(&rows, i, 0)));
	api_reply(c, 200, json_pack("{s:s, s:o}", "account", c->account, "packages", pk));
}

static void h_register(struct api_ctx *c)
{
	const char *name = body_string(c, "name");
	if (!name)
		return;
	if (!package_name_ok(name))
		return api_error(
		    c, 400, "bad-request",
		    "invalid package name \"%.64s\": use %d to %d of a-z, 0-9 and '-', "
		    "starting with a letter",
		    name, MANIFEST_NAME_MIN, MANIFEST_NAME_MAX);
	ferry_error err = {0};
	char now[24];
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_begin(c->db, true, &err);
	if (rc == 0)
		rc = db_run(c->db, &rows, &err, "SELECT owner FROM packages WHERE name = $1", name);
	if (rc == 0 && rows.nrows) {
		db_rollback(c->db);
		if (str_eq(db_cell(&rows, 0, 0), c->account))
			return api_error(c, 409, "conflict", "you have already registered %s",
			                 name);
		return api_error(c, 409, "conflict", "the name %s is already registered", name);
	}
	if (rc == 0)
		rc = db_run(c->db, NULL, &err,
		            "INSERT INTO packages (name, owner, created) VALUES ($1, $2, $3)", name,
		            c->account, now_str(now));
	if (rc == 0)
		rc = db_commit(c->db, &err);
	if (rc == FERRY_E_EXISTS)
		return api_error(c, 409, "conflict", "the name %s is already registered", name);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	log_info("account %s registered %s", c->account, name);
	api_reply(c, 201, json_pack("{s:s, s:s}", "name", name, "owner", c->account));
}

static void h_package(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	_cleanup_rows_ struct db_rows p = DB_ROWS_INIT, co = DB_ROWS_INIT;
	ferry_error err = {0};
	int rc = db_run(c->db, &p, &err, "SELECT owner, created FROM packages WHERE name = $1",
	                c->package);
	if (rc == 0)
		rc = db_run(c->db, &co, &err,
		            "SELECT account FROM collaborators WHERE package = $1 ORDER BY account",
		            c->package);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	json_t *list = json_array();
	for (size_t i = 0; i < co.nrows; i++)
		json_array_append_new(list, json_string(db_cell(&co, i, 0)));
	api_reply(c, 200,
	          json_pack("{s:s, s:s, s:I, s:o}", "name", c->package, "owner", db_cell(&p, 0, 0),
	                    "created", (json_int_t)db_cell_ll(&p, 0, 1), "collaborators", list));
}

static void h_collab_add(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	if (!is_owner(c))
		return api_error(c, 403, "forbidden",
		                 "only the owner of %s may change its collaborators", c->package);
	const char *acc = body_string(c, "account");
	if (!acc)
		return;
	if (!account_name_valid(acc))
		return api_error(c, 400, "bad-request", "invalid account name \"%.64s\"", acc);
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	char now[24];
	int rc = db_run(c->db, &rows, &err, "SELECT name FROM accounts WHERE name = $1", acc);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	if (rows.nrows == 0)
		return api_error(c, 404, "not-found", "account %s does not exist", acc);
	if (str_eq(acc, c->account))
		return api_error(c, 400, "bad-request", "%s owns %s already", acc, c->package);
	rc = db_run(c->db, NULL, &err,
	            "INSERT INTO collaborators (package, account, added) VALUES ($1, $2, $3) "
	            "ON CONFLICT (package, account) DO NOTHING",
	            c->package, acc, now_str(now));
	if (rc < 0)
		return api_error_from(c, rc, &err);
	log_info("%s added collaborator %s to %s", c->account, acc, c->package);
	api_reply(c, 200, json_pack("{s:s, s:s}", "package", c->package, "collaborator", acc));
}

static void h_collab_remove(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	if (!is_owner(c))
		return api_error(c, 403, "forbidden",
		                 "only the owner of %s may change its collaborators", c->package);
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_run(c->db, &rows, &err,
	                "DELETE FROM collaborators WHERE package = $1 AND account = $2", c->package,
	                c->arg);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	if (rows.changes == 0)
		return api_error(c, 404, "not-found", "%s is not a collaborator on %s", c->arg,
		                 c->package);
	api_reply(c, 200, json_pack("{s:s, s:s}", "package", c->package, "removed", c->arg));
}

/* --- channel changes --- */

struct release_target {
	struct channel ch;
	char name[CHANNEL_NAME_MAX + 1];
};

/* Parse channel names, check their tracks are open; error reply on failure. */
static int parse_channels(struct api_ctx *c, const char *const *names, size_t n,
                          struct release_target *out)
{
	ferry_error err = {0};
	if (n == 0) {
		api_error(c, 400, "invalid-channel", "no channel given");
		return FERRY_E_INVALID;
	}
	if (n > API_MAX_CHANNELS) {
		api_error(c, 400, "invalid-channel", "more than %d channels at once",
		          API_MAX_CHANNELS);
		return FERRY_E_LIMIT;
	}
	for (size_t i = 0; i < n; i++) {
		if (channel_parse(names[i], &out[i].ch, &err) < 0) {
			api_error(c, 400, "invalid-channel", "%s", ferry_error_msg(&err));
			return FERRY_E_INVALID;
		}
		channel_format(&out[i].ch, out[i].name, sizeof(out[i].name));
		if (strcmp(out[i].ch.track, CHANNEL_DEFAULT_TRACK) == 0)
			continue;
		_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
		int rc = db_run(c->db, &rows, &err,
		                "SELECT track FROM tracks WHERE package = $1 AND track = $2",
		                c->package, out[i].ch.track);
		if (rc < 0) {
			api_error_from(c, rc, &err);
			return rc;
		}
		if (rows.nrows == 0) {
			api_error(c, 400, "invalid-channel",
			          "track %s is not open for %s (the store's operator opens tracks: "
			          "ferry-store track add %s %s)",
			          out[i].ch.track, c->package, c->package, out[i].ch.track);
			return FERRY_E_INVALID;
		}
	}
	return 0;
}

/* Channel names from a JSON array of strings; error reply on failure. */
static int body_channels(struct api_ctx *c, const char *key, const char **names, size_t *n)
{
	json_t *arr = json_object_get(c->body, key), *v;
	size_t i;
	if (!json_is_array(arr)) {
		api_error(c, 400, "bad-request", "\"%s\": expected an array of channel names", key);
		return FERRY_E_INVALID;
	}
	if (json_array_size(arr) > API_MAX_CHANNELS) {
		api_error(c, 400, "invalid-channel", "more than %d channels at once",
		          API_MAX_CHANNELS);
		return FERRY_E_LIMIT;
	}
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v)) {
			api_error(c, 400, "bad-request",
			          "\"%s\": expected an array of channel names", key);
			return FERRY_E_INVALID;
		}
		names[i] = json_string_value(v);
	}
	*n = json_array_size(arr);
	return 0;
}

/* Set rev (per architecture: arches maps arch -> revision) on each target
 * channel, fully or progressively (release.h); inside the caller's
 * transaction. Any rollout the channel had ends superseded. */
static int set_channels(struct api_ctx *c, const struct release_target *t, size_t n, json_t *arches,
                        long long pct, const struct release_limits *limits, ferry_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int rc = halt_clear(c->db, c->package, &t[i].ch, err);
		if (rc == 0)
			rc = rollout_supersede(c->db, c->package, &t[i].ch, err);
		if (rc < 0)
			return rc;
		const char *arch;
		json_t *rv;
		json_object_foreach(arches, arch, rv)
		{
			rc = release_row(c->db, c->package, &t[i].ch, arch, json_integer_value(rv),
			                 pct, limits, err);
			if (rc < 0)
				return rc;
		}
	}
	return release_bump(c->db, c->package, err);
}

static json_t *status_json(struct api_ctx *c)
{
	json_t *map = NULL;
	ferry_error err = {0};
	if (channelmap_build(c->db, c->package, store_now(), &map, NULL, &err) < 0 ||
	    halt_annotate(c->db, c->package, map, &err) < 0 ||
	    deltas_annotate(c->db, c->package, map, &err) < 0) {
		log_error("status of %s: %s", c->package, ferry_error_msg(&err));
		json_decref(map);
		return json_null();
	}
	return map;
}

/* Commit what a map change did (rc: how it went so far); on failure roll
 * back and answer the error. True when committed. */
static bool commit_or_answer(struct api_ctx *c, int rc, ferry_error *err)
{
	if (rc == 0)
		rc = db_commit(c->db, err);
	if (rc == 0)
		return true;
	db_rollback(c->db);
	api_error_from(c, rc, err);
	return false;
}

/* The names of n channels, as a JSON array. */
static json_t *target_names(const struct release_target *t, size_t n)
{
	json_t *names = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(names, json_string(t[i].name));
	return names;
}

/* Release revision rev (its architectures) to channels; used by release and
 * by push --release. On success the reply is set. */
static void do_release(struct api_ctx *c, long long rev, const char *const *names, size_t n,
                       long long pct, const struct release_limits *limits,
                       const struct rollout_spec *stages)
{
	long long rollouts[API_MAX_CHANNELS];
	if (stages)
		pct = stages->stages[0];
	struct release_target t[API_MAX_CHANNELS];
	ferry_error err = {0};
	if (parse_channels(c, names, n, t) < 0)
		return;
	char revs[24];
	snprintf(revs, sizeof(revs), "%lld", rev);
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc = db_begin(c->db, true, &err);
	if (rc == 0 && api_authorise_package(c, true) < 0) {
		db_rollback(c->db);
		return;
	}
	if (rc == 0)
		rc = db_run(
		    c->db, &rows, &err,
		    "SELECT architectures FROM revisions WHERE package = $1 AND revision = $2",
		    c->package, revs);
	if (rc == 0 && rows.nrows == 0) {
		db_rollback(c->db);
		return api_error(c, 404, "not-found", "%s has no revision %lld", c->package, rev);
	}
	json_t *arches = json_object();
	if (rc == 0) {
		json_t *list = json_loads(db_cell(&rows, 0, 0), 0, NULL), *a;
		size_t i;
		json_array_foreach(list, i, a)
		    json_object_set_new(arches, json_string_value(a), json_integer(rev));
		json_decref(list);
		rc = set_channels(c, t, n, arches, pct, limits, &err);
	}
	for (size_t i = 0; stages && rc == 0 && i < n; i++)
		rc = rollout_begin(c->db, c->package, &t[i].ch, rev, stages, limits, &rollouts[i],
		                   &err);
	json_decref(arches);
	if (rc == 0 && FAULT("release-before-commit"))
		rc = ferry_error_set(&err, FERRY_E_FAULT, "fault point release-before-commit");
	if (!commit_or_answer(c, rc, &err))
		return;
	bool published = api_publish_after_commit(c);
	json_t *released = target_names(t, n);
	log_info("%s released %s revision %lld to %zu channel%s%s", c->account, c->package, rev, n,
	         n == 1 ? "" : "s", pct > 0 && pct < 100 ? " progressively" : "");
	json_t *reply = json_pack("{s:s, s:I, s:o, s:o, s:b, s:o}", "package", c->package,
	                          "revision", (json_int_t)rev, "released", released, "progressive",
	                          pct > 0 && pct < 100 ? json_integer(pct) : json_null(),
	                          "published", published, "status", status_json(c));
	if (stages && reply) {
		json_t *list = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *one = rollout_show(c->st, c->db, rollouts[i], &err);
			json_array_append_new(list, one ? one : json_null());
		}
		json_object_set_new(reply, "rollouts", list);
	}
	api_reply(c, 200, reply);
}

static void h_release(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	json_t *jr = json_object_get(c->body, "revision");
	if (!json_is_integer(jr) || json_integer_value(jr) < 1)
		return api_error(c, 400, "bad-request",
		                 "\"revision\": expected a positive integer");
	long long pct = 0;
	json_t *jp = json_object_get(c->body, "progressive");
	if (jp && !json_is_null(jp)) {
		if (!json_is_integer(jp) || json_integer_value(jp) < 1 ||
		    json_integer_value(jp) > 100)
			return api_error(c, 400, "bad-request",
			                 "\"progressive\": expected a percentage from 1 to 100");
		pct = json_integer_value(jp);
	}
	struct release_limits limits = release_store_limits;
	static const struct {
		const char *key;
		long long max;
		const char *what;
	} lim[] = {
	    {"halt-failures", HALT_FAILURES_MAX, "a number of devices from 0 (never halt)"},
	    {"halt-ratio", 100, "a percentage from 0"},
	};
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(c->body, lim[i].key);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > lim[i].max)
			return api_error(c, 400, "bad-request", "\"%s\": expected %s to %lld",
			                 lim[i].key, lim[i].what, lim[i].max);
		*(i == 0 ? &limits.failures : &limits.ratio) = json_integer_value(v);
	}
	struct rollout_spec stages;
	bool staged = false;
	ferry_error err = {0};
	if (rollout_spec_parse(c->body, &stages, &staged, &err) < 0)
		return api_error(c, 400, "bad-request", "%s", ferry_error_msg(&err));
	const char *names[API_MAX_CHANNELS];
	size_t n = 0;
	if (body_channels(c, "channels", names, &n) < 0)
		return;
	do_release(c, json_integer_value(jr), names, n, pct, &limits, staged ? &stages : NULL);
}

static void h_promote(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	const char *from = body_string(c, "from");
	if (!from)
		return;
	const char *to = body_string(c, "to");
	if (!to)
		return;
	struct release_target src, dst;
	const char *fn[1] = {from}, *tn[1] = {to};
	if (parse_channels(c, fn, 1, &src) < 0 || parse_channels(c, tn, 1, &dst) < 0)
		return;
	if (strcmp(src.name, dst.name) == 0)
		return api_error(c, 400, "invalid-channel", "--from and --to are both %s",
		                 src.name);
	ferry_error err = {0};
	json_t *arches = NULL;
	int rc = db_begin(c->db, true, &err);
	if (rc == 0 && api_authorise_package(c, true) < 0) {
		db_rollback(c->db);
		return;
	}
	if (rc == 0)
		rc = channelmap_resolve(c->db, c->package, &src.ch, store_now(), &arches, &err);
	if (rc == 0 && json_object_size(arches) == 0) {
		db_rollback(c->db);
		json_decref(arches);
		return api_error(c, 400, "bad-request", "%s holds no revision of %s to promote",
		                 src.name, c->package);
	}
	if (rc == 0)
		rc = set_channels(c, &dst, 1, arches, 0, &release_store_limits, &err);
	if (!commit_or_answer(c, rc, &err)) {
		json_decref(arches);
		return;
	}
	bool published = api_publish_after_commit(c);
	log_info("%s promoted %s from %s to %s", c->account, c->package, src.name, dst.name);
	api_reply(c, 200,
	          json_pack("{s:s, s:s, s:s, s:o, s:b, s:o}", "package", c->package, "from",
	                    src.name, "to", dst.name, "revisions", arches, "published", published,
	                    "status", status_json(c)));
}

static void h_close(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	const char *names[API_MAX_CHANNELS];
	size_t n = 0;
	struct release_target t[API_MAX_CHANNELS];
	if (body_channels(c, "channels", names, &n) < 0 || parse_channels(c, names, n, t) < 0)
		return;
	ferry_error err = {0};
	int rc = db_begin(c->db, true, &err);
	if (rc == 0 && api_authorise_package(c, true) < 0) {
		db_rollback(c->db);
		return;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = db_run(c->db, NULL, &err,
		            "DELETE FROM channels WHERE package = $1 AND track = $2 AND risk = $3 "
		            "AND branch = $4",
		            c->package, t[i].ch.track, channel_risk_name(t[i].ch.risk),
		            t[i].ch.branch);
		if (rc == 0)
			rc = halt_clear(c->db, c->package, &t[i].ch, &err);
		if (rc == 0)
			rc = rollout_supersede(c->db, c->package, &t[i].ch, &err);
	}
	if (rc == 0)
		rc = release_bump(c->db, c->package, &err);
	if (!commit_or_answer(c, rc, &err))
		return;
	bool published = api_publish_after_commit(c);
	json_t *closed = target_names(t, n);
	log_info("%s closed %zu channel%s of %s", c->account, n, n == 1 ? "" : "s", c->package);
	api_reply(c, 200,
	          json_pack("{s:s, s:o, s:b, s:o}", "package", c->package, "closed", closed,
	                    "published", published, "status", status_json(c)));
}

static void h_status(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	json_t *map = NULL;
	ferry_error err = {0};
	int rc = channelmap_build(c->db, c->package, store_now(), &map, NULL, &err);
	if (rc == 0)
		rc = halt_annotate(c->db, c->package, map, &err);
	if (rc == 0)
		rc = deltas_annotate(c->db, c->package, map, &err);
	if (rc < 0) {
		json_decref(map);
		return api_error_from(c, rc, &err);
	}
	api_reply(c, 200, map);
}

static void h_revisions(struct api_ctx *c)
{
	if (api_authorise_package(c, false) < 0)
		return;
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	ferry_error err = {0};
	int rc = db_run(c->db, &rows, &err,
	                "SELECT revision, version, architectures, size, sha256, created, uploader "
	                "FROM revisions WHERE package = $1 ORDER BY revision DESC",
	                c->package);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	json_t *map = status_json(c);
	json_t *list = json_array();
	for (size_t i = 0; i < rows.nrows; i++) {
		long long rev = db_cell_ll(&rows, i, 0);
		json_t *in = json_array(), *e;
		size_t k;
		json_array_foreach(json_object_get(map, "channels"), k, e)
		{
			json_t *r = json_object_get(e, "revision");
			json_t *p = json_object_get(json_object_get(e, "progressive"), "revision");
			bool own = json_is_null(json_object_get(e, "follows"));
			if (own && ((json_is_integer(r) && json_integer_value(r) == rev) ||
			            (json_is_integer(p) && json_integer_value(p) == rev))) {
				const char *nm = json_string_value(json_object_get(e, "channel"));
				bool dup = false;
				json_t *x;
				size_t j;
				json_array_foreach(in, j, x) dup |=
				    str_eq(json_string_value(x), nm);
				if (!dup)
					json_array_append_new(in, json_string(nm));
			}
		}
		json_t *archs = json_loads(db_cell(&rows, i, 2), 0, NULL);
		json_array_append_new(
		    list,
		    json_pack("{s:I, s:s, s:o, s:I, s:s, s:I, s:s, s:o}", "revision",
		              (json_int_t)rev, "version", db_cell(&rows, i, 1), "architectures",
		              archs ? archs : json_array(), "size",
		              (json_int_t)db_cell_ll(&rows, i, 3), "sha256", db_cell(&rows, i, 4),
		              "created", (json_int_t)db_cell_ll(&rows, i, 5), "uploader",
		              db_cell(&rows, i, 6), "channels", in));
	}
	json_decref(map);
	api_reply(c, 200, json_pack("{s:s, s:o}", "package", c->package, "revisions", list));
}

/* --- upload --- */

static int store_blob(struct api_ctx *c, ferry_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	const char *h = c->upload->sha256;
	if (str_printf(dir, sizeof(dir), "%s/sha256/%.2s", c->st->blobs, h) < 0 ||
	    str_printf(path, sizeof(path), "%s/%s", dir, h) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "blob path too long");
	int rc = fs_mkdir_p(dir, 0755, err);
	if (rc < 0)
		return rc;
	struct stat sb;
	if (stat(path, &sb) == 0 && (uint64_t)sb.st_size == c->upload->size)
		return 0; /* the same bytes are there already (an earlier, interrupted push) */
	if (rename(c->upload->path, path) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "store blob %s", path);
	return fs_fsync_dir(dir, err);
}

static json_t *revision_reply(const char *package, long long rev, const char *version,
                              const struct api_upload *u, bool existing)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:I, s:b}", "package", package, "revision",
	                 (json_int_t)rev, "version", version, "sha256", u->sha256, "size",
	                 (json_int_t)u->size, "existing", existing);
}

static void h_push(struct api_ctx *c)
{
	ferry_error err = {0};
	struct upload_info info;
	const char *rel_names[API_MAX_CHANNELS];
	size_t nrel = 0;
	char relbuf[1024];

	/* the channels to release to, checked before the (long) validation */
	if (c->query_release && *c->query_release) {
		if (strlen(c->query_release) >= sizeof(relbuf))
			return api_error(c, 400, "invalid-channel", "release list too long");
		snprintf(relbuf, sizeof(relbuf), "%s", c->query_release);
		for (char *s = relbuf, *tok; (tok = strsep(&s, ","));) {
			if (nrel == API_MAX_CHANNELS)
				return api_error(c, 400, "invalid-channel",
				                 "more than %d channels at once", API_MAX_CHANNELS);
			rel_names[nrel++] = tok;
		}
		struct release_target t[API_MAX_CHANNELS];
		for (size_t i = 0; i < nrel; i++)
			if (channel_parse(rel_names[i], &t[i].ch, &err) < 0)
				return api_error(c, 400, "invalid-channel", "%s",
				                 ferry_error_msg(&err));
	}
	int rc = validate_image(c->upload->path, &info, &err);
	if (rc < 0) {
		if (rc == FERRY_E_NOMEM || rc == FERRY_E_IO)
			return api_error_from(c, rc, &err);
		return api_error(c, rc == FERRY_E_LIMIT ? 413 : 400, "invalid-image",
		                 "invalid image: %s", ferry_error_msg(&err));
	}
	const struct manifest *m = info.manifest;
	snprintf(c->package, sizeof(c->package), "%s", m->name);
	json_t *archs = json_array();
	for (size_t i = 0; i < m->n_architectures; i++) {
		bool known = false;
		for (size_t k = 0; known_arches[k]; k++)
			known |= strcmp(known_arches[k], m->architectures[i]) == 0;
		if (!known) {
			json_decref(archs);
			upload_info_free(&info);
			return api_error(c, 400, "invalid-image",
			                 "invalid image: architecture \"%.32s\" is not one this "
			                 "store knows (all, amd64, arm64, armhf, i386, riscv64, "
			                 "ppc64el, s390x)",
			                 m->architectures[i]);
		}
		json_array_append_new(archs, json_string(m->architectures[i]));
	}
	if (json_array_size(archs) == 0)
		json_array_append_new(archs, json_string("all"));
	_cleanup_free_ char *archs_text = json_dumps(archs, JSON_COMPACT);
	json_decref(archs);
	_cleanup_free_ char *version = strdup(m->version ? m->version : "");
	if (!archs_text || !version) {
		upload_info_free(&info);
		return api_error(c, 500, "internal", "out of memory");
	}

	if (api_authorise_package(c, false) < 0) {
		upload_info_free(&info);
		return;
	}
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	rc = db_run(c->db, &rows, &err,
	            "SELECT revision, version FROM revisions WHERE package = $1 AND sha256 = $2",
	            c->package, c->upload->sha256);
	if (rc == 0 && rows.nrows) {
		long long rev = db_cell_ll(&rows, 0, 0);
		upload_info_free(&info);
		if (nrel)
			return do_release(c, rev, rel_names, nrel, 0, &release_store_limits, NULL);
		return api_reply(
		    c, 200, revision_reply(c->package, rev, db_cell(&rows, 0, 1), c->upload, true));
	}
	db_rows_free(&rows);
	if (rc == 0)
		rc = store_blob(c, &err);
	if (rc == 0 && FAULT("push-after-blob"))
		rc = ferry_error_set(&err, FERRY_E_FAULT, "fault point push-after-blob");
	char now[24], size[24];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)c->upload->size);
	long long rev = 0;
	if (rc == 0)
		rc = db_begin(c->db, true, &err);
	if (rc == 0 && api_authorise_package(c, true) < 0) {
		db_rollback(c->db);
		upload_info_free(&info);
		return;
	}
	if (rc == 0)
		rc = db_run(c->db, &rows, &err,
		            "UPDATE packages SET next_revision = next_revision + 1 WHERE name = $1 "
		            "RETURNING next_revision - 1",
		            c->package);
	if (rc == 0) {
		rev = db_cell_ll(&rows, 0, 0);
		char revs[24];
		snprintf(revs, sizeof(revs), "%lld", rev);
		rc = db_run(
		    c->db, NULL, &err,
		    "INSERT INTO revisions (package, revision, sha256, sha512, size, version, "
		    "architectures, manifest, sbom, uploader, created) VALUES ($1, $2, $3, "
		    "$4, $5, $6, $7, $8, $9, $10, $11)",
		    c->package, revs, c->upload->sha256, c->upload->sha512, size, version,
		    archs_text, info.manifest_text, info.sbom_text, c->account, now_str(now));
	}
	if (rc == 0)
		rc = db_commit(c->db, &err);
	upload_info_free(&info);
	if (rc == FERRY_E_EXISTS) {
		/* the same bytes were pushed at the same moment by someone else */
		db_rows_free(&rows);
		db_rollback(c->db);
		rc = db_run(c->db, &rows, &err,
		            "SELECT revision FROM revisions WHERE package = $1 AND sha256 = $2",
		            c->package, c->upload->sha256);
		if (rc == 0 && rows.nrows)
			return api_reply(c, 200,
			                 revision_reply(c->package, db_cell_ll(&rows, 0, 0),
			                                version, c->upload, true));
		rc = rc < 0 ? rc : FERRY_E_EXISTS;
	}
	if (rc < 0) {
		db_rollback(c->db);
		return api_error_from(c, rc, &err);
	}
	log_info("%s pushed %s revision %lld (%s, %llu bytes, sha256 %s)", c->account, c->package,
	         rev, version, (unsigned long long)c->upload->size, c->upload->sha256);
	if (nrel) {
		do_release(c, rev, rel_names, nrel, 0, &release_store_limits, NULL);
		if (c->status == 200)
			json_object_set_new(c->reply, "version", json_string(version));
		return;
	}
	api_reply(c, 201, revision_reply(c->package, rev, version, c->upload, false));
}

/* --- routing --- */

static const struct api_route routes[] = {
    {"GET", "/v1/account", API_BODY_NONE, true, h_account},
    {"POST", "/v1/packages", API_BODY_JSON, true, h_register},
    {"POST", "/v1/push", API_BODY_UPLOAD, true, h_push},
    {"GET", "/v1/packages/*", API_BODY_NONE, true, h_package},
    {"POST", "/v1/packages/*/collaborators", API_BODY_JSON, true, h_collab_add},
    {"DELETE", "/v1/packages/*/collaborators/*", API_BODY_NONE, true, h_collab_remove},
    {"POST", "/v1/packages/*/release", API_BODY_JSON, true, h_release},
    {"POST", "/v1/packages/*/promote", API_BODY_JSON, true, h_promote},
    {"POST", "/v1/packages/*/close", API_BODY_JSON, true, h_close},
    {"GET", "/v1/packages/*/status", API_BODY_NONE, true, h_status},
    {"GET", "/v1/packages/*/revisions", API_BODY_NONE, true, h_revisions},
    {"GET", "/v1/packages/*/revisions/*/components", API_BODY_NONE, true, sbom_h_components},
    {"GET", "/v1/packages/*/vulns", API_BODY_NONE, true, vulns_h_findings},
    {"GET", "/v1/packages/*/webhooks", API_BODY_NONE, true, webhooks_h_list},
    {"POST", "/v1/packages/*/webhooks", API_BODY_JSON, true, webhooks_h_add},
    {"DELETE", "/v1/packages/*/webhooks/*", API_BODY_NONE, true, webhooks_h_remove},
    {"GET", "/v1/account/webhooks", API_BODY_NONE, true, webhooks_h_account_list},
    {"POST", "/v1/account/webhooks", API_BODY_JSON, true, webhooks_h_account_add},
    {"DELETE", "/v1/account/webhooks/*", API_BODY_NONE, true, webhooks_h_account_remove},
    /* devices sign their reports instead of sending a token */
    {"POST", "/v1/reports", API_BODY_JSON, false, reports_h_post},
    {"GET", "/v1/packages/*/reports", API_BODY_NONE, true, reports_h_list},
    {"GET", "/v1/packages/*/rollouts", API_BODY_NONE, true, rollout_h_list},
    {"GET", "/v1/packages/*/devices", API_BODY_NONE, true, inventory_h_devices},
    {"POST", "/v1/devices/checkin", API_BODY_JSON, false, inventory_h_checkin},
    {"POST", "/v1/packages/*/rollouts/*", API_BODY_JSON, true, rollout_h_action},
};

/* Match path against pattern; '*' captures one element into caps. */
static bool match(const char *pattern, const char *path, char caps[2][80])
{
	int ncap = 0;
	while (*pattern && *path) {
		if (*pattern == '*') {
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= 80 || ncap == 2)
				return false;
			memcpy(caps[ncap], path, n);
			caps[ncap][n] = '\0';
			ncap++;
			path += n;
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return !*pattern && !*path;
}

const struct api_route *api_route_find(const char *method, const char *path, struct api_ctx *c,
                                       unsigned *status)
{
	bool path_known = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		char caps[2][80] = {"", ""};
		if (!match(routes[i].pattern, path, caps))
			continue;
		path_known = true;
		if (strcmp(routes[i].method, method) != 0)
			continue;
		snprintf(c->package, sizeof(c->package), "%s", caps[0]);
		snprintf(c->arg, sizeof(c->arg), "%s", caps[1]);
		c->method = routes[i].method;
		return &routes[i];
	}
	*status = path_known ? 405 : 404;
	return NULL;
}

enum api_body api_route_body(const struct api_route *r)
{
	return r->body;
}

const char *api_route_pattern(const struct api_route *r)
{
	return r->pattern;
}

bool api_route_needs_auth(const struct api_route *r)
{
	return r->auth;
}

void api_route_run(const struct api_route *r, struct api_ctx *c)
{
	c->status = 0;
	c->reply = NULL;
	if (*c->package && !package_name_ok(c->package))
		return api_error(c, 404, "not-found", "package %.64s is not registered",
		                 c->package);
	r->fn(c);
	if (!c->reply)
		api_error(c, 500, "internal", "no reply");
}
