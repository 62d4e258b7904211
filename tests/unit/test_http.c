/* test_http.c: lib/http without a network: the public-address rule
 * (IPv4, IPv6, the IPv4 forms inside IPv6, the edges of each prefix), the
 * host check on literals, URL splitting, and the HTTP/1.x answer reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "http/address.h"
#include "http/http.h"
#include "http/reader.h"

/* NULL when public, else the refusal, for an address in text. */
static const char *refusal(const char *text)
{
	if (strchr(text, ':')) {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6};
		assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
		return http_address_refusal((struct sockaddr *)&a, sizeof(a));
	}
	struct sockaddr_in a = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, text, &a.sin_addr), 1);
	return http_address_refusal((struct sockaddr *)&a, sizeof(a));
}

static void test_ipv4(void **state)
{
	(void)state;
	static const char *const refused[] = {
	    "0.0.0.0",         "0.255.255.255",   "10.0.0.0",        "10.255.255.255",
	    "100.64.0.0",      "100.127.255.255", "127.0.0.1",       "127.255.255.255",
	    "169.254.0.0",     "169.254.169.254", "172.16.0.0",      "172.31.255.255",
	    "192.0.0.1",       "192.0.2.1",       "192.88.99.1",     "192.168.0.1",
	    "192.168.255.255", "198.18.0.0",      "198.19.255.255",  "198.51.100.7",
	    "203.0.113.9",     "224.0.0.1",       "239.255.255.255", "240.0.0.1",
	    "255.255.255.255",
	};
	static const char *const public[] = {
	    "1.1.1.1",         "8.8.8.8",     "9.255.255.255",   "11.0.0.0",
	    "100.63.255.255",  "100.128.0.0", "126.255.255.255", "128.0.0.0",
	    "169.253.255.255", "169.255.0.0", "172.15.255.255",  "172.32.0.0",
	    "192.0.1.1",       "192.0.3.1",   "192.167.255.255", "192.169.0.0",
	    "198.17.255.255",  "198.20.0.0",  "223.255.255.255", "93.184.216.34",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (!refusal(refused[i]))
			fail_msg("%s passed", refused[i]);
	for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); i++)
		if (refusal(public[i]))
			fail_msg("%s refused: %s", public[i], refusal(public[i]));
	assert_string_equal(refusal("127.0.0.1"), "a loopback address");
	assert_string_equal(refusal("169.254.169.254"), "a link-local address");
}

static void test_ipv6(void **state)
{
	(void)state;
	static const char *const refused[] = {
	    "::",
	    "::1",
	    "::2",
	    "::127.0.0.1",
	    "::ffff:127.0.0.1",
	    "::ffff:10.1.2.3",
	    "::ffff:169.254.1.1",
	    "::ffff:0.0.0.0",
	    "::ffff:100.64.0.1",
	    "64:ff9b::7f00:1",
	    "64:ff9b::a00:1",
	    "2002:7f00:1::1",
	    "2002:c0a8:101::",
	    "100::1",
	    "fc00::1",
	    "fdff:ffff::1",
	    "fe80::1",
	    "febf:ffff::1",
	    "fec0::1",
	    "ff02::1",
	    "2001::1",
	    "2001:db8::1",
	    "3fff::1",
	    "3fff:fff::1",
	    "4000::1",
	    "1fff:ffff::1",
	    "e000::1",
	};
	static const char *const public[] = {
	    "2000::1",          "2001:4860:4860::8888", "2606:4700:4700::1111", "2001:1::1",
	    "2001:db7:ffff::1", "2001:db9::1",          "::ffff:8.8.8.8",       "64:ff9b::808:808",
	    "2002:808:808::1",  "3ffe:ffff::1",         "3fff:1000::1",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (!refusal(refused[i]))
			fail_msg("%s passed", refused[i]);
	for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); i++)
		if (refusal(public[i]))
			fail_msg("%s refused: %s", public[i], refusal(public[i]));
	assert_string_equal(refusal("::ffff:127.0.0.1"), "a loopback address");
	assert_string_equal(refusal("fd00::1"), "a unique local address (fc00::/7)");
	struct sockaddr sa = {.sa_family = AF_UNIX};
	assert_non_null(http_address_refusal(&sa, sizeof(sa)));
}

static void test_host_check(void **state)
{
	(void)state;
	ferry_error err = {0};
	assert_int_equal(http_host_check_public("127.0.0.1", &err), FERRY_E_UNSAFE);
	assert_string_equal(err.msg, "127.0.0.1 is a loopback address");
	assert_int_equal(http_host_check_public("[::1]", &err), FERRY_E_UNSAFE);
	assert_int_equal(http_host_check_public("[::ffff:10.0.0.1]", &err), FERRY_E_UNSAFE);
	/* the forms inet_aton takes: 127.1, 2130706433, 0x7f.1 */
	assert_int_equal(http_host_check_public("127.1", &err), FERRY_E_UNSAFE);
	assert_string_equal(err.msg, "127.1 resolves to 127.0.0.1, a loopback address");
	assert_int_equal(http_host_check_public("2130706433", &err), FERRY_E_UNSAFE);
	assert_int_equal(http_host_check_public("0x7f.1", &err), FERRY_E_UNSAFE);
	assert_int_equal(http_host_check_public("localhost", &err), FERRY_E_UNSAFE);
	assert_int_equal(http_host_check_public("8.8.8.8", &err), 0);
	assert_int_equal(http_host_check_public("[2001:4860:4860::8888]", &err), 0);
	assert_int_equal(http_host_check_public("", &err), FERRY_E_INVALID);
}

static void test_url_split(void **state)
{
	(void)state;
	struct http_url u;
	ferry_error err = {0};
	assert_int_equal(http_url_split("HTTPS://Example.com:8443/x?y", &u, &err), 0);
	assert_string_equal(u.scheme, "https");
	assert_false(u.userinfo);
	assert_int_equal(http_url_split("http://[::1]:80/", &u, &err), 0);
	assert_string_equal(u.host, "[::1]");
	assert_int_equal(http_url_split("http://u:p@h/", &u, &err), 0);
	assert_true(u.userinfo);
	assert_int_equal(http_url_split("not a url", &u, &err), FERRY_E_INVALID);
}

static int parse(const char *text, struct http_answer *a, ferry_error *err)
{
	static char copy[512];
	size_t n = strlen(text);
	memcpy(copy, text, n);
	return http_answer_parse(copy, n, "the answer", a, err);
}

static void test_reader(void **state)
{
	(void)state;
	struct http_answer a;
	ferry_error err = {0};
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}xx", &a, &err), 0);
	assert_int_equal(a.status, 200);
	assert_int_equal(a.body_len, 2);
	assert_memory_equal(a.body, "{}", 2);
	assert_int_equal(parse("HTTP/1.0 404 Not Found\r\n\r\nnot here", &a, &err), 0);
	assert_int_equal(a.status, 404);
	assert_int_equal(a.body_len, 8);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                       "3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n",
	                       &a, &err),
	                 0);
	assert_int_equal(a.body_len, 13);
	assert_memory_equal(a.body, "abc0123456789", 13);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", &a, &err),
	                 FERRY_E_CORRUPT);
	assert_string_equal(err.msg, "the answer was cut off (2 of 9 bytes)");
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n{}", &a, &err),
	                 FERRY_E_CORRUPT);
	assert_int_equal(
	    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", &a, &err),
	    FERRY_E_CORRUPT);
	assert_string_equal(err.msg, "the answer has a bad chunk");
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                       "0x5\r\nabcde\r\n0\r\n\r\n",
	                       &a, &err),
	                 FERRY_E_CORRUPT);
	assert_int_equal(parse("HTTP/2 200\r\n\r\n", &a, &err), FERRY_E_CORRUPT);
	assert_string_equal(err.msg, "the answer is not HTTP/1.1");
	assert_int_equal(parse("HTTP/1.1 99 Low\r\n\r\n", &a, &err), FERRY_E_CORRUPT);
	assert_int_equal(parse("HTTP/1.1 2000 OK\r\n\r\n", &a, &err), FERRY_E_CORRUPT);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\n", &a, &err), FERRY_E_CORRUPT);
	assert_int_equal(http_answer_parse(NULL, 0, "the answer", &a, &err), FERRY_E_CORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4),       cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_host_check), cmocka_unit_test(test_url_split),
	    cmocka_unit_test(test_reader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
