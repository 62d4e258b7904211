/* notice.h: the machine-readable vulnerability notice a store sends to a
 * publisher's webhook, its signature, and the retry schedule.
 *
 * The notice (Content-Type: application/json, keys sorted, UTF-8):
 *   {"type": "ferry.vulnerability-notice", "version": 1,
 *    "package": "hello", "state": "open" | "cleared",
 *    "generated": "2024-06-18T10:00:00Z",
 *    "findings": [{"revision": 12, "channels": ["latest/stable"],
 *                  "component": "libssl3", "bundled_version": "3.0.11-1~deb12u2",
 *                  "ecosystem": "Debian", "release": "12",
 *                  "source": "openssl", "source_version": "3.0.11-1~deb12u2",
 *                  "advisory": "DSA-5600-1", "aliases": ["CVE-2023-5678"],
 *                  "fixed_version": "3.0.13-1~deb12u1" | null,
 *                  "severity": "..." | null, "summary": "..." | null}]}
 * "cleared" notices carry the findings that no longer hold.
 *
 * The signature header is  X-Ferry-Signature: sha256=HEX  where HEX is the
 * lower-case HMAC-SHA256 of the exact body bytes under the webhook's secret.
 * This module does not send anything (the store's delivery job does). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "vuln/match.h"
#include "vuln/osv.h"

#define VULN_SIGNATURE_HEADER "X-Ferry-Signature"
#define VULN_SIGNATURE_LEN (7 + 64) /* "sha256=" and 64 hex digits */
#define VULN_RETRY_MAX 10           /* delivery attempts after the first */

struct vuln_finding {
	uint64_t revision;
	const char *const *channels;
	size_t n_channels;
	const struct vuln_component *component;
	const struct osv_record *advisory;
	const char *fixed; /* NULL when no fix is known */
};

/* The notice for package as JSON (NUL-terminated, free() it). state is
 * "open" or "cleared"; generated is seconds since the epoch. */
int vuln_notice_json(const char *package, const char *state, int64_t generated,
                     const struct vuln_finding *findings, size_t n, char **out,
                     ferry_error *err) FERRY_WUR;

/* One finding as the JSON object of the notice's findings[] (a new
 * reference, or NULL when a string is not UTF-8 or memory ran out). */
struct json_t;
struct json_t *vuln_finding_json(const struct vuln_finding *f);

/* The notice around findings that are already JSON objects of that shape
 * (findings: a JSON array, borrowed): for a store that keeps them. */
int vuln_notice_wrap(const char *package, const char *state, int64_t generated,
                     struct json_t *findings, char **out, ferry_error *err) FERRY_WUR;

/* "sha256=HEX" for body under secret, into out (VULN_SIGNATURE_LEN + 1). */
int vuln_signature(const void *secret, size_t secret_len, const void *body, size_t body_len,
                   char out[VULN_SIGNATURE_LEN + 1], ferry_error *err) FERRY_WUR;

/* Does header (the X-Ferry-Signature value) sign body under secret?
 * Compared in constant time. */
bool vuln_signature_verify(const void *secret, size_t secret_len, const void *body, size_t body_len,
                           const char *header);

/* Delay before delivery attempt number attempt (1 = the first retry):
 * 30 s doubling each time, at most 1 h; 0 when attempt > VULN_RETRY_MAX
 * (give up and keep the failure in the delivery log). */
unsigned long long vuln_retry_delay_ms(unsigned attempt);
