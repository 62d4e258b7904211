/* fuzz_report.c: the device-report format (lib/pkg/report.h) on arbitrary
 * bytes: the store's check of a body (report_parse, after jansson as the
 * store calls it), and the device's cleaning of text it quotes
 * (report_clean), and the check of a device's check-in (checkin_parse).
 * Beyond not crashing: a refusal has a message; an accepted report or
 * check-in has every member within its bound; cleaned text is printable
 * UTF-8 within its bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "pkg/name.h"
#include "pkg/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_clean(const uint8_t *data, size_t size)
{
	size_t max = size ? data[0] : 0;
	char *c = report_clean((const char *)data, size, max);
	if (!c)
		return;
	size_t n = strlen(c);
	if (n > max || !str_valid_utf8(c, n))
		abort();
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)c[i] < 0x20 && c[i] != '\t') || c[i] == 0x7f)
			abort();
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_clean(data, size);

	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!body)
		return 0;
	struct report r;
	ferry_error err = {0};
	if (report_parse(body, &r, &err) < 0) {
		if (!err.msg[0])
			abort();
	} else if (!pkg_name_valid(r.package) || !report_device_id_valid(r.device_id) ||
	           r.to_revision < 1 || r.to_revision > REPORT_REVISION_MAX ||
	           json_array_size(r.log) > REPORT_LOG_LINES ||
	           strlen(r.message) > REPORT_MESSAGE_MAX ||
	           (strcmp(r.result, "ok") == 0) != (r.failed_step == NULL)) {
		abort();
	}
	struct checkin *c = malloc(sizeof(*c));
	if (c) {
		ferry_error_clear(&err);
		if (checkin_parse(body, c, &err) < 0) {
			if (!err.msg[0])
				abort();
		} else {
			if (!report_device_id_valid(c->device_id) || c->n > CHECKIN_PACKAGES_MAX)
				abort();
			for (size_t i = 0; i < c->n; i++)
				if (!pkg_name_valid(c->packages[i].name) ||
				    c->packages[i].revision < 1)
					abort();
		}
		free(c);
	}
	json_decref(body);
	return 0;
}
