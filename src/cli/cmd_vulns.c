/* cmd_vulns.c: the publisher's verbs for vulnerability notices:
 *   ferry vulns NAME [--json]                 open findings (its own and its
 *                                             base's) and the history
 *   ferry webhooks NAME [--json]              hooks and their delivery log
 *   ferry webhooks add NAME URL --secret-file FILE
 *   ferry webhooks remove NAME ID
 * NAME is a package, or @ACCOUNT for the hooks of your own account (they
 * cover every package you own or collaborate on). The secret is read from
 * a file (at most 1 KiB, a trailing newline dropped), sent once, and never
 * shown again. Options --store URL and --insecure as the other store verbs. */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "cli.h"
#include "opts.h"
#include "output.h"
#include "store_client.h"

#define SECRET_FILE_MAX 1024

struct vopts {
	const char *store;
	const char *secret_file;
	bool insecure;
	bool json;
	char *args[4];
	int nargs;
};

static int parse(int argc, char **argv, struct vopts *o, const char *verb)
{
	memset(o, 0, sizeof(*o));
	const struct cli_opt opts[] = {
	    {"--insecure", NULL, &o->insecure, NULL},
	    {"--json", NULL, &o->json, NULL},
	    {"--store", NULL, NULL, &o->store},
	    {"--secret-file", NULL, NULL, &o->secret_file},
	    {NULL, NULL, NULL, NULL},
	};
	return cli_parse_opts(argc, argv, verb, opts, o->args, (int)ARRAY_SIZE(o->args), &o->nargs);
}

/* --- ferry vulns --- */

/* The findings that come from the bases the package's channels run on:
 * the base's to fix, and a refresh of the base on the devices (no rebuild
 * of the package) is what clears them. */
static void print_base_findings(const char *name, json_t *list)
{
	json_t *f;
	size_t i;
	printf("%s: %zu open finding%s from its base\n\n", name, json_array_size(list),
	       json_array_size(list) == 1 ? "" : "s");
	printf("%-20s %-22s %-14s %-20s %-20s %-22s %s\n", "Base (rev.)", "Channels", "Component",
	       "Bundled", "Fixed in", "Advisory", "Severity");
	json_array_foreach(list, i, f)
	{
		char chans[256], base[128];
		cli_json_join(json_object_get(f, "channels"), ",", chans, sizeof(chans));
		snprintf(base, sizeof(base), "%s (%lld)", cli_json_str(f, "base", "?"),
		         (long long)json_integer_value(json_object_get(f, "base_revision")));
		printf("%-20s %-22s %-14s %-20s %-20s %-22s %s\n", base, chans,
		       cli_json_str(f, "component", "?"), cli_json_str(f, "bundled_version", "?"),
		       cli_json_str(f, "fixed_version", "(no fix yet)"),
		       cli_json_str(f, "advisory", "?"), cli_json_str(f, "severity", "-"));
	}
	printf("\nWhat to do: nothing in %s; these come from its base. A refresh of the base "
	       "fixes them (not a rebuild of %s): once the base's publisher releases a fixed "
	       "revision in the channel, devices refresh the base and every app on it.\n",
	       name, name);
}

static void print_findings(const char *name, json_t *r)
{
	json_t *list = json_object_get(r, "findings"), *f;
	size_t i;
	json_t *scan = json_object_get(r, "scan");
	json_t *adv = json_object_get(r, "advisories");
	/* a store that answers without the object predates it: say nothing */
	bool none = json_is_false(json_object_get(adv, "imported"));
	json_t *from_base = json_object_get(r, "base_findings");
	if (json_array_size(list) == 0 && json_array_size(from_base)) {
		printf("%s: no known vulnerability in its own released revisions\n", name);
	} else if (json_array_size(list) == 0 && none) {
		printf("%s: no advisories imported into this store yet: it cannot tell whether its "
		       "released revisions are vulnerable (the store's operator imports them with "
		       "ferry-store vulns import)\n",
		       name);
	} else if (json_array_size(list) == 0) {
		printf("%s: no known vulnerability in its released revisions\n", name);
	} else {
		printf("%s: %zu open finding%s in released revisions\n\n", name,
		       json_array_size(list), json_array_size(list) == 1 ? "" : "s");
		printf("%-5s %-22s %-14s %-20s %-20s %-22s %s\n", "Rev.", "Channels", "Component",
		       "Bundled", "Fixed in", "Advisory", "Severity");
		json_array_foreach(list, i, f)
		{
			char chans[256];
			cli_json_join(json_object_get(f, "channels"), ",", chans, sizeof(chans));
			printf("%-5lld %-22s %-14s %-20s %-20s %-22s %s\n",
			       (long long)json_integer_value(json_object_get(f, "revision")), chans,
			       cli_json_str(f, "component", "?"),
			       cli_json_str(f, "bundled_version", "?"),
			       cli_json_str(f, "fixed_version", "(no fix yet)"),
			       cli_json_str(f, "advisory", "?"), cli_json_str(f, "severity", "-"));
			char aliases[512];
			cli_json_join(json_object_get(f, "aliases"), ", ", aliases,
			              sizeof(aliases));
			if (*aliases)
				printf("%-5s also known as %s\n", "", aliases);
		}
		printf("\nWhat to do: rebuild %s against the fixed versions (ferry pack stages the "
		       "newest the archive offers), then push and release the new revision. The "
		       "findings clear once no released revision bundles an affected version.\n",
		       name);
	}
	if (json_array_size(from_base)) {
		printf("\n");
		print_base_findings(name, from_base);
	}
	size_t h = json_array_size(json_object_get(r, "history"));
	if (h)
		printf("%zu cleared finding%s in the history (--json lists them)\n", h,
		       h == 1 ? "" : "s");
	if (json_is_true(json_object_get(scan, "pending")))
		printf("a scan is pending: this may change in a moment\n");
	if (json_is_true(json_object_get(adv, "imported"))) {
		char when[CLI_TIME_SIZE];
		cli_json_time_utc(json_object_get(adv, "last-import"), "?", when, sizeof(when));
		long long held = json_integer_value(json_object_get(adv, "held"));
		printf("advisories last imported at %s (%lld held)\n", when, held);
	}
}

int cmd_vulns(int argc, char **argv)
{
	struct vopts o;
	struct store_client c;
	int rc = parse(argc, argv, &o, "vulns");
	if (rc)
		return rc;
	if (o.nargs != 1 || o.secret_file)
		return cli_usage("vulns");
	if ((rc = cli_store_open(&c, o.store, o.insecure)))
		return rc;
	_cleanup_free_ char *ename = store_escape(o.args[0]);
	char path[512];
	snprintf(path, sizeof(path), "/v1/packages/%s/vulns", ename ? ename : "");
	json_t *reply = NULL;
	ferry_error err = {0};
	rc = store_call(&c, "GET", path, NULL, &reply, NULL, &err);
	store_client_free(&c);
	if (rc == 0 && o.json)
		cli_print_json(reply, false);
	else if (rc == 0)
		print_findings(o.args[0], reply);
	json_decref(reply);
	return rc < 0 ? cli_fail("vulns %s: %s", o.args[0], ferry_error_msg(&err)) : 0;
}

/* --- ferry webhooks --- */

/* The API path of NAME's hooks: a package's, or for "@ACCOUNT" the
 * caller's own (checked against whoami, so a typo is not silently some
 * other scope). */
static int hooks_path(struct store_client *c, const char *name, char *out, size_t size,
                      ferry_error *err)
{
	if (name[0] != '@') {
		_cleanup_free_ char *e = store_escape(name);
		if (!e)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		snprintf(out, size, "/v1/packages/%s/webhooks", e);
		return 0;
	}
	json_t *who = NULL;
	int rc = store_call(c, "GET", "/v1/account", NULL, &who, NULL, err);
	if (rc == 0 && !str_eq(cli_json_str(who, "account", ""), name + 1))
		rc = ferry_error_set(
		    err, FERRY_E_PERM,
		    "you are logged in as %s: only the hooks of @%s can be managed "
		    "with this token",
		    cli_json_str(who, "account", "?"), cli_json_str(who, "account", "?"));
	json_decref(who);
	snprintf(out, size, "/v1/account/webhooks");
	return rc;
}

static void print_hooks(const char *name, json_t *r)
{
	json_t *hooks = json_object_get(r, "webhooks"), *h;
	json_t *log = json_object_get(r, "deliveries"), *d;
	size_t i;
	if (json_array_size(hooks) == 0)
		printf("%s has no webhooks\n", name);
	else
		printf("%-20s %-20s %-10s %s\n", "Id", "Added", "By", "URL");
	json_array_foreach(hooks, i, h)
	{
		char when[32];
		cli_json_time_utc(json_object_get(h, "created"), "-", when, sizeof(when));
		printf("%-20s %-20s %-10s %s\n", cli_json_str(h, "id", "?"), when,
		       cli_json_str(h, "created_by", "?"), cli_json_str(h, "url", "?"));
	}
	if (json_array_size(log) == 0)
		return;
	printf("\nDeliveries (newest first)\n");
	printf("%-6s %-20s %-12s %-8s %-20s %-10s %-8s %-8s %s\n", "Id", "Webhook", "Package",
	       "Notice", "Queued", "Status", "Attempts", "HTTP", "Error / next attempt");
	json_array_foreach(log, i, d)
	{
		char when[32], next[32], code[16] = "-";
		cli_json_time_utc(json_object_get(d, "created"), "-", when, sizeof(when));
		cli_json_time_utc(json_object_get(d, "next_attempt"), "-", next, sizeof(next));
		if (json_is_integer(json_object_get(d, "response")))
			snprintf(code, sizeof(code), "%lld",
			         (long long)json_integer_value(json_object_get(d, "response")));
		const char *error = cli_json_str(d, "error", "");
		printf("%-6lld %-20s %-12s %-8s %-20s %-10s %-8lld %-8s %s%s%s\n",
		       (long long)json_integer_value(json_object_get(d, "id")),
		       cli_json_str(d, "webhook", "?"), cli_json_str(d, "package", "?"),
		       cli_json_str(d, "state", "?"), when, cli_json_str(d, "status", "?"),
		       (long long)json_integer_value(json_object_get(d, "attempts")), code, error,
		       *error && strcmp(next, "-") ? "; next " : "", strcmp(next, "-") ? next : "");
	}
}

/* The secret from a file, bounded; trailing newlines dropped. Wipe it. */
static int read_secret(const char *file, char **out, size_t *len, ferry_error *err)
{
	char *data = NULL;
	size_t n = 0;
	int rc = fs_read_file(file, SECRET_FILE_MAX + 2, &data, &n, err);
	if (rc == FERRY_E_LIMIT)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: a secret is at most %d bytes", file,
		                       SECRET_FILE_MAX);
	if (rc < 0)
		return rc;
	while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		data[--n] = '\0';
	if (n > SECRET_FILE_MAX || memchr(data, '\0', n) || !str_valid_utf8(data, n)) {
		OPENSSL_clear_free(data, n);
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s: expected a text secret of at most %d bytes", file,
		                       SECRET_FILE_MAX);
	}
	*out = data;
	*len = n;
	return 0;
}

int cmd_webhooks(int argc, char **argv)
{
	struct vopts o;
	struct store_client c;
	int rc = parse(argc, argv, &o, "webhooks");
	if (rc)
		return rc;
	bool add = o.nargs == 3 && strcmp(o.args[0], "add") == 0;
	bool del = o.nargs == 3 && strcmp(o.args[0], "remove") == 0;
	bool list = o.nargs == 1;
	if (!(add || del || list) || (add && !o.secret_file) || (!add && o.secret_file))
		return cli_usage("webhooks");
	const char *name = list ? o.args[0] : o.args[1];
	char *secret = NULL;
	size_t slen = 0;
	ferry_error err = {0};
	if (add && read_secret(o.secret_file, &secret, &slen, &err) < 0)
		return cli_fail("webhooks add: %s", ferry_error_msg(&err));
	if ((rc = cli_store_open(&c, o.store, o.insecure))) {
		OPENSSL_clear_free(secret, slen);
		return rc;
	}
	char path[600];
	json_t *reply = NULL, *body = NULL;
	rc = hooks_path(&c, name, path, sizeof(path), &err);
	if (rc == 0 && add) {
		body = json_pack("{s:s, s:s%}", "url", o.args[2], "secret", secret, slen);
		if (!body)
			rc = ferry_error_set(&err, FERRY_E_NOMEM, "out of memory");
		else
			rc = store_call(&c, "POST", path, body, &reply, NULL, &err);
		if (body) {
			json_t *js = json_object_get(body, "secret");
			OPENSSL_cleanse((char *)json_string_value(js), json_string_length(js));
		}
		if (rc == 0 && !o.json)
			printf("added webhook %s for %s: %s\n", cli_json_str(reply, "id", "?"),
			       name, o.args[2]);
	} else if (rc == 0 && del) {
		_cleanup_free_ char *eid = store_escape(o.args[2]);
		size_t n = strlen(path);
		snprintf(path + n, sizeof(path) - n, "/%s", eid ? eid : "");
		rc = store_call(&c, "DELETE", path, NULL, &reply, NULL, &err);
		if (rc == 0 && !o.json)
			printf("removed webhook %s of %s\n", o.args[2], name);
	} else if (rc == 0) {
		rc = store_call(&c, "GET", path, NULL, &reply, NULL, &err);
		if (rc == 0 && !o.json)
			print_hooks(name, reply);
	}
	if (rc == 0 && o.json)
		cli_print_json(reply, false);
	OPENSSL_clear_free(secret, slen);
	json_decref(body);
	json_decref(reply);
	store_client_free(&c);
	return rc < 0 ? cli_fail("webhooks%s %s: %s",
	                         add   ? " add"
	                         : del ? " remove"
	                               : "",
	                         name, ferry_error_msg(&err))
	              : 0;
}
