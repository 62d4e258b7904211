/* test_confine.c: ferry-confine's pure parts: the command line, sizes and CPU
 * shares, the interface table (and that it names the interfaces the
 * manifest accepts), the mount plan, and the seccomp filter built
 * for every combination of lifts. The sandbox itself is tested for real, as
 * root, by tests/system/test_confine.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "confine.h"
#include "pkg/interface_names.h"
#include "pkg/name.h"

static int parse(struct confine_policy *p, ferry_error *err, ...)
{
	static char *argv[64]; /* the policy keeps pointers into it */
	int argc = 0;
	bool done;
	va_list ap;

	argv[argc++] = "ferry-confine";
	va_start(ap, err);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return policy_parse(p, argc, argv, &done, err);
}

#define BASE                                                                                       \
	"--name", "demo", "--app", "web", "--revision", "3", "--pkg-dir",                          \
	    "/var/lib/ferry/mnt/demo/3", "--data", "/var/lib/ferry/data/demo/3", "--common",       \
	    "/var/lib/ferry/data/demo/common", "--uid", "5000", "--gid", "5000"

static void test_parse_full(void **state)
{
	struct confine_policy p;
	ferry_error err = {0};

	(void)state;
	assert_int_equal(parse(&p, &err, BASE, "--plug", "network", "--plug", "home", "--plug",
	                       "network", "--memory", "256M", "--pids", "64", "--cpu", "50%",
	                       "--devmode", "--env", "A=b", "--", "bin/web", "--port", "80", NULL),
	                 0);
	assert_string_equal(p.name, "demo");
	assert_string_equal(p.app, "web");
	assert_string_equal(p.revision, "3");
	assert_int_equal(p.n_plugs, 2); /* duplicates collapse */
	assert_int_equal(p.memory_max, 256ull << 20);
	assert_int_equal(p.pids_max, 64);
	assert_int_equal(p.cpu_quota_us, 50000);
	assert_true(p.devmode);
	assert_string_equal(p.argv[0], "bin/web");
	assert_string_equal(p.argv[2], "80");
	if (geteuid() == 0) {
		assert_int_equal(p.uid, 5000);
		assert_int_equal(policy_finish(&p, &err), 0);
		assert_string_equal(p.label, "demo.web");
		assert_string_equal(p.sandbox_pkg, "/ferry/demo");
		assert_true(p.flags & IFACE_HOST_NET);
	}
}

static void test_parse_errors(void **state)
{
	struct confine_policy p;
	ferry_error err = {0};

	(void)state;
	assert_int_equal(parse(&p, &err, BASE, "--plug", "netwrok", "--", "x", NULL),
	                 FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "did you mean \"network\""));
	ferry_error_clear(&err);
	assert_int_equal(parse(&p, &err, BASE, "--plug", "frobnicate", "--", "x", NULL),
	                 FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "no such interface"));
	assert_int_equal(parse(&p, &err, BASE, NULL), FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "no command"));
	assert_int_equal(parse(&p, &err, "--name", "Demo", "--", "x", NULL), FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "--name \"Demo\""));
	assert_int_equal(parse(&p, &err, BASE, "--data", "relative/dir", "--", "x", NULL),
	                 FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "--data \"relative/dir\""));
	assert_int_equal(parse(&p, &err, BASE, "--data", "/a/../b", "--", "x", NULL),
	                 FERRY_E_INVALID);
	assert_int_equal(parse(&p, &err, BASE, "--env", "FERRY_DATA=/x", "--", "x", NULL),
	                 FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "set by ferry-confine"));
	assert_int_equal(parse(&p, &err, BASE, "--env", "1A=x", "--", "x", NULL), FERRY_E_INVALID);
	assert_int_equal(parse(&p, &err, BASE, "--cgroup-parent", "../escape", "--", "x", NULL),
	                 FERRY_E_INVALID);
	assert_int_equal(parse(&p, &err, BASE, "--log-fd", "999", "--", "x", NULL),
	                 FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "not open"));
	assert_int_equal(parse(&p, &err, "frobnicate", NULL), FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "frobnicate"));
	assert_int_equal(parse(&p, &err, "--name", "demo", "--", "x", NULL), FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "--app is required"));
	if (geteuid() == 0) {
		assert_int_equal(parse(&p, &err, BASE, "--uid", "0", "--", "x", NULL),
		                 FERRY_E_INVALID);
		assert_non_null(strstr(err.msg, "never runs as root"));
	}
}

static void test_sizes(void **state)
{
	uint64_t v;
	ferry_error err = {0};

	(void)state;
	assert_int_equal(policy_parse_size("256M", &v, &err), 0);
	assert_int_equal(v, 256ull << 20);
	assert_int_equal(policy_parse_size("1G", &v, &err), 0);
	assert_int_equal(v, 1ull << 30);
	assert_int_equal(policy_parse_size("8388608", &v, &err), 0);
	assert_int_equal(v, 8388608);
	assert_int_equal(policy_parse_size("1K", &v, &err), FERRY_E_INVALID); /* below 4M */
	assert_int_equal(policy_parse_size("12X", &v, &err), FERRY_E_INVALID);
	assert_int_equal(policy_parse_size("", &v, &err), FERRY_E_INVALID);
	assert_int_equal(policy_parse_size("99999999999T", &v, &err), FERRY_E_INVALID);
	assert_int_equal(policy_parse_cpu("50%", &v, &err), 0);
	assert_int_equal(v, 50000);
	assert_int_equal(policy_parse_cpu("250%", &v, &err), 0);
	assert_int_equal(v, 250000);
	assert_int_equal(policy_parse_cpu("50", &v, &err), FERRY_E_INVALID);
	assert_int_equal(policy_parse_cpu("0%", &v, &err), FERRY_E_INVALID);
}

static void test_interface_table(void **state)
{
	size_t n, nr;
	const struct iface *all = iface_all(&n);
	const struct syscall_rule *rules = syscall_filter_rules(&nr);
	(void)state;
	/* the table implements exactly the names the manifest accepts, in order */
	size_t named = 0;
	while (pkg_interfaces[named])
		named++;
	assert_int_equal(n, named);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(all[i].name, pkg_interfaces[i]);
	for (size_t i = 0; pkg_interfaces_declared_only[i]; i++)
		assert_null(iface_find(pkg_interfaces_declared_only[i]));
	/* either network interface shares the host's network; each grants its half */
	assert_int_equal(iface_find("network")->flags, IFACE_HOST_NET | IFACE_TCP_CONNECT);
	assert_int_equal(iface_find("network-bind")->flags, IFACE_HOST_NET | IFACE_TCP_BIND);
	for (size_t i = 0; i < n; i++) {
		assert_true(pkg_name_valid(all[i].name));
		for (size_t j = 0; j < IFACE_MAX_PATHS && all[i].paths[j].host; j++)
			assert_int_equal(all[i].paths[j].host[0], '/');
		/* every lift names a rule that exists */
		for (unsigned bit = 1; bit; bit <<= 1) {
			bool found = false;
			if (!(all[i].lifts & bit))
				continue;
			for (size_t k = 0; k < nr; k++)
				found |= (rules[k].lifted_by & bit) != 0;
			assert_true(found);
		}
	}
	assert_null(iface_find("root"));
}

static char *toplevel[] = {"usr",  "etc", "var",          "home", "root",
                           "proc", "tmp", "bin->usr/bin", "sys",  NULL};

static const struct mnt_entry *find(const struct mnt_plan *plan, const char *dst, size_t *idx)
{
	for (size_t i = 0; i < plan->n; i++)
		if (strcmp(plan->e[i].dst, dst) == 0) {
			if (idx)
				*idx = i;
			return &plan->e[i];
		}
	return NULL;
}

static void plan_for_base(struct mnt_plan *plan, const char *plugs[], const char *base)
{
	struct confine_policy p;
	ferry_error err = {0};

	memset(&p, 0, sizeof(p));
	p.name = "demo";
	p.app = "web";
	p.pkg_dir = "/var/lib/ferry/mnt/demo/3";
	p.data_dir = "/var/lib/ferry/data/demo/3";
	p.common_dir = "/var/lib/ferry/data/demo/common";
	p.state_dir = "/var/lib/ferry";
	p.run_dir = "/run/ferry";
	p.base_dir = base;
	for (size_t i = 0; plugs && plugs[i]; i++)
		p.plugs[p.n_plugs++] = iface_find(plugs[i]);
	snprintf(p.sandbox_pkg, sizeof(p.sandbox_pkg), "/ferry/demo");
	assert_int_equal(mount_plan_build(&p, toplevel, plan, &err), 0);
}

static void plan_for(struct mnt_plan *plan, const char *plugs[])
{
	plan_for_base(plan, plugs, NULL);
}

static void test_plan_base(void **state)
{
	struct mnt_plan plan;
	const struct mnt_entry *e;

	(void)state;
	plan_for_base(&plan, NULL, "/var/lib/ferry/mnt/debian-12/4");
	/* the base's folders, not the host's */
	assert_non_null(e = find(&plan, "/usr", NULL));
	assert_int_equal(e->kind, MNT_BIND_RO);
	assert_string_equal(e->src, "/var/lib/ferry/mnt/debian-12/4/usr");
	assert_non_null(e = find(&plan, "/etc", NULL));
	assert_string_equal(e->src, "/var/lib/ferry/mnt/debian-12/4/etc");
	/* of the host's /etc only what a running program needs */
	assert_non_null(e = find(&plan, "/etc/resolv.conf", NULL));
	assert_string_equal(e->src, "/etc/resolv.conf");
	assert_int_equal(e->kind, MNT_BIND_RO);
	assert_non_null(find(&plan, "/etc/localtime", NULL));
	assert_non_null(find(&plan, "/etc/hostname", NULL));
	assert_non_null(find(&plan, "/etc/hosts", NULL));
	assert_null(find(&plan, "/etc/passwd", NULL));
	mount_plan_free(&plan);

	/* without a base none of them is bound on its own */
	plan_for(&plan, NULL);
	assert_null(find(&plan, "/etc/resolv.conf", NULL));
	assert_string_equal(find(&plan, "/usr", NULL)->src, "/usr");
	mount_plan_free(&plan);
}

static void test_plan_default(void **state)
{
	struct mnt_plan plan;
	const struct mnt_entry *e;
	size_t i_var = 0, i_vartmp = 0, i_dev = 0, i_shm = 0;

	(void)state;
	plan_for(&plan, NULL);
	/* hidden: not bound at all, or covered */
	assert_null(find(&plan, "/home", NULL));
	assert_null(find(&plan, "/root", NULL));
	assert_null(find(&plan, "/sys", NULL));
	assert_non_null(e = find(&plan, "/var/lib/ferry", NULL));
	assert_int_equal(e->kind, MNT_HIDE);
	assert_non_null(e = find(&plan, "/var/log", NULL));
	assert_int_equal(e->kind, MNT_HIDE);
	assert_non_null(e = find(&plan, "/run/ferry", NULL));
	assert_int_equal(e->kind, MNT_HIDE);
	/* the host, read-only; the package */
	assert_non_null(e = find(&plan, "/usr", NULL));
	assert_int_equal(e->kind, MNT_BIND_RO);
	assert_non_null(e = find(&plan, "/bin", NULL));
	assert_int_equal(e->kind, MNT_SYMLINK);
	assert_string_equal(e->src, "usr/bin");
	assert_non_null(e = find(&plan, "/ferry/demo/current", NULL));
	assert_int_equal(e->kind, MNT_BIND_RO);
	assert_string_equal(e->src, "/var/lib/ferry/mnt/demo/3");
	assert_non_null(e = find(&plan, "/ferry/demo/data", NULL));
	assert_int_equal(e->kind, MNT_BIND_RW);
	assert_non_null(e = find(&plan, "/tmp", NULL));
	assert_true(e->writable);
	assert_non_null(e = find(&plan, "/run", NULL));
	assert_false(e->writable);
	/* parents before children */
	assert_non_null(find(&plan, "/var", &i_var));
	assert_non_null(find(&plan, "/var/tmp", &i_vartmp));
	assert_non_null(find(&plan, "/dev", &i_dev));
	assert_non_null(find(&plan, "/dev/shm", &i_shm));
	assert_true(i_var < i_vartmp);
	assert_true(i_dev < i_shm);
	mount_plan_free(&plan);
}

static void test_plan_plugs(void **state)
{
	struct mnt_plan plan;
	const struct mnt_entry *e;
	const char *plugs[] = {"home",           "log-observe", "hardware-observe",
	                       "system-observe", "serial-port", NULL};

	(void)state;
	plan_for(&plan, plugs);
	assert_non_null(e = find(&plan, "/home", NULL));
	assert_int_equal(e->kind, MNT_BIND_RW);
	assert_null(find(&plan, "/root", NULL));
	/* log-observe grants /var/log: no longer hidden (covered by /var) */
	e = find(&plan, "/var/log", NULL);
	assert_true(!e || e->kind != MNT_HIDE);
	/* hardware-observe's /sys covers the default /sys/devices/system/cpu */
	assert_non_null(e = find(&plan, "/sys", NULL));
	assert_int_equal(e->kind, MNT_BIND_RO);
	assert_null(find(&plan, "/sys/devices/system/cpu", NULL));
	assert_non_null(e = find(&plan, "/run/host/proc", NULL));
	assert_string_equal(e->src, "/proc");
	assert_non_null(e = find(&plan, "/dev/ttyUSB*", NULL));
	assert_int_equal(e->kind, MNT_BIND_DEV);
	assert_true(e->optional);
	assert_non_null(e = find(&plan, "/dev/kmsg", NULL));
	assert_int_equal(e->kind, MNT_BIND_DEV_RO);
	mount_plan_free(&plan);
}

static void test_seccomp_every_lift(void **state)
{
	struct confine_policy p;
	ferry_error err = {0};

	(void)state;
	memset(&p, 0, sizeof(p));
	for (unsigned lifts = 0; lifts < 8; lifts++)
		for (int mode = 0; mode < 3; mode++) {
			void *ctx = NULL;
			p.lifts = lifts;
			p.devmode = mode == 2;
			assert_int_equal(syscall_filter_build(&p, mode == 0, &ctx, &err), 0);
			assert_non_null(ctx);
			syscall_filter_release(ctx);
		}
}

static void test_seccomp_describe(void **state)
{
	char out[512];
	uint64_t args[6] = {0, 0, 0020000 /* S_IFCHR */, 0, 0, 0};
	int nr_mount = -1, nr_mknodat = -1;

	(void)state;
#ifdef __x86_64__
	nr_mount = 165;
	nr_mknodat = 259;
#endif
	if (nr_mount < 0)
		skip();
	syscall_filter_describe(0, nr_mount, args, out, sizeof(out));
	assert_string_equal(
	    out, "mount(2) denied by seccomp rule \"mount\" (mounting is the agent's job)");
	syscall_filter_describe(0, nr_mknodat, args, out, sizeof(out));
	assert_non_null(
	    strstr(out, "mknodat(2) of a character device denied by seccomp rule \"mknod\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_full),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_interface_table),
	    cmocka_unit_test(test_plan_default),
	    cmocka_unit_test(test_plan_base),
	    cmocka_unit_test(test_plan_plugs),
	    cmocka_unit_test(test_seccomp_every_lift),
	    cmocka_unit_test(test_seccomp_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
