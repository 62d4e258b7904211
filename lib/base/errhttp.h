/* errhttp.h: the one mapping from ferry's error codes (error.h) to an HTTP
 * status and the error name a JSON API answers with. The table, with what
 * each name means, is in docs/store.md ("Errors").
 *
 *   code                                   status  name
 *   INVALID, UNSAFE, CORRUPT, UNSUPPORTED  400     bad-request
 *   PERM                                   403     forbidden
 *   NOTFOUND                               404     not-found
 *   EXISTS                                 409     conflict
 *   LIMIT                                  413     too-large
 *   BUSY                                   503     busy
 *   anything else                          500     internal
 *
 * Not here: the reply bodies and how a server logs (each server's own). */
#pragma once

struct ferry_http_error {
	unsigned status;  /* 400 ... 503 */
	const char *name; /* "bad-request" ...; static, never NULL */
};

/* The status and name for a ferry_err code (0 and unknown codes: 500,
 * "internal"). */
struct ferry_http_error ferry_http_error_of(int code);
