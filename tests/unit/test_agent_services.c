/* test_agent_services.c: ferryd's supervision decisions
 * (src/agent/services.c) driven without starting a daemon: what a service's
 * exit leads to under each restart policy and type (stopped, exited,
 * restart after its delay, at least 100 ms), when the next restart is due,
 * the rotation of a service's log file at log-max-size, the names `ferry
 * services` shows, and the environment a program of the package gets with
 * confinement off and on ($FERRY_* expanded, nothing else). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/str.h"
#include "base/strv.h"
#include "services.h"
#include "testutil.h"

static struct agent ag;

static int setup(void **state)
{
	tu_tmpdir_setup(state);
	agent_init(&ag);
	assert_int_equal(str_copy(ag.root, sizeof(ag.root), tu_tmpdir), 0);
	return 0;
}

static int teardown(void **state)
{
	svc_free_all(&ag);
	agent_cleanup(&ag);
	return tu_tmpdir_teardown(state);
}

/* A service as svc_setup leaves it, without its process, linked into ag. */
static struct service *service(enum manifest_daemon type, enum manifest_restart restart,
                               uint64_t delay_ms)
{
	struct service *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	snprintf(s->name, sizeof(s->name), "pkg");
	snprintf(s->app, sizeof(s->app), "web");
	snprintf(s->rev, sizeof(s->rev), "3");
	s->type = type;
	s->restart = restart;
	s->restart_delay_ms = delay_ms;
	s->log_rd = s->log_wr = s->log.fd = -1;
	s->pid = 4242; /* never signalled: nothing here stops it */
	s->state = SVC_RUNNING;
	s->next = ag.services;
	ag.services = s;
	return s;
}

static const int exit0 = 0;                /* exited with status 0 */
static const int exit3 = 3 << 8;           /* exited with status 3 */
static const int killed9 = SIGKILL & 0x7f; /* killed by SIGKILL */

static void test_restart_policies(void **state)
{
	(void)state;
	const struct {
		enum manifest_daemon type;
		enum manifest_restart restart;
		int status;
		enum svc_state want;
	} cases[] = {
	    {DAEMON_SIMPLE, RESTART_ON_FAILURE, exit3, SVC_WAITING},
	    {DAEMON_SIMPLE, RESTART_ON_FAILURE, killed9, SVC_WAITING},
	    {DAEMON_SIMPLE, RESTART_ON_FAILURE, exit0, SVC_EXITED},
	    {DAEMON_SIMPLE, RESTART_ALWAYS, exit0, SVC_WAITING},
	    {DAEMON_SIMPLE, RESTART_ALWAYS, exit3, SVC_WAITING},
	    {DAEMON_SIMPLE, RESTART_NEVER, exit3, SVC_EXITED},
	    {DAEMON_SIMPLE, RESTART_NEVER, exit0, SVC_EXITED},
	    {DAEMON_NOTIFY, RESTART_ON_FAILURE, exit3, SVC_WAITING},
	    /* a oneshot that finished is done; one that failed is restarted only
	     * by `always` */
	    {DAEMON_ONESHOT, RESTART_ON_FAILURE, exit0, SVC_EXITED},
	    {DAEMON_ONESHOT, RESTART_ON_FAILURE, exit3, SVC_EXITED},
	    {DAEMON_ONESHOT, RESTART_ALWAYS, exit3, SVC_WAITING},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct service *s = service(cases[i].type, cases[i].restart, 2000);
		int64_t before = now_ms();
		svc_exited(&ag, s, cases[i].status);
		assert_int_equal(s->state, cases[i].want);
		assert_int_equal(s->pid, 0);
		assert_int_equal(s->last_status, cases[i].status);
		bool counted = !(cases[i].type == DAEMON_ONESHOT && cases[i].status == 0);
		assert_int_equal(s->exits, counted ? 1 : 0);
		if (cases[i].want == SVC_WAITING) {
			assert_true(s->restart_at_ms >= before + 2000);
			assert_true(s->restart_at_ms <= now_ms() + 2000);
		}
		if (cases[i].type == DAEMON_ONESHOT && cases[i].status == 0)
			assert_true(s->ready);
	}
}

static void test_stopping_service_stays_stopped(void **state)
{
	(void)state;
	struct service *s = service(DAEMON_SIMPLE, RESTART_ALWAYS, 0);
	s->state = SVC_STOPPING;
	svc_exited(&ag, s, SIGTERM & 0x7f);
	assert_int_equal(s->state, SVC_STOPPED);
	assert_int_equal(s->exits, 0);
	assert_int_equal(s->pid, 0);
}

static void test_restart_delay_has_a_floor(void **state)
{
	(void)state;
	struct service *s = service(DAEMON_SIMPLE, RESTART_ALWAYS, 0);
	int64_t before = now_ms();
	svc_exited(&ag, s, exit3);
	assert_int_equal(s->state, SVC_WAITING);
	assert_true(s->restart_at_ms >= before + 100);
	assert_true(s->restart_at_ms <= now_ms() + 100);
}

static void test_exit_is_written_to_the_log(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(agent_path(&ag, dir, "logs/pkg"), 0);
	assert_int_equal(agent_path(&ag, path, "logs/pkg/web.log"), 0);
	assert_int_equal(fs_mkdir_p(dir, 0750, NULL), 0);
	struct service *s = service(DAEMON_SIMPLE, RESTART_NEVER, 0);
	logfile_open(&s->log, path);
	assert_true(s->log.fd >= 0);
	svc_exited(&ag, s, exit3);
	char *text = NULL;
	assert_int_equal(fs_read_file(path, 4096, &text, NULL, NULL), 0);
	/* stamped with the time, like every line */
	assert_int_equal(strlen(text), LOG_STAMP_LEN + 1 + 43);
	assert_true(text[4] == '-' && text[10] == 'T' && text[LOG_STAMP_LEN - 1] == 'Z');
	assert_string_equal(text + LOG_STAMP_LEN + 1,
	                    "-- ferryd: pkg.web exited with status 3 --\n");
	assert_int_equal(s->log.size, strlen(text));
	free(text);
}

static void test_timers_report_next_restart(void **state)
{
	(void)state;
	assert_int_equal(svc_timers(&ag, now_ms()), -1);
	struct service *running = service(DAEMON_SIMPLE, RESTART_ALWAYS, 0);
	(void)running;
	assert_int_equal(svc_timers(&ag, now_ms()), -1);
	int64_t now = now_ms();
	struct service *a = service(DAEMON_SIMPLE, RESTART_ALWAYS, 0);
	a->pid = 0;
	a->state = SVC_WAITING;
	a->restart_at_ms = now + 5000;
	struct service *b = service(DAEMON_SIMPLE, RESTART_ALWAYS, 0);
	b->pid = 0;
	b->state = SVC_WAITING;
	b->restart_at_ms = now + 3000;
	/* nothing due yet: nothing starts, the earliest deadline is next */
	assert_int_equal(svc_timers(&ag, now), now + 3000);
	assert_int_equal(a->state, SVC_WAITING);
	assert_int_equal(b->state, SVC_WAITING);
	assert_int_equal(b->pid, 0);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(svc_state_name(SVC_STOPPED), "inactive");
	assert_string_equal(svc_state_name(SVC_STARTING), "starting");
	assert_string_equal(svc_state_name(SVC_RUNNING), "active");
	assert_string_equal(svc_state_name(SVC_STOPPING), "stopping");
	assert_string_equal(svc_state_name(SVC_WAITING), "restarting");
	assert_string_equal(svc_state_name(SVC_EXITED), "exited");
}

static char *slurp(const char *path)
{
	char *text = NULL;
	assert_int_equal(fs_read_file(path, 1 << 20, &text, NULL, NULL), 0);
	return text;
}

static void feed(int wr, char c, size_t n)
{
	char buf[4096];
	assert_true(n <= sizeof(buf));
	memset(buf, c, n);
	assert_int_equal(write(wr, buf, n), (ssize_t)n);
}

static void test_log_rotation(void **state)
{
	(void)state;
	ag.log_max = 4096;
	char dir[PATH_MAX], path[PATH_MAX], old[PATH_MAX];
	assert_int_equal(agent_path(&ag, dir, "logs/pkg"), 0);
	assert_int_equal(agent_path(&ag, path, "logs/pkg/web.log"), 0);
	assert_int_equal(agent_path(&ag, old, "logs/pkg/web.log.1"), 0);
	assert_int_equal(fs_mkdir_p(dir, 0750, NULL), 0);
	struct service *s = service(DAEMON_SIMPLE, RESTART_NEVER, 0);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	s->log_rd = p[0];
	s->log_wr = p[1];
	logfile_open(&s->log, path);
	assert_true(s->log.fd >= 0);
	const size_t stamp = LOG_STAMP_LEN + 1; /* each file starts with one */

	feed(p[1], 'a', 3000);
	svc_log_readable(&ag, p[0]);
	assert_int_equal(s->log.size, stamp + 3000);
	assert_int_equal(access(old, F_OK), -1);

	/* 3000 + 3000 > 4096: the old output moves to web.log.1 first */
	feed(p[1], 'b', 3000);
	svc_log_readable(&ag, p[0]);
	char *cur = slurp(path), *prev = slurp(old);
	assert_int_equal(strlen(prev), stamp + 3000);
	assert_int_equal(strspn(prev + stamp, "a"), 3000);
	assert_int_equal(strlen(cur), stamp + 3000);
	assert_int_equal(strspn(cur + stamp, "b"), 3000);
	assert_int_equal(s->log.size, stamp + 3000);
	free(cur);
	free(prev);

	/* and once more: web.log.1 holds only the one before */
	feed(p[1], 'c', 2000);
	svc_log_readable(&ag, p[0]);
	cur = slurp(path);
	prev = slurp(old);
	assert_int_equal(strspn(prev + stamp, "b"), 3000);
	assert_int_equal(strlen(prev), stamp + 3000);
	assert_int_equal(strlen(cur), stamp + 2000);
	assert_int_equal(strspn(cur + stamp, "c"), 2000);
	free(cur);
	free(prev);
	/* svc_free_all closes the pipe and the log */
}

static const char *find(char **envp, const char *key)
{
	size_t l = strlen(key);
	for (char **e = envp; e && *e; e++)
		if (strncmp(*e, key, l) == 0 && (*e)[l] == '=')
			return *e + l + 1;
	return NULL;
}

static void test_environment(void **state)
{
	(void)state;
	char k[5][8] = {"CONF", "BRACED", "LONGER", "OTHER", "TWICE"};
	char v[5][40] = {"$FERRY_DATA/conf", "${FERRY_NAME}-x", "$FERRY_DATAX/y", "$HOME/$PATH",
	                 "$FERRY_REVISION$FERRY_REVISION"};
	struct manifest_env extra[5];
	for (int i = 0; i < 5; i++)
		extra[i] = (struct manifest_env){k[i], v[i]};
	char **env = NULL;
	assert_int_equal(svc_env(&ag, "pkg", "3", NULL, extra, 5, false, &env, NULL), 0);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/data/pkg/3", tu_tmpdir);
	assert_string_equal(find(env, "FERRY_DATA"), want);
	assert_string_equal(find(env, "HOME"), want);
	snprintf(want, sizeof(want), "%s/data/pkg/3/conf", tu_tmpdir);
	assert_string_equal(find(env, "CONF"), want);
	assert_string_equal(find(env, "BRACED"), "pkg-x");
	assert_string_equal(find(env, "LONGER"), "$FERRY_DATAX/y");
	assert_string_equal(find(env, "OTHER"), "$HOME/$PATH");
	assert_string_equal(find(env, "TWICE"), "33");
	snprintf(want, sizeof(want), "%s/mnt/pkg/3", tu_tmpdir);
	assert_string_equal(find(env, "FERRY_PKG"), want);
	assert_non_null(strstr(find(env, "PATH"), "/mnt/pkg/3/bin:"));
	strv_free(env);

	/* in the sandbox: the sandbox's paths, and nothing of the host */
	env = NULL;
	assert_int_equal(svc_env(&ag, "pkg", "3", NULL, extra, 5, true, &env, NULL), 0);
	assert_string_equal(find(env, "CONF"), "/ferry/pkg/data/conf");
	assert_string_equal(find(env, "LANG"), "C.UTF-8");
	assert_null(find(env, "HOME"));
	assert_null(find(env, "PATH"));
	assert_null(find(env, "FERRY_DATA"));
	strv_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_restart_policies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stopping_service_stays_stopped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_delay_has_a_floor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_is_written_to_the_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timers_report_next_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
