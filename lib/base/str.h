/* str.h: bounded string helpers. Every function that writes takes the size of
 * its destination and reports truncation instead of overflowing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* Copy src into dst (size bytes) and always NUL-terminate when size > 0.
 * Returns 0, or FERRY_E_LIMIT if src did not fit (dst then holds a prefix). */
int str_copy(char *dst, size_t size, const char *src) FERRY_WUR;

/* snprintf that returns 0, or FERRY_E_LIMIT on truncation. */
int str_printf(char *dst, size_t size, const char *fmt, ...) FERRY_PRINTF(3, 4) FERRY_WUR;

/* Heap printf; NULL only when out of memory. */
char *str_dup_printf(const char *fmt, ...) FERRY_PRINTF(1, 2);

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
/* NULL-safe equality. */
bool str_eq(const char *a, const char *b);

/* Levenshtein distance between a and b, or SIZE_MAX when either is longer
 * than 64 bytes (used for did-you-mean suggestions on short names). */
size_t str_edit_distance(const char *a, const char *b);

/* Of the NULL-terminated candidates, the one closest to word when it is close
 * enough to be a plausible typo (distance <= 2 and less than half the word),
 * else NULL. */
const char *str_did_you_mean(const char *word, const char *const *candidates);

/* Parse a decimal unsigned integer that must span the whole string and be
 * <= max. Returns 0, FERRY_E_INVALID or FERRY_E_LIMIT. */
int str_to_u64(const char *s, unsigned long long max, unsigned long long *out) FERRY_WUR;

/* Parse a duration written as NUMBER UNIT with units ms, s, m, h (e.g. "500ms",
 * "30s", "5m", "1h") into milliseconds, at most max_ms. */
int str_parse_duration_ms(const char *s, unsigned long long max_ms,
                          unsigned long long *out_ms) FERRY_WUR;

/* Is s valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF) of len bytes? */
bool str_valid_utf8(const char *s, size_t len);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void str_hex(const unsigned char *in, size_t len, char *out);

/* The value of one hex digit (either case), or -1 when c is none. */
int str_hex_digit(int c);
