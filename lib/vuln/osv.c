/* osv.c: OSV records from JSON (jansson) into struct osv_record, and the
 * sources they come from: one file, a directory tree, a zip (libzip).
 *
 * Every record is checked whole before it is returned, so a caller never
 * sees half a record. Bounds come from struct osv_limits; a zip entry's
 * declared size is not trusted: reading stops at the bound whatever the
 * header says, and libzip checks each entry's CRC at its end.
 *
 * It does not store or match records (vuln/index.h, vuln/match.h) and does
 * not fetch anything from the network: operators bring the files. */
#include "vuln/osv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "base/strv.h"
#include "crypto/digest.h"

/* json_decrefp comes with jansson (json_auto_t). */

void osv_limits_default(struct osv_limits *lim)
{
	*lim = (struct osv_limits){
	    .max_file = 16u << 20,
	    .max_entries = 1000000,
	    .max_total = 8ull << 30,
	    .max_depth = 32,
	    .max_string = 1024,
	    .max_details = 64u << 10,
	    .max_aliases = 1000,
	    .max_affected = 10000,
	    .max_ranges = 256,
	    .max_events = 1024,
	    .max_versions = 100000,
	    .max_severity = 32,
	};
}

/* ---- records ---- */

static void affected_free(struct osv_affected *a)
{
	free(a->ecosystem);
	free(a->name);
	free(a->purl);
	free(a->severity);
	for (size_t r = 0; r < a->n_ranges; r++) {
		for (size_t e = 0; e < a->ranges[r].n_events; e++)
			free(a->ranges[r].events[e].version);
		free(a->ranges[r].events);
	}
	free(a->ranges);
	strv_free(a->versions);
}

void osv_record_free(struct osv_record *rec)
{
	if (!rec)
		return;
	free(rec->id);
	free(rec->modified);
	free(rec->published);
	free(rec->withdrawn);
	strv_free(rec->aliases);
	free(rec->summary);
	free(rec->details);
	for (size_t i = 0; i < rec->n_severity; i++) {
		free(rec->severity[i].type);
		free(rec->severity[i].score);
	}
	free(rec->severity);
	free(rec->db_severity);
	for (size_t i = 0; i < rec->n_affected; i++)
		affected_free(&rec->affected[i]);
	free(rec->affected);
	free(rec->json);
	free(rec);
}

static void osv_record_freep(struct osv_record **p)
{
	osv_record_free(*p);
}

static size_t json_depth(json_t *j, size_t limit)
{
	size_t deepest = 0;
	if (limit == 0)
		return 1;
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v)
		{
			size_t d = json_depth(v, limit - 1);
			if (d > deepest)
				deepest = d;
			if (deepest >= limit)
				break;
		}
		return deepest + 1;
	}
	if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v)
		{
			size_t d = json_depth(v, limit - 1);
			if (d > deepest)
				deepest = d;
			if (deepest >= limit)
				break;
		}
		return deepest + 1;
	}
	return 0;
}

struct parse_ctx {
	const struct osv_limits *lim;
	const char *origin;
	const char *id;
	ferry_error *err;
};

FERRY_PRINTF(3, 4) static int fail(struct parse_ctx *pc, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pc->id)
		return ferry_error_set(pc->err, code, "%s: record %s: %s", pc->origin, pc->id, msg);
	return ferry_error_set(pc->err, code, "%s: %s", pc->origin, msg);
}

/* A string field: NULL stays NULL when optional; anything else but a string
 * is an error; longer than max is an error unless cut is set. */
static int get_string(struct parse_ctx *pc, json_t *obj, const char *key, const char *where,
                      bool required, size_t max, bool cut, char **out)
{
	*out = NULL;
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (required)
			return fail(pc, FERRY_E_INVALID, "%s%s: missing", where, key);
		return 0;
	}
	if (!json_is_string(v))
		return fail(pc, FERRY_E_INVALID, "%s%s: expected a string", where, key);
	size_t len = json_string_length(v);
	if (len > max) {
		if (!cut)
			return fail(pc, FERRY_E_LIMIT, "%s%s: longer than %zu bytes", where, key,
			            max);
		len = max;
		/* do not cut inside a UTF-8 sequence */
		const unsigned char *s = (const unsigned char *)json_string_value(v);
		while (len > 0 && (s[len] & 0xC0) == 0x80)
			len--;
	}
	if (required && len == 0)
		return fail(pc, FERRY_E_INVALID, "%s%s: empty", where, key);
	*out = strndup(json_string_value(v), len);
	if (!*out)
		return fail(pc, FERRY_E_NOMEM, "out of memory");
	return 0;
}

/* A bounded array field; NULL when absent. */
static int get_array(struct parse_ctx *pc, json_t *obj, const char *key, const char *where,
                     size_t max, json_t **out)
{
	*out = NULL;
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return fail(pc, FERRY_E_INVALID, "%s%s: expected an array", where, key);
	if (json_array_size(v) > max)
		return fail(pc, FERRY_E_LIMIT, "%s%s: more than %zu entries", where, key, max);
	*out = v;
	return 0;
}

static bool strv_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Append the strings of array key to *v (skipping duplicates). */
static int get_strings(struct parse_ctx *pc, json_t *obj, const char *key, const char *where,
                       size_t max, char ***v, size_t *n)
{
	json_t *arr;
	int rc = get_array(pc, obj, key, where, max, &arr);
	if (rc < 0 || !arr)
		return rc;
	if (*n + json_array_size(arr) > max)
		return fail(pc, FERRY_E_LIMIT, "%s%s: more than %zu entries", where, key, max);
	char **grown = realloc(*v, (*n + json_array_size(arr) + 1) * sizeof(char *));
	if (!grown)
		return fail(pc, FERRY_E_NOMEM, "out of memory");
	*v = grown;
	(*v)[*n] = NULL; /* kept NULL-terminated for strv_free */
	size_t i;
	json_t *s;
	json_array_foreach(arr, i, s)
	{
		if (!json_is_string(s) || json_string_length(s) == 0)
			return fail(pc, FERRY_E_INVALID, "%s%s[%zu]: expected a non-empty string",
			            where, key, i);
		if (json_string_length(s) > pc->lim->max_string)
			return fail(pc, FERRY_E_LIMIT, "%s%s[%zu]: longer than %zu bytes", where,
			            key, i, pc->lim->max_string);
		if (strv_has(*v, *n, json_string_value(s)))
			continue;
		(*v)[*n] = strdup(json_string_value(s));
		if (!(*v)[*n])
			return fail(pc, FERRY_E_NOMEM, "out of memory");
		(*v)[++(*n)] = NULL;
	}
	return 0;
}

/* The first string found under obj.key1.key2 for one of the names. */
static int get_nested_label(struct parse_ctx *pc, json_t *obj, const char *outer,
                            const char *const *names, char **out)
{
	*out = NULL;
	json_t *o = json_object_get(obj, outer);
	if (!json_is_object(o))
		return 0;
	for (size_t i = 0; names[i]; i++) {
		json_t *v = json_object_get(o, names[i]);
		if (json_is_string(v) && json_string_length(v) > 0) {
			if (json_string_length(v) > pc->lim->max_string)
				return fail(pc, FERRY_E_LIMIT, "%s.%s: longer than %zu bytes",
				            outer, names[i], pc->lim->max_string);
			*out = strdup(json_string_value(v));
			return *out ? 0 : fail(pc, FERRY_E_NOMEM, "out of memory");
		}
	}
	return 0;
}

static const char *const severity_labels[] = {"severity", "urgency", NULL};

static int event_cmp(const void *pa, const void *pb, void *order)
{
	const struct osv_event *a = pa, *b = pb;
	enum vuln_ordering sort_order = *(enum vuln_ordering *)order;
	bool za = a->kind == OSV_EVENT_INTRODUCED && strcmp(a->version, "0") == 0;
	bool zb = b->kind == OSV_EVENT_INTRODUCED && strcmp(b->version, "0") == 0;
	int r = 0;
	if (za || zb)
		r = za && zb ? 0 : za ? -1 : 1;
	else if (vuln_version_compare(sort_order, a->version, b->version, &r, NULL) < 0)
		r = 0; /* cannot happen: every version was checked before sorting */
	if (r == 0)    /* equal versions: introduced, fixed, last_affected, limit */
		r = (int)a->kind - (int)b->kind;
	return r;
}

static const char *const event_names[] = {
    [OSV_EVENT_INTRODUCED] = "introduced",
    [OSV_EVENT_FIXED] = "fixed",
    [OSV_EVENT_LAST_AFFECTED] = "last_affected",
    [OSV_EVENT_LIMIT] = "limit",
};

static int parse_range(struct parse_ctx *pc, json_t *jr, const char *where, enum vuln_ordering eco,
                       struct osv_range *r)
{
	char w[160];
	if (!json_is_object(jr))
		return fail(pc, FERRY_E_INVALID, "%s: expected an object", where);
	json_t *type = json_object_get(jr, "type");
	if (!json_is_string(type))
		return fail(pc, FERRY_E_INVALID, "%s.type: missing", where);
	const char *t = json_string_value(type);
	enum vuln_ordering order;
	if (strcmp(t, "ECOSYSTEM") == 0) {
		r->type = OSV_RANGE_ECOSYSTEM;
		order = eco;
	} else if (strcmp(t, "SEMVER") == 0) {
		r->type = OSV_RANGE_SEMVER;
		order = VULN_ORDER_SEMVER;
	} else if (strcmp(t, "GIT") == 0) {
		r->type = OSV_RANGE_GIT;
		order = VULN_ORDER_NONE;
	} else {
		return fail(pc, FERRY_E_INVALID, "%s.type: '%.32s' is not ECOSYSTEM, SEMVER or GIT",
		            where, t);
	}
	json_t *events;
	snprintf(w, sizeof(w), "%s.", where);
	int rc = get_array(pc, jr, "events", w, pc->lim->max_events, &events);
	if (rc < 0)
		return rc;
	if (!events || json_array_size(events) == 0)
		return fail(pc, FERRY_E_INVALID, "%s.events: missing or empty", where);
	r->events = calloc(json_array_size(events), sizeof(*r->events));
	if (!r->events)
		return fail(pc, FERRY_E_NOMEM, "out of memory");
	bool introduced = false;
	size_t i;
	json_t *je;
	json_array_foreach(events, i, je)
	{
		if (!json_is_object(je) || json_object_size(je) != 1)
			return fail(
			    pc, FERRY_E_INVALID,
			    "%s.events[%zu]: expected an object with one of introduced, fixed, "
			    "last_affected, limit",
			    where, i);
		struct osv_event *ev = &r->events[r->n_events];
		bool known = false;
		for (int k = 0; k < 4; k++) {
			json_t *v = json_object_get(je, event_names[k]);
			if (!v)
				continue;
			known = true;
			ev->kind = (enum osv_event_kind)k;
			if (!json_is_string(v) || json_string_length(v) == 0)
				return fail(pc, FERRY_E_INVALID,
				            "%s.events[%zu].%s: expected a non-empty string", where,
				            i, event_names[k]);
			if (json_string_length(v) > pc->lim->max_string)
				return fail(pc, FERRY_E_LIMIT,
				            "%s.events[%zu].%s: longer than %zu bytes", where, i,
				            event_names[k], pc->lim->max_string);
			ev->version = strdup(json_string_value(v));
			if (!ev->version)
				return fail(pc, FERRY_E_NOMEM, "out of memory");
		}
		if (!known) {
			const char *k = json_object_iter_key(json_object_iter(je));
			return fail(pc, FERRY_E_INVALID, "%s.events[%zu]: unknown event '%.32s'",
			            where, i, k);
		}
		r->n_events++;
		if (ev->kind == OSV_EVENT_INTRODUCED)
			introduced = true;
		bool zero = ev->kind == OSV_EVENT_INTRODUCED && strcmp(ev->version, "0") == 0;
		if (order != VULN_ORDER_NONE && !zero) {
			ferry_error verr = {0};
			int cmp;
			if (vuln_version_compare(order, ev->version, ev->version, &cmp, &verr) < 0)
				return fail(pc, FERRY_E_INVALID, "%s.events[%zu].%s: %s", where, i,
				            event_names[ev->kind], verr.msg);
		}
	}
	if (!introduced)
		return fail(pc, FERRY_E_INVALID, "%s.events: no introduced event", where);
	if (order != VULN_ORDER_NONE) {
		qsort_r(r->events, r->n_events, sizeof(*r->events), event_cmp, &order);
	}
	return 0;
}

static int parse_affected(struct parse_ctx *pc, json_t *ja, size_t idx, struct osv_affected *a)
{
	char where[96], w2[128];
	snprintf(where, sizeof(where), "affected[%zu]", idx);
	if (!json_is_object(ja))
		return fail(pc, FERRY_E_INVALID, "%s: expected an object", where);
	json_t *pkg = json_object_get(ja, "package");
	if (!json_is_object(pkg))
		return fail(pc, FERRY_E_INVALID, "%s.package: missing", where);
	snprintf(w2, sizeof(w2), "%s.package.", where);
	int rc =
	    get_string(pc, pkg, "ecosystem", w2, true, pc->lim->max_string, false, &a->ecosystem);
	if (rc == 0)
		rc = get_string(pc, pkg, "name", w2, true, pc->lim->max_string, false, &a->name);
	if (rc == 0)
		rc = get_string(pc, pkg, "purl", w2, false, pc->lim->max_string, false, &a->purl);
	if (rc < 0)
		return rc;
	a->ordering = vuln_ecosystem_ordering(a->ecosystem);

	json_t *ranges;
	snprintf(w2, sizeof(w2), "%s.", where);
	rc = get_array(pc, ja, "ranges", w2, pc->lim->max_ranges, &ranges);
	if (rc < 0)
		return rc;
	if (ranges && json_array_size(ranges) > 0) {
		a->ranges = calloc(json_array_size(ranges), sizeof(*a->ranges));
		if (!a->ranges)
			return fail(pc, FERRY_E_NOMEM, "out of memory");
		size_t i;
		json_t *jr;
		json_array_foreach(ranges, i, jr)
		{
			snprintf(w2, sizeof(w2), "%s.ranges[%zu]", where, i);
			a->n_ranges++;
			rc = parse_range(pc, jr, w2, a->ordering, &a->ranges[i]);
			if (rc < 0)
				return rc;
		}
	}
	snprintf(w2, sizeof(w2), "%s.", where);
	rc = get_strings(pc, ja, "versions", w2, pc->lim->max_versions, &a->versions,
	                 &a->n_versions);
	if (rc < 0)
		return rc;
	rc = get_nested_label(pc, ja, "ecosystem_specific", severity_labels, &a->severity);
	if (rc == 0 && !a->severity)
		rc = get_nested_label(pc, ja, "database_specific", severity_labels, &a->severity);
	return rc;
}

int osv_parse_time(const char *s, int64_t *out)
{
	struct tm tm = {0};
	if (!s)
		return FERRY_E_INVALID;
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p) {
		memset(&tm, 0, sizeof(tm));
		p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	}
	if (!p)
		return FERRY_E_INVALID;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return FERRY_E_INVALID;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = (p[1] - '0') * 10 + (p[2] - '0');
		int m = (p[4] - '0') * 10 + (p[5] - '0');
		if (h < 0 || h > 23 || m < 0 || m > 59)
			return FERRY_E_INVALID;
		offset = (h * 60 + m) * 60;
		if (*p == '-')
			offset = -offset;
		p += 6;
	} else {
		return FERRY_E_INVALID;
	}
	if (*p)
		return FERRY_E_INVALID;
	*out = (int64_t)timegm(&tm) - offset;
	return 0;
}

static int record_digest(json_t *obj, char out[65], char **keep, struct parse_ctx *pc)
{
	_cleanup_free_ char *canon =
	    json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (!canon)
		return fail(pc, FERRY_E_NOMEM, "out of memory");
	if (crypto_digest_hex(CRYPTO_HASH_SHA256, canon, strlen(canon), out, NULL) < 0)
		return fail(pc, FERRY_E_INTERNAL, "SHA-256 failed");
	if (keep)
		*keep = steal_pointer(&canon);
	return 0;
}

int osv_record_from_json(json_t *obj, const char *origin, const struct osv_limits *lim,
                         struct osv_record **out, ferry_error *err)
{
	struct osv_limits deflim;
	if (!lim) {
		osv_limits_default(&deflim);
		lim = &deflim;
	}
	struct parse_ctx pc = {.lim = lim, .origin = origin ? origin : "record", .err = err};
	*out = NULL;
	if (!json_is_object(obj))
		return fail(&pc, FERRY_E_INVALID, "expected a JSON object");
	_cleanup_(osv_record_freep) struct osv_record *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return fail(&pc, FERRY_E_NOMEM, "out of memory");
	int rc = get_string(&pc, obj, "id", "", true, 128, false, &rec->id);
	if (rc < 0)
		return rc;
	for (const char *p = rec->id; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '/' || (unsigned char)*p >= 0x7f)
			return fail(&pc, FERRY_E_INVALID,
			            "id: '%.64s' has a character outside "
			            "printable ASCII or a '/'",
			            rec->id);
	pc.id = rec->id;
	if (json_depth(obj, lim->max_depth + 1) > lim->max_depth)
		return fail(&pc, FERRY_E_LIMIT, "nested deeper than %zu levels", lim->max_depth);
	rc = get_string(&pc, obj, "modified", "", true, 64, false, &rec->modified);
	if (rc < 0)
		return rc;
	if (osv_parse_time(rec->modified, &rec->modified_ts) < 0)
		return fail(&pc, FERRY_E_INVALID, "modified: '%s' is not an RFC 3339 time",
		            rec->modified);
	int64_t ts;
	if ((rc = get_string(&pc, obj, "published", "", false, 64, false, &rec->published)) < 0)
		return rc;
	if (rec->published && osv_parse_time(rec->published, &ts) < 0)
		return fail(&pc, FERRY_E_INVALID, "published: '%s' is not an RFC 3339 time",
		            rec->published);
	if ((rc = get_string(&pc, obj, "withdrawn", "", false, 64, false, &rec->withdrawn)) < 0)
		return rc;
	if (rec->withdrawn && osv_parse_time(rec->withdrawn, &ts) < 0)
		return fail(&pc, FERRY_E_INVALID, "withdrawn: '%s' is not an RFC 3339 time",
		            rec->withdrawn);
	if ((rc = get_strings(&pc, obj, "aliases", "", lim->max_aliases, &rec->aliases,
	                      &rec->n_aliases)) < 0 ||
	    (rc = get_strings(&pc, obj, "upstream", "", lim->max_aliases, &rec->aliases,
	                      &rec->n_aliases)) < 0)
		return rc;
	if ((rc = get_string(&pc, obj, "summary", "", false, lim->max_details, true,
	                     &rec->summary)) < 0 ||
	    (rc = get_string(&pc, obj, "details", "", false, lim->max_details, true,
	                     &rec->details)) < 0)
		return rc;

	json_t *sev;
	if ((rc = get_array(&pc, obj, "severity", "", lim->max_severity, &sev)) < 0)
		return rc;
	if (sev && json_array_size(sev) > 0) {
		rec->severity = calloc(json_array_size(sev), sizeof(*rec->severity));
		if (!rec->severity)
			return fail(&pc, FERRY_E_NOMEM, "out of memory");
		size_t i;
		json_t *js;
		json_array_foreach(sev, i, js)
		{
			char w[48];
			snprintf(w, sizeof(w), "severity[%zu].", i);
			if (!json_is_object(js))
				return fail(&pc, FERRY_E_INVALID,
				            "severity[%zu]: expected an object", i);
			rec->n_severity++;
			if ((rc = get_string(&pc, js, "type", w, true, 64, false,
			                     &rec->severity[i].type)) < 0 ||
			    (rc = get_string(&pc, js, "score", w, true, lim->max_string, false,
			                     &rec->severity[i].score)) < 0)
				return rc;
		}
	}
	if ((rc = get_nested_label(&pc, obj, "database_specific", severity_labels,
	                           &rec->db_severity)) < 0)
		return rc;

	json_t *aff;
	if ((rc = get_array(&pc, obj, "affected", "", lim->max_affected, &aff)) < 0)
		return rc;
	if (aff && json_array_size(aff) > 0) {
		rec->affected = calloc(json_array_size(aff), sizeof(*rec->affected));
		if (!rec->affected)
			return fail(&pc, FERRY_E_NOMEM, "out of memory");
		size_t i;
		json_t *ja;
		json_array_foreach(aff, i, ja)
		{
			rec->n_affected++;
			if ((rc = parse_affected(&pc, ja, i, &rec->affected[i])) < 0)
				return rc;
		}
	}
	if ((rc = record_digest(obj, rec->digest, lim->keep_json ? &rec->json : NULL, &pc)) < 0)
		return rc;
	*out = steal_pointer(&rec);
	return 0;
}

int osv_record_parse(const char *data, size_t len, const char *origin, const struct osv_limits *lim,
                     struct osv_record **out, ferry_error *err)
{
	*out = NULL;
	json_error_t jerr;
	_cleanup_(json_decrefp) json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return ferry_error_set(err, FERRY_E_INVALID, "%s:%d:%d: %s",
		                       origin ? origin : "record", jerr.line, jerr.column,
		                       jerr.text);
	return osv_record_from_json(j, origin, lim, out, err);
}

/* ---- sources ---- */

struct import_ctx {
	const struct osv_limits *lim;
	osv_record_fn on_record;
	osv_reject_fn on_reject;
	void *ctx;
	struct osv_import_stats *st;
};

static void reject(struct import_ctx *ic, const char *origin, const char *id,
                   const ferry_error *why)
{
	ic->st->rejected++;
	if (ic->on_reject)
		ic->on_reject(ic->ctx, origin, id, why);
}

/* The id of a record that failed to parse, if it has a readable one. */
static const char *json_id(json_t *obj)
{
	json_t *id = json_object_get(obj, "id");
	if (json_is_string(id) && json_string_length(id) <= 128)
		return json_string_value(id);
	return NULL;
}

static int handle_object(struct import_ctx *ic, json_t *obj, const char *origin)
{
	ferry_error perr = {0};
	struct osv_record *rec = NULL;
	if (osv_record_from_json(obj, origin, ic->lim, &rec, &perr) < 0) {
		reject(ic, origin, json_is_object(obj) ? json_id(obj) : NULL, &perr);
		return 0;
	}
	ic->st->records++;
	return ic->on_record(ic->ctx, rec, origin);
}

/* One JSON document: a record, or an array of records. */
static int handle_document(struct import_ctx *ic, const char *data, size_t len, const char *origin)
{
	ic->st->files++;
	json_error_t jerr;
	_cleanup_(json_decrefp) json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		ferry_error perr = {0};
		ferry_error_set(&perr, FERRY_E_INVALID, "%s:%d:%d: %s", origin, jerr.line,
		                jerr.column, jerr.text);
		reject(ic, origin, NULL, &perr);
		return 0;
	}
	if (!json_is_array(j))
		return handle_object(ic, j, origin);
	if (json_array_size(j) > ic->lim->max_entries) {
		ferry_error perr = {0};
		ferry_error_set(&perr, FERRY_E_LIMIT, "%s: more than %zu records", origin,
		                ic->lim->max_entries);
		reject(ic, origin, NULL, &perr);
		return 0;
	}
	size_t i;
	json_t *obj;
	json_array_foreach(j, i, obj)
	{
		char sub[PATH_MAX + 32];
		snprintf(sub, sizeof(sub), "%s[%zu]", origin, i);
		int rc = handle_object(ic, obj, sub);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int account(struct import_ctx *ic, size_t len, const char *origin, ferry_error *err)
{
	ic->st->bytes += len;
	if (ic->st->bytes > ic->lim->max_total)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %llu bytes in all",
		                       origin, (unsigned long long)ic->lim->max_total);
	return 0;
}

static int import_file(struct import_ctx *ic, const char *path, ferry_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	ferry_error ferr = {0};
	int rc = fs_read_file(path, ic->lim->max_file, &data, &len, &ferr);
	if (rc == FERRY_E_LIMIT) {
		reject(ic, path, NULL, &ferr);
		return 0;
	}
	if (rc < 0) {
		*err = ferr;
		return rc;
	}
	if ((rc = account(ic, len, path, err)) < 0)
		return rc;
	return handle_document(ic, data, len, path);
}

static int import_dir(struct import_ctx *ic, const char *path, int depth, ferry_error *err)
{
	if (depth > 8)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: directories nested deeper than 8",
		                       path);
	struct dirent **names = NULL;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "read directory %s", path);
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (rc == 0 && name[0] != '.') {
			char sub[PATH_MAX];
			struct stat st;
			if (snprintf(sub, sizeof(sub), "%s/%s", path, name) >= (int)sizeof(sub)) {
				rc = ferry_error_set(err, FERRY_E_LIMIT, "%s/%s: path too long",
				                     path, name);
			} else if (lstat(sub, &st) < 0) {
				rc = ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", sub);
			} else if (S_ISDIR(st.st_mode)) {
				rc = import_dir(ic, sub, depth + 1, err);
			} else if (S_ISREG(st.st_mode) && str_has_suffix(name, ".json")) {
				if (ic->st->files >= ic->lim->max_entries)
					rc = ferry_error_set(err, FERRY_E_LIMIT,
					                     "%s: more than %zu files", path,
					                     ic->lim->max_entries);
				else
					rc = import_file(ic, sub, err);
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

DEFINE_CLEANUP(zip_t *, zip_discard)
DEFINE_CLEANUP(zip_file_t *, zip_fclose)

static int import_zip(struct import_ctx *ic, const char *path, ferry_error *err)
{
	int zerr = 0;
	_cleanup_(zip_discardp) zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
	if (!za) {
		zip_error_t ze;
		zip_error_init_with_code(&ze, zerr);
		int code =
		    zerr == ZIP_ER_OPEN || zerr == ZIP_ER_READ ? FERRY_E_IO : FERRY_E_CORRUPT;
		ferry_error_set(err, code, "%s: not a readable zip: %s", path,
		                zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return code;
	}
	zip_int64_t n = zip_get_num_entries(za, 0);
	if (n < 0 || (uint64_t)n > ic->lim->max_entries)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %zu entries", path,
		                       ic->lim->max_entries);
	_cleanup_free_ char *data = malloc(ic->lim->max_file + 1);
	if (!data)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (zip_int64_t i = 0; i < n; i++) {
		zip_stat_t zs;
		if (zip_stat_index(za, (zip_uint64_t)i, 0, &zs) < 0 || !(zs.valid & ZIP_STAT_NAME))
			return ferry_error_set(err, FERRY_E_CORRUPT, "%s: entry %lld: %s", path,
			                       (long long)i, zip_strerror(za));
		if (!str_has_suffix(zs.name, ".json"))
			continue;
		char origin[PATH_MAX + 256];
		snprintf(origin, sizeof(origin), "%s:%s", path, zs.name);
		ic->st->files++;
		if ((zs.valid & ZIP_STAT_SIZE) && zs.size > ic->lim->max_file) {
			ferry_error perr = {0};
			ferry_error_set(&perr, FERRY_E_LIMIT, "%s: larger than %zu bytes", origin,
			                ic->lim->max_file);
			reject(ic, origin, NULL, &perr);
			continue;
		}
		_cleanup_(zip_fclosep) zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t)i, 0);
		if (!zf) {
			ferry_error perr = {0};
			ferry_error_set(&perr, FERRY_E_CORRUPT, "%s: %s", origin, zip_strerror(za));
			reject(ic, origin, NULL, &perr);
			continue;
		}
		/* Read up to one byte past the bound, whatever the header says. */
		size_t len = 0;
		bool bad = false;
		for (;;) {
			zip_int64_t got = zip_fread(zf, data + len, ic->lim->max_file + 1 - len);
			if (got < 0) {
				ferry_error perr = {0};
				ferry_error_set(&perr, FERRY_E_CORRUPT, "%s: %s", origin,
				                zip_file_strerror(zf));
				reject(ic, origin, NULL, &perr);
				bad = true;
				break;
			}
			if (got == 0)
				break;
			len += (size_t)got;
			int rc = account(ic, (size_t)got, path, err);
			if (rc < 0)
				return rc;
			if (len > ic->lim->max_file) {
				ferry_error perr = {0};
				ferry_error_set(&perr, FERRY_E_LIMIT, "%s: larger than %zu bytes",
				                origin, ic->lim->max_file);
				reject(ic, origin, NULL, &perr);
				bad = true;
				break;
			}
		}
		ic->st->files--; /* counted again by handle_document */
		if (bad) {
			ic->st->files++;
			continue;
		}
		int rc = handle_document(ic, data, len, origin);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int osv_import_path(const char *path, const struct osv_limits *lim, osv_record_fn on_record,
                    osv_reject_fn on_reject, void *ctx, struct osv_import_stats *stats,
                    ferry_error *err)
{
	struct osv_limits deflim;
	struct osv_import_stats st0 = {0};
	if (!lim) {
		osv_limits_default(&deflim);
		lim = &deflim;
	}
	struct import_ctx ic = {lim, on_record, on_reject, ctx, stats ? stats : &st0};
	*ic.st = (struct osv_import_stats){0};
	struct stat st;
	if (stat(path, &st) < 0)
		return ferry_error_errno(err, errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO,
		                         errno, "%s", path);
	if (S_ISDIR(st.st_mode))
		return import_dir(&ic, path, 0, err);
	if (!S_ISREG(st.st_mode))
		return ferry_error_set(err, FERRY_E_INVALID, "%s: not a file or directory", path);
	if (str_has_suffix(path, ".zip"))
		return import_zip(&ic, path, err);
	/* By content, not name: a zip starts with "PK\3\4". */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char magic[4] = {0};
	if (fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "PK\3\4", 4) == 0)
		return import_zip(&ic, path, err);
	return import_file(&ic, path, err);
}
