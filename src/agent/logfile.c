/* logfile.c: the output logs of a package's programs, logs/NAME/APP.log and
 * logs/NAME/hooks.log: what ferryd writes there and how it reads them back.
 *
 * Every line is stamped with the time ferryd read it from the program:
 *
 *   2026-12-05T11:17:50.123456Z TEXT\n
 *
 * (UTC, to the microsecond, then one space and the bytes the program wrote,
 * its newline last). A line that arrives in pieces is stamped once, when
 * it starts. ferryd's own notes ("-- ferryd: starting ... --") are lines
 * like the others. A line from before stamps existed reads back with an
 * empty stamp. A file that would outgrow the agent's limit is moved to
 * FILE.1 (replacing the one before) and started over.
 *
 * Reading back goes from the end, in windows growing four times each,
 * bounded (LOG_SCAN_MAX bytes of a file): the last lines, those since a
 * stamp, those after an offset. This file does not decide which program
 * writes where (services.c, health.c) nor how lines are shown (ferry). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "logfile.h"

#define LOG_SCAN_MAX (32u << 20) /* bytes of one file read back per request */
#define LOG_WINDOW_MIN (64u << 10)
#define LOG_AFTER_MAX (64u << 10)
#define NOTE_PREFIX "-- ferryd: "

void logfile_stamp(int64_t us, char out[LOG_STAMP_LEN + 1])
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, LOG_STAMP_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	         (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	         tm.tm_sec, (int)(us % 1000000));
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void logfile_open(struct logfile *lf, const char *path)
{
	lf->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	struct stat st;
	lf->size = lf->fd >= 0 && fstat(lf->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	/* a file that does not end with a newline: the next line starts fresh */
	lf->mid_line = false;
	if (lf->size > 0) {
		char last = '\n';
		int rfd = open(path, O_RDONLY | O_CLOEXEC);
		if (rfd >= 0 && pread(rfd, &last, 1, (off_t)lf->size - 1) == 1)
			lf->mid_line = last != '\n';
		if (rfd >= 0)
			close(rfd);
	}
}

void logfile_close(struct logfile *lf)
{
	if (lf->fd >= 0)
		close(lf->fd);
	lf->fd = -1;
}

static void rotate(struct logfile *lf, const char *path)
{
	char old[PATH_MAX];
	logfile_close(lf);
	if (str_printf(old, sizeof(old), "%s.1", path) < 0 || rename(path, old) < 0)
		log_warn("rotate %s: %s", path, strerror(errno));
	logfile_open(lf, path);
	lf->mid_line = false;
}

/* buf, its lines stamped, into the file; ended by a newline when close is
 * set and it does not end with one */
static void write_stamped(struct logfile *lf, const char *path, uint64_t max, const char *buf,
                          size_t n, bool close_line)
{
	char stamp[LOG_STAMP_LEN + 1];
	logfile_stamp(now_us(), stamp);
	size_t lines = 1;
	for (size_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	/* the worst case: every line gets a stamp, one more newline */
	size_t cap = n + lines * (LOG_STAMP_LEN + 1) + 2;
	_cleanup_free_ char *out = malloc(cap);
	if (!out)
		return;
	if (lf->fd >= 0 && lf->size > 0 && lf->size + cap > max)
		rotate(lf, path);
	if (lf->fd < 0)
		return;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (!lf->mid_line) {
			memcpy(out + o, stamp, LOG_STAMP_LEN);
			o += LOG_STAMP_LEN;
			out[o++] = ' ';
			lf->mid_line = true;
		}
		const char *nl = memchr(buf + i, '\n', n - i);
		size_t l = nl ? (size_t)(nl - (buf + i)) + 1 : n - i;
		memcpy(out + o, buf + i, l);
		o += l;
		i += l;
		if (nl)
			lf->mid_line = false;
	}
	if (close_line && lf->mid_line) {
		out[o++] = '\n';
		lf->mid_line = false;
	}
	if (fs_write_all(lf->fd, out, o) < 0)
		log_warn("%s: %s", path, strerror(errno));
	lf->size += o;
}

void logfile_write(struct logfile *lf, const char *path, uint64_t max, const char *buf, size_t n)
{
	write_stamped(lf, path, max, buf, n, false);
}

void logfile_note(struct logfile *lf, const char *path, uint64_t max, const char *line)
{
	if (lf->fd >= 0 && lf->mid_line) {
		if (fs_write_all(lf->fd, "\n", 1) == 0)
			lf->size++;
		lf->mid_line = false;
	}
	write_stamped(lf, path, max, line, strlen(line), true);
}

/* --- reading back ----------------------------------------------------------- */

void log_lines_free(struct log_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static bool is_stamp(const char *p, size_t len)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	if (len < LOG_STAMP_LEN + 1 || p[LOG_STAMP_LEN] != ' ')
		return false;
	for (size_t i = 0; i < LOG_STAMP_LEN; i++)
		if (shape[i] == 'd' ? !(p[i] >= '0' && p[i] <= '9') : p[i] != shape[i])
			return false;
	return true;
}

static int add_line(struct log_lines *out, const char *p, size_t len)
{
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 64;
		struct log_line *v = realloc(out->v, cap * sizeof(*v));
		if (!v)
			return FERRY_E_NOMEM;
		out->v = v;
		out->cap = cap;
	}
	struct log_line *l = &out->v[out->n];
	l->stamp[0] = '\0';
	if (is_stamp(p, len)) {
		memcpy(l->stamp, p, LOG_STAMP_LEN);
		l->stamp[LOG_STAMP_LEN] = '\0';
		p += LOG_STAMP_LEN + 1;
		len -= LOG_STAMP_LEN + 1;
	}
	if (len > LOG_LINE_MAX)
		len = LOG_LINE_MAX;
	if (!(l->text = strndup(p, len)))
		return FERRY_E_NOMEM;
	out->n++;
	return 0;
}

static bool wanted(const struct log_line *l, const char *since)
{
	return !since || !*since || (l->stamp[0] && strcmp(l->stamp, since) >= 0);
}

/* Keep the last n lines of l that are wanted, in order. */
static void keep_last(struct log_lines *l, size_t n, const char *since)
{
	size_t w = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (wanted(&l->v[i], since))
			l->v[w++] = l->v[i];
		else
			free(l->v[i].text);
	}
	l->n = w;
	if (l->n > n) {
		size_t drop = l->n - n;
		for (size_t i = 0; i < drop; i++)
			free(l->v[i].text);
		memmove(l->v, l->v + drop, n * sizeof(*l->v));
		l->n = n;
	}
}

/* Open path to read from *from on: *fd -1 (and 0) when there is no file;
 * an offset beyond the end (the file was rotated since) becomes 0. */
static int open_at(const char *path, off_t *from, int *fd, struct stat *st, ferry_error *err)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return errno == ENOENT ? 0 : ferry_error_errno(err, FERRY_E_IO, errno, "%s", path);
	if (fstat(*fd, st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", path);
	if (*from < 0 || *from > st->st_size)
		*from = 0;
	return 0;
}

/* The last n wanted lines of one file from offset from on, into *got;
 * *whole: the file was read back to from (or to a line older than since). */
static int tail_one(const char *path, size_t n, const char *since, off_t from,
                    struct log_lines *got, bool *whole, off_t *end, ferry_error *err)
{
	*whole = true;
	if (end)
		*end = 0;
	_cleanup_close_ int fd = -1;
	struct stat st;
	int rc = open_at(path, &from, &fd, &st, err);
	if (rc < 0 || fd < 0)
		return rc;
	if (end)
		*end = st.st_size;
	for (size_t window = LOG_WINDOW_MIN;; window *= 4) {
		if (window > LOG_SCAN_MAX)
			window = LOG_SCAN_MAX;
		off_t start = st.st_size - from > (off_t)window ? st.st_size - (off_t)window : from;
		size_t len = (size_t)(st.st_size - start);
		_cleanup_free_ char *buf = malloc(len + 1);
		if (!buf)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		ssize_t r = pread(fd, buf, len, start);
		if (r < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "%s", path);
		len = (size_t)r;
		size_t i = 0;
		if (start > from) { /* a line cut by the window: not ours */
			const char *nl = memchr(buf, '\n', len);
			i = nl ? (size_t)(nl - buf) + 1 : len;
		}
		log_lines_free(got);
		bool older_seen = false;
		while (i < len) {
			const char *nl = memchr(buf + i, '\n', len - i);
			size_t l = nl ? (size_t)(nl - (buf + i)) : len - i;
			if (add_line(got, buf + i, l) < 0)
				return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			const struct log_line *last = &got->v[got->n - 1];
			if (since && *since && last->stamp[0] && strcmp(last->stamp, since) < 0)
				older_seen = true;
			i += l + 1;
		}
		keep_last(got, n, since);
		*whole = start == from || older_seen;
		if (got->n >= n || *whole || window == LOG_SCAN_MAX)
			return 0;
	}
}

int logfile_tail(const char *path, size_t n, const char *since, off_t from, bool older,
                 struct log_lines *out, off_t *end, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	bool whole = false;
	int rc = tail_one(path, n, since, from, out, &whole, end, err);
	if (rc < 0 || !older || !whole || out->n >= n)
		return rc;
	char prev[PATH_MAX];
	if (str_printf(prev, sizeof(prev), "%s.1", path) < 0)
		return 0;
	struct log_lines more = {0};
	rc = tail_one(prev, n - out->n, since, 0, &more, &whole, NULL, err);
	if (rc == 0 && more.n > 0) {
		struct log_line *v = realloc(more.v, (more.n + out->n) * sizeof(*v));
		if (!v) {
			log_lines_free(&more);
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		}
		if (out->n > 0)
			memcpy(v + more.n, out->v, out->n * sizeof(*v));
		free(out->v);
		out->v = v;
		out->n += more.n;
		out->cap = out->n;
		memset(&more, 0, sizeof(more)); /* its lines are out's now */
	}
	log_lines_free(&more);
	return rc;
}

int logfile_after(const char *path, off_t *offset, struct log_lines *out, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_close_ int fd = -1;
	struct stat st;
	int rc = open_at(path, offset, &fd, &st, err);
	if (rc < 0 || fd < 0)
		return rc;
	size_t want = (size_t)(st.st_size - *offset);
	if (want > LOG_AFTER_MAX)
		want = LOG_AFTER_MAX;
	_cleanup_free_ char *buf = malloc(want + 1);
	if (!buf)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	ssize_t r = pread(fd, buf, want, *offset);
	if (r < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", path);
	size_t len = (size_t)r, i = 0;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		if (!nl && !(i == 0 && len == LOG_AFTER_MAX))
			break; /* the rest of this line is still to come */
		size_t l = nl ? (size_t)(nl - (buf + i)) : len - i;
		if (add_line(out, buf + i, l) < 0)
			return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		i += l + (nl ? 1 : 0);
	}
	*offset += (off_t)i;
	return 0;
}

char *log_tail(const char *path, int n, off_t from)
{
	/* read more, for the notes left out */
	struct log_lines l;
	ferry_error err;
	if (n <= 0 || logfile_tail(path, (size_t)n * 4, NULL, from, false, &l, NULL, &err) < 0)
		return strdup("");
	struct buf b = BUF_INIT(LOG_LINE_MAX * 16);
	int kept = 0, rc = 0;
	size_t first = l.n;
	for (size_t i = l.n; i > 0 && kept < n; i--)
		if (!str_has_prefix(l.v[i - 1].text, NOTE_PREFIX)) {
			first = i - 1;
			kept++;
		}
	for (size_t i = first; i < l.n && rc == 0; i++) {
		if (str_has_prefix(l.v[i].text, NOTE_PREFIX))
			continue;
		if (b.len)
			rc = buf_append(&b, "\n", 1);
		if (rc == 0)
			rc = buf_append_str(&b, l.v[i].text);
	}
	log_lines_free(&l);
	if (rc == 0)
		rc = buf_append(&b, "", 0);
	if (rc < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}
