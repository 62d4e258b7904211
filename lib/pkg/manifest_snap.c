/* manifest_snap.c: a ferry manifest from a snap's meta/snap.yaml
 * (manifest_snap.h). The YAML is read into the manifest reader's bounded
 * tree (manifest_tree.c: size, depth, node count, no anchors or aliases);
 * the manifest is written as text, every string double-quoted.
 *
 * What maps to what:
 *   name, version, summary, description, license, architectures, grade:
 *     the same (a summary is cut to 128 characters; a missing one is made)
 *   confinement: strict and devmode; classic has no equivalent
 *   base: the ferry base --base-map names for it, else not carried over
 *   apps: command, daemon (simple, forking, notify, oneshot),
 *     restart-condition (on-failure, always, never), restart-delay,
 *     stop-timeout, plugs, environment (the snap's own merged in)
 *   hooks: install, configure, pre-refresh, post-refresh, check-health,
 *     remove, from snap.yaml and from the files in meta/hooks/
 *   plugs: to ferry's interface of the same name (interface_names.h), alsa
 *     to audio-playback; a top-level plug goes to every app that lists no
 *     plugs of its own, as snapd binds it
 *   $SNAP, $SNAP_DATA, $SNAP_COMMON, $SNAP_NAME, $SNAP_REVISION,
 *     $SNAP_VERSION in commands and environment: ferry's $FERRY_* variables
 * Everything else is listed in not-carried with the reason.
 *
 * It does not check the result against ferry's grammar (`ferry pack`
 * does), nor touch files. */
#include "pkg/manifest_snap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/str.h"
#include "pkg/interface_names.h"
#include "pkg/manifest_int.h"
#include "pkg/name.h"

#define SNAP_MAX_BYTES MANIFEST_MAX_BYTES

struct conv {
	struct buf out;
	json_t *info, *lost;
	const struct node *top_plugs; /* snap.yaml's plugs: (a map), or NULL */
	const struct node *top_env;
	bool env_said; /* problems of top_env were listed */
	bool oom;
};

static const struct node *lookup(const struct node *map, const char *key)
{
	for (size_t i = 0; map && map->kind == NODE_MAP && i < map->n; i += 2)
		if (strcmp(map->kids[i]->str, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

static const char *scalar(const struct node *n)
{
	return n && n->kind == NODE_SCALAR && !n->is_null ? n->str : NULL;
}

static void lose(struct conv *s, const char *what, const char *fmt, ...) FERRY_PRINTF(3, 4);
static void lose(struct conv *s, const char *what, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (json_array_append_new(s->lost, json_pack("{s:s, s:s}", "what", what, "why", why)) < 0)
		s->oom = true;
}

static void put(struct conv *s, const char *fmt, ...) FERRY_PRINTF(2, 3);
static void put(struct conv *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || buf_append_str(&s->out, line) < 0)
		s->oom = true;
}

/* s as a YAML double-quoted scalar */
static void put_quoted(struct conv *s, const char *str)
{
	bool ok = buf_append_str(&s->out, "\"") == 0;
	for (const unsigned char *p = (const unsigned char *)str; ok && *p; p++) {
		if (*p == '"' || *p == '\\')
			ok = buf_printf(&s->out, "\\%c", *p) == 0;
		else if (*p == '\n')
			ok = buf_append_str(&s->out, "\\n") == 0;
		else if (*p == '\t')
			ok = buf_append_str(&s->out, "\\t") == 0;
		else if (*p < 0x20 || *p == 0x7f)
			ok = buf_printf(&s->out, "\\x%02x", *p) == 0;
		else
			ok = buf_append(&s->out, p, 1) == 0;
	}
	if (!ok || buf_append_str(&s->out, "\"") < 0)
		s->oom = true;
}

static void put_field(struct conv *s, const char *indent, const char *key, const char *value)
{
	put(s, "%s%s: ", indent, key);
	put_quoted(s, value);
	put(s, "\n");
}

/* snapd's variables in a command or an environment value, as ferry's */
static char *ferry_vars(const char *in)
{
	static const char *const from[] = {"SNAP_DATA",     "SNAP_COMMON",  "SNAP_NAME",
	                                   "SNAP_REVISION", "SNAP_VERSION", "SNAP"};
	static const char *const to[] = {"FERRY_DATA",     "FERRY_COMMON",  "FERRY_NAME",
	                                 "FERRY_REVISION", "FERRY_VERSION", "FERRY_PKG"};
	struct buf b = BUF_INIT(MANIFEST_STRING_MAX * 2);
	bool ok = true;
	for (const char *p = in; ok && *p;) {
		bool done = false;
		if (*p == '$') {
			bool brace = p[1] == '{';
			const char *v = p + 1 + brace;
			for (size_t i = 0; i < ARRAY_SIZE(from) && !done; i++) {
				size_t n = strlen(from[i]);
				if (strncmp(v, from[i], n) != 0)
					continue;
				char next = v[n]; /* v has n bytes and its NUL at least */
				bool whole = brace ? next == '}'
				                   : !((next >= 'A' && next <= 'Z') ||
				                       (next >= 'a' && next <= 'z') ||
				                       (next >= '0' && next <= '9') || next == '_');
				if (whole) {
					ok = buf_printf(&b, brace ? "${%s}" : "$%s", to[i]) == 0;
					p = v + n + brace;
					done = true;
				}
			}
		}
		if (!done)
			ok = buf_append(&b, p++, 1) == 0;
	}
	if (!ok || buf_append(&b, "", 1) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

static bool env_name_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > ENV_KEY_MAX || (k[0] >= '0' && k[0] <= '9'))
		return false;
	for (; *k; k++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return false;
	return true;
}

/* The ferry interface for a snap interface, or NULL. */
static const char *map_interface(const char *iface)
{
	if (strcmp(iface, "alsa") == 0)
		return "audio-playback";
	return pkg_interface_known(iface) ? iface : NULL;
}

/* The interface a snap plug uses: its `interface:` (or string body), else
 * its name. */
static const char *plug_interface(const struct node *key, const struct node *body)
{
	if (scalar(body))
		return body->str;
	const char *i = scalar(lookup(body, "interface"));
	return i ? i : key->str;
}

/* May an app or hook use the snap plug named p? If so, the name to use. */
static const char *app_plug(struct conv *s, const char *where, const char *p)
{
	const struct node *body = NULL;
	bool top = false;
	for (size_t i = 0; s->top_plugs && i < s->top_plugs->n; i += 2)
		if (strcmp(s->top_plugs->kids[i]->str, p) == 0) {
			body = s->top_plugs->kids[i + 1];
			top = true;
		}
	if (top) {
		const char *iface = plug_interface(&(struct node){.str = (char *)p}, body);
		/* said once, at the top */
		return map_interface(iface) && !pkg_name_problem(p, PKG_NAME_MIN) ? p : NULL;
	}
	const char *m = map_interface(p);
	if (m)
		json_object_set_new(json_object_get(s->info, "plugs"), p, json_string(m));
	else {
		char what[160];
		snprintf(what, sizeof(what), "%s.plugs.%s", where, p);
		lose(s, what, "ferry has no interface \"%s\"", p);
	}
	return m;
}

static void put_plug_list(struct conv *s, const char *indent, const char *where,
                          const struct node *list)
{
	bool any = false;
	for (size_t i = 0; list && list->kind == NODE_LIST && i < list->n; i++) {
		const char *p = scalar(list->kids[i]);
		const char *m = p ? app_plug(s, where, p) : NULL;
		if (!m)
			continue;
		put(s, any ? ", " : "%splugs: [", indent);
		put_quoted(s, m);
		any = true;
	}
	if (any)
		put(s, "]\n");
}

static void put_top_plugs(struct conv *s)
{
	const struct node *v = s->top_plugs;
	bool any = false;
	for (size_t i = 0; v && i < v->n; i += 2) {
		const struct node *k = v->kids[i], *body = v->kids[i + 1];
		const char *iface = plug_interface(k, body), *m = map_interface(iface);
		char what[160];
		snprintf(what, sizeof(what), "plugs.%s", k->str);
		if (pkg_name_problem(k->str, PKG_NAME_MIN)) {
			lose(s, what, "not a ferry plug name");
			continue;
		}
		if (!m) {
			lose(s, what, "ferry has no interface \"%s\"", iface);
			continue;
		}
		if (!any)
			put(s, "plugs:\n");
		any = true;
		put(s, "  %s:\n", k->str);
		put_field(s, "    ", "interface", m);
		json_object_set_new(json_object_get(s->info, "plugs"), k->str, json_string(m));
		for (size_t j = 0; body && body->kind == NODE_MAP && j < body->n; j += 2) {
			const char *ak = body->kids[j]->str, *av = scalar(body->kids[j + 1]);
			if (strcmp(ak, "interface") == 0)
				continue;
			_cleanup_free_ char *val = av ? ferry_vars(av) : NULL;
			if (val && !pkg_name_problem(ak, PKG_APP_NAME_MIN) &&
			    manifest_clean_text(val, false))
				put_field(s, "    ", ak, val);
			else
				lose(s, what, "attribute %s: ferry keeps only one-line strings",
				     ak);
		}
	}
}

/* environment: the snap's own, then the app's (which wins) */
static void put_env(struct conv *s, const char *where, const struct node *app_env)
{
	const struct node *layers[] = {s->top_env, app_env};
	bool any = false;
	for (size_t l = 0; l < 2; l++) {
		const struct node *e = layers[l];
		for (size_t i = 0; e && e->kind == NODE_MAP && i < e->n; i += 2) {
			const char *k = e->kids[i]->str, *v = scalar(e->kids[i + 1]);
			if (l == 0 && lookup(app_env, k))
				continue;
			char what[160];
			snprintf(what, sizeof(what), "%s.environment.%s", l ? where : "", k);
			_cleanup_free_ char *val = ferry_vars(v ? v : "");
			if (!env_name_ok(k) || !val || !manifest_clean_text(val, false) ||
			    str_has_prefix(k, "FERRY")) {
				if (l || !s->env_said)
					lose(s, l ? what : what + 1,
					     "ferry takes names of letters, digits and _ (not "
					     "FERRY...) with one-line values");
				continue;
			}
			if (!any)
				put(s, "    environment:\n");
			any = true;
			put_field(s, "      ", k, val);
		}
	}
	s->env_said = true; /* the snap's own, once */
}

static const char *const app_keys_taken[] = {
    "command",      "daemon", "restart-condition", "restart-delay",
    "stop-timeout", "plugs",  "environment",       NULL};

static bool listed(const char *const *v, const char *k)
{
	for (; *v; v++)
		if (strcmp(*v, k) == 0)
			return true;
	return false;
}

static void put_app(struct conv *s, const struct node *key, const struct node *app)
{
	char where[128];
	snprintf(where, sizeof(where), "apps.%s", key->str);
	const char *command = scalar(lookup(app, "command"));
	if (pkg_name_problem(key->str, PKG_APP_NAME_MIN) || !command) {
		lose(s, where, "%s", command ? "not a ferry app name" : "no command");
		return;
	}
	put(s, "  %s:\n", key->str);
	json_array_append_new(json_object_get(s->info, "apps"), json_string(key->str));
	const char *cmd = command;
	while (str_has_prefix(cmd, "$SNAP/") || str_has_prefix(cmd, "${SNAP}/"))
		cmd = strchr(cmd, '/') + 1;
	_cleanup_free_ char *c = ferry_vars(cmd);
	put_field(s, "    ", "command", c ? c : cmd);
	const char *daemon = scalar(lookup(app, "daemon"));
	static const char *const daemons[] = {"simple", "forking", "notify", "oneshot", NULL};
	if (daemon && listed(daemons, daemon))
		put_field(s, "    ", "daemon", daemon);
	else if (daemon)
		lose(s, where, "daemon: %s: ferry runs simple, forking, notify and oneshot daemons",
		     daemon);
	const char *restart = scalar(lookup(app, "restart-condition"));
	static const char *const restarts[] = {"on-failure", "always", "never", NULL};
	if (restart && listed(restarts, restart))
		put_field(s, "    ", "restart", restart);
	else if (restart)
		lose(s, where, "restart-condition: %s: ferry restarts on-failure, always or never",
		     restart);
	const char *durations[] = {"restart-delay", "stop-timeout"};
	for (size_t i = 0; i < 2; i++) {
		const char *d = scalar(lookup(app, durations[i]));
		unsigned long long ms;
		if (d && str_parse_duration_ms(d, MANIFEST_DURATION_MAX_MS, &ms) == 0)
			put_field(s, "    ", durations[i], d);
		else if (d)
			lose(s, where, "%s: %s: not a ferry duration (such as 10s, 500ms)",
			     durations[i], d);
	}
	const struct node *plugs = lookup(app, "plugs");
	if (plugs) {
		put_plug_list(s, "    ", where, plugs);
	} else if (s->top_plugs && s->top_plugs->n) {
		/* snapd binds the snap's plugs to an app that names none */
		struct node *names[MANIFEST_MAX_ITEMS];
		struct node list = {.kind = NODE_LIST, .kids = names};
		for (size_t i = 0; i < s->top_plugs->n && list.n < MANIFEST_MAX_ITEMS; i += 2)
			names[list.n++] = s->top_plugs->kids[i];
		put_plug_list(s, "    ", where, &list);
	}
	put_env(s, where, lookup(app, "environment"));
	for (size_t i = 0; app && app->kind == NODE_MAP && i < app->n; i += 2)
		if (!listed(app_keys_taken, app->kids[i]->str)) {
			char what[192];
			snprintf(what, sizeof(what), "%s.%s", where, app->kids[i]->str);
			lose(s, what, "ferry has no equivalent");
		}
}

static const char *const ferry_hooks[] = {
    "install", "configure", "pre-refresh", "post-refresh", "check-health", "remove", NULL};

static void put_hooks(struct conv *s, const struct node *hooks, const char *const *files)
{
	json_t *kept = json_object_get(s->info, "hooks"),
	       *dropped = json_object_get(s->info, "dropped-hooks");
	bool any = false;
	/* snap.yaml's hooks first, then those only present as files */
	for (size_t pass = 0; pass < 2; pass++) {
		size_t n = pass == 0 ? (hooks && hooks->kind == NODE_MAP ? hooks->n / 2 : 0) : 0;
		if (pass == 1)
			for (const char *const *f = files; f && *f; f++)
				n++;
		for (size_t i = 0; i < n; i++) {
			const char *name = pass == 0 ? hooks->kids[2 * i]->str : files[i];
			const struct node *body = pass == 0 ? hooks->kids[2 * i + 1] : NULL;
			if (pass == 1 && lookup(hooks, name))
				continue;
			char where[128];
			snprintf(where, sizeof(where), "hooks.%s", name);
			if (!listed(ferry_hooks, name)) {
				lose(s, where, "ferry has no %s hook", name);
				json_array_append_new(dropped, json_string(name));
				continue;
			}
			if (!any)
				put(s, "hooks:\n");
			any = true;
			json_array_append_new(kept, json_string(name));
			const struct node *plugs = lookup(body, "plugs");
			put(s, "  %s:%s\n", name, plugs ? "" : " {}");
			if (plugs)
				put_plug_list(s, "    ", where, plugs);
			for (size_t j = 0; body && body->kind == NODE_MAP && j < body->n; j += 2)
				if (strcmp(body->kids[j]->str, "plugs") != 0) {
					char what[192];
					snprintf(what, sizeof(what), "%s.%s", where,
					         body->kids[j]->str);
					lose(s, what, "ferry has no equivalent");
				}
		}
	}
}

static const char *const top_taken[] = {"name",          "version", "summary",     "description",
                                        "license",       "base",    "confinement", "grade",
                                        "architectures", "apps",    "hooks",       "plugs",
                                        "environment",   "type",    NULL};

static int convert(struct ctx *c, const struct node *root, const struct snap_import_opts *o,
                   struct conv *s)
{
	const char *name = scalar(lookup(root, "name")), *version = scalar(lookup(root, "version"));
	if (root->kind != NODE_MAP)
		return ferry_error_set(c->err, FERRY_E_INVALID, "%s: expected a map", c->file);
	char shown[SHOW_MAX * 4 + 8];
	if (!name || !pkg_name_valid(name)) {
		manifest_show(name ? name : "", shown, sizeof(shown));
		return ferry_error_set(c->err, FERRY_E_INVALID,
		                       "%s: name: %s is not a ferry package name", c->file, shown);
	}
	if (!version || !manifest_valid_version(version)) {
		manifest_show(version ? version : "", shown, sizeof(shown));
		return ferry_error_set(c->err, FERRY_E_INVALID,
		                       "%s: version: %s is not a ferry version (1 to 32 of A-Z a-z "
		                       "0-9 . + ~ -)",
		                       c->file, shown);
	}
	const char *type = scalar(lookup(root, "type"));
	if (type && strcmp(type, "app") != 0) {
		manifest_show(type, shown, sizeof(shown));
		return ferry_error_set(c->err, FERRY_E_INVALID,
		                       "%s: type: %s: only app snaps become ferry packages",
		                       c->file, shown);
	}
	s->top_plugs = lookup(root, "plugs");
	if (s->top_plugs && s->top_plugs->kind != NODE_MAP) {
		lose(s, "plugs", "expected a map");
		s->top_plugs = NULL;
	}
	s->top_env = lookup(root, "environment");
	json_object_set_new(s->info, "name", json_string(name));
	json_object_set_new(s->info, "version", json_string(version));
	put(s, "# written by ferry import from %s: check it, then ferry pack\n", c->file);
	put_field(s, "", "name", name);
	put_field(s, "", "version", version);
	const char *summary = scalar(lookup(root, "summary"));
	if (!summary || !manifest_clean_text(summary, false)) {
		lose(s, "summary", "none usable; one was written");
		_cleanup_free_ char *made = str_dup_printf("%s, imported from a snap", name);
		put_field(s, "", "summary", made ? made : name);
	} else {
		char cut[MANIFEST_SUMMARY_MAX * 4 + 1];
		size_t n = 0, chars = 0;
		for (const unsigned char *p = (const unsigned char *)summary;
		     *p && n < sizeof(cut) - 4; p++) {
			if ((*p & 0xc0) != 0x80 && ++chars > MANIFEST_SUMMARY_MAX)
				break;
			cut[n++] = (char)*p;
		}
		cut[n] = '\0';
		if (strlen(summary) != n)
			lose(s, "summary", "cut to %d characters", MANIFEST_SUMMARY_MAX);
		put_field(s, "", "summary", cut);
	}
	const char *desc = scalar(lookup(root, "description"));
	if (desc && strlen(desc) <= MANIFEST_DESCRIPTION_MAX && manifest_clean_text(desc, true))
		put_field(s, "", "description", desc);
	else if (desc)
		lose(s, "description", "longer than %d bytes or not plain text",
		     MANIFEST_DESCRIPTION_MAX);
	const char *license = scalar(lookup(root, "license"));
	if (license)
		put_field(s, "", "license", license);
	const char *base = scalar(lookup(root, "base"));
	const char *mapped = NULL;
	for (size_t i = 0; base && i < o->n_base_map; i++) {
		size_t bl = strlen(base);
		if (strncmp(o->base_map[i], base, bl) == 0 && o->base_map[i][bl] == '=')
			mapped = o->base_map[i] + bl + 1;
	}
	if (mapped)
		put_field(s, "", "base", mapped);
	else if (base)
		lose(s, "base", "%s: no ferry base named for it (--base-map %s=BASE)", base, base);
	json_object_set_new(s->info, "base", mapped ? json_string(mapped) : json_null());
	const char *conf = scalar(lookup(root, "confinement"));
	if (conf && (strcmp(conf, "strict") == 0 || strcmp(conf, "devmode") == 0))
		put_field(s, "", "confinement", conf);
	else if (conf)
		lose(s, "confinement", "%s: ferry confines every app (strict)", conf);
	const char *grade = scalar(lookup(root, "grade"));
	if (grade && (strcmp(grade, "stable") == 0 || strcmp(grade, "devel") == 0))
		put_field(s, "", "grade", grade);
	const struct node *arches = lookup(root, "architectures");
	if (arches && arches->kind == NODE_LIST && arches->n) {
		put(s, "architectures: [");
		for (size_t i = 0; i < arches->n; i++) {
			put(s, "%s", i ? ", " : "");
			put_quoted(s, scalar(arches->kids[i]) ? arches->kids[i]->str : "");
		}
		put(s, "]\n");
	}
	put_top_plugs(s);
	const struct node *apps = lookup(root, "apps");
	if (apps && apps->kind == NODE_MAP && apps->n) {
		put(s, "apps:\n");
		for (size_t i = 0; i < apps->n; i += 2)
			put_app(s, apps->kids[i], apps->kids[i + 1]);
	}
	const struct node *hooks = lookup(root, "hooks");
	put_hooks(s, hooks && hooks->kind == NODE_MAP ? hooks : NULL, o->hook_files);
	for (size_t i = 0; i < root->n; i += 2)
		if (!listed(top_taken, root->kids[i]->str))
			lose(s, root->kids[i]->str, "ferry has no equivalent");
	return s->oom ? manifest_oom(c) : 0;
}

int manifest_from_snap(const char *yaml, size_t len, const char *filename,
                       const struct snap_import_opts *opts, char **ferry_yaml, json_t **info,
                       ferry_error *err)
{
	struct ctx c = {.file = filename ? filename : "meta/snap.yaml",
	                .err = err,
	                .data = yaml ? yaml : "",
	                .len = yaml ? len : 0};
	static const struct snap_import_opts none = {0};
	*ferry_yaml = NULL;
	*info = NULL;
	if (c.len > SNAP_MAX_BYTES)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: %zu bytes; at most %u are read",
		                       c.file, c.len, SNAP_MAX_BYTES);
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return manifest_oom(&c);
	yaml_parser_set_input_string(&parser, (const unsigned char *)c.data, c.len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	c.parser = &parser;
	struct node *root = NULL;
	int rc = manifest_build_tree(&c, &root);
	yaml_parser_delete(&parser);
	if (rc < 0)
		return rc;
	struct conv s = {.out = BUF_INIT(SNAP_MAX_BYTES * 2)};
	s.info = json_pack("{s:[], s:[], s:{}, s:[], s:[]}", "apps", "hooks", "plugs",
	                   "dropped-hooks", "not-carried");
	s.lost = json_object_get(s.info, "not-carried");
	rc = s.info ? convert(&c, root, opts ? opts : &none, &s) : manifest_oom(&c);
	manifest_node_free(root);
	if (rc == 0 && buf_append(&s.out, "", 1) < 0)
		rc = manifest_oom(&c);
	if (rc < 0) {
		buf_free(&s.out);
		json_decref(s.info);
		return rc;
	}
	*ferry_yaml = buf_steal(&s.out, NULL);
	*info = s.info;
	return 0;
}
