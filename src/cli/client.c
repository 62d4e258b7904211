/* client.c: requests to ferryd's local API over its Unix socket (see
 * client.h): the request is written here, the answer read and parsed by
 * lib/http's reader. It does not interpret results beyond the answer's
 * envelope. */
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "http/reader.h"

/* How long one request may take (the agent answers at once; long work is a
 * change the client follows), and the most the answer's head may hold. */
#define CLIENT_TIMEOUT_MS 120000
#define CLIENT_CONNECT_RETRY_MS 20 /* between connects while the backlog is full */
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
	char peer[sizeof(sa.sun_path) + 16];
	snprintf(peer, sizeof(peer), "ferryd at %s", sock);
	struct http_reader r;
	http_reader_init(&r, fd, CLIENT_TIMEOUT_MS, peer, "ferryd's answer");
	/* A Unix socket's connect fails with EAGAIN while the agent's backlog
	 * is full (it does not complete later, unlike TCP's EINPROGRESS): try
	 * again until the deadline. */
	int rc;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 &&
	       (errno == EAGAIN || errno == EINTR)) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >=
		    CLIENT_TIMEOUT_MS) {
			errno = EAGAIN;
			break;
		}
		poll(NULL, 0, CLIENT_CONNECT_RETRY_MS);
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
			rc = errno == EAGAIN ? http_reader_wait(&r, POLLOUT, err) : 0;
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
	return http_reader_read_all(&r, answer, err);
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
	struct http_answer a = {0};
	if (rc == 0)
		rc = http_answer_parse(answer.data, answer.len, "ferryd's answer", &a, err);
	if (rc < 0) {
		buf_free(&answer);
		return rc;
	}
	long status = a.status;
	json_error_t jerr;
	json_t *j = json_loadb(a.body, a.body_len, 0, &jerr);
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
