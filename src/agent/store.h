/* store.h: the agent's side of a store, through TUF (see store.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "base/error.h"
#include "http/http.h"
#include "pkg/channel.h"
#include "state.h"
#include "tuf/updater.h"

struct store {
	struct agent *ag;
	struct http_client *http;
	struct tuf_updater *u;
};

/* What a channel gives this device. */
struct store_choice {
	char rev[STATE_REV_MAX];
	char version[64];
	char sha256[65];
	uint64_t size;
	char channel[CHANNEL_NAME_MAX];
	bool progressive; /* chosen by the progressive release */
};

/* The signed target FILE of package name (NAME_REV.ferry,
 * NAME_A-B.delta): FERRY_E_NOTFOUND when no metadata lists it. */
int store_find_target(struct store *s, const char *name, const char *file,
                      const struct tuf_target **t, ferry_error *err) FERRY_WUR;
/* The image target of revision rev (FERRY_E_VERIFY when none is signed). */
int store_image_target(struct store *s, const char *name, const char *rev,
                       const struct tuf_target **t, ferry_error *err) FERRY_WUR;
/* Where the store serves target t; free() it. NULL when out of memory. */
char *store_target_url(struct store *s, const struct tuf_target *t);
/* Download t into dest through the resumable file part (kept on failure),
 * with retries, checking extra_space more bytes than the download will be
 * free; dest appears only once it matches its signed length and hashes.
 * what ("hello revision 2") and noun ("image") name it in messages. */
int store_fetch_target(struct store *s, const struct tuf_target *t, const char *part,
                       const char *dest, const char *what, const char *noun, uint64_t extra_space,
                       ferry_error *err) FERRY_WUR;

/* First start: trust --trust as ROOT/tuf/root.json (kept afterwards). */
int store_provision(struct agent *ag, ferry_error *err) FERRY_WUR;

/* An updater with fresh metadata (retried with back-off on network errors). */
int store_open(struct agent *ag, struct store *s, ferry_error *err) FERRY_WUR;
void store_close(struct store *s);
/* When the trusted timestamp or snapshot (ROOT/tuf) has expired, the earlier
 * of their expiry times (unix time); 0 when neither has. */
int64_t store_expired_since(struct agent *ag);
/* A unix time as 2026-01-31T12:00:00Z. */
void store_utc(int64_t t, char out[32]);

/* The revision channel holds for this device's architecture; a progressive
 * release picks its revision when channel_progressive_pick() says so. */
int store_resolve(struct store *s, const char *name, const char *channel, struct store_choice *out,
                  ferry_error *err) FERRY_WUR;

/* The revision of name whose image has this SHA-256, if the signed channel
 * map lists one (for `ferry install FILE` without --dangerous). */
int store_find_by_sha256(struct store *s, const char *name, const char *sha256,
                         struct store_choice *out, ferry_error *err) FERRY_WUR;

/* Does the file at path match the signed target of name's revision rev? */
int store_verify_file(struct store *s, const char *name, const char *rev, const char *path,
                      ferry_error *err) FERRY_WUR;

/* Download revision rev of name to dest (resumable, verified, atomic). */
int store_download(struct store *s, const char *name, const char *rev, const char *dest,
                   ferry_error *err) FERRY_WUR;
