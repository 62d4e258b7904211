/* address.c: the public-address rule (address.h). Pure functions of the
 * address, plus getaddrinfo for names; no libcurl. */
#include "http/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct v4_range {
	uint32_t net;
	unsigned bits;
	const char *why;
};

static const struct v4_range v4_refused[] = {
    {0x00000000, 8, "a \"this network\" address (0.0.0.0/8)"},
    {0x0a000000, 8, "a private address (10.0.0.0/8)"},
    {0x64400000, 10, "a shared carrier-grade NAT address (100.64.0.0/10)"},
    {0x7f000000, 8, "a loopback address"},
    {0xa9fe0000, 16, "a link-local address"},
    {0xac100000, 12, "a private address (172.16.0.0/12)"},
    {0xc0000000, 24, "a special-purpose address (192.0.0.0/24)"},
    {0xc0000200, 24, "a documentation address"},
    {0xc0586300, 24, "a 6to4 relay address"},
    {0xc0a80000, 16, "a private address (192.168.0.0/16)"},
    {0xc6120000, 15, "a benchmarking address (198.18.0.0/15)"},
    {0xc6336400, 24, "a documentation address"},
    {0xcb007100, 24, "a documentation address"},
    {0xe0000000, 4, "a multicast address"},
    {0xf0000000, 4, "a reserved or broadcast address (240.0.0.0/4)"},
};

static const char *v4_refusal(uint32_t a)
{
	for (size_t i = 0; i < sizeof(v4_refused) / sizeof(v4_refused[0]); i++) {
		uint32_t mask = 0xffffffffu << (32 - v4_refused[i].bits);
		if ((a & mask) == v4_refused[i].net)
			return v4_refused[i].why;
	}
	return NULL;
}

static uint32_t v4_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static const char *v6_refusal(const uint8_t a[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return v4_refusal(v4_at(a + 12));
	if (all_zero(a, 15) && a[15] == 1)
		return "a loopback address";
	if (all_zero(a, 16))
		return "the unspecified address";
	if ((a[0] & 0xfe) == 0xfc)
		return "a unique local address (fc00::/7)";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "a link-local address";
	if (a[0] == 0xff)
		return "a multicast address";
	if ((a[0] & 0xe0) != 0x20)
		return "not a global unicast address (2000::/3)";
	if (a[0] == 0x20 && a[1] == 0x02)
		return v4_refusal(v4_at(a + 2)); /* 6to4: 2002:V4ADDR::/48 */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0)
		return "a Teredo address (2001::/32)";
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return "a documentation address";
	if (a[0] == 0x3f && a[1] == 0xff && (a[2] & 0xf0) == 0)
		return "a documentation address";
	return NULL;
}

const char *http_address_refusal(const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return v4_refusal(ntohl(in->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		return v6_refusal(in6->sin6_addr.s6_addr);
	}
	return "not an internet address";
}

int http_host_check_public(const char *host, ferry_error *err)
{
	char name[256];
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(name))
		return ferry_error_set(err, FERRY_E_INVALID, "host %.200s: expected 1 to %zu bytes",
		                       host, sizeof(name) - 1);
	memcpy(name, host, n);
	name[n] = '\0';
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	if (getaddrinfo(name, NULL, &hints, &res) != 0)
		return 0;
	int rc = 0;
	for (struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next) {
		const char *why = http_address_refusal(ai->ai_addr, ai->ai_addrlen);
		if (!why)
			continue;
		char text[INET6_ADDRSTRLEN] = "?";
		const void *bytes =
		    ai->ai_family == AF_INET6
		        ? (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
		        : (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
		inet_ntop(ai->ai_family, bytes, text, sizeof(text));
		rc = strcmp(text, name) == 0
		         ? ferry_error_set(err, FERRY_E_UNSAFE, "%s is %s", text, why)
		         : ferry_error_set(err, FERRY_E_UNSAFE, "%s resolves to %s, %s", name, text,
		                           why);
	}
	freeaddrinfo(res);
	return rc;
}
