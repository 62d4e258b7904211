/* reader.c: an HTTP/1.x answer read from a socket and parsed (reader.h).
 * Every step is bounded by the data's length, never by a NUL: an answer may
 * hold NUL bytes anywhere. */
#include "http/reader.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "base/str.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void http_reader_init(struct http_reader *r, int fd, int timeout_ms, const char *peer,
                      const char *name)
{
	r->fd = fd;
	r->timeout_ms = timeout_ms;
	r->deadline_ms = now_ms() + timeout_ms;
	r->peer = peer;
	r->name = name;
}

int http_reader_wait(const struct http_reader *r, short events, ferry_error *err)
{
	for (;;) {
		int64_t left = r->deadline_ms - now_ms();
		if (left <= 0)
			return ferry_error_set(err, FERRY_E_TIMEOUT,
			                       "%s did not answer within %d s", r->peer,
			                       r->timeout_ms / 1000);
		struct pollfd p = {.fd = r->fd, .events = events};
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return ferry_error_errno(err, FERRY_E_IO, errno, "poll %s", r->peer);
	}
}

int http_reader_read_all(const struct http_reader *r, struct buf *out, ferry_error *err)
{
	for (;;) {
		char chunk[16384];
		ssize_t n = recv(r->fd, chunk, sizeof(chunk), 0);
		if (n == 0)
			return 0;
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int rc = errno == EAGAIN ? http_reader_wait(r, POLLIN, err) : 0;
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return ferry_error_errno(err, FERRY_E_NETWORK, errno, "read from %s",
			                         r->peer);
		if (buf_append(out, chunk, (size_t)n) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s is over %zu MiB", r->name,
			                       out->max >> 20);
	}
}

/* The next "\r\n" in [p, end), or NULL. */
static const char *crlf(const char *p, const char *end)
{
	return p < end ? memmem(p, (size_t)(end - p), "\r\n", 2) : NULL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "HTTP/1.0 200 ..." or "HTTP/1.1 200 ...", up to line_end. */
static bool status_line(const char *p, const char *line_end, long *status)
{
	size_t n = (size_t)(line_end - p);
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
		return false;
	p += 9;
	while (p < line_end && *p == ' ')
		p++;
	if (line_end - p < 3 || !is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]) ||
	    (line_end - p > 3 && p[3] != ' '))
		return false;
	*status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	return *status >= 100 && *status <= 599;
}

/* A header's value: [v, end) without the spaces and tabs around it. */
static void trim(const char **v, const char **end)
{
	while (*v < *end && (**v == ' ' || **v == '\t'))
		(*v)++;
	while (*end > *v && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		(*end)--;
}

/* Content-Length: decimal digits, at most 18 of them. */
static bool content_length(const char *v, const char *end, long long *out)
{
	trim(&v, &end);
	if (v == end || end - v > 18)
		return false;
	long long n = 0;
	for (; v < end; v++) {
		if (!is_digit(*v))
			return false;
		n = n * 10 + (*v - '0');
	}
	*out = n;
	return true;
}

/* De-chunk [p, end) in place into p; *out_len the body's length. */
static int dechunk(char *p, const char *end, const char *name, size_t *out_len, ferry_error *err)
{
	char *start = p, *w = p;
	for (;;) {
		const char *eol = crlf(p, end);
		unsigned long long n = 0;
		size_t digits = 0;
		for (const char *q = p; eol && q < eol && str_hex_digit(*q) >= 0; q++, digits++)
			n = n * 16 + (unsigned long long)str_hex_digit(*q);
		/* after the digits: nothing, or a chunk extension (";name=value") */
		if (!eol || digits == 0 || digits > 15 ||
		    (p + digits < eol && p[digits] != ';' && p[digits] != ' ' &&
		     p[digits] != '\t') ||
		    n > (unsigned long long)(end - eol - 2))
			return ferry_error_set(err, FERRY_E_CORRUPT, "%s has a bad chunk", name);
		p = (char *)eol + 2;
		if (n == 0)
			break;
		memmove(w, p, (size_t)n);
		w += n;
		p += n;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return ferry_error_set(err, FERRY_E_CORRUPT, "%s has a bad chunk", name);
		p += 2;
	}
	*out_len = (size_t)(w - start);
	return 0;
}

int http_answer_parse(char *data, size_t len, const char *name, struct http_answer *a,
                      ferry_error *err)
{
	if (!data || len < 4)
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s is not HTTP/1.1", name);
	const char *d = data, *end = data + len;
	const char *eoh = memmem(d, len, "\r\n\r\n", 4);
	const char *eol = crlf(d, end);
	if (!eoh || !status_line(d, eol, &a->status))
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s is not HTTP/1.1", name);
	bool chunked = false;
	long long clen = -1;
	/* the header lines between the status line and eoh */
	for (const char *h = eol + 2; h < eoh + 2;) {
		const char *e = crlf(h, eoh + 2);
		size_t n = (size_t)(e - h);
		if (n >= 18 && strncasecmp(h, "Transfer-Encoding:", 18) == 0) {
			const char *v = h + 18, *ve = e;
			trim(&v, &ve);
			chunked = ve - v >= 7 && strncasecmp(v, "chunked", 7) == 0;
		} else if (n >= 15 && strncasecmp(h, "Content-Length:", 15) == 0) {
			if (!content_length(h + 15, e, &clen))
				return ferry_error_set(err, FERRY_E_CORRUPT,
				                       "%s has a bad Content-Length", name);
		}
		h = e + 2;
	}
	char *body = data + (eoh + 4 - d);
	size_t left = (size_t)(end - (eoh + 4));
	a->body = body;
	if (chunked)
		return dechunk(body, end, name, &a->body_len, err);
	if (clen >= 0) {
		if ((unsigned long long)clen > left)
			return ferry_error_set(err, FERRY_E_CORRUPT,
			                       "%s was cut off (%zu of %lld bytes)", name, left,
			                       clen);
		left = (size_t)clen;
	}
	a->body_len = left;
	return 0;
}
