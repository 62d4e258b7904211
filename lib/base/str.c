/* str.c: bounded string helpers: copies and printf that report truncation,
 * prefix tests, edit distance for did-you-mean, strict number and duration
 * parsing, UTF-8 validation, hex. No allocation except str_dup_printf. */
#include "base/str.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int str_copy(char *dst, size_t size, const char *src)
{
	if (size == 0)
		return FERRY_E_LIMIT;
	size_t n = strlen(src);
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return FERRY_E_LIMIT;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int str_printf(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		return FERRY_E_INVALID;
	if ((size_t)n >= size)
		return FERRY_E_LIMIT;
	return 0;
}

char *str_dup_printf(const char *fmt, ...)
{
	char *out = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&out, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : out;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

size_t str_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *str_did_you_mean(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	size_t wl = strlen(word);

	for (size_t i = 0; candidates[i]; i++) {
		size_t d = str_edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	if (best && best_d <= 2 && best_d * 2 < (wl > 1 ? wl : 2))
		return best;
	return NULL;
}

int str_to_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!s || !*s)
		return FERRY_E_INVALID;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return FERRY_E_INVALID;
		unsigned d = (unsigned)(*p - '0');
		if (d > max || v > (max - d) / 10)
			return FERRY_E_LIMIT;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int str_parse_duration_ms(const char *s, unsigned long long max_ms, unsigned long long *out_ms)
{
	char num[21];
	size_t n = 0;
	unsigned long long v, mult;

	if (!s)
		return FERRY_E_INVALID;
	while (s[n] >= '0' && s[n] <= '9') {
		if (n + 1 >= sizeof(num))
			return FERRY_E_LIMIT;
		num[n] = s[n];
		n++;
	}
	if (n == 0)
		return FERRY_E_INVALID;
	num[n] = '\0';
	const char *unit = s + n;
	if (strcmp(unit, "ms") == 0)
		mult = 1;
	else if (strcmp(unit, "s") == 0)
		mult = 1000;
	else if (strcmp(unit, "m") == 0)
		mult = 60ULL * 1000;
	else if (strcmp(unit, "h") == 0)
		mult = 3600ULL * 1000;
	else
		return FERRY_E_INVALID;
	int rc = str_to_u64(num, max_ms / mult, &v);
	if (rc < 0)
		return rc;
	*out_ms = v * mult;
	return 0;
}

bool str_valid_utf8(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t need;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			need = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			need = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000))
			return false;
		if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += need + 1;
	}
	return true;
}

void str_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int str_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
