/* log.c: one process-wide logger configuration (set by the program's main),
 * one context string per thread. Each line is written with a single fputs so
 * that lines from several threads do not interleave. */
#include "base/log.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static struct {
	char ident[32];
	enum log_level level;
	FILE *sink;
} log_cfg = {"ferry", LOG_LEVEL_WARN, NULL};

static _Thread_local char log_ctx[64];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(const char *ident, enum log_level level, FILE *sink)
{
	snprintf(log_cfg.ident, sizeof(log_cfg.ident), "%s", ident ? ident : "ferry");
	log_cfg.level = level;
	log_cfg.sink = sink;
}

enum log_level log_get_level(void)
{
	return log_cfg.level;
}

void log_set_level(enum log_level level)
{
	log_cfg.level = level;
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void log_set_context(const char *ctx)
{
	snprintf(log_ctx, sizeof(log_ctx), "%s", ctx ? ctx : "");
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[2048];
	int n;
	va_list ap;

	if (level > log_cfg.level)
		return;
	if (log_ctx[0])
		n = snprintf(line, sizeof(line), "%s[%d]: %s: [%s] ", log_cfg.ident, (int)getpid(),
		             level_names[level], log_ctx);
	else
		n = snprintf(line, sizeof(line), "%s[%d]: %s: ", log_cfg.ident, (int)getpid(),
		             level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	if (len == 0 || line[len - 1] != '\n') {
		line[len++] = '\n';
		line[len] = '\0';
	}
	FILE *out = log_cfg.sink ? log_cfg.sink : stderr;
	fputs(line, out);
	fflush(out);
}
