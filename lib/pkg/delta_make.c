/* delta_make.c: computes the delta from image A to image B
 * (docs/formats/delta.md), for publishers and the store.
 *
 * Both images are extracted into a work directory beside the output. Every
 * entry of B is listed in B's walk order; each file of B is, in this order
 * of preference: a copy of a file of A with the same content (found by
 * SHA-256, whatever its path); a bsdiff-style diff against A's file of the
 * same path, else of the same base name; else a literal. The diff finds, with
 * a suffix array of the old file (libdivsufsort), long approximate matches
 * and stores their byte-wise differences ("add", mostly zeros where code
 * moved and pointers shifted) apart from new bytes ("extra"). The four
 * streams (entries, control, diff, extra) are each one xz stream (LZMA2,
 * preset 9e, 8 MiB dictionary), so that similar differences across files
 * compress together and a device decompresses them in bounded memory.
 *
 * Finally the delta is applied here and must give B byte for byte: if this
 * machine's compressor does not rebuild B, no device with the same one
 * could, and the delta is refused.
 *
 * Memory is the publisher's: one old and one new file at a time plus the
 * suffix array (4 bytes per byte of the old file). Files above DIFF_MAX are
 * stored as literals. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <divsufsort.h>
#include <lzma.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/str.h"
#include "crypto/digest.h"
#include "pkg/delta.h"
#include "pkg/delta_int.h"
#include "pkg/image.h"

#define DIFF_MAX (64u * 1024 * 1024) /* larger files are stored whole */

struct mfile {
	char *path;
	mode_t mode;
	uint64_t size;
	char *target;
	unsigned char sha[32];
};

struct list {
	struct mfile *f;
	size_t n, cap;
	bool files_only;
};

struct cstream {
	lzma_stream z;
	int fd;
	uint64_t len;
	unsigned char out[64 * 1024];
};

struct maker {
	ferry_error *err;
	char work[4200];
	struct list a, b;
	size_t *a_by_path; /* indices of a.f sorted by path */
	size_t *a_by_sha;  /* indices of a.f sorted by content hash */
	int a_fd, b_fd;
	struct cstream s[DELTA_NSTREAMS];
	struct delta_stats *stats;
	pthread_mutex_t lock; /* of units, filled by the writer's threads */
	struct delta_unit *units;
	size_t nunits, units_cap;
	bool units_failed;
};

static int collect(const struct image_entry *e, void *ctx)
{
	struct list *l = ctx;
	if (e->depth == 0 || (l->files_only && !S_ISREG(e->mode)))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct mfile *f = realloc(l->f, cap * sizeof(*f));
		if (!f)
			return FERRY_E_NOMEM;
		l->f = f;
		l->cap = cap;
	}
	struct mfile *f = &l->f[l->n];
	memset(f, 0, sizeof(*f));
	f->path = strdup(e->path);
	f->target = e->target ? strdup(e->target) : NULL;
	l->n++;
	if (!f->path || (e->target && !f->target))
		return FERRY_E_NOMEM;
	f->mode = e->mode;
	f->size = e->size;
	return 0;
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->f[i].path);
		free(l->f[i].target);
	}
	free(l->f);
}

static int cs_write(struct maker *m, enum delta_stream i, const void *data, size_t n,
                    lzma_action action)
{
	struct cstream *s = &m->s[i];
	s->z.next_in = data;
	s->z.avail_in = n;
	for (;;) {
		s->z.next_out = s->out;
		s->z.avail_out = sizeof(s->out);
		lzma_ret r = lzma_code(&s->z, action);
		if (r != LZMA_OK && r != LZMA_STREAM_END)
			return ferry_error_set(m->err, FERRY_E_INTERNAL, "xz: error %d", (int)r);
		size_t got = sizeof(s->out) - s->z.avail_out;
		if (fs_write_all(s->fd, s->out, got) < 0)
			return ferry_error_errno(m->err, FERRY_E_IO, errno, "write delta stream");
		s->len += got;
		if (action == LZMA_FINISH ? r == LZMA_STREAM_END : s->z.avail_in == 0)
			return 0;
	}
}

static int cs_varint(struct maker *m, enum delta_stream i, uint64_t v)
{
	unsigned char b[10];
	return cs_write(m, i, b, delta_varint_put(v, b), LZMA_RUN);
}

static int cs_string(struct maker *m, const char *s)
{
	size_t len = strlen(s);
	int rc = cs_varint(m, DELTA_ENTRIES, len);
	return rc < 0 ? rc : cs_write(m, DELTA_ENTRIES, s, len, LZMA_RUN);
}

static int read_whole(struct maker *m, int dirfd, const char *path, uint64_t size,
                      unsigned char **out)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s", path);
	unsigned char *buf = malloc(size ? size : 1);
	if (!buf)
		return ferry_error_set(m->err, FERRY_E_NOMEM, "out of memory");
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return ferry_error_errno(m->err, FERRY_E_IO, r < 0 ? errno : EIO, "read %s",
			                         path);
		}
		got += (size_t)r;
	}
	*out = buf;
	return 0;
}

static int hash_content(struct maker *m, int dirfd, struct mfile *f)
{
	char path[4200];
	unsigned char d[CRYPTO_DIGEST_MAX];
	_cleanup_close_ int fd = openat(dirfd, f->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || str_printf(path, sizeof(path), "/proc/self/fd/%d", fd) < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s", f->path);
	int rc = crypto_digest_file(CRYPTO_HASH_SHA256, path, d, m->err);
	if (rc == 0)
		memcpy(f->sha, d, 32);
	return rc;
}

static int by_path(const void *x, const void *y, void *ctx)
{
	const struct list *a = ctx;
	return strcmp(a->f[*(const size_t *)x].path, a->f[*(const size_t *)y].path);
}

static int by_sha(const void *x, const void *y, void *ctx)
{
	const struct list *a = ctx;
	const struct mfile *f = &a->f[*(const size_t *)x];
	const struct mfile *g = &a->f[*(const size_t *)y];
	int c = memcmp(f->sha, g->sha, 32);
	if (c == 0)
		c = f->size < g->size ? -1 : f->size > g->size;
	return c;
}

/* index of A's file with this path, or -1 */
static long find_path(struct maker *m, const char *path)
{
	size_t lo = 0, hi = m->a.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->a.f[m->a_by_path[mid]].path, path);
		if (c == 0)
			return (long)m->a_by_path[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static long find_sha(struct maker *m, const struct mfile *b)
{
	size_t lo = 0, hi = m->a.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct mfile *f = &m->a.f[m->a_by_sha[mid]];
		int c = memcmp(f->sha, b->sha, 32);
		if (c == 0)
			c = f->size < b->size ? -1 : f->size > b->size;
		if (c == 0)
			return (long)m->a_by_sha[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* The A file to diff b against: same path, else the same base name with the
 * nearest size; -1 when none. */
static long pick_old(struct maker *m, const struct mfile *b)
{
	long i = find_path(m, b->path);
	if (i >= 0)
		return i;
	const char *bn = base_name(b->path);
	long best = -1;
	uint64_t best_d = UINT64_MAX;
	for (size_t k = 0; k < m->a.n; k++) {
		const struct mfile *f = &m->a.f[k];
		if (strcmp(base_name(f->path), bn) != 0)
			continue;
		uint64_t d = f->size > b->size ? f->size - b->size : b->size - f->size;
		if (d < best_d) {
			best_d = d;
			best = (long)k;
		}
	}
	return best;
}

static size_t match_len(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
	size_t i = 0;
	while (i < an && i < bn && a[i] == b[i])
		i++;
	return i;
}

/* Longest match of nw[0..nn) among the suffixes sa[lo..hi] of old. */
static size_t suffix_search(const saidx_t *sa, const unsigned char *old, size_t on,
                            const unsigned char *nw, size_t nn, size_t lo, size_t hi, size_t *pos)
{
	while (hi - lo >= 2) {
		size_t mid = lo + (hi - lo) / 2;
		size_t p = (size_t)sa[mid];
		size_t n = on - p < nn ? on - p : nn;
		if (memcmp(old + p, nw, n) < 0)
			lo = mid;
		else
			hi = mid;
	}
	size_t x = match_len(old + sa[lo], on - (size_t)sa[lo], nw, nn);
	size_t y = match_len(old + sa[hi], on - (size_t)sa[hi], nw, nn);
	if (x >= y) {
		*pos = (size_t)sa[lo];
		return x;
	}
	*pos = (size_t)sa[hi];
	return y;
}

static int emit(struct maker *m, const unsigned char *old, const unsigned char *nw, size_t lastscan,
                size_t lastpos, size_t lenf, size_t extra_from, size_t extra_len, int64_t seek)
{
	unsigned char buf[4096];
	int rc = cs_varint(m, DELTA_CTRL, lenf);
	if (rc == 0)
		rc = cs_varint(m, DELTA_CTRL, extra_len);
	if (rc == 0)
		rc = cs_varint(m, DELTA_CTRL, delta_zigzag(seek));
	for (size_t i = 0, k; rc == 0 && i < lenf; i += k) {
		/* pieces end at new-file offsets that are multiples of 4 */
		size_t room = sizeof(buf) - ((lastscan + i) & 3);
		k = lenf - i < room ? lenf - i : room;
		delta_sub(DELTA_VERSION, lastscan + i, buf, nw + lastscan + i, old + lastpos + i,
		          k);
		rc = cs_write(m, DELTA_DIFF, buf, k, LZMA_RUN);
	}
	if (rc == 0 && extra_len)
		rc = cs_write(m, DELTA_EXTRA, nw + extra_from, extra_len, LZMA_RUN);
	return rc;
}

/* The classic bsdiff scan: find a match that is clearly better than just
 * continuing the previous alignment, then extend the previous alignment
 * forwards and the new one backwards, split any overlap where it scores
 * best, and emit add bytes, extra bytes and the seek between them. */
static int bsdiff(struct maker *m, const unsigned char *old, size_t on, const unsigned char *nw,
                  size_t nn)
{
	_cleanup_free_ saidx_t *sa = malloc((on + 1) * sizeof(saidx_t));
	if (!sa)
		return ferry_error_set(m->err, FERRY_E_NOMEM, "out of memory");
	if (divsufsort(old, sa, (saidx_t)on) != 0)
		return ferry_error_set(m->err, FERRY_E_INTERNAL, "suffix sort failed");

	size_t scan = 0, len = 0, pos = 0, lastscan = 0, lastpos = 0;
	int64_t lastoffset = 0;
	while (scan < nn) {
		size_t oldscore = 0;
		size_t scsc = scan += len;
		for (; scan < nn; scan++) {
			len = suffix_search(sa, old, on, nw + scan, nn - scan, 0, on - 1, &pos);
			for (; scsc < scan + len; scsc++) {
				int64_t o = (int64_t)scsc + lastoffset;
				if (o >= 0 && (uint64_t)o < on && old[o] == nw[scsc])
					oldscore++;
			}
			if ((len == oldscore && len != 0) || len > oldscore + 8)
				break;
			int64_t o = (int64_t)scan + lastoffset;
			if (o >= 0 && (uint64_t)o < on && old[o] == nw[scan])
				oldscore--;
		}
		if (len == oldscore && scan != nn)
			continue;

		size_t lenf = 0;
		{
			int64_t s = 0, best = 0;
			for (size_t i = 0; lastscan + i < scan && lastpos + i < on;) {
				if (old[lastpos + i] == nw[lastscan + i])
					s++;
				i++;
				if (s * 2 - (int64_t)i > best * 2 - (int64_t)lenf) {
					best = s;
					lenf = i;
				}
			}
		}
		size_t lenb = 0;
		if (scan < nn) {
			int64_t s = 0, best = 0;
			for (size_t i = 1; scan >= lastscan + i && pos >= i; i++) {
				if (old[pos - i] == nw[scan - i])
					s++;
				if (s * 2 - (int64_t)i > best * 2 - (int64_t)lenb) {
					best = s;
					lenb = i;
				}
			}
		}
		if (lastscan + lenf > scan - lenb) {
			size_t overlap = (lastscan + lenf) - (scan - lenb);
			int64_t s = 0, best = 0;
			size_t lens = 0;
			for (size_t i = 0; i < overlap; i++) {
				if (nw[lastscan + lenf - overlap + i] ==
				    old[lastpos + lenf - overlap + i])
					s++;
				if (nw[scan - lenb + i] == old[pos - lenb + i])
					s--;
				if (s > best) {
					best = s;
					lens = i + 1;
				}
			}
			lenf = lenf + lens - overlap;
			lenb -= lens;
		}
		size_t next_pos = scan < nn ? pos - lenb : lastpos + lenf;
		int rc = emit(m, old, nw, lastscan, lastpos, lenf, lastscan + lenf,
		              (scan - lenb) - (lastscan + lenf),
		              (int64_t)next_pos - (int64_t)(lastpos + lenf));
		if (rc < 0)
			return rc;
		lastscan = scan - lenb;
		lastpos = next_pos;
		lastoffset = (int64_t)pos - (int64_t)scan;
	}
	return 0;
}

static int write_file(struct maker *m, struct mfile *b)
{
	unsigned char flags = (b->mode & S_IXUSR) ? 1 : 0;
	int rc = hash_content(m, m->b_fd, b);
	if (rc == 0)
		rc = cs_write(m, DELTA_ENTRIES, &flags, 1, LZMA_RUN);
	if (rc == 0)
		rc = cs_varint(m, DELTA_ENTRIES, b->size);
	if (rc < 0)
		return rc;

	long same = find_sha(m, b);
	long old = same >= 0 ? same : pick_old(m, b);
	if (old >= 0 && (m->a.f[old].size == 0 || m->a.f[old].size > DIFF_MAX || b->size == 0 ||
	                 b->size > DIFF_MAX))
		old = -1;
	if (same >= 0 && b->size > 0) {
		unsigned char src = DELTA_COPY;
		long p = find_path(m, b->path);
		if (p >= 0 && memcmp(m->a.f[p].sha, b->sha, 32) == 0)
			same = p; /* the same content at the same path, for readers' sake */
		rc = cs_write(m, DELTA_ENTRIES, &src, 1, LZMA_RUN);
		if (rc == 0)
			rc = cs_varint(m, DELTA_ENTRIES, (uint64_t)same);
		m->stats->copied++;
		return rc;
	}
	_cleanup_free_ unsigned char *nw = NULL;
	rc = read_whole(m, m->b_fd, b->path, b->size, &nw);
	if (rc < 0)
		return rc;
	if (old < 0) {
		unsigned char src = DELTA_LITERAL;
		rc = cs_write(m, DELTA_ENTRIES, &src, 1, LZMA_RUN);
		if (rc == 0 && b->size)
			rc = cs_write(m, DELTA_EXTRA, nw, b->size, LZMA_RUN);
		m->stats->literal++;
		return rc;
	}
	_cleanup_free_ unsigned char *od = NULL;
	rc = read_whole(m, m->a_fd, m->a.f[old].path, m->a.f[old].size, &od);
	if (rc < 0)
		return rc;
	unsigned char src = DELTA_BSDIFF;
	rc = cs_write(m, DELTA_ENTRIES, &src, 1, LZMA_RUN);
	if (rc == 0)
		rc = cs_varint(m, DELTA_ENTRIES, (uint64_t)old);
	if (rc == 0)
		rc = bsdiff(m, od, m->a.f[old].size, nw, b->size);
	m->stats->diffed++;
	return rc;
}

static int write_entries(struct maker *m)
{
	for (size_t i = 0; i < m->b.n; i++) {
		struct mfile *b = &m->b.f[i];
		unsigned char type = S_ISDIR(b->mode)   ? DELTA_DIR
		                     : S_ISLNK(b->mode) ? DELTA_SYMLINK
		                                        : DELTA_FILE;
		int rc = cs_write(m, DELTA_ENTRIES, &type, 1, LZMA_RUN);
		if (rc == 0)
			rc = cs_string(m, b->path);
		if (rc == 0 && type == DELTA_SYMLINK)
			rc = cs_string(m, b->target);
		if (rc == 0 && type == DELTA_FILE)
			rc = write_file(m, b);
		if (rc < 0)
			return ferry_error_prefix(m->err, rc, "%s", b->path);
	}
	return 0;
}

static int open_streams(struct maker *m)
{
	for (unsigned i = 0; i < DELTA_NSTREAMS; i++) {
		char path[4300];
		if (str_printf(path, sizeof(path), "%s/stream%u", m->work, i) < 0)
			return ferry_error_set(m->err, FERRY_E_LIMIT, "%s: path too long", m->work);
		m->s[i].fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (m->s[i].fd < 0)
			return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s", path);
		/* xz -9e with the dictionary capped for the device; literal
		 * context off for the binary streams, where it only costs */
		lzma_options_lzma opt;
		if (lzma_lzma_preset(&opt, 9 | LZMA_PRESET_EXTREME))
			return ferry_error_set(m->err, FERRY_E_INTERNAL, "xz: no preset 9e");
		opt.dict_size = DELTA_DICT_SIZE;
		if (i != DELTA_ENTRIES)
			opt.lc = opt.lp = opt.pb = 0;
		lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, NULL}};
		m->s[i].z = (lzma_stream)LZMA_STREAM_INIT;
		if (lzma_stream_encoder(&m->s[i].z, filters, LZMA_CHECK_CRC32) != LZMA_OK)
			return ferry_error_set(m->err, FERRY_E_NOMEM,
			                       "xz: cannot start an encoder");
	}
	return 0;
}

/* The writer's block hook while B is rebuilt here: note every block. */
static long record_block(const void *in, size_t in_size, void *out, size_t out_size, size_t room,
                         void *ctx)
{
	struct maker *m = ctx;
	struct delta_unit u = {.in_size = (uint32_t)in_size, .out_size = (uint32_t)out_size};
	delta_key(in, in_size, u.key);
	pthread_mutex_lock(&m->lock);
	if (m->nunits == m->units_cap) {
		size_t cap = m->units_cap ? 2 * m->units_cap : 1024;
		struct delta_unit *n = realloc(m->units, cap * sizeof(*n));
		if (!n) {
			m->units_failed = true;
			pthread_mutex_unlock(&m->lock);
			return -1;
		}
		m->units = n;
		m->units_cap = cap;
	}
	m->units[m->nunits++] = u;
	pthread_mutex_unlock(&m->lock);
	return (long)out_size;
}

static int unit_order(const void *x, const void *y)
{
	return delta_unit_cmp(x, y);
}

/* Rebuild B from its extracted tree, noting its blocks; it must come out
 * byte for byte. Then write the image stream: B's chunk hashes and its
 * blocks. */
static int write_image_table(struct maker *m, const char *b_path, const struct delta_header *h)
{
	char tree[4300], img[4300];
	if (str_printf(tree, sizeof(tree), "%s/b", m->work) < 0 ||
	    str_printf(img, sizeof(img), "%s/rebuilt.ferry", m->work) < 0)
		return ferry_error_set(m->err, FERRY_E_LIMIT, "%s: path too long", m->work);
	struct image_write_opts wo = {.compression = h->compression,
	                              .mtime = h->mtime,
	                              .block_hook = record_block,
	                              .block_hook_ctx = m};
	int rc = image_write(tree, img, &wo, m->err);
	if (rc < 0)
		return ferry_error_prefix(m->err, rc, "rebuild %s", b_path);
	uint64_t size = 0;
	unsigned char sha[32] = {0};
	rc = delta_file_sha256(img, &size, sha, m->err);
	if (rc < 0)
		return rc;
	if (size != h->b_size || memcmp(sha, h->b_sha256, 32) != 0)
		return ferry_error_set(m->err, FERRY_E_UNSUPPORTED,
		                       "%s does not rebuild byte for byte with this writer "
		                       "(made with another compressor library?)",
		                       b_path);
	qsort(m->units, m->nunits, sizeof(*m->units), unit_order);
	size_t n = 0;
	for (size_t i = 0; i < m->nunits; i++)
		if (n == 0 || delta_unit_cmp(&m->units[n - 1], &m->units[i]) != 0)
			m->units[n++] = m->units[i];
	if (n > DELTA_MAX_UNITS)
		return ferry_error_set(m->err, FERRY_E_LIMIT, "%s: more than %u blocks", b_path,
		                       DELTA_MAX_UNITS);

	rc = cs_varint(m, DELTA_IMAGE, DELTA_CHUNK);
	_cleanup_close_ int fd = open(img, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ unsigned char *buf = malloc(DELTA_CHUNK);
	if (fd < 0 || !buf)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s", img);
	for (uint64_t off = 0; rc == 0 && off < size; off += DELTA_CHUNK) {
		size_t k = size - off < DELTA_CHUNK ? (size_t)(size - off) : DELTA_CHUNK;
		unsigned char key[8];
		if (pread(fd, buf, k, (off_t)off) != (ssize_t)k)
			return ferry_error_errno(m->err, FERRY_E_IO, errno ? errno : EIO, "read %s",
			                         img);
		delta_key(buf, k, key);
		rc = cs_write(m, DELTA_IMAGE, key, 8, LZMA_RUN);
	}
	if (rc == 0)
		rc = cs_varint(m, DELTA_IMAGE, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = cs_write(m, DELTA_IMAGE, m->units[i].key, 8, LZMA_RUN);
		if (rc == 0)
			rc = cs_varint(m, DELTA_IMAGE, m->units[i].in_size);
		if (rc == 0)
			rc = cs_varint(m, DELTA_IMAGE, m->units[i].out_size);
	}
	return rc;
}

/* Open, walk and extract one image into WORK/sub. */
static int load(struct maker *m, const char *path, const char *sub, struct list *l,
                struct image_info *info)
{
	struct image *img = NULL;
	char dest[4300];
	int rc = image_open(path, &img, m->err);
	if (rc < 0)
		return rc;
	image_get_info(img, info);
	rc = image_walk(img, collect, l, m->err);
	if (rc == FERRY_E_NOMEM)
		rc = ferry_error_set(m->err, rc, "out of memory");
	if (rc == 0 && str_printf(dest, sizeof(dest), "%s/%s", m->work, sub) < 0)
		rc = ferry_error_set(m->err, FERRY_E_LIMIT, "%s: path too long", m->work);
	if (rc == 0)
		rc = image_extract(img, dest, m->err);
	image_close(img);
	if (rc < 0)
		return rc;
	int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s", dest);
	return fd;
}

static int copy_stream(struct maker *m, unsigned i, int out)
{
	struct cstream *s = &m->s[i];
	off_t off = 0;
	uint64_t left = s->len;
	while (left > 0) {
		ssize_t r = copy_file_range(s->fd, &off, out, NULL, left, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return ferry_error_errno(m->err, FERRY_E_IO, r < 0 ? errno : EIO,
			                         "write delta");
		left -= (uint64_t)r;
	}
	return 0;
}

static int make(struct maker *m, const char *a_path, const char *b_path, const char *out_path)
{
	struct delta_header h = {.version = DELTA_VERSION};
	struct image_info ai, bi;
	int rc;

	rc = delta_file_sha256(a_path, &h.a_size, h.a_sha256, m->err);
	if (rc == 0)
		rc = delta_file_sha256(b_path, &h.b_size, h.b_sha256, m->err);
	if (rc < 0)
		return rc;
	m->a.files_only = true;
	m->a_fd = load(m, a_path, "a", &m->a, &ai);
	if (m->a_fd < 0)
		return m->a_fd;
	m->b_fd = load(m, b_path, "b", &m->b, &bi);
	if (m->b_fd < 0)
		return m->b_fd;
	if (bi.block_size != IMAGE_BLOCK_SIZE)
		return ferry_error_set(m->err, FERRY_E_UNSUPPORTED, "%s: not written by ferry",
		                       b_path);
	h.compression = (uint8_t)bi.compression;
	h.mtime = bi.mtime;
	h.b_entries = (uint32_t)m->b.n;
	for (size_t i = 0; i < m->b.n; i++)
		if (S_ISREG(m->b.f[i].mode))
			h.b_bytes += m->b.f[i].size;

	m->a_by_path = calloc(m->a.n + 1, sizeof(size_t));
	m->a_by_sha = calloc(m->a.n + 1, sizeof(size_t));
	if (!m->a_by_path || !m->a_by_sha)
		return ferry_error_set(m->err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < m->a.n; i++) {
		rc = hash_content(m, m->a_fd, &m->a.f[i]);
		if (rc < 0)
			return rc;
		m->a_by_path[i] = m->a_by_sha[i] = i;
	}
	qsort_r(m->a_by_path, m->a.n, sizeof(size_t), by_path, &m->a);
	qsort_r(m->a_by_sha, m->a.n, sizeof(size_t), by_sha, &m->a);

	rc = open_streams(m);
	if (rc == 0)
		rc = write_image_table(m, b_path, &h);
	if (rc == 0)
		rc = write_entries(m);
	for (unsigned i = 0; rc == 0 && i < DELTA_NSTREAMS; i++)
		rc = cs_write(m, i, NULL, 0, LZMA_FINISH);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < DELTA_NSTREAMS; i++)
		h.len[i] = m->s[i].len;

	char tmp[4300], check[4300];
	unsigned char hdr[DELTA_HEADER_SIZE];
	if (str_printf(tmp, sizeof(tmp), "%s/delta", m->work) < 0 ||
	    str_printf(check, sizeof(check), "%s/check.ferry", m->work) < 0)
		return ferry_error_set(m->err, FERRY_E_LIMIT, "%s: path too long", m->work);
	_cleanup_close_ int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "%s", tmp);
	delta_header_encode(&h, hdr);
	if (fs_write_all(out, hdr, sizeof(hdr)) < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "write %s", tmp);
	for (unsigned i = 0; i < DELTA_NSTREAMS; i++) {
		rc = copy_stream(m, i, out);
		if (rc < 0)
			return rc;
	}
	if (fsync(out) < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "fsync %s", tmp);

	/* the proof: the delta rebuilds B here */
	rc = delta_apply(a_path, tmp, check, NULL, NULL, m->err);
	if (rc == FERRY_E_VERIFY)
		return ferry_error_prefix(m->err, FERRY_E_UNSUPPORTED,
		                          "%s does not rebuild byte for byte with this writer",
		                          b_path);
	if (rc < 0)
		return ferry_error_prefix(m->err, rc, "check the delta");
	m->stats->delta_size = DELTA_HEADER_SIZE;
	for (unsigned i = 0; i < DELTA_NSTREAMS; i++)
		m->stats->delta_size += h.len[i];
	m->stats->a_size = h.a_size;
	m->stats->b_size = h.b_size;
	if (rename(tmp, out_path) < 0)
		return ferry_error_errno(m->err, FERRY_E_IO, errno, "rename to %s", out_path);
	return fs_fsync_parent(out_path, m->err);
}

int delta_make(const char *a_path, const char *b_path, const char *out_path,
               struct delta_stats *stats, ferry_error *err)
{
	struct delta_stats local;
	struct maker m = {.err = err, .a_fd = -1, .b_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	m.stats = stats;
	for (unsigned i = 0; i < DELTA_NSTREAMS; i++)
		m.s[i].fd = -1;
	if (str_printf(m.work, sizeof(m.work), "%s.make.XXXXXX", out_path) < 0)
		return ferry_error_set(err, FERRY_E_LIMIT, "%s: path too long", out_path);
	if (!mkdtemp(m.work))
		return ferry_error_errno(err, FERRY_E_IO, errno, "create a work directory for %s",
		                         out_path);
	int rc = make(&m, a_path, b_path, out_path);
	for (unsigned i = 0; i < DELTA_NSTREAMS; i++) {
		lzma_end(&m.s[i].z);
		if (m.s[i].fd >= 0)
			close(m.s[i].fd);
	}
	if (m.a_fd >= 0)
		close(m.a_fd);
	if (m.b_fd >= 0)
		close(m.b_fd);
	list_free(&m.a);
	list_free(&m.b);
	free(m.a_by_path);
	free(m.a_by_sha);
	free(m.units);
	ferry_error ignored = {0};
	if (fs_remove_tree(m.work, &ignored) < 0 && rc == 0)
		rc = ferry_error_set(err, FERRY_E_IO, "remove %s: %s", m.work,
		                     ferry_error_msg(&ignored));
	return rc;
}
