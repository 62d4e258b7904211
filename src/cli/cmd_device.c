/* cmd_device.c: the device verbs of `ferry`, each a request to ferryd's
 * local API (client.h): install, remove, refresh, revert, list, info, hold,
 * unhold, changes, change, logs, services, start, stop, restart, set, get,
 * run, connect, disconnect, connections. Verbs that print data print a table, or JSON with --json.
 * Verbs that change state follow the change ferryd creates until it is done, and exit 1 with
 * ferryd's reason when it failed. This file holds no policy: ferryd decides and refuses. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "cli.h"
#include "client.h"
#include "confine.h"
#include "opts.h"
#include "output.h"
#include "pkg/manifest.h"
#include "pkg/name.h"

/* Percent-encode s for a query string; heap string or NULL. */
static char *url_quote(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *p = out;
	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = '\0';
	return out;
}

struct flags {
	bool json, all, dangerous, purge, forever, follow, no_wait, devmode, time, list;
	const char *channel, *revision, *hold_for, *lines, *since;
	char *args[64];
	int nargs;
};

/* Parse the verb's arguments; only the flags named in `allowed` (by their
 * long name, space-separated) are accepted. */
static int parse(int argc, char **argv, const char *allowed, struct flags *f)
{
	memset(f, 0, sizeof(*f));
	const struct cli_opt every[] = {
	    {"--json", NULL, &f->json, NULL},           {"--all", NULL, &f->all, NULL},
	    {"--dangerous", NULL, &f->dangerous, NULL}, {"--purge", NULL, &f->purge, NULL},
	    {"--devmode", NULL, &f->devmode, NULL},     {"--forever", NULL, &f->forever, NULL},
	    {"--follow", "-f", &f->follow, NULL},       {"--no-wait", NULL, &f->no_wait, NULL},
	    {"--channel", NULL, NULL, &f->channel},     {"--revision", NULL, NULL, &f->revision},
	    {"--for", NULL, NULL, &f->hold_for},        {"--lines", "-n", NULL, &f->lines},
	    {"--time", NULL, &f->time, NULL},           {"--list", NULL, &f->list, NULL},
	    {"--since", NULL, NULL, &f->since},
	};
	struct cli_opt opts[ARRAY_SIZE(every) + 1];
	size_t n = 0;
	char allowed_sp[256];
	snprintf(allowed_sp, sizeof(allowed_sp), " %s ", allowed);
	for (size_t i = 0; i < ARRAY_SIZE(every); i++) {
		char key[40];
		snprintf(key, sizeof(key), " %s ", every[i].name + 2);
		if (strstr(allowed_sp, key))
			opts[n++] = every[i];
	}
	opts[n] = (struct cli_opt){0};
	return cli_parse_opts(argc, argv, argv[0], opts, f->args, (int)ARRAY_SIZE(f->args),
	                      &f->nargs)
	           ? -1
	           : 0;
}

static int fail_err(const char *verb, const ferry_error *err)
{
	return cli_fail("%s: %s", verb, ferry_error_msg(err));
}

static int get(const char *verb, const char *path, json_t **out)
{
	ferry_error err;
	ferry_error_clear(&err);
	if (client_call("GET", path, NULL, out, &err) < 0)
		return fail_err(verb, &err);
	return 0;
}

/* Send a request that creates a change; follow it unless --no-wait. */
static int do_change(const char *verb, const char *path, json_t *body, bool no_wait,
                     json_t **change)
{
	json_t *id = NULL;
	ferry_error err;
	ferry_error_clear(&err);
	if (client_call("POST", path, body, &id, &err) < 0)
		return fail_err(verb, &err);
	if (!json_is_string(id)) {
		json_decref(id);
		*change = NULL;
		return 0;
	}
	if (no_wait) {
		printf("%s\n", json_string_value(id));
		json_decref(id);
		*change = NULL;
		return 0;
	}
	int rc = client_wait_change(json_string_value(id), change, &err);
	json_decref(id);
	if (rc < 0) {
		json_decref(*change);
		*change = NULL;
		return fail_err(verb, &err);
	}
	return 0;
}

/* One line about a finished install or refresh. */
static void print_result(json_t *ch, const char *what)
{
	if (*cli_json_str(ch, "note", "") && !*cli_json_str(ch, "to", "")) {
		printf("%s\n", cli_json_str(ch, "note", ""));
		return;
	}
	const char *from = cli_json_str(ch, "from", ""), *channel = cli_json_str(ch, "channel", "");
	printf("%s %s (revision %s) %s%s%s", cli_json_str(ch, "name", ""),
	       cli_json_str(ch, "version", ""), cli_json_str(ch, "to", ""), what,
	       *channel ? " from " : "", channel);
	if (*from)
		printf(", replacing revision %s", from);
	printf("\n");
}

/* Only a path is a file: a name with a slash or ending in .ferry. A folder or
 * file named like the package in the current directory is not taken for it. */
static bool looks_like_file(const char *a)
{
	return strchr(a, '/') || str_has_suffix(a, ".ferry");
}

int cmd_install(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "dangerous devmode channel no-wait", &f) < 0)
		return 2;
	if (f.nargs != 1)
		return cli_usage(argv[0]);
	const char *arg = f.args[0];
	_cleanup_(json_decrefp) json_t *body = NULL;
	const char *path = "/v1/packages";
	char url[128];
	if (looks_like_file(arg)) {
		char *abs = realpath(arg, NULL);
		if (!abs)
			return cli_fail("install: %s: %s", arg, strerror(errno));
		body = json_pack("{s:s, s:s, s:b, s:b}", "action", "install", "path", abs,
		                 "dangerous", f.dangerous, "devmode", f.devmode);
		free(abs);
	} else {
		if (!pkg_name_valid(arg))
			return cli_fail(
			    "install: \"%s\" is neither a file nor a valid package name", arg);
		body = json_pack("{s:s, s:s, s:b}", "action", "install", "channel",
		                 f.channel ? f.channel : "", "devmode", f.devmode);
		snprintf(url, sizeof(url), "/v1/packages/%s", arg);
		path = url;
	}
	json_t *ch = NULL;
	int rc = do_change("install", path, body, f.no_wait, &ch);
	if (rc || !ch)
		return rc;
	print_result(ch, "installed");
	json_decref(ch);
	return 0;
}

/* ferry try DIR: an unpacked package directory on this device, as it is
 * (the agent checks it as ferry pack would and binds it read-only). */
int cmd_try(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "devmode no-wait", &f) < 0)
		return 2;
	if (f.nargs != 1)
		return cli_usage(argv[0]);
	_cleanup_free_ char *dir = realpath(f.args[0], NULL);
	if (!dir)
		return cli_fail("try: %s: %s", f.args[0], strerror(errno));
	_cleanup_(json_decrefp) json_t *body =
	    json_pack("{s:s, s:s, s:b}", "action", "try", "path", dir, "devmode", f.devmode);
	json_t *ch = NULL;
	int rc = do_change("try", "/v1/packages", body, f.no_wait, &ch);
	if (rc == 0 && ch)
		print_result(ch, "tried");
	json_decref(ch);
	return rc;
}

int cmd_remove(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "purge no-wait", &f) < 0)
		return 2;
	if (f.nargs < 1)
		return cli_usage(argv[0]);
	int status = 0;
	for (int i = 0; i < f.nargs; i++) {
		char url[128];
		snprintf(url, sizeof(url), "/v1/packages/%s", f.args[i]);
		_cleanup_(json_decrefp) json_t *body =
		    json_pack("{s:s, s:b}", "action", "remove", "purge", f.purge);
		json_t *ch = NULL;
		int rc = do_change("remove", url, body, f.no_wait, &ch);
		if (rc) {
			status = rc;
			continue;
		}
		if (ch)
			printf("%s removed%s\n", f.args[i], f.purge ? " with its data" : "");
		json_decref(ch);
	}
	return status;
}

/* The columns of ferry list and ferry refresh --list. */
static const char *const package_columns[] = {"Name", "Version", "Rev", "Channel", "Notes"};

/* ferry refresh --time: the schedule, the last check and the next. */
static int refresh_time(void)
{
	json_t *sys = NULL;
	int rc = get("refresh", "/v1/system", &sys);
	if (rc)
		return rc;
	char when[64];
	printf("timer: %s\n", cli_json_str(sys, "refresh-timer", ""));
	if (!json_object_get(sys, "store")) {
		printf("last:  -\nnext:  - (ferryd has no store)\n");
		json_decref(sys);
		return 0;
	}
	if (json_integer_value(json_object_get(sys, "last-refresh-check")) > 0) {
		cli_json_time_local(json_object_get(sys, "last-refresh-check"), when, sizeof(when));
		printf("last:  %s (%s)\n", when, cli_json_str(sys, "last-refresh-result", ""));
	} else {
		printf("last:  never\n");
	}
	if (json_integer_value(json_object_get(sys, "next-refresh")) > 0) {
		cli_json_time_local(json_object_get(sys, "next-refresh"), when, sizeof(when));
		printf("next:  %s\n", when);
	} else {
		printf("next:  -\n");
	}
	printf("automatic checks that found nothing new: %lld (not listed in ferry changes)\n",
	       (long long)json_integer_value(json_object_get(sys, "empty-refresh-checks")));
	json_decref(sys);
	return 0;
}

/* ferry refresh --list [NAME...] [--json]: what the store has that is newer
 * than what runs, held packages included; changes nothing. */
static int refresh_list(const struct flags *f)
{
	_cleanup_(json_decrefp) json_t *names = json_array();
	for (int i = 0; i < f->nargs; i++)
		json_array_append_new(names, json_string(f->args[i]));
	_cleanup_(json_decrefp) json_t *body =
	    json_pack("{s:s, s:O, s:b}", "action", "refresh", "names", names, "list", 1);
	json_t *ch = NULL;
	int rc = do_change("refresh", "/v1/packages", body, false, &ch);
	if (rc || !ch)
		return rc;
	json_t *avail = json_object_get(ch, "available");
	if (f->json) {
		cli_print_json(avail ? avail : json_array(), false);
	} else if (json_array_size(avail) == 0) {
		printf("All packages are up to date.\n");
	} else {
		struct cli_table t = {.ncols = 5};
		cli_table_add(&t, package_columns);
		size_t i;
		json_t *a;
		json_array_foreach(avail, i, a)
		{
			char notes[64];
			bool h = json_is_true(json_object_get(a, "held")),
			     b = json_is_true(json_object_get(a, "blocked"));
			snprintf(notes, sizeof(notes), "%s%s%s", h ? "held" : "", h && b ? "," : "",
			         b ? "failed-here" : "");
			const char *row[] = {cli_json_str(a, "name", ""),
			                     cli_json_str(a, "version", ""),
			                     cli_json_str(a, "revision", ""),
			                     cli_json_str(a, "channel", ""), *notes ? notes : "-"};
			cli_table_add(&t, row);
		}
		cli_table_print(&t);
	}
	const char *note = cli_json_str(ch, "note", "");
	if (*note)
		fprintf(stderr, "%s", note);
	json_decref(ch);
	return 0;
}

int cmd_refresh(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "channel devmode no-wait time list json", &f) < 0)
		return 2;
	if (f.time || f.list) {
		if (f.channel || f.devmode || f.no_wait || (f.time && (f.list || f.nargs)))
			return cli_fail("refresh: --time takes nothing else; --list takes only "
			                "package names and --json");
		return f.time ? refresh_time() : refresh_list(&f);
	}
	if (f.json)
		return cli_fail("refresh: --json goes with --list");
	if (f.channel && f.nargs != 1)
		return cli_fail("refresh: --channel needs exactly one package");
	_cleanup_(json_decrefp) json_t *names = json_array();
	for (int i = 0; i < f.nargs; i++)
		json_array_append_new(names, json_string(f.args[i]));
	_cleanup_(json_decrefp) json_t *body =
	    json_pack("{s:s, s:O, s:s, s:b}", "action", "refresh", "names", names, "channel",
	              f.channel ? f.channel : "", "devmode", f.devmode);
	char url[128] = "/v1/packages";
	if (f.nargs == 1)
		snprintf(url, sizeof(url), "/v1/packages/%s", f.args[0]);
	json_t *ch = NULL;
	int rc = do_change("refresh", url, body, f.no_wait, &ch);
	if (rc || !ch)
		return rc;
	if (f.nargs == 1) {
		print_result(ch, "refreshed");
		json_decref(ch);
		return 0;
	}
	/* a general refresh queued one change per package with something new */
	json_t *spawned = json_object_get(ch, "changes");
	int status = 0;
	if (json_array_size(spawned) == 0)
		printf("All packages are up to date.\n");
	size_t i;
	json_t *id;
	json_array_foreach(spawned, i, id)
	{
		json_t *one = NULL;
		ferry_error err;
		ferry_error_clear(&err);
		if (client_wait_change(json_string_value(id), &one, &err) < 0) {
			status = cli_fail("refresh: %s", ferry_error_msg(&err));
		} else {
			print_result(one, "refreshed");
		}
		json_decref(one);
	}
	const char *note = cli_json_str(ch, "note", "");
	if (*note)
		fprintf(stderr, "%s", note);
	json_decref(ch);
	return status;
}

int cmd_revert(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "revision no-wait", &f) < 0)
		return 2;
	if (f.nargs != 1)
		return cli_usage(argv[0]);
	char url[128];
	snprintf(url, sizeof(url), "/v1/packages/%s", f.args[0]);
	_cleanup_(json_decrefp) json_t *body =
	    json_pack("{s:s, s:s}", "action", "revert", "revision", f.revision ? f.revision : "");
	json_t *ch = NULL;
	int rc = do_change("revert", url, body, f.no_wait, &ch);
	if (rc || !ch)
		return rc;
	printf("%s reverted to revision %s\n", f.args[0], cli_json_str(ch, "to", ""));
	json_decref(ch);
	return 0;
}

/* GET a list for a verb that prints a table: with --json the answer is
 * printed as it is, an empty list is said (`none`) on stderr, and *done is
 * set; otherwise *r is the list to show. Returns get()'s status. */
static int get_table(const char *verb, const char *path, bool json, const char *none, json_t **r,
                     bool *done)
{
	int rc = get(verb, path, r);
	if (rc)
		return rc;
	if (!json && json_array_size(*r) > 0)
		return 0;
	if (json)
		cli_print_json(*r, false);
	else
		fprintf(stderr, "%s\n", none);
	json_decref(*r);
	*r = NULL;
	*done = true;
	return 0;
}

static void notes_of(json_t *p, char *out, size_t size)
{
	out[0] = '\0';
	size_t n = 0;
	if (json_object_get(p, "tried"))
		n += (size_t)snprintf(out + n, size - n, "%stry", n ? "," : "");
	else if (json_is_true(json_object_get(p, "local")))
		n += (size_t)snprintf(out + n, size - n, "%sdangerous", n ? "," : "");
	json_t *held = json_object_get(p, "held-until");
	if (held && n < size)
		n += (size_t)snprintf(out + n, size - n, "%sheld", n ? "," : "");
	if (json_object_get(p, "updates-unverified-since") && n < size)
		n += (size_t)snprintf(out + n, size - n, "%sunverified", n ? "," : "");
	if (json_object_get(p, "change-in-progress") && n < size)
		n += (size_t)snprintf(out + n, size - n, "%sin-progress", n ? "," : "");
	if (n == 0)
		snprintf(out, size, "-");
}

int cmd_list(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "all json", &f) < 0)
		return 2;
	if (f.nargs)
		return cli_usage(argv[0]);
	json_t *r = NULL;
	bool done = false;
	int rc = get_table("list", f.all ? "/v1/packages?all=true" : "/v1/packages", f.json,
	                   "No packages are installed.", &r, &done);
	if (rc || done)
		return rc;
	struct cli_table t = {.ncols = 5};
	char since[64] = "";
	cli_table_add(&t, package_columns);
	size_t i;
	json_t *p;
	json_array_foreach(r, i, p)
	{
		char notes[64];
		const char *rev = json_string_value(json_object_get(p, "revision"));
		if (f.all) {
			bool cur = json_integer_value(json_object_get(p, "current")) == 1;
			json_int_t local = json_integer_value(json_object_get(p, "local"));
			snprintf(notes, sizeof(notes), "%s%s%s", cur ? "current" : "disabled",
			         local == 2 ? ",try"
			         : local    ? ",dangerous"
			                    : "",
			         strcmp(cli_json_str(p, "status", ""), "ok") ? ",in-progress" : "");
		} else {
			notes_of(p, notes, sizeof(notes));
		}
		const char *row[] = {cli_json_str(p, "name", ""), cli_json_str(p, "version", ""),
		                     rev, cli_json_str(p, "channel", ""), notes};
		cli_table_add(&t, row);
		if (!*since)
			snprintf(since, sizeof(since), "%s",
			         cli_json_str(p, "updates-unverified-since", ""));
	}
	cli_table_print(&t);
	json_array_foreach(r, i, p)
	{
		json_t *busy = json_object_get(p, "change-in-progress");
		if (!busy)
			continue;
		const char *to = cli_json_str(busy, "to", "");
		fprintf(stderr, "Note: change %s (%s%s%s) of %s is in progress; %s.\n",
		        cli_json_str(busy, "id", ""), cli_json_str(busy, "kind", ""),
		        *to ? " to revision " : "", to, cli_json_str(p, "name", ""),
		        *cli_json_str(busy, "from", "")
		            ? "the revision shown runs until it is done (ferry changes)"
		            : "see ferry changes");
	}
	if (*since)
		fprintf(stderr,
		        "Warning: updates cannot be verified since %s: the store's signed metadata "
		        "expired then and was not renewed (see ferry changes).\n",
		        since);
	json_decref(r);
	return 0;
}

/* VERB ARG [--json]: the agent's answer to GET prefix+ARG. True with *out
 * set when the caller prints it as text; false when done (printed as JSON,
 * or failed), with the exit status in *status. */
static bool get_one(int argc, char **argv, const char *prefix, json_t **out, int *status)
{
	struct flags f;
	*out = NULL;
	*status = 0;
	if (parse(argc, argv, "json", &f) < 0) {
		*status = 2;
		return false;
	}
	if (f.nargs != 1) {
		*status = cli_usage(argv[0]);
		return false;
	}
	char url[128];
	snprintf(url, sizeof(url), "%s%s", prefix, f.args[0]);
	json_t *j = NULL;
	if ((*status = get(argv[0], url, &j)))
		return false;
	if (f.json) {
		cli_print_json(j, false);
		json_decref(j);
		return false;
	}
	*out = j;
	return true;
}

int cmd_info(int argc, char **argv)
{
	json_t *p = NULL;
	int rc;
	if (!get_one(argc, argv, "/v1/packages/", &p, &rc))
		return rc;
	char when[64];
	printf("name:      %s\n", cli_json_str(p, "name", ""));
	printf("summary:   %s\n", cli_json_str(p, "summary", ""));
	printf("version:   %s\n", cli_json_str(p, "version", ""));
	printf("revision:  %s\n", cli_json_str(p, "revision", ""));
	printf("channel:   %s\n", cli_json_str(p, "channel", ""));
	cli_json_time_local(json_object_get(p, "installed"), when, sizeof(when));
	printf("installed: %s\n", when);
	if (json_object_get(p, "tried"))
		printf("tried:     %s\n", cli_json_str(p, "tried", ""));
	else
		printf("sha256:    %s\n", cli_json_str(p, "sha256", ""));
	json_t *held = json_object_get(p, "held-until");
	if (held) {
		if (json_integer_value(held) == 0)
			printf("held:      forever\n");
		else {
			cli_json_time_local(held, when, sizeof(when));
			printf("held:      until %s\n", when);
		}
	}
	size_t i;
	json_t *a;
	if (json_array_size(json_object_get(p, "apps"))) {
		printf("apps:\n");
		json_array_foreach(json_object_get(p, "apps"), i, a)
		{
			if (*cli_json_str(a, "daemon", ""))
				printf("  %s: %s (%s daemon, %s)\n", cli_json_str(a, "name", ""),
				       cli_json_str(a, "command", ""),
				       cli_json_str(a, "daemon", ""),
				       cli_json_str(a, "active", ""));
			else
				printf("  %s: %s\n", cli_json_str(a, "name", ""),
				       cli_json_str(a, "command", ""));
		}
	}
	if (json_array_size(json_object_get(p, "hooks"))) {
		printf("hooks:    ");
		json_array_foreach(json_object_get(p, "hooks"), i, a)
		    printf(" %s", json_string_value(a));
		printf("\n");
	}
	printf("revisions on this device:\n");
	json_array_foreach(json_object_get(p, "revisions"), i, a)
	{
		cli_json_time_local(json_object_get(a, "added"), when, sizeof(when));
		printf("  %-6s %-12s %s%s\n", cli_json_str(a, "revision", ""),
		       cli_json_str(a, "version", ""), when,
		       strcmp(cli_json_str(a, "revision", ""), cli_json_str(p, "revision", "")) == 0
		           ? "  (current)"
		           : "");
	}
	json_array_foreach(json_object_get(p, "blocked"), i, a)
	    printf("not refreshed to: revision %s (%s)\n", cli_json_str(a, "revision", ""),
	           cli_json_str(a, "reason", ""));
	json_decref(p);
	return 0;
}

/* "30m", "12h", "7d", "2w" into seconds */
static int parse_for(const char *s, long long *secs)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || n <= 0 || end == s)
		return -1;
	long long mul;
	if (!strcmp(end, "s"))
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "d"))
		mul = 86400;
	else if (!strcmp(end, "w"))
		mul = 7 * 86400;
	else
		return -1;
	if (n > 100LL * 365 * 86400 / mul)
		return -1;
	*secs = n * mul;
	return 0;
}

int cmd_hold(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "for forever", &f) < 0)
		return 2;
	if (!!f.forever + !!f.hold_for != 1)
		return cli_fail(
		    "hold: say how long: --for DURATION (such as 12h, 7d, 2w) or --forever");
	long long until = 0;
	if (f.hold_for) {
		long long secs;
		if (parse_for(f.hold_for, &secs) < 0)
			return cli_fail("hold: --for: expected a duration such as 30m, 12h, 7d or "
			                "2w; got \"%s\"",
			                f.hold_for);
		until = (long long)time(NULL) + secs;
	}
	_cleanup_(json_decrefp) json_t *names = json_array();
	for (int i = 0; i < f.nargs; i++)
		json_array_append_new(names, json_string(f.args[i]));
	_cleanup_(json_decrefp) json_t *body = json_pack(
	    "{s:s, s:O, s:I}", "action", "hold", "names", names, "until", (json_int_t)until);
	json_t *r = NULL;
	ferry_error err;
	ferry_error_clear(&err);
	if (client_call("POST", "/v1/holds", body, &r, &err) < 0)
		return fail_err("hold", &err);
	json_decref(r);
	char when[64] = "forever";
	if (until) {
		json_t *u = json_integer(until);
		char t[48];
		cli_json_time_local(u, t, sizeof(t));
		json_decref(u);
		snprintf(when, sizeof(when), "until %s", t);
	}
	if (f.nargs == 0)
		printf("automatic refreshes of all packages held %s\n", when);
	for (int i = 0; i < f.nargs; i++)
		printf("automatic refreshes of %s held %s\n", f.args[i], when);
	return 0;
}

int cmd_unhold(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "", &f) < 0)
		return 2;
	_cleanup_(json_decrefp) json_t *names = json_array();
	for (int i = 0; i < f.nargs; i++)
		json_array_append_new(names, json_string(f.args[i]));
	_cleanup_(json_decrefp) json_t *body =
	    json_pack("{s:s, s:O}", "action", "unhold", "names", names);
	json_t *r = NULL;
	ferry_error err;
	ferry_error_clear(&err);
	if (client_call("POST", "/v1/holds", body, &r, &err) < 0)
		return fail_err("unhold", &err);
	json_decref(r);
	if (f.nargs == 0)
		printf("all holds removed\n");
	for (int i = 0; i < f.nargs; i++)
		printf("%s is no longer held\n", f.args[i]);
	return 0;
}

int cmd_changes(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "json lines", &f) < 0)
		return 2;
	if (f.nargs > 1)
		return cli_usage(argv[0]);
	unsigned long long n = 100;
	if (f.lines && (str_to_u64(f.lines, 100, &n) < 0 || n == 0))
		return cli_fail(
		    "changes: -n: expected a number of changes from 1 to 100; got \"%s\"", f.lines);
	_cleanup_free_ char *q = f.nargs ? url_quote(f.args[0]) : NULL;
	char url[512];
	if (str_printf(url, sizeof(url), "/v1/changes?n=%llu%s%s", n, q ? "&name=" : "",
	               q ? q : "") < 0)
		return cli_fail("changes: name too long");
	json_t *r = NULL;
	bool done = false;
	int rc = get_table("changes", url, f.json, "No changes yet.", &r, &done);
	if (rc || done)
		return rc;
	struct cli_table t = {.ncols = 5};
	const char *head[] = {"ID", "Status", "Spawn", "Ready", "Summary"};
	cli_table_add(&t, head);
	size_t i;
	json_t *c;
	json_array_foreach(r, i, c)
	{
		char spawn[48], ready[48];
		cli_json_time_local(json_object_get(c, "spawn"), spawn, sizeof(spawn));
		cli_json_time_local(json_object_get(c, "ready"), ready, sizeof(ready));
		const char *row[] = {cli_json_str(c, "id", ""), cli_json_str(c, "status", ""),
		                     spawn, ready, cli_json_str(c, "summary", "")};
		cli_table_add(&t, row);
	}
	cli_table_print(&t);
	json_decref(r);
	return 0;
}

int cmd_change(int argc, char **argv)
{
	json_t *c = NULL;
	int rc;
	if (!get_one(argc, argv, "/v1/changes/", &c, &rc))
		return rc;
	struct cli_table t = {.ncols = 5};
	const char *head[] = {"Status", "Spawn", "Ready", "Step", "Summary"};
	cli_table_add(&t, head);
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(c, "steps"), i, s)
	{
		char spawn[48], ready[48];
		cli_json_time_local(json_object_get(s, "started"), spawn, sizeof(spawn));
		cli_json_time_local(json_object_get(s, "ended"), ready, sizeof(ready));
		const char *row[] = {cli_json_str(s, "status", ""), spawn, ready,
		                     cli_json_str(s, "kind", ""), cli_json_str(s, "summary", "")};
		cli_table_add(&t, row);
	}
	cli_table_print(&t);
	json_array_foreach(json_object_get(c, "steps"), i, s) if (*cli_json_str(s, "msg", ""))
	    printf("\n%s: %s\n", cli_json_str(s, "kind", ""), cli_json_str(s, "msg", ""));
	if (*cli_json_str(c, "err", "") && strcmp(cli_json_str(c, "status", ""), "Error") == 0)
		printf("\nchange %s: %s\n", cli_json_str(c, "id", ""), cli_json_str(c, "err", ""));
	json_decref(c);
	return 0;
}

/* --since: a duration back from now (10m, 2h) or a time, local unless it
 * ends in Z: 2026-12-05T11:00[:SS][Z], "2026-12-05 11:00[:SS]", 11:00[:SS]
 * (today). Milliseconds since the epoch, or -1. */
static long long parse_since(const char *s)
{
	unsigned long long ms = 0;
	if (str_parse_duration_ms(s, 3650ull * 24 * 3600 * 1000, &ms) == 0)
		return (long long)(time(NULL)) * 1000 - (long long)ms;
	static const char *const formats[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
	                                      "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
	                                      "%H:%M:%S",          "%H:%M"};
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		tm.tm_sec = 0;
		const char *end = strptime(s, formats[i], &tm);
		if (!end || (*end && strcmp(end, "Z") != 0))
			continue;
		tm.tm_isdst = -1;
		time_t t = *end == 'Z' ? timegm(&tm) : mktime(&tm);
		if (t != (time_t)-1)
			return (long long)t * 1000;
	}
	return -1;
}

struct shown_line {
	const char *stamp, *app, *text;
	size_t seq;
};

static int by_time(const void *a, const void *b)
{
	const struct shown_line *x = a, *y = b;
	int c = strcmp(x->stamp, y->stamp);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* The lines of every app of an answer, merged in time order, the last max
 * of them (0: all): "2026-12-05T11:17:50Z NAME.APP: text". */
static void print_lines(const char *name, json_t *r, size_t max)
{
	size_t total = 0, i, k;
	json_t *l, *line;
	json_array_foreach(r, i, l) total += json_array_size(json_object_get(l, "lines"));
	if (total == 0)
		return;
	struct shown_line *v = calloc(total, sizeof(*v));
	if (!v)
		return;
	size_t n = 0;
	json_array_foreach(r, i, l)
	{
		const char *app = cli_json_str(l, "app", "");
		json_array_foreach(json_object_get(l, "lines"), k, line)
		{
			v[n] = (struct shown_line){cli_json_str(line, "time", ""), app,
			                           cli_json_str(line, "text", ""), n};
			n++;
		}
	}
	qsort(v, n, sizeof(*v), by_time);
	for (i = max && n > max ? n - max : 0; i < n; i++) {
		/* to the second, as snap logs and journalctl show it */
		if (strlen(v[i].stamp) > 19)
			printf("%.19sZ ", v[i].stamp);
		printf("%s.%s: %s\n", name, v[i].app, v[i].text);
	}
	free(v);
}

int cmd_logs(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "follow lines since", &f) < 0)
		return 2;
	if (f.nargs != 1)
		return cli_usage(argv[0]);
	unsigned long long n = 10;
	if (f.lines && str_to_u64(f.lines, 10000, &n) < 0)
		return cli_fail("logs: -n: expected a number of lines from 0 to 10000; got \"%s\"",
		                f.lines);
	long long since = -1;
	if (f.since && (since = parse_since(f.since)) < 0)
		return cli_fail("logs: --since: expected a duration such as 10m or 2h, or a time "
		                "such as 2026-12-05T11:00, \"2026-12-05 11:00:30\" or 11:00 "
		                "(local; UTC with a Z); got \"%s\"",
		                f.since);
	if (since >= 0 && !f.lines)
		n = 10000; /* everything since then */
	char name[PKG_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(f.args[0], "."), f.args[0]);
	char url[4096], sq[48] = "";
	if (since >= 0)
		snprintf(sq, sizeof(sq), "&since=%lld", since);
	snprintf(url, sizeof(url), "/v1/logs?name=%s&n=%llu%s", f.args[0], n, sq);
	json_t *r = NULL;
	int rc = get("logs", url, &r);
	if (rc)
		return rc;
	print_lines(name, r, (size_t)n);
	fflush(stdout);
	while (f.follow) {
		size_t i;
		json_t *l;
		json_t *offs = json_object();
		json_array_foreach(r, i, l)
		    json_object_set(offs, cli_json_str(l, "app", ""), json_object_get(l, "offset"));
		char *o = json_dumps(offs, JSON_COMPACT);
		json_decref(offs);
		char *q = o ? url_quote(o) : NULL;
		free(o);
		snprintf(url, sizeof(url), "/v1/logs?name=%s&offsets=%s", f.args[0], q ? q : "");
		free(q);
		json_t *r2 = NULL;
		rc = get("logs", url, &r2);
		if (rc)
			break;
		json_decref(r);
		r = r2;
		print_lines(name, r, 0);
		fflush(stdout);
		struct timespec ts = {0, 250 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	json_decref(r);
	return rc;
}

int cmd_services(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "json", &f) < 0)
		return 2;
	json_t *r = NULL;
	int rc = get("services", "/v1/services", &r);
	if (rc)
		return rc;
	json_t *sel = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(r, i, s)
	{
		bool want = f.nargs == 0;
		for (int k = 0; k < f.nargs; k++)
			if (!strcmp(f.args[k], cli_json_str(s, "name", "")))
				want = true;
		if (want)
			json_array_append(sel, s);
	}
	json_decref(r);
	if (f.json) {
		cli_print_json(sel, false);
		json_decref(sel);
		return 0;
	}
	if (json_array_size(sel) == 0) {
		fprintf(stderr, "No services.\n");
		json_decref(sel);
		return 0;
	}
	struct cli_table t = {.ncols = 5};
	const char *head[] = {"Service", "Type", "Current", "Rev", "Notes"};
	cli_table_add(&t, head);
	json_array_foreach(sel, i, s)
	{
		char svc[96], notes[64] = "-";
		snprintf(svc, sizeof(svc), "%s.%s", cli_json_str(s, "name", ""),
		         cli_json_str(s, "app", ""));
		json_int_t restarts = json_integer_value(json_object_get(s, "restarts"));
		if (restarts)
			snprintf(notes, sizeof(notes), "exited %lld times", (long long)restarts);
		const char *row[] = {svc, cli_json_str(s, "daemon", ""),
		                     cli_json_str(s, "active", ""), cli_json_str(s, "revision", ""),
		                     notes};
		cli_table_add(&t, row);
	}
	cli_table_print(&t);
	json_decref(sel);
	return 0;
}

static int service_action(int argc, char **argv, const char *action)
{
	struct flags f;
	if (parse(argc, argv, "no-wait", &f) < 0)
		return 2;
	if (f.nargs < 1)
		return cli_usage(argv[0]);
	int status = 0;
	for (int i = 0; i < f.nargs; i++) {
		_cleanup_(json_decrefp) json_t *body =
		    json_pack("{s:s, s:[s]}", "action", action, "names", f.args[i]);
		json_t *ch = NULL;
		int rc = do_change(action, "/v1/services", body, f.no_wait, &ch);
		if (rc) {
			status = rc;
			continue;
		}
		if (ch)
			printf("%s %s\n",
			       action[0] == 's' && action[2] == 'o' ? "stopped"
			       : action[0] == 's'                   ? "started"
			                                            : "restarted",
			       f.args[i]);
		json_decref(ch);
	}
	return status;
}

int cmd_start(int argc, char **argv)
{
	return service_action(argc, argv, "start");
}

int cmd_stop(int argc, char **argv)
{
	return service_action(argc, argv, "stop");
}

int cmd_restart(int argc, char **argv)
{
	return service_action(argc, argv, "restart");
}

int cmd_set(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "no-wait", &f) < 0)
		return 2;
	if (f.nargs < 2)
		return cli_usage(argv[0]);
	_cleanup_(json_decrefp) json_t *values = json_object();
	for (int i = 1; i < f.nargs; i++) {
		const char *eq = strchr(f.args[i], '=');
		if (!eq || eq == f.args[i])
			return cli_fail("set: expected key=value; got \"%s\"", f.args[i]);
		char key[72];
		size_t kl = (size_t)(eq - f.args[i]);
		if (kl >= sizeof(key))
			return cli_fail("set: key too long: \"%.*s\"", (int)kl, f.args[i]);
		memcpy(key, f.args[i], kl);
		key[kl] = '\0';
		json_object_set_new(values, key, json_string(eq + 1));
	}
	char url[128];
	snprintf(url, sizeof(url), "/v1/conf/%s", f.args[0]);
	_cleanup_(json_decrefp) json_t *body = json_pack("{s:O}", "values", values);
	json_t *ch = NULL;
	int rc = do_change("set", url, body, f.no_wait, &ch);
	json_decref(ch);
	return rc;
}

int cmd_get(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "json", &f) < 0)
		return 2;
	if (f.nargs < 1 || f.nargs > 2)
		return cli_usage(argv[0]);
	char url[256];
	if (f.nargs == 2)
		snprintf(url, sizeof(url), "/v1/conf/%s?key=%s", f.args[0], f.args[1]);
	else
		snprintf(url, sizeof(url), "/v1/conf/%s", f.args[0]);
	json_t *r = NULL;
	int rc = get("get", url, &r);
	if (rc)
		return rc;
	if (f.json) {
		cli_print_json(r, false);
	} else if (f.nargs == 2) {
		printf("%s\n", cli_json_str(r, f.args[1], ""));
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(r, k, v) printf("%s=%s\n", k, json_string_value(v));
	}
	json_decref(r);
	return 0;
}

/* ferry run: ferryd resolves the app's policy and answers with the
 * ferry-confine command line; ferry execs it with the user's arguments. The
 * sandbox is the one the agent's services get, so only who could start them
 * may: root against a root ferryd, ferryd's own user against one that is not
 * root (docs/device.md). */
int cmd_run(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return cli_usage(argv[0]);
	char url[160];
	snprintf(url, sizeof(url), "/v1/apps/%s", argv[1]);
	json_t *a = NULL;
	int rc = get("run", url, &a);
	if (rc)
		return rc;
	bool confined = json_is_true(json_object_get(a, "confined"));
	bool privileged = json_is_true(json_object_get(a, "privileged"));
	json_int_t agent_uid = json_integer_value(json_object_get(a, "agent-uid"));
	if (privileged && geteuid() != 0) {
		json_decref(a);
		return cli_fail(
		    "run: %s runs confined as its package's own user, which only root may "
		    "start; run it as root (sudo ferry run %s)",
		    argv[1], argv[1]);
	}
	if (!privileged && (json_int_t)geteuid() != agent_uid) {
		json_decref(a);
		return cli_fail(
		    "run: ferryd runs as uid %lld and starts its apps as that user; run "
		    "ferry run as that user",
		    (long long)agent_uid);
	}
	json_t *av = json_object_get(a, "argv"), *env = json_object_get(a, "environment");
	size_t na = json_array_size(av), ne = json_array_size(env);
	if (na == 0 || na > 4096) {
		json_decref(a);
		return cli_fail("run: ferryd gave no command");
	}
	char **args = calloc(na + (size_t)argc, sizeof(char *));
	char **envp = calloc(ne + 1, sizeof(char *));
	if (!args || !envp)
		return cli_fail("run: out of memory");
	for (size_t i = 0; i < na; i++)
		args[i] = strdup(json_string_value(json_array_get(av, i)));
	for (int i = 2; i < argc; i++)
		args[na + (size_t)i - 2] = argv[i];
	for (size_t i = 0; i < ne; i++)
		envp[i] = strdup(json_string_value(json_array_get(env, i)));
	const char *cwd = cli_json_str(a, "cwd", "");
	if (*cwd && chdir(cwd) < 0)
		(void)!chdir("/");
	json_decref(a);
	extern char **environ;
	if (confined) {
		/* The ferry-confine built with this ferry (the usual case): its
		 * code is linked in, so run it here instead of exec'ing it, which
		 * saves loading a program. Any other one the agent names is
		 * exec'd. ferry-confine builds the app's environment itself. */
		char mine[4200];
		struct stat a_st, b_st;
		if (cli_sibling("ferry-confine", "confine", mine, sizeof(mine)) == 0 &&
		    stat(mine, &a_st) == 0 && stat(args[0], &b_st) == 0 &&
		    a_st.st_dev == b_st.st_dev && a_st.st_ino == b_st.st_ino) {
			fflush(NULL);
			exit(confine_main((int)na + argc - 2, args));
		}
	}
	execve(args[0], args, confined ? environ : envp);
	return cli_fail("run: %s: %s", args[0], strerror(errno));
}

/* NAME:PLUG */
static int split_plug(const char *verb, const char *spec, char *name, size_t nsize,
                      const char **plug)
{
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : 0;
	if (!colon || n == 0 || n >= nsize || !colon[1]) {
		cli_fail("%s: expected NAME:PLUG, such as weather:home; got \"%s\"", verb, spec);
		return -1;
	}
	memcpy(name, spec, n);
	name[n] = '\0';
	*plug = colon + 1;
	return 0;
}

static int connection_action(int argc, char **argv, const char *action)
{
	struct flags f;
	if (parse(argc, argv, "", &f) < 0)
		return 2;
	if (f.nargs != 1)
		return cli_usage(argv[0]);
	char name[64];
	const char *plug;
	if (split_plug(action, f.args[0], name, sizeof(name), &plug) < 0)
		return 1;
	_cleanup_(json_decrefp) json_t *body =
	    json_pack("{s:s, s:s, s:s}", "action", action, "name", name, "plug", plug);
	json_t *r = NULL;
	ferry_error err;
	ferry_error_clear(&err);
	if (client_call("POST", "/v1/connections", body, &r, &err) < 0)
		return fail_err(action, &err);
	printf("%s:%s (%s) %s; effective at the next start of its apps (ferry restart %s)\n", name,
	       plug, cli_json_str(r, "interface", ""),
	       action[0] == 'c' ? "connected" : "disconnected", name);
	json_decref(r);
	return 0;
}

int cmd_connect(int argc, char **argv)
{
	return connection_action(argc, argv, "connect");
}

int cmd_disconnect(int argc, char **argv)
{
	return connection_action(argc, argv, "disconnect");
}

int cmd_connections(int argc, char **argv)
{
	struct flags f;
	if (parse(argc, argv, "json", &f) < 0)
		return 2;
	if (f.nargs > 1)
		return cli_usage(argv[0]);
	char url[160] = "/v1/connections";
	if (f.nargs == 1) {
		_cleanup_free_ char *q = url_quote(f.args[0]);
		if (!q)
			return cli_fail("connections: out of memory");
		snprintf(url, sizeof(url), "/v1/connections?name=%s", q);
	}
	json_t *r = NULL;
	bool done = false;
	int rc = get_table("connections", url, f.json, "No plugs.", &r, &done);
	if (rc || done)
		return rc;
	struct cli_table t = {.ncols = 5};
	const char *head[] = {"Package", "Plug", "Interface", "Connected", "Notes"};
	cli_table_add(&t, head);
	size_t i;
	json_t *c;
	json_array_foreach(r, i, c)
	{
		bool on = json_is_true(json_object_get(c, "connected"));
		const char *how = cli_json_str(c, "how", "");
		const char *notes = !json_is_true(json_object_get(c, "supported"))
		                        ? "not supported here"
		                    : strcmp(how, "auto") == 0   ? "auto"
		                    : strcmp(how, "manual") == 0 ? "manual"
		                                                 : "-";
		const char *row[] = {cli_json_str(c, "name", ""), cli_json_str(c, "plug", ""),
		                     cli_json_str(c, "interface", ""), on ? "yes" : "no", notes};
		cli_table_add(&t, row);
	}
	cli_table_print(&t);
	json_decref(r);
	return 0;
}
