/* agent.c: ferryd's context (agent.h): its defaults, its lock and condition
 * variable, the clocks, waiting, and paths under the root. It reads no
 * configuration (config.c does) and starts nothing (main.c does). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "base/log.h"
#include "base/str.h"

void agent_init(struct agent *ag)
{
	memset(ag, 0, sizeof(*ag));
	ag->log_level = LOG_LEVEL_INFO;
	ag->privileged = geteuid() == 0;
	ag->extract = !ag->privileged;
	ag->owner_uid = getuid();
	ag->retain = AGENT_RETAIN_DEFAULT;
	ag->log_max = AGENT_LOG_MAX_DEFAULT;
	ag->hook_timeout_ms = AGENT_HOOK_TIMEOUT_DEFAULT_MS;
	ag->retries = 4;
	ag->retry_delay_ms = 5000;
	ag->min_free = 64ull << 20;
	ag->confine = true;
	ag->app_id_min = AGENT_APP_ID_MIN;
	ag->app_id_max = AGENT_APP_ID_MAX;
	ag->listen_fd = ag->notify_fd = ag->sigfd = ag->epfd = ag->wake_fd = -1;
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutex_init(&ag->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ag->cond, &ca);
	pthread_condattr_destroy(&ca);
}

void agent_cleanup(struct agent *ag)
{
	free(ag->store_url);
	free(ag->trust_path);
	free(ag->refresh_timer);
	free(ag->cgroup_parent);
	ag->store_url = ag->trust_path = ag->refresh_timer = ag->cgroup_parent = NULL;
	pthread_cond_destroy(&ag->cond);
	pthread_mutex_destroy(&ag->lock);
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void agent_wait_ms(struct agent *ag, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ms < 0)
		ms = 0;
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&ag->cond, &ag->lock, &ts);
}

int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agent_path(const struct agent *ag, char *out, const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return FERRY_E_LIMIT;
	return str_printf(out, PATH_MAX, "%s/%s", ag->root, rel);
}
