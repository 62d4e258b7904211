/* index.c: the in-memory advisory index and the component catalogue.
 *
 * vuln_index: records by id (strmap id -> struct held), and by package
 * (strmap "FAMILY\0NAME" -> list of live records naming it). Replacing a
 * record takes the old one out of its packages' lists first.
 *
 * vuln_catalog: components by "FAMILY\0RELEASE\0NAME\0VERSION" (each holds
 * its findings and the revisions that bundle it), components by package
 * "FAMILY\0NAME" (for incremental scans) and revisions by number (the list
 * of their components). It does not persist anything. */
#include "vuln/index.h"

#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "vuln/strmap.h"

#define PKGKEY_MAX 600

struct ptrvec {
	void **v;
	size_t n, cap;
};

static int ptrvec_push(struct ptrvec *pv, void *p)
{
	if (pv->n == pv->cap) {
		size_t ncap = pv->cap ? pv->cap * 2 : 4;
		void **nv = realloc(pv->v, ncap * sizeof(void *));
		if (!nv)
			return FERRY_E_NOMEM;
		pv->v = nv;
		pv->cap = ncap;
	}
	pv->v[pv->n++] = p;
	return 0;
}

static void ptrvec_remove(struct ptrvec *pv, const void *p)
{
	for (size_t i = 0; i < pv->n; i++)
		if (pv->v[i] == p) {
			memmove(&pv->v[i], &pv->v[i + 1], (pv->n - i - 1) * sizeof(void *));
			pv->n--;
			return;
		}
}

/* "FAMILY\0NAME" into key; PyPI names normalised. Returns the length. */
static size_t pkg_key(char *key, const char *ecosystem, const char *name)
{
	size_t flen = strcspn(ecosystem, ":");
	size_t nlen = strlen(name);
	if (flen > 64)
		flen = 64;
	if (nlen > PKGKEY_MAX - 66)
		nlen = PKGKEY_MAX - 66;
	memcpy(key, ecosystem, flen);
	key[flen] = 0;
	bool pypi = flen == 4 && memcmp(ecosystem, "PyPI", 4) == 0;
	for (size_t i = 0; i < nlen; i++) {
		char c = name[i];
		if (pypi)
			c = (c >= 'A' && c <= 'Z')   ? (char)(c + 32)
			    : (c == '_' || c == '.') ? '-'
			                             : c;
		key[flen + 1 + i] = c;
	}
	key[flen + 1 + nlen] = 0;
	return flen + 1 + nlen;
}

static void osv_record_free_ptr(struct osv_record **p)
{
	osv_record_free(*p);
}

struct vuln_index {
	struct strmap by_id;  /* id -> struct osv_record */
	struct strmap by_pkg; /* pkg key -> struct ptrvec of records */
	size_t size;
};

const char *vuln_put_result_name(enum vuln_put_result r)
{
	switch (r) {
	case VULN_PUT_ADDED:
		return "added";
	case VULN_PUT_REPLACED:
		return "replaced";
	case VULN_PUT_UNCHANGED:
		return "unchanged";
	case VULN_PUT_OLDER:
		return "older";
	}
	return "?";
}

int vuln_index_new(struct vuln_index **out, ferry_error *err)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
}

void vuln_index_free(struct vuln_index *ix)
{
	if (!ix)
		return;
	strmap_foreach(&ix->by_id, s) osv_record_free(s->value);
	strmap_foreach(&ix->by_pkg, s)
	{
		struct ptrvec *pv = s->value;
		if (pv)
			free(pv->v);
		free(pv);
	}
	strmap_free(&ix->by_id);
	strmap_free(&ix->by_pkg);
	free(ix);
}

/* Visit each distinct package key of rec once. */
static int each_pkg(const struct osv_record *rec, int (*fn)(void *, const char *, size_t),
                    void *ctx)
{
	for (size_t i = 0; i < rec->n_affected; i++) {
		char key[PKGKEY_MAX];
		size_t klen = pkg_key(key, rec->affected[i].ecosystem, rec->affected[i].name);
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++) {
			char k2[PKGKEY_MAX];
			size_t l2 = pkg_key(k2, rec->affected[j].ecosystem, rec->affected[j].name);
			seen = l2 == klen && memcmp(k2, key, klen) == 0;
		}
		if (seen)
			continue;
		int rc = fn(ctx, key, klen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct pkg_op {
	struct vuln_index *ix;
	const struct osv_record *rec;
	vuln_key_fn on_key;
	void *ctx;
};

static int unlink_pkg(void *p, const char *key, size_t klen)
{
	struct pkg_op *op = p;
	struct ptrvec *pv = strmap_get(&op->ix->by_pkg, key, klen);
	if (pv)
		ptrvec_remove(pv, op->rec);
	return op->on_key ? op->on_key(op->ctx, key, key + strlen(key) + 1) : 0;
}

static int link_pkg(void *p, const char *key, size_t klen)
{
	struct pkg_op *op = p;
	void **slot = strmap_slot(&op->ix->by_pkg, key, klen);
	if (!slot)
		return FERRY_E_NOMEM;
	if (!*slot && !(*slot = calloc(1, sizeof(struct ptrvec))))
		return FERRY_E_NOMEM;
	int rc = ptrvec_push(*slot, (void *)op->rec);
	if (rc == 0 && op->on_key)
		rc = op->on_key(op->ctx, key, key + strlen(key) + 1);
	return rc;
}

int vuln_index_put(struct vuln_index *ix, struct osv_record *rec, enum vuln_put_result *res,
                   vuln_key_fn on_key, void *ctx, ferry_error *err)
{
	_cleanup_(osv_record_free_ptr) struct osv_record *owned = rec;
	void **slot = strmap_slot(&ix->by_id, rec->id, strlen(rec->id));
	if (!slot)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	struct osv_record *old = *slot;
	enum vuln_put_result r = VULN_PUT_ADDED;
	if (old) {
		if (strcmp(old->digest, rec->digest) == 0)
			r = VULN_PUT_UNCHANGED;
		else if (rec->modified_ts < old->modified_ts)
			r = VULN_PUT_OLDER;
		else
			r = VULN_PUT_REPLACED;
	}
	if (res)
		*res = r;
	if (r == VULN_PUT_UNCHANGED || r == VULN_PUT_OLDER)
		return 0;
	int rc = 0;
	if (old) {
		struct pkg_op op = {ix, old, on_key, ctx};
		if (!old->withdrawn)
			rc = each_pkg(old, unlink_pkg, &op);
		osv_record_free(old);
		ix->size--;
	}
	*slot = steal_pointer(&owned);
	ix->size++;
	if (rc == 0 && !rec->withdrawn) {
		struct pkg_op op = {ix, rec, on_key, ctx};
		rc = each_pkg(rec, link_pkg, &op);
	} else if (rc == 0 && on_key) {
		/* a withdrawn record: its packages may lose findings */
		struct pkg_op op = {ix, rec, on_key, ctx};
		rc = each_pkg(rec, unlink_pkg, &op);
	}
	if (rc < 0)
		return ferry_error_set(err, rc, "index %s: %s", rec->id, ferry_strerror(rc));
	return 0;
}

const struct osv_record *vuln_index_get(const struct vuln_index *ix, const char *id)
{
	return strmap_get(&ix->by_id, id, strlen(id));
}

size_t vuln_index_size(const struct vuln_index *ix)
{
	return ix->size;
}

void vuln_index_lookup(const struct vuln_index *ix, const char *family, const char *name,
                       const struct osv_record *const **recs, size_t *n)
{
	char key[PKGKEY_MAX];
	size_t klen = pkg_key(key, family, name);
	struct ptrvec *pv = strmap_get(&ix->by_pkg, key, klen);
	*recs = pv ? (const struct osv_record *const *)pv->v : NULL;
	*n = pv ? pv->n : 0;
}

int vuln_index_scan(const struct vuln_index *ix, const struct vuln_component *c, vuln_hit_fn fn,
                    void *ctx, size_t *skipped, ferry_error *err)
{
	const struct osv_record *const *recs;
	size_t n;
	vuln_index_lookup(ix, c->ecosystem, c->name, &recs, &n);
	for (size_t i = 0; i < n; i++) {
		bool hit = false;
		const char *fixed = NULL;
		if (vuln_record_check(recs[i], c, &hit, &fixed, NULL) < 0) {
			if (skipped)
				(*skipped)++;
			continue;
		}
		if (hit) {
			int rc = fn(ctx, recs[i], fixed);
			if (rc < 0)
				return ferry_error_set(err, rc, "scan %s %s: %s", c->name,
				                       c->version, ferry_strerror(rc));
		}
	}
	return 0;
}

/* ---- catalogue ---- */

struct finding {
	char *advisory;
	char *fixed; /* NULL when no fix is known */
};

struct component {
	struct vuln_component c;
	struct finding *findings;
	size_t n_findings;
	struct ptrvec revisions; /* uint64_t revision numbers, as pointers */
};

struct revision {
	uint64_t number;
	struct ptrvec components;
};

struct vuln_catalog {
	struct strmap components; /* component key -> struct component */
	struct strmap by_pkg;     /* pkg key -> ptrvec of struct component */
	struct strmap revisions;  /* decimal number -> struct revision */
};

int vuln_catalog_new(struct vuln_catalog **out, ferry_error *err)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
}

static void findings_clear(struct component *cp)
{
	for (size_t i = 0; i < cp->n_findings; i++) {
		free(cp->findings[i].advisory);
		free(cp->findings[i].fixed);
	}
	free(cp->findings);
	cp->findings = NULL;
	cp->n_findings = 0;
}

void vuln_catalog_free(struct vuln_catalog *cat)
{
	if (!cat)
		return;
	strmap_foreach(&cat->components, s)
	{
		struct component *cp = s->value;
		findings_clear(cp);
		free(cp->revisions.v);
		free(cp);
	}
	strmap_foreach(&cat->by_pkg, s)
	{
		struct ptrvec *pv = s->value;
		free(pv->v);
		free(pv);
	}
	strmap_foreach(&cat->revisions, s)
	{
		struct revision *r = s->value;
		free(r->components.v);
		free(r);
	}
	strmap_free(&cat->components);
	strmap_free(&cat->by_pkg);
	strmap_free(&cat->revisions);
	free(cat);
}

size_t vuln_catalog_distinct(const struct vuln_catalog *cat)
{
	return cat->components.count;
}

static struct revision *revision_get(const struct vuln_catalog *cat, uint64_t number)
{
	return strmap_get(&cat->revisions, (const char *)&number, sizeof(number));
}

int vuln_catalog_add(struct vuln_catalog *cat, uint64_t revision, const char *const *purls,
                     size_t n, size_t *unsupported, ferry_error *err)
{
	void **rslot = strmap_slot(&cat->revisions, (const char *)&revision, sizeof(revision));
	if (!rslot)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	if (!*rslot) {
		struct revision *r = calloc(1, sizeof(*r));
		if (!r)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		r->number = revision;
		*rslot = r;
	}
	struct revision *rev = *rslot;
	for (size_t i = 0; i < n; i++) {
		struct vuln_component c;
		int rc = vuln_component_from_purl(purls[i], &c, err);
		if (rc == FERRY_E_UNSUPPORTED) {
			if (unsupported)
				(*unsupported)++;
			ferry_error_clear(err);
			continue;
		}
		if (rc < 0)
			return ferry_error_prefix(err, rc, "revision %llu",
			                          (unsigned long long)revision);
		char key[1100];
		int klen = snprintf(key, sizeof(key), "%s%c%s%c%s%c%s", c.ecosystem, 0, c.release,
		                    0, c.name, 0, c.version);
		if (klen < 0 || (size_t)klen >= sizeof(key))
			return ferry_error_set(err, FERRY_E_LIMIT, "component key too long");
		void **cslot = strmap_slot(&cat->components, key, (size_t)klen);
		if (!cslot)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		struct component *cp = *cslot;
		if (!cp) {
			cp = calloc(1, sizeof(*cp));
			if (!cp)
				return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			cp->c = c;
			*cslot = cp;
			char pk[PKGKEY_MAX];
			size_t pklen = pkg_key(pk, c.ecosystem, c.name);
			void **pslot = strmap_slot(&cat->by_pkg, pk, pklen);
			if (!pslot || (!*pslot && !(*pslot = calloc(1, sizeof(struct ptrvec)))) ||
			    ptrvec_push(*pslot, cp) < 0)
				return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		}
		/* one revision may list the same source twice (several binaries) */
		if (cp->revisions.n > 0 &&
		    (uint64_t)(uintptr_t)cp->revisions.v[cp->revisions.n - 1] == revision)
			continue;
		if (ptrvec_push(&cp->revisions, (void *)(uintptr_t)revision) < 0 ||
		    ptrvec_push(&rev->components, cp) < 0)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	return 0;
}

struct collect {
	struct component *cp;
	struct vuln_scan_stats *st;
};

static int collect_hit(void *ctx, const struct osv_record *rec, const char *fixed)
{
	struct collect *cl = ctx;
	struct component *cp = cl->cp;
	struct finding *nf = realloc(cp->findings, (cp->n_findings + 1) * sizeof(*nf));
	if (!nf)
		return FERRY_E_NOMEM;
	cp->findings = nf;
	struct finding *f = &nf[cp->n_findings];
	f->advisory = strdup(rec->id);
	f->fixed = fixed ? strdup(fixed) : NULL;
	if (!f->advisory || (fixed && !f->fixed)) {
		free(f->advisory);
		free(f->fixed);
		return FERRY_E_NOMEM;
	}
	cp->n_findings++;
	cl->st->findings++;
	return 0;
}

static int scan_component(struct component *cp, const struct vuln_index *ix,
                          struct vuln_scan_stats *st, ferry_error *err)
{
	findings_clear(cp);
	struct collect cl = {cp, st};
	const struct osv_record *const *recs;
	size_t n;
	vuln_index_lookup(ix, cp->c.ecosystem, cp->c.name, &recs, &n);
	st->components++;
	st->records += n;
	return vuln_index_scan(ix, &cp->c, collect_hit, &cl, &st->skipped, err);
}

int vuln_catalog_scan_all(struct vuln_catalog *cat, const struct vuln_index *ix,
                          struct vuln_scan_stats *st, ferry_error *err)
{
	struct vuln_scan_stats st0 = {0};
	if (!st)
		st = &st0;
	strmap_foreach(&cat->components, s)
	{
		int rc = scan_component(s->value, ix, st, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int vuln_catalog_scan_package(struct vuln_catalog *cat, const struct vuln_index *ix,
                              const char *family, const char *name, struct vuln_scan_stats *st,
                              ferry_error *err)
{
	struct vuln_scan_stats st0 = {0};
	if (!st)
		st = &st0;
	char pk[PKGKEY_MAX];
	size_t pklen = pkg_key(pk, family, name);
	struct ptrvec *pv = strmap_get(&cat->by_pkg, pk, pklen);
	for (size_t i = 0; pv && i < pv->n; i++) {
		int rc = scan_component(pv->v[i], ix, st, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int vuln_catalog_findings(const struct vuln_catalog *cat, uint64_t revision, vuln_finding_fn fn,
                          void *ctx)
{
	struct revision *r = revision_get(cat, revision);
	for (size_t i = 0; r && i < r->components.n; i++) {
		struct component *cp = r->components.v[i];
		for (size_t k = 0; k < cp->n_findings; k++) {
			int rc = fn(ctx, revision, &cp->c, cp->findings[k].advisory,
			            cp->findings[k].fixed);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int vuln_catalog_affected_revisions(const struct vuln_catalog *cat, const char *family,
                                    const char *name, vuln_revision_fn fn, void *ctx)
{
	char pk[PKGKEY_MAX];
	size_t pklen = pkg_key(pk, family, name);
	struct ptrvec *pv = strmap_get(&cat->by_pkg, pk, pklen);
	for (size_t i = 0; pv && i < pv->n; i++) {
		struct component *cp = pv->v[i];
		if (cp->n_findings == 0)
			continue;
		for (size_t k = 0; k < cp->revisions.n; k++) {
			int rc = fn(ctx, (uint64_t)(uintptr_t)cp->revisions.v[k]);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}
