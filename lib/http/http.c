/* http.c: GET with bounds on libcurl (see http.h). The body goes through a
 * write callback that counts every byte against the bound and aborts the
 * transfer past it; Content-Length is only used to fail early. */
#include "http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/curl_dl.h"

#include "base/cleanup.h"
#include "base/fs.h"

struct http_client {
	CURL *curl;
	http_progress_fn progress;
	void *progress_ctx;
	char errbuf[CURL_ERROR_SIZE];
};

/* State of one transfer. */
struct sink {
	CURL *h;
	uint64_t discarded; /* body bytes of an error response, dropped */
	struct buf *buf;    /* into memory, or */
	int fd;             /* into a file */
	uint64_t received;
	uint64_t max;
	bool over_limit;
	bool io_failed;
	int io_errno;
	uint64_t base; /* bytes already in the file when resuming */
	bool restart;  /* server ignored the range: truncate first */
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
	struct http_options o = opt ? *opt : (struct http_options){0};
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
	                 o.connect_timeout_ms > 0 ? o.connect_timeout_ms : 30000L);
	if (o.total_timeout_ms > 0)
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, o.total_timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME,
	                 o.stall_timeout_s > 0 ? o.stall_timeout_s : 60L);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT,
	                 o.user_agent ? o.user_agent : "ferry/" FERRY_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c->curl, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(c->curl, CURLOPT_REDIR_PROTOCOLS,
	                 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	/* no transparent decompression: the bound is on what arrives */
	curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, NULL);
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

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	size_t len = size * n;
	long code = 0;
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code <= 299 && len > 15 &&
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
	if (code < 200 || code > 299) {
		/* an error page: never the caller's data; bounded all the same */
		s->discarded += len;
		return s->discarded > 65536 ? 0 : len;
	}
	if (len > s->max - s->received) {
		s->over_limit = true;
		return 0;
	}
	if (s->buf) {
		if (buf_append(s->buf, data, len) < 0) {
			s->over_limit = true;
			return 0;
		}
	} else if (fs_write_all(s->fd, data, len) < 0) {
		s->io_failed = true;
		s->io_errno = errno;
		return 0;
	}
	s->received += len;
	return len;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct sink *s = ctx;
	if (s->progress && s->progress(s->progress_ctx, s->base + (uint64_t)dlnow,
	                               dltotal > 0 ? s->base + (uint64_t)dltotal : 0) != 0) {
		s->cancelled = true;
		return 1;
	}
	return 0;
}

static int status_error(long status, const char *url, ferry_error *err)
{
	if (status == 404 || status == 410)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "GET %s: %ld not found", url, status);
	if (status == 403)
		return ferry_error_set(err, FERRY_E_PERM, "GET %s: 403 forbidden", url);
	return ferry_error_set(err, FERRY_E_NETWORK, "GET %s: HTTP status %ld", url, status);
}

static int perform(struct http_client *c, const char *url, struct sink *s, long *status_out,
                   ferry_error *err)
{
	CURL *h = c->curl;
	c->errbuf[0] = '\0';
	s->h = h;
	s->progress = c->progress;
	s->progress_ctx = c->progress_ctx;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	/* Only error statuses with bodies we ignore: do not fail in curl, so
	 * that the status is ours to map. */
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 0L);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status_out)
		*status_out = status;
	curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)0);
	if (s->over_limit && status >= 200 && status <= 299)
		return ferry_error_set(err, FERRY_E_LIMIT, "GET %s: more than %llu bytes", url,
		                       (unsigned long long)s->max);
	if (s->io_failed)
		return ferry_error_errno(err, FERRY_E_IO, s->io_errno, "GET %s: write", url);
	if (s->cancelled)
		return ferry_error_set(err, FERRY_E_CANCELLED, "GET %s: cancelled", url);
	if (status >= 300 && status != 0 && rc != CURLE_OPERATION_TIMEDOUT)
		return status_error(status, url, err);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return ferry_error_set(err, FERRY_E_TIMEOUT, "GET %s: %s", url,
		                       c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	if (rc != CURLE_OK)
		return ferry_error_set(err, FERRY_E_NETWORK, "GET %s: %s", url,
		                       c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	if (status < 200 || status > 299)
		return status_error(status, url, err);
	return 0;
}

int http_get_buf(struct http_client *c, const char *url, size_t max, struct buf *out, long *status,
                 ferry_error *err)
{
	size_t mark = out->len;
	struct sink s = {.buf = out, .fd = -1, .max = max};
	int rc = perform(c, url, &s, status, err);
	if (rc < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
	}
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
	struct sink s = {.fd = fd, .max = max - have, .base = have};
	long st_code = 0;
	int rc = perform(c, url, &s, &st_code, err);
	if (status)
		*status = st_code;
	if (rc == 0 && have > 0 && st_code == 200) {
		/* the server sent everything again: start the file over */
		ferry_error_clear(err);
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "truncate %s", path);
		struct sink again = {.fd = fd, .max = max};
		rc = perform(c, url, &again, status, err);
	}
	if (rc == FERRY_E_LIMIT && ftruncate(fd, 0) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "truncate %s", path);
	if (rc < 0)
		return rc; /* a partial body stays, to be resumed */
	if (fsync(fd) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "fsync %s", path);
	return 0;
}

struct post_sink {
	struct buf *buf;
	size_t max;
	bool over_limit;
	http_progress_fn progress;
	void *progress_ctx;
	bool cancelled;
};

static size_t on_post_body(char *data, size_t size, size_t n, void *ctx)
{
	struct post_sink *s = ctx;
	size_t len = size * n;
	if (len > s->max - s->buf->len || buf_append(s->buf, data, len) < 0) {
		s->over_limit = true;
		return 0;
	}
	return len;
}

static int on_post_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
	struct post_sink *s = ctx;
	if (s->progress && s->progress(s->progress_ctx, (uint64_t)ulnow,
	                               ultotal > 0 ? (uint64_t)ultotal : 0) != 0) {
		s->cancelled = true;
		return 1;
	}
	return 0;
}

int http_post(struct http_client *c, const char *url, const char *const *headers, const void *body,
              size_t len, size_t max, struct buf *out, long *status, ferry_error *err)
{
	CURL *h = c->curl;
	struct curl_slist *hs = NULL;
	for (size_t i = 0; headers && headers[i]; i++) {
		struct curl_slist *n = curl_slist_append(hs, headers[i]);
		if (!n) {
			curl_slist_free_all(hs);
			return ferry_error_set(err, FERRY_E_NOMEM, "http: out of memory");
		}
		hs = n;
	}
	size_t mark = out->len;
	struct post_sink s = {.buf = out,
	                      .max = mark + max,
	                      .progress = c->progress,
	                      .progress_ctx = c->progress_ctx};
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_post_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, NULL);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_post_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 0L);
	/* a redirect would turn the POST into a GET: not followed */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	CURLcode rc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	/* the handle goes back to what the GETs expect */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_slist_free_all(hs);
	if (status)
		*status = code;
	int ret = 0;
	if (s.over_limit)
		ret = ferry_error_set(err, FERRY_E_LIMIT, "POST %s: answer of more than %zu bytes",
		                      url, max);
	else if (s.cancelled)
		ret = ferry_error_set(err, FERRY_E_CANCELLED, "POST %s: cancelled", url);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		ret = ferry_error_set(err, FERRY_E_TIMEOUT, "POST %s: %s", url,
		                      c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	else if (rc != CURLE_OK || code == 0)
		ret = ferry_error_set(err, FERRY_E_NETWORK, "POST %s: %s", url,
		                      c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
	if (ret < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
	}
	return ret;
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
