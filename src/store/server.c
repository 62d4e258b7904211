/* server.c: ferry-store's HTTP server on libmicrohttpd: a pool of threads,
 * each with its own event loop, sharing a pool of database connections.
 *
 * Requests
 *   /repo/...      the static tree devices read (repo/published/): files only,
 *                  with Content-Length, ETag and If-None-Match, Range, and a
 *                  Cache-Control per kind (timestamp.json and root.json must
 *                  be revalidated, versioned and hash-named files are
 *                  immutable). Served with sendfile from the descriptor.
 *   /console/...   the web console's files, compiled in (console.h): exact
 *                  names only, with their Content-Type, an ETag and
 *                  If-None-Match, and a strict Content-Security-Policy;
 *                  /console answers with a redirect to /console/.
 *   /v1/...        the publisher API (api.c): JSON bodies bounded by
 *                  STORE_MAX_JSON_BODY and nesting depth, image uploads
 *                  streamed to tmp/ with their hashes computed on the way and
 *                  bounded by --max-upload. A body announced too large, or a
 *                  caller without a valid token, is refused before its body
 *                  is read.
 *   /metrics       the Prometheus exposition (metrics.h), unless --metrics
 *                  off: to loopback peers, or with the --metrics-token.
 * Headers are bounded by the connection memory limit. Connections are
 * bounded too: closed after --conn-timeout seconds without traffic, at most
 * --max-connections at once and --max-connections-per-ip from one address
 * (a slow client cannot hold every slot). Every request gets an
 * id, sent back as X-Request-Id and set as the log context of each line
 * logged for it.
 *
 * Shutdown: SIGTERM or SIGINT stops accepting connections, waits for the
 * requests in flight to finish (at most 60 s), then stops. Nothing is ever
 * half-written: files are renamed into place and database changes are
 * transactions. Between signals, the main thread runs the job queue's main
 * lane; a thread of its own runs the delta lane (job_kinds.h), so that a
 * delta being made never holds up the other jobs. At a stop it finishes
 * the delta in hand and puts the rest of its job back in the queue.
 *
 * Not here: what the API does (api.c), publishing (publish.c). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "console.h"
#include "job_kinds.h"
#include "jobs.h"
#include "metrics.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"

#define SERVER_MEMORY_LIMIT (64 * 1024) /* per connection: request line and headers */
#define SERVER_SHUTDOWN_WAIT_S 60
#define STATIC_PREFIX "/repo/"
#define METRICS_PATH "/metrics"

struct request {
	struct store *st;
	char id[24];
	const struct api_route *route;
	struct api_ctx ctx;
	struct buf body;
	int up_fd;
	EVP_MD_CTX *h256, *h512;
	struct api_upload upload;
	bool responded;
	bool is_console;
	bool is_static;
	bool is_metrics;
	unsigned status;
	struct timespec start;
	char method[12];
	char url[600];
	char client[INET6_ADDRSTRLEN];
};

static struct {
	atomic_uint seq;
	uint32_t salt;
	atomic_int in_flight;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	pthread_cond_t wake; /* the delta worker's sleep, cut short by a stop */
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER,
         .idle = PTHREAD_COND_INITIALIZER,
         .wake = PTHREAD_COND_INITIALIZER};

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static enum MHD_Result queue(struct request *r, struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	r->responded = true;
	r->status = status;
	return ret;
}

static enum MHD_Result queue_json(struct request *r, struct MHD_Connection *conn, unsigned status,
                                  json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(body);
	if (!text)
		text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
	if (!text)
		return MHD_NO;
	size_t len = strlen(text);
	char *withnl = realloc(text, len + 2);
	if (withnl) {
		text = withnl;
		text[len++] = '\n';
		text[len] = '\0';
	}
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return queue(r, conn, status, resp);
}

static enum MHD_Result queue_error(struct request *r, struct MHD_Connection *conn, unsigned status,
                                   const char *code, const char *msg)
{
	log_info("%s %s: %u %s: %s", r->method, r->url, status, code, msg);
	return queue_json(r, conn, status, api_error_json(code, msg));
}

/* --- the static tree --- */

/* Safe relative path: [A-Za-z0-9._+~-] and '/', no empty or dot-led part. */
static bool static_path_ok(const char *p)
{
	if (!*p || strlen(p) > 512)
		return false;
	bool start = true;
	for (; *p; p++) {
		char c = *p;
		if (c == '/') {
			if (start)
				return false;
			start = true;
			continue;
		}
		if (start && c == '.')
			return false;
		start = false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '+' || c == '~'))
			return false;
	}
	return !start;
}

static const char *static_cache_control(const char *rel)
{
	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	if (strcmp(base, "timestamp.json") == 0 || strcmp(base, "root.json") == 0)
		return "no-cache";
	return "public, max-age=31536000, immutable";
}

/* "bytes=A-B", "bytes=A-", "bytes=-N": one range within size. 0 ok, -1 not
 * satisfiable, 1 ignore (malformed or several ranges: send everything). */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	if (!str_has_prefix(h, "bytes="))
		return 1;
	h += 6;
	if (strchr(h, ','))
		return 1;
	char *end = NULL;
	if (*h == '-') {
		unsigned long long n = strtoull(h + 1, &end, 10);
		if (end == h + 1 || *end)
			return 1;
		if (n == 0 || size == 0)
			return -1;
		if (n > size)
			n = size;
		*off = size - n;
		*len = n;
		return 0;
	}
	if (*h < '0' || *h > '9')
		return 1;
	unsigned long long a = strtoull(h, &end, 10), b = size ? size - 1 : 0;
	if (*end != '-')
		return 1;
	const char *bs = end + 1;
	if (*bs) {
		if (*bs < '0' || *bs > '9')
			return 1;
		b = strtoull(bs, &end, 10);
		if (*end || b < a)
			return 1;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size)
		return -1;
	*off = a;
	*len = b - a + 1;
	return 0;
}

static enum MHD_Result serve_static(struct request *r, struct MHD_Connection *conn, const char *rel)
{
	char path[PATH_MAX];
	if (!static_path_ok(rel) ||
	    str_printf(path, sizeof(path), "%s/published/%s", r->st->repo, rel) < 0)
		return queue_error(r, conn, MHD_HTTP_NOT_FOUND, "not-found", "no such file");
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			close(fd);
		return queue_error(r, conn, MHD_HTTP_NOT_FOUND, "not-found", "no such file");
	}
	char etag[80];
	snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "-%lx%09lx\"", (uint64_t)sb.st_ino,
	         (uint64_t)sb.st_size, (long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
	const char *cc = static_cache_control(rel);
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
	if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
		close(fd);
		struct MHD_Response *resp =
		    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (resp) {
			MHD_add_response_header(resp, "ETag", etag);
			MHD_add_response_header(resp, "Cache-Control", cc);
		}
		return queue(r, conn, MHD_HTTP_NOT_MODIFIED, resp);
	}
	uint64_t size = (uint64_t)sb.st_size, off = 0, len = size;
	unsigned status = MHD_HTTP_OK;
	const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Range");
	const char *ifrange = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-Range");
	char content_range[80] = "";
	if (range && (!ifrange || strcmp(ifrange, etag) == 0)) {
		int pr = parse_range(range, size, &off, &len);
		if (pr < 0) {
			close(fd);
			snprintf(content_range, sizeof(content_range), "bytes */%" PRIu64, size);
			struct MHD_Response *resp =
			    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
			if (resp)
				MHD_add_response_header(resp, "Content-Range", content_range);
			return queue(r, conn, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
		}
		if (pr == 0) {
			status = MHD_HTTP_PARTIAL_CONTENT;
			snprintf(content_range, sizeof(content_range),
			         "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1,
			         size);
		} else {
			off = 0;
			len = size;
		}
	}
	struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "Cache-Control", cc);
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	MHD_add_response_header(resp, "Content-Type",
	                        str_has_suffix(rel, ".json") ? "application/json"
	                                                     : "application/octet-stream");
	if (content_range[0])
		MHD_add_response_header(resp, "Content-Range", content_range);
	return queue(r, conn, status, resp);
}

/* --- the web console --- */

static void console_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy", CONSOLE_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result serve_console(struct request *r, struct MHD_Connection *conn)
{
	struct MHD_Response *resp = NULL;
	if (strcmp(r->url, "/console") == 0) {
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (resp) {
			MHD_add_response_header(resp, "Location", CONSOLE_PREFIX);
			console_headers(resp);
		}
		return queue(r, conn, MHD_HTTP_MOVED_PERMANENTLY, resp);
	}
	const struct console_file *f = console_find(r->url + strlen(CONSOLE_PREFIX));
	if (!f) {
		log_info("%s %s: 404 not-found: no such console file", r->method, r->url);
		static const char text[] = "no such file in the console\n";
		resp = MHD_create_response_from_buffer(sizeof(text) - 1, (void *)text,
		                                       MHD_RESPMEM_PERSISTENT);
		if (resp) {
			MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
			MHD_add_response_header(resp, "Cache-Control", "no-store");
			console_headers(resp);
		}
		return queue(r, conn, MHD_HTTP_NOT_FOUND, resp);
	}
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
	bool fresh = inm && (strstr(inm, f->etag) || strcmp(inm, "*") == 0);
	resp = fresh ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
	             : MHD_create_response_from_buffer(f->size, (void *)f->data,
	                                               MHD_RESPMEM_PERSISTENT);
	if (resp) {
		if (!fresh)
			MHD_add_response_header(resp, "Content-Type", f->content_type);
		MHD_add_response_header(resp, "ETag", f->etag);
		/* names carry no version: revalidate each time, a 304 is cheap */
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
		console_headers(resp);
	}
	return queue(r, conn, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp);
}

/* --- the API --- */

static void request_free(struct request *r)
{
	buf_free(&r->body);
	if (r->up_fd >= 0)
		close(r->up_fd);
	if (r->upload.path[0])
		unlink(r->upload.path);
	EVP_MD_CTX_free(r->h256);
	EVP_MD_CTX_free(r->h512);
	json_decref(r->ctx.body);
	free(r);
}

static enum MHD_Result start_upload(struct request *r, struct MHD_Connection *conn)
{
	if (str_printf(r->upload.path, sizeof(r->upload.path), "%s/upload-%s", r->st->tmp, r->id) <
	    0)
		return queue_error(r, conn, 500, "internal", "temporary path too long");
	r->up_fd = open(r->upload.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (r->up_fd < 0) {
		log_error("create %s: %s", r->upload.path, strerror(errno));
		r->upload.path[0] = '\0';
		return queue_error(r, conn, 500, "internal", "cannot store the upload");
	}
	r->h256 = EVP_MD_CTX_new();
	r->h512 = EVP_MD_CTX_new();
	if (!r->h256 || !r->h512 || !EVP_DigestInit_ex(r->h256, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(r->h512, EVP_sha512(), NULL))
		return queue_error(r, conn, 500, "internal", "cannot hash the upload");
	return MHD_YES;
}

static bool body_append(struct request *r, const char *data, size_t len)
{
	if (r->route && api_route_body(r->route) == API_BODY_UPLOAD) {
		if (len > r->st->max_upload - r->upload.size)
			return false;
		if (fs_write_all(r->up_fd, data, len) < 0 ||
		    !EVP_DigestUpdate(r->h256, data, len) ||
		    !EVP_DigestUpdate(r->h512, data, len)) {
			log_error("write %s: %s", r->upload.path, strerror(errno));
			return false;
		}
		r->upload.size += len;
		return true;
	}
	return buf_append(&r->body, data, len) == 0;
}

static enum MHD_Result authenticate(struct request *r, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	if (!h || !*h)
		return queue_error(r, conn, MHD_HTTP_UNAUTHORIZED, "auth-required",
		                   "this call needs a token: run ferry login");
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return queue_error(r, conn, MHD_HTTP_UNAUTHORIZED, "invalid-token",
		                   "malformed Authorization header: expected \"Bearer TOKEN\"");
	ferry_error err = {0};
	struct db *db = db_pool_get(&r->st->pool);
	int rc = token_lookup(db, h + 7, r->ctx.account, &err);
	db_pool_put(&r->st->pool, db);
	if (rc == FERRY_E_PERM)
		return queue_error(r, conn, MHD_HTTP_UNAUTHORIZED, "invalid-token",
		                   ferry_error_msg(&err));
	if (rc < 0) {
		log_error("token look-up: %s", ferry_error_msg(&err));
		return queue_error(r, conn, 503, "busy", "the store's database is not available");
	}
	return MHD_YES;
}

static enum MHD_Result first_call(struct request *r, struct MHD_Connection *conn, const char *url,
                                  const char *method)
{
	if (strlen(url) >= sizeof(r->url))
		return queue_error(r, conn, 414, "too-large", "request path too long");
	if (strcmp(url, "/console") == 0 || str_has_prefix(url, CONSOLE_PREFIX)) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return queue_error(r, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			                   "method-not-allowed", "the console is read-only");
		r->is_console = true; /* answered at the next call, as below */
		return MHD_YES;
	}
	if (str_has_prefix(url, STATIC_PREFIX)) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return queue_error(r, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			                   "method-not-allowed", "the repository is read-only");
		r->is_static = true; /* answered at the next call: a response queued
		                      * before the request is complete closes the
		                      * connection */
		return MHD_YES;
	}
	if (strcmp(url, METRICS_PATH) == 0 && r->st->metrics_on) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return queue_error(r, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			                   "method-not-allowed", "GET " METRICS_PATH " only");
		r->is_metrics = true; /* answered at the next call, as static files */
		return MHD_YES;
	}
	unsigned status = 404;
	r->route = api_route_find(method, url, &r->ctx, &status);
	if (!r->route)
		return queue_error(r, conn, status,
		                   status == 405 ? "method-not-allowed" : "not-found",
		                   status == 405 ? "method not allowed here" : "no such endpoint");
	if (api_route_needs_auth(r->route) && authenticate(r, conn) != MHD_YES)
		return MHD_YES;
	if (r->responded)
		return MHD_YES;
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	unsigned long long announced = 0;
	if (cl && str_to_u64(cl, UINT64_MAX, &announced) < 0)
		return queue_error(r, conn, 400, "bad-request", "malformed Content-Length");
	switch (api_route_body(r->route)) {
	case API_BODY_UPLOAD:
		if (announced > r->st->max_upload) {
			char msg[160];
			snprintf(msg, sizeof(msg),
			         "upload of %llu bytes is larger than this store "
			         "accepts (%llu bytes)",
			         announced, (unsigned long long)r->st->max_upload);
			return queue_error(r, conn, MHD_HTTP_CONTENT_TOO_LARGE, "too-large", msg);
		}
		return start_upload(r, conn);
	case API_BODY_JSON:
		if (announced > STORE_MAX_JSON_BODY) {
			char msg[120];
			snprintf(msg, sizeof(msg), "request body of %llu bytes is larger than %u",
			         announced, STORE_MAX_JSON_BODY);
			return queue_error(r, conn, MHD_HTTP_CONTENT_TOO_LARGE, "too-large", msg);
		}
		return MHD_YES;
	case API_BODY_NONE:
		break;
	}
	return MHD_YES;
}

/* The peer's address as text, "" when unknown. Behind a proxy it is the
 * proxy's: X-Forwarded-For is not trusted (docs/store.md). */
static const char *client_address(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	out[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)size);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          out, (socklen_t)size);
	return out;
}

/* Is the peer a loopback address (127/8, ::1, or 127/8 mapped in IPv6)? */
static bool peer_is_loopback(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >>
		        24) == 127;
	if (!sa || sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/* The metrics token, compared in constant time; false when none is set. */
static bool metrics_token_ok(const struct store *st, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	size_t n = strlen(st->metrics_token);
	if (!n || !h || !str_has_prefix(h, "Bearer ") || strlen(h + 7) != n)
		return false;
	return CRYPTO_memcmp(h + 7, st->metrics_token, n) == 0;
}

/* GET /metrics: from loopback, or with the metrics token (metrics.h). */
static enum MHD_Result serve_metrics(struct request *r, struct MHD_Connection *conn)
{
	if (!peer_is_loopback(conn) && !metrics_token_ok(r->st, conn))
		return queue_error(r, conn, 403, "forbidden",
		                   "metrics are served to loopback addresses, or with the "
		                   "metrics token");
	ferry_error err = {0};
	char *text = NULL;
	size_t len = 0;
	struct db *db = db_pool_get(&r->st->pool);
	int rc = metrics_render(r->st->metrics, db, &text, &len, &err);
	db_pool_put(&r->st->pool, db);
	if (rc < 0) {
		log_error("metrics: %s", ferry_error_msg(&err));
		return queue_error(r, conn, 500, "internal", "metrics: the store failed");
	}
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return queue(r, conn, 200, resp);
}

static enum MHD_Result last_call(struct request *r, struct MHD_Connection *conn)
{
	struct api_ctx *c = &r->ctx;
	if (api_route_body(r->route) == API_BODY_UPLOAD) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		if (!EVP_DigestFinal_ex(r->h256, md, &n))
			return queue_error(r, conn, 500, "internal", "cannot hash the upload");
		str_hex(md, n, r->upload.sha256);
		if (!EVP_DigestFinal_ex(r->h512, md, &n))
			return queue_error(r, conn, 500, "internal", "cannot hash the upload");
		str_hex(md, n, r->upload.sha512);
		if (fsync(r->up_fd) < 0 || close(r->up_fd) < 0) {
			r->up_fd = -1;
			return queue_error(r, conn, 500, "internal", "cannot store the upload");
		}
		r->up_fd = -1;
		c->upload = &r->upload;
		c->query_release =
		    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "release");
	} else if (api_route_body(r->route) == API_BODY_JSON) {
		const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
		if (ct && !str_has_prefix(ct, "application/json"))
			return queue_error(r, conn, 415, "unsupported-media-type",
			                   "expected a JSON body (Content-Type: application/json)");
		if (!api_json_depth_ok(r->body.data ? r->body.data : "", r->body.len,
		                       STORE_MAX_JSON_DEPTH)) {
			char msg[96];
			snprintf(msg, sizeof(msg), "JSON nested deeper than %d levels",
			         STORE_MAX_JSON_DEPTH);
			return queue_error(r, conn, 400, "invalid-json", msg);
		}
		json_error_t jerr;
		c->body = json_loadb(r->body.data ? r->body.data : "", r->body.len,
		                     JSON_REJECT_DUPLICATES, &jerr);
		if (!c->body) {
			char msg[256];
			snprintf(msg, sizeof(msg), "invalid JSON at byte %d: %s", jerr.position,
			         jerr.text);
			return queue_error(r, conn, 400, "invalid-json", msg);
		}
		if (!json_is_object(c->body))
			return queue_error(r, conn, 400, "invalid-json", "expected a JSON object");
	}
	c->raw_body = r->body.data ? r->body.data : "";
	c->raw_len = r->body.len;
	c->device_signature =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Ferry-Device-Signature");
	c->q_device = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "device");
	c->q_revision = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "revision");
	c->q_limit = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	c->q_channel = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "channel");
	c->q_all = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "all");
	c->q_not_seen = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "not-seen");
	c->client = client_address(conn, r->client, sizeof(r->client));
	c->st = r->st;
	c->db = db_pool_get(&r->st->pool);
	api_route_run(r->route, c);
	db_pool_put(&r->st->pool, c->db);
	c->db = NULL;
	json_t *reply = steal_pointer(&c->reply);
	if (!reply)
		reply = api_error_json("internal", "no reply");
	if (c->status >= 400) {
		json_t *m = json_object_get(json_object_get(reply, "error"), "message");
		log_info("%s %s: %u: %s", r->method, r->url, c->status,
		         m ? json_string_value(m) : "");
	}
	return queue_json(r, conn, c->status ? c->status : 200, reply);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
	struct store *st = cls;
	struct request *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->st = st;
		r->up_fd = -1;
		buf_init(&r->body, STORE_MAX_JSON_BODY);
		clock_gettime(CLOCK_MONOTONIC, &r->start);
		snprintf(r->id, sizeof(r->id), "%08x%08x", srv.salt,
		         atomic_fetch_add(&srv.seq, 1) + 1);
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->url, sizeof(r->url), "%s", url);
		atomic_fetch_add(&srv.in_flight, 1);
		*con_cls = r;
		log_set_context(r->id);
		enum MHD_Result ret = first_call(r, conn, url, method);
		log_set_context(NULL);
		return ret;
	}
	log_set_context(r->id);
	enum MHD_Result ret = MHD_YES;
	if (*data_size) {
		if (!r->responded && !body_append(r, data, *data_size)) {
			/* The body outgrew its bound without announcing it: answering
			 * mid-body is not possible here, so the connection is closed. */
			log_info("%s %s: body larger than allowed, connection closed", r->method,
			         r->url);
			r->status = 413;
			ret = MHD_NO;
		}
		*data_size = 0;
	} else if (!r->responded && r->is_console) {
		ret = serve_console(r, conn);
	} else if (!r->responded) {
		ret = r->is_static    ? serve_static(r, conn, r->url + strlen(STATIC_PREFIX))
		      : r->is_metrics ? serve_metrics(r, conn)
		                      : last_call(r, conn);
	}
	log_set_context(NULL);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	struct request *r = *con_cls;
	if (!r)
		return;
	log_set_context(r->id);
	if (r->status)
		metrics_request(r->st->metrics,
		                r->route        ? api_route_pattern(r->route)
		                : r->is_static  ? "/repo"
		                : r->is_metrics ? METRICS_PATH
		                                : "other",
		                r->method, r->status, ms_since(&r->start) / 1e3);
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_info("%s %s %u %.1fms", r->method, r->url, r->status, ms_since(&r->start));
	else
		log_info("%s %s: connection ended before the request completed (%s)", r->method,
		         r->url,
		         toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT      ? "client went away"
		         : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
		         : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
		         : toe == MHD_REQUEST_TERMINATED_READ_ERROR      ? "read error"
		                                                         : "error");
	log_set_context(NULL);
	request_free(r);
	*con_cls = NULL;
	pthread_mutex_lock(&srv.lock);
	if (atomic_fetch_sub(&srv.in_flight, 1) == 1)
		pthread_cond_broadcast(&srv.idle);
	pthread_mutex_unlock(&srv.lock);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("http: %s", line);
}

static int parse_listen(const char *listen, struct sockaddr_in *sa, ferry_error *err)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	unsigned long long port = 0;
	if (!colon || (size_t)(colon - listen) >= sizeof(host) ||
	    str_to_u64(colon + 1, 65535, &port) < 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--listen %s: expected ADDRESS:PORT, e.g. 127.0.0.1:8470",
		                       listen);
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "--listen %s: \"%s\" is not an IPv4 "
		                       "address",
		                       listen, host);
	return 0;
}

/* Remove uploads a crash left behind. Other instances may share tmp/, so
 * only files nobody has written to for twice the longest connection timeout
 * go: an upload in progress is written to continuously, or times out. */
static void clean_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	time_t old = time(NULL) - 2 * STORE_CONN_TIMEOUT_MAX;
	while ((e = readdir(d))) {
		struct stat sb;
		if (str_has_prefix(e->d_name, "upload-") &&
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    sb.st_mtime < old)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/* libmicrohttpd's unescaping of the path and query, except that "%00" stays
 * as it is written: decoded, it would end the C string there and let
 * "/console/app.js%00.html" reach the handler as "/console/app.js". Kept
 * literal, such a path names nothing and gets a 404. */
static size_t unescape_keep_nul(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	char *w = s;
	for (const char *r = s; *r;) {
		int hi = r[0] == '%' ? str_hex_digit(r[1]) : -1;
		int lo = hi >= 0 ? str_hex_digit(r[2]) : -1;
		if (lo >= 0 && (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* The delta lane's worker: claims only delta jobs, on a database
 * connection of its own from the pool, and sleeps a second when none was
 * due. Ends when st->stopping is set (after the delta in hand). */
static void *delta_worker(void *arg)
{
	struct store *st = arg;
	log_set_context("delta-lane");
	while (!st->stopping) {
		ferry_error jerr = {0};
		size_t ran = 0;
		struct db *db = db_pool_get(&st->pool);
		if (job_kinds_run_lane(st, db, JOB_LANE_DELTA, &ran, &jerr) < 0)
			log_warn("delta jobs: %s", ferry_error_msg(&jerr));
		db_pool_put(&st->pool, db);
		if (ran)
			continue;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_mutex_lock(&srv.lock);
		if (!st->stopping)
			pthread_cond_timedwait(&srv.wake, &srv.lock, &until);
		pthread_mutex_unlock(&srv.lock);
	}
	return NULL;
}

int server_run(struct store *st, const char *listen, ferry_error *err)
{
	struct sockaddr_in sa;
	int rc = parse_listen(listen, &sa, err);
	if (rc < 0)
		return rc;
	if (RAND_bytes((unsigned char *)&srv.salt, sizeof(srv.salt)) != 1)
		srv.salt = (uint32_t)getpid();
	rc = fs_mkdir_p(st->tmp, 0700, err);
	if (rc < 0)
		return rc;
	clean_tmp(st->tmp);
	/* one connection per HTTP thread, the main lane's and the delta lane's */
	rc = db_pool_open(&st->pool, st->db_url, st->threads + 2, err);
	if (rc < 0)
		return rc;
	struct db *db = db_pool_get(&st->pool);
	rc = db_schema_check(db, st->db_url, err);
	size_t recovered = 0;
	if (rc == 0)
		rc = publish_recover(st, db, &recovered, err);
	if (rc == 0 && recovered)
		log_info("re-published %zu package%s after an interrupted release", recovered,
		         recovered == 1 ? "" : "s");
	if (rc == 0)
		rc = jobs_enqueue(db, "resign", "", store_now(), err);
	if (rc == 0)
		rc = jobs_enqueue(db, "inventory-prune", "", store_now(), err);
	if (rc == 0)
		rc = jobs_enqueue(db, "rollout-prune", "", store_now(), err);
	db_pool_put(&st->pool, db);
	if (rc < 0) {
		db_pool_close(&st->pool);
		return rc;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
	        MHD_ALLOW_SUSPEND_RESUME,
	    ntohs(sa.sin_port), NULL, NULL, on_request, st, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)st->threads,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_MEMORY_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)st->conn_timeout,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)st->max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)st->max_connections_ip,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
	    NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_UNESCAPE_CALLBACK,
	    unescape_keep_nul, NULL, MHD_OPTION_END);
	if (!d) {
		db_pool_close(&st->pool);
		return ferry_error_errno(err, FERRY_E_IO, errno, "cannot listen on %s", listen);
	}
	pthread_t delta_thread;
	int terr = pthread_create(&delta_thread, NULL, delta_worker, st);
	if (terr != 0) {
		MHD_stop_daemon(d);
		db_pool_close(&st->pool);
		return ferry_error_errno(err, FERRY_E_IO, terr, "cannot start the delta worker");
	}
	log_info("listening on %s (%u threads), store %s, database %s", listen, st->threads,
	         st->dir, db_dialect(st->pool.conns[0]) == DB_POSTGRES ? "postgresql" : "sqlite");
	fprintf(stdout, "ferry-store listening on http://%s\n", listen);
	fflush(stdout);

	sigdelset(&set, SIGPIPE);
	for (unsigned ticks = 1;; ticks++) {
		struct timespec tick = {1, 0};
		int sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (ticks % 600 == 0)
			clean_tmp(st->tmp);
		ferry_error jerr = {0};
		size_t ran = 0;
		db = db_pool_get(&st->pool);
		if (job_kinds_run_lane(st, db, JOB_LANE_MAIN, &ran, &jerr) < 0)
			log_warn("jobs: %s", ferry_error_msg(&jerr));
		db_pool_put(&st->pool, db);
	}
	log_info("stopping: no new connections; waiting for %d request%s in flight",
	         atomic_load(&srv.in_flight), atomic_load(&srv.in_flight) == 1 ? "" : "s");
	pthread_mutex_lock(&srv.lock);
	st->stopping = 1;
	pthread_cond_broadcast(&srv.wake);
	pthread_mutex_unlock(&srv.lock);
	MHD_socket lfd = MHD_quiesce_daemon(d);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += SERVER_SHUTDOWN_WAIT_S;
	pthread_mutex_lock(&srv.lock);
	while (atomic_load(&srv.in_flight) > 0)
		if (pthread_cond_timedwait(&srv.idle, &srv.lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&srv.lock);
	MHD_stop_daemon(d);
	pthread_join(delta_thread, NULL);
	db_pool_close(&st->pool);
	log_info("stopped");
	return 0;
}
