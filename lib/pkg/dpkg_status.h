/* dpkg_status.h: reads dpkg's status database (var/lib/dpkg/status) of a
 * root file system: which packages are installed, at which version, built
 * from which source. A base's SBOM lists them; pack leaves them out of what
 * it stages and names them when a library is missing.
 *
 * Only stanzas whose Status is "install ok installed" count. The text comes
 * from an image that may be hostile: its size is bounded by the caller, the
 * number of packages by DPKG_STATUS_MAX_PACKAGES, and every field is checked
 * as stage_parse_control checks a .deb's. */
#pragma once

#include <stddef.h>

#include "base/error.h"
#include "pkg/stage.h"

#define DPKG_STATUS_PATH "var/lib/dpkg/status"
#define DPKG_STATUS_MAX_BYTES (64u * 1024 * 1024)
#define DPKG_STATUS_MAX_PACKAGES 20000

/* The installed packages, sorted by name then architecture, as stage_debs
 * (part, sha256 and filename NULL), into out (stage_result_free). */
int dpkg_status_parse(const char *text, size_t len, struct stage_result *out,
                      ferry_error *err) FERRY_WUR;

/* The installed package called name (any architecture when arch is NULL,
 * else arch or "all"); NULL when there is none. */
const struct stage_deb *dpkg_status_find(const struct stage_result *st, const char *name,
                                         const char *arch);
