/* match.c: package URLs into components, and the OSV range evaluation that
 * decides whether a component's version is affected.
 *
 * It keeps no state and does not look advisories up: vuln/index.h finds the
 * records that name a package, this file decides about versions. */
#include "vuln/match.h"

#include <stdio.h>
#include <string.h>

#include "base/str.h"
#include "crypto/digest.h"
#include "vuln/debversion.h"

/* Percent-decode n bytes of s into out (size bytes). */
static int pct_decode(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return FERRY_E_INVALID;
			unsigned char byte;
			if (crypto_hex_decode(s + i + 1, 2, &byte, 1) != 1)
				return FERRY_E_INVALID;
			c = byte;
			i += 2;
		}
		if (c == 0)
			return FERRY_E_INVALID;
		if (o + 1 >= size)
			return FERRY_E_LIMIT;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return 0;
}

static const struct {
	const char *type;
	const char *ecosystem;
} purl_types[] = {
    {"npm", "npm"},      {"pypi", "PyPI"},          {"cargo", "crates.io"}, {"golang", "Go"},
    {"gem", "RubyGems"}, {"maven", "Maven"},        {"nuget", "NuGet"},     {"hex", "Hex"},
    {"pub", "Pub"},      {"composer", "Packagist"}, {"apk", "Alpine"},
};

static const struct {
	const char *codename;
	const char *release;
} debian_codenames[] = {
    {"buster", "10"}, {"bullseye", "11"}, {"bookworm", "12"}, {"trixie", "13"}, {"forky", "14"},
};

static void set_release(struct vuln_component *c, const char *distro)
{
	const char *r = distro;
	const char *dash = strchr(distro, '-');
	if (dash && (str_has_prefix(distro, "debian-") || str_has_prefix(distro, "ubuntu-")))
		r = dash + 1;
	for (size_t i = 0; i < sizeof(debian_codenames) / sizeof(debian_codenames[0]); i++)
		if (strcmp(distro, debian_codenames[i].codename) == 0)
			r = debian_codenames[i].release;
	if (str_copy(c->release, sizeof(c->release), r) < 0)
		c->release[0] = 0;
}

int vuln_component_from_purl(const char *purl, struct vuln_component *c, ferry_error *err)
{
	memset(c, 0, sizeof(*c));
	if (!purl || strnlen(purl, PURL_MAX + 1) > PURL_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT, "purl longer than %d bytes", PURL_MAX);
	if (!str_has_prefix(purl, "pkg:"))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "purl '%.128s': does not start with pkg:", purl);
	const char *p = purl + 4;
	while (*p == '/')
		p++;
	/* strip #subpath, then ?qualifiers */
	size_t len = strcspn(p, "#");
	const char *q = memchr(p, '?', len);
	size_t main_len = q ? (size_t)(q - p) : len;
	const char *quals = q ? q + 1 : NULL;
	size_t quals_len = q ? len - main_len - 1 : 0;

	const char *slash = memchr(p, '/', main_len);
	if (!slash || slash == p)
		return ferry_error_set(err, FERRY_E_INVALID, "purl '%.128s': no type", purl);
	char type[16];
	size_t tlen = (size_t)(slash - p);
	if (tlen >= sizeof(type))
		return ferry_error_set(err, FERRY_E_UNSUPPORTED, "purl '%.128s': unknown type",
		                       purl);
	for (size_t i = 0; i < tlen; i++)
		type[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
	type[tlen] = 0;

	const char *path = slash + 1;
	size_t path_len = main_len - tlen - 1;
	const char *at = NULL;
	for (size_t i = path_len; i > 0; i--)
		if (path[i - 1] == '@') {
			at = path + i - 1;
			break;
		}
	size_t np_len = at ? (size_t)(at - path) : path_len;
	while (np_len > 0 && path[np_len - 1] == '/')
		np_len--;
	if (!at || at + 1 == path + path_len)
		return ferry_error_set(err, FERRY_E_INVALID, "purl '%.128s': no version", purl);
	int rc = pct_decode(at + 1, (size_t)(path + path_len - at - 1), c->package_version,
	                    sizeof(c->package_version));
	if (rc < 0)
		return ferry_error_set(err, rc, "purl '%.128s': bad version", purl);

	/* namespace/name: the name is the last segment */
	const char *last = path;
	for (size_t i = 0; i < np_len; i++)
		if (path[i] == '/')
			last = path + i + 1;
	char ns[256] = "";
	if (last > path) {
		/* decode each segment, keep the slashes */
		size_t o = 0;
		const char *seg = path;
		while (seg < last) {
			const char *e = memchr(seg, '/', (size_t)(last - seg));
			char part[256];
			if ((rc = pct_decode(seg, (size_t)(e - seg), part, sizeof(part))) < 0)
				return ferry_error_set(err, rc, "purl '%.128s': bad namespace",
				                       purl);
			int w = snprintf(ns + o, sizeof(ns) - o, "%s%s", o ? "/" : "", part);
			if (w < 0 || (size_t)w >= sizeof(ns) - o)
				return ferry_error_set(err, FERRY_E_LIMIT,
				                       "purl '%.128s': namespace too long", purl);
			o += (size_t)w;
			seg = e + 1;
		}
	}
	if ((rc = pct_decode(last, (size_t)(path + np_len - last), c->package,
	                     sizeof(c->package))) < 0 ||
	    c->package[0] == 0)
		return ferry_error_set(err, rc < 0 ? rc : FERRY_E_INVALID,
		                       "purl '%.128s': bad name", purl);

	char distro[64] = "", upstream[512] = "";
	while (quals && quals_len > 0) {
		const char *amp = memchr(quals, '&', quals_len);
		size_t kvlen = amp ? (size_t)(amp - quals) : quals_len;
		const char *eq = memchr(quals, '=', kvlen);
		if (eq) {
			size_t klen = (size_t)(eq - quals);
			const char *v = eq + 1;
			size_t vlen = kvlen - klen - 1;
			char *dst = NULL;
			size_t dsize = 0;
			if (klen == 6 && strncmp(quals, "distro", 6) == 0) {
				dst = distro;
				dsize = sizeof(distro);
			} else if (klen == 8 && strncmp(quals, "upstream", 8) == 0) {
				dst = upstream;
				dsize = sizeof(upstream);
			}
			if (dst && (rc = pct_decode(v, vlen, dst, dsize)) < 0)
				return ferry_error_set(err, rc, "purl '%.128s': bad qualifier %.*s",
				                       purl, (int)klen, quals);
		}
		if (!amp)
			break;
		quals_len -= kvlen + 1;
		quals = amp + 1;
	}

	if (strcmp(type, "deb") == 0) {
		if (strcasecmp(ns, "debian") == 0)
			strcpy(c->ecosystem, "Debian");
		else if (strcasecmp(ns, "ubuntu") == 0)
			strcpy(c->ecosystem, "Ubuntu");
		else
			return ferry_error_set(
			    err, FERRY_E_UNSUPPORTED,
			    "purl '%.128s': deb namespace '%s' is not debian or ubuntu", purl, ns);
		if (distro[0])
			set_release(c, distro);
		char *uat = strchr(upstream, '@');
		if (uat)
			*uat++ = 0;
		const char *src = upstream[0] ? upstream : c->package;
		if (str_copy(c->name, sizeof(c->name), src) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "purl '%.128s': name too long",
			                       purl);
		if (uat && *uat) {
			if (str_copy(c->version, sizeof(c->version), uat) < 0)
				return ferry_error_set(err, FERRY_E_LIMIT,
				                       "purl '%.128s': version too long", purl);
		} else {
			memcpy(c->version, c->package_version, sizeof(c->version));
			/* a binNMU (+bN) is a rebuild of the same source version */
			char *b = strrchr(c->version, '+');
			if (b && b[1] == 'b' && b[2]) {
				bool digits = true;
				for (const char *d = b + 2; *d; d++)
					digits = digits && *d >= '0' && *d <= '9';
				if (digits)
					*b = 0;
			}
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(purl_types) / sizeof(purl_types[0]); i++) {
		if (strcmp(type, purl_types[i].type) != 0)
			continue;
		strcpy(c->ecosystem, purl_types[i].ecosystem);
		char sep = strcmp(type, "maven") == 0 ? ':' : '/';
		if (strcmp(type, "npm") == 0 && ns[0] && ns[0] != '@')
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "purl '%.128s': npm scope without @", purl);
		if (ns[0] && strcmp(type, "pypi") != 0 && strcmp(type, "cargo") != 0 &&
		    strcmp(type, "gem") != 0 && strcmp(type, "hex") != 0 &&
		    strcmp(type, "pub") != 0)
			rc = str_printf(c->name, sizeof(c->name), "%s%c%s", ns, sep, c->package);
		else
			rc = str_copy(c->name, sizeof(c->name), c->package);
		if (rc < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "purl '%.128s': name too long",
			                       purl);
		if (strcmp(type, "pypi") == 0) /* PyPI names are compared normalised */
			for (char *s = c->name; *s; s++)
				*s = (*s >= 'A' && *s <= 'Z')   ? (char)(*s + 32)
				     : (*s == '_' || *s == '.') ? '-'
				                                : *s;
		memcpy(c->version, c->package_version, sizeof(c->version));
		return 0;
	}
	return ferry_error_set(err, FERRY_E_UNSUPPORTED,
	                       "purl '%.128s': type '%s' is not supported", purl, type);
}

bool vuln_affected_names(const struct osv_affected *a, const struct vuln_component *c)
{
	size_t flen = strcspn(a->ecosystem, ":");
	if (strlen(c->ecosystem) != flen || strncmp(a->ecosystem, c->ecosystem, flen) != 0)
		return false;
	if (a->ecosystem[flen] == ':' && c->release[0]) {
		/* "Debian:12", "Ubuntu:22.04:LTS": the release is the next field */
		const char *r = a->ecosystem + flen + 1;
		size_t rlen = strcspn(r, ":");
		if (strlen(c->release) != rlen || strncmp(r, c->release, rlen) != 0)
			return false;
	}
	if (strcmp(c->ecosystem, "PyPI") == 0) {
		const char *x = a->name, *y = c->name;
		for (; *x && *y; x++, y++) {
			char cx = (*x >= 'A' && *x <= 'Z')   ? (char)(*x + 32)
			          : (*x == '_' || *x == '.') ? '-'
			                                     : *x;
			if (cx != *y)
				return false;
		}
		return *x == 0 && *y == 0;
	}
	return strcmp(a->name, c->name) == 0;
}

static bool is_zero(const struct osv_event *e)
{
	return e->kind == OSV_EVENT_INTRODUCED && strcmp(e->version, "0") == 0;
}

/* One range; events are sorted. */
static int range_check(const struct osv_range *r, enum vuln_ordering order, const char *version,
                       bool *affected, const char **fixed, ferry_error *err)
{
	*affected = false;
	*fixed = NULL;
	bool vuln = false;
	size_t i;
	for (i = 0; i < r->n_events; i++) {
		const struct osv_event *e = &r->events[i];
		int cmp = 1;
		if (!is_zero(e)) {
			int rc = vuln_version_compare(order, version, e->version, &cmp, err);
			if (rc < 0)
				return rc;
		}
		if (cmp < 0 || (cmp == 0 && e->kind == OSV_EVENT_LAST_AFFECTED))
			break; /* every later event is above version too */
		switch (e->kind) {
		case OSV_EVENT_INTRODUCED:
			vuln = true;
			break;
		case OSV_EVENT_FIXED:
			vuln = false;
			break;
		case OSV_EVENT_LAST_AFFECTED:
			vuln = false; /* version is above it */
			break;
		case OSV_EVENT_LIMIT:
			return 0; /* at or past the limit: outside this range */
		}
	}
	if (!vuln)
		return 0;
	*affected = true;
	for (; i < r->n_events; i++)
		if (r->events[i].kind == OSV_EVENT_FIXED) {
			*fixed = r->events[i].version;
			break;
		} else if (r->events[i].kind != OSV_EVENT_INTRODUCED) {
			break; /* a last_affected or limit ends it with no fix named */
		}
	return 0;
}

int vuln_affected_check(const struct osv_affected *a, const char *version, bool *affected,
                        const char **fixed, ferry_error *err)
{
	*affected = false;
	const char *best = NULL;
	enum vuln_ordering best_order = VULN_ORDER_NONE;
	for (size_t i = 0; i < a->n_versions; i++) {
		int cmp = 1;
		if (strcmp(a->versions[i], version) == 0 ||
		    (a->ordering != VULN_ORDER_NONE &&
		     vuln_version_compare(a->ordering, a->versions[i], version, &cmp, NULL) == 0 &&
		     cmp == 0)) {
			*affected = true;
			break;
		}
	}
	for (size_t i = 0; i < a->n_ranges; i++) {
		const struct osv_range *r = &a->ranges[i];
		enum vuln_ordering order = r->type == OSV_RANGE_SEMVER      ? VULN_ORDER_SEMVER
		                           : r->type == OSV_RANGE_ECOSYSTEM ? a->ordering
		                                                            : VULN_ORDER_NONE;
		if (order == VULN_ORDER_NONE)
			continue; /* GIT, or an ecosystem without a known ordering */
		bool hit;
		const char *fx;
		int rc = range_check(r, order, version, &hit, &fx, err);
		if (rc < 0)
			return ferry_error_prefix(err, rc, "%s %s", a->name, version);
		if (!hit)
			continue;
		*affected = true;
		int cmp = 0;
		if (fx && (!best ||
		           (best_order == order &&
		            vuln_version_compare(order, fx, best, &cmp, NULL) == 0 && cmp < 0))) {
			best = fx;
			best_order = order;
		}
	}
	if (fixed)
		*fixed = *affected ? best : NULL;
	return 0;
}

int vuln_record_check(const struct osv_record *rec, const struct vuln_component *c, bool *affected,
                      const char **fixed, ferry_error *err)
{
	*affected = false;
	if (fixed)
		*fixed = NULL;
	if (rec->withdrawn)
		return 0;
	enum vuln_ordering best_order = VULN_ORDER_NONE;
	for (size_t i = 0; i < rec->n_affected; i++) {
		const struct osv_affected *a = &rec->affected[i];
		if (!vuln_affected_names(a, c))
			continue;
		bool hit;
		const char *fx;
		int rc = vuln_affected_check(a, c->version, &hit, &fx, err);
		if (rc < 0)
			return ferry_error_prefix(err, rc, "%s", rec->id);
		if (!hit)
			continue;
		*affected = true;
		int cmp = 0;
		if (fixed && fx &&
		    (!*fixed ||
		     (best_order == a->ordering &&
		      vuln_version_compare(a->ordering, fx, *fixed, &cmp, NULL) == 0 && cmp < 0))) {
			*fixed = fx;
			best_order = a->ordering;
		}
	}
	return 0;
}

const char *vuln_record_severity(const struct osv_record *rec, const struct vuln_component *c)
{
	if (rec->n_severity > 0)
		return rec->severity[0].score;
	if (rec->db_severity)
		return rec->db_severity;
	for (size_t i = 0; i < rec->n_affected; i++)
		if (rec->affected[i].severity && (!c || vuln_affected_names(&rec->affected[i], c)))
			return rec->affected[i].severity;
	return NULL;
}
