/* fault.c: the test-only fault point switch (see fault.h). Compiled into every
 * build, but FAULT() only calls it when FERRY_FAULTS is defined. */
#include "base/fault.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool fault_hit(const char *name);

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
	return true;
}
