/* test_elf.c: lib/pkg/elf (what a real binary and a real versioned library
 * need and define; every cut of a file refused cleanly), lib/pkg/dpkg_status
 * (installed stanzas only, sorted, sources), lib/pkg/apt's sources and
 * Release-date parsers, and rootfs_normalise on a small tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "pkg/apt.h"
#include "pkg/dpkg_status.h"
#include "pkg/elf.h"
#include "pkg/rootfs.h"

#include "testutil.h"

static char *read_all(const char *path, size_t *len)
{
	char *d = NULL;
	assert_int_equal(fs_read_file(path, 64u << 20, &d, len, NULL), 0);
	return d;
}

static void test_self(void **state)
{
	(void)state;
	size_t len = 0;
	char *d = read_all("/proc/self/exe", &len);
	ferry_error err = {0};
	struct elf_info info;
	assert_true(elf_is_elf((unsigned char *)d, len));
	assert_int_equal(elf_parse((unsigned char *)d, len, "self", &info, &err), 0);
	assert_true(info.dynamic);
	bool libc = false, glibc_ver = false;
	for (size_t i = 0; i < info.n_needed; i++)
		libc |= strcmp(info.needed[i], "libc.so.6") == 0;
	for (size_t i = 0; i < info.n_verneed; i++)
		glibc_ver |= strcmp(info.verneed[i].file, "libc.so.6") == 0 &&
		             strncmp(info.verneed[i].version, "GLIBC_2.", 8) == 0;
	assert_true(libc);
	assert_true(glibc_ver);
	elf_info_free(&info);

	/* every cut of the file is refused with a message or parsed within
	 * bounds, never a crash (ASan watches) */
	for (size_t cut = 0; cut < len && cut < 8192; cut += 7) {
		ferry_error e = {0};
		if (elf_parse((unsigned char *)d, cut, "cut", &info, &e) == 0)
			elf_info_free(&info);
		else
			assert_true(e.msg[0] != '\0');
	}
	free(d);
}

static void test_versioned_library(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/elf/seed-verdef.so",
	         getenv("FERRY_SOURCE_DIR"));
	size_t len = 0;
	char *d = read_all(path, &len);
	struct elf_info info;
	ferry_error err = {0};
	assert_int_equal(elf_parse((unsigned char *)d, len, "seed", &info, &err), 0);
	assert_string_equal(info.soname, "libseedv.so.1");
	assert_string_equal(info.runpath, "$ORIGIN/../lib");
	assert_true(elf_defines(&info, "SEED_1.0"));
	assert_true(elf_defines(&info, "SEED_2.0"));
	assert_false(elf_defines(&info, "SEED_3.0"));
	elf_info_free(&info);
	free(d);

	assert_int_equal(elf_parse((const unsigned char *)"\x7f"
	                                                  "ELF",
	                           4, "tiny", &info, &err),
	                 FERRY_E_CORRUPT);
	assert_non_null(strstr(err.msg, "tiny: not a valid ELF file"));
}

static void test_dpkg_status(void **state)
{
	(void)state;
	static const char text[] = "Package: zlib1g\n"
	                           "Status: install ok installed\n"
	                           "Architecture: amd64\n"
	                           "Source: zlib\n"
	                           "Version: 1:1.2.13.dfsg-1\n"
	                           "Description: compression\n"
	                           " more text: here\n"
	                           "\n"
	                           "Package: gone\n"
	                           "Status: deinstall ok config-files\n"
	                           "Architecture: all\n"
	                           "Version: 1\n"
	                           "\n"
	                           "Package: libc6\n"
	                           "Status: install ok installed\n"
	                           "Architecture: amd64\n"
	                           "Source: glibc (2.36-9)\n"
	                           "Version: 2.36-9+b1\n";
	struct stage_result st;
	ferry_error err = {0};
	assert_int_equal(dpkg_status_parse(text, strlen(text), &st, &err), 0);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.debs[0].name, "libc6");
	assert_string_equal(st.debs[0].source, "glibc");
	assert_string_equal(st.debs[0].source_version, "2.36-9");
	assert_string_equal(st.debs[1].name, "zlib1g");
	assert_string_equal(st.debs[1].version, "1:1.2.13.dfsg-1");
	assert_non_null(dpkg_status_find(&st, "zlib1g", "amd64"));
	assert_null(dpkg_status_find(&st, "zlib1g", "arm64"));
	assert_null(dpkg_status_find(&st, "gone", NULL));
	stage_result_free(&st);

	static const char bad[] = "Package: x\nStatus: install ok installed\nVersion: 1\n";
	assert_int_equal(dpkg_status_parse(bad, strlen(bad), &st, &err), FERRY_E_INVALID);
	assert_non_null(strstr(err.msg, "var/lib/dpkg/status: package 1"));
}

static void test_sources(void **state)
{
	(void)state;
	struct apt_mirrors m;
	memset(&m, 0, sizeof(m));
	static const char one[] = "# comment\n"
	                          "deb-src http://src.example/debian bookworm main\n"
	                          "deb [arch=amd64 signed-by=/k/a.gpg] http://m.example/debian/ "
	                          "bookworm main\n"
	                          "deb http://s.example/debian-security bookworm-security main\n";
	assert_int_equal(apt_sources_parse(one, false, "bookworm", &m), 1);
	assert_string_equal(m.archive, "http://m.example/debian");
	assert_string_equal(m.keyring, "/k/a.gpg");
	assert_string_equal(m.security, "http://s.example/debian-security");

	memset(&m, 0, sizeof(m));
	static const char d822[] = "Types: deb\n"
	                           "URIs: http://m.example/debian\n"
	                           "Suites: bookworm bookworm-updates\n"
	                           "Components: main\n"
	                           "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
	                           "\n"
	                           "Types: deb\n"
	                           "URIs: http://m.example/debian-security\n"
	                           "Suites: bookworm-security\n";
	assert_int_equal(apt_sources_parse(d822, true, "bookworm", &m), 1);
	assert_string_equal(m.archive, "http://m.example/debian");
	assert_string_equal(m.security, "http://m.example/debian-security");
	/* another release's entries are not the archive of this one */
	memset(&m, 0, sizeof(m));
	assert_int_equal(apt_sources_parse(d822, true, "trixie", &m), 0);
	assert_string_equal(m.archive, "");

	uint64_t t = 0;
	assert_int_equal(apt_parse_release_date("Sat, 10 Jun 2023 08:55:33 UTC", &t), 0);
	assert_int_equal(t, 1686387333);
	assert_int_equal(apt_parse_release_date("Sat, 10 Foo 2023 08:55:33 UTC", &t),
	                 FERRY_E_INVALID);
	assert_int_equal(apt_parse_release_date("Sat, 10 Jun 2023 08:55:33 CEST", &t),
	                 FERRY_E_INVALID);
}

static void test_normalise(void **state)
{
	(void)state;
	char p[512], q[512];
	snprintf(p, sizeof(p), "%s/root", tu_tmpdir);
	assert_int_equal(mkdir(p, 0755), 0);
	static const char *const dirs[] = {"etc/apt", "dev",          "var/log/apt",
	                                   "usr/bin", "var/lib/dpkg", "usr/share/zoneinfo/Etc",
	                                   NULL};
	for (size_t i = 0; dirs[i]; i++) {
		snprintf(q, sizeof(q), "%s/%s", p, dirs[i]);
		assert_int_equal(fs_mkdir_p(q, 0755, NULL), 0);
	}
	static const char *const files[] = {"etc/hostname",
	                                    "etc/machine-id",
	                                    "etc/apt/sources.list",
	                                    "var/log/apt/history.log",
	                                    "var/lib/dpkg/status-old",
	                                    "usr/bin/su",
	                                    "usr/share/zoneinfo/Etc/UTC",
	                                    NULL};
	for (size_t i = 0; files[i]; i++) {
		snprintf(q, sizeof(q), "%s/%s", p, files[i]);
		assert_int_equal(fs_write_atomic(q, "x", 1, 0644, NULL), 0);
	}
	snprintf(q, sizeof(q), "%s/usr/bin/su", p);
	assert_int_equal(chmod(q, 04755), 0);
	snprintf(q, sizeof(q), "%s/etc/localtime", p);
	assert_int_equal(symlink("/usr/share/zoneinfo/Etc/UTC", q), 0);
	snprintf(q, sizeof(q), "%s/usr/bin/sh", p);
	assert_int_equal(symlink("/bin/dash", q), 0);
	snprintf(q, sizeof(q), "%s/dev/fifo", p);
	assert_int_equal(mkfifo(q, 0600), 0);

	ferry_error err = {0};
	assert_int_equal(rootfs_normalise(p, &err), 0);
	struct stat st;
	snprintf(q, sizeof(q), "%s/usr/bin/su", p);
	assert_int_equal(stat(q, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	snprintf(q, sizeof(q), "%s/etc/hostname", p);
	assert_int_equal(stat(q, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* a file the device's can be mounted over, with the zone's bytes */
	snprintf(q, sizeof(q), "%s/etc/localtime", p);
	assert_int_equal(lstat(q, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size == 1);
	/* other absolute links become relative */
	char t[256] = "";
	snprintf(q, sizeof(q), "%s/usr/bin/sh", p);
	assert_true(readlink(q, t, sizeof(t) - 1) > 0);
	assert_string_equal(t, "../../bin/dash");
	static const char *const gone[] = {"etc/machine-id", "etc/apt/sources.list",
	                                   "var/log/apt",    "var/lib/dpkg/status-old",
	                                   "dev/fifo",       NULL};
	for (size_t i = 0; gone[i]; i++) {
		snprintf(q, sizeof(q), "%s/%s", p, gone[i]);
		assert_false(fs_exists(q));
	}
	static const char *const kept[] = {"ferry",           "proc",      "tmp", "dev", "var/log",
	                                   "etc/resolv.conf", "etc/hosts", NULL};
	for (size_t i = 0; kept[i]; i++) {
		snprintf(q, sizeof(q), "%s/%s", p, kept[i]);
		assert_true(fs_exists(q));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_self),
	    cmocka_unit_test(test_versioned_library),
	    cmocka_unit_test(test_dpkg_status),
	    cmocka_unit_test(test_sources),
	    cmocka_unit_test_setup_teardown(test_normalise, tu_tmpdir_setup, tu_tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
