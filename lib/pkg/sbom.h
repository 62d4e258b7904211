/* sbom.h: the package's software bill of materials, meta/sbom.cdx.json, in
 * CycloneDX 1.5 JSON.
 *
 * It lists every staged Debian package as a component of type library with
 * its package URL
 *   pkg:deb/VENDOR/NAME@VERSION?arch=ARCH&distro=DISTRO&upstream=SOURCE
 * (upstream only when the source package's name or version differs from the
 * binary's: "SOURCE" or "SOURCE@SOURCEVERSION", the way syft writes it), the
 * .deb's SHA-256 and the part that staged it; then every entry of the
 * manifest's components; metadata.component is the package itself.
 *
 * The output is the same bytes for the same input: fixed key order, components
 * in a fixed order, the timestamp given by the caller (SOURCE_DATE_EPOCH),
 * and a serial number that is a version-5 UUID of the SHA-256 of everything
 * else. It does not scan for vulnerabilities or read licences of packages. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "pkg/manifest.h"
#include "pkg/stage.h"

#define SBOM_PATH "meta/sbom.cdx.json" /* inside the package */
#define SBOM_MAX_BYTES (16u * 1024 * 1024)
#define SBOM_MAX_COMPONENTS 10000

struct sbom_input {
	const struct manifest *manifest;
	const struct stage_deb *debs;
	size_t n_debs;
	const char *vendor;       /* purl namespace of the .debs: "debian" */
	const char *distro;       /* "debian-12"; NULL or "" leaves the qualifier out */
	uint64_t timestamp;       /* seconds since 1970, UTC */
	const char *tool_version; /* ferry's version, in metadata.tools */
};

/* The CycloneDX JSON, NUL-terminated and ending in a newline; free() it. */
int sbom_write_json(const struct sbom_input *in, char **json, size_t *len,
                    ferry_error *err) FERRY_WUR;

/* The package URL of one Debian package (see above); free() it. source and
 * source_version may be NULL (taken to be name and version). */
char *sbom_deb_purl(const char *vendor, const char *name, const char *version, const char *arch,
                    const char *distro, const char *source, const char *source_version);

/* Percent-encode s for a purl component: letters, digits, ".-_~" and ":"
 * stay, every other byte becomes %XX (upper-case hex). free() the result. */
char *sbom_purl_encode(const char *s);

/* A component read back from an SBOM (for ferry inspect). */
struct sbom_component {
	char *type;
	char *name;
	char *version; /* may be NULL */
	char *purl;    /* may be NULL */
};

/* Read the components of a CycloneDX JSON document of len bytes (at most
 * SBOM_MAX_BYTES, SBOM_MAX_COMPONENTS components). */
int sbom_read_components(const char *json, size_t len, struct sbom_component **out, size_t *n,
                         ferry_error *err) FERRY_WUR;
void sbom_components_free(struct sbom_component *c, size_t n);
