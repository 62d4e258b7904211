/* apt.c: child processes for apt and dpkg, the build machine's mirrors, and
 * ferry's own apt configuration for one suite (see apt.h).
 *
 * It does not decide what to stage (stage.c) nor build a root file system
 * (rootfs.c); it only gives them an apt that looks at the right suite. */
#include "pkg/apt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "base/strv.h"
#include "pkg/stage.h"

extern char **environ;

#define SOURCES_MAX (256u * 1024)
#define SOURCES_FILES_MAX 256
#define RELEASE_HEAD_MAX (64u * 1024)

/* ---- child processes ---------------------------------------------------- */

/* Our environment without locale settings, with LC_ALL=C and extra. */
static char **child_environ(char *const *extra)
{
	size_t n = 0, ne = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	for (char *const *e = extra; e && *e; e++)
		ne++;
	char **env = calloc(n + ne + 3, sizeof(char *));
	if (!env)
		return NULL;
	size_t k = 0;
	for (char **e = environ; e && *e; e++)
		if (!str_has_prefix(*e, "LC_") && !str_has_prefix(*e, "LANG=") &&
		    !str_has_prefix(*e, "LANGUAGE="))
			env[k++] = *e;
	for (char *const *e = extra; e && *e; e++)
		env[k++] = *e;
	env[k++] = (char *)"LC_ALL=C";
	env[k] = NULL;
	return env;
}

int apt_run(char *const argv[], const char *cwd, char *const *env_extra, struct buf *out,
            struct buf *errout, int *status, ferry_error *err)
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1};
	_cleanup_free_ char **env = child_environ(env_extra);
	if (!env)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		int e = errno;
		if (po[0] >= 0) {
			close(po[0]);
			close(po[1]);
		}
		return ferry_error_errno(err, FERRY_E_IO, e, "pipe for %s", argv[0]);
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(po[0]);
		close(po[1]);
		close(pe[0]);
		close(pe[1]);
		return ferry_error_errno(err, FERRY_E_IO, e, "fork for %s", argv[0]);
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(126);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		execvpe(argv[0], argv, env);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);

	struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
	struct buf *sinks[2] = {out, errout};
	int open_fds = 2, rc = 0;
	char chunk[8192];
	while (open_fds > 0) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "poll %s", argv[0]);
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(fds[i].fd, chunk, sizeof(chunk));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
				continue;
			}
			/* past the bound the rest is read and dropped */
			if (sinks[i] && sinks[i]->len + (size_t)r <= sinks[i]->max &&
			    buf_append(sinks[i], chunk, (size_t)r) < 0) {
				rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0) {
		if (errno != EINTR)
			return ferry_error_errno(err, FERRY_E_IO, errno, "wait for %s", argv[0]);
	}
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	return rc;
}

void apt_child_message(const struct buf *errout, char *msg, size_t size)
{
	msg[0] = '\0';
	if (!errout->data)
		return;
	size_t used = 0;
	const char *last = NULL;
	size_t last_len = 0;
	for (const char *p = errout->data; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > 3 && strncmp(p, "E: ", 3) == 0) {
			int n = snprintf(msg + used, size - used, "%s%.*s", used ? "; " : "",
			                 (int)(len - 3), p + 3);
			if (n > 0 && (size_t)n < size - used)
				used += (size_t)n;
		}
		if (len > 0) {
			last = p;
			last_len = len;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (used == 0 && last)
		snprintf(msg, size, "%.*s", (int)last_len, last);
}

/* ---- the build machine's sources ---------------------------------------- */

/* Is word (len bytes) one of the space-separated words of list? */
static bool has_word(const char *list, size_t list_len, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list, *end = list + list_len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *w = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		if ((size_t)(p - w) == wl && strncmp(w, word, wl) == 0)
			return true;
	}
	return false;
}

static bool valid_uri(const char *s, size_t len)
{
	if (len < 8 || len >= APT_URI_MAX)
		return false;
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0 &&
	    strncmp(s, "file:/", 6) != 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ']' ||
		    s[i] == '[')
			return false;
	return true;
}

/* One entry: its first URI, suites and Signed-By; fill out when it is for
 * codename. */
static int take_entry(const char *uri, size_t ulen, const char *suites, size_t slen,
                      const char *signed_by, size_t blen, const char *codename,
                      struct apt_mirrors *out)
{
	char sec[96];
	if (!valid_uri(uri, ulen))
		return 0;
	while (ulen > 1 && uri[ulen - 1] == '/')
		ulen--;
	snprintf(sec, sizeof(sec), "%s-security", codename);
	if (!out->archive[0] && has_word(suites, slen, codename)) {
		snprintf(out->archive, sizeof(out->archive), "%.*s", (int)ulen, uri);
		if (blen > 0 && blen < sizeof(out->keyring) && signed_by[0] == '/' &&
		    !memchr(signed_by, ' ', blen))
			snprintf(out->keyring, sizeof(out->keyring), "%.*s", (int)blen, signed_by);
		return 1;
	}
	if (!out->security[0] && has_word(suites, slen, sec))
		snprintf(out->security, sizeof(out->security), "%.*s", (int)ulen, uri);
	return 0;
}

int apt_sources_parse(const char *text, bool deb822, const char *codename, struct apt_mirrors *out)
{
	int found = 0;
	const char *p = text;
	/* deb822 stanza state */
	const char *uri = NULL, *suites = NULL, *by = NULL;
	size_t ulen = 0, slen = 0, blen = 0;
	bool is_deb = false;

	for (;;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\r' || p[len - 1] == '\t'))
			len--;
		if (deb822) {
			bool blank = len == 0 || !*p;
			if (blank) {
				if (is_deb && uri && suites)
					found |= take_entry(uri, ulen, suites, slen, by ? by : "",
					                    blen, codename, out);
				uri = suites = by = NULL;
				ulen = slen = blen = 0;
				is_deb = false;
			} else if (p[0] != '#' && p[0] != ' ' && p[0] != '\t') {
				const char *colon = memchr(p, ':', len);
				if (colon) {
					size_t kl = (size_t)(colon - p);
					const char *v = colon + 1;
					while (v < p + len && (*v == ' ' || *v == '\t'))
						v++;
					size_t vl = (size_t)(p + len - v);
					if (kl == 5 && strncasecmp(p, "Types", 5) == 0)
						is_deb = has_word(v, vl, "deb");
					else if (kl == 4 && strncasecmp(p, "URIs", 4) == 0) {
						uri = v;
						ulen = strcspn(v, " \t");
						if (ulen > vl)
							ulen = vl;
					} else if (kl == 6 && strncasecmp(p, "Suites", 6) == 0) {
						suites = v;
						slen = vl;
					} else if (kl == 9 && strncasecmp(p, "Signed-By", 9) == 0) {
						by = v;
						blen = vl;
					}
				}
			}
		} else if (len > 4 && strncmp(p, "deb", 3) == 0 && (p[3] == ' ' || p[3] == '\t')) {
			const char *q = p + 4, *end = p + len;
			const char *sb = "";
			size_t sbl = 0;
			while (q < end && (*q == ' ' || *q == '\t'))
				q++;
			if (q < end && *q == '[') { /* [ opt=value ... ] */
				const char *close = memchr(q, ']', (size_t)(end - q));
				if (!close)
					goto next;
				const char *o = memmem(q, (size_t)(close - q), "signed-by=", 10);
				if (o) {
					sb = o + 10;
					sbl = strcspn(sb, " \t]");
				}
				q = close + 1;
				while (q < end && (*q == ' ' || *q == '\t'))
					q++;
			}
			const char *u = q;
			while (q < end && *q != ' ' && *q != '\t')
				q++;
			size_t ul = (size_t)(q - u);
			while (q < end && (*q == ' ' || *q == '\t'))
				q++;
			const char *s = q;
			while (q < end && *q != ' ' && *q != '\t')
				q++;
			found |= take_entry(u, ul, s, (size_t)(q - s), sb, sbl, codename, out);
		}
	next:
		if (!eol)
			break;
		p = eol + 1;
	}
	if (deb822 && is_deb && uri && suites)
		found |= take_entry(uri, ulen, suites, slen, by ? by : "", blen, codename, out);
	return found;
}

void apt_os_release_value(const char *text, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);
	out[0] = '\0';
	for (const char *p = text; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) : strlen(p);
		if (l > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t vl = l - kl - 1;
			if (vl >= 2 && (*v == '"' || *v == '\'')) {
				v++;
				vl -= 2;
			}
			if (vl < size)
				snprintf(out, size, "%.*s", (int)vl, v);
		}
		p = eol ? eol + 1 : NULL;
	}
}

static int read_codename(const char *os_release, char *out, size_t size, ferry_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	const char *path = os_release ? os_release : "/etc/os-release";
	int rc = fs_read_file(path, 64 * 1024, &text, &len, err);
	if (rc < 0)
		return rc;
	apt_os_release_value(text, "VERSION_CODENAME", out, size);
	for (const char *c = out; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
			out[0] = '\0';
	if (!out[0])
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no VERSION_CODENAME", path);
	return 0;
}

int apt_host_mirrors(const char *etc_apt, const char *os_release, struct apt_mirrors *out,
                     ferry_error *err)
{
	char codename[64], path[APT_SUITE_PATH_MAX];
	const char *base = etc_apt ? etc_apt : "/etc/apt";
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_codename(os_release, codename, sizeof(codename), err)) < 0)
		return rc;
	if (str_printf(path, sizeof(path), "%s/sources.list", base) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", base);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (fs_exists(path) && fs_read_file(path, SOURCES_MAX, &text, &len, NULL) == 0)
		apt_sources_parse(text, false, codename, out);

	if (str_printf(path, sizeof(path), "%s/sources.list.d", base) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", base);
	struct dirent **names = NULL;
	int n = scandir(path, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		bool d822 = str_has_suffix(name, ".sources");
		char file[APT_SUITE_PATH_MAX];
		_cleanup_free_ char *t = NULL;
		if (i < SOURCES_FILES_MAX && (d822 || str_has_suffix(name, ".list")) &&
		    str_printf(file, sizeof(file), "%s/%s", path, name) == 0 &&
		    fs_read_file(file, SOURCES_MAX, &t, &len, NULL) == 0)
			apt_sources_parse(t, d822, codename, out);
		free(names[i]);
	}
	free(names);
	if (!out->archive[0])
		return ferry_error_set(err, FERRY_E_NOTFOUND,
		                       "%s/sources.list*: no Debian archive is configured for "
		                       "%s, the release of this machine",
		                       base, codename);
	if (!out->keyring[0])
		snprintf(out->keyring, sizeof(out->keyring), "%s", APT_DEFAULT_KEYRING);
	return 0;
}

/* ---- one suite ------------------------------------------------------------ */

static bool valid_suite(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || n > 40)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return s[0] >= 'a' && s[0] <= 'z';
}

int apt_suite_default_dir(const char *suite, const char *arch, char *out, size_t size)
{
	const char *e = getenv("FERRY_APT_CACHE");
	const char *x = getenv("XDG_CACHE_HOME");
	const char *h = getenv("HOME");
	if (e && *e == '/')
		return str_printf(out, size, "%s/%s_%s", e, suite, arch);
	if (x && *x == '/')
		return str_printf(out, size, "%s/ferry/apt/%s_%s", x, suite, arch);
	if (h && *h == '/')
		return str_printf(out, size, "%s/.cache/ferry/apt/%s_%s", h, suite, arch);
	return str_printf(out, size, "/var/tmp/ferry-apt-%u/%s_%s", (unsigned)getuid(), suite,
	                  arch);
}

/* Append "-o" and kv (taken over, may be NULL when out of memory). */
static int add_opt(struct apt_suite *s, char *kv)
{
	char **v = kv ? realloc(s->argv_opts, (s->n_opts + 3) * sizeof(char *)) : NULL;
	if (!v) {
		free(kv);
		return FERRY_E_NOMEM;
	}
	s->argv_opts = v;
	v[s->n_opts] = strdup("-o");
	v[s->n_opts + 1] = kv;
	v[s->n_opts + 2] = NULL;
	s->n_opts += 2;
	return v[s->n_opts - 2] ? 0 : FERRY_E_NOMEM;
}

void apt_suite_free(struct apt_suite *s)
{
	if (!s)
		return;
	strv_free(s->argv_opts);
	s->argv_opts = NULL;
	s->n_opts = 0;
}

int apt_suite_source_lines(const struct apt_suite *s, const struct apt_mirrors *m, char *lines[2],
                           size_t *n)
{
	*n = 0;
	lines[0] =
	    str_dup_printf("deb [signed-by=%s] %s %s main", m->keyring, m->archive, s->suite);
	if (!lines[0])
		return FERRY_E_NOMEM;
	*n = 1;
	if (s->has_security) {
		lines[1] = str_dup_printf("deb [signed-by=%s] %s %s-security main", m->keyring,
		                          m->security, s->suite);
		if (!lines[1])
			return FERRY_E_NOMEM;
		*n = 2;
	}
	return 0;
}

int apt_suite_open(const char *dir, const char *suite, const char *arch,
                   const struct apt_mirrors *mirrors, const char *status_file,
                   struct apt_suite *out, ferry_error *err)
{
	char p[APT_SUITE_PATH_MAX + 64];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!valid_suite(suite))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "suite \"%.40s\": expected a Debian suite name such as "
		                       "bookworm or trixie",
		                       suite);
	if (str_copy(out->dir, sizeof(out->dir), dir) < 0 ||
	    str_copy(out->suite, sizeof(out->suite), suite) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
	/* the security archive names suites SUITE-security from bullseye on */
	out->has_security = mirrors->security[0] != '\0';

	static const char *const dirs[] = {"etc/sources.list.d",     "etc/preferences.d",
	                                   "etc/apt.conf.d",         "state/lists/partial",
	                                   "cache/archives/partial", NULL};
	for (size_t i = 0; dirs[i]; i++) {
		if (str_printf(p, sizeof(p), "%s/%s", dir, dirs[i]) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dir);
		if ((rc = fs_mkdir_p(p, 0755, err)) < 0)
			return rc;
	}
	char *lines[2] = {NULL, NULL};
	size_t nl = 0;
	_cleanup_buf_ struct buf list = BUF_INIT(4096);
	rc = apt_suite_source_lines(out, mirrors, lines, &nl);
	for (size_t i = 0; rc == 0 && i < nl; i++)
		rc = buf_printf(&list, "%s\n", lines[i]);
	free(lines[0]);
	free(lines[1]);
	if (rc < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	if (str_printf(p, sizeof(p), "%s/etc/sources.list", dir) < 0 ||
	    (rc = fs_write_atomic(p, list.data, list.len, 0644, err)) < 0)
		return rc < 0 ? rc : ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	char status[APT_SUITE_PATH_MAX + 64];
	if (status_file) {
		if (str_copy(status, sizeof(status), status_file) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long",
			                       status_file);
	} else {
		if (str_printf(status, sizeof(status), "%s/state/status", dir) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "path too long");
		if ((rc = fs_write_atomic(status, "", 0, 0644, err)) < 0)
			return rc;
	}

	if (add_opt(out, str_dup_printf("Dir::Etc::SourceList=%s/etc/sources.list", dir)) < 0 ||
	    add_opt(out, str_dup_printf("Dir::Etc::SourceParts=%s/etc/sources.list.d", dir)) < 0 ||
	    add_opt(out, str_dup_printf("Dir::Etc::Preferences=%s/etc/preferences", dir)) < 0 ||
	    add_opt(out, str_dup_printf("Dir::Etc::PreferencesParts=%s/etc/preferences.d", dir)) <
	        0 ||
	    add_opt(out, str_dup_printf("Dir::State=%s/state", dir)) < 0 ||
	    add_opt(out, str_dup_printf("Dir::State::status=%s", status)) < 0 ||
	    add_opt(out, str_dup_printf("Dir::Cache=%s/cache", dir)) < 0 ||
	    add_opt(out, str_dup_printf("APT::Architecture=%s", arch)) < 0 ||
	    add_opt(out, str_dup_printf("APT::Install-Recommends=%s", "false")) < 0 ||
	    add_opt(out, str_dup_printf("APT::Get::List-Cleanup=%s", "true")) < 0) {
		apt_suite_free(out);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}

	/* apt-get -q update, signatures checked as for the machine's apt */
	size_t n = 0;
	char *argv[64];
	argv[n++] = "apt-get";
	for (size_t i = 0; i < out->n_opts; i++)
		argv[n++] = out->argv_opts[i];
	argv[n++] = "-q";
	argv[n++] = "update";
	argv[n] = NULL;
	_cleanup_buf_ struct buf errout = BUF_INIT(APT_OUTPUT_MAX);
	int status_code = 0;
	/* apt-get update refuses to run beside another on the same lists
	 * (two ferry pack at once): they take turns on a lock of ferry's own */
	_cleanup_free_ char *lock_path = str_dup_printf("%s/update.lock", dir);
	_cleanup_close_ int lock_fd =
	    lock_path ? open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
	if (lock_fd >= 0) {
		while (flock(lock_fd, LOCK_EX) < 0 && errno == EINTR)
			;
	}
	rc = apt_run(argv, NULL, NULL, NULL, &errout, &status_code, err);
	if (rc == 0 && status_code != 0) {
		char msg[768];
		apt_child_message(&errout, msg, sizeof(msg));
		rc = ferry_error_set(err, FERRY_E_VERIFY, "apt-get update for %s: %s", suite,
		                     msg[0] ? msg : "failed");
	}
	/* apt-get update says "W: ... not signed" without failing for a
	 * repository it cannot verify when told to allow it; refuse anyway */
	if (rc == 0 && errout.data &&
	    (strstr(errout.data, "is not signed") || strstr(errout.data, "NO_PUBKEY")))
		rc = ferry_error_set(err, FERRY_E_VERIFY, "apt-get update for %s: %s", suite,
		                     "the archive's Release file is not signed by a trusted key");
	if (rc < 0)
		apt_suite_free(out);
	return rc;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int apt_parse_release_date(const char *s, uint64_t *epoch)
{
	char wd[8], mon[8], zone[8];
	int day, year, hh, mm, ss;
	if (sscanf(s, "%3s, %d %3s %d %d:%d:%d %5s", wd, &day, mon, &year, &hh, &mm, &ss, zone) !=
	    8)
		return FERRY_E_INVALID;
	if (strcmp(zone, "UTC") != 0 && strcmp(zone, "GMT") != 0 && strcmp(zone, "+0000") != 0)
		return FERRY_E_INVALID;
	int m = -1;
	for (int i = 0; i < 12; i++)
		if (strcmp(mon, months[i]) == 0)
			m = i;
	if (m < 0 || day < 1 || day > 31 || year < 1970 || year > 2105 || hh < 0 || hh > 23 ||
	    mm < 0 || mm > 59 || ss < 0 || ss > 60)
		return FERRY_E_INVALID;
	struct tm tm = {.tm_year = year - 1900,
	                .tm_mon = m,
	                .tm_mday = day,
	                .tm_hour = hh,
	                .tm_min = mm,
	                .tm_sec = ss};
	time_t t = timegm(&tm);
	if (t < 0)
		return FERRY_E_INVALID;
	*epoch = (uint64_t)t;
	return 0;
}

int apt_suite_release_epoch(const struct apt_suite *s, uint64_t *epoch, ferry_error *err)
{
	char lists[APT_SUITE_PATH_MAX + 32];
	*epoch = 0;
	if (str_printf(lists, sizeof(lists), "%s/state/lists", s->dir) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "path too long");
	struct dirent **names = NULL;
	int n = scandir(lists, &names, NULL, alphasort);
	if (n < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", lists);
	int found = 0;
	for (int i = 0; i < n; i++) {
		char file[APT_SUITE_PATH_MAX + 300];
		int fd = -1;
		if (str_has_suffix(names[i]->d_name, "_InRelease") &&
		    str_printf(file, sizeof(file), "%s/%s", lists, names[i]->d_name) == 0 &&
		    (fd = open(file, O_RDONLY | O_CLOEXEC)) >= 0) {
			char head[RELEASE_HEAD_MAX + 1];
			ssize_t r = read(fd, head, RELEASE_HEAD_MAX);
			close(fd);
			head[r > 0 ? r : 0] = '\0';
			const char *d = strstr(head, "\nDate: ");
			uint64_t t = 0;
			if (d && apt_parse_release_date(d + 7, &t) == 0) {
				found++;
				if (t > *epoch)
					*epoch = t;
			}
		}
		free(names[i]);
	}
	free(names);
	if (!found)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: no InRelease with a Date for %s",
		                       lists, s->suite);
	return 0;
}
