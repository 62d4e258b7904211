/* http.h: the HTTP(S) client on libcurl, the only code in ferry that calls
 * libcurl: fetching from repositories and stores, the publisher API, the
 * store's webhooks. GET into memory or into a file with a hard maximum
 * length (the transfer is aborted as soon as it passes it, whatever
 * Content-Length claimed: endless-data attacks stop there), any method with a
 * body from memory or streamed from a file, connect and stall timeouts, an
 * optional progress callback, resuming a file with a Range request.
 *
 * One set of defaults, for every client: connect within 30 s; abort a
 * transfer under 1 byte/s for 60 s; no limit on the whole transfer; the
 * system's CA certificates; only http and https, also across redirects;
 * only GETs follow redirects (at most 5), a redirect would turn another
 * method into a GET; no transparent decompression (the bounds are on what
 * arrives); no signals. struct http_options changes them per client, and
 * public_only restricts the addresses connected to (address.h) as each
 * connection is made, after name resolution and on every redirect, and
 * leaves proxies out (a proxy would connect on the client's behalf).
 *
 * Status codes of the GETs become ferry errors: 404 and 410
 * FERRY_E_NOTFOUND, 403 FERRY_E_PERM, anything else outside 2xx
 * FERRY_E_NETWORK; a body longer than allowed FERRY_E_LIMIT; a timeout
 * FERRY_E_TIMEOUT. http_perform and http_post leave the status to the
 * caller.
 *
 * One http_client wraps one curl easy handle, so connections are reused
 * between requests. It is not thread-safe: use one per thread. It does not
 * cache or authenticate. The HTTP/1.1 reader for ferryd's Unix socket,
 * which needs no libcurl, is reader.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

struct http_options {
	long connect_timeout_ms; /* 0: 30 s */
	long total_timeout_ms;   /* 0: no limit on the whole transfer */
	long stall_timeout_s;    /* abort when under 1 byte/s this long; 0: 60 s; < 0: never */
	const char *user_agent;  /* NULL: "ferry/VERSION" */
	const char *ca_file;     /* NULL or "": the system's CA certificates */
	bool no_redirects;       /* GETs do not follow redirects either */
	bool public_only;        /* connect only to public addresses (address.h), no proxy */
};

/* Called as data arrives (or, for a request with a body, as it is sent);
 * return non-zero to cancel (FERRY_E_CANCELLED). total is 0 when unknown. */
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

/* GET bytes off..off+len-1 of url (a Range request) into out (len bytes).
 * Only a 206 answer with exactly len bytes succeeds; anything else is
 * FERRY_E_NETWORK (a server that ignores Range sends 200: refused, after
 * len bytes). */
int http_get_range(struct http_client *c, const char *url, uint64_t off, size_t len, void *out,
                   ferry_error *err) FERRY_WUR;

/* One request of any method, its answer judged by the caller. */
struct http_request {
	const char *method;         /* "GET" (NULL), "POST", "PUT", "DELETE" */
	const char *url;            /* http:// or https:// */
	const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
	const void *body;           /* the request body, body_len bytes, or */
	size_t body_len;
	const char *body_file;      /* a regular file streamed as the body */
	size_t max_answer;          /* bytes of answer body kept, at most */
	struct buf *answer;         /* the answer body is appended here; NULL: dropped,
	                             * and reading stops after max_answer bytes */
	struct buf *answer_headers; /* the final answer's header lines (NULL: dropped) */
};

/* Send rq. Any HTTP answer returns 0: *status (may be NULL) gets its
 * status and rq->answer its body (at most max_answer bytes, whatever the
 * status); an error status that comes before the whole body was sent counts
 * too. Fails only when no answer came: FERRY_E_NETWORK, FERRY_E_TIMEOUT,
 * FERRY_E_CANCELLED (the progress callback asked), FERRY_E_UNSAFE (the
 * destination is not public and the client is public_only), FERRY_E_IO
 * (body_file), or FERRY_E_LIMIT for an answer over max_answer. The answer
 * buffers are left as they were on failure. */
int http_perform(struct http_client *c, const struct http_request *rq, long *status,
                 ferry_error *err) FERRY_WUR;

/* Why the last request of c failed, in generic words fit to show to
 * someone other than the operator (no remote text): "connection refused",
 * "timeout", "destination not allowed", "name not resolved", "TLS error",
 * "answer too large", "cancelled", "network error"; "" when it did not. */
const char *http_failure(const struct http_client *c);

/* POST len bytes of body to url with extra header lines; http_perform with
 * method "POST" and answer bound max. */
int http_post(struct http_client *c, const char *url, const char *const *headers, const void *body,
              size_t len, size_t max, struct buf *out, long *status, ferry_error *err) FERRY_WUR;

/* The parts of an absolute URL, as libcurl reads it. */
struct http_url {
	char scheme[16]; /* lower case */
	char host[256];  /* an IPv6 literal in brackets */
	bool userinfo;   /* a user name or password is in it */
};

/* Split url: FERRY_E_INVALID when libcurl does not read it as an absolute
 * URL with a host, FERRY_E_LIMIT when a part is longer than its field. */
int http_url_split(const char *url, struct http_url *u, ferry_error *err) FERRY_WUR;

/* Percent-encode every byte of s except A-Z a-z 0-9 - . _ ~ (and '/' when
 * keep_slash), as Python's urllib.parse.quote(s, safe="") does. Heap string,
 * NULL when out of memory. */
char *http_quote(const char *s, bool keep_slash);
