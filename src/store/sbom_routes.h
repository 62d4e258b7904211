/* sbom_routes.h: the publisher's route of a revision's bundled components,
 * GET /v1/packages/NAME/revisions/REV/components (in api.c's table), read
 * from the SBOM the image carried. Not here: indexing components for
 * vulnerability scans (vulns.c). */
#pragma once

#include "reply.h"

void sbom_h_components(struct api_ctx *c);
