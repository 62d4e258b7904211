/* match.h: does an advisory affect a bundled component?
 *
 * A component comes from a package URL in the SBOM
 * (https://github.com/package-url/purl-spec):
 *   pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl
 * Debian (and Ubuntu) advisories name source packages, so a deb component is
 * matched by its source: the `upstream` qualifier gives the source name and,
 * after an '@', the source version (upstream=openssl@3.0.11-1~deb12u2).
 * Without a source version the binary version is used with a binNMU suffix
 * (+bN) removed: for nearly every package that is the source version. Without
 * `upstream` the binary name is taken as the source name. `distro`
 * (debian-12, bookworm, ubuntu-22.04) selects the release: a record for
 * "Debian:12" applies to release 12 only, a record for plain "Debian" to
 * every release, and a component whose release is unknown to every record.
 *
 * Other purl types map to OSV ecosystems: npm, pypi (PyPI), cargo
 * (crates.io), golang (Go, name NAMESPACE/NAME), gem (RubyGems), maven
 * (Maven, name GROUP:ARTIFACT), nuget (NuGet), hex (Hex), pub (Pub),
 * composer (Packagist), apk (Alpine).
 *
 * A range is evaluated as the OSV schema defines: events sorted by version,
 * a version is affected after an introduced event ("0": from the start) until
 * a fixed event at or below it, or a last_affected event below it; a limit at
 * or below it ends the range. Ranges add up, and an explicit versions list
 * matches too. GIT ranges never match. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "vuln/osv.h"

#define PURL_MAX 2048

struct vuln_component {
	char ecosystem[32]; /* OSV ecosystem without release: Debian, npm, ... */
	char release[32];   /* "12" for Debian 12, "" when unknown */
	char name[256];     /* what advisories name: the source package for deb */
	char version[256];  /* the version advisories are compared with */
	char package[256];  /* the name in the purl (the binary package for deb) */
	char package_version[256];
};

/* Parse a purl into a component. Unknown types fail with
 * FERRY_E_UNSUPPORTED, malformed ones with FERRY_E_INVALID. */
int vuln_component_from_purl(const char *purl, struct vuln_component *c,
                             ferry_error *err) FERRY_WUR;

/* Does the affected entry name this component's ecosystem, release and
 * package? (Versions are not looked at.) */
bool vuln_affected_names(const struct osv_affected *a, const struct vuln_component *c);

/* Is version affected by this entry? *fixed (when not NULL) is set to the
 * smallest fixed version above it among the ranges that contain it, or NULL
 * when none is known. Fails when the version does not parse under the
 * ecosystem's ordering and the entry has ranges to evaluate. */
int vuln_affected_check(const struct osv_affected *a, const char *version, bool *affected,
                        const char **fixed, ferry_error *err) FERRY_WUR;

/* One record against one component: all of its affected entries that name
 * the component. *fixed as above, over all of them. A withdrawn record never
 * matches. */
int vuln_record_check(const struct osv_record *rec, const struct vuln_component *c, bool *affected,
                      const char **fixed, ferry_error *err) FERRY_WUR;

/* The severity to show for a record on a component: the first severity
 * score (e.g. a CVSS vector), else the database's own label, else the
 * label of a matching affected entry, else NULL. */
const char *vuln_record_severity(const struct osv_record *rec, const struct vuln_component *c);
