/* test_agent_config.c: ferryd's settings (src/agent/config.c): the
 * configuration file's syntax and its errors naming the line, the command
 * line winning over the file, the defaults, each value's bounds with the
 * message and exit status ferryd gives, and the root made and kept as an
 * absolute path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/str.h"
#include "config.h"
#include "testutil.h"

static struct agent ag;
static char conf[PATH_MAX];

static int setup(void **state)
{
	tu_tmpdir_setup(state);
	agent_init(&ag);
	snprintf(conf, sizeof(conf), "%s/ferryd.conf", tu_tmpdir);
	return 0;
}

static int teardown(void **state)
{
	agent_cleanup(&ag);
	return tu_tmpdir_teardown(state);
}

static void write_conf(const char *text)
{
	assert_int_equal(fs_write_atomic(conf, text, strlen(text), 0600, NULL), 0);
}

static void test_file_and_command_line(void **state)
{
	(void)state;
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/./var/../root", tu_tmpdir);
	char text[4096];
	snprintf(text, sizeof(text),
	         "# ferryd\n"
	         "\n"
	         "root = %s\n"
	         "  retain=5  \n"
	         "log-max-size = 8192\r\n"
	         "hook-timeout = 30s\n"
	         "retries = 7\n"
	         "retry-delay = 250ms\n"
	         "min-free-space = 1000\n"
	         "device-id = dev-42\n"
	         "refresh-timer = every 10m\n"
	         "confinement = off\n"
	         "app-ids = 2000-2999\n"
	         "cgroup-parent = ferry.slice\n"
	         "log-level = debug\n"
	         "socket = /run/x/ferryd.sock\n",
	         root);
	write_conf(text);
	struct agent_options o = {0};
	o.retain = "9"; /* the command line wins */
	_cleanup_free_ char *keep = NULL;
	ferry_error err;
	ferry_error_clear(&err);
	assert_int_equal(config_read(conf, &o, &keep, &err), 0);
	assert_string_equal(o.retain, "9");
	assert_string_equal(o.log_max, "8192");
	assert_string_equal(o.cgroup_parent, "ferry.slice");
	assert_int_equal(config_apply(&ag, &o, &err), 0);
	assert_int_equal(ag.retain, 9);
	assert_int_equal(ag.log_max, 8192);
	assert_int_equal(ag.hook_timeout_ms, 30000);
	assert_int_equal(ag.retries, 7);
	assert_int_equal(ag.retry_delay_ms, 250);
	assert_int_equal(ag.min_free, 1000);
	assert_string_equal(ag.device_id, "dev-42");
	assert_string_equal(ag.refresh_timer, "every 10m");
	assert_false(ag.confine);
	assert_int_equal(ag.app_id_min, 2000);
	assert_int_equal(ag.app_id_max, 2999);
	assert_string_equal(ag.cgroup_parent, "ferry.slice");
	assert_int_equal(ag.log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(ag.socket_path, "/run/x/ferryd.sock");
	assert_null(ag.store_url);
	/* the root is made, and kept as an absolute path without . and .. */
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/root", tu_tmpdir);
	char *real = realpath(want, NULL);
	assert_non_null(real);
	assert_string_equal(ag.root, real);
	free(real);
}

static void test_defaults(void **state)
{
	(void)state;
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/root", tu_tmpdir);
	struct agent_options o = {.root = root, .confinement = "off"};
	ferry_error err;
	assert_int_equal(config_apply(&ag, &o, &err), 0);
	assert_int_equal(ag.retain, AGENT_RETAIN_DEFAULT);
	assert_int_equal(ag.log_max, 1024 * 1024);
	assert_int_equal(ag.hook_timeout_ms, 10 * 60 * 1000);
	assert_int_equal(ag.retries, 4);
	assert_int_equal(ag.retry_delay_ms, 5000);
	assert_int_equal(ag.min_free, 64ull << 20);
	assert_string_equal(ag.refresh_timer, "00:00~24:00/4");
	assert_int_equal(ag.app_id_min, 70000);
	assert_int_equal(ag.app_id_max, 79999);
	assert_string_equal(ag.socket_path, AGENT_DEFAULT_SOCKET);
	assert_string_equal(ag.device_id, "");
	assert_int_equal(ag.log_level, LOG_LEVEL_INFO);
	assert_int_equal(ag.extract, geteuid() != 0);
	assert_null(ag.cgroup_parent);
}

static void test_file_errors_name_the_line(void **state)
{
	(void)state;
	const struct {
		const char *text;
		const char *msg;
	} cases[] = {
	    {"retain = 3\nfrobnicate = 1\n", ":2: unknown key \"frobnicate\" (expected root,"},
	    {"# comment\nretain 3\n", ":2: expected key = value"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_conf(cases[i].text);
		struct agent_options o = {0};
		char *keep = NULL;
		ferry_error err;
		ferry_error_clear(&err);
		assert_int_equal(config_read(conf, &o, &keep, &err), FERRY_E_INVALID);
		free(keep);
		assert_true(str_has_prefix(err.msg, conf));
		assert_non_null(strstr(err.msg, cases[i].msg));
	}
	struct agent_options o = {0};
	char *keep = NULL;
	ferry_error err;
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/none.conf", tu_tmpdir);
	assert_true(config_read(missing, &o, &keep, &err) < 0);
	assert_non_null(strstr(err.msg, missing));
}

static void test_bad_values(void **state)
{
	(void)state;
	char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s/root", tu_tmpdir);
	const struct {
		struct agent_options o;
		int status;
		const char *msg;
	} cases[] = {
	    {{.retain = "1"}, 2, "retain: expected 2 to 20; got \"1\""},
	    {{.retain = "21"}, 2, "retain: expected 2 to 20; got \"21\""},
	    {{.log_max = "4095"},
	     2,
	     "log-max-size: expected 4096 to 4294967296 bytes; got \"4095\""},
	    {{.hook_timeout = "2h"}, 2, "hook-timeout: expected a duration from 1ms to 1h"},
	    {{.retries = "0"}, 2, "retries: expected 1 to 100; got \"0\""},
	    {{.retry_delay = "5ms"}, 2, "retry-delay: expected a duration from 10ms to 1h"},
	    {{.min_free = "lots"}, 2, "min-free-space: expected a number of bytes; got \"lots\""},
	    {{.refresh_timer = "25:00"}, 2, "refresh timer \"25:00\": expected windows"},
	    {{.device_id = "Dev_1"}, 2, "device-id: expected 1 to 64 of a-z 0-9 -; got \"Dev_1\""},
	    {{.images = "copy"}, 2, "images: expected mount or extract; got \"copy\""},
	    {{.confinement = "maybe"}, 2, "confinement: expected on or off; got \"maybe\""},
	    {{.confine_path = "bin/ferry-confine"},
	     1,
	     "ferry-confine: expected an absolute path; got \"bin/ferry-confine\""},
	    {{.app_ids = "500-600"}, 2, "app-ids: expected a range of ids such as 70000-79999"},
	    {{.app_ids = "3000-2000"}, 2, "app-ids: expected a range"},
	    {{.level = "loud"},
	     2,
	     "--log-level: expected error, warn, info or debug; got \"loud\""},
	    {{.store = "http://store"}, 2, "--store and --trust go together"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct agent_options o = cases[i].o;
		o.root = root;
		if (!o.confinement && !o.confine_path)
			o.confinement = "off";
		agent_cleanup(&ag);
		agent_init(&ag);
		ferry_error err;
		ferry_error_clear(&err);
		assert_int_equal(config_apply(&ag, &o, &err), cases[i].status);
		if (!str_has_prefix(err.msg, cases[i].msg))
			fail_msg("case %zu: \"%s\" does not start with \"%s\"", i, err.msg,
			         cases[i].msg);
	}
}

static void test_root_cannot_be_made(void **state)
{
	(void)state;
	char file[PATH_MAX], root[PATH_MAX];
	snprintf(file, sizeof(file), "%s/file", tu_tmpdir);
	assert_int_equal(fs_write_atomic(file, "x", 1, 0600, NULL), 0);
	snprintf(root, sizeof(root), "%s/file/root", tu_tmpdir);
	struct agent_options o = {.root = root, .confinement = "off"};
	ferry_error err;
	ferry_error_clear(&err);
	assert_int_equal(config_apply(&ag, &o, &err), 1);
	assert_non_null(strstr(err.msg, "file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_file_and_command_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_errors_name_the_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_root_cannot_be_made, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
