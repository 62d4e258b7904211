/* semver.c: SemVer 2.0.0 precedence, and the mapping from OSV ecosystem
 * names to the ordering their versions follow.
 *
 * Versions are compared in place, without allocation: the string is walked
 * field by field. It does not parse ranges ("^1.2", ">=1.0"): OSV ranges are
 * events, evaluated in vuln/match.c. */
#include "vuln/semver.h"

#include <string.h>

#include "vuln/debversion.h"

struct semver_view {
	const char *core[3];
	size_t core_len[3];
	const char *pre; /* NULL when there is no pre-release */
	size_t pre_len;
};

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_char(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* A numeric identifier: digits, no leading zero unless it is "0". */
static bool numeric_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return n == 1 || s[0] != '0';
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* Dot-separated identifiers, none empty; numeric ones without leading zeros
 * when strict (pre-release), any when not (build). */
static bool idents_ok(const char *s, size_t n, bool strict)
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			size_t len = i - start;
			if (len == 0)
				return false;
			if (strict && all_digits(s + start, len) && !numeric_ok(s + start, len))
				return false;
			start = i + 1;
		} else if (!is_ident_char(s[i])) {
			return false;
		}
	}
	return true;
}

static bool semver_split(const char *s, struct semver_view *v)
{
	memset(v, 0, sizeof(*v));
	if (!s)
		return false;
	size_t total = strnlen(s, SEMVER_MAX + 1);
	if (total > SEMVER_MAX)
		return false;
	if (*s == 'v')
		s++;
	const char *p = s;
	for (int i = 0; i < 3; i++) {
		const char *start = p;
		while (is_digit(*p))
			p++;
		v->core[i] = start;
		v->core_len[i] = (size_t)(p - start);
		if (!numeric_ok(start, v->core_len[i]))
			return false;
		if (i < 2) {
			if (*p != '.')
				return false;
			p++;
		}
	}
	const char *end = p + strlen(p);
	const char *plus = strchr(p, '+');
	if (*p == '-') {
		v->pre = p + 1;
		v->pre_len = (size_t)((plus ? plus : end) - v->pre);
		if (!idents_ok(v->pre, v->pre_len, true))
			return false;
	} else if (*p != '+' && *p != 0) {
		return false;
	}
	if (plus && !idents_ok(plus + 1, (size_t)(end - plus - 1), false))
		return false;
	return true;
}

bool semver_valid(const char *s)
{
	struct semver_view v;
	return semver_split(s, &v);
}

/* Numbers without leading zeros: longer is larger, then bytewise. */
static int num_cmp(const char *a, size_t na, const char *b, size_t nb)
{
	if (na != nb)
		return na < nb ? -1 : 1;
	int r = memcmp(a, b, na);
	return r < 0 ? -1 : r > 0;
}

static int pre_cmp(const char *a, size_t na, const char *b, size_t nb)
{
	size_t ia = 0, ib = 0;
	for (;;) {
		if (ia >= na && ib >= nb)
			return 0;
		if (ia >= na)
			return -1;
		if (ib >= nb)
			return 1;
		size_t ea = ia, eb = ib;
		while (ea < na && a[ea] != '.')
			ea++;
		while (eb < nb && b[eb] != '.')
			eb++;
		bool da = all_digits(a + ia, ea - ia), db = all_digits(b + ib, eb - ib);
		int r;
		if (da && db) {
			r = num_cmp(a + ia, ea - ia, b + ib, eb - ib);
		} else if (da != db) {
			r = da ? -1 : 1;
		} else {
			size_t la = ea - ia, lb = eb - ib;
			r = memcmp(a + ia, b + ib, la < lb ? la : lb);
			if (r == 0)
				r = la < lb ? -1 : la > lb;
			else
				r = r < 0 ? -1 : 1;
		}
		if (r)
			return r;
		ia = ea + 1;
		ib = eb + 1;
	}
}

int semver_compare(const char *a, const char *b, int *result, ferry_error *err)
{
	struct semver_view va, vb;
	if (!semver_split(a, &va))
		return ferry_error_set(err, FERRY_E_INVALID, "version '%.64s' is not SemVer 2.0.0",
		                       a ? a : "");
	if (!semver_split(b, &vb))
		return ferry_error_set(err, FERRY_E_INVALID, "version '%.64s' is not SemVer 2.0.0",
		                       b ? b : "");
	for (int i = 0; i < 3; i++) {
		int r = num_cmp(va.core[i], va.core_len[i], vb.core[i], vb.core_len[i]);
		if (r) {
			*result = r;
			return 0;
		}
	}
	if (!va.pre || !vb.pre)
		*result = va.pre ? -1 : vb.pre ? 1 : 0;
	else
		*result = pre_cmp(va.pre, va.pre_len, vb.pre, vb.pre_len);
	return 0;
}

static const struct {
	const char *name;
	enum vuln_ordering order;
} ecosystem_table[] = {
    {"Debian", VULN_ORDER_DPKG},      {"Ubuntu", VULN_ORDER_DPKG}, {"npm", VULN_ORDER_SEMVER},
    {"crates.io", VULN_ORDER_SEMVER}, {"Go", VULN_ORDER_SEMVER},   {"Hex", VULN_ORDER_SEMVER},
    {"Pub", VULN_ORDER_SEMVER},
};

enum vuln_ordering vuln_ecosystem_ordering(const char *ecosystem)
{
	if (!ecosystem)
		return VULN_ORDER_NONE;
	size_t n = strcspn(ecosystem, ":");
	for (size_t i = 0; i < sizeof(ecosystem_table) / sizeof(ecosystem_table[0]); i++)
		if (strlen(ecosystem_table[i].name) == n &&
		    memcmp(ecosystem_table[i].name, ecosystem, n) == 0)
			return ecosystem_table[i].order;
	return VULN_ORDER_NONE;
}

int vuln_version_compare(enum vuln_ordering order, const char *a, const char *b, int *result,
                         ferry_error *err)
{
	switch (order) {
	case VULN_ORDER_DPKG:
		return debversion_compare(a, b, result, err);
	case VULN_ORDER_SEMVER:
		return semver_compare(a, b, result, err);
	case VULN_ORDER_NONE:
		break;
	}
	return ferry_error_set(err, FERRY_E_UNSUPPORTED, "no version ordering for this ecosystem");
}
