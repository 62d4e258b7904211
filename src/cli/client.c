/* client.c: requests to ferryd's local API over its Unix socket (see
 * client.h). It does not interpret results beyond the answer's envelope. */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"

/* How long one request may take (the agent answers at once; long work is a
 * change the client follows), and the most the answer's head may hold. */
#define CLIENT_TIMEOUT_MS 120000
#define CLIENT_MAX_HEAD (64 * 1024)

const char *client_socket(void)
{
	const char *s = getenv("FERRY_SOCKET");
	return s && *s ? s : CLIENT_DEFAULT_SOCKET;
}

static int code_of(const char *kind)
{
	for (int c = -1; c > FERRY_E__LAST; c--)
		if (strcmp(ferry_errname(c), kind) == 0)
			return c;
	return FERRY_E_INTERNAL;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events, or the deadline. */
static int wait_fd(int fd, short events, int64_t deadline, ferry_error *err)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return ferry_error_set(err, FERRY_E_TIMEOUT,
			                       "ferryd at %s did not answer within %d s",
			                       client_socket(), CLIENT_TIMEOUT_MS / 1000);
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return ferry_error_errno(err, FERRY_E_IO, errno, "poll %s",
			                         client_socket());
	}
}

/* The answer's body, from a whole HTTP/1.1 answer read to the end (the
 * request asked the agent to close): with Content-Length, chunked, or up to
 * the end. *status the HTTP status. */
static int parse_answer(struct buf *in, long *status, const char **body, size_t *blen,
                        ferry_error *err)
{
	const char *d = in->data ? in->data : "";
	const char *eoh = memmem(d, in->len, "\r\n\r\n", 4);
	int sp = 0;
	if (!eoh || sscanf(d, "HTTP/1.%*1[01] %3ld%n", status, &sp) < 1 || sp == 0 ||
	    *status < 100 || *status > 599)
		return ferry_error_set(err, FERRY_E_CORRUPT, "ferryd's answer is not HTTP/1.1");
	const char *p = eoh + 4;
	size_t left = in->len - (size_t)(p - d);
	bool chunked = false;
	long long clen = -1;
	/* Header lines between the status line and eoh; memmem, not strstr:
	 * the answer may hold NUL bytes. */
	const char *h = (const char *)memmem(d, (size_t)(eoh - d) + 2, "\r\n", 2) + 2;
	while (h < eoh) {
		const char *end = memmem(h, (size_t)(eoh - h) + 2, "\r\n", 2);
		size_t n = (size_t)(end - h);
		if (n >= 18 && strncasecmp(h, "Transfer-Encoding:", 18) == 0) {
			const char *v = h + 18;
			while (v < end && *v == ' ')
				v++;
			chunked = (size_t)(end - v) >= 7 && strncasecmp(v, "chunked", 7) == 0;
		} else if (n >= 15 && strncasecmp(h, "Content-Length:", 15) == 0) {
			char num[24] = "";
			size_t vl = n - 15 < sizeof(num) - 1 ? n - 15 : sizeof(num) - 1;
			memcpy(num, h + 15, vl);
			char *e;
			clen = strtoll(num, &e, 10);
			while (*e == ' ')
				e++;
			if (clen < 0 || *e)
				return ferry_error_set(err, FERRY_E_CORRUPT,
				                       "ferryd's answer has a bad Content-Length");
		}
		h = end + 2;
	}
	if (!chunked) {
		if (clen >= 0) {
			if ((unsigned long long)clen > left)
				return ferry_error_set(
				    err, FERRY_E_CORRUPT,
				    "ferryd's answer was cut off (%zu of %lld bytes)", left, clen);
			left = (size_t)clen;
		}
		*body = p;
		*blen = left;
		return 0;
	}
	/* De-chunk in place: the body only shrinks. */
	char *out = (char *)p, *w = out;
	const char *end = p + left;
	for (;;) {
		char *nl;
		unsigned long long n = strtoull(p, &nl, 16);
		const char *crlf = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!crlf || nl == p || nl > crlf || n > (unsigned long long)(end - crlf - 2))
			return ferry_error_set(err, FERRY_E_CORRUPT,
			                       "ferryd's answer has a bad chunk");
		p = crlf + 2;
		if (n == 0)
			break;
		memmove(w, p, (size_t)n);
		w += n;
		p += n;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return ferry_error_set(err, FERRY_E_CORRUPT,
			                       "ferryd's answer has a bad chunk");
		p += 2;
	}
	*body = out;
	*blen = (size_t)(w - out);
	return 0;
}

/* One request over the agent's Unix socket; the whole answer into *answer. */
static int request(const char *method, const char *path, const char *body, struct buf *answer,
                   ferry_error *err)
{
	const char *sock = client_socket();
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (str_copy(sa.sun_path, sizeof(sa.sun_path), sock) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "FERRY_SOCKET %s: path too long (at most %zu bytes)", sock,
		                       sizeof(sa.sun_path) - 1);
	for (const char *c = path; *c; c++)
		if (*c <= ' ' || *c == 0x7f)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "request %s: bad character in the path", path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "socket");
	int64_t deadline = now_ms() + CLIENT_TIMEOUT_MS;
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0 && errno == EAGAIN) { /* the agent's backlog is full: wait */
		rc = wait_fd(fd, POLLOUT, deadline, err);
		if (rc < 0)
			return rc;
		int e = 0;
		socklen_t el = sizeof(e);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
		errno = e;
		rc = e ? -1 : 0;
	}
	if (rc < 0)
		return ferry_error_set(err, FERRY_E_NETWORK,
		                       "cannot reach ferryd at %s: %s (is ferryd running?)", sock,
		                       strerror(errno));
	size_t blen = body ? strlen(body) : 0;
	struct buf req = BUF_INIT(CLIENT_MAX_HEAD + blen);
	rc = buf_printf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n", method,
	                path);
	if (rc == 0 && body)
		rc = buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
		                blen);
	if (rc == 0)
		rc = buf_append(&req, "\r\n", 2);
	if (rc == 0 && body)
		rc = buf_append(&req, body, blen);
	if (rc < 0) {
		buf_free(&req);
		return ferry_error_set(err, FERRY_E_LIMIT, "request %s: too long", path);
	}
	for (size_t off = 0; off < req.len;) {
		ssize_t n = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			rc = errno == EAGAIN ? wait_fd(fd, POLLOUT, deadline, err) : 0;
			if (rc < 0)
				break;
			continue;
		}
		if (n < 0) {
			rc = ferry_error_errno(err, FERRY_E_NETWORK, errno, "send to ferryd at %s",
			                       sock);
			break;
		}
		off += (size_t)n;
	}
	buf_free(&req);
	if (rc < 0)
		return rc;
	for (;;) {
		char chunk[16384];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n == 0)
			return 0;
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			rc = errno == EAGAIN ? wait_fd(fd, POLLIN, deadline, err) : 0;
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return ferry_error_errno(err, FERRY_E_NETWORK, errno,
			                         "read from ferryd at %s", sock);
		if (buf_append(answer, chunk, (size_t)n) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "ferryd's answer is over %d MiB",
			                       (CLIENT_MAX_ANSWER + CLIENT_MAX_HEAD) >> 20);
	}
}

int client_call(const char *method, const char *path, json_t *body, json_t **result,
                ferry_error *err)
{
	_cleanup_free_ char *text = NULL;
	if (strcmp(method, "POST") == 0) {
		text = body ? json_dumps(body, JSON_COMPACT) : strdup("{}");
		if (!text)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	struct buf answer = BUF_INIT(CLIENT_MAX_ANSWER + CLIENT_MAX_HEAD);
	int rc = request(method, path, text, &answer, err);
	long status = 0;
	const char *data = NULL;
	size_t dlen = 0;
	if (rc == 0)
		rc = parse_answer(&answer, &status, &data, &dlen, err);
	if (rc < 0) {
		buf_free(&answer);
		return rc;
	}
	json_error_t jerr;
	json_t *j = json_loadb(data, dlen, 0, &jerr);
	buf_free(&answer);
	if (!json_is_object(j)) {
		json_decref(j);
		return ferry_error_set(err, FERRY_E_CORRUPT,
		                       "ferryd answered %ld with something that is not JSON",
		                       status);
	}
	const char *type = json_string_value(json_object_get(j, "type"));
	if (type && strcmp(type, "error") == 0) {
		json_t *r = json_object_get(j, "result");
		const char *msg = json_string_value(json_object_get(r, "message"));
		const char *kind = json_string_value(json_object_get(r, "kind"));
		rc = ferry_error_set(err, kind ? code_of(kind) : FERRY_E_INTERNAL, "%s",
		                     msg ? msg : "ferryd reported an error");
	} else if (type && strcmp(type, "async") == 0) {
		*result = json_incref(json_object_get(j, "change"));
	} else {
		json_t *r = json_object_get(j, "result");
		*result = r ? json_incref(r) : json_null();
	}
	json_decref(j);
	return rc;
}

int client_wait_change(const char *id, json_t **change, ferry_error *err)
{
	char path[96];
	snprintf(path, sizeof(path), "/v1/changes/%s", id);
	bool tty = isatty(2);
	char shown[256] = "";
	for (;;) {
		json_t *ch = NULL;
		int rc = client_call("GET", path, NULL, &ch, err);
		if (rc < 0)
			return rc;
		const char *status = json_string_value(json_object_get(ch, "status"));
		if (status && (strcmp(status, "Done") == 0 || strcmp(status, "Error") == 0)) {
			if (tty && *shown)
				fprintf(stderr, "\r\033[K");
			*change = ch;
			if (strcmp(status, "Done") == 0)
				return 0;
			const char *e = json_string_value(json_object_get(ch, "err"));
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "change %s failed and was rolled back: %s", id,
			                       e ? e : "unknown error");
		}
		if (tty) {
			size_t i;
			json_t *st;
			json_array_foreach(json_object_get(ch, "steps"), i, st)
			{
				const char *ss = json_string_value(json_object_get(st, "status"));
				if (ss &&
				    (strcmp(ss, "Doing") == 0 || strcmp(ss, "Undoing") == 0)) {
					char line[256], pct[64] = "";
					json_t *pr = json_object_get(ch, "progress");
					json_int_t total =
					    json_integer_value(json_object_get(pr, "total"));
					if (total > 0) {
						json_int_t done =
						    json_integer_value(json_object_get(pr, "done"));
						snprintf(pct, sizeof(pct),
						         " %lld%% (%.1f of %.1f MiB)",
						         (long long)(done * 100 / total),
						         done / 1048576.0, total / 1048576.0);
					}
					snprintf(line, sizeof(line), "%s%s%s",
					         strcmp(ss, "Undoing") == 0 ? "Undo: " : "",
					         json_string_value(json_object_get(st, "summary")),
					         pct);
					if (strcmp(line, shown) != 0) {
						fprintf(stderr, "\r\033[K%s...", line);
						snprintf(shown, sizeof(shown), "%s", line);
					}
				}
			}
		}
		json_decref(ch);
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}
