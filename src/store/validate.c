/* validate.c: checks an uploaded image (see validate.h) with the package
 * image reader of lib/pkg, which treats it as untrusted input: the walk
 * validates every entry with bounded depth, count and sizes, and file reads
 * are bounded. This file adds what only the store asks: a manifest that
 * parses and an SBOM that is a JSON object. Not here: writing images. */
#include "validate.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pkg/image.h"

static int count_entry(const struct image_entry *e, void *ctx)
{
	struct upload_info *info = ctx;
	info->files++;
	if (S_ISREG(e->mode))
		info->content_bytes += e->size;
	return 0;
}

int validate_image(const char *path, struct upload_info *out, ferry_error *err)
{
	struct image *img = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = image_open(path, &img, err);
	if (rc < 0)
		goto out;
	/* mksquashfs and ferry pack pad to 4 KiB; anything beyond is not part
	 * of the image and is refused rather than stored and served */
	struct image_info ii;
	struct stat sb;
	image_get_info(img, &ii);
	if (stat(path, &sb) == 0 && (uint64_t)sb.st_size > ((ii.bytes_used + 4095) & ~4095ull)) {
		rc = ferry_error_set(err, FERRY_E_INVALID,
		                     "%lld bytes follow the end of the file system (%llu bytes)",
		                     (long long)sb.st_size - (long long)ii.bytes_used,
		                     (unsigned long long)ii.bytes_used);
		goto out;
	}
	rc = image_walk(img, count_entry, out, err);
	if (rc < 0)
		goto out;
	size_t len = 0;
	rc = image_read_file(img, "meta/ferry.yaml", MANIFEST_MAX_BYTES, &out->manifest_text, &len,
	                     err);
	if (rc == FERRY_E_NOTFOUND) {
		rc = ferry_error_set(err, FERRY_E_INVALID, "no meta/ferry.yaml in the image");
		goto out;
	}
	if (rc < 0)
		goto out;
	rc = manifest_parse(out->manifest_text, len, "meta/ferry.yaml", &out->manifest, err);
	if (rc < 0)
		goto out;
	rc = image_read_file(img, "meta/sbom.cdx.json", VALIDATE_SBOM_MAX, &out->sbom_text, &len,
	                     err);
	if (rc == FERRY_E_NOTFOUND) {
		rc = 0;
	} else if (rc == 0) {
		json_error_t jerr;
		json_t *j = json_loadb(out->sbom_text, len, JSON_REJECT_DUPLICATES, &jerr);
		bool ok = json_is_object(j);
		json_decref(j);
		if (!ok)
			rc = ferry_error_set(err, FERRY_E_INVALID,
			                     "meta/sbom.cdx.json: not a JSON object (%s)",
			                     j ? "other value" : jerr.text);
	}
out:
	image_close(img);
	if (rc < 0) {
		upload_info_free(out);
		/* the publisher sees this: not the server's temporary path */
		size_t n = strlen(path);
		if (err && strncmp(err->msg, path, n) == 0 && err->msg[n] == ':' &&
		    err->msg[n + 1] == ' ')
			memmove(err->msg, err->msg + n + 2, strlen(err->msg + n + 2) + 1);
	}
	return rc;
}

void upload_info_free(struct upload_info *info)
{
	manifest_free(info->manifest);
	free(info->manifest_text);
	free(info->sbom_text);
	memset(info, 0, sizeof(*info));
}
