/* schedule.c: when the automatic refresh runs. A schedule is a list of
 * windows in local time separated by commas, each "HH:MM~HH:MM/N" (N times
 * at random moments in the window, one in each Nth of it, the moment
 * differing from device to device but the same for one device all day), "HH:MM~HH:MM"
 * (once in it) or "HH:MM" (at that minute); a window whose end is not after
 * its start runs past midnight; 24:00 is the end of the day. The default,
 * "00:00~24:00/4", is four times a day at random times: devices that were
 * provisioned together do not all ask the store at the same moment. A
 * window is also the only time a refresh may start: a refresh window.
 * "every DURATION" (such as "every 30m") runs at a fixed interval instead,
 * for development and demonstrations. It does not run refreshes; the
 * worker backs off inside the windows (schedule_inside). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/str.h"
#include "schedule.h"

#define SCHEDULE_MAX_WINDOWS 16
#define SCHEDULE_MAX_PER_WINDOW 96
#define SCHEDULE_EVERY_MAX_MS (7ull * 24 * 3600 * 1000)

struct window {
	int start, end; /* minutes from midnight; end may exceed 1440 */
	int n;
};

static int parse_hhmm(const char *s, size_t len, int *minutes)
{
	int h, m;
	char buf[8];
	if (len != 5 || s[2] != ':')
		return -1;
	memcpy(buf, s, 5);
	buf[5] = '\0';
	if (sscanf(buf, "%2d:%2d", &h, &m) != 2 || h < 0 || h > 24 || m < 0 || m > 59 ||
	    (h == 24 && m != 0))
		return -1;
	*minutes = h * 60 + m;
	return 0;
}

static int parse(const char *spec, struct window *w, int *nw, uint64_t *every_ms, ferry_error *err)
{
	*nw = 0;
	*every_ms = 0;
	if (str_has_prefix(spec, "every ")) {
		unsigned long long ms;
		if (str_parse_duration_ms(spec + 6, SCHEDULE_EVERY_MAX_MS, &ms) < 0 || ms < 1000)
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "refresh timer \"%s\": expected every DURATION from 1s to 168h, "
			    "such as every 30m",
			    spec);
		*every_ms = ms;
		return 0;
	}
	const char *p = spec;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (*nw >= SCHEDULE_MAX_WINDOWS)
			return ferry_error_set(err, FERRY_E_LIMIT,
			                       "refresh timer \"%s\": more than %d windows", spec,
			                       SCHEDULE_MAX_WINDOWS);
		struct window x = {0, 0, 1};
		const char *tilde = memchr(p, '~', len);
		const char *slash = memchr(p, '/', len);
		bool ok;
		if (!tilde) {
			ok = !slash && parse_hhmm(p, len, &x.start) == 0;
			x.end = x.start + 1;
		} else {
			size_t l2 =
			    slash ? (size_t)(slash - tilde - 1) : len - (size_t)(tilde - p) - 1;
			ok = parse_hhmm(p, (size_t)(tilde - p), &x.start) == 0 &&
			     parse_hhmm(tilde + 1, l2, &x.end) == 0;
			if (ok && slash) {
				char num[8];
				size_t nl = len - (size_t)(slash - p) - 1;
				unsigned long long n;
				ok = nl > 0 && nl < sizeof(num);
				if (ok) {
					memcpy(num, slash + 1, nl);
					num[nl] = '\0';
					ok = str_to_u64(num, SCHEDULE_MAX_PER_WINDOW, &n) == 0 &&
					     n >= 1;
					x.n = (int)n;
				}
			}
			if (ok && x.end <= x.start)
				x.end += 1440;
		}
		if (!ok)
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "refresh timer \"%s\": expected windows such as 00:00~24:00/4, "
			    "09:00~17:00 or 03:30, separated by commas (or every DURATION)",
			    spec);
		w[(*nw)++] = x;
		p += len;
		if (*p == ',')
			p++;
	}
	if (*nw == 0)
		return ferry_error_set(err, FERRY_E_INVALID, "refresh timer: empty");
	return 0;
}

/* Where in its slot a run falls on a given day: random-looking, different
 * from device to device (salted with the device id), but the same every time
 * it is asked, so that a slot gets exactly one run a day. FNV-1a. */
static uint64_t slot_offset(const char *device_id, const struct tm *day, int window, int slot)
{
	char key[160];
	snprintf(key, sizeof(key), "%s/%04d-%02d-%02d/%d/%d", device_id, day->tm_year + 1900,
	         day->tm_mon + 1, day->tm_mday, window, slot);
	uint64_t h = 1469598103934665603ull;
	for (const char *p = key; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ull;
	}
	return h;
}

int schedule_check(const char *spec, ferry_error *err)
{
	struct window w[SCHEDULE_MAX_WINDOWS];
	int n;
	uint64_t every;
	return parse(spec, w, &n, &every, err);
}

int64_t schedule_next(const char *spec, const char *device_id, int64_t after)
{
	struct window w[SCHEDULE_MAX_WINDOWS];
	int nw;
	uint64_t every;
	if (parse(spec, w, &nw, &every, NULL) < 0)
		return -1;
	if (every)
		return after + (int64_t)(every / 1000);
	time_t t = (time_t)after;
	struct tm tm;
	localtime_r(&t, &tm);
	int64_t best = -1;
	for (int d = -1; d <= 1; d++) {
		struct tm day = tm;
		day.tm_mday += d;
		day.tm_hour = day.tm_min = day.tm_sec = 0;
		day.tm_isdst = -1;
		int64_t midnight = (int64_t)mktime(&day); /* normalises day too */
		for (int i = 0; i < nw; i++) {
			int64_t len = (int64_t)(w[i].end - w[i].start) * 60;
			for (int k = 0; k < w[i].n; k++) {
				int64_t slot = len / w[i].n;
				int64_t at = midnight + (int64_t)w[i].start * 60 + k * slot;
				if (slot > 1)
					at += (int64_t)(slot_offset(device_id, &day, i, k) %
					                (uint64_t)slot);
				if (at > after && (best < 0 || at < best))
					best = at;
			}
		}
	}
	return best;
}

bool schedule_inside(const char *spec, int64_t at)
{
	struct window w[SCHEDULE_MAX_WINDOWS];
	int nw;
	uint64_t every;
	if (parse(spec, w, &nw, &every, NULL) < 0)
		return false;
	if (every)
		return true;
	time_t t = (time_t)at;
	struct tm tm;
	localtime_r(&t, &tm);
	for (int d = -1; d <= 0; d++) {
		struct tm day = tm;
		day.tm_mday += d;
		day.tm_hour = day.tm_min = day.tm_sec = 0;
		day.tm_isdst = -1;
		int64_t minute = (at - (int64_t)mktime(&day)) / 60;
		for (int i = 0; i < nw; i++)
			if (minute >= w[i].start && minute < w[i].end)
				return true;
	}
	return false;
}
