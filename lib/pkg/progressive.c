/* The progressive-release pick: whether a device is among the percentage
 * of devices a progressive release reaches, from a stable hash of its id,
 * the package and the revision. Kept apart from channel.c so that what
 * parses channel names (the manifest, and through it the sandbox) does not
 * link the hash library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/digest.h"
#include "pkg/channel.h"

bool channel_progressive_pick(const char *device_id, const char *name, const char *rev,
                              unsigned percentage)
{
	char in[256], hex[CRYPTO_DIGEST_HEX_MAX];
	int n = snprintf(in, sizeof(in), "%s/%s/%s", device_id, name, rev);
	if (n < 0 || (size_t)n >= sizeof(in) ||
	    crypto_digest_hex(CRYPTO_HASH_SHA256, in, (size_t)n, hex, NULL) < 0)
		return false;
	char first[9];
	memcpy(first, hex, 8);
	first[8] = '\0';
	unsigned long v = strtoul(first, NULL, 16);
	return v % 100 < percentage;
}
