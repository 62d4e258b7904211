/* stage.h: stages the Debian packages a manifest's parts name under
 * stage-packages into a package tree, and records exactly what was staged.
 *
 * For each "NAME" or "NAME=VERSION" (as apt takes them) it asks apt for the
 * one .deb it would fetch (apt-get download --print-uris: URI, file name,
 * size and SHA-256 from the archive's signed indexes), takes it from the
 * optional cache when a file of that name has that SHA-256, else fetches it
 * with apt-get download into a private folder (apt checks the archive's
 * signatures and the .deb's hash) and checks the SHA-256 again. It reads the
 * control fields with dpkg-deb -f, unpacks with dpkg-deb -x into an empty
 * scratch folder, and merges that into the tree applying the part's prime
 * filters. Nothing is ever installed on the build machine; programs are run
 * with fork/exec, never through a shell, after their arguments are checked.
 *
 * A part that follows Depends (stage-packages-deps) first asks apt which
 * packages installing its stage-packages would fetch (apt-get install
 * --print-uris against the base's dpkg status, or an empty one) and stages
 * exactly those, pinned to the versions apt chose; what the base holds at
 * that version is not fetched. Staging from a base's suite goes through
 * ferry's own apt configuration for it (pkg/apt.h).
 *
 * Without a pinned version apt offers its candidate, the newest the
 * configured archive has, so a rebuild picks up security fixes.
 *
 * The merge never follows a symbolic link in the tree, refuses anything but
 * regular files, directories and symlinks, rewrites absolute symlinks into
 * relative ones inside the tree, and fails when a file is already there with
 * other content. It does not check setuid bits or links that leave the tree:
 * the image writer refuses those, naming the path. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "pkg/manifest.h"

#define STAGE_MAX_PACKAGES 512          /* .debs in one package */
#define STAGE_MAX_FILES_PER_DEB 100000u /* entries merged from one .deb */

/* One staged .deb: its control fields and the hash of the file. */
struct stage_deb {
	char *part;           /* the part that named it */
	char *name;           /* Package */
	char *version;        /* Version, with any epoch: "1:2.38.1-5+deb12u3" */
	char *arch;           /* Architecture: "amd64", "all", ... */
	char *source;         /* Source name, or name when the field is absent */
	char *source_version; /* Source "(version)", or version when absent */
	char *sha256;         /* hex SHA-256 of the .deb */
	char *filename;       /* the .deb's file name as apt names it */
};

struct stage_result {
	struct stage_deb *debs; /* in the order the manifest names them, then
	                         * the Depends apt added */
	size_t n;
	size_t n_left_out; /* named, but held by the base at that version */
};

struct apt_suite;

/* Called before each step on a terminal; what is one line, e.g.
 * "fetching jq". */
typedef void (*stage_progress_fn)(const char *what, void *ctx);

struct stage_opts {
	/* A private, empty directory stage may use for downloads and scratch
	 * (required). Stage makes it 0711 so that apt's unprivileged download
	 * user can reach the download folder inside it. */
	const char *work_dir;
	/* Debian architecture to fetch (NAME:ARCH) when it is not the build
	 * machine's; NULL for the build machine's. */
	const char *arch;
	/* A directory of .debs kept between runs; NULL for none. A file there
	 * is used only when its SHA-256 is the one apt's indexes give. */
	const char *cache_dir;
	/* ferry's own apt configuration for a base's suite (pkg/apt.h); NULL:
	 * the build machine's apt, as for a package without a base. */
	const struct apt_suite *apt;
	/* What the base already holds (its dpkg status; NULL: nothing). A
	 * package apt offers at a version the base holds is left out. Parts
	 * that follow Depends (manifest_part_follows_deps) ask apt to resolve
	 * against the apt configuration's dpkg status instead, which is the
	 * base's, or an empty one without a base. */
	const struct stage_result *held;
	stage_progress_fn progress; /* may be NULL */
	void *progress_ctx;
};

/* Stage every part of m into the tree at tree. On failure the message names
 * the part, the package and apt's or dpkg's own words, e.g.
 *   parts.tools.stage-packages: nosuch: apt-get: Unable to locate package nosuch */
int stage_parts(const struct manifest *m, const char *tree, const struct stage_opts *opts,
                struct stage_result *out, ferry_error *err) FERRY_WUR;

void stage_result_free(struct stage_result *r);

/* Is spec a Debian package as apt takes it: NAME or NAME=VERSION, with the
 * character rules of Debian policy (so it can never read as an option)? */
bool stage_valid_spec(const char *spec);

/* Does the path inside the tree (relative, no leading "/") survive the prime
 * filters? Filters are globs (fnmatch with FNM_PATHNAME); one that matches a
 * directory matches everything below it. A filter starting with "-" drops
 * what it matches. When at least one filter does not start with "-", only
 * what such a filter matches is kept. No filters keep everything. */
bool stage_prime_keep(char *const *filters, size_t n, const char *path);

/* Parse the output of `dpkg-deb -f FILE Package Version Architecture Source`
 * into d's name, version, arch, source and source_version. */
int stage_parse_control(const char *text, struct stage_deb *d, ferry_error *err) FERRY_WUR;

/* Parse one line of `apt-get download --print-uris`:
 *   'URI' FILENAME SIZE SHA256:HEX
 * into the file name and the hex SHA-256 (both malloc'd). */
int stage_parse_print_uris(const char *line, char **filename, char **sha256,
                           ferry_error *err) FERRY_WUR;

/* The distribution the build machine's apt fetches from, from
 * /etc/os-release (or the file at path when not NULL): vendor is ID
 * ("debian"), distro is "ID-VERSION_ID" ("debian-12"). Either may come back
 * empty when the file does not say. */
int stage_distro(const char *path, char *vendor, size_t vendor_size, char *distro,
                 size_t distro_size) FERRY_WUR;
