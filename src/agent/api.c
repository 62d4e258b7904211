/* api.c: ferryd's local API, HTTP and JSON on a Unix socket (libmicrohttpd
 * on a socket ferryd binds itself, driven from the main loop). The peer's
 * credentials (SO_PEERCRED) decide: root, or the user ferryd runs as, may
 * change state; a package's configuration is read by them and the package's
 * own user; anyone may read the rest, and reads change nothing. ferryd
 * accepts the connections itself and hands them to the server: a user other
 * than root and ferryd's own gets a bounded share of them (API_MAX_* in
 * agent.h), so no local user can fill the server for root. Requests that
 * change packages create a change and answer at once with its id (202,
 * "async"); the client follows it with GET /v1/changes/ID. The routes, who
 * may use them and the limits are listed in docs/device.md.
 *
 * Answers: {"type": "sync", "status-code": 200, "result": ...},
 * {"type": "async", "status-code": 202, "change": "ID"}, or
 * {"type": "error", "status-code": N, "result": {"message": ..., "kind": ...}}.
 * Request bodies are bounded (API_MAX_BODY) before they are parsed. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/errhttp.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "conf.h"
#include "confine.h"
#include "pkg/channel.h"
#include "pkg/name.h"
#include "report.h"
#include "revs.h"
#include "sandbox.h"
#include "services.h"
#include "steps.h"
#include "store.h"
#include "txn.h"

#define API_MAX_BODY (64 * 1024)
#define API_MAX_LOG_LINES 10000

struct request {
	struct buf body;
	bool too_big;
};

struct reply {
	unsigned status;
	json_t *json; /* the whole answer */
};

static struct MHD_Daemon *mhd(struct agent *ag)
{
	return ag->mhd;
}

static struct reply sync_reply(json_t *result)
{
	json_t *o = json_pack("{s:s, s:i, s:o}", "type", "sync", "status-code", 200, "result",
	                      result ? result : json_null());
	return (struct reply){200, o};
}

static struct reply error_reply(unsigned status, int code, const char *fmt, ...) FERRY_PRINTF(3, 4);
static struct reply error_reply(unsigned status, int code, const char *fmt, ...)
{
	char msg[FERRY_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "error", "status-code",
	                      (int)status, "result", "message", msg, "kind", ferry_errname(code));
	return (struct reply){status, o};
}

static struct reply ferr_reply(int code, const ferry_error *err)
{
	return error_reply(ferry_http_error_of(code).status, code, "%s", ferry_error_msg(err));
}

static struct reply async_reply(int64_t id)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	json_t *o =
	    json_pack("{s:s, s:i, s:s}", "type", "async", "status-code", 202, "change", ids);
	return (struct reply){202, o};
}

/* Log text as a JSON string: bytes that are not UTF-8 become '?'. */
static json_t *text_json(char *text)
{
	if (!text)
		return json_string("");
	if (!str_valid_utf8(text, strlen(text)))
		for (char *p = text; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
	return json_string(text);
}

/* --- who asks ------------------------------------------------------------- */

static int fd_peer_uid(int fd, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	*uid = cred.uid;
	return 0;
}

static bool peer_uid(struct MHD_Connection *c, uid_t *uid)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci && fd_peer_uid(ci->connect_fd, uid) == 0;
}

/* root, or the user ferryd runs as */
static bool is_admin(const struct agent *ag, uid_t uid)
{
	return uid == 0 || uid == ag->owner_uid;
}

static bool may_change(struct agent *ag, struct MHD_Connection *c)
{
	uid_t uid;
	return peer_uid(c, &uid) && is_admin(ag, uid);
}

/* --- reads ---------------------------------------------------------------- */

/* The change under way on a package, if any: {"id", "kind", "from", "to"}
 * (NULL when none). A refresh, install or revert makes its revision current
 * before its services and health are checked; until the change is done the
 * package is said to run the revision it ran before. */
static json_t *change_in_progress(struct agent *ag, const char *name)
{
	json_t *row = NULL;
	if (state_query_row(ag->db, &row, NULL,
	                    "SELECT id, kind, data FROM changes WHERE name=? AND status IN "
	                    "('Do', 'Doing') AND kind IN ('install', 'install-file', 'refresh',"
	                    " 'revert') ORDER BY id LIMIT 1",
	                    "t", name) < 0)
		return NULL;
	json_error_t jerr;
	json_t *data = json_loads(jstr(row, "data"), 0, &jerr);
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(row, "id")));
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "kind", jstr(row, "kind"), "from",
	                      data ? jstr(data, "from") : "", "to", data ? jstr(data, "to") : "");
	json_decref(data);
	json_decref(row);
	return o;
}

static json_t *package_json(struct agent *ag, json_t *pkg, bool detail)
{
	const char *name = jstr(pkg, "name"), *cur = jstr(pkg, "current");
	json_t *o = json_object();
	json_t *busy = change_in_progress(ag, name);
	if (busy && *jstr(busy, "from") && strcmp(cur, jstr(busy, "to")) == 0)
		cur = jstr(busy, "from"); /* switched, not yet kept */
	if (busy)
		json_object_set_new(o, "change-in-progress", busy);
	json_object_set(o, "name", json_object_get(pkg, "name"));
	json_object_set_new(o, "revision", json_string(cur));
	json_object_set(o, "channel", json_object_get(pkg, "channel"));
	json_object_set(o, "installed", json_object_get(pkg, "installed"));
	json_t *rev = NULL;
	if (state_query_row(
	        ag->db, &rev, NULL,
	        "SELECT version, sha256, size, local FROM revisions WHERE name=? AND rev=?", "tt",
	        name, cur) == 0) {
		json_object_set(o, "version", json_object_get(rev, "version"));
		json_object_set(o, "sha256", json_object_get(rev, "sha256"));
		json_object_set(o, "size", json_object_get(rev, "size"));
		json_int_t local = json_integer_value(json_object_get(rev, "local"));
		json_object_set_new(o, "local", json_boolean(local));
		char dir[PATH_MAX];
		if (local == REV_LOCAL_TRIED && rev_tried_dir(ag, name, cur, dir) == 0)
			json_object_set_new(o, "tried", json_string(dir));
		json_decref(rev);
	}
	/* updates of a package from the store cannot be verified (steps.c) */
	_cleanup_free_ char *since = state_config_get(ag->db, "tuf-unverified-since");
	if (since && !json_is_true(json_object_get(o, "local"))) {
		char when[32];
		store_utc(strtoll(since, NULL, 10), when);
		json_object_set_new(o, "updates-unverified-since", json_string(when));
	}
	json_t *hold = NULL;
	if (state_query_row(
	        ag->db, &hold, NULL,
	        "SELECT name, until FROM holds WHERE (name=? OR name='*') AND (until=0 OR until>?)"
	        " ORDER BY until=0 DESC, until DESC",
	        "ti", name, wall_s()) == 0) {
		json_object_set(o, "held-until", json_object_get(hold, "until"));
		json_decref(hold);
	}
	if (!detail)
		return o;
	json_t *revs = NULL;
	if (state_query(
	        ag->db, &revs, NULL,
	        "SELECT rev AS revision, version, status, local, added, sha256, size FROM revisions"
	        " WHERE name=? ORDER BY added DESC, rowid DESC",
	        "t", name) == 0)
		json_object_set_new(o, "revisions", revs);
	json_t *blocked = NULL;
	if (state_query(ag->db, &blocked, NULL,
	                "SELECT rev AS revision, reason, at FROM blocked WHERE name=? ORDER BY at",
	                "t", name) == 0)
		json_object_set_new(o, "blocked", blocked);
	struct manifest *m = NULL;
	ferry_error err;
	if (rev_manifest(ag, name, cur, &m, &err) == 0) {
		json_object_set_new(o, "summary", json_string(m->summary));
		if (m->description)
			json_object_set_new(o, "description", json_string(m->description));
		json_t *apps = json_array();
		for (size_t i = 0; i < m->n_apps; i++) {
			const struct manifest_app *a = &m->apps[i];
			json_t *ao =
			    json_pack("{s:s, s:s}", "name", a->name, "command", a->command);
			if (a->daemon != DAEMON_NONE) {
				json_object_set_new(ao, "daemon",
				                    json_string(manifest_daemon_name(a->daemon)));
				struct service *s = svc_find(ag, name, a->name);
				json_object_set_new(
				    ao, "active",
				    json_string(s ? svc_state_name(s->state) : "inactive"));
			}
			json_array_append_new(apps, ao);
		}
		json_object_set_new(o, "apps", apps);
		json_t *hooks = json_array();
		for (int h = 0; h < HOOK__COUNT; h++)
			if (m->hooks[h].present)
				json_array_append_new(
				    hooks, json_string(manifest_hook_name((enum manifest_hook)h)));
		json_object_set_new(o, "hooks", hooks);
		manifest_free(m);
	}
	return o;
}

static struct reply get_packages(struct agent *ag, struct MHD_Connection *c)
{
	const char *all = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "all");
	json_t *rows = NULL;
	ferry_error err;
	int rc;
	if (all && strcmp(all, "true") == 0) {
		rc = state_query(
		    ag->db, &rows, &err,
		    "SELECT r.name, r.rev AS revision, r.version, r.status, r.local, p.channel,"
		    " (p.current = r.rev) AS current FROM revisions r LEFT JOIN packages p ON "
		    "p.name=r.name"
		    " ORDER BY r.name, r.added, r.rowid",
		    NULL);
		if (rc < 0)
			return ferr_reply(rc, &err);
		return sync_reply(rows);
	}
	rc = state_query(ag->db, &rows, &err, "SELECT * FROM packages ORDER BY name", NULL);
	if (rc < 0)
		return ferr_reply(rc, &err);
	json_t *out = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(rows, i, p) json_array_append_new(out, package_json(ag, p, false));
	json_decref(rows);
	return sync_reply(out);
}

static struct reply get_package(struct agent *ag, const char *name)
{
	json_t *row = NULL;
	ferry_error err;
	int rc =
	    state_query_row(ag->db, &row, &err, "SELECT * FROM packages WHERE name=?", "t", name);
	if (rc == FERRY_E_NOTFOUND)
		return error_reply(404, rc, "%s is not installed", name);
	if (rc < 0)
		return ferr_reply(rc, &err);
	json_t *o = package_json(ag, row, true);
	json_decref(row);
	return sync_reply(o);
}

static json_t *change_json(struct agent *ag, json_t *c, bool steps)
{
	json_t *o = json_object();
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(c, "id")));
	json_object_set_new(o, "id", json_string(id));
	const char *keys[] = {"kind", "name", "summary", "status", "spawn", "ready", "err"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		json_object_set(o, keys[i], json_object_get(c, keys[i]));
	json_error_t jerr;
	json_t *data = json_loads(jstr(c, "data"), 0, &jerr);
	if (data) {
		const char *dk[] = {"from",    "to",          "version",   "channel", "note",
		                    "changes", "progressive", "available", "download"};
		for (size_t i = 0; i < ARRAY_SIZE(dk); i++)
			if (json_object_get(data, dk[i]))
				json_object_set(o, dk[i], json_object_get(data, dk[i]));
		json_decref(data);
	}
	if (ag->running_change == json_integer_value(json_object_get(c, "id")) &&
	    ag->progress_total)
		json_object_set_new(o, "progress",
		                    json_pack("{s:I, s:I}", "done", (json_int_t)ag->progress_done,
		                              "total", (json_int_t)ag->progress_total));
	if (steps) {
		json_t *rows = NULL;
		if (state_query(ag->db, &rows, NULL,
		                "SELECT seq, kind, summary, status, started, ended, started_ms, "
		                "ended_ms, msg FROM steps"
		                " WHERE change=? ORDER BY seq",
		                "i", json_integer_value(json_object_get(c, "id"))) == 0)
			json_object_set_new(o, "steps", rows);
	}
	return o;
}

static struct reply get_changes(struct agent *ag, struct MHD_Connection *c)
{
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	json_t *rows = NULL;
	ferry_error err;
	const char *n_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
	unsigned long long n = 100;
	if (n_arg && (str_to_u64(n_arg, 100, &n) < 0 || n == 0))
		return error_reply(400, FERRY_E_INVALID,
		                   "changes: n: expected 1 to 100; got \"%s\"", n_arg);
	/* a refresh list (ferry refresh --list) is a question, not a change */
	int rc = state_query(ag->db, &rows, &err,
	                     "SELECT * FROM (SELECT * FROM changes WHERE (?1 IS NULL OR name=?1)"
	                     " AND kind<>'refresh-list' ORDER BY id DESC LIMIT ?2) ORDER BY id",
	                     "ti", name, (int64_t)n);
	if (rc < 0)
		return ferr_reply(rc, &err);
	json_t *out = json_array();
	size_t i;
	json_t *ch;
	json_array_foreach(rows, i, ch) json_array_append_new(out, change_json(ag, ch, false));
	json_decref(rows);
	return sync_reply(out);
}

static struct reply get_change(struct agent *ag, const char *id)
{
	unsigned long long n;
	if (str_to_u64(id, 1ull << 62, &n) < 0)
		return error_reply(400, FERRY_E_INVALID, "change id must be a number; got \"%s\"",
		                   id);
	json_t *row = NULL;
	ferry_error err;
	int rc = state_query_row(ag->db, &row, &err, "SELECT * FROM changes WHERE id=?", "i",
	                         (int64_t)n);
	if (rc == FERRY_E_NOTFOUND)
		return error_reply(404, rc, "no change %s", id);
	if (rc < 0)
		return ferr_reply(rc, &err);
	json_t *o = change_json(ag, row, true);
	json_decref(row);
	return sync_reply(o);
}

static struct reply get_services(struct agent *ag)
{
	json_t *out = json_array();
	json_t *rows = NULL;
	if (state_query(ag->db, &rows, NULL, "SELECT name, current FROM packages ORDER BY name",
	                NULL) == 0) {
		size_t i;
		json_t *p;
		json_array_foreach(rows, i, p)
		{
			struct manifest *m = NULL;
			ferry_error err;
			if (rev_manifest(ag, jstr(p, "name"), jstr(p, "current"), &m, &err) < 0)
				continue;
			for (size_t k = 0; k < m->n_apps; k++) {
				const struct manifest_app *a = &m->apps[k];
				if (a->daemon == DAEMON_NONE)
					continue;
				struct service *s = svc_find(ag, m->name, a->name);
				json_t *o =
				    json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", m->name, "app",
				              a->name, "daemon", manifest_daemon_name(a->daemon),
				              "active", s ? svc_state_name(s->state) : "inactive",
				              "revision", s ? s->rev : jstr(p, "current"));
				if (s) {
					json_object_set_new(o, "pid", json_integer(s->pid));
					json_object_set_new(o, "restarts", json_integer(s->exits));
				}
				json_array_append_new(out, o);
			}
			manifest_free(m);
		}
		json_decref(rows);
	}
	return sync_reply(out);
}

static bool split_app(const char *spec, char *name, char *app)
{
	const char *dot = strchr(spec, '.');
	if (!dot)
		return str_copy(name, STATE_NAME_MAX, spec) == 0 && (app[0] = '\0', true);
	size_t n = (size_t)(dot - spec);
	if (n == 0 || n >= STATE_NAME_MAX)
		return false;
	memcpy(name, spec, n);
	name[n] = '\0';
	return str_copy(app, STATE_NAME_MAX, dot + 1) == 0;
}

static json_t *lines_json(const struct log_lines *l)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:o}", "time", l->v[i].stamp, "text",
		                                   text_json(l->v[i].text)));
	return a;
}

/* The last n lines of each app's log (or of one), since a time (ms since
 * the epoch), or what came after the offsets a previous answer gave. */
static struct reply get_logs(struct agent *ag, struct MHD_Connection *c)
{
	const char *spec = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	const char *ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
	const char *ss = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
	const char *offs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offsets");
	char name[STATE_NAME_MAX], app[STATE_NAME_MAX];
	if (!spec || !split_app(spec, name, app) || !pkg_name_valid(name))
		return error_reply(400, FERRY_E_INVALID, "logs: expected NAME or NAME.APP");
	char cur[STATE_REV_MAX];
	ferry_error err;
	int rc = state_current(ag->db, name, cur, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	unsigned long long n = 10, since_ms = 0;
	if (ns && str_to_u64(ns, API_MAX_LOG_LINES, &n) < 0)
		return error_reply(400, FERRY_E_INVALID, "logs: n must be 0 to %d",
		                   API_MAX_LOG_LINES);
	if (ss && str_to_u64(ss, 1ull << 50, &since_ms) < 0)
		return error_reply(400, FERRY_E_INVALID,
		                   "logs: since must be a time in milliseconds since 1970");
	char since[LOG_STAMP_LEN + 1] = "";
	if (ss)
		logfile_stamp((int64_t)since_ms * 1000, since);
	json_error_t jerr;
	_cleanup_(json_decrefp) json_t *offsets = offs ? json_loads(offs, 0, &jerr) : NULL;
	struct manifest *m = NULL;
	rc = rev_manifest(ag, name, cur, &m, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	json_t *out = json_array();
	bool matched = false;
	for (size_t i = 0; i <= m->n_apps && rc == 0; i++) {
		const char *an = i < m->n_apps ? m->apps[i].name : "hooks";
		if (*app ? strcmp(app, an) != 0 : false)
			continue;
		if (i < m->n_apps && m->apps[i].daemon == DAEMON_NONE) {
			if (*app) {
				matched = true;
			}
			continue;
		}
		matched = true;
		char path[PATH_MAX];
		if (agent_path(ag, path, "logs/%s/%s.log", name, an) < 0)
			continue;
		struct log_lines l = {0};
		off_t offset = 0;
		json_t *from = json_object_get(offsets, an);
		if (from) {
			/* following: the lines appended since the offset */
			offset = (off_t)json_integer_value(from);
			rc = logfile_after(path, &offset, &l, &err);
		} else {
			rc = logfile_tail(path, n, since, 0, true, &l, &offset, &err);
		}
		if (rc == 0)
			json_array_append_new(out, json_pack("{s:s, s:I, s:o}", "app", an, "offset",
			                                     (json_int_t)offset, "lines",
			                                     lines_json(&l)));
		log_lines_free(&l);
	}
	manifest_free(m);
	if (rc < 0) {
		json_decref(out);
		return ferr_reply(rc, &err);
	}
	if (!matched) {
		json_decref(out);
		return error_reply(404, FERRY_E_NOTFOUND, "%s has no app %s", name, app);
	}
	return sync_reply(out);
}

/* Configuration may hold secrets: root, ferryd's user and the package's own
 * user (its ids as allocated, never allocated here) read it. */
static bool may_read_conf(struct agent *ag, const char *name, struct MHD_Connection *c)
{
	uid_t uid, pkg_uid;
	gid_t pkg_gid;
	if (!peer_uid(c, &uid))
		return false;
	return is_admin(ag, uid) ||
	       (pkg_ids_find(ag, ag->db, name, &pkg_uid, &pkg_gid, NULL) == 0 && pkg_uid == uid);
}

static struct reply get_conf(struct agent *ag, const char *name, struct MHD_Connection *c)
{
	const char *key = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "key");
	if (!may_read_conf(ag, name, c))
		return error_reply(
		    403, FERRY_E_PERM,
		    "permission denied: only root and the package %s may read its configuration",
		    name);
	char cur[STATE_REV_MAX];
	ferry_error err;
	int rc = state_current(ag->db, name, cur, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	json_t *rows = NULL;
	rc = state_query(ag->db, &rows, &err,
	                 "SELECT key, value FROM pkg_config WHERE name=? AND (?2 IS NULL OR "
	                 "key=?2) ORDER BY key",
	                 "tt", name, key);
	if (rc < 0)
		return ferr_reply(rc, &err);
	if (key && json_array_size(rows) == 0) {
		json_decref(rows);
		return error_reply(404, FERRY_E_NOTFOUND, "%s has no configuration key \"%s\"",
		                   name, key);
	}
	json_t *o = state_pairs(rows);
	return sync_reply(o);
}

/* What `ferry run` runs. Only a caller who may start the app (root, or
 * ferryd's user) has its ids allocated and data directories made here;
 * for anyone else this is a read and changes nothing. */
static struct reply get_app(struct agent *ag, const char *spec, bool may_start)
{
	char name[STATE_NAME_MAX], app[STATE_NAME_MAX];
	if (!split_app(spec, name, app))
		return error_reply(400, FERRY_E_INVALID, "expected NAME or NAME.APP; got \"%s\"",
		                   spec);
	if (!*app)
		IGNORE_RC(str_copy(app, sizeof(app), name));
	char cur[STATE_REV_MAX];
	ferry_error err;
	int rc = state_current(ag->db, name, cur, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	struct manifest *m = NULL;
	rc = rev_manifest(ag, name, cur, &m, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	const struct manifest_app *a = NULL;
	for (size_t i = 0; i < m->n_apps; i++)
		if (strcmp(m->apps[i].name, app) == 0)
			a = &m->apps[i];
	if (!a) {
		manifest_free(m);
		return error_reply(404, FERRY_E_NOTFOUND, "%s has no app %s", name, app);
	}
	struct launch l;
	rc = may_start ? sandbox_launch(ag, ag->db, name, cur, m, a, -1, &l, &err)
	               : sandbox_describe(ag, ag->db, name, cur, m, a, &l, &err);
	manifest_free(m);
	if (rc < 0)
		return ferr_reply(rc, &err);
	json_t *argv = json_array(), *env = json_array();
	for (char **v = l.argv; v && *v; v++)
		json_array_append_new(argv, json_string(*v));
	for (char **e = l.envp; e && *e; e++)
		json_array_append_new(env, json_string(*e));
	/* ferry run execs argv with its arguments appended; who may run it is
	 * said by privileged and agent-uid (docs/device.md) */
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:b, s:b, s:i, s:o, s:o}", "name", name, "app", app,
	              "revision", cur, "confined", ag->confine, "privileged", ag->privileged,
	              "agent-uid", (json_int_t)getuid(), "argv", argv, "environment", env);
	if (l.cwd)
		json_object_set_new(o, "cwd", json_string(l.cwd));
	launch_free(&l);
	return sync_reply(o);
}

/* --- connections -------------------------------------------------------------- */

static int installed(struct agent *ag, const char *name, char *cur, struct reply *r);

/* Every declared plug of the installed packages (or of one). */
static struct reply get_connections(struct agent *ag, struct MHD_Connection *c)
{
	const char *only = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	json_t *rows = NULL;
	ferry_error err;
	if (only && !pkg_name_valid(only))
		return error_reply(400, FERRY_E_INVALID, "\"%s\" is not a valid package name",
		                   only);
	int rc = state_query(
	    ag->db, &rows, &err,
	    "SELECT name, current FROM packages WHERE ?1 IS NULL OR name=?1 ORDER BY name", "t",
	    only);
	if (rc < 0)
		return ferr_reply(rc, &err);
	if (only && json_array_size(rows) == 0) {
		json_decref(rows);
		return error_reply(404, FERRY_E_NOTFOUND, "%s is not installed", only);
	}
	json_t *out = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(rows, i, p)
	{
		struct manifest *m = NULL;
		_cleanup_free_ char **plugs = NULL;
		if (rev_manifest(ag, jstr(p, "name"), jstr(p, "current"), &m, &err) < 0)
			continue;
		if (plug_declared(m, &plugs, &err) == 0)
			for (char **pl = plugs; *pl; pl++) {
				const char *iface = plug_interface(m, *pl), *how = "-";
				bool on = false;
				if (conn_state(ag->db, m->name, *pl, iface, &on, &how) < 0)
					continue;
				json_array_append_new(
				    out,
				    json_pack("{s:s, s:s, s:s, s:b, s:s, s:b}", "name", m->name,
				              "plug", *pl, "interface", iface, "connected", on,
				              "how", how, "supported", iface_find(iface) != NULL));
			}
		manifest_free(m);
	}
	json_decref(rows);
	return sync_reply(out);
}

/* {"action": "connect" | "disconnect", "name": NAME, "plug": PLUG}: the
 * decision is recorded; it takes effect at the app's next start. */
static struct reply post_connections(struct agent *ag, json_t *body)
{
	const char *action = jstr(body, "action"), *name = jstr(body, "name"),
	           *plug = jstr(body, "plug");
	bool connect = strcmp(action, "connect") == 0;
	if (!connect && strcmp(action, "disconnect") != 0)
		return error_reply(400, FERRY_E_INVALID,
		                   "connections: action must be connect or disconnect");
	char cur[STATE_REV_MAX];
	struct reply r;
	if (installed(ag, name, cur, &r) < 0)
		return r;
	struct manifest *m = NULL;
	ferry_error err;
	int rc = rev_manifest(ag, name, cur, &m, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	_cleanup_free_ char **plugs = NULL;
	rc = plug_declared(m, &plugs, &err);
	if (rc < 0) {
		manifest_free(m);
		return ferr_reply(rc, &err);
	}
	bool found = false;
	char list[512] = "";
	size_t used = 0;
	for (char **pl = plugs; *pl; pl++) {
		found |= strcmp(*pl, plug) == 0;
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *pl);
		if (n > 0 && (size_t)n < sizeof(list) - used)
			used += (size_t)n;
	}
	if (!found) {
		manifest_free(m);
		return error_reply(404, FERRY_E_NOTFOUND, "%s has no plug \"%s\" (%s%s)", name,
		                   plug, used ? "its plugs: " : "it declares none", list);
	}
	_cleanup_free_ char *iface = strdup(plug_interface(m, plug));
	manifest_free(m);
	if (!iface)
		return error_reply(500, FERRY_E_NOMEM, "out of memory");
	if (connect && !iface_find(iface))
		return error_reply(
		    400, FERRY_E_UNSUPPORTED,
		    "%s:%s uses the interface \"%s\", which this device does not support "
		    "(ferry-confine --list-interfaces)",
		    name, plug, iface);
	rc = state_exec(ag->db, &err,
	                "INSERT OR REPLACE INTO connections(name, plug, interface, connected, at)"
	                " VALUES(?, ?, ?, ?, ?)",
	                "tttii", name, plug, iface, (int64_t)connect, wall_s());
	if (rc < 0)
		return ferr_reply(rc, &err);
	log_info("%s:%s (%s) %s by the user; effective at the next start of its apps", name, plug,
	         iface, connect ? "connected" : "disconnected");
	return sync_reply(json_pack("{s:s, s:s, s:s, s:b, s:s}", "name", name, "plug", plug,
	                            "interface", iface, "connected", connect, "how", "manual"));
}

static struct reply get_system(struct agent *ag)
{
	json_t *holds = NULL;
	if (state_query(ag->db, &holds, NULL, "SELECT name, until FROM holds ORDER BY name", NULL) <
	    0)
		holds = json_array();
	json_t *o = json_pack("{s:s, s:s, s:b, s:b, s:s, s:i, s:o, s:s, s:s}", "version",
	                      FERRY_VERSION, "root", ag->root, "ready", ag->ready, "privileged",
	                      ag->privileged, "images", ag->extract ? "extracted" : "loop-mounted",
	                      "retain", ag->retain, "holds", holds, "device-id", ag->device_id,
	                      "refresh-timer", ag->refresh_timer ? ag->refresh_timer : "");
	json_object_set_new(o, "device-key", json_string(report_device_key(ag)));
	json_t *reports = report_status(ag->db);
	if (reports)
		json_object_set_new(o, "reports", reports);
	if (ag->store_url) {
		json_object_set_new(o, "store", json_string(ag->store_url));
		json_object_set_new(o, "next-refresh", json_integer(ag->refresh_next));
		/* the last check that reached the store (steps.c) */
		_cleanup_free_ char *last = state_config_get(ag->db, "refresh-last-check");
		_cleanup_free_ char *result = state_config_get(ag->db, "refresh-last-result");
		_cleanup_free_ char *empty = state_config_get(ag->db, "refresh-empty-checks");
		json_object_set_new(o, "last-refresh-check",
		                    json_integer(last ? strtoll(last, NULL, 10) : 0));
		json_object_set_new(o, "last-refresh-result", json_string(result ? result : ""));
		json_object_set_new(o, "empty-refresh-checks",
		                    json_integer(empty ? strtoll(empty, NULL, 10) : 0));
	}
	return sync_reply(o);
}

/* --- changes of state -------------------------------------------------------- */

static struct reply new_change(struct agent *ag, const char *kind, const char *name,
                               const char *summary, json_t *data)
{
	int64_t id = 0;
	ferry_error err;
	int rc = txn_create(ag, ag->db, kind, name, summary, data, &id, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	txn_wake(ag);
	return async_reply(id);
}

static struct reply post_install_file(struct agent *ag, json_t *body)
{
	const char *path = jstr(body, "path");
	if (!*path || path[0] != '/')
		return error_reply(400, FERRY_E_INVALID,
		                   "install: \"path\" must be an absolute path");
	bool dangerous = json_is_true(json_object_get(body, "dangerous"));
	if (!dangerous && !ag->store_url)
		return error_reply(403, FERRY_E_VERIFY,
		                   "cannot install %s: no signed metadata covers this file; "
		                   "use --dangerous to install it without verification",
		                   path);
	ferry_error err;
	int rc = rev_image_check(path, NULL, &err);
	if (rc < 0)
		return error_reply(ferry_http_error_of(rc).status, rc, "cannot install %s: %s",
		                   path, ferry_error_msg(&err));
	const char *base = strrchr(path, '/') + 1;
	_cleanup_free_ char *summary = str_dup_printf("Install %s (local file)", base);
	_cleanup_(json_decrefp) json_t *data =
	    json_pack("{s:s, s:b, s:s, s:b}", "source", path, "dangerous", dangerous, "channel", "",
	              "devmode", json_is_true(json_object_get(body, "devmode")));
	return new_change(ag, "install-file", "", summary ? summary : "Install", data);
}

/* ferry try DIR: the checks are the change's (steps.c); here only that DIR
 * is a directory, named by its real path (the link the revision keeps). */
static struct reply post_try(struct agent *ag, json_t *body)
{
	const char *path = jstr(body, "path");
	if (!*path || path[0] != '/')
		return error_reply(400, FERRY_E_INVALID, "try: \"path\" must be an absolute path");
	_cleanup_free_ char *dir = realpath(path, NULL);
	struct stat st;
	if (!dir || stat(dir, &st) < 0)
		return error_reply(404, FERRY_E_NOTFOUND, "cannot try %s: %s", path,
		                   strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return error_reply(400, FERRY_E_INVALID,
		                   "cannot try %s: not a directory (ferry install takes a .ferry "
		                   "file)",
		                   path);
	_cleanup_free_ char *summary = str_dup_printf("Try %s", dir);
	_cleanup_(json_decrefp) json_t *data =
	    json_pack("{s:s, s:s, s:b}", "source", dir, "channel", "", "devmode",
	              json_is_true(json_object_get(body, "devmode")));
	return new_change(ag, "try", "", summary ? summary : "Try", data);
}

static int installed(struct agent *ag, const char *name, char *cur, struct reply *r)
{
	ferry_error err;
	if (!pkg_name_valid(name)) {
		*r = error_reply(400, FERRY_E_INVALID, "\"%s\" is not a valid package name", name);
		return -1;
	}
	int rc = state_current(ag->db, name, cur, &err);
	if (rc < 0) {
		*r = ferr_reply(rc, &err);
		return -1;
	}
	return 0;
}

static struct reply post_remove(struct agent *ag, const char *name, json_t *body)
{
	char cur[STATE_REV_MAX];
	struct reply r;
	if (installed(ag, name, cur, &r) < 0)
		return r;
	ferry_error err;
	int rc = steps_refuse_base_in_use(ag, ag->db, name, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	bool purge = json_is_true(json_object_get(body, "purge"));
	_cleanup_free_ char *summary =
	    str_dup_printf("Remove %s%s", name, purge ? " and its data" : "");
	_cleanup_(json_decrefp) json_t *data =
	    json_pack("{s:s, s:s, s:b}", "name", name, "from", cur, "purge", purge);
	return new_change(ag, "remove", name, summary ? summary : "Remove", data);
}

static struct reply post_revert(struct agent *ag, const char *name, json_t *body)
{
	char cur[STATE_REV_MAX];
	struct reply r;
	if (installed(ag, name, cur, &r) < 0)
		return r;
	const char *want = jstr(body, "revision");
	json_t *row = NULL;
	ferry_error err;
	int rc;
	if (*want) {
		if (strcmp(want, cur) == 0)
			return error_reply(400, FERRY_E_INVALID,
			                   "%s revision %s is already current", name, want);
		rc = state_query_row(
		    ag->db, &row, &err,
		    "SELECT rev FROM revisions WHERE name=? AND rev=? AND status='ok'", "tt", name,
		    want);
		if (rc == FERRY_E_NOTFOUND)
			return error_reply(404, rc, "%s has no revision %s on this device", name,
			                   want);
	} else {
		rc = state_query_row(
		    ag->db, &row, &err,
		    "SELECT rev FROM revisions WHERE name=? AND rev<>? AND status='ok'"
		    " ORDER BY added DESC, rowid DESC LIMIT 1",
		    "tt", name, cur);
		if (rc == FERRY_E_NOTFOUND)
			return error_reply(404, rc, "%s has no earlier revision to revert to",
			                   name);
	}
	if (rc < 0)
		return ferr_reply(rc, &err);
	_cleanup_free_ char *to = strdup(jstr(row, "rev"));
	json_decref(row);
	_cleanup_free_ char *summary =
	    str_dup_printf("Revert %s from revision %s to %s", name, cur, to);
	_cleanup_(json_decrefp) json_t *data =
	    json_pack("{s:s, s:s, s:s}", "name", name, "from", cur, "to", to ? to : "");
	return new_change(ag, "revert", name, summary ? summary : "Revert", data);
}

static struct reply post_services(struct agent *ag, json_t *body)
{
	const char *action = jstr(body, "action");
	if (strcmp(action, "start") && strcmp(action, "stop") && strcmp(action, "restart"))
		return error_reply(400, FERRY_E_INVALID,
		                   "services: action must be start, stop or restart");
	json_t *names = json_object_get(body, "names");
	if (json_array_size(names) != 1)
		return error_reply(400, FERRY_E_INVALID, "services: name one package or NAME.APP");
	const char *spec = json_string_value(json_array_get(names, 0));
	char name[STATE_NAME_MAX], app[STATE_NAME_MAX];
	if (!spec || !split_app(spec, name, app))
		return error_reply(400, FERRY_E_INVALID, "services: expected NAME or NAME.APP");
	char cur[STATE_REV_MAX];
	struct reply r;
	if (installed(ag, name, cur, &r) < 0)
		return r;
	struct manifest *m = NULL;
	ferry_error err;
	int rc = rev_manifest(ag, name, cur, &m, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	bool any = false;
	for (size_t i = 0; i < m->n_apps; i++)
		if (m->apps[i].daemon != DAEMON_NONE &&
		    (!*app || strcmp(app, m->apps[i].name) == 0))
			any = true;
	manifest_free(m);
	if (!any)
		return error_reply(404, FERRY_E_NOTFOUND,
		                   *app ? "%s.%s is not a service" : "%s%s has no services", name,
		                   app);
	_cleanup_free_ char *summary = str_dup_printf("%c%s %s", action[0] - 32, action + 1, spec);
	json_t *apps = json_array();
	if (*app)
		json_array_append_new(apps, json_string(app));
	_cleanup_(json_decrefp) json_t *data =
	    json_pack("{s:s, s:s, s:o}", "name", name, "action", action, "apps", apps);
	return new_change(ag, "services", name, summary ? summary : "Services", data);
}

static struct reply post_conf(struct agent *ag, const char *name, json_t *body)
{
	char cur[STATE_REV_MAX];
	struct reply r;
	if (installed(ag, name, cur, &r) < 0)
		return r;
	json_t *values = json_object_get(body, "values");
	ferry_error err;
	if (conf_check("set", values, &err) < 0)
		return ferr_reply(FERRY_E_INVALID, &err);
	_cleanup_free_ char *summary = str_dup_printf("Configure %s", name);
	_cleanup_(json_decrefp) json_t *data =
	    json_pack("{s:s, s:O}", "name", name, "values", values);
	return new_change(ag, "configure", name, summary ? summary : "Configure", data);
}

static struct reply post_holds(struct agent *ag, json_t *body)
{
	const char *action = jstr(body, "action");
	json_t *names = json_object_get(body, "names");
	bool hold = strcmp(action, "hold") == 0;
	if (!hold && strcmp(action, "unhold") != 0)
		return error_reply(400, FERRY_E_INVALID, "holds: action must be hold or unhold");
	json_int_t until = json_integer_value(json_object_get(body, "until"));
	if (hold && until != 0 && until <= wall_s())
		return error_reply(400, FERRY_E_INVALID, "hold: the time is in the past");
	size_t n = json_array_size(names);
	ferry_error err;
	for (size_t i = 0; i < n; i++) {
		const char *nm = json_string_value(json_array_get(names, i));
		char cur[STATE_REV_MAX];
		struct reply r;
		if (!nm || installed(ag, nm, cur, &r) < 0) {
			if (!nm)
				return error_reply(400, FERRY_E_INVALID,
				                   "holds: names must be strings");
			return r;
		}
	}
	int rc = state_begin(ag->db, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	for (size_t i = 0; i < (n ? n : 1) && rc == 0; i++) {
		const char *nm = n ? json_string_value(json_array_get(names, i)) : "*";
		if (hold)
			rc = state_exec(ag->db, &err,
			                "INSERT OR REPLACE INTO holds(name, until) VALUES(?, ?)",
			                "ti", nm, (int64_t)until);
		else if (n)
			rc = state_exec(ag->db, &err, "DELETE FROM holds WHERE name=?", "t", nm);
		else
			rc = state_exec(ag->db, &err, "DELETE FROM holds", NULL);
	}
	if (rc < 0) {
		state_rollback(ag->db);
		return ferr_reply(rc, &err);
	}
	rc = state_commit(ag->db, &err);
	if (rc < 0)
		return ferr_reply(rc, &err);
	return sync_reply(NULL);
}

static struct reply post_store(struct agent *ag, const char *action, const char *name, json_t *body)
{
	if (!ag->store_url)
		return error_reply(400, FERRY_E_UNSUPPORTED,
		                   "%s: ferryd has no store to %s from (start it with --store URL "
		                   "--trust ROOT_JSON)",
		                   action, action);
	const char *channel = jstr(body, "channel");
	if (*channel) {
		struct channel ch;
		ferry_error err;
		if (channel_parse(channel, &ch, &err) < 0)
			return ferr_reply(FERRY_E_INVALID, &err);
	}
	if (!name) {
		json_t *names = json_object_get(body, "names");
		size_t i;
		json_t *n;
		json_array_foreach(names, i, n)
		{
			char cur[STATE_REV_MAX];
			struct reply r;
			if (!json_is_string(n))
				return error_reply(400, FERRY_E_INVALID,
				                   "refresh: names must be strings");
			if (installed(ag, json_string_value(n), cur, &r) < 0)
				return r;
		}
		bool list = json_is_true(json_object_get(body, "list"));
		_cleanup_(json_decrefp) json_t *data = json_pack(
		    "{s:b, s:O, s:b, s:b}", "auto", 0, "names", names ? names : json_array(),
		    "devmode", json_is_true(json_object_get(body, "devmode")), "list", list);
		/* only the newest list is kept */
		if (list &&
		    state_exec(ag->db, NULL,
		               "DELETE FROM steps WHERE change IN (SELECT id FROM changes WHERE "
		               "kind='refresh-list' AND status IN ('Done', 'Error'))",
		               NULL) == 0)
			IGNORE_RC(
			    state_exec(ag->db, NULL,
			               "DELETE FROM changes WHERE kind='refresh-list' AND status "
			               "IN ('Done', 'Error')",
			               NULL));
		return new_change(ag, list ? "refresh-list" : "refresh-all", "",
		                  list ? "Refresh list" : "Refresh", data);
	}
	if (!pkg_name_valid(name))
		return error_reply(400, FERRY_E_INVALID, "\"%s\" is not a valid package name",
		                   name);
	bool install = strcmp(action, "install") == 0;
	char cur[STATE_REV_MAX];
	ferry_error err;
	int rc = state_current(ag->db, name, cur, &err);
	if (install && rc == 0)
		return error_reply(409, FERRY_E_EXISTS,
		                   "%s is already installed (ferry refresh %s updates it)", name,
		                   name);
	if (!install && rc < 0)
		return ferr_reply(rc, &err);
	_cleanup_free_ char *summary =
	    str_dup_printf("%s %s", install ? "Install" : "Refresh", name);
	_cleanup_(json_decrefp) json_t *data =
	    json_pack("{s:s, s:s, s:b, s:b}", "name", name, "channel", channel, "explicit", 1,
	              "devmode", json_is_true(json_object_get(body, "devmode")));
	return new_change(ag, install ? "install" : "refresh", name, summary ? summary : action,
	                  data);
}

static struct reply post_packages(struct agent *ag, const char *name, json_t *body)
{
	const char *action = jstr(body, "action");
	if (!name) {
		if (strcmp(action, "install") == 0 && *jstr(body, "path"))
			return post_install_file(ag, body);
		if (strcmp(action, "try") == 0)
			return post_try(ag, body);
		if (strcmp(action, "refresh") == 0)
			return post_store(ag, action, NULL, body);
		return error_reply(400, FERRY_E_INVALID, "unknown action \"%s\"", action);
	}
	if (strcmp(action, "remove") == 0)
		return post_remove(ag, name, body);
	if (strcmp(action, "revert") == 0)
		return post_revert(ag, name, body);
	if (strcmp(action, "install") == 0 || strcmp(action, "refresh") == 0)
		return post_store(ag, action, name, body);
	return error_reply(400, FERRY_E_INVALID, "unknown action \"%s\"", action);
}

/* --- dispatch ------------------------------------------------------------------- */

static struct reply route(struct agent *ag, struct MHD_Connection *c, const char *url,
                          const char *method, struct request *req)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	if (!get && !post)
		return error_reply(405, FERRY_E_INVALID, "method %s not allowed", method);
	if (post && !may_change(ag, c))
		return error_reply(403, FERRY_E_PERM,
		                   "permission denied: only root may change packages");
	if (req->too_big)
		return error_reply(413, FERRY_E_LIMIT, "request body larger than %d bytes",
		                   API_MAX_BODY);
	json_t *body = NULL;
	if (post) {
		json_error_t jerr;
		body = json_loadb(req->body.data ? req->body.data : "{}",
		                  req->body.data ? req->body.len : 2, 0, &jerr);
		if (!json_is_object(body)) {
			json_decref(body);
			return error_reply(400, FERRY_E_INVALID,
			                   "request body: expected a JSON object");
		}
	}
	struct reply r;
	const char *rest;
	if (strcmp(url, "/v1/system") == 0 && get)
		r = get_system(ag);
	else if (strcmp(url, "/v1/packages") == 0)
		r = get ? get_packages(ag, c) : post_packages(ag, NULL, body);
	else if ((rest = str_has_prefix(url, "/v1/packages/") ? url + 13 : NULL) && *rest)
		r = get ? get_package(ag, rest) : post_packages(ag, rest, body);
	else if (strcmp(url, "/v1/changes") == 0 && get)
		r = get_changes(ag, c);
	else if ((rest = str_has_prefix(url, "/v1/changes/") ? url + 12 : NULL) && *rest && get)
		r = get_change(ag, rest);
	else if (strcmp(url, "/v1/services") == 0)
		r = get ? get_services(ag) : post_services(ag, body);
	else if (strcmp(url, "/v1/holds") == 0 && post)
		r = post_holds(ag, body);
	else if (strcmp(url, "/v1/logs") == 0 && get)
		r = get_logs(ag, c);
	else if ((rest = str_has_prefix(url, "/v1/conf/") ? url + 9 : NULL) && *rest)
		r = get ? get_conf(ag, rest, c) : post_conf(ag, rest, body);
	else if (strcmp(url, "/v1/connections") == 0)
		r = get ? get_connections(ag, c) : post_connections(ag, body);
	else if ((rest = str_has_prefix(url, "/v1/apps/") ? url + 9 : NULL) && *rest && get)
		r = get_app(ag, rest, may_change(ag, c));
	else
		r = error_reply(404, FERRY_E_NOTFOUND, "no such endpoint: %s %s", method, url);
	json_decref(body);
	return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
	struct agent *ag = cls;
	(void)version;
	struct request *req = *con_cls;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		buf_init(&req->body, API_MAX_BODY);
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!req->too_big && buf_append(&req->body, upload_data, *upload_data_size) < 0)
			req->too_big = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	struct reply r = route(ag, c, url, method, req);
	char *text = r.json ? json_dumps(r.json, JSON_COMPACT) : NULL;
	json_decref(r.json);
	if (!text)
		return MHD_NO;
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct request *req = *con_cls;
	if (req) {
		buf_free(&req->body);
		free(req);
		*con_cls = NULL;
	}
}

/* --- connections ---------------------------------------------------------------- */

/* The share of a user other than root and ferryd's own: its slot in
 * ag->api_peers (a new one when add), NULL when it has none. */
static struct api_peer *peer_slot(struct agent *ag, uid_t uid, bool add)
{
	struct api_peer *unused = NULL;
	for (size_t i = 0; i < API_MAX_USER_CONNS; i++) {
		struct api_peer *p = &ag->api_peers[i];
		if (p->n && p->uid == uid)
			return p;
		if (!p->n && !unused)
			unused = p;
	}
	if (!add || !unused)
		return NULL;
	unused->uid = uid;
	return unused;
}

/* The server tells when a connection starts and ends: a user's are counted
 * against its share, the slot kept as the connection's context. */
static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
	struct agent *ag = cls;
	struct api_peer *p = *socket_context;
	uid_t uid;
	if (code == MHD_CONNECTION_NOTIFY_STARTED && peer_uid(c, &uid) && !is_admin(ag, uid) &&
	    (p = peer_slot(ag, uid, true))) {
		p->n++;
		ag->api_user_conns++;
		*socket_context = p;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && p) {
		p->n--;
		ag->api_user_conns--;
		*socket_context = NULL;
	}
}

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A warning a local user can cause at will: at most once a minute. */
static bool warn_now(struct agent *ag)
{
	int64_t now = mono_ms();
	if (ag->api_warned_ms && now - ag->api_warned_ms < 60000)
		return false;
	ag->api_warned_ms = now;
	return true;
}

/* Out of descriptors: stop watching the listener for a second instead of
 * waking at once again for the same connection (api_run watches again). */
static void pause_listener(struct agent *ag, int e)
{
	if (warn_now(ag))
		log_warn("local API: accept: %s; new connections wait", strerror(e));
	if (epoll_ctl(ag->epfd, EPOLL_CTL_DEL, ag->listen_fd, NULL) == 0)
		ag->api_paused_until_ms = mono_ms() + 1000;
}

static void resume_listener(struct agent *ag)
{
	if (!ag->api_paused_until_ms || mono_ms() < ag->api_paused_until_ms)
		return;
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.u64 = (uint64_t)3 << 32;
	if (epoll_ctl(ag->epfd, EPOLL_CTL_ADD, ag->listen_fd, &ev) == 0)
		ag->api_paused_until_ms = 0;
}

/* Take every waiting connection. A user beyond its share (per uid, and all
 * users together, so that root and ferryd's user always find room) is
 * closed at once. */
static void accept_all(struct agent *ag)
{
	while (!ag->api_paused_until_ms) {
		int fd = accept4(ag->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (fd < 0) {
			pause_listener(ag, errno);
			return;
		}
		uid_t uid;
		if (fd_peer_uid(fd, &uid) < 0) {
			close(fd);
			continue;
		}
		if (!is_admin(ag, uid)) {
			const struct api_peer *p = peer_slot(ag, uid, false);
			if ((p && p->n >= API_MAX_CONNS_PER_UID) ||
			    ag->api_user_conns >= API_MAX_USER_CONNS) {
				close(fd);
				if (warn_now(ag))
					log_warn(
					    "local API: uid %u is at its connection limit (%d "
					    "per user, %d for all but root); its new connections "
					    "are closed",
					    (unsigned)uid, API_MAX_CONNS_PER_UID,
					    API_MAX_USER_CONNS);
				continue;
			}
		}
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		/* on failure the server has closed fd */
		if (MHD_add_connection(mhd(ag), fd, (struct sockaddr *)&sa, sizeof(sa)) !=
		        MHD_YES &&
		    warn_now(ag))
			log_warn("local API: connection of uid %u dropped: %s", (unsigned)uid,
			         strerror(errno));
	}
}

int api_start(struct agent *ag, ferry_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (str_copy(sa.sun_path, sizeof(sa.sun_path), ag->socket_path) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s: socket path too long (at most %zu bytes)",
		                       ag->socket_path, sizeof(sa.sun_path) - 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "socket");
	/* Another ferryd answering there? Then do not steal its socket. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return ferry_error_set(err, FERRY_E_BUSY,
		                       "%s: another ferryd is already listening there",
		                       ag->socket_path);
	}
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "socket");
	unlink(ag->socket_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(ag->socket_path, 0666) < 0 ||
	    listen(fd, 64) < 0) {
		int e = errno;
		close(fd);
		return ferry_error_errno(err, FERRY_E_IO, e, "listen on %s", ag->socket_path);
	}
	ag->listen_fd = fd;
	/* ferryd accepts (accept_all), so the server has no listening socket */
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, handler, ag,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, conn_notify,
	    ag, MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)API_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
	    MHD_OPTION_END);
	if (!d)
		return ferry_error_set(err, FERRY_E_IO, "%s: the HTTP server did not start",
		                       ag->socket_path);
	ag->mhd = d;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info)
		return ferry_error_set(err, FERRY_E_IO, "the HTTP server has no epoll descriptor");
	/* both wake the main loop, which calls api_run */
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.u64 = (uint64_t)3 << 32;
	if (epoll_ctl(ag->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev) < 0 ||
	    epoll_ctl(ag->epfd, EPOLL_CTL_ADD, ag->listen_fd, &ev) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "epoll");
	return 0;
}

void api_run(struct agent *ag)
{
	if (!mhd(ag))
		return;
	resume_listener(ag);
	accept_all(ag);
	MHD_run(mhd(ag));
}

int64_t api_timeout_ms(struct agent *ag)
{
	MHD_UNSIGNED_LONG_LONG t;
	int64_t ms = -1;
	if (mhd(ag) && MHD_get_timeout(mhd(ag), &t) == MHD_YES)
		ms = t > INT64_MAX ? INT64_MAX : (int64_t)t;
	if (ag->api_paused_until_ms) {
		int64_t left = ag->api_paused_until_ms - mono_ms();
		if (left < 0)
			left = 0;
		if (ms < 0 || left < ms)
			ms = left;
	}
	return ms;
}

void api_stop(struct agent *ag)
{
	if (mhd(ag))
		MHD_stop_daemon(mhd(ag));
	ag->mhd = NULL;
	if (ag->listen_fd >= 0)
		close(ag->listen_fd);
	ag->listen_fd = -1;
	unlink(ag->socket_path);
}
