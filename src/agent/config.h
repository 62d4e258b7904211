/* config.h: ferryd's settings from its configuration file and command line
 * into the context (see config.c for the keys). */
#pragma once

#include "agent.h"
#include "base/error.h"

/* The settings as written, NULL when not given. */
struct agent_options {
	const char *root, *socket, *store, *trust, *config, *level, *images;
	const char *retain, *log_max, *hook_timeout;
	const char *device_id, *refresh_timer, *retries, *retry_delay, *min_free;
	const char *confine_path, *confinement, *cgroup_parent, *app_ids, *checkin;
};

/* Read the `key = value` file at path into the options not set yet (the
 * command line wins). The strings point into *keep, which the caller frees.
 * Unknown keys and malformed lines are errors that name the line. */
int config_read(const char *path, struct agent_options *o, char **keep, ferry_error *err) FERRY_WUR;

/* Check every option and fill ag's settings (ag made by agent_init); the root
 * directory is made when missing and kept as an absolute path, and
 * ferry-confine is looked for when confinement is on. Returns 0, or the exit
 * status ferryd ends with, err saying why: 2 when a setting is wrong, 1 when
 * the system is not as it must be (no ferry-confine, a root that cannot be
 * made). */
int config_apply(struct agent *ag, const struct agent_options *o, ferry_error *err) FERRY_WUR;
