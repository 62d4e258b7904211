/* revs.h: images and revisions on disk (see revs.c): checking an image,
 * mounting or extracting a revision under ROOT/mnt, reading its manifest,
 * and the file copies a change makes (images, data trees, links). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "base/error.h"
#include "pkg/manifest.h"

/* revisions.local in state.db: from the store (0), installed from a file
 * with --dangerous (1), a directory tried with ferry try (2). */
#define REV_LOCAL_FILE 1
#define REV_LOCAL_TRIED 2

int rev_image_check(const char *path, uint64_t *size, ferry_error *err) FERRY_WUR;
int rev_image_manifest(const char *image, struct manifest **out, ferry_error *err) FERRY_WUR;
int rev_mount(struct agent *ag, const char *name, const char *rev, ferry_error *err) FERRY_WUR;
int rev_unmount(struct agent *ag, const char *name, const char *rev, ferry_error *err) FERRY_WUR;
bool rev_mounted(struct agent *ag, const char *name, const char *rev);
/* The directory a tried revision is (ferry try) into dir (PATH_MAX);
 * FERRY_E_NOTFOUND when rev was not tried. */
int rev_tried_dir(struct agent *ag, const char *name, const char *rev, char *dir) FERRY_WUR;
/* Remove images/NAME_REV.ferry, or the link of a tried revision (not what it
 * links to), after rev_unmount. */
int rev_forget_image(struct agent *ag, const char *name, const char *rev,
                     ferry_error *err) FERRY_WUR;
int rev_manifest(struct agent *ag, const char *name, const char *rev, struct manifest **out,
                 ferry_error *err) FERRY_WUR;
int copy_tree(const char *src, const char *dst, ferry_error *err) FERRY_WUR;
int copy_file(const char *src, const char *dst, uint64_t *hashed_size, char sha256_hex[65],
              ferry_error *err) FERRY_WUR;
int symlink_replace(const char *target, const char *linkpath, ferry_error *err) FERRY_WUR;
