/* tuf-repo-tool: drives the TUF repository writer (lib/tuf/repo.h) from the
 * command line, for system tests and benchmarks. Not installed: the store
 * calls the library itself. One verb per run; every verb that edits commits.
 *
 *   init DIR [--bin-digits D] [--key-type ed25519|ecdsa|rsa] [--sha512]
 *            [--shared-package-keys]
 *            [--keys KIND=N/T]... [--expires KIND=SECONDS]...
 *   add-package DIR NAME...
 *   add-target DIR PACKAGE FILE SRC [--custom JSON]
 *   remove-target DIR PACKAGE FILE
 *   rotate DIR ROLE [--keys N] [--threshold T]
 *   resign DIR [--within SECONDS] [--all]
 *   touch DIR ROLE [--expires-in SECONDS]     (negative: already expired)
 *   version DIR ROLE
 *   target-path PACKAGE FILE
 *   populate DIR COUNT [--start I]  packages p0..: channels.json and an image
 *
 * KIND is root, targets, snapshot, timestamp, bins or packages. Exit 0 on
 * success, 1 with a message on standard error otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "tuf/cjson.h"
#include "tuf/repo.h"

static int usage(void)
{
	fprintf(stderr, "usage: tuf-repo-tool init|add-package|add-target|remove-target|rotate|"
	                "resign|touch|version|target-path|populate ...\n");
	return 2;
}

static int fail(const char *verb, const ferry_error *err)
{
	fprintf(stderr, "tuf-repo-tool %s: %s\n", verb, ferry_error_msg(err));
	return 1;
}

static const char *opt_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "tuf-repo-tool: %s needs a value\n", argv[*i]);
		exit(2);
	}
	return argv[++*i];
}

static long long parse_ll(const char *s)
{
	char *end = NULL;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end) {
		fprintf(stderr, "tuf-repo-tool: '%s': expected an integer\n", s);
		exit(2);
	}
	return v;
}

static int kind_arg(const char *s, const char **rest)
{
	const char *eq = strchr(s, '=');
	char name[32];
	if (!eq || (size_t)(eq - s) >= sizeof(name))
		return -1;
	memcpy(name, s, (size_t)(eq - s));
	name[eq - s] = '\0';
	*rest = eq + 1;
	return tuf_repo_kind_from_name(name);
}

static int cmd_init(int argc, char **argv)
{
	struct tuf_repo_config cfg;
	tuf_repo_config_default(&cfg);
	ferry_error err = {0};
	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i++) {
		const char *rest = NULL;
		if (str_eq(argv[i], "--bin-digits")) {
			cfg.bin_digits = (unsigned)parse_ll(opt_value(argc, argv, &i));
		} else if (str_eq(argv[i], "--sha512")) {
			cfg.sha512 = true;
		} else if (str_eq(argv[i], "--shared-package-keys")) {
			cfg.shared_package_keys = true;
		} else if (str_eq(argv[i], "--key-type")) {
			const char *t = opt_value(argc, argv, &i);
			cfg.key_type = str_eq(t, "rsa")     ? CRYPTO_KEY_RSA
			               : str_eq(t, "ecdsa") ? CRYPTO_KEY_ECDSA_P256
			                                    : CRYPTO_KEY_ED25519;
		} else if (str_eq(argv[i], "--keys")) {
			int k = kind_arg(opt_value(argc, argv, &i), &rest);
			unsigned n = 0, t = 0;
			if (k < 0 || sscanf(rest, "%u/%u", &n, &t) != 2)
				return usage();
			cfg.nkeys[k] = n;
			cfg.threshold[k] = t;
		} else if (str_eq(argv[i], "--expires")) {
			int k = kind_arg(opt_value(argc, argv, &i), &rest);
			if (k < 0)
				return usage();
			cfg.expires_s[k] = parse_ll(rest);
		} else {
			return usage();
		}
	}
	if (tuf_repo_init(argv[1], &cfg, &err) < 0)
		return fail("init", &err);
	return 0;
}

/* Open argv[1], run fn, commit. */
static int edit(const char *verb, const char *dir,
                int (*fn)(struct tuf_repo *, void *, ferry_error *), void *ctx)
{
	ferry_error err = {0};
	struct tuf_repo *repo = NULL;
	int rc = tuf_repo_open(dir, &repo, &err);
	if (rc == 0)
		rc = fn(repo, ctx, &err);
	if (rc == 0)
		rc = tuf_repo_commit(repo, &err);
	tuf_repo_close(repo);
	return rc < 0 ? fail(verb, &err) : 0;
}

struct args {
	int argc;
	char **argv;
};

static int do_add_package(struct tuf_repo *repo, void *ctx, ferry_error *err)
{
	struct args *a = ctx;
	for (int i = 2; i < a->argc; i++) {
		int rc = tuf_repo_add_package(repo, a->argv[i], NULL, 0, 0, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int do_add_target(struct tuf_repo *repo, void *ctx, ferry_error *err)
{
	struct args *a = ctx;
	_cleanup_json_ json_t *custom = NULL;
	if (a->argc < 5)
		return ferry_error_set(err, FERRY_E_INVALID, "expected DIR PACKAGE FILE SRC");
	for (int i = 5; i < a->argc; i++) {
		if (str_eq(a->argv[i], "--custom") && i + 1 < a->argc) {
			const char *s = a->argv[++i];
			int rc = tuf_json_parse(s, strlen(s), NULL, &custom, err);
			if (rc < 0)
				return rc;
		} else {
			return ferry_error_set(err, FERRY_E_INVALID, "unknown option %s",
			                       a->argv[i]);
		}
	}
	return tuf_repo_add_target_file(repo, a->argv[2], a->argv[3], a->argv[4], custom, err);
}

static int do_remove_target(struct tuf_repo *repo, void *ctx, ferry_error *err)
{
	struct args *a = ctx;
	if (a->argc != 4)
		return ferry_error_set(err, FERRY_E_INVALID, "expected DIR PACKAGE FILE");
	return tuf_repo_remove_target(repo, a->argv[2], a->argv[3], err);
}

static int do_rotate(struct tuf_repo *repo, void *ctx, ferry_error *err)
{
	struct args *a = ctx;
	long long n = 1, t = 1;
	if (a->argc < 3)
		return ferry_error_set(err, FERRY_E_INVALID, "expected DIR ROLE");
	for (int i = 3; i < a->argc; i++) {
		if (str_eq(a->argv[i], "--keys"))
			n = parse_ll(opt_value(a->argc, a->argv, &i));
		else if (str_eq(a->argv[i], "--threshold"))
			t = parse_ll(opt_value(a->argc, a->argv, &i));
		else
			return ferry_error_set(err, FERRY_E_INVALID, "unknown option %s",
			                       a->argv[i]);
	}
	if (n < 1 || n > 16 || t < 1 || t > n)
		return ferry_error_set(err, FERRY_E_INVALID, "expected 1..16 keys, threshold 1..N");
	return tuf_repo_rotate_keys(repo, a->argv[2], (size_t)n, (unsigned)t, err);
}

static int do_resign(struct tuf_repo *repo, void *ctx, ferry_error *err)
{
	struct args *a = ctx;
	long long within = 6 * 3600;
	bool all = false;
	for (int i = 2; i < a->argc; i++) {
		if (str_eq(a->argv[i], "--within"))
			within = parse_ll(opt_value(a->argc, a->argv, &i));
		else if (str_eq(a->argv[i], "--all"))
			all = true;
		else
			return ferry_error_set(err, FERRY_E_INVALID, "unknown option %s",
			                       a->argv[i]);
	}
	size_t n = 0;
	int rc = tuf_repo_resign_expiring(repo, within, all, &n, err);
	if (rc == 0)
		printf("%zu roles re-signed\n", n);
	return rc;
}

static int do_touch(struct tuf_repo *repo, void *ctx, ferry_error *err)
{
	struct args *a = ctx;
	time_t expires = 0;
	if (a->argc < 3)
		return ferry_error_set(err, FERRY_E_INVALID, "expected DIR ROLE");
	for (int i = 3; i < a->argc; i++) {
		if (str_eq(a->argv[i], "--expires-in"))
			expires = time(NULL) + (time_t)parse_ll(opt_value(a->argc, a->argv, &i));
		else
			return ferry_error_set(err, FERRY_E_INVALID, "unknown option %s",
			                       a->argv[i]);
	}
	return tuf_repo_touch(repo, a->argv[2], expires, err);
}

static int do_populate(struct tuf_repo *repo, void *ctx, ferry_error *err)
{
	struct args *a = ctx;
	if (a->argc < 3)
		return ferry_error_set(err, FERRY_E_INVALID, "expected DIR COUNT");
	long long count = parse_ll(a->argv[2]), start = 0;
	for (int i = 3; i < a->argc; i++) {
		if (str_eq(a->argv[i], "--start"))
			start = parse_ll(opt_value(a->argc, a->argv, &i));
		else
			return ferry_error_set(err, FERRY_E_INVALID, "unknown option %s",
			                       a->argv[i]);
	}
	for (long long i = start; i < start + count; i++) {
		char name[32], image[64], map[256];
		snprintf(name, sizeof(name), "p%lld", i);
		snprintf(image, sizeof(image), "%s_1_amd64.ferry", name);
		int n = snprintf(map, sizeof(map),
		                 "{\"package\":\"%s\",\"channels\":{\"latest/stable\":1}}\n", name);
		int rc = tuf_repo_add_package(repo, name, NULL, 0, 0, err);
		if (rc == 0)
			rc = tuf_repo_add_target(repo, name, "channels.json", map, (size_t)n, NULL,
			                         err);
		if (rc == 0)
			rc = tuf_repo_add_target(repo, name, image, name, strlen(name), NULL, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *verb = argv[1];
	struct args a = {argc - 1, argv + 1};
	if (str_eq(verb, "init"))
		return cmd_init(argc - 1, argv + 1);
	if (str_eq(verb, "target-path")) {
		char path[512];
		ferry_error err = {0};
		if (argc != 4)
			return usage();
		if (tuf_repo_target_path(argv[2], argv[3], path, sizeof(path), &err) < 0)
			return fail(verb, &err);
		printf("%s\n", path);
		return 0;
	}
	if (argc < 3)
		return usage();
	if (str_eq(verb, "version")) {
		ferry_error err = {0};
		struct tuf_repo *repo = NULL;
		long long v = 0;
		int rc = argc == 4 ? tuf_repo_open(argv[2], &repo, &err) : -1;
		if (argc != 4)
			return usage();
		if (rc == 0)
			rc = tuf_repo_version(repo, argv[3], &v, &err);
		tuf_repo_close(repo);
		if (rc < 0)
			return fail(verb, &err);
		printf("%lld\n", v);
		return 0;
	}
	static const struct {
		const char *name;
		int (*fn)(struct tuf_repo *, void *, ferry_error *);
	} verbs[] = {
	    {"add-package", do_add_package},
	    {"add-target", do_add_target},
	    {"remove-target", do_remove_target},
	    {"rotate", do_rotate},
	    {"resign", do_resign},
	    {"touch", do_touch},
	    {"populate", do_populate},
	};
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (str_eq(verb, verbs[i].name))
			return edit(verb, argv[2], verbs[i].fn, &a);
	return usage();
}
