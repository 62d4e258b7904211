/* base64.c: see base64.h. OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do the
 * work; this file adds the strictness they lack (EVP_DecodeBlock skips
 * leading and trailing whitespace and does not report the padding). */
#include "crypto/base64.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void crypto_base64_encode(const unsigned char *in, size_t len, char *out)
{
	if (len == 0) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static int is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int crypto_base64_decode(const char *text, unsigned char *out, size_t size, size_t *len,
                         ferry_error *err)
{
	size_t n = strlen(text);
	if (n % 4 != 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "base64: length %zu is not a multiple of 4", n);
	size_t pad = 0;
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '=') {
			if (i < n - 2 || (i == n - 2 && text[n - 1] != '='))
				return ferry_error_set(err, FERRY_E_INVALID,
				                       "base64: '=' before the end");
			pad++;
		} else if (!is_b64(text[i])) {
			return ferry_error_set(err, FERRY_E_INVALID,
			                       "base64: unexpected character");
		}
	}
	size_t want = n / 4 * 3 - pad;
	if (want > size)
		return ferry_error_set(err, FERRY_E_LIMIT, "base64: more than %zu bytes", size);
	if (n == 0) {
		*len = 0;
		return 0;
	}
	unsigned char *tmp = malloc(n / 4 * 3);
	if (!tmp)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	int got = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)n);
	if (got < 0 || (size_t)got != n / 4 * 3) {
		free(tmp);
		return ferry_error_set(err, FERRY_E_INVALID, "base64: does not decode");
	}
	memcpy(out, tmp, want);
	free(tmp);
	*len = want;
	return 0;
}
