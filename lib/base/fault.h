/* fault.h: fault points for crash and failure tests.
 *
 * FAULT("name") is false in every normal build: the compiler removes it. In a
 * build configured with -Dfaults=true it returns true when the environment
 * variable FERRY_FAULT names this point ("name" or "name@N" to fire on the
 * N-th time it is reached, counted from 1). The action is set by
 * FERRY_FAULT_ACTION: "fail" (default: FAULT returns true and the caller
 * takes its error path), "kill" (the process SIGKILLs itself on the spot,
 * which is how the crash tests simulate a power cut), or "pause:SECONDS" /
 * "pause:/PATH" (the thread that reached the point blocks there for that
 * many seconds, or until PATH no longer exists, at most an hour; then FAULT
 * returns false and the code goes on as if nothing happened: how a test
 * holds a job in the middle of its work). A pause says on stderr
 * "fault NAME: paused ..." when it starts and "fault NAME: resumed" when it
 * ends. */
#pragma once

#include <stdbool.h>

#ifdef FERRY_FAULTS
bool fault_hit(const char *name);
#define FAULT(name) fault_hit(name)
#else
#define FAULT(name) false
#endif
