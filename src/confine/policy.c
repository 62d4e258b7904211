/* policy.c: ferry-confine's command line, parsed and checked into a
 * struct confine_policy (the contract is docs/formats/confine.md).
 *
 * Every value is bounded and validated here, before anything privileged
 * happens; later phases trust the policy. This file does not touch the system
 * beyond looking up group names and checking that descriptors are open. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/str.h"
#include "confine.h"
#include "pkg/interface_names.h"
#include "pkg/name.h"

#define PATH_MAX_LEN 1024
#define ENV_MAX_LEN 4096
#define MEMORY_MIN (4ull << 20)
#define MEMORY_MAX (1ull << 50)
#define PIDS_MAX 4194304ull
#define CPU_PERIOD_US 100000ull

static const char usage[] =
    "usage: ferry-confine --name PKG --app APP --revision R --pkg-dir DIR --data DIR --common DIR\n"
    "                     --uid U --gid G [--plug IFACE]... [--memory SIZE] [--pids N] [--cpu "
    "PCT%]\n"
    "                     [--devmode] [--env KEY=VALUE]... [--notify-socket PATH] [--forking]\n"
    "                     [--config-file FILE] [--ctl-socket PATH] [--ctl-tool FILE]\n"
    "                     [--state-dir DIR] [--run-dir DIR]\n"
    "                     [--cgroup-parent PATH] [--log-fd FD] [--status-fd FD]\n"
    "                     [--log-level LEVEL] [--dry-run] -- COMMAND [ARG]...\n"
    "       ferry-confine --list-interfaces\n"
    "       ferry-confine --version\n"
    "  starts one app process inside its sandbox (docs/formats/confine.md)\n";

enum {
	OPT_NAME = 256,
	OPT_APP,
	OPT_REVISION,
	OPT_PKG_DIR,
	OPT_DATA,
	OPT_COMMON,
	OPT_UID,
	OPT_GID,
	OPT_PLUG,
	OPT_MEMORY,
	OPT_PIDS,
	OPT_CPU,
	OPT_DEVMODE,
	OPT_ENV,
	OPT_NOTIFY_SOCKET,
	OPT_FORKING,
	OPT_CONFIG_FILE,
	OPT_CTL_SOCKET,
	OPT_CTL_TOOL,
	OPT_STATE_DIR,
	OPT_RUN_DIR,
	OPT_BASE,
	OPT_CGROUP_PARENT,
	OPT_LOG_FD,
	OPT_STATUS_FD,
	OPT_LOG_LEVEL,
	OPT_DRY_RUN,
	OPT_LIST_IFACES,
	OPT_VERSION,
	OPT_HELP,
};

static const struct option options[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"app", required_argument, NULL, OPT_APP},
    {"revision", required_argument, NULL, OPT_REVISION},
    {"pkg-dir", required_argument, NULL, OPT_PKG_DIR},
    {"base", required_argument, NULL, OPT_BASE},
    {"data", required_argument, NULL, OPT_DATA},
    {"common", required_argument, NULL, OPT_COMMON},
    {"uid", required_argument, NULL, OPT_UID},
    {"gid", required_argument, NULL, OPT_GID},
    {"plug", required_argument, NULL, OPT_PLUG},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"pids", required_argument, NULL, OPT_PIDS},
    {"cpu", required_argument, NULL, OPT_CPU},
    {"devmode", no_argument, NULL, OPT_DEVMODE},
    {"env", required_argument, NULL, OPT_ENV},
    {"notify-socket", required_argument, NULL, OPT_NOTIFY_SOCKET},
    {"forking", no_argument, NULL, OPT_FORKING},
    {"config-file", required_argument, NULL, OPT_CONFIG_FILE},
    {"ctl-socket", required_argument, NULL, OPT_CTL_SOCKET},
    {"ctl-tool", required_argument, NULL, OPT_CTL_TOOL},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"run-dir", required_argument, NULL, OPT_RUN_DIR},
    {"cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT},
    {"log-fd", required_argument, NULL, OPT_LOG_FD},
    {"status-fd", required_argument, NULL, OPT_STATUS_FD},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"list-interfaces", no_argument, NULL, OPT_LIST_IFACES},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* An absolute path without "." or ".." components, control characters or
 * repeated slashes, shorter than PATH_MAX_LEN. */
static bool valid_path(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= PATH_MAX_LEN || s[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
		if (s[i] == '/' && (s[i + 1] == '/'))
			return false;
		if (s[i] == '/' && s[i + 1] == '.' &&
		    (s[i + 2] == '/' || s[i + 2] == 0 ||
		     (s[i + 2] == '.' && (s[i + 3] == '/' || s[i + 3] == 0))))
			return false;
	}
	return true;
}

static size_t path_depth(const char *s)
{
	size_t d = 0;
	for (; *s; s++)
		d += *s == '/' && s[1];
	return d;
}

static int parse_path(const char *opt, const char *v, const char **out, ferry_error *err)
{
	if (!valid_path(v))
		return ferry_error_set(
		    err, FERRY_E_INVALID,
		    "--%s \"%s\": expected an absolute path without \".\", \"..\" or \"//\"", opt,
		    v);
	*out = v;
	return 0;
}

static int parse_id(const char *opt, const char *v, unsigned long long *out, ferry_error *err)
{
	if (str_to_u64(v, 0xfffffffeull, out) < 0)
		return ferry_error_set(err, FERRY_E_INVALID, "--%s \"%s\": expected a number", opt,
		                       v);
	return 0;
}

static int parse_fd(const char *opt, const char *v, int *out, ferry_error *err)
{
	unsigned long long n;

	if (str_to_u64(v, 1023, &n) < 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--%s \"%s\": expected a descriptor number", opt, v);
	if (fcntl((int)n, F_GETFD) < 0)
		return ferry_error_set(err, FERRY_E_INVALID, "--%s %llu: descriptor is not open",
		                       opt, n);
	*out = (int)n;
	return 0;
}

int policy_parse_size(const char *s, uint64_t *out, ferry_error *err)
{
	char num[32];
	size_t n = strlen(s);
	unsigned long long v, mult = 1;

	if (n == 0 || n >= sizeof(num))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--memory \"%s\": expected a size such as 256M", s);
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'K':
	case 'k':
		mult = 1ull << 10;
		num[--n] = 0;
		break;
	case 'M':
	case 'm':
		mult = 1ull << 20;
		num[--n] = 0;
		break;
	case 'G':
	case 'g':
		mult = 1ull << 30;
		num[--n] = 0;
		break;
	case 'T':
	case 't':
		mult = 1ull << 40;
		num[--n] = 0;
		break;
	default:
		break;
	}
	if (str_to_u64(num, MEMORY_MAX, &v) < 0 || v > MEMORY_MAX / mult)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--memory \"%s\": expected a size such as 256M", s);
	v *= mult;
	if (v < MEMORY_MIN)
		return ferry_error_set(err, FERRY_E_INVALID, "--memory \"%s\": at least 4M", s);
	*out = v;
	return 0;
}

int policy_parse_cpu(const char *s, uint64_t *quota_us, ferry_error *err)
{
	char num[16];
	size_t n = strlen(s);
	unsigned long long pct;

	if (n < 2 || n >= sizeof(num) || s[n - 1] != '%')
		return ferry_error_set(
		    err, FERRY_E_INVALID,
		    "--cpu \"%s\": expected a percentage of one CPU such as 50%%", s);
	memcpy(num, s, n - 1);
	num[n - 1] = 0;
	if (str_to_u64(num, 100000, &pct) < 0 || pct == 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--cpu \"%s\": expected 1%% to 100000%%", s);
	*quota_us = pct * CPU_PERIOD_US / 100;
	return 0;
}

static int add_plug(struct confine_policy *p, const char *name, ferry_error *err)
{
	const struct iface *f = iface_find(name);

	if (!f) {
		/* the same names as the table (tests/unit/test_confine.c) */
		const char *hint = str_did_you_mean(name, pkg_interfaces);
		if (hint)
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "--plug \"%s\": no such interface; did you mean \"%s\"?", name, hint);
		return ferry_error_set(
		    err, FERRY_E_INVALID,
		    "--plug \"%s\": no such interface (ferry-confine --list-interfaces)", name);
	}
	for (size_t i = 0; i < p->n_plugs; i++)
		if (p->plugs[i] == f)
			return 0;
	if (p->n_plugs >= CONFINE_MAX_PLUGS)
		return ferry_error_set(err, FERRY_E_LIMIT, "--plug: at most %d", CONFINE_MAX_PLUGS);
	p->plugs[p->n_plugs++] = f;
	return 0;
}

static int add_env(struct confine_policy *p, const char *kv, ferry_error *err)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : 0;

	if (!eq || klen == 0 || strlen(kv) > ENV_MAX_LEN)
		return ferry_error_set(err, FERRY_E_INVALID, "--env \"%.64s\": expected KEY=VALUE",
		                       kv);
	for (size_t i = 0; i < klen; i++) {
		char c = kv[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
		      (i > 0 && c >= '0' && c <= '9')))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "--env \"%.64s\": invalid variable name", kv);
	}
	if (str_has_prefix(kv, "FERRY=") || str_has_prefix(kv, "FERRY_"))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--env \"%.64s\": FERRY variables are set by ferry-confine",
		                       kv);
	if (p->n_env >= CONFINE_MAX_ENV)
		return ferry_error_set(err, FERRY_E_LIMIT, "--env: at most %d", CONFINE_MAX_ENV);
	p->env[p->n_env++] = kv;
	return 0;
}

static int parse_cgroup_parent(const char *v, const char **out, ferry_error *err)
{
	size_t n = strlen(v);

	while (*v == '/')
		v++, n--;
	if (n == 0 || n > 256)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '/'))
			goto bad;
		if ((i == 0 || v[i - 1] == '/') && (c == '.' || c == '/'))
			goto bad;
	}
	if (v[n - 1] == '/')
		goto bad;
	*out = v;
	return 0;
bad:
	return ferry_error_set(
	    err, FERRY_E_INVALID,
	    "--cgroup-parent \"%s\": expected a relative path of names such as ferry or "
	    "system.slice/ferryd.service/apps",
	    v);
}

int policy_parse(struct confine_policy *p, int argc, char **argv, bool *done, ferry_error *err)
{
	unsigned long long n;
	bool have_uid = false, have_gid = false, have_rev = false;
	int c, r;

	memset(p, 0, sizeof(*p));
	p->state_dir = CONFINE_DEFAULT_STATE_DIR;
	p->run_dir = CONFINE_DEFAULT_RUN_DIR;
	p->cgroup_parent = CONFINE_DEFAULT_CGROUP_PARENT;
	p->log_fd = 2;
	p->status_fd = -1;
	p->unprivileged = geteuid() != 0;
	*done = false;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		const char *v = optarg;
		r = 0;
		switch (c) {
		case OPT_NAME:
			if (!pkg_name_valid(v))
				return ferry_error_set(err, FERRY_E_INVALID,
				                       "--name \"%s\": expected a package name: %s",
				                       v, pkg_name_problem(v, PKG_NAME_MIN));
			p->name = v;
			break;
		case OPT_APP:
			/* a hook runs as the app "hook.HOOK" */
			p->hook = str_has_prefix(v, "hook.") ? v + 5 : NULL;
			if (!pkg_app_name_valid(p->hook ? p->hook : v))
				return ferry_error_set(
				    err, FERRY_E_INVALID,
				    "--app \"%s\": expected an app name or hook.HOOK: %s", v,
				    pkg_name_problem(p->hook ? p->hook : v, PKG_APP_NAME_MIN));
			p->app = v;
			break;
		case OPT_REVISION:
			/* a store revision, or xN: installed from a file */
			if (str_to_u64(v + (v[0] == 'x'), 1ull << 40, &n) < 0 || n == 0)
				return ferry_error_set(
				    err, FERRY_E_INVALID,
				    "--revision \"%s\": expected a positive integer, or x and one",
				    v);
			p->revision = v;
			have_rev = true;
			break;
		case OPT_NOTIFY_SOCKET:
			r = parse_path("notify-socket", v, &p->notify_socket, err);
			break;
		case OPT_CONFIG_FILE:
			r = parse_path("config-file", v, &p->config_file, err);
			break;
		case OPT_CTL_SOCKET:
			r = parse_path("ctl-socket", v, &p->ctl_socket, err);
			break;
		case OPT_CTL_TOOL:
			r = parse_path("ctl-tool", v, &p->ctl_tool, err);
			break;
		case OPT_FORKING:
			p->forking = true;
			break;
		case OPT_PKG_DIR:
			r = parse_path("pkg-dir", v, &p->pkg_dir, err);
			break;
		case OPT_BASE:
			r = parse_path("base", v, &p->base_dir, err);
			break;
		case OPT_DATA:
			r = parse_path("data", v, &p->data_dir, err);
			break;
		case OPT_COMMON:
			r = parse_path("common", v, &p->common_dir, err);
			break;
		case OPT_STATE_DIR:
		case OPT_RUN_DIR:
			r = parse_path(c == OPT_STATE_DIR ? "state-dir" : "run-dir", v,
			               c == OPT_STATE_DIR ? &p->state_dir : &p->run_dir, err);
			if (r == 0 && (strcmp(v, "/") == 0 || path_depth(v) < 2))
				return ferry_error_set(
				    err, FERRY_E_INVALID,
				    "--%s \"%s\": expected a directory at least two levels deep",
				    c == OPT_STATE_DIR ? "state-dir" : "run-dir", v);
			break;
		case OPT_CGROUP_PARENT:
			r = parse_cgroup_parent(v, &p->cgroup_parent, err);
			break;
		case OPT_UID:
			r = parse_id("uid", v, &n, err);
			p->uid = (uid_t)n;
			have_uid = true;
			break;
		case OPT_GID:
			r = parse_id("gid", v, &n, err);
			p->gid = (gid_t)n;
			have_gid = true;
			break;
		case OPT_PLUG:
			r = add_plug(p, v, err);
			break;
		case OPT_MEMORY:
			r = policy_parse_size(v, &p->memory_max, err);
			break;
		case OPT_PIDS:
			if (str_to_u64(v, PIDS_MAX, &n) < 0 || n == 0)
				return ferry_error_set(err, FERRY_E_INVALID,
				                       "--pids \"%s\": expected 1 to %llu", v,
				                       PIDS_MAX);
			p->pids_max = n;
			break;
		case OPT_CPU:
			r = policy_parse_cpu(v, &p->cpu_quota_us, err);
			break;
		case OPT_DEVMODE:
			p->devmode = true;
			break;
		case OPT_ENV:
			r = add_env(p, v, err);
			break;
		case OPT_LOG_FD:
			r = parse_fd("log-fd", v, &p->log_fd, err);
			break;
		case OPT_STATUS_FD:
			r = parse_fd("status-fd", v, &p->status_fd, err);
			break;
		case OPT_LOG_LEVEL: {
			int l = log_level_parse(v);
			if (l < 0)
				return ferry_error_set(
				    err, FERRY_E_INVALID,
				    "--log-level \"%s\": expected error, warn, info or debug", v);
			log_set_level((enum log_level)l);
			break;
		}
		case OPT_DRY_RUN:
			p->dry_run = true;
			break;
		case OPT_LIST_IFACES:
			iface_print_markdown(stdout);
			*done = true;
			return 0;
		case OPT_VERSION:
			printf("ferry-confine %s\n", FERRY_VERSION);
			*done = true;
			return 0;
		case OPT_HELP:
			fputs(usage, stdout);
			*done = true;
			return 0;
		case ':':
			return ferry_error_set(err, FERRY_E_INVALID, "%s: needs a value\n%s",
			                       argv[optind - 1], usage);
		default:
			return ferry_error_set(err, FERRY_E_INVALID, "unknown option \"%s\"\n%s",
			                       argv[optind - 1], usage);
		}
		if (r < 0)
			return r;
	}
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "unknown verb \"%s\"; the command follows \"--\"\n%s",
		                       argv[optind], usage);
	if (optind >= argc)
		return ferry_error_set(err, FERRY_E_INVALID, "no command: give it after \"--\"\n%s",
		                       usage);
	p->argv = argv + optind;

	const char *missing = !p->name         ? "--name"
	                      : !p->app        ? "--app"
	                      : !have_rev      ? "--revision"
	                      : !p->pkg_dir    ? "--pkg-dir"
	                      : !p->data_dir   ? "--data"
	                      : !p->common_dir ? "--common"
	                                       : NULL;
	if (!missing && !p->unprivileged)
		missing = !have_uid ? "--uid" : !have_gid ? "--gid" : NULL;
	if (missing)
		return ferry_error_set(err, FERRY_E_INVALID, "%s is required\n%s", missing, usage);

	if (p->unprivileged) {
		/* A user namespace can map only our own ids (docs/formats/confine.md). */
		if (have_uid && p->uid != geteuid())
			return ferry_error_set(err, FERRY_E_PERM,
			                       "--uid %u: not running as root, the app can only "
			                       "run as your own uid (%u)",
			                       (unsigned)p->uid, (unsigned)geteuid());
		if (have_gid && p->gid != getegid())
			return ferry_error_set(err, FERRY_E_PERM,
			                       "--gid %u: not running as root, the app can only "
			                       "run as your own gid (%u)",
			                       (unsigned)p->gid, (unsigned)getegid());
		p->uid = geteuid();
		p->gid = getegid();
	} else if (p->uid == 0 || p->gid == 0) {
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--uid %u --gid %u: an app never runs as root",
		                       (unsigned)p->uid, (unsigned)p->gid);
	}
	return 0;
}

int policy_finish(struct confine_policy *p, ferry_error *err)
{
	if (str_printf(p->label, sizeof(p->label), "%s.%s", p->name, p->app) < 0 ||
	    str_printf(p->sandbox_pkg, sizeof(p->sandbox_pkg), "%s/%s", CONFINE_SANDBOX_TOP,
	               p->name) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "name too long");

	for (size_t i = 0; i < p->n_plugs; i++) {
		const struct iface *f = p->plugs[i];
		p->lifts |= f->lifts;
		p->flags |= f->flags;
		for (size_t j = 0; j < ARRAY_SIZE(f->caps) && f->caps[j] >= 0; j++)
			p->caps_keep |= 1ull << f->caps[j];
		for (size_t j = 0; j < ARRAY_SIZE(f->groups) && f->groups[j]; j++) {
			struct group gr, *res = NULL;
			char buf[4096];
			bool dup = false;
			if (getgrnam_r(f->groups[j], &gr, buf, sizeof(buf), &res) != 0 || !res) {
				log_debug("%s: group %s does not exist here; not added", f->name,
				          f->groups[j]);
				continue;
			}
			for (size_t k = 0; k < p->n_groups; k++)
				dup |= p->groups[k] == res->gr_gid;
			if (dup)
				continue;
			if (p->n_groups >= CONFINE_MAX_GROUPS)
				return ferry_error_set(err, FERRY_E_LIMIT,
				                       "too many supplementary groups");
			p->groups[p->n_groups++] = res->gr_gid;
		}
	}
	if (p->unprivileged && p->caps_keep)
		log_warn("%s: not running as root: capabilities granted by interfaces hold only "
		         "inside the "
		         "sandbox's user namespace",
		         p->label);
	return 0;
}
