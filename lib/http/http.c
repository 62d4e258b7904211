/* http.c: requests with bounds on libcurl (see http.h). The answer's body
 * goes through a write callback that counts every byte against the bound
 * and aborts the transfer past it; Content-Length is only used to fail
 * early. Every request sets what it uses on the client's one easy handle
 * and puts back what the others do not expect.
 *
 * Not here: the address rule (address.c), ferryd's socket reader (reader.c). */
#include "http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/address.h"
#include "http/curl_dl.h"

#include "base/cleanup.h"
#include "base/fs.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 30000L
#define DEFAULT_STALL_TIMEOUT_S 60L
#define MAX_REDIRECTS 5L
#define ERROR_PAGE_MAX 65536 /* bytes of a GET's error page read before giving up */

struct http_client {
	CURL *curl;
	struct http_options opt;
	http_progress_fn progress;
	void *progress_ctx;
	bool refused;        /* a connection was refused by public_only */
	const char *failure; /* http_failure() */
	char errbuf[CURL_ERROR_SIZE];
};

/* State of one transfer. */
struct sink {
	CURL *h;
	bool data_only_2xx; /* GETs: the body of another status is an error page */
	uint64_t discarded; /* bytes of such a page, dropped */
	struct buf *buf;    /* the body into memory, or */
	int fd;             /* into a file, or (both unset) dropped */
	uint64_t received;
	uint64_t max;
	bool over_limit;
	bool enough; /* a dropped answer body was read as far as it is */
	bool io_failed;
	int io_errno;
	uint64_t base;       /* bytes already in the file when resuming */
	struct buf *headers; /* header lines of the last answer */
	size_t headers_mark; /* where they start in headers */
	int upload_fd;       /* the body streamed from a file, or -1 */
	bool upload;         /* progress counts what is sent */
	http_progress_fn progress;
	void *progress_ctx;
	bool cancelled;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_global(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* public_only: the address curl is about to connect to, after resolution,
 * for the first request and for every redirect. */
static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_client *c = ctx;
	(void)purpose;
	if (http_address_refusal(&a->addr, a->addrlen)) {
		c->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int http_client_new(const struct http_options *opt, struct http_client **out, ferry_error *err)
{
	pthread_once(&curl_once, curl_global);
	if (curl_init_rc != CURLE_OK)
		return ferry_error_set(err, FERRY_E_INTERNAL, "http: %s",
		                       *curl_dl_error() ? curl_dl_error()
		                                        : "libcurl did not initialise");
	struct http_client *c = calloc(1, sizeof(*c));
	if (!c)
		return ferry_error_set(err, FERRY_E_NOMEM, "http: out of memory");
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return ferry_error_set(err, FERRY_E_NOMEM, "http: out of memory");
	}
	c->opt = opt ? *opt : (struct http_options){0};
	c->failure = "";
	const struct http_options *o = &c->opt;
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	                 o->connect_timeout_ms > 0 ? o->connect_timeout_ms
	                                           : DEFAULT_CONNECT_TIMEOUT_MS);
	if (o->total_timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
	if (o->stall_timeout_s >= 0) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
		                 o->stall_timeout_s > 0 ? o->stall_timeout_s
		                                        : DEFAULT_STALL_TIMEOUT_S);
	}
	curl_easy_setopt(h, CURLOPT_USERAGENT,
	                 o->user_agent ? o->user_agent : "ferry/" FERRY_VERSION);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, o->no_redirects ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
	CURLcode pr = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (pr == CURLE_OK)
		pr = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	CURLcode ca = CURLE_OK;
	if (o->ca_file && *o->ca_file)
		ca = curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	CURLcode po = CURLE_OK;
	if (o->public_only) {
		po = curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
		if (po == CURLE_OK)
			po = curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
		if (po == CURLE_OK)
			po = curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	}
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	/* no transparent decompression: the bound is on what arrives */
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
	if (pr != CURLE_OK || ca != CURLE_OK || po != CURLE_OK) {
		CURLcode bad = pr != CURLE_OK ? pr : ca != CURLE_OK ? ca : po;
		http_client_free(c);
		return ferry_error_set(err, FERRY_E_UNSUPPORTED, "http: libcurl refuses to %s: %s",
		                       pr != CURLE_OK   ? "limit protocols to http and https"
		                       : ca != CURLE_OK ? "use the CA file"
		                                        : "check the addresses it connects to",
		                       curl_easy_strerror(bad));
	}
	*out = c;
	return 0;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c);
}

void http_set_progress(struct http_client *c, http_progress_fn fn, void *ctx)
{
	c->progress = fn;
	c->progress_ctx = ctx;
}

const char *http_failure(const struct http_client *c)
{
	return c->failure;
}

static bool is_2xx(long code)
{
	return code >= 200 && code <= 299;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	size_t len = size * n;
	long code = 0;
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
	if (s->headers) {
		if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
			s->headers->len = s->headers_mark; /* a new answer (redirect, 100) */
		if (buf_append(s->headers, data, len) < 0) {
			s->over_limit = true;
			return 0;
		}
	}
	if ((!s->data_only_2xx || is_2xx(code)) && len > 15 &&
	    strncasecmp(data, "content-length:", 15) == 0) {
		unsigned long long cl = strtoull(data + 15, NULL, 10);
		if (cl > s->max) {
			s->over_limit = true;
			return 0; /* abort: more than allowed is announced */
		}
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	size_t len = size * n;
	long code = 0;
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
	if (s->data_only_2xx && !is_2xx(code)) {
		/* an error page: never the caller's data; bounded all the same */
		s->discarded += len;
		return s->discarded > ERROR_PAGE_MAX ? 0 : len;
	}
	if (len > s->max - s->received) {
		if (s->buf || s->fd >= 0)
			s->over_limit = true;
		else
			s->enough = true; /* dropped anyway: the status is what counts */
		return 0;
	}
	if (s->buf) {
		if (buf_append(s->buf, data, len) < 0) {
			s->over_limit = true;
			return 0;
		}
	} else if (s->fd >= 0 && fs_write_all(s->fd, data, len) < 0) {
		s->io_failed = true;
		s->io_errno = errno;
		return 0;
	}
	s->received += len;
	return len;
}

static size_t on_read(char *data, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	for (;;) {
		ssize_t got = read(s->upload_fd, data, size * n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			s->io_failed = true;
			s->io_errno = errno;
			return CURL_READFUNC_ABORT;
		}
		return (size_t)got;
	}
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct sink *s = ctx;
	if (!s->progress)
		return 0;
	int stop = s->upload ? s->progress(s->progress_ctx, (uint64_t)ulnow,
	                                   ultotal > 0 ? (uint64_t)ultotal : 0)
	                     : s->progress(s->progress_ctx, s->base + (uint64_t)dlnow,
	                                   dltotal > 0 ? s->base + (uint64_t)dltotal : 0);
	if (stop != 0) {
		s->cancelled = true;
		return 1;
	}
	return 0;
}

/* Run the transfer set up on c's handle into s; *status the answer's. */
static CURLcode run(struct http_client *c, const char *url, struct sink *s, long *status)
{
	CURL *h = c->curl;
	c->errbuf[0] = '\0';
	c->refused = false;
	c->failure = "";
	s->h = h;
	s->progress = c->progress;
	s->progress_ctx = c->progress_ctx;
	if (s->headers)
		s->headers_mark = s->headers->len;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	/* error statuses are ours to map: curl does not fail on them */
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 0L);
	CURLcode rc = curl_easy_perform(h);
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return rc;
}

/* The ferry error for a transfer libcurl failed (rc), with the generic
 * cause kept for http_failure(). */
static int curl_failure(struct http_client *c, const char *method, const char *url, CURLcode rc,
                        ferry_error *err)
{
	const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		if (c->refused) {
			c->failure = "destination not allowed";
			return ferry_error_set(err, FERRY_E_UNSAFE,
			                       "%s %s: destination not allowed (not a public "
			                       "address)",
			                       method, url);
		}
		c->failure = "connection refused";
		break;
	case CURLE_OPERATION_TIMEDOUT:
		c->failure = "timeout";
		return ferry_error_set(err, FERRY_E_TIMEOUT, "%s %s: %s", method, url, detail);
	case CURLE_COULDNT_RESOLVE_HOST:
		c->failure = "name not resolved";
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		c->failure = "TLS error";
		break;
	default:
		c->failure = "network error";
		break;
	}
	return ferry_error_set(err, FERRY_E_NETWORK, "%s %s: %s", method, url, detail);
}

static int status_error(long status, const char *url, ferry_error *err)
{
	if (status == 404 || status == 410)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "GET %s: %ld not found", url, status);
	if (status == 403)
		return ferry_error_set(err, FERRY_E_PERM, "GET %s: 403 forbidden", url);
	return ferry_error_set(err, FERRY_E_NETWORK, "GET %s: HTTP status %ld", url, status);
}

static int get(struct http_client *c, const char *url, struct sink *s, long *status_out,
               ferry_error *err)
{
	CURL *h = c->curl;
	s->data_only_2xx = true;
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	long status = 0;
	CURLcode rc = run(c, url, s, &status);
	if (status_out)
		*status_out = status;
	curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)0);
	if (s->over_limit && is_2xx(status)) {
		c->failure = "answer too large";
		return ferry_error_set(err, FERRY_E_LIMIT, "GET %s: more than %llu bytes", url,
		                       (unsigned long long)s->max);
	}
	if (s->io_failed)
		return ferry_error_errno(err, FERRY_E_IO, s->io_errno, "GET %s: write", url);
	if (s->cancelled) {
		c->failure = "cancelled";
		return ferry_error_set(err, FERRY_E_CANCELLED, "GET %s: cancelled", url);
	}
	if (status >= 300 && rc != CURLE_OPERATION_TIMEDOUT)
		return status_error(status, url, err);
	if (rc != CURLE_OK)
		return curl_failure(c, "GET", url, rc, err);
	if (!is_2xx(status))
		return status_error(status, url, err);
	return 0;
}

int http_get_buf(struct http_client *c, const char *url, size_t max, struct buf *out, long *status,
                 ferry_error *err)
{
	size_t mark = out->len;
	struct sink s = {.buf = out, .fd = -1, .upload_fd = -1, .max = max};
	int rc = get(c, url, &s, status, err);
	if (rc < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
	}
	return rc;
}

int http_get_range(struct http_client *c, const char *url, uint64_t off, size_t len, void *out,
                   ferry_error *err)
{
	char range[64];
	if (len == 0)
		return 0;
	snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
	         (unsigned long long)(off + len - 1));
	struct buf b;
	buf_init(&b, len + 1);
	curl_easy_setopt(c->curl, CURLOPT_RANGE, range);
	struct sink s = {.buf = &b, .fd = -1, .upload_fd = -1, .max = len};
	long status = 0;
	int rc = get(c, url, &s, &status, err);
	curl_easy_setopt(c->curl, CURLOPT_RANGE, NULL);
	if (rc == 0 && (status != 206 || b.len != len))
		rc = ferry_error_set(
		    err, FERRY_E_NETWORK,
		    "GET %s bytes %s: answered %ld with %zu bytes, not 206 with %zu", url, range,
		    status, b.len, len);
	if (rc == 0)
		memcpy(out, b.data, len);
	buf_free(&b);
	return rc;
}

int http_get_file(struct http_client *c, const char *url, const char *path, uint64_t max,
                  bool resume, long *status, ferry_error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", path);
	uint64_t have = resume && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	if (have >= max && max > 0)
		have = 0;
	if (have == 0 && ftruncate(fd, 0) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "truncate %s", path);
	if (lseek(fd, (off_t)have, SEEK_SET) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "seek %s", path);
	if (have > 0)
		curl_easy_setopt(c->curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)have);
	struct sink s = {.fd = fd, .upload_fd = -1, .max = max - have, .base = have};
	long st_code = 0;
	int rc = get(c, url, &s, &st_code, err);
	if (status)
		*status = st_code;
	if (rc == 0 && have > 0 && st_code == 200) {
		/* the server sent everything again: start the file over */
		ferry_error_clear(err);
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "truncate %s", path);
		struct sink again = {.fd = fd, .upload_fd = -1, .max = max};
		rc = get(c, url, &again, status, err);
	}
	if (rc == FERRY_E_LIMIT && ftruncate(fd, 0) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "truncate %s", path);
	if (rc < 0)
		return rc; /* a partial body stays, to be resumed */
	if (fsync(fd) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "fsync %s", path);
	return 0;
}

/* The header lines as a curl list (*out NULL for none). */
static int header_list(const char *const *headers, struct curl_slist **out, ferry_error *err)
{
	struct curl_slist *hs = NULL;
	for (size_t i = 0; headers && headers[i]; i++) {
		struct curl_slist *n = curl_slist_append(hs, headers[i]);
		if (!n) {
			curl_slist_free_all(hs);
			return ferry_error_set(err, FERRY_E_NOMEM, "http: out of memory");
		}
		hs = n;
	}
	*out = hs;
	return 0;
}

static void truncate_buf(struct buf *b, size_t mark)
{
	if (!b)
		return;
	b->len = mark;
	if (b->data)
		b->data[mark] = '\0';
}

int http_perform(struct http_client *c, const struct http_request *rq, long *status,
                 ferry_error *err)
{
	CURL *h = c->curl;
	const char *method = rq->method ? rq->method : "GET";
	const char *url = rq->url;
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
	    strcmp(method, "PUT") != 0 && strcmp(method, "DELETE") != 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s %s: only GET, POST, PUT and DELETE are sent", method,
		                       url);
	_cleanup_close_ int fd = -1;
	uint64_t upload_len = 0;
	if (rq->body_file) {
		struct stat sb;
		fd = open(rq->body_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "%s", rq->body_file);
		if (!S_ISREG(sb.st_mode))
			return ferry_error_set(err, FERRY_E_INVALID, "%s: not a regular file",
			                       rq->body_file);
		upload_len = (uint64_t)sb.st_size;
	}
	struct curl_slist *hs = NULL;
	int rc = header_list(rq->headers, &hs, err);
	if (rc < 0)
		return rc;
	size_t mark = rq->answer ? rq->answer->len : 0;
	size_t hmark = rq->answer_headers ? rq->answer_headers->len : 0;
	bool has_body = rq->body || rq->body_file;
	struct sink s = {.buf = rq->answer,
	                 .fd = -1,
	                 .max = rq->max_answer,
	                 .headers = rq->answer_headers,
	                 .upload_fd = fd,
	                 .upload = has_body};
	if (rq->body_file) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &s);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)upload_len);
	} else if (rq->body) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	if (strcmp(method, has_body ? "POST" : "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	/* a redirect would turn another method into a GET: only GETs follow */
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	long code = 0;
	CURLcode cc = run(c, url, &s, &code);
	/* the handle goes back to what the GETs expect */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, NULL);
	curl_easy_setopt(h, CURLOPT_READDATA, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, c->opt.no_redirects ? 0L : 1L);
	curl_slist_free_all(hs);
	if (status)
		*status = code;
	if (s.over_limit) {
		c->failure = "answer too large";
		rc = ferry_error_set(err, FERRY_E_LIMIT, "%s %s: answer of more than %zu bytes",
		                     method, url, rq->max_answer);
	} else if (s.io_failed) {
		rc = ferry_error_errno(err, FERRY_E_IO, s.io_errno, "read %s", rq->body_file);
	} else if (s.cancelled) {
		c->failure = "cancelled";
		rc = ferry_error_set(err, FERRY_E_CANCELLED, "%s %s: cancelled", method, url);
	} else if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && s.enough && code) &&
	           !(cc == CURLE_SEND_ERROR && code >= 400)) {
		/* (an error answered before the whole body was sent, a 413 for
		 * an upload too large, is an answer) */
		rc = curl_failure(c, method, url, cc, err);
	} else if (code == 0) {
		c->failure = "network error";
		rc = ferry_error_set(err, FERRY_E_NETWORK, "%s %s: no answer", method, url);
	}
	if (rc < 0) {
		truncate_buf(rq->answer, mark);
		truncate_buf(rq->answer_headers, hmark);
	}
	return rc;
}

int http_post(struct http_client *c, const char *url, const char *const *headers, const void *body,
              size_t len, size_t max, struct buf *out, long *status, ferry_error *err)
{
	struct http_request rq = {.method = "POST",
	                          .url = url,
	                          .headers = headers,
	                          .body = body ? body : "",
	                          .body_len = len,
	                          .max_answer = max,
	                          .answer = out};
	return http_perform(c, &rq, status, err);
}

int http_url_split(const char *url, struct http_url *u, ferry_error *err)
{
	memset(u, 0, sizeof(*u));
	CURLU *cu = curl_url();
	if (!cu)
		return ferry_error_set(err, FERRY_E_NOMEM, "%s",
		                       *curl_dl_error() ? curl_dl_error() : "out of memory");
	char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
	bool ok = curl_url_set(cu, CURLUPART_URL, url, 0) == CURLUE_OK &&
	          curl_dl_url_get(cu, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	          curl_dl_url_get(cu, CURLUPART_HOST, &host, 0) == CURLUE_OK;
	u->userinfo = ok && (curl_dl_url_get(cu, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	                     curl_dl_url_get(cu, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK);
	int rc = 0;
	if (!ok)
		rc = ferry_error_set(err, FERRY_E_INVALID,
		                     "%.200s is not an absolute URL with a host", url);
	else if (strlen(scheme) >= sizeof(u->scheme) || strlen(host) >= sizeof(u->host))
		rc = ferry_error_set(err, FERRY_E_LIMIT, "%.200s: scheme or host too long", url);
	else {
		for (size_t i = 0; scheme[i]; i++)
			u->scheme[i] = (char)(scheme[i] >= 'A' && scheme[i] <= 'Z' ? scheme[i] + 32
			                                                           : scheme[i]);
		memcpy(u->host, host, strlen(host) + 1);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(cu);
	return rc;
}

char *http_quote(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *p = out;
	if (!out)
		return NULL;
	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		unsigned char ch = *q;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
		    (keep_slash && ch == '/')) {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = '\0';
	return out;
}
