/* testutil.h: what the cmocka unit tests share: a fresh temporary directory
 * (tu_tmpdir) made by a setup and removed with everything in it by the
 * matching teardown, and the fixture files under tests/data of the source
 * tree (FERRY_SOURCE_DIR, which tests/unit/meson.build sets).
 *
 * Header-only, one copy per test program; include it after <cmocka.h>. It
 * does not know about any module under test. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"

/* The directory of the running group or test; "" outside of one. */
static char tu_tmpdir[256] __attribute__((unused));

/* cmocka setup: make tu_tmpdir, /tmp/ferry-test-NAME-XXXXXX where NAME is
 * the program's name without its "test_". */
static inline int tu_tmpdir_setup(void **state)
{
	(void)state;
	const char *name = program_invocation_short_name;
	if (strncmp(name, "test_", 5) == 0)
		name += 5;
	snprintf(tu_tmpdir, sizeof(tu_tmpdir), "/tmp/ferry-test-%s-XXXXXX", name);
	assert_non_null(mkdtemp(tu_tmpdir));
	return 0;
}

/* cmocka teardown: remove tu_tmpdir and all below it. */
static inline int tu_tmpdir_teardown(void **state)
{
	(void)state;
	assert_int_equal(fs_remove_tree(tu_tmpdir, NULL), 0);
	tu_tmpdir[0] = '\0';
	return 0;
}

/* A newly allocated path: "$FERRY_SOURCE_DIR/tests/data/REL" (the source
 * directory defaults to "."). */
static inline char *tu_data_path(const char *rel)
{
	const char *src = getenv("FERRY_SOURCE_DIR");
	char *p = NULL;
	assert_true(asprintf(&p, "%s/tests/data/%s", src ? src : ".", rel) > 0);
	return p;
}

/* The whole fixture file tests/data/REL (at most 1 MiB), NUL-terminated,
 * newly allocated; its length goes to *len when len is not NULL. */
static inline char *tu_read_data(const char *rel, size_t *len)
{
	_cleanup_free_ char *path = tu_data_path(rel);
	char *data = NULL;
	size_t n = 0;
	assert_int_equal(fs_read_file(path, 1 << 20, &data, &n, NULL), 0);
	if (len)
		*len = n;
	return data;
}
