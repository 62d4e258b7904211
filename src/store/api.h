/* api.h: the publisher API, JSON over HTTP, as the server hands it requests:
 * the routing table and running a route. The request context, the replies
 * and the error codes are reply.h's; the endpoints are listed in
 * docs/store.md. Every publisher endpoint needs "Authorization: Bearer
 * TOKEN"; calls on a package need its owner or a collaborator. Not here:
 * sockets, bodies, static files (server.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "reply.h"

struct api_route;

/* Find the route for method and path (without the query). Returns NULL and
 * sets *status (404 or 405) when there is none. */
const struct api_route *api_route_find(const char *method, const char *path, struct api_ctx *c,
                                       unsigned *status);
enum api_body api_route_body(const struct api_route *r);
bool api_route_needs_auth(const struct api_route *r);
/* The route's pattern as the routing table has it (a static string). */
const char *api_route_pattern(const struct api_route *r);
/* Run a route; the reply is left in c->status and c->reply. */
void api_route_run(const struct api_route *r, struct api_ctx *c);

/* Check that a JSON request body nests no deeper than max. */
bool api_json_depth_ok(const char *data, size_t len, unsigned max);
