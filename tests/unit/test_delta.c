/* test_delta.c: lib/pkg/delta: a delta made between two images rebuilds the
 * new one byte for byte (copies, diffs, literals, renames, new directories
 * and symlinks); a delta is refused for another old image, when damaged
 * (flipped, truncated), when hostile (the corpus of tests/fuzz/corpus/delta,
 * made against the pattern tree below), when of an unknown format version or
 * when the rebuilt image is not the one named; and a refusal leaves neither
 * the output nor a work directory. The add of diff bytes follows the
 * version: bytes in version 1, 32-bit words in version 2, and a version 1
 * delta (the corpus's v1-carries.delta) still applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/str.h"
#include "pkg/delta.h"
#include "pkg/delta_int.h"
#include "pkg/image.h"
#include "testutil.h"

static char *at(const char *rel)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", tu_tmpdir, rel);
	return b;
}

static void put(const char *rel, const unsigned char *data, size_t len, mode_t mode)
{
	int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, data, len), 0);
	close(fd);
}

/* file k of the pattern tree: byte i is (31 * k + i) & 0xff */
static unsigned char *pattern(unsigned k, size_t n)
{
	unsigned char *p = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(31 * k + i);
	return p;
}

static void pattern_tree(const char *dir)
{
	static const size_t sizes[] = {0, 100, 5000, 200000};
	char name[64];
	assert_int_equal(mkdir(at(dir), 0755), 0);
	for (unsigned k = 0; k < 4; k++) {
		_cleanup_free_ unsigned char *p = pattern(k, sizes[k]);
		snprintf(name, sizeof(name), "%s/f%u", dir, k);
		put(name, p, sizes[k], 0644);
	}
}

static void pack(const char *dir, const char *out)
{
	ferry_error err = {0};
	int rc = image_write(at(dir), at(out), NULL, &err);
	if (rc)
		fail_msg("%s", err.msg);
}

static int entries_in_tmp(void)
{
	DIR *d = opendir(tu_tmpdir);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void assert_same_file(const char *x, const char *y)
{
	_cleanup_free_ char *a = NULL, *b = NULL;
	size_t al, bl;
	assert_int_equal(fs_read_file(x, 1 << 26, &a, &al, NULL), 0);
	assert_int_equal(fs_read_file(y, 1 << 26, &b, &bl, NULL), 0);
	assert_int_equal(al, bl);
	assert_memory_equal(a, b, al);
}

/* A and B: B keeps f1, changes f3 in place and by insertion, renames f2,
 * adds an executable in new directories and a symlink. */
static void make_pair(bool big)
{
	pattern_tree("a");
	assert_int_equal(mkdir(at("b"), 0755), 0);
	assert_int_equal(mkdir(at("b/d"), 0755), 0);
	assert_int_equal(mkdir(at("b/d/e"), 0755), 0);
	_cleanup_free_ unsigned char *f1 = pattern(1, 100);
	put("b/f1", f1, 100, 0644);
	_cleanup_free_ unsigned char *f2 = pattern(2, 5000);
	put("b/d/renamed", f2, 5000, 0644);
	_cleanup_free_ unsigned char *f3 = pattern(3, 200100);
	memmove(f3 + 50100, f3 + 50000, 150000);
	memcpy(f3 + 50000, "inserted", 8);
	memset(f3 + 1000, 'X', 10);
	put("b/f3", f3, 200100, 0644);
	put("b/d/e/new", (const unsigned char *)"#!/bin/sh\necho new\n", 19, 0755);
	/* half compressible: B's image spans several chunks of compressed blocks */
	size_t nrnd = big ? 2000000 : 20000;
	_cleanup_free_ unsigned char *rnd = malloc(nrnd);
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < nrnd; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		rnd[i] = (unsigned char)(0x61 + (x & 15));
	}
	put("b/d/random", rnd, nrnd, 0644);
	assert_int_equal(symlink("../f1", at("b/d/link")), 0);
	pack("a", "a.ferry");
	pack("b", "b.ferry");
}

static uint32_t le32_at(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* What version 2 gives for one run at new-file offset pos, written
 * another way than delta_add: byte i belongs to the word that starts at
 * i - (pos + i) % 4 when that word lies whole in the run. */
static void word_add_ref(uint64_t pos, unsigned char *out, const unsigned char *old,
                         const unsigned char *diff, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t w = (size_t)((pos + i) & 3);
		if (w == 0 && i + 4 <= n) {
			uint32_t v =
			    le32_at((const char *)old + i) + le32_at((const char *)diff + i);
			for (unsigned j = 0; j < 4; j++)
				out[i + j] = (unsigned char)(v >> (8 * j));
			i += 4;
		} else {
			out[i] = (unsigned char)(old[i] + diff[i]);
			i++;
		}
	}
}

/* Version 2 adds little-endian 32-bit words at the new file's offsets that
 * are multiples of 4, with carries inside a word and wrap-around at its
 * top, and the 1 to 3 bytes before the first and after the last word one by
 * one; version 1 adds every byte alone. delta_sub undoes delta_add. */
static void test_word_add(void **state)
{
	(void)state;
	static const unsigned char old[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
	                                      0x00, 0x00, 0xff, 0xff, 0xff};
	static const unsigned char diff[11] = {0x01, 0x00, 0x00, 0x00, 0x02, 0x00,
	                                       0x00, 0x00, 0x01, 0x01, 0x01};
	/* at offset 0: word 0xffffffff + 1 wraps to 0; 0x000000ff + 2 carries
	 * into byte 1; the tail adds bytes, no carry from one to the next */
	static const unsigned char v2[11] = {0x00, 0x00, 0x00, 0x00, 0x01, 0x01,
	                                     0x00, 0x00, 0x00, 0x00, 0x00};
	static const unsigned char v1[11] = {0x00, 0xff, 0xff, 0xff, 0x01, 0x00,
	                                     0x00, 0x00, 0x00, 0x00, 0x00};
	/* at offset 4k + 1: 3 bytes alone (00 ff ff), the word of bytes 3..6
	 * (0x0000ffff + 0x00000200 = 0x000101ff), the word of bytes 7..10
	 * (0xffffff00 + 0x01010100 = 0x01010000, the carry out of it lost) */
	static const unsigned char v2_at1[11] = {0x00, 0xff, 0xff, 0xff, 0x01, 0x01,
	                                         0x00, 0x00, 0x00, 0x01, 0x01};
	unsigned char out[11], want[11], back[11];
	for (size_t n = 0; n <= 11; n++) {
		/* n = 9, 10, 11: tails of 1, 2 and 3 bytes after two words; n < 4:
		 * a run that is all tail */
		memset(out, 0xaa, sizeof(out));
		delta_add(2, 4096, out, old, diff, n);
		for (size_t i = 0; i < n; i++) {
			unsigned char w = i < n - n % 4 ? v2[i] : (unsigned char)(old[i] + diff[i]);
			if (out[i] != w)
				fail_msg("v2, %zu bytes: byte %zu is %#x, not %#x", n, i, out[i],
				         w);
		}
		for (size_t i = n; i < sizeof(out); i++)
			assert_int_equal(out[i], 0xaa);
		delta_sub(2, 4096, back, out, old, n);
		assert_memory_equal(back, diff, n);

		/* every offset in a word: heads and tails of 0 to 3 bytes */
		for (uint64_t pos = 4093; pos < 4101; pos++) {
			delta_add(2, pos, out, old, diff, n);
			word_add_ref(pos, want, old, diff, n);
			assert_memory_equal(out, want, n);
			delta_sub(2, pos, back, out, old, n);
			assert_memory_equal(back, diff, n);
		}

		/* version 1 ignores the offset */
		delta_add(1, 4097, out, old, diff, n);
		assert_memory_equal(out, v1, n);
		delta_sub(1, 4097, back, out, old, n);
		assert_memory_equal(back, diff, n);
	}
	delta_add(2, 1, out, old, diff, 11);
	assert_memory_equal(out, v2_at1, 11);

	/* in place (out is diff), and a run given in pieces that end at
	 * multiples of 4 of the new file adds as the whole run */
	unsigned char a[4099], d[4099], whole[4099], pieces[4099];
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < sizeof(a); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		a[i] = (unsigned char)x;
		d[i] = (unsigned char)(x >> 8);
	}
	delta_add(2, 6, whole, a, d, sizeof(a));
	word_add_ref(6, pieces, a, d, sizeof(a));
	assert_memory_equal(pieces, whole, sizeof(whole));
	memcpy(pieces, d, sizeof(d));
	delta_add(2, 6, pieces, a, pieces, 1022);
	delta_add(2, 1028, pieces + 1022, a + 1022, pieces + 1022, sizeof(a) - 1022);
	assert_memory_equal(pieces, whole, sizeof(whole));

	/* a word that moved by a constant gives the same diff word wherever
	 * it is, carries or not */
	unsigned char ptr_old[8] = {0xf0, 0x0f, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00};
	unsigned char ptr_new[8] = {0x00, 0x10, 0x01, 0x00, 0x20, 0x00, 0x00, 0x00};
	unsigned char pd[8];
	delta_sub(2, 0, pd, ptr_new, ptr_old, 8);
	assert_int_equal(le32_at((const char *)pd), 0x10);
	assert_int_equal(le32_at((const char *)pd + 4), 0x10);
}

static void test_roundtrip(void **state)
{
	ferry_error err = {0};
	struct delta_stats st;
	make_pair(false);
	int rc = delta_make(at("a.ferry"), at("b.ferry"), at("ab.delta"), &st, &err);
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(st.copied, 2); /* f1, and f2 under its new name */
	assert_int_equal(st.diffed, 1);
	assert_int_equal(st.literal, 2);
	assert_true(st.delta_size < 20000 + 2000);

	struct delta_info info;
	assert_int_equal(delta_read_info(at("ab.delta"), &info, &err), 0);
	assert_int_equal(info.b_size, st.b_size);
	_cleanup_free_ char *d = NULL;
	size_t len;
	assert_int_equal(fs_read_file(at("ab.delta"), 1 << 20, &d, &len, NULL), 0);
	assert_int_equal(le32_at(d + 8), 2); /* the maker writes version 2 */

	rc = delta_apply(at("a.ferry"), at("ab.delta"), at("out.ferry"), NULL, &st, &err);
	if (rc)
		fail_msg("%s", err.msg);
	assert_same_file(at("out.ferry"), at("b.ferry"));
	/* a, b, a.ferry, b.ferry, ab.delta, out.ferry: no work directory left */
	assert_int_equal(entries_in_tmp(), 6);

	/* the other way round works too */
	rc = delta_make(at("b.ferry"), at("a.ferry"), at("ba.delta"), NULL, &err);
	if (rc)
		fail_msg("%s", err.msg);
	assert_int_equal(
	    delta_apply(at("b.ferry"), at("ba.delta"), at("a2.ferry"), NULL, NULL, &err), 0);
	assert_same_file(at("a2.ferry"), at("a.ferry"));
}

static void test_refusals(void **state)
{
	ferry_error err = {0};
	make_pair(false);
	assert_int_equal(delta_make(at("a.ferry"), at("b.ferry"), at("ab.delta"), NULL, &err), 0);

	/* another old image */
	assert_int_equal(
	    delta_apply(at("b.ferry"), at("ab.delta"), at("out.ferry"), NULL, NULL, &err),
	    FERRY_E_VERIFY);
	assert_non_null(strstr(err.msg, "made from another image"));

	/* flipped bytes (every 23rd of the header and the first streams, then
	 * spread over the rest) and truncations are refused */
	_cleanup_free_ char *d = NULL;
	size_t len;
	assert_int_equal(fs_read_file(at("ab.delta"), 1 << 20, &d, &len, NULL), 0);
	for (size_t i = 0; i < len; i += i < 400 ? 23 : len / 20) {
		d[i] ^= 0x20;
		put("bad.delta", (unsigned char *)d, len, 0644);
		d[i] ^= 0x20;
		err.msg[0] = '\0';
		int rc =
		    delta_apply(at("a.ferry"), at("bad.delta"), at("out.ferry"), NULL, NULL, &err);
		if (rc == 0)
			fail_msg("flipped byte %zu accepted", i);
		assert_true(err.msg[0]);
		assert_int_equal(access(at("out.ferry"), F_OK), -1);
	}
	for (size_t n = 0; n < len; n += n < 400 ? 41 : len / 10) {
		put("bad.delta", (unsigned char *)d, n, 0644);
		assert_true(delta_apply(at("a.ferry"), at("bad.delta"), at("out.ferry"), NULL, NULL,
		                        &err) < 0);
		assert_int_equal(access(at("out.ferry"), F_OK), -1);
	}
	/* a, b, a.ferry, b.ferry, ab.delta, bad.delta */
	assert_int_equal(entries_in_tmp(), 6);
}

/* The corpus's v1-carries.delta was written by the version 1 maker (diff
 * bytes added byte by byte) from the pattern tree's image to one whose f3
 * has 16 bytes inserted at 3000 and the words at 8000..12000 (after the
 * insertion) moved by 0x1234, so its diff bytes carry when added as words.
 * It still applies (to the image whose size and SHA-256 its header names,
 * which delta_apply checks); read as version 2 it does not give that image;
 * other versions are refused by name. */
static void test_version1_applies(void **state)
{
	ferry_error err = {0};
	char path[4400];
	pattern_tree("a");
	pack("a", "a.ferry");
	const char *src = getenv("FERRY_SOURCE_DIR");
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/delta/v1-carries.delta", src);
	_cleanup_free_ char *d = NULL;
	size_t len;
	assert_int_equal(fs_read_file(path, 1 << 20, &d, &len, NULL), 0);
	assert_int_equal(le32_at(d + 8), 1);
	put("v1.delta", (unsigned char *)d, len, 0644);
	int rc = delta_apply(at("a.ferry"), at("v1.delta"), at("out.ferry"), NULL, NULL, &err);
	if (rc)
		fail_msg("%s", err.msg);
	struct stat st;
	assert_int_equal(stat(at("out.ferry"), &st), 0);
	assert_int_equal(st.st_size, le32_at(d + 64)); /* B's size, below 4 GiB here */

	/* the same bytes read with the word add do not rebuild B */
	d[8] = 2;
	put("v1-as-v2.delta", (unsigned char *)d, len, 0644);
	rc = delta_apply(at("a.ferry"), at("v1-as-v2.delta"), at("out2.ferry"), NULL, NULL, &err);
	assert_int_equal(rc, FERRY_E_VERIFY);
	assert_int_equal(access(at("out2.ferry"), F_OK), -1);

	static const unsigned char bad[] = {0, 3, 0xff};
	for (size_t i = 0; i < sizeof(bad); i++) {
		d[8] = (char)bad[i];
		put("vx.delta", (unsigned char *)d, len, 0644);
		err.msg[0] = '\0';
		rc = delta_apply(at("a.ferry"), at("vx.delta"), at("out2.ferry"), NULL, NULL, &err);
		assert_int_equal(rc, FERRY_E_UNSUPPORTED);
		char want[64];
		snprintf(want, sizeof(want),
		         "delta format version %u: this ferry reads versions 1 to 2", bad[i]);
		if (!strstr(err.msg, want))
			fail_msg("version %u: %s", bad[i], err.msg);
		assert_int_equal(access(at("out2.ferry"), F_OK), -1);
	}
}

/* The corpus's version 2 seeds (from the pattern tree's image to trees with
 * moved words, at aligned offsets and not) are deltas that apply. */
static void test_v2_seeds_apply(void **state)
{
	static const char *const seeds[] = {"v2-good.delta", "v2-unaligned.delta"};
	ferry_error err = {0};
	char path[4400];
	pattern_tree("a");
	pack("a", "a.ferry");
	const char *src = getenv("FERRY_SOURCE_DIR");
	assert_non_null(src);
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/delta/%s", src, seeds[i]);
		int rc = delta_apply(at("a.ferry"), path, at("out.ferry"), NULL, NULL, &err);
		if (rc)
			fail_msg("%s: %s", seeds[i], err.msg);
		assert_int_equal(unlink(at("out.ferry")), 0);
	}
}

static void test_hostile_corpus(void **state)
{
	ferry_error err = {0};
	char dir[4096];
	pattern_tree("a");
	pack("a", "a.ferry");
	const char *src = getenv("FERRY_SOURCE_DIR");
	assert_non_null(src);
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/delta", src);
	DIR *dd = opendir(dir);
	assert_non_null(dd);
	int n = 0;
	for (struct dirent *e; (e = readdir(dd));) {
		char path[4400];
		if (strncmp(e->d_name, "hostile-", 8) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		err.msg[0] = '\0';
		int rc = delta_apply(at("a.ferry"), path, at("out.ferry"), NULL, NULL, &err);
		if (rc == 0)
			fail_msg("%s accepted", e->d_name);
		if (rc != FERRY_E_CORRUPT && rc != FERRY_E_LIMIT && rc != FERRY_E_UNSAFE)
			fail_msg("%s: %d %s", e->d_name, rc, err.msg);
		assert_int_equal(access(at("out.ferry"), F_OK), -1);
		assert_int_equal(access(at("evil"), F_OK), -1);
		n++;
	}
	closedir(dd);
	assert_true(n >= 8);
	assert_int_equal(entries_in_tmp(), 2); /* a, a.ferry */
}

#ifdef FERRY_FAULTS
static int fetch_from_b(void *ctx, uint64_t off, size_t len, void *buf, ferry_error *err)
{
	int *calls = ctx;
	(*calls)++;
	int fd = open(at("b.ferry"), O_RDONLY);
	ssize_t r = pread(fd, buf, len, (off_t)off);
	close(fd);
	if (r != (ssize_t)len)
		return ferry_error_set(err, FERRY_E_IO, "short read");
	return 0;
}
#endif

/* Blocks that compress otherwise here (forced: an eighth of them) keep B's
 * layout and only the chunks they touch are fetched. */
static void test_recompress_mismatch_fetched(void **state)
{
#ifdef FERRY_FAULTS
	ferry_error err = {0};
	struct delta_stats st;
	int calls = 0;
	struct delta_apply_opts o = {fetch_from_b, &calls};
	make_pair(true);
	assert_int_equal(delta_make(at("a.ferry"), at("b.ferry"), at("ab.delta"), NULL, &err), 0);
	setenv("FERRY_FAULT", "delta_apply.recompress", 1);
	/* without a source: refused, nothing left */
	int rc = delta_apply(at("a.ferry"), at("ab.delta"), at("out.ferry"), NULL, &st, &err);
	assert_int_equal(rc, FERRY_E_VERIFY);
	assert_non_null(strstr(err.msg, "recompress otherwise here"));
	assert_int_equal(access(at("out.ferry"), F_OK), -1);
	/* with one: repaired by fetching part of B */
	rc = delta_apply(at("a.ferry"), at("ab.delta"), at("out.ferry"), &o, &st, &err);
	unsetenv("FERRY_FAULT");
	if (rc)
		fail_msg("%s", err.msg);
	assert_same_file(at("out.ferry"), at("b.ferry"));
	assert_true(st.recompressed_differently > 0);
	assert_true(calls > 0);
	assert_true(st.fetched > 0 && st.fetched < st.b_size);
#else
	skip();
#endif
}

static void test_rebuilt_image_checked(void **state)
{
#ifdef FERRY_FAULTS
	ferry_error err = {0};
	make_pair(false);
	assert_int_equal(delta_make(at("a.ferry"), at("b.ferry"), at("ab.delta"), NULL, &err), 0);
	setenv("FERRY_FAULT", "delta_apply.mismatch", 1);
	int rc = delta_apply(at("a.ferry"), at("ab.delta"), at("out.ferry"), NULL, NULL, &err);
	unsetenv("FERRY_FAULT");
	assert_int_equal(rc, FERRY_E_VERIFY);
	assert_non_null(strstr(err.msg, "is not the new revision's"));
	assert_int_equal(access(at("out.ferry"), F_OK), -1);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_word_add),
	    cmocka_unit_test_setup_teardown(test_version1_applies, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_v2_seeds_apply, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_roundtrip, tu_tmpdir_setup, tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, tu_tmpdir_setup, tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_corpus, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_recompress_mismatch_fetched, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	    cmocka_unit_test_setup_teardown(test_rebuilt_image_checked, tu_tmpdir_setup,
	                                    tu_tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
