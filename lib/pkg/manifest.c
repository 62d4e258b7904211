/* manifest.c: reads meta/ferry.yaml. manifest_tree.c builds a bounded tree
 * from libyaml's events; this second pass walks the tree in file order,
 * checks every key and value against the rules of docs/formats/manifest.md
 * (the small grammars are manifest_grammar.c's, names pkg/name.h's) and fills
 * struct manifest; the first problem found ends the parse with one message
 * of the shape
 *   FILE:LINE:COLUMN: FIELD.PATH: what was expected; got "what was there"
 * Every scalar is kept as the text that was written (YAML 1.1 booleans and
 * numbers mean nothing here), so `version: 1.10` stays "1.10".
 *
 * It does not look at the package tree: whether an app's command exists is
 * for `ferry pack` to check. */
#include "pkg/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "base/strv.h"
#include "pkg/channel.h"
#include "pkg/interface_names.h"
#include "pkg/manifest_int.h"
#include "pkg/name.h"

#define COMMAND_MAX 256
#define PRIME_MAX 256
#define COMPONENT_NAME_MAX 128
#define COMPONENT_VERSION_MAX 64

#define DEFAULT_RESTART_DELAY_MS 1000
#define DEFAULT_STOP_TIMEOUT_MS 10000
#define DEFAULT_HEALTH_GRACE_MS 30000
#define DEFAULT_HEALTH_TIMEOUT_MS 30000
#define DEFAULT_HEALTH_INTERVAL_MS 2000
#define DEFAULT_HEALTH_RETRIES 3

/* ---- checking the tree ---- */

static int want_kind(struct ctx *c, const struct node *n, enum node_kind kind, const char *what)
{
	if (n->kind == kind && !(kind == NODE_SCALAR && n->is_null))
		return 0;
	return fail(c, n, FERRY_E_INVALID, "expected %s; %s", what, GOT(n));
}

static int dup_string(struct ctx *c, const char *s, char **out)
{
	free(*out);
	*out = strdup(s);
	return *out ? 0 : manifest_oom(c);
}

/* Find key i of map n in allowed; errors for a duplicate or unknown key. */
static int key_index(struct ctx *c, const struct node *map, size_t i, const char *const *allowed,
                     const char *unknown_what, int *idx)
{
	const struct node *k = map->kids[i];
	for (size_t j = 0; j < i; j += 2)
		if (strcmp(map->kids[j]->str, k->str) == 0) {
			size_t saved = manifest_path_push(c, k->str);
			int rc = fail(c, k, FERRY_E_INVALID, "duplicate key (first at line %u)",
			              map->kids[j]->line);
			manifest_path_pop(c, saved);
			return rc;
		}
	if (!allowed) {
		*idx = -1;
		return 0;
	}
	for (int a = 0; allowed[a]; a++)
		if (strcmp(allowed[a], k->str) == 0) {
			*idx = a;
			return 0;
		}
	size_t saved = manifest_path_push(c, k->str);
	const char *near = str_did_you_mean(k->str, allowed);
	int rc;
	if (near) {
		rc = fail(c, k, FERRY_E_INVALID, "unknown %s; did you mean \"%s\"?", unknown_what,
		          near);
	} else {
		char list[512];
		size_t o = 0;
		for (int a = 0; allowed[a] && o < sizeof(list); a++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", a ? ", " : "",
			                      allowed[a]);
		rc = fail(c, k, FERRY_E_INVALID, "unknown %s; expected one of %s", unknown_what,
		          list);
	}
	manifest_path_pop(c, saved);
	return rc;
}

static int missing(struct ctx *c, const struct node *map, const char *key)
{
	size_t saved = manifest_path_push(c, key);
	int rc = fail(c, map, FERRY_E_INVALID, "required key is missing");
	manifest_path_pop(c, saved);
	return rc;
}

static int get_enum(struct ctx *c, const struct node *n, const char *const *names, int *out)
{
	char list[256];
	size_t o = 0;
	for (int a = 0; names[a] && o < sizeof(list); a++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", a ? ", " : "", names[a]);
	if (n->kind == NODE_SCALAR && !n->is_null)
		for (int a = 0; names[a]; a++)
			if (strcmp(names[a], n->str) == 0) {
				*out = a;
				return 0;
			}
	return fail(c, n, FERRY_E_INVALID, "expected one of %s; %s", list, GOT(n));
}

static const char *const bool_names[] = {"false", "true", NULL};

static int get_bool(struct ctx *c, const struct node *n, bool *out)
{
	int e = 0;
	int rc = get_enum(c, n, bool_names, &e);
	*out = e == 1;
	return rc;
}

static int get_duration(struct ctx *c, const struct node *n, unsigned long long min_ms,
                        uint64_t *out)
{
	unsigned long long ms = 0;
	if (n->kind != NODE_SCALAR || n->is_null ||
	    str_parse_duration_ms(n->str, MANIFEST_DURATION_MAX_MS, &ms) < 0 || ms < min_ms)
		return fail(c, n, FERRY_E_INVALID,
		            "expected a duration from %s to 1h, such as 500ms, 30s, 5m or 1h; %s",
		            min_ms ? "1ms" : "0s", GOT(n));
	*out = ms;
	return 0;
}

/* A name under the package-name rule with min characters (1 or 2). */
static int check_name(struct ctx *c, const struct node *n, size_t min, const char *what)
{
	int rc = want_kind(c, n, NODE_SCALAR, what);
	if (rc < 0)
		return rc;
	const char *why = pkg_name_problem(n->str, min);
	if (why)
		return fail(c, n, FERRY_E_INVALID, "expected %s: %s; %s", what, why, GOT(n));
	return 0;
}

typedef int (*item_check_fn)(struct ctx *c, const struct node *item);

/* A list of unique strings, each passing check; NULL-terminated copy in out. */
static int get_string_list(struct ctx *c, const struct node *n, const char *what,
                           item_check_fn check, bool allow_empty, char ***out, size_t *count)
{
	int rc;
	if (n->kind != NODE_LIST)
		return fail(c, n, FERRY_E_INVALID, "expected a list of %s; %s", what, GOT(n));
	if (n->n == 0 && !allow_empty)
		return fail(c, n, FERRY_E_INVALID, "expected a list of %s; got an empty list",
		            what);
	char **v = calloc(n->n + 1, sizeof(*v));
	if (!v)
		return manifest_oom(c);
	for (size_t i = 0; i < n->n; i++) {
		const struct node *it = n->kids[i];
		size_t saved = manifest_path_push_index(c, i);
		rc = want_kind(c, it, NODE_SCALAR, what);
		if (rc == 0)
			rc = check(c, it);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(n->kids[j]->str, it->str) == 0)
				rc = fail(c, it, FERRY_E_INVALID,
				          "\"%s\" is listed twice (first at line %u)", v[j],
				          n->kids[j]->line);
		manifest_path_pop(c, saved);
		if (rc == 0 && !(v[i] = strdup(it->str)))
			rc = manifest_oom(c);
		if (rc < 0) {
			strv_free(v);
			return rc;
		}
	}
	strv_free(*out);
	*out = v;
	*count = n->n;
	return 0;
}

static int check_plug_ref(struct ctx *c, const struct node *it)
{
	return check_name(c, it, PKG_NAME_MIN, "a plug name");
}

/* ---- top-level fields ---- */

static int field_name(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = check_name(c, v, PKG_NAME_MIN, "a package name");
	return rc < 0 ? rc : dup_string(c, v->str, &m->name);
}

static int field_version(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_SCALAR, "a version");
	if (rc < 0)
		return rc;
	if (!manifest_valid_version(v->str))
		return fail(c, v, FERRY_E_INVALID,
		            "expected 1 to 32 letters, digits, \".\", \"+\", \"~\" and \"-\", "
		            "starting with a "
		            "letter or digit; %s",
		            GOT(v));
	return dup_string(c, v->str, &m->version);
}

static int field_summary(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_SCALAR, "a one-line summary");
	if (rc < 0)
		return rc;
	size_t n = manifest_utf8_chars(v->str);
	if (n < 1 || n > MANIFEST_SUMMARY_MAX || !manifest_clean_text(v->str, false))
		return fail(c, v, FERRY_E_INVALID, "expected one line of 1 to %d characters; %s",
		            MANIFEST_SUMMARY_MAX, n ? GOT(v) : "got an empty string");
	return dup_string(c, v->str, &m->summary);
}

static int field_description(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_SCALAR, "a description");
	if (rc < 0)
		return rc;
	if (v->len > MANIFEST_DESCRIPTION_MAX || !manifest_clean_text(v->str, true))
		return fail(c, v, FERRY_E_INVALID,
		            "expected text of at most %d bytes without control characters; %s",
		            MANIFEST_DESCRIPTION_MAX, GOT(v));
	return dup_string(c, v->str, &m->description);
}

static int field_license(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_SCALAR, "an SPDX license expression");
	if (rc < 0)
		return rc;
	const char *why =
	    v->len > MANIFEST_LICENSE_MAX ? "too long" : manifest_spdx_problem(v->str);
	if (why)
		return fail(
		    c, v, FERRY_E_INVALID,
		    "expected an SPDX license expression such as \"MIT\" or \"GPL-2.0-only OR "
		    "Apache-2.0\" (%s); %s",
		    why, GOT(v));
	return dup_string(c, v->str, &m->license);
}

static const char *const known_arches[] = {
    "all",     "amd64",    "arm64",   "armel",   "armhf", "i386",
    "loong64", "mips64el", "ppc64el", "riscv64", "s390x", NULL,
};

static int check_arch(struct ctx *c, const struct node *it)
{
	for (size_t i = 0; known_arches[i]; i++)
		if (strcmp(known_arches[i], it->str) == 0)
			return 0;
	const char *near = str_did_you_mean(it->str, known_arches);
	if (near) {
		char q[SHOW_MAX * 4 + 16];
		manifest_show(it->str, q, sizeof(q));
		return fail(c, it, FERRY_E_INVALID, "unknown architecture %s; did you mean \"%s\"?",
		            q, near);
	}
	return fail(
	    c, it, FERRY_E_INVALID,
	    "expected a Debian architecture (all, amd64, arm64, armel, armhf, i386, loong64, "
	    "mips64el, ppc64el, riscv64, s390x); %s",
	    GOT(it));
}

static int field_architectures(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = get_string_list(c, v, "architectures", check_arch, false, &m->architectures,
	                         &m->n_architectures);
	if (rc < 0)
		return rc;
	m->architectures_default = false;
	if (m->n_architectures > 1)
		for (size_t i = 0; i < m->n_architectures; i++)
			if (strcmp(m->architectures[i], "all") == 0) {
				size_t saved = manifest_path_push_index(c, i);
				rc = fail(c, v->kids[i], FERRY_E_INVALID,
				          "\"all\" must be the only architecture when listed");
				manifest_path_pop(c, saved);
				return rc;
			}
	return 0;
}

static const char *const confinement_names[] = {"strict", "devmode", NULL};
static const char *const type_names[] = {"app", "base", NULL};
static const char *const grade_names[] = {"stable", "devel", NULL};
static const char *const daemon_names[] = {"simple", "oneshot", "notify", "forking", NULL};
static const char *const restart_names[] = {"on-failure", "always", "never", NULL};
static const char *const hook_names[] = {"install",      "configure", "pre-refresh", "post-refresh",
                                         "check-health", "remove",    NULL};

static int check_program(struct ctx *c, const struct node *v, const char *path)
{
	if (!manifest_valid_rel_path(path, COMMAND_MAX))
		return fail(c, v, FERRY_E_INVALID,
		            "expected a relative path inside the package, such as bin/server (no "
		            "leading \"/\", no \"..\"), then its arguments; %s",
		            GOT(v));
	return 0;
}

/* command: the program and its arguments, split as manifest_split_words does */
static int get_command(struct ctx *c, const struct node *v, struct manifest_app *app)
{
	int rc = want_kind(c, v, NODE_SCALAR, "a relative path inside the package");
	if (rc < 0)
		return rc;
	if (!manifest_clean_text(v->str, false))
		return fail(c, v, FERRY_E_INVALID,
		            "expected one line without control characters; %s", GOT(v));
	char **words = NULL;
	size_t n = 0;
	const char *why = NULL;
	rc = manifest_split_words(v->str, MANIFEST_COMMAND_WORDS_MAX, &words, &n, &why);
	if (rc == FERRY_E_NOMEM)
		return manifest_oom(c);
	if (rc < 0)
		return fail(
		    c, v, FERRY_E_INVALID,
		    "expected a program and its arguments (at most %d words) such as bin/server "
		    "--port 8080: %s; %s",
		    MANIFEST_COMMAND_WORDS_MAX, why, GOT(v));
	rc = check_program(c, v, words[0]);
	if (rc < 0) {
		strv_free(words);
		return rc;
	}
	free(app->command);
	strv_free(app->args);
	app->command = words[0];
	app->args = words; /* shifted down over the program */
	memmove(words, words + 1, n * sizeof(*words));
	app->n_args = n - 1;
	return 0;
}

static int check_chain_entry(struct ctx *c, const struct node *it)
{
	if (!manifest_valid_rel_path(it->str, COMMAND_MAX))
		return fail(c, it, FERRY_E_INVALID,
		            "expected a relative path inside the package, such as bin/wrapper (no "
		            "leading \"/\", no \"..\", no spaces); %s",
		            GOT(it));
	return 0;
}

static int get_env(struct ctx *c, const struct node *v, struct manifest_env **out, size_t *count)
{
	if (v->kind != NODE_MAP)
		return fail(c, v, FERRY_E_INVALID, "expected a map of NAME: value; %s", GOT(v));
	struct manifest_env *env = calloc(v->n / 2 + 1, sizeof(*env));
	size_t n = 0;
	int rc = 0;
	if (!env)
		return manifest_oom(c);
	for (size_t i = 0; rc == 0 && i < v->n; i += 2) {
		const struct node *k = v->kids[i], *val = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, NULL, NULL, &idx)) < 0)
			break;
		size_t saved = manifest_path_push(c, k->str);
		if (!manifest_valid_env_key(k->str))
			rc = fail(c, k, FERRY_E_INVALID,
			          "expected a variable name of letters, digits and \"_\" (at most "
			          "%d, not "
			          "starting with a digit); %s",
			          ENV_KEY_MAX, GOT(k));
		else if (val->kind != NODE_SCALAR)
			rc = fail(c, val, FERRY_E_INVALID, "expected a string; %s", GOT(val));
		else if (!manifest_clean_text(val->str, false))
			rc = fail(c, val, FERRY_E_INVALID,
			          "expected one line without control characters; %s", GOT(val));
		manifest_path_pop(c, saved);
		if (rc == 0) {
			env[n].key = strdup(k->str);
			env[n].value = strdup(val->is_null ? "" : val->str);
			n++;
			if (!env[n - 1].key || !env[n - 1].value)
				rc = manifest_oom(c);
		}
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			free(env[i].key);
			free(env[i].value);
		}
		free(env);
		return rc;
	}
	*out = env;
	*count = n;
	return 0;
}

static const char *const limit_keys[] = {"memory", "cpu", "pids", NULL};

/* limits: {memory: 256M, cpu: 50%, pids: 64} */
static int get_limits(struct ctx *c, const struct node *v, struct manifest_limits *l)
{
	int rc = want_kind(c, v, NODE_MAP, "a map with memory, cpu or pids");
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *val = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, limit_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = manifest_path_push(c, v->kids[i]->str);
		const char *s = val->kind == NODE_SCALAR && !val->is_null ? val->str : "";
		size_t n = strlen(s);
		char num[24];
		unsigned long long x = 0, mult = 1;
		bool ok = n > 0 && n < sizeof(num);
		if (ok)
			memcpy(num, s, n + 1);
		if (idx == 0) {
			const char *units = "KMGT";
			const char *u = ok ? strchr(units, num[n - 1]) : NULL;
			if (u && num[n - 1]) {
				mult = 1ull << (10 * (u - units + 1));
				num[--n] = '\0';
			}
			ok = ok && n > 0 && str_to_u64(num, MANIFEST_MEMORY_MAX, &x) == 0 &&
			     x <= MANIFEST_MEMORY_MAX / mult && x * mult >= MANIFEST_MEMORY_MIN;
			if (!ok)
				rc = fail(
				    c, val, FERRY_E_INVALID,
				    "expected a size from 4M to 1T, in bytes or with K, M, G or T "
				    "(powers of 1024), such as 256M; %s",
				    GOT(val));
			else
				l->memory = x * mult;
		} else if (idx == 1) {
			ok = ok && n > 1 && num[n - 1] == '%';
			if (ok)
				num[--n] = '\0';
			ok = ok && str_to_u64(num, MANIFEST_CPU_MAX, &x) == 0 && x > 0;
			if (!ok)
				rc = fail(c, val, FERRY_E_INVALID,
				          "expected a percentage of one CPU from 1%% to 100000%%, "
				          "such as "
				          "50%% or 200%% (two CPUs); %s",
				          GOT(val));
			else
				l->cpu_percent = x;
		} else {
			ok = ok && str_to_u64(num, MANIFEST_PIDS_MAX, &x) == 0 && x > 0;
			if (!ok)
				rc = fail(c, val, FERRY_E_INVALID,
				          "expected a number of processes and threads from 1 to "
				          "4194304; %s",
				          GOT(val));
			else
				l->pids = x;
		}
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct manifest_limits manifest_limits_of(const struct manifest *m, const struct manifest_app *a)
{
	struct manifest_limits l = m->limits;
	if (a) {
		if (a->limits.memory)
			l.memory = a->limits.memory;
		if (a->limits.cpu_percent)
			l.cpu_percent = a->limits.cpu_percent;
		if (a->limits.pids)
			l.pids = a->limits.pids;
	}
	return l;
}

bool manifest_restarts_on_configure(const struct manifest *m, const struct manifest_app *a)
{
	if (a->daemon == DAEMON_NONE)
		return false;
	return a->restart_on_configure_set ? a->restart_on_configure : m->restart_on_configure;
}

static const char *const app_keys[] = {
    "command", "daemon",      "restart", "restart-delay",        "stop-timeout",
    "plugs",   "environment", "limits",  "restart-on-configure", "command-chain",
    NULL};

static int parse_app(struct ctx *c, const struct node *map, struct manifest_app *app)
{
	int rc = want_kind(c, map, NODE_MAP, "a map with at least command");
	const struct node *restart_key = NULL;
	if (rc < 0)
		return rc;
	app->restart_delay_ms = DEFAULT_RESTART_DELAY_MS;
	app->stop_timeout_ms = DEFAULT_STOP_TIMEOUT_MS;
	for (size_t i = 0; i < map->n; i += 2) {
		const struct node *k = map->kids[i], *v = map->kids[i + 1];
		int idx, e = 0;
		if ((rc = key_index(c, map, i, app_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = manifest_path_push(c, k->str);
		switch (idx) {
		case 0:
			rc = get_command(c, v, app);
			break;
		case 1:
			rc = get_enum(c, v, daemon_names, &e);
			app->daemon = (enum manifest_daemon)(e + 1);
			break;
		case 2:
			rc = get_enum(c, v, restart_names, &e);
			app->restart = (enum manifest_restart)e;
			restart_key = restart_key ? restart_key : k;
			break;
		case 3:
			rc = get_duration(c, v, 0, &app->restart_delay_ms);
			restart_key = restart_key ? restart_key : k;
			break;
		case 4:
			rc = get_duration(c, v, 1, &app->stop_timeout_ms);
			restart_key = restart_key ? restart_key : k;
			break;
		case 5:
			rc = get_string_list(c, v, "plug names", check_plug_ref, true, &app->plugs,
			                     &app->n_plugs);
			break;
		case 6:
			rc = get_env(c, v, &app->env, &app->n_env);
			break;
		case 7:
			rc = get_limits(c, v, &app->limits);
			break;
		case 8:
			rc = get_bool(c, v, &app->restart_on_configure);
			app->restart_on_configure_set = true;
			restart_key = restart_key ? restart_key : k;
			break;
		case 9:
			rc = get_string_list(c, v, "paths", check_chain_entry, true,
			                     &app->command_chain, &app->n_command_chain);
			if (rc == 0 && app->n_command_chain > MANIFEST_CHAIN_MAX)
				rc = fail(c, v, FERRY_E_INVALID,
				          "expected at most %d entries; got %zu",
				          MANIFEST_CHAIN_MAX, app->n_command_chain);
			break;
		}
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	if (!app->command)
		return missing(c, map, "command");
	if (restart_key && app->daemon == DAEMON_NONE) {
		size_t saved = manifest_path_push(c, restart_key->str);
		rc = fail(
		    c, restart_key, FERRY_E_INVALID,
		    "only allowed for a daemon; add daemon: simple (or oneshot, notify, forking)");
		manifest_path_pop(c, saved);
		return rc;
	}
	return 0;
}

static void app_clear(struct manifest_app *a)
{
	free(a->name);
	free(a->command);
	strv_free(a->args);
	strv_free(a->command_chain);
	strv_free(a->plugs);
	for (size_t i = 0; i < a->n_env; i++) {
		free(a->env[i].key);
		free(a->env[i].value);
	}
	free(a->env);
}

static int field_apps(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_MAP, "a map of app names to apps");
	if (rc < 0)
		return rc;
	m->apps = calloc(v->n / 2 + 1, sizeof(*m->apps));
	if (!m->apps)
		return manifest_oom(c);
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *k = v->kids[i];
		int idx;
		if ((rc = key_index(c, v, i, NULL, NULL, &idx)) < 0)
			return rc;
		const char *why = pkg_name_problem(k->str, PKG_APP_NAME_MIN);
		if (why)
			return fail(c, k, FERRY_E_INVALID, "expected an app name: %s; %s", why,
			            GOT(k));
		struct manifest_app *app = &m->apps[m->n_apps++];
		if (!(app->name = strdup(k->str)))
			return manifest_oom(c);
		size_t saved = manifest_path_push(c, k->str);
		rc = parse_app(c, v->kids[i + 1], app);
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const char *const hook_keys[] = {"plugs", NULL};

static int field_hooks(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_MAP, "a map of hook names");
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *k = v->kids[i], *h = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, hook_names, "hook", &idx)) < 0)
			return rc;
		struct manifest_hook_def *def = &m->hooks[idx];
		def->present = true;
		size_t saved = manifest_path_push(c, k->str);
		if (h->kind == NODE_SCALAR && h->is_null) {
			manifest_path_pop(c, saved);
			continue;
		}
		rc = want_kind(c, h, NODE_MAP, "an empty map or a map with plugs");
		for (size_t j = 0; rc == 0 && j < h->n; j += 2) {
			int hidx;
			if ((rc = key_index(c, h, j, hook_keys, "key", &hidx)) < 0)
				break;
			size_t s2 = manifest_path_push(c, h->kids[j]->str);
			rc = get_string_list(c, h->kids[j + 1], "plug names", check_plug_ref, true,
			                     &def->plugs, &def->n_plugs);
			manifest_path_pop(c, s2);
		}
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const char *const health_keys[] = {"grace",   "timeout",      "interval",
                                          "retries", "start-period", NULL};

static int field_health(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_MAP,
	                   "a map with grace, timeout, interval, retries and start-period");
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *val = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, health_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = manifest_path_push(c, v->kids[i]->str);
		unsigned long long x = 0;
		switch (idx) {
		case 0:
			rc = get_duration(c, val, 0, &m->health_grace_ms);
			break;
		case 1:
			rc = get_duration(c, val, 1, &m->health_timeout_ms);
			break;
		case 2:
			rc = get_duration(c, val, 1, &m->health_interval_ms);
			break;
		case 3:
			if (val->kind != NODE_SCALAR || val->is_null ||
			    str_to_u64(val->str, MANIFEST_HEALTH_RETRIES_MAX, &x) < 0)
				rc = fail(c, val, FERRY_E_INVALID,
				          "expected a number from 0 to %d; %s",
				          MANIFEST_HEALTH_RETRIES_MAX, GOT(val));
			else
				m->health_retries = (unsigned)x;
			break;
		default:
			rc = get_duration(c, val, 0, &m->health_start_period_ms);
			break;
		}
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	/* the longest the check can take: what blocks other changes is bounded */
	unsigned long long worst = m->health_start_period_ms +
	                           (m->health_retries + 1ull) * m->health_timeout_ms +
	                           m->health_retries * (unsigned long long)m->health_interval_ms;
	if (worst > MANIFEST_HEALTH_TOTAL_MAX_MS)
		return fail(c, v, FERRY_E_INVALID,
		            "start-period + (retries + 1) x timeout + retries x interval may be at "
		            "most 6h; these make %llus",
		            worst / 1000);
	return 0;
}

static int field_environment(struct ctx *c, const struct node *v, struct manifest *m)
{
	return get_env(c, v, &m->env, &m->n_env);
}

static void plug_clear(struct manifest_plug *p)
{
	free(p->name);
	free(p->interface);
	for (size_t i = 0; i < p->n_attrs; i++) {
		free(p->attrs[i].key);
		free(p->attrs[i].value);
	}
	free(p->attrs);
}

/* The body of one plug or slot in map form: null, an interface name, or a
 * map with an optional interface and string attributes. */
static int parse_plug_body(struct ctx *c, const struct node *v, struct manifest_plug *p)
{
	int rc;
	if (v->kind == NODE_SCALAR) {
		if (v->is_null)
			return dup_string(c, p->name, &p->interface);
		if ((rc = check_name(c, v, PKG_NAME_MIN, "an interface name")) < 0)
			return rc;
		return dup_string(c, v->str, &p->interface);
	}
	if (v->kind != NODE_MAP)
		return fail(c, v, FERRY_E_INVALID,
		            "expected an interface name or a map of attributes; %s", GOT(v));
	p->attrs = calloc(v->n / 2 + 1, sizeof(*p->attrs));
	if (!p->attrs)
		return manifest_oom(c);
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *k = v->kids[i], *a = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, NULL, NULL, &idx)) < 0)
			return rc;
		size_t saved = manifest_path_push(c, k->str);
		if (strcmp(k->str, "interface") == 0) {
			rc = check_name(c, a, PKG_NAME_MIN, "an interface name");
			if (rc == 0)
				rc = dup_string(c, a->str, &p->interface);
		} else if (pkg_name_problem(k->str, PKG_APP_NAME_MIN)) {
			rc = fail(c, k, FERRY_E_INVALID, "expected an attribute name: %s; %s",
			          pkg_name_problem(k->str, PKG_APP_NAME_MIN), GOT(k));
		} else if (a->kind != NODE_SCALAR || a->is_null) {
			rc = fail(c, a, FERRY_E_INVALID, "expected a string; %s", GOT(a));
		} else if (!manifest_clean_text(a->str, false)) {
			rc = fail(c, a, FERRY_E_INVALID,
			          "expected one line without control characters; %s", GOT(a));
		} else {
			struct manifest_env *e = &p->attrs[p->n_attrs++];
			if (!(e->key = strdup(k->str)) || !(e->value = strdup(a->str)))
				rc = manifest_oom(c);
		}
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	if (!p->interface)
		return dup_string(c, p->name, &p->interface);
	return 0;
}

/* A plug's interface must be one ferry knows (interface_names.h); at is the
 * node that names it. */
static int check_interface(struct ctx *c, const struct node *at, const char *iface)
{
	if (!(c->strict & MANIFEST_KNOWN_INTERFACES) || pkg_interface_known(iface))
		return 0;
	const char *hint = pkg_interface_suggest(iface);
	if (hint)
		return fail(c, at, FERRY_E_INVALID,
		            "unknown interface \"%s\"; did you mean \"%s\"?", iface, hint);
	char list[512] = "";
	size_t used = 0;
	for (const char *const *v = pkg_interfaces; *v && used < sizeof(list); v++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
		                         *v);
	return fail(c, at, FERRY_E_INVALID, "unknown interface \"%s\"; expected one of %s", iface,
	            list);
}

/* The node that names a top-level plug's interface: the value, the
 * `interface` attribute, or else the plug's name (key). */
static const struct node *interface_node(const struct node *key, const struct node *body)
{
	if (!body || (body->kind == NODE_SCALAR && body->is_null))
		return key;
	if (body->kind == NODE_SCALAR)
		return body;
	for (size_t i = 0; body->kind == NODE_MAP && i < body->n; i += 2)
		if (strcmp(body->kids[i]->str, "interface") == 0)
			return body->kids[i + 1];
	return key;
}

/* plugs or slots: a map (name: body) or a list of names. */
static int get_plugs(struct ctx *c, const struct node *v, const char *what,
                     struct manifest_plug **out, size_t *count)
{
	int rc;
	if (v->kind == NODE_SCALAR)
		return fail(c, v, FERRY_E_INVALID, "expected a map or a list of %s names; %s", what,
		            GOT(v));
	size_t n = v->kind == NODE_MAP ? v->n / 2 : v->n;
	*out = calloc(n + 1, sizeof(**out));
	if (!*out)
		return manifest_oom(c);
	for (size_t i = 0; i < n; i++) {
		struct manifest_plug *p = &(*out)[(*count)++];
		const struct node *k = v->kind == NODE_MAP ? v->kids[2 * i] : v->kids[i];
		size_t saved = v->kind == NODE_MAP ? c->plen : manifest_path_push_index(c, i);
		int idx;
		if (v->kind == NODE_MAP)
			rc = key_index(c, v, 2 * i, NULL, NULL, &idx);
		else
			rc = want_kind(c, k, NODE_SCALAR, "a name");
		if (rc == 0)
			rc = check_name(c, k, PKG_NAME_MIN,
			                strcmp(what, "plug") == 0 ? "a plug name" : "a slot name");
		for (size_t j = 0; rc == 0 && v->kind == NODE_LIST && j < i; j++)
			if (strcmp(v->kids[j]->str, k->str) == 0)
				rc = fail(c, k, FERRY_E_INVALID,
				          "\"%s\" is listed twice (first at line %u)", k->str,
				          v->kids[j]->line);
		if (rc == 0 && !(p->name = strdup(k->str)))
			rc = manifest_oom(c);
		if (rc == 0 && v->kind == NODE_LIST)
			rc = dup_string(c, p->name, &p->interface);
		manifest_path_pop(c, saved);
		const struct node *body = v->kind == NODE_MAP ? v->kids[2 * i + 1] : NULL;
		if (rc == 0 && body) {
			saved = manifest_path_push(c, k->str);
			rc = parse_plug_body(c, body, p);
			manifest_path_pop(c, saved);
		}
		if (rc == 0 && strcmp(what, "plug") == 0) {
			const struct node *at = interface_node(k, body);
			saved =
			    body ? manifest_path_push(c, k->str) : manifest_path_push_index(c, i);
			if (at != k && at != body)
				manifest_path_push(c, "interface");
			rc = check_interface(c, at, p->interface);
			manifest_path_pop(c, saved);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static bool is_top_plug(const struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_plugs; i++)
		if (strcmp(m->plugs[i].name, name) == 0)
			return true;
	return false;
}

/* A plug an app or hook lists is a top-level plug, or else the name of its
 * interface, which must be known. Checked once the whole file is read: the
 * top-level plugs may come after the apps. */
static int check_listed_plugs(struct ctx *c, const struct node *root, const struct manifest *m)
{
	for (size_t i = 0; i < root->n; i += 2) {
		const char *top = root->kids[i]->str;
		const struct node *v = root->kids[i + 1];
		if ((strcmp(top, "apps") != 0 && strcmp(top, "hooks") != 0) || v->kind != NODE_MAP)
			continue;
		for (size_t j = 0; j < v->n; j += 2) {
			const struct node *body = v->kids[j + 1], *plugs = NULL;
			for (size_t k = 0; body->kind == NODE_MAP && k < body->n; k += 2)
				if (strcmp(body->kids[k]->str, "plugs") == 0)
					plugs = body->kids[k + 1];
			for (size_t k = 0; plugs && plugs->kind == NODE_LIST && k < plugs->n; k++) {
				const char *name = plugs->kids[k]->str;
				if (is_top_plug(m, name))
					continue;
				size_t saved = manifest_path_push(c, top);
				manifest_path_push(c, v->kids[j]->str);
				manifest_path_push(c, "plugs");
				manifest_path_push_index(c, k);
				int rc = check_interface(c, plugs->kids[k], name);
				manifest_path_pop(c, saved);
				if (rc < 0)
					return rc;
			}
		}
	}
	return 0;
}

static int field_plugs(struct ctx *c, const struct node *v, struct manifest *m)
{
	return get_plugs(c, v, "plug", &m->plugs, &m->n_plugs);
}

static int field_slots(struct ctx *c, const struct node *v, struct manifest *m)
{
	return get_plugs(c, v, "slot", &m->slots, &m->n_slots);
}

static int check_apt(struct ctx *c, const struct node *it)
{
	if (!manifest_valid_apt(it->str))
		return fail(c, it, FERRY_E_INVALID,
		            "expected a Debian package as NAME or NAME=VERSION (such as libssl3 or "
		            "libssl3=3.0.11-1~deb12u2); %s",
		            GOT(it));
	return 0;
}

static int check_prime(struct ctx *c, const struct node *it)
{
	const char *s = it->str[0] == '-' ? it->str + 1 : it->str;
	if (!manifest_valid_rel_path(s, PRIME_MAX))
		return fail(
		    c, it, FERRY_E_INVALID,
		    "expected a relative path or pattern inside the package, \"-\" in front to "
		    "exclude (such as usr/bin/* or -usr/share/doc); %s",
		    GOT(it));
	return 0;
}

static const char *const part_keys[] = {"stage-packages", "prime", "stage-packages-deps", NULL};

static int field_parts(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_MAP, "a map of part names to parts");
	if (rc < 0)
		return rc;
	m->parts = calloc(v->n / 2 + 1, sizeof(*m->parts));
	if (!m->parts)
		return manifest_oom(c);
	for (size_t i = 0; i < v->n; i += 2) {
		const struct node *k = v->kids[i], *p = v->kids[i + 1];
		int idx;
		if ((rc = key_index(c, v, i, NULL, NULL, &idx)) < 0)
			return rc;
		const char *why = pkg_name_problem(k->str, PKG_APP_NAME_MIN);
		if (why)
			return fail(c, k, FERRY_E_INVALID, "expected a part name: %s; %s", why,
			            GOT(k));
		struct manifest_part *part = &m->parts[m->n_parts++];
		if (!(part->name = strdup(k->str)))
			return manifest_oom(c);
		part->stage_deps = -1;
		size_t saved = manifest_path_push(c, k->str);
		rc = want_kind(c, p, NODE_MAP, "a map with stage-packages and prime");
		for (size_t j = 0; rc == 0 && j < p->n; j += 2) {
			if ((rc = key_index(c, p, j, part_keys, "key", &idx)) < 0)
				break;
			size_t s2 = manifest_path_push(c, p->kids[j]->str);
			if (idx == 0)
				rc = get_string_list(c, p->kids[j + 1], "Debian packages",
				                     check_apt, true, &part->stage_packages,
				                     &part->n_stage_packages);
			else if (idx == 2)
				rc = get_enum(c, p->kids[j + 1], bool_names, &part->stage_deps);
			else
				rc = get_string_list(c, p->kids[j + 1], "paths", check_prime, true,
				                     &part->prime, &part->n_prime);
			manifest_path_pop(c, s2);
		}
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const char *const component_keys[] = {"name", "version", "purl", NULL};

static int parse_component(struct ctx *c, const struct node *map, struct manifest_component *comp)
{
	int rc = want_kind(c, map, NODE_MAP, "a map with name, version and purl");
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < map->n; i += 2) {
		const struct node *v = map->kids[i + 1];
		int idx;
		if ((rc = key_index(c, map, i, component_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = manifest_path_push(c, map->kids[i]->str);
		rc = want_kind(c, v, NODE_SCALAR, "a string");
		if (rc == 0 && idx == 0 && !manifest_graph_ascii(v->str, 1, COMPONENT_NAME_MAX))
			rc = fail(c, v, FERRY_E_INVALID,
			          "expected 1 to %d printable ASCII characters without spaces; %s",
			          COMPONENT_NAME_MAX, GOT(v));
		if (rc == 0 && idx == 1 && !manifest_graph_ascii(v->str, 1, COMPONENT_VERSION_MAX))
			rc = fail(c, v, FERRY_E_INVALID,
			          "expected 1 to %d printable ASCII characters without spaces; %s",
			          COMPONENT_VERSION_MAX, GOT(v));
		if (rc == 0 && idx == 2 && !manifest_valid_purl(v->str))
			rc = fail(c, v, FERRY_E_INVALID,
			          "expected a package URL such as pkg:npm/left-pad@1.3.0; %s",
			          GOT(v));
		if (rc == 0)
			rc = dup_string(c, v->str,
			                idx == 0   ? &comp->name
			                : idx == 1 ? &comp->version
			                           : &comp->purl);
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	if (!comp->name)
		return missing(c, map, "name");
	if (!comp->version)
		return missing(c, map, "version");
	return 0;
}

static int field_components(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_LIST, "a list of components");
	if (rc < 0)
		return rc;
	m->components = calloc(v->n + 1, sizeof(*m->components));
	if (!m->components)
		return manifest_oom(c);
	for (size_t i = 0; i < v->n; i++) {
		size_t saved = manifest_path_push_index(c, i);
		rc = parse_component(c, v->kids[i], &m->components[m->n_components++]);
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int field_confinement(struct ctx *c, const struct node *v, struct manifest *m)
{
	int e = 0;
	int rc = get_enum(c, v, confinement_names, &e);
	m->confinement = (enum manifest_confinement)e;
	return rc;
}

static int field_grade(struct ctx *c, const struct node *v, struct manifest *m)
{
	int e = 0;
	int rc = get_enum(c, v, grade_names, &e);
	m->grade = (enum manifest_grade)e;
	return rc;
}

static int field_limits(struct ctx *c, const struct node *v, struct manifest *m)
{
	return get_limits(c, v, &m->limits);
}

static int field_type(struct ctx *c, const struct node *v, struct manifest *m)
{
	int e = 0;
	int rc = get_enum(c, v, type_names, &e);
	m->type = (enum manifest_type)e;
	return rc;
}

/* base: NAME of a base package, or none (the host's root, as without it). */
static int field_base(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = check_name(c, v, PKG_NAME_MIN, "a base package name or none");
	if (rc < 0)
		return rc;
	if (strcmp(v->str, "none") == 0) {
		free(m->base);
		m->base = NULL;
		return 0;
	}
	return dup_string(c, v->str, &m->base);
}

/* base-channel: the channel of the base a device installs with the app
 * when the base is missing (TRACK/RISK[/BRANCH]; default latest/stable). */
static int field_base_channel(struct ctx *c, const struct node *v, struct manifest *m)
{
	int rc = want_kind(c, v, NODE_SCALAR, "a channel such as latest/stable");
	if (rc < 0)
		return rc;
	struct channel ch;
	ferry_error e;
	if (v->is_null)
		return fail(c, v, FERRY_E_INVALID, "expected a channel such as latest/stable; %s",
		            GOT(v));
	if (channel_parse(v->str, &ch, &e) < 0)
		return fail(c, v, FERRY_E_INVALID, "%s", ferry_error_msg(&e));
	char name[CHANNEL_NAME_MAX];
	channel_format(&ch, name, sizeof(name));
	return dup_string(c, name, &m->base_channel);
}

/* What a base may not have: apps, hooks, a base of its own. */
static int check_base_type(struct ctx *c, const struct node *root, const struct manifest *m)
{
	if (m->type != MANIFEST_TYPE_BASE)
		return 0;
	for (size_t i = 0; i < root->n; i += 2) {
		const char *k = root->kids[i]->str;
		const char *why = NULL;
		if (strcmp(k, "apps") == 0 && m->n_apps)
			why = "a base has no apps: apps run in packages of type app that name "
			      "it with base";
		else if (strcmp(k, "hooks") == 0)
			why = "a base has no hooks";
		else if (strcmp(k, "base") == 0 && m->base)
			why = "a base cannot have a base of its own";
		else if (strcmp(k, "base-channel") == 0)
			why = "a base has no base-channel: it has no base";
		if (!why)
			continue;
		size_t saved = manifest_path_push(c, k);
		int rc = fail(c, root->kids[i], FERRY_E_INVALID, "%s (type: base)", why);
		manifest_path_pop(c, saved);
		return rc;
	}
	return 0;
}

static int field_restart_on_configure(struct ctx *c, const struct node *v, struct manifest *m)
{
	return get_bool(c, v, &m->restart_on_configure);
}

typedef int (*field_fn)(struct ctx *c, const struct node *v, struct manifest *m);

static const char *const top_keys[] = {
    "name",          "version",     "summary", "description", "license",
    "architectures", "confinement", "grade",   "apps",        "hooks",
    "health",        "plugs",       "slots",   "parts",       "components",
    "limits",        "type",        "base",    "environment", "restart-on-configure",
    "base-channel",  NULL,
};

static const field_fn top_fields[] = {
    field_name,         field_version,       field_summary,     field_description,
    field_license,      field_architectures, field_confinement, field_grade,
    field_apps,         field_hooks,         field_health,      field_plugs,
    field_slots,        field_parts,         field_components,  field_limits,
    field_type,         field_base,          field_environment, field_restart_on_configure,
    field_base_channel,
};

static int check_manifest(struct ctx *c, const struct node *root, struct manifest *m)
{
	int rc;
	if (root->kind != NODE_MAP)
		return fail(c, root, FERRY_E_INVALID,
		            "expected a map with at least name, version and summary; %s",
		            GOT(root));
	for (size_t i = 0; i < root->n; i += 2) {
		int idx;
		if ((rc = key_index(c, root, i, top_keys, "key", &idx)) < 0)
			return rc;
		size_t saved = manifest_path_push(c, root->kids[i]->str);
		rc = top_fields[idx](c, root->kids[i + 1], m);
		manifest_path_pop(c, saved);
		if (rc < 0)
			return rc;
	}
	if (!m->name)
		return missing(c, root, "name");
	if (!m->version)
		return missing(c, root, "version");
	if (!m->summary)
		return missing(c, root, "summary");

	/* a name is a plug or a slot, not both */
	for (size_t i = 0; i < m->n_slots; i++)
		for (size_t j = 0; j < m->n_plugs; j++)
			if (strcmp(m->slots[i].name, m->plugs[j].name) == 0) {
				const struct node *slots = NULL;
				for (size_t k = 0; k < root->n; k += 2)
					if (strcmp(root->kids[k]->str, "slots") == 0)
						slots = root->kids[k + 1];
				size_t saved = manifest_path_push(c, "slots");
				rc = fail(c, slots, FERRY_E_INVALID,
				          "\"%s\" is already the name of a plug", m->slots[i].name);
				manifest_path_pop(c, saved);
				return rc;
			}

	if ((rc = check_listed_plugs(c, root, m)) < 0)
		return rc;
	if ((rc = check_base_type(c, root, m)) < 0)
		return rc;
	if (m->base_channel && !m->base && m->type != MANIFEST_TYPE_BASE) {
		for (size_t i = 0; i < root->n; i += 2)
			if (strcmp(root->kids[i]->str, "base-channel") == 0) {
				size_t saved = manifest_path_push(c, "base-channel");
				rc = fail(c, root->kids[i + 1], FERRY_E_INVALID,
				          "a channel of a base, but the package names no base "
				          "(base: NAME)");
				manifest_path_pop(c, saved);
				return rc;
			}
	}

	if (!m->architectures) {
		m->architectures = calloc(2, sizeof(char *));
		if (!m->architectures ||
		    !(m->architectures[0] = strdup(manifest_host_architecture())))
			return manifest_oom(c);
		m->n_architectures = 1;
		m->architectures_default = true;
	}
	return 0;
}

/* ---- public ---- */

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->version);
	free(m->summary);
	free(m->description);
	free(m->license);
	free(m->base);
	free(m->base_channel);
	strv_free(m->architectures);
	for (size_t i = 0; i < m->n_apps; i++)
		app_clear(&m->apps[i]);
	free(m->apps);
	for (size_t i = 0; i < HOOK__COUNT; i++)
		strv_free(m->hooks[i].plugs);
	for (size_t i = 0; i < m->n_plugs; i++)
		plug_clear(&m->plugs[i]);
	free(m->plugs);
	for (size_t i = 0; i < m->n_slots; i++)
		plug_clear(&m->slots[i]);
	free(m->slots);
	for (size_t i = 0; i < m->n_parts; i++) {
		free(m->parts[i].name);
		strv_free(m->parts[i].stage_packages);
		strv_free(m->parts[i].prime);
	}
	free(m->parts);
	for (size_t i = 0; i < m->n_components; i++) {
		free(m->components[i].name);
		free(m->components[i].version);
		free(m->components[i].purl);
	}
	free(m->components);
	for (size_t i = 0; i < m->n_env; i++) {
		free(m->env[i].key);
		free(m->env[i].value);
	}
	free(m->env);
	free(m);
}

int manifest_parse_strict(const char *data, size_t len, const char *filename, unsigned strict,
                          struct manifest **out, ferry_error *err)
{
	if (!data) { /* libyaml asserts on a NULL input, even an empty one */
		data = "";
		len = 0;
	}
	struct ctx c = {.file = filename ? filename : "meta/ferry.yaml",
	                .err = err,
	                .data = data,
	                .len = len,
	                .strict = strict};
	yaml_parser_t parser;
	struct node *root = NULL;
	int rc;

	*out = NULL;
	if (len > MANIFEST_MAX_BYTES)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s: %zu bytes; a manifest may have at most %u", c.file, len,
		                       MANIFEST_MAX_BYTES);
	if (!yaml_parser_initialize(&parser))
		return manifest_oom(&c);
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	c.parser = &parser;
	rc = manifest_build_tree(&c, &root);
	yaml_parser_delete(&parser);
	if (rc < 0)
		return rc;

	struct manifest *m = calloc(1, sizeof(*m));
	if (!m) {
		manifest_node_free(root);
		return manifest_oom(&c);
	}
	m->health_grace_ms = DEFAULT_HEALTH_GRACE_MS;
	m->health_timeout_ms = DEFAULT_HEALTH_TIMEOUT_MS;
	m->health_interval_ms = DEFAULT_HEALTH_INTERVAL_MS;
	m->health_retries = DEFAULT_HEALTH_RETRIES;
	rc = check_manifest(&c, root, m);
	manifest_node_free(root);
	if (rc < 0) {
		manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int manifest_parse(const char *data, size_t len, const char *filename, struct manifest **out,
                   ferry_error *err)
{
	return manifest_parse_strict(data, len, filename, 0, out, err);
}

int manifest_load_strict(const char *path, unsigned strict, struct manifest **out, ferry_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;

	*out = NULL;
	int rc = fs_read_file(path, MANIFEST_MAX_BYTES, &data, &len, err);
	if (rc < 0)
		return rc;
	return manifest_parse_strict(data, len, path, strict, out, err);
}

int manifest_load(const char *path, struct manifest **out, ferry_error *err)
{
	return manifest_load_strict(path, 0, out, err);
}

const char *manifest_hook_name(enum manifest_hook h)
{
	return (unsigned)h < HOOK__COUNT ? hook_names[h] : NULL;
}

const char *manifest_daemon_name(enum manifest_daemon d)
{
	return d >= DAEMON_SIMPLE && d <= DAEMON_FORKING ? daemon_names[d - 1] : NULL;
}

const char *manifest_restart_name(enum manifest_restart r)
{
	return (unsigned)r <= RESTART_NEVER ? restart_names[r] : NULL;
}

const char *manifest_confinement_name(enum manifest_confinement cf)
{
	return (unsigned)cf <= CONFINEMENT_DEVMODE ? confinement_names[cf] : NULL;
}

const char *manifest_grade_name(enum manifest_grade g)
{
	return (unsigned)g <= GRADE_DEVEL ? grade_names[g] : NULL;
}

const char *manifest_type_name(enum manifest_type t)
{
	return (unsigned)t <= MANIFEST_TYPE_BASE ? type_names[t] : NULL;
}

bool manifest_part_follows_deps(const struct manifest *m, const struct manifest_part *p)
{
	if (p->stage_deps >= 0)
		return p->stage_deps == 1;
	return m->base != NULL;
}

const char *manifest_host_architecture(void)
{
#if defined(__x86_64__) && !defined(__ILP32__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
	return "armhf";
#elif defined(__arm__)
	return "armel";
#elif defined(__i386__)
	return "i386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64el";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__loongarch64)
	return "loong64";
#elif defined(__mips64) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "mips64el";
#else
#error "unknown architecture: add its Debian name to manifest_host_architecture()"
#endif
}

/* Lines that start with "# " and a word are prose; every other "#" line is
 * a field left commented out, written so that removing its "#" gives valid
 * YAML (the unit tests do exactly that). */
#define TEMPLATE                                                                                   \
	"# meta/ferry.yaml: what ferry pack puts in the package %1$s.\n"                           \
	"# Every field is described in ferry's docs/formats/manifest.md.\n"                        \
	"\n"                                                                                       \
	"# Required: the package name (2 to 40 lowercase letters, digits, hyphens),\n"             \
	"# your own version string, and one line for the store.\n"                                 \
	"name: %1$s\n"                                                                             \
	"version: \"0.1\"\n"                                                                       \
	"summary: One line that says what %1$s does\n"                                             \
	"description: |\n"                                                                         \
	"  A few lines for people deciding whether to install it.\n"                               \
	"license: Apache-2.0\n"                                                                    \
	"\n"                                                                                       \
	"# Default: the architecture of the machine that runs ferry pack.\n"                       \
	"#architectures: [amd64, arm64]\n"                                                         \
	"\n"                                                                                       \
	"# strict: the apps run confined. devmode: for development only.\n"                        \
	"confinement: strict\n"                                                                    \
	"# stable, or devel for a build not meant for the stable channel yet.\n"                   \
	"grade: devel\n"                                                                           \
	"\n"                                                                                       \
	"apps:\n"                                                                                  \
	"  %1$s:\n"                                                                                \
	"    # A path inside the package and its arguments (quoted as in a shell,\n"               \
	"    # but no shell runs it), run as NAME.APP (or NAME when APP is NAME).\n"               \
	"    command: bin/%1$s\n"                                                                  \
	"    # Scripts of the package run first, each exec'ing the rest (\"$@\").\n"               \
	"#    command-chain: [bin/setup-env]\n"                                                    \
	"    # Uncomment to run it as a service, restarted when it fails.\n"                       \
	"#    daemon: simple\n"                                                                    \
	"#    restart: on-failure\n"                                                               \
	"#    restart-delay: 1s\n"                                                                 \
	"#    stop-timeout: 10s\n"                                                                 \
	"#    plugs: [network, network-bind]\n"                                                    \
	"#    environment:\n"                                                                      \
	"#      LOG_LEVEL: info\n"                                                                 \
	"\n"                                                                                       \
	"# Programs under meta/hooks/ that ferryd runs at steps of the package's life.\n"          \
	"#hooks:\n"                                                                                \
	"#  check-health: {}\n"                                                                    \
	"#  post-refresh:\n"                                                                       \
	"#    plugs: [network]\n"                                                                  \
	"\n"                                                                                       \
	"# After a refresh, daemons must stay up for grace, and check-health must\n"               \
	"# succeed (run after start-period, for at most timeout each time, tried\n"                \
	"# again after interval up to retries more times), or ferryd goes back to\n"               \
	"# the previous revision.\n"                                                               \
	"#health:\n"                                                                               \
	"#  grace: 30s\n"                                                                          \
	"#  start-period: 0s\n"                                                                    \
	"#  timeout: 30s\n"                                                                        \
	"#  interval: 2s\n"                                                                        \
	"#  retries: 3\n"                                                                          \
	"\n"                                                                                       \
	"# Debian packages to bundle, and which of their files to keep.\n"                         \
	"#parts:\n"                                                                                \
	"#  deps:\n"                                                                               \
	"#    stage-packages: [libssl3, zlib1g]\n"                                                 \
	"#    prime: [\"-usr/share/doc\", \"-usr/share/man\"]\n"                                   \
	"\n"                                                                                       \
	"# Libraries bundled some other way, so the store can watch them for\n"                    \
	"# known vulnerabilities.\n"                                                               \
	"#components:\n"                                                                           \
	"#  - name: left-pad\n"                                                                    \
	"#    version: 1.3.0\n"                                                                    \
	"#    purl: pkg:npm/left-pad@1.3.0\n"

char *manifest_template(const char *name)
{
	if (!pkg_name_valid(name))
		return NULL;
	return str_dup_printf(TEMPLATE, name);
}
