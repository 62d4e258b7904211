/* reply.h: a publisher API request as its route handler sees it, and the
 * reply the handler leaves in it: JSON answers and errors
 *   {"error": {"code": "CODE", "message": "..."}}
 * with the status and code of a ferry error from lib/base/errhttp.h, or
 * chosen by the handler: bad-request, invalid-json, auth-required (401, no
 * token), invalid-token (401: malformed, unknown or revoked), forbidden
 * (403), not-found (404), method-not-allowed (405), conflict (409),
 * too-large (413), unsupported-media-type (415), invalid-channel (400),
 * invalid-image (400), busy (503), internal (500); for device reports also
 * signature-required (401), bad-signature (403) and device-key-mismatch
 * (403). docs/store.md lists them. Used by api.c, the route files and
 * server.c; it knows no route. Not here: routing (api.c), authorisation
 * (handler.h), HTTP framing (server.c). */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <stdint.h>

#include "base/error.h"
#include "store.h"

enum api_body { API_BODY_NONE = 0, API_BODY_JSON, API_BODY_UPLOAD };

struct api_upload {
	char path[PATH_MAX]; /* the temporary file, complete */
	uint64_t size;
	char sha256[65];
	char sha512[129];
};

struct api_ctx {
	struct store *st;
	struct db *db;
	const char *method;
	char account[STORE_ACCOUNT_MAX + 1]; /* the caller, "" when anonymous */
	char package[80];                    /* NAME of /v1/packages/NAME/..., or "" */
	char arg[80];                        /* a further path element, or "" */
	json_t *body;                        /* JSON requests */
	const struct api_upload *upload;     /* uploads */
	const char *query_release;           /* ?release=CH,CH of a push */
	const char *raw_body;                /* JSON requests: the bytes as they came */
	size_t raw_len;
	const char *device_signature;                /* X-Ferry-Device-Signature, or NULL */
	const char *q_device, *q_revision, *q_limit; /* ?device= ?revision= ?limit= */
	const char *q_channel, *q_all, *q_not_seen;  /* ?channel= ?all= ?not-seen= */
	const char *client; /* the peer's address (a proxy's, behind one) */
	/* the reply */
	unsigned status;
	json_t *reply;
};

/* Set the reply to body (taken over) with status; a NULL body (out of
 * memory) becomes a 500 error. */
void api_reply(struct api_ctx *c, unsigned status, json_t *body);
/* Set an error reply. */
void api_error(struct api_ctx *c, unsigned status, const char *code, const char *fmt, ...)
    FERRY_PRINTF(4, 5);
/* Set an error reply from a ferry error (status and code from errhttp.h);
 * a 500 is logged. */
void api_error_from(struct api_ctx *c, int rc, const ferry_error *err);
/* The error body itself. */
json_t *api_error_json(const char *code, const char *message);
