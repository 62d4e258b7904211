/* test_name.c: lib/pkg/name: the package-name grammar at its edges (lengths,
 * hyphens, letters, case, bytes outside ASCII) and the reason given for
 * each refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pkg/name.h"

static void expect_problem(const char *name, size_t min, const char *why)
{
	const char *got = pkg_name_problem(name, min);
	assert_non_null(got);
	assert_string_equal(got, why);
}

static void test_package_names(void **state)
{
	(void)state;
	assert_true(pkg_name_valid("ab"));
	assert_true(pkg_name_valid("web-server-2"));
	assert_true(pkg_name_valid("2fa"));
	assert_true(pkg_name_valid("a1"));
	assert_true(pkg_name_valid("1-a"));
	assert_true(pkg_name_valid("abcdefghij-abcdefghij-abcdefghij-abcdefg"));   /* 40 */
	assert_false(pkg_name_valid("abcdefghij-abcdefghij-abcdefghij-abcdefgh")); /* 41 */
	assert_false(pkg_name_valid("x"));
	assert_false(pkg_name_valid(""));
	assert_false(pkg_name_valid(NULL));
	assert_false(pkg_name_valid("-ab"));
	assert_false(pkg_name_valid("ab-"));
	assert_false(pkg_name_valid("a--b"));
	assert_false(pkg_name_valid("123"));
	assert_false(pkg_name_valid("1-2"));
	assert_false(pkg_name_valid("Web"));
	assert_false(pkg_name_valid("my_app"));
	assert_false(pkg_name_valid("a.b"));
	assert_false(pkg_name_valid("a b"));
	assert_false(pkg_name_valid("caf\xc3\xa9"));
}

static void test_app_names(void **state)
{
	(void)state;
	assert_true(pkg_app_name_valid("x"));
	assert_true(pkg_app_name_valid("ab"));
	assert_true(pkg_app_name_valid("check-health"));
	assert_true(pkg_app_name_valid("abcdefghij-abcdefghij-abcdefghij-abcdefg"));
	assert_false(pkg_app_name_valid("abcdefghij-abcdefghij-abcdefghij-abcdefgh"));
	assert_false(pkg_app_name_valid("X"));
	assert_false(pkg_app_name_valid("1"));
	assert_false(pkg_app_name_valid("-"));
	assert_false(pkg_app_name_valid(""));
	assert_false(pkg_app_name_valid(NULL));
}

static void test_problems(void **state)
{
	(void)state;
	assert_null(pkg_name_problem("web-server", PKG_NAME_MIN));
	assert_null(pkg_name_problem("w", PKG_APP_NAME_MIN));
	expect_problem("w", PKG_NAME_MIN, "2 to 40 characters");
	expect_problem("", PKG_APP_NAME_MIN, "1 to 40 characters");
	expect_problem("My_App", PKG_NAME_MIN, "only lowercase letters, digits and hyphens");
	expect_problem("-ab", PKG_NAME_MIN, "no hyphen at the start or end");
	expect_problem("ab-", PKG_NAME_MIN, "no hyphen at the start or end");
	expect_problem("a--b", PKG_NAME_MIN, "no two hyphens in a row");
	expect_problem("123", PKG_NAME_MIN, "at least one letter");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_package_names),
	    cmocka_unit_test(test_app_names),
	    cmocka_unit_test(test_problems),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
