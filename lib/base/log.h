/* log.h: leveled logging to standard error (or a file a program opens).
 *
 * A program sets its level and sink once at start-up with log_setup(); the
 * library only calls log_*(). A thread may set a context string (the store
 * puts its request id there) that is printed in every line that thread logs.
 * Lines look like:  ferry-store[123]: info: [req 7f3a] GET /1.0/status 200 */
#pragma once

#include <stdio.h>

#include "base/error.h"

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* ident: program name printed first; sink: NULL for stderr. */
void log_setup(const char *ident, enum log_level level, FILE *sink);
enum log_level log_get_level(void);
void log_set_level(enum log_level level);
/* Parse "error", "warn", "info" or "debug". Returns -1 when unknown. */
int log_level_parse(const char *s);

/* Per-thread context printed in brackets; NULL clears it. Copied. */
void log_set_context(const char *ctx);

void log_msg(enum log_level level, const char *fmt, ...) FERRY_PRINTF(2, 3);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_get_level() >= LOG_LEVEL_DEBUG)                                            \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                                     \
	} while (0)
