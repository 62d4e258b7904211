/* store_client.h: the CLI's side of the publisher API: where the store is
 * and which token to send, and JSON requests and image uploads over HTTP(S).
 *
 * The store URL and token come from, first to last: --store and the
 * environment (FERRY_STORE, FERRY_TOKEN), then the file `ferry login` wrote,
 * $XDG_CONFIG_HOME/ferry/store.json (or ~/.config/ferry/store.json), mode
 * 0600 in a 0700 directory:
 *   {"store": "https://store.example.com", "token": "ferry_...",
 *    "insecure": false}
 * A token is never sent over plain http to a host other than the loopback
 * (localhost, 127.0.0.0/8, ::1) unless --insecure was given. FERRY_CA_FILE
 * names a file of CA certificates to trust instead of the system's (a store
 * with a private CA).
 *
 * The requests go through lib/http (http.h): its defaults, except that
 * redirects are not followed (the token would go along) and a transfer is
 * not timed out for stalling (the store may take long to answer an upload
 * it checks). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

struct store_client {
	char url[1024]; /* without a trailing slash */
	char *token;    /* wiped and freed by store_client_free */
	bool insecure;
};

/* The path of the login file into out. */
int store_config_path(char *out, size_t size, ferry_error *err) FERRY_WUR;

/* Fill c from --store (may be NULL), the environment and the login file.
 * need_token: fail when there is none. */
int store_client_open(struct store_client *c, const char *store_opt, bool insecure, bool need_token,
                      ferry_error *err) FERRY_WUR;
void store_client_free(struct store_client *c);

/* May a token go to url? FERRY_E_UNSAFE with a message when not. */
int store_url_check(const char *url, bool insecure, ferry_error *err) FERRY_WUR;

/* A JSON request; body may be NULL. On a reply with a JSON body, *reply
 * holds it (also for errors). A status >= 400 becomes an error whose message
 * is the store's error message; FERRY_E_PERM for 401/403, FERRY_E_NOTFOUND
 * for 404. */
int store_call(struct store_client *c, const char *method, const char *path, json_t *body,
               json_t **reply, long *status, ferry_error *err) FERRY_WUR;

/* Stream the file at path as the body of POST to api_path (with its query),
 * showing a progress bar on stderr when it is a terminal. */
int store_upload(struct store_client *c, const char *api_path, const char *file, json_t **reply,
                 long *status, ferry_error *err) FERRY_WUR;

/* Percent-encode a path element or query value. */
char *store_escape(const char *s);
