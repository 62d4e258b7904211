/* notice.c: the webhook notice as JSON (jansson), its HMAC-SHA256 signature
 * (OpenSSL) and the retry back-off. See notice.h for the wire format. It
 * neither stores nor sends notices. */
#include "vuln/notice.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/str.h"

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *vuln_finding_json(const struct vuln_finding *f)
{
	const struct vuln_component *c = f->component;
	json_t *chans = json_array();
	json_t *aliases = json_array();
	if (!chans || !aliases) {
		json_decref(chans);
		json_decref(aliases);
		return NULL;
	}
	for (size_t i = 0; i < f->n_channels; i++)
		json_array_append_new(chans, json_string(f->channels[i]));
	for (size_t i = 0; i < f->advisory->n_aliases; i++)
		json_array_append_new(aliases, json_string(f->advisory->aliases[i]));
	return json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}",
	                 "revision", (json_int_t)f->revision, "channels", chans, "component",
	                 c->package, "bundled_version", c->package_version, "ecosystem",
	                 c->ecosystem, "release", c->release, "source", c->name, "source_version",
	                 c->version, "advisory", f->advisory->id, "aliases", aliases,
	                 "fixed_version", str_or_null(f->fixed), "severity",
	                 str_or_null(vuln_record_severity(f->advisory, c)), "summary",
	                 str_or_null(f->advisory->summary));
}

int vuln_notice_wrap(const char *package, const char *state, int64_t generated, json_t *findings,
                     char **out, ferry_error *err)
{
	*out = NULL;
	if (strcmp(state, "open") != 0 && strcmp(state, "cleared") != 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "notice state '%s' is not open or cleared", state);
	if (!json_is_array(findings))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "notice for %s: findings is not an array", package);
	char when[32];
	time_t t = (time_t)generated;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return ferry_error_set(err, FERRY_E_INVALID, "notice time %lld out of range",
		                       (long long)generated);
	json_auto_t *doc = json_pack("{s:s, s:i, s:s, s:s, s:s, s:O}", "type",
	                             "ferry.vulnerability-notice", "version", 1, "package", package,
	                             "state", state, "generated", when, "findings", findings);
	if (!doc)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "notice for %s: package name is not UTF-8", package);
	*out = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
	return *out ? 0 : ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
}

int vuln_notice_json(const char *package, const char *state, int64_t generated,
                     const struct vuln_finding *findings, size_t n, char **out, ferry_error *err)
{
	*out = NULL;
	json_auto_t *arr = json_array();
	if (!arr)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *o = vuln_finding_json(&findings[i]);
		if (!o || json_array_append_new(arr, o) < 0)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "notice for %s: finding %s on %s: text is not UTF-8",
			                       package, findings[i].advisory->id,
			                       findings[i].component->package);
	}
	return vuln_notice_wrap(package, state, generated, arr, out, err);
}

int vuln_signature(const void *secret, size_t secret_len, const void *body, size_t body_len,
                   char out[VULN_SIGNATURE_LEN + 1], ferry_error *err)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (secret_len > (size_t)2147483647 ||
	    !HMAC(EVP_sha256(), secret, (int)secret_len, body, body_len, mac, &mac_len) ||
	    mac_len != 32)
		return ferry_error_set(err, FERRY_E_INTERNAL, "HMAC-SHA256 failed");
	memcpy(out, "sha256=", 7);
	str_hex(mac, 32, out + 7);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

bool vuln_signature_verify(const void *secret, size_t secret_len, const void *body, size_t body_len,
                           const char *header)
{
	char want[VULN_SIGNATURE_LEN + 1];
	if (!header || strlen(header) != VULN_SIGNATURE_LEN)
		return false;
	if (vuln_signature(secret, secret_len, body, body_len, want, NULL) < 0)
		return false;
	bool ok = CRYPTO_memcmp(want, header, VULN_SIGNATURE_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

unsigned long long vuln_retry_delay_ms(unsigned attempt)
{
	if (attempt == 0 || attempt > VULN_RETRY_MAX)
		return 0;
	unsigned long long ms = 30000ULL << (attempt - 1);
	return ms > 3600000ULL ? 3600000ULL : ms;
}
