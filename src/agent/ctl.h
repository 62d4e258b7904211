/* ctl.h: the packages' own sockets to ferryd, which `ferry-ctl` inside a
 * sandbox talks to (see ctl.c; the protocol is docs/formats/ctl.md). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "base/error.h"

#define CTL_MAX_REQUEST (16 * 1024) /* bytes of one request */
/* bytes of one answer: 256 keys of 4096 bytes, escaped; ferry-ctl reads
 * less than 8 MiB */
#define CTL_MAX_ANSWER (8 * 1024 * 1024 - 1)
#define CTL_MAX_CONNS_PER_PKG 4 /* open at once on one package's socket */
#define CTL_MAX_CONNS 64        /* open at once on all of them */
#define CTL_TIMEOUT_MS 5000     /* to send the request and take the answer */

/* epoll tags (the upper 32 bits of the event's data; main.c's are below) */
#define CTL_EV_LISTEN 7
#define CTL_EV_CONN 8

/* Make ctl's state and ROOT/run/ctl (main thread, before any other thread). */
int ctl_init(struct agent *ag, ferry_error *err) FERRY_WUR;
/* The package's socket, made when missing (or when it belonged to another
 * uid), owned by uid:gid, mode 0600; its host path into path (PATH_MAX).
 * Any thread. */
int ctl_socket(struct agent *ag, const char *name, uid_t uid, gid_t gid, char *path,
               ferry_error *err) FERRY_WUR;
/* Close and remove the package's socket (it was removed). Any thread. */
void ctl_forget(struct agent *ag, const char *name);
/* Main thread: an epoll event with one of the tags above on fd. */
void ctl_event(struct agent *ag, uint32_t tag, int fd);
/* Main thread: close connections past their time; the milliseconds until the
 * next one is due, -1 when none is open. */
int64_t ctl_timers(struct agent *ag);
/* Close everything (main thread, after the other threads ended). */
void ctl_stop(struct agent *ag);
