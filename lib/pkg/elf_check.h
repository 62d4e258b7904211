/* elf_check.h: the check `ferry pack` makes on every ELF file it ships:
 * each DT_NEEDED library is found, and each symbol version the file needs
 * from it (VERNEED) is one the library defines (VERDEF).
 *
 * Libraries are looked for as the loader will find them in the sandbox: in
 * the file's DT_RUNPATH/DT_RPATH ($ORIGIN is the file's folder), in the
 * package's lib/TRIPLET, usr/lib/TRIPLET, lib and usr/lib (the sandbox puts
 * them on LD_LIBRARY_PATH), then in the root the app will run on: the base's
 * image, or the build machine's own root for an app without a base (which
 * stands in for the device's). Symbolic links are followed inside each root,
 * never out of it. A failure names the file, the library or version that is
 * missing, and the Debian package that has the library when the base's dpkg
 * data or the build machine's dpkg (dpkg -S) knows one.
 *
 * It does not check symbols themselves (only their versions), libraries
 * opened with dlopen, or ld.so.conf folders outside the standard ones. */
#pragma once

#include "base/error.h"
#include "pkg/image.h"

#define ELF_CHECK_FILE_MAX (512u * 1024 * 1024) /* bytes of one ELF file read */

struct elf_check_opts {
	const char *tree;   /* the staged package */
	struct image *base; /* the base's image; NULL: the host's root */
	const char *base_name;
	const char *host_root; /* NULL: "/" (tests may point elsewhere) */
	const char *arch;      /* Debian architecture of the package */
};

int elf_check_tree(const struct elf_check_opts *o, ferry_error *err) FERRY_WUR;
