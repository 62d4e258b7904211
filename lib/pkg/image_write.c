/* image_write.c: writes the squashfs image of a staged tree, deterministically.
 *
 * Order of work: scan and check the tree (tree.c); number the inodes; write
 * the superblock placeholder; feed every regular file, in depth-first byte
 * order of names, through libsquashfs' block processor (compression on
 * worker threads, blocks written in submission order, duplicate blocks and
 * fragments stored once); then the inode table (children before their
 * directory), the directory table, the fragment and ID tables, the final
 * superblock and padding to 4 KiB. The output is a temporary file next to
 * the target, fsynced and renamed into place only when complete.
 *
 * What reaches the bytes: names, the owner-execute bit of files, file
 * contents, symlink targets, the compressor, the mtime given. Nothing else:
 * not owners, other mode bits, timestamps, xattrs, the listing order of the
 * staging file system, the umask, the thread count or the machine.
 *
 * It does not decide the mtime (image_mtime_from_env does) nor what goes
 * into the tree (the pack command does). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fs.h"
#include "base/str.h"
#include "pkg/image_int.h"

#define READ_CHUNK (256u * 1024)
#define MAX_THREADS 16

static const struct {
	const char *name;
	SQFS_COMPRESSOR id;
} compressors[] = {
    [IMAGE_ZSTD] = {"zstd", SQFS_COMP_ZSTD},
    [IMAGE_XZ] = {"xz", SQFS_COMP_XZ},
    [IMAGE_LZ4] = {"lz4", SQFS_COMP_LZ4},
    [IMAGE_GZIP] = {"gzip", SQFS_COMP_GZIP},
};

int image_compression_parse(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(compressors); i++)
		if (strcmp(name, compressors[i].name) == 0)
			return (int)i;
	return -1;
}

const char *image_compression_name(enum image_compression c)
{
	if ((unsigned)c >= ARRAY_SIZE(compressors))
		return "unknown";
	return compressors[c].name;
}

int image_mtime_from_env(uint32_t *mtime, ferry_error *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	unsigned long long v;

	*mtime = IMAGE_DEFAULT_MTIME;
	if (!s || !*s)
		return 0;
	if (str_to_u64(s, UINT32_MAX, &v) < 0)
		return ferry_error_set(
		    err, FERRY_E_INVALID,
		    "SOURCE_DATE_EPOCH=%s: expected seconds since 1970, at most %u", s, UINT32_MAX);
	*mtime = (uint32_t)v;
	return 0;
}

struct writer {
	const struct image_write_opts *opts;
	const char *out_path;
	ferry_error *err;
	struct tree tree;
	uint32_t inode_count;
	struct tree_node **by_num; /* [inode_num - 1] */

	sqfs_file_t *file;
	sqfs_compressor_t *cmp;
	sqfs_compressor_t *uncmp;
	sqfs_block_writer_t *blkwr;
	sqfs_frag_table_t *fragtbl;
	sqfs_block_processor_t *proc;
	sqfs_id_table_t *idtbl;
	sqfs_meta_writer_t *im;
	sqfs_meta_writer_t *dm;
	sqfs_dir_writer_t *dirwr;
	sqfs_super_t super;

	uint64_t done;
	char *buf;
};

static int sqfs_fail(struct writer *w, int e, const char *what)
{
	if (e == SQFS_ERROR_IO)
		return ferry_error_errno(w->err, FERRY_E_IO, errno ? errno : EIO, "%s: %s",
		                         w->out_path, what);
	return ferry_error_set(w->err, image_sqfs_code(e), "%s: %s: %s", w->out_path, what,
	                       image_sqfs_strerror(e));
}

/* A compressor that stores a block as it is when compressing does not make
 * it smaller, as mksquashfs does. libsquashfs 1.2's lz4 backend returns
 * output larger than its input, which unsquashfs then refuses to read. */
struct shrink_cmp {
	sqfs_compressor_t base;
	sqfs_compressor_t *inner;
	image_block_hook hook; /* may be NULL */
	void *hook_ctx;
};

static void shrink_destroy(sqfs_object_t *obj)
{
	struct shrink_cmp *c = (struct shrink_cmp *)obj;
	sqfs_destroy(c->inner);
	free(c);
}

static sqfs_compressor_t *shrink_wrap(sqfs_compressor_t *inner, image_block_hook hook,
                                      void *hook_ctx);

static sqfs_object_t *shrink_copy(const sqfs_object_t *obj)
{
	const struct shrink_cmp *c = (const struct shrink_cmp *)obj;
	sqfs_compressor_t *inner = sqfs_copy(c->inner);
	if (!inner)
		return NULL;
	sqfs_compressor_t *copy = shrink_wrap(inner, c->hook, c->hook_ctx);
	if (!copy)
		sqfs_destroy(inner);
	return (sqfs_object_t *)copy;
}

static void shrink_get_configuration(const sqfs_compressor_t *cmp, sqfs_compressor_config_t *cfg)
{
	const struct shrink_cmp *c = (const struct shrink_cmp *)cmp;
	c->inner->get_configuration(c->inner, cfg);
}

static int shrink_write_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	struct shrink_cmp *c = (struct shrink_cmp *)cmp;
	return c->inner->write_options(c->inner, file);
}

static int shrink_read_options(sqfs_compressor_t *cmp, sqfs_file_t *file)
{
	struct shrink_cmp *c = (struct shrink_cmp *)cmp;
	return c->inner->read_options(c->inner, file);
}

static sqfs_s32 shrink_do_block(sqfs_compressor_t *cmp, const sqfs_u8 *in, sqfs_u32 size,
                                sqfs_u8 *out, sqfs_u32 outsize)
{
	struct shrink_cmp *c = (struct shrink_cmp *)cmp;
	sqfs_s32 r = c->inner->do_block(c->inner, in, size, out, outsize);
	if (r > 0 && (sqfs_u32)r >= size)
		r = 0;
	if (r >= 0 && c->hook) {
		long h = c->hook(in, size, out, (size_t)r, outsize, c->hook_ctx);
		if (h < 0 || (h > 0 && ((unsigned long)h >= size || (unsigned long)h > outsize)))
			return SQFS_ERROR_COMPRESSOR;
		r = (sqfs_s32)h;
	}
	return r;
}

/* Takes inner; NULL when out of memory (inner is then the caller's). */
static sqfs_compressor_t *shrink_wrap(sqfs_compressor_t *inner, image_block_hook hook,
                                      void *hook_ctx)
{
	struct shrink_cmp *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base.base.destroy = shrink_destroy;
	c->base.base.copy = shrink_copy;
	c->base.get_configuration = shrink_get_configuration;
	c->base.write_options = shrink_write_options;
	c->base.read_options = shrink_read_options;
	c->base.do_block = shrink_do_block;
	c->inner = inner;
	c->hook = hook;
	c->hook_ctx = hook_ctx;
	return &c->base;
}

static unsigned cpu_count(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	int n = CPU_COUNT(&set);
	return n < 1 ? 1 : (unsigned)n;
}

/* Inode numbers: the children of a directory get consecutive numbers after
 * everything below its subdirectories, and the root the last one. So the
 * inodes can be written in number order with every child before the
 * directory that lists it, and one directory's entries share a header. */
static void number_dir(struct writer *w, struct tree_node *dir)
{
	for (size_t i = 0; i < dir->nchildren; i++)
		if (dir->children[i]->type == S_IFDIR)
			number_dir(w, dir->children[i]);
	for (size_t i = 0; i < dir->nchildren; i++) {
		struct tree_node *c = dir->children[i];
		c->inode_num = ++w->inode_count;
		w->by_num[c->inode_num - 1] = c;
	}
}

static int number_inodes(struct writer *w)
{
	size_t n = w->tree.entries + 1;
	w->by_num = calloc(n, sizeof(w->by_num[0]));
	if (!w->by_num)
		return ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");
	w->inode_count = 0;
	number_dir(w, w->tree.root);
	w->tree.root->inode_num = ++w->inode_count;
	w->by_num[w->inode_count - 1] = w->tree.root;
	return 0;
}

static int setup(struct writer *w, int fd)
{
	sqfs_compressor_config_t cfg;
	sqfs_compressor_t *inner = NULL;
	SQFS_COMPRESSOR id = compressors[w->opts->compression].id;
	int e;

	w->file = image_file_create(fd, 0, 0, true);
	if (!w->file)
		return ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");
	/* Defaults of libsquashfs, which are also mksquashfs' defaults: zstd
	 * level 15, xz level 6 with the block size as dictionary, lz4 normal,
	 * gzip level 9 window 15. Pinned here so the bytes never drift. */
	e = sqfs_compressor_config_init(&cfg, id, IMAGE_BLOCK_SIZE, 0);
	if (e == 0) {
		switch (id) {
		case SQFS_COMP_ZSTD:
			cfg.level = 15;
			break;
		case SQFS_COMP_XZ:
			cfg.level = 6;
			cfg.opt.xz.dict_size = IMAGE_BLOCK_SIZE;
			cfg.opt.xz.lc = 3;
			cfg.opt.xz.lp = 0;
			cfg.opt.xz.pb = 2;
			break;
		case SQFS_COMP_GZIP:
			cfg.level = 9;
			cfg.opt.gzip.window_size = 15;
			break;
		default:
			break;
		}
		e = sqfs_compressor_create(&cfg, &inner);
	}
	if (e)
		return sqfs_fail(w, e, "create compressor");
	w->cmp = shrink_wrap(inner, w->opts->block_hook, w->opts->block_hook_ctx);
	if (!w->cmp) {
		sqfs_destroy(inner);
		return ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");
	}
	cfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
	e = sqfs_compressor_create(&cfg, &w->uncmp);
	if (e)
		return sqfs_fail(w, e, "create decompressor");

	e = sqfs_super_init(&w->super, IMAGE_BLOCK_SIZE, w->opts->mtime, id);
	if (e == 0)
		e = sqfs_super_write(&w->super, w->file);
	if (e)
		return sqfs_fail(w, e, "write superblock");
	e = w->cmp->write_options(w->cmp, w->file);
	if (e < 0)
		return sqfs_fail(w, e, "write compressor options");
	if (e > 0)
		w->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;

	w->blkwr = sqfs_block_writer_create(w->file, SQFS_DEVBLK_SIZE, 0);
	w->fragtbl = sqfs_frag_table_create(0);
	w->idtbl = sqfs_id_table_create(0);
	if (!w->blkwr || !w->fragtbl || !w->idtbl)
		return ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");

	unsigned threads = w->opts->threads ? w->opts->threads : cpu_count();
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	sqfs_block_processor_desc_t desc = {
	    .size = sizeof(desc),
	    .max_block_size = IMAGE_BLOCK_SIZE,
	    .num_workers = threads,
	    .max_backlog = 10 * threads,
	    .cmp = w->cmp,
	    .wr = w->blkwr,
	    .tbl = w->fragtbl,
	    .file = w->file,
	    .uncmp = w->uncmp,
	};
	e = sqfs_block_processor_create_ex(&desc, &w->proc);
	if (e)
		return sqfs_fail(w, e, "start block processor");

	w->im = sqfs_meta_writer_create(w->file, w->cmp, 0);
	w->dm = sqfs_meta_writer_create(w->file, w->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	if (!w->im || !w->dm)
		return ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");
	w->dirwr = sqfs_dir_writer_create(w->dm, 0);
	if (!w->dirwr)
		return ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");
	w->buf = malloc(READ_CHUNK);
	if (!w->buf)
		return ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");
	return 0;
}

static void teardown(struct writer *w)
{
	/* Blocks still queued in the worker pool are not freed by
	 * sqfs_destroy: after an error in the middle of a file, let them
	 * drain first (into the temporary file, which is removed). */
	if (w->proc && sqfs_block_processor_sync(w->proc) != 0) {
		/* the first error is already recorded */
	}
	sqfs_destroy(w->dirwr);
	sqfs_destroy(w->dm);
	sqfs_destroy(w->im);
	sqfs_destroy(w->proc); /* joins the workers */
	sqfs_destroy(w->idtbl);
	sqfs_destroy(w->fragtbl);
	sqfs_destroy(w->blkwr);
	sqfs_destroy(w->uncmp);
	sqfs_destroy(w->cmp);
	sqfs_destroy(w->file);
	free(w->buf);
	free(w->by_num);
	tree_free(&w->tree);
}

static void progress(struct writer *w)
{
	if (w->opts->progress)
		w->opts->progress(w->done, w->tree.bytes, w->opts->progress_ctx);
}

/* Feed one regular file, opened relative to dfd, to the block processor. */
/* Not inlined: its path buffer must not sit in every recursive frame. */
__attribute__((noinline)) static int write_file(struct writer *w, int dfd, struct tree_node *n)
{
	char path[IMAGE_MAX_PATH + 1];
	struct stat st;
	int e;

	tree_path(n, path, sizeof(path));
	_cleanup_close_ int fd = openat(dfd, n->name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(w->err, FERRY_E_IO, errno, "%s: open", path);
	if (fstat(fd, &st) < 0)
		return ferry_error_errno(w->err, FERRY_E_IO, errno, "%s: stat", path);
	if (!S_ISREG(st.st_mode) || st.st_dev != n->dev || st.st_ino != n->ino ||
	    (uint64_t)st.st_size != n->size || (st.st_mode & (S_ISUID | S_ISGID)))
		return ferry_error_set(w->err, FERRY_E_IO, "%s: changed while being packed", path);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	e = sqfs_block_processor_begin_file(w->proc, &n->inode, NULL, 0);
	if (e)
		return sqfs_fail(w, e, path);
	uint64_t left = n->size;
	while (left > 0) {
		size_t want = left < READ_CHUNK ? (size_t)left : READ_CHUNK;
		ssize_t r = read(fd, w->buf, want);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ferry_error_errno(w->err, FERRY_E_IO, errno, "%s: read", path);
		}
		if (r == 0)
			return ferry_error_set(w->err, FERRY_E_IO, "%s: changed while being packed",
			                       path);
		e = sqfs_block_processor_append(w->proc, w->buf, (size_t)r);
		if (e)
			return sqfs_fail(w, e, path);
		left -= (uint64_t)r;
		w->done += (uint64_t)r;
		progress(w);
	}
	char extra;
	ssize_t r;
	do
		r = read(fd, &extra, 1);
	while (r < 0 && errno == EINTR);
	if (r != 0)
		return ferry_error_set(w->err, FERRY_E_IO, "%s: changed while being packed", path);
	e = sqfs_block_processor_end_file(w->proc);
	if (e)
		return sqfs_fail(w, e, path);
	return 0;
}

/* Feed every regular file below dir (open at dfd) in depth-first name order. */
static int write_dir_files(struct writer *w, int dfd, struct tree_node *dir)
{
	int rc;

	for (size_t i = 0; i < dir->nchildren; i++) {
		struct tree_node *c = dir->children[i];
		if (c->type == S_IFREG) {
			rc = write_file(w, dfd, c);
			if (rc < 0)
				return rc;
		} else if (c->type == S_IFDIR) {
			_cleanup_close_ int cfd =
			    openat(dfd, c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			struct stat st;
			if (cfd < 0 || fstat(cfd, &st) < 0)
				return tree_error(w->err, FERRY_E_IO, errno, c, "open");
			if (st.st_dev != c->dev || st.st_ino != c->ino)
				return tree_error(w->err, FERRY_E_IO, 0, c,
				                  "changed while being packed");
			rc = write_dir_files(w, cfd, c);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static sqfs_inode_generic_t *dir_inode(struct writer *w, struct tree_node *n, int *e)
{
	*e = sqfs_dir_writer_begin(w->dirwr, 0);
	for (size_t i = 0; *e == 0 && i < n->nchildren; i++) {
		struct tree_node *c = n->children[i];
		*e = sqfs_dir_writer_add_entry(w->dirwr, c->name, c->inode_num, c->inode_ref,
		                               (sqfs_u16)(c->type | c->perm));
	}
	if (*e == 0)
		*e = sqfs_dir_writer_end(w->dirwr);
	if (*e)
		return NULL;
	uint32_t parent = n->parent ? n->parent->inode_num : 0;
	sqfs_inode_generic_t *inode =
	    sqfs_dir_writer_create_inode(w->dirwr, 2 + n->nsubdirs, 0xFFFFFFFF, parent);
	if (!inode) {
		*e = SQFS_ERROR_ALLOC;
		return NULL;
	}
	if (inode->base.type == SQFS_INODE_DIR)
		inode->data.dir.nlink = 2 + n->nsubdirs;
	else
		inode->data.dir_ext.nlink = 2 + n->nsubdirs;
	return inode;
}

static sqfs_inode_generic_t *link_inode(struct tree_node *n, int *e)
{
	size_t len = strlen(n->target);
	sqfs_inode_generic_t *inode = calloc(1, sizeof(*inode) + len + 1);
	if (!inode) {
		*e = SQFS_ERROR_ALLOC;
		return NULL;
	}
	inode->base.type = SQFS_INODE_SLINK;
	inode->data.slink.nlink = 1;
	inode->data.slink.target_size = (sqfs_u32)len;
	inode->payload_bytes_available = (sqfs_u32)len + 1;
	inode->payload_bytes_used = (sqfs_u32)len;
	memcpy(inode->extra, n->target, len);
	*e = 0;
	return inode;
}

static int write_inodes(struct writer *w)
{
	char path[IMAGE_MAX_PATH + 1];
	sqfs_u16 root_idx;
	int e;

	e = sqfs_id_table_id_to_index(w->idtbl, 0, &root_idx);
	if (e)
		return sqfs_fail(w, e, "ID table");
	w->super.inode_table_start = w->file->get_size(w->file);
	for (uint32_t i = 0; i < w->inode_count; i++) {
		struct tree_node *n = w->by_num[i];
		sqfs_inode_generic_t *inode = NULL;
		if (n->type == S_IFDIR) {
			inode = dir_inode(w, n, &e);
		} else if (n->type == S_IFLNK) {
			inode = link_inode(n, &e);
		} else {
			inode = steal_pointer(&n->inode);
			e = inode ? 0 : SQFS_ERROR_INTERNAL;
		}
		if (!inode) {
			tree_path(n, path, sizeof(path));
			return sqfs_fail(w, e, path[0] ? path : "root directory");
		}
		inode->base.mode = (sqfs_u16)(n->type | n->perm);
		inode->base.uid_idx = root_idx;
		inode->base.gid_idx = root_idx;
		inode->base.mod_time = w->opts->mtime;
		inode->base.inode_number = n->inode_num;

		sqfs_u64 block;
		sqfs_u32 offset;
		sqfs_meta_writer_get_position(w->im, &block, &offset);
		n->inode_ref = (block << 16) | offset;
		e = sqfs_meta_writer_write_inode(w->im, inode);
		free(inode);
		if (e)
			return sqfs_fail(w, e, "write inode table");
	}
	e = sqfs_meta_writer_flush(w->im);
	if (e == 0)
		e = sqfs_meta_writer_flush(w->dm);
	if (e)
		return sqfs_fail(w, e, "write inode table");
	w->super.root_inode_ref = w->tree.root->inode_ref;
	w->super.directory_table_start = w->file->get_size(w->file);
	e = sqfs_meta_write_write_to_file(w->dm);
	if (e)
		return sqfs_fail(w, e, "write directory table");
	return 0;
}

static int finish(struct writer *w)
{
	int e = sqfs_frag_table_write(w->fragtbl, w->file, &w->super, w->cmp);
	if (e)
		return sqfs_fail(w, e, "write fragment table");
	e = sqfs_id_table_write(w->idtbl, w->file, &w->super, w->cmp);
	if (e)
		return sqfs_fail(w, e, "write ID table");
	w->super.inode_count = w->inode_count;
	w->super.bytes_used = w->file->get_size(w->file);
	/* libsquashfs calls 0x0040 "no duplicates"; for the kernel and
	 * squashfs-tools the bit says duplicates were removed, which they
	 * were. It stays set, as sqfs_super_init left it. */
	w->super.flags |= SQFS_FLAG_NO_XATTRS;
	e = sqfs_super_write(&w->super, w->file);
	if (e)
		return sqfs_fail(w, e, "write superblock");
	size_t pad = (size_t)(w->super.bytes_used % SQFS_DEVBLK_SIZE);
	if (pad) {
		static const char zeros[SQFS_DEVBLK_SIZE];
		e = w->file->write_at(w->file, w->super.bytes_used, zeros, SQFS_DEVBLK_SIZE - pad);
		if (e)
			return sqfs_fail(w, e, "write padding");
	}
	return 0;
}

static int write_image(struct writer *w, int rootfd, int outfd)
{
	int rc = setup(w, outfd);
	if (rc < 0)
		return rc;
	rc = write_dir_files(w, rootfd, w->tree.root);
	if (rc < 0)
		return rc;
	int e = sqfs_block_processor_finish(w->proc);
	if (e)
		return sqfs_fail(w, e, "write data blocks");
	progress(w);
	rc = write_inodes(w);
	if (rc < 0)
		return rc;
	return finish(w);
}

int image_write(const char *dir, const char *out_path, const struct image_write_opts *opts,
                ferry_error *err)
{
	static const struct image_write_opts defaults = {.compression = IMAGE_ZSTD};
	if (!opts)
		opts = &defaults;
	struct writer w = {.opts = opts, .out_path = out_path, .err = err};
	char tmp[4096];
	int rc;

	if ((unsigned)opts->compression >= ARRAY_SIZE(compressors))
		return ferry_error_set(err, FERRY_E_INVALID, "unknown compression %d",
		                       (int)opts->compression);
	size_t max_files = opts->max_files ? opts->max_files : IMAGE_MAX_FILES;
	uint64_t max_bytes = opts->max_bytes ? opts->max_bytes : IMAGE_MAX_BYTES;
	if (max_files > IMAGE_MAX_FILES)
		max_files = IMAGE_MAX_FILES;
	if (max_bytes > IMAGE_MAX_BYTES)
		max_bytes = IMAGE_MAX_BYTES;

	_cleanup_close_ int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return ferry_error_errno(err, errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO,
		                         errno, "open %s", dir);
	rc = tree_scan(rootfd, max_files, max_bytes, &w.tree, err);
	if (rc == 0)
		rc = number_inodes(&w);
	if (rc < 0) {
		teardown(&w);
		return rc;
	}

	if (str_printf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", out_path) < 0) {
		teardown(&w);
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", out_path);
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		teardown(&w);
		return ferry_error_errno(err, FERRY_E_IO, errno, "create temporary file for %s",
		                         out_path);
	}
	rc = write_image(&w, rootfd, fd);
	teardown(&w);
	if (rc == 0 && fchmod(fd, 0644) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "chmod %s", tmp);
	if (rc == 0 && (FAULT("image_write.fsync") || fsync(fd) < 0))
		rc = ferry_error_errno(err, FERRY_E_IO, errno ? errno : EIO, "fsync %s", tmp);
	if (close(fd) < 0 && rc == 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "close %s", tmp);
	if (rc == 0 && (FAULT("image_write.rename") || rename(tmp, out_path) < 0))
		rc = ferry_error_errno(err, FERRY_E_IO, errno ? errno : EIO, "rename %s to %s", tmp,
		                       out_path);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	if (w.opts->progress)
		w.opts->progress(w.tree.bytes, w.tree.bytes, w.opts->progress_ctx);
	return fs_fsync_parent(out_path, err);
}
