/* test_tuf_metadata.c: lib/tuf/metadata: parsing and validation of each
 * role type, signature thresholds (a key counts once, however often it is
 * listed or signs; wrong-key and malformed signatures never count),
 * expiry, spec version, bounds, delegation matching (paths, hash prefixes,
 * succinct hash bins) and length/hash checks. Metadata is signed here with
 * the fixture keys of tests/data/keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "tuf/cjson.h"
#include "tuf/key.h"
#include "tuf/metadata.h"

#include "testutil.h"

static struct crypto_key *keys[3];
static char keyids[3][TUF_KEYID_HEX_LEN + 1];
static json_t *keyobjs[3];

static int setup(void **state)
{
	const char *names[] = {"ed25519", "ecdsa", "rsa"};
	for (int i = 0; i < 3; i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "keys/%s.pem", names[i]);
		size_t len = 0;
		_cleanup_free_ char *pem = tu_read_data(rel, &len);
		assert_int_equal(crypto_key_from_private_pem(pem, len, &keys[i], NULL), 0);
		assert_int_equal(tuf_keyid(keys[i], keyids[i], NULL), 0);
		assert_int_equal(tuf_key_to_json(keys[i], &keyobjs[i], NULL), 0);
	}
	return 0;
}

static int teardown(void **state)
{
	for (int i = 0; i < 3; i++) {
		crypto_key_free(keys[i]);
		json_decref(keyobjs[i]);
	}
	return 0;
}

/* Sign `signed` (stolen) with the keys whose indexes are in signers (-1
 * ends), as keyid keyids[i]; returns the serialised document. */
static char *sign_doc(json_t *signed_, const int *signers, size_t *len)
{
	_cleanup_free_ char *canon = NULL;
	size_t clen = 0;
	assert_int_equal(tuf_cjson_dump(signed_, &canon, &clen, NULL), 0);
	json_t *sigs = json_array();
	for (int i = 0; signers && signers[i] >= 0; i++) {
		unsigned char *sig = NULL;
		size_t siglen = 0;
		assert_int_equal(
		    crypto_key_sign(keys[signers[i]], canon, clen, &sig, &siglen, NULL), 0);
		char *hex = malloc(2 * siglen + 1);
		str_hex(sig, siglen, hex);
		json_array_append_new(
		    sigs, json_pack("{s:s, s:s}", "keyid", keyids[signers[i]], "sig", hex));
		free(sig);
		free(hex);
	}
	json_t *doc = json_pack("{s:o, s:o}", "signatures", sigs, "signed", signed_);
	char *out = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	*len = strlen(out);
	return out;
}

static json_t *root_signed(int threshold, const char *expires)
{
	json_t *k = json_object();
	for (int i = 0; i < 3; i++)
		json_object_set(k, keyids[i], keyobjs[i]);
	json_t *ids = json_pack("[s,s,s]", keyids[0], keyids[1], keyids[2]);
	json_t *roles = json_object();
	const char *r[] = {"root", "timestamp", "snapshot", "targets"};
	for (int i = 0; i < 4; i++)
		json_object_set_new(roles, r[i],
		                    json_pack("{s:O, s:i}", "keyids", ids, "threshold", threshold));
	json_decref(ids);
	return json_pack("{s:s, s:s, s:i, s:s, s:b, s:o, s:o, s:s}", "_type", "root",
	                 "spec_version", "1.0.31", "version", 1, "expires", expires,
	                 "consistent_snapshot", 1, "keys", k, "roles", roles, "x-custom",
	                 "kept in the signed bytes");
}

static struct tuf_metadata *parse_ok(const char *doc, size_t len, enum tuf_role type)
{
	struct tuf_metadata *md = NULL;
	ferry_error err = {0};
	if (tuf_metadata_parse(doc, len, type, &md, &err) < 0)
		fail_msg("parse: %s", err.msg);
	return md;
}

static void test_root_threshold(void **state)
{
	const int two[] = {0, 2, -1};
	size_t len = 0;
	_cleanup_free_ char *doc = sign_doc(root_signed(2, "2099-01-01T00:00:00Z"), two, &len);
	_cleanup_metadata_ struct tuf_metadata *md = parse_ok(doc, len, TUF_ROLE_ROOT);
	assert_true(md->root.consistent_snapshot);
	assert_int_equal(md->version, 1);
	assert_int_equal(md->root.keys.n, 3);
	assert_non_null(strstr(md->signed_bytes, "\"x-custom\":\"kept in the signed bytes\""));
	ferry_error err = {0};
	assert_int_equal(
	    tuf_verify_threshold(md, &md->root.keys, &md->root.roles[TUF_ROLE_ROOT], "root", &err),
	    0);
	/* threshold 3 with two signatures fails, and says so */
	md->root.roles[TUF_ROLE_ROOT].threshold = 3;
	assert_int_equal(
	    tuf_verify_threshold(md, &md->root.keys, &md->root.roles[TUF_ROLE_ROOT], "root", &err),
	    FERRY_E_VERIFY);
	assert_string_equal(err.msg, "root: 2 of 3 required signatures verified");
}

static void test_same_key_counts_once(void **state)
{
	/* key 0 listed under a second key ID and signing under both */
	json_t *s = root_signed(2, "2099-01-01T00:00:00Z");
	json_object_set(json_object_get(s, "keys"), "alias", keyobjs[0]);
	json_t *ids = json_pack("[s,s]", keyids[0], "alias");
	json_object_set_new(json_object_get(json_object_get(s, "roles"), "root"), "keyids", ids);
	const int one[] = {0, -1};
	size_t len = 0;
	_cleanup_free_ char *doc = sign_doc(s, one, &len);
	/* add the same signature again under the alias key ID */
	json_t *d = NULL;
	assert_int_equal(tuf_json_parse(doc, len, NULL, &d, NULL), 0);
	json_t *sigs = json_object_get(d, "signatures");
	json_array_append_new(sigs, json_pack("{s:s, s:O}", "keyid", "alias", "sig",
	                                      json_object_get(json_array_get(sigs, 0), "sig")));
	_cleanup_free_ char *doc2 = json_dumps(d, 0);
	_cleanup_metadata_ struct tuf_metadata *md = parse_ok(doc2, strlen(doc2), TUF_ROLE_ROOT);
	ferry_error err = {0};
	assert_int_equal(
	    tuf_verify_threshold(md, &md->root.keys, &md->root.roles[TUF_ROLE_ROOT], "root", &err),
	    FERRY_E_VERIFY);
	assert_string_equal(err.msg, "root: 1 of 2 required signatures verified");

	/* the same keyid twice in signatures is refused outright */
	json_array_append_new(sigs, json_deep_copy(json_array_get(sigs, 0)));
	_cleanup_free_ char *doc3 = json_dumps(d, 0);
	struct tuf_metadata *bad = NULL;
	assert_int_equal(tuf_metadata_parse(doc3, strlen(doc3), TUF_ROLE_ROOT, &bad, &err),
	                 FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "a second signature by key"));
	/* and a role listing one key ID twice */
	json_t *sd = json_object_get(d, "signed");
	json_array_append_new(
	    json_object_get(json_object_get(json_object_get(sd, "roles"), "root"), "keyids"),
	    json_string(keyids[0]));
	_cleanup_free_ char *doc4 = sign_doc(json_incref(sd), one, &len);
	assert_int_equal(tuf_metadata_parse(doc4, len, TUF_ROLE_ROOT, &bad, &err), FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "listed twice"));
	json_decref(d);
}

static void test_bad_signatures_never_count(void **state)
{
	const int all[] = {0, 1, 2, -1};
	size_t len = 0;
	_cleanup_free_ char *doc = sign_doc(root_signed(1, "2099-01-01T00:00:00Z"), all, &len);
	json_t *d = NULL;
	assert_int_equal(tuf_json_parse(doc, len, NULL, &d, NULL), 0);
	json_t *sigs = json_object_get(d, "signatures");
	/* empty, non-hex, and another key's signature under each key ID */
	json_object_set_new(json_array_get(sigs, 0), "sig", json_string(""));
	json_object_set_new(json_array_get(sigs, 1), "sig", json_string("zz"));
	json_object_set(json_array_get(sigs, 2), "keyid",
	                json_object_get(json_array_get(sigs, 0), "keyid"));
	json_object_set_new(json_array_get(sigs, 0), "keyid", json_string(keyids[2]));
	_cleanup_free_ char *doc2 = json_dumps(d, 0);
	json_decref(d);
	_cleanup_metadata_ struct tuf_metadata *md = parse_ok(doc2, strlen(doc2), TUF_ROLE_ROOT);
	assert_int_equal(
	    tuf_verify_threshold(md, &md->root.keys, &md->root.roles[TUF_ROLE_ROOT], "root", NULL),
	    FERRY_E_VERIFY);
}

static void test_tampered_signed_fails(void **state)
{
	const int all[] = {0, 1, 2, -1};
	size_t len = 0;
	_cleanup_free_ char *doc = sign_doc(root_signed(1, "2099-01-01T00:00:00Z"), all, &len);
	char *p = strstr(doc, "kept in the");
	p[0] = 'K';
	_cleanup_metadata_ struct tuf_metadata *md = parse_ok(doc, len, TUF_ROLE_ROOT);
	assert_int_equal(
	    tuf_verify_threshold(md, &md->root.keys, &md->root.roles[TUF_ROLE_ROOT], "root", NULL),
	    FERRY_E_VERIFY);
}

static void test_expiry_and_spec_version(void **state)
{
	size_t len = 0;
	_cleanup_free_ char *doc = sign_doc(root_signed(1, "2030-06-01T12:00:00Z"), NULL, &len);
	_cleanup_metadata_ struct tuf_metadata *md = parse_ok(doc, len, TUF_ROLE_ROOT);
	time_t t = 0;
	assert_int_equal(tuf_parse_expires("2030-06-01T12:00:00Z", &t), 0);
	assert_int_equal(md->expires, t);
	assert_false(tuf_metadata_expired(md, t - 1));
	assert_true(tuf_metadata_expired(md, t));
	assert_true(tuf_metadata_expired(md, t + 1));

	const char *bad_times[] = {"2030-06-01T12:00:00",    "2030-06-01 12:00:00Z",
	                           "2030-13-01T12:00:00Z",   "2030-02-30T12:00:00Z",
	                           "2030-06-01T12:00:00.5Z", "+030-06-01T12:00:00Z"};
	for (size_t i = 0; i < ARRAY_SIZE(bad_times); i++)
		assert_int_equal(tuf_parse_expires(bad_times[i], &t), FERRY_E_INVALID);

	ferry_error err = {0};
	struct tuf_metadata *bad = NULL;
	json_t *s = root_signed(1, "2030-06-01T12:00:00Z");
	json_object_set_new(s, "spec_version", json_string("2.0.0"));
	_cleanup_free_ char *doc2 = sign_doc(s, NULL, &len);
	assert_int_equal(tuf_metadata_parse(doc2, len, TUF_ROLE_ROOT, &bad, &err),
	                 FERRY_E_UNSUPPORTED);
	assert_string_equal(err.msg, "root: signed.spec_version: 2.0.0 is not a 1.x version");
	s = root_signed(1, "2030-06-01T12:00:00Z");
	json_object_set_new(s, "spec_version", json_string("1.0"));
	_cleanup_free_ char *doc3 = sign_doc(s, NULL, &len);
	assert_int_equal(tuf_metadata_parse(doc3, len, TUF_ROLE_ROOT, &bad, NULL), 0);
	tuf_metadata_free(bad);
}

static void test_wrong_type_and_fields(void **state)
{
	size_t len = 0;
	_cleanup_free_ char *doc = sign_doc(root_signed(1, "2030-06-01T12:00:00Z"), NULL, &len);
	ferry_error err = {0};
	struct tuf_metadata *md = NULL;
	assert_int_equal(tuf_metadata_parse(doc, len, TUF_ROLE_TIMESTAMP, &md, &err),
	                 FERRY_E_INVALID);
	assert_string_equal(err.msg, "timestamp: signed._type: is root, expected timestamp");

	json_t *s = root_signed(1, "2030-06-01T12:00:00Z");
	json_object_set_new(s, "version", json_integer(0));
	_cleanup_free_ char *doc2 = sign_doc(s, NULL, &len);
	assert_int_equal(tuf_metadata_parse(doc2, len, TUF_ROLE_ROOT, &md, &err), FERRY_E_INVALID);
	assert_string_equal(err.msg, "root: signed.version: expected an integer >= 1");

	s = root_signed(1, "2030-06-01T12:00:00Z");
	json_object_del(json_object_get(s, "roles"), "snapshot");
	_cleanup_free_ char *doc3 = sign_doc(s, NULL, &len);
	assert_int_equal(tuf_metadata_parse(doc3, len, TUF_ROLE_ROOT, &md, &err), FERRY_E_INVALID);

	/* a real number anywhere in signed has no canonical form */
	s = root_signed(1, "2030-06-01T12:00:00Z");
	json_object_set_new(s, "x-float", json_real(1.5));
	json_t *env = json_pack("{s:[], s:o}", "signatures", "signed", s);
	_cleanup_free_ char *doc4 = json_dumps(env, 0);
	json_decref(env);
	assert_int_equal(tuf_metadata_parse(doc4, strlen(doc4), TUF_ROLE_ROOT, &md, &err),
	                 FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "no real numbers"));

	/* bounds: a document nested too deep never reaches the parser */
	char deep[200];
	memset(deep, '[', sizeof(deep));
	assert_int_equal(tuf_metadata_parse(deep, sizeof(deep), TUF_ROLE_ROOT, &md, &err),
	                 FERRY_E_LIMIT);
}

static void test_timestamp_snapshot_targets(void **state)
{
	size_t len = 0;
	json_t *ts = json_pack("{s:s, s:s, s:i, s:s, s:{s:{s:i, s:i, s:{s:s}}}}", "_type",
	                       "timestamp", "spec_version", "1.0.31", "version", 7, "expires",
	                       "2099-01-01T00:00:00Z", "meta", "snapshot.json", "version", 3,
	                       "length", 10, "hashes", "sha256", "ab");
	_cleanup_free_ char *d1 = sign_doc(ts, NULL, &len);
	_cleanup_metadata_ struct tuf_metadata *t = parse_ok(d1, len, TUF_ROLE_TIMESTAMP);
	assert_int_equal(t->timestamp.snapshot.version, 3);
	assert_true(t->timestamp.snapshot.has_length);
	assert_int_equal(t->timestamp.snapshot.hashes.n, 1);

	json_t *sn =
	    json_pack("{s:s, s:s, s:i, s:s, s:{s:{s:i}, s:{s:i}}}", "_type", "snapshot",
	              "spec_version", "1.0.31", "version", 3, "expires", "2099-01-01T00:00:00Z",
	              "meta", "targets.json", "version", 5, "a.json", "version", 2);
	_cleanup_free_ char *d2 = sign_doc(sn, NULL, &len);
	_cleanup_metadata_ struct tuf_metadata *s = parse_ok(d2, len, TUF_ROLE_SNAPSHOT);
	assert_int_equal(tuf_snapshot_find(s, "targets.json")->version, 5);
	assert_null(tuf_snapshot_find(s, "b.json"));

	json_t *tg =
	    json_pack("{s:s, s:s, s:i, s:s, s:{s:{s:i, s:{s:s}, s:{s:s}}}, s:{s:{}, s:["
	              "{s:s, s:[], s:i, s:b, s:[s]},"
	              "{s:s, s:[], s:i, s:b, s:[s]},"
	              "{s:s, s:[], s:i, s:b, s:[s]},"
	              "{s:s, s:[], s:i, s:b, s:[s]}]}}",
	              "_type", "targets", "spec_version", "1.0.31", "version", 5, "expires",
	              "2099-01-01T00:00:00Z", "targets", "file.txt", "length", 3, "hashes",
	              "sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	              "custom", "x", "y", "delegations", "keys", "roles", "name", "docs", "keyids",
	              "threshold", 1, "terminating", 0, "paths", "*.md", "name", "rel", "keyids",
	              "threshold", 1, "terminating", 1, "paths", "releases/*/*", "name", "after",
	              "keyids", "threshold", 1, "terminating", 0, "paths", "*", "name", "bins",
	              "keyids", "threshold", 1, "terminating", 0, "path_hash_prefixes", "ba78");
	_cleanup_free_ char *d3 = sign_doc(tg, NULL, &len);
	_cleanup_metadata_ struct tuf_metadata *g = parse_ok(d3, len, TUF_ROLE_TARGETS);
	const struct tuf_target *f = tuf_targets_find(g, "file.txt");
	assert_non_null(f);
	assert_int_equal(f->length, 3);
	assert_non_null(f->custom);
	assert_int_equal(
	    tuf_check_length_hashes("abc", 3, true, f->length, &f->hashes, true, "file.txt", NULL),
	    0);
	ferry_error err = {0};
	assert_int_equal(
	    tuf_check_length_hashes("abd", 3, true, f->length, &f->hashes, true, "file.txt", &err),
	    FERRY_E_VERIFY);
	assert_string_equal(err.msg, "file.txt: sha256 hash does not match");
	assert_int_equal(
	    tuf_check_length_hashes("abcd", 4, true, f->length, &f->hashes, true, "file.txt", &err),
	    FERRY_E_VERIFY);
	assert_string_equal(err.msg, "file.txt: 4 bytes, expected 3");

	struct tuf_role_match m[8];
	/* "*" does not cross '/'; terminating stops the list */
	int n = tuf_delegations_match(g->targets.delegations, "README.md", m, 8, NULL);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].name, "docs");
	assert_string_equal(m[1].name, "after");
	n = tuf_delegations_match(g->targets.delegations, "releases/x/a", m, 8, NULL);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].name, "rel");
	assert_true(m[0].terminating);
	n = tuf_delegations_match(g->targets.delegations, "docs/README.md", m, 8, NULL);
	assert_int_equal(n, 0);
	/* sha256("abc") starts with ba78 */
	n = tuf_delegations_match(g->targets.delegations, "abc", m, 8, NULL);
	assert_int_equal(n, 2);
	assert_string_equal(m[1].name, "bins");
}

static void test_succinct_bins(void **state)
{
	size_t len = 0;
	json_t *tg =
	    json_pack("{s:s, s:s, s:i, s:s, s:{}, s:{s:{}, s:{s:[], s:i, s:i, s:s}}}", "_type",
	              "targets", "spec_version", "1.0.31", "version", 1, "expires",
	              "2099-01-01T00:00:00Z", "targets", "delegations", "keys", "succinct_roles",
	              "keyids", "threshold", 1, "bit_length", 10, "name_prefix", "bin");
	_cleanup_free_ char *d = sign_doc(tg, NULL, &len);
	_cleanup_metadata_ struct tuf_metadata *g = parse_ok(d, len, TUF_ROLE_TARGETS);
	struct tuf_role_match m[1];
	/* sha256("abc") = ba78...: top 10 bits 1011101001 = 0x2e9, 3 hex digits */
	assert_int_equal(tuf_delegations_match(g->targets.delegations, "abc", m, 1, NULL), 1);
	assert_string_equal(m[0].name, "bin-2e9");
	assert_true(m[0].terminating);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_root_threshold),
	    cmocka_unit_test(test_same_key_counts_once),
	    cmocka_unit_test(test_bad_signatures_never_count),
	    cmocka_unit_test(test_tampered_signed_fails),
	    cmocka_unit_test(test_expiry_and_spec_version),
	    cmocka_unit_test(test_wrong_type_and_fields),
	    cmocka_unit_test(test_timestamp_snapshot_targets),
	    cmocka_unit_test(test_succinct_bins),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
