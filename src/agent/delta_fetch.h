/* delta_fetch.h: ferryd's delta path of a download (delta_fetch.c). */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "store.h"

struct delta_fetch_result {
	uint64_t downloaded; /* bytes of the delta and of the ranges fetched */
	uint64_t full;       /* bytes of the full image */
};

/* Rebuild revision to's image at dest from the image of revision from (the
 * one this device runs) and the store's signed delta between them. Returns
 * FERRY_E_NOTFOUND when there is no usable delta (none signed, or no image
 * of from on this device); any other failure means the delta path failed and
 * the caller downloads the full image. dest appears only once it matches
 * the image's signed length and hashes. */
int delta_fetch(struct store *s, const char *name, const char *from, const char *to,
                const char *dest, struct delta_fetch_result *r, ferry_error *err) FERRY_WUR;

/* The download step: the delta when one serves, else (and after any delta
 * failure) the full image. Records in data "download": {"path": "delta" or
 * "full", "downloaded", "full", "saved" (bytes), "delta_error" when a delta
 * was tried and failed}. */
int delta_fetch_download(struct store *s, const char *name, const char *from, const char *to,
                         const char *dest, json_t *data, ferry_error *err) FERRY_WUR;
