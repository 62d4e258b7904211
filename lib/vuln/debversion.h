/* debversion.h: Debian package versions ([EPOCH:]UPSTREAM[-REVISION]),
 * parsed and ordered exactly as dpkg orders them (deb-version(7)): epochs as
 * numbers, then upstream and revision part by part, where runs of digits
 * compare as numbers and other characters compare with `~` before the end
 * of the string, the end before letters, letters before everything else.
 *
 * This module only parses and compares. It accepts what dpkg accepts without
 * an error; characters dpkg merely warns about (outside A-Za-z0-9.+-~:) are
 * refused here, since no real package carries them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define DEBVERSION_MAX 256 /* longest version string accepted, in bytes */

struct debversion {
	unsigned long epoch;
	char upstream[DEBVERSION_MAX];
	char revision[DEBVERSION_MAX]; /* "" when the version has none */
};

/* Parse s (surrounding white space is ignored, as dpkg does). Errors name
 * the version and the cause, in dpkg's words where dpkg has them. */
int debversion_parse(const char *s, struct debversion *out, ferry_error *err) FERRY_WUR;

/* <0, 0 or >0 as a sorts before, equal to, or after b. */
int debversion_cmp(const struct debversion *a, const struct debversion *b);

/* Parse both and compare; *result as debversion_cmp. Fails when either
 * string does not parse. */
int debversion_compare(const char *a, const char *b, int *result, ferry_error *err) FERRY_WUR;

/* The ordering of one part (upstream or revision) alone, as dpkg's verrevcmp:
 * exposed for callers that already split a version. */
int debversion_part_cmp(const char *a, const char *b);
