/* fuzz_image.c: the package image reader against arbitrary bytes. The input
 * is put in a memory file, opened with image_open_fd, walked, and every
 * regular file the walk reports is read back (bounded to 1 MiB). Any result
 * is fine except a crash, a sanitizer report, a leak, or an error without a
 * message or with a code a hostile image should not produce. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "pkg/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct image *img;
	ferry_error *err;
	unsigned entries;
};

static void check_error(int rc, const ferry_error *err)
{
	if (rc == 0)
		return;
	if (err->code != rc || !err->msg[0])
		abort();
	switch (rc) {
	case FERRY_E_CORRUPT:
	case FERRY_E_LIMIT:
	case FERRY_E_UNSAFE:
	case FERRY_E_UNSUPPORTED:
	case FERRY_E_INVALID:
	case FERRY_E_NOTFOUND:
		return;
	default:
		fprintf(stderr, "fuzz_image: unexpected error %d: %s\n", rc, err->msg);
		abort();
	}
}

static int visit(const struct image_entry *e, void *p)
{
	struct ctx *c = p;
	c->entries++;
	if (e->path[0] == '/' || strstr(e->path, "//"))
		abort();
	if (!S_ISREG(e->mode))
		return 0;
	char *buf = NULL;
	size_t len = 0;
	int rc = image_read_file(c->img, e->path, 1u << 20, &buf, &len, c->err);
	free(buf);
	if (rc == 0 && len != e->size)
		abort();
	if (rc == FERRY_E_LIMIT && e->size <= (1u << 20))
		abort();
	if (rc == FERRY_E_LIMIT)
		return 0;
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz_image", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (fs_write_all(fd, data, size) < 0)
		abort();

	ferry_error err = {0};
	struct image *img = NULL;
	int rc = image_open_fd(fd, "fuzz.img", &img, &err);
	close(fd);
	check_error(rc, &err);
	if (rc < 0)
		return 0;
	struct image_info info;
	image_get_info(img, &info);
	if (info.inodes == 0 || info.inodes > IMAGE_MAX_FILES + 1)
		abort();
	struct ctx c = {.img = img, .err = &err};
	rc = image_walk(img, visit, &c, &err);
	check_error(rc, &err);
	if (c.entries > IMAGE_MAX_FILES + 1)
		abort();
	/* a second walk gives the same outcome */
	ferry_error err2 = {0};
	struct ctx c2 = {.img = img, .err = &err2};
	int rc2 = image_walk(img, visit, &c2, &err2);
	if (rc2 != rc || c2.entries != c.entries)
		abort();
	image_close(img);
	return 0;
}
