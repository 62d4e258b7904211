/* test_image.c: lib/pkg/image: staged trees written to squashfs and read back
 * (contents, modes, links, empty and sparse files, files spanning blocks),
 * determinism, refusal of unsafe trees with their messages, limits, atomic
 * output, extraction, cross-checks with squashfs-tools (unsquashfs reads what
 * we write, we read what mksquashfs writes), and hostile images: truncated at
 * every offset, bit-flipped at every byte, patched superblocks and
 * hand-built images with loops, bad orders, device nodes and huge sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/str.h"
#include "pkg/image.h"

static char tmp[256];

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/ferry-test-image-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	umask(022);
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(fs_remove_tree(tmp, NULL), 0);
	unsetenv("FERRY_FAULT");
	unsetenv("SOURCE_DATE_EPOCH");
	umask(022);
	return 0;
}

/* ---- helpers ---- */

static char *at(const char *rel)
{
	static char bufs[8][4352];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", tmp, rel);
	return b;
}

static void mkdirs(const char *rel)
{
	assert_int_equal(fs_mkdir_p(at(rel), 0755, NULL), 0);
}

static void put(const char *rel, const void *data, size_t len, mode_t mode)
{
	char *p = at(rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, data, len), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void puts_file(const char *rel, const char *text, mode_t mode)
{
	put(rel, text, strlen(text), mode);
}

static void link_to(const char *target, const char *rel)
{
	assert_int_equal(symlink(target, at(rel)), 0);
}

/* Deterministic pseudo-random bytes. */
static void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

/* root/name/name/... levels deep, created relative to descriptors so that
 * the whole path may be longer than PATH_MAX; existing levels are kept. */
static void mkdir_chain(const char *root, const char *name, int levels)
{
	int fd = open(at(root), O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (int i = 0; i < levels; i++) {
		if (mkdirat(fd, name, 0755) < 0)
			assert_int_equal(errno, EEXIST);
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);
}

static void rmdir_last(const char *root, const char *name, int levels)
{
	int fd = open(at(root), O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (int i = 0; i < levels - 1; i++) {
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	assert_int_equal(unlinkat(fd, name, AT_REMOVEDIR), 0);
	close(fd);
}

static int pack(const char *dir_rel, const char *out_rel, const struct image_write_opts *o,
                ferry_error *err)
{
	struct image_write_opts def = {.compression = IMAGE_ZSTD, .mtime = 1700000000};
	return image_write(at(dir_rel), at(out_rel), o ? o : &def, err);
}

static void pack_ok(const char *dir_rel, const char *out_rel, const struct image_write_opts *o)
{
	ferry_error err = {0};
	int rc = pack(dir_rel, out_rel, o, &err);
	if (rc != 0)
		fail_msg("image_write: %s", ferry_error_msg(&err));
}

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	assert_int_equal(fs_read_file(path, 256u << 20, &data, len, NULL), 0);
	return data;
}

/* The reference tree most tests use. */
#define BIG_LEN (3 * 131072 + 1234)
static unsigned char big[BIG_LEN];

static void make_tree(const char *root)
{
	char p[512];
#define R(x) (snprintf(p, sizeof(p), "%s/%s", root, x), p)
	mkdirs(R("usr/bin"));
	mkdirs(R("usr/lib/app"));
	mkdirs(R("empty"));
	mkdirs(R("meta/hooks"));
	puts_file(R("meta/ferry.yaml"), "name: hello\nversion: 1.0\n", 0644);
	puts_file(R("meta/hooks/install"), "#!/bin/sh\nexit 0\n", 0700);
	puts_file(R("usr/bin/hello"), "#!/bin/sh\necho hello\n", 0755);
	puts_file(R("usr/lib/app/data.txt"), "some data\n", 0640);
	put(R("usr/lib/app/empty.dat"), "", 0, 0644);
	fill_random(big, sizeof(big), 7);
	put(R("usr/lib/app/big.bin"), big, sizeof(big), 0644);
	/* exactly one block, and one block and a byte */
	put(R("usr/lib/app/block.bin"), big, 131072, 0644);
	put(R("usr/lib/app/block1.bin"), big, 131073, 0644);
	/* sparse: a hole, data, a hole */
	int fd = open(at(R("usr/lib/app/sparse.img")), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "middle", 6, 300000), 6);
	assert_int_equal(ftruncate(fd, 700000), 0);
	close(fd);
	link_to("hello", R("usr/bin/hi"));
	link_to("../lib/app/data.txt", R("usr/bin/data"));
	link_to("usr/lib/app", R("app"));
	link_to("does/not/exist", R("dangling"));
#undef R
}

struct seen {
	char lines[64][320];
	int n;
};

static int collect(const struct image_entry *e, void *ctx)
{
	struct seen *s = ctx;
	assert_true(s->n < 64);
	snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%06o %llu %s%s%s", (unsigned)e->mode,
	         (unsigned long long)e->size, e->path[0] ? e->path : "/", e->target ? " -> " : "",
	         e->target ? e->target : "");
	return 0;
}

static const char *const tree_listing[] = {
    "040755 0 /",
    "120777 11 app -> usr/lib/app",
    "120777 14 dangling -> does/not/exist",
    "040755 0 empty",
    "040755 0 meta",
    "100644 25 meta/ferry.yaml",
    "040755 0 meta/hooks",
    "100755 17 meta/hooks/install",
    "040755 0 usr",
    "040755 0 usr/bin",
    "120777 19 usr/bin/data -> ../lib/app/data.txt",
    "100755 21 usr/bin/hello",
    "120777 5 usr/bin/hi -> hello",
    "040755 0 usr/lib",
    "040755 0 usr/lib/app",
    "100644 394450 usr/lib/app/big.bin",
    "100644 131072 usr/lib/app/block.bin",
    "100644 131073 usr/lib/app/block1.bin",
    "100644 10 usr/lib/app/data.txt",
    "100644 0 usr/lib/app/empty.dat",
    "100644 700000 usr/lib/app/sparse.img",
};

static void check_listing(struct image *img)
{
	struct seen s = {0};
	ferry_error err = {0};
	assert_int_equal(image_walk(img, collect, &s, &err), 0);
	assert_int_equal(s.n, (int)ARRAY_SIZE(tree_listing));
	for (int i = 0; i < s.n; i++)
		assert_string_equal(s.lines[i], tree_listing[i]);
}

static void check_file(struct image *img, const char *path, const void *want, size_t want_len)
{
	ferry_error err = {0};
	char *data = NULL;
	size_t len = 0;
	int rc = image_read_file(img, path, 64u << 20, &data, &len, &err);
	if (rc != 0)
		fail_msg("read %s: %s", path, ferry_error_msg(&err));
	assert_int_equal(len, want_len);
	assert_memory_equal(data, want, want_len);
	assert_int_equal(data[len], '\0');
	free(data);
}

static void check_contents(struct image *img)
{
	check_file(img, "meta/ferry.yaml", "name: hello\nversion: 1.0\n", 25);
	check_file(img, "usr/bin/hello", "#!/bin/sh\necho hello\n", 21);
	check_file(img, "usr/lib/app/empty.dat", "", 0);
	check_file(img, "usr/lib/app/big.bin", big, sizeof(big));
	check_file(img, "usr/lib/app/block.bin", big, 131072);
	check_file(img, "usr/lib/app/block1.bin", big, 131073);
	static char sparse[700000];
	memset(sparse, 0, sizeof(sparse));
	memcpy(sparse + 300000, "middle", 6);
	check_file(img, "usr/lib/app/sparse.img", sparse, sizeof(sparse));
}

/* ---- round trips ---- */

static void test_roundtrip_each_compression(void **state)
{
	make_tree("src");
	for (int c = IMAGE_ZSTD; c <= IMAGE_GZIP; c++) {
		struct image_write_opts o = {.compression = (enum image_compression)c,
		                             .mtime = 1234567};
		char out[64];
		snprintf(out, sizeof(out), "out.%s",
		         image_compression_name((enum image_compression)c));
		pack_ok("src", out, &o);

		struct image *img = NULL;
		ferry_error err = {0};
		assert_int_equal(image_open(at(out), &img, &err), 0);
		struct image_info info;
		image_get_info(img, &info);
		assert_int_equal(info.compression, c);
		assert_int_equal(image_get_compression(img), c);
		assert_int_equal(info.block_size, IMAGE_BLOCK_SIZE);
		assert_int_equal(info.mtime, 1234567);
		assert_int_equal(info.inodes, ARRAY_SIZE(tree_listing));
		struct stat st;
		assert_int_equal(stat(at(out), &st), 0);
		assert_int_equal(st.st_size % 4096, 0);
		assert_true(info.bytes_used <= (uint64_t)st.st_size);
		assert_int_equal(st.st_mode & 07777, 0644);
		check_listing(img);
		check_contents(img);
		image_close(img);
	}
}

static void test_compression_names(void **state)
{
	assert_int_equal(image_compression_parse("zstd"), IMAGE_ZSTD);
	assert_int_equal(image_compression_parse("xz"), IMAGE_XZ);
	assert_int_equal(image_compression_parse("lz4"), IMAGE_LZ4);
	assert_int_equal(image_compression_parse("gzip"), IMAGE_GZIP);
	assert_int_equal(image_compression_parse("lzo"), -1);
	assert_int_equal(image_compression_parse(NULL), -1);
	assert_string_equal(image_compression_name(IMAGE_XZ), "xz");

	uint32_t m = 99;
	ferry_error err = {0};
	unsetenv("SOURCE_DATE_EPOCH");
	assert_int_equal(image_mtime_from_env(&m, &err), 0);
	assert_int_equal(m, IMAGE_DEFAULT_MTIME);
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	assert_int_equal(image_mtime_from_env(&m, &err), 0);
	assert_int_equal(m, 1700000000);
	setenv("SOURCE_DATE_EPOCH", "soon", 1);
	assert_int_equal(image_mtime_from_env(&m, &err), FERRY_E_INVALID);
	assert_string_equal(
	    err.msg, "SOURCE_DATE_EPOCH=soon: expected seconds since 1970, at most 4294967295");
	setenv("SOURCE_DATE_EPOCH", "4294967296", 1);
	assert_int_equal(image_mtime_from_env(&m, &err), FERRY_E_INVALID);
}

static void test_name_order(void **state)
{
	mkdirs("src/a");
	puts_file("src/a/x", "1", 0644);
	puts_file("src/a.b", "2", 0644);
	puts_file("src/B", "3", 0644);
	puts_file("src/a0", "4", 0644);
	puts_file("src/\xc3\xa9", "5", 0644);
	puts_file("src/ab", "6", 0644);
	pack_ok("src", "o", NULL);
	struct image *img = NULL;
	assert_int_equal(image_open(at("o"), &img, NULL), 0);
	struct seen s = {0};
	assert_int_equal(image_walk(img, collect, &s, NULL), 0);
	const char *want[] = {"040755 0 /",   "100644 1 B",  "040755 0 a",  "100644 1 a/x",
	                      "100644 1 a.b", "100644 1 a0", "100644 1 ab", "100644 1 \xc3\xa9"};
	assert_int_equal(s.n, ARRAY_SIZE(want));
	for (int i = 0; i < s.n; i++)
		assert_string_equal(s.lines[i], want[i]);
	image_close(img);
}

static int stop_at_third(const struct image_entry *e, void *ctx)
{
	int *n = ctx;
	return ++*n == 3 ? 42 : 0;
}

static void test_walk_stops(void **state)
{
	make_tree("src");
	pack_ok("src", "o", NULL);
	struct image *img = NULL;
	assert_int_equal(image_open(at("o"), &img, NULL), 0);
	int n = 0;
	assert_int_equal(image_walk(img, stop_at_third, &n, NULL), 42);
	assert_int_equal(n, 3);
	/* the image is still usable after a stopped walk */
	check_listing(img);
	image_close(img);
}

/* ---- determinism ---- */

static void set_mtime(const char *rel, time_t t)
{
	struct timespec ts[2] = {{t, 0}, {t, 0}};
	assert_int_equal(utimensat(AT_FDCWD, at(rel), ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_deterministic(void **state)
{
	static unsigned char blob[300000];
	fill_random(blob, sizeof(blob), 3);

	/* First tree: created in one order, umask 022. */
	umask(022);
	mkdirs("one/d/e");
	puts_file("one/a", "alpha\n", 0644);
	put("one/d/blob", blob, sizeof(blob), 0644);
	puts_file("one/d/e/run", "#!/bin/sh\n", 0755);
	puts_file("one/z", "alpha\n", 0644);
	link_to("d/e/run", "one/l");
	set_mtime("one/a", 1000);
	set_mtime("one/d", 2000);

	/* Second tree: reverse order, another umask, other mtimes and
	 * permission bits that normalise to the same, z a hard link of a. */
	umask(077);
	assert_int_equal(mkdir(at("two"), 0700), 0);
	link_to("d/e/run", "two/l");
	assert_int_equal(mkdir(at("two/d"), 0700), 0);
	assert_int_equal(mkdir(at("two/d/e"), 0711), 0);
	puts_file("two/d/e/run", "#!/bin/sh\n", 0700);
	put("two/d/blob", blob, sizeof(blob), 0600);
	puts_file("two/a", "alpha\n", 0604);
	assert_int_equal(link(at("two/a"), at("two/z")), 0);
	set_mtime("two/a", 999999);
	set_mtime("two/d/e", 5);
	umask(022);

	struct image_write_opts o1 = {.compression = IMAGE_ZSTD, .mtime = 86400, .threads = 1};
	struct image_write_opts o2 = {.compression = IMAGE_ZSTD, .mtime = 86400, .threads = 3};
	pack_ok("one", "one.img", &o1);
	pack_ok("two", "two.img", &o2);
	size_t l1, l2;
	_cleanup_free_ char *b1 = slurp(at("one.img"), &l1);
	_cleanup_free_ char *b2 = slurp(at("two.img"), &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b2, l1);

	/* The same inputs again: the same bytes. */
	pack_ok("two", "two2.img", &o1);
	_cleanup_free_ char *b3 = slurp(at("two2.img"), &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b3, l1);

	/* The mtime given does change the bytes, and so does an exec bit. */
	struct image_write_opts o3 = {.compression = IMAGE_ZSTD, .mtime = 86401};
	pack_ok("one", "three.img", &o3);
	_cleanup_free_ char *b4 = slurp(at("three.img"), &l2);
	assert_int_equal(l1, l2);
	assert_memory_not_equal(b1, b4, l1);
	assert_int_equal(chmod(at("one/a"), 0744), 0);
	pack_ok("one", "four.img", &o1);
	_cleanup_free_ char *b5 = slurp(at("four.img"), &l2);
	assert_true(l1 != l2 || memcmp(b1, b5, l1) != 0);
}

/* ---- refusals ---- */

static void expect_refusal(const char *src, int code, const char *msg)
{
	ferry_error err = {0};
	int rc = pack(src, "out.img", NULL, &err);
	assert_int_equal(rc, code);
	assert_string_equal(err.msg, msg);
	/* nothing written, not even a temporary file */
	assert_false(fs_exists(at("out.img")));
	DIR *d = opendir(tmp);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".tmp."));
	closedir(d);
}

static void test_refuse_fifo(void **state)
{
	mkdirs("src/run");
	assert_int_equal(mkfifo(at("src/run/pipe"), 0644), 0);
	expect_refusal("src", FERRY_E_UNSAFE, "run/pipe: FIFO");
}

static void test_refuse_socket(void **state)
{
	mkdirs("src/run");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", at("src/run/sock"));
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	close(s);
	expect_refusal("src", FERRY_E_UNSAFE, "run/sock: socket");
}

static void test_refuse_device(void **state)
{
	mkdirs("src/dev");
	if (mknod(at("src/dev/null"), S_IFCHR | 0666, makedev(1, 3)) < 0) {
		/* Needs CAP_MKNOD; the reader's check is tested below with a
		 * hand-built image. */
		skip();
	}
	expect_refusal("src", FERRY_E_UNSAFE, "dev/null: device node");
}

static void test_refuse_setuid_setgid(void **state)
{
	mkdirs("src/usr/bin");
	puts_file("src/usr/bin/su", "x", 0755);
	assert_int_equal(chmod(at("src/usr/bin/su"), 04755), 0);
	expect_refusal("src", FERRY_E_UNSAFE, "usr/bin/su: setuid bit set");
	assert_int_equal(chmod(at("src/usr/bin/su"), 02755), 0);
	expect_refusal("src", FERRY_E_UNSAFE, "usr/bin/su: setgid bit set");
	/* A setgid directory is only normalised. */
	assert_int_equal(chmod(at("src/usr/bin/su"), 0755), 0);
	assert_int_equal(chmod(at("src/usr"), 02775), 0);
	pack_ok("src", "ok.img", NULL);
}

static void test_refuse_links(void **state)
{
	mkdirs("src/lib/sub");
	puts_file("src/lib/f", "f", 0644);

	link_to("/etc/passwd", "src/lib/abs");
	expect_refusal("src", FERRY_E_UNSAFE,
	               "lib/abs: symlink target \"/etc/passwd\" is absolute");
	unlink(at("src/lib/abs"));

	link_to("../../etc/passwd", "src/lib/up");
	expect_refusal("src", FERRY_E_UNSAFE,
	               "lib/up: symlink target \"../../etc/passwd\" points outside the tree");
	unlink(at("src/lib/up"));

	link_to("sub/../../..", "src/lib/up2");
	expect_refusal("src", FERRY_E_UNSAFE,
	               "lib/up2: symlink target \"sub/../../..\" points outside the tree");
	unlink(at("src/lib/up2"));

	/* Escaping through another link: "s" is the root itself, so s/.. is
	 * the directory above the tree, though lexically it is not. */
	link_to(".", "src/s");
	link_to("s/../etc/passwd", "src/y");
	expect_refusal("src", FERRY_E_UNSAFE,
	               "y: symlink target \"s/../etc/passwd\" points outside the tree");
	unlink(at("src/y"));

	/* An absolute link is reported as itself, also when another link
	 * passes through it. */
	link_to("sub/x/..", "src/lib/through");
	link_to("/", "src/lib/sub/x");
	expect_refusal("src", FERRY_E_UNSAFE, "lib/sub/x: symlink target \"/\" is absolute");
	unlink(at("src/lib/sub/x"));
	unlink(at("src/lib/through"));

	/* Links that loop through each other. */
	link_to("b/x", "src/a");
	link_to("a/y", "src/b");
	expect_refusal("src", FERRY_E_UNSAFE,
	               "a: symlink target \"b/x\": too many levels of symbolic links");
	unlink(at("src/a"));
	unlink(at("src/b"));

	/* What stays inside is accepted: up and down, through links,
	 * dangling, up past a missing directory that is inside. */
	link_to("../f", "src/lib/sub/f");
	link_to("lib/sub/../f", "src/g");
	link_to("s/lib/f", "src/h");
	link_to("nothing/here", "src/i");
	link_to("nothing/../lib", "src/j");
	link_to("./lib//sub/", "src/k");
	pack_ok("src", "ok.img", NULL);
}

static void test_hard_links_are_copies(void **state)
{
	mkdirs("src");
	puts_file("src/a", "same\n", 0644);
	assert_int_equal(link(at("src/a"), at("src/b")), 0);
	mkdirs("cp");
	puts_file("cp/a", "same\n", 0644);
	puts_file("cp/b", "same\n", 0644);
	pack_ok("src", "h.img", NULL);
	pack_ok("cp", "c.img", NULL);
	size_t l1, l2;
	_cleanup_free_ char *b1 = slurp(at("h.img"), &l1);
	_cleanup_free_ char *b2 = slurp(at("c.img"), &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b2, l1);
}

static void test_limits(void **state)
{
	ferry_error err = {0};
	mkdirs("src/d");
	puts_file("src/a", "12345", 0644);
	puts_file("src/d/b", "123", 0644);
	puts_file("src/d/c", "", 0644);

	struct image_write_opts o = {.max_files = 3};
	assert_int_equal(pack("src", "o", &o, &err), FERRY_E_LIMIT);
	assert_string_equal(err.msg, "more than 3 entries");
	o.max_files = 4;
	pack_ok("src", "o", &o);

	struct image_write_opts ob = {.max_bytes = 7};
	assert_int_equal(pack("src", "o2", &ob, &err), FERRY_E_LIMIT);
	assert_string_equal(err.msg, "d/b: more than 7 bytes of files in the tree");
	ob.max_bytes = 8;
	pack_ok("src", "o2", &ob);

	/* depth: 64 levels of directories are fine, a 65th is not */
	mkdirs("deep");
	char want[1024] = "";
	mkdir_chain("deep", "d", IMAGE_MAX_DEPTH + 1);
	for (int i = 0; i <= IMAGE_MAX_DEPTH; i++)
		strcat(want, i ? "/d" : "d");
	strcat(want, ": deeper than 64 levels");
	assert_int_equal(pack("deep", "o3", NULL, &err), FERRY_E_LIMIT);
	assert_string_equal(err.msg, want);
	rmdir_last("deep", "d", IMAGE_MAX_DEPTH + 1);
	pack_ok("deep", "o3", NULL);

	/* path length: 20 levels of 200-byte names make 4019 bytes, 21 make
	 * 4220, more than 4095 */
	char name[201];
	memset(name, 'n', 200);
	name[200] = '\0';
	mkdirs("long");
	mkdir_chain("long", name, 20);
	pack_ok("long", "o4", NULL);
	mkdir_chain("long", name, 21);
	assert_int_equal(pack("long", "o4", NULL, &err), FERRY_E_LIMIT);
	char want2[256];
	snprintf(want2, sizeof(want2), "%.64s.../%.64s: path longer than 4095 bytes", name, name);
	assert_string_equal(err.msg, want2);
	/* fs_remove_tree works on paths up to 4095 bytes: shorten first */
	rmdir_last("long", name, 21);
}

static void test_missing_tree(void **state)
{
	ferry_error err = {0};
	assert_int_equal(pack("nope", "o", NULL, &err), FERRY_E_NOTFOUND);
	char want[512];
	snprintf(want, sizeof(want), "open %s/nope: No such file or directory", tmp);
	assert_string_equal(err.msg, want);
}

/* ---- output handling ---- */

static void test_atomic_output(void **state)
{
#ifdef FERRY_FAULTS
	ferry_error err = {0};
	make_tree("src");
	puts_file("out.img", "old", 0644);
	setenv("FERRY_FAULT", "image_write.write", 1);
	assert_int_equal(pack("src", "out.img", NULL, &err), FERRY_E_IO);
	char want[512];
	snprintf(want, sizeof(want), "%s/out.img: write superblock: Input/output error", tmp);
	assert_string_equal(err.msg, want);
	setenv("FERRY_FAULT", "image_write.rename", 1);
	assert_int_equal(pack("src", "out.img", NULL, &err), FERRY_E_IO);
	assert_non_null(strstr(err.msg, "rename "));
	unsetenv("FERRY_FAULT");
	size_t len;
	_cleanup_free_ char *old = slurp(at("out.img"), &len);
	assert_string_equal(old, "old");
	DIR *d = opendir(tmp);
	struct dirent *de;
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".tmp."));
	closedir(d);
	pack_ok("src", "out.img", NULL);
	struct image *img = NULL;
	assert_int_equal(image_open(at("out.img"), &img, NULL), 0);
	image_close(img);
#else
	skip();
#endif
}

struct progress {
	uint64_t last, total;
	int calls;
	bool regress;
	const char *truncate_path; /* made shorter on the first call */
};

static void on_progress(uint64_t done, uint64_t total, void *ctx)
{
	struct progress *p = ctx;
	if (done < p->last || done > total)
		p->regress = true;
	p->last = done;
	p->total = total;
	if (p->calls++ == 0 && p->truncate_path)
		assert_int_equal(truncate(p->truncate_path, 1), 0);
}

static void test_progress(void **state)
{
	make_tree("src");
	struct progress p = {0};
	struct image_write_opts o = {.progress = on_progress, .progress_ctx = &p};
	pack_ok("src", "o", &o);
	assert_false(p.regress);
	assert_true(p.calls > 3);
	uint64_t want = 25 + 17 + 21 + 10 + 0 + BIG_LEN + 131072 + 131073 + 700000;
	assert_int_equal(p.total, want);
	assert_int_equal(p.last, want);
}

static void test_changed_while_packing(void **state)
{
	mkdirs("src");
	static unsigned char blob[600000];
	fill_random(blob, sizeof(blob), 9);
	put("src/a", blob, sizeof(blob), 0644);
	put("src/b", blob, sizeof(blob), 0644);
	struct progress p = {.truncate_path = at("src/b")};
	struct image_write_opts o = {.progress = on_progress, .progress_ctx = &p};
	ferry_error err = {0};
	assert_int_equal(pack("src", "o", &o, &err), FERRY_E_IO);
	assert_string_equal(err.msg, "b: changed while being packed");
	assert_false(fs_exists(at("o")));
}

/* ---- squashfs-tools ---- */

static void test_unsquashfs_reads_ours(void **state)
{
	make_tree("src");
	for (int c = IMAGE_ZSTD; c <= IMAGE_GZIP; c++) {
		struct image_write_opts o = {.compression = (enum image_compression)c, .mtime = 0};
		pack_ok("src", "o.img", &o);
		char cmd[1024];
		snprintf(cmd, sizeof(cmd), "unsquashfs -lls -UTC -n %s 2>&1", at("o.img"));
		FILE *f = popen(cmd, "r");
		assert_non_null(f);
		char line[1024];
		int n = 0, owned = 0;
		char names[64][256];
		while (fgets(line, sizeof(line), f)) {
			char perms[16], owner[64], name[256];
			unsigned long long size;
			if (sscanf(line, "%15s %63s %llu %*s %*s %255s", perms, owner, &size,
			           name) != 4)
				continue;
			assert_true(n < 64);
			snprintf(names[n++], sizeof(names[0]), "%s %s", perms, name);
			if (strcmp(owner, "root/root") == 0)
				owned++;
		}
		assert_int_equal(pclose(f), 0);
		assert_int_equal(n, ARRAY_SIZE(tree_listing));
		assert_int_equal(owned, n);
		assert_string_equal(names[0], "drwxr-xr-x squashfs-root");
		assert_string_equal(names[1], "lrwxrwxrwx squashfs-root/app");
		assert_string_equal(names[7], "-rwxr-xr-x squashfs-root/meta/hooks/install");
		assert_string_equal(names[20], "-rw-r--r-- squashfs-root/usr/lib/app/sparse.img");

		/* and extracts the same bytes */
		snprintf(
		    cmd, sizeof(cmd),
		    "unsquashfs -q -n -d %s %s >/dev/null 2>&1 && diff -r --no-dereference %s %s",
		    at("un"), at("o.img"), at("src"), at("un"));
		assert_int_equal(system(cmd), 0);
		assert_int_equal(fs_remove_tree(at("un"), NULL), 0);
	}
}

/* The kernel's own squashfs mounts what we write (as the agent does as
 * root). Needs root and a loop device: skipped where there are none. */
static void test_kernel_mounts_ours(void **state)
{
	if (geteuid() != 0 || access("/dev/loop-control", F_OK) != 0)
		skip();
	make_tree("src");
	mkdirs("mnt");
	for (int c = IMAGE_ZSTD; c <= IMAGE_GZIP; c++) {
		struct image_write_opts o = {.compression = (enum image_compression)c};
		pack_ok("src", "k.img", &o);
		char cmd[1024];
		snprintf(cmd, sizeof(cmd), "mount -t squashfs -o loop,ro %s %s 2>/dev/null",
		         at("k.img"), at("mnt"));
		if (system(cmd) != 0) {
			if (c == IMAGE_ZSTD)
				skip(); /* no loop devices here */
			fail_msg("the kernel does not mount the %s image",
			         image_compression_name((enum image_compression)c));
		}
		snprintf(cmd, sizeof(cmd), "diff -r --no-dereference %s %s", at("src"), at("mnt"));
		int diff = system(cmd);
		struct stat st;
		int st_rc = lstat(at("mnt/meta/hooks/install"), &st);
		snprintf(cmd, sizeof(cmd), "umount %s", at("mnt"));
		assert_int_equal(system(cmd), 0);
		assert_int_equal(diff, 0);
		assert_int_equal(st_rc, 0);
		assert_int_equal(st.st_mode, S_IFREG | 0755);
		assert_int_equal(st.st_uid, 0);
		assert_int_equal(st.st_gid, 0);
		assert_int_equal(st.st_mtime, 0);
	}
}

static void test_we_read_mksquashfs(void **state)
{
	make_tree("src");
	/* mksquashfs keeps modes as they are: give it normalised ones */
	assert_int_equal(chmod(at("src/meta/hooks/install"), 0755), 0);
	assert_int_equal(chmod(at("src/usr/lib/app/data.txt"), 0644), 0);
	char cmd[1024];
	snprintf(
	    cmd, sizeof(cmd),
	    "mksquashfs %s %s -comp zstd -noappend -all-root -no-progress -quiet >/dev/null 2>&1",
	    at("src"), at("m.img"));
	assert_int_equal(system(cmd), 0);
	struct image *img = NULL;
	ferry_error err = {0};
	if (image_open(at("m.img"), &img, &err) != 0)
		fail_msg("%s", err.msg);
	check_listing(img);
	check_contents(img);
	image_close(img);
}

/* ---- reading errors ---- */

static void test_read_file_errors(void **state)
{
	make_tree("src");
	pack_ok("src", "o", NULL);
	struct image *img = NULL;
	ferry_error err = {0};
	char *data = NULL;
	size_t len;
	char want[512];
	assert_int_equal(image_open(at("o"), &img, &err), 0);

	assert_int_equal(image_read_file(img, "usr/nope", 100, &data, &len, &err),
	                 FERRY_E_NOTFOUND);
	snprintf(want, sizeof(want), "%s: usr/nope: no such file in the image", at("o"));
	assert_string_equal(err.msg, want);
	assert_null(data);

	assert_int_equal(image_read_file(img, "meta/ferry.yaml", 10, &data, &len, &err),
	                 FERRY_E_LIMIT);
	snprintf(want, sizeof(want), "%s: meta/ferry.yaml: 25 bytes, more than the limit of 10",
	         at("o"));
	assert_string_equal(err.msg, want);

	assert_int_equal(image_read_file(img, "usr/bin", 100, &data, &len, &err), FERRY_E_INVALID);
	assert_int_equal(image_read_file(img, "usr/bin/hi", 100, &data, &len, &err),
	                 FERRY_E_INVALID);
	snprintf(want, sizeof(want), "%s: usr/bin/hi: not a regular file", at("o"));
	assert_string_equal(err.msg, want);
	assert_int_equal(image_read_file(img, "app/data.txt", 100, &data, &len, &err),
	                 FERRY_E_NOTFOUND);
	assert_int_equal(image_read_file(img, "../etc/passwd", 100, &data, &len, &err),
	                 FERRY_E_INVALID);
	assert_int_equal(image_read_file(img, "/meta/ferry.yaml", 100, &data, &len, &err),
	                 FERRY_E_INVALID);
	assert_int_equal(image_read_file(img, "", 100, &data, &len, &err), FERRY_E_INVALID);
	assert_int_equal(image_read_file(img, "meta//ferry.yaml", 100, &data, &len, &err),
	                 FERRY_E_INVALID);
	assert_int_equal(image_read_file(img, "meta/ferry.yaml", 25, &data, &len, &err), 0);
	assert_int_equal(len, 25);
	free(data);
	image_close(img);
}

static void test_open_errors(void **state)
{
	struct image *img = NULL;
	ferry_error err = {0};
	char want[512];

	assert_int_equal(image_open(at("missing"), &img, &err), FERRY_E_NOTFOUND);
	assert_null(img);
	puts_file("small", "hello", 0644);
	assert_int_equal(image_open(at("small"), &img, &err), FERRY_E_CORRUPT);
	snprintf(want, sizeof(want), "%s: truncated: 5 bytes, smaller than a squashfs superblock",
	         at("small"));
	assert_string_equal(err.msg, want);
	char text[4096];
	memset(text, 'x', sizeof(text));
	put("text", text, sizeof(text), 0644);
	assert_int_equal(image_open(at("text"), &img, &err), FERRY_E_CORRUPT);
	snprintf(want, sizeof(want), "%s: not a squashfs image (bad magic)", at("text"));
	assert_string_equal(err.msg, want);
	mkdirs("adir");
	assert_int_equal(image_open(at("adir"), &img, &err), FERRY_E_INVALID);
}

/* Patch a little-endian field of the superblock of a copy of src. */
static void patch(const char *src, const char *dst, size_t off, uint64_t v, size_t width)
{
	size_t len;
	_cleanup_free_ char *b = slurp(at(src), &len);
	for (size_t i = 0; i < width; i++)
		b[off + i] = (char)(v >> (8 * i));
	put(dst, b, len, 0644);
}

static void expect_open(const char *rel, int code, const char *tail)
{
	struct image *img = NULL;
	ferry_error err = {0};
	assert_int_equal(image_open(at(rel), &img, &err), code);
	char want[1024];
	snprintf(want, sizeof(want), "%s: %s", at(rel), tail);
	assert_string_equal(err.msg, want);
	assert_null(img);
}

static void test_bad_superblocks(void **state)
{
	make_tree("src");
	pack_ok("src", "o", NULL);
	size_t len;
	_cleanup_free_ char *b = slurp(at("o"), &len);
	uint64_t bytes_used;
	memcpy(&bytes_used, b + 40, 8);

	patch("o", "p", 0, 0x12345678, 4);
	expect_open("p", FERRY_E_CORRUPT, "not a squashfs image (bad magic)");
	patch("o", "p", 28, 0x00010003, 4);
	expect_open("p", FERRY_E_CORRUPT, "squashfs version 3.1, expected 4.0");
	patch("o", "p", 12, 3000, 4);
	expect_open("p", FERRY_E_CORRUPT, "block size 3000 (log 17) is not valid");
	patch("o", "p", 22, 16, 2);
	expect_open("p", FERRY_E_CORRUPT, "block size 131072 (log 16) is not valid");
	patch("o", "p", 20, SQFS_COMP_LZO, 2);
	expect_open("p", FERRY_E_UNSUPPORTED,
	            "compressor lzo is not supported (use zstd, xz, lz4 or gzip)");
	patch("o", "p", 20, 77, 2);
	expect_open("p", FERRY_E_CORRUPT, "unknown compressor 77");
	patch("o", "p", 4, 0x7fffffff, 4);
	expect_open("p", FERRY_E_LIMIT, "2147483647 inodes, more than the limit of 200001");
	patch("o", "p", 4, 0, 4);
	expect_open("p", FERRY_E_CORRUPT, "no inodes");
	patch("o", "p", 40, len + 1, 8);
	char want[256];
	snprintf(want, sizeof(want), "truncated: the superblock says %zu bytes, the file has %zu",
	         len + 1, len);
	expect_open("p", FERRY_E_CORRUPT, want);
	patch("o", "p", 72, bytes_used + 10, 8);
	snprintf(want, sizeof(want), "directory table offset %llu out of bounds",
	         (unsigned long long)bytes_used + 10);
	expect_open("p", FERRY_E_CORRUPT, want);
	patch("o", "p", 64, 10, 8);
	expect_open("p", FERRY_E_CORRUPT, "inode table offset 10 out of bounds");
	patch("o", "p", 48, 0xFFFFFFFFFFFFull, 8);
	expect_open("p", FERRY_E_CORRUPT, "ID table offset 281474976710655 out of bounds");
	patch("o", "p", 16, 1000, 4);
	expect_open("p", FERRY_E_CORRUPT, "1000 fragment blocks for 21 inodes");
	patch("o", "p", 26, 0, 2);
	expect_open("p", FERRY_E_CORRUPT, "empty ID table");
	patch("o", "p", 32, 0xFFFFull << 16, 8);
	expect_open("p", FERRY_E_CORRUPT, "root inode reference out of bounds");

	/* a damaged data block is found when the file is read */
	mkdirs("text");
	static char words[300000];
	for (size_t i = 0; i < sizeof(words); i++)
		words[i] = "lorem ipsum dolor sit amet "[i % 27];
	put("text/words", words, sizeof(words), 0644);
	pack_ok("text", "t", NULL);
	_cleanup_free_ char *t = slurp(at("t"), &len);
	for (int i = 0; i < 8; i++)
		t[96 + 8 + i] ^= 0x5a;
	put("t2", t, len, 0644);
	struct image *img = NULL;
	ferry_error err = {0};
	assert_int_equal(image_open(at("t2"), &img, &err), 0);
	char *data = NULL;
	assert_int_equal(image_read_file(img, "words", 1 << 20, &data, NULL, &err),
	                 FERRY_E_CORRUPT);
	snprintf(want, sizeof(want), "%s: words: compressed data is damaged", at("t2"));
	assert_string_equal(err.msg, want);
	image_close(img);
}

/* ---- hostile images: truncation and bit flips ---- */

struct all_files {
	struct image *img;
	int files;
	int rc;
	ferry_error *err;
};

static int read_each(const struct image_entry *e, void *ctx)
{
	struct all_files *a = ctx;
	if (!S_ISREG(e->mode))
		return 0;
	char *data = NULL;
	size_t len = 0;
	int rc = image_read_file(a->img, e->path, 1 << 20, &data, &len, a->err);
	free(data);
	a->files++;
	if (rc == 0 && len != e->size)
		return -1000;
	return rc;
}

/* Open, walk and read every file of the image in fd; returns the first
 * error (0 when all went well). */
static int exercise(int fd, const char *name, ferry_error *err, bool extract)
{
	struct image *img = NULL;
	int rc = image_open_fd(fd, name, &img, err);
	if (rc < 0)
		return rc;
	struct all_files a = {.img = img, .err = err};
	rc = image_walk(img, read_each, &a, err);
	if (rc == 0 && extract) {
		rc = image_extract(img, at("x"), err);
		if (rc == 0)
			assert_int_equal(fs_remove_tree(at("x"), NULL), 0);
		else
			assert_false(fs_exists(at("x")));
	}
	image_close(img);
	return rc;
}

static void check_clean_error(int rc, const ferry_error *err, const char *name)
{
	if (rc == 0)
		return;
	assert_int_not_equal(rc, -1000);
	if (rc != FERRY_E_CORRUPT && rc != FERRY_E_LIMIT && rc != FERRY_E_UNSAFE &&
	    rc != FERRY_E_UNSUPPORTED && rc != FERRY_E_INVALID && rc != FERRY_E_NOTFOUND)
		fail_msg("unexpected code %d (%s)", rc, err->msg);
	assert_int_equal(err->code, rc);
	assert_true(str_has_prefix(err->msg, name));
}

static void small_image(const char *out, size_t *len, char **bytes)
{
	mkdirs("s/d/e");
	puts_file("s/a", "alpha\n", 0644);
	puts_file("s/d/run", "#!/bin/sh\n", 0755);
	static char words[200000];
	for (size_t i = 0; i < sizeof(words); i++)
		words[i] = "the quick brown fox "[i % 20] ^ (char)(i / 5000);
	put("s/d/e/words", words, sizeof(words), 0644);
	put("s/d/empty", "", 0, 0644);
	link_to("../a", "s/d/l");
	struct image_write_opts o = {.compression = IMAGE_ZSTD, .mtime = 1};
	pack_ok("s", out, &o);
	*bytes = slurp(at(out), len);
}

static void test_truncated_everywhere(void **state)
{
	size_t len;
	_cleanup_free_ char *b = NULL;
	small_image("small.img", &len, &b);
	uint64_t bytes_used;
	memcpy(&bytes_used, b + 40, 8);
	int fd = memfd_create("truncated", 0);
	assert_true(fd >= 0);
	/* every cut inside the file system, then the padding's edges */
	for (size_t cut = 0; cut <= len; cut = cut <= bytes_used ? cut + 1 : len + 1) {
		if (cut == bytes_used + 1)
			cut = len;
		ferry_error err = {0};
		assert_int_equal(ftruncate(fd, 0), 0);
		assert_int_equal(pwrite(fd, b, cut, 0), (ssize_t)cut);
		int rc = exercise(fd, "small.img", &err, false);
		check_clean_error(rc, &err, "small.img");
		if (cut < bytes_used)
			assert_int_equal(rc, FERRY_E_CORRUPT);
		else
			assert_int_equal(rc, 0);
	}
	close(fd);
}

static void test_bit_flips_everywhere(void **state)
{
	size_t len;
	_cleanup_free_ char *b = NULL;
	small_image("small.img", &len, &b);
	uint64_t bytes_used;
	memcpy(&bytes_used, b + 40, 8);
	int fd = memfd_create("flipped", 0);
	assert_true(fd >= 0);
	int failed = 0;
	assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
	for (size_t off = 0; off < bytes_used; off++) {
		/* one bit per byte, a different one each time */
		ferry_error err = {0};
		char flipped = (char)(b[off] ^ (1 << (off % 8)));
		assert_int_equal(pwrite(fd, &flipped, 1, (off_t)off), 1);
		int rc = exercise(fd, "small.img", &err, off % 61 == 0);
		assert_int_equal(pwrite(fd, b + off, 1, (off_t)off), 1);
		check_clean_error(rc, &err, "small.img");
		failed += rc != 0;
	}
	/* Many flips are noticed; the others hit unused bits, padding or
	 * compressed data that still decodes (squashfs has no checksums: the
	 * signed hash of the whole image is what detects those). */
	print_message("%d of %llu bit flips detected\n", failed, (unsigned long long)bytes_used);
	assert_true(failed > (int)bytes_used / 4);
	close(fd);
}

/* ---- hand-built hostile images ---- */

enum hkind { H_FILE, H_SETUID, H_HUGE, H_LINK, H_CDEV, H_SELF };

struct hent {
	const char *name;
	enum hkind kind;
	const char *target;
};

/* Write an image whose root lists ents in the given order, built with
 * libsquashfs directly so that it can say what image_write never would. */
static void hostile_image(const char *rel, const struct hent *ents, size_t n)
{
	sqfs_file_t *f = sqfs_open_file(at(rel), SQFS_FILE_OPEN_OVERWRITE);
	assert_non_null(f);
	sqfs_compressor_config_t cfg;
	sqfs_compressor_t *cmp = NULL;
	assert_int_equal(sqfs_compressor_config_init(&cfg, SQFS_COMP_ZSTD, 131072, 0), 0);
	assert_int_equal(sqfs_compressor_create(&cfg, &cmp), 0);
	sqfs_super_t super;
	assert_int_equal(sqfs_super_init(&super, 131072, 0, SQFS_COMP_ZSTD), 0);
	assert_int_equal(sqfs_super_write(&super, f), 0);
	sqfs_id_table_t *ids = sqfs_id_table_create(0);
	sqfs_u16 idx;
	assert_int_equal(sqfs_id_table_id_to_index(ids, 0, &idx), 0);
	sqfs_meta_writer_t *im = sqfs_meta_writer_create(f, cmp, 0);
	sqfs_meta_writer_t *dm = sqfs_meta_writer_create(f, cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	sqfs_dir_writer_t *dw = sqfs_dir_writer_create(dm, 0);
	super.inode_table_start = f->get_size(f);

	sqfs_u64 refs[16] = {0};
	sqfs_u16 modes[16] = {0};
	assert_true(n < 16);
	for (size_t i = 0; i < n; i++) {
		size_t tlen = ents[i].target ? strlen(ents[i].target) : 0;
		sqfs_inode_generic_t *in = calloc(1, sizeof(*in) + tlen + 1);
		switch (ents[i].kind) {
		case H_FILE:
		case H_SETUID:
			in->base.type = SQFS_INODE_FILE;
			in->data.file.fragment_index = 0xFFFFFFFF;
			in->data.file.fragment_offset = 0xFFFFFFFF;
			modes[i] = ents[i].kind == H_SETUID ? S_IFREG | 04755 : S_IFREG | 0644;
			break;
		case H_HUGE:
			in->base.type = SQFS_INODE_EXT_FILE;
			in->data.file_ext.file_size = 1ull << 40;
			in->data.file_ext.fragment_idx = 0xFFFFFFFF;
			in->data.file_ext.fragment_offset = 0xFFFFFFFF;
			in->data.file_ext.nlink = 1;
			in->data.file_ext.xattr_idx = 0xFFFFFFFF;
			modes[i] = S_IFREG | 0644;
			break;
		case H_LINK:
			in->base.type = SQFS_INODE_SLINK;
			in->data.slink.nlink = 1;
			in->data.slink.target_size = (sqfs_u32)tlen;
			memcpy(in->extra, ents[i].target, tlen);
			modes[i] = S_IFLNK | 0777;
			break;
		case H_CDEV:
			in->base.type = SQFS_INODE_CDEV;
			in->data.dev.nlink = 1;
			in->data.dev.devno = 0x103;
			modes[i] = S_IFCHR | 0666;
			break;
		case H_SELF:
			modes[i] = S_IFDIR | 0755;
			free(in);
			continue;
		}
		in->base.mode = modes[i];
		in->base.uid_idx = idx;
		in->base.gid_idx = idx;
		in->base.inode_number = (sqfs_u32)i + 1;
		sqfs_u64 block;
		sqfs_u32 off;
		sqfs_meta_writer_get_position(im, &block, &off);
		refs[i] = block << 16 | off;
		assert_int_equal(sqfs_meta_writer_write_inode(im, in), 0);
		free(in);
	}
	sqfs_u64 block;
	sqfs_u32 off;
	sqfs_meta_writer_get_position(im, &block, &off);
	sqfs_u64 root_ref = block << 16 | off;
	assert_int_equal(sqfs_dir_writer_begin(dw, 0), 0);
	for (size_t i = 0; i < n; i++) {
		bool self = ents[i].kind == H_SELF;
		assert_int_equal(sqfs_dir_writer_add_entry(dw, ents[i].name,
		                                           self ? (sqfs_u32)n + 1 : (sqfs_u32)i + 1,
		                                           self ? root_ref : refs[i], modes[i]),
		                 0);
	}
	assert_int_equal(sqfs_dir_writer_end(dw), 0);
	sqfs_inode_generic_t *root = sqfs_dir_writer_create_inode(dw, 2, 0xFFFFFFFF, 0);
	root->base.mode = S_IFDIR | 0755;
	root->base.uid_idx = idx;
	root->base.gid_idx = idx;
	root->base.inode_number = (sqfs_u32)n + 1;
	assert_int_equal(sqfs_meta_writer_write_inode(im, root), 0);
	free(root);
	assert_int_equal(sqfs_meta_writer_flush(im), 0);
	assert_int_equal(sqfs_meta_writer_flush(dm), 0);
	super.root_inode_ref = root_ref;
	super.directory_table_start = f->get_size(f);
	assert_int_equal(sqfs_meta_write_write_to_file(dm), 0);
	sqfs_frag_table_t *frag = sqfs_frag_table_create(0);
	assert_int_equal(sqfs_frag_table_write(frag, f, &super, cmp), 0);
	assert_int_equal(sqfs_id_table_write(ids, f, &super, cmp), 0);
	super.inode_count = (sqfs_u32)n + 1;
	super.bytes_used = f->get_size(f);
	assert_int_equal(sqfs_super_write(&super, f), 0);
	sqfs_destroy(frag);
	sqfs_destroy(dw);
	sqfs_destroy(dm);
	sqfs_destroy(im);
	sqfs_destroy(ids);
	sqfs_destroy(cmp);
	sqfs_destroy(f);
}

static void expect_walk(const char *rel, int code, const char *tail)
{
	struct image *img = NULL;
	ferry_error err = {0};
	int rc = image_open(at(rel), &img, &err);
	if (rc != 0)
		fail_msg("open %s: %s", rel, err.msg);
	struct seen s = {0};
	rc = image_walk(img, collect, &s, &err);
	assert_int_equal(rc, code);
	if (tail) {
		char want[1024];
		snprintf(want, sizeof(want), "%s: %s", at(rel), tail);
		assert_string_equal(err.msg, want);
	}
	/* extraction refuses too, and leaves nothing */
	if (code != 0) {
		assert_int_equal(image_extract(img, at("x"), &err), code);
		assert_false(fs_exists(at("x")));
	}
	image_close(img);
}

static void test_hostile_images(void **state)
{
	const struct hent good[] = {{"a", H_FILE, NULL}, {"b", H_LINK, "a"}};
	hostile_image("good", good, 2);
	expect_walk("good", 0, NULL);

	const struct hent loop[] = {{"a", H_FILE, NULL}, {"self", H_SELF, NULL}};
	hostile_image("loop", loop, 2);
	expect_walk("loop", FERRY_E_CORRUPT,
	            "self: inode 3 out of range or reached twice (directory loop or hard link)");

	const struct hent unsorted[] = {{"b", H_FILE, NULL}, {"a", H_FILE, NULL}};
	hostile_image("unsorted", unsorted, 2);
	expect_walk("unsorted", FERRY_E_CORRUPT,
	            "root directory: entries not in order or repeated (a)");

	const struct hent dup[] = {{"a", H_FILE, NULL}, {"a", H_FILE, NULL}};
	hostile_image("dup", dup, 2);
	expect_walk("dup", FERRY_E_CORRUPT, "root directory: entries not in order or repeated (a)");

	const struct hent dev[] = {{"null", H_CDEV, NULL}};
	hostile_image("dev", dev, 1);
	expect_walk("dev", FERRY_E_UNSAFE, "null: device node");

	const struct hent suid[] = {{"su", H_SETUID, NULL}};
	hostile_image("suid", suid, 1);
	expect_walk("suid", FERRY_E_UNSAFE, "su: setuid bit set");

	const struct hent huge[] = {{"big", H_HUGE, NULL}};
	hostile_image("huge", huge, 1);
	expect_walk("huge", FERRY_E_LIMIT,
	            "big: file of 1099511627776 bytes, more than the limit of 4294967296");

	const struct hent abs[] = {{"l", H_LINK, "/etc/shadow"}};
	hostile_image("abs", abs, 1);
	expect_walk("abs", FERRY_E_UNSAFE, "l: symlink target \"/etc/shadow\" is absolute");

	const struct hent up[] = {{"l", H_LINK, "a/../../x"}};
	hostile_image("up", up, 1);
	expect_walk("up", FERRY_E_UNSAFE,
	            "l: symlink target \"a/../../x\" points outside the tree");

	const struct hent dots[] = {{"..", H_FILE, NULL}};
	hostile_image("dots", dots, 1);
	expect_walk("dots", FERRY_E_CORRUPT, "root directory: entry name is not valid");

	const struct hent slash[] = {{"a/b", H_FILE, NULL}};
	hostile_image("slash", slash, 1);
	expect_walk("slash", FERRY_E_CORRUPT, "root directory: entry name is not valid");
}

/* ---- extraction ---- */

static void test_extract(void **state)
{
	make_tree("src");
	struct image_write_opts o = {.compression = IMAGE_XZ, .mtime = 1600000000};
	pack_ok("src", "o", &o);
	struct image *img = NULL;
	ferry_error err = {0};
	assert_int_equal(image_open(at("o"), &img, &err), 0);
	int rc = image_extract(img, at("x"), &err);
	if (rc != 0)
		fail_msg("%s", err.msg);

	struct stat st;
	assert_int_equal(lstat(at("x"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0555);
	assert_int_equal(st.st_mtime, 1600000000);
	assert_int_equal(lstat(at("x/usr/bin/hello"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0555);
	assert_int_equal(st.st_mtime, 1600000000);
	assert_int_equal(lstat(at("x/meta/ferry.yaml"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal(lstat(at("x/empty"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0555);
	assert_int_equal(lstat(at("x/app"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	char target[256];
	ssize_t n = readlink(at("x/usr/bin/data"), target, sizeof(target));
	assert_int_equal(n, 19);
	assert_memory_equal(target, "../lib/app/data.txt", 19);
	size_t len;
	_cleanup_free_ char *b = slurp(at("x/usr/lib/app/big.bin"), &len);
	assert_int_equal(len, sizeof(big));
	assert_memory_equal(b, big, len);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "diff -r --no-dereference %s %s", at("src"), at("x"));
	assert_int_equal(system(cmd), 0);

	assert_int_equal(image_extract(img, at("x"), &err), FERRY_E_EXISTS);
	char want[512];
	snprintf(want, sizeof(want), "%s: already exists", at("x"));
	assert_string_equal(err.msg, want);
	assert_int_equal(image_extract(img, at("no/such/dir"), &err), FERRY_E_NOTFOUND);
	image_close(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip_each_compression, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compression_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_walk_stops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_fifo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_device, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_setuid_setgid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_links, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hard_links_are_copies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_atomic_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changed_while_packing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unsquashfs_reads_ours, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_mounts_ours, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_we_read_mksquashfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_file_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_superblocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_everywhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bit_flips_everywhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_images, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_extract, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
