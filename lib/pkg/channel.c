/* channel.c: parsing and formatting of channel names (see channel.h); the
 * progressive release rule is in progressive.c. Pure computation: no
 * allocation, no I/O. */
#include "pkg/channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const risk_names[RISK__COUNT] = {"stable", "candidate", "beta", "edge"};

const char *channel_risk_name(enum channel_risk r)
{
	return (unsigned)r < RISK__COUNT ? risk_names[r] : "?";
}

int channel_risk_parse(const char *s)
{
	for (int i = 0; i < RISK__COUNT; i++)
		if (strcmp(s, risk_names[i]) == 0)
			return i;
	return -1;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* letters and digits, with single '.', '_' or '-' between them */
static bool word_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (is_alnum(s[i]))
			continue;
		if ((s[i] == '.' || s[i] == '_' || s[i] == '-') && is_alnum(s[i - 1]))
			continue;
		return false;
	}
	return true;
}

bool channel_track_valid(const char *s)
{
	return word_valid(s, CHANNEL_TRACK_MAX);
}

bool channel_branch_valid(const char *s)
{
	return word_valid(s, CHANNEL_BRANCH_MAX);
}

static int bad(ferry_error *err, const char *s, const char *why)
{
	return ferry_error_set(err, FERRY_E_INVALID, "invalid channel \"%s\": %s", s, why);
}

/* A track or branch (what) named value breaks the naming rule. */
static int bad_name(ferry_error *err, const char *s, const char *what, const char *value, int max)
{
	char why[160];
	snprintf(why, sizeof(why),
	         "%s \"%.40s\" must be letters and digits with single '.', '_' or "
	         "'-' between them, at most %d bytes",
	         what, value, max);
	return bad(err, s, why);
}

int channel_parse(const char *s, struct channel *out, ferry_error *err)
{
	char copy[CHANNEL_NAME_MAX + 1];
	char *parts[4];
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return ferry_error_set(err, FERRY_E_INVALID, "invalid channel \"\": empty name");
	if (strlen(s) > CHANNEL_NAME_MAX)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "invalid channel: longer than %d bytes", CHANNEL_NAME_MAX);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "invalid channel: only printable ASCII is allowed");
	snprintf(copy, sizeof(copy), "%s", s);
	char *p = copy;
	for (;;) {
		if (n == 4)
			return bad(err, s, "more than three parts (TRACK/RISK/BRANCH)");
		parts[n++] = p;
		char *slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	if (n == 4)
		return bad(err, s, "more than three parts (TRACK/RISK/BRANCH)");
	for (size_t i = 0; i < n; i++)
		if (!*parts[i])
			return bad(err, s, "empty part");

	const char *track = CHANNEL_DEFAULT_TRACK, *risk = NULL, *branch = "";
	if (n == 1) {
		if (channel_risk_parse(parts[0]) >= 0)
			risk = parts[0];
		else {
			track = parts[0];
			risk = "stable";
		}
	} else if (n == 2) {
		if (channel_risk_parse(parts[0]) >= 0) {
			risk = parts[0];
			branch = parts[1];
		} else {
			track = parts[0];
			risk = parts[1];
		}
	} else {
		track = parts[0];
		risk = parts[1];
		branch = parts[2];
	}
	int r = channel_risk_parse(risk);
	if (r < 0) {
		char why[96];
		snprintf(why, sizeof(why),
		         "\"%.40s\" is not a risk (stable, candidate, beta, edge)", risk);
		return bad(err, s, why);
	}
	if (!channel_track_valid(track))
		return bad_name(err, s, "track", track, CHANNEL_TRACK_MAX);
	if (*branch && !channel_branch_valid(branch))
		return bad_name(err, s, "branch", branch, CHANNEL_BRANCH_MAX);
	snprintf(out->track, sizeof(out->track), "%s", track);
	out->risk = (enum channel_risk)r;
	snprintf(out->branch, sizeof(out->branch), "%s", branch);
	return 0;
}

void channel_format(const struct channel *c, char *out, size_t size)
{
	if (c->branch[0])
		snprintf(out, size, "%s/%s/%s", c->track, channel_risk_name(c->risk), c->branch);
	else
		snprintf(out, size, "%s/%s", c->track, channel_risk_name(c->risk));
}

void channel_short_name(const struct channel *c, char *out, size_t size)
{
	const char *risk = channel_risk_name(c->risk);
	if (strcmp(c->track, CHANNEL_DEFAULT_TRACK) == 0 && *c->branch)
		snprintf(out, size, "%s/%s", risk, c->branch);
	else if (strcmp(c->track, CHANNEL_DEFAULT_TRACK) == 0)
		snprintf(out, size, "%s", risk);
	else if (c->risk == RISK_STABLE && !*c->branch)
		snprintf(out, size, "%s", c->track);
	else
		channel_format(c, out, size);
}
