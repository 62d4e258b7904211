/* client.h: how `ferry` talks to ferryd: HTTP and JSON over the agent's Unix
 * socket (FERRY_SOCKET, default /run/ferry/ferryd.sock), HTTP/1.1 written and
 * read here without libcurl, so that the device verbs start fast.
 * Answers are bounded in size. An error answer becomes a ferry_error that
 * carries the agent's message. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"

#define CLIENT_DEFAULT_SOCKET "/run/ferry/ferryd.sock"
#define CLIENT_MAX_ANSWER (16 * 1024 * 1024)

/* The socket path in use (FERRY_SOCKET or the default). */
const char *client_socket(void);

/* method "GET" or "POST"; body may be NULL. On success *result is the
 * answer's "result" (sync) or, for an async answer, a JSON string holding
 * the change id. */
int client_call(const char *method, const char *path, json_t *body, json_t **result,
                ferry_error *err) FERRY_WUR;

/* Follow change id until it is Done or Error, showing the step that runs on
 * a terminal (stderr). *change receives the final change. 0 when Done; when
 * Error, FERRY_E_INVALID with the change's error as the message. */
int client_wait_change(const char *id, json_t **change, ferry_error *err) FERRY_WUR;
