/* reader.h: one HTTP/1.x answer read from a stream socket without libcurl,
 * as `ferry` reads ferryd's over its Unix socket: the socket is waited on
 * with poll(2) against one deadline, the answer read to the end of the
 * connection (the request asked the server to close) into a bounded buffer,
 * and then parsed: the status line, the header lines Content-Length and
 * Transfer-Encoding, and the body by Content-Length, chunked, or up to the
 * end.
 *
 * It does not write requests, keep connections alive, follow redirects,
 * decode anything but chunked, or read trailers (after the last chunk,
 * everything is ignored). Messages name the peer and the answer with the
 * words the caller gives ("ferryd at /run/ferry/ferryd.sock", "ferryd's
 * answer"). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

struct http_reader {
	int fd;              /* a stream socket, non-blocking */
	int64_t deadline_ms; /* CLOCK_MONOTONIC, milliseconds */
	int timeout_ms;      /* what the deadline allows, for the message */
	const char *peer;    /* "ferryd at /run/ferry/ferryd.sock" */
	const char *name;    /* "ferryd's answer" */
};

/* Start the clock: the deadline is timeout_ms from now. */
void http_reader_init(struct http_reader *r, int fd, int timeout_ms, const char *peer,
                      const char *name);

/* Wait until the socket is ready for events (POLLIN, POLLOUT), or
 * FERRY_E_TIMEOUT at the deadline. */
int http_reader_wait(const struct http_reader *r, short events, ferry_error *err) FERRY_WUR;

/* Append everything the peer sends until it closes to out (FERRY_E_LIMIT
 * past out's bound). */
int http_reader_read_all(const struct http_reader *r, struct buf *out, ferry_error *err) FERRY_WUR;

struct http_answer {
	long status;      /* 100 to 599 */
	const char *body; /* inside the parsed data */
	size_t body_len;
};

/* Parse a whole answer, data[0..len) (need not end in NUL). A chunked body
 * is decoded in place (it only shrinks). FERRY_E_CORRUPT, with name, for
 * anything that is not a complete HTTP/1.0 or 1.1 answer. */
int http_answer_parse(char *data, size_t len, const char *name, struct http_answer *a,
                      ferry_error *err) FERRY_WUR;
