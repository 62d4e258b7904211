/* validate.h: the store's check of an uploaded image before it is accepted.
 * The package image reader (lib/pkg/image.h) does the structural and safety
 * checks as it walks every entry: a squashfs image whose tables are sane, no
 * more than IMAGE_MAX_FILES entries and IMAGE_MAX_BYTES of content, only
 * regular files, directories and symlinks, no setuid or setgid bits, no
 * symlink that leads out of the image. On top of that the image must hold a
 * meta/ferry.yaml that the manifest parser accepts. meta/sbom.cdx.json, when
 * present, must be a JSON object of at most VALIDATE_SBOM_MAX bytes.
 * Every refusal is FERRY_E_INVALID, _CORRUPT, _LIMIT or _UNSAFE with a
 * message that names the path inside the image. Reads only the file given;
 * never mounts or extracts. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "pkg/manifest.h"

#define VALIDATE_SBOM_MAX (16u * 1024 * 1024) /* as SBOM_MAX_BYTES */

struct upload_info {
	struct manifest *manifest; /* parsed meta/ferry.yaml */
	char *manifest_text;       /* as stored in the image */
	char *sbom_text;           /* meta/sbom.cdx.json, or NULL */
	uint64_t files;
	uint64_t content_bytes;
};

int validate_image(const char *path, struct upload_info *out, ferry_error *err) FERRY_WUR;
void upload_info_free(struct upload_info *info);
