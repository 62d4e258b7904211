/* error.h: ferry's one error enum and the error record that gains context on
 * the way up.
 *
 * Library functions return 0 on success or a negative ferry_err code, and fill
 * an optional ferry_error (NULL is allowed everywhere) with a message that
 * names the thing and the cause. Callers add context with ferry_error_prefix()
 * as the error travels up, so a program's main prints one line such as
 *   pack: manifest meta/ferry.yaml:12:14: apps.web.daemon: expected one of ...
 * This module does not log and never exits. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#define FERRY_WUR __attribute__((warn_unused_result))
#define FERRY_PRINTF(a, b) __attribute__((format(printf, a, b)))

typedef enum ferry_err {
	FERRY_OK = 0,
	FERRY_E_NOMEM = -1,        /* out of memory */
	FERRY_E_IO = -2,           /* a system call on a file or socket failed */
	FERRY_E_INVALID = -3,      /* input is malformed or breaks a rule */
	FERRY_E_NOTFOUND = -4,     /* the thing named does not exist */
	FERRY_E_EXISTS = -5,       /* the thing already exists */
	FERRY_E_LIMIT = -6,        /* input exceeds a size, count or depth bound */
	FERRY_E_UNSAFE = -7,       /* refused for safety (escaping link, setuid...) */
	FERRY_E_CORRUPT = -8,      /* stored data is damaged or truncated */
	FERRY_E_VERIFY = -9,       /* a signature, hash or length does not verify */
	FERRY_E_EXPIRED = -10,     /* signed metadata is past its expiry */
	FERRY_E_ROLLBACK = -11,    /* a version went backwards */
	FERRY_E_NETWORK = -12,     /* a transfer failed */
	FERRY_E_PERM = -13,        /* not allowed for this caller */
	FERRY_E_BUSY = -14,        /* locked by someone else; try again */
	FERRY_E_UNSUPPORTED = -15, /* valid, but not something ferry does */
	FERRY_E_DB = -16,          /* the database refused or failed */
	FERRY_E_TIMEOUT = -17,     /* took longer than allowed */
	FERRY_E_CANCELLED = -18,   /* stopped on request */
	FERRY_E_INTERNAL = -19,    /* a bug in ferry */
	FERRY_E_FAULT = -20,       /* a fault point fired (test builds only) */
	FERRY_E__LAST = -21,
} ferry_err;

#define FERRY_ERROR_MSG_MAX 1024

typedef struct ferry_error {
	int code;                      /* a ferry_err, 0 when nothing failed */
	char msg[FERRY_ERROR_MSG_MAX]; /* NUL-terminated, truncated if longer */
} ferry_error;

/* A short, fixed description of a code ("invalid input"). Never NULL. */
const char *ferry_strerror(int code);

/* A stable lower-case identifier of a code ("invalid"), for JSON and tests. */
const char *ferry_errname(int code);

/* Record an error and return code, so that `return ferry_error_set(...)`
 * reads well. err may be NULL. */
int ferry_error_set(ferry_error *err, int code, const char *fmt, ...) FERRY_PRINTF(3, 4);
int ferry_error_setv(ferry_error *err, int code, const char *fmt, va_list ap) FERRY_PRINTF(3, 0);

/* As ferry_error_set, with ": strerror(errnum)" appended. */
int ferry_error_errno(ferry_error *err, int code, int errnum, const char *fmt, ...)
    FERRY_PRINTF(4, 5);

/* Put "CONTEXT: " in front of the recorded message and return code. If no
 * message was recorded yet, the message becomes "CONTEXT: <strerror(code)>".
 * err may be NULL. */
int ferry_error_prefix(ferry_error *err, int code, const char *fmt, ...) FERRY_PRINTF(3, 4);

/* Forget a recorded error. */
void ferry_error_clear(ferry_error *err);

/* The message, or ferry_strerror(code) when none was recorded. */
const char *ferry_error_msg(const ferry_error *err);
