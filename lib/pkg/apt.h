/* apt.h: running apt and dpkg's tools for ferry, and apt configurations of
 * ferry's own for one Debian suite.
 *
 * apt_run runs a program (fork/exec, never a shell) with standard input
 * /dev/null, the C locale, and its output kept under a bound.
 *
 * A suite configuration (struct apt_suite) is a folder of apt state that
 * belongs to ferry, not to the build machine: its own sources list naming
 * one suite (and its -security suite when the machine has one), its own
 * lists and .deb cache, and a dpkg status that says what counts as
 * installed (a base's, or none). The mirror is the one the build machine's
 * apt uses for its own release (/etc/apt/sources.list and sources.list.d,
 * one-line and deb822 forms), so no host name is written into ferry; the
 * keyring is that entry's Signed-By, else Debian's archive keyring. apt
 * checks the signed InRelease of every suite, as for the machine's own
 * apt. It does not resolve or fetch packages itself: stage.c asks apt. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

#define APT_OUTPUT_MAX (1024 * 1024) /* bytes kept of a child's stdout or stderr */
#define APT_URI_MAX 512
#define APT_SUITE_PATH_MAX 1024
#define APT_DEFAULT_KEYRING "/usr/share/keyrings/debian-archive-keyring.gpg"

/* Run argv (argv[0] looked up in PATH) in cwd (NULL: ours), with stdin
 * /dev/null, LC_ALL=C and the extra environment entries in env_extra
 * ("K=V", NULL-terminated; may be NULL); keep up to max bytes of stdout in
 * out and stderr in errout (either NULL to discard). *status is the exit
 * code, or 128+signal. */
int apt_run(char *const argv[], const char *cwd, char *const *env_extra, struct buf *out,
            struct buf *errout, int *status, ferry_error *err) FERRY_WUR;

/* The lines of apt's or dpkg's stderr worth showing: "E: ..." lines without
 * the prefix, else the last non-empty line. */
void apt_child_message(const struct buf *errout, char *msg, size_t size);

/* KEY=value of an os-release text, quotes removed, into out ("" when
 * absent or longer than size allows). Callers check the value's grammar. */
void apt_os_release_value(const char *text, const char *key, char *out, size_t size);

/* Where the build machine's apt fetches its own release from. */
struct apt_mirrors {
	char archive[APT_URI_MAX];  /* "http://HOST/debian" */
	char security[APT_URI_MAX]; /* "" when the machine names none */
	char keyring[APT_URI_MAX];  /* Signed-By of the archive's entry */
};

/* Read the machine's sources (etc_apt: its /etc/apt folder, NULL for the
 * real one) for the entries of its release codename (from os_release, NULL
 * for /etc/os-release): the entry listing CODENAME is the archive,
 * CODENAME-security the security archive. */
int apt_host_mirrors(const char *etc_apt, const char *os_release, struct apt_mirrors *out,
                     ferry_error *err) FERRY_WUR;

/* Parse one sources file's text (one-line form when deb822 is false) and
 * fill out for codename; returns 1 when the archive was found in it. */
int apt_sources_parse(const char *text, bool deb822, const char *codename, struct apt_mirrors *out);

struct apt_suite {
	char dir[APT_SUITE_PATH_MAX];
	char suite[64];
	char **argv_opts; /* "-o", "Dir::...=...", ... NULL-terminated */
	size_t n_opts;
	bool has_security;
};

/* Set up (or reuse) the configuration in dir for suite and arch from
 * mirrors, with status_file as dpkg's status (NULL: an empty one), and run
 * apt-get update there (signatures checked). Messages name the suite. */
int apt_suite_open(const char *dir, const char *suite, const char *arch,
                   const struct apt_mirrors *mirrors, const char *status_file,
                   struct apt_suite *out, ferry_error *err) FERRY_WUR;
void apt_suite_free(struct apt_suite *s);

/* The "deb [signed-by=...] URI SUITE main" lines of the suite (for
 * mmdebstrap), into lines[0..1]; *n is 1 or 2. free() each. */
int apt_suite_source_lines(const struct apt_suite *s, const struct apt_mirrors *m, char *lines[2],
                           size_t *n) FERRY_WUR;

/* The newest Date: of the suite's signed InRelease files, as seconds since
 * 1970: the archive state the configuration saw (SOURCE_DATE_EPOCH). */
int apt_suite_release_epoch(const struct apt_suite *s, uint64_t *epoch, ferry_error *err) FERRY_WUR;

/* Parse an RFC 2822 date as Release files write it ("Sat, 11 Jul 2026
 * 10:16:37 UTC"). */
int apt_parse_release_date(const char *s, uint64_t *epoch) FERRY_WUR;

/* The per-user folder for the suite's configuration:
 * $FERRY_APT_CACHE, else $XDG_CACHE_HOME/ferry/apt, else ~/.cache/ferry/apt,
 * then /SUITE_ARCH. */
int apt_suite_default_dir(const char *suite, const char *arch, char *out, size_t size) FERRY_WUR;
