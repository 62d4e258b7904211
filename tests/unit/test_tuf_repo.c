/* test_tuf_repo.c: lib/tuf/repo, the repository writer. Every file it
 * publishes is read back with the client's own parser (tuf/metadata.h) and
 * its signatures checked against the keys its delegator names: versions,
 * consistent-snapshot names, hashed bins, root rotation (N+1 signed by old
 * and new thresholds), thresholds, offline keys, re-signing, the lock, and
 * names that must be refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "crypto/digest.h"
#include "tuf/metadata.h"
#include "tuf/repo.h"

#include "testutil.h"

static char repodir[512];

static int setup(void **state)
{
	tu_tmpdir_setup(state);
	snprintf(repodir, sizeof(repodir), "%s/repo", tu_tmpdir);
	return 0;
}

static struct tuf_metadata *load(const char *file, enum tuf_role type)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/published/metadata/%s", repodir, file);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	ferry_error err = {0};
	if (fs_read_file(path, 64 << 20, &data, &len, &err) < 0)
		fail_msg("%s", err.msg);
	struct tuf_metadata *md = NULL;
	if (tuf_metadata_parse(data, len, type, &md, &err) < 0)
		fail_msg("%s: %s", file, err.msg);
	return md;
}

static void assert_root_signed(const struct tuf_metadata *md, const struct tuf_metadata *by)
{
	ferry_error err = {0};
	if (tuf_verify_threshold(md, &by->root.keys, &by->root.roles[TUF_ROLE_ROOT], "root", &err) <
	    0)
		fail_msg("%s", err.msg);
}

static const struct tuf_delegated_role *delegation(const struct tuf_metadata *md, const char *name)
{
	assert_non_null(md->targets.delegations);
	for (size_t i = 0; i < md->targets.delegations->nroles; i++)
		if (str_eq(md->targets.delegations->roles[i].name, name))
			return &md->targets.delegations->roles[i];
	fail_msg("no delegation to %s", name);
	return NULL;
}

static long long version_of(struct tuf_repo *repo, const char *role)
{
	long long v = -1;
	ferry_error err = {0};
	if (tuf_repo_version(repo, role, &v, &err) < 0)
		fail_msg("%s", err.msg);
	return v;
}

static void init_default(struct tuf_repo_config *cfg)
{
	ferry_error err = {0};
	if (tuf_repo_init(repodir, cfg, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_init_layout_and_signatures(void **state)
{
	struct tuf_repo_config cfg;
	tuf_repo_config_default(&cfg);
	cfg.bin_digits = 1;
	init_default(&cfg);

	struct stat st;
	char path[1024];
	snprintf(path, sizeof(path), "%s/keys", repodir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	_cleanup_metadata_ struct tuf_metadata *root = load("1.root.json", TUF_ROLE_ROOT);
	assert_true(root->root.consistent_snapshot);
	assert_int_equal(root->version, 1);
	assert_root_signed(root, root);
	/* every key file is private to its owner */
	for (size_t i = 0; i < root->root.keys.n; i++) {
		snprintf(path, sizeof(path), "%s/keys/%s.pem", repodir, root->root.keys.v[i].keyid);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	/* expiries: root about a year out, timestamp a day */
	time_t now = time(NULL);
	assert_in_range(root->expires - now, 364 * 86400, 366 * 86400);
	_cleanup_metadata_ struct tuf_metadata *ts = load("timestamp.json", TUF_ROLE_TIMESTAMP);
	assert_in_range(ts->expires - now, 86000, 86400 + 60);
	ferry_error err = {0};
	assert_int_equal(tuf_verify_threshold(ts, &root->root.keys,
	                                      &root->root.roles[TUF_ROLE_TIMESTAMP], "timestamp",
	                                      &err),
	                 0);
	assert_int_equal(ts->timestamp.snapshot.version, 1);
	assert_true(ts->timestamp.snapshot.has_length);

	/* 16 bins, each delegated with one pattern, each in the snapshot */
	_cleanup_metadata_ struct tuf_metadata *targets = load("1.targets.json", TUF_ROLE_TARGETS);
	assert_int_equal(targets->targets.delegations->nroles, 16);
	const struct tuf_delegated_role *b7 = delegation(targets, "bin-7");
	assert_true(b7->terminating);
	assert_int_equal(b7->npaths, 1);
	assert_string_equal(b7->paths[0], "7*/*/*");
	_cleanup_metadata_ struct tuf_metadata *snap = load("1.snapshot.json", TUF_ROLE_SNAPSHOT);
	assert_int_equal(snap->snapshot.nmeta, 17);
	assert_non_null(tuf_snapshot_find(snap, "bin-f.json"));
}

static void test_package_target_versions(void **state)
{
	struct tuf_repo_config cfg;
	tuf_repo_config_default(&cfg);
	cfg.sha512 = true;
	init_default(&cfg);
	ferry_error err = {0};
	struct tuf_repo *repo = NULL;
	assert_int_equal(tuf_repo_open(repodir, &repo, &err), 0);
	assert_int_equal(tuf_repo_add_package(repo, "hello", NULL, 0, 0, &err), 0);
	assert_int_equal(tuf_repo_add_package(repo, "hello", NULL, 0, 0, &err), FERRY_E_EXISTS);
	assert_int_equal(tuf_repo_add_target(repo, "hello", "channels.json", "{}", 2, NULL, &err),
	                 0);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	assert_int_equal(version_of(repo, "hello"), 1);
	assert_int_equal(version_of(repo, "snapshot"), 2);
	assert_int_equal(version_of(repo, "timestamp"), 2);
	assert_int_equal(version_of(repo, "targets"), 1); /* untouched */

	char tpath[256], bin[16];
	assert_int_equal(tuf_repo_target_path("hello", "channels.json", tpath, sizeof(tpath), &err),
	                 0);
	char hex[CRYPTO_DIGEST_HEX_MAX];
	assert_int_equal(crypto_digest_hex(CRYPTO_HASH_SHA256, "hello", 5, hex, &err), 0);
	assert_memory_equal(tpath, hex, 4);
	assert_string_equal(tpath + 4, "/hello/channels.json");
	/* package names follow the manifest's rule (pkg/name.h) */
	const char *bad[] = {"a", "ab-", "a--b", "123",
	                     "abcdefghij-abcdefghij-abcdefghij-abcdefgh"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tuf_repo_target_path(bad[i], "f", tpath, sizeof(tpath), NULL),
		                 FERRY_E_INVALID);
	snprintf(bin, sizeof(bin), "bin-%.2s", hex);
	assert_int_equal(version_of(repo, bin), 2);

	/* the package role verifies against the keys its bin delegates to it */
	char file[64];
	snprintf(file, sizeof(file), "2.%s.json", bin);
	_cleanup_metadata_ struct tuf_metadata *b = load(file, TUF_ROLE_TARGETS);
	_cleanup_metadata_ struct tuf_metadata *p = load("1.pkg-hello.json", TUF_ROLE_TARGETS);
	const struct tuf_delegated_role *d = delegation(b, "pkg-hello");
	assert_true(d->terminating);
	assert_true(tuf_role_matches_path(d, tpath));
	assert_int_equal(
	    tuf_verify_threshold(p, &b->targets.delegations->keys, &d->keys, "pkg-hello", &err), 0);
	const struct tuf_target *t = tuf_targets_find(p, tpath);
	assert_non_null(t);
	assert_int_equal(t->length, 2);
	assert_int_equal(t->hashes.n, 2);
	/* stored once per hash, as HASH.NAME */
	for (size_t i = 0; i < t->hashes.n; i++) {
		char path[1024];
		_cleanup_free_ char *data = NULL;
		size_t len = 0;
		snprintf(path, sizeof(path), "%s/published/targets/%.4s/hello/%s.channels.json",
		         repodir, tpath, t->hashes.v[i].hex);
		assert_int_equal(fs_read_file(path, 100, &data, &len, &err), 0);
		assert_string_equal(data, "{}");
	}

	/* replacing the target bumps the package, not the bin */
	assert_int_equal(
	    tuf_repo_add_target(repo, "hello", "channels.json", "{\"a\":1}", 7, NULL, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	assert_int_equal(version_of(repo, "pkg-hello"), 2);
	assert_int_equal(version_of(repo, bin), 2);
	assert_int_equal(version_of(repo, "snapshot"), 3);
	/* a commit with no edit publishes nothing */
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	assert_int_equal(version_of(repo, "timestamp"), 3);

	assert_int_equal(tuf_repo_remove_target(repo, "hello", "nope", &err), FERRY_E_NOTFOUND);
	assert_int_equal(tuf_repo_add_target(repo, "nobody", "x", "x", 1, NULL, &err),
	                 FERRY_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "package nobody"));
	tuf_repo_close(repo);

	/* state survives a reopen: it is the published tree */
	assert_int_equal(tuf_repo_open(repodir, &repo, &err), 0);
	assert_int_equal(version_of(repo, "pkg-hello"), 2);
	assert_int_equal(version_of(repo, "timestamp"), 3);
	tuf_repo_close(repo);
}

static void test_lock_and_names(void **state)
{
	struct tuf_repo_config cfg;
	tuf_repo_config_default(&cfg);
	init_default(&cfg);
	ferry_error err = {0};
	struct tuf_repo *a = NULL, *b = NULL;
	assert_int_equal(tuf_repo_open(repodir, &a, &err), 0);
	assert_int_equal(tuf_repo_open(repodir, &b, &err), FERRY_E_BUSY);
	assert_non_null(strstr(err.msg, "another writer"));
	assert_int_equal(tuf_repo_add_package(a, "Bad_Name", NULL, 0, 0, &err), FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "Bad_Name"));
	assert_int_equal(tuf_repo_add_package(a, "ok", NULL, 0, 0, &err), 0);
	assert_int_equal(tuf_repo_add_target(a, "ok", ".hidden", "x", 1, NULL, &err),
	                 FERRY_E_INVALID);
	assert_int_equal(tuf_repo_add_target(a, "ok", "../x", "x", 1, NULL, &err), FERRY_E_INVALID);
	tuf_repo_close(a);
	assert_int_equal(tuf_repo_init(repodir, &cfg, &err), FERRY_E_EXISTS);
	cfg.threshold[TUF_REPO_ROOT] = 2;
	assert_int_equal(tuf_repo_init("/tmp/never-made", &cfg, &err), FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "root threshold"));
}

static void test_root_rotation_chain(void **state)
{
	struct tuf_repo_config cfg;
	tuf_repo_config_default(&cfg);
	init_default(&cfg);
	ferry_error err = {0};
	struct tuf_repo *repo = NULL;
	assert_int_equal(tuf_repo_open(repodir, &repo, &err), 0);
	assert_int_equal(tuf_repo_rotate_keys(repo, "root", 3, 2, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	assert_int_equal(tuf_repo_rotate_keys(repo, "root", 3, 2, &err), 0);
	assert_int_equal(tuf_repo_rotate_keys(repo, "timestamp", 2, 2, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	tuf_repo_close(repo);

	_cleanup_metadata_ struct tuf_metadata *r1 = load("1.root.json", TUF_ROLE_ROOT);
	_cleanup_metadata_ struct tuf_metadata *r2 = load("2.root.json", TUF_ROLE_ROOT);
	_cleanup_metadata_ struct tuf_metadata *r3 = load("3.root.json", TUF_ROLE_ROOT);
	assert_root_signed(r2, r1);
	assert_root_signed(r2, r2);
	assert_root_signed(r3, r2);
	assert_root_signed(r3, r3);
	assert_int_equal(r3->root.roles[TUF_ROLE_ROOT].threshold, 2);
	assert_int_equal(r3->root.roles[TUF_ROLE_ROOT].nkeyids, 3);
	/* version 1's keys alone cannot sign version 3 */
	assert_int_equal(
	    tuf_verify_threshold(r3, &r1->root.keys, &r1->root.roles[TUF_ROLE_ROOT], "root", &err),
	    FERRY_E_VERIFY);
	/* unused keys leave the root */
	assert_int_equal(r3->root.keys.n, 3 + 1 + 1 + 2);
	_cleanup_metadata_ struct tuf_metadata *ts = load("timestamp.json", TUF_ROLE_TIMESTAMP);
	assert_int_equal(tuf_verify_threshold(ts, &r3->root.keys,
	                                      &r3->root.roles[TUF_ROLE_TIMESTAMP], "timestamp",
	                                      &err),
	                 0);
	assert_int_equal(tuf_verify_threshold(ts, &r1->root.keys,
	                                      &r1->root.roles[TUF_ROLE_TIMESTAMP], "timestamp",
	                                      &err),
	                 FERRY_E_VERIFY);
}

static void test_offline_keys_refused(void **state)
{
	struct tuf_repo_config cfg;
	tuf_repo_config_default(&cfg);
	init_default(&cfg);
	/* take the root key offline */
	_cleanup_metadata_ struct tuf_metadata *r1 = load("1.root.json", TUF_ROLE_ROOT);
	char path[1024], away[1024];
	snprintf(path, sizeof(path), "%s/keys/%s.pem", repodir,
	         r1->root.roles[TUF_ROLE_ROOT].keyids[0]);
	snprintf(away, sizeof(away), "%s/offline.pem", tu_tmpdir);
	assert_int_equal(rename(path, away), 0);

	ferry_error err = {0};
	struct tuf_repo *repo = NULL;
	assert_int_equal(tuf_repo_open(repodir, &repo, &err), 0);
	/* online roles still work */
	assert_int_equal(tuf_repo_add_package(repo, "ab", NULL, 0, 0, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	assert_int_equal(tuf_repo_rotate_keys(repo, "snapshot", 1, 1, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), FERRY_E_PERM);
	assert_non_null(strstr(err.msg, "sign root: 0 of the 1 keys needed"));
	tuf_repo_close(repo);
	/* nothing was published by the failed commit */
	snprintf(path, sizeof(path), "%s/published/metadata/2.root.json", repodir);
	assert_false(fs_exists(path));

	/* back online: the rotation goes through */
	snprintf(path, sizeof(path), "%s/keys/%s.pem", repodir,
	         r1->root.roles[TUF_ROLE_ROOT].keyids[0]);
	assert_int_equal(rename(away, path), 0);
	assert_int_equal(tuf_repo_open(repodir, &repo, &err), 0);
	assert_int_equal(tuf_repo_rotate_keys(repo, "snapshot", 1, 1, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	assert_int_equal(version_of(repo, "root"), 2);
	tuf_repo_close(repo);
}

static void test_resign_expiring(void **state)
{
	struct tuf_repo_config cfg;
	tuf_repo_config_default(&cfg);
	cfg.expires_s[TUF_REPO_TIMESTAMP] = 600;
	init_default(&cfg);
	ferry_error err = {0};
	struct tuf_repo *repo = NULL;
	size_t n = 99;
	assert_int_equal(tuf_repo_open(repodir, &repo, &err), 0);
	assert_int_equal(tuf_repo_resign_expiring(repo, 60, false, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(tuf_repo_resign_expiring(repo, 3600, false, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	assert_int_equal(version_of(repo, "timestamp"), 2);
	assert_int_equal(version_of(repo, "snapshot"), 1);
	/* within 8 days: snapshot (7) and timestamp; with all, every role is
	 * looked at and only those that expire are re-signed */
	assert_int_equal(tuf_repo_resign_expiring(repo, 8 * 86400, true, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	assert_int_equal(version_of(repo, "snapshot"), 2);
	assert_int_equal(version_of(repo, "targets"), 1);
	/* an explicit expiry in the past is signed as asked */
	assert_int_equal(tuf_repo_touch(repo, "timestamp", time(NULL) - 10, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	tuf_repo_close(repo);
	_cleanup_metadata_ struct tuf_metadata *ts = load("timestamp.json", TUF_ROLE_TIMESTAMP);
	assert_true(tuf_metadata_expired(ts, time(NULL)));
}

static void test_package_keys_of_its_own(void **state)
{
	struct tuf_repo_config cfg;
	tuf_repo_config_default(&cfg);
	init_default(&cfg);
	ferry_error err = {0};
	struct tuf_repo *repo = NULL;
	struct crypto_key *pub_only = NULL;
	assert_int_equal(tuf_repo_open(repodir, &repo, &err), 0);
	assert_int_equal(tuf_repo_add_package(repo, "app", NULL, 0, 0, &err), 0);
	assert_int_equal(tuf_repo_add_target(repo, "app", "a.ferry", "A", 1, NULL, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	/* a publisher's key of its own, two of three */
	assert_int_equal(tuf_repo_rotate_keys(repo, "app", 3, 2, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), 0);
	assert_int_equal(version_of(repo, "app"), 2);

	/* a public key alone: the role can be delegated but not signed here */
	struct crypto_key *k = NULL;
	char *pub = NULL;
	assert_int_equal(crypto_key_generate(CRYPTO_KEY_ED25519, &k, &err), 0);
	assert_int_equal(crypto_key_public_value(k, &pub, &err), 0);
	assert_int_equal(crypto_key_from_public("ed25519", "ed25519", pub, &pub_only, &err), 0);
	free(pub);
	crypto_key_free(k);
	assert_int_equal(tuf_repo_set_keys(repo, "app", &pub_only, 1, 1, &err), 0);
	assert_int_equal(tuf_repo_commit(repo, &err), FERRY_E_PERM);
	assert_non_null(strstr(err.msg, "sign pkg-app"));
	crypto_key_free(pub_only);
	tuf_repo_close(repo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_init_layout_and_signatures, setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_package_target_versions, setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_lock_and_names, setup, tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_root_rotation_chain, setup, tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_offline_keys_refused, setup, tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_resign_expiring, setup, tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_package_keys_of_its_own, setup,
	                                    tu_tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
