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
 * the report leaves the outbox; a network error, 5xx or 429 schedules a
 * retry at retry-delay doubling per attempt, at most an hour. Its state
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
#include "report.h"
#include "state.h"

#define REPORT_ANSWER_MAX 16384
#define REPORT_RETRY_MAX_MS (3600 * 1000LL)

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
	char chan[128] = "";
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

static int cancel_on_quit(void *ctx, uint64_t done, uint64_t total)
{
	struct agent *ag = ctx;
	(void)done;
	(void)total;
	return ag->quit ? 1 : 0;
}

/* Post one report. 0 sent or dropped for good, 1 try again later, <0 stop. */
static int send_one(struct agent *ag, struct http_client *http, const char *body, const char *url,
                    char *why, size_t whylen)
{
	unsigned char *sig = NULL;
	size_t siglen = 0;
	ferry_error err;
	ferry_error_clear(&err);
	if (crypto_key_sign(ag->reports.key, body, strlen(body), &sig, &siglen, &err) < 0) {
		snprintf(why, whylen, "%s", ferry_error_msg(&err));
		return 1;
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
		return 1;
	}
	json_t *j = answer.len ? json_loadb(answer.data, answer.len, 0, NULL) : NULL;
	buf_free(&answer);
	const char *msg =
	    json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	snprintf(why, whylen, "HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
	json_decref(j);
	if (status >= 200 && status <= 299)
		return 0;
	if (status >= 500 || status == 429 || status == 408)
		return 1;
	return 2; /* refused for good */
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
	struct http_options ho = {
	    .connect_timeout_ms = 15000, .total_timeout_ms = 60000, .stall_timeout_s = 30};
	_cleanup_free_ char *url = str_dup_printf("%s/v1/reports", ag->store_url);
	if (!url || state_open(ag->db_path, &db, &err) < 0 ||
	    http_client_new(&ho, &http, &err) < 0) {
		log_error("reports: %s", url ? ferry_error_msg(&err) : "out of memory");
		state_close(db);
		return NULL;
	}
	http_set_progress(http, cancel_on_quit, ag);
	for (;;) {
		/* the oldest report that is due, else when the next one is */
		json_t *row = NULL;
		int64_t now = wall_ms();
		int rc = state_query_row(
		    db, &row, &err,
		    "SELECT id, body, attempts FROM outbox WHERE next_attempt_ms <= ?"
		    " ORDER BY id LIMIT 1",
		    "i", now);
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
		if (rc == 0 || rc == 2) {
			if (rc == 2)
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
		if (delay > REPORT_RETRY_MAX_MS || delay <= 0)
			delay = REPORT_RETRY_MAX_MS;
		log_warn("report %lld not sent (%s); trying again in %lld ms", (long long)id, why,
		         (long long)delay);
		/* the store is unreachable for every report: all of them wait */
		int64_t next = wall_ms() + delay;
		if (state_exec(db, &err, "UPDATE outbox SET attempts=?, last_error=? WHERE id=?",
		               "iti", attempts, why, id) < 0 ||
		    state_exec(db, &err,
		               "UPDATE outbox SET next_attempt_ms=max(next_attempt_ms, ?)", "i",
		               next) < 0) {
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
