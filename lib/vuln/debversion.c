/* debversion.c: Debian version parsing and ordering, as dpkg does it.
 *
 * A version is [EPOCH:]UPSTREAM[-REVISION]: the epoch ends at the first
 * colon, the revision starts after the last hyphen. Two versions compare by
 * epoch (a number), then upstream, then revision. A part compares left to
 * right in alternating runs: a run of non-digits character by character,
 * where `~` sorts before the end of the run, the end before letters and
 * letters before any other character; then a run of digits as a number
 * (leading zeros ignored, no size limit). A missing revision equals "0".
 *
 * It does not know about any package: only the strings. */
#include "vuln/debversion.h"

#include <string.h>

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Weight of one character inside a non-digit run; 0 is the end of the run. */
static int char_weight(int c)
{
	if (c == 0 || is_digit(c))
		return 0;
	if (c == '~')
		return -1;
	if (is_alpha(c))
		return c;
	return c + 256;
}

int debversion_part_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		/* non-digit run: both strings advance together */
		while ((*a && !is_digit(*a)) || (*b && !is_digit(*b))) {
			int wa = char_weight((unsigned char)*a);
			int wb = char_weight((unsigned char)*b);
			if (wa != wb)
				return wa < wb ? -1 : 1;
			/* equal weights are equal non-NUL, non-digit characters */
			a++;
			b++;
		}
		/* digit run: compare as numbers of any length */
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		int first_diff = 0;
		while (is_digit(*a) && is_digit(*b)) {
			if (!first_diff)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (is_digit(*a))
			return 1; /* a's number has more digits */
		if (is_digit(*b))
			return -1;
		if (first_diff)
			return first_diff < 0 ? -1 : 1;
	}
	return 0;
}

int debversion_cmp(const struct debversion *a, const struct debversion *b)
{
	if (a->epoch != b->epoch)
		return a->epoch < b->epoch ? -1 : 1;
	int r = debversion_part_cmp(a->upstream, b->upstream);
	if (r)
		return r;
	return debversion_part_cmp(a->revision, b->revision);
}

static bool is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int debversion_parse(const char *s, struct debversion *out, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return ferry_error_set(err, FERRY_E_INVALID, "version string is empty");
	while (is_space(*s))
		s++;
	size_t len = strnlen(s, DEBVERSION_MAX + 1);
	while (len > 0 && len <= DEBVERSION_MAX && is_space(s[len - 1]))
		len--;
	if (len > DEBVERSION_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "version '%.32s...' is longer than %d bytes", s,
		                       DEBVERSION_MAX);
	if (len == 0)
		return ferry_error_set(err, FERRY_E_INVALID, "version string is empty");
	char v[DEBVERSION_MAX + 1];
	memcpy(v, s, len);
	v[len] = 0;
	for (size_t i = 0; i < len; i++)
		if (is_space(v[i]))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "version '%s' has embedded spaces", v);

	const char *rest = v;
	char *colon = strchr(v, ':');
	if (colon) {
		if (colon == v)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "version '%s': epoch in version is empty", v);
		unsigned long epoch = 0;
		for (const char *p = v; p < colon; p++) {
			if (!is_digit(*p))
				return ferry_error_set(
				    err, FERRY_E_INVALID,
				    "version '%s': epoch in version is not number", v);
			epoch = epoch * 10 + (unsigned long)(*p - '0');
			if (epoch > 2147483647UL)
				return ferry_error_set(err, FERRY_E_INVALID,
				                       "version '%s': epoch in version is too big",
				                       v);
		}
		if (colon[1] == 0)
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "version '%s': nothing after colon in version number", v);
		out->epoch = epoch;
		rest = colon + 1;
	}

	char *hyphen = strrchr(rest, '-');
	size_t up_len = hyphen ? (size_t)(hyphen - rest) : strlen(rest);
	if (hyphen && hyphen[1] == 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "version '%s': revision number is empty", v);
	if (up_len == 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "version '%s': version number is empty", v);
	memcpy(out->upstream, rest, up_len);
	out->upstream[up_len] = 0;
	if (hyphen)
		memcpy(out->revision, hyphen + 1, strlen(hyphen + 1) + 1);

	for (const char *p = out->upstream; *p; p++)
		if (!is_digit(*p) && !is_alpha(*p) && !strchr(".-+~:", *p))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "version '%s': invalid character in version number",
			                       v);
	for (const char *p = out->revision; *p; p++)
		if (!is_digit(*p) && !is_alpha(*p) && !strchr(".+~", *p))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "version '%s': invalid character in revision number",
			                       v);
	return 0;
}

int debversion_compare(const char *a, const char *b, int *result, ferry_error *err)
{
	struct debversion va, vb;
	int rc = debversion_parse(a, &va, err);
	if (rc == 0)
		rc = debversion_parse(b, &vb, err);
	if (rc < 0)
		return rc;
	*result = debversion_cmp(&va, &vb);
	return 0;
}
