/* revs.c: package revisions on the device's disk: copying an image into
 * ROOT/images while hashing it, making a revision's tree appear read-only at
 * ROOT/mnt/NAME/REV (a loop mount of the squashfs image as root; the image
 * extracted by lib/pkg/image otherwise), reading its manifest, copying a
 * revision's data directory, and replacing a symbolic link atomically. A
 * tried revision (`ferry try DIR`) has no image: images/NAME_REV.try links
 * to DIR, which is bound read-only at ROOT/mnt/NAME/REV (linked there
 * without root) and never removed.
 *
 * Every operation here is idempotent: doing it twice, or again after a crash
 * half-way, ends in the same state. It does not decide which revision runs
 * (steps.c does). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "pkg/image.h"
#include "revs.h"

#define SQUASHFS_MAGIC_LE "hsqs"
#define IMAGE_FILE_MAX (8ull * 1024 * 1024 * 1024)
/* levels of directories copy-data follows below a revision's data */
#define COPY_DEPTH_MAX 256

int rev_image_check(const char *path, uint64_t *size, ferry_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(err, errno == ENOENT ? FERRY_E_NOTFOUND : FERRY_E_IO,
		                         errno, "%s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return ferry_error_set(err, FERRY_E_INVALID, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > IMAGE_FILE_MAX)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s: %lld bytes; an image may have at most %llu", path,
		                       (long long)st.st_size, IMAGE_FILE_MAX);
	char magic[4];
	if (pread(fd, magic, 4, 0) != 4 || memcmp(magic, SQUASHFS_MAGIC_LE, 4) != 0)
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "%s: not a ferry package (no squashfs image)", path);
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

/* --- copying ------------------------------------------------------------ */

int copy_file(const char *src, const char *dst, uint64_t *size, char sha256_hex[65],
              ferry_error *err)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", src);
	char tmp[PATH_MAX];
	if (str_printf(tmp, sizeof(tmp), "%s.tmp", dst) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", dst);
	_cleanup_close_ int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create %s", tmp);
	EVP_MD_CTX *md = sha256_hex ? EVP_MD_CTX_new() : NULL;
	if (sha256_hex && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)) {
		EVP_MD_CTX_free(md);
		return ferry_error_set(err, FERRY_E_NOMEM, "sha256: cannot start");
	}
	int rc = 0;
	uint64_t total = 0;
	size_t bufsz = 256 * 1024;
	char *buf = malloc(bufsz);
	if (!buf)
		rc = ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	while (rc == 0) {
		ssize_t n = read(in, buf, bufsz);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "read %s", src);
			break;
		}
		if (n == 0)
			break;
		if (md)
			EVP_DigestUpdate(md, buf, (size_t)n);
		if (fs_write_all(out, buf, (size_t)n) < 0)
			rc = ferry_error_errno(err, FERRY_E_IO, errno, "write %s", tmp);
		total += (uint64_t)n;
		if (total > IMAGE_FILE_MAX)
			rc = ferry_error_set(err, FERRY_E_LIMIT, "%s: larger than %llu bytes", src,
			                     IMAGE_FILE_MAX);
	}
	free(buf);
	if (rc == 0 && md) {
		unsigned char d[32];
		unsigned dl = 0;
		EVP_DigestFinal_ex(md, d, &dl);
		str_hex(d, 32, sha256_hex);
	}
	EVP_MD_CTX_free(md);
	if (rc == 0 && (fchmod(out, 0644) < 0 || fsync(out) < 0))
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "sync %s", tmp);
	if (rc == 0 && rename(tmp, dst) < 0)
		rc = ferry_error_errno(err, FERRY_E_IO, errno, "rename %s", dst);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	if (size)
		*size = total;
	return fs_fsync_parent(dst, err);
}

/* Is there room on the file system of fd for need more bytes? Checked
 * against what an unprivileged writer may use: the blocks reserved for root
 * stay for the system. */
static int check_room(int fd, uint64_t need, const char *path, ferry_error *err)
{
	struct statvfs vs;
	if (fstatvfs(fd, &vs) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "statvfs for copy of %s", path);
	uint64_t avail = (uint64_t)vs.f_bavail * (uint64_t)vs.f_frsize;
	if (need > avail)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "%s: its copy needs %llu bytes of data; %llu bytes are free",
		                       path, (unsigned long long)need, (unsigned long long)avail);
	return 0;
}

/* Copy bytes [off, end) of in to the same offsets of out. */
static int copy_range(int in, int out, off_t off, off_t end, const char *path, ferry_error *err)
{
	bool plain = false;
	while (off < end) {
		ssize_t n = -1;
		if (!plain) {
			off_t oin = off, oout = off;
			n = copy_file_range(in, &oin, out, &oout, (size_t)(end - off), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
			    errno != EOPNOTSUPP)
				return ferry_error_errno(err, FERRY_E_IO, errno, "copy %s", path);
			plain = n < 0; /* other file systems: read and write */
		}
		if (plain) {
			char buf[65536];
			size_t want =
			    (size_t)(end - off) < sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
			n = pread(in, buf, want, off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return ferry_error_errno(err, FERRY_E_IO, errno, "read %s", path);
			for (ssize_t w = 0; w < n;) {
				ssize_t k = pwrite(out, buf + w, (size_t)(n - w), off + w);
				if (k < 0 && errno == EINTR)
					continue;
				if (k < 0)
					return ferry_error_errno(err, FERRY_E_IO, errno,
					                         "write copy of %s", path);
				w += k;
			}
		}
		if (n == 0)
			break; /* the file shrank meanwhile */
		off += n;
	}
	return 0;
}

/* A regular file, holes kept: only its data extents are copied, and its
 * length set at the end. */
static int copy_reg(int sfd, int dfd, const char *name, const struct stat *st, const char *path,
                    ferry_error *err)
{
	_cleanup_close_ int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", path);
	_cleanup_close_ int out =
	    openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "create copy of %s", path);
	int rc = check_room(out, (uint64_t)st->st_blocks * 512, path, err);
	off_t off = 0;
	while (rc == 0 && off < st->st_size) {
		off_t data = lseek(in, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* only a hole up to the end */
		off_t hole = data < 0 ? -1 : lseek(in, data, SEEK_HOLE);
		if (data < 0 || hole < 0) {
			if (errno != EINVAL)
				return ferry_error_errno(err, FERRY_E_IO, errno, "seek in %s",
				                         path);
			data = off; /* no hole support: all of it is data */
			hole = st->st_size;
		}
		if (hole > st->st_size)
			hole = st->st_size;
		rc = copy_range(in, out, data, hole, path, err);
		off = hole;
	}
	if (rc < 0)
		return rc;
	if (ftruncate(out, st->st_size) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "truncate copy of %s", path);
	if (fchown(out, st->st_uid, st->st_gid) < 0 && geteuid() == 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "chown copy of %s", path);
	/* set-user-id and set-group-id never survive a copy: the package's
	 * files must not hand its ids to anyone who runs them */
	if (fchmod(out, st->st_mode & 01777) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "chmod copy of %s", path);
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	(void)futimens(out, ts);
	return 0;
}

static int copy_entry(void *ctx, enum fs_walk_event ev, struct fs_walk_entry *e, ferry_error *err)
{
	(void)ctx;
	const struct stat *st = e->st;
	bool root = geteuid() == 0;
	if (ev == FS_WALK_ENTER) {
		if (mkdirat(e->parent_aux, e->name, 0700) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "mkdir copy of %s",
			                         e->path);
		e->aux =
		    openat(e->parent_aux, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (e->aux < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "open copy of %s",
			                         e->path);
		return 0;
	}
	if (ev == FS_WALK_LEAVE) {
		if (root)
			(void)fchown(e->aux, st->st_uid, st->st_gid);
		(void)fchmod(e->aux, st->st_mode & 07777);
		struct timespec ts[2] = {st->st_atim, st->st_mtim};
		(void)futimens(e->aux, ts);
		return 0;
	}
	int dfd = e->parent_aux;
	if (S_ISREG(st->st_mode))
		return copy_reg(e->parent, dfd, e->name, st, e->path, err);
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(e->parent, e->name, target, sizeof(target) - 1);
		if (n < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "readlink %s", e->path);
		target[n] = '\0';
		if (symlinkat(target, dfd, e->name) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "symlink copy of %s",
			                         e->path);
		if (root)
			(void)fchownat(dfd, e->name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	if (S_ISFIFO(st->st_mode)) {
		/* the copy's directory is root's, 0700, until the walk leaves it:
		 * nobody can swap the new FIFO for a link before its chmod */
		if (mkfifoat(dfd, e->name, 0600) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "mkfifo copy of %s",
			                         e->path);
		if (root && fchownat(dfd, e->name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "chown copy of %s",
			                         e->path);
		if (fchmodat(dfd, e->name, st->st_mode & 01777, 0) < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "chmod copy of %s",
			                         e->path);
		return 0;
	}
	/* Sockets and device nodes do not belong in data: skipped. */
	log_info("copy data: %s: not a file, directory or link; not copied", e->path);
	return 0;
}

int copy_tree(const char *src, const char *dst, ferry_error *err)
{
	_cleanup_close_ int sfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", src);
	struct stat st;
	if (fstat(sfd, &st) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "stat %s", src);
	if (mkdir(dst, 0700) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "mkdir %s", dst);
	_cleanup_close_ int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", dst);
	/* Iterative, with a bound: an app's data as deep as it likes cannot
	 * exhaust ferryd's stack, and a tree deeper than this fails the step. */
	int rc = fs_walk(sfd, dfd, src, COPY_DEPTH_MAX, false, copy_entry, NULL, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "copy data");
	if (geteuid() == 0)
		(void)fchown(dfd, st.st_uid, st.st_gid);
	(void)fchmod(dfd, st.st_mode & 07777);
	/* One syncfs for the whole copy instead of an fsync per file. */
	if (syncfs(dfd) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "sync %s", dst);
	return 0;
}

int symlink_replace(const char *target, const char *linkpath, ferry_error *err)
{
	char tmp[PATH_MAX];
	if (str_printf(tmp, sizeof(tmp), "%s.new", linkpath) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", linkpath);
	char cur[PATH_MAX];
	ssize_t n = readlink(linkpath, cur, sizeof(cur) - 1);
	if (n >= 0) {
		cur[n] = '\0';
		if (strcmp(cur, target) == 0)
			return 0;
	}
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "symlink %s", tmp);
	if (rename(tmp, linkpath) < 0) {
		int e = errno;
		unlink(tmp);
		return ferry_error_errno(err, FERRY_E_IO, e, "rename %s", linkpath);
	}
	return fs_fsync_parent(linkpath, err);
}

/* --- mounting ----------------------------------------------------------- */

static bool is_mountpoint(const char *path)
{
	/* the kernel says so (5.8+): a bind mount of a directory of the same
	 * file system (ferry try) has the device of its parent */
	struct statx sx;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) == 0 &&
	    (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
		return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	struct stat a, b;
	char parent[PATH_MAX];
	if (str_printf(parent, sizeof(parent), "%s/..", path) < 0)
		return false;
	if (stat(path, &a) < 0 || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev;
}

/* Attach image to a free loop device, read-only, detached automatically when
 * the last user (the mount) goes away. Returns the open loop fd. */
static int loop_attach(const char *image, char *dev, size_t devsz, ferry_error *err)
{
	_cleanup_close_ int img = open(image, O_RDONLY | O_CLOEXEC);
	if (img < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", image);
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "open /dev/loop-control");
	for (int attempt = 0; attempt < 16; attempt++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "no free loop device");
		snprintf(dev, devsz, "/dev/loop%d", n);
		int lfd = open(dev, O_RDONLY | O_CLOEXEC);
		if (lfd < 0 && errno == ENOENT) {
			/* A container's /dev may lack the node the kernel just made. */
			if (mknod(dev, S_IFBLK | 0600, makedev(7, (unsigned)n)) < 0 &&
			    errno != EEXIST)
				return ferry_error_errno(err, FERRY_E_IO, errno, "mknod %s", dev);
			lfd = open(dev, O_RDONLY | O_CLOEXEC);
		}
		if (lfd < 0)
			return ferry_error_errno(err, FERRY_E_IO, errno, "open %s", dev);
		struct loop_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (unsigned)img;
		cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
		snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", image);
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
			return lfd;
		if (errno == EINVAL || errno == ENOTTY) {
			/* Kernels before 5.8: set the file, then the flags. */
			if (ioctl(lfd, LOOP_SET_FD, img) == 0) {
				if (ioctl(lfd, LOOP_SET_STATUS64, &cfg.info) == 0)
					return lfd;
				int e = errno;
				ioctl(lfd, LOOP_CLR_FD, 0);
				close(lfd);
				return ferry_error_errno(err, FERRY_E_IO, e, "%s: set status", dev);
			}
		}
		int e = errno;
		close(lfd);
		if (e != EBUSY)
			return ferry_error_errno(err, FERRY_E_IO, e, "%s: attach %s", dev, image);
		/* Another process took it between GET_FREE and CONFIGURE: again. */
	}
	return ferry_error_set(err, FERRY_E_BUSY, "no loop device could be attached to %s", image);
}

static int loop_mount(const char *image, const char *target, ferry_error *err)
{
	char dev[64];
	int lfd = loop_attach(image, dev, sizeof(dev), err);
	if (lfd < 0)
		return lfd;
	int rc = 0;
	if (mount(dev, target, "squashfs", MS_RDONLY | MS_NODEV | MS_NOSUID, NULL) < 0)
		rc = ferry_error_errno(err, errno == EINVAL ? FERRY_E_CORRUPT : FERRY_E_IO, errno,
		                       "mount %s (%s) on %s", image, dev, target);
	/* With AUTOCLEAR the device detaches when this fd and the mount are gone. */
	close(lfd);
	return rc;
}

static int mount_or_extract(struct agent *ag, const char *image, const char *target,
                            ferry_error *err)
{
	if (!ag->extract) {
		if (mkdir(target, 0755) < 0 && errno != EEXIST)
			return ferry_error_errno(err, FERRY_E_IO, errno, "mkdir %s", target);
		if (is_mountpoint(target))
			return 0;
		return loop_mount(image, target, err);
	}
	if (fs_exists(target))
		return 0;
	char tmp[PATH_MAX];
	if (str_printf(tmp, sizeof(tmp), "%s.part", target) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", target);
	int rc = fs_remove_tree(tmp, err);
	if (rc < 0)
		return rc;
	struct image *img = NULL;
	rc = image_open(image, &img, err);
	if (rc < 0)
		return rc;
	rc = image_extract(img, tmp, err);
	image_close(img);
	if (rc < 0) {
		ferry_error scratch;
		IGNORE_RC(fs_remove_tree(tmp, &scratch));
		return rc;
	}
	_cleanup_close_ int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 && syncfs(dfd) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "sync %s", tmp);
	if (rename(tmp, target) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "rename %s", target);
	return fs_fsync_parent(target, err);
}

static int unmount_or_remove(const char *target, ferry_error *err)
{
	/* an extraction cut off half-way */
	char part[PATH_MAX];
	if (str_printf(part, sizeof(part), "%s.part", target) == 0) {
		int rc = fs_remove_tree(part, err);
		if (rc < 0)
			return rc;
	}
	if (!fs_exists(target))
		return 0;
	if (is_mountpoint(target)) {
		if (umount2(target, UMOUNT_NOFOLLOW) < 0) {
			if (errno == EBUSY) {
				log_warn("%s is busy; detaching it lazily", target);
				if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
					return ferry_error_errno(err, FERRY_E_IO, errno,
					                         "unmount %s", target);
			} else if (errno != EINVAL) {
				return ferry_error_errno(err, FERRY_E_IO, errno, "unmount %s",
				                         target);
			}
		}
		if (rmdir(target) < 0 && errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "rmdir %s", target);
		return 0;
	}
	return fs_remove_tree(target, err);
}

/* The manifest of an image file, read with the image reader (nothing is
 * mounted); the reader bounds everything it follows in the untrusted file. */
int rev_image_manifest(const char *image, struct manifest **out, ferry_error *err)
{
	struct image *img = NULL;
	int rc = image_open(image, &img, err);
	if (rc < 0)
		return rc;
	char *data = NULL;
	size_t len = 0;
	rc = image_read_file(img, "meta/ferry.yaml", MANIFEST_MAX_BYTES, &data, &len, err);
	image_close(img);
	if (rc < 0)
		return rc;
	rc = manifest_parse(data, len, "meta/ferry.yaml", out, err);
	free(data);
	return rc;
}

/* --- tried revisions (ferry try) ---------------------------------------- */

/* images/NAME_REV.try, a symbolic link to the directory a tried revision
 * is, into tried; false when rev is not a tried one. */
static bool tried_link(struct agent *ag, const char *name, const char *rev, char *link)
{
	struct stat st;
	return agent_path(ag, link, "images/%s_%s.try", name, rev) == 0 && lstat(link, &st) == 0 &&
	       S_ISLNK(st.st_mode);
}

int rev_tried_dir(struct agent *ag, const char *name, const char *rev, char *dir)
{
	char link[PATH_MAX];
	if (!tried_link(ag, name, rev, link))
		return FERRY_E_NOTFOUND;
	ssize_t l = readlink(link, dir, PATH_MAX - 1);
	if (l <= 0)
		return FERRY_E_IO;
	dir[l] = '\0';
	return 0;
}

/* The directory appears at target, read-only: bound there as root (so that
 * what the developer edits shows at once), or as a symbolic link to it
 * without root (ferry-confine binds it read-only into the sandbox). */
static int mount_tried(struct agent *ag, const char *dir, const char *target, ferry_error *err)
{
	if (ag->extract) {
		char cur[PATH_MAX];
		ssize_t l = readlink(target, cur, sizeof(cur) - 1);
		if (l > 0 && (size_t)l == strlen(dir) && memcmp(cur, dir, (size_t)l) == 0)
			return 0;
		return symlink_replace(dir, target, err);
	}
	if (mkdir(target, 0755) < 0 && errno != EEXIST)
		return ferry_error_errno(err, FERRY_E_IO, errno, "mkdir %s", target);
	if (is_mountpoint(target))
		return 0;
	if (mount(dir, target, NULL, MS_BIND, NULL) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "bind %s on %s", dir, target);
	if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
	          NULL) < 0) {
		int e = errno;
		umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW);
		return ferry_error_errno(err, FERRY_E_IO, e, "make %s read-only", target);
	}
	return 0;
}

/* Never a removal of the tree: it is the developer's directory. */
static int unmount_tried(const char *target, ferry_error *err)
{
	struct stat st;
	if (lstat(target, &st) < 0)
		return errno == ENOENT ? 0
		                       : ferry_error_errno(err, FERRY_E_IO, errno, "%s", target);
	if (S_ISLNK(st.st_mode)) {
		if (unlink(target) < 0 && errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "unlink %s", target);
		return 0;
	}
	if (is_mountpoint(target) && umount2(target, UMOUNT_NOFOLLOW) < 0 &&
	    umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		return ferry_error_errno(err, FERRY_E_IO, errno, "unmount %s", target);
	if (rmdir(target) < 0 && errno != ENOENT)
		return ferry_error_errno(err, FERRY_E_IO, errno, "rmdir %s", target);
	return 0;
}

int rev_mount(struct agent *ag, const char *name, const char *rev, ferry_error *err)
{
	char image[PATH_MAX], dir[PATH_MAX], target[PATH_MAX], tried[PATH_MAX];
	if (agent_path(ag, image, "images/%s_%s.ferry", name, rev) < 0 ||
	    agent_path(ag, dir, "mnt/%s", name) < 0 ||
	    agent_path(ag, target, "mnt/%s/%s", name, rev) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
	int rc = fs_mkdir_p(dir, 0755, err);
	if (rc < 0)
		return rc;
	if (rev_tried_dir(ag, name, rev, tried) == 0)
		return mount_tried(ag, tried, target, err);
	return mount_or_extract(ag, image, target, err);
}

bool rev_mounted(struct agent *ag, const char *name, const char *rev)
{
	char target[PATH_MAX], yaml[PATH_MAX];
	if (agent_path(ag, target, "mnt/%s/%s", name, rev) < 0 ||
	    agent_path(ag, yaml, "mnt/%s/%s/meta/ferry.yaml", name, rev) < 0)
		return false;
	return ag->extract ? fs_exists(yaml) != 0 : is_mountpoint(target);
}

int rev_unmount(struct agent *ag, const char *name, const char *rev, ferry_error *err)
{
	char target[PATH_MAX], link[PATH_MAX];
	if (agent_path(ag, target, "mnt/%s/%s", name, rev) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
	if (tried_link(ag, name, rev, link))
		return unmount_tried(target, err);
	return unmount_or_remove(target, err);
}

int rev_forget_image(struct agent *ag, const char *name, const char *rev, ferry_error *err)
{
	const char *const ext[] = {"ferry", "try"};
	for (size_t i = 0; i < ARRAY_SIZE(ext); i++) {
		char path[PATH_MAX];
		if (agent_path(ag, path, "images/%s_%s.%s", name, rev, ext[i]) < 0)
			return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
		if (unlink(path) < 0 && errno != ENOENT)
			return ferry_error_errno(err, FERRY_E_IO, errno, "remove %s", path);
	}
	return 0;
}

int rev_manifest(struct agent *ag, const char *name, const char *rev, struct manifest **out,
                 ferry_error *err)
{
	char yaml[PATH_MAX];
	if (agent_path(ag, yaml, "mnt/%s/%s/meta/ferry.yaml", name, rev) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", name);
	int rc = manifest_load(yaml, out, err);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s revision %s", name, rev);
	return 0;
}
