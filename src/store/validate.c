/* validate.c: checks an uploaded image (see validate.h) with libsquashfs,
 * reading it as untrusted input: directories are listed one at a time with
 * bounded depth and entry count (never the whole tree in memory at once),
 * symlink targets and file reads are bounded, and every library error
 * becomes a message naming the path. The package image reader of lib/pkg
 * does the same for the agent; this is the store's own copy of the checks
 * it needs at upload, kept small. Not here: writing images. */
#include "validate.h"

#include <jansson.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/str.h"
#include "pkg/image.h"

#define VALIDATE_PATH_MAX 4096
#define VALIDATE_LINK_MAX 4096

struct walk {
	sqfs_dir_reader_t *dr;
	uint64_t files;
	uint64_t bytes;
	ferry_error *err;
};

struct pending {
	sqfs_inode_generic_t *inode;
	char *path;
};

/* Does a relative symlink at dir/... pointing to target stay in the image? */
static bool link_stays_inside(const char *dirpath, const char *target)
{
	if (target[0] == '/')
		return false;
	long depth = 0;
	for (const char *p = dirpath; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n)
			depth++;
		p += n + (e ? 1 : 0);
	}
	for (const char *p = target; *p;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (n && !(n == 1 && p[0] == '.')) {
			depth++;
		}
		p += n + (e ? 1 : 0);
	}
	return true;
}

static int check_entry(struct walk *w, const char *path, const char *dirpath,
		       const sqfs_inode_generic_t *in)
{
	unsigned mode = in->base.mode;
	if (mode & (S_ISUID | S_ISGID))
		return ferry_error_set(w->err, FERRY_E_UNSAFE, "%s: %s bit set", path,
				       (mode & S_ISUID) ? "setuid" : "setgid");
	if (S_ISREG(mode)) {
		sqfs_u64 size = 0;
		if (sqfs_inode_get_file_size(in, &size) != 0)
			return ferry_error_set(w->err, FERRY_E_CORRUPT, "%s: bad file inode", path);
		w->bytes += size;
		if (w->bytes > IMAGE_MAX_BYTES)
			return ferry_error_set(w->err, FERRY_E_LIMIT,
					       "image holds more than %llu bytes of files",
					       (unsigned long long)IMAGE_MAX_BYTES);
		return 0;
	}
	if (S_ISDIR(mode))
		return 0;
	if (S_ISLNK(mode)) {
		sqfs_u32 n = in->base.type == SQFS_INODE_EXT_SLINK ? in->data.slink_ext.target_size
								  : in->data.slink.target_size;
		if (n == 0 || n > VALIDATE_LINK_MAX || n > in->payload_bytes_used)
			return ferry_error_set(w->err, FERRY_E_CORRUPT, "%s: bad symlink target size",
					       path);
		char target[VALIDATE_LINK_MAX + 1];
		memcpy(target, in->extra, n);
		target[n] = '\0';
		if (strlen(target) != n)
			return ferry_error_set(w->err, FERRY_E_CORRUPT, "%s: NUL in symlink target",
					       path);
		if (!link_stays_inside(dirpath, target))
			return ferry_error_set(w->err, FERRY_E_UNSAFE,
					       "%s: symlink to \"%s\" leads out of the package", path,
					       target);
		return 0;
	}
	return ferry_error_set(w->err, FERRY_E_UNSAFE,
			       "%s: %s files are not allowed (only regular files, directories "
			       "and symlinks)",
			       path,
			       S_ISCHR(mode) || S_ISBLK(mode) ? "device"
			       : S_ISFIFO(mode)              ? "fifo"
			       : S_ISSOCK(mode)              ? "socket"
							     : "unknown");
}

static int walk_dir(struct walk *w, const sqfs_inode_generic_t *dir, const char *dirpath,
		    unsigned depth)
{
	if (depth > IMAGE_MAX_DEPTH)
		return ferry_error_set(w->err, FERRY_E_LIMIT, "%s: directories nested deeper than %d",
				       dirpath, IMAGE_MAX_DEPTH);
	if (sqfs_dir_reader_open_dir(w->dr, dir, 0) != 0)
		return ferry_error_set(w->err, FERRY_E_CORRUPT, "%s: cannot read directory",
				       *dirpath ? dirpath : "/");
	struct pending *sub = NULL;
	size_t nsub = 0, cap = 0;
	int rc = 0;
	for (;;) {
		sqfs_dir_entry_t *ent = NULL;
		int r = sqfs_dir_reader_read(w->dr, &ent);
		if (r > 0)
			break;
		if (r < 0) {
			rc = ferry_error_set(w->err, FERRY_E_CORRUPT, "%s: cannot read directory",
					     *dirpath ? dirpath : "/");
			break;
		}
		char name[300];
		size_t nlen = (size_t)ent->size + 1;
		memcpy(name, ent->name, nlen < sizeof(name) ? nlen : sizeof(name) - 1);
		name[nlen < sizeof(name) ? nlen : sizeof(name) - 1] = '\0';
		sqfs_free(ent);
		char path[VALIDATE_PATH_MAX];
		if (strlen(name) != nlen || strchr(name, '/') || strcmp(name, ".") == 0 ||
		    strcmp(name, "..") == 0) {
			rc = ferry_error_set(w->err, FERRY_E_CORRUPT, "%s: bad entry name",
					     *dirpath ? dirpath : "/");
			break;
		}
		if (str_printf(path, sizeof(path), "%s%s%s", dirpath, *dirpath ? "/" : "", name) <
		    0) {
			rc = ferry_error_set(w->err, FERRY_E_LIMIT, "%s/...: path too long", dirpath);
			break;
		}
		if (++w->files > IMAGE_MAX_FILES) {
			rc = ferry_error_set(w->err, FERRY_E_LIMIT, "image has more than %u entries",
					     IMAGE_MAX_FILES);
			break;
		}
		sqfs_inode_generic_t *in = NULL;
		if (sqfs_dir_reader_get_inode(w->dr, &in) != 0) {
			rc = ferry_error_set(w->err, FERRY_E_CORRUPT, "%s: cannot read inode", path);
			break;
		}
		rc = check_entry(w, path, dirpath, in);
		if (rc == 0 && S_ISDIR(in->base.mode)) {
			if (nsub == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct pending *p = realloc(sub, ncap * sizeof(*p));
				if (!p) {
					sqfs_free(in);
					rc = ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");
					break;
				}
				sub = p;
				cap = ncap;
			}
			sub[nsub].inode = in;
			sub[nsub].path = strdup(path);
			if (!sub[nsub].path) {
				sqfs_free(in);
				rc = ferry_error_set(w->err, FERRY_E_NOMEM, "out of memory");
				break;
			}
			nsub++;
			continue;
		}
		sqfs_free(in);
		if (rc < 0)
			break;
	}
	for (size_t i = 0; i < nsub; i++) {
		if (rc == 0)
			rc = walk_dir(w, sub[i].inode, sub[i].path, depth + 1);
		sqfs_free(sub[i].inode);
		free(sub[i].path);
	}
	free(sub);
	return rc;
}

static int read_small(sqfs_dir_reader_t *dr, sqfs_data_reader_t *data, const char *path,
		      size_t max, char **out, ferry_error *err)
{
	sqfs_inode_generic_t *in = NULL;
	*out = NULL;
	int r = sqfs_dir_reader_find_by_path(dr, NULL, path, &in);
	if (r == SQFS_ERROR_NO_ENTRY)
		return FERRY_E_NOTFOUND;
	if (r != 0)
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: cannot look it up", path);
	sqfs_u64 size = 0;
	if (!S_ISREG(in->base.mode) || sqfs_inode_get_file_size(in, &size) != 0) {
		sqfs_free(in);
		return ferry_error_set(err, FERRY_E_INVALID, "%s: not a regular file", path);
	}
	if (size > max) {
		sqfs_free(in);
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: larger than %zu bytes", path, max);
	}
	char *buf = malloc((size_t)size + 1);
	if (!buf) {
		sqfs_free(in);
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	}
	sqfs_s32 got = size ? sqfs_data_reader_read(data, in, 0, buf, (sqfs_u32)size) : 0;
	sqfs_free(in);
	if (got < 0 || (sqfs_u64)got != size) {
		free(buf);
		return ferry_error_set(err, FERRY_E_CORRUPT, "%s: cannot read its data", path);
	}
	buf[size] = '\0';
	*out = buf;
	return 0;
}

int validate_image(const char *path, struct image_info *out, ferry_error *err)
{
	memset(out, 0, sizeof(*out));
	sqfs_file_t *file = sqfs_open_file(path, SQFS_FILE_OPEN_READ_ONLY);
	sqfs_compressor_t *cmp = NULL;
	sqfs_dir_reader_t *dr = NULL;
	sqfs_data_reader_t *data = NULL;
	sqfs_inode_generic_t *root = NULL;
	sqfs_super_t super;
	sqfs_compressor_config_t cfg;
	int rc = 0;

	if (!file)
		return ferry_error_set(err, FERRY_E_IO, "%s: cannot open", path);
	if (sqfs_super_read(&super, file) != 0) {
		rc = ferry_error_set(err, FERRY_E_CORRUPT,
				     "not a package image: no valid squashfs superblock");
		goto out;
	}
	struct stat sb;
	if (stat(path, &sb) < 0 || (uint64_t)sb.st_size < super.bytes_used ||
	    (uint64_t)sb.st_size > ((super.bytes_used + 4095) & ~4095ull)) {
		rc = ferry_error_set(err, FERRY_E_CORRUPT,
				     "image is %lld bytes but its superblock says %llu: truncated "
				     "or with data appended",
				     (long long)sb.st_size, (unsigned long long)super.bytes_used);
		goto out;
	}
	if (sqfs_compressor_config_init(&cfg, (SQFS_COMPRESSOR)super.compression_id,
					super.block_size, SQFS_COMP_FLAG_UNCOMPRESS) != 0 ||
	    sqfs_compressor_create(&cfg, &cmp) != 0) {
		rc = ferry_error_set(err, FERRY_E_UNSUPPORTED,
				     "image uses a compressor this store cannot read");
		goto out;
	}
	dr = sqfs_dir_reader_create(&super, cmp, file, 0);
	data = sqfs_data_reader_create(file, super.block_size, cmp, 0);
	if (!dr || !data) {
		rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
		goto out;
	}
	if (sqfs_data_reader_load_fragment_table(data, &super) != 0 ||
	    sqfs_dir_reader_get_root_inode(dr, &root) != 0 || !S_ISDIR(root->base.mode)) {
		rc = ferry_error_set(err, FERRY_E_CORRUPT, "image tables are damaged");
		goto out;
	}
	struct walk w = {.dr = dr, .err = err};
	rc = walk_dir(&w, root, "", 0);
	if (rc < 0)
		goto out;
	out->files = w.files;
	out->content_bytes = w.bytes;
	rc = read_small(dr, data, "meta/ferry.yaml", MANIFEST_MAX_BYTES, &out->manifest_text, err);
	if (rc == FERRY_E_NOTFOUND) {
		rc = ferry_error_set(err, FERRY_E_INVALID, "no meta/ferry.yaml in the image");
		goto out;
	}
	if (rc < 0)
		goto out;
	rc = manifest_parse(out->manifest_text, strlen(out->manifest_text), "meta/ferry.yaml",
			    &out->manifest, err);
	if (rc < 0)
		goto out;
	rc = read_small(dr, data, "meta/sbom.cdx.json", VALIDATE_SBOM_MAX, &out->sbom_text, err);
	if (rc == FERRY_E_NOTFOUND) {
		rc = 0;
	} else if (rc == 0) {
		json_error_t jerr;
		json_t *j = json_loads(out->sbom_text, 0, &jerr);
		bool ok = json_is_object(j);
		json_decref(j);
		if (!ok)
			rc = ferry_error_set(err, FERRY_E_INVALID,
					     "meta/sbom.cdx.json: not a JSON object (%s)",
					     j ? "other value" : jerr.text);
	}
out:
	if (root)
		sqfs_free(root);
	if (data)
		sqfs_destroy(data);
	if (dr)
		sqfs_destroy(dr);
	if (cmp)
		sqfs_destroy(cmp);
	sqfs_destroy(file);
	if (rc < 0)
		image_info_free(out);
	return rc;
}

void image_info_free(struct image_info *info)
{
	manifest_free(info->manifest);
	free(info->manifest_text);
	free(info->sbom_text);
	memset(info, 0, sizeof(*info));
}
