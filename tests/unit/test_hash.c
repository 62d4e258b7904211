/* test_hash.c: lib/crypto/hash: known digests (FIPS 180 examples), files
 * read in chunks give the digest of their bytes, and errors name the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "crypto/hash.h"

static char tmpdir[256];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ferry-test-hash-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(fs_remove_tree(tmpdir, NULL), 0);
	return 0;
}

#define ABC_256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_512                                                                                    \
	"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a8"         \
	"36ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
#define EMPTY_256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_memory_known(void **state)
{
	char hex[HASH_SHA512_HEX_SIZE];
	assert_int_equal(hash_memory_hex(HASH_SHA256, "abc", 3, hex, sizeof(hex)), 0);
	assert_string_equal(hex, ABC_256);
	assert_int_equal(hash_memory_hex(HASH_SHA512, "abc", 3, hex, sizeof(hex)), 0);
	assert_string_equal(hex, ABC_512);
	assert_int_equal(hash_memory_hex(HASH_SHA256, "", 0, hex, sizeof(hex)), 0);
	assert_string_equal(hex, EMPTY_256);
	assert_int_equal(hash_memory_hex(HASH_SHA1, "abc", 3, hex, sizeof(hex)), 0);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	/* a buffer too small is refused, not overrun */
	char small[64];
	assert_int_equal(hash_memory_hex(HASH_SHA256, "abc", 3, small, sizeof(small)),
	                 FERRY_E_LIMIT);
	assert_int_equal(hash_len(HASH_SHA256), 32);
	assert_int_equal(hash_len(HASH_SHA512), 64);
	assert_string_equal(hash_name(HASH_SHA512), "sha512");
}

static void test_file_digests(void **state)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/abc", tmpdir);
	assert_int_equal(fs_write_atomic(path, "abc", 3, 0644, NULL), 0);
	struct hash_file_digests d;
	assert_int_equal(hash_file_digests(path, &d, NULL), 0);
	assert_int_equal(d.size, 3);
	assert_string_equal(d.sha256, ABC_256);
	assert_string_equal(d.sha512, ABC_512);

	/* larger than one read chunk, not a multiple of it */
	size_t n = 3 * 65536 + 17;
	unsigned char *big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 31 + 7);
	snprintf(path, sizeof(path), "%s/big", tmpdir);
	assert_int_equal(fs_write_atomic(path, big, n, 0644, NULL), 0);
	char want[HASH_SHA512_HEX_SIZE], got[HASH_SHA512_HEX_SIZE];
	assert_int_equal(hash_memory_hex(HASH_SHA512, big, n, want, sizeof(want)), 0);
	assert_int_equal(hash_file_hex(HASH_SHA512, path, got, sizeof(got), NULL), 0);
	assert_string_equal(got, want);
	assert_int_equal(hash_file_digests(path, &d, NULL), 0);
	assert_int_equal(d.size, n);
	assert_string_equal(d.sha512, want);
	free(big);
}

static void test_file_errors(void **state)
{
	ferry_error err = {0};
	char hex[HASH_SHA256_HEX_SIZE];
	assert_int_equal(hash_file_hex(HASH_SHA256, "/nonexistent/x", hex, sizeof(hex), &err),
	                 FERRY_E_IO);
	assert_string_equal(err.msg, "open /nonexistent/x: No such file or directory");
	struct hash_file_digests d;
	ferry_error_clear(&err);
	/* a directory opens but cannot be read */
	assert_int_equal(hash_file_digests(tmpdir, &d, &err), FERRY_E_IO);
	assert_non_null(strstr(err.msg, "Is a directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_memory_known),
	    cmocka_unit_test(test_file_digests),
	    cmocka_unit_test(test_file_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
