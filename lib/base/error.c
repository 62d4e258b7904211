/* error.c: the error enum's names and the error record's formatting. It keeps
 * no state of its own: everything lives in the caller's ferry_error. */
#include "base/error.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	const char *text;
} err_table[] = {
    [0] = {"ok", "success"},
    [1] = {"nomem", "out of memory"},
    [2] = {"io", "input/output error"},
    [3] = {"invalid", "invalid input"},
    [4] = {"not-found", "not found"},
    [5] = {"exists", "already exists"},
    [6] = {"limit", "limit exceeded"},
    [7] = {"unsafe", "refused as unsafe"},
    [8] = {"corrupt", "corrupt data"},
    [9] = {"verify", "verification failed"},
    [10] = {"expired", "expired"},
    [11] = {"rollback", "version rollback"},
    [12] = {"network", "network error"},
    [13] = {"permission", "permission denied"},
    [14] = {"busy", "busy"},
    [15] = {"unsupported", "not supported"},
    [16] = {"database", "database error"},
    [17] = {"timeout", "timed out"},
    [18] = {"cancelled", "cancelled"},
    [19] = {"internal", "internal error"},
    [20] = {"fault", "injected fault"},
};

static int err_index(int code)
{
	if (code > 0 || code <= FERRY_E__LAST)
		return 19;
	return -code;
}

const char *ferry_strerror(int code)
{
	return err_table[err_index(code)].text;
}

const char *ferry_errname(int code)
{
	return err_table[err_index(code)].name;
}

int ferry_error_setv(ferry_error *err, int code, const char *fmt, va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int ferry_error_set(ferry_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ferry_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int ferry_error_errno(ferry_error *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	if (!err)
		return code;
	va_start(ap, fmt);
	ferry_error_setv(err, code, fmt, ap);
	va_end(ap);
	size_t n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	return code;
}

int ferry_error_prefix(ferry_error *err, int code, const char *fmt, ...)
{
	char ctx[FERRY_ERROR_MSG_MAX];
	char old[FERRY_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (err->msg[0])
		memcpy(old, err->msg, sizeof(old));
	else
		snprintf(old, sizeof(old), "%s", ferry_strerror(code));
	err->code = code;
	snprintf(err->msg, sizeof(err->msg), "%s: %s", ctx, old);
	return code;
}

void ferry_error_clear(ferry_error *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

const char *ferry_error_msg(const ferry_error *err)
{
	if (!err)
		return "";
	if (err->msg[0])
		return err->msg;
	return ferry_strerror(err->code);
}
