/* config.c: ferryd's settings. The configuration file holds `key = value`
 * lines (# comments): root, socket, store, trust, retain (2-20),
 * log-max-size (bytes), images (mount or extract), hook-timeout (pre-/
 * post-refresh, install, configure and remove hooks; default 10m),
 * log-level, device-id (default: generated at first start), refresh-timer
 * (default 00:00~24:00/4, see schedule.c), retries (default 4) and
 * retry-delay (first back-off, default 5s) of network operations,
 * min-free-space (bytes a download leaves free, default 64 MiB),
 * ferry-confine (its path; default: next to ferryd), confinement (on, or off
 * for development only), cgroup-parent (for app cgroups), app-ids (the range
 * of package uids and gids, default 70000-79999), checkin (on: tell the
 * store what the device runs at each refresh; off). Options on the command
 * line win over the file.
 *
 * It checks each value and fills the context's settings, making the root
 * directory when it is missing; it does not parse the command line (main.c
 * does), nor open or start anything else. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "config.h"
#include "sandbox.h"
#include "schedule.h"

int config_read(const char *path, struct agent_options *o, char **keep, ferry_error *err)
{
	char *text = NULL;
	int rc = fs_read_file(path, 64 * 1024, &text, NULL, err);
	if (rc < 0)
		return rc;
	*keep = text;
	int lineno = 0;
	for (char *line = text, *next; line && *line; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\0')
			continue;
		char *eq = strchr(p, '=');
		if (!eq)
			return ferry_error_set(err, FERRY_E_INVALID, "%s:%d: expected key = value",
			                       path, lineno);
		char *k = p, *v = eq + 1, *ke = eq;
		while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
			ke--;
		*ke = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		char *ve = v + strlen(v);
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
			*--ve = '\0';
		struct {
			const char *key;
			const char **slot;
		} keys[] = {
		    {"root", &o->root},
		    {"socket", &o->socket},
		    {"store", &o->store},
		    {"trust", &o->trust},
		    {"retain", &o->retain},
		    {"log-max-size", &o->log_max},
		    {"images", &o->images},
		    {"log-level", &o->level},
		    {"hook-timeout", &o->hook_timeout},
		    {"device-id", &o->device_id},
		    {"refresh-timer", &o->refresh_timer},
		    {"retries", &o->retries},
		    {"retry-delay", &o->retry_delay},
		    {"min-free-space", &o->min_free},
		    {"ferry-confine", &o->confine_path},
		    {"confinement", &o->confinement},
		    {"cgroup-parent", &o->cgroup_parent},
		    {"app-ids", &o->app_ids},
		    {"checkin", &o->checkin},
		};
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
			if (strcmp(k, keys[i].key) == 0) {
				if (!*keys[i].slot) /* the command line wins */
					*keys[i].slot = v;
				known = true;
			}
		if (!known)
			return ferry_error_set(
			    err, FERRY_E_INVALID,
			    "%s:%d: unknown key \"%s\" (expected root, socket, store, trust, "
			    "retain, log-max-size, images, log-level, hook-timeout, device-id, "
			    "refresh-timer, retries, retry-delay, min-free-space, "
			    "ferry-confine, confinement, cgroup-parent, app-ids, checkin)",
			    path, lineno, k);
	}
	return 0;
}

static int bad(ferry_error *err, const char *fmt, ...) FERRY_PRINTF(2, 3);
static int bad(ferry_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	IGNORE_RC(ferry_error_setv(err, FERRY_E_INVALID, fmt, ap));
	va_end(ap);
	return 2;
}

static int apply_numbers(struct agent *ag, const struct agent_options *o, ferry_error *err)
{
	if (o->retain) {
		unsigned long long r;
		if (str_to_u64(o->retain, AGENT_RETAIN_MAX, &r) < 0 || r < AGENT_RETAIN_MIN)
			return bad(err, "retain: expected %d to %d; got \"%s\"", AGENT_RETAIN_MIN,
			           AGENT_RETAIN_MAX, o->retain);
		ag->retain = (int)r;
	}
	if (o->log_max) {
		unsigned long long v;
		if (str_to_u64(o->log_max, 1ull << 32, &v) < 0 || v < 4096)
			return bad(err,
			           "log-max-size: expected 4096 to 4294967296 bytes; got \"%s\"",
			           o->log_max);
		ag->log_max = v;
	}
	if (o->hook_timeout) {
		unsigned long long ms;
		if (str_parse_duration_ms(o->hook_timeout, 3600ull * 1000, &ms) < 0 || ms == 0)
			return bad(err,
			           "hook-timeout: expected a duration from 1ms to 1h, such as "
			           "30s or 10m; got \"%s\"",
			           o->hook_timeout);
		ag->hook_timeout_ms = ms;
	}
	if (o->retries) {
		unsigned long long v;
		if (str_to_u64(o->retries, 100, &v) < 0 || v < 1)
			return bad(err, "retries: expected 1 to 100; got \"%s\"", o->retries);
		ag->retries = (unsigned)v;
	}
	if (o->retry_delay) {
		unsigned long long v;
		if (str_parse_duration_ms(o->retry_delay, 3600ull * 1000, &v) < 0 || v < 10)
			return bad(err,
			           "retry-delay: expected a duration from 10ms to 1h; got \"%s\"",
			           o->retry_delay);
		ag->retry_delay_ms = v;
	}
	if (o->min_free) {
		unsigned long long v;
		if (str_to_u64(o->min_free, 1ull << 50, &v) < 0)
			return bad(err, "min-free-space: expected a number of bytes; got \"%s\"",
			           o->min_free);
		ag->min_free = v;
	}
	return 0;
}

/* app-ids: "LO-HI", from 1000 up */
static int apply_app_ids(struct agent *ag, const char *spec, ferry_error *err)
{
	unsigned long long lo = 0, hi = 0;
	const char *dash = strchr(spec, '-');
	char lo_s[16];
	size_t ll = dash ? (size_t)(dash - spec) : 0;
	bool ok = dash && ll > 0 && ll < sizeof(lo_s);
	if (ok) {
		memcpy(lo_s, spec, ll);
		lo_s[ll] = '\0';
		ok = str_to_u64(lo_s, 0xfffffffeull, &lo) == 0 &&
		     str_to_u64(dash + 1, 0xfffffffeull, &hi) == 0 && lo >= 1000 && lo <= hi;
	}
	if (!ok)
		return bad(err,
		           "app-ids: expected a range of ids such as 70000-79999 (from 1000 up); "
		           "got \"%s\"",
		           spec);
	ag->app_id_min = lo;
	ag->app_id_max = hi;
	return 0;
}

static bool device_id_ok(const char *id, size_t max)
{
	size_t l = strlen(id);
	bool ok = l >= 1 && l < max;
	for (size_t k = 0; ok && k < l; k++)
		ok = (id[k] >= 'a' && id[k] <= 'z') || (id[k] >= '0' && id[k] <= '9') ||
		     id[k] == '-';
	return ok;
}

int config_apply(struct agent *ag, const struct agent_options *o, ferry_error *err)
{
	int level = o->level ? log_level_parse(o->level) : LOG_LEVEL_INFO;
	if (level < 0)
		return bad(err, "--log-level: expected error, warn, info or debug; got \"%s\"",
		           o->level);
	ag->log_level = level;
	if ((o->store != NULL) != (o->trust != NULL))
		return bad(err, "--store and --trust go together: the store's URL and the "
		                "root.json to trust");
	int rc = apply_numbers(ag, o, err);
	if (rc != 0)
		return rc;
	free(ag->refresh_timer);
	ag->refresh_timer = strdup(o->refresh_timer ? o->refresh_timer : "00:00~24:00/4");
	if (schedule_check(ag->refresh_timer, err) < 0)
		return 2;
	if (o->device_id) {
		if (!device_id_ok(o->device_id, sizeof(ag->device_id)))
			return bad(err, "device-id: expected 1 to 64 of a-z 0-9 -; got \"%s\"",
			           o->device_id);
		memcpy(ag->device_id, o->device_id, strlen(o->device_id) + 1);
	}
	if (o->images && strcmp(o->images, "extract") != 0 && strcmp(o->images, "mount") != 0)
		return bad(err, "images: expected mount or extract; got \"%s\"", o->images);
	ag->extract = o->images ? strcmp(o->images, "extract") == 0 : !ag->privileged;
	if (!ag->extract && !ag->privileged)
		return bad(err, "images = mount needs root; use images = extract");

	if (o->confinement && strcmp(o->confinement, "on") != 0 &&
	    strcmp(o->confinement, "off") != 0)
		return bad(err, "confinement: expected on or off; got \"%s\"", o->confinement);
	ag->confine = !o->confinement || strcmp(o->confinement, "on") == 0;
	if (o->checkin && strcmp(o->checkin, "on") != 0 && strcmp(o->checkin, "off") != 0)
		return bad(err, "checkin: expected on or off; got \"%s\"", o->checkin);
	ag->checkin = !o->checkin || strcmp(o->checkin, "on") == 0;
	if (ag->confine && sandbox_find_helper(ag, o->confine_path, err) < 0)
		return 1;
	if (o->app_ids) {
		rc = apply_app_ids(ag, o->app_ids, err);
		if (rc != 0)
			return rc;
	}
	if (o->cgroup_parent)
		ag->cgroup_parent = strdup(o->cgroup_parent);

	const char *root = o->root ? o->root : AGENT_DEFAULT_ROOT;
	if (fs_mkdir_p(root, 0755, err) < 0)
		return 1;
	char *abs = realpath(root, NULL);
	if (!abs || str_copy(ag->root, sizeof(ag->root), abs) < 0) {
		ferry_error_set(err, FERRY_E_IO, "%s: %s", root,
		                abs ? "path too long" : strerror(errno));
		free(abs);
		return 1;
	}
	free(abs);
	const char *sock = o->socket ? o->socket : AGENT_DEFAULT_SOCKET;
	if (str_copy(ag->socket_path, sizeof(ag->socket_path), sock) < 0)
		return bad(err, "%s: socket path too long (at most %zu bytes)", sock,
		           sizeof(ag->socket_path) - 1);
	if (o->store) {
		ag->store_url = strdup(o->store);
		ag->trust_path = strdup(o->trust);
	}
	return 0;
}
