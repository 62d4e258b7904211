/* fault.c: the test-only fault point switch (see fault.h). Compiled into every
 * build, but FAULT() only calls it when FERRY_FAULTS is defined. */
#include "base/fault.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FAULT_PAUSE_MAX_S 3600 /* a pause ends after this whatever it waits for */
#define FAULT_PAUSE_POLL_MS 50

bool fault_hit(const char *name);

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* "pause:SECONDS" sleeps that long; "pause:/PATH" waits while PATH exists.
 * Either ends after FAULT_PAUSE_MAX_S. A malformed argument is a broken
 * test: it says so and aborts. */
static void pause_at(const char *name, const char *how)
{
	long polls = FAULT_PAUSE_MAX_S * 1000L / FAULT_PAUSE_POLL_MS;
	const char *path = NULL;
	if (how[0] == '/') {
		path = how;
	} else {
		char *end = NULL;
		errno = 0;
		unsigned long s = strtoul(how, &end, 10);
		if (!*how || *end || errno || s > FAULT_PAUSE_MAX_S) {
			fprintf(stderr,
			        "FERRY_FAULT_ACTION=pause:%s: expected pause:SECONDS (at most %d) "
			        "or pause:/PATH\n",
			        how, FAULT_PAUSE_MAX_S);
			abort();
		}
		polls = (long)s * 1000L / FAULT_PAUSE_POLL_MS;
	}
	fprintf(stderr, "fault %s: paused %s%s\n", name, path ? "until this is removed: " : "for ",
	        path ? path : how);
	for (long i = 0; i < polls; i++) {
		if (path && access(path, F_OK) < 0)
			break;
		sleep_ms(FAULT_PAUSE_POLL_MS);
	}
	fprintf(stderr, "fault %s: resumed\n", name);
}

bool fault_hit(const char *name)
{
	static atomic_uint count;
	const char *want = getenv("FERRY_FAULT");
	if (!want || !*want)
		return false;
	size_t n = strlen(name);
	if (strncmp(want, name, n) != 0)
		return false;
	if (want[n] == '@') {
		unsigned at = (unsigned)strtoul(want + n + 1, NULL, 10);
		if (atomic_fetch_add(&count, 1) + 1 != at)
			return false;
	} else if (want[n] != '\0') {
		return false;
	}
	const char *action = getenv("FERRY_FAULT_ACTION");
	if (action && strcmp(action, "kill") == 0)
		kill(getpid(), SIGKILL);
	if (action && strncmp(action, "pause:", 6) == 0) {
		pause_at(name, action + 6);
		return false;
	}
	return true;
}
