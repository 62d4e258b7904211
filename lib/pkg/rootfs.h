/* rootfs.h: builds a base, a package whose tree is a Debian root file
 * system, from the Debian archive (`ferry base build`).
 *
 * mmdebstrap (variant minbase) installs the suite, and its -security suite
 * when the build machine's apt has one, from the machine's own mirror into
 * a private folder, with SOURCE_DATE_EPOCH the newest Date of the suites'
 * signed Release files. The tree is then normalised so that the same
 * archive state gives the same bytes on any day and machine:
 *   - removed: device nodes, FIFOs and sockets (the sandbox brings its own
 *     /dev), apt's lists and caches, logs, the -old copies of dpkg's and
 *     debconf's databases, ldconfig's aux-cache, machine-id, the sources
 *     list (it names the build machine's mirror);
 *   - etc/localtime: a regular file, a copy of the zone it linked to (a
 *     mount point for the device's);
 *   - emptied (kept as mount points for the sandbox): etc/hostname,
 *     etc/resolv.conf, etc/hosts;
 *   - setuid and setgid bits cleared (nothing in a sandbox gains privilege);
 *   - absolute symlinks made relative (the same file once the tree is /);
 *   - the folder ferry/ added (where the sandbox mounts packages).
 * Then meta/ferry.yaml (type: base, version DEBIAN_VERSION+YYYYMMDD of the
 * archive date) and meta/sbom.cdx.json (every installed dpkg package, as
 * pkg/sbom.h writes them) are added, and the image is written with
 * image_write at that date.
 *
 * It does not push or sign anything, and needs root (mmdebstrap's root
 * mode) or unprivileged user namespaces (its unshare mode). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "pkg/image.h"

struct rootfs_opts {
	const char *name;     /* the base's package name: "debian-12" */
	const char *suite;    /* "bookworm" */
	const char *arch;     /* Debian architecture; NULL: the machine's */
	char *const *include; /* more packages (names only); may be NULL */
	size_t n_include;
	const char *work_dir; /* a private, empty folder for the tree */
	const char *out;      /* the image to write; NULL: NAME_VERSION_ARCH.ferry
	                       * in the current folder */
	enum image_compression compression;
	void (*progress)(const char *what, void *ctx); /* may be NULL */
	void *progress_ctx;
};

struct rootfs_result {
	char path[4096]; /* the image written */
	char version[40];
	uint64_t epoch;  /* SOURCE_DATE_EPOCH used */
	size_t packages; /* dpkg packages in the base */
};

int rootfs_build(const struct rootfs_opts *o, struct rootfs_result *res,
                 ferry_error *err) FERRY_WUR;

/* Normalise the tree at root as described above (exposed for tests). */
int rootfs_normalise(const char *root, ferry_error *err) FERRY_WUR;
