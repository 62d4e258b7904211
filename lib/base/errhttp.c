/* errhttp.c: ferry error codes to HTTP statuses and error names (see
 * errhttp.h for the table). A pure function: no logging, no state. */
#include "base/errhttp.h"

#include "base/error.h"

struct ferry_http_error ferry_http_error_of(int code)
{
	switch (code) {
	case FERRY_E_INVALID:
	case FERRY_E_UNSAFE:
	case FERRY_E_CORRUPT:
	case FERRY_E_UNSUPPORTED:
		return (struct ferry_http_error){400, "bad-request"};
	case FERRY_E_PERM:
		return (struct ferry_http_error){403, "forbidden"};
	case FERRY_E_NOTFOUND:
		return (struct ferry_http_error){404, "not-found"};
	case FERRY_E_EXISTS:
		return (struct ferry_http_error){409, "conflict"};
	case FERRY_E_LIMIT:
		return (struct ferry_http_error){413, "too-large"};
	case FERRY_E_BUSY:
		return (struct ferry_http_error){503, "busy"};
	default:
		return (struct ferry_http_error){500, "internal"};
	}
}
