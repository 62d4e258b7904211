/* logfile.h: the output logs of a package's programs, logs/NAME/APP.log and
 * logs/NAME/hooks.log (see logfile.c): written with every line stamped,
 * bounded and rotated; read back by lines. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* "2026-12-05T11:17:50.123456Z": UTC, to the microsecond; stamps of one
 * width sort as text in time order */
#define LOG_STAMP_LEN 27
#define LOG_LINE_MAX 4096 /* bytes of one line given back */

struct logfile {
	int fd;        /* append; -1: closed */
	uint64_t size; /* bytes in the file */
	bool mid_line; /* the last write ended inside a line */
};

/* The stamp of a wall-clock time in microseconds since the epoch. */
void logfile_stamp(int64_t us, char out[LOG_STAMP_LEN + 1]);
/* Open path for appending (lf->fd -1 when it cannot be). */
void logfile_open(struct logfile *lf, const char *path);
void logfile_close(struct logfile *lf);
/* Append what a program wrote, each line stamped with the time now. When
 * the file would outgrow max it is first moved to path.1 and started over,
 * so that the newest output is always in path and the two stay within
 * twice max. */
void logfile_write(struct logfile *lf, const char *path, uint64_t max, const char *buf, size_t n);
/* Append a line of ferryd's own (a line of its own: one the program left
 * open is ended first). */
void logfile_note(struct logfile *lf, const char *path, uint64_t max, const char *line);

struct log_line {
	char stamp[LOG_STAMP_LEN + 1]; /* "" for a line written without one */
	char *text;                    /* at most LOG_LINE_MAX bytes, no newline */
};

struct log_lines {
	struct log_line *v;
	size_t n, cap;
};

/* The last n lines of path (those of path.1 before them when path has too
 * few and older is set), oldest first, stamped at since or later (since
 * NULL or "": any; unstamped lines then too). from: only what path holds
 * from that offset on (0: all; beyond the end, rotated: all). *end (may be
 * NULL): the size of path that was read, where following goes on. */
int logfile_tail(const char *path, size_t n, const char *since, off_t from, bool older,
                 struct log_lines *out, off_t *end, ferry_error *err) FERRY_WUR;
/* The complete lines path holds from *offset on (at most 64 KiB of them;
 * a line longer than that is cut), *offset moved past them; an offset
 * beyond the end (the file was rotated) starts from 0. */
int logfile_after(const char *path, off_t *offset, struct log_lines *out,
                  ferry_error *err) FERRY_WUR;
void log_lines_free(struct log_lines *l);

/* The last n lines of a program's output in path after offset from,
 * without stamps and without ferryd's own notes, for messages ("" when
 * none; NULL when out of memory). free(). */
char *log_tail(const char *path, int n, off_t from);
