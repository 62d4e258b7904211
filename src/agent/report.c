/* report.c: the device key, the outbox and the sender of outcome reports
 * (see report.h for the report itself).
 *
 * Device key: ROOT/device.key, an ed25519 key generated at first start and
 * never rewritten; the store binds the device id to its public key the first
 * time it sees it. A key file that cannot be read stops ferryd at start:
 * a new key would not be accepted for this device id anyway.
 *
 * Outbox: the table outbox in state.db. The worker queues a report in the
 * same SQLite transaction that records a change's outcome, so that a crash
 * leaves both or neither, and the change id is unique there, so a change is
 * never reported twice. Only the newest REPORT_OUTBOX_MAX are kept.
 *
 * Sender: one thread with its own SQLite connection and HTTP client. It
 * sleeps until a report is queued or the next retry is due, then posts the
 * oldest due report. Sent (2xx), or refused for good (another 4xx: logged),
 * the report leaves the outbox; a network error, 5xx, 429 or a redirect
 * (3xx: reports are never posted across one) schedules a retry at
 * retry-delay doubling per attempt, at most an hour. A 403
 * device-key-mismatch (the store binds this device id to another key) is
 * no reason to drop: the report stays, a warning names the device id and
 * the store, and it is tried again hourly; GET /v1/system shows it.
 * Retries are due on the wall clock; a time further ahead than the longest
 * back-off (the clock was stepped back) counts as due.
 *
 * Check-in: after each change the worker asks the sender (report_checkin)
 * to tell the store what the device runs (report.h in lib/pkg: the store
 * revision and channel of each package installed from it, whether held,
 * the arch and ferryd's version), signed with the device key as reports
 * are. One attempt: a check-in that fails is not kept, the next change
 * sends a fresh one. Off with `checkin = off`. Its state
 * (struct agent_reports in the context) is guarded by ag->lock; it waits
 * on ag->cond, which the main thread broadcasts when ferryd stops. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "crypto/base64.h"
#include "crypto/key.h"
#include "http/http.h"
#include "pkg/channel.h"
#include "pkg/manifest.h"
#include "report.h"
#include "state.h"

#define REPORT_ANSWER_MAX 16384
#define REPORT_RETRY_MAX_MS (3600 * 1000LL)
/* what set_current records when a change names no channel */
#define REPORT_CHANNEL_DEFAULT CHANNEL_DEFAULT_TRACK "/stable"
/* last_error of a report the store refused for another key (GET /v1/system) */
#define REPORT_KEY_MISMATCH "device-key-mismatch"

/* send_one's answers */
enum send_result { SEND_DONE, SEND_RETRY, SEND_DROP, SEND_KEY_MISMATCH };

int report_setup(struct agent *ag, ferry_error *err)
{
	char path[PATH_MAX];
	if (agent_path(ag, path, "device.key") < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", ag->root);
	int rc;
	if (fs_exists(path)) {
		rc = crypto_key_load_private(path, &ag->reports.key, err);
		if (rc < 0)
			return ferry_error_prefix(err, rc, "device key");
		if (crypto_key_type(ag->reports.key) != CRYPTO_KEY_ED25519) {
			crypto_key_free(ag->reports.key);
			ag->reports.key = NULL;
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "device key %s: not an ed25519 key", path);
		}
	} else {
		rc = crypto_key_generate(CRYPTO_KEY_ED25519, &ag->reports.key, err);
		if (rc == 0)
			rc = crypto_key_save_private(ag->reports.key, path, err);
		if (rc < 0)
			return ferry_error_prefix(err, rc, "device key %s", path);
		log_info("device key %s generated", path);
	}
	_cleanup_free_ char *hex = NULL;
	rc = crypto_key_public_value(ag->reports.key, &hex, err);
	if (rc == 0 && str_copy(ag->reports.key_hex, sizeof(ag->reports.key_hex), hex) < 0)
		rc = ferry_error_set(err, FERRY_E_INVALID, "device key: unexpected public value");
	return rc;
}

void report_cleanup(struct agent *ag)
{
	if (ag->reports.key)
		crypto_key_free(ag->reports.key);
	ag->reports.key = NULL;
}

const char *report_device_key(const struct agent *ag)
{
	return ag->reports.key_hex;
}

static bool wanted(struct agent *ag, const char *kind, const char *name, const char *to)
{
	static const char *const kinds[] = {"install", "refresh", "install-file", "revert"};
	bool known = false;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		known |= strcmp(kind, kinds[i]) == 0;
	/* a local revision ("x3") means nothing to the store */
	return known && ag->store_url && ag->reports.key && name && *name && to && to[0] >= '1' &&
	       to[0] <= '9';
}

int report_queue(struct agent *ag, sqlite3 *db, int64_t change, const char *kind, const char *name,
                 const char *from, const char *to, const char *channel, const char *result,
                 const char *failed_step, const char *error, ferry_error *err)
{
	if (!result || !wanted(ag, kind, name, to))
		return 0;
	char chan[CHANNEL_NAME_MAX] = "";
	if (channel && *channel) {
		snprintf(chan, sizeof(chan), "%s", channel);
	} else {
		json_t *row = NULL;
		if (state_query_row(db, &row, NULL, "SELECT channel FROM packages WHERE name=?",
		                    "t", name) == 0) {
			const char *c = json_string_value(json_object_get(row, "channel"));
			snprintf(chan, sizeof(chan), "%s", c ? c : "");
			json_decref(row);
		}
	}
	if (!*chan) /* a failed first install from a file: no row, no channel */
		snprintf(chan, sizeof(chan), "%s", REPORT_CHANNEL_DEFAULT);
	unsigned char r[16];
	char id[33];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return ferry_error_errno(err, FERRY_E_IO, errno, "getrandom");
	str_hex(r, sizeof(r), id);
	/* how long updates could not be verified, said once (steps.c) */
	_cleanup_free_ char *note = state_config_get(db, "tuf-unverified-note");
	_cleanup_free_ char *both = NULL;
	if (note) {
		both = error ? str_dup_printf("%s; %s", note, error) : strdup(note);
		if (!both)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		error = both;
	}
	struct report_outcome o = {
	    .report_id = id,
	    .device_id = ag->device_id,
	    .device_key = ag->reports.key_hex,
	    .package = name,
	    .from = from,
	    .to = to,
	    .channel = chan,
	    .result = result,
	    .failed_step = failed_step,
	    .error = error,
	    .time = wall_s(),
	    .agent_version = FERRY_VERSION,
	    .action = strcmp(kind, "revert") == 0 ? "revert" : NULL,
	};
	/* what the download step recorded (delta_fetch.c) */
	json_t *row = NULL, *data = NULL;
	if (state_query_row(db, &row, NULL, "SELECT data FROM changes WHERE id=?", "i", change) ==
	    0) {
		const char *text = json_string_value(json_object_get(row, "data"));
		data = text ? json_loads(text, 0, NULL) : NULL;
		json_decref(row);
	}
	json_t *dl = json_object_get(data, "download");
	if (json_is_string(json_object_get(dl, "path"))) {
		o.download_path = json_string_value(json_object_get(dl, "path"));
		o.downloaded = json_integer_value(json_object_get(dl, "downloaded"));
		o.saved = json_integer_value(json_object_get(dl, "saved"));
	}
	_cleanup_free_ char *body = NULL;
	int rc = report_body(&o, &body, err);
	json_decref(data);
	if (rc < 0)
		return rc;
	rc = state_exec(db, err,
	                "INSERT OR IGNORE INTO outbox(change, body, created, next_attempt_ms) "
	                "VALUES(?, ?, ?, 0)",
	                "iti", change, body, wall_s());
	if (rc == 0 && note)
		rc = state_config_set(db, "tuf-unverified-note", NULL, err);
	if (rc == 0)
		rc = state_exec(db, err,
		                "DELETE FROM outbox WHERE id NOT IN"
		                " (SELECT id FROM outbox ORDER BY id DESC LIMIT ?)",
		                "i", (int64_t)REPORT_OUTBOX_MAX);
	if (rc < 0)
		return rc;
	log_info("change %lld: report queued (%s %s -> %s: %s)", (long long)change, name,
	         from && *from ? from : "none", to, result);
	return 1;
}

void report_kick(struct agent *ag)
{
	pthread_mutex_lock(&ag->lock);
	ag->reports.kicked = true;
	pthread_cond_broadcast(&ag->cond);
	pthread_mutex_unlock(&ag->lock);
}

json_t *report_status(sqlite3 *db)
{
	json_t *row = NULL;
	if (state_query_row(db, &row, NULL,
	                    "SELECT count(*) AS n, (SELECT last_error FROM outbox WHERE"
	                    " last_error IS NOT NULL ORDER BY id LIMIT 1) AS last,"
	                    " (SELECT count(*) FROM outbox WHERE last_error LIKE ?) AS mismatch"
	                    " FROM outbox",
	                    "t", REPORT_KEY_MISMATCH ":%") < 0)
		return NULL;
	json_t *last = json_object_get(row, "last");
	json_t *o = json_pack(
	    "{s:I, s:s, s:b}", "waiting", (json_int_t)json_integer_value(json_object_get(row, "n")),
	    "last-error", json_is_string(last) ? json_string_value(last) : "",
	    "device-key-mismatch", json_integer_value(json_object_get(row, "mismatch")) > 0);
	json_decref(row);
	return o;
}

static int cancel_on_quit(void *ctx, uint64_t done, uint64_t total)
{
	struct agent *ag = ctx;
	(void)done;
	(void)total;
	return ag->quit ? 1 : 0;
}

/* Post one report: an enum send_result, <0 stop. */
static int send_one(struct agent *ag, struct http_client *http, const char *body, const char *url,
                    char *why, size_t whylen)
{
	unsigned char *sig = NULL;
	size_t siglen = 0;
	ferry_error err;
	ferry_error_clear(&err);
	if (crypto_key_sign(ag->reports.key, body, strlen(body), &sig, &siglen, &err) < 0) {
		snprintf(why, whylen, "%s", ferry_error_msg(&err));
		return SEND_RETRY;
	}
	char b64[CRYPTO_BASE64_LEN(CRYPTO_SIG_MAX)];
	crypto_base64_encode(sig, siglen, b64);
	free(sig);
	char sighdr[sizeof(b64) + 48];
	snprintf(sighdr, sizeof(sighdr), "X-Ferry-Device-Signature: ed25519 %s", b64);
	const char *headers[] = {"Content-Type: application/json", sighdr, NULL};
	struct buf answer = BUF_INIT(REPORT_ANSWER_MAX);
	long status = 0;
	int rc = http_post(http, url, headers, body, strlen(body), REPORT_ANSWER_MAX, &answer,
	                   &status, &err);
	if (rc == FERRY_E_CANCELLED) {
		buf_free(&answer);
		return -1;
	}
	if (rc < 0) {
		snprintf(why, whylen, "%s", ferry_error_msg(&err));
		buf_free(&answer);
		return SEND_RETRY;
	}
	json_t *j = answer.len ? json_loadb(answer.data, answer.len, 0, NULL) : NULL;
	buf_free(&answer);
	json_t *e = json_object_get(j, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *code = json_string_value(json_object_get(e, "code"));
	int result = SEND_DROP; /* another 4xx: refused for good */
	if (status >= 200 && status <= 299)
		result = SEND_DONE;
	else if (status >= 300 && status <= 399)
		result = SEND_RETRY; /* a proxy's http -> https: the operator must fix the URL */
	else if (status >= 500 || status == 429 || status == 408)
		result = SEND_RETRY;
	else if (status == 403 && code && strcmp(code, REPORT_KEY_MISMATCH) == 0)
		result = SEND_KEY_MISMATCH;
	if (result == SEND_KEY_MISMATCH)
		snprintf(why, whylen,
		         "%s: the store %s binds device id %s to another key (HTTP 403%s%s)",
		         REPORT_KEY_MISMATCH, ag->store_url, ag->device_id, msg ? ": " : "",
		         msg ? msg : "");
	else if (status >= 300 && status <= 399)
		snprintf(why, whylen,
		         "HTTP %ld: %s redirects; reports are not posted across a redirect"
		         " (set store to the address it points to)",
		         status, url);
	else
		snprintf(why, whylen, "HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
	json_decref(j);
	return result;
}

void report_checkin(struct agent *ag)
{
	if (!ag->checkin || !ag->store_url)
		return;
	pthread_mutex_lock(&ag->lock);
	ag->reports.checkin_due = true;
	ag->reports.kicked = true;
	pthread_cond_broadcast(&ag->cond);
	pthread_mutex_unlock(&ag->lock);
}

/* Is name held now (a hold of its own, or of every package)? */
static bool held(json_t *holds, const char *name, int64_t now)
{
	size_t i;
	json_t *h;
	json_array_foreach(holds, i, h)
	{
		const char *n = jstr(h, "name");
		int64_t until = json_integer_value(json_object_get(h, "until"));
		if ((strcmp(n, "*") == 0 || strcmp(n, name) == 0) && (until == 0 || until > now))
			return true;
	}
	return false;
}

/* The check-in body: the packages installed from the store (local
 * revisions mean nothing to it), at most CHECKIN_PACKAGES_MAX. */
static char *checkin_body(struct agent *ag, sqlite3 *db, ferry_error *err)
{
	json_t *pkgs = NULL, *holds = NULL;
	if (state_query(db, &pkgs, err, "SELECT name, current, channel FROM packages ORDER BY name",
	                NULL) < 0)
		return NULL;
	if (state_query(db, &holds, err, "SELECT name, until FROM holds", NULL) < 0) {
		json_decref(pkgs);
		return NULL;
	}
	json_t *list = json_array(), *p;
	size_t i;
	int64_t now = wall_s();
	json_array_foreach(pkgs, i, p)
	{
		unsigned long long rev = 0;
		if (json_array_size(list) >= CHECKIN_PACKAGES_MAX ||
		    str_to_u64(jstr(p, "current"), REPORT_REVISION_MAX, &rev) < 0 || rev == 0)
			continue;
		json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:b}", "name",
		                                      jstr(p, "name"), "revision", (json_int_t)rev,
		                                      "channel", jstr(p, "channel"), "held",
		                                      held(holds, jstr(p, "name"), now)));
	}
	json_decref(pkgs);
	json_decref(holds);
	json_t *body = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "device-id", ag->device_id,
	                         "device-key", ag->reports.key_hex, "time", (json_int_t)now, "arch",
	                         manifest_host_architecture(), "agent-version", FERRY_VERSION,
	                         "packages", list);
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(body);
	if (!text)
		ferry_error_set(err, FERRY_E_NOMEM, "check-in: out of memory");
	return text;
}

/* Send a check-in if one is due; false when ferryd stops. */
static bool checkin_if_due(struct agent *ag, sqlite3 *db, struct http_client *http, const char *url)
{
	pthread_mutex_lock(&ag->lock);
	bool due = ag->reports.checkin_due;
	ag->reports.checkin_due = false;
	pthread_mutex_unlock(&ag->lock);
	if (!due)
		return true;
	ferry_error err;
	ferry_error_clear(&err);
	_cleanup_free_ char *body = checkin_body(ag, db, &err);
	if (!body) {
		log_warn("check-in: %s", ferry_error_msg(&err));
		return true;
	}
	char why[FERRY_ERROR_MSG_MAX];
	why[0] = '\0';
	int rc = send_one(ag, http, body, url, why, sizeof(why));
	if (rc < 0)
		return false;
	if (rc == SEND_DONE)
		log_debug("check-in sent");
	else
		log_info("check-in not sent (%s); the next change sends another", why);
	return true;
}

/* Sleep until wait_ms passed (-1: until woken), a report is queued, or
 * ferryd stops; false when it stops. */
static bool sender_wait(struct agent *ag, int64_t wait_ms)
{
	pthread_mutex_lock(&ag->lock);
	int64_t until = wait_ms >= 0 ? now_ms() + wait_ms : -1;
	while (!ag->quit && !ag->reports.kicked && (until < 0 || now_ms() < until)) {
		if (until < 0) {
			pthread_cond_wait(&ag->cond, &ag->lock);
			continue;
		}
		int64_t left = until - now_ms();
		agent_wait_ms(ag, left);
	}
	ag->reports.kicked = false;
	bool go = !ag->quit;
	pthread_mutex_unlock(&ag->lock);
	return go;
}

static void *sender(void *arg)
{
	struct agent *ag = arg;
	sqlite3 *db = NULL;
	struct http_client *http = NULL;
	ferry_error err;
	/* a followed redirect turns the POST into a GET: never follow one */
	struct http_options ho = {.connect_timeout_ms = 15000,
	                          .total_timeout_ms = 60000,
	                          .stall_timeout_s = 30,
	                          .no_redirects = true};
	_cleanup_free_ char *url = str_dup_printf("%s/v1/reports", ag->store_url);
	_cleanup_free_ char *checkin_url = str_dup_printf("%s/v1/devices/checkin", ag->store_url);
	if (!url || !checkin_url || state_open(ag->db_path, &db, &err) < 0 ||
	    http_client_new(&ho, &http, &err) < 0) {
		log_error("reports: %s", url ? ferry_error_msg(&err) : "out of memory");
		state_close(db);
		return NULL;
	}
	http_set_progress(http, cancel_on_quit, ag);
	for (;;) {
		if (!checkin_if_due(ag, db, http, checkin_url))
			break;
		/* the oldest report that is due, else when the next one is; one
		 * due further ahead than the longest back-off was scheduled
		 * before the clock was stepped back: due now */
		json_t *row = NULL;
		int64_t now = wall_ms();
		int64_t horizon = now + REPORT_RETRY_MAX_MS;
		int rc = state_query_row(
		    db, &row, &err,
		    "SELECT id, body, attempts FROM outbox WHERE next_attempt_ms <= ?"
		    " OR next_attempt_ms > ? ORDER BY id LIMIT 1",
		    "ii", now, horizon);
		if (rc == FERRY_E_NOTFOUND) {
			int64_t wait_ms = -1;
			if (state_query_row(db, &row, NULL,
			                    "SELECT min(next_attempt_ms) AS due FROM outbox",
			                    NULL) == 0) {
				json_t *due = json_object_get(row, "due");
				if (json_is_integer(due))
					wait_ms = json_integer_value(due) - now;
				json_decref(row);
				if (wait_ms < 0 && json_is_integer(due))
					wait_ms = 0;
				if (wait_ms > REPORT_RETRY_MAX_MS)
					wait_ms = REPORT_RETRY_MAX_MS;
			}
			if (!sender_wait(ag, wait_ms))
				break;
			continue;
		}
		if (rc < 0) {
			log_error("reports: %s", ferry_error_msg(&err));
			if (!sender_wait(ag, (int64_t)ag->retry_delay_ms))
				break;
			continue;
		}
		int64_t id = json_integer_value(json_object_get(row, "id"));
		int64_t attempts = json_integer_value(json_object_get(row, "attempts"));
		char why[FERRY_ERROR_MSG_MAX];
		why[0] = '\0';
		rc = send_one(ag, http, json_string_value(json_object_get(row, "body")), url, why,
		              sizeof(why));
		json_decref(row);
		if (rc < 0)
			break; /* stopping: the report stays for the next start */
		if (rc == SEND_DONE || rc == SEND_DROP) {
			if (rc == SEND_DROP)
				log_warn("report %lld refused by the store (%s); dropped",
				         (long long)id, why);
			else
				log_info("report %lld sent", (long long)id);
			if (state_exec(db, &err, "DELETE FROM outbox WHERE id=?", "i", id) < 0) {
				/* sent again later: the store keeps one per report id */
				log_error("reports: %s", ferry_error_msg(&err));
				if (!sender_wait(ag, (int64_t)ag->retry_delay_ms))
					break;
			}
			continue;
		}
		attempts++;
		int shift = attempts < 20 ? (int)attempts - 1 : 19;
		int64_t delay = (int64_t)ag->retry_delay_ms << shift;
		if (delay > REPORT_RETRY_MAX_MS || delay <= 0 || rc == SEND_KEY_MISMATCH)
			delay = REPORT_RETRY_MAX_MS;
		log_warn("report %lld not sent (%s); trying again in %lld ms", (long long)id, why,
		         (long long)delay);
		/* the store is unreachable for every report: all of them wait
		 * (a time beyond the horizon was set before a step back) */
		now = wall_ms();
		int64_t next = now + delay;
		if (state_exec(db, &err, "UPDATE outbox SET attempts=?, last_error=? WHERE id=?",
		               "iti", attempts, why, id) < 0 ||
		    state_exec(db, &err,
		               "UPDATE outbox SET next_attempt_ms=? WHERE next_attempt_ms < ?"
		               " OR next_attempt_ms > ?",
		               "iii", next, next, now + REPORT_RETRY_MAX_MS) < 0) {
			log_error("reports: %s", ferry_error_msg(&err));
			if (!sender_wait(ag, delay))
				break;
		}
	}
	http_client_free(http);
	state_close(db);
	return NULL;
}

int report_start(struct agent *ag, ferry_error *err)
{
	if (!ag->store_url || !ag->reports.key)
		return 0;
	if (pthread_create(&ag->reports.thread, NULL, sender, ag) != 0)
		return ferry_error_set(err, FERRY_E_INTERNAL, "cannot start the report sender");
	ag->reports.started = true;
	return 0;
}

void report_stop(struct agent *ag)
{
	if (!ag->reports.started)
		return;
	pthread_mutex_lock(&ag->lock);
	pthread_cond_broadcast(&ag->cond);
	pthread_mutex_unlock(&ag->lock);
	pthread_join(ag->reports.thread, NULL);
	ag->reports.started = false;
}
