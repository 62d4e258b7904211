/* address.h: which network addresses are public, for clients that must not
 * be turned against the machine they run on or its private networks (the
 * store's webhooks: a publisher chooses the URL, the store connects).
 *
 * Refused: IPv4 0.0.0.0/8, 10/8, 100.64/10 (shared, carrier-grade NAT),
 * 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24, 192.88.99/24,
 * 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 224/4 (multicast) and
 * 240/4 (reserved, broadcast); IPv6 outside 2000::/3 (so ::, ::1, the
 * IPv4-compatible ::/96, 100::/64, fc00::/7, fe80::/10, fec0::/10, ff00::/8),
 * and inside it 2001::/32 (Teredo), 2001:db8::/32, 3fff::/20
 * (documentation); the IPv4 forms embedded in IPv6 (::ffff:0:0/96 mapped,
 * 64:ff9b::/96 NAT64, 2002::/16 6to4) are judged by their IPv4 address, so
 * ::ffff:127.0.0.1 is loopback.
 *
 * It does not know routes or the local interfaces' addresses: a public
 * address of the machine itself passes. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include "base/error.h"

/* NULL when sa (AF_INET or AF_INET6, len bytes) is a public unicast
 * address; else why not, in a few words ("a loopback address"). */
const char *http_address_refusal(const struct sockaddr *sa, socklen_t len);

/* Resolve host (a name, an IPv4 literal in any form inet_aton takes, or an
 * IPv6 literal with or without brackets) and check every address it gives:
 * FERRY_E_UNSAFE naming the first address refused and why. A name that does
 * not resolve passes (connections are checked again when made). */
int http_host_check_public(const char *host, ferry_error *err) FERRY_WUR;
