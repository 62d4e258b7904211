/* fuzz_http_reader.c: HTTP/1.x answers from untrusted bytes (lib/http
 * reader.h, as `ferry` reads ferryd's): parse a copy that ends exactly
 * where the data does (no NUL after it, so an overread is caught by ASan),
 * and when an answer comes back, its body must lie inside the copy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	struct http_answer a;
	ferry_error err = {0};
	if (http_answer_parse(copy, size, "the answer", &a, &err) == 0) {
		if (a.status < 100 || a.status > 599 || a.body < copy ||
		    a.body_len > size - (size_t)(a.body - copy))
			abort();
	} else if (err.code != FERRY_E_CORRUPT) {
		abort();
	}
	free(copy);
	return 0;
}
