/* test_cjson.c: lib/tuf/cjson: canonical JSON of tricky inputs (expected
 * bytes produced by securesystemslib's encode_canonical), and the parser's
 * bounds: size, depth, value count, duplicate keys, NUL, reals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "tuf/cjson.h"

static void check_canonical(const char *in, const char *want)
{
	json_t *v = NULL;
	ferry_error err = {0};
	int rc = tuf_json_parse(in, strlen(in), NULL, &v, &err);
	if (rc < 0)
		fail_msg("parse %s: %s", in, err.msg);
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	assert_int_equal(tuf_cjson_dump(v, &out, &len, NULL), 0);
	json_decref(v);
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
}

static void test_canonical_known_answers(void **state)
{
	check_canonical("{\"b\": 1, \"a\": [true, false, null], \"\": \"x\"}",
	                "{\"\":\"x\",\"a\":[true,false,null],\"b\":1}");
	/* only " and \ are escaped; everything else goes out raw as UTF-8 */
	check_canonical(
	    "{\"s\": \"quote \\\" back \\\\ slash / nl \\n tab \\t ctl \\u0001 e "
	    "\\u00e9 emoji \\ud83d\\ude00\"}",
	    "{\"s\":\"quote \\\" back \\\\ slash / nl \x0a tab \x09 ctl \x01 e \xc3\xa9 "
	    "emoji \xf0\x9f\x98\x80\"}");
	check_canonical("{\"z\": {\"y\": {}, \"x\": []}, \"B\": -42, \"a\": 9007199254740993}",
	                "{\"B\":-42,\"a\":9007199254740993,\"z\":{\"x\":[],\"y\":{}}}");
	/* keys sort by code point (UTF-8 byte order) */
	check_canonical(
	    "{\"\\u00e9\": 1, \"z\": 2, \"\\u00c0\": 3, \"Z\": 4, \"\\ud83d\\ude00\": 5, "
	    "\"\\uffff\": 6}",
	    "{\"Z\":4,\"z\":2,\"\xc3\x80\":3,\"\xc3\xa9\":1,\"\xef\xbf\xbf\":6,"
	    "\"\xf0\x9f\x98\x80\":5}");
	check_canonical("[]", "[]");
	check_canonical("\"just a string\"", "\"just a string\"");
	/* a prefix sorts before the longer key */
	check_canonical("{\"ab\":1,\"a\":2}", "{\"a\":2,\"ab\":1}");
}

static void test_canonical_refuses_reals(void **state)
{
	json_t *v = NULL;
	assert_int_equal(tuf_json_parse("{\"signed\":{\"x\":[1, 2.5]}}", 25, NULL, &v, NULL), 0);
	ferry_error err = {0};
	struct buf b = BUF_INIT(1024);
	assert_int_equal(tuf_cjson_encode(v, &b, &err), FERRY_E_INVALID);
	assert_string_equal(err.msg, "signed: x: [1]: canonical JSON has no real numbers (2.5)");
	assert_int_equal(b.len, 0);
	buf_free(&b);
	json_decref(v);
}

static void test_parse_bounds(void **state)
{
	json_t *v = NULL;
	ferry_error err = {0};
	struct tuf_json_limits lim = {.max_bytes = 64, .max_depth = 3, .max_values = 5};

	assert_int_equal(tuf_json_parse("[[[1]]]", 7, &lim, &v, &err), 0);
	json_decref(v);
	assert_int_equal(tuf_json_parse("[[[[1]]]]", 9, &lim, &v, &err), FERRY_E_LIMIT);
	assert_string_equal(err.msg, "JSON nested deeper than 3 levels");
	/* brackets inside strings do not count */
	const char *s = "[\"[[[[\\\"[[\"]";
	assert_int_equal(tuf_json_parse(s, strlen(s), &lim, &v, &err), 0);
	json_decref(v);

	assert_int_equal(tuf_json_parse("[1,2,3,4,5]", 11, &lim, &v, &err), FERRY_E_LIMIT);
	assert_string_equal(err.msg, "JSON with more than 5 values");

	char big[100];
	memset(big, ' ', sizeof(big));
	big[0] = '1';
	assert_int_equal(tuf_json_parse(big, sizeof(big), &lim, &v, &err), FERRY_E_LIMIT);
	assert_string_equal(err.msg, "JSON of 100 bytes, more than the limit of 64");

	/* depth bomb against the defaults fails fast, before jansson sees it */
	size_t n = 1 << 20;
	char *bomb = malloc(n);
	memset(bomb, '[', n);
	assert_int_equal(tuf_json_parse(bomb, n, NULL, &v, &err), FERRY_E_LIMIT);
	free(bomb);
}

static void test_parse_refusals(void **state)
{
	json_t *v = NULL;
	ferry_error err = {0};
	const char *dup = "{\"a\":1,\"a\":2}";
	assert_int_equal(tuf_json_parse(dup, strlen(dup), NULL, &v, &err), FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "duplicate object key"));
	const char *nul = "{\"a\":\"x\\u0000y\"}";
	assert_int_equal(tuf_json_parse(nul, strlen(nul), NULL, &v, &err), FERRY_E_INVALID);
	const char *trailing = "{} {}";
	assert_int_equal(tuf_json_parse(trailing, strlen(trailing), NULL, &v, &err),
	                 FERRY_E_INVALID);
	const char *badutf8 = "[\"\xc3\x28\"]";
	assert_int_equal(tuf_json_parse(badutf8, strlen(badutf8), NULL, &v, &err), FERRY_E_INVALID);
	/* not NUL-terminated input is read by length only */
	const char buf[3] = {'[', ']', 'x'};
	assert_int_equal(tuf_json_parse(buf, 2, NULL, &v, &err), 0);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_canonical_known_answers),
	    cmocka_unit_test(test_canonical_refuses_reals),
	    cmocka_unit_test(test_parse_bounds),
	    cmocka_unit_test(test_parse_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
