/* webhooks.c: publishers' webhooks and the delivery of notices to them.
 *
 * A webhook belongs to a package (every collaborator may manage it) or to an
 * account (its notices cover every package the account owns or
 * collaborates on). A notice (lib/vuln/notice.h) is queued as one delivery
 * row per hook, in the transaction that opened or cleared the findings, and
 * a `webhook ID` job sends it: HTTP POST of the stored body with
 *   Content-Type: application/json
 *   X-Ferry-Signature: sha256=HEX   (HMAC-SHA256 of the body under the secret)
 *   X-Ferry-Delivery: ID            X-Ferry-Event: vulnerability-notice
 * A release event (a halt, a rollout's stage or end: rollout.c) is queued and
 * sent the same way, its X-Ferry-Event naming it (column event).
 * Any 2xx answer delivers it. Otherwise the job comes back after a back-off
 * (lib/vuln: 30 s doubling up to 1 h, VULN_RETRY_MAX retries; the first
 * delay can be changed with FERRY_STORE_WEBHOOK_BACKOFF=SECONDS) and the
 * delivery log keeps each attempt's status code or a generic cause
 * ("connection refused", "timeout", "HTTP 500", "destination not allowed"),
 * never the receiver's own words. Redirects are not followed; a receiver
 * has 5 s to accept the connection and 10 s to answer.
 *
 * Destinations. A publisher chooses the URL and the store connects: left
 * alone, that is a way into the store's machine and its private networks
 * (a request forgery, with the status codes in the delivery log for an
 * answer). So the store connects only to public addresses (lib/http
 * address.h: no loopback, link-local, private, shared, multicast, reserved
 * addresses nor their IPv4-mapped forms): checked when a webhook is added
 * (the URL's host, resolved) and again, by lib/http, on the address of every
 * connection as it is made (a name can resolve differently later), unless
 * the operator runs `ferry-store serve --webhook-allow-private`.
 *
 * Secrets. The store must be able to sign, so a secret cannot be stored as
 * a hash. It is stored encrypted with AES-256-GCM under a key kept in the
 * store directory (DIR/webhook-secrets.key, 0600, made at first use), with
 * the webhook's id as associated data: a copy of the database alone (a
 * backup, a replica, a leaked dump) does not give the secrets away, and a
 * ciphertext moved to another row does not decrypt. Instances that share a
 * PostgreSQL database share DIR already (blobs, repository), so they share
 * the key. Secrets are never returned by the API nor logged; plaintext
 * copies are wiped after use.
 *
 * Not here: when notices are made (vulns.c). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "handler.h"
#include "http/address.h"
#include "http/http.h"
#include "jobs.h"
#include "vuln/notice.h"
#include "webhooks.h"

#define WEBHOOK_KEY_FILE "webhook-secrets.key"
#define WEBHOOK_SECRET_MIN 16
#define WEBHOOK_SECRET_MAX 1024
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_MAX_PER_SCOPE 20
#define WEBHOOK_LOG_MAX 50 /* deliveries a listing shows */
#define WEBHOOK_CONNECT_TIMEOUT_S 5
#define WEBHOOK_TIMEOUT_S 10
#define WEBHOOK_ANSWER_MAX 65536 /* bytes of an answer read (and dropped) */
#define GCM_NONCE 12
#define GCM_TAG 16

static char *ll_str(char buf[24], long long v)
{
	snprintf(buf, 24, "%lld", v);
	return buf;
}

/* ------------------------------------------------------------------ */
/* the key and the secrets                                             */

static int read_key(const char *path, unsigned char key[32], ferry_error *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc = fs_read_file(path, 64, &data, &len, err);
	if (rc < 0)
		return rc;
	if (len != 32)
		rc = ferry_error_set(err, FERRY_E_CORRUPT, "%s: expected 32 bytes, found %zu", path,
		                     len);
	else
		memcpy(key, data, 32);
	OPENSSL_clear_free(data, len);
	return rc;
}

/* The key, made on first use. Two instances making it at once: each writes
 * its own temporary file and link()s it into place; the loser reads the
 * winner's. */
static int secret_key(struct store *st, unsigned char key[32], ferry_error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	if (str_printf(path, sizeof(path), "%s/%s", st->dir, WEBHOOK_KEY_FILE) < 0 ||
	    str_printf(tmp, sizeof(tmp), "%s/.%s.%d", st->dir, WEBHOOK_KEY_FILE, (int)getpid()) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", st->dir);
	if (fs_exists(path))
		return read_key(path, key, err);
	unsigned char fresh[32];
	if (RAND_bytes(fresh, sizeof(fresh)) != 1)
		return ferry_error_set(err, FERRY_E_INTERNAL,
		                       "no random bytes for the webhook key");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		OPENSSL_cleanse(fresh, sizeof(fresh));
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", tmp);
	}
	int rc = fs_write_all(fd, fresh, sizeof(fresh));
	if (rc == 0 && fsync(fd) < 0)
		rc = FERRY_E_IO;
	close(fd);
	OPENSSL_cleanse(fresh, sizeof(fresh));
	if (rc < 0) {
		unlink(tmp);
		return ferry_error_errno(err, FERRY_E_IO, errno, "write %s", tmp);
	}
	if (link(tmp, path) < 0 && errno != EEXIST) {
		int e = errno;
		unlink(tmp);
		return ferry_error_errno(err, FERRY_E_IO, e, "%s", path);
	}
	unlink(tmp);
	if ((rc = fs_fsync_dir(st->dir, err)) < 0)
		return rc;
	return read_key(path, key, err);
}

/* "v1:" HEX(nonce | ciphertext | tag), heap. */
static int secret_seal(struct store *st, const char *id, const char *secret, size_t len, char **out,
                       ferry_error *err)
{
	unsigned char key[32], nonce[GCM_NONCE], tag[GCM_TAG];
	int rc = secret_key(st, key, err);
	if (rc < 0)
		return rc;
	_cleanup_free_ unsigned char *ct = malloc(len + 1);
	char *hex = malloc(3 + 2 * (GCM_NONCE + len + GCM_TAG) + 1);
	EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	bool ok =
	    ct && hex && cx && RAND_bytes(nonce, sizeof(nonce)) == 1 &&
	    EVP_EncryptInit_ex(cx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
	    EVP_EncryptUpdate(cx, NULL, &n, (const unsigned char *)id, (int)strlen(id)) == 1 &&
	    EVP_EncryptUpdate(cx, ct, &n, (const unsigned char *)secret, (int)len) == 1 &&
	    EVP_EncryptFinal_ex(cx, ct + n, &fin) == 1 &&
	    EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1;
	EVP_CIPHER_CTX_free(cx);
	OPENSSL_cleanse(key, sizeof(key));
	if (!ok) {
		free(hex);
		return ferry_error_set(err, FERRY_E_INTERNAL,
		                       "webhook %s: encrypting the secret failed", id);
	}
	memcpy(hex, "v1:", 3);
	str_hex(nonce, GCM_NONCE, hex + 3);
	str_hex(ct, (size_t)(n + fin), hex + 3 + 2 * GCM_NONCE);
	str_hex(tag, GCM_TAG, hex + 3 + 2 * (GCM_NONCE + (size_t)(n + fin)));
	*out = hex;
	return 0;
}

static int unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + k];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* The plaintext secret (heap, *len bytes; wipe and free). */
static int secret_open(struct store *st, const char *id, const char *sealed, unsigned char **out,
                       size_t *len, ferry_error *err)
{
	size_t hl = strlen(sealed);
	if (!str_has_prefix(sealed, "v1:") || (hl - 3) % 2 || (hl - 3) / 2 < GCM_NONCE + GCM_TAG ||
	    (hl - 3) / 2 > GCM_NONCE + GCM_TAG + 4096)
		return ferry_error_set(err, FERRY_E_CORRUPT,
		                       "webhook %s: stored secret is malformed", id);
	size_t total = (hl - 3) / 2, clen = total - GCM_NONCE - GCM_TAG;
	_cleanup_free_ unsigned char *raw = malloc(total);
	unsigned char *pt = malloc(clen + 1);
	if (!raw || !pt) {
		free(pt);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	if (unhex(sealed + 3, total, raw) < 0) {
		free(pt);
		return ferry_error_set(err, FERRY_E_CORRUPT,
		                       "webhook %s: stored secret is malformed", id);
	}
	unsigned char key[32];
	int rc = secret_key(st, key, err);
	if (rc < 0) {
		free(pt);
		return rc;
	}
	EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	bool ok =
	    cx && EVP_DecryptInit_ex(cx, EVP_aes_256_gcm(), NULL, key, raw) == 1 &&
	    EVP_DecryptUpdate(cx, NULL, &n, (const unsigned char *)id, (int)strlen(id)) == 1 &&
	    EVP_DecryptUpdate(cx, pt, &n, raw + GCM_NONCE, (int)clen) == 1 &&
	    EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_GCM_SET_TAG, GCM_TAG, raw + GCM_NONCE + clen) == 1 &&
	    EVP_DecryptFinal_ex(cx, pt + n, &fin) == 1;
	EVP_CIPHER_CTX_free(cx);
	OPENSSL_cleanse(key, sizeof(key));
	if (!ok) {
		OPENSSL_clear_free(pt, clen + 1);
		return ferry_error_set(err, FERRY_E_VERIFY,
		                       "webhook %s: the secret does not decrypt under %s/%s", id,
		                       st->dir, WEBHOOK_KEY_FILE);
	}
	*out = pt;
	*len = (size_t)(n + fin);
	return 0;
}

/* ------------------------------------------------------------------ */
/* queueing and delivering                                             */

static int queue(struct db *db, const char *package, const char *event, const char *state,
                 const char *body, size_t *queued, ferry_error *err)
{
	_cleanup_rows_ struct db_rows hooks = DB_ROWS_INIT;
	char now[24];
	ll_str(now, store_now());
	int rc =
	    db_run(db, &hooks, err,
	           "SELECT id FROM webhooks WHERE removed IS NULL AND (package = $1 OR "
	           "(package IS NULL AND account IN (SELECT owner FROM packages WHERE name = $1 "
	           "UNION SELECT account FROM collaborators WHERE package = $1))) ORDER BY id",
	           package);
	for (size_t i = 0; rc == 0 && i < hooks.nrows; i++) {
		_cleanup_rows_ struct db_rows ins = DB_ROWS_INIT;
		rc = db_run(
		    db, &ins, err,
		    "INSERT INTO webhook_deliveries (webhook, package, state, body, created, "
		    "next_attempt, event) VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id",
		    db_cell(&hooks, i, 0), package, state, body, now, event);
		if (rc == 0)
			rc = jobs_enqueue(db, "webhook", db_cell(&ins, 0, 0), store_now(), err);
		if (rc == 0)
			(*queued)++;
	}
	return rc;
}

int webhooks_queue(struct db *db, const char *package, const char *state, const char *body,
                   size_t *queued, ferry_error *err)
{
	return queue(db, package, WEBHOOK_EVENT_NOTICE, state, body, queued, err);
}

int webhooks_queue_event(struct db *db, const char *package, const char *event, const char *body,
                         ferry_error *err)
{
	size_t queued = 0;
	return queue(db, package, event, event, body, &queued, err);
}

/* POST body to url; *status the HTTP status (0 when none came). On
 * failure, cause (cause_size bytes) gets what the delivery log shows: a
 * generic cause, never the receiver's words. */
static int post(const struct store *st, const char *url, const char *body, const char *sig,
                const char *id, const char *event, long *status, char *cause, size_t cause_size,
                ferry_error *err)
{
	*status = 0;
	char hsig[128], hid[64], hev[64];
	snprintf(hsig, sizeof(hsig), "%s: %s", VULN_SIGNATURE_HEADER, sig);
	snprintf(hid, sizeof(hid), "X-Ferry-Delivery: %s", id);
	snprintf(hev, sizeof(hev), "X-Ferry-Event: %s", event);
	const char *const headers[] = {
	    "Content-Type: application/json", hsig, hid, hev, "Expect:", NULL};
	struct http_options ho = {.connect_timeout_ms = WEBHOOK_CONNECT_TIMEOUT_S * 1000L,
	                          .total_timeout_ms = WEBHOOK_TIMEOUT_S * 1000L,
	                          .user_agent = "ferry-store/" FERRY_VERSION,
	                          .ca_file = getenv("FERRY_CA_FILE"),
	                          .no_redirects = true,
	                          .public_only = !st->webhook_allow_private};
	_cleanup_http_ struct http_client *h = NULL;
	int rc = http_client_new(&ho, &h, err);
	if (rc < 0) {
		snprintf(cause, cause_size, "the store cannot send: %s", ferry_strerror(rc));
		return rc;
	}
	struct http_request rq = {.method = "POST",
	                          .url = url,
	                          .headers = headers,
	                          .body = body,
	                          .body_len = strlen(body),
	                          .max_answer = WEBHOOK_ANSWER_MAX};
	rc = http_perform(h, &rq, status, err);
	OPENSSL_cleanse(hsig, sizeof(hsig));
	if (rc < 0) {
		snprintf(cause, cause_size, "%s", http_failure(h));
		return rc;
	}
	if (*status < 200 || *status > 299) {
		snprintf(cause, cause_size, "HTTP %ld", *status);
		return ferry_error_set(err, FERRY_E_NETWORK, "the receiver answered HTTP %ld",
		                       *status);
	}
	return 0;
}

static long long backoff_s(unsigned attempt)
{
	unsigned long long ms = vuln_retry_delay_ms(attempt);
	const char *env = getenv("FERRY_STORE_WEBHOOK_BACKOFF");
	unsigned long long base = 30;
	if (env && str_to_u64(env, 3600, &base) == 0 && base > 0)
		ms = ms * base / 30;
	long long s = (long long)(ms / 1000);
	return s < 1 ? 1 : s;
}

int webhooks_deliver(struct store *st, struct db *db, const char *id, bool *again, long long *next,
                     ferry_error *err)
{
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	int rc =
	    db_run(db, &rows, err,
	           "SELECT d.body, d.attempts, w.url, w.secret, w.removed, w.id, d.status, d.event "
	           "FROM "
	           "webhook_deliveries d JOIN webhooks w ON w.id = d.webhook WHERE d.id = $1",
	           id);
	if (rc < 0)
		return rc;
	if (rows.nrows == 0 || str_eq(db_cell(&rows, 0, 6), "delivered"))
		return 0;
	char now[24], att[24], code[24], nx[24];
	ll_str(now, store_now());
	if (db_cell(&rows, 0, 4))
		return db_run(db, NULL, err,
		              "UPDATE webhook_deliveries SET status = 'abandoned', error = "
		              "'the webhook was removed', next_attempt = NULL WHERE id = $1",
		              id);
	const char *body = db_cell(&rows, 0, 0), *hook = db_cell(&rows, 0, 5);
	const char *event = db_cell(&rows, 0, 7) ? db_cell(&rows, 0, 7) : WEBHOOK_EVENT_NOTICE;
	long long attempts = db_cell_ll(&rows, 0, 1) + 1;
	unsigned char *secret = NULL;
	size_t slen = 0;
	char sig[VULN_SIGNATURE_LEN + 1], cause[128] = "";
	long status = 0;
	ferry_error perr = {0};
	rc = secret_open(st, hook, db_cell(&rows, 0, 3), &secret, &slen, &perr);
	if (rc == 0) {
		rc = vuln_signature(secret, slen, body, strlen(body), sig, &perr);
		OPENSSL_clear_free(secret, slen + 1);
	}
	if (rc == 0)
		rc = post(st, db_cell(&rows, 0, 2), body, sig, id, event, &status, cause,
		          sizeof(cause), &perr);
	OPENSSL_cleanse(sig, sizeof(sig));
	if (rc == 0) {
		log_info("webhook %s: delivered %s %s (HTTP %ld)", hook, event, id, status);
		return db_run(db, NULL, err,
		              "UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, "
		              "last_attempt = $3, response = $4, error = NULL, next_attempt = NULL "
		              "WHERE id = $1",
		              id, ll_str(att, attempts), now, status ? ll_str(code, status) : NULL);
	}
	bool retry = attempts <= VULN_RETRY_MAX;
	long long when = store_now() + backoff_s((unsigned)attempts);
	log_warn("webhook %s: %s %s not delivered (attempt %lld): %s%s", hook, event, id, attempts,
	         ferry_error_msg(&perr), retry ? "; will retry" : "; giving up");
	rc = db_run(db, NULL, err,
	            "UPDATE webhook_deliveries SET status = $2, attempts = $3, last_attempt = $4, "
	            "response = $5, error = $6, next_attempt = $7 WHERE id = $1",
	            id, retry ? "retrying" : "failed", ll_str(att, attempts), now,
	            status ? ll_str(code, status) : NULL, *cause ? cause : ferry_error_msg(&perr),
	            retry ? ll_str(nx, when) : NULL);
	if (rc == 0 && retry) {
		*again = true;
		*next = when;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* the routes                                                          */

static json_t *null_or_int(const struct db_rows *r, size_t i, size_t col)
{
	return db_cell(r, i, col) ? json_integer(db_cell_ll(r, i, col)) : json_null();
}

/* package: the package's hooks; else account's. */
static void list(struct api_ctx *c, const char *package, const char *account)
{
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows hooks = DB_ROWS_INIT, log = DB_ROWS_INIT;
	char lim[24];
	ll_str(lim, WEBHOOK_LOG_MAX);
	int rc =
	    package ? db_run(c->db, &hooks, &err,
	                     "SELECT id, url, created, created_by FROM webhooks WHERE package = $1 "
	                     "AND removed IS NULL ORDER BY created, id",
	                     package)
	            : db_run(c->db, &hooks, &err,
	                     "SELECT id, url, created, created_by FROM webhooks WHERE package IS "
	                     "NULL AND account = $1 AND removed IS NULL ORDER BY created, id",
	                     account);
	if (rc == 0)
		rc = package ? db_run(c->db, &log, &err,
		                      "SELECT d.id, d.webhook, d.package, d.state, d.created, "
		                      "d.attempts, d.status, d.response, d.error, d.last_attempt, "
		                      "d.next_attempt, d.event FROM webhook_deliveries d JOIN "
		                      "webhooks w ON "
		                      "w.id = d.webhook WHERE w.package = $1 ORDER BY d.id DESC "
		                      "LIMIT $2",
		                      package, lim)
		             : db_run(c->db, &log, &err,
		                      "SELECT d.id, d.webhook, d.package, d.state, d.created, "
		                      "d.attempts, d.status, d.response, d.error, d.last_attempt, "
		                      "d.next_attempt, d.event FROM webhook_deliveries d JOIN "
		                      "webhooks w ON "
		                      "w.id = d.webhook WHERE w.package IS NULL AND w.account = $1 "
		                      "ORDER BY d.id DESC LIMIT $2",
		                      account, lim);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	json_t *hl = json_array(), *dl = json_array();
	for (size_t i = 0; i < hooks.nrows; i++)
		json_array_append_new(
		    hl, json_pack("{s:s, s:s, s:s, s:I, s:s}", "id", db_cell(&hooks, i, 0), "url",
		                  db_cell(&hooks, i, 1), "scope", package ? "package" : "account",
		                  "created", (json_int_t)db_cell_ll(&hooks, i, 2), "created_by",
		                  db_cell(&hooks, i, 3)));
	for (size_t i = 0; i < log.nrows; i++) {
		json_t *o =
		    json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:o, s:o, s:o, s:o}", "id",
		              (json_int_t)db_cell_ll(&log, i, 0), "webhook", db_cell(&log, i, 1),
		              "package", db_cell(&log, i, 2), "state", db_cell(&log, i, 3),
		              "created", (json_int_t)db_cell_ll(&log, i, 4), "attempts",
		              (json_int_t)db_cell_ll(&log, i, 5), "status", db_cell(&log, i, 6),
		              "response", null_or_int(&log, i, 7), "error",
		              db_cell(&log, i, 8) ? json_string(db_cell(&log, i, 8)) : json_null(),
		              "last_attempt", null_or_int(&log, i, 9), "next_attempt",
		              null_or_int(&log, i, 10));
		json_object_set_new(o, "event", json_string(db_cell(&log, i, 11)));
		json_array_append_new(dl, o);
	}
	api_reply(c, 200,
	          json_pack("{s:o, s:o, s:o, s:o}", "package",
	                    package ? json_string(package) : json_null(), "account",
	                    account ? json_string(account) : json_null(), "webhooks", hl,
	                    "deliveries", dl));
}

/* Is url one the store will POST to? Error reply when not. */
static bool url_ok(struct api_ctx *c, const char *url)
{
	size_t n = strlen(url);
	if (n == 0 || n > WEBHOOK_URL_MAX) {
		api_error(c, 400, "bad-request", "\"url\": expected 1 to %d bytes",
		          WEBHOOK_URL_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f) {
			api_error(c, 400, "bad-request",
			          "\"url\": spaces, control characters and non-ASCII bytes are not "
			          "allowed");
			return false;
		}
	struct http_url u;
	ferry_error err = {0};
	int rc = http_url_split(url, &u, &err);
	if (rc < 0 || (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0)) {
		api_error(c, 400, "bad-request",
		          "\"url\": %.200s is not an http:// or https:// URL", url);
		return false;
	}
	if (u.userinfo) {
		api_error(c, 400, "bad-request",
		          "\"url\": no user name or password in the URL; the signature "
		          "authenticates the store");
		return false;
	}
	if (!c->st->webhook_allow_private && http_host_check_public(u.host, &err) < 0) {
		api_error(c, 400, "bad-request",
		          "\"url\": %.200s: %s; the store sends webhooks to public addresses only "
		          "(its operator can allow others: ferry-store serve "
		          "--webhook-allow-private)",
		          url, ferry_error_msg(&err));
		return false;
	}
	return true;
}

static void add(struct api_ctx *c, const char *package, const char *account)
{
	json_t *ju = json_object_get(c->body, "url"), *js = json_object_get(c->body, "secret");
	if (!json_is_string(ju))
		return api_error(c, 400, "bad-request", "\"url\": expected a string");
	if (!json_is_string(js))
		return api_error(c, 400, "bad-request", "\"secret\": expected a string");
	const char *url = json_string_value(ju);
	/* the body's copy of the secret is wiped when this returns */
	char *secret = (char *)json_string_value(js);
	size_t slen = json_string_length(js);
	if (slen < WEBHOOK_SECRET_MIN || slen > WEBHOOK_SECRET_MAX || strlen(secret) != slen) {
		OPENSSL_cleanse(secret, slen);
		return api_error(c, 400, "bad-request",
		                 "\"secret\": expected %d to %d bytes without NUL (a random string "
		                 "such as: openssl rand -hex 32)",
		                 WEBHOOK_SECRET_MIN, WEBHOOK_SECRET_MAX);
	}
	if (!url_ok(c, url)) {
		OPENSSL_cleanse(secret, slen);
		return;
	}
	ferry_error err = {0};
	unsigned char rnd[8];
	char id[24], now[24];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		OPENSSL_cleanse(secret, slen);
		return api_error(c, 500, "internal", "no random bytes");
	}
	memcpy(id, "wh", 2);
	str_hex(rnd, sizeof(rnd), id + 2);
	_cleanup_free_ char *sealed = NULL;
	int rc = secret_seal(c->st, id, secret, slen, &sealed, &err);
	OPENSSL_cleanse(secret, slen);
	_cleanup_rows_ struct db_rows cnt = DB_ROWS_INIT;
	if (rc == 0)
		rc = db_begin(c->db, true, &err);
	if (rc == 0)
		rc = package
		         ? db_run(c->db, &cnt, &err,
		                  "SELECT COUNT(*) FROM webhooks WHERE package = $1 AND removed "
		                  "IS NULL",
		                  package)
		         : db_run(c->db, &cnt, &err,
		                  "SELECT COUNT(*) FROM webhooks WHERE package IS NULL AND "
		                  "account = $1 AND removed IS NULL",
		                  account);
	if (rc == 0 && db_cell_ll(&cnt, 0, 0) >= WEBHOOK_MAX_PER_SCOPE) {
		db_rollback(c->db);
		return api_error(c, 409, "conflict", "%s has %d webhooks already; remove one first",
		                 package ? package : account, WEBHOOK_MAX_PER_SCOPE);
	}
	if (rc == 0)
		rc = db_run(c->db, NULL, &err,
		            "INSERT INTO webhooks (id, package, account, url, secret, created, "
		            "created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		            id, package, package ? NULL : account, url, sealed,
		            ll_str(now, store_now()), c->account);
	if (rc == 0)
		rc = db_commit(c->db, &err);
	db_rollback(c->db);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	log_info("%s added webhook %s for %s%s", c->account, id, package ? "" : "account ",
	         package ? package : account);
	api_reply(c, 201,
	          json_pack("{s:s, s:s, s:s, s:s}", "id", id, "url", url, "scope",
	                    package ? "package" : "account", package ? "package" : "account",
	                    package ? package : account));
}

static void removal(struct api_ctx *c, const char *package, const char *account, const char *id)
{
	ferry_error err = {0};
	_cleanup_rows_ struct db_rows rows = DB_ROWS_INIT;
	char now[24];
	ll_str(now, store_now());
	int rc = package
	             ? db_run(c->db, &rows, &err,
	                      "UPDATE webhooks SET removed = $3 WHERE id = $1 AND package = $2 AND "
	                      "removed IS NULL",
	                      id, package, now)
	             : db_run(c->db, &rows, &err,
	                      "UPDATE webhooks SET removed = $3 WHERE id = $1 AND package IS NULL "
	                      "AND account = $2 AND removed IS NULL",
	                      id, account, now);
	if (rc < 0)
		return api_error_from(c, rc, &err);
	if (rows.changes == 0)
		return api_error(c, 404, "not-found", "%s has no webhook %s",
		                 package ? package : account, id);
	log_info("%s removed webhook %s of %s", c->account, id, package ? package : account);
	api_reply(c, 200, json_pack("{s:s}", "removed", id));
}

void webhooks_h_list(struct api_ctx *c)
{
	if (api_authorise_package(c, false) == 0)
		list(c, c->package, NULL);
}

void webhooks_h_add(struct api_ctx *c)
{
	if (api_authorise_package(c, false) == 0)
		add(c, c->package, NULL);
	else if (json_is_string(json_object_get(c->body, "secret")))
		OPENSSL_cleanse((char *)json_string_value(json_object_get(c->body, "secret")),
		                json_string_length(json_object_get(c->body, "secret")));
}

void webhooks_h_remove(struct api_ctx *c)
{
	if (api_authorise_package(c, false) == 0)
		removal(c, c->package, NULL, c->arg);
}

void webhooks_h_account_list(struct api_ctx *c)
{
	list(c, NULL, c->account);
}

void webhooks_h_account_add(struct api_ctx *c)
{
	add(c, NULL, c->account);
}

/* DELETE /v1/account/webhooks/ID: the router puts the one path element it
 * captures (the id) where a package name goes. */
void webhooks_h_account_remove(struct api_ctx *c)
{
	char id[sizeof(c->package)];
	snprintf(id, sizeof(id), "%s", c->package);
	removal(c, NULL, c->account, id);
}
