/* client.c: requests to ferryd's local API over its Unix socket (see
 * client.h). It does not interpret results beyond the answer's envelope. */
#include "client.h"

#include "http/curl_dl.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/str.h"

const char *client_socket(void)
{
	const char *s = getenv("FERRY_SOCKET");
	return s && *s ? s : CLIENT_DEFAULT_SOCKET;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct buf *b = ctx;
	if (buf_append(b, ptr, size * nmemb) < 0)
		return 0; /* too big: abort */
	return size * nmemb;
}

static int code_of(const char *kind)
{
	for (int c = -1; c > FERRY_E__LAST; c--)
		if (strcmp(ferry_errname(c), kind) == 0)
			return c;
	return FERRY_E_INTERNAL;
}

int client_call(const char *method, const char *path, json_t *body, json_t **result, ferry_error *err)
{
	CURL *c = curl_easy_init();
	if (!c)
		return ferry_error_set(err, FERRY_E_NOMEM, "cannot start an HTTP client");
	char url[2048];
	if (str_printf(url, sizeof(url), "http://localhost%s", path) < 0) {
		curl_easy_cleanup(c);
		return ferry_error_set(err, FERRY_E_LIMIT, "request path too long");
	}
	struct buf answer = BUF_INIT(CLIENT_MAX_ANSWER);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, client_socket());
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "{}");
	}
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(text);
	int rc = 0;
	if (cc != CURLE_OK) {
		rc = ferry_error_set(err, FERRY_E_NETWORK, "cannot reach ferryd at %s: %s (is ferryd running?)",
				     client_socket(), curl_easy_strerror(cc));
		buf_free(&answer);
		return rc;
	}
	json_error_t jerr;
	json_t *j = json_loadb(answer.data ? answer.data : "", answer.len, 0, &jerr);
	buf_free(&answer);
	if (!json_is_object(j)) {
		json_decref(j);
		return ferry_error_set(err, FERRY_E_CORRUPT, "ferryd answered %ld with something that is not JSON",
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
			return ferry_error_set(err, FERRY_E_INVALID, "change %s failed and was rolled back: %s",
					       id, e ? e : "unknown error");
		}
		if (tty) {
			size_t i;
			json_t *st;
			json_array_foreach(json_object_get(ch, "steps"), i, st) {
				const char *ss = json_string_value(json_object_get(st, "status"));
				if (ss && (strcmp(ss, "Doing") == 0 || strcmp(ss, "Undoing") == 0)) {
					char line[256], pct[64] = "";
					json_t *pr = json_object_get(ch, "progress");
					json_int_t total = json_integer_value(json_object_get(pr, "total"));
					if (total > 0) {
						json_int_t done = json_integer_value(json_object_get(pr, "done"));
						snprintf(pct, sizeof(pct), " %lld%% (%.1f of %.1f MiB)",
							 (long long)(done * 100 / total), done / 1048576.0,
							 total / 1048576.0);
					}
					snprintf(line, sizeof(line), "%s%s%s", strcmp(ss, "Undoing") == 0 ? "Undo: " : "",
						 json_string_value(json_object_get(st, "summary")), pct);
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
