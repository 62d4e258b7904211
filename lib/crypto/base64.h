/* base64.h: standard base64 (RFC 4648 section 4, with '=' padding), for
 * signatures carried in HTTP headers. Decoding is strict: only the alphabet,
 * padding only at the end, length a multiple of 4, no whitespace. */
#pragma once

#include <stddef.h>

#include "base/error.h"

/* Characters needed to encode n bytes, with the NUL. */
#define CRYPTO_BASE64_LEN(n) ((((n) + 2) / 3) * 4 + 1)

/* Encode len bytes into out (CRYPTO_BASE64_LEN(len) bytes), NUL-terminated. */
void crypto_base64_encode(const unsigned char *in, size_t len, char *out);

/* Decode the NUL-terminated text into out (size bytes); *len gets the count.
 * FERRY_E_INVALID for text that is not strict base64, FERRY_E_LIMIT when the
 * result would not fit. */
int crypto_base64_decode(const char *text, unsigned char *out, size_t size, size_t *len,
                         ferry_error *err) FERRY_WUR;
