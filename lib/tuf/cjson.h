/* cjson.h: canonical JSON (OLPC) as TUF signs it, and bounded JSON parsing,
 * on top of jansson.
 *
 * Canonical form, as securesystemslib's encode_canonical writes it: object
 * keys sorted by byte value (which for UTF-8 is code-point order), no
 * whitespace, only strings, integers, true, false, null, objects and arrays
 * (a real number is an error), strings written as raw UTF-8 with only `"` and
 * `\` escaped by a backslash (no \n, no \uXXXX: control characters go out as
 * they are). Integers are written in decimal without leading zeros.
 *
 * Parsing takes outside bytes and bounds them: total size, nesting depth
 * (checked on the raw bytes before jansson builds anything) and the number of
 * values (checked after). Duplicate object keys, NUL characters in strings,
 * invalid UTF-8 and trailing garbage are refused. */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/error.h"

struct tuf_json_limits {
	size_t max_bytes;   /* whole document */
	unsigned max_depth; /* nesting of objects and arrays; the top level is 1 */
	size_t max_values;  /* every value counts one, keys do not */
};

/* Defaults for TUF metadata: 16 MiB, depth 32, 1,000,000 values. */
#define TUF_JSON_MAX_BYTES_DEFAULT (16u << 20)
#define TUF_JSON_MAX_DEPTH_DEFAULT 32
#define TUF_JSON_MAX_VALUES_DEFAULT 1000000
extern const struct tuf_json_limits tuf_json_limits_default;

/* Parse len bytes (not NUL-terminated) into *out (json_decref it). lim NULL
 * means tuf_json_limits_default. Errors: FERRY_E_LIMIT for a bound,
 * FERRY_E_INVALID for bad JSON (with line:column). */
int tuf_json_parse(const void *data, size_t len, const struct tuf_json_limits *lim, json_t **out,
                   ferry_error *err) FERRY_WUR;

/* Append the canonical form of v to out. FERRY_E_INVALID names the JSON
 * path of a value that has no canonical form (a real number). */
int tuf_cjson_encode(const json_t *v, struct buf *out, ferry_error *err) FERRY_WUR;

/* Canonical form of v as a heap string (NUL-terminated, *len without it). */
int tuf_cjson_dump(const json_t *v, char **out, size_t *len, ferry_error *err) FERRY_WUR;

/* jansson provides json_decrefp (NULL-safe). */
#define _cleanup_json_ _cleanup_(json_decrefp)
