/* delta_apply.c: rebuilds image B from image A and a delta.
 *
 * Steps: check the delta's header; check that A is the image the delta was
 * made from (size and SHA-256); extract A into a work directory beside the
 * output; let the parser (delta_read.c) build B's tree there, file by file,
 * reading A's files in pieces; write B's image with the deterministic writer;
 * check its size and SHA-256 against B's; only then rename it to the output.
 * The work directory is removed whatever happens.
 *
 * Everything the delta names is created below the work directory through
 * descriptors, never following a symlink (O_NOFOLLOW, O_EXCL), and the
 * writer checks the finished tree by its own rules (no escaping links). It
 * does not decide whether to use a delta nor fetch one (the agent does). */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/str.h"
#include "crypto/digest.h"
#include "pkg/delta.h"
#include "pkg/delta_int.h"
#include "pkg/image.h"

struct old_file {
	char *path;
	uint64_t size;
};

struct applier {
	const char *delta_name;
	struct old_file *files;
	size_t nfiles, cap;
	int a_fd;   /* the extracted A tree */
	int b_fd;   /* B's tree being built */
	int cur_fd; /* the open A file, cur_idx */
	size_t cur_idx;
	int out_fd; /* B's file being written */
	uint64_t out_left;
	struct delta_stats *stats;
	const struct delta_apply_opts *opts;
	struct delta_table table;
	atomic_uint_fast64_t differ; /* blocks compressed otherwise here */
	atomic_int missing;          /* blocks B does not list */
};

static int collect(const struct image_entry *e, void *ctx)
{
	struct applier *a = ctx;
	if (!S_ISREG(e->mode))
		return 0;
	if (a->nfiles == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 256;
		struct old_file *f = realloc(a->files, cap * sizeof(*f));
		if (!f)
			return FERRY_E_NOMEM;
		a->files = f;
		a->cap = cap;
	}
	a->files[a->nfiles].path = strdup(e->path);
	if (!a->files[a->nfiles].path)
		return FERRY_E_NOMEM;
	a->files[a->nfiles++].size = e->size;
	return 0;
}

static uint64_t base_size(void *ctx, size_t idx)
{
	struct applier *a = ctx;
	return a->files[idx].size;
}

static int open_old(struct applier *a, size_t idx, ferry_error *err)
{
	if (a->cur_fd >= 0 && a->cur_idx == idx)
		return a->cur_fd;
	if (a->cur_fd >= 0)
		close(a->cur_fd);
	a->cur_fd = openat(a->a_fd, a->files[idx].path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (a->cur_fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "old image: %s",
		                         a->files[idx].path);
	a->cur_idx = idx;
	return a->cur_fd;
}

static int base_read(void *ctx, size_t idx, uint64_t off, void *buf, size_t n, ferry_error *err)
{
	struct applier *a = ctx;
	int fd = open_old(a, idx, err);
	if (fd < 0)
		return fd;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return ferry_error_errno(err, FERRY_E_IO, r < 0 ? errno : EIO,
			                         "old image: read %s", a->files[idx].path);
		got += (size_t)r;
	}
	return 0;
}

/* The directory that holds path's last component, open; *leaf points into
 * path at that component. */
static int open_parent(struct applier *a, const char *path, const char **leaf, ferry_error *err)
{
	int dfd = dup(a->b_fd);
	const char *p = path;
	char name[IMAGE_MAX_NAME + 1];

	if (dfd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "dup");
	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash)
			break;
		size_t len = (size_t)(slash - p);
		memcpy(name, p, len);
		name[len] = '\0';
		int next = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(dfd);
		if (next < 0)
			return ferry_error_errno(err, FERRY_E_CORRUPT, e,
			                         "%s: delta: parent directory", path);
		dfd = next;
		p = slash + 1;
	}
	*leaf = p;
	return dfd;
}

static int sink_dir(void *ctx, const char *path, ferry_error *err)
{
	struct applier *a = ctx;
	const char *leaf;
	_cleanup_close_ int dfd = open_parent(a, path, &leaf, err);
	if (dfd < 0)
		return dfd;
	if (mkdirat(dfd, leaf, 0755) < 0)
		return ferry_error_errno(err, FERRY_E_CORRUPT, errno, "%s: delta: create directory",
		                         path);
	return 0;
}

static int sink_symlink(void *ctx, const char *path, const char *target, ferry_error *err)
{
	struct applier *a = ctx;
	const char *leaf;
	_cleanup_close_ int dfd = open_parent(a, path, &leaf, err);
	if (dfd < 0)
		return dfd;
	if (symlinkat(target, dfd, leaf) < 0)
		return ferry_error_errno(err, FERRY_E_CORRUPT, errno, "%s: delta: create symlink",
		                         path);
	return 0;
}

static int create_file(struct applier *a, const char *path, bool exec, ferry_error *err)
{
	const char *leaf;
	_cleanup_close_ int dfd = open_parent(a, path, &leaf, err);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	                exec ? 0755 : 0644);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_CORRUPT, errno, "%s: delta: create file",
		                         path);
	return fd;
}

static int sink_copy(void *ctx, const char *path, bool exec, size_t idx, ferry_error *err)
{
	struct applier *a = ctx;
	_cleanup_close_ int fd = create_file(a, path, exec, err);
	if (fd < 0)
		return fd;
	int in = open_old(a, idx, err);
	if (in < 0)
		return in;
	uint64_t left = a->files[idx].size;
	off_t off = 0;
	while (left > 0) {
		ssize_t r = copy_file_range(in, &off, fd, NULL, left, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return ferry_error_errno(err, FERRY_E_IO, r < 0 ? errno : EIO, "%s: copy",
			                         path);
		left -= (uint64_t)r;
	}
	a->stats->copied++;
	return 0;
}

static int sink_begin(void *ctx, const char *path, bool exec, uint64_t size, ferry_error *err)
{
	struct applier *a = ctx;
	int fd = create_file(a, path, exec, err);
	if (fd < 0)
		return fd;
	a->out_fd = fd;
	a->out_left = size;
	return 0;
}

static int sink_write(void *ctx, const void *data, size_t n, ferry_error *err)
{
	struct applier *a = ctx;
	if (n > a->out_left)
		return ferry_error_set(err, FERRY_E_CORRUPT, "delta: file longer than declared");
	a->out_left -= n;
	if (fs_write_all(a->out_fd, data, n) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "write");
	return 0;
}

static int sink_end(void *ctx, ferry_error *err)
{
	struct applier *a = ctx;
	int fd = a->out_fd;
	a->out_fd = -1;
	if (close(fd) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "close");
	if (a->out_left != 0)
		return ferry_error_set(err, FERRY_E_CORRUPT, "delta: file shorter than declared");
	return 0;
}

int delta_file_sha256(const char *path, uint64_t *size, unsigned char sha[32], ferry_error *err)
{
	struct stat st;
	unsigned char d[CRYPTO_DIGEST_MAX];
	if (stat(path, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", path);
	*size = (uint64_t)st.st_size;
	int rc = crypto_digest_file(CRYPTO_HASH_SHA256, path, d, err);
	if (rc < 0)
		return rc;
	memcpy(sha, d, 32);
	return 0;
}

static int read_header(const char *delta_path, int *fdp, struct delta_header *h, ferry_error *err)
{
	unsigned char buf[DELTA_HEADER_SIZE];
	struct stat st;
	int fd = open(delta_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO,
		                         errno, "open %s", delta_path);
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ferry_error_errno(err, FERRY_E_IO, e, "%s", delta_path);
	}
	ssize_t r = st.st_size >= DELTA_HEADER_SIZE ? pread(fd, buf, sizeof(buf), 0) : 0;
	int rc =
	    delta_header_parse(buf, r == (ssize_t)sizeof(buf) ? (uint64_t)st.st_size : 0, h, err);
	if (rc < 0) {
		close(fd);
		return ferry_error_prefix(err, rc, "%s", delta_path);
	}
	*fdp = fd;
	return 0;
}

int delta_read_info(const char *delta_path, struct delta_info *info, ferry_error *err)
{
	struct delta_header h;
	int fd = -1;
	int rc = read_header(delta_path, &fd, &h, err);
	if (rc < 0)
		return rc;
	struct stat st;
	info->delta_size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	close(fd);
	info->a_size = h.a_size;
	memcpy(info->a_sha256, h.a_sha256, 32);
	info->b_size = h.b_size;
	memcpy(info->b_sha256, h.b_sha256, 32);
	return 0;
}

/* The writer's block hook: keep B's size for every block, so that B's
 * layout stays whatever this compressor gives. A block compressed to other
 * bytes of B's size is found by the chunk check; one of another size is
 * filled with a placeholder made of its key (so that equal blocks stay
 * equal for the writer's deduplication) and found the same way. */
static long keep_layout(const void *in, size_t in_size, void *out, size_t out_size, size_t room,
                        void *ctx)
{
	struct applier *a = ctx;
	struct delta_unit key = {.in_size = (uint32_t)in_size};
	delta_key(in, in_size, key.key);
	const struct delta_unit *u = delta_table_find(&a->table, &key);
	if (!u) {
		atomic_fetch_add(&a->missing, 1);
		return -1;
	}
	bool forced = u->out_size > 0 && (u->key[0] & 7) == 0 && FAULT("delta_apply.recompress");
	if (u->out_size == out_size && !forced)
		return (long)out_size;
	if (u->out_size == 0)
		return 0; /* B stores it as it is: these are its bytes */
	if (u->out_size > room)
		return -1;
	for (size_t i = 0; i < u->out_size; i++)
		((unsigned char *)out)[i] = u->key[i % 8] ^ (unsigned char)(i / 8);
	atomic_fetch_add(&a->differ, 1);
	return (long)u->out_size;
}

/* Compare the rebuilt image chunk by chunk with B's chunk hashes, and fetch
 * the chunks that differ (runs of them, at most 1 MiB a request). */
static int repair(struct applier *a, const char *b_img, const struct delta_header *h,
                  ferry_error *err)
{
	_cleanup_close_ int fd = open(b_img, O_RDWR | O_CLOEXEC);
	_cleanup_free_ unsigned char *buf = malloc(16 * DELTA_CHUNK);
	if (fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", b_img);
	if (!buf)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	uint64_t i = 0;
	while (i < a->table.nchunks) {
		uint64_t first = i, end = i;
		/* a run of differing chunks from i, at most 16 */
		for (; end < a->table.nchunks && end - first < 16; end++) {
			uint64_t off = end * DELTA_CHUNK;
			size_t n =
			    h->b_size - off < DELTA_CHUNK ? (size_t)(h->b_size - off) : DELTA_CHUNK;
			unsigned char key[8];
			if (pread(fd, buf, n, (off_t)off) != (ssize_t)n)
				return ferry_error_errno(err, FERRY_E_IO, errno ? errno : EIO,
				                         "read %s", b_img);
			delta_key(buf, n, key);
			if (memcmp(key, a->table.chunks[end], 8) == 0)
				break;
		}
		if (end == first) {
			i++;
			continue;
		}
		uint64_t off = first * DELTA_CHUNK;
		uint64_t stop = end * DELTA_CHUNK < h->b_size ? end * DELTA_CHUNK : h->b_size;
		size_t n = (size_t)(stop - off);
		if (!a->opts || !a->opts->fetch)
			return ferry_error_set(
			    err, FERRY_E_VERIFY,
			    "%s: bytes %llu..%llu of the new image recompress "
			    "otherwise here, and there is no source to fetch them",
			    a->delta_name, (unsigned long long)off, (unsigned long long)stop);
		int rc = a->opts->fetch(a->opts->fetch_ctx, off, n, buf, err);
		if (rc < 0)
			return ferry_error_prefix(
			    err, rc, "fetch bytes %llu..%llu of the new image",
			    (unsigned long long)off, (unsigned long long)stop);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			return ferry_error_errno(err, FERRY_E_IO, errno ? errno : EIO, "write %s",
			                         b_img);
		a->stats->fetched += n;
		i = end;
	}
	if (fsync(fd) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "fsync %s", b_img);
	return 0;
}

int delta_target_name(const char *package, long long from, long long to, char *out, size_t size)
{
	return str_printf(out, size, "%s_%lld-%lld.delta", package, from, to);
}

static int rebuild(struct applier *a, int dfd, const struct delta_header *h, const char *a_path,
                   const char *work, const char *out_path, ferry_error *err)
{
	char path[4200];
	_cleanup_close_ int wfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct image *img = NULL;
	int rc;

	if (wfd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", work);
	rc = image_open(a_path, &img, err);
	if (rc == 0) {
		rc = image_walk(img, collect, a, err);
		if (rc == FERRY_E_NOMEM)
			rc = ferry_error_set(err, rc, "out of memory");
	}
	if (rc == 0 && str_printf(path, sizeof(path), "%s/a", work) < 0)
		rc = ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", work);
	if (rc == 0)
		rc = image_extract(img, path, err);
	image_close(img);
	if (rc < 0)
		return rc;
	if (mkdirat(wfd, "b", 0755) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s/b", work);
	a->a_fd = openat(wfd, "a", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	a->b_fd = openat(wfd, "b", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->a_fd < 0 || a->b_fd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "%s", work);

	struct delta_base base = {a->nfiles, base_size, base_read, a};
	struct delta_sink sink = {sink_dir,   sink_symlink, sink_copy, sink_begin,
	                          sink_write, sink_end,     a};
	rc = delta_read(dfd, a->delta_name, h, &base, &sink, err);
	if (rc == 0)
		rc = delta_read_table(dfd, a->delta_name, h, &a->table, err);
	if (rc < 0)
		return rc;

	char b_tree[4200], b_img[4200];
	if (str_printf(b_tree, sizeof(b_tree), "%s/b", work) < 0 ||
	    str_printf(b_img, sizeof(b_img), "%s/b.ferry", work) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", work);
	struct image_write_opts wo = {
	    .compression = h->compression,
	    .mtime = h->mtime,
	    .max_files = h->b_entries ? h->b_entries : 1,
	    .max_bytes = h->b_bytes ? h->b_bytes : 1,
	    .block_hook = keep_layout,
	    .block_hook_ctx = a,
	};
	rc = image_write(b_tree, b_img, &wo, err);
	if (rc < 0 && atomic_load(&a->missing))
		return ferry_error_set(err, FERRY_E_VERIFY,
		                       "%s: the rebuilt tree has blocks the new image does not",
		                       a->delta_name);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "rebuild the new image");
	a->stats->recompressed_differently = atomic_load(&a->differ);
	if (FAULT("delta_apply.rebuilt"))
		return ferry_error_set(err, FERRY_E_FAULT, "fault point delta_apply.rebuilt");
	struct stat st;
	if (stat(b_img, &st) < 0 || (uint64_t)st.st_size != h->b_size)
		return ferry_error_set(err, FERRY_E_VERIFY,
		                       "%s: the rebuilt image has another size", a->delta_name);
	rc = repair(a, b_img, h, err);
	if (rc < 0)
		return rc;

	uint64_t size = 0;
	unsigned char sha[32] = {0};
	rc = delta_file_sha256(b_img, &size, sha, err);
	if (rc < 0)
		return rc;
	if (FAULT("delta_apply.mismatch"))
		sha[0] ^= 1;
	if (size != h->b_size || memcmp(sha, h->b_sha256, 32) != 0)
		return ferry_error_set(
		    err, FERRY_E_VERIFY,
		    "%s: the rebuilt image is not the new revision's (%llu bytes, "
		    "expected %llu, or another SHA-256)",
		    a->delta_name, (unsigned long long)size, (unsigned long long)h->b_size);
	if (chmod(b_img, 0644) < 0 || rename(b_img, out_path) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "rename to %s", out_path);
	return fs_fsync_parent(out_path, err);
}

int delta_apply(const char *a_path, const char *delta_path, const char *out_path,
                const struct delta_apply_opts *opts, struct delta_stats *stats, ferry_error *err)
{
	struct delta_stats local = {0};
	struct delta_header h;
	_cleanup_close_ int dfd = -1;
	char work[4200];
	int rc;

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	rc = read_header(delta_path, &dfd, &h, err);
	if (rc < 0)
		return rc;
	struct stat st;
	if (fstat(dfd, &st) == 0)
		stats->delta_size = (uint64_t)st.st_size;
	stats->b_size = h.b_size;

	unsigned char sha[32];
	rc = delta_file_sha256(a_path, &stats->a_size, sha, err);
	if (rc < 0)
		return rc;
	if (stats->a_size != h.a_size || memcmp(sha, h.a_sha256, 32) != 0)
		return ferry_error_set(
		    err, FERRY_E_VERIFY,
		    "%s: made from another image than %s (size or SHA-256 differ)", delta_path,
		    a_path);

	if (str_printf(work, sizeof(work), "%s.delta.XXXXXX", out_path) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", out_path);
	if (!mkdtemp(work))
		return ferry_error_errno(err, FERRY_E_IO, errno, "create a work directory for %s",
		                         out_path);
	struct applier a = {.delta_name = delta_path,
	                    .a_fd = -1,
	                    .b_fd = -1,
	                    .cur_fd = -1,
	                    .out_fd = -1,
	                    .stats = stats,
	                    .opts = opts};
	rc = rebuild(&a, dfd, &h, a_path, work, out_path, err);
	int fds[] = {a.a_fd, a.b_fd, a.cur_fd, a.out_fd};
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (size_t i = 0; i < a.nfiles; i++)
		free(a.files[i].path);
	free(a.files);
	delta_table_free(&a.table);
	ferry_error ignored = {0};
	if (fs_remove_tree(work, &ignored) < 0 && rc == 0)
		rc = ferry_error_set(err, FERRY_E_IO, "remove %s: %s", work,
		                     ferry_error_msg(&ignored));
	return rc;
}
