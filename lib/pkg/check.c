/* check.c: the checks a package tree passes before it runs anywhere. `ferry
 * pack` applies them to the tree it staged (lib/pkg's image writer applies
 * the safety rules once more as it writes); ferryd applies them to the
 * directory `ferry try` names, which runs as it is, without an image. The
 * manifest itself is checked by manifest.c. This file changes nothing on
 * disk. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/str.h"
#include "pkg/check.h"
#include "pkg/image.h"
#include "pkg/image_int.h"

int pkg_check_safety(const char *dir, ferry_error *err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", dir);
	struct tree t;
	int rc = tree_scan(fd, IMAGE_MAX_FILES, IMAGE_MAX_BYTES, &t, err);
	tree_free(&t);
	return rc;
}

/* Open path inside the tree, symlinks resolved as if the tree were "/". */
static int open_in_tree(int root, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_PATH, .resolve = RESOLVE_IN_ROOT};
	int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		/* kernels before 5.6: no symlinks followed at all */
		fd = openat(root, path, O_RDONLY | O_CLOEXEC | O_PATH | O_NOFOLLOW);
	}
	return fd;
}

/* field (apps.NAME.command, ...) names path: an executable regular file of
 * the tree */
static int check_program(int root, const char *field, const char *path, ferry_error *err)
{
	_cleanup_close_ int fd = open_in_tree(root, path);
	struct stat st;
	if (fd < 0)
		return ferry_error_set(err, FERRY_E_NOTFOUND, "%s: %s is not in the package", field,
		                       path);
	if (fstat(fd, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s: %s", field, path);
	if (!S_ISREG(st.st_mode))
		return ferry_error_set(err, FERRY_E_INVALID, "%s: %s is not a regular file", field,
		                       path);
	if (!(st.st_mode & 0111))
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s: %s is not executable (chmod +x it)", field, path);
	return 0;
}

int pkg_check_apps(int root, const struct manifest *m, ferry_error *err)
{
	for (size_t i = 0; i < m->n_apps; i++) {
		const struct manifest_app *a = &m->apps[i];
		char field[160];
		snprintf(field, sizeof(field), "apps.%s.command", a->name);
		int rc = check_program(root, field, a->command, err);
		for (size_t k = 0; rc == 0 && k < a->n_command_chain; k++) {
			snprintf(field, sizeof(field), "apps.%s.command-chain[%zu]", a->name, k);
			rc = check_program(root, field, a->command_chain[k], err);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int pkg_check_hooks(int root, const struct manifest *m, ferry_error *err)
{
	const char *known[HOOK__COUNT + 1];
	for (int h = 0; h < HOOK__COUNT; h++)
		known[h] = manifest_hook_name((enum manifest_hook)h);
	known[HOOK__COUNT] = NULL;

	/* every declared hook has its program */
	for (int h = 0; h < HOOK__COUNT; h++) {
		if (!m->hooks[h].present)
			continue;
		char rel[64];
		struct stat st;
		snprintf(rel, sizeof(rel), "meta/hooks/%s", known[h]);
		if (fstatat(root, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return ferry_error_set(err, FERRY_E_NOTFOUND, "hooks.%s: %s is missing",
			                       known[h], rel);
		if (!S_ISREG(st.st_mode))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "hooks.%s: %s is not a regular file", known[h], rel);
		if (!(st.st_mode & 0111))
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "hooks.%s: %s is not executable (chmod +x it)",
			                       known[h], rel);
	}

	/* every file in meta/hooks is a declared hook */
	_cleanup_close_ int hd =
	    openat(root, "meta/hooks", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (hd < 0) {
		if (errno == ENOENT)
			return 0;
		return ferry_error_errno(err, FERRY_E_INVALID, errno, "meta/hooks");
	}
	struct dirent **names = NULL;
	int n = scandirat(hd, ".", &names, NULL, alphasort);
	if (n < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "meta/hooks");
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (rc == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			int h = -1;
			for (int k = 0; k < HOOK__COUNT; k++)
				if (strcmp(name, known[k]) == 0)
					h = k;
			if (h < 0) {
				const char *near = str_did_you_mean(name, known);
				if (near)
					rc = ferry_error_set(
					    err, FERRY_E_INVALID,
					    "meta/hooks/%s: not a hook; did you mean "
					    "\"%s\"?",
					    name, near);
				else
					rc = ferry_error_set(
					    err, FERRY_E_INVALID,
					    "meta/hooks/%s: not a hook (hooks are install, "
					    "configure, "
					    "pre-refresh, post-refresh, check-health and remove)",
					    name);
			} else if (!m->hooks[h].present) {
				rc = ferry_error_set(err, FERRY_E_INVALID,
				                     "meta/hooks/%s: not declared under hooks in "
				                     "meta/ferry.yaml (add \"hooks: {%s: {}}\")",
				                     name, name);
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}
