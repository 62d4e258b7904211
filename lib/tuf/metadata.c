/* metadata.c: TUF metadata parsing, validation and signature thresholds (see
 * metadata.h). Every error names the role and the JSON field. It does not
 * fetch, store or decide trust: lib/tuf/updater.c does that. */
#include "tuf/metadata.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "tuf/key.h"

const struct tuf_json_limits tuf_metadata_limits = {
    .max_bytes = 16u << 20,
    .max_depth = 32,
    .max_values = 2000000,
};

static const char *role_names[TUF_TOP_ROLES] = {"root", "timestamp", "snapshot", "targets"};

const char *tuf_role_name(enum tuf_role role)
{
	return (unsigned)role < TUF_TOP_ROLES ? role_names[role] : "unknown";
}

bool tuf_is_top_role_name(const char *name)
{
	for (int i = 0; i < TUF_TOP_ROLES; i++)
		if (strcmp(name, role_names[i]) == 0)
			return true;
	return false;
}

/* --- small validators: each returns 0 or FERRY_E_INVALID with "FIELD: why" */

static int bad(ferry_error *err, const char *field, const char *fmt, ...) FERRY_PRINTF(3, 4);
static int bad(ferry_error *err, const char *field, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return ferry_error_set(err, FERRY_E_INVALID, "%s: %s", field, why);
}

static int get_uint(const json_t *obj, const char *key, const char *field, uint64_t min,
                    uint64_t *out, ferry_error *err)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min)
		return bad(err, field, "expected an integer >= %llu", (unsigned long long)min);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int dup_string(const json_t *v, const char *field, char **out, ferry_error *err)
{
	if (!json_is_string(v))
		return bad(err, field, "expected a string");
	*out = strndup(json_string_value(v), json_string_length(v));
	if (!*out)
		return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
	return 0;
}

int tuf_parse_expires(const char *s, time_t *out)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (!s || strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 20)
		return FERRY_E_INVALID;
	for (int i = 0; i < 19; i++) {
		bool digit = i != 4 && i != 7 && i != 10 && i != 13 && i != 16;
		if (digit != (isdigit((unsigned char)s[i]) != 0))
			return FERRY_E_INVALID;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return FERRY_E_INVALID;
	struct tm tm = {.tm_year = y - 1900,
	                .tm_mon = mo - 1,
	                .tm_mday = d,
	                .tm_hour = h,
	                .tm_min = mi,
	                .tm_sec = sec};
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d)
		return FERRY_E_INVALID;
	*out = t;
	return 0;
}

static int parse_hashes(const json_t *v, const char *field, bool required, struct tuf_hashes *out,
                        ferry_error *err)
{
	if (!v) {
		if (required)
			return bad(err, field, "missing");
		return 0;
	}
	if (!json_is_object(v) || json_object_size(v) == 0)
		return bad(err, field, "expected a non-empty object of hashes");
	if (json_object_size(v) > 16)
		return bad(err, field, "more than 16 hashes");
	out->v = calloc(json_object_size(v), sizeof(*out->v));
	if (!out->v)
		return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
	const char *alg;
	json_t *hex;
	json_object_foreach((json_t *)v, alg, hex)
	{
		struct tuf_hash *h = &out->v[out->n];
		if (!json_is_string(hex) || json_string_length(hex) == 0)
			return bad(err, field, "%.40s: expected a hex string", alg);
		h->alg = strdup(alg);
		h->hex = strdup(json_string_value(hex));
		out->n++;
		if (!h->alg || !h->hex)
			return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
	}
	return 0;
}

static void free_hashes(struct tuf_hashes *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].alg);
		free(h->v[i].hex);
	}
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

static int parse_metafile(const char *name, const json_t *v, const char *field,
                          struct tuf_metafile *out, ferry_error *err)
{
	char f[300];
	if (!json_is_object(v))
		return bad(err, field, "expected an object");
	out->name = strdup(name);
	if (!out->name)
		return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
	snprintf(f, sizeof(f), "%s.version", field);
	int rc = get_uint(v, "version", f, 1, &out->version, err);
	if (rc < 0)
		return rc;
	if (json_object_get(v, "length")) {
		snprintf(f, sizeof(f), "%s.length", field);
		rc = get_uint(v, "length", f, 0, &out->length, err);
		if (rc < 0)
			return rc;
		out->has_length = true;
	}
	snprintf(f, sizeof(f), "%s.hashes", field);
	return parse_hashes(json_object_get(v, "hashes"), f, false, &out->hashes, err);
}

static void free_metafile(struct tuf_metafile *m)
{
	free(m->name);
	free_hashes(&m->hashes);
}

static int parse_keyring(const json_t *v, const char *field, struct tuf_keyring *out,
                         ferry_error *err)
{
	if (!json_is_object(v))
		return bad(err, field, "expected an object of keys");
	if (json_object_size(v) > 4 * TUF_MAX_KEYIDS)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %d keys", field,
		                       4 * TUF_MAX_KEYIDS);
	out->v = calloc(json_object_size(v) + 1, sizeof(*out->v));
	if (!out->v)
		return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
	const char *keyid;
	json_t *obj;
	json_object_foreach((json_t *)v, keyid, obj)
	{
		struct tuf_key_entry *e = &out->v[out->n++];
		e->keyid = strdup(keyid);
		if (!e->keyid)
			return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
		if (!json_is_object(obj) || !json_is_string(json_object_get(obj, "keytype")) ||
		    !json_is_string(json_object_get(obj, "scheme")) ||
		    !json_is_object(json_object_get(obj, "keyval")) ||
		    !json_is_string(json_object_get(json_object_get(obj, "keyval"), "public")))
			return bad(err, field, "%.80s: expected keytype, scheme and keyval.public",
			           keyid);
		/* An unusable key stays NULL: it cannot sign anything. */
		if (tuf_key_from_json(obj, &e->key, NULL) < 0)
			e->key = NULL;
	}
	return 0;
}

static void free_keyring(struct tuf_keyring *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->v[i].keyid);
		crypto_key_free(k->v[i].key);
	}
	free(k->v);
	k->v = NULL;
	k->n = 0;
}

static int parse_role_keys(const json_t *v, const char *field, struct tuf_role_keys *out,
                           ferry_error *err)
{
	char f[300];
	const json_t *ids = json_object_get(v, "keyids");
	snprintf(f, sizeof(f), "%s.keyids", field);
	if (!json_is_array(ids))
		return bad(err, f, "expected an array of key IDs");
	if (json_array_size(ids) > TUF_MAX_KEYIDS)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %d key IDs", f,
		                       TUF_MAX_KEYIDS);
	out->keyids = calloc(json_array_size(ids) + 1, sizeof(char *));
	if (!out->keyids)
		return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", f);
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id)
	{
		if (!json_is_string(id))
			return bad(err, f, "expected an array of key IDs");
		for (size_t j = 0; j < out->nkeyids; j++)
			if (strcmp(out->keyids[j], json_string_value(id)) == 0)
				return bad(err, f, "key ID %.80s listed twice", out->keyids[j]);
		out->keyids[out->nkeyids] = strdup(json_string_value(id));
		if (!out->keyids[out->nkeyids++])
			return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", f);
	}
	snprintf(f, sizeof(f), "%s.threshold", field);
	int rc = get_uint(v, "threshold", f, 1, &out->threshold, err);
	if (rc < 0)
		return rc;
	if (out->threshold > TUF_MAX_THRESHOLD)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %d", f,
		                       TUF_MAX_THRESHOLD);
	return 0;
}

static void free_role_keys(struct tuf_role_keys *r)
{
	for (size_t i = 0; i < r->nkeyids; i++)
		free(r->keyids[i]);
	free(r->keyids);
	r->keyids = NULL;
	r->nkeyids = 0;
}

static int parse_string_list(const json_t *v, const char *field, char ***out, size_t *n,
                             ferry_error *err)
{
	if (!json_is_array(v))
		return bad(err, field, "expected an array of strings");
	*out = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!*out)
		return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
	size_t i;
	json_t *s;
	json_array_foreach(v, i, s)
	{
		int rc = dup_string(s, field, &(*out)[*n], err);
		if (rc < 0)
			return rc;
		(*n)++;
	}
	return 0;
}

static int parse_delegations(const json_t *v, struct tuf_delegations **out, ferry_error *err)
{
	if (!json_is_object(v))
		return bad(err, "signed.delegations", "expected an object");
	struct tuf_delegations *d = calloc(1, sizeof(*d));
	if (!d)
		return ferry_error_set(err, FERRY_E_NOMEM, "delegations: out of memory");
	*out = d; /* freed with the metadata, even half-built */
	int rc =
	    parse_keyring(json_object_get(v, "keys"), "signed.delegations.keys", &d->keys, err);
	if (rc < 0)
		return rc;
	const json_t *roles = json_object_get(v, "roles");
	const json_t *succinct = json_object_get(v, "succinct_roles");
	if ((roles != NULL) == (succinct != NULL))
		return bad(err, "signed.delegations",
		           "expected exactly one of roles and succinct_roles");
	if (succinct) {
		const char *f = "signed.delegations.succinct_roles";
		if (!json_is_object(succinct))
			return bad(err, f, "expected an object");
		d->succinct = calloc(1, sizeof(*d->succinct));
		if (!d->succinct)
			return ferry_error_set(err, FERRY_E_NOMEM, "%s: out of memory", f);
		uint64_t bits = 0;
		rc = get_uint(succinct, "bit_length",
		              "signed.delegations.succinct_roles.bit_length", 1, &bits, err);
		if (rc < 0)
			return rc;
		if (bits > 32)
			return bad(err, "signed.delegations.succinct_roles.bit_length",
			           "expected 1 to 32");
		d->succinct->bit_length = (unsigned)bits;
		rc = dup_string(json_object_get(succinct, "name_prefix"),
		                "signed.delegations.succinct_roles.name_prefix",
		                &d->succinct->name_prefix, err);
		if (rc < 0)
			return rc;
		if (strlen(d->succinct->name_prefix) > 400)
			return bad(err, "signed.delegations.succinct_roles.name_prefix",
			           "too long");
		return parse_role_keys(succinct, f, &d->succinct->keys, err);
	}
	if (!json_is_array(roles))
		return bad(err, "signed.delegations.roles", "expected an array");
	if (json_array_size(roles) > 100000)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "signed.delegations.roles: too many roles");
	d->roles = calloc(json_array_size(roles) + 1, sizeof(*d->roles));
	if (!d->roles)
		return ferry_error_set(err, FERRY_E_NOMEM, "delegations: out of memory");
	size_t i;
	json_t *r;
	json_array_foreach(roles, i, r)
	{
		char f[300];
		snprintf(f, sizeof(f), "signed.delegations.roles[%zu]", i);
		if (!json_is_object(r))
			return bad(err, f, "expected an object");
		struct tuf_delegated_role *role = &d->roles[d->nroles++];
		char fn[320];
		snprintf(fn, sizeof(fn), "%s.name", f);
		rc = dup_string(json_object_get(r, "name"), fn, &role->name, err);
		if (rc < 0)
			return rc;
		if (role->name[0] == '\0' || strlen(role->name) > 400)
			return bad(err, fn, "expected a name of 1 to 400 bytes");
		if (tuf_is_top_role_name(role->name))
			return bad(err, fn, "%s is a top-level role", role->name);
		for (size_t j = 0; j + 1 < d->nroles; j++)
			if (strcmp(d->roles[j].name, role->name) == 0)
				return bad(err, fn, "role %.80s delegated twice", role->name);
		rc = parse_role_keys(r, f, &role->keys, err);
		if (rc < 0)
			return rc;
		const json_t *term = json_object_get(r, "terminating");
		if (!json_is_boolean(term))
			return bad(err, f, "terminating: expected true or false");
		role->terminating = json_is_true(term);
		const json_t *paths = json_object_get(r, "paths");
		const json_t *prefixes = json_object_get(r, "path_hash_prefixes");
		if ((paths != NULL) == (prefixes != NULL))
			return bad(err, f, "expected exactly one of paths and path_hash_prefixes");
		snprintf(fn, sizeof(fn), "%s.%s", f, paths ? "paths" : "path_hash_prefixes");
		if (paths)
			rc = parse_string_list(paths, fn, &role->paths, &role->npaths, err);
		else
			rc = parse_string_list(prefixes, fn, &role->hash_prefixes,
			                       &role->nhash_prefixes, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void free_delegations(struct tuf_delegations *d)
{
	if (!d)
		return;
	free_keyring(&d->keys);
	for (size_t i = 0; i < d->nroles; i++) {
		struct tuf_delegated_role *r = &d->roles[i];
		free(r->name);
		free_role_keys(&r->keys);
		for (size_t j = 0; j < r->npaths; j++)
			free(r->paths[j]);
		free(r->paths);
		for (size_t j = 0; j < r->nhash_prefixes; j++)
			free(r->hash_prefixes[j]);
		free(r->hash_prefixes);
	}
	free(d->roles);
	if (d->succinct) {
		free(d->succinct->name_prefix);
		free_role_keys(&d->succinct->keys);
		free(d->succinct);
	}
	free(d);
}

static int parse_root(struct tuf_metadata *md, const json_t *s, ferry_error *err)
{
	const json_t *cs = json_object_get(s, "consistent_snapshot");
	if (cs && !json_is_boolean(cs))
		return bad(err, "signed.consistent_snapshot", "expected true or false");
	md->root.consistent_snapshot = json_is_true(cs);
	int rc = parse_keyring(json_object_get(s, "keys"), "signed.keys", &md->root.keys, err);
	if (rc < 0)
		return rc;
	const json_t *roles = json_object_get(s, "roles");
	if (!json_is_object(roles))
		return bad(err, "signed.roles", "expected an object");
	if (json_object_size(roles) != TUF_TOP_ROLES)
		return bad(err, "signed.roles",
		           "expected exactly root, timestamp, snapshot and targets");
	for (int i = 0; i < TUF_TOP_ROLES; i++) {
		char f[64];
		snprintf(f, sizeof(f), "signed.roles.%s", role_names[i]);
		const json_t *r = json_object_get(roles, role_names[i]);
		if (!json_is_object(r))
			return bad(err, f, "missing");
		rc = parse_role_keys(r, f, &md->root.roles[i], err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_timestamp(struct tuf_metadata *md, const json_t *s, ferry_error *err)
{
	const json_t *meta = json_object_get(s, "meta");
	if (!json_is_object(meta) || json_object_size(meta) != 1 ||
	    !json_object_get(meta, "snapshot.json"))
		return bad(err, "signed.meta", "expected exactly one entry, snapshot.json");
	return parse_metafile("snapshot.json", json_object_get(meta, "snapshot.json"),
	                      "signed.meta.snapshot.json", &md->timestamp.snapshot, err);
}

static int parse_snapshot(struct tuf_metadata *md, const json_t *s, ferry_error *err)
{
	const json_t *meta = json_object_get(s, "meta");
	if (!json_is_object(meta))
		return bad(err, "signed.meta", "expected an object");
	md->snapshot.meta = calloc(json_object_size(meta) + 1, sizeof(*md->snapshot.meta));
	if (!md->snapshot.meta)
		return ferry_error_set(err, FERRY_E_NOMEM, "snapshot: out of memory");
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)meta, name, v)
	{
		char f[600];
		snprintf(f, sizeof(f), "signed.meta.%.500s", name);
		int rc = parse_metafile(name, v, f, &md->snapshot.meta[md->snapshot.nmeta++], err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int parse_targets(struct tuf_metadata *md, const json_t *s, ferry_error *err)
{
	const json_t *targets = json_object_get(s, "targets");
	if (!json_is_object(targets))
		return bad(err, "signed.targets", "expected an object");
	md->targets.targets = calloc(json_object_size(targets) + 1, sizeof(*md->targets.targets));
	if (!md->targets.targets)
		return ferry_error_set(err, FERRY_E_NOMEM, "targets: out of memory");
	const char *path;
	json_t *v;
	json_object_foreach((json_t *)targets, path, v)
	{
		char f[600];
		snprintf(f, sizeof(f), "signed.targets.%.500s", path);
		struct tuf_target *t = &md->targets.targets[md->targets.ntargets++];
		t->path = strdup(path);
		if (!t->path)
			return ferry_error_set(err, FERRY_E_NOMEM, "targets: out of memory");
		if (!json_is_object(v))
			return bad(err, f, "expected an object");
		char fl[620];
		snprintf(fl, sizeof(fl), "%s.length", f);
		int rc = get_uint(v, "length", fl, 0, &t->length, err);
		if (rc < 0)
			return rc;
		snprintf(fl, sizeof(fl), "%s.hashes", f);
		rc = parse_hashes(json_object_get(v, "hashes"), fl, true, &t->hashes, err);
		if (rc < 0)
			return rc;
		t->custom = json_object_get(v, "custom");
	}
	const json_t *del = json_object_get(s, "delegations");
	if (del)
		return parse_delegations(del, &md->targets.delegations, err);
	return 0;
}

static int parse_signatures(struct tuf_metadata *md, const json_t *sigs, ferry_error *err)
{
	if (!json_is_array(sigs))
		return bad(err, "signatures", "expected an array");
	if (json_array_size(sigs) > 4 * TUF_MAX_KEYIDS)
		return ferry_error_set(err, FERRY_E_LIMIT, "signatures: more than %d",
		                       4 * TUF_MAX_KEYIDS);
	md->sigs = calloc(json_array_size(sigs) + 1, sizeof(*md->sigs));
	if (!md->sigs)
		return ferry_error_set(err, FERRY_E_NOMEM, "signatures: out of memory");
	size_t i;
	json_t *s;
	json_array_foreach(sigs, i, s)
	{
		char f[64];
		snprintf(f, sizeof(f), "signatures[%zu]", i);
		const json_t *keyid = json_object_get(s, "keyid");
		const json_t *sig = json_object_get(s, "sig");
		if (!json_is_object(s) || !json_is_string(keyid) || !json_is_string(sig))
			return bad(err, f, "expected keyid and sig strings");
		for (size_t j = 0; j < md->nsigs; j++)
			if (strcmp(md->sigs[j].keyid, json_string_value(keyid)) == 0)
				return bad(err, f, "a second signature by key %.80s",
				           md->sigs[j].keyid);
		struct tuf_signature *t = &md->sigs[md->nsigs++];
		t->keyid = strdup(json_string_value(keyid));
		if (!t->keyid)
			return ferry_error_set(err, FERRY_E_NOMEM, "signatures: out of memory");
		size_t hexlen = json_string_length(sig);
		if (hexlen > 0 && hexlen <= 2 * CRYPTO_SIG_MAX) {
			t->sig = malloc(hexlen / 2 + 1);
			if (!t->sig)
				return ferry_error_set(err, FERRY_E_NOMEM,
				                       "signatures: out of memory");
			long n =
			    crypto_hex_decode(json_string_value(sig), hexlen, t->sig, hexlen / 2);
			if (n <= 0) {
				free(t->sig);
				t->sig = NULL; /* not hex: can never verify */
			} else
				t->siglen = (size_t)n;
		}
	}
	return 0;
}

static int parse_spec_version(const char *v)
{
	/* MAJOR.MINOR[.PATCH], digits only; ferry speaks major version 1 */
	int parts = 0;
	const char *p = v;
	while (*p) {
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
		parts++;
		if (*p == '.')
			p++;
		else if (*p)
			return -1;
		else
			break;
	}
	if (parts < 2 || parts > 3 || p[-1] == '.')
		return -1;
	return strtol(v, NULL, 10) == 1 && v[0] == '1' && v[1] == '.' ? 0 : -1;
}

static int parse_doc(struct tuf_metadata *md, enum tuf_role expected, ferry_error *err)
{
	if (!json_is_object(md->doc))
		return bad(err, "metadata", "expected a JSON object");
	const json_t *s = json_object_get(md->doc, "signed");
	if (!json_is_object(s))
		return bad(err, "signed", "expected an object");
	int rc = parse_signatures(md, json_object_get(md->doc, "signatures"), err);
	if (rc < 0)
		return rc;
	const json_t *type = json_object_get(s, "_type");
	if (!json_is_string(type))
		return bad(err, "signed._type", "expected a string");
	if (strcmp(json_string_value(type), role_names[expected]) != 0)
		return bad(err, "signed._type", "is %.40s, expected %s", json_string_value(type),
		           role_names[expected]);
	md->type = expected;
	rc = dup_string(json_object_get(s, "spec_version"), "signed.spec_version",
	                &md->spec_version, err);
	if (rc < 0)
		return rc;
	if (parse_spec_version(md->spec_version) < 0)
		return ferry_error_set(err, FERRY_E_UNSUPPORTED,
		                       "signed.spec_version: %.40s is not a 1.x version",
		                       md->spec_version);
	rc = get_uint(s, "version", "signed.version", 1, &md->version, err);
	if (rc < 0)
		return rc;
	const json_t *exp = json_object_get(s, "expires");
	if (!json_is_string(exp) || tuf_parse_expires(json_string_value(exp), &md->expires) < 0)
		return bad(err, "signed.expires", "expected a time as YYYY-MM-DDTHH:MM:SSZ");
	switch (expected) {
	case TUF_ROLE_ROOT:
		rc = parse_root(md, s, err);
		break;
	case TUF_ROLE_TIMESTAMP:
		rc = parse_timestamp(md, s, err);
		break;
	case TUF_ROLE_SNAPSHOT:
		rc = parse_snapshot(md, s, err);
		break;
	case TUF_ROLE_TARGETS:
		rc = parse_targets(md, s, err);
		break;
	}
	if (rc < 0)
		return rc;
	return tuf_cjson_dump(s, &md->signed_bytes, &md->signed_len, err);
}

int tuf_metadata_parse(const void *data, size_t len, enum tuf_role expected,
                       struct tuf_metadata **out, ferry_error *err)
{
	if ((unsigned)expected >= TUF_TOP_ROLES)
		return ferry_error_set(err, FERRY_E_INTERNAL, "metadata: unknown role type");
	struct tuf_metadata *md = calloc(1, sizeof(*md));
	if (!md)
		return ferry_error_set(err, FERRY_E_NOMEM, "metadata: out of memory");
	int rc = tuf_json_parse(data, len, &tuf_metadata_limits, &md->doc, err);
	if (rc == 0)
		rc = parse_doc(md, expected, err);
	if (rc < 0) {
		tuf_metadata_free(md);
		return ferry_error_prefix(err, rc, "%s", role_names[expected]);
	}
	*out = md;
	return 0;
}

void tuf_metadata_free(struct tuf_metadata *md)
{
	if (!md)
		return;
	for (size_t i = 0; i < md->nsigs; i++) {
		free(md->sigs[i].keyid);
		free(md->sigs[i].sig);
	}
	free(md->sigs);
	free(md->spec_version);
	free(md->signed_bytes);
	free_keyring(&md->root.keys);
	for (int i = 0; i < TUF_TOP_ROLES; i++)
		free_role_keys(&md->root.roles[i]);
	free_metafile(&md->timestamp.snapshot);
	for (size_t i = 0; i < md->snapshot.nmeta; i++)
		free_metafile(&md->snapshot.meta[i]);
	free(md->snapshot.meta);
	for (size_t i = 0; i < md->targets.ntargets; i++) {
		free(md->targets.targets[i].path);
		free_hashes(&md->targets.targets[i].hashes);
	}
	free(md->targets.targets);
	free_delegations(md->targets.delegations);
	json_decref(md->doc);
	free(md);
}

static const struct tuf_key_entry *keyring_find(const struct tuf_keyring *keys, const char *keyid)
{
	for (size_t i = 0; i < keys->n; i++)
		if (strcmp(keys->v[i].keyid, keyid) == 0)
			return &keys->v[i];
	return NULL;
}

static const struct tuf_signature *sig_find(const struct tuf_metadata *md, const char *keyid)
{
	for (size_t i = 0; i < md->nsigs; i++)
		if (strcmp(md->sigs[i].keyid, keyid) == 0)
			return &md->sigs[i];
	return NULL;
}

int tuf_verify_threshold(const struct tuf_metadata *md, const struct tuf_keyring *keys,
                         const struct tuf_role_keys *role, const char *role_name, ferry_error *err)
{
	const struct crypto_key *counted[TUF_MAX_KEYIDS];
	size_t n = 0;
	if (role->threshold < 1)
		return ferry_error_set(err, FERRY_E_VERIFY, "%s: threshold below 1", role_name);
	for (size_t i = 0; i < role->nkeyids && n < TUF_MAX_KEYIDS; i++) {
		const struct tuf_key_entry *k = keyring_find(keys, role->keyids[i]);
		const struct tuf_signature *s = sig_find(md, role->keyids[i]);
		if (!k || !k->key || !s || !s->sig)
			continue;
		if (crypto_key_verify(k->key, s->sig, s->siglen, md->signed_bytes, md->signed_len,
		                      NULL) < 0)
			continue;
		bool seen = false;
		for (size_t j = 0; j < n && !seen; j++)
			seen = crypto_key_public_equal(counted[j], k->key);
		if (!seen)
			counted[n++] = k->key;
	}
	if (n < role->threshold)
		return ferry_error_set(err, FERRY_E_VERIFY,
		                       "%s: %zu of %llu required signatures verified", role_name, n,
		                       (unsigned long long)role->threshold);
	return 0;
}

bool tuf_metadata_expired(const struct tuf_metadata *md, time_t now)
{
	return md->expires <= now;
}

const struct tuf_metafile *tuf_snapshot_find(const struct tuf_metadata *snapshot, const char *name)
{
	for (size_t i = 0; i < snapshot->snapshot.nmeta; i++)
		if (strcmp(snapshot->snapshot.meta[i].name, name) == 0)
			return &snapshot->snapshot.meta[i];
	return NULL;
}

const struct tuf_target *tuf_targets_find(const struct tuf_metadata *targets, const char *path)
{
	for (size_t i = 0; i < targets->targets.ntargets; i++)
		if (strcmp(targets->targets.targets[i].path, path) == 0)
			return &targets->targets.targets[i];
	return NULL;
}

static bool path_hash_hex(const char *path, char hex[CRYPTO_DIGEST_HEX_MAX])
{
	return crypto_digest_hex(CRYPTO_HASH_SHA256, path, strlen(path), hex, NULL) == 0;
}

bool tuf_role_matches_path(const struct tuf_delegated_role *role, const char *path)
{
	for (size_t i = 0; i < role->npaths; i++)
		if (fnmatch(role->paths[i], path, FNM_PATHNAME | FNM_NOESCAPE) == 0)
			return true;
	if (role->nhash_prefixes > 0) {
		char hex[CRYPTO_DIGEST_HEX_MAX];
		if (!path_hash_hex(path, hex))
			return false;
		for (size_t i = 0; i < role->nhash_prefixes; i++)
			if (strncmp(hex, role->hash_prefixes[i], strlen(role->hash_prefixes[i])) ==
			    0)
				return true;
	}
	return false;
}

int tuf_delegations_match(const struct tuf_delegations *d, const char *path,
                          struct tuf_role_match *out, size_t max, ferry_error *err)
{
	size_t n = 0;
	if (!d)
		return 0;
	if (d->succinct) {
		unsigned char md[CRYPTO_DIGEST_MAX];
		int rc = crypto_digest_buf(CRYPTO_HASH_SHA256, path, strlen(path), md, err);
		if (rc < 0)
			return rc;
		uint32_t top =
		    (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
		unsigned bits = d->succinct->bit_length;
		uint64_t bin = bits == 32 ? top : top >> (32 - bits);
		uint64_t last = ((uint64_t)1 << bits) - 1;
		int width = snprintf(NULL, 0, "%llx", (unsigned long long)last);
		if (max == 0)
			return 0;
		if (str_printf(out[0].name, sizeof(out[0].name), "%s-%0*llx",
		               d->succinct->name_prefix, width, (unsigned long long)bin) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "succinct role name too long");
		out[0].keys = &d->succinct->keys;
		out[0].terminating = true;
		return 1;
	}
	for (size_t i = 0; i < d->nroles && n < max; i++) {
		if (!tuf_role_matches_path(&d->roles[i], path))
			continue;
		if (str_copy(out[n].name, sizeof(out[n].name), d->roles[i].name) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "role name too long");
		out[n].keys = &d->roles[i].keys;
		out[n].terminating = d->roles[i].terminating;
		n++;
		if (d->roles[i].terminating)
			break;
	}
	return (int)n;
}

int tuf_check_length_hashes(const void *data, size_t len, bool has_length, uint64_t length,
                            const struct tuf_hashes *hashes, bool need_hash, const char *what,
                            ferry_error *err)
{
	if (has_length && (uint64_t)len != length)
		return ferry_error_set(err, FERRY_E_VERIFY, "%s: %zu bytes, expected %llu", what,
		                       len, (unsigned long long)length);
	if (need_hash && hashes->n == 0)
		return ferry_error_set(err, FERRY_E_VERIFY, "%s: no hashes to check", what);
	for (size_t i = 0; i < hashes->n; i++) {
		enum crypto_hash_alg alg;
		if (crypto_hash_alg_from_name(hashes->v[i].alg, &alg) < 0)
			return ferry_error_set(err, FERRY_E_VERIFY,
			                       "%s: hash algorithm %.40s is not supported", what,
			                       hashes->v[i].alg);
		unsigned char md[CRYPTO_DIGEST_MAX];
		int rc = crypto_digest_buf(alg, data, len, md, err);
		if (rc < 0)
			return rc;
		if (!crypto_digest_equal_hex(md, crypto_hash_alg_size(alg), hashes->v[i].hex))
			return ferry_error_set(err, FERRY_E_VERIFY, "%s: %s hash does not match",
			                       what, hashes->v[i].alg);
	}
	return 0;
}
