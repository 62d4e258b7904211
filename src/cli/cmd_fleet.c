/* cmd_fleet.c: the fleet verbs of a publisher, over the store's API
 * (docs/store.md): `ferry rollout [pause|resume|stop] NAME [CHANNEL]`
 * shows a staged rollout (its stage, its devices, why it waits) or steers
 * it, and `ferry devices [NAME] [--not-seen DAYS]` shows the devices that
 * run the caller's packages. Also the options of `ferry release --stages`.
 * Not here: release itself (cmd_store.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "cli.h"
#include "opts.h"
#include "output.h"
#include "store_client.h"

#define STAGE_WAIT_MAX_S (30ULL * 86400)

/* "6h", "90s", "2d" into seconds, 1 s to 30 d. */
static int parse_wait(const char *s, long long *out)
{
	size_t n = strlen(s);
	unsigned long long v = 0, ms = 0;
	if (n > 1 && s[n - 1] == 'd') {
		char num[24];
		if (n - 1 >= sizeof(num))
			return -1;
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		if (str_to_u64(num, 30, &v) < 0 || v == 0)
			return -1;
		*out = (long long)(v * 86400);
		return 0;
	}
	if (str_parse_duration_ms(s, STAGE_WAIT_MAX_S * 1000, &ms) < 0 || ms < 1000)
		return -1;
	*out = (long long)(ms / 1000);
	return 0;
}

int cli_rollout_options(const char *stages, const char *wait, const char *min_ok, bool progressive,
                        json_t *body)
{
	if (progressive)
		return cli_fail("release: --progressive and --stages contradict each other");
	json_t *list = json_array();
	_cleanup_free_ char *copy = strdup(stages ? stages : "1,10,50,100");
	if (!list || !copy) {
		json_decref(list);
		return cli_fail("out of memory");
	}
	for (char *p = copy, *tok; (tok = strsep(&p, ","));) {
		unsigned long long v = 0;
		if (str_to_u64(tok, 100, &v) < 0 || v == 0) {
			json_decref(list);
			fprintf(stderr,
			        "ferry release: --stages: expected percentages from 1 to 100, e.g. "
			        "1,10,50,100; got \"%s\"\n",
			        tok);
			return 2;
		}
		json_array_append_new(list, json_integer((json_int_t)v));
	}
	json_object_set_new(body, "stages", list);
	if (wait) {
		long long s = 0;
		if (parse_wait(wait, &s) < 0) {
			fprintf(stderr,
			        "ferry release: --stage-wait: expected a duration from 1s to "
			        "30d (s, m, h or d), e.g. 6h\n");
			return 2;
		}
		json_object_set_new(body, "stage-wait", json_integer(s));
	}
	if (min_ok) {
		unsigned long long v = 0;
		if (str_to_u64(min_ok, 1000000, &v) < 0) {
			fprintf(stderr,
			        "ferry release: --stage-min-ok: expected a number of devices "
			        "from 0 to 1000000\n");
			return 2;
		}
		json_object_set_new(body, "stage-min-ok", json_integer((json_int_t)v));
	}
	return 0;
}

static long long iv(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

void cli_print_rollout(json_t *r)
{
	if (!json_is_object(r))
		return;
	json_t *stages = json_object_get(r, "stages"), *k = json_object_get(r, "counts");
	char when[CLI_TIME_SIZE];
	cli_time_utc(iv(r, "started"), "?", when, sizeof(when));
	printf("rollout %lld of revision %lld on %s: %s, stage %lld of %zu (%lld%%), started %s\n",
	       iv(r, "id"), iv(r, "revision"), cli_json_str(r, "channel", "?"),
	       cli_json_str(r, "state", "?"), iv(r, "stage") + 1, json_array_size(stages),
	       iv(r, "percentage"), when);
	printf("  devices: %lld ok, %lld rolled back, %lld pending, %lld not seen, %lld in later "
	       "stages\n",
	       iv(k, "ok"), iv(k, "rolled-back"), iv(k, "pending"), iv(k, "not-seen"),
	       iv(k, "outside"));
	/* per stage reached: the devices that reported during it */
	json_t *per = json_object_get(r, "stage-counts"), *e;
	struct cli_table t = {.ncols = 5};
	const char *head[] = {"  Stage", "Share", "Began", "Ok", "Rolled back"};
	if (json_array_size(per) > 0)
		cli_table_add(&t, head);
	size_t i;
	json_array_foreach(per, i, e)
	{
		char stage[24], share[24], began[CLI_TIME_SIZE], ok[24], failed[24];
		snprintf(stage, sizeof(stage), "  %lld", iv(e, "stage") + 1);
		snprintf(share, sizeof(share), "%lld%%", iv(e, "percentage"));
		cli_time_utc(iv(e, "started"), "?", began, sizeof(began));
		snprintf(ok, sizeof(ok), "%lld", iv(e, "ok"));
		snprintf(failed, sizeof(failed), "%lld", iv(e, "rolled-back"));
		const char *row[] = {stage, share, began, ok, failed};
		cli_table_add(&t, row);
	}
	cli_table_print(&t);
	json_t *w = json_object_get(r, "waiting");
	if (json_is_object(w))
		printf("  waiting: %s\n", cli_json_str(w, "message", "?"));
}

/* GET or POST on the package's rollouts; *reply the answer. */
static int rollout_call(const char *store, bool insecure, const char *method, const char *name,
                        const char *action, const char *channel, json_t **reply)
{
	struct store_client c;
	int rc = cli_store_open(&c, store, insecure);
	if (rc)
		return rc;
	_cleanup_free_ char *ename = store_escape(name);
	_cleanup_free_ char *ech = channel ? store_escape(channel) : NULL;
	char path[1024];
	json_t *body = NULL;
	if (action) {
		rc = str_printf(path, sizeof(path), "/v1/packages/%s/rollouts/%s",
		                ename ? ename : "", action);
		body = channel ? json_pack("{s:s}", "channel", channel) : json_object();
	} else {
		rc = str_printf(path, sizeof(path), "/v1/packages/%s/rollouts%s%s",
		                ename ? ename : "", ech ? "?channel=" : "", ech ? ech : "");
	}
	ferry_error err = {0};
	if (rc == 0)
		rc = store_call(&c, method, path, body, reply, NULL, &err);
	else
		ferry_error_set(&err, FERRY_E_LIMIT, "arguments too long");
	json_decref(body);
	store_client_free(&c);
	if (rc < 0) {
		json_decref(*reply);
		*reply = NULL;
		return cli_fail("rollout %s%s%s: %s", action ? action : "", action ? " " : "", name,
		                ferry_error_msg(&err));
	}
	return 0;
}

int cmd_rollout(int argc, char **argv)
{
	const char *store = NULL;
	bool insecure = false, json = false;
	char *args[4];
	int nargs = 0;
	const struct cli_opt opts[] = {
	    {"--json", NULL, &json, NULL},
	    {"--insecure", NULL, &insecure, NULL},
	    {"--store", NULL, NULL, &store},
	    {NULL, NULL, NULL, NULL},
	};
	int rc = cli_parse_opts(argc, argv, "rollout", opts, args, 4, &nargs);
	if (rc)
		return rc;
	const char *action = NULL;
	int first = 0;
	if (nargs > 0 && (strcmp(args[0], "pause") == 0 || strcmp(args[0], "resume") == 0 ||
	                  strcmp(args[0], "stop") == 0)) {
		action = args[0];
		first = 1;
	}
	if (nargs - first < 1 || nargs - first > 2)
		return cli_usage("rollout");
	const char *name = args[first], *channel = nargs - first == 2 ? args[first + 1] : NULL;
	json_t *reply = NULL;
	if ((rc = rollout_call(store, insecure, action ? "POST" : "GET", name, action, channel,
	                       &reply)))
		return rc;
	if (json) {
		cli_print_json(action ? json_object_get(reply, "rollout") : reply, false);
	} else if (action) {
		cli_print_rollout(json_object_get(reply, "rollout"));
	} else {
		json_t *list = json_object_get(reply, "rollouts"), *r;
		size_t i;
		if (json_array_size(list) == 0)
			printf("%s has no active rollout%s%s\n", name, channel ? " on " : "",
			       channel ? channel : "");
		json_array_foreach(list, i, r) cli_print_rollout(r);
	}
	json_decref(reply);
	return 0;
}

static void print_breakdown(json_t *wa, const char *key, const char *label, const char *field)
{
	json_t *list = json_object_get(wa, key), *e;
	size_t i;
	printf("  by %s:", label);
	if (json_array_size(list) == 0)
		printf(" -");
	json_array_foreach(list, i, e)
	{
		json_t *v = json_object_get(e, field);
		if (json_is_integer(v))
			printf(" %lld=%lld", (long long)json_integer_value(v), iv(e, "devices"));
		else
			printf(" %s=%lld", json_string_value(v) ? json_string_value(v) : "?",
			       iv(e, "devices"));
	}
	printf("\n");
}

static void print_devices(json_t *reply)
{
	const char *name = cli_json_str(reply, "package", "?");
	json_t *wa = json_object_get(reply, "weekly-active"),
	       *devs = json_object_get(reply, "devices");
	printf("%s: %lld weekly active device%s\n", name, iv(wa, "total"),
	       iv(wa, "total") == 1 ? "" : "s");
	print_breakdown(wa, "by-revision", "revision", "revision");
	print_breakdown(wa, "by-channel", "channel", "channel");
	print_breakdown(wa, "by-arch", "arch", "arch");
	if (json_array_size(devs) == 0)
		return;
	printf("%-20s  %-36s  %-8s  %-20s  %-6s  %s\n", "Last seen", "Device", "Revision",
	       "Channel", "Arch", "Held");
	size_t i;
	json_t *d;
	json_array_foreach(devs, i, d)
	{
		char when[CLI_TIME_SIZE];
		cli_time_utc(iv(d, "last-seen"), "?", when, sizeof(when));
		printf("%-20s  %-36s  %-8lld  %-20s  %-6s  %s\n", when,
		       cli_json_str(d, "device", "?"), iv(d, "revision"),
		       cli_json_str(d, "channel", "?"), cli_json_str(d, "arch", "?"),
		       json_is_true(json_object_get(d, "held")) ? "yes" : "no");
	}
	if (json_is_true(json_object_get(reply, "truncated")))
		printf("(more devices not shown)\n");
}

int cmd_devices(int argc, char **argv)
{
	const char *store = NULL, *not_seen = NULL;
	bool insecure = false, json = false;
	char *args[2];
	int nargs = 0;
	const struct cli_opt opts[] = {
	    {"--json", NULL, &json, NULL},   {"--insecure", NULL, &insecure, NULL},
	    {"--store", NULL, NULL, &store}, {"--not-seen", NULL, NULL, &not_seen},
	    {NULL, NULL, NULL, NULL},
	};
	int rc = cli_parse_opts(argc, argv, "devices", opts, args, 2, &nargs);
	if (rc)
		return rc;
	if (nargs > 1)
		return cli_usage("devices");
	unsigned long long days = 0;
	if (not_seen && (str_to_u64(not_seen, 3650, &days) < 0 || days == 0)) {
		fprintf(stderr, "ferry devices: --not-seen: expected a number of days from 1 to "
		                "3650\n");
		return 2;
	}
	struct store_client c;
	if ((rc = cli_store_open(&c, store, insecure)))
		return rc;
	ferry_error err = {0};
	json_t *account = NULL, *names = json_array(), *all = json_array();
	if (nargs == 1) {
		json_array_append_new(names, json_string(args[0]));
	} else if (store_call(&c, "GET", "/v1/account", NULL, &account, NULL, &err) < 0) {
		rc = cli_fail("devices: %s", ferry_error_msg(&err));
	} else {
		json_t *p;
		size_t i;
		json_array_foreach(json_object_get(account, "packages"), i, p)
		    json_array_append_new(names, json_string(json_is_string(p)
		                                                 ? json_string_value(p)
		                                                 : cli_json_str(p, "name", "")));
	}
	json_t *n;
	size_t i;
	json_array_foreach(names, i, n)
	{
		if (rc)
			break;
		_cleanup_free_ char *ename = store_escape(json_string_value(n));
		char path[512];
		json_t *reply = NULL;
		if (not_seen)
			snprintf(path, sizeof(path), "/v1/packages/%s/devices?not-seen=%llu",
			         ename ? ename : "", days);
		else
			snprintf(path, sizeof(path), "/v1/packages/%s/devices", ename ? ename : "");
		if (store_call(&c, "GET", path, NULL, &reply, NULL, &err) < 0) {
			rc =
			    cli_fail("devices %s: %s", json_string_value(n), ferry_error_msg(&err));
			json_decref(reply);
			break;
		}
		if (json)
			json_array_append_new(all, reply);
		else {
			print_devices(reply);
			json_decref(reply);
		}
	}
	store_client_free(&c);
	if (rc == 0 && json)
		cli_print_json(nargs == 1 ? json_array_get(all, 0) : all, false);
	json_decref(account);
	json_decref(names);
	json_decref(all);
	return rc;
}
