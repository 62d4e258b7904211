/* fuzz_tuf_metadata.c: TUF metadata parsing and verification on untrusted
 * bytes. Each input is parsed as every role type; what parses is verified
 * against a fixed root (tests/fuzz/corpus/tuf_metadata/root.json, signed
 * with the test keys), delegations are matched against a few paths and
 * verified with the delegator's keys, and the canonical form of any JSON
 * input must be stable (encoding what it encodes gives the same bytes
 * whenever the canonical form is itself JSON). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "tuf/cjson.h"
#include "tuf/metadata.h"

static const char fixed_root[] =
    "{\"signatures\":[{\"keyid\":\"f53a5cefc725c3b7c1c80d80cf57928344f244d4af3b8ca1e8e8a72c8638"
    "fe47\",\"sig\":\"2715988a77984a65c88356c67c9907bc8016551eacd0e22577425228f4396204b9856accc"
    "5cf6816cb007cf6057110ba15afba5fe0f1c8f7c394ca641a19ed0e\"}],\"signed\":{\"_type\":\"root\""
    ",\"consistent_snapshot\":true,\"expires\":\"2099-01-01T00:00:00Z\",\"keys\":{\"1e1700aacf1"
    "f6ea42dc591305078dd77014006395c3f7ec5e226017338d0fe4d\":{\"keytype\":\"ecdsa\",\"keyval\":"
    "{\"public\":\"-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWPL6xwUTUwq"
    "E3sRR4NGltGhsR9Pe\\nLwGgmqtzBqVLLf88n+RdfjEJVccHerVmfRM/XNo7WVW4802PXqnTer1Elw==\\n-----EN"
    "D PUBLIC KEY-----\\n\"},\"scheme\":\"ecdsa-sha2-nistp256\"},\"8846185fabd76dfdbc9d9760ecae"
    "b997b349ae360385084f63cfa3e4df68d594\":{\"keytype\":\"rsa\",\"keyval\":{\"public\":\"-----"
    "BEGIN PUBLIC KEY-----\\nMIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEA2i9XDmxzRAOXGSHTwT1l\\n"
    "QfZi6RnzTfEjNILKXIKPDVIhGamnSI1DVwI9SZYQNZrVXMrOrCCHWNPtDV2tImXU\\n6TIbj99GfxVbCbNceB7IODN"
    "id4ZROq2KGebiD8kumhUJup1gk/w9CWikrOf8wpzN\\nAAEXCUjUEwkTDBfl4fuNAcPeyNJdH8yJSn0n0MureuJ/aT"
    "FyKnRXSSjl4Y1kZwK9\\nx6835nOGxglx0BLEPHx7L884fmzIRZsUQGR2wNWWalXE1gTvkdhiAeLGnks51Xax\\nM5"
    "LOhbEffTNvWOnAZSWu5ChCTeR3VPOwbBHbKLreDeFDqGHwW6ntS8QJY2HwoRnN\\nDUM1ebcyVXh6yvTmjBeZ/dGc6"
    "x9+e6w4JT+xNuABIi2ivhSsG4k7JehPYU6p5ltK\\nhTv/XF36XQYnXlR+PDbkBiIEOcUu+uSylHXsfUx/q0/xTx9f"
    "xKs9cdLzUDtHYcLR\\n3EoEiNx+EYhZx96O+STaqQ+LzBA1i6kXbwy0WF5KyRLbAgMBAAE=\\n-----END PUBLIC "
    "KEY-----\\n\"},\"scheme\":\"rsassa-pss-sha256\"},\"f53a5cefc725c3b7c1c80d80cf57928344f244d"
    "4af3b8ca1e8e8a72c8638fe47\":{\"keytype\":\"ed25519\",\"keyval\":{\"public\":\"ab092cabfe65"
    "f928e649ba5b90cd01e2414d4e9a9c6db1ab29597d329a8eaf92\"},\"scheme\":\"ed25519\"}},\"roles\""
    ":{\"root\":{\"keyids\":[\"f53a5cefc725c3b7c1c80d80cf57928344f244d4af3b8ca1e8e8a72c8638fe47"
    "\"],\"threshold\":1},\"snapshot\":{\"keyids\":[\"8846185fabd76dfdbc9d9760ecaeb997b349ae360"
    "385084f63cfa3e4df68d594\"],\"threshold\":1},\"targets\":{\"keyids\":[\"f53a5cefc725c3b7c1c"
    "80d80cf57928344f244d4af3b8ca1e8e8a72c8638fe47\"],\"threshold\":1},\"timestamp\":{\"keyids\""
    ":[\"1e1700aacf1f6ea42dc591305078dd77014006395c3f7ec5e226017338d0fe4d\"],\"threshold\":1}},"
    "\"spec_version\":\"1.0.31\",\"version\":1}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tuf_metadata *root;
static volatile int sink; /* results are only looked at, never trusted */

static void check_canonical(const uint8_t *data, size_t size)
{
	_cleanup_json_ json_t *v = NULL;
	if (tuf_json_parse(data, size, NULL, &v, NULL) < 0)
		return;
	_cleanup_free_ char *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	if (tuf_cjson_dump(v, &a, &alen, NULL) < 0)
		return;
	_cleanup_json_ json_t *w = NULL;
	/* Canonical JSON writes control characters raw, so it is not always
	 * JSON; when it is, it must be a fixed point. */
	if (tuf_json_parse(a, alen, NULL, &w, NULL) < 0)
		return;
	if (tuf_cjson_dump(w, &b, &blen, NULL) < 0 || alen != blen || memcmp(a, b, alen) != 0)
		abort(); /* and be a fixed point */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!root &&
	    tuf_metadata_parse(fixed_root, sizeof(fixed_root) - 1, TUF_ROLE_ROOT, &root, NULL) < 0)
		abort();
	check_canonical(data, size);
	static const char *paths[] = {"app_1_amd64.ferry", "channels/app.json", "a/b/c", "abc", ""};
	for (int type = 0; type < TUF_TOP_ROLES; type++) {
		_cleanup_metadata_ struct tuf_metadata *md = NULL;
		if (tuf_metadata_parse(data, size, (enum tuf_role)type, &md, NULL) < 0)
			continue;
		sink += tuf_verify_threshold(md, &root->root.keys, &root->root.roles[type],
		                             tuf_role_name((enum tuf_role)type), NULL);
		(void)tuf_metadata_expired(md, 0);
		if (type == TUF_ROLE_ROOT)
			sink += tuf_verify_threshold(md, &md->root.keys,
			                             &md->root.roles[TUF_ROLE_ROOT], "root", NULL);
		if (type == TUF_ROLE_SNAPSHOT)
			(void)tuf_snapshot_find(md, "targets.json");
		if (type != TUF_ROLE_TARGETS)
			continue;
		const struct tuf_delegations *d = md->targets.delegations;
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			const struct tuf_target *t = tuf_targets_find(md, paths[i]);
			if (t)
				sink += tuf_check_length_hashes("x", 1, true, t->length, &t->hashes,
				                                true, paths[i], NULL);
			struct tuf_role_match m[4];
			int n = tuf_delegations_match(d, paths[i], m, 4, NULL);
			for (int j = 0; j < n; j++)
				sink +=
				    tuf_verify_threshold(md, &d->keys, m[j].keys, m[j].name, NULL);
		}
	}
	return 0;
}
