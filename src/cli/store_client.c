/* store_client.c: see store_client.h. Replies are bounded (1 MiB); uploads
 * are streamed from the file by lib/http. */
#include "store_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "http/http.h"

#define REPLY_MAX (1u << 20)
#define TOKEN_MAX 256

int store_config_path(char *out, size_t size, ferry_error *err)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int rc;
	if (xdg && xdg[0] == '/')
		rc = str_printf(out, size, "%s/ferry/store.json", xdg);
	else if (home && *home)
		rc = str_printf(out, size, "%s/.config/ferry/store.json", home);
	else
		return ferry_error_set(err, FERRY_E_NOTFOUND,
		                       "neither XDG_CONFIG_HOME nor HOME is set");
	return rc < 0 ? ferry_error_set(err, FERRY_E_LIMIT, "configuration path too long") : 0;
}

int store_url_check(const char *url, bool insecure, ferry_error *err)
{
	if (str_has_prefix(url, "https://"))
		return 0;
	if (!str_has_prefix(url, "http://"))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "store URL %s: expected http:// or https://", url);
	const char *h = url + strlen("http://");
	char host[256];
	size_t n = 0;
	if (*h == '[') {
		const char *e = strchr(h, ']');
		if (!e)
			return ferry_error_set(err, FERRY_E_INVALID, "store URL %s: bad host", url);
		n = (size_t)(e - h - 1);
		h++;
	} else {
		n = strcspn(h, ":/?#");
	}
	if (n == 0 || n >= sizeof(host))
		return ferry_error_set(err, FERRY_E_INVALID, "store URL %s: bad host", url);
	memcpy(host, h, n);
	host[n] = '\0';
	if (strchr(host, '@'))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "store URL %s: user names in the URL are not used", url);
	bool loopback = strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
	                str_has_prefix(host, "127.");
	if (loopback || insecure)
		return 0;
	return ferry_error_set(err, FERRY_E_UNSAFE,
	                       "refusing to send a token over plain http to %s; use https, or "
	                       "--insecure if this network is trusted",
	                       host);
}

static int read_config(const char *path, json_t **out, ferry_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	*out = NULL;
	int rc = fs_read_file(path, 64 * 1024, &text, &len, err);
	if (rc < 0)
		return rc;
	json_error_t jerr;
	*out = json_loadb(text, len, 0, &jerr);
	OPENSSL_cleanse(text, len);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: not a ferry login file (%s)",
		                       path, jerr.text);
	}
	return 0;
}

int store_client_open(struct store_client *c, const char *store_opt, bool insecure, bool need_token,
                      ferry_error *err)
{
	memset(c, 0, sizeof(*c));
	const char *url = store_opt ? store_opt : getenv("FERRY_STORE");
	const char *token = getenv("FERRY_TOKEN");
	json_t *cfg = NULL;
	char path[PATH_MAX];
	int rc = 0;
	if ((!url || !token || !*token) && store_config_path(path, sizeof(path), NULL) == 0 &&
	    fs_exists(path)) {
		rc = read_config(path, &cfg, err);
		if (rc < 0)
			return rc;
		const char *cfg_url = json_string_value(json_object_get(cfg, "store"));
		/* the saved token belongs to the saved store only */
		if (!url || (cfg_url && strcmp(url, cfg_url) == 0)) {
			url = url ? url : cfg_url;
			if (!token || !*token)
				token = json_string_value(json_object_get(cfg, "token"));
			insecure |= json_is_true(json_object_get(cfg, "insecure"));
		}
	}
	int ret = 0;
	if (!url || !*url)
		ret = ferry_error_set(err, FERRY_E_NOTFOUND,
		                      "no store given: run ferry login --store URL, or set "
		                      "FERRY_STORE and FERRY_TOKEN");
	else if (str_copy(c->url, sizeof(c->url), url) < 0)
		ret = ferry_error_set(err, FERRY_E_LIMIT, "store URL too long");
	else if (token && *token && (strlen(token) > TOKEN_MAX || strpbrk(token, "\r\n")))
		ret = ferry_error_set(err, FERRY_E_INVALID, "the token is malformed");
	else if (token && *token && !(c->token = strdup(token)))
		ret = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	json_decref(cfg); /* url and token may point into it until here */
	if (ret < 0)
		return ret;
	size_t n = strlen(c->url);
	while (n && c->url[n - 1] == '/')
		c->url[--n] = '\0';
	c->insecure = insecure;
	if (need_token && !c->token)
		return ferry_error_set(err, FERRY_E_NOTFOUND,
		                       "not logged in to %s: run ferry login, or set FERRY_TOKEN",
		                       c->url);
	if (c->token)
		return store_url_check(c->url, c->insecure, err);
	return 0;
}

void store_client_free(struct store_client *c)
{
	if (c->token) {
		OPENSSL_cleanse(c->token, strlen(c->token));
		free(c->token);
		c->token = NULL;
	}
}

char *store_escape(const char *s)
{
	struct buf b = BUF_INIT(8192);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int rc = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		          (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
		          *p == '~' || *p == '/' || *p == ',')
		             ? buf_append(&b, p, 1)
		             : buf_printf(&b, "%%%02X", *p);
		if (rc < 0) {
			buf_free(&b);
			return NULL;
		}
	}
	if (buf_append(&b, "", 0) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

struct progress {
	const char *name;
	bool tty;
	time_t last;
	int last_pct;
};

static int on_progress(void *ud, uint64_t sent, uint64_t total)
{
	struct progress *p = ud;
	if (!p->tty || total == 0)
		return 0;
	int pct = (int)(sent * 100 / total);
	time_t now = time(NULL);
	if (pct == p->last_pct && now == p->last)
		return 0;
	p->last_pct = pct;
	p->last = now;
	char bar[31];
	int fill = pct * 30 / 100;
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
	bar[30] = '\0';
	fprintf(stderr, "\rpushing %s [%s] %3d%% %.1f/%.1f MiB ", p->name, bar, pct,
	        (double)sent / 1048576.0, (double)total / 1048576.0);
	return 0;
}

/* One request to the store: rq's method, body and content type; the URL,
 * the token and the answer's handling are added here. */
static int perform(struct store_client *c, struct http_request *rq, const char *path,
                   const char *content_type, struct progress *progress, json_t **reply,
                   long *status, ferry_error *err)
{
	char url[2048], auth[TOKEN_MAX + 32], ctype[64];
	struct buf body = BUF_INIT(REPLY_MAX);
	const char *headers[4];
	size_t nh = 0;
	if (reply)
		*reply = NULL;
	if (str_printf(url, sizeof(url), "%s%s", c->url, path) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "URL too long");
	if (c->token) {
		int rc = store_url_check(c->url, c->insecure, err);
		if (rc < 0)
			return rc;
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		headers[nh++] = auth;
	}
	if (content_type) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
		headers[nh++] = ctype;
	}
	headers[nh++] = "Accept: application/json";
	headers[nh] = NULL;
	/* lib/http's defaults but two: see store_client.h */
	struct http_options ho = {
	    .stall_timeout_s = -1, .ca_file = getenv("FERRY_CA_FILE"), .no_redirects = true};
	_cleanup_http_ struct http_client *h = NULL;
	int rc = http_client_new(&ho, &h, err);
	if (rc < 0) {
		OPENSSL_cleanse(auth, sizeof(auth));
		return rc;
	}
	if (progress)
		http_set_progress(h, on_progress, progress);
	rq->url = url;
	rq->headers = headers;
	rq->max_answer = REPLY_MAX;
	rq->answer = &body;
	long code = 0;
	rc = http_perform(h, rq, &code, err);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (status)
		*status = code;
	if (rc < 0) {
		buf_free(&body);
		return rc;
	}
	json_t *j = body.len ? json_loadb(body.data, body.len, 0, NULL) : NULL;
	buf_free(&body);
	if (code >= 400) {
		const char *msg =
		    json_string_value(json_object_get(json_object_get(j, "error"), "message"));
		rc = code == 401 || code == 403 ? FERRY_E_PERM
		     : code == 404              ? FERRY_E_NOTFOUND
		     : code == 409              ? FERRY_E_EXISTS
		     : code == 413              ? FERRY_E_LIMIT
		     : code >= 500              ? FERRY_E_NETWORK
		                                : FERRY_E_INVALID;
		ferry_error_set(err, rc, "%s", msg ? msg : "the store refused the request");
		if (code == 401 && msg)
			ferry_error_set(err, rc, "%s (HTTP 401: run ferry login)", msg);
		if (reply)
			*reply = j;
		else
			json_decref(j);
		return rc;
	}
	if (!j) {
		return ferry_error_set(err, FERRY_E_NETWORK, "%s: the reply is not JSON (HTTP %ld)",
		                       c->url, code);
	}
	if (reply)
		*reply = j;
	else
		json_decref(j);
	return 0;
}

int store_call(struct store_client *c, const char *method, const char *path, json_t *body,
               json_t **reply, long *status, ferry_error *err)
{
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body && !text)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	struct http_request rq = {
	    .method = method, .body = text, .body_len = text ? strlen(text) : 0};
	return perform(c, &rq, path, text ? "application/json" : NULL, NULL, reply, status, err);
}

int store_upload(struct store_client *c, const char *api_path, const char *file, json_t **reply,
                 long *status, ferry_error *err)
{
	const char *base = strrchr(file, '/');
	struct progress p = {.name = base ? base + 1 : file, .tty = isatty(2), .last_pct = -1};
	struct http_request rq = {.method = "POST", .body_file = file};
	int rc = perform(c, &rq, api_path, "application/octet-stream", &p, reply, status, err);
	if (p.tty && p.last_pct >= 0)
		fputc('\n', stderr);
	return rc;
}
