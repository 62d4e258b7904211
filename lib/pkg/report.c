/* report_body.c: the JSON body of an outcome report (see report.h): splits
 * the failing step's error into its message and the output it quoted, and
 * bounds and cleans both. Pure: no state, no I/O. */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "report.h"

/* Bytes of the UTF-8 sequence that starts at p (at most left), or 0 when it
 * is not a valid one. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
	size_t n = p[0] < 0x80             ? 1
	           : (p[0] & 0xE0) == 0xC0 ? 2
	           : (p[0] & 0xF0) == 0xE0 ? 3
	           : (p[0] & 0xF8) == 0xF0 ? 4
	                                   : 0;
	if (n == 0 || n > left || !str_valid_utf8((const char *)p, n))
		return 0;
	return n;
}

char *report_clean(const char *text, size_t len, size_t max)
{
	char *out = malloc((len < max ? len : max) + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)text;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(p + i, len - i);
		if (o + (n ? n : 1) > max)
			break;
		if (n == 1 && ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)) {
			out[o++] = '?';
		} else if (n == 0) {
			out[o++] = '?';
			n = 1;
		} else {
			memcpy(out + o, p + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
	return out;
}

/* The last REPORT_LOG_LINES lines of text, each cleaned and bounded. */
static json_t *log_lines(const char *text)
{
	json_t *lines = json_array();
	if (!lines)
		return NULL;
	const char *starts[REPORT_LOG_LINES];
	size_t lens[REPORT_LOG_LINES], n = 0;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (n == REPORT_LOG_LINES) {
			memmove(starts, starts + 1, sizeof(starts[0]) * (n - 1));
			memmove(lens, lens + 1, sizeof(lens[0]) * (n - 1));
			n--;
		}
		starts[n] = p;
		lens[n++] = l;
		p += l + (nl ? 1 : 0);
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *c = report_clean(starts[i], lens[i], REPORT_LINE_MAX);
		if (!c || json_array_append_new(lines, json_string(c)) < 0) {
			json_decref(lines);
			return NULL;
		}
	}
	return lines;
}

/* A store revision ("12") as an integer; anything else null. */
static json_t *revision_json(const char *rev)
{
	unsigned long long n = 0;
	if (!rev || !*rev || str_to_u64(rev, 1ull << 53, &n) < 0 || n == 0)
		return json_null();
	return json_integer((json_int_t)n);
}

int report_body(const struct report_outcome *o, char **out, ferry_error *err)
{
	const char *e = o->error ? o->error : "";
	const char *mark = strstr(e, REPORT_OUTPUT_MARK);
	size_t mlen = mark ? (size_t)(mark - e) : strlen(e);
	_cleanup_free_ char *message = report_clean(e, mlen, REPORT_MESSAGE_MAX);
	json_t *log = log_lines(mark ? mark + strlen(REPORT_OUTPUT_MARK) : "");
	json_t *to = revision_json(o->to);
	if (!message || !log || json_is_null(to)) {
		json_decref(log);
		json_decref(to);
		return ferry_error_set(err, message && log ? FERRY_E_INVALID : FERRY_E_NOMEM,
		                       "report: %s",
		                       message && log ? "no store revision" : "out of memory");
	}
	json_t *body = json_pack(
	    "{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:s, s:o, s:I, s:s}", "report-id",
	    o->report_id, "device-id", o->device_id, "device-key", o->device_key, "package",
	    o->package, "from-revision", revision_json(o->from), "to-revision", to, "channel",
	    o->channel ? o->channel : "", "result", o->result, "failed-step",
	    o->failed_step ? json_string(o->failed_step) : json_null(), "message", message, "log",
	    log, "time", (json_int_t)o->time, "agent-version", o->agent_version);
	if (!body)
		return ferry_error_set(err, FERRY_E_NOMEM, "report: cannot build the body");
	*out = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(body);
	return *out ? 0 : ferry_error_set(err, FERRY_E_NOMEM, "report: out of memory");
}
