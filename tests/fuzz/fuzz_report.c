/* fuzz_report.c: the body of POST /v1/reports from untrusted bytes, as the
 * store takes it: the nesting bound, jansson with duplicate keys refused,
 * then the report checks. A report that passes must hold only fields within
 * their bounds, and checking it again must give the same verdict. The
 * signature and the database are not reached. Thin on purpose: point
 * check() at wherever the report checks live. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "reports.h"
#include "store.h"

long long store_now(void)
{
	return 1700000000;
}

static int check(json_t *body, struct report *r)
{
	return reports_validate(body, r, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > STORE_MAX_JSON_BODY ||
	    !api_json_depth_ok((const char *)data, size, STORE_MAX_JSON_DEPTH))
		return 0;
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!body)
		return 0;
	struct report r, again;
	int rc = check(body, &r);
	if ((check(body, &again) == 0) != (rc == 0))
		abort();
	if (rc == 0) {
		if (strlen(r.report_id) != 32 || strlen(r.device_id) > 64 ||
		    strlen(r.device_key) != 64 || strlen(r.message) > REPORTS_MESSAGE_MAX ||
		    strlen(r.agent_version) > 64 || r.to_revision < 1 || r.from_revision < 0 ||
		    json_array_size(r.log) > REPORTS_LOG_LINES ||
		    !reports_device_id_valid(r.device_id))
			abort();
		if ((strcmp(r.result, "ok") == 0) != (r.failed_step == NULL))
			abort();
	}
	json_decref(body);
	return 0;
}
