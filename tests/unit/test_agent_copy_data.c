/* test_agent_copy_data.c: how ferryd copies a revision's data for the next
 * one (src/agent/revs.c): copy_tree keeps the contents, modes, nesting and
 * symbolic links (as links, never followed, even when they point outside
 * the tree or nowhere) and refuses to copy onto an existing directory;
 * copy_file copies and hashes an image; symlink_replace moves a link
 * atomically and leaves one that already points right alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "revs.h"
#include "testutil.h"

static void path_of(char *out, const char *rel)
{
	snprintf(out, PATH_MAX, "%s/%s", tu_tmpdir, rel);
}

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	path_of(p, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void make_dir(const char *rel, mode_t mode)
{
	char p[PATH_MAX];
	path_of(p, rel);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void make_link(const char *target, const char *rel)
{
	char p[PATH_MAX];
	path_of(p, rel);
	assert_int_equal(symlink(target, p), 0);
}

static void assert_file(const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	path_of(p, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(p, 1 << 20, &data, &len, NULL), 0);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(data, text, len);
	free(data);
}

static void assert_link(const char *rel, const char *target)
{
	char p[PATH_MAX], got[PATH_MAX];
	path_of(p, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	ssize_t n = readlink(p, got, sizeof(got) - 1);
	assert_true(n > 0);
	got[n] = '\0';
	assert_string_equal(got, target);
}

static void assert_dir_mode(const char *rel, mode_t mode)
{
	char p[PATH_MAX];
	path_of(p, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
}

/* data/pkg/4: what revision 4 wrote, below "4/": directories ('d'), files
 * ('f', with their text) and links ('l', with their target; "@" stands for
 * the temporary directory). */
static const struct entry {
	char kind;
	const char *path, *text;
	mode_t mode;
} tree[] = {
    {'d', "", NULL, 0751},
    {'f', "settings.conf", "colour = blue\n", 0640},
    {'f', "run.sh", "#!/bin/sh\necho hi\n", 0755},
    {'f', "empty", "", 0600},
    {'d', "db", NULL, 0700},
    {'d', "db/deep", NULL, 0750},
    {'f', "db/deep/rows", "1\n2\n3\n", 0604},
    {'l', "current.conf", "settings.conf", 0},
    {'l', "outside", "/etc/passwd", 0},
    {'l', "dangling", "does-not-exist", 0},
    {'l', "deep-dir", "db/deep", 0},
    {'l', "to-secret", "@/secret", 0},
};

static void entry_path(char *out, const char *top, const struct entry *e)
{
	snprintf(out, PATH_MAX, "%s%s%s", top, *e->path ? "/" : "", e->path);
}

static void link_target(char *out, const struct entry *e)
{
	snprintf(out, PATH_MAX, "%s%s", e->text[0] == '@' ? tu_tmpdir : "",
	         e->text + (e->text[0] == '@'));
}

static void make_revision_data(void)
{
	write_file("secret", "not data\n", 0600);
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		char rel[PATH_MAX], target[PATH_MAX];
		entry_path(rel, "4", &tree[i]);
		if (tree[i].kind == 'd')
			make_dir(rel, tree[i].mode);
		else if (tree[i].kind == 'f')
			write_file(rel, tree[i].text, tree[i].mode);
		else {
			link_target(target, &tree[i]);
			make_link(target, rel);
		}
	}
}

static void test_copy_tree_keeps_files_modes_links(void **state)
{
	(void)state;
	make_revision_data();
	char src[PATH_MAX], dst[PATH_MAX];
	path_of(src, "4");
	path_of(dst, "5");
	ferry_error err;
	ferry_error_clear(&err);
	assert_int_equal(copy_tree(src, dst, &err), 0);
	/* everything as it was; links are copied as links, whatever they
	 * point at */
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		char rel[PATH_MAX], target[PATH_MAX];
		entry_path(rel, "5", &tree[i]);
		if (tree[i].kind == 'd')
			assert_dir_mode(rel, tree[i].mode);
		else if (tree[i].kind == 'f')
			assert_file(rel, tree[i].text, tree[i].mode);
		else {
			link_target(target, &tree[i]);
			assert_link(rel, target);
		}
	}
	/* the copy is independent of the original */
	write_file("5/settings.conf", "colour = red\n", 0640);
	assert_file("4/settings.conf", "colour = blue\n", 0640);
}

static void test_copy_tree_refuses_existing_target(void **state)
{
	(void)state;
	make_revision_data();
	make_dir("5", 0755);
	write_file("5/keep", "mine\n", 0600);
	char src[PATH_MAX], dst[PATH_MAX];
	path_of(src, "4");
	path_of(dst, "5");
	ferry_error err;
	ferry_error_clear(&err);
	assert_int_equal(copy_tree(src, dst, &err), FERRY_E_IO);
	assert_non_null(strstr(err.msg, "mkdir"));
	assert_file("5/keep", "mine\n", 0600);
}

static void test_copy_tree_missing_source(void **state)
{
	(void)state;
	char src[PATH_MAX], dst[PATH_MAX];
	path_of(src, "nothing");
	path_of(dst, "5");
	ferry_error err;
	ferry_error_clear(&err);
	assert_int_equal(copy_tree(src, dst, &err), FERRY_E_IO);
	assert_non_null(strstr(err.msg, src));
	assert_int_equal(access(dst, F_OK), -1);
}

static void test_copy_tree_does_not_follow_a_linked_source(void **state)
{
	(void)state;
	make_revision_data();
	make_link("4", "link-to-4");
	char src[PATH_MAX], dst[PATH_MAX];
	path_of(src, "link-to-4");
	path_of(dst, "5");
	assert_int_equal(copy_tree(src, dst, NULL), FERRY_E_IO);
}

static void test_copy_file_hashes(void **state)
{
	(void)state;
	write_file("image", "abc", 0600);
	char src[PATH_MAX], dst[PATH_MAX];
	path_of(src, "image");
	path_of(dst, "copy");
	uint64_t size = 0;
	char sha[65];
	assert_int_equal(copy_file(src, dst, &size, sha, NULL), 0);
	assert_int_equal(size, 3);
	assert_string_equal(sha,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_file("copy", "abc", 0644);
	char tmp[PATH_MAX];
	path_of(tmp, "copy.tmp");
	assert_int_equal(access(tmp, F_OK), -1);
}

static void test_symlink_replace(void **state)
{
	(void)state;
	char link[PATH_MAX];
	path_of(link, "current");
	assert_int_equal(symlink_replace("4", link, NULL), 0);
	assert_link("current", "4");
	assert_int_equal(symlink_replace("5", link, NULL), 0);
	assert_link("current", "5");
	/* pointing right already: left as it is */
	struct stat before, after;
	assert_int_equal(lstat(link, &before), 0);
	assert_int_equal(symlink_replace("5", link, NULL), 0);
	assert_int_equal(lstat(link, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	char tmp[PATH_MAX];
	path_of(tmp, "current.new");
	assert_int_equal(access(tmp, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_copy_tree_keeps_files_modes_links, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_copy_tree_refuses_existing_target, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_copy_tree_missing_source, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_copy_tree_does_not_follow_a_linked_source,
	                                    tu_tmpdir_setup, tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_copy_file_hashes, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_replace, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
