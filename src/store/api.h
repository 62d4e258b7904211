/* api.h: the publisher API, JSON over HTTP, as the server hands it requests.
 *
 * Every publisher endpoint needs "Authorization: Bearer TOKEN"; calls on a
 * package need its owner or a collaborator. Errors are
 *   {"error": {"code": "CODE", "message": "..."}}
 * with codes: bad-request, invalid-json, auth-required (401, no token),
 * invalid-token (401: malformed, unknown or revoked), forbidden (403),
 * not-found (404), method-not-allowed (405), conflict (409), too-large (413),
 * unsupported-media-type (415), invalid-channel (400), invalid-image (400),
 * busy (503), internal (500); for device reports also signature-required
 * (401), bad-signature (403) and device-key-mismatch (403). The endpoints are listed in
 * docs/store.md. Not here: sockets, bodies, static files (server.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
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
	const char *client; /* the peer's address (a proxy's, behind one) */
	/* the reply */
	unsigned status;
	json_t *reply;
};

struct api_route;

/* Find the route for method and path (without the query). Returns NULL and
 * sets *status (404 or 405) when there is none. */
const struct api_route *api_route_find(const char *method, const char *path, struct api_ctx *c,
                                       unsigned *status);
enum api_body api_route_body(const struct api_route *r);
bool api_route_needs_auth(const struct api_route *r);
/* Run a route; the reply is left in c->status and c->reply. */
void api_route_run(const struct api_route *r, struct api_ctx *c);

/* Set an error reply. */
void api_error(struct api_ctx *c, unsigned status, const char *code, const char *fmt, ...)
    FERRY_PRINTF(4, 5);
/* Set an error reply from a ferry error (status from its code). */
void api_error_from(struct api_ctx *c, int rc, const ferry_error *err);
/* The error body itself. */
json_t *api_error_json(const char *code, const char *message);

/* Authorise the caller for a package: 0, or an error reply is set and
 * a negative code returned. Takes FOR UPDATE locks on PostgreSQL when
 * for_update. */
int api_authorise_package(struct api_ctx *c, bool for_update);

/* Publish c->package after a committed change of its channel map (a
 * release, or a halt): false when that failed and a publish job is queued
 * to retry it (recovery at start covers a crash in between). */
bool api_publish_after_commit(struct api_ctx *c);

/* Check that a JSON request body nests no deeper than max. */
bool api_json_depth_ok(const char *data, size_t len, unsigned max);
