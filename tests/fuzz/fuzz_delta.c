/* fuzz_delta.c: the delta parser against arbitrary bytes. The input is a
 * whole delta file (put in a memory file); its header is checked, then its
 * streams are parsed against a fixed old image of four files (0, 100, 5000
 * and 200000 bytes, byte i of file k being (31 * k + i) & 0xff, as the seed
 * corpus was made from) into a sink that only checks what it is given, and
 * the image stream (chunk hashes and block list) is read. Any
 * result is fine except a crash, a sanitizer report, a leak, a read outside
 * an old file, more output than declared, or an error without a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/fs.h"
#include "pkg/delta_int.h"
#include "pkg/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t old_sizes[] = {0, 100, 5000, 200000};

struct sink_state {
	uint64_t left;  /* of the open file */
	uint64_t total; /* of all files */
	uint64_t max;
	int open;
};

static uint64_t base_size(void *ctx, size_t idx)
{
	(void)ctx;
	if (idx >= 4)
		abort();
	return old_sizes[idx];
}

static int base_read(void *ctx, size_t idx, uint64_t off, void *buf, size_t n, ferry_error *err)
{
	(void)ctx;
	(void)err;
	if (idx >= 4 || off > old_sizes[idx] || n > old_sizes[idx] - off)
		abort();
	for (size_t i = 0; i < n; i++)
		((unsigned char *)buf)[i] = (unsigned char)(31 * idx + off + i);
	return 0;
}

static void check_path(const char *p)
{
	if (!*p || p[0] == '/' || strlen(p) > IMAGE_MAX_PATH)
		abort();
}

static int s_dir(void *ctx, const char *path, ferry_error *err)
{
	(void)ctx;
	(void)err;
	check_path(path);
	return 0;
}

static int s_symlink(void *ctx, const char *path, const char *target, ferry_error *err)
{
	(void)ctx;
	(void)err;
	check_path(path);
	if (!*target || strlen(target) > IMAGE_MAX_PATH)
		abort();
	return 0;
}

static int s_copy(void *ctx, const char *path, bool exec, size_t idx, ferry_error *err)
{
	struct sink_state *s = ctx;
	(void)exec;
	(void)err;
	check_path(path);
	if (idx >= 4)
		abort();
	s->total += old_sizes[idx];
	if (s->total > s->max)
		abort();
	return 0;
}

static int s_begin(void *ctx, const char *path, bool exec, uint64_t size, ferry_error *err)
{
	struct sink_state *s = ctx;
	(void)exec;
	(void)err;
	check_path(path);
	if (s->open)
		abort();
	s->open = 1;
	s->left = size;
	return 0;
}

static int s_write(void *ctx, const void *d, size_t n, ferry_error *err)
{
	struct sink_state *s = ctx;
	(void)d;
	(void)err;
	if (!s->open || n > s->left)
		abort();
	s->left -= n;
	s->total += n;
	if (s->total > s->max)
		abort();
	return 0;
}

static int s_end(void *ctx, ferry_error *err)
{
	struct sink_state *s = ctx;
	(void)err;
	if (!s->open || s->left != 0)
		abort();
	s->open = 0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_error err = {0};
	struct delta_header h;
	int rc = delta_header_parse(data, size, &h, &err);
	if (rc < 0) {
		if (!err.msg[0])
			abort();
		return 0;
	}
	int fd = memfd_create("delta", MFD_CLOEXEC);
	if (fd < 0 || fs_write_all(fd, data, size) < 0)
		abort();
	struct sink_state st = {.max = h.b_bytes};
	struct delta_base base = {4, base_size, base_read, NULL};
	struct delta_sink sink = {s_dir, s_symlink, s_copy, s_begin, s_write, s_end, &st};
	rc = delta_read(fd, "fuzz.delta", &h, &base, &sink, &err);
	if (rc == 0 && (st.total != h.b_bytes || st.open))
		abort();
	if (rc == 0) {
		struct delta_table t;
		rc = delta_read_table(fd, "fuzz.delta", &h, &t, &err);
		if (rc == 0) {
			if (t.nchunks != (h.b_size + DELTA_CHUNK - 1) / DELTA_CHUNK ||
			    t.nunits > DELTA_MAX_UNITS)
				abort();
			delta_table_free(&t);
		}
	}
	close(fd);
	if (rc < 0) {
		if (err.code != rc || !err.msg[0])
			abort();
		switch (rc) {
		case FERRY_E_CORRUPT:
		case FERRY_E_LIMIT:
		case FERRY_E_UNSAFE:
		case FERRY_E_NOMEM:
			break;
		default:
			fprintf(stderr, "fuzz_delta: unexpected error %d: %s\n", rc, err.msg);
			abort();
		}
	}
	return 0;
}
