/* reply.c: building the replies of publisher API requests (see reply.h).
 * Not here: what any route does (api.c and the route files). */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/errhttp.h"
#include "base/log.h"

json_t *api_error_json(const char *code, const char *message)
{
	return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

void api_error(struct api_ctx *c, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[FERRY_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(c->reply);
	c->reply = api_error_json(code, msg);
	c->status = status;
}

void api_error_from(struct api_ctx *c, int rc, const ferry_error *err)
{
	struct ferry_http_error h = ferry_http_error_of(rc);
	if (h.status == 500)
		log_error("%s", ferry_error_msg(err));
	api_error(c, h.status, h.name, "%s", ferry_error_msg(err));
}

void api_reply(struct api_ctx *c, unsigned status, json_t *body)
{
	json_decref(c->reply);
	c->reply = body;
	c->status = status;
	if (!body)
		api_error(c, 500, "internal", "out of memory");
}
