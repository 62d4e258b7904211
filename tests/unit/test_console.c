/* test_console.c: src/store/console: every file of src/store/console/ is
 * compiled in with its Content-Type, its exact bytes and an ETag that is
 * its SHA-256's first 32 hex digits, quoted; "" is index.html; nothing but
 * the exact names is found (traversal, encodings, case, prefixes and
 * suffixes of names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot)
		return NULL;
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	return NULL;
}

static void test_every_source_file_is_served_as_it_is(void **state)
{
	(void)state;
	const char *top = getenv("FERRY_SOURCE_DIR");
	assert_non_null(top);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/src/store/console", top);
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t seen = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		seen++;
		const struct console_file *f = console_find(e->d_name);
		assert_non_null(f);
		assert_string_equal(f->name, e->d_name);
		assert_non_null(type_of(e->d_name));
		assert_string_equal(f->content_type, type_of(e->d_name));
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *fp = fopen(path, "rb");
		assert_non_null(fp);
		static unsigned char buf[1 << 20];
		size_t n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		assert_int_equal(n, f->size);
		assert_memory_equal(buf, f->data, n);
		unsigned char md[32];
		unsigned int mdlen = 0;
		assert_true(EVP_Digest(buf, n, md, &mdlen, EVP_sha256(), NULL));
		char etag[40] = "\"";
		for (int i = 0; i < 16; i++)
			snprintf(etag + 1 + 2 * i, 3, "%02x", md[i]);
		strcat(etag, "\"");
		assert_string_equal(f->etag, etag);
	}
	closedir(d);
	assert_int_equal(seen, console_files_count);
	assert_true(seen >= 4);
}

static void test_index_and_only_exact_names(void **state)
{
	(void)state;
	const struct console_file *idx = console_find("");
	assert_non_null(idx);
	assert_ptr_equal(idx, console_find("index.html"));
	assert_non_null(console_find("console.js"));
	static const char *const refused[] = {
	    "../store.db",     "..",           ".",
	    "/index.html",     "./index.html", "index.html/",
	    "INDEX.HTML",      "index.htm",    "index.html.",
	    "index.html~",     "x/index.html", "..%2fstore.db",
	    "%2e%2e/store.db", "console.j",    "console.jsx",
	    "/etc/passwd",     "//",           "index.html\\",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (console_find(refused[i]) != NULL)
			fail_msg("found a file for \"%s\"", refused[i]);
	assert_null(console_find(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_source_file_is_served_as_it_is),
	    cmocka_unit_test(test_index_and_only_exact_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
