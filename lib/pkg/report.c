/* report.c: the outcome report format (see report.h), both ways. On the
 * device, the JSON body of a report: the failing step's error split into its
 * message and the output it quoted, both bounded and cleaned. On the store,
 * the strict check of every member of a body against its bound. Pure: no
 * state, no I/O; the signature over the body is not checked here. The
 * check-in a device sends at each refresh is checked here too, with the
 * same rules for the members they share. */
#include "pkg/report.h"

#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "pkg/channel.h"
#include "pkg/name.h"

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
	if (!rev || !*rev || str_to_u64(rev, (unsigned long long)REPORT_REVISION_MAX, &n) < 0 ||
	    n == 0)
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
	if (body && o->action && json_object_set_new(body, "action", json_string(o->action)) < 0) {
		json_decref(body);
		body = NULL;
	}
	if (body && o->download_path &&
	    json_object_set_new(body, "download",
	                        json_pack("{s:s, s:I, s:I}", "path", o->download_path, "downloaded",
	                                  (json_int_t)o->downloaded, "saved",
	                                  (json_int_t)o->saved)) < 0) {
		json_decref(body);
		body = NULL;
	}
	if (!body)
		return ferry_error_set(err, FERRY_E_NOMEM, "report: cannot build the body");
	*out = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(body);
	return *out ? 0 : ferry_error_set(err, FERRY_E_NOMEM, "report: out of memory");
}

/* --- checking a body ------------------------------------------------------ */

static const char *const fields[] = {
    "report-id",   "device-id", "device-key",    "package",     "from-revision",
    "to-revision", "channel",   "result",        "failed-step", "message",
    "log",         "time",      "agent-version", NULL,
};
/* optional members */
static const char *const optional[] = {"action", "download", NULL};

static bool all_of(const char *s, size_t min, size_t max, const char *extra, bool hex_only)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (; *s; s++) {
		char c = *s;
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= (hex_only ? 'f' : 'z')) ||
		          (extra && strchr(extra, c));
		if (!ok)
			return false;
	}
	return true;
}

bool report_device_id_valid(const char *s)
{
	return s && all_of(s, 1, REPORT_DEVICE_ID_MAX, "-", false);
}

/* Text a person reads: no control characters but tab, at most max bytes
 * (jansson has already checked it is UTF-8). */
static bool text_ok(const char *s, size_t max)
{
	if (strlen(s) > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

static int bad(ferry_error *err, const char *field, const char *what)
{
	return ferry_error_set(err, FERRY_E_INVALID, "report: \"%s\": %s", field, what);
}

static const char *str_field(json_t *body, const char *key)
{
	return json_string_value(json_object_get(body, key));
}

static int revision_field(json_t *body, const char *key, bool nullable, long long *out,
                          ferry_error *err)
{
	json_t *v = json_object_get(body, key);
	*out = 0;
	if (nullable && json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > REPORT_REVISION_MAX)
		return bad(err, key,
		           nullable ? "expected a revision (a positive integer) or null"
		                    : "expected a revision (a positive integer)");
	*out = json_integer_value(v);
	return 0;
}

/* Every member of body is one of names or opt (NULL: none), and each
 * of names is there. */
static int known_fields(json_t *body, const char *const *names, const char *const *opt,
                        const char *what, ferry_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v)
	{
		bool known = false;
		for (size_t i = 0; names[i]; i++)
			known |= strcmp(names[i], key) == 0;
		for (size_t i = 0; opt && opt[i]; i++)
			known |= strcmp(opt[i], key) == 0;
		if (!known)
			return ferry_error_set(err, FERRY_E_INVALID, "%s: unknown field \"%.64s\"",
			                       what, key);
	}
	for (size_t i = 0; names[i]; i++)
		if (!json_object_get(body, names[i]))
			return ferry_error_set(err, FERRY_E_INVALID, "%s: \"%s\": missing", what,
			                       names[i]);
	return 0;
}

static int device_fields(json_t *body, const char *what, const char **id, const char **key,
                         ferry_error *err)
{
	*id = str_field(body, "device-id");
	if (!report_device_id_valid(*id))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s: \"device-id\": expected 1 to 64 of a-z, 0-9 and '-'",
		                       what);
	*key = str_field(body, "device-key");
	if (!*key || !all_of(*key, 64, 64, NULL, true))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s: \"device-key\": expected an ed25519 public key (64 "
		                       "lower-case hex digits)",
		                       what);
	return 0;
}

static bool channel_ok(const char *s)
{
	struct channel ch;
	return s && strlen(s) < CHANNEL_NAME_MAX && channel_parse(s, &ch, NULL) == 0;
}

static int time_and_version(json_t *body, const char *what, long long *time, const char **version,
                            ferry_error *err)
{
	json_t *v = json_object_get(body, "time");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > REPORT_TIME_MAX)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s: \"time\": expected unix time (a positive integer)",
		                       what);
	*time = json_integer_value(v);
	*version = str_field(body, "agent-version");
	if (!*version || !**version || !text_ok(*version, REPORT_AGENT_VERSION_MAX) ||
	    strchr(*version, '\t'))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s: \"agent-version\": expected a version of at most 64 "
		                       "bytes",
		                       what);
	return 0;
}

int report_parse(json_t *body, struct report *r, ferry_error *err)
{
	memset(r, 0, sizeof(*r));
	if (!json_is_object(body))
		return ferry_error_set(err, FERRY_E_INVALID, "report: expected a JSON object");
	json_t *v;
	if (known_fields(body, fields, optional, "report", err) < 0)
		return FERRY_E_INVALID;
	r->report_id = str_field(body, "report-id");
	if (!r->report_id || !all_of(r->report_id, 32, 32, NULL, true))
		return bad(err, "report-id", "expected 32 lower-case hex digits");
	int rc = device_fields(body, "report", &r->device_id, &r->device_key, err);
	if (rc < 0)
		return rc;
	r->package = str_field(body, "package");
	if (!pkg_name_valid(r->package))
		return bad(err, "package", "expected a package name");
	rc = revision_field(body, "from-revision", true, &r->from_revision, err);
	if (rc == 0)
		rc = revision_field(body, "to-revision", false, &r->to_revision, err);
	if (rc < 0)
		return rc;
	r->channel = str_field(body, "channel");
	if (!channel_ok(r->channel))
		return bad(err, "channel", "expected a channel such as latest/stable");
	r->result = str_field(body, "result");
	if (!r->result || (strcmp(r->result, "ok") != 0 && strcmp(r->result, "rolled-back") != 0 &&
	                   strcmp(r->result, "failed") != 0))
		return bad(err, "result", "expected ok, rolled-back or failed");
	json_t *fs = json_object_get(body, "failed-step");
	bool ok = strcmp(r->result, "ok") == 0;
	if (ok && !json_is_null(fs))
		return bad(err, "failed-step", "must be null when the result is ok");
	if (!ok &&
	    (!json_is_string(fs) || !all_of(json_string_value(fs), 1, REPORT_STEP_MAX, "-", false)))
		return bad(err, "failed-step",
		           "expected a step name (1 to 32 of a-z, 0-9 and '-')");
	r->failed_step = ok ? NULL : json_string_value(fs);
	r->message = str_field(body, "message");
	if (!r->message || !text_ok(r->message, REPORT_MESSAGE_MAX))
		return bad(err, "message",
		           "expected text of at most 1024 bytes without control "
		           "characters");
	r->log = json_object_get(body, "log");
	if (!json_is_array(r->log) || json_array_size(r->log) > REPORT_LOG_LINES)
		return bad(err, "log", "expected an array of at most 20 lines");
	size_t i;
	json_array_foreach(r->log, i, v)
	{
		if (!json_is_string(v) || !text_ok(json_string_value(v), REPORT_LINE_MAX))
			return bad(err, "log",
			           "expected lines of at most 500 bytes without control "
			           "characters");
	}
	rc = time_and_version(body, "report", &r->time, &r->agent_version, err);
	if (rc < 0)
		return rc;
	json_t *action = json_object_get(body, "action");
	r->action = action ? json_string_value(action) : r->from_revision ? "refresh" : "install";
	if (!r->action || (strcmp(r->action, "install") != 0 && strcmp(r->action, "refresh") != 0 &&
	                   strcmp(r->action, "revert") != 0))
		return bad(err, "action", "expected install, refresh or revert");
	json_t *d = json_object_get(body, "download");
	if (d) {
		const char *path = str_field(d, "path");
		json_t *n = json_object_get(d, "downloaded"), *sv = json_object_get(d, "saved");
		if (!json_is_object(d) || json_object_size(d) != 3 || !path ||
		    (strcmp(path, "delta") != 0 && strcmp(path, "full") != 0) ||
		    !json_is_integer(n) || !json_is_integer(sv) || json_integer_value(n) < 0 ||
		    json_integer_value(sv) < 0 || json_integer_value(n) > REPORT_REVISION_MAX ||
		    json_integer_value(sv) > REPORT_REVISION_MAX)
			return bad(err, "download",
			           "expected {\"path\": \"delta\" or \"full\", \"downloaded\": "
			           "bytes, \"saved\": bytes}");
		r->download_path = path;
		r->downloaded = json_integer_value(n);
		r->saved = json_integer_value(sv);
	}
	return 0;
}

static int checkin_bad(ferry_error *err, const char *field, const char *what)
{
	return ferry_error_set(err, FERRY_E_INVALID, "check-in: \"%s\": %s", field, what);
}

static const char *const checkin_fields[] = {
    "device-id", "device-key", "time", "arch", "agent-version", "packages", NULL,
};

static int checkin_package(json_t *p, size_t i, struct checkin_package *out, ferry_error *err)
{
	static const char *const keys[] = {"name", "revision", "channel", "held"};
	if (!json_is_object(p) || json_object_size(p) != 4)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "check-in: \"packages\"[%zu]: expected an object of name, "
		                       "revision, channel and held",
		                       i);
	for (size_t k = 0; k < 4; k++)
		if (!json_object_get(p, keys[k]))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "check-in: \"packages\"[%zu]: \"%s\" missing", i,
			                       keys[k]);
	out->name = str_field(p, "name");
	out->channel = str_field(p, "channel");
	json_t *rev = json_object_get(p, "revision"), *held = json_object_get(p, "held");
	if (!pkg_name_valid(out->name))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "check-in: \"packages\"[%zu].name: expected a package name",
		                       i);
	if (!json_is_integer(rev) || json_integer_value(rev) < 1 ||
	    json_integer_value(rev) > REPORT_REVISION_MAX)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "check-in: \"packages\"[%zu].revision: expected a revision "
		                       "(a positive integer)",
		                       i);
	if (!channel_ok(out->channel))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "check-in: \"packages\"[%zu].channel: expected a channel",
		                       i);
	if (!json_is_boolean(held))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "check-in: \"packages\"[%zu].held: expected true or false",
		                       i);
	out->revision = json_integer_value(rev);
	out->held = json_is_true(held);
	return 0;
}

int checkin_parse(json_t *body, struct checkin *c, ferry_error *err)
{
	memset(c, 0, sizeof(*c));
	if (!json_is_object(body))
		return ferry_error_set(err, FERRY_E_INVALID, "check-in: expected a JSON object");
	int rc = known_fields(body, checkin_fields, NULL, "check-in", err);
	if (rc == 0)
		rc = device_fields(body, "check-in", &c->device_id, &c->device_key, err);
	if (rc == 0)
		rc = time_and_version(body, "check-in", &c->time, &c->agent_version, err);
	if (rc < 0)
		return rc;
	c->arch = str_field(body, "arch");
	if (!c->arch || !all_of(c->arch, 1, CHECKIN_ARCH_MAX, NULL, false))
		return checkin_bad(err, "arch", "expected an architecture such as amd64");
	json_t *list = json_object_get(body, "packages"), *p;
	if (!json_is_array(list) || json_array_size(list) > CHECKIN_PACKAGES_MAX)
		return checkin_bad(err, "packages", "expected an array of at most 256 packages");
	size_t i;
	json_array_foreach(list, i, p)
	{
		if ((rc = checkin_package(p, i, &c->packages[i], err)) < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->packages[j].name, c->packages[i].name) == 0)
				return ferry_error_set(err, FERRY_E_INVALID,
				                       "check-in: \"packages\": %s twice",
				                       c->packages[i].name);
	}
	c->n = json_array_size(list);
	return 0;
}
