/* http.h: an HTTP(S) client on libcurl for fetching from repositories and
 * stores (and posting small JSON documents to them): GET into memory or into a file, with a hard
 * maximum length (the transfer is aborted as soon as it passes it, whatever Content-Length claimed:
 * endless-data attacks stop there), connect and stall timeouts, an optional progress callback, and
 * resuming a file with a Range request.
 *
 * Status codes become ferry errors: 404 and 410 FERRY_E_NOTFOUND, 403
 * FERRY_E_PERM, anything else outside 2xx FERRY_E_NETWORK; a body longer
 * than allowed FERRY_E_LIMIT; a timeout FERRY_E_TIMEOUT. Only http and https
 * URLs are fetched (also across redirects, at most 5).
 *
 * One http_client wraps one curl easy handle, so connections are reused
 * between requests. It is not thread-safe: use one per thread. It does not
 * parse URLs beyond what libcurl does, cache, or authenticate. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

struct http_options {
	long connect_timeout_ms; /* 0: 30 s */
	long total_timeout_ms;   /* 0: no limit on the whole transfer */
	long stall_timeout_s;    /* abort when under 1 byte/s this long; 0: 60 s */
	const char *user_agent;  /* NULL: "ferry/VERSION" */
};

/* Called as data arrives; return non-zero to cancel (FERRY_E_CANCELLED).
 * total is 0 when unknown. */
typedef int (*http_progress_fn)(void *ctx, uint64_t received, uint64_t total);

struct http_client;

int http_client_new(const struct http_options *opt, struct http_client **out,
                    ferry_error *err) FERRY_WUR;
void http_client_free(struct http_client *c);

static inline void http_client_freep(struct http_client **c)
{
	if (*c)
		http_client_free(*c);
}
#define _cleanup_http_ __attribute__((cleanup(http_client_freep)))

void http_set_progress(struct http_client *c, http_progress_fn fn, void *ctx);

/* GET url; append the body to out (whose own bound also applies), at most
 * max bytes. *status (may be NULL) gets the HTTP status. */
int http_get_buf(struct http_client *c, const char *url, size_t max, struct buf *out, long *status,
                 ferry_error *err) FERRY_WUR;

/* GET url into the file at path, at most max bytes in the file. With resume
 * and an existing file of n < max bytes, asks for the rest (Range: n-); a
 * server that answers 200 instead of 206 sends it all again and the file
 * starts over. The file is created mode 0644 (if new) and fsync'ed. */
int http_get_file(struct http_client *c, const char *url, const char *path, uint64_t max,
                  bool resume, long *status, ferry_error *err) FERRY_WUR;

/* POST len bytes of body to url with extra header lines ("Name: value",
 * NULL-terminated list, may be NULL). Unlike the GETs, any complete HTTP
 * answer returns 0: *status gets its status and out its body (at most max
 * bytes, whatever the status), for the caller to judge. Fails only when no
 * answer came: FERRY_E_NETWORK, FERRY_E_TIMEOUT, FERRY_E_CANCELLED (the
 * progress callback asked), or FERRY_E_LIMIT for a body over max. */
int http_post(struct http_client *c, const char *url, const char *const *headers, const void *body,
              size_t len, size_t max, struct buf *out, long *status, ferry_error *err) FERRY_WUR;

/* Percent-encode every byte of s except A-Z a-z 0-9 - . _ ~ (and '/' when
 * keep_slash), as Python's urllib.parse.quote(s, safe="") does. Heap string,
 * NULL when out of memory. */
char *http_quote(const char *s, bool keep_slash);
