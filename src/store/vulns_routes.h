/* vulns_routes.h: the publisher's route of vulnerability findings,
 * GET /v1/packages/NAME/vulns (in api.c's table). Not here: how findings
 * are made (vulns.h). */
#pragma once

#include "reply.h"

void vulns_h_findings(struct api_ctx *c);
