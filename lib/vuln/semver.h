/* semver.h: Semantic Versioning 2.0.0 ordering, and the version ordering of
 * each OSV ecosystem that ferry supports.
 *
 * SemVer: MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]; numbers compare as numbers
 * of any length, a pre-release sorts before its release, pre-release fields
 * compare one by one (numeric fields as numbers and before alphanumeric
 * ones, alphanumeric fields in ASCII order, a shorter list first when all its
 * fields are equal), build metadata is ignored. A leading "v" is accepted
 * (Go writes one).
 *
 * Ecosystems (OSV's names): Debian and Ubuntu order with dpkg's rules
 * (vuln/debversion.h); npm, crates.io, Go, Hex and Pub with SemVer.
 * Every other ecosystem (PyPI, Maven, RubyGems, NuGet, Alpine, ...) has no ordering
 * here: ECOSYSTEM ranges of those records cannot be evaluated and only their
 * explicit `versions` lists match. */
#pragma once

#include <stdbool.h>

#include "base/error.h"

#define SEMVER_MAX 256 /* longest version string accepted, in bytes */

/* Is s a SemVer 2.0.0 version (with an optional leading "v")? */
bool semver_valid(const char *s);

/* Compare two SemVer versions; *result <0, 0, >0. Fails with
 * FERRY_E_INVALID, naming the version, when either is not SemVer. */
int semver_compare(const char *a, const char *b, int *result, ferry_error *err) FERRY_WUR;

enum vuln_ordering {
	VULN_ORDER_NONE = 0, /* no ordering known: explicit versions only */
	VULN_ORDER_DPKG,
	VULN_ORDER_SEMVER,
};

/* The ordering OSV defines for an ecosystem name such as "Debian:12" or
 * "npm" (the part before the first ':' decides). */
enum vuln_ordering vuln_ecosystem_ordering(const char *ecosystem);

/* Compare under an ordering; FERRY_E_UNSUPPORTED for VULN_ORDER_NONE. */
int vuln_version_compare(enum vuln_ordering order, const char *a, const char *b, int *result,
                         ferry_error *err) FERRY_WUR;
