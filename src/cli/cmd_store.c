/* cmd_store.c: the publisher's verbs that talk to a store: login, logout,
 * whoami, register, collaborators, push, release, promote, close, status,
 * revisions. Each takes --store URL and --insecure (see store_client.h).
 * Output is for people unless --json is given; failures print the store's
 * own message ("ferry: MESSAGE") and exit 1; bad usage exits 2. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "cli.h"
#include "opts.h"
#include "output.h"
#include "store_client.h"

/* Options every store verb takes, and the positional arguments left. */
struct sopts {
	const char *store;
	bool insecure;
	bool json;
	bool no_halt;
	const char *token_file;
	const char *release;
	const char *from;
	const char *to;
	long long progressive;
	long long halt_failures, halt_ratio; /* -1: not given */
	const char *stages, *stage_wait, *stage_min_ok;
	char *args[20];
	int nargs;
};

/* A number option's value, from 0 to max (from 1 with positive); 2 after
 * saying why. */
static int parse_number(const char *verb, const char *opt, const char *v, unsigned long long max,
                        bool positive, const char *expected, long long *out)
{
	unsigned long long n = 0;
	if (!v)
		return 0;
	if (str_to_u64(v, max, &n) < 0 || (positive && n == 0)) {
		fprintf(stderr, "ferry %s: %s: expected %s\n", verb, opt, expected);
		return 2;
	}
	*out = (long long)n;
	return 0;
}

static int parse(int argc, char **argv, struct sopts *o, const char *verb)
{
	const char *progressive = NULL, *halt_failures = NULL, *halt_ratio = NULL;
	memset(o, 0, sizeof(*o));
	o->progressive = -1;
	o->halt_failures = -1;
	o->halt_ratio = -1;
	const struct cli_opt opts[] = {
	    {"--insecure", NULL, &o->insecure, NULL},
	    {"--json", NULL, &o->json, NULL},
	    {"--store", NULL, NULL, &o->store},
	    {"--token-file", NULL, NULL, &o->token_file},
	    {"--release", NULL, NULL, &o->release},
	    {"--from", NULL, NULL, &o->from},
	    {"--to", NULL, NULL, &o->to},
	    {"--progressive", NULL, NULL, &progressive},
	    {"--halt-failures", NULL, NULL, &halt_failures},
	    {"--halt-ratio", NULL, NULL, &halt_ratio},
	    {"--no-halt", NULL, &o->no_halt, NULL},
	    {"--stages", NULL, NULL, &o->stages},
	    {"--stage-wait", NULL, NULL, &o->stage_wait},
	    {"--stage-min-ok", NULL, NULL, &o->stage_min_ok},
	    {NULL, NULL, NULL, NULL},
	};
	int rc =
	    cli_parse_opts(argc, argv, verb, opts, o->args, (int)ARRAY_SIZE(o->args), &o->nargs);
	if (rc == 0)
		rc = parse_number(verb, "--progressive", progressive, 100, true,
		                  "a percentage from 1 to 100", &o->progressive);
	if (rc == 0)
		rc = parse_number(verb, "--halt-failures", halt_failures, 1000000, false,
		                  "a number of devices from 0 (never halt) to 1000000",
		                  &o->halt_failures);
	if (rc == 0)
		rc = parse_number(verb, "--halt-ratio", halt_ratio, 100, false,
		                  "a percentage from 0 to 100", &o->halt_ratio);
	return rc;
}

/* The store named by --store (or the login), for every store verb. */
int cli_store_open(struct store_client *c, const char *store, bool insecure)
{
	ferry_error err = {0};
	if (store_client_open(c, store, insecure, true, &err) < 0) {
		store_client_free(c);
		return cli_fail("%s", ferry_error_msg(&err));
	}
	return 0;
}

/* --- login --- */

int cmd_login(int argc, char **argv)
{
	struct sopts o;
	int rc = parse(argc, argv, &o, "login");
	if (rc)
		return rc;
	if (o.nargs)
		return cli_usage("login");
	const char *url = o.store ? o.store : getenv("FERRY_STORE");
	if (!url)
		return cli_fail("login: which store? give --store URL");
	ferry_error err = {0};
	if (store_url_check(url, o.insecure, &err) < 0)
		return cli_fail("login: %s", ferry_error_msg(&err));
	char tok[512];
	FILE *in = stdin;
	if (o.token_file && !(in = fopen(o.token_file, "re")))
		return cli_fail("login: %s: %s", o.token_file, strerror(errno));
	if (isatty(fileno(in)))
		fprintf(stderr, "token: ");
	char *got = fgets(tok, sizeof(tok), in);
	if (in != stdin)
		fclose(in);
	if (!got) {
		OPENSSL_cleanse(tok, sizeof(tok));
		return cli_fail("login: no token given on %s",
		                o.token_file ? o.token_file : "standard input");
	}
	size_t n = strlen(tok);
	while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
		tok[--n] = '\0';
	if (n == 0) {
		return cli_fail("login: the token is empty");
	}
	struct store_client c = {0};
	snprintf(c.url, sizeof(c.url), "%s", url);
	n = strlen(c.url);
	while (n && c.url[n - 1] == '/')
		c.url[--n] = '\0';
	c.insecure = o.insecure;
	c.token = strdup(tok);
	OPENSSL_cleanse(tok, sizeof(tok));
	if (!c.token)
		return cli_fail("out of memory");
	json_t *reply = NULL;
	rc = store_call(&c, "GET", "/v1/account", NULL, &reply, NULL, &err);
	if (rc < 0) {
		json_decref(reply);
		store_client_free(&c);
		return cli_fail("login to %s: %s", c.url, ferry_error_msg(&err));
	}
	const char *account = json_string_value(json_object_get(reply, "account"));
	char path[PATH_MAX], dir[PATH_MAX];
	json_t *cfg =
	    json_pack("{s:s, s:s, s:b}", "store", c.url, "token", c.token, "insecure", o.insecure);
	char *text = cfg ? json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(cfg);
	rc = store_config_path(path, sizeof(path), &err);
	if (rc == 0) {
		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = '\0';
		rc = fs_mkdir_p(dir, 0700, &err);
	}
	if (rc == 0 && !text)
		rc = ferry_error_set(&err, FERRY_E_NOMEM, "out of memory");
	if (rc == 0)
		rc = fs_write_atomic(path, text, strlen(text), 0600, &err);
	if (text) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	store_client_free(&c);
	if (rc < 0) {
		json_decref(reply);
		return cli_fail("login: %s", ferry_error_msg(&err));
	}
	printf("logged in to %s as %s\n", c.url, account ? account : "?");
	json_decref(reply);
	return 0;
}

int cmd_logout(int argc, char **argv)
{
	struct sopts o;
	int rc = parse(argc, argv, &o, "logout");
	if (rc)
		return rc;
	if (o.nargs)
		return cli_usage("logout");
	char path[PATH_MAX];
	ferry_error err = {0};
	if (store_config_path(path, sizeof(path), &err) < 0)
		return cli_fail("logout: %s", ferry_error_msg(&err));
	if (unlink(path) < 0 && errno != ENOENT)
		return cli_fail("logout: %s: %s", path, strerror(errno));
	printf("logged out\n");
	return 0;
}

int cmd_whoami(int argc, char **argv)
{
	struct sopts o;
	struct store_client c;
	int rc = parse(argc, argv, &o, "whoami");
	if (rc)
		return rc;
	if (o.nargs)
		return cli_usage("whoami");
	if ((rc = cli_store_open(&c, o.store, o.insecure)))
		return rc;
	json_t *reply = NULL;
	ferry_error err = {0};
	rc = store_call(&c, "GET", "/v1/account", NULL, &reply, NULL, &err);
	if (rc == 0) {
		if (o.json)
			cli_print_json(reply, false);
		else
			printf("store:    %s\naccount:  %s\n", c.url,
			       json_string_value(json_object_get(reply, "account")));
	}
	json_decref(reply);
	store_client_free(&c);
	return rc < 0 ? cli_fail("%s", ferry_error_msg(&err)) : 0;
}

/* --- names and collaborators --- */

int cmd_register(int argc, char **argv)
{
	struct sopts o;
	struct store_client c;
	int rc = parse(argc, argv, &o, "register");
	if (rc)
		return rc;
	if (o.nargs != 1)
		return cli_usage("register");
	if ((rc = cli_store_open(&c, o.store, o.insecure)))
		return rc;
	json_t *body = json_pack("{s:s}", "name", o.args[0]), *reply = NULL;
	ferry_error err = {0};
	rc = store_call(&c, "POST", "/v1/packages", body, &reply, NULL, &err);
	json_decref(body);
	if (rc == 0)
		printf("registered %s for %s\n", o.args[0],
		       json_string_value(json_object_get(reply, "owner")));
	json_decref(reply);
	store_client_free(&c);
	return rc < 0 ? cli_fail("register %s: %s", o.args[0], ferry_error_msg(&err)) : 0;
}

int cmd_collaborators(int argc, char **argv)
{
	struct sopts o;
	struct store_client c;
	int rc = parse(argc, argv, &o, "collaborators");
	if (rc)
		return rc;
	if (o.nargs < 2)
		return cli_usage("collaborators");
	const char *sub = o.args[0], *name = o.args[1];
	bool add = strcmp(sub, "add") == 0, del = strcmp(sub, "remove") == 0,
	     list = strcmp(sub, "list") == 0;
	if (!((add || del) && o.nargs == 3) && !(list && o.nargs == 2))
		return cli_usage("collaborators");
	if ((rc = cli_store_open(&c, o.store, o.insecure)))
		return rc;
	_cleanup_free_ char *ename = store_escape(name);
	_cleanup_free_ char *eacc = o.nargs == 3 ? store_escape(o.args[2]) : NULL;
	char path[512];
	json_t *reply = NULL, *body = NULL;
	ferry_error err = {0};
	if (add) {
		snprintf(path, sizeof(path), "/v1/packages/%s/collaborators", ename);
		body = json_pack("{s:s}", "account", o.args[2]);
		rc = store_call(&c, "POST", path, body, &reply, NULL, &err);
		if (rc == 0)
			printf("%s may now push and release %s\n", o.args[2], name);
	} else if (del) {
		snprintf(path, sizeof(path), "/v1/packages/%s/collaborators/%s", ename, eacc);
		rc = store_call(&c, "DELETE", path, NULL, &reply, NULL, &err);
		if (rc == 0)
			printf("%s may no longer push or release %s\n", o.args[2], name);
	} else {
		snprintf(path, sizeof(path), "/v1/packages/%s", ename);
		rc = store_call(&c, "GET", path, NULL, &reply, NULL, &err);
		if (rc == 0 && o.json) {
			cli_print_json(reply, false);
		} else if (rc == 0) {
			printf("owner: %s\n", json_string_value(json_object_get(reply, "owner")));
			json_t *v;
			size_t i;
			json_array_foreach(json_object_get(reply, "collaborators"), i, v)
			    printf("collaborator: %s\n", json_string_value(v));
		}
	}
	json_decref(body);
	json_decref(reply);
	store_client_free(&c);
	return rc < 0 ? cli_fail("collaborators %s: %s", sub, ferry_error_msg(&err)) : 0;
}

/* --- push --- */

int cmd_push(int argc, char **argv)
{
	struct sopts o;
	struct store_client c;
	int rc = parse(argc, argv, &o, "push");
	if (rc)
		return rc;
	if (o.nargs != 1)
		return cli_usage("push");
	if ((rc = cli_store_open(&c, o.store, o.insecure)))
		return rc;
	char path[1200];
	_cleanup_free_ char *rel = o.release ? store_escape(o.release) : NULL;
	if (rel)
		snprintf(path, sizeof(path), "/v1/push?release=%s", rel);
	else
		snprintf(path, sizeof(path), "/v1/push");
	json_t *reply = NULL;
	ferry_error err = {0};
	rc = store_upload(&c, path, o.args[0], &reply, NULL, &err);
	store_client_free(&c);
	if (rc < 0) {
		json_decref(reply);
		return cli_fail("push %s: %s", o.args[0], ferry_error_msg(&err));
	}
	if (o.json) {
		cli_print_json(reply, false);
		json_decref(reply);
		return 0;
	}
	const char *pkg = json_string_value(json_object_get(reply, "package"));
	long long rev = json_integer_value(json_object_get(reply, "revision"));
	const char *ver = json_string_value(json_object_get(reply, "version"));
	if (json_is_true(json_object_get(reply, "existing")))
		printf("%s revision %lld (%s) already holds these bytes\n", pkg, rev,
		       ver ? ver : "?");
	else if (!json_object_get(reply, "released"))
		printf("pushed %s revision %lld (%s)\n", pkg, rev, ver ? ver : "?");
	json_t *released = json_object_get(reply, "released");
	if (released) {
		printf("released %s revision %lld to", pkg, rev);
		json_t *v;
		size_t i;
		json_array_foreach(released, i, v)
		    printf("%s %s", i ? "," : "", json_string_value(v));
		printf("\n");
	}
	json_decref(reply);
	return 0;
}

/* --- status --- */

/* Releases the store halted because devices reported them failing, until
 * the next release on their channel: a progressive one withdrawn, a full
 * one given way to what the channel held before. */
static void print_halts(json_t *map)
{
	json_t *h;
	size_t i;
	json_array_foreach(json_object_get(map, "halts"), i, h)
	{
		char when[CLI_TIME_SIZE], back[96] = "";
		cli_time_utc(json_integer_value(json_object_get(h, "time")), "?", when,
		             sizeof(when));
		bool full = str_eq(cli_json_str(h, "kind", ""), "full");
		json_t *restored = json_object_get(h, "restored");
		if (full && json_is_integer(restored))
			snprintf(back, sizeof(back), "; back to revision %lld",
			         (long long)json_integer_value(restored));
		else if (full)
			snprintf(back, sizeof(back), "; closed, it held no revision before");
		printf("%s: %s release of revision %lld halted: %lld of %lld devices failed at "
		       "%s%s\n",
		       cli_json_str(h, "channel", ""), full ? "full" : "progressive",
		       (long long)json_integer_value(json_object_get(h, "revision")),
		       (long long)json_integer_value(json_object_get(h, "failed")),
		       (long long)json_integer_value(json_object_get(h, "reporting")), when, back);
	}
}

/* What deltas saved the newest revisions devices downloaded. */
static void print_downloads(json_t *map)
{
	json_t *d;
	size_t i;
	json_array_foreach(json_object_get(map, "downloads"), i, d)
	{
		long long got = (long long)json_integer_value(json_object_get(d, "downloaded"));
		long long saved = (long long)json_integer_value(json_object_get(d, "saved"));
		printf("revision %lld: %lld of %lld downloads by delta; %lld bytes downloaded, "
		       "%lld saved (%.0f%%)\n",
		       (long long)json_integer_value(json_object_get(d, "revision")),
		       (long long)json_integer_value(json_object_get(d, "deltas")),
		       (long long)json_integer_value(json_object_get(d, "downloads")), got, saved,
		       got + saved ? 100.0 * (double)saved / (double)(got + saved) : 0.0);
	}
}

/* name: unused, the map names its package. */
static void print_status(const char *name, json_t *map)
{
	json_t *chans = json_object_get(map, "channels"), *e;
	size_t i;
	if (json_array_size(chans) == 0) {
		printf("%s has no released revisions\n", cli_json_str(map, "package", ""));
		print_halts(map);
		return;
	}
	printf("%-10s %-8s %-20s %-12s %-9s %-10s %s\n", "Track", "Arch", "Channel", "Version",
	       "Revision", "Progress", "Expires at");
	const char *last_track = "", *last_arch = "";
	json_array_foreach(chans, i, e)
	{
		const char *track = cli_json_str(e, "track", ""),
		           *arch = cli_json_str(e, "architecture", "");
		bool new_track = strcmp(track, last_track) != 0;
		bool new_arch = new_track || strcmp(arch, last_arch) != 0;
		char chan[200], ver[64], revs[24], prog[16] = "-", exp[CLI_TIME_SIZE];
		json_t *branch = json_object_get(e, "branch");
		if (json_is_string(branch))
			snprintf(chan, sizeof(chan), "%s/%s", cli_json_str(e, "risk", ""),
			         json_string_value(branch));
		else
			snprintf(chan, sizeof(chan), "%s", cli_json_str(e, "risk", ""));
		json_t *rev = json_object_get(e, "revision");
		json_t *follows = json_object_get(e, "follows");
		json_t *pr = json_object_get(e, "progressive");
		if (json_is_string(follows)) {
			snprintf(ver, sizeof(ver), "↑");
			snprintf(revs, sizeof(revs), "↑");
		} else if (json_is_integer(rev)) {
			snprintf(ver, sizeof(ver), "%s", cli_json_str(e, "version", ""));
			snprintf(revs, sizeof(revs), "%lld", (long long)json_integer_value(rev));
		} else {
			snprintf(ver, sizeof(ver), "-");
			snprintf(revs, sizeof(revs), "-");
		}
		long long pct = json_integer_value(json_object_get(pr, "percentage"));
		if (json_is_object(pr) && (json_is_integer(rev)))
			snprintf(prog, sizeof(prog), "%lld%%", 100 - pct);
		cli_json_time_utc(json_object_get(e, "expires"), "", exp, sizeof(exp));
		/* "↑" is three bytes but one column: pad by hand */
		int vpad = json_is_string(follows) ? 14 : 12,
		    rpad = json_is_string(follows) ? 11 : 9;
		printf("%-10s %-8s %-20s %-*s %-*s %-10s %s\n", new_track ? track : "",
		       new_arch ? arch : "", chan, vpad, ver, rpad, revs, prog, exp);
		if (json_is_object(pr)) {
			char pv[24];
			snprintf(pv, sizeof(pv), "%lld",
			         (long long)json_integer_value(json_object_get(pr, "revision")));
			char pp[16];
			snprintf(pp, sizeof(pp), "%lld%%", pct);
			printf("%-10s %-8s %-20s %-12s %-9s %-10s\n", "", "", "",
			       cli_json_str(pr, "version", ""), pv, pp);
		}
		last_track = track;
		last_arch = arch;
	}
	print_halts(map);
	print_downloads(map);
}

static int get_package(struct sopts *o, const char *what, json_t **reply, ferry_error *err,
                       struct store_client *c)
{
	char path[512];
	_cleanup_free_ char *ename = store_escape(o->args[0]);
	snprintf(path, sizeof(path), "/v1/packages/%s/%s", ename ? ename : "", what);
	return store_call(c, "GET", path, NULL, reply, NULL, err);
}

static void print_revisions(const char *name, json_t *reply)
{
	json_t *revs = json_object_get(reply, "revisions"), *e;
	size_t i;
	if (json_array_size(revs) == 0)
		printf("%s has no revisions yet\n", name);
	else
		printf("%-6s %-21s %-14s %-12s %s\n", "Rev.", "Uploaded", "Arches", "Version",
		       "Channels");
	json_array_foreach(revs, i, e)
	{
		char when[CLI_TIME_SIZE], arches[128], chans[512];
		cli_time_utc(json_integer_value(json_object_get(e, "created")), "?", when,
		             sizeof(when));
		cli_json_join(json_object_get(e, "architectures"), ",", arches, sizeof(arches));
		cli_json_join(json_object_get(e, "channels"), ", ", chans, sizeof(chans));
		printf("%-6lld %-21s %-14s %-12s %s\n",
		       (long long)json_integer_value(json_object_get(e, "revision")), when, arches,
		       cli_json_str(e, "version", ""), *chans ? chans : "-");
	}
}

/* VERB NAME [--json]: GET /v1/packages/NAME/VERB, printed as JSON or by
 * print. */
static int package_view(int argc, char **argv, const char *verb,
                        void (*print)(const char *name, json_t *reply))
{
	struct sopts o;
	struct store_client c;
	int rc = parse(argc, argv, &o, verb);
	if (rc)
		return rc;
	if (o.nargs != 1)
		return cli_usage(verb);
	if ((rc = cli_store_open(&c, o.store, o.insecure)))
		return rc;
	json_t *reply = NULL;
	ferry_error err = {0};
	rc = get_package(&o, verb, &reply, &err, &c);
	store_client_free(&c);
	if (rc == 0 && o.json)
		cli_print_json(reply, false);
	else if (rc == 0)
		print(o.args[0], reply);
	json_decref(reply);
	return rc < 0 ? cli_fail("%s %s: %s", verb, o.args[0], ferry_error_msg(&err)) : 0;
}

int cmd_status(int argc, char **argv)
{
	return package_view(argc, argv, "status", print_status);
}

int cmd_revisions(int argc, char **argv)
{
	return package_view(argc, argv, "revisions", print_revisions);
}

/* --- release, promote, close --- */

static int channel_call(struct sopts *o, const char *verb, const char *action, json_t *body)
{
	struct store_client c;
	int rc = cli_store_open(&c, o->store, o->insecure);
	if (rc) {
		json_decref(body);
		return rc;
	}
	char path[512];
	_cleanup_free_ char *ename = store_escape(o->args[0]);
	snprintf(path, sizeof(path), "/v1/packages/%s/%s", ename ? ename : "", action);
	json_t *reply = NULL;
	ferry_error err = {0};
	rc = store_call(&c, "POST", path, body, &reply, NULL, &err);
	json_decref(body);
	store_client_free(&c);
	if (rc < 0) {
		json_decref(reply);
		return cli_fail("%s %s: %s", verb, o->args[0], ferry_error_msg(&err));
	}
	if (o->json) {
		cli_print_json(reply, false);
		json_decref(reply);
		return 0;
	}
	json_t *v;
	size_t i;
	if (strcmp(action, "release") == 0) {
		json_t *pr = json_object_get(reply, "progressive");
		printf("released %s revision %lld to", o->args[0],
		       (long long)json_integer_value(json_object_get(reply, "revision")));
		json_array_foreach(json_object_get(reply, "released"), i, v)
		    printf("%s %s", i ? "," : "", json_string_value(v));
		if (json_is_integer(pr))
			printf(" for %lld%% of devices", (long long)json_integer_value(pr));
		printf("\n");
		json_array_foreach(json_object_get(reply, "rollouts"), i, v) cli_print_rollout(v);
	} else if (strcmp(action, "promote") == 0) {
		printf("promoted %s from %s to %s\n", o->args[0], cli_json_str(reply, "from", ""),
		       cli_json_str(reply, "to", ""));
	} else {
		printf("closed");
		json_array_foreach(json_object_get(reply, "closed"), i, v)
		    printf("%s %s", i ? "," : "", json_string_value(v));
		printf(" of %s\n", o->args[0]);
	}
	if (!json_is_true(json_object_get(reply, "published")))
		fprintf(stderr, "ferry: warning: the store recorded the change but has not "
		                "published it yet; it retries on its own\n");
	print_status(o->args[0], json_object_get(reply, "status"));
	json_decref(reply);
	return 0;
}

int cmd_release(int argc, char **argv)
{
	struct sopts o;
	int rc = parse(argc, argv, &o, "release");
	if (rc)
		return rc;
	if (o.nargs < 3)
		return cli_usage("release");
	unsigned long long rev = 0;
	if (str_to_u64(o.args[1], 1ull << 62, &rev) < 0 || rev == 0)
		return cli_fail("release: revision \"%s\": expected a positive number", o.args[1]);
	json_t *chans = json_array();
	for (int i = 2; i < o.nargs; i++)
		for (char *s = o.args[i], *tok; (tok = strsep(&s, ","));)
			if (*tok)
				json_array_append_new(chans, json_string(tok));
	json_t *body = json_pack("{s:I, s:o}", "revision", (json_int_t)rev, "channels", chans);
	if (o.progressive > 0)
		json_object_set_new(body, "progressive", json_integer(o.progressive));
	/* --no-halt is --halt-failures 0, for this release to these channels */
	if (o.no_halt && (o.halt_failures > 0 || o.halt_ratio >= 0)) {
		json_decref(body);
		return cli_fail("release: --no-halt and --halt-failures or --halt-ratio contradict "
		                "each other");
	}
	if (o.no_halt)
		o.halt_failures = 0;
	if (o.halt_failures >= 0)
		json_object_set_new(body, "halt-failures", json_integer(o.halt_failures));
	if (o.halt_ratio >= 0)
		json_object_set_new(body, "halt-ratio", json_integer(o.halt_ratio));
	if ((o.stages || o.stage_wait || o.stage_min_ok) &&
	    (rc = cli_rollout_options(o.stages, o.stage_wait, o.stage_min_ok, o.progressive > 0,
	                              body))) {
		json_decref(body);
		return rc;
	}
	return channel_call(&o, "release", "release", body);
}

int cmd_promote(int argc, char **argv)
{
	struct sopts o;
	int rc = parse(argc, argv, &o, "promote");
	if (rc)
		return rc;
	if (o.nargs != 1 || !o.from || !o.to)
		return cli_usage("promote");
	return channel_call(&o, "promote", "promote",
	                    json_pack("{s:s, s:s}", "from", o.from, "to", o.to));
}

int cmd_close(int argc, char **argv)
{
	struct sopts o;
	int rc = parse(argc, argv, &o, "close");
	if (rc)
		return rc;
	if (o.nargs < 2)
		return cli_usage("close");
	json_t *chans = json_array();
	for (int i = 1; i < o.nargs; i++)
		for (char *s = o.args[i], *tok; (tok = strsep(&s, ","));)
			if (*tok)
				json_array_append_new(chans, json_string(tok));
	return channel_call(&o, "close", "close", json_pack("{s:o}", "channels", chans));
}
