/* elf.h: reads what the dynamic loader needs of an ELF file: its class and
 * machine, its DT_NEEDED libraries, DT_SONAME, DT_RUNPATH/DT_RPATH, the
 * symbol versions it needs from each library (DT_VERNEED) and those it
 * defines (DT_VERDEF).
 *
 * The bytes may be hostile (a package is the publisher's, a base may come
 * from anywhere): every offset and count is checked against the buffer
 * before use, with overflow-safe arithmetic, following the program headers
 * as the loader does (PT_DYNAMIC, addresses mapped through PT_LOAD). Counts
 * are bounded (ELF_MAX_*); a malformed file is FERRY_E_CORRUPT with what is
 * wrong, never a crash or an unbounded allocation. 32- and 64-bit, little-
 * and big-endian. It does not relocate, resolve symbols or run anything. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define ELF_MAX_PHDRS 256
#define ELF_MAX_DYNAMIC 4096  /* entries of PT_DYNAMIC */
#define ELF_MAX_NEEDED 256    /* DT_NEEDED entries */
#define ELF_MAX_VERSIONS 4096 /* VERNEED auxiliaries and VERDEF entries, each */
#define ELF_MAX_STRING 4096   /* bytes of any one name */

struct elf_verneed {
	char *file;    /* the library, as in DT_NEEDED: "libc.so.6" */
	char *version; /* "GLIBC_2.38" */
};

struct elf_info {
	bool is_64;
	uint16_t machine; /* e_machine */
	uint16_t type;    /* ET_EXEC, ET_DYN, ... */
	bool dynamic;     /* has PT_DYNAMIC */
	char *soname;     /* may be NULL */
	char *runpath;    /* DT_RUNPATH, else DT_RPATH; may be NULL */
	char **needed;    /* DT_NEEDED, in order */
	size_t n_needed;
	struct elf_verneed *verneed;
	size_t n_verneed;
	char **verdef; /* names defined (the base entry, the soname, included) */
	size_t n_verdef;
};

/* Is this the start of an ELF file (at least 4 bytes: "\x7fELF")? */
bool elf_is_elf(const unsigned char *data, size_t len);

/* Parse len bytes of an ELF file into out (elf_info_free). name is used in
 * messages only. */
int elf_parse(const unsigned char *data, size_t len, const char *name, struct elf_info *out,
              ferry_error *err) FERRY_WUR;
void elf_info_free(struct elf_info *info);

/* Does info define version (in its VERDEF)? */
bool elf_defines(const struct elf_info *info, const char *version);
