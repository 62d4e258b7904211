/* test_base.c: lib/base: error records and their HTTP mapping, bounded strings and buffers, atomic
 * replace and bounded reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/errhttp.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/str.h"
#include "testutil.h"

static void test_error_context(void **state)
{
	ferry_error err = {0};
	int rc = ferry_error_set(&err, FERRY_E_INVALID, "apps.web.daemon: expected %s", "simple");
	assert_int_equal(rc, FERRY_E_INVALID);
	rc = ferry_error_prefix(&err, rc, "meta/ferry.yaml:%d:%d", 12, 14);
	assert_int_equal(rc, FERRY_E_INVALID);
	assert_string_equal(ferry_error_msg(&err),
	                    "meta/ferry.yaml:12:14: apps.web.daemon: expected simple");
	assert_string_equal(ferry_errname(err.code), "invalid");

	ferry_error_clear(&err);
	assert_int_equal(ferry_error_prefix(&err, FERRY_E_IO, "write x"), FERRY_E_IO);
	assert_string_equal(err.msg, "write x: input/output error");

	assert_int_equal(ferry_error_errno(&err, FERRY_E_IO, ENOENT, "open %s", "/nope"),
	                 FERRY_E_IO);
	assert_string_equal(err.msg, "open /nope: No such file or directory");

	/* a NULL record is allowed and the code still comes back */
	assert_int_equal(ferry_error_set(NULL, FERRY_E_LIMIT, "x"), FERRY_E_LIMIT);
	assert_string_equal(ferry_strerror(12345), "internal error");
}

static void test_error_truncates(void **state)
{
	ferry_error err = {0};
	char big[3000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ferry_error_set(&err, FERRY_E_INVALID, "%s", big);
	ferry_error_prefix(&err, FERRY_E_INVALID, "ctx");
	assert_int_equal(strlen(err.msg), FERRY_ERROR_MSG_MAX - 1);
	assert_true(str_has_prefix(err.msg, "ctx: aaa"));
}

static void test_errhttp(void **state)
{
	static const struct {
		int code;
		unsigned status;
		const char *name;
	} want[] = {
	    {FERRY_E_INVALID, 400, "bad-request"},
	    {FERRY_E_UNSAFE, 400, "bad-request"},
	    {FERRY_E_CORRUPT, 400, "bad-request"},
	    {FERRY_E_UNSUPPORTED, 400, "bad-request"},
	    {FERRY_E_PERM, 403, "forbidden"},
	    {FERRY_E_NOTFOUND, 404, "not-found"},
	    {FERRY_E_EXISTS, 409, "conflict"},
	    {FERRY_E_LIMIT, 413, "too-large"},
	    {FERRY_E_BUSY, 503, "busy"},
	    {FERRY_E_IO, 500, "internal"},
	    {FERRY_E_DB, 500, "internal"},
	    {0, 500, "internal"},
	    {12345, 500, "internal"},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct ferry_http_error h = ferry_http_error_of(want[i].code);
		assert_int_equal(h.status, want[i].status);
		assert_string_equal(h.name, want[i].name);
	}
}

static void test_str_bounds(void **state)
{
	char small[8];
	assert_int_equal(str_copy(small, sizeof(small), "1234567"), 0);
	assert_string_equal(small, "1234567");
	assert_int_equal(str_copy(small, sizeof(small), "12345678"), FERRY_E_LIMIT);
	assert_string_equal(small, "1234567");
	assert_int_equal(str_printf(small, sizeof(small), "%d", 1234567), 0);
	assert_int_equal(str_printf(small, sizeof(small), "%d", 12345678), FERRY_E_LIMIT);
	assert_true(str_has_suffix("image.ferry", ".ferry"));
	assert_false(str_has_suffix("y", ".ferry"));
}

static void test_str_numbers(void **state)
{
	unsigned long long v = 0;
	assert_int_equal(str_to_u64("42", 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(str_to_u64("101", 100, &v), FERRY_E_LIMIT);
	assert_int_equal(str_to_u64("18446744073709551616", UINT64_MAX, &v), FERRY_E_LIMIT);
	assert_int_equal(str_to_u64("18446744073709551615", UINT64_MAX, &v), 0);
	assert_int_equal(str_to_u64("-1", 100, &v), FERRY_E_INVALID);
	assert_int_equal(str_to_u64("", 100, &v), FERRY_E_INVALID);
	assert_int_equal(str_to_u64("4x", 100, &v), FERRY_E_INVALID);

	assert_int_equal(str_parse_duration_ms("500ms", UINT64_MAX, &v), 0);
	assert_int_equal(v, 500);
	assert_int_equal(str_parse_duration_ms("30s", UINT64_MAX, &v), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(str_parse_duration_ms("5m", UINT64_MAX, &v), 0);
	assert_int_equal(v, 300000);
	assert_int_equal(str_parse_duration_ms("1h", UINT64_MAX, &v), 0);
	assert_int_equal(v, 3600000);
	assert_int_equal(str_parse_duration_ms("2h", 3600000, &v), FERRY_E_LIMIT);
	assert_int_equal(str_parse_duration_ms("5", UINT64_MAX, &v), FERRY_E_INVALID);
	assert_int_equal(str_parse_duration_ms("5d", UINT64_MAX, &v), FERRY_E_INVALID);
	assert_int_equal(str_parse_duration_ms("s", UINT64_MAX, &v), FERRY_E_INVALID);
	assert_int_equal(str_parse_duration_ms("99999999999999999999999h", UINT64_MAX, &v),
	                 FERRY_E_LIMIT);
}

static void test_did_you_mean(void **state)
{
	const char *const keys[] = {"name", "version", "summary", "daemon", NULL};
	assert_string_equal(str_did_you_mean("versoin", keys), "version");
	assert_string_equal(str_did_you_mean("deamon", keys), "daemon");
	assert_null(str_did_you_mean("colour", keys));
	assert_int_equal(str_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(str_edit_distance("", "abc"), 3);
}

static void test_utf8(void **state)
{
	assert_true(str_valid_utf8("h\xc3\xa9llo", 6));
	assert_true(str_valid_utf8("\xf0\x9f\x98\x80", 4));
	assert_false(str_valid_utf8("\xc3", 1));             /* truncated */
	assert_false(str_valid_utf8("\xc0\xaf", 2));         /* overlong */
	assert_false(str_valid_utf8("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(str_valid_utf8("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(str_valid_utf8("\xff", 1));
	char hex[9];
	str_hex((const unsigned char *)"\x01\xab\xff\x00", 4, hex);
	assert_string_equal(hex, "01abff00");
}

static void test_buf_bounded(void **state)
{
	_cleanup_buf_ struct buf b = BUF_INIT(10);
	assert_int_equal(buf_append_str(&b, "hello"), 0);
	assert_int_equal(buf_printf(&b, "%d", 12345), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "hello12345");
	assert_int_equal(buf_append(&b, "x", 1), FERRY_E_LIMIT);
	assert_int_equal(buf_printf(&b, "y"), FERRY_E_LIMIT);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "hello12345");
	size_t len = 0;
	_cleanup_free_ char *p = buf_steal(&b, &len);
	assert_int_equal(len, 10);
	assert_string_equal(p, "hello12345");
	assert_null(b.data);
}

/* A buffer that was only reserved (nothing appended) is stolen as "". */
static void test_buf_steal_reserved(void **state)
{
	struct buf b = BUF_INIT(100);
	assert_int_equal(buf_reserve(&b, 50), 0);
	size_t len = 1;
	_cleanup_free_ char *p = buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
}

static void test_atomic_write_and_read(void **state)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/file", tu_tmpdir);
	ferry_error err = {0};
	assert_int_equal(fs_write_atomic(path, "first", 5, 0600, &err), 0);
	assert_int_equal(fs_write_atomic(path, "second!", 7, 0644, &err), 0);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(path, 7, &data, &len, &err), 0);
	assert_int_equal(len, 7);
	assert_string_equal(data, "second!");

	/* one byte over the bound fails and names the file */
	_cleanup_free_ char *data2 = NULL;
	assert_int_equal(fs_read_file(path, 6, &data2, &len, &err), FERRY_E_LIMIT);
	assert_non_null(strstr(err.msg, path));
	assert_null(data2);

	/* no temporary file is left behind */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 1", tu_tmpdir);
	assert_int_equal(system(cmd), 0);
}

static void test_read_pipe_bounded(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	char chunk[5000];
	memset(chunk, 'z', sizeof(chunk));
	assert_int_equal(fs_write_all(p[1], chunk, sizeof(chunk)), 0);
	close(p[1]);
	_cleanup_free_ char *data = NULL;
	ferry_error err = {0};
	assert_int_equal(fs_read_fd(p[0], "pipe", 4999, &data, NULL, &err), FERRY_E_LIMIT);
	close(p[0]);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(fs_write_all(p[1], chunk, sizeof(chunk)), 0);
	close(p[1]);
	size_t len = 0;
	assert_int_equal(fs_read_fd(p[0], "pipe", 5000, &data, &len, &err), 0);
	assert_int_equal(len, 5000);
	close(p[0]);
}

static void test_read_missing(void **state)
{
	_cleanup_free_ char *data = NULL;
	ferry_error err = {0};
	assert_int_equal(fs_read_file("/nonexistent/x", 10, &data, NULL, &err), FERRY_E_NOTFOUND);
	assert_string_equal(err.msg, "open /nonexistent/x: No such file or directory");
}

static void test_mkdir_and_remove(void **state)
{
	char path[512], file[600];
	snprintf(path, sizeof(path), "%s/a/b/c", tu_tmpdir);
	assert_int_equal(fs_mkdir_p(path, 0755, NULL), 0);
	assert_int_equal(fs_mkdir_p(path, 0755, NULL), 0);
	snprintf(file, sizeof(file), "%s/f", path);
	assert_int_equal(fs_write_atomic(file, "x", 1, 0444, NULL), 0);
	assert_int_equal(chmod(path, 0555), 0); /* read-only tree still goes */
	snprintf(file, sizeof(file), "%s/a/link", tu_tmpdir);
	assert_int_equal(symlink("/etc", file), 0); /* never followed */
	snprintf(path, sizeof(path), "%s/a", tu_tmpdir);
	assert_int_equal(fs_remove_tree(path, NULL), 0);
	assert_false(fs_exists(path));
	assert_true(fs_exists("/etc/hostname") || fs_exists("/etc/passwd"));
	assert_int_equal(fs_remove_tree(path, NULL), 0);
}

/* A tree whose full paths are longer than PATH_MAX is still removed. */
static void test_remove_deep_tree(void **state)
{
	char top[512], name[201];
	snprintf(top, sizeof(top), "%s/deep", tu_tmpdir);
	assert_int_equal(mkdir(top, 0755), 0);
	memset(name, 'd', 200);
	name[200] = '\0';
	int fd = open(top, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (int i = 0; i < 30; i++) { /* 30 x 201 bytes > 4096 */
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		int sub = openat(fd, name, O_RDONLY | O_DIRECTORY);
		assert_true(sub >= 0);
		close(fd);
		fd = sub;
	}
	int f = openat(fd, "file", O_WRONLY | O_CREAT, 0644);
	assert_true(f >= 0);
	close(f);
	close(fd);
	assert_int_equal(fs_remove_tree(top, NULL), 0);
	assert_false(fs_exists(top));
}

/* Make levels nested directories under top (relative, so that no full path
 * has to fit PATH_MAX), a file in every tenth; returns the deepest, open. */
static int make_deep(const char *top, int levels)
{
	assert_int_equal(mkdir(top, 0755), 0);
	int fd = open(top, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (int i = 0; i < levels; i++) {
		assert_int_equal(mkdirat(fd, "dd", 0755), 0);
		if (i % 10 == 0) {
			int f = openat(fd, "file", O_WRONLY | O_CREAT, 0644);
			assert_true(f >= 0);
			close(f);
		}
		int sub = openat(fd, "dd", O_RDONLY | O_DIRECTORY);
		assert_true(sub >= 0);
		close(fd);
		fd = sub;
	}
	return fd;
}

/* Any depth goes, without recursion (the old remover stopped at 256). */
static void test_remove_very_deep_tree(void **state)
{
	char top[512];
	snprintf(top, sizeof(top), "%s/deeper", tu_tmpdir);
	int fd = make_deep(top, 1000);
	assert_int_equal(mkfifoat(fd, "fifo", 0600), 0);
	assert_int_equal(symlinkat("/etc/passwd", fd, "link"), 0);
	assert_int_equal(fchmod(fd, 0555), 0); /* read-only at the bottom */
	close(fd);
	ferry_error err = {0};
	assert_int_equal(fs_remove_tree(top, &err), 0);
	assert_false(fs_exists(top));
	assert_true(fs_exists("/etc/passwd"));
}

static int count_entry(void *ctx, enum fs_walk_event ev, struct fs_walk_entry *e, ferry_error *err)
{
	(void)e;
	(void)err;
	if (ev != FS_WALK_LEAVE)
		(*(int *)ctx)++;
	return 0;
}

/* A walk with a depth limit fails before it opens the directory beyond it,
 * and says where and which limit. */
static void test_walk_depth_limit(void **state)
{
	char top[512];
	snprintf(top, sizeof(top), "%s/limited", tu_tmpdir);
	close(make_deep(top, 300));
	int fd = open(top, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	int n = 0;
	ferry_error err = {0};
	assert_int_equal(fs_walk(fd, -1, top, 256, false, count_entry, &n, &err), FERRY_E_LIMIT);
	assert_non_null(strstr(err.msg, "/dd/dd/"));
	assert_non_null(strstr(err.msg, "more than 256 levels"));
	assert_int_equal(n, 256 + 26); /* 256 directories, a file in every tenth */
	n = 0;
	assert_int_equal(fs_walk(fd, -1, top, 300, false, count_entry, &n, &err), 0);
	assert_int_equal(n, 300 + 30);
	close(fd);
	assert_int_equal(fs_remove_tree(top, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_context),
	    cmocka_unit_test(test_error_truncates),
	    cmocka_unit_test(test_errhttp),
	    cmocka_unit_test(test_str_bounds),
	    cmocka_unit_test(test_str_numbers),
	    cmocka_unit_test(test_did_you_mean),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_buf_bounded),
	    cmocka_unit_test(test_buf_steal_reserved),
	    cmocka_unit_test(test_atomic_write_and_read),
	    cmocka_unit_test(test_read_pipe_bounded),
	    cmocka_unit_test(test_read_missing),
	    cmocka_unit_test(test_mkdir_and_remove),
	    cmocka_unit_test(test_remove_deep_tree),
	    cmocka_unit_test(test_remove_very_deep_tree),
	    cmocka_unit_test(test_walk_depth_limit),
	};
	return cmocka_run_group_tests(tests, tu_tmpdir_setup, tu_tmpdir_teardown);
}
