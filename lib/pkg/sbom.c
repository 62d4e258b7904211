/* sbom.c: writes and reads the CycloneDX 1.5 SBOM with jansson. Objects are
 * built in a fixed key order and dumped with JSON_PRESERVE_ORDER, so the bytes
 * depend only on the input. Package URLs follow the purl specification:
 * qualifiers sorted by key, values percent-encoded, ":" left as it is and "+"
 * encoded as %2B. It does not validate against the CycloneDX schema; the
 * system tests do that with the CycloneDX project's own validator. */
#include "pkg/sbom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/str.h"
#include "crypto/hash.h"

#define PURL_MAX 2048

char *sbom_purl_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	if (n > PURL_MAX)
		return NULL;
	char *out = malloc(3 * n + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '_' || c == '~' || c == ':') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

static char *lower_dup(const char *s)
{
	char *r = strdup(s);
	for (char *p = r; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return r;
}

char *sbom_deb_purl(const char *vendor, const char *name, const char *version, const char *arch,
                    const char *distro, const char *source, const char *source_version)
{
	_cleanup_free_ char *lv = lower_dup(vendor && *vendor ? vendor : "debian");
	_cleanup_free_ char *ln = lower_dup(name);
	_cleanup_free_ char *ev = NULL, *ens = NULL, *enn = NULL, *ea = NULL, *ed = NULL,
	                    *eu = NULL;
	_cleanup_free_ char *up = NULL;
	if (!lv || !ln || !version || !arch)
		return NULL;
	if (!source)
		source = name;
	if (!source_version)
		source_version = version;
	if (strcmp(source_version, version) != 0)
		up = str_dup_printf("%s@%s", source, source_version);
	else if (strcmp(source, name) != 0)
		up = strdup(source);

	ens = sbom_purl_encode(lv);
	enn = sbom_purl_encode(ln);
	ev = sbom_purl_encode(version);
	ea = sbom_purl_encode(arch);
	if (!ens || !enn || !ev || !ea)
		return NULL;
	if (distro && *distro && !(ed = sbom_purl_encode(distro)))
		return NULL;
	if (up && !(eu = sbom_purl_encode(up)))
		return NULL;
	/* qualifiers in key order: arch, distro, upstream */
	return str_dup_printf("pkg:deb/%s/%s@%s?arch=%s%s%s%s%s", ens, enn, ev, ea,
	                      ed ? "&distro=" : "", ed ? ed : "", eu ? "&upstream=" : "",
	                      eu ? eu : "");
}

/* ---- writing ------------------------------------------------------------ */

static int set_str(json_t *o, const char *k, const char *v)
{
	json_t *s = json_string(v);
	if (!s || json_object_set_new(o, k, s) < 0)
		return FERRY_E_NOMEM;
	return 0;
}

static int set_new(json_t *o, const char *k, json_t *v)
{
	if (!v || json_object_set_new(o, k, v) < 0)
		return FERRY_E_NOMEM;
	return 0;
}

/* A name-based UUID (RFC 4122 version 5, URL namespace) of name. */
static int uuid5(const char *name, char out[37])
{
	static const unsigned char ns[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
	                                     0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
	size_t nl = strlen(name);
	_cleanup_free_ unsigned char *in = malloc(16 + nl);
	unsigned char d[HASH_MAX_LEN];
	if (!in)
		return FERRY_E_NOMEM;
	memcpy(in, ns, 16);
	memcpy(in + 16, name, nl);
	int rc = hash_memory(HASH_SHA1, in, 16 + nl, d);
	if (rc < 0)
		return rc;
	d[6] = (unsigned char)((d[6] & 0x0f) | 0x50);
	d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
	char hex[33];
	str_hex(d, 16, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return 0;
}

static int cmp_debs(const void *a, const void *b)
{
	const struct stage_deb *x = *(const struct stage_deb *const *)a;
	const struct stage_deb *y = *(const struct stage_deb *const *)b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->arch, y->arch);
}

static json_t *deb_component(const struct sbom_input *in, const struct stage_deb *d)
{
	_cleanup_free_ char *purl = sbom_deb_purl(in->vendor, d->name, d->version, d->arch,
	                                          in->distro, d->source, d->source_version);
	_cleanup_(json_decrefp) json_t *c = json_object();
	if (!purl || !c)
		return NULL;
	if (set_str(c, "type", "library") < 0 || set_str(c, "bom-ref", purl) < 0 ||
	    set_str(c, "name", d->name) < 0 || set_str(c, "version", d->version) < 0 ||
	    set_str(c, "purl", purl) < 0)
		return NULL;
	if (d->sha256) {
		json_t *h = json_pack("[{s:s, s:s}]", "alg", "SHA-256", "content", d->sha256);
		if (set_new(c, "hashes", h) < 0)
			return NULL;
	}
	json_t *props = json_array();
	if (set_new(c, "properties", props) < 0)
		return NULL;
	if (d->part && json_array_append_new(props, json_pack("{s:s, s:s}", "name", "ferry:part",
	                                                      "value", d->part)) < 0)
		return NULL;
	if (d->source &&
	    json_array_append_new(
	        props, json_pack("{s:s, s:s}", "name", "ferry:deb:source", "value", d->source)) < 0)
		return NULL;
	if (d->source_version &&
	    json_array_append_new(props, json_pack("{s:s, s:s}", "name", "ferry:deb:source-version",
	                                           "value", d->source_version)) < 0)
		return NULL;
	return steal_pointer(&c);
}

static bool ref_taken(json_t *refs, const char *self_ref, const char *ref)
{
	size_t i;
	json_t *v;
	if (strcmp(ref, self_ref) == 0)
		return true;
	json_array_foreach(refs, i, v)
	{
		if (strcmp(json_string_value(v), ref) == 0)
			return true;
	}
	return false;
}

/* The whole document; serial may be NULL (to compute it). */
static json_t *build(const struct sbom_input *in, const char *serial, const char *timestamp)
{
	const struct manifest *m = in->manifest;
	_cleanup_(json_decrefp) json_t *doc = json_object();
	_cleanup_free_ char *self_ref = str_dup_printf("%s@%s", m->name, m->version);
	_cleanup_free_ const struct stage_deb **order = NULL;
	if (!doc || !self_ref)
		return NULL;
	if (set_str(doc, "bomFormat", "CycloneDX") < 0 || set_str(doc, "specVersion", "1.5") < 0)
		return NULL;
	if (serial) {
		_cleanup_free_ char *urn = str_dup_printf("urn:uuid:%s", serial);
		if (!urn || set_str(doc, "serialNumber", urn) < 0)
			return NULL;
	}
	if (set_new(doc, "version", json_integer(1)) < 0)
		return NULL;

	json_t *meta = json_object();
	if (set_new(doc, "metadata", meta) < 0 || set_str(meta, "timestamp", timestamp) < 0)
		return NULL;
	json_t *tools =
	    json_pack("{s:[{s:s, s:s, s:s}]}", "components", "type", "application", "name", "ferry",
	              "version", in->tool_version ? in->tool_version : "unknown");
	if (set_new(meta, "tools", tools) < 0)
		return NULL;
	json_t *self = json_object();
	if (set_new(meta, "component", self) < 0 || set_str(self, "type", "application") < 0 ||
	    set_str(self, "bom-ref", self_ref) < 0 || set_str(self, "name", m->name) < 0 ||
	    set_str(self, "version", m->version) < 0)
		return NULL;
	if (m->summary && *m->summary && set_str(self, "description", m->summary) < 0)
		return NULL;
	if (m->license && *m->license &&
	    set_new(self, "licenses", json_pack("[{s:s}]", "expression", m->license)) < 0)
		return NULL;

	json_t *comps = json_array();
	json_t *deps_on = json_array();
	if (set_new(doc, "components", comps) < 0 || !deps_on)
		return NULL;
	_cleanup_(json_decrefp) json_t *deps_hold = deps_on;

	if (in->n_debs) {
		order = calloc(in->n_debs, sizeof(*order));
		if (!order)
			return NULL;
		for (size_t i = 0; i < in->n_debs; i++)
			order[i] = &in->debs[i];
		qsort(order, in->n_debs, sizeof(*order), cmp_debs);
	}
	for (size_t i = 0; i < in->n_debs; i++) {
		json_t *c = deb_component(in, order[i]);
		if (!c || json_array_append_new(comps, c) < 0)
			return NULL;
		if (json_array_append(deps_on, json_object_get(c, "bom-ref")) < 0)
			return NULL;
	}
	for (size_t i = 0; i < m->n_components; i++) {
		const struct manifest_component *mc = &m->components[i];
		json_t *c = json_object();
		if (!c || json_array_append_new(comps, c) < 0)
			return NULL;
		/* bom-ref: the purl when there is one, else NAME@VERSION; made
		 * unique with #N when two entries would share it */
		_cleanup_free_ char *base =
		    mc->purl ? strdup(mc->purl)
		             : str_dup_printf("%s@%s", mc->name, mc->version ? mc->version : "");
		_cleanup_free_ char *ref = base ? strdup(base) : NULL;
		for (unsigned k = 2; ref && ref_taken(deps_on, self_ref, ref); k++) {
			free(ref);
			ref = str_dup_printf("%s#%u", base, k);
		}
		if (!ref)
			return NULL;
		if (set_str(c, "type", "library") < 0 || set_str(c, "bom-ref", ref) < 0 ||
		    set_str(c, "name", mc->name) < 0)
			return NULL;
		if (mc->version && set_str(c, "version", mc->version) < 0)
			return NULL;
		if (mc->purl && set_str(c, "purl", mc->purl) < 0)
			return NULL;
		if (json_array_append_new(deps_on, json_string(ref)) < 0)
			return NULL;
	}

	json_t *dep = json_object();
	if (!dep || set_str(dep, "ref", self_ref) < 0 ||
	    set_new(dep, "dependsOn", json_incref(deps_on)) < 0 ||
	    set_new(doc, "dependencies", json_pack("[o]", dep)) < 0)
		return NULL;
	return steal_pointer(&doc);
}

int sbom_write_json(const struct sbom_input *in, char **json, size_t *len, ferry_error *err)
{
	char ts[32];
	struct tm tm;
	time_t t = (time_t)in->timestamp;
	*json = NULL;
	if (in->timestamp > 253402300799ull || !gmtime_r(&t, &tm) ||
	    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return ferry_error_set(err, FERRY_E_INVALID, "sbom: timestamp %llu out of range",
		                       (unsigned long long)in->timestamp);
	for (size_t i = 0; i < in->n_debs; i++)
		if (!in->debs[i].name || !in->debs[i].version || !in->debs[i].arch)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "sbom: staged package %zu incomplete", i);

	const size_t flags = JSON_PRESERVE_ORDER | JSON_COMPACT;
	_cleanup_(json_decrefp) json_t *draft = build(in, NULL, ts);
	if (!draft)
		return ferry_error_set(err, FERRY_E_NOMEM, "sbom: out of memory");
	_cleanup_free_ char *bytes = json_dumps(draft, flags);
	if (!bytes)
		return ferry_error_set(err, FERRY_E_NOMEM, "sbom: out of memory");
	char hex[HASH_SHA256_HEX_SIZE], name[128], uuid[37];
	if (hash_memory_hex(HASH_SHA256, bytes, strlen(bytes), hex, sizeof(hex)) < 0 ||
	    str_printf(name, sizeof(name), "ferry-sbom:sha256:%s", hex) < 0 ||
	    uuid5(name, uuid) < 0)
		return ferry_error_set(err, FERRY_E_INTERNAL,
		                       "sbom: cannot derive the serial number");

	_cleanup_(json_decrefp) json_t *doc = build(in, uuid, ts);
	if (!doc)
		return ferry_error_set(err, FERRY_E_NOMEM, "sbom: out of memory");
	char *text = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(2));
	if (!text)
		return ferry_error_set(err, FERRY_E_NOMEM, "sbom: out of memory");
	size_t n = strlen(text);
	char *with_nl = realloc(text, n + 2);
	if (!with_nl) {
		free(text);
		return ferry_error_set(err, FERRY_E_NOMEM, "sbom: out of memory");
	}
	with_nl[n] = '\n';
	with_nl[n + 1] = '\0';
	if (n + 1 > SBOM_MAX_BYTES) {
		free(with_nl);
		return ferry_error_set(err, FERRY_E_LIMIT, "sbom: larger than %u bytes",
		                       SBOM_MAX_BYTES);
	}
	*json = with_nl;
	*len = n + 1;
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

void sbom_components_free(struct sbom_component *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].type);
		free(c[i].name);
		free(c[i].version);
		free(c[i].purl);
	}
	free(c);
}

static char *opt_string(json_t *o, const char *k, bool *bad)
{
	json_t *v = json_object_get(o, k);
	if (!v)
		return NULL;
	if (!json_is_string(v) || json_string_length(v) > PURL_MAX) {
		*bad = true;
		return NULL;
	}
	char *s = strdup(json_string_value(v));
	if (!s)
		*bad = true;
	return s;
}

int sbom_read_components(const char *json, size_t len, struct sbom_component **out, size_t *n,
                         ferry_error *err)
{
	*out = NULL;
	*n = 0;
	if (len > SBOM_MAX_BYTES)
		return ferry_error_set(err, FERRY_E_LIMIT, "sbom: larger than %u bytes",
		                       SBOM_MAX_BYTES);
	json_error_t je;
	_cleanup_(json_decrefp) json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return ferry_error_set(err, FERRY_E_CORRUPT, "sbom: line %d column %d: %s", je.line,
		                       je.column, je.text);
	if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "bomFormat")) ||
	    strcmp(json_string_value(json_object_get(doc, "bomFormat")), "CycloneDX") != 0)
		return ferry_error_set(err, FERRY_E_CORRUPT, "sbom: not a CycloneDX document");
	json_t *comps = json_object_get(doc, "components");
	if (!comps)
		return 0;
	if (!json_is_array(comps))
		return ferry_error_set(err, FERRY_E_CORRUPT, "sbom: components is not a list");
	size_t count = json_array_size(comps);
	if (count > SBOM_MAX_COMPONENTS)
		return ferry_error_set(err, FERRY_E_LIMIT, "sbom: more than %d components",
		                       SBOM_MAX_COMPONENTS);
	struct sbom_component *c = calloc(count + 1, sizeof(*c));
	if (!c)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < count; i++) {
		json_t *o = json_array_get(comps, i);
		bool bad = !json_is_object(o);
		if (!bad) {
			c[i].type = opt_string(o, "type", &bad);
			c[i].name = opt_string(o, "name", &bad);
			c[i].version = opt_string(o, "version", &bad);
			c[i].purl = opt_string(o, "purl", &bad);
		}
		if (bad || !c[i].name || !c[i].type) {
			sbom_components_free(c, i + 1);
			return ferry_error_set(
			    err, FERRY_E_CORRUPT,
			    "sbom: components[%zu]: expected an object with a type and "
			    "a name",
			    i);
		}
	}
	*out = c;
	*n = count;
	return 0;
}
