/* stage_int.h: what stage.c (child processes, merging, staging) and
 * stage_parse.c (checks on names, prime filters, reading apt's and
 * dpkg-deb's output) share. Not a public interface: only lib/pkg/stage*.c
 * include it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PATH_MAX_LEN 4096
#define SPEC_MAX 256

/* A Debian architecture name: [a-z0-9-]+. */
bool stage_valid_deb_arch(const char *s);
/* Does pattern match path or one of its parent directories? */
bool stage_filter_matches(const char *pattern, const char *path);
/* A NUL-terminated copy of len bytes of s (NULL when out of memory). */
char *stage_dup_span(const char *s, size_t len);
/* "NAME_VERSION_ARCH.deb" as apt names a .deb (":" of an epoch written
 * "%3a") into the spec "NAME=VERSION" and ARCH (both malloc'd). */
int stage_parse_deb_filename(const char *file, char **spec, char **arch);
