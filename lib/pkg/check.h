/* check.h: the checks a package tree passes before it runs anywhere, the
 * same for `ferry pack` (on its staged tree) and for ferryd (on the
 * directory `ferry try` names): see check.c. */
#pragma once

#include "base/error.h"
#include "pkg/manifest.h"

/* What image.h's writer refuses, without writing an image: only
 * directories, regular files and symlinks, no setuid or setgid file, no
 * link that resolves outside the tree, bounded depth, names, entries and
 * size. Messages name the path inside the tree (image_write's). */
int pkg_check_safety(const char *dir, ferry_error *err) FERRY_WUR;
/* Every declared hook has an executable meta/hooks/NAME, and every file
 * there is a declared hook. root: the tree's directory. */
int pkg_check_hooks(int root, const struct manifest *m, ferry_error *err) FERRY_WUR;
/* Every app's command is an executable regular file in the tree (symlinks
 * resolved inside it). */
int pkg_check_apps(int root, const struct manifest *m, ferry_error *err) FERRY_WUR;
